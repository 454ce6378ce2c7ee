// TLSF: bin mapping, fragmentation patterns that must succeed, coalescing,
// descriptor exhaustion, repair after scribbles, and recovery after a lock
// holder dies at every step of a split or merge (forked children killed at
// exact points through the crash hook).

#include "heap_fixture.hpp"

#include <sluice/alloc/heap.hpp>
#include <sluice/alloc/tlsf_bins.hpp>
#include <sluice/base/internal/crash_point.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

namespace sluice::alloc {
namespace {

using test::SharedRegion;
using test::tlsf_only_config;

TEST(TlsfBins, MappingIsConsistent) {
  for (std::uint64_t s = 64; s < (std::uint64_t{1} << 22); s += 64) {
    const tlsf::Bin b = tlsf::insert_bin(s);
    ASSERT_LT(b.fl, tlsf::kFlCount);
    ASSERT_LT(b.sl, tlsf::kSlCount);
    ASSERT_LE(tlsf::bin_floor(b), s) << s;
    // The next bin starts above s.
    tlsf::Bin n = b.sl + 1 < tlsf::kSlCount ? tlsf::Bin{b.fl, b.sl + 1} : tlsf::Bin{b.fl + 1, 0};
    if (b.fl == 0 && b.sl + 1 == tlsf::kSlCount) n = {1, 0};
    ASSERT_GT(tlsf::bin_floor(n), s) << s;
    // Every block in the search bin or above holds the request.
    ASSERT_GE(tlsf::bin_floor(tlsf::search_bin(s)), s) << s;
  }
  for (std::uint32_t f = 10; f < 46; ++f) {
    const std::uint64_t s = std::uint64_t{1} << f;
    EXPECT_EQ(tlsf::bin_floor(tlsf::insert_bin(s)), s);
    EXPECT_LT(tlsf::search_bin(s + 1).fl, tlsf::kFlCount);
  }
}

class TlsfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    region_ = std::make_unique<SharedRegion>(cfg_);
    heap_ = Heap::format(region_->region(), cfg_).value();
  }
  void expect_whole() {
    const HeapStats s = heap_.stats();
    EXPECT_EQ(s.tlsf.free_bytes, cfg_.tlsf_bytes);
    EXPECT_EQ(s.tlsf.largest_free, cfg_.tlsf_bytes);
    EXPECT_EQ(s.tlsf.used_blocks, 1u);
    auto a = heap_.audit(false).value();
    EXPECT_TRUE(a.clean()) << a.problems.front();
  }
  void expect_clean() {
    auto a = heap_.audit(false).value();
    EXPECT_TRUE(a.clean()) << a.problems.front();
  }
  HeapConfig cfg_ = tlsf_only_config(1 * MiB, 256);
  std::unique_ptr<SharedRegion> region_;
  Heap heap_;
};

TEST_F(TlsfTest, HolesAreReusedAndCoalesce) {
  // Fill exactly with 16 blocks of 64 KiB, free every other one.
  std::vector<ChunkRef> refs;
  for (int i = 0; i < 16; ++i) refs.push_back(heap_.allocate(64 * KiB, 1).value());
  EXPECT_EQ(heap_.allocate(64, 1).error().code(), Errc::out_of_memory);
  for (std::size_t i = 0; i < 16; i += 2) ASSERT_TRUE(heap_.release(refs[i], 1).value());
  HeapStats s = heap_.stats();
  EXPECT_EQ(s.tlsf.free_bytes, 512 * KiB);
  EXPECT_EQ(s.tlsf.largest_free, 64 * KiB);
  // 128 KiB does not fit anywhere (fragmented), 64 KiB fits in every hole.
  EXPECT_EQ(heap_.allocate(128 * KiB, 1).error().code(), Errc::out_of_memory);
  std::vector<ChunkRef> again;
  for (int i = 0; i < 8; ++i) {
    auto r = heap_.allocate(64 * KiB, 1);
    ASSERT_TRUE(r) << i;
    again.push_back(*r);
  }
  for (auto& r : again) ASSERT_TRUE(heap_.release(r, 1).value());
  // Small requests split holes and everything merges back.
  std::vector<ChunkRef> small;
  for (int i = 0; i < 64; ++i) small.push_back(heap_.allocate(4000, 1).value());
  expect_clean();
  for (auto& r : small) ASSERT_TRUE(heap_.release(r, 1).value());
  for (std::size_t i = 1; i < 16; i += 2) ASSERT_TRUE(heap_.release(refs[i], 1).value());
  expect_whole();
}

