// Channels between threads of one process (the same code paths as between
// processes, visible to ThreadSanitizer): lossless block policy with futex
// wake-ups, exact overrun accounting under overwrite, many-sender queues.
#include <sluice/channel/channel.hpp>

#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kSizes[] = {8, 32, 48, 600, 5000};

std::uint64_t messages() {
#if defined(__SANITIZE_THREAD__)
  return 20000;
#else
  return 100000;
#endif
}

std::uint64_t word(std::uint64_t seq, std::size_t i) {
  return (seq * 0x9e3779b97f4a7c15ULL) ^ (i * 31);
}

void fill(std::byte* p, std::size_t size, std::uint64_t seq) {
  std::memcpy(p, &seq, 8);
  for (std::size_t i = 8; i + 8 <= size; i += 8) {
    const std::uint64_t w = word(seq, i);
    std::memcpy(p + i, &w, 8);
  }
}

bool verify(const Sample& s, std::uint64_t* seq) {
  if (s.size() < 8) return false;
  std::memcpy(seq, s.data(), 8);
  if (s.size() != kSizes[*seq % std::size(kSizes)]) return false;
  for (std::size_t i = 8; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (w != word(*seq, i)) return false;
  }
  return true;
}

class ChannelThreads : public ::testing::Test {
 protected:
  void SetUp() override {
    DomainOptions o;
    o.heap = alloc::HeapConfig::scaled(0.05, 32 * MiB);
    auto d = Domain::create(name_.str(), o);
    ASSERT_TRUE(d) << d.error().what();
    domain_ = std::move(d).value();
  }
  std::uint32_t live_chunks() const {
    std::uint32_t n = 0;
    domain_->heap().for_each_live_chunk([&n](const alloc::ChunkInfo&) { ++n; });
    return n;
  }
  test::ScopedShmName name_{"thr"};
  std::optional<Domain> domain_;
};

TEST_F(ChannelThreads, BlockPolicyFanOutIsLossless) {
  ChannelOptions o;
  o.capacity = 64;
  o.publish_timeout = 30s;
  auto pub = BytePublisher::create(*domain_, "c", o);
  ASSERT_TRUE(pub);
  const std::uint64_t n = messages();
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  std::atomic<int> ready{0};
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      auto sub = ByteSubscriber::create(*domain_, "c", {}, o);
      if (!sub) {
        failures++;
        ready++;
        return;
      }
      ready++;
      for (std::uint64_t expect = 0; expect < n; ++expect) {
        auto s = sub->receive_for(30s);
        std::uint64_t seq = 0;
        if (!s || !verify(*s, &seq) || seq != expect) {
          failures++;
          return;
        }
      }
    });
  }
  while (ready.load() < 2) std::this_thread::yield();
  for (std::uint64_t seq = 0; seq < n; ++seq) {
    const std::size_t size = kSizes[seq % std::size(kSizes)];
    auto l = pub->loan(size);
    ASSERT_TRUE(l);
    fill(l->data(), size, seq);
    ASSERT_TRUE(pub->publish(std::move(*l)));
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(live_chunks(), 1u);  // the control block
}

