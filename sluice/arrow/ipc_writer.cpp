// IPC writer: arrays -> framed messages, sized before they are placed.

#include <sluice/arrow/internal/ipc.hpp>

#include <sluice/arrow/compare.hpp>

#include <unistd.h>
#include <cerrno>
#include <map>

namespace sluice::arrow::ipc {

using namespace detail;  // NOLINT(google-build-using-namespace): this file implements detail's
                         // users

namespace {

constexpr std::size_t kMaxAlignment = 4096;
alignas(64) constexpr std::byte kZeros[kMaxAlignment] = {};

Result<void> check_options(const WriteOptions& o) {
  if (o.alignment < 8 || o.alignment > kMaxAlignment || !is_pow2(o.alignment))
    return fail(Errc::invalid_argument, "ipc alignment {} (a power of two in [8, {}])", o.alignment,
                kMaxAlignment);
  return ok();
}

}  // namespace

struct EncodedMessage::Impl {
  struct Part {
    Buffer data;
    std::size_t padded = 0;
  };
  MessageType type = MessageType::schema;
  Buffer flatbuffer;
  std::size_t metadata_padded = 0;  // flatbuffer + padding: the prefix's length field
  std::vector<Part> body;
  std::size_t body_length = 0;

  [[nodiscard]] std::size_t size() const noexcept { return 8 + metadata_padded + body_length; }
};

EncodedMessage::EncodedMessage() : impl_(std::make_unique<Impl>()) {}
EncodedMessage::EncodedMessage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EncodedMessage::EncodedMessage(EncodedMessage&&) noexcept = default;
EncodedMessage& EncodedMessage::operator=(EncodedMessage&&) noexcept = default;
EncodedMessage::~EncodedMessage() = default;

MessageType EncodedMessage::type() const noexcept { return impl_->type; }
std::size_t EncodedMessage::size() const noexcept { return impl_->size(); }
std::size_t EncodedMessage::metadata_length() const noexcept { return 8 + impl_->metadata_padded; }
std::size_t EncodedMessage::body_length() const noexcept { return impl_->body_length; }

Result<std::size_t> EncodedMessage::write_to(std::span<std::byte> out) const {
  const Impl& m = *impl_;
  if (out.size() < m.size())
    return fail(Errc::out_of_range, "message of {} bytes does not fit in {} bytes", m.size(),
                out.size());
  std::byte* p = out.data();
  const std::uint32_t marker = kContinuation;
  const auto len = static_cast<std::int32_t>(m.metadata_padded);
  std::memcpy(p, &marker, 4);
  std::memcpy(p + 4, &len, 4);
  p += 8;
  std::memcpy(p, m.flatbuffer.data(), m.flatbuffer.size());
  std::memset(p + m.flatbuffer.size(), 0, m.metadata_padded - m.flatbuffer.size());
  p += m.metadata_padded;
  // The body: each buffer once, straight from the arrays into `out`.
  for (const auto& part : m.body) {
    if (!part.data.empty()) std::memcpy(p, part.data.data(), part.data.size());
    std::memset(p + part.data.size(), 0, part.padded - part.data.size());
    p += part.padded;
  }
  return m.size();
}

namespace {

// Frames a finished flatbuffer Message with its body parts.
EncodedMessage finish_message(flatbuffers::FlatBufferBuilder& fbb, MessageType type,
                              std::vector<EncodedMessage::Impl::Part> parts,
                              std::size_t body_length, std::size_t alignment) {
  auto impl = std::make_unique<EncodedMessage::Impl>();
  impl->type = type;
  impl->flatbuffer = Buffer::copy_of(fbb.GetBufferPointer(), fbb.GetSize());
  // Pad so that the body starts `alignment`-aligned relative to the message
  // start (8 is the minimum the specification requires).
  impl->metadata_padded = align_up(8 + fbb.GetSize(), alignment) - 8;
  impl->body = std::move(parts);
  impl->body_length = body_length;
  return EncodedMessage(std::move(impl));
}

// Walks arrays in pre-order, producing field nodes and body buffers. Sliced
// arrays are written as if they started at zero: buffers are sliced where
// possible, and only offsets that do not start at zero and bitmaps that do
// not start on a byte boundary are rewritten into new memory.
class BodyAssembler {
 public:
  explicit BodyAssembler(const WriteOptions& o) : options_(o) {}

