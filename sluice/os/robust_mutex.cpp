#include <sluice/os/futex.hpp>
#include <sluice/os/process.hpp>
#include <sluice/os/robust_mutex.hpp>

#include <algorithm>
#include <cstring>

namespace sluice::os {
namespace {

using namespace std::chrono_literals;
constexpr auto kSlice = 10ms;  // how often a waiter re-checks the owner's liveness

void record_owner(RobustMutexData& m, std::uint32_t tid) noexcept {
  const ProcessIdentity self = self_identity();
  m.owner_pid.store(self.pid, std::memory_order_relaxed);
  m.owner_start_time.store(self.start_time, std::memory_order_relaxed);
  m.owner_tid.store(tid, std::memory_order_release);
}

// The owner named by `tid` is gone: its thread no longer exists, or its
// process (as recorded beside the word, when the record is its own) died or
// was replaced by another with the same pid.
bool owner_dead(const RobustMutexData& m, std::uint32_t tid) noexcept {
  if (tid == 0) return true;
  if (check_liveness({static_cast<std::int32_t>(tid), 0}) == Liveness::dead) return true;
  if (m.owner_tid.load(std::memory_order_acquire) == tid &&
      check_liveness({m.owner_pid.load(std::memory_order_relaxed),
                      m.owner_start_time.load(std::memory_order_relaxed)}) == Liveness::dead)
    return true;
  return false;
}

// One acquisition attempt against the value `cur`; true when it took the lock.
bool try_take(RobustMutexData& m, std::uint32_t cur, std::uint32_t next) noexcept {
  // SYNC: acquire pairs with the release exchange in unlock (and with the
  // dead owner's last release, if any): the protected state is visible.
  return m.word.compare_exchange_strong(cur, next, std::memory_order_acquire,
                                        std::memory_order_relaxed);
}

}  // namespace

Result<void> robust_mutex_init(RobustMutexData& m) {
  std::memset(static_cast<void*>(&m), 0, sizeof m);
  m.word.store(0, std::memory_order_release);
  return ok();
}

Result<LockState> robust_mutex_try_lock(RobustMutexData& m) {
  const std::uint32_t me = self_tid();
  std::uint32_t cur = m.word.load(std::memory_order_relaxed);
  for (int attempt = 0; attempt < 4; ++attempt) {
    const std::uint32_t owner = cur & kRobustTidMask;
    if (cur == 0) {
      if (try_take(m, 0, me)) {
        record_owner(m, me);
        return LockState::acquired;
      }
    } else if (owner == me) {
      return fail(Errc::internal, "robust mutex: already held by this thread");
    } else {
      return fail(Errc::would_block, "robust mutex: held by thread {}", owner);
    }
    cur = m.word.load(std::memory_order_relaxed);
  }
  return fail(Errc::would_block, "robust mutex: contended");
}

Result<LockState> robust_mutex_lock(RobustMutexData& m, std::chrono::nanoseconds timeout) {
  const std::uint32_t me = self_tid();
  const auto deadline = std::chrono::steady_clock::now() + std::max(timeout, 0ns);
  bool waited = false;
  for (;;) {
    std::uint32_t cur = m.word.load(std::memory_order_relaxed);
    const std::uint32_t owner = cur & kRobustTidMask;
    if (cur == 0) {
      // After sleeping, assume others still sleep (the unlock then wakes one).
      if (try_take(m, 0, me | (waited ? kRobustWaiters : 0))) {
        record_owner(m, me);
        return LockState::acquired;
      }
      continue;
    }
    if (owner == me) return fail(Errc::internal, "robust mutex: already held by this thread");
    // Liveness costs a read of /proc: only after a slice without progress.
    if (waited && owner_dead(m, owner)) {
      if (try_take(m, cur, me | (cur & kRobustWaiters))) {
        record_owner(m, me);
        return LockState::owner_died;
      }
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      return fail(Errc::timed_out, "robust mutex: timed out after {} ms (held by thread {})",
                  std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count(), owner);
    if ((cur & kRobustWaiters) == 0 &&
        !m.word.compare_exchange_strong(cur, cur | kRobustWaiters, std::memory_order_relaxed))
      continue;
    (void)futex_wait(m.word, cur | kRobustWaiters,
                     std::min<std::chrono::nanoseconds>(deadline - now, kSlice));
    waited = true;
  }
}

void robust_mutex_unlock(RobustMutexData& m) noexcept {
  m.owner_tid.store(0, std::memory_order_relaxed);
  // SYNC: publishes the protected state to the next owner's acquire CAS.
  const std::uint32_t prev = m.word.exchange(0, std::memory_order_release);
  if ((prev & kRobustWaiters) != 0) futex_wake(m.word, 1);
}

Result<RobustLock> RobustLock::acquire(RobustMutexData& m, std::chrono::nanoseconds timeout,
                                       bool* owner_died) {
  SLUICE_TRY_ASSIGN(LockState st, robust_mutex_lock(m, timeout));
  if (owner_died) *owner_died = (st == LockState::owner_died);
  return RobustLock(&m);
}

}  // namespace sluice::os
