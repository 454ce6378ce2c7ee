#include "ring_test_support.hpp"

#include <sluice/ring/descriptor.hpp>
#include <sluice/ring/mpmc_ring.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace sluice::ring {
namespace {

using test::Region;
using Ring = MpmcRing<std::uint64_t>;

constexpr std::size_t kHeadOffset = offsetof(RingControl, head);
constexpr std::size_t kTailOffset = offsetof(RingControl, tail);

Ring make_ring(Region& region, std::uint64_t capacity, MpmcOptions options = {}) {
  auto f = Ring::format(region.data(), region.size(), capacity, options);
  EXPECT_TRUE(f) << f.error().what();
  auto r = Ring::attach(region.data(), region.size());
  EXPECT_TRUE(r) << r.error().what();
  return *r;
}

std::size_t cell_seq_offset(std::uint64_t index, std::uint64_t capacity) {
  return kRingDataOffset + static_cast<std::size_t>(index & (capacity - 1)) * Ring::kCellStride;
}

TEST(MpmcRing, CellsArePaddedToCacheLines) {
  EXPECT_EQ(Ring::kCellStride, 64u);
  EXPECT_EQ(MpmcRing<Descriptor>::kCellStride, 128u);
  EXPECT_EQ(MpmcRing<Descriptor>::kCellDataOffset, 64u);
  EXPECT_EQ(Ring::required_size(8), kRingDataOffset + 8 * 64);
}

TEST(MpmcRing, FormatRejectsBadArguments) {
  Region region(Ring::required_size(16));
  EXPECT_EQ(Ring::format(region.data(), region.size(), 12).error().code(), Errc::invalid_argument);
  EXPECT_EQ(Ring::format(region.data(), region.size(), 32).error().code(), Errc::invalid_argument);
  EXPECT_EQ(Ring::format(region.data() + 16, region.size() - 16, 4).error().code(),
            Errc::invalid_argument);
}

TEST(MpmcRing, FifoUntilFullAndEmpty) {
  Region region(Ring::required_size(8));
  Ring r = make_ring(region, 8);
  std::uint64_t v = 0;
  EXPECT_FALSE(*r.try_pop(v));
  for (std::uint64_t i = 0; i < 8; ++i) ASSERT_TRUE(*r.try_push(i + 10));
  EXPECT_FALSE(*r.try_push(0));
  EXPECT_TRUE(r.full_hint());
  for (std::uint64_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(*r.try_pop(v));
    EXPECT_EQ(v, i + 10);
  }
  EXPECT_FALSE(*r.try_pop(v));
  EXPECT_TRUE(r.empty_hint());
}

TEST(MpmcRing, CapacityOneIsRefused) {
  Region region(Ring::required_size(2));
  EXPECT_EQ(Ring::format(region.data(), region.size(), 1).error().code(), Errc::invalid_argument);
}

TEST(MpmcRing, CapacityTwoAlternates) {
  Region region(Ring::required_size(2));
  Ring r = make_ring(region, 2);
  std::uint64_t v = 0;
  for (std::uint64_t i = 0; i < 50; ++i) {
    ASSERT_TRUE(*r.try_push(2 * i));
    ASSERT_TRUE(*r.try_push(2 * i + 1));
    ASSERT_FALSE(*r.try_push(i));
    ASSERT_TRUE(*r.try_pop(v));
    ASSERT_EQ(v, 2 * i);
    ASSERT_TRUE(*r.try_pop(v));
    ASSERT_EQ(v, 2 * i + 1);
    ASSERT_FALSE(*r.try_pop(v));
  }
}

TEST(MpmcRing, IndicesCrossTwoToTheSixtyFour) {
  constexpr std::uint64_t kStart = std::numeric_limits<std::uint64_t>::max() - 10;
  Region region(Ring::required_size(4));
  Ring r = make_ring(region, 4, MpmcOptions{kStart});
  std::uint64_t in = 0;
  std::uint64_t out = 0;
  std::uint64_t v = 0;
  for (int round = 0; round < 30; ++round) {
    for (int k = 0; k < 3; ++k) ASSERT_TRUE(*r.try_push(in++));
    for (int k = 0; k < 3; ++k) {
      ASSERT_TRUE(*r.try_pop(v));
      ASSERT_EQ(v, out++);
    }
  }
  EXPECT_FALSE(*r.try_pop(v));
}

TEST(MpmcRing, SeveralViewsShareOneRing) {
  Region region(Ring::required_size(8));
  Ring a = make_ring(region, 8);
  auto b = Ring::attach(region.data(), region.size());
  ASSERT_TRUE(b);
  ASSERT_TRUE(*a.try_push(1));
  ASSERT_TRUE(*b->try_push(2));
  std::uint64_t v = 0;
  ASSERT_TRUE(*b->try_pop(v));
  EXPECT_EQ(v, 1u);
  ASSERT_TRUE(*a.try_pop(v));
  EXPECT_EQ(v, 2u);
}

TEST(MpmcRingCorrupt, HeaderFields) {
  struct Case {
    std::size_t offset;
    std::uint32_t value;
    Errc expect;
  };
  const Case cases[] = {
      {offsetof(RingHeader, magic), 7, Errc::bad_magic},
      {offsetof(RingHeader, version), 3, Errc::version_mismatch},
      {offsetof(RingHeader, kind), 1, Errc::config_mismatch},
      {offsetof(RingHeader, capacity), 3, Errc::corrupted},
      {offsetof(RingHeader, element_size), 4, Errc::config_mismatch},
      {offsetof(RingHeader, stride), 72, Errc::config_mismatch},
      {offsetof(RingHeader, param), 16, Errc::config_mismatch},
      {offsetof(RingHeader, flags), 1, Errc::corrupted},
      {offsetof(RingHeader, total_size), 100, Errc::corrupted},
  };
  for (const Case& c : cases) {
    Region region(Ring::required_size(8));
    ASSERT_TRUE(Ring::format(region.data(), region.size(), 8));
    region.poke<std::uint32_t>(c.offset, c.value);
    auto r = Ring::attach(region.data(), region.size());
    ASSERT_FALSE(r) << "offset " << c.offset;
    EXPECT_EQ(r.error().code(), c.expect) << r.error().what();
  }
  Region region(Ring::required_size(8));
  ASSERT_TRUE(Ring::format(region.data(), region.size(), 8));
  region.poke<std::uint64_t>(kTailOffset, 9);
  EXPECT_EQ(Ring::attach(region.data(), region.size()).error().code(), Errc::corrupted);
}

TEST(MpmcRingCorrupt, CellSequenceFarBehindIsCorruptedNotFull) {
  Region region(Ring::required_size(8));
  Ring r = make_ring(region, 8, MpmcOptions{1000});
  region.poke<std::uint64_t>(cell_seq_offset(1000, 8), 3);  // far behind 1000
  auto p = r.try_push(1);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), Errc::corrupted);
  std::uint64_t v = 0;
  auto q = r.try_pop(v);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code(), Errc::corrupted);
}

