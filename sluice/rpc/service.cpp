#include <sluice/rpc/service.hpp>

#include <fmt/format.h>

namespace sluice::rpc {

std::string_view kind_name(MethodKind kind) noexcept {
  switch (kind) {
    case MethodKind::unary:
      return "unary";
    case MethodKind::producer:
      return "producer";
    case MethodKind::exchange:
      return "exchange";
  }
  return "unknown";
}

ServiceError::ServiceError(std::string type, std::string message) {
  error_.type = std::move(type);
  error_.message = std::move(message);
  what_ = fmt::format("{}: {}", error_.type, error_.message);
}

ServiceError& ServiceError::code(Code c) & {
  error_.code = c;
  error_.has_code = true;
  return *this;
}
ServiceError&& ServiceError::code(Code c) && { return std::move(code(c)); }
ServiceError& ServiceError::kind(std::string k) & {
  error_.kind = std::move(k);
  return *this;
}
ServiceError&& ServiceError::kind(std::string k) && { return std::move(kind(std::move(k))); }
ServiceError& ServiceError::details(std::string json_array) & {
  error_.details = std::move(json_array);
  return *this;
}
ServiceError&& ServiceError::details(std::string json_array) && {
  return std::move(details(std::move(json_array)));
}

Result<void> Stream::produce(Emitter& /*out*/) {
  return fail(Errc::not_supported, "this stream is not a producer");
}

Result<void> Stream::exchange(const arrow::RecordBatch& /*input*/, Emitter& /*out*/) {
  return fail(Errc::not_supported, "this stream is not an exchange");
}

Protocol::Protocol(std::string name, std::string version)
    : name_(std::move(name)), version_(std::move(version)) {
  SLUICE_CHECK(valid_protocol_name(name_), "protocol name '{}': expected [A-Za-z_][A-Za-z0-9_.]*",
               name_);
  SLUICE_CHECK(version_.empty() || parse_semver(version_).has_value(),
               "protocol '{}': version '{}' is not MAJOR.MINOR.PATCH", name_, version_);
}

Protocol& Protocol::add(MethodDef method) {
  SLUICE_CHECK(!method.name.empty() && !method.name.starts_with("__"),
               "protocol '{}': method name '{}' is reserved or empty", name_, method.name);
  SLUICE_CHECK(method.params != nullptr, "method '{}': no parameter schema", method.name);
  if (method.defaults.size() < method.params->num_fields())
    method.defaults.resize(method.params->num_fields());
  if (method.kind == MethodKind::unary) {
    SLUICE_CHECK(method.result && method.unary, "unary method '{}': result schema and handler",
                 method.name);
  } else {
    SLUICE_CHECK(static_cast<bool>(method.start), "stream method '{}': no handler", method.name);
    if (method.kind == MethodKind::producer && !method.input) method.input = arrow::schema({});
  }
  const std::string name = method.name;
  const bool fresh = methods_.emplace(name, std::move(method)).second;
  SLUICE_CHECK(fresh, "protocol '{}': method '{}' defined twice", name_, name);
  return *this;
}

const MethodDef* Protocol::find(std::string_view method) const {
  auto it = methods_.find(std::string(method));
  return it == methods_.end() ? nullptr : &it->second;
}

}  // namespace sluice::rpc
