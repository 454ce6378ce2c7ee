// Domain::sweep(): on an idle domain, recount the holders of every chunk and
// drop the references nobody holds. What it recovers is what a process
// killed between a reference count change and the record of it leaves
// behind (docs/crash-safety.md, "Remaining windows"): those windows leak
// rather than risk a double release, and only a quiescent recount can tell
// a leaked reference from one a live process is about to record.

#include <sluice/channel/internal/core.hpp>

#include <fmt/format.h>

#include <cstring>

namespace sluice {
namespace {

struct Holders {
  std::vector<std::uint32_t> count;  // per chunk id
  SweepReport* report;
  const alloc::Heap* heap;

  // One holder of the chunk `d` names. A descriptor naming no live chunk is
  // a problem (someone released what a holder still names).
  void add(const ring::Descriptor& d, std::string_view where) {
    if (d.is_inline()) return;
    if (d.tag >= heap->total_chunks()) {
      report->problems.push_back(
          fmt::format("{} names chunk id {} (of {})", where, d.tag, heap->total_chunks()));
      return;
    }
    auto info = heap->info(d.tag);
    if (!info || info->ref.offset != d.offset || info->ref.generation != d.generation ||
        !alloc::is_live(info->state)) {
      report->problems.push_back(fmt::format("{} names chunk {} (generation {}) which is not live",
                                             where, d.tag, d.generation));
      return;
    }
    ++count[d.tag];
  }
};

}  // namespace

Result<SweepReport> Domain::sweep() {
  State& st = *state_;
  SLUICE_TRY(reclaim());
  std::lock_guard<std::mutex> guard(st.reclaim_mutex);
  for (const auto& p : st.segment.peers()) {
    if (p.index == st.peer) continue;
    if (p.alive)
      return fail(Errc::invalid_argument,
                  "sweep domain '{}': peer {} (pid {}) is attached; sweep needs an idle domain",
                  name(), p.index, p.identity.pid);
  }
  SweepReport rep;
  Holders holders{std::vector<std::uint32_t>(st.heap.total_chunks(), 0), &rep, &st.heap};
  SLUICE_TRY_ASSIGN(const auto entries, st.segment.registry_list());
  struct Open {
    std::shared_ptr<channel::ChannelCore> core;
    layout::EntryInfo entry;
  };
  std::vector<Open> channels;
  for (const auto& e : entries) {
    auto core = channel::ChannelCore::attach_existing(state_, e);
    if (!core) {
      rep.problems.push_back(fmt::format("channel '{}' skipped: {}", e.name, core.error().what()));
      continue;
    }
    auto& ch = **core;
    for (std::uint32_t i = 0; i < ch.g.max_publishers + ch.g.max_subscribers; ++i) {
      const bool pub = i < ch.g.max_publishers;
      const channel::EndpointSlot& s = pub ? ch.pubs[i] : ch.subs[i - ch.g.max_publishers];
      const std::uint64_t c = s.control.load(std::memory_order_acquire);
      if (channel::endpoint_state_of(c) != channel::EndpointState::free)
        return fail(Errc::invalid_argument,
                    "sweep domain '{}': channel '{}' has an open {} (pid {})", name(), e.name,
                    pub ? "publisher" : "subscriber", channel::endpoint_pid_of(c));
    }
    channels.push_back({std::move(core).value(), e});
  }

  for (auto& [core, e] : channels) {
    auto& ch = *core;
    // The control block: one reference, the registry entry's.
    {
      ring::Descriptor d =
          ring::Descriptor::make_chunk(e.control_offset, ch.ctl->chunk_generation, 0, 0, 0);
      d.tag = ch.ctl->chunk_id;
      holders.add(d, fmt::format("channel '{}' control block", ch.name));
    }
    // Held records of closed subscribers (every slot is closed here): a
    // closer that died half-way left them; the references they name were
    // released or are recounted below.
    for (std::uint32_t i = 0; i < ch.g.max_subscribers; ++i) {
      channel::HeldSlot* hs = ch.held_of(i);
      for (std::uint32_t k = 0; k < ch.g.held_capacity; ++k) {
        if (hs[k].id.load(std::memory_order_relaxed) == UINT32_MAX) continue;
        hs[k].id.store(UINT32_MAX, std::memory_order_relaxed);
        ++rep.records_cleared;
      }
    }
    // A queue's messages wait for the next receiver; pub/sub rings of closed
    // subscribers are formatted again by the next one (not holders).
    if (ch.g.kind == channel::Kind::queue) {
      using Q = channel::QueueRing;
      std::byte* mem = ch.ring(0);
      SLUICE_TRY(Q::attach(mem, ch.ring_bytes()));  // validates header and indices
      const auto* rc = reinterpret_cast<const ring::RingControl*>(mem);
      const std::uint64_t head = rc->head.value.load(std::memory_order_acquire);
      const std::uint64_t tail = rc->tail.value.load(std::memory_order_acquire);
      if (tail - head > ch.g.capacity)
        return fail(Errc::corrupted, "sweep: channel '{}' queue has head {} and tail {}", ch.name,
                    head, tail);
      for (std::uint64_t p = head; p != tail; ++p) {
        const std::byte* cell =
            mem + ring::kRingDataOffset + (p & (ch.g.capacity - 1)) * Q::kCellStride;
        std::uint64_t seq;
        std::memcpy(&seq, cell, sizeof seq);
        if (seq != p + 1) continue;  // claimed, never written: no descriptor
        ring::Descriptor d;
        std::memcpy(&d, cell + Q::kCellDataOffset, sizeof d);
        if (ring::check(d)) holders.add(d, fmt::format("channel '{}' queue index {}", ch.name, p));
      }
    }
    const std::uint64_t count = ch.ctl->history_count.load(std::memory_order_acquire);
    for (std::uint64_t k = 0; k < std::min<std::uint64_t>(count, ch.g.history); ++k) {
      const channel::HistorySlot& h = ch.history[k];
      if (h.version.load(std::memory_order_acquire) & 1)
        continue;  // torn by a dead writer: holds nothing
      ring::Descriptor d;
      ring::load_words(reinterpret_cast<const std::byte*>(&h.desc), d);
      if (ring::check(d)) holders.add(d, fmt::format("channel '{}' history slot {}", ch.name, k));
    }
    // Registry references belong to endpoints, and none is open.
    for (std::uint32_t r = 0; r < e.refs; ++r) {
      if (!st.segment.registry_detach(layout::EntryRef{e.index, e.generation, 0, 0, false})) break;
      ++rep.records_cleared;
    }
  }

  // Drop what nobody holds.
  for (std::uint32_t id = 0; id < st.heap.total_chunks(); ++id) {
    auto info = st.heap.info(id);
    if (!info) continue;
    const auto s = info->state;
    if (!alloc::is_live(s)) continue;
    std::uint32_t excess = 0;
    if (s == alloc::ChunkState::loaned) {
      if (info->owner == st.peer) continue;  // our own loan
      excess = info->refs;                   // a loan of a peer that is gone
    } else if (info->refs > holders.count[id]) {
      excess = info->refs - holders.count[id];
    } else if (info->refs < holders.count[id]) {
      rep.problems.push_back(fmt::format("chunk {} has {} references but {} holders", id,
                                         info->refs, holders.count[id]));
      continue;
    }
    for (std::uint32_t k = 0; k < excess; ++k) {
      auto r = st.heap.release(info->ref, st.peer);
      if (!r) break;
      ++rep.references_recovered;
      if (*r) ++rep.chunks_freed;
    }
  }
  SLUICE_TRY_ASSIGN(const alloc::AuditReport audit, st.heap.audit(true));
  rep.lost_chunks_relisted = audit.lost_chunks;
  return rep;
}

}  // namespace sluice
