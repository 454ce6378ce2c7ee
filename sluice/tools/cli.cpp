#include <sluice/tools/cli.hpp>
#include <sluice/version.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <ctime>
#include <ostream>

namespace sluice::tools {

void Table::print(std::ostream& os) const {
  std::vector<std::size_t> width(headers_.size(), 0);
  for (std::size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
  for (const auto& r : rows_)
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t i = 0; i < width.size(); ++i) {
      const std::string& c = i < cells.size() ? cells[i] : std::string();
      s += c;
      if (i + 1 < width.size()) s += std::string(width[i] - c.size() + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    os << s << '\n';
  };
  line(headers_);
  for (const auto& r : rows_) line(r);
}

std::string format_time(unsigned long long unix_ns) {
  const std::time_t t = static_cast<std::time_t>(unix_ns / 1'000'000'000ULL);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

int run_cli(const std::vector<std::string>& args, CliIo io) {
  CLI::App app{"sluice: zero-copy shared-memory channels, Arrow batches and RPC between processes",
               "sluice"};
  app.require_subcommand(1);
  app.set_version_flag("--version", fmt::format("sluice {}", sluice::version));
  int exit_code = 0;
  register_domain_commands(app, io, exit_code);
  register_arrow_commands(app, io, exit_code);
  register_rpc_commands(app, io, exit_code);

  // A first word that names no command: say so (CLI11 would say "A
  // subcommand is required").
  if (args.size() > 1 && !args[1].empty() && args[1].front() != '-') {
    std::string names;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) {
      known = known || sub->get_name() == args[1];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      io.err << fmt::format("sluice: unknown command '{}' (commands: {})\n", args[1], names);
      io.err << "run 'sluice --help' or 'sluice COMMAND --help' for usage\n";
      return 2;
    }
  }
  std::vector<std::string> rev(args.rbegin(), args.rend() - (args.empty() ? 0 : 1));
  try {
    app.parse(rev);
  } catch (const CLI::ParseError& e) {
    // Help and version go to stdout with code 0 (help() shows the selected
    // subcommand's help); anything else is a usage error, code 2.
    const int code = app.exit(e, io.out, io.err);
    if (code == 0) return 0;
    io.err << "run 'sluice --help' or 'sluice COMMAND --help' for usage\n";
    return 2;
  }
  return exit_code;
}

}  // namespace sluice::tools
