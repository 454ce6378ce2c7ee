#include <sluice/os/futex.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <climits>
#include <ctime>

namespace sluice::os {
namespace {

// The futex word is a std::atomic<uint32_t> with the layout of a uint32_t
// (is_shareable_atomic_v); the kernel reads it as a plain 32-bit int.
long futex(const std::atomic<std::uint32_t>& word, int op, std::uint32_t val,
           const timespec* timeout) noexcept {
  return ::syscall(SYS_futex, const_cast<std::atomic<std::uint32_t>*>(&word), op, val, timeout,
                   nullptr, 0);
}

}  // namespace

Result<void> futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                        std::optional<std::chrono::nanoseconds> timeout) noexcept {
  timespec ts{};
  const timespec* tsp = nullptr;
  if (timeout) {
    const auto ns = timeout->count() < 0 ? 0 : timeout->count();
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  // FUTEX_WAIT (shared: no FUTEX_PRIVATE_FLAG) takes a relative timeout.
  if (futex(word, FUTEX_WAIT, expected, tsp) == 0) return ok();
  switch (errno) {
    case EAGAIN:
      return ok();  // value changed before we slept
    case ETIMEDOUT:
      return fail(Errc::timed_out);
    case EINTR:
      return fail(Errc::interrupted);
    default:
      return fail(Error::from_errno(errno, "futex wait"));
  }
}

int futex_wake(const std::atomic<std::uint32_t>& word, int count) noexcept {
  const long r = futex(word, FUTEX_WAKE, static_cast<std::uint32_t>(count), nullptr);
  return r < 0 ? 0 : static_cast<int>(r);
}

int futex_wake_all(const std::atomic<std::uint32_t>& word) noexcept {
  return futex_wake(word, INT_MAX);
}

}  // namespace sluice::os
