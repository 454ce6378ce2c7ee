#pragma once
// The RPC server: hosts several protocols on one endpoint, routed by
// vgi_rpc.protocol (Gen B/C), co-hosts vgi_rpc.Reflection.v1, answers Gen A
// requests (no routing key: the primary protocol, `__describe__`), and runs
// unary, producer and exchange calls in the lockstep of PROTOCOL.md §6.
//
// Concurrency: one thread per connection with blocking I/O. A connection
// carries one call at a time (the wire protocol is sequential per
// connection), so a thread per connection is the whole scheduler; handlers
// are plain synchronous functions. docs/rpc.md says why this beats an Asio
// event loop for local callers.
//
// A handler that throws, returns an error or emits a wrong batch produces an
// error for its caller; malformed, truncated or oversized input closes that
// one connection with an error; nothing a client sends takes the server down.

#include <sluice/rpc/framing.hpp>
#include <sluice/rpc/service.hpp>
#include <sluice/rpc/transport.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::rpc {

struct ServerOptions {
  std::string server_version;  // reported by list_protocols; default: sluice's version
  // Where requests without a routing key go (Gen A clients). Empty: the first
  // hosted protocol. With require_routing_key they get protocol_not_specified.
  std::string primary_protocol;
  bool require_routing_key = false;
  bool host_reflection = true;  // co-host vgi_rpc.Reflection.v1
  bool gen_a_describe = true;   // answer `__describe__` without a routing key
  // Error batches carry a traceback (synthesised: C++ has no stack to show).
  bool tracebacks = true;
  FramingLimits limits;                        // per request and per input stream
  std::size_t max_connections = 1024;          // more are closed at once
  std::size_t max_concurrent_calls = 1024;     // in total; more get RESOURCE_EXHAUSTED
  std::chrono::milliseconds idle_timeout{0};   // between calls; 0: none
  std::chrono::milliseconds stop_grace{5000};  // stop(): time for calls in flight
  std::string access_log_path;                 // JSONL records (PROTOCOL.md §12); "" none
  // vgi-rpc's shared-memory side channel (PROTOCOL.md §10) on pipes and Unix
  // sockets: offered to clients that ask through __transport_options__.
  bool shared_memory = true;
  std::uint64_t shm_min_batch_bytes = 0;  // 0: 128 KiB, or VGI_RPC_SHM_MIN_BATCH_BYTES
};

struct ServerStats {
  std::uint64_t connections = 0;
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  std::uint64_t rejected_connections = 0;
};

class Server {
 public:
  explicit Server(ServerOptions options = {});
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  // Registration, before serving.
  Server& host(Protocol protocol);

  // Serves one connection until the peer closes it (stdio workers).
  Result<void> serve_connection(Connection& conn);
  // Accepts and serves connections, a thread each, until stop().
  Result<void> serve(Listener& listener);
  // Graceful: stops accepting, lets calls in flight finish (stop_grace), closes
  // idle connections, then waits for every connection thread. Any thread.
  void stop();

  [[nodiscard]] const std::string& server_id() const noexcept { return server_id_; }
  [[nodiscard]] const std::vector<std::unique_ptr<Protocol>>& protocols() const noexcept {
    return protocols_;
  }
  [[nodiscard]] ServerStats stats() const;

  struct Impl;

 private:
  void finish_setup();
  ServerOptions options_;
  std::string server_id_;
  std::vector<std::unique_ptr<Protocol>> protocols_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::rpc
