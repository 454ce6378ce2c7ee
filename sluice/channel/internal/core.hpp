#pragma once
// Process-local state behind the channel API. Not part of the public API;
// shared by src/channel/*.cpp and the tools that inspect channels.

#include <sluice/alloc/heap.hpp>
#include <sluice/channel/channel.hpp>
#include <sluice/channel/control.hpp>
#include <sluice/channel/domain.hpp>
#include <sluice/layout/segment.hpp>
#include <sluice/ring/descriptor.hpp>
#include <sluice/ring/mpmc_ring.hpp>
#include <sluice/ring/spsc_ring.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

struct Domain::State {
  layout::Segment segment;
  alloc::Heap heap;
  alloc::PeerIndex peer = alloc::kNoPeer;
  std::mutex reclaim_mutex;  // one reclaim at a time in this process
};

namespace channel {

using DescRing = ring::SpscRing<ring::Descriptor>;
using QueueRing = ring::MpmcRing<ring::Descriptor>;

// One history entry: a seqlock (odd while the publisher rewrites it) and the
// descriptor, so a late joiner never takes a torn copy.
struct HistorySlot {
  std::atomic<std::uint64_t> version;
  std::uint8_t reserved[56];
  ring::Descriptor desc;
};
static_assert(sizeof(HistorySlot) == 128);

// The geometry a channel has for a given configuration: computed the same
// way by every process, so attaching compares it with what the control
// block says instead of trusting the block.
struct Geometry {
  Kind kind = Kind::pubsub;
  FullPolicy policy = FullPolicy::block;
  std::uint64_t capacity = 0;
  std::uint64_t history = 0;
  std::uint32_t max_subscribers = 0;
  std::uint32_t max_publishers = 0;
  std::uint32_t held_capacity = 0;
  std::uint64_t element_size = 0;
  std::uint64_t type_id = 0;
  // Offsets relative to the control block.
  std::uint64_t subscribers = 0, publishers = 0, held = 0, history_slots = 0, rings = 0;
  std::uint64_t ring_stride = 0, total = 0;
};
Result<Geometry> plan_channel(const ChannelOptions& options, Kind kind, std::uint64_t element_size,
                              std::uint64_t type_id);
layout::EntryConfig entry_config(const Geometry& g);
Result<Geometry> geometry_from_config(const layout::EntryConfig& config);

// One attachment of this process to a channel.
// The error of an endpoint used before create() gave it a channel.
inline Error unusable(std::string_view type) {
  return Error(Errc::invalid_argument,
               fmt::format("{0}: used without a channel (default-constructed or moved from; make "
                           "one with {0}::create)",
                           type));
}
// channel_name() of such an endpoint.
inline const std::string& no_name() {
  static const std::string empty;
  return empty;
}

class ChannelCore {
 public:
  // Creates the channel with `geometry` (planned from `asked`), or attaches
  // to the existing one when it meets the fields `asked` sets; `g` is then
  // the channel's own geometry.
  static Result<std::shared_ptr<ChannelCore>> open(const Domain& domain, std::string_view name,
                                                   const Geometry& geometry,
                                                   const ChannelOptions& asked);
  // Attaches to an existing channel without creating it (tools, reclaim).
  static Result<std::shared_ptr<ChannelCore>> attach_existing(
      const std::shared_ptr<Domain::State>& domain, const layout::EntryInfo& entry);
  ~ChannelCore();

  std::shared_ptr<Domain::State> domain;
  std::string name;
  layout::EntryRef entry;
  bool registered = false;  // holds a registry reference
  Geometry g;
  ChannelControl* ctl = nullptr;
  EndpointSlot* subs = nullptr;
  EndpointSlot* pubs = nullptr;
  HeldSlot* held = nullptr;
  HistorySlot* history = nullptr;
  std::byte* rings = nullptr;

  [[nodiscard]] std::byte* ring(std::uint32_t i) const noexcept {
    return rings + i * g.ring_stride;
  }
  [[nodiscard]] std::size_t ring_bytes() const noexcept {
    return static_cast<std::size_t>(g.ring_stride);
  }
  [[nodiscard]] HeldSlot* held_of(std::uint32_t sub) const noexcept {
    return held + std::uint64_t{sub} * g.held_capacity;
  }
  [[nodiscard]] alloc::Heap& heap() const noexcept { return domain->heap; }
  [[nodiscard]] alloc::PeerIndex peer() const noexcept { return domain->peer; }
  // Another process shrank the domain's shared memory under us (a SIGBUS
  // was absorbed): every operation reports the domain corrupted. One
  // relaxed load of process-local memory.
  [[nodiscard]] bool truncated() const noexcept { return domain->segment.truncated(); }
  [[nodiscard]] Error truncation_error() const { return domain->segment.truncation_error(); }

