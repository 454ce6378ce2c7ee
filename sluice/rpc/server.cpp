#include <sluice/rpc/internal/dispatch.hpp>
#include <sluice/rpc/reflection.hpp>
#include <sluice/rpc/server.hpp>
#include <sluice/version.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <ctime>

namespace sluice::rpc {

// --- access log -------------------------------------------------------------------------------

AccessLog::~AccessLog() {
  if (file_ != nullptr) std::fclose(file_);
}

Result<void> AccessLog::open(const std::string& path) {
  file_ = std::fopen(path.c_str(), "ae");
  if (file_ == nullptr) return fail(Error::from_errno(errno, fmt::format("access log '{}'", path)));
  return ok();
}

void AccessLog::write(const AccessRecord& r) {
  if (file_ == nullptr) return;
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  const nlohmann::json j{
      {"timestamp",
       fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros)},
      {"level", r.status == "ok" ? "INFO" : "ERROR"},
      {"logger", "vgi_rpc.access"},
      {"message", fmt::format("{}/{} {}", r.protocol, r.method, r.status)},
      {"server_id", r.server_id},
      {"protocol", r.protocol},
      {"protocol_hash", r.protocol_hash},
      {"method", r.method},
      {"method_type", r.method_type},
      {"principal", ""},
      {"auth_domain", ""},
      {"authenticated", false},
      {"remote_addr", r.remote_addr},
      {"duration_ms", static_cast<double>(r.duration.count()) / 1e6},
      {"status", r.status},
      {"error_type", r.error_type},
      {"request_id", r.request_id},
  };
  const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

// --- server -----------------------------------------------------------------------------------

struct Server::Impl {
  struct Slot {
    Connection* conn = nullptr;
    std::atomic<bool> busy{false};
    std::thread thread;
    bool done = false;
  };
  std::mutex mutex;
  std::condition_variable changed;
  std::list<Slot> slots;
  std::atomic<bool> stopping{false};
  Listener* listener = nullptr;
  bool set_up = false;
  Dispatcher dispatcher;
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> rejected{0};
};

Server::Server(ServerOptions options)
    : options_(std::move(options)), server_id_(random_hex(12)), impl_(std::make_unique<Impl>()) {
  if (options_.server_version.empty()) options_.server_version = std::string(sluice::version);
}

Server::~Server() { stop(); }

Server& Server::host(Protocol protocol) {
  SLUICE_CHECK(!impl_->set_up, "Server::host after serving began");
  for (const auto& p : protocols_)
    SLUICE_CHECK(p->name() != protocol.name(), "protocol '{}' hosted twice", protocol.name());
  protocols_.push_back(std::make_unique<Protocol>(std::move(protocol)));
  return *this;
}

void Server::finish_setup() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->set_up) return;
  impl_->set_up = true;
  if (options_.host_reflection) {
    Protocol reflection{std::string(kReflectionProtocol)};
    reflection.implement(reflection::list_protocols, [this]() -> Result<ProtocolList> {
      ProtocolList out;
      out.server_id = server_id_;
      out.server_version = options_.server_version;
      out.request_version = std::string(kRequestVersion);
      for (const auto& p : protocols_) {
        ProtocolSummary s;
        s.protocol = p->name();
        s.protocol_version = p->version();
        SLUICE_TRY_ASSIGN(s.protocol_hash, impl_->dispatcher.hash_of(*p));
        s.deprecated = p->deprecated();
        s.deprecation_message = p->deprecation_message();
        out.protocols.push_back(std::move(s));
      }
      return out;
    });
    reflection.implement(reflection::describe,
                         [this](const std::string& name) -> Result<ServiceDescription> {
                           for (const auto& p : protocols_)
                             if (p->name() == name) return describe_protocol(*p);
                           throw ServiceError("ProtocolNotSupportedError",
                                              fmt::format("no protocol '{}' is hosted here", name))
                               .kind("protocol_not_supported");
                         });
    protocols_.push_back(std::make_unique<Protocol>(std::move(reflection)));
  }
  impl_->dispatcher.setup(options_, server_id_, protocols_);
}

ServerStats Server::stats() const {
  ServerStats s = impl_->dispatcher.stats();
  s.connections = impl_->connections.load();
  s.rejected_connections = impl_->rejected.load();
  return s;
}

Result<void> Server::serve_connection(Connection& conn) {
  finish_setup();
  impl_->connections.fetch_add(1, std::memory_order_relaxed);
  std::atomic<bool> busy{false};
  return impl_->dispatcher.serve(conn, busy, impl_->stopping);
}

Result<void> Server::serve(Listener& listener) {
  finish_setup();
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) return ok();
    impl_->listener = &listener;
  }
  Result<void> status = ok();
  while (!impl_->stopping) {
    auto next = listener.accept();
    if (!next) {
      status = fail(next.error());
      break;
    }
    if (!next->has_value()) break;  // closed
    std::unique_ptr<Connection> conn = std::move(**next);
    std::unique_lock lock(impl_->mutex);
    // Reap finished connection threads.
    for (auto it = impl_->slots.begin(); it != impl_->slots.end();) {
      if (it->done) {
        it->thread.join();
        it = impl_->slots.erase(it);
      } else {
        ++it;
      }
    }
    if (impl_->slots.size() >= options_.max_connections || impl_->stopping) {
      impl_->rejected.fetch_add(1, std::memory_order_relaxed);
      continue;  // closes it
    }
    impl_->connections.fetch_add(1, std::memory_order_relaxed);
    Impl::Slot& slot = impl_->slots.emplace_back();
    slot.conn = conn.get();
    slot.thread = std::thread([this, &slot, c = std::move(conn)]() mutable {
      auto r = impl_->dispatcher.serve(*c, slot.busy, impl_->stopping);
      (void)r;  // per-connection failures end that connection only
      std::lock_guard l(impl_->mutex);
      slot.conn = nullptr;
      c.reset();
      slot.done = true;
      impl_->changed.notify_all();
    });
  }
  {
    std::lock_guard lock(impl_->mutex);
    impl_->listener = nullptr;
  }
  return status;
}

void Server::stop() {
  std::unique_lock lock(impl_->mutex);
  impl_->stopping = true;
  if (impl_->listener != nullptr) impl_->listener->close();
  // Idle connections end now; busy ones finish their call first.
  const auto deadline = std::chrono::steady_clock::now() + options_.stop_grace;
  for (;;) {
    bool any = false;
    for (auto& s : impl_->slots) {
      if (s.conn == nullptr) continue;
      any = true;
      if (!s.busy.load()) s.conn->interrupt();
    }
    if (!any) break;
    if (impl_->changed.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (auto& s : impl_->slots)
        if (s.conn != nullptr) s.conn->interrupt();
      impl_->changed.wait_for(lock, std::chrono::milliseconds(100));
      if (std::chrono::steady_clock::now() > deadline + std::chrono::seconds(5)) break;
    }
  }
  std::list<Impl::Slot> slots = std::move(impl_->slots);
  impl_->slots.clear();
  lock.unlock();
  for (auto& s : slots)
    if (s.thread.joinable()) s.thread.join();
}

}  // namespace sluice::rpc
