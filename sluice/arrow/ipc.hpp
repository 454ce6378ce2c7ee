#pragma once
// Arrow IPC: the streaming format and the file format.
//
// Stream: a schema message, then dictionary-batch and record-batch messages,
// then the end-of-stream marker. Every message is framed as
//
//   0xFFFFFFFF | int32 metadata length | flatbuffer Message + padding | body
//
// where the metadata length includes the padding, the body starts 8-byte (by
// default 64-byte) aligned relative to the message start, and every body
// buffer is padded to the same alignment. File: "ARROW1\0\0", the stream, a
// footer (schema + blocks locating every dictionary and record batch), the
// footer length (int32) and "ARROW1".
//
// Writing is "size first, then place": an EncodedMessage / EncodedStream knows
// its exact size before any byte is written, and write_to() places it into
// memory the caller supplies - a loaned shared-memory chunk, a VGIS region -
// with no intermediate buffer; the body bytes are copied once, from the arrays
// into the destination. Sinks (a std::vector, a file descriptor) serve the
// ordinary streaming case.
//
// Reading is zero-copy: arrays decoded from an in-memory stream point into the
// input bytes (and share their lifetime handle) whenever a buffer is
// uncompressed and aligned for its element type; otherwise that one buffer is
// copied (misaligned) or decompressed into owned memory. The flatbuffer
// metadata is copied into private memory and verified before it is read, so a
// peer still writing the input cannot change it after validation.
//
// All input is untrusted: every message is verified with the flatbuffers
// Verifier, and every buffer offset and length, node, offset buffer,
// dictionary id and nesting depth is checked; malformed input yields
// Errc::parse_error (or not_supported for valid but unsupported features),
// never undefined behaviour.

#include <sluice/arrow/array.hpp>
#include <sluice/arrow/validate.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace sluice::arrow::ipc {

inline constexpr std::uint32_t kContinuation = 0xFFFFFFFFu;
inline constexpr std::size_t kEosSize = 8;  // continuation marker + zero length
inline constexpr char kFileMagic[6] = {'A', 'R', 'R', 'O', 'W', '1'};

enum class Compression : std::uint8_t { none, lz4_frame, zstd };

struct WriteOptions {
  // Alignment of body buffers and of the body start (a power of two >= 8).
  std::size_t alignment = 64;
  Compression compression = Compression::none;
  int zstd_level = 1;
  // Stream writer: a dictionary that grew by appending is sent as a delta
  // (only the new values); otherwise as a replacement.
  bool emit_dictionary_deltas = true;
};

struct ReadOptions {
  ValidationLevel validation = ValidationLevel::full;
  // Upper bounds on what a message may make us allocate.
  std::size_t max_metadata_size = 64u << 20;
  std::uint64_t max_decompressed_size = std::uint64_t{4} << 30;  // per message body
  // When false, aligned uncompressed buffers are still copied (for input
  // memory that must not be referenced after the call).
  bool zero_copy = true;
};

enum class MessageType : std::uint8_t { schema, dictionary_batch, record_batch };

// One framed message, encoded and sized, not yet placed. Holds references to
// the source arrays' buffers (keeping them alive) and owns only what had to be
// produced: the flatbuffer, rebased offsets of sliced arrays, shifted bitmaps,
// compressed buffers.
class EncodedMessage {
 public:
  EncodedMessage();
  EncodedMessage(EncodedMessage&&) noexcept;
  EncodedMessage& operator=(EncodedMessage&&) noexcept;
  ~EncodedMessage();

  [[nodiscard]] MessageType type() const noexcept;
  // Exact number of bytes write_to() produces.
  [[nodiscard]] std::size_t size() const noexcept;
  // Prefix + flatbuffer + padding (the file footer's Block.metaDataLength).
  [[nodiscard]] std::size_t metadata_length() const noexcept;
  [[nodiscard]] std::size_t body_length() const noexcept;
  // Writes the whole message to out[0, size()); fails if out is smaller.
  Result<std::size_t> write_to(std::span<std::byte> out) const;

