// Boost.Interprocess message_queue: a bounded queue of fixed-size slots in a
// named shared-memory object, guarded by a process-shared mutex and
// condition variables (pthread, i.e. futexes, on Linux).
//
// Created by the parent with `depth` slots of `max_payload` bytes; each
// process opens it by name. send() copies the payload into a slot and
// receive() copies it out into the caller's buffer: two copies, both inside
// the measured time. Busy-polling receivers spin on try_receive(); blocking
// ones sleep in receive(). send() blocks while the queue is full. Fan-out:
// one queue per receiver (a message_queue hands each message to one
// receiver), the sender sends every message to each.

#include "common/registry.hpp"
#include "common/resources.hpp"

#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/version.hpp>

#include <memory>
#include <string>
#include <vector>

namespace sluice::bench {
namespace {

namespace bip = boost::interprocess;

class BoostMqTransport {
 public:
  static TransportInfo info() {
    TransportInfo i;
    i.name = "boost-mq";
    i.label = "Boost mq";
    i.description =
        "Boost.Interprocess message_queue (Boost " BOOST_LIB_VERSION
        ") per receiver: copy into a shared slot, copy out; process-shared mutex and condition";
    i.order = 30;
    return i;
  }

  class Sender {
   public:
    Sender(std::vector<std::unique_ptr<bip::message_queue>> queues, std::uint64_t max_payload)
        : queues_(std::move(queues)), buf_(max_payload) {}
    std::span<std::byte> loan(std::size_t bytes) noexcept { return {buf_.data(), bytes}; }
    void send(std::span<std::byte> msg) {
      try {
        for (auto& q : queues_) q->send(msg.data(), msg.size(), 0);
      } catch (const bip::interprocess_exception& e) {
        fatal("boost-mq: send: {}", e.what());
      }
    }

   private:
    std::vector<std::unique_ptr<bip::message_queue>> queues_;
    AlignedBuffer buf_;
  };

  class Receiver {
   public:
    Receiver(std::unique_ptr<bip::message_queue> queue, std::uint64_t max_payload)
        : queue_(std::move(queue)), buf_(max_payload) {}
    std::optional<std::span<const std::byte>> try_receive() {
      bip::message_queue::size_type got = 0;
      unsigned priority = 0;
      try {
        if (!queue_->try_receive(buf_.data(), buf_.size(), got, priority)) return std::nullopt;
      } catch (const bip::interprocess_exception& e) {
        fatal("boost-mq: try_receive: {}", e.what());
      }
      return std::span<const std::byte>(buf_.data(), got);
    }
    std::span<const std::byte> receive() {
      bip::message_queue::size_type got = 0;
      unsigned priority = 0;
      try {
        queue_->receive(buf_.data(), buf_.size(), got, priority);
      } catch (const bip::interprocess_exception& e) {
        fatal("boost-mq: receive: {}", e.what());
      }
      return {buf_.data(), got};
    }
    void release() noexcept {}

   private:
    std::unique_ptr<bip::message_queue> queue_;
    AlignedBuffer buf_;
  };

  class Link {
   public:
    Link(std::vector<std::string> names, std::uint64_t max_payload)
        : names_(std::move(names)), max_payload_(max_payload) {}
    Link(Link&& o) noexcept : names_(std::move(o.names_)), max_payload_(o.max_payload_) {
      o.names_.clear();
    }
    Link& operator=(Link&&) = delete;
    Link(const Link&) = delete;
    Link& operator=(const Link&) = delete;
    ~Link() {
      for (const auto& n : names_) bip::message_queue::remove(n.c_str());
    }

    Result<Sender> open_sender() {
      std::vector<std::unique_ptr<bip::message_queue>> queues;
      for (const auto& n : names_) {
        SLUICE_TRY_ASSIGN(auto q, open(n));
        queues.push_back(std::move(q));
      }
      return Sender(std::move(queues), max_payload_);
    }
    Result<Receiver> open_receiver(std::uint32_t index) {
      if (index >= names_.size())
        return fail(Errc::out_of_range, "boost-mq: no receiver {}", index);
      SLUICE_TRY_ASSIGN(auto q, open(names_[index]));
      return Receiver(std::move(q), max_payload_);
    }

   private:
    static Result<std::unique_ptr<bip::message_queue>> open(const std::string& name) {
      try {
        return std::make_unique<bip::message_queue>(bip::open_only, name.c_str());
      } catch (const bip::interprocess_exception& e) {
        return fail(Errc::not_found, "boost-mq: open '{}': {}", name, e.what());
      }
    }
    std::vector<std::string> names_;
    std::uint64_t max_payload_;
  };

  static Result<Link> create_link(const LinkSpec& spec) {
    std::vector<std::string> names;
    for (std::uint32_t i = 0; i < spec.receivers; ++i)
      names.push_back(fmt::format("{}-{}", spec.name, i));
    Link link(names, spec.max_payload);  // removes what was created if a later step fails
    for (const auto& n : names) {
      try {
        bip::message_queue::remove(n.c_str());
        bip::message_queue q(bip::create_only, n.c_str(), spec.depth, spec.max_payload);
      } catch (const bip::interprocess_exception& e) {
        return fail(Errc::system_error, "boost-mq: create '{}' ({} x {} bytes): {}", n, spec.depth,
                    spec.max_payload, e.what());
      }
    }
    return link;
  }
};

}  // namespace
}  // namespace sluice::bench

SLUICE_BENCH_REGISTER_TRANSPORT(sluice::bench::BoostMqTransport);
