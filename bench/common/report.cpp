#include "common/report.hpp"

#include "common/format.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <set>

namespace sluice::bench {

namespace {

constexpr std::string_view kReference = "sluice";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Column {
  std::string name;
  std::string label;
};

// A Markdown table; the first column is left-aligned, the others right.
class MdTable {
 public:
  explicit MdTable(std::vector<std::string> header) : header_(std::move(header)) {}
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  [[nodiscard]] std::string str() const {
    std::string out = line(header_);
    out += "|";
    for (std::size_t i = 0; i < header_.size(); ++i) out += i == 0 ? ":---|" : "---:|";
    out += "\n";
    for (const auto& r : rows_) out += line(r);
    return out;
  }

 private:
  static std::string line(const std::vector<std::string>& cells) {
    std::string out = "|";
    for (const auto& c : cells) out += fmt::format(" {} |", c);
    return out + "\n";
  }
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

class Index {
 public:
  explicit Index(const ResultFile& f) : file_(f) {
    std::set<std::string> seen;
    auto described = f.header.transports;
    std::stable_sort(described.begin(), described.end(),
                     [](const auto& a, const auto& b) { return a.order < b.order; });
    for (const auto& t : described) {
      if (!t.floor && seen.insert(t.name).second) columns_.push_back({t.name, t.label});
    }
    for (const auto& r : f.records) {
      if (!is_floor(r.transport) && seen.insert(r.transport).second) {
        columns_.push_back({r.transport, r.transport});
      }
      if (r.transport == kReference && r.status == "ok") has_reference_ = true;
    }
  }

  [[nodiscard]] const std::vector<Column>& columns() const { return columns_; }
  [[nodiscard]] bool has_reference() const { return has_reference_; }

  [[nodiscard]] bool is_floor(const std::string& name) const {
    for (const auto& t : file_.header.transports) {
      if (t.name == name) return t.floor;
    }
    return name == "cacheline" || name == "futex";
  }

  [[nodiscard]] const Record* find(std::string_view transport, std::string_view scenario,
                                   std::string_view metric, std::string_view mode,
                                   std::string_view read, std::uint64_t payload) const {
    for (const auto& r : file_.records) {
      if (r.transport == transport && r.scenario == scenario && r.metric == metric &&
          r.mode == mode && r.read == read && r.payload_bytes == payload) {
        return &r;
      }
    }
    return nullptr;
  }

  // Payload sizes measured for a table, ascending.
  [[nodiscard]] std::vector<std::uint64_t> payloads(std::string_view scenario,
                                                    std::string_view metric, std::string_view mode,
                                                    std::string_view read) const {
    std::set<std::uint64_t> sizes;
    for (const auto& r : file_.records) {
      if (!is_floor(r.transport) && r.scenario == scenario && r.metric == metric &&
          r.mode == mode && r.read == read) {
        sizes.insert(r.payload_bytes);
      }
    }
    return {sizes.begin(), sizes.end()};
  }

  // The ok p50s of every run of one floor, in run order.
  [[nodiscard]] std::vector<double> floor_runs(std::string_view name) const {
    std::vector<double> v;
    for (const auto& r : file_.records) {
      if (r.transport == name && r.status == "ok" && r.p50_ns) v.push_back(*r.p50_ns);
    }
    return v;
  }

  // What r is compared with (see report.hpp); nullopt when nothing fits.
  [[nodiscard]] std::optional<double> reference(const Record& r) const {
    if (has_reference_) {
      const Record* s = find(kReference, r.scenario, r.metric, r.mode, r.read, r.payload_bytes);
      if (!s || s->status != "ok") return std::nullopt;
      return r.metric == "latency" ? s->p50_ns : s->msgs_per_s;
    }
    return r.metric == "latency" ? r.floor_p50_ns : std::nullopt;
  }

  [[nodiscard]] const ResultFile& file() const { return file_; }

