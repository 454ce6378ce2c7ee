#pragma once
// Internal to the rpc layer: the per-connection request loop behind Server.

#include <sluice/rpc/framing.hpp>
#include <sluice/rpc/internal/side_channel.hpp>
#include <sluice/rpc/server.hpp>
#include <sluice/rpc/service.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sluice::rpc {

struct AccessRecord {
  std::string server_id;
  std::string protocol;
  std::string protocol_hash;
  std::string method;
  std::string method_type;
  std::string remote_addr;
  std::string request_id;
  std::chrono::nanoseconds duration{0};
  std::string status = "ok";  // "ok" | "error"
  std::string error_type;
};

class AccessLog {
 public:
  AccessLog() = default;
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;
  ~AccessLog();
  Result<void> open(const std::string& path);
  [[nodiscard]] bool enabled() const noexcept { return file_ != nullptr; }
  void write(const AccessRecord& r);

 private:
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
};

class Dispatcher {
 public:
  void setup(const ServerOptions& options, const std::string& server_id,
             const std::vector<std::unique_ptr<Protocol>>& protocols);
  Result<std::string> hash_of(const Protocol& p);
  // Serves requests until the peer closes, a framing error, or `stopping`.
  Result<void> serve(Connection& conn, std::atomic<bool>& busy, const std::atomic<bool>& stopping);
  [[nodiscard]] ServerStats stats() const;

 private:
  struct Call;
  Result<bool> one_request(Connection& conn, IpcInput& in, IpcOutput& out, SideChannel& side);
  Result<void> run_unary(Call& call, IpcOutput& out);
  Result<void> run_stream(Call& call, IpcInput& in, IpcOutput& out);
  // The request's use of the side channel: attach the segment it
  // advertises, resolve it if it is a pointer batch.
  Result<arrow::RecordBatch> take_shm(Connection& conn, SideChannel& side,
                                      const arrow::RecordBatch& request, Call& call);
  Result<void> write_error_stream(IpcOutput& out, const arrow::SchemaPtr& schema,
                                  const RemoteError& e, const Stamp& stamp);
  RemoteError from_error(const Error& e, const Call* call) const;
  RemoteError from_exception(const std::exception& e, const Call* call) const;
  void add_traceback(RemoteError& e, const Call* call) const;

  const ServerOptions* options_ = nullptr;
  std::string server_id_;
  const std::vector<std::unique_ptr<Protocol>>* protocols_ = nullptr;
  const Protocol* primary_ = nullptr;
  std::mutex hash_mutex_;
  std::map<const Protocol*, std::string> hashes_;
  AccessLog access_log_;
  std::atomic<std::size_t> calls_in_flight_{0};
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> errors_{0};
};

// Casts an exchange input batch to the declared schema (PROTOCOL.md §6):
// columns matched by name, integer and float32 columns widened to a declared
// float64 or int64; a different set of fields is an error.
Result<arrow::RecordBatch> coerce_input(const arrow::RecordBatch& batch,
                                        const arrow::SchemaPtr& schema);

}  // namespace sluice::rpc
