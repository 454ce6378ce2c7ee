#include <sluice/rpc/reflection.hpp>
#include <sluice/rpc/wire.hpp>

#include <fmt/format.h>
#include <sodium.h>
#include <nlohmann/json.hpp>

namespace sluice::rpc {

using nlohmann::json;

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return hex({reinterpret_cast<const char*>(digest), sizeof digest});
}

namespace {

Result<std::string> child_token(const arrow::Field& f, std::string_view name) {
  SLUICE_TRY_ASSIGN(std::string t, type_token(*f.type()));
  return fmt::format("{}{}:{}", name, f.nullable() ? "?" : "", t);
}

Result<json> field_tokens(const arrow::SchemaPtr& schema) {
  json out = json::array();
  if (!schema) return out;
  for (const auto& f : schema->fields()) {
    SLUICE_TRY_ASSIGN(std::string t, type_token(*f->type()));
    out.push_back(json{{"name", f->name()}, {"nullable", f->nullable()}, {"type", t}});
  }
  return out;
}

}  // namespace

Result<std::string> type_token(const arrow::DataType& t) {
  using arrow::TypeId;
  switch (t.id()) {
    case TypeId::null:
      return std::string("null");
    case TypeId::boolean:
      return std::string("bool");
    case TypeId::int8:
      return std::string("int8");
    case TypeId::int16:
      return std::string("int16");
    case TypeId::int32:
      return std::string("int32");
    case TypeId::int64:
      return std::string("int64");
    case TypeId::uint8:
      return std::string("uint8");
    case TypeId::uint16:
      return std::string("uint16");
    case TypeId::uint32:
      return std::string("uint32");
    case TypeId::uint64:
      return std::string("uint64");
    case TypeId::float16:
      return std::string("float16");
    case TypeId::float32:
      return std::string("float32");
    case TypeId::float64:
      return std::string("float64");
    case TypeId::utf8:
      return std::string("utf8");
    case TypeId::large_utf8:
      return std::string("large_utf8");
    case TypeId::binary:
      return std::string("binary");
    case TypeId::large_binary:
      return std::string("large_binary");
    case TypeId::fixed_size_binary:
      return fmt::format("fixed_size_binary({})", t.byte_width());
    case TypeId::date32:
      return std::string("date32");
    case TypeId::date64:
      return std::string("date64");
    case TypeId::time32:
      return fmt::format("time32({})", arrow::time_unit_name(t.unit()));
    case TypeId::time64:
      return fmt::format("time64({})", arrow::time_unit_name(t.unit()));
    case TypeId::timestamp:
      if (t.timezone().empty())
        return fmt::format("timestamp({})", arrow::time_unit_name(t.unit()));
      return fmt::format("timestamp({},tz={})", arrow::time_unit_name(t.unit()), t.timezone());
    case TypeId::duration:
      return fmt::format("duration({})", arrow::time_unit_name(t.unit()));
    case TypeId::decimal128:
      return fmt::format("decimal128({},{})", t.precision(), t.scale());
    case TypeId::list: {
      SLUICE_TRY_ASSIGN(std::string c, child_token(*t.value_field(), "item"));
      return fmt::format("list<{}>", c);
    }
    case TypeId::fixed_size_list: {
      SLUICE_TRY_ASSIGN(std::string c, child_token(*t.value_field(), "item"));
      return fmt::format("fixed_size_list({})<{}>", t.fixed_size(), c);
    }
    case TypeId::struct_: {
      std::string s = "struct<";
      for (std::size_t i = 0; i < t.fields().size(); ++i) {
        SLUICE_TRY_ASSIGN(std::string c, child_token(*t.fields()[i], t.fields()[i]->name()));
        s += (i != 0 ? "," : "") + c;
      }
      return s + ">";
    }
    case TypeId::map: {
      const auto& entries = t.value_field()->type()->fields();
      if (entries.size() != 2) return fail(Errc::type_error, "map entries without key and value");
      SLUICE_TRY_ASSIGN(std::string k, child_token(*entries[0], "key"));
      SLUICE_TRY_ASSIGN(std::string v, child_token(*entries[1], "value"));
      std::string s = fmt::format("map<{},{}>", k, v);
      if (t.keys_sorted()) s += ",keys_sorted";
      return s;
    }
    case TypeId::dictionary: {
      SLUICE_TRY_ASSIGN(std::string i, type_token(*t.index_type()));
      SLUICE_TRY_ASSIGN(std::string v, type_token(*t.value_type()));
      std::string s = fmt::format("dictionary<index:{},value:{}>", i, v);
      if (t.ordered()) s += ",ordered";
      return s;
    }
    default:
      return fail(Errc::not_supported, "arrow type {} has no canonical type token", t.to_string());
  }
}

