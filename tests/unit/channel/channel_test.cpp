#include <sluice/channel/channel.hpp>

#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/epoll.h>
#include <array>
#include <cstring>
#include <numeric>
#include <thread>

namespace sluice {
namespace {

using namespace std::chrono_literals;

DomainOptions small_domain() {
  DomainOptions o;
  o.heap = alloc::HeapConfig::scaled(0.02, 128 * MiB);
  o.max_peers = 16;
  o.max_channels = 16;
  return o;
}

class ChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Domain::create(name_.str(), small_domain());
    ASSERT_TRUE(d) << d.error().what();
    domain_ = std::move(d).value();
  }
  std::uint32_t chunks_in_use() const {
    std::uint32_t n = 0;
    const auto st = domain_->heap().stats();
    for (const auto& p : st.pools) n += p.in_use;
    return n + st.tlsf.used_blocks - st.tlsf.free_blocks;
  }
  test::ScopedShmName name_{"chan"};
  std::optional<Domain> domain_;
};

struct Pose {
  double x, y, z;
  std::uint64_t seq;
};
struct Big {
  std::array<std::uint64_t, 128> values;  // 1 KiB: travels in a chunk
};

TEST_F(ChannelTest, TypedInlineRoundTrip) {
  auto pub = Publisher<Pose>::create(*domain_, "pose");
  ASSERT_TRUE(pub) << pub.error().what();
  auto sub = Subscriber<Pose>::create(*domain_, "pose");
  ASSERT_TRUE(sub) << sub.error().what();
  EXPECT_EQ(pub->subscriber_count(), 1u);
  EXPECT_EQ(sub->try_receive().error().code(), Errc::would_block);
  for (std::uint64_t i = 0; i < 1000; ++i) {
    auto loan = pub->loan();
    ASSERT_TRUE(loan);
    **loan = Pose{1.0 * static_cast<double>(i), 2.0, 3.0, i};
    ASSERT_TRUE(pub->publish(std::move(*loan)));
    auto s = sub->try_receive();
    ASSERT_TRUE(s) << s.error().what();
    EXPECT_EQ((*s)->seq, i);
    EXPECT_EQ((*s)->x, static_cast<double>(i));
    EXPECT_EQ(s->sequence(), i);
  }
}

TEST_F(ChannelTest, TypedChunkIsZeroCopyAndFreedAfterRelease) {
  const std::uint32_t before = chunks_in_use();
  auto pub = Publisher<Big>::create(*domain_, "big");
  auto sub = Subscriber<Big>::create(*domain_, "big");
  ASSERT_TRUE(pub && sub);
  const std::uint32_t with_channel = chunks_in_use();
  auto loan = pub->loan();
  ASSERT_TRUE(loan);
  const Big* written = loan->get();
  std::iota(loan->get()->values.begin(), loan->get()->values.end(), 7);
  ASSERT_TRUE(pub->publish(std::move(*loan)));
  auto s = sub->try_receive();
  ASSERT_TRUE(s);
  // The subscriber reads the very bytes the publisher wrote: same mapping
  // here, so the same address.
  EXPECT_EQ(s->get(), written);
  EXPECT_EQ((*s)->values[127], 134u);
  EXPECT_EQ(chunks_in_use(), with_channel + 1);
  EXPECT_EQ(sub->stats().held, 1u);
  s->raw().release();
  EXPECT_EQ(chunks_in_use(), with_channel);
  EXPECT_GT(with_channel, before);  // the control block
}

