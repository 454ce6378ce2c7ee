// The RPC server under bad input: a server on a Unix socket (in this process,
// sluice-conformance's protocols) gets garbage, truncated and oversized
// requests, unknown protocols and methods, wrong parameter types, clients
// that stop reading or drop mid-stream, and idle clients. Each time the
// offending connection gets an error or is closed, and the next client is
// served as if nothing happened.
#include <sluice/rpc/client.hpp>
#include <sluice/rpc/conformance/api.hpp>
#include <sluice/rpc/framing.hpp>
#include <sluice/rpc/server.hpp>
#include <sluice/rpc/wire.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace sluice::rpc {
namespace {

namespace c = conformance;
using namespace std::chrono_literals;

std::span<const std::byte> as_bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

class RpcServer : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}) {
    std::array<char, 64> tmpl{};
    std::snprintf(tmpl.data(), tmpl.size(), "/tmp/sluice-rpc-test-XXXXXX");
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl.data();
    path_ = dir_ + "/s.sock";
    auto l = Listener::listen_unix(path_);
    ASSERT_TRUE(l) << l.error().what();
    listener_ = std::make_unique<Listener>(std::move(l).value());
    server_ = std::make_unique<Server>(std::move(options));
    server_->host(c::primary()).host(c::secondary_protocol());
    thread_ = std::thread([this] { served_ = server_->serve(*listener_); });
  }
  void SetUp() override { start(); }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
    EXPECT_TRUE(served_) << served_.error().what();
    listener_.reset();
    std::filesystem::remove_all(dir_);
  }
  void restart(ServerOptions options) {
    TearDown();
    start(std::move(options));
  }

  std::unique_ptr<Connection> raw() {
    auto c = connect_unix(path_);
    EXPECT_TRUE(c) << c.error().what();
    return std::move(c).value();
  }
  Client client() {
    ClientOptions o;
    o.default_timeout = 20s;
    auto c = Client::connect("unix:" + path_, o);
    EXPECT_TRUE(c) << c.error().what();
    return std::move(c).value();
  }
  // The server still answers a fresh client.
  void expect_healthy() {
    auto cl = client();
    auto p = cl.protocol(std::string(c::kProtocol), std::string(c::kVersion));
    auto r = p.call(c::echo_string, "still here");
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ(*r, "still here");
  }
  // Reads until the server closes the connection; true if it did within 10 s.
  static bool closed_by_server(Connection& conn) {
    conn.set_deadline(std::chrono::steady_clock::now() + 10s);
    std::vector<std::byte> buf(1 << 16);
    for (;;) {
      auto n = conn.read_some(buf);
      if (!n) return false;
      if (*n == 0) return true;
    }
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  Result<void> served_ = ok();
};

arrow::RecordBatch request(std::string method, const arrow::RecordBatch& params,
                           std::string protocol = std::string(c::kProtocol)) {
  arrow::KeyValueMetadata md;
  md.set(std::string(key::method), std::move(method));
  md.set(std::string(key::request_version), std::string(kRequestVersion));
  md.set(std::string(key::protocol), std::move(protocol));
  md.set(std::string(key::protocol_version), std::string(c::kVersion));
  return params.with_metadata(std::move(md));
}

// Parameter rows.
struct ValueParam {
  std::string value;
  static constexpr auto sluice_fields() { return std::tuple{member("value", &ValueParam::value)}; }
};
struct TargetBytes {
  std::int64_t target_bytes = 0;
  static constexpr auto sluice_fields() {
    return std::tuple{member("target_bytes", &TargetBytes::target_bytes)};
  }
};

arrow::RecordBatch string_params(const std::string& value) {
  return rows_batch<ValueParam>({{value}});
}

// The error of a response stream, read raw.
std::optional<RemoteError> read_error(Connection& conn) {
  IpcInput in(conn, {});
  auto reader = in.open();
  if (!reader) return std::nullopt;
  std::optional<RemoteError> err;
  for (;;) {
    auto b = reader->next();
    if (!b || !b->has_value()) break;
    if (classify(**b) == BatchKind::error) err = decode_error(**b);
  }
  return err;
}

TEST_F(RpcServer, GarbageClosesThatConnectionOnly) {
  auto conn = raw();
  std::string junk(4096, '\0');
  for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 131U) ^ 0x5a);
  ASSERT_TRUE(conn->write_all(as_bytes(junk)));
  EXPECT_TRUE(closed_by_server(*conn));
  expect_healthy();
}

