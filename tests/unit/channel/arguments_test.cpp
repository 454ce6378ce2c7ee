// Arguments validated at the API: endpoints used without a channel, loans
// that are empty or belong elsewhere, negative timeouts, sizes that do not
// fit /dev/shm. Each gets a clear error, never a crash or a false success.

#include <sluice/channel/channel.hpp>

#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <sys/statvfs.h>

namespace sluice {
namespace {

using namespace std::chrono_literals;

DomainOptions small_domain() {
  DomainOptions o;
  o.heap = alloc::HeapConfig::scaled(0.02, 16 * MiB);
  o.max_peers = 8;
  o.max_channels = 8;
  return o;
}

::testing::AssertionResult invalid(const Error& e, std::string_view part) {
  if (e.code() != Errc::invalid_argument)
    return ::testing::AssertionFailure() << "code " << errc_name(e.code()) << ": " << e.what();
  if (e.what().find(part) == std::string::npos)
    return ::testing::AssertionFailure() << "'" << e.what() << "' lacks '" << part << "'";
  return ::testing::AssertionSuccess();
}

TEST(Arguments, EndpointsWithoutAChannelGiveClearErrors) {
  BytePublisher pub;
  ByteSubscriber sub;
  QueueSender tx;
  QueueReceiver rx;
  EXPECT_TRUE(invalid(pub.loan(10).error(), "BytePublisher::create"));
  EXPECT_TRUE(invalid(pub.send(std::vector<std::byte>(4)).error(), "default-constructed"));
  EXPECT_TRUE(invalid(pub.publish(Loan{}).error(), "default-constructed"));
  EXPECT_EQ(pub.subscriber_count(), 0U);
  EXPECT_EQ(pub.channel_name(), "");
  EXPECT_TRUE(invalid(sub.try_receive().error(), "ByteSubscriber::create"));
  EXPECT_TRUE(invalid(sub.receive_for(1ms).error(), "default-constructed"));
  EXPECT_FALSE(sub.has_data_hint());
  EXPECT_TRUE(invalid(tx.send(std::vector<std::byte>(4)).error(), "QueueSender::create"));
  EXPECT_TRUE(invalid(rx.receive_for(1ms).error(), "QueueReceiver::create"));
  EXPECT_TRUE(invalid(rx.notification_fd().error(), "default-constructed"));
  EXPECT_EQ(rx.stats().messages, 0U);
}

TEST(Arguments, OnlyTheLendingEndpointPublishesALoanAndOnlyOnce) {
  test::ScopedShmName name1("args"), name2("args");
  auto d1 = Domain::create(name1.str(), small_domain());
  auto d2 = Domain::create(name2.str(), small_domain());
  ASSERT_TRUE(d1 && d2);
  auto a = BytePublisher::create(*d1, "a");
  auto b = BytePublisher::create(*d1, "b");
  auto other = BytePublisher::create(*d2, "a");
  auto sub_a = ByteSubscriber::create(*d1, "a");
  auto sub_b = ByteSubscriber::create(*d1, "b");
  auto sub_other = ByteSubscriber::create(*d2, "a");
  ASSERT_TRUE(a && b && other && sub_a && sub_b && sub_other);

  EXPECT_TRUE(invalid(a->publish(Loan{}).error(), "empty loan"));
  for (const std::size_t size : {std::size_t{8}, std::size_t{3000}}) {  // inline and chunk
    auto l = a->loan(size);
    ASSERT_TRUE(l) << l.error().what();
    EXPECT_TRUE(invalid(b->publish(std::move(*l)).error(), "another endpoint"));
    EXPECT_TRUE(invalid(other->publish(std::move(*l)).error(), name1.str()));
    ASSERT_TRUE(l->valid());  // refused loans stay with their owner
    ASSERT_TRUE(a->publish(std::move(*l)));
    EXPECT_TRUE(invalid(a->publish(std::move(*l)).error(), "already published"));
    auto got = sub_a->receive_for(1s);
    ASSERT_TRUE(got) << got.error().what();
    EXPECT_EQ(got->size(), size);
  }
  EXPECT_FALSE(sub_b->try_receive());
  EXPECT_FALSE(sub_other->try_receive());
  // A queue sender refuses a pub/sub loan too.
  auto tx = QueueSender::create(*d1, "q");
  ASSERT_TRUE(tx);
  auto l = a->loan(100);
  ASSERT_TRUE(l);
  EXPECT_TRUE(invalid(tx->send(std::move(*l)).error(), "another endpoint"));
}

TEST(Arguments, NegativeTimeoutsAreRefused) {
  test::ScopedShmName name("args");
  auto d = Domain::create(name.str(), small_domain());
  ASSERT_TRUE(d);
  ChannelOptions o;
  o.publish_timeout = -5ms;
  auto p = BytePublisher::create(*d, "t", o);
  ASSERT_FALSE(p);
  EXPECT_TRUE(invalid(p.error(), "negative"));
  // (A negative receive timeout means "do not wait", like zero.)
  auto s = ByteSubscriber::create(*d, "t");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->receive_for(-1ms).error().code(), Errc::timed_out);
}

TEST(Arguments, SizesBeyondDevShmAreRefusedAtCreation) {
  struct statvfs fs {};
  ASSERT_EQ(::statvfs("/dev/shm", &fs), 0);
  const std::uint64_t avail = std::uint64_t{fs.f_bavail} * fs.f_frsize;
  test::ScopedShmName name("args");
  DomainOptions huge = small_domain();
  huge.heap.tlsf_bytes = std::uint64_t{1} << 45;  // 32 TiB
  if ((std::uint64_t{1} << 45) <= avail) GTEST_SKIP() << "/dev/shm holds 32 TiB here";
  auto d = Domain::create(name.str(), huge);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), Errc::out_of_memory) << d.error().what();
  EXPECT_NE(d.error().what().find("/dev/shm"), std::string::npos) << d.error().what();
  DomainOptions classes = small_domain();
  classes.heap.classes.push_back({std::uint64_t{1} << 40, 4});  // 1 TiB x 4
  auto c = Domain::create(name.str(), classes);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().what().find("/dev/shm"), std::string::npos) << c.error().what();
  EXPECT_EQ(::access(("/dev/shm/" + name.str()).c_str(), F_OK), -1);  // nothing left behind
}

}  // namespace
}  // namespace sluice
