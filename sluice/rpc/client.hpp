#pragma once
// The RPC client: calls any vgi-rpc server (sluice's, the npm package's,
// Python's) over a worker's pipes, a Unix socket or TCP.
//
//   auto client = rpc::Client::connect("unix:/run/greeter.sock").value();
//   auto greeter = client.protocol("Greeter", "1.0.0");
//   Result<std::string> s = greeter.call(concatenate, "a", "b");   // separator: its default
//   auto f = greeter.call_async(concatenate, "a", "b", "+");       // std::future<Result<...>>
//
// Connections are pooled: a call takes an idle connection (or opens one),
// and gives it back when the call ended cleanly. Each call may carry a
// deadline; a call past it fails with Errc::timed_out and its connection is
// dropped. A server's error comes back as Errc::remote_error whose payload
// is a RemoteError (code, type, message, details, traceback): see
// rpc::remote_error(). Logs the server sends go to ClientOptions::on_log.
// A Client is safe to use from several threads at once; a stream call is
// used by one thread at a time.

#include <sluice/rpc/framing.hpp>
#include <sluice/rpc/reflection.hpp>
#include <sluice/rpc/service.hpp>
#include <sluice/rpc/transport.hpp>
#include <sluice/rpc/wire.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice::rpc {

using LogCallback = std::function<void(const LogRecord&)>;

struct ClientOptions {
  FramingLimits limits;
  std::size_t max_idle_connections = 8;
  std::chrono::milliseconds default_timeout{0};  // per call; 0: none
  LogCallback on_log;                            // null: logs are dropped
  // vgi-rpc's shared-memory side channel (PROTOCOL.md §10), on pipes and
  // Unix sockets: a segment of this many bytes per connection, negotiated
  // with __transport_options__ (a server that declines or does not know it
  // gets plain pipe traffic). 0: off. Results read from the segment alias it
  // (no copy) and their regions are freed when the last array goes.
  std::uint64_t shm_segment_size = 0;
  std::uint64_t shm_min_batch_bytes = 0;  // 0: 128 KiB, or VGI_RPC_SHM_MIN_BATCH_BYTES
};

struct CallSpec {
  std::string protocol;  // "" sends no routing key (a Gen A server)
  std::string protocol_version;
  std::string method;
};

struct CallOptions {
  std::chrono::milliseconds timeout{0};    // 0: the client's default
  std::string request_id;                  // "" : none sent
  arrow::KeyValueMetadata extra_metadata;  // e.g. traceparent
};

struct StreamSpec {
  bool has_header = false;
  bool exchange = false;
};

class Client;

// One producer or exchange call in flight. Destroying it closes it.
class StreamCall {
 public:
  StreamCall(StreamCall&&) noexcept;
  StreamCall& operator=(StreamCall&&) noexcept;
  StreamCall(const StreamCall&) = delete;
  StreamCall& operator=(const StreamCall&) = delete;
  ~StreamCall();

  [[nodiscard]] const std::optional<arrow::RecordBatch>& header() const noexcept;
  // Producer: the next batch, nullopt once the server finished.
  Result<std::optional<arrow::RecordBatch>> next();
  // Exchange: one input batch in, one batch out.
  Result<arrow::RecordBatch> exchange(const arrow::RecordBatch& input);
  // Ends the call early (EOS on the input) and reads the output to its end.
  Result<void> close();
  // Cancels: the server runs its on_cancel and ends the stream. Not an error.
  Result<void> cancel();
  [[nodiscard]] bool done() const noexcept;
  [[nodiscard]] const arrow::SchemaPtr& output_schema() const noexcept;

