#pragma once
// Zero-copy channels.
//
// Pub/sub: one publisher at a time (a restarted publisher takes over the
// slot of a dead one), up to 64 subscribers, each with its own descriptor
// ring; a sample is freed when its last holder releases it.
// Queue: many senders, one receiver, one ring; messages wait in the ring
// when the receiver is away.
//
//   auto loan = pub.loan(1024);             // writable bytes inside the segment
//   fill(loan->bytes());
//   pub.publish(std::move(*loan));          // one descriptor per subscriber
//   auto s = sub.receive_for(10ms);         // read-only view of the same bytes
//   use(s->bytes());                        // released when `s` goes away
//
// Payloads of at most 32 bytes travel inside the descriptor (no chunk).
// Hot paths (loan, publish, try_receive, release) make no system call, take
// no lock and allocate nothing, except the futex wake when the other side
// is blocked, and a datagram when it waits on its notification fd.
// Endpoints are movable, not copyable, and used by one thread at a time.

#include <sluice/alloc/chunk.hpp>
#include <sluice/base/result.hpp>
#include <sluice/channel/control.hpp>
#include <sluice/channel/domain.hpp>
#include <sluice/ring/descriptor.hpp>

#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sluice {

// A channel's configuration. The first endpoint creates the channel with the
// fields it sets and the defaults (kDefault*) for the others. An endpoint
// that attaches to an existing channel adopts its configuration: a field it
// leaves unset is taken from the channel, a field it sets is a requirement,
// and a difference is a config_mismatch error naming the field and both
// values. publish_timeout belongs to the endpoint, never to the channel.
struct ChannelOptions {
  static constexpr std::uint64_t kDefaultCapacity = 256;
  static constexpr std::uint32_t kDefaultMaxSubscribers = 8;
  static constexpr std::uint32_t kDefaultMaxSenders = 8;
  static constexpr std::uint32_t kDefaultMaxHeld = 64;

  std::optional<std::uint64_t> capacity;      // descriptors per ring, rounded up to a power of two
  std::optional<channel::FullPolicy> policy;  // default block
  std::optional<std::uint64_t> history;       // last N samples kept for late joiners (pub/sub)
  std::optional<std::uint32_t> max_subscribers;  // pub/sub, at most 64
  std::optional<std::uint32_t> max_senders;      // queue producers
  std::optional<std::uint32_t> max_held;         // samples one subscriber may hold at once
  std::chrono::nanoseconds publish_timeout = std::chrono::seconds(1);  // block policy
};

struct SubscribeOptions {
  std::uint64_t history = 0;  // replay up to this many retained samples first
};

namespace channel {
class ChannelCore;
struct PublisherState;
struct SubscriberState;
struct Access;  // the implementation's view of Loan and Sample internals
// Endpoint states outlive their endpoint object while loans / samples are
// out; these deleters hand them over instead of deleting.
struct PublisherRelease {
  void operator()(PublisherState* s) const noexcept;
};
struct SubscriberRelease {
  void operator()(SubscriberState* s) const noexcept;
};
}  // namespace channel

// A writable sample, loaned from the channel's domain. Dropping it returns
// its memory unpublished. A loan belongs to its publisher's thread (as the
// publisher does); it may outlive the publisher object, which then stays
// alive behind the scenes until the last loan is gone.
class Loan {
 public:
  Loan() = default;
  Loan(Loan&& o) noexcept;
  Loan& operator=(Loan&& o) noexcept;
  Loan(const Loan&) = delete;
  Loan& operator=(const Loan&) = delete;
  ~Loan();

  [[nodiscard]] std::span<std::byte> bytes() noexcept { return {data_, size_}; }
  [[nodiscard]] std::byte* data() noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  // Publishes only the first `n` bytes (n <= size()).
  void shrink(std::size_t n) noexcept {
    if (n < size_) size_ = n;
  }
  [[nodiscard]] bool valid() const noexcept { return pub_ != nullptr; }

