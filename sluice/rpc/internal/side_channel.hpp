#pragma once
// Internal to the rpc layer: one connection's end of vgi-rpc's shared-memory
// side channel (PROTOCOL.md §7.3, §10).
//
// The client creates the VGIS segment, owns it and unlinks it; the server
// attaches the segment a request names and keeps it for the connection.
// Large batches travel in the segment and a zero-row pointer batch stands
// in for them on the byte stream. The reader frees each region - but only
// when it holds the allocation table: the table has no lock, and the peers
// take turns on it (a client while it writes a request or an input batch, a
// server while it runs a call). So a batch read in place is not freed when
// its last buffer goes; its region is queued, and the queue is settled at
// this side's next turn. Batches read in place are never copied, and stay
// valid for as long as the caller keeps them.

#include <sluice/batch/vgis.hpp>
#include <sluice/rpc/transport.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sluice::rpc {

// Non-empty batches of at least this many buffer bytes go through the
// segment (vgi-rpc's default; VGI_RPC_SHM_MIN_BATCH_BYTES overrides it).
inline constexpr std::uint64_t kShmMinBatchBytes = std::uint64_t{128} << 10;
// The threshold: `configured` when non-zero, else the environment's, else the default.
std::uint64_t shm_min_batch_bytes(std::uint64_t configured);

// The bytes a batch's buffers hold (children and dictionaries included):
// vgi-rpc's `nbytes`, which decides whether a batch goes through the segment.
std::uint64_t batch_bytes(const arrow::RecordBatch& batch) noexcept;

class SideChannel {
 public:
  SideChannel() = default;
  SideChannel(const SideChannel&) = delete;
  SideChannel& operator=(const SideChannel&) = delete;
  SideChannel(SideChannel&&) = delete;
  SideChannel& operator=(SideChannel&&) = delete;
  ~SideChannel() = default;

  // Client: a fresh segment of `size` bytes, owned by this side.
  Result<void> create(std::uint64_t size, std::uint64_t min_batch_bytes);
  // Server: the segment a request advertises (kept while the name stays the
  // same). It must belong to the connection's peer (or to us).
  Result<void> attach(const std::string& name, std::uint64_t size, std::optional<uid_t> peer,
                      std::uint64_t min_batch_bytes);

  [[nodiscard]] const batch::vgis::Segment* segment() const noexcept {
    return segment_ ? &*segment_ : nullptr;
  }

  // Frees the regions of batches dropped since the last turn. Call only at
  // this side's turn.
  void settle();
  // A pointer batch read in place (its region queued for freeing when the
  // batch goes); any other batch unchanged. A pointer without a segment is
  // an error that says so.
  Result<arrow::RecordBatch> resolve(const arrow::RecordBatch& batch);
  // This side's turn to send: settles first, then a batch that qualifies
  // (rows, size, room in the segment) is written into the segment and
  // returned as its pointer batch carrying the batch's metadata; any other
  // batch comes back unchanged.
  Result<arrow::RecordBatch> offload(const arrow::RecordBatch& batch);

  // Regions read in place and not yet settled (tests).
  [[nodiscard]] std::size_t pending() const;

 private:
  struct Queue {
    mutable std::mutex mutex;
    std::vector<std::uint64_t> offsets;
  };
  std::optional<batch::vgis::Segment> segment_;
  std::shared_ptr<Queue> queue_;  // per segment: a hook outlives a re-attach harmlessly
  std::uint64_t min_batch_bytes_ = kShmMinBatchBytes;
};

}  // namespace sluice::rpc