Result<std::string> canonical_description(const Protocol& protocol) {
  json methods = json::array();
  for (const auto& [name, m] : protocol.methods()) {  // std::map: sorted by name
    json entry{{"name", name},
               {"type", m.is_stream() ? "stream" : "unary"},
               {"has_return", m.has_return()},
               {"has_header", m.header != nullptr}};
    SLUICE_TRY_ASSIGN(entry["params"], field_tokens(m.params));
    if (m.has_return()) {
      SLUICE_TRY_ASSIGN(entry["result"], field_tokens(m.result));
    }
    if (m.header) {
      SLUICE_TRY_ASSIGN(entry["header"], field_tokens(m.header));
    }
    methods.push_back(std::move(entry));
  }
  const json doc{{"protocol", protocol.name()}, {"methods", std::move(methods)}};
  // nlohmann's objects are sorted maps and dump() adds no whitespace: for
  // ASCII keys and strings without numbers this is RFC 8785's form.
  return doc.dump(-1, ' ', false, json::error_handler_t::strict);
}

Result<std::string> protocol_hash(const Protocol& protocol) {
  SLUICE_TRY_ASSIGN(std::string text, canonical_description(protocol));
  return sha256_hex("vgi_rpc.protocol_hash.v1|" + text);
}

std::string schema_ipc(const arrow::SchemaPtr& schema) {
  if (!schema) return {};
  auto bytes = arrow::ipc::write_stream(schema, {});
  SLUICE_CHECK(static_cast<bool>(bytes), "serialize schema: {}", bytes.error().what());
  return {reinterpret_cast<const char*>(bytes->data()), bytes->size()};
}

Result<arrow::SchemaPtr> parse_schema_ipc(std::string_view bytes) {
  if (bytes.empty()) return arrow::SchemaPtr{};
  SLUICE_TRY_ASSIGN(auto reader, arrow::ipc::StreamReader::open(
                                     arrow::Buffer::copy_of(bytes.data(), bytes.size())));
  return reader.schema();
}

Result<ServiceDescription> describe_protocol(const Protocol& protocol) {
  ServiceDescription d;
  d.protocol = protocol.name();
  d.protocol_version = protocol.version();
  SLUICE_TRY_ASSIGN(d.protocol_hash, protocol_hash(protocol));
  d.deprecated = protocol.deprecated();
  d.deprecation_message = protocol.deprecation_message();
  for (const auto& [name, m] : protocol.methods()) {
    MethodInfo info;
    info.name = name;
    info.method_type = m.is_stream() ? "stream" : "unary";
    info.has_return = m.has_return();
    info.has_header = m.header != nullptr;
    info.stream_kind = m.is_stream() ? std::string(kind_name(m.kind)) : std::string();
    info.params_schema_ipc.data = schema_ipc(m.params);
    if (m.has_return()) info.result_schema_ipc.data = schema_ipc(m.result);
    info.header_schema_ipc.data = schema_ipc(m.header);
    info.idempotency = m.idempotency;
    info.deprecated = m.deprecated;
    info.deprecation_message = m.deprecation_message;
    d.methods.push_back(std::move(info));
  }
  return d;
}

// --- tolerant decoding ------------------------------------------------------------------------

