#include <sluice/os/eventfd.hpp>

#include <sys/eventfd.h>
#include <unistd.h>
#include <cerrno>

namespace sluice::os {

Result<EventFd> EventFd::create(std::uint32_t initial) {
  const int fd = ::eventfd(initial, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return fail(Error::from_errno(errno, "eventfd"));
  return EventFd(fd);
}

EventFd& EventFd::operator=(EventFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

EventFd::~EventFd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> EventFd::signal() const noexcept {
  const std::uint64_t one = 1;
  if (::write(fd_, &one, sizeof one) != static_cast<ssize_t>(sizeof one)) {
    if (errno == EAGAIN) return ok();  // counter saturated: already readable
    return fail(Error::from_errno(errno, "eventfd write"));
  }
  return ok();
}

Result<std::uint64_t> EventFd::consume() const noexcept {
  std::uint64_t v = 0;
  if (::read(fd_, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) {
    if (errno == EAGAIN) return fail(Errc::would_block);
    return fail(Error::from_errno(errno, "eventfd read"));
  }
  return v;
}

}  // namespace sluice::os