  Result<void> add_array(const Array& a, int depth) {
    if (depth > kMaxNestingDepth)
      return fail(Errc::invalid_argument, "arrays nested deeper than {}", kMaxNestingDepth);
    const DataType& t = *a.type();
    nodes_.emplace_back(a.length(), t.id() == TypeId::null ? a.length() : a.null_count());
    const std::int64_t off = a.offset();
    const std::int64_t len = a.length();
    if (static_cast<int>(a.buffers().size()) != t.num_buffers())
      return fail(Errc::invalid_argument, "{} array with {} buffers", t.to_string(),
                  a.buffers().size());
    switch (t.layout()) {
      case Layout::null:
        return ok();
      case Layout::bitmap:
        SLUICE_TRY(add_validity(a));
        return add_bits(a.buffers()[1], off, len);
      case Layout::fixed_width:
      case Layout::dictionary: {
        SLUICE_TRY(add_validity(a));
        const auto w = static_cast<std::uint64_t>(t.byte_width());
        return add_slice(a.buffers()[1], static_cast<std::uint64_t>(off) * w,
                         static_cast<std::uint64_t>(len) * w);
      }
      case Layout::binary32:
      case Layout::binary64: {
        SLUICE_TRY(add_validity(a));
        SLUICE_TRY_ASSIGN(auto range,
                          add_offsets(a.buffers()[1], off, len, t.layout() == Layout::binary64));
        return add_slice(a.buffers()[2], static_cast<std::uint64_t>(range.first),
                         static_cast<std::uint64_t>(range.second - range.first));
      }
      case Layout::list32:
      case Layout::list64: {
        SLUICE_TRY(add_validity(a));
        SLUICE_TRY_ASSIGN(auto range,
                          add_offsets(a.buffers()[1], off, len, t.layout() == Layout::list64));
        SLUICE_TRY_ASSIGN(ArrayPtr child,
                          child_range(a, 0, range.first, range.second - range.first));
        return add_array(*child, depth + 1);
      }
      case Layout::fixed_list: {
        SLUICE_TRY(add_validity(a));
        const std::int64_t n = t.fixed_size();
        SLUICE_TRY_ASSIGN(ArrayPtr child, child_range(a, 0, off * n, len * n));
        return add_array(*child, depth + 1);
      }
      case Layout::struct_: {
        SLUICE_TRY(add_validity(a));
        for (std::size_t c = 0; c < a.children().size(); ++c) {
          SLUICE_TRY_ASSIGN(ArrayPtr child, child_range(a, c, off, len));
          SLUICE_TRY(add_array(*child, depth + 1));
        }
        return ok();
      }
    }
    return fail(Errc::internal, "unhandled layout");
  }

  // Compresses (if asked) and lays the parts out; returns the body length.
  Result<std::size_t> finish() {
    if (options_.compression != Compression::none) {
      for (auto& p : parts_) {
        if (p.data.empty()) continue;
        SLUICE_TRY_ASSIGN(
            p.data, compress_buffer(options_.compression, options_.zstd_level, p.data.span()));
      }
    }
    std::size_t pos = 0;
    specs_.clear();
    for (auto& p : parts_) {
      specs_.emplace_back(static_cast<std::int64_t>(pos), static_cast<std::int64_t>(p.data.size()));
      p.padded = align_up(p.data.size(), options_.alignment);
      pos += p.padded;
    }
    return pos;
  }

