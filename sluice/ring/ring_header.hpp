#pragma once
// The control block every ring region starts with (SPSC, MPMC and byte
// rings share it), and the checks an attacher runs on it.
//
// A ring lives in memory the caller supplies: usually a region inside a
// shared segment that several processes map at different addresses. The
// region holds only fixed-width fields, lock-free atomics and element bytes,
// never a pointer. Byte layout and synchronisation: docs/layout/ring.md.
//
//   offset 0    RingHeader (64 bytes; written once by format, then read-only)
//   offset 128  consumer line: head index (written by the consumer side)
//   offset 256  producer line: tail index (written by the producer side)
//   offset 384  elements / cells / byte data
//
// Head and tail are 128 bytes apart, not 64, because the adjacent-line
// prefetcher of x86 cores pulls cache lines in pairs: two indices 64 bytes
// apart still bounce between the producer's and the consumer's cores.
//
// Initialisation: format() fills every field, constructs the atomics and
// stores the magic last with release; attach() loads the magic with acquire,
// so an attacher that sees the magic sees a complete header. The channel
// layer publishes a ring's offset only after format() returned, so attach()
// racing format() is a caller bug that shows up as bad_magic, not as a torn
// read.

#include <sluice/base/atomic.hpp>
#include <sluice/base/result.hpp>
#include <sluice/base/units.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sluice::ring {

// "SLCERING" in little-endian byte order.
inline constexpr std::uint64_t kRingMagic = 0x474E49524543'4C53ULL;
inline constexpr std::uint32_t kRingVersion = 1;

// Which ring a region holds; an attacher of one kind refuses the others.
enum class RingKind : std::uint32_t { spsc = 1, mpmc = 2, bytes = 3 };

// Distance between the header, the consumer index and the producer index.
inline constexpr std::size_t kIndexSpacing = 2 * kCacheLine;

// Largest capacity any ring accepts (elements or bytes): keeps every size
// computation far from 64-bit overflow and every count within 2^63, where the
// signed distance tricks below stay exact.
inline constexpr std::uint64_t kMaxRingCapacity = std::uint64_t{1} << 40;

struct RingHeader {
  SharedAtomic<std::uint64_t> magic;  // kRingMagic once format() completed
  std::uint32_t version;              // kRingVersion
  std::uint32_t kind;                 // RingKind
  std::uint64_t capacity;             // elements (spsc, mpmc) or bytes (bytes); power of two
  std::uint32_t element_size;         // sizeof(T); 1 for the byte ring
  std::uint32_t stride;         // bytes per slot / cell; 8 for the byte ring (frame alignment)
  std::uint32_t flags;          // per kind (SPSC: kSpscOverwrite)
  std::uint32_t param;          // per kind (bytes: max frame bytes; else 0)
  std::uint64_t total_size;     // required_size(capacity): the region must be at least this
  std::uint64_t initial_index;  // head and tail at format (diagnostics, tests near 2^64)
  std::uint64_t reserved;       // zero
};

static_assert(is_shareable_atomic_v<std::uint64_t>);
static_assert(sizeof(RingHeader) == 64);
static_assert(offsetof(RingHeader, magic) == 0);
static_assert(offsetof(RingHeader, version) == 8);
static_assert(offsetof(RingHeader, kind) == 12);
static_assert(offsetof(RingHeader, capacity) == 16);
static_assert(offsetof(RingHeader, element_size) == 24);
static_assert(offsetof(RingHeader, stride) == 28);
static_assert(offsetof(RingHeader, flags) == 32);
static_assert(offsetof(RingHeader, param) == 36);
static_assert(offsetof(RingHeader, total_size) == 40);
static_assert(offsetof(RingHeader, initial_index) == 48);
static_assert(offsetof(RingHeader, reserved) == 56);

