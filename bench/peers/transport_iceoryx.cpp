// iceoryx 2.0.3 (Debian packages iceoryx, libiceoryx-posh-dev): zero-copy
// publish/subscribe through RouDi's shared-memory pools.
//
// The untyped publisher/subscriber of the iox::popo API (the typed
// Publisher<T> needs a size known at compile time; the payloads here vary):
// loan() a chunk from RouDi's mempools, write into it, publish(); the
// subscriber take()s a pointer to the same chunk and release()s it. Lossless:
// publishers wait for a full subscriber queue (WAIT_FOR_CONSUMER /
// BLOCK_PRODUCER). Blocking receivers sleep in a WaitSet attached to the
// subscriber's HAS_DATA state. Fan-out is native: one publisher, N
// subscribers of the same service.
//
// RouDi must be running with mempools for every payload size
// (bench/peers/roudi.toml; bench/peers/with_roudi.sh starts one in private
// mount and IPC namespaces).

#include "common/registry.hpp"
#include "common/system.hpp"

#include <iceoryx_hoofs/log/logmanager.hpp>
#include <iceoryx_posh/iceoryx_posh_types.hpp>
#include <iceoryx_posh/mepoo/chunk_header.hpp>
#include <iceoryx_posh/popo/untyped_publisher.hpp>
#include <iceoryx_posh/popo/untyped_subscriber.hpp>
#include <iceoryx_posh/popo/wait_set.hpp>
#include <iceoryx_posh/runtime/posh_runtime.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <thread>

namespace sluice::bench {
namespace {

// Where iceoryx 2.0 puts RouDi's Unix socket (IOX_UDS_SOCKET_PATH_PREFIX).
constexpr const char* kRoudiSocket = "/tmp/roudi";
constexpr std::uint64_t kLoanTimeoutNs = 10'000'000'000ULL;

iox::capro::IdString_t id(std::string_view s) {
  return iox::capro::IdString_t(iox::cxx::TruncateToCapacity, s.data(), s.size());
}

iox::capro::ServiceDescription service_for(const std::string& link) {
  return {id("sluice-bench"), id(link), id("data")};
}

class IceoryxTransport {
 public:
  static TransportInfo info() {
    TransportInfo i;
    i.name = "iceoryx";
    i.label = "iceoryx 2.0.3";
    i.description =
        "iceoryx 2.0.3 UntypedPublisher/UntypedSubscriber: loan, write in place, publish; take, "
        "release; WaitSet for blocking; WAIT_FOR_CONSUMER / BLOCK_PRODUCER";
    i.order = 20;
    return i;
  }

  static Result<void> init_process(std::string_view name) {
    // iceoryx logs every connection at info level; keep warnings only.
    iox::log::LogManager::GetLogManager().SetDefaultLogLevel(
        iox::log::LogLevel::kWarn, iox::log::LogLevelOutput::kHideLogLevel);
    iox::runtime::PoshRuntime::initRuntime(
        iox::RuntimeName_t(iox::cxx::TruncateToCapacity, name.data(), name.size()));
    return ok();
  }

  class Sender {
   public:
    explicit Sender(std::unique_ptr<iox::popo::UntypedPublisher> pub) : pub_(std::move(pub)) {}
    Sender(Sender&& o) noexcept
        : pub_(std::move(o.pub_)), loaned_(std::exchange(o.loaned_, nullptr)) {}
    Sender& operator=(Sender&&) = delete;
    Sender(const Sender&) = delete;
    Sender& operator=(const Sender&) = delete;
    ~Sender() {
      if (loaned_) pub_->release(loaned_);
    }

    std::span<std::byte> loan(std::size_t bytes) {
      // The pools can be momentarily empty while a subscriber still holds
      // chunks; wait for one to come back rather than fail.
      std::uint64_t deadline = 0;
      for (;;) {
        auto r = pub_->loan(static_cast<std::uint32_t>(bytes));
        if (!r.has_error()) {
          loaned_ = r.value();
          return {static_cast<std::byte*>(loaned_), bytes};
        }
        const auto err = r.get_error();
        if (err != iox::popo::AllocationError::RUNNING_OUT_OF_CHUNKS) {
          fatal("iceoryx: loan {} bytes: {}", bytes, iox::popo::asStringLiteral(err));
        }
        const std::uint64_t now = now_ns();
        if (deadline == 0) deadline = now + kLoanTimeoutNs;
        if (now > deadline) fatal("iceoryx: loan {} bytes: out of chunks for 10 s", bytes);
        std::this_thread::yield();
      }
    }
    void send(std::span<std::byte> msg) {
      pub_->publish(msg.data());
      loaned_ = nullptr;
    }