  flatbuffers::Offset<fb::RecordBatch> build(flatbuffers::FlatBufferBuilder& fbb,
                                             std::int64_t length) {
    auto nodes = fbb.CreateVectorOfStructs(nodes_);
    auto buffers = fbb.CreateVectorOfStructs(specs_);
    flatbuffers::Offset<fb::BodyCompression> compression;
    if (options_.compression != Compression::none) {
      compression = fb::CreateBodyCompression(fbb,
                                              options_.compression == Compression::lz4_frame
                                                  ? fb::CompressionType::LZ4_FRAME
                                                  : fb::CompressionType::ZSTD,
                                              fb::BodyCompressionMethod::BUFFER);
    }
    return fb::CreateRecordBatch(fbb, length, nodes, buffers, compression);
  }

  std::vector<EncodedMessage::Impl::Part> take_parts() { return std::move(parts_); }

 private:
  void push(Buffer b) { parts_.push_back({std::move(b), 0}); }

  Result<void> add_slice(const Buffer& b, std::uint64_t offset, std::uint64_t length) {
    if (length == 0) {
      push(Buffer{});
      return ok();
    }
    if (!fits(offset, length, b.size()))
      return fail(Errc::invalid_argument, "buffer range [{}, +{}) outside a {}-byte buffer", offset,
                  length, b.size());
    push(b.slice(static_cast<std::size_t>(offset), static_cast<std::size_t>(length)));
    return ok();
  }

  Result<void> add_bits(const Buffer& b, std::int64_t offset, std::int64_t length) {
    const auto nbytes = static_cast<std::uint64_t>(bitmap_bytes(length));
    if (length == 0) {
      push(Buffer{});
      return ok();
    }
    if (static_cast<std::uint64_t>(bitmap_bytes(offset + length)) > b.size())
      return fail(Errc::invalid_argument, "bitmap of {} bytes for bits [{}, +{})", b.size(), offset,
                  length);
    if ((offset & 7) == 0) return add_slice(b, static_cast<std::uint64_t>(offset) / 8, nbytes);
    SLUICE_TRY_ASSIGN(Buffer shifted, Buffer::allocate(static_cast<std::size_t>(nbytes)));
    copy_bits(b.data(), offset, length, shifted.mutable_data());
    push(std::move(shifted));
    return ok();
  }

  Result<void> add_validity(const Array& a) {
    if (a.null_count() == 0 || a.buffers()[0].empty()) {
      if (a.null_count() != 0)
        return fail(Errc::invalid_argument, "{} nulls without a validity bitmap", a.null_count());
      push(Buffer{});
      return ok();
    }
    return add_bits(a.buffers()[0], a.offset(), a.length());
  }

  // Writes length + 1 offsets starting at zero; returns the [first, last)
  // range of the values they cover.
  Result<std::pair<std::int64_t, std::int64_t>> add_offsets(const Buffer& b, std::int64_t offset,
                                                            std::int64_t length, bool wide) {
    const std::size_t w = wide ? 8 : 4;
    if (length == 0) {
      push(Buffer::wrap(kZeros, w, nullptr));
      return std::pair<std::int64_t, std::int64_t>{0, 0};
    }
    const auto first_pos = static_cast<std::uint64_t>(offset) * w;
    const auto count = static_cast<std::uint64_t>(length) + 1;
    if (!fits(first_pos, count * w, b.size()))
      return fail(Errc::invalid_argument, "offsets buffer of {} bytes for slots [{}, +{}]",
                  b.size(), offset, length);
    auto at = [&](std::uint64_t i) -> std::int64_t {
      const std::byte* p = b.data() + first_pos + i * w;
      return wide ? load_i64(p) : load_i32(p);
    };
    const std::int64_t first = at(0);
    const std::int64_t last = at(count - 1);
    if (first < 0 || last < first)
      return fail(Errc::invalid_argument, "offsets [{}, {}] not monotonic", first, last);
    if (first == 0) {
      push(b.slice(static_cast<std::size_t>(first_pos), static_cast<std::size_t>(count * w)));
    } else {
      SLUICE_TRY_ASSIGN(Buffer rebased, Buffer::allocate(static_cast<std::size_t>(count * w)));
      for (std::uint64_t i = 0; i < count; ++i) {
        const std::int64_t v = at(i) - first;
        if (wide)
          std::memcpy(rebased.mutable_data() + i * w, &v, 8);
        else {
          const auto v32 = static_cast<std::int32_t>(v);
          std::memcpy(rebased.mutable_data() + i * w, &v32, 4);
        }
      }
      push(std::move(rebased));
    }
    return std::pair<std::int64_t, std::int64_t>{first, last};
  }

