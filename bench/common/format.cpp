#include "common/format.hpp"

#include <fmt/format.h>

#include <cmath>

namespace sluice::bench {

std::string three_digits(double v) {
  if (!std::isfinite(v)) return "n/a";
  const double a = std::fabs(v);
  if (a >= 100 || a == 0) return fmt::format("{:.0f}", v);
  if (a >= 10) return fmt::format("{:.1f}", v);
  if (a >= 1) return fmt::format("{:.2f}", v);
  const int decimals = 2 - static_cast<int>(std::floor(std::log10(a)));
  return fmt::format("{:.{}f}", v, decimals);
}

std::string format_ns(double ns) {
  if (!std::isfinite(ns)) return "n/a";
  if (ns < 1e3) return three_digits(ns) + " ns";
  if (ns < 1e6) return three_digits(ns / 1e3) + " µs";
  if (ns < 1e9) return three_digits(ns / 1e6) + " ms";
  return three_digits(ns / 1e9) + " s";
}

std::string format_size(std::uint64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  std::uint64_t v = bytes;
  while (u < 4 && v >= 1024 && v % 1024 == 0) {
    v /= 1024;
    ++u;
  }
  if (v < 1024 || u == 4) return fmt::format("{} {}", v, units[u]);
  // Not an exact power: fall back to three digits of the next unit.
  double d = static_cast<double>(v);
  while (u < 4 && d >= 1024) {
    d /= 1024;
    ++u;
  }
  return three_digits(d) + " " + units[u];
}

std::string format_rate(double per_second) {
  if (!std::isfinite(per_second)) return "n/a";
  if (per_second >= 1e9) return three_digits(per_second / 1e9) + " G";
  if (per_second >= 1e6) return three_digits(per_second / 1e6) + " M";
  if (per_second >= 1e3) return three_digits(per_second / 1e3) + " k";
  return three_digits(per_second);
}

std::string format_ratio(double ratio) {
  if (!std::isfinite(ratio)) return "";
  return "×" + three_digits(ratio);
}

}  // namespace sluice::bench