 private:
  friend struct channel::Access;
  channel::PublisherState* pub_ = nullptr;  // counts us among its outstanding loans
  alloc::ChunkRef ref_{};
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  bool inline_ = false;
  bool owner_ = false;  // holds a chunk reference to drop
  alignas(8) std::byte inline_buf_[ring::Descriptor::kInlineCapacity]{};
  void reset() noexcept;
};

// A received sample: read-only bytes in the segment (or inline). Holding it
// keeps the chunk alive; dropping it releases the reference. A sample is not
// tied to a thread: it may be moved to and released on any thread,
// concurrently with other samples and with its subscriber's receive calls
// (the held-record free list is lock-free; one atomic reference on the
// subscriber's state per chunk sample, none for inline ones). It may outlive
// the subscriber object, whose state then stays alive until the last sample
// is released. One sample object is still used by one thread at a time.
class Sample {
 public:
  Sample() = default;
  Sample(Sample&& o) noexcept;
  Sample& operator=(Sample&& o) noexcept;
  Sample(const Sample&) = delete;
  Sample& operator=(const Sample&) = delete;
  ~Sample();

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  [[nodiscard]] const std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::uint64_t sequence() const noexcept { return desc_.sequence; }
  [[nodiscard]] bool from_history() const noexcept {
    return (desc_.flags & ring::Descriptor::kHistory) != 0;
  }
  // Releases now (the destructor does the same).
  void release() noexcept;

 private:
  friend struct channel::Access;
  channel::SubscriberState* owner_ = nullptr;
  ring::Descriptor desc_{};
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::uint32_t held_index_ = UINT32_MAX;
};

// Counters for tools and tests (a snapshot of relaxed atomics).
struct EndpointStats {
  std::uint64_t messages = 0;
  std::uint64_t dropped = 0;
  std::uint64_t held = 0;
};

class BytePublisher {
 public:
  // Creates the channel or attaches to it (adopting its configuration; the
  // fields `options` sets are requirements, see ChannelOptions), and takes
  // the publisher slot: another live publisher is an error; a dead one's
  // slot is taken over.
  static Result<BytePublisher> create(const Domain& domain, std::string_view name,
                                      const ChannelOptions& options = {});
  BytePublisher();
  BytePublisher(BytePublisher&&) noexcept;
  BytePublisher& operator=(BytePublisher&&) noexcept;
  ~BytePublisher();

  // Writable bytes for one message of `size` bytes (0 .. the heap's largest
  // chunk). out_of_memory is retryable.
  Result<Loan> loan(std::size_t size) noexcept;
  // Hands the loan to every subscriber. On failure (queue_full, timed_out)
  // the loan is left with the caller, unpublished.
  Result<void> publish(Loan&& loan) noexcept;
  // Publishes a batch: one wake-up check per subscriber for all of them.
  // Returns how many were published (a prefix); the rest stay loaned.
  Result<std::size_t> publish_batch(std::span<Loan> loans) noexcept;
  // Copies `bytes` into a loan and publishes it.
  Result<void> send(std::span<const std::byte> bytes) noexcept;

  // The fastest path for small messages (size <= 32 bytes, which travel
  // inside the descriptor): fill(i, bytes) writes message i of `count`
  // straight into its descriptor, with no Loan objects, and each group of up
  // to 64 goes out with one ring store per subscriber. Returns how many were
  // published (with the fail policy, possibly fewer). fill must not throw.
  template <typename Fill>
  Result<std::size_t> publish_small(std::size_t count, std::size_t size, Fill&& fill) noexcept;

  [[nodiscard]] std::uint32_t subscriber_count() const noexcept;
  [[nodiscard]] EndpointStats stats() const noexcept;
  [[nodiscard]] const std::string& channel_name() const noexcept;

 protected:
  template <typename T>
  friend class Publisher;
  std::unique_ptr<channel::PublisherState, channel::PublisherRelease> s_;
};

class ByteSubscriber {
 public:
  static Result<ByteSubscriber> create(const Domain& domain, std::string_view name,
                                       const SubscribeOptions& sub = {},
                                       const ChannelOptions& options = {});
  ByteSubscriber();
  ByteSubscriber(ByteSubscriber&&) noexcept;
  ByteSubscriber& operator=(ByteSubscriber&&) noexcept;
  ~ByteSubscriber();

