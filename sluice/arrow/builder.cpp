#include <sluice/arrow/builder.hpp>

#include <sluice/arrow/compare.hpp>
#include <sluice/base/units.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace sluice::arrow {

// --- BufferBuilder -------------------------------------------------------------------

BufferBuilder::BufferBuilder(BufferBuilder&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      capacity_(std::exchange(o.capacity_, 0)) {}

BufferBuilder& BufferBuilder::operator=(BufferBuilder&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    capacity_ = std::exchange(o.capacity_, 0);
  }
  return *this;
}

BufferBuilder::~BufferBuilder() { std::free(data_); }

void BufferBuilder::reserve(std::size_t capacity) {
  if (capacity <= capacity_) return;
  const std::size_t cap = align_up(std::max<std::size_t>(capacity, 64), kBufferAlignment);
  auto* p = static_cast<std::byte*>(std::aligned_alloc(kBufferAlignment, cap));
  if (p == nullptr) throw std::bad_alloc();
  if (size_) std::memcpy(p, data_, size_);
  std::memset(p + size_, 0, cap - size_);
  std::free(data_);
  data_ = p;
  capacity_ = cap;
}

void BufferBuilder::append(const void* data, std::size_t size) {
  if (size == 0) return;
  if (size_ + size > capacity_) reserve(std::max(size_ + size, capacity_ * 2));
  std::memcpy(data_ + size_, data, size);
  size_ += size;
}

void BufferBuilder::append_zeros(std::size_t size) { resize(size_ + size); }

void BufferBuilder::resize(std::size_t size) {
  if (size > capacity_) reserve(std::max(size, capacity_ * 2));
  if (size < size_) std::memset(data_ + size, 0, size_ - size);  // keep the padding zero
  size_ = size;
}

std::byte* BufferBuilder::extend_uninitialized(std::size_t n) {
  const std::size_t want = size_ + n;
  if (want > capacity_) {
    const std::size_t cap =
        align_up(std::max({want, capacity_ * 2, std::size_t{64}}), kBufferAlignment);
    auto* p = static_cast<std::byte*>(std::aligned_alloc(kBufferAlignment, cap));
    if (p == nullptr) throw std::bad_alloc();
    if (size_) std::memcpy(p, data_, size_);
    std::memset(p + want, 0, cap - want);  // the padding
    std::free(data_);
    data_ = p;
    capacity_ = cap;
  }
  std::byte* at = data_ + size_;
  size_ = want;
  return at;
}

Buffer BufferBuilder::finish() {
  if (data_ == nullptr) reserve(64);
  std::shared_ptr<void> owner(data_, [](void* p) { std::free(p); });
  Buffer b = Buffer::wrap(data_, size_, std::move(owner));
  data_ = nullptr;
  size_ = capacity_ = 0;
  return b;
}

// --- BitmapBuilder --------------------------------------------------------------------

void BitmapBuilder::append(bool v) {
  if ((length_ & 7) == 0) bytes_.append_zeros(1);
  if (v)
    set_bit(bytes_.data(), length_, true);
  else
    ++false_count_;
  ++length_;
}

void BitmapBuilder::append_n(std::int64_t n, bool v) {
  for (std::int64_t i = 0; i < n; ++i) append(v);
}

Buffer BitmapBuilder::finish() {
  length_ = false_count_ = 0;
  return bytes_.finish();
}

Buffer make_validity(const std::vector<bool>& valid, std::int64_t* null_count) {
  *null_count = 0;
  if (valid.empty()) return {};
  BitmapBuilder b;
  for (bool v : valid) b.append(v);
  *null_count = b.false_count();
  if (*null_count == 0) return {};
  return b.finish();
}

// --- factories --------------------------------------------------------------------------

namespace {
void check_validity_length(const std::vector<bool>& valid, std::int64_t length) {
  SLUICE_CHECK(valid.empty() || static_cast<std::int64_t>(valid.size()) == length,
               "{} validity flags for {} values", valid.size(), length);
}
}  // namespace

ArrayPtr make_fixed_width(TypePtr type, const void* values, std::int64_t length,
                          const std::vector<bool>& valid) {
  SLUICE_CHECK(type->layout() == Layout::fixed_width, "make_fixed_width of {}", type->to_string());
  check_validity_length(valid, length);
  std::int64_t nulls = 0;
  Buffer validity = make_validity(valid, &nulls);
  Buffer data = Buffer::copy_of(
      values, static_cast<std::size_t>(length) * static_cast<std::size_t>(type->byte_width()));
  return std::make_shared<const Array>(std::move(type), length, nulls, 0,
                                       std::vector<Buffer>{validity, data});
}

