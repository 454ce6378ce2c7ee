#include <sluice/arrow/c_data.hpp>

#include <sluice/arrow/validate.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

namespace sluice::arrow::c_data {

namespace {

// Non-null address for empty non-validity buffers: some consumers read
// offsets[0] of an empty array.
alignas(64) constexpr std::byte kZeros[64] = {};

const char* unit_char(TimeUnit u) {
  switch (u) {
    case TimeUnit::second:
      return "s";
    case TimeUnit::milli:
      return "m";
    case TimeUnit::micro:
      return "u";
    case TimeUnit::nano:
      return "n";
  }
  return "s";
}

// --- schema export ------------------------------------------------------------------

struct SchemaPrivate {
  std::string format;
  std::string name;
  std::string metadata;  // the binary encoding; empty = none
  std::vector<ArrowSchema> children;
  std::vector<ArrowSchema*> child_ptrs;
  std::unique_ptr<ArrowSchema> dictionary;
};

void release_schema(ArrowSchema* s) {
  if (s == nullptr || s->release == nullptr) return;
  for (int64_t i = 0; i < s->n_children; ++i) {
    ArrowSchema* c = s->children[i];
    if (c != nullptr && c->release != nullptr) c->release(c);
  }
  if (s->dictionary != nullptr && s->dictionary->release != nullptr)
    s->dictionary->release(s->dictionary);
  delete static_cast<SchemaPrivate*>(s->private_data);
  s->release = nullptr;
}

std::string encode_metadata(const KeyValueMetadata& md) {
  if (md.empty()) return {};
  std::string out;
  auto put32 = [&](std::size_t v) {
    const auto n = static_cast<std::int32_t>(v);
    out.append(reinterpret_cast<const char*>(&n), 4);
  };
  put32(md.size());
  for (const auto& [k, v] : md.items()) {
    put32(k.size());
    out += k;
    put32(v.size());
    out += v;
  }
  return out;
}

Result<void> fill_schema(const std::string& name, const DataType& type, bool nullable,
                         const KeyValueMetadata& md, ArrowSchema* out, int depth) {
  if (depth > kMaxNestingDepth)
    return fail(Errc::invalid_argument, "type nested deeper than {}", kMaxNestingDepth);
  auto priv = std::make_unique<SchemaPrivate>();
  SLUICE_TRY_ASSIGN(priv->format, format_string(type));
  priv->name = name;
  priv->metadata = encode_metadata(md);
  std::int64_t flags = nullable ? ARROW_FLAG_NULLABLE : 0;
  const DataType* value = &type;
  if (type.id() == TypeId::dictionary) {
    if (type.ordered()) flags |= ARROW_FLAG_DICTIONARY_ORDERED;
    priv->dictionary = std::make_unique<ArrowSchema>();
    SLUICE_TRY(fill_schema("", *type.value_type(), true, {}, priv->dictionary.get(), depth + 1));
    value = nullptr;  // the index type has no children
  } else if (type.id() == TypeId::map && type.keys_sorted()) {
    flags |= ARROW_FLAG_MAP_KEYS_SORTED;
  }
  if (value != nullptr) {
    const auto& fields = value->fields();
    priv->children.resize(fields.size());
    for (std::size_t i = 0; i < fields.size(); ++i) {
      auto r = fill_schema(fields[i]->name(), *fields[i]->type(), fields[i]->nullable(),
                           fields[i]->metadata(), &priv->children[i], depth + 1);
      if (!r) {
        for (std::size_t j = 0; j < i; ++j) release_schema(&priv->children[j]);
        if (priv->dictionary) release_schema(priv->dictionary.get());
        return r;
      }
    }
    for (auto& c : priv->children) priv->child_ptrs.push_back(&c);
  }
  out->format = priv->format.c_str();
  out->name = priv->name.c_str();
  out->metadata = priv->metadata.empty() ? nullptr : priv->metadata.data();
  out->flags = flags;
  out->n_children = static_cast<int64_t>(priv->child_ptrs.size());
  out->children = priv->child_ptrs.empty() ? nullptr : priv->child_ptrs.data();
  out->dictionary = priv->dictionary.get();
  out->release = &release_schema;
  out->private_data = priv.release();
  return ok();
}

// --- array export -------------------------------------------------------------------

struct ArrayPrivate {
  ArrayPtr array;  // keeps every buffer (and its lifetime handle) alive
  std::vector<const void*> buffers;
  std::vector<ArrowArray> children;
  std::vector<ArrowArray*> child_ptrs;
  std::unique_ptr<ArrowArray> dictionary;
  std::vector<ArrayPtr> columns;  // batches: the columns, when `array` is null
};

void release_array(ArrowArray* a) {
  if (a == nullptr || a->release == nullptr) return;
  for (int64_t i = 0; i < a->n_children; ++i) {
    ArrowArray* c = a->children[i];
    if (c != nullptr && c->release != nullptr) c->release(c);
  }
  if (a->dictionary != nullptr && a->dictionary->release != nullptr)
    a->dictionary->release(a->dictionary);
  delete static_cast<ArrayPrivate*>(a->private_data);
  a->release = nullptr;
}

void publish(std::unique_ptr<ArrayPrivate> priv, std::int64_t length, std::int64_t null_count,
             std::int64_t offset, ArrowArray* out) {
  for (auto& c : priv->children) priv->child_ptrs.push_back(&c);
  out->length = length;
  out->null_count = null_count;
  out->offset = offset;
  out->n_buffers = static_cast<int64_t>(priv->buffers.size());
  out->n_children = static_cast<int64_t>(priv->child_ptrs.size());
  out->buffers = priv->buffers.empty() ? nullptr : priv->buffers.data();
  out->children = priv->child_ptrs.empty() ? nullptr : priv->child_ptrs.data();
  out->dictionary = priv->dictionary.get();
  out->release = &release_array;
  out->private_data = priv.release();
}

Result<void> fill_array(const ArrayPtr& a, ArrowArray* out, int depth) {
  if (depth > kMaxNestingDepth)
    return fail(Errc::invalid_argument, "array nested deeper than {}", kMaxNestingDepth);
  if (static_cast<int>(a->buffers().size()) != a->type()->num_buffers())
    return fail(Errc::invalid_argument, "{} array with {} buffers", a->type()->to_string(),
                a->buffers().size());
  auto priv = std::make_unique<ArrayPrivate>();
  priv->array = a;
  for (std::size_t i = 0; i < a->buffers().size(); ++i) {
    const Buffer& b = a->buffers()[i];
    if (!b.empty())
      priv->buffers.push_back(b.data());
    else
      priv->buffers.push_back(i == 0 ? nullptr : static_cast<const void*>(kZeros));
  }
  priv->children.resize(a->children().size());
  for (std::size_t i = 0; i < a->children().size(); ++i) {
    auto r = fill_array(a->children()[i], &priv->children[i], depth + 1);
    if (!r) {
      for (std::size_t j = 0; j < i; ++j) release_array(&priv->children[j]);
      return r;
    }
  }
  if (a->dictionary()) {
    priv->dictionary = std::make_unique<ArrowArray>();
    auto r = fill_array(a->dictionary(), priv->dictionary.get(), depth + 1);
    if (!r) {
      for (auto& c : priv->children) release_array(&c);
      return r;
    }
  }
  const std::int64_t nulls = a->type_id() == TypeId::null ? a->length() : a->null_count();
  publish(std::move(priv), a->length(), nulls, a->offset(), out);
  return ok();
}

// --- schema import --------------------------------------------------------------------

Result<std::int32_t> parse_int(std::string_view s, std::string_view what) {
  std::int32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size())
    return fail(Errc::parse_error, "{} '{}'", what, s);
  return v;
}

Result<TimeUnit> parse_unit(char c) {
  switch (c) {
    case 's':
      return TimeUnit::second;
    case 'm':
      return TimeUnit::milli;
    case 'u':
      return TimeUnit::micro;
    case 'n':
      return TimeUnit::nano;
    default:
      return fail(Errc::parse_error, "time unit '{}'", c);
  }
}

Result<KeyValueMetadata> decode_metadata(const char* p) {
  KeyValueMetadata md;
  if (p == nullptr) return md;
  auto get32 = [&p]() {
    std::int32_t v;
    std::memcpy(&v, p, 4);
    p += 4;
    return v;
  };
  const std::int32_t n = get32();
  if (n < 0) return fail(Errc::parse_error, "metadata with {} entries", n);
  for (std::int32_t i = 0; i < n; ++i) {
    const std::int32_t kl = get32();
    if (kl < 0) return fail(Errc::parse_error, "metadata key of {} bytes", kl);
    std::string key(p, static_cast<std::size_t>(kl));
    p += kl;
    const std::int32_t vl = get32();
    if (vl < 0) return fail(Errc::parse_error, "metadata value of {} bytes", vl);
    std::string value(p, static_cast<std::size_t>(vl));
    p += vl;
    md.append(std::move(key), std::move(value));
  }
  return md;
}

Result<FieldPtr> import_field_impl(const ArrowSchema* s, int depth);

Result<TypePtr> parse_type(const ArrowSchema* s, std::vector<FieldPtr>& children) {
  if (s->format == nullptr) return fail(Errc::parse_error, "schema without a format");
  const std::string_view f = s->format;
  auto want = [&](std::size_t n) -> Result<void> {
    if (children.size() != n)
      return fail(Errc::parse_error, "format '{}' with {} children", f, children.size());
    return ok();
  };
  if (f.size() == 1) {
    switch (f[0]) {
      case 'n':
        return null();
      case 'b':
        return boolean();
      case 'c':
        return int8();
      case 'C':
        return uint8();
      case 's':
        return int16();
      case 'S':
        return uint16();
      case 'i':
        return int32();
      case 'I':
        return uint32();
      case 'l':
        return int64();
      case 'L':
        return uint64();
      case 'e':
        return float16();
      case 'f':
        return float32();
      case 'g':
        return float64();
      case 'z':
        return binary();
      case 'Z':
        return large_binary();
      case 'u':
        return utf8();
      case 'U':
        return large_utf8();
      default:
        break;
    }
  }
  if (f.starts_with("w:")) {
    SLUICE_TRY_ASSIGN(std::int32_t w, parse_int(f.substr(2), "fixed-size binary width"));
    if (w < 0) return fail(Errc::parse_error, "fixed-size binary width {}", w);
    return fixed_size_binary(w);
  }
  if (f.starts_with("d:")) {
    const std::string_view rest = f.substr(2);
    const auto c1 = rest.find(',');
    if (c1 == std::string_view::npos) return fail(Errc::parse_error, "decimal format '{}'", f);
    const auto c2 = rest.find(',', c1 + 1);
    SLUICE_TRY_ASSIGN(std::int32_t precision, parse_int(rest.substr(0, c1), "decimal precision"));
    SLUICE_TRY_ASSIGN(std::int32_t scale, parse_int(rest.substr(c1 + 1, c2 == std::string_view::npos
                                                                            ? std::string_view::npos
                                                                            : c2 - c1 - 1),
                                                    "decimal scale"));
    if (c2 != std::string_view::npos) {
      SLUICE_TRY_ASSIGN(std::int32_t bits, parse_int(rest.substr(c2 + 1), "decimal bit width"));
      if (bits != 128) return fail(Errc::not_supported, "decimal of {} bits", bits);
    }
    if (precision < 1 || precision > 38)
      return fail(Errc::parse_error, "decimal128 precision {}", precision);
    return decimal128(precision, scale);
  }
  if (f == "tdD") return date32();
  if (f == "tdm") return date64();
  if (f == "tts") return time32(TimeUnit::second);
  if (f == "ttm") return time32(TimeUnit::milli);
  if (f == "ttu") return time64(TimeUnit::micro);
  if (f == "ttn") return time64(TimeUnit::nano);
  if (f.size() >= 4 && f.starts_with("ts") && f[3] == ':') {
    SLUICE_TRY_ASSIGN(TimeUnit u, parse_unit(f[2]));
    return timestamp(u, std::string(f.substr(4)));
  }
  if (f.size() == 3 && f.starts_with("tD")) {
    SLUICE_TRY_ASSIGN(TimeUnit u, parse_unit(f[2]));
    return duration(u);
  }
  if (f == "tiM") return interval_months();
  if (f == "tiD") return interval_day_time();
  if (f == "tin") return interval_month_day_nano();
  if (f == "+l") {
    SLUICE_TRY(want(1));
    return list(children[0]);
  }
  if (f == "+L") {
    SLUICE_TRY(want(1));
    return large_list(children[0]);
  }
  if (f.starts_with("+w:")) {
    SLUICE_TRY(want(1));
    SLUICE_TRY_ASSIGN(std::int32_t n, parse_int(f.substr(3), "fixed-size list size"));
    if (n < 0) return fail(Errc::parse_error, "fixed-size list size {}", n);
    return fixed_size_list(children[0], n);
  }
  if (f == "+s") return struct_(children);
  if (f == "+m") {
    SLUICE_TRY(want(1));
    if (children[0]->type()->id() != TypeId::struct_ || children[0]->type()->fields().size() != 2)
      return fail(Errc::parse_error, "map entries of type {}", children[0]->type()->to_string());
    return map(children[0], (s->flags & ARROW_FLAG_MAP_KEYS_SORTED) != 0);
  }
  return fail(Errc::not_supported, "C data format '{}'", f);
}

Result<FieldPtr> import_field_impl(const ArrowSchema* s, int depth) {
  if (depth > kMaxNestingDepth)
    return fail(Errc::parse_error, "schema nested deeper than {}", kMaxNestingDepth);
  if (s == nullptr || s->release == nullptr)
    return fail(Errc::parse_error, "released or null schema");
  if (s->n_children < 0 || (s->n_children > 0 && s->children == nullptr))
    return fail(Errc::parse_error, "schema with {} children", s->n_children);
  std::string name = s->name ? s->name : "";
  std::vector<FieldPtr> children;
  for (int64_t i = 0; i < s->n_children; ++i) {
    auto c = import_field_impl(s->children[i], depth + 1);
    if (!c) return fail(std::move(c).error().context(fmt::format("field '{}'", name)));
    children.push_back(std::move(c).value());
  }
  auto t = parse_type(s, children);
  if (!t) return fail(std::move(t).error().context(fmt::format("field '{}'", name)));
  TypePtr type = std::move(t).value();
  if (s->dictionary != nullptr) {
    if (!type->is_integer())
      return fail(Errc::parse_error, "field '{}': dictionary index type {}", name,
                  type->to_string());
    SLUICE_TRY_ASSIGN(FieldPtr values, import_field_impl(s->dictionary, depth + 1));
    if (values->type()->id() == TypeId::dictionary)
      return fail(Errc::not_supported, "field '{}': dictionary of dictionary values", name);
    type = dictionary(type, values->type(), (s->flags & ARROW_FLAG_DICTIONARY_ORDERED) != 0);
  }
  SLUICE_TRY_ASSIGN(KeyValueMetadata md, decode_metadata(s->metadata));
  return field(std::move(name), std::move(type), (s->flags & ARROW_FLAG_NULLABLE) != 0,
               std::move(md));
}

// --- array import -----------------------------------------------------------------------

// Takes the producer's struct over; its release runs when the last imported
// buffer referencing it is dropped.
std::shared_ptr<ArrowArray> take_array(ArrowArray* in) {
  auto* moved = new ArrowArray(*in);
  in->release = nullptr;
  return std::shared_ptr<ArrowArray>(moved, [](ArrowArray* a) {
    if (a->release != nullptr) a->release(a);
    delete a;
  });
}

Result<ArrayPtr> import_node(const ArrowArray* a, const TypePtr& type,
                             const std::shared_ptr<ArrowArray>& owner, int depth) {
  if (depth > kMaxNestingDepth)
    return fail(Errc::parse_error, "array nested deeper than {}", kMaxNestingDepth);
  if (a == nullptr) return fail(Errc::parse_error, "null array");
  const DataType& t = *type;
  if (a->length < 0 || a->offset < 0 || a->length > INT64_MAX - a->offset)
    return fail(Errc::parse_error, "array length {} offset {}", a->length, a->offset);
  if (a->n_buffers != t.num_buffers())
    return fail(Errc::parse_error, "{} array with {} buffers, expected {}", t.to_string(),
                a->n_buffers, t.num_buffers());
  if (a->n_buffers > 0 && a->buffers == nullptr)
    return fail(Errc::parse_error, "array without a buffer table");
  const std::int64_t slots = a->offset + a->length;
  const Layout layout = t.layout();
  const std::size_t n_children =
      layout == Layout::struct_ ? t.fields().size()
      : (layout == Layout::list32 || layout == Layout::list64 || layout == Layout::fixed_list) ? 1
                                                                                               : 0;
  if (a->n_children != static_cast<int64_t>(n_children) ||
      (n_children > 0 && a->children == nullptr))
    return fail(Errc::parse_error, "{} array with {} children", t.to_string(), a->n_children);

  std::vector<ArrayPtr> children;
  for (std::size_t i = 0; i < n_children; ++i) {
    auto c = import_node(a->children[i], t.fields()[i]->type(), owner, depth + 1);
    if (!c) return fail(std::move(c).error().context(fmt::format("child {}", i)));
    children.push_back(std::move(c).value());
  }
  auto wrap = [&](int i, std::uint64_t size) -> Result<Buffer> {
    const void* p = a->buffers[i];
    if (size == 0) return Buffer{};
    if (p == nullptr)
      return fail(Errc::parse_error, "buffer {} is null but {} bytes are needed", i, size);
    return Buffer::wrap(p, static_cast<std::size_t>(size), owner);
  };
  auto last_offset = [&](int i, bool wide) -> Result<std::int64_t> {
    const void* p = a->buffers[i];
    if (a->length == 0 && p == nullptr) return std::int64_t{0};
    if (p == nullptr) return fail(Errc::parse_error, "offsets buffer is null");
    std::int64_t v;
    if (wide) {
      std::memcpy(&v, static_cast<const std::byte*>(p) + static_cast<std::size_t>(slots) * 8, 8);
    } else {
      std::int32_t v32;
      std::memcpy(&v32, static_cast<const std::byte*>(p) + static_cast<std::size_t>(slots) * 4, 4);
      v = v32;
    }
    if (v < 0) return fail(Errc::parse_error, "negative last offset {}", v);
    return v;
  };

  std::vector<Buffer> buffers;
  ArrayPtr dict;
  std::int64_t nulls = a->null_count;
  if (layout != Layout::null) {
    // Validity: may be null when nothing is null.
    if (a->buffers[0] != nullptr && a->null_count != 0) {
      SLUICE_TRY_ASSIGN(Buffer v, wrap(0, static_cast<std::uint64_t>(bitmap_bytes(slots))));
      if (nulls < 0)
        nulls = a->length - count_set_bits(v.data(), a->offset, a->length);  // -1: unknown
      buffers.push_back(std::move(v));
    } else {
      if (a->buffers[0] == nullptr && nulls > 0)
        return fail(Errc::parse_error, "null count {} without a validity bitmap", nulls);
      nulls = 0;
      buffers.emplace_back();
    }
  } else {
    nulls = a->length;
  }
  switch (layout) {
    case Layout::null:
      break;
    case Layout::bitmap: {
      SLUICE_TRY_ASSIGN(Buffer v, wrap(1, static_cast<std::uint64_t>(bitmap_bytes(slots))));
      buffers.push_back(std::move(v));
      break;
    }
    case Layout::fixed_width:
    case Layout::dictionary: {
      const auto w = static_cast<std::uint64_t>(t.byte_width());
      SLUICE_TRY_ASSIGN(Buffer v, wrap(1, static_cast<std::uint64_t>(slots) * w));
      buffers.push_back(std::move(v));
      if (layout == Layout::dictionary) {
        if (a->dictionary == nullptr)
          return fail(Errc::parse_error, "dictionary array without a dictionary");
        auto d = import_node(a->dictionary, t.value_type(), owner, depth + 1);
        if (!d) return fail(std::move(d).error().context("dictionary"));
        dict = std::move(d).value();
      }
      break;
    }
    case Layout::binary32:
    case Layout::binary64: {
      const bool wide = layout == Layout::binary64;
      SLUICE_TRY_ASSIGN(std::int64_t data_len, last_offset(1, wide));
      const std::uint64_t offsets_size =
          a->buffers[1] == nullptr ? 0 : static_cast<std::uint64_t>(slots + 1) * (wide ? 8 : 4);
      SLUICE_TRY_ASSIGN(Buffer o, wrap(1, offsets_size));
      SLUICE_TRY_ASSIGN(Buffer d, wrap(2, static_cast<std::uint64_t>(data_len)));
      buffers.push_back(std::move(o));
      buffers.push_back(std::move(d));
      break;
    }
    case Layout::list32:
    case Layout::list64: {
      const bool wide = layout == Layout::list64;
      const std::uint64_t offsets_size =
          a->buffers[1] == nullptr ? 0 : static_cast<std::uint64_t>(slots + 1) * (wide ? 8 : 4);
      SLUICE_TRY_ASSIGN(Buffer o, wrap(1, offsets_size));
      buffers.push_back(std::move(o));
      break;
    }
    case Layout::fixed_list:
    case Layout::struct_:
      break;
  }
  return std::make_shared<const Array>(type, a->length, nulls, a->offset, std::move(buffers),
                                       std::move(children), std::move(dict));
}

// --- streams ------------------------------------------------------------------------------

struct StreamPrivate {
  SchemaPtr schema;
  BatchSource next;
  std::string last_error;
};

int stream_get_schema(ArrowArrayStream* s, ArrowSchema* out) {
  auto* p = static_cast<StreamPrivate*>(s->private_data);
  auto r = export_schema(*p->schema, out);
  if (!r) {
    p->last_error = r.error().what();
    return EINVAL;
  }
  return 0;
}

int stream_get_next(ArrowArrayStream* s, ArrowArray* out) {
  auto* p = static_cast<StreamPrivate*>(s->private_data);
  auto b = p->next();
  if (!b) {
    p->last_error = b.error().what();
    return EIO;
  }
  if (!b.value()) {
    std::memset(out, 0, sizeof(*out));  // release == NULL: end of stream
    return 0;
  }
  auto r = export_batch(*b.value(), out);
  if (!r) {
    p->last_error = r.error().what();
    return EINVAL;
  }
  return 0;
}

const char* stream_last_error(ArrowArrayStream* s) {
  auto* p = static_cast<StreamPrivate*>(s->private_data);
  return p->last_error.empty() ? nullptr : p->last_error.c_str();
}

void stream_release(ArrowArrayStream* s) {
  if (s == nullptr || s->release == nullptr) return;
  delete static_cast<StreamPrivate*>(s->private_data);
  s->release = nullptr;
}

}  // namespace

