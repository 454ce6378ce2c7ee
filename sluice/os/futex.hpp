#pragma once
// Shared futexes (never FUTEX_PRIVATE_FLAG): the word lives in shared memory
// and waiters and wakers may be different processes.

#include <sluice/base/result.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace sluice::os {

// Sleeps while *word == expected, up to timeout (none: forever). Returns ok
// when woken or when the value already differed (EAGAIN); timed_out and
// interrupted are retryable errors. Spurious wake-ups are possible: callers
// re-check their condition.
Result<void> futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                        std::optional<std::chrono::nanoseconds> timeout = std::nullopt) noexcept;

// Wakes up to count waiters; returns how many were woken.
int futex_wake(const std::atomic<std::uint32_t>& word, int count = 1) noexcept;
int futex_wake_all(const std::atomic<std::uint32_t>& word) noexcept;

}  // namespace sluice::os
