#pragma once
// Heap configuration and sizing: how many chunks of which sizes the
// size-class pools hold, and how large the TLSF region is. Everything is a
// run-time option stored in the heap's metadata, so processes attaching later
// learn it from the segment.
//
// Size first, then place: the domain asks metadata_bytes() and data_bytes()
// for a config, lays out its segment, then calls Heap::format() on the
// sections it reserved (see heap.hpp).

#include <sluice/base/result.hpp>
#include <sluice/base/units.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::alloc {

// Payloads start on a 64-byte boundary (Arrow buffers want 64), so every
// chunk size and TLSF block size is a multiple of it.
inline constexpr std::uint64_t kChunkAlign = 64;
// Each pool region and the TLSF region start on a page boundary, so that
// page-sized chunks are page-aligned.
inline constexpr std::uint64_t kRegionAlign = kPageSize;
inline constexpr std::uint32_t kMaxClasses = 32;
// Pool chunk indices are 32-bit with one value reserved as "nil"; the
// whole chunk-id space (pool chunks + TLSF block descriptors) is kept below
// 2^31 so that ids fit comfortably in descriptors.
inline constexpr std::uint32_t kMaxChunkIds = 1u << 31;
inline constexpr std::uint64_t kMaxChunkSize = std::uint64_t{1} << 40;
inline constexpr std::uint64_t kMaxTlsfBytes = std::uint64_t{1} << 46;
inline constexpr std::uint32_t kMaxTlsfBlocks = 1u << 24;

struct SizeClass {
  std::uint64_t chunk_size = 0;  // bytes, a multiple of kChunkAlign
  std::uint32_t count = 0;       // chunks in the pool
  friend bool operator==(const SizeClass&, const SizeClass&) = default;
};

struct HeapConfig {
  // Ascending chunk sizes; allocate() serves a request from the smallest
  // class that fits it.
  std::vector<SizeClass> classes;
  // TLSF region: sizes above the largest class, and the fallback when a
  // class is exhausted. 0 disables it.
  std::uint64_t tlsf_bytes = 0;
  // Block descriptors of the TLSF region (live + free blocks). A split that
  // finds no spare descriptor hands out the whole block instead.
  std::uint32_t tlsf_max_blocks = 0;

  // 64 B .. 1 MiB classes with counts that do not run dry under bursty load
  // (about 173 MiB of pools), plus a 256 MiB TLSF region so that a 64 MiB
  // payload fits several times over. On tmpfs only pages that are written
  // cost memory; formatting touches none of the payload.
  static HeapConfig defaults();

  // Same classes as defaults() scaled by `factor` (counts), and the given
  // TLSF size: a quick way to size a domain up or down.
  static HeapConfig scaled(double factor, std::uint64_t tlsf_bytes);

  // Checks limits: 1..kMaxClasses classes, sizes strictly ascending,
  // multiples of 64, at most kMaxChunkSize, counts >= 1, total chunk ids
  // below kMaxChunkIds, TLSF size a multiple of 64 and at most
  // kMaxTlsfBytes with 2..kMaxTlsfBlocks descriptors when enabled.
  [[nodiscard]] Result<void> validate() const;

  // "64 B x 16384, 256 B x 16384, ...; tlsf 256 MiB (16384 blocks)".
  [[nodiscard]] std::string describe() const;

  friend bool operator==(const HeapConfig&, const HeapConfig&) = default;
};

}  // namespace sluice::alloc