// One index on its own pair of cache lines. Aligned to one cache line only:
// regions are required to be cache-line aligned, not 128-byte aligned; the
// offsets below keep the indices 128 bytes apart all the same.
struct alignas(kCacheLine) IndexLine {
  SharedAtomic<std::uint64_t> value;
  std::uint8_t pad[kIndexSpacing - sizeof(SharedAtomic<std::uint64_t>)];
};
static_assert(sizeof(IndexLine) == kIndexSpacing);

// The first 384 bytes of every ring region. Which side writes head and tail
// depends on the ring (see each ring's header comment).
struct RingControl {
  alignas(kCacheLine) RingHeader header;
  std::uint8_t pad[kIndexSpacing - sizeof(RingHeader)];
  IndexLine head;  // consumer side: next index to read
  IndexLine tail;  // producer side: next index to write
};

static_assert(sizeof(RingControl) == 3 * kIndexSpacing);
static_assert(alignof(RingControl) == kCacheLine, "regions are only cache-line aligned");
static_assert(offsetof(RingControl, header) == 0);
static_assert(offsetof(RingControl, head) == kIndexSpacing);
static_assert(offsetof(RingControl, tail) == 2 * kIndexSpacing);
static_assert(offsetof(RingControl, tail) - offsetof(RingControl, head) >= 2 * kCacheLine,
              "head and tail must not share a cache line (or an adjacent-line pair)");
static_assert(offsetof(RingControl, head) - offsetof(RingControl, header) >= 2 * kCacheLine,
              "the read-only header must not share a line with an index");

// Where the elements start.
inline constexpr std::size_t kRingDataOffset = sizeof(RingControl);

// What format() writes into the header, besides magic and version.
struct RingGeometry {
  RingKind kind;
  std::uint64_t capacity;
  std::uint32_t element_size;
  std::uint32_t stride;
  std::uint32_t flags;
  std::uint32_t param;
  std::uint64_t total_size;
};

// Checks the region a ring is formatted into or attached to: non-null,
// cache-line aligned (atomics and slots rely on it), at least `required`
// bytes. `what` names the ring in messages ("spsc ring").
Result<void> check_region(const void* mem, std::size_t bytes, std::uint64_t required,
                          const char* what);

// Constructs the control block in mem (which check_region accepted), sets
// head = tail = initial_index and publishes the header: the magic is stored
// last, with release. Rings write their slots (MPMC cell sequences) before
// calling this, so the same release publishes them.
RingControl* format_control(void* mem, const RingGeometry& geometry,
                            std::uint64_t initial_index) noexcept;

// Validates the header of a region for an attacher expecting `kind` and
// returns the control block. Checks: alignment and size of the region,
// magic (acquire), version, kind, capacity a power of two within
// kMaxRingCapacity, total_size within the region. Element size, stride,
// flags and param are checked by the ring that knows what to expect.
Result<RingControl*> attach_control(void* mem, std::size_t bytes, RingKind kind, const char* what);

// Head and tail as one consistent snapshot, validated: head <= tail <=
// head + capacity. Other processes may be moving the indices while a view
// attaches, so two loads are consistent only if one of the indices did not
// change around the load of the other: it reads head, tail, head, tail and
// retries a bounded number of times. In a single-producer (single-consumer)
// ring the attaching side's own index is stable, so the first try succeeds.
// If both keep moving (MPMC, or an SPSC ring in overwrite mode, where the
// producer moves both), `stable` is false and the caller must not rely on
// the pair (the rings that allow this re-read both indices on use).
struct IndexSnapshot {
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  bool stable = false;
};
Result<IndexSnapshot> snapshot_indices(const RingControl& control, std::uint64_t capacity,
                                       const char* what) noexcept;

// Cold path of every ring: "spsc ring: tail 90 is 80 ahead of head 10,
// capacity 16". Out of line so the hot paths that may call it stay small.
[[gnu::cold]] Failure corrupted_distance(const char* what, const char* ahead_name,
                                         std::uint64_t ahead, const char* behind_name,
                                         std::uint64_t behind, std::uint64_t capacity);

}  // namespace sluice::ring