  // would_block when nothing is waiting. corrupted if a descriptor fails
  // validation (the message is skipped, the channel goes on).
  Result<Sample> try_receive() noexcept;
  // Spins briefly (adaptive), then sleeps on a shared futex until a message
  // arrives or `timeout` passes (timed_out).
  Result<Sample> receive_for(std::chrono::nanoseconds timeout) noexcept;
  // Up to out.size() messages.
  Result<std::size_t> try_receive_batch(std::span<Sample> out) noexcept;

  // The fastest path: hands up to `max` waiting messages to
  // fn(std::span<const std::byte>) with no Sample objects, popping them in
  // groups with one ring store each. The bytes are valid only during the
  // call (copy what must outlive it, or use try_receive). Returns how many
  // (0 when nothing was waiting). fn must not throw.
  template <typename Fn>
  Result<std::size_t> receive_each(std::size_t max, Fn&& fn) noexcept;

  // A file descriptor that becomes readable when a message arrives, for
  // epoll / asio / libuv loops. Edge-style: call try_receive until
  // would_block, then wait on the fd again. Works between unrelated
  // processes (abstract Unix datagram socket; nothing left after a crash).
  Result<int> notification_fd();

  [[nodiscard]] bool has_data_hint() const noexcept;
  [[nodiscard]] EndpointStats stats() const noexcept;
  [[nodiscard]] const std::string& channel_name() const noexcept;

 protected:
  friend class WaitSet;
  template <typename T>
  friend class Subscriber;
  std::unique_ptr<channel::SubscriberState, channel::SubscriberRelease> s_;
};

// Typed channels: T is trivially copyable (checked at compile time); its
// identity is checked when an endpoint attaches. The id is the same whatever
// compiler built each side, and another language can compute it:
//
//   type_id<T> = FNV-1a-64(name) ^ (sizeof(T) << 48) ^ (alignof(T) << 40)
//
// where `name` is T::sluice_type_name when T declares one, e.g.
//   struct Pose { static constexpr const char* sluice_type_name = "robot.Pose/1"; ... };
// (recommended: it survives renames and is what other languages use), and
// otherwise, for arithmetic types, "i8".."i64", "u8".."u64", "f32", "f64",
// "bool", and for other types T's fully qualified C++ name ("robot::Pose",
// "(anonymous namespace)::Pose"; g++'s "{anonymous}" spelling is normalised
// to clang's). Template arguments are spelled as the compiler prints them,
// which can differ for integer types: declare a name for such types.
namespace detail {

template <typename T>
concept DeclaresTypeName = requires {
  { T::sluice_type_name } -> std::convertible_to<std::string_view>;
};

template <typename T>
constexpr std::string_view compiler_type_name() noexcept {
  // g++: "... type_name() [with T = X; std::string_view = ...]"
  // clang: "... type_name() [T = X]"
  constexpr std::string_view f = __PRETTY_FUNCTION__;
  constexpr std::size_t at = f.find("T = ") + 4;
  constexpr std::size_t end = f.find_first_of(";]", at);
  return f.substr(at, end - at);
}

constexpr std::uint64_t fnv1a_step(std::uint64_t h, std::string_view s) noexcept {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// FNV-1a of `name` with every "{anonymous}" read as "(anonymous namespace)".
constexpr std::uint64_t normalised_name_hash(std::string_view name) noexcept {
  constexpr std::string_view gcc_anon = "{anonymous}";
  std::uint64_t h = 0xcbf29ce484222325ULL;
  while (!name.empty()) {
    if (name.substr(0, gcc_anon.size()) == gcc_anon) {
      h = fnv1a_step(h, "(anonymous namespace)");
      name.remove_prefix(gcc_anon.size());
    } else {
      h = fnv1a_step(h, name.substr(0, 1));
      name.remove_prefix(1);
    }
  }
  return h;
}

// Arithmetic types by width, as compilers spell them differently ("long
// unsigned int" / "unsigned long").
template <typename T>
constexpr std::string_view arithmetic_name() noexcept {
  if constexpr (std::is_same_v<T, bool>)
    return "bool";
  else if constexpr (std::is_floating_point_v<T>)
    return sizeof(T) == 4 ? "f32" : sizeof(T) == 8 ? "f64" : "f128";
  else if constexpr (std::is_signed_v<T>)
    return sizeof(T) == 1 ? "i8" : sizeof(T) == 2 ? "i16" : sizeof(T) == 4 ? "i32" : "i64";
  else
    return sizeof(T) == 1 ? "u8" : sizeof(T) == 2 ? "u16" : sizeof(T) == 4 ? "u32" : "u64";
}

}  // namespace detail

template <typename T>
constexpr std::string_view type_name() noexcept {
  if constexpr (detail::DeclaresTypeName<T>) {
    return std::string_view(T::sluice_type_name);
  } else if constexpr (std::is_arithmetic_v<T>) {
    return detail::arithmetic_name<T>();
  } else {
    return detail::compiler_type_name<T>();
  }
}

template <typename T>
constexpr std::uint64_t type_id() noexcept {
  return detail::normalised_name_hash(type_name<T>()) ^ (std::uint64_t{sizeof(T)} << 48) ^
         (std::uint64_t{alignof(T)} << 40);
}

template <typename T>
class TypedLoan {
 public:
  explicit TypedLoan(Loan&& l) : loan_(std::move(l)) {}
  T* get() noexcept { return reinterpret_cast<T*>(loan_.data()); }
  T* operator->() noexcept { return get(); }
  T& operator*() noexcept { return *get(); }
  Loan& raw() noexcept { return loan_; }

