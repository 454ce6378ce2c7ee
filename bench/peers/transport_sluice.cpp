// sluice channels: the zero-copy path a sluice user writes.
//
// One domain per link (created by the parent before the fork, removed after
// the children exit), one pub/sub byte channel with a ring of `depth`
// descriptors per subscriber and the block policy (lossless). The sender
// loans the payload inside the shared segment and publishes a 64-byte
// descriptor; every receiver reads the same bytes in place and releases
// them. Payloads of at most 32 bytes travel inside the descriptor. Busy
// receivers spin on try_receive(); blocking ones use receive_for(), which
// spins for a few microseconds and then sleeps on a shared futex (the
// publisher makes the wake system call only when a receiver sleeps).

#include "common/registry.hpp"

#include <sluice/channel/channel.hpp>

#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

namespace sluice::bench {
namespace {

using namespace std::chrono_literals;

DomainOptions domain_options(const LinkSpec& spec) {
  DomainOptions o;
  // Small pools for small messages; a TLSF region for big ones with room for
  // every message in flight (ring depth + one loaned + one held per
  // receiver) plus slack for fragmentation.
  o.heap = alloc::HeapConfig::scaled(0.25, 0);
  const std::uint64_t chunk = align_up(std::max<std::uint64_t>(spec.max_payload, 64), 4096);
  const std::uint64_t in_flight = std::uint64_t{spec.depth} + 2 + spec.receivers;
  o.heap.tlsf_bytes = std::max<std::uint64_t>(chunk * in_flight * 2, 8 * MiB);
  o.heap.tlsf_max_blocks = 4096;
  o.max_peers = 16;
  o.persistent = true;  // made before the fork, attached after it; the link removes it
  o.max_channels = 4;
  return o;
}

ChannelOptions channel_options(const LinkSpec& spec) {
  ChannelOptions c;
  c.capacity = std::max<std::uint32_t>(spec.depth, 2);
  c.policy = channel::FullPolicy::block;
  c.max_subscribers = std::max<std::uint32_t>(spec.receivers, 1);
  c.max_held = 4;
  c.publish_timeout = 60s;
  return c;
}

class SluiceTransport {
 public:
  static TransportInfo info() {
    TransportInfo i;
    i.name = "sluice";
    i.label = "sluice";
    i.description =
        "sluice pub/sub byte channel: payload loaned in shared memory, 64-byte descriptor per "
        "subscriber ring, read in place; blocking receivers spin briefly then sleep on a futex";
    i.order = 10;
    return i;
  }

  class Sender {
   public:
    Sender(Domain d, BytePublisher p) : domain_(std::move(d)), pub_(std::move(p)) {}
    std::span<std::byte> loan(std::size_t bytes) {
      auto l = pub_.loan(bytes);
      if (!l) fatal("sluice: loan {} bytes: {}", bytes, l.error().what());
      loan_.emplace(std::move(l).value());
      return loan_->bytes();
    }
    void send(std::span<std::byte> msg) {
      loan_->shrink(msg.size());
      if (auto r = pub_.publish(std::move(*loan_)); !r)
        fatal("sluice: publish: {}", r.error().what());
      loan_.reset();
    }

   private:
    Domain domain_;
    BytePublisher pub_;
    std::optional<Loan> loan_;
  };

  class Receiver {
   public:
    Receiver(Domain d, ByteSubscriber s) : domain_(std::move(d)), sub_(std::move(s)) {}
    std::optional<std::span<const std::byte>> try_receive() {
      auto s = sub_.try_receive();
      if (!s) {
        if (s.error().code() == Errc::would_block) return std::nullopt;
        fatal("sluice: receive: {}", s.error().what());
      }
      held_ = std::move(s).value();
      return held_.bytes();
    }
    std::span<const std::byte> receive() {
      for (;;) {
        auto s = sub_.receive_for(10s);
        if (s) {
          held_ = std::move(s).value();
          return held_.bytes();
        }
        if (s.error().code() != Errc::timed_out) fatal("sluice: receive: {}", s.error().what());
      }
    }
    void release() noexcept { held_.release(); }

   private:
    Domain domain_;
    ByteSubscriber sub_;
    Sample held_;
  };

  class Link {
   public:
    Link(std::string domain, LinkSpec spec) : domain_(std::move(domain)), spec_(std::move(spec)) {}
    Link(Link&& o) noexcept
        : domain_(std::move(o.domain_)), spec_(std::move(o.spec_)), owner_(o.owner_) {
      o.owner_ = false;
    }
    Link& operator=(Link&&) = delete;
    ~Link() {
      if (owner_ && ::getpid() == creator_) (void)Domain::remove(domain_);
    }

    Result<Sender> open_sender() {
      SLUICE_TRY_ASSIGN(Domain d, Domain::open(domain_));
      SLUICE_TRY_ASSIGN(BytePublisher p, BytePublisher::create(d, "link", channel_options(spec_)));
      // Pub/sub delivers to the subscribers attached when a message is
      // published: wait for all of them (they attach before the start barrier).
      for (int i = 0; i < 20000 && p.subscriber_count() < spec_.receivers; ++i)
        std::this_thread::sleep_for(1ms);
      if (p.subscriber_count() < spec_.receivers)
        return fail(Errc::timed_out, "sluice: {} of {} receivers attached", p.subscriber_count(),
                    spec_.receivers);
      return Sender(std::move(d), std::move(p));
    }
    Result<Receiver> open_receiver(std::uint32_t) {
      SLUICE_TRY_ASSIGN(Domain d, Domain::open(domain_));
      SLUICE_TRY_ASSIGN(ByteSubscriber s,
                        ByteSubscriber::create(d, "link", {}, channel_options(spec_)));
      return Receiver(std::move(d), std::move(s));
    }

   private:
    std::string domain_;
    LinkSpec spec_;
    bool owner_ = true;
    pid_t creator_ = ::getpid();
  };

  static Result<Link> create_link(const LinkSpec& spec) {
    const std::string name = fmt::format("sluice-bench-{}-{}", ::getpid(), spec.name);
    (void)Domain::remove(name);  // a previous run killed before cleaning up
    SLUICE_TRY_ASSIGN(Domain d, Domain::create(name, domain_options(spec)));
    // Create the channel now, so that it exists before either side opens it.
    SLUICE_TRY(ByteSubscriber::create(d, "link", {}, channel_options(spec)));
    return Link(name, spec);
  }
};

}  // namespace
}  // namespace sluice::bench

SLUICE_BENCH_REGISTER_TRANSPORT(sluice::bench::SluiceTransport);
