// IPC streaming and file formats: round trips of every type, slices,
// alignment, compression, dictionaries (deltas, replacement, nesting),
// metadata, zero-copy aliasing, placing into caller memory, fds, and
// malformed input.

#include <sluice/arrow/builder.hpp>
#include <sluice/arrow/compare.hpp>
#include <sluice/arrow/ipc.hpp>
#include <sluice/arrow/print.hpp>
#include <sluice/arrow/sample.hpp>

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstring>
#include <random>
#include <thread>

namespace sa = sluice::arrow;
namespace ipc = sluice::arrow::ipc;
using sluice::Errc;

namespace {

sa::Buffer to_buffer(const std::vector<std::byte>& v) {
  return sa::Buffer::copy_of(v.data(), v.size());
}

sa::RecordBatch sample(std::int64_t rows = 37, std::int64_t first = 0) {
  sa::SampleOptions o;
  o.schema_metadata.set("origin", "sluice test");
  o.batch_metadata.set("vgi_rpc.request_id", "42");
  return sa::make_sample_batch(rows, o, first);
}

std::vector<sa::RecordBatch> read_stream(const std::vector<std::byte>& bytes,
                                         ipc::StreamStats* stats = nullptr) {
  auto r = ipc::StreamReader::open(to_buffer(bytes));
  EXPECT_TRUE(r) << r.error().what();
  auto all = r->read_all();
  EXPECT_TRUE(all) << all.error().what();
  if (stats) *stats = r->stats();
  return std::move(all).value();
}

bool inside(const sa::Buffer& b, const std::byte* lo, std::size_t n) {
  return b.empty() || (b.data() >= lo && b.data() + b.size() <= lo + n);
}

// Every non-empty buffer of the array tree lies within [lo, lo + n).
bool all_inside(const sa::Array& a, const std::byte* lo, std::size_t n) {
  for (const auto& b : a.buffers())
    if (!inside(b, lo, n)) return false;
  for (const auto& c : a.children())
    if (!all_inside(*c, lo, n)) return false;
  return true;
}

TEST(ArrowIpc, StreamRoundTripEveryType) {
  const auto batch = sample();
  auto bytes = ipc::write_stream(batch.schema(), {batch});
  ASSERT_TRUE(bytes) << bytes.error().what();
  ipc::StreamStats stats;
  auto got = read_stream(*bytes, &stats);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(sa::batch_equals(got[0], batch, true));
  EXPECT_EQ(got[0].metadata(), batch.metadata());
  EXPECT_EQ(stats.buffers_copied, 0u);  // everything aliased the input
  EXPECT_GT(stats.buffers_aliased, 20u);
  EXPECT_EQ(stats.dictionary_batches, 2u);
  // Ends with the end-of-stream marker.
  const std::uint32_t eos[2] = {0xFFFFFFFFu, 0};
  ASSERT_GE(bytes->size(), 8u);
  EXPECT_EQ(std::memcmp(bytes->data() + bytes->size() - 8, eos, 8), 0);
}

TEST(ArrowIpc, SlicedBatchesAreWrittenFromZero) {
  const auto batch = sample(64);
  for (auto [off, len] : std::vector<std::pair<std::int64_t, std::int64_t>>{
           {3, 40}, {8, 17}, {13, 0}, {0, 64}, {61, 3}}) {
    const auto sliced = batch.slice(off, len);
    auto bytes = ipc::write_stream(batch.schema(), {sliced});
    ASSERT_TRUE(bytes) << bytes.error().what();
    auto got = read_stream(*bytes);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(sa::batch_equals(got[0], sample(len, off))) << off << "+" << len;
    for (const auto& c : got[0].columns()) EXPECT_EQ(c->offset(), 0);
  }
}

TEST(ArrowIpc, BodyAlignment) {
  const auto batch = sample(11);
  for (std::size_t align : {8u, 64u, 4096u}) {
    ipc::WriteOptions o;
    o.alignment = align;
    auto enc = ipc::encode_record_batch(batch, ipc::assign_dictionary_ids(*batch.schema()), o);
    ASSERT_TRUE(enc);
    EXPECT_EQ(enc->metadata_length() % align, 0u);
    EXPECT_EQ(enc->body_length() % align, 0u);
    auto bytes = ipc::write_stream(batch.schema(), {batch}, o);
    ASSERT_TRUE(bytes);
    auto got = read_stream(*bytes);
    EXPECT_TRUE(sa::batch_equals(got.at(0), batch));
  }
  ipc::WriteOptions bad;
  bad.alignment = 12;
  EXPECT_FALSE(ipc::write_stream(batch.schema(), {batch}, bad));
}

TEST(ArrowIpc, Compression) {
  const auto batch = sample(500);
  for (auto codec : {ipc::Compression::lz4_frame, ipc::Compression::zstd}) {
    ipc::WriteOptions o;
    o.compression = codec;
    auto bytes = ipc::write_stream(batch.schema(), {batch}, o);
    ASSERT_TRUE(bytes) << bytes.error().what();
    auto plain = ipc::write_stream(batch.schema(), {batch});
    EXPECT_LT(bytes->size(), plain->size());
    ipc::StreamStats stats;
    auto got = read_stream(*bytes, &stats);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(sa::batch_equals(got[0], batch));
    EXPECT_GT(stats.buffers_copied, 0u);
  }
}

TEST(ArrowIpc, DecompressionLimit) {
  std::vector<std::optional<std::int64_t>> zeros(1 << 16, 0);
  auto col = sa::make_array<std::int64_t>(sa::int64(), zeros);
  auto batch =
      sa::RecordBatch::make(sa::schema({sa::field("z", sa::int64())}), col->length(), {col})
          .value();
  ipc::WriteOptions o;
  o.compression = ipc::Compression::zstd;
  auto bytes = ipc::write_stream(batch.schema(), {batch}, o).value();
  ipc::ReadOptions ro;
  ro.max_decompressed_size = 1000;
  auto r = ipc::StreamReader::open(to_buffer(bytes), ro).value();
  auto b = r.next();
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), Errc::parse_error);
  EXPECT_NE(b.error().what().find("limit"), std::string::npos) << b.error().what();
}

