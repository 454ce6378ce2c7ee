// The in-memory model: types, builders, access, slices, equality, printing,
// concatenation and validation.

#include <sluice/arrow/builder.hpp>
#include <sluice/arrow/compare.hpp>
#include <sluice/arrow/print.hpp>
#include <sluice/arrow/sample.hpp>
#include <sluice/arrow/validate.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

namespace sa = sluice::arrow;
using sluice::Errc;

namespace {

TEST(ArrowType, LayoutsAndWidths) {
  EXPECT_EQ(sa::null()->num_buffers(), 0);
  EXPECT_EQ(sa::boolean()->num_buffers(), 2);
  EXPECT_EQ(sa::utf8()->num_buffers(), 3);
  EXPECT_EQ(sa::list(sa::int32())->num_buffers(), 2);
  EXPECT_EQ(sa::struct_({})->num_buffers(), 1);
  EXPECT_EQ(sa::fixed_size_list(sa::int8(), 2)->num_buffers(), 1);
  EXPECT_EQ(sa::dictionary(sa::int16(), sa::utf8())->num_buffers(), 2);
  EXPECT_EQ(sa::dictionary(sa::int16(), sa::utf8())->byte_width(), 2);
  EXPECT_EQ(sa::decimal128(10, 2)->byte_width(), 16);
  EXPECT_EQ(sa::interval_month_day_nano()->byte_width(), 16);
  EXPECT_EQ(sa::interval_day_time()->byte_width(), 8);
  EXPECT_EQ(sa::fixed_size_binary(7)->byte_width(), 7);
  EXPECT_EQ(sa::time32(sa::TimeUnit::milli)->byte_width(), 4);
  EXPECT_EQ(sa::time64(sa::TimeUnit::nano)->byte_width(), 8);
  EXPECT_EQ(sa::map(sa::utf8(), sa::int32())->layout(), sa::Layout::list32);
}

TEST(ArrowType, EqualityAndText) {
  EXPECT_TRUE(sa::timestamp(sa::TimeUnit::micro, "UTC")
                  ->equals(*sa::timestamp(sa::TimeUnit::micro, "UTC")));
  EXPECT_FALSE(
      sa::timestamp(sa::TimeUnit::micro, "UTC")->equals(*sa::timestamp(sa::TimeUnit::micro)));
  EXPECT_FALSE(sa::timestamp(sa::TimeUnit::micro)->equals(*sa::timestamp(sa::TimeUnit::nano)));
  EXPECT_FALSE(sa::decimal128(10, 2)->equals(*sa::decimal128(10, 3)));
  EXPECT_FALSE(sa::list(sa::int32())->equals(*sa::list(sa::int64())));
  EXPECT_FALSE(
      sa::list(sa::field("a", sa::int32()))->equals(*sa::list(sa::field("b", sa::int32()))));
  EXPECT_TRUE(sa::map(sa::utf8(), sa::int32())->equals(*sa::map(sa::utf8(), sa::int32())));
  EXPECT_FALSE(sa::map(sa::utf8(), sa::int32(), true)->equals(*sa::map(sa::utf8(), sa::int32())));
  EXPECT_FALSE(
      sa::dictionary(sa::int8(), sa::utf8())->equals(*sa::dictionary(sa::int16(), sa::utf8())));
  EXPECT_EQ(sa::timestamp(sa::TimeUnit::micro, "UTC")->to_string(), "timestamp[us, tz=UTC]");
  EXPECT_EQ(sa::list(sa::int32())->to_string(), "list<item: int32>");
  EXPECT_EQ(sa::map(sa::utf8(), sa::int64())->to_string(), "map<utf8, int64>");
  EXPECT_EQ(sa::fixed_size_list(sa::float32(), 4)->to_string(),
            "fixed_size_list<item: float32>[4]");
}

TEST(ArrowType, FieldAndSchemaMetadata) {
  auto f1 = sa::field("x", sa::int32(), true, {{"k", "v"}});
  auto f2 = sa::field("x", sa::int32(), true, {{"k", "w"}});
  EXPECT_TRUE(f1->equals(*f2));
  EXPECT_FALSE(f1->equals(*f2, true));
  sa::KeyValueMetadata md{{"a", "1"}, {"b", "2"}};
  md.set("a", "3");
  EXPECT_EQ(md.size(), 2u);
  EXPECT_EQ(*md.get("a"), "3");
  EXPECT_TRUE(md.erase("b"));
  EXPECT_FALSE(md.contains("b"));
  auto s = sa::schema({f1, sa::field("d", sa::dictionary(sa::int32(), sa::utf8()))});
  EXPECT_TRUE(s->has_dictionaries());
  EXPECT_TRUE(s->has_top_level_dictionaries());
  EXPECT_EQ(s->field_index("d"), 1);
  EXPECT_EQ(s->field_index("nope"), -1);
  auto nested = sa::schema({sa::field("l", sa::list(sa::dictionary(sa::int32(), sa::utf8())))});
  EXPECT_TRUE(nested->has_dictionaries());
  EXPECT_FALSE(nested->has_top_level_dictionaries());
}

TEST(ArrowBuffer, OwnedAlignedAndSlices) {
  auto b = sa::Buffer::allocate(100);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->is_aligned(64));
  EXPECT_EQ(b->size(), 100u);
  for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(b->data()[i], std::byte{0});
  sa::Buffer s = b->slice(10, 20);
  EXPECT_EQ(s.data(), b->data() + 10);
  EXPECT_EQ(s.lifetime(), b->lifetime());
  EXPECT_FALSE(sa::Buffer::allocate(std::size_t{1} << 60));
}

