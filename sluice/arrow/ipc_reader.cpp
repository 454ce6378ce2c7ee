// IPC reader: framed messages -> arrays, validating everything it reads.

#include <sluice/arrow/internal/ipc.hpp>

#include <sluice/arrow/builder.hpp>

#include <unistd.h>
#include <cerrno>

namespace sluice::arrow::ipc {

using namespace detail;  // NOLINT(google-build-using-namespace)

namespace {

// --- message sources ---------------------------------------------------------------------

class MessageSource {
 public:
  virtual ~MessageSource() = default;
  // The next message, or nullopt at the end-of-stream marker or at the end of
  // the input.
  virtual Result<std::optional<RawMessage>> next(const ReadOptions& options) = 0;
  [[nodiscard]] virtual std::size_t position() const noexcept = 0;
};

Result<RawMessage> finish_raw(Buffer metadata, std::size_t prefix_size) {
  RawMessage raw;
  raw.metadata_length = prefix_size + metadata.size();
  raw.metadata = std::move(metadata);
  SLUICE_TRY_ASSIGN(raw.message, verify_message(raw.metadata));
  return raw;
}

class BufferSource final : public MessageSource {
 public:
  explicit BufferSource(Buffer bytes, std::size_t pos = 0) : bytes_(std::move(bytes)), pos_(pos) {}

  Result<std::optional<RawMessage>> next(const ReadOptions& options) override {
    if (pos_ >= bytes_.size()) return std::optional<RawMessage>{};
    const std::span<const std::byte> rest = bytes_.span().subspan(pos_);
    SLUICE_TRY_ASSIGN(Prefix p, parse_prefix(rest));
    if (p.metadata_size == 0) {
      pos_ += p.prefix_size;
      return std::optional<RawMessage>{};
    }
    if (p.metadata_size > options.max_metadata_size)
      return fail(Errc::parse_error, "metadata of {} bytes over the limit of {}", p.metadata_size,
                  options.max_metadata_size);
    if (!fits(p.prefix_size, p.metadata_size, rest.size()))
      return fail(Errc::parse_error,
                  "metadata of {} bytes past the end of the input ({} bytes left)", p.metadata_size,
                  rest.size());
    // Private copy: the input may be shared memory a peer can still write.
    Buffer md = Buffer::copy_of(rest.data() + p.prefix_size, p.metadata_size);
    SLUICE_TRY_ASSIGN(RawMessage raw, finish_raw(std::move(md), p.prefix_size));
    const auto body_len = static_cast<std::uint64_t>(raw.message->body_length());
    const std::size_t body_pos = p.prefix_size + p.metadata_size;
    if (!fits(body_pos, body_len, rest.size()))
      return fail(Errc::parse_error,
                  "message body of {} bytes past the end of the input ({} bytes left)", body_len,
                  rest.size() - body_pos);
    raw.body = bytes_.slice(pos_ + body_pos, static_cast<std::size_t>(body_len));
    pos_ += body_pos + static_cast<std::size_t>(body_len);
    return std::optional<RawMessage>{std::move(raw)};
  }

  [[nodiscard]] std::size_t position() const noexcept override { return pos_; }

 private:
  Buffer bytes_;
  std::size_t pos_;
};

class StreamSource final : public MessageSource {
 public:
  explicit StreamSource(std::unique_ptr<InputSource> in) : in_(std::move(in)) {}

