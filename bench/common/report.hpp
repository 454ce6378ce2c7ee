#pragma once
// Tables and plot data from a result file.
//
// Ratios compare each transport with a reference at the same scenario, mode,
// read variant and payload size: sluice when the file holds sluice records,
// otherwise the floor measured around that transport (cache-line floor for
// busy-polling, futex floor for blocking; throughput has no floor and shows
// absolute numbers only). Ratio = transport / reference, so ×3 on a latency
// means three times slower and ×0.5 on a throughput half the rate.

#include "common/record.hpp"

#include <sluice/base/result.hpp>

#include <string>

namespace sluice::bench {

enum class Detail : std::uint8_t {
  summary,  // run, p50 latencies, throughput, CPU time, fan-out, floor runs
  full,     // and the latency tails and every record
};

// The Markdown tables of a result file.
std::string markdown_report(const ResultFile& file, Detail detail = Detail::full);

// Writes the gnuplot data files (whitespace-separated, one column per
// transport, a header row of quoted labels, NaN where a value is missing)
// into dir, which must exist:
//   latency_<busy|blocking>_<ends|all>.dat        S1 p50 against payload size
//   latency_<busy|blocking>_<ends|all>_p99.dat    S1 p99
//   floors.dat                                    floor p50 per mode
//   throughput_<busy|blocking>.dat                S2 messages/s per payload
//   throughput_<busy|blocking>_gbs.dat            S2 GB/s
//   fanout_latency.dat / fanout_throughput.dat    S3
Result<void> write_plot_data(const ResultFile& file, const std::string& dir);

}  // namespace sluice::bench
