#include "ring_test_support.hpp"

#include <sluice/ring/descriptor.hpp>
#include <sluice/ring/spsc_ring.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

namespace sluice::ring {
namespace {

using test::Region;
using Ring = SpscRing<std::uint64_t>;
using DRing = SpscRing<Descriptor>;

constexpr std::size_t kHeadOffset = offsetof(RingControl, head);
constexpr std::size_t kTailOffset = offsetof(RingControl, tail);

template <typename R>
struct Pair {
  typename R::Producer producer;
  typename R::Consumer consumer;
};

template <typename R>
Pair<R> make_pair(Region& region, std::uint64_t capacity, SpscOptions options = {}) {
  auto f = R::format(region.data(), region.size(), capacity, options);
  EXPECT_TRUE(f) << f.error().what();
  auto p = R::Producer::attach(region.data(), region.size());
  auto c = R::Consumer::attach(region.data(), region.size());
  EXPECT_TRUE(p) << p.error().what();
  EXPECT_TRUE(c) << c.error().what();
  return {std::move(p).value(), std::move(c).value()};
}

TEST(SpscRing, RequiredSizeCoversControlAndSlots) {
  EXPECT_EQ(Ring::required_size(1), kRingDataOffset + 64);
  EXPECT_EQ(Ring::required_size(16), kRingDataOffset + 16 * 8);
  EXPECT_EQ(DRing::required_size(4), kRingDataOffset + 4 * 64);
  EXPECT_EQ(Ring::required_size(16) % kCacheLine, 0u);
}

TEST(SpscRing, FormatRejectsBadArguments) {
  Region region(Ring::required_size(64));
  EXPECT_EQ(Ring::format(region.data(), region.size(), 0).error().code(), Errc::invalid_argument);
  EXPECT_EQ(Ring::format(region.data(), region.size(), 48).error().code(), Errc::invalid_argument);
  EXPECT_EQ(Ring::format(region.data(), region.size(), 128).error().code(), Errc::invalid_argument);
  EXPECT_EQ(Ring::format(region.data() + 8, region.size() - 8, 16).error().code(),
            Errc::invalid_argument);
  EXPECT_EQ(Ring::format(nullptr, region.size(), 16).error().code(), Errc::invalid_argument);
  EXPECT_TRUE(Ring::format(region.data(), region.size(), 64));
}

TEST(SpscRing, AttachRejectsUnformattedRegion) {
  Region region(Ring::required_size(16));
  auto c = Ring::Consumer::attach(region.data(), region.size());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::bad_magic);
}

TEST(SpscRing, PushPopInOrderUntilFullAndEmpty) {
  Region region(Ring::required_size(8));
  auto [p, c] = make_pair<Ring>(region, 8);
  std::uint64_t v = 0;
  EXPECT_FALSE(*c.try_pop(v));
  for (std::uint64_t i = 0; i < 8; ++i) EXPECT_TRUE(*p.try_push(i * 3));
  EXPECT_FALSE(*p.try_push(99)) << "a full ring refuses";
  EXPECT_TRUE(p.full_hint());
  EXPECT_EQ(c.size_hint(), 8u);
  for (std::uint64_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(*c.try_pop(v));
    EXPECT_EQ(v, i * 3);
  }
  EXPECT_FALSE(*c.try_pop(v));
  EXPECT_TRUE(c.empty_hint());
  EXPECT_EQ(p.tail(), 8u);
  EXPECT_EQ(c.head_hint(), 8u);
}

TEST(SpscRing, CapacityOne) {
  Region region(Ring::required_size(1));
  auto [p, c] = make_pair<Ring>(region, 1);
  std::uint64_t v = 0;
  for (std::uint64_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(*p.try_push(i));
    ASSERT_FALSE(*p.try_push(i));
    ASSERT_TRUE(*c.try_pop(v));
    ASSERT_EQ(v, i);
  }
}

TEST(SpscRing, BatchPushPopWrapsAround) {
  Region region(Ring::required_size(16));
  auto [p, c] = make_pair<Ring>(region, 16);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  std::vector<std::uint64_t> in(11);
  std::vector<std::uint64_t> out(7);
  for (int round = 0; round < 200; ++round) {
    std::iota(in.begin(), in.end(), next_in);
    const std::size_t pushed = *p.try_push_batch(in);
    EXPECT_LE(pushed, in.size());
    next_in += pushed;
    const std::size_t popped = *c.try_pop_batch(out);
    for (std::size_t i = 0; i < popped; ++i) ASSERT_EQ(out[i], next_out++);
  }
  EXPECT_GT(next_out, 1000u);
  // Drain.
  for (;;) {
    const std::size_t popped = *c.try_pop_batch(out);
    if (popped == 0) break;
    for (std::size_t i = 0; i < popped; ++i) ASSERT_EQ(out[i], next_out++);
  }
  EXPECT_EQ(next_in, next_out);
}

TEST(SpscRing, BatchPushStopsAtCapacity) {
  Region region(Ring::required_size(8));
  auto [p, c] = make_pair<Ring>(region, 8);
  std::array<std::uint64_t, 12> in{};
  std::iota(in.begin(), in.end(), 100);
  EXPECT_EQ(*p.try_push_batch(in), 8u);
  EXPECT_EQ(*p.try_push_batch(in), 0u);
  std::array<std::uint64_t, 3> out{};
  EXPECT_EQ(*c.try_pop_batch(out), 3u);
  EXPECT_EQ(out[0], 100u);
  EXPECT_EQ(*p.try_push_batch(std::span<const std::uint64_t>(in).subspan(8)), 3u);
  std::array<std::uint64_t, 16> rest{};
  ASSERT_EQ(*c.try_pop_batch(rest), 8u);
  EXPECT_EQ(rest[0], 103u);
  EXPECT_EQ(rest[4], 107u);
  EXPECT_EQ(rest[5], 108u);
  EXPECT_EQ(rest[7], 110u);
}

class SpscWrap : public ::testing::TestWithParam<bool> {};

TEST_P(SpscWrap, IndicesCrossTwoToTheSixtyFour) {
  const bool overwrite = GetParam();
  constexpr std::uint64_t kStart = std::numeric_limits<std::uint64_t>::max() - 20;
  Region region(Ring::required_size(8));
  auto [p, c] = make_pair<Ring>(region, 8, SpscOptions{overwrite, kStart});
  EXPECT_EQ(p.tail(), kStart);
  std::uint64_t expect = 0;
  std::uint64_t value = 0;
  std::array<std::uint64_t, 5> in{};
  std::array<std::uint64_t, 3> out{};
  for (std::uint64_t round = 0; round < 40; ++round) {
    for (auto& x : in) x = value++;
    std::size_t pushed = *p.try_push_batch(in);
    value -= in.size() - pushed;
    for (;;) {
      const std::size_t n = *c.try_pop_batch(out);
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], expect++);
      if (n < out.size()) break;
    }
  }
  EXPECT_EQ(expect, value);
  EXPECT_LT(p.tail(), kStart) << "tail wrapped past 2^64";
  EXPECT_EQ(c.size_hint(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, SpscWrap, ::testing::Bool());

TEST(SpscRing, DescriptorsTravelWithInlinePayload) {
  Region region(DRing::required_size(4));
  auto [p, c] = make_pair<DRing>(region, 4);
  const std::array<std::byte, 5> bytes{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4},
                                       std::byte{5}};
  ASSERT_TRUE(*p.try_push(Descriptor::make_inline(bytes, 7, 3, Descriptor::kEndOfStream)));
  ASSERT_TRUE(*p.try_push(Descriptor::make_chunk(4096, 9, 100000, 8, 3)));
  Descriptor d{};
  ASSERT_TRUE(*c.try_pop(d));
  EXPECT_TRUE(check(d));
  EXPECT_TRUE(d.is_inline());
  EXPECT_TRUE(d.is_end_of_stream());
  EXPECT_EQ(d.sequence, 7u);
  EXPECT_EQ(d.publisher, 3u);
  ASSERT_EQ(d.inline_payload().size(), 5u);
  EXPECT_EQ(d.inline_payload()[4], std::byte{5});
  ASSERT_TRUE(*c.try_pop(d));
  EXPECT_TRUE(check(d));
  EXPECT_FALSE(d.is_inline());
  EXPECT_EQ(d.offset, 4096u);
  EXPECT_EQ(d.generation, 9u);
  EXPECT_EQ(d.length, 100000u);
  EXPECT_TRUE(d.inline_payload().empty());
}

