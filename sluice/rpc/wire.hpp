#pragma once
// The vgi-rpc wire vocabulary (PROTOCOL.md §2, §4.1, §5): metadata keys, log
// levels, the sixteen Gen C error codes, the error a client decodes
// (RemoteError), and the builders and classifier of log and error batches.

#include <sluice/arrow/array.hpp>
#include <sluice/base/result.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::rpc {

namespace key {
inline constexpr std::string_view method = "vgi_rpc.method";
inline constexpr std::string_view protocol = "vgi_rpc.protocol";
inline constexpr std::string_view request_version = "vgi_rpc.request_version";
inline constexpr std::string_view protocol_version = "vgi_rpc.protocol_version";
inline constexpr std::string_view request_id = "vgi_rpc.request_id";
inline constexpr std::string_view cancel = "vgi_rpc.cancel";
inline constexpr std::string_view traceparent = "traceparent";
inline constexpr std::string_view tracestate = "tracestate";
inline constexpr std::string_view shm_segment_name = "vgi_rpc.shm_segment_name";
inline constexpr std::string_view shm_segment_size = "vgi_rpc.shm_segment_size";
inline constexpr std::string_view transport_shm = "vgi_rpc.transport.shm";
inline constexpr std::string_view log_level = "vgi_rpc.log_level";
inline constexpr std::string_view log_message = "vgi_rpc.log_message";
inline constexpr std::string_view log_extra = "vgi_rpc.log_extra";
inline constexpr std::string_view error_kind = "vgi_rpc.error_kind";
inline constexpr std::string_view error_code = "vgi_rpc.error_code";
inline constexpr std::string_view error_details = "vgi_rpc.error_details";
inline constexpr std::string_view server_id = "vgi_rpc.server_id";
inline constexpr std::string_view stream_state = "vgi_rpc.stream_state#b64";
inline constexpr std::string_view call_state = "vgi_rpc.call_state#b64";
inline constexpr std::string_view shm_offset = "vgi_rpc.shm_offset";
inline constexpr std::string_view shm_length = "vgi_rpc.shm_length";
inline constexpr std::string_view shm_source = "vgi_rpc.shm_source";
inline constexpr std::string_view location = "vgi_rpc.location";
inline constexpr std::string_view location_sha256 = "vgi_rpc.location.sha256";
inline constexpr std::string_view location_fetch_ms = "vgi_rpc.location.fetch_ms";
inline constexpr std::string_view location_source = "vgi_rpc.location.source";
inline constexpr std::string_view protocol_name = "vgi_rpc.protocol_name";
inline constexpr std::string_view describe_version = "vgi_rpc.describe_version";
inline constexpr std::string_view protocol_hash = "vgi_rpc.protocol_hash";
}  // namespace key

inline constexpr std::string_view kRequestVersion = "1";
inline constexpr std::string_view kReflectionProtocol = "vgi_rpc.Reflection.v1";
inline constexpr std::string_view kDescribeMethod = "__describe__";
inline constexpr std::string_view kTransportOptionsMethod = "__transport_options__";
inline constexpr std::size_t kMaxTracebackChars = 16000;
inline constexpr std::size_t kMaxErrorDetailsBytes = 4096;

enum class LogLevel : std::uint8_t { exception, error, warn, info, debug, trace };
std::string_view level_name(LogLevel level) noexcept;  // "EXCEPTION" ... "TRACE"
std::optional<LogLevel> parse_level(std::string_view name) noexcept;

// The Gen C error codes, gRPC's names.
enum class Code : std::uint8_t {
  cancelled,
  unknown,
  invalid_argument,
  deadline_exceeded,
  not_found,
  already_exists,
  permission_denied,
  resource_exhausted,
  failed_precondition,
  aborted,
  out_of_range,
  unimplemented,
  internal,
  unavailable,
  data_loss,
  unauthenticated,
};
std::string_view code_name(Code code) noexcept;   // "INVALID_ARGUMENT"
Code parse_code(std::string_view name) noexcept;  // unknown names give Code::unknown

// Free-form extras of a log record: key -> JSON value text ("\"x\"", "42").
// Values added with a plain string are JSON strings.
struct LogExtra {
  std::vector<std::pair<std::string, std::string>> json_values;
  LogExtra& add(std::string k, std::string_view text);  // a JSON string value
  LogExtra& add_json(std::string k, std::string json);  // raw JSON value
};

struct LogRecord {
  LogLevel level = LogLevel::info;
  std::string message;
  std::string extra_json;  // the JSON object text, "" when absent
  std::string request_id;
  std::string server_id;
};

// What a server sends about a failure, and what a client decodes from it.
// It rides in Error::payload() of the Result a client call returns.
struct RemoteError final : ErrorPayload {
  std::string type;     // exception_type: "ValueError", "ProtocolError", ...
  std::string message;  // exception_message (without the "<type>: " prefix)
  Code code = Code::unknown;
  bool has_code = false;  // Gen C: the peer sent vgi_rpc.error_code
  std::string kind;       // vgi_rpc.error_kind ("" when absent)
  std::string details;    // JSON array text ("" when absent)
  std::string traceback;  // "" when the server sends none
  std::string request_id;
  std::string server_id;

  // Errc::remote_error, message "[CODE] Type: message", this as payload.
  [[nodiscard]] Error to_error() const;
};
// The RemoteError an error carries, or null.
const RemoteError* remote_error(const Error& e) noexcept;

enum class BatchKind : std::uint8_t { data, log, error, external_pointer, shm_pointer, sentinel };
// PROTOCOL.md §4.1.
BatchKind classify(const arrow::RecordBatch& batch) noexcept;

// Decoding a zero-row log or error batch (classify() said log or error).
LogRecord decode_log(const arrow::RecordBatch& batch);
RemoteError decode_error(const arrow::RecordBatch& batch);

// Stamped on every log and error batch a server writes.
struct Stamp {
  std::string server_id;
  std::string request_id;
};

arrow::RecordBatch log_batch(const arrow::SchemaPtr& schema, LogLevel level,
                             std::string_view message, const LogExtra& extra, const Stamp& stamp);
// An EXCEPTION batch: log_message "<type>: <message>", top-level kind/code/
// details when set and their mirrors in log_extra, the traceback when the
// error carries one.
arrow::RecordBatch error_batch(const arrow::SchemaPtr& schema, const RemoteError& error,
                               const Stamp& stamp);

// The code an error kind implies (§5), for errors raised without one.
Code code_for_kind(std::string_view kind) noexcept;

// Bytes as lowercase hex digits.
std::string hex(std::string_view bytes);
// A fresh random id of `hex_chars` lowercase hex digits (libsodium).
std::string random_hex(std::size_t hex_chars);
// A fresh request id: 16 hex digits, unique within the process. A random
// per-thread base (one random draw per thread) walked by a counter through a
// bijective mix: no system call per call.
std::string next_request_id();

// True for protocol names of the form [A-Za-z_][A-Za-z0-9_.]* of at most 255 bytes.
bool valid_protocol_name(std::string_view name) noexcept;

// "1.0.0" -> {1,0,0}; nullopt unless three decimal numbers.
std::optional<std::array<std::uint32_t, 3>> parse_semver(std::string_view v) noexcept;

}  // namespace sluice::rpc
