// Unix domain sockets, SOCK_SEQPACKET: connected, reliable, and message
// boundaries kept by the kernel, the natural socket for local messages.
//
// One socketpair per direction and receiver. A record carries at most
// kRecord bytes (AF_UNIX refuses a record larger than the socket's send
// buffer; 256 KiB fits the default net.core.wmem_max), so a message is sent
// as one record holding an 8-byte length and up to kRecord - 8 payload
// bytes, followed by as many further kRecord-byte records as the payload
// needs: chunked SEQPACKET, not SOCK_STREAM. send() copies the payload into
// the kernel, recv() copies it out. Busy-polling receivers use MSG_DONTWAIT;
// blocking ones sleep in recv(). Fan-out: one socketpair per receiver, each
// message sent on every one.

#include "common/registry.hpp"
#include "common/resources.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sluice::bench {
namespace {

constexpr std::size_t kLengthBytes = 8;
constexpr std::size_t kPayloadOffset = 64;  // payload on a cache line, length just before it
constexpr std::size_t kRecord = 256 * 1024;
constexpr int kSendBuffer = 4 << 20;  // asked for; the kernel caps it at wmem_max

class UnixSeqpacketTransport {
 public:
  static TransportInfo info() {
    TransportInfo i;
    i.name = "unix-seqpacket";
    i.label = "Unix SEQPACKET";
    i.description =
        "AF_UNIX SOCK_SEQPACKET socketpair per direction and receiver; messages over 256 KiB - 8 B "
        "are chunked into 256 KiB records";
    i.order = 40;
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
      std::byte* first = buf_.data() + kPayloadOffset - kLengthBytes;
      std::memcpy(first, &len, kLengthBytes);
      const std::size_t total = kLengthBytes + msg.size();
      for (const int fd : fds_) {
        for (std::size_t off = 0; off < total;) {
          const std::size_t n = std::min(kRecord, total - off);
          const ssize_t w = ::send(fd, first + off, n, MSG_NOSIGNAL);
          if (w < 0) {
            if (errno == EINTR) continue;
            fatal("unix-seqpacket: send {} bytes: {}", n, std::strerror(errno));
          }
          off += n;  // a SEQPACKET send is all or nothing
        }
      }
    }

   private:
    std::vector<int> fds_;
    AlignedBuffer buf_;
  };

  class Receiver {
   public:
    Receiver(int fd, std::uint64_t max_payload)
        : fd_(fd), max_payload_(max_payload), buf_(kPayloadOffset + max_payload) {}

    std::optional<std::span<const std::byte>> try_receive() {
      while (!complete()) {
        if (!receive_record(MSG_DONTWAIT)) return std::nullopt;
      }
      return message();
    }
    std::span<const std::byte> receive() {
      while (!complete()) receive_record(0);
      return message();
    }
    void release() noexcept { got_ = 0; }

   private:
    [[nodiscard]] bool complete() const noexcept {
      return got_ >= kLengthBytes && got_ - kLengthBytes == expected_;
    }
    std::span<const std::byte> message() const noexcept {
      return {buf_.data() + kPayloadOffset, static_cast<std::size_t>(expected_)};
    }

    // Receives one record behind what was received so far. Returns false
    // when a MSG_DONTWAIT receive found nothing.
    bool receive_record(int flags) {
      std::byte* at = buf_.data() + kPayloadOffset - kLengthBytes + got_;
      const std::size_t room = kLengthBytes + max_payload_ - got_;
      const std::size_t want = std::min(kRecord, room);
      for (;;) {
        const ssize_t n = ::recv(fd_, at, want, flags | MSG_TRUNC);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN && (flags & MSG_DONTWAIT)) return false;
          fatal("unix-seqpacket: recv: {}", std::strerror(errno));
        }
        // With MSG_TRUNC, n is the record's real length even if larger.
        if (n == 0) fatal("unix-seqpacket: the sender closed the socket");
        if (static_cast<std::size_t>(n) > want)
          fatal("unix-seqpacket: record of {} bytes truncated", n);
        const bool first = got_ == 0;
        got_ += static_cast<std::size_t>(n);
        if (first) {
          if (got_ < kLengthBytes) fatal("unix-seqpacket: record of {} bytes has no length", n);
          std::memcpy(&expected_, buf_.data() + kPayloadOffset - kLengthBytes, kLengthBytes);
          if (expected_ > max_payload_) {
            fatal("unix-seqpacket: message of {} bytes, at most {} expected", expected_,
                  max_payload_);
          }
        }
        if (got_ - kLengthBytes > expected_) fatal("unix-seqpacket: message longer than announced");
        return true;
      }
    }

    int fd_;
    std::uint64_t max_payload_;
    AlignedBuffer buf_;
    std::size_t got_ = 0;         // bytes of the current message (length included) received
    std::uint64_t expected_ = 0;  // its announced payload length
  };

  class Link {
   public:
    Link(std::vector<UniqueFd> tx, std::vector<UniqueFd> rx, std::uint64_t max_payload)
        : tx_(std::move(tx)), rx_(std::move(rx)), max_payload_(max_payload) {}
    Result<Sender> open_sender() {
      std::vector<int> fds;
      for (const auto& fd : tx_) fds.push_back(fd.get());
      return Sender(std::move(fds), max_payload_);
    }
    Result<Receiver> open_receiver(std::uint32_t index) {
      if (index >= rx_.size())
        return fail(Errc::out_of_range, "unix-seqpacket: no receiver {}", index);
      return Receiver(rx_[index].get(), max_payload_);
    }

   private:
    std::vector<UniqueFd> tx_;
    std::vector<UniqueFd> rx_;
    std::uint64_t max_payload_;
  };

  static Result<Link> create_link(const LinkSpec& spec) {
    std::vector<UniqueFd> tx;
    std::vector<UniqueFd> rx;
    for (std::uint32_t i = 0; i < spec.receivers; ++i) {
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        return fail(Error::from_errno(errno, "socketpair AF_UNIX SOCK_SEQPACKET"));
      }
      tx.emplace_back(sv[0]);
      rx.emplace_back(sv[1]);
      // A larger send buffer lets several records be in flight; the kernel
      // caps the request at net.core.wmem_max.
      (void)::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &kSendBuffer, sizeof(kSendBuffer));
      int sndbuf = 0;
      socklen_t len = sizeof(sndbuf);
      if (::getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) != 0) {
        return fail(Error::from_errno(errno, "getsockopt SO_SNDBUF"));
      }
      if (static_cast<std::size_t>(sndbuf) < kRecord + 64) {
        return fail(Errc::not_supported,
                    "unix-seqpacket: send buffer of {} bytes cannot hold a {}-byte record "
                    "(raise net.core.wmem_max)",
                    sndbuf, kRecord);
      }
    }
    return Link(std::move(tx), std::move(rx), spec.max_payload);
  }
};

}  // namespace
}  // namespace sluice::bench

SLUICE_BENCH_REGISTER_TRANSPORT(sluice::bench::UnixSeqpacketTransport);
