#include <sluice/arrow/validate.hpp>

#include <cstring>

namespace sluice::arrow {

namespace {

// Bytes needed for `count` items of `width` bytes, or -1 on overflow.
std::int64_t checked_bytes(std::int64_t count, std::int64_t width) noexcept {
  std::int64_t out;
  if (count < 0 || __builtin_mul_overflow(count, width, &out)) return -1;
  return out;
}

template <typename O>
Result<void> check_offsets(const Array& a, const Buffer& offsets_buf, std::int64_t limit,
                           ValidationLevel level, const char* what) {
  const std::int64_t slots = a.offset() + a.length();
  if (a.length() == 0 && offsets_buf.empty()) return ok();  // allowed for empty arrays
  const std::int64_t need = checked_bytes(slots + 1, sizeof(O));
  if (need < 0 || static_cast<std::int64_t>(offsets_buf.size()) < need)
    return fail(Errc::parse_error, "{} offsets buffer of {} bytes, {} slots need {}", what,
                offsets_buf.size(), slots + 1, need);
  const std::byte* p = offsets_buf.data();
  auto at = [p](std::int64_t i) {
    O v;
    std::memcpy(&v, p + static_cast<std::size_t>(i) * sizeof(O), sizeof(O));
    return static_cast<std::int64_t>(v);
  };
  const std::int64_t first = at(a.offset());
  const std::int64_t last = at(slots);
  if (first < 0 || first > last || last > limit)
    return fail(Errc::parse_error, "{} offsets [{}, {}] outside [0, {}]", what, first, last, limit);
  if (level == ValidationLevel::full) {
    std::int64_t prev = first;
    for (std::int64_t i = a.offset() + 1; i <= slots; ++i) {
      const std::int64_t v = at(i);
      if (v < prev || v > limit)
        return fail(Errc::parse_error, "{} offset {} at slot {} after {} (limit {})", what, v,
                    i - a.offset(), prev, limit);
      prev = v;
    }
  }
  return ok();
}

Result<void> validate_impl(const Array& a, ValidationLevel level, int depth);

Result<void> validate_dictionary_indices(const Array& a) {
  const std::int64_t dict_len = a.dictionary()->length();
  for (std::int64_t i = 0; i < a.length(); ++i) {
    if (!a.is_valid(i)) continue;
    if (a.type()->index_type()->id() == TypeId::uint64) {
      if (a.uint_value(i) >= static_cast<std::uint64_t>(dict_len))
        return fail(Errc::parse_error, "dictionary index {} at row {} out of range [0, {})",
                    a.uint_value(i), i, dict_len);
    } else {
      const std::int64_t k = a.int_value(i);
      if (k < 0 || k >= dict_len)
        return fail(Errc::parse_error, "dictionary index {} at row {} out of range [0, {})", k, i,
                    dict_len);
    }
  }
  return ok();
}

Result<void> validate_node(const Array& a, ValidationLevel level, int depth) {
  const DataType& t = *a.type();
  if (a.length() < 0 || a.offset() < 0 || a.length() > INT64_MAX - a.offset())
    return fail(Errc::parse_error, "length {} offset {}", a.length(), a.offset());
  if (a.null_count() < 0 || a.null_count() > a.length())
    return fail(Errc::parse_error, "null count {} of {} values", a.null_count(), a.length());
  if (static_cast<int>(a.buffers().size()) != t.num_buffers())
    return fail(Errc::parse_error, "{} buffers, {} needs {}", a.buffers().size(), t.to_string(),
                t.num_buffers());
  const std::int64_t slots = a.offset() + a.length();
  const Layout layout = t.layout();
  if (layout == Layout::null) {
    if (a.null_count() != a.length())
      return fail(Errc::parse_error, "null array with null count {} of {}", a.null_count(),
                  a.length());
    return ok();
  }
  // Validity bitmap.
  const Buffer& validity = a.buffers()[0];
  if (validity.empty()) {
    if (a.null_count() != 0)
      return fail(Errc::parse_error, "null count {} without a validity bitmap", a.null_count());
  } else {
    if (static_cast<std::int64_t>(validity.size()) < bitmap_bytes(slots))
      return fail(Errc::parse_error, "validity bitmap of {} bytes for {} slots", validity.size(),
                  slots);
    if (level == ValidationLevel::full && a.null_count() != 0) {
      const std::int64_t nulls =
          a.length() - count_set_bits(validity.data(), a.offset(), a.length());
      if (nulls != a.null_count())
        return fail(Errc::parse_error, "null count {} but the bitmap has {} nulls", a.null_count(),
                    nulls);
    }
  }
  const std::size_t expected_children =
      (layout == Layout::list32 || layout == Layout::list64 || layout == Layout::fixed_list)
          ? 1
          : (layout == Layout::struct_ ? t.fields().size() : 0);
  if (a.children().size() != expected_children)
    return fail(Errc::parse_error, "{} children, {} needs {}", a.children().size(), t.to_string(),
                expected_children);
  for (std::size_t c = 0; c < expected_children; ++c) {
    if (!a.children()[c]) return fail(Errc::parse_error, "child {} missing", c);
    if (!a.children()[c]->type()->equals(*t.fields()[c]->type()))
      return fail(Errc::parse_error, "child {} is {}, field says {}", c,
                  a.children()[c]->type()->to_string(), t.fields()[c]->type()->to_string());
  }
  if ((layout == Layout::dictionary) != (a.dictionary() != nullptr))
    return fail(Errc::parse_error, "{} {} a dictionary", t.to_string(),
                a.dictionary() ? "with" : "without");

  switch (layout) {
    case Layout::bitmap:
      if (static_cast<std::int64_t>(a.buffers()[1].size()) < bitmap_bytes(slots))
        return fail(Errc::parse_error, "boolean values of {} bytes for {} slots",
                    a.buffers()[1].size(), slots);
      break;
    case Layout::fixed_width:
    case Layout::dictionary: {
      const std::int64_t need = checked_bytes(slots, t.byte_width());
      if (need < 0 || static_cast<std::int64_t>(a.buffers()[1].size()) < need)
        return fail(Errc::parse_error, "values buffer of {} bytes, {} slots of {} need {}",
                    a.buffers()[1].size(), slots, t.to_string(), need);
      if (layout == Layout::dictionary) {
        if (!a.dictionary()->type()->equals(*t.value_type()))
          return fail(Errc::parse_error, "dictionary is {}, type says {}",
                      a.dictionary()->type()->to_string(), t.value_type()->to_string());
        auto rd = validate_impl(*a.dictionary(), level, depth + 1);
        if (!rd) return fail(std::move(rd).error().context("dictionary"));
      }
      break;
    }
    case Layout::binary32:
      SLUICE_TRY(check_offsets<std::int32_t>(
          a, a.buffers()[1], static_cast<std::int64_t>(a.buffers()[2].size()), level, "binary"));
      break;
    case Layout::binary64:
      SLUICE_TRY(check_offsets<std::int64_t>(a, a.buffers()[1],
                                             static_cast<std::int64_t>(a.buffers()[2].size()),
                                             level, "large binary"));
      break;
    case Layout::list32:
      SLUICE_TRY(
          check_offsets<std::int32_t>(a, a.buffers()[1], a.children()[0]->length(), level, "list"));
      break;
    case Layout::list64:
      SLUICE_TRY(check_offsets<std::int64_t>(a, a.buffers()[1], a.children()[0]->length(), level,
                                             "large list"));
      break;
    case Layout::fixed_list: {
      const std::int64_t need = checked_bytes(slots, t.fixed_size());
      if (need < 0 || a.children()[0]->length() < need)
        return fail(Errc::parse_error,
                    "fixed_size_list child has {} values, {} slots of {} need {}",
                    a.children()[0]->length(), slots, t.fixed_size(), need);
      break;
    }
    case Layout::struct_:
      for (std::size_t c = 0; c < a.children().size(); ++c) {
        if (a.children()[c]->length() < slots)
          return fail(Errc::parse_error, "struct child '{}' has {} values, struct needs {}",
                      t.fields()[c]->name(), a.children()[c]->length(), slots);
      }
      break;
    case Layout::null:
      break;
  }
  return ok();
}

Result<void> validate_impl(const Array& a, ValidationLevel level, int depth) {
  if (depth > kMaxNestingDepth)
    return fail(Errc::parse_error, "arrays nested deeper than {}", kMaxNestingDepth);
  if (!a.type()) return fail(Errc::parse_error, "array without a type");
  auto r = validate_node(a, level, depth);
  if (!r) return fail(std::move(r).error().context(a.type()->to_string()));
  for (std::size_t c = 0; c < a.children().size(); ++c) {
    auto rc = validate_impl(*a.children()[c], level, depth + 1);
    if (!rc) return fail(std::move(rc).error().context(fmt::format("child {}", c)));
  }
  if (a.type()->id() == TypeId::map) {
    const Array& entries = *a.children()[0];
    if (entries.type()->id() != TypeId::struct_ || entries.children().size() != 2)
      return fail(Errc::parse_error, "map entries are {}", entries.type()->to_string());
    if (level == ValidationLevel::full && entries.children()[0]->null_count() != 0)
      return fail(Errc::parse_error, "map keys contain nulls");
  }
  if (a.type()->id() == TypeId::dictionary && level == ValidationLevel::full)
    SLUICE_TRY(validate_dictionary_indices(a));
  return ok();
}

}  // namespace

Result<void> validate(const Array& array, ValidationLevel level) {
  return validate_impl(array, level, 0);
}

Result<void> validate(const RecordBatch& batch, ValidationLevel level) {
  if (!batch.schema()) return fail(Errc::parse_error, "record batch without a schema");
  if (batch.num_rows() < 0)
    return fail(Errc::parse_error, "record batch with {} rows", batch.num_rows());
  if (batch.num_columns() != batch.schema()->num_fields())
    return fail(Errc::parse_error, "record batch has {} columns, schema has {} fields",
                batch.num_columns(), batch.schema()->num_fields());
  for (std::size_t i = 0; i < batch.num_columns(); ++i) {
    const auto& f = batch.schema()->field(i);
    const auto& c = batch.column(i);
    if (!c) return fail(Errc::parse_error, "column '{}' missing", f->name());
    if (c->length() != batch.num_rows())
      return fail(Errc::parse_error, "column '{}' has {} rows, batch has {}", f->name(),
                  c->length(), batch.num_rows());
    if (!c->type()->equals(*f->type()))
      return fail(Errc::parse_error, "column '{}' is {}, schema says {}", f->name(),
                  c->type()->to_string(), f->type()->to_string());
    auto r = validate(*c, level);
    if (!r) return fail(std::move(r).error().context(fmt::format("column '{}'", f->name())));
  }
  return ok();
}

}  // namespace sluice::arrow
