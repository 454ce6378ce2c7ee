#include "common/suite.hpp"

#include "common/format.hpp"
#include "common/registry.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

namespace sluice::bench {

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t kMs = 1'000'000;

// The floors, by TransportInfo::name (bench/peers/transport_floors.cpp).
constexpr std::string_view kCachelineFloor = "cacheline";
constexpr std::string_view kFutexFloor = "futex";

bool wanted(const std::vector<std::string>& filter, std::string_view name) {
  return filter.empty() || std::find(filter.begin(), filter.end(), name) != filter.end();
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto end = s.find(sep, start);
    const auto part = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!part.empty()) out.push_back(part);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

Record base_record(const TransportInfo& info, const PlanItem& item) {
  Record r;
  r.transport = std::string(info.name);
  r.scenario = std::string(scenario_id(item.scenario));
  r.metric = std::string(scenario_metric(item.scenario));
  r.mode = std::string(to_string(item.wait));
  r.read = std::string(to_string(item.read));
  r.payload_bytes = item.payload;
  r.receivers = item.receivers;
  return r;
}

void fill_record(Record& r, const Measurement& m, Scenario s) {
  if (!m.ok) {
    r.status = "failed";
    r.note = m.error;
    return;
  }
  r.preemptions = m.preemptions;
  if (is_latency(s)) {
    r.n = m.latency.n;
    r.min_ns = m.latency.min;
    r.mean_ns = m.latency.mean;
    r.p50_ns = m.latency.p50;
    r.p90_ns = m.latency.p90;
    r.p99_ns = m.latency.p99;
    r.p999_ns = m.latency.p999;
    r.p9999_ns = m.latency.p9999;
    r.max_ns = m.latency.max;
    if (r.mode == "blocking") r.not_asleep = m.not_asleep;
  } else {
    r.n = m.messages;
    r.seconds = m.seconds;
    r.msgs_per_s = m.msgs_per_s;
    r.gb_per_s = m.gb_per_s;
    r.cpu_ns_per_msg = m.cpu_ns_per_msg;
    r.cpu_tx_ns_per_msg = m.cpu_tx_ns_per_msg;
    r.cpu_rx_ns_per_msg = m.cpu_rx_ns_per_msg;
  }
}

std::string describe(const Record& r) {
  std::string what = fmt::format("{:<16} {} {:<8} {:<4} {:>7}", r.transport, r.scenario, r.mode,
                                 r.metric == "latency" ? r.read : "", format_size(r.payload_bytes));
  if (r.status != "ok") return fmt::format("{}  {}: {}", what, r.status, r.note);
  const std::string preempted =
      r.preemptions.value_or(0) ? fmt::format("  preempted {}x", *r.preemptions) : "";
  if (r.metric == "latency") {
    return fmt::format("{}  n={:<8} p50 {:>9}  p99 {:>9}  p99.9 {:>9}  max {:>9}{}", what, r.n,
                       format_ns(r.p50_ns.value_or(0)), format_ns(r.p99_ns.value_or(0)),
                       format_ns(r.p999_ns.value_or(0)), format_ns(r.max_ns.value_or(0)),
                       preempted);
  }
  return fmt::format("{}  {:>8} msg/s {:>7} GB/s  cpu {:>9}/msg{}", what,
                     format_rate(r.msgs_per_s.value_or(0)), three_digits(r.gb_per_s.value_or(0)),
                     format_ns(r.cpu_ns_per_msg.value_or(0)), preempted);
}

// Applies the scheduling options to this process (and so to every child it
// forks); returns what the header should say.
std::string apply_scheduling(const SuiteOptions& opts) {
  if (opts.realtime) {
    const sched_param param{1};
    if (::sched_setscheduler(0, SCHED_FIFO, &param) == 0) return "SCHED_FIFO priority 1";
    const int err = errno;
    std::fprintf(stderr, "bench: cannot switch to SCHED_FIFO (%s); using nice %d\n",
                 std::strerror(err), opts.nice);
  }
  if (opts.nice == 0) return "SCHED_OTHER, nice unchanged";
  errno = 0;
  if (::setpriority(PRIO_PROCESS, 0, opts.nice) != 0) {
    const int err = errno;
    const int current = ::getpriority(PRIO_PROCESS, 0);
    std::fprintf(stderr, "bench: cannot set nice %d (%s); running at nice %d\n", opts.nice,
                 std::strerror(err), current);
    return fmt::format("SCHED_OTHER, nice {} (setting {} failed: {})", current, opts.nice,
                       std::strerror(err));
  }
  return fmt::format("SCHED_OTHER, nice {}", opts.nice);
}

class SuiteRunner {
 public:
  explicit SuiteRunner(const SuiteOptions& opts) : opts_(opts) {}