 private:
  Loan loan_;
};

template <typename T>
class TypedSample {
 public:
  explicit TypedSample(Sample&& s) : sample_(std::move(s)) {}
  const T* get() const noexcept { return reinterpret_cast<const T*>(sample_.data()); }
  const T* operator->() const noexcept { return get(); }
  const T& operator*() const noexcept { return *get(); }
  [[nodiscard]] std::uint64_t sequence() const noexcept { return sample_.sequence(); }
  Sample& raw() noexcept { return sample_; }

 private:
  Sample sample_;
};

namespace channel {
// Creates or attaches to a channel and takes an endpoint slot (the typed
// endpoints below call these with T's size and id).
Result<void> open_publisher(std::unique_ptr<PublisherState, PublisherRelease>& out,
                            const Domain& domain, std::string_view name,
                            const ChannelOptions& options, Kind kind, std::uint64_t element_size,
                            std::uint64_t type_id);
Result<void> open_subscriber(std::unique_ptr<SubscriberState, SubscriberRelease>& out,
                             const Domain& domain, std::string_view name,
                             const SubscribeOptions& sub, const ChannelOptions& options, Kind kind,
                             std::uint64_t element_size, std::uint64_t type_id);
}  // namespace channel

// A typed publisher: loans, publishes and sends T and nothing else (it holds
// a byte publisher; it is not one, so untyped bytes cannot go out on a typed
// channel).
template <typename T>
class Publisher {
  static_assert(std::is_trivially_copyable_v<T>, "channel payloads must be trivially copyable");
  static_assert(alignof(T) <= 64, "payloads are 64-byte aligned at most");

 public:
  static Result<Publisher> create(const Domain& domain, std::string_view name,
                                  const ChannelOptions& options = {}) {
    Publisher p;
    SLUICE_TRY(channel::open_publisher(p.bytes_.s_, domain, name, options, channel::Kind::pubsub,
                                       sizeof(T), type_id<T>()));
    return p;
  }
  Result<TypedLoan<T>> loan() noexcept {
    SLUICE_TRY_ASSIGN(Loan l, bytes_.loan(sizeof(T)));
    return TypedLoan<T>(std::move(l));
  }
  Result<void> publish(TypedLoan<T>&& l) noexcept { return bytes_.publish(std::move(l.raw())); }
  Result<void> send(const T& value) noexcept {
    return bytes_.send({reinterpret_cast<const std::byte*>(&value), sizeof(T)});
  }
  [[nodiscard]] std::uint32_t subscriber_count() const noexcept {
    return bytes_.subscriber_count();
  }
  [[nodiscard]] EndpointStats stats() const noexcept { return bytes_.stats(); }
  [[nodiscard]] const std::string& channel_name() const noexcept { return bytes_.channel_name(); }

