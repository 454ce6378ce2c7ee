#pragma once
// Atomics placed in shared memory must be lock-free (a lock inside
// std::atomic would be process-local) and must have the same size as the
// plain value, so that the byte layout is what docs/LAYOUT.md says.

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace sluice {

template <typename T>
using SharedAtomic = std::atomic<T>;

template <typename T>
inline constexpr bool is_shareable_atomic_v = std::atomic<T>::is_always_lock_free &&
                                              sizeof(std::atomic<T>) == sizeof(T) &&
                                              alignof(std::atomic<T>) == sizeof(T);

static_assert(is_shareable_atomic_v<std::uint32_t>);
static_assert(is_shareable_atomic_v<std::uint64_t>);
static_assert(is_shareable_atomic_v<std::int64_t>);

// A CPU hint for spin loops.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace sluice
