#include <sluice/base/result.hpp>
#include <sluice/base/units.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace sluice {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return fail(Errc::invalid_argument, "value {} is not positive", v);
  return v;
}

Result<int> doubled(int v) {
  SLUICE_TRY_ASSIGN(int x, parse_positive(v));
  return x * 2;
}

Result<void> check(int v) {
  SLUICE_TRY(parse_positive(v));
  return ok();
}

TEST(Result, CarriesValueOrError) {
  auto good = doubled(21);
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 42);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::invalid_argument);
  EXPECT_EQ(bad.error().what(), "value -1 is not positive");
  EXPECT_TRUE(check(1));
  EXPECT_EQ(check(0).error().code(), Errc::invalid_argument);
}

TEST(Result, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r);
  auto p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(Result, ContextPrefixesMessage) {
  Error e = Error::from_errno(ENOENT, "shm_open '/x'");
  EXPECT_EQ(e.code(), Errc::not_found);
  EXPECT_EQ(e.what(), "shm_open '/x': no such file or directory");
  EXPECT_EQ(e.context("attach 'x'").what(), "attach 'x': shm_open '/x': no such file or directory");
}

TEST(Result, RetryableClassification) {
  EXPECT_TRUE(Error(Errc::queue_full).retryable());
  EXPECT_TRUE(Error(Errc::out_of_memory).retryable());
  EXPECT_FALSE(Error(Errc::corrupted).retryable());
  EXPECT_FALSE(Error(Errc::peer_gone).retryable());
  EXPECT_EQ(Error(Errc::peer_gone).what(), "peer_gone");
}

TEST(Units, ParseAndFormatBytes) {
  std::uint64_t v = 0;
  ASSERT_TRUE(parse_bytes("64M", v));
  EXPECT_EQ(v, 64 * MiB);
  ASSERT_TRUE(parse_bytes("4kib", v));
  EXPECT_EQ(v, 4 * KiB);
  EXPECT_FALSE(parse_bytes("12q", v));
  EXPECT_FALSE(parse_bytes("", v));
  EXPECT_EQ(format_bytes(64 * MiB), "64 MiB");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(12), "12 B");
  EXPECT_TRUE(fits(10, 20, 30));
  EXPECT_FALSE(fits(10, 21, 30));
  EXPECT_FALSE(fits(UINT64_MAX, 2, UINT64_MAX));
  EXPECT_EQ(next_pow2(1000), 1024u);
  EXPECT_EQ(next_pow2(std::uint64_t{1} << 63), std::uint64_t{1} << 63);
  EXPECT_EQ(next_pow2((std::uint64_t{1} << 63) + 1), 0u);
  EXPECT_EQ(align_up(65, 64), 128u);
}

}  // namespace
}  // namespace sluice

#include <sluice/base/json.hpp>

namespace sluice {
namespace {

TEST(Json, WritesNestedValidJson) {
  JsonWriter j;
  j.begin_object()
      .field("name", "a\"b\n")
      .field("n", std::uint64_t{18446744073709551615ULL})
      .field("neg", -3)
      .field("ok", true)
      .key("list")
      .begin_array()
      .value(1)
      .value(2.5)
      .begin_object()
      .end_object()
      .end_array()
      .key("nothing")
      .null()
      .end_object();
  EXPECT_EQ(
      j.str(),
      R"({"name":"a\"b\n","n":18446744073709551615,"neg":-3,"ok":true,"list":[1,2.5,{}],"nothing":null})");
  EXPECT_EQ(json_escape(std::string("\x01", 1)), "\\u0001");
}

}  // namespace
}  // namespace sluice
