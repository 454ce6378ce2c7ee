#pragma once
// Shared layout of the alloc multi-process tests: a control page, SPSC rings
// of ChunkRefs between every ordered pair of workers, then the heap's
// metadata and data sections. Used by alloc_handover_test.cpp and the
// alloc_worker helper it forks/execs.

#include <sluice/alloc/heap.hpp>
#include <sluice/base/units.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>

namespace sluice::alloc::mp {

inline constexpr std::uint32_t kMaxWorkers = 4;

struct Control {
  std::atomic<std::uint32_t> senders_done;
  std::atomic<std::uint32_t> go;
  alignas(64) std::atomic<std::uint64_t> sent[kMaxWorkers];
  alignas(64) std::atomic<std::uint64_t> received[kMaxWorkers];
};
static_assert(sizeof(Control) <= kPageSize);

// Single producer (worker `from`), single consumer (worker `to`).
struct RefRing {
  static constexpr std::uint64_t kSlots = 1024;
  alignas(64) std::atomic<std::uint64_t> head;  // consumer
  alignas(64) std::atomic<std::uint64_t> tail;  // producer
  alignas(64) ChunkRef slots[kSlots];
  bool push(const ChunkRef& r) {
    const std::uint64_t t = tail.load(std::memory_order_relaxed);
    if (t - head.load(std::memory_order_acquire) >= kSlots) return false;
    slots[t % kSlots] = r;
    // SYNC: publishes the slot (and the chunk's payload) to pop()'s acquire.
    tail.store(t + 1, std::memory_order_release);
    return true;
  }
  bool pop(ChunkRef& r) {
    const std::uint64_t h = head.load(std::memory_order_relaxed);
    if (h == tail.load(std::memory_order_acquire)) return false;
    r = slots[h % kSlots];
    head.store(h + 1, std::memory_order_release);
    return true;
  }
};

inline HeapConfig heap_config() {
  HeapConfig c;
  c.classes = {{64, 4096}, {256, 4096}, {1024, 2048}, {4096, 512}};
  c.tlsf_bytes = 32 * MiB;
  c.tlsf_max_blocks = 2048;
  return c;
}

struct Layout {
  std::uint64_t rings_offset;
  std::uint64_t meta_offset, meta_size;
  std::uint64_t data_offset, data_size;
  std::uint64_t total;
};

inline Layout layout_for(std::uint32_t workers) {
  Layout l{};
  l.rings_offset = kPageSize;
  l.meta_offset = align_up(l.rings_offset + sizeof(RefRing) * workers * workers, kPageSize);
  l.meta_size = align_up(Heap::metadata_bytes(heap_config()).value(), kPageSize);
  l.data_offset = l.meta_offset + l.meta_size;
  l.data_size = Heap::data_bytes(heap_config()).value();
  l.total = l.data_offset + l.data_size;
  return l;
}

inline HeapRegion region(std::byte* base, const Layout& l) {
  return HeapRegion{base, l.total, l.meta_offset, l.meta_size, l.data_offset, l.data_size};
}

inline RefRing& ring(std::byte* base, std::uint32_t workers, std::uint32_t from, std::uint32_t to) {
  return reinterpret_cast<RefRing*>(base + kPageSize)[from * workers + to];
}

// Payload check: a pattern derived from (id, generation) over the first and
// last min(size/2, 512) bytes, plus a checksum word in the first 8 bytes.
inline std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}
inline std::uint64_t span_of(std::uint64_t size) {
  return (size / 2 < 512 ? size / 2 : 512) & ~std::uint64_t{7};
}
inline void stamp(std::byte* p, std::uint64_t size, const ChunkRef& r) {
  const std::uint64_t seed = mix((std::uint64_t{r.id} << 32) ^ r.generation ^ r.offset);
  const std::uint64_t n = span_of(size);
  std::uint64_t sum = 0;
  for (std::uint64_t i = 8; i < n; i += 8) {
    const std::uint64_t w = mix(seed + i);
    std::memcpy(p + i, &w, 8);
    std::memcpy(p + size - n + i, &w, 8);
    sum += w;
  }
  std::memcpy(p, &sum, 8);
}
inline bool verify(const std::byte* p, std::uint64_t size, const ChunkRef& r) {
  const std::uint64_t seed = mix((std::uint64_t{r.id} << 32) ^ r.generation ^ r.offset);
  const std::uint64_t n = span_of(size);
  std::uint64_t sum = 0;
  for (std::uint64_t i = 8; i < n; i += 8) {
    std::uint64_t a, b;
    std::memcpy(&a, p + i, 8);
    std::memcpy(&b, p + size - n + i, 8);
    if (a != mix(seed + i) || b != a) return false;
    sum += a;
  }
  std::uint64_t stored;
  std::memcpy(&stored, p, 8);
  return stored == sum;
}

}  // namespace sluice::alloc::mp
