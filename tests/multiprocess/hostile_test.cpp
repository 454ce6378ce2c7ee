// The hostile-peer suite: while honest peer processes (helpers/corrupt_peer)
// publish, receive, reclaim and attach, this process writes random bytes,
// zeros or 0xff over one region of their domain (header, peer table,
// registry, heap metadata, channel control blocks, rings, payload data), or
// shrinks the object, or replaces it under its name. Every answer of every
// honest peer must be an outcome ("ok ...") or a clear error ("err <code>
// <message>"), in time (no hang), and every peer must exit 0 (no crash, no
// sanitizer report). The summary line gives trials, crashes, hangs and
// clean errors per region.
//
// SLUICE_HOSTILE_TRIALS=N scales the trials per region and pattern (default
// 4); SLUICE_HOSTILE_SEED fixes the seed (printed either way);
// SLUICE_HOSTILE_KEEP_GOING=1 runs every trial after a failure (to count).

#include "support/process.hpp"
#include "support/shm_names.hpp"

#include <sluice/alloc/heap_layout.hpp>
#include <sluice/channel/channel.hpp>
#include <sluice/channel/internal/core.hpp>
#include <sluice/layout/segment_layout.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace sluice {
namespace {

using namespace std::chrono_literals;
using test::Child;

constexpr auto kAnswerTimeout = 10s;  // far beyond any bounded operation; a hang is longer

struct Tally {
  int trials = 0;
  int answers = 0;
  int clean_errors = 0;
  int crashes = 0;
  int hangs = 0;
  int unclear = 0;  // an answer that is neither ok nor a coded error with a message
};

class HonestPeer {
 public:
  HonestPeer(const std::string& domain, Tally& tally)
      : child_(Child::spawn(test::helper_path("corrupt_peer"), {domain})), tally_(tally) {
    record(child_.read_line(kAnswerTimeout));
  }
  HonestPeer(const HonestPeer&) = delete;
  HonestPeer& operator=(const HonestPeer&) = delete;
  ~HonestPeer() { finish(); }

  std::string operator()(const std::string& command) {
    if (dead_) return "dead";
    child_.write_line(command);
    return record(child_.read_line(kAnswerTimeout));
  }
  void finish() {
    if (dead_) return;
    dead_ = true;
    child_.write_line("exit");
    const int status =
        child_.wait(std::chrono::duration_cast<std::chrono::milliseconds>(kAnswerTimeout));
    if (status == -1) {
      ++tally_.hangs;
      child_.kill(SIGKILL);
      (void)child_.wait(5s);
    } else if (status != 0) {
      ++tally_.crashes;
      ADD_FAILURE() << "an honest peer exited with status " << status << " after: " << last_;
    }
  }

 private:
  std::string record(std::string a) {
    if (a.empty()) {
      // No answer in time: it hangs, or it died (finish() tells which).
      ++tally_.hangs;
      ADD_FAILURE() << "no answer from an honest peer after: " << last_;
      child_.kill(SIGKILL);
      (void)child_.wait(5s);
      dead_ = true;
      return "hang";
    }
    ++tally_.answers;
    if (a.rfind("err ", 0) == 0) {
      const auto space = a.find(' ', 4);
      if (space == std::string::npos || space + 1 >= a.size()) {
        ++tally_.unclear;
        ADD_FAILURE() << "an error without a message: " << a;
      } else {
        ++tally_.clean_errors;
      }
    } else if (a.rfind("ok", 0) != 0) {
      ++tally_.unclear;
      ADD_FAILURE() << "unexpected answer: " << a;
    }
    last_ = a;
    return a;
  }

