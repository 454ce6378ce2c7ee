// Scribbled metadata gives clear errors (attach refuses with a message that
// names the field; operations refuse with corrupted), never undefined
// behaviour. And the pool crash windows: a chunk lost between the free-list
// CAS and the control-word write is found and relisted by audit().

#include "heap_fixture.hpp"

#include <sluice/alloc/free_list.hpp>
#include <sluice/alloc/heap.hpp>

#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <string>

namespace sluice::alloc {
namespace {

using test::SharedRegion;
using test::small_config;
using FreeList = TaggedFreeList<std::atomic>;

struct Scribble {
  const char* name;
  std::function<void(SharedRegion&)> apply;
  Errc expected;
  const char* message_part;
};

class AttachScribble : public ::testing::TestWithParam<int> {};

std::vector<Scribble> scribbles() {
  return {
      {"magic", [](SharedRegion& r) { r.header().magic ^= 1; }, Errc::bad_magic, "bad magic"},
      {"version", [](SharedRegion& r) { r.header().version = 99; }, Errc::version_mismatch,
       "version 99"},
      {"segment size", [](SharedRegion& r) { r.header().segment_size += 4096; }, Errc::corrupted,
       "segment size"},
      {"section offsets", [](SharedRegion& r) { r.header().meta_offset += 64; }, Errc::corrupted,
       "sections"},
      {"class count", [](SharedRegion& r) { r.header().class_count = 33; }, Errc::corrupted,
       "33 size classes"},
      {"class size not multiple of 64", [](SharedRegion& r) { r.pool(1).chunk_size = 200; },
       Errc::corrupted, "stored configuration is invalid"},
      {"classes not ascending",
       [](SharedRegion& r) { std::swap(r.pool(0).chunk_size, r.pool(1).chunk_size); },
       Errc::corrupted, "does not exceed"},
      {"class count changed", [](SharedRegion& r) { r.pool(0).count += 1; }, Errc::corrupted,
       "size is"},
      {"zero chunks", [](SharedRegion& r) { r.pool(2).count = 0; }, Errc::corrupted, "no chunks"},
      {"pool first id", [](SharedRegion& r) { r.pool(1).first_id += 1; }, Errc::corrupted,
       "first id"},
      {"pool region", [](SharedRegion& r) { r.pool(1).region_offset += 64; }, Errc::corrupted,
       "region"},
      {"tlsf offset", [](SharedRegion& r) { r.header().tlsf_offset += 4096; }, Errc::corrupted,
       "tlsf region offset"},
      {"tlsf size", [](SharedRegion& r) { r.header().tlsf_bytes *= 2; }, Errc::corrupted, "data"},
      {"tlsf blocks", [](SharedRegion& r) { r.header().tlsf_max_blocks = 1; }, Errc::corrupted,
       "max blocks"},
      {"chunk table offset", [](SharedRegion& r) { r.header().chunk_meta_offset += 64; },
       Errc::corrupted, "chunk table offset"},
      {"checksum", [](SharedRegion& r) { r.header().checksum ^= 0x10; }, Errc::corrupted,
       "checksum"},
      {"checksummed reserved byte", [](SharedRegion& r) { r.header().reserved0 = 7; },
       Errc::corrupted, "checksum"},
      {"pool head out of range",
       [](SharedRegion& r) { r.pool(0).head.store(FreeList::pack(1000, 0)); }, Errc::corrupted,
       "free-list head"},
      {"chunk state unused", [](SharedRegion& r) { r.chunk(3).control.store(0); }, Errc::corrupted,
       "chunk 3"},
      {"chunk offset", [](SharedRegion& r) { r.chunk(70).offset.store(12345); }, Errc::corrupted,
       "chunk 70"},
      {"chunk size", [](SharedRegion& r) { r.chunk(100).size.store(64); }, Errc::corrupted,
       "chunk 100"},
      {"chunk state", [](SharedRegion& r) { r.chunk(5).control.store(0xFF); }, Errc::corrupted,
       "state 255"},
      {"tlsf descriptor state",
       [](SharedRegion& r) { r.chunk(r.header().pool_chunks + 7).control.store(9); },
       Errc::corrupted, "tlsf descriptor 7"},
      {"tlsf descriptor geometry",
       [](SharedRegion& r) { r.chunk(r.header().pool_chunks).size.store(64 * MiB); },
       Errc::corrupted, "outside the region"},
  };
}

TEST_P(AttachScribble, IsRefusedWithAClearError) {
  const auto s = scribbles()[static_cast<std::size_t>(GetParam())];
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  ASSERT_TRUE(Heap::format(r.region(), cfg));
  s.apply(r);
  auto h = Heap::attach(r.region());
  ASSERT_FALSE(h) << s.name << " was not detected";
  EXPECT_EQ(h.error().code(), s.expected) << s.name << ": " << h.error().what();
  const std::string msg = h.error().what();
  EXPECT_NE(msg.find(s.message_part), std::string::npos) << s.name << ": " << msg;
  EXPECT_EQ(msg.rfind("heap attach: ", 0), 0u) << msg;
  EXPECT_NE(msg.back(), '.');
}

INSTANTIATE_TEST_SUITE_P(Fields, AttachScribble,
                         ::testing::Range(0, static_cast<int>(scribbles().size())),
                         [](const auto& param_info) {
                           std::string n =
                               scribbles()[static_cast<std::size_t>(param_info.param)].name;
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(AttachRegion, MismatchedSectionsAreRefused) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  ASSERT_TRUE(Heap::format(r.region(), cfg));
  HeapRegion reg = r.region();
  reg.meta_size = 4096;
  EXPECT_EQ(Heap::attach(reg).error().code(), Errc::corrupted);
  reg = r.region();
  reg.data_size = 4096;
  EXPECT_EQ(Heap::attach(reg).error().code(), Errc::corrupted);
  reg = r.region();
  reg.meta_size = 64;
  EXPECT_EQ(Heap::attach(reg).error().code(), Errc::corrupted);
}

// Scribbles after attach: the operations that read the field refuse.
TEST(RuntimeScribble, OperationsRefuseCorruptedMetadata) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();

  r.pool(0).head.store(FreeList::pack(999, 5));
  auto a = h.allocate(64, 1);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Errc::corrupted);
  EXPECT_FALSE(a.error().retryable());
  r.pool(0).head.store(FreeList::pack(0, 5));

