// Real processes sharing one heap in a shared memfd:
//  - 2 and 4 workers hand millions of chunks to each other (with fan-out),
//    verify their checksum patterns and release them; at the end the
//    accounting shows zero leaks;
//  - a worker killed with SIGKILL at random moments while allocating and
//    releasing: reclaim_peer() plus a quiescent audit(repair) give every
//    chunk back, whatever instruction it died at (TLSF lock held, chunk
//    between free list and control word, ...).

#include "multiprocess/helpers/alloc_mp.hpp"
#include "support/process.hpp"
#include "support/shm_names.hpp"  // helper_path

#include <sluice/alloc/heap.hpp>
#include <sluice/os/mapping.hpp>
#include <sluice/os/shm.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>
#include <chrono>
#include <cstdlib>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

namespace sluice::alloc {
namespace {

using namespace std::chrono_literals;
using test::Child;

// The segment is a memfd that the workers inherit (a dup without
// FD_CLOEXEC, named "fd:N" on their command line): nothing in /dev/shm to
// clean up or to be removed under the test by a concurrent cleanup.
struct Segment {
  os::ShmObject shm;
  os::Mapping map;
  mp::Layout layout;
  Heap heap;
  int inherit_fd = -1;
  [[nodiscard]] std::string arg() const { return "fd:" + std::to_string(inherit_fd); }
  Segment() = default;
  Segment(Segment&& o) noexcept
      : shm(std::move(o.shm)),
        map(std::move(o.map)),
        layout(o.layout),
        heap(o.heap),
        inherit_fd(o.inherit_fd) {
    o.inherit_fd = -1;
  }
  Segment& operator=(Segment&&) = delete;
  ~Segment() {
    if (inherit_fd >= 0) ::close(inherit_fd);
  }
};

Segment create_segment(std::uint32_t workers) {
  Segment s;
  s.layout = mp::layout_for(workers);
  s.shm = os::ShmObject::memfd("sluice-alloc-mp", s.layout.total).value();
  s.inherit_fd = ::fcntl(s.shm.fd(), F_DUPFD, 3);
  if (s.inherit_fd < 0) throw std::runtime_error("fcntl F_DUPFD");
  s.map = os::Mapping::map(s.shm.fd(), s.layout.total).value();
  new (s.map.data()) mp::Control();
  for (std::uint32_t i = 0; i < workers * workers; ++i)
    new (&mp::ring(s.map.data(), workers, i / workers, i % workers)) mp::RefRing();
  s.heap = Heap::format(mp::region(s.map.data(), s.layout), mp::heap_config()).value();
  return s;
}

void expect_no_leaks(Heap& h) {
  const HeapStats s = h.stats();
  for (const auto& p : s.pools) {
    EXPECT_EQ(p.in_use, 0u) << "pool " << p.index << " (" << p.chunk_size << " B)";
    EXPECT_EQ(p.lost, 0u);
  }
  EXPECT_EQ(s.tlsf.free_bytes, s.tlsf.region_bytes);
  EXPECT_EQ(s.tlsf.largest_free, s.tlsf.region_bytes);
  EXPECT_EQ(s.tlsf.used_blocks, 1u);
  std::size_t live = 0;
  h.for_each_live_chunk([&](const ChunkInfo&) { ++live; });
  EXPECT_EQ(live, 0u);
  auto a = h.audit(false);
  ASSERT_TRUE(a) << a.error().what();
  EXPECT_TRUE(a->clean()) << a->problems.front();
}

std::uint64_t chunks_per_worker(std::uint32_t workers) {
  if (const char* e = std::getenv("SLUICE_ALLOC_MP_CHUNKS")) return std::strtoull(e, nullptr, 10);
  return 2'000'000 / workers;  // two million chunks in total per run
}

void run_handover(std::uint32_t workers) {
  Segment seg = create_segment(workers);
  const std::uint64_t chunks = chunks_per_worker(workers);
  std::vector<Child> kids;
  for (std::uint32_t i = 0; i < workers; ++i)
    kids.push_back(Child::spawn(test::helper_path("alloc_worker"),
                                {"handover", seg.arg(), std::to_string(i), std::to_string(workers),
                                 std::to_string(chunks), "42"}));
  for (auto& k : kids) ASSERT_EQ(k.read_line(), "ready");
  const auto start = std::chrono::steady_clock::now();
  auto* ctl = reinterpret_cast<mp::Control*>(seg.map.data());
  ctl->go.store(1, std::memory_order_release);
  std::uint64_t sent = 0, received = 0;
  for (std::uint32_t i = 0; i < workers; ++i) {
    const std::string line = kids[i].read_line(300s);
    EXPECT_EQ(line.rfind("done ", 0), 0u) << "worker " << i << ": " << line;
    EXPECT_NE(line.find(" bad=0 "), std::string::npos) << "worker " << i << ": " << line;
    EXPECT_EQ(kids[i].wait(60s), 0) << "worker " << i;
    sent += ctl->sent[i].load();
    received += ctl->received[i].load();
  }
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%u workers: %llu chunks handed over (%llu deliveries) in %.2f s\n", workers,
              static_cast<unsigned long long>(chunks * workers),
              static_cast<unsigned long long>(sent), secs);
  EXPECT_EQ(sent, received);
  EXPECT_GE(sent, chunks * workers);
  expect_no_leaks(seg.heap);
  EXPECT_EQ(seg.heap.stats().corruption_events, 0u);
}

TEST(AllocMultiProcess, TwoWorkersHandOverChunks) { run_handover(2); }

TEST(AllocMultiProcess, FourWorkersHandOverWithFanOut) { run_handover(4); }

TEST(AllocMultiProcess, KilledWorkerChunksAreReclaimed) {
  Segment seg = create_segment(1);
  std::mt19937_64 rng(7);
  std::uint32_t freed = 0;
  for (int round = 0; round < 12; ++round) {
    const auto peer = static_cast<PeerIndex>(10 + round);
    Child k = Child::spawn(test::helper_path("alloc_worker"),
                           {"churn", seg.arg(), std::to_string(peer), std::to_string(round)});
    ASSERT_EQ(k.read_line(), "ready") << "round " << round;
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 50000));
    k.kill(9);
    EXPECT_EQ(k.wait(10s), 128 + 9);
    // Survivor's recovery: what the dead peer owned, then the quiescent
    // audit for a chunk caught between a free list and its control word.
    auto rep = seg.heap.reclaim_peer(peer);
    ASSERT_TRUE(rep) << rep.error().what();
    EXPECT_EQ(rep->orphaned, 0u) << "the worker never publishes";
    freed += rep->freed;
    auto audit = seg.heap.audit(true);
    ASSERT_TRUE(audit) << audit.error().what();
    for (const auto& p : audit->problems) std::printf("round %d: repaired: %s\n", round, p.c_str());
    EXPECT_LE(audit->lost_chunks, 1u) << "one chunk at most can be in flight when a process dies";
    EXPECT_EQ(audit->listed_live, 0u);
    EXPECT_EQ(audit->bad_links, 0u);
    expect_no_leaks(seg.heap);
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GT(freed, 0u);
}

}  // namespace
}  // namespace sluice::alloc
