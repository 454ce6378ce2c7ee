// MPMC ring with 2 producers x 2 consumers (and 4 x 1, the many-to-one
// queue): every element arrives exactly once, untorn, and each consumer sees
// each producer's elements in the order they were pushed.

#include <sluice/base/atomic.hpp>
#include <sluice/base/units.hpp>
#include <sluice/ring/mpmc_ring.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ostream>
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

struct Item {
  std::uint32_t producer;
  std::uint32_t pad;
  std::uint64_t seq;
  std::uint64_t body[5];
  std::uint64_t check;

  static Item make(std::uint32_t p, std::uint64_t s) noexcept {
    Item it{};
    it.producer = p;
    it.seq = s;
    std::uint64_t x = (s + 1) * 0x9E3779B97F4A7C15ULL ^ p;
    for (auto& w : it.body) {
      x ^= x >> 31;
      x *= 0x94D049BB133111EBULL;
      w = x;
    }
    it.check = it.checksum();
    return it;
  }
  [[nodiscard]] std::uint64_t checksum() const noexcept {
    std::uint64_t c = seq * 31 + producer;
    for (auto w : body) c = (c ^ w) * 0x100000001B3ULL;
    return c;
  }
};
static_assert(sizeof(Item) == 64);

using Ring = MpmcRing<Item>;

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

struct Case {
  std::uint32_t producers;
  std::uint32_t consumers;
  std::uint64_t capacity;
  std::uint64_t per_producer;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.producers << " producers, " << c.consumers << " consumers, capacity " << c.capacity
      << ", " << c.per_producer << " items each";
}

class MpmcStress : public ::testing::TestWithParam<Case> {};

TEST_P(MpmcStress, ExactlyOnceInPerProducerOrder) {
  const Case c = GetParam();
  const std::uint64_t per = c.per_producer / kScale;
  const std::size_t bytes = Ring::required_size(c.capacity);
  auto* mem = static_cast<std::byte*>(std::aligned_alloc(kCacheLine, bytes));
  ASSERT_NE(mem, nullptr);
  ASSERT_TRUE(Ring::format(mem, bytes, c.capacity, {std::uint64_t{0} - 5000}));
  const auto start = std::chrono::steady_clock::now();
  std::atomic<bool> failed{false};
  std::atomic<std::uint64_t> consumed{0};
  const std::uint64_t total = per * c.producers;

  // seen[p][s] counts deliveries of element s of producer p; atomic because
  // any consumer may deliver it (relaxed: read after join).
  std::vector<std::unique_ptr<std::atomic<std::uint8_t>[]>> seen;
  for (std::uint32_t p = 0; p < c.producers; ++p) {
    seen.emplace_back(new std::atomic<std::uint8_t>[per]);
    for (std::uint64_t s = 0; s < per; ++s) seen[p][s].store(0, std::memory_order_relaxed);
  }
  std::atomic<std::uint64_t> torn{0};
  std::atomic<std::uint64_t> disorder{0};

  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < c.producers; ++p) {
    threads.emplace_back([&, p] {
      auto ring = Ring::attach(mem, bytes);  // each thread its own view, like a process
      if (!ring) {
        failed = true;
        return;
      }
      Backoff backoff;
      for (std::uint64_t s = 0; s < per && !failed.load(std::memory_order_relaxed);) {
        auto r = ring->try_push(Item::make(p, s));
        if (!r) {
          failed = true;
          return;
        }
        if (*r) {
          ++s;
          backoff.reset();
        } else {
          backoff.pause();
        }
        if ((s & 1023) == 0 && std::chrono::steady_clock::now() - start > kWatchdog) {
          failed = true;
          return;
        }
      }
    });
  }
  for (std::uint32_t k = 0; k < c.consumers; ++k) {
    threads.emplace_back([&] {
      auto ring = Ring::attach(mem, bytes);
      if (!ring) {
        failed = true;
        return;
      }
      std::vector<std::uint64_t> next(c.producers, 0);  // lowest seq still allowed per producer
      Backoff backoff;
      Item it{};
      while (consumed.load(std::memory_order_relaxed) < total &&
             !failed.load(std::memory_order_relaxed)) {
        auto r = ring->try_pop(it);
        if (!r) {
          failed = true;
          return;
        }
        if (!*r) {
          backoff.pause();
          if (std::chrono::steady_clock::now() - start > kWatchdog) failed = true;
          continue;
        }
        backoff.reset();
        consumed.fetch_add(1, std::memory_order_relaxed);
        if (it.check != it.checksum() || it.producer >= c.producers || it.seq >= per) {
          torn.fetch_add(1);
          continue;
        }
        if (it.seq < next[it.producer]) disorder.fetch_add(1);
        next[it.producer] = it.seq + 1;
        seen[it.producer][it.seq].fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_FALSE(failed.load()) << "an operation failed or the watchdog expired";
  EXPECT_EQ(consumed.load(), total);
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(disorder.load(), 0u);
  std::uint64_t wrong = 0;
  for (std::uint32_t p = 0; p < c.producers; ++p)
    for (std::uint64_t s = 0; s < per; ++s) wrong += seen[p][s].load() != 1;
  EXPECT_EQ(wrong, 0u) << "elements lost or duplicated";
  auto ring = Ring::attach(mem, bytes);
  ASSERT_TRUE(ring);
  Item extra{};
  EXPECT_FALSE(*ring->try_pop(extra));
  std::free(mem);
}

INSTANTIATE_TEST_SUITE_P(Cases, MpmcStress,
                         ::testing::Values(Case{2, 2, 64, 1'000'000}, Case{2, 2, 2, 200'000},
                                           Case{4, 1, 256, 500'000}),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           const Case& c = param_info.param;
                           return std::to_string(c.producers) + "x" + std::to_string(c.consumers) +
                                  "_cap" + std::to_string(c.capacity);
                         });

}  // namespace
}  // namespace sluice::ring