TEST_F(TlsfTest, MergesWithBothNeighbours) {
  const ChunkRef a = heap_.allocate(1024, 1).value();
  const ChunkRef b = heap_.allocate(2048, 1).value();
  const ChunkRef c = heap_.allocate(3072, 1).value();
  const ChunkRef d = heap_.allocate(4000, 1).value();  // keeps c off the tail block
  ASSERT_TRUE(heap_.release(a, 1).value());
  ASSERT_TRUE(heap_.release(c, 1).value());
  EXPECT_EQ(heap_.stats().tlsf.used_blocks, 5u);
  ASSERT_TRUE(heap_.release(b, 1).value());  // a + b + c become one block
  const HeapStats s = heap_.stats();
  EXPECT_EQ(s.tlsf.used_blocks, 3u);
  EXPECT_EQ(s.tlsf.free_blocks, 2u);
  expect_clean();
  // The merged hole serves a request of a + b + c (6 KiB, a bin floor, so
  // good-fit search finds it rather than the tail).
  const ChunkRef big = heap_.allocate(1024 + 2048 + 3072, 1).value();
  EXPECT_EQ(big.offset, a.offset);
  ASSERT_TRUE(heap_.release(big, 1).value());
  ASSERT_TRUE(heap_.release(d, 1).value());
  expect_whole();
}

TEST_F(TlsfTest, LargePayloadWithDefaultConfig) {
  const HeapConfig cfg = HeapConfig::defaults();
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  std::vector<ChunkRef> big;
  for (int i = 0; i < 3; ++i) {
    auto ref = h.allocate(64 * MiB, 1);
    ASSERT_TRUE(ref) << ref.error().what();
    auto v = h.resolve(*ref).value();
    EXPECT_EQ(v.size, 64 * MiB);
    v.data[0] = std::byte{1};
    v.data[v.size - 1] = std::byte{2};
    big.push_back(*ref);
  }
  for (auto& ref : big) ASSERT_TRUE(h.release(ref, 1).value());
  EXPECT_EQ(h.stats().tlsf.largest_free, cfg.tlsf_bytes);
}

TEST(Tlsf, DescriptorExhaustionHandsOutWholeBlocks) {
  const HeapConfig cfg = tlsf_only_config(64 * KiB, 4);
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  std::vector<ChunkRef> refs;
  for (int i = 0; i < 3; ++i) refs.push_back(h.allocate(64, 1).value());
  // Four descriptors: three blocks + the rest. The next request takes the
  // rest whole, since no descriptor is left to split it.
  const ChunkRef last = h.allocate(64, 1).value();
  EXPECT_EQ(h.resolve(last)->size, 64 * KiB - 3 * 64);
  EXPECT_EQ(h.allocate(64, 1).error().code(), Errc::out_of_memory);
  ASSERT_TRUE(h.release(last, 1).value());
  for (auto& ref : refs) ASSERT_TRUE(h.release(ref, 1).value());
  EXPECT_EQ(h.stats().tlsf.largest_free, 64 * KiB);
  EXPECT_TRUE(h.audit(false)->clean());
}