  struct Impl;
  explicit StreamCall(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

class ProtocolClient;

class Client {
 public:
  static Result<Client> connect(const Endpoint& endpoint, ClientOptions options = {});
  static Result<Client> connect(std::string_view target, ClientOptions options = {});
  // Over one given connection (no reconnects): tests, socketpairs.
  static Client over(std::unique_ptr<Connection> conn, ClientOptions options = {});

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  Result<arrow::RecordBatch> call(const CallSpec& spec, const arrow::RecordBatch& params,
                                  const CallOptions& options = {});
  std::future<Result<arrow::RecordBatch>> call_async(CallSpec spec, arrow::RecordBatch params,
                                                     CallOptions options = {});
  Result<StreamCall> open_stream(const CallSpec& spec, const arrow::RecordBatch& params,
                                 StreamSpec stream, const CallOptions& options = {});

  Result<ProtocolList> list_protocols(const CallOptions& options = {});
  Result<ServiceDescription> describe(const std::string& protocol, const CallOptions& options = {});

  ProtocolClient protocol(std::string name, std::string version = {});

  struct Impl;

 private:
  explicit Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// --- typed stubs ------------------------------------------------------------------------------

namespace detail {

template <typename... A, typename... Args, std::size_t... I>
Result<arrow::RecordBatch> build_params(const std::array<std::string, sizeof...(A)>& names,
                                        const std::tuple<std::optional<A>...>& defaults,
                                        std::index_sequence<I...>, Args&&... args) {
  static_assert(sizeof...(Args) <= sizeof...(A), "more arguments than the method takes");
  std::tuple<std::optional<A>...> values = defaults;
  auto given = std::forward_as_tuple(std::forward<Args>(args)...);
  [&]<std::size_t... G>(std::index_sequence<G...>) {
    ((std::get<G>(values) = std::get<G>(given)), ...);
  }
  (std::index_sequence_for<Args...>{});
  for (std::size_t k = 0; const bool present : {std::get<I>(values).has_value()..., true}) {
    if (k < sizeof...(A) && !present)
      return fail(Errc::invalid_argument, "parameter '{}' has no value and no default", names[k]);
    ++k;
  }
  auto schema =
      arrow::schema({arrow::field(names[I], TopCodec<A>::type(), TopCodec<A>::nullable)...});
  if constexpr (sizeof...(A) == 0) {
    return arrow::RecordBatch::empty(schema);
  } else {
    return arrow::RecordBatch(schema, 1, {one_value<A>(*std::get<I>(values))...});
  }
}

template <typename R>
Result<R> read_result(const arrow::RecordBatch& b) {
  const auto want = result_schema<R>();
  if (!b.schema()->equals(*want))
    return fail(Errc::type_error, "the server's result schema differs: got\n{}expected\n{}",
                b.schema()->to_string(), want->to_string());
  if (b.num_rows() != 1)
    return fail(Errc::parse_error, "result batch of {} rows, expected 1", b.num_rows());
  return TopCodec<R>::read(*b.column(0), 0);
}

template <typename Row>
Result<typename rows_of<Row>::type> read_rows(const arrow::RecordBatch& b) {
  if constexpr (std::is_same_v<Row, arrow::RecordBatch>)
    return b;
  else
    return batch_rows<Row>(b);
}

}  // namespace detail

// A producer call with typed rows (and header).
template <typename Row, typename Header>
class TypedProducer {
 public:
  explicit TypedProducer(StreamCall call) : call_(std::move(call)) {}
  Result<Header> header() const requires(!std::is_void_v<Header>) {
    if (!call_.header()) return fail(Errc::parse_error, "the stream carried no header");
    SLUICE_TRY_ASSIGN(auto rows, batch_rows<Header>(*call_.header()));
    if (rows.size() != 1) return fail(Errc::parse_error, "header of {} rows", rows.size());
    return std::move(rows.front());
  }
  // The next batch's rows; nullopt at the end.
  Result<std::optional<typename detail::rows_of<Row>::type>> next() {
    SLUICE_TRY_ASSIGN(auto b, call_.next());
    if (!b) return std::optional<typename detail::rows_of<Row>::type>();
    SLUICE_TRY_ASSIGN(auto rows, detail::read_rows<Row>(*b));
    return std::optional<typename detail::rows_of<Row>::type>(std::move(rows));
  }
  // Every remaining row (records only).
  Result<std::vector<Row>> collect() requires(!std::is_same_v<Row, arrow::RecordBatch>) {
    std::vector<Row> all;
    for (;;) {
      SLUICE_TRY_ASSIGN(auto rows, next());
      if (!rows) return all;
      for (auto& r : *rows) all.push_back(std::move(r));
    }
  }
  Result<void> cancel() { return call_.cancel(); }
  Result<void> close() { return call_.close(); }
  StreamCall& raw() noexcept { return call_; }

 private:
  StreamCall call_;
};

template <typename Out, typename In, typename Header>
class TypedExchange {
 public:
  explicit TypedExchange(StreamCall call) : call_(std::move(call)) {}
  Result<Header> header() const requires(!std::is_void_v<Header>) {
    if (!call_.header()) return fail(Errc::parse_error, "the stream carried no header");
    SLUICE_TRY_ASSIGN(auto rows, batch_rows<Header>(*call_.header()));
    if (rows.size() != 1) return fail(Errc::parse_error, "header of {} rows", rows.size());
    return std::move(rows.front());
  }
  Result<typename detail::rows_of<Out>::type> exchange(
      const typename detail::rows_of<In>::type& in) {
    arrow::RecordBatch batch;
    if constexpr (std::is_same_v<In, arrow::RecordBatch>)
      batch = in;
    else
      batch = rows_batch(in);
    SLUICE_TRY_ASSIGN(auto b, call_.exchange(batch));
    return detail::read_rows<Out>(b);
  }
  Result<void> cancel() { return call_.cancel(); }
  Result<void> close() { return call_.close(); }
  StreamCall& raw() noexcept { return call_; }

 private:
  StreamCall call_;
};

class ProtocolClient {
 public:
  ProtocolClient(Client& client, std::string name, std::string version)
      : client_(&client), name_(std::move(name)), version_(std::move(version)) {}

  template <typename R, typename... A, typename... Args>
  Result<R> call(const Unary<R(A...)>& d, Args&&... args) {
    return call_with(d, CallOptions{}, std::forward<Args>(args)...);
  }
  template <typename R, typename... A, typename... Args>
  Result<R> call_with(const Unary<R(A...)>& d, const CallOptions& options, Args&&... args) {
    SLUICE_TRY_ASSIGN(auto params, detail::build_params<A...>(d.params, d.defaults,
                                                              std::index_sequence_for<A...>{},
                                                              std::forward<Args>(args)...));
    SLUICE_TRY_ASSIGN(auto b, client_->call(spec(d.name), params, options));
    if constexpr (std::is_void_v<R>)
      return ok();
    else
      return detail::read_result<R>(b);
  }
  template <typename R, typename... A, typename... Args>
  std::future<Result<R>> call_async(const Unary<R(A...)>& d, Args&&... args) {
    auto params = detail::build_params<A...>(d.params, d.defaults, std::index_sequence_for<A...>{},
                                             std::forward<Args>(args)...);
    if (!params) {
      std::promise<Result<R>> p;
      p.set_value(fail(params.error()));
      return p.get_future();
    }
    return std::async(std::launch::async,
                      [fut = client_->call_async(
                           spec(d.name), std::move(params).value())]() mutable -> Result<R> {
                        SLUICE_TRY_ASSIGN(auto b, fut.get());
                        if constexpr (std::is_void_v<R>)
                          return ok();
                        else
                          return detail::read_result<R>(b);
                      });
  }

  template <typename Row, typename... A, typename Header, typename... Args>
  Result<TypedProducer<Row, Header>> produce(const Producer<Row(A...), Header>& d, Args&&... args) {
    SLUICE_TRY_ASSIGN(auto params, detail::build_params<A...>(d.params, d.defaults,
                                                              std::index_sequence_for<A...>{},
                                                              std::forward<Args>(args)...));
    SLUICE_TRY_ASSIGN(auto call,
                      client_->open_stream(spec(d.name), params, {!std::is_void_v<Header>, false}));
    return TypedProducer<Row, Header>(std::move(call));
  }

  template <typename Out, typename... A, typename In, typename Header, typename... Args>
  Result<TypedExchange<Out, In, Header>> exchange(const Exchange<Out(A...), In, Header>& d,
                                                  Args&&... args) {
    SLUICE_TRY_ASSIGN(auto params, detail::build_params<A...>(d.params, d.defaults,
                                                              std::index_sequence_for<A...>{},
                                                              std::forward<Args>(args)...));
    SLUICE_TRY_ASSIGN(auto call,
                      client_->open_stream(spec(d.name), params, {!std::is_void_v<Header>, true}));
    return TypedExchange<Out, In, Header>(std::move(call));
  }

  [[nodiscard]] CallSpec spec(const std::string& method) const { return {name_, version_, method}; }

 private:
  Client* client_;
  std::string name_;
  std::string version_;
};

}  // namespace sluice::rpc
