#include <sluice/arrow/builder.hpp>
#include <sluice/tools/json_arrow.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstring>
#include <limits>
#include <utility>

namespace sluice::tools {

namespace {

using nlohmann::json;
__extension__ using int128 = __int128;  // decimal128's unscaled values (38 digits)
using Values = std::vector<const json*>;

std::string show(const json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

Result<void> check_nulls(const Values& values, bool nullable, const arrow::DataType& type) {
  if (nullable) return ok();
  for (const json* v : values)
    if (v->is_null())
      return fail(Errc::invalid_argument, "null where {} is not nullable", type.to_string());
  return ok();
}

std::vector<bool> validity(const Values& values) {
  std::vector<bool> valid;
  bool any_null = false;
  valid.reserve(values.size());
  for (const json* v : values) {
    valid.push_back(!v->is_null());
    any_null |= v->is_null();
  }
  if (!any_null) valid.clear();
  return valid;
}

template <typename T>
Result<arrow::ArrayPtr> integers(const arrow::TypePtr& type, const Values& values) {
  std::vector<std::optional<T>> out;
  out.reserve(values.size());
  for (const json* v : values) {
    if (v->is_null()) {
      out.emplace_back();
      continue;
    }
    std::optional<T> x;
    if (v->is_number_unsigned()) {
      const auto u = v->get<std::uint64_t>();
      if (std::in_range<T>(u)) x = static_cast<T>(u);
    } else if (v->is_number_integer()) {
      const auto i = v->get<std::int64_t>();
      if (std::in_range<T>(i)) x = static_cast<T>(i);
    } else if (v->is_string()) {  // 64-bit values beyond 2^53 may come quoted
      const auto& s = v->get_ref<const std::string&>();
      T parsed{};
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), parsed);
      if (ec == std::errc() && end == s.data() + s.size()) x = parsed;
    }
    if (!x)
      return fail(Errc::invalid_argument, "{} is not a {} value", show(*v), type->to_string());
    out.push_back(x);
  }
  return arrow::make_array<T>(type, out);
}

template <typename T>
Result<arrow::ArrayPtr> floats(const arrow::TypePtr& type, const Values& values) {
  std::vector<std::optional<T>> out;
  out.reserve(values.size());
  for (const json* v : values) {
    if (v->is_null()) {
      out.emplace_back();
    } else if (v->is_number()) {
      out.emplace_back(static_cast<T>(v->get<double>()));
    } else {
      return fail(Errc::invalid_argument, "{} is not a number", show(*v));
    }
  }
  return arrow::make_array<T>(type, out);
}

Result<std::vector<std::optional<std::string>>> strings(const arrow::DataType& type,
                                                        const Values& values) {
  std::vector<std::optional<std::string>> out;
  out.reserve(values.size());
  for (const json* v : values) {
    if (v->is_null()) {
      out.emplace_back();
    } else if (v->is_string()) {
      out.emplace_back(v->get<std::string>());
    } else {
      return fail(Errc::invalid_argument, "{} is not a string ({})", show(*v), type.to_string());
    }
  }
  return out;
}

// "123.4567" (or a JSON number) as the unscaled integer of decimal128(p, s).
Result<arrow::Decimal128> decimal_value(const json& v, const arrow::DataType& type) {
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  std::string_view t = s;
  bool negative = false;
  if (!t.empty() && (t.front() == '-' || t.front() == '+')) {
    negative = t.front() == '-';
    t.remove_prefix(1);
  }
  const auto dot = t.find('.');
  const std::string_view whole = t.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? "" : t.substr(dot + 1);
  const auto digits_only = [](std::string_view d) {
    for (const char ch : d)
      if (ch < '0' || ch > '9') return false;
    return true;
  };
  if ((whole.empty() && frac.empty()) || !digits_only(whole) || !digits_only(frac))
    return fail(Errc::invalid_argument, "{} is not a decimal number", show(v));
  if (frac.size() > static_cast<std::size_t>(type.scale()))
    return fail(Errc::invalid_argument, "{} has more than {} decimal places ({})", show(v),
                type.scale(), type.to_string());
  std::string all = std::string(whole) + std::string(frac);
  all.append(static_cast<std::size_t>(type.scale()) - frac.size(), '0');
  while (all.size() > 1 && all.front() == '0') all.erase(all.begin());
  if (all.size() > static_cast<std::size_t>(type.precision()))
    return fail(Errc::invalid_argument, "{} has more than {} digits ({})", show(v),
                type.precision(), type.to_string());
  int128 x = 0;
  for (const char ch : all) x = x * 10 + (ch - '0');
  if (negative) x = -x;
  arrow::Decimal128 d;
  d.low = static_cast<std::uint64_t>(x);
  d.high = static_cast<std::int64_t>(x >> 64);
  return d;
}

// "2024-01-31" as days since 1970-01-01 (proleptic Gregorian).
Result<std::int32_t> date_value(const json& v) {
  if (v.is_number_integer()) {
    const auto d = v.get<std::int64_t>();
    if (d >= std::numeric_limits<std::int32_t>::min() &&
        d <= std::numeric_limits<std::int32_t>::max())
      return static_cast<std::int32_t>(d);
  }
  if (v.is_string()) {
    int y = 0;
    unsigned m = 0;
    unsigned d = 0;
    const auto& s = v.get_ref<const std::string&>();
    const char* p = s.data();
    const char* end = s.data() + s.size();
    auto number = [&](auto& out) {
      const auto r = std::from_chars(p, end, out);
      p = r.ptr;
      return r.ec == std::errc();
    };
    auto dash = [&] { return p < end && *p++ == '-'; };
    if (number(y) && dash() && number(m) && dash() && number(d) && p == end && m >= 1 && m <= 12 &&
        d >= 1 && d <= 31) {
      // Days from civil (Howard Hinnant's algorithm).
      y -= m <= 2 ? 1 : 0;
      const int era = (y >= 0 ? y : y - 399) / 400;
      const auto yoe = static_cast<unsigned>(y - era * 400);
      const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
      const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
      return static_cast<std::int32_t>(era * 146097 + static_cast<int>(doe) - 719468);
    }
  }
  return fail(Errc::invalid_argument, "{} is not a date (YYYY-MM-DD or days since 1970-01-01)",
              show(v));
}

Result<arrow::ArrayPtr> lists(const arrow::TypePtr& type, const Values& values) {
  Values children;
  std::vector<std::optional<std::int64_t>> sizes;
  sizes.reserve(values.size());
  for (const json* v : values) {
    if (v->is_null()) {
      sizes.emplace_back();
      continue;
    }
    if (!v->is_array())
      return fail(Errc::invalid_argument, "{} is not a list ({})", show(*v), type->to_string());
    if (type->id() == arrow::TypeId::fixed_size_list &&
        v->size() != static_cast<std::size_t>(type->fixed_size()))
      return fail(Errc::invalid_argument, "{} does not hold {} values", show(*v),
                  type->fixed_size());
    sizes.emplace_back(static_cast<std::int64_t>(v->size()));
    for (const json& e : *v) children.push_back(&e);
  }
  const auto& item = type->value_field();
  SLUICE_TRY_ASSIGN(auto child, array_from_json(item->type(), item->nullable(), children));
  if (type->id() == arrow::TypeId::fixed_size_list)
    return arrow::make_fixed_size_list_array(type, static_cast<std::int64_t>(values.size()), child,
                                             validity(values));
  return arrow::make_list_array(type, sizes, child);
}

Result<arrow::ArrayPtr> maps(const arrow::TypePtr& type, const Values& values) {
  const auto& entries = type->value_field()->type();
  const auto& key = entries->fields().at(0);
  const auto& item = entries->fields().at(1);
  std::vector<json> keys;  // the object keys as JSON strings
  Values items;
  std::vector<std::optional<std::int64_t>> sizes;
  for (const json* v : values) {
    if (v->is_null()) {
      sizes.emplace_back();
      continue;
    }
    if (!v->is_object())
      return fail(Errc::invalid_argument, "{} is not an object ({})", show(*v), type->to_string());
    sizes.emplace_back(static_cast<std::int64_t>(v->size()));
    for (auto it = v->begin(); it != v->end(); ++it) {
      keys.emplace_back(it.key());
      items.push_back(&it.value());
    }
  }
  Values key_ptrs;
  key_ptrs.reserve(keys.size());
  for (const json& k : keys) key_ptrs.push_back(&k);
  SLUICE_TRY_ASSIGN(auto k, array_from_json(key->type(), false, key_ptrs));
  SLUICE_TRY_ASSIGN(auto i, array_from_json(item->type(), item->nullable(), items));
  return arrow::make_map_array(type, sizes, k, i);
}

Result<arrow::ArrayPtr> structs(const arrow::TypePtr& type, const Values& values) {
  static const json null_value;
  std::vector<arrow::ArrayPtr> children;
  for (const json* v : values)
    if (!v->is_null() && !v->is_object())
      return fail(Errc::invalid_argument, "{} is not an object ({})", show(*v), type->to_string());
  for (const auto& f : type->fields()) {
    Values column;
    column.reserve(values.size());
    for (const json* v : values) {
      const auto it = v->is_object() ? v->find(f->name()) : v->end();
      column.push_back(v->is_object() && it != v->end() ? &*it : &null_value);
    }
    auto child = array_from_json(f->type(), f->nullable(), column);
    if (!child) return fail(child.error().context(fmt::format("field '{}'", f->name())));
    children.push_back(std::move(child).value());
  }
  return arrow::make_struct_array(type, static_cast<std::int64_t>(values.size()),
                                  std::move(children), validity(values));
}

// dictionary<int*, utf8>: each distinct string once in the dictionary.
Result<arrow::ArrayPtr> dictionaries(const arrow::TypePtr& type, const Values& values) {
  if (type->value_type()->id() != arrow::TypeId::utf8 &&
      type->value_type()->id() != arrow::TypeId::large_utf8)
    return fail(Errc::not_supported, "{} from JSON (only string dictionaries)", type->to_string());
  std::vector<json> distinct;
  std::vector<json> indices;
  for (const json* v : values) {
    if (v->is_null()) {
      indices.emplace_back(nullptr);
      continue;
    }
    if (!v->is_string())
      return fail(Errc::invalid_argument, "{} is not a string ({})", show(*v), type->to_string());
    std::size_t k = 0;
    while (k < distinct.size() && distinct[k] != *v) ++k;
    if (k == distinct.size()) distinct.push_back(*v);
    indices.emplace_back(k);
  }
  Values dp;
  Values ip;
  for (const json& d : distinct) dp.push_back(&d);
  for (const json& i : indices) ip.push_back(&i);
  SLUICE_TRY_ASSIGN(auto dict, array_from_json(type->value_type(), false, dp));
  SLUICE_TRY_ASSIGN(auto idx, array_from_json(type->index_type(), true, ip));
  return arrow::make_dictionary_array(type, idx, dict);
}

}  // namespace

