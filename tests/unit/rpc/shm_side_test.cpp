// vgi-rpc's shared-memory side channel (PROTOCOL.md §7.3, §10), with sluice
// on both sides and with a hand-written peer that checks the bytes: the
// negotiation, the segment advert, pointer batches for large batches in both
// directions (requests, results, stream input and output), batches read in
// place (their buffers lie in the /dev/shm mapping), the reader-frees rule,
// the fall back to plain pipe traffic, and bad pointers.
#include <sluice/arrow/builder.hpp>
#include <sluice/batch/vgis.hpp>
#include <sluice/rpc/client.hpp>
#include <sluice/rpc/framing.hpp>
#include <sluice/rpc/server.hpp>
#include <sluice/rpc/wire.hpp>

#include <gtest/gtest.h>
#include <support/shm_names.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace sluice::rpc {
namespace {

using namespace std::chrono_literals;
namespace vgis = batch::vgis;

constexpr std::uint64_t kSegment = 16 << 20;
constexpr std::size_t kBig = std::size_t{512} << 10;  // above the 128 KiB threshold

// The file mapped at `p` in this process ("" if anonymous or unmapped).
std::string mapping_of(const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // "lo-hi perms ...": two hex numbers.
    char* end = nullptr;
    const auto lo = static_cast<std::uintptr_t>(std::strtoull(line.c_str(), &end, 16));
    if (end == nullptr || *end != '-') continue;
    const auto hi = static_cast<std::uintptr_t>(std::strtoull(end + 1, nullptr, 16));
    if (a < lo || a >= hi) continue;
    const auto slash = line.find('/');
    return slash == std::string::npos ? std::string() : line.substr(slash);
  }
  return {};
}
bool in_vgis_segment(const arrow::Array& a) {
  return mapping_of(a.buffers().back().data()).rfind("/dev/shm/vgi_rpc_", 0) == 0;
}

arrow::SchemaPtr data_schema(const std::string& name) {
  return arrow::schema({arrow::field(name, arrow::binary(), false)});
}
arrow::RecordBatch blob_batch(const std::string& field, std::size_t size, char fill = 'x') {
  return {data_schema(field),
          1,
          {arrow::make_binary_array(arrow::binary(), {std::string(size, fill)})}};
}
arrow::RecordBatch int_params(const std::vector<std::pair<std::string, std::int64_t>>& v) {
  std::vector<arrow::FieldPtr> fields;
  std::vector<arrow::ArrayPtr> cols;
  for (const auto& [n, x] : v) {
    fields.push_back(arrow::field(n, arrow::int64(), false));
    cols.push_back(arrow::make_array<std::int64_t>(arrow::int64(), {x}));
  }
  return {arrow::schema(fields), 1, std::move(cols)};
}

// What the server's handlers saw.
std::atomic<int> g_params_in_place{0};
std::atomic<int> g_inputs_in_place{0};

class Echo final : public Stream {
 public:
  Result<void> exchange(const arrow::RecordBatch& input, Emitter& out) override {
    if (in_vgis_segment(*input.column(0))) g_inputs_in_place.fetch_add(1);
    out.emit(blob_batch("data", input.column(0)->bytes_value(0).size(), 'e'));
    return ok();
  }
};
class Blobs final : public Stream {
 public:
  Blobs(std::int64_t n, std::int64_t size) : n_(n), size_(size) {}
  Result<void> produce(Emitter& out) override {
    if (i_ == n_) {
      out.finish();
      return ok();
    }
    out.emit(blob_batch("data", static_cast<std::size_t>(size_), static_cast<char>('a' + i_++)));
    return ok();
  }

 private:
  std::int64_t n_;
  std::int64_t size_;
  std::int64_t i_ = 0;
};

