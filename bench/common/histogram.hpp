#pragma once
// A latency histogram with HDR-style log-linear buckets.
//
// Values below 2^kSubBits are counted exactly; every power-of-two range above
// is split into 2^(kSubBits-1) equal buckets, so a percentile is reported
// within 1/2^(kSubBits-1) (0.8 %) of the true value. Values at or above
// kMaxTracked land in the last bucket; min and max are kept exactly.
//
// record() is a shift, a count-leading-zeros and an increment: cheap enough
// to sit in the bookkeeping of a timed loop. The buckets are allocated once,
// at construction, never while recording.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice::bench {

class Histogram {
 public:
  static constexpr unsigned kSubBits = 8;
  static constexpr std::uint64_t kMaxTracked = std::uint64_t{1} << 48;  // ns: 78 hours

  Histogram();

  void record(std::uint64_t value) noexcept {
    counts_[bucket_of(value < kMaxTracked ? value : kMaxTracked - 1)]++;
    count_++;
    sum_ += value;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }

  void merge(const Histogram& other) noexcept;
  void reset() noexcept;

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] double mean() const noexcept;

  // The smallest value v such that at least a fraction q (0..1) of the
  // samples are <= v, to the bucket's precision: the upper edge of the bucket
  // holding that rank, clamped to [min, max]. 0 when empty.
  [[nodiscard]] std::uint64_t percentile(double q) const noexcept;

  // Bucket arithmetic, public for the tests.
  static std::size_t bucket_of(std::uint64_t value) noexcept {
    constexpr std::uint64_t exact = std::uint64_t{1} << kSubBits;
    if (value < exact) return static_cast<std::size_t>(value);
    // value has its top bit at position msb >= kSubBits; keep kSubBits bits.
    const unsigned msb = 63U - static_cast<unsigned>(__builtin_clzll(value));
    const unsigned shift = msb - (kSubBits - 1);
    const std::uint64_t sub = value >> shift;  // in [2^(kSubBits-1), 2^kSubBits)
    return static_cast<std::size_t>(exact + (shift - 1) * kHalf + (sub - kHalf));
  }
  static std::uint64_t bucket_lower(std::size_t bucket) noexcept;
  static std::uint64_t bucket_upper(std::size_t bucket) noexcept;
  static std::size_t bucket_count() noexcept;

 private:
  static constexpr std::uint64_t kHalf = std::uint64_t{1} << (kSubBits - 1);

  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
};

// What a record keeps of a histogram (values in the histogram's unit).
struct Percentiles {
  std::uint64_t n = 0;
  double min = 0, mean = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, p9999 = 0, max = 0;
};

// Percentiles of h, each multiplied by scale (0.5 turns round trips into
// one-way latencies).
Percentiles summarize(const Histogram& h, double scale = 1.0) noexcept;

}  // namespace sluice::bench