TEST(ArrowBuffer, ForeignMemoryLivesWhileReferenced) {
  auto counter = std::make_shared<int>(0);
  std::weak_ptr<int> weak = counter;
  static const char text[] = "hello";
  sa::Buffer view = sa::Buffer::wrap(text, 5, counter);
  counter.reset();
  EXPECT_FALSE(weak.expired());  // the view holds the lifetime handle
  sa::Buffer s = view.slice(1, 3);
  view = sa::Buffer{};
  EXPECT_FALSE(weak.expired());  // the slice does too
  s = sa::Buffer{};
  EXPECT_TRUE(weak.expired());
}

TEST(ArrowBits, CountAndCopy) {
  std::byte bits[16] = {};
  for (int i = 0; i < 128; i += 3) sa::set_bit(bits, i, true);
  std::int64_t expect = 0;
  for (int i = 5; i < 5 + 100; ++i) expect += (i % 3 == 0);
  EXPECT_EQ(sa::count_set_bits(bits, 5, 100), expect);
  std::byte out[16];
  std::memset(out, 0xff, sizeof out);
  sa::copy_bits(bits, 5, 100, out);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sa::get_bit(out, i), (i + 5) % 3 == 0) << i;
  for (int i = 100; i < 104; ++i) EXPECT_FALSE(sa::get_bit(out, i));  // canonical tail
}

TEST(ArrowBuilder, PrimitiveAndNulls) {
  auto a = sa::make_array<std::int32_t>(sa::int32(), {1, std::nullopt, 3});
  EXPECT_EQ(a->length(), 3);
  EXPECT_EQ(a->null_count(), 1);
  EXPECT_TRUE(a->is_valid(0));
  EXPECT_FALSE(a->is_valid(1));
  EXPECT_EQ(a->value<std::int32_t>(2), 3);
  EXPECT_EQ(a->int_value(0), 1);
  EXPECT_TRUE(sa::validate(*a));
  auto all_valid = sa::make_array<std::int32_t>(sa::int32(), {1, 2});
  EXPECT_TRUE(all_valid->buffer(0).empty());  // no bitmap when nothing is null
}

TEST(ArrowBuilder, StringsListsStructsMapsDictionaries) {
  auto s = sa::make_binary_array(sa::utf8(), {"ab", std::nullopt, "", "xyz"});
  EXPECT_EQ(s->bytes_value(0), "ab");
  EXPECT_EQ(s->bytes_value(2), "");
  EXPECT_EQ(s->bytes_value(3), "xyz");
  EXPECT_TRUE(s->is_null(1));

  auto values = sa::make_array<std::int64_t>(sa::int64(), {1, 2, 3, 4, 5});
  auto l = sa::make_list_array(sa::list(sa::int64()), {2, std::nullopt, 0, 3}, values);
  EXPECT_EQ(l->list_range(0), std::make_pair(std::int64_t{0}, std::int64_t{2}));
  EXPECT_EQ(l->list_range(3), std::make_pair(std::int64_t{2}, std::int64_t{5}));
  EXPECT_EQ(sa::format_value(*l, 3), "[3, 4, 5]");
  EXPECT_EQ(sa::format_value(*l, 1), "null");

  auto st_type = sa::struct_({sa::field("a", sa::int32()), sa::field("b", sa::utf8())});
  auto st = sa::make_struct_array(st_type, 2,
                                  {sa::make_array<std::int32_t>(sa::int32(), {7, 8}),
                                   sa::make_binary_array(sa::utf8(), {"p", "q"})},
                                  {true, false});
  EXPECT_EQ(sa::format_value(*st, 0), "{a: 7, b: \"p\"}");
  EXPECT_EQ(sa::format_value(*st, 1), "null");

  auto m = sa::make_map_array(sa::map(sa::utf8(), sa::int32()), {1, 1},
                              sa::make_binary_array(sa::utf8(), {"k1", "k2"}),
                              sa::make_array<std::int32_t>(sa::int32(), {10, std::nullopt}));
  EXPECT_EQ(sa::format_value(*m, 1), "{\"k2\": null}");
  EXPECT_EQ(sa::value_to_json(*m, 0), "[[\"k1\", 10]]");

  auto dict = sa::make_binary_array(sa::utf8(), {"x", "y"});
  auto d = sa::make_dictionary_array(sa::dictionary(sa::int8(), sa::utf8()),
                                     sa::make_array<std::int8_t>(sa::int8(), {1, std::nullopt, 0}),
                                     dict);
  EXPECT_EQ(d->dictionary_index(0), 1);
  EXPECT_EQ(sa::format_value(*d, 0), "\"y\"");
  EXPECT_EQ(sa::format_value(*d, 1), "null");
  EXPECT_TRUE(sa::validate(*d));
}

