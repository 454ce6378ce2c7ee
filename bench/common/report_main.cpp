// bench_report: Markdown tables and gnuplot data from a result file.
//   bench_report RESULT.json [--markdown OUT.md] [--summary OUT.md] [--plot-data DIR]
// --markdown writes every table, --summary the tables without latency tails
// and the list of records. Without options the full Markdown goes to
// standard output.

#include "common/record.hpp"
#include "common/report.hpp"

#include <cstdio>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  using namespace sluice::bench;
  std::string input;
  std::string markdown;
  std::string summary;
  std::string plot_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--markdown" || a == "--summary" || a == "--plot-data") && i + 1 < argc) {
      (a == "--markdown" ? markdown : a == "--summary" ? summary : plot_dir) = argv[++i];
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: bench_report RESULT.json [--markdown OUT.md] [--summary OUT.md] [--plot-data "
          "DIR]\n");
      return 0;
    } else if (input.empty() && !a.starts_with("-")) {
      input = a;
    } else {
      std::fprintf(stderr, "bench_report: unexpected argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (input.empty()) {
    std::fprintf(stderr,
                 "usage: bench_report RESULT.json [--markdown OUT.md] [--summary OUT.md] "
                 "[--plot-data DIR]\n");
    return 2;
  }
  auto file = ResultFile::load(input);
  if (!file) {
    std::fprintf(stderr, "bench_report: %s\n", file.error().what().c_str());
    return 1;
  }
  const auto write = [](const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    if (out.flush()) return true;
    std::fprintf(stderr, "bench_report: cannot write '%s'\n", path.c_str());
    return false;
  };
  if (markdown.empty() && summary.empty() && plot_dir.empty()) {
    std::fputs(markdown_report(*file).c_str(), stdout);
  }
  if (!markdown.empty() && !write(markdown, markdown_report(*file, Detail::full))) return 1;
  if (!summary.empty() && !write(summary, markdown_report(*file, Detail::summary))) return 1;
  if (!plot_dir.empty()) {
    if (auto written = write_plot_data(*file, plot_dir); !written) {
      std::fprintf(stderr, "bench_report: %s\n", written.error().what().c_str());
      return 1;
    }
  }
  return 0;
}
