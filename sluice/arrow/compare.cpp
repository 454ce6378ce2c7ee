#include <sluice/arrow/compare.hpp>

#include <cstring>

namespace sluice::arrow {

namespace {

bool element_equals(const Array& a, std::int64_t i, const Array& b, std::int64_t j) {
  const bool va = a.is_valid(i);
  if (va != b.is_valid(j)) return false;
  if (!va) return true;
  switch (a.type()->layout()) {
    case Layout::null:
      return true;
    case Layout::bitmap:
      return a.bool_value(i) == b.bool_value(j);
    case Layout::fixed_width: {
      const auto w = static_cast<std::size_t>(a.type()->byte_width());
      if (w == 0) return true;  // fixed_size_binary(0): buffers may be absent
      return std::memcmp(a.fixed_value_ptr(i, w), b.fixed_value_ptr(j, w), w) == 0;
    }
    case Layout::binary32:
    case Layout::binary64:
      return a.bytes_value(i) == b.bytes_value(j);
    case Layout::list32:
    case Layout::list64:
    case Layout::fixed_list: {
      const auto [ab, ae] = a.list_range(i);
      const auto [bb, be] = b.list_range(j);
      if (ae - ab != be - bb) return false;
      return array_range_equals(*a.child(0), ab, *b.child(0), bb, ae - ab);
    }
    case Layout::struct_:
      for (std::size_t c = 0; c < a.children().size(); ++c) {
        if (!element_equals(*a.child(c), a.offset() + i, *b.child(c), b.offset() + j)) return false;
      }
      return true;
    case Layout::dictionary: {
      const std::int64_t ka = a.dictionary_index(i);
      const std::int64_t kb = b.dictionary_index(j);
      if (ka < 0 || kb < 0) return ka == kb;
      return element_equals(*a.dictionary(), ka, *b.dictionary(), kb);
    }
  }
  return false;
}

}  // namespace

bool array_range_equals(const Array& a, std::int64_t a_start, const Array& b, std::int64_t b_start,
                        std::int64_t length) {
  if (!a.type()->equals(*b.type())) return false;
  for (std::int64_t k = 0; k < length; ++k)
    if (!element_equals(a, a_start + k, b, b_start + k)) return false;
  return true;
}

bool array_equals(const Array& a, const Array& b) {
  if (&a == &b) return true;
  if (a.length() != b.length() || a.null_count() != b.null_count()) return false;
  return array_range_equals(a, 0, b, 0, a.length());
}

bool batch_equals(const RecordBatch& a, const RecordBatch& b, bool check_metadata) {
  if (a.num_rows() != b.num_rows() || a.num_columns() != b.num_columns()) return false;
  if (!a.schema()->equals(*b.schema(), check_metadata)) return false;
  if (check_metadata && a.metadata() != b.metadata()) return false;
  for (std::size_t c = 0; c < a.num_columns(); ++c)
    if (!array_equals(*a.column(c), *b.column(c))) return false;
  return true;
}

}  // namespace sluice::arrow