namespace {

// Columns by name: a batch's, or a struct array's children.
class Row {
 public:
  Row(const arrow::Schema& schema, const std::vector<arrow::ArrayPtr>& cols, std::int64_t i)
      : cols_(cols), i_(i) {
    for (const auto& f : schema.fields()) names_.push_back(f->name());
  }
  Row(const arrow::Array& s, std::int64_t i) : cols_(s.children()), i_(i) {
    for (const auto& f : s.type()->fields()) names_.push_back(f->name());
  }
  [[nodiscard]] const arrow::Array* col(std::string_view name) const {
    for (std::size_t k = 0; k < names_.size() && k < cols_.size(); ++k)
      if (names_[k] == name) return cols_[k].get();
    return nullptr;
  }
  [[nodiscard]] std::string str(std::string_view name) const {
    const auto* a = col(name);
    if (a == nullptr || a->is_null(i_)) return {};
    switch (a->type_id()) {
      case arrow::TypeId::utf8:
      case arrow::TypeId::large_utf8:
      case arrow::TypeId::binary:
      case arrow::TypeId::large_binary:
        return std::string(a->bytes_value(i_));
      default:
        return {};
    }
  }
  [[nodiscard]] bool flag(std::string_view name) const {
    const auto* a = col(name);
    return a != nullptr && a->type_id() == arrow::TypeId::boolean && !a->is_null(i_) &&
           a->bool_value(i_);
  }
  // Elements of a list column: (values array, begin, end).
  [[nodiscard]] std::tuple<const arrow::Array*, std::int64_t, std::int64_t> list(
      std::string_view name) const {
    const auto* a = col(name);
    if (a == nullptr || a->type_id() != arrow::TypeId::list || a->is_null(i_))
      return {nullptr, 0, 0};
    const auto [b, e] = a->list_range(i_);
    return {a->child(0).get(), b, e};
  }
  [[nodiscard]] std::int64_t index() const noexcept { return i_; }

 private:
  const std::vector<arrow::ArrayPtr>& cols_;
  std::int64_t i_;
  std::vector<std::string> names_;
};

Result<arrow::RecordBatch> one_row(std::string_view ipc, const char* what) {
  SLUICE_TRY_ASSIGN(auto reader,
                    arrow::ipc::StreamReader::open(arrow::Buffer::copy_of(ipc.data(), ipc.size())));
  SLUICE_TRY_ASSIGN(auto batches, reader.read_all());
  for (auto& b : batches)
    if (b.num_rows() == 1) return std::move(b);
  return fail(Errc::parse_error, "{}: expected one row", what);
}

template <typename T>
void summary_from(const Row& r, T& s) {
  s.protocol = r.str("protocol");
  s.protocol_version = r.str("protocol_version");
  s.protocol_hash = r.str("protocol_hash");
  s.deprecated = r.flag("deprecated");
  s.deprecation_message = r.str("deprecation_message");
  auto [items, b, e] = r.list("features");
  for (std::int64_t k = b; items != nullptr && k < e; ++k)
    if (!items->is_null(k) && items->type_id() == arrow::TypeId::utf8)
      s.features.emplace_back(items->bytes_value(k));
}

}  // namespace

Result<ProtocolList> decode_protocol_list(std::string_view ipc_stream) {
  SLUICE_TRY_ASSIGN(auto b, one_row(ipc_stream, "protocol list"));
  const Row r(*b.schema(), b.columns(), 0);
  ProtocolList out;
  out.server_id = r.str("server_id");
  out.server_version = r.str("server_version");
  out.request_version = r.str("request_version");
  auto [items, begin, end] = r.list("protocols");
  if (items != nullptr && items->type_id() != arrow::TypeId::struct_)
    return fail(Errc::parse_error, "protocol list: protocols is not a list of structs");
  for (std::int64_t k = begin; items != nullptr && k < end; ++k) {
    ProtocolSummary s;
    summary_from(Row(*items, k), s);
    out.protocols.push_back(std::move(s));
  }
  return out;
}

