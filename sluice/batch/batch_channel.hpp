#pragma once
// Arrow record batches over sluice channels, zero-copy at both ends.
//
// Framing: every channel message is one complete Arrow IPC stream - the
// schema message, the dictionary batches the batch references, the record
// batch, the end-of-stream marker - starting at the chunk's first byte (64-byte
// aligned), with body buffers aligned to WriteOptions::alignment (64). A
// message is self-describing: a late joiner, a history replay or a subscriber
// that missed messages (overwrite policy) decodes it without any state, and
// any Arrow implementation can read the chunk's bytes as they are. The channel
// is registered with its own type id (kBatchChannelTypeId), so a plain byte
// endpoint attaching to it by mistake gets a configuration-mismatch error.
//
// Writing, two ways:
//   - publish(batch): size first, then place. The IPC size of the batch is
//     computed without touching the body, a chunk of exactly that size is
//     loaned, and the stream is written straight into it: each body buffer is
//     copied once, from the arrays into shared memory; nothing is staged.
//   - loan(schema, rows, capacities) / publish(BatchLoan&&): build the batch
//     in place. The loan writes the whole stream into the chunk up front
//     (the record-batch metadata with what is known then) and hands out the
//     column buffers at their final positions; the caller fills them and
//     publish() patches the null counts and data lengths into the metadata
//     and pushes the descriptor. No body byte is copied and nothing is
//     allocated, so publishing costs the same for 1 KiB and 1 GiB. Columns of
//     the flat layouts only (null, bool, fixed width, utf8/binary and their
//     large variants); nested and dictionary columns go through publish(batch).
//
// Reading: receive() decodes the stream in place. Every array buffer of the
// batch points into the shared mapping (the flatbuffer metadata is copied into
// private memory and verified first; see ipc.hpp), and the buffers' lifetime
// handle owns the channel sample: the batch, any array, slice or C Data export
// taken from it keeps the chunk alive, and the last reference dropped releases
// it. The bytes are untrusted: a malformed message yields Errc::parse_error (or
// not_supported) with context, the sample is released and the channel goes
// on. Validation is ipc::ReadOptions::validation (full by default: linear in
// offset buffers, fixed-width data never scanned), so receiving a 64 MiB
// int64 column costs what receiving a 1 KiB one does.
//
// Threading: publishers, loans and subscribers are used by one thread at a
// time, like every channel endpoint. Batches are not tied to a thread: the
// last reference may be dropped on any thread (a query engine's worker, the
// release callback of a C Data export), concurrently with the subscriber's
// receive calls, and the channel sample under it is released right there
// (channel samples may be released from any thread). Batches may outlive
// their subscriber object.
//
// Holding a batch holds a channel sample: a subscriber can hold at most
// ChannelOptions::max_held of them at once (receive fails with table_full
// beyond that), and held chunks are not reused by the publisher.

#include <sluice/arrow/array.hpp>
#include <sluice/arrow/c_data.hpp>
#include <sluice/arrow/ipc.hpp>
#include <sluice/channel/channel.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sluice::batch {

// The Arrow types batches are made of (sluice::arrow), by their short names.
using arrow::Buffer;
using arrow::KeyValueMetadata;
using arrow::Layout;
using arrow::RecordBatch;
using arrow::Schema;
using arrow::SchemaPtr;
namespace ipc = arrow::ipc;
namespace c_data = arrow::c_data;

// FNV-1a of "sluice.arrow.ipc-stream/1": the payload type id of batch channels.
inline constexpr std::uint64_t kBatchChannelTypeId = [] {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : std::string_view("sluice.arrow.ipc-stream/1")) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}();

class BatchPublisher;

// A record batch being built in place, inside a loaned chunk laid out as the
// IPC stream it will be published as. Column buffers are writable at their
// final position; their contents are undefined when loaned (the chunk may
// hold an older message) except that validity bitmaps start all-valid and the
// first offset of utf8/binary columns is 0. Dropping the loan unpublished
// returns the chunk. Belongs to its publisher's thread.
class BatchLoan {
 public:
  BatchLoan();
  BatchLoan(BatchLoan&&) noexcept;
  BatchLoan& operator=(BatchLoan&&) noexcept;
  ~BatchLoan();

