#pragma once
// A mutex that lives in shared memory and survives its holder's death
// (pthread robust, process-shared mutex: the kernel hands the lock to the
// next waiter with EOWNERDEAD). The caller that receives owner_died must
// repair the protected state before unlocking; the mutex is then marked
// consistent again.
//
// Only cold paths take it (registry changes, TLSF); hot paths are lock-free.

#include <sluice/base/result.hpp>

#include <pthread.h>
#include <chrono>
#include <cstdint>

namespace sluice::os {

// The shared part: placed in the segment, initialised once by the creator.
struct RobustMutexData {
  pthread_mutex_t mutex;
};
static_assert(sizeof(RobustMutexData) == 40, "glibc x86_64/aarch64 pthread_mutex_t is 40 bytes");

enum class LockState { acquired, owner_died };

// Initialises the mutex in place (process-shared, robust).
Result<void> robust_mutex_init(RobustMutexData& m);

// Waits up to timeout. owner_died means: the lock is held now, the previous
// holder died while holding it; repair, then unlock (which marks it
// consistent). timed_out is retryable.
Result<LockState> robust_mutex_lock(RobustMutexData& m, std::chrono::nanoseconds timeout);
void robust_mutex_unlock(RobustMutexData& m) noexcept;

// RAII holder. The repair callback runs when the previous holder died.
class RobustLock {
 public:
  RobustLock() = default;
  static Result<RobustLock> acquire(RobustMutexData& m, std::chrono::nanoseconds timeout,
                                    bool* owner_died = nullptr);
  RobustLock(RobustLock&& o) noexcept : m_(o.m_) { o.m_ = nullptr; }
  RobustLock& operator=(RobustLock&&) = delete;
  RobustLock(const RobustLock&) = delete;
  RobustLock& operator=(const RobustLock&) = delete;
  ~RobustLock() {
    if (m_) robust_mutex_unlock(*m_);
  }

 private:
  explicit RobustLock(RobustMutexData* m) : m_(m) {}
  RobustMutexData* m_ = nullptr;
};

}  // namespace sluice::os