  const ChunkRef ref = h.allocate(64, 1).value();

  // A live chunk with zero references cannot be released or shared.
  const std::uint64_t c = r.chunk(ref.id).control.load();
  r.chunk(ref.id).control.store(control::with_refs(c, 0));
  EXPECT_EQ(h.release(ref, 1).error().code(), Errc::corrupted);
  EXPECT_EQ(h.add_ref(ref).error().code(), Errc::corrupted);
  r.chunk(ref.id).control.store(c);

  // A TLSF block whose descriptor moved under a live reference.
  const ChunkRef t = h.allocate(10000, 1).value();
  r.chunk(t.id).offset.store(t.offset + 64);
  EXPECT_EQ(h.resolve(t).error().code(), Errc::bad_chunk);
  r.chunk(t.id).offset.store(t.offset);
  r.chunk(t.id).size.store(64 * MiB);
  EXPECT_EQ(h.resolve(t).error().code(), Errc::corrupted);
  r.chunk(t.id).size.store(10048);
  EXPECT_TRUE(h.resolve(t));
  EXPECT_GE(h.stats().corruption_events, 3u);
}

// A listed chunk that is live (a double push): the pop refuses it.
TEST(RuntimeScribble, LiveChunkOnFreeListIsRefused) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  const ChunkRef live = h.allocate(64, 1).value();
  auto node = [&](std::uint32_t i) -> layout::ChunkMeta& { return r.chunk(i); };
  ASSERT_TRUE(FreeList::push(r.pool(0).head, node, live.id, 64));
  auto again = h.allocate(64, 2);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Errc::corrupted);
  EXPECT_TRUE(h.resolve(live)) << "the holder keeps its chunk";
  auto audit = h.audit(false).value();
  EXPECT_TRUE(audit.clean()) << "the bad entry left the list with the refused pop";
}

// ---- the pool crash windows ----

