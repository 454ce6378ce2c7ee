#include <sluice/channel/domain.hpp>
#include <sluice/channel/internal/core.hpp>

namespace sluice {
namespace {

alloc::HeapRegion region_of(const layout::Segment& d) {
  const auto& h = d.geometry();
  return alloc::HeapRegion{d.base(),    d.size(),      h.heap.offset,
                           h.heap.size, h.data.offset, h.data.size};
}

}  // namespace

Result<layout::SegmentOptions> segment_options(const DomainOptions& options) {
  SLUICE_TRY_ASSIGN(const std::uint64_t meta, alloc::Heap::metadata_bytes(options.heap));
  SLUICE_TRY_ASSIGN(const std::uint64_t data, alloc::Heap::data_bytes(options.heap));
  layout::SegmentOptions o;
  o.max_peers = options.max_peers;
  o.max_entries = options.max_channels;
  o.heap_bytes = meta;
  o.data_bytes = data;
  o.mode = options.mode;
  o.trust = options.trust;
  o.open_timeout = options.open_timeout;
  o.populate = options.populate;
  o.persistent = options.persistent;
  const alloc::HeapConfig config = options.heap;
  o.format_sections = [config](layout::Segment& d) -> Result<void> {
    SLUICE_TRY(alloc::Heap::format(region_of(d), config));
    return ok();
  };
  return o;
}

Result<Domain> Domain::attach_heap(layout::Segment segment) {
  auto state = std::make_shared<State>();
  state->segment = std::move(segment);
  auto heap = alloc::Heap::attach(region_of(state->segment));
  if (!heap)
    return fail(heap.error().context(fmt::format("domain '{}': heap", state->segment.name())));
  state->heap = *heap;
  if (!state->segment.peer_index())
    return fail(Errc::internal, "domain '{}': not attached as a peer", state->segment.name());
  state->peer = static_cast<alloc::PeerIndex>(*state->segment.peer_index());
  return Domain(std::move(state));
}

Result<Domain> Domain::create(std::string_view name, const DomainOptions& options) {
  SLUICE_TRY_ASSIGN(const auto seg_options, segment_options(options));
  SLUICE_TRY_ASSIGN(auto segment, layout::Segment::create(name, seg_options));
  return attach_heap(std::move(segment));
}

Result<void> Domain::reclaim_to_attach(std::string_view name, layout::SegmentOpenOptions oo,
                                       const Error& full) {
  oo.attach_as_peer = false;
  SLUICE_TRY_ASSIGN(auto segment, layout::Segment::open(name, oo));
  const auto dead = segment.dead_peers();
  if (dead.empty()) return fail(full);  // every slot is held by a live process
  auto state = std::make_shared<State>();
  state->segment = std::move(segment);
  SLUICE_TRY_ASSIGN(state->heap, alloc::Heap::attach(region_of(state->segment)));
  // Releases happen on behalf of the first dead peer (whose slot this
  // process takes next): nothing is recorded under a slot nobody owns.
  state->peer = static_cast<alloc::PeerIndex>(dead.front());
  Domain helper(std::move(state));
  SLUICE_TRY(helper.reclaim());
  return ok();
}

namespace {
bool table_full(const Error& e) { return e.code() == Errc::table_full; }
}  // namespace

Result<Domain> Domain::open(std::string_view name, const OpenOptions& options) {
  layout::SegmentOpenOptions oo;
  oo.timeout = options.timeout;
  oo.mode = options.mode;
  oo.trust = options.trust;
  auto segment = layout::Segment::open(name, oo);
  if (!segment && table_full(segment.error())) {
    SLUICE_TRY(reclaim_to_attach(name, oo, segment.error()));
    segment = layout::Segment::open(name, oo);
  }
  if (!segment) return fail(segment.error());
  return attach_heap(std::move(segment).value());
}

Result<Domain> Domain::open_or_create(std::string_view name, const DomainOptions& options) {
  SLUICE_TRY_ASSIGN(const auto seg_options, segment_options(options));
  auto segment = layout::Segment::open_or_create(name, seg_options);
  if (!segment && table_full(segment.error())) {
    layout::SegmentOpenOptions oo;
    oo.timeout = options.open_timeout;
    oo.mode = options.mode;
    oo.trust = options.trust;
    SLUICE_TRY(reclaim_to_attach(name, oo, segment.error()));
    segment = layout::Segment::open_or_create(name, seg_options);
  }
  if (!segment) return fail(segment.error());
  return attach_heap(std::move(segment).value());
}

const std::string& Domain::name() const noexcept { return state_->segment.name(); }
layout::Segment& Domain::segment() const noexcept { return state_->segment; }
alloc::Heap& Domain::heap() const noexcept { return state_->heap; }
alloc::PeerIndex Domain::peer() const noexcept { return state_->peer; }

}  // namespace sluice
