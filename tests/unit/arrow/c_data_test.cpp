// Arrow C Data / C Stream Interface: layout, round trips of every type,
// ownership and lifetime, hand-made producer structs, error paths.

#include <sluice/arrow/builder.hpp>
#include <sluice/arrow/c_data.hpp>
#include <sluice/arrow/compare.hpp>
#include <sluice/arrow/ipc.hpp>
#include <sluice/arrow/sample.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>

namespace sa = sluice::arrow;
namespace cd = sluice::arrow::c_data;
using sluice::Errc;

namespace {

// The structs must match the specification's C header field for field.
static_assert(sizeof(ArrowSchema) == 72 && offsetof(ArrowSchema, format) == 0 &&
              offsetof(ArrowSchema, name) == 8 && offsetof(ArrowSchema, metadata) == 16 &&
              offsetof(ArrowSchema, flags) == 24 && offsetof(ArrowSchema, n_children) == 32 &&
              offsetof(ArrowSchema, children) == 40 && offsetof(ArrowSchema, dictionary) == 48 &&
              offsetof(ArrowSchema, release) == 56 && offsetof(ArrowSchema, private_data) == 64);
static_assert(sizeof(ArrowArray) == 80 && offsetof(ArrowArray, length) == 0 &&
              offsetof(ArrowArray, null_count) == 8 && offsetof(ArrowArray, offset) == 16 &&
              offsetof(ArrowArray, n_buffers) == 24 && offsetof(ArrowArray, n_children) == 32 &&
              offsetof(ArrowArray, buffers) == 40 && offsetof(ArrowArray, children) == 48 &&
              offsetof(ArrowArray, dictionary) == 56 && offsetof(ArrowArray, release) == 64 &&
              offsetof(ArrowArray, private_data) == 72);
static_assert(sizeof(ArrowArrayStream) == 40 && offsetof(ArrowArrayStream, get_schema) == 0 &&
              offsetof(ArrowArrayStream, get_next) == 8 &&
              offsetof(ArrowArrayStream, get_last_error) == 16 &&
              offsetof(ArrowArrayStream, release) == 24 &&
              offsetof(ArrowArrayStream, private_data) == 32);

TEST(ArrowCData, FormatStrings) {
  EXPECT_EQ(cd::format_string(*sa::int32()).value(), "i");
  EXPECT_EQ(cd::format_string(*sa::uint64()).value(), "L");
  EXPECT_EQ(cd::format_string(*sa::float16()).value(), "e");
  EXPECT_EQ(cd::format_string(*sa::large_utf8()).value(), "U");
  EXPECT_EQ(cd::format_string(*sa::fixed_size_binary(16)).value(), "w:16");
  EXPECT_EQ(cd::format_string(*sa::decimal128(20, 3)).value(), "d:20,3");
  EXPECT_EQ(cd::format_string(*sa::timestamp(sa::TimeUnit::micro, "UTC")).value(), "tsu:UTC");
  EXPECT_EQ(cd::format_string(*sa::timestamp(sa::TimeUnit::nano)).value(), "tsn:");
  EXPECT_EQ(cd::format_string(*sa::time32(sa::TimeUnit::milli)).value(), "ttm");
  EXPECT_EQ(cd::format_string(*sa::duration(sa::TimeUnit::second)).value(), "tDs");
  EXPECT_EQ(cd::format_string(*sa::interval_month_day_nano()).value(), "tin");
  EXPECT_EQ(cd::format_string(*sa::fixed_size_list(sa::int8(), 3)).value(), "+w:3");
  EXPECT_EQ(cd::format_string(*sa::map(sa::utf8(), sa::int8())).value(), "+m");
  EXPECT_EQ(cd::format_string(*sa::dictionary(sa::int16(), sa::utf8())).value(), "s");
}

TEST(ArrowCData, SchemaRoundTripWithMetadataAndFlags) {
  auto batch = sa::make_sample_batch(
      1, {.exclude = {}, .schema_metadata = {{"k", "v"}, {"x", ""}}, .batch_metadata = {}});
  auto s =
      sa::schema({sa::field("m", sa::map(sa::utf8(), sa::int32(), true), false, {{"unit", "cm"}}),
                  sa::field("d", sa::dictionary(sa::int8(), sa::utf8(), true))},
                 {{"a", "1"}});
  for (const auto& schema : {batch.schema(), s}) {
    ArrowSchema c{};
    ASSERT_TRUE(cd::export_schema(*schema, &c));
    EXPECT_STREQ(c.format, "+s");
    EXPECT_NE(c.release, nullptr);
    auto back = cd::import_schema(&c);
    ASSERT_TRUE(back) << back.error().what();
    EXPECT_EQ(c.release, nullptr);  // consumed
    EXPECT_TRUE((*back)->equals(*schema, true)) << (*back)->to_string() << "\nvs\n"
                                                << schema->to_string();
  }
}

TEST(ArrowCData, BatchRoundTripEveryTypeWithSlices) {
  const auto batch = sa::make_sample_batch(40);
  for (const auto& b : {batch, batch.slice(3, 30), batch.slice(39, 1), batch.slice(5, 0)}) {
    ArrowArray a{};
    ArrowSchema s{};
    ASSERT_TRUE(cd::export_batch(b, &a, &s));
    EXPECT_EQ(a.length, b.num_rows());
    EXPECT_EQ(a.n_children, static_cast<int64_t>(b.num_columns()));
    auto back = cd::import_batch(&a, &s);
    ASSERT_TRUE(back) << back.error().what();
    EXPECT_EQ(a.release, nullptr);
    EXPECT_EQ(s.release, nullptr);
    EXPECT_TRUE(sa::batch_equals(*back, b));
    // Zero-copy both ways: the imported column points at the original bytes.
    EXPECT_EQ(back->column(5)->buffer(1).data(), b.column(5)->buffer(1).data());
    // An imported batch can be sent on: IPC-encode it and read it back.
    auto bytes = sa::ipc::write_stream(back->schema(), {*back});
    ASSERT_TRUE(bytes);
    auto again = sa::ipc::read_all(sa::Buffer::copy_of(bytes->data(), bytes->size()));
    ASSERT_TRUE(again);
    EXPECT_TRUE(sa::batch_equals(again->at(0), b));
  }
}

TEST(ArrowCData, ExportKeepsMemoryAliveUntilRelease) {
  // A buffer whose lifetime handle we can observe, standing in for a sample.
  auto sample_alive = std::make_shared<int>(1);
  std::weak_ptr<int> weak = sample_alive;
  static const std::int64_t values[4] = {10, 20, 30, 40};
  auto col = std::make_shared<const sa::Array>(
      sa::int64(), 4, 0, 0,
      std::vector<sa::Buffer>{sa::Buffer{}, sa::Buffer::wrap(values, 32, sample_alive)});
  sample_alive.reset();
  ArrowArray exported{};
  {
    auto batch = sa::RecordBatch::make(sa::schema({sa::field("v", sa::int64())}), 4, {col}).value();
    col.reset();
    ASSERT_TRUE(cd::export_batch(batch, &exported));
  }
  EXPECT_FALSE(weak.expired());  // only the exported struct holds it now
  EXPECT_EQ(static_cast<const std::int64_t*>(exported.children[0]->buffers[1])[2], 30);
  exported.release(&exported);
  EXPECT_EQ(exported.release, nullptr);
  EXPECT_TRUE(weak.expired());
}

// A hand-written producer, as a C library would write it.
struct Producer {
  static int releases;
  std::int32_t values[5] = {1, 2, 3, 4, 5};
  std::uint8_t validity[1] = {0x1b};  // 11011: slot 2 null
  const void* buffers[2] = {validity, values};
  static void release(ArrowArray* a) {
    ++releases;
    delete static_cast<Producer*>(a->private_data);
    a->release = nullptr;
  }
};
int Producer::releases = 0;

TEST(ArrowCData, ImportForeignArrayTakesOwnership) {
  Producer::releases = 0;
  auto* p = new Producer;
  ArrowArray a{};
  a.length = 4;
  a.offset = 1;
  a.null_count = -1;  // unknown: computed from the bitmap
  a.n_buffers = 2;
  a.buffers = p->buffers;
  a.release = &Producer::release;
  a.private_data = p;
  auto arr = cd::import_array(&a, sa::int32());
  ASSERT_TRUE(arr) << arr.error().what();
  EXPECT_EQ(a.release, nullptr);       // moved
  EXPECT_EQ(Producer::releases, 0);    // but not released while in use
  EXPECT_EQ((*arr)->null_count(), 1);  // slot 2 of the original = index 1 here
  EXPECT_TRUE((*arr)->is_null(1));
  EXPECT_EQ((*arr)->value<std::int32_t>(3), 5);
  auto slice = (*arr)->slice(2, 2);
  arr = sluice::fail(Errc::internal);
  EXPECT_EQ(Producer::releases, 0);  // the slice still references it
  slice.reset();
  EXPECT_EQ(Producer::releases, 1);
}

TEST(ArrowCData, ImportRejectsMalformedAndStillReleases) {
  Producer::releases = 0;
  auto* p = new Producer;
  ArrowArray a{};
  a.length = 5;
  a.n_buffers = 3;  // wrong for int32
  a.buffers = p->buffers;
  a.release = &Producer::release;
  a.private_data = p;
  auto r = cd::import_array(&a, sa::int32());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::parse_error);
  EXPECT_EQ(Producer::releases, 1);

