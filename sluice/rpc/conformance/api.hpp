#pragma once
// The ConformanceService's types and method descriptors (PROTOCOL.md §14.1),
// shared by the sluice-conformance worker and by the client driver that runs
// the same calls against the npm package's server. The JavaScript twin is
// tests/interop/conformance_service.mjs: field names, types and order match.

#include <sluice/rpc/service.hpp>
#include <sluice/rpc/types.hpp>

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sluice::rpc::conformance {

inline constexpr std::string_view kProtocol = "ConformanceService";
inline constexpr std::string_view kVersion = "1.0.0";
inline constexpr std::string_view kSecondary = "conformance.Secondary.v1";

enum class Status : std::uint8_t { pending, active, closed };

}  // namespace sluice::rpc::conformance

template <>
struct sluice::rpc::EnumNames<sluice::rpc::conformance::Status> {
  static constexpr std::array<std::string_view, 3> names = {"PENDING", "ACTIVE", "CLOSED"};
};

namespace sluice::rpc::conformance {

#define SLUICE_M(T, f) member(#f, &T::f)

struct Point {
  double x = 0;
  double y = 0;
  friend bool operator==(const Point&, const Point&) = default;
  static constexpr auto sluice_fields() {
    return std::tuple{SLUICE_M(Point, x), SLUICE_M(Point, y)};
  }
};

struct BoundingBox {
  Point top_left;
  Point bottom_right;
  std::string label;
  friend bool operator==(const BoundingBox&, const BoundingBox&) = default;
  static constexpr auto sluice_fields() {
    return std::tuple{SLUICE_M(BoundingBox, top_left), SLUICE_M(BoundingBox, bottom_right),
                      SLUICE_M(BoundingBox, label)};
  }
};

struct AllTypes {
  std::string str_field;
  Bytes bytes_field;
  std::int64_t int_field = 0;
  double float_field = 0;
  bool bool_field = false;
  std::vector<std::int64_t> list_of_int;
  std::vector<std::string> list_of_str;
  std::map<std::string, std::int64_t> dict_field;
  Status enum_field = Status::pending;
  Point nested_point;
  std::optional<std::string> optional_str;
  std::optional<std::int64_t> optional_int;
  std::optional<Point> optional_nested;
  std::vector<Point> list_of_nested;
  std::vector<std::vector<std::int64_t>> nested_list;
  friend bool operator==(const AllTypes&, const AllTypes&) = default;
  static constexpr auto sluice_fields() {
    return std::tuple{SLUICE_M(AllTypes, str_field),       SLUICE_M(AllTypes, bytes_field),
                      SLUICE_M(AllTypes, int_field),       SLUICE_M(AllTypes, float_field),
                      SLUICE_M(AllTypes, bool_field),      SLUICE_M(AllTypes, list_of_int),
                      SLUICE_M(AllTypes, list_of_str),     SLUICE_M(AllTypes, dict_field),
                      SLUICE_M(AllTypes, enum_field),      SLUICE_M(AllTypes, nested_point),
                      SLUICE_M(AllTypes, optional_str),    SLUICE_M(AllTypes, optional_int),
                      SLUICE_M(AllTypes, optional_nested), SLUICE_M(AllTypes, list_of_nested),
                      SLUICE_M(AllTypes, nested_list)};
  }
};

struct WideTypes {
  std::int8_t i8 = 0;
  std::int16_t i16 = 0;
  std::int32_t i32 = 0;
  std::uint8_t u8 = 0;
  std::uint16_t u16 = 0;
  std::uint32_t u32 = 0;
  std::uint64_t u64 = 0;
  float f32 = 0;
  Date date;
  NaiveTimestamp ts;
  Timestamp ts_utc;
  TimeOfDay time;
  Duration duration{0};
  Decimal<20, 4> decimal;
  LargeString large_str;
  LargeBytes large_bin;
  FixedBytes<8> fixed_bin;
  DictString dict_str;
  friend bool operator==(const WideTypes&, const WideTypes&) = default;
  static constexpr auto sluice_fields() {
    return std::tuple{SLUICE_M(WideTypes, i8),        SLUICE_M(WideTypes, i16),
                      SLUICE_M(WideTypes, i32),       SLUICE_M(WideTypes, u8),
                      SLUICE_M(WideTypes, u16),       SLUICE_M(WideTypes, u32),
                      SLUICE_M(WideTypes, u64),       SLUICE_M(WideTypes, f32),
                      SLUICE_M(WideTypes, date),      SLUICE_M(WideTypes, ts),
                      SLUICE_M(WideTypes, ts_utc),    SLUICE_M(WideTypes, time),
                      SLUICE_M(WideTypes, duration),  SLUICE_M(WideTypes, decimal),
                      SLUICE_M(WideTypes, large_str), SLUICE_M(WideTypes, large_bin),
                      SLUICE_M(WideTypes, fixed_bin), SLUICE_M(WideTypes, dict_str)};
  }
};

struct ContainerWideTypes {
  std::vector<std::int32_t> int32_list;
  std::vector<Timestamp> timestamp_list;
  std::map<std::string, Decimal<20, 4>> decimal_map;
  std::vector<std::optional<Date>> optional_dates;
  std::optional<std::vector<std::uint16_t>> optional_u16_list;
  friend bool operator==(const ContainerWideTypes&, const ContainerWideTypes&) = default;
  static constexpr auto sluice_fields() {
    return std::tuple{
        SLUICE_M(ContainerWideTypes, int32_list), SLUICE_M(ContainerWideTypes, timestamp_list),
        SLUICE_M(ContainerWideTypes, decimal_map), SLUICE_M(ContainerWideTypes, optional_dates),
        SLUICE_M(ContainerWideTypes, optional_u16_list)};
  }
};

struct EmbeddedArrow {
  std::string label;
  arrow::RecordBatch batch;
  static constexpr auto sluice_fields() {
    return std::tuple{SLUICE_M(EmbeddedArrow, label), SLUICE_M(EmbeddedArrow, batch)};
  }
};

struct Inner {
  std::string tag;
  std::vector<Point> points;
  friend bool operator==(const Inner&, const Inner&) = default;
  static constexpr auto sluice_fields() {
    return std::tuple{SLUICE_M(Inner, tag), SLUICE_M(Inner, points)};
  }
};
struct Middle {
  Inner inner;
  std::vector<Inner> siblings;
  friend bool operator==(const Middle&, const Middle&) = default;
  static constexpr auto sluice_fields() {
    return std::tuple{SLUICE_M(Middle, inner), SLUICE_M(Middle, siblings)};
  }
};
struct DeepNested {
  std::int64_t level = 0;
  Middle middle;
  std::optional<Middle> optional_middle;
  friend bool operator==(const DeepNested&, const DeepNested&) = default;
  static constexpr auto sluice_fields() {
    return std::tuple{SLUICE_M(DeepNested, level), SLUICE_M(DeepNested, middle),
                      SLUICE_M(DeepNested, optional_middle)};
  }
};

// Stream rows and headers.
struct Counter {
  std::int64_t index = 0;
  std::int64_t value = 0;
  friend bool operator==(const Counter&, const Counter&) = default;
  static constexpr auto sluice_fields() {
    return std::tuple{SLUICE_M(Counter, index), SLUICE_M(Counter, value)};
  }
};
struct HeaderInfo {
  std::int64_t total_expected = 0;
  std::string description;
  friend bool operator==(const HeaderInfo&, const HeaderInfo&) = default;
  static constexpr auto sluice_fields() {
    return std::tuple{SLUICE_M(HeaderInfo, total_expected), SLUICE_M(HeaderInfo, description)};
  }
};
struct Value {
  double value = 0;
  friend bool operator==(const Value&, const Value&) = default;
  static constexpr auto sluice_fields() { return std::tuple{SLUICE_M(Value, value)}; }
};
struct Accumulated {
  double running_sum = 0;
  std::int64_t exchange_count = 0;
  friend bool operator==(const Accumulated&, const Accumulated&) = default;
  static constexpr auto sluice_fields() {
    return std::tuple{SLUICE_M(Accumulated, running_sum), SLUICE_M(Accumulated, exchange_count)};
  }
};
struct NoColumns {
  friend bool operator==(const NoColumns&, const NoColumns&) = default;
  static constexpr auto sluice_fields() { return std::tuple{}; }
};
struct Tick {
  std::int64_t index = 0;
  friend bool operator==(const Tick&, const Tick&) = default;
  static constexpr auto sluice_fields() { return std::tuple{SLUICE_M(Tick, index)}; }
};

// RichHeader: 18 fields derived from a seed (rich_header() below).
struct RichHeader {
  std::string str_field;
  Bytes bytes_field;
  std::int64_t int_field = 0;
  double float_field = 0;
  bool bool_field = false;
  std::vector<std::int64_t> list_field;
  std::map<std::string, std::int64_t> dict_field;
  Status enum_field = Status::pending;
  std::optional<std::string> optional_str;
  std::optional<std::int64_t> optional_int;
  Point nested_point;
  std::int32_t int32_field = 0;
  float float32_field = 0;
  Date date_field;
  Timestamp timestamp_field;
  Duration duration_field{0};
  LargeString large_str_field;
  DictString dict_str_field;
  friend bool operator==(const RichHeader&, const RichHeader&) = default;
  static constexpr auto sluice_fields() {
    return std::tuple{SLUICE_M(RichHeader, str_field),       SLUICE_M(RichHeader, bytes_field),
                      SLUICE_M(RichHeader, int_field),       SLUICE_M(RichHeader, float_field),
                      SLUICE_M(RichHeader, bool_field),      SLUICE_M(RichHeader, list_field),
                      SLUICE_M(RichHeader, dict_field),      SLUICE_M(RichHeader, enum_field),
                      SLUICE_M(RichHeader, optional_str),    SLUICE_M(RichHeader, optional_int),
                      SLUICE_M(RichHeader, nested_point),    SLUICE_M(RichHeader, int32_field),
                      SLUICE_M(RichHeader, float32_field),   SLUICE_M(RichHeader, date_field),
                      SLUICE_M(RichHeader, timestamp_field), SLUICE_M(RichHeader, duration_field),
                      SLUICE_M(RichHeader, large_str_field), SLUICE_M(RichHeader, dict_str_field)};
  }
};
// The header of the rich-header methods for `seed` (the JavaScript twin computes the same).
inline RichHeader rich_header(std::int64_t n) {
  RichHeader h;
  h.str_field = fmt::format("seed-{}", n);
  h.bytes_field.data = fmt::format("bytes-{}", n);
  h.int_field = 7 * n;
  h.float_field = 1.5 * static_cast<double>(n);
  h.bool_field = n % 2 == 0;
  h.list_field = {n, n + 1, n + 2};
  h.dict_field = {{"a", n}, {"b", n + 1}};
  h.enum_field = static_cast<Status>(((n % 3) + 3) % 3);
  if (n % 2 == 0)
    h.optional_str = fmt::format("even-{}", n);
  else
    h.optional_int = 3 * n;
  h.nested_point = {static_cast<double>(n), 2.0 * static_cast<double>(n)};
  h.int32_field = static_cast<std::int32_t>(n * 11);
  h.float32_field = 0.5F * static_cast<float>(n);
  h.date_field = {static_cast<std::int32_t>(19000 + n)};
  h.timestamp_field = Timestamp(std::chrono::microseconds(1'700'000'000'000'000 + n));
  h.duration_field = Duration(n * 1000);
  h.large_str_field.value = fmt::format("large-{}", n);
  h.dict_str_field.value = fmt::format("dict-{}", n % 4);
  return h;
}

#undef SLUICE_M

using S = std::string;
using I = std::int64_t;
using F = double;

// scalar
inline const Unary<S(S)> echo_string{"echo_string", {"value"}};
inline const Unary<Bytes(Bytes)> echo_bytes{"echo_bytes", {"data"}};
inline const Unary<I(I)> echo_int{"echo_int", {"value"}};
inline const Unary<F(F)> echo_float{"echo_float", {"value"}};
inline const Unary<bool(bool)> echo_bool{"echo_bool", {"value"}};
inline const Unary<Bytes(I)> oversized_unary{"oversized_unary", {"target_bytes"}};
// void
inline const Unary<void()> void_noop{"void_noop", {}};
inline const Unary<void(I)> void_with_param{"void_with_param", {"value"}};
// complex
inline const Unary<Status(Status)> echo_enum{"echo_enum", {"status"}};
inline const Unary<std::vector<S>(std::vector<S>)> echo_list{"echo_list", {"values"}};
inline const Unary<std::map<S, I>(std::map<S, I>)> echo_dict{"echo_dict", {"mapping"}};
inline const Unary<std::vector<std::vector<I>>(std::vector<std::vector<I>>)> echo_nested_list{
    "echo_nested_list", {"matrix"}};
// optional
inline const Unary<std::optional<S>(std::optional<S>)> echo_optional_string{"echo_optional_string",
                                                                            {"value"}};
inline const Unary<std::optional<I>(std::optional<I>)> echo_optional_int{"echo_optional_int",
                                                                         {"value"}};
// records (binary IPC at the top level)
inline const Unary<Point(Point)> echo_point{"echo_point", {"point"}};
inline const Unary<AllTypes(AllTypes)> echo_all_types{"echo_all_types", {"data"}};
inline const Unary<BoundingBox(BoundingBox)> echo_bounding_box{"echo_bounding_box", {"box"}};
inline const Unary<S(Point)> inspect_point{"inspect_point", {"point"}};
inline const Unary<WideTypes(WideTypes)> echo_wide_types{"echo_wide_types", {"data"}};
inline const Unary<ContainerWideTypes(ContainerWideTypes)> echo_container_wide_types{
    "echo_container_wide_types", {"data"}};
inline const Unary<EmbeddedArrow(EmbeddedArrow)> echo_embedded_arrow{"echo_embedded_arrow",
                                                                     {"data"}};
inline const Unary<DeepNested(DeepNested)> echo_deep_nested{"echo_deep_nested", {"data"}};
// annotated & wide
inline const Unary<std::int32_t(std::int32_t)> echo_int32{"echo_int32", {"value"}};
inline const Unary<float(float)> echo_float32{"echo_float32", {"value"}};
inline const Unary<std::int8_t(std::int8_t)> echo_int8{"echo_int8", {"value"}};
inline const Unary<std::int16_t(std::int16_t)> echo_int16{"echo_int16", {"value"}};
inline const Unary<std::uint8_t(std::uint8_t)> echo_uint8{"echo_uint8", {"value"}};
inline const Unary<std::uint16_t(std::uint16_t)> echo_uint16{"echo_uint16", {"value"}};
inline const Unary<std::uint32_t(std::uint32_t)> echo_uint32{"echo_uint32", {"value"}};
inline const Unary<std::uint64_t(std::uint64_t)> echo_uint64{"echo_uint64", {"value"}};
inline const Unary<Date(Date)> echo_date{"echo_date", {"value"}};
inline const Unary<NaiveTimestamp(NaiveTimestamp)> echo_timestamp{"echo_timestamp", {"value"}};
inline const Unary<Timestamp(Timestamp)> echo_timestamp_utc{"echo_timestamp_utc", {"value"}};
inline const Unary<TimeOfDay(TimeOfDay)> echo_time{"echo_time", {"value"}};
inline const Unary<Duration(Duration)> echo_duration{"echo_duration", {"value"}};
inline const Unary<Decimal<20, 4>(Decimal<20, 4>)> echo_decimal{"echo_decimal", {"value"}};
inline const Unary<LargeString(LargeString)> echo_large_string{"echo_large_string", {"value"}};
inline const Unary<LargeBytes(LargeBytes)> echo_large_binary{"echo_large_binary", {"value"}};
inline const Unary<FixedBytes<8>(FixedBytes<8>)> echo_fixed_binary{"echo_fixed_binary", {"value"}};
inline const Unary<DictString(DictString)> echo_dict_encoded_string{"echo_dict_encoded_string",
                                                                    {"value"}};
// multi-param and defaults
inline const Unary<F(F, F)> add_floats{"add_floats", {"a", "b"}};
inline const Unary<S(S, S, S)> concatenate{
    "concatenate", {"prefix", "suffix", "separator"}, {std::nullopt, std::nullopt, S("-")}};
inline const Unary<S(I, S, I)> with_defaults{"with_defaults",
                                             {"required", "optional_str", "optional_int"},
                                             {std::nullopt, S("default"), I{42}}};
// errors
inline const Unary<S(S)> raise_value_error{"raise_value_error", {"message"}};
inline const Unary<S(S)> raise_runtime_error{"raise_runtime_error", {"message"}};
inline const Unary<S(S)> raise_type_error{"raise_type_error", {"message"}};
// logging
inline const Unary<S(S)> echo_with_info_log{"echo_with_info_log", {"value"}};
inline const Unary<S(S)> echo_with_multi_logs{"echo_with_multi_logs", {"value"}};
inline const Unary<S(S)> echo_with_log_extras{"echo_with_log_extras", {"value"}};
inline const Unary<S(S)> echo_with_all_log_levels{"echo_with_all_log_levels", {"value"}};
// producers
inline const Producer<Counter(I)> produce_n{"produce_n", {"count"}};
inline const Producer<Counter()> produce_empty{"produce_empty", {}};
inline const Producer<Counter()> produce_single{"produce_single", {}};
inline const Producer<Counter(I, I)> produce_large_batches{"produce_large_batches",
                                                           {"rows_per_batch", "batch_count"}};
inline const Producer<Counter(I)> produce_with_logs{"produce_with_logs", {"count"}};
inline const Producer<Counter(I)> produce_error_mid_stream{"produce_error_mid_stream",
                                                           {"emit_before_error"}};
inline const Producer<Counter()> produce_error_on_init{"produce_error_on_init", {}};
inline const Producer<Counter(I)> produce_oversized_batch{"produce_oversized_batch",
                                                          {"rows_per_batch"}};
inline const Producer<Counter(I), HeaderInfo> produce_with_header{"produce_with_header", {"count"}};
inline const Producer<Counter(I), HeaderInfo> produce_with_header_and_logs{
    "produce_with_header_and_logs", {"count"}};
// exchanges
inline const Exchange<Value(F), Value> exchange_scale{"exchange_scale", {"factor"}};
inline const Exchange<Accumulated(), Value> exchange_accumulate{"exchange_accumulate", {}};
inline const Exchange<Value(), Value> exchange_with_logs{"exchange_with_logs", {}};
inline const Exchange<Value(I), Value> exchange_error_on_nth{"exchange_error_on_nth", {"fail_on"}};
inline const Exchange<NoColumns(), NoColumns> exchange_zero_columns{"exchange_zero_columns", {}};
inline const Exchange<Value(), Value> exchange_error_on_init{"exchange_error_on_init", {}};
inline const Exchange<Value(), Value> exchange_cast_compatible{"exchange_cast_compatible", {}};
inline const Exchange<Counter(I), Value> exchange_oversized{"exchange_oversized",
                                                            {"rows_per_batch"}};
inline const Exchange<Value(F), Value, HeaderInfo> exchange_with_header{"exchange_with_header",
                                                                        {"factor"}};
// cancel
inline const Producer<Tick()> cancellable_producer{"cancellable_producer", {}};
inline const Exchange<Value(), Value> cancellable_exchange{"cancellable_exchange", {}};
inline const Unary<std::vector<I>()> cancel_probe_counters{"cancel_probe_counters", {}};
inline const Unary<void()> reset_cancel_probe{"reset_cancel_probe", {}};
// rich header
inline const Producer<Counter(I, I), RichHeader> produce_with_rich_header{
    "produce_with_rich_header", {"seed", "count"}};
inline const Producer<arrow::RecordBatch(I, I, bool, bool)> produce_dynamic_schema{
    "produce_dynamic_schema", {"seed", "count", "include_strings", "include_floats"}};
inline const Exchange<Value(I, F), Value, RichHeader> exchange_with_rich_header{
    "exchange_with_rich_header", {"seed", "factor"}};

// conformance.Secondary.v1 (Gen C)
namespace secondary {
inline const Unary<S(S)> echo_string{"echo_string", {"value"}};
inline const Unary<void(S, S, F)> fail{"fail", {"code", "kind", "retry_delay_seconds"}};
inline const Unary<void()> fail_oversized{"fail_oversized", {}};
}  // namespace secondary

Protocol primary();
Protocol secondary_protocol();

}  // namespace sluice::rpc::conformance
