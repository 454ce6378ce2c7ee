#pragma once
// Arrays and record batches.
//
// An Array is the Arrow "array data": a type, a length, a null count, a
// logical offset into its buffers, the buffers in the order the type's Layout
// lists them, child arrays, and for dictionary-encoded arrays the dictionary.
// Arrays are immutable and shared through ArrayPtr; slicing shares buffers.
//
// Buffers may alias memory that another process can still write (a shared
// mapping). Structure was validated when the array was decoded; after that the
// accessors below never read outside the buffers whatever the bytes become:
// offsets and indices read from a buffer are clamped into range, so a peer that
// scribbles over published data gets unspecified values, not memory errors.

#include <sluice/arrow/buffer.hpp>
#include <sluice/arrow/type.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::arrow {

class Array;
using ArrayPtr = std::shared_ptr<const Array>;

class Array {
 public:
  Array(TypePtr type, std::int64_t length, std::int64_t null_count, std::int64_t offset,
        std::vector<Buffer> buffers, std::vector<ArrayPtr> children = {},
        ArrayPtr dictionary = nullptr)
      : type_(std::move(type)),
        length_(length),
        null_count_(null_count),
        offset_(offset),
        buffers_(std::move(buffers)),
        children_(std::move(children)),
        dictionary_(std::move(dictionary)) {}

  [[nodiscard]] const TypePtr& type() const noexcept { return type_; }
  [[nodiscard]] TypeId type_id() const noexcept { return type_->id(); }
  [[nodiscard]] std::int64_t length() const noexcept { return length_; }
  [[nodiscard]] std::int64_t null_count() const noexcept { return null_count_; }
  [[nodiscard]] std::int64_t offset() const noexcept { return offset_; }
  [[nodiscard]] const std::vector<Buffer>& buffers() const noexcept { return buffers_; }
  [[nodiscard]] const Buffer& buffer(std::size_t i) const { return buffers_.at(i); }
  [[nodiscard]] const std::vector<ArrayPtr>& children() const noexcept { return children_; }
  [[nodiscard]] const ArrayPtr& child(std::size_t i) const { return children_.at(i); }
  [[nodiscard]] const ArrayPtr& dictionary() const noexcept { return dictionary_; }

  // --- element access (i in [0, length)) ---
  [[nodiscard]] bool is_valid(std::int64_t i) const noexcept;
  [[nodiscard]] bool is_null(std::int64_t i) const noexcept { return !is_valid(i); }
  // Fixed-width values (T must match the type's byte width; checked in
  // debug builds). Temporal, decimal and interval types read as their
  // storage (e.g. int64 for timestamps, a 16-byte struct for decimal128).
  template <typename T>
  [[nodiscard]] T value(std::int64_t i) const noexcept {
    T v;
    std::memcpy(&v, fixed_value_ptr(i, sizeof(T)), sizeof(T));
    return v;
  }
  [[nodiscard]] bool bool_value(std::int64_t i) const noexcept;
  // utf8, large_utf8, binary, large_binary, fixed_size_binary, decimal128.
  [[nodiscard]] std::string_view bytes_value(std::int64_t i) const noexcept;
  // list, large_list, map, fixed_size_list: [begin, end) in child(0).
  [[nodiscard]] std::pair<std::int64_t, std::int64_t> list_range(std::int64_t i) const noexcept;
  // dictionary: the index into dictionary().
  [[nodiscard]] std::int64_t dictionary_index(std::int64_t i) const noexcept;
  // Any integer type (and the storage of date32/time/timestamp/duration/
  // interval_months), widened.
  [[nodiscard]] std::int64_t int_value(std::int64_t i) const noexcept;
  [[nodiscard]] std::uint64_t uint_value(std::int64_t i) const noexcept;

  // A zero-copy view of [offset, offset + length) of this array. The null
  // count is recomputed from the bitmap.
  [[nodiscard]] ArrayPtr slice(std::int64_t offset, std::int64_t length) const;

  // Address of element i of a fixed-width array (at least `width` bytes).
  [[nodiscard]] const std::byte* fixed_value_ptr(std::int64_t i, std::size_t width) const noexcept;

 private:
  TypePtr type_;
  std::int64_t length_;
  std::int64_t null_count_;
  std::int64_t offset_;
  std::vector<Buffer> buffers_;
  std::vector<ArrayPtr> children_;
  ArrayPtr dictionary_;
};

// Storage of decimal128 (low 64 bits first, little-endian two's complement)
// and interval types.
struct Decimal128 {
  std::uint64_t low = 0;
  std::int64_t high = 0;
  friend bool operator==(const Decimal128&, const Decimal128&) = default;
};
struct DayTimeInterval {
  std::int32_t days = 0;
  std::int32_t milliseconds = 0;
  friend bool operator==(const DayTimeInterval&, const DayTimeInterval&) = default;
};
struct MonthDayNanoInterval {
  std::int32_t months = 0;
  std::int32_t days = 0;
  std::int64_t nanoseconds = 0;
  friend bool operator==(const MonthDayNanoInterval&, const MonthDayNanoInterval&) = default;
};
static_assert(sizeof(Decimal128) == 16 && sizeof(DayTimeInterval) == 8 &&
              sizeof(MonthDayNanoInterval) == 16);

// IEEE 754 half precision <-> float (round to nearest even).
[[nodiscard]] float half_to_float(std::uint16_t h) noexcept;
[[nodiscard]] std::uint16_t float_to_half(float f) noexcept;

// A schema plus equal-length columns, with optional custom metadata (carried in
// the IPC record-batch message; vgi-rpc puts its per-batch keys there).
class RecordBatch {
 public:
  RecordBatch() = default;
  RecordBatch(SchemaPtr schema, std::int64_t num_rows, std::vector<ArrayPtr> columns,
              KeyValueMetadata metadata = {})
      : schema_(std::move(schema)),
        num_rows_(num_rows),
        columns_(std::move(columns)),
        metadata_(std::move(metadata)) {}

  // Checks column count, lengths and types against the schema.
  static Result<RecordBatch> make(SchemaPtr schema, std::int64_t num_rows,
                                  std::vector<ArrayPtr> columns, KeyValueMetadata metadata = {});
  // A batch of zero rows of that schema (empty arrays of every type).
  static Result<RecordBatch> empty(SchemaPtr schema, KeyValueMetadata metadata = {});

  [[nodiscard]] const SchemaPtr& schema() const noexcept { return schema_; }
  [[nodiscard]] std::int64_t num_rows() const noexcept { return num_rows_; }
  [[nodiscard]] std::size_t num_columns() const noexcept { return columns_.size(); }
  [[nodiscard]] const std::vector<ArrayPtr>& columns() const noexcept { return columns_; }
  [[nodiscard]] const ArrayPtr& column(std::size_t i) const { return columns_.at(i); }
  [[nodiscard]] const KeyValueMetadata& metadata() const noexcept { return metadata_; }
  [[nodiscard]] KeyValueMetadata& mutable_metadata() noexcept { return metadata_; }

  [[nodiscard]] RecordBatch slice(std::int64_t offset, std::int64_t length) const;
  [[nodiscard]] RecordBatch with_metadata(KeyValueMetadata metadata) const;

 private:
  SchemaPtr schema_;
  std::int64_t num_rows_ = 0;
  std::vector<ArrayPtr> columns_;
  KeyValueMetadata metadata_;
};

}  // namespace sluice::arrow
