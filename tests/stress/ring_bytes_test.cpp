// Framed byte ring under two threads: a writer interleaves messages of
// several streams (sizes from 0 bytes to several times the ring, some written
// in pieces), a reader demultiplexes them with try_read / try_read_any under
// a small pending budget. Every message arrives whole, in per-stream order,
// and every stream ends with its end-of-stream frame.

#include <sluice/base/atomic.hpp>
#include <sluice/base/units.hpp>
#include <sluice/ring/byte_ring.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace sluice::ring {
namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr std::uint32_t kScale = 4;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr std::uint32_t kScale = 4;
#else
constexpr std::uint32_t kScale = 1;
#endif
#else
constexpr std::uint32_t kScale = 1;
#endif

constexpr auto kWatchdog = std::chrono::seconds(120);
constexpr std::uint32_t kStreams = 5;

std::uint64_t mix(std::uint64_t x) noexcept {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDULL;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ULL;
  return x ^ (x >> 33);
}

// Size of message `seq` of `stream`: mostly small, some larger than the ring.
std::size_t message_size(std::uint32_t stream, std::uint32_t seq) noexcept {
  const std::uint64_t h = mix((std::uint64_t{stream} << 32) | seq);
  const std::uint64_t pick = h % 100;
  if (pick < 65) return static_cast<std::size_t>((h >> 8) % 65);
  if (pick < 95) return static_cast<std::size_t>((h >> 8) % 2000);
  return static_cast<std::size_t>((h >> 8) % 30000);
}

void fill(std::vector<std::byte>& b, std::uint32_t stream, std::uint32_t seq) {
  b.resize(message_size(stream, seq));
  std::uint64_t x = mix((std::uint64_t{seq} << 32) ^ stream ^ 0x5555);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i % 8 == 0) x = mix(x + i);
    b[i] = static_cast<std::byte>(x >> ((i % 8) * 8));
  }
}

