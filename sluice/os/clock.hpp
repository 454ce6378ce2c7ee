#pragma once
// Monotonic time and deadlines.

#include <chrono>
#include <cstdint>
#include <ctime>

namespace sluice::os {

// CLOCK_MONOTONIC in nanoseconds (vDSO, no system call).
inline std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// A point in monotonic time; Deadline::after(2s).expired().
class Deadline {
 public:
  static Deadline after(std::chrono::nanoseconds d) noexcept {
    return Deadline(monotonic_ns() + static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count()));
  }
  static Deadline never() noexcept { return Deadline(UINT64_MAX); }
  [[nodiscard]] bool expired() const noexcept { return at_ != UINT64_MAX && monotonic_ns() >= at_; }
  [[nodiscard]] bool is_never() const noexcept { return at_ == UINT64_MAX; }
  [[nodiscard]] std::chrono::nanoseconds remaining() const noexcept {
    if (at_ == UINT64_MAX) return std::chrono::nanoseconds::max();
    const auto now = monotonic_ns();
    return std::chrono::nanoseconds(now >= at_ ? 0 : static_cast<std::int64_t>(at_ - now));
  }
  [[nodiscard]] std::uint64_t at_ns() const noexcept { return at_; }

 private:
  explicit Deadline(std::uint64_t at) : at_(at) {}
  std::uint64_t at_;
};

}  // namespace sluice::os