 private:
  BytePublisher bytes_;
};

// A typed subscriber: receives T (it holds a byte subscriber).
template <typename T>
class Subscriber {
  static_assert(std::is_trivially_copyable_v<T>, "channel payloads must be trivially copyable");

 public:
  static Result<Subscriber> create(const Domain& domain, std::string_view name,
                                   const SubscribeOptions& sub = {},
                                   const ChannelOptions& options = {}) {
    Subscriber s;
    SLUICE_TRY(channel::open_subscriber(s.bytes_.s_, domain, name, sub, options,
                                        channel::Kind::pubsub, sizeof(T), type_id<T>()));
    return s;
  }
  Result<TypedSample<T>> try_receive() noexcept {
    SLUICE_TRY_ASSIGN(Sample s, bytes_.try_receive());
    return TypedSample<T>(std::move(s));
  }
  Result<TypedSample<T>> receive_for(std::chrono::nanoseconds timeout) noexcept {
    SLUICE_TRY_ASSIGN(Sample s, bytes_.receive_for(timeout));
    return TypedSample<T>(std::move(s));
  }
  Result<int> notification_fd() { return bytes_.notification_fd(); }
  [[nodiscard]] bool has_data_hint() const noexcept { return bytes_.has_data_hint(); }
  [[nodiscard]] EndpointStats stats() const noexcept { return bytes_.stats(); }
  [[nodiscard]] const std::string& channel_name() const noexcept { return bytes_.channel_name(); }

 private:
  friend class WaitSet;
  ByteSubscriber bytes_;
};

// Point-to-point queue: many senders, one receiver.
class QueueSender {
 public:
  static Result<QueueSender> create(const Domain& domain, std::string_view name,
                                    const ChannelOptions& options = {});
  QueueSender();
  QueueSender(QueueSender&&) noexcept;
  QueueSender& operator=(QueueSender&&) noexcept;
  ~QueueSender();
  Result<Loan> loan(std::size_t size) noexcept;
  Result<void> send(Loan&& loan) noexcept;
  Result<void> send(std::span<const std::byte> bytes) noexcept;
  [[nodiscard]] EndpointStats stats() const noexcept;

 private:
  std::unique_ptr<channel::PublisherState, channel::PublisherRelease> s_;
};

class QueueReceiver {
 public:
  // Takes the receiver slot (one per queue; a dead receiver's is taken over).
  static Result<QueueReceiver> create(const Domain& domain, std::string_view name,
                                      const ChannelOptions& options = {});
  QueueReceiver();
  QueueReceiver(QueueReceiver&&) noexcept;
  QueueReceiver& operator=(QueueReceiver&&) noexcept;
  ~QueueReceiver();
  Result<Sample> try_receive() noexcept;
  Result<Sample> receive_for(std::chrono::nanoseconds timeout) noexcept;
  Result<int> notification_fd();
  [[nodiscard]] bool has_data_hint() const noexcept;
  [[nodiscard]] EndpointStats stats() const noexcept;

 private:
  friend class WaitSet;
  std::unique_ptr<channel::SubscriberState, channel::SubscriberRelease> s_;
};

// Waits on many subscribers / receivers at once (epoll over their
// notification fds). A wait set holds a reference to each member's state,
// not to the endpoint object: moving or destroying a subscriber after adding
// it is safe (a destroyed one stays subscribed until the wait set goes).
class WaitSet {
 public:
  static Result<WaitSet> create();
  WaitSet() = default;
  WaitSet(WaitSet&&) noexcept;
  WaitSet& operator=(WaitSet&&) noexcept;
  ~WaitSet();
  // Adds an endpoint; `key` comes back from wait() when it has data.
  Result<void> add(ByteSubscriber& sub, std::uint64_t key);
  Result<void> add(QueueReceiver& receiver, std::uint64_t key);
  template <typename T>
  Result<void> add(Subscriber<T>& sub, std::uint64_t key) {
    return add(sub.bytes_, key);
  }
  // Keys of endpoints that have data (at least one), or timed_out.
  Result<std::vector<std::uint64_t>> wait(std::chrono::nanoseconds timeout);

