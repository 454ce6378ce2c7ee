// sluice_rpc_driver TARGET: sluice's typed RPC client runs the ConformanceService
// calls of PROTOCOL.md §14.1 against a server at TARGET (exec:CMD, unix:PATH,
// tcp:HOST:PORT) and compares every value. The interop tests point it at the
// ConformanceService written on the npm package's server
// (conformance_service.mjs); the unit suite points it at sluice-conformance.
//
// Prints one JSON line per check ({"check": ..., "ok": ..., "error": ...})
// and a summary line; exits 1 if any check failed.
//   --secondary         also run the conformance.Secondary.v1 checks (Gen C servers)
//   --no-version-gate   the server does not check vgi_rpc.protocol_version (the
//                       npm package's Unix and TCP launchers never call its
//                       version check; its stdio server does)
//   --shm BYTES         offer vgi-rpc's shared-memory side channel with a
//                       segment of BYTES, and check where large results travel:
//   --expect-shm yes|no   through the segment (a server that speaks it) or
//                       inline (a server that declines, like the npm one)
#include <sluice/rpc/client.hpp>
#include <sluice/rpc/conformance/api.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::rpc;
namespace c = sluice::rpc::conformance;

struct CheckFailed {
  std::string what;
};

template <typename T>
T must(Result<T> r, std::string_view what) {
  if (!r) throw CheckFailed{fmt::format("{}: {}", what, r.error().what())};
  if constexpr (!std::is_void_v<T>) return std::move(r).value();
}
void must(const Result<void>& r, std::string_view what) {
  if (!r) throw CheckFailed{fmt::format("{}: {}", what, r.error().what())};
}

template <typename A, typename B>
void expect_eq(const A& got, const B& want, std::string_view what) {
  if (!(got == want)) throw CheckFailed{fmt::format("{}: values differ", what)};
}
void expect(bool v, std::string_view what) {
  if (!v) throw CheckFailed{std::string(what)};
}

// The remote error of a call that must fail.
template <typename T>
RemoteError must_fail(Result<T> r, std::string_view what) {
  if (r) throw CheckFailed{fmt::format("{}: succeeded, expected an error", what)};
  const RemoteError* e = remote_error(r.error());
  if (e == nullptr)
    throw CheckFailed{fmt::format("{}: not a remote error: {}", what, r.error().what())};
  return *e;
}

std::mutex log_mutex;
std::vector<LogRecord> logs;
std::vector<LogRecord> take_logs() {
  std::lock_guard l(log_mutex);
  return std::exchange(logs, {});
}

c::AllTypes sample_all_types() {
  c::AllTypes a;
  a.str_field = "héllo";
  a.bytes_field.data = std::string("\x00\x01\xff", 3);
  a.int_field = -(std::int64_t{1} << 40);
  a.float_field = 2.5;
  a.bool_field = true;
  a.list_of_int = {1, 2, 3};
  a.list_of_str = {"a", "", "c"};
  a.dict_field = {{"x", 1}, {"y", -2}};
  a.enum_field = c::Status::active;
  a.nested_point = {1.5, -2.5};
  a.optional_str = std::nullopt;
  a.optional_int = 7;
  a.optional_nested = c::Point{3, 4};
  a.list_of_nested = {{1, 2}, {3, 4}};
  a.nested_list = {{1}, {}, {2, 3}};
  return a;
}

