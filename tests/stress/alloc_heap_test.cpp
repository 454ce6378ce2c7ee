// Thread stress of the heap (label tsan): exclusivity of pool chunks under
// heavy contention on a tiny pool (the ABA-prone case), hand-over with
// fan-out between threads through SPSC rings of ChunkRefs, and concurrent
// TLSF traffic. Every chunk carries a pattern derived from (id, generation)
// that its receiver verifies; at the end every counter is back to zero.

#include <sluice/alloc/heap.hpp>

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#if defined(__SANITIZE_THREAD__)
#define SLUICE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SLUICE_TSAN 1
#endif
#endif
#ifndef SLUICE_TSAN
#define SLUICE_TSAN 0
#endif

namespace sluice::alloc {
namespace {

// Work per test: large enough to interleave a lot, small enough for TSan
// (< 30 s per binary on 2 cores).
constexpr std::uint32_t kScale = SLUICE_TSAN ? 1 : 8;

class Region {
 public:
  explicit Region(const HeapConfig& cfg) {
    const std::uint64_t meta = align_up(Heap::metadata_bytes(cfg).value(), kPageSize);
    const std::uint64_t data = Heap::data_bytes(cfg).value();
    r_ = {nullptr, meta + data, 0, meta, meta, data};
    void* p = ::mmap(nullptr, r_.segment_size, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap");
    r_.base = static_cast<std::byte*>(p);
    heap_ = Heap::format(r_, cfg).value();
  }
  ~Region() { ::munmap(r_.base, r_.segment_size); }
  Heap& heap() { return heap_; }

 private:
  HeapRegion r_{};
  Heap heap_;
};

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

// Pattern over the first and last min(size/2, 256) bytes of the chunk: enough to
// catch two holders of one chunk, cheap enough for large blocks.
void stamp(const ChunkView& v, const ChunkRef& r) {
  const std::uint64_t seed = mix((std::uint64_t{r.id} << 32) | r.generation);
  const std::uint64_t n = (v.size / 2 < 256 ? v.size / 2 : 256) & ~std::uint64_t{7};
  for (std::uint64_t i = 0; i + 8 <= n; i += 8) {
    const std::uint64_t w = seed + i;
    std::memcpy(v.data + i, &w, 8);
    std::memcpy(v.data + v.size - n + i, &w, 8);
  }
}
bool check(const ChunkView& v, const ChunkRef& r) {
  const std::uint64_t seed = mix((std::uint64_t{r.id} << 32) | r.generation);
  const std::uint64_t n = (v.size / 2 < 256 ? v.size / 2 : 256) & ~std::uint64_t{7};
  for (std::uint64_t i = 0; i + 8 <= n; i += 8) {
    std::uint64_t a, b;
    std::memcpy(&a, v.data + i, 8);
    std::memcpy(&b, v.data + v.size - n + i, 8);
    if (a != seed + i || b != seed + i) return false;
  }
  return true;
}

void expect_all_returned(Heap& h) {
  const HeapStats s = h.stats();
  for (const auto& p : s.pools) {
    EXPECT_EQ(p.in_use, 0u) << "pool " << p.index;
    EXPECT_EQ(p.lost, 0u);
  }
  EXPECT_EQ(s.tlsf.free_bytes, s.tlsf.region_bytes);
  EXPECT_EQ(s.tlsf.largest_free, s.tlsf.region_bytes);
  EXPECT_EQ(s.corruption_events, 0u);
  auto a = h.audit(false);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->clean()) << a->problems.front();
}

// Eight chunks, four threads: every pop races, free-list heads are reused
// constantly. A side table proves no chunk is ever held twice.
TEST(AllocStress, PoolChunksAreExclusiveUnderContention) {
  HeapConfig cfg;
  cfg.classes = {{64, 8}};
  Region region(cfg);
  Heap& h = region.heap();
  std::array<std::atomic<int>, 8> holder{};
  std::atomic<bool> failed{false};
  std::atomic<std::uint64_t> done{0}, empty{0};
  auto worker = [&](int tid) {
    for (std::uint32_t i = 0; i < 40000 * kScale && !failed.load(std::memory_order_relaxed); ++i) {
      auto ref = h.allocate(48, static_cast<PeerIndex>(tid));
      if (!ref) {
        if (ref.error().code() != Errc::out_of_memory) failed = true;
        empty.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      const std::uint32_t idx = ref->id;
      if (idx >= 8 || holder[idx].exchange(tid + 1, std::memory_order_acq_rel) != 0) failed = true;
      auto v = h.resolve(*ref);
      if (!v) {
        failed = true;
        continue;
      }
      std::memset(v->data, tid, 64);
      for (int k = 0; k < 64; ++k)
        if (std::to_integer<int>(v->data[k]) != tid) failed = true;
      holder[idx].store(0, std::memory_order_release);
      if (!h.release(*ref, static_cast<PeerIndex>(tid)).value_or(false)) failed = true;
      done.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t <= 4; ++t) threads.emplace_back(worker, t);
  for (auto& t : threads) t.join();
  EXPECT_FALSE(failed.load());
  EXPECT_GT(done.load(), 0u);
  expect_all_returned(h);
  EXPECT_LE(h.stats().pools[0].high_water, 8u);
}

// SPSC ring of ChunkRefs between two threads (the channel layer's job in
// real use; here just enough to hand chunks over with release/acquire).
struct RefRing {
  static constexpr std::uint64_t kSlots = 256;
  std::array<ChunkRef, kSlots> slots{};
  alignas(64) std::atomic<std::uint64_t> head{0};
  alignas(64) std::atomic<std::uint64_t> tail{0};
  bool push(const ChunkRef& r) {
    const std::uint64_t t = tail.load(std::memory_order_relaxed);
    if (t - head.load(std::memory_order_acquire) == kSlots) return false;
    slots[t % kSlots] = r;
    tail.store(t + 1, std::memory_order_release);
    return true;
  }
  bool pop(ChunkRef& r) {
    const std::uint64_t h = head.load(std::memory_order_relaxed);
    if (h == tail.load(std::memory_order_acquire)) return false;
    r = slots[h % kSlots];
    head.store(h + 1, std::memory_order_release);
    return true;
  }
};

TEST(AllocStress, HandOverWithFanOutBetweenThreads) {
  HeapConfig cfg;
  cfg.classes = {{64, 512}, {256, 512}, {1024, 256}, {4096, 64}};
  cfg.tlsf_bytes = 8 * MiB;
  cfg.tlsf_max_blocks = 1024;
  Region region(cfg);
  Heap& h = region.heap();
  constexpr int kThreads = 4;
  std::vector<std::unique_ptr<RefRing>> rings;  // rings[from * kThreads + to]
  for (int i = 0; i < kThreads * kThreads; ++i) rings.push_back(std::make_unique<RefRing>());
  std::atomic<int> senders_done{0};
  std::atomic<std::uint64_t> bad{0}, sent{0}, received{0}, oom{0};
  const std::uint32_t per_thread = 20000 * kScale;

  auto worker = [&](int me) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(me) * 7919);
    const auto peer = static_cast<PeerIndex>(me);
    std::uint32_t produced = 0;
    auto drain = [&] {
      bool any = false;
      for (int from = 0; from < kThreads; ++from) {
        ChunkRef r;
        while (rings[static_cast<std::size_t>(from * kThreads + me)]->pop(r)) {
          any = true;
          auto v = h.resolve(r);
          if (!v || !check(*v, r)) bad.fetch_add(1);
          if (!h.release(r, peer)) bad.fetch_add(1);
          received.fetch_add(1, std::memory_order_relaxed);
        }
      }
      return any;
    };
    while (produced < per_thread) {
      const std::uint64_t roll = rng() % 100;
      const std::uint64_t size = roll < 70   ? 1 + rng() % 1024
                                 : roll < 95 ? 1 + rng() % 4096
                                             : 4097 + rng() % 200000;
      auto ref = h.allocate(size, peer);
      if (!ref) {
        if (ref.error().code() != Errc::out_of_memory) bad.fetch_add(1);
        oom.fetch_add(1, std::memory_order_relaxed);
        drain();
        continue;
      }
      auto v = h.resolve(*ref);
      if (!v) {
        bad.fetch_add(1);
        continue;
      }
      stamp(*v, *ref);
      if (!h.publish(*ref)) bad.fetch_add(1);
      const int to1 = (me + 1 + static_cast<int>(rng() % (kThreads - 1))) % kThreads;
      const bool fan_out = rng() % 4 == 0;
      const int to2 = (to1 + 1) % kThreads == me ? (to1 + 2) % kThreads : (to1 + 1) % kThreads;
      if (fan_out && !h.add_ref(*ref)) bad.fetch_add(1);
      // The sender's own reference travels with the first copy.
      while (!rings[static_cast<std::size_t>(me * kThreads + to1)]->push(*ref)) drain();
      sent.fetch_add(1, std::memory_order_relaxed);
      if (fan_out) {
        while (!rings[static_cast<std::size_t>(me * kThreads + to2)]->push(*ref)) drain();
        sent.fetch_add(1, std::memory_order_relaxed);
      }
      ++produced;
      if (produced % 64 == 0) drain();
    }
    senders_done.fetch_add(1, std::memory_order_acq_rel);
    while (senders_done.load(std::memory_order_acquire) < kThreads) {
      if (!drain()) std::this_thread::yield();
    }
    drain();
  };
  // A reader of counters and metadata alongside (inspect does this).
  std::atomic<bool> stop{false};
  std::thread inspector([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      const HeapStats s = h.stats();
      if (s.pools.size() != 4) bad.fetch_add(1);
      std::size_t live = 0;
      h.for_each_live_chunk([&](const ChunkInfo&) { ++live; });
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& t : threads) t.join();
  stop = true;
  inspector.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(sent.load(), received.load());
  EXPECT_GE(sent.load(), std::uint64_t{per_thread} * kThreads);
  expect_all_returned(h);
}

TEST(AllocStress, ConcurrentTlsf) {
  HeapConfig cfg;
  cfg.tlsf_bytes = 4 * MiB;
  cfg.tlsf_max_blocks = 512;
  Region region(cfg);
  Heap& h = region.heap();
  std::atomic<std::uint64_t> bad{0}, oom{0};
  auto worker = [&](int me) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(me) + 11);
    std::vector<ChunkRef> mine;
    for (std::uint32_t i = 0; i < 5000 * kScale; ++i) {
      if (mine.size() < 40 && rng() % 3 != 0) {
        auto ref = h.allocate(64 + rng() % 100000, static_cast<PeerIndex>(me));
        if (!ref) {
          if (ref.error().code() != Errc::out_of_memory) bad.fetch_add(1);
          oom.fetch_add(1);
          continue;
        }
        auto v = h.resolve(*ref);
        if (!v) {
          bad.fetch_add(1);
          continue;
        }
        stamp(*v, *ref);
        mine.push_back(*ref);
      } else if (!mine.empty()) {
        const std::size_t k = rng() % mine.size();
        auto v = h.resolve(mine[k]);
        if (!v || !check(*v, mine[k])) bad.fetch_add(1);
        if (!h.release(mine[k], static_cast<PeerIndex>(me)).value_or(false)) bad.fetch_add(1);
        mine[k] = mine.back();
        mine.pop_back();
      }
    }
    for (const auto& r : mine) {
      auto v = h.resolve(r);
      if (!v || !check(*v, r)) bad.fetch_add(1);
      if (!h.release(r, static_cast<PeerIndex>(me)).value_or(false)) bad.fetch_add(1);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) threads.emplace_back(worker, t);
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(h.stats().tlsf.repairs, 0u);
  expect_all_returned(h);
}

}  // namespace
}  // namespace sluice::alloc
