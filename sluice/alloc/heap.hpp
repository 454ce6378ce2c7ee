#pragma once
// Heap: the process-local view of an allocator that lives in a domain's
// shared segment. Size-class pools (lock-free tagged free lists) serve the
// hot path; a TLSF region serves sizes no class fits and takes over when a
// class runs dry. All chunk metadata (state, owner, reference count,
// generation, free-list links, TLSF block links) lives in the metadata
// section, never in payload bytes.
//
// Placement. The heap does not own memory. The domain lays out its segment
// with metadata_bytes()/data_bytes(), then the creator calls format() and
// every other process attach() with a HeapRegion naming the two sections.
// Every position stored in shared memory is an offset from the segment
// base, so processes that map the segment at different addresses agree.
//
// Threading. A Heap is a small copyable view; any number of threads and
// processes may use the same shared heap at once. Pool allocate/release,
// resolve, add_ref, set_state and transfer_owner are lock-free (no system
// call, no lock, no allocation). TLSF allocation and the final release of a
// TLSF block take the TLSF robust mutex (with a timeout; a holder's death
// is detected and the structure rebuilt).
//
// Errors. out_of_memory (retryable) when the class and TLSF are exhausted;
// timed_out (retryable) when the TLSF lock is held too long; stale when a
// reference names a chunk that was released (generation mismatch or not
// live); bad_chunk when a reference does not name a chunk at all;
// corrupted when a value read from shared memory fails validation. Hot-path
// errors carry no message (no allocation); cold paths add context.
//
// Crash safety (see docs/layout/alloc.md, "Crashes"). Chunk ownership is
// recorded in the control word by the same store/CAS that hands the chunk
// out, so reclaim_peer() finds a dead peer's chunks by walking metadata
// only. Two windows of a few instructions remain in the pool path (between
// the free-list CAS and the control-word write, in either direction): a
// process killed there leaves a chunk that is free but on no list;
// audit(repair=true) relists it once the pools are quiescent.

#include <sluice/alloc/chunk.hpp>
#include <sluice/alloc/config.hpp>
#include <sluice/base/result.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sluice::alloc {

namespace layout {
struct HeapHeader;
struct PoolDesc;
struct TlsfHeader;
struct ChunkMeta;
struct TlsfLink;
}  // namespace layout

// Where the heap lives in a mapping. Offsets are from `base`; the metadata
// section must be 64-byte aligned, the data section page-aligned, both
// inside [0, segment_size) and disjoint.
struct HeapRegion {
  std::byte* base = nullptr;
  std::uint64_t segment_size = 0;
  std::uint64_t meta_offset = 0;
  std::uint64_t meta_size = 0;
  std::uint64_t data_offset = 0;
  std::uint64_t data_size = 0;
};

// Process-local options (not stored in the segment).
struct HeapOptions {
  // Longest wait for the TLSF lock before an operation gives up with
  // timed_out. A holder that died is detected at once (robust mutex); this
  // bounds the wait behind a live but stalled holder.
  std::chrono::nanoseconds lock_timeout = std::chrono::seconds(2);
};

// Where allocate() may take memory from.
enum class AllocPolicy : std::uint8_t {
  any,        // smallest fitting class, then TLSF
  pool_only,  // never take the TLSF lock
  tlsf_only,
};

struct PoolStats {
  std::uint32_t index = 0;
  std::uint64_t chunk_size = 0;
  std::uint32_t capacity = 0;
  std::uint32_t in_use = 0;      // allocations minus releases (a hint under concurrency)
  std::uint32_t high_water = 0;  // most in use at once
  std::uint64_t failures = 0;    // allocations that found the class empty
  std::uint64_t lost = 0;        // releases that could not relist a chunk
};

struct TlsfStats {
  std::uint64_t region_bytes = 0;
  std::uint64_t free_bytes = 0;
  std::uint64_t largest_free = 0;  // largest free block (scan of descriptors)
  std::uint32_t max_blocks = 0;
  std::uint32_t used_blocks = 0;  // descriptors describing a block
  std::uint32_t free_blocks = 0;
  std::uint64_t allocations = 0;
  std::uint64_t failures = 0;  // requests no free block could satisfy
  std::uint64_t repairs = 0;   // rebuilds after a dead holder or a failed check
  bool corrupted = false;
};

struct HeapStats {
  std::vector<PoolStats> pools;
  TlsfStats tlsf;
  std::uint64_t oom_failures = 0;    // allocate() calls that returned out_of_memory
  std::uint64_t tlsf_fallbacks = 0;  // requests a class could not serve, sent to TLSF
  std::uint64_t corruption_events = 0;
  std::uint64_t meta_bytes = 0;
  std::uint64_t data_bytes = 0;
};