  Result<std::optional<RawMessage>> next(const ReadOptions& options) override {
    std::byte head[8];
    SLUICE_TRY_ASSIGN(std::size_t got, read_exact({head, 4}, true));
    if (got == 0) return std::optional<RawMessage>{};  // end of input between messages
    std::uint32_t first;
    std::memcpy(&first, head, 4);
    std::size_t prefix = 4;
    if (first == kContinuation) {
      SLUICE_TRY(read_exact({head + 4, 4}, false));
      prefix = 8;
    }
    SLUICE_TRY_ASSIGN(Prefix p, parse_prefix({head, prefix}));
    if (p.metadata_size == 0) return std::optional<RawMessage>{};
    if (p.metadata_size > options.max_metadata_size)
      return fail(Errc::parse_error, "metadata of {} bytes over the limit of {}", p.metadata_size,
                  options.max_metadata_size);
    SLUICE_TRY_ASSIGN(Buffer md, Buffer::allocate(p.metadata_size));
    SLUICE_TRY(read_exact({md.mutable_data(), md.size()}, false));
    SLUICE_TRY_ASSIGN(RawMessage raw, finish_raw(std::move(md), p.prefix_size));
    // The body length is untrusted: memory grows with the bytes that actually
    // arrive, not with what the header claims. A body up to kWholeBody is
    // read into one buffer of its claimed size, which costs pages only as
    // bytes land in it; a larger claim is believed once kWholeBody bytes of
    // it have arrived (those are copied once), so a peer must send 64 MiB
    // before we reserve more. Either way each byte is read straight into
    // place, never zeroed first.
    const auto body_len = static_cast<std::uint64_t>(raw.message->body_length());
    constexpr std::uint64_t kWholeBody = std::uint64_t{64} << 20;
    if (body_len > (std::uint64_t{1} << 48))
      return fail(Errc::parse_error, "message body of {} bytes is not plausible", body_len);
    const auto piece = static_cast<std::size_t>(std::min(body_len, kWholeBody));
    SLUICE_TRY_ASSIGN(Buffer body, Buffer::allocate_uninitialized(piece));
    SLUICE_TRY(read_exact({body.mutable_data(), piece}, false));
    if (body_len > piece) {
      SLUICE_TRY_ASSIGN(Buffer whole,
                        Buffer::allocate_uninitialized(static_cast<std::size_t>(body_len)));
      std::memcpy(whole.mutable_data(), body.data(), piece);
      body = Buffer();
      SLUICE_TRY(read_exact(
          {whole.mutable_data() + piece, static_cast<std::size_t>(body_len) - piece}, false));
      body = std::move(whole);
    }
    raw.body = std::move(body);
    pos_ += prefix + p.metadata_size + static_cast<std::size_t>(body_len);
    return std::optional<RawMessage>{std::move(raw)};
  }

  [[nodiscard]] std::size_t position() const noexcept override { return pos_; }

 private:
  // Reads exactly out.size() bytes; with allow_eof, end of input before the
  // first byte returns 0.
  Result<std::size_t> read_exact(std::span<std::byte> out, bool allow_eof) {
    std::size_t got = 0;
    while (got < out.size()) {
      SLUICE_TRY_ASSIGN(std::size_t n, in_->read(out.subspan(got)));
      if (n == 0) {
        if (got == 0 && allow_eof) return std::size_t{0};
        return fail(Errc::parse_error, "ipc stream truncated: {} of {} bytes", got, out.size());
      }
      got += n;
    }
    return got;
  }

  std::unique_ptr<InputSource> in_;
  std::size_t pos_ = 0;
};

class FdSource final : public InputSource {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  Result<std::size_t> read(std::span<std::byte> out) override {
    while (true) {
      const ssize_t n = ::read(fd_, out.data(), out.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return fail(Error::from_errno(errno, "read ipc stream"));
    }
  }

 private:
  int fd_;
};

// --- record batch bodies --------------------------------------------------------------------

Result<Compression> body_codec(const fb::RecordBatch* rb) {
  const fb::BodyCompression* c = rb->compression();
  if (c == nullptr) return Compression::none;
  if (c->method() != fb::BodyCompressionMethod::BUFFER)
    return fail(Errc::not_supported, "body compression method {}", static_cast<int>(c->method()));
  switch (c->codec()) {
    case fb::CompressionType::LZ4_FRAME:
      return Compression::lz4_frame;
    case fb::CompressionType::ZSTD:
      return Compression::zstd;
  }
  return fail(Errc::parse_error, "compression codec {}", static_cast<int>(c->codec()));
}

std::size_t natural_alignment(const DataType& t) {
  const int w = t.byte_width();
  if (w >= 8) return 8;
  if (w == 4 || w == 2 || w == 1) return static_cast<std::size_t>(w);
  return 1;  // fixed_size_binary of odd widths
}

class BatchDecoder {
 public:
  BatchDecoder(const fb::RecordBatch* rb, Buffer body, Compression codec,
               const DecodedSchema& schema,
               const std::unordered_map<std::int64_t, ArrayPtr>& dictionaries,
               const ReadOptions& options, StreamStats& stats)
      : rb_(rb),
        body_(std::move(body)),
        codec_(codec),
        schema_(schema),
        dictionaries_(dictionaries),
        options_(options),
        stats_(stats),
        budget_(options.max_decompressed_size) {}

