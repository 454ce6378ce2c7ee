#include <sluice/layout/scan.hpp>
#include <sluice/os/process.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace sluice::layout {
namespace {

constexpr const char* kShmDir = "/dev/shm";

// "name.init-PID-N" → PID, or 0 if the name is not a creator's temporary.
std::int32_t temporary_pid(std::string_view name) {
  const auto pos = name.rfind(".init-");
  if (pos == std::string_view::npos) return 0;
  std::string rest(name.substr(pos + 6));
  const auto dash = rest.find('-');
  if (dash == std::string::npos || dash == 0) return 0;
  char* end = nullptr;
  const long pid = std::strtol(rest.c_str(), &end, 10);
  if (end != rest.c_str() + dash || pid <= 0 || pid > INT32_MAX) return 0;
  return static_cast<std::int32_t>(pid);
}

void fill_owner(DomainSummary& s) {
  struct stat st {};
  if (::lstat((std::string(kShmDir) + "/" + s.name).c_str(), &st) != 0) return;
  s.owner = st.st_uid;
  s.mode = static_cast<mode_t>(st.st_mode & 07777);
  if (s.size == 0) s.size = static_cast<std::uint64_t>(st.st_size);
}

}  // namespace

ShmKind probe_object(std::string_view name) {
  const std::string path = std::string(kShmDir) + os::shm_path(name);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == EACCES || errno == EPERM) return ShmKind::unreadable;
    if (errno == ENOENT) return ShmKind::missing;
    return ShmKind::other;  // a symbolic link (ELOOP), ...
  }
  struct stat st {};
  std::uint64_t magic = 0;
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  const bool ok =
      regular && ::pread(fd, &magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic);
  ::close(fd);
  return ok && magic == kDomainMagic ? ShmKind::domain : ShmKind::other;
}

Result<DomainSummary> summarize_domain(std::string_view name) {
  DomainSummary s;
  s.name = std::string(!name.empty() && name.front() == '/' ? name.substr(1) : name);
  SegmentOpenOptions oo;
  oo.read_only = true;
  oo.attach_as_peer = false;
  oo.timeout = std::chrono::milliseconds(0);
  auto d = Segment::open(s.name, oo);
  if (!d) {
    if (d.error().code() == Errc::not_found || d.error().code() == Errc::bad_name)
      return fail(d.error());
    s.state = d.error().code() == Errc::timed_out ? "initialising"
                                                  : std::string(errc_name(d.error().code()));
    s.error = d.error().what();
    if (auto obj = os::ShmObject::open(s.name, true)) {
      if (auto st = obj->stat()) s.size = st->size;
    }
    fill_owner(s);
    if (d.error().code() == Errc::permission_denied) {
      s.readable = false;
      s.state = "unreadable";
    }
    return s;
  }
  const auto& h = d->header();
  s.size = d->size();
  fill_owner(s);
  s.state = to_string(static_cast<InitState>(h.init_state.load(std::memory_order_acquire)));
  s.generation = h.generation;
  s.created_unix_ns = h.created_unix_ns;
  for (const auto& p : d->peers()) (p.alive ? s.peers_alive : s.peers_dead) += 1;
  if (auto entries = d->registry_list()) {
    s.entries = static_cast<std::uint32_t>(entries->size());
  } else {
    s.error = entries.error().what();
  }
  return s;
}

Result<std::vector<DomainSummary>> list_domains() {
  DIR* dir = ::opendir(kShmDir);
  if (!dir) return fail(Error::from_errno(errno, fmt::format("opendir {}", kShmDir)));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(dir)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    names.push_back(std::move(n));
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  std::vector<DomainSummary> out;
  for (const auto& n : names) {
    const ShmKind kind = probe_object(n);
    if (kind == ShmKind::unreadable) {
      DomainSummary s;
      s.name = n;
      s.state = "unreadable";
      s.readable = false;
      fill_owner(s);
      s.error = fmt::format("permission denied: owned by uid {} with mode {:04o}", s.owner, s.mode);
      out.push_back(std::move(s));
      continue;
    }
    if (kind != ShmKind::domain) continue;
    if (const std::int32_t pid = temporary_pid(n)) {
      DomainSummary s;
      s.name = n;
      s.temporary = true;
      s.temporary_pid = pid;
      s.state = os::check_liveness({pid, 0}) == os::Liveness::alive ? "initialising" : "abandoned";
      out.push_back(std::move(s));
      continue;
    }
    auto s = summarize_domain(n);
    if (s) out.push_back(std::move(s).value());
  }
  return out;
}

Result<std::vector<GcAction>> collect_garbage(const GcOptions& options) {
  SLUICE_TRY_ASSIGN(auto domains, list_domains());
  std::vector<GcAction> actions;
  for (const auto& d : domains) {
    GcAction a;
    a.name = d.name;
    if (d.temporary) {
      if (d.state != "abandoned") continue;
      a.reason = fmt::format("temporary object of creator pid {} which died during initialisation",
                             d.temporary_pid);
    } else if (!d.error.empty()) {
      continue;  // unreadable or corrupted: only an explicit `sluice rm` removes it
    } else if (d.peers_alive == 0 && d.peers_dead > 0) {
      a.reason = fmt::format("all {} attached process(es) are dead", d.peers_dead);
    } else if (options.idle && d.peers_alive == 0 && d.peers_dead == 0) {
      a.reason = "no attached process";
    } else {
      continue;
    }
    if (!options.dry_run) {
      if (auto r = os::ShmObject::unlink(d.name); r) {
        a.removed = true;
      } else if (r.error().code() != Errc::not_found) {
        a.error = r.error().what();
      }
    }
    actions.push_back(std::move(a));
  }
  return actions;
}

}  // namespace sluice::layout
