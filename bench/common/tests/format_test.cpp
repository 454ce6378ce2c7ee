#include "common/format.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace sluice::bench {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(Format, DurationsKeepThreeSignificantDigits) {
  EXPECT_EQ(format_ns(0), "0 ns");
  EXPECT_EQ(format_ns(7.25), "7.25 ns");
  EXPECT_EQ(format_ns(812.4), "812 ns");
  EXPECT_EQ(format_ns(1234), "1.23 µs");
  EXPECT_EQ(format_ns(45'600'000), "45.6 ms");
  EXPECT_EQ(format_ns(1.2e9), "1.20 s");
  EXPECT_EQ(format_ns(kNaN), "n/a");
}

TEST(Format, SizesUseBinaryUnits) {
  EXPECT_EQ(format_size(8), "8 B");
  EXPECT_EQ(format_size(4096), "4 KiB");
  EXPECT_EQ(format_size(64ULL << 20), "64 MiB");
  EXPECT_EQ(format_size(1536), "1.50 KiB");
  EXPECT_EQ(format_size(3ULL << 29), "1.50 GiB");
}

TEST(Format, RatesAndRatios) {
  EXPECT_EQ(format_rate(12'345'678), "12.3 M");
  EXPECT_EQ(format_rate(456'000), "456 k");
  EXPECT_EQ(format_rate(789), "789");
  EXPECT_EQ(format_ratio(1.849), "×1.85");
  EXPECT_EQ(format_ratio(0.0123), "×0.0123");
  EXPECT_EQ(format_ratio(kNaN), "");
}

}  // namespace
}  // namespace sluice::bench
