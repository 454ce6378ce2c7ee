#include <sluice/alloc/chunk.hpp>
#include <sluice/alloc/config.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace sluice::alloc {

const char* to_string(ChunkState s) noexcept {
  switch (s) {
    case ChunkState::unused:
      return "unused";
    case ChunkState::free:
      return "free";
    case ChunkState::loaned:
      return "loaned";
    case ChunkState::published:
      return "published";
    case ChunkState::freeing:
      return "freeing";
  }
  return "invalid";
}

HeapConfig HeapConfig::defaults() {
  HeapConfig c;
  c.classes = {
      {64, 32768},       // 2 MiB
      {256, 32768},      // 8 MiB
      {1 * KiB, 8192},   // 8 MiB
      {4 * KiB, 4096},   // 16 MiB
      {16 * KiB, 2048},  // 32 MiB
      {64 * KiB, 512},   // 32 MiB
      {256 * KiB, 128},  // 32 MiB
      {1 * MiB, 64},     // 64 MiB
  };
  c.tlsf_bytes = 256 * MiB;
  c.tlsf_max_blocks = 16384;
  return c;
}

HeapConfig HeapConfig::scaled(double factor, std::uint64_t tlsf_bytes) {
  HeapConfig c = defaults();
  for (auto& k : c.classes) {
    const double n = std::max(1.0, std::floor(static_cast<double>(k.count) * factor));
    k.count = n >= 2147483647.0 ? 2147483647u : static_cast<std::uint32_t>(n);
  }
  c.tlsf_bytes = align_up(tlsf_bytes, kChunkAlign);
  if (c.tlsf_bytes == 0) c.tlsf_max_blocks = 0;
  return c;
}

Result<void> HeapConfig::validate() const {
  if (classes.size() > kMaxClasses)
    return fail(Errc::invalid_argument, "heap config: {} size classes, at most {}", classes.size(),
                kMaxClasses);
  if (classes.empty() && tlsf_bytes == 0)
    return fail(Errc::invalid_argument, "heap config: no size class and no tlsf region");
  std::uint64_t chunks = 0;
  std::uint64_t data = 0;
  for (std::size_t i = 0; i < classes.size(); ++i) {
    const auto& k = classes[i];
    if (k.chunk_size < kChunkAlign || k.chunk_size % kChunkAlign != 0 ||
        k.chunk_size > kMaxChunkSize)
      return fail(Errc::invalid_argument,
                  "heap config: class {} chunk size {} is not a multiple of {} in [{}, {}]", i,
                  k.chunk_size, kChunkAlign, kChunkAlign, kMaxChunkSize);
    if (i > 0 && k.chunk_size <= classes[i - 1].chunk_size)
      return fail(Errc::invalid_argument,
                  "heap config: class {} chunk size {} does not exceed class {} ({})", i,
                  k.chunk_size, i - 1, classes[i - 1].chunk_size);
    if (k.count == 0)
      return fail(Errc::invalid_argument, "heap config: class {} ({} B) has no chunks", i,
                  k.chunk_size);
    chunks += k.count;
    // chunk_size <= 2^40 and count < 2^32: the product fits in 2^72 only
    // in theory, so bound it before adding.
    if (k.count > (kMaxTlsfBytes << 4) / k.chunk_size)
      return fail(Errc::invalid_argument, "heap config: class {} ({} B x {}) is too large", i,
                  k.chunk_size, k.count);
    data += align_up(k.chunk_size * k.count, kRegionAlign);
  }
  if (tlsf_bytes != 0) {
    if (tlsf_bytes % kChunkAlign != 0 || tlsf_bytes > kMaxTlsfBytes)
      return fail(Errc::invalid_argument,
                  "heap config: tlsf size {} is not a multiple of {} up to {}", tlsf_bytes,
                  kChunkAlign, kMaxTlsfBytes);
    if (tlsf_max_blocks < 2 || tlsf_max_blocks > kMaxTlsfBlocks)
      return fail(Errc::invalid_argument, "heap config: tlsf max blocks {} not in [2, {}]",
                  tlsf_max_blocks, kMaxTlsfBlocks);
    data += align_up(tlsf_bytes, kRegionAlign);
  } else if (tlsf_max_blocks != 0) {
    return fail(Errc::invalid_argument, "heap config: tlsf max blocks {} without a tlsf region",
                tlsf_max_blocks);
  }
  chunks += tlsf_max_blocks;
  if (chunks >= kMaxChunkIds)
    return fail(Errc::invalid_argument, "heap config: {} chunks and tlsf blocks, at most {}",
                chunks, kMaxChunkIds - 1);
  if (data > (kMaxTlsfBytes << 4))
    return fail(Errc::invalid_argument, "heap config: data area of {} bytes is too large", data);
  return ok();
}

std::string HeapConfig::describe() const {
  std::string out;
  for (const auto& k : classes) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} x {}", format_bytes(k.chunk_size), k.count);
  }
  if (!out.empty()) out += "; ";
  if (tlsf_bytes == 0)
    out += "no tlsf";
  else
    out += fmt::format("tlsf {} ({} blocks)", format_bytes(tlsf_bytes), tlsf_max_blocks);
  return out;
}

}  // namespace sluice::alloc