TEST_F(RpcServer, AnAbsurdMessageLengthIsRefusedWithoutAllocatingIt) {
  auto conn = raw();
  // Continuation marker, then a 2 GiB metadata length.
  const std::string prefix("\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
  ASSERT_TRUE(conn->write_all(as_bytes(prefix)));
  EXPECT_TRUE(closed_by_server(*conn));
  expect_healthy();
}

TEST_F(RpcServer, ATruncatedRequestThenHangUpLeavesTheServerUp) {
  {
    auto conn = raw();
    IpcOutput out(*conn);
    auto w = out.open(string_params("x").schema());
    ASSERT_TRUE(w);
    ASSERT_TRUE(out.flush());
    // Schema only: the connection goes away before the batch.
  }
  expect_healthy();
}

TEST_F(RpcServer, UnknownProtocolAndMethodAreErrorsOnAUsableConnection) {
  auto conn = raw();
  IpcOutput out(*conn);
  const auto params = string_params("x");
  ASSERT_TRUE(out.write_stream(params.schema(), {request("no_such_method", params)}));
  auto e = read_error(*conn);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, "method_not_implemented");
  ASSERT_TRUE(out.write_stream(params.schema(), {request("echo_string", params, "Nope.v1")}));
  e = read_error(*conn);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, "protocol_not_supported");
  // The same connection still serves a good call.
  ASSERT_TRUE(out.write_stream(params.schema(), {request("echo_string", params)}));
  EXPECT_FALSE(read_error(*conn));
}

TEST_F(RpcServer, WrongParameterTypesNamesAndRowCountsAreRefused) {
  auto cl = client();
  auto p = cl.protocol(std::string(c::kProtocol), std::string(c::kVersion));
  const Unary<std::string(std::int64_t)> wrong_type{"echo_string", {"value"}};
  auto r = p.call(wrong_type, std::int64_t{1});
  ASSERT_FALSE(r);
  const RemoteError* e = remote_error(r.error());
  ASSERT_NE(e, nullptr) << r.error().what();
  EXPECT_NE(e->message.find("value"), std::string::npos) << e->message;
  const Unary<std::string(std::string)> wrong_name{"echo_string", {"valeu"}};
  EXPECT_FALSE(p.call(wrong_name, "x"));

  // Two rows where a request has one.
  auto conn = raw();
  IpcOutput out(*conn);
  const auto params = rows_batch<ValueParam>({{"a"}, {"b"}});
  ASSERT_TRUE(out.write_stream(params.schema(), {request("echo_string", params)}));
  EXPECT_TRUE(read_error(*conn));
  expect_healthy();
}

TEST_F(RpcServer, AHandlerErrorKeepsTypeMessageAndConnection) {
  auto cl = client();
  auto p = cl.protocol(std::string(c::kProtocol), std::string(c::kVersion));
  auto r = p.call(c::raise_value_error, "boom");
  ASSERT_FALSE(r);
  const RemoteError* e = remote_error(r.error());
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->type, "ValueError");
  EXPECT_EQ(e->message, "boom");
  auto again = p.call(c::echo_string, "after");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, "after");
}

TEST_F(RpcServer, AClientThatStopsReadingAndHangsUpEndsOnlyItsCall) {
  {
    auto conn = raw();
    IpcOutput out(*conn);
    // 64 MB of result the client never reads.
    const auto params = rows_batch<TargetBytes>({{std::int64_t{64} << 20}});
    ASSERT_TRUE(out.write_stream(params.schema(), {request("oversized_unary", params)}));
    std::this_thread::sleep_for(50ms);
  }
  expect_healthy();
}

TEST_F(RpcServer, AClientDroppedMidStreamLeavesTheServerUp) {
  {
    auto cl = client();
    auto p = cl.protocol(std::string(c::kProtocol), std::string(c::kVersion));
    auto s = p.exchange(c::exchange_scale, 2.0);
    ASSERT_TRUE(s) << s.error().what();
    auto out = s->exchange({{1.0}});
    ASSERT_TRUE(out);
    // The client and its connection go away with the stream open.
  }
  {
    auto cl = client();
    auto p = cl.protocol(std::string(c::kProtocol), std::string(c::kVersion));
    auto s = p.produce(c::cancellable_producer);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->next());
  }
  expect_healthy();
  const auto st = server_->stats();
  EXPECT_GE(st.connections, 3U);
}

