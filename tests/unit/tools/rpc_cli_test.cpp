// sluice rpc list|describe|call against the sluice-conformance worker
// (exec: target, so each command spawns its own worker).
#include <sluice/tools/cli.hpp>

#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>

namespace sluice::tools {
namespace {

using nlohmann::json;

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run sluice(std::vector<std::string> args) {
  args.insert(args.begin(), "sluice");
  std::ostringstream out;
  std::ostringstream err;
  const int code = run_cli(args, {out, err});
  return {code, out.str(), err.str()};
}

std::string target() { return "exec:" + test::helper_path("sluice-conformance"); }

TEST(RpcCli, EveryCommandHasHelpWithJson) {
  for (const char* cmd : {"list", "describe", "call"}) {
    auto r = sluice({"rpc", cmd, "--help"});
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find("--json"), std::string::npos) << cmd;
    EXPECT_NE(r.out.find("TARGET"), std::string::npos) << cmd;
  }
  EXPECT_EQ(sluice({"rpc"}).code, 2);
  EXPECT_EQ(sluice({"rpc", "call", target()}).code, 2);  // no METHOD
}

TEST(RpcCli, ListNamesEveryProtocolWithItsVersion) {
  auto r = sluice({"rpc", "list", target(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = json::parse(r.out);
  std::vector<std::string> names;
  for (const auto& p : j["protocols"]) names.push_back(p["protocol"]);
  EXPECT_EQ(names, (std::vector<std::string>{"ConformanceService", "conformance.Secondary.v1",
                                             "vgi_rpc.Reflection.v1"}));
  EXPECT_EQ(j["protocols"][0]["protocol_version"], "1.0.0");
  auto text = sluice({"rpc", "list", target()});
  ASSERT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("ConformanceService"), std::string::npos);
}

TEST(RpcCli, DescribeShowsKindsAndTypes) {
  auto r = sluice({"rpc", "describe", target(), "ConformanceService"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("producer  produce_with_header(count: int64 not null)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("exchange  exchange_scale"), std::string::npos);
  auto j = sluice({"rpc", "describe", target(), "conformance.Secondary.v1", "--json"});
  ASSERT_EQ(j.code, 0) << j.err;
  const auto d = json::parse(j.out);
  ASSERT_EQ(d.size(), 1U);
  EXPECT_EQ(d[0]["methods"].size(), 3U);
}

TEST(RpcCli, CallsUnaryMethodsWithTypedJsonParameters) {
  const std::string m = "ConformanceService/";
  auto r = sluice(
      {"rpc", "call", target(), m + "concatenate", "-p", "prefix=a", "-p", "suffix=b", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["result"], "a-b");
  r = sluice(
      {"rpc", "call", target(), m + "echo_nested_list", "-p", "matrix=[[1,2],[],[3]]", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["result"], json::parse("[[1,2],[],[3]]"));
  r = sluice({"rpc", "call", target(), m + "echo_decimal", "-p", "value=\"-12.5\""});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "-12.5000\n");
  r = sluice({"rpc", "call", target(), m + "echo_date", "-p", "value=2024-02-29"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "2024-02-29\n");
  r = sluice({"rpc", "call", target(), m + "with_defaults", "--params", R"({"required": 7})"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("required=7, optional_str=default, optional_int=42"), std::string::npos);
}

TEST(RpcCli, ProducersPrintEveryBatchAndLogsGoToStderr) {
  auto r = sluice(
      {"rpc", "call", target(), "ConformanceService/produce_with_logs", "-p", "count=3", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const auto row = json::parse(line);
    EXPECT_EQ(row["value"], n * 10);
    ++n;
  }
  EXPECT_EQ(n, 3);
  EXPECT_NE(r.err.find("[INFO] producing batch 2"), std::string::npos) << r.err;
  auto capped = sluice({"rpc", "call", target(), "ConformanceService/cancellable_producer",
                        "--max-batches", "2", "--json"});
  ASSERT_EQ(capped.code, 0) << capped.err;
  EXPECT_EQ(capped.out, "{\"index\":0}\n{\"index\":1}\n");
}

// --shm offers the side channel; large batches come through the segment and
// print like any other.
TEST(RpcCli, SharedMemoryCallsPrintTheSameRows) {
  auto r =
      sluice({"rpc", "call", target(), "--shm", "8M", "ConformanceService/produce_large_batches",
              "-p", "rows_per_batch=20000", "-p", "batch_count=2", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const auto row = json::parse(line);
    ASSERT_EQ(row["value"], n * 10) << line;
    ++n;
  }
  EXPECT_EQ(n, 40000);
  auto bad = sluice({"rpc", "call", target(), "--shm", "12", "ConformanceService/void_noop"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("not a size above 64 KiB"), std::string::npos) << bad.err;
}

TEST(RpcCli, ErrorsExitOneWithCodeTypeAndMessage) {
  auto r = sluice(
      {"rpc", "call", target(), "ConformanceService/raise_value_error", "-p", "message=boom"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("ValueError: boom"), std::string::npos) << r.err;
  r = sluice({"rpc", "call", target(), "ConformanceService/raise_value_error", "-p", "message=boom",
              "--json"});
  EXPECT_EQ(r.code, 1);
  const auto e = json::parse(r.out)["error"];
  EXPECT_EQ(e["type"], "ValueError");
  EXPECT_EQ(e["remote_message"], "boom");
  r = sluice({"rpc", "call", target(), "conformance.Secondary.v1/fail", "-p", "code=UNAVAILABLE",
              "-p", "kind=server_draining", "-p", "retry_delay_seconds=1.5", "--json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(json::parse(r.out)["error"]["code"], "UNAVAILABLE");
  // Mistakes caught before the call, with what was expected.
  r = sluice({"rpc", "call", target(), "ConformanceService/echo_int", "-p", "value=abc"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("parameter 'value'"), std::string::npos) << r.err;
  r = sluice({"rpc", "call", target(), "ConformanceService/echo_int", "-p", "valeu=1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no parameter 'valeu' (it takes: value)"), std::string::npos) << r.err;
  r = sluice({"rpc", "call", target(), "echo_string", "-p", "value=x"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("PROTOCOL/METHOD"), std::string::npos) << r.err;
  r = sluice({"rpc", "call", target(), "ConformanceService/nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no method 'nope'"), std::string::npos) << r.err;
  r = sluice({"rpc", "call", "unix:/nonexistent/s.sock", "ConformanceService/echo_int"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("/nonexistent/s.sock"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sluice::tools
