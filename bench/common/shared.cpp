#include "common/shared.hpp"

#include "common/system.hpp"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace sluice::bench {

Result<SharedRegion> SharedRegion::create(std::size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return fail(Error::from_errno(errno, fmt::format("mmap {} shared bytes", bytes)));
  }
  SharedRegion r;
  r.base_ = static_cast<std::byte*>(p);
  r.size_ = bytes;
  return r;
}

SharedRegion& SharedRegion::operator=(SharedRegion&& o) noexcept {
  if (this != &o) {
    if (base_) ::munmap(base_, size_);
    base_ = o.base_;
    size_ = o.size_;
    o.base_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

SharedRegion::~SharedRegion() {
  if (base_) ::munmap(base_, size_);
}

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::uint64_t timeout_ns) noexcept {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout_ns != 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000ULL);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000ULL);
    tsp = &ts;
  }
  // EAGAIN (value changed), EINTR and ETIMEDOUT all mean "re-check".
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, expected, tsp, nullptr,
            0);
}

void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, count, nullptr, nullptr,
            0);
}

Result<void> ProcessBarrier::arrive_and_wait(std::uint32_t parties, std::uint64_t timeout_ns) {
  // The release of the increment publishes everything the process set up
  // before arriving; the acquire load below observes every other arrival.
  const std::uint32_t mine = arrived.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (mine == parties) {
    futex_wake(arrived, INT32_MAX);
    return ok();
  }
  const std::uint64_t deadline = now_ns() + timeout_ns;
  for (;;) {
    const std::uint32_t seen = arrived.load(std::memory_order_acquire);
    if (seen >= parties) return ok();
    const std::uint64_t now = now_ns();
    if (now >= deadline) {
      return fail(Errc::timed_out, "start barrier: {} of {} processes arrived", seen, parties);
    }
    futex_wait(arrived, seen, deadline - now);
  }
}

}  // namespace sluice::bench