  static Result<ArrayPtr> child_range(const Array& a, std::size_t c, std::int64_t offset,
                                      std::int64_t length) {
    if (c >= a.children().size() || !a.children()[c])
      return fail(Errc::invalid_argument, "{} array without child {}", a.type()->to_string(), c);
    const ArrayPtr& child = a.children()[c];
    if (offset == 0 && length == child->length()) return child;
    if (offset < 0 || length < 0 || offset > child->length() || length > child->length() - offset)
      return fail(Errc::invalid_argument, "child range [{}, +{}) of {} values", offset, length,
                  child->length());
    return child->slice(offset, length);
  }

  const WriteOptions& options_;
  std::vector<fb::FieldNode> nodes_;
  std::vector<fb::Buffer> specs_;
  std::vector<EncodedMessage::Impl::Part> parts_;
};

void collect_walk(const Field& f, const ArrayPtr& a, const DictionaryIds& ids,
                  std::map<std::int64_t, ArrayPtr>& out, Result<void>& status) {
  if (!status) return;
  const DataType& t = *f.type();
  if (t.id() == TypeId::dictionary) {
    auto it = ids.find(&f);
    if (it == ids.end()) {
      status = fail(Errc::invalid_argument, "dictionary field '{}' has no id", f.name());
    } else if (!a->dictionary()) {
      status = fail(Errc::invalid_argument, "dictionary field '{}' without a dictionary", f.name());
    } else {
      out[it->second] = a->dictionary();
    }
    return;
  }
  for (std::size_t c = 0; c < t.fields().size(); ++c) {
    if (c >= a->children().size()) {
      status = fail(Errc::invalid_argument, "field '{}' lacks child array {}", f.name(), c);
      return;
    }
    collect_walk(*t.fields()[c], a->children()[c], ids, out, status);
  }
}

}  // namespace

Result<std::vector<std::pair<std::int64_t, ArrayPtr>>> collect_dictionaries(
    const RecordBatch& batch, const DictionaryIds& ids) {
  std::map<std::int64_t, ArrayPtr> found;
  Result<void> status;
  for (std::size_t i = 0; i < batch.num_columns(); ++i)
    collect_walk(*batch.schema()->field(i), batch.column(i), ids, found, status);
  SLUICE_TRY(status);
  return std::vector<std::pair<std::int64_t, ArrayPtr>>(found.begin(), found.end());
}

Result<EncodedMessage> encode_schema(const Schema& schema, const WriteOptions& options) {
  SLUICE_TRY(check_options(options));
  flatbuffers::FlatBufferBuilder fbb(1024);
  const DictionaryIds ids = assign_dictionary_ids(schema);
  auto s = encode_schema_table(fbb, schema, ids);
  auto msg =
      fb::CreateMessage(fbb, fb::MetadataVersion::V5, fb::MessageHeader::Schema, s.Union(), 0);
  fbb.Finish(msg);
  return finish_message(fbb, MessageType::schema, {}, 0, options.alignment);
}

Result<EncodedMessage> encode_record_batch(const RecordBatch& batch, const DictionaryIds& /*ids*/,
                                           const WriteOptions& options) {
  SLUICE_TRY(check_options(options));
  if (batch.num_columns() != batch.schema()->num_fields())
    return fail(Errc::invalid_argument, "record batch has {} columns, schema has {} fields",
                batch.num_columns(), batch.schema()->num_fields());
  BodyAssembler body(options);
  for (std::size_t i = 0; i < batch.num_columns(); ++i) {
    const ArrayPtr& c = batch.column(i);
    if (!c || c->length() != batch.num_rows())
      return fail(Errc::invalid_argument, "column {} has {} rows, batch has {}", i,
                  c ? c->length() : -1, batch.num_rows());
    auto r = body.add_array(*c, 0);
    if (!r)
      return fail(std::move(r).error().context(
          fmt::format("column '{}'", batch.schema()->field(i)->name())));
  }
  SLUICE_TRY_ASSIGN(std::size_t body_length, body.finish());
  flatbuffers::FlatBufferBuilder fbb(1024);
  auto rb = body.build(fbb, batch.num_rows());
  auto md = batch.metadata().empty() ? KeyValueVector() : encode_metadata(fbb, batch.metadata());
  auto msg = fb::CreateMessage(fbb, fb::MetadataVersion::V5, fb::MessageHeader::RecordBatch,
                               rb.Union(), static_cast<std::int64_t>(body_length), md);
  fbb.Finish(msg);
  return finish_message(fbb, MessageType::record_batch, body.take_parts(), body_length,
                        options.alignment);
}

Result<EncodedMessage> encode_dictionary(std::int64_t id, const ArrayPtr& dictionary, bool is_delta,
                                         const WriteOptions& options) {
  SLUICE_TRY(check_options(options));
  BodyAssembler body(options);
  SLUICE_TRY(body.add_array(*dictionary, 0));
  SLUICE_TRY_ASSIGN(std::size_t body_length, body.finish());
  flatbuffers::FlatBufferBuilder fbb(1024);
  auto rb = body.build(fbb, dictionary->length());
  auto db = fb::CreateDictionaryBatch(fbb, id, rb, is_delta);
  auto msg = fb::CreateMessage(fbb, fb::MetadataVersion::V5, fb::MessageHeader::DictionaryBatch,
                               db.Union(), static_cast<std::int64_t>(body_length));
  fbb.Finish(msg);
  return finish_message(fbb, MessageType::dictionary_batch, body.take_parts(), body_length,
                        options.alignment);
}

// --- EncodedStream -------------------------------------------------------------------------

Result<EncodedStream> EncodedStream::encode(const RecordBatch& batch, const WriteOptions& options,
                                            bool messages_only) {
  if (!batch.schema()) return fail(Errc::invalid_argument, "record batch without a schema");
  EncodedStream s;
  const DictionaryIds ids = assign_dictionary_ids(*batch.schema());
  if (!messages_only) {
    SLUICE_TRY_ASSIGN(EncodedMessage m, encode_schema(*batch.schema(), options));
    s.messages_.push_back(std::move(m));
  }
  SLUICE_TRY_ASSIGN(auto dicts, collect_dictionaries(batch, ids));
  for (const auto& [id, dict] : dicts) {
    SLUICE_TRY_ASSIGN(EncodedMessage m, encode_dictionary(id, dict, false, options));
    s.messages_.push_back(std::move(m));
  }
  SLUICE_TRY_ASSIGN(EncodedMessage m, encode_record_batch(batch, ids, options));
  s.messages_.push_back(std::move(m));
  s.eos_ = !messages_only;
  for (const auto& msg : s.messages_) s.size_ += msg.size();
  if (s.eos_) s.size_ += kEosSize;
  return s;
}

Result<std::size_t> EncodedStream::write_to(std::span<std::byte> out) const {
  if (out.size() < size_)
    return fail(Errc::out_of_range, "stream of {} bytes does not fit in {} bytes", size_,
                out.size());
  std::size_t pos = 0;
  for (const auto& m : messages_) {
    SLUICE_TRY_ASSIGN(std::size_t n, m.write_to(out.subspan(pos)));
    pos += n;
  }
  if (eos_) {
    const std::uint32_t eos[2] = {kContinuation, 0};
    std::memcpy(out.data() + pos, eos, kEosSize);
    pos += kEosSize;
  }
  return pos;
}

Result<std::size_t> serialized_size(const RecordBatch& batch, const WriteOptions& options) {
  SLUICE_TRY_ASSIGN(EncodedStream s, EncodedStream::encode(batch, options));
  return s.size();
}

Result<std::size_t> write_stream_to(const RecordBatch& batch, std::span<std::byte> out,
                                    const WriteOptions& options) {
  SLUICE_TRY_ASSIGN(EncodedStream s, EncodedStream::encode(batch, options));
  return s.write_to(out);
}

// --- sinks ----------------------------------------------------------------------------------

namespace {

class VectorSink final : public OutputSink {
 public:
  explicit VectorSink(std::vector<std::byte>* out) : out_(out) {}
  Result<void> write(std::span<const std::byte> bytes) override {
    out_->insert(out_->end(), bytes.begin(), bytes.end());
    pos_ += bytes.size();
    return ok();
  }
  [[nodiscard]] std::uint64_t position() const noexcept override { return pos_; }