// "pool  chunk  capacity  in use  high water  failures" table plus TLSF
// lines, and the same as a JSON object, for `sluice inspect`.
std::string format_stats_table(const HeapStats& s);
std::string format_stats_json(const HeapStats& s);

struct ReclaimReport {
  std::uint32_t freed = 0;      // loaned chunks of the peer, returned
  std::uint32_t orphaned = 0;   // published chunks: owner cleared, holders keep them
  std::uint32_t completed = 0;  // TLSF blocks the peer was freeing, finished
};

struct AuditReport {
  std::uint32_t lost_chunks = 0;  // pool chunks free but on no list
  std::uint32_t listed_live = 0;  // pool chunks on a list but not free (corruption)
  std::uint32_t bad_links = 0;    // list links out of range or cyclic
  bool pools_rebuilt = false;
  bool tlsf_checked = false;
  bool tlsf_rebuilt = false;
  std::vector<std::string> problems;  // one line per finding
  [[nodiscard]] bool clean() const noexcept { return problems.empty(); }
};

class Heap {
 public:
  // Bytes the metadata / data sections need for `config` (validated).
  static Result<std::uint64_t> metadata_bytes(const HeapConfig& config);
  static Result<std::uint64_t> data_bytes(const HeapConfig& config);

  // Creator: writes the metadata in place (never touches the data section,
  // so on tmpfs the payload costs nothing until used). The region must be
  // at least metadata_bytes/data_bytes large.
  static Result<Heap> format(const HeapRegion& region, const HeapConfig& config,
                             const HeapOptions& options = {});
  // Others: validates every immutable field of the metadata against the
  // region (classes ascending, counts, offsets inside their sections, no
  // overlap, TLSF bounds, checksum) and the current free-list heads. Reads
  // only, so it works on a read-only mapping (inspection).
  static Result<Heap> attach(const HeapRegion& region, const HeapOptions& options = {});

  Heap() = default;

  // -- hot path --------------------------------------------------------------

  // A chunk of at least `size` bytes (64-byte aligned), owned by `owner`,
  // state loaned, one reference. out_of_memory (retryable) when exhausted.
  Result<ChunkRef> allocate(std::uint64_t size, PeerIndex owner,
                            AllocPolicy policy = AllocPolicy::any) noexcept;

  // Checks `ref` (id in range, offset is that chunk's start and inside the
  // data section, generation matches, state live) and returns its bytes.
  Result<ChunkView> resolve(const ChunkRef& ref) const noexcept;

  // Adds `count` references (fan-out: one per extra holder). The caller must
  // hold a reference already. out_of_range past kMaxRefs holders.
  Result<void> add_ref(const ChunkRef& ref, std::uint32_t count = 1) noexcept;

  // Drops one reference on behalf of peer `by`; the last one frees the
  // chunk. Returns true when this call freed it. The caller must hold the
  // reference it drops: releasing a chunk already freed is detected
  // (stale), but a second release by one holder while others still hold
  // references drops one of theirs (the count does not say who holds what).
  Result<bool> release(const ChunkRef& ref, PeerIndex by) noexcept;

  // loaned -> published (or another transition between live states).
  Result<void> set_state(const ChunkRef& ref, ChunkState from, ChunkState to) noexcept;
  Result<void> publish(const ChunkRef& ref) noexcept {
    return set_state(ref, ChunkState::loaned, ChunkState::published);
  }
  // Records a new owner (e.g. a loan handed to another peer).
  Result<void> transfer_owner(const ChunkRef& ref, PeerIndex new_owner) noexcept;

  // -- cold path -------------------------------------------------------------

  [[nodiscard]] Result<ChunkInfo> info(std::uint32_t id) const;
  // Calls fn for every chunk not free/unused (walks metadata only).
  void for_each_live_chunk(const std::function<void(const ChunkInfo&)>& fn) const;
  // Chunks whose control word names `peer` (loaned, published, freeing).
  void for_each_chunk_of(PeerIndex peer, const std::function<void(const ChunkInfo&)>& fn) const;

  // Returns what a dead peer held, found by walking metadata only:
  //  - loaned chunks it owned are freed (nobody else can have received them);
  //  - published chunks it owned lose their owner (kNoPeer); their holders
  //    keep them and the last release frees them;
  //  - TLSF blocks it was freeing are finished.
  // References the peer held on chunks *others* own are not visible here
  // (the reference count does not say who holds it): the channel layer,
  // which knows what the peer had received, releases those.
  // Precondition: `peer` is dead (never call it for a live peer).
  Result<ReclaimReport> reclaim_peer(PeerIndex peer);

