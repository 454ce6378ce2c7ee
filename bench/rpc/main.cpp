// bench_rpc: vgi-rpc calls between two pinned processes, over Unix and TCP
// sockets, against the floors and peers measured in the same run.
//
//   floor       raw socket ping-pong of 8 bytes (blocking read/write), and a
//               raw stream of 1 MiB writes: what the kernel allows
//   asio        the same ping-pong served by a Boost.Asio C++20-coroutine
//               server: what an event loop adds (docs/rpc.md: why sluice's
//               server uses a thread per connection)
//   sluice      unary ping(int64) -> int64; a producer of 1 MiB batches
//   grpc        gRPC C++ unary Ping(int64) -> int64 (sync server and stub)
//   npm         the npm vgi-rpc server's echo_int (conformance_service.mjs),
//               called by sluice's client
//   vgis        unary results of 1 MiB, 64 MiB and 1 GiB over a Unix socket,
//               inline (transport "unix") and through vgi-rpc's shared-memory
//               side channel (transport "vgis"): the time until the client
//               holds a readable result
//
// Every latency is a round trip, timed per iteration into a histogram after
// a warm-up; the client runs on CPU 0 and the server on CPU 1. Results:
// --out FILE.json, records {transport, scenario, payload_bytes, p50_ns,
// p99_ns, bytes_per_s, ...}, and a Markdown table on stdout.
#include "common/histogram.hpp"
#include "common/system.hpp"

#include <sluice/base/units.hpp>
#include <sluice/rpc/client.hpp>
#include <sluice/rpc/server.hpp>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#ifdef SLUICE_BENCH_GRPC
#include <grpcpp/grpcpp.h>

#include "rpc_bench.grpc.pb.h"
#endif

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace sluice;
using bench::Histogram;
using bench::now_ns;
using nlohmann::json;

constexpr int kClientCpu = 0;
constexpr int kServerCpu = 1;
constexpr std::int64_t kBlob = std::int64_t{1} << 20;

struct Budget {
  double warmup_s = 0.5;
  double measure_s = 3.0;
};

struct Record {
  std::string transport;
  std::string scenario;
  std::string implementation;
  std::uint64_t payload_bytes = 0;
  bench::Percentiles rtt;
  double client_cpu_ns = 0;  // the client thread's CPU time per round trip (user + system)
  double bytes_per_s = 0;
  std::string note;
};

Record record(std::string transport, std::string scenario, std::string implementation,
              std::uint64_t payload) {
  Record r;
  r.transport = std::move(transport);
  r.scenario = std::move(scenario);
  r.implementation = std::move(implementation);
  r.payload_bytes = payload;
  return r;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_rpc: %s\n", what.c_str());
  std::exit(1);
}

void pin(int cpu) {
  auto r = bench::pin_to_cpu(cpu);
  if (!r) std::fprintf(stderr, "bench_rpc: pinning to cpu %d: %s\n", cpu, r.error().what().c_str());
}

// ---- sockets ---------------------------------------------------------------------------------

struct Place {
  bool tcp = false;
  std::string path;    // unix
  std::uint16_t port;  // tcp
  [[nodiscard]] std::string target() const {
    return tcp ? fmt::format("tcp:127.0.0.1:{}", port) : "unix:" + path;
  }
};

