#pragma once
// Small owning types the transports share: a file descriptor and a
// cache-line-aligned heap buffer.

#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <utility>

namespace sluice::bench {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Heap memory aligned to a cache line, written once at allocation so that
// its page faults happen before any measurement.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t bytes)
      : size_(bytes), data_(static_cast<std::byte*>(std::aligned_alloc(64, round_up(bytes)))) {
    if (!data_) throw std::bad_alloc();
    std::memset(data_, 0, round_up(bytes));
  }
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : size_(std::exchange(o.size_, 0)), data_(std::exchange(o.data_, nullptr)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      size_ = std::exchange(o.size_, 0);
      data_ = std::exchange(o.data_, nullptr);
    }
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data_); }

  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::span<std::byte> span() const noexcept { return {data_, size_}; }

 private:
  static std::size_t round_up(std::size_t n) noexcept {
    return (n + 63) / 64 * 64 + (n == 0 ? 64 : 0);
  }
  std::size_t size_ = 0;
  std::byte* data_ = nullptr;
};

}  // namespace sluice::bench
