#pragma once
// vgi-rpc shared-memory segments ("VGIS"), byte for byte compatible with the
// Python and Rust vgi-rpc implementations (layout: docs/layout/vgis.md).
//
//   offset  size    field (little-endian)
//   0       4       magic "VGIS"
//   4       4       version u32 = 1
//   8       8       data_size u64 = segment size - 65536
//   16      4       num_allocs u32 (<= 4094)
//   20      4       padding
//   24      16 * n  allocations (offset u64, length u64), sorted by offset;
//                   offsets are absolute (from the segment start)
//   65536   ...     data
//
// The client creates the segment, owns it and unlinks it; a server attaches
// for the duration of a call and never unlinks. Peers take turns (lockstep
// RPC), so the allocation table has no lock: a Segment must not be used by two
// threads or processes at the same time, and the table is never trusted - it
// is read into private memory, clamped to 4094 entries, sorted, bounds-checked
// and overlapping entries are treated as occupied, never as free.
//
// Batches go into the data area as a complete Arrow IPC stream (for schemas
// with top-level dictionary fields: without the leading schema message and the
// trailing end-of-stream marker). sluice writes them straight into the mapping
// (size first, then place) at 64-byte aligned offsets, and reads them in place:
// the resolved batch's buffers point into the mapping, which stays mapped while
// any of them is referenced. A zero-row "pointer batch" whose custom metadata
// carries vgi_rpc.shm_offset and vgi_rpc.shm_length (decimal strings) stands in
// for the batch on the RPC byte stream.

#include <sluice/arrow/array.hpp>
#include <sluice/arrow/ipc.hpp>

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::batch::vgis {

// The Arrow types batches are made of (sluice::arrow), by their short names.
using arrow::Buffer;
using arrow::KeyValueMetadata;
using arrow::RecordBatch;
using arrow::Schema;
using arrow::SchemaPtr;
namespace ipc = arrow::ipc;

inline constexpr std::uint64_t kHeaderSize = 65536;
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::size_t kHeaderFixedSize = 24;
inline constexpr std::size_t kAllocEntrySize = 16;
inline constexpr std::size_t kMaxAllocs =
    (kHeaderSize - kHeaderFixedSize) / kAllocEntrySize;  // 4094
static_assert(kMaxAllocs == 4094);

// vgi-rpc metadata keys.
inline constexpr std::string_view kShmOffsetKey = "vgi_rpc.shm_offset";
inline constexpr std::string_view kShmLengthKey = "vgi_rpc.shm_length";
inline constexpr std::string_view kShmSourceKey = "vgi_rpc.shm_source";
inline constexpr std::string_view kShmSegmentNameKey = "vgi_rpc.shm_segment_name";
inline constexpr std::string_view kShmSegmentSizeKey = "vgi_rpc.shm_segment_size";
inline constexpr std::string_view kLogLevelKey = "vgi_rpc.log_level";

// The fixed part of the header as it lies in the segment.
struct HeaderLayout {
  char magic[4];
  std::uint32_t version;
  std::uint64_t data_size;
  std::uint32_t num_allocs;
  std::uint32_t padding;
};
static_assert(sizeof(HeaderLayout) == kHeaderFixedSize && alignof(HeaderLayout) == 8);
static_assert(offsetof(HeaderLayout, version) == 4 && offsetof(HeaderLayout, data_size) == 8 &&
              offsetof(HeaderLayout, num_allocs) == 16 && offsetof(HeaderLayout, padding) == 20);

struct Allocation {
  std::uint64_t offset = 0;  // absolute, >= kHeaderSize
  std::uint64_t length = 0;
  friend bool operator==(const Allocation&, const Allocation&) = default;
};
static_assert(sizeof(Allocation) == kAllocEntrySize);

// What `sluice vgis dump` shows: the raw header, table entries as stored.
struct HeaderInfo {
  std::uint64_t size = 0;
  std::uint64_t data_size = 0;
  std::uint32_t num_allocs = 0;    // as stored (may exceed kMaxAllocs if corrupted)
  std::vector<Allocation> allocs;  // the first min(num_allocs, kMaxAllocs) entries, in stored order
};

class Segment {
 public:
  // Creates (O_EXCL, mode 0600), sizes and initialises a segment; this handle
  // owns it and unlinks it when destroyed. size must exceed kHeaderSize.
  static Result<Segment> create(std::string_view name, std::uint64_t size);
  // A fresh name like vgi-rpc's ("vgi_rpc_<pid>_<nanoseconds>", no slash).
  static std::string unique_name();
  // Attaches to an existing segment; never unlinks. size 0: the object's
  // size. Checks magic, version and data_size; with `owner`, refuses an
  // object that neither that uid nor this process's user owns (a server
  // attaching the segment a client named).
  static Result<Segment> attach(std::string_view name, std::uint64_t size = 0,
                                std::optional<uid_t> owner = std::nullopt);

  Segment(Segment&&) noexcept;
  Segment& operator=(Segment&&) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] std::uint64_t size() const noexcept;
  [[nodiscard]] std::uint64_t data_size() const noexcept { return size() - kHeaderSize; }
  [[nodiscard]] bool is_owner() const noexcept { return owner_; }
  // Owner only: unlink now (also done on destruction). Mappings stay valid.
  Result<void> unlink();

  // --- allocation table -----------------------------------------------------------
  // First-fit over the gaps between allocations. alignment 1 is exactly
  // vgi-rpc's placement; batches use 64 so their buffers are 64-byte aligned.
  // out_of_memory: no gap large enough; table_full: 4094 entries.
  Result<std::uint64_t> allocate(std::uint64_t size, std::uint64_t alignment = 1);
  Result<void> free(std::uint64_t offset);
  Result<void> shrink(std::uint64_t offset, std::uint64_t new_length);
  void reset();
  // The table as stored (clamped to kMaxAllocs entries), sorted by offset.
  [[nodiscard]] std::vector<Allocation> allocations() const;
  [[nodiscard]] std::uint32_t num_allocs() const noexcept;
  [[nodiscard]] HeaderInfo inspect() const;

  // Bounds-checked access to [offset, offset + length) of the segment.
  Result<std::span<std::byte>> bytes(std::uint64_t offset, std::uint64_t length) const;

  // --- batches ------------------------------------------------------------------------
  // Allocates exactly the encoded size (64-byte aligned) and serialises the
  // batch straight into the mapping. out_of_memory / table_full when it does
  // not fit (the caller sends the batch inline instead).
  Result<Allocation> write_batch(const RecordBatch& batch, const ipc::WriteOptions& options = {});
  // Decodes the batch at [offset, offset + length) in place: its buffers
  // alias the mapping (zero-copy where aligned) and keep it mapped. `schema`
  // is needed for regions without a schema message (top-level dictionaries).
  // With free_on_release, the allocation is freed when the last buffer of the
  // batch is dropped - in the thread that drops it, so only when no other
  // thread uses this segment's table then.
  Result<RecordBatch> read_batch(std::uint64_t offset, std::uint64_t length,
                                 const SchemaPtr& schema, bool free_on_release = false,
                                 const ipc::ReadOptions& options = {}) const;
  // Called with the region's offset when the last buffer of a batch read in
  // place is dropped, in the thread that drops it. The hook decides when to
  // free: an RPC connection queues the offset and frees it at its next turn,
  // when no peer is using the table.
  using ReleaseHook = std::function<void(std::uint64_t offset)>;
  Result<RecordBatch> read_batch(std::uint64_t offset, std::uint64_t length,
                                 const SchemaPtr& schema, ReleaseHook on_release,
                                 const ipc::ReadOptions& options = {}) const;

  struct Mapped;

 private:
  Segment(std::shared_ptr<Mapped> mapped, std::string name, bool owner);
  Result<RecordBatch> read_in_place(std::uint64_t offset, std::uint64_t length,
                                    const SchemaPtr& schema, std::shared_ptr<void> lifetime,
                                    const ipc::ReadOptions& options) const;
  std::shared_ptr<Mapped> mapped_;
  std::string name_;
  bool owner_ = false;
};

