#pragma once
// A mutex that lives in shared memory and survives its holder's death: a
// futex word that holds the owner's thread id, and the owner's process
// identity beside it. A waiter that finds the owner dead (its thread gone,
// its process gone or its pid reused) takes the lock over and is told
// owner_died; it must repair the protected state before unlocking.
//
// Why not a pthread robust mutex: glibc links a held robust mutex into the
// holder's robust list through pointers stored in the mutex itself, so any
// process that can write the segment can plant a pointer that the holder
// dereferences at unlock (a crash in an honest process). Here every shared
// field is a plain value that is checked before use: a scribbled word reads
// as "held by a thread that does not exist" (taken over) or "held by a live
// one" (timed_out after the caller's timeout), never as a pointer.
//
// Only cold paths take it (registry changes, TLSF); hot paths are lock-free.
// A thread must not lock it twice, and must unlock it before it exits.

#include <sluice/base/result.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace sluice::os {

// The shared part: placed in the segment, initialised once by the creator.
// The owner fields are written by the owner after it took the word and
// read by waiters at any time (atomics, relaxed: a waiter checks that
// owner_tid names the word's owner before it trusts the other two).
struct RobustMutexData {
  std::atomic<std::uint32_t> word;       // 0 free; else owner tid | kRobustWaiters
  std::atomic<std::uint32_t> owner_tid;  // tid the two fields below belong to
  std::atomic<std::int32_t> owner_pid;   // the owner's process
  std::uint32_t reserved0;
  std::atomic<std::uint64_t> owner_start_time;  // its start time (pid reuse)
  std::uint8_t reserved[16];
};
static_assert(sizeof(RobustMutexData) == 40);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free &&
              std::atomic<std::uint64_t>::is_always_lock_free);
inline constexpr std::uint32_t kRobustWaiters = 0x80000000U;
inline constexpr std::uint32_t kRobustTidMask = 0x3fffffffU;  // pids and tids are below 2^22

enum class LockState { acquired, owner_died };

// Initialises the mutex in place.
Result<void> robust_mutex_init(RobustMutexData& m);

// Waits up to timeout. owner_died means: the lock is held now, the previous
// holder died while holding it; repair, then unlock. timed_out is retryable.
Result<LockState> robust_mutex_lock(RobustMutexData& m, std::chrono::nanoseconds timeout);
// One attempt, no waiting: would_block when any thread holds it (a dead
// holder is found by robust_mutex_lock, after a wait slice).
Result<LockState> robust_mutex_try_lock(RobustMutexData& m);
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