// Samples are released on threads other than the subscriber's, while the
// subscriber keeps receiving: the held table's free list is shared, so every
// record must come back exactly once (max_held small, so a lost record shows
// as table_full and a duplicated one as a corrupted table), and nothing leaks.
TEST_F(ChannelThreads, SamplesReleasedOnOtherThreadsWhileReceiving) {
  ChannelOptions o;
  o.capacity = 64;
  o.max_held = 8;
  o.publish_timeout = 30s;
  auto pub = BytePublisher::create(*domain_, "xr", o);
  ASSERT_TRUE(pub);
  const std::uint64_t n = messages() / 2;
  constexpr int kReleasers = 3;
  std::mutex mu;
  std::vector<Sample> handed;  // samples waiting for a releaser
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<std::uint64_t> released{0};
  std::vector<std::thread> releasers;
  releasers.reserve(kReleasers);
  for (int r = 0; r < kReleasers; ++r) {
    releasers.emplace_back([&] {
      for (;;) {
        Sample s;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!handed.empty()) {
            s = std::move(handed.back());
            handed.pop_back();
          } else if (done.load()) {
            return;
          }
        }
        if (s.data() != nullptr) {
          std::uint64_t seq = 0;
          if (!verify(s, &seq)) failures++;
          s.release();  // on this thread, not the subscriber's
          released++;
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  std::optional<ByteSubscriber> sub;
  {
    auto made = ByteSubscriber::create(*domain_, "xr", {}, o);
    ASSERT_TRUE(made) << made.error().what();
    sub = std::move(*made);
  }
  std::thread writer([&] {
    for (std::uint64_t seq = 0; seq < n; ++seq) {
      const std::size_t size = kSizes[seq % std::size(kSizes)];
      auto l = pub->loan(size);
      if (!l) {
        failures++;
        return;
      }
      fill(l->data(), size, seq);
      if (!pub->publish(std::move(*l))) {
        failures++;
        return;
      }
    }
  });
  std::uint64_t received = 0;
  while (received < n && failures.load() == 0) {
    auto s = sub->receive_for(30s);
    if (!s && s.error().code() == Errc::table_full) {  // releasers are behind
      std::this_thread::yield();
      continue;
    }
    std::uint64_t seq = 0;
    if (!s || !verify(*s, &seq) || seq != received) {
      failures++;
      break;
    }
    ++received;
    std::lock_guard<std::mutex> lock(mu);
    handed.push_back(std::move(*s));
  }
  writer.join();
  // The subscriber object goes first: samples still out keep its state alive
  // and the last one released (on a releaser thread) closes it.
  sub.reset();
  done = true;
  for (auto& t : releasers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(received, n);
  EXPECT_EQ(live_chunks(), 1u);  // the control block
}

TEST_F(ChannelThreads, OverwriteAccountsForEveryMessage) {
  ChannelOptions o;
  o.capacity = 16;
  o.policy = channel::FullPolicy::overwrite;
  auto pub = BytePublisher::create(*domain_, "ow", o);
  auto sub = ByteSubscriber::create(*domain_, "ow", {}, o);
  ASSERT_TRUE(pub && sub);
  const std::uint64_t n = messages();
  std::atomic<bool> bad{false};
  std::uint64_t received = 0;
  std::thread reader([&] {
    std::uint64_t last = 0;
    bool first = true;
    for (;;) {
      auto s = sub->receive_for(5s);
      if (!s) {
        bad = true;
        return;
      }
      std::uint64_t seq = 0;
      if (!verify(*s, &seq) || (!first && seq <= last)) {
        bad = true;
        return;
      }
      first = false;
      last = seq;
      ++received;
      if (seq == n - 1) return;
    }
  });
  for (std::uint64_t seq = 0; seq < n; ++seq) {
    const std::size_t size = kSizes[seq % std::size(kSizes)];
    auto l = pub->loan(size);
    ASSERT_TRUE(l);
    fill(l->data(), size, seq);
    ASSERT_TRUE(pub->publish(std::move(*l)));
  }
  reader.join();
  EXPECT_FALSE(bad.load());
  EXPECT_EQ(received + sub->stats().dropped, n);
  EXPECT_EQ(live_chunks(), 1u);
}

TEST_F(ChannelThreads, QueueWithThreeSenders) {
  ChannelOptions o;
  o.capacity = 32;
  o.publish_timeout = 30s;
  const std::uint64_t per = messages() / 3;
  auto rx = QueueReceiver::create(*domain_, "q", o);
  ASSERT_TRUE(rx);
  std::vector<std::thread> senders;
  std::atomic<int> failures{0};
  for (std::uint64_t t = 0; t < 3; ++t) {
    senders.emplace_back([&, t] {
      auto tx = QueueSender::create(*domain_, "q", o);
      if (!tx) {
        failures++;
        return;
      }
      for (std::uint64_t k = 0; k < per; ++k) {
        const std::uint64_t seq = t * per + k;
        const std::size_t size = kSizes[seq % std::size(kSizes)];
        auto l = tx->loan(size);
        if (!l) {
          failures++;
          return;
        }
        fill(l->data(), size, seq);
        if (!tx->send(std::move(*l))) {
          failures++;
          return;
        }
      }
    });
  }
  std::vector<std::uint64_t> next(3, 0);
  for (std::uint64_t k = 0; k < 3 * per; ++k) {
    auto s = rx->receive_for(30s);
    ASSERT_TRUE(s) << s.error().what();
    std::uint64_t seq = 0;
    ASSERT_TRUE(verify(*s, &seq));
    const std::uint64_t sender = seq / per;
    ASSERT_LT(sender, 3u);
    ASSERT_EQ(seq % per, next[sender]) << "per-sender order";
    ++next[sender];
  }
  for (auto& t : senders) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(live_chunks(), 1u);
}

}  // namespace
}  // namespace sluice