  Result<ArrayPtr> decode(const FieldPtr& f, int depth) {
    auto r = decode_impl(f, depth);
    if (!r) return fail(std::move(r).error().context(fmt::format("field '{}'", f->name())));
    return r;
  }

 private:
  Result<ArrayPtr> decode_impl(const FieldPtr& f, int depth) {
    if (depth > kMaxNestingDepth)
      return fail(Errc::parse_error, "arrays nested deeper than {}", kMaxNestingDepth);
    const TypePtr& type = f->type();
    const DataType& t = *type;
    const auto* nodes = rb_->nodes();
    if (nodes == nullptr || node_ >= nodes->size())
      return fail(Errc::parse_error, "field node {} missing ({} in the message)", node_,
                  nodes ? nodes->size() : 0);
    const fb::FieldNode node = struct_at(nodes, node_++);
    const std::int64_t length = node.length();
    std::int64_t nulls = node.null_count();
    // A null count of -1 means "not computed" (apache-arrow writes it for
    // sliced arrays); it is counted from the bitmap below.
    if (length < 0 || nulls < -1 || nulls > length)
      return fail(Errc::parse_error, "node with length {} and null count {}", length, nulls);
    std::vector<Buffer> buffers;
    std::vector<ArrayPtr> children;
    ArrayPtr dictionary;
    const Layout layout = t.layout();
    if (layout == Layout::null) {
      return std::make_shared<const Array>(type, length, length, 0, std::move(buffers));
    }
    SLUICE_TRY_ASSIGN(Buffer validity, next_buffer(1));
    if (nulls < 0) {
      if (validity.empty()) {
        nulls = 0;
      } else {
        if (static_cast<std::int64_t>(validity.size()) < bitmap_bytes(length))
          return fail(Errc::parse_error, "validity bitmap of {} bytes for {} values",
                      validity.size(), length);
        nulls = length - count_set_bits(validity.data(), 0, length);
      }
    }
    if (nulls == 0) validity = Buffer{};  // a writer may send a bitmap of all ones
    buffers.push_back(std::move(validity));
    switch (layout) {
      case Layout::bitmap: {
        SLUICE_TRY_ASSIGN(Buffer values, next_buffer(1));
        buffers.push_back(std::move(values));
        break;
      }
      case Layout::fixed_width: {
        SLUICE_TRY_ASSIGN(Buffer values, next_buffer(natural_alignment(t)));
        buffers.push_back(std::move(values));
        break;
      }
      case Layout::dictionary: {
        SLUICE_TRY_ASSIGN(Buffer indices, next_buffer(natural_alignment(*t.index_type())));
        buffers.push_back(std::move(indices));
        auto id = schema_.ids.find(f.get());
        if (id == schema_.ids.end())
          return fail(Errc::parse_error, "dictionary field without an id");
        auto d = dictionaries_.find(id->second);
        if (d == dictionaries_.end())
          return fail(Errc::parse_error, "dictionary id {} used before any dictionary batch for it",
                      id->second);
        dictionary = d->second;
        break;
      }
      case Layout::binary32:
      case Layout::binary64: {
        SLUICE_TRY_ASSIGN(Buffer offsets, next_buffer(layout == Layout::binary32 ? 4 : 8));
        SLUICE_TRY_ASSIGN(Buffer data, next_buffer(1));
        buffers.push_back(std::move(offsets));
        buffers.push_back(std::move(data));
        break;
      }
      case Layout::list32:
      case Layout::list64: {
        SLUICE_TRY_ASSIGN(Buffer offsets, next_buffer(layout == Layout::list32 ? 4 : 8));
        buffers.push_back(std::move(offsets));
        SLUICE_TRY_ASSIGN(ArrayPtr child, decode(t.value_field(), depth + 1));
        children.push_back(std::move(child));
        break;
      }
      case Layout::fixed_list: {
        SLUICE_TRY_ASSIGN(ArrayPtr child, decode(t.value_field(), depth + 1));
        children.push_back(std::move(child));
        break;
      }
      case Layout::struct_:
        for (const auto& c : t.fields()) {
          SLUICE_TRY_ASSIGN(ArrayPtr child, decode(c, depth + 1));
          children.push_back(std::move(child));
        }
        break;
      case Layout::null:
        break;
    }
    return std::make_shared<const Array>(type, length, nulls, 0, std::move(buffers),
                                         std::move(children), std::move(dictionary));
  }