// --- pointer batches ------------------------------------------------------------------------

// A zero-row batch of `schema` whose metadata is `metadata` plus the region's
// offset and length as decimal strings.
Result<RecordBatch> make_pointer_batch(const SchemaPtr& schema, Allocation region,
                                       KeyValueMetadata metadata = {});
// Zero rows, an offset key, and no log level (log batches are zero-row too).
[[nodiscard]] bool is_pointer_batch(const RecordBatch& batch) noexcept;
// The region a pointer batch names (strict decimal parsing).
Result<Allocation> pointer_region(const RecordBatch& batch);

struct Resolved {
  RecordBatch batch;  // the batch read in place, or the input unchanged
  // Set when the input was a pointer batch: free it when done with `batch`
  // (unless it was resolved with free_on_release).
  std::optional<std::uint64_t> release_offset;
};
// Resolves a pointer batch through the segment (reading in place); any other
// batch is returned unchanged. The resolved batch's metadata is the region
// batch's, then the pointer batch's minus the offset/length keys, then
// vgi_rpc.shm_source = the segment's name.
Result<Resolved> resolve_pointer_batch(const RecordBatch& batch, const Segment& segment,
                                       bool free_on_release = false);
// The same, with the region handed to `on_release` when the resolved batch's
// last buffer goes (release_offset stays unset).
Result<Resolved> resolve_pointer_batch(const RecordBatch& batch, const Segment& segment,
                                       Segment::ReleaseHook on_release);
// Writes a non-empty batch into the segment and returns its pointer batch;
// returns the batch unchanged when it has no rows or does not fit.
Result<RecordBatch> maybe_write_to_segment(const RecordBatch& batch, Segment& segment,
                                           const ipc::WriteOptions& options = {});

}  // namespace sluice::batch::vgis
