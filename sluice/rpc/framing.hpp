#pragma once
// Arrow IPC streams back to back over a Connection (PROTOCOL.md §1).
//
// IpcInput reads one stream at a time with bounded memory: each stream (or,
// in a streaming call, each turn: see next_turn()) may hold at most
// `max_stream_bytes` (a clear error past it; the reader's body buffer grows
// only with bytes that actually arrive), and at_end() tells a
// clean end of the connection between streams from a stream that was cut.
// IpcOutput buffers small messages and hands large bodies straight to the
// connection; flush() after each response (or each lockstep batch) puts it
// on the wire.

#include <sluice/arrow/ipc.hpp>
#include <sluice/rpc/transport.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace sluice::rpc {

struct FramingLimits {
  std::uint64_t max_stream_bytes = std::uint64_t{1} << 32;  // one request, response or turn
  std::size_t max_metadata_bytes = std::size_t{16} << 20;   // one flatbuffer message header
};

class IpcInput {
 public:
  IpcInput(Connection& conn, FramingLimits limits);
  IpcInput(const IpcInput&) = delete;
  IpcInput& operator=(const IpcInput&) = delete;
  ~IpcInput();

  // True when the connection ended cleanly before the next stream's first
  // byte; blocks until a byte or the end arrives.
  Result<bool> at_end();
  // Opens the next stream (reads its schema message).
  Result<arrow::ipc::StreamReader> open();
  // Reads the next stream to its end and drops it (resynchronises after an
  // error or a cancelled call).
  Result<void> drain_stream();
  // Starts the byte budget again: a streaming call's streams last as long
  // as the call, so the limit applies to each turn (one batch and the logs
  // before it), not to the whole stream.
  void next_turn() noexcept { stream_bytes_ = 0; }
  // Bytes of the current stream (or turn) consumed so far.
  [[nodiscard]] std::uint64_t stream_bytes() const noexcept { return stream_bytes_; }
  [[nodiscard]] Connection& connection() noexcept { return conn_; }

  // The InputSource of the stream being read (internal).
  Result<std::size_t> read(std::span<std::byte> out);

 private:
  Connection& conn_;
  FramingLimits limits_;
  std::unique_ptr<std::byte[]> buf_;  // kReadBuffer bytes, not zeroed
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  std::uint64_t stream_bytes_ = 0;
};

class IpcOutput {
 public:
  explicit IpcOutput(Connection& conn) : conn_(conn) {}
  // A writer of one stream on `schema` that writes through this output.
  Result<arrow::ipc::StreamWriter> open(const arrow::SchemaPtr& schema);
  // One complete stream: schema, the batches, EOS; flushed.
  Result<void> write_stream(const arrow::SchemaPtr& schema,
                            const std::vector<arrow::RecordBatch>& batches);
  Result<void> flush();
  Result<void> write(std::span<const std::byte> bytes);
  [[nodiscard]] std::uint64_t position() const noexcept { return written_ + pending_.size(); }
  [[nodiscard]] Connection& connection() noexcept { return conn_; }

 private:
  Connection& conn_;
  std::vector<std::byte> pending_;
  std::uint64_t written_ = 0;
};

}  // namespace sluice::rpc
