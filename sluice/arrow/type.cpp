#include <sluice/arrow/type.hpp>

#include <sluice/base/assert.hpp>

#include <fmt/format.h>

namespace sluice::arrow {

std::string_view type_id_name(TypeId id) noexcept {
  switch (id) {
    case TypeId::null:
      return "null";
    case TypeId::boolean:
      return "bool";
    case TypeId::int8:
      return "int8";
    case TypeId::int16:
      return "int16";
    case TypeId::int32:
      return "int32";
    case TypeId::int64:
      return "int64";
    case TypeId::uint8:
      return "uint8";
    case TypeId::uint16:
      return "uint16";
    case TypeId::uint32:
      return "uint32";
    case TypeId::uint64:
      return "uint64";
    case TypeId::float16:
      return "float16";
    case TypeId::float32:
      return "float32";
    case TypeId::float64:
      return "float64";
    case TypeId::utf8:
      return "utf8";
    case TypeId::large_utf8:
      return "large_utf8";
    case TypeId::binary:
      return "binary";
    case TypeId::large_binary:
      return "large_binary";
    case TypeId::fixed_size_binary:
      return "fixed_size_binary";
    case TypeId::decimal128:
      return "decimal128";
    case TypeId::date32:
      return "date32";
    case TypeId::date64:
      return "date64";
    case TypeId::time32:
      return "time32";
    case TypeId::time64:
      return "time64";
    case TypeId::timestamp:
      return "timestamp";
    case TypeId::duration:
      return "duration";
    case TypeId::interval_months:
      return "interval_months";
    case TypeId::interval_day_time:
      return "interval_day_time";
    case TypeId::interval_month_day_nano:
      return "interval_month_day_nano";
    case TypeId::list:
      return "list";
    case TypeId::large_list:
      return "large_list";
    case TypeId::fixed_size_list:
      return "fixed_size_list";
    case TypeId::struct_:
      return "struct";
    case TypeId::map:
      return "map";
    case TypeId::dictionary:
      return "dictionary";
  }
  return "?";
}

std::string_view time_unit_name(TimeUnit unit) noexcept {
  switch (unit) {
    case TimeUnit::second:
      return "s";
    case TimeUnit::milli:
      return "ms";
    case TimeUnit::micro:
      return "us";
    case TimeUnit::nano:
      return "ns";
  }
  return "?";
}

// --- KeyValueMetadata ----------------------------------------------------------

KeyValueMetadata::KeyValueMetadata(std::initializer_list<Item> items) {
  for (const auto& [k, v] : items) set(k, v);
}

std::optional<std::string_view> KeyValueMetadata::get(std::string_view key) const noexcept {
  for (const auto& [k, v] : items_)
    if (k == key) return std::string_view{v};
  return std::nullopt;
}

void KeyValueMetadata::set(std::string key, std::string value) {
  for (auto& [k, v] : items_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  items_.emplace_back(std::move(key), std::move(value));
}

bool KeyValueMetadata::erase(std::string_view key) {
  for (auto it = items_.begin(); it != items_.end(); ++it) {
    if (it->first == key) {
      items_.erase(it);
      return true;
    }
  }
  return false;
}

// --- DataType ------------------------------------------------------------------

DataType::DataType(Params p)
    : id_(p.id),
      unit_(p.unit),
      flag_(p.flag),
      fixed_size_(p.fixed_size),
      precision_(p.precision),
      scale_(p.scale),
      timezone_(std::move(p.timezone)),
      children_(std::move(p.children)),
      index_type_(std::move(p.index_type)),
      value_type_(std::move(p.value_type)) {}

Layout DataType::layout() const noexcept {
  switch (id_) {
    case TypeId::null:
      return Layout::null;
    case TypeId::boolean:
      return Layout::bitmap;
    case TypeId::utf8:
    case TypeId::binary:
      return Layout::binary32;
    case TypeId::large_utf8:
    case TypeId::large_binary:
      return Layout::binary64;
    case TypeId::list:
    case TypeId::map:
      return Layout::list32;
    case TypeId::large_list:
      return Layout::list64;
    case TypeId::fixed_size_list:
      return Layout::fixed_list;
    case TypeId::struct_:
      return Layout::struct_;
    case TypeId::dictionary:
      return Layout::dictionary;
    default:
      return Layout::fixed_width;
  }
}

int DataType::num_buffers() const noexcept {
  switch (layout()) {
    case Layout::null:
      return 0;
    case Layout::fixed_list:
    case Layout::struct_:
      return 1;
    case Layout::binary32:
    case Layout::binary64:
      return 3;
    default:
      return 2;
  }
}

int DataType::byte_width() const noexcept {
  switch (id_) {
    case TypeId::int8:
    case TypeId::uint8:
      return 1;
    case TypeId::int16:
    case TypeId::uint16:
    case TypeId::float16:
      return 2;
    case TypeId::int32:
    case TypeId::uint32:
    case TypeId::float32:
    case TypeId::date32:
    case TypeId::time32:
    case TypeId::interval_months:
      return 4;
    case TypeId::int64:
    case TypeId::uint64:
    case TypeId::float64:
    case TypeId::date64:
    case TypeId::time64:
    case TypeId::timestamp:
    case TypeId::duration:
    case TypeId::interval_day_time:
      return 8;
    case TypeId::decimal128:
    case TypeId::interval_month_day_nano:
      return 16;
    case TypeId::fixed_size_binary:
      return fixed_size_;
    case TypeId::dictionary:
      return index_type_ ? index_type_->byte_width() : 0;
    default:
      return 0;
  }
}

bool DataType::equals(const DataType& o, bool check_metadata) const {
  if (this == &o) return true;
  if (id_ != o.id_) return false;
  switch (id_) {
    case TypeId::time32:
    case TypeId::time64:
    case TypeId::duration:
      if (unit_ != o.unit_) return false;
      break;
    case TypeId::timestamp:
      if (unit_ != o.unit_ || timezone_ != o.timezone_) return false;
      break;
    case TypeId::fixed_size_binary:
    case TypeId::fixed_size_list:
      if (fixed_size_ != o.fixed_size_) return false;
      break;
    case TypeId::decimal128:
      if (precision_ != o.precision_ || scale_ != o.scale_) return false;
      break;
    case TypeId::map:
    case TypeId::dictionary:
      if (flag_ != o.flag_) return false;
      break;
    default:
      break;
  }
  if (id_ == TypeId::dictionary) {
    return index_type_->equals(*o.index_type_) &&
           value_type_->equals(*o.value_type_, check_metadata);
  }
  if (children_.size() != o.children_.size()) return false;
  for (std::size_t i = 0; i < children_.size(); ++i) {
    if (!children_[i]->equals(*o.children_[i], check_metadata)) return false;
  }
  return true;
}

std::string DataType::to_string() const {
  switch (id_) {
    case TypeId::fixed_size_binary:
      return fmt::format("fixed_size_binary[{}]", fixed_size_);
    case TypeId::decimal128:
      return fmt::format("decimal128({}, {})", precision_, scale_);
    case TypeId::time32:
    case TypeId::time64:
    case TypeId::duration:
      return fmt::format("{}[{}]", type_id_name(id_), time_unit_name(unit_));
    case TypeId::timestamp:
      if (timezone_.empty()) return fmt::format("timestamp[{}]", time_unit_name(unit_));
      return fmt::format("timestamp[{}, tz={}]", time_unit_name(unit_), timezone_);
    case TypeId::list:
    case TypeId::large_list:
      return fmt::format("{}<{}>", type_id_name(id_), children_[0]->to_string());
    case TypeId::fixed_size_list:
      return fmt::format("fixed_size_list<{}>[{}]", children_[0]->to_string(), fixed_size_);
    case TypeId::struct_: {
      std::string s = "struct<";
      for (std::size_t i = 0; i < children_.size(); ++i) {
        if (i) s += ", ";
        s += children_[i]->to_string();
      }
      return s + ">";
    }
    case TypeId::map: {
      const auto& kv = children_[0]->type()->fields();
      return fmt::format("map<{}, {}{}>", kv[0]->type()->to_string(), kv[1]->type()->to_string(),
                         flag_ ? ", keys_sorted" : "");
    }
    case TypeId::dictionary:
      return fmt::format("dictionary<values={}, indices={}{}>", value_type_->to_string(),
                         index_type_->to_string(), flag_ ? ", ordered" : "");
    default:
      return std::string{type_id_name(id_)};
  }
}

// --- Field / Schema --------------------------------------------------------------

bool Field::equals(const Field& o, bool check_metadata) const {
  if (this == &o) return true;
  if (name_ != o.name_ || nullable_ != o.nullable_) return false;
  if (check_metadata && metadata_ != o.metadata_) return false;
  return type_->equals(*o.type_, check_metadata);
}

std::string Field::to_string() const {
  return fmt::format("{}: {}{}", name_, type_->to_string(), nullable_ ? "" : " not null");
}

int Schema::field_index(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < fields_.size(); ++i)
    if (fields_[i]->name() == name) return static_cast<int>(i);
  return -1;
}

bool Schema::equals(const Schema& o, bool check_metadata) const {
  if (this == &o) return true;
  if (fields_.size() != o.fields_.size()) return false;
  if (check_metadata && metadata_ != o.metadata_) return false;
  for (std::size_t i = 0; i < fields_.size(); ++i)
    if (!fields_[i]->equals(*o.fields_[i], check_metadata)) return false;
  return true;
}

std::string Schema::to_string() const {
  std::string s;
  for (const auto& f : fields_) {
    s += f->to_string();
    s += '\n';
  }
  for (const auto& [k, v] : metadata_.items()) s += fmt::format("-- {}: {}\n", k, v);
  return s;
}

namespace {
bool type_has_dictionary(const DataType& t) {
  if (t.id() == TypeId::dictionary) return true;
  for (const auto& f : t.fields())
    if (type_has_dictionary(*f->type())) return true;
  return false;
}
}  // namespace

bool Schema::has_dictionaries() const noexcept {
  for (const auto& f : fields_)
    if (type_has_dictionary(*f->type())) return true;
  return false;
}

bool Schema::has_top_level_dictionaries() const noexcept {
  for (const auto& f : fields_)
    if (f->type()->id() == TypeId::dictionary) return true;
  return false;
}

// --- factories -------------------------------------------------------------------

namespace {
TypePtr make(DataType::Params p) { return std::make_shared<const DataType>(std::move(p)); }
TypePtr simple(TypeId id) {
  DataType::Params p;
  p.id = id;
  return make(std::move(p));
}
TypePtr with_unit(TypeId id, TimeUnit unit) {
  DataType::Params p;
  p.id = id;
  p.unit = unit;
  return make(std::move(p));
}
TypePtr with_children(TypeId id, std::vector<FieldPtr> children, std::int32_t fixed = 0,
                      bool flag = false) {
  for (const auto& c : children) SLUICE_CHECK(c && c->type(), "nested type with a null field");
  DataType::Params p;
  p.id = id;
  p.children = std::move(children);
  p.fixed_size = fixed;
  p.flag = flag;
  return make(std::move(p));
}
}  // namespace

// Singletons for the parameterless types: they are immutable and shared.
#define SLUICE_SIMPLE_TYPE(fn, id)       \
  TypePtr fn() {                         \
    static const TypePtr t = simple(id); \
    return t;                            \
  }
SLUICE_SIMPLE_TYPE(null, TypeId::null)
SLUICE_SIMPLE_TYPE(boolean, TypeId::boolean)
SLUICE_SIMPLE_TYPE(int8, TypeId::int8)
SLUICE_SIMPLE_TYPE(int16, TypeId::int16)
SLUICE_SIMPLE_TYPE(int32, TypeId::int32)
SLUICE_SIMPLE_TYPE(int64, TypeId::int64)
SLUICE_SIMPLE_TYPE(uint8, TypeId::uint8)
SLUICE_SIMPLE_TYPE(uint16, TypeId::uint16)
SLUICE_SIMPLE_TYPE(uint32, TypeId::uint32)
SLUICE_SIMPLE_TYPE(uint64, TypeId::uint64)
SLUICE_SIMPLE_TYPE(float16, TypeId::float16)
SLUICE_SIMPLE_TYPE(float32, TypeId::float32)
SLUICE_SIMPLE_TYPE(float64, TypeId::float64)
SLUICE_SIMPLE_TYPE(utf8, TypeId::utf8)
SLUICE_SIMPLE_TYPE(large_utf8, TypeId::large_utf8)
SLUICE_SIMPLE_TYPE(binary, TypeId::binary)
SLUICE_SIMPLE_TYPE(large_binary, TypeId::large_binary)
SLUICE_SIMPLE_TYPE(date32, TypeId::date32)
SLUICE_SIMPLE_TYPE(date64, TypeId::date64)
SLUICE_SIMPLE_TYPE(interval_months, TypeId::interval_months)
SLUICE_SIMPLE_TYPE(interval_day_time, TypeId::interval_day_time)
SLUICE_SIMPLE_TYPE(interval_month_day_nano, TypeId::interval_month_day_nano)
#undef SLUICE_SIMPLE_TYPE

TypePtr fixed_size_binary(std::int32_t byte_width) {
  SLUICE_CHECK(byte_width >= 0, "negative byte width {}", byte_width);
  DataType::Params p;
  p.id = TypeId::fixed_size_binary;
  p.fixed_size = byte_width;
  return make(std::move(p));
}

TypePtr decimal128(std::int32_t precision, std::int32_t scale) {
  DataType::Params p;
  p.id = TypeId::decimal128;
  p.precision = precision;
  p.scale = scale;
  return make(std::move(p));
}

TypePtr time32(TimeUnit unit) {
  SLUICE_CHECK(unit == TimeUnit::second || unit == TimeUnit::milli, "time32 takes s or ms");
  return with_unit(TypeId::time32, unit);
}
TypePtr time64(TimeUnit unit) {
  SLUICE_CHECK(unit == TimeUnit::micro || unit == TimeUnit::nano, "time64 takes us or ns");
  return with_unit(TypeId::time64, unit);
}
TypePtr timestamp(TimeUnit unit, std::string timezone) {
  DataType::Params p;
  p.id = TypeId::timestamp;
  p.unit = unit;
  p.timezone = std::move(timezone);
  return make(std::move(p));
}
TypePtr duration(TimeUnit unit) { return with_unit(TypeId::duration, unit); }

TypePtr list(FieldPtr value_field) { return with_children(TypeId::list, {std::move(value_field)}); }
TypePtr list(TypePtr value_type) { return list(field("item", std::move(value_type))); }
TypePtr large_list(FieldPtr value_field) {
  return with_children(TypeId::large_list, {std::move(value_field)});
}
TypePtr large_list(TypePtr value_type) { return large_list(field("item", std::move(value_type))); }
TypePtr fixed_size_list(FieldPtr value_field, std::int32_t list_size) {
  SLUICE_CHECK(list_size >= 0, "negative list size {}", list_size);
  return with_children(TypeId::fixed_size_list, {std::move(value_field)}, list_size);
}
TypePtr fixed_size_list(TypePtr value_type, std::int32_t list_size) {
  return fixed_size_list(field("item", std::move(value_type)), list_size);
}
TypePtr struct_(std::vector<FieldPtr> fields) {
  return with_children(TypeId::struct_, std::move(fields));
}

TypePtr map(TypePtr key_type, TypePtr item_type, bool keys_sorted) {
  auto entries = field(
      "entries",
      struct_({field("key", std::move(key_type), false), field("value", std::move(item_type))}),
      false);
  return map(std::move(entries), keys_sorted);
}

TypePtr map(FieldPtr entries_field, bool keys_sorted) {
  SLUICE_CHECK(entries_field && entries_field->type()->id() == TypeId::struct_ &&
                   entries_field->type()->fields().size() == 2,
               "map entries must be a struct of key and value");
  return with_children(TypeId::map, {std::move(entries_field)}, 0, keys_sorted);
}

TypePtr dictionary(TypePtr index_type, TypePtr value_type, bool ordered) {
  SLUICE_CHECK(index_type && index_type->is_integer(),
               "dictionary index type must be an integer type");
  SLUICE_CHECK(value_type && value_type->id() != TypeId::dictionary,
               "dictionary of dictionary values");
  DataType::Params p;
  p.id = TypeId::dictionary;
  p.index_type = std::move(index_type);
  p.value_type = std::move(value_type);
  p.flag = ordered;
  return make(std::move(p));
}

FieldPtr field(std::string name, TypePtr type, bool nullable, KeyValueMetadata metadata) {
  SLUICE_CHECK(type != nullptr, "field '{}' without a type", name);
  return std::make_shared<const Field>(std::move(name), std::move(type), nullable,
                                       std::move(metadata));
}

SchemaPtr schema(std::vector<FieldPtr> fields, KeyValueMetadata metadata) {
  return std::make_shared<const Schema>(std::move(fields), std::move(metadata));
}

}  // namespace sluice::arrow