TEST(ArrowIpc, ZeroCopyAliasesInputAndKeepsItAlive) {
  const auto batch = sample(100);
  auto bytes = ipc::write_stream(batch.schema(), {batch}).value();
  auto owner = std::make_shared<std::vector<std::byte>>(bytes);
  std::weak_ptr<std::vector<std::byte>> weak = owner;
  sa::Buffer input = sa::Buffer::wrap(owner->data(), owner->size(), owner);
  const std::byte* lo = owner->data();
  const std::size_t n = owner->size();
  owner.reset();
  std::optional<sa::RecordBatch> got;
  {
    auto r = ipc::StreamReader::open(std::move(input)).value();
    got = r.next().value();
  }
  ASSERT_TRUE(got);
  EXPECT_FALSE(weak.expired());  // the batch holds the input alive
  for (const auto& c : got->columns()) {
    if (c->type_id() == sa::TypeId::dictionary)
      continue;  // dictionaries come from earlier messages, also inside
    EXPECT_TRUE(all_inside(*c, lo, n)) << c->type()->to_string();
  }
  EXPECT_TRUE(sa::batch_equals(*got, batch));
  got.reset();
  EXPECT_TRUE(weak.expired());
}

TEST(ArrowIpc, ZeroCopyOffCopiesEverything) {
  const auto batch = sample(10);
  auto bytes = ipc::write_stream(batch.schema(), {batch}).value();
  ipc::ReadOptions ro;
  ro.zero_copy = false;
  auto buf = to_buffer(bytes);
  auto r = ipc::StreamReader::open(buf, ro).value();
  auto got = r.next().value();
  EXPECT_EQ(r.stats().buffers_aliased, 0u);
  EXPECT_GT(r.stats().buffers_copied, 20u);
  for (const auto& c : got->columns())
    for (const auto& b : c->buffers())
      EXPECT_FALSE(!b.empty() && inside(b, buf.data(), buf.size()));
  EXPECT_TRUE(sa::batch_equals(*got, batch));
}

TEST(ArrowIpc, MisalignedInputIsCopiedNotMisread) {
  const auto batch = sample(20);
  auto bytes = ipc::write_stream(batch.schema(), {batch}).value();
  // Place the stream 4 bytes into an allocation: int64 buffers are misaligned.
  auto holder = sa::Buffer::allocate(bytes.size() + 4).value();
  std::memcpy(holder.mutable_data() + 4, bytes.data(), bytes.size());
  auto r = ipc::StreamReader::open(holder.slice(4)).value();
  auto got = r.next().value();
  ASSERT_TRUE(got);
  EXPECT_TRUE(sa::batch_equals(*got, batch));
  EXPECT_GT(r.stats().buffers_copied, 0u);
}

