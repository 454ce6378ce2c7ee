#include "ring_test_support.hpp"

#include <sluice/ring/byte_ring.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::ring {
namespace {

using test::Region;
using Bytes = std::vector<std::byte>;

constexpr std::size_t kTailOffset = offsetof(RingControl, tail);

Bytes pattern(std::size_t n, std::uint32_t seed) {
  Bytes b(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& v : b) {
    x = x * 1664525u + 1013904223u;
    v = static_cast<std::byte>(x >> 24);
  }
  return b;
}

Bytes text(std::string_view s) {
  Bytes b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

struct Rig {
  explicit Rig(std::uint64_t capacity, ByteRingOptions options = {},
               ByteRingReaderOptions reader_options = {})
      : region(ByteRing::required_size(capacity)) {
    auto f = ByteRing::format(region.data(), region.size(), capacity, options);
    EXPECT_TRUE(f) << f.error().what();
    auto w = ByteRingWriter::attach(region.data(), region.size());
    auto r = ByteRingReader::attach(region.data(), region.size(), reader_options);
    EXPECT_TRUE(w) << w.error().what();
    EXPECT_TRUE(r) << r.error().what();
    writer = std::move(w).value();
    reader = std::move(r).value();
  }
  // Byte offset in the region of ring position pos.
  [[nodiscard]] std::size_t at(std::uint64_t pos) const {
    return kRingDataOffset + static_cast<std::size_t>(pos & (reader.capacity() - 1));
  }
  Region region;
  ByteRingWriter writer;
  ByteRingReader reader;
};

TEST(ByteRing, FormatRejectsBadArguments) {
  Region region(ByteRing::required_size(4096));
  EXPECT_EQ(ByteRing::format(region.data(), region.size(), 128).error().code(),
            Errc::invalid_argument);
  EXPECT_EQ(ByteRing::format(region.data(), region.size(), 1000).error().code(),
            Errc::invalid_argument);
  EXPECT_EQ(ByteRing::format(region.data(), region.size(), 8192).error().code(),
            Errc::invalid_argument);
  EXPECT_EQ(ByteRing::format(region.data(), region.size(), 4096, {60, 0}).error().code(),
            Errc::invalid_argument);
  EXPECT_EQ(ByteRing::format(region.data(), region.size(), 4096, {4096, 0}).error().code(),
            Errc::invalid_argument);
  EXPECT_EQ(ByteRing::format(region.data(), region.size(), 4096, {0, 4}).error().code(),
            Errc::invalid_argument);
  EXPECT_TRUE(ByteRing::format(region.data(), region.size(), 4096, {2048, 8}));
}

TEST(ByteRing, FrameLevelRoundTripIsZeroCopy) {
  Rig rig(1024);
  const Bytes hello = text("hello");
  auto w = rig.writer.try_write(3, hello);
  ASSERT_TRUE(w);
  EXPECT_TRUE(w->complete);
  EXPECT_EQ(w->bytes, 5u);
  EXPECT_EQ(w->frames, 1u);
  EXPECT_TRUE(w->was_empty);
  auto f = rig.reader.next_frame();
  ASSERT_TRUE(f && *f);
  EXPECT_EQ((*f)->stream, 3u);
  EXPECT_EQ((*f)->kind, FrameKind::data);
  EXPECT_FALSE((*f)->more);
  EXPECT_EQ(Bytes((*f)->payload.begin(), (*f)->payload.end()), hello);
  // The payload lies inside the region: read in place.
  EXPECT_GE((*f)->payload.data(), rig.region.data());
  EXPECT_LT((*f)->payload.data(), rig.region.data() + rig.region.size());
  auto none = rig.reader.next_frame();
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  EXPECT_EQ(rig.reader.readable_hint(), 24u) << "not released yet";
  rig.reader.release();
  EXPECT_EQ(rig.reader.readable_hint(), 0u);
  EXPECT_EQ(rig.writer.free_space(), 1024u);
}

TEST(ByteRing, WasEmptyTellsWhenTheReaderHadCaughtUp) {
  Rig rig(1024);
  const Bytes m = text("abc");
  EXPECT_TRUE(rig.writer.try_write(1, m)->was_empty);
  EXPECT_FALSE(rig.writer.try_write(1, m)->was_empty);
  Bytes out;
  EXPECT_EQ(*rig.reader.try_read(1, out), ReadStatus::message);
  EXPECT_FALSE(rig.writer.try_write(1, m)->was_empty) << "one message still unread";
  EXPECT_EQ(*rig.reader.try_read(1, out), ReadStatus::message);
  EXPECT_EQ(*rig.reader.try_read(1, out), ReadStatus::message);
  EXPECT_EQ(*rig.reader.try_read(1, out), ReadStatus::empty);
  EXPECT_TRUE(rig.writer.try_write(1, m)->was_empty);
}

TEST(ByteRing, ZeroLengthMessage) {
  Rig rig(256);
  auto w = rig.writer.try_write(9, {});
  ASSERT_TRUE(w);
  EXPECT_TRUE(w->complete);
  EXPECT_EQ(w->frames, 1u);
  Bytes out = text("junk");
  EXPECT_EQ(*rig.reader.try_read(9, out), ReadStatus::message);
  EXPECT_TRUE(out.empty());
  // A piece with end_of_message = false and no bytes writes nothing.
  auto w2 = rig.writer.try_write(9, {}, false);
  EXPECT_TRUE(w2->complete);
  EXPECT_EQ(w2->frames, 0u);
  EXPECT_EQ(*rig.reader.try_read(9, out), ReadStatus::empty);
}

TEST(ByteRing, PayloadLargerThanTheRingGoesInChunks) {
  Rig rig(1024);  // frames of at most 256 bytes
  EXPECT_EQ(rig.writer.max_chunk(), 256u - 16u);
  const Bytes big = pattern(100'000, 7);
  std::size_t sent = 0;
  int partial_writes = 0;
  std::size_t frames = 0;
  Bytes out;
  bool received = false;
  while (!received) {
    if (sent < big.size()) {
      auto w = rig.writer.try_write(4, std::span<const std::byte>(big).subspan(sent));
      ASSERT_TRUE(w) << w.error().what();
      sent += w->bytes;
      frames += w->frames;
      if (!w->complete) ++partial_writes;
    }
    auto r = rig.reader.try_read(4, out);
    ASSERT_TRUE(r) << r.error().what();
    received = *r == ReadStatus::message;
    if (!received) {
      EXPECT_EQ(*r, ReadStatus::empty);
    }
  }
  EXPECT_EQ(sent, big.size());
  EXPECT_EQ(out, big);
  EXPECT_GT(partial_writes, 10);
  EXPECT_GE(frames, big.size() / 240);
  EXPECT_EQ(rig.reader.buffered_bytes(), 0u);
}

TEST(ByteRing, NonBlockingWriteReportsHowMuchWentOut) {
  Rig rig(512);  // 128-byte frames, 112-byte chunks
  const Bytes big = pattern(5000, 1);
  auto w = rig.writer.try_write(1, big);
  ASSERT_TRUE(w);
  EXPECT_FALSE(w->complete);
  EXPECT_GT(w->bytes, 300u);
  EXPECT_LT(w->bytes, 512u);
  EXPECT_LT(rig.writer.free_space(), 128u);
  // Nothing more fits until the reader frees space.
  auto w2 = rig.writer.try_write(1, std::span<const std::byte>(big).subspan(w->bytes));
  ASSERT_TRUE(w2);
  EXPECT_EQ(w2->bytes, 0u);
  EXPECT_FALSE(w2->complete);
  auto eos = rig.writer.try_write_end(1);
  ASSERT_TRUE(eos);
  EXPECT_FALSE(eos->complete);
}

TEST(ByteRing, BlockingWriteCallsTheHookWhenFull) {
  Rig rig(1024);
  const Bytes big = pattern(20'000, 3);
  Bytes out;
  int hook_calls = 0;
  auto w = rig.writer.write(2, big, [&](const WriteResult& last) -> Result<void> {
    ++hook_calls;
    EXPECT_FALSE(last.complete);
    // Stand-in for "wake the reader and wait": the reader drains here.
    auto r = rig.reader.try_read(2, out);
    if (!r) return Failure{r.error()};
    EXPECT_EQ(*r, ReadStatus::empty) << "the message is not complete yet";
    return ok();
  });
  ASSERT_TRUE(w) << w.error().what();
  EXPECT_TRUE(w->complete);
  EXPECT_EQ(w->bytes, big.size());
  EXPECT_GT(hook_calls, 10);
  ASSERT_EQ(*rig.reader.try_read(2, out), ReadStatus::message);
  EXPECT_EQ(out, big);
}

TEST(ByteRing, BlockingWriteHookErrorAborts) {
  Rig rig(256);
  const Bytes big = pattern(2000, 3);
  auto w = rig.writer.write(2, big, [](const WriteResult&) -> Result<void> {
    return fail(Errc::timed_out, "test deadline");
  });
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Errc::timed_out);
}

TEST(ByteRing, OneStreamIsReadWhileOthersWait) {
  Rig rig(4096);
  const Bytes a1 = pattern(300, 1);
  const Bytes a2 = pattern(200, 2);
  ASSERT_TRUE(rig.writer.try_write(10, a1, false)->complete);
  ASSERT_TRUE(rig.writer.try_write(20, text("bee"))->complete);
  ASSERT_TRUE(rig.writer.try_write(10, a2)->complete);
  ASSERT_TRUE(rig.writer.try_write_end(20)->complete);
  ASSERT_TRUE(rig.writer.try_write(30, text("sea"))->complete);
  ASSERT_TRUE(rig.writer.try_write_end(10)->complete);

  Bytes out;
  ASSERT_EQ(*rig.reader.try_read(20, out), ReadStatus::message);
  EXPECT_EQ(out, text("bee"));
  EXPECT_GT(rig.reader.buffered_bytes(), 0u) << "stream 10's first piece was set aside";
  ASSERT_EQ(*rig.reader.try_read(20, out), ReadStatus::end_of_stream);
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(*rig.reader.try_read(30, out), ReadStatus::message);
  EXPECT_EQ(out, text("sea"));
  ASSERT_EQ(*rig.reader.try_read(10, out), ReadStatus::message);
  Bytes a = a1;
  a.insert(a.end(), a2.begin(), a2.end());
  EXPECT_EQ(out, a);
  ASSERT_EQ(*rig.reader.try_read(10, out), ReadStatus::end_of_stream);
  EXPECT_EQ(*rig.reader.try_read(20, out), ReadStatus::empty);
  EXPECT_EQ(rig.reader.buffered_bytes(), 0u);
  EXPECT_EQ(rig.reader.dropped_messages(), 0u);
  EXPECT_EQ(rig.writer.free_space(), 4096u) << "everything was released";
}

TEST(ByteRing, TryReadAnyServesPendingInArrivalOrder) {
  Rig rig(4096);
  ASSERT_TRUE(rig.writer.try_write(1, text("x1"))->complete);
  ASSERT_TRUE(rig.writer.try_write(2, text("y1"))->complete);
  ASSERT_TRUE(rig.writer.try_write(1, text("x2"))->complete);
  ASSERT_TRUE(rig.writer.try_write(3, text("z1"))->complete);
  ASSERT_TRUE(rig.writer.try_write_end(2)->complete);
  Bytes out;
  ASSERT_EQ(*rig.reader.try_read(3, out), ReadStatus::message);
  EXPECT_EQ(out, text("z1"));
  std::uint32_t stream = 0;
  const std::pair<std::uint32_t, std::string> expect[] = {{1, "x1"}, {2, "y1"}, {1, "x2"}};
  for (const auto& [id, body] : expect) {
    ASSERT_EQ(*rig.reader.try_read_any(stream, out), ReadStatus::message);
    EXPECT_EQ(stream, id);
    EXPECT_EQ(out, text(body));
  }
  ASSERT_EQ(*rig.reader.try_read_any(stream, out), ReadStatus::end_of_stream);
  EXPECT_EQ(stream, 2u);
  EXPECT_EQ(*rig.reader.try_read_any(stream, out), ReadStatus::empty);
}

TEST(ByteRing, PendingBudgetBlocksInsteadOfGrowing) {
  Rig rig(4096, {}, ByteRingReaderOptions{256, 1 << 20});
  const Bytes m = pattern(100, 5);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rig.writer.try_write(1, m)->complete);
  ASSERT_TRUE(rig.writer.try_write(2, text("two"))->complete);
  Bytes out;
  ASSERT_EQ(*rig.reader.try_read(2, out), ReadStatus::blocked);
  EXPECT_LE(rig.reader.buffered_bytes(), 256u);
  int got = 0;
  for (;;) {
    auto r = rig.reader.try_read(2, out);
    ASSERT_TRUE(r);
    if (*r == ReadStatus::message) break;
    ASSERT_EQ(*r, ReadStatus::blocked);
    ASSERT_EQ(*rig.reader.try_read(1, out), ReadStatus::message);
    EXPECT_EQ(out, m);
    ++got;
  }
  EXPECT_EQ(out, text("two"));
  while (*rig.reader.try_read(1, out) == ReadStatus::message) ++got;
  EXPECT_EQ(got, 5);
}

TEST(ByteRing, EndOfStreamDropsAnUnfinishedMessage) {
  Rig rig(1024);
  ASSERT_TRUE(rig.writer.try_write(5, pattern(50, 1), false)->complete);
  ASSERT_TRUE(rig.writer.try_write_end(5)->complete);
  Bytes out;
  EXPECT_EQ(*rig.reader.try_read(5, out), ReadStatus::end_of_stream);
  EXPECT_EQ(rig.reader.dropped_messages(), 1u);
  EXPECT_EQ(rig.reader.buffered_bytes(), 0u);
}

TEST(ByteRing, MessageLongerThanTheReaderLimitIsAnError) {
  Rig rig(1024, {}, ByteRingReaderOptions{1 << 20, 500});
  ASSERT_TRUE(rig.writer.try_write(5, pattern(400, 1), false)->complete);
  ASSERT_TRUE(rig.writer.try_write(5, pattern(400, 2))->complete);
  Bytes out;
  auto r = rig.reader.try_read(5, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::out_of_range);
}

TEST(ByteRing, ImplicitSkipAndPaddingAtTheEndOfTheDataArea) {
  Rig rig(256);  // frames of at most 64 bytes
  Bytes out;
  // 14 empty messages (16 bytes each) and one of 8 bytes (24): position 248,
  // 8 bytes before the end: too few for a header, skipped implicitly.
  for (int i = 0; i < 14; ++i) ASSERT_TRUE(rig.writer.try_write(1, {})->complete);
  ASSERT_TRUE(rig.writer.try_write(1, pattern(8, 0))->complete);
  EXPECT_EQ(rig.writer.position(), 248u);
  for (int i = 0; i < 15; ++i) ASSERT_EQ(*rig.reader.try_read(1, out), ReadStatus::message);
  const Bytes m = pattern(40, 9);
  ASSERT_TRUE(rig.writer.try_write(1, m)->complete);
  EXPECT_EQ(rig.writer.position(), 256u + 56u);
  ASSERT_EQ(*rig.reader.try_read(1, out), ReadStatus::message);
  EXPECT_EQ(out, m);
  // Now 200 bytes before the end; fill to 24 before it, then a 40-byte
  // message does not fit and 24 bytes are too few for a worthwhile chunk:
  // a padding frame fills them.
  for (int i = 0; i < 11; ++i) ASSERT_TRUE(rig.writer.try_write(1, {})->complete);
  EXPECT_EQ(rig.writer.position(), 512u - 24u);
  for (int i = 0; i < 11; ++i) ASSERT_EQ(*rig.reader.try_read(1, out), ReadStatus::message);
  ASSERT_TRUE(rig.writer.try_write(1, m)->complete);
  FrameHeader pad;
  std::memcpy(&pad, rig.region.data() + rig.at(512 - 24), sizeof pad);
  EXPECT_EQ(pad.kind, static_cast<std::uint16_t>(FrameKind::padding));
  EXPECT_EQ(pad.length, 8u);
  EXPECT_EQ(rig.writer.position(), 512u + 56u);
  ASSERT_EQ(*rig.reader.try_read(1, out), ReadStatus::message);
  EXPECT_EQ(out, m);
}

// Random sizes, streams, pieces and read styles over many laps, starting
// near 2^64: every message arrives whole and in per-stream order.
class ByteRingRandom : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(ByteRingRandom, RoundTripsAcrossLaps) {
  Rig rig(1024, ByteRingOptions{0, GetParam()});
  std::mt19937 rng(42);
  constexpr std::uint32_t kStreams = 4;
  std::map<std::uint32_t, std::uint32_t> sent_count;
  std::map<std::uint32_t, std::uint32_t> recv_count;
  std::uint32_t write_stream = 0;
  Bytes current;
  std::size_t current_off = 0;
  std::uint32_t current_seq = 0;
  Bytes out;
  int messages = 0;
  for (int step = 0; step < 4000; ++step) {
    if (current_off == current.size() && messages < 1500) {
      write_stream = rng() % kStreams;
      current_seq = sent_count[write_stream]++;
      current =
          pattern(rng() % 3 == 0 ? rng() % 3000 : rng() % 100, write_stream * 100000 + current_seq);
      current_off = 0;
      ++messages;
      if (current.empty()) {
        ASSERT_TRUE(rig.writer.try_write(write_stream, {}).value().complete);
        current_off = 0;
        current.clear();
      }
    }
    if (current_off < current.size()) {
      auto w = rig.writer.try_write(write_stream,
                                    std::span<const std::byte>(current).subspan(current_off));
      ASSERT_TRUE(w) << w.error().what();
      current_off += w->bytes;
    }
    // Read: sometimes a specific stream, sometimes any.
    std::uint32_t s = rng() % kStreams;
    auto r = (rng() % 2 == 0) ? rig.reader.try_read(s, out) : rig.reader.try_read_any(s, out);
    ASSERT_TRUE(r) << r.error().what();
    if (*r == ReadStatus::message) {
      const std::uint32_t seq = recv_count[s]++;
      ASSERT_EQ(out, pattern(out.size(), s * 100000 + seq)) << "stream " << s;
    }
  }
  // Drain.
  for (int i = 0; i < 10000; ++i) {
    std::uint32_t s = 0;
    auto r = rig.reader.try_read_any(s, out);
    ASSERT_TRUE(r);
    if (*r == ReadStatus::empty) {
      if (current_off < current.size()) {
        auto w = rig.writer.try_write(write_stream,
                                      std::span<const std::byte>(current).subspan(current_off));
        ASSERT_TRUE(w);
        current_off += w->bytes;
        continue;
      }
      break;
    }
    const std::uint32_t seq = recv_count[s]++;
    ASSERT_EQ(out, pattern(out.size(), s * 100000 + seq));
  }
  EXPECT_EQ(sent_count, recv_count);
}

INSTANTIATE_TEST_SUITE_P(Starts, ByteRingRandom,
                         ::testing::Values(std::uint64_t{0},
                                           std::numeric_limits<std::uint64_t>::max() - 4095));

// ---- corruption

TEST(ByteRingCorrupt, AttachChecksHeader) {
  struct Case {
    std::size_t offset;
    std::uint32_t value;
    Errc expect;
  };
  const Case cases[] = {
      {offsetof(RingHeader, magic), 1, Errc::bad_magic},
      {offsetof(RingHeader, version), 2, Errc::version_mismatch},
      {offsetof(RingHeader, kind), 1, Errc::config_mismatch},
      {offsetof(RingHeader, capacity), 128, Errc::corrupted},
      {offsetof(RingHeader, capacity), 1000, Errc::corrupted},
      {offsetof(RingHeader, element_size), 8, Errc::corrupted},
      {offsetof(RingHeader, stride), 16, Errc::corrupted},
      {offsetof(RingHeader, flags), 1, Errc::corrupted},
      {offsetof(RingHeader, param), 40, Errc::corrupted},
      {offsetof(RingHeader, param), 1024, Errc::corrupted},
      {offsetof(RingHeader, param), 100, Errc::corrupted},
      {offsetof(RingHeader, total_size), 500, Errc::corrupted},
      {offsetof(RingControl, tail), 12, Errc::corrupted},
      {offsetof(RingControl, tail), 2048, Errc::corrupted},
  };
  for (const Case& c : cases) {
    Region region(ByteRing::required_size(1024));
    ASSERT_TRUE(ByteRing::format(region.data(), region.size(), 1024));
    region.poke<std::uint32_t>(c.offset, c.value);
    auto r = ByteRingReader::attach(region.data(), region.size());
    auto w = ByteRingWriter::attach(region.data(), region.size());
    ASSERT_FALSE(r) << "offset " << c.offset << " value " << c.value;
    ASSERT_FALSE(w);
    EXPECT_EQ(r.error().code(), c.expect) << r.error().what();
    EXPECT_EQ(w.error().code(), c.expect) << w.error().what();
  }
}

// Writes two frames, lets `corrupt` scribble, and expects next_frame() to
// report Errc::corrupted (never to return a frame or crash).
template <typename F>
void expect_corrupted(F corrupt, const char* what) {
  Rig rig(1024);
  ASSERT_TRUE(rig.writer.try_write(7, pattern(40, 1))->complete);
  ASSERT_TRUE(rig.writer.try_write(8, pattern(24, 2))->complete);
  corrupt(rig);
  Errc code = Errc::ok;
  for (int i = 0; i < 3 && code == Errc::ok; ++i) {
    auto f = rig.reader.next_frame();
    if (!f)
      code = f.error().code();
    else if (!*f)
      break;
  }
  EXPECT_EQ(code, Errc::corrupted) << what;
}

TEST(ByteRingCorrupt, EveryFrameHeaderFieldIsChecked) {
  auto field = [](std::size_t off, auto value) {
    return [off, value](Rig& rig) { rig.region.poke(rig.at(0) + off, value); };
  };
  expect_corrupted(field(offsetof(FrameHeader, position_tag), std::uint32_t{5}), "tag");
  expect_corrupted(field(offsetof(FrameHeader, kind), std::uint16_t{0}), "kind 0");
  expect_corrupted(field(offsetof(FrameHeader, kind), std::uint16_t{9}), "kind 9");
  expect_corrupted(field(offsetof(FrameHeader, flags), std::uint16_t{0x10}), "flags");
  expect_corrupted(field(offsetof(FrameHeader, length), std::uint32_t{1u << 30}), "length huge");
  expect_corrupted(field(offsetof(FrameHeader, length), std::uint32_t{300}),
                   "length beyond the frame limit");
  expect_corrupted(field(offsetof(FrameHeader, length), std::uint32_t{90}),
                   "length beyond the published tail");
  expect_corrupted(
      field(offsetof(FrameHeader, kind), static_cast<std::uint16_t>(FrameKind::padding)),
      "padding not ending at the end");
  expect_corrupted(
      field(offsetof(FrameHeader, kind), static_cast<std::uint16_t>(FrameKind::end_of_stream)),
      "end of stream with a length");
}

TEST(ByteRingCorrupt, TailIsChecked) {
  expect_corrupted([](Rig& rig) { rig.region.poke<std::uint64_t>(kTailOffset, 60); },
                   "tail inside a frame");
  expect_corrupted([](Rig& rig) { rig.region.poke<std::uint64_t>(kTailOffset, 61); },
                   "tail misaligned");
  expect_corrupted([](Rig& rig) { rig.region.poke<std::uint64_t>(kTailOffset, 5000); },
                   "tail beyond capacity");
  expect_corrupted([](Rig& rig) { rig.region.poke<std::uint64_t>(kTailOffset, 8); },
                   "tail inside the first header");
}

TEST(ByteRingCorrupt, StaleFrameFromAnEarlierLapIsRejected) {
  Rig rig(256);
  Bytes out;
  // Fill and drain one lap, then move tail forward by hand over stale data.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(rig.writer.try_write(1, pattern(40, 0))->complete);
    ASSERT_EQ(*rig.reader.try_read(1, out), ReadStatus::message);
  }
  const std::uint64_t pos = rig.writer.position();
  rig.region.poke<std::uint64_t>(kTailOffset, pos + 56);  // old bytes from one lap before
  auto f = rig.reader.next_frame();
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), Errc::corrupted);
  EXPECT_NE(f.error().message().find("position tag"), std::string::npos) << f.error().what();
}

}  // namespace
}  // namespace sluice::ring

namespace sluice::ring {
namespace {

TEST(ByteRingCorrupt, WriterChecksHeadWhenItNeedsRoom) {
  Rig rig(256);
  const Bytes m = pattern(40, 1);
  while (rig.writer.try_write(1, m)->complete) {
  }
  rig.region.poke<std::uint64_t>(offsetof(RingControl, head), 4096);  // ahead of tail
  auto w = rig.writer.try_write(1, m);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Errc::corrupted) << w.error().what();
  rig.region.poke<std::uint64_t>(offsetof(RingControl, head), 4);  // misaligned
  EXPECT_EQ(rig.writer.try_write_end(1).error().code(), Errc::corrupted);
  EXPECT_EQ(rig.writer.free_space(), 0u) << "a corrupted head frees nothing";
}

}  // namespace
}  // namespace sluice::ring
