#pragma once
// C++ types <-> Arrow columns for RPC parameters, results, headers and stream
// rows (PROTOCOL.md §3.1). A service declares C++ types; the schemas, the
// reflection description and the client stubs follow from Codec<T>.
//
//   bool, int8_t ... uint64_t, float, double  bool, int8 ... uint64, float32/64
//   std::string                               utf8
//   Bytes                                     binary
//   LargeString / LargeBytes                  large_utf8 / large_binary
//   FixedBytes<N>                             fixed_size_binary(N)
//   DictString                                dictionary<int16, utf8>
//   an enum with EnumNames<E>                 dictionary<int16, utf8> of member names
//   Date                                      date32 (days since 1970-01-01)
//   Timestamp                                 timestamp[us, UTC] (sys_time<microseconds>)
//   NaiveTimestamp                            timestamp[us]
//   TimeOfDay                                 time64[us]
//   Duration                                  duration[us] (std::chrono::microseconds)
//   Decimal<P, S>                             decimal128(P, S)
//   std::optional<T>                          T, nullable
//   std::vector<T>                            list<item: T> (item nullable, as pyarrow)
//   std::map<K, V>                            map<key: K, value: V>
//   a record (static sluice_fields())         struct<...> when nested; at the top level
//                                             (a parameter or result) binary holding
//                                             a one-row IPC stream, as vgi-rpc does
//                                             for dataclasses
//   arrow::RecordBatch                        binary holding an IPC stream
//
// A record lists its members once:
//   struct Point {
//     double x = 0, y = 0;
//     static constexpr auto sluice_fields() {
//       return std::tuple{rpc::member("x", &Point::x), rpc::member("y", &Point::y)};
//     }
//   };

#include <sluice/arrow/array.hpp>
#include <sluice/arrow/builder.hpp>
#include <sluice/arrow/ipc.hpp>
#include <sluice/base/result.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