TEST(ArrowIpc, SizeFirstThenPlace) {
  const auto batch = sample(50);
  auto enc = ipc::EncodedStream::encode(batch);
  ASSERT_TRUE(enc);
  EXPECT_EQ(ipc::serialized_size(batch).value(), enc->size());
  // Place at a 64-byte aligned spot inside a larger region, like a loaned chunk.
  auto region = sa::Buffer::allocate(enc->size() + 128).value();
  std::memset(region.mutable_data(), 0xAB, region.size());
  std::span<std::byte> dst{region.mutable_data() + 64, enc->size()};
  auto n = enc->write_to(dst);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, enc->size());
  EXPECT_EQ(region.data()[64 + enc->size()], std::byte{0xAB});  // nothing written past the end
  // The same bytes as the stream writer produces.
  auto streamed = ipc::write_stream(batch.schema(), {batch}).value();
  ASSERT_EQ(streamed.size(), enc->size());
  EXPECT_EQ(std::memcmp(streamed.data(), dst.data(), dst.size()), 0);
  auto r = ipc::StreamReader::open(region.slice(64, enc->size())).value();
  auto got = r.next().value();
  EXPECT_TRUE(sa::batch_equals(*got, batch, true));
  EXPECT_EQ(r.stats().buffers_copied, 0u);
  // Too small a destination fails cleanly.
  std::vector<std::byte> small(enc->size() - 1);
  auto too_small = enc->write_to(small);
  ASSERT_FALSE(too_small);
  EXPECT_EQ(too_small.error().code(), Errc::out_of_range);
}

TEST(ArrowIpc, MessagesOnlyWithKnownSchema) {
  const auto batch = sample(9);
  auto enc = ipc::EncodedStream::encode(batch, {}, true).value();
  auto full = ipc::EncodedStream::encode(batch).value();
  const std::size_t schema_len = full.messages().front().size();
  EXPECT_EQ(enc.size(), full.size() - schema_len - ipc::kEosSize);
  std::vector<std::byte> out(enc.size());
  ASSERT_TRUE(enc.write_to(out));
  auto r = ipc::StreamReader::open_with_schema(to_buffer(out), batch.schema()).value();
  auto got = r.next().value();
  ASSERT_TRUE(got);
  EXPECT_TRUE(sa::batch_equals(*got, batch));
  EXPECT_FALSE(r.next().value());  // end of input without an end-of-stream marker
}

TEST(ArrowIpc, FileRoundTripRandomAccess) {
  std::vector<sa::RecordBatch> batches{sample(10, 0), sample(0, 10), sample(25, 10),
                                       sample(7, 35).slice(2, 3)};
  auto bytes = ipc::write_file(batches[0].schema(), batches);
  ASSERT_TRUE(bytes) << bytes.error().what();
  EXPECT_TRUE(ipc::is_file_format(*bytes));
  auto f = ipc::FileReader::open(to_buffer(*bytes));
  ASSERT_TRUE(f) << f.error().what();
  ASSERT_EQ(f->num_record_batches(), 4);
  EXPECT_TRUE(f->schema()->equals(*batches[0].schema(), true));
  for (int i = 3; i >= 0; --i) {
    auto b = f->read(i);
    ASSERT_TRUE(b) << b.error().what();
    EXPECT_TRUE(sa::batch_equals(*b, batches[static_cast<std::size_t>(i)], true)) << i;
  }
  EXPECT_FALSE(f->read(4));
  sa::SchemaPtr s;
  auto all = ipc::read_all(to_buffer(*bytes), &s);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 4u);
  // The file also reads as a stream after its 8-byte magic.
  auto as_stream = ipc::StreamReader::open(to_buffer(*bytes).slice(8)).value().read_all();
  ASSERT_TRUE(as_stream);
  EXPECT_EQ(as_stream->size(), 4u);
}

sa::RecordBatch dict_batch(const std::vector<std::optional<std::string>>& dict_values,
                           const std::vector<std::optional<std::int32_t>>& idx,
                           const sa::SchemaPtr& s) {
  auto dict = sa::make_binary_array(sa::utf8(), dict_values);
  auto col = sa::make_dictionary_array(s->field(0)->type(),
                                       sa::make_array<std::int32_t>(sa::int32(), idx), dict);
  return sa::RecordBatch::make(s, col->length(), {col}).value();
}

