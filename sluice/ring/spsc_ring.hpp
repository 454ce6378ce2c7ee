#pragma once
// Single-producer single-consumer ring of trivially copyable elements
// (Descriptor is the main use), placed in memory the caller supplies.
//
//   SpscRing<T>::required_size(capacity)     bytes the region needs
//   SpscRing<T>::format(mem, bytes, cap, o)  lays the ring out (once, creator)
//   SpscRing<T>::Producer::attach(mem, n)    process-local producer view
//   SpscRing<T>::Consumer::attach(mem, n)    process-local consumer view
//
// Indices are 64-bit and monotonic (slot = index & (capacity - 1)); they never
// wrap in practice, and every distance is computed modulo 2^64, so formatting
// with an initial index near 2^64 works (tests do). The shared region holds
// the header, head (next index to read) and tail (next index to write), each
// index on its own 128-byte line pair, and the slots. Each view keeps its own
// index and a cache of the other side's index in process-local memory (as
// rigtorp's readIdxCache_ / writeIdxCache_), so a push or pop touches the
// other side's line only when the cache says full / empty, and publishes with
// exactly one release store per call, batch calls included.
//
// Exactly one Producer and one Consumer may be attached at a time; the ring
// cannot enforce that (the channel layer owns who may attach). A view may be
// dropped and another attached later (a restarted process): attach reads the
// current indices from the region.
//
// Plain mode (default). The producer alone writes tail and the slots, the
// consumer alone writes head.
//   SYNC POINT P1: producer stores tail (release) after writing slots
//     [old tail, new tail); the consumer's acquire load of tail observes the
//     slot contents.
//   SYNC POINT C1: consumer stores head (release) after copying slots
//     [old head, new head) out; the producer's acquire load of head orders
//     its later overwrite of those slots after the copies.
//
// Overwrite mode (SpscOptions::overwrite, for pub/sub "overwrite oldest"): the
// producer may push into a full ring by evicting the oldest element, which it
// hands back to its caller (the channel releases the chunk the element
// names). Both sides may now move head, so head changes only by CAS:
//   - consumer: h = head (acquire); copy slots [h, h + n) word by word with
//     relaxed atomics (word_copy.hpp); CAS head h -> h + n (acq_rel).
//       case 1, CAS succeeds: no eviction happened since the load, so the
//         producer never rewrote those slots (it rewrites slot h only after
//         moving head past h), and the copy is exact.
//       case 2, CAS fails: the producer evicted h; the copy may be torn and
//         is discarded; retry from the head the CAS returned.
//   - producer, ring full (tail - head == capacity): read slot h = head (it
//     wrote it itself), CAS head h -> h + k (acq_rel).
//       case 1, CAS succeeds: the producer owns the k evicted elements; the
//         consumer's CAS from h will fail, so no element is both delivered
//         and evicted. It then writes the new elements word by word and stores
//         tail (release, as P1).
//       case 2, CAS fails: the consumer popped meanwhile, there is room now;
//         retry with the new head (bounded: head only grows).
//   SYNC POINT O1: a successful CAS on head (either side) releases the
//     copies made before it; the other side's next CAS/acquire load of head
//     reads that value or a later one in head's modification order, so a slot
//     is overwritten only after every copy that succeeded has been made.
// Every element pushed is therefore either popped exactly once or returned
// exactly once as evicted; none is torn (received + evicted == pushed).
// Plain mode keeps its CAS-free fast path: the mode is fixed at format time
// and read by each view at attach.
//
// Validation: every index read from the region is checked against the
// reader's own index before use. A distance above capacity (or head ahead of
// tail) is Errc::corrupted and the view touches no slot; slot positions are
// always masked, so no value in the region can cause an out-of-bounds access
// or an unbounded loop.
//
// Threading: a view is used by one thread at a time; views are movable, not
// copyable (two copies would be two producers). No call makes a system call,
// takes a lock or allocates, except building an error message on the
// corrupted path.

#include <sluice/base/assert.hpp>
#include <sluice/base/atomic.hpp>
#include <sluice/base/result.hpp>
#include <sluice/base/units.hpp>
#include <sluice/ring/ring_header.hpp>
#include <sluice/ring/word_copy.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

