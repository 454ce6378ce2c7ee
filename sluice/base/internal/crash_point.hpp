#pragma once
// Crash points: named places inside multi-step updates of shared memory (a
// publish between its in-flight record and its deliveries, a pool chunk
// between its free-list pop and its ownership store, a registry entry being
// created under the lock ...). The crash tests (tests/crash, the torture
// harness) install a hook that stops the process at one of them so that a
// SIGKILL lands exactly there; docs/crash-safety.md lists every point and
// what a death there leaves behind.
//
// They exist only in builds configured with -DSLUICE_CRASH_POINTS=ON (the
// test presets; see sluice/config.hpp). Elsewhere, release builds and
// installed packages, SLUICE_CRASH_POINT expands to nothing.
//
// Cost in a test build when no hook is installed: one relaxed load of a
// process-wide pointer and a branch predicted not taken; no call, no system
// call, no lock. The hook itself may do anything (write to a pipe, sleep until
// killed); it runs on the thread that reached the point, in the middle of the
// update, so it must not call back into sluice.
//
// Private header: never installed (public headers include it only when
// SLUICE_CRASH_POINTS is 1, which an installed package never is).

#include <sluice/config.hpp>

#if SLUICE_CRASH_POINTS
#include <atomic>

namespace sluice::testing {

// Called with the point's name (a string literal, e.g. "publish.inflight").
using CrashPointHook = void (*)(const char* point);

// One per program (an inline variable): every layer's points share it.
inline std::atomic<CrashPointHook> crash_point_hook{nullptr};
static_assert(std::atomic<CrashPointHook>::is_always_lock_free);

// Installs `hook` for the whole process (nullptr removes it). Test code only.
inline void set_crash_point_hook(CrashPointHook hook) noexcept {
  crash_point_hook.store(hook, std::memory_order_release);
}

}  // namespace sluice::testing

// Marks a crash point. `name` is "<area>.<step>", a string literal.
#define SLUICE_CRASH_POINT(name)                                                                   \
  do {                                                                                             \
    if (__builtin_expect(                                                                          \
            ::sluice::testing::crash_point_hook.load(std::memory_order_relaxed) != nullptr, 0)) {  \
      if (auto sluice_hook_ = ::sluice::testing::crash_point_hook.load(std::memory_order_acquire)) \
        sluice_hook_(name);                                                                        \
    }                                                                                              \
  } while (0)

#else

#define SLUICE_CRASH_POINT(name) \
  do {                           \
  } while (0)

#endif
