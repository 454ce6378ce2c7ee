#include <sluice/rpc/client.hpp>
#include <sluice/rpc/internal/side_channel.hpp>

#include <fmt/format.h>

#include <mutex>

namespace sluice::rpc {

// --- pool ---------------------------------------------------------------------------------------

namespace {

// A pooled connection and its end of the shared-memory side channel.
struct Link {
  std::unique_ptr<Connection> conn;
  std::unique_ptr<SideChannel> side;  // set once the server agreed to shared memory
  bool negotiated = false;            // __transport_options__ asked (or not applicable)
  [[nodiscard]] SideChannel* shm() const noexcept { return side.get(); }
};

}  // namespace

struct Client::Impl {
  std::optional<Endpoint> endpoint;  // null: a single given connection
  ClientOptions options;
  std::mutex mutex;
  std::vector<Link> idle;

  Result<Link> acquire() {
    for (;;) {
      Link l;
      {
        std::lock_guard lock(mutex);
        if (idle.empty()) break;
        l = std::move(idle.back());
        idle.pop_back();
      }
      // An idle connection in step with its server has nothing to read: if
      // it is readable, the server closed it (idle timeout, a request it
      // refused, a restart) and a call on it would fail. Reconnect instead;
      // with no endpoint to reconnect to, say so.
      auto readable = l.conn->wait_readable(std::chrono::milliseconds(0));
      if (readable && !*readable) return l;
      if (!endpoint)
        return fail(Errc::closed, "the client's connection ({}) was closed by the server",
                    l.conn->describe());
    }
    if (!endpoint)
      return fail(Errc::would_block,
                  "the client's only connection is in use by another call (or was lost)");
    SLUICE_TRY_ASSIGN(auto c, rpc::connect(*endpoint));
    return Link{std::move(c), nullptr, false};
  }
  void release(Link l) {
    l.conn->set_deadline(std::nullopt);
    std::lock_guard lock(mutex);
    if (idle.size() < std::max<std::size_t>(options.max_idle_connections, 1))
      idle.push_back(std::move(l));
  }
  // Asks a new connection's server for shared memory (once per connection;
  // any error from the server means none).
  Result<void> negotiate(Link& l);
  [[nodiscard]] std::optional<std::chrono::steady_clock::time_point> deadline(
      const CallOptions& o) const {
    const auto t = o.timeout.count() > 0 ? o.timeout : options.default_timeout;
    if (t.count() <= 0) return std::nullopt;
    return std::chrono::steady_clock::now() + t;
  }
};

namespace {

arrow::RecordBatch request_batch(const CallSpec& spec, const arrow::RecordBatch& params,
                                 const CallOptions& o, const SideChannel* shm = nullptr) {
  arrow::KeyValueMetadata md = o.extra_metadata;
  if (shm != nullptr) {  // the segment advert (§10), on every request
    md.set(std::string(key::shm_segment_name), shm->segment()->name());
    md.set(std::string(key::shm_segment_size), std::to_string(shm->segment()->size()));
  }
  md.set(std::string(key::method), spec.method);
  md.set(std::string(key::request_version), std::string(kRequestVersion));
  if (!spec.protocol.empty()) md.set(std::string(key::protocol), spec.protocol);
  if (!spec.protocol_version.empty())
    md.set(std::string(key::protocol_version), spec.protocol_version);
  if (!o.request_id.empty()) md.set(std::string(key::request_id), o.request_id);
  return params.with_metadata(std::move(md));
}

// Reads one response stream to its end: logs to the callback, the error (if
// any) remembered, the data batches returned.
struct Response {
  arrow::SchemaPtr schema;
  std::vector<arrow::RecordBatch> data;
  std::optional<RemoteError> error;
};

// Errors after which the server closes the connection (it could not read the
// request stream to its end).
bool closes_connection(const RemoteError& e) {
  return e.kind == "request_too_large" || e.kind == "malformed_request_stream";
}

void deliver_log(const ClientOptions& o, const arrow::RecordBatch& b) {
  if (o.on_log) o.on_log(decode_log(b));
}

// A pointer batch read in place through the link's segment; one the client
// did not offer shared memory for is an error.
Result<arrow::RecordBatch> resolve(SideChannel* shm, const arrow::RecordBatch& b) {
  if (shm == nullptr)
    return fail(Errc::not_supported,
                "the server sent a shared-memory pointer batch, but this connection offered no "
                "shared memory");
  return shm->resolve(b);
}

Result<Response> read_response(IpcInput& in, const ClientOptions& o, SideChannel* shm) {
  SLUICE_TRY_ASSIGN(auto reader, in.open());
  Response r;
  r.schema = reader.schema();
  for (;;) {
    SLUICE_TRY_ASSIGN(auto b, reader.next());
    if (!b) return r;
    switch (classify(*b)) {
      case BatchKind::log:
        deliver_log(o, *b);
        break;
      case BatchKind::error:
        if (!r.error) r.error = decode_error(*b);
        break;
      case BatchKind::external_pointer:
        return fail(Errc::not_supported,
                    "the server sent an external-location pointer batch, which this client did not "
                    "offer");
      case BatchKind::shm_pointer: {
        SLUICE_TRY_ASSIGN(auto data, resolve(shm, *b));
        r.data.push_back(std::move(data));
        break;
      }
      default:
        r.data.push_back(std::move(*b));
    }
  }
}

}  // namespace

Result<void> Client::Impl::negotiate(Link& l) {
  if (l.negotiated) return ok();
  l.negotiated = true;
  if (options.shm_segment_size == 0 || !l.conn->same_host()) return ok();
  arrow::KeyValueMetadata md;
  md.set(std::string(key::method), std::string(kTransportOptionsMethod));
  md.set(std::string(key::request_version), std::string(kRequestVersion));
  md.set(std::string(key::transport_shm), "true");
  const auto empty = arrow::schema({});
  SLUICE_TRY_ASSIGN(auto req, arrow::RecordBatch::empty(empty, std::move(md)));
  IpcOutput out(*l.conn);
  IpcInput in(*l.conn, options.limits);
  SLUICE_TRY(out.write_stream(empty, {req}));
  SLUICE_TRY_ASSIGN(auto resp, read_response(in, options, nullptr));
  // An error (a server that does not know the method, the npm one among
  // them) or anything but "true" means no shared memory.
  if (resp.error || resp.data.size() != 1 ||
      resp.data.front().metadata().get(key::transport_shm).value_or("") != "true")
    return ok();
  auto side = std::make_unique<SideChannel>();
  SLUICE_TRY(side->create(options.shm_segment_size, options.shm_min_batch_bytes));
  l.side = std::move(side);
  return ok();
}

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::connect(const Endpoint& endpoint, ClientOptions options) {
  auto impl = std::make_shared<Impl>();
  impl->endpoint = endpoint;
  impl->options = std::move(options);
  // Connect once now, so that a wrong address fails here and not at the first call.
  SLUICE_TRY_ASSIGN(auto first, rpc::connect(endpoint));
  impl->idle.push_back(Link{std::move(first), nullptr, false});
  return Client(std::move(impl));
}

Result<Client> Client::connect(std::string_view target, ClientOptions options) {
  SLUICE_TRY_ASSIGN(auto ep, Endpoint::parse(target));
  return connect(ep, std::move(options));
}

Client Client::over(std::unique_ptr<Connection> conn, ClientOptions options) {
  auto impl = std::make_shared<Impl>();
  impl->options = std::move(options);
  impl->idle.push_back(Link{std::move(conn), nullptr, false});
  return Client(std::move(impl));
}

Result<arrow::RecordBatch> Client::call(const CallSpec& spec, const arrow::RecordBatch& params,
                                        const CallOptions& options) {
  const auto where = [&] { return fmt::format("call {}/{}", spec.protocol, spec.method); };
  SLUICE_TRY_ASSIGN(auto link, impl_->acquire());
  link.conn->set_deadline(impl_->deadline(options));
  if (auto r = impl_->negotiate(link); !r) return fail(r.error().context(where()));
  SideChannel* shm = link.shm();
  IpcOutput out(*link.conn);
  IpcInput in(*link.conn, impl_->options.limits);
  auto req = [&]() -> Result<arrow::RecordBatch> {
    auto b = request_batch(spec, params, options, shm);
    if (shm == nullptr) return b;
    return shm->offload(b);  // our turn: frees regions of results dropped since
  }();
  if (!req) return fail(req.error().context(where()));
  auto sent = out.write_stream(req->schema(), {*req});
  if (!sent) return fail(sent.error().context(where()));
  auto resp = read_response(in, impl_->options, shm);
  if (!resp) return fail(resp.error().context(where()));
  // The stream ended cleanly: the connection is in step, unless the server
  // refused the request stream itself, after which it closes the connection.
  if (!resp->error || !closes_connection(*resp->error)) impl_->release(std::move(link));
  if (resp->error) return fail(resp->error->to_error());
  if (resp->data.size() != 1)
    return fail(Errc::parse_error, "call {}/{}: {} result batches, expected one", spec.protocol,
                spec.method, resp->data.size());
  return std::move(resp->data.front());
}

std::future<Result<arrow::RecordBatch>> Client::call_async(CallSpec spec, arrow::RecordBatch params,
                                                           CallOptions options) {
  // The pool is shared: the future keeps it alive even if the Client goes.
  return std::async(std::launch::async,
                    [impl = impl_, spec = std::move(spec), params = std::move(params),
                     options = std::move(options)]() {
                      Client c(impl);
                      return c.call(spec, params, options);
                    });
}

Result<ProtocolList> Client::list_protocols(const CallOptions& options) {
  SLUICE_TRY_ASSIGN(auto b, call({std::string(kReflectionProtocol), "", "list_protocols"},
                                 arrow::RecordBatch::empty(arrow::schema({})).value(), options));
  if (b.num_columns() != 1 || b.num_rows() != 1 || b.column(0)->type_id() != arrow::TypeId::binary)
    return fail(Errc::parse_error, "list_protocols: expected one binary 'result'");
  return decode_protocol_list(b.column(0)->bytes_value(0));
}

Result<ServiceDescription> Client::describe(const std::string& protocol,
                                            const CallOptions& options) {
  auto params =
      detail::build_params<std::string>(reflection::describe.params, reflection::describe.defaults,
                                        std::index_sequence<0>{}, protocol);
  SLUICE_TRY_ASSIGN(
      auto b, call({std::string(kReflectionProtocol), "", "describe"}, params.value(), options));
  if (b.num_columns() != 1 || b.num_rows() != 1 || b.column(0)->type_id() != arrow::TypeId::binary)
    return fail(Errc::parse_error, "describe: expected one binary 'result'");
  return decode_service_description(b.column(0)->bytes_value(0));
}

ProtocolClient Client::protocol(std::string name, std::string version) {
  return {*this, std::move(name), std::move(version)};
}

// --- streams
// --------------------------------------------------------------------------------------

struct StreamCall::Impl {
  std::shared_ptr<Client::Impl> pool;
  Link link;
  std::unique_ptr<IpcInput> in;
  std::unique_ptr<IpcOutput> out;
  CallSpec spec;
  StreamSpec kind;
  std::optional<arrow::RecordBatch> header;
  std::optional<arrow::ipc::StreamWriter> input;   // opened with the first batch
  std::optional<arrow::ipc::StreamReader> output;  // opened after the first batch
  arrow::SchemaPtr output_schema;
  bool input_closed = false;
  bool output_done = false;
  bool broken = false;

