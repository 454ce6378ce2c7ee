#pragma once
// Building arrays from program values: a growable aligned byte buffer, a
// bitmap builder, and factory functions that assemble arrays of every type
// from std::optional values (nullopt = null). The factories take values the
// program produced, not untrusted input: a shape mismatch (wrong width, child
// length) is a caller bug and stops the program with a clear message.

#include <sluice/arrow/array.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::arrow {

// Growable 64-byte-aligned bytes; finish() hands them out as an owned Buffer
// without copying. Padding past size() is zero.
class BufferBuilder {
 public:
  BufferBuilder() = default;
  BufferBuilder(BufferBuilder&& o) noexcept;
  BufferBuilder& operator=(BufferBuilder&& o) noexcept;
  BufferBuilder(const BufferBuilder&) = delete;
  BufferBuilder& operator=(const BufferBuilder&) = delete;
  ~BufferBuilder();

  void reserve(std::size_t capacity);
  void append(const void* data, std::size_t size);
  void append_zeros(std::size_t size);
  template <typename T>
  void append_value(const T& v) {
    append(&v, sizeof(T));
  }
  // Grows to `size` (new bytes zero) or shrinks.
  void resize(std::size_t size);
  // Grows by n bytes that the caller fills at once (a read straight into
  // the buffer): they are not zeroed first; the padding past them is.
  // Returns where they start.
  std::byte* extend_uninitialized(std::size_t n);
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::byte* data() noexcept { return data_; }
  Buffer finish();

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

class BitmapBuilder {
 public:
  void append(bool v);
  void append_n(std::int64_t n, bool v);
  [[nodiscard]] std::int64_t length() const noexcept { return length_; }
  [[nodiscard]] std::int64_t false_count() const noexcept { return false_count_; }
  Buffer finish();

 private:
  BufferBuilder bytes_;
  std::int64_t length_ = 0;
  std::int64_t false_count_ = 0;
};

// A validity bitmap from flags (true = valid); empty Buffer when all valid.
Buffer make_validity(const std::vector<bool>& valid, std::int64_t* null_count);

// Fixed-width array of `type` from raw little-endian values (length values of
// type->byte_width() bytes each) and optional validity (empty = all valid).
ArrayPtr make_fixed_width(TypePtr type, const void* values, std::int64_t length,
                          const std::vector<bool>& valid = {});

template <typename T>
ArrayPtr make_array(TypePtr type, const std::vector<std::optional<T>>& values) {
  std::vector<T> raw(values.size());
  std::vector<bool> valid(values.size(), true);
  bool any_null = false;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i])
      raw[i] = *values[i];
    else
      valid[i] = false, any_null = true;
  }
  if (!any_null) valid.clear();
  SLUICE_CHECK(static_cast<int>(sizeof(T)) == type->byte_width(), "value size {} for type {}",
               sizeof(T), type->to_string());
  return make_fixed_width(std::move(type), raw.data(), static_cast<std::int64_t>(raw.size()),
                          valid);
}

ArrayPtr make_null_array(std::int64_t length);
ArrayPtr make_bool_array(const std::vector<std::optional<bool>>& values);
// utf8, large_utf8, binary, large_binary, fixed_size_binary (each value must
// have the fixed size).
ArrayPtr make_binary_array(TypePtr type, const std::vector<std::optional<std::string>>& values);
// list / large_list / map: sizes[i] is the number of child values of slot i,
// nullopt for a null slot (zero child values). The child (or, for a map, the
// entries struct) must hold exactly sum(sizes) values.
ArrayPtr make_list_array(TypePtr type, const std::vector<std::optional<std::int64_t>>& sizes,
                         ArrayPtr values);
// map from keys and items (equal length) and per-slot sizes.
ArrayPtr make_map_array(TypePtr type, const std::vector<std::optional<std::int64_t>>& sizes,
                        ArrayPtr keys, ArrayPtr items);
// fixed_size_list: values holds length * list_size values.
ArrayPtr make_fixed_size_list_array(TypePtr type, std::int64_t length, ArrayPtr values,
                                    const std::vector<bool>& valid = {});
ArrayPtr make_struct_array(TypePtr type, std::int64_t length, std::vector<ArrayPtr> children,
                           const std::vector<bool>& valid = {});
// dictionary: indices of the type's index type (nulls allowed), dictionary of
// its value type.
ArrayPtr make_dictionary_array(TypePtr type, ArrayPtr indices, ArrayPtr dictionary);

// A zero-length array of any type (children and dictionary empty too).
ArrayPtr make_empty_array(const TypePtr& type);

// Appends arrays of the same type into one new owned array. Dictionary arrays
// must share one dictionary (same object or equal values).
Result<ArrayPtr> concatenate(const std::vector<ArrayPtr>& arrays);

}  // namespace sluice::arrow