  // Checks every pool free list against the control words and the TLSF
  // structure. With repair = true it relists chunks that are free but on no
  // list (a process died inside the two-instruction window of a pool
  // allocate/release) and rebuilds the TLSF bins. Precondition for repair:
  // no other thread or process allocates or releases pool chunks meanwhile
  // (e.g. all other peers are dead, or stopped by the caller's protocol);
  // without repair it only reports and may report false positives while
  // others are active.
  Result<AuditReport> audit(bool repair);

  // Counters for tools; reads relaxed atomics and scans TLSF descriptors,
  // takes no lock.
  [[nodiscard]] HeapStats stats() const;

  // The config stored in the segment.
  [[nodiscard]] HeapConfig config() const;

  // -- geometry --------------------------------------------------------------

  [[nodiscard]] bool valid() const noexcept { return base_ != nullptr; }
  [[nodiscard]] std::byte* base() const noexcept { return base_; }
  [[nodiscard]] std::uint64_t data_offset() const noexcept { return data_offset_; }
  [[nodiscard]] std::uint64_t data_size() const noexcept { return data_size_; }
  [[nodiscard]] std::uint32_t class_count() const noexcept { return class_count_; }
  [[nodiscard]] std::uint64_t class_chunk_size(std::uint32_t c) const noexcept {
    return c < class_count_ ? pools_geo_[c].chunk_size : 0;
  }
  [[nodiscard]] std::uint32_t total_chunks() const noexcept { return total_chunks_; }
  [[nodiscard]] std::uint64_t tlsf_offset() const noexcept { return tlsf_offset_; }
  [[nodiscard]] std::uint64_t tlsf_bytes() const noexcept { return tlsf_bytes_; }
  // Largest request allocate() can ever satisfy.
  [[nodiscard]] std::uint64_t max_allocation() const noexcept;

 private:
  struct PoolGeometry {
    std::uint64_t chunk_size = 0;
    std::uint64_t region_offset = 0;
    std::uint32_t count = 0;
    std::uint32_t first_id = 0;
  };
  class Tlsf;
  friend class Tlsf;

  static Result<Heap> bind(const HeapRegion& region, const HeapOptions& options);

  ChunkRef pool_allocate(std::uint32_t cls, PeerIndex owner, Errc& err) noexcept;
  void pool_push(std::uint32_t cls, std::uint32_t index) noexcept;
  Result<ChunkRef> tlsf_allocate(std::uint64_t size, PeerIndex owner) noexcept;
  Result<void> tlsf_finish_free(std::uint32_t id) noexcept;
  struct RefPlace {
    std::uint64_t offset;
    std::uint32_t pool;  // validated class index, or kTlsfPool
    Errc error;          // ok, or why the ref names no chunk
  };
  RefPlace check_ref(const ChunkRef& ref) const noexcept;
  void note_corruption() const noexcept;
  [[nodiscard]] bool is_pool_id(std::uint32_t id) const noexcept { return id < pool_chunks_; }
  [[nodiscard]] std::uint32_t pool_of(std::uint32_t id) const noexcept;

  std::byte* base_ = nullptr;
  std::uint64_t segment_size_ = 0;
  layout::HeapHeader* header_ = nullptr;
  layout::PoolDesc* pools_ = nullptr;
  layout::TlsfHeader* tlsf_ = nullptr;
  layout::ChunkMeta* meta_ = nullptr;
  layout::TlsfLink* links_ = nullptr;
  std::uint64_t data_offset_ = 0;
  std::uint64_t data_size_ = 0;
  std::uint32_t class_count_ = 0;
  std::uint32_t pool_chunks_ = 0;
  std::uint32_t total_chunks_ = 0;
  std::uint32_t tlsf_max_blocks_ = 0;
  std::uint64_t tlsf_offset_ = 0;
  std::uint64_t tlsf_bytes_ = 0;
  std::chrono::nanoseconds lock_timeout_{0};
  // Validated at attach and never re-read from shared memory.
  std::array<PoolGeometry, kMaxClasses> pools_geo_{};
  // Class of pool chunk id: class_hint_[id >> class_shift_] is the class of
  // the bucket's first id; the class boundaries inside a bucket are few.
  static constexpr std::uint32_t kClassBuckets = 256;
  std::uint32_t class_shift_ = 0;
  std::array<std::uint8_t, kClassBuckets> class_hint_{};
};

}  // namespace sluice::alloc
