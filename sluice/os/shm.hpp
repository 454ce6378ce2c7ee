#pragma once
// POSIX shared-memory objects and memfds. Names are given with or without the
// leading slash ("telemetry" and "/telemetry" name the same object).
// Every failure names the call, the object and the errno text.

#include <sluice/base/result.hpp>

#include <sys/types.h>
#include <cstdint>
#include <string>
#include <string_view>

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
  mode_t mode = 0;
};

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
