#include <sluice/rpc/internal/side_channel.hpp>

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace sluice::rpc {

namespace vgis = batch::vgis;

std::uint64_t shm_min_batch_bytes(std::uint64_t configured) {
  if (configured > 0) return configured;
  if (const char* env =
          std::getenv("VGI_RPC_SHM_MIN_BATCH_BYTES")) {  // NOLINT(concurrency-mt-unsafe)
    std::uint64_t v = 0;
    const char* end = env + std::strlen(env);
    auto [p, ec] = std::from_chars(env, end, v);
    if (ec == std::errc() && p == end && v > 0) return v;
  }
  return kShmMinBatchBytes;
}

namespace {

std::uint64_t array_bytes(const arrow::Array& a) noexcept {
  std::uint64_t n = 0;
  for (const auto& b : a.buffers()) n += b.size();
  for (const auto& c : a.children())
    if (c) n += array_bytes(*c);
  if (a.dictionary()) n += array_bytes(*a.dictionary());
  return n;
}

}  // namespace

std::uint64_t batch_bytes(const arrow::RecordBatch& batch) noexcept {
  std::uint64_t n = 0;
  for (const auto& c : batch.columns())
    if (c) n += array_bytes(*c);
  return n;
}

Result<void> SideChannel::create(std::uint64_t size, std::uint64_t min_batch_bytes) {
  SLUICE_TRY_ASSIGN(auto seg, vgis::Segment::create(vgis::Segment::unique_name(), size));
  segment_.emplace(std::move(seg));
  queue_ = std::make_shared<Queue>();
  min_batch_bytes_ = shm_min_batch_bytes(min_batch_bytes);
  return ok();
}

Result<void> SideChannel::attach(const std::string& name, std::uint64_t size,
                                 std::optional<uid_t> peer, std::uint64_t min_batch_bytes) {
  if (segment_ && segment_->name() == name) return ok();
  // Only the connection's peer (or we) may own a segment we write into: a
  // client must not aim the server at a third user's memory.
  auto seg = vgis::Segment::attach(name, size, peer ? *peer : ::geteuid());
  if (!seg)
    return fail(
        std::move(seg).error().context("cannot attach the shared-memory segment the "
                                       "request advertises"));
  segment_.emplace(std::move(seg).value());
  queue_ = std::make_shared<Queue>();
  min_batch_bytes_ = shm_min_batch_bytes(min_batch_bytes);
  return ok();
}

void SideChannel::settle() {
  if (!segment_) return;
  std::vector<std::uint64_t> offsets;
  {
    std::lock_guard lock(queue_->mutex);
    offsets.swap(queue_->offsets);
  }
  // An offset the peer already reused or freed is not ours to worry about:
  // free() refuses offsets the table does not hold.
  for (const std::uint64_t off : offsets) (void)segment_->free(off);
}

std::size_t SideChannel::pending() const {
  if (!queue_) return 0;
  std::lock_guard lock(queue_->mutex);
  return queue_->offsets.size();
}

Result<arrow::RecordBatch> SideChannel::resolve(const arrow::RecordBatch& batch) {
  if (!vgis::is_pointer_batch(batch)) return batch;
  if (!segment_)
    return fail(Errc::invalid_argument,
                "a shared-memory pointer batch (vgi_rpc.shm_offset) arrived, but no shared-memory "
                "segment is attached on this connection (the request advertised none)");
  auto hook = [q = queue_](std::uint64_t offset) {
    std::lock_guard lock(q->mutex);
    q->offsets.push_back(offset);
  };
  SLUICE_TRY_ASSIGN(auto r, vgis::resolve_pointer_batch(batch, *segment_, std::move(hook)));
  return std::move(r.batch);
}

Result<arrow::RecordBatch> SideChannel::offload(const arrow::RecordBatch& batch) {
  settle();
  if (!segment_ || batch.num_rows() == 0 || batch_bytes(batch) < min_batch_bytes_) return batch;
  arrow::ipc::WriteOptions options;
  options.alignment = 64;
  auto region = segment_->write_batch(batch.with_metadata({}), options);
  if (!region) {
    const Errc c = region.error().code();
    if (c == Errc::out_of_memory || c == Errc::table_full) return batch;  // inline instead
    return fail(std::move(region).error());
  }
  return vgis::make_pointer_batch(batch.schema(), *region, batch.metadata());
}

}  // namespace sluice::rpc
