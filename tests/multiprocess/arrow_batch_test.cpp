// Arrow batch channels between real processes: a publisher process sends
// the sample batch of every type (serialised into loans) and flat batches
// built in place; two subscriber processes decode them in place, check every
// value against the batch they compute themselves and that every buffer lies
// in their own mapping, hold and export some through the C Data Interface.
// Afterwards nothing but the channels' control blocks is left allocated.
// SLUICE_MP_BATCHES scales the run (default 300 per channel).
#include <sluice/channel/channel.hpp>

#include "support/process.hpp"
#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace sluice {
namespace {

using test::Child;

std::uint64_t batches() {
  const char* v = std::getenv("SLUICE_MP_BATCHES");
  return v ? std::strtoull(v, nullptr, 10) : 300;
}

TEST(MultiProcessArrowBatch, EveryTypeAndBuiltInPlaceAcrossProcesses) {
  test::ScopedShmName name("mparrow");
  DomainOptions o;
  o.heap = alloc::HeapConfig::scaled(0.05, 64 * MiB);
  o.max_peers = 8;
  o.max_channels = 8;
  auto domain = Domain::create(name.str(), o);
  ASSERT_TRUE(domain) << domain.error().what();
  const std::string count = std::to_string(batches());
  std::vector<Child> subs;
  for (int i = 0; i < 2; ++i) {
    subs.push_back(
        Child::spawn(test::helper_path("arrow_batch_peer"), {"subscribe", name.str(), count}));
    ASSERT_EQ(subs.back().read_line(), "ready");
  }
  auto pub =
      Child::spawn(test::helper_path("arrow_batch_peer"), {"publish", name.str(), count, "2"});
  EXPECT_EQ(pub.read_line(std::chrono::minutes(5)), "ok published=" + count);
  for (auto& s : subs) {
    const std::string line = s.read_line(std::chrono::minutes(5));
    EXPECT_EQ(line.rfind("ok received=" + count + " exported=", 0), 0u) << line;
    EXPECT_EQ(s.wait(), 0);
  }
  EXPECT_EQ(pub.wait(), 0);
  std::uint32_t live = 0;
  domain->heap().for_each_live_chunk([&live](const alloc::ChunkInfo&) { ++live; });
  EXPECT_EQ(live, 0u);  // the two channels went with their last endpoints, blocks and all
}

}  // namespace
}  // namespace sluice
