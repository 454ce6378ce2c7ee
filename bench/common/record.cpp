#include "common/record.hpp"

#include <cerrno>
#include <fstream>
#include <sstream>

namespace sluice::bench {

std::string Record::key() const {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}", transport, scenario, metric, mode, read, payload_bytes,
                     receivers);
}

void Record::write(JsonWriter& w) const {
  w.begin_object();
  w.field("transport", transport).field("scenario", scenario).field("metric", metric);
  w.field("mode", mode).field("read", read).field("payload_bytes", payload_bytes);
  w.field("receivers", receivers).field("status", status);
  if (!note.empty()) w.field("note", note);
  w.field("n", n);
  w.field("p50_ns", p50_ns).field("p99_ns", p99_ns).field("p999_ns", p999_ns);
  w.field("max_ns", max_ns).field("msgs_per_s", msgs_per_s).field("gb_per_s", gb_per_s);
  w.field("floor_p50_ns", floor_p50_ns);
  w.field("min_ns", min_ns).field("mean_ns", mean_ns).field("p90_ns", p90_ns);
  w.field("p9999_ns", p9999_ns).field("not_asleep", not_asleep).field("preemptions", preemptions);
  w.field("seconds", seconds).field("cpu_ns_per_msg", cpu_ns_per_msg);
  w.field("cpu_tx_ns_per_msg", cpu_tx_ns_per_msg).field("cpu_rx_ns_per_msg", cpu_rx_ns_per_msg);
  w.field("cacheline_floor_p50_ns", cacheline_floor_p50_ns);
  w.field("futex_floor_p50_ns", futex_floor_p50_ns);
  w.end_object();
}

Record Record::read_json(const JsonValue& v) {
  Record r;
  r.transport = v["transport"].string();
  r.scenario = v["scenario"].string();
  r.metric = v["metric"].string();
  r.mode = v["mode"].string();
  r.read = v["read"].string();
  r.payload_bytes = static_cast<std::uint64_t>(v["payload_bytes"].number());
  r.receivers = static_cast<std::uint32_t>(v["receivers"].number(1));
  r.status = v["status"].string("ok");
  r.note = v["note"].string();
  r.n = static_cast<std::uint64_t>(v["n"].number());
  r.min_ns = v["min_ns"].optional_number();
  r.mean_ns = v["mean_ns"].optional_number();
  r.p50_ns = v["p50_ns"].optional_number();
  r.p90_ns = v["p90_ns"].optional_number();
  r.p99_ns = v["p99_ns"].optional_number();
  r.p999_ns = v["p999_ns"].optional_number();
  r.p9999_ns = v["p9999_ns"].optional_number();
  r.max_ns = v["max_ns"].optional_number();
  if (auto a = v["not_asleep"].optional_number()) r.not_asleep = static_cast<std::uint64_t>(*a);
  if (auto p = v["preemptions"].optional_number()) r.preemptions = static_cast<std::uint64_t>(*p);
  r.msgs_per_s = v["msgs_per_s"].optional_number();
  r.gb_per_s = v["gb_per_s"].optional_number();
  r.seconds = v["seconds"].optional_number();
  r.cpu_ns_per_msg = v["cpu_ns_per_msg"].optional_number();
  r.cpu_tx_ns_per_msg = v["cpu_tx_ns_per_msg"].optional_number();
  r.cpu_rx_ns_per_msg = v["cpu_rx_ns_per_msg"].optional_number();
  r.floor_p50_ns = v["floor_p50_ns"].optional_number();
  r.cacheline_floor_p50_ns = v["cacheline_floor_p50_ns"].optional_number();
  r.futex_floor_p50_ns = v["futex_floor_p50_ns"].optional_number();
  return r;
}

void RunHeader::write(JsonWriter& w) const {
  w.begin_object();
  w.field("schema", kResultSchema).field("tool", tool).field("date", date);
  w.key("machine").begin_object();
  w.field("cpu", machine.cpu_model).field("cpus", machine.cpus);
  w.field("hypervisor", machine.hypervisor).field("memory_bytes", machine.memory_bytes);
  w.field("hostname", machine.hostname).field("clocksource", machine.clocksource);
  w.field("governor", machine.governor);
  w.key("loadavg").begin_array();
  for (const double l : machine.loadavg) w.value(l);
  w.end_array();
  w.end_object();
  w.field("kernel", machine.kernel).field("compiler", compiler);
  w.field("build_type", build_type).field("commit", commit);
  w.field("clock_overhead_ns", clock_overhead_ns);
  w.key("settings").begin_object();
  for (const auto& [k, v] : settings) w.field(k, v);
  w.end_object();
  w.key("transports").begin_array();
  for (const auto& t : transports) {
    w.begin_object();
    w.field("name", t.name).field("label", t.label).field("description", t.description);
    w.field("floor", t.floor).field("order", t.order);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

RunHeader RunHeader::read_json(const JsonValue& v) {
  RunHeader h;
  h.tool = v["tool"].string();
  h.date = v["date"].string();
  const auto& m = v["machine"];
  h.machine.cpu_model = m["cpu"].string();
  h.machine.cpus = static_cast<int>(m["cpus"].number());
  h.machine.hypervisor = m["hypervisor"].string();
  h.machine.memory_bytes = static_cast<std::uint64_t>(m["memory_bytes"].number());
  h.machine.hostname = m["hostname"].string();
  h.machine.clocksource = m["clocksource"].string();
  h.machine.governor = m["governor"].string();
  const auto& load = m["loadavg"].array();
  for (std::size_t i = 0; i < 3 && i < load.size(); ++i) h.machine.loadavg[i] = load[i].number();
  h.machine.kernel = v["kernel"].string();
  h.compiler = v["compiler"].string();
  h.build_type = v["build_type"].string();
  h.commit = v["commit"].string();
  h.clock_overhead_ns = v["clock_overhead_ns"].number();
  for (const auto& [k, s] : v["settings"].object()) h.settings[k] = s.string();
  for (const auto& t : v["transports"].array()) {
    h.transports.push_back({t["name"].string(), t["label"].string(), t["description"].string(),
                            t["floor"].boolean(), static_cast<int>(t["order"].number(100))});
  }
  return h;
}

std::string ResultFile::to_json() const {
  std::string out = "{\"header\": ";
  JsonWriter hw(out);
  header.write(hw);
  out += ",\n\"records\": [";
  for (std::size_t i = 0; i < records.size(); ++i) {
    out += i ? ",\n  " : "\n  ";
    JsonWriter rw(out);
    records[i].write(rw);
  }
  out += "\n]}\n";
  return out;
}

Result<void> ResultFile::save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return fail(Error::from_errno(errno, fmt::format("open '{}'", tmp)));
    out << to_json();
    if (!out.flush()) return fail(Error::from_errno(errno, fmt::format("write '{}'", tmp)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(Error::from_errno(errno, fmt::format("rename '{}'", tmp)));
  }
  return ok();
}

Result<ResultFile> ResultFile::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(Error::from_errno(errno, fmt::format("open '{}'", path)));
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = JsonValue::parse(ss.str());
  if (!doc) return fail(doc.error().context(fmt::format("read '{}'", path)));
  ResultFile f;
  f.header = RunHeader::read_json((*doc)["header"]);
  for (const auto& r : (*doc)["records"].array()) f.records.push_back(Record::read_json(r));
  return f;
}

}  // namespace sluice::bench