int listen_on(Place& p) {
  const int fd = ::socket(p.tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (p.tcp) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind tcp");
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    p.port = ntohs(a.sin_port);
  } else {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", p.path.c_str());
    ::unlink(p.path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind unix");
  }
  if (::listen(fd, 16) != 0) die("listen");
  return fd;
}

int connect_to(const Place& p) {
  for (int attempt = 0; attempt < 500; ++attempt) {
    const int fd = ::socket(p.tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = -1;
    if (p.tcp) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(p.port);
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    } else {
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::snprintf(a.sun_path, sizeof a.sun_path, "%s", p.path.c_str());
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (rc == 0) return fd;
    ::close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  die("connect " + p.target());
}

void read_exact(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      std::_Exit(0);  // the peer went away: the measurement is over
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}
void write_exact(int fd, const void* buf, std::size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t r = ::write(fd, p, n);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      std::_Exit(0);
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

// A server process pinned to kServerCpu, running `body`; killed at scope end.
class ServerProcess {
 public:
  explicit ServerProcess(const std::function<void()>& body) {
    pid_ = ::fork();
    if (pid_ < 0) die("fork");
    if (pid_ == 0) {
      pin(kServerCpu);
      body();
      std::_Exit(0);
    }
  }
  // A program (the npm server), pinned to kServerCpu, stdout to `out_fd`.
  ServerProcess(std::vector<std::string> argv, int out_fd) {
    pid_ = ::fork();
    if (pid_ < 0) die("fork");
    if (pid_ == 0) {
      pin(kServerCpu);
      ::dup2(out_fd, 1);
      std::vector<char*> args;
      args.reserve(argv.size() + 1);
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::_Exit(127);
    }
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }

 private:
  pid_t pid_ = -1;
};

// ---- measuring -------------------------------------------------------------------------------

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}
double last_cpu_per_call = 0;

bench::Percentiles time_round_trips(const Budget& b, const std::function<void()>& once) {
  const std::uint64_t warm_end = now_ns() + static_cast<std::uint64_t>(b.warmup_s * 1e9);
  while (now_ns() < warm_end) once();
  Histogram h;
  const std::uint64_t end = now_ns() + static_cast<std::uint64_t>(b.measure_s * 1e9);
  const std::uint64_t cpu0 = thread_cpu_ns();
  std::uint64_t t = now_ns();
  while (t < end || h.count() < 100) {
    once();
    const std::uint64_t t2 = now_ns();
    h.record(t2 - t);
    t = t2;
  }
  last_cpu_per_call = static_cast<double>(thread_cpu_ns() - cpu0) / static_cast<double>(h.count());
  return bench::summarize(h);
}

// Bytes per second of `chunk()` calls (each returns the bytes it received).
double time_stream(const Budget& b, const std::function<std::uint64_t()>& chunk) {
  const std::uint64_t warm_end = now_ns() + static_cast<std::uint64_t>(b.warmup_s * 1e9);
  while (now_ns() < warm_end) chunk();
  std::uint64_t bytes = 0;
  const std::uint64_t t0 = now_ns();
  const std::uint64_t end = t0 + static_cast<std::uint64_t>(b.measure_s * 1e9);
  std::uint64_t t = t0;
  while (t < end) {
    bytes += chunk();
    t = now_ns();
  }
  return static_cast<double>(bytes) / (static_cast<double>(t - t0) / 1e9);
}

// ---- the scenarios -----------------------------------------------------------------------------

Record floor_pingpong(Place p, const Budget& b) {
  const int lfd = listen_on(p);
  ServerProcess server([lfd] {
    const int c = ::accept(lfd, nullptr, nullptr);
    const int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::uint64_t v = 0;
    for (;;) {
      read_exact(c, &v, 8);
      write_exact(c, &v, 8);
    }
  });
  ::close(lfd);
  const int fd = connect_to(p);
  std::uint64_t v = 0;
  Record r = record(p.tcp ? "tcp" : "unix", "unary round trip", "floor: socket ping-pong", 8);
  r.rtt = time_round_trips(b, [&] {
    write_exact(fd, &v, 8);
    read_exact(fd, &v, 8);
    ++v;
  });
  r.client_cpu_ns = last_cpu_per_call;
  ::close(fd);
  return r;
}

// Boost 1.74 enables co_await only for g++ (clang 14's coroutines live in
// std::experimental): other compilers build bench_rpc without this scenario.
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
Record asio_pingpong(Place p, const Budget& b) {
  namespace asio = boost::asio;
  const int lfd = listen_on(p);
  ServerProcess server([lfd, tcp = p.tcp] {
    asio::io_context io(1);
    auto session = [](auto socket) -> asio::awaitable<void> {
      std::uint64_t v = 0;
      for (;;) {
        co_await asio::async_read(socket, asio::buffer(&v, 8), asio::use_awaitable);
        co_await asio::async_write(socket, asio::buffer(&v, 8), asio::use_awaitable);
      }
    };
    if (tcp) {
      asio::ip::tcp::acceptor acc(io, asio::ip::tcp::v4(), lfd);
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            auto s = co_await acc.async_accept(asio::use_awaitable);
            s.set_option(asio::ip::tcp::no_delay(true));
            co_await session(std::move(s));
          },
          asio::detached);
      io.run();
    } else {
      asio::local::stream_protocol::acceptor acc(io, asio::local::stream_protocol(), lfd);
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            co_await session(co_await acc.async_accept(asio::use_awaitable));
          },
          asio::detached);
      io.run();
    }
  });
  ::close(lfd);
  const int fd = connect_to(p);
  std::uint64_t v = 0;
  Record r = record(p.tcp ? "tcp" : "unix", "unary round trip", "asio coroutine ping-pong", 8);
  r.rtt = time_round_trips(b, [&] {
    write_exact(fd, &v, 8);
    read_exact(fd, &v, 8);
  });
  r.client_cpu_ns = last_cpu_per_call;
  ::close(fd);
  return r;
}

