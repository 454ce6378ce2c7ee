// 1 publisher x 4 subscribers, real processes, with sequence numbers and
// checksums: lossless under the block policy, drops exactly counted under
// overwrite. SLUICE_MP_MESSAGES scales the run (default 200000).
#include <sluice/channel/channel.hpp>

#include "support/process.hpp"
#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace sluice {
namespace {

using test::Child;

std::uint64_t messages() {
  const char* v = std::getenv("SLUICE_MP_MESSAGES");
  return v ? std::strtoull(v, nullptr, 10) : 200000;
}

void run(const std::string& policy) {
  test::ScopedShmName name("mpchan");
  const std::uint64_t n = messages();
  const std::string count = std::to_string(n);
  std::vector<Child> subs;
  for (int i = 0; i < 4; ++i) {
    subs.push_back(Child::spawn(test::helper_path("mp_channel"),
                                {"subscribe", name.str(), "c", count, policy}));
    ASSERT_EQ(subs.back().read_line(), "ready");
  }
  auto pub = Child::spawn(test::helper_path("mp_channel"),
                          {"publish", name.str(), "c", count, "4", policy});
  const std::string pub_line = pub.read_line(std::chrono::minutes(5));
  EXPECT_EQ(pub_line, "ok published=" + count);
  for (auto& s : subs) {
    const std::string line = s.read_line(std::chrono::minutes(5));
    ASSERT_EQ(line.rfind("ok received=", 0), 0u) << line;
    const auto r = std::strtoull(line.c_str() + 12, nullptr, 10);
    const auto d = std::strtoull(line.c_str() + line.find("dropped=") + 8, nullptr, 10);
    if (policy == "block") {
      EXPECT_EQ(r, n);
      EXPECT_EQ(d, 0u);
    } else {
      EXPECT_EQ(r + d, n) << line;  // every message delivered or counted as overrun
    }
    EXPECT_EQ(s.wait(), 0);
  }
  EXPECT_EQ(pub.wait(), 0);
  // Everything returned, the channel's control block too: it went with the
  // channel's last endpoint.
  auto d = Domain::open(name.str());
  ASSERT_TRUE(d) << d.error().what();
  std::uint32_t live = 0;
  d->heap().for_each_live_chunk([&live](const alloc::ChunkInfo&) { ++live; });
  EXPECT_EQ(live, 0u);
}

TEST(MultiProcessChannel, BlockPolicyIsLosslessAcrossFourSubscribers) { run("block"); }
TEST(MultiProcessChannel, OverwritePolicyCountsEveryDrop) { run("overwrite"); }

}  // namespace
}  // namespace sluice