  [[nodiscard]] bool valid() const noexcept { return loan_.valid(); }
  [[nodiscard]] const SchemaPtr& schema() const noexcept { return schema_; }
  [[nodiscard]] std::int64_t num_rows() const noexcept { return rows_; }
  [[nodiscard]] std::size_t num_columns() const noexcept { return columns_.size(); }
  // Bytes of the whole stream (the chunk's published size).
  [[nodiscard]] std::size_t stream_size() const noexcept { return loan_.size(); }

  // Column c's validity bitmap: ceil(rows / 8) bytes, bit i set = row i valid.
  // Empty for non-nullable fields and the null type.
  [[nodiscard]] std::span<std::byte> validity(std::size_t c);
  // bool: the value bitmap; fixed width: rows * byte_width bytes; utf8 /
  // binary: rows + 1 offsets (int32, or int64 for the large variants). Empty
  // for the null type.
  [[nodiscard]] std::span<std::byte> values(std::size_t c);
  // utf8 / binary: the data area (the capacity asked for). Empty otherwise.
  [[nodiscard]] std::span<std::byte> data(std::size_t c);
  // values(c) as T (64-byte aligned; T's size must divide the buffer).
  template <typename T>
  [[nodiscard]] std::span<T> values_as(std::size_t c) {
    static_assert(std::is_trivially_copyable_v<T> && alignof(T) <= 64);
    const auto v = values(c);
    SLUICE_CHECK(v.size() % sizeof(T) == 0);
    return {reinterpret_cast<T*>(v.data()), v.size() / sizeof(T)};
  }
  // The number of nulls of column c, when the caller knows it; otherwise
  // publish() counts the validity bitmap (rows / 8 bytes read).
  void set_null_count(std::size_t c, std::int64_t null_count);

  // Where each column's buffers sit in the chunk (for BatchPublisher).
  struct Slot {
    std::size_t offset = 0;  // from the body start
    std::size_t length = 0;  // bytes reserved (and written to the metadata, except data)
  };
  struct Column {
    Layout layout = Layout::null;
    Slot validity, values, data;
    std::int64_t null_count = -1;  // -1: count at publish
    std::size_t first_buffer = 0;  // index of its validity Buffer in the metadata
  };

 private:
  friend class BatchPublisher;
  Loan loan_;
  SchemaPtr schema_;
  std::int64_t rows_ = 0;
  std::vector<Column> columns_;
  std::size_t nodes_at_ = 0;     // the record-batch metadata's FieldNode array, in the chunk
  std::size_t buffers_at_ = 0;   // its Buffer array
  std::size_t body_offset_ = 0;  // the message body, in the chunk
  std::size_t body_length_ = 0;
};

class BatchPublisher {
 public:
  // Creates the channel or attaches to it (options must match) and takes the
  // publisher slot, as BytePublisher::create. `write` applies to publish(batch)
  // (alignment, compression) and the alignment to loans.
  static Result<BatchPublisher> create(const Domain& domain, std::string_view name,
                                       const ChannelOptions& options = {},
                                       const ipc::WriteOptions& write = {});
  BatchPublisher();
  BatchPublisher(BatchPublisher&&) noexcept;
  BatchPublisher& operator=(BatchPublisher&&) noexcept;
  ~BatchPublisher();

  // Serialises `batch` straight into a loan of exactly its stream size and
  // publishes it. out_of_memory (no chunk that large free), queue_full and
  // timed_out are retryable; the chunk is returned on failure.
  Result<void> publish(const RecordBatch& batch);
  // Bytes publish(batch) would loan.
  [[nodiscard]] Result<std::size_t> serialized_size(const RecordBatch& batch) const;

  // Loans a chunk laid out for `rows` rows of `schema` (flat columns only;
  // not_supported otherwise). data_capacity[c] is the data area of utf8 /
  // binary column c in bytes (absent or ignored for other columns);
  // `metadata` is the batch's custom metadata.
  Result<BatchLoan> loan(SchemaPtr schema, std::int64_t rows,
                         std::span<const std::size_t> data_capacity = {},
                         KeyValueMetadata metadata = {});
  // Finishes the record-batch metadata (null counts, data lengths, after
  // checking the offsets of utf8 / binary columns) and publishes. The loan
  // must come from this publisher. On failure the loan stays with the caller,
  // who may retry or drop it.
  Result<void> publish(BatchLoan&& loan);

