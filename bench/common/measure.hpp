#pragma once
// One measurement: what to measure (MeasureSpec), what came out
// (Measurement), and the control block its processes share.

#include "common/histogram.hpp"
#include "common/shared.hpp"
#include "common/system.hpp"
#include "common/transport.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::bench {

enum class Scenario : std::uint8_t {
  s1_latency,         // ping-pong between two processes; one-way latency = round trip / 2
  s2_stream,          // one sender streams to one receiver as fast as it can, lossless
  s3_fanout_latency,  // one publisher, N receivers; publish -> the last receiver has it
  s3_fanout_stream,   // one publisher streams to N receivers, lossless
};

// How much of a received message the receiver reads.
enum class Read : std::uint8_t {
  ends,  // the first and the last cache line: the transport's own cost
  all,   // every byte: what an application that uses the data pays end to end
};

std::string_view scenario_id(Scenario s) noexcept;      // "S1", "S2", "S3"
std::string_view scenario_metric(Scenario s) noexcept;  // "latency" or "throughput"
bool is_latency(Scenario s) noexcept;
bool is_fanout(Scenario s) noexcept;
std::string_view to_string(Read r) noexcept;

// When a measurement stops: after a warm-up of at least warmup_ns and
// min_warmup iterations, it measures for measure_ns, but never fewer than
// min_iterations nor more than max_iterations.
struct Budget {
  std::uint64_t warmup_ns = 0;
  std::uint64_t min_warmup = 3;
  std::uint64_t measure_ns = 0;
  std::uint64_t min_iterations = 5;
  std::uint64_t max_iterations = UINT64_MAX;
};

struct MeasureSpec {
  Scenario scenario = Scenario::s1_latency;
  Wait wait = Wait::busy;
  Read read = Read::ends;
  std::uint64_t payload = 8;
  std::uint32_t receivers = 1;  // fan-out scenarios
  Budget budget;
  std::string name;                                    // unique prefix for link and process names
  int cpu_a = 0;                                       // the initiator / publisher
  int cpu_b = 1;                                       // the responder / receivers
  std::uint64_t setup_timeout_ns = 20'000'000'000ULL;  // endpoints + connection
  std::uint64_t asleep_timeout_ns = 2'000'000ULL;      // blocking: wait for a sleeping receiver
};

struct Measurement {
  bool ok = false;
  std::string error;
  // Latency scenarios: one-way nanoseconds (S1: round trip / 2; S3: from
  // publish until the last receiver has read the message).
  Percentiles latency;
  // Blocking latency scenarios: iterations that began before the receiver
  // was seen asleep (it was still on its way into the wait).
  std::uint64_t not_asleep = 0;
  // Involuntary context switches of all processes while measuring: other
  // load took the CPU from them. Zero on a quiet machine.
  std::uint64_t preemptions = 0;
  // Streaming scenarios.
  std::uint64_t messages = 0;
  double seconds = 0;
  double msgs_per_s = 0;
  double gb_per_s = 0;
  double cpu_ns_per_msg = 0;     // sender + all receivers
  double cpu_tx_ns_per_msg = 0;  // sender
  double cpu_rx_ns_per_msg = 0;  // receivers, summed
};

// Link depth the harness asks for: ping-pong needs one message in flight;
// streams get enough to keep both sides busy without holding more than a
// few MiB (at least 16 messages, at most 256).
std::uint32_t link_depth(Scenario s, std::uint64_t payload) noexcept;

// ---- shared between the processes of a measurement ------------------------

inline constexpr std::uint32_t kMaxReceivers = 8;
inline constexpr std::uint32_t kMaxProcesses = 1 + kMaxReceivers;

// What one process reports; written by that process only, read by the
// parent after the process exited (process exit orders the accesses).
struct ProcessReport;

// Resource usage over a role's measured phase: begin() when it starts
// (once), end() when the role finishes.
class UsageWindow {
 public:
  void begin() noexcept {
    if (!started_) start_ = usage_now();
    started_ = true;
  }
  void end(ProcessReport& report) const noexcept;

 private:
  bool started_ = false;
  Usage start_;
};

struct ProcessReport {
  std::uint64_t cpu_ns = 0;       // CPU time over the measured phase
  std::uint64_t preemptions = 0;  // involuntary context switches over the measured phase
  std::uint64_t first_ns = 0;     // monotonic time the measured phase began
  std::uint64_t last_ns = 0;      // monotonic time the measured phase ended
  std::uint64_t messages = 0;     // measured messages sent or received
  char error[256] = {};
};

struct Control {
  ProcessBarrier start;
  // S3 latency: receivers count their acknowledgements here; the publisher
  // spins on it. Release by each receiver's fetch_add, acquire by the
  // publisher's load.
  PaddedCounter acks;
  // ready[p] = k + 1 once process p has prepared everything for message k
  // and is about to wait for it (release store; the initiator's acquire load
  // sees the preparation done). Keeps untimed work out of the timed trip.
  PaddedCounter ready[kMaxProcesses];
  std::atomic<std::int32_t> pid[kMaxProcesses];
  ProcessReport report[kMaxProcesses];
  // Written by the initiator / publisher.
  Percentiles latency;
  std::uint64_t not_asleep = 0;
};
static_assert(std::is_trivially_destructible_v<Control>);
static_assert(alignof(Control) == 64);

}  // namespace sluice::bench
