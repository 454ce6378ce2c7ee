#pragma once
// Chunk identity and state, as shared by every process of a domain.
//
// A ChunkRef is what crosses processes (inside ring descriptors): the
// payload's offset from the segment base, the chunk's generation at
// allocation, and its id (index into the chunk metadata table). Any process
// turns it back into bytes with Heap::resolve(), which checks all three
// against the metadata, so a stale or forged reference is an error, never a
// wild read.
//
// Per chunk, one 64-bit control word holds everything that changes
// together, so that every transition is a single CAS (see
// docs/layout/alloc.md):
//
//   63             40 39        24 23         8 7      0
//  +-----------------+------------+------------+--------+
//  | generation (24) | refs (16)  | owner (16) | state  |
//  +-----------------+------------+------------+--------+

#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice::alloc {

// Index of a peer in the domain's peer table. kNoPeer marks a chunk nobody
// owns (free, or published by a peer that has since been reclaimed).
using PeerIndex = std::uint16_t;
inline constexpr PeerIndex kNoPeer = 0xFFFF;
inline constexpr PeerIndex kMaxPeerIndex = 0xFFFE;

enum class ChunkState : std::uint8_t {
  unused = 0,     // TLSF descriptor that describes no block
  free = 1,       // in a pool free list / a TLSF bin
  loaned = 2,     // allocated; written by its owner, not yet handed out
  published = 3,  // handed to readers; refs counts the holders
  freeing = 4,    // TLSF only: last reference dropped, block waits for the
                  // TLSF lock to go back to a bin (anyone may finish it)
};
inline constexpr std::uint8_t kStateCount = 5;

const char* to_string(ChunkState s) noexcept;

inline constexpr bool is_live(ChunkState s) noexcept {
  return s == ChunkState::loaned || s == ChunkState::published;
}

inline constexpr std::uint32_t kGenerationBits = 24;
inline constexpr std::uint32_t kGenerationMask = (1u << kGenerationBits) - 1;
inline constexpr std::uint32_t kMaxRefs = 0xFFFF;
inline constexpr std::uint32_t kInvalidChunkId = 0xFFFFFFFFu;

// Control word packing. Pure functions so tests and tools share them.
namespace control {
inline constexpr std::uint64_t make(ChunkState s, PeerIndex owner, std::uint32_t refs,
                                    std::uint32_t generation) noexcept {
  return static_cast<std::uint64_t>(s) | (static_cast<std::uint64_t>(owner) << 8) |
         (static_cast<std::uint64_t>(refs & kMaxRefs) << 24) |
         (static_cast<std::uint64_t>(generation & kGenerationMask) << 40);
}
inline constexpr std::uint8_t raw_state(std::uint64_t c) noexcept {
  return static_cast<std::uint8_t>(c & 0xFF);
}
inline constexpr ChunkState state(std::uint64_t c) noexcept {
  return static_cast<ChunkState>(raw_state(c));
}
inline constexpr PeerIndex owner(std::uint64_t c) noexcept {
  return static_cast<PeerIndex>((c >> 8) & 0xFFFF);
}
inline constexpr std::uint32_t refs(std::uint64_t c) noexcept {
  return static_cast<std::uint32_t>((c >> 24) & 0xFFFF);
}
inline constexpr std::uint32_t generation(std::uint64_t c) noexcept {
  return static_cast<std::uint32_t>(c >> 40);
}
inline constexpr std::uint64_t with_state(std::uint64_t c, ChunkState s) noexcept {
  return (c & ~std::uint64_t{0xFF}) | static_cast<std::uint64_t>(s);
}
inline constexpr std::uint64_t with_owner(std::uint64_t c, PeerIndex p) noexcept {
  return (c & ~(std::uint64_t{0xFFFF} << 8)) | (static_cast<std::uint64_t>(p) << 8);
}
inline constexpr std::uint64_t with_refs(std::uint64_t c, std::uint32_t r) noexcept {
  return (c & ~(std::uint64_t{0xFFFF} << 24)) | (static_cast<std::uint64_t>(r & kMaxRefs) << 24);
}
inline constexpr std::uint32_t next_generation(std::uint32_t g) noexcept {
  return (g + 1) & kGenerationMask;
}
static_assert(state(make(ChunkState::published, 7, 3, 0xABCDEF)) == ChunkState::published);
static_assert(owner(make(ChunkState::published, 7, 3, 0xABCDEF)) == 7);
static_assert(refs(make(ChunkState::published, 7, 3, 0xABCDEF)) == 3);
static_assert(generation(make(ChunkState::published, 7, 3, 0xABCDEF)) == 0xABCDEF);
}  // namespace control

// What crosses processes. 16 bytes, trivially copyable, no pointers.
struct ChunkRef {
  std::uint64_t offset = 0;      // payload offset from the segment base
  std::uint32_t generation = 0;  // control::generation at allocation
  std::uint32_t id = kInvalidChunkId;
  [[nodiscard]] constexpr bool valid() const noexcept { return id != kInvalidChunkId; }
  friend constexpr bool operator==(const ChunkRef&, const ChunkRef&) = default;
};
static_assert(sizeof(ChunkRef) == 16);
static_assert(offsetof(ChunkRef, offset) == 0);
static_assert(offsetof(ChunkRef, generation) == 8);
static_assert(offsetof(ChunkRef, id) == 12);

// A resolved chunk in this process's mapping. `size` is the chunk's
// capacity (class chunk size or TLSF block size), at least what was asked.
struct ChunkView {
  std::byte* data = nullptr;
  std::uint64_t size = 0;
  [[nodiscard]] std::span<std::byte> bytes() const noexcept { return {data, size}; }
};

// A snapshot of one chunk's metadata (tools, reclamation, tests).
inline constexpr std::uint32_t kTlsfPool = 0xFFFFFFFFu;
struct ChunkInfo {
  ChunkRef ref;            // offset, current generation, id
  std::uint64_t size = 0;  // capacity in bytes
  ChunkState state = ChunkState::unused;
  PeerIndex owner = kNoPeer;
  std::uint32_t refs = 0;
  std::uint32_t pool = 0;  // size-class index, or kTlsfPool
};

}  // namespace sluice::alloc
