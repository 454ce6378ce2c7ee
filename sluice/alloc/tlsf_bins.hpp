#pragma once
// TLSF (two-level segregated fit) size-to-bin mapping. Block sizes are
// multiples of 64. The first level splits sizes by power of two, the second
// level splits each power-of-two range into 16 equal bins:
//
//   size < 1 KiB:   fl = 0, sl = size / 64              (exact bins of 64 B)
//   size >= 1 KiB:  f = floor(log2 size)
//                   fl = f - 9, sl = (size >> (f - 4)) - 16
//
// A free block of size s lives in bin insert_bin(s). A request for r bytes
// looks from search_bin(r) upward (r rounded up to the next bin boundary),
// so any block found there is at least r bytes: O(1) with two bitmaps.

#include <cstdint>

namespace sluice::alloc::tlsf {

inline constexpr std::uint32_t kAlignLog2 = 6;  // 64-byte granules
inline constexpr std::uint32_t kSlLog2 = 4;     // 16 second-level bins
inline constexpr std::uint32_t kSlCount = 1u << kSlLog2;
inline constexpr std::uint64_t kSmallLimit = std::uint64_t{1} << (kSlLog2 + kAlignLog2);  // 1 KiB
inline constexpr std::uint32_t kFlShift = kSlLog2 + kAlignLog2 - 1;                       // 9
// Region sizes below 2^46 need first levels 0..36.
inline constexpr std::uint32_t kFlCount = 40;
inline constexpr std::uint64_t kMinBlock = std::uint64_t{1} << kAlignLog2;

struct Bin {
  std::uint32_t fl;
  std::uint32_t sl;
  friend constexpr bool operator==(const Bin&, const Bin&) = default;
};

constexpr std::uint32_t floor_log2(std::uint64_t v) noexcept {
  return 63u - static_cast<std::uint32_t>(__builtin_clzll(v));
}

// Bin of a free block of `size` bytes (size >= 64, a multiple of 64).
constexpr Bin insert_bin(std::uint64_t size) noexcept {
  if (size < kSmallLimit) return {0, static_cast<std::uint32_t>(size >> kAlignLog2)};
  const std::uint32_t f = floor_log2(size);
  return {f - kFlShift, static_cast<std::uint32_t>(size >> (f - kSlLog2)) - kSlCount};
}

// First bin whose every block holds `size` bytes; fl may reach kFlCount
// (nothing can satisfy the request) for sizes near 2^46.
constexpr Bin search_bin(std::uint64_t size) noexcept {
  if (size >= kSmallLimit) size += (std::uint64_t{1} << (floor_log2(size) - kSlLog2)) - 1;
  return insert_bin(size);
}

// Smallest block size that maps to bin b (for tests and diagnostics).
constexpr std::uint64_t bin_floor(Bin b) noexcept {
  if (b.fl == 0) return static_cast<std::uint64_t>(b.sl) << kAlignLog2;
  const std::uint32_t f = b.fl + kFlShift;
  return (std::uint64_t{1} << f) + (static_cast<std::uint64_t>(b.sl) << (f - kSlLog2));
}

static_assert(insert_bin(64) == Bin{0, 1});
static_assert(insert_bin(1024 - 64) == Bin{0, 15});
static_assert(insert_bin(1024) == Bin{1, 0});
static_assert(insert_bin(1024 + 64) == Bin{1, 1});
static_assert(insert_bin(2048) == Bin{2, 0});
static_assert(search_bin(1024 + 1) == Bin{1, 1});
static_assert(bin_floor(insert_bin(std::uint64_t{64} << 20)) == (std::uint64_t{64} << 20));
static_assert(insert_bin((std::uint64_t{1} << 46) - 64).fl < kFlCount);

}  // namespace sluice::alloc::tlsf