Result<std::string> format_string(const DataType& t) {
  switch (t.id()) {
    case TypeId::null:
      return std::string("n");
    case TypeId::boolean:
      return std::string("b");
    case TypeId::int8:
      return std::string("c");
    case TypeId::uint8:
      return std::string("C");
    case TypeId::int16:
      return std::string("s");
    case TypeId::uint16:
      return std::string("S");
    case TypeId::int32:
      return std::string("i");
    case TypeId::uint32:
      return std::string("I");
    case TypeId::int64:
      return std::string("l");
    case TypeId::uint64:
      return std::string("L");
    case TypeId::float16:
      return std::string("e");
    case TypeId::float32:
      return std::string("f");
    case TypeId::float64:
      return std::string("g");
    case TypeId::binary:
      return std::string("z");
    case TypeId::large_binary:
      return std::string("Z");
    case TypeId::utf8:
      return std::string("u");
    case TypeId::large_utf8:
      return std::string("U");
    case TypeId::fixed_size_binary:
      return fmt::format("w:{}", t.fixed_size());
    case TypeId::decimal128:
      return fmt::format("d:{},{}", t.precision(), t.scale());
    case TypeId::date32:
      return std::string("tdD");
    case TypeId::date64:
      return std::string("tdm");
    case TypeId::time32:
    case TypeId::time64:
      return fmt::format("tt{}", unit_char(t.unit()));
    case TypeId::timestamp:
      return fmt::format("ts{}:{}", unit_char(t.unit()), t.timezone());
    case TypeId::duration:
      return fmt::format("tD{}", unit_char(t.unit()));
    case TypeId::interval_months:
      return std::string("tiM");
    case TypeId::interval_day_time:
      return std::string("tiD");
    case TypeId::interval_month_day_nano:
      return std::string("tin");
    case TypeId::list:
      return std::string("+l");
    case TypeId::large_list:
      return std::string("+L");
    case TypeId::fixed_size_list:
      return fmt::format("+w:{}", t.fixed_size());
    case TypeId::struct_:
      return std::string("+s");
    case TypeId::map:
      return std::string("+m");
    case TypeId::dictionary:
      return format_string(*t.index_type());
  }
  return fail(Errc::not_supported, "C data format of {}", t.to_string());
}

