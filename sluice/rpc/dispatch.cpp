#include <sluice/rpc/internal/dispatch.hpp>
#include <sluice/rpc/reflection.hpp>

#include <fmt/format.h>

#include <cxxabi.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <typeinfo>

namespace sluice::rpc {

struct Dispatcher::Call {
  const Protocol* protocol = nullptr;
  const MethodDef* method = nullptr;
  std::string protocol_name;
  std::string method_name;
  std::string request_id;
  std::string remote;
  arrow::RecordBatch params;
  Stamp stamp;
  bool failed = false;
  std::string error_type;
  SideChannel* side = nullptr;
  bool uses_shm = false;  // responses go through the segment (the request used it)

  // Regions of batches dropped since the last turn are freed; then a batch
  // that qualifies goes into the segment.
  Result<arrow::RecordBatch> out_batch(const arrow::RecordBatch& b) const {
    return uses_shm ? side->offload(b) : b;
  }
};

namespace {

RemoteError protocol_error(std::string type, std::string kind, std::string message) {
  RemoteError e;
  e.type = std::move(type);
  e.kind = std::move(kind);
  e.message = std::move(message);
  e.code = code_for_kind(e.kind);
  e.has_code = true;
  return e;
}

std::string demangle(const char* name) {
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = (status == 0 && out != nullptr) ? out : name;
  std::free(out);  // NOLINT(cppcoreguidelines-no-malloc): __cxa_demangle's contract
  return s;
}

Code code_for_errc(Errc c) {
  switch (c) {
    case Errc::invalid_argument:
    case Errc::type_error:
    case Errc::parse_error:
      return Code::invalid_argument;
    case Errc::out_of_range:
      return Code::out_of_range;
    case Errc::not_supported:
      return Code::unimplemented;
    case Errc::not_found:
      return Code::not_found;
    case Errc::already_exists:
      return Code::already_exists;
    case Errc::permission_denied:
      return Code::permission_denied;
    case Errc::timed_out:
      return Code::deadline_exceeded;
    case Errc::out_of_memory:
    case Errc::queue_full:
      return Code::resource_exhausted;
    case Errc::closed:
    case Errc::peer_gone:
      return Code::unavailable;
    case Errc::internal:
      return Code::internal;
    default:
      return Code::unknown;
  }
}

std::string type_for_errc(Errc c) {
  switch (c) {
    case Errc::type_error:
      return "TypeError";
    case Errc::invalid_argument:
    case Errc::out_of_range:
    case Errc::parse_error:
      return "ValueError";
    case Errc::not_supported:
      return "NotImplementedError";
    default:
      return "RuntimeError";
  }
}

bool versions_compatible(std::string_view declared, std::string_view sent) {
  const auto a = parse_semver(declared);
  const auto b = parse_semver(sent);
  return a && b && (*a)[0] == (*b)[0] && (*a)[1] == (*b)[1];
}

// Exact comparison of names, types and nullability, with a message naming
// the first difference.
std::string schema_difference(const arrow::Schema& got, const arrow::Schema& want) {
  if (got.num_fields() != want.num_fields())
    return fmt::format("{} parameter field(s) sent, {} expected ({})", got.num_fields(),
                       want.num_fields(), want.to_string());
  for (std::size_t i = 0; i < want.num_fields(); ++i) {
    const auto& g = *got.field(i);
    const auto& w = *want.field(i);
    if (g.name() != w.name())
      return fmt::format("field {} is named '{}', expected '{}'", i, g.name(), w.name());
    if (!g.type()->equals(*w.type()))
      return fmt::format("parameter '{}' has type {}, expected {}", w.name(), g.type()->to_string(),
                         w.type()->to_string());
    if (g.nullable() != w.nullable())
      return fmt::format("parameter '{}' is {}nullable, expected {}nullable", w.name(),
                         g.nullable() ? "" : "not ", w.nullable() ? "" : "not ");
  }
  return {};
}

// Replaces null parameters that declare a default (TS 0.25 does the same).
arrow::RecordBatch with_defaults(const arrow::RecordBatch& b, const MethodDef& m) {
  if (b.num_rows() != 1) return b;
  std::vector<arrow::ArrayPtr> cols = b.columns();
  bool changed = false;
  for (std::size_t i = 0; i < cols.size() && i < m.defaults.size(); ++i) {
    if (m.defaults[i] && cols[i]->is_null(0)) {
      cols[i] = m.defaults[i];
      changed = true;
    }
  }
  if (!changed) return b;
  return {b.schema(), 1, std::move(cols), b.metadata()};
}

arrow::KeyValueMetadata stamp_metadata(const Stamp& s) {
  arrow::KeyValueMetadata md;
  md.set(std::string(key::server_id), s.server_id);
  if (!s.request_id.empty()) md.set(std::string(key::request_id), s.request_id);
  return md;
}

Result<double> as_double(const arrow::Array& a, std::int64_t i) {
  switch (a.type_id()) {
    case arrow::TypeId::float64:
      return a.value<double>(i);
    case arrow::TypeId::float32:
      return static_cast<double>(a.value<float>(i));
    case arrow::TypeId::int8:
    case arrow::TypeId::int16:
    case arrow::TypeId::int32:
    case arrow::TypeId::int64:
      return static_cast<double>(a.int_value(i));
    case arrow::TypeId::uint8:
    case arrow::TypeId::uint16:
    case arrow::TypeId::uint32:
    case arrow::TypeId::uint64:
      return static_cast<double>(a.uint_value(i));
    default:
      return fail(Errc::type_error, "cannot cast {} to float64", a.type()->to_string());
  }
}

Result<arrow::ArrayPtr> cast_column(const arrow::ArrayPtr& col, const arrow::Field& to) {
  if (col->type()->equals(*to.type())) return col;
  const auto id = to.type()->id();
  if (id == arrow::TypeId::float64) {
    std::vector<std::optional<double>> v;
    v.reserve(static_cast<std::size_t>(col->length()));
    for (std::int64_t i = 0; i < col->length(); ++i) {
      if (col->is_null(i)) {
        v.emplace_back();
        continue;
      }
      SLUICE_TRY_ASSIGN(double d, as_double(*col, i));
      v.emplace_back(d);
    }
    return arrow::make_array<double>(arrow::float64(), v);
  }
  if (id == arrow::TypeId::int64 && col->type()->is_integer() &&
      col->type_id() != arrow::TypeId::uint64) {
    std::vector<std::optional<std::int64_t>> v;
    for (std::int64_t i = 0; i < col->length(); ++i)
      v.push_back(col->is_null(i) ? std::nullopt : std::optional(col->int_value(i)));
    return arrow::make_array<std::int64_t>(arrow::int64(), v);
  }
  return fail(Errc::type_error, "input column '{}' has type {}, expected {}", to.name(),
              col->type()->to_string(), to.type()->to_string());
}

}  // namespace

Result<arrow::RecordBatch> coerce_input(const arrow::RecordBatch& batch,
                                        const arrow::SchemaPtr& schema) {
  if (!schema || batch.schema()->equals(*schema))
    return batch.metadata().empty() ? batch : batch.with_metadata({});
  if (batch.num_columns() != schema->num_fields())
    return fail(Errc::type_error, "input has {} column(s), the method takes {} ({})",
                batch.num_columns(), schema->num_fields(), schema->to_string());
  std::vector<arrow::ArrayPtr> cols;
  for (const auto& f : schema->fields()) {
    const int at = batch.schema()->field_index(f->name());
    if (at < 0)
      return fail(Errc::type_error, "input has no column '{}' (the method takes {})", f->name(),
                  schema->to_string());
    SLUICE_TRY_ASSIGN(auto col, cast_column(batch.column(static_cast<std::size_t>(at)), *f));
    if (!f->nullable() && col->null_count() > 0)
      return fail(Errc::type_error, "input column '{}' holds nulls, declared not nullable",
                  f->name());
    cols.push_back(std::move(col));
  }
  return arrow::RecordBatch(schema, batch.num_rows(), std::move(cols));
}

void Dispatcher::setup(const ServerOptions& options, const std::string& server_id,
                       const std::vector<std::unique_ptr<Protocol>>& protocols) {
  options_ = &options;
  server_id_ = server_id;
  protocols_ = &protocols;
  for (const auto& p : protocols) {
    if (p->name() == kReflectionProtocol) continue;
    if (options.primary_protocol.empty() ? primary_ == nullptr
                                         : p->name() == options.primary_protocol)
      primary_ = p.get();
  }
  if (!options.access_log_path.empty()) {
    auto r = access_log_.open(options.access_log_path);
    if (!r) std::fprintf(stderr, "sluice rpc: %s\n", r.error().what().c_str());
  }
}

Result<std::string> Dispatcher::hash_of(const Protocol& p) {
  std::lock_guard lock(hash_mutex_);
  auto it = hashes_.find(&p);
  if (it != hashes_.end()) return it->second;
  SLUICE_TRY_ASSIGN(std::string h, protocol_hash(p));
  hashes_.emplace(&p, h);
  return h;
}

ServerStats Dispatcher::stats() const {
  ServerStats s;
  s.calls = calls_.load();
  s.errors = errors_.load();
  return s;
}

void Dispatcher::add_traceback(RemoteError& e, const Call* call) const {
  if (!options_->tracebacks || !e.traceback.empty()) return;
  e.traceback = fmt::format("{}: {}\n  at {}/{}", e.type, e.message,
                            call != nullptr ? call->protocol_name : std::string("?"),
                            call != nullptr ? call->method_name : std::string("?"));
}

RemoteError Dispatcher::from_error(const Error& err, const Call* call) const {
  RemoteError e;
  if (const auto* remote = remote_error(err)) {
    e = *remote;  // a proxied remote failure keeps its identity
  } else {
    e.type = type_for_errc(err.code());
    e.message = err.what();
    e.code = code_for_errc(err.code());
    e.has_code = true;
  }
  add_traceback(e, call);
  return e;
}

RemoteError Dispatcher::from_exception(const std::exception& ex, const Call* call) const {
  RemoteError e;
  if (const auto* se = dynamic_cast<const ServiceError*>(&ex)) {
    e = se->error();
  } else {
    e.type = demangle(typeid(ex).name());
    e.message = ex.what();
    e.code = Code::unknown;
  }
  if (!e.has_code) {
    e.code = e.kind.empty() ? Code::unknown : code_for_kind(e.kind);
    e.has_code = true;
  }
  add_traceback(e, call);
  return e;
}

Result<void> Dispatcher::write_error_stream(IpcOutput& out, const arrow::SchemaPtr& schema,
                                            const RemoteError& e, const Stamp& stamp) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  return out.write_stream(schema ? schema : arrow::schema({}),
                          {error_batch(schema ? schema : arrow::schema({}), e, stamp)});
}

