#pragma once
// Services: protocols, their methods and the handlers behind them.
//
// The core is dynamic (MethodDef: Arrow schemas and handlers over record
// batches); the typed layer on top declares a method once from C++ types
// (Unary<R(A...)>, Producer<Row(A...), Header>, Exchange<Out(A...), In,
// Header>) and derives every schema from them (types.hpp). The same
// descriptors give the client its typed stubs (client.hpp).
//
//   inline const rpc::Unary<std::string(std::string, std::string, std::string)> concatenate{
//       "concatenate", {"prefix", "suffix", "separator"}, {{}, {}, std::string("-")}};
//   rpc::Protocol p("Greeter", "1.0.0");
//   p.implement(concatenate, [](std::string a, std::string b, std::string sep) {
//     return a + sep + b;
//   });
//
// A handler may take a CallContext& first (logs, request id), returns its
// result, a Result<R>, or throws ServiceError (or any std::exception). Errors
// go back to the caller; they never take the server down.

#include <sluice/arrow/array.hpp>
#include <sluice/base/result.hpp>
#include <sluice/rpc/types.hpp>
#include <sluice/rpc/wire.hpp>

#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace sluice::rpc {

enum class MethodKind : std::uint8_t { unary, producer, exchange };
std::string_view kind_name(MethodKind kind) noexcept;  // "unary", "producer", "exchange"

// An error a handler raises, with the type name the caller sees
// ("ValueError"), and optionally a Gen C code, an error kind and details.
class ServiceError : public std::exception {
 public:
  ServiceError(std::string type, std::string message);
  ServiceError& code(Code c) &;
  ServiceError&& code(Code c) &&;
  ServiceError& kind(std::string k) &;
  ServiceError&& kind(std::string k) &&;
  ServiceError& details(std::string json_array) &;
  ServiceError&& details(std::string json_array) &&;
  [[nodiscard]] const char* what() const noexcept override { return what_.c_str(); }
  [[nodiscard]] const RemoteError& error() const noexcept { return error_; }

 private:
  RemoteError error_;
  std::string what_;
};

struct PendingLog {
  LogLevel level = LogLevel::info;
  std::string message;
  LogExtra extra;
};

// What a handler knows about its call.
class CallContext {
 public:
  CallContext(std::string protocol, std::string method, std::string request_id,
              std::string remote_address, const arrow::KeyValueMetadata* request_metadata)
      : protocol_(std::move(protocol)),
        method_(std::move(method)),
        request_id_(std::move(request_id)),
        remote_(std::move(remote_address)),
        metadata_(request_metadata) {}
  // A log record for the caller (sent ahead of the call's result).
  void log(LogLevel level, std::string message, LogExtra extra = {}) {
    logs_.push_back({level, std::move(message), std::move(extra)});
  }
  [[nodiscard]] const std::string& protocol() const noexcept { return protocol_; }
  [[nodiscard]] const std::string& method() const noexcept { return method_; }
  [[nodiscard]] const std::string& request_id() const noexcept { return request_id_; }
  [[nodiscard]] const std::string& remote_address() const noexcept { return remote_; }
  [[nodiscard]] const arrow::KeyValueMetadata* request_metadata() const noexcept {
    return metadata_;
  }
  std::vector<PendingLog> take_logs() { return std::exchange(logs_, {}); }

 private:
  std::string protocol_;
  std::string method_;
  std::string request_id_;
  std::string remote_;
  const arrow::KeyValueMetadata* metadata_;
  std::vector<PendingLog> logs_;
};

// One turn of a stream: at most one data batch (exactly one for exchange),
// logs, and for producers the end.
class Emitter {
 public:
  explicit Emitter(arrow::SchemaPtr schema) : schema_(std::move(schema)) {}
  // The turn's data batch; its schema must be the stream's output schema.
  void emit(arrow::RecordBatch batch) { data_ = std::move(batch); }
  void finish() noexcept { finished_ = true; }
  void log(LogLevel level, std::string message, LogExtra extra = {}) {
    logs_.push_back({level, std::move(message), std::move(extra)});
  }
  [[nodiscard]] const arrow::SchemaPtr& schema() const noexcept { return schema_; }
  [[nodiscard]] bool finished() const noexcept { return finished_; }
  std::optional<arrow::RecordBatch> take_data() { return std::exchange(data_, std::nullopt); }
  std::vector<PendingLog> take_logs() { return std::exchange(logs_, {}); }

 private:
  arrow::SchemaPtr schema_;
  std::optional<arrow::RecordBatch> data_;
  std::vector<PendingLog> logs_;
  bool finished_ = false;
};