TEST_F(TlsfTest, ClearedBinsAreFoundByAuditAndRepaired) {
  const ChunkRef a = heap_.allocate(10000, 1).value();
  auto& t = region_->tlsf();
  t.fl_bitmap = 0;
  std::memset(t.sl_bitmap, 0, sizeof t.sl_bitmap);
  EXPECT_EQ(heap_.allocate(10000, 1).error().code(), Errc::out_of_memory) << "the bins look empty";
  auto audit = heap_.audit(false).value();
  EXPECT_FALSE(audit.clean());
  audit = heap_.audit(true).value();
  EXPECT_TRUE(audit.tlsf_rebuilt);
  ASSERT_TRUE(heap_.allocate(10000, 1));
  EXPECT_TRUE(heap_.resolve(a));
  expect_clean();
}

TEST_F(TlsfTest, ScribbledFreeBlockIsDetectedAndRebuilt) {
  const ChunkRef a = heap_.allocate(10000, 1).value();
  // The free rest after `a` claims to extend past the region end.
  const std::uint32_t pool_chunks = region_->header().pool_chunks;
  std::uint32_t rest = 0;
  for (std::uint32_t d = 0; d < cfg_.tlsf_max_blocks; ++d)
    if (control::state(region_->chunk(pool_chunks + d).control.load()) == ChunkState::free)
      rest = d;
  region_->chunk(pool_chunks + rest).size.store(4 * MiB);
  auto b = heap_.allocate(20000, 1);
  ASSERT_TRUE(b) << b.error().what();
  EXPECT_EQ(heap_.stats().tlsf.repairs, 1u);
  EXPECT_EQ(b->offset, a.offset + 10048);
  expect_clean();
  ASSERT_TRUE(heap_.release(*b, 1).value());
  ASSERT_TRUE(heap_.release(a, 1).value());
  expect_whole();
}

TEST_F(TlsfTest, OverlappingLiveBlocksMarkTheRegionCorrupted) {
  const ChunkRef a = heap_.allocate(10000, 1).value();
  const ChunkRef b = heap_.allocate(10000, 1).value();
  // b claims to start inside a: no crash can produce that.
  region_->chunk(b.id).offset.store(a.offset + 64);
  region_->tlsf().fl_bitmap = 0;  // force the next allocation to look hard
  std::memset(region_->tlsf().sl_bitmap, 0, sizeof region_->tlsf().sl_bitmap);
  auto audit = heap_.audit(true);
  ASSERT_FALSE(audit);
  EXPECT_EQ(audit.error().code(), Errc::corrupted);
  EXPECT_NE(audit.error().what().find("overlap"), std::string::npos) << audit.error().what();
  EXPECT_TRUE(heap_.stats().tlsf.corrupted);
  EXPECT_EQ(heap_.allocate(100000, 1).error().code(), Errc::corrupted);
  EXPECT_GT(heap_.stats().corruption_events, 0u);
}

// ---- a lock holder dying in the middle of an operation ----

#if SLUICE_CRASH_POINTS  // the tests below stop a child at a named crash point

int run_child(const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

const char* g_target = nullptr;
void die_at(const char* point) {
  if (g_target && std::strcmp(point, g_target) == 0) ::_exit(42);
}

class TlsfCrash : public TlsfTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void TearDown() override { sluice::testing::set_crash_point_hook(nullptr); }
};

