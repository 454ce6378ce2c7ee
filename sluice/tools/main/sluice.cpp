#include <sluice/tools/cli.hpp>

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  return sluice::tools::run_cli(args, {std::cout, std::cerr});
}
