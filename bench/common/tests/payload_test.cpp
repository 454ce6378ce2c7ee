#include "common/payload.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::bench {
namespace {

TEST(Payload, FilledMessagesPassBothChecks) {
  for (const std::size_t size : {8U, 9U, 16U, 63U, 64U, 1024U, 4099U, 65536U}) {
    SCOPED_TRACE(size);
    std::vector<std::byte> msg(size);
    const std::uint64_t header = 41 | kMeasuredFlag;
    fill(msg, header);
    std::uint64_t seen = 0;
    ASSERT_TRUE(touch(msg, seen));
    EXPECT_EQ(seen, header);
    seen = 0;
    ASSERT_TRUE(read_all(msg, seen));
    EXPECT_EQ(seen, header);
  }
}

TEST(Payload, AStaleLastByteFailsBothChecks) {
  for (const std::size_t size : {9U, 16U, 63U, 64U, 1024U, 4099U}) {
    SCOPED_TRACE(size);
    std::vector<std::byte> msg(size);
    fill(msg, 7);
    msg[size - 1] = static_cast<std::byte>(fill_byte(6));  // left over from the previous message
    std::uint64_t seen = 0;
    EXPECT_FALSE(touch(msg, seen));
    EXPECT_FALSE(read_all(msg, seen));
  }
}

TEST(Payload, AMiddleByteIsCaughtOnlyByReadingEverything) {
  for (const std::size_t size : {11U, 16U, 63U, 64U, 1024U, 4099U, 65536U}) {
    SCOPED_TRACE(size);
    std::vector<std::byte> msg(size);
    fill(msg, 9);
    msg[kHeaderBytes + (size - kHeaderBytes) / 2] ^= std::byte{0x10};
    std::uint64_t seen = 0;
    EXPECT_TRUE(touch(msg, seen));
    EXPECT_FALSE(read_all(msg, seen));
  }
}

TEST(Payload, ShortMessagesAreRejected) {
  std::vector<std::byte> msg(4);
  std::uint64_t seen = 0;
  EXPECT_FALSE(touch(msg, seen));
  EXPECT_FALSE(read_all(msg, seen));
}

TEST(Payload, FlagsAreSeparateFromTheSequence) {
  const std::uint64_t h = 12345 | kStopFlag | kMeasuredFlag;
  EXPECT_EQ(h & kSeqMask, 12345U);
  EXPECT_EQ(fill_byte(h), fill_byte(12345));
}

}  // namespace
}  // namespace sluice::bench