  ArrowSchema s{};
  ASSERT_TRUE(cd::export_field(*sa::field("x", sa::int32()), &s));
  // Corrupt the format the consumer sees (the private copy stays intact).
  const char* bad = "+vl";
  s.format = bad;
  auto f = cd::import_field(&s);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), Errc::not_supported);
  EXPECT_EQ(s.release, nullptr);
}

TEST(ArrowCData, StreamRoundTrip) {
  std::vector<sa::RecordBatch> batches{sa::make_sample_batch(10), sa::make_sample_batch(5, {}, 10),
                                       sa::make_sample_batch(0)};
  ArrowArrayStream stream{};
  ASSERT_TRUE(cd::export_stream(batches[0].schema(), batches, &stream));
  auto imp = cd::StreamImporter::open(&stream);
  ASSERT_TRUE(imp) << imp.error().what();
  EXPECT_EQ(stream.release, nullptr);
  EXPECT_TRUE(imp->schema()->equals(*batches[0].schema()));
  for (const auto& expect : batches) {
    auto b = imp->next();
    ASSERT_TRUE(b) << b.error().what();
    ASSERT_TRUE(b->has_value());
    EXPECT_TRUE(sa::batch_equals(**b, expect));
  }
  auto end = imp->next();
  ASSERT_TRUE(end);
  EXPECT_FALSE(end->has_value());
}

TEST(ArrowCData, StreamErrorsReachTheConsumer) {
  int calls = 0;
  ArrowArrayStream stream{};
  ASSERT_TRUE(cd::export_stream(
      sa::schema({sa::field("a", sa::int8())}),
      [&]() -> sluice::Result<std::optional<sa::RecordBatch>> {
        ++calls;
        return sluice::fail(Errc::io_error, "upstream pipe closed");
      },
      &stream));
  ArrowArray out{};
  EXPECT_EQ(stream.get_next(&stream, &out), EIO);
  EXPECT_STREQ(stream.get_last_error(&stream), "upstream pipe closed");
  auto imp = cd::StreamImporter::open(&stream).value();
  auto r = imp.next();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().what().find("upstream pipe closed"), std::string::npos);
  EXPECT_EQ(calls, 2);
}

}  // namespace