namespace sluice::ring {

// RingHeader::flags of an SPSC ring.
inline constexpr std::uint32_t kSpscOverwrite = 1u << 0;

struct SpscOptions {
  // Safe overflow: Producer::push_overwrite may evict the oldest element.
  bool overwrite = false;
  // Head and tail start here (tests of the 2^64 wrap; otherwise 0).
  std::uint64_t initial_index = 0;
};

template <typename T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "ring elements are copied as bytes");
  static_assert(alignof(T) <= kCacheLine, "slots are aligned to at most a cache line");
  static_assert(sizeof(T) <= (std::size_t{1} << 20), "elements larger than 1 MiB belong in chunks");

 public:
  static constexpr const char* kWhat = "spsc ring";
  static constexpr std::uint64_t kMaxCapacity = kMaxRingCapacity / sizeof(T);
  // A consumer in overwrite mode retries at most this many times when the
  // producer evicts what it is copying, then reports "nothing popped" (the
  // producer made progress meanwhile; the caller retries).
  static constexpr int kMaxOverwriteRetries = 64;

  // Region bytes for `capacity` elements (a power of two, 1..kMaxCapacity).
  static constexpr std::size_t required_size(std::uint64_t capacity) noexcept {
    return static_cast<std::size_t>(align_up(kRingDataOffset + capacity * sizeof(T), kCacheLine));
  }

  // Lays out an empty ring in mem. Not concurrent with any view of the same
  // region; the caller publishes the region to others afterwards.
  static Result<void> format(void* mem, std::size_t bytes, std::uint64_t capacity,
                             SpscOptions options = {}) {
    if (!is_pow2(capacity) || capacity > kMaxCapacity)
      return fail(Errc::invalid_argument, "{}: capacity {} is not a power of two in [1, {}]", kWhat,
                  capacity, kMaxCapacity);
    const std::uint64_t need = required_size(capacity);
    SLUICE_TRY(check_region(mem, bytes, need, kWhat));
    // Slots are zeroed so a stale previous occupant is never delivered even
    // through a bug; this is a one-time cost at creation.
    std::memset(static_cast<std::byte*>(mem) + kRingDataOffset, 0, need - kRingDataOffset);
    format_control(mem,
                   RingGeometry{RingKind::spsc, capacity, static_cast<std::uint32_t>(sizeof(T)),
                                static_cast<std::uint32_t>(sizeof(T)),
                                options.overwrite ? kSpscOverwrite : 0u, 0, need},
                   options.initial_index);
    return ok();
  }

  class Producer;
  class Consumer;

 private:
  // What both views share: the validated geometry of an attached region.
  struct View {
    RingControl* control = nullptr;
    std::byte* slots = nullptr;
    std::uint64_t capacity = 0;
    std::uint64_t mask = 0;
    bool overwrite = false;
    // Indices as validated by attach_view; the views start from these.
    std::uint64_t attach_head = 0;
    std::uint64_t attach_tail = 0;

    [[nodiscard]] std::byte* slot(std::uint64_t index) const noexcept {
      return slots + (index & mask) * sizeof(T);
    }
    [[nodiscard]] SharedAtomic<std::uint64_t>& head() const noexcept { return control->head.value; }
    [[nodiscard]] SharedAtomic<std::uint64_t>& tail() const noexcept { return control->tail.value; }

    // One element: the common case, kept free of the wrap arithmetic.
    void write_one(std::uint64_t index, const T& item) const noexcept {
      if (overwrite)
        store_words(slot(index), item);
      else
        std::memcpy(slot(index), &item, sizeof(T));
    }
    // Copies n elements starting at index into the ring (n <= capacity).
    void write(std::uint64_t index, const T* items, std::size_t n) const noexcept {
      if (overwrite) {
        for (std::size_t i = 0; i < n; ++i) store_words(slot(index + i), items[i]);
        return;
      }
      const std::uint64_t first = std::min<std::uint64_t>(n, capacity - (index & mask));
      std::memcpy(slot(index), items, static_cast<std::size_t>(first) * sizeof(T));
      if (first < n)
        std::memcpy(slots, items + first, static_cast<std::size_t>(n - first) * sizeof(T));
    }
    // Copies n elements starting at index out of the ring (n <= capacity).
    void read(std::uint64_t index, T* out, std::size_t n) const noexcept {
      if (overwrite) {
        for (std::size_t i = 0; i < n; ++i) load_words(slot(index + i), out[i]);
        return;
      }
      const std::uint64_t first = std::min<std::uint64_t>(n, capacity - (index & mask));
      std::memcpy(out, slot(index), static_cast<std::size_t>(first) * sizeof(T));
      if (first < n)
        std::memcpy(out + first, slots, static_cast<std::size_t>(n - first) * sizeof(T));
    }
  };

  // Validates the header for this T and the indices; fills the view.
  static Result<View> attach_view(void* mem, std::size_t bytes, bool producer) {
    SLUICE_TRY_ASSIGN(RingControl * control, attach_control(mem, bytes, RingKind::spsc, kWhat));
    const RingHeader& h = control->header;
    if (h.element_size != sizeof(T) || h.stride != sizeof(T))
      return fail(Errc::config_mismatch, "{}: element size {} (stride {}), expected {}", kWhat,
                  h.element_size, h.stride, sizeof(T));
    if ((h.flags & ~kSpscOverwrite) != 0 || h.param != 0)
      return fail(Errc::corrupted, "{}: unknown flags {:#x} or parameter {}", kWhat, h.flags,
                  h.param);
    if (h.capacity > kMaxCapacity || h.total_size != required_size(h.capacity))
      return fail(Errc::corrupted, "{}: total size {} does not match capacity {}", kWhat,
                  h.total_size, h.capacity);
    View v;
    v.control = control;
    v.slots = static_cast<std::byte*>(mem) + kRingDataOffset;
    v.capacity = h.capacity;
    v.mask = h.capacity - 1;
    v.overwrite = (h.flags & kSpscOverwrite) != 0;
    SLUICE_TRY_ASSIGN(const IndexSnapshot snap, snapshot_indices(*control, v.capacity, kWhat));
    if (!snap.stable) {
      // Both indices kept moving: legitimate only while a consumer attaches
      // to an overwrite ring whose producer is evicting, and that consumer
      // re-reads head and tail on every pop. Otherwise the attacher's own
      // index should be still: another view of the same side is active.
      if (!v.overwrite || producer)
        return fail(Errc::corrupted, "{}: head and tail both keep changing during {} attach", kWhat,
                    producer ? "producer" : "consumer");
      v.attach_head = v.attach_tail = snap.head;
      return v;
    }
    v.attach_head = snap.head;
    v.attach_tail = snap.tail;
    return v;
  }
};

