#include <sluice/arrow/array.hpp>

#include <sluice/arrow/builder.hpp>

#include <algorithm>
#include <bit>
#include <cmath>

namespace sluice::arrow {

namespace {
template <typename T>
T load(const std::byte* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
}  // namespace

bool Array::is_valid(std::int64_t i) const noexcept {
  SLUICE_DEBUG_ASSERT(i >= 0 && i < length_, "index {} of an array of length {}", i, length_);
  if (type_->id() == TypeId::null) return false;
  if (null_count_ == 0 || buffers_.empty() || buffers_[0].empty()) return true;
  return get_bit(buffers_[0].data(), offset_ + i);
}

const std::byte* Array::fixed_value_ptr(std::int64_t i, std::size_t width) const noexcept {
  (void)width;  // checked in debug builds only
  SLUICE_DEBUG_ASSERT(i >= 0 && i < length_, "index {} of an array of length {}", i, length_);
  SLUICE_DEBUG_ASSERT(static_cast<int>(width) <= type_->byte_width(), "reading {} bytes from {}",
                      width, type_->to_string());
  return buffers_[1].data() +
         static_cast<std::size_t>(offset_ + i) * static_cast<std::size_t>(type_->byte_width());
}

bool Array::bool_value(std::int64_t i) const noexcept {
  SLUICE_DEBUG_ASSERT(type_->id() == TypeId::boolean, "bool_value of {}", type_->to_string());
  return get_bit(buffers_[1].data(), offset_ + i);
}

std::string_view Array::bytes_value(std::int64_t i) const noexcept {
  SLUICE_DEBUG_ASSERT(i >= 0 && i < length_, "index {} of an array of length {}", i, length_);
  const Layout layout = type_->layout();
  if (layout == Layout::fixed_width) {
    const auto w = static_cast<std::size_t>(type_->byte_width());
    return {reinterpret_cast<const char*>(buffers_[1].data()) +
                static_cast<std::size_t>(offset_ + i) * w,
            w};
  }
  SLUICE_DEBUG_ASSERT(layout == Layout::binary32 || layout == Layout::binary64, "bytes_value of {}",
                      type_->to_string());
  const auto slot = static_cast<std::size_t>(offset_ + i);
  std::int64_t begin, end;
  if (layout == Layout::binary32) {
    begin = load<std::int32_t>(buffers_[1].data() + slot * 4);
    end = load<std::int32_t>(buffers_[1].data() + (slot + 1) * 4);
  } else {
    begin = load<std::int64_t>(buffers_[1].data() + slot * 8);
    end = load<std::int64_t>(buffers_[1].data() + (slot + 1) * 8);
  }
  // Clamp: the offsets may live in memory another process can still write.
  const auto size = static_cast<std::int64_t>(buffers_[2].size());
  begin = std::clamp<std::int64_t>(begin, 0, size);
  end = std::clamp<std::int64_t>(end, begin, size);
  return {reinterpret_cast<const char*>(buffers_[2].data()) + begin,
          static_cast<std::size_t>(end - begin)};
}

std::pair<std::int64_t, std::int64_t> Array::list_range(std::int64_t i) const noexcept {
  SLUICE_DEBUG_ASSERT(i >= 0 && i < length_, "index {} of an array of length {}", i, length_);
  const Layout layout = type_->layout();
  const auto slot = static_cast<std::size_t>(offset_ + i);
  if (layout == Layout::fixed_list) {
    const std::int64_t n = type_->fixed_size();
    return {static_cast<std::int64_t>(slot) * n, static_cast<std::int64_t>(slot + 1) * n};
  }
  std::int64_t begin, end;
  if (layout == Layout::list32) {
    begin = load<std::int32_t>(buffers_[1].data() + slot * 4);
    end = load<std::int32_t>(buffers_[1].data() + (slot + 1) * 4);
  } else {
    begin = load<std::int64_t>(buffers_[1].data() + slot * 8);
    end = load<std::int64_t>(buffers_[1].data() + (slot + 1) * 8);
  }
  const std::int64_t size = children_[0]->length();
  begin = std::clamp<std::int64_t>(begin, 0, size);
  end = std::clamp<std::int64_t>(end, begin, size);
  return {begin, end};
}

std::int64_t Array::int_value(std::int64_t i) const noexcept {
  const std::byte* p = fixed_value_ptr(i, 1);
  switch (type_->id()) {
    case TypeId::int8:
      return load<std::int8_t>(p);
    case TypeId::uint8:
      return load<std::uint8_t>(p);
    case TypeId::int16:
      return load<std::int16_t>(p);
    case TypeId::uint16:
      return load<std::uint16_t>(p);
    case TypeId::int32:
    case TypeId::date32:
    case TypeId::time32:
    case TypeId::interval_months:
      return load<std::int32_t>(p);
    case TypeId::uint32:
      return load<std::uint32_t>(p);
    case TypeId::dictionary:
      switch (type_->index_type()->id()) {
        case TypeId::int8:
          return load<std::int8_t>(p);
        case TypeId::uint8:
          return load<std::uint8_t>(p);
        case TypeId::int16:
          return load<std::int16_t>(p);
        case TypeId::uint16:
          return load<std::uint16_t>(p);
        case TypeId::int32:
          return load<std::int32_t>(p);
        case TypeId::uint32:
          return load<std::uint32_t>(p);
        default:
          return load<std::int64_t>(p);
      }
    default:
      return load<std::int64_t>(p);
  }
}

std::uint64_t Array::uint_value(std::int64_t i) const noexcept {
  const std::byte* p = fixed_value_ptr(i, 1);
  switch (type_->byte_width()) {
    case 1:
      return load<std::uint8_t>(p);
    case 2:
      return load<std::uint16_t>(p);
    case 4:
      return load<std::uint32_t>(p);
    default:
      return load<std::uint64_t>(p);
  }
}

std::int64_t Array::dictionary_index(std::int64_t i) const noexcept {
  SLUICE_DEBUG_ASSERT(type_->id() == TypeId::dictionary, "dictionary_index of {}",
                      type_->to_string());
  const std::int64_t idx =
      type_->index_type()->id() == TypeId::uint64
          ? static_cast<std::int64_t>(std::min<std::uint64_t>(uint_value(i), INT64_MAX))
          : int_value(i);
  if (!dictionary_ || idx < 0 || idx >= dictionary_->length()) return -1;
  return idx;
}

ArrayPtr Array::slice(std::int64_t offset, std::int64_t length) const {
  SLUICE_CHECK(offset >= 0 && length >= 0 && offset <= length_ && length <= length_ - offset,
               "slice [{}, +{}) of an array of length {}", offset, length, length_);
  std::int64_t nulls = 0;
  if (type_->id() == TypeId::null) {
    nulls = length;
  } else if (null_count_ != 0 && !buffers_.empty() && !buffers_[0].empty()) {
    nulls = length - count_set_bits(buffers_[0].data(), offset_ + offset, length);
  }
  return std::make_shared<const Array>(type_, length, nulls, offset_ + offset, buffers_, children_,
                                       dictionary_);
}

float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = (h >> 15) & 1u;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  float v;
  if (exp == 0)
    v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31)
    v = mant ? std::nanf("") : INFINITY;
  else
    v = std::ldexp(static_cast<float>(mant | 0x400u), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

std::uint16_t float_to_half(float f) noexcept {
  const auto bits = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t exp = (bits >> 23) & 0xffu;
  std::uint32_t mant = bits & 0x7fffffu;
  if (exp == 0xff)
    return static_cast<std::uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u));  // inf / nan
  const int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<std::uint16_t>(sign | 0x7c00u);  // overflow to infinity
  if (e <= 0) {
    if (e < -10) return sign;  // underflow to zero
    mant |= 0x800000u;
    const auto shift = static_cast<std::uint32_t>(14 - e);
    std::uint32_t half = mant >> shift;
    const std::uint32_t rem = mant & ((1u << shift) - 1);
    const std::uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t half = (static_cast<std::uint32_t>(e) << 10) | (mant >> 13);
  const std::uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u)))
    ++half;  // may carry into the exponent: still correct
  return static_cast<std::uint16_t>(sign | half);
}