Result<void> Dispatcher::serve(Connection& conn, std::atomic<bool>& busy,
                               const std::atomic<bool>& stopping) {
  IpcInput in(conn, options_->limits);
  IpcOutput out(conn);
  SideChannel side;
  while (!stopping.load()) {
    if (options_->idle_timeout.count() > 0) {
      SLUICE_TRY_ASSIGN(bool readable, conn.wait_readable(options_->idle_timeout));
      if (!readable) return ok();  // idle: close
    }
    SLUICE_TRY_ASSIGN(bool end, in.at_end());
    if (end) return ok();
    busy.store(true);
    auto more = one_request(conn, in, out, side);
    busy.store(false);
    if (!more) return fail(more.error());
    if (!*more) return ok();
  }
  return ok();
}

// One request; false when the connection must close (it cannot be resynchronised).
Result<arrow::RecordBatch> Dispatcher::take_shm(Connection& conn, SideChannel& side,
                                                const arrow::RecordBatch& request, Call& call) {
  call.side = &side;
  side.settle();  // a request arrived: the table is ours until we answer
  const auto& md = request.metadata();
  if (auto name = md.get(key::shm_segment_name); name && options_->shared_memory) {
    if (!conn.same_host())
      return fail(Errc::not_supported,
                  "a shared-memory segment was advertised over {}, which "
                  "does not share memory with this server",
                  conn.describe());
    std::uint64_t size = 0;
    if (auto sz = md.get(key::shm_segment_size)) {
      const auto* end = sz->data() + sz->size();
      auto [p, ec] = std::from_chars(sz->data(), end, size);
      if (ec != std::errc() || p != end)
        return fail(Errc::invalid_argument, "'{}' is '{}', not a decimal size",
                    key::shm_segment_size, *sz);
    }
    SLUICE_TRY(
        side.attach(std::string(*name), size, conn.peer_uid(), options_->shm_min_batch_bytes));
    call.uses_shm = true;
  }
  if (!batch::vgis::is_pointer_batch(request)) return request;
  if (!options_->shared_memory)
    return fail(Errc::not_supported,
                "a shared-memory pointer batch arrived, but this server has shared memory off");
  call.uses_shm = true;
  return side.resolve(request);
}