Result<void> export_field(const Field& f, ArrowSchema* out) {
  return fill_schema(f.name(), *f.type(), f.nullable(), f.metadata(), out, 0);
}

Result<void> export_schema(const Schema& schema, ArrowSchema* out) {
  return fill_schema("", *struct_(schema.fields()), false, schema.metadata(), out, 0);
}

Result<void> export_array(const ArrayPtr& array, ArrowArray* out) {
  if (!array) return fail(Errc::invalid_argument, "export of a null array");
  return fill_array(array, out, 0);
}

Result<void> export_batch(const RecordBatch& batch, ArrowArray* out, ArrowSchema* schema_out) {
  auto priv = std::make_unique<ArrayPrivate>();
  priv->columns = batch.columns();
  priv->buffers.push_back(nullptr);  // struct validity: no nulls
  priv->children.resize(batch.num_columns());
  for (std::size_t i = 0; i < batch.num_columns(); ++i) {
    auto r = fill_array(batch.column(i), &priv->children[i], 1);
    if (!r) {
      for (std::size_t j = 0; j < i; ++j) release_array(&priv->children[j]);
      return r;
    }
  }
  if (schema_out != nullptr) {
    auto r = export_schema(*batch.schema(), schema_out);
    if (!r) {
      for (auto& c : priv->children) release_array(&c);
      return r;
    }
  }
  publish(std::move(priv), batch.num_rows(), 0, 0, out);
  return ok();
}