namespace sluice::rpc {

struct Bytes {
  std::string data;
  friend bool operator==(const Bytes&, const Bytes&) = default;
};
struct LargeString {
  std::string value;
  friend bool operator==(const LargeString&, const LargeString&) = default;
};
struct LargeBytes {
  std::string data;
  friend bool operator==(const LargeBytes&, const LargeBytes&) = default;
};
template <int N>
struct FixedBytes {
  std::string data = std::string(static_cast<std::size_t>(N), '\0');  // exactly N bytes
  friend bool operator==(const FixedBytes&, const FixedBytes&) = default;
};
struct DictString {
  std::string value;
  friend bool operator==(const DictString&, const DictString&) = default;
};
struct Date {
  std::int32_t days = 0;
  friend bool operator==(const Date&, const Date&) = default;
};
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;
struct NaiveTimestamp {
  std::int64_t micros = 0;
  friend bool operator==(const NaiveTimestamp&, const NaiveTimestamp&) = default;
};
struct TimeOfDay {
  std::int64_t micros = 0;
  friend bool operator==(const TimeOfDay&, const TimeOfDay&) = default;
};
using Duration = std::chrono::microseconds;
template <int P, int S>
struct Decimal {
  arrow::Decimal128 value;  // unscaled
  friend bool operator==(const Decimal&, const Decimal&) = default;
};

// Specialise with `static constexpr std::array<std::string_view, N> names`
// (index = the enumerator's value, 0..N-1).
template <typename E>
struct EnumNames;

template <typename T, typename M>
struct Member {
  std::string_view name;
  M T::*ptr;
};
template <typename T, typename M>
constexpr Member<T, M> member(std::string_view name, M T::*ptr) {
  return {name, ptr};
}

template <typename T>
concept RecordType = requires {
  T::sluice_fields();
};
template <typename E>
concept NamedEnum = std::is_enum_v<E> && requires {
  EnumNames<E>::names;
};

template <typename T>
struct Codec;

namespace detail {

template <typename T>
struct is_optional : std::false_type {};
template <typename T>
struct is_optional<std::optional<T>> : std::true_type {};

inline Error decode_error(std::string_view what, const arrow::Array& a) {
  return Error(Errc::type_error,
               fmt::format("cannot read {} from a column of {}", what, a.type()->to_string()));
}

template <typename V, typename T>
arrow::ArrayPtr fixed(const arrow::TypePtr& type, std::span<const T* const> v, auto get) {
  std::vector<std::optional<V>> out;
  out.reserve(v.size());
  for (const T* p : v) out.push_back(p != nullptr ? std::optional<V>(get(*p)) : std::nullopt);
  return arrow::make_array<V>(type, out);
}

template <typename T>
arrow::ArrayPtr binary_like(const arrow::TypePtr& type, std::span<const T* const> v, auto get) {
  std::vector<std::optional<std::string>> out;
  out.reserve(v.size());
  for (const T* p : v)
    out.push_back(p != nullptr ? std::optional<std::string>(get(*p)) : std::nullopt);
  return arrow::make_binary_array(type, out);
}

inline arrow::ArrayPtr dictionary_of(const arrow::TypePtr& type,
                                     const std::vector<std::optional<std::int16_t>>& idx,
                                     const std::vector<std::optional<std::string>>& dict) {
  return arrow::make_dictionary_array(type, arrow::make_array<std::int16_t>(arrow::int16(), idx),
                                      arrow::make_binary_array(arrow::utf8(), dict));
}

inline bool is_string_dictionary(const arrow::Array& a) {
  return a.type_id() == arrow::TypeId::dictionary && a.dictionary() &&
         (a.dictionary()->type_id() == arrow::TypeId::utf8 ||
          a.dictionary()->type_id() == arrow::TypeId::large_utf8);
}

inline Result<std::string_view> dictionary_string(const arrow::Array& a, std::int64_t i) {
  if (!is_string_dictionary(a)) return fail(decode_error("a dictionary string", a));
  const std::int64_t k = a.dictionary_index(i);
  if (k < 0 || k >= a.dictionary()->length())
    return fail(Errc::parse_error, "dictionary index {} outside {} entries", k,
                a.dictionary()->length());
  return a.dictionary()->bytes_value(k);
}

}  // namespace detail

// Numbers ---------------------------------------------------------------------------------------

template <typename T>
requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool> &&
         !std::is_same_v<T, char>) struct Codec<T> {
  static constexpr bool nullable = false;
  static arrow::TypePtr type() {
    if constexpr (std::is_same_v<T, float>)
      return arrow::float32();
    else if constexpr (std::is_same_v<T, double>)
      return arrow::float64();
    else if constexpr (std::is_signed_v<T> && sizeof(T) == 1)
      return arrow::int8();
    else if constexpr (std::is_signed_v<T> && sizeof(T) == 2)
      return arrow::int16();
    else if constexpr (std::is_signed_v<T> && sizeof(T) == 4)
      return arrow::int32();
    else if constexpr (std::is_signed_v<T> && sizeof(T) == 8)
      return arrow::int64();
    else if constexpr (sizeof(T) == 1)
      return arrow::uint8();
    else if constexpr (sizeof(T) == 2)
      return arrow::uint16();
    else if constexpr (sizeof(T) == 4)
      return arrow::uint32();
    else
      return arrow::uint64();
  }
  static arrow::ArrayPtr build(std::span<const T* const> v) {
    return detail::fixed<T, T>(type(), v, [](const T& x) { return x; });
  }
  static Result<T> read(const arrow::Array& a, std::int64_t i) {
    if (!a.type()->equals(*type())) return fail(detail::decode_error(type()->to_string(), a));
    return a.value<T>(i);
  }
};

template <>
struct Codec<bool> {
  static constexpr bool nullable = false;
  static arrow::TypePtr type() { return arrow::boolean(); }
  static arrow::ArrayPtr build(std::span<const bool* const> v) {
    std::vector<std::optional<bool>> out;
    out.reserve(v.size());
    for (const bool* p : v) out.push_back(p != nullptr ? std::optional<bool>(*p) : std::nullopt);
    return arrow::make_bool_array(out);
  }
  static Result<bool> read(const arrow::Array& a, std::int64_t i) {
    if (a.type_id() != arrow::TypeId::boolean) return fail(detail::decode_error("bool", a));
    return a.bool_value(i);
  }
};

