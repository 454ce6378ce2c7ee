#pragma once
// Bounded multi-producer multi-consumer ring (Dmitry Vyukov's design: a
// sequence number per cell), for many-to-one and many-to-many queues of
// trivially copyable elements, placed in memory the caller supplies.
//
//   MpmcRing<T>::required_size(capacity)
//   MpmcRing<T>::format(mem, bytes, capacity, options)
//   MpmcRing<T>::attach(mem, bytes) -> a view that may push and pop
//
// Region: the common control block (ring_header.hpp; head = dequeue index,
// tail = enqueue index, each on its own line pair), then `capacity` cells of
// kCellStride bytes: a 64-bit sequence number, then the element. A cell is
// padded to whole cache lines so that producers and consumers working on
// neighbouring cells do not share a line (the cost: a 64-byte Descriptor
// takes a 128-byte cell).
//
// Protocol, for index p and cell c = cells[p & mask] (capacity N >= 2; with
// N = 1 "holds the element of p" and "free for p + N" would be one value):
//   c.seq == p          cell free for the producer of index p
//   c.seq == p + 1      cell holds the element of index p
//   c.seq == p + N      consumed; free for the producer of index p + N
// Producer: p = tail; if c.seq == p, CAS tail p -> p + 1 (claims the cell),
//   write the element, store c.seq = p + 1 (release).
// Consumer: p = head; if c.seq == p + 1, CAS head p -> p + 1, read the
//   element, store c.seq = p + N (release).
//   SYNC POINT M1: producer's release store of seq = p + 1 publishes the
//     element; the consumer's acquire load of seq observes it.
//   SYNC POINT M2: consumer's release store of seq = p + N orders its read
//     before the next producer's write; that producer's acquire load of seq
//     observes it.
// Ownership of a cell's contents is handed over by the sequence numbers
// alone; the head CAS is relaxed. The tail CAS (a producer's claim) is a
// release: SYNC POINT M3 pairs it with the acquire load of tail in
// unwritten_head(), so that what a producer wrote before claiming (the
// channel's "pushing" flag) is visible to whoever sees the claim.
//
// Crash recovery. A producer that dies between its claim and its sequence
// store leaves a cell every consumer reads as "not written yet": the ring
// stops at it. A consumer that dies between its head CAS and its sequence
// store leaves a cell the producers read as "not consumed yet": the ring
// stops a lap later. The ring cannot know who died; the caller, who does
// (the channel layer tracks its endpoints), repairs with unwritten_head() +
// skip_unwritten() and release_abandoned_pops().
//
// Validation (cells are written by other processes): with d = c.seq - want
// (signed), the legitimate values are d == 0 (go), d in [-N, -1] (full or
// empty: the previous lap's owner is not done yet) and d > 0 (our index is
// stale: another thread took it; reload). d < -N is Errc::corrupted. d > 0
// while a reload returns the same index is corrupted too: whoever moved the
// cell past our index moved the index first, and the acquire load of seq
// makes that visible. Each retry follows progress by another thread; the
// total is bounded by kMaxAttempts anyway, then Errc::corrupted, so no value
// in the region can make a call loop forever.
//
// Threading: any number of threads and processes may push and pop through
// their own views concurrently; a view itself holds no mutable state and may
// be shared between threads. No system call, lock or allocation.

#include <sluice/base/atomic.hpp>
#include <sluice/config.hpp>
#if SLUICE_CRASH_POINTS
#include <sluice/base/internal/crash_point.hpp>
#else
#define SLUICE_CRASH_POINT(name) \
  do {                           \
  } while (0)
#endif
#include <sluice/base/result.hpp>
#include <sluice/base/units.hpp>
#include <sluice/ring/ring_header.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <type_traits>

