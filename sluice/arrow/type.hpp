#pragma once
// Logical types, fields and schemas of the Arrow columnar format.
//
// One concrete DataType class describes every type (an id plus the parameters
// that id uses), shared immutably through TypePtr; factory functions build
// them (`int32()`, `timestamp(TimeUnit::micro, "UTC")`, `list(field(...))`).
// Dictionary encoding is a type of its own (index type + value type +
// ordered), as in Arrow C++; the dictionary id is a property of a stream, not
// of the type, and is assigned by the IPC writer in pre-order over the fields.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::arrow {

enum class TypeId : std::uint8_t {
  null,
  boolean,
  int8,
  int16,
  int32,
  int64,
  uint8,
  uint16,
  uint32,
  uint64,
  float16,  // IEEE half precision, stored as its 16 raw bits
  float32,
  float64,
  utf8,
  large_utf8,
  binary,
  large_binary,
  fixed_size_binary,
  decimal128,               // 16-byte two's complement, little-endian
  date32,                   // days since the epoch
  date64,                   // milliseconds since the epoch
  time32,                   // second / milli
  time64,                   // micro / nano
  timestamp,                // int64 since the epoch, with unit and time zone
  duration,                 // int64 with unit
  interval_months,          // int32 months
  interval_day_time,        // int32 days, int32 milliseconds
  interval_month_day_nano,  // int32 months, int32 days, int64 nanoseconds
  list,
  large_list,
  fixed_size_list,
  struct_,
  map,
  dictionary,
};

enum class TimeUnit : std::uint8_t { second, milli, micro, nano };

std::string_view type_id_name(TypeId id) noexcept;
std::string_view time_unit_name(TimeUnit unit) noexcept;  // "s", "ms", "us", "ns"

class DataType;
class Field;
using TypePtr = std::shared_ptr<const DataType>;
using FieldPtr = std::shared_ptr<const Field>;

// Ordered key/value pairs (schema, field and batch custom metadata). Order is
// preserved on the wire; keys are unique (set() replaces).
class KeyValueMetadata {
 public:
  using Item = std::pair<std::string, std::string>;
  KeyValueMetadata() = default;
  KeyValueMetadata(std::initializer_list<Item> items);

  [[nodiscard]] std::optional<std::string_view> get(std::string_view key) const noexcept;
  [[nodiscard]] bool contains(std::string_view key) const noexcept { return get(key).has_value(); }
  void set(std::string key, std::string value);
  bool erase(std::string_view key);
  [[nodiscard]] const std::vector<Item>& items() const noexcept { return items_; }
  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  // Appends without checking for duplicates (decoders keep what they read).
  void append(std::string key, std::string value) {
    items_.emplace_back(std::move(key), std::move(value));
  }

  friend bool operator==(const KeyValueMetadata&, const KeyValueMetadata&) = default;

 private:
  std::vector<Item> items_;
};

// How the values of a type are laid out (the buffers of its arrays).
enum class Layout : std::uint8_t {
  null,         // no buffers
  bitmap,       // validity, bit-packed values (boolean)
  fixed_width,  // validity, values of byte_width() bytes
  binary32,     // validity, int32 offsets, data
  binary64,     // validity, int64 offsets, data
  list32,       // validity, int32 offsets; one child
  list64,       // validity, int64 offsets; one child
  fixed_list,   // validity; one child of length * list_size
  struct_,      // validity; children of the same length
  dictionary,   // validity, indices (index type); plus a dictionary array
};

class DataType {
 public:
  [[nodiscard]] TypeId id() const noexcept { return id_; }
  [[nodiscard]] Layout layout() const noexcept;
  // Number of buffers of an array of this type (validity included).
  [[nodiscard]] int num_buffers() const noexcept;
  // Bytes per value of fixed-width types (incl. fixed_size_binary, decimal128
  // and the dictionary's index type); 0 for the others. Booleans: 0 (bits).
  [[nodiscard]] int byte_width() const noexcept;
  [[nodiscard]] bool is_integer() const noexcept {
    return id_ >= TypeId::int8 && id_ <= TypeId::uint64;
  }
  [[nodiscard]] bool is_signed_integer() const noexcept {
    return id_ >= TypeId::int8 && id_ <= TypeId::int64;
  }
  [[nodiscard]] bool is_nested() const noexcept { return !children_.empty(); }

  // Parameters (meaningful only for the ids that use them).
  [[nodiscard]] TimeUnit unit() const noexcept { return unit_; }  // time, timestamp, duration
  [[nodiscard]] const std::string& timezone() const noexcept { return timezone_; }  // timestamp
  [[nodiscard]] std::int32_t fixed_size() const noexcept {
    return fixed_size_;
  }  // fixed_size_binary/list
  [[nodiscard]] std::int32_t precision() const noexcept { return precision_; }  // decimal128
  [[nodiscard]] std::int32_t scale() const noexcept { return scale_; }          // decimal128
  [[nodiscard]] bool keys_sorted() const noexcept { return flag_; }             // map
  [[nodiscard]] bool ordered() const noexcept { return flag_; }                 // dictionary
  // list/large_list/fixed_size_list: one value field; map: one "entries"
  // struct field with key and value children; struct: its fields.
  [[nodiscard]] const std::vector<FieldPtr>& fields() const noexcept { return children_; }
  [[nodiscard]] const FieldPtr& value_field() const noexcept { return children_.front(); }
  [[nodiscard]] const TypePtr& index_type() const noexcept { return index_type_; }  // dictionary
  [[nodiscard]] const TypePtr& value_type() const noexcept { return value_type_; }  // dictionary

