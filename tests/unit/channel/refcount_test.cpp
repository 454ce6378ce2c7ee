// Reference-count error paths, each with the failure injected: a chunk
// whose references cannot be set up is delivered to nobody (a holder with
// fewer references than holders would free it under the others), counted
// as dropped, and reported; a queue message whose chunk cannot be
// published stays with its loan.

#include <sluice/channel/channel.hpp>
#include <sluice/channel/internal/core.hpp>

#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

namespace sluice {
namespace {

using namespace std::chrono_literals;
using channel::Access;

DomainOptions small_domain() {
  DomainOptions o;
  o.heap = alloc::HeapConfig::scaled(0.02, 16 * MiB);
  o.max_peers = 8;
  o.max_channels = 8;
  return o;
}

std::uint32_t live_chunks(const Domain& d) {
  std::uint32_t n = 0;
  d.heap().for_each_live_chunk([&n](const alloc::ChunkInfo&) { ++n; });
  return n;
}

class RefCounts : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Domain::create(name_.str(), small_domain());
    ASSERT_TRUE(d) << d.error().what();
    domain_ = std::move(d).value();
  }
  test::ScopedShmName name_{"refs"};
  std::optional<Domain> domain_;
};

TEST_F(RefCounts, APublishThatCannotPublishTheChunkDeliversNothing) {
  auto pub = BytePublisher::create(*domain_, "c");
  auto s1 = ByteSubscriber::create(*domain_, "c");
  auto s2 = ByteSubscriber::create(*domain_, "c");
  ASSERT_TRUE(pub && s1 && s2);
  const std::uint32_t before = live_chunks(*domain_);
  auto l = pub->loan(3000);
  ASSERT_TRUE(l);
  // Another process moved the chunk on behind the allocator's back.
  ASSERT_TRUE(domain_->heap().set_state(Access::ref(*l), alloc::ChunkState::loaned,
                                        alloc::ChunkState::published));
  auto r = pub->publish(std::move(*l));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().what().find("not delivered"), std::string::npos) << r.error().what();
  EXPECT_FALSE(s1->try_receive());
  EXPECT_FALSE(s2->try_receive());
  EXPECT_EQ(s1->stats().dropped, 1U);
  EXPECT_EQ(s2->stats().dropped, 1U);
  EXPECT_EQ(pub->stats().dropped, 1U);
  EXPECT_EQ(live_chunks(*domain_), before);  // its one reference went back
  // The channel goes on.
  ASSERT_TRUE(pub->send(std::vector<std::byte>(3000)));
  EXPECT_TRUE(s1->receive_for(1s));
  EXPECT_TRUE(s2->receive_for(1s));
}

TEST_F(RefCounts, ReferencesThatCannotBeAddedDeliverNothing) {
  auto pub = BytePublisher::create(*domain_, "c");
  auto s1 = ByteSubscriber::create(*domain_, "c");
  auto s2 = ByteSubscriber::create(*domain_, "c");
  ASSERT_TRUE(pub && s1 && s2);
  auto l = pub->loan(3000);
  ASSERT_TRUE(l);
  const alloc::ChunkRef ref = Access::ref(*l);
  // The count at its maximum: one more holder does not fit.
  ASSERT_TRUE(domain_->heap().add_ref(ref, alloc::kMaxRefs - 1));
  auto r = pub->publish(std::move(*l));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::out_of_range) << r.error().what();
  EXPECT_FALSE(s1->try_receive());
  EXPECT_FALSE(s2->try_receive());
  EXPECT_EQ(s1->stats().dropped + s2->stats().dropped, 2U);
  // Only the references we injected are left; return them and the chunk is free.
  const std::uint32_t before = live_chunks(*domain_);
  for (std::uint32_t k = 0; k + 1 < alloc::kMaxRefs; ++k)
    ASSERT_TRUE(domain_->heap().release(ref, domain_->peer()));
  EXPECT_EQ(live_chunks(*domain_), before - 1);
}

TEST_F(RefCounts, AQueueMessageWhoseChunkCannotBePublishedStaysWithItsLoan) {
  auto tx = QueueSender::create(*domain_, "q");
  auto rx = QueueReceiver::create(*domain_, "q");
  ASSERT_TRUE(tx && rx);
  const std::uint32_t before = live_chunks(*domain_);
  {
    auto l = tx->loan(3000);
    ASSERT_TRUE(l);
    ASSERT_TRUE(domain_->heap().set_state(Access::ref(*l), alloc::ChunkState::loaned,
                                          alloc::ChunkState::published));
    auto r = tx->send(std::move(*l));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().what().find("could not be published"), std::string::npos)
        << r.error().what();
    EXPECT_TRUE(l->valid());  // the loan still owns the chunk
    EXPECT_FALSE(rx->try_receive());
  }
  EXPECT_EQ(live_chunks(*domain_), before);  // and freed it when it went
  ASSERT_TRUE(tx->send(std::vector<std::byte>(3000)));
  EXPECT_TRUE(rx->receive_for(1s));
}

TEST_F(RefCounts, LateJoinersTakeHistoryWhilePublishersEvictIt) {
  // Late joiners add references to chunks only the history holds while the
  // publisher rewrites and evicts those entries (SYNC H1/H2): every sample
  // they get is intact, and nothing leaks or is freed twice.
  ChannelOptions o;
  o.history = 4;
  o.capacity = 64;
  o.policy = channel::FullPolicy::overwrite;
  auto pub = BytePublisher::create(*domain_, "h", o);
  ASSERT_TRUE(pub);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::vector<std::byte> bytes(2000);
    for (std::uint32_t i = 0; !stop.load(); ++i) {
      std::memcpy(bytes.data(), &i, sizeof i);
      std::memcpy(bytes.data() + bytes.size() - sizeof i, &i, sizeof i);
      (void)pub->send(bytes);
    }
  });
  for (int round = 0; round < 300; ++round) {
    SubscribeOptions so;
    so.history = 4;
    auto sub = ByteSubscriber::create(*domain_, "h", so, o);
    ASSERT_TRUE(sub) << sub.error().what();
    for (int k = 0; k < 4; ++k) {
      auto s = sub->try_receive();
      if (!s) break;
      std::uint32_t a = 0, b = 0;
      std::memcpy(&a, s->data(), sizeof a);
      std::memcpy(&b, s->data() + s->size() - sizeof b, sizeof b);
      ASSERT_EQ(a, b) << "a torn or reused sample";
    }
  }
  stop = true;
  writer.join();
  auto audit = domain_->heap().audit(false);
  ASSERT_TRUE(audit);
  EXPECT_TRUE(audit->clean()) << audit->problems.front();
}

}  // namespace
}  // namespace sluice