 private:
  std::vector<std::byte>* out_;
  std::uint64_t pos_ = 0;
};

Result<void> write_all(int fd, const std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail(Error::from_errno(errno, "write ipc stream"));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return ok();
}

class FdSink final : public OutputSink {
 public:
  static constexpr std::size_t kGather = 64 * 1024;
  explicit FdSink(int fd) : fd_(fd) { buf_.reserve(kGather); }
  ~FdSink() override { (void)flush(); }  // best effort; close() reports errors
  Result<void> write(std::span<const std::byte> bytes) override {
    pos_ += bytes.size();
    if (buf_.size() + bytes.size() <= kGather) {
      buf_.insert(buf_.end(), bytes.begin(), bytes.end());
      return ok();
    }
    SLUICE_TRY(flush());
    if (bytes.size() >= kGather) return write_all(fd_, bytes.data(), bytes.size());
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
    return ok();
  }
  Result<void> flush() override {
    if (buf_.empty()) return ok();
    auto r = write_all(fd_, buf_.data(), buf_.size());
    buf_.clear();
    return r;
  }
  [[nodiscard]] std::uint64_t position() const noexcept override { return pos_; }

 private:
  int fd_;
  std::vector<std::byte> buf_;
  std::uint64_t pos_ = 0;
};

}  // namespace

std::unique_ptr<OutputSink> vector_sink(std::vector<std::byte>* out) {
  return std::make_unique<VectorSink>(out);
}
std::unique_ptr<OutputSink> fd_sink(int fd) { return std::make_unique<FdSink>(fd); }

Result<void> write_message(OutputSink& sink, const EncodedMessage& message) {
  const EncodedMessage::Impl& m = message.impl();
  std::vector<std::byte> head(8 + m.metadata_padded);
  const std::uint32_t marker = kContinuation;
  const auto len = static_cast<std::int32_t>(m.metadata_padded);
  std::memcpy(head.data(), &marker, 4);
  std::memcpy(head.data() + 4, &len, 4);
  std::memcpy(head.data() + 8, m.flatbuffer.data(), m.flatbuffer.size());
  SLUICE_TRY(sink.write(head));
  for (const auto& part : m.body) {
    if (!part.data.empty()) SLUICE_TRY(sink.write(part.data.span()));
    if (part.padded > part.data.size())
      SLUICE_TRY(sink.write({kZeros, part.padded - part.data.size()}));
  }
  return ok();
}

namespace {

Result<void> write_eos(OutputSink& sink) {
  const std::uint32_t eos[2] = {kContinuation, 0};
  return sink.write({reinterpret_cast<const std::byte*>(eos), kEosSize});
}

// Dictionary bookkeeping shared by the stream and file writers: decides, per
// batch, which dictionary messages to send.
struct DictionaryTracker {
  std::map<std::int64_t, ArrayPtr> sent;