  // Is the process behind an endpoint slot alive? (pid + the start time
  // recorded in its domain peer slot.)
  [[nodiscard]] bool endpoint_alive(const EndpointSlot& slot) const noexcept;

  // Takes a free endpoint slot (or one whose owner died) in `table`.
  Result<std::uint32_t> claim_slot(EndpointSlot* table, std::uint32_t count, bool take_over_dead,
                                   std::string_view role);

  // Takes a slot for closing (EndpointState::closing with our pid): false if
  // it is free or another live process is closing it. A closer that died
  // half-way is taken over; every closing step records before it releases,
  // so a repeated step leaks at worst, never releases twice.
  bool claim_close(EndpointSlot& slot) noexcept;

  // Closes subscriber slot i of a dead (or departing) subscriber: stops
  // deliveries, returns queued and held samples, frees the slot. `by_publisher`:
  // the caller is the publisher (no need to wait for its own publish).
  std::uint32_t close_subscriber(std::uint32_t i, bool by_publisher) noexcept;
  // Returns the references a dead publisher had in flight; frees its slot.
  std::uint32_t close_publisher(std::uint32_t i) noexcept;
  // Drops the registry reference of a closed slot's owner if that was
  // another process (a dead one: its ChannelCore never detached).
  void detach_dead_owner(std::int32_t owner_pid) noexcept;

  // The history entry (number) that holds this chunk among those a publisher
  // may have been writing when it died, if any (close_publisher's question).
  [[nodiscard]] std::optional<std::uint64_t> history_find(std::uint64_t offset,
                                                          std::uint32_t generation,
                                                          std::uint32_t id) const noexcept;

  // Releases the chunk a descriptor names (nothing for inline ones).
  void release_descriptor(const ring::Descriptor& d) noexcept;
  // Nothing of the channel outlives its endpoints: a queue that still holds
  // messages is kept for the next receiver; a pub/sub channel's history
  // goes with it.
  [[nodiscard]] bool unused() const noexcept;
  // After the registry entry was freed: returns the history's references
  // and the control block itself to the heap.
  void release_block() noexcept;
  // Frees the channel if no endpoint holds it any more (reclamation, sweep).
  void free_if_unused() noexcept;

  // Wakes an endpoint whose `waiting` word had bits `w`.
  void wake(EndpointSlot& slot, std::uint32_t w) noexcept;
  // Wakes publishers blocked for room, if any.
  void wake_space_waiters() noexcept;

 private:
  Result<void> bind(std::uint64_t control_offset);
};

// Publisher side of a pub/sub channel or a queue sender.
struct PublisherState {
  std::shared_ptr<ChannelCore> ch;
  std::uint32_t slot = 0;
  std::chrono::nanoseconds timeout{0};
  // pub/sub: a producer view per subscriber slot, re-attached when the
  // slot's epoch changes.
  struct Out {
    std::uint64_t epoch = 0;
    DescRing::Producer producer;
  };
  std::vector<Out> outs;
  QueueRing queue;  // queue: the shared ring
  std::uint64_t sequence = 0;
  std::uint64_t history_count = 0;
  // Loans handed out and not yet published or dropped; when the publisher
  // object goes away first (`orphaned`), the last loan deletes this state.
  std::uint32_t outstanding = 0;
  bool orphaned = false;
  std::vector<ring::Descriptor> batch;  // inline descriptors of one publish_batch
  // A delivery that could not be made safely (the chunk's references could
  // not be set up): the messages were dropped and counted; publish returns it.
  std::optional<Error> delivery_error;
  bool slot_closed = false;
  void close_slot() noexcept;
  ~PublisherState();
};

// Free indices of a subscriber's held table. Popped only by the thread that
// uses the subscriber (receive), pushed by any thread (a sample is released
// wherever it is dropped): one consumer and many producers, so a pop never
// meets ABA (only the popper removes entries, and an index in the list is
// held by nobody, so nobody rewrites its link while it is there).
class HeldFreeList {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  // All of 0 .. capacity-1 free. Before any other thread sees the list.
  void reset(std::uint32_t capacity) {
    next_ = std::make_unique<std::atomic<std::uint32_t>[]>(capacity);
    for (std::uint32_t k = 0; k < capacity; ++k)
      next_[k].store(k + 1 < capacity ? k + 1 : kNone, std::memory_order_relaxed);
    head_.store(capacity > 0 ? 0 : kNone, std::memory_order_relaxed);
  }

