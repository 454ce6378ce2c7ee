#pragma once
// Independent accounting of a quiescent domain, for the crash tests: every
// reference a live chunk carries must be held by something a process could
// still release — a channel's control block, a queued descriptor, a history
// entry, a held-sample record of an attached subscriber, a loan of a live
// peer. The checker computes the expected reference count of every chunk
// from those holders (reading the shared structures directly, not through
// the library's reclaim or sweep code) and compares it with the allocator's
// metadata:
//
//   leaked refs      a chunk carries more references than holders (a process
//                    died between a release and the record of it, or the
//                    other way round); the chunk never comes back by itself
//   over-released    fewer references than holders, or a holder names a chunk
//                    that is free: some holder would read freed memory. Never
//                    acceptable.
//   lost pool chunks free chunks on no free list (Heap::audit)
//
// Precondition: nothing else uses the domain meanwhile (every other process
// has exited or been killed and reclaimed).

#include <sluice/alloc/heap.hpp>
#include <sluice/channel/internal/core.hpp>
#include <sluice/layout/segment.hpp>
#include <sluice/ring/descriptor.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::crash {

struct Accounting {
  std::uint32_t channels = 0;
  std::uint32_t live_chunks = 0;  // not free / unused
  std::uint32_t control_blocks = 0;
  std::uint32_t queued = 0;              // chunk descriptors waiting in queue rings
  std::uint32_t history = 0;             // chunk descriptors in history slots
  std::uint32_t leaked_refs = 0;         // references nobody holds
  std::uint32_t leaked_chunks = 0;       // chunks with at least one such reference
  std::uint32_t over_released = 0;       // holders without a reference (use after free)
  std::uint32_t loaned_orphans = 0;      // loans of processes no longer attached
  std::uint32_t freeing = 0;             // TLSF blocks whose free was not finished
  std::uint32_t lost_pool_chunks = 0;    // free but on no list
  std::uint32_t attached_endpoints = 0;  // endpoint slots still taken (none expected)
  std::uint32_t stale_held_records = 0;  // held records in free subscriber slots
  std::uint32_t registry_refs = 0;       // sum of registry reference counts
  std::uint32_t wedged_cells = 0;        // queue cells claimed and never written / released
  std::vector<std::string> problems;

  [[nodiscard]] bool leak_free() const noexcept {
    return leaked_refs == 0 && loaned_orphans == 0 && lost_pool_chunks == 0 && freeing == 0;
  }
  [[nodiscard]] bool safe() const noexcept { return over_released == 0 && wedged_cells == 0; }
};

namespace detail {

inline void note(Accounting& a, std::string what) {
  if (a.problems.size() < 16) a.problems.push_back(std::move(what));
}

// One holder of the chunk a descriptor names.
inline void hold(Accounting& a, std::vector<std::uint32_t>& expect, const alloc::Heap& heap,
                 const ring::Descriptor& d, std::string_view where) {
  if (d.is_inline()) return;
  if (d.tag >= heap.total_chunks()) {
    ++a.over_released;
    note(a, fmt::format("{}: descriptor names chunk id {} (of {})", where, d.tag,
                        heap.total_chunks()));
    return;
  }
  auto info = heap.info(d.tag);
  if (!info || info->ref.generation != d.generation || info->ref.offset != d.offset ||
      !alloc::is_live(info->state)) {
    ++a.over_released;
    note(a, fmt::format("{}: descriptor names chunk {} generation {} which is {}", where, d.tag,
                        d.generation, info ? alloc::to_string(info->state) : "invalid"));
    return;
  }
  ++expect[d.tag];
}

}  // namespace detail