TEST(MpmcRingCorrupt, CellSequenceAheadDoesNotSpinForever) {
  Region region(Ring::required_size(8));
  Ring r = make_ring(region, 8);
  // Ahead of the index but with nobody moving the index: a push or pop would
  // retry forever under the plain algorithm.
  region.poke<std::uint64_t>(cell_seq_offset(0, 8), 5);
  auto p = r.try_push(1);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), Errc::corrupted) << p.error().what();
  region.poke<std::uint64_t>(cell_seq_offset(0, 8), 50);
  std::uint64_t v = 0;
  auto q = r.try_pop(v);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code(), Errc::corrupted) << q.error().what();
}

TEST(MpmcRingCorrupt, IndexScribbledAfterAttach) {
  Region region(Ring::required_size(8));
  Ring r = make_ring(region, 8);
  ASSERT_TRUE(*r.try_push(1));
  region.poke<std::uint64_t>(kTailOffset, 500);  // cells know nothing of 500
  auto p = r.try_push(2);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), Errc::corrupted);
  region.poke<std::uint64_t>(kTailOffset, 1);
  region.poke<std::uint64_t>(kHeadOffset, std::uint64_t{1} << 40);
  std::uint64_t v = 0;
  auto q = r.try_pop(v);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code(), Errc::corrupted);
}

}  // namespace
}  // namespace sluice::ring