  Child child_;
  Tally& tally_;
  std::string last_ = "(start)";
  bool dead_ = false;
};

enum class Pattern { random, zeros, ones };
const char* name_of(Pattern p) {
  return p == Pattern::random ? "random" : p == Pattern::zeros ? "zeros" : "0xff";
}

struct Region {
  std::uint64_t offset;
  std::uint64_t size;
};

class HostileSuite : public ::testing::Test {
 protected:
  static DomainOptions options() {
    DomainOptions o;
    o.heap.classes = {{64, 256}, {256, 256}, {1024, 128}, {4096, 64}, {65536, 16}};
    o.heap.tlsf_bytes = 4 * MiB;
    o.heap.tlsf_max_blocks = 64;
    o.max_peers = 16;
    o.max_channels = 8;
    return o;
  }
  static int trials_per_case() {
    const char* v = std::getenv("SLUICE_HOSTILE_TRIALS");
    return v ? std::max(1, static_cast<int>(std::strtol(v, nullptr, 10))) : 4;
  }
  static std::uint64_t seed() {
    const char* v = std::getenv("SLUICE_HOSTILE_SEED");
    return v ? std::strtoull(v, nullptr, 10)
             : static_cast<std::uint64_t>(
                   std::chrono::steady_clock::now().time_since_epoch().count());
  }

  // Where a channel's control block (and its rings) lie in the segment.
  static std::pair<Region, Region> channel_regions(const Domain& d, const std::string& channel) {
    auto entries = d.segment().registry_list();
    if (!entries) return {};
    for (const auto& e : *entries) {
      if (e.name != channel) continue;
      auto core = channel::ChannelCore::attach_existing(d.state(), e);
      if (!core) return {};
      const auto rings = static_cast<std::uint64_t>((*core)->rings - d.segment().base());
      return {Region{e.control_offset, rings - e.control_offset},
              Region{rings, e.control_offset + e.control_size - rings}};
    }
    return {};
  }

  static void scribble(std::byte* base, Region r, Pattern p, std::mt19937_64& rng) {
    if (r.size == 0) return;
    // Up to 4 KiB at a random place in the region (often less, sometimes
    // one word), so that both wide and surgical damage happen.
    std::uniform_int_distribution<std::uint64_t> len_d(1, std::min<std::uint64_t>(r.size, 4096));
    std::uint64_t len = len_d(rng);
    if (rng() % 3 == 0) len = std::min<std::uint64_t>(8, r.size);
    std::uniform_int_distribution<std::uint64_t> off_d(0, r.size - len);
    std::byte* at = base + r.offset + off_d(rng);
    for (std::uint64_t i = 0; i < len; ++i)
      at[i] = p == Pattern::zeros  ? std::byte{0}
              : p == Pattern::ones ? std::byte{0xff}
                                   : static_cast<std::byte>(rng());
  }

  // The honest workload after the damage: every kind of operation.
  static void workload(HonestPeer& a, HonestPeer& b, const std::string& domain, Tally& tally) {
    for (const char* size : {"10", "100", "5000", "70000", "20"}) {
      a(std::string("send ") + size);
      b("recv");
    }
    a("loan 3000");
    b("hold");
    b("reclaim");
    {
      HonestPeer late(domain, tally);
      late("sub c");
      a("send 300");
      late("recv");
      late("tx q");
      late("send 100");
      b("recv");
      late("reclaim");
    }
    a("reclaim");
  }

  void run_region(const std::string& what,
                  const std::function<void(Domain&, std::mt19937_64&, Pattern)>& damage) {
    const std::uint64_t s = seed();
    std::mt19937_64 rng(s);
    std::printf("[ hostile  ] %s: seed %llu\n", what.c_str(), static_cast<unsigned long long>(s));
    for (const Pattern p : {Pattern::random, Pattern::zeros, Pattern::ones}) {
      Tally& t = tallies_[what];
      for (int trial = 0; trial < trials_per_case(); ++trial) {
        test::ScopedShmName name("hostile");
        auto d = Domain::create(name.str(), options());
        ASSERT_TRUE(d) << d.error().what();
        ++t.trials;
        {
          HonestPeer a(name.str(), t), b(name.str(), t);
          a("pub c");
          b("sub c");
          b("rx q");
          a("tx q");
          a("send 100");
          a("send 5000");
          b("recv");
          damage(*d, rng, p);
          workload(a, b, name.str(), t);
          b("recv");
        }
        if (HasFailure() && !std::getenv("SLUICE_HOSTILE_KEEP_GOING")) {
          std::printf("[ hostile  ] %s, %s: failed in trial %d (seed %llu)\n", what.c_str(),
                      name_of(p), trial, static_cast<unsigned long long>(s));
          return;
        }
      }
    }
  }

