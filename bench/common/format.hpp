#pragma once
// Human-readable numbers for consoles and tables.

#include <cstdint>
#include <string>

namespace sluice::bench {

// "812 ns", "1.23 µs", "45.6 ms", "1.20 s" (3 significant digits).
std::string format_ns(double ns);

// "8 B", "4 KiB", "64 MiB" (exact powers print without decimals).
std::string format_size(std::uint64_t bytes);

// "12.3 M", "456 k", "789": messages per second and similar rates.
std::string format_rate(double per_second);

// "×1.85", "×0.42", "×120".
std::string format_ratio(double ratio);

// Three significant digits, no exponent: 0.0123, 1.23, 12.3, 123, 1230.
std::string three_digits(double v);

}  // namespace sluice::bench
