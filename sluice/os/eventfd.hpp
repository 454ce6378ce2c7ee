#pragma once
// eventfd: a pollable counter, for readiness notification in event loops.

#include <sluice/base/result.hpp>

#include <cstdint>

namespace sluice::os {

class EventFd {
 public:
  // Non-blocking, close-on-exec.
  static Result<EventFd> create(std::uint32_t initial = 0);
  // Adopts an fd received from elsewhere (for example over a Unix socket).
  static EventFd adopt(int fd) noexcept { return EventFd(fd); }

  EventFd() = default;
  EventFd(EventFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  EventFd& operator=(EventFd&& o) noexcept;
  EventFd(const EventFd&) = delete;
  EventFd& operator=(const EventFd&) = delete;
  ~EventFd();

  // Adds one; the fd becomes readable.
  Result<void> signal() const noexcept;
  // Reads and resets the counter; would_block if it was zero.
  Result<std::uint64_t> consume() const noexcept;
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  explicit EventFd(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace sluice::os