  void TearDown() override {
    for (const auto& [region, t] : tallies_)
      std::printf(
          "[ hostile  ] %-10s trials %3d  answers %4d  clean errors %4d  crashes %d  hangs %d  "
          "unclear %d\n",
          region.c_str(), t.trials, t.answers, t.clean_errors, t.crashes, t.hangs, t.unclear);
    for (const auto& [region, t] : tallies_) {
      EXPECT_EQ(t.crashes, 0) << region;
      EXPECT_EQ(t.hangs, 0) << region;
      EXPECT_EQ(t.unclear, 0) << region;
    }
  }

  std::map<std::string, Tally> tallies_;
};

TEST_F(HostileSuite, Header) {
  run_region("header", [](Domain& d, std::mt19937_64& rng, Pattern p) {
    scribble(d.segment().base(), {0, layout::kHeaderSize}, p, rng);
  });
}

TEST_F(HostileSuite, PeerTable) {
  run_region("peers", [](Domain& d, std::mt19937_64& rng, Pattern p) {
    const auto& g = d.segment().geometry();
    scribble(d.segment().base(), {g.peers.offset, g.peers.size}, p, rng);
  });
}

TEST_F(HostileSuite, Registry) {
  run_region("registry", [](Domain& d, std::mt19937_64& rng, Pattern p) {
    const auto& g = d.segment().geometry();
    scribble(d.segment().base(), {g.registry.offset, g.registry.size}, p, rng);
  });
}

TEST_F(HostileSuite, HeapMetadata) {
  run_region("heap", [](Domain& d, std::mt19937_64& rng, Pattern p) {
    const auto& g = d.segment().geometry();
    scribble(d.segment().base(), {g.heap.offset, g.heap.size}, p, rng);
  });
}

TEST_F(HostileSuite, ControlBlocks) {
  run_region("control", [](Domain& d, std::mt19937_64& rng, Pattern p) {
    const auto c = channel_regions(d, rng() % 2 ? "c" : "q");
    scribble(d.segment().base(), c.first, p, rng);
  });
}

TEST_F(HostileSuite, Rings) {
  run_region("rings", [](Domain& d, std::mt19937_64& rng, Pattern p) {
    const auto c = channel_regions(d, rng() % 2 ? "c" : "q");
    scribble(d.segment().base(), c.second, p, rng);
  });
}

TEST_F(HostileSuite, PayloadData) {
  run_region("data", [](Domain& d, std::mt19937_64& rng, Pattern p) {
    const auto& g = d.segment().geometry();
    scribble(d.segment().base(), {g.data.offset, g.data.size}, p, rng);
  });
}

TEST_F(HostileSuite, TruncatedAndReplaced) {
  run_region("truncate", [](Domain& d, std::mt19937_64& rng, Pattern p) {
    const std::uint64_t sizes[] = {0, layout::kHeaderSize, d.segment().size() / 2,
                                   d.segment().geometry().data.offset + 4096};
    (void)p;
    ASSERT_EQ(::ftruncate(d.segment().fd(), static_cast<off_t>(sizes[rng() % 4])), 0);
  });
  run_region("replace", [](Domain& d, std::mt19937_64& rng, Pattern p) {
    const std::string path = "/" + d.name();
    ASSERT_EQ(::shm_unlink(path.c_str()), 0);
    const int fd = ::shm_open(path.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    ASSERT_GE(fd, 0);
    std::vector<std::uint8_t> bytes(d.segment().size() / 4);
    for (auto& b : bytes)
      b = p == Pattern::zeros ? 0 : p == Pattern::ones ? 0xff : static_cast<std::uint8_t>(rng());
    // Sometimes a copy of a real header on top, so attachers get past the magic.
    if (rng() % 2) std::memcpy(bytes.data(), d.segment().base(), layout::kHeaderSize);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  });
}

}  // namespace
}  // namespace sluice