TEST(ArrowIpc, DictionaryDeltasAndReplacement) {
  auto s = sa::schema({sa::field("d", sa::dictionary(sa::int32(), sa::utf8()))});
  auto b1 = dict_batch({"a", "b"}, {0, 1, std::nullopt}, s);
  auto b2 = dict_batch({"a", "b", "c"}, {2, 0}, s);  // grows: delta
  auto b3 = dict_batch({"a", "b", "c"}, {1}, s);     // same values: nothing sent
  auto b4 = dict_batch({"x", "y"}, {1, 0}, s);       // replacement
  auto bytes = ipc::write_stream(s, {b1, b2, b3, b4}).value();
  ipc::StreamStats stats;
  auto got = read_stream(bytes, &stats);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(stats.dictionary_batches, 3u);
  EXPECT_EQ(stats.dictionary_deltas, 1u);
  EXPECT_TRUE(sa::batch_equals(got[0], b1));
  EXPECT_TRUE(sa::batch_equals(got[1], b2));
  EXPECT_TRUE(sa::batch_equals(got[2], b3));
  EXPECT_TRUE(sa::batch_equals(got[3], b4));
  EXPECT_EQ(got[1].column(0)->dictionary()->length(), 3);
  EXPECT_EQ(got[0].column(0)->dictionary()->length(), 2);  // earlier batches keep their dictionary

  // Without deltas the grown dictionary is re-sent whole.
  ipc::WriteOptions nodelta;
  nodelta.emit_dictionary_deltas = false;
  ipc::StreamStats s2;
  auto got2 = read_stream(ipc::write_stream(s, {b1, b2}, nodelta).value(), &s2);
  EXPECT_EQ(s2.dictionary_deltas, 0u);
  EXPECT_TRUE(sa::batch_equals(got2[1], b2));

  // The file format takes deltas but refuses replacement.
  auto file = ipc::write_file(s, {b1, b2});
  ASSERT_TRUE(file) << file.error().what();
  auto fr = ipc::FileReader::open(to_buffer(*file)).value();
  EXPECT_TRUE(sa::batch_equals(fr.read(1).value(), b2));
  auto bad = ipc::write_file(s, {b1, b4});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::not_supported);
}

TEST(ArrowIpc, NestedDictionaries) {
  auto dt = sa::dictionary(sa::int16(), sa::utf8());
  auto s =
      sa::schema({sa::field("l", sa::list(sa::field("item", dt))),
                  sa::field("s", sa::struct_({sa::field("x", dt), sa::field("y", sa::int8())})),
                  sa::field("top", sa::dictionary(sa::uint8(), sa::float64(), true))});
  auto ids = ipc::assign_dictionary_ids(*s);
  EXPECT_EQ(ids.size(), 3u);
  auto dict = sa::make_binary_array(sa::utf8(), {"p", "q", "r"});
  auto inner = sa::make_dictionary_array(
      dt, sa::make_array<std::int16_t>(sa::int16(), {0, 2, 1, std::nullopt}), dict);
  auto l = sa::make_list_array(sa::list(sa::field("item", dt)), {3, 1}, inner);
  auto sx = sa::make_dictionary_array(dt, sa::make_array<std::int16_t>(sa::int16(), {2, 2}),
                                      sa::make_binary_array(sa::utf8(), {"m", "n", "o"}));
  auto st = sa::make_struct_array(s->field(1)->type(), 2,
                                  {sx, sa::make_array<std::int8_t>(sa::int8(), {1, 2})});
  auto top = sa::make_dictionary_array(s->field(2)->type(),
                                       sa::make_array<std::uint8_t>(sa::uint8(), {1, 0}),
                                       sa::make_array<double>(sa::float64(), {0.5, 1.5}));
  auto batch = sa::RecordBatch::make(s, 2, {l, st, top}).value();
  auto got = read_stream(ipc::write_stream(s, {batch}).value());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(sa::batch_equals(got[0], batch));
  EXPECT_TRUE(got[0].schema()->field(2)->type()->ordered());
  EXPECT_EQ(sa::format_value(*got[0].column(0), 0), "[\"p\", \"r\", \"q\"]");
}