#endif

Record floor_stream(Place p, const Budget& b) {
  const int lfd = listen_on(p);
  ServerProcess server([lfd] {
    const int c = ::accept(lfd, nullptr, nullptr);
    std::vector<char> buf(kBlob, 'x');
    for (;;) write_exact(c, buf.data(), buf.size());
  });
  ::close(lfd);
  const int fd = connect_to(p);
  std::vector<char> buf(kBlob);
  Record r =
      record(p.tcp ? "tcp" : "unix", "stream of 1 MiB batches", "floor: socket stream", kBlob);
  r.bytes_per_s = time_stream(b, [&] {
    read_exact(fd, buf.data(), buf.size());
    return static_cast<std::uint64_t>(kBlob);
  });
  ::close(fd);
  return r;
}

// The sluice protocol under test.
namespace proto {
inline const rpc::Unary<std::int64_t(std::int64_t)> ping{"ping", {"value"}};
inline const rpc::Producer<arrow::RecordBatch(std::int64_t)> blobs{"blobs", {"size"}};
}  // namespace proto

struct Blobs {
  arrow::RecordBatch batch;
  [[nodiscard]] arrow::SchemaPtr output_schema() const { return batch.schema(); }
  void produce(rpc::Output<arrow::RecordBatch>& out) const { out.emit(batch); }
};

rpc::Protocol bench_protocol() {
  rpc::Protocol p("Bench", "1.0.0");
  p.implement(proto::ping, [](std::int64_t v) {
     return v;
   }).implement(proto::blobs, [](std::int64_t size) {
    if (size < 0 || size > (std::int64_t{1} << 30))
      throw rpc::ServiceError("ValueError", "size out of range");
    auto schema = arrow::schema({arrow::field("data", arrow::binary(), false)});
    return Blobs{arrow::RecordBatch(
        schema, 1,
        {arrow::make_binary_array(arrow::binary(),
                                  {std::string(static_cast<std::size_t>(size), 'x')})})};
  });
  return p;
}

void serve_sluice(const Place& p) {
  // The listener is made in the server process (its accept thread lives here).
  auto l =
      p.tcp ? rpc::Listener::listen_tcp("127.0.0.1", p.port) : rpc::Listener::listen_unix(p.path);
  if (!l) die(l.error().what());
  rpc::Server server;
  server.host(bench_protocol());
  (void)server.serve(*l);
}

std::vector<Record> sluice_scenarios(Place p, const Budget& b, bool streams) {
  std::vector<Record> out;
  if (p.tcp) {  // a free port, released for the server to bind
    const int lfd = listen_on(p);
    ::close(lfd);
  }
  ServerProcess server([p] { serve_sluice(p); });
  Result<rpc::Client> client = fail(Errc::not_ready, "");
  for (int i = 0; i < 500 && !client; ++i) {
    client = rpc::Client::connect(p.target());
    if (!client) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!client) die(client.error().what());
  auto bp = client->protocol("Bench", "1.0.0");
  Record u = record(p.tcp ? "tcp" : "unix", "unary round trip", "sluice", 8);
  std::int64_t v = 0;
  u.rtt = time_round_trips(b, [&] {
    auto r = bp.call(proto::ping, v);
    if (!r || *r != v) die("sluice ping: " + (r ? std::string("wrong value") : r.error().what()));
    ++v;
  });
  u.client_cpu_ns = last_cpu_per_call;
  out.push_back(u);
  if (!streams) return out;

  auto stream = bp.produce(proto::blobs, kBlob);
  if (!stream) die(stream.error().what());
  Record s = record(p.tcp ? "tcp" : "unix", "stream of 1 MiB batches", "sluice producer", kBlob);
  s.bytes_per_s = time_stream(b, [&]() -> std::uint64_t {
    auto next = stream->next();
    if (!next || !*next)
      die("sluice blobs: " + (next ? std::string("ended") : next.error().what()));
    return static_cast<std::uint64_t>((**next).column(0)->bytes_value(0).size());
  });
  out.push_back(s);
  (void)stream->cancel();
  return out;
}

