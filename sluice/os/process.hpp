#pragma once
// Process identity and liveness. A pid alone is not an identity: pids are
// reused. (pid, start time in clock ticks since boot, field 22 of
// /proc/<pid>/stat) is, for the life of the boot.

#include <sluice/base/result.hpp>

#include <sys/types.h>
#include <cstdint>

namespace sluice::os {

struct ProcessIdentity {
  std::int32_t pid = 0;
  std::uint64_t start_time = 0;
  friend bool operator==(const ProcessIdentity&, const ProcessIdentity&) = default;
};

// Start time of pid; not_found if there is no such process.
Result<std::uint64_t> process_start_time(pid_t pid);

// This process's identity (cached after the first call; refreshed after fork).
ProcessIdentity self_identity();
// The calling thread's id (cached per thread; refreshed after fork).
std::uint32_t self_tid();

enum class Liveness { alive, dead };

// dead when the pid does not exist, is a zombie, or now names a process with
// another start time. Costs one read of /proc/<pid>/stat.
Liveness check_liveness(const ProcessIdentity& id) noexcept;

// A pidfd (Linux 5.3+): readable when the process exits. Falls back to
// unavailable (an error) where the kernel lacks pidfd_open.
class PidFd {
 public:
  static Result<PidFd> open(pid_t pid);
  PidFd() = default;
  PidFd(PidFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  PidFd& operator=(PidFd&& o) noexcept;
  PidFd(const PidFd&) = delete;
  PidFd& operator=(const PidFd&) = delete;
  ~PidFd();
  [[nodiscard]] int fd() const noexcept { return fd_; }
  // True once the process has exited (poll without blocking).
  [[nodiscard]] bool exited() const noexcept;

 private:
  explicit PidFd(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace sluice::os