Result<void> export_stream(SchemaPtr schema, BatchSource next, ArrowArrayStream* out) {
  if (!schema || !next)
    return fail(Errc::invalid_argument, "export_stream needs a schema and a source");
  auto priv = std::make_unique<StreamPrivate>();
  priv->schema = std::move(schema);
  priv->next = std::move(next);
  out->get_schema = &stream_get_schema;
  out->get_next = &stream_get_next;
  out->get_last_error = &stream_last_error;
  out->release = &stream_release;
  out->private_data = priv.release();
  return ok();
}

Result<void> export_stream(SchemaPtr schema, std::vector<RecordBatch> batches,
                           ArrowArrayStream* out) {
  auto state =
      std::make_shared<std::pair<std::vector<RecordBatch>, std::size_t>>(std::move(batches), 0);
  return export_stream(
      std::move(schema),
      [state]() -> Result<std::optional<RecordBatch>> {
        if (state->second >= state->first.size()) return std::optional<RecordBatch>{};
        return std::optional<RecordBatch>{state->first[state->second++]};
      },
      out);
}

Result<FieldPtr> import_field(ArrowSchema* in) {
  if (in == nullptr || in->release == nullptr)
    return fail(Errc::invalid_argument, "import of a released schema");
  auto r = import_field_impl(in, 0);
  in->release(in);  // everything was copied out
  return r;
}