  Result<Buffer> next_buffer(std::size_t alignment) {
    const auto* specs = rb_->buffers();
    if (specs == nullptr || buffer_ >= specs->size())
      return fail(Errc::parse_error, "buffer {} missing ({} in the message)", buffer_,
                  specs ? specs->size() : 0);
    const fb::Buffer spec = struct_at(specs, buffer_++);
    const std::int64_t off = spec.offset();
    const std::int64_t len = spec.length();
    if (off < 0 || len < 0 ||
        !fits(static_cast<std::uint64_t>(off), static_cast<std::uint64_t>(len), body_.size()))
      return fail(Errc::parse_error, "buffer {} at [{}, +{}) outside the {}-byte body", buffer_ - 1,
                  off, len, body_.size());
    Buffer b = body_.slice(static_cast<std::size_t>(off), static_cast<std::size_t>(len));
    bool owned = false;
    if (codec_ != Compression::none) {
      const std::byte* before = b.data();
      auto d = decompress_buffer(codec_, b, &budget_);
      if (!d) return fail(std::move(d).error().context(fmt::format("buffer {}", buffer_ - 1)));
      b = std::move(d).value();
      owned = b.empty() || b.data() < before || b.data() >= before + len;
    }
    if (b.empty()) return Buffer{};
    if (!owned && (!options_.zero_copy || !b.is_aligned(alignment))) {
      b = Buffer::copy_of(b.data(), b.size());
      owned = true;
    }
    if (owned)
      ++stats_.buffers_copied;
    else
      ++stats_.buffers_aliased;
    return b;
  }

  const fb::RecordBatch* rb_;
  Buffer body_;
  Compression codec_;
  const DecodedSchema& schema_;
  const std::unordered_map<std::int64_t, ArrayPtr>& dictionaries_;
  const ReadOptions& options_;
  StreamStats& stats_;
  std::uint64_t budget_;
  flatbuffers::uoffset_t node_ = 0;
  flatbuffers::uoffset_t buffer_ = 0;
};

// Shared by stream and file readers: dictionary state and message decoding.
struct DecoderState {
  ReadOptions options;
  DecodedSchema schema;
  std::unordered_map<std::int64_t, ArrayPtr> dictionaries;
  StreamStats stats;

  Result<void> apply_dictionary(const RawMessage& raw) {
    const fb::DictionaryBatch* db = raw.message->header_as_DictionaryBatch();
    if (db == nullptr || db->data() == nullptr)
      return fail(Errc::parse_error, "dictionary batch without data");
    const std::int64_t id = db->id();
    auto vt = schema.value_types.find(id);
    if (vt == schema.value_types.end())
      return fail(Errc::parse_error, "dictionary batch for unknown id {}", id);
    SLUICE_TRY_ASSIGN(Compression codec, body_codec(db->data()));
    BatchDecoder dec(db->data(), raw.body, codec, schema, dictionaries, options, stats);
    const FieldPtr values_field = field("dictionary", vt->second);
    SLUICE_TRY_ASSIGN(ArrayPtr values, dec.decode(values_field, 1));
    if (values->length() != db->data()->length())
      return fail(Errc::parse_error, "dictionary batch length {} but its values have {}",
                  db->data()->length(), values->length());
    auto v = validate(*values, options.validation);
    if (!v) return fail(std::move(v).error().context(fmt::format("dictionary {}", id)));
    ++stats.dictionary_batches;
    if (db->is_delta()) {
      auto it = dictionaries.find(id);
      if (it == dictionaries.end())
        return fail(Errc::parse_error, "dictionary delta for id {} before its dictionary", id);
      SLUICE_TRY_ASSIGN(ArrayPtr merged, concatenate({it->second, values}));
      it->second = std::move(merged);
      ++stats.dictionary_deltas;
    } else {
      dictionaries[id] = std::move(values);
    }
    return ok();
  }