// Strings and bytes ---------------------------------------------------------------------------

template <typename T, auto TypeFn, auto Field, arrow::TypeId Id>
struct BinaryCodec {
  static constexpr bool nullable = false;
  static arrow::TypePtr type() { return TypeFn(); }
  static arrow::ArrayPtr build(std::span<const T* const> v) {
    return detail::binary_like<T>(type(), v, [](const T& x) -> const std::string& {
      if constexpr (Field == nullptr)
        return x;
      else
        return x.*Field;
    });
  }
  static Result<T> read(const arrow::Array& a, std::int64_t i) {
    if (a.type_id() != Id) return fail(detail::decode_error(type()->to_string(), a));
    T out{};
    if constexpr (Field == nullptr)
      out = std::string(a.bytes_value(i));
    else
      out.*Field = std::string(a.bytes_value(i));
    return out;
  }
};

template <>
struct Codec<std::string>
    : BinaryCodec<std::string, &arrow::utf8, static_cast<std::string std::string::*>(nullptr),
                  arrow::TypeId::utf8> {};
template <>
struct Codec<Bytes> : BinaryCodec<Bytes, &arrow::binary, &Bytes::data, arrow::TypeId::binary> {};
template <>
struct Codec<LargeString>
    : BinaryCodec<LargeString, &arrow::large_utf8, &LargeString::value, arrow::TypeId::large_utf8> {
};
template <>
struct Codec<LargeBytes> : BinaryCodec<LargeBytes, &arrow::large_binary, &LargeBytes::data,
                                       arrow::TypeId::large_binary> {};

template <int N>
struct Codec<FixedBytes<N>> {
  static constexpr bool nullable = false;
  static arrow::TypePtr type() { return arrow::fixed_size_binary(N); }
  static arrow::ArrayPtr build(std::span<const FixedBytes<N>* const> v) {
    std::string raw;
    std::vector<bool> valid;
    bool any_null = false;
    for (const auto* p : v) {
      std::string d = p != nullptr ? p->data : std::string();
      d.resize(static_cast<std::size_t>(N), '\0');
      raw += d;
      valid.push_back(p != nullptr);
      any_null = any_null || p == nullptr;
    }
    if (!any_null) valid.clear();
    return arrow::make_fixed_width(type(), raw.data(), static_cast<std::int64_t>(v.size()), valid);
  }
  static Result<FixedBytes<N>> read(const arrow::Array& a, std::int64_t i) {
    if (!a.type()->equals(*type())) return fail(detail::decode_error(type()->to_string(), a));
    FixedBytes<N> out;
    out.data.assign(reinterpret_cast<const char*>(a.fixed_value_ptr(i, N)), N);
    return out;
  }
};

template <>
struct Codec<DictString> {
  static constexpr bool nullable = false;
  static arrow::TypePtr type() { return arrow::dictionary(arrow::int16(), arrow::utf8()); }
  static arrow::ArrayPtr build(std::span<const DictString* const> v) {
    std::vector<std::optional<std::string>> dict;
    std::map<std::string, std::int16_t> seen;
    std::vector<std::optional<std::int16_t>> idx;
    for (const auto* p : v) {
      if (p == nullptr) {
        idx.emplace_back();
        continue;
      }
      auto [it, fresh] = seen.try_emplace(p->value, static_cast<std::int16_t>(dict.size()));
      if (fresh) dict.emplace_back(p->value);
      idx.emplace_back(it->second);
    }
    return detail::dictionary_of(type(), idx, dict);
  }
  static Result<DictString> read(const arrow::Array& a, std::int64_t i) {
    SLUICE_TRY_ASSIGN(std::string_view s, detail::dictionary_string(a, i));
    return DictString{std::string(s)};
  }
};