TEST(ArrowPrint, TemporalDecimalInterval) {
  auto ts = sa::make_array<std::int64_t>(sa::timestamp(sa::TimeUnit::micro, "UTC"), {1000001});
  EXPECT_EQ(sa::format_value(*ts, 0), "1970-01-01T00:00:01.000001Z");
  auto neg = sa::make_array<std::int64_t>(sa::timestamp(sa::TimeUnit::milli), {-1});
  EXPECT_EQ(sa::format_value(*neg, 0), "1969-12-31T23:59:59.999");
  auto d = sa::make_array<std::int32_t>(sa::date32(), {19000});
  EXPECT_EQ(sa::format_value(*d, 0), "2022-01-08");
  auto t = sa::make_array<std::int32_t>(sa::time32(sa::TimeUnit::milli), {3723004});
  EXPECT_EQ(sa::format_value(*t, 0), "01:02:03.004");
  EXPECT_EQ(sa::decimal128_to_string({12345, 0}, 2), "123.45");
  EXPECT_EQ(sa::decimal128_to_string({static_cast<std::uint64_t>(-5), -1}, 3), "-0.005");
  EXPECT_EQ(sa::decimal128_to_string({5, 0}, 1000), "5e-1000");
  EXPECT_EQ(sa::decimal128_to_string({5, 0}, -2), "500");
  EXPECT_EQ(sa::decimal128_to_string({0, 1}, 0), "18446744073709551616");
  auto mdn = sa::make_array<sa::MonthDayNanoInterval>(sa::interval_month_day_nano(),
                                                      {sa::MonthDayNanoInterval{1, 2, 3}});
  EXPECT_EQ(sa::format_value(*mdn, 0), "1M2d3ns");
  auto big = sa::make_array<std::int64_t>(sa::int64(), {std::int64_t{1} << 60});
  EXPECT_EQ(sa::value_to_json(*big, 0), "\"1152921504606846976\"");
}

TEST(ArrowHalf, RoundTrip) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 0.000061035156f, std::ldexp(1.0f, -24),
                  std::ldexp(3.0f, -20)}) {
    EXPECT_FLOAT_EQ(sa::half_to_float(sa::float_to_half(f)), f) << f;
  }
  EXPECT_EQ(sa::float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(sa::float_to_half(-2.0f), 0xc000);
  EXPECT_TRUE(std::isinf(sa::half_to_float(sa::float_to_half(1e6f))));
}

TEST(ArrowSlice, SlicesShareBuffersAndCompareLogically) {
  auto batch = sa::make_sample_batch(40);
  ASSERT_TRUE(sa::validate(batch));
  auto sliced = batch.slice(7, 20);
  auto fresh = sa::make_sample_batch(20, {}, 7);
  ASSERT_TRUE(sa::validate(sliced));
  for (std::size_t c = 0; c < batch.num_columns(); ++c) {
    EXPECT_TRUE(sa::array_equals(*sliced.column(c), *fresh.column(c)))
        << batch.schema()->field(c)->name();
  }
  EXPECT_TRUE(sa::batch_equals(sliced, fresh));
  EXPECT_FALSE(sa::batch_equals(batch.slice(0, 20), fresh));
  // The slice aliases the original memory.
  EXPECT_EQ(sliced.column(3)->buffer(1).data(), batch.column(3)->buffer(1).data());
}

