// Anonymous pipes, the way a program that speaks to a child over stdin and
// stdout uses them.
//
// A pipe is a byte stream, so each message is framed by an 8-byte length.
// The sender writes frame and payload with one write() (the kernel copies the
// payload in); the receiver reads as much as the pipe holds into its buffer
// (the kernel copies it out) and hands out whole frames, so many small
// messages cost one read(). Pipe buffers are raised to 1 MiB with
// F_SETPIPE_SZ where the system allows (fs.pipe-max-size). Busy-polling
// receivers use an O_NONBLOCK read end; blocking ones sleep in read().
// Fan-out: one pipe per receiver; the sender writes each message into every
// pipe.

#include "common/registry.hpp"
#include "common/resources.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sluice::bench {
namespace {

constexpr std::size_t kFrameHeader = 8;
// Frames are laid out so that the payload starts on a cache line.
constexpr std::size_t kPayloadOffset = 64;
constexpr int kPipeBytes = 1 << 20;
// Room beyond one maximal frame, so that one read() can take many small ones.
constexpr std::size_t kReadAhead = 64 * 1024;

void write_all(int fd, const std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fatal("pipe: write: {}", std::strerror(errno));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

class PipeTransport {
 public:
  static TransportInfo info() {
    TransportInfo i;
    i.name = "pipe";
    i.label = "pipe";
    i.description =
        "anonymous pipe per receiver, 1 MiB buffer; 8-byte length frame; one write() per message, "
        "buffered read() on the other side";
    i.order = 50;
    return i;
  }

  class Sender {
   public:
    Sender(std::vector<int> fds, std::uint64_t max_payload)
        : fds_(std::move(fds)), buf_(kPayloadOffset + max_payload) {}
    std::span<std::byte> loan(std::size_t bytes) noexcept {
      return {buf_.data() + kPayloadOffset, bytes};
    }
    void send(std::span<std::byte> msg) {
      const std::uint64_t len = msg.size();
      std::byte* frame = buf_.data() + kPayloadOffset - kFrameHeader;
      std::memcpy(frame, &len, kFrameHeader);
      for (const int fd : fds_) write_all(fd, frame, kFrameHeader + msg.size());
    }

   private:
    std::vector<int> fds_;
    AlignedBuffer buf_;
  };

  class Receiver {
   public:
    Receiver(int fd, std::uint64_t max_payload)
        : fd_(fd), max_payload_(max_payload), buf_(kFrameHeader + max_payload + kReadAhead) {}

    std::optional<std::span<const std::byte>> try_receive() {
      for (;;) {
        if (auto frame = front()) return frame;
        if (!fill(false)) return std::nullopt;
      }
    }
    std::span<const std::byte> receive() {
      for (;;) {
        if (auto frame = front()) return *frame;
        fill(true);
      }
    }
    void release() noexcept {
      begin_ += held_;
      held_ = 0;
    }

   private:
    // The complete frame at the front of the buffer, if any.
    std::optional<std::span<const std::byte>> front() {
      const std::size_t avail = end_ - begin_;
      if (avail < kFrameHeader) return std::nullopt;
      std::uint64_t len;
      std::memcpy(&len, buf_.data() + begin_, kFrameHeader);
      if (len > max_payload_)
        fatal("pipe: frame of {} bytes, at most {} expected", len, max_payload_);
      if (avail < kFrameHeader + len) return std::nullopt;
      held_ = kFrameHeader + len;
      return std::span<const std::byte>(buf_.data() + begin_ + kFrameHeader, len);
    }

    // Reads what the pipe holds. Returns false when a non-blocking read
    // found nothing.
    bool fill(bool blocking) {
      if (begin_ == end_) {
        begin_ = end_ = 0;
      } else if (buf_.size() - end_ < kReadAhead && begin_ > 0) {
        // Keep the partial frame; make room behind it.
        std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      }
      for (;;) {
        const ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
        if (n > 0) {
          end_ += static_cast<std::size_t>(n);
          return true;
        }
        if (n == 0) fatal("pipe: the sender closed the pipe");
        if (errno == EINTR) continue;
        if (errno == EAGAIN && !blocking) return false;
        fatal("pipe: read: {}", std::strerror(errno));
      }
    }

    int fd_;
    std::uint64_t max_payload_;
    AlignedBuffer buf_;
    std::size_t begin_ = 0;  // first unread byte
    std::size_t end_ = 0;    // one past the last byte read
    std::size_t held_ = 0;   // size of the frame handed out, dropped by release()
  };

  class Link {
   public:
    Link(std::vector<UniqueFd> read_ends, std::vector<UniqueFd> write_ends,
         std::uint64_t max_payload)
        : read_(std::move(read_ends)), write_(std::move(write_ends)), max_payload_(max_payload) {}

    Result<Sender> open_sender() {
      std::vector<int> fds;
      for (const auto& fd : write_) fds.push_back(fd.get());
      return Sender(std::move(fds), max_payload_);
    }
    Result<Receiver> open_receiver(std::uint32_t index) {
      if (index >= read_.size()) return fail(Errc::out_of_range, "pipe: no receiver {}", index);
      return Receiver(read_[index].get(), max_payload_);
    }

   private:
    std::vector<UniqueFd> read_;
    std::vector<UniqueFd> write_;
    std::uint64_t max_payload_;
  };

  static Result<Link> create_link(const LinkSpec& spec) {
    std::vector<UniqueFd> read_ends;
    std::vector<UniqueFd> write_ends;
    for (std::uint32_t i = 0; i < spec.receivers; ++i) {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) return fail(Error::from_errno(errno, "pipe2"));
      read_ends.emplace_back(fds[0]);
      write_ends.emplace_back(fds[1]);
      // Only the read end polls; the writer always blocks when the pipe is
      // full (lossless).
      if (spec.wait == Wait::busy && ::fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
        return fail(Error::from_errno(errno, "fcntl O_NONBLOCK on a pipe"));
      }
      // Best effort: an unprivileged process may not exceed fs.pipe-max-size.
      (void)::fcntl(fds[1], F_SETPIPE_SZ, kPipeBytes);
    }
    return Link(std::move(read_ends), std::move(write_ends), spec.max_payload);
  }
};

}  // namespace
}  // namespace sluice::bench

SLUICE_BENCH_REGISTER_TRANSPORT(sluice::bench::PipeTransport);
