#pragma once
// Real child processes for multi-process and crash tests: fork + exec of a
// helper program, with stdout captured through a pipe.

#include <sys/types.h>
#include <chrono>
#include <string>
#include <vector>

namespace sluice::test {

class Child {
 public:
  // Starts `program` (a path) with `args`; extra environment "K=V" entries
  // are added to the inherited environment.
  static Child spawn(const std::string& program, const std::vector<std::string>& args,
                     const std::vector<std::string>& env = {});
  Child() = default;
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();  // kills and reaps a child still running

  [[nodiscard]] pid_t pid() const { return pid_; }
  // Reads one line of the child's stdout (without '\n'); empty at EOF or on
  // timeout.
  std::string read_line(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Writes a line to the child's stdin.
  void write_line(const std::string& line);
  void kill(int sig = 9);
  // Waits for exit; returns the exit code, or 128+signal, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int in_fd_ = -1;
  std::string buffer_;
};

}  // namespace sluice::test