Protocol shm_protocol() {
  Protocol p("ShmTest", "1.0.0");
  MethodDef echo;
  echo.name = "echo";
  echo.params = data_schema("data");
  echo.defaults = {nullptr};
  echo.result = data_schema("result");
  echo.unary = [](const arrow::RecordBatch& params, CallContext&) -> Result<arrow::RecordBatch> {
    if (in_vgis_segment(*params.column(0))) g_params_in_place.fetch_add(1);
    return arrow::RecordBatch(data_schema("result"), 1, {params.column(0)});  // aliases the request
  };
  p.add(std::move(echo));
  MethodDef blob;
  blob.name = "blob";
  blob.params = int_params({{"size", 0}}).schema();
  blob.defaults = {nullptr};
  blob.result = data_schema("result");
  blob.unary = [](const arrow::RecordBatch& params, CallContext&) -> Result<arrow::RecordBatch> {
    const auto b = blob_batch("result", static_cast<std::size_t>(params.column(0)->int_value(0)),
                              static_cast<char>('a' + params.column(0)->int_value(0) % 26));
    return b;
  };
  p.add(std::move(blob));
  MethodDef blobs;
  blobs.name = "blobs";
  blobs.kind = MethodKind::producer;
  blobs.params = int_params({{"n", 0}, {"size", 0}}).schema();
  blobs.defaults = {nullptr, nullptr};
  blobs.input = arrow::schema({});
  blobs.output = data_schema("data");
  blobs.start = [](const arrow::RecordBatch& params, CallContext&) -> Result<StreamStart> {
    StreamStart s;
    s.stream =
        std::make_unique<Blobs>(params.column(0)->int_value(0), params.column(1)->int_value(0));
    return s;
  };
  p.add(std::move(blobs));
  MethodDef ex;
  ex.name = "echo_stream";
  ex.kind = MethodKind::exchange;
  ex.params = arrow::schema({});
  ex.input = data_schema("data");
  ex.output = data_schema("data");
  ex.start = [](const arrow::RecordBatch&, CallContext&) -> Result<StreamStart> {
    StreamStart s;
    s.stream = std::make_unique<Echo>();
    return s;
  };
  p.add(std::move(ex));
  return p;
}

// The segment a batch was resolved from (vgi_rpc.shm_source), attached.
std::optional<vgis::Segment> source_of(const arrow::RecordBatch& b) {
  auto name = b.metadata().get(vgis::kShmSourceKey);
  if (!name) return std::nullopt;
  auto s = vgis::Segment::attach(*name);
  if (!s) return std::nullopt;
  return std::move(s).value();
}

class ShmSide : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}) {
    std::array<char, 64> tmpl{};
    std::snprintf(tmpl.data(), tmpl.size(), "/tmp/sluice-shm-test-XXXXXX");
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl.data();
    path_ = dir_ + "/s.sock";
    auto l = Listener::listen_unix(path_);
    ASSERT_TRUE(l) << l.error().what();
    listener_ = std::make_unique<Listener>(std::move(l).value());
    server_ = std::make_unique<Server>(std::move(options));
    server_->host(shm_protocol());
    thread_ = std::thread([this] { served_ = server_->serve(*listener_); });
  }
  void SetUp() override {
    g_params_in_place = 0;
    g_inputs_in_place = 0;
    start();
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
    EXPECT_TRUE(served_) << served_.error().what();
    listener_.reset();
    std::filesystem::remove_all(dir_);
  }
  Client client(std::uint64_t segment = kSegment) {
    ClientOptions o;
    o.default_timeout = 20s;
    o.shm_segment_size = segment;
    auto c = Client::connect("unix:" + path_, o);
    EXPECT_TRUE(c) << c.error().what();
    return std::move(c).value();
  }
  static CallSpec spec(const char* method) { return {"ShmTest", "1.0.0", method}; }

  std::string dir_;
  std::string path_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  Result<void> served_ = ok();
};