TEST_F(ChannelTest, ByteMessagesOfEverySize) {
  auto pub = BytePublisher::create(*domain_, "bytes");
  auto sub = ByteSubscriber::create(*domain_, "bytes");
  ASSERT_TRUE(pub && sub);
  for (const std::size_t size :
       {0ul, 1ul, 31ul, 32ul, 33ul, 4096ul, 100'000ul, 1ul << 20, 64ul << 20}) {
    auto loan = pub->loan(size);
    ASSERT_TRUE(loan) << size << ": " << loan.error().what();
    ASSERT_EQ(loan->size(), size);
    for (std::size_t i = 0; i < size; i += 4096) {
      loan->data()[i] = static_cast<std::byte>(i / 4096 + size);
    }
    if (size > 0) loan->data()[size - 1] = std::byte{0x5a};
    ASSERT_TRUE(pub->publish(std::move(*loan)));
    auto s = sub->try_receive();
    ASSERT_TRUE(s) << size;
    ASSERT_EQ(s->size(), size);
    for (std::size_t i = 0; i + 1 < size; i += 4096) {
      ASSERT_EQ(s->data()[i], static_cast<std::byte>(i / 4096 + size)) << size << " at " << i;
    }
    if (size > 0) {
      EXPECT_EQ(s->data()[size - 1], std::byte{0x5a});
    }
  }
}

TEST_F(ChannelTest, FanOutFreesAfterLastHolder) {
  auto pub = BytePublisher::create(*domain_, "fan");
  ASSERT_TRUE(pub);
  std::vector<ByteSubscriber> subs;
  for (int i = 0; i < 4; ++i)
    subs.push_back(std::move(ByteSubscriber::create(*domain_, "fan").value()));
  EXPECT_EQ(pub->subscriber_count(), 4u);
  const std::uint32_t base = chunks_in_use();
  std::vector<std::byte> msg(5000, std::byte{9});
  ASSERT_TRUE(pub->send(msg));
  std::vector<Sample> got;
  for (auto& s : subs) {
    auto r = s.try_receive();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->size(), 5000u);
    got.push_back(std::move(r).value());
  }
  EXPECT_EQ(got[0].data(), got[3].data());  // one chunk, four holders
  EXPECT_EQ(chunks_in_use(), base + 1);
  got.erase(got.begin(), got.begin() + 3);
  EXPECT_EQ(chunks_in_use(), base + 1);
  got.clear();
  EXPECT_EQ(chunks_in_use(), base);
}

TEST_F(ChannelTest, UnpublishedLoanReturnsMemory) {
  auto pub = BytePublisher::create(*domain_, "loan");
  ASSERT_TRUE(pub);
  const std::uint32_t base = chunks_in_use();
  {
    auto l = pub->loan(10'000);
    ASSERT_TRUE(l);
    EXPECT_EQ(chunks_in_use(), base + 1);
  }
  EXPECT_EQ(chunks_in_use(), base);
}

TEST_F(ChannelTest, FailFastPolicyKeepsTheLoan) {
  ChannelOptions o;
  o.capacity = 4;
  o.policy = channel::FullPolicy::fail;
  auto pub = BytePublisher::create(*domain_, "fail", o);
  auto sub = ByteSubscriber::create(*domain_, "fail", {}, o);
  ASSERT_TRUE(pub && sub);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(pub->send(std::vector<std::byte>(100)));
  auto l = pub->loan(100);
  ASSERT_TRUE(l);
  l->data()[0] = std::byte{42};
  auto r = pub->publish(std::move(*l));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::queue_full);
  EXPECT_TRUE(r.error().retryable());
  EXPECT_EQ(l->data()[0], std::byte{42});  // still ours
  ASSERT_TRUE(sub->try_receive());
  ASSERT_TRUE(pub->publish(std::move(*l)));
  EXPECT_EQ(pub->stats().dropped, 1u);
}

TEST_F(ChannelTest, OverwritePolicyCountsOverruns) {
  ChannelOptions o;
  o.capacity = 8;
  o.policy = channel::FullPolicy::overwrite;
  auto pub = Publisher<std::uint64_t>::create(*domain_, "ow", o);
  auto sub = Subscriber<std::uint64_t>::create(*domain_, "ow", {}, o);
  ASSERT_TRUE(pub && sub);
  const std::uint32_t base = chunks_in_use();
  for (std::uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(pub->send(i));
  std::uint64_t received = 0;
  std::uint64_t last = 0;
  while (auto s = sub->try_receive()) {
    EXPECT_GE(**s, last);
    last = **s;
    ++received;
  }
  EXPECT_EQ(received, 8u);
  EXPECT_EQ(last, 99u);
  EXPECT_EQ(sub->stats().dropped + received, 100u);
  EXPECT_EQ(chunks_in_use(), base);
}

TEST_F(ChannelTest, BlockPolicyTimesOutThenDelivers) {
  ChannelOptions o;
  o.capacity = 2;
  o.policy = channel::FullPolicy::block;
  o.publish_timeout = 30ms;
  auto pub = BytePublisher::create(*domain_, "blk", o);
  auto sub = ByteSubscriber::create(*domain_, "blk", {}, o);
  ASSERT_TRUE(pub && sub);
  ASSERT_TRUE(pub->send(std::vector<std::byte>(64)));
  ASSERT_TRUE(pub->send(std::vector<std::byte>(64)));
  auto r = pub->send(std::vector<std::byte>(64));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::timed_out);
  // A consumer on another thread makes room: the blocked publish goes on.
  std::thread consumer([&] {
    std::this_thread::sleep_for(20ms);
    (void)sub->try_receive();
  });
  EXPECT_TRUE(pub->send(std::vector<std::byte>(64)));
  consumer.join();
}