template <NamedEnum E>
struct Codec<E> {
  static constexpr bool nullable = false;
  static arrow::TypePtr type() { return arrow::dictionary(arrow::int16(), arrow::utf8()); }
  static arrow::ArrayPtr build(std::span<const E* const> v) {
    std::vector<std::optional<std::string>> dict;
    for (const auto n : EnumNames<E>::names) dict.emplace_back(std::string(n));
    std::vector<std::optional<std::int16_t>> idx;
    for (const E* p : v)
      idx.push_back(p != nullptr ? std::optional<std::int16_t>(static_cast<std::int16_t>(*p))
                                 : std::nullopt);
    return detail::dictionary_of(type(), idx, dict);
  }
  static Result<E> read(const arrow::Array& a, std::int64_t i) {
    SLUICE_TRY_ASSIGN(std::string_view s, detail::dictionary_string(a, i));
    const auto& names = EnumNames<E>::names;
    for (std::size_t k = 0; k < names.size(); ++k)
      if (names[k] == s) return static_cast<E>(k);
    return fail(Errc::invalid_argument, "'{}' is not a member of the enum", s);
  }
};

// Time ---------------------------------------------------------------------------------------

template <typename T, typename V, auto TypeFn, auto Get, auto Make>
struct TemporalCodec {
  static constexpr bool nullable = false;
  static arrow::TypePtr type() { return TypeFn(); }
  static arrow::ArrayPtr build(std::span<const T* const> v) {
    return detail::fixed<V, T>(type(), v, Get);
  }
  static Result<T> read(const arrow::Array& a, std::int64_t i) {
    if (!a.type()->equals(*type())) return fail(detail::decode_error(type()->to_string(), a));
    return Make(a.value<V>(i));
  }
};

namespace detail {
inline arrow::TypePtr ts_utc() { return arrow::timestamp(arrow::TimeUnit::micro, "UTC"); }
inline arrow::TypePtr ts_naive() { return arrow::timestamp(arrow::TimeUnit::micro); }
inline arrow::TypePtr time_us() { return arrow::time64(arrow::TimeUnit::micro); }
inline arrow::TypePtr duration_us() { return arrow::duration(arrow::TimeUnit::micro); }
}  // namespace detail

namespace detail {
inline std::int32_t date_days(const Date& d) { return d.days; }
inline Date make_date(std::int32_t x) { return Date{x}; }
inline std::int64_t ts_micros(const Timestamp& t) { return t.time_since_epoch().count(); }
inline Timestamp make_ts(std::int64_t x) { return Timestamp(std::chrono::microseconds(x)); }
inline std::int64_t naive_micros(const NaiveTimestamp& t) { return t.micros; }
inline NaiveTimestamp make_naive(std::int64_t x) { return NaiveTimestamp{x}; }
inline std::int64_t tod_micros(const TimeOfDay& t) { return t.micros; }
inline TimeOfDay make_tod(std::int64_t x) { return TimeOfDay{x}; }
inline std::int64_t duration_micros(const Duration& d) { return d.count(); }
inline Duration make_duration(std::int64_t x) { return Duration(x); }
}  // namespace detail

template <>
struct Codec<Date>
    : TemporalCodec<Date, std::int32_t, &arrow::date32, &detail::date_days, &detail::make_date> {};
template <>
struct Codec<Timestamp> : TemporalCodec<Timestamp, std::int64_t, &detail::ts_utc,
                                        &detail::ts_micros, &detail::make_ts> {};
template <>
struct Codec<NaiveTimestamp> : TemporalCodec<NaiveTimestamp, std::int64_t, &detail::ts_naive,
                                             &detail::naive_micros, &detail::make_naive> {};
template <>
struct Codec<TimeOfDay> : TemporalCodec<TimeOfDay, std::int64_t, &detail::time_us,
                                        &detail::tod_micros, &detail::make_tod> {};
template <>
struct Codec<Duration> : TemporalCodec<Duration, std::int64_t, &detail::duration_us,
                                       &detail::duration_micros, &detail::make_duration> {};

template <int P, int S>
struct Codec<Decimal<P, S>> {
  static constexpr bool nullable = false;
  static arrow::TypePtr type() { return arrow::decimal128(P, S); }
  static arrow::ArrayPtr build(std::span<const Decimal<P, S>* const> v) {
    return detail::fixed<arrow::Decimal128, Decimal<P, S>>(
        type(), v, [](const Decimal<P, S>& d) { return d.value; });
  }
  static Result<Decimal<P, S>> read(const arrow::Array& a, std::int64_t i) {
    if (!a.type()->equals(*type())) return fail(detail::decode_error(type()->to_string(), a));
    return Decimal<P, S>{a.value<arrow::Decimal128>(i)};
  }
};

