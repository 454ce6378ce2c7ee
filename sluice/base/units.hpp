#pragma once
// Sizes, alignment helpers and cache-line constants shared by all layers.

#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice {

inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kPageSize = 4096;

inline constexpr std::uint64_t KiB = 1024;
inline constexpr std::uint64_t MiB = 1024 * KiB;
inline constexpr std::uint64_t GiB = 1024 * MiB;

constexpr bool is_pow2(std::uint64_t v) noexcept { return v != 0 && (v & (v - 1)) == 0; }

// Rounds up to a power-of-two alignment; the caller guarantees no overflow.
constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) noexcept {
  return (v + a - 1) & ~(a - 1);
}

// Overflow-checked a + b <= limit, for validating (offset, length) pairs read
// from shared memory.
constexpr bool fits(std::uint64_t offset, std::uint64_t length, std::uint64_t limit) noexcept {
  return offset <= limit && length <= limit - offset;
}

// The smallest power of two >= v; 0 when that does not fit in 64 bits
// (v > 2^63), so callers validating untrusted sizes can reject it.
constexpr std::uint64_t next_pow2(std::uint64_t v) noexcept {
  if (v <= 1) return 1;
  if (v > (std::uint64_t{1} << 63)) return 0;
  return std::uint64_t{1} << (64 - __builtin_clzll(v - 1));
}

// "64 MiB", "1.5 KiB", "12 B": for tables and messages.
std::string format_bytes(std::uint64_t bytes);

// Parses "64M", "64MiB", "4k", "1g", "123": used by the CLI and benchmarks.
bool parse_bytes(const std::string& text, std::uint64_t& out);

}  // namespace sluice
