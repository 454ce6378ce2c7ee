// Worker process of the alloc multi-process tests.
//
//   alloc_worker handover NAME INDEX WORKERS CHUNKS SEED
//       attaches to the heap in shm object NAME, or in the inherited memfd N
//       when NAME is "fd:N" (layout: alloc_mp.hpp),
//       prints "ready", waits for the go flag, then allocates CHUNKS chunks of
//       random sizes, stamps each with a pattern, publishes it and hands it
//       to another worker (sometimes to two: fan-out with add_ref), while
//       verifying and releasing what others hand to it. Prints
//       "done sent=S received=R bad=B oom=O" and exits 0 when B == 0.
//   alloc_worker churn NAME PEER SEED
//       allocates and releases random chunks forever, holding up to 256 at a
//       time (loans, never published), so that the test can kill it at a
//       random instruction; prints "ready" once it is running.

#include "multiprocess/helpers/alloc_mp.hpp"

#include <sluice/alloc/heap.hpp>
#include <sluice/os/mapping.hpp>
#include <sluice/os/shm.hpp>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace sluice;
using namespace sluice::alloc;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::printf("error %s\n", what.c_str());
  std::fflush(stdout);
  std::exit(2);
}

struct Attached {
  os::ShmObject shm;
  os::Mapping map;
  Heap heap;
};

// NAME is a shm object name, or "fd:N" for a memfd inherited from the test.
Attached attach(const std::string& name, std::uint32_t workers) {
  Attached a;
  int fd = -1;
  if (name.rfind("fd:", 0) == 0) {
    fd = std::stoi(name.substr(3));
  } else {
    auto shm = os::ShmObject::open(name);
    if (!shm) die(shm.error().what());
    a.shm = std::move(*shm);
    fd = a.shm.fd();
  }
  const mp::Layout l = mp::layout_for(workers);
  auto map = os::Mapping::map(fd, l.total);
  if (!map) die(map.error().what());
  a.map = std::move(*map);
  auto heap = Heap::attach(mp::region(a.map.data(), l));
  if (!heap) die(heap.error().what());
  a.heap = *heap;
  return a;
}

