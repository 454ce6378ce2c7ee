// Prints type_id<T> of a set of types; tests/compilers/check.sh builds it with
// g++ and with clang++ and requires the same output.
#include <sluice/channel/channel.hpp>

#include <array>
#include <cstdio>

namespace robot {
struct Pose {
  double x, y, z;
};
template <int N>
struct Samples {
  float v[N];
};
}  // namespace robot

namespace {
struct Local {
  int v;
};
}  // namespace

struct Named {
  static constexpr const char* sluice_type_name = "robot.Named/1";
  int v;
};

template <typename T>
void print(const char* label) {
  std::printf("%s %016llx\n", label, static_cast<unsigned long long>(sluice::type_id<T>()));
}

int main() {
  print<robot::Pose>("struct");
  print<robot::Samples<4>>("template");
  print<Local>("anonymous");
  print<Named>("declared");
  print<std::uint64_t>("u64");
  print<long>("long");
  print<unsigned char>("uchar");
  print<double>("double");
  print<bool>("bool");
  print<std::array<double, 3>>("array");
}