TEST_F(ShmSide, LargeUnaryCallsTravelThroughTheSegmentAndAreReadInPlace) {
  auto cl = client();
  auto r = cl.call(spec("echo"), blob_batch("data", kBig, 'q'));
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->column(0)->bytes_value(0), std::string(kBig, 'q'));
  EXPECT_EQ(g_params_in_place.load(), 1) << "the server's parameters were copied";
  EXPECT_TRUE(in_vgis_segment(*r->column(0))) << "the client's result was copied";
  auto seg = source_of(*r);
  ASSERT_TRUE(seg) << "no vgi_rpc.shm_source on the result";
  // The request's region was freed by the server; the result's is held by r.
  EXPECT_EQ(seg->num_allocs(), 1U);
  auto small = cl.call(spec("echo"), blob_batch("data", 10));  // small: inline both ways
  ASSERT_TRUE(small) << small.error().what();
  EXPECT_FALSE(small->metadata().contains(vgis::kShmSourceKey));
  EXPECT_FALSE(in_vgis_segment(*small->column(0)));
  EXPECT_EQ(small->column(0)->bytes_value(0), std::string(10, 'x'));
  EXPECT_EQ(seg->num_allocs(), 1U) << "the result the caller holds keeps its region";
  r = small;  // the big result is gone: the client frees its region at its next turn
  ASSERT_TRUE(cl.call(spec("echo"), blob_batch("data", 10)));
  EXPECT_EQ(seg->num_allocs(), 0U);
}

TEST_F(ShmSide, ResultsKeptByTheCallerStayIntactAcrossLaterCalls) {
  auto cl = client();
  std::vector<arrow::RecordBatch> kept;
  for (int i = 0; i < 6; ++i) {
    auto r = cl.call(spec("echo"), blob_batch("data", kBig, static_cast<char>('a' + i)));
    ASSERT_TRUE(r) << r.error().what();
    kept.push_back(std::move(r).value());
  }
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(in_vgis_segment(*kept[i].column(0)));
    EXPECT_EQ(kept[i].column(0)->bytes_value(0), std::string(kBig, static_cast<char>('a' + i)));
  }
  auto seg = source_of(kept.front());
  ASSERT_TRUE(seg);
  EXPECT_EQ(seg->num_allocs(), 6U);
  kept.clear();
  ASSERT_TRUE(cl.call(spec("echo"), blob_batch("data", 1)));
  EXPECT_EQ(seg->num_allocs(), 0U);
}

TEST_F(ShmSide, AFullSegmentFallsBackToInlineBatches) {
  auto cl = client(vgis::kHeaderSize + (std::uint64_t{600} << 10));  // room for one big batch
  std::vector<arrow::RecordBatch> kept;
  for (std::size_t i = 0; i < 3; ++i) {
    const auto size = static_cast<std::int64_t>(kBig + i);
    auto r = cl.call(spec("blob"), int_params({{"size", size}}));
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ(r->column(0)->bytes_value(0),
              std::string(kBig + i, static_cast<char>('a' + size % 26)));
    kept.push_back(std::move(r).value());
  }
  EXPECT_TRUE(in_vgis_segment(*kept[0].column(0)));
  EXPECT_FALSE(in_vgis_segment(*kept[1].column(0))) << "no room while the first is held";
  EXPECT_FALSE(in_vgis_segment(*kept[2].column(0)));
}

TEST_F(ShmSide, ProducerBatchesAreReadInPlaceAndFreedByTheEndOfTheStream) {
  auto cl = client();
  auto call = cl.open_stream(spec("blobs"),
                             int_params({{"n", 8}, {"size", static_cast<std::int64_t>(kBig)}}), {});
  ASSERT_TRUE(call) << call.error().what();
  std::optional<vgis::Segment> seg;
  for (int i = 0; i < 8; ++i) {
    auto b = call->next();
    ASSERT_TRUE(b) << b.error().what();
    ASSERT_TRUE(*b);
    EXPECT_TRUE(in_vgis_segment(*(*b)->column(0)));
    EXPECT_EQ((*b)->column(0)->bytes_value(0), std::string(kBig, static_cast<char>('a' + i)));
    if (!seg) seg = source_of(**b);
    ASSERT_TRUE(seg);
    EXPECT_LE(seg->num_allocs(), 2U) << "batches the caller dropped are freed at its next turn";
  }
  auto end = call->next();
  ASSERT_TRUE(end) << end.error().what();
  EXPECT_FALSE(*end);
  EXPECT_EQ(seg->num_allocs(), 0U) << "the end of the output stream leaves every region free";
}

