#pragma once
// Memory shared by the processes of one measurement, and the few
// synchronisation primitives the harness itself uses on it.
//
// The harness deliberately does not use sluice's own os layer: it measures
// sluice, and its floors must not depend on the code under test.

#include <sluice/base/result.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

namespace sluice::bench {

// An anonymous MAP_SHARED mapping made before fork(): every child sees the
// same pages, nothing has a name, nothing can be left behind in /dev/shm.
class SharedRegion {
 public:
  SharedRegion() = default;
  static Result<SharedRegion> create(std::size_t bytes);
  SharedRegion(SharedRegion&& o) noexcept : base_(o.base_), size_(o.size_) {
    o.base_ = nullptr;
    o.size_ = 0;
  }
  SharedRegion& operator=(SharedRegion&& o) noexcept;
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  ~SharedRegion();

  [[nodiscard]] std::byte* data() const noexcept { return base_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
};

// A T constructed in its own SharedRegion (zeroed pages, then T's
// constructor). T must be usable by several processes at once: plain data
// and lock-free atomics only.
template <typename T>
class Shared {
  static_assert(std::is_trivially_destructible_v<T>, "shared objects are never destroyed");

 public:
  Shared() = default;
  static Result<Shared> create() {
    SLUICE_TRY_ASSIGN(auto region, SharedRegion::create(sizeof(T)));
    Shared s;
    s.ptr_ = new (region.data()) T{};
    s.region_ = std::move(region);
    return s;
  }
  T* operator->() const noexcept { return ptr_; }
  T& operator*() const noexcept { return *ptr_; }
  [[nodiscard]] T* get() const noexcept { return ptr_; }

 private:
  SharedRegion region_;
  T* ptr_ = nullptr;
};

// Shared futexes (never FUTEX_PRIVATE_FLAG: waiter and waker are different
// processes). futex_wait returns when woken, when *word != expected, on a
// signal or after timeout_ns (0: no timeout); callers re-check their
// condition in a loop.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::uint64_t timeout_ns = 0) noexcept;
void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept;

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// A 64-bit counter alone on its cache line, so that two counters written by
// different processes never share a line.
struct alignas(64) PaddedCounter {
  std::atomic<std::uint64_t> value{0};
};
static_assert(sizeof(PaddedCounter) == 64);

// A one-shot barrier for up to 2^32 - 1 processes that sleeps (futex) rather
// than spins: the fan-out scenario puts four processes on one core.
struct alignas(64) ProcessBarrier {
  std::atomic<std::uint32_t> arrived{0};

  // Arrives and waits until `parties` processes arrived or timeout_ns passed.
  Result<void> arrive_and_wait(std::uint32_t parties, std::uint64_t timeout_ns);
};
static_assert(sizeof(ProcessBarrier) == 64);

}  // namespace sluice::bench