// A process killed after popping a chunk and before writing its control
// word: the chunk is free but on no list.
TEST(PoolAudit, ChunkLostBetweenPopAndClaimIsRelisted) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  auto node = [&](std::uint32_t i) -> layout::ChunkMeta& { return r.chunk(i); };
  const auto popped = FreeList::pop(r.pool(0).head, node, 64);
  ASSERT_EQ(popped.status, FreeList::Status::ok);
  // ... and the process is gone. 63 chunks remain allocatable.
  std::vector<ChunkRef> refs;
  for (int i = 0; i < 63; ++i) refs.push_back(h.allocate(64, 1, AllocPolicy::pool_only).value());
  EXPECT_FALSE(h.allocate(64, 1, AllocPolicy::pool_only));
  EXPECT_EQ(h.stats().pools[0].in_use, 64u) << "the lost chunk counts as in use";
  for (auto& ref : refs) ASSERT_TRUE(h.release(ref, 1).value());

  auto audit = h.audit(false).value();
  EXPECT_EQ(audit.lost_chunks, 1u);
  EXPECT_FALSE(audit.clean());
  EXPECT_FALSE(audit.pools_rebuilt);
  audit = h.audit(true).value();
  EXPECT_EQ(audit.lost_chunks, 1u);
  EXPECT_TRUE(audit.pools_rebuilt);
  EXPECT_TRUE(h.audit(false)->clean());
  EXPECT_EQ(h.stats().pools[0].in_use, 0u);
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(h.allocate(64, 1, AllocPolicy::pool_only)) << i;
  EXPECT_EQ(h.stats().pools[0].in_use, 64u);
}

// A process killed after its release CAS (control word free) and before
// the push: same state, same repair; a live chunk keeps its place.
TEST(PoolAudit, ChunkLostBetweenReleaseAndPushIsRelisted) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  const ChunkRef keep = h.allocate(200, 1).value();
  const std::uint32_t first = r.pool(1).first_id;
  const auto popped = FreeList::pop(
      r.pool(1).head, [&](std::uint32_t i) -> layout::ChunkMeta& { return r.chunk(first + i); },
      32);
  ASSERT_EQ(popped.status, FreeList::Status::ok);
  auto& m = r.chunk(first + popped.index);
  m.control.store(control::make(ChunkState::loaned, 4, 1, 1));
  // Release CAS done, push never happened:
  m.control.store(control::make(ChunkState::free, kNoPeer, 0, 1));
  auto audit = h.audit(true).value();
  EXPECT_EQ(audit.lost_chunks, 1u);
  EXPECT_TRUE(h.audit(false)->clean());
  EXPECT_EQ(h.stats().pools[1].in_use, 1u);  // `keep`
  EXPECT_TRUE(h.resolve(keep));
  std::vector<ChunkRef> refs;
  for (int i = 0; i < 31; ++i) refs.push_back(h.allocate(200, 1, AllocPolicy::pool_only).value());
  EXPECT_FALSE(h.allocate(200, 1, AllocPolicy::pool_only));
  for (const auto& ref : refs) EXPECT_NE(ref.id, keep.id);
}

TEST(PoolAudit, WrongDepthIsReportedAndRebuilt) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  r.chunk(0).depth.store(1000);  // the top: in use would read as 0
  EXPECT_EQ(h.stats().pools[0].in_use, 0u) << "clamped, never negative";
  auto audit = h.audit(false).value();
  EXPECT_FALSE(audit.clean());
  audit = h.audit(true).value();
  EXPECT_TRUE(audit.pools_rebuilt);
  EXPECT_TRUE(h.audit(false)->clean());
  const ChunkRef a = h.allocate(64, 1).value();
  EXPECT_EQ(h.stats().pools[0].in_use, 1u);
  EXPECT_TRUE(h.release(a, 1).value());
  EXPECT_EQ(h.stats().pools[0].in_use, 0u);
}

TEST(PoolAudit, CyclicListIsReportedAndRebuilt) {
  const HeapConfig cfg = small_config();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  r.chunk(5).next.store(2);  // 0 -> 1 -> 2 -> 3 -> 4 -> 5 -> 2 ...
  auto audit = h.audit(false).value();
  EXPECT_EQ(audit.bad_links, 1u);
  EXPECT_GT(audit.lost_chunks, 0u);
  audit = h.audit(true).value();
  EXPECT_TRUE(audit.pools_rebuilt);
  EXPECT_TRUE(h.audit(false)->clean());
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(h.allocate(64, 1, AllocPolicy::pool_only)) << i;
}

}  // namespace
}  // namespace sluice::alloc
