#include <sluice/alloc/internal/heap.hpp>

#include <sluice/alloc/free_list.hpp>
#include <sluice/alloc/heap.hpp>
#include <sluice/base/internal/crash_point.hpp>

#include <fmt/format.h>

#include <cstring>
#include <new>

// The hot entry points inline their small helpers (class lookup, ref
// check, pop, push; see layer.cmake for -fno-semantic-interposition) and
// call the others (TLSF under its lock, corruption accounting) out of line,
// so that a pool pair stays near the cost of its two atomic
// read-modify-writes.
#define SLUICE_ALLOC_HOT __attribute__((flatten))
#define SLUICE_ALLOC_OUT_OF_LINE __attribute__((noinline))
#define SLUICE_ALLOC_COLD __attribute__((noinline, cold))

namespace sluice::alloc {

namespace detail {

Result<Geometry> compute_geometry(const HeapConfig& config) {
  SLUICE_TRY(config.validate());
  Geometry g;
  std::uint64_t cursor = 0;
  std::uint32_t id = 0;
  for (std::size_t i = 0; i < config.classes.size(); ++i) {
    const auto& k = config.classes[i];
    g.pool_rel[i] = cursor;
    g.first_id[i] = id;
    cursor += align_up(k.chunk_size * k.count, kRegionAlign);
    id += k.count;
  }
  g.pool_chunks = id;
  g.total_chunks = id + config.tlsf_max_blocks;
  g.tlsf_rel = cursor;
  cursor += align_up(config.tlsf_bytes, kRegionAlign);
  g.data_bytes = cursor;
  g.chunk_meta_rel = layout::kChunkMetaOffset;
  g.tlsf_link_rel = align_up(
      g.chunk_meta_rel + std::uint64_t{g.total_chunks} * sizeof(layout::ChunkMeta), kCacheLine);
  g.meta_bytes =
      align_up(g.tlsf_link_rel + std::uint64_t{config.tlsf_max_blocks} * sizeof(layout::TlsfLink),
               kCacheLine);
  return g;
}

std::uint64_t header_checksum(const layout::HeapHeader& h, const layout::PoolDesc* pools,
                              std::uint32_t class_count) noexcept {
  std::uint64_t sum =
      layout::fnv1a(reinterpret_cast<const unsigned char*>(&h), layout::kHeaderChecksummed);
  for (std::uint32_t i = 0; i < class_count; ++i)
    sum = layout::fnv1a(reinterpret_cast<const unsigned char*>(&pools[i]), layout::kPoolChecksummed,
                        sum);
  return sum;
}

}  // namespace detail

namespace {

using FreeList = TaggedFreeList<std::atomic>;
using detail::Geometry;

// Bound on CAS retries of one control word: a CAS fails only when another
// actor changed the word, so this is reached only under a peer that
// rewrites it forever (hostile or corrupted); the caller gets a retryable
// error instead of a hang.
constexpr std::uint32_t kMaxCasAttempts = 1u << 20;

Result<void> check_region(const HeapRegion& r) {
  if (r.base == nullptr) return fail(Errc::invalid_argument, "heap region: null base");
  if (reinterpret_cast<std::uintptr_t>(r.base) % kRegionAlign != 0)
    return fail(Errc::invalid_argument, "heap region: base {} is not page-aligned",
                static_cast<const void*>(r.base));
  if (!fits(r.meta_offset, r.meta_size, r.segment_size) ||
      !fits(r.data_offset, r.data_size, r.segment_size))
    return fail(Errc::invalid_argument,
                "heap region: sections [{}, +{}) and [{}, +{}) do not fit a {}-byte segment",
                r.meta_offset, r.meta_size, r.data_offset, r.data_size, r.segment_size);
  if (r.meta_offset % kCacheLine != 0 || r.data_offset % kRegionAlign != 0)
    return fail(Errc::invalid_argument,
                "heap region: metadata offset {} must be 64-byte aligned and data offset {} "
                "page-aligned",
                r.meta_offset, r.data_offset);
  const bool disjoint =
      r.meta_offset + r.meta_size <= r.data_offset || r.data_offset + r.data_size <= r.meta_offset;
  if (!disjoint)
    return fail(Errc::invalid_argument, "heap region: metadata [{}, +{}) overlaps data [{}, +{})",
                r.meta_offset, r.meta_size, r.data_offset, r.data_size);
  return ok();
}

}  // namespace

// ---------------------------------------------------------------- sizing

Result<std::uint64_t> Heap::metadata_bytes(const HeapConfig& config) {
  SLUICE_TRY_ASSIGN(Geometry g, detail::compute_geometry(config));
  return g.meta_bytes;
}

Result<std::uint64_t> Heap::data_bytes(const HeapConfig& config) {
  SLUICE_TRY_ASSIGN(Geometry g, detail::compute_geometry(config));
  return g.data_bytes;
}

std::uint64_t Heap::max_allocation() const noexcept {
  const std::uint64_t pool_max = class_count_ ? pools_geo_[class_count_ - 1].chunk_size : 0;
  return pool_max > tlsf_bytes_ ? pool_max : tlsf_bytes_;
}

// ---------------------------------------------------------------- format

Result<Heap> Heap::format(const HeapRegion& region, const HeapConfig& config,
                          const HeapOptions& options) {
  SLUICE_TRY(check_region(region));
  SLUICE_TRY_ASSIGN(Geometry g, detail::compute_geometry(config));
  if (region.meta_size < g.meta_bytes)
    return fail(Errc::invalid_argument, "heap format: metadata section has {} bytes, needs {}",
                region.meta_size, g.meta_bytes);
  if (region.data_size < g.data_bytes)
    return fail(Errc::invalid_argument, "heap format: data section has {} bytes, needs {}",
                region.data_size, g.data_bytes);

  std::byte* meta = region.base + region.meta_offset;
  // Touches metadata pages only; the data section stays untouched (on tmpfs
  // its pages cost nothing until a payload is written).
  std::memset(meta, 0, g.meta_bytes);

  auto* hdr = new (meta) layout::HeapHeader();
  hdr->magic = layout::kHeapMagic;
  hdr->version = layout::kHeapVersion;
  hdr->class_count = static_cast<std::uint32_t>(config.classes.size());
  hdr->segment_size = region.segment_size;
  hdr->meta_offset = region.meta_offset;
  hdr->meta_bytes = g.meta_bytes;
  hdr->data_offset = region.data_offset;
  hdr->data_bytes = g.data_bytes;
  hdr->total_chunks = g.total_chunks;
  hdr->pool_chunks = g.pool_chunks;
  hdr->chunk_meta_offset = region.meta_offset + g.chunk_meta_rel;
  hdr->tlsf_link_offset = region.meta_offset + g.tlsf_link_rel;
  hdr->tlsf_offset = region.data_offset + g.tlsf_rel;
  hdr->tlsf_bytes = config.tlsf_bytes;
  hdr->tlsf_max_blocks = config.tlsf_max_blocks;

  auto* pools = reinterpret_cast<layout::PoolDesc*>(meta + layout::kPoolTableOffset);
  auto* metas = reinterpret_cast<layout::ChunkMeta*>(meta + g.chunk_meta_rel);
  for (std::uint32_t c = 0; c < hdr->class_count; ++c) {
    const auto& k = config.classes[c];
    auto* p = new (&pools[c]) layout::PoolDesc();
    p->chunk_size = k.chunk_size;
    p->count = k.count;
    p->first_id = g.first_id[c];
    p->region_offset = region.data_offset + g.pool_rel[c];
    p->region_bytes = k.chunk_size * k.count;
    // Free list 0 -> 1 -> ... -> count-1, tag 0.
    for (std::uint32_t i = 0; i < k.count; ++i) {
      auto* m = new (&metas[p->first_id + i]) layout::ChunkMeta();
      m->control.store(control::make(ChunkState::free, kNoPeer, 0, 0), std::memory_order_relaxed);
      m->offset.store(p->region_offset + std::uint64_t{i} * k.chunk_size,
                      std::memory_order_relaxed);
      m->size.store(k.chunk_size, std::memory_order_relaxed);
      m->next.store(i + 1 < k.count ? i + 1 : FreeList::kNil, std::memory_order_relaxed);
      m->depth.store(k.count - i, std::memory_order_relaxed);
    }
    p->head.store(FreeList::pack(0, 0), std::memory_order_relaxed);
  }

  auto* tl = new (meta + layout::kTlsfHeaderOffset) layout::TlsfHeader();
  SLUICE_TRY(os::robust_mutex_init(tl->mutex));
  tl->status.store(0, std::memory_order_relaxed);
  tl->spare_head = layout::kNil;
  for (auto& row : tl->bins)
    for (auto& b : row) b = layout::kNil;
  auto* links = reinterpret_cast<layout::TlsfLink*>(meta + g.tlsf_link_rel);
  for (std::uint32_t d = 0; d < config.tlsf_max_blocks; ++d) {
    auto* m = new (&metas[g.pool_chunks + d]) layout::ChunkMeta();
    m->control.store(control::make(ChunkState::unused, kNoPeer, 0, 0), std::memory_order_relaxed);
    m->next.store(layout::kNil, std::memory_order_relaxed);
    links[d] = layout::TlsfLink{layout::kNil, layout::kNil, layout::kNil, layout::kNil};
  }
  if (config.tlsf_bytes != 0) {
    // Descriptor 0 covers the whole region; the rest are spare.
    auto& m0 = metas[g.pool_chunks];
    m0.control.store(control::make(ChunkState::free, kNoPeer, 0, 0), std::memory_order_relaxed);
    m0.offset.store(hdr->tlsf_offset, std::memory_order_relaxed);
    m0.size.store(config.tlsf_bytes, std::memory_order_relaxed);
    const tlsf::Bin b = tlsf::insert_bin(config.tlsf_bytes);
    tl->bins[b.fl][b.sl] = 0;
    tl->sl_bitmap[b.fl] = 1u << b.sl;
    tl->fl_bitmap = std::uint64_t{1} << b.fl;
    for (std::uint32_t d = config.tlsf_max_blocks - 1; d >= 1; --d) {
      links[d].next_free = tl->spare_head;
      tl->spare_head = d;
    }
    tl->spare_count = config.tlsf_max_blocks - 1;
    tl->free_bytes.store(config.tlsf_bytes, std::memory_order_relaxed);
    tl->used_blocks.store(1, std::memory_order_relaxed);
    tl->free_blocks.store(1, std::memory_order_relaxed);
  }

  hdr->checksum = detail::header_checksum(*hdr, pools, hdr->class_count);
  // The domain publishes the segment (init state `ready`, a release store)
  // after this returns; attach() below re-validates what we wrote.
  auto heap = attach(region, options);
  if (!heap) return fail(heap.error().context("heap format: re-validation"));
  return heap;
}

// ---------------------------------------------------------------- attach

Result<Heap> Heap::attach(const HeapRegion& region, const HeapOptions& options) {
  SLUICE_TRY(check_region(region));
  if (region.meta_size < layout::kChunkMetaOffset)
    return fail(Errc::corrupted,
                "heap attach: metadata section of {} bytes is smaller than the {}-byte header",
                region.meta_size, layout::kChunkMetaOffset);
  std::byte* meta = region.base + region.meta_offset;
  const auto* hdr = reinterpret_cast<const layout::HeapHeader*>(meta);
  const auto* pools = reinterpret_cast<const layout::PoolDesc*>(meta + layout::kPoolTableOffset);

  if (hdr->magic != layout::kHeapMagic)
    return fail(Errc::bad_magic, "heap attach: bad magic {:#018x}, expected {:#018x}", hdr->magic,
                layout::kHeapMagic);
  if (hdr->version != layout::kHeapVersion)
    return fail(Errc::version_mismatch, "heap attach: layout version {}, expected {}", hdr->version,
                layout::kHeapVersion);
  if (hdr->segment_size != region.segment_size)
    return fail(Errc::corrupted, "heap attach: metadata says segment size {}, mapping has {}",
                hdr->segment_size, region.segment_size);
  if (hdr->meta_offset != region.meta_offset || hdr->data_offset != region.data_offset)
    return fail(Errc::corrupted,
                "heap attach: metadata says sections at {} and {}, domain says {} and {}",
                hdr->meta_offset, hdr->data_offset, region.meta_offset, region.data_offset);
  if (hdr->class_count > kMaxClasses)
    return fail(Errc::corrupted, "heap attach: {} size classes, at most {}", hdr->class_count,
                kMaxClasses);

  // Rebuild the config from the metadata, validate it like user input, and
  // recompute the layout: every stored offset must be what the config
  // implies.
  HeapConfig config;
  for (std::uint32_t c = 0; c < hdr->class_count; ++c)
    config.classes.push_back({pools[c].chunk_size, pools[c].count});
  config.tlsf_bytes = hdr->tlsf_bytes;
  config.tlsf_max_blocks = hdr->tlsf_max_blocks;
  auto geo = detail::compute_geometry(config);
  if (!geo)
    return fail(Errc::corrupted, "heap attach: stored configuration is invalid: {}",
                geo.error().what());
  const Geometry& g = *geo;

  auto expect = [](const char* what, std::uint64_t got, std::uint64_t want) -> Result<void> {
    if (got != want)
      return fail(Errc::corrupted, "heap attach: {} is {}, expected {}", what, got, want);
    return ok();
  };
  SLUICE_TRY(expect("metadata size", hdr->meta_bytes, g.meta_bytes));
  SLUICE_TRY(expect("data size", hdr->data_bytes, g.data_bytes));
  SLUICE_TRY(expect("chunk count", hdr->total_chunks, g.total_chunks));
  SLUICE_TRY(expect("pool chunk count", hdr->pool_chunks, g.pool_chunks));
  SLUICE_TRY(
      expect("chunk table offset", hdr->chunk_meta_offset, region.meta_offset + g.chunk_meta_rel));
  SLUICE_TRY(expect("tlsf link table offset", hdr->tlsf_link_offset,
                    region.meta_offset + g.tlsf_link_rel));
  SLUICE_TRY(expect("tlsf region offset", hdr->tlsf_offset, region.data_offset + g.tlsf_rel));
  if (g.meta_bytes > region.meta_size)
    return fail(Errc::corrupted, "heap attach: metadata needs {} bytes, section has {}",
                g.meta_bytes, region.meta_size);
  if (g.data_bytes > region.data_size)
    return fail(Errc::corrupted, "heap attach: data needs {} bytes, section has {}", g.data_bytes,
                region.data_size);
  for (std::uint32_t c = 0; c < hdr->class_count; ++c) {
    const auto& p = pools[c];
    if (p.first_id != g.first_id[c] || p.region_offset != region.data_offset + g.pool_rel[c] ||
        p.region_bytes != p.chunk_size * p.count)
      return fail(
          Errc::corrupted,
          "heap attach: pool {} ({} B x {}) has first id {}, region [{}, +{}), expected {}, "
          "[{}, +{})",
          c, p.chunk_size, p.count, p.first_id, p.region_offset, p.region_bytes, g.first_id[c],
          region.data_offset + g.pool_rel[c], p.chunk_size * p.count);
  }
  const std::uint64_t sum = detail::header_checksum(*hdr, pools, hdr->class_count);
  if (sum != hdr->checksum)
    return fail(Errc::corrupted, "heap attach: header checksum {:#018x}, expected {:#018x}",
                hdr->checksum, sum);

  Heap h;
  h.base_ = region.base;
  h.segment_size_ = region.segment_size;
  h.header_ = reinterpret_cast<layout::HeapHeader*>(meta);
  h.pools_ = reinterpret_cast<layout::PoolDesc*>(meta + layout::kPoolTableOffset);
  h.tlsf_ = reinterpret_cast<layout::TlsfHeader*>(meta + layout::kTlsfHeaderOffset);
  h.meta_ = reinterpret_cast<layout::ChunkMeta*>(meta + g.chunk_meta_rel);
  h.links_ = reinterpret_cast<layout::TlsfLink*>(meta + g.tlsf_link_rel);
  h.data_offset_ = region.data_offset;
  h.data_size_ = g.data_bytes;
  h.class_count_ = hdr->class_count;
  h.pool_chunks_ = g.pool_chunks;
  h.total_chunks_ = g.total_chunks;
  h.tlsf_max_blocks_ = config.tlsf_max_blocks;
  h.tlsf_offset_ = region.data_offset + g.tlsf_rel;
  h.tlsf_bytes_ = config.tlsf_bytes;
  h.lock_timeout_ = options.lock_timeout;
  for (std::uint32_t c = 0; c < h.class_count_; ++c)
    h.pools_geo_[c] = {config.classes[c].chunk_size, region.data_offset + g.pool_rel[c],
                       config.classes[c].count, g.first_id[c]};
  while ((std::uint64_t{h.pool_chunks_} >> h.class_shift_) >= kClassBuckets) ++h.class_shift_;
  for (std::uint32_t b = 0, c = 0; b < kClassBuckets; ++b) {
    const std::uint64_t first = std::uint64_t{b} << h.class_shift_;
    while (c + 1 < h.class_count_ && first >= h.pools_geo_[c + 1].first_id) ++c;
    h.class_hint_[b] = static_cast<std::uint8_t>(c);
  }

  // Mutable state: free-list heads in range, every chunk's fixed fields and
  // a known state. (Reads only: attach works on a read-only mapping.)
  for (std::uint32_t c = 0; c < h.class_count_; ++c) {
    const std::uint32_t head = FreeList::index_of(h.pools_[c].head.load(std::memory_order_acquire));
    if (head != FreeList::kNil && head >= h.pools_geo_[c].count)
      return fail(Errc::corrupted,
                  "heap attach: pool {} free-list head {} is outside its {} chunks", c, head,
                  h.pools_geo_[c].count);
    const auto& pg = h.pools_geo_[c];
    for (std::uint32_t i = 0; i < pg.count; ++i) {
      const auto& m = h.meta_[pg.first_id + i];
      const std::uint64_t off = m.offset.load(std::memory_order_relaxed);
      const std::uint64_t sz = m.size.load(std::memory_order_relaxed);
      const std::uint8_t st = control::raw_state(m.control.load(std::memory_order_relaxed));
      if (off != pg.region_offset + std::uint64_t{i} * pg.chunk_size || sz != pg.chunk_size ||
          st >= kStateCount || st == static_cast<std::uint8_t>(ChunkState::unused) ||
          st == static_cast<std::uint8_t>(ChunkState::freeing))
        return fail(Errc::corrupted,
                    "heap attach: chunk {} (pool {} index {}) has offset {}, size {}, state {}",
                    pg.first_id + i, c, i, off, sz, unsigned{st});
    }
  }
  const std::uint64_t tlsf_end = h.tlsf_offset_ + h.tlsf_bytes_;
  for (std::uint32_t d = 0; d < h.tlsf_max_blocks_; ++d) {
    const auto& m = h.meta_[h.pool_chunks_ + d];
    const std::uint8_t st = control::raw_state(m.control.load(std::memory_order_relaxed));
    if (st >= kStateCount)
      return fail(Errc::corrupted, "heap attach: tlsf descriptor {} has state {}", d, unsigned{st});
    if (st == static_cast<std::uint8_t>(ChunkState::unused)) continue;
    const std::uint64_t off = m.offset.load(std::memory_order_relaxed);
    const std::uint64_t sz = m.size.load(std::memory_order_relaxed);
    if (off < h.tlsf_offset_ || off % kChunkAlign != 0 || sz < kChunkAlign ||
        sz % kChunkAlign != 0 || !fits(off, sz, tlsf_end))
      return fail(Errc::corrupted,
                  "heap attach: tlsf descriptor {} covers [{}, +{}), outside the region [{}, {})",
                  d, off, sz, h.tlsf_offset_, tlsf_end);
  }
  return h;
}

HeapConfig Heap::config() const {
  HeapConfig c;
  for (std::uint32_t i = 0; i < class_count_; ++i)
    c.classes.push_back({pools_geo_[i].chunk_size, pools_geo_[i].count});
  c.tlsf_bytes = tlsf_bytes_;
  c.tlsf_max_blocks = tlsf_max_blocks_;
  return c;
}

SLUICE_ALLOC_COLD void Heap::note_corruption() const noexcept {
  header_->corruption_events.fetch_add(1, std::memory_order_relaxed);
}

// The class of a pool chunk id, from the validated process-local geometry
// (ids are handed out class by class): a table lookup, then a step or two
// across class boundaries inside the bucket; nothing read from shared
// memory.
std::uint32_t Heap::pool_of(std::uint32_t id) const noexcept {
  if (id >= pool_chunks_) return kTlsfPool;
  std::uint32_t c = class_hint_[id >> class_shift_];
  while (c + 1 < class_count_ && id >= pools_geo_[c + 1].first_id) ++c;
  return c;
}

// ---------------------------------------------------------------- hot path

SLUICE_ALLOC_HOT Result<ChunkRef> Heap::allocate(std::uint64_t size, PeerIndex owner,
                                                 AllocPolicy policy) noexcept {
  if (owner > kMaxPeerIndex) return fail(Errc::invalid_argument);
  if (policy != AllocPolicy::tlsf_only) {
    std::uint32_t c = 0;
    while (c < class_count_ && pools_geo_[c].chunk_size < size) ++c;
    if (c < class_count_) {
      Errc err = Errc::ok;
      const ChunkRef ref = pool_allocate(c, owner, err);
      if (err == Errc::ok) [[likely]]
        return ref;
      if (err == Errc::corrupted)
        return fail(err, "heap: the free list of size class {} ({} B chunks) is corrupted", c,
                    pools_geo_[c].chunk_size);
      if (err != Errc::out_of_memory)
        return fail(err, "heap: the free list of size class {} ({} B chunks) stayed contended", c,
                    pools_geo_[c].chunk_size);
      if (policy == AllocPolicy::pool_only || tlsf_bytes_ == 0) {
        header_->oom_failures.fetch_add(1, std::memory_order_relaxed);
        return fail(err);
      }
      header_->tlsf_fallbacks.fetch_add(1, std::memory_order_relaxed);
    } else if (policy == AllocPolicy::pool_only) {
      header_->oom_failures.fetch_add(1, std::memory_order_relaxed);
      return fail(Errc::out_of_memory);
    }
  }
  auto r = tlsf_allocate(size, owner);
  if (!r && r.error().code() == Errc::out_of_memory)
    header_->oom_failures.fetch_add(1, std::memory_order_relaxed);
  return r;
}

// Sets err (out_of_memory, timed_out, corrupted) instead of returning a
// Result: the caller builds the one Result the hot path returns.
ChunkRef Heap::pool_allocate(std::uint32_t cls, PeerIndex owner, Errc& err) noexcept {
  auto& desc = pools_[cls];
  const auto& g = pools_geo_[cls];
  layout::ChunkMeta* m0 = meta_ + g.first_id;
  const auto r = FreeList::pop(
      desc.head, [m0](std::uint32_t i) -> layout::ChunkMeta& { return m0[i]; }, g.count);
  switch (r.status) {
    case FreeList::Status::ok:
      break;
    case FreeList::Status::empty:
      desc.failures.fetch_add(1, std::memory_order_relaxed);
      err = Errc::out_of_memory;
      return {};
    case FreeList::Status::contended:
      err = Errc::timed_out;
      return {};
    case FreeList::Status::corrupted:
      note_corruption();
      err = Errc::corrupted;
      return {};
  }
  SLUICE_CRASH_POINT("alloc.pool.popped");  // off the list, still `free`: audit relists it
  layout::ChunkMeta& m = m0[r.index];
  // Nobody else writes the control word of a chunk that is free: the pop
  // made it ours. Its last release (acq_rel CAS) happened before the push
  // that our acquire pop observed, so this load sees `free`.
  const std::uint64_t c = m.control.load(std::memory_order_relaxed);
  if (control::state(c) != ChunkState::free) {
    // A listed chunk that is not free: the list is corrupted. The chunk is
    // off the list now; whoever holds it keeps it.
    note_corruption();
    err = Errc::corrupted;
    return {};
  }
  const std::uint32_t gen = control::next_generation(control::generation(c));
  // SYNC: pairs with the acquire load in resolve()/add_ref()/release() of
  // any process that got the ref (through a channel's own release/acquire).
  m.control.store(control::make(ChunkState::loaned, owner, 1, gen), std::memory_order_release);

  // The list held r.depth chunks before this pop: in use now is
  // count - depth + 1. A read-modify-write only when a new maximum is set.
  if (r.depth >= 1 && r.depth <= g.count) {
    const std::uint64_t in_use = std::uint64_t{g.count} - r.depth + 1;
    std::uint64_t hw = desc.high_water.load(std::memory_order_relaxed);
    while (in_use > hw &&
           !desc.high_water.compare_exchange_weak(hw, in_use, std::memory_order_relaxed)) {
    }
  }
  return ChunkRef{g.region_offset + std::uint64_t{r.index} * g.chunk_size, gen,
                  g.first_id + r.index};
}

void Heap::pool_push(std::uint32_t cls, std::uint32_t index) noexcept {
  auto& desc = pools_[cls];
  layout::ChunkMeta* m0 = meta_ + pools_geo_[cls].first_id;
  if (!FreeList::push(
          desc.head, [m0](std::uint32_t i) -> layout::ChunkMeta& { return m0[i]; }, index,
          pools_geo_[cls].count))
    desc.lost.fetch_add(1, std::memory_order_relaxed);
}

// Validates the id and offset part of a ref. For pool chunks the offset
// follows from the validated geometry; for TLSF blocks the caller compares
// it with the descriptor after checking the generation (a block's offset
// changes only while it is not live).
Heap::RefPlace Heap::check_ref(const ChunkRef& ref) const noexcept {
  if (ref.id < pool_chunks_) {
    const std::uint32_t c = pool_of(ref.id);
    const auto& g = pools_geo_[c];
    const std::uint64_t off = g.region_offset + std::uint64_t{ref.id - g.first_id} * g.chunk_size;
    return {off, c, off == ref.offset ? Errc::ok : Errc::bad_chunk};
  }
  if (ref.id >= total_chunks_ || ref.offset < tlsf_offset_ ||
      ref.offset - tlsf_offset_ >= tlsf_bytes_ || ref.offset % kChunkAlign != 0)
    return {0, kTlsfPool, Errc::bad_chunk};
  return {ref.offset, kTlsfPool, Errc::ok};
}

SLUICE_ALLOC_HOT Result<ChunkView> Heap::resolve(const ChunkRef& ref) const noexcept {
  const RefPlace place = check_ref(ref);
  if (place.error != Errc::ok) [[unlikely]]
    return fail(place.error);
  const std::uint64_t off = place.offset;
  const layout::ChunkMeta& m = meta_[ref.id];
  // SYNC: pairs with the release store/CAS that made the chunk live.
  const std::uint64_t c = m.control.load(std::memory_order_acquire);
  if (control::generation(c) != ref.generation || !is_live(control::state(c)))
    return fail(Errc::stale);
  if (place.pool != kTlsfPool) return ChunkView{base_ + off, pools_geo_[place.pool].chunk_size};
  // TLSF: read offset/size, then re-check the control word (seqlock-style):
  // a live block's geometry does not change, so an unchanged generation
  // and live state mean the values belong to this incarnation.
  // The acquire loads keep the re-check from moving before them (no fence:
  // TSan does not model fences).
  const std::uint64_t boff = m.offset.load(std::memory_order_acquire);
  const std::uint64_t bsize = m.size.load(std::memory_order_acquire);
  const std::uint64_t c2 = m.control.load(std::memory_order_relaxed);
  if (control::generation(c2) != ref.generation || !is_live(control::state(c2)))
    return fail(Errc::stale);
  if (boff != off) return fail(Errc::bad_chunk);
  if (bsize < kChunkAlign || !fits(boff - tlsf_offset_, bsize, tlsf_bytes_)) {
    note_corruption();
    return fail(Errc::corrupted);
  }
  return ChunkView{base_ + boff, bsize};
}

SLUICE_ALLOC_HOT Result<void> Heap::add_ref(const ChunkRef& ref, std::uint32_t count) noexcept {
  const RefPlace place = check_ref(ref);
  if (place.error != Errc::ok) [[unlikely]]
    return fail(place.error);
  const std::uint64_t off = place.offset;
  layout::ChunkMeta& m = meta_[ref.id];
  std::uint64_t c = m.control.load(std::memory_order_relaxed);
  for (std::uint32_t attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    if (control::generation(c) != ref.generation || !is_live(control::state(c)))
      return fail(Errc::stale);
    if (ref.id >= pool_chunks_ && attempt == 0 && m.offset.load(std::memory_order_relaxed) != off)
      return fail(Errc::bad_chunk);
    const std::uint32_t n = control::refs(c);
    if (n == 0) {
      note_corruption();
      return fail(Errc::corrupted);
    }
    if (count > kMaxRefs - n) return fail(Errc::out_of_range);
    // Relaxed is enough: the caller already holds a reference, so the
    // chunk cannot be freed meanwhile; the new holder receives the ref
    // through a channel's own release/acquire.
    if (m.control.compare_exchange_weak(c, control::with_refs(c, n + count),
                                        std::memory_order_relaxed, std::memory_order_relaxed))
      return ok();
  }
  return fail(Errc::timed_out);
}

SLUICE_ALLOC_HOT Result<bool> Heap::release(const ChunkRef& ref, PeerIndex by) noexcept {
  const RefPlace place = check_ref(ref);
  if (place.error != Errc::ok) [[unlikely]]
    return fail(place.error);
  const std::uint64_t off = place.offset;
  layout::ChunkMeta& m = meta_[ref.id];
  const bool pool = place.pool != kTlsfPool;
  std::uint64_t c = m.control.load(std::memory_order_acquire);
  for (std::uint32_t attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    if (control::generation(c) != ref.generation || !is_live(control::state(c)))
      return fail(Errc::stale);
    if (!pool && attempt == 0 && m.offset.load(std::memory_order_relaxed) != off)
      return fail(Errc::bad_chunk);
    const std::uint32_t n = control::refs(c);
    if (n == 0) {
      note_corruption();
      return fail(Errc::corrupted);
    }
    if (n == 1) {
      // The only reference, and the caller holds it: by the reference
      // protocol nobody else may add or drop one now, so a plain store is
      // enough (the one writer that may race is reclaim_peer() clearing the
      // owner of a published chunk whose publisher died, and freeing
      // supersedes that). This keeps a pool pair at two read-modify-writes.
      // SYNC: the acquire load above took the earlier holders' releases;
      // the push below (release) hands them, and our own payload accesses,
      // to the next allocator's pop (acquire).
      m.control.store(pool ? control::make(ChunkState::free, kNoPeer, 0, ref.generation)
                           : control::make(ChunkState::freeing, by, 0, ref.generation),
                      std::memory_order_release);
      if (pool) {
        SLUICE_CRASH_POINT("alloc.pool.released");  // `free`, not yet listed: audit relists it
        pool_push(place.pool, ref.id - pools_geo_[place.pool].first_id);
      } else {
        // The block is off the books (freeing); if the lock cannot be had
        // now it stays there and the next TLSF allocation that runs short,
        // audit() or reclaim_peer() finishes it. The caller's reference is
        // gone either way, so this is still success.
        (void)tlsf_finish_free(ref.id - pool_chunks_);
      }
      return true;
    }
    // Several holders: drop ours with a CAS (others may drop theirs at once).
    // SYNC: release publishes this holder's accesses to the payload before
    // the chunk can be reused; the last holder's acquire load takes them.
    if (m.control.compare_exchange_weak(c, control::with_refs(c, n - 1), std::memory_order_acq_rel,
                                        std::memory_order_acquire))
      return false;
  }
  return fail(Errc::timed_out);
}

SLUICE_ALLOC_HOT Result<void> Heap::set_state(const ChunkRef& ref, ChunkState from,
                                              ChunkState to) noexcept {
  if (!is_live(from) || !is_live(to)) return fail(Errc::invalid_argument);
  const RefPlace place = check_ref(ref);
  if (place.error != Errc::ok) [[unlikely]]
    return fail(place.error);
  const std::uint64_t off = place.offset;
  layout::ChunkMeta& m = meta_[ref.id];
  std::uint64_t c = m.control.load(std::memory_order_acquire);
  for (std::uint32_t attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    if (control::generation(c) != ref.generation || !is_live(control::state(c)))
      return fail(Errc::stale);
    if (ref.id >= pool_chunks_ && attempt == 0 && m.offset.load(std::memory_order_relaxed) != off)
      return fail(Errc::bad_chunk);
    if (control::state(c) != from) return fail(Errc::invalid_argument);
    // SYNC: release publishes the owner's payload writes with the state
    // change (readers usually learn of the chunk through a ring, which has
    // its own release/acquire pair).
    if (m.control.compare_exchange_weak(c, control::with_state(c, to), std::memory_order_acq_rel,
                                        std::memory_order_acquire))
      return ok();
  }
  return fail(Errc::timed_out);
}

Result<void> Heap::transfer_owner(const ChunkRef& ref, PeerIndex new_owner) noexcept {
  if (new_owner > kMaxPeerIndex && new_owner != kNoPeer) return fail(Errc::invalid_argument);
  const RefPlace place = check_ref(ref);
  if (place.error != Errc::ok) [[unlikely]]
    return fail(place.error);
  const std::uint64_t off = place.offset;
  layout::ChunkMeta& m = meta_[ref.id];
  std::uint64_t c = m.control.load(std::memory_order_acquire);
  for (std::uint32_t attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    if (control::generation(c) != ref.generation || !is_live(control::state(c)))
      return fail(Errc::stale);
    if (ref.id >= pool_chunks_ && attempt == 0 && m.offset.load(std::memory_order_relaxed) != off)
      return fail(Errc::bad_chunk);
    if (m.control.compare_exchange_weak(c, control::with_owner(c, new_owner),
                                        std::memory_order_acq_rel, std::memory_order_acquire))
      return ok();
  }
  return fail(Errc::timed_out);
}

// ---------------------------------------------------------------- TLSF entry points

SLUICE_ALLOC_OUT_OF_LINE Result<ChunkRef> Heap::tlsf_allocate(std::uint64_t size,
                                                              PeerIndex owner) noexcept {
  if (tlsf_bytes_ == 0 || size > tlsf_bytes_) return fail(Errc::out_of_memory);
  try {
    Tlsf t(*this);
    SLUICE_TRY_ASSIGN(auto guard, t.lock());
    std::uint32_t gen = 0;
    std::uint64_t off = 0;
    SLUICE_TRY_ASSIGN(const std::uint32_t d, t.allocate(size, owner, gen, off));
    return ChunkRef{off, gen, pool_chunks_ + d};
  } catch (const std::bad_alloc&) {
    // Only rebuild() allocates (its sort buffer), on the repair path.
    return fail(Errc::out_of_memory);
  }
}

SLUICE_ALLOC_OUT_OF_LINE Result<void> Heap::tlsf_finish_free(std::uint32_t d) noexcept {
  try {
    Tlsf t(*this);
    SLUICE_TRY_ASSIGN(auto guard, t.lock());
    return t.finish_free(d);
  } catch (const std::bad_alloc&) {
    return fail(Errc::out_of_memory);
  }
}

}  // namespace sluice::alloc