  Error context(const Error& e) const {
    return e.context(fmt::format("stream {}/{}", spec.protocol, spec.method));
  }
  ~Impl() {
    if (!link.conn) return;
    if (!broken && (!output_done || !input_closed)) {
      if (!finish()) broken = true;
    }
    if (!broken && output_done && input_closed) pool->release(std::move(link));
  }
  Result<void> open_input(const arrow::SchemaPtr& schema) {
    if (input) return ok();
    SLUICE_TRY_ASSIGN(auto w, out->open(schema));
    input.emplace(std::move(w));
    return ok();
  }
  Result<void> close_input() {
    if (input_closed) return ok();
    input_closed = true;
    if (!input) SLUICE_TRY(open_input(arrow::schema({})));  // the server waits for a stream
    return input->close();
  }
  // Reads output batches until a data batch (returned) or the end (nullopt).
  Result<std::optional<arrow::RecordBatch>> read_turn() {
    if (!output) {
      SLUICE_TRY_ASSIGN(auto r, in->open());
      output_schema = r.schema();
      output.emplace(std::move(r));
    }
    in->next_turn();
    for (;;) {
      SLUICE_TRY_ASSIGN(auto b, output->next());
      if (!b) {
        output_done = true;
        SLUICE_TRY(close_input());
        return std::optional<arrow::RecordBatch>();
      }
      switch (classify(*b)) {
        case BatchKind::log:
          deliver_log(pool->options, *b);
          break;
        case BatchKind::error: {
          const RemoteError e = decode_error(*b);
          // The output stream ends after the error; the input must end too.
          for (;;) {
            SLUICE_TRY_ASSIGN(auto rest, output->next());
            if (!rest) break;
          }
          output_done = true;
          SLUICE_TRY(close_input());
          return fail(e.to_error());
        }
        case BatchKind::external_pointer:
          broken = true;
          return fail(Errc::not_supported,
                      "the server sent an external-location pointer batch this client did not "
                      "offer");
        case BatchKind::shm_pointer: {
          auto data = resolve(link.shm(), *b);
          if (!data) {
            broken = true;
            return fail(std::move(data).error());
          }
          return std::optional<arrow::RecordBatch>(std::move(data).value());
        }
        default:
          return std::optional<arrow::RecordBatch>(std::move(*b));
      }
    }
  }
  // Early close: EOS on the input, then the output to its end.
  Result<void> finish() {
    SLUICE_TRY(close_input());
    while (!output_done) {
      SLUICE_TRY_ASSIGN(auto b, read_turn());
      (void)b;
    }
    return ok();
  }
};

StreamCall::StreamCall(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamCall::StreamCall(StreamCall&&) noexcept = default;
StreamCall& StreamCall::operator=(StreamCall&&) noexcept = default;
StreamCall::~StreamCall() = default;

const std::optional<arrow::RecordBatch>& StreamCall::header() const noexcept {
  return impl_->header;
}
bool StreamCall::done() const noexcept { return impl_->output_done; }
const arrow::SchemaPtr& StreamCall::output_schema() const noexcept { return impl_->output_schema; }

Result<std::optional<arrow::RecordBatch>> StreamCall::next() {
  Impl& s = *impl_;
  if (s.kind.exchange) return fail(Errc::invalid_argument, "next() on an exchange stream");
  if (s.output_done) return std::optional<arrow::RecordBatch>();
  if (s.broken) return fail(Errc::closed, "stream {}/{} is broken", s.spec.protocol, s.spec.method);
  const auto empty = arrow::schema({});
  auto r = [&]() -> Result<std::optional<arrow::RecordBatch>> {
    SLUICE_TRY(s.open_input(empty));
    if (auto* shm = s.link.shm()) shm->settle();  // our turn: free what was dropped
    SLUICE_TRY(s.input->write(arrow::RecordBatch::empty(empty).value()));  // a tick
    SLUICE_TRY(s.out->flush());
    return s.read_turn();
  }();
  if (!r && r.error().code() != Errc::remote_error) s.broken = true;
  if (!r) return fail(r.error().code() == Errc::remote_error ? r.error() : s.context(r.error()));
  return r;
}

Result<arrow::RecordBatch> StreamCall::exchange(const arrow::RecordBatch& input) {
  Impl& s = *impl_;
  if (!s.kind.exchange) return fail(Errc::invalid_argument, "exchange() on a producer stream");
  if (s.output_done || s.broken)
    return fail(Errc::closed, "stream {}/{} has ended", s.spec.protocol, s.spec.method);
  auto r = [&]() -> Result<std::optional<arrow::RecordBatch>> {
    SLUICE_TRY(s.open_input(input.schema()));
    arrow::RecordBatch b = input.with_metadata({});
    if (auto* shm = s.link.shm()) {
      SLUICE_TRY_ASSIGN(b, shm->offload(b));
    }
    SLUICE_TRY(s.input->write(b));
    SLUICE_TRY(s.out->flush());
    return s.read_turn();
  }();
  if (!r && r.error().code() != Errc::remote_error) s.broken = true;
  if (!r) return fail(r.error().code() == Errc::remote_error ? r.error() : s.context(r.error()));
  if (!*r)
    return fail(Errc::closed, "stream {}/{}: the server ended the exchange", s.spec.protocol,
                s.spec.method);
  return std::move(**r);
}

Result<void> StreamCall::close() {
  Impl& s = *impl_;
  if (s.broken) return ok();
  auto r = s.finish();
  if (!r && r.error().code() != Errc::remote_error) s.broken = true;
  if (!r && r.error().code() == Errc::remote_error) return ok();  // already reported, or late
  return r;
}

Result<void> StreamCall::cancel() {
  Impl& s = *impl_;
  if (s.output_done || s.broken) return ok();
  auto r = [&]() -> Result<void> {
    if (!s.input_closed) {
      SLUICE_TRY(s.open_input(arrow::schema({})));
      arrow::KeyValueMetadata md;
      md.set(std::string(key::cancel), "1");
      SLUICE_TRY_ASSIGN(auto b, arrow::RecordBatch::empty(s.input->schema(), std::move(md)));
      SLUICE_TRY(s.input->write(b));
      s.input_closed = true;
      SLUICE_TRY(s.input->close());
    }
    while (!s.output_done) {
      SLUICE_TRY_ASSIGN(auto b, s.read_turn());
      (void)b;
    }
    return ok();
  }();
  if (!r) s.broken = true;
  return r;
}

Result<StreamCall> Client::open_stream(const CallSpec& spec, const arrow::RecordBatch& params,
                                       StreamSpec stream, const CallOptions& options) {
  auto impl = std::make_unique<StreamCall::Impl>();
  impl->pool = impl_;
  impl->spec = spec;
  impl->kind = stream;
  SLUICE_TRY_ASSIGN(impl->link, impl_->acquire());
  impl->link.conn->set_deadline(impl_->deadline(options));
  if (auto r = impl_->negotiate(impl->link); !r) {
    impl->broken = true;
    return fail(impl->context(r.error()));
  }
  impl->in = std::make_unique<IpcInput>(*impl->link.conn, impl_->options.limits);
  impl->out = std::make_unique<IpcOutput>(*impl->link.conn);
  SideChannel* shm = impl->link.shm();
  auto req = request_batch(spec, params, options, shm);
  if (shm != nullptr) {
    auto off = shm->offload(req);
    if (!off) {
      impl->broken = true;
      return fail(impl->context(off.error()));
    }
    req = std::move(off).value();
  }
  if (auto r = impl->out->write_stream(req.schema(), {req}); !r) {
    impl->broken = true;
    return fail(impl->context(r.error()));
  }
  if (stream.has_header) {
    auto resp = read_response(*impl->in, impl_->options, shm);
    if (!resp) {
      impl->broken = true;
      return fail(impl->context(resp.error()));
    }
    if (resp->error) {
      // Init failed: the server reads one input stream before the next request.
      impl->output_done = true;
      if (auto r = impl->close_input(); !r) impl->broken = true;
      return fail(resp->error->to_error());
    }
    if (resp->data.size() != 1 || resp->data.front().num_rows() != 1) {
      impl->broken = true;
      return fail(Errc::parse_error, "stream {}/{}: header stream without one one-row batch",
                  spec.protocol, spec.method);
    }
    impl->header = std::move(resp->data.front());
  }
  return StreamCall(std::move(impl));
}

}  // namespace sluice::rpc