TEST_F(ShmSide, ExchangeInputsAndOutputsBothUseTheSegment) {
  auto cl = client();
  auto call = cl.open_stream(spec("echo_stream"),
                             arrow::RecordBatch::empty(arrow::schema({})).value(), {false, true});
  ASSERT_TRUE(call) << call.error().what();
  for (std::size_t i = 0; i < 5; ++i) {
    auto out = call->exchange(blob_batch("data", kBig + i));
    ASSERT_TRUE(out) << out.error().what();
    EXPECT_EQ(out->column(0)->bytes_value(0), std::string(kBig + i, 'e'));
    EXPECT_TRUE(in_vgis_segment(*out->column(0)));
  }
  EXPECT_EQ(g_inputs_in_place.load(), 5);
  ASSERT_TRUE(call->close());
}

TEST_F(ShmSide, AServerWithoutSharedMemoryGetsPlainPipeTraffic) {
  TearDown();
  ServerOptions o;
  o.shared_memory = false;
  start(o);
  auto cl = client();
  auto r = cl.call(spec("echo"), blob_batch("data", kBig, 'p'));
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->column(0)->bytes_value(0), std::string(kBig, 'p'));
  EXPECT_FALSE(r->metadata().contains(vgis::kShmSourceKey));
  EXPECT_EQ(g_params_in_place.load(), 0);
}

TEST_F(ShmSide, TcpNeverNegotiatesSharedMemory) {
  auto l = Listener::listen_tcp("127.0.0.1", 0);
  ASSERT_TRUE(l) << l.error().what();
  Server tcp_server;
  tcp_server.host(shm_protocol());
  Result<void> served = ok();
  std::thread t([&] { served = tcp_server.serve(*l); });
  ClientOptions o;
  o.default_timeout = 20s;
  o.shm_segment_size = kSegment;
  auto cl = Client::connect(l->endpoint(), o);
  ASSERT_TRUE(cl) << cl.error().what();
  auto r = cl->call(spec("echo"), blob_batch("data", kBig, 't'));
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_FALSE(r->metadata().contains(vgis::kShmSourceKey));
  EXPECT_EQ(g_params_in_place.load(), 0);
  tcp_server.stop();
  t.join();
  EXPECT_TRUE(served) << served.error().what();
}

// A worker process on stdin/stdout (sluice-conformance): the side channel
// over pipes, with the server in another process.
TEST(ShmSideExec, AWorkerOnPipesSendsLargeBatchesThroughTheSegment) {
  ClientOptions o;
  o.default_timeout = 30s;
  o.shm_segment_size = kSegment;
  auto cl = Client::connect("exec:" + test::helper_path("sluice-conformance"), o);
  ASSERT_TRUE(cl) << cl.error().what();
  const CallSpec big{"ConformanceService", "1.0.0", "oversized_unary"};
  auto r = cl->call(big, int_params({{"target_bytes", 1 << 20}}));
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->column(0)->bytes_value(0), std::string(1 << 20, '\0'));
  EXPECT_TRUE(in_vgis_segment(*r->column(0)));
  auto echo =
      cl->call({"ConformanceService", "1.0.0", "echo_bytes"}, blob_batch("data", kBig, 'b'));
  ASSERT_TRUE(echo) << echo.error().what();
  EXPECT_EQ(echo->column(0)->bytes_value(0), std::string(kBig, 'b'));
  EXPECT_TRUE(in_vgis_segment(*echo->column(0)));

  auto call = cl->open_stream({"ConformanceService", "1.0.0", "produce_large_batches"},
                              int_params({{"rows_per_batch", 20000}, {"batch_count", 4}}), {});
  ASSERT_TRUE(call) << call.error().what();
  std::int64_t rows = 0;
  for (;;) {
    auto b = call->next();
    ASSERT_TRUE(b) << b.error().what();
    if (!*b) break;
    EXPECT_TRUE(in_vgis_segment(*(*b)->column(0)));
    for (std::int64_t i = 0; i < (*b)->num_rows(); ++i, ++rows)
      ASSERT_EQ((*b)->column(1)->int_value(i), (*b)->column(0)->int_value(i) * 10);
  }
  EXPECT_EQ(rows, 80000);
}