 private:
  const ResultFile& file_;
  std::vector<Column> columns_;
  bool has_reference_ = false;
};

std::string status_cell(const Record* r) {
  if (!r) return "—";
  if (r->status == "unsupported") return "n/a";
  return r->status;  // "failed"
}

std::string ratio_suffix(const Index& ix, const Record& r, double value) {
  if (ix.has_reference() && r.transport == kReference) return "";
  const auto ref = ix.reference(r);
  if (!ref || *ref <= 0) return "";
  return fmt::format(" ({})", format_ratio(value / *ref));
}

std::string latency_cell(const Index& ix, const Record* r) {
  if (!r || r->status != "ok" || !r->p50_ns) return status_cell(r);
  return format_ns(*r->p50_ns) + ratio_suffix(ix, *r, *r->p50_ns);
}

std::string tails_cell(const Record* r) {
  if (!r || r->status != "ok") return status_cell(r);
  return fmt::format("{} · {} · {}", format_ns(r->p99_ns.value_or(kNaN)),
                     format_ns(r->p999_ns.value_or(kNaN)), format_ns(r->max_ns.value_or(kNaN)));
}

std::string throughput_cell(const Index& ix, const Record* r) {
  if (!r || r->status != "ok" || !r->msgs_per_s) return status_cell(r);
  return fmt::format("{}/s · {} GB/s{}", format_rate(*r->msgs_per_s),
                     three_digits(r->gb_per_s.value_or(kNaN)),
                     ratio_suffix(ix, *r, *r->msgs_per_s));
}

std::string cpu_cell(const Record* r) {
  if (!r || r->status != "ok" || !r->cpu_ns_per_msg) return status_cell(r);
  return fmt::format("{} ({} + {})", format_ns(*r->cpu_ns_per_msg),
                     format_ns(r->cpu_tx_ns_per_msg.value_or(kNaN)),
                     format_ns(r->cpu_rx_ns_per_msg.value_or(kNaN)));
}

std::vector<std::string> header_row(const Index& ix) {
  std::vector<std::string> h{"payload"};
  for (const auto& c : ix.columns()) h.push_back(c.label);
  return h;
}

std::string table(const Index& ix, std::string_view scenario, std::string_view metric,
                  std::string_view mode, std::string_view read,
                  const std::function<std::string(const Record*)>& cell) {
  const auto sizes = ix.payloads(scenario, metric, mode, read);
  if (sizes.empty()) return {};
  MdTable t(header_row(ix));
  for (const auto size : sizes) {
    std::vector<std::string> row{format_size(size)};
    for (const auto& c : ix.columns())
      row.push_back(cell(ix.find(c.name, scenario, metric, mode, read, size)));
    t.row(std::move(row));
  }
  return t.str();
}

double median(std::vector<double> v) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string floor_summary(const Index& ix, std::string_view name, std::string_view label) {
  const auto runs = ix.floor_runs(name);
  if (runs.empty()) return fmt::format("{}: not measured", label);
  const auto [lo, hi] = std::minmax_element(runs.begin(), runs.end());
  return fmt::format("{} p50 {} (median of {} runs, {} – {})", label, format_ns(median(runs)),
                     runs.size(), format_ns(*lo), format_ns(*hi));
}

std::string run_table(const RunHeader& h) {
  MdTable t({"", ""});
  const auto& m = h.machine;
  t.row({"date", h.date});
  t.row({"machine",
         fmt::format("{}, {} CPUs, hypervisor: {}, {} RAM, clocksource {}", m.cpu_model, m.cpus,
                     m.hypervisor, format_size((m.memory_bytes >> 20) << 20), m.clocksource)});
  t.row({"kernel", m.kernel});
  t.row({"compiler",
         h.build_type.empty() ? h.compiler : fmt::format("{} ({})", h.compiler, h.build_type)});
  t.row({"commit", h.commit});
  t.row({"clock", fmt::format("CLOCK_MONOTONIC, {} per read", format_ns(h.clock_overhead_ns))});
  std::string settings;
  for (const auto& [k, v] : h.settings) {
    if (k == "note") continue;
    settings += (settings.empty() ? "" : "; ") + k + ": " + v;
  }
  t.row({"settings", settings});
  if (auto it = h.settings.find("note"); it != h.settings.end()) t.row({"note", it->second});
  return t.str();
}

std::string reference_text(const Index& ix) {
  if (ix.has_reference()) {
    return "Ratios are to **sluice** at the same scenario, mode and size (transport / sluice: ×3 "
           "on a latency is three times slower, ×0.5 on a throughput half the rate).";
  }
  return "sluice is not in this run, so latency ratios are to the **floor** measured just before "
         "and after each transport (cache-line floor for busy-polling, futex floor for blocking); "
         "throughput is shown without ratios.";
}

}  // namespace

std::string markdown_report(const ResultFile& file, Detail detail) {
  const bool full = detail == Detail::full;
  const Index ix(file);
  std::string md;
  md += run_table(file.header) + "\n";
  md += reference_text(ix) + "\n\n";
  md += fmt::format("Floors: {}; {}.\n\n", floor_summary(ix, "cacheline", "cache-line floor"),
                    floor_summary(ix, "futex", "futex floor"));

  const auto latency = [&](const Record* r) { return latency_cell(ix, r); };
  const auto throughput = [&](const Record* r) { return throughput_cell(ix, r); };
  for (const std::string_view mode : {"busy", "blocking"}) {
    const std::string_view how = mode == "busy" ? "busy-polling" : "blocking";
    for (const std::string_view read : {"ends", "all"}) {
      const auto t = table(ix, "S1", "latency", mode, read, latency);
      if (t.empty()) continue;
      md += fmt::format("#### S1 one-way latency, {}, receiver reads {} — p50\n\n", how,
                        read == "ends" ? "the first and last cache line" : "every byte");
      md += t + "\n";
    }
    const auto tails = full ? table(ix, "S1", "latency", mode, "ends", tails_cell) : std::string();
    if (!tails.empty()) {
      md +=
          fmt::format("#### S1 tails, {}, first and last cache line — p99 · p99.9 · max\n\n", how);
      md += tails + "\n";
    }
  }
  for (const std::string_view mode : {"busy", "blocking"}) {
    const auto t = table(ix, "S2", "throughput", mode, "all", throughput);
    if (t.empty()) continue;
    md += fmt::format(
        "#### S2 one-way streaming throughput, {} receiver, every byte written and read\n\n",
        mode == "busy" ? "busy-polling" : "blocking");
    md += t + "\n";
    md += fmt::format("CPU time per message, sender + receiver ({}):\n\n", mode);
    md += table(ix, "S2", "throughput", mode, "all", cpu_cell) + "\n";
  }
  if (const auto t = table(ix, "S3", "latency", "blocking", "ends", latency); !t.empty()) {
    md +=
        "#### S3 fan-out to 4 receivers, blocking: publish until the 4th receiver has the message "
        "— p50\n\n";
    md += t + "\n";
  }
  if (const auto t = table(ix, "S3", "throughput", "blocking", "all", throughput); !t.empty()) {
    md += "#### S3 fan-out streaming to 4 receivers, blocking (messages published per second)\n\n";
    md += t + "\n";
  }

  // Scenarios other families add (e.g. bench_channels' "S2-batch"): one
  // row per record.
  std::vector<std::string> extra;
  for (const auto& r : file.records) {
    if (r.scenario != "S1" && r.scenario != "S2" && r.scenario != "S3" &&
        std::find(extra.begin(), extra.end(), r.scenario) == extra.end()) {
      extra.push_back(r.scenario);
    }
  }
  for (const auto& scenario : extra) {
    MdTable t({"transport", "mode", "payload", "note", "p50 / msg/s", "GB/s", "cpu/msg"});
    for (const auto& r : file.records) {
      if (r.scenario != scenario || r.status != "ok") continue;
      t.row({r.transport, r.mode, format_size(r.payload_bytes), r.note,
             r.metric == "latency" ? format_ns(r.p50_ns.value_or(kNaN))
                                   : format_rate(r.msgs_per_s.value_or(kNaN)) + "/s",
             r.gb_per_s ? three_digits(*r.gb_per_s) : "—",
             r.cpu_ns_per_msg ? format_ns(*r.cpu_ns_per_msg) : "—"});
    }
    md += fmt::format("#### {}\n\n{}\n", scenario, t.str());
  }

  MdTable floors({"floor run", "cache-line p50", "futex p50"});
  {
    std::vector<std::string> when;
    std::vector<std::optional<double>> cl, fx;
    for (const auto& r : file.records) {
      if (!ix.is_floor(r.transport)) continue;
      auto it = std::find(when.begin(), when.end(), r.note);
      std::size_t i = static_cast<std::size_t>(it - when.begin());
      if (it == when.end()) {
        when.push_back(r.note);
        cl.emplace_back();
        fx.emplace_back();
      }
      (r.transport == "cacheline" ? cl : fx)[i] = r.status == "ok" ? r.p50_ns : std::nullopt;
    }
    for (std::size_t i = 0; i < when.size(); ++i) {
      floors.row({when[i], cl[i] ? format_ns(*cl[i]) : "—", fx[i] ? format_ns(*fx[i]) : "—"});
    }
  }
  md +=
      "#### Floor runs (core-to-core latency drifts; each transport is compared with the runs "
      "around it)\n\n";
  md += floors.str() + "\n";

  std::string issues;
  for (const auto& r : file.records) {
    if (r.status == "ok") continue;
    issues += fmt::format("- {} {} {} {} {}: {} — {}\n", r.transport, r.scenario, r.mode,
                          r.metric == "latency" ? "read " + r.read : r.metric,
                          format_size(r.payload_bytes), r.status, r.note);
  }
  if (!issues.empty()) md += "#### Not measured\n\n" + issues + "\n";

  if (!full) return md;

  MdTable all({"transport", "scenario", "mode", "read", "payload", "n", "p50", "p99", "p99.9",
               "max", "msg/s", "GB/s", "cpu/msg", "floor p50", "not asleep", "preempted"});
  for (const auto& r : file.records) {
    if (r.status != "ok") continue;
    const auto ns = [](const std::optional<double>& v) {
      return v ? format_ns(*v) : std::string("—");
    };
    all.row({r.transport, r.scenario, r.mode, r.metric == "latency" ? r.read : "all",
             format_size(r.payload_bytes), std::to_string(r.n), ns(r.p50_ns), ns(r.p99_ns),
             ns(r.p999_ns), ns(r.max_ns), r.msgs_per_s ? format_rate(*r.msgs_per_s) : "—",
             r.gb_per_s ? three_digits(*r.gb_per_s) : "—", ns(r.cpu_ns_per_msg), ns(r.floor_p50_ns),
             r.not_asleep ? std::to_string(*r.not_asleep) : "—",
             r.preemptions ? std::to_string(*r.preemptions) : "—"});
  }
  md += fmt::format("<details><summary>Every record</summary>\n\n{}\n</details>\n", all.str());
  return md;
}

namespace {

// A gnuplot column heading or row label.
std::string quoted(std::string_view s) { return fmt::format(" \"{}\"", s); }

std::string number(std::optional<double> v) {
  return v && std::isfinite(*v) ? fmt::format(" {}", *v) : " NaN";
}

Result<void> write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return fail(Error::from_errno(errno, fmt::format("open '{}'", path)));
  out << text;
  if (!out.flush()) return fail(Error::from_errno(errno, fmt::format("write '{}'", path)));
  return ok();
}

// One row per payload, one column per transport; the first data column is
// the floor (a constant, drawn as a line) when floor_label is given.
std::string series(const Index& ix, std::string_view scenario, std::string_view metric,
                   std::string_view mode, std::string_view read, bool label_rows,
                   std::optional<double> (*value)(const Record&), std::string_view floor_label,
                   double floor_value) {
  std::string out = quoted("payload");
  if (!floor_label.empty()) out += quoted(floor_label);
  for (const auto& c : ix.columns()) out += quoted(c.label);
  out += '\n';
  for (const auto size : ix.payloads(scenario, metric, mode, read)) {
    out += label_rows ? quoted(format_size(size)) : fmt::format(" {}", size);
    if (!floor_label.empty()) out += number(floor_value);
    for (const auto& c : ix.columns()) {
      const Record* r = ix.find(c.name, scenario, metric, mode, read, size);
      out += number(r && r->status == "ok" ? value(*r) : std::nullopt);
    }
    out += '\n';
  }
  return out;
}

}  // namespace

Result<void> write_plot_data(const ResultFile& file, const std::string& dir) {
  const Index ix(file);
  const auto p50 = [](const Record& r) { return r.p50_ns; };
  const auto p99 = [](const Record& r) { return r.p99_ns; };
  const auto rate = [](const Record& r) { return r.msgs_per_s; };
  const auto gbs = [](const Record& r) { return r.gb_per_s; };
  for (const std::string_view mode : {"busy", "blocking"}) {
    const bool busy = mode == "busy";
    const double floor = median(ix.floor_runs(busy ? "cacheline" : "futex"));
    const std::string_view floor_label = busy ? "cache-line floor" : "futex floor";
    for (const std::string_view read : {"ends", "all"}) {
      const auto base = fmt::format("{}/latency_{}_{}", dir, mode, read);
      SLUICE_TRY(write_file(
          base + ".dat", series(ix, "S1", "latency", mode, read, false, +p50, floor_label, floor)));
      SLUICE_TRY(write_file(base + "_p99.dat",
                            series(ix, "S1", "latency", mode, read, false, +p99, "", 0)));
    }
    const auto base = fmt::format("{}/throughput_{}", dir, mode);
    SLUICE_TRY(
        write_file(base + ".dat", series(ix, "S2", "throughput", mode, "all", true, +rate, "", 0)));
    SLUICE_TRY(write_file(base + "_gbs.dat",
                          series(ix, "S2", "throughput", mode, "all", true, +gbs, "", 0)));
  }
  SLUICE_TRY(write_file(dir + "/fanout_latency.dat",
                        series(ix, "S3", "latency", "blocking", "ends", true, +p50, "", 0)));
  SLUICE_TRY(write_file(dir + "/fanout_throughput.dat",
                        series(ix, "S3", "throughput", "blocking", "all", true, +rate, "", 0)));
  return ok();
}

}  // namespace sluice::bench
