#pragma once
// The messages the crash workers exchange: a header naming the writer, its
// incarnation (restart count) and a sequence number, pseudo-random filler
// derived from them, and a trailing checksum over everything before it. A
// torn, half-written or misrouted message fails verify().
//
//   0   u32 magic "SLCK"
//   4   u16 writer      (publisher / sender id within the trial)
//   6   u16 incarnation (0 for the first process of a role, +1 per restart)
//   8   u64 sequence    (per writer incarnation, from 0, no gaps)
//   16  filler          (splitmix64 of writer, incarnation, sequence)
//   n-8 u64 checksum    (of bytes [0, n-8))
//
// The smallest message is 24 bytes, so inline descriptors (<= 32 bytes) carry
// complete messages too.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace sluice::crash {

inline constexpr std::uint32_t kMessageMagic = 0x4b434c53;  // "SLCK"
inline constexpr std::size_t kMinMessage = 24;

struct MessageHeader {
  std::uint32_t magic;
  std::uint16_t writer;
  std::uint16_t incarnation;
  std::uint64_t sequence;
};
static_assert(sizeof(MessageHeader) == 16);

inline std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Word-at-a-time hash (fast enough for 256 KiB payloads on every receive).
inline std::uint64_t checksum(std::span<const std::byte> bytes) noexcept {
  std::uint64_t h = 0x243f6a8885a308d3ULL ^ bytes.size();
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 29;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
  h = (h ^ tail) * 0x100000001b3ULL;
  return h ^ (h >> 32);
}

// Writes a complete message into `out` (out.size() >= kMinMessage).
inline void fill(std::span<std::byte> out, std::uint16_t writer, std::uint16_t incarnation,
                 std::uint64_t sequence) noexcept {
  const MessageHeader h{kMessageMagic, writer, incarnation, sequence};
  std::memcpy(out.data(), &h, sizeof h);
  std::uint64_t state =
      (std::uint64_t{writer} << 48) ^ (std::uint64_t{incarnation} << 32) ^ sequence;
  const std::size_t body_end = out.size() - 8;
  std::size_t i = sizeof h;
  for (; i + 8 <= body_end; i += 8) {
    const std::uint64_t w = splitmix64(state);
    std::memcpy(out.data() + i, &w, 8);
  }
  const std::uint64_t w = splitmix64(state);
  std::memcpy(out.data() + i, &w, body_end - i);
  const std::uint64_t sum = checksum(out.first(body_end));
  std::memcpy(out.data() + body_end, &sum, 8);
}

// Checks a received message; fills `h` from its header.
inline bool verify(std::span<const std::byte> in, MessageHeader& h) noexcept {
  if (in.size() < kMinMessage) return false;
  std::memcpy(&h, in.data(), sizeof h);
  if (h.magic != kMessageMagic) return false;
  std::uint64_t stored;
  std::memcpy(&stored, in.data() + in.size() - 8, 8);
  return stored == checksum(in.first(in.size() - 8));
}

}  // namespace sluice::crash
