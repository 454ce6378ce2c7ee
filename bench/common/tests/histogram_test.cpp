#include "common/histogram.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace sluice::bench {
namespace {

TEST(Histogram, SmallValuesAreExact) {
  for (std::uint64_t v = 0; v < 256; ++v) {
    const auto b = Histogram::bucket_of(v);
    EXPECT_EQ(Histogram::bucket_lower(b), v);
    EXPECT_EQ(Histogram::bucket_upper(b), v);
  }
}

TEST(Histogram, BucketsTileTheRangeWithBoundedWidth) {
  const auto n = Histogram::bucket_count();
  ASSERT_GT(n, 256U);
  for (std::size_t b = 0; b + 1 < n; ++b) {
    ASSERT_EQ(Histogram::bucket_upper(b) + 1, Histogram::bucket_lower(b + 1)) << "bucket " << b;
    const auto lo = Histogram::bucket_lower(b);
    const auto width = Histogram::bucket_upper(b) - lo + 1;
    // Relative width at most 1/128 of the bucket's lower bound.
    if (lo >= 256) {
      ASSERT_LE(width * 128, lo) << "bucket " << b;
    }
  }
  EXPECT_EQ(Histogram::bucket_of(Histogram::kMaxTracked - 1), n - 1);
}

TEST(Histogram, EveryValueFallsInsideItsBucket) {
  for (std::uint64_t v = 1; v < (std::uint64_t{1} << 40); v = v * 3 + 1) {
    const auto b = Histogram::bucket_of(v);
    EXPECT_LE(Histogram::bucket_lower(b), v);
    EXPECT_GE(Histogram::bucket_upper(b), v);
  }
}

TEST(Histogram, EmptyHistogramReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0U);
  EXPECT_EQ(h.percentile(0.5), 0U);
  EXPECT_EQ(h.min(), 0U);
  EXPECT_EQ(h.max(), 0U);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(Histogram, PercentilesOfAUniformSampleAreWithinBucketPrecision) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100'000; ++v) h.record(v * 10);
  EXPECT_EQ(h.count(), 100'000U);
  EXPECT_EQ(h.min(), 10U);
  EXPECT_EQ(h.max(), 1'000'000U);
  EXPECT_DOUBLE_EQ(h.mean(), 500'005.0);
  for (const double q : {0.5, 0.9, 0.99, 0.999}) {
    const double exact = q * 1'000'000.0;
    const double got = static_cast<double>(h.percentile(q));
    EXPECT_GE(got, exact) << q;         // the upper edge of the bucket
    EXPECT_LE(got, exact * 1.01) << q;  // within the bucket's width
  }
  EXPECT_EQ(h.percentile(1.0), 1'000'000U);
  EXPECT_EQ(h.percentile(0.0), 10U);
}

TEST(Histogram, OutliersKeepTheirExactMax) {
  Histogram h;
  h.record(100);
  h.record(Histogram::kMaxTracked * 4);
  EXPECT_EQ(h.max(), Histogram::kMaxTracked * 4);
  EXPECT_EQ(h.percentile(1.0), Histogram::kMaxTracked * 4);
  EXPECT_EQ(h.percentile(0.5), 100U);
}

TEST(Histogram, MergeAndResetCombineCounts) {
  Histogram a;
  Histogram b;
  for (int i = 0; i < 10; ++i) a.record(100);
  for (int i = 0; i < 30; ++i) b.record(1000);
  a.merge(b);
  EXPECT_EQ(a.count(), 40U);
  EXPECT_EQ(a.min(), 100U);
  EXPECT_EQ(a.max(), 1000U);
  EXPECT_EQ(a.percentile(0.25), 100U);
  EXPECT_GE(a.percentile(0.26), 1000U);
  a.reset();
  EXPECT_EQ(a.count(), 0U);
  EXPECT_EQ(a.percentile(0.5), 0U);
}

TEST(Histogram, SummarizeScalesEveryValue) {
  Histogram h;
  for (int i = 0; i < 100; ++i) h.record(200);
  const auto p = summarize(h, 0.5);
  EXPECT_EQ(p.n, 100U);
  EXPECT_DOUBLE_EQ(p.p50, 100.0);
  EXPECT_DOUBLE_EQ(p.p999, 100.0);
  EXPECT_DOUBLE_EQ(p.min, 100.0);
  EXPECT_DOUBLE_EQ(p.max, 100.0);
  EXPECT_DOUBLE_EQ(p.mean, 100.0);
}

}  // namespace
}  // namespace sluice::bench