c::WideTypes sample_wide() {
  c::WideTypes w;
  w.i8 = -128;
  w.i16 = -32768;
  w.i32 = 2147483647;
  w.u8 = 255;
  w.u16 = 65535;
  w.u32 = 4294967295U;
  w.u64 = 18446744073709551615ULL;
  w.f32 = 1.25F;
  w.date = {19500};
  w.ts = {1'700'000'000'123'456};
  w.ts_utc = Timestamp(std::chrono::microseconds(1'700'000'000'654'321));
  w.time = {45'296'000'001};
  w.duration = Duration(-5'000'000);
  w.decimal = {{12345678, 0}};
  w.large_str = {"large ☃"};
  w.large_bin = {std::string("\x00\x7f", 2)};
  w.fixed_bin.data = "8bytes!!";
  w.dict_str = {"dictionary"};
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: sluice_rpc_driver TARGET [--secondary] [--no-version-gate]\n");
    return 2;
  }
  const std::string target = argv[1];
  bool secondary = false;
  bool version_gate = true;
  std::uint64_t shm_bytes = 0;
  bool expect_shm = false;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--secondary") {
      secondary = true;
    } else if (a == "--no-version-gate") {
      version_gate = false;
    } else if (a == "--shm" && i + 1 < argc) {
      shm_bytes = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--expect-shm" && i + 1 < argc) {
      expect_shm = std::string_view(argv[++i]) == "yes";
    } else {
      std::fprintf(stderr, "sluice_rpc_driver: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  ClientOptions options;
  options.default_timeout = std::chrono::milliseconds(30000);
  options.shm_segment_size = shm_bytes;
  options.on_log = [](const LogRecord& r) {
    std::lock_guard l(log_mutex);
    logs.push_back(r);
  };
  auto connected = Client::connect(target, options);
  if (!connected) {
    std::printf("{\"check\":\"connect\",\"ok\":false,\"error\":%s}\n",
                fmt::format("\"{}\"", connected.error().what()).c_str());
    return 1;
  }
  Client client = std::move(connected).value();
  ProtocolClient p = client.protocol(std::string(c::kProtocol), std::string(c::kVersion));

  std::vector<std::pair<std::string, std::function<void()>>> checks;
  auto add = [&](std::string name, std::function<void()> f) {
    checks.emplace_back(std::move(name), std::move(f));
  };

  add("reflection", [&] {
    auto list = must(client.list_protocols(), "list_protocols");
    bool found = false;
    for (const auto& s : list.protocols) found = found || s.protocol == c::kProtocol;
    expect(found, "ConformanceService listed");
    auto d = must(client.describe(std::string(c::kProtocol)), "describe");
    expect(d.protocol_version == c::kVersion, "protocol_version 1.0.0");
    expect(d.methods.size() >= 60, fmt::format("{} methods described", d.methods.size()));
    for (const auto& m : d.methods)
      if (m.name == "produce_with_header")
        expect(m.has_header && m.stream_kind == "producer", "produce_with_header kind");
  });
  add("scalar", [&] {
    expect_eq(must(p.call(c::echo_string, "hello ☃"), "echo_string"), std::string("hello ☃"),
              "echo_string");
    expect_eq(must(p.call(c::echo_bytes, Bytes{std::string("\x00\x01", 2)}), "echo_bytes").data,
              std::string("\x00\x01", 2), "echo_bytes");
    expect_eq(must(p.call(c::echo_int, std::int64_t{-9007199254740993}), "echo_int"),
              std::int64_t{-9007199254740993}, "echo_int");
    expect_eq(must(p.call(c::echo_float, 3.25), "echo_float"), 3.25, "echo_float");
    expect_eq(must(p.call(c::echo_bool, true), "echo_bool"), true, "echo_bool");
    expect_eq(must(p.call(c::oversized_unary, std::int64_t{100000}), "oversized_unary").data.size(),
              std::size_t{100000}, "oversized_unary");
  });
  add("void", [&] {
    must(p.call(c::void_noop), "void_noop");
    must(p.call(c::void_with_param, std::int64_t{5}), "void_with_param");
  });
  add("complex", [&] {
    expect_eq(must(p.call(c::echo_enum, c::Status::closed), "echo_enum"), c::Status::closed,
              "echo_enum");
    const std::vector<std::string> l{"a", "b", ""};
    expect_eq(must(p.call(c::echo_list, l), "echo_list"), l, "echo_list");
    const std::map<std::string, std::int64_t> m{{"a", 1}, {"b", 2}};
    expect_eq(must(p.call(c::echo_dict, m), "echo_dict"), m, "echo_dict");
    const std::vector<std::vector<std::int64_t>> n{{1, 2}, {}, {3}};
    expect_eq(must(p.call(c::echo_nested_list, n), "echo_nested_list"), n, "echo_nested_list");
  });
  add("optional", [&] {
    expect_eq(must(p.call(c::echo_optional_string, std::optional<std::string>()), "opt str null"),
              std::optional<std::string>(), "echo_optional_string(null)");
    expect_eq(must(p.call(c::echo_optional_string, std::optional<std::string>("x")), "opt str"),
              std::optional<std::string>("x"), "echo_optional_string");
    expect_eq(must(p.call(c::echo_optional_int, std::optional<std::int64_t>()), "opt int"),
              std::optional<std::int64_t>(), "echo_optional_int(null)");
  });
  add("records", [&] {
    expect_eq(must(p.call(c::echo_point, c::Point{1, 2}), "echo_point"), c::Point{1, 2},
              "echo_point");
    expect_eq(must(p.call(c::inspect_point, c::Point{1, 2}), "inspect_point"),
              std::string("Point(1.0, 2.0)"), "inspect_point");
    const c::BoundingBox box{{0, 1}, {2, 3}, "box"};
    expect_eq(must(p.call(c::echo_bounding_box, box), "echo_bounding_box"), box,
              "echo_bounding_box");
    const auto all = sample_all_types();
    expect_eq(must(p.call(c::echo_all_types, all), "echo_all_types"), all, "echo_all_types");
    const auto wide = sample_wide();
    expect_eq(must(p.call(c::echo_wide_types, wide), "echo_wide_types"), wide, "echo_wide_types");
    c::ContainerWideTypes cw;
    cw.int32_list = {1, -2};
    cw.timestamp_list = {Timestamp(std::chrono::microseconds(5))};
    cw.decimal_map = {{"pi", {{31416, 0}}}};
    cw.optional_dates = {Date{1}, std::nullopt};
    cw.optional_u16_list = std::vector<std::uint16_t>{7, 8};
    expect_eq(must(p.call(c::echo_container_wide_types, cw), "echo_container_wide_types"), cw,
              "echo_container_wide_types");
    c::DeepNested deep;
    deep.level = 3;
    deep.middle.inner = {"in", {{1, 2}}};
    deep.middle.siblings = {{"s", {}}};
    deep.optional_middle = std::nullopt;
    expect_eq(must(p.call(c::echo_deep_nested, deep), "echo_deep_nested"), deep,
              "echo_deep_nested");
    c::EmbeddedArrow emb;
    emb.label = "batch";
    emb.batch = arrow::RecordBatch(arrow::schema({arrow::field("v", arrow::int32(), false)}), 3,
                                   {arrow::make_array<std::int32_t>(arrow::int32(), {1, 2, 3})});
    auto back = must(p.call(c::echo_embedded_arrow, emb), "echo_embedded_arrow");
    expect(back.label == "batch" && back.batch.num_rows() == 3 &&
               back.batch.column(0)->value<std::int32_t>(2) == 3,
           "echo_embedded_arrow values");
  });
  add("annotated", [&] {
    expect_eq(must(p.call(c::echo_int32, std::int32_t{-7}), "int32"), std::int32_t{-7}, "int32");
    expect_eq(must(p.call(c::echo_float32, 1.5F), "float32"), 1.5F, "float32");
    expect_eq(must(p.call(c::echo_int8, std::int8_t{-8}), "int8"), std::int8_t{-8}, "int8");
    expect_eq(must(p.call(c::echo_int16, std::int16_t{-16}), "int16"), std::int16_t{-16}, "int16");
    expect_eq(must(p.call(c::echo_uint8, std::uint8_t{200}), "uint8"), std::uint8_t{200}, "uint8");
    expect_eq(must(p.call(c::echo_uint16, std::uint16_t{60000}), "uint16"), std::uint16_t{60000},
              "uint16");
    expect_eq(must(p.call(c::echo_uint32, std::uint32_t{4000000000U}), "uint32"),
              std::uint32_t{4000000000U}, "uint32");
    expect_eq(must(p.call(c::echo_uint64, std::uint64_t{18446744073709551615ULL}), "uint64"),
              std::uint64_t{18446744073709551615ULL}, "uint64");
    expect_eq(must(p.call(c::echo_date, Date{19000}), "date"), Date{19000}, "date");
    expect_eq(must(p.call(c::echo_timestamp, NaiveTimestamp{123}), "ts"), NaiveTimestamp{123},
              "timestamp");
    const Timestamp t(std::chrono::microseconds(1'700'000'000'000'001));
    expect_eq(must(p.call(c::echo_timestamp_utc, t), "ts utc"), t, "timestamp_utc");
    expect_eq(must(p.call(c::echo_time, TimeOfDay{3600000000}), "time"), TimeOfDay{3600000000},
              "time");
    expect_eq(must(p.call(c::echo_duration, Duration(-42)), "duration"), Duration(-42), "duration");
    const Decimal<20, 4> d{{1234567, 0}};
    expect_eq(must(p.call(c::echo_decimal, d), "decimal"), d, "decimal");
    expect_eq(must(p.call(c::echo_large_string, LargeString{"big"}), "large string"),
              LargeString{"big"}, "large_string");
    expect_eq(must(p.call(c::echo_large_binary, LargeBytes{"b\x01"}), "large binary"),
              LargeBytes{"b\x01"}, "large_binary");
    FixedBytes<8> f;
    f.data = "abcdefgh";
    expect_eq(must(p.call(c::echo_fixed_binary, f), "fixed"), f, "fixed_binary");
    expect_eq(must(p.call(c::echo_dict_encoded_string, DictString{"dd"}), "dict string"),
              DictString{"dd"}, "dict_encoded_string");
  });
  add("multi_param", [&] {
    expect_eq(must(p.call(c::add_floats, 1.5, 2.25), "add_floats"), 3.75, "add_floats");
    expect_eq(must(p.call(c::concatenate, "a", "b"), "concatenate"), std::string("a-b"),
              "concatenate default");
    expect_eq(must(p.call(c::concatenate, "a", "b", "+"), "concatenate"), std::string("a+b"),
              "concatenate");
    expect_eq(must(p.call(c::with_defaults, std::int64_t{1}), "with_defaults"),
              std::string("required=1, optional_str=default, optional_int=42"), "with_defaults");
  });
  add("errors", [&] {
    auto e = must_fail(p.call(c::raise_value_error, "boom"), "raise_value_error");
    expect(e.type == "ValueError" && e.message == "boom",
           fmt::format("ValueError: boom, got {}: {}", e.type, e.message));
    e = must_fail(p.call(c::raise_runtime_error, "bang"), "raise_runtime_error");
    expect(e.type == "RuntimeError" && e.message == "bang", "RuntimeError: bang");
    e = must_fail(p.call(c::raise_type_error, "t"), "raise_type_error");
    expect(e.type == "TypeError", "TypeError");
    // The connection stays usable after an error.
    expect_eq(must(p.call(c::echo_string, "after"), "after error"), std::string("after"),
              "call after error");
    // Unknown method and protocol.
    Unary<std::string(std::string)> missing{"no_such_method", {"value"}};
    e = must_fail(p.call(missing, "x"), "unknown method");
    expect(e.kind == "method_not_implemented", "kind method_not_implemented, got " + e.kind);
    auto other = client.protocol("NoSuchProtocol.v1");
    e = must_fail(other.call(c::echo_string, "x"), "unknown protocol");
    expect(e.kind == "protocol_not_supported", "kind protocol_not_supported, got " + e.kind);
    // A wrong version.
    if (version_gate) {
      auto v2 = client.protocol(std::string(c::kProtocol), "2.0.0");
      e = must_fail(v2.call(c::echo_string, "x"), "version 2.0.0");
      expect(e.kind == "protocol_version_mismatch",
             "kind protocol_version_mismatch, got " + e.kind);
    }
    // Wrong parameter type: echo_string with an int64.
    Unary<std::string(std::int64_t)> wrong{"echo_string", {"value"}};
    must_fail(p.call(wrong, std::int64_t{1}), "wrong parameter type");
  });
  add("logging", [&] {
    take_logs();
    must(p.call(c::echo_with_info_log, "v"), "echo_with_info_log");
    auto l = take_logs();
    expect(l.size() == 1 && l[0].level == LogLevel::info && l[0].message == "info: v",
           "one INFO log");
    must(p.call(c::echo_with_multi_logs, "v"), "echo_with_multi_logs");
    l = take_logs();
    expect(l.size() == 3 && l[0].level == LogLevel::debug && l[2].level == LogLevel::warn,
           "DEBUG, INFO, WARN");
    must(p.call(c::echo_with_log_extras, "v"), "echo_with_log_extras");
    l = take_logs();
    expect(l.size() == 1 && l[0].extra_json.find("\"conformance\"") != std::string::npos,
           "extras carry source=conformance: " + (l.empty() ? "" : l[0].extra_json));
    must(p.call(c::echo_with_all_log_levels, "v"), "echo_with_all_log_levels");
    l = take_logs();
    expect(l.size() == 5 && l[0].level == LogLevel::trace && l[4].level == LogLevel::error,
           fmt::format("five levels, got {}", l.size()));
  });
  add("producer", [&] {
    auto s = must(p.produce(c::produce_n, std::int64_t{3}), "produce_n");
    auto rows = must(s.collect(), "produce_n rows");
    expect(rows.size() == 3 && rows[2].index == 2 && rows[2].value == 20, "produce_n(3)");
    auto e = must(p.produce(c::produce_empty), "produce_empty");
    expect(must(e.collect(), "produce_empty rows").empty(), "produce_empty");
    auto one = must(p.produce(c::produce_single), "produce_single");
    expect(must(one.collect(), "rows").size() == 1, "produce_single");
    auto large = must(p.produce(c::produce_large_batches, std::int64_t{1000}, std::int64_t{3}),
                      "produce_large_batches");
    expect(must(large.collect(), "rows").size() == 3000, "3000 rows");
    take_logs();
    auto logged = must(p.produce(c::produce_with_logs, std::int64_t{2}), "produce_with_logs");
    expect(must(logged.collect(), "rows").size() == 2, "two rows");
    expect(take_logs().size() == 2, "a log per batch");
    auto mid = must(p.produce(c::produce_error_mid_stream, std::int64_t{2}), "error mid stream");
    must(mid.next(), "first");
    must(mid.next(), "second");
    auto err = must_fail(mid.next(), "third");
    expect(err.message == "intentional error after 2 batches",
           "mid-stream message: " + err.message);
    auto init = p.produce(c::produce_error_on_init);
    if (init) {
      auto r = init->next();  // header-less: the error comes with the first tick
      auto ie = must_fail(std::move(r), "produce_error_on_init");
      expect(ie.message == "intentional init error", "init error message");
    } else {
      must_fail(std::move(init), "produce_error_on_init");
    }
    expect_eq(must(p.call(c::echo_int, std::int64_t{1}), "after init error"), std::int64_t{1},
              "call after init error");
  });
  add("producer_header", [&] {
    auto s = must(p.produce(c::produce_with_header, std::int64_t{2}), "produce_with_header");
    auto h = must(s.header(), "header");
    expect(h.total_expected == 2 && h.description == "producing 2 batches", "header values");
    expect(must(s.collect(), "rows").size() == 2, "rows");
    take_logs();
    auto l = must(p.produce(c::produce_with_header_and_logs, std::int64_t{1}), "with logs");
    auto logs_seen = take_logs();
    expect(!logs_seen.empty() && logs_seen[0].message == "stream init log", "init log in header");
    must(l.collect(), "rows");
    auto rich = must(p.produce(c::produce_with_rich_header, std::int64_t{5}, std::int64_t{1}),
                     "rich header");
    expect_eq(must(rich.header(), "rich"), c::rich_header(5), "rich header values");
    must(rich.collect(), "rows");
  });
  add("dynamic_schema", [&] {
    auto s =
        must(p.produce(c::produce_dynamic_schema, std::int64_t{1}, std::int64_t{2}, true, false),
             "produce_dynamic_schema");
    auto b = must(s.next(), "first batch");
    expect(b.has_value() && b->num_columns() == 2 && b->schema()->field(1)->name() == "label" &&
               b->column(1)->bytes_value(0) == "row-0",
           "index + label");
    must(s.close(), "close");
  });
  add("exchange", [&] {
    auto s = must(p.exchange(c::exchange_scale, 2.0), "exchange_scale");
    auto out = must(s.exchange({{1.5}, {2.0}}), "exchange");
    expect(out.size() == 2 && out[0].value == 3.0 && out[1].value == 4.0, "scaled");
    out = must(s.exchange({{-1}}), "exchange 2");
    expect(out.size() == 1 && out[0].value == -2.0, "scaled again");
    must(s.close(), "close");
    auto acc = must(p.exchange(c::exchange_accumulate), "exchange_accumulate");
    must(acc.exchange({{1}, {2}}), "acc 1");
    auto a2 = must(acc.exchange({{3}}), "acc 2");
    expect(a2.size() == 1 && a2[0].running_sum == 6.0 && a2[0].exchange_count == 2, "accumulated");
    must(acc.close(), "close");
    take_logs();
    auto wl = must(p.exchange(c::exchange_with_logs), "exchange_with_logs");
    must(wl.exchange({{1}}), "with logs");
    expect(take_logs().size() == 2, "INFO + DEBUG");
    must(wl.close(), "close");
    auto nth = must(p.exchange(c::exchange_error_on_nth, std::int64_t{2}), "error on nth");
    must(nth.exchange({{1}}), "first");
    auto e = must_fail(nth.exchange({{1}}), "second fails");
    expect(e.message == "intentional error on exchange 2", "nth message: " + e.message);
    auto zero = must(p.exchange(c::exchange_zero_columns), "zero columns");
    auto z = must(zero.exchange(std::vector<c::NoColumns>(3)), "zero");
    expect(z.size() == 3, "three zero-column rows");
    must(zero.close(), "close");
    auto ie = p.exchange(c::exchange_error_on_init);
    if (ie) must_fail(ie->exchange({{1}}), "exchange_error_on_init");
    auto hdr = must(p.exchange(c::exchange_with_header, 2.0), "exchange_with_header");
    expect(must(hdr.header(), "header").description == "scale by 2.0", "header description");
    must(hdr.exchange({{1}}), "exchange");
    must(hdr.close(), "close");
    auto over = must(p.exchange(c::exchange_oversized, std::int64_t{5000}), "exchange_oversized");
    expect(must(over.exchange({{1}}), "oversized").size() == 5000, "5000 rows");
    must(over.close(), "close");
  });
  add("cast_compatible", [&] {
    auto s = must(p.exchange(c::exchange_cast_compatible), "exchange_cast_compatible");
    // An int32 column where the method takes float64: the server casts.
    arrow::RecordBatch in(arrow::schema({arrow::field("value", arrow::int32(), true)}), 2,
                          {arrow::make_array<std::int32_t>(arrow::int32(), {7, 8})});
    auto out = must(s.raw().exchange(in), "exchange int32");
    expect(out.column(0)->type_id() == arrow::TypeId::float64 &&
               out.column(0)->value<double>(1) == 8.0,
           "cast to float64");
    must(s.close(), "close");
  });
  add("cancel", [&] {
    // One stream at a time, each ended before the next call, so that every
    // call reuses the one pooled connection (with exec: the same worker).
    must(p.call(c::reset_cancel_probe), "reset");
    {
      auto s = must(p.produce(c::cancellable_producer), "cancellable_producer");
      must(s.next(), "tick 1");
      must(s.next(), "tick 2");
      must(s.cancel(), "cancel");
    }
    {
      auto e = must(p.exchange(c::cancellable_exchange), "cancellable_exchange");
      must(e.exchange({{1}}), "exchange");
      must(e.cancel(), "cancel");
    }
    auto counts = must(p.call(c::cancel_probe_counters), "counters");
    expect(counts.size() == 3 && counts[0] == 2 && counts[1] == 1 && counts[2] == 2,
           fmt::format("probe [2,1,2], got [{}]", fmt::join(counts, ",")));
  });
  add("async", [&] {
    std::vector<std::future<Result<std::string>>> futures;
    futures.reserve(8);
    for (int i = 0; i < 8; ++i) futures.push_back(p.call_async(c::echo_string, std::to_string(i)));
    for (int i = 0; i < 8; ++i)
      expect_eq(must(futures[static_cast<std::size_t>(i)].get(), "async"), std::to_string(i),
                "async value");
  });
  if (secondary) {
    add("secondary", [&] {
      auto s = client.protocol(std::string(c::kSecondary));
      expect_eq(must(s.call(c::secondary::echo_string, "x"), "secondary echo"),
                std::string("secondary:x"), "secondary echo");
      auto e = must_fail(s.call(c::secondary::fail, "UNAVAILABLE", "server_draining", 1.5), "fail");
      expect(e.has_code && e.code == Code::unavailable && e.kind == "server_draining" &&
                 e.details.find("RetryInfo") != std::string::npos,
             "UNAVAILABLE with RetryInfo");
      e = must_fail(s.call(c::secondary::fail_oversized), "fail_oversized");
      expect(e.details.empty(), "oversized details dropped");
      auto list = must(client.list_protocols(), "list");
      for (const auto& ps : list.protocols)
        if (ps.protocol == c::kSecondary)
          expect(ps.protocol_hash ==
                     "58557cf1611546ad22d1c379bc3ce1b04166082f78375e9fc959f0086347eab6",
                 "pinned secondary hash, got " + ps.protocol_hash);
    });
  }

  if (shm_bytes > 0) {
    add("shared_memory", [&, expect_shm] {
      // 1 MiB result and a 512 KiB parameter: above the 128 KiB threshold.
      const CallSpec big{std::string(c::kProtocol), std::string(c::kVersion), "oversized_unary"};
      auto params =
          detail::build_params<std::int64_t>(c::oversized_unary.params, c::oversized_unary.defaults,
                                             std::index_sequence<0>{}, 1 << 20);
      auto r = must(client.call(big, must(std::move(params), "params")), "oversized_unary");
      expect(r.column(0)->bytes_value(0) == std::string(1 << 20, '\0'), "1 MiB of zeros");
      expect(r.metadata().contains(key::shm_source) == expect_shm,
             expect_shm ? "the result came through the segment"
                        : "the result came inline (the server declined shared memory)");
      const std::string payload(std::size_t{512} << 10, 'p');
      expect_eq(must(p.call(c::echo_bytes, Bytes{payload}), "echo_bytes").data, payload,
                "512 KiB echo_bytes");
    });
  }

  int failed = 0;
  for (auto& [name, f] : checks) {
    std::string error;
    try {
      f();
    } catch (const CheckFailed& e) {
      error = e.what;
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!error.empty()) ++failed;
    std::string escaped;
    for (const char ch : error) {
      if (ch == '"' || ch == '\\') escaped += '\\';
      if (static_cast<unsigned char>(ch) < 0x20) {
        escaped += ' ';
        continue;
      }
      escaped += ch;
    }
    std::printf("{\"check\":\"%s\",\"ok\":%s,\"error\":\"%s\"}\n", name.c_str(),
                error.empty() ? "true" : "false", escaped.c_str());
    std::fflush(stdout);
  }
  std::printf("{\"checks\":%zu,\"failed\":%d}\n", checks.size(), failed);
  return failed == 0 ? 0 : 1;
}