template <typename T>
class SpscRing<T>::Producer {
 public:
  Producer() = default;
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;
  Producer(Producer&&) noexcept = default;
  Producer& operator=(Producer&&) noexcept = default;

  static Result<Producer> attach(void* mem, std::size_t bytes) {
    SLUICE_TRY_ASSIGN(View v, attach_view(mem, bytes, true));
    Producer p;
    p.v_ = v;
    p.tail_ = v.attach_tail;
    p.head_cache_ = v.attach_head;
    return p;
  }

  // Pushes one element. true: pushed; false: full (retryable). In overwrite
  // mode this never evicts (see push_overwrite).
  Result<bool> try_push(const T& item) noexcept {
    const std::uint64_t t = tail_;
    if (t - head_cache_ >= v_.capacity) {
      SLUICE_TRY(refresh_head());
      if (t - head_cache_ >= v_.capacity) return false;
    }
    v_.write_one(t, item);
    publish(t + 1);
    return true;
  }

  // Pushes as many of items as fit (possibly none) with one release store;
  // returns how many, a prefix of items.
  Result<std::size_t> try_push_batch(std::span<const T> items) noexcept {
    const std::uint64_t t = tail_;
    std::uint64_t room = v_.capacity - (t - head_cache_);
    if (room < items.size()) {
      SLUICE_TRY(refresh_head());
      room = v_.capacity - (t - head_cache_);
    }
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(room, items.size()));
    if (n == 0) return std::size_t{0};
    v_.write(t, items.data(), n);
    publish(t + n);
    return n;
  }

  // Overwrite mode only: pushes item, evicting the oldest element into
  // `evicted` if the ring is full. Returns true if an element was evicted
  // (the caller owns it now, e.g. must release the chunk it names). Never
  // fails for lack of room. Errc::invalid_argument on a plain-mode ring.
  Result<bool> push_overwrite(const T& item, T& evicted) noexcept {
    SLUICE_TRY_ASSIGN(const std::size_t n, make_room(1, &evicted));
    v_.write_one(tail_, item);
    publish(tail_ + 1);
    return n != 0;
  }

  // Overwrite mode only: pushes all items (items.size() <= capacity) with one
  // release store, evicting the oldest elements as needed into the front of
  // `evicted` (which must hold items.size()). Returns the number evicted.
  Result<std::size_t> push_overwrite_batch(std::span<const T> items,
                                           std::span<T> evicted) noexcept {
    if (items.size() > v_.capacity || evicted.size() < items.size())
      return fail(Errc::invalid_argument,
                  "{}: overwrite batch of {} (capacity {}) with room for {} evicted", kWhat,
                  items.size(), v_.capacity, evicted.size());
    if (items.empty()) return std::size_t{0};
    SLUICE_TRY_ASSIGN(const std::size_t n, make_room(items.size(), evicted.data()));
    v_.write(tail_, items.data(), items.size());
    publish(tail_ + items.size());
    return n;
  }

  // Whether n more elements fit now. Answered from the cached head when that
  // suffices (no access to the consumer's cache line, which is the point:
  // a producer that checks room before every push would otherwise pull that
  // line over every time); otherwise after reloading head. Room only grows
  // while we do not push, so true stays true until our next push.
  Result<bool> has_room(std::uint64_t n) noexcept {
    if (v_.capacity - (tail_ - head_cache_) >= n) return true;
    SLUICE_TRY(refresh_head());
    return v_.capacity - (tail_ - head_cache_) >= n;
  }

  // Racy hints: the consumer moves concurrently, so these are already stale
  // when they return. Never use them to decide whether a push will succeed.
  [[nodiscard]] std::uint64_t size_hint() const noexcept {
    const std::uint64_t d = tail_ - v_.head().load(std::memory_order_relaxed);
    return d > v_.capacity ? v_.capacity : d;
  }
  [[nodiscard]] bool empty_hint() const noexcept { return size_hint() == 0; }
  [[nodiscard]] bool full_hint() const noexcept { return size_hint() == v_.capacity; }

  [[nodiscard]] std::uint64_t capacity() const noexcept { return v_.capacity; }
  [[nodiscard]] bool overwrite() const noexcept { return v_.overwrite; }
  // Index the next push gets (number of elements ever pushed + initial index).
  [[nodiscard]] std::uint64_t tail() const noexcept { return tail_; }
  [[nodiscard]] bool attached() const noexcept { return v_.control != nullptr; }

 private:
  void publish(std::uint64_t new_tail) noexcept {
    tail_ = new_tail;
    // SYNC POINT P1: publishes the slots written since the last store;
    // observed by the consumer's acquire load of tail.
    v_.tail().store(new_tail, std::memory_order_release);
  }

  // Reloads head; checks that it lies in [tail - capacity, tail].
  Result<void> refresh_head() noexcept {
    // SYNC POINT C1 / O1 (producer side): orders our coming overwrite of the
    // freed slots after the consumer's copies of them.
    const std::uint64_t h = v_.head().load(std::memory_order_acquire);
    if (tail_ - h > v_.capacity) [[unlikely]]
      return corrupted_distance(kWhat, "tail", tail_, "head", h, v_.capacity);
    head_cache_ = h;
    return ok();
  }

  // Ensures room for n (<= capacity) elements at tail_, evicting the oldest
  // ones into evicted[0..]; returns how many it evicted.
  Result<std::size_t> make_room(std::size_t n, T* evicted) noexcept {
    if (!v_.overwrite) [[unlikely]]
      return fail(Errc::invalid_argument,
                  "{}: push_overwrite on a ring formatted without overwrite", kWhat);
    const std::uint64_t t = tail_;
    if (v_.capacity - (t - head_cache_) >= n) return std::size_t{0};
    SLUICE_TRY(refresh_head());
    std::uint64_t h = head_cache_;
    // Each failed CAS means the consumer moved head forward (it never moves
    // it back): at most capacity failures before the room appears. A peer
    // that scribbles head is caught by the range check or by the bound.
    for (std::uint64_t attempt = 0; attempt <= v_.capacity + 1; ++attempt) {
      const std::uint64_t room = v_.capacity - (t - h);
      if (room >= n) {
        head_cache_ = h;
        return std::size_t{0};
      }
      const auto k = static_cast<std::size_t>(n - room);
      // Slots [h, h + k) hold our own earlier writes; the consumer only reads
      // them, so this copy is exact if the CAS below succeeds.
      v_.read(h, evicted, k);
      // SYNC POINT O1 (producer evicts): case 1 success, we own [h, h + k)
      // and the consumer's pending CAS from h fails; case 2 failure, h
      // receives the consumer's newer head.
      if (v_.head().compare_exchange_strong(h, h + k, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
        head_cache_ = h + k;
        return k;
      }
      if (t - h > v_.capacity) [[unlikely]]
        return corrupted_distance(kWhat, "tail", t, "head", h, v_.capacity);
    }
    return fail(Errc::corrupted, "{}: head keeps changing while evicting at tail {}", kWhat, t);
  }

  View v_;
  std::uint64_t tail_ = 0;        // own index, mirrors control->tail
  std::uint64_t head_cache_ = 0;  // last head seen; head only grows, so it is a lower bound
};

