// Publishing: loans, pub/sub fan-out with the three full-queue policies,
// history, queue senders.

#include <sluice/base/internal/crash_point.hpp>
#include <sluice/channel/internal/core.hpp>
#include <sluice/os/clock.hpp>
#include <sluice/os/futex.hpp>

#include <unistd.h>
#include <algorithm>
#include <bit>
#include <cstring>
#include <thread>

namespace sluice {
namespace channel {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t valid_bits(std::uint32_t n) noexcept {
  return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
}

}  // namespace

PublisherState::~PublisherState() { close_slot(); }

void PublisherState::close_slot() noexcept {
  if (ch && !slot_closed) {
    EndpointSlot& s = ch->pubs[slot];
    s.control.store(endpoint_control(EndpointState::free, 0), std::memory_order_release);
    slot_closed = true;
  }
}

void PublisherRelease::operator()(PublisherState* s) const noexcept {
  // The endpoint goes away now (another publisher may take the slot); its
  // state stays while loans still point at it.
  s->close_slot();
  if (s->outstanding == 0) {
    delete s;
  } else {
    s->orphaned = true;
  }
}

Result<void> open_publisher(std::unique_ptr<PublisherState, PublisherRelease>& out,
                            const Domain& domain, std::string_view name,
                            const ChannelOptions& options, Kind kind, std::uint64_t element_size,
                            std::uint64_t type_id) {
  SLUICE_TRY_ASSIGN(const Geometry planned, plan_channel(options, kind, element_size, type_id));
  SLUICE_TRY_ASSIGN(auto ch, ChannelCore::open(domain, name, planned, options));
  const Geometry& g = ch->g;  // the channel's own, when it existed
  SLUICE_TRY_ASSIGN(const std::uint32_t slot,
                    ch->claim_slot(ch->pubs, g.max_publishers, true,
                                   kind == Kind::pubsub ? "publisher" : "sender"));
  std::unique_ptr<PublisherState, PublisherRelease> st(new PublisherState);
  st->ch = ch;
  st->slot = slot;
  st->timeout = options.publish_timeout;
  ChannelControl& ctl = *ch->ctl;
  if (kind == Kind::pubsub) {
    st->outs.resize(g.max_subscribers);
    // A publisher taking over from a dead one continues its numbering.
    st->sequence = ctl.sequence.load(std::memory_order_acquire);
    st->history_count = ctl.history_count.load(std::memory_order_acquire);
  } else {
    SLUICE_TRY_ASSIGN(st->queue, QueueRing::attach(ch->ring(0), ch->ring_bytes()));
  }
  ctl.last_publisher_pid.store(::getpid(), std::memory_order_relaxed);
  ch->pubs[slot].control.store(endpoint_control(EndpointState::active, ::getpid()),
                               std::memory_order_release);
  out = std::move(st);
  return ok();
}

namespace {

// Waits until subscriber i's ring has room for `need` descriptors. false:
// the subscriber left or died (and was closed) meanwhile.
// A loan may be published only by the endpoint that lent it, once.
Result<void> check_loan(const PublisherState& s, const Loan& l) noexcept {
  const PublisherState* from = Access::publisher(l);
  if (from == nullptr)
    return fail(Errc::invalid_argument,
                "channel '{}': publish of an empty loan (default-constructed, moved from or "
                "already published)",
                s.ch->name);
  if (from != &s)
    return fail(Errc::invalid_argument,
                "channel '{}': the loan was taken from another endpoint (channel '{}' of domain "
                "'{}'); publish it there",
                s.ch->name, from->ch->name, from->ch->domain->segment.name());
  return ok();
}

Result<bool> wait_room(PublisherState& s, std::uint32_t i, std::uint64_t need,
                       const os::Deadline& deadline) noexcept {
  ChannelCore& c = *s.ch;
  ChannelControl& ctl = *c.ctl;
  auto& prod = s.outs[i].producer;
  const std::uint64_t bit = std::uint64_t{1} << i;
  for (int spin = 0; spin < 2000; ++spin) {
    SLUICE_TRY_ASSIGN(const bool room, prod.has_room(need));
    if (room) return true;
    cpu_relax();
  }
  for (;;) {
    if (c.truncated()) return fail(c.truncation_error());
    if ((ctl.subscriber_mask.load(std::memory_order_acquire) & bit) == 0) return false;
    const std::uint32_t w0 = ctl.space_word.load(std::memory_order_acquire);
    ctl.space_waiters.fetch_add(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // SYNC S1 (waiter side)
    SLUICE_TRY_ASSIGN(bool room, prod.has_room(need));
    if (!room) {
      const auto left = std::min<std::chrono::nanoseconds>(deadline.remaining(), 5ms);
      (void)os::futex_wait(ctl.space_word, w0, left);
    }
    ctl.space_waiters.fetch_sub(1, std::memory_order_relaxed);
    if (!room) {
      SLUICE_TRY_ASSIGN(room, prod.has_room(need));
    }
    if (room) return true;
    if (!c.endpoint_alive(c.subs[i])) {
      c.close_subscriber(i, true);
      return false;
    }
    if (deadline.expired()) return fail(Errc::timed_out);
  }
}

// Puts `d` into the history ring, replacing the oldest entry. The history
// holds one reference per chunk entry: `d`'s was added with the others
// (bit kInflightHistoryBit of the in-flight record), the replaced entry's is
// dropped here. For a survivor that must finish this after a crash
// (ChannelCore::close_publisher):
//   1. the replaced chunk is recorded in evict_* before the slot changes;
//   2. the slot is rewritten under its seqlock (a torn slot, odd version,
//      holds nothing: readers skip it, the next writer does not release its
//      content);
//   3. the history bit is cleared: the slot owns `d`'s reference now;
//   4. the eviction record is cleared, then the replaced reference dropped
//      (a death between the two leaks that reference; the other order
//      would release it twice).
void write_history(PublisherState& s, const ring::Descriptor& d, std::uint64_t& pending,
                   bool is_inline) noexcept {
  ChannelCore& c = *s.ch;
  EndpointSlot& me = c.pubs[s.slot];
  HistorySlot& h = c.history[s.history_count % c.g.history];
  const std::uint64_t v = h.version.load(std::memory_order_relaxed);
  const bool torn = (v & 1) != 0;  // left half-written by a publisher that died
  ring::Descriptor old{};
  bool evict = false;  // a chunk entry is replaced
  if (s.history_count >= c.g.history && !torn) {
    ring::load_words(reinterpret_cast<const std::byte*>(&h.desc), old);
    evict = !old.is_inline() && ring::check(old);
    if (evict) {
      me.evict_offset = old.offset;
      me.evict_generation = old.generation;
      me.evict_id.store(old.tag, std::memory_order_release);
    }
  }
  SLUICE_CRASH_POINT("publish.history");
  // Seqlock write: odd version while the descriptor changes.
  h.version.store(v | 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  ring::store_words(reinterpret_cast<std::byte*>(&h.desc), d);
  h.version.store((v | 1) + 1, std::memory_order_release);
  ++s.history_count;
  c.ctl->history_count.store(s.history_count, std::memory_order_release);
  if (!is_inline) {
    pending &= ~kInflightHistoryBit;
    me.inflight_pending.store(pending, std::memory_order_release);
  }
  SLUICE_CRASH_POINT("publish.history.written");
  if (evict) {
    me.evict_id.store(UINT32_MAX, std::memory_order_release);
    // SYNC H1: the slot's new version before our release reads the chunk's
    // reference count. Pairs with the late joiner's fence between its
    // add_ref and its second look at the version (SYNC H2): either it sees
    // the slot rewritten (and gives its reference back), or our release
    // sees its reference (and does not take the single-holder path).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    c.release_descriptor(old);
  }
}

// Delivers one loan to every subscriber in `mask` (room already assured
// unless overwriting).
void deliver_one(PublisherState& s, Loan& l, std::uint64_t mask, const alloc::ChunkRef& ref,
                 bool is_inline, std::size_t size, const std::byte* inline_bytes) noexcept {
  ChannelCore& c = *s.ch;
  EndpointSlot& me = c.pubs[s.slot];
  const bool keep_history = c.g.history > 0;
  ring::Descriptor d =
      is_inline
          ? ring::Descriptor::make_inline({inline_bytes, size}, s.sequence, c.peer())
          : ring::Descriptor::make_chunk(ref.offset, ref.generation,
                                         static_cast<std::uint32_t>(size), s.sequence, c.peer());
  if (!is_inline) d.tag = ref.id;
  ++s.sequence;
  // Claim the number before delivering: a publisher that takes over from
  // one that died half-way through this delivery must not reuse it (the
  // subscribers that got it would drop the successor's message as a
  // duplicate). Read by open_publisher (acquire) after the take-over.
  c.ctl->sequence.store(s.sequence, std::memory_order_release);
  const auto holders = static_cast<std::uint32_t>(std::popcount(mask) + (keep_history ? 1 : 0));
  std::uint64_t pending = mask | (keep_history ? kInflightHistoryBit : 0);
  if (!is_inline) {
    if (holders == 0) {
      (void)c.heap().release(ref, c.peer());
      return;
    }
    // Record the message before any reference is added, so that a survivor
    // can return the references of deliveries that never happened.
    me.inflight_offset = ref.offset;
    me.inflight_generation = ref.generation;
    me.inflight_pending.store(pending, std::memory_order_relaxed);
    me.inflight_id.store(ref.id, std::memory_order_release);
    SLUICE_CRASH_POINT("publish.inflight");
    // Published first, then one reference per holder (ours becomes one of
    // them). If either fails (a control word another process damaged), no
    // holder gets the message: one that did, with fewer references than
    // holders, would free the chunk under the others.
    auto published = c.heap().publish(ref);
    Result<void> refs = ok();
    if (published && holders > 1) refs = c.heap().add_ref(ref, holders - 1);
    if (!published || !refs) {
      const Error& e = !published ? published.error() : refs.error();
      (void)c.heap().release(ref, c.peer());  // validated: a damaged word stays as it is
      me.inflight_id.store(UINT32_MAX, std::memory_order_release);
      for (std::uint64_t m = mask; m != 0; m &= m - 1) {
        EndpointSlot& sub = c.subs[std::countr_zero(m)];
        sub.dropped.store(sub.dropped.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
      }
      me.dropped.store(me.dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      s.delivery_error = Error(
          e.code() == Errc::ok ? Errc::corrupted : e.code(),
          fmt::format("channel '{}': message {} not delivered: its chunk's references could not "
                      "be set up ({})",
                      c.name, d.sequence, e.what()));
      return;
    }
    SLUICE_CRASH_POINT("publish.refs");
  }
  for (std::uint64_t m = mask; m != 0; m &= m - 1) {
    const auto i = static_cast<std::uint32_t>(std::countr_zero(m));
    if (!is_inline) {
      // Cleared before the push: a crash in between leaks one reference
      // rather than releasing one a subscriber holds.
      pending &= ~(std::uint64_t{1} << i);
      me.inflight_pending.store(pending, std::memory_order_relaxed);
    }
    auto& prod = s.outs[i].producer;
    if (c.g.policy == FullPolicy::overwrite) {
      ring::Descriptor evicted;
      auto r = prod.push_overwrite(d, evicted);
      if (r && *r) {
        c.release_descriptor(evicted);
        EndpointSlot& sub = c.subs[i];
        sub.dropped.store(sub.dropped.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
      } else if (!r) {
        c.release_descriptor(d);
      }
    } else {
      auto r = prod.try_push(d);
      if (!r || !*r) c.release_descriptor(d);  // cannot happen with room assured; never leak
    }
    SLUICE_CRASH_POINT("publish.delivering");  // after each subscriber's push
  }
  if (keep_history) write_history(s, d, pending, is_inline);
  SLUICE_CRASH_POINT("publish.delivered");
  if (!is_inline) me.inflight_id.store(UINT32_MAX, std::memory_order_release);
  (void)l;
}

// Delivers inline descriptors (already numbered) to every subscriber in
// `mask`, with one ring store per subscriber.
void flush_inline(PublisherState& s, std::uint64_t mask,
                  std::span<const ring::Descriptor> items) noexcept {
  if (items.empty()) return;
  ChannelCore& c = *s.ch;
  // Claim the numbers first (see deliver_one).
  c.ctl->sequence.store(s.sequence, std::memory_order_release);
  for (std::uint64_t m = mask; m != 0; m &= m - 1) {
    const auto i = static_cast<std::uint32_t>(std::countr_zero(m));
    auto& prod = s.outs[i].producer;
    if (c.g.policy == FullPolicy::overwrite) {
      for (const auto& d : items) {
        ring::Descriptor evicted;
        auto r = prod.push_overwrite(d, evicted);
        if (r && *r) {
          c.release_descriptor(evicted);
          EndpointSlot& sub = c.subs[i];
          sub.dropped.store(sub.dropped.load(std::memory_order_relaxed) + 1,
                            std::memory_order_relaxed);
        }
      }
    } else {
      // Room was assured before delivery; whatever still does not fit (a
      // ring another process damaged) is counted, never lost silently.
      auto pushed = prod.try_push_batch(items);
      const std::size_t done = pushed ? *pushed : 0;
      if (done < items.size()) {
        EndpointSlot& sub = c.subs[i];
        sub.dropped.store(sub.dropped.load(std::memory_order_relaxed) + (items.size() - done),
                          std::memory_order_relaxed);
      }
    }
  }
  if (c.g.history > 0) {
    std::uint64_t none = 0;
    for (const auto& d : items) write_history(s, d, none, true);
  }
}

// One publish of up to `want` messages: announces it (guard), learns the
// subscribers, makes room according to the policy.
struct PublishRound {
  std::uint64_t guard = 0;
  std::uint64_t mask = 0;
  std::size_t count = 0;  // messages that may be delivered now
  Result<void> status;    // why fewer than wanted
};

PublishRound begin_publish(PublisherState& s, std::size_t want) noexcept {
  ChannelCore& c = *s.ch;
  ChannelControl& ctl = *c.ctl;
  PublishRound round;
  // SYNC G1: announce the publish before reading the mask; a departing
  // subscriber clears its bit and then waits for the guard (SYNC G2).
  round.guard = ctl.publish_guard.load(std::memory_order_relaxed);
  ctl.publish_guard.exchange(round.guard + 1, std::memory_order_seq_cst);
  std::uint64_t mask =
      ctl.subscriber_mask.load(std::memory_order_seq_cst) & valid_bits(c.g.max_subscribers);
  for (std::uint64_t m = mask; m != 0; m &= m - 1) {
    const auto i = static_cast<std::uint32_t>(std::countr_zero(m));
    auto& out = s.outs[i];
    const std::uint64_t epoch = c.subs[i].epoch.load(std::memory_order_acquire);
    if (out.epoch != epoch || !out.producer.attached()) {
      auto p = DescRing::Producer::attach(c.ring(i), c.ring_bytes());
      if (!p) {  // a subscriber whose ring fails validation gets nothing
        mask &= ~(std::uint64_t{1} << i);
        continue;
      }
      out.producer = std::move(p).value();
      out.epoch = epoch;
    }
  }
  std::size_t count = want;
  if (c.g.policy != FullPolicy::overwrite) {
    const auto deadline = os::Deadline::after(s.timeout);
    for (std::uint64_t m = mask; m != 0 && count > 0; m &= m - 1) {
      const auto i = static_cast<std::uint32_t>(std::countr_zero(m));
      auto& prod = s.outs[i].producer;
      auto enough = prod.has_room(count);
      if (!enough) {  // its indices fail validation: like a ring that fails to attach, it gets
                      // nothing
        mask &= ~(std::uint64_t{1} << i);
        continue;
      }
      if (*enough) continue;
      std::uint64_t room = c.g.capacity - prod.size_hint();
      if (c.g.policy == FullPolicy::fail) {
        count = static_cast<std::size_t>(std::min<std::uint64_t>(room, count));
        continue;
      }
      auto w = wait_room(s, i, std::min<std::uint64_t>(count, c.g.capacity), deadline);
      if (!w) {
        room = c.g.capacity - prod.size_hint();
        count = static_cast<std::size_t>(std::min<std::uint64_t>(room, count));
        round.status = fail(w.error());
      } else if (!*w) {
        mask &= ~(std::uint64_t{1} << i);  // left while we waited
      } else {
        count = static_cast<std::size_t>(
            std::min<std::uint64_t>(c.g.capacity - prod.size_hint(), count));
      }
    }
  }
  round.mask = mask;
  round.count = count;
  return round;
}

// Ends the publish: guard, wake-ups, counters. Returns how many went out,
// or the reason none did.
Result<std::size_t> end_publish(PublisherState& s, const PublishRound& round,
                                std::size_t want) noexcept {
  ChannelCore& c = *s.ch;
  ChannelControl& ctl = *c.ctl;
  ctl.publish_guard.store(round.guard + 2, std::memory_order_release);
  // SYNC F1: pairs with a subscriber's registration (SYNC W1): either we see
  // its waiting bit, or it sees our pushes.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (std::uint64_t m = round.mask; m != 0; m &= m - 1) {
    EndpointSlot& sub = c.subs[std::countr_zero(m)];
    if (const std::uint32_t w = sub.waiting.load(std::memory_order_relaxed); w != 0) c.wake(sub, w);
  }
  EndpointSlot& me = c.pubs[s.slot];
  const std::size_t count = round.count;
  if (count > 0) {
    ctl.published.store(ctl.published.load(std::memory_order_relaxed) + count,
                        std::memory_order_relaxed);
    me.messages.store(me.messages.load(std::memory_order_relaxed) + count,
                      std::memory_order_relaxed);
  }
  if (count < want) {
    me.dropped.store(me.dropped.load(std::memory_order_relaxed) + (want - count),
                     std::memory_order_relaxed);
    if (count == 0) {
      if (!round.status) return fail(round.status.error());
      return fail(Errc::queue_full);
    }
  }
  return count;
}

Result<std::size_t> publish_pubsub(PublisherState& s, std::span<Loan> loans) noexcept {
  ChannelCore& c = *s.ch;
  if (c.truncated()) return fail(c.truncation_error());
  for (const Loan& l : loans) SLUICE_TRY(check_loan(s, l));
  const PublishRound round = begin_publish(s, loans.size());
  // Inline messages (no chunk, nothing to recover after a crash) go out in
  // runs with one ring store per subscriber per run; chunk messages one by
  // one with their in-flight record.
  s.batch.clear();
  for (std::size_t k = 0; k < round.count; ++k) {
    Loan& l = loans[k];
    if (Access::is_inline(l)) {
      s.batch.push_back(ring::Descriptor::make_inline({Access::inline_buf(l), Access::size(l)},
                                                      s.sequence++, c.peer()));
    } else {
      flush_inline(s, round.mask, s.batch);
      s.batch.clear();
      deliver_one(s, l, round.mask, Access::ref(l), false, Access::size(l), nullptr);
      Access::owner(l) = false;
    }
    Access::reset(l);
  }
  flush_inline(s, round.mask, s.batch);
  s.batch.clear();
  auto r = end_publish(s, round, loans.size());
  if (s.delivery_error) {
    Error e = std::move(*s.delivery_error);
    s.delivery_error.reset();
    return fail(std::move(e));
  }
  return r;
}

Result<void> send_queue(PublisherState& s, Loan& l) noexcept {
  ChannelCore& c = *s.ch;
  if (c.truncated()) return fail(c.truncation_error());
  SLUICE_TRY(check_loan(s, l));
  ChannelControl& ctl = *c.ctl;
  EndpointSlot& me = c.pubs[s.slot];
  ring::Descriptor d =
      Access::is_inline(l)
          ? ring::Descriptor::make_inline({Access::inline_buf(l), Access::size(l)}, 0, c.peer())
          : ring::Descriptor::make_chunk(Access::ref(l).offset, Access::ref(l).generation,
                                         static_cast<std::uint32_t>(Access::size(l)), 0, c.peer());
  d.sequence = ++s.sequence;
  if (!Access::is_inline(l)) {
    d.tag = Access::ref(l).id;
    me.inflight_offset = Access::ref(l).offset;
    me.inflight_generation = Access::ref(l).generation;
    me.inflight_pending.store(1, std::memory_order_relaxed);
    me.inflight_id.store(Access::ref(l).id, std::memory_order_release);
    if (auto published = c.heap().publish(Access::ref(l)); !published) {
      // Still loaned (or damaged): the loan keeps it and frees it; nothing
      // was queued.
      me.inflight_id.store(UINT32_MAX, std::memory_order_release);
      return fail(published.error().code(),
                  "channel '{}': the message's chunk could not be published ({})", c.name,
                  published.error().what());
    }
    SLUICE_CRASH_POINT("queue.send.inflight");
  }
  const auto deadline = os::Deadline::after(s.timeout);
  auto undo = [&]() {
    if (!Access::is_inline(l)) {
      (void)c.heap().set_state(Access::ref(l), alloc::ChunkState::published,
                               alloc::ChunkState::loaned);
      me.inflight_id.store(UINT32_MAX, std::memory_order_release);
    }
    me.dropped.store(me.dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  };
  for (int spin = 0;; ++spin) {
    if (!Access::is_inline(l)) me.inflight_pending.store(0, std::memory_order_relaxed);
    // SYNC POINT M3 (sender side): visible to whoever sees our claim of a
    // cell; cleared (release) only after the cell is written. A receiver
    // skips an unwritten cell only while no live sender has it set.
    me.pushing.store(1, std::memory_order_relaxed);
    auto pushed = s.queue.try_push(d);
    me.pushing.store(0, std::memory_order_release);
    if (!pushed) {
      undo();
      return fail(pushed.error());
    }
    if (*pushed) break;
    if (!Access::is_inline(l)) me.inflight_pending.store(1, std::memory_order_relaxed);
    if (c.g.policy == FullPolicy::fail) {
      undo();
      return fail(Errc::queue_full);
    }
    if (spin < 2000) {
      cpu_relax();
      continue;
    }
    const std::uint32_t w0 = ctl.space_word.load(std::memory_order_acquire);
    ctl.space_waiters.fetch_add(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (s.queue.full_hint())
      (void)os::futex_wait(ctl.space_word, w0,
                           std::min<std::chrono::nanoseconds>(deadline.remaining(), 5ms));
    ctl.space_waiters.fetch_sub(1, std::memory_order_relaxed);
    if (deadline.expired()) {
      undo();
      return fail(Errc::timed_out);
    }
    if (c.truncated()) {
      undo();
      return fail(c.truncation_error());
    }
  }
  SLUICE_CRASH_POINT("queue.send.pushed");
  if (!Access::is_inline(l)) me.inflight_id.store(UINT32_MAX, std::memory_order_release);
  Access::owner(l) = false;
  Access::reset(l);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // SYNC F1 (queue)
  EndpointSlot& rx = c.subs[0];
  if (const std::uint32_t w = rx.waiting.load(std::memory_order_relaxed); w != 0) c.wake(rx, w);
  me.messages.store(me.messages.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  ctl.published.fetch_add(1, std::memory_order_relaxed);
  return ok();
}

}  // namespace

Result<Loan> loan_from(PublisherState& s, std::size_t size) noexcept {
  if (s.ch->truncated()) return fail(s.ch->truncation_error());
  Loan l;
  if (size <= ring::Descriptor::kInlineCapacity) {
    Access::publisher(l) = &s;
    ++s.outstanding;
    Access::is_inline(l) = true;
    Access::data(l) = Access::inline_buf(l);
    Access::size(l) = size;
    std::memset(Access::inline_buf(l), 0, ring::Descriptor::kInlineCapacity);
    return l;
  }
  if (size > UINT32_MAX)
    return fail(Errc::invalid_argument, "message of {} bytes exceeds the 4 GiB descriptor limit",
                size);
  auto ref = s.ch->heap().allocate(size, s.ch->peer());
  if (!ref) {
    // Zeros where the heap was: say why, not what the zeros looked like.
    if (s.ch->truncated()) return fail(s.ch->truncation_error());
    return fail(ref.error());
  }
  Access::ref(l) = *ref;
  Access::publisher(l) = &s;
  ++s.outstanding;
  Access::owner(l) = true;
  Access::data(l) = s.ch->heap().base() + Access::ref(l).offset;
  Access::size(l) = size;
  return l;
}

Result<std::size_t> publish_inline(PublisherState& s, std::span<ring::Descriptor> items) noexcept {
  ChannelCore& c = *s.ch;
  const PublishRound round = begin_publish(s, items.size());
  for (std::size_t k = 0; k < round.count; ++k) {
    ring::Descriptor& d = items[k];
    d.sequence = s.sequence++;
    d.publisher = c.peer();
    d.flags = ring::Descriptor::kInline;
    d.offset = 0;
    d.generation = 0;
  }
  flush_inline(s, round.mask, items.first(round.count));
  return end_publish(s, round, items.size());
}

}  // namespace channel

// -- Loan ----------------------------------------------------------------------

Loan::Loan(Loan&& o) noexcept
    : pub_(o.pub_),
      ref_(o.ref_),
      data_(o.data_),
      size_(o.size_),
      inline_(o.inline_),
      owner_(o.owner_) {
  if (inline_) {
    std::memcpy(inline_buf_, o.inline_buf_, sizeof inline_buf_);
    data_ = inline_buf_;
  }
  o.pub_ = nullptr;
  o.owner_ = false;
  o.data_ = nullptr;
  o.size_ = 0;
  o.inline_ = false;
}

Loan& Loan::operator=(Loan&& o) noexcept {
  if (this != &o) {
    reset();
    new (this) Loan(std::move(o));
  }
  return *this;
}

Loan::~Loan() { reset(); }

void Loan::reset() noexcept {
  if (pub_) {
    if (owner_) (void)pub_->ch->heap().release(ref_, pub_->ch->peer());
    if (--pub_->outstanding == 0 && pub_->orphaned) delete pub_;
  }
  pub_ = nullptr;
  owner_ = false;
  data_ = nullptr;
  size_ = 0;
  inline_ = false;
}

// -- BytePublisher ---------------------------------------------------------------

BytePublisher::BytePublisher() = default;
BytePublisher::BytePublisher(BytePublisher&&) noexcept = default;
BytePublisher& BytePublisher::operator=(BytePublisher&&) noexcept = default;
BytePublisher::~BytePublisher() = default;

Result<BytePublisher> BytePublisher::create(const Domain& domain, std::string_view name,
                                            const ChannelOptions& options) {
  BytePublisher p;
  SLUICE_TRY(channel::open_publisher(p.s_, domain, name, options, channel::Kind::pubsub, 0, 0));
  return p;
}

Result<Loan> BytePublisher::loan(std::size_t size) noexcept {
  if (!s_) return fail(channel::unusable("BytePublisher"));
  return channel::loan_from(*s_, size);
}

Result<void> BytePublisher::publish(Loan&& loan) noexcept {
  if (!s_) return fail(channel::unusable("BytePublisher"));
  SLUICE_TRY(channel::publish_pubsub(*s_, {&loan, 1}));
  return ok();
}

Result<std::size_t> BytePublisher::publish_batch(std::span<Loan> loans) noexcept {
  if (!s_) return fail(channel::unusable("BytePublisher"));
  return channel::publish_pubsub(*s_, loans);
}

Result<void> BytePublisher::send(std::span<const std::byte> bytes) noexcept {
  SLUICE_TRY_ASSIGN(Loan l, loan(bytes.size()));
  if (!bytes.empty()) std::memcpy(l.data(), bytes.data(), bytes.size());
  return publish(std::move(l));
}

std::uint32_t BytePublisher::subscriber_count() const noexcept {
  if (!s_) return 0;
  return static_cast<std::uint32_t>(
      std::popcount(s_->ch->ctl->subscriber_mask.load(std::memory_order_relaxed)));
}

EndpointStats BytePublisher::stats() const noexcept {
  if (!s_) return {};
  const auto& e = s_->ch->pubs[s_->slot];
  return {e.messages.load(std::memory_order_relaxed), e.dropped.load(std::memory_order_relaxed), 0};
}

const std::string& BytePublisher::channel_name() const noexcept {
  return s_ ? s_->ch->name : channel::no_name();
}

// -- QueueSender -------------------------------------------------------------------

QueueSender::QueueSender() = default;
QueueSender::QueueSender(QueueSender&&) noexcept = default;
QueueSender& QueueSender::operator=(QueueSender&&) noexcept = default;
QueueSender::~QueueSender() = default;

Result<QueueSender> QueueSender::create(const Domain& domain, std::string_view name,
                                        const ChannelOptions& options) {
  QueueSender q;
  SLUICE_TRY(channel::open_publisher(q.s_, domain, name, options, channel::Kind::queue, 0, 0));
  return q;
}

Result<Loan> QueueSender::loan(std::size_t size) noexcept {
  if (!s_) return fail(channel::unusable("QueueSender"));
  return channel::loan_from(*s_, size);
}

Result<void> QueueSender::send(Loan&& loan) noexcept {
  if (!s_) return fail(channel::unusable("QueueSender"));
  return channel::send_queue(*s_, loan);
}

Result<void> QueueSender::send(std::span<const std::byte> bytes) noexcept {
  SLUICE_TRY_ASSIGN(Loan l, loan(bytes.size()));
  if (!bytes.empty()) std::memcpy(l.data(), bytes.data(), bytes.size());
  return send(std::move(l));
}

EndpointStats QueueSender::stats() const noexcept {
  if (!s_) return {};
  const auto& e = s_->ch->pubs[s_->slot];
  return {e.messages.load(std::memory_order_relaxed), e.dropped.load(std::memory_order_relaxed), 0};
}

}  // namespace sluice