 private:
  struct Member {
    std::uint64_t key;
    channel::SubscriberState* state;  // one reference held
  };
  Result<void> add_state(channel::SubscriberState* state, std::uint64_t key);
  void clear() noexcept;
  int epoll_fd_ = -1;
  std::vector<Member> members_;
};

// A channel as seen from `sluice inspect`.
struct ChannelInfo {
  std::string name;
  channel::Kind kind{};
  channel::FullPolicy policy{};
  std::uint64_t capacity = 0;
  std::uint64_t history = 0;
  std::uint64_t element_size = 0;
  std::uint64_t published = 0;
  std::int32_t last_publisher_pid = 0;
  std::int32_t last_subscriber_pid = 0;
  struct Endpoint {
    std::uint32_t slot;
    bool publisher;
    std::int32_t pid;
    std::uint32_t peer;
    std::uint64_t messages, dropped, held, queued;
  };
  std::vector<Endpoint> endpoints;
};
Result<std::vector<ChannelInfo>> list_channels(const layout::Segment& segment);

// -- template definitions ----------------------------------------------------

namespace channel {

struct HeldView {
  const std::byte* data;
  std::uint32_t index;
};
Result<std::size_t> publish_inline(PublisherState& s, std::span<ring::Descriptor> items) noexcept;
Result<std::size_t> pop_descriptors(SubscriberState& s, std::span<ring::Descriptor> out) noexcept;
Result<HeldView> hold(SubscriberState& s, const ring::Descriptor& d) noexcept;
void unhold(SubscriberState& s, const ring::Descriptor& d, std::uint32_t index) noexcept;
}  // namespace channel

template <typename Fill>
Result<std::size_t> BytePublisher::publish_small(std::size_t count, std::size_t size,
                                                 Fill&& fill) noexcept {
  if (size > ring::Descriptor::kInlineCapacity)
    return fail(Errc::invalid_argument, "publish_small: {} bytes exceed the {}-byte inline area",
                size, ring::Descriptor::kInlineCapacity);
  std::array<ring::Descriptor, 64> group;
  std::size_t done = 0;
  while (done < count) {
    const std::size_t n = std::min(group.size(), count - done);
    for (std::size_t k = 0; k < n; ++k) {
      ring::Descriptor& d = group[k];
      std::memset(d.inline_data, 0, sizeof d.inline_data);
      d.length = static_cast<std::uint32_t>(size);
      d.tag = 0;
      fill(done + k, std::span<std::byte>(d.inline_data, size));
    }
    auto sent = channel::publish_inline(*s_, std::span<ring::Descriptor>(group.data(), n));
    if (!sent) {
      if (done > 0) return done;
      return fail(std::move(sent).error());
    }
    done += *sent;
    if (*sent < n) break;
  }
  return done;
}

template <typename Fn>
Result<std::size_t> ByteSubscriber::receive_each(std::size_t max, Fn&& fn) noexcept {
  std::array<ring::Descriptor, 32> group;
  std::size_t total = 0;
  while (total < max) {
    const std::size_t want = std::min(group.size(), max - total);
    SLUICE_TRY_ASSIGN(
        const std::size_t n,
        channel::pop_descriptors(*s_, std::span<ring::Descriptor>(group.data(), want)));
    for (std::size_t k = 0; k < n; ++k) {
      const ring::Descriptor& d = group[k];
      if (d.is_inline()) {
        fn(d.inline_payload());
        continue;
      }
      auto held = channel::hold(*s_, d);
      if (!held) continue;  // names no live chunk: nothing to deliver or release
      fn(std::span<const std::byte>(held->data, d.length));
      channel::unhold(*s_, d, held->index);
    }
    total += n;
    if (n < want) break;
  }
  return total;
}

}  // namespace sluice