// The state of one producer or exchange call.
class Stream {
 public:
  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Stream(Stream&&) = delete;
  Stream& operator=(Stream&&) = delete;
  virtual ~Stream() = default;
  virtual Result<void> produce(Emitter& out);
  virtual Result<void> exchange(const arrow::RecordBatch& input, Emitter& out);
  // The client cancelled; errors are swallowed.
  virtual void on_cancel() {}
};

struct StreamStart {
  std::unique_ptr<Stream> stream;
  std::optional<arrow::RecordBatch> header;  // one row, when the method declares a header
  arrow::SchemaPtr output_schema;            // null: the method's declared one
};

using UnaryHandler =
    std::function<Result<arrow::RecordBatch>(const arrow::RecordBatch& params, CallContext&)>;
using StreamHandler =
    std::function<Result<StreamStart>(const arrow::RecordBatch& params, CallContext&)>;

struct MethodDef {
  std::string name;
  MethodKind kind = MethodKind::unary;
  arrow::SchemaPtr params;                // one field per parameter, in order
  std::vector<arrow::ArrayPtr> defaults;  // per parameter: a 1-row array, or null (required)
  arrow::SchemaPtr result;                // unary: {result} or the empty schema (void)
  arrow::SchemaPtr header;                // streams: null when there is none
  arrow::SchemaPtr input;                 // exchange input; the empty schema for producers
  arrow::SchemaPtr output;                // stream rows; null when chosen at init
  UnaryHandler unary;
  StreamHandler start;
  std::string doc;
  std::string idempotency = "unknown";  // "unknown" | "no_side_effects" | "idempotent"
  bool deprecated = false;
  std::string deprecation_message;

  [[nodiscard]] bool is_stream() const noexcept { return kind != MethodKind::unary; }
  [[nodiscard]] bool has_return() const noexcept {
    return kind == MethodKind::unary && result && result->num_fields() > 0;
  }
};

class Protocol {
 public:
  // `version` is canonical semver ("1.0.0"), or empty for an unversioned protocol.
  explicit Protocol(std::string name, std::string version = {});
  Protocol& add(MethodDef method);
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const std::string& version() const noexcept { return version_; }
  [[nodiscard]] const std::map<std::string, MethodDef>& methods() const noexcept {
    return methods_;
  }
  [[nodiscard]] const MethodDef* find(std::string_view method) const;
  Protocol& deprecate(std::string message) {
    deprecated_ = true;
    deprecation_message_ = std::move(message);
    return *this;
  }
  [[nodiscard]] bool deprecated() const noexcept { return deprecated_; }
  [[nodiscard]] const std::string& deprecation_message() const noexcept {
    return deprecation_message_;
  }

  // Typed registration (below).
  template <typename D, typename F>
  Protocol& implement(const D& descriptor, F handler);

 private:
  std::string name_;
  std::string version_;
  std::map<std::string, MethodDef> methods_;
  bool deprecated_ = false;
  std::string deprecation_message_;
};

// --- typed descriptors ------------------------------------------------------------------------

namespace detail {

template <typename T>
arrow::ArrayPtr one_value(const T& v) {
  const T* one[] = {&v};
  return TopCodec<T>::build(one);
}

template <typename... A, std::size_t... I>
arrow::SchemaPtr params_schema(const std::array<std::string, sizeof...(A)>& names,
                               std::index_sequence<I...>) {
  return arrow::schema({arrow::field(names[I], TopCodec<A>::type(), TopCodec<A>::nullable)...});
}

template <typename... A, std::size_t... I>
std::vector<arrow::ArrayPtr> default_arrays(const std::tuple<std::optional<A>...>& d,
                                            std::index_sequence<I...>) {
  return {(std::get<I>(d) ? one_value<A>(*std::get<I>(d)) : arrow::ArrayPtr{})...};
}

template <typename R>
arrow::SchemaPtr result_schema() {
  if constexpr (std::is_void_v<R>)
    return arrow::schema({});
  else
    return arrow::schema({arrow::field("result", TopCodec<R>::type(), TopCodec<R>::nullable)});
}

// Schema of stream rows or a header: a record's fields; dynamic for batches.
template <typename Row>
arrow::SchemaPtr rows_schema() {
  if constexpr (std::is_void_v<Row> || std::is_same_v<Row, arrow::RecordBatch>)
    return nullptr;
  else
    return Codec<Row>::schema();
}

template <typename T>
struct unwrap_result {
  using type = T;
};
template <typename T>
struct unwrap_result<Result<T>> {
  using type = T;
};

}  // namespace detail

