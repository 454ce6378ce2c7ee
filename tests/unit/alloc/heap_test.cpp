#include "heap_fixture.hpp"

#include <sluice/alloc/heap.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <set>
#include <vector>

namespace sluice::alloc {
namespace {

using test::SharedRegion;
using test::small_config;

constexpr PeerIndex kP1 = 1;
constexpr PeerIndex kP2 = 2;

TEST(Heap, FormatAttachAndConfigRoundTrip) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  auto h = Heap::format(r.region(), cfg);
  ASSERT_TRUE(h) << h.error().what();
  EXPECT_EQ(h->config(), cfg);
  auto other = Heap::attach(r.region());
  ASSERT_TRUE(other) << other.error().what();
  EXPECT_EQ(other->config(), cfg);
  EXPECT_EQ(other->class_count(), 3u);
  EXPECT_EQ(other->tlsf_bytes(), 1 * MiB);
  EXPECT_EQ(other->max_allocation(), 1 * MiB);
  EXPECT_EQ(other->total_chunks(), 64u + 32u + 8u + 256u);
  const HeapStats s = other->stats();
  ASSERT_EQ(s.pools.size(), 3u);
  EXPECT_EQ(s.pools[0].capacity, 64u);
  EXPECT_EQ(s.pools[0].in_use, 0u);
  EXPECT_EQ(s.tlsf.free_bytes, 1 * MiB);
  EXPECT_EQ(s.tlsf.largest_free, 1 * MiB);
  EXPECT_EQ(s.tlsf.used_blocks, 1u);
}

TEST(Heap, FormatNeverTouchesTheDataSection) {
  const HeapConfig cfg = HeapConfig::defaults();
  SharedRegion r(cfg);
  ASSERT_TRUE(Heap::format(r.region(), cfg));
  // mincore: no page of the data section is resident after format.
  const auto& reg = r.region();
  const std::size_t pages = reg.data_size / kPageSize;
  std::vector<unsigned char> vec(pages);
  ASSERT_EQ(::mincore(reg.base + reg.data_offset, reg.data_size, vec.data()), 0);
  std::size_t resident = 0;
  for (unsigned char v : vec) resident += v & 1u;
  EXPECT_EQ(resident, 0u);
}

TEST(Heap, FormatRejectsSmallOrBadRegions) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  HeapRegion reg = r.region();
  reg.meta_size = 1024;
  EXPECT_EQ(Heap::format(reg, cfg).error().code(), Errc::invalid_argument);
  reg = r.region();
  reg.data_size -= kPageSize;
  EXPECT_EQ(Heap::format(reg, cfg).error().code(), Errc::invalid_argument);
  reg = r.region();
  reg.data_offset = reg.meta_offset;  // overlap
  EXPECT_EQ(Heap::format(reg, cfg).error().code(), Errc::invalid_argument);
  reg = r.region();
  reg.data_offset += 64;  // not page-aligned
  EXPECT_EQ(Heap::format(reg, cfg).error().code(), Errc::invalid_argument);
  reg = r.region();
  reg.segment_size = reg.data_offset;  // data outside the segment
  EXPECT_EQ(Heap::format(reg, cfg).error().code(), Errc::invalid_argument);
  reg = r.region();
  reg.base = nullptr;
  EXPECT_EQ(Heap::format(reg, cfg).error().code(), Errc::invalid_argument);
}

TEST(Heap, AllocateUsesSmallestFittingClassAndAligns) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  struct Case {
    std::uint64_t size;
    std::uint64_t capacity;
  };
  for (const Case c : {Case{0, 64}, Case{1, 64}, Case{64, 64}, Case{65, 256}, Case{256, 256},
                       Case{257, 4096}, Case{4096, 4096}, Case{4097, 4160}, Case{100000, 100032}}) {
    auto ref = h.allocate(c.size, kP1);
    ASSERT_TRUE(ref) << c.size << ": " << ref.error().what();
    auto v = h.resolve(*ref);
    ASSERT_TRUE(v) << v.error().what();
    EXPECT_EQ(v->size, c.capacity) << "request " << c.size;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v->data) % 64, 0u);
    EXPECT_EQ(ref->offset % 64, 0u);
    EXPECT_EQ(v->data, r.base() + ref->offset);
    EXPECT_GE(ref->offset, r.region().data_offset);
    EXPECT_LE(ref->offset + v->size, r.region().data_offset + r.region().data_size);
    auto info = h.info(ref->id).value();
    EXPECT_EQ(info.state, ChunkState::loaned);
    EXPECT_EQ(info.owner, kP1);
    EXPECT_EQ(info.refs, 1u);
    EXPECT_EQ(info.ref, *ref);
    EXPECT_TRUE(h.release(*ref, kP1).value());
  }
}

