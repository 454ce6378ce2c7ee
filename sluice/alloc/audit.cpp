// audit(): checks (and with repair=true, rebuilds) the pool free lists
// against the control words, and the TLSF structure against its
// descriptors.

#include <sluice/alloc/internal/heap.hpp>

#include <sluice/alloc/free_list.hpp>

#include <fmt/format.h>

namespace sluice::alloc {

Result<AuditReport> Heap::audit(bool repair) {
  using FreeList = TaggedFreeList<std::atomic>;
  AuditReport rep;
  for (std::uint32_t c = 0; c < class_count_; ++c) {
    const auto& g = pools_geo_[c];
    auto& desc = pools_[c];
    layout::ChunkMeta* m0 = meta_ + g.first_id;
    std::vector<std::uint8_t> listed(g.count, 0);
    const std::uint64_t head = desc.head.load(std::memory_order_acquire);
    std::uint32_t walked = 0;
    std::uint32_t bad_links = 0, listed_live = 0, lost = 0, invalid = 0, bad_depth = 0;
    for (std::uint32_t i = FreeList::index_of(head); i != FreeList::kNil;
         i = m0[i].next.load(std::memory_order_relaxed)) {
      if (i >= g.count) {
        ++bad_links;
        rep.problems.push_back(
            fmt::format("pool {}: free list links to {}, outside its {} chunks", c, i, g.count));
        break;
      }
      if (listed[i]) {
        ++bad_links;
        rep.problems.push_back(fmt::format("pool {}: free list is cyclic at chunk {}", c, i));
        break;
      }
      listed[i] = 1;
      ++walked;
      if (control::state(m0[i].control.load(std::memory_order_acquire)) != ChunkState::free)
        ++listed_live;
    }
    // Depths along the list must count down to 1 at the bottom.
    if (!bad_links) {
      std::uint32_t expect = walked;
      for (std::uint32_t i = FreeList::index_of(head); i != FreeList::kNil && expect > 0;
           i = m0[i].next.load(std::memory_order_relaxed), --expect)
        if (m0[i].depth.load(std::memory_order_relaxed) != expect) ++bad_depth;
    }
    for (std::uint32_t i = 0; i < g.count; ++i) {
      const std::uint64_t w = m0[i].control.load(std::memory_order_acquire);
      const std::uint8_t rs = control::raw_state(w);
      const auto st = control::state(w);
      if (rs >= kStateCount || st == ChunkState::unused || st == ChunkState::freeing) {
        ++invalid;
        if (repair)
          m0[i].control.store(control::make(ChunkState::free, kNoPeer, 0,
                                            control::next_generation(control::generation(w))),
                              std::memory_order_release);
        continue;
      }
      if (st == ChunkState::free && !listed[i]) ++lost;
    }
    if (listed_live)
      rep.problems.push_back(fmt::format("pool {}: {} listed chunks are not free", c, listed_live));
    if (lost)
      rep.problems.push_back(fmt::format("pool {}: {} free chunks are on no list", c, lost));
    if (invalid)
      rep.problems.push_back(fmt::format("pool {}: {} chunks have an invalid state", c, invalid));
    if (bad_depth)
      rep.problems.push_back(
          fmt::format("pool {}: {} listed chunks record a wrong list depth", c, bad_depth));
    rep.bad_links += bad_links;
    rep.listed_live += listed_live;
    rep.lost_chunks += lost;
    if (repair && (bad_links || listed_live || lost || invalid || bad_depth)) {
      // Quiescent by contract: relink every free chunk (ascending order,
      // depths counted from the bottom), keep the tag.
      std::uint32_t first = FreeList::kNil;
      std::uint32_t depth = 0;
      for (std::uint32_t i = g.count; i-- > 0;) {
        if (control::state(m0[i].control.load(std::memory_order_relaxed)) != ChunkState::free)
          continue;
        m0[i].next.store(first, std::memory_order_relaxed);
        m0[i].depth.store(++depth, std::memory_order_relaxed);
        first = i;
      }
      desc.head.store(FreeList::pack(first, FreeList::tag_of(head)), std::memory_order_release);
      rep.pools_rebuilt = true;
    }
  }
  if (tlsf_bytes_ != 0) {
    try {
      Tlsf t(*this);
      SLUICE_TRY_ASSIGN(auto guard, t.lock());
      rep.tlsf_checked = true;
      if (repair) SLUICE_TRY(t.sweep_freeing());
      std::vector<std::string> problems;
      t.check(problems);
      if (!problems.empty() && repair) {
        SLUICE_TRY(t.rebuild());
        rep.tlsf_rebuilt = true;
        std::vector<std::string> after;
        t.check(after);
        for (auto& p : after) problems.push_back("after rebuild: " + p);
      }
      for (auto& p : problems) rep.problems.push_back(std::move(p));
    } catch (const std::bad_alloc&) {
      return fail(Errc::out_of_memory, "heap audit: out of process memory");
    }
  }
  return rep;
}

}  // namespace sluice::alloc