ArrayPtr make_null_array(std::int64_t length) {
  return std::make_shared<const Array>(null(), length, length, 0, std::vector<Buffer>{});
}

ArrayPtr make_bool_array(const std::vector<std::optional<bool>>& values) {
  BitmapBuilder bits;
  std::vector<bool> valid;
  bool any_null = false;
  for (const auto& v : values) {
    bits.append(v.value_or(false));
    valid.push_back(v.has_value());
    any_null |= !v.has_value();
  }
  if (!any_null) valid.clear();
  std::int64_t nulls = 0;
  Buffer validity = make_validity(valid, &nulls);
  return std::make_shared<const Array>(boolean(), static_cast<std::int64_t>(values.size()), nulls,
                                       0, std::vector<Buffer>{validity, bits.finish()});
}

ArrayPtr make_binary_array(TypePtr type, const std::vector<std::optional<std::string>>& values) {
  const auto length = static_cast<std::int64_t>(values.size());
  std::vector<bool> valid(values.size(), true);
  bool any_null = false;
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!values[i]) valid[i] = false, any_null = true;
  if (!any_null) valid.clear();
  std::int64_t nulls = 0;
  Buffer validity = make_validity(valid, &nulls);
  const Layout layout = type->layout();
  if (layout == Layout::fixed_width) {
    SLUICE_CHECK(type->id() == TypeId::fixed_size_binary || type->id() == TypeId::decimal128,
                 "make_binary_array of {}", type->to_string());
    const auto w = static_cast<std::size_t>(type->byte_width());
    BufferBuilder data;
    for (const auto& v : values) {
      if (v) {
        SLUICE_CHECK(v->size() == w, "value of {} bytes for {}", v->size(), type->to_string());
        data.append(v->data(), w);
      } else {
        data.append_zeros(w);
      }
    }
    return std::make_shared<const Array>(std::move(type), length, nulls, 0,
                                         std::vector<Buffer>{validity, data.finish()});
  }
  SLUICE_CHECK(layout == Layout::binary32 || layout == Layout::binary64, "make_binary_array of {}",
               type->to_string());
  BufferBuilder offsets, data;
  std::int64_t pos = 0;
  auto put = [&](std::int64_t v) {
    if (layout == Layout::binary32) {
      SLUICE_CHECK(v <= INT32_MAX, "{} exceeds 2 GiB of data", type->to_string());
      offsets.append_value(static_cast<std::int32_t>(v));
    } else {
      offsets.append_value(v);
    }
  };
  put(0);
  for (const auto& v : values) {
    if (v) {
      data.append(v->data(), v->size());
      pos += static_cast<std::int64_t>(v->size());
    }
    put(pos);
  }
  return std::make_shared<const Array>(
      std::move(type), length, nulls, 0,
      std::vector<Buffer>{validity, offsets.finish(), data.finish()});
}

namespace {
Buffer offsets_from_sizes(Layout layout, const std::vector<std::optional<std::int64_t>>& sizes,
                          std::int64_t* total, std::vector<bool>* valid) {
  BufferBuilder offsets;
  std::int64_t pos = 0;
  bool any_null = false;
  auto put = [&](std::int64_t v) {
    if (layout == Layout::list32) {
      SLUICE_CHECK(v <= INT32_MAX, "list offsets exceed int32");
      offsets.append_value(static_cast<std::int32_t>(v));
    } else {
      offsets.append_value(v);
    }
  };
  put(0);
  for (const auto& s : sizes) {
    SLUICE_CHECK(!s || *s >= 0, "negative list size {}", *s);
    pos += s.value_or(0);
    valid->push_back(s.has_value());
    any_null |= !s.has_value();
    put(pos);
  }
  if (!any_null) valid->clear();
  *total = pos;
  return offsets.finish();
}
}  // namespace

