#pragma once
// The shared data of a domain segment: plain fixed-width fields, lock-free
// atomics and offsets (never pointers). The byte layout is documented in
// docs/LAYOUT.md and pinned here with static_asserts.
//
//   0        SegmentHeader (one page)
//   peers    PeerSlot[max_peers]            (64 bytes each)
//   registry RegistryEntry[max_entries]    (256 bytes each)
//   heap     allocator metadata             (owned by the alloc layer)
//   data     payload area                   (owned by the alloc layer)
//
// Everything here is written by other processes and is untrusted: the
// process-local Segment validates every value before it uses it.

#include <sluice/base/atomic.hpp>
#include <sluice/base/units.hpp>
#include <sluice/os/robust_mutex.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sluice::layout {

inline constexpr std::uint64_t kDomainMagic = 0x4e49414d4f44534cULL;  // "LSDOMAIN" little-endian
inline constexpr std::uint32_t kLayoutVersion = 2;  // 2: robust lock of our own (no pthread mutex)
inline constexpr std::size_t kHeaderSize = kPageSize;
inline constexpr std::size_t kNameCapacity = 64;  // registry names, NUL included
inline constexpr std::uint32_t kMaxPeers = 4096;
inline constexpr std::uint32_t kMaxEntries = 65536;

// SegmentHeader::flags
inline constexpr std::uint32_t kSegmentPersistent = 1;  // stays when its last peer detaches

enum class InitState : std::uint32_t {
  empty = 0,         // fresh object, nothing written yet
  initialising = 1,  // a creator is formatting it (header.init_pid/init_start_time)
  ready = 2,
  corrupted = 3,  // someone found it inconsistent; only `sluice rm` helps
};

// A section of the segment: [offset, offset + size).
struct Section {
  std::uint64_t offset;
  std::uint64_t size;
};
static_assert(sizeof(Section) == 16);

struct SegmentHeader {
  // -- immutable after init (covered by `checksum`) --
  std::uint64_t magic;            // kDomainMagic
  std::uint32_t layout_version;   // kLayoutVersion
  std::uint32_t header_size;      // kHeaderSize
  std::uint64_t segment_size;     // bytes of the whole object
  std::uint64_t generation;       // changes at every (re-)initialisation
  std::uint64_t created_unix_ns;  // wall clock, for people
  std::uint32_t max_peers;
  std::uint32_t max_entries;
  Section peers;
  Section registry;
  Section heap;            // allocator metadata (alloc layer)
  Section data;            // payload area (alloc layer)
  std::uint64_t checksum;  // FNV-1a 64 of bytes 0..111 and 120..191
  std::uint32_t flags;     // kSegmentPersistent (immutable, checksummed)
  std::uint8_t reserved0[36];
  // -- mutable, offset 192 --
  alignas(64) std::atomic<std::uint32_t> init_state;  // InitState; futex word
  std::int32_t init_pid;                              // who set `initialising`
  std::uint64_t init_start_time;
  std::atomic<std::uint64_t> attach_epoch;      // bumped at every peer attach
  std::atomic<std::uint64_t> registry_version;  // bumped at every registry change
  std::uint8_t reserved1[32];
  // -- offset 256: the lock for registry changes (cold path only) --
  alignas(64) os::RobustMutexData registry_lock;
  std::uint8_t reserved2[kHeaderSize - 256 - sizeof(os::RobustMutexData)];
};
static_assert(sizeof(SegmentHeader) == kHeaderSize);
static_assert(offsetof(SegmentHeader, magic) == 0);
static_assert(offsetof(SegmentHeader, layout_version) == 8);
static_assert(offsetof(SegmentHeader, segment_size) == 16);
static_assert(offsetof(SegmentHeader, generation) == 24);
static_assert(offsetof(SegmentHeader, max_peers) == 40);
static_assert(offsetof(SegmentHeader, peers) == 48);
static_assert(offsetof(SegmentHeader, registry) == 64);
static_assert(offsetof(SegmentHeader, heap) == 80);
static_assert(offsetof(SegmentHeader, data) == 96);
static_assert(offsetof(SegmentHeader, checksum) == 112);
static_assert(offsetof(SegmentHeader, flags) == 120);
static_assert(offsetof(SegmentHeader, init_state) == 192);
static_assert(offsetof(SegmentHeader, init_pid) == 196);
static_assert(offsetof(SegmentHeader, attach_epoch) == 208);
static_assert(offsetof(SegmentHeader, registry_lock) == 256);
static_assert(is_shareable_atomic_v<std::uint32_t> && is_shareable_atomic_v<std::uint64_t>);

