// Fuzz target: the fuzzer's bytes are a descriptor ring region as another
// process might have left it. Attaching a consumer (and a producer) and
// popping / pushing everything must never crash, hang or read out of bounds;
// a bad region is an error Result.
//
// Built with -DSLUICE_RING_FUZZ_SEEDS and a main() of its own, this file
// writes the seed corpus instead (see write_seeds below), from the repo root:
//   c++ -std=c++20 -DSLUICE_RING_FUZZ_SEEDS -Iinclude tests/fuzz/fuzz_ring_descriptor.cpp
//       src/ring/*.cpp src/base/*.cpp -lfmt -o /tmp/gen
//   /tmp/gen tests/fuzz/corpus/ring_descriptor

#include <sluice/ring/descriptor.hpp>
#include <sluice/ring/mpmc_ring.hpp>
#include <sluice/ring/spsc_ring.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

using sluice::ring::Descriptor;
using Spsc = sluice::ring::SpscRing<Descriptor>;
using Mpmc = sluice::ring::MpmcRing<Descriptor>;

constexpr std::size_t kMaxRegion = 1 << 20;

struct Buffer {
  explicit Buffer(std::size_t n)
      : size(n), mem(static_cast<std::byte*>(std::aligned_alloc(64, (n + 63) / 64 * 64))) {}
  ~Buffer() { std::free(mem); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  std::size_t size;
  std::byte* mem;
};

void use(const Descriptor& d) {
  // What a channel does first with a descriptor from a peer.
  if (sluice::ring::check(d)) {
    volatile std::byte sink{};
    for (std::byte b : d.inline_payload()) sink = b;
    (void)sink;
  }
}

void run_spsc(std::byte* mem, std::size_t size) {
  if (auto c = Spsc::Consumer::attach(mem, size)) {
    Descriptor batch[8];
    Descriptor one{};
    // Bounded: a valid ring holds at most capacity elements, and every pop
    // either advances or reports empty / corrupted.
    for (int i = 0; i < 1 << 16; ++i) {
      std::size_t got = 0;
      if (i % 2 == 0) {
        auto r = c->try_pop_batch(batch);
        if (!r) break;
        got = *r;
        for (std::size_t k = 0; k < got; ++k) use(batch[k]);
      } else {
        auto r = c->try_pop(one);
        if (!r) break;
        if (*r) {
          got = 1;
          use(one);
        }
      }
      if (got == 0) break;
    }
    (void)c->size_hint();
  }
  if (auto p = Spsc::Producer::attach(mem, size)) {
    const Descriptor d = Descriptor::make_chunk(4096, 1, 100, 1, 2);
    Descriptor evicted{};
    for (int i = 0; i < 256; ++i) {
      auto r = p->overwrite() ? p->push_overwrite(d, evicted) : p->try_push(d);
      if (!r || (!p->overwrite() && !*r)) break;
      if (*r && p->overwrite()) use(evicted);
    }
  }
}

void run_mpmc(std::byte* mem, std::size_t size) {
  auto ring = Mpmc::attach(mem, size);
  if (!ring) return;
  Descriptor d{};
  for (int i = 0; i < 1 << 16; ++i) {
    auto r = ring->try_pop(d);
    if (!r || !*r) break;
    use(d);
  }
  const Descriptor in = Descriptor::make_inline({}, 5, 1);
  for (int i = 0; i < 256; ++i) {
    auto r = ring->try_push(in);
    if (!r || !*r) break;
  }
}

// Rings with a valid header whose indices and slots come from the input
// (first 16 bytes: head, tail; the rest: slot / cell bytes), so mutations
// reach the index and sequence checks instead of mostly breaking the magic.
void structured(const std::uint8_t* data, std::size_t size) {
  if (size < 16) return;
  constexpr std::uint64_t kCapacity = 8;
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  std::memcpy(&head, data, 8);
  std::memcpy(&tail, data + 8, 8);
  if ((head & 1) == 0) tail = head + tail % (kCapacity + 1);  // mostly plausible
  const bool overwrite = (tail & 2) != 0;
  {
    Buffer b(Spsc::required_size(kCapacity));
    if (!Spsc::format(b.mem, b.size, kCapacity, {overwrite, 0})) return;
    auto* control = reinterpret_cast<sluice::ring::RingControl*>(b.mem);
    control->head.value.store(head, std::memory_order_relaxed);
    control->tail.value.store(tail, std::memory_order_relaxed);
    const std::size_t n = std::min<std::size_t>(size - 16, b.size - sluice::ring::kRingDataOffset);
    if (n != 0) std::memcpy(b.mem + sluice::ring::kRingDataOffset, data + 16, n);
    run_spsc(b.mem, b.size);
  }
  {
    Buffer b(Mpmc::required_size(kCapacity));
    if (!Mpmc::format(b.mem, b.size, kCapacity, {head})) return;
    auto* control = reinterpret_cast<sluice::ring::RingControl*>(b.mem);
    control->tail.value.store(tail, std::memory_order_relaxed);
    // Overwrite cell sequence numbers and contents from the input.
    const std::size_t n = std::min<std::size_t>(size - 16, b.size - sluice::ring::kRingDataOffset);
    if (n != 0) std::memcpy(b.mem + sluice::ring::kRingDataOffset, data + 16, n);
    run_mpmc(b.mem, b.size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxRegion) return 0;
  structured(data, size);
  Buffer a(size);
  if (size != 0) std::memcpy(a.mem, data, size);
  run_spsc(a.mem, size);
  Buffer b(size);
  if (size != 0) std::memcpy(b.mem, data, size);
  run_mpmc(b.mem, size);
  return 0;
}

#ifdef SLUICE_RING_FUZZ_SEEDS
#include <fstream>
#include <string>
#include <vector>

namespace {

void save(const std::string& dir, const char* name, const std::byte* mem, std::size_t size) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(mem), static_cast<std::streamsize>(size));
}

void write_seeds(const std::string& dir) {
  {  // plain SPSC ring, 8 slots, 5 descriptors in flight across the wrap
    Buffer b(Spsc::required_size(8));
    (void)Spsc::format(b.mem, b.size, 8, {false, 6});
    auto p = Spsc::Producer::attach(b.mem, b.size).value();
    const std::byte bytes[3] = {std::byte{1}, std::byte{2}, std::byte{3}};
    for (std::uint64_t i = 0; i < 5; ++i)
      (void)p.try_push(i % 2 ? Descriptor::make_inline(bytes, i, 1)
                             : Descriptor::make_chunk(64 * i, 3, 500, i, 1));
    save(dir, "spsc_plain", b.mem, b.size);
    // Structured mode: head 0, tail 5, then the slot bytes of this ring.
    std::vector<std::byte> s(16 + 8 * sizeof(Descriptor));
    const std::uint64_t head = 0;
    const std::uint64_t tail = 5;
    std::memcpy(s.data(), &head, 8);
    std::memcpy(s.data() + 8, &tail, 8);
    std::memcpy(s.data() + 16, b.mem + sluice::ring::kRingDataOffset + 6 * sizeof(Descriptor),
                2 * sizeof(Descriptor));
    std::memcpy(s.data() + 16 + 2 * sizeof(Descriptor), b.mem + sluice::ring::kRingDataOffset,
                6 * sizeof(Descriptor));
    save(dir, "structured_spsc", s.data(), s.size());
  }
  {  // overwrite SPSC ring, full after evictions
    Buffer b(Spsc::required_size(4));
    (void)Spsc::format(b.mem, b.size, 4, {true, 0});
    auto p = Spsc::Producer::attach(b.mem, b.size).value();
    Descriptor ev{};
    for (std::uint64_t i = 0; i < 7; ++i)
      (void)p.push_overwrite(Descriptor::make_inline({}, i, 0), ev);
    save(dir, "spsc_overwrite", b.mem, b.size);
  }
  {  // MPMC ring with 3 elements
    Buffer b(Mpmc::required_size(4));
    (void)Mpmc::format(b.mem, b.size, 4, {});
    auto r = Mpmc::attach(b.mem, b.size).value();
    for (std::uint64_t i = 0; i < 3; ++i) (void)r.try_push(Descriptor::make_chunk(128, 1, 9, i, 4));
    save(dir, "mpmc", b.mem, b.size);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  write_seeds(argv[1]);
  return 0;
}
#endif