TEST(Heap, PoolExhaustionFallsBackToTlsfThenFailsRetryably) {
  HeapConfig cfg;
  cfg.classes = {{64, 4}};
  cfg.tlsf_bytes = 512;  // room for 8 more 64-byte blocks
  cfg.tlsf_max_blocks = 16;
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  std::vector<ChunkRef> refs;
  for (int i = 0; i < 12; ++i) {
    auto ref = h.allocate(64, kP1);
    ASSERT_TRUE(ref) << i << ": " << ref.error().what();
    refs.push_back(*ref);
  }
  auto none = h.allocate(64, kP1);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Errc::out_of_memory);
  EXPECT_TRUE(none.error().retryable());
  EXPECT_EQ(h.allocate(8, kP1, AllocPolicy::pool_only).error().code(), Errc::out_of_memory);
  HeapStats s = h.stats();
  EXPECT_EQ(s.pools[0].in_use, 4u);
  EXPECT_EQ(s.pools[0].high_water, 4u);
  EXPECT_GE(s.pools[0].failures, 9u);
  EXPECT_EQ(s.tlsf_fallbacks, 9u);  // 8 served + 1 that failed in TLSF too
  EXPECT_EQ(s.oom_failures, 2u);
  EXPECT_EQ(s.tlsf.free_bytes, 0u);
  EXPECT_EQ(s.tlsf.allocations, 8u);
  for (const auto& ref : refs) EXPECT_TRUE(h.release(ref, kP1).value());
  s = h.stats();
  EXPECT_EQ(s.pools[0].in_use, 0u);
  EXPECT_EQ(s.pools[0].high_water, 4u);
  EXPECT_EQ(s.tlsf.free_bytes, 512u);
  EXPECT_EQ(s.tlsf.largest_free, 512u);
  EXPECT_EQ(s.tlsf.used_blocks, 1u);
  // Memory came back: the same pattern succeeds again.
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(h.allocate(64, kP1));
}

TEST(Heap, TooLargeIsOutOfMemory) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  auto ref = h.allocate(2 * MiB, kP1);
  ASSERT_FALSE(ref);
  EXPECT_EQ(ref.error().code(), Errc::out_of_memory);
  EXPECT_EQ(h.allocate(1 * MiB, kP1, AllocPolicy::pool_only).error().code(), Errc::out_of_memory);
  auto whole = h.allocate(1 * MiB, kP1);
  ASSERT_TRUE(whole);
  EXPECT_EQ(h.resolve(*whole)->size, 1 * MiB);
  EXPECT_EQ(h.allocate(1, kP1, AllocPolicy::tlsf_only).error().code(), Errc::out_of_memory);
  EXPECT_EQ(h.allocate(1, kMaxPeerIndex + 1).error().code(), Errc::invalid_argument);
}

TEST(Heap, StaleAndBadReferences) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  for (std::uint64_t size : {64ull, 8192ull}) {  // a pool chunk and a TLSF block
    const ChunkRef ref = h.allocate(size, kP1).value();
    ASSERT_TRUE(h.release(ref, kP1).value());
    EXPECT_EQ(h.resolve(ref).error().code(), Errc::stale);
    EXPECT_EQ(h.release(ref, kP1).error().code(), Errc::stale) << "double release is detected";
    EXPECT_EQ(h.add_ref(ref).error().code(), Errc::stale);
    EXPECT_EQ(h.publish(ref).error().code(), Errc::stale);
    EXPECT_EQ(h.transfer_owner(ref, kP2).error().code(), Errc::stale);
    // The chunk is reused with a new generation; the old ref stays stale.
    const ChunkRef again = h.allocate(size, kP1).value();
    EXPECT_EQ(again.id, ref.id);
    EXPECT_EQ(again.offset, ref.offset);
    EXPECT_NE(again.generation, ref.generation);
    EXPECT_EQ(h.resolve(ref).error().code(), Errc::stale);
    EXPECT_TRUE(h.resolve(again));

    ChunkRef bad = again;
    bad.id = h.total_chunks();
    EXPECT_EQ(h.resolve(bad).error().code(), Errc::bad_chunk);
    bad = again;
    bad.offset += 64;
    EXPECT_EQ(h.resolve(bad).error().code(), Errc::bad_chunk);
    EXPECT_EQ(h.release(bad, kP1).error().code(), Errc::bad_chunk);
    bad.offset = 3;
    EXPECT_EQ(h.resolve(bad).error().code(), Errc::bad_chunk);
    EXPECT_EQ(h.resolve(ChunkRef{}).error().code(), Errc::bad_chunk);
    ASSERT_TRUE(h.release(again, kP1).value());
  }
}