  [[nodiscard]] bool empty() const noexcept {
    return head_.load(std::memory_order_acquire) == kNone;
  }
  // kNone when empty. Subscriber thread only.
  std::uint32_t pop() noexcept {
    std::uint32_t h = head_.load(std::memory_order_acquire);
    // SYNC: the acquire (load or failed CAS) observes the link that push()
    // stored before its release CAS.
    while (h != kNone &&
           !head_.compare_exchange_weak(h, next_[h].load(std::memory_order_relaxed),
                                        std::memory_order_acquire, std::memory_order_acquire)) {
    }
    return h;
  }
  // Any thread.
  void push(std::uint32_t index) noexcept {
    std::uint32_t h = head_.load(std::memory_order_relaxed);
    do {
      next_[index].store(h, std::memory_order_relaxed);
    } while (!head_.compare_exchange_weak(h, index, std::memory_order_release,
                                          std::memory_order_relaxed));
  }

 private:
  std::unique_ptr<std::atomic<std::uint32_t>[]> next_;
  std::atomic<std::uint32_t> head_{kNone};
};

struct SubscriberState {
  std::shared_ptr<ChannelCore> ch;
  std::uint32_t slot = 0;
  std::uint64_t epoch = 0;
  DescRing::Consumer consumer;  // pub/sub
  QueueRing queue;              // queue
  HeldSlot* held = nullptr;
  HeldFreeList free_held;                // popped by the subscriber's thread, pushed by any
  std::deque<ring::Descriptor> pending;  // history replay, delivered first
  std::uint64_t last_sequence = 0;       // pub/sub: dedupe after history
  bool have_last = false;
  int notify_socket = -1;        // bound abstract socket, once asked for
  std::uint64_t spin_ns = 4000;  // adaptive spin before sleeping
  // References to this state: one for the subscriber object, one per chunk
  // sample handed out and not yet released (inline samples carry their bytes
  // and need none). Samples may be released on any thread, so whoever drops
  // the last reference, the subscriber or a sample, deletes the state (and
  // closes the subscription).
  std::atomic<std::uint32_t> refs{1};
  void unref() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  // queue: an unwritten cell at head seen since (to skip a dead sender's)
  std::uint64_t stuck_pos = UINT64_MAX;
  std::uint64_t stuck_since_ns = 0;
  std::uint64_t skipped = 0;  // cells skipped that way
  ~SubscriberState();

  Result<Sample> receive_one(bool* empty) noexcept;
  // Queue: skips the cell at head when its sender died between claiming and
  // writing it (nothing could be received past it otherwise).
  bool skip_abandoned_push() noexcept;
  void release(const ring::Descriptor& d, std::uint32_t held_index) noexcept;
};

// Reaches into Loan and Sample for the implementation.
struct Access {
  static PublisherState*& publisher(Loan& l) noexcept { return l.pub_; }
  static const PublisherState* publisher(const Loan& l) noexcept { return l.pub_; }
  static alloc::ChunkRef& ref(Loan& l) noexcept { return l.ref_; }
  static std::byte*& data(Loan& l) noexcept { return l.data_; }
  static std::size_t& size(Loan& l) noexcept { return l.size_; }
  static bool& is_inline(Loan& l) noexcept { return l.inline_; }
  static bool& owner(Loan& l) noexcept { return l.owner_; }
  static std::byte* inline_buf(Loan& l) noexcept { return l.inline_buf_; }
  static void reset(Loan& l) noexcept { l.reset(); }

  static SubscriberState*& owner(Sample& s) noexcept { return s.owner_; }
  static ring::Descriptor& desc(Sample& s) noexcept { return s.desc_; }
  static const std::byte*& data(Sample& s) noexcept { return s.data_; }
  static std::size_t& size(Sample& s) noexcept { return s.size_; }
  static std::uint32_t& held_index(Sample& s) noexcept { return s.held_index_; }
};

Result<Loan> loan_from(PublisherState& s, std::size_t size) noexcept;

// Name of an endpoint's abstract notification socket.
std::string notify_address(std::int32_t pid, std::uint32_t port);

}  // namespace channel
}  // namespace sluice