TEST(ArrowIpc, MetadataEverywhere) {
  auto f = sa::field("x", sa::int32(), false, {{"unit", "m"}, {"empty", ""}});
  auto s = sa::schema({f}, {{"a", "1"}, {"b", "\xff\x00z"}});
  auto col = sa::make_array<std::int32_t>(sa::int32(), {5});
  auto batch = sa::RecordBatch::make(s, 1, {col}, {{"vgi_rpc.method", "add"}}).value();
  auto got = read_stream(ipc::write_stream(s, {batch}).value());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].schema()->equals(*s, true));
  EXPECT_EQ(got[0].schema()->field(0)->metadata(), f->metadata());
  EXPECT_FALSE(got[0].schema()->field(0)->nullable());
  EXPECT_EQ(*got[0].metadata().get("vgi_rpc.method"), "add");
}

TEST(ArrowIpc, EmptyBatchesAndSchemas) {
  auto empty_schema = sa::schema({});
  auto b = sa::RecordBatch::make(empty_schema, 0, {}, {{"k", "v"}}).value();
  auto got = read_stream(ipc::write_stream(empty_schema, {b, b}).value());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].num_columns(), 0u);
  EXPECT_EQ(*got[1].metadata().get("k"), "v");
  auto zero = sa::RecordBatch::empty(sample(1).schema()).value();
  auto got0 = read_stream(ipc::write_stream(zero.schema(), {zero}).value());
  ASSERT_EQ(got0.size(), 1u);
  EXPECT_TRUE(sa::batch_equals(got0[0], zero));
  // A stream with only a schema.
  auto only = read_stream(ipc::write_stream(zero.schema(), {}).value());
  EXPECT_TRUE(only.empty());
}

TEST(ArrowIpc, SchemaMismatchIsRejected) {
  auto s1 = sa::schema({sa::field("a", sa::int32())});
  auto s2 = sa::schema({sa::field("a", sa::int64())});
  std::vector<std::byte> out;
  auto w = ipc::StreamWriter::open(ipc::vector_sink(&out), s1).value();
  auto b = sa::RecordBatch::make(s2, 1, {sa::make_array<std::int64_t>(sa::int64(), {1})}).value();
  auto r = w.write(b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::type_error);
  ASSERT_TRUE(w.close());
  EXPECT_FALSE(w.write(b));
}

TEST(ArrowIpc, FdSinkAndSourceBackToBackStreams) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const auto b1 = sample(300);
  const auto b2 = sample(5, 300);
  std::thread writer([&] {
    for (int s = 0; s < 2; ++s) {
      auto w = ipc::StreamWriter::open(ipc::fd_sink(fds[1]), b1.schema()).value();
      ASSERT_TRUE(w.write(s == 0 ? b1 : b2));
      ASSERT_TRUE(w.close());
    }
    ::close(fds[1]);
  });
  for (int s = 0; s < 2; ++s) {
    auto r = ipc::StreamReader::open(ipc::fd_source(fds[0]));
    ASSERT_TRUE(r) << r.error().what();
    auto all = r->read_all();
    ASSERT_TRUE(all) << all.error().what();
    ASSERT_EQ(all->size(), 1u);
    EXPECT_TRUE(sa::batch_equals(all->front(), s == 0 ? b1 : b2, true));
  }
  // Nothing left: the reader never read ahead into the second stream.
  std::byte c;
  EXPECT_EQ(::read(fds[0], &c, 1), 0);
  writer.join();
  ::close(fds[0]);
}

TEST(ArrowIpc, MessageSizeAndLegacyFraming) {
  const auto batch = sample(4);
  auto bytes = ipc::write_stream(batch.schema(), {batch}).value();
  std::size_t pos = 0;
  std::vector<std::size_t> sizes;
  while (true) {
    auto n = ipc::message_size(std::span<const std::byte>(bytes).subspan(pos));
    ASSERT_TRUE(n) << n.error().what();
    sizes.push_back(*n);
    pos += *n;
    if (*n == 8) break;  // end-of-stream
  }
  EXPECT_EQ(pos, bytes.size());
  // Rewrite to the pre-1.0 framing (no continuation marker).
  std::vector<std::byte> legacy;
  pos = 0;
  for (std::size_t n : sizes) {
    if (n == 8) {
      legacy.insert(legacy.end(), 4, std::byte{0});
    } else {
      legacy.insert(legacy.end(), bytes.begin() + static_cast<std::ptrdiff_t>(pos) + 4,
                    bytes.begin() + static_cast<std::ptrdiff_t>(pos + n));
    }
    pos += n;
  }
  auto got = read_stream(legacy);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(sa::batch_equals(got[0], batch));
}