  struct Impl;
  explicit EncodedMessage(std::unique_ptr<Impl> impl);
  [[nodiscard]] const Impl& impl() const noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Dictionary ids of a schema's dictionary-encoded fields, in pre-order over
// the field tree starting at 0 - the assignment Arrow C++ and pyarrow use, so
// a schema message re-encoded here matches theirs.
using DictionaryIds = std::unordered_map<const Field*, std::int64_t>;
DictionaryIds assign_dictionary_ids(const Schema& schema);

Result<EncodedMessage> encode_schema(const Schema& schema, const WriteOptions& options = {});
// The record-batch message alone (its dictionaries are sent separately).
Result<EncodedMessage> encode_record_batch(const RecordBatch& batch, const DictionaryIds& ids,
                                           const WriteOptions& options = {});
Result<EncodedMessage> encode_dictionary(std::int64_t id, const ArrayPtr& dictionary, bool is_delta,
                                         const WriteOptions& options = {});

// Collects the dictionaries a batch references: (id, dictionary) in id order.
Result<std::vector<std::pair<std::int64_t, ArrayPtr>>> collect_dictionaries(
    const RecordBatch& batch, const DictionaryIds& ids);

// One batch as a complete stream: schema, every dictionary it references,
// the batch, end-of-stream. With `messages_only`, the schema message and the
// end-of-stream marker are left out (the vgi-rpc shared-memory layout for
// schemas with top-level dictionary fields).
class EncodedStream {
 public:
  static Result<EncodedStream> encode(const RecordBatch& batch, const WriteOptions& options = {},
                                      bool messages_only = false);
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  Result<std::size_t> write_to(std::span<std::byte> out) const;
  [[nodiscard]] const std::vector<EncodedMessage>& messages() const noexcept { return messages_; }

 private:
  std::vector<EncodedMessage> messages_;
  bool eos_ = true;
  std::size_t size_ = 0;
};

// Exact size of a batch written as a full stream, and the write itself.
Result<std::size_t> serialized_size(const RecordBatch& batch, const WriteOptions& options = {});
Result<std::size_t> write_stream_to(const RecordBatch& batch, std::span<std::byte> out,
                                    const WriteOptions& options = {});
// A whole stream of batches (same schema) into a vector.
Result<std::vector<std::byte>> write_stream(const SchemaPtr& schema,
                                            const std::vector<RecordBatch>& batches,
                                            const WriteOptions& options = {});
Result<std::vector<std::byte>> write_file(const SchemaPtr& schema,
                                          const std::vector<RecordBatch>& batches,
                                          const WriteOptions& options = {});

// --- sinks and writers ---------------------------------------------------------------

class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual Result<void> write(std::span<const std::byte> bytes) = 0;
  virtual Result<void> flush() { return ok(); }
  // Bytes written so far (file offsets of blocks).
  [[nodiscard]] virtual std::uint64_t position() const noexcept = 0;
};
// Appends to a vector the caller owns (and keeps alive).
std::unique_ptr<OutputSink> vector_sink(std::vector<std::byte>* out);
// Writes to a file descriptor (not owned; EINTR and short writes handled).
// Small pieces are gathered into a 64 KiB buffer; large ones go straight out.
std::unique_ptr<OutputSink> fd_sink(int fd);

Result<void> write_message(OutputSink& sink, const EncodedMessage& message);

class StreamWriter {
 public:
  // Writes the schema message.
  static Result<StreamWriter> open(std::unique_ptr<OutputSink> sink, SchemaPtr schema,
                                   WriteOptions options = {});
  StreamWriter(StreamWriter&&) noexcept;
  StreamWriter& operator=(StreamWriter&&) noexcept;
  ~StreamWriter();
  // Sends the dictionaries the batch needs (new, delta or replacement), then
  // the batch. The batch's schema must equal the stream's.
  Result<void> write(const RecordBatch& batch);
  // End-of-stream marker and flush. Further writes fail.
  Result<void> close();
  [[nodiscard]] const SchemaPtr& schema() const noexcept;
  [[nodiscard]] OutputSink& sink() noexcept;

