#include "common/report.hpp"
#include "common/record.hpp"
#include "common/suite.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sluice::bench {
namespace {

Record latency(std::string transport, std::string mode, std::uint64_t payload, double p50,
               std::optional<double> floor = std::nullopt) {
  Record r;
  r.transport = std::move(transport);
  r.scenario = "S1";
  r.metric = "latency";
  r.mode = std::move(mode);
  r.read = "ends";
  r.payload_bytes = payload;
  r.n = 1000;
  r.p50_ns = p50;
  r.p99_ns = p50 * 2;
  r.p999_ns = p50 * 3;
  r.max_ns = p50 * 10;
  r.floor_p50_ns = floor;
  return r;
}

Record throughput(std::string transport, std::uint64_t payload, double rate) {
  Record r;
  r.transport = std::move(transport);
  r.scenario = "S2";
  r.metric = "throughput";
  r.mode = "busy";
  r.read = "all";
  r.payload_bytes = payload;
  r.n = 5000;
  r.msgs_per_s = rate;
  r.gb_per_s = rate * static_cast<double>(payload) * 1e-9;
  r.cpu_ns_per_msg = 300;
  r.cpu_tx_ns_per_msg = 100;
  r.cpu_rx_ns_per_msg = 200;
  return r;
}

ResultFile sample(bool with_sluice) {
  ResultFile f;
  f.header.tool = "test";
  f.header.commit = "abc123";
  f.header.settings["quick"] = "true";
  f.header.transports = {{"cacheline", "cache-line floor", "", true, 0},
                         {"sluice", "sluice", "", false, 10},
                         {"pipe", "pipe", "", false, 50}};
  Record floor = latency("cacheline", "busy", 8, 100);
  floor.note = "floor run before the first transport";
  f.records.push_back(floor);
  if (with_sluice) {
    f.records.push_back(latency("sluice", "busy", 8, 150, 100));
    f.records.push_back(latency("sluice", "busy", 1024, 160, 100));
    f.records.push_back(throughput("sluice", 8, 4e7));
  }
  f.records.push_back(latency("pipe", "busy", 8, 300, 120));
  Record big = latency("pipe", "busy", 1024, 0, 120);
  big.status = "unsupported";
  big.note = "pipe carries at most 8 B per message";
  big.p50_ns.reset();
  f.records.push_back(big);
  f.records.push_back(throughput("pipe", 8, 1e6));
  return f;
}

TEST(Report, RatiosAreToSluiceWhenItIsInTheFile) {
  const auto md = markdown_report(sample(true));
  EXPECT_NE(md.find("Ratios are to **sluice**"), std::string::npos);
  EXPECT_NE(md.find("300 ns (×2.00)"), std::string::npos) << md;  // 300 / 150
  EXPECT_NE(md.find("| 150 ns |"), std::string::npos) << md;      // sluice itself: no ratio
  EXPECT_NE(md.find("1.00 M/s · 0.00800 GB/s (×0.0250)"), std::string::npos) << md;
  EXPECT_NE(md.find("n/a"), std::string::npos);
  EXPECT_NE(md.find("pipe carries at most 8 B per message"), std::string::npos);
  EXPECT_NE(md.find("300 ns (100 ns + 200 ns)"), std::string::npos) << md;
}

TEST(Report, TheSummaryLeavesOutTailsAndRecords) {
  const auto full = markdown_report(sample(true), Detail::full);
  const auto summary = markdown_report(sample(true), Detail::summary);
  EXPECT_NE(full.find("S1 tails"), std::string::npos);
  EXPECT_NE(full.find("Every record"), std::string::npos);
  EXPECT_EQ(summary.find("S1 tails"), std::string::npos);
  EXPECT_EQ(summary.find("Every record"), std::string::npos);
  EXPECT_NE(summary.find("300 ns (×2.00)"), std::string::npos);
}

TEST(Report, OtherScenariosGetARowPerRecord) {
  auto f = sample(true);
  Record batch = throughput("sluice", 8, 4.2e7);
  batch.scenario = "S2-batch";
  batch.note = "batches of 64";
  f.records.push_back(batch);
  const auto md = markdown_report(f, Detail::summary);
  EXPECT_NE(md.find("#### S2-batch"), std::string::npos) << md;
  EXPECT_NE(md.find("| sluice | busy | 8 B | batches of 64 | 42.0 M/s |"), std::string::npos) << md;
}

TEST(Report, RatiosAreToEachRecordsFloorWithoutSluice) {
  const auto md = markdown_report(sample(false));
  EXPECT_NE(md.find("sluice is not in this run"), std::string::npos);
  EXPECT_NE(md.find("300 ns (×2.50)"), std::string::npos) << md;  // 300 / 120
  // Throughput has no floor: absolute numbers only.
  EXPECT_NE(md.find("| 1.00 M/s · 0.00800 GB/s |"), std::string::npos) << md;
  EXPECT_NE(md.find("cache-line floor p50 100 ns (median of 1 runs"), std::string::npos) << md;
}

TEST(Report, ResultFilesSurviveARoundTrip) {
  const auto original = sample(true);
  const std::string path =
      ::testing::TempDir() + "/sluice-bench-roundtrip-" + std::to_string(::getpid()) + ".json";
  ASSERT_TRUE(original.save(path));
  auto loaded = ResultFile::load(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(loaded) << loaded.error().what();
  ASSERT_EQ(loaded->records.size(), original.records.size());
  EXPECT_EQ(loaded->header.commit, "abc123");
  EXPECT_EQ(loaded->header.transports.size(), 3U);
  EXPECT_TRUE(loaded->header.transports[0].floor);
  for (std::size_t i = 0; i < original.records.size(); ++i) {
    EXPECT_EQ(loaded->records[i].key(), original.records[i].key());
    EXPECT_EQ(loaded->records[i].status, original.records[i].status);
    EXPECT_EQ(loaded->records[i].p50_ns, original.records[i].p50_ns);
    EXPECT_EQ(loaded->records[i].msgs_per_s, original.records[i].msgs_per_s);
    EXPECT_EQ(loaded->records[i].floor_p50_ns, original.records[i].floor_p50_ns);
  }
  EXPECT_EQ(markdown_report(*loaded), markdown_report(original));
}

TEST(Report, PlotDataHasAColumnPerTransportAndNaNForGaps) {
  const std::string dir = ::testing::TempDir() + "/sluice-bench-plot-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(write_plot_data(sample(true), dir));
  std::ifstream in(dir + "/latency_busy_ends.dat");
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove_all(dir);
  EXPECT_EQ(text.str(),
            " \"payload\" \"cache-line floor\" \"sluice\" \"pipe\"\n"
            " 8 100 150 300\n"
            " 1024 100 160 NaN\n");
}

TEST(Plan, CoversEveryScenarioAndSkipsReadAllAtEightBytes) {
  const auto all = suite_plan({});
  EXPECT_EQ(all.size(), 2U * (5 + 4) + 2 * 3 + 3 + 3);
  for (const auto& item : all) {
    EXPECT_FALSE(item.read == Read::all && item.payload == 8 &&
                 item.scenario == Scenario::s1_latency);
    if (is_fanout(item.scenario)) {
      EXPECT_EQ(item.receivers, 4U);
      EXPECT_EQ(item.wait, Wait::blocking);
    }
  }
  EXPECT_EQ(suite_plan({"S2"}).size(), 6U);
}

TEST(Plan, UnsupportedItemsSayWhy) {
  TransportInfo floor;
  floor.label = "cache-line floor";
  floor.max_payload = 56;
  floor.blocking = false;
  floor.fan_out = false;
  floor.streaming = false;
  EXPECT_NE(
      unsupported_reason(floor, {Scenario::s1_latency, Wait::busy, Read::ends, 64, 1}).find("56 B"),
      std::string::npos);
  EXPECT_NE(unsupported_reason(floor, {Scenario::s1_latency, Wait::blocking, Read::ends, 8, 1}),
            "");
  EXPECT_NE(unsupported_reason(floor, {Scenario::s2_stream, Wait::busy, Read::all, 8, 1}), "");
  EXPECT_NE(unsupported_reason(floor, {Scenario::s3_fanout_latency, Wait::busy, Read::ends, 8, 4}),
            "");
  EXPECT_EQ(unsupported_reason(floor, {Scenario::s1_latency, Wait::busy, Read::ends, 8, 1}), "");
}

TEST(Plan, LinkDepthsStayBetweenSixteenAndTwoHundredFiftySix) {
  EXPECT_EQ(link_depth(Scenario::s1_latency, 8), 2U);
  EXPECT_EQ(link_depth(Scenario::s2_stream, 8), 256U);
  EXPECT_EQ(link_depth(Scenario::s2_stream, 4096), 256U);
  EXPECT_EQ(link_depth(Scenario::s2_stream, 1 << 20), 16U);
  EXPECT_EQ(link_depth(Scenario::s3_fanout_stream, 64 << 20), 16U);
}

}  // namespace
}  // namespace sluice::bench
