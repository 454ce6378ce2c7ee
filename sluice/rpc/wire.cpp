#include <sluice/rpc/wire.hpp>

#include <fmt/format.h>
#include <sodium.h>
#include <nlohmann/json.hpp>

#include <array>

namespace sluice::rpc {

using nlohmann::json;

namespace {

constexpr std::array<std::string_view, 6> kLevelNames = {"EXCEPTION", "ERROR", "WARN",
                                                         "INFO",      "DEBUG", "TRACE"};
constexpr std::array<std::string_view, 16> kCodeNames = {
    "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",   "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
    "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",         "DATA_LOSS",
    "UNAUTHENTICATED"};

std::string json_string(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string text_of(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

}  // namespace

std::string_view level_name(LogLevel level) noexcept {
  return kLevelNames.at(static_cast<std::size_t>(level));
}

std::optional<LogLevel> parse_level(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kLevelNames.size(); ++i)
    if (kLevelNames.at(i) == name) return static_cast<LogLevel>(i);
  if (name == "WARNING") return LogLevel::warn;
  return std::nullopt;
}

std::string_view code_name(Code code) noexcept {
  return kCodeNames.at(static_cast<std::size_t>(code));
}

Code parse_code(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kCodeNames.size(); ++i)
    if (kCodeNames.at(i) == name) return static_cast<Code>(i);
  return Code::unknown;
}

Code code_for_kind(std::string_view kind) noexcept {
  if (kind == "method_not_implemented" || kind == "protocol_not_supported")
    return Code::unimplemented;
  if (kind == "protocol_not_specified" || kind == "invalid_request" ||
      kind == "malformed_request_stream")
    return Code::invalid_argument;
  if (kind == "protocol_version_mismatch") return Code::failed_precondition;
  if (kind == "session_lost") return Code::aborted;
  if (kind == "server_draining" || kind == "identity_unavailable") return Code::unavailable;
  if (kind == "stale_auth") return Code::unauthenticated;
  if (kind == "introspection_refused" || kind == "grant_refused") return Code::permission_denied;
  if (kind == "token_unresolved") return Code::not_found;
  if (kind == "request_too_large") return Code::resource_exhausted;
  return Code::unknown;
}

LogExtra& LogExtra::add(std::string k, std::string_view text) {
  json_values.emplace_back(std::move(k), json_string(text));
  return *this;
}

LogExtra& LogExtra::add_json(std::string k, std::string value) {
  json_values.emplace_back(std::move(k), std::move(value));
  return *this;
}

Error RemoteError::to_error() const {
  std::string text = has_code ? fmt::format("[{}] ", code_name(code)) : std::string();
  text += type.empty() ? message : fmt::format("{}: {}", type, message);
  return Error(Errc::remote_error, std::move(text))
      .with_payload(std::make_shared<const RemoteError>(*this));
}

const RemoteError* remote_error(const Error& e) noexcept {
  return dynamic_cast<const RemoteError*>(e.payload());
}

BatchKind classify(const arrow::RecordBatch& batch) noexcept {
  const auto& md = batch.metadata();
  if (md.empty() || batch.num_rows() > 0) return BatchKind::data;
  const auto level = md.get(key::log_level);
  if (level && md.contains(key::log_message))
    return *level == "EXCEPTION" ? BatchKind::error : BatchKind::log;
  if (md.contains(key::location)) return BatchKind::external_pointer;
  if (md.contains(key::shm_offset)) return BatchKind::shm_pointer;
  if (md.contains(key::stream_state)) return BatchKind::sentinel;
  return BatchKind::data;
}

LogRecord decode_log(const arrow::RecordBatch& batch) {
  const auto& md = batch.metadata();
  LogRecord r;
  r.level = parse_level(md.get(key::log_level).value_or("INFO")).value_or(LogLevel::info);
  r.message = std::string(md.get(key::log_message).value_or(""));
  r.extra_json = std::string(md.get(key::log_extra).value_or(""));
  r.request_id = std::string(md.get(key::request_id).value_or(""));
  r.server_id = std::string(md.get(key::server_id).value_or(""));
  return r;
}

RemoteError decode_error(const arrow::RecordBatch& batch) {
  const auto& md = batch.metadata();
  RemoteError e;
  const std::string log_message(md.get(key::log_message).value_or(""));
  json extra = json::object();
  if (auto x = md.get(key::log_extra)) {
    extra = json::parse(*x, nullptr, false);
    if (!extra.is_object()) extra = json::object();
  }
  auto from_extra = [&](const char* name) -> std::string {
    auto it = extra.find(name);
    return it == extra.end() || it->is_null() ? std::string() : text_of(*it);
  };
  e.type = from_extra("exception_type");
  if (e.type.empty()) e.type = "EXCEPTION";
  e.message = from_extra("exception_message");
  if (e.message.empty()) {
    e.message = log_message;
    const std::string prefix = e.type + ": ";
    if (e.message.starts_with(prefix)) e.message.erase(0, prefix.size());
  }
  e.traceback = from_extra("traceback");
  e.kind = std::string(md.get(key::error_kind).value_or(""));
  if (e.kind.empty()) e.kind = from_extra("error_kind");
  std::string code(md.get(key::error_code).value_or(""));
  if (code.empty()) code = from_extra("error_code");
  e.has_code = !code.empty();
  e.code = e.has_code ? parse_code(code) : (e.kind.empty() ? Code::unknown : code_for_kind(e.kind));
  e.details = std::string(md.get(key::error_details).value_or(""));
  if (e.details.empty()) {
    auto it = extra.find("error_details");
    if (it != extra.end() && it->is_array()) e.details = it->dump();
  }
  e.request_id = std::string(md.get(key::request_id).value_or(""));
  e.server_id = std::string(md.get(key::server_id).value_or(""));
  return e;
}

namespace {

arrow::RecordBatch empty_on(const arrow::SchemaPtr& schema, arrow::KeyValueMetadata md) {
  auto b = arrow::RecordBatch::empty(schema, std::move(md));
  SLUICE_CHECK(static_cast<bool>(b), "empty batch: {}", b.error().what());
  return std::move(b).value();
}

void stamp_ids(arrow::KeyValueMetadata& md, const Stamp& stamp) {
  if (!stamp.server_id.empty()) md.set(std::string(key::server_id), stamp.server_id);
  if (!stamp.request_id.empty()) md.set(std::string(key::request_id), stamp.request_id);
}

}  // namespace

arrow::RecordBatch log_batch(const arrow::SchemaPtr& schema, LogLevel level,
                             std::string_view message, const LogExtra& extra, const Stamp& stamp) {
  arrow::KeyValueMetadata md;
  md.set(std::string(key::log_level), std::string(level_name(level)));
  md.set(std::string(key::log_message), std::string(message));
  if (!extra.json_values.empty()) {
    std::string obj = "{";
    for (std::size_t i = 0; i < extra.json_values.size(); ++i) {
      if (i != 0) obj += ',';
      obj += json_string(extra.json_values[i].first);
      obj += ':';
      obj += extra.json_values[i].second;
    }
    obj += '}';
    md.set(std::string(key::log_extra), std::move(obj));
  }
  stamp_ids(md, stamp);
  return empty_on(schema, std::move(md));
}

arrow::RecordBatch error_batch(const arrow::SchemaPtr& schema, const RemoteError& error,
                               const Stamp& stamp) {
  arrow::KeyValueMetadata md;
  md.set(std::string(key::log_level), "EXCEPTION");
  md.set(std::string(key::log_message),
         error.type.empty() ? error.message : fmt::format("{}: {}", error.type, error.message));
  json extra = json::object();
  extra["exception_type"] = error.type;
  extra["exception_message"] = error.message;
  if (!error.traceback.empty()) {
    std::string tb = error.traceback;
    if (tb.size() > kMaxTracebackChars) {
      tb.resize(kMaxTracebackChars);
      tb += "\n... <traceback truncated>";
    }
    extra["traceback"] = tb;
    extra["frames"] = json::array();
  }
  const Code code = error.has_code ? error.code : code_for_kind(error.kind);
  if (!error.kind.empty()) {
    md.set(std::string(key::error_kind), error.kind);
    extra["error_kind"] = error.kind;
  }
  md.set(std::string(key::error_code), std::string(code_name(code)));
  extra["error_code"] = code_name(code);
  if (!error.details.empty() && error.details.size() <= kMaxErrorDetailsBytes) {
    json details = json::parse(error.details, nullptr, false);
    if (details.is_array()) {
      md.set(std::string(key::error_details), details.dump());
      extra["error_details"] = std::move(details);
    }
  }
  md.set(std::string(key::log_extra), extra.dump(-1, ' ', false, json::error_handler_t::replace));
  stamp_ids(md, stamp);
  return empty_on(schema, std::move(md));
}

std::string hex(std::string_view bytes) {
  constexpr std::string_view digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += digits[b >> 4U];
    out += digits[b & 15U];
  }
  return out;
}

