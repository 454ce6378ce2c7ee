// Fuzz target: the fuzzer's bytes are everything a stranger's client sends on
// one connection to an RPC server hosting the ConformanceService and
// conformance.Secondary.v1 (every codec, unary calls, producers, exchanges,
// headers, cancel, reflection). The server must answer or close the
// connection with an error, never crash, hang or read out of bounds; its
// responses go nowhere.
//
// Seeds (tests/fuzz/corpus/rpc_dispatch/) are real client traffic: what
// sluice_rpc_driver and the npm client wrote to sluice-conformance's stdin,
// captured with tee.

#include <sluice/rpc/conformance/api.hpp>
#include <sluice/rpc/server.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace {

using namespace sluice;

// A connection whose input is the fuzzer's bytes, in pieces of varying size
// (short reads), and whose output is counted and dropped.
class FuzzConnection final : public rpc::Connection {
 public:
  explicit FuzzConnection(std::span<const std::uint8_t> in) : in_(in) {}
  Result<std::size_t> read_some(std::span<std::byte> out) override {
    if (pos_ >= in_.size()) return std::size_t{0};
    // Piece sizes cycle through 1..4096 bytes, decided by the data.
    const std::size_t piece = 1 + (std::size_t{in_[pos_]} * 17U + reads_++ * 31U) % 4096U;
    const std::size_t n = std::min({out.size(), in_.size() - pos_, piece});
    std::memcpy(out.data(), in_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  Result<void> write_all(std::span<const std::byte> bytes) override {
    written_ += bytes.size();
    return ok();
  }
  Result<bool> wait_readable(std::chrono::milliseconds /*timeout*/) override { return true; }
  void shutdown_write() noexcept override {}
  [[nodiscard]] std::string describe() const override { return "fuzz"; }

 private:
  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
  std::size_t reads_ = 0;
  std::uint64_t written_ = 0;
};

rpc::Server& server() {
  static rpc::Server* s = [] {
    rpc::ServerOptions o;
    // Bounded input per stream, as a deployment would set it.
    o.limits.max_stream_bytes = std::uint64_t{4} << 20;
    o.limits.max_metadata_bytes = std::size_t{1} << 20;
    auto* srv = new rpc::Server(o);  // NOLINT(cppcoreguidelines-owning-memory): lives for the run
    srv->host(rpc::conformance::primary()).host(rpc::conformance::secondary_protocol());
    return srv;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzConnection conn({data, size});
  // An error result is the expected outcome for most inputs: the server
  // closed the connection with a reason.
  (void)server().serve_connection(conn);
  return 0;
}