  int run();

 private:
  struct Floors {
    std::optional<double> cacheline;
    std::optional<double> futex;
  };

  Record run_one(const TransportEntry& t, const PlanItem& item);
  Floors run_floors(const std::vector<TransportEntry>& floors, std::string_view when);
  void annotate(std::size_t first, std::size_t last, const Floors& before, const Floors& after);
  void save();

  const SuiteOptions& opts_;
  ResultFile file_;
  unsigned counter_ = 0;
};

Record SuiteRunner::run_one(const TransportEntry& t, const PlanItem& item) {
  Record r = base_record(t.info, item);
  if (auto why = unsupported_reason(t.info, item); !why.empty()) {
    r.status = "unsupported";
    r.note = why;
  } else {
    MeasureSpec spec;
    spec.scenario = item.scenario;
    spec.wait = item.wait;
    spec.read = item.read;
    spec.payload = item.payload;
    spec.receivers = item.receivers;
    spec.budget = suite_budget(item.scenario, opts_.quick, t.info.is_floor);
    spec.name = fmt::format("sluice-b{}-{}", ::getpid(), ++counter_);
    spec.cpu_a = opts_.cpu_a;
    spec.cpu_b = opts_.cpu_b;
    fill_record(r, t.measure(spec), item.scenario);
  }
  std::printf("%s\n", describe(r).c_str());
  std::fflush(stdout);
  return r;
}

SuiteRunner::Floors SuiteRunner::run_floors(const std::vector<TransportEntry>& floors,
                                            std::string_view when) {
  Floors f;
  for (const auto& t : floors) {
    const Wait wait = t.info.busy ? Wait::busy : Wait::blocking;
    Record r = run_one(t, {Scenario::s1_latency, wait, Read::ends, 8, 1});
    r.note = r.note.empty() ? fmt::format("floor run {}", when)
                            : fmt::format("floor run {}: {}", when, r.note);
    if (r.status == "ok") {
      if (t.info.name == kCachelineFloor) f.cacheline = r.p50_ns;
      if (t.info.name == kFutexFloor) f.futex = r.p50_ns;
    }
    file_.records.push_back(std::move(r));
  }
  return f;
}

// Gives records [first, last) the floors measured just before and after them.
void SuiteRunner::annotate(std::size_t first, std::size_t last, const Floors& before,
                           const Floors& after) {
  const auto mean = [](std::optional<double> a, std::optional<double> b) -> std::optional<double> {
    if (a && b) return (*a + *b) / 2;
    return a ? a : b;
  };
  const auto cacheline = mean(before.cacheline, after.cacheline);
  const auto futex = mean(before.futex, after.futex);
  for (std::size_t i = first; i < last; ++i) {
    Record& r = file_.records[i];
    r.cacheline_floor_p50_ns = cacheline;
    r.futex_floor_p50_ns = futex;
    r.floor_p50_ns = r.mode == "busy" ? cacheline : futex;
  }
}

void SuiteRunner::save() {
  if (auto saved = file_.save(opts_.out); !saved) {
    std::fprintf(stderr, "bench: %s\n", saved.error().what().c_str());
  }
}

int SuiteRunner::run() {
  const auto all = registered_transports();
  std::vector<TransportEntry> floors;
  std::vector<TransportEntry> transports;
  for (const auto& t : all) {
    if (t.info.is_floor)
      floors.push_back(t);
    else if (wanted(opts_.transports, t.info.name))
      transports.push_back(t);
  }
  for (const auto& name : opts_.transports) {
    const bool known = std::any_of(all.begin(), all.end(),
                                   [&](const TransportEntry& t) { return t.info.name == name; });
    if (!known) {
      std::fprintf(stderr, "bench: unknown transport '%s' (see --list)\n", name.c_str());
      return 2;
    }
  }
  const int cpus = online_cpus();
  if (std::max(opts_.cpu_a, opts_.cpu_b) >= cpus) {
    std::fprintf(stderr, "bench: cpus %d,%d requested, %d online\n", opts_.cpu_a, opts_.cpu_b,
                 cpus);
    return 2;
  }

  RunHeader& h = file_.header;
  h.tool = opts_.tool;
  h.date = utc_timestamp();
  h.machine = describe_machine();
  h.compiler = compiler_id();
  h.build_type = opts_.build_type;
  h.commit = opts_.commit;
  h.clock_overhead_ns = clock_overhead_ns();
  h.settings["quick"] = opts_.quick ? "true" : "false";
  h.settings["cpus"] = fmt::format("{},{}", opts_.cpu_a, opts_.cpu_b);
  h.settings["budget_s1"] =
      fmt::format("warm-up {} ms, measure {} ms",
                  suite_budget(Scenario::s1_latency, opts_.quick, false).warmup_ns / kMs,
                  suite_budget(Scenario::s1_latency, opts_.quick, false).measure_ns / kMs);
  h.settings["budget_stream"] =
      fmt::format("warm-up {} ms, measure {} ms",
                  suite_budget(Scenario::s2_stream, opts_.quick, false).warmup_ns / kMs,
                  suite_budget(Scenario::s2_stream, opts_.quick, false).measure_ns / kMs);
  h.settings["fanout_receivers"] = "4";
  h.settings["scheduling"] = apply_scheduling(opts_);
  h.settings["loadavg_start"] = fmt::format("{:.2f} {:.2f} {:.2f}", h.machine.loadavg[0],
                                            h.machine.loadavg[1], h.machine.loadavg[2]);
  if (!opts_.note.empty()) h.settings["note"] = opts_.note;
  for (const auto& t : all) {
    if (t.info.is_floor || wanted(opts_.transports, t.info.name)) {
      h.transports.push_back({std::string(t.info.name), std::string(t.info.label),
                              std::string(t.info.description), t.info.is_floor, t.info.order});
    }
  }

  std::printf("%s: %s, %d CPUs, %s; processes on cpus %d and %d%s\n", h.tool.c_str(),
              h.machine.cpu_model.c_str(), h.machine.cpus, h.machine.kernel.c_str(), opts_.cpu_a,
              opts_.cpu_b, opts_.quick ? "; quick" : "");
  const std::uint64_t t_start = now_ns();
  const auto plan = suite_plan(opts_.scenarios);
  Floors previous = run_floors(floors, "before the first transport");
  for (const auto& t : transports) {
    const std::size_t first = file_.records.size();
    for (const auto& item : plan) file_.records.push_back(run_one(t, item));
    const std::size_t last = file_.records.size();
    const Floors after = run_floors(floors, fmt::format("after {}", t.info.name));
    annotate(first, last, previous, after);
    previous = after;
    save();
  }
  const MachineInfo end = describe_machine();
  h.settings["loadavg_end"] =
      fmt::format("{:.2f} {:.2f} {:.2f}", end.loadavg[0], end.loadavg[1], end.loadavg[2]);
  h.settings["duration_s"] = fmt::format("{:.0f}", static_cast<double>(now_ns() - t_start) * 1e-9);
  save();
  std::printf("%s: %zu records in %s s -> %s\n", h.tool.c_str(), file_.records.size(),
              h.settings["duration_s"].c_str(), opts_.out.c_str());
  const bool any_failed = std::any_of(file_.records.begin(), file_.records.end(),
                                      [](const Record& r) { return r.status == "failed"; });
  return any_failed ? 1 : 0;
}

void usage(std::FILE* to) {
  std::fprintf(
      to,
      "usage: bench_peers [--quick] [--out FILE.json] [--transports a,b,...]\n"
      "                   [--scenarios S1,S2,S3] [--cpus A,B] [--commit ID]\n"
      "                   [--build-type T] [--nice N] [--realtime] [--note TEXT] [--list]\n"
      "Runs every registered transport through the peer scenarios, with the\n"
      "cache-line and futex floors measured before and after each transport.\n"
      "--nice N: nice value of the benchmark processes (default -20; 0: unchanged).\n"
      "--realtime: SCHED_FIFO priority 1 instead, so other load cannot preempt them.\n");
}

}  // namespace

