#include <sluice/arrow/print.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

namespace sluice::arrow {

namespace {

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
void civil_from_days(std::int64_t z, std::int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<std::int64_t>(yoe) + era * 400 + (*m <= 2);
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

std::string format_date(std::int64_t days) {
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  return fmt::format("{:04}-{:02}-{:02}", y, m, d);
}

std::int64_t unit_per_second(TimeUnit u) {
  switch (u) {
    case TimeUnit::second:
      return 1;
    case TimeUnit::milli:
      return 1000;
    case TimeUnit::micro:
      return 1000000;
    case TimeUnit::nano:
      return 1000000000;
  }
  return 1;
}

std::string format_fraction(std::int64_t frac, TimeUnit u) {
  switch (u) {
    case TimeUnit::second:
      return "";
    case TimeUnit::milli:
      return fmt::format(".{:03}", frac);
    case TimeUnit::micro:
      return fmt::format(".{:06}", frac);
    case TimeUnit::nano:
      return fmt::format(".{:09}", frac);
  }
  return "";
}

// v = secs * per + frac with 0 <= frac < per, without overflowing at the
// extremes of int64.
void split(std::int64_t v, std::int64_t per, std::int64_t* secs, std::int64_t* frac) {
  std::int64_t q = v / per;
  std::int64_t f = v % per;
  if (f < 0) {
    f += per;
    --q;
  }
  *frac = f;
  *secs = q;
}

std::string format_time_of_day(std::int64_t v, TimeUnit u) {
  std::int64_t secs, frac;
  split(v, unit_per_second(u), &secs, &frac);
  std::int64_t sod = secs % 86400;
  if (sod < 0) sod += 86400;
  return fmt::format("{:02}:{:02}:{:02}{}", sod / 3600, (sod / 60) % 60, sod % 60,
                     format_fraction(frac, u));
}

std::string format_timestamp(std::int64_t v, const DataType& t) {
  std::int64_t secs, frac;
  split(v, unit_per_second(t.unit()), &secs, &frac);
  std::int64_t days, sod;
  split(secs, 86400, &days, &sod);
  std::string s = fmt::format("{}T{:02}:{:02}:{:02}{}", format_date(days), sod / 3600,
                              (sod / 60) % 60, sod % 60, format_fraction(frac, t.unit()));
  if (!t.timezone().empty())
    s += t.timezone() == "UTC" || t.timezone() == "+00:00" ? "Z" : "[" + t.timezone() + "]";
  return s;
}

std::string hex(std::string_view v) {
  std::string s = "0x";
  for (char c : v) s += fmt::format("{:02x}", static_cast<unsigned char>(c));
  return s;
}

std::string quote(std::string_view v) {
  std::string s = "\"";
  for (char c : v) {
    switch (c) {
      case '"':
        s += "\\\"";
        break;
      case '\\':
        s += "\\\\";
        break;
      case '\n':
        s += "\\n";
        break;
      case '\r':
        s += "\\r";
        break;
      case '\t':
        s += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          s += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else
          s += c;
    }
  }
  return s + "\"";
}

std::string format_float(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);
}

enum class Style { text, json };

std::string render(const Array& a, std::int64_t i, Style style);

std::string render_scalar(const Array& a, std::int64_t i, Style style) {
  const DataType& t = *a.type();
  const bool json = style == Style::json;
  switch (t.id()) {
    case TypeId::boolean:
      return a.bool_value(i) ? "true" : "false";
    case TypeId::int8:
    case TypeId::int16:
    case TypeId::int32:
    case TypeId::uint8:
    case TypeId::uint16:
    case TypeId::uint32:
      return fmt::format("{}", a.int_value(i));
    case TypeId::int64: {
      const std::int64_t v = a.int_value(i);
      if (json && (v > (std::int64_t{1} << 53) || v < -(std::int64_t{1} << 53)))
        return fmt::format("\"{}\"", v);
      return fmt::format("{}", v);
    }
    case TypeId::uint64: {
      const std::uint64_t v = a.uint_value(i);
      if (json && v > (std::uint64_t{1} << 53)) return fmt::format("\"{}\"", v);
      return fmt::format("{}", v);
    }
    case TypeId::float16: {
      const float f = half_to_float(a.value<std::uint16_t>(i));
      return json && !std::isfinite(f) ? "null" : format_float(static_cast<double>(f));
    }
    case TypeId::float32: {
      const float f = a.value<float>(i);
      return json && !std::isfinite(f) ? "null" : format_float(static_cast<double>(f));
    }
    case TypeId::float64: {
      const double f = a.value<double>(i);
      return json && !std::isfinite(f) ? "null" : format_float(f);
    }
    case TypeId::utf8:
    case TypeId::large_utf8:
      return quote(a.bytes_value(i));
    case TypeId::binary:
    case TypeId::large_binary:
    case TypeId::fixed_size_binary:
      return json ? quote(hex(a.bytes_value(i))) : hex(a.bytes_value(i));
    case TypeId::decimal128: {
      const std::string s = decimal128_to_string(a.value<Decimal128>(i), t.scale());
      return json ? quote(s) : s;
    }
    case TypeId::date32: {
      const std::string s = format_date(a.int_value(i));
      return json ? quote(s) : s;
    }
    case TypeId::date64: {
      const std::string s = format_date(floor_div(a.int_value(i), 86400000));
      return json ? quote(s) : s;
    }
    case TypeId::time32:
    case TypeId::time64: {
      const std::string s = format_time_of_day(a.int_value(i), t.unit());
      return json ? quote(s) : s;
    }
    case TypeId::timestamp: {
      const std::string s = format_timestamp(a.int_value(i), t);
      return json ? quote(s) : s;
    }
    case TypeId::duration: {
      const std::int64_t v = a.int_value(i);
      return json ? fmt::format("{}", v) : fmt::format("{}{}", v, time_unit_name(t.unit()));
    }
    case TypeId::interval_months: {
      const std::int64_t v = a.int_value(i);
      return json ? fmt::format("{{\"months\": {}}}", v) : fmt::format("{}M", v);
    }
    case TypeId::interval_day_time: {
      const auto v = a.value<DayTimeInterval>(i);
      return json ? fmt::format("{{\"days\": {}, \"milliseconds\": {}}}", v.days, v.milliseconds)
                  : fmt::format("{}d{}ms", v.days, v.milliseconds);
    }
    case TypeId::interval_month_day_nano: {
      const auto v = a.value<MonthDayNanoInterval>(i);
      return json ? fmt::format("{{\"months\": {}, \"days\": {}, \"nanoseconds\": {}}}", v.months,
                                v.days, v.nanoseconds)
                  : fmt::format("{}M{}d{}ns", v.months, v.days, v.nanoseconds);
    }
    default:
      return "?";
  }
}

std::string render(const Array& a, std::int64_t i, Style style) {
  if (!a.is_valid(i)) return "null";
  const DataType& t = *a.type();
  switch (t.id()) {
    case TypeId::list:
    case TypeId::large_list:
    case TypeId::fixed_size_list: {
      const auto [b, e] = a.list_range(i);
      std::string s = "[";
      for (std::int64_t k = b; k < e; ++k) {
        if (k != b) s += ", ";
        s += render(*a.child(0), k, style);
      }
      return s + "]";
    }
    case TypeId::map: {
      const auto [b, e] = a.list_range(i);
      const Array& entries = *a.child(0);
      const Array& keys = *entries.child(0);
      const Array& items = *entries.child(1);
      std::string s = style == Style::json ? "[" : "{";
      for (std::int64_t k = b; k < e; ++k) {
        if (k != b) s += ", ";
        const std::int64_t pos = entries.offset() + k;
        if (style == Style::json)
          s += fmt::format("[{}, {}]", render(keys, pos, style), render(items, pos, style));
        else
          s += fmt::format("{}: {}", render(keys, pos, style), render(items, pos, style));
      }
      return s + (style == Style::json ? "]" : "}");
    }
    case TypeId::struct_: {
      std::string s = "{";
      for (std::size_t c = 0; c < a.children().size(); ++c) {
        if (c) s += ", ";
        const std::string& name = t.fields()[c]->name();
        s += style == Style::json ? quote(name) : name;
        s += ": ";
        s += render(*a.child(c), a.offset() + i, style);
      }
      return s + "}";
    }
    case TypeId::dictionary: {
      const std::int64_t k = a.dictionary_index(i);
      if (k < 0) return "null";
      return render(*a.dictionary(), k, style);
    }
    default:
      return render_scalar(a, i, style);
  }
}

}  // namespace

std::string decimal128_to_string(const Decimal128& v, std::int32_t scale) {
  const i128 x =
      static_cast<i128>((static_cast<u128>(static_cast<std::uint64_t>(v.high)) << 64) | v.low);
  const bool neg = x < 0;
  u128 u = neg ? static_cast<u128>(-(x + 1)) + 1 : static_cast<u128>(x);
  std::string digits;
  do {
    digits += static_cast<char>('0' + static_cast<int>(u % 10));
    u /= 10;
  } while (u != 0);
  std::reverse(digits.begin(), digits.end());
  if (scale > 64 || scale < -64) {
    // Scale is any int32 in the type: print an exponent rather than pad.
    digits += fmt::format("e{}", -static_cast<std::int64_t>(scale));
  } else if (scale > 0) {
    const auto sc = static_cast<std::size_t>(scale);
    if (digits.size() <= sc) digits.insert(0, sc - digits.size() + 1, '0');
    digits.insert(digits.size() - sc, 1, '.');
  } else if (scale < 0) {
    digits.append(static_cast<std::size_t>(-static_cast<std::int64_t>(scale)), '0');
  }
  return neg ? "-" + digits : digits;
}

std::string format_value(const Array& array, std::int64_t i) {
  return render(array, i, Style::text);
}

std::string value_to_json(const Array& array, std::int64_t i) {
  return render(array, i, Style::json);
}

std::string format_table(const RecordBatch& batch, std::int64_t max_rows) {
  const std::size_t ncols = batch.num_columns();
  const std::int64_t nrows = std::min(batch.num_rows(), max_rows);
  std::vector<std::vector<std::string>> cells(ncols);
  std::vector<std::size_t> widths(ncols);
  for (std::size_t c = 0; c < ncols; ++c) {
    const auto& f = batch.schema()->field(c);
    cells[c].push_back(f->name() + ": " + f->type()->to_string());
    for (std::int64_t r = 0; r < nrows; ++r) {
      std::string v = format_value(*batch.column(c), r);
      if (v.size() > 60) v = v.substr(0, 57) + "...";
      cells[c].push_back(std::move(v));
    }
    for (const auto& s : cells[c]) widths[c] = std::max(widths[c], s.size());
  }
  std::string out;
  auto row = [&](std::size_t r) {
    for (std::size_t c = 0; c < ncols; ++c) {
      if (c) out += " | ";
      out += fmt::format("{:<{}}", cells[c][r], widths[c]);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  };
  row(0);
  for (std::size_t c = 0; c < ncols; ++c) {
    if (c) out += "-+-";
    out += std::string(widths[c], '-');
  }
  out += '\n';
  for (std::int64_t r = 0; r < nrows; ++r) row(static_cast<std::size_t>(r + 1));
  if (nrows < batch.num_rows()) out += fmt::format("... {} more rows\n", batch.num_rows() - nrows);
  return out;
}

std::string batch_to_json_rows(const RecordBatch& batch) {
  std::string out;
  for (std::int64_t r = 0; r < batch.num_rows(); ++r) {
    out += '{';
    for (std::size_t c = 0; c < batch.num_columns(); ++c) {
      if (c) out += ", ";
      out += quote(batch.schema()->field(c)->name());
      out += ": ";
      out += value_to_json(*batch.column(c), r);
    }
    out += "}\n";
  }
  return out;
}

}  // namespace sluice::arrow
