#include <sluice/os/process.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace sluice::os {
namespace {

// Reads /proc/<pid>/stat and returns (state, starttime). The command name
// (field 2) may contain spaces and parentheses, so parse after the last ')'.
Result<std::pair<char, std::uint64_t>> read_stat(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(Error::from_errno(errno, fmt::format("open {}", path)));
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  const int err = errno;
  ::close(fd);
  if (n <= 0) return fail(Error::from_errno(n < 0 ? err : ENOENT, fmt::format("read {}", path)));
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (!p || p[1] != ' ') return fail(Errc::internal, "unexpected format of {}", path);
  p += 2;
  const char state = *p;
  // After ')': field 3 is the state; starttime is field 22, i.e. 19 more.
  int field = 3;
  while (*p && field < 22) {
    if (*p == ' ') ++field;
    ++p;
  }
  if (field != 22) return fail(Errc::internal, "unexpected format of {}", path);
  return std::pair<char, std::uint64_t>{state, std::strtoull(p, nullptr, 10)};
}

}  // namespace

Result<std::uint64_t> process_start_time(pid_t pid) {
  SLUICE_TRY_ASSIGN(auto st, read_stat(pid));
  return st.second;
}

namespace {

// Bumped in the child of every fork(), so that the per-thread caches below
// are refreshed without a getpid() system call on every use.
std::atomic<std::uint32_t> fork_generation{1};
[[maybe_unused]] const int atfork_registered = ::pthread_atfork(
    nullptr, nullptr, [] { fork_generation.fetch_add(1, std::memory_order_relaxed); });

struct SelfCache {
  std::uint32_t generation = 0;
  ProcessIdentity id;
  std::uint32_t tid = 0;
};
thread_local SelfCache self_cache;

const SelfCache& self() {
  const std::uint32_t gen = fork_generation.load(std::memory_order_relaxed);
  if (self_cache.generation != gen) {
    const pid_t pid = ::getpid();
    auto st = process_start_time(pid);
    self_cache.id = ProcessIdentity{pid, st ? *st : 0};
    self_cache.tid = static_cast<std::uint32_t>(::syscall(SYS_gettid));
    self_cache.generation = gen;
  }
  return self_cache;
}

}  // namespace

std::uint32_t self_tid() { return self().tid; }

ProcessIdentity self_identity() { return self().id; }

Liveness check_liveness(const ProcessIdentity& id) noexcept {
  if (id.pid <= 0) return Liveness::dead;
  auto st = read_stat(id.pid);
  if (!st) {
    // No /proc entry: gone. Any other failure (EACCES in odd setups): fall
    // back to kill(pid, 0), which reports existence only.
    if (st.error().code() == Errc::not_found) return Liveness::dead;
    return (::kill(id.pid, 0) == 0 || errno == EPERM) ? Liveness::alive : Liveness::dead;
  }
  const auto [state, start] = *st;
  if (state == 'Z' || state == 'X') return Liveness::dead;
  if (id.start_time != 0 && start != id.start_time) return Liveness::dead;  // pid reused
  return Liveness::alive;
}

Result<PidFd> PidFd::open(pid_t pid) {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return fail(Error::from_errno(errno, fmt::format("pidfd_open {}", pid)));
  return PidFd(static_cast<int>(fd));
#else
  return fail(Errc::not_supported, "pidfd_open is not available");
#endif
}

PidFd& PidFd::operator=(PidFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

PidFd::~PidFd() {
  if (fd_ >= 0) ::close(fd_);
}

bool PidFd::exited() const noexcept {
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0;
}

}  // namespace sluice::os
