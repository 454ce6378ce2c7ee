// Receiving: subscribers and queue receivers, samples, history replay,
// blocking waits, notification fds, wait sets.

#include <sluice/base/internal/crash_point.hpp>
#include <sluice/channel/internal/core.hpp>
#include <sluice/os/clock.hpp>
#include <sluice/os/futex.hpp>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <thread>

namespace sluice {
namespace channel {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kMinSpinNs = 500;
constexpr std::uint64_t kMaxSpinNs = 50'000;

std::uint32_t random_port() {
  static thread_local std::mt19937 rng{std::random_device{}()};
  return static_cast<std::uint32_t>(rng());
}

// Copies history entry k under its seqlock; false if it kept changing.
// A consistent copy of a history slot, and the (even) version it had.
bool read_history(const HistorySlot& h, ring::Descriptor& out, std::uint64_t& version) noexcept {
  for (int attempt = 0; attempt < 16; ++attempt) {
    const std::uint64_t v1 = h.version.load(std::memory_order_acquire);
    if (v1 & 1) continue;
    ring::load_words(reinterpret_cast<const std::byte*>(&h.desc), out);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (h.version.load(std::memory_order_relaxed) == v1) {
      version = v1;
      return true;
    }
  }
  return false;
}

}  // namespace

SubscriberState::~SubscriberState() {
  if (!ch) return;
  for (const auto& d : pending) ch->release_descriptor(d);
  pending.clear();
  if (notify_socket >= 0) ::close(notify_socket);
  if (ch->g.kind == Kind::pubsub) {
    ch->close_subscriber(slot, false);
  } else {
    // A queue keeps its messages for the next receiver.
    EndpointSlot& s = ch->subs[slot];
    s.waiting.store(0, std::memory_order_relaxed);
    s.control.store(endpoint_control(EndpointState::free, 0), std::memory_order_release);
  }
}

void SubscriberRelease::operator()(SubscriberState* s) const noexcept {
  // Samples still out keep the state (and the subscription) alive; the last
  // one released deletes it.
  s->unref();
}

Result<void> open_subscriber(std::unique_ptr<SubscriberState, SubscriberRelease>& out,
                             const Domain& domain, std::string_view name,
                             const SubscribeOptions& sub, const ChannelOptions& options, Kind kind,
                             std::uint64_t element_size, std::uint64_t type_id) {
  SLUICE_TRY_ASSIGN(const Geometry planned, plan_channel(options, kind, element_size, type_id));
  SLUICE_TRY_ASSIGN(auto ch, ChannelCore::open(domain, name, planned, options));
  const Geometry& g = ch->g;  // the channel's own, when it existed
  SLUICE_TRY_ASSIGN(const std::uint32_t slot,
                    ch->claim_slot(ch->subs, g.max_subscribers, true,
                                   kind == Kind::pubsub ? "subscriber" : "receiver"));
  std::unique_ptr<SubscriberState, SubscriberRelease> st(new SubscriberState);
  st->ch = ch;
  st->slot = slot;
  EndpointSlot& me = ch->subs[slot];
  st->epoch = me.epoch.load(std::memory_order_relaxed);
  me.notify_port = random_port();
  st->held = ch->held_of(slot);
  for (std::uint32_t k = 0; k < g.held_capacity; ++k)
    st->held[k].id.store(UINT32_MAX, std::memory_order_relaxed);
  st->free_held.reset(g.held_capacity);
  ChannelControl& ctl = *ch->ctl;
  if (kind == Kind::pubsub) {
    // Our ring is ours alone until our bit is set in the mask.
    SLUICE_TRY(DescRing::format(ch->ring(slot), ch->ring_bytes(), g.capacity,
                                ring::SpscOptions{.overwrite = g.policy == FullPolicy::overwrite}));
    SLUICE_TRY_ASSIGN(st->consumer, DescRing::Consumer::attach(ch->ring(slot), ch->ring_bytes()));
    me.history_request = sub.history;
    me.control.store(endpoint_control(EndpointState::active, ::getpid()),
                     std::memory_order_release);
    ctl.subscriber_mask.fetch_or(std::uint64_t{1} << slot, std::memory_order_seq_cst);
    const std::uint64_t want = std::min(sub.history, g.history);
    if (want > 0) {
      // A publish that read the mask before our bit was set delivers to the
      // others only, and writes the history after its deliveries (which may
      // wait for a slow subscriber): reading the history before it is done
      // would miss that message altogether. SYNC G1/G2 as in
      // close_subscriber: either that publish sees our bit, or we see its
      // guard odd here and wait for it (bounded; a dead publisher ends it).
      const std::uint64_t g0 = ctl.publish_guard.load(std::memory_order_seq_cst);
      if (g0 & 1) {
        const auto deadline = os::Deadline::after(2s);
        for (int spin = 0; ctl.publish_guard.load(std::memory_order_acquire) == g0; ++spin) {
          if (spin > 1000) {
            if (!ch->endpoint_alive(ch->pubs[0]) || deadline.expired()) break;
            std::this_thread::sleep_for(100us);
          }
        }
      }
      const std::uint64_t count = ctl.history_count.load(std::memory_order_acquire);
      const std::uint64_t take = std::min(want, count);
      struct Read {
        std::uint64_t entry;
        ring::Descriptor desc;
        std::uint64_t version;  // of its slot when read
      };
      std::vector<Read> read;
      for (std::uint64_t k = count - take; k < count; ++k) {
        ring::Descriptor d{};
        std::uint64_t v = 0;
        if (!read_history(ch->history[k % g.history], d, v) || !ring::check(d)) continue;
        read.push_back({k, d, v});
      }
      // A publisher that goes on meanwhile rewrites the oldest slots with
      // newer entries (entry k's slot holds entry k + history next). Such a
      // newer entry is in our ring too, and replaying it ahead of the ones
      // before it would make the ring's copies of those look delivered: keep
      // only the entries no write can have reached. Entry count2 may be
      // written before count2 is published, so entry k is safe when
      // k + history > count2.
      const std::uint64_t count2 = ctl.history_count.load(std::memory_order_acquire);
      for (const auto& [k, desc, v1] : read) {
        ring::Descriptor d = desc;
        if (k + g.history <= count2) continue;  // possibly rewritten: skip (it is old)
        if (!d.is_inline()) {
          // The history's reference is not ours: take one, then check that
          // the slot still holds this entry (SYNC H2, pairs with H1 in the
          // publisher's eviction). If it was rewritten meanwhile, the
          // reference may have raced the last release: give it back (the
          // heap refuses a release of a chunk that is gone) and skip it.
          if (!ch->heap().add_ref(alloc::ChunkRef{d.offset, d.generation, d.tag}))
            continue;  // released meanwhile: it is no longer history
          std::atomic_thread_fence(std::memory_order_seq_cst);
          const std::uint64_t v2 =
              ch->history[k % g.history].version.load(std::memory_order_relaxed);
          if (v1 != v2) {
            ch->release_descriptor(d);
            continue;
          }
        }
        d.flags = static_cast<std::uint16_t>(d.flags | ring::Descriptor::kHistory);
        st->pending.push_back(d);
      }
      std::sort(st->pending.begin(), st->pending.end(),
                [](const ring::Descriptor& a, const ring::Descriptor& b) {
                  return a.sequence < b.sequence;
                });
      // Entries rewritten while we read may repeat a sequence: keep one.
      for (std::size_t k = 1; k < st->pending.size();) {
        if (st->pending[k].sequence == st->pending[k - 1].sequence) {
          ch->release_descriptor(st->pending[k]);
          st->pending.erase(st->pending.begin() + static_cast<std::ptrdiff_t>(k));
        } else {
          ++k;
        }
      }
    }
  } else {
    SLUICE_TRY_ASSIGN(st->queue, QueueRing::attach(ch->ring(0), ch->ring_bytes()));
    me.control.store(endpoint_control(EndpointState::active, ::getpid()),
                     std::memory_order_release);
  }
  ctl.last_subscriber_pid.store(::getpid(), std::memory_order_relaxed);
  out = std::move(st);
  return ok();
}

// Any thread (a sample may be dropped wherever it went).
void SubscriberState::release(const ring::Descriptor& d, std::uint32_t held_index) noexcept {
  if (d.is_inline()) return;
  // Clear the record first: a crash in between leaks a reference instead of
  // letting a survivor release it a second time.
  if (held_index < ch->g.held_capacity) {
    held[held_index].id.store(UINT32_MAX, std::memory_order_release);
    free_held.push(held_index);
    ch->subs[slot].held.fetch_sub(1, std::memory_order_relaxed);
  }
  SLUICE_CRASH_POINT("release.cleared");
  (void)ch->heap().release(alloc::ChunkRef{d.offset, d.generation, d.tag}, ch->peer());
}

Result<Sample> SubscriberState::receive_one(bool* empty) noexcept {
  *empty = false;
  ChannelCore& c = *ch;
  if (c.truncated()) return fail(c.truncation_error());
  EndpointSlot& me = c.subs[slot];
  if (free_held.empty())
    return fail(Errc::table_full,
                "channel '{}': this subscriber holds {} samples already (max_held); release some",
                c.name, c.g.held_capacity);
  ring::Descriptor d{};
  std::uint32_t idx = UINT32_MAX;  // held record of d, taken right after the pop
  // Clears the record (before anything is released, see release()).
  auto forget = [this, &idx]() noexcept {
    if (idx == UINT32_MAX) return;
    held[idx].id.store(UINT32_MAX, std::memory_order_release);
    free_held.push(idx);
    idx = UINT32_MAX;
  };
  for (;;) {
    if (!pending.empty()) {
      d = pending.front();
      pending.pop_front();
    } else {
      Result<bool> got = c.g.kind == Kind::pubsub ? consumer.try_pop(d) : queue.try_pop(d);
      if (!got) return fail(got.error());
      if (!*got) {
        if (c.g.kind == Kind::queue && skip_abandoned_push()) continue;
        *empty = true;
        return fail(Errc::would_block);
      }
      // Record the reference first: a subscriber killed from here on leaves
      // it in its held table, where whoever closes the slot releases it (the
      // window before this store is a few instructions).
      if (!d.is_inline()) {
        idx = free_held.pop();  // not empty: checked on entry, only we pop
        held[idx].offset.store(d.offset, std::memory_order_relaxed);
        held[idx].generation.store(d.generation, std::memory_order_relaxed);
        held[idx].id.store(d.tag, std::memory_order_release);
      }
      SLUICE_CRASH_POINT("receive.popped");
      // Wake publishers blocked for room, when there can be any: a blocked
      // pub/sub publisher waits for a ring at least half full (batches of
      // at most capacity / 2; larger ones re-check every 5 ms), which our
      // own cache of tail shows without touching shared lines. Queues always
      // check (their senders share one ring).
      if (c.g.policy == FullPolicy::block &&
          (c.g.kind == Kind::queue || consumer.cached_size() + 1 >= c.g.capacity / 2))
        c.wake_space_waiters();
      if (c.g.kind == Kind::pubsub && have_last && d.sequence <= last_sequence) {
        forget();
        if (ring::check(d)) c.release_descriptor(d);  // already delivered from history
        continue;
      }
    }
    break;
  }
  if (auto chk = ring::check(d); !chk) {
    forget();  // names nothing we could release
    return fail(chk.error());
  }
  if (c.g.kind == Kind::pubsub) {
    have_last = true;
    last_sequence = d.sequence;
  }
  Sample s;
  Access::desc(s) = d;
  if (d.is_inline()) {  // the bytes travel in the sample: no owner, no reference
    Access::data(s) = Access::desc(s).inline_data;
    Access::size(s) = d.length;
  } else {
    const alloc::ChunkRef ref{d.offset, d.generation, d.tag};
    auto view = c.heap().resolve(ref);
    if (!view || d.length > view->size) {
      forget();
      return fail(Errc::corrupted, "channel '{}': descriptor {} names no live chunk of {} bytes",
                  c.name, d.sequence, d.length);
    }
    if (idx == UINT32_MAX) {  // from the history replay: recorded now
      idx = free_held.pop();  // not empty: checked on entry, and only we pop
      held[idx].offset.store(ref.offset, std::memory_order_relaxed);
      held[idx].generation.store(ref.generation, std::memory_order_relaxed);
      held[idx].id.store(ref.id, std::memory_order_release);
    }
    SLUICE_CRASH_POINT("receive.held");
    me.held.fetch_add(1, std::memory_order_relaxed);
    Access::held_index(s) = idx;
    Access::data(s) = view->data;
    Access::size(s) = d.length;
    refs.fetch_add(1, std::memory_order_relaxed);  // the caller's reference keeps us alive
    Access::owner(s) = this;
  }
  me.messages.store(me.messages.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return s;
}

Result<std::size_t> pop_descriptors(SubscriberState& st, std::span<ring::Descriptor> out) noexcept {
  ChannelCore& c = *st.ch;
  std::size_t n = 0;
  while (n < out.size() && !st.pending.empty()) {
    out[n++] = st.pending.front();
    st.pending.pop_front();
  }
  if (n < out.size()) {
    if (c.g.kind == Kind::pubsub) {
      SLUICE_TRY_ASSIGN(const std::size_t got, st.consumer.try_pop_batch(out.subspan(n)));
      if (got > 0 && c.g.policy == FullPolicy::block &&
          st.consumer.cached_size() + got >= c.g.capacity / 2)
        c.wake_space_waiters();
      n += got;
    } else {
      while (n < out.size()) {
        SLUICE_TRY_ASSIGN(const bool got, st.queue.try_pop(out[n]));
        if (!got) {
          if (st.skip_abandoned_push()) continue;
          break;
        }
        ++n;
        if (c.g.policy == FullPolicy::block) c.wake_space_waiters();
      }
    }
  }
  // Drop what fails validation and, after a history replay, what was
  // already delivered.
  std::size_t kept = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const ring::Descriptor& d = out[k];
    if (!ring::check(d)) continue;  // names nothing we could release
    if (c.g.kind == Kind::pubsub) {
      if (st.have_last && d.sequence <= st.last_sequence &&
          (d.flags & ring::Descriptor::kHistory) == 0) {
        c.release_descriptor(d);
        continue;
      }
      st.have_last = true;
      st.last_sequence = d.sequence;
    }
    if (kept != k) out[kept] = d;
    ++kept;
  }
  if (kept > 0) {
    EndpointSlot& me = c.subs[st.slot];
    me.messages.store(me.messages.load(std::memory_order_relaxed) + kept,
                      std::memory_order_relaxed);
  }
  return kept;
}

Result<HeldView> hold(SubscriberState& st, const ring::Descriptor& d) noexcept {
  ChannelCore& c = *st.ch;
  const alloc::ChunkRef ref{d.offset, d.generation, d.tag};
  auto view = c.heap().resolve(ref);
  if (!view || d.length > view->size)
    return fail(Errc::corrupted, "channel '{}': descriptor {} names no live chunk of {} bytes",
                c.name, d.sequence, d.length);
  HeldView h{view->data, UINT32_MAX};
  // Recorded while the callback runs, so that a crash in it is recovered;
  // with the table full (the caller holds max_held samples) it runs unrecorded.
  if (const std::uint32_t k = st.free_held.pop(); k != HeldFreeList::kNone) {
    h.index = k;
    st.held[h.index].offset.store(ref.offset, std::memory_order_relaxed);
    st.held[h.index].generation.store(ref.generation, std::memory_order_relaxed);
    st.held[h.index].id.store(ref.id, std::memory_order_release);
    c.subs[st.slot].held.fetch_add(1, std::memory_order_relaxed);
  }
  return h;
}

void unhold(SubscriberState& st, const ring::Descriptor& d, std::uint32_t index) noexcept {
  if (index == UINT32_MAX) {
    st.ch->release_descriptor(d);
    return;
  }
  st.release(d, index);
}

bool SubscriberState::skip_abandoned_push() noexcept {
  // Cheap unless the ring is stuck: one load of each index and one of the
  // cell at head.
  const auto pos = queue.unwritten_head();
  if (!pos) {
    stuck_pos = UINT64_MAX;
    return false;
  }
  // A live sender writes its cell within nanoseconds: look closer only when
  // the same cell stays unwritten for a while.
  const std::uint64_t now = os::monotonic_ns();
  if (*pos != stuck_pos) {
    stuck_pos = *pos;
    stuck_since_ns = now;
    return false;
  }
  if (now - stuck_since_ns < 2'000'000) return false;
  stuck_since_ns = now;  // next look in 2 ms
  // SYNC POINT M3: unwritten_head() loaded tail with acquire after the
  // claim, so the claimant's `pushing` store is visible unless it cleared
  // it (release) after writing the cell, which skip_unwritten's acquire
  // load of the sequence then sees. A live sender that is pushing may be
  // the claimant: wait for it.
  ChannelCore& c = *ch;
  for (std::uint32_t j = 0; j < c.g.max_publishers; ++j) {
    const EndpointSlot& p = c.pubs[j];
    if (p.pushing.load(std::memory_order_acquire) == 0) continue;
    if (endpoint_state_of(p.control.load(std::memory_order_acquire)) == EndpointState::free)
      continue;
    if (c.endpoint_alive(p)) return false;
  }
  if (!queue.skip_unwritten(*pos)) return false;
  // Whatever the dead sender was sending is lost; its chunk (in flight,
  // already published) is a reference nobody records: Domain::sweep().
  ++skipped;
  EndpointSlot& me = c.subs[slot];
  me.dropped.store(me.dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  stuck_pos = UINT64_MAX;
  return true;
}

namespace {

bool has_data(const SubscriberState& s) noexcept {
  if (!s.pending.empty()) return true;
  return s.ch->g.kind == Kind::pubsub ? !s.consumer.empty_hint() : !s.queue.empty_hint();
}

constexpr std::chrono::milliseconds kWaitSlice{100};

Result<Sample> receive_blocking(SubscriberState& s, std::chrono::nanoseconds timeout) noexcept {
  const auto deadline = os::Deadline::after(timeout);
  EndpointSlot& me = s.ch->subs[s.slot];
  for (;;) {
    bool empty = false;
    auto r = s.receive_one(&empty);
    if (r || !empty) return r;
    // Spin first: a message due within the budget costs no system call.
    const std::uint64_t spin_start = os::monotonic_ns();
    bool arrived = false;
    while (os::monotonic_ns() - spin_start < s.spin_ns) {
      if (has_data(s)) {
        arrived = true;
        break;
      }
      cpu_relax();
    }
    if (arrived) {
      s.spin_ns = std::min(s.spin_ns * 2, kMaxSpinNs);
      // The ring may look non-empty while nothing can be taken yet (a queue
      // cell claimed and not yet written): the deadline still holds.
      if (deadline.expired()) return fail(Errc::timed_out);
      continue;
    }
    s.spin_ns = std::max(s.spin_ns / 2, kMinSpinNs);
    if (deadline.expired()) return fail(Errc::timed_out);
    // SYNC W1: register as a waiter, then re-check; pairs with the
    // publisher's fence after its pushes (SYNC F1).
    const std::uint32_t w0 = me.notify_word.load(std::memory_order_acquire);
    me.waiting.fetch_or(kWaitFutex, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // In slices: a waker whose pages another process truncated away wakes
    // a word of its own, so the truncation is noticed at the next slice.
    if (!has_data(s))
      (void)os::futex_wait(me.notify_word, w0,
                           std::min<std::chrono::nanoseconds>(deadline.remaining(), kWaitSlice));
    me.waiting.fetch_and(~kWaitFutex, std::memory_order_relaxed);
  }
}

Result<int> enable_fd(SubscriberState& s) {
  if (s.notify_socket >= 0) return s.notify_socket;
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(Error::from_errno(errno, "socket(AF_UNIX, SOCK_DGRAM)"));
  EndpointSlot& me = s.ch->subs[s.slot];
  // Abstract namespace: no file to leave behind; gone when the process is.
  for (int attempt = 0; attempt < 8; ++attempt) {
    const std::string addr = notify_address(::getpid(), me.notify_port);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path + 1, addr.data(), addr.size());
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + addr.size());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0) {
      s.notify_socket = fd;
      return fd;
    }
    if (errno != EADDRINUSE) break;
    me.notify_port = random_port();
  }
  const int err = errno;
  ::close(fd);
  return fail(Error::from_errno(err, "bind notification socket"));
}

// fd mode: when empty, drain the socket and arm, then re-check (SYNC W1).
void arm_fd(SubscriberState& s) noexcept {
  if (s.notify_socket < 0) return;
  char buf[64];
  while (::recv(s.notify_socket, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
  EndpointSlot& me = s.ch->subs[s.slot];
  me.waiting.fetch_or(kWaitFd, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

Result<Sample> try_receive_fd(SubscriberState& s) noexcept {
  bool empty = false;
  auto r = s.receive_one(&empty);
  if (r || !empty || s.notify_socket < 0) return r;
  arm_fd(s);
  return s.receive_one(&empty);  // a message that raced the arming
}

}  // namespace
}  // namespace channel

// -- Sample ----------------------------------------------------------------------

Sample::Sample(Sample&& o) noexcept
    : owner_(o.owner_), desc_(o.desc_), data_(o.data_), size_(o.size_), held_index_(o.held_index_) {
  if (desc_.is_inline()) data_ = desc_.inline_data;
  o.owner_ = nullptr;
  o.data_ = nullptr;
  o.size_ = 0;
  o.held_index_ = UINT32_MAX;
}

Sample& Sample::operator=(Sample&& o) noexcept {
  if (this != &o) {
    release();
    new (this) Sample(std::move(o));
  }
  return *this;
}

Sample::~Sample() { release(); }

// Any thread, concurrently with other samples' releases and with the
// subscriber's own receive calls.
void Sample::release() noexcept {
  if (owner_) {
    owner_->release(desc_, held_index_);
    owner_->unref();
    owner_ = nullptr;
  }
  data_ = nullptr;
  size_ = 0;
  held_index_ = UINT32_MAX;
}

// -- ByteSubscriber ------------------------------------------------------------------

ByteSubscriber::ByteSubscriber() = default;
ByteSubscriber::ByteSubscriber(ByteSubscriber&&) noexcept = default;
ByteSubscriber& ByteSubscriber::operator=(ByteSubscriber&&) noexcept = default;
ByteSubscriber::~ByteSubscriber() = default;

Result<ByteSubscriber> ByteSubscriber::create(const Domain& domain, std::string_view name,
                                              const SubscribeOptions& sub,
                                              const ChannelOptions& options) {
  ByteSubscriber s;
  SLUICE_TRY(
      channel::open_subscriber(s.s_, domain, name, sub, options, channel::Kind::pubsub, 0, 0));
  return s;
}

Result<Sample> ByteSubscriber::try_receive() noexcept {
  if (!s_) return fail(channel::unusable("ByteSubscriber"));
  return channel::try_receive_fd(*s_);
}

Result<Sample> ByteSubscriber::receive_for(std::chrono::nanoseconds timeout) noexcept {
  if (!s_) return fail(channel::unusable("ByteSubscriber"));
  return channel::receive_blocking(*s_, timeout);
}

Result<std::size_t> ByteSubscriber::try_receive_batch(std::span<Sample> out) noexcept {
  if (!s_) return fail(channel::unusable("ByteSubscriber"));
  std::size_t n = 0;
  for (; n < out.size(); ++n) {
    bool empty = false;
    auto r = s_->receive_one(&empty);
    if (!r) {
      if (empty || n > 0) break;
      return fail(std::move(r).error());
    }
    out[n] = std::move(r).value();
  }
  return n;
}

Result<int> ByteSubscriber::notification_fd() {
  if (!s_) return fail(channel::unusable("ByteSubscriber"));
  SLUICE_TRY_ASSIGN(const int fd, channel::enable_fd(*s_));
  channel::arm_fd(*s_);
  return fd;
}

bool ByteSubscriber::has_data_hint() const noexcept { return s_ && channel::has_data(*s_); }

EndpointStats ByteSubscriber::stats() const noexcept {
  if (!s_) return {};
  const auto& e = s_->ch->subs[s_->slot];
  return {e.messages.load(std::memory_order_relaxed), e.dropped.load(std::memory_order_relaxed),
          e.held.load(std::memory_order_relaxed)};
}

const std::string& ByteSubscriber::channel_name() const noexcept {
  return s_ ? s_->ch->name : channel::no_name();
}

// -- QueueReceiver ----------------------------------------------------------------------

QueueReceiver::QueueReceiver() = default;
QueueReceiver::QueueReceiver(QueueReceiver&&) noexcept = default;
QueueReceiver& QueueReceiver::operator=(QueueReceiver&&) noexcept = default;
QueueReceiver::~QueueReceiver() = default;

Result<QueueReceiver> QueueReceiver::create(const Domain& domain, std::string_view name,
                                            const ChannelOptions& options) {
  QueueReceiver q;
  SLUICE_TRY(channel::open_subscriber(q.s_, domain, name, {}, options, channel::Kind::queue, 0, 0));
  return q;
}

Result<Sample> QueueReceiver::try_receive() noexcept {
  if (!s_) return fail(channel::unusable("QueueReceiver"));
  return channel::try_receive_fd(*s_);
}

Result<Sample> QueueReceiver::receive_for(std::chrono::nanoseconds timeout) noexcept {
  if (!s_) return fail(channel::unusable("QueueReceiver"));
  return channel::receive_blocking(*s_, timeout);
}

Result<int> QueueReceiver::notification_fd() {
  if (!s_) return fail(channel::unusable("QueueReceiver"));
  SLUICE_TRY_ASSIGN(const int fd, channel::enable_fd(*s_));
  channel::arm_fd(*s_);
  return fd;
}

bool QueueReceiver::has_data_hint() const noexcept { return s_ && channel::has_data(*s_); }

EndpointStats QueueReceiver::stats() const noexcept {
  if (!s_) return {};
  const auto& e = s_->ch->subs[s_->slot];
  return {e.messages.load(std::memory_order_relaxed), e.dropped.load(std::memory_order_relaxed),
          e.held.load(std::memory_order_relaxed)};
}

// -- WaitSet ---------------------------------------------------------------------------

Result<WaitSet> WaitSet::create() {
  WaitSet w;
  w.epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (w.epoll_fd_ < 0) return fail(Error::from_errno(errno, "epoll_create1"));
  return w;
}

WaitSet::WaitSet(WaitSet&& o) noexcept : epoll_fd_(o.epoll_fd_), members_(std::move(o.members_)) {
  o.epoll_fd_ = -1;
}

WaitSet& WaitSet::operator=(WaitSet&& o) noexcept {
  if (this != &o) {
    clear();
    epoll_fd_ = o.epoll_fd_;
    members_ = std::move(o.members_);
    o.epoll_fd_ = -1;
    o.members_.clear();
  }
  return *this;
}

WaitSet::~WaitSet() { clear(); }

void WaitSet::clear() noexcept {
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  epoll_fd_ = -1;
  for (auto& m : members_) m.state->unref();
  members_.clear();
}

namespace {
Result<void> watch(int epoll_fd, int fd, std::size_t index) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = index;
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0)
    return fail(Error::from_errno(errno, "epoll_ctl add"));
  return ok();
}
}  // namespace

Result<void> WaitSet::add_state(channel::SubscriberState* state, std::uint64_t key) {
  if (state == nullptr) return fail(Errc::invalid_argument, "wait set: the endpoint is empty");
  if (epoll_fd_ < 0) return fail(Errc::invalid_argument, "wait set: not created");
  SLUICE_TRY_ASSIGN(const int fd, channel::enable_fd(*state));
  channel::arm_fd(*state);
  SLUICE_TRY(watch(epoll_fd_, fd, members_.size()));
  state->refs.fetch_add(1, std::memory_order_relaxed);  // the endpoint holds one
  members_.push_back({key, state});
  return ok();
}

Result<void> WaitSet::add(ByteSubscriber& sub, std::uint64_t key) {
  return add_state(sub.s_.get(), key);
}

Result<void> WaitSet::add(QueueReceiver& receiver, std::uint64_t key) {
  return add_state(receiver.s_.get(), key);
}

Result<std::vector<std::uint64_t>> WaitSet::wait(std::chrono::nanoseconds timeout) {
  const auto deadline = os::Deadline::after(timeout);
  for (;;) {
    std::vector<std::uint64_t> ready;
    for (auto& m : members_)
      if (channel::has_data(*m.state)) ready.push_back(m.key);
    if (!ready.empty()) return ready;
    // Arm every member, then sleep until one is signalled.
    for (auto& m : members_) channel::arm_fd(*m.state);
    for (auto& m : members_)
      if (channel::has_data(*m.state)) ready.push_back(m.key);
    if (!ready.empty()) return ready;
    epoll_event events[16];
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline.remaining()).count();
    const int n = ::epoll_wait(epoll_fd_, events, 16,
                               static_cast<int>(std::min<std::int64_t>(ms, INT32_MAX)));
    if (n < 0 && errno != EINTR) return fail(Error::from_errno(errno, "epoll_wait"));
    for (int i = 0; i < n; ++i) {
      const auto idx = static_cast<std::size_t>(events[i].data.u64);
      if (idx < members_.size()) ready.push_back(members_[idx].key);
    }
    if (!ready.empty()) return ready;
    if (deadline.expired()) return fail(Errc::timed_out);
  }
}

}  // namespace sluice
