// sluice rpc list|describe|call TARGET: any vgi-rpc server (sluice's, the npm
// package's, Python's) from the shell, over exec:CMD, unix:PATH or
// tcp:HOST:PORT. Parameters are JSON (`-p count=3`, `-p 'values=["a","b"]'`;
// a value that is not JSON is a string), typed from the server's own
// description. Logs the server sends go to stderr; a remote error exits 1
// with its code, type and message (under --json as an object on stdout).
#include <sluice/arrow/print.hpp>
#include <sluice/base/units.hpp>
#include <sluice/rpc/client.hpp>
#include <sluice/tools/cli.hpp>
#include <sluice/tools/json_arrow.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <ostream>

namespace sluice::tools {
namespace {

using nlohmann::json;
namespace rpc = sluice::rpc;

struct RpcArgs {
  std::string target;
  bool json = false;
  int timeout_ms = 30000;
  std::uint64_t shm_bytes = 0;
};

// Errors as the user sees them: text on stderr, or {"error": {...}} on stdout.
int report(CliIo& io, const RpcArgs& a, std::string_view cmd, const Error& e) {
  const rpc::RemoteError* r = rpc::remote_error(e);
  if (a.json) {
    json j = {{"message", e.what()}, {"errc", std::string(errc_name(e.code()))}};
    if (r != nullptr) {
      j["type"] = r->type;
      j["remote_message"] = r->message;
      j["code"] = std::string(rpc::code_name(r->code));
      if (!r->kind.empty()) j["kind"] = r->kind;
      if (!r->details.empty()) j["details"] = json::parse(r->details, nullptr, false);
      if (!r->request_id.empty()) j["request_id"] = r->request_id;
    }
    io.out << json{{"error", j}}.dump() << "\n";
  } else {
    io.err << "sluice rpc " << cmd << ": " << e.what() << "\n";
    if (r != nullptr && !r->kind.empty()) io.err << "  kind: " << r->kind << "\n";
  }
  return 1;
}

rpc::ClientOptions client_options(const RpcArgs& a, CliIo& io) {
  rpc::ClientOptions o;
  o.default_timeout = std::chrono::milliseconds(a.timeout_ms);
  o.shm_segment_size = a.shm_bytes;
  o.on_log = [&io](const rpc::LogRecord& l) {
    io.err << "[" << rpc::level_name(l.level) << "] " << l.message;
    if (!l.extra_json.empty() && l.extra_json != "{}") io.err << " " << l.extra_json;
    io.err << "\n";
  };
  return o;
}

// A batch's rows as JSON objects (the values rendered by the Arrow layer).
json rows_json(const arrow::RecordBatch& b) {
  json rows = json::array();
  for (std::int64_t i = 0; i < b.num_rows(); ++i) {
    json row = json::object();
    for (std::size_t c = 0; c < b.schema()->num_fields(); ++c)
      row[b.schema()->fields()[c]->name()] = json::parse(arrow::value_to_json(*b.columns()[c], i));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string schema_text(std::string_view ipc) {
  if (ipc.empty()) return "";
  auto s = rpc::parse_schema_ipc(ipc);
  if (!s || !*s) return "?";
  std::string out;
  for (const auto& f : (*s)->fields()) {
    if (!out.empty()) out += ", ";
    out += f->name() + ": " + f->type()->to_string() + (f->nullable() ? "" : " not null");
  }
  return out;
}

int cmd_list(CliIo& io, const RpcArgs& a) {
  auto client = rpc::Client::connect(a.target, client_options(a, io));
  if (!client) return report(io, a, "list", client.error());
  auto list = client->list_protocols();
  if (!list) return report(io, a, "list", list.error());
  if (a.json) {
    json protocols = json::array();
    for (const auto& p : list->protocols)
      protocols.push_back({{"protocol", p.protocol},
                           {"protocol_version", p.protocol_version},
                           {"protocol_hash", p.protocol_hash},
                           {"deprecated", p.deprecated},
                           {"features", p.features}});
    io.out << json{{"server_id", list->server_id},
                   {"server_version", list->server_version},
                   {"request_version", list->request_version},
                   {"protocols", protocols}}
                  .dump()
           << "\n";
    return 0;
  }
  io.out << fmt::format("server {} ({}), request version {}\n", list->server_id,
                        list->server_version.empty() ? "version not given" : list->server_version,
                        list->request_version);
  Table t({"PROTOCOL", "VERSION", "HASH"});
  for (const auto& p : list->protocols)
    t.add({p.protocol + (p.deprecated ? " (deprecated)" : ""), p.protocol_version,
           p.protocol_hash.substr(0, 16)});
  t.print(io.out);
  return 0;
}

std::string method_kind(const rpc::MethodInfo& m) {
  if (m.method_type == "unary") return "unary";
  return m.stream_kind.empty() ? "stream" : m.stream_kind;
}

int cmd_describe(CliIo& io, const RpcArgs& a, const std::string& protocol) {
  auto client = rpc::Client::connect(a.target, client_options(a, io));
  if (!client) return report(io, a, "describe", client.error());
  std::vector<std::string> names;
  if (protocol.empty()) {
    auto list = client->list_protocols();
    if (!list) return report(io, a, "describe", list.error());
    for (const auto& p : list->protocols)
      if (p.protocol != rpc::kReflectionProtocol) names.push_back(p.protocol);
  } else {
    names.push_back(protocol);
  }
  json all = json::array();
  for (const auto& name : names) {
    auto d = client->describe(name);
    if (!d) return report(io, a, "describe", d.error());
    if (a.json) {
      json methods = json::array();
      for (const auto& m : d->methods)
        methods.push_back({{"name", m.name},
                           {"kind", method_kind(m)},
                           {"params", schema_text(m.params_schema_ipc.data)},
                           {"result", schema_text(m.result_schema_ipc.data)},
                           {"header", schema_text(m.header_schema_ipc.data)},
                           {"idempotency", m.idempotency},
                           {"deprecated", m.deprecated}});
      all.push_back({{"protocol", d->protocol},
                     {"protocol_version", d->protocol_version},
                     {"protocol_hash", d->protocol_hash},
                     {"methods", methods}});
      continue;
    }
    io.out << fmt::format("{} {} ({} methods, hash {})\n", d->protocol, d->protocol_version,
                          d->methods.size(), d->protocol_hash.substr(0, 16));
    for (const auto& m : d->methods) {
      std::string line = fmt::format("  {:<9} {}({})", method_kind(m), m.name,
                                     schema_text(m.params_schema_ipc.data));
      const auto result = schema_text(m.result_schema_ipc.data);
      if (!result.empty()) line += " -> " + result;
      const auto header = schema_text(m.header_schema_ipc.data);
      if (!header.empty()) line += fmt::format("  [header: {}]", header);
      io.out << line << "\n";
    }
  }
  if (a.json) io.out << all.dump() << "\n";
  return 0;
}

struct CallArgs {
  std::string method;  // METHOD or PROTOCOL/METHOD
  std::vector<std::string> params;
  std::string params_json;
  int max_batches = -1;
};

Result<json> parse_params(const CallArgs& c) {
  json row = json::object();
  if (!c.params_json.empty()) {
    row = json::parse(c.params_json, nullptr, false);
    if (row.is_discarded() || !row.is_object())
      return fail(Errc::invalid_argument, "--params must be a JSON object, got {}", c.params_json);
  }
  for (const auto& p : c.params) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0)
      return fail(Errc::invalid_argument, "-p takes NAME=VALUE, got '{}'", p);
    const std::string value = p.substr(eq + 1);
    json v = json::parse(value, nullptr, false);
    // Not JSON: the text itself, as a string.
    row[p.substr(0, eq)] = v.is_discarded() ? json(value) : std::move(v);
  }
  return row;
}

int cmd_call(CliIo& io, const RpcArgs& a, const CallArgs& c) {
  auto row = parse_params(c);
  if (!row) return report(io, a, "call", row.error());
  auto client = rpc::Client::connect(a.target, client_options(a, io));
  if (!client) return report(io, a, "call", client.error());
  auto list = client->list_protocols();
  if (!list) return report(io, a, "call", list.error());

  std::string protocol;
  std::string method = c.method;
  if (const auto slash = method.rfind('/'); slash != std::string::npos) {
    protocol = method.substr(0, slash);
    method = method.substr(slash + 1);
  }
  std::vector<std::string> hosted;
  for (const auto& p : list->protocols)
    if (p.protocol != rpc::kReflectionProtocol) hosted.push_back(p.protocol);
  if (protocol.empty()) {
    if (hosted.size() != 1)
      return report(io, a, "call",
                    Error(Errc::invalid_argument,
                          fmt::format("the server hosts {} protocols ({}): name one, as "
                                      "PROTOCOL/METHOD",
                                      hosted.size(), fmt::join(hosted, ", "))));
    protocol = hosted.front();
  } else if (std::find(hosted.begin(), hosted.end(), protocol) == hosted.end()) {
    return report(io, a, "call",
                  Error(Errc::not_found, fmt::format("the server does not host '{}' (it hosts: {})",
                                                     protocol, fmt::join(hosted, ", "))));
  }
  std::string version;
  for (const auto& p : list->protocols)
    if (p.protocol == protocol) version = p.protocol_version;
  auto d = client->describe(protocol);
  if (!d) return report(io, a, "call", d.error());
  const rpc::MethodInfo* m = nullptr;
  for (const auto& x : d->methods)
    if (x.name == method) m = &x;
  if (m == nullptr)
    return report(io, a, "call",
                  Error(Errc::not_found, fmt::format("{} has no method '{}' (see sluice rpc "
                                                     "describe {} {})",
                                                     protocol, method, a.target, protocol)));
  if (m->stream_kind == "exchange")
    return report(io, a, "call",
                  Error(Errc::not_supported,
                        fmt::format("{} is an exchange: its input schema is not part of the "
                                    "server's description, so call it from a program",
                                    method)));
  auto schema = rpc::parse_schema_ipc(m->params_schema_ipc.data);
  if (!schema) return report(io, a, "call", schema.error());
  auto params = row_from_json(*schema ? *schema : arrow::schema({}), *row);
  if (!params) return report(io, a, "call", params.error().context(fmt::format("{}", method)));
  const rpc::CallSpec spec{protocol, version, method};

  if (m->method_type == "unary") {
    auto result = client->call(spec, *params);
    if (!result) return report(io, a, "call", result.error());
    if (a.json) {
      const json rows = rows_json(*result);
      io.out << (rows.empty() ? json::object() : rows.front()).dump() << "\n";
    } else if (result->num_columns() == 0) {
      io.out << "ok\n";
    } else if (result->num_columns() == 1 && result->num_rows() == 1) {
      io.out << arrow::format_value(*result->column(0), 0) << "\n";
    } else {
      io.out << arrow::format_table(*result);
    }
    return 0;
  }
  auto stream = client->open_stream(spec, *params, {m->has_header, false});
  if (!stream) return report(io, a, "call", stream.error());
  if (stream->header()) {
    if (a.json) {
      const json rows = rows_json(*stream->header());
      io.out << json{{"header", rows.empty() ? json::object() : rows.front()}}.dump() << "\n";
    } else {
      io.out << "header:\n" << arrow::format_table(*stream->header());
    }
  }
  int batches = 0;
  std::int64_t rows = 0;
  for (;;) {
    if (c.max_batches >= 0 && batches >= c.max_batches) {
      auto closed = stream->cancel();
      if (!closed) return report(io, a, "call", closed.error());
      break;
    }
    auto b = stream->next();
    if (!b) return report(io, a, "call", b.error());
    if (!*b) break;
    ++batches;
    rows += (*b)->num_rows();
    if (a.json) {
      for (const auto& r : rows_json(**b)) io.out << r.dump() << "\n";
    } else {
      io.out << fmt::format("batch {}: {} rows\n", batches - 1, (*b)->num_rows())
             << arrow::format_table(**b);
    }
    io.out.flush();
  }
  if (!a.json) io.out << fmt::format("{} batches, {} rows\n", batches, rows);
  return 0;
}

void common(CLI::App* cmd, const std::shared_ptr<RpcArgs>& a) {
  cmd->add_option("TARGET", a->target,
                  "the server: exec:'CMD ARGS' (a worker on stdin/stdout), unix:PATH or "
                  "tcp:HOST:PORT")
      ->required();
  cmd->add_option("--timeout", a->timeout_ms, "per call, in milliseconds (default 30000)");
  cmd->add_option_function<std::string>(
         "--shm",
         [a](const std::string& v) {
           if (!parse_bytes(v, a->shm_bytes) || (a->shm_bytes != 0 && a->shm_bytes <= 65536))
             throw CLI::ValidationError("--shm", "'" + v + "' is not a size above 64 KiB");
         },
         "use vgi-rpc's shared-memory side channel with a segment of SIZE (e.g. 64M) on exec: "
         "and unix: targets; servers that decline get plain pipe traffic")
      ->type_name("SIZE");
}

}  // namespace

void register_rpc_commands(CLI::App& app, CliIo& io, int& exit_code) {
  auto* rpc_cmd = app.add_subcommand("rpc", "call vgi-rpc services (sluice's or any other)");
  rpc_cmd->require_subcommand(1);

  auto list_args = std::make_shared<RpcArgs>();
  auto* list = rpc_cmd->add_subcommand("list", "the protocols a server hosts, with versions");
  common(list, list_args);
  list->add_flag("--json", list_args->json,
                 "{server_id, server_version, request_version, protocols: [...]}");
  list->callback([&io, &exit_code, list_args] { exit_code = cmd_list(io, *list_args); });

  auto describe_args = std::make_shared<RpcArgs>();
  auto describe_protocol = std::make_shared<std::string>();
  auto* describe = rpc_cmd->add_subcommand("describe", "a protocol's methods and their types");
  common(describe, describe_args);
  describe->add_option("PROTOCOL", *describe_protocol, "default: every protocol hosted");
  describe->add_flag("--json", describe_args->json,
                     "[{protocol, protocol_version, protocol_hash, methods: [...]}]");
  describe->callback([&io, &exit_code, describe_args, describe_protocol] {
    exit_code = cmd_describe(io, *describe_args, *describe_protocol);
  });

  auto call_args = std::make_shared<RpcArgs>();
  auto call_more = std::make_shared<CallArgs>();
  auto* call = rpc_cmd->add_subcommand(
      "call", "call a unary or producer method; producers print every batch");
  common(call, call_args);
  call->add_option("METHOD", call_more->method,
                   "METHOD, or PROTOCOL/METHOD when the server hosts several")
      ->required();
  call->add_option("-p,--param", call_more->params,
                   "NAME=VALUE, VALUE as JSON (a string when it is not JSON); repeatable");
  call->add_option("--params", call_more->params_json, "every parameter as one JSON object");
  call->add_option("--max-batches", call_more->max_batches,
                   "producers: cancel after this many batches");
  call->add_flag("--json", call_args->json,
                 "unary: the result row as an object; producers: one object per row (JSON "
                 "Lines), the header first as {\"header\": ...}");
  call->callback([&io, &exit_code, call_args, call_more] {
    exit_code = cmd_call(io, *call_args, *call_more);
  });
}

}  // namespace sluice::tools
