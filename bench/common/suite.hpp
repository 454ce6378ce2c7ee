#pragma once
// The peer suite: every registered transport through every scenario, with
// the floors measured around each transport, written as one result file.

#include "common/measure.hpp"
#include "common/record.hpp"

#include <string>
#include <vector>

namespace sluice::bench {

struct PlanItem {
  Scenario scenario;
  Wait wait;
  Read read;
  std::uint64_t payload;
  std::uint32_t receivers;
};

struct SuiteOptions {
  std::string tool = "bench_peers";  // the program, recorded in the header
  bool quick = false;
  std::string out = "peers.json";
  std::vector<std::string> transports;  // empty: all registered
  std::vector<std::string> scenarios;   // "S1", "S2", "S3"; empty: all
  int cpu_a = 0;
  int cpu_b = 1;
  std::string commit = "unknown";
  std::string note;  // load conditions etc., copied to the header
  std::string build_type;
  // Nice value for the benchmark's processes (inherited through fork), so
  // that other load on the machine disturbs the measurements less; 0 keeps
  // the current priority. Lowering the nice value needs CAP_SYS_NICE or a
  // matching RLIMIT_NICE; without it the suite runs at normal priority and
  // says so in the header.
  int nice = -20;
  // SCHED_FIFO (priority 1) instead: other load cannot preempt the
  // measured processes (it keeps the 5 % the kernel reserves for it,
  // kernel.sched_rt_runtime_us). Needs CAP_SYS_NICE or RLIMIT_RTPRIO.
  bool realtime = false;
};

// The measurements of the suite, in the order they run. Payload sizes:
// S1 8 B .. 64 MiB; S2 and S3 streams 8 B, 4 KiB, 1 MiB; S3 latency 8 B,
// 64 KiB, 1 MiB. "read all" at 8 B is the same as "ends" and is skipped.
std::vector<PlanItem> suite_plan(const std::vector<std::string>& scenarios);

Budget suite_budget(Scenario s, bool quick, bool floor);

// Why a transport cannot run an item, or empty when it can.
std::string unsupported_reason(const TransportInfo& info, const PlanItem& item);

// Runs the suite and writes opts.out; prints one line per measurement.
// Returns a process exit status.
int run_suite(const SuiteOptions& opts);

// Command line of a suite program (bench_peers): parses, runs, returns the
// exit status.
int suite_main(int argc, char** argv);

}  // namespace sluice::bench