template <typename... A>
struct Params {
  std::array<std::string, sizeof...(A)> names;
  std::tuple<std::optional<A>...> defaults{};
  [[nodiscard]] arrow::SchemaPtr schema() const {
    return detail::params_schema<A...>(names, std::index_sequence_for<A...>{});
  }
  [[nodiscard]] std::vector<arrow::ArrayPtr> default_arrays() const {
    return detail::default_arrays<A...>(defaults, std::index_sequence_for<A...>{});
  }
};

template <typename Sig>
struct Unary;
template <typename R, typename... A>
struct Unary<R(A...)> {
  using result_type = R;
  std::string name;
  std::array<std::string, sizeof...(A)> params;
  std::tuple<std::optional<A>...> defaults{};
  [[nodiscard]] Params<A...> signature() const { return {params, defaults}; }
};

// Row: a record type (or arrow::RecordBatch for a schema chosen at init);
// Header: a record type, or void.
template <typename Sig, typename Header = void>
struct Producer;
template <typename Row, typename... A, typename Header>
struct Producer<Row(A...), Header> {
  using row_type = Row;
  using header_type = Header;
  std::string name;
  std::array<std::string, sizeof...(A)> params;
  std::tuple<std::optional<A>...> defaults{};
  [[nodiscard]] Params<A...> signature() const { return {params, defaults}; }
};

template <typename Sig, typename In, typename Header = void>
struct Exchange;
template <typename Out, typename... A, typename In, typename Header>
struct Exchange<Out(A...), In, Header> {
  using row_type = Out;
  using input_type = In;
  using header_type = Header;
  std::string name;
  std::array<std::string, sizeof...(A)> params;
  std::tuple<std::optional<A>...> defaults{};
  [[nodiscard]] Params<A...> signature() const { return {params, defaults}; }
};

// Typed stream output.
template <typename Row>
class Output {
 public:
  explicit Output(Emitter& e) : e_(e) {}
  void emit(const std::vector<Row>& rows) { e_.emit(rows_batch(rows)); }
  void emit_row(const Row& row) { e_.emit(rows_batch(std::vector<Row>{row})); }
  void emit(arrow::RecordBatch batch) { e_.emit(std::move(batch)); }
  void finish() noexcept { e_.finish(); }
  void log(LogLevel level, std::string message, LogExtra extra = {}) {
    e_.log(level, std::move(message), std::move(extra));
  }
  [[nodiscard]] const arrow::SchemaPtr& schema() const noexcept { return e_.schema(); }

 private:
  Emitter& e_;
};
template <>
class Output<arrow::RecordBatch> {
 public:
  explicit Output(Emitter& e) : e_(e) {}
  void emit(arrow::RecordBatch batch) { e_.emit(std::move(batch)); }
  void finish() noexcept { e_.finish(); }
  void log(LogLevel level, std::string message, LogExtra extra = {}) {
    e_.log(level, std::move(message), std::move(extra));
  }
  [[nodiscard]] const arrow::SchemaPtr& schema() const noexcept { return e_.schema(); }

 private:
  Emitter& e_;
};

namespace detail {

// Decodes the parameters of a 1-row (or, without parameters, 0-row) batch.
template <typename... A, std::size_t... I>
Result<std::tuple<A...>> decode_params(const arrow::RecordBatch& b, std::index_sequence<I...>) {
  std::tuple<Result<A>...> parts{TopCodec<A>::read(*b.column(I), 0)...};
  Result<void> status = ok();
  (
      [&] {
        if (static_cast<bool>(status) && !static_cast<bool>(std::get<I>(parts)))
          status = fail(std::get<I>(parts).error().context(
              fmt::format("parameter '{}'", b.schema()->field(I)->name())));
      }(),
      ...);
  if (!static_cast<bool>(status)) return fail(status.error());
  return std::tuple<A...>(std::move(std::get<I>(parts)).value()...);
}

template <typename F, typename... A>
decltype(auto) invoke_handler(F& f, CallContext& ctx, std::tuple<A...>& args) {
  if constexpr (std::is_invocable_v<F&, CallContext&, A...>)
    return std::apply([&](A&... a) -> decltype(auto) { return f(ctx, std::move(a)...); }, args);
  else
    return std::apply([&](A&... a) -> decltype(auto) { return f(std::move(a)...); }, args);
}

template <typename R>
Result<arrow::RecordBatch> result_batch(const arrow::SchemaPtr& schema, const R& value) {
  return arrow::RecordBatch(schema, 1, {one_value<R>(value)});
}

template <typename T>
Result<T> unwrap(Result<T> r) {
  return r;
}
template <typename T>
Result<T> unwrap(T v) {
  return Result<T>(std::move(v));
}

// Typed input rows for an exchange: a vector of records, or the batch itself.
template <typename In>
struct rows_of {
  using type = std::vector<In>;
};
template <>
struct rows_of<arrow::RecordBatch> {
  using type = arrow::RecordBatch;
};
template <typename In>
Result<typename rows_of<In>::type> input_rows(const arrow::RecordBatch& b) {
  if constexpr (std::is_same_v<In, arrow::RecordBatch>)
    return b;
  else
    return batch_rows<In>(b);
}

template <typename State, typename Row, typename In>
class TypedStream final : public Stream {
 public:
  explicit TypedStream(State s) : state_(std::move(s)) {}
  Result<void> produce(Emitter& out) override {
    if constexpr (requires(State & s, Output<Row> & o) { s.produce(o); }) {
      Output<Row> o(out);
      return call([&] { return state_.produce(o); });
    } else {
      return Stream::produce(out);
    }
  }
  Result<void> exchange(const arrow::RecordBatch& input, Emitter& out) override {
    if constexpr (!std::is_void_v<In>) {
      SLUICE_TRY_ASSIGN(auto rows, input_rows<In>(input));
      Output<Row> o(out);
      return call([&] { return state_.exchange(rows, o); });
    } else {
      return Stream::exchange(input, out);
    }
  }
  void on_cancel() override {
    if constexpr (requires(State & s) { s.on_cancel(); }) state_.on_cancel();
  }