int handover(const std::string& name, std::uint32_t me, std::uint32_t workers, std::uint64_t chunks,
             std::uint64_t seed) {
  Attached a = attach(name, workers);
  Heap& h = a.heap;
  std::byte* base = a.map.data();
  auto* ctl = reinterpret_cast<mp::Control*>(base);
  const auto peer = static_cast<PeerIndex>(me + 1);
  std::mt19937_64 rng(seed * 1000003 + me);
  std::printf("ready\n");
  std::fflush(stdout);
  while (ctl->go.load(std::memory_order_acquire) == 0) std::this_thread::yield();

  std::uint64_t sent = 0, received = 0, bad = 0, oom = 0, produced = 0;
  auto drain = [&] {
    bool any = false;
    for (std::uint32_t from = 0; from < workers; ++from) {
      if (from == me) continue;
      ChunkRef r;
      auto& ring = mp::ring(base, workers, from, me);
      while (ring.pop(r)) {
        any = true;
        auto v = h.resolve(r);
        if (!v || !mp::verify(v->data, v->size, r)) {
          ++bad;
          std::fprintf(stderr, "worker %u: chunk %u gen %u from %u: %s\n", me, r.id, r.generation,
                       from, v ? "pattern mismatch" : v.error().what().c_str());
        }
        auto rel = h.release(r, peer);
        if (!rel) {
          ++bad;
          std::fprintf(stderr, "worker %u: release %u: %s\n", me, r.id, rel.error().what().c_str());
        }
        ++received;
      }
    }
    return any;
  };
  auto send = [&](std::uint32_t to, const ChunkRef& r) {
    auto& ring = mp::ring(base, workers, me, to);
    while (!ring.push(r)) {
      if (!drain()) std::this_thread::yield();
    }
    ++sent;
  };

  while (produced < chunks) {
    const std::uint64_t roll = rng() % 1000;
    const std::uint64_t size = roll < 700   ? 1 + rng() % 256
                               : roll < 950 ? 1 + rng() % 4096
                               : roll < 998 ? 4097 + rng() % 60000
                                            : 1 * MiB + rng() % (2 * MiB);
    auto ref = h.allocate(size, peer);
    if (!ref) {
      if (ref.error().code() != Errc::out_of_memory) {
        ++bad;
        std::fprintf(stderr, "worker %u: allocate %llu: %s\n", me,
                     static_cast<unsigned long long>(size), ref.error().what().c_str());
      }
      ++oom;
      if (!drain()) std::this_thread::yield();
      continue;
    }
    auto v = h.resolve(*ref);
    if (!v) {
      ++bad;
      continue;
    }
    mp::stamp(v->data, v->size, *ref);
    if (!h.publish(*ref)) ++bad;
    const std::uint32_t to1 =
        (me + 1 + static_cast<std::uint32_t>(rng() % (workers - 1))) % workers;
    const bool fan_out = workers > 2 && rng() % 5 == 0;
    std::uint32_t to2 = (to1 + 1) % workers;
    if (to2 == me) to2 = (to2 + 1) % workers;
    if (fan_out && !h.add_ref(*ref)) ++bad;
    send(to1, *ref);  // carries the allocation's own reference
    if (fan_out) send(to2, *ref);
    ++produced;
    if (produced % 32 == 0) drain();
  }
  ctl->sent[me].store(sent, std::memory_order_relaxed);
  // SYNC: the release increment publishes every push above; a worker that
  // sees all senders done (acquire) and then drains sees every chunk.
  ctl->senders_done.fetch_add(1, std::memory_order_acq_rel);
  while (ctl->senders_done.load(std::memory_order_acquire) < workers) {
    if (!drain()) std::this_thread::yield();
  }
  drain();
  ctl->received[me].store(received, std::memory_order_relaxed);
  std::printf("done sent=%llu received=%llu bad=%llu oom=%llu\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received),
              static_cast<unsigned long long>(bad), static_cast<unsigned long long>(oom));
  std::fflush(stdout);
  return bad == 0 ? 0 : 1;
}

int churn(const std::string& name, PeerIndex peer, std::uint64_t seed) {
  Attached a = attach(name, 1);
  Heap& h = a.heap;
  std::mt19937_64 rng(seed);
  std::vector<ChunkRef> held;
  std::uint64_t ops = 0;
  for (;;) {
    if (held.size() < 256 && rng() % 2 == 0) {
      const std::uint64_t roll = rng() % 100;
      const std::uint64_t size = roll < 80 ? 1 + rng() % 4096 : 4097 + rng() % 100000;
      if (auto ref = h.allocate(size, peer)) {
        if (auto v = h.resolve(*ref)) mp::stamp(v->data, v->size, *ref);
        held.push_back(*ref);
      }
    } else if (!held.empty()) {
      const std::size_t k = rng() % held.size();
      if (auto v = h.resolve(held[k]); !v || !mp::verify(v->data, v->size, held[k]))
        die("churn: bad payload");
      if (!h.release(held[k], peer)) die("churn: release failed");
      held[k] = held.back();
      held.pop_back();
    }
    if (++ops == 2000) {
      std::printf("ready\n");
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 6 && args[0] == "handover")
    return handover(args[1], static_cast<std::uint32_t>(std::stoul(args[2])),
                    static_cast<std::uint32_t>(std::stoul(args[3])), std::stoull(args[4]),
                    std::stoull(args[5]));
  if (args.size() == 4 && args[0] == "churn")
    return churn(args[1], static_cast<PeerIndex>(std::stoul(args[2])), std::stoull(args[3]));
  std::fprintf(
      stderr,
      "usage: alloc_worker handover NAME INDEX WORKERS CHUNKS SEED | churn NAME PEER SEED\n");
  return 2;
}