TEST(ArrowConcatenate, EveryType) {
  auto whole = sa::make_sample_batch(50);
  for (std::size_t c = 0; c < whole.num_columns(); ++c) {
    const auto& col = whole.column(c);
    auto joined = sa::concatenate({col->slice(0, 13), col->slice(13, 0), col->slice(13, 37)});
    ASSERT_TRUE(joined) << joined.error().what();
    EXPECT_TRUE(sa::validate(**joined)) << whole.schema()->field(c)->name();
    EXPECT_TRUE(sa::array_equals(**joined, *col)) << whole.schema()->field(c)->name();
  }
  auto mismatch = sa::concatenate({whole.column(2), whole.column(3)});
  EXPECT_FALSE(mismatch);
}

TEST(ArrowValidate, RejectsBrokenArrays) {
  // Offsets past the data.
  auto offsets = sa::Buffer::copy_of("\0\0\0\0\x05\0\0\0", 8);
  auto data = sa::Buffer::copy_of("abc", 3);
  sa::Array bad_str(sa::utf8(), 1, 0, 0, {sa::Buffer{}, offsets, data});
  auto r = sa::validate(bad_str);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::parse_error);
  // Values buffer too small.
  sa::Array short_values(sa::int64(), 4, 0, 0, {sa::Buffer{}, sa::Buffer::copy_of("12345678", 8)});
  EXPECT_FALSE(sa::validate(short_values));
  // Null count without a bitmap.
  sa::Array no_bitmap(sa::int8(), 1, 1, 0, {sa::Buffer{}, sa::Buffer::copy_of("1", 1)});
  EXPECT_FALSE(sa::validate(no_bitmap));
  // Non-monotonic offsets are caught by full validation only.
  std::int32_t offs[4] = {0, 3, 1, 3};
  sa::Array wiggly(sa::binary(), 3, 0, 0, {sa::Buffer{}, sa::Buffer::copy_of(offs, 16), data});
  EXPECT_TRUE(sa::validate(wiggly, sa::ValidationLevel::structure));
  EXPECT_FALSE(sa::validate(wiggly, sa::ValidationLevel::full));
  // ...but the accessors clamp even then.
  EXPECT_EQ(wiggly.bytes_value(1), "");
  // Dictionary index out of range.
  auto idx = sa::make_array<std::int8_t>(sa::int8(), {0, 5});
  sa::Array bad_dict(sa::dictionary(sa::int8(), sa::utf8()), 2, 0, 0, idx->buffers(), {},
                     sa::make_binary_array(sa::utf8(), {"a"}));
  EXPECT_FALSE(sa::validate(bad_dict));
  EXPECT_EQ(bad_dict.dictionary_index(1), -1);
  // Wrong child count / type.
  sa::Array bad_list(sa::list(sa::int32()), 0, 0, 0, {sa::Buffer{}, sa::Buffer{}});
  EXPECT_FALSE(sa::validate(bad_list));
}

TEST(ArrowRecordBatch, MakeChecksShape) {
  auto s = sa::schema({sa::field("a", sa::int32())});
  auto col = sa::make_array<std::int32_t>(sa::int32(), {1, 2});
  EXPECT_TRUE(sa::RecordBatch::make(s, 2, {col}));
  EXPECT_FALSE(sa::RecordBatch::make(s, 3, {col}));
  EXPECT_FALSE(sa::RecordBatch::make(s, 2, {}));
  EXPECT_FALSE(sa::RecordBatch::make(s, 2, {sa::make_array<std::int64_t>(sa::int64(), {1, 2})}));
  auto empty = sa::RecordBatch::empty(sa::make_sample_batch(1).schema());
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->num_rows(), 0);
  EXPECT_TRUE(sa::validate(*empty));
}

TEST(ArrowPrint, TableAndJsonRows) {
  auto b = sa::make_sample_batch(3, {.exclude = {}, .schema_metadata = {}, .batch_metadata = {}});
  const std::string table = sa::format_table(b);
  EXPECT_NE(table.find("int32: int32"), std::string::npos);
  EXPECT_NE(table.find("alpha"), std::string::npos);
  const std::string json = sa::batch_to_json_rows(b.slice(1, 1));
  EXPECT_NE(json.find("\"int8\": -63"), std::string::npos) << json;
  EXPECT_NE(json.find("\"utf8\": \"v1\xc3\xa9\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"dict_utf8\": \"beta\""), std::string::npos) << json;
}

}  // namespace
