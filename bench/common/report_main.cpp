// bench_report: Markdown tables and gnuplot data from a result file.
//   bench_report RESULT.json [--markdown OUT.md] [--plot-data DIR]
// Without options the Markdown goes to standard output.

#include "common/record.hpp"
#include "common/report.hpp"

#include <cstdio>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  using namespace sluice::bench;
  std::string input;
  std::string markdown;
  std::string plot_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--markdown" || a == "--plot-data") && i + 1 < argc) {
      (a == "--markdown" ? markdown : plot_dir) = argv[++i];
    } else if (a == "-h" || a == "--help") {
      std::printf("usage: bench_report RESULT.json [--markdown OUT.md] [--plot-data DIR]\n");
      return 0;
    } else if (input.empty() && !a.starts_with("-")) {
      input = a;
    } else {
      std::fprintf(stderr, "bench_report: unexpected argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (input.empty()) {
    std::fprintf(stderr, "usage: bench_report RESULT.json [--markdown OUT.md] [--plot-data DIR]\n");
    return 2;
  }
  auto file = ResultFile::load(input);
  if (!file) {
    std::fprintf(stderr, "bench_report: %s\n", file.error().what().c_str());
    return 1;
  }
  const std::string md = markdown_report(*file);
  if (markdown.empty()) {
    std::fputs(md.c_str(), stdout);
  } else {
    std::ofstream out(markdown, std::ios::trunc);
    out << md;
    if (!out.flush()) {
      std::fprintf(stderr, "bench_report: cannot write '%s'\n", markdown.c_str());
      return 1;
    }
  }
  if (!plot_dir.empty()) {
    if (auto written = write_plot_data(*file, plot_dir); !written) {
      std::fprintf(stderr, "bench_report: %s\n", written.error().what().c_str());
      return 1;
    }
  }
  return 0;
}