class Backoff {
 public:
  void pause() {
    if (++spins_ < 32) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  void reset() { spins_ = 0; }

 private:
  int spins_ = 0;
};

struct Case {
  std::uint64_t capacity;
  std::uint32_t max_frame;
  std::uint32_t messages_per_stream;
  std::size_t pending_budget;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << "capacity " << c.capacity << ", max frame " << c.max_frame << ", " << c.messages_per_stream
      << " messages per stream, budget " << c.pending_budget;
}

class ByteRingStress : public ::testing::TestWithParam<Case> {};

TEST_P(ByteRingStress, StreamsArriveWholeAndInOrder) {
  const Case c = GetParam();
  const std::uint32_t per_stream = c.messages_per_stream / kScale;
  const std::size_t bytes = ByteRing::required_size(c.capacity);
  auto* mem = static_cast<std::byte*>(std::aligned_alloc(kCacheLine, bytes));
  ASSERT_NE(mem, nullptr);
  ASSERT_TRUE(ByteRing::format(mem, bytes, c.capacity, {c.max_frame, 0}));
  auto writer = ByteRingWriter::attach(mem, bytes);
  auto reader = ByteRingReader::attach(mem, bytes, {c.pending_budget, 1 * MiB});
  ASSERT_TRUE(writer && reader);
  const auto start = std::chrono::steady_clock::now();
  std::atomic<bool> failed{false};
  auto expired = [&] { return std::chrono::steady_clock::now() - start > kWatchdog; };

  std::thread wthread([&] {
    std::mt19937 rng(11);
    std::vector<std::uint32_t> next(kStreams, 0);
    // A message being written in pieces, per stream.
    std::vector<std::vector<std::byte>> body(kStreams);
    std::vector<std::size_t> offset(kStreams, 0);
    std::vector<bool> active(kStreams, false);
    std::uint32_t finished = 0;
    Backoff backoff;
    auto write_piece = [&](std::uint32_t s, std::span<const std::byte> piece, bool end) -> bool {
      std::size_t done = 0;
      for (;;) {
        auto r = writer->try_write(s, piece.subspan(done), end);
        if (!r) return false;
        done += r->bytes;
        if (r->complete) return true;
        backoff.pause();
        if (expired()) return false;
      }
    };
    while (finished < kStreams) {
      const auto s = static_cast<std::uint32_t>(rng() % kStreams);
      if (!active[s]) {
        if (next[s] == per_stream) continue;
        fill(body[s], s, next[s]);
        offset[s] = 0;
        active[s] = true;
      }
      // Either the rest of the message, or a piece of it (then another
      // stream may come in between).
      const std::size_t rest = body[s].size() - offset[s];
      const bool whole = rest == 0 || rng() % 3 != 0;
      const std::size_t n = whole ? rest : 1 + rng() % rest;
      const bool end = n == rest;
      if (!write_piece(s, std::span<const std::byte>(body[s]).subspan(offset[s], n), end)) {
        failed = true;
        return;
      }
      backoff.reset();
      offset[s] += n;
      if (end) {
        active[s] = false;
        if (++next[s] == per_stream) {
          for (;;) {
            auto r = writer->try_write_end(s);
            if (!r) {
              failed = true;
              return;
            }
            if (r->complete) break;
            backoff.pause();
            if (expired()) {
              failed = true;
              return;
            }
          }
          ++finished;
        }
      }
    }
  });

  std::vector<std::uint32_t> received(kStreams, 0);
  std::vector<bool> ended(kStreams, false);
  std::uint32_t ended_count = 0;
  std::uint64_t bad = 0;
  std::uint64_t blocked = 0;
  std::uint64_t bytes_moved = 0;
  std::vector<std::byte> msg;
  std::vector<std::byte> expect;
  std::mt19937 rng(12);
  Backoff backoff;
  auto deliver = [&](std::uint32_t s, ReadStatus st) {
    if (s >= kStreams || ended[s]) {
      ++bad;
      return;
    }
    if (st == ReadStatus::end_of_stream) {
      ended[s] = true;
      ++ended_count;
      if (received[s] != per_stream) ++bad;
      return;
    }
    fill(expect, s, received[s]);
    if (msg != expect) ++bad;
    bytes_moved += msg.size();
    ++received[s];
  };
  while (ended_count < kStreams && !failed.load(std::memory_order_relaxed)) {
    Result<ReadStatus> r = ReadStatus::empty;
    std::uint32_t s = 0;
    if (rng() % 4 == 0) {
      r = reader->try_read_any(s, msg);
    } else {
      s = static_cast<std::uint32_t>(rng() % kStreams);
      if (ended[s]) continue;
      r = reader->try_read(s, msg);
    }
    ASSERT_TRUE(r) << r.error().what();
    switch (*r) {
      case ReadStatus::message:
      case ReadStatus::end_of_stream:
        deliver(s, *r);
        backoff.reset();
        break;
      case ReadStatus::blocked: {
        ++blocked;
        auto a = reader->try_read_any(s, msg);
        ASSERT_TRUE(a) << a.error().what();
        if (*a == ReadStatus::message || *a == ReadStatus::end_of_stream) deliver(s, *a);
        break;
      }
      case ReadStatus::empty:
        backoff.pause();
        if (expired()) failed = true;
        break;
    }
  }
  wthread.join();
  ASSERT_FALSE(failed.load()) << "writer failed or the watchdog expired";
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(ended_count, kStreams);
  for (std::uint32_t s = 0; s < kStreams; ++s) EXPECT_EQ(received[s], per_stream);
  EXPECT_EQ(reader->buffered_bytes(), 0u);
  EXPECT_EQ(reader->dropped_messages(), 0u);
  std::printf("byte ring %llu: %u messages, %.1f MiB, %llu blocked reads\n",
              static_cast<unsigned long long>(c.capacity), per_stream * kStreams,
              static_cast<double>(bytes_moved) / (1024.0 * 1024.0),
              static_cast<unsigned long long>(blocked));
  std::free(mem);
}

INSTANTIATE_TEST_SUITE_P(Cases, ByteRingStress,
                         ::testing::Values(Case{4096, 1024, 30000, 16 * 1024},
                                           Case{256, 64, 8000, 1024},
                                           Case{64 * 1024, 0, 30000, 1 * 1024 * 1024}),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return "cap" + std::to_string(param_info.param.capacity) + "_budget" +
                                  std::to_string(param_info.param.pending_budget);
                         });

}  // namespace
}  // namespace sluice::ring
