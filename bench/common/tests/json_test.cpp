#include "common/json.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace sluice::bench {
namespace {

TEST(Json, WriterProducesParseableNestedDocuments) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("name", "a \"quoted\"\\ value\n\t\x01");
  w.field("n", std::uint64_t{18'000'000'000ULL}).field("neg", std::int64_t{-5});
  w.field("pi", 3.25).field("yes", true).field("nothing", std::optional<double>{});
  w.field("nan", std::numeric_limits<double>::quiet_NaN());
  w.key("list").begin_array().value(1).value("two").begin_object().end_object().end_array();
  w.end_object();

  auto doc = JsonValue::parse(out);
  ASSERT_TRUE(doc) << doc.error().what() << "\n" << out;
  EXPECT_EQ((*doc)["name"].string(), "a \"quoted\"\\ value\n\t\x01");
  EXPECT_EQ((*doc)["n"].number(), 18'000'000'000.0);
  EXPECT_EQ((*doc)["neg"].number(), -5.0);
  EXPECT_EQ((*doc)["pi"].number(), 3.25);
  EXPECT_TRUE((*doc)["yes"].boolean());
  EXPECT_TRUE((*doc)["nothing"].is_null());
  EXPECT_TRUE((*doc)["nan"].is_null());
  EXPECT_FALSE((*doc)["nan"].optional_number());
  ASSERT_EQ((*doc)["list"].array().size(), 3U);
  EXPECT_EQ((*doc)["list"].array()[1].string(), "two");
  EXPECT_TRUE((*doc)["list"].array()[2].is_object());
  EXPECT_TRUE((*doc)["absent"].is_null());
  EXPECT_EQ((*doc)["absent"]["deeper"].number(7), 7.0);
}

TEST(Json, ParsesEscapesAndWhitespace) {
  auto doc = JsonValue::parse(" { \"a\" : [ 1 , -2.5e3 , \"\\u00e9\\/\" ] , \"b\":false } ");
  ASSERT_TRUE(doc) << doc.error().what();
  const auto& a = (*doc)["a"].array();
  ASSERT_EQ(a.size(), 3U);
  EXPECT_EQ(a[1].number(), -2500.0);
  EXPECT_EQ(a[2].string(), "\xc3\xa9/");
  EXPECT_FALSE((*doc)["b"].boolean(true));
}

TEST(Json, RejectsMalformedInputWithAnOffset) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1} x", "\"abc", "\"\\q\"", "tru",
                          "[1 2]", "{1:2}", "\"\\u12\"", "-", "1.2.3"}) {
    auto doc = JsonValue::parse(bad);
    ASSERT_FALSE(doc) << bad;
    EXPECT_NE(doc.error().what().find("json:"), std::string::npos) << bad;
  }
}

TEST(Json, RejectsExcessiveNesting) {
  std::string deep(200, '[');
  deep += std::string(200, ']');
  EXPECT_FALSE(JsonValue::parse(deep));
  std::string ok(50, '[');
  ok += std::string(50, ']');
  EXPECT_TRUE(JsonValue::parse(ok));
}

}  // namespace
}  // namespace sluice::bench