  struct Action {
    std::int64_t id;
    ArrayPtr values;
    bool is_delta;
  };

  Result<std::vector<Action>> plan(const RecordBatch& batch, const DictionaryIds& ids, bool deltas,
                                   bool allow_replacement) {
    SLUICE_TRY_ASSIGN(auto dicts, collect_dictionaries(batch, ids));
    std::vector<Action> actions;
    for (auto& [id, dict] : dicts) {
      auto it = sent.find(id);
      if (it == sent.end()) {
        actions.push_back({id, dict, false});
        sent[id] = dict;
        continue;
      }
      const ArrayPtr& old = it->second;
      if (old == dict) continue;
      const bool extends =
          dict->length() >= old->length() && array_range_equals(*old, 0, *dict, 0, old->length());
      if (extends && dict->length() == old->length()) continue;  // equal values
      if (extends && deltas) {
        actions.push_back({id, dict->slice(old->length(), dict->length() - old->length()), true});
      } else {
        if (!allow_replacement)
          return fail(Errc::not_supported,
                      "dictionary {} replaced: the file format only allows deltas", id);
        actions.push_back({id, dict, false});
      }
      it->second = dict;
    }
    return actions;
  }
};

Result<RecordBatch> rebind(const RecordBatch& batch, const SchemaPtr& schema) {
  if (!batch.schema() || !batch.schema()->equals(*schema))
    return fail(Errc::type_error, "batch schema differs from the stream's:\n{}vs\n{}",
                batch.schema() ? batch.schema()->to_string() : "(none)\n", schema->to_string());
  return RecordBatch(schema, batch.num_rows(), batch.columns(), batch.metadata());
}

}  // namespace

// --- StreamWriter -------------------------------------------------------------------------------

struct StreamWriter::Impl {
  std::unique_ptr<OutputSink> sink;
  SchemaPtr schema;
  WriteOptions options;
  DictionaryIds ids;
  DictionaryTracker dicts;
  bool closed = false;
};

StreamWriter::StreamWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamWriter::StreamWriter(StreamWriter&&) noexcept = default;
StreamWriter& StreamWriter::operator=(StreamWriter&&) noexcept = default;
StreamWriter::~StreamWriter() = default;

Result<StreamWriter> StreamWriter::open(std::unique_ptr<OutputSink> sink, SchemaPtr schema,
                                        WriteOptions options) {
  SLUICE_TRY(check_options(options));
  auto impl = std::make_unique<Impl>();
  impl->sink = std::move(sink);
  impl->schema = std::move(schema);
  impl->options = options;
  impl->ids = assign_dictionary_ids(*impl->schema);
  SLUICE_TRY_ASSIGN(EncodedMessage m, encode_schema(*impl->schema, options));
  SLUICE_TRY(write_message(*impl->sink, m));
  return StreamWriter(std::move(impl));
}

Result<void> StreamWriter::write(const RecordBatch& batch) {
  Impl& s = *impl_;
  if (s.closed) return fail(Errc::closed, "write to a closed ipc stream");
  SLUICE_TRY_ASSIGN(RecordBatch b, rebind(batch, s.schema));
  SLUICE_TRY_ASSIGN(auto actions, s.dicts.plan(b, s.ids, s.options.emit_dictionary_deltas, true));
  for (const auto& a : actions) {
    SLUICE_TRY_ASSIGN(EncodedMessage m, encode_dictionary(a.id, a.values, a.is_delta, s.options));
    SLUICE_TRY(write_message(*s.sink, m));
  }
  SLUICE_TRY_ASSIGN(EncodedMessage m, encode_record_batch(b, s.ids, s.options));
  return write_message(*s.sink, m);
}

Result<void> StreamWriter::close() {
  Impl& s = *impl_;
  if (s.closed) return ok();
  s.closed = true;
  SLUICE_TRY(write_eos(*s.sink));
  return s.sink->flush();
}

const SchemaPtr& StreamWriter::schema() const noexcept { return impl_->schema; }
OutputSink& StreamWriter::sink() noexcept { return *impl_->sink; }

// --- FileWriter ----------------------------------------------------------------------------------

struct FileWriter::Impl {
  std::unique_ptr<OutputSink> sink;
  SchemaPtr schema;
  WriteOptions options;
  DictionaryIds ids;
  DictionaryTracker dicts;
  std::vector<fb::Block> dictionary_blocks;
  std::vector<fb::Block> batch_blocks;
  bool closed = false;