enum class PeerState : std::uint32_t {
  free = 0,
  attaching = 1,  // slot claimed, identity being written
  alive = 2,
  reclaiming = 3,  // a survivor is returning what this (dead) peer held
};

// One attached process. `control` packs the state (low 32 bits) with the
// pid (high 32 bits) so that claiming a slot records who claimed it in the
// same CAS: a process killed right after claiming is still identifiable.
// `epoch` distinguishes successive occupants of the same slot, so a stale
// handle (slot, epoch) is detected.
struct PeerSlot {
  std::atomic<std::uint64_t> control;  // (pid << 32) | PeerState
  std::uint64_t start_time;            // clock ticks since boot (/proc/<pid>/stat)
  std::atomic<std::uint64_t> epoch;    // header.attach_epoch at attach
  std::uint64_t attach_unix_ns;
  std::atomic<std::uint32_t> wake_word;  // per-peer futex word (channel layer)
  std::uint32_t flags;
  std::uint8_t reserved[24];
};
static_assert(sizeof(PeerSlot) == 64);
static_assert(offsetof(PeerSlot, start_time) == 8);
static_assert(offsetof(PeerSlot, epoch) == 16);
static_assert(offsetof(PeerSlot, wake_word) == 32);

constexpr std::uint64_t peer_control(PeerState s, std::int32_t pid) noexcept {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(pid)) << 32) |
         static_cast<std::uint32_t>(s);
}
constexpr PeerState peer_state_of(std::uint64_t control) noexcept {
  return static_cast<PeerState>(static_cast<std::uint32_t>(control));
}
constexpr std::int32_t peer_pid_of(std::uint64_t control) noexcept {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(control >> 32));
}

enum class EntryState : std::uint32_t {
  free = 0,
  creating = 1,  // under the registry lock; control block being formatted
  ready = 2,
};

// What an entry is; the layers above define the meaning of `params`.
// Two create-or-attach calls match when every field is equal.
struct EntryConfig {
  std::uint32_t kind;  // e.g. pub/sub channel, queue, byte stream
  std::uint32_t flags;
  std::uint64_t type_id;       // hash of the payload type's name (typed channels)
  std::uint64_t element_size;  // sizeof(T) for typed channels, 0 for bytes
  std::uint64_t params[5];     // capacity, policy, history, max subscribers ...
};
static_assert(sizeof(EntryConfig) == 64);

struct RegistryEntry {
  std::atomic<std::uint32_t> state;  // EntryState
  std::uint32_t name_length;
  std::uint32_t generation;         // bumped when the entry is (re)created
  std::atomic<std::uint32_t> refs;  // attached endpoints
  std::uint64_t control_offset;     // control block in the segment (heap)
  std::uint64_t control_size;
  std::int32_t creator_pid;
  std::uint32_t creator_peer;
  std::uint64_t created_unix_ns;
  char name[kNameCapacity];
  EntryConfig config;
  std::uint8_t reserved[80];
};
static_assert(sizeof(RegistryEntry) == 256);
static_assert(offsetof(RegistryEntry, control_offset) == 16);
static_assert(offsetof(RegistryEntry, name) == 48);
static_assert(offsetof(RegistryEntry, config) == 112);

// FNV-1a 64 over the immutable part of the header (all but the checksum).
std::uint64_t header_checksum(const SegmentHeader& h) noexcept;

}  // namespace sluice::layout
