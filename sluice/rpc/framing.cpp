#include <sluice/rpc/framing.hpp>

#include <algorithm>
#include <cstring>

namespace sluice::rpc {
namespace {

constexpr std::size_t kReadBuffer = std::size_t{64} * 1024;
constexpr std::size_t kDirectWrite = std::size_t{256} * 1024;  // larger pieces bypass the buffer

class Source final : public arrow::ipc::InputSource {
 public:
  explicit Source(IpcInput& in) : in_(in) {}
  Result<std::size_t> read(std::span<std::byte> out) override { return in_.read(out); }

 private:
  IpcInput& in_;
};

class Sink final : public arrow::ipc::OutputSink {
 public:
  explicit Sink(IpcOutput& out) : out_(out) {}
  Result<void> write(std::span<const std::byte> bytes) override { return out_.write(bytes); }
  Result<void> flush() override { return out_.flush(); }
  [[nodiscard]] std::uint64_t position() const noexcept override { return out_.position(); }

 private:
  IpcOutput& out_;
};

}  // namespace

namespace {
// One read buffer kept per thread between IpcInputs: a client makes one per
// call, and a 64 KiB malloc and free per call costs more than the call's
// own decoding (glibc consolidates its heap on every free that large).
thread_local std::unique_ptr<std::byte[]> spare_buffer;
}  // namespace

IpcInput::IpcInput(Connection& conn, FramingLimits limits)
    : conn_(conn),
      limits_(limits),
      buf_(spare_buffer ? std::move(spare_buffer)
                        : std::make_unique_for_overwrite<std::byte[]>(kReadBuffer)) {}

IpcInput::~IpcInput() {
  if (!spare_buffer) spare_buffer = std::move(buf_);
}

Result<bool> IpcInput::at_end() {
  if (pos_ < end_) return false;
  pos_ = end_ = 0;
  SLUICE_TRY_ASSIGN(std::size_t n, conn_.read_some({buf_.get(), kReadBuffer}));
  end_ = n;
  return n == 0;
}

Result<std::size_t> IpcInput::read(std::span<std::byte> out) {
  if (out.empty()) return std::size_t{0};
  if (stream_bytes_ + out.size() > limits_.max_stream_bytes)
    return fail(Errc::out_of_range,
                "stream larger than the limit of {} bytes (max_stream_bytes) from {}",
                limits_.max_stream_bytes, conn_.describe());
  std::size_t done = 0;
  if (pos_ < end_) {
    done = std::min(out.size(), end_ - pos_);
    std::memcpy(out.data(), buf_.get() + pos_, done);
    pos_ += done;
  }
  if (done == 0) {
    if (out.size() >= kReadBuffer) {
      // Large reads (bodies) go straight into the caller's memory.
      SLUICE_TRY_ASSIGN(done, conn_.read_some(out));
    } else {
      SLUICE_TRY_ASSIGN(std::size_t n, conn_.read_some({buf_.get(), kReadBuffer}));
      pos_ = 0;
      end_ = n;
      done = std::min(out.size(), n);
      std::memcpy(out.data(), buf_.get(), done);
      pos_ = done;
    }
  }
  stream_bytes_ += done;
  return done;
}

Result<arrow::ipc::StreamReader> IpcInput::open() {
  stream_bytes_ = 0;
  arrow::ipc::ReadOptions options;
  options.max_metadata_size = limits_.max_metadata_bytes;
  return arrow::ipc::StreamReader::open(std::make_unique<Source>(*this), options);
}

Result<void> IpcInput::drain_stream() {
  SLUICE_TRY_ASSIGN(auto reader, open());
  for (;;) {
    SLUICE_TRY_ASSIGN(auto batch, reader.next());
    if (!batch) return ok();
  }
}

Result<arrow::ipc::StreamWriter> IpcOutput::open(const arrow::SchemaPtr& schema) {
  return arrow::ipc::StreamWriter::open(std::make_unique<Sink>(*this), schema);
}

Result<void> IpcOutput::write_stream(const arrow::SchemaPtr& schema,
                                     const std::vector<arrow::RecordBatch>& batches) {
  SLUICE_TRY_ASSIGN(auto writer, open(schema));
  for (const auto& b : batches) SLUICE_TRY(writer.write(b));
  return writer.close();  // EOS and flush
}

Result<void> IpcOutput::write(std::span<const std::byte> bytes) {
  if (bytes.size() >= kDirectWrite) {
    SLUICE_TRY(flush());
    SLUICE_TRY(conn_.write_all(bytes));
    written_ += bytes.size();
    return ok();
  }
  pending_.insert(pending_.end(), bytes.begin(), bytes.end());
  if (pending_.size() >= kDirectWrite) return flush();
  return ok();
}

Result<void> IpcOutput::flush() {
  if (pending_.empty()) return ok();
  auto r = conn_.write_all(pending_);
  written_ += pending_.size();
  pending_.clear();
  return r;
}

}  // namespace sluice::rpc