template <typename T>
class SpscRing<T>::Consumer {
 public:
  Consumer() = default;
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;
  Consumer(Consumer&&) noexcept = default;
  Consumer& operator=(Consumer&&) noexcept = default;

  static Result<Consumer> attach(void* mem, std::size_t bytes) {
    SLUICE_TRY_ASSIGN(View v, attach_view(mem, bytes, false));
    Consumer c;
    c.v_ = v;
    c.head_ = v.attach_head;
    c.tail_cache_ = v.attach_tail;
    return c;
  }

  // Pops one element into out. true: popped; false: empty (retryable; in
  // overwrite mode also when the producer evicted everything this call tried
  // to copy kMaxOverwriteRetries times in a row).
  Result<bool> try_pop(T& out) noexcept {
    if (v_.overwrite) {
      SLUICE_TRY_ASSIGN(const std::size_t n, pop_contended(&out, 1));
      return n != 0;
    }
    const std::uint64_t h = head_;
    if (h == tail_cache_) {
      // Ask for the slot's line together with tail's: when the producer has
      // just written both, the two cache misses overlap instead of running
      // one after the other (a polling consumer's latency is about one
      // line transfer instead of two). A prefetch is only a hint: it reads
      // nothing the program sees.
      __builtin_prefetch(v_.slot(h));
      SLUICE_TRY(refresh_tail(h));
      if (h == tail_cache_) return false;
    }
    std::memcpy(&out, v_.slot(h), sizeof(T));  // plain mode: no concurrent writer
    consume(h + 1);
    return true;
  }