  Result<void> put(const EncodedMessage& m, std::vector<fb::Block>& blocks) {
    blocks.emplace_back(static_cast<std::int64_t>(sink->position()),
                        static_cast<std::int32_t>(m.metadata_length()),
                        static_cast<std::int64_t>(m.body_length()));
    return write_message(*sink, m);
  }
};

FileWriter::FileWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FileWriter::FileWriter(FileWriter&&) noexcept = default;
FileWriter& FileWriter::operator=(FileWriter&&) noexcept = default;
FileWriter::~FileWriter() = default;

Result<FileWriter> FileWriter::open(std::unique_ptr<OutputSink> sink, SchemaPtr schema,
                                    WriteOptions options) {
  SLUICE_TRY(check_options(options));
  auto impl = std::make_unique<Impl>();
  impl->sink = std::move(sink);
  impl->schema = std::move(schema);
  impl->options = options;
  impl->ids = assign_dictionary_ids(*impl->schema);
  const char magic[8] = {'A', 'R', 'R', 'O', 'W', '1', 0, 0};
  SLUICE_TRY(impl->sink->write({reinterpret_cast<const std::byte*>(magic), 8}));
  SLUICE_TRY_ASSIGN(EncodedMessage m, encode_schema(*impl->schema, options));
  SLUICE_TRY(write_message(*impl->sink, m));
  return FileWriter(std::move(impl));
}

Result<void> FileWriter::write(const RecordBatch& batch) {
  Impl& s = *impl_;
  if (s.closed) return fail(Errc::closed, "write to a closed ipc file");
  SLUICE_TRY_ASSIGN(RecordBatch b, rebind(batch, s.schema));
  SLUICE_TRY_ASSIGN(auto actions, s.dicts.plan(b, s.ids, true, false));
  for (const auto& a : actions) {
    SLUICE_TRY_ASSIGN(EncodedMessage m, encode_dictionary(a.id, a.values, a.is_delta, s.options));
    SLUICE_TRY(s.put(m, s.dictionary_blocks));
  }
  SLUICE_TRY_ASSIGN(EncodedMessage m, encode_record_batch(b, s.ids, s.options));
  return s.put(m, s.batch_blocks);
}

Result<void> FileWriter::close() {
  Impl& s = *impl_;
  if (s.closed) return ok();
  s.closed = true;
  SLUICE_TRY(write_eos(*s.sink));
  flatbuffers::FlatBufferBuilder fbb(1024);
  auto schema = encode_schema_table(fbb, *s.schema, s.ids);
  auto dicts = fbb.CreateVectorOfStructs(s.dictionary_blocks);
  auto batches = fbb.CreateVectorOfStructs(s.batch_blocks);
  fbb.Finish(fb::CreateFooter(fbb, fb::MetadataVersion::V5, schema, dicts, batches));
  SLUICE_TRY(
      s.sink->write({reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()}));
  const auto footer_len = static_cast<std::int32_t>(fbb.GetSize());
  SLUICE_TRY(s.sink->write({reinterpret_cast<const std::byte*>(&footer_len), 4}));
  SLUICE_TRY(s.sink->write({reinterpret_cast<const std::byte*>(kFileMagic), 6}));
  return s.sink->flush();
}

// --- whole streams/files into memory ---------------------------------------------------------

Result<std::vector<std::byte>> write_stream(const SchemaPtr& schema,
                                            const std::vector<RecordBatch>& batches,
                                            const WriteOptions& options) {
  std::vector<std::byte> out;
  SLUICE_TRY_ASSIGN(StreamWriter w, StreamWriter::open(vector_sink(&out), schema, options));
  for (const auto& b : batches) SLUICE_TRY(w.write(b));
  SLUICE_TRY(w.close());
  return out;
}

Result<std::vector<std::byte>> write_file(const SchemaPtr& schema,
                                          const std::vector<RecordBatch>& batches,
                                          const WriteOptions& options) {
  std::vector<std::byte> out;
  SLUICE_TRY_ASSIGN(FileWriter w, FileWriter::open(vector_sink(&out), schema, options));
  for (const auto& b : batches) SLUICE_TRY(w.write(b));
  SLUICE_TRY(w.close());
  return out;
}

}  // namespace sluice::arrow::ipc