// --- the bytes on the wire, checked by a hand-written peer ------------------------------------

// Reads one request stream from `in` and returns its single batch.
arrow::RecordBatch read_request(IpcInput& in) {
  auto reader = in.open();
  EXPECT_TRUE(reader) << reader.error().what();
  auto b = reader->next();
  EXPECT_TRUE(b && *b);
  auto eos = reader->next();
  EXPECT_TRUE(eos && !*eos);
  return std::move(**b);
}

TEST(ShmSideWire, TheClientNegotiatesAdvertisesAndSendsPointersAsSection10Says) {
  std::array<int, 2> sv{};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv.data()), 0);
  ClientOptions o;
  o.default_timeout = 20s;
  o.shm_segment_size = kSegment;
  auto cl = Client::over(std::make_unique<FdConnection>(sv[0], sv[0], "test"), o);
  FdConnection peer(sv[1], sv[1], "peer");
  std::string failure;
  std::thread fake([&] {
    IpcInput in(peer, {});
    IpcOutput out(peer);
    // 1. __transport_options__: empty schema, shm "true" asked.
    auto opt = read_request(in);
    if (opt.schema()->num_fields() != 0 || opt.num_rows() != 0 ||
        opt.metadata().get(key::method).value_or("") != kTransportOptionsMethod ||
        opt.metadata().get(key::transport_shm).value_or("") != "true" ||
        opt.metadata().get(key::request_version).value_or("") != "1") {
      failure = "bad __transport_options__ request";
      return;
    }
    arrow::KeyValueMetadata md;
    md.set(std::string(key::transport_shm), "true");
    md.set(std::string(key::server_id), "0123456789ab");
    md.set(std::string(key::request_version), "1");
    (void)out.write_stream(arrow::schema({}),
                           {arrow::RecordBatch::empty(arrow::schema({}), md).value()});
    // 2. The request: a 0-row pointer batch on the parameters' schema, with the advert.
    auto req = read_request(in);
    const auto& rm = req.metadata();
    auto name = rm.get(key::shm_segment_name);
    auto size = rm.get(key::shm_segment_size);
    if (!name || !size || req.num_rows() != 0 || !rm.contains(key::shm_offset) ||
        !rm.contains(key::shm_length) || rm.get(key::method).value_or("") != "echo" ||
        !req.schema()->equals(*data_schema("data"))) {
      failure = "the request is not a pointer batch with a segment advert";
      return;
    }
    auto seg = vgis::Segment::attach(*name);
    if (!seg || std::to_string(seg->size()) != *size) {
      failure = "the advertised segment does not attach at its size";
      return;
    }
    auto region = vgis::pointer_region(req).value();
    auto table = seg->allocations();
    if (table.size() != 1 || table[0] != region) {
      failure = "the table does not hold exactly the request's region";
      return;
    }
    // A complete IPC stream: continuation marker first, end-of-stream last.
    auto bytes = seg->bytes(region.offset, region.length).value();
    const std::array<unsigned char, 8> eos{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
    if (std::memcmp(bytes.data(), eos.data(), 4) != 0 ||
        std::memcmp(bytes.data() + bytes.size() - 8, eos.data(), 8) != 0) {
      failure = "the region is not a whole IPC stream";
      return;
    }
    auto params = vgis::resolve_pointer_batch(req, *seg).value();
    if (params.batch.column(0)->bytes_value(0) != std::string(kBig, 'w')) {
      failure = "the request's region holds the wrong bytes";
      return;
    }
    (void)seg->free(*params.release_offset);  // the reader frees
    // 3. The answer as a pointer into the client's segment.
    auto result = blob_batch("result", kBig, 'r');
    auto wrote = seg->write_batch(result);
    auto ptr = vgis::make_pointer_batch(result.schema(), *wrote).value();
    (void)out.write_stream(result.schema(), {ptr});
  });
  auto r = cl.call({"ShmTest", "", "echo"}, blob_batch("data", kBig, 'w'));
  fake.join();
  ASSERT_TRUE(failure.empty()) << failure;
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->column(0)->bytes_value(0), std::string(kBig, 'r'));
  EXPECT_TRUE(in_vgis_segment(*r->column(0)));
}