// ---- large results: unix inline against vgi-rpc's shared-memory side channel ------------------

// A method returning a binary result of `size` bytes, built once per size so
// that the server's cost is sending it, not making it.
rpc::Protocol results_protocol() {
  rpc::Protocol p("BenchResults", "1.0.0");
  rpc::MethodDef m;
  m.name = "result";
  m.params = arrow::schema({arrow::field("size", arrow::int64(), false)});
  m.defaults = {nullptr};
  m.result = arrow::schema({arrow::field("result", arrow::binary(), false)});
  auto cache = std::make_shared<std::map<std::int64_t, arrow::RecordBatch>>();
  m.unary = [cache, schema = m.result](const arrow::RecordBatch& params,
                                       rpc::CallContext&) -> Result<arrow::RecordBatch> {
    const std::int64_t size = params.column(0)->int_value(0);
    if (size < 0 || size > (std::int64_t{1} << 30))
      return fail(Errc::out_of_range, "size {} out of range", size);
    auto it = cache->find(size);
    if (it == cache->end())
      it = cache
               ->emplace(
                   size,
                   arrow::RecordBatch(
                       schema, 1,
                       {arrow::make_binary_array(
                           arrow::binary(), {std::string(static_cast<std::size_t>(size), 'r')})}))
               .first;
    return it->second;
  };
  p.add(std::move(m));
  return p;
}

constexpr std::array<std::int64_t, 3> kResultSizes = {std::int64_t{1} << 20, std::int64_t{64} << 20,
                                                      std::int64_t{1} << 30};

// Time from the call until the client holds a readable result (its first
// and last byte read), per call; at least `min_calls` after two warm-up calls.
bench::Percentiles time_results(const Budget& b, const std::function<void()>& once) {
  once();
  once();
  Histogram h;
  const std::uint64_t end = now_ns() + static_cast<std::uint64_t>(b.measure_s * 1e9);
  while (now_ns() < end || h.count() < 5) {
    const std::uint64_t t = now_ns();
    once();
    h.record(now_ns() - t);
  }
  return bench::summarize(h);
}

std::vector<Record> result_scenarios(const Place& p, const Budget& b, bool shm) {
  ServerProcess server([p] {
    auto l = rpc::Listener::listen_unix(p.path);
    if (!l) die(l.error().what());
    rpc::Server s;
    s.host(results_protocol());
    (void)s.serve(*l);
  });
  rpc::ClientOptions o;
  if (shm) o.shm_segment_size = (std::uint64_t{5} << 30) / 4;  // 1.25 GiB: one 1 GiB result
  Result<rpc::Client> client = fail(Errc::not_ready, "");
  for (int i = 0; i < 500 && !client; ++i) {
    client = rpc::Client::connect(p.target(), o);
    if (!client) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!client) die(client.error().what());
  std::vector<Record> out;
  for (const std::int64_t size : kResultSizes) {
    auto params = arrow::RecordBatch(arrow::schema({arrow::field("size", arrow::int64(), false)}),
                                     1, {arrow::make_array<std::int64_t>(arrow::int64(), {size})});
    Record r = record(shm ? "vgis" : "unix",
                      fmt::format("result of {}", format_bytes(static_cast<std::uint64_t>(size))),
                      shm ? "sluice (vgi-rpc side channel)" : "sluice (inline)",
                      static_cast<std::uint64_t>(size));
    bool via_segment = false;
    r.rtt = time_results(b, [&] {
      auto res = client->call({"BenchResults", "1.0.0", "result"}, params);
      if (!res) die("result: " + res.error().what());
      const auto v = res->column(0)->bytes_value(0);
      if (static_cast<std::int64_t>(v.size()) != size || v.front() != 'r' || v.back() != 'r')
        die("result: wrong bytes");
      via_segment = res->metadata().contains(rpc::key::shm_source);
    });
    if (via_segment != shm)
      die(fmt::format("result of {} bytes: side channel {}", size,
                      via_segment ? "used" : "not used"));
    out.push_back(r);
  }
  return out;
}