TEST(Heap, ReferenceCountingWithSeveralHolders) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  for (std::uint64_t size : {200ull, 50000ull}) {
    const ChunkRef ref = h.allocate(size, kP1).value();
    ASSERT_TRUE(h.publish(ref));
    EXPECT_EQ(h.publish(ref).error().code(), Errc::invalid_argument) << "already published";
    ASSERT_TRUE(h.add_ref(ref, 3));  // three subscribers
    EXPECT_EQ(h.info(ref.id)->refs, 4u);
    EXPECT_EQ(h.info(ref.id)->state, ChunkState::published);
    EXPECT_FALSE(h.release(ref, kP1).value());  // publisher drops its own
    EXPECT_FALSE(h.release(ref, 3).value());
    EXPECT_FALSE(h.release(ref, 4).value());
    EXPECT_TRUE(h.resolve(ref)) << "still held by one";
    EXPECT_TRUE(h.release(ref, 5).value()) << "the last holder frees it";
    EXPECT_EQ(h.resolve(ref).error().code(), Errc::stale);
  }
  const ChunkRef ref = h.allocate(64, kP1).value();
  EXPECT_EQ(h.add_ref(ref, kMaxRefs).error().code(), Errc::out_of_range);
  ASSERT_TRUE(h.add_ref(ref, kMaxRefs - 1));
  EXPECT_EQ(h.add_ref(ref).error().code(), Errc::out_of_range);
  EXPECT_EQ(h.set_state(ref, ChunkState::loaned, ChunkState::free).error().code(),
            Errc::invalid_argument);
  const HeapStats before = h.stats();
  for (std::uint32_t i = 0; i < kMaxRefs; ++i) ASSERT_TRUE(h.release(ref, kP1));
  EXPECT_EQ(h.stats().pools[0].in_use, before.pools[0].in_use - 1);
}

TEST(Heap, TransferOwnerAndForEachChunkOf) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  const ChunkRef a = h.allocate(64, kP1).value();
  const ChunkRef b = h.allocate(3000, kP1).value();
  const ChunkRef c = h.allocate(70000, kP2).value();
  ASSERT_TRUE(h.transfer_owner(b, kP2));
  std::set<std::uint32_t> of1, of2;
  h.for_each_chunk_of(kP1, [&](const ChunkInfo& i) { of1.insert(i.ref.id); });
  h.for_each_chunk_of(kP2, [&](const ChunkInfo& i) { of2.insert(i.ref.id); });
  EXPECT_EQ(of1, (std::set<std::uint32_t>{a.id}));
  EXPECT_EQ(of2, (std::set<std::uint32_t>{b.id, c.id}));
  std::size_t live = 0;
  h.for_each_live_chunk([&](const ChunkInfo& i) {
    ++live;
    EXPECT_TRUE(is_live(i.state));
  });
  EXPECT_EQ(live, 3u);
  const auto ci = h.info(c.id).value();
  EXPECT_EQ(ci.pool, kTlsfPool);
  EXPECT_EQ(ci.size, 70016u);
  ASSERT_TRUE(h.transfer_owner(a, kNoPeer));  // allowed: the chunk becomes an orphan
  EXPECT_EQ(h.info(a.id)->owner, kNoPeer);
}