  // Pops up to out.size() elements with one release store (or one CAS in
  // overwrite mode); returns how many (0: empty).
  Result<std::size_t> try_pop_batch(std::span<T> out) noexcept {
    if (out.empty()) return std::size_t{0};
    if (v_.overwrite) return pop_contended(out.data(), out.size());
    const std::uint64_t h = head_;
    std::uint64_t avail = tail_cache_ - h;
    if (avail < out.size()) {
      SLUICE_TRY(refresh_tail(h));
      avail = tail_cache_ - h;
    }
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(avail, out.size()));
    if (n == 0) return std::size_t{0};
    v_.read(h, out.data(), n);
    consume(h + n);
    return n;
  }

  // Racy hints (see Producer::size_hint).
  [[nodiscard]] std::uint64_t size_hint() const noexcept {
    const std::uint64_t t = v_.tail().load(std::memory_order_relaxed);
    const std::uint64_t h = v_.head().load(std::memory_order_relaxed);
    const std::uint64_t d = t - h;
    return d > v_.capacity ? v_.capacity : d;
  }
  [[nodiscard]] bool empty_hint() const noexcept { return size_hint() == 0; }
  [[nodiscard]] bool full_hint() const noexcept { return size_hint() == v_.capacity; }

  [[nodiscard]] std::uint64_t capacity() const noexcept { return v_.capacity; }
  [[nodiscard]] bool overwrite() const noexcept { return v_.overwrite; }
  // Index of the next element to pop (plain mode exact; overwrite mode a
  // hint, the producer may move it).
  [[nodiscard]] std::uint64_t head_hint() const noexcept {
    return v_.overwrite ? v_.head().load(std::memory_order_relaxed) : head_;
  }
  [[nodiscard]] bool attached() const noexcept { return v_.control != nullptr; }
  // Elements known to be waiting, from this view's own cache of tail (no
  // shared access; a lower bound). Plain mode only.
  [[nodiscard]] std::uint64_t cached_size() const noexcept { return tail_cache_ - head_; }

 private:
  void consume(std::uint64_t new_head) noexcept {
    head_ = new_head;
    // SYNC POINT C1: releases our copies of the slots before new_head; the
    // producer's acquire load of head sees them done before it rewrites.
    v_.head().store(new_head, std::memory_order_release);
  }

  // Reloads tail; checks that it lies in [h, h + capacity].
  Result<void> refresh_tail(std::uint64_t h) noexcept {
    // SYNC POINT P1 (consumer side): makes the slots before tail visible.
    const std::uint64_t t = v_.tail().load(std::memory_order_acquire);
    if (t - h > v_.capacity) [[unlikely]]
      return corrupted_distance(kWhat, "tail", t, "head", h, v_.capacity);
    tail_cache_ = t;
    return ok();
  }

  // Overwrite mode: copy, then claim with a CAS on head (see the header).
  Result<std::size_t> pop_contended(T* out, std::size_t max) noexcept {
    // A head observed with acquire was written either by the producer's
    // eviction CAS, made after it stored tail >= head + capacity - 1, or by a
    // consumer that had seen tail >= head: a tail loaded after it is >= it.
    std::uint64_t h = v_.head().load(std::memory_order_acquire);
    for (int attempt = 0; attempt < kMaxOverwriteRetries; ++attempt) {
      std::uint64_t avail = tail_cache_ - h;
      if (avail == 0 || avail > v_.capacity || avail < max) {
        // SYNC POINT P1 (consumer side), as in plain mode.
        tail_cache_ = v_.tail().load(std::memory_order_acquire);
        avail = tail_cache_ - h;
        if (avail == 0) return std::size_t{0};
        if (avail > (std::uint64_t{1} << 63)) [[unlikely]]
          return corrupted_distance(kWhat, "head", h, "tail", tail_cache_, v_.capacity);
      }
      // avail > capacity: h is stale (the producer evicted past it since we
      // loaded it); the CAS below fails unless head was rewritten backwards.
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>({avail, max, v_.capacity}));
      v_.read(h, out, n);
      // SYNC POINT O1 (consumer claims): case 1 success, [h, h + n) were not
      // evicted and the copies are exact; case 2 failure, h receives the
      // newer head and the copies are discarded.
      if (v_.head().compare_exchange_strong(h, h + n, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
        if (avail > v_.capacity) [[unlikely]]
          return corrupted_distance(kWhat, "tail", tail_cache_, "head", h, v_.capacity);
        head_ = h + n;
        return n;
      }
    }
    return std::size_t{0};
  }

  View v_;
  std::uint64_t head_ = 0;        // own index (plain mode), mirrors control->head
  std::uint64_t tail_cache_ = 0;  // last tail seen; tail only grows, so a lower bound
};

}  // namespace sluice::ring
