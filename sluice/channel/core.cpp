// Channel control blocks: geometry, creation, attach validation, endpoint
// slots, and closing the endpoints of departed or dead processes.

#include <sluice/base/internal/crash_point.hpp>
#include <sluice/channel/internal/core.hpp>
#include <sluice/os/clock.hpp>
#include <sluice/os/futex.hpp>
#include <sluice/os/process.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <thread>

namespace sluice::channel {
namespace {

using namespace std::chrono_literals;

// Longest wait of a departing subscriber for a publish in progress.
constexpr auto kPublishGuardWait = 2s;

std::uint64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

Result<Geometry> plan_channel(const ChannelOptions& asked, Kind kind, std::uint64_t element_size,
                              std::uint64_t type_id) {
  // The configuration a new channel gets: what was asked, defaults for the rest.
  struct {
    std::uint64_t capacity;
    FullPolicy policy;
    std::uint64_t history;
    std::uint32_t max_subscribers, max_senders, max_held;
  } const o{asked.capacity.value_or(ChannelOptions::kDefaultCapacity),
            asked.policy.value_or(FullPolicy::block),
            asked.history.value_or(0),
            asked.max_subscribers.value_or(ChannelOptions::kDefaultMaxSubscribers),
            asked.max_senders.value_or(ChannelOptions::kDefaultMaxSenders),
            asked.max_held.value_or(ChannelOptions::kDefaultMaxHeld)};
  Geometry g;
  g.kind = kind;
  g.policy = o.policy;
  // Range first: the value may come from shared memory (geometry_from_config),
  // and rounding a huge one up would shift past 64 bits.
  if (o.capacity == 0 || o.capacity > (1u << 20))
    return fail(Errc::invalid_argument, "channel capacity {} must be 1..{}", o.capacity, 1u << 20);
  g.capacity = next_pow2(std::max<std::uint64_t>(o.capacity, 2));
  if (static_cast<std::uint32_t>(o.policy) > 2)
    return fail(Errc::invalid_argument, "unknown full-queue policy");
  if (asked.publish_timeout.count() < 0)
    return fail(Errc::invalid_argument, "publish_timeout {} ns is negative (0: do not wait)",
                asked.publish_timeout.count());
  g.element_size = element_size;
  g.type_id = type_id;
  if (o.max_held == 0 || o.max_held > kMaxHeld)
    return fail(Errc::invalid_argument, "max_held {} must be 1..{}", o.max_held, kMaxHeld);
  g.held_capacity = o.max_held;
  if (kind == Kind::pubsub) {
    if (o.max_subscribers == 0 || o.max_subscribers > kMaxSubscribers)
      return fail(Errc::invalid_argument, "max_subscribers {} must be 1..{}", o.max_subscribers,
                  kMaxSubscribers);
    if (o.history > g.capacity)
      return fail(Errc::invalid_argument, "history {} exceeds the ring capacity {}", o.history,
                  g.capacity);
    g.max_subscribers = o.max_subscribers;
    g.max_publishers = 1;
    g.history = o.history;
    g.ring_stride = align_up(DescRing::required_size(g.capacity), kCacheLine);
  } else {
    if (o.policy == FullPolicy::overwrite)
      return fail(Errc::invalid_argument,
                  "queues do not support the overwrite policy (a sender cannot evict)");
    if (o.max_senders == 0 || o.max_senders > kMaxPublishers)
      return fail(Errc::invalid_argument, "max_senders {} must be 1..{}", o.max_senders,
                  kMaxPublishers);
    g.max_subscribers = 1;
    g.max_publishers = o.max_senders;
    g.history = 0;
    g.ring_stride = align_up(QueueRing::required_size(g.capacity), kCacheLine);
  }
  std::uint64_t at = sizeof(ChannelControl);
  g.subscribers = at;
  at += std::uint64_t{g.max_subscribers} * sizeof(EndpointSlot);
  g.publishers = at;
  at += std::uint64_t{g.max_publishers} * sizeof(EndpointSlot);
  g.held = at;
  at += std::uint64_t{g.max_subscribers} * g.held_capacity * sizeof(HeldSlot);
  at = align_up(at, kCacheLine);
  g.history_slots = at;
  at += g.history * sizeof(HistorySlot);
  at = align_up(at, kCacheLine);
  g.rings = at;
  at += (kind == Kind::pubsub ? g.max_subscribers : 1) * g.ring_stride;
  g.total = at;
  return g;
}

layout::EntryConfig entry_config(const Geometry& g) {
  layout::EntryConfig c{};
  c.kind = static_cast<std::uint32_t>(g.kind);
  c.flags = static_cast<std::uint32_t>(g.policy);
  c.type_id = g.type_id;
  c.element_size = g.element_size;
  c.params[0] = g.capacity;
  c.params[1] = g.history;
  c.params[2] = (std::uint64_t{g.max_publishers} << 32) | g.max_subscribers;
  c.params[3] = g.held_capacity;
  c.params[4] = 0;
  return c;
}

Result<Geometry> geometry_from_config(const layout::EntryConfig& c) {
  ChannelOptions o;
  if (c.kind != static_cast<std::uint32_t>(Kind::pubsub) &&
      c.kind != static_cast<std::uint32_t>(Kind::queue))
    return fail(Errc::corrupted, "channel kind {}", c.kind);
  o.policy = static_cast<FullPolicy>(c.flags);
  o.capacity = c.params[0];
  o.history = c.params[1];
  o.max_subscribers = static_cast<std::uint32_t>(c.params[2]);
  o.max_senders = static_cast<std::uint32_t>(c.params[2] >> 32);
  o.max_held = static_cast<std::uint32_t>(c.params[3]);
  auto g = plan_channel(o, static_cast<Kind>(c.kind), c.element_size, c.type_id);
  if (!g) return fail(Errc::corrupted, "channel configuration: {}", g.error().what());
  if (entry_config(*g).params[2] != c.params[2] || g->capacity != c.params[0])
    return fail(Errc::corrupted, "channel configuration is not canonical");
  return g;
}

namespace {

const char* policy_name(FullPolicy p) noexcept {
  switch (p) {
    case FullPolicy::block:
      return "block";
    case FullPolicy::overwrite:
      return "overwrite";
    case FullPolicy::fail:
      return "fail";
  }
  return "unknown";
}
const char* kind_name(Kind k) noexcept { return k == Kind::pubsub ? "publish/subscribe" : "queue"; }

// An endpoint attaching to `have` (the channel's geometry) with the
// requirements `asked` / `want` (what it would have created).
Result<void> check_requirements(std::string_view name, const Geometry& have, const Geometry& want,
                                const ChannelOptions& asked) {
  std::string diff;
  auto add = [&diff](std::string_view field, const auto& has, const auto& wants) {
    if (!diff.empty()) diff += ", ";
    diff += fmt::format("{} {} (this endpoint asks for {})", field, has, wants);
  };
  if (have.kind != want.kind) add("kind", kind_name(have.kind), kind_name(want.kind));
  if (have.element_size != want.element_size)
    add("element size", have.element_size, want.element_size);
  if (have.type_id != want.type_id)
    add("payload type id", fmt::format("{:#018x}", have.type_id),
        fmt::format("{:#018x}", want.type_id));
  // Requirements are compared as the channel would have stored them (the
  // capacity rounded up to a power of two).
  if (asked.capacity && have.capacity != want.capacity)
    add("capacity", have.capacity, want.capacity);
  if (asked.policy && have.policy != want.policy)
    add("policy", policy_name(have.policy), policy_name(want.policy));
  if (asked.history && have.history != want.history) add("history", have.history, want.history);
  if (asked.max_subscribers && have.kind == Kind::pubsub &&
      have.max_subscribers != want.max_subscribers)
    add("max_subscribers", have.max_subscribers, want.max_subscribers);
  if (asked.max_senders && have.kind == Kind::queue && have.max_publishers != want.max_publishers)
    add("max_senders", have.max_publishers, want.max_publishers);
  if (asked.max_held && have.held_capacity != want.held_capacity)
    add("max_held", have.held_capacity, want.held_capacity);
  if (diff.empty()) return ok();
  return fail(Errc::config_mismatch, "channel '{}' exists with {}", name, diff);
}

}  // namespace

Result<std::shared_ptr<ChannelCore>> ChannelCore::open(const Domain& domain, std::string_view name,
                                                       const Geometry& geometry,
                                                       const ChannelOptions& asked) {
  auto core = std::make_shared<ChannelCore>();
  core->domain = domain.state();
  core->name = std::string(name);
  core->g = geometry;
  auto& state = *core->domain;
  // Formats the control block; runs under the registry lock, once.
  auto format = [&geometry, &state](layout::Segment& seg) -> Result<layout::Section> {
    SLUICE_TRY_ASSIGN(const alloc::ChunkRef ref, state.heap.allocate(geometry.total, state.peer));
    auto view = state.heap.resolve(ref);
    if (!view) {
      (void)state.heap.release(ref, state.peer);
      return fail(view.error());
    }
    std::memset(view->data, 0, geometry.total);
    auto* c = reinterpret_cast<ChannelControl*>(view->data);
    c->magic = kChannelMagic;
    c->version = kChannelVersion;
    c->kind = static_cast<std::uint32_t>(geometry.kind);
    c->policy = static_cast<std::uint32_t>(geometry.policy);
    c->max_subscribers = geometry.max_subscribers;
    c->max_publishers = geometry.max_publishers;
    c->capacity = geometry.capacity;
    c->history_capacity = geometry.history;
    c->element_size = geometry.element_size;
    c->type_id = geometry.type_id;
    c->subscribers_offset = ref.offset + geometry.subscribers;
    c->publishers_offset = ref.offset + geometry.publishers;
    c->held_offset = ref.offset + geometry.held;
    c->held_capacity = geometry.held_capacity;
    c->history_offset = ref.offset + geometry.history_slots;
    c->rings_offset = ref.offset + geometry.rings;
    c->ring_stride = geometry.ring_stride;
    c->total_size = geometry.total;
    c->chunk_id = ref.id;
    c->chunk_generation = ref.generation;
    auto* held_slots = reinterpret_cast<HeldSlot*>(view->data + geometry.held);
    for (std::uint64_t i = 0; i < std::uint64_t{geometry.max_subscribers} * geometry.held_capacity;
         ++i)
      held_slots[i].id.store(UINT32_MAX, std::memory_order_relaxed);
    auto* pub_slots = reinterpret_cast<EndpointSlot*>(view->data + geometry.publishers);
    for (std::uint32_t i = 0; i < geometry.max_publishers; ++i) {
      pub_slots[i].inflight_id.store(UINT32_MAX, std::memory_order_relaxed);
      pub_slots[i].evict_id.store(UINT32_MAX, std::memory_order_relaxed);
    }
    if (geometry.kind == Kind::queue) {
      SLUICE_TRY(
          QueueRing::format(view->data + geometry.rings, geometry.ring_stride, geometry.capacity));
    }
    // The block belongs to the channel, not to its creator: published, so a
    // dead creator's reclamation leaves it alone.
    SLUICE_TRY(state.heap.publish(ref));
    (void)seg;
    return layout::Section{ref.offset, geometry.total};
  };
  // An existing channel is adopted when it meets the requirements; its
  // geometry then comes from its own (validated) registry configuration.
  auto accept = [&](const layout::EntryConfig& existing) -> Result<void> {
    auto have = geometry_from_config(existing);
    if (!have) return fail(have.error().context(fmt::format("channel '{}' in the registry", name)));
    return check_requirements(name, *have, geometry, asked);
  };
  SLUICE_TRY_ASSIGN(core->entry, state.segment.registry_create_or_attach(
                                     name, entry_config(geometry), format, accept));
  core->registered = true;
  if (!core->entry.created) {
    SLUICE_TRY_ASSIGN(core->g, geometry_from_config(core->entry.config));
  }
  SLUICE_TRY(core->bind(core->entry.control_offset));
  return core;
}

Result<std::shared_ptr<ChannelCore>> ChannelCore::attach_existing(
    const std::shared_ptr<Domain::State>& domain, const layout::EntryInfo& entry) {
  auto core = std::make_shared<ChannelCore>();
  core->domain = domain;
  core->name = entry.name;
  SLUICE_TRY_ASSIGN(core->g, geometry_from_config(entry.config));
  core->entry = layout::EntryRef{entry.index, entry.generation, entry.control_offset,
                                 entry.control_size, false};
  SLUICE_TRY(core->bind(entry.control_offset));
  return core;
}

// Validates the control block against the geometry this process computed
// from the (matching) registry configuration. Nothing of the block is
// trusted before this passes.
Result<void> ChannelCore::bind(std::uint64_t control_offset) {
  auto& seg = domain->segment;
  const auto bad = [this](std::string_view what) {
    return fail(Errc::corrupted, "channel '{}' in domain '{}': {}", name, domain->segment.name(),
                what);
  };
  const auto& h = seg.geometry();
  if (control_offset < h.data.offset || !fits(control_offset - h.data.offset, g.total, h.data.size))
    return bad(
        fmt::format("control block [{}, +{}) outside the data area", control_offset, g.total));
  SLUICE_TRY_ASSIGN(ctl, seg.at<ChannelControl>(control_offset));
  const auto& c = *ctl;
  if (c.magic != kChannelMagic) return bad("bad control block magic");
  if (c.version != kChannelVersion) return bad(fmt::format("control block version {}", c.version));
  if (c.kind != static_cast<std::uint32_t>(g.kind) ||
      c.policy != static_cast<std::uint32_t>(g.policy) || c.max_subscribers != g.max_subscribers ||
      c.max_publishers != g.max_publishers || c.capacity != g.capacity ||
      c.history_capacity != g.history || c.element_size != g.element_size ||
      c.type_id != g.type_id || c.held_capacity != g.held_capacity || c.total_size != g.total ||
      c.ring_stride != g.ring_stride)
    return bad("control block does not match the registered configuration");
  if (c.subscribers_offset != control_offset + g.subscribers ||
      c.publishers_offset != control_offset + g.publishers ||
      c.held_offset != control_offset + g.held ||
      c.history_offset != control_offset + g.history_slots ||
      c.rings_offset != control_offset + g.rings)
    return bad("control block sections are misplaced");
  auto* base = reinterpret_cast<std::byte*>(ctl);
  subs = reinterpret_cast<EndpointSlot*>(base + g.subscribers);
  pubs = reinterpret_cast<EndpointSlot*>(base + g.publishers);
  held = reinterpret_cast<HeldSlot*>(base + g.held);
  history = reinterpret_cast<HistorySlot*>(base + g.history_slots);
  rings = base + g.rings;
  return ok();
}

ChannelCore::~ChannelCore() {
  if (!registered) return;
  // The last endpoint of a channel frees its registry entry and its block,
  // so a domain never runs out of entries for names it used once.
  auto freed = domain->segment.registry_detach(entry, [this] { return unused(); });
  if (freed && *freed) release_block();
}

bool ChannelCore::unused() const noexcept {
  if (g.kind != Kind::queue) return true;
  auto q = QueueRing::attach(ring(0), ring_bytes());
  return q && q->empty_hint();
}

void ChannelCore::release_block() noexcept {
  if (g.kind == Kind::pubsub) {
    const std::uint64_t count = ctl->history_count.load(std::memory_order_acquire);
    for (std::uint64_t k = 0; k < std::min<std::uint64_t>(count, g.history); ++k) {
      const HistorySlot& h = history[k];
      if (h.version.load(std::memory_order_acquire) & 1) continue;  // torn: holds nothing
      ring::Descriptor d;
      ring::load_words(reinterpret_cast<const std::byte*>(&h.desc), d);
      if (ring::check(d)) release_descriptor(d);
    }
  }
  // The heap validates the reference (a block already released by a
  // reclaimer that found it unnamed is stale, not freed twice).
  (void)heap().release(alloc::ChunkRef{entry.control_offset, ctl->chunk_generation, ctl->chunk_id},
                       peer());
}

void ChannelCore::free_if_unused() noexcept {
  auto freed = domain->segment.registry_free_if_unused(entry, [this] { return unused(); });
  if (freed && *freed) release_block();
}

bool ChannelCore::endpoint_alive(const EndpointSlot& slot) const noexcept {
  const std::uint64_t c = slot.control.load(std::memory_order_acquire);
  const std::int32_t pid = endpoint_pid_of(c);
  if (pid <= 0) return false;
  std::uint64_t start = 0;
  if (const layout::PeerSlot* p = domain->segment.peer_slot(slot.peer)) {
    const std::uint64_t pc = p->control.load(std::memory_order_acquire);
    if (layout::peer_pid_of(pc) == pid) start = p->start_time;
  }
  return os::check_liveness({pid, start}) == os::Liveness::alive;
}

Result<std::uint32_t> ChannelCore::claim_slot(EndpointSlot* table, std::uint32_t count,
                                              bool take_over_dead, std::string_view role) {
  const std::int32_t pid = ::getpid();
  for (int pass = 0; pass < 2; ++pass) {
    for (std::uint32_t i = 0; i < count; ++i) {
      EndpointSlot& s = table[i];
      std::uint64_t c = s.control.load(std::memory_order_acquire);
      if (endpoint_state_of(c) != EndpointState::free) {
        if (pass == 0 || !take_over_dead || endpoint_alive(s)) continue;
        // A dead process's slot: close it first (returns what it held).
        if (table == subs)
          close_subscriber(i, false);
        else
          close_publisher(i);
        c = s.control.load(std::memory_order_acquire);
        if (endpoint_state_of(c) != EndpointState::free) continue;
      }
      if (!s.control.compare_exchange_strong(c, endpoint_control(EndpointState::attaching, pid),
                                             std::memory_order_acq_rel))
        continue;
      s.peer = peer();
      s.attach_unix_ns = realtime_ns();
      s.messages.store(0, std::memory_order_relaxed);
      s.dropped.store(0, std::memory_order_relaxed);
      s.held.store(0, std::memory_order_relaxed);
      s.history_request = 0;
      s.waiting.store(0, std::memory_order_relaxed);
      s.inflight_pending.store(0, std::memory_order_relaxed);
      s.inflight_id.store(UINT32_MAX, std::memory_order_relaxed);
      s.evict_id.store(UINT32_MAX, std::memory_order_relaxed);
      s.pushing.store(0, std::memory_order_relaxed);
      s.epoch.fetch_add(1, std::memory_order_relaxed);
      return i;
    }
  }
  // Name who is there, for a useful message.
  std::string holders;
  for (std::uint32_t i = 0; i < count && i < 8; ++i) {
    const std::uint64_t c = table[i].control.load(std::memory_order_relaxed);
    if (endpoint_state_of(c) != EndpointState::free)
      holders += fmt::format("{}pid {}", holders.empty() ? "" : ", ", endpoint_pid_of(c));
  }
  return fail(Errc::table_full, "channel '{}': no free {} slot ({} of {} taken: {})", name, role,
              count, count, holders);
}

void ChannelCore::release_descriptor(const ring::Descriptor& d) noexcept {
  if (d.is_inline()) return;
  (void)heap().release(alloc::ChunkRef{d.offset, d.generation, d.tag}, peer());
}

bool ChannelCore::claim_close(EndpointSlot& s) noexcept {
  const std::int32_t me = ::getpid();
  std::uint64_t c = s.control.load(std::memory_order_acquire);
  // Each failed CAS means the word changed (someone claimed or freed it):
  // re-examine; bounded against a peer rewriting it forever.
  for (int attempt = 0; attempt < 64; ++attempt) {
    const EndpointState st = endpoint_state_of(c);
    if (st == EndpointState::free) return false;
    if (st == EndpointState::closing) {
      const std::int32_t closer = endpoint_pid_of(c);
      if (closer == me) return false;  // another thread of ours is at it
      if (os::check_liveness({closer, 0}) == os::Liveness::alive) return false;
    }
    if (s.control.compare_exchange_strong(c, endpoint_control(EndpointState::closing, me),
                                          std::memory_order_acq_rel, std::memory_order_acquire)) {
      s.peer = peer();  // endpoint_alive() now asks about the closer
      return true;
    }
  }
  return false;
}

// After closing the slot of a process that is gone, its registry reference
// (taken when it opened the channel) goes too. The slot is freed first: a
// closer dying in between leaks a count (Domain::sweep() recounts), never
// drops one twice.
void ChannelCore::detach_dead_owner(std::int32_t owner_pid) noexcept {
  if (owner_pid != ::getpid()) (void)domain->segment.registry_detach(entry);
}

std::uint32_t ChannelCore::close_subscriber(std::uint32_t i, bool by_publisher) noexcept {
  EndpointSlot& s = subs[i];
  const std::int32_t owner = endpoint_pid_of(s.control.load(std::memory_order_acquire));
  if (!claim_close(s)) return 0;
  SLUICE_CRASH_POINT("close.subscriber.claimed");
  std::uint32_t released = 0;
  if (g.kind == Kind::pubsub) {
    // SYNC G2: stop deliveries, then wait until a publish that may have read
    // the old mask has finished (publish_guard even, or moved on). Pairs with
    // the publisher's guard increment + seq_cst fence (SYNC G1).
    ctl->subscriber_mask.fetch_and(~(std::uint64_t{1} << i), std::memory_order_seq_cst);
    if (!by_publisher) {
      // Bounded: a guard left odd by a broken or hostile peer must not hang
      // every departing subscriber. A live publish that outlasts the bound
      // (one waiting for a slow subscriber longer than usual) may still push
      // into this ring after the drain below: that reference leaks
      // (Domain::sweep() recounts), nothing is released twice.
      const std::uint64_t g0 = ctl->publish_guard.load(std::memory_order_seq_cst);
      if (g0 & 1) {
        const auto deadline = os::Deadline::after(kPublishGuardWait);
        for (int spin = 0; ctl->publish_guard.load(std::memory_order_acquire) == g0; ++spin) {
          if (spin > 1000) {
            if (!endpoint_alive(pubs[0]) || deadline.expired())
              break;  // died mid-publish, or stuck
            std::this_thread::sleep_for(100us);
          }
        }
      }
    }
    // Nobody pushes into ring i now: return what is queued there.
    if (auto cons = DescRing::Consumer::attach(ring(i), ring_bytes())) {
      ring::Descriptor d{};
      for (std::uint64_t n = 0; n <= g.capacity; ++n) {
        auto r = cons->try_pop(d);
        if (!r || !*r) break;
        if (ring::check(d)) {
          release_descriptor(d);
          ++released;
        }
      }
    }
  }
  // A queue receiver killed inside a pop (between its head claim and the
  // hand-back of the cell) would stop the senders a lap later: hand the cell
  // back and release what it names (never recorded as held: that happens
  // after the pop). The receiver is gone, so no pop is in progress.
  if (g.kind == Kind::queue) {
    if (auto q = QueueRing::attach(ring(0), ring_bytes())) {
      released += q->release_abandoned_pops([this](const ring::Descriptor& d) {
        if (ring::check(d)) release_descriptor(d);
      });
    }
  }
  // Samples it received and did not release. Record cleared first (a
  // closer that dies in between leaks the reference, see claim_close).
  HeldSlot* hs = held_of(i);
  for (std::uint32_t k = 0; k < g.held_capacity; ++k) {
    const std::uint32_t id = hs[k].id.exchange(UINT32_MAX, std::memory_order_acq_rel);
    if (id == UINT32_MAX) continue;
    const alloc::ChunkRef ref{hs[k].offset.load(std::memory_order_relaxed),
                              hs[k].generation.load(std::memory_order_relaxed), id};
    SLUICE_CRASH_POINT("close.subscriber.held");
    (void)heap().release(ref, peer());
    ++released;
  }
  s.held.store(0, std::memory_order_relaxed);
  s.waiting.store(0, std::memory_order_relaxed);
  s.control.store(endpoint_control(EndpointState::free, 0), std::memory_order_release);
  detach_dead_owner(owner);
  wake_space_waiters();  // a publisher blocked on this subscriber goes on
  return released;
}

namespace {

bool names(const ring::Descriptor& d, std::uint64_t offset, std::uint32_t generation,
           std::uint32_t id) noexcept {
  return !d.is_inline() && d.offset == offset && d.generation == generation && d.tag == id;
}

}  // namespace

// Where the history holds the chunk (offset, generation, id), as an entry
// number (slot = number % history). Only the slots a dead publisher may have
// been writing are candidates: the one at history_count (written, count not
// yet bumped) and the one before it.
std::optional<std::uint64_t> ChannelCore::history_find(std::uint64_t offset,
                                                       std::uint32_t generation,
                                                       std::uint32_t id) const noexcept {
  if (g.history == 0) return std::nullopt;
  const std::uint64_t count = ctl->history_count.load(std::memory_order_acquire);
  for (std::uint64_t k : {count, count - 1}) {
    if (k == UINT64_MAX) continue;  // count 0: no entry before
    const HistorySlot& h = history[k % g.history];
    if (h.version.load(std::memory_order_acquire) & 1) continue;  // torn: holds nothing
    ring::Descriptor d;
    ring::load_words(reinterpret_cast<const std::byte*>(&h.desc), d);
    if (names(d, offset, generation, id)) return k;
  }
  return std::nullopt;
}

std::uint32_t ChannelCore::close_publisher(std::uint32_t i) noexcept {
  EndpointSlot& s = pubs[i];
  const std::int32_t owner = endpoint_pid_of(s.control.load(std::memory_order_acquire));
  if (!claim_close(s)) return 0;
  SLUICE_CRASH_POINT("close.publisher.claimed");
  std::uint32_t released = 0;
  // References added for deliveries that never happened.
  const std::uint32_t id = s.inflight_id.load(std::memory_order_acquire);
  if (id != UINT32_MAX) {
    const alloc::ChunkRef ref{s.inflight_offset, s.inflight_generation, id};
    std::uint64_t pending = s.inflight_pending.load(std::memory_order_acquire);
    // The history's reference: the slot's if it was written (write_history
    // clears the bit only after the write). Written but not yet counted: count
    // it, so that the entry is replaced (and released) in turn.
    if (pending & kInflightHistoryBit) {
      if (const auto k = history_find(ref.offset, ref.generation, ref.id)) {
        pending &= ~kInflightHistoryBit;
        if (*k == ctl->history_count.load(std::memory_order_acquire))
          ctl->history_count.store(*k + 1, std::memory_order_release);
      }
    }
    // One reference per delivery that did not happen; each bit cleared in
    // the record before its release (a closer taking over from a dead one
    // sees what is left).
    while (pending != 0) {
      pending &= pending - 1;
      s.inflight_pending.store(pending, std::memory_order_release);
      if (heap().release(ref, peer())) ++released;
    }
    s.inflight_id.store(UINT32_MAX, std::memory_order_release);
  }
  // A history entry being replaced: its reference goes unless the slot
  // still holds it (the publisher died before rewriting the slot).
  const std::uint32_t evict = s.evict_id.load(std::memory_order_acquire);
  if (evict != UINT32_MAX) {
    const alloc::ChunkRef ref{s.evict_offset, s.evict_generation, evict};
    const bool still_there = history_find(ref.offset, ref.generation, ref.id).has_value();
    s.evict_id.store(UINT32_MAX, std::memory_order_release);
    if (!still_there && heap().release(ref, peer())) ++released;
  }
  if (g.kind == Kind::pubsub && (ctl->publish_guard.load(std::memory_order_relaxed) & 1))
    ctl->publish_guard.fetch_add(1, std::memory_order_release);  // end the dead publish
  s.pushing.store(0, std::memory_order_relaxed);
  s.control.store(endpoint_control(EndpointState::free, 0), std::memory_order_release);
  detach_dead_owner(owner);
  return released;
}

std::string notify_address(std::int32_t pid, std::uint32_t port) {
  return fmt::format("sluice-notify-{}-{:08x}", pid, port);
}

void ChannelCore::wake(EndpointSlot& slot, std::uint32_t w) noexcept {
  // The waker clears the bits it serves: one wake per wait, however many
  // messages follow (no system call per message while the reader sleeps).
  w = slot.waiting.exchange(0, std::memory_order_acq_rel);
  if (w == 0) return;
  slot.notify_word.fetch_add(1, std::memory_order_release);
  if (w & kWaitFutex) os::futex_wake_all(slot.notify_word);
  if (w & kWaitFd) {
    // A datagram to the endpoint's abstract socket makes its fd readable.
    thread_local int sock = -1;
    if (sock < 0) sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sock < 0) return;
    const std::uint64_t c = slot.control.load(std::memory_order_relaxed);
    const std::string addr = notify_address(endpoint_pid_of(c), slot.notify_port);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path + 1, addr.data(), std::min(addr.size(), sizeof(sa.sun_path) - 2));
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + addr.size());
    const char one = 1;
    (void)::sendto(sock, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa),
                   len);
  }
}

void ChannelCore::wake_space_waiters() noexcept {
  std::atomic_thread_fence(
      std::memory_order_seq_cst);  // SYNC S1, pairs with the waiter's registration
  if (ctl->space_waiters.load(std::memory_order_relaxed) != 0) {
    ctl->space_word.fetch_add(1, std::memory_order_release);
    os::futex_wake_all(ctl->space_word);
  }
}

}  // namespace sluice::channel