Result<bool> Dispatcher::one_request(Connection& conn, IpcInput& in, IpcOutput& out,
                                     SideChannel& side) {
  const auto started = std::chrono::steady_clock::now();
  Call call;
  call.stamp.server_id = server_id_;
  call.remote = Listener::remote_address(conn);
  const auto empty = arrow::schema({});

  // Read the whole request stream before validating it (§3).
  std::vector<arrow::RecordBatch> batches;
  arrow::SchemaPtr params_schema;
  {
    auto reader = in.open();
    Result<void> read_status = ok();
    if (reader) {
      params_schema = reader->schema();
      for (;;) {
        auto b = reader->next();
        if (!b) {
          read_status = fail(b.error());
          break;
        }
        if (!b->has_value()) break;
        batches.push_back(std::move(**b));
        if (batches.size() > 16) {
          read_status = fail(Errc::parse_error, "request stream holds more than one batch");
          break;
        }
      }
    } else {
      read_status = fail(reader.error());
    }
    if (!read_status) {
      // The stream is malformed, cut or too large: the connection cannot be
      // resynchronised. Say why, then close it.
      const bool too_large = read_status.error().code() == Errc::out_of_range;
      auto e = protocol_error(too_large ? "RequestTooLargeError" : "ProtocolError",
                              too_large ? "request_too_large" : "malformed_request_stream",
                              fmt::format("bad request stream: {}", read_status.error().what()));
      errors_.fetch_add(1, std::memory_order_relaxed);
      (void)out.write_stream(empty, {error_batch(empty, e, call.stamp)});
      return false;
    }
  }
  calls_.fetch_add(1, std::memory_order_relaxed);

  auto reject = [&](const arrow::SchemaPtr& schema, RemoteError e) -> Result<bool> {
    add_traceback(e, &call);
    SLUICE_TRY(write_error_stream(out, schema, e, call.stamp));
    if (access_log_.enabled()) {
      AccessRecord r;
      r.server_id = server_id_;
      r.protocol = call.protocol_name;
      r.method = call.method_name;
      r.method_type = call.method != nullptr ? (call.method->is_stream() ? "stream" : "unary") : "";
      r.remote_addr = call.remote;
      r.request_id = call.request_id;
      r.duration = std::chrono::steady_clock::now() - started;
      r.status = "error";
      r.error_type = e.type;
      access_log_.write(r);
    }
    return true;
  };

  if (batches.empty())
    return reject(
        empty, protocol_error("ProtocolError", "invalid_request", "request stream holds no batch"));
  if (batches.size() > 1)
    return reject(empty, protocol_error("ProtocolError", "invalid_request",
                                        fmt::format("request stream holds {} batches, expected one",
                                                    batches.size())));
  // A pointer request is resolved before anything looks at its rows (§10);
  // the advertised segment is attached for this and later requests.
  auto resolved = take_shm(conn, side, batches.front(), call);
  batches.clear();
  if (!resolved)
    return reject(empty, protocol_error("ProtocolError", "invalid_request",
                                        fmt::format("shared memory: {}", resolved.error().what())));
  arrow::RecordBatch request = std::move(resolved).value();
  params_schema = request.schema();
  const auto& md = request.metadata();
  if (auto id = md.get(key::request_id); id && !id->empty() && id->size() <= 128)
    call.request_id = std::string(*id);
  else
    call.request_id = next_request_id();
  call.stamp.request_id = call.request_id;

  const auto version = md.get(key::request_version);
  if (!version || *version != kRequestVersion)
    return reject(empty,
                  protocol_error("VersionError", "request_version_mismatch",
                                 version ? fmt::format("Unsupported request version '{}', "
                                                       "expected '{}'",
                                                       *version, kRequestVersion)
                                         : fmt::format("request carries no '{}' (expected "
                                                       "'{}')",
                                                       key::request_version, kRequestVersion)));
  const auto method_name = md.get(key::method);
  if (!method_name || method_name->empty())
    return reject(empty, protocol_error("ProtocolError", "invalid_request",
                                        fmt::format("request carries no '{}'", key::method)));
  call.method_name = std::string(*method_name);

  // __transport_options__ (§7.3): shared memory when both sides want it and
  // the connection is local.
  if (call.method_name == kTransportOptionsMethod) {
    const bool shm = options_->shared_memory && conn.same_host() &&
                     md.get(key::transport_shm).value_or("") == "true";
    arrow::KeyValueMetadata rmd;
    rmd.set(std::string(key::transport_shm), shm ? "true" : "false");
    rmd.set(std::string(key::server_id), server_id_);
    rmd.set(std::string(key::request_version), std::string(kRequestVersion));
    SLUICE_TRY_ASSIGN(auto b, arrow::RecordBatch::empty(empty, std::move(rmd)));
    SLUICE_TRY(out.write_stream(empty, {b}));
    return true;
  }

  const auto routed = md.get(key::protocol);
  if (!routed) {
    if (options_->require_routing_key || primary_ == nullptr)
      return reject(empty, protocol_error("ProtocolNotSpecifiedError", "protocol_not_specified",
                                          fmt::format("Request carries no '{}' routing key; "
                                                      "send one of the hosted protocols (see {})",
                                                      key::protocol, kReflectionProtocol)));
    call.protocol = primary_;  // Gen A
    call.protocol_name = primary_->name();
    if (call.method_name == kDescribeMethod && options_->gen_a_describe) {
      SLUICE_TRY_ASSIGN(auto d, gen_a_describe(*primary_, server_id_));
      SLUICE_TRY(out.write_stream(d.schema(), {d}));
      return true;
    }
  } else {
    call.protocol_name = std::string(*routed);
    if (!valid_protocol_name(call.protocol_name))
      return reject(empty, protocol_error("ProtocolError", "protocol_not_supported",
                                          fmt::format("'{}' is not a valid protocol name",
                                                      call.protocol_name)));
    for (const auto& p : *protocols_)
      if (p->name() == call.protocol_name) call.protocol = p.get();
    if (call.protocol == nullptr)
      return reject(empty, protocol_error("ProtocolNotSupportedError", "protocol_not_supported",
                                          fmt::format("protocol '{}' is not hosted here",
                                                      call.protocol_name)));
    if (call.method_name == kDescribeMethod)
      return reject(empty, protocol_error("MethodNotImplementedError", "method_not_implemented",
                                          fmt::format("'{}' is retired with routing keys: call "
                                                      "{}/describe",
                                                      kDescribeMethod, kReflectionProtocol)));
  }
  call.method = call.protocol->find(call.method_name);
  if (call.method == nullptr)
    return reject(empty, protocol_error("MethodNotImplementedError", "method_not_implemented",
                                        fmt::format("protocol '{}' has no method '{}'",
                                                    call.protocol_name, call.method_name)));
  const MethodDef& m = *call.method;
  const arrow::SchemaPtr error_schema = m.is_stream() ? empty : m.result;

  // Protocol version gate (Reflection is exempt).
  if (!call.protocol->version().empty() && call.protocol_name != kReflectionProtocol) {
    const auto sent = md.get(key::protocol_version);
    if (!sent || !versions_compatible(call.protocol->version(), *sent)) {
      auto e = protocol_error(
          "ProtocolVersionError", "protocol_version_mismatch",
          sent ? fmt::format("protocol '{}' is version {} here, the client speaks {}: upgrade the "
                             "{}",
                             call.protocol_name, call.protocol->version(), *sent,
                             parse_semver(*sent) &&
                                     *parse_semver(*sent) < *parse_semver(call.protocol->version())
                                 ? "client"
                                 : "server")
               : fmt::format("request carries no '{}'; protocol '{}' is version {}",
                             key::protocol_version, call.protocol_name, call.protocol->version()));
      e.details = fmt::format(
          R"([{{"@type":"vgi_rpc.PreconditionFailure","violations":[{{"type":"protocol_version","subject":"{}","description":"server {} client {}"}}]}}])",
          call.protocol_name, call.protocol->version(), sent ? std::string(*sent) : "none");
      return reject(error_schema, std::move(e));
    }
  }

  // Parameters: exact schema, one row (zero-parameter methods: any count).
  if (const std::string diff = schema_difference(*params_schema, *m.params); !diff.empty())
    return reject(error_schema, protocol_error("ProtocolError", "invalid_request",
                                               fmt::format("{}/{}: {}", call.protocol_name,
                                                           call.method_name, diff)));
  if (m.params->num_fields() > 0 && request.num_rows() != 1)
    return reject(empty, protocol_error("ProtocolError", "invalid_request",
                                        fmt::format("request batch has {} rows, expected 1",
                                                    request.num_rows())));
  call.params = with_defaults(request.with_metadata({}), m);
  // A null left in a parameter that is neither nullable nor defaulted.
  for (std::size_t i = 0; i < m.params->num_fields() && call.params.num_rows() == 1; ++i) {
    const auto& f = m.params->fields()[i];
    if (!f->nullable() && call.params.columns()[i]->is_null(0))
      return reject(error_schema,
                    protocol_error("TypeError", "invalid_request",
                                   fmt::format("{}/{}: parameter '{}' is required (null, and it "
                                               "has no default)",
                                               call.protocol_name, call.method_name, f->name())));
  }

  // Concurrency limit, over every connection.
  if (calls_in_flight_.fetch_add(1) >= options_->max_concurrent_calls) {
    calls_in_flight_.fetch_sub(1);
    auto e = protocol_error(
        "ServerBusyError", "server_busy",
        fmt::format("{} calls in flight (max_concurrent_calls)", options_->max_concurrent_calls));
    e.code = Code::resource_exhausted;
    e.details = R"([{"@type":"vgi_rpc.RetryInfo","retry_delay_seconds":"0.1"}])";
    if (m.is_stream()) {
      SLUICE_TRY(reject(empty, e));
      SLUICE_TRY(in.drain_stream());
      return true;
    }
    return reject(error_schema, e);
  }
  // From here the call owns the parameters: a request read in place must not
  // be held here, so that its region is free once the handler is done.
  request = {};
  Result<void> r = m.is_stream() ? run_stream(call, in, out) : run_unary(call, out);
  calls_in_flight_.fetch_sub(1);
  if (access_log_.enabled()) {
    AccessRecord rec;
    rec.server_id = server_id_;
    rec.protocol = call.protocol_name;
    auto h = hash_of(*call.protocol);
    rec.protocol_hash = h ? *h : std::string();
    rec.method = call.method_name;
    rec.method_type = m.is_stream() ? "stream" : "unary";
    rec.remote_addr = call.remote;
    rec.request_id = call.request_id;
    rec.duration = std::chrono::steady_clock::now() - started;
    rec.status = call.failed || !r ? "error" : "ok";
    rec.error_type = call.failed ? call.error_type : (!r ? std::string("TransportError") : "");
    access_log_.write(rec);
  }
  if (!r) return fail(r.error());  // the transport failed: close
  return true;
}