  Result<RecordBatch> decode_batch(const RawMessage& raw) {
    const fb::RecordBatch* rb = raw.message->header_as_RecordBatch();
    if (rb == nullptr) return fail(Errc::parse_error, "record batch message without a header");
    SLUICE_TRY_ASSIGN(Compression codec, body_codec(rb));
    BatchDecoder dec(rb, raw.body, codec, schema, dictionaries, options, stats);
    std::vector<ArrayPtr> columns;
    columns.reserve(schema.schema->num_fields());
    for (const auto& f : schema.schema->fields()) {
      SLUICE_TRY_ASSIGN(ArrayPtr c, dec.decode(f, 1));
      columns.push_back(std::move(c));
    }
    SLUICE_TRY_ASSIGN(KeyValueMetadata md, decode_metadata(raw.message->custom_metadata()));
    RecordBatch batch(schema.schema, rb->length(), std::move(columns), std::move(md));
    SLUICE_TRY(validate(batch, options.validation));
    ++stats.record_batches;
    return batch;
  }
};

// Streams on one connection tend to repeat a few schemas (an RPC client
// reads one response stream per call): the last few decoded schemas are kept
// per thread, keyed by their message's bytes, and reused when the same bytes
// arrive again (a schema is immutable, so sharing it is safe).
struct SchemaCache {
  static constexpr std::size_t kEntries = 16;
  static constexpr std::size_t kMaxBytes = 4096;
  struct Entry {
    std::string bytes;
    DecodedSchema schema;
  };
  std::vector<Entry> entries;
  std::size_t next = 0;

  const DecodedSchema* find(std::string_view bytes) const {
    for (const auto& e : entries)
      if (e.bytes == bytes) return &e.schema;
    return nullptr;
  }
  void add(std::string_view bytes, const DecodedSchema& s) {
    if (bytes.size() > kMaxBytes) return;
    if (entries.size() < kEntries) {
      entries.push_back({std::string(bytes), s});
      return;
    }
    entries[next] = {std::string(bytes), s};
    next = (next + 1) % kEntries;
  }
};

Result<DecodedSchema> schema_from_message(const RawMessage& raw) {
  if (raw.message->header_type() != fb::MessageHeader::Schema)
    return fail(Errc::parse_error, "stream starts with a {} message, not a schema",
                fb::EnumNameMessageHeader(raw.message->header_type()));
  thread_local SchemaCache cache;
  const std::string_view bytes(reinterpret_cast<const char*>(raw.metadata.data()),
                               raw.metadata.size());
  if (const DecodedSchema* hit = cache.find(bytes)) return *hit;
  SLUICE_TRY_ASSIGN(DecodedSchema d, decode_schema(raw.message->header_as_Schema()));
  cache.add(bytes, d);
  return d;
}

}  // namespace

std::unique_ptr<InputSource> fd_source(int fd) { return std::make_unique<FdSource>(fd); }

// --- StreamReader
// ----------------------------------------------------------------------------------

struct StreamReader::Impl {
  std::unique_ptr<MessageSource> source;
  DecoderState state;
  bool done = false;

