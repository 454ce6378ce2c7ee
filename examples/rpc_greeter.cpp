// A vgi-rpc service written in C++, end to end: the protocol declared once
// (names, parameters, defaults, C++ types), a server, and a typed client.
// The Arrow schemas, the reflection description and the client stubs follow
// from the declarations; no schema is written by hand.
//
//   example_rpc_greeter serve unix:/tmp/greeter.sock    # prints UNIX:/tmp/greeter.sock
//   example_rpc_greeter call unix:/tmp/greeter.sock
//   example_rpc_greeter                                 # both: the client spawns the
//                                                       # server as a worker (exec:)
//   sluice rpc describe unix:/tmp/greeter.sock          # any vgi-rpc client works too
#include <sluice/rpc/client.hpp>
#include <sluice/rpc/server.hpp>

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include <unistd.h>

namespace rpc = sluice::rpc;

// ---- the protocol: shared by server and client --------------------------------------------

struct Reading {  // a record: an Arrow struct (or binary IPC at the top level)
  std::string sensor;
  double celsius = 0;
  std::optional<std::string> note;
  static constexpr auto sluice_fields() {
    return std::tuple{rpc::member("sensor", &Reading::sensor),
                      rpc::member("celsius", &Reading::celsius),
                      rpc::member("note", &Reading::note)};
  }
};
struct Summary {  // a stream header
  std::int64_t readings = 0;
  std::string unit;
  static constexpr auto sluice_fields() {
    return std::tuple{rpc::member("readings", &Summary::readings),
                      rpc::member("unit", &Summary::unit)};
  }
};

namespace greeter {
// greet(name, punctuation = "!") -> utf8
inline const rpc::Unary<std::string(std::string, std::string)> greet{
    "greet", {"name", "punctuation"}, {std::nullopt, std::string("!")}};
// average(values: list<float64>) -> float64; an empty list is an error
inline const rpc::Unary<double(std::vector<double>)> average{"average", {"values"}};
// readings(count) -> a stream of Reading rows, after a Summary header
inline const rpc::Producer<Reading(std::int64_t), Summary> readings{"readings", {"count"}};
// scale(factor): each batch of Reading rows comes back scaled
inline const rpc::Exchange<Reading(double), Reading> scale{"scale", {"factor"}};
}  // namespace greeter

// ---- the server ------------------------------------------------------------------------------

// A producer's state: produce() is called once per batch the client asks for.
struct ReadingStream {
  std::int64_t total = 0;
  std::int64_t sent = 0;
  void produce(rpc::Output<Reading>& out) {
    if (sent == total) return out.finish();
    out.log(rpc::LogLevel::debug, fmt::format("reading {}", sent));
    out.emit({{fmt::format("probe-{}", sent), 20.0 + static_cast<double>(sent), std::nullopt}});
    ++sent;
  }
  [[nodiscard]] Summary header() const { return {total, "celsius"}; }
};
struct Scaler {
  double factor = 1;
  void exchange(const std::vector<Reading>& in, rpc::Output<Reading>& out) const {
    std::vector<Reading> rows = in;
    for (auto& r : rows) r.celsius *= factor;
    out.emit(rows);
  }
};

rpc::Protocol greeter_protocol() {
  rpc::Protocol p("Greeter", "1.0.0");
  p.implement(greeter::greet,
              [](rpc::CallContext& ctx, const std::string& name, const std::string& punct) {
                ctx.log(rpc::LogLevel::info, "greeting " + name);
                return fmt::format("Hello, {}{}", name, punct);
              })
      .implement(greeter::average,
                 [](const std::vector<double>& v) -> sluice::Result<double> {
                   if (v.empty()) throw rpc::ServiceError("ValueError", "average of no values");
                   double s = 0;
                   for (const double x : v) s += x;
                   return s / static_cast<double>(v.size());
                 })
      .implement(greeter::readings,
                 [](std::int64_t count) {
                   if (count < 0) throw rpc::ServiceError("ValueError", "count must be >= 0");
                   return ReadingStream{count};
                 })
      .implement(greeter::scale, [](double factor) { return Scaler{factor}; });
  return p;
}

