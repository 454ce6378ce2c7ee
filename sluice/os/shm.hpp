#pragma once
// POSIX shared-memory objects and memfds. Names are given with or without the
// leading slash ("telemetry" and "/telemetry" name the same object).
// Every failure names the call, the object and the errno text.

#include <sluice/base/result.hpp>

#include <sys/types.h>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::os {

// Checks a user-visible name: 1..200 characters of [A-Za-z0-9._-], not "." or
// "..", optionally with one leading '/'.
Result<void> validate_shm_name(std::string_view name);

// "/name" for shm_open, whatever the caller passed.
std::string shm_path(std::string_view name);

// Owner, mode and size of an open object (fstat).
struct ShmStat {
  std::uint64_t size = 0;
  uid_t owner = 0;
  gid_t group = 0;
  mode_t mode = 0;  // permission bits
  bool regular = true;
  dev_t device = 0;  // with `inode`: which object this is
  ino_t inode = 0;
};

// The object that `name` names now (lstat of its path): not_found if none.
Result<ShmStat> stat_name(std::string_view name);

// Whose objects a process accepts when it attaches (another local user may
// have created the object under the name first: name squatting).
struct ShmTrust {
  std::vector<uid_t> uids;     // owners trusted besides the caller's effective uid
  std::optional<gid_t> group;  // objects of this group are trusted too
};

// Refuses an object the caller did not create and should not trust: a
// non-regular file, an owner that is neither the caller's effective uid nor
// trusted, or permission bits beyond `mode` (what the caller would have
// created it with). The error names the owner, the group and the mode.
Result<void> check_trusted(const ShmStat& st, std::string_view what, mode_t mode,
                           const ShmTrust& trust);

class ShmObject {
 public:
  // O_CREAT|O_EXCL; the mode is set with fchmod (never umask) and the object
  // is sized with ftruncate. Fails with already_exists if the name is taken.
  static Result<ShmObject> create(std::string_view name, std::uint64_t size, mode_t mode = 0600);
  // Opens an existing object read-write (or read-only).
  static Result<ShmObject> open(std::string_view name, bool read_only = false);
  // An anonymous object that can be shared by passing its fd.
  static Result<ShmObject> memfd(std::string_view debug_name, std::uint64_t size);
  // shm_unlink; not_found if there is no such object.
  static Result<void> unlink(std::string_view name);

  ShmObject() = default;
  ShmObject(ShmObject&& o) noexcept;
  ShmObject& operator=(ShmObject&& o) noexcept;
  ShmObject(const ShmObject&) = delete;
  ShmObject& operator=(const ShmObject&) = delete;
  ~ShmObject();

  [[nodiscard]] int fd() const noexcept { return fd_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }

  [[nodiscard]] Result<ShmStat> stat() const;
  Result<void> truncate(std::uint64_t size);
  // Gives up ownership of the fd.
  int release() noexcept;

 private:
  ShmObject(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  int fd_ = -1;
  std::string name_;
};

}  // namespace sluice::os
