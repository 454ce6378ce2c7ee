#include "common/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace sluice::bench {

Histogram::Histogram() : counts_(bucket_count(), 0) {}

std::size_t Histogram::bucket_count() noexcept { return bucket_of(kMaxTracked - 1) + 1; }

std::uint64_t Histogram::bucket_lower(std::size_t bucket) noexcept {
  constexpr std::size_t exact = std::size_t{1} << kSubBits;
  if (bucket < exact) return bucket;
  const std::size_t j = bucket - exact;
  const unsigned shift = static_cast<unsigned>(j / kHalf) + 1;
  const std::uint64_t sub = kHalf + j % kHalf;
  return sub << shift;
}

std::uint64_t Histogram::bucket_upper(std::size_t bucket) noexcept {
  constexpr std::size_t exact = std::size_t{1} << kSubBits;
  if (bucket < exact) return bucket;
  const std::size_t j = bucket - exact;
  const unsigned shift = static_cast<unsigned>(j / kHalf) + 1;
  return bucket_lower(bucket) + (std::uint64_t{1} << shift) - 1;
}

void Histogram::merge(const Histogram& other) noexcept {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  sum_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
}

double Histogram::mean() const noexcept {
  return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0;
}

std::uint64_t Histogram::percentile(double q) const noexcept {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // Rank of the sample that q covers, 1-based: ceil(q * n), at least 1.
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b + 1 < counts_.size(); ++b) {
    seen += counts_[b];
    if (seen >= rank) return std::clamp(bucket_upper(b), min(), max_);
  }
  return max_;  // the last bucket also holds everything beyond kMaxTracked
}

Percentiles summarize(const Histogram& h, double scale) noexcept {
  const auto at = [&](double q) { return static_cast<double>(h.percentile(q)) * scale; };
  Percentiles p;
  p.n = h.count();
  p.min = static_cast<double>(h.min()) * scale;
  p.mean = h.mean() * scale;
  p.p50 = at(0.50);
  p.p90 = at(0.90);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.p9999 = at(0.9999);
  p.max = static_cast<double>(h.max()) * scale;
  return p;
}

}  // namespace sluice::bench
