#pragma once
// Shared data of a channel: its control block (allocated from the domain's
// heap when the channel is created, named by its registry entry), endpoint
// slots for publishers and subscribers, per-subscriber descriptor rings, the
// history ring and per-subscriber held-sample tables. Layout in
// docs/layout/channel.md, pinned by the static_asserts below.
//
//   control_offset  ChannelControl                     (320 bytes)
//   subscribers     EndpointSlot[max_subscribers]      (192 bytes each)
//   publishers      EndpointSlot[max_publishers]       (192 bytes each)
//   held            HeldSlot[max_subscribers][held_capacity] (16 bytes each)
//   history         ring::Descriptor[history_capacity]
//   rings           one SpscRing<Descriptor> per subscriber (pub/sub) or one
//                   MpmcRing<Descriptor> (queue), ring_stride bytes apart

#include <sluice/base/atomic.hpp>
#include <sluice/base/units.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sluice::channel {

inline constexpr std::uint64_t kChannelMagic = 0x4c4e4e4148434c53ULL;  // "SLCHANNL"
inline constexpr std::uint32_t kChannelVersion = 2;   // 2: three-line endpoint slots
inline constexpr std::uint32_t kMaxSubscribers = 64;  // one bit each in subscriber_mask
inline constexpr std::uint32_t kMaxPublishers = 64;
inline constexpr std::uint32_t kMaxHeld = 4096;

enum class Kind : std::uint32_t {
  pubsub = 1,  // one publisher at a time, up to 64 subscribers, each with its own SPSC ring
  queue = 2,   // many producers, one consumer, one MPMC ring; messages outlive the consumer
};

// What a publisher does when a subscriber's queue is full.
enum class FullPolicy : std::uint32_t {
  block = 0,      // wait for room up to the publish deadline (lossless)
  overwrite = 1,  // evict the oldest undelivered message (pub/sub only), counted as overrun
  fail = 2,       // return queue_full at once, deliver to nobody
};

enum class EndpointState : std::uint32_t {
  free = 0,
  attaching = 1,  // claimed, being set up
  active = 2,
  closing = 3,  // being closed; the pid in `control` is the closer's (one at a time)
};

// Bits of EndpointSlot::waiting.
inline constexpr std::uint32_t kWaitFutex = 1u << 0;  // blocked in futex_wait on notify_word
inline constexpr std::uint32_t kWaitFd = 1u << 1;     // armed: send a datagram to its socket

// Three cache lines, so that what one side writes on every message never
// shares a line with what the other side reads on every message:
//   line 0: identity, written at attach; the publisher reads `epoch` and the
//           subscriber's `control` on every publish;
//   line 1: wake-ups; the publisher reads `waiting` after every publish, the
//           endpoint writes it only when it goes to sleep;
//   line 2: the owner's counters and the publisher's crash-recovery records,
//           written on every message, read only by tools and survivors.
struct EndpointSlot {
  // -- line 0: written at attach --
  std::atomic<std::uint64_t> control;  // (pid << 32) | EndpointState
  std::uint32_t peer;                  // domain peer index
  std::uint32_t notify_port;           // names the endpoint's notification socket
  std::atomic<std::uint64_t> epoch;    // bumped at every attach of this slot
  std::uint64_t attach_unix_ns;
  std::uint64_t history_request;  // subscriber: history samples wanted at attach
  std::uint8_t reserved0[24];
  // -- line 1: wake-ups, written by both sides --
  alignas(64) std::atomic<std::uint32_t> notify_word;  // futex; bumped by the waker
  std::atomic<std::uint32_t> waiting;                  // kWaitFutex | kWaitFd
  // -- queue sender only: 1 while it may hold a claimed, unwritten cell --
  // Stored before the ring claim (published by its release, SYNC POINT M3)
  // and cleared after the cell's sequence store: a receiver stuck on an
  // unwritten cell skips it only when no live sender has this set.
  std::atomic<std::uint32_t> pushing;
  std::uint32_t reserved1;
  // subscriber: overruns, written by the publisher when it evicts (overwrite
  // policy only); publisher: publishes refused or timed out.
  std::atomic<std::uint64_t> dropped;
  std::uint8_t reserved2[40];
  // -- line 2: the owner's counters --
  alignas(64) std::atomic<std::uint64_t> messages;  // published / received
  std::atomic<std::uint64_t> held;                  // subscriber: samples held right now
  // -- publisher only: the message being delivered (crash recovery) --
  // References were added for every subscriber in `inflight_pending` (bit
  // 63: history) before any delivery; a bit is cleared just before its
  // delivery. A survivor returns one reference per bit still set if the
  // publisher died mid-publish.
  std::atomic<std::uint64_t> inflight_pending;
  std::uint64_t inflight_offset;
  std::uint32_t inflight_generation;
  std::atomic<std::uint32_t> inflight_id;  // UINT32_MAX: nothing in flight
  // -- publisher only: the history entry being replaced (crash recovery) --
  // Set before the history slot is rewritten, cleared just before the
  // replaced descriptor's reference is dropped. A survivor finding it set
  // drops that reference unless the slot still holds the descriptor.
  std::uint64_t evict_offset;
  std::uint32_t evict_generation;
  std::atomic<std::uint32_t> evict_id;  // UINT32_MAX: none
};
static_assert(sizeof(EndpointSlot) == 192);
static_assert(offsetof(EndpointSlot, peer) == 8);
static_assert(offsetof(EndpointSlot, epoch) == 16);
static_assert(offsetof(EndpointSlot, history_request) == 32);
static_assert(offsetof(EndpointSlot, notify_word) == 64);
static_assert(offsetof(EndpointSlot, waiting) == 68);
static_assert(offsetof(EndpointSlot, pushing) == 72);
static_assert(offsetof(EndpointSlot, dropped) == 80);
static_assert(offsetof(EndpointSlot, messages) == 128);
static_assert(offsetof(EndpointSlot, held) == 136);
static_assert(offsetof(EndpointSlot, inflight_pending) == 144);
static_assert(offsetof(EndpointSlot, inflight_id) == 164);
static_assert(offsetof(EndpointSlot, evict_id) == 180);
inline constexpr std::uint64_t kInflightHistoryBit = std::uint64_t{1} << 63;