Result<void> Dispatcher::run_unary(Call& call, IpcOutput& out) {
  const MethodDef& m = *call.method;
  CallContext ctx(call.protocol_name, call.method_name, call.request_id, call.remote,
                  &call.params.metadata());
  std::optional<RemoteError> failure;
  std::optional<arrow::RecordBatch> result;
  try {
    auto r = m.unary(call.params, ctx);
    if (!r) {
      failure = from_error(r.error(), &call);
    } else if (!r->schema() || !r->schema()->equals(*m.result) ||
               r->num_rows() != (m.result->num_fields() > 0 ? 1 : 0)) {
      failure = protocol_error("InternalError", "",
                               fmt::format("{}/{} returned a batch that does not match its result "
                                           "schema ({} rows of {})",
                                           call.protocol_name, call.method_name, r->num_rows(),
                                           r->schema() ? r->schema()->to_string() : "none"));
      failure->code = Code::internal;
    } else {
      result = std::move(r).value();
    }
  } catch (const std::exception& ex) {
    failure = from_exception(ex, &call);
  } catch (...) {
    failure = protocol_error("UnknownError", "", "the handler threw a non-standard exception");
    failure->code = Code::unknown;
  }
  std::vector<arrow::RecordBatch> batches;
  for (auto& l : ctx.take_logs())
    batches.push_back(log_batch(m.result, l.level, l.message, l.extra, call.stamp));
  if (failure) {
    call.failed = true;
    call.error_type = failure->type;
    errors_.fetch_add(1, std::memory_order_relaxed);
    add_traceback(*failure, &call);
    batches.push_back(error_batch(m.result, *failure, call.stamp));
  } else {
    // The parameters (perhaps read in place) are done with: their region is
    // freed before the result takes its own. A result written into the
    // segment no longer needs the arrays it was made of (which may alias the
    // parameters' region).
    call.params = {};
    SLUICE_TRY_ASSIGN(auto b, call.out_batch(result->with_metadata(stamp_metadata(call.stamp))));
    result.reset();
    batches.push_back(std::move(b));
  }
  call.params = {};
  if (call.side != nullptr) call.side->settle();  // every region of the call is free at its end
  return out.write_stream(m.result, batches);
}