namespace sluice::ring {

struct MpmcOptions {
  // Head, tail and the first lap of cell sequences start here (tests of the
  // 2^64 wrap; otherwise 0).
  std::uint64_t initial_index = 0;
};

template <typename T>
class MpmcRing {
  static_assert(std::is_trivially_copyable_v<T>, "ring elements are copied as bytes");
  static_assert(alignof(T) <= kCacheLine, "cells are aligned to a cache line");
  static_assert(sizeof(T) <= (std::size_t{1} << 20), "elements larger than 1 MiB belong in chunks");

 public:
  static constexpr const char* kWhat = "mpmc ring";
  static constexpr std::size_t kCellDataOffset = std::max<std::size_t>(8, alignof(T));
  static constexpr std::size_t kCellStride = align_up(kCellDataOffset + sizeof(T), kCacheLine);
  static constexpr std::uint64_t kMaxCapacity = kMaxRingCapacity / kCellStride;
  static constexpr std::uint32_t kMaxAttempts = 1u << 20;

  static_assert(kCellStride % kCacheLine == 0);
  static_assert(kCellDataOffset % alignof(T) == 0);

  static constexpr std::size_t required_size(std::uint64_t capacity) noexcept {
    return static_cast<std::size_t>(kRingDataOffset + capacity * kCellStride);
  }

  static Result<void> format(void* mem, std::size_t bytes, std::uint64_t capacity,
                             MpmcOptions options = {}) {
    if (!is_pow2(capacity) || capacity < 2 || capacity > kMaxCapacity)
      return fail(Errc::invalid_argument, "{}: capacity {} is not a power of two in [2, {}]", kWhat,
                  capacity, kMaxCapacity);
    const std::uint64_t need = required_size(capacity);
    SLUICE_TRY(check_region(mem, bytes, need, kWhat));
    auto* cells = static_cast<std::byte*>(mem) + kRingDataOffset;
    std::memset(cells, 0, static_cast<std::size_t>(need - kRingDataOffset));
    const std::uint64_t mask = capacity - 1;
    for (std::uint64_t i = 0; i < capacity; ++i) {
      const std::uint64_t index = options.initial_index + i;
      new (cells + (index & mask) * kCellStride) SharedAtomic<std::uint64_t>(index);
    }
    // The release store of the magic in format_control publishes the cells.
    format_control(mem,
                   RingGeometry{RingKind::mpmc, capacity, static_cast<std::uint32_t>(sizeof(T)),
                                static_cast<std::uint32_t>(kCellStride), 0,
                                static_cast<std::uint32_t>(kCellDataOffset), need},
                   options.initial_index);
    return ok();
  }

  MpmcRing() = default;

  static Result<MpmcRing> attach(void* mem, std::size_t bytes) {
    SLUICE_TRY_ASSIGN(RingControl * control, attach_control(mem, bytes, RingKind::mpmc, kWhat));
    const RingHeader& h = control->header;
    if (h.element_size != sizeof(T) || h.stride != kCellStride || h.param != kCellDataOffset)
      return fail(Errc::config_mismatch,
                  "{}: element size {} stride {} data offset {}, expected {} {} {}", kWhat,
                  h.element_size, h.stride, h.param, sizeof(T), kCellStride, kCellDataOffset);
    if (h.flags != 0 || h.capacity < 2 || h.capacity > kMaxCapacity ||
        h.total_size != required_size(h.capacity))
      return fail(Errc::corrupted, "{}: flags {:#x}, total size {} for capacity {}", kWhat, h.flags,
                  h.total_size, h.capacity);
    // Any number of peers may be moving both indices; a consistent snapshot
    // is checked when there is one (see snapshot_indices).
    SLUICE_TRY(snapshot_indices(*control, h.capacity, kWhat));
    MpmcRing r;
    r.control_ = control;
    r.cells_ = static_cast<std::byte*>(mem) + kRingDataOffset;
    r.capacity_ = h.capacity;
    r.mask_ = h.capacity - 1;
    return r;
  }

