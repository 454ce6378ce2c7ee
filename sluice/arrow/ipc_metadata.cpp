// Schema <-> flatbuffer conversion, message verification and framing.

#include <sluice/arrow/internal/ipc.hpp>

#include <fmt/format.h>

namespace sluice::arrow::ipc {

namespace {

void assign_ids(const Field& f, DictionaryIds& ids, std::int64_t& next) {
  const DataType& t = *f.type();
  if (t.id() == TypeId::dictionary) {
    ids[&f] = next++;
    return;  // dictionaries inside dictionary values are not supported
  }
  for (const auto& c : t.fields()) assign_ids(*c, ids, next);
}

}  // namespace

DictionaryIds assign_dictionary_ids(const Schema& schema) {
  DictionaryIds ids;
  std::int64_t next = 0;
  for (const auto& f : schema.fields()) assign_ids(*f, ids, next);
  return ids;
}

namespace detail {

namespace {

fb::TimeUnit to_fb(TimeUnit u) {
  switch (u) {
    case TimeUnit::second:
      return fb::TimeUnit::SECOND;
    case TimeUnit::milli:
      return fb::TimeUnit::MILLISECOND;
    case TimeUnit::micro:
      return fb::TimeUnit::MICROSECOND;
    case TimeUnit::nano:
      return fb::TimeUnit::NANOSECOND;
  }
  return fb::TimeUnit::SECOND;
}

Result<TimeUnit> from_fb(fb::TimeUnit u) {
  switch (u) {
    case fb::TimeUnit::SECOND:
      return TimeUnit::second;
    case fb::TimeUnit::MILLISECOND:
      return TimeUnit::milli;
    case fb::TimeUnit::MICROSECOND:
      return TimeUnit::micro;
    case fb::TimeUnit::NANOSECOND:
      return TimeUnit::nano;
  }
  return fail(Errc::parse_error, "time unit {}", static_cast<int>(u));
}

flatbuffers::Offset<fb::Int> encode_int(flatbuffers::FlatBufferBuilder& fbb, const DataType& t) {
  return fb::CreateInt(fbb, t.byte_width() * 8, t.is_signed_integer());
}

std::pair<fb::Type, FbOffset> encode_type(flatbuffers::FlatBufferBuilder& fbb, const DataType& t) {
  switch (t.id()) {
    case TypeId::null:
      return {fb::Type::Null, fb::CreateNull(fbb).Union()};
    case TypeId::boolean:
      return {fb::Type::Bool, fb::CreateBool(fbb).Union()};
    case TypeId::int8:
    case TypeId::int16:
    case TypeId::int32:
    case TypeId::int64:
    case TypeId::uint8:
    case TypeId::uint16:
    case TypeId::uint32:
    case TypeId::uint64:
      return {fb::Type::Int, encode_int(fbb, t).Union()};
    case TypeId::float16:
      return {fb::Type::FloatingPoint, fb::CreateFloatingPoint(fbb, fb::Precision::HALF).Union()};
    case TypeId::float32:
      return {fb::Type::FloatingPoint, fb::CreateFloatingPoint(fbb, fb::Precision::SINGLE).Union()};
    case TypeId::float64:
      return {fb::Type::FloatingPoint, fb::CreateFloatingPoint(fbb, fb::Precision::DOUBLE).Union()};
    case TypeId::utf8:
      return {fb::Type::Utf8, fb::CreateUtf8(fbb).Union()};
    case TypeId::large_utf8:
      return {fb::Type::LargeUtf8, fb::CreateLargeUtf8(fbb).Union()};
    case TypeId::binary:
      return {fb::Type::Binary, fb::CreateBinary(fbb).Union()};
    case TypeId::large_binary:
      return {fb::Type::LargeBinary, fb::CreateLargeBinary(fbb).Union()};
    case TypeId::fixed_size_binary:
      return {fb::Type::FixedSizeBinary, fb::CreateFixedSizeBinary(fbb, t.fixed_size()).Union()};
    case TypeId::decimal128:
      return {fb::Type::Decimal, fb::CreateDecimal(fbb, t.precision(), t.scale(), 128).Union()};
    case TypeId::date32:
      return {fb::Type::Date, fb::CreateDate(fbb, fb::DateUnit::DAY).Union()};
    case TypeId::date64:
      return {fb::Type::Date, fb::CreateDate(fbb, fb::DateUnit::MILLISECOND).Union()};
    case TypeId::time32:
      return {fb::Type::Time, fb::CreateTime(fbb, to_fb(t.unit()), 32).Union()};
    case TypeId::time64:
      return {fb::Type::Time, fb::CreateTime(fbb, to_fb(t.unit()), 64).Union()};
    case TypeId::timestamp: {
      auto tz = t.timezone().empty() ? flatbuffers::Offset<flatbuffers::String>()
                                     : fbb.CreateString(t.timezone());
      return {fb::Type::Timestamp, fb::CreateTimestamp(fbb, to_fb(t.unit()), tz).Union()};
    }
    case TypeId::duration:
      return {fb::Type::Duration, fb::CreateDuration(fbb, to_fb(t.unit())).Union()};
    case TypeId::interval_months:
      return {fb::Type::Interval, fb::CreateInterval(fbb, fb::IntervalUnit::YEAR_MONTH).Union()};
    case TypeId::interval_day_time:
      return {fb::Type::Interval, fb::CreateInterval(fbb, fb::IntervalUnit::DAY_TIME).Union()};
    case TypeId::interval_month_day_nano:
      return {fb::Type::Interval,
              fb::CreateInterval(fbb, fb::IntervalUnit::MONTH_DAY_NANO).Union()};
    case TypeId::list:
      return {fb::Type::List, fb::CreateList(fbb).Union()};
    case TypeId::large_list:
      return {fb::Type::LargeList, fb::CreateLargeList(fbb).Union()};
    case TypeId::fixed_size_list:
      return {fb::Type::FixedSizeList, fb::CreateFixedSizeList(fbb, t.fixed_size()).Union()};
    case TypeId::struct_:
      return {fb::Type::Struct_, fb::CreateStruct_(fbb).Union()};
    case TypeId::map:
      return {fb::Type::Map, fb::CreateMap(fbb, t.keys_sorted()).Union()};
    case TypeId::dictionary:
      break;  // handled by the caller
  }
  SLUICE_FATAL("encode_type: unexpected {}", t.to_string());
}

flatbuffers::Offset<fb::Field> encode_field(flatbuffers::FlatBufferBuilder& fbb, const Field& f,
                                            const DictionaryIds& ids) {
  const DataType* t = f.type().get();
  flatbuffers::Offset<fb::DictionaryEncoding> dict;
  if (t->id() == TypeId::dictionary) {
    auto it = ids.find(&f);
    SLUICE_CHECK(it != ids.end(), "dictionary field '{}' without an id", f.name());
    auto index = encode_int(fbb, *t->index_type());
    dict = fb::CreateDictionaryEncoding(fbb, it->second, index, t->ordered());
    t = t->value_type().get();
  }
  std::vector<flatbuffers::Offset<fb::Field>> children;
  children.reserve(t->fields().size());
  for (const auto& c : t->fields()) children.push_back(encode_field(fbb, *c, ids));
  auto children_vec = fbb.CreateVector(children);
  auto [type_type, type_off] = encode_type(fbb, *t);
  auto name = fbb.CreateString(f.name());
  auto md = f.metadata().empty() ? KeyValueVector() : encode_metadata(fbb, f.metadata());
  return fb::CreateField(fbb, name, f.nullable(), type_type, type_off, dict, children_vec, md);
}

// --- decoding (untrusted) -----------------------------------------------------------

bool type_has_dictionary(const DataType& t) {
  if (t.id() == TypeId::dictionary) return true;
  for (const auto& c : t.fields())
    if (type_has_dictionary(*c->type())) return true;
  return false;
}

Result<TypePtr> decode_int(const fb::Int* i) {
  if (i == nullptr) return fail(Errc::parse_error, "Int type without parameters");
  const bool s = i->is_signed();
  switch (i->bit_width()) {
    case 8:
      return s ? int8() : uint8();
    case 16:
      return s ? int16() : uint16();
    case 32:
      return s ? int32() : uint32();
    case 64:
      return s ? int64() : uint64();
    default:
      return fail(Errc::parse_error, "integer bit width {}", i->bit_width());
  }
}

Result<TypePtr> decode_value_type(const fb::Field* f, std::vector<FieldPtr>& children) {
  auto want_children = [&](std::size_t n, const char* what) -> Result<void> {
    if (children.size() != n)
      return fail(Errc::parse_error, "{} with {} children", what, children.size());
    return ok();
  };
  switch (f->type_type()) {
    case fb::Type::NONE:
      return fail(Errc::parse_error, "field without a type");
    case fb::Type::Null:
      return null();
    case fb::Type::Bool:
      return boolean();
    case fb::Type::Int:
      return decode_int(f->type_as_Int());
    case fb::Type::FloatingPoint: {
      const auto* p = f->type_as_FloatingPoint();
      if (p == nullptr) return fail(Errc::parse_error, "FloatingPoint without parameters");
      switch (p->precision()) {
        case fb::Precision::HALF:
          return float16();
        case fb::Precision::SINGLE:
          return float32();
        case fb::Precision::DOUBLE:
          return float64();
      }
      return fail(Errc::parse_error, "float precision {}", static_cast<int>(p->precision()));
    }
    case fb::Type::Utf8:
      return utf8();
    case fb::Type::LargeUtf8:
      return large_utf8();
    case fb::Type::Binary:
      return binary();
    case fb::Type::LargeBinary:
      return large_binary();
    case fb::Type::FixedSizeBinary: {
      const auto* p = f->type_as_FixedSizeBinary();
      if (p == nullptr || p->byte_width() < 0)
        return fail(Errc::parse_error, "fixed-size binary width {}", p ? p->byte_width() : -1);
      return fixed_size_binary(p->byte_width());
    }
    case fb::Type::Decimal: {
      const auto* p = f->type_as_Decimal();
      if (p == nullptr) return fail(Errc::parse_error, "Decimal without parameters");
      if (p->bit_width() != 128)
        return fail(Errc::not_supported, "decimal of {} bits", p->bit_width());
      if (p->precision() < 1 || p->precision() > 38)
        return fail(Errc::parse_error, "decimal128 precision {} outside [1, 38]", p->precision());
      return decimal128(p->precision(), p->scale());
    }
    case fb::Type::Date: {
      const auto* p = f->type_as_Date();
      // The unit defaults to MILLISECOND when the table is absent or empty.
      const fb::DateUnit u = p ? p->unit() : fb::DateUnit::MILLISECOND;
      if (u == fb::DateUnit::DAY) return date32();
      if (u == fb::DateUnit::MILLISECOND) return date64();
      return fail(Errc::parse_error, "date unit {}", static_cast<int>(u));
    }
    case fb::Type::Time: {
      const auto* p = f->type_as_Time();
      const fb::TimeUnit fu = p ? p->unit() : fb::TimeUnit::MILLISECOND;
      const int bits = p ? p->bit_width() : 32;
      SLUICE_TRY_ASSIGN(TimeUnit u, from_fb(fu));
      if ((u == TimeUnit::second || u == TimeUnit::milli) && bits == 32) return time32(u);
      if ((u == TimeUnit::micro || u == TimeUnit::nano) && bits == 64) return time64(u);
      return fail(Errc::parse_error, "time[{}] of {} bits", time_unit_name(u), bits);
    }
    case fb::Type::Timestamp: {
      const auto* p = f->type_as_Timestamp();
      if (p == nullptr) return timestamp(TimeUnit::second);
      SLUICE_TRY_ASSIGN(TimeUnit u, from_fb(p->unit()));
      return timestamp(u, p->timezone() ? p->timezone()->str() : std::string{});
    }
    case fb::Type::Duration: {
      const auto* p = f->type_as_Duration();
      SLUICE_TRY_ASSIGN(TimeUnit u, from_fb(p ? p->unit() : fb::TimeUnit::MILLISECOND));
      return duration(u);
    }
    case fb::Type::Interval: {
      const auto* p = f->type_as_Interval();
      const fb::IntervalUnit u = p ? p->unit() : fb::IntervalUnit::YEAR_MONTH;
      switch (u) {
        case fb::IntervalUnit::YEAR_MONTH:
          return interval_months();
        case fb::IntervalUnit::DAY_TIME:
          return interval_day_time();
        case fb::IntervalUnit::MONTH_DAY_NANO:
          return interval_month_day_nano();
      }
      return fail(Errc::parse_error, "interval unit {}", static_cast<int>(u));
    }
    case fb::Type::List:
      SLUICE_TRY(want_children(1, "list"));
      return list(children[0]);
    case fb::Type::LargeList:
      SLUICE_TRY(want_children(1, "large list"));
      return large_list(children[0]);
    case fb::Type::FixedSizeList: {
      SLUICE_TRY(want_children(1, "fixed-size list"));
      const auto* p = f->type_as_FixedSizeList();
      if (p == nullptr || p->list_size() < 0)
        return fail(Errc::parse_error, "fixed-size list size {}", p ? p->list_size() : -1);
      return fixed_size_list(children[0], p->list_size());
    }
    case fb::Type::Struct_:
      return struct_(children);
    case fb::Type::Map: {
      SLUICE_TRY(want_children(1, "map"));
      const auto& entries = children[0];
      if (entries->type()->id() != TypeId::struct_ || entries->type()->fields().size() != 2)
        return fail(Errc::parse_error, "map entries of type {}", entries->type()->to_string());
      const auto* p = f->type_as_Map();
      return map(entries, p != nullptr && p->keys_sorted());
    }
    case fb::Type::Union:
      return fail(Errc::not_supported, "union types");
    case fb::Type::RunEndEncoded:
      return fail(Errc::not_supported, "run-end encoded types");
    case fb::Type::BinaryView:
    case fb::Type::Utf8View:
      return fail(Errc::not_supported, "binary/utf8 view types");
    case fb::Type::ListView:
    case fb::Type::LargeListView:
      return fail(Errc::not_supported, "list view types");
  }
  return fail(Errc::parse_error, "type tag {}", static_cast<int>(f->type_type()));
}

Result<FieldPtr> decode_field(const fb::Field* f, int depth, DecodedSchema& out) {
  if (f == nullptr) return fail(Errc::parse_error, "null field");
  if (depth > kMaxNestingDepth)
    return fail(Errc::parse_error, "fields nested deeper than {}", kMaxNestingDepth);
  std::string name = f->name() ? f->name()->str() : std::string{};
  std::vector<FieldPtr> children;
  if (const auto* cs = f->children()) {
    children.reserve(cs->size());
    for (flatbuffers::uoffset_t i = 0; i < cs->size(); ++i) {
      auto c = decode_field(cs->Get(i), depth + 1, out);
      if (!c) return fail(std::move(c).error().context(fmt::format("field '{}'", name)));
      children.push_back(std::move(c).value());
    }
  }
  auto value_type = decode_value_type(f, children);
  if (!value_type)
    return fail(std::move(value_type).error().context(fmt::format("field '{}'", name)));
  TypePtr type = std::move(value_type).value();
  SLUICE_TRY_ASSIGN(KeyValueMetadata md, decode_metadata(f->custom_metadata()));
  const auto* enc = f->dictionary();
  if (enc != nullptr) {
    if (type_has_dictionary(*type))
      return fail(Errc::not_supported,
                  "field '{}': dictionary values that are themselves dictionary-encoded", name);
    TypePtr index = int32();
    if (enc->index_type() != nullptr) {
      SLUICE_TRY_ASSIGN(index, decode_int(enc->index_type()));
    }
    const std::int64_t id = enc->id();
    auto [it, inserted] = out.value_types.emplace(id, type);
    if (!inserted && !it->second->equals(*type))
      return fail(Errc::parse_error, "field '{}': dictionary id {} used for {} and {}", name, id,
                  it->second->to_string(), type->to_string());
    type = dictionary(std::move(index), type, enc->is_ordered());
  }
  auto field_ptr = field(std::move(name), std::move(type), f->nullable(), std::move(md));
  if (enc != nullptr) out.ids[field_ptr.get()] = enc->id();
  return field_ptr;
}

void describe_field(const FieldPtr& f, DecodedSchema& out, std::int64_t& next) {
  const DataType& t = *f->type();
  if (t.id() == TypeId::dictionary) {
    out.ids[f.get()] = next;
    out.value_types.emplace(next, t.value_type());
    ++next;
    return;
  }
  for (const auto& c : t.fields()) describe_field(c, out, next);
}

}  // namespace

KeyValueVector encode_metadata(flatbuffers::FlatBufferBuilder& fbb, const KeyValueMetadata& md) {
  std::vector<flatbuffers::Offset<fb::KeyValue>> kvs;
  kvs.reserve(md.size());
  for (const auto& [k, v] : md.items()) {
    auto key = fbb.CreateString(k);
    auto value = fbb.CreateString(v);
    kvs.push_back(fb::CreateKeyValue(fbb, key, value));
  }
  return fbb.CreateVector(kvs);
}

flatbuffers::Offset<fb::Schema> encode_schema_table(flatbuffers::FlatBufferBuilder& fbb,
                                                    const Schema& schema,
                                                    const DictionaryIds& ids) {
  std::vector<flatbuffers::Offset<fb::Field>> fields;
  fields.reserve(schema.num_fields());
  for (const auto& f : schema.fields()) fields.push_back(encode_field(fbb, *f, ids));
  auto fields_vec = fbb.CreateVector(fields);
  auto md = schema.metadata().empty() ? KeyValueVector() : encode_metadata(fbb, schema.metadata());
  return fb::CreateSchema(fbb, fb::Endianness::Little, fields_vec, md);
}

Result<KeyValueMetadata> decode_metadata(
    const flatbuffers::Vector<flatbuffers::Offset<fb::KeyValue>>* kv) {
  KeyValueMetadata md;
  if (kv == nullptr) return md;
  for (flatbuffers::uoffset_t i = 0; i < kv->size(); ++i) {
    const fb::KeyValue* e = kv->Get(i);
    if (e == nullptr) return fail(Errc::parse_error, "null metadata entry");
    md.append(e->key() ? e->key()->str() : std::string{},
              e->value() ? e->value()->str() : std::string{});
  }
  return md;
}

Result<DecodedSchema> decode_schema(const fb::Schema* s) {
  if (s == nullptr) return fail(Errc::parse_error, "message without a schema");
  if (s->endianness() != fb::Endianness::Little)
    return fail(Errc::not_supported, "big-endian data");
  DecodedSchema out;
  std::vector<FieldPtr> fields;
  if (const auto* fs = s->fields()) {
    fields.reserve(fs->size());
    for (flatbuffers::uoffset_t i = 0; i < fs->size(); ++i) {
      SLUICE_TRY_ASSIGN(FieldPtr f, decode_field(fs->Get(i), 1, out));
      fields.push_back(std::move(f));
    }
  }
  SLUICE_TRY_ASSIGN(KeyValueMetadata md, decode_metadata(s->custom_metadata()));
  out.schema = arrow::schema(std::move(fields), std::move(md));
  return out;
}

DecodedSchema describe_schema(SchemaPtr schema) {
  DecodedSchema out;
  std::int64_t next = 0;
  for (const auto& f : schema->fields()) describe_field(f, out, next);
  out.schema = std::move(schema);
  return out;
}

Result<const fb::Message*> verify_message(const Buffer& metadata) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(metadata.data());
  // Depth 128 covers kMaxNestingDepth fields (two tables per level).
  flatbuffers::Verifier verifier(p, metadata.size(), 2 * kMaxNestingDepth + 8, 1000000);
  if (!fb::VerifyMessageBuffer(verifier))
    return fail(Errc::parse_error, "message flatbuffer fails verification");
  const fb::Message* m = fb::GetMessage(p);
  if (m->version() < fb::MetadataVersion::V4)
    return fail(Errc::not_supported, "metadata version V{}", static_cast<int>(m->version()) + 1);
  if (m->body_length() < 0)
    return fail(Errc::parse_error, "negative body length {}", m->body_length());
  return m;
}

Result<Prefix> parse_prefix(std::span<const std::byte> bytes) {
  if (bytes.size() < 4)
    return fail(Errc::parse_error, "truncated message prefix ({} bytes)", bytes.size());
  std::uint32_t first;
  std::memcpy(&first, bytes.data(), 4);
  Prefix p;
  std::int32_t len;
  if (first == kContinuation) {
    if (bytes.size() < 8)
      return fail(Errc::parse_error, "truncated message prefix ({} bytes)", bytes.size());
    len = load_i32(bytes.data() + 4);
    p.prefix_size = 8;
  } else {
    len = static_cast<std::int32_t>(first);  // pre-1.0 framing: the length alone
    p.prefix_size = 4;
  }
  if (len < 0) return fail(Errc::parse_error, "negative metadata length {}", len);
  p.metadata_size = static_cast<std::size_t>(len);
  return p;
}

}  // namespace detail

Result<std::size_t> message_size(std::span<const std::byte> bytes) {
  SLUICE_TRY_ASSIGN(detail::Prefix p, detail::parse_prefix(bytes));
  if (p.metadata_size == 0) return p.prefix_size;
  if (!fits(p.prefix_size, p.metadata_size, bytes.size()))
    return fail(Errc::parse_error, "metadata of {} bytes past the end ({} bytes)", p.metadata_size,
                bytes.size());
  Buffer md = Buffer::copy_of(bytes.data() + p.prefix_size, p.metadata_size);
  SLUICE_TRY_ASSIGN(const detail::fb::Message* m, detail::verify_message(md));
  const auto body = static_cast<std::uint64_t>(m->body_length());
  const std::uint64_t total = p.prefix_size + p.metadata_size;
  if (body > bytes.size() - total)
    return fail(Errc::parse_error, "body of {} bytes past the end ({} bytes left)", body,
                bytes.size() - total);
  return static_cast<std::size_t>(total + body);
}

}  // namespace sluice::arrow::ipc
