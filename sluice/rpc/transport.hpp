#pragma once
// Byte-stream transports of the RPC layer: a Connection is a full-duplex byte
// stream (a socket, or a pair of pipes to a worker process) that carries Arrow
// IPC streams back to back. Listeners accept connections on a Unix socket or
// a TCP port. Shared memory and HTTP are further transports built on the same
// Connection interface.
//
// Reads and writes loop over short transfers and EINTR, clamp each system
// call below INT_MAX bytes (so a 3 GiB parameter moves in pieces) and honour
// a deadline: a read or write that cannot make progress before it fails with
// Errc::timed_out. A Connection is used by one thread at a time.

#include <sluice/base/result.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::rpc {

class Connection {
 public:
  virtual ~Connection() = default;
  // Up to out.size() bytes; 0 at end of input.
  virtual Result<std::size_t> read_some(std::span<std::byte> out) = 0;
  // All of `bytes`, or an error.
  virtual Result<void> write_all(std::span<const std::byte> bytes) = 0;
  // Waits until a read would not block (or the peer closed): false on timeout.
  virtual Result<bool> wait_readable(std::chrono::milliseconds timeout) = 0;
  // Ends our direction (the peer reads end of input); reading still works.
  virtual void shutdown_write() noexcept = 0;
  // From another thread: a blocked read returns end of input (sockets).
  virtual void interrupt() noexcept {}
  // Absolute deadline for every later read and write (nullopt: none).
  void set_deadline(std::optional<std::chrono::steady_clock::time_point> d) noexcept {
    deadline_ = d;
  }
  [[nodiscard]] std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept {
    return deadline_;
  }
  // "unix:/run/x.sock", "tcp:127.0.0.1:5000 from 127.0.0.1:41234", "exec:pid 1234".
  [[nodiscard]] virtual std::string describe() const = 0;
  // The peer runs on this machine and may share memory with us (pipes and
  // Unix sockets; never TCP): what the vgi-rpc side channel requires.
  [[nodiscard]] virtual bool same_host() const noexcept { return false; }
  // The peer's user, where the kernel says (SO_PEERCRED; a pipe's peer is
  // taken to be this process's user).
  [[nodiscard]] virtual std::optional<uid_t> peer_uid() const noexcept { return std::nullopt; }

 private:
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

// A connection over one or two file descriptors (owned): a socket (in == out)
// or a pipe pair.
class FdConnection final : public Connection {
 public:
  FdConnection(int in_fd, int out_fd, std::string description, bool owns = true);
  FdConnection(const FdConnection&) = delete;
  FdConnection& operator=(const FdConnection&) = delete;
  ~FdConnection() override;
  Result<std::size_t> read_some(std::span<std::byte> out) override;
  Result<void> write_all(std::span<const std::byte> bytes) override;
  Result<bool> wait_readable(std::chrono::milliseconds timeout) override;
  void shutdown_write() noexcept override;
  void interrupt() noexcept override;
  [[nodiscard]] std::string describe() const override { return description_; }
  [[nodiscard]] bool same_host() const noexcept override { return same_host_; }
  [[nodiscard]] std::optional<uid_t> peer_uid() const noexcept override { return peer_uid_; }
  [[nodiscard]] int in_fd() const noexcept { return in_; }
  [[nodiscard]] int out_fd() const noexcept { return out_; }

 private:
  Result<void> wait(short events, const char* what);
  int in_;
  int out_;
  bool owns_;
  bool out_is_socket_;
  bool same_host_ = false;
  std::optional<uid_t> peer_uid_;
  bool write_closed_ = false;
  std::string description_;
};

// Where a server listens or a client connects:
//   unix:PATH | tcp:HOST:PORT | exec:COMMAND [ARGS...] (clients only)
struct Endpoint {
  enum class Kind : std::uint8_t { unix_socket, tcp, exec };
  Kind kind = Kind::unix_socket;
  std::string path;               // unix
  std::string host;               // tcp
  std::uint16_t port = 0;         // tcp (0: the OS picks, listeners only)
  std::vector<std::string> argv;  // exec
  static Result<Endpoint> parse(std::string_view text);
  [[nodiscard]] std::string to_string() const;
};

Result<std::unique_ptr<Connection>> connect_unix(const std::string& path);
Result<std::unique_ptr<Connection>> connect_tcp(const std::string& host, std::uint16_t port);

// A worker subprocess whose stdin/stdout carry the connection; its stderr is
// inherited. Destroying the connection closes the pipes and waits for the
// worker (SIGTERM after a grace period, SIGKILL after another).
Result<std::unique_ptr<Connection>> spawn_worker(const std::vector<std::string>& argv);
Result<std::unique_ptr<Connection>> connect(const Endpoint& endpoint);

class Listener {
 public:
  // Unix: binds PATH with mode 0600; refuses to replace a socket that a live
  // server still accepts on, replaces a stale one; unlinks it on destruction.
  static Result<Listener> listen_unix(const std::string& path, int backlog = 128);
  // TCP (TCP_NODELAY on accepted sockets). Port 0 picks a free port.
  static Result<Listener> listen_tcp(const std::string& host, std::uint16_t port,
                                     int backlog = 128);
  Listener(Listener&& o) noexcept;
  Listener& operator=(Listener&& o) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

  // Next connection; nullopt once close() was called (from any thread).
  Result<std::optional<std::unique_ptr<Connection>>> accept();
  // Wakes a blocked accept() and stops listening.
  void close() noexcept;
  // The discovery line of PROTOCOL.md §12: "UNIX:/path" or "TCP:127.0.0.1:4321".
  [[nodiscard]] std::string discovery_line() const;
  [[nodiscard]] const Endpoint& endpoint() const noexcept { return endpoint_; }
  // "127.0.0.1:41234" for an accepted TCP connection, "local" otherwise.
  static std::string remote_address(const Connection& c);

 private:
  Listener() = default;
  int fd_ = -1;
  int wake_[2] = {-1, -1};  // self-pipe for close()
  Endpoint endpoint_;
  bool owns_path_ = false;
  bool closed_ = false;
  std::mutex close_mutex_;
};

}  // namespace sluice::rpc