TEST_F(ChannelTest, HistoryForLateJoiners) {
  ChannelOptions o;
  o.history = 3;
  auto pub = Publisher<Big>::create(*domain_, "hist", o);
  ASSERT_TRUE(pub);
  const std::uint32_t base = chunks_in_use();
  for (std::uint64_t i = 0; i < 10; ++i) {
    Big b{};
    b.values[0] = i;
    ASSERT_TRUE(pub->send(b));
  }
  EXPECT_EQ(chunks_in_use(), base + 3);  // only the history holds samples
  auto late = Subscriber<Big>::create(*domain_, "hist", SubscribeOptions{.history = 2}, o);
  ASSERT_TRUE(late) << late.error().what();
  Big b{};
  b.values[0] = 10;
  ASSERT_TRUE(pub->send(b));
  std::vector<std::uint64_t> got;
  while (auto s = late->try_receive()) got.push_back((*s)->values[0]);
  EXPECT_EQ(got, (std::vector<std::uint64_t>{8, 9, 10}));
  late = Subscriber<Big>::create(*domain_, "hist2", {}, o);  // drop the late joiner
  EXPECT_EQ(chunks_in_use(), base + 3 + 1);                  // hist2's control block
}

TEST_F(ChannelTest, ConfigurationAndTypeMismatch) {
  auto pub = Publisher<Pose>::create(*domain_, "typed");
  ASSERT_TRUE(pub);
  auto wrong = Subscriber<Big>::create(*domain_, "typed");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Errc::config_mismatch);
  EXPECT_NE(wrong.error().what().find("element size"), std::string::npos) << wrong.error().what();
  // A requirement the channel does not meet names the field and both values.
  ChannelOptions o;
  o.capacity = 1024;
  o.policy = channel::FullPolicy::overwrite;
  auto other = Subscriber<Pose>::create(*domain_, "typed", {}, o);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), Errc::config_mismatch);
  EXPECT_NE(other.error().what().find("capacity 256 (this endpoint asks for 1024)"),
            std::string::npos)
      << other.error().what();
  EXPECT_NE(other.error().what().find("policy block (this endpoint asks for overwrite)"),
            std::string::npos)
      << other.error().what();
}

// An endpoint that states no requirement adopts the channel's configuration,
// whatever the creator chose.
TEST_F(ChannelTest, AttachingEndpointsAdoptTheChannelsConfiguration) {
  ChannelOptions o;
  o.capacity = 1024;
  o.max_held = 5;
  o.history = 3;
  auto pub = BytePublisher::create(*domain_, "adopt", o);
  ASSERT_TRUE(pub) << pub.error().what();
  auto sub = ByteSubscriber::create(*domain_, "adopt");  // defaults: no requirement
  ASSERT_TRUE(sub) << sub.error().what();
  // It works on the channel's geometry: 1000 messages fit its ring of 1024.
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(pub->send(std::as_bytes(std::span(&i, 1))));
  int got = 0;
  while (auto s = sub->try_receive()) ++got;
  EXPECT_EQ(got, 1000);
  // A requirement that matches is accepted; rounding is the channel's.
  ChannelOptions same;
  same.capacity = 1000;  // rounds up to 1024
  same.max_held = 5;
  EXPECT_TRUE(ByteSubscriber::create(*domain_, "adopt", {}, same));
}

// A wait set refers to the subscriber's state, not to the object: moving the
// subscriber after adding it (into a vector that reallocates) is safe, and so
// is destroying it before the wait set.
TEST_F(ChannelTest, WaitSetSurvivesMovedAndDestroyedMembers) {
  auto pub = BytePublisher::create(*domain_, "ws");
  ASSERT_TRUE(pub);
  auto ws = WaitSet::create();
  ASSERT_TRUE(ws);
  std::vector<ByteSubscriber> subs;
  {
    auto a = ByteSubscriber::create(*domain_, "ws");
    auto b = ByteSubscriber::create(*domain_, "ws");
    ASSERT_TRUE(a && b);
    ASSERT_TRUE(ws->add(*a, 1));
    ASSERT_TRUE(ws->add(*b, 2));
    subs.push_back(std::move(*a));
    subs.push_back(std::move(*b));  // reallocates: `a`'s object moved twice
  }
  const std::uint64_t v = 42;
  ASSERT_TRUE(pub->send(std::as_bytes(std::span(&v, 1))));
  auto ready = ws->wait(1s);
  ASSERT_TRUE(ready) << ready.error().what();
  EXPECT_EQ(ready->size(), 2u);
  subs.clear();  // the endpoint objects go; the wait set still holds their states
  auto again = ws->wait(10ms);
  ASSERT_TRUE(again);  // the message is still queued for both states
  EXPECT_EQ(again->size(), 2u);
}

