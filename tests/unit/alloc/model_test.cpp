// Model-based randomized test: long random sequences of allocate / add_ref
// / publish / release of random sizes, checked after every step against a
// simple model (a map of live chunks): no two live chunks overlap, every
// chunk lies inside its region, alignment, capacity >= request, contents
// survive (a pattern written at allocation is intact at release), stale
// references are refused, per-pool and TLSF counters match the model, and
// a request that the model says must fit does fit. At the end everything is
// released and every counter is back to its initial value.

#include "heap_fixture.hpp"

#include <sluice/alloc/heap.hpp>
#include <sluice/alloc/tlsf_bins.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <vector>

namespace sluice::alloc {
namespace {

using test::SharedRegion;

struct Live {
  ChunkRef ref;
  std::uint64_t request;
  std::uint64_t capacity;
  std::uint32_t refs;
  std::uint32_t pool;
  std::uint64_t seed;
};

std::uint64_t test_seed() {
  if (const char* s = std::getenv("SLUICE_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return 20240611;
}

class Model {
 public:
  Model(Heap& h, const SharedRegion& r, std::uint64_t seed) : h_(h), r_(r), rng_(seed) {
    initial_ = h.stats();
  }

  std::uint64_t random_size() {
    const std::uint32_t kind = pick(100);
    if (kind < 55) return 1 + pick(300);       // small messages
    if (kind < 80) return 1 + pick(5000);      // around the 4 KiB class
    if (kind < 95) return 4097 + pick(60000);  // TLSF, medium
    return 60000 + pick(200000);               // TLSF, large
  }

  void allocate() {
    const std::uint64_t size = random_size();
    const HeapStats before = h_.stats();
    auto ref = h_.allocate(size, static_cast<PeerIndex>(pick(4)));
    if (!ref) {
      ASSERT_EQ(ref.error().code(), Errc::out_of_memory) << ref.error().what();
      // The model's guarantees: a class with a free chunk serves any request
      // it fits; TLSF serves a request whose search bin is at or below the
      // bin of its largest free block.
      for (const auto& p : before.pools)
        if (p.chunk_size >= size) {
          ASSERT_EQ(p.in_use, p.capacity) << "class " << p.chunk_size << " had room for " << size;
          break;
        }
      const std::uint64_t req = align_up(size < 64 ? 64 : size, 64);
      if (before.tlsf.largest_free >= req) {
        const tlsf::Bin want = tlsf::search_bin(req);
        const tlsf::Bin have = tlsf::insert_bin(before.tlsf.largest_free);
        ASSERT_TRUE(have.fl < want.fl || (have.fl == want.fl && have.sl < want.sl))
            << "tlsf had a " << before.tlsf.largest_free << "-byte block for " << size;
      }
      ++failures_;
      return;
    }
    auto view = h_.resolve(*ref);
    ASSERT_TRUE(view) << view.error().what();
    const auto info = h_.info(ref->id).value();
    Live l{*ref, size, view->size, 1, info.pool, next_seed_++};
    ASSERT_GE(l.capacity, size);
    ASSERT_EQ(ref->offset % 64, 0u);
    ASSERT_EQ(view->data, r_.base() + ref->offset);
    if (l.pool == kTlsfPool) {
      ASSERT_GE(ref->offset, h_.tlsf_offset());
      ASSERT_LE(ref->offset + l.capacity, h_.tlsf_offset() + h_.tlsf_bytes());
    } else {
      ASSERT_EQ(l.capacity, h_.class_chunk_size(l.pool));
      ASSERT_GE(ref->offset, h_.data_offset());
      ASSERT_LE(ref->offset + l.capacity, h_.data_offset() + h_.data_size());
      ASSERT_LT(ref->offset + l.capacity, h_.tlsf_offset() + 1)
          << "pool chunks precede the tlsf region";
    }
    // No overlap with any live chunk: neighbours in offset order.
    auto next = by_offset_.lower_bound(ref->offset);
    if (next != by_offset_.end()) {
      ASSERT_LE(ref->offset + l.capacity, next->first) << "overlaps the next chunk";
    }
    if (next != by_offset_.begin()) {
      auto prev = std::prev(next);
      ASSERT_LE(prev->first + live_[prev->second].capacity, ref->offset)
          << "overlaps the previous chunk";
    }
    test::fill_pattern(view->data, pattern_bytes(l), l.seed);
    by_offset_[ref->offset] = ref->id;
    live_[ref->id] = l;
  }

  void release_one() {
    if (live_.empty()) return;
    auto it = random_live();
    Live& l = it->second;
    auto view = h_.resolve(l.ref);
    ASSERT_TRUE(view) << view.error().what();
    ASSERT_TRUE(test::verify_pattern(view->data, pattern_bytes(l), l.seed))
        << "payload of chunk " << l.ref.id << " was overwritten";
    auto freed = h_.release(l.ref, static_cast<PeerIndex>(pick(4)));
    ASSERT_TRUE(freed) << freed.error().what();
    --l.refs;
    ASSERT_EQ(*freed, l.refs == 0);
    if (l.refs == 0) {
      stale_.push_back(l.ref);
      by_offset_.erase(l.ref.offset);
      live_.erase(it);
    }
  }

  void add_ref() {
    if (live_.empty()) return;
    Live& l = random_live()->second;
    if (l.refs >= 8) return;
    const std::uint32_t n = 1 + pick(3);
    ASSERT_TRUE(h_.add_ref(l.ref, n));
    l.refs += n;
  }

  void publish() {
    if (live_.empty()) return;
    Live& l = random_live()->second;
    auto r = h_.publish(l.ref);
    const auto st = h_.info(l.ref.id)->state;
    ASSERT_EQ(st, ChunkState::published);
    (void)r;  // ok the first time, invalid_argument when already published
  }

  void check_stale() {
    if (stale_.empty()) return;
    const ChunkRef& s = stale_[pick(static_cast<std::uint32_t>(stale_.size()))];
    auto v = h_.resolve(s);
    ASSERT_FALSE(v);
    ASSERT_EQ(v.error().code(), Errc::stale);
    ASSERT_EQ(h_.release(s, 0).error().code(), Errc::stale);
  }

  void check_counters() {
    const HeapStats s = h_.stats();
    std::vector<std::uint32_t> in_use(s.pools.size(), 0);
    std::uint64_t tlsf_used = 0;
    for (const auto& [id, l] : live_) {
      if (l.pool == kTlsfPool)
        tlsf_used += l.capacity;
      else
        ++in_use[l.pool];
    }
    for (std::size_t c = 0; c < s.pools.size(); ++c) {
      ASSERT_EQ(s.pools[c].in_use, in_use[c]) << "pool " << c;
      ASSERT_GE(s.pools[c].high_water, in_use[c]);
    }
    ASSERT_EQ(s.tlsf.free_bytes, s.tlsf.region_bytes - tlsf_used);
    std::size_t live = 0;
    h_.for_each_live_chunk([&](const ChunkInfo& i) {
      ++live;
      auto it = live_.find(i.ref.id);
      ASSERT_NE(it, live_.end());
      ASSERT_EQ(i.refs, it->second.refs);
      ASSERT_EQ(i.ref, it->second.ref);
    });
    ASSERT_EQ(live, live_.size());
    auto audit = h_.audit(false);
    ASSERT_TRUE(audit);
    ASSERT_TRUE(audit->clean()) << audit->problems.front();
  }

  void run(std::uint32_t steps) {
    for (std::uint32_t i = 0; i < steps; ++i) {
      const std::uint32_t op = pick(100);
      // Bias towards allocation while small, towards release when large,
      // so the heap swings between empty and exhausted.
      const std::uint32_t alloc_share = live_.size() < target_ ? 60 : 35;
      if (op < alloc_share)
        allocate();
      else if (op < alloc_share + 35)
        release_one();
      else if (op < alloc_share + 40)
        add_ref();
      else if (op < alloc_share + 43)
        publish();
      else
        check_stale();
      if (::testing::Test::HasFatalFailure()) {
        ADD_FAILURE() << "at step " << i;
        return;
      }
      if (i % 2000 == 0) {
        check_counters();
        target_ = 50 + pick(600);
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
  }

  void drain() {
    while (!live_.empty()) {
      release_one();
      if (::testing::Test::HasFatalFailure()) return;
    }
    check_counters();
    const HeapStats s = h_.stats();
    for (std::size_t c = 0; c < s.pools.size(); ++c) EXPECT_EQ(s.pools[c].in_use, 0u);
    EXPECT_EQ(s.tlsf.free_bytes, initial_.tlsf.free_bytes);
    EXPECT_EQ(s.tlsf.largest_free, initial_.tlsf.largest_free)
        << "free blocks coalesced back into one";
    EXPECT_EQ(s.tlsf.used_blocks, 1u);
    EXPECT_EQ(s.tlsf.free_blocks, 1u);
    EXPECT_EQ(s.corruption_events, 0u);
    EXPECT_EQ(s.tlsf.repairs, 0u);
  }

  [[nodiscard]] std::uint32_t failures() const { return failures_; }

 private:
  std::uint32_t pick(std::uint32_t n) {
    return std::uniform_int_distribution<std::uint32_t>(0, n - 1)(rng_);
  }
  std::map<std::uint32_t, Live>::iterator random_live() {
    auto it = live_.lower_bound(pick(h_.total_chunks()));
    return it == live_.end() ? live_.begin() : it;
  }
  static std::uint64_t pattern_bytes(const Live& l) {
    return l.request < 16384 ? l.request : 16384;
  }

  Heap& h_;
  const SharedRegion& r_;
  std::mt19937_64 rng_;
  HeapStats initial_;
  std::map<std::uint32_t, Live> live_;  // by chunk id
  std::map<std::uint64_t, std::uint32_t> by_offset_;
  std::vector<ChunkRef> stale_;
  std::uint64_t next_seed_ = 1;
  std::uint32_t failures_ = 0;
  std::size_t target_ = 200;
};

TEST(HeapModel, RandomSequencesAgainstModel) {
  HeapConfig cfg;
  cfg.classes = {{64, 128}, {256, 64}, {1024, 32}, {4096, 16}};
  cfg.tlsf_bytes = 4 * MiB;
  cfg.tlsf_max_blocks = 1024;
  SharedRegion r(cfg);
  Heap h = Heap::format(r.region(), cfg).value();
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed << " (SLUICE_TEST_SEED)");
  Model m(h, r, seed);
  m.run(200000);
  m.drain();
  // The run must have pushed the heap to exhaustion at times, or it did not
  // exercise the fallback and failure paths.
  EXPECT_GT(m.failures(), 0u);
  EXPECT_GT(h.stats().tlsf_fallbacks, 0u);
}

TEST(HeapModel, TlsfOnlyRandomSequences) {
  SharedRegion r(test::tlsf_only_config(2 * MiB, 64));
  Heap h = Heap::format(r.region(), test::tlsf_only_config(2 * MiB, 64)).value();
  Model m(h, r, test_seed() + 1);
  m.run(100000);
  m.drain();
}

}  // namespace
}  // namespace sluice::alloc
