#pragma once
// The shared data of a heap: plain fixed-width fields, lock-free atomics and
// offsets from the segment base (never pointers). The process-local Heap
// (heap.hpp) operates on it. Byte layout: docs/layout/alloc.md, pinned here
// with static_asserts.
//
// Metadata section (offsets from its start; every table 64-byte aligned):
//
//   0                HeapHeader                      256 B
//   256              PoolDesc[kMaxClasses]           128 B each (4 KiB)
//   4352             TlsfHeader                      2880 B
//   7232             ChunkMeta[total_chunks]         32 B each: pool chunks
//                                                    first, then TLSF blocks
//   ...              TlsfLink[tlsf_max_blocks]       16 B each
//
// Data section (offsets from its start; regions page-aligned):
//
//   pool 0 chunks | pool 1 chunks | ... | TLSF region
//
// Everything here may have been written by another process and is
// untrusted: the Heap checks the immutable geometry once at attach (field
// by field, then a checksum) and every mutable value (indices, offsets,
// states) where it uses it.

#include <sluice/alloc/config.hpp>
#include <sluice/alloc/tlsf_bins.hpp>
#include <sluice/base/atomic.hpp>
#include <sluice/os/robust_mutex.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sluice::alloc::layout {

inline constexpr std::uint64_t kHeapMagic = 0x3150414548554C53ULL;  // "SLUHEAP1" little-endian
inline constexpr std::uint32_t kHeapVersion = 1;
inline constexpr std::uint32_t kNil = 0xFFFFFFFFu;

// Immutable after format (covered by `checksum`), except the counters in
// the second half.
struct HeapHeader {
  std::uint64_t magic;              // kHeapMagic
  std::uint32_t version;            // kHeapVersion
  std::uint32_t class_count;        // pools in use (<= kMaxClasses)
  std::uint64_t segment_size;       // the whole segment, as given to format()
  std::uint64_t meta_offset;        // metadata section, from the segment base
  std::uint64_t meta_bytes;         // metadata_bytes(config)
  std::uint64_t data_offset;        // data section, from the segment base
  std::uint64_t data_bytes;         // data_bytes(config)
  std::uint32_t total_chunks;       // pool chunks + TLSF descriptors
  std::uint32_t pool_chunks;        // ids [0, pool_chunks) are pool chunks
  std::uint64_t chunk_meta_offset;  // ChunkMeta table, from the segment base
  std::uint64_t tlsf_link_offset;   // TlsfLink table, from the segment base
  std::uint64_t tlsf_offset;        // TLSF region, from the segment base
  std::uint64_t tlsf_bytes;         // 0: no TLSF
  std::uint32_t tlsf_max_blocks;
  std::uint32_t reserved0;
  std::uint64_t checksum;  // FNV-1a 64 of the bytes above and of
                           // every PoolDesc's immutable half
  std::uint8_t reserved1[16];
  // -- offset 128: counters (mutable, relaxed atomics) --
  alignas(64) std::atomic<std::uint64_t> oom_failures;  // allocate() returned out_of_memory
  std::atomic<std::uint64_t> tlsf_fallbacks;            // class exhausted, served by TLSF
  std::atomic<std::uint64_t> corruption_events;         // validation failures seen
  std::uint8_t reserved2[104];
};
static_assert(sizeof(HeapHeader) == 256);
static_assert(offsetof(HeapHeader, magic) == 0);
static_assert(offsetof(HeapHeader, version) == 8);
static_assert(offsetof(HeapHeader, class_count) == 12);
static_assert(offsetof(HeapHeader, segment_size) == 16);
static_assert(offsetof(HeapHeader, meta_offset) == 24);
static_assert(offsetof(HeapHeader, meta_bytes) == 32);
static_assert(offsetof(HeapHeader, data_offset) == 40);
static_assert(offsetof(HeapHeader, data_bytes) == 48);
static_assert(offsetof(HeapHeader, total_chunks) == 56);
static_assert(offsetof(HeapHeader, pool_chunks) == 60);
static_assert(offsetof(HeapHeader, chunk_meta_offset) == 64);
static_assert(offsetof(HeapHeader, tlsf_link_offset) == 72);
static_assert(offsetof(HeapHeader, tlsf_offset) == 80);
static_assert(offsetof(HeapHeader, tlsf_bytes) == 88);
static_assert(offsetof(HeapHeader, tlsf_max_blocks) == 96);
static_assert(offsetof(HeapHeader, checksum) == 104);
static_assert(offsetof(HeapHeader, oom_failures) == 128);
static_assert(offsetof(HeapHeader, tlsf_fallbacks) == 136);
static_assert(offsetof(HeapHeader, corruption_events) == 144);
inline constexpr std::size_t kHeaderChecksummed = offsetof(HeapHeader, checksum);

// One size class. The first cache line is immutable; the second is the hot
// line every allocation and release of the class touches (head CAS and
// counters on one line: one line transfer per operation).
struct PoolDesc {
  std::uint64_t chunk_size;     // bytes, multiple of 64
  std::uint32_t count;          // chunks
  std::uint32_t first_id;       // chunk id of chunk 0
  std::uint64_t region_offset;  // chunk 0's payload, from the segment base
  std::uint64_t region_bytes;   // count * chunk_size
  std::uint8_t reserved0[32];
  // -- offset 64: hot --
  alignas(64) std::atomic<std::uint64_t> head;  // TaggedFreeList head: (pops << 32) | index
  std::atomic<std::uint64_t> high_water;        // most chunks in use at once
  std::atomic<std::uint64_t> failures;          // allocations that found the class empty
  std::atomic<std::uint64_t> lost;              // pushes that gave up (audit() relists)
  std::uint8_t reserved1[32];
};
static_assert(sizeof(PoolDesc) == 128);
static_assert(offsetof(PoolDesc, chunk_size) == 0);
static_assert(offsetof(PoolDesc, count) == 8);
static_assert(offsetof(PoolDesc, first_id) == 12);
static_assert(offsetof(PoolDesc, region_offset) == 16);
static_assert(offsetof(PoolDesc, region_bytes) == 24);
static_assert(offsetof(PoolDesc, head) == 64);
static_assert(offsetof(PoolDesc, high_water) == 72);
static_assert(offsetof(PoolDesc, failures) == 80);
static_assert(offsetof(PoolDesc, lost) == 88);
inline constexpr std::size_t kPoolChecksummed = 32;  // chunk_size .. region_bytes

