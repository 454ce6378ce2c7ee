// The hardware floors every transport is compared with, run through the
// same harness as the transports (same processes, pinning, payload checks,
// clock and histogram), so that a ratio to a floor compares like with like.
//
// cacheline: each direction is one cache line in shared memory. The sender
//   writes the payload (up to 56 bytes, staged by loan()) into the line and
//   then the sequence number with a release store; the receiver spins on the
//   sequence number (acquire). One message moves one line from one core to
//   the other: no transport that goes through memory can beat it.
// futex: the same line, but the receiver sleeps in FUTEX_WAIT on the
//   sequence number and the sender always calls FUTEX_WAKE after its store:
//   the raw cost of waking a sleeping process on another core.
//
// Both carry one message at a time (ping-pong only): the sender rewrites the
// line only after the receiver has replied.

#include "common/registry.hpp"
#include "common/shared.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sluice::bench {
namespace {

struct alignas(64) FloorLine {
  std::atomic<std::uint32_t> seq{0};  // the futex word for the futex floor
  std::uint32_t length = 0;           // written before seq (release), read after (acquire)
  std::byte payload[56];
};
static_assert(sizeof(FloorLine) == 64);
static_assert(offsetof(FloorLine, payload) == 8);

template <bool kFutex>
class FloorTransport {
 public:
  static TransportInfo info() {
    TransportInfo i;
    i.name = kFutex ? "futex" : "cacheline";
    i.label = kFutex ? "futex floor" : "cache-line floor";
    i.description = kFutex ? "shared futex word per direction: store, FUTEX_WAKE; the receiver "
                             "sleeps in FUTEX_WAIT"
                           : "one cache line per direction: payload then sequence number "
                             "(release); the receiver spins";
    i.order = kFutex ? 1 : 0;
    i.max_payload = sizeof(FloorLine::payload);
    i.is_floor = true;
    i.busy = !kFutex;
    i.blocking = kFutex;
    i.streaming = false;
    i.fan_out = false;
    return i;
  }

  class Sender {
   public:
    explicit Sender(FloorLine* line) : line_(line) {}
    // The line may still hold the previous message, unread: stage the new
    // one and write it into the line in send().
    std::span<std::byte> loan(std::size_t bytes) noexcept { return {staged_, bytes}; }
    void send(std::span<std::byte> msg) noexcept {
      std::memcpy(line_->payload, msg.data(), msg.size());
      line_->length = static_cast<std::uint32_t>(msg.size());
      // Release: publishes payload and length.
      line_->seq.store(++seq_, std::memory_order_release);
      if constexpr (kFutex) futex_wake(line_->seq, 1);
    }

   private:
    FloorLine* line_;
    std::uint32_t seq_ = 0;
    std::byte staged_[sizeof(FloorLine::payload)];
  };

  class Receiver {
   public:
    explicit Receiver(FloorLine* line) : line_(line) {}
    std::optional<std::span<const std::byte>> try_receive() noexcept {
      // Acquire: pairs with the sender's release store of seq.
      const std::uint32_t s = line_->seq.load(std::memory_order_acquire);
      if (s == seen_) return std::nullopt;
      seen_ = s;
      return std::span<const std::byte>(line_->payload, line_->length);
    }
    std::span<const std::byte> receive() noexcept {
      for (;;) {
        if (auto m = try_receive()) return *m;
        if constexpr (kFutex) futex_wait(line_->seq, seen_);
      }
    }
    void release() noexcept {}

   private:
    FloorLine* line_;
    std::uint32_t seen_ = 0;
  };

  class Link {
   public:
    explicit Link(SharedRegion region) : region_(std::move(region)) {}
    Result<Sender> open_sender() { return Sender(line()); }
    Result<Receiver> open_receiver(std::uint32_t) { return Receiver(line()); }

   private:
    [[nodiscard]] FloorLine* line() const { return reinterpret_cast<FloorLine*>(region_.data()); }
    SharedRegion region_;
  };

  static Result<Link> create_link(const LinkSpec& spec) {
    if (spec.receivers != 1) return fail(Errc::not_supported, "floors have one receiver");
    SLUICE_TRY_ASSIGN(auto region, SharedRegion::create(sizeof(FloorLine)));
    new (region.data()) FloorLine{};
    return Link(std::move(region));
  }
};

using CachelineFloor = FloorTransport<false>;
using FutexFloor = FloorTransport<true>;

}  // namespace
}  // namespace sluice::bench

SLUICE_BENCH_REGISTER_TRANSPORT(sluice::bench::CachelineFloor);
SLUICE_BENCH_REGISTER_TRANSPORT(sluice::bench::FutexFloor);
