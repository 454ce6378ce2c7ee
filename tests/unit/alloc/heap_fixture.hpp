#pragma once
// A heap in a shared anonymous mapping (MAP_SHARED, so a forked child
// shares it and the TLSF robust mutex works across processes), laid out as
// a domain would: one header page, then metadata, then data.

#include <sluice/alloc/heap.hpp>
#include <sluice/alloc/heap_layout.hpp>

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace sluice::alloc::test {

class SharedRegion {
 public:
  explicit SharedRegion(const HeapConfig& config, std::uint64_t extra_data = 0) {
    meta_bytes_ = Heap::metadata_bytes(config).value();
    data_bytes_ = Heap::data_bytes(config).value() + extra_data;
    region_.meta_offset = kPageSize;
    region_.meta_size = align_up(meta_bytes_, kPageSize);
    region_.data_offset = region_.meta_offset + region_.meta_size;
    region_.data_size = data_bytes_;
    region_.segment_size = region_.data_offset + region_.data_size;
    void* p = ::mmap(nullptr, region_.segment_size, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    region_.base = static_cast<std::byte*>(p);
  }
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  ~SharedRegion() { ::munmap(region_.base, region_.segment_size); }

  [[nodiscard]] const HeapRegion& region() const { return region_; }
  [[nodiscard]] std::byte* base() const { return region_.base; }
  [[nodiscard]] std::byte* meta() const { return region_.base + region_.meta_offset; }
  [[nodiscard]] layout::HeapHeader& header() const {
    return *reinterpret_cast<layout::HeapHeader*>(meta());
  }
  [[nodiscard]] layout::PoolDesc& pool(std::uint32_t c) const {
    return reinterpret_cast<layout::PoolDesc*>(meta() + layout::kPoolTableOffset)[c];
  }
  [[nodiscard]] layout::TlsfHeader& tlsf() const {
    return *reinterpret_cast<layout::TlsfHeader*>(meta() + layout::kTlsfHeaderOffset);
  }
  [[nodiscard]] layout::ChunkMeta& chunk(std::uint32_t id) const {
    return reinterpret_cast<layout::ChunkMeta*>(base() + header().chunk_meta_offset)[id];
  }
  [[nodiscard]] layout::TlsfLink& link(std::uint32_t d) const {
    return reinterpret_cast<layout::TlsfLink*>(base() + header().tlsf_link_offset)[d];
  }

 private:
  HeapRegion region_;
  std::uint64_t meta_bytes_ = 0;
  std::uint64_t data_bytes_ = 0;
};

// Small config for tests: three classes and a 1 MiB TLSF region.
inline HeapConfig small_config() {
  HeapConfig c;
  c.classes = {{64, 64}, {256, 32}, {4096, 8}};
  c.tlsf_bytes = 1 * MiB;
  c.tlsf_max_blocks = 256;
  return c;
}

inline HeapConfig tlsf_only_config(std::uint64_t bytes = 1 * MiB, std::uint32_t blocks = 512) {
  HeapConfig c;
  c.tlsf_bytes = bytes;
  c.tlsf_max_blocks = blocks;
  return c;
}

// Writes a pattern derived from (seed, offset) over the chunk; verify()
// checks it. Catches overlapping chunks and scribbles.
inline void fill_pattern(std::byte* p, std::uint64_t n, std::uint64_t seed) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::uint64_t i = 0; i < n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(p + i, &x, n - i < 8 ? n - i : 8);
  }
}
inline bool verify_pattern(const std::byte* p, std::uint64_t n, std::uint64_t seed) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::uint64_t i = 0; i < n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    if (std::memcmp(p + i, &x, n - i < 8 ? n - i : 8) != 0) return false;
  }
  return true;
}

}  // namespace sluice::alloc::test