Result<arrow::ArrayPtr> array_from_json(const arrow::TypePtr& type, bool nullable,
                                        const Values& values) {
  using arrow::TypeId;
  SLUICE_TRY(check_nulls(values, nullable, *type));
  switch (type->id()) {
    case TypeId::boolean: {
      std::vector<std::optional<bool>> out;
      for (const json* v : values) {
        if (!v->is_null() && !v->is_boolean())
          return fail(Errc::invalid_argument, "{} is not true or false", show(*v));
        out.push_back(v->is_null() ? std::nullopt : std::optional<bool>(v->get<bool>()));
      }
      return arrow::make_bool_array(out);
    }
    case TypeId::int8:
      return integers<std::int8_t>(type, values);
    case TypeId::int16:
      return integers<std::int16_t>(type, values);
    case TypeId::int32:
      return integers<std::int32_t>(type, values);
    case TypeId::int64:
    case TypeId::timestamp:
    case TypeId::duration:
    case TypeId::date64:
      return integers<std::int64_t>(type, values);
    case TypeId::time32:
      return integers<std::int32_t>(type, values);
    case TypeId::time64:
      return integers<std::int64_t>(type, values);
    case TypeId::uint8:
      return integers<std::uint8_t>(type, values);
    case TypeId::uint16:
      return integers<std::uint16_t>(type, values);
    case TypeId::uint32:
      return integers<std::uint32_t>(type, values);
    case TypeId::uint64:
      return integers<std::uint64_t>(type, values);
    case TypeId::float32:
      return floats<float>(type, values);
    case TypeId::float64:
      return floats<double>(type, values);
    case TypeId::utf8:
    case TypeId::large_utf8:
    case TypeId::binary:
    case TypeId::large_binary:
    case TypeId::fixed_size_binary: {
      SLUICE_TRY_ASSIGN(auto s, strings(*type, values));
      if (type->id() == TypeId::fixed_size_binary)
        for (const auto& v : s)
          if (v && v->size() != static_cast<std::size_t>(type->fixed_size()))
            return fail(Errc::invalid_argument, "\"{}\" is {} bytes, {} takes {}", *v, v->size(),
                        type->to_string(), type->fixed_size());
      return arrow::make_binary_array(type, s);
    }
    case TypeId::decimal128: {
      std::vector<std::optional<arrow::Decimal128>> out;
      for (const json* v : values) {
        if (v->is_null()) {
          out.emplace_back();
          continue;
        }
        SLUICE_TRY_ASSIGN(auto x, decimal_value(*v, *type));
        out.emplace_back(x);
      }
      return arrow::make_array<arrow::Decimal128>(type, out);
    }
    case TypeId::date32: {
      std::vector<std::optional<std::int32_t>> out;
      for (const json* v : values) {
        if (v->is_null()) {
          out.emplace_back();
          continue;
        }
        SLUICE_TRY_ASSIGN(auto d, date_value(*v));
        out.emplace_back(d);
      }
      return arrow::make_array<std::int32_t>(type, out);
    }
    case TypeId::list:
    case TypeId::large_list:
    case TypeId::fixed_size_list:
      return lists(type, values);
    case TypeId::map:
      return maps(type, values);
    case TypeId::struct_:
      return structs(type, values);
    case TypeId::dictionary:
      return dictionaries(type, values);
    default:
      return fail(Errc::not_supported, "parameters of type {} from the command line",
                  type->to_string());
  }
}

Result<arrow::RecordBatch> row_from_json(const arrow::SchemaPtr& schema, const json& row) {
  static const json null_value;
  std::vector<arrow::ArrayPtr> columns;
  for (const auto& f : schema->fields()) {
    const auto it = row.find(f->name());
    const json* v = it != row.end() ? &*it : &null_value;
    // A null at the top level is how a caller leaves a parameter to its
    // default: the server substitutes it, or says the parameter is required.
    auto a = array_from_json(f->type(), true, {v});
    if (!a) return fail(a.error().context(fmt::format("parameter '{}'", f->name())));
    columns.push_back(std::move(a).value());
  }
  for (auto it = row.begin(); it != row.end(); ++it)
    if (schema->field_index(it.key()) < 0)
      return fail(Errc::invalid_argument, "the method has no parameter '{}' (it takes: {})",
                  it.key(), [&] {
                    std::string names;
                    for (const auto& f : schema->fields())
                      names += (names.empty() ? "" : ", ") + f->name();
                    return names.empty() ? std::string("none") : names;
                  }());
  return arrow::RecordBatch(schema, 1, std::move(columns));
}

}  // namespace sluice::tools