  [[nodiscard]] std::uint32_t subscriber_count() const noexcept { return pub_.subscriber_count(); }
  [[nodiscard]] EndpointStats stats() const noexcept { return pub_.stats(); }
  [[nodiscard]] const std::string& channel_name() const noexcept { return pub_.channel_name(); }
  [[nodiscard]] const ipc::WriteOptions& write_options() const noexcept { return write_; }

 private:
  BytePublisher pub_;
  ipc::WriteOptions write_;
};

struct BatchSubscriberOptions {
  // When set, a batch whose schema differs fails with Errc::type_error (the
  // sample is released; the channel goes on).
  SchemaPtr expected_schema;
  bool check_schema_metadata = false;
  // Decoding: validation level and allocation limits. zero_copy must stay on
  // for the batch to alias the mapping (off, every buffer is copied out and
  // the sample is released before receive returns).
  ipc::ReadOptions read;
};

// A received batch and where it came from.
struct ReceivedBatch {
  RecordBatch batch;
  std::uint64_t sequence = 0;         // the channel's message sequence number
  std::size_t stream_bytes = 0;       // size of the IPC stream in the chunk
  std::uint64_t buffers_aliased = 0;  // buffers pointing into the mapping
  std::uint64_t buffers_copied = 0;   // misaligned or compressed buffers (owned copies)
};

class BatchSubscriber {
 public:
  static Result<BatchSubscriber> create(const Domain& domain, std::string_view name,
                                        const BatchSubscriberOptions& batch = {},
                                        const SubscribeOptions& sub = {},
                                        const ChannelOptions& options = {});
  BatchSubscriber();
  BatchSubscriber(BatchSubscriber&&) noexcept;
  BatchSubscriber& operator=(BatchSubscriber&&) noexcept;
  ~BatchSubscriber();

  // would_block when nothing is waiting; parse_error / not_supported for a
  // malformed message, type_error for an unexpected schema (both skip that
  // message); table_full when max_held batches are still referenced.
  Result<ReceivedBatch> try_receive();
  // Spins briefly, then sleeps until a batch arrives or `timeout` passes
  // (timed_out).
  Result<ReceivedBatch> receive_for(std::chrono::nanoseconds timeout);

  // Pollable descriptor, as ByteSubscriber::notification_fd.
  Result<int> notification_fd();
  [[nodiscard]] bool has_data_hint() const noexcept { return sub_.has_data_hint(); }
  [[nodiscard]] EndpointStats stats() const noexcept { return sub_.stats(); }
  [[nodiscard]] const std::string& channel_name() const noexcept { return sub_.channel_name(); }
  // Received batches whose sample is still referenced (by any thread).
  [[nodiscard]] std::uint32_t batches_held() const noexcept;
  [[nodiscard]] const BatchSubscriberOptions& options() const noexcept { return options_; }

 private:
  Result<ReceivedBatch> decode(Sample&& sample);
  std::size_t split_schema(const Buffer& bytes, bool& known);
  void close() noexcept;

  ByteSubscriber sub_;
  std::shared_ptr<std::atomic<std::uint32_t>> held_;  // batches alive (null: closed)
  BatchSubscriberOptions options_;
  // The last schema message seen (a private copy) and its decoded schema: a
  // message whose schema message is byte-identical skips decoding it (and
  // the expected-schema comparison). Not used for schemas with dictionaries.
  std::vector<std::byte> schema_message_;
  SchemaPtr schema_;
};

// Exports a subscriber as an ArrowArrayStream (the subscriber is moved into
// the stream and closed when the consumer releases it). get_next waits up to
// `idle_timeout` for the next batch and ends the stream when none came (or
// after `max_batches`, 0 = no limit). The stream's schema is the expected
// schema when the subscriber has one, else that of the first batch, received
// here (timed_out when none arrives within idle_timeout); a batch of another
// schema is reported to the consumer as an error. Each exported ArrowArray
// keeps its sample until the consumer releases it, on any thread. On failure
// the subscriber is closed.
struct BatchStreamOptions {
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(1);
  std::uint64_t max_batches = 0;
};
Result<void> export_batch_stream(BatchSubscriber&& subscriber, ArrowArrayStream* out,
                                 const BatchStreamOptions& options = {});

}  // namespace sluice::batch
