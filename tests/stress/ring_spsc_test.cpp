// SPSC ring under two threads: millions of sequence-numbered, checksummed
// elements in plain mode (single and batch operations, several capacities,
// indices crossing 2^64) and in overwrite mode with exact accounting:
// every element pushed is received or evicted exactly once, none torn.

#include <sluice/base/atomic.hpp>
#include <sluice/base/units.hpp>
#include <sluice/ring/spsc_ring.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace sluice::ring {
namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr std::uint64_t kScale = 4;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr std::uint64_t kScale = 4;
#else
constexpr std::uint64_t kScale = 1;
#endif
#else
constexpr std::uint64_t kScale = 1;
#endif

constexpr auto kWatchdog = std::chrono::seconds(120);

std::atomic<std::uint64_t> g_made{0};       // elements built by a producer
std::atomic<std::uint64_t> g_defaulted{0};  // default-constructed (test buffers only)

// One cache line, like a Descriptor; a checksum over every word catches a
// torn copy. Constructions are counted: the ring copies bytes and must never
// construct elements itself.
struct Tracked {
  std::uint64_t seq;
  std::uint64_t words[6];
  std::uint64_t check;

  Tracked() noexcept : seq(0), words{}, check(0) {
    g_defaulted.fetch_add(1, std::memory_order_relaxed);
  }
  explicit Tracked(std::uint64_t s) noexcept : seq(s), words{}, check(0) {
    std::uint64_t x = s * 0x9E3779B97F4A7C15ULL + 1;
    for (auto& w : words) {
      x ^= x >> 29;
      x *= 0xBF58476D1CE4E5B9ULL;
      w = x;
    }
    check = checksum();
    g_made.fetch_add(1, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t checksum() const noexcept {
    std::uint64_t c = seq ^ 0xA5A5A5A5A5A5A5A5ULL;
    for (auto w : words) c = (c ^ w) * 0x100000001B3ULL;
    return c;
  }
  [[nodiscard]] bool intact() const noexcept { return check == checksum(); }
};
static_assert(std::is_trivially_copyable_v<Tracked>);
static_assert(sizeof(Tracked) == 64);

using Ring = SpscRing<Tracked>;

struct AlignedRegion {
  explicit AlignedRegion(std::size_t n)
      : bytes(n),
        mem(static_cast<std::byte*>(std::aligned_alloc(kCacheLine, align_up(n, kCacheLine)))) {}
  ~AlignedRegion() { std::free(mem); }
  AlignedRegion(const AlignedRegion&) = delete;
  AlignedRegion& operator=(const AlignedRegion&) = delete;
  std::size_t bytes;
  std::byte* mem;
};

class Backoff {
 public:
  void pause() {
    if (++spins_ < 64) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  void reset() { spins_ = 0; }

 private:
  int spins_ = 0;
};

bool expired(std::chrono::steady_clock::time_point start) {
  return std::chrono::steady_clock::now() - start > kWatchdog;
}

struct PlainCase {
  std::uint64_t capacity;
  std::uint64_t items;
  std::uint64_t initial_index;
  std::size_t max_batch;
};

void PrintTo(const PlainCase& c, std::ostream* os) {
  *os << "capacity " << c.capacity << ", " << c.items << " items, batch " << c.max_batch
      << ", start " << c.initial_index;
}

class SpscStressPlain : public ::testing::TestWithParam<PlainCase> {};

TEST_P(SpscStressPlain, EveryElementArrivesOnceInOrderUntorn) {
  const PlainCase pc = GetParam();
  const std::uint64_t n = pc.items / kScale;
  AlignedRegion region(Ring::required_size(pc.capacity));
  ASSERT_TRUE(Ring::format(region.mem, region.bytes, pc.capacity, {false, pc.initial_index}));
  auto producer = Ring::Producer::attach(region.mem, region.bytes);
  auto consumer = Ring::Consumer::attach(region.mem, region.bytes);
  ASSERT_TRUE(producer && consumer);
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t made_before = g_made.load();
  std::atomic<bool> failed{false};

  std::thread prod([&] {
    std::mt19937 rng(1);
    std::vector<Tracked> batch;
    batch.reserve(pc.max_batch);
    Backoff backoff;
    std::uint64_t next = 0;
    while (next < n && !failed.load(std::memory_order_relaxed)) {
      const std::size_t want = pc.max_batch > 1 ? 1 + rng() % pc.max_batch : 1;
      if (want == 1) {
        auto r = producer->try_push(Tracked(next));
        if (!r) {
          failed = true;
          break;
        }
        if (*r) {
          ++next;
          backoff.reset();
        } else {
          g_made.fetch_sub(1);
          backoff.pause();
        }
        continue;
      }
      batch.clear();
      for (std::size_t i = 0; i < want && next + i < n; ++i) batch.emplace_back(next + i);
      auto r = producer->try_push_batch(batch);
      if (!r) {
        failed = true;
        break;
      }
      g_made.fetch_sub(batch.size() - *r);  // only what went in counts as made
      next += *r;
      if (*r == 0)
        backoff.pause();
      else
        backoff.reset();
      if (expired(start)) {
        failed = true;
        break;
      }
    }
  });

  std::uint64_t expect = 0;
  std::uint64_t torn = 0;
  std::uint64_t out_of_order = 0;
  std::mt19937 rng(2);
  const std::uint64_t defaulted_before = g_defaulted.load();
  std::vector<Tracked> out(pc.max_batch);
  const std::uint64_t buffers = g_defaulted.load() - defaulted_before;
  Tracked one;
  Backoff backoff;
  while (expect < n && !failed.load(std::memory_order_relaxed)) {
    std::size_t got = 0;
    if (pc.max_batch > 1 && rng() % 2 == 0) {
      auto r = consumer->try_pop_batch(std::span<Tracked>(out).first(1 + rng() % pc.max_batch));
      ASSERT_TRUE(r) << r.error().what();
      got = *r;
      for (std::size_t i = 0; i < got; ++i) {
        torn += !out[i].intact();
        out_of_order += out[i].seq != expect + i;
      }
    } else {
      auto r = consumer->try_pop(one);
      ASSERT_TRUE(r) << r.error().what();
      if (*r) {
        got = 1;
        torn += !one.intact();
        out_of_order += one.seq != expect;
      }
    }
    expect += got;
    if (got == 0)
      backoff.pause();
    else
      backoff.reset();
    if (expired(start)) failed = true;
  }
  prod.join();
  ASSERT_FALSE(failed.load()) << "producer failed or the watchdog expired";
  EXPECT_EQ(expect, n);
  EXPECT_EQ(torn, 0u);
  EXPECT_EQ(out_of_order, 0u);
  EXPECT_EQ(g_made.load() - made_before, n) << "made == pushed == received";
  EXPECT_EQ(g_defaulted.load() - defaulted_before, buffers + 1)
      << "the ring constructed elements of its own";
  Tracked extra;
  EXPECT_FALSE(*consumer->try_pop(extra));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SpscStressPlain,
    ::testing::Values(PlainCase{1024, 4'000'000, 0, 1}, PlainCase{1024, 4'000'000, 0, 32},
                      PlainCase{4, 300'000, 0, 3},
                      PlainCase{64, 2'000'000,
                                std::numeric_limits<std::uint64_t>::max() - 1'000'000, 16}),
    [](const ::testing::TestParamInfo<PlainCase>& param_info) {
      const PlainCase& pc = param_info.param;
      return "cap" + std::to_string(pc.capacity) + "_batch" + std::to_string(pc.max_batch) +
             (pc.initial_index != 0 ? "_wrap64" : "");
    });

struct OverwriteCase {
  std::uint64_t capacity;
  std::uint64_t items;
  std::size_t max_batch;
};

void PrintTo(const OverwriteCase& c, std::ostream* os) {
  *os << "capacity " << c.capacity << ", " << c.items << " items, batch " << c.max_batch;
}

class SpscStressOverwrite : public ::testing::TestWithParam<OverwriteCase> {};

TEST_P(SpscStressOverwrite, ReceivedPlusEvictedEqualsPushedExactly) {
  const OverwriteCase oc = GetParam();
  const std::uint64_t n = oc.items / kScale;
  AlignedRegion region(Ring::required_size(oc.capacity));
  ASSERT_TRUE(Ring::format(region.mem, region.bytes, oc.capacity, {true, 0}));
  auto producer = Ring::Producer::attach(region.mem, region.bytes);
  auto consumer = Ring::Consumer::attach(region.mem, region.bytes);
  ASSERT_TRUE(producer && consumer);
  const auto start = std::chrono::steady_clock::now();
  std::atomic<bool> done{false};
  std::atomic<bool> failed{false};
  // seen[i]: 1 received, 2 evicted; each slot written by one thread only
  // (received by the consumer, evicted by the producer), checked after join.
  std::vector<std::uint8_t> received_seen(n, 0);
  std::vector<std::uint8_t> evicted_seen(n, 0);
  std::uint64_t evicted = 0;
  std::uint64_t evicted_torn = 0;
  std::uint64_t evicted_order = 0;

  std::thread prod([&] {
    std::mt19937 rng(3);
    std::vector<Tracked> batch;
    std::vector<Tracked> ev(oc.max_batch);
    std::uint64_t last_evicted = 0;
    bool any_evicted = false;
    auto note = [&](const Tracked& e) {
      evicted_torn += !e.intact();
      if (e.seq < n) evicted_seen[e.seq]++;
      if (any_evicted && e.seq <= last_evicted) ++evicted_order;
      last_evicted = e.seq;
      any_evicted = true;
      ++evicted;
    };
    std::uint64_t next = 0;
    while (next < n) {
      const std::size_t want = oc.max_batch > 1 ? 1 + rng() % oc.max_batch : 1;
      if (want == 1) {
        Tracked e;
        auto r = producer->push_overwrite(Tracked(next), e);
        if (!r) {
          failed = true;
          break;
        }
        if (*r) note(e);
        ++next;
      } else {
        batch.clear();
        for (std::size_t i = 0; i < want && next + i < n; ++i) batch.emplace_back(next + i);
        auto r = producer->push_overwrite_batch(batch, ev);
        if (!r) {
          failed = true;
          break;
        }
        for (std::size_t i = 0; i < *r; ++i) note(ev[i]);
        next += batch.size();
      }
      // Now and then let the consumer catch up, so both "full" and "not
      // full" pushes happen.
      if (rng() % 64 == 0) std::this_thread::yield();
      if (expired(start)) {
        failed = true;
        break;
      }
    }
    done.store(true, std::memory_order_release);
  });

  std::uint64_t received = 0;
  std::uint64_t torn = 0;
  std::uint64_t order = 0;
  std::uint64_t last = 0;
  bool any = false;
  std::vector<Tracked> out(oc.max_batch);
  std::mt19937 rng(4);
  Backoff backoff;
  for (;;) {
    const bool finished = done.load(std::memory_order_acquire);
    auto r = consumer->try_pop_batch(std::span<Tracked>(out).first(1 + rng() % oc.max_batch));
    ASSERT_TRUE(r) << r.error().what();
    for (std::size_t i = 0; i < *r; ++i) {
      const Tracked& t = out[i];
      torn += !t.intact();
      if (t.seq < n) received_seen[t.seq]++;
      if (any && t.seq <= last) ++order;
      last = t.seq;
      any = true;
      ++received;
    }
    if (*r == 0) {
      if (finished) break;  // producer done and ring drained
      backoff.pause();
    } else {
      backoff.reset();
    }
    if (expired(start)) {
      failed = true;
      break;
    }
  }
  prod.join();
  ASSERT_FALSE(failed.load());
  EXPECT_EQ(torn, 0u);
  EXPECT_EQ(evicted_torn, 0u);
  EXPECT_EQ(order, 0u) << "received out of order";
  EXPECT_EQ(evicted_order, 0u) << "evicted out of order";
  EXPECT_EQ(received + evicted, n);
  std::uint64_t missing = 0;
  std::uint64_t twice = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const int k = received_seen[i] + evicted_seen[i];
    missing += k == 0;
    twice += k > 1;
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(twice, 0u);
  EXPECT_GT(evicted, 0u) << "the test should evict";
  EXPECT_GT(received, 0u);
  std::printf("overwrite capacity %llu: pushed %llu, received %llu, evicted %llu\n",
              static_cast<unsigned long long>(oc.capacity), static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(received), static_cast<unsigned long long>(evicted));
}

INSTANTIATE_TEST_SUITE_P(Cases, SpscStressOverwrite,
                         ::testing::Values(OverwriteCase{8, 2'000'000, 1},
                                           OverwriteCase{16, 2'000'000, 8},
                                           OverwriteCase{2, 1'000'000, 2}),
                         [](const ::testing::TestParamInfo<OverwriteCase>& param_info) {
                           return "cap" + std::to_string(param_info.param.capacity) + "_batch" +
                                  std::to_string(param_info.param.max_batch);
                         });

}  // namespace
}  // namespace sluice::ring
