// Reclaiming what dead processes held, and listing channels for tools.

#include <sluice/base/internal/crash_point.hpp>
#include <sluice/channel/internal/core.hpp>
#include <sluice/os/process.hpp>

#include <unistd.h>
#include <bit>

namespace sluice {

Result<ReclaimSummary> Domain::reclaim() {
  State& st = *state_;
  std::lock_guard<std::mutex> guard(st.reclaim_mutex);
  ReclaimSummary sum;
  const auto dead = st.segment.dead_peers();
  if (dead.empty()) return sum;
  sum.dead_peers = static_cast<std::uint32_t>(dead.size());
  // Mark them reclaiming, with our pid in the slot's control word (the dead
  // peer is identified by its slot index from now on): a slot only one
  // survivor works on. A slot left `reclaiming` by a survivor that died
  // while reclaiming it is taken over; every step below is safe to repeat
  // (each chunk transition is one CAS; endpoint closing is claimed).
  const std::int32_t me = ::getpid();
  std::vector<std::uint32_t> mine;
  for (const std::uint32_t p : dead) {
    layout::PeerSlot* slot = st.segment.peer_slot(p);
    std::uint64_t c = slot->control.load(std::memory_order_acquire);
    const auto state = layout::peer_state_of(c);
    if (state == layout::PeerState::reclaiming) {
      const std::int32_t reclaimer = layout::peer_pid_of(c);
      if (reclaimer == me || os::check_liveness({reclaimer, 0}) == os::Liveness::alive) continue;
    } else if (state != layout::PeerState::alive && state != layout::PeerState::attaching) {
      continue;
    }
    if (slot->control.compare_exchange_strong(
            c, layout::peer_control(layout::PeerState::reclaiming, me), std::memory_order_acq_rel))
      mine.push_back(p);
  }
  if (!mine.empty()) SLUICE_CRASH_POINT("reclaim.marked");
  // Endpoints of dead processes in every channel. Nothing below returns
  // early: the peers marked above must be finished (their loans freed, their
  // slots returned) even when a channel, or the whole registry, fails
  // validation; what could not be read is counted as skipped (`sluice
  // inspect` reports why).
  std::vector<layout::EntryInfo> entries;
  bool registry_read = true;
  if (auto listed = st.segment.registry_list()) {
    entries = std::move(listed).value();
  } else {
    registry_read = false;
    ++sum.channels_skipped;
  }
  for (const auto& e : entries) {
    auto core = channel::ChannelCore::attach_existing(state_, e);
    if (!core) {
      ++sum.channels_skipped;
      continue;
    }
    auto& ch = **core;
    for (std::uint32_t i = 0; i < ch.g.max_publishers; ++i) {
      const std::uint64_t c = ch.pubs[i].control.load(std::memory_order_acquire);
      if (channel::endpoint_state_of(c) == channel::EndpointState::free ||
          ch.endpoint_alive(ch.pubs[i]))
        continue;
      sum.references_released += ch.close_publisher(i);
      ++sum.endpoints_closed;
    }
    for (std::uint32_t i = 0; i < ch.g.max_subscribers; ++i) {
      const std::uint64_t c = ch.subs[i].control.load(std::memory_order_acquire);
      if (channel::endpoint_state_of(c) == channel::EndpointState::free ||
          ch.endpoint_alive(ch.subs[i]))
        continue;
      sum.references_released += ch.close_subscriber(i, false);
      ++sum.endpoints_closed;
    }
    // Their registry references are gone: a channel nobody holds any more
    // is freed (its entry and its block), as if its last endpoint closed.
    ch.free_if_unused();
  }
  // A channel control block is published (so that it outlives its creator)
  // inside the registry lock, just before its entry becomes ready. A creator
  // that died in between left a block no entry names, which the next locker
  // does not know about (it only frees the entry): release it. (Nothing
  // removes channels yet; a removal must free its block before its creator
  // could be reclaimed, or this would release it a second time.)
  // Only with the registry read: an unreadable one would make every block
  // look unnamed.
  std::vector<alloc::ChunkRef> abandoned;
  for (const std::uint32_t p : mine) {
    if (!registry_read) break;
    st.heap.for_each_chunk_of(static_cast<alloc::PeerIndex>(p), [&](const alloc::ChunkInfo& info) {
      if (info.state != alloc::ChunkState::published || info.refs != 1 ||
          info.size < sizeof(channel::ChannelControl))
        return;
      const auto* ctl =
          reinterpret_cast<const channel::ChannelControl*>(st.heap.base() + info.ref.offset);
      if (ctl->magic != channel::kChannelMagic || ctl->chunk_id != info.ref.id ||
          ctl->chunk_generation != info.ref.generation)
        return;
      for (const auto& e : entries)
        if (e.control_offset == info.ref.offset) return;  // a channel's, live
      abandoned.push_back(info.ref);
    });
  }
  if (!abandoned.empty()) {
    // Entries listed before this point may have been created since: a block
    // named by any ready entry now is kept (and all of them if the registry
    // cannot be read now; the sweep of an idle domain recounts).
    if (auto now = st.segment.registry_list()) {
      for (const auto& ref : abandoned) {
        bool named = false;
        for (const auto& e : *now) named = named || e.control_offset == ref.offset;
        if (named) continue;
        if (auto r = st.heap.release(ref, st.peer); r && *r) ++sum.chunks_freed;
      }
    }
  }
  // Loans and what the dead peers owned in the heap; then their slots.
  for (const std::uint32_t p : mine) {
    SLUICE_CRASH_POINT("reclaim.heap");
    auto r = st.heap.reclaim_peer(static_cast<alloc::PeerIndex>(p));
    if (r) {
      sum.chunks_freed += r->freed;
      sum.chunks_orphaned += r->orphaned;
    }
    layout::PeerSlot* slot = st.segment.peer_slot(p);
    slot->control.store(layout::peer_control(layout::PeerState::free, 0),
                        std::memory_order_release);
  }
  return sum;
}

Result<std::vector<ChannelInfo>> list_channels(const layout::Segment& segment) {
  SLUICE_TRY_ASSIGN(const auto entries, segment.registry_list());
  std::vector<ChannelInfo> out;
  for (const auto& e : entries) {
    SLUICE_TRY_ASSIGN(const channel::Geometry g, channel::geometry_from_config(e.config));
    const auto& h = segment.geometry();
    if (e.control_offset < h.data.offset ||
        !fits(e.control_offset - h.data.offset, g.total, h.data.size))
      return fail(Errc::corrupted, "channel '{}': control block outside the data area", e.name);
    SLUICE_TRY_ASSIGN(const channel::ChannelControl* ctl,
                      segment.at<channel::ChannelControl>(e.control_offset));
    if (ctl->magic != channel::kChannelMagic || ctl->total_size != g.total)
      return fail(Errc::corrupted, "channel '{}': bad control block", e.name);
    ChannelInfo info;
    info.name = e.name;
    info.kind = g.kind;
    info.policy = g.policy;
    info.capacity = g.capacity;
    info.history = g.history;
    info.element_size = g.element_size;
    info.published = ctl->published.load(std::memory_order_relaxed);
    info.last_publisher_pid = ctl->last_publisher_pid.load(std::memory_order_relaxed);
    info.last_subscriber_pid = ctl->last_subscriber_pid.load(std::memory_order_relaxed);
    const auto* base = reinterpret_cast<const std::byte*>(ctl);
    const auto* subs = reinterpret_cast<const channel::EndpointSlot*>(base + g.subscribers);
    const auto* pubs = reinterpret_cast<const channel::EndpointSlot*>(base + g.publishers);
    auto add = [&info](const channel::EndpointSlot& s, std::uint32_t i, bool pub,
                       std::uint64_t queued) {
      const std::uint64_t c = s.control.load(std::memory_order_acquire);
      if (channel::endpoint_state_of(c) == channel::EndpointState::free) return;
      info.endpoints.push_back({i, pub, channel::endpoint_pid_of(c), s.peer,
                                s.messages.load(std::memory_order_relaxed),
                                s.dropped.load(std::memory_order_relaxed),
                                s.held.load(std::memory_order_relaxed), queued});
    };
    for (std::uint32_t i = 0; i < g.max_publishers; ++i) add(pubs[i], i, true, 0);
    for (std::uint32_t i = 0; i < g.max_subscribers; ++i) {
      // Queued = ring tail - head, read from the ring's control words.
      std::uint64_t queued = 0;
      const std::byte* ring =
          base + g.rings + (g.kind == channel::Kind::pubsub ? i : 0) * g.ring_stride;
      if (g.kind == channel::Kind::pubsub) {
        if (auto cons =
                channel::DescRing::Consumer::attach(const_cast<std::byte*>(ring), g.ring_stride))
          queued = cons->size_hint();
      } else if (auto q = channel::QueueRing::attach(const_cast<std::byte*>(ring), g.ring_stride)) {
        queued = q->size_hint();
      }
      add(subs[i], i, false, queued);
    }
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace sluice
