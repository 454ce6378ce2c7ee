// Cold paths that walk chunk metadata: info, iteration, reclaiming a dead
// peer's chunks, statistics.

#include <sluice/alloc/internal/heap.hpp>

#include <sluice/alloc/free_list.hpp>

#include <fmt/format.h>

namespace sluice::alloc {

Result<ChunkInfo> Heap::info(std::uint32_t id) const {
  if (id >= total_chunks_)
    return fail(Errc::bad_chunk, "chunk id {} is outside the {} chunks of the heap", id,
                total_chunks_);
  const layout::ChunkMeta& m = meta_[id];
  const std::uint64_t c = m.control.load(std::memory_order_acquire);
  if (control::raw_state(c) >= kStateCount) {
    note_corruption();
    return fail(Errc::corrupted, "chunk {}: invalid state {}", id, control::raw_state(c));
  }
  ChunkInfo info;
  info.state = control::state(c);
  info.owner = control::owner(c);
  info.refs = control::refs(c);
  info.ref.generation = control::generation(c);
  info.ref.id = id;
  if (id < pool_chunks_) {
    const std::uint32_t p = pool_of(id);
    const auto& g = pools_geo_[p];
    info.pool = p;
    info.ref.offset = g.region_offset + std::uint64_t{id - g.first_id} * g.chunk_size;
    info.size = g.chunk_size;
  } else {
    info.pool = kTlsfPool;
    info.ref.offset = m.offset.load(std::memory_order_relaxed);
    info.size = m.size.load(std::memory_order_relaxed);
  }
  return info;
}

void Heap::for_each_live_chunk(const std::function<void(const ChunkInfo&)>& fn) const {
  for (std::uint32_t id = 0; id < total_chunks_; ++id) {
    const std::uint64_t c = meta_[id].control.load(std::memory_order_relaxed);
    const auto st = control::state(c);
    if (st == ChunkState::free || st == ChunkState::unused) continue;
    if (auto i = info(id)) fn(*i);
  }
}

void Heap::for_each_chunk_of(PeerIndex peer,
                             const std::function<void(const ChunkInfo&)>& fn) const {
  for (std::uint32_t id = 0; id < total_chunks_; ++id) {
    const std::uint64_t c = meta_[id].control.load(std::memory_order_relaxed);
    const auto st = control::state(c);
    if (control::owner(c) != peer || st == ChunkState::free || st == ChunkState::unused) continue;
    if (auto i = info(id)) {
      if (i->owner == peer) fn(*i);
    }
  }
}

Result<ReclaimReport> Heap::reclaim_peer(PeerIndex peer) {
  if (peer > kMaxPeerIndex)
    return fail(Errc::invalid_argument, "reclaim: peer index {} is out of range", peer);
  ReclaimReport report;
  std::vector<std::uint32_t> tlsf_to_finish;
  for (std::uint32_t id = 0; id < total_chunks_; ++id) {
    layout::ChunkMeta& m = meta_[id];
    const bool pool = id < pool_chunks_;
    std::uint64_t c = m.control.load(std::memory_order_acquire);
    // Each CAS either applies to the word we examined or tells us the word
    // changed (a live holder released, someone else reclaimed); re-examine.
    for (std::uint32_t attempt = 0; attempt < 1024; ++attempt) {
      if (control::owner(c) != peer) break;
      const auto st = control::state(c);
      if (st == ChunkState::loaned) {
        // Only the owner could reach a loaned chunk: drop all references.
        const std::uint64_t next =
            pool ? control::make(ChunkState::free, kNoPeer, 0, control::generation(c))
                 : control::make(ChunkState::freeing, peer, 0, control::generation(c));
        if (!m.control.compare_exchange_weak(c, next, std::memory_order_acq_rel,
                                             std::memory_order_acquire))
          continue;
        if (pool) {
          const std::uint32_t p = pool_of(id);
          pool_push(p, id - pools_geo_[p].first_id);
        } else {
          tlsf_to_finish.push_back(id - pool_chunks_);
        }
        ++report.freed;
        break;
      }
      if (st == ChunkState::published) {
        if (!m.control.compare_exchange_weak(c, control::with_owner(c, kNoPeer),
                                             std::memory_order_acq_rel, std::memory_order_acquire))
          continue;
        ++report.orphaned;
        break;
      }
      if (st == ChunkState::freeing && !pool) {
        tlsf_to_finish.push_back(id - pool_chunks_);
        ++report.completed;
      }
      break;
    }
  }
  if (!tlsf_to_finish.empty()) {
    Tlsf t(*this);
    SLUICE_TRY_ASSIGN(auto guard, t.lock());
    for (std::uint32_t d : tlsf_to_finish) {
      auto r = t.finish_free(d);
      if (!r) return fail(r.error().context(fmt::format("reclaim peer {}", peer)));
    }
  }
  return report;
}

HeapStats Heap::stats() const {
  using FreeList = TaggedFreeList<std::atomic>;
  HeapStats s;
  s.meta_bytes = header_->meta_bytes;
  s.data_bytes = data_size_;
  s.oom_failures = header_->oom_failures.load(std::memory_order_relaxed);
  s.tlsf_fallbacks = header_->tlsf_fallbacks.load(std::memory_order_relaxed);
  s.corruption_events = header_->corruption_events.load(std::memory_order_relaxed);
  for (std::uint32_t c = 0; c < class_count_; ++c) {
    const auto& d = pools_[c];
    PoolStats p;
    p.index = c;
    p.chunk_size = pools_geo_[c].chunk_size;
    p.capacity = pools_geo_[c].count;
    // In use = capacity - the free list's length, which its top records
    // (see free_list.hpp). A snapshot: exact when the pool is quiet.
    const std::uint32_t top = FreeList::index_of(d.head.load(std::memory_order_acquire));
    std::uint32_t listed = 0;
    if (top < p.capacity)
      listed = meta_[pools_geo_[c].first_id + top].depth.load(std::memory_order_relaxed);
    p.in_use = listed > p.capacity ? 0 : p.capacity - listed;
    const std::uint64_t hw = d.high_water.load(std::memory_order_relaxed);
    p.high_water = static_cast<std::uint32_t>(hw > p.capacity ? p.capacity : hw);
    p.failures = d.failures.load(std::memory_order_relaxed);
    p.lost = d.lost.load(std::memory_order_relaxed);
    s.pools.push_back(p);
  }
  auto& t = s.tlsf;
  t.region_bytes = tlsf_bytes_;
  t.max_blocks = tlsf_max_blocks_;
  t.free_bytes = tlsf_->free_bytes.load(std::memory_order_relaxed);
  t.used_blocks = tlsf_->used_blocks.load(std::memory_order_relaxed);
  t.free_blocks = tlsf_->free_blocks.load(std::memory_order_relaxed);
  t.allocations = tlsf_->allocations.load(std::memory_order_relaxed);
  t.failures = tlsf_->failures.load(std::memory_order_relaxed);
  t.repairs = tlsf_->repairs.load(std::memory_order_relaxed);
  t.corrupted = tlsf_->status.load(std::memory_order_relaxed) != 0;
  // Largest free block: a scan of the descriptors (atomics, no lock), so
  // inspection never waits behind an allocation.
  for (std::uint32_t d = 0; d < tlsf_max_blocks_; ++d) {
    const auto& m = meta_[pool_chunks_ + d];
    if (control::state(m.control.load(std::memory_order_relaxed)) != ChunkState::free) continue;
    const std::uint64_t sz = m.size.load(std::memory_order_relaxed);
    if (sz <= tlsf_bytes_ && sz > t.largest_free) t.largest_free = sz;
  }
  return s;
}

std::string format_stats_table(const HeapStats& s) {
  std::string out = fmt::format("{:>4}  {:>10}  {:>9}  {:>9}  {:>10}  {:>9}\n", "pool", "chunk",
                                "capacity", "in use", "high water", "failures");
  for (const auto& p : s.pools)
    out += fmt::format("{:>4}  {:>10}  {:>9}  {:>9}  {:>10}  {:>9}\n", p.index,
                       format_bytes(p.chunk_size), p.capacity, p.in_use, p.high_water, p.failures);
  const auto& t = s.tlsf;
  if (t.region_bytes == 0) {
    out += "tlsf  none\n";
  } else {
    out += fmt::format(
        "tlsf  region {}, free {}, largest free {}, blocks {} used / {} free of {}, "
        "allocations {}, failures {}, repairs {}{}\n",
        format_bytes(t.region_bytes), format_bytes(t.free_bytes), format_bytes(t.largest_free),
        t.used_blocks, t.free_blocks, t.max_blocks, t.allocations, t.failures, t.repairs,
        t.corrupted ? ", CORRUPTED" : "");
  }
  out += fmt::format(
      "heap  metadata {}, data {}, out-of-memory {}, tlsf fallbacks {}, corruption events {}\n",
      format_bytes(s.meta_bytes), format_bytes(s.data_bytes), s.oom_failures, s.tlsf_fallbacks,
      s.corruption_events);
  return out;
}

std::string format_stats_json(const HeapStats& s) {
  std::string pools;
  for (const auto& p : s.pools) {
    if (!pools.empty()) pools += ",";
    pools += fmt::format(
        R"({{"index":{},"chunk_size":{},"capacity":{},"in_use":{},"high_water":{},"failures":{},"lost":{}}})",
        p.index, p.chunk_size, p.capacity, p.in_use, p.high_water, p.failures, p.lost);
  }
  const auto& t = s.tlsf;
  return fmt::format(
      R"({{"meta_bytes":{},"data_bytes":{},"oom_failures":{},"tlsf_fallbacks":{},"corruption_events":{},)"
      R"("pools":[{}],"tlsf":{{"region_bytes":{},"free_bytes":{},"largest_free":{},"max_blocks":{},)"
      R"("used_blocks":{},"free_blocks":{},"allocations":{},"failures":{},"repairs":{},"corrupted":{}}}}})",
      s.meta_bytes, s.data_bytes, s.oom_failures, s.tlsf_fallbacks, s.corruption_events, pools,
      t.region_bytes, t.free_bytes, t.largest_free, t.max_blocks, t.used_blocks, t.free_blocks,
      t.allocations, t.failures, t.repairs, t.corrupted ? "true" : "false");
}

}  // namespace sluice::alloc
