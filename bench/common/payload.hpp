#pragma once
// What the benchmark writes into a message and how a receiver reads it.
//
// Every message begins with an 8-byte header word: a sequence number plus
// two flags. The rest is filled with one byte derived from the header, so a
// receiver can tell a complete, current message from a stale or torn one by
// looking at its ends (touch) or at every byte (read_all). The same checks
// run for every transport, so they cost every transport the same.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace sluice::bench {

inline constexpr std::size_t kHeaderBytes = 8;
inline constexpr std::uint64_t kStopFlag = std::uint64_t{1} << 63;      // last message of a run
inline constexpr std::uint64_t kMeasuredFlag = std::uint64_t{1} << 62;  // past the warm-up
inline constexpr std::uint64_t kSeqMask = kMeasuredFlag - 1;

inline std::uint8_t fill_byte(std::uint64_t header) noexcept {
  return static_cast<std::uint8_t>((header & kSeqMask) * 131U + 7U);
}

// Writes the whole message: the header word, then the fill byte. Callers
// never pass fewer than kHeaderBytes (the plan's smallest payload is 8 B);
// a shorter message is left unwritten and fails the receiver's checks.
inline void fill(std::span<std::byte> msg, std::uint64_t header) noexcept {
  if (msg.size() < kHeaderBytes) [[unlikely]]
    return;
  std::memset(msg.data() + kHeaderBytes, fill_byte(header), msg.size() - kHeaderBytes);
  std::memcpy(msg.data(), &header, kHeaderBytes);
}

inline std::uint64_t header_of(std::span<const std::byte> msg) noexcept {
  std::uint64_t h;
  std::memcpy(&h, msg.data(), kHeaderBytes);
  return h;
}

// Reads the first and the last cache line of the message (one word of each)
// and checks them. Returns false for a short, stale or torn message.
inline bool touch(std::span<const std::byte> msg, std::uint64_t& header) noexcept {
  if (msg.size() < kHeaderBytes) return false;
  header = header_of(msg);
  if (msg.size() == kHeaderBytes) return true;
  return static_cast<std::uint8_t>(msg[msg.size() - 1]) == fill_byte(header);
}

// Reads every byte of the message and checks them all against the header.
// Four independent sums keep the loads flowing at memory speed.
inline bool read_all(std::span<const std::byte> msg, std::uint64_t& header) noexcept {
  if (msg.size() < kHeaderBytes) return false;
  header = header_of(msg);
  const std::byte* p = msg.data() + kHeaderBytes;
  const std::size_t body = msg.size() - kHeaderBytes;
  const std::size_t words = body / 8;
  std::uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= words; i += 4) {
    std::uint64_t w[4];
    std::memcpy(w, p + i * 8, sizeof(w));
    s0 += w[0];
    s1 += w[1];
    s2 += w[2];
    s3 += w[3];
  }
  for (; i < words; ++i) {
    std::uint64_t w;
    std::memcpy(&w, p + i * 8, 8);
    s0 += w;
  }
  std::uint64_t tail = 0;
  for (std::size_t j = words * 8; j < body; ++j) tail += static_cast<std::uint8_t>(p[j]);
  const std::uint64_t b = fill_byte(header);
  const std::uint64_t expect_words = words * (b * 0x0101010101010101ULL);
  const std::uint64_t expect_tail = (body - words * 8) * b;
  return s0 + s1 + s2 + s3 == expect_words && tail == expect_tail;
}

}  // namespace sluice::bench