TEST(Heap, ReclaimPeerFreesLoansAndOrphansPublished) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  const HeapStats initial = h.stats();
  // The dead peer (7): two loans (pool + TLSF), one published chunk held by
  // a subscriber, one TLSF block it was in the middle of freeing.
  const ChunkRef loan_pool = h.allocate(100, 7).value();
  const ChunkRef loan_tlsf = h.allocate(20000, 7).value();
  const ChunkRef pub = h.allocate(64, 7).value();
  ASSERT_TRUE(h.publish(pub));
  ASSERT_TRUE(h.add_ref(pub));  // the subscriber's reference
  ASSERT_FALSE(h.release(pub, 7).value());
  // Simulate peer 7 dying between "last reference dropped" and "block back
  // in its bin": the control word says freeing, owner 7.
  const ChunkRef dying = h.allocate(30000, 7).value();
  auto& m = r.chunk(dying.id);
  m.control.store(control::make(ChunkState::freeing, 7, 0, dying.generation));
  // A survivor's chunk is untouched.
  const ChunkRef mine = h.allocate(64, kP1).value();

  auto rep = h.reclaim_peer(7);
  ASSERT_TRUE(rep) << rep.error().what();
  EXPECT_EQ(rep->freed, 2u);
  EXPECT_EQ(rep->orphaned, 1u);
  EXPECT_EQ(rep->completed, 1u);
  EXPECT_EQ(h.resolve(loan_pool).error().code(), Errc::stale);
  EXPECT_EQ(h.resolve(loan_tlsf).error().code(), Errc::stale);
  ASSERT_TRUE(h.resolve(pub)) << "the subscriber still reads it";
  EXPECT_EQ(h.info(pub.id)->owner, kNoPeer);
  EXPECT_TRUE(h.resolve(mine));
  std::size_t left = 0;
  h.for_each_chunk_of(7, [&](const ChunkInfo&) { ++left; });
  EXPECT_EQ(left, 0u);
  // Idempotent.
  auto again = h.reclaim_peer(7).value();
  EXPECT_EQ(again.freed + again.orphaned + again.completed, 0u);
  // The subscriber's release frees the orphan; then everything is back.
  EXPECT_TRUE(h.release(pub, kP2).value());
  EXPECT_TRUE(h.release(mine, kP1).value());
  const HeapStats s = h.stats();
  for (std::size_t i = 0; i < s.pools.size(); ++i) EXPECT_EQ(s.pools[i].in_use, 0u);
  EXPECT_EQ(s.tlsf.free_bytes, initial.tlsf.free_bytes);
  EXPECT_EQ(s.tlsf.largest_free, initial.tlsf.region_bytes);
  auto audit = h.audit(false).value();
  EXPECT_TRUE(audit.clean()) << audit.problems.front();
}

// Two mappings of the same memory at different addresses: a ref made
// through one resolves through the other to the same bytes.
TEST(Heap, OffsetsAreIndependentOfTheMappingAddress) {
  const HeapConfig cfg = small_config();
  const std::uint64_t meta = align_up(Heap::metadata_bytes(cfg).value(), kPageSize);
  const std::uint64_t data = Heap::data_bytes(cfg).value();
  const std::uint64_t total = kPageSize + meta + data;
  const int fd = ::memfd_create("sluice-alloc-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(total)), 0);
  void* a = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  void* b = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(a, MAP_FAILED);
  ASSERT_NE(b, MAP_FAILED);
  ASSERT_NE(a, b);
  HeapRegion ra{static_cast<std::byte*>(a), total, kPageSize, meta, kPageSize + meta, data};
  HeapRegion rb = ra;
  rb.base = static_cast<std::byte*>(b);
  Heap ha = Heap::format(ra, cfg).value();
  Heap hb = Heap::attach(rb).value();
  for (std::uint64_t size : {64ull, 5000ull}) {
    const ChunkRef ref = ha.allocate(size, kP1).value();
    ChunkView va = ha.resolve(ref).value();
    std::memcpy(va.data, "through a", 10);
    ChunkView vb = hb.resolve(ref).value();
    EXPECT_NE(va.data, vb.data);
    EXPECT_STREQ(reinterpret_cast<const char*>(vb.data), "through a");
    EXPECT_TRUE(hb.release(ref, kP2).value());
    EXPECT_EQ(ha.resolve(ref).error().code(), Errc::stale);
  }
  ::munmap(a, total);
  ::munmap(b, total);
  ::close(fd);
}

TEST(Heap, AttachOnReadOnlyMapping) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  const ChunkRef ref = h.allocate(64, kP1).value();
  ASSERT_EQ(::mprotect(r.base(), r.region().segment_size, PROT_READ), 0);
  auto ro = Heap::attach(r.region());
  ASSERT_TRUE(ro) << ro.error().what();
  const HeapStats s = ro->stats();
  EXPECT_EQ(s.pools[0].in_use, 1u);
  EXPECT_TRUE(ro->resolve(ref));
  std::size_t n = 0;
  ro->for_each_live_chunk([&](const ChunkInfo&) { ++n; });
  EXPECT_EQ(n, 1u);
  ASSERT_EQ(::mprotect(r.base(), r.region().segment_size, PROT_READ | PROT_WRITE), 0);
}

TEST(Heap, StatsFormatting) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  ASSERT_TRUE(h.allocate(64, kP1));
  const HeapStats s = h.stats();
  const std::string table = format_stats_table(s);
  EXPECT_NE(table.find("high water"), std::string::npos);
  EXPECT_NE(table.find("64 B"), std::string::npos);
  EXPECT_NE(table.find("tlsf  region 1 MiB"), std::string::npos);
  const std::string json = format_stats_json(s);
  EXPECT_NE(
      json.find(R"("pools":[{"index":0,"chunk_size":64,"capacity":64,"in_use":1,"high_water":1)"),
      std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("tlsf":{"region_bytes":1048576)"), std::string::npos) << json;
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
}

}  // namespace
}  // namespace sluice::alloc