  // true: pushed; false: full (retryable).
  Result<bool> try_push(const T& item) const noexcept {
    auto& tail = control_->tail.value;
    std::uint64_t pos = tail.load(std::memory_order_relaxed);
    for (std::uint32_t attempt = 0; attempt < kMaxAttempts; ++attempt) {
      std::byte* cell = cell_at(pos);
      // SYNC POINT M2 (producer side): observes the consumer's release of
      // the cell from the previous lap.
      const std::uint64_t seq = seq_of(cell).load(std::memory_order_acquire);
      const auto d = static_cast<std::int64_t>(seq - pos);
      if (d == 0) {
        // Case 1: the cell is free for pos; claim the index. On failure pos
        // holds the current tail and we retry with it.
        // SYNC POINT M3: release (see the header).
        if (tail.compare_exchange_strong(pos, pos + 1, std::memory_order_release,
                                         std::memory_order_relaxed)) {
          SLUICE_CRASH_POINT("mpmc.push.claimed");
          std::memcpy(cell + kCellDataOffset, &item, sizeof(T));
          // SYNC POINT M1: publishes the element to the consumer of pos.
          seq_of(cell).store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (d < 0) {
        // Case 2: the previous lap's element is still there: full.
        if (d < -static_cast<std::int64_t>(capacity_)) [[unlikely]]
          return bad_sequence("tail", pos, seq);
        return false;
      } else {
        // Case 3: another producer took pos; reload.
        const std::uint64_t fresh = tail.load(std::memory_order_relaxed);
        if (fresh == pos) [[unlikely]]
          return bad_sequence("tail", pos, seq);
        pos = fresh;
      }
    }
    return no_progress("push");
  }

  // true: popped into out; false: empty (retryable).
  Result<bool> try_pop(T& out) const noexcept {
    auto& head = control_->head.value;
    std::uint64_t pos = head.load(std::memory_order_relaxed);
    for (std::uint32_t attempt = 0; attempt < kMaxAttempts; ++attempt) {
      std::byte* cell = cell_at(pos);
      // SYNC POINT M1 (consumer side): observes the producer's element.
      const std::uint64_t seq = seq_of(cell).load(std::memory_order_acquire);
      const auto d = static_cast<std::int64_t>(seq - (pos + 1));
      if (d == 0) {
        // Case 1: the element of pos is there; claim it.
        if (head.compare_exchange_strong(pos, pos + 1, std::memory_order_relaxed)) {
          SLUICE_CRASH_POINT("mpmc.pop.claimed");
          std::memcpy(&out, cell + kCellDataOffset, sizeof(T));
          // SYNC POINT M2: releases the cell to the producer of pos + N.
          seq_of(cell).store(pos + capacity_, std::memory_order_release);
          return true;
        }
      } else if (d < 0) {
        // Case 2: not written yet (empty, or its producer is mid-write).
        if (d < -static_cast<std::int64_t>(capacity_)) [[unlikely]]
          return bad_sequence("head", pos, seq);
        return false;
      } else {
        // Case 3: another consumer took pos; reload.
        const std::uint64_t fresh = head.load(std::memory_order_relaxed);
        if (fresh == pos) [[unlikely]]
          return bad_sequence("head", pos, seq);
        pos = fresh;
      }
    }
    return no_progress("pop");
  }

  // -- crash recovery (cold paths; see the header) --------------------------

  // The index at head if a producer claimed it (tail moved past it) but has
  // not written it: a push in progress, or abandoned by a producer that died.
  // SYNC POINT M3 (consumer side): tail is loaded with acquire.
  [[nodiscard]] std::optional<std::uint64_t> unwritten_head() const noexcept {
    const std::uint64_t pos = control_->head.value.load(std::memory_order_acquire);
    const std::uint64_t tail = control_->tail.value.load(std::memory_order_acquire);
    if (tail == pos || tail - pos > capacity_) return std::nullopt;
    if (seq_of(cell_at(pos)).load(std::memory_order_acquire) != pos) return std::nullopt;
    return pos;
  }

  // Consumes the cell at `pos` without reading it if it is still claimed
  // and unwritten, and hands it to the producer of the next lap. Only for a
  // caller that knows its claimant died (a live one would later write into a
  // cell that has moved on). true if skipped.
  bool skip_unwritten(std::uint64_t pos) const noexcept {
    std::byte* cell = cell_at(pos);
    if (seq_of(cell).load(std::memory_order_acquire) != pos) return false;
    std::uint64_t expected = pos;
    if (!control_->head.value.compare_exchange_strong(expected, pos + 1, std::memory_order_acq_rel))
      return false;
    // SYNC POINT M2, as for a pop.
    seq_of(cell).store(pos + capacity_, std::memory_order_release);
    return true;
  }

  // Cells of the last lap that a consumer claimed (head moved past them) but
  // never handed back: each element goes to fn(const T&) (the caller
  // disposes of what it names) and the cell to the producers of the next
  // lap. Only while no consumer is active (the caller's protocol: its
  // consumers are dead). Returns how many.
  template <typename Fn>
  std::uint32_t release_abandoned_pops(Fn&& fn) const noexcept {
    const std::uint64_t head = control_->head.value.load(std::memory_order_acquire);
    const std::uint64_t first = control_->header.initial_index;
    std::uint32_t n = 0;
    for (std::uint64_t k = 1; k <= capacity_; ++k) {
      const std::uint64_t pos = head - k;
      if (head - first < k) break;  // before the first element ever pushed
      std::byte* cell = cell_at(pos);
      if (seq_of(cell).load(std::memory_order_acquire) != pos + 1) continue;
      T item;
      std::memcpy(&item, cell + kCellDataOffset, sizeof(T));
      // Hand the cell back first: a caller that dies between the two steps
      // leaves the element undisposed (a leak), never disposed twice.
      seq_of(cell).store(pos + capacity_, std::memory_order_release);  // SYNC POINT M2
      fn(static_cast<const T&>(item));
      ++n;
    }
    return n;
  }

  // Racy hint: other threads move both indices concurrently.
  [[nodiscard]] std::uint64_t size_hint() const noexcept {
    const std::uint64_t h = control_->head.value.load(std::memory_order_relaxed);
    const std::uint64_t t = control_->tail.value.load(std::memory_order_relaxed);
    const auto d = static_cast<std::int64_t>(t - h);
    if (d < 0) return 0;
    return std::min<std::uint64_t>(static_cast<std::uint64_t>(d), capacity_);
  }
  [[nodiscard]] bool empty_hint() const noexcept { return size_hint() == 0; }
  [[nodiscard]] bool full_hint() const noexcept { return size_hint() == capacity_; }
  [[nodiscard]] std::uint64_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] bool attached() const noexcept { return control_ != nullptr; }

 private:
  [[nodiscard]] std::byte* cell_at(std::uint64_t index) const noexcept {
    return cells_ + (index & mask_) * kCellStride;
  }
  static SharedAtomic<std::uint64_t>& seq_of(std::byte* cell) noexcept {
    return *std::launder(reinterpret_cast<SharedAtomic<std::uint64_t>*>(cell));
  }

  [[gnu::cold]] Failure bad_sequence(const char* index_name, std::uint64_t pos,
                                     std::uint64_t seq) const {
    return fail(Errc::corrupted, "{}: cell {} has sequence {} at {} {} (capacity {})", kWhat,
                pos & mask_, seq, index_name, pos, capacity_);
  }
  [[gnu::cold]] Failure no_progress(const char* op) const {
    return fail(Errc::corrupted, "{}: {} made no progress in {} attempts", kWhat, op, kMaxAttempts);
  }

  RingControl* control_ = nullptr;
  std::byte* cells_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::uint64_t mask_ = 0;
};

}  // namespace sluice::ring
