#pragma once
// The `sluice` command line, as a library the tests link too. main() only
// calls run_cli(). Each command family registers itself on the CLI11 app in
// its own file (src/tools/cmd_*.cpp).
//
// Exit codes: 0 success, 1 error (message on stderr), 2 usage error.

#include <iosfwd>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace sluice::tools {

// Where a command writes. Tests pass string streams.
struct CliIo {
  std::ostream& out;
  std::ostream& err;
};

// Runs the CLI on argv-style arguments (args[0] is the program name).
int run_cli(const std::vector<std::string>& args, CliIo io);

// Command families. Each adds subcommands to `app`; the callbacks they set
// write through `io` and set `exit_code` (1 on error).
void register_domain_commands(CLI::App& app, CliIo& io, int& exit_code);
// sluice arrow cat|gen, sluice vgis dump.
void register_arrow_commands(CLI::App& app, CliIo& io, int& exit_code);
// sluice rpc list|describe|call.
void register_rpc_commands(CLI::App& app, CliIo& io, int& exit_code);

// Aligned text tables for human output.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  [[nodiscard]] bool empty() const { return rows_.empty(); }
  void print(std::ostream& os) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "2026-11-22 01:44:23" (local time) from Unix nanoseconds.
std::string format_time(unsigned long long unix_ns);

}  // namespace sluice::tools
