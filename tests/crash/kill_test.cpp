// Kill tests: a bounded run of the torture harness (sluice_crash_harness,
// built from tests/crash/helpers/). Each trial kills a publisher, subscriber,
// queue sender or receiver with SIGKILL, at a random moment or stopped at a
// named crash point, restarts it, and checks that the survivors go on, that
// every message verifies, that no wait overruns its deadline and that
// nothing leaks once everyone is gone.
//
// Environment (defaults in brackets): SLUICE_CRASH_TRIALS [200; 40 under a
// sanitizer], SLUICE_CRASH_SECONDS [150; 240 under a sanitizer: the run stops
// early when its time is up, after the trials that walk through every crash
// point], SLUICE_CRASH_SEED [random; printed for reproduction].
// A long run: ./sluice.sh torture --trials 10000.

#include "support/process.hpp"
#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

struct HarnessRun {
  int exit_code = -1;
  std::vector<std::string> lines;
};

HarnessRun run_harness(const std::vector<std::string>& args, std::chrono::seconds limit) {
  auto child = sluice::test::Child::spawn(sluice::test::helper_path("sluice_crash_harness"), args);
  HarnessRun r;
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    std::string line = child.read_line(left);
    if (line.empty()) break;  // EOF (or an empty line, which the harness never prints)
    r.lines.push_back(std::move(line));
  }
  r.exit_code = child.wait(10s);
  return r;
}

// The number after "key": in the harness's one-line JSON summary.
std::uint64_t json_number(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const auto at = json.find(needle);
  if (at == std::string::npos) return UINT64_MAX;
  const char* p = json.c_str() + at + needle.size();
  char* end = nullptr;
  const unsigned long long v = std::strtoull(p, &end, 10);
  return end == p ? UINT64_MAX : v;
}

TEST(Kill, TortureTrialsLeaveNothingBehind) {
  const std::string trials = env_or("SLUICE_CRASH_TRIALS", kSanitized ? "40" : "200");
  const std::string seconds = env_or("SLUICE_CRASH_SECONDS", kSanitized ? "240" : "150");
  std::vector<std::string> args = {"--trials", trials, "--max-seconds", seconds, "--json"};
  if (const char* seed = std::getenv("SLUICE_CRASH_SEED")) {
    args.push_back("--seed");
    args.push_back(seed);
  }
  const HarnessRun r = run_harness(args, std::chrono::seconds(std::stoi(seconds) + 240));
  std::string json;
  for (const auto& l : r.lines) {
    std::printf("%s\n", l.c_str());  // the figures, in the ctest log
    if (!l.empty() && l.front() == '{') json = l;
  }
  ASSERT_EQ(r.exit_code, 0) << "the harness reported failed trials (see above)";
  ASSERT_FALSE(json.empty()) << "no summary from the harness";
  EXPECT_EQ(json_number(json, "leaks"), 0u);
  EXPECT_EQ(json_number(json, "over_released"), 0u);
  EXPECT_EQ(json_number(json, "bad_messages"), 0u);
  EXPECT_GT(json_number(json, "messages"), 0u);
  EXPECT_EQ(json_number(json, "trials"), json_number(json, "passed"));

  // The first trials walk through every crash point: each must have been
  // used (killed there, or at a random moment when the point was not
  // reached in time, which the harness reports separately).
  const HarnessRun list = run_harness({"--list-points"}, 30s);
  ASSERT_EQ(list.exit_code, 0);
  ASSERT_FALSE(list.lines.empty());
  std::size_t reached = 0;
  for (const auto& p : list.lines)
    if (json.find("\"" + p + "\":") != std::string::npos) ++reached;
  EXPECT_GE(reached, list.lines.size() * 2 / 3)
      << "most crash points should be reached within the trial budget";
}

}  // namespace
