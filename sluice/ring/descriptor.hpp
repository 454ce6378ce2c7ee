#pragma once
// Descriptor: what a descriptor ring carries from a publisher to a subscriber.
// One cache line; it names a chunk by its offset in the segment and the
// chunk's generation (never a pointer), or carries a small payload inline.
//
//   0  offset      u64  chunk payload offset from the segment base (0 if inline)
//   8  sequence    u64  publisher's per-channel message number
//  16  length      u32  payload bytes (inline: bytes used in inline_data)
//  20  generation  u32  chunk generation: a recycled chunk has a newer one
//  24  publisher   u16  publisher's peer index in the domain
//  26  flags       u16  Descriptor::k* below; bits 8..15 belong to the channel
//  28  tag         u32  channel-defined (message type id, user tag)
//  32  inline_data 32 bytes: the payload when kInline is set
//
// The ring layer moves descriptors without interpreting offset, generation,
// publisher or tag: the channel layer resolves and validates the chunk
// through the allocator. check() covers what the ring layer can judge (flags
// and the inline length); a descriptor popped from a ring is a copy the peer
// wrote, so check() it before trusting it.

#include <sluice/base/result.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

namespace sluice::ring {

struct alignas(64) Descriptor {
  static constexpr std::size_t kInlineCapacity = 32;

  // Flag bits 0..7 are the ring layer's; 8..15 are left to the channel layer.
  static constexpr std::uint16_t kInline = 1u << 0;       // payload is inline_data[0, length)
  static constexpr std::uint16_t kEndOfStream = 1u << 1;  // the publisher sends nothing more
  static constexpr std::uint16_t kHistory = 1u << 2;      // replayed for a late joiner
  static constexpr std::uint16_t kRingFlagsMask = 0x00FF;
  static constexpr std::uint16_t kKnownRingFlags = kInline | kEndOfStream | kHistory;
  static constexpr std::uint16_t kChannelFlagsMask = 0xFF00;

  std::uint64_t offset;
  std::uint64_t sequence;
  std::uint32_t length;
  std::uint32_t generation;
  std::uint16_t publisher;
  std::uint16_t flags;
  std::uint32_t tag;
  std::byte inline_data[kInlineCapacity];

  [[nodiscard]] bool is_inline() const noexcept { return (flags & kInline) != 0; }
  [[nodiscard]] bool is_end_of_stream() const noexcept { return (flags & kEndOfStream) != 0; }

  // The inline payload, clamped to the inline area so that even an unchecked
  // descriptor with a bad length cannot read past it. Empty if not inline.
  [[nodiscard]] std::span<const std::byte> inline_payload() const noexcept {
    if (!is_inline()) return {};
    return {inline_data, std::min<std::size_t>(length, kInlineCapacity)};
  }

  // A descriptor carrying `payload` (at most kInlineCapacity bytes) inline;
  // unused inline bytes are zero so nothing of the publisher's stack leaks.
  static Descriptor make_inline(std::span<const std::byte> payload, std::uint64_t sequence,
                                std::uint16_t publisher, std::uint16_t extra_flags = 0) noexcept {
    Descriptor d{};
    const std::size_t n = std::min(payload.size(), kInlineCapacity);
    if (n != 0) std::memcpy(d.inline_data, payload.data(), n);
    d.length = static_cast<std::uint32_t>(n);
    d.sequence = sequence;
    d.publisher = publisher;
    d.flags = static_cast<std::uint16_t>(kInline | extra_flags);
    return d;
  }

  // A descriptor naming the chunk at `offset` (generation `generation`).
  static Descriptor make_chunk(std::uint64_t offset, std::uint32_t generation, std::uint32_t length,
                               std::uint64_t sequence, std::uint16_t publisher,
                               std::uint16_t extra_flags = 0) noexcept {
    Descriptor d{};
    d.offset = offset;
    d.generation = generation;
    d.length = length;
    d.sequence = sequence;
    d.publisher = publisher;
    d.flags = static_cast<std::uint16_t>(extra_flags & ~kInline);
    return d;
  }
};

static_assert(std::is_trivially_copyable_v<Descriptor>);
static_assert(std::is_standard_layout_v<Descriptor>);
static_assert(sizeof(Descriptor) == 64, "a descriptor is one cache line");
static_assert(alignof(Descriptor) == 64);
static_assert(offsetof(Descriptor, offset) == 0);
static_assert(offsetof(Descriptor, sequence) == 8);
static_assert(offsetof(Descriptor, length) == 16);
static_assert(offsetof(Descriptor, generation) == 20);
static_assert(offsetof(Descriptor, publisher) == 24);
static_assert(offsetof(Descriptor, flags) == 26);
static_assert(offsetof(Descriptor, tag) == 28);
static_assert(offsetof(Descriptor, inline_data) == 32);
static_assert(Descriptor::kInlineCapacity >= 32);

// What the ring layer can validate in a descriptor a peer wrote: no unknown
// ring flag bits, an inline length within the inline area, and an inline
// descriptor naming no chunk (offset and generation zero). Errc::corrupted
// with the offending field otherwise.
Result<void> check(const Descriptor& d);

}  // namespace sluice::ring