// Containers ------------------------------------------------------------------------------------

template <typename T>
struct Codec<std::optional<T>> {
  static constexpr bool nullable = true;
  static arrow::TypePtr type() { return Codec<T>::type(); }
  static arrow::ArrayPtr build(std::span<const std::optional<T>* const> v) {
    std::vector<const T*> inner;
    inner.reserve(v.size());
    for (const auto* p : v) inner.push_back(p != nullptr && p->has_value() ? &**p : nullptr);
    return Codec<T>::build(inner);
  }
  static Result<std::optional<T>> read(const arrow::Array& a, std::int64_t i) {
    if (a.is_null(i)) return std::optional<T>();
    SLUICE_TRY_ASSIGN(T v, Codec<T>::read(a, i));
    return std::optional<T>(std::move(v));
  }
};

template <typename T>
struct Codec<std::vector<T>> {
  static constexpr bool nullable = false;
  static arrow::TypePtr type() { return arrow::list(arrow::field("item", Codec<T>::type(), true)); }
  static arrow::ArrayPtr build(std::span<const std::vector<T>* const> v) {
    std::vector<std::optional<std::int64_t>> sizes;
    std::vector<const T*> items;
    for (const auto* p : v) {
      if (p == nullptr) {
        sizes.emplace_back();
        continue;
      }
      sizes.emplace_back(static_cast<std::int64_t>(p->size()));
      for (const T& x : *p) items.push_back(&x);
    }
    return arrow::make_list_array(type(), sizes, Codec<T>::build(items));
  }
  static Result<std::vector<T>> read(const arrow::Array& a, std::int64_t i) {
    if (a.type_id() != arrow::TypeId::list && a.type_id() != arrow::TypeId::large_list)
      return fail(detail::decode_error("a list", a));
    const auto [begin, end] = a.list_range(i);
    std::vector<T> out;
    out.reserve(static_cast<std::size_t>(end - begin));
    for (std::int64_t k = begin; k < end; ++k) {
      SLUICE_TRY_ASSIGN(T x, Codec<T>::read(*a.child(0), k));
      out.push_back(std::move(x));
    }
    return out;
  }
};

template <typename K, typename V>
struct Codec<std::map<K, V>> {
  static constexpr bool nullable = false;
  static arrow::TypePtr type() { return arrow::map(Codec<K>::type(), Codec<V>::type()); }
  static arrow::ArrayPtr build(std::span<const std::map<K, V>* const> v) {
    std::vector<std::optional<std::int64_t>> sizes;
    std::vector<const K*> keys;
    std::vector<const V*> values;
    for (const auto* p : v) {
      if (p == nullptr) {
        sizes.emplace_back();
        continue;
      }
      sizes.emplace_back(static_cast<std::int64_t>(p->size()));
      for (const auto& [k, x] : *p) keys.push_back(&k), values.push_back(&x);
    }
    return arrow::make_map_array(type(), sizes, Codec<K>::build(keys), Codec<V>::build(values));
  }
  static Result<std::map<K, V>> read(const arrow::Array& a, std::int64_t i) {
    if (a.type_id() != arrow::TypeId::map) return fail(detail::decode_error("a map", a));
    const auto [begin, end] = a.list_range(i);
    const arrow::Array& entries = *a.child(0);
    std::map<K, V> out;
    for (std::int64_t k = begin; k < end; ++k) {
      SLUICE_TRY_ASSIGN(K key, Codec<K>::read(*entries.child(0), k));
      SLUICE_TRY_ASSIGN(V value, Codec<V>::read(*entries.child(1), k));
      out.insert_or_assign(std::move(key), std::move(value));
    }
    return out;
  }
};

// Records: struct columns ---------------------------------------------------------------------