std::string random_hex(std::size_t hex_chars) {
  static const bool ready = sodium_init() >= 0;
  SLUICE_CHECK(ready, "libsodium failed to initialise");
  std::string bytes((hex_chars + 1) / 2, '\0');
  randombytes_buf(bytes.data(), bytes.size());
  std::string out = hex(bytes);
  out.resize(hex_chars);
  return out;
}

std::string next_request_id() {
  struct Walk {
    std::uint64_t next = 0;
    Walk() {
      static const bool ready = sodium_init() >= 0;
      SLUICE_CHECK(ready, "libsodium failed to initialise");
      randombytes_buf(&next, sizeof next);
    }
  };
  thread_local Walk walk;
  // splitmix64's finaliser: a bijection on 64-bit values.
  std::uint64_t z = walk.next++;
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
  z ^= z >> 31U;
  return fmt::format("{:016x}", z);
}

bool valid_protocol_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 255) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(name.front())) return false;
  for (const char c : name)
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '.') return false;
  return true;
}

std::optional<std::array<std::uint32_t, 3>> parse_semver(std::string_view v) noexcept {
  std::array<std::uint32_t, 3> out{};
  std::size_t part = 0;
  std::size_t digits = 0;
  for (const char c : v) {
    if (c == '.') {
      if (digits == 0 || ++part > 2) return std::nullopt;
      digits = 0;
    } else if (c >= '0' && c <= '9') {
      if (++digits > 9) return std::nullopt;
      out.at(part) = out.at(part) * 10 + static_cast<std::uint32_t>(c - '0');
    } else {
      return std::nullopt;
    }
  }
  if (part != 2 || digits == 0) return std::nullopt;
  return out;
}

}  // namespace sluice::rpc
