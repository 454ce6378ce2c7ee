#pragma once
// Introspection (PROTOCOL.md §7): the co-hosted protocol vgi_rpc.Reflection.v1
// (list_protocols, describe), the protocol hash (SHA-256 over the RFC 8785
// canonical JSON of a protocol's description), the canonical Arrow type
// tokens, and the Gen A `__describe__` answer.

#include <sluice/rpc/service.hpp>
#include <sluice/rpc/types.hpp>

#include <string>
#include <vector>

namespace sluice::rpc {

// "int64", "list<item?:utf8>", "timestamp(us,tz=UTC)", "decimal128(20,4)" ...
Result<std::string> type_token(const arrow::DataType& type);
// The preimage's JSON (no hash domain prefix), canonical (RFC 8785).
Result<std::string> canonical_description(const Protocol& protocol);
// lowercase hex SHA-256 of "vgi_rpc.protocol_hash.v1|" + canonical_description.
Result<std::string> protocol_hash(const Protocol& protocol);
// SHA-256 as lowercase hex.
std::string sha256_hex(std::string_view bytes);

// The reflection payloads, field for field as the reference ports define them.
struct ProtocolSummary {
  std::string protocol;
  std::string protocol_version;
  std::string protocol_hash;
  bool deprecated = false;
  std::string deprecation_message;
  std::vector<std::string> features;
  static constexpr auto sluice_fields() {
    return std::tuple{member("protocol", &ProtocolSummary::protocol),
                      member("protocol_version", &ProtocolSummary::protocol_version),
                      member("protocol_hash", &ProtocolSummary::protocol_hash),
                      member("deprecated", &ProtocolSummary::deprecated),
                      member("deprecation_message", &ProtocolSummary::deprecation_message),
                      member("features", &ProtocolSummary::features)};
  }
};

struct MethodInfo {
  std::string name;
  std::string method_type;  // "unary" | "stream"
  bool has_return = false;
  bool has_header = false;
  std::string stream_kind;  // "" | "producer" | "exchange"
  Bytes params_schema_ipc;
  Bytes result_schema_ipc;
  Bytes header_schema_ipc;
  std::string idempotency = "unknown";
  bool deprecated = false;
  std::string deprecation_message;
  static constexpr auto sluice_fields() {
    return std::tuple{member("name", &MethodInfo::name),
                      member("method_type", &MethodInfo::method_type),
                      member("has_return", &MethodInfo::has_return),
                      member("has_header", &MethodInfo::has_header),
                      member("stream_kind", &MethodInfo::stream_kind),
                      member("params_schema_ipc", &MethodInfo::params_schema_ipc),
                      member("result_schema_ipc", &MethodInfo::result_schema_ipc),
                      member("header_schema_ipc", &MethodInfo::header_schema_ipc),
                      member("idempotency", &MethodInfo::idempotency),
                      member("deprecated", &MethodInfo::deprecated),
                      member("deprecation_message", &MethodInfo::deprecation_message)};
  }
};

struct ServiceDescription {
  std::string protocol;
  std::string protocol_version;
  std::string protocol_hash;
  bool deprecated = false;
  std::string deprecation_message;
  std::vector<std::string> features;
  std::vector<MethodInfo> methods;
  static constexpr auto sluice_fields() {
    return std::tuple{member("protocol", &ServiceDescription::protocol),
                      member("protocol_version", &ServiceDescription::protocol_version),
                      member("protocol_hash", &ServiceDescription::protocol_hash),
                      member("deprecated", &ServiceDescription::deprecated),
                      member("deprecation_message", &ServiceDescription::deprecation_message),
                      member("features", &ServiceDescription::features),
                      member("methods", &ServiceDescription::methods)};
  }
};

struct ProtocolList {
  std::string server_id;
  std::string server_version;
  std::string request_version;
  std::vector<ProtocolSummary> protocols;
  static constexpr auto sluice_fields() {
    return std::tuple{member("server_id", &ProtocolList::server_id),
                      member("server_version", &ProtocolList::server_version),
                      member("request_version", &ProtocolList::request_version),
                      member("protocols", &ProtocolList::protocols)};
  }
};

namespace reflection {
inline const Unary<ProtocolList()> list_protocols{"list_protocols", {}};
inline const Unary<ServiceDescription(std::string)> describe{"describe", {"protocol"}};
}  // namespace reflection

// Decoding a reply by field name, ignoring unknown columns and defaulting
// absent ones (the tolerant rule of §7.1), from the `result` bytes.
Result<ProtocolList> decode_protocol_list(std::string_view ipc_stream);
Result<ServiceDescription> decode_service_description(std::string_view ipc_stream);

// The description of one protocol.
Result<ServiceDescription> describe_protocol(const Protocol& protocol);
// The serialized schema (schema message + EOS), empty for null.
std::string schema_ipc(const arrow::SchemaPtr& schema);
Result<arrow::SchemaPtr> parse_schema_ipc(std::string_view bytes);

// The Gen A `__describe__` result: one row per method, metadata naming the
// protocol (describe_version "4").
Result<arrow::RecordBatch> gen_a_describe(const Protocol& protocol, const std::string& server_id);

}  // namespace sluice::rpc
