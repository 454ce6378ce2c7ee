#pragma once
// Internal to the alloc layer: geometry computation shared by sizing,
// format and attach, and the TLSF engine (runs under the TLSF lock).

#include <sluice/alloc/chunk.hpp>
#include <sluice/alloc/config.hpp>
#include <sluice/alloc/heap.hpp>
#include <sluice/alloc/heap_layout.hpp>
#include <sluice/alloc/tlsf_bins.hpp>
#include <sluice/base/internal/crash_point.hpp>
#include <sluice/base/result.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::alloc::detail {

// Where everything goes, relative to the metadata / data section starts.
struct Geometry {
  std::uint64_t meta_bytes = 0;
  std::uint64_t data_bytes = 0;
  std::uint32_t pool_chunks = 0;
  std::uint32_t total_chunks = 0;
  std::uint64_t chunk_meta_rel = 0;  // from the metadata section start
  std::uint64_t tlsf_link_rel = 0;
  std::array<std::uint64_t, kMaxClasses> pool_rel{};  // from the data section start
  std::array<std::uint32_t, kMaxClasses> first_id{};
  std::uint64_t tlsf_rel = 0;
};

Result<Geometry> compute_geometry(const HeapConfig& config);

std::uint64_t header_checksum(const layout::HeapHeader& h, const layout::PoolDesc* pools,
                              std::uint32_t class_count) noexcept;

}  // namespace sluice::alloc::detail

namespace sluice::alloc {

// The TLSF engine. Every member function other than the constructor must be
// called with the TLSF lock held (lock() returns it). Offsets and sizes are
// segment-relative bytes; descriptor indices are local (0..max_blocks), the
// chunk id of descriptor d is pool_chunks + d.
//
// Consistency: the descriptors' control/offset/size are the source of
// truth. Bins, bitmaps, physical links and the spare stack are derived and
// rebuilt by rebuild() whenever a holder died or a check fails. Writes that
// change which bytes a descriptor covers are ordered "shrink before grow"
// (a split shrinks the old block before the new one appears; a merge
// retires the absorbed block before the survivor grows), so a crash leaves
// at worst an uncovered gap, which rebuild() turns into a free block, and
// never an overlap.
class Heap::Tlsf {
 public:
  // Holds the TLSF robust mutex; unlocks on destruction.
  class Guard {
   public:
    explicit Guard(os::RobustMutexData* m) noexcept : m_(m) {}
    Guard(Guard&& o) noexcept : m_(o.m_) { o.m_ = nullptr; }
    Guard& operator=(Guard&&) = delete;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() {
      if (m_) os::robust_mutex_unlock(*m_);
    }

   private:
    os::RobustMutexData* m_;
  };

  explicit Tlsf(Heap& heap) noexcept;

  // Takes the robust lock (a trylock first: the uncontended case costs no
  // clock read; then a timed wait of the heap's lock_timeout); rebuilds when
  // the previous holder died.
  Result<Guard> lock();

  // Allocates >= size bytes for `owner`; returns the descriptor index and
  // sets gen/offset. out_of_memory when nothing fits.
  Result<std::uint32_t> allocate(std::uint64_t size, PeerIndex owner, std::uint32_t& gen,
                                 std::uint64_t& offset);
  // Finishes a free of descriptor d (state freeing); no-op if someone else
  // did it already.
  Result<void> finish_free(std::uint32_t d);
  // Finishes every block left in state freeing; returns how many.
  Result<std::uint32_t> sweep_freeing();
  // Rebuilds every derived structure from the descriptors.
  Result<void> rebuild();
  // Full consistency check; appends one line per problem found.
  void check(std::vector<std::string>& problems) const;

 private:
  enum class Step { ok, inconsistent };
  [[nodiscard]] bool corrupted() const noexcept;
  Result<void> mark_corrupted(std::string message);
  [[nodiscard]] std::uint64_t control(std::uint32_t d) const noexcept;
  [[nodiscard]] ChunkState state(std::uint32_t d) const noexcept;
  [[nodiscard]] std::uint64_t offset(std::uint32_t d) const noexcept;
  [[nodiscard]] std::uint64_t size(std::uint32_t d) const noexcept;
  [[nodiscard]] bool geometry_ok(std::uint64_t off, std::uint64_t sz) const noexcept;
  void set_state_keep_gen(std::uint32_t d, ChunkState s) noexcept;
  Step insert_free(std::uint32_t d) noexcept;
  Step remove_free(std::uint32_t d) noexcept;
  std::uint32_t find_free(std::uint64_t size, tlsf::Bin& bin) const noexcept;
  std::uint32_t take_spare() noexcept;
  void put_spare(std::uint32_t d) noexcept;
  Result<std::uint32_t> allocate_once(std::uint64_t size, PeerIndex owner, std::uint32_t& gen,
                                      std::uint64_t& offset, Step& step);
  Step finish_free_once(std::uint32_t d);

  Heap& heap_;
  layout::TlsfHeader& hdr_;
  layout::ChunkMeta* meta_;  // descriptor 0
  layout::TlsfLink* links_;
  std::uint32_t max_;
  std::uint64_t lo_;  // region [lo_, hi_) from the segment base
  std::uint64_t hi_;
};

}  // namespace sluice::alloc