  struct Impl;

 private:
  explicit StreamWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class FileWriter {
 public:
  static Result<FileWriter> open(std::unique_ptr<OutputSink> sink, SchemaPtr schema,
                                 WriteOptions options = {});
  FileWriter(FileWriter&&) noexcept;
  FileWriter& operator=(FileWriter&&) noexcept;
  ~FileWriter();
  // Dictionaries may grow by appending (deltas); replacing one is an error,
  // as the file format does not allow it.
  Result<void> write(const RecordBatch& batch);
  // End-of-stream, footer, trailing magic.
  Result<void> close();

  struct Impl;

 private:
  explicit FileWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// --- readers --------------------------------------------------------------------------

// Bytes read from a pipe, socket or file; read() returns 0 only at end of input.
class InputSource {
 public:
  virtual ~InputSource() = default;
  virtual Result<std::size_t> read(std::span<std::byte> out) = 0;
};
// Reads exactly what each message needs, never ahead, so a following stream
// on the same descriptor is left untouched. The fd is not owned.
std::unique_ptr<InputSource> fd_source(int fd);

struct StreamStats {
  std::uint64_t messages = 0;
  std::uint64_t record_batches = 0;
  std::uint64_t dictionary_batches = 0;
  std::uint64_t dictionary_deltas = 0;
  std::uint64_t buffers_aliased = 0;  // zero-copy
  std::uint64_t buffers_copied = 0;   // misaligned, decompressed, or zero_copy off
};

class StreamReader {
 public:
  // Over bytes in memory: arrays alias `bytes` and share its lifetime handle.
  static Result<StreamReader> open(Buffer bytes, ReadOptions options = {});
  // Over a pipe/socket/file: each message body is read into owned memory.
  static Result<StreamReader> open(std::unique_ptr<InputSource> source, ReadOptions options = {});
  // Continues a stream whose schema message is not in `bytes` (dictionary ids
  // assigned in pre-order, as a writer of this schema would): the vgi-rpc
  // region layout for top-level dictionary schemas.
  static Result<StreamReader> open_with_schema(Buffer bytes, SchemaPtr schema,
                                               ReadOptions options = {});

  StreamReader(StreamReader&&) noexcept;
  StreamReader& operator=(StreamReader&&) noexcept;
  ~StreamReader();

  [[nodiscard]] const SchemaPtr& schema() const noexcept;
  // The next record batch, or nullopt at the end-of-stream marker (or at the
  // end of the input, which a stream may omit the marker before).
  Result<std::optional<RecordBatch>> next();
  Result<std::vector<RecordBatch>> read_all();
  // In-memory input: bytes consumed so far (after nullopt: the stream's end,
  // where a following stream would start).
  [[nodiscard]] std::size_t position() const noexcept;
  [[nodiscard]] const StreamStats& stats() const noexcept;

  struct Impl;

 private:
  explicit StreamReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class FileReader {
 public:
  static Result<FileReader> open(Buffer bytes, ReadOptions options = {});
  FileReader(FileReader&&) noexcept;
  FileReader& operator=(FileReader&&) noexcept;
  ~FileReader();
  [[nodiscard]] const SchemaPtr& schema() const noexcept;
  [[nodiscard]] int num_record_batches() const noexcept;
  Result<RecordBatch> read(int i);
  Result<std::vector<RecordBatch>> read_all();

  struct Impl;

 private:
  explicit FileReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True if bytes start with the file magic.
[[nodiscard]] bool is_file_format(std::span<const std::byte> bytes) noexcept;
// Reads a stream or a file, whichever `bytes` holds.
Result<std::vector<RecordBatch>> read_all(Buffer bytes, SchemaPtr* schema_out = nullptr,
                                          ReadOptions options = {});

// Bytes of the first message in `bytes` (metadata + body), for splitting a
// stream without decoding it.
Result<std::size_t> message_size(std::span<const std::byte> bytes);

}  // namespace sluice::arrow::ipc