 private:
  template <typename G>
  static Result<void> call(G g) {
    if constexpr (std::is_void_v<decltype(g())>) {
      g();
      return ok();
    } else {
      return g();
    }
  }
  State state_;
};

}  // namespace detail

namespace detail {

template <typename D>
struct input_of {
  using type = void;
};
template <typename D>
requires requires { typename D::input_type; }
struct input_of<D> {
  using type = typename D::input_type;
};

template <typename D>
auto decode_all(const arrow::RecordBatch& b, D*) {
  return [&]<typename... A>(const Params<A...>*) {
    return decode_params<A...>(b, std::index_sequence_for<A...>{});
  }(static_cast<decltype(std::declval<const D&>().signature())*>(nullptr));
}
}  // namespace detail

template <typename D, typename F>
Protocol& Protocol::implement(const D& d, F handler) {
  MethodDef m;
  m.name = d.name;
  const auto sig = d.signature();
  m.params = sig.schema();
  m.defaults = sig.default_arrays();
  if constexpr (requires { typename D::result_type; }) {
    using R = typename D::result_type;
    m.kind = MethodKind::unary;
    m.result = detail::result_schema<R>();
    m.unary = [f = std::move(handler), schema = m.result](
                  const arrow::RecordBatch& b, CallContext& ctx) -> Result<arrow::RecordBatch> {
      SLUICE_TRY_ASSIGN(auto args, detail::decode_all(b, static_cast<D*>(nullptr)));
      if constexpr (std::is_void_v<R>) {
        using Ret = decltype(detail::invoke_handler(f, ctx, args));
        if constexpr (std::is_void_v<Ret>) {
          detail::invoke_handler(f, ctx, args);
        } else {
          SLUICE_TRY(detail::invoke_handler(f, ctx, args));
        }
        return arrow::RecordBatch::empty(schema);
      } else {
        SLUICE_TRY_ASSIGN(R value, detail::unwrap(detail::invoke_handler(f, ctx, args)));
        return detail::result_batch<R>(schema, value);
      }
    };
  } else {
    using Row = typename D::row_type;
    using Header = typename D::header_type;
    using In = typename detail::input_of<D>::type;
    m.kind = std::is_void_v<In> ? MethodKind::producer : MethodKind::exchange;
    m.output = detail::rows_schema<Row>();
    m.header = detail::rows_schema<Header>();
    if constexpr (std::is_void_v<In>) {
      m.input = arrow::schema({});
    } else if constexpr (std::is_same_v<In, arrow::RecordBatch>) {
      m.input = nullptr;  // any schema
    } else {
      m.input = Codec<In>::schema();
    }
    m.start = [f = std::move(handler)](const arrow::RecordBatch& b,
                                       CallContext& ctx) -> Result<StreamStart> {
      SLUICE_TRY_ASSIGN(auto args, detail::decode_all(b, static_cast<D*>(nullptr)));
      SLUICE_TRY_ASSIGN(auto state, detail::unwrap(detail::invoke_handler(f, ctx, args)));
      using State = std::remove_cvref_t<decltype(state)>;
      StreamStart s;
      if constexpr (!std::is_void_v<Header>) {
        const auto h = state.header();
        s.header = rows_batch(std::vector<Header>{h});
      }
      if constexpr (requires(const State& st) { st.output_schema(); })
        s.output_schema = state.output_schema();
      s.stream = std::make_unique<detail::TypedStream<State, Row, In>>(std::move(state));
      return s;
    };
  }
  return add(std::move(m));
}

}  // namespace sluice::rpc