TEST(ShmSideWire, AServerWithoutTheMethodMeansNoSharedMemory) {
  std::array<int, 2> sv{};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv.data()), 0);
  ClientOptions o;
  o.default_timeout = 20s;
  o.shm_segment_size = kSegment;
  auto cl = Client::over(std::make_unique<FdConnection>(sv[0], sv[0], "test"), o);
  FdConnection peer(sv[1], sv[1], "peer");
  std::string failure;
  std::thread fake([&] {
    IpcInput in(peer, {});
    IpcOutput out(peer);
    (void)read_request(in);
    // What the npm server (0.25.4) answers: an error stream.
    RemoteError e;
    e.type = "ProtocolNotSpecifiedError";
    e.message = "no protocol";
    (void)out.write_stream(arrow::schema({}), {error_batch(arrow::schema({}), e, {})});
    auto req = read_request(in);
    if (req.num_rows() != 1 || req.metadata().contains(key::shm_segment_name) ||
        req.metadata().contains(key::shm_offset))
      failure = "the request after a refusal still uses shared memory";
    (void)out.write_stream(data_schema("result"), {blob_batch("result", 3, 'z')});
  });
  auto r = cl.call({"ShmTest", "", "echo"}, blob_batch("data", kBig));
  fake.join();
  ASSERT_TRUE(failure.empty()) << failure;
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->column(0)->bytes_value(0), "zzz");
}

// A server that receives a pointer with no segment attached, or a pointer
// outside the segment, answers with an error and goes on serving.
TEST_F(ShmSide, BadPointersGetClearErrors) {
  auto send = [&](const arrow::RecordBatch& req) -> RemoteError {
    auto conn = connect_unix(path_).value();
    IpcOutput out(*conn);
    IpcInput in(*conn, {});
    EXPECT_TRUE(out.write_stream(req.schema(), {req}));
    auto reader = in.open().value();
    for (;;) {
      auto b = reader.next();
      if (!b || !*b) break;
      if (classify(**b) == BatchKind::error) return decode_error(**b);
    }
    return {};
  };
  arrow::KeyValueMetadata md;
  md.set(std::string(key::method), "echo");
  md.set(std::string(key::protocol), "ShmTest");
  md.set(std::string(key::protocol_version), "1.0.0");
  md.set(std::string(key::request_version), "1");
  auto ptr = vgis::make_pointer_batch(data_schema("data"), {vgis::kHeaderSize, 4096}, md).value();
  auto e = send(ptr);
  EXPECT_NE(e.message.find("no shared-memory segment is attached"), std::string::npos) << e.message;

  auto seg = vgis::Segment::create(vgis::Segment::unique_name(), 1 << 20).value();
  md.set(std::string(key::shm_segment_name), seg.name());
  md.set(std::string(key::shm_segment_size), std::to_string(seg.size()));
  for (const auto& region :
       {vgis::Allocation{1ULL << 40, 64}, vgis::Allocation{0, 64},
        vgis::Allocation{vgis::kHeaderSize, 1ULL << 30}, vgis::Allocation{vgis::kHeaderSize, 64}}) {
    auto bad = vgis::make_pointer_batch(data_schema("data"), region, md).value();
    e = send(bad);
    EXPECT_FALSE(e.message.empty()) << "region " << region.offset << "+" << region.length;
    EXPECT_NE(e.message.find("shared memory"), std::string::npos) << e.message;
  }
  // Still serving, with shared memory.
  auto cl = client();
  auto r = cl.call(spec("echo"), blob_batch("data", kBig, 'h'));
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->column(0)->bytes_value(0), std::string(kBig, 'h'));
}

}  // namespace
}  // namespace sluice::rpc