  [[nodiscard]] bool equals(const DataType& other, bool check_metadata = false) const;
  // "int32", "timestamp[us, tz=UTC]", "list<item: int32>", ...
  [[nodiscard]] std::string to_string() const;

  // Use the factory functions below; public only for std::make_shared.
  struct Params {
    TypeId id = TypeId::null;
    TimeUnit unit = TimeUnit::second;
    std::string timezone;
    std::int32_t fixed_size = 0;
    std::int32_t precision = 0;
    std::int32_t scale = 0;
    bool flag = false;
    std::vector<FieldPtr> children;
    TypePtr index_type;
    TypePtr value_type;
  };
  explicit DataType(Params p);

 private:
  TypeId id_;
  TimeUnit unit_;
  bool flag_;
  std::int32_t fixed_size_;
  std::int32_t precision_;
  std::int32_t scale_;
  std::string timezone_;
  std::vector<FieldPtr> children_;
  TypePtr index_type_;
  TypePtr value_type_;
};

class Field {
 public:
  Field(std::string name, TypePtr type, bool nullable = true, KeyValueMetadata metadata = {})
      : name_(std::move(name)),
        type_(std::move(type)),
        nullable_(nullable),
        metadata_(std::move(metadata)) {}
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const TypePtr& type() const noexcept { return type_; }
  [[nodiscard]] bool nullable() const noexcept { return nullable_; }
  [[nodiscard]] const KeyValueMetadata& metadata() const noexcept { return metadata_; }
  [[nodiscard]] bool equals(const Field& other, bool check_metadata = false) const;
  [[nodiscard]] std::string to_string() const;  // "name: type" (+ " not null")

 private:
  std::string name_;
  TypePtr type_;
  bool nullable_;
  KeyValueMetadata metadata_;
};

class Schema {
 public:
  Schema() = default;
  explicit Schema(std::vector<FieldPtr> fields, KeyValueMetadata metadata = {})
      : fields_(std::move(fields)), metadata_(std::move(metadata)) {}
  [[nodiscard]] const std::vector<FieldPtr>& fields() const noexcept { return fields_; }
  [[nodiscard]] std::size_t num_fields() const noexcept { return fields_.size(); }
  [[nodiscard]] const FieldPtr& field(std::size_t i) const { return fields_.at(i); }
  [[nodiscard]] const KeyValueMetadata& metadata() const noexcept { return metadata_; }
  // Index of the first field with that name, or -1.
  [[nodiscard]] int field_index(std::string_view name) const noexcept;
  [[nodiscard]] bool equals(const Schema& other, bool check_metadata = false) const;
  [[nodiscard]] std::string to_string() const;
  // True if any field at any depth is dictionary-encoded.
  [[nodiscard]] bool has_dictionaries() const noexcept;
  // True if a top-level field is dictionary-encoded (the vgi-rpc rule).
  [[nodiscard]] bool has_top_level_dictionaries() const noexcept;

 private:
  std::vector<FieldPtr> fields_;
  KeyValueMetadata metadata_;
};
using SchemaPtr = std::shared_ptr<const Schema>;

// --- factories ---------------------------------------------------------------
TypePtr null();
TypePtr boolean();
TypePtr int8();
TypePtr int16();
TypePtr int32();
TypePtr int64();
TypePtr uint8();
TypePtr uint16();
TypePtr uint32();
TypePtr uint64();
TypePtr float16();
TypePtr float32();
TypePtr float64();
TypePtr utf8();
TypePtr large_utf8();
TypePtr binary();
TypePtr large_binary();
TypePtr fixed_size_binary(std::int32_t byte_width);
TypePtr decimal128(std::int32_t precision, std::int32_t scale);
TypePtr date32();
TypePtr date64();
TypePtr time32(TimeUnit unit);  // second or milli
TypePtr time64(TimeUnit unit);  // micro or nano
TypePtr timestamp(TimeUnit unit, std::string timezone = {});
TypePtr duration(TimeUnit unit);
TypePtr interval_months();
TypePtr interval_day_time();
TypePtr interval_month_day_nano();
TypePtr list(FieldPtr value_field);
TypePtr list(TypePtr value_type);  // field "item", nullable
TypePtr large_list(FieldPtr value_field);
TypePtr large_list(TypePtr value_type);
TypePtr fixed_size_list(FieldPtr value_field, std::int32_t list_size);
TypePtr fixed_size_list(TypePtr value_type, std::int32_t list_size);
TypePtr struct_(std::vector<FieldPtr> fields);
// map<key, item>: entries struct "entries" (not null) of "key" (not null)
// and "value".
TypePtr map(TypePtr key_type, TypePtr item_type, bool keys_sorted = false);
// A map with an explicit entries field (as decoded from IPC / C Data).
TypePtr map(FieldPtr entries_field, bool keys_sorted);
TypePtr dictionary(TypePtr index_type, TypePtr value_type, bool ordered = false);

FieldPtr field(std::string name, TypePtr type, bool nullable = true,
               KeyValueMetadata metadata = {});
SchemaPtr schema(std::vector<FieldPtr> fields, KeyValueMetadata metadata = {});

// Maximum nesting depth of types accepted from untrusted input (IPC, C Data).
inline constexpr int kMaxNestingDepth = 64;

}  // namespace sluice::arrow