// --- RecordBatch -------------------------------------------------------------------

Result<RecordBatch> RecordBatch::make(SchemaPtr schema, std::int64_t num_rows,
                                      std::vector<ArrayPtr> columns, KeyValueMetadata metadata) {
  if (!schema) return fail(Errc::invalid_argument, "record batch without a schema");
  if (num_rows < 0) return fail(Errc::invalid_argument, "record batch with {} rows", num_rows);
  if (columns.size() != schema->num_fields())
    return fail(Errc::invalid_argument, "record batch has {} columns, schema has {} fields",
                columns.size(), schema->num_fields());
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const auto& f = schema->field(i);
    if (!columns[i]) return fail(Errc::invalid_argument, "column '{}' is null", f->name());
    if (columns[i]->length() != num_rows)
      return fail(Errc::invalid_argument, "column '{}' has {} rows, batch has {}", f->name(),
                  columns[i]->length(), num_rows);
    if (!columns[i]->type()->equals(*f->type()))
      return fail(Errc::type_error, "column '{}' is {}, schema says {}", f->name(),
                  columns[i]->type()->to_string(), f->type()->to_string());
  }
  return RecordBatch(std::move(schema), num_rows, std::move(columns), std::move(metadata));
}

Result<RecordBatch> RecordBatch::empty(SchemaPtr schema, KeyValueMetadata metadata) {
  if (!schema) return fail(Errc::invalid_argument, "record batch without a schema");
  std::vector<ArrayPtr> columns;
  columns.reserve(schema->num_fields());
  for (const auto& f : schema->fields()) columns.push_back(make_empty_array(f->type()));
  return RecordBatch(std::move(schema), 0, std::move(columns), std::move(metadata));
}

RecordBatch RecordBatch::slice(std::int64_t offset, std::int64_t length) const {
  std::vector<ArrayPtr> cols;
  cols.reserve(columns_.size());
  for (const auto& c : columns_) cols.push_back(c->slice(offset, length));
  return RecordBatch(schema_, length, std::move(cols), metadata_);
}

RecordBatch RecordBatch::with_metadata(KeyValueMetadata metadata) const {
  return RecordBatch(schema_, num_rows_, columns_, std::move(metadata));
}

}  // namespace sluice::arrow