Result<ServiceDescription> decode_service_description(std::string_view ipc_stream) {
  SLUICE_TRY_ASSIGN(auto b, one_row(ipc_stream, "service description"));
  const Row r(*b.schema(), b.columns(), 0);
  ServiceDescription out;
  summary_from(r, out);
  auto [items, begin, end] = r.list("methods");
  if (items != nullptr && items->type_id() != arrow::TypeId::struct_)
    return fail(Errc::parse_error, "service description: methods is not a list of structs");
  for (std::int64_t k = begin; items != nullptr && k < end; ++k) {
    const Row m(*items, k);
    MethodInfo info;
    info.name = m.str("name");
    info.method_type = m.str("method_type");
    info.has_return = m.flag("has_return");
    info.has_header = m.flag("has_header");
    info.stream_kind = m.str("stream_kind");
    info.params_schema_ipc.data = m.str("params_schema_ipc");
    info.result_schema_ipc.data = m.str("result_schema_ipc");
    info.header_schema_ipc.data = m.str("header_schema_ipc");
    info.idempotency = m.str("idempotency");
    info.deprecated = m.flag("deprecated");
    info.deprecation_message = m.str("deprecation_message");
    out.methods.push_back(std::move(info));
  }
  return out;
}

Result<arrow::RecordBatch> gen_a_describe(const Protocol& protocol, const std::string& server_id) {
  std::vector<std::optional<std::string>> names;
  std::vector<std::optional<std::string>> types;
  std::vector<std::optional<bool>> has_return;
  std::vector<std::optional<std::string>> params;
  std::vector<std::optional<std::string>> results;
  std::vector<std::optional<bool>> has_header;
  std::vector<std::optional<std::string>> headers;
  std::vector<std::optional<bool>> is_exchange;
  for (const auto& [name, m] : protocol.methods()) {
    names.emplace_back(name);
    types.emplace_back(m.is_stream() ? "stream" : "unary");
    has_return.emplace_back(m.has_return());
    params.emplace_back(schema_ipc(m.params));
    results.emplace_back(m.has_return() ? schema_ipc(m.result) : std::string());
    has_header.emplace_back(m.header != nullptr);
    headers.emplace_back(m.header ? std::optional(schema_ipc(m.header)) : std::nullopt);
    is_exchange.emplace_back(m.is_stream() ? std::optional(m.kind == MethodKind::exchange)
                                           : std::nullopt);
  }
  auto schema = arrow::schema({arrow::field("name", arrow::utf8(), false),
                               arrow::field("method_type", arrow::utf8(), false),
                               arrow::field("has_return", arrow::boolean(), false),
                               arrow::field("params_schema_ipc", arrow::binary(), false),
                               arrow::field("result_schema_ipc", arrow::binary(), false),
                               arrow::field("has_header", arrow::boolean(), false),
                               arrow::field("header_schema_ipc", arrow::binary(), true),
                               arrow::field("is_exchange", arrow::boolean(), true)});
  arrow::KeyValueMetadata md;
  md.set(std::string(key::protocol_name), protocol.name());
  md.set(std::string(key::request_version), std::string(kRequestVersion));
  md.set(std::string(key::describe_version), "4");
  SLUICE_TRY_ASSIGN(std::string hash, protocol_hash(protocol));
  md.set(std::string(key::protocol_hash), hash);
  if (!protocol.version().empty()) md.set(std::string(key::protocol_version), protocol.version());
  md.set(std::string(key::server_id), server_id);
  return arrow::RecordBatch(
      schema, static_cast<std::int64_t>(names.size()),
      {arrow::make_binary_array(arrow::utf8(), names),
       arrow::make_binary_array(arrow::utf8(), types), arrow::make_bool_array(has_return),
       arrow::make_binary_array(arrow::binary(), params),
       arrow::make_binary_array(arrow::binary(), results), arrow::make_bool_array(has_header),
       arrow::make_binary_array(arrow::binary(), headers), arrow::make_bool_array(is_exchange)},
      std::move(md));
}

}  // namespace sluice::rpc
