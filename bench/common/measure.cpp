#include "common/measure.hpp"

#include "common/scenarios.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace sluice::bench {

namespace {

// Where fatal() stores its message in a child: that child's report. Set by
// run_role after fork(), so each child has its own.
ProcessReport* g_report = nullptr;

void store_error(ProcessReport& r, std::string_view message) noexcept {
  const std::size_t n = std::min(message.size(), sizeof(r.error) - 1);
  std::memcpy(r.error, message.data(), n);
  r.error[n] = '\0';
}

}  // namespace

void fatal_message(std::string_view message) noexcept {
  std::fprintf(stderr, "bench: %.*s\n", static_cast<int>(message.size()), message.data());
  if (g_report) store_error(*g_report, message);
  std::fflush(nullptr);
  ::_exit(3);
}

std::string_view to_string(Wait w) noexcept { return w == Wait::busy ? "busy" : "blocking"; }
std::string_view to_string(Read r) noexcept { return r == Read::ends ? "ends" : "all"; }

std::string_view scenario_id(Scenario s) noexcept {
  switch (s) {
    case Scenario::s1_latency:
      return "S1";
    case Scenario::s2_stream:
      return "S2";
    case Scenario::s3_fanout_latency:
    case Scenario::s3_fanout_stream:
      return "S3";
  }
  return "?";
}

bool is_latency(Scenario s) noexcept {
  return s == Scenario::s1_latency || s == Scenario::s3_fanout_latency;
}

bool is_fanout(Scenario s) noexcept {
  return s == Scenario::s3_fanout_latency || s == Scenario::s3_fanout_stream;
}

std::string_view scenario_metric(Scenario s) noexcept {
  return is_latency(s) ? "latency" : "throughput";
}

std::uint32_t link_depth(Scenario s, std::uint64_t payload) noexcept {
  if (is_latency(s)) return 2;
  const std::uint64_t by_bytes = (16ULL << 20) / std::max<std::uint64_t>(payload, 1);
  return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(by_bytes, 16, 256));
}

void UsageWindow::end(ProcessReport& report) const noexcept {
  if (!started_) return;
  const Usage now = usage_now();
  report.cpu_ns = now.cpu_ns - start_.cpu_ns;
  report.preemptions = now.preemptions - start_.preemptions;
}

namespace detail {

std::string process_name(const MeasureSpec& spec, std::uint32_t slot) {
  return fmt::format("{}-{}", spec.name, slot);
}

int run_role(Control& control, std::uint32_t slot, const std::function<Result<void>()>& role) {
  g_report = &control.report[slot];
  control.pid[slot].store(static_cast<std::int32_t>(::getpid()), std::memory_order_release);
  auto r = role();
  if (!r) {
    const auto msg = r.error().what();
    std::fprintf(stderr, "bench: %s\n", msg.c_str());
    store_error(control.report[slot], msg);
    return 1;
  }
  return 0;
}

std::string first_child_error(const Control& control, std::string fallback) {
  for (const auto& r : control.report) {
    if (r.error[0] != '\0') return r.error;
  }
  return fallback;
}

void collect(const MeasureSpec& spec, const Control& c, std::uint32_t receivers, Measurement& m) {
  for (std::uint32_t p = 0; p <= receivers; ++p) m.preemptions += c.report[p].preemptions;
  if (is_latency(spec.scenario)) {
    m.latency = c.latency;
    m.not_asleep = c.not_asleep;
    return;
  }
  const ProcessReport& tx = c.report[0];
  std::uint64_t last = 0;
  std::uint64_t rx_cpu = 0;
  for (std::uint32_t p = 1; p <= receivers; ++p) {
    last = std::max(last, c.report[p].last_ns);
    rx_cpu += c.report[p].cpu_ns;
  }
  m.messages = tx.messages;
  m.seconds = last > tx.first_ns ? static_cast<double>(last - tx.first_ns) * 1e-9 : 0.0;
  if (m.seconds > 0 && m.messages > 0) {
    const auto n = static_cast<double>(m.messages);
    m.msgs_per_s = n / m.seconds;
    m.gb_per_s = n * static_cast<double>(spec.payload) / m.seconds * 1e-9;
    m.cpu_tx_ns_per_msg = static_cast<double>(tx.cpu_ns) / n;
    m.cpu_rx_ns_per_msg = static_cast<double>(rx_cpu) / n;
    m.cpu_ns_per_msg = m.cpu_tx_ns_per_msg + m.cpu_rx_ns_per_msg;
  }
}

}  // namespace detail

}  // namespace sluice::bench
