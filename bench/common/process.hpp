#pragma once
// The child processes of one measurement.
//
// Children are forked, not exec'd: they inherit the links' file descriptors
// and the shared control block, and a transport needs no serialisation of
// its setup. Each child pins itself to its CPU before running its body and
// ends with exit() (not _exit()) so that libraries with process-wide state
// (the iceoryx runtime) deregister cleanly.
//
// The parent waits on pidfds (no polling loop that would wake up on the
// measured cores); when one child fails, the others are killed at once, and
// a measurement that overruns its deadline is killed as a whole.

#include <sluice/base/result.hpp>

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace sluice::bench {

class ProcessGroup {
 public:
  ProcessGroup() = default;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;
  ~ProcessGroup();  // kills and reaps every child still running

  // Forks a child pinned to `cpu` that runs body() and exits with its
  // return value. `name` is used in messages only.
  Result<pid_t> spawn(std::string name, int cpu, std::function<int()> body);

  // Waits until every child exited, the first failed, or timeout passed.
  // Succeeds only when every child exited with status 0.
  Result<void> wait_all(std::chrono::milliseconds timeout);

 private:
  struct Child {
    std::string name;
    pid_t pid = -1;
    int pidfd = -1;
    bool reaped = false;
  };
  void kill_all() noexcept;
  std::vector<Child> children_;
};

}  // namespace sluice::bench