// A sample a subscriber holds (received, not yet released), recorded so that
// a survivor can release it if the subscriber dies. id == UINT32_MAX: empty.
struct HeldSlot {
  std::atomic<std::uint64_t> offset;
  std::atomic<std::uint32_t> generation;
  std::atomic<std::uint32_t> id;
};
static_assert(sizeof(HeldSlot) == 16);

struct ChannelControl {
  // -- line 0: configuration, immutable after creation --
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t kind;    // Kind
  std::uint32_t policy;  // FullPolicy
  std::uint32_t flags;
  std::uint32_t max_subscribers;
  std::uint32_t max_publishers;
  std::uint64_t capacity;  // descriptors per ring (power of two)
  std::uint64_t history_capacity;
  std::uint64_t element_size;  // sizeof(T) of typed channels, 0 for bytes
  std::uint64_t type_id;
  // -- line 1: placement, immutable --
  std::uint64_t subscribers_offset;
  std::uint64_t publishers_offset;
  std::uint64_t held_offset;
  std::uint32_t held_capacity;
  std::uint32_t reserved0;
  std::uint64_t history_offset;
  std::uint64_t rings_offset;
  std::uint64_t ring_stride;
  std::uint64_t total_size;
  // -- line 2: written by the publisher --
  alignas(64) std::atomic<std::uint64_t> publish_guard;  // odd while a publish is delivering
  std::atomic<std::uint64_t> sequence;                   // next message number
  std::atomic<std::uint64_t> history_count;              // messages ever put in history
  std::atomic<std::uint64_t> published;
  std::atomic<std::int32_t> last_publisher_pid;
  std::uint8_t reserved1[28];
  // -- line 3: subscribers --
  alignas(64) std::atomic<std::uint64_t> subscriber_mask;  // bit i: subscriber slot i receives
  std::atomic<std::int32_t> last_subscriber_pid;
  std::uint32_t chunk_id;  // the heap chunk holding this block (immutable)
  std::uint32_t chunk_generation;
  std::uint8_t reserved3[44];
  // -- line 4: room for blocked publishers / producers --
  alignas(64) std::atomic<std::uint32_t> space_word;  // futex; bumped by consumers when waiters
  std::atomic<std::uint32_t> space_waiters;           // publishers blocked for room
  std::uint8_t reserved4[56];
};
static_assert(sizeof(ChannelControl) == 320);
static_assert(offsetof(ChannelControl, capacity) == 32);
static_assert(offsetof(ChannelControl, type_id) == 56);
static_assert(offsetof(ChannelControl, subscribers_offset) == 64);
static_assert(offsetof(ChannelControl, total_size) == 120);
static_assert(offsetof(ChannelControl, publish_guard) == 128);
static_assert(offsetof(ChannelControl, subscriber_mask) == 192);
static_assert(offsetof(ChannelControl, space_word) == 256);
static_assert(is_shareable_atomic_v<std::uint64_t> && is_shareable_atomic_v<std::uint32_t> &&
              is_shareable_atomic_v<std::int32_t>);

constexpr std::uint64_t endpoint_control(EndpointState s, std::int32_t pid) noexcept {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(pid)) << 32) |
         static_cast<std::uint32_t>(s);
}
constexpr EndpointState endpoint_state_of(std::uint64_t c) noexcept {
  return static_cast<EndpointState>(static_cast<std::uint32_t>(c));
}
constexpr std::int32_t endpoint_pid_of(std::uint64_t c) noexcept {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(c >> 32));
}

}  // namespace sluice::channel