// `self` is the checking process's own peer index: its loans are not leaks.
inline Accounting account(const Domain& domain) {
  Accounting a;
  const auto& state = domain.state();
  const alloc::Heap& heap = state->heap;
  const alloc::PeerIndex self = state->peer;
  std::vector<std::uint32_t> expect(heap.total_chunks(), 0);

  auto entries = state->segment.registry_list();
  if (!entries) {
    detail::note(a, fmt::format("registry: {}", entries.error().what()));
    return a;
  }
  for (const auto& e : *entries) {
    a.registry_refs += e.refs;
    auto core = channel::ChannelCore::attach_existing(state, e);
    if (!core) {
      detail::note(a, fmt::format("channel '{}': {}", e.name, core.error().what()));
      continue;
    }
    auto& ch = **core;
    ++a.channels;
    const auto where = [&ch](std::string_view part) {
      return fmt::format("channel '{}' {}", ch.name, part);
    };
    // The control block is held by its registry entry.
    const alloc::ChunkRef cref{e.control_offset, ch.ctl->chunk_generation, ch.ctl->chunk_id};
    if (auto info = heap.info(cref.id); info && info->ref.offset == cref.offset &&
                                        info->ref.generation == cref.generation &&
                                        alloc::is_live(info->state)) {
      ++expect[cref.id];
      ++a.control_blocks;
    } else {
      ++a.over_released;
      detail::note(a, where("control block chunk is not live"));
    }
    for (std::uint32_t i = 0; i < ch.g.max_publishers; ++i)
      if (channel::endpoint_state_of(ch.pubs[i].control.load()) != channel::EndpointState::free) {
        ++a.attached_endpoints;
        detail::note(a, where(fmt::format("publisher slot {} still taken (pid {})", i,
                                          channel::endpoint_pid_of(ch.pubs[i].control.load()))));
      }
    for (std::uint32_t i = 0; i < ch.g.max_subscribers; ++i) {
      const bool taken =
          channel::endpoint_state_of(ch.subs[i].control.load()) != channel::EndpointState::free;
      if (taken) {
        ++a.attached_endpoints;
        detail::note(a, where(fmt::format("subscriber slot {} still taken (pid {})", i,
                                          channel::endpoint_pid_of(ch.subs[i].control.load()))));
      }
      const channel::HeldSlot* hs = ch.held_of(i);
      for (std::uint32_t k = 0; k < ch.g.held_capacity; ++k) {
        const std::uint32_t id = hs[k].id.load();
        if (id == UINT32_MAX) continue;
        if (!taken) {
          ++a.stale_held_records;
          continue;
        }
        ring::Descriptor d =
            ring::Descriptor::make_chunk(hs[k].offset.load(), hs[k].generation.load(), 0, 0, 0);
        d.tag = id;
        detail::hold(a, expect, heap, d, where(fmt::format("held record {}/{}", i, k)));
      }
    }
    // Queued descriptors. Pub/sub rings of free slots hold nothing anyone
    // will release (the next subscriber formats the ring), so only taken
    // slots count; a queue's ring outlives its receiver.
    const std::uint32_t rings = ch.g.kind == channel::Kind::pubsub ? ch.g.max_subscribers : 1;
    for (std::uint32_t i = 0; i < rings; ++i) {
      std::byte* mem = ch.ring(i);
      auto* rc = reinterpret_cast<ring::RingControl*>(mem);
      if (ch.g.kind == channel::Kind::pubsub) {
        if (channel::endpoint_state_of(ch.subs[i].control.load()) == channel::EndpointState::free)
          continue;
        const std::uint64_t head = rc->head.value.load(), tail = rc->tail.value.load();
        if (tail - head > ch.g.capacity) {
          detail::note(a, where(fmt::format("ring {} has head {} tail {}", i, head, tail)));
          continue;
        }
        for (std::uint64_t p = head; p != tail; ++p) {
          ring::Descriptor d;
          std::memcpy(&d, mem + ring::kRingDataOffset + (p & (ch.g.capacity - 1)) * sizeof d,
                      sizeof d);
          detail::hold(a, expect, heap, d, where(fmt::format("ring {} index {}", i, p)));
          if (!d.is_inline()) ++a.queued;
        }
      } else {
        using Q = channel::QueueRing;
        const std::uint64_t head = rc->head.value.load(), tail = rc->tail.value.load();
        if (tail - head > ch.g.capacity) {
          detail::note(a, where(fmt::format("queue ring has head {} tail {}", head, tail)));
          continue;
        }
        // Every cell of the last lap must be handed back: positions before
        // head to the producers of the next lap (sequence pos + capacity, or
        // later), positions from head on written (pos + 1).
        for (std::uint64_t k = 0; k < ch.g.capacity; ++k) {
          const std::uint64_t p = tail - ch.g.capacity + k;
          if (p - rc->header.initial_index > tail - rc->header.initial_index)
            continue;  // before the first lap
          std::uint64_t seq;
          std::memcpy(&seq,
                      mem + ring::kRingDataOffset + (p & (ch.g.capacity - 1)) * Q::kCellStride,
                      sizeof seq);
          if (p < head && seq == p + 1) {
            ++a.wedged_cells;
            detail::note(a,
                         where(fmt::format("queue cell {} was popped and never handed back", p)));
          }
        }
        for (std::uint64_t p = head; p != tail; ++p) {
          std::byte* cell =
              mem + ring::kRingDataOffset + (p & (ch.g.capacity - 1)) * Q::kCellStride;
          std::uint64_t seq;
          std::memcpy(&seq, cell, sizeof seq);
          if (seq != p + 1) {
            ++a.wedged_cells;
            detail::note(a, where(fmt::format(
                                "queue cell {} has sequence {} (claimed, never written)", p, seq)));
            continue;
          }
          ring::Descriptor d;
          std::memcpy(&d, cell + Q::kCellDataOffset, sizeof d);
          detail::hold(a, expect, heap, d, where(fmt::format("queue index {}", p)));
          if (!d.is_inline()) ++a.queued;
        }
      }
    }
    // History: slots [0, min(count, H)) hold one reference each.
    const std::uint64_t count = ch.ctl->history_count.load();
    for (std::uint64_t k = 0; k < std::min<std::uint64_t>(count, ch.g.history); ++k) {
      const channel::HistorySlot& hs = ch.history[k];
      if (hs.version.load() & 1) {
        detail::note(a, where(fmt::format("history slot {} is mid-write", k)));
        continue;
      }
      ring::Descriptor d;
      std::memcpy(&d, &hs.desc, sizeof d);
      detail::hold(a, expect, heap, d, where(fmt::format("history slot {}", k)));
      if (!d.is_inline()) ++a.history;
    }
  }

  for (std::uint32_t id = 0; id < heap.total_chunks(); ++id) {
    auto info = heap.info(id);
    if (!info) {
      detail::note(a, fmt::format("chunk {}: {}", id, info.error().what()));
      continue;
    }
    const auto st = info->state;
    if (st == alloc::ChunkState::free || st == alloc::ChunkState::unused) {
      // Holders of free chunks were counted as over-released above.
      continue;
    }
    ++a.live_chunks;
    if (st == alloc::ChunkState::freeing) {
      ++a.freeing;
      continue;
    }
    if (st == alloc::ChunkState::loaned) {
      if (info->owner == self) continue;  // the checker's own loans
      ++a.loaned_orphans;
      detail::note(a, fmt::format("chunk {} ({} B) is loaned by peer {}, which is gone", id,
                                  info->size, info->owner));
      continue;
    }
    if (info->refs > expect[id]) {
      a.leaked_refs += info->refs - expect[id];
      ++a.leaked_chunks;
      detail::note(a, fmt::format("chunk {} ({} B) has {} references, {} holders", id, info->size,
                                  info->refs, expect[id]));
    } else if (info->refs < expect[id]) {
      a.over_released += expect[id] - info->refs;
      detail::note(a, fmt::format("chunk {} ({} B) has {} references but {} holders", id,
                                  info->size, info->refs, expect[id]));
    }
  }
  auto audit = state->heap.audit(false);
  if (audit) {
    a.lost_pool_chunks = audit->lost_chunks;
    if (audit->listed_live || audit->bad_links) {
      ++a.over_released;
      for (const auto& p : audit->problems) detail::note(a, "heap audit: " + p);
    }
  } else {
    detail::note(a, fmt::format("heap audit: {}", audit.error().what()));
  }
  return a;
}

inline std::string describe(const Accounting& a) {
  std::string s = fmt::format(
      "channels {}, live chunks {} (control blocks {}, queued {}, history {}), leaked refs {} in "
      "{} chunks, "
      "orphaned loans {}, unfinished frees {}, lost pool chunks {}, over-released {}, attached "
      "endpoints {}, "
      "stale held records {}, registry refs {}, wedged queue cells {}",
      a.channels, a.live_chunks, a.control_blocks, a.queued, a.history, a.leaked_refs,
      a.leaked_chunks, a.loaned_orphans, a.freeing, a.lost_pool_chunks, a.over_released,
      a.attached_endpoints, a.stale_held_records, a.registry_refs, a.wedged_cells);
  for (const auto& p : a.problems) s += "\n    " + p;
  return s;
}

}  // namespace sluice::crash