// TLSF state. Everything but the counters is guarded by `mutex` (robust,
// process-shared); after a holder died mid-operation the next holder
// rebuilds bins, bitmaps, physical links and the spare-descriptor stack from
// the descriptors (ChunkMeta control/offset/size), which are the source of
// truth.
struct TlsfHeader {
  os::RobustMutexData mutex;          // 40 B
  std::atomic<std::uint32_t> status;  // 0 ok, 1 corrupted (unrecoverable); read without the lock
  std::uint32_t spare_head;           // stack of unused descriptors (TlsfLink::next_free)
  std::uint32_t spare_count;
  std::uint32_t reserved0;
  std::uint64_t fl_bitmap;  // bit fl set: sl_bitmap[fl] != 0
  // -- offset 64: counters (relaxed atomics, read by stats() without the lock) --
  alignas(64) std::atomic<std::uint64_t> free_bytes;
  std::atomic<std::uint64_t> allocations;
  std::atomic<std::uint64_t> failures;
  std::atomic<std::uint64_t> repairs;      // rebuilds after a holder died or a check failed
  std::atomic<std::uint32_t> used_blocks;  // descriptors not unused
  std::atomic<std::uint32_t> free_blocks;  // descriptors in bins
  std::uint8_t reserved1[24];
  // -- offset 128 --
  std::uint32_t sl_bitmap[tlsf::kFlCount];             // bit sl set: bins[fl][sl] != kNil
  std::uint32_t bins[tlsf::kFlCount][tlsf::kSlCount];  // first free descriptor of each bin
  std::uint8_t reserved2[32];
};
static_assert(sizeof(TlsfHeader) == 2880);
static_assert(offsetof(TlsfHeader, mutex) == 0);
static_assert(offsetof(TlsfHeader, status) == 40);
static_assert(offsetof(TlsfHeader, spare_head) == 44);
static_assert(offsetof(TlsfHeader, spare_count) == 48);
static_assert(offsetof(TlsfHeader, fl_bitmap) == 56);
static_assert(offsetof(TlsfHeader, free_bytes) == 64);
static_assert(offsetof(TlsfHeader, repairs) == 88);
static_assert(offsetof(TlsfHeader, used_blocks) == 96);
static_assert(offsetof(TlsfHeader, sl_bitmap) == 128);
static_assert(offsetof(TlsfHeader, bins) == 288);

// Per-chunk metadata, outside the payload. Pool chunks come first in the
// table, class by class, so the class of an id follows from the (validated)
// geometry; their offset and size are fixed at format and the Heap
// recomputes them rather than trusting them. For TLSF descriptors offset and
// size change while the block is free or unused (split, merge), under the
// TLSF lock.
struct ChunkMeta {
  std::atomic<std::uint64_t> control;  // see chunk.hpp: state, owner, refs, generation
  std::atomic<std::uint64_t> offset;   // payload, from the segment base
  std::atomic<std::uint64_t> size;     // capacity in bytes
  std::atomic<std::uint32_t> next;     // pool free-list link (TaggedFreeList)
  std::atomic<std::uint32_t> depth;    // pool free-list length from here down, while listed
};
static_assert(sizeof(ChunkMeta) == 32);
static_assert(alignof(ChunkMeta) == 8);
static_assert(offsetof(ChunkMeta, control) == 0);
static_assert(offsetof(ChunkMeta, offset) == 8);
static_assert(offsetof(ChunkMeta, size) == 16);
static_assert(offsetof(ChunkMeta, next) == 24);
static_assert(offsetof(ChunkMeta, depth) == 28);

// TLSF block links (descriptor indices, kNil for none), guarded by the lock.
struct TlsfLink {
  std::uint32_t prev_phys;  // block just below in the region
  std::uint32_t next_phys;  // block just above
  std::uint32_t prev_free;  // bin list (free blocks)
  std::uint32_t next_free;  // bin list, or spare-descriptor stack (unused)
};
static_assert(sizeof(TlsfLink) == 16);

inline constexpr std::uint64_t kPoolTableOffset = sizeof(HeapHeader);
inline constexpr std::uint64_t kTlsfHeaderOffset =
    kPoolTableOffset + kMaxClasses * sizeof(PoolDesc);
inline constexpr std::uint64_t kChunkMetaOffset = kTlsfHeaderOffset + sizeof(TlsfHeader);
static_assert(kPoolTableOffset == 256);
static_assert(kTlsfHeaderOffset == 4352);
static_assert(kChunkMetaOffset == 7232);
static_assert(kChunkMetaOffset % 64 == 0);

static_assert(is_shareable_atomic_v<std::uint64_t> && is_shareable_atomic_v<std::uint32_t>);

// FNV-1a 64, for the immutable-geometry checksum.
constexpr std::uint64_t fnv1a(const unsigned char* p, std::size_t n,
                              std::uint64_t h = 0xcbf29ce484222325ULL) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace sluice::alloc::layout