ArrayPtr make_list_array(TypePtr type, const std::vector<std::optional<std::int64_t>>& sizes,
                         ArrayPtr values) {
  const Layout layout = type->layout();
  SLUICE_CHECK(layout == Layout::list32 || layout == Layout::list64, "make_list_array of {}",
               type->to_string());
  SLUICE_CHECK(values->type()->equals(*type->value_field()->type()), "list of {} given {} values",
               type->value_field()->type()->to_string(), values->type()->to_string());
  std::int64_t total = 0;
  std::vector<bool> valid;
  Buffer offsets = offsets_from_sizes(layout, sizes, &total, &valid);
  SLUICE_CHECK(total == values->length(), "list sizes add up to {}, child has {} values", total,
               values->length());
  std::int64_t nulls = 0;
  Buffer validity = make_validity(valid, &nulls);
  return std::make_shared<const Array>(std::move(type), static_cast<std::int64_t>(sizes.size()),
                                       nulls, 0, std::vector<Buffer>{validity, offsets},
                                       std::vector<ArrayPtr>{std::move(values)});
}

ArrayPtr make_map_array(TypePtr type, const std::vector<std::optional<std::int64_t>>& sizes,
                        ArrayPtr keys, ArrayPtr items) {
  SLUICE_CHECK(type->id() == TypeId::map, "make_map_array of {}", type->to_string());
  SLUICE_CHECK(keys->length() == items->length(), "{} keys, {} items", keys->length(),
               items->length());
  SLUICE_CHECK(keys->null_count() == 0, "map keys must not be null");
  const auto& entries_type = type->value_field()->type();
  const std::int64_t n = keys->length();
  auto entries = make_struct_array(entries_type, n, {std::move(keys), std::move(items)});
  return make_list_array(std::move(type), sizes, std::move(entries));
}

ArrayPtr make_fixed_size_list_array(TypePtr type, std::int64_t length, ArrayPtr values,
                                    const std::vector<bool>& valid) {
  SLUICE_CHECK(type->id() == TypeId::fixed_size_list, "make_fixed_size_list_array of {}",
               type->to_string());
  SLUICE_CHECK(values->length() == length * type->fixed_size(),
               "fixed_size_list of {} x {} given {} values", length, type->fixed_size(),
               values->length());
  SLUICE_CHECK(values->type()->equals(*type->value_field()->type()),
               "fixed_size_list of {} given {} values", type->value_field()->type()->to_string(),
               values->type()->to_string());
  check_validity_length(valid, length);
  std::int64_t nulls = 0;
  Buffer validity = make_validity(valid, &nulls);
  return std::make_shared<const Array>(std::move(type), length, nulls, 0,
                                       std::vector<Buffer>{validity},
                                       std::vector<ArrayPtr>{std::move(values)});
}

ArrayPtr make_struct_array(TypePtr type, std::int64_t length, std::vector<ArrayPtr> children,
                           const std::vector<bool>& valid) {
  SLUICE_CHECK(type->id() == TypeId::struct_, "make_struct_array of {}", type->to_string());
  SLUICE_CHECK(children.size() == type->fields().size(), "struct of {} fields given {} children",
               type->fields().size(), children.size());
  for (std::size_t i = 0; i < children.size(); ++i) {
    SLUICE_CHECK(children[i]->length() == length, "struct child {} has {} values, struct has {}", i,
                 children[i]->length(), length);
    SLUICE_CHECK(children[i]->type()->equals(*type->fields()[i]->type()),
                 "struct child {} is {}, field says {}", i, children[i]->type()->to_string(),
                 type->fields()[i]->type()->to_string());
  }
  check_validity_length(valid, length);
  std::int64_t nulls = 0;
  Buffer validity = make_validity(valid, &nulls);
  return std::make_shared<const Array>(std::move(type), length, nulls, 0,
                                       std::vector<Buffer>{validity}, std::move(children));
}

ArrayPtr make_dictionary_array(TypePtr type, ArrayPtr indices, ArrayPtr dictionary) {
  SLUICE_CHECK(type->id() == TypeId::dictionary, "make_dictionary_array of {}", type->to_string());
  SLUICE_CHECK(indices->type()->equals(*type->index_type()), "indices are {}, type wants {}",
               indices->type()->to_string(), type->index_type()->to_string());
  SLUICE_CHECK(dictionary->type()->equals(*type->value_type()), "dictionary is {}, type wants {}",
               dictionary->type()->to_string(), type->value_type()->to_string());
  for (std::int64_t i = 0; i < indices->length(); ++i) {
    if (!indices->is_valid(i)) continue;
    const std::int64_t k =
        indices->type()->id() == TypeId::uint64
            ? static_cast<std::int64_t>(std::min<std::uint64_t>(indices->uint_value(i), INT64_MAX))
            : indices->int_value(i);
    SLUICE_CHECK(k >= 0 && k < dictionary->length(), "dictionary index {} out of range [0, {})", k,
                 dictionary->length());
  }
  return std::make_shared<const Array>(std::move(type), indices->length(), indices->null_count(),
                                       indices->offset(), indices->buffers(),
                                       std::vector<ArrayPtr>{}, std::move(dictionary));
}