TEST(SpscRing, ConsumerReattachContinuesWhereTheLastOneStopped) {
  Region region(Ring::required_size(8));
  auto [p, c] = make_pair<Ring>(region, 8);
  for (std::uint64_t i = 0; i < 6; ++i) ASSERT_TRUE(*p.try_push(i));
  std::uint64_t v = 0;
  ASSERT_TRUE(*c.try_pop(v));
  ASSERT_TRUE(*c.try_pop(v));
  c = Ring::Consumer{};
  auto c2 = Ring::Consumer::attach(region.data(), region.size());
  ASSERT_TRUE(c2);
  ASSERT_TRUE(*c2->try_pop(v));
  EXPECT_EQ(v, 2u);
  auto p2 = Ring::Producer::attach(region.data(), region.size());
  ASSERT_TRUE(p2);
  EXPECT_EQ(p2->tail(), 6u);
}

TEST(SpscRing, ElementSizeMismatchIsConfigMismatch) {
  Region region(Ring::required_size(8));
  ASSERT_TRUE(Ring::format(region.data(), region.size(), 8));
  auto c = SpscRing<std::uint32_t>::Consumer::attach(region.data(), region.size());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::config_mismatch);
}

// ---- overwrite mode

TEST(SpscRingOverwrite, EvictsOldestInOrder) {
  Region region(Ring::required_size(4));
  auto [p, c] = make_pair<Ring>(region, 4, SpscOptions{true, 0});
  EXPECT_TRUE(p.overwrite());
  EXPECT_TRUE(c.overwrite());
  std::uint64_t evicted = 0;
  for (std::uint64_t i = 0; i < 4; ++i) EXPECT_FALSE(*p.push_overwrite(i, evicted));
  EXPECT_FALSE(*p.try_push(4)) << "try_push never evicts";
  for (std::uint64_t i = 4; i < 10; ++i) {
    ASSERT_TRUE(*p.push_overwrite(i, evicted));
    EXPECT_EQ(evicted, i - 4);
  }
  std::uint64_t v = 0;
  for (std::uint64_t i = 6; i < 10; ++i) {
    ASSERT_TRUE(*c.try_pop(v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(*c.try_pop(v));
}

TEST(SpscRingOverwrite, BatchEvictionReturnsTheOldest) {
  Region region(Ring::required_size(8));
  auto [p, c] = make_pair<Ring>(region, 8, SpscOptions{true, 0});
  std::array<std::uint64_t, 6> in{};
  std::array<std::uint64_t, 6> ev{};
  std::iota(in.begin(), in.end(), 0);
  EXPECT_EQ(*p.push_overwrite_batch(in, ev), 0u);
  std::iota(in.begin(), in.end(), 6);
  ASSERT_EQ(*p.push_overwrite_batch(in, ev), 4u);
  EXPECT_EQ(ev[0], 0u);
  EXPECT_EQ(ev[3], 3u);
  std::array<std::uint64_t, 3> out{};
  ASSERT_EQ(*c.try_pop_batch(out), 3u);
  EXPECT_EQ(out[0], 4u);
  EXPECT_EQ(out[2], 6u);
  std::array<std::uint64_t, 16> rest{};
  ASSERT_EQ(*c.try_pop_batch(rest), 5u);
  EXPECT_EQ(rest[0], 7u);
  EXPECT_EQ(rest[4], 11u);
  // Too large a batch, or too little room for the evicted, is refused.
  std::array<std::uint64_t, 9> big{};
  std::array<std::uint64_t, 9> big_ev{};
  EXPECT_EQ(p.push_overwrite_batch(big, big_ev).error().code(), Errc::invalid_argument);
  EXPECT_EQ(p.push_overwrite_batch(std::span<const std::uint64_t>(in),
                                   std::span<std::uint64_t>(ev).first(2))
                .error()
                .code(),
            Errc::invalid_argument);
}

TEST(SpscRingOverwrite, PlainRingRefusesOverwrite) {
  Region region(Ring::required_size(4));
  auto [p, c] = make_pair<Ring>(region, 4);
  std::uint64_t evicted = 0;
  auto r = p.push_overwrite(1, evicted);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
}

TEST(SpscRingOverwrite, ConsumerAndEvictionsInterleave) {
  Region region(Ring::required_size(4));
  auto [p, c] = make_pair<Ring>(region, 4, SpscOptions{true, 0});
  std::uint64_t received = 0;
  std::uint64_t evicted_count = 0;
  std::uint64_t last = 0;
  bool have_last = false;
  std::uint64_t v = 0;
  std::uint64_t evicted = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    if (*p.push_overwrite(i, evicted)) ++evicted_count;
    if (i % 3 == 0 && *c.try_pop(v)) {
      if (have_last) {
        EXPECT_GT(v, last);
      }
      last = v;
      have_last = true;
      ++received;
    }
  }
  while (*c.try_pop(v)) ++received;
  EXPECT_EQ(received + evicted_count, 1000u);
  EXPECT_GT(evicted_count, 0u);
}

// ---- corruption of every shared field

struct FieldCase {
  const char* name;
  std::size_t offset;
  std::uint64_t value;
  std::size_t width;
  Errc expect;
};

class SpscCorruptHeader : public ::testing::TestWithParam<FieldCase> {};

TEST_P(SpscCorruptHeader, AttachFailsWithClearError) {
  const FieldCase& fc = GetParam();
  Region region(Ring::required_size(16));
  ASSERT_TRUE(Ring::format(region.data(), region.size(), 16));
  if (fc.width == 8) {
    region.poke<std::uint64_t>(fc.offset, fc.value);
  } else {
    region.poke<std::uint32_t>(fc.offset, static_cast<std::uint32_t>(fc.value));
  }
  auto p = Ring::Producer::attach(region.data(), region.size());
  auto c = Ring::Consumer::attach(region.data(), region.size());
  ASSERT_FALSE(p) << fc.name;
  ASSERT_FALSE(c) << fc.name;
  EXPECT_EQ(p.error().code(), fc.expect) << fc.name << ": " << p.error().what();
  EXPECT_EQ(c.error().code(), fc.expect) << fc.name << ": " << c.error().what();
  EXPECT_FALSE(c.error().message().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Fields, SpscCorruptHeader,
    ::testing::Values(
        FieldCase{"magic", offsetof(RingHeader, magic), 0x1234, 8, Errc::bad_magic},
        FieldCase{"version", offsetof(RingHeader, version), 99, 4, Errc::version_mismatch},
        FieldCase{"kind", offsetof(RingHeader, kind), 2, 4, Errc::config_mismatch},
        FieldCase{"kind_unknown", offsetof(RingHeader, kind), 77, 4, Errc::config_mismatch},
        FieldCase{"capacity_not_pow2", offsetof(RingHeader, capacity), 24, 8, Errc::corrupted},
        FieldCase{"capacity_zero", offsetof(RingHeader, capacity), 0, 8, Errc::corrupted},
        FieldCase{"capacity_huge", offsetof(RingHeader, capacity), std::uint64_t{1} << 62, 8,
                  Errc::corrupted},
        FieldCase{"capacity_too_big_for_region", offsetof(RingHeader, capacity), 32, 8,
                  Errc::corrupted},
        FieldCase{"element_size", offsetof(RingHeader, element_size), 4, 4, Errc::config_mismatch},
        FieldCase{"stride", offsetof(RingHeader, stride), 16, 4, Errc::config_mismatch},
        FieldCase{"flags", offsetof(RingHeader, flags), 0x80, 4, Errc::corrupted},
        FieldCase{"param", offsetof(RingHeader, param), 5, 4, Errc::corrupted},
        FieldCase{"total_size_large", offsetof(RingHeader, total_size), 1 << 20, 8,
                  Errc::corrupted},
        FieldCase{"total_size_small", offsetof(RingHeader, total_size), 64, 8, Errc::corrupted},
        FieldCase{"tail_far_ahead", kTailOffset, 17, 8, Errc::corrupted},
        FieldCase{"head_ahead_of_tail", kHeadOffset, 1, 8, Errc::corrupted}),
    [](const ::testing::TestParamInfo<FieldCase>& param_info) {
      return std::string(param_info.param.name);
    });

TEST(SpscRingCorrupt, TailScribbledAfterAttachStopsTheConsumer) {
  Region region(Ring::required_size(8));
  auto [p, c] = make_pair<Ring>(region, 8);
  ASSERT_TRUE(*p.try_push(1));
  std::uint64_t v = 0;
  ASSERT_TRUE(*c.try_pop(v));
  region.poke<std::uint64_t>(kTailOffset, 1000);
  auto r = c.try_pop(v);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  std::array<std::uint64_t, 4> out{};
  auto rb = c.try_pop_batch(out);
  ASSERT_FALSE(rb);
  EXPECT_EQ(rb.error().code(), Errc::corrupted);
  // A tail behind head is just as wrong.
  region.poke<std::uint64_t>(kTailOffset, 0);
  EXPECT_EQ(c.try_pop(v).error().code(), Errc::corrupted);
}

TEST(SpscRingCorrupt, HeadScribbledAfterAttachStopsTheProducer) {
  Region region(Ring::required_size(4));
  auto [p, c] = make_pair<Ring>(region, 4);
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(*p.try_push(i));
  region.poke<std::uint64_t>(kHeadOffset, 99);  // ahead of tail 4
  auto r = p.try_push(5);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  std::array<std::uint64_t, 2> in{};
  EXPECT_EQ(p.try_push_batch(in).error().code(), Errc::corrupted);
}

TEST(SpscRingCorrupt, OverwriteModeIndicesChecked) {
  Region region(Ring::required_size(4));
  auto [p, c] = make_pair<Ring>(region, 4, SpscOptions{true, 0});
  std::uint64_t ev = 0;
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_FALSE(*p.push_overwrite(i, ev));
  // Head ahead of tail: the consumer refuses instead of reading.
  region.poke<std::uint64_t>(kHeadOffset, 50);
  std::uint64_t v = 0;
  EXPECT_EQ(c.try_pop(v).error().code(), Errc::corrupted);
  EXPECT_EQ(p.push_overwrite(9, ev).error().code(), Errc::corrupted);
  // Tail far ahead of head (more than capacity): the consumer may still pop
  // what its cached tail covers, then detects it at the next tail load.
  region.poke<std::uint64_t>(kHeadOffset, 0);
  region.poke<std::uint64_t>(kTailOffset, 1000);
  bool detected = false;
  for (int i = 0; i < 6 && !detected; ++i) {
    auto r = c.try_pop(v);
    if (!r) {
      EXPECT_EQ(r.error().code(), Errc::corrupted) << r.error().what();
      detected = true;
    }
  }
  EXPECT_TRUE(detected);
}

TEST(Descriptor, CheckRejectsBadFields) {
  Descriptor d = Descriptor::make_inline({}, 1, 0);
  EXPECT_TRUE(check(d));
  d.length = 33;
  EXPECT_EQ(check(d).error().code(), Errc::corrupted);
  EXPECT_EQ(d.inline_payload().size(), Descriptor::kInlineCapacity)
      << "clamped, never past the area";
  d.length = 4;
  d.offset = 64;
  EXPECT_EQ(check(d).error().code(), Errc::corrupted);
  d = Descriptor::make_chunk(64, 1, 10, 2, 0);
  d.flags = 0x0040;
  EXPECT_EQ(check(d).error().code(), Errc::corrupted);
  d.flags = 0x4000;  // channel bits are not the ring's business
  EXPECT_TRUE(check(d));
}

}  // namespace
}  // namespace sluice::ring
