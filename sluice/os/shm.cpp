#include <sluice/os/shm.hpp>

#include <fcntl.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>

namespace sluice::os {

Result<void> validate_shm_name(std::string_view name) {
  std::string_view bare = name;
  if (!bare.empty() && bare.front() == '/') bare.remove_prefix(1);
  if (bare.empty()) return fail(Errc::bad_name, "name is empty");
  if (bare.size() > 200)
    return fail(Errc::bad_name, "name '{}...' is {} characters, at most 200", bare.substr(0, 16),
                bare.size());
  if (bare == "." || bare == "..") return fail(Errc::bad_name, "name '{}' is reserved", bare);
  for (char c : bare) {
    const bool ok_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok_char)
      return fail(Errc::bad_name,
                  "name '{}' has the character {:?}; use letters, digits, '.', '_', '-'", bare, c);
  }
  return ok();
}

std::string shm_path(std::string_view name) {
  if (!name.empty() && name.front() == '/') return std::string(name);
  std::string p = "/";
  p += name;
  return p;
}

ShmObject::ShmObject(ShmObject&& o) noexcept : fd_(o.fd_), name_(std::move(o.name_)) { o.fd_ = -1; }

ShmObject& ShmObject::operator=(ShmObject&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    name_ = std::move(o.name_);
    o.fd_ = -1;
  }
  return *this;
}

ShmObject::~ShmObject() {
  if (fd_ >= 0) ::close(fd_);
}

int ShmObject::release() noexcept {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

Result<ShmObject> ShmObject::create(std::string_view name, std::uint64_t size, mode_t mode) {
  SLUICE_TRY(validate_shm_name(name));
  const std::string path = shm_path(name);
  const int fd = ::shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail(Error::from_errno(errno, fmt::format("shm_open(create) '{}'", path)));
  ShmObject obj(fd, path);
  // fchmod, not umask: umask is process-wide and racy with other threads.
  if (::fchmod(fd, mode) != 0) {
    const int err = errno;
    ::shm_unlink(path.c_str());
    return fail(Error::from_errno(err, fmt::format("fchmod '{}' to {:o}", path, mode)));
  }
  if (auto r = obj.truncate(size); !r) {
    ::shm_unlink(path.c_str());
    return fail(r.error());
  }
  return obj;
}

Result<ShmObject> ShmObject::open(std::string_view name, bool read_only) {
  SLUICE_TRY(validate_shm_name(name));
  const std::string path = shm_path(name);
  // O_NOFOLLOW: a symbolic link planted under the name is refused (ELOOP),
  // never followed to a file of someone else's choosing.
  const int fd =
      ::shm_open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW, 0);
  if (fd < 0) return fail(Error::from_errno(errno, fmt::format("shm_open '{}'", path)));
  return ShmObject(fd, path);
}

Result<ShmObject> ShmObject::memfd(std::string_view debug_name, std::uint64_t size) {
  const std::string n(debug_name);
  const int fd = ::memfd_create(n.c_str(), MFD_CLOEXEC);
  if (fd < 0) return fail(Error::from_errno(errno, fmt::format("memfd_create '{}'", n)));
  ShmObject obj(fd, "memfd:" + n);
  SLUICE_TRY(obj.truncate(size));
  return obj;
}

Result<void> ShmObject::unlink(std::string_view name) {
  SLUICE_TRY(validate_shm_name(name));
  const std::string path = shm_path(name);
  if (::shm_unlink(path.c_str()) != 0)
    return fail(Error::from_errno(errno, fmt::format("shm_unlink '{}'", path)));
  return ok();
}

namespace {
ShmStat to_shm_stat(const struct stat& st) {
  return ShmStat{static_cast<std::uint64_t>(st.st_size),
                 st.st_uid,
                 st.st_gid,
                 static_cast<mode_t>(st.st_mode & 07777),
                 S_ISREG(st.st_mode),
                 st.st_dev,
                 st.st_ino};
}
}  // namespace

Result<ShmStat> ShmObject::stat() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0)
    return fail(Error::from_errno(errno, fmt::format("fstat '{}'", name_)));
  return to_shm_stat(st);
}

Result<ShmStat> stat_name(std::string_view name) {
  const std::string path = "/dev/shm" + shm_path(name);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    return fail(Error::from_errno(errno, fmt::format("lstat '{}'", path)));
  return to_shm_stat(st);
}

namespace {
std::string user_name(uid_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[1024];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found)
    return fmt::format("{} ({})", uid, found->pw_name);
  return std::to_string(uid);
}
}  // namespace

Result<void> check_trusted(const ShmStat& st, std::string_view what, mode_t mode,
                           const ShmTrust& trust) {
  if (!st.regular) return fail(Errc::untrusted, "{} is not a regular file", what);
  const uid_t me = ::geteuid();
  const bool owner_ok =
      st.owner == me ||
      std::find(trust.uids.begin(), trust.uids.end(), st.owner) != trust.uids.end() ||
      (trust.group && *trust.group == st.group);
  if (!owner_ok)
    return fail(Errc::untrusted,
                "{} belongs to uid {} (group {}, mode {:04o}), not to this user (uid {}); another "
                "user may have created it under this name first. Remove it, or trust that owner "
                "(trusted_uids / trusted_group) if the sharing is deliberate",
                what, user_name(st.owner), st.group, st.mode, me);
  const mode_t extra = st.mode & ~mode & 07777;
  if (extra != 0)
    return fail(Errc::untrusted,
                "{} has mode {:04o}, wider than the {:04o} asked for (extra bits {:04o}; owner uid "
                "{}); ask for that mode if the sharing is deliberate",
                what, st.mode, mode, extra, user_name(st.owner));
  return ok();
}

Result<void> ShmObject::truncate(std::uint64_t size) {
  if (size > static_cast<std::uint64_t>(INT64_MAX))
    return fail(Errc::invalid_argument, "size {} of '{}' is too large", size, name_);
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0)
    return fail(Error::from_errno(errno, fmt::format("ftruncate '{}' to {} bytes", name_, size)));
  return ok();
}

}  // namespace sluice::os