std::vector<PlanItem> suite_plan(const std::vector<std::string>& scenarios) {
  std::vector<PlanItem> plan;
  const std::uint64_t s1_sizes[] = {8, 1 * KiB, 64 * KiB, 1 * MiB, 64 * MiB};
  const std::uint64_t stream_sizes[] = {8, 4 * KiB, 1 * MiB};
  const std::uint64_t fanout_sizes[] = {8, 64 * KiB, 1 * MiB};
  if (wanted(scenarios, "S1")) {
    for (const Wait w : {Wait::busy, Wait::blocking}) {
      for (const Read r : {Read::ends, Read::all}) {
        for (const auto size : s1_sizes) {
          if (r == Read::all && size <= kHeaderBytes) continue;
          plan.push_back({Scenario::s1_latency, w, r, size, 1});
        }
      }
    }
  }
  if (wanted(scenarios, "S2")) {
    for (const Wait w : {Wait::busy, Wait::blocking}) {
      for (const auto size : stream_sizes)
        plan.push_back({Scenario::s2_stream, w, Read::all, size, 1});
    }
  }
  if (wanted(scenarios, "S3")) {
    // Blocking only: the four receivers share one core (see docs/benchmarks.md).
    for (const auto size : fanout_sizes) {
      plan.push_back({Scenario::s3_fanout_latency, Wait::blocking, Read::ends, size, 4});
    }
    for (const auto size : stream_sizes) {
      plan.push_back({Scenario::s3_fanout_stream, Wait::blocking, Read::all, size, 4});
    }
  }
  return plan;
}