std::optional<Record> npm_unary(const Place& p, const Budget& b, const std::string& node,
                                const std::string& service) {
  if (node.empty() || service.empty() || !std::filesystem::exists(service)) return std::nullopt;
  int pipefd[2];
  if (::pipe(pipefd) != 0) die("pipe");
  std::vector<std::string> argv{node, service};
  if (p.tcp) {
    argv.emplace_back("--tcp");
  } else {
    argv.emplace_back("--unix");
    argv.push_back(p.path);
  }
  ServerProcess server(argv, pipefd[1]);
  ::close(pipefd[1]);
  std::string line;
  char ch = 0;
  while (::read(pipefd[0], &ch, 1) == 1 && ch != '\n') line += ch;
  ::close(pipefd[0]);
  std::string target;
  if (line.rfind("UNIX:", 0) == 0) target = "unix:" + line.substr(5);
  if (line.rfind("TCP:", 0) == 0) target = "tcp:" + line.substr(4);
  if (target.empty()) {
    std::fprintf(stderr, "bench_rpc: the npm server did not start (%s)\n", line.c_str());
    return std::nullopt;
  }
  auto client = rpc::Client::connect(target);
  if (!client) die(client.error().what());
  auto cp = client->protocol("ConformanceService", "1.0.0");
  const rpc::Unary<std::int64_t(std::int64_t)> echo_int{"echo_int", {"value"}};
  Record r = record(p.tcp ? "tcp" : "unix", "unary round trip", "npm vgi-rpc 0.25.4 server", 8);
  std::int64_t v = 0;
  r.rtt = time_round_trips(b, [&] {
    auto x = cp.call(echo_int, v);
    if (!x || *x != v) die("npm echo_int: " + (x ? std::string("wrong value") : x.error().what()));
    ++v;
  });
  r.client_cpu_ns = last_cpu_per_call;
  r.note = "sluice's client, the npm package's server (Node 20)";
  return r;
}

#ifdef SLUICE_BENCH_GRPC
class PingService final : public sluice_bench::Pinger::Service {
  grpc::Status Ping(grpc::ServerContext* /*ctx*/, const sluice_bench::Value* in,
                    sluice_bench::Value* out) override {
    out->set_value(in->value());
    return grpc::Status::OK;
  }
};

// The gRPC server runs in a fresh process (exec of this program): gRPC's
// threads do not survive fork, and the parent has used gRPC before.
int grpc_server_main(const std::string& address) {
  PingService service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  auto s = builder.BuildAndStart();
  if (!s) die("grpc server on " + address);
  std::printf("ready\n");
  std::fflush(stdout);
  s->Wait();
  return 0;
}

Record grpc_unary(Place p, const Budget& b, const std::string& self) {
  if (p.tcp) {
    const int lfd = listen_on(p);
    ::close(lfd);
  } else {
    ::unlink(p.path.c_str());
  }
  const std::string address = p.tcp ? fmt::format("127.0.0.1:{}", p.port) : "unix:" + p.path;
  int pipefd[2];
  if (::pipe(pipefd) != 0) die("pipe");
  ServerProcess server({self, "--grpc-server", address}, pipefd[1]);
  ::close(pipefd[1]);
  char ch = 0;
  while (::read(pipefd[0], &ch, 1) == 1 && ch != '\n') {
  }
  ::close(pipefd[0]);
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10)))
    die("grpc connect " + address);
  auto stub = sluice_bench::Pinger::NewStub(channel);
  Record r =
      record(p.tcp ? "tcp" : "unix", "unary round trip", "gRPC C++ " GRPC_CPP_VERSION_STRING, 8);
  std::int64_t v = 0;
  r.rtt = time_round_trips(b, [&] {
    grpc::ClientContext ctx;
    sluice_bench::Value in;
    sluice_bench::Value out;
    in.set_value(v);
    const auto st = stub->Ping(&ctx, in, &out);
    if (!st.ok() || out.value() != v) die("grpc ping: " + st.error_message());
    ++v;
  });
  r.client_cpu_ns = last_cpu_per_call;
  r.note = "sync server and stub";
  return r;
}
#endif

// "38.7 µs", "12.4 ms", "1.21 s".
std::string bench_time(double ns) {
  if (ns < 1e6) return fmt::format("{:.1f} µs", ns / 1e3);
  if (ns < 1e9) return fmt::format("{:.2f} ms", ns / 1e6);
  return fmt::format("{:.2f} s", ns / 1e9);
}

