// TLSF over the heap's TLSF region, with block descriptors in metadata (no
// header inside the data area). Runs under the TLSF robust mutex; see the
// class comment in internal.hpp for the consistency argument.

#include <sluice/alloc/internal/heap.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

namespace sluice::alloc {

namespace {
constexpr std::uint32_t kNil = layout::kNil;
// find_free() result when the bitmaps promise a block the bins do not have.
constexpr std::uint32_t kBitmapMismatch = kNil - 1;

// Counters change only under the TLSF lock, so a load and a store do (no
// read-modify-write: each would cost as much as the lock itself); stats()
// reads them without the lock, hence atomics.
template <typename T, typename V>
inline void bump(std::atomic<T>& a, V v) noexcept {
  a.store(static_cast<T>(a.load(std::memory_order_relaxed) + static_cast<T>(v)),
          std::memory_order_relaxed);
}
template <typename T, typename V>
inline void drop(std::atomic<T>& a, V v) noexcept {
  a.store(static_cast<T>(a.load(std::memory_order_relaxed) - static_cast<T>(v)),
          std::memory_order_relaxed);
}
}  // namespace

// SYNC (geometry): every store to a descriptor's offset/size is a release
// store and resolve() loads them with acquire before re-checking the control
// word: a reader that sees a geometry written after a block stopped being
// live also sees the control-word change made before it, so it reports the
// reference stale instead of returning the new geometry.

Heap::Tlsf::Tlsf(Heap& heap) noexcept
    : heap_(heap),
      hdr_(*heap.tlsf_),
      meta_(heap.meta_ + heap.pool_chunks_),
      links_(heap.links_),
      max_(heap.tlsf_max_blocks_),
      lo_(heap.tlsf_offset_),
      hi_(heap.tlsf_offset_ + heap.tlsf_bytes_) {}

Result<Heap::Tlsf::Guard> Heap::Tlsf::lock() {
  // The uncontended case is one CAS; waiting (and telling a dead holder
  // from a live one) is the robust mutex's.
  auto st = os::robust_mutex_try_lock(hdr_.mutex);
  if (!st && st.error().code() == Errc::would_block)
    st = os::robust_mutex_lock(hdr_.mutex, heap_.lock_timeout_);
  if (!st) return fail(st.error().context("tlsf lock"));
  const bool owner_died = *st == os::LockState::owner_died;
  Guard guard(&hdr_.mutex);
  if (owner_died) {
    // The previous holder died inside a critical section: bins, links and
    // counters may be half-updated. The descriptors tell the truth.
    auto r = rebuild();
    if (!r) return fail(r.error().context("tlsf repair after a holder died"));
  }
  return guard;
}

bool Heap::Tlsf::corrupted() const noexcept {
  return hdr_.status.load(std::memory_order_relaxed) != 0;
}

Result<void> Heap::Tlsf::mark_corrupted(std::string message) {
  hdr_.status.store(1, std::memory_order_relaxed);
  heap_.note_corruption();
  return fail(Errc::corrupted, "tlsf: {}", message);
}

std::uint64_t Heap::Tlsf::control(std::uint32_t d) const noexcept {
  return meta_[d].control.load(std::memory_order_acquire);
}
ChunkState Heap::Tlsf::state(std::uint32_t d) const noexcept { return control::state(control(d)); }
std::uint64_t Heap::Tlsf::offset(std::uint32_t d) const noexcept {
  return meta_[d].offset.load(std::memory_order_relaxed);
}
std::uint64_t Heap::Tlsf::size(std::uint32_t d) const noexcept {
  return meta_[d].size.load(std::memory_order_relaxed);
}

bool Heap::Tlsf::geometry_ok(std::uint64_t off, std::uint64_t sz) const noexcept {
  return off >= lo_ && off % kChunkAlign == 0 && sz >= tlsf::kMinBlock && sz % kChunkAlign == 0 &&
         fits(off - lo_, sz, hi_ - lo_);
}

// Used only on blocks nobody else may touch (free, unused, or freeing with
// the lock held): keeps the generation, clears owner and refs.
void Heap::Tlsf::set_state_keep_gen(std::uint32_t d, ChunkState s) noexcept {
  const std::uint64_t c = control(d);
  // SYNC: release pairs with resolve()'s acquire: a reader that sees the
  // new state also sees the geometry written before it.
  meta_[d].control.store(control::make(s, kNoPeer, 0, control::generation(c)),
                         std::memory_order_release);
}

Heap::Tlsf::Step Heap::Tlsf::insert_free(std::uint32_t d) noexcept {
  const tlsf::Bin b = tlsf::insert_bin(size(d));
  if (b.fl >= tlsf::kFlCount || b.sl >= tlsf::kSlCount) return Step::inconsistent;
  const std::uint32_t head = hdr_.bins[b.fl][b.sl];
  if (head != kNil && head >= max_) return Step::inconsistent;
  links_[d].prev_free = kNil;
  links_[d].next_free = head;
  if (head != kNil) links_[head].prev_free = d;
  hdr_.bins[b.fl][b.sl] = d;
  hdr_.sl_bitmap[b.fl] |= 1u << b.sl;
  hdr_.fl_bitmap |= std::uint64_t{1} << b.fl;
  bump(hdr_.free_blocks, 1);
  return Step::ok;
}

Heap::Tlsf::Step Heap::Tlsf::remove_free(std::uint32_t d) noexcept {
  const tlsf::Bin b = tlsf::insert_bin(size(d));
  if (b.fl >= tlsf::kFlCount || b.sl >= tlsf::kSlCount) return Step::inconsistent;
  const std::uint32_t prev = links_[d].prev_free;
  const std::uint32_t next = links_[d].next_free;
  if ((prev != kNil && prev >= max_) || (next != kNil && next >= max_)) return Step::inconsistent;
  if (prev == kNil) {
    if (hdr_.bins[b.fl][b.sl] != d) return Step::inconsistent;
    hdr_.bins[b.fl][b.sl] = next;
  } else {
    if (links_[prev].next_free != d) return Step::inconsistent;
    links_[prev].next_free = next;
  }
  if (next != kNil) {
    if (links_[next].prev_free != d) return Step::inconsistent;
    links_[next].prev_free = prev;
  }
  if (hdr_.bins[b.fl][b.sl] == kNil) {
    hdr_.sl_bitmap[b.fl] &= ~(1u << b.sl);
    if (hdr_.sl_bitmap[b.fl] == 0) hdr_.fl_bitmap &= ~(std::uint64_t{1} << b.fl);
  }
  links_[d].prev_free = kNil;
  links_[d].next_free = kNil;
  drop(hdr_.free_blocks, 1);
  return Step::ok;
}

std::uint32_t Heap::Tlsf::find_free(std::uint64_t request, tlsf::Bin& bin) const noexcept {
  // The bitmaps live in shared memory: bits past kSlCount (a scribbling
  // peer) must never become an index, so every read is masked.
  constexpr std::uint32_t kSlMask =
      tlsf::kSlCount >= 32 ? ~0u
                           : static_cast<std::uint32_t>((std::uint64_t{1} << tlsf::kSlCount) - 1);
  tlsf::Bin b = tlsf::search_bin(request);
  if (b.fl >= tlsf::kFlCount || b.sl >= tlsf::kSlCount) return kNil;
  std::uint32_t sl_map = hdr_.sl_bitmap[b.fl] & kSlMask & (~0u << b.sl);
  if (sl_map == 0) {
    const std::uint64_t fl_map =
        b.fl + 1 >= 64 ? 0 : hdr_.fl_bitmap & (~std::uint64_t{0} << (b.fl + 1));
    if (fl_map == 0) return kNil;
    b.fl = static_cast<std::uint32_t>(__builtin_ctzll(fl_map));
    if (b.fl >= tlsf::kFlCount) return kNil;
    sl_map = hdr_.sl_bitmap[b.fl] & kSlMask;
    if (sl_map == 0) return kBitmapMismatch;
  }
  b.sl = static_cast<std::uint32_t>(__builtin_ctz(sl_map));
  bin = b;
  const std::uint32_t d = hdr_.bins[b.fl][b.sl];
  return d == kNil ? kBitmapMismatch : d;
}

std::uint32_t Heap::Tlsf::take_spare() noexcept {
  const std::uint32_t d = hdr_.spare_head;
  if (d == kNil || d >= max_ || state(d) != ChunkState::unused) return kNil;
  hdr_.spare_head = links_[d].next_free;
  if (hdr_.spare_count > 0) --hdr_.spare_count;
  links_[d].next_free = kNil;
  return d;
}

void Heap::Tlsf::put_spare(std::uint32_t d) noexcept {
  links_[d] = layout::TlsfLink{kNil, kNil, kNil, hdr_.spare_head};
  hdr_.spare_head = d;
  ++hdr_.spare_count;
}

Result<std::uint32_t> Heap::Tlsf::allocate(std::uint64_t size, PeerIndex owner, std::uint32_t& gen,
                                           std::uint64_t& off) {
  if (corrupted()) return fail(Errc::corrupted, "tlsf region is marked corrupted");
  const std::uint64_t request =
      align_up(size < tlsf::kMinBlock ? tlsf::kMinBlock : size, kChunkAlign);
  bool swept = false;
  // Pass 0 normally succeeds or finds nothing. A failed check rebuilds and
  // retries; running short sweeps blocks left in `freeing` and retries.
  for (int pass = 0; pass < 4; ++pass) {
    Step step = Step::ok;
    auto r = allocate_once(request, owner, gen, off, step);
    if (step == Step::inconsistent) {
      SLUICE_TRY(rebuild());
      continue;
    }
    if (!r && r.error().code() == Errc::out_of_memory && !swept) {
      swept = true;
      SLUICE_TRY_ASSIGN(const std::uint32_t n, sweep_freeing());
      if (n > 0) continue;
    }
    if (!r && r.error().code() == Errc::out_of_memory) bump(hdr_.failures, 1);
    return r;
  }
  SLUICE_TRY(mark_corrupted("allocation keeps finding inconsistencies after rebuilds"));
  return fail(Errc::corrupted);
}

Result<std::uint32_t> Heap::Tlsf::allocate_once(std::uint64_t request, PeerIndex owner,
                                                std::uint32_t& gen, std::uint64_t& off,
                                                Step& step) {
  tlsf::Bin bin{};
  const std::uint32_t d = find_free(request, bin);
  if (d == kNil) return fail(Errc::out_of_memory);
  if (d >= max_) {
    step = Step::inconsistent;
    return fail(Errc::corrupted);
  }
  const std::uint64_t c = control(d);
  const std::uint64_t boff = offset(d);
  const std::uint64_t bsize = size(d);
  // Everything about a binned block is checked before it is handed out:
  // state, geometry, and that it really belongs to the bin it was found in.
  if (control::state(c) != ChunkState::free || !geometry_ok(boff, bsize) || bsize < request ||
      !(tlsf::insert_bin(bsize) == bin)) {
    step = Step::inconsistent;
    return fail(Errc::corrupted);
  }
  if (remove_free(d) != Step::ok) {
    step = Step::inconsistent;
    return fail(Errc::corrupted);
  }
  const std::uint64_t rest = bsize - request;
  if (rest >= tlsf::kMinBlock) {
    const std::uint32_t e = take_spare();
    // Without a spare descriptor the whole block is handed out: wasteful
    // but correct, and only when the descriptor table is full.
    if (e != kNil) {
      const std::uint32_t next = links_[d].next_phys;
      if (next != kNil && next >= max_) {
        put_spare(e);
        step = Step::inconsistent;
        return fail(Errc::corrupted);
      }
      meta_[e].offset.store(boff + request, std::memory_order_release);
      meta_[e].size.store(rest, std::memory_order_release);
      SLUICE_CRASH_POINT("tlsf.split.prepared");
      // Shrink d first: a crash here leaves [boff+request, +rest) covered by
      // no descriptor (a gap rebuild() frees), never two blocks overlapping.
      meta_[d].size.store(request, std::memory_order_release);
      SLUICE_CRASH_POINT("tlsf.split.shrunk");
      set_state_keep_gen(e, ChunkState::free);
      links_[e].prev_phys = d;
      links_[e].next_phys = next;
      if (next != kNil) links_[next].prev_phys = e;
      links_[d].next_phys = e;
      bump(hdr_.used_blocks, 1);
      if (insert_free(e) != Step::ok) {
        step = Step::inconsistent;
        return fail(Errc::corrupted);
      }
    }
  }
  gen = control::next_generation(control::generation(c));
  off = boff;
  // SYNC: release pairs with resolve()'s acquire in any process.
  meta_[d].control.store(control::make(ChunkState::loaned, owner, 1, gen),
                         std::memory_order_release);
  SLUICE_CRASH_POINT("tlsf.alloc.claimed");
  drop(hdr_.free_bytes, size(d));
  bump(hdr_.allocations, 1);
  return d;
}

Result<void> Heap::Tlsf::finish_free(std::uint32_t d) {
  if (d >= max_) return fail(Errc::bad_chunk, "tlsf: descriptor {} out of range", d);
  if (corrupted()) return fail(Errc::corrupted, "tlsf region is marked corrupted");
  if (finish_free_once(d) == Step::inconsistent) {
    // rebuild() bins every free block, this one included.
    SLUICE_TRY(rebuild());
  }
  return ok();
}

Heap::Tlsf::Step Heap::Tlsf::finish_free_once(std::uint32_t d) {
  std::uint64_t c = control(d);
  if (control::state(c) != ChunkState::freeing) return Step::ok;  // someone finished it
  // Anyone holding the lock may finish a `freeing` block; the CAS makes
  // sure only one does (a releaser that lost to a sweep finds it free).
  if (!meta_[d].control.compare_exchange_strong(
          c, control::make(ChunkState::free, kNoPeer, 0, control::generation(c)),
          std::memory_order_acq_rel, std::memory_order_acquire))
    return Step::ok;
  SLUICE_CRASH_POINT("tlsf.free.marked");
  std::uint64_t boff = offset(d);
  std::uint64_t bsize = size(d);
  if (!geometry_ok(boff, bsize)) return Step::inconsistent;
  bump(hdr_.free_bytes, bsize);

  // Merge with the next block: retire it first (its range becomes a gap),
  // then grow d over it.
  const std::uint32_t n = links_[d].next_phys;
  if (n != kNil) {
    if (n >= max_ || links_[n].prev_phys != d || offset(n) != boff + bsize)
      return Step::inconsistent;
    if (state(n) == ChunkState::free) {
      const std::uint64_t nsize = size(n);
      if (!geometry_ok(offset(n), nsize) || remove_free(n) != Step::ok) return Step::inconsistent;
      const std::uint32_t nn = links_[n].next_phys;
      if (nn != kNil && nn >= max_) return Step::inconsistent;
      set_state_keep_gen(n, ChunkState::unused);
      SLUICE_CRASH_POINT("tlsf.merge.next.unlinked");
      bsize += nsize;
      meta_[d].size.store(bsize, std::memory_order_release);
      links_[d].next_phys = nn;
      if (nn != kNil) links_[nn].prev_phys = d;
      put_spare(n);
      drop(hdr_.used_blocks, 1);
    }
  }
  // Merge with the previous block: retire d, then grow the previous one.
  const std::uint32_t p = links_[d].prev_phys;
  if (p != kNil) {
    if (p >= max_ || links_[p].next_phys != d || offset(p) + size(p) != boff)
      return Step::inconsistent;
    if (state(p) == ChunkState::free) {
      if (!geometry_ok(offset(p), size(p)) || remove_free(p) != Step::ok) return Step::inconsistent;
      const std::uint32_t nn = links_[d].next_phys;
      set_state_keep_gen(d, ChunkState::unused);
      SLUICE_CRASH_POINT("tlsf.merge.prev.unlinked");
      meta_[p].size.store(size(p) + bsize, std::memory_order_release);
      links_[p].next_phys = nn;
      if (nn != kNil) links_[nn].prev_phys = p;
      put_spare(d);
      drop(hdr_.used_blocks, 1);
      d = p;
    }
  }
  SLUICE_CRASH_POINT("tlsf.free.merged");
  return insert_free(d);
}

Result<std::uint32_t> Heap::Tlsf::sweep_freeing() {
  std::uint32_t n = 0;
  for (std::uint32_t d = 0; d < max_; ++d) {
    if (state(d) != ChunkState::freeing) continue;
    if (finish_free_once(d) == Step::inconsistent) SLUICE_TRY(rebuild());
    ++n;
  }
  return n;
}

Result<void> Heap::Tlsf::rebuild() {
  bump(hdr_.repairs, 1);
  struct Block {
    std::uint32_t d;
    std::uint64_t off;
    std::uint64_t size;
    bool free;
  };
  std::vector<Block> blocks;
  std::vector<std::uint32_t> spare;
  auto retire = [&](std::uint32_t d) {
    set_state_keep_gen(d, ChunkState::unused);
    spare.push_back(d);
  };

  // 1. Collect the descriptors that describe a block; free the ones whose
  //    release was interrupted (freeing), drop free ones with bad geometry.
  for (std::uint32_t d = 0; d < max_; ++d) {
    std::uint64_t c = control(d);
    if (control::raw_state(c) >= kStateCount)
      return mark_corrupted(
          fmt::format("descriptor {} has invalid state {}", d, control::raw_state(c)));
    auto st = control::state(c);
    if (st == ChunkState::unused) {
      spare.push_back(d);
      continue;
    }
    const std::uint64_t off = offset(d);
    const std::uint64_t sz = size(d);
    if (!geometry_ok(off, sz)) {
      if (st == ChunkState::free || st == ChunkState::freeing) {
        retire(d);
        continue;
      }
      return mark_corrupted(
          fmt::format("descriptor {} ({}) covers [{}, +{}) outside the region [{}, {})", d,
                      to_string(st), off, sz, lo_, hi_));
    }
    if (st == ChunkState::freeing) {
      // Only lock holders change a freeing word; we hold the lock.
      if (meta_[d].control.compare_exchange_strong(
              c, control::make(ChunkState::free, kNoPeer, 0, control::generation(c)),
              std::memory_order_acq_rel, std::memory_order_acquire))
        st = ChunkState::free;
      else
        st = control::state(c);
    }
    blocks.push_back({d, off, sz, st == ChunkState::free});
  }
  std::sort(blocks.begin(), blocks.end(),
            [](const Block& a, const Block& b) { return a.off < b.off; });

  // 2. Tile the region: trim or drop free blocks that overlap, fill gaps
  //    left by an interrupted split/merge with free blocks. Two live blocks
  //    overlapping cannot come from a crash: that is corruption.
  std::vector<Block> out;
  auto cursor = [&] { return out.empty() ? lo_ : out.back().off + out.back().size; };
  auto fill_gap = [&](std::uint64_t from, std::uint64_t to) -> Result<void> {
    if (!out.empty() && out.back().free) {
      out.back().size += to - from;
      meta_[out.back().d].size.store(out.back().size, std::memory_order_release);
      return ok();
    }
    if (spare.empty()) return mark_corrupted("no spare descriptor to cover a gap");
    const std::uint32_t d = spare.back();
    spare.pop_back();
    meta_[d].offset.store(from, std::memory_order_release);
    meta_[d].size.store(to - from, std::memory_order_release);
    set_state_keep_gen(d, ChunkState::free);
    out.push_back({d, from, to - from, true});
    return ok();
  };
  for (Block b : blocks) {
    if (b.off < cursor()) {
      if (b.free) {
        const std::uint64_t end = b.off + b.size;
        if (end <= cursor()) {
          retire(b.d);
          continue;
        }
        b.size = end - cursor();
        b.off = cursor();
        meta_[b.d].offset.store(b.off, std::memory_order_release);
        meta_[b.d].size.store(b.size, std::memory_order_release);
      } else {
        while (!out.empty() && out.back().off + out.back().size > b.off) {
          Block& last = out.back();
          if (!last.free)
            return mark_corrupted(fmt::format("live blocks {} [{}, +{}) and {} [{}, +{}) overlap",
                                              last.d, last.off, last.size, b.d, b.off, b.size));
          if (last.off >= b.off) {
            retire(last.d);
            out.pop_back();
          } else {
            last.size = b.off - last.off;
            meta_[last.d].size.store(last.size, std::memory_order_release);
          }
        }
      }
    }
    if (b.off > cursor()) SLUICE_TRY(fill_gap(cursor(), b.off));
    out.push_back(b);
  }
  if (cursor() < hi_) SLUICE_TRY(fill_gap(cursor(), hi_));

  // 3. Coalesce neighbours that are both free (a merge cut short).
  std::vector<Block> tiles;
  for (const Block& b : out) {
    if (!tiles.empty() && tiles.back().free && b.free) {
      tiles.back().size += b.size;
      meta_[tiles.back().d].size.store(tiles.back().size, std::memory_order_release);
      retire(b.d);
      continue;
    }
    tiles.push_back(b);
  }

  // 4. Derived structures from scratch.
  hdr_.fl_bitmap = 0;
  for (auto& m : hdr_.sl_bitmap) m = 0;
  for (auto& row : hdr_.bins)
    for (auto& b : row) b = kNil;
  hdr_.free_blocks.store(0, std::memory_order_relaxed);
  std::uint64_t free_bytes = 0;
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const std::uint32_t d = tiles[i].d;
    links_[d] = layout::TlsfLink{i ? tiles[i - 1].d : kNil,
                                 i + 1 < tiles.size() ? tiles[i + 1].d : kNil, kNil, kNil};
    if (tiles[i].free) {
      free_bytes += tiles[i].size;
      if (insert_free(d) != Step::ok) return mark_corrupted("rebuilt bins are inconsistent");
    }
  }
  hdr_.spare_head = kNil;
  hdr_.spare_count = 0;
  std::sort(spare.begin(), spare.end(), std::greater<>());
  for (std::uint32_t d : spare) put_spare(d);
  hdr_.free_bytes.store(free_bytes, std::memory_order_relaxed);
  hdr_.used_blocks.store(static_cast<std::uint32_t>(tiles.size()), std::memory_order_relaxed);
  return ok();
}