  Result<void> read_schema() {
    SLUICE_TRY_ASSIGN(auto raw, source->next(state.options));
    if (!raw) return fail(Errc::parse_error, "empty ipc stream (no schema message)");
    ++state.stats.messages;
    SLUICE_TRY_ASSIGN(state.schema, schema_from_message(*raw));
    return ok();
  }
};

StreamReader::StreamReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamReader::StreamReader(StreamReader&&) noexcept = default;
StreamReader& StreamReader::operator=(StreamReader&&) noexcept = default;
StreamReader::~StreamReader() = default;

Result<StreamReader> StreamReader::open(Buffer bytes, ReadOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->source = std::make_unique<BufferSource>(std::move(bytes));
  impl->state.options = options;
  auto r = impl->read_schema();
  if (!r) return fail(std::move(r).error().context("ipc stream schema"));
  return StreamReader(std::move(impl));
}

Result<StreamReader> StreamReader::open(std::unique_ptr<InputSource> source, ReadOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->source = std::make_unique<StreamSource>(std::move(source));
  impl->state.options = options;
  auto r = impl->read_schema();
  if (!r) return fail(std::move(r).error().context("ipc stream schema"));
  return StreamReader(std::move(impl));
}

Result<StreamReader> StreamReader::open_with_schema(Buffer bytes, SchemaPtr schema,
                                                    ReadOptions options) {
  if (!schema) return fail(Errc::invalid_argument, "open_with_schema without a schema");
  auto impl = std::make_unique<Impl>();
  impl->source = std::make_unique<BufferSource>(std::move(bytes));
  impl->state.options = options;
  impl->state.schema = describe_schema(std::move(schema));
  return StreamReader(std::move(impl));
}

const SchemaPtr& StreamReader::schema() const noexcept { return impl_->state.schema.schema; }
std::size_t StreamReader::position() const noexcept { return impl_->source->position(); }
const StreamStats& StreamReader::stats() const noexcept { return impl_->state.stats; }

Result<std::optional<RecordBatch>> StreamReader::next() {
  Impl& s = *impl_;
  while (!s.done) {
    const std::uint64_t index = s.state.stats.messages;
    auto raw = s.source->next(s.state.options);
    if (!raw) return fail(std::move(raw).error().context(fmt::format("ipc message {}", index)));
    if (!raw.value()) {
      s.done = true;
      break;
    }
    ++s.state.stats.messages;
    const RawMessage& m = *raw.value();
    switch (m.message->header_type()) {
      case fb::MessageHeader::DictionaryBatch: {
        auto r = s.state.apply_dictionary(m);
        if (!r) return fail(std::move(r).error().context(fmt::format("ipc message {}", index)));
        continue;
      }
      case fb::MessageHeader::RecordBatch: {
        auto b = s.state.decode_batch(m);
        if (!b)
          return fail(
              std::move(b).error().context(fmt::format("ipc message {} (record batch)", index)));
        return std::optional<RecordBatch>{std::move(b).value()};
      }
      case fb::MessageHeader::Schema:
        return fail(Errc::parse_error, "ipc message {}: a second schema message", index);
      default:
        return fail(Errc::not_supported, "ipc message {}: {} messages", index,
                    fb::EnumNameMessageHeader(m.message->header_type()));
    }
  }
  return std::optional<RecordBatch>{};
}

Result<std::vector<RecordBatch>> StreamReader::read_all() {
  std::vector<RecordBatch> out;
  while (true) {
    SLUICE_TRY_ASSIGN(auto b, next());
    if (!b) return out;
    out.push_back(std::move(*b));
  }
}

// --- FileReader
// -------------------------------------------------------------------------------------

struct FileReader::Impl {
  Buffer file;
  std::size_t data_end = 0;  // start of the footer
  DecoderState state;
  std::vector<fb::Block> dictionary_blocks;
  std::vector<fb::Block> batch_blocks;

