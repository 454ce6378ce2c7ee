// Batch channels: Arrow IPC streams written into loaned chunks, decoded in
// place, with the channel sample as the buffers' lifetime handle.

#include <sluice/arrow/internal/ipc.hpp>

#include <sluice/base/atomic.hpp>
#include <sluice/batch/batch_channel.hpp>

#include <atomic>
#include <new>
#include <optional>
#include <thread>

namespace sluice::batch {

using namespace ::sluice::arrow;  // NOLINT(google-build-using-namespace): the codec's vocabulary

using namespace std::chrono_literals;

// A batch's lifetime handle owns its channel sample. Samples may be released
// on any thread, so the handle's deleter simply drops it wherever the last
// buffer of the batch goes away (a query engine's worker, the release
// callback of a C Data export); `held` counts the handles alive for
// batches_held(), and is shared so that batches may outlive their subscriber.
struct HeldSample {
  Sample sample;
  std::shared_ptr<std::atomic<std::uint32_t>> held;
};

namespace {

void release_held(HeldSample* h) noexcept {
  h->held->fetch_sub(1, std::memory_order_relaxed);
  delete h;  // releases the sample
}

// Plain byte endpoints registered with the batch channel's type id.
struct BatchBytePublisher : BytePublisher {
  static Result<BytePublisher> open(const Domain& domain, std::string_view name,
                                    const ChannelOptions& options) {
    BatchBytePublisher p;
    SLUICE_TRY(channel::open_publisher(p.s_, domain, name, options, channel::Kind::pubsub, 0,
                                       kBatchChannelTypeId));
    return BytePublisher(std::move(p));
  }
};
struct BatchByteSubscriber : ByteSubscriber {
  static Result<ByteSubscriber> open(const Domain& domain, std::string_view name,
                                     const SubscribeOptions& sub, const ChannelOptions& options) {
    BatchByteSubscriber s;
    SLUICE_TRY(channel::open_subscriber(s.s_, domain, name, sub, options, channel::Kind::pubsub, 0,
                                        kBatchChannelTypeId));
    return ByteSubscriber(std::move(s));
  }
};

std::size_t checked_mul(std::size_t a, std::size_t b, bool& overflow) noexcept {
  std::size_t r = 0;
  overflow |= __builtin_mul_overflow(a, b, &r);
  return r;
}

// The record-batch Message flatbuffer (the ipc writer's, minus compression),
// built at loan time; publish() then only rewrites values inside its
// FieldNode and Buffer struct vectors.
void build_batch_message(flatbuffers::FlatBufferBuilder& fbb, std::int64_t rows,
                         const std::vector<fb::FieldNode>& nodes,
                         const std::vector<fb::Buffer>& buffers, std::size_t body_length,
                         const KeyValueMetadata& metadata) {
  auto nv = fbb.CreateVectorOfStructs(nodes);
  auto bv = fbb.CreateVectorOfStructs(buffers);
  auto rb = fb::CreateRecordBatch(fbb, rows, nv, bv);
  auto md = metadata.empty() ? ipc::detail::KeyValueVector()
                             : ipc::detail::encode_metadata(fbb, metadata);
  auto msg = fb::CreateMessage(fbb, fb::MetadataVersion::V5, fb::MessageHeader::RecordBatch,
                               rb.Union(), static_cast<std::int64_t>(body_length), md);
  fbb.Finish(msg);
}

void add_spec(std::vector<fb::Buffer>& specs, const BatchLoan::Slot& s, std::size_t length) {
  specs.emplace_back(static_cast<std::int64_t>(s.offset), static_cast<std::int64_t>(length));
}

}  // namespace

// -- BatchLoan --------------------------------------------------------------------------

BatchLoan::BatchLoan() = default;
BatchLoan::BatchLoan(BatchLoan&&) noexcept = default;
BatchLoan& BatchLoan::operator=(BatchLoan&&) noexcept = default;
BatchLoan::~BatchLoan() = default;

std::span<std::byte> BatchLoan::validity(std::size_t c) {
  const Slot& s = columns_.at(c).validity;
  return {loan_.data() + body_offset_ + s.offset, s.length};
}
std::span<std::byte> BatchLoan::values(std::size_t c) {
  const Slot& s = columns_.at(c).values;
  return {loan_.data() + body_offset_ + s.offset, s.length};
}
std::span<std::byte> BatchLoan::data(std::size_t c) {
  const Slot& s = columns_.at(c).data;
  return {loan_.data() + body_offset_ + s.offset, s.length};
}
void BatchLoan::set_null_count(std::size_t c, std::int64_t null_count) {
  SLUICE_CHECK(null_count >= 0 && null_count <= rows_);
  columns_.at(c).null_count = null_count;
}

// -- BatchPublisher -----------------------------------------------------------------------

BatchPublisher::BatchPublisher() = default;
BatchPublisher::BatchPublisher(BatchPublisher&&) noexcept = default;
BatchPublisher& BatchPublisher::operator=(BatchPublisher&&) noexcept = default;
BatchPublisher::~BatchPublisher() = default;

Result<BatchPublisher> BatchPublisher::create(const Domain& domain, std::string_view name,
                                              const ChannelOptions& options,
                                              const ipc::WriteOptions& write) {
  if (write.alignment < 8 || write.alignment > 4096 || !is_pow2(write.alignment))
    return fail(Errc::invalid_argument,
                "batch channel '{}': ipc alignment {} (a power of two in [8, 4096])", name,
                write.alignment);
  BatchPublisher p;
  SLUICE_TRY_ASSIGN(p.pub_, BatchBytePublisher::open(domain, name, options));
  p.write_ = write;
  return p;
}

Result<std::size_t> BatchPublisher::serialized_size(const RecordBatch& batch) const {
  return ipc::serialized_size(batch, write_);
}

Result<void> BatchPublisher::publish(const RecordBatch& batch) {
  auto ctx = [&](Error e) {
    return fail(e.context(fmt::format("batch channel '{}'", channel_name())));
  };
  auto stream = ipc::EncodedStream::encode(batch, write_);
  if (!stream) return ctx(std::move(stream).error());
  auto loan = pub_.loan(stream->size());
  if (!loan) return ctx(std::move(loan).error());
  if (auto w = stream->write_to(loan->bytes()); !w) return ctx(std::move(w).error());
  if (auto p = pub_.publish(std::move(*loan)); !p) return ctx(std::move(p).error());
  return ok();
}

Result<BatchLoan> BatchPublisher::loan(SchemaPtr schema, std::int64_t rows,
                                       std::span<const std::size_t> data_capacity,
                                       KeyValueMetadata metadata) {
  if (!schema)
    return fail(Errc::invalid_argument, "batch channel '{}': loan without a schema",
                channel_name());
  if (rows < 0)
    return fail(Errc::invalid_argument, "batch channel '{}': loan of {} rows", channel_name(),
                rows);
  const std::size_t align = write_.alignment;
  const auto n = static_cast<std::size_t>(rows);
  BatchLoan bl;
  bl.columns_.resize(schema->num_fields());
  std::size_t pos = 0;
  bool overflow = false;
  auto reserve = [&](BatchLoan::Slot& s, std::size_t length) {
    s.offset = pos;
    s.length = length;
    const std::size_t padded = align_up(length, align);
    overflow |= padded < length || __builtin_add_overflow(pos, padded, &pos);
  };
  for (std::size_t c = 0; c < schema->num_fields(); ++c) {
    const Field& f = *schema->field(c);
    const DataType& t = *f.type();
    BatchLoan::Column& col = bl.columns_[c];
    col.layout = t.layout();
    const std::size_t bitmap = (n + 7) / 8;
    switch (col.layout) {
      case Layout::null:
        break;
      case Layout::bitmap:
        reserve(col.validity, f.nullable() ? bitmap : 0);
        reserve(col.values, bitmap);
        break;
      case Layout::fixed_width:
        reserve(col.validity, f.nullable() ? bitmap : 0);
        reserve(col.values, checked_mul(n, static_cast<std::size_t>(t.byte_width()), overflow));
        break;
      case Layout::binary32:
      case Layout::binary64:
        reserve(col.validity, f.nullable() ? bitmap : 0);
        reserve(col.values, checked_mul(n + 1, col.layout == Layout::binary64 ? 8 : 4, overflow));
        reserve(col.data, c < data_capacity.size() ? data_capacity[c] : 0);
        if (col.layout == Layout::binary32 && col.data.length > static_cast<std::size_t>(INT32_MAX))
          return fail(
              Errc::invalid_argument,
              "batch channel '{}': column '{}' ({}): data capacity {} exceeds int32 offsets",
              channel_name(), f.name(), t.to_string(), col.data.length);
        break;
      default:
        return fail(Errc::not_supported,
                    "batch channel '{}': column '{}' ({}): only flat columns are built in place; "
                    "build nested and "
                    "dictionary columns as arrays and publish(batch)",
                    channel_name(), f.name(), t.to_string());
    }
  }
  if (overflow)
    return fail(Errc::out_of_range, "batch channel '{}': a batch of {} rows does not fit in memory",
                channel_name(), rows);
  bl.body_length_ = pos;

  // The record-batch message with what is known now: null counts 0, every
  // slot at its reserved length. publish() patches the null counts and the
  // lengths that depend on the contents in place (the struct vectors have a
  // fixed layout), so publishing builds nothing and allocates nothing.
  std::vector<fb::FieldNode> nodes;
  std::vector<fb::Buffer> specs;
  for (auto& col : bl.columns_) {
    nodes.emplace_back(rows, col.layout == Layout::null ? rows : 0);
    if (col.layout == Layout::null) continue;
    col.first_buffer = specs.size();
    add_spec(specs, col.validity, col.validity.length);
    add_spec(specs, col.values, col.values.length);
    if (col.layout == Layout::binary32 || col.layout == Layout::binary64)
      add_spec(specs, col.data, col.data.length);
  }
  flatbuffers::FlatBufferBuilder fbb(1024);
  build_batch_message(fbb, rows, nodes, specs, bl.body_length_, metadata);
  const std::size_t metadata_padded = align_up(8 + fbb.GetSize(), align) - 8;
  const fb::RecordBatch* header =
      flatbuffers::GetRoot<fb::Message>(fbb.GetBufferPointer())->header_as_RecordBatch();
  SLUICE_CHECK(header && header->nodes() && header->buffers() &&
               header->nodes()->size() == nodes.size() &&
               header->buffers()->size() == specs.size());
  const auto* fb_start = reinterpret_cast<const std::byte*>(fbb.GetBufferPointer());

  SLUICE_TRY_ASSIGN(ipc::EncodedMessage schema_message, ipc::encode_schema(*schema, write_));
  const std::size_t batch_offset = schema_message.size();  // a multiple of the alignment: no body
  bl.nodes_at_ = batch_offset + 8 +
                 static_cast<std::size_t>(
                     reinterpret_cast<const std::byte*>(header->nodes()->Data()) - fb_start);
  bl.buffers_at_ = batch_offset + 8 +
                   static_cast<std::size_t>(
                       reinterpret_cast<const std::byte*>(header->buffers()->Data()) - fb_start);
  bl.body_offset_ = batch_offset + 8 + metadata_padded;
  std::size_t total = 0;
  if (__builtin_add_overflow(bl.body_offset_, bl.body_length_, &total) ||
      __builtin_add_overflow(total, ipc::kEosSize, &total))
    return fail(Errc::out_of_range, "batch channel '{}': a batch of {} rows does not fit in memory",
                channel_name(), rows);
  auto loan = pub_.loan(total);
  if (!loan)
    return fail(
        std::move(loan).error().context(fmt::format("batch channel '{}': loan", channel_name())));
  bl.loan_ = std::move(*loan);
  std::byte* base = bl.loan_.data();
  SLUICE_TRY(schema_message.write_to(bl.loan_.bytes()));
  std::byte* message = base + batch_offset;
  const std::uint32_t marker = ipc::kContinuation;
  const auto length = static_cast<std::int32_t>(metadata_padded);
  std::memcpy(message, &marker, 4);
  std::memcpy(message + 4, &length, 4);
  std::memcpy(message + 8, fbb.GetBufferPointer(), fbb.GetSize());
  std::memset(message + 8 + fbb.GetSize(), 0, metadata_padded - fbb.GetSize());
  // Only padding, the validity bitmaps (all valid) and the first offsets are
  // initialised: the column bytes are the caller's to write.
  std::byte* body = base + bl.body_offset_;
  auto zero_padding = [&](const BatchLoan::Slot& s) {
    std::memset(body + s.offset + s.length, 0, align_up(s.length, align) - s.length);
  };
  for (const auto& col : bl.columns_) {
    if (col.layout == Layout::null) continue;
    std::memset(body + col.validity.offset, 0xFF, col.validity.length);
    zero_padding(col.validity);
    zero_padding(col.values);
    if (col.layout == Layout::binary32 || col.layout == Layout::binary64) {
      std::memset(body + col.values.offset, 0, col.layout == Layout::binary64 ? 8 : 4);
      zero_padding(col.data);
    }
  }
  const std::uint32_t eos[2] = {ipc::kContinuation, 0};
  std::memcpy(base + bl.body_offset_ + bl.body_length_, eos, ipc::kEosSize);
  bl.schema_ = std::move(schema);
  bl.rows_ = rows;
  return bl;
}

namespace {

// The data length of a utf8 / binary column whose offsets the caller wrote:
// first offset 0, monotonic, last within the data capacity.
template <typename Offset>
Result<std::size_t> check_offsets(const std::byte* p, std::size_t rows, std::size_t capacity) {
  Offset prev = 0;
  std::memcpy(&prev, p, sizeof(Offset));
  if (prev != 0) return fail(Errc::invalid_argument, "first offset {} (must be 0)", prev);
  for (std::size_t i = 1; i <= rows; ++i) {
    Offset v;
    std::memcpy(&v, p + i * sizeof(Offset), sizeof(Offset));
    if (v < prev) return fail(Errc::invalid_argument, "offset {} of row {} below {}", v, i, prev);
    prev = v;
  }
  if (static_cast<std::uint64_t>(prev) > capacity)
    return fail(Errc::invalid_argument, "last offset {} beyond the data capacity {}", prev,
                capacity);
  return static_cast<std::size_t>(prev);
}

}  // namespace

Result<void> BatchPublisher::publish(BatchLoan&& loan) {
  if (!loan.valid())
    return fail(Errc::invalid_argument, "batch channel '{}': publish of an empty loan",
                channel_name());
  std::byte* base = loan.loan_.data();
  const std::byte* body = base + loan.body_offset_;
  const std::int64_t rows = loan.rows_;
  const auto n = static_cast<std::size_t>(rows);
  // FieldNode {length, null_count} and Buffer {offset, length}: 16 bytes
  // each, the second field at +8 (the Arrow schema's struct layout).
  auto patch = [base](std::size_t at, std::size_t index, std::int64_t value) {
    std::memcpy(base + at + index * 16 + 8, &value, 8);
  };
  static_assert(sizeof(fb::FieldNode) == 16 && sizeof(fb::Buffer) == 16);
  for (std::size_t c = 0; c < loan.columns_.size(); ++c) {
    const BatchLoan::Column& col = loan.columns_[c];
    if (col.layout == Layout::null) continue;  // written at loan time
    std::int64_t nulls = 0;
    if (col.validity.length > 0) {
      nulls = col.null_count >= 0 ? col.null_count
                                  : rows - count_set_bits(body + col.validity.offset, 0, rows);
    } else if (col.null_count > 0) {
      return fail(Errc::invalid_argument,
                  "batch channel '{}': column '{}' is not nullable but has {} nulls",
                  channel_name(), loan.schema_->field(c)->name(), col.null_count);
    }
    if (col.layout == Layout::binary32 || col.layout == Layout::binary64) {
      auto used = col.layout == Layout::binary32
                      ? check_offsets<std::int32_t>(body + col.values.offset, n, col.data.length)
                      : check_offsets<std::int64_t>(body + col.values.offset, n, col.data.length);
      if (!used)
        return fail(std::move(used).error().context(fmt::format(
            "batch channel '{}': column '{}'", channel_name(), loan.schema_->field(c)->name())));
      patch(loan.buffers_at_, col.first_buffer + 2, static_cast<std::int64_t>(*used));
    }
    patch(loan.nodes_at_, c, nulls);
    // No nulls: no bitmap in the message (as the ipc writer does).
    patch(loan.buffers_at_, col.first_buffer,
          nulls > 0 ? static_cast<std::int64_t>(col.validity.length) : 0);
  }
  auto published =
      pub_.publish(std::move(loan.loan_));  // on failure the loan stays with the caller
  if (!published)
    return fail(
        std::move(published).error().context(fmt::format("batch channel '{}'", channel_name())));
  loan.columns_.clear();
  loan.schema_.reset();
  return ok();
}

// -- BatchSubscriber ----------------------------------------------------------------------

BatchSubscriber::BatchSubscriber() = default;
BatchSubscriber::BatchSubscriber(BatchSubscriber&&) noexcept = default;

BatchSubscriber& BatchSubscriber::operator=(BatchSubscriber&& o) noexcept {
  if (this != &o) {
    close();
    sub_ = std::move(o.sub_);
    held_ = std::move(o.held_);
    options_ = std::move(o.options_);
  }
  return *this;
}

BatchSubscriber::~BatchSubscriber() { close(); }

void BatchSubscriber::close() noexcept {
  // Batches still out keep the subscription alive until the last is dropped.
  sub_ = ByteSubscriber();
  held_.reset();
}

Result<BatchSubscriber> BatchSubscriber::create(const Domain& domain, std::string_view name,
                                                const BatchSubscriberOptions& batch,
                                                const SubscribeOptions& sub,
                                                const ChannelOptions& options) {
  BatchSubscriber s;
  SLUICE_TRY_ASSIGN(s.sub_, BatchByteSubscriber::open(domain, name, sub, options));
  s.held_ = std::make_shared<std::atomic<std::uint32_t>>(0);
  s.options_ = batch;
  return s;
}

std::uint32_t BatchSubscriber::batches_held() const noexcept {
  return held_ ? held_->load(std::memory_order_relaxed) : 0;
}

Result<int> BatchSubscriber::notification_fd() {
  if (!held_) return fail(Errc::invalid_argument, "batch subscriber is closed");
  return sub_.notification_fd();
}

Result<ReceivedBatch> BatchSubscriber::try_receive() {
  if (!held_) return fail(Errc::invalid_argument, "batch subscriber is closed");
  SLUICE_TRY_ASSIGN(Sample s, sub_.try_receive());
  return decode(std::move(s));
}

Result<ReceivedBatch> BatchSubscriber::receive_for(std::chrono::nanoseconds timeout) {
  if (!held_) return fail(Errc::invalid_argument, "batch subscriber is closed");
  SLUICE_TRY_ASSIGN(Sample s, sub_.receive_for(timeout));
  return decode(std::move(s));
}

// Looks at the stream's schema message. When it is byte-identical to the one
// cached, returns its length (the caller continues with open_with_schema and
// the cached schema); `known` says the cached schema already passed the
// expected-schema check. Otherwise decodes a private copy of the message: a
// schema without dictionary fields becomes the cache and its length is
// returned; else (or when it does not decode) returns 0 and the caller reads
// the whole stream. Only the private copy is ever decoded, so a peer
// rewriting the chunk meanwhile cannot make the cache disagree with itself.
std::size_t BatchSubscriber::split_schema(const Buffer& bytes, bool& known) {
  known = false;
  if (bytes.size() < 8) return 0;
  std::uint32_t marker = 0;
  std::int32_t length = 0;
  std::memcpy(&marker, bytes.data(), 4);
  std::memcpy(&length, bytes.data() + 4, 4);
  constexpr std::int32_t kMaxCachedSchema = 1 << 20;
  if (marker != ipc::kContinuation || length <= 0 || length > kMaxCachedSchema ||
      static_cast<std::size_t>(length) > bytes.size() - 8)
    return 0;
  const std::size_t n = 8 + static_cast<std::size_t>(length);
  if (schema_ && n == schema_message_.size() &&
      std::memcmp(bytes.data(), schema_message_.data(), n) == 0) {
    known = options_.expected_schema != nullptr;  // it matched when it was cached
    return n;
  }
  schema_.reset();
  schema_message_.assign(bytes.data(), bytes.data() + n);
  auto r = ipc::StreamReader::open(Buffer::wrap(schema_message_.data(), n, nullptr), options_.read);
  if (!r || r->schema()->has_dictionaries()) return 0;
  if (options_.expected_schema &&
      !r->schema()->equals(*options_.expected_schema, options_.check_schema_metadata))
    return 0;  // the full path reports the mismatch
  schema_ = r->schema();
  return n;
}

Result<ReceivedBatch> BatchSubscriber::decode(Sample&& sample) {
  const std::uint64_t sequence = sample.sequence();
  auto ctx = [&](Error e) {
    return fail(e.context(fmt::format("batch channel '{}': message {}", channel_name(), sequence)));
  };
  auto* held = new (std::nothrow) HeldSample{std::move(sample), held_};
  if (held == nullptr)  // the sample was not moved from: it is released on return
    return ctx(Error(Errc::out_of_memory, "no memory for the sample's owner"));
  held_->fetch_add(1, std::memory_order_relaxed);
  // From here the sample is released by release_held when the last buffer
  // referencing it goes away - on an error below, when these locals do.
  ReceivedBatch out;
  out.sequence = sequence;
  out.stream_bytes = held->sample.size();
  std::shared_ptr<void> lifetime(held, &release_held);
  Buffer bytes = Buffer::wrap(held->sample.data(), held->sample.size(), std::move(lifetime));
  std::optional<ipc::StreamReader> reader_slot;
  bool known_schema = false;
  const std::size_t schema_length = split_schema(bytes, known_schema);
  if (schema_length > 0) {
    auto r =
        ipc::StreamReader::open_with_schema(bytes.slice(schema_length), schema_, options_.read);
    if (!r) return ctx(std::move(r).error());
    reader_slot.emplace(std::move(*r));
  } else {
    auto r = ipc::StreamReader::open(std::move(bytes), options_.read);
    if (!r) return ctx(std::move(r).error());
    reader_slot.emplace(std::move(*r));
  }
  ipc::StreamReader* reader = &*reader_slot;
  auto first = reader->next();
  if (!first) return ctx(std::move(first).error());
  if (!first->has_value()) return ctx(Error(Errc::parse_error, "stream without a record batch"));
  auto more = reader->next();
  if (!more) return ctx(std::move(more).error());
  if (more->has_value())
    return ctx(Error(Errc::parse_error, "stream with more than one record batch"));
  out.batch = std::move(**first);
  if (options_.expected_schema && !known_schema &&
      !out.batch.schema()->equals(*options_.expected_schema, options_.check_schema_metadata)) {
    return ctx(Error(Errc::type_error, fmt::format("schema {} does not match the expected {}",
                                                   out.batch.schema()->to_string(),
                                                   options_.expected_schema->to_string())));
  }
  out.buffers_aliased = reader->stats().buffers_aliased;
  out.buffers_copied = reader->stats().buffers_copied;
  return out;
}

// -- C Stream Interface -------------------------------------------------------------------

Result<void> export_batch_stream(BatchSubscriber&& subscriber, ArrowArrayStream* out,
                                 const BatchStreamOptions& options) {
  if (out == nullptr)
    return fail(Errc::invalid_argument, "export_batch_stream without an output stream");
  struct State {
    BatchSubscriber sub;
    std::optional<RecordBatch> first;
    SchemaPtr schema;
    std::uint64_t delivered = 0;
  };
  auto st = std::make_shared<State>();
  st->sub = std::move(subscriber);
  st->schema = st->sub.options().expected_schema;
  if (!st->schema) {
    SLUICE_TRY_ASSIGN(ReceivedBatch first, st->sub.receive_for(options.idle_timeout));
    st->schema = first.batch.schema();
    st->first = std::move(first.batch);
  }
  const SchemaPtr schema = st->schema;
  c_data::BatchSource next = [st, options]() -> Result<std::optional<RecordBatch>> {
    if (options.max_batches != 0 && st->delivered >= options.max_batches)
      return std::optional<RecordBatch>{};
    if (st->first) {
      std::optional<RecordBatch> b = std::move(st->first);
      st->first.reset();
      ++st->delivered;
      return b;
    }
    auto r = st->sub.receive_for(options.idle_timeout);
    if (!r) {
      if (r.error().code() == Errc::timed_out) return std::optional<RecordBatch>{};
      return fail(std::move(r).error());
    }
    if (!r->batch.schema()->equals(*st->schema))
      return fail(Errc::type_error, "batch channel '{}': schema {} does not match the stream's {}",
                  st->sub.channel_name(), r->batch.schema()->to_string(), st->schema->to_string());
    ++st->delivered;
    return std::optional<RecordBatch>{std::move(r->batch)};
  };
  return c_data::export_stream(schema, std::move(next), out);
}

}  // namespace sluice::batch
