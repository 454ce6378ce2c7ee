// The ConformanceService (PROTOCOL.md §14.1) on sluice's typed service API.
#include <sluice/rpc/conformance/api.hpp>

#include <fmt/format.h>

#include <atomic>

namespace sluice::rpc::conformance {
namespace {

std::atomic<std::int64_t> produce_calls{0};
std::atomic<std::int64_t> exchange_calls{0};
std::atomic<std::int64_t> cancel_calls{0};

ServiceError value_error(std::string m) { return {"ValueError", std::move(m)}; }

// Bounds on the sizes a caller may ask for, so that a hostile or mistaken
// call gets a ValueError instead of exhausting the worker's memory.
constexpr std::int64_t kMaxBytes = std::int64_t{64} << 20;
constexpr std::int64_t kMaxRows = std::int64_t{1} << 22;
std::int64_t checked_rows(std::int64_t rows, std::string_view what) {
  if (rows < 0 || rows > kMaxRows)
    throw value_error(fmt::format("{} must be between 0 and {}, got {}", what, kMaxRows, rows));
  return rows;
}
// The rich header's fields are small multiples of the seed.
std::int64_t checked_seed(std::int64_t seed) {
  constexpr std::int64_t kMaxSeed = std::int64_t{1} << 40;
  if (seed < -kMaxSeed || seed > kMaxSeed)
    throw value_error(fmt::format("seed must be within ±{}, got {}", kMaxSeed, seed));
  return seed;
}
ServiceError runtime_error(std::string m) { return {"RuntimeError", std::move(m)}; }

template <typename T>
auto echo() {
  return [](T v) { return v; };
}

// Produces `total` rows, `per_batch` per tick: {index, index * 10}.
struct CounterProducer {
  std::int64_t total = 0;
  std::int64_t per_batch = 1;
  std::int64_t next = 0;
  bool log_each = false;
  std::int64_t fail_after = -1;  // error after this many batches
  std::int64_t batches = 0;
  HeaderInfo info{};
  void produce(Output<Counter>& out) {
    if (fail_after >= 0 && batches == fail_after)
      throw runtime_error(fmt::format("intentional error after {} batches", fail_after));
    if (next >= total) {
      out.finish();
      return;
    }
    if (log_each) out.log(LogLevel::info, fmt::format("producing batch {}", batches));
    std::vector<Counter> rows;
    for (std::int64_t k = 0; k < per_batch && next < total; ++k, ++next)
      rows.push_back({next, next * 10});
    ++batches;
    out.emit(rows);
  }
  [[nodiscard]] HeaderInfo header() const { return info; }
};

struct Scale {
  double factor = 1;
  std::int64_t fail_on = -1;
  std::int64_t seen = 0;
  bool with_logs = false;
  HeaderInfo info{};
  RichHeader rich{};
  void exchange(const std::vector<Value>& in, Output<Value>& out) {
    ++seen;
    if (fail_on >= 0 && seen == fail_on)
      throw runtime_error(fmt::format("intentional error on exchange {}", fail_on));
    if (with_logs) {
      out.log(LogLevel::info, "exchange processing");
      out.log(LogLevel::debug, "exchange debug");
    }
    std::vector<Value> rows;
    rows.reserve(in.size());
    for (const auto& v : in) rows.push_back({v.value * factor});
    out.emit(rows);
  }
};

struct ScaleWithHeader : Scale {
  [[nodiscard]] HeaderInfo header() const { return info; }
};
struct ScaleWithRichHeader : Scale {
  [[nodiscard]] RichHeader header() const { return rich; }
};

struct Accumulate {
  double sum = 0;
  std::int64_t count = 0;
  void exchange(const std::vector<Value>& in, Output<Accumulated>& out) {
    for (const auto& v : in) sum += v.value;
    ++count;
    out.emit_row({sum, count});
  }
};

struct ZeroColumns {
  static void exchange(const std::vector<NoColumns>& in, Output<NoColumns>& out) { out.emit(in); }
};

struct Oversized {
  std::int64_t rows = 0;
  void exchange(const std::vector<Value>& /*in*/, Output<Counter>& out) const {
    std::vector<Counter> r;
    r.reserve(static_cast<std::size_t>(rows));
    for (std::int64_t i = 0; i < rows; ++i) r.push_back({i, i * 10});
    out.emit(r);
  }
};

struct CancellableProducer {
  std::int64_t next = 0;
  void produce(Output<Tick>& out) {
    produce_calls.fetch_add(1);
    out.emit_row({next++});
  }
  static void on_cancel() { cancel_calls.fetch_add(1); }
};

struct CancellableExchange {
  static void exchange(const std::vector<Value>& in, Output<Value>& out) {
    exchange_calls.fetch_add(1);
    out.emit(in);
  }
  static void on_cancel() { cancel_calls.fetch_add(1); }
};

struct RichProducer : CounterProducer {
  RichHeader rich{};
  [[nodiscard]] RichHeader header() const { return rich; }
};

struct DynamicProducer {
  std::int64_t count = 0;
  std::int64_t next = 0;
  bool strings = false;
  bool floats = false;
  arrow::SchemaPtr schema;
  [[nodiscard]] arrow::SchemaPtr output_schema() const { return schema; }
  void produce(Output<arrow::RecordBatch>& out) {
    if (next >= count) {
      out.finish();
      return;
    }
    const std::int64_t i = next++;
    std::vector<arrow::ArrayPtr> cols;
    cols.push_back(arrow::make_array<std::int64_t>(arrow::int64(), {i}));
    if (strings)
      cols.push_back(arrow::make_binary_array(arrow::utf8(), {fmt::format("row-{}", i)}));
    if (floats)
      cols.push_back(arrow::make_array<double>(arrow::float64(), {1.5 * static_cast<double>(i)}));
    out.emit(arrow::RecordBatch(schema, 1, std::move(cols)));
  }
};

}  // namespace

Protocol primary() {
  Protocol p{std::string(kProtocol), std::string(kVersion)};
  p.implement(echo_string, echo<S>())
      .implement(echo_bytes, echo<Bytes>())
      .implement(echo_int, echo<I>())
      .implement(echo_float, echo<F>())
      .implement(echo_bool, echo<bool>())
      .implement(oversized_unary,
                 [](I n) {
                   if (n < 0)
                     throw value_error(fmt::format("target_bytes must be >= 0, got {}", n));
                   if (n > kMaxBytes)
                     throw value_error(
                         fmt::format("target_bytes must be at most {}, got {}", kMaxBytes, n));
                   return Bytes{std::string(static_cast<std::size_t>(n), '\0')};
                 })
      .implement(void_noop, [] {})
      .implement(void_with_param, [](I) {})
      .implement(echo_enum, echo<Status>())
      .implement(echo_list, echo<std::vector<S>>())
      .implement(echo_dict, echo<std::map<S, I>>())
      .implement(echo_nested_list, echo<std::vector<std::vector<I>>>())
      .implement(echo_optional_string, echo<std::optional<S>>())
      .implement(echo_optional_int, echo<std::optional<I>>())
      .implement(echo_point, echo<Point>())
      .implement(echo_all_types, echo<AllTypes>())
      .implement(echo_bounding_box, echo<BoundingBox>())
      .implement(inspect_point,
                 [](const Point& pt) { return fmt::format("Point({:.1f}, {:.1f})", pt.x, pt.y); })
      .implement(echo_wide_types, echo<WideTypes>())
      .implement(echo_container_wide_types, echo<ContainerWideTypes>())
      .implement(echo_embedded_arrow, echo<EmbeddedArrow>())
      .implement(echo_deep_nested, echo<DeepNested>())
      .implement(echo_int32, echo<std::int32_t>())
      .implement(echo_float32, echo<float>())
      .implement(echo_int8, echo<std::int8_t>())
      .implement(echo_int16, echo<std::int16_t>())
      .implement(echo_uint8, echo<std::uint8_t>())
      .implement(echo_uint16, echo<std::uint16_t>())
      .implement(echo_uint32, echo<std::uint32_t>())
      .implement(echo_uint64, echo<std::uint64_t>())
      .implement(echo_date, echo<Date>())
      .implement(echo_timestamp, echo<NaiveTimestamp>())
      .implement(echo_timestamp_utc, echo<Timestamp>())
      .implement(echo_time, echo<TimeOfDay>())
      .implement(echo_duration, echo<Duration>())
      .implement(echo_decimal, echo<Decimal<20, 4>>())
      .implement(echo_large_string, echo<LargeString>())
      .implement(echo_large_binary, echo<LargeBytes>())
      .implement(echo_fixed_binary, echo<FixedBytes<8>>())
      .implement(echo_dict_encoded_string, echo<DictString>())
      .implement(add_floats, [](F a, F b) { return a + b; })
      .implement(concatenate, [](const S& a, const S& b, const S& sep) { return a + sep + b; })
      .implement(with_defaults,
                 [](I r, const S& s, I i) {
                   return fmt::format("required={}, optional_str={}, optional_int={}", r, s, i);
                 })
      .implement(raise_value_error, [](S m) -> S { throw value_error(std::move(m)); })
      .implement(raise_runtime_error, [](S m) -> S { throw runtime_error(std::move(m)); })
      .implement(raise_type_error, [](S m) -> S { throw ServiceError("TypeError", std::move(m)); })
      .implement(echo_with_info_log,
                 [](CallContext& ctx, S v) {
                   ctx.log(LogLevel::info, "info: " + v);
                   return v;
                 })
      .implement(echo_with_multi_logs,
                 [](CallContext& ctx, S v) {
                   ctx.log(LogLevel::debug, "debug: " + v);
                   ctx.log(LogLevel::info, "info: " + v);
                   ctx.log(LogLevel::warn, "warn: " + v);
                   return v;
                 })
      .implement(echo_with_log_extras,
                 [](CallContext& ctx, S v) {
                   ctx.log(LogLevel::info, "info: " + v,
                           LogExtra{}.add("source", "conformance").add("detail", v));
                   return v;
                 })
      .implement(echo_with_all_log_levels, [](CallContext& ctx, S v) {
        ctx.log(LogLevel::trace, "trace: " + v);
        ctx.log(LogLevel::debug, "debug: " + v);
        ctx.log(LogLevel::info, "info: " + v);
        ctx.log(LogLevel::warn, "warn: " + v);
        ctx.log(LogLevel::error, "error: " + v);
        return v;
      });

  p.implement(produce_n, [](I n) { return CounterProducer{.total = n}; })
      .implement(produce_empty, [] { return CounterProducer{.total = 0}; })
      .implement(produce_single, [] { return CounterProducer{.total = 1}; })
      .implement(produce_large_batches,
                 [](I rows, I count) {
                   checked_rows(rows, "rows_per_batch");
                   checked_rows(count, "batch_count");
                   return CounterProducer{.total = checked_rows(rows * count, "rows in total"),
                                          .per_batch = std::max<I>(rows, 1)};
                 })
      .implement(produce_with_logs,
                 [](I n) { return CounterProducer{.total = n, .log_each = true}; })
      .implement(produce_error_mid_stream,
                 [](I k) { return CounterProducer{.total = k + 1000000, .fail_after = k}; })
      .implement(produce_error_on_init,
                 []() -> CounterProducer { throw runtime_error("intentional init error"); })
      .implement(produce_oversized_batch,
                 [](I rows) {
                   checked_rows(rows, "rows_per_batch");
                   return CounterProducer{.total = rows, .per_batch = std::max<I>(rows, 1)};
                 })
      .implement(
          produce_with_header,
          [](I n) {
            return CounterProducer{.total = n, .info = {n, fmt::format("producing {} batches", n)}};
          })
      .implement(produce_with_header_and_logs, [](CallContext& ctx, I n) {
        ctx.log(LogLevel::info, "stream init log");
        return CounterProducer{
            .total = n, .log_each = true, .info = {n, fmt::format("producing {} with logs", n)}};
      });

  p.implement(exchange_scale, [](F f) { return Scale{.factor = f}; })
      .implement(exchange_accumulate, [] { return Accumulate{}; })
      .implement(exchange_with_logs, [] { return Scale{.with_logs = true}; })
      .implement(exchange_error_on_nth, [](I n) { return Scale{.fail_on = n}; })
      .implement(exchange_zero_columns, [] { return ZeroColumns{}; })
      .implement(exchange_error_on_init,
                 []() -> Scale { throw runtime_error("intentional init error"); })
      .implement(exchange_cast_compatible, [] { return Scale{}; })
      .implement(exchange_oversized,
                 [](I rows) { return Oversized{checked_rows(rows, "rows_per_batch")}; })
      .implement(exchange_with_header, [](F f) {
        ScaleWithHeader s;
        s.factor = f;
        s.info = {0, fmt::format("scale by {:.1f}", f)};
        return s;
      });

  p.implement(cancellable_producer, [] { return CancellableProducer{}; })
      .implement(cancellable_exchange, [] { return CancellableExchange{}; })
      .implement(
          cancel_probe_counters,
          [] {
            return std::vector<I>{produce_calls.load(), exchange_calls.load(), cancel_calls.load()};
          })
      .implement(reset_cancel_probe, [] {
        produce_calls = 0;
        exchange_calls = 0;
        cancel_calls = 0;
      });

  p.implement(produce_with_rich_header,
              [](I seed, I count) {
                RichProducer r;
                r.total = count;
                r.rich = rich_header(checked_seed(seed));
                return r;
              })
      .implement(produce_dynamic_schema,
                 [](I /*seed*/, I count, bool strings, bool floats) {
                   DynamicProducer d;
                   d.count = count;
                   d.strings = strings;
                   d.floats = floats;
                   std::vector<arrow::FieldPtr> fields{arrow::field("index", arrow::int64(), true)};
                   if (strings) fields.push_back(arrow::field("label", arrow::utf8(), true));
                   if (floats) fields.push_back(arrow::field("score", arrow::float64(), true));
                   d.schema = arrow::schema(std::move(fields));
                   return d;
                 })
      .implement(exchange_with_rich_header, [](I seed, F f) {
        ScaleWithRichHeader s;
        s.factor = f;
        s.rich = rich_header(checked_seed(seed));
        return s;
      });
  return p;
}

Protocol secondary_protocol() {
  Protocol p{std::string(kSecondary)};
  p.implement(secondary::echo_string, [](const S& v) { return "secondary:" + v; })
      .implement(secondary::fail,
                 [](const S& code, const S& kind, F retry) {
                   ServiceError e("SecondaryError",
                                  fmt::format("failing with {} ({})", code, kind));
                   e.code(parse_code(code));
                   if (!kind.empty()) e.kind(kind);
                   if (retry > 0)
                     e.details(fmt::format(
                         R"([{{"@type":"vgi_rpc.RetryInfo","retry_delay_seconds":"{}"}}])", retry));
                   // NOLINTNEXTLINE(cert-err09-cpp,cert-err61-cpp,misc-throw-by-value-catch-by-reference)
                   throw ServiceError(e);
                 })
      .implement(secondary::fail_oversized, [] {
        // Details past 4096 bytes are dropped whole (§5).
        ServiceError e("SecondaryError", "oversized error details");
        e.code(Code::failed_precondition);
        e.details(fmt::format(R"([{{"@type":"vgi_rpc.ErrorInfo","metadata":{{"pad":"{}"}}}}])",
                              std::string(5000, 'x')));
        // NOLINTNEXTLINE(cert-err09-cpp,cert-err61-cpp,misc-throw-by-value-catch-by-reference)
        throw ServiceError(e);
      });
  return p;
}

}  // namespace sluice::rpc::conformance