  Result<RawMessage> message_at(const fb::Block& b, const char* what, std::size_t index) {
    const std::int64_t off = b.offset();
    if (off < 8 || b.meta_data_length() <= 0 || b.body_length() < 0 ||
        !fits(static_cast<std::uint64_t>(off),
              static_cast<std::uint64_t>(b.meta_data_length()) +
                  static_cast<std::uint64_t>(b.body_length()),
              data_end))
      return fail(Errc::parse_error, "{} block {} at [{}, +{}+{}) outside the file data ({} bytes)",
                  what, index, off, b.meta_data_length(), b.body_length(), data_end);
    BufferSource src(file.slice(0, data_end), static_cast<std::size_t>(off));
    SLUICE_TRY_ASSIGN(auto raw, src.next(state.options));
    if (!raw)
      return fail(Errc::parse_error, "{} block {} points at an end-of-stream marker", what, index);
    return std::move(*raw);
  }
};

FileReader::FileReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FileReader::FileReader(FileReader&&) noexcept = default;
FileReader& FileReader::operator=(FileReader&&) noexcept = default;
FileReader::~FileReader() = default;

bool is_file_format(std::span<const std::byte> bytes) noexcept {
  return bytes.size() >= 6 && std::memcmp(bytes.data(), kFileMagic, 6) == 0;
}

Result<FileReader> FileReader::open(Buffer bytes, ReadOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->state.options = options;
  const std::size_t size = bytes.size();
  // magic + padding (8), footer length (4), trailing magic (6)
  if (size < 18) return fail(Errc::parse_error, "ipc file of {} bytes is too small", size);
  if (!is_file_format(bytes.span()) || std::memcmp(bytes.data() + size - 6, kFileMagic, 6) != 0)
    return fail(Errc::parse_error, "ipc file lacks the ARROW1 magic at its start or end");
  const std::int32_t footer_len = load_i32(bytes.data() + size - 10);
  if (footer_len <= 0 || static_cast<std::size_t>(footer_len) > size - 18)
    return fail(Errc::parse_error, "ipc file footer length {} in a {}-byte file", footer_len, size);
  impl->data_end = size - 10 - static_cast<std::size_t>(footer_len);
  Buffer footer_bytes =
      Buffer::copy_of(bytes.data() + impl->data_end, static_cast<std::size_t>(footer_len));
  flatbuffers::Verifier verifier(reinterpret_cast<const std::uint8_t*>(footer_bytes.data()),
                                 footer_bytes.size(), 2 * kMaxNestingDepth + 8, 1000000);
  if (!fb::VerifyFooterBuffer(verifier))
    return fail(Errc::parse_error, "ipc file footer fails verification");
  const fb::Footer* footer = fb::GetFooter(footer_bytes.data());
  auto schema = decode_schema(footer->schema());
  if (!schema) return fail(std::move(schema).error().context("ipc file footer schema"));
  impl->state.schema = std::move(schema).value();
  if (const auto* d = footer->dictionaries())
    for (flatbuffers::uoffset_t i = 0; i < d->size(); ++i)
      impl->dictionary_blocks.push_back(struct_at(d, i));
  if (const auto* r = footer->record_batches())
    for (flatbuffers::uoffset_t i = 0; i < r->size(); ++i)
      impl->batch_blocks.push_back(struct_at(r, i));
  impl->file = std::move(bytes);
  for (std::size_t i = 0; i < impl->dictionary_blocks.size(); ++i) {
    SLUICE_TRY_ASSIGN(RawMessage raw,
                      impl->message_at(impl->dictionary_blocks[i], "dictionary", i));
    if (raw.message->header_type() != fb::MessageHeader::DictionaryBatch)
      return fail(Errc::parse_error, "dictionary block {} holds a {} message", i,
                  fb::EnumNameMessageHeader(raw.message->header_type()));
    auto r = impl->state.apply_dictionary(raw);
    if (!r) return fail(std::move(r).error().context(fmt::format("dictionary block {}", i)));
  }
  return FileReader(std::move(impl));
}

const SchemaPtr& FileReader::schema() const noexcept { return impl_->state.schema.schema; }
int FileReader::num_record_batches() const noexcept {
  return static_cast<int>(impl_->batch_blocks.size());
}

Result<RecordBatch> FileReader::read(int i) {
  Impl& s = *impl_;
  if (i < 0 || static_cast<std::size_t>(i) >= s.batch_blocks.size())
    return fail(Errc::out_of_range, "record batch {} of {}", i, s.batch_blocks.size());
  const auto idx = static_cast<std::size_t>(i);
  SLUICE_TRY_ASSIGN(RawMessage raw, s.message_at(s.batch_blocks[idx], "record batch", idx));
  if (raw.message->header_type() != fb::MessageHeader::RecordBatch)
    return fail(Errc::parse_error, "record batch block {} holds a {} message", i,
                fb::EnumNameMessageHeader(raw.message->header_type()));
  auto b = s.state.decode_batch(raw);
  if (!b) return fail(std::move(b).error().context(fmt::format("record batch block {}", i)));
  return b;
}

Result<std::vector<RecordBatch>> FileReader::read_all() {
  std::vector<RecordBatch> out;
  for (int i = 0; i < num_record_batches(); ++i) {
    SLUICE_TRY_ASSIGN(RecordBatch b, read(i));
    out.push_back(std::move(b));
  }
  return out;
}

Result<std::vector<RecordBatch>> read_all(Buffer bytes, SchemaPtr* schema_out,
                                          ReadOptions options) {
  if (is_file_format(bytes.span())) {
    SLUICE_TRY_ASSIGN(FileReader r, FileReader::open(std::move(bytes), options));
    if (schema_out) *schema_out = r.schema();
    return r.read_all();
  }
  SLUICE_TRY_ASSIGN(StreamReader r, StreamReader::open(std::move(bytes), options));
  if (schema_out) *schema_out = r.schema();
  return r.read_all();
}

}  // namespace sluice::arrow::ipc
