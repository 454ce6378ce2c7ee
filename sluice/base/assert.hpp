#pragma once
// Three tiers of checks:
//  - SLUICE_DEBUG_ASSERT: misuse by the caller; compiled out in release.
//  - SLUICE_CHECK: invariants guarding memory safety; always on. Never used on
//    values read from shared memory (those get a Result error instead).
//  - sluice::fatal: the clear fatal path (message, then abort).

#include <fmt/format.h>

#include <string_view>

namespace sluice {

[[noreturn]] void fatal_at(const char* file, int line, std::string_view message) noexcept;

}  // namespace sluice

#define SLUICE_CHECK(cond, ...)                                                 \
  do {                                                                          \
    if (__builtin_expect(!(cond), 0))                                           \
      ::sluice::fatal_at(__FILE__, __LINE__,                                    \
                         fmt::format("check failed: " #cond ": " __VA_ARGS__)); \
  } while (0)

#ifdef NDEBUG
#define SLUICE_DEBUG_ASSERT(cond, ...) \
  do {                                 \
  } while (0)
#else
#define SLUICE_DEBUG_ASSERT(cond, ...) SLUICE_CHECK(cond, __VA_ARGS__)
#endif

#define SLUICE_FATAL(...) ::sluice::fatal_at(__FILE__, __LINE__, fmt::format(__VA_ARGS__))