TEST_F(ChannelTest, OnePublisherAtATime) {
  auto a = BytePublisher::create(*domain_, "solo");
  ASSERT_TRUE(a);
  auto b = BytePublisher::create(*domain_, "solo");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), Errc::table_full);
  EXPECT_NE(b.error().what().find("publisher"), std::string::npos);
  a = BytePublisher::create(*domain_, "other");  // frees "solo"'s slot
  EXPECT_TRUE(BytePublisher::create(*domain_, "solo"));
}

TEST_F(ChannelTest, ReceiveForWakesOnPublish) {
  auto pub = Publisher<std::uint64_t>::create(*domain_, "wake");
  auto sub = Subscriber<std::uint64_t>::create(*domain_, "wake");
  ASSERT_TRUE(pub && sub);
  auto t = sub->receive_for(10ms);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code(), Errc::timed_out);
  std::thread producer([&] {
    std::this_thread::sleep_for(50ms);  // long past the spin: the subscriber sleeps
    (void)pub->send(77);
  });
  auto s = sub->receive_for(5s);
  producer.join();
  ASSERT_TRUE(s) << s.error().what();
  EXPECT_EQ(**s, 77u);
}

TEST_F(ChannelTest, NotificationFdBecomesReadable) {
  auto pub = Publisher<std::uint64_t>::create(*domain_, "fd");
  auto sub = Subscriber<std::uint64_t>::create(*domain_, "fd");
  ASSERT_TRUE(pub && sub);
  auto fd = sub->notification_fd();
  ASSERT_TRUE(fd) << fd.error().what();
  pollfd p{*fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  ASSERT_TRUE(pub->send(5));
  ASSERT_TRUE(pub->send(6));
  EXPECT_EQ(::poll(&p, 1, 1000), 1);
  EXPECT_EQ(**sub->try_receive(), 5u);
  EXPECT_EQ(**sub->try_receive(), 6u);
  EXPECT_EQ(sub->try_receive().error().code(), Errc::would_block);  // drains and re-arms
  p.revents = 0;
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  ASSERT_TRUE(pub->send(7));
  EXPECT_EQ(::poll(&p, 1, 1000), 1);
}

TEST_F(ChannelTest, WaitSetOverSeveralSubscribers) {
  auto pa = Publisher<std::uint64_t>::create(*domain_, "wa");
  auto pb = Publisher<std::uint64_t>::create(*domain_, "wb");
  auto sa = Subscriber<std::uint64_t>::create(*domain_, "wa");
  auto sb = Subscriber<std::uint64_t>::create(*domain_, "wb");
  ASSERT_TRUE(pa && pb && sa && sb);
  auto ws = WaitSet::create();
  ASSERT_TRUE(ws);
  ASSERT_TRUE(ws->add(*sa, 1));
  ASSERT_TRUE(ws->add(*sb, 2));
  EXPECT_EQ(ws->wait(5ms).error().code(), Errc::timed_out);
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    (void)pb->send(1);
  });
  auto ready = ws->wait(5s);
  t.join();
  ASSERT_TRUE(ready);
  EXPECT_EQ(*ready, std::vector<std::uint64_t>{2});
}

TEST_F(ChannelTest, QueueManySendersOneReceiverMessagesPersist) {
  ChannelOptions o;
  o.capacity = 64;
  auto a = QueueSender::create(*domain_, "jobs", o);
  auto b = QueueSender::create(*domain_, "jobs", o);
  ASSERT_TRUE(a && b);
  const std::uint32_t base = chunks_in_use();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(a->send(std::vector<std::byte>(100, std::byte{1})));
    ASSERT_TRUE(b->send(std::vector<std::byte>(8, std::byte{2})));
  }
  EXPECT_EQ(chunks_in_use(), base + 10);
  {
    auto rx = QueueReceiver::create(*domain_, "jobs", o);
    ASSERT_TRUE(rx);
    auto second = QueueReceiver::create(*domain_, "jobs", o);
    EXPECT_FALSE(second);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(rx->try_receive());
  }
  auto rx = QueueReceiver::create(*domain_, "jobs", o);
  ASSERT_TRUE(rx);
  int n = 0;
  while (auto s = rx->try_receive()) ++n;
  EXPECT_EQ(n, 15);
  EXPECT_EQ(chunks_in_use(), base);
}