TEST_P(TlsfCrash, HolderDiesMidOperationAndNextHolderRepairs) {
  const std::string point = GetParam();
  // a, b, c allocated; a and c free; the child then either allocates
  // (split) or releases b (merge with both neighbours) and dies at `point`.
  const ChunkRef a = heap_.allocate(4096, 1).value();
  const ChunkRef b = heap_.allocate(8192, 1).value();
  const ChunkRef c = heap_.allocate(4096, 1).value();
  const ChunkRef keep = heap_.allocate(4096, 1).value();
  ASSERT_TRUE(heap_.release(a, 1).value());
  ASSERT_TRUE(heap_.release(c, 1).value());
  const bool split = point.rfind("tlsf.split", 0) == 0 || point == "tlsf.alloc.claimed";
  g_target = GetParam();
  const int status = run_child([&] {
    sluice::testing::set_crash_point_hook(&die_at);
    if (split)
      (void)heap_.allocate(100, 9);
    else
      (void)heap_.release(b, 9);
  });
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 42) << "the child did not reach " << point;

  // Next holder: the robust mutex reports the death, TLSF rebuilds.
  auto x = heap_.allocate(2000, 1);
  ASSERT_TRUE(x) << x.error().what();
  EXPECT_EQ(heap_.stats().tlsf.repairs, 1u);
  expect_clean();
  // What the child held: a half-made allocation (peer 9) or b (freed or
  // being freed). reclaim_peer(9) returns it either way.
  auto rep = heap_.reclaim_peer(9);
  ASSERT_TRUE(rep) << rep.error().what();
  if (split) {
    ASSERT_TRUE(heap_.release(b, 1).value());
  } else {
    // The child dropped b's only reference: b is freed, whatever the point.
    EXPECT_EQ(heap_.resolve(b).error().code(), Errc::stale);
  }
  ASSERT_TRUE(heap_.release(*x, 1).value());
  ASSERT_TRUE(heap_.release(keep, 1).value());
  expect_whole();
}

INSTANTIATE_TEST_SUITE_P(AllPoints, TlsfCrash,
                         ::testing::Values("tlsf.split.prepared", "tlsf.split.shrunk",
                                           "tlsf.alloc.claimed", "tlsf.free.marked",
                                           "tlsf.merge.next.unlinked", "tlsf.merge.prev.unlinked",
                                           "tlsf.free.merged"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (auto& ch : n)
                             if (ch == '.') ch = '_';
                           return n;
                         });

int g_ready_fd = -1;

// Child side: tells the parent it holds the TLSF lock, then stalls.
void stall_at_claim(const char* point) {
  if (std::strcmp(point, "tlsf.alloc.claimed") != 0) return;
  (void)!::write(g_ready_fd, "x", 1);
  for (;;) ::pause();
}

TEST(TlsfLock, StalledHolderGivesTimedOutThenDeathIsRecovered) {
  const HeapConfig cfg = tlsf_only_config(1 * MiB, 64);
  SharedRegion r(cfg);
  HeapOptions opt;
  opt.lock_timeout = std::chrono::milliseconds(50);
  Heap h = Heap::format(r.region(), cfg, opt).value();
  const ChunkRef pre = h.allocate(5000, 1).value();
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    g_ready_fd = pipefd[1];
    sluice::testing::set_crash_point_hook(&stall_at_claim);
    (void)h.allocate(100, 9);
    ::_exit(0);
  }
  char c;
  ASSERT_EQ(::read(pipefd[0], &c, 1), 1);
  auto r1 = h.allocate(100, 1);
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code(), Errc::timed_out);
  EXPECT_TRUE(r1.error().retryable());
  // Releasing a TLSF block while the lock is stuck: the reference is gone
  // at once, the block waits in `freeing` until a lock holder finishes it.
  EXPECT_TRUE(h.release(pre, 1).value());
  EXPECT_EQ(h.info(pre.id)->state, ChunkState::freeing);
  EXPECT_EQ(h.resolve(pre).error().code(), Errc::stale);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  auto r2 = h.allocate(100, 1);
  ASSERT_TRUE(r2) << r2.error().what();
  EXPECT_EQ(h.stats().tlsf.repairs, 1u);
  EXPECT_NE(h.info(pre.id)->state, ChunkState::freeing);
  ASSERT_TRUE(h.reclaim_peer(9));
  ASSERT_TRUE(h.release(*r2, 1).value());
  EXPECT_EQ(h.stats().tlsf.largest_free, 1 * MiB);
  auto audit = h.audit(false).value();
  EXPECT_TRUE(audit.clean()) << audit.problems.front();
  ::close(pipefd[0]);
  ::close(pipefd[1]);
}

#endif  // SLUICE_CRASH_POINTS

}  // namespace
}  // namespace sluice::alloc
