#pragma once
// The result file: a header describing where and how the numbers were taken,
// then one record per measurement. Every benchmark family writes this
// format, so one report tool reads them all.
//
// {
//   "header": {"schema": 1, "tool": ..., "date": ..., "machine": {...}, "kernel": ...,
//              "compiler": ..., "build_type": ..., "commit": ..., "settings": {...},
//              "transports": [{"name", "label", "description", "floor"}...]},
//   "records": [
//     {"transport": "pipe", "scenario": "S1", "metric": "latency", "mode": "busy",
//      "read": "ends", "payload_bytes": 8, "receivers": 1, "status": "ok", "n": 100000,
//      "p50_ns": ..., "p99_ns": ..., "p999_ns": ..., "max_ns": ..., "msgs_per_s": null,
//      "gb_per_s": null, "floor_p50_ns": ..., ...},
//     ...]
// }
//
// Latency values are one-way nanoseconds; absent values are null.

#include "common/json.hpp"
#include "common/system.hpp"

#include <sluice/base/result.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sluice::bench {

inline constexpr int kResultSchema = 1;

struct Record {
  std::string transport;  // TransportInfo::name
  std::string scenario;   // "S1", "S2", "S3"
  std::string metric;     // "latency" or "throughput"
  std::string mode;       // "busy" or "blocking"
  std::string read;       // "ends" (first + last cache line) or "all" (every byte)
  std::uint64_t payload_bytes = 0;
  std::uint32_t receivers = 1;
  std::string status = "ok";  // "ok", "unsupported" or "failed"
  std::string note;           // why unsupported / failed; caveats
  std::uint64_t n = 0;        // latency: samples; throughput: messages

  std::optional<double> min_ns, mean_ns, p50_ns, p90_ns, p99_ns, p999_ns, p9999_ns, max_ns;
  std::optional<std::uint64_t> not_asleep;   // blocking latency: see Measurement
  std::optional<std::uint64_t> preemptions;  // involuntary context switches while measuring

  std::optional<double> msgs_per_s, gb_per_s, seconds;
  std::optional<double> cpu_ns_per_msg, cpu_tx_ns_per_msg, cpu_rx_ns_per_msg;

  // The floor matching this record's mode (cache-line floor for busy, futex
  // floor for blocking), averaged over the floor runs just before and just
  // after this transport; and both floors separately.
  std::optional<double> floor_p50_ns;
  std::optional<double> cacheline_floor_p50_ns;
  std::optional<double> futex_floor_p50_ns;

  // Records with the same key describe the same measurement.
  [[nodiscard]] std::string key() const;

  void write(JsonWriter& w) const;
  static Record read_json(const JsonValue& v);
};

struct TransportDescription {
  std::string name, label, description;
  bool floor = false;
  int order = 100;
};

struct RunHeader {
  std::string tool;
  std::string date;  // UTC, ISO 8601
  MachineInfo machine;
  std::string compiler;
  std::string build_type;
  std::string commit;
  double clock_overhead_ns = 0;
  // Flat settings: budgets, CPUs, library versions, load conditions.
  std::map<std::string, std::string> settings;
  std::vector<TransportDescription> transports;

  void write(JsonWriter& w) const;
  static RunHeader read_json(const JsonValue& v);
};

struct ResultFile {
  RunHeader header;
  std::vector<Record> records;

  [[nodiscard]] std::string to_json() const;  // one record per line
  Result<void> save(const std::string& path) const;
  static Result<ResultFile> load(const std::string& path);
};

}  // namespace sluice::bench