   private:
    std::unique_ptr<iox::popo::UntypedPublisher> pub_;
    void* loaned_ = nullptr;
  };

  class Receiver {
   public:
    Receiver(std::unique_ptr<iox::popo::UntypedSubscriber> sub,
             std::unique_ptr<iox::popo::WaitSet<>> waitset)
        : sub_(std::move(sub)), waitset_(std::move(waitset)) {}
    Receiver(Receiver&& o) noexcept
        : sub_(std::move(o.sub_)),
          waitset_(std::move(o.waitset_)),
          held_(std::exchange(o.held_, nullptr)) {}
    Receiver& operator=(Receiver&&) = delete;
    Receiver(const Receiver&) = delete;
    Receiver& operator=(const Receiver&) = delete;
    ~Receiver() {
      if (held_) sub_->release(held_);
      waitset_.reset();  // detaches from the subscriber before it goes
    }

    Result<void> wait_connected(std::uint64_t deadline_ns) {
      while (sub_->getSubscriptionState() != iox::SubscribeState::SUBSCRIBED) {
        if (now_ns() > deadline_ns) {
          return fail(Errc::timed_out,
                      "iceoryx: subscriber not connected to its publisher in time");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      return ok();
    }

    std::optional<std::span<const std::byte>> try_receive() {
      auto r = sub_->take();
      if (r.has_error()) {
        if (r.get_error() == iox::popo::ChunkReceiveResult::NO_CHUNK_AVAILABLE) return std::nullopt;
        fatal("iceoryx: take: too many chunks held");
      }
      held_ = r.value();
      const auto* header = iox::mepoo::ChunkHeader::fromUserPayload(held_);
      return std::span<const std::byte>(static_cast<const std::byte*>(held_),
                                        header->userPayloadSize());
    }
    std::span<const std::byte> receive() {
      for (;;) {
        if (auto m = try_receive()) return *m;
        (void)waitset_->wait();
      }
    }
    void release() noexcept {
      sub_->release(held_);
      held_ = nullptr;
    }

   private:
    std::unique_ptr<iox::popo::UntypedSubscriber> sub_;
    std::unique_ptr<iox::popo::WaitSet<>> waitset_;
    const void* held_ = nullptr;
  };

  class Link {
   public:
    explicit Link(const LinkSpec& spec) : spec_(spec) {}

    Result<Sender> open_sender() {
      iox::popo::PublisherOptions options;
      options.historyCapacity = 0;
      options.subscriberTooSlowPolicy = iox::popo::ConsumerTooSlowPolicy::WAIT_FOR_CONSUMER;
      return Sender(
          std::make_unique<iox::popo::UntypedPublisher>(service_for(spec_.name), options));
    }
    Result<Receiver> open_receiver(std::uint32_t) {
      iox::popo::SubscriberOptions options;
      options.queueCapacity =
          std::min<std::uint64_t>(spec_.depth, iox::MAX_SUBSCRIBER_QUEUE_CAPACITY);
      options.historyRequest = 0;
      options.queueFullPolicy = iox::popo::QueueFullPolicy::BLOCK_PRODUCER;
      auto sub = std::make_unique<iox::popo::UntypedSubscriber>(service_for(spec_.name), options);
      std::unique_ptr<iox::popo::WaitSet<>> waitset;
      if (spec_.wait == Wait::blocking) {
        waitset = std::make_unique<iox::popo::WaitSet<>>();
        if (waitset->attachState(*sub, iox::popo::SubscriberState::HAS_DATA).has_error()) {
          return fail(Errc::internal, "iceoryx: cannot attach the subscriber to a WaitSet");
        }
      }
      return Receiver(std::move(sub), std::move(waitset));
    }

   private:
    LinkSpec spec_;
  };

  static Result<Link> create_link(const LinkSpec& spec) {
    struct stat st {};
    if (::stat(kRoudiSocket, &st) != 0) {
      return fail(Errc::not_found,
                  "iceoryx: no RouDi ({} missing); run under bench/peers/with_roudi.sh",
                  kRoudiSocket);
    }
    if (spec.max_payload > UINT32_MAX)
      return fail(Errc::not_supported, "iceoryx: payload over 4 GiB");
    return Link(spec);
  }
};

}  // namespace
}  // namespace sluice::bench

SLUICE_BENCH_REGISTER_TRANSPORT(sluice::bench::IceoryxTransport);