Result<SchemaPtr> import_schema(ArrowSchema* in) {
  if (in == nullptr || in->release == nullptr)
    return fail(Errc::invalid_argument, "import of a released schema");
  SLUICE_TRY_ASSIGN(FieldPtr f, import_field(in));
  if (f->type()->id() != TypeId::struct_)
    return fail(Errc::type_error, "a schema is exported as a struct, got {}",
                f->type()->to_string());
  return schema(f->type()->fields(), f->metadata());
}

Result<ArrayPtr> import_array(ArrowArray* in, const TypePtr& type) {
  if (in == nullptr || in->release == nullptr)
    return fail(Errc::invalid_argument, "import of a released array");
  auto owner = take_array(in);
  SLUICE_TRY_ASSIGN(ArrayPtr a, import_node(owner.get(), type, owner, 0));
  auto v = validate(*a);
  if (!v) return fail(std::move(v).error().context("imported array"));
  return a;
}

Result<RecordBatch> import_batch(ArrowArray* in, const SchemaPtr& schema) {
  if (in == nullptr || in->release == nullptr)
    return fail(Errc::invalid_argument, "import of a released array");
  if (!schema) {
    take_array(in);
    return fail(Errc::invalid_argument, "import_batch without a schema");
  }
  SLUICE_TRY_ASSIGN(ArrayPtr st, import_array(in, struct_(schema->fields())));
  if (st->null_count() != 0)
    return fail(Errc::parse_error, "a record batch struct with {} nulls", st->null_count());
  std::vector<ArrayPtr> columns;
  for (const auto& c : st->children()) {
    // A struct's offset applies to its children.
    columns.push_back(st->offset() == 0 && c->length() == st->length()
                          ? c
                          : c->slice(st->offset(), st->length()));
  }
  return RecordBatch(schema, st->length(), std::move(columns));
}