Result<void> Dispatcher::run_stream(Call& call, IpcInput& in, IpcOutput& out) {
  const MethodDef& m = *call.method;
  const auto empty = arrow::schema({});
  CallContext ctx(call.protocol_name, call.method_name, call.request_id, call.remote,
                  &call.params.metadata());
  std::optional<RemoteError> failure;
  StreamStart start;
  try {
    auto r = m.start(call.params, ctx);
    if (!r)
      failure = from_error(r.error(), &call);
    else
      start = std::move(r).value();
  } catch (const std::exception& ex) {
    failure = from_exception(ex, &call);
  } catch (...) {
    failure = protocol_error("UnknownError", "", "the handler threw a non-standard exception");
  }
  arrow::SchemaPtr output = start.output_schema ? start.output_schema : m.output;
  if (!failure && (!start.stream || !output)) {
    failure = protocol_error("InternalError", "",
                             fmt::format("{}/{}: init gave no stream state or output schema",
                                         call.protocol_name, call.method_name));
    failure->code = Code::internal;
  }
  if (!failure && m.header &&
      (!start.header || !start.header->schema()->equals(*m.header) ||
       start.header->num_rows() != 1)) {
    failure =
        protocol_error("InternalError", "",
                       fmt::format("{}/{}: init gave no one-row header of {}", call.protocol_name,
                                   call.method_name, m.header->to_string()));
    failure->code = Code::internal;
  }
  auto init_logs = ctx.take_logs();
  if (failure) {
    // An error stream in place of the header (or output) stream; then read
    // and drop the client's input stream so that the connection stays in step.
    call.failed = true;
    call.error_type = failure->type;
    const arrow::SchemaPtr schema = m.header ? m.header : empty;
    std::vector<arrow::RecordBatch> batches;
    batches.reserve(init_logs.size() + 1);
    for (auto& l : init_logs)
      batches.push_back(log_batch(schema, l.level, l.message, l.extra, call.stamp));
    batches.push_back(error_batch(schema, *failure, call.stamp));
    errors_.fetch_add(1, std::memory_order_relaxed);
    SLUICE_TRY(out.write_stream(schema, batches));
    return in.drain_stream();
  }
  if (m.header) {
    std::vector<arrow::RecordBatch> batches;
    batches.reserve(init_logs.size() + 1);
    for (auto& l : init_logs)
      batches.push_back(log_batch(m.header, l.level, l.message, l.extra, call.stamp));
    init_logs.clear();
    SLUICE_TRY_ASSIGN(auto h, call.out_batch(start.header->with_metadata({})));
    batches.push_back(std::move(h));
    SLUICE_TRY(out.write_stream(m.header, batches));
  }

  // The client's input stream opens before the output stream (§6 step 3).
  SLUICE_TRY_ASSIGN(auto input, in.open());
  SLUICE_TRY_ASSIGN(auto writer, out.open(output));
  for (auto& l : init_logs)
    SLUICE_TRY(writer.write(log_batch(output, l.level, l.message, l.extra, call.stamp)));
  SLUICE_TRY(out.flush());

  // The end of the output stream means every region of the call is free
  // (§10): what the handler dropped is settled before the end-of-stream.
  auto close_output = [&]() -> Result<void> {
    if (call.side != nullptr) call.side->settle();
    return writer.close();
  };
  auto drain_input = [&]() -> Result<void> {
    for (;;) {
      in.next_turn();
      SLUICE_TRY_ASSIGN(auto b, input.next());
      if (!b) return ok();
    }
  };
  auto end_with_error = [&](RemoteError e) -> Result<void> {
    call.failed = true;
    call.error_type = e.type;
    errors_.fetch_add(1, std::memory_order_relaxed);
    add_traceback(e, &call);
    SLUICE_TRY(writer.write(error_batch(output, e, call.stamp)));
    SLUICE_TRY(close_output());
    return drain_input();
  };

  for (;;) {
    in.next_turn();
    SLUICE_TRY_ASSIGN(auto next, input.next());
    if (!next) return close_output();  // the client closed its input: end the output
    if (batch::vgis::is_pointer_batch(*next)) {
      auto r = call.side->resolve(*next);  // take_shm gave every call its side
      if (!r) {
        auto e = protocol_error("ProtocolError", "invalid_request",
                                fmt::format("shared memory: {}", r.error().what()));
        return end_with_error(std::move(e));
      }
      call.uses_shm = true;
      next = std::move(r).value();
    }
    const arrow::RecordBatch& batch = *next;
    if (batch.metadata().contains(key::cancel)) {
      try {
        start.stream->on_cancel();
      } catch (...) {  // NOLINT(bugprone-empty-catch): on_cancel errors are swallowed (§6)
      }
      SLUICE_TRY(close_output());
      return drain_input();
    }
    Emitter emitter(output);
    std::optional<RemoteError> turn_error;
    try {
      Result<void> r = ok();
      if (m.kind == MethodKind::producer) {
        r = start.stream->produce(emitter);
      } else {
        auto coerced = coerce_input(batch, m.input);
        r = coerced ? start.stream->exchange(*coerced, emitter)
                    : Result<void>(fail(coerced.error()));
      }
      if (!r) turn_error = from_error(r.error(), &call);
    } catch (const std::exception& ex) {
      turn_error = from_exception(ex, &call);
    } catch (...) {
      turn_error = protocol_error("UnknownError", "", "the handler threw a non-standard exception");
    }
    for (auto& l : emitter.take_logs())
      SLUICE_TRY(writer.write(log_batch(output, l.level, l.message, l.extra, call.stamp)));
    if (turn_error) return end_with_error(std::move(*turn_error));
    auto data = emitter.take_data();
    if (m.kind == MethodKind::exchange && (emitter.finished() || !data)) {
      auto e = protocol_error(
          "ProtocolError", "",
          fmt::format("{}/{}: an exchange emits exactly one batch per input{}", call.protocol_name,
                      call.method_name, emitter.finished() ? " and cannot finish" : ""));
      e.code = Code::internal;
      return end_with_error(std::move(e));
    }
    if (data) {
      if (!data->schema() || !data->schema()->equals(*output)) {
        auto e = protocol_error(
            "InternalError", "",
            fmt::format("{}/{} emitted a batch of {}expected {}", call.protocol_name,
                        call.method_name, data->schema() ? data->schema()->to_string() : "none",
                        output->to_string()));
        e.code = Code::internal;
        return end_with_error(std::move(e));
      }
      next.reset();  // the input (perhaps read in place) is done with
      SLUICE_TRY_ASSIGN(auto b, call.out_batch(data->with_metadata({})));
      SLUICE_TRY(writer.write(b));
    } else if (!emitter.finished()) {
      SLUICE_TRY_ASSIGN(auto none, arrow::RecordBatch::empty(output));
      SLUICE_TRY(writer.write(none));
    }
    if (emitter.finished()) {
      SLUICE_TRY(close_output());
      return drain_input();
    }
    SLUICE_TRY(out.flush());
  }
}

}  // namespace sluice::rpc
