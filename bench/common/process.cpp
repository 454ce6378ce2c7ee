#include "common/process.hpp"

#include "common/system.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>

namespace sluice::bench {

namespace {

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return fmt::format("ended with wait status {:#x}", status);
}

}  // namespace

ProcessGroup::~ProcessGroup() {
  kill_all();
  for (auto& c : children_) {
    if (c.pidfd >= 0) ::close(c.pidfd);
  }
}

Result<pid_t> ProcessGroup::spawn(std::string name, int cpu, std::function<int()> body) {
  // Unflushed stdio buffers would otherwise be written twice: by the parent
  // and by the child's exit().
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return fail(Error::from_errno(errno, fmt::format("fork '{}'", name)));
  if (pid == 0) {
    int rc = 0;
    if (auto pinned = pin_to_cpu(cpu); !pinned) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), pinned.error().what().c_str());
      rc = 70;
    } else {
      try {
        rc = body();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: exception: %s\n", name.c_str(), e.what());
        rc = 71;
      }
    }
    std::fflush(nullptr);
    std::exit(rc);
  }
  Child c{std::move(name), pid, pidfd_open(pid), false};
  if (c.pidfd < 0) {
    const int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return fail(Error::from_errno(err, "pidfd_open (Linux 5.3 or later is required)"));
  }
  children_.push_back(std::move(c));
  return pid;
}

Result<void> ProcessGroup::wait_all(std::chrono::milliseconds timeout) {
  const std::uint64_t deadline =
      now_ns() + static_cast<std::uint64_t>(timeout.count()) * 1'000'000ULL;
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<Child*> waiting;
    for (auto& c : children_) {
      if (!c.reaped) {
        fds.push_back({c.pidfd, POLLIN, 0});
        waiting.push_back(&c);
      }
    }
    if (fds.empty()) return ok();
    const std::uint64_t now = now_ns();
    if (now >= deadline) {
      std::string names;
      for (const Child* c : waiting) names += (names.empty() ? "" : ", ") + c->name;
      kill_all();
      return fail(Errc::timed_out, "measurement overran {} ms; killed {}", timeout.count(), names);
    }
    const int wait_ms =
        static_cast<int>(std::min<std::uint64_t>((deadline - now) / 1'000'000ULL + 1, 60'000));
    const int n = ::poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno != EINTR) return fail(Error::from_errno(errno, "poll on pidfds"));
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      Child& c = *waiting[i];
      int status = 0;
      if (::waitpid(c.pid, &status, WNOHANG) != c.pid) continue;
      c.reaped = true;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        kill_all();
        return fail(Errc::internal, "process '{}' {}", c.name, describe_status(status));
      }
    }
  }
}

void ProcessGroup::kill_all() noexcept {
  for (auto& c : children_) {
    if (!c.reaped) ::kill(c.pid, SIGKILL);
  }
  for (auto& c : children_) {
    if (!c.reaped) {
      ::waitpid(c.pid, nullptr, 0);
      c.reaped = true;
    }
  }
}

}  // namespace sluice::bench
