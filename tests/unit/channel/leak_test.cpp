// Nothing leaks for ever: a channel's registry entry and control block go
// with its last endpoint (or with the reclamation of its last, dead,
// holder), so a domain never runs out of entries for names it used once.

#include <sluice/channel/channel.hpp>

#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>

namespace sluice {
namespace {

using namespace std::chrono_literals;

DomainOptions tiny() {
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

TEST(Leaks, AHundredChannelNamesInAnEightEntryRegistry) {
  test::ScopedShmName name("leak");
  auto d = Domain::create(name.str(), tiny());
  ASSERT_TRUE(d) << d.error().what();
  for (int i = 0; i < 100; ++i) {
    const std::string ch = "topic/" + std::to_string(i);
    ChannelOptions o;
    o.history = 2;  // history holds chunks: they go with the channel too
    auto pub = BytePublisher::create(*d, ch, o);
    ASSERT_TRUE(pub) << i << ": " << pub.error().what();
    auto sub = ByteSubscriber::create(*d, ch, {}, o);
    ASSERT_TRUE(sub) << i << ": " << sub.error().what();
    ASSERT_TRUE(pub->send(std::vector<std::byte>(3000)));
    auto got = sub->receive_for(1s);
    ASSERT_TRUE(got) << got.error().what();
  }
  auto entries = d->segment().registry_list();
  ASSERT_TRUE(entries);
  EXPECT_TRUE(entries->empty());
  EXPECT_EQ(live_chunks(*d), 0U);
}

TEST(Leaks, AQueueWithMessagesOutlivesItsEndpointsUntilDrained) {
  test::ScopedShmName name("leak");
  auto d = Domain::create(name.str(), tiny());
  ASSERT_TRUE(d);
  {
    auto tx = QueueSender::create(*d, "jobs");
    ASSERT_TRUE(tx);
    ASSERT_TRUE(tx->send(std::vector<std::byte>(2000, std::byte{7})));
  }
  // No endpoint, one message waiting: the queue stays.
  ASSERT_EQ(d->segment().registry_list()->size(), 1U);
  {
    auto rx = QueueReceiver::create(*d, "jobs");
    ASSERT_TRUE(rx);
    auto m = rx->receive_for(1s);
    ASSERT_TRUE(m) << m.error().what();
    EXPECT_EQ(m->size(), 2000U);
  }
  EXPECT_TRUE(d->segment().registry_list()->empty());
  EXPECT_EQ(live_chunks(*d), 0U);
}

TEST(Leaks, AChannelWhoseLastHolderDiedIsFreedByReclaim) {
  test::ScopedShmName name("leak");
  auto d = Domain::create(name.str(), tiny());
  ASSERT_TRUE(d);
  const pid_t child = ::fork();
  if (child == 0) {
    auto own = Domain::open(name.str());
    if (!own) _exit(2);
    auto pub = BytePublisher::create(*own, "orphan");
    if (!pub || !pub->send(std::vector<std::byte>(500))) _exit(3);
    _exit(0);  // no destructors: like a crash
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(d->segment().registry_list()->size(), 1U);
  auto r = d->reclaim();
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->dead_peers, 1U);
  EXPECT_TRUE(d->segment().registry_list()->empty());
  EXPECT_EQ(live_chunks(*d), 0U);
  // The name is free for a channel of another shape.
  ChannelOptions o;
  o.capacity = 4;
  EXPECT_TRUE(BytePublisher::create(*d, "orphan", o));
}

TEST(Leaks, AFullPeerTableOfDeadProcessesIsReclaimedAtAttach) {
  test::ScopedShmName name("leak");
  DomainOptions o = tiny();
  o.max_peers = 4;
  auto d = Domain::create(name.str(), o);  // this process: one slot
  ASSERT_TRUE(d);
  // Three processes attach, open a channel, take a loan and die: the table
  // is full of the dead.
  for (int i = 0; i < 3; ++i) {
    const pid_t child = ::fork();
    if (child == 0) {
      auto own = Domain::open(name.str());
      if (!own) _exit(2);
      auto pub = BytePublisher::create(*own, "c" + std::to_string(i));
      if (!pub) _exit(3);
      auto loan = pub->loan(2000);
      if (!loan) _exit(4);
      _exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  ASSERT_EQ(d->segment().dead_peers().size(), 3U);
  // A newcomer gets a slot: attaching reclaims the dead first.
  const pid_t late = ::fork();
  if (late == 0) {
    int code = 0;
    {
      auto own = Domain::open(name.str());
      if (!own) {
        std::fprintf(stderr, "%s\n", own.error().what().c_str());
        code = 5;
      }
    }  // detached cleanly
    _exit(code);
  }
  int status = 0;
  ::waitpid(late, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_TRUE(d->segment().dead_peers().empty());
  EXPECT_TRUE(d->segment().registry_list()->empty());  // their channels went too
  EXPECT_EQ(live_chunks(*d), 0U);                      // and their loans
}

}  // namespace
}  // namespace sluice
