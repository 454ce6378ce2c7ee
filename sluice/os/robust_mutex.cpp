#include <sluice/os/clock.hpp>
#include <sluice/os/robust_mutex.hpp>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace sluice::os {

Result<void> robust_mutex_init(RobustMutexData& m) {
  std::memset(&m, 0, sizeof m);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  int rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0) rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (rc == 0) rc = pthread_mutex_init(&m.mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  if (rc != 0) return fail(Error::from_errno(rc, "pthread_mutex_init (robust, shared)"));
  return ok();
}

Result<LockState> robust_mutex_lock(RobustMutexData& m, std::chrono::nanoseconds timeout) {
  // pthread_mutex_timedlock takes CLOCK_REALTIME; the clocklock variant takes
  // a monotonic deadline, immune to wall-clock jumps. ThreadSanitizer does
  // not intercept clocklock (it would then report our unlock as unpaired),
  // so sanitized builds use timedlock.
#if defined(__SANITIZE_THREAD__)
  constexpr clockid_t kClock = CLOCK_REALTIME;
#else
  constexpr clockid_t kClock = CLOCK_MONOTONIC;
#endif
  timespec ts{};
  ::clock_gettime(kClock, &ts);
  const auto ns = timeout.count() < 0 ? 0 : timeout.count();
  ts.tv_sec += static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec += static_cast<long>(ns % 1'000'000'000);
  if (ts.tv_nsec >= 1'000'000'000) {
    ts.tv_sec += 1;
    ts.tv_nsec -= 1'000'000'000;
  }
#if defined(__SANITIZE_THREAD__)
  const int rc = pthread_mutex_timedlock(&m.mutex, &ts);
#else
  const int rc = pthread_mutex_clocklock(&m.mutex, kClock, &ts);
#endif
  switch (rc) {
    case 0:
      return LockState::acquired;
    case EOWNERDEAD:
      // We hold it; mark consistent now so that our unlock leaves it usable.
      // The caller repairs the protected state before unlocking.
      pthread_mutex_consistent(&m.mutex);
      return LockState::owner_died;
    case ETIMEDOUT:
      return fail(Errc::timed_out, "robust mutex: timed out after {} ms", ns / 1'000'000);
    case ENOTRECOVERABLE:
      return fail(Errc::corrupted,
                  "robust mutex is not recoverable (a holder died without repair)");
    default:
      return fail(Error::from_errno(rc, "pthread_mutex_clocklock"));
  }
}

void robust_mutex_unlock(RobustMutexData& m) noexcept { pthread_mutex_unlock(&m.mutex); }

Result<RobustLock> RobustLock::acquire(RobustMutexData& m, std::chrono::nanoseconds timeout,
                                       bool* owner_died) {
  SLUICE_TRY_ASSIGN(LockState st, robust_mutex_lock(m, timeout));
  if (owner_died) *owner_died = (st == LockState::owner_died);
  return RobustLock(&m);
}

}  // namespace sluice::os