ArrayPtr make_empty_array(const TypePtr& type) {
  std::vector<ArrayPtr> children;
  ArrayPtr dict;
  std::vector<Buffer> buffers;
  switch (type->layout()) {
    case Layout::null:
      break;
    case Layout::binary32:
    case Layout::list32:
      buffers = {Buffer{}, Buffer::copy_of("\0\0\0\0", 4)};
      break;
    case Layout::binary64:
    case Layout::list64:
      buffers = {Buffer{}, Buffer::copy_of("\0\0\0\0\0\0\0\0", 8)};
      break;
    case Layout::fixed_list:
    case Layout::struct_:
      buffers = {Buffer{}};
      break;
    default:
      buffers = {Buffer{}, Buffer{}};
      break;
  }
  if (type->layout() == Layout::binary32 || type->layout() == Layout::binary64)
    buffers.emplace_back();
  if (type->id() == TypeId::dictionary) dict = make_empty_array(type->value_type());
  for (const auto& f : type->fields()) children.push_back(make_empty_array(f->type()));
  return std::make_shared<const Array>(type, 0, 0, 0, std::move(buffers), std::move(children),
                                       std::move(dict));
}

// --- concatenate -------------------------------------------------------------------------

namespace {

// Appends arrays[k][0, length) for every k to one owned array of `type`.
Result<ArrayPtr> concat_impl(const TypePtr& type, const std::vector<ArrayPtr>& arrays) {
  std::int64_t length = 0;
  std::int64_t nulls = 0;
  for (const auto& a : arrays) {
    length += a->length();
    nulls += a->null_count();
  }
  const Layout layout = type->layout();
  if (layout == Layout::null) return make_null_array(length);

  // Validity: all-valid arrays contribute set bits.
  Buffer validity;
  if (nulls != 0) {
    SLUICE_TRY_ASSIGN(validity, Buffer::allocate(static_cast<std::size_t>(bitmap_bytes(length))));
    std::int64_t pos = 0;
    for (const auto& a : arrays) {
      for (std::int64_t i = 0; i < a->length(); ++i)
        set_bit(validity.mutable_data(), pos + i, a->is_valid(i));
      pos += a->length();
    }
  }

  switch (layout) {
    case Layout::bitmap: {
      SLUICE_TRY_ASSIGN(Buffer values,
                        Buffer::allocate(static_cast<std::size_t>(bitmap_bytes(length))));
      std::int64_t pos = 0;
      for (const auto& a : arrays) {
        for (std::int64_t i = 0; i < a->length(); ++i)
          set_bit(values.mutable_data(), pos + i, a->bool_value(i));
        pos += a->length();
      }
      return std::make_shared<const Array>(type, length, nulls, 0,
                                           std::vector<Buffer>{validity, values});
    }
    case Layout::fixed_width:
    case Layout::dictionary: {
      const auto w = static_cast<std::size_t>(type->byte_width());
      BufferBuilder values;
      values.reserve(static_cast<std::size_t>(length) * w);
      for (const auto& a : arrays) {
        if (a->length() > 0)
          values.append(a->fixed_value_ptr(0, 1), static_cast<std::size_t>(a->length()) * w);
      }
      ArrayPtr dict;
      if (layout == Layout::dictionary) {
        for (const auto& a : arrays) {
          if (!dict)
            dict = a->dictionary();
          else if (a->dictionary() != dict && !array_equals(*a->dictionary(), *dict))
            return fail(Errc::invalid_argument,
                        "concatenate dictionary arrays with different dictionaries");
        }
      }
      return std::make_shared<const Array>(type, length, nulls, 0,
                                           std::vector<Buffer>{validity, values.finish()},
                                           std::vector<ArrayPtr>{}, std::move(dict));
    }
    case Layout::binary32:
    case Layout::binary64: {
      BufferBuilder offsets, data;
      std::int64_t pos = 0;
      auto put = [&](std::int64_t v) -> Result<void> {
        if (layout == Layout::binary32) {
          if (v > INT32_MAX)
            return fail(Errc::out_of_range, "concatenated {} exceeds 2 GiB", type->to_string());
          offsets.append_value(static_cast<std::int32_t>(v));
        } else {
          offsets.append_value(v);
        }
        return ok();
      };
      SLUICE_TRY(put(0));
      for (const auto& a : arrays) {
        for (std::int64_t i = 0; i < a->length(); ++i) {
          const std::string_view v = a->bytes_value(i);
          data.append(v.data(), v.size());
          pos += static_cast<std::int64_t>(v.size());
          SLUICE_TRY(put(pos));
        }
      }
      return std::make_shared<const Array>(
          type, length, nulls, 0, std::vector<Buffer>{validity, offsets.finish(), data.finish()});
    }
    case Layout::list32:
    case Layout::list64: {
      BufferBuilder offsets;
      std::vector<ArrayPtr> parts;
      std::int64_t pos = 0;
      auto put = [&](std::int64_t v) -> Result<void> {
        if (layout == Layout::list32) {
          if (v > INT32_MAX)
            return fail(Errc::out_of_range, "concatenated {} exceeds int32 offsets",
                        type->to_string());
          offsets.append_value(static_cast<std::int32_t>(v));
        } else {
          offsets.append_value(v);
        }
        return ok();
      };
      SLUICE_TRY(put(0));
      for (const auto& a : arrays) {
        if (a->length() == 0) continue;
        const std::int64_t first = a->list_range(0).first;
        std::int64_t last = first;
        for (std::int64_t i = 0; i < a->length(); ++i) {
          const auto [b, e] = a->list_range(i);
          pos += e - b;
          last = e;
          SLUICE_TRY(put(pos));
        }
        // Offsets are monotonic in a valid array, so the child range is
        // [first, last) and the sizes above add up to its length.
        if (last < first) return fail(Errc::invalid_argument, "list offsets not monotonic");
        parts.push_back(a->child(0)->slice(first, last - first));
      }
      ArrayPtr child;
      if (parts.empty()) {
        child = make_empty_array(type->value_field()->type());
      } else {
        SLUICE_TRY_ASSIGN(child, concat_impl(type->value_field()->type(), parts));
      }
      return std::make_shared<const Array>(type, length, nulls, 0,
                                           std::vector<Buffer>{validity, offsets.finish()},
                                           std::vector<ArrayPtr>{child});
    }
    case Layout::fixed_list: {
      const std::int64_t n = type->fixed_size();
      std::vector<ArrayPtr> parts;
      for (const auto& a : arrays)
        parts.push_back(a->child(0)->slice(a->offset() * n, a->length() * n));
      SLUICE_TRY_ASSIGN(ArrayPtr child, concat_impl(type->value_field()->type(), parts));
      return std::make_shared<const Array>(type, length, nulls, 0, std::vector<Buffer>{validity},
                                           std::vector<ArrayPtr>{child});
    }
    case Layout::struct_: {
      std::vector<ArrayPtr> children;
      for (std::size_t c = 0; c < type->fields().size(); ++c) {
        std::vector<ArrayPtr> parts;
        for (const auto& a : arrays) parts.push_back(a->child(c)->slice(a->offset(), a->length()));
        SLUICE_TRY_ASSIGN(ArrayPtr child, concat_impl(type->fields()[c]->type(), parts));
        children.push_back(std::move(child));
      }
      return std::make_shared<const Array>(type, length, nulls, 0, std::vector<Buffer>{validity},
                                           std::move(children));
    }
    case Layout::null:
      break;
  }
  return fail(Errc::internal, "concatenate: unhandled layout");
}

}  // namespace

Result<ArrayPtr> concatenate(const std::vector<ArrayPtr>& arrays) {
  if (arrays.empty()) return fail(Errc::invalid_argument, "concatenate no arrays");
  const TypePtr& type = arrays[0]->type();
  for (const auto& a : arrays) {
    if (!a->type()->equals(*type))
      return fail(Errc::type_error, "concatenate {} with {}", type->to_string(),
                  a->type()->to_string());
  }
  return concat_impl(type, arrays);
}

}  // namespace sluice::arrow