TEST(ArrowIpc, UnknownNullCountIsComputed) {
  // apache-arrow writes null count -1 for sliced arrays; it is counted from
  // the bitmap.
  auto col = sa::make_array<std::int32_t>(sa::int32(), {1, std::nullopt, 3, std::nullopt, 5, 6, 7});
  auto s = sa::schema({sa::field("x", sa::int32())});
  auto batch = sa::RecordBatch::make(s, 7, {col}).value();
  auto bytes = ipc::write_stream(s, {batch}).value();
  const std::int64_t node[2] = {7, 2};
  auto it = std::search(bytes.begin(), bytes.end(), reinterpret_cast<const std::byte*>(node),
                        reinterpret_cast<const std::byte*>(node) + 16);
  ASSERT_NE(it, bytes.end());
  const std::int64_t unknown = -1;
  std::memcpy(&*(it + 8), &unknown, 8);
  auto got = read_stream(bytes);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].column(0)->null_count(), 2);
  EXPECT_TRUE(sa::batch_equals(got[0], batch));
  const std::int64_t minus_two = -2;
  std::memcpy(&*(it + 8), &minus_two, 8);
  auto bad = ipc::StreamReader::open(to_buffer(bytes)).value().next();
  EXPECT_FALSE(bad);
}

// --- hostile input ---------------------------------------------------------------------

// Decodes everything, touching every value; never crashes.
sluice::Result<void> consume(const sa::Buffer& bytes) {
  SLUICE_TRY_ASSIGN(auto batches, ipc::read_all(bytes));
  for (const auto& b : batches) {
    for (const auto& c : b.columns())
      for (std::int64_t i = 0; i < c->length(); ++i) (void)sa::format_value(*c, i);
  }
  return sluice::ok();
}

TEST(ArrowIpcHostile, EveryTruncationFailsCleanly) {
  const auto batch = sample(6);
  auto bytes = ipc::write_stream(batch.schema(), {batch}).value();
  auto schema_len = ipc::message_size(bytes).value();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = consume(sa::Buffer::copy_of(bytes.data(), n));
    // Cuts exactly at a message boundary are a valid (shorter) stream.
    if (!r) {
      EXPECT_EQ(r.error().code(), Errc::parse_error) << n << ": " << r.error().what();
    } else {
      EXPECT_GE(n, schema_len);
    }
  }
  auto file = ipc::write_file(batch.schema(), {batch}).value();
  for (std::size_t n = 0; n < file.size(); n += 3) {
    (void)consume(sa::Buffer::copy_of(file.data(), n));
  }
}

TEST(ArrowIpcHostile, RandomCorruptionNeverCrashes) {
  const auto batch = sample(12);
  auto bytes = ipc::write_stream(batch.schema(), {batch}).value();
  auto file = ipc::write_file(batch.schema(), {batch}).value();
  std::mt19937_64 rng(12345);
  int failures = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    auto copy = (iter % 2) ? bytes : file;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      const std::size_t at = rng() % copy.size();
      copy[at] = static_cast<std::byte>(rng());
    }
    if (!consume(sa::Buffer::copy_of(copy.data(), copy.size()))) ++failures;
  }
  EXPECT_GT(failures, 0);
}

TEST(ArrowIpcHostile, CraftedBadOffsets) {
  // A utf8 column whose offsets point past its data must be refused, with
  // the column named in the message.
  auto col = sa::make_binary_array(sa::utf8(), {"abc", "de"});
  auto s = sa::schema({sa::field("s", sa::utf8())});
  auto batch = sa::RecordBatch::make(s, 2, {col}).value();
  auto bytes = ipc::write_stream(s, {batch}).value();
  // Find the offsets buffer [0, 3, 5] in the body and corrupt the last entry.
  const std::int32_t pattern[3] = {0, 3, 5};
  auto it = std::search(bytes.begin(), bytes.end(), reinterpret_cast<const std::byte*>(pattern),
                        reinterpret_cast<const std::byte*>(pattern) + 12);
  ASSERT_NE(it, bytes.end());
  const std::int32_t big = 1000;
  std::memcpy(&*(it + 8), &big, 4);
  auto r = ipc::StreamReader::open(to_buffer(bytes)).value().next();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::parse_error);
  EXPECT_NE(r.error().what().find("column 's'"), std::string::npos) << r.error().what();
}

}  // namespace