TEST_F(RpcServer, ARequestPastTheStreamLimitIsRefusedWithAClearError) {
  ServerOptions o;
  o.limits.max_stream_bytes = 4096;
  restart(o);
  auto cl = client();
  auto p = cl.protocol(std::string(c::kProtocol), std::string(c::kVersion));
  auto r = p.call(c::echo_string, std::string(100000, 'x'));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().what().find("4096"), std::string::npos) << r.error().what();
  auto small = p.call(c::echo_string, "small");
  ASSERT_TRUE(small) << small.error().what();
}

TEST_F(RpcServer, TheStreamLimitAppliesToEachTurnOfAStreamingCall) {
  // A producer or exchange lives as long as its call: a stream far longer
  // than the limit is fine when every turn is under it.
  ServerOptions o;
  o.limits.max_stream_bytes = 8192;
  restart(o);
  ClientOptions co;
  co.default_timeout = 20s;
  co.limits.max_stream_bytes = 8192;
  auto cl = Client::connect("unix:" + path_, co);
  ASSERT_TRUE(cl) << cl.error().what();
  auto p = cl->protocol(std::string(c::kProtocol), std::string(c::kVersion));
  auto s = p.produce(c::produce_n, std::int64_t{2000});
  ASSERT_TRUE(s) << s.error().what();
  std::size_t batches = 0;
  for (;;) {
    auto b = s->next();
    ASSERT_TRUE(b) << b.error().what();
    if (!*b) break;
    ++batches;
  }
  EXPECT_EQ(batches, 2000U);
  auto x = p.exchange(c::exchange_scale, 2.0);
  ASSERT_TRUE(x) << x.error().what();
  for (int i = 0; i < 500; ++i) {
    auto out = x->exchange({{1.0}, {2.0}, {3.0}});
    ASSERT_TRUE(out) << i << ": " << out.error().what();
  }
  ASSERT_TRUE(x->close());
  expect_healthy();
}

TEST_F(RpcServer, AnIdleConnectionIsClosedAfterTheIdleTimeout) {
  ServerOptions o;
  o.idle_timeout = 200ms;
  restart(o);
  auto conn = raw();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_server(*conn));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
  expect_healthy();
}

TEST_F(RpcServer, ConnectionsPastTheLimitAreClosedAtOnce) {
  ServerOptions o;
  o.max_connections = 1;
  restart(o);
  auto first = raw();
  // Make sure the server has taken the first connection before the second.
  IpcOutput out(*first);
  const auto params = string_params("x");
  ASSERT_TRUE(out.write_stream(params.schema(), {request("echo_string", params)}));
  EXPECT_FALSE(read_error(*first));
  auto second = raw();
  EXPECT_TRUE(closed_by_server(*second));
  EXPECT_GE(server_->stats().rejected_connections, 1U);
}

TEST_F(RpcServer, StopEndsServeAndLeavesNoSocketBehind) {
  auto cl = client();
  auto p = cl.protocol(std::string(c::kProtocol), std::string(c::kVersion));
  ASSERT_TRUE(p.call(c::echo_string, "x"));
  server_->stop();
  thread_.join();
  EXPECT_TRUE(served_);
  listener_.reset();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST(RpcEndpoint, ParsesEveryKindAndRefusesNonsense) {
  auto u = Endpoint::parse("unix:/run/x.sock");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->kind, Endpoint::Kind::unix_socket);
  EXPECT_EQ(u->path, "/run/x.sock");
  auto t = Endpoint::parse("tcp:127.0.0.1:4000");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->port, 4000);
  auto e = Endpoint::parse("exec:/bin/worker --flag 'two words'");
  ASSERT_TRUE(e);
  ASSERT_GE(e->argv.size(), 2U);
  EXPECT_EQ(e->argv[0], "/bin/worker");
  for (const char* bad :
       {"", "unix:", "tcp:host", "tcp:host:99999", "tcp:host:x", "ftp:x", "exec:"}) {
    EXPECT_FALSE(Endpoint::parse(bad)) << bad;
  }
}

}  // namespace
}  // namespace sluice::rpc