json to_json(const Record& r) {
  json j = {{"transport", r.transport},
            {"scenario", r.scenario},
            {"implementation", r.implementation},
            {"payload_bytes", r.payload_bytes}};
  if (r.rtt.n > 0) {
    j["p50_ns"] = r.rtt.p50;
    j["p99_ns"] = r.rtt.p99;
    j["p999_ns"] = r.rtt.p999;
    j["mean_ns"] = r.rtt.mean;
    j["iterations"] = r.rtt.n;
    j["client_cpu_ns"] = r.client_cpu_ns;
  }
  if (r.bytes_per_s > 0) j["bytes_per_s"] = r.bytes_per_s;
  if (!r.note.empty()) j["note"] = r.note;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef SLUICE_BENCH_GRPC
  if (argc == 3 && std::string(argv[1]) == "--grpc-server") return grpc_server_main(argv[2]);
#endif
  std::string out_path;
  std::string commit = "unknown";
  std::string node = "node";
  std::string npm_service;
  Budget budget;
  bool unary_only = false;
  std::string plot_dir;  // unary.dat and stream.dat for bench/rpc/plot.gp
  std::string only;      // run only the implementations whose name starts with this
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " takes a value");
      return argv[++i];
    };
    if (a == "--out") {
      out_path = value();
    } else if (a == "--commit") {
      commit = value();
    } else if (a == "--node") {
      node = value();
    } else if (a == "--npm-service") {
      npm_service = value();
    } else if (a == "--only") {
      only = value();
    } else if (a == "--plot-data") {
      plot_dir = value();
    } else if (a == "--unary-only") {
      unary_only = true;
    } else if (a == "--quick") {
      budget = {0.1, 0.5};
    } else if (a == "--help" || a == "-h") {
      std::printf(
          "usage: bench_rpc [--out FILE.json] [--commit C] [--quick] [--node PATH] "
          "[--npm-service tests/interop/conformance_service.mjs] [--only "
          "floor|asio|sluice|npm|gRPC] [--unary-only]\n");
      return 0;
    } else {
      die("unknown option " + a);
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  pin(kClientCpu);
  const auto dir =
      std::filesystem::temp_directory_path() / fmt::format("sluice-bench-rpc-{}", ::getpid());
  std::filesystem::create_directories(dir);

  std::vector<Record> records;
  auto note = [&](const Record& r) {
    records.push_back(r);
    if (r.rtt.n > 0)
      std::fprintf(stderr, "  %-5s %-28s p50 %8.1f us  p99 %8.1f us  client cpu %6.1f us  (%llu)\n",
                   r.transport.c_str(), r.implementation.c_str(), r.rtt.p50 / 1e3, r.rtt.p99 / 1e3,
                   r.client_cpu_ns / 1e3, static_cast<unsigned long long>(r.rtt.n));
    else
      std::fprintf(stderr, "  %-5s %-28s %8.2f GB/s\n", r.transport.c_str(),
                   r.implementation.c_str(), r.bytes_per_s / 1e9);
  };
  int k = 0;
  for (const bool tcp : {false, true}) {
    auto place = [&] {
      Place p;
      p.tcp = tcp;
      p.path = (dir / fmt::format("s{}.sock", k++)).string();
      p.port = 0;
      return p;
    };
    std::fprintf(stderr, "%s:\n", tcp ? "tcp" : "unix");
    auto want = [&](std::string_view name) { return only.empty() || name.rfind(only, 0) == 0; };
    if (want("floor")) note(floor_pingpong(place(), budget));
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
    if (want("asio")) note(asio_pingpong(place(), budget));
#endif
    if (want("sluice"))
      for (const auto& r : sluice_scenarios(place(), budget, !unary_only)) note(r);
    if (want("npm"))
      if (auto n = npm_unary(place(), budget, node, npm_service)) note(*n);
    if (want("floor") && !unary_only) note(floor_stream(place(), budget));
    if (!tcp && !unary_only && (want("sluice") || want("vgis")))
      for (const bool shm : {false, true})
        for (const auto& r : result_scenarios(place(), budget, shm)) note(r);
#ifdef SLUICE_BENCH_GRPC
    if (want("gRPC")) note(grpc_unary(place(), budget, argv[0]));
#endif
  }
  std::filesystem::remove_all(dir);

  const auto m = bench::describe_machine();
  json doc = {{"header",
               {{"tool", "bench_rpc"},
                {"date", bench::utc_timestamp()},
                {"commit", commit},
                {"compiler", bench::compiler_id()},
                {"machine",
                 {{"cpu", m.cpu_model},
                  {"cpus", m.cpus},
                  {"hypervisor", m.hypervisor},
                  {"kernel", m.kernel},
                  {"loadavg", {m.loadavg[0], m.loadavg[1], m.loadavg[2]}}}},
                {"settings",
                 {{"warmup_s", budget.warmup_s},
                  {"measure_s", budget.measure_s},
                  {"client_cpu", kClientCpu},
                  {"server_cpu", kServerCpu}}}}},
              {"records", json::array()}};
  for (const auto& r : records) doc["records"].push_back(to_json(r));
  if (!out_path.empty()) std::ofstream(out_path) << doc.dump(2) << "\n";

  if (!plot_dir.empty()) {
    // One row per implementation: its unix and tcp figures (0 when absent).
    auto write = [&](const std::string& file, bool latency) {
      std::ofstream f(plot_dir + "/" + file);
      std::vector<std::string> seen;
      for (const auto& r : records) {
        if ((r.rtt.n > 0) != latency || r.scenario.rfind("result of", 0) == 0) continue;
        if (std::find(seen.begin(), seen.end(), r.implementation) != seen.end()) continue;
        seen.push_back(r.implementation);
        double v[2] = {0, 0};
        for (const auto& x : records)
          if (x.implementation == r.implementation)
            v[x.transport == "tcp" ? 1 : 0] = latency ? x.rtt.p50 / 1e3 : x.bytes_per_s / 1e9;
        f << '"' << r.implementation << "\" " << v[0] << ' ' << v[1] << '\n';
      }
    };
    write("unary.dat", true);
    write("stream.dat", false);
    // Result size (MiB) against p50 (ms), inline over the socket and through the segment.
    std::ofstream f(plot_dir + "/results.dat");
    for (const std::int64_t size : kResultSizes) {
      f << static_cast<double>(size) / (1 << 20);
      for (const char* t : {"unix", "vgis"}) {
        double v = 0;
        for (const auto& x : records)
          if (x.transport == t && x.payload_bytes == static_cast<std::uint64_t>(size) &&
              x.scenario.rfind("result of", 0) == 0)
            v = x.rtt.p50 / 1e6;
        f << ' ' << v;
      }
      f << '\n';
    }
  }

  // The table, with the ratios the targets speak of.
  auto find = [&](const std::string& t, const std::string& impl) -> const Record* {
    for (const auto& r : records)
      if (r.transport == t && r.implementation.rfind(impl, 0) == 0) return &r;
    return nullptr;
  };
  std::printf("| transport | scenario | implementation | p50 | p99 | throughput | vs floor |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const auto& r : records) {
    const bool result_row = r.scenario.rfind("result of", 0) == 0;
    const Record* floor = result_row ? nullptr
                                     : find(r.transport, r.rtt.n > 0 ? "floor: socket ping-pong"
                                                                     : "floor: socket stream");
    std::string ratio = "";
    if (result_row && r.transport == "vgis") {  // against the same result inline
      for (const auto& x : records)
        if (x.transport == "unix" && x.scenario == r.scenario && x.rtt.p50 > 0)
          ratio = fmt::format("{:.2f}× inline", r.rtt.p50 / x.rtt.p50);
    }
    if (floor != nullptr && floor != &r)
      ratio = r.rtt.n > 0 ? fmt::format("{:.2f}×", r.rtt.p50 / floor->rtt.p50)
                          : fmt::format("{:.0f} %", 100.0 * r.bytes_per_s / floor->bytes_per_s);
    std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", r.transport.c_str(), r.scenario.c_str(),
                r.implementation.c_str(), r.rtt.n > 0 ? bench_time(r.rtt.p50).c_str() : "",
                r.rtt.n > 0 ? bench_time(r.rtt.p99).c_str() : "",
                r.bytes_per_s > 0 ? fmt::format("{:.2f} GB/s", r.bytes_per_s / 1e9).c_str() : "",
                ratio.c_str());
  }
  return 0;
}