Result<RecordBatch> import_batch(ArrowArray* in, ArrowSchema* schema) {
  auto s = import_schema(schema);
  if (!s) {
    if (in != nullptr && in->release != nullptr) take_array(in);
    return fail(std::move(s).error());
  }
  return import_batch(in, *s);
}

// --- StreamImporter -------------------------------------------------------------------------

StreamImporter::StreamImporter(StreamImporter&&) noexcept = default;
StreamImporter& StreamImporter::operator=(StreamImporter&&) noexcept = default;
StreamImporter::~StreamImporter() {
  if (stream_ && stream_->release != nullptr) stream_->release(stream_.get());
}

Result<StreamImporter> StreamImporter::open(ArrowArrayStream* in) {
  if (in == nullptr || in->release == nullptr)
    return fail(Errc::invalid_argument, "import of a released stream");
  StreamImporter s;
  s.stream_ = std::make_unique<ArrowArrayStream>(*in);
  in->release = nullptr;
  ArrowSchema schema{};
  const int rc = s.stream_->get_schema(s.stream_.get(), &schema);
  if (rc != 0) {
    const char* e = s.stream_->get_last_error(s.stream_.get());
    return fail(Errc::io_error, "stream get_schema: {} ({})", e ? e : "no message",
                std::strerror(rc));
  }
  SLUICE_TRY_ASSIGN(s.schema_, import_schema(&schema));
  return s;
}

Result<std::optional<RecordBatch>> StreamImporter::next() {
  if (!stream_ || stream_->release == nullptr) return fail(Errc::closed, "stream already released");
  ArrowArray a{};
  const int rc = stream_->get_next(stream_.get(), &a);
  if (rc != 0) {
    const char* e = stream_->get_last_error(stream_.get());
    return fail(Errc::io_error, "stream get_next: {} ({})", e ? e : "no message",
                std::strerror(rc));
  }
  if (a.release == nullptr) return std::optional<RecordBatch>{};
  SLUICE_TRY_ASSIGN(RecordBatch b, import_batch(&a, schema_));
  return std::optional<RecordBatch>{std::move(b)};
}

}  // namespace sluice::arrow::c_data
