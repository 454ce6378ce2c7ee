#include <sluice/arrow/sample.hpp>

#include <sluice/arrow/builder.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <functional>

namespace sluice::arrow {

namespace {

bool is_null_row(std::int64_t i) { return i % 5 == 4; }

template <typename T>
ArrayPtr column(const TypePtr& type, std::int64_t first, std::int64_t rows,
                const std::function<T(std::int64_t)>& f) {
  std::vector<std::optional<T>> v;
  v.reserve(static_cast<std::size_t>(rows));
  for (std::int64_t i = first; i < first + rows; ++i) {
    if (is_null_row(i))
      v.emplace_back(std::nullopt);
    else
      v.emplace_back(f(i));
  }
  return make_array<T>(type, v);
}

ArrayPtr strings(const TypePtr& type, std::int64_t first, std::int64_t rows,
                 const std::function<std::string(std::int64_t)>& f) {
  std::vector<std::optional<std::string>> v;
  v.reserve(static_cast<std::size_t>(rows));
  for (std::int64_t i = first; i < first + rows; ++i) {
    if (is_null_row(i))
      v.emplace_back(std::nullopt);
    else
      v.emplace_back(f(i));
  }
  return make_binary_array(type, v);
}

// Child values of the rows before `first` (so a batch starting at row r has
// the same child indices k as rows r.. of a batch starting at 0).
std::int64_t children_before(std::int64_t first, std::int64_t modulus) {
  std::int64_t k = 0;
  for (std::int64_t i = 0; i < first; ++i)
    if (!is_null_row(i)) k += i % modulus;
  return k;
}

std::vector<std::optional<std::int64_t>> list_sizes(std::int64_t first, std::int64_t rows,
                                                    std::int64_t modulus, std::int64_t* total) {
  std::vector<std::optional<std::int64_t>> sizes;
  *total = 0;
  for (std::int64_t i = first; i < first + rows; ++i) {
    if (is_null_row(i)) {
      sizes.emplace_back(std::nullopt);
    } else {
      sizes.emplace_back(i % modulus);
      *total += i % modulus;
    }
  }
  return sizes;
}

std::uint64_t wrap_mul(std::uint64_t a, std::uint64_t b) {
  return a * b;
}  // modulo 2^64 by definition

struct ColumnDef {
  std::string name;
  TypePtr type;
  bool nullable;
  std::function<ArrayPtr(std::int64_t first, std::int64_t rows)> make;
};

std::vector<ColumnDef> definitions() {
  using I = std::int64_t;
  std::vector<ColumnDef> d;
  auto add = [&](std::string name, TypePtr t, std::function<ArrayPtr(I, I)> f,
                 bool nullable = true) {
    d.push_back({std::move(name), std::move(t), nullable, std::move(f)});
  };
  add("null", null(), [](I, I n) { return make_null_array(n); });
  add("bool", boolean(), [](I first, I n) {
    std::vector<std::optional<bool>> v;
    for (I i = first; i < first + n; ++i)
      v.push_back(is_null_row(i) ? std::nullopt : std::optional<bool>(i % 3 != 0));
    return make_bool_array(v);
  });
  add("int8", int8(), [](I f, I n) {
    return column<std::int8_t>(int8(), f, n,
                               [](I i) { return static_cast<std::int8_t>((i * 37) % 200 - 100); });
  });
  add("int16", int16(), [](I f, I n) {
    return column<std::int16_t>(
        int16(), f, n, [](I i) { return static_cast<std::int16_t>((i * 1237) % 60000 - 30000); });
  });
  add("int32", int32(), [](I f, I n) {
    return column<std::int32_t>(int32(), f, n, [](I i) {
      return static_cast<std::int32_t>((i * 7919) % 2000000000 - 1000000000);
    });
  });
  add("int64", int64(), [](I f, I n) {
    return column<std::int64_t>(int64(), f, n,
                                [](I i) { return i * 1000000000039LL - 4611686018427387904LL; });
  });
  add("uint8", uint8(), [](I f, I n) {
    return column<std::uint8_t>(uint8(), f, n,
                                [](I i) { return static_cast<std::uint8_t>((i * 13) % 256); });
  });
  add("uint16", uint16(), [](I f, I n) {
    return column<std::uint16_t>(
        uint16(), f, n, [](I i) { return static_cast<std::uint16_t>((i * 2531) % 65536); });
  });
  add("uint32", uint32(), [](I f, I n) {
    return column<std::uint32_t>(uint32(), f, n, [](I i) {
      return static_cast<std::uint32_t>(wrap_mul(static_cast<std::uint64_t>(i), 2654435761u) %
                                        4294967296u);
    });
  });
  add("uint64", uint64(), [](I f, I n) {
    return column<std::uint64_t>(uint64(), f, n, [](I i) {
      return wrap_mul(static_cast<std::uint64_t>(i), 11400714819323198485ull);
    });
  });
  add("float16", float16(), [](I f, I n) {
    return column<std::uint16_t>(float16(), f, n, [](I i) {
      return float_to_half(static_cast<float>(i % 64) * 0.5f - 8.0f);
    });
  });
  add("float32", float32(), [](I f, I n) {
    return column<float>(float32(), f, n,
                         [](I i) { return static_cast<float>(i) * 0.25f - 10.0f; });
  });
  add("float64", float64(), [](I f, I n) {
    return column<double>(float64(), f, n, [](I i) { return static_cast<double>(i) * 0.1; });
  });
  add("utf8", utf8(), [](I f, I n) {
    return strings(utf8(), f, n, [](I i) {
      std::string one = fmt::format("v{}\xc3\xa9", i);
      std::string s;
      for (I r = 0; r < i % 4; ++r) s += one;
      return s;
    });
  });
  add("large_utf8", large_utf8(), [](I f, I n) {
    return strings(large_utf8(), f, n, [](I i) { return fmt::format("L{}", i); });
  });
  add("binary", binary(), [](I f, I n) {
    return strings(binary(), f, n, [](I i) {
      std::string s;
      for (I j = 0; j < i % 5; ++j) s += static_cast<char>((i + j) % 256);
      return s;
    });
  });
  add("large_binary", large_binary(), [](I f, I n) {
    return strings(large_binary(), f, n, [](I i) {
      std::string s;
      for (I j = 0; j < i % 3; ++j) s += static_cast<char>((i * 7 + j) % 256);
      return s;
    });
  });
  add("fixed_size_binary", fixed_size_binary(4), [](I f, I n) {
    return strings(fixed_size_binary(4), f, n, [](I i) {
      std::string s;
      s += static_cast<char>(i % 256);
      s += static_cast<char>((i + 1) % 256);
      s += static_cast<char>((i * 2) % 256);
      s += static_cast<char>(255 - i % 256);
      return s;
    });
  });
  add("decimal128", decimal128(20, 3), [](I f, I n) {
    return column<Decimal128>(decimal128(20, 3), f, n, [](I i) {
      const I v = i * 1000003 - 500000;
      return Decimal128{static_cast<std::uint64_t>(v), v < 0 ? -1 : 0};
    });
  });
  add("date32", date32(), [](I f, I n) {
    return column<std::int32_t>(date32(), f, n,
                                [](I i) { return static_cast<std::int32_t>(i * 37 - 10000); });
  });
  add("date64", date64(), [](I f, I n) {
    return column<std::int64_t>(date64(), f, n, [](I i) { return (i * 37 - 10000) * 86400000LL; });
  });
  add("time32_s", time32(TimeUnit::second), [](I f, I n) {
    return column<std::int32_t>(time32(TimeUnit::second), f, n,
                                [](I i) { return static_cast<std::int32_t>((i * 3727) % 86400); });
  });
  add("time32_ms", time32(TimeUnit::milli), [](I f, I n) {
    return column<std::int32_t>(time32(TimeUnit::milli), f, n, [](I i) {
      return static_cast<std::int32_t>((i * 3727001) % 86400000);
    });
  });
  add("time64_us", time64(TimeUnit::micro), [](I f, I n) {
    return column<std::int64_t>(time64(TimeUnit::micro), f, n,
                                [](I i) { return (i * 3727000123LL) % 86400000000LL; });
  });
  add("time64_ns", time64(TimeUnit::nano), [](I f, I n) {
    return column<std::int64_t>(time64(TimeUnit::nano), f, n,
                                [](I i) { return (i * 3727000123457LL) % 86400000000000LL; });
  });
  add("ts_s_tz", timestamp(TimeUnit::second, "+07:30"), [](I f, I n) {
    return column<std::int64_t>(timestamp(TimeUnit::second, "+07:30"), f, n,
                                [](I i) { return 1700000000LL + i * 3601; });
  });
  add("ts_ms_tz", timestamp(TimeUnit::milli, "America/New_York"), [](I f, I n) {
    return column<std::int64_t>(timestamp(TimeUnit::milli, "America/New_York"), f, n,
                                [](I i) { return 1700000000000LL + i * 3600001; });
  });
  add("ts_us_utc", timestamp(TimeUnit::micro, "UTC"), [](I f, I n) {
    return column<std::int64_t>(timestamp(TimeUnit::micro, "UTC"), f, n,
                                [](I i) { return 1700000000000000LL + i * 1000001; });
  });
  add("ts_ns", timestamp(TimeUnit::nano), [](I f, I n) {
    return column<std::int64_t>(timestamp(TimeUnit::nano), f, n,
                                [](I i) { return 1700000000000000000LL + i * 999999937LL; });
  });
  add("dur_s", duration(TimeUnit::second), [](I f, I n) {
    return column<std::int64_t>(duration(TimeUnit::second), f, n, [](I i) { return i * 1000 - 7; });
  });
  add("dur_ms", duration(TimeUnit::milli), [](I f, I n) {
    return column<std::int64_t>(duration(TimeUnit::milli), f, n,
                                [](I i) { return i * 1000003 - 11; });
  });
  add("dur_us", duration(TimeUnit::micro), [](I f, I n) {
    return column<std::int64_t>(duration(TimeUnit::micro), f, n,
                                [](I i) { return i * 1000000007LL - 13; });
  });
  add("dur_ns", duration(TimeUnit::nano), [](I f, I n) {
    return column<std::int64_t>(duration(TimeUnit::nano), f, n,
                                [](I i) { return i * 1000000000039LL - 17; });
  });
  add("interval_ym", interval_months(), [](I f, I n) {
    return column<std::int32_t>(interval_months(), f, n,
                                [](I i) { return static_cast<std::int32_t>(i - 50); });
  });
  add("interval_dt", interval_day_time(), [](I f, I n) {
    return column<DayTimeInterval>(interval_day_time(), f, n, [](I i) {
      return DayTimeInterval{static_cast<std::int32_t>(i),
                             static_cast<std::int32_t>(i * 1000 - 500)};
    });
  });
  add("interval_mdn", interval_month_day_nano(), [](I f, I n) {
    return column<MonthDayNanoInterval>(interval_month_day_nano(), f, n, [](I i) {
      return MonthDayNanoInterval{static_cast<std::int32_t>(i % 13), static_cast<std::int32_t>(-i),
                                  i * 1000000007LL};
    });
  });
  add("list_i32", list(int32()), [](I f, I n) {
    I total = 0;
    auto sizes = list_sizes(f, n, 4, &total);
    const I k0 = children_before(f, 4);
    std::vector<std::optional<std::int32_t>> vals;
    for (I k = k0; k < k0 + total; ++k)
      vals.push_back(k % 6 == 5
                         ? std::nullopt
                         : std::optional<std::int32_t>(static_cast<std::int32_t>(k * 2 - 1)));
    return make_list_array(list(int32()), sizes, make_array<std::int32_t>(int32(), vals));
  });
  add("large_list_utf8", large_list(utf8()), [](I f, I n) {
    I total = 0;
    auto sizes = list_sizes(f, n, 3, &total);
    const I k0 = children_before(f, 3);
    std::vector<std::optional<std::string>> vals;
    for (I k = k0; k < k0 + total; ++k) vals.emplace_back(fmt::format("e{}", k));
    return make_list_array(large_list(utf8()), sizes, make_binary_array(utf8(), vals));
  });
  add("fsl_f64", fixed_size_list(float64(), 3), [](I f, I n) {
    std::vector<std::optional<double>> vals;
    std::vector<bool> valid;
    for (I i = f; i < f + n; ++i) {
      for (I j = 0; j < 3; ++j) vals.emplace_back(static_cast<double>(i * 3 + j) * 0.5);
      valid.push_back(!is_null_row(i));
    }
    return make_fixed_size_list_array(fixed_size_list(float64(), 3), n,
                                      make_array<double>(float64(), vals), valid);
  });
  const TypePtr inner = struct_({field("d", boolean())});
  const TypePtr st = struct_({field("a", int32()), field("b", utf8(), false), field("c", inner)});
  add("struct", st, [st, inner](I f, I n) {
    std::vector<std::optional<std::int32_t>> a;
    std::vector<std::optional<std::string>> b;
    std::vector<std::optional<bool>> dv;
    std::vector<bool> c_valid, valid;
    for (I i = f; i < f + n; ++i) {
      a.push_back(i % 3 == 1 ? std::nullopt
                             : std::optional<std::int32_t>(static_cast<std::int32_t>(i * 11)));
      b.emplace_back(fmt::format("b{}", i));
      dv.emplace_back(i % 2 == 0);
      c_valid.push_back(i % 7 != 6);
      valid.push_back(!is_null_row(i));
    }
    auto c = make_struct_array(inner, n, {make_bool_array(dv)}, c_valid);
    return make_struct_array(
        st, n, {make_array<std::int32_t>(int32(), a), make_binary_array(utf8(), b), c}, valid);
  });
  add("map", map(utf8(), int64()), [](I f, I n) {
    I total = 0;
    auto sizes = list_sizes(f, n, 3, &total);
    const I k0 = children_before(f, 3);
    std::vector<std::optional<std::string>> keys;
    std::vector<std::optional<std::int64_t>> items;
    for (I k = k0; k < k0 + total; ++k) {
      keys.emplace_back(fmt::format("k{}", k));
      items.push_back(k % 4 == 3 ? std::nullopt : std::optional<std::int64_t>(k * 100));
    }
    return make_map_array(map(utf8(), int64()), sizes, make_binary_array(utf8(), keys),
                          make_array<std::int64_t>(int64(), items));
  });
  const TypePtr du = dictionary(int32(), utf8());
  add("dict_utf8", du, [du](I f, I n) {
    static const ArrayPtr dict =
        make_binary_array(utf8(), {"alpha", "beta", "gamma", "delta", "epsilon"});
    std::vector<std::optional<std::int32_t>> idx;
    for (I i = f; i < f + n; ++i)
      idx.push_back(is_null_row(i) ? std::nullopt
                                   : std::optional<std::int32_t>(static_cast<std::int32_t>(i % 5)));
    return make_dictionary_array(du, make_array<std::int32_t>(int32(), idx), dict);
  });
  const TypePtr di = dictionary(int8(), int64());
  add("dict_i64", di, [di](I f, I n) {
    static const ArrayPtr dict = make_array<std::int64_t>(int64(), {10, 20, 30, 40});
    std::vector<std::optional<std::int8_t>> idx;
    for (I i = f; i < f + n; ++i)
      idx.push_back(is_null_row(i)
                        ? std::nullopt
                        : std::optional<std::int8_t>(static_cast<std::int8_t>((i * 3) % 4)));
    return make_dictionary_array(di, make_array<std::int8_t>(int8(), idx), dict);
  });
  return d;
}

}  // namespace

std::vector<std::string> sample_column_names() {
  std::vector<std::string> names;
  for (const auto& d : definitions()) names.push_back(d.name);
  return names;
}

RecordBatch make_sample_batch(std::int64_t rows, const SampleOptions& options,
                              std::int64_t first_row) {
  std::vector<FieldPtr> fields;
  std::vector<ArrayPtr> columns;
  for (const auto& d : definitions()) {
    if (std::find(options.exclude.begin(), options.exclude.end(), d.name) != options.exclude.end())
      continue;
    fields.push_back(field(d.name, d.type, d.nullable));
    columns.push_back(d.make(first_row, rows));
  }
  auto r = RecordBatch::make(schema(std::move(fields), options.schema_metadata), rows,
                             std::move(columns), options.batch_metadata);
  SLUICE_CHECK(r.has_value(), "sample batch: {}", r.error().what());
  return std::move(r).value();
}

}  // namespace sluice::arrow