int serve(const std::string& where) {
  rpc::Server server;
  server.host(greeter_protocol());
  if (where == "stdio") {  // a worker: the client spawned us
    rpc::FdConnection stdio(0, 1, "stdio", false);
    auto r = server.serve_connection(stdio);
    return r ? 0 : 1;
  }
  auto ep = rpc::Endpoint::parse(where);
  if (!ep) return std::fprintf(stderr, "%s\n", ep.error().what().c_str()), 2;
  auto listener = ep->kind == rpc::Endpoint::Kind::tcp
                      ? rpc::Listener::listen_tcp(ep->host, ep->port)
                      : rpc::Listener::listen_unix(ep->path);
  if (!listener) return std::fprintf(stderr, "%s\n", listener.error().what().c_str()), 1;
  std::printf("%s\n", listener->discovery_line().c_str());
  std::fflush(stdout);
  // SIGINT / SIGTERM: stop accepting, finish the calls in flight.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop, &sig);
    server.stop();
  });
  stopper.detach();
  auto r = server.serve(*listener);
  return r ? 0 : 1;
}

// ---- the client ------------------------------------------------------------------------------

int call(const std::string& target) {
  rpc::ClientOptions options;
  options.default_timeout = std::chrono::seconds(10);
  options.on_log = [](const rpc::LogRecord& l) {
    std::printf("  [server %s] %s\n", std::string(rpc::level_name(l.level)).c_str(),
                l.message.c_str());
  };
  auto client = rpc::Client::connect(target, options);
  if (!client) return std::fprintf(stderr, "%s\n", client.error().what().c_str()), 1;
  auto g = client->protocol("Greeter", "1.0.0");

  auto hello = g.call(greeter::greet, "Ada");  // punctuation: its default
  std::printf("greet: %s\n", hello ? hello->c_str() : hello.error().what().c_str());
  auto avg = g.call(greeter::average, std::vector<double>{1, 2, 4.5});
  std::printf("average: %g\n", avg ? *avg : 0.0);
  auto none = g.call(greeter::average, std::vector<double>{});
  if (const auto* e = none ? nullptr : rpc::remote_error(none.error()))
    std::printf("average of nothing: %s: %s\n", e->type.c_str(), e->message.c_str());

  auto stream = g.produce(greeter::readings, std::int64_t{3});
  if (!stream) return std::fprintf(stderr, "%s\n", stream.error().what().c_str()), 1;
  auto header = stream->header();
  if (header)
    std::printf("readings: %lld in %s\n", static_cast<long long>(header->readings),
                header->unit.c_str());
  for (;;) {
    auto rows = stream->next();
    if (!rows || !*rows) break;
    for (const auto& r : **rows) std::printf("  %s %.1f\n", r.sensor.c_str(), r.celsius);
  }

  auto ex = g.exchange(greeter::scale, 1.8);
  if (!ex) return std::fprintf(stderr, "%s\n", ex.error().what().c_str()), 1;
  auto scaled = ex->exchange({{"probe-0", 10, "calibrated"}});
  if (scaled) std::printf("scaled: %.1f\n", scaled->front().celsius);
  (void)ex->close();
  return hello && avg ? 0 : 1;
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "serve") return serve(argc > 2 ? argv[2] : "stdio");
  if (mode == "call" && argc > 2) return call(argv[2]);
  if (mode.empty()) {
    // Both ends: this program, spawned as a worker on its own stdin/stdout.
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = '\0';
    return call(fmt::format("exec:{} serve stdio", self));
  }
  std::fprintf(stderr, "usage: %s [serve [unix:PATH|tcp:HOST:PORT|stdio] | call TARGET]\n",
               argv[0]);
  return 2;
}