void Heap::Tlsf::check(std::vector<std::string>& problems) const {
  auto problem = [&](std::string s) { problems.push_back("tlsf: " + std::move(s)); };
  if (corrupted()) problem("region is marked corrupted");
  // Physical order: descriptors not unused, sorted by offset, must tile the
  // region, agree with the phys links, and no two free ones may touch.
  struct Block {
    std::uint32_t d;
    std::uint64_t off, size;
    ChunkState st;
  };
  std::vector<Block> blocks;
  std::uint32_t unused = 0;
  for (std::uint32_t d = 0; d < max_; ++d) {
    const std::uint64_t c = control(d);
    if (control::raw_state(c) >= kStateCount) {
      problem(fmt::format("descriptor {} has invalid state {}", d, control::raw_state(c)));
      continue;
    }
    if (control::state(c) == ChunkState::unused) {
      ++unused;
      continue;
    }
    blocks.push_back({d, offset(d), size(d), control::state(c)});
  }
  std::sort(blocks.begin(), blocks.end(),
            [](const Block& a, const Block& b) { return a.off < b.off; });
  std::uint64_t cursor = lo_;
  std::uint64_t free_bytes = 0;
  std::uint32_t free_blocks = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    if (!geometry_ok(b.off, b.size))
      problem(fmt::format("descriptor {} covers [{}, +{}) outside the region", b.d, b.off, b.size));
    if (b.off != cursor)
      problem(fmt::format("descriptor {} starts at {}, expected {} (gap or overlap)", b.d, b.off,
                          cursor));
    cursor = b.off + b.size;
    const std::uint32_t want_prev = i ? blocks[i - 1].d : kNil;
    const std::uint32_t want_next = i + 1 < blocks.size() ? blocks[i + 1].d : kNil;
    if (links_[b.d].prev_phys != want_prev || links_[b.d].next_phys != want_next)
      problem(fmt::format("descriptor {} phys links ({}, {}), expected ({}, {})", b.d,
                          links_[b.d].prev_phys, links_[b.d].next_phys, want_prev, want_next));
    if (b.st == ChunkState::free) {
      free_bytes += b.size;
      ++free_blocks;
      if (i + 1 < blocks.size() && blocks[i + 1].st == ChunkState::free)
        problem(fmt::format("free descriptors {} and {} are adjacent but not merged", b.d,
                            blocks[i + 1].d));
    }
    if (b.st == ChunkState::freeing) problem(fmt::format("descriptor {} is still freeing", b.d));
  }
  if (max_ > 0 && cursor != hi_)
    problem(fmt::format("blocks end at {}, region ends at {}", cursor, hi_));
  // Bins: every listed block is free, in the right bin, doubly linked; the
  // bitmaps match; every free block is listed exactly once.
  std::vector<bool> seen(max_, false);
  std::uint32_t listed = 0;
  for (std::uint32_t fl = 0; fl < tlsf::kFlCount; ++fl) {
    for (std::uint32_t sl = 0; sl < tlsf::kSlCount; ++sl) {
      std::uint32_t prev = kNil;
      std::uint32_t steps = 0;
      for (std::uint32_t d = hdr_.bins[fl][sl]; d != kNil; d = links_[d].next_free) {
        if (d >= max_ || seen[d] || ++steps > max_) {
          problem(fmt::format("bin ({}, {}) has a bad or cyclic link {}", fl, sl, d));
          break;
        }
        seen[d] = true;
        ++listed;
        if (state(d) != ChunkState::free)
          problem(fmt::format("bin ({}, {}) lists descriptor {} in state {}", fl, sl, d,
                              to_string(state(d))));
        if (!(tlsf::insert_bin(size(d)) == tlsf::Bin{fl, sl}))
          problem(fmt::format("descriptor {} of size {} is in bin ({}, {})", d, size(d), fl, sl));
        if (links_[d].prev_free != prev)
          problem(
              fmt::format("descriptor {} prev_free {}, expected {}", d, links_[d].prev_free, prev));
        prev = d;
      }
      const bool bit = (hdr_.sl_bitmap[fl] >> sl) & 1u;
      if (bit != (hdr_.bins[fl][sl] != kNil))
        problem(fmt::format("sl bitmap bit ({}, {}) disagrees with its bin", fl, sl));
    }
    const bool bit = (hdr_.fl_bitmap >> fl) & 1u;
    if (bit != (hdr_.sl_bitmap[fl] != 0))
      problem(fmt::format("fl bitmap bit {} disagrees with sl bitmap", fl));
  }
  if (listed != free_blocks)
    problem(fmt::format("{} blocks in bins, {} free descriptors", listed, free_blocks));
  // Spare stack: exactly the unused descriptors.
  std::uint32_t spares = 0;
  for (std::uint32_t d = hdr_.spare_head; d != kNil; d = links_[d].next_free) {
    if (d >= max_ || seen[d] || ++spares > max_) {
      problem(fmt::format("spare stack has a bad or cyclic link {}", d));
      break;
    }
    seen[d] = true;
    if (state(d) != ChunkState::unused)
      problem(fmt::format("spare descriptor {} is {}", d, to_string(state(d))));
  }
  if (spares != unused)
    problem(fmt::format("{} spare descriptors listed, {} unused", spares, unused));
  if (hdr_.free_bytes.load(std::memory_order_relaxed) != free_bytes)
    problem(fmt::format("free bytes counter {}, blocks add up to {}",
                        hdr_.free_bytes.load(std::memory_order_relaxed), free_bytes));
  if (hdr_.free_blocks.load(std::memory_order_relaxed) != free_blocks)
    problem(fmt::format("free blocks counter {}, found {}",
                        hdr_.free_blocks.load(std::memory_order_relaxed), free_blocks));
  if (hdr_.used_blocks.load(std::memory_order_relaxed) != blocks.size())
    problem(fmt::format("used blocks counter {}, found {}",
                        hdr_.used_blocks.load(std::memory_order_relaxed), blocks.size()));
}

}  // namespace sluice::alloc