TEST_F(ChannelTest, QueueFailFastWhenFull) {
  ChannelOptions o;
  o.capacity = 2;
  o.policy = channel::FullPolicy::fail;
  auto tx = QueueSender::create(*domain_, "q", o);
  ASSERT_TRUE(tx);
  ASSERT_TRUE(tx->send(std::vector<std::byte>(100)));
  ASSERT_TRUE(tx->send(std::vector<std::byte>(100)));
  auto r = tx->send(std::vector<std::byte>(100));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::queue_full);
  ChannelOptions ow = o;
  ow.policy = channel::FullPolicy::overwrite;
  EXPECT_EQ(QueueSender::create(*domain_, "q2", ow).error().code(), Errc::invalid_argument);
}

TEST_F(ChannelTest, BatchPublishAndReceive) {
  ChannelOptions o;
  o.capacity = 64;
  auto pub = BytePublisher::create(*domain_, "batch", o);
  auto sub = ByteSubscriber::create(*domain_, "batch", {}, o);
  ASSERT_TRUE(pub && sub);
  std::vector<Loan> loans;
  for (int i = 0; i < 16; ++i) {
    auto l = pub->loan(8);
    ASSERT_TRUE(l);
    std::memcpy(l->data(), &i, sizeof i);
    loans.push_back(std::move(l).value());
  }
  auto n = pub->publish_batch(loans);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 16u);
  std::vector<Sample> out(32);
  auto got = sub->try_receive_batch(out);
  ASSERT_TRUE(got);
  ASSERT_EQ(*got, 16u);
  for (int i = 0; i < 16; ++i) {
    int v = -1;
    std::memcpy(&v, out[static_cast<std::size_t>(i)].data(), sizeof v);
    EXPECT_EQ(v, i);
  }
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST_F(ChannelTest, PublishSmallAndReceiveEach) {
  ChannelOptions o;
  o.capacity = 256;
  auto pub = BytePublisher::create(*domain_, "fast", o);
  auto sub = ByteSubscriber::create(*domain_, "fast", {}, o);
  ASSERT_TRUE(pub && sub);
  auto sent = pub->publish_small(200, 8, [](std::size_t i, std::span<std::byte> b) {
    const std::uint64_t v = i * 3;
    std::memcpy(b.data(), &v, 8);
  });
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 200u);
  // Chunk messages mix in through the ordinary path.
  ASSERT_TRUE(pub->send(std::vector<std::byte>(1000, std::byte{7})));
  std::vector<std::uint64_t> values;
  std::size_t big = 0;
  auto got = sub->receive_each(1000, [&](std::span<const std::byte> b) {
    if (b.size() == 8) {
      std::uint64_t v;
      std::memcpy(&v, b.data(), 8);
      values.push_back(v);
    } else {
      big = b.size();
      EXPECT_EQ(b[999], std::byte{7});
    }
  });
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, 201u);
  ASSERT_EQ(values.size(), 200u);
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(values[i], i * 3);
  EXPECT_EQ(big, 1000u);
  EXPECT_EQ(sub->stats().held, 0u);
  EXPECT_EQ(*sub->receive_each(10, [](std::span<const std::byte>) {}), 0u);
  EXPECT_EQ(pub->publish_small(1, 33, [](std::size_t, std::span<std::byte>) {}).error().code(),
            Errc::invalid_argument);
}

TEST_F(ChannelTest, PublishSmallRespectsFailPolicy) {
  ChannelOptions o;
  o.capacity = 16;
  o.policy = channel::FullPolicy::fail;
  auto pub = BytePublisher::create(*domain_, "fastfail", o);
  auto sub = ByteSubscriber::create(*domain_, "fastfail", {}, o);
  ASSERT_TRUE(pub && sub);
  auto sent = pub->publish_small(40, 4, [](std::size_t, std::span<std::byte>) {});
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 16u);
  EXPECT_EQ(pub->publish_small(1, 4, [](std::size_t, std::span<std::byte>) {}).error().code(),
            Errc::queue_full);
}

}  // namespace
}  // namespace sluice