template <RecordType T>
struct Codec<T> {
  static constexpr bool nullable = false;
  static std::vector<arrow::FieldPtr> fields() {
    std::vector<arrow::FieldPtr> out;
    std::apply(
        [&](auto... m) {
          (out.push_back(arrow::field(
               std::string(m.name),
               Codec<std::remove_cvref_t<decltype(std::declval<T>().*(m.ptr))>>::type(),
               Codec<std::remove_cvref_t<decltype(std::declval<T>().*(m.ptr))>>::nullable)),
           ...);
        },
        T::sluice_fields());
    return out;
  }
  static arrow::TypePtr type() { return arrow::struct_(fields()); }
  static arrow::SchemaPtr schema() { return arrow::schema(fields()); }

  // One column per member.
  static std::vector<arrow::ArrayPtr> columns(std::span<const T* const> v) {
    std::vector<arrow::ArrayPtr> out;
    std::apply(
        [&](auto... m) {
          (
              [&] {
                using M = std::remove_cvref_t<decltype(std::declval<T>().*(m.ptr))>;
                std::vector<const M*> col;
                col.reserve(v.size());
                for (const T* p : v) col.push_back(p != nullptr ? &(p->*(m.ptr)) : nullptr);
                out.push_back(Codec<M>::build(col));
              }(),
              ...);
        },
        T::sluice_fields());
    return out;
  }
  static arrow::ArrayPtr build(std::span<const T* const> v) {
    std::vector<bool> valid;
    bool any_null = false;
    for (const T* p : v) valid.push_back(p != nullptr), any_null = any_null || p == nullptr;
    if (!any_null) valid.clear();
    return arrow::make_struct_array(type(), static_cast<std::int64_t>(v.size()), columns(v), valid);
  }
  // Members from the columns (a struct array's children, or a batch's columns).
  static Result<T> read_columns(const std::vector<arrow::ArrayPtr>& cols, std::int64_t i) {
    T out{};
    Result<void> status = ok();
    std::size_t k = 0;
    std::apply(
        [&](auto... m) {
          (
              [&] {
                using M = std::remove_cvref_t<decltype(std::declval<T>().*(m.ptr))>;
                const std::size_t at = k++;
                if (!static_cast<bool>(status)) return;
                if (at >= cols.size()) {
                  status = fail(Errc::type_error, "record field '{}' missing", m.name);
                  return;
                }
                auto r = Codec<M>::read(*cols[at], i);
                if (!static_cast<bool>(r)) {
                  status = fail(r.error().context(fmt::format("field '{}'", m.name)));
                  return;
                }
                out.*(m.ptr) = std::move(r).value();
              }(),
              ...);
        },
        T::sluice_fields());
    if (!static_cast<bool>(status)) return fail(status.error());
    return out;
  }
  static Result<T> read(const arrow::Array& a, std::int64_t i) {
    if (!a.type()->equals(*type())) return fail(detail::decode_error(type()->to_string(), a));
    return read_columns(a.children(), i);
  }
};

// Batches -------------------------------------------------------------------------------------