Budget suite_budget(Scenario s, bool quick, bool floor) {
  Budget b;
  if (floor) {
    b.warmup_ns = (quick ? 20 : 50) * kMs;
    b.measure_ns = (quick ? 100 : 300) * kMs;
  } else if (s == Scenario::s1_latency) {
    b.warmup_ns = (quick ? 20 : 100) * kMs;
    b.measure_ns = (quick ? 100 : 900) * kMs;
  } else {
    b.warmup_ns = (quick ? 20 : 100) * kMs;
    b.measure_ns = (quick ? 100 : 500) * kMs;
  }
  b.min_warmup = quick ? 2 : 3;
  b.min_iterations = quick ? 3 : 10;
  b.max_iterations = 5'000'000;
  return b;
}

std::string unsupported_reason(const TransportInfo& info, const PlanItem& item) {
  if (item.payload > info.max_payload) {
    return fmt::format("{} carries at most {} per message", info.label,
                       format_size(info.max_payload));
  }
  if (item.wait == Wait::busy && !info.busy)
    return fmt::format("{} has no busy-polling receive", info.label);
  if (item.wait == Wait::blocking && !info.blocking)
    return fmt::format("{} has no blocking receive", info.label);
  if (!is_latency(item.scenario) && !info.streaming)
    return fmt::format("{} cannot stream", info.label);
  if (item.receivers > 1 && !info.fan_out) return fmt::format("{} has no fan-out", info.label);
  return {};
}

int run_suite(const SuiteOptions& opts) { return SuiteRunner(opts).run(); }

int suite_main(int argc, char** argv) {
  SuiteOptions opts;
  if (argc > 0) {
    const std::string_view self = argv[0];
    opts.tool = std::string(self.substr(self.rfind('/') + 1));  // npos + 1 == 0
  }
#ifdef SLUICE_BENCH_BUILD_TYPE
  opts.build_type = SLUICE_BENCH_BUILD_TYPE;
#endif
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--quick") {
      opts.quick = true;
    } else if (a == "--out") {
      opts.out = next();
    } else if (a == "--transports") {
      opts.transports = split(next(), ',');
    } else if (a == "--scenarios") {
      opts.scenarios = split(next(), ',');
    } else if (a == "--cpus") {
      const auto cpus = split(next(), ',');
      if (cpus.size() != 2) {
        std::fprintf(stderr, "bench: --cpus takes two CPU numbers, e.g. 0,1\n");
        return 2;
      }
      opts.cpu_a = std::atoi(cpus[0].c_str());
      opts.cpu_b = std::atoi(cpus[1].c_str());
    } else if (a == "--commit") {
      opts.commit = next();
    } else if (a == "--build-type") {
      opts.build_type = next();
    } else if (a == "--nice") {
      opts.nice = std::atoi(next().c_str());
    } else if (a == "--realtime") {
      opts.realtime = true;
    } else if (a == "--note") {
      opts.note = next();
    } else if (a == "--list") {
      for (const auto& t : registered_transports()) {
        std::printf("%-16s %s%s\n", std::string(t.info.name).c_str(),
                    t.info.is_floor ? "[floor] " : "", std::string(t.info.description).c_str());
      }
      return 0;
    } else if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "bench: unknown option %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  return run_suite(opts);
}

}  // namespace sluice::bench