template <>
struct Codec<arrow::RecordBatch> {
  static constexpr bool nullable = false;
  static arrow::TypePtr type() { return arrow::binary(); }
  static arrow::ArrayPtr build(std::span<const arrow::RecordBatch* const> v) {
    std::vector<std::optional<std::string>> out;
    for (const auto* p : v) {
      if (p == nullptr) {
        out.emplace_back();
        continue;
      }
      auto bytes = arrow::ipc::write_stream(p->schema(), {*p});
      SLUICE_CHECK(static_cast<bool>(bytes), "encode batch: {}", bytes.error().what());
      out.emplace_back(std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
    }
    return arrow::make_binary_array(arrow::binary(), out);
  }
  static Result<arrow::RecordBatch> read(const arrow::Array& a, std::int64_t i) {
    if (a.type_id() != arrow::TypeId::binary && a.type_id() != arrow::TypeId::large_binary)
      return fail(detail::decode_error("an IPC stream in binary", a));
    const std::string_view s = a.bytes_value(i);
    SLUICE_TRY_ASSIGN(auto reader,
                      arrow::ipc::StreamReader::open(arrow::Buffer::copy_of(s.data(), s.size())));
    SLUICE_TRY_ASSIGN(auto batches, reader.read_all());
    if (batches.empty()) return arrow::RecordBatch::empty(reader.schema());
    if (batches.size() == 1) return std::move(batches.front());
    return fail(Errc::parse_error, "embedded IPC stream holds {} batches, expected one",
                batches.size());
  }
};

// Top level: records travel as binary IPC streams of one row ------------------------------------

template <typename T>
struct TopCodec : Codec<T> {};

template <RecordType T>
struct TopCodec<T> {
  static constexpr bool nullable = false;
  static arrow::TypePtr type() { return arrow::binary(); }
  static std::string encode(const T& v) {
    const T* one[] = {&v};
    arrow::RecordBatch b(Codec<T>::schema(), 1, Codec<T>::columns(one));
    auto bytes = arrow::ipc::write_stream(b.schema(), {b});
    SLUICE_CHECK(static_cast<bool>(bytes), "encode record: {}", bytes.error().what());
    return {reinterpret_cast<const char*>(bytes->data()), bytes->size()};
  }
  static Result<T> decode(std::string_view s) {
    SLUICE_TRY_ASSIGN(auto reader,
                      arrow::ipc::StreamReader::open(arrow::Buffer::copy_of(s.data(), s.size())));
    if (!reader.schema()->equals(*Codec<T>::schema()))
      return fail(Errc::type_error, "record schema differs: got\n{}expected\n{}",
                  reader.schema()->to_string(), Codec<T>::schema()->to_string());
    SLUICE_TRY_ASSIGN(auto batches, reader.read_all());
    if (batches.size() != 1 || batches[0].num_rows() != 1)
      return fail(Errc::parse_error, "a record travels as one batch of one row");
    return Codec<T>::read_columns(batches[0].columns(), 0);
  }
  static arrow::ArrayPtr build(std::span<const T* const> v) {
    std::vector<std::optional<std::string>> out;
    for (const T* p : v) out.push_back(p != nullptr ? std::optional(encode(*p)) : std::nullopt);
    return arrow::make_binary_array(arrow::binary(), out);
  }
  static Result<T> read(const arrow::Array& a, std::int64_t i) {
    if (a.type_id() != arrow::TypeId::binary) return fail(detail::decode_error("a record", a));
    return decode(a.bytes_value(i));
  }
};

template <RecordType T>
struct TopCodec<std::optional<T>> {
  static constexpr bool nullable = true;
  static arrow::TypePtr type() { return arrow::binary(); }
  static arrow::ArrayPtr build(std::span<const std::optional<T>* const> v) {
    std::vector<const T*> inner;
    for (const auto* p : v) inner.push_back(p != nullptr && p->has_value() ? &**p : nullptr);
    return TopCodec<T>::build(inner);
  }
  static Result<std::optional<T>> read(const arrow::Array& a, std::int64_t i) {
    if (a.is_null(i)) return std::optional<T>();
    SLUICE_TRY_ASSIGN(T v, TopCodec<T>::read(a, i));
    return std::optional<T>(std::move(v));
  }
};

// A whole row type's schema (one field per member), for stream rows and headers.
template <RecordType T>
arrow::SchemaPtr row_schema() {
  return Codec<T>::schema();
}

// A batch of rows of a record type.
template <RecordType T>
arrow::RecordBatch rows_batch(const std::vector<T>& rows) {
  std::vector<const T*> ptrs;
  ptrs.reserve(rows.size());
  for (const T& r : rows) ptrs.push_back(&r);
  return arrow::RecordBatch(Codec<T>::schema(), static_cast<std::int64_t>(rows.size()),
                            Codec<T>::columns(ptrs));
}

// The rows of a batch (whose schema must equal row_schema<T>()).
template <RecordType T>
Result<std::vector<T>> batch_rows(const arrow::RecordBatch& b) {
  if (!b.schema()->equals(*Codec<T>::schema()))
    return fail(Errc::type_error, "batch schema differs: got\n{}expected\n{}",
                b.schema()->to_string(), Codec<T>::schema()->to_string());
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(b.num_rows()));
  for (std::int64_t i = 0; i < b.num_rows(); ++i) {
    SLUICE_TRY_ASSIGN(T r, Codec<T>::read_columns(b.columns(), i));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace sluice::rpc
