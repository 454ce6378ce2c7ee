#include <sluice/rpc/transport.hpp>

#include <fmt/format.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <thread>

extern char** environ;  // NOLINT(readability-redundant-declaration): posix_spawn's envp

namespace sluice::rpc {
namespace {

// Below INT_MAX, so one system call never sees a length it cannot report.
constexpr std::size_t kMaxIo = std::size_t{1} << 30;

bool is_socket(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Milliseconds until the deadline for poll(): -1 without one, 0 when past.
int poll_timeout(std::optional<std::chrono::steady_clock::time_point> deadline) {
  if (!deadline) return -1;
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return 0;
  return static_cast<int>(std::min<std::int64_t>(left.count(), INT_MAX));
}

// Writes to a pipe whose reader is gone raise SIGPIPE, which would kill a
// client whose worker died. Sockets use MSG_NOSIGNAL; for pipes the signal is
// blocked on this thread for the write and a pending one is consumed.
ssize_t write_no_sigpipe(int fd, const void* data, std::size_t size, bool socket) {
  if (socket) return ::send(fd, data, size, MSG_NOSIGNAL);
  sigset_t pipe_set;
  sigset_t old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  const ssize_t n = ::write(fd, data, size);
  const int err = errno;
  if (n < 0 && err == EPIPE) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return n;
}

}  // namespace

// --- FdConnection ----------------------------------------------------------------------------

FdConnection::FdConnection(int in_fd, int out_fd, std::string description, bool owns)
    : in_(in_fd),
      out_(out_fd),
      owns_(owns),
      out_is_socket_(is_socket(out_fd)),
      description_(std::move(description)) {
  if (!out_is_socket_) {
    same_host_ = true;  // a pipe
    peer_uid_ = ::geteuid();
    return;
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(out_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      addr.ss_family != AF_UNIX)
    return;
  same_host_ = true;
  ucred cred{};
  socklen_t cred_len = sizeof cred;
  if (::getsockopt(out_fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0) peer_uid_ = cred.uid;
}

FdConnection::~FdConnection() {
  if (!owns_) return;
  if (out_ != in_) close_fd(out_);
  close_fd(in_);
}

Result<void> FdConnection::wait(short events, const char* what) {
  if (!deadline()) return ok();
  const int fd = (events & POLLIN) != 0 ? in_ : out_;
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, poll_timeout(deadline()));
    if (n > 0) return ok();
    if (n == 0) return fail(Errc::timed_out, "{} on {}: deadline passed", what, description_);
    if (errno != EINTR) return fail(Error::from_errno(errno, fmt::format("poll {}", description_)));
  }
}

Result<std::size_t> FdConnection::read_some(std::span<std::byte> out) {
  if (out.empty()) return std::size_t{0};
  SLUICE_TRY(wait(POLLIN, "read"));
  for (;;) {
    const ssize_t n = ::read(in_, out.data(), std::min(out.size(), kMaxIo));
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return std::size_t{0};  // the peer is gone: end of input
    return fail(Error::from_errno(errno, fmt::format("read {}", description_)));
  }
}

Result<void> FdConnection::write_all(std::span<const std::byte> bytes) {
  if (write_closed_) return fail(Errc::closed, "write to {} after shutdown", description_);
  while (!bytes.empty()) {
    SLUICE_TRY(wait(POLLOUT, "write"));
    const ssize_t n =
        write_no_sigpipe(out_, bytes.data(), std::min(bytes.size(), kMaxIo), out_is_socket_);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET)
        return fail(Errc::peer_gone, "write {}: the peer closed the connection", description_);
      return fail(Error::from_errno(errno, fmt::format("write {}", description_)));
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return ok();
}

Result<bool> FdConnection::wait_readable(std::chrono::milliseconds timeout) {
  for (;;) {
    pollfd p{in_, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(timeout.count(), INT_MAX)));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return fail(Error::from_errno(errno, fmt::format("poll {}", description_)));
  }
}

void FdConnection::shutdown_write() noexcept {
  if (write_closed_) return;
  write_closed_ = true;
  if (out_is_socket_) {
    ::shutdown(out_, SHUT_WR);
  } else if (out_ != in_ && owns_) {
    close_fd(out_);
  }
}

void FdConnection::interrupt() noexcept {
  if (is_socket(in_)) ::shutdown(in_, SHUT_RD);
}

// --- Endpoint --------------------------------------------------------------------------------

namespace {

std::vector<std::string> split_command(std::string_view text) {
  // Whitespace-separated words; single or double quotes group words.
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (const char c : text) {
    if (quote != 0) {
      if (c == quote)
        quote = 0;
      else
        cur.push_back(c);
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) out.push_back(std::move(cur)), cur.clear();
      in_word = false;
    } else {
      cur.push_back(c);
      in_word = true;
    }
  }
  if (in_word) out.push_back(std::move(cur));
  return out;
}

Result<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return fail(Errc::invalid_argument, "'{}': expected HOST:PORT", text);
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  if (port_text.empty() || port_text.size() > 5)
    return fail(Errc::invalid_argument, "'{}': bad port", text);
  for (const char c : port_text) {
    if (c < '0' || c > '9') return fail(Errc::invalid_argument, "'{}': bad port", text);
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535) return fail(Errc::invalid_argument, "'{}': port above 65535", text);
  return std::pair{std::move(host), static_cast<std::uint16_t>(port)};
}

}  // namespace

Result<Endpoint> Endpoint::parse(std::string_view text) {
  Endpoint e;
  if (text.starts_with("unix:")) {
    e.kind = Kind::unix_socket;
    e.path = std::string(text.substr(5));
    if (e.path.empty()) return fail(Errc::invalid_argument, "'{}': empty socket path", text);
    if (e.path.size() >= sizeof(sockaddr_un::sun_path))
      return fail(Errc::invalid_argument, "'{}': socket path longer than {} bytes", text,
                  sizeof(sockaddr_un::sun_path) - 1);
    return e;
  }
  if (text.starts_with("tcp:")) {
    e.kind = Kind::tcp;
    SLUICE_TRY_ASSIGN(auto hp, parse_host_port(text.substr(4)));
    e.host = std::move(hp.first);
    e.port = hp.second;
    return e;
  }
  if (text.starts_with("exec:")) {
    e.kind = Kind::exec;
    e.argv = split_command(text.substr(5));
    if (e.argv.empty()) return fail(Errc::invalid_argument, "'{}': empty command", text);
    return e;
  }
  return fail(Errc::invalid_argument, "'{}': expected unix:PATH, tcp:HOST:PORT or exec:COMMAND",
              text);
}

std::string Endpoint::to_string() const {
  switch (kind) {
    case Kind::unix_socket:
      return "unix:" + path;
    case Kind::tcp:
      return fmt::format("tcp:{}:{}", host, port);
    case Kind::exec: {
      std::string s = "exec:";
      for (std::size_t i = 0; i < argv.size(); ++i) s += (i != 0U ? " " : "") + argv[i];
      return s;
    }
  }
  return "?";
}

// --- connecting ------------------------------------------------------------------------------

namespace {

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(a.sun_path))
    return fail(Errc::invalid_argument, "socket path '{}': empty or longer than {} bytes", path,
                sizeof(a.sun_path) - 1);
  std::memcpy(a.sun_path, path.data(), path.size());
  return a;
}

void set_nodelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::string peer_name(const sockaddr_storage& a) {
  char host[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return fmt::format("{}:{}", host, ntohs(in->sin_port));
  }
  if (a.ss_family == AF_INET6) {
    const auto* in = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
    return fmt::format("[{}]:{}", host, ntohs(in->sin6_port));
  }
  return "local";
}

// A worker process on the other end of two pipes.
class WorkerConnection final : public Connection {
 public:
  WorkerConnection(int in_fd, int out_fd, pid_t pid)
      : fds_(in_fd, out_fd, fmt::format("exec:pid {}", pid)), pid_(pid) {}
  WorkerConnection(const WorkerConnection&) = delete;
  WorkerConnection& operator=(const WorkerConnection&) = delete;
  ~WorkerConnection() override {
    fds_.shutdown_write();  // stdin EOF: a well-behaved worker exits
    if (reap_within(std::chrono::milliseconds(2000))) return;
    ::kill(pid_, SIGTERM);
    if (reap_within(std::chrono::milliseconds(2000))) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  Result<std::size_t> read_some(std::span<std::byte> out) override {
    fds_.set_deadline(deadline());
    return fds_.read_some(out);
  }
  Result<void> write_all(std::span<const std::byte> bytes) override {
    fds_.set_deadline(deadline());
    return fds_.write_all(bytes);
  }
  Result<bool> wait_readable(std::chrono::milliseconds timeout) override {
    return fds_.wait_readable(timeout);
  }
  void shutdown_write() noexcept override { fds_.shutdown_write(); }
  [[nodiscard]] std::string describe() const override { return fds_.describe(); }
  [[nodiscard]] bool same_host() const noexcept override { return fds_.same_host(); }
  [[nodiscard]] std::optional<uid_t> peer_uid() const noexcept override { return fds_.peer_uid(); }

 private:
  bool reap_within(std::chrono::milliseconds grace) const {
    const auto until = std::chrono::steady_clock::now() + grace;
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) return true;
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  FdConnection fds_;
  pid_t pid_;
};

}  // namespace

Result<std::unique_ptr<Connection>> connect_unix(const std::string& path) {
  SLUICE_TRY_ASSIGN(sockaddr_un a, unix_address(path));
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(Error::from_errno(errno, "socket(AF_UNIX)"));
  while (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    ::close(fd);
    return fail(Error::from_errno(err, fmt::format("connect unix:{}", path)));
  }
  return std::unique_ptr<Connection>(std::make_unique<FdConnection>(fd, fd, "unix:" + path));
}

Result<std::unique_ptr<Connection>> connect_tcp(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return fail(Errc::not_found, "resolve '{}': {}", host, ::gai_strerror(rc));
  int last_errno = 0;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    int rc = 0;
    while ((rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen)) != 0 && errno == EINTR) {
    }
    if (rc == 0) {
      ::freeaddrinfo(found);
      set_nodelay(fd);
      return std::unique_ptr<Connection>(
          std::make_unique<FdConnection>(fd, fd, fmt::format("tcp:{}:{}", host, port)));
    }
    last_errno = errno;
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return fail(Error::from_errno(last_errno, fmt::format("connect tcp:{}:{}", host, port)));
}

Result<std::unique_ptr<Connection>> spawn_worker(const std::vector<std::string>& argv) {
  if (argv.empty()) return fail(Errc::invalid_argument, "spawn: empty command");
  int to_child[2];
  int from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0) return fail(Error::from_errno(errno, "pipe"));
  if (::pipe2(from_child, O_CLOEXEC) != 0) {
    const int err = errno;
    ::close(to_child[0]);
    ::close(to_child[1]);
    return fail(Error::from_errno(err, "pipe"));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(to_child[0]);
  ::close(from_child[1]);
  if (rc != 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    return fail(Error::from_errno(rc, fmt::format("spawn '{}'", argv[0])));
  }
  return std::unique_ptr<Connection>(
      std::make_unique<WorkerConnection>(from_child[0], to_child[1], pid));
}

Result<std::unique_ptr<Connection>> connect(const Endpoint& endpoint) {
  switch (endpoint.kind) {
    case Endpoint::Kind::unix_socket:
      return connect_unix(endpoint.path);
    case Endpoint::Kind::tcp:
      return connect_tcp(endpoint.host, endpoint.port);
    case Endpoint::Kind::exec:
      return spawn_worker(endpoint.argv);
  }
  return fail(Errc::invalid_argument, "unknown endpoint kind");
}

// --- Listener --------------------------------------------------------------------------------

Listener::Listener(Listener&& o) noexcept
    : fd_(o.fd_),
      wake_{o.wake_[0], o.wake_[1]},
      endpoint_(std::move(o.endpoint_)),
      owns_path_(o.owns_path_) {
  o.fd_ = o.wake_[0] = o.wake_[1] = -1;
  o.owns_path_ = false;
}

Listener& Listener::operator=(Listener&& o) noexcept {
  if (this != &o) {
    this->~Listener();
    new (this) Listener(std::move(o));
  }
  return *this;
}

Listener::~Listener() {
  close();
  close_fd(fd_);
  close_fd(wake_[0]);
  close_fd(wake_[1]);
}

void Listener::close() noexcept {
  if (wake_[1] >= 0) {
    const char b = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_[1], &b, 1);
  }
  std::lock_guard lock(close_mutex_);
  if (fd_ < 0) return;
  if (owns_path_ && endpoint_.kind == Endpoint::Kind::unix_socket) ::unlink(endpoint_.path.c_str());
  owns_path_ = false;
  closed_ = true;
}

Result<Listener> Listener::listen_unix(const std::string& path, int backlog) {
  SLUICE_TRY_ASSIGN(sockaddr_un a, unix_address(path));
  Listener l;
  if (::pipe2(l.wake_, O_CLOEXEC | O_NONBLOCK) != 0) return fail(Error::from_errno(errno, "pipe"));
  l.fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l.fd_ < 0) return fail(Error::from_errno(errno, "socket(AF_UNIX)"));
  const mode_t old_mask = ::umask(077);  // the socket file is created 0600
  int rc = ::bind(l.fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  if (rc != 0 && errno == EADDRINUSE) {
    // Live server, or a stale file left by one that died?
    auto probe = connect_unix(path);
    if (probe) {
      ::umask(old_mask);
      return fail(Errc::already_exists, "unix:{}: a server is listening there", path);
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
    rc = ::bind(l.fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  }
  const int bind_errno = errno;
  ::umask(old_mask);
  if (rc != 0) return fail(Error::from_errno(bind_errno, fmt::format("bind unix:{}", path)));
  l.owns_path_ = true;
  l.endpoint_.kind = Endpoint::Kind::unix_socket;
  l.endpoint_.path = path;
  if (::listen(l.fd_, backlog) != 0)
    return fail(Error::from_errno(errno, fmt::format("listen unix:{}", path)));
  return l;
}

Result<Listener> Listener::listen_tcp(const std::string& host, std::uint16_t port, int backlog) {
  Listener l;
  if (::pipe2(l.wake_, O_CLOEXEC | O_NONBLOCK) != 0) return fail(Error::from_errno(errno, "pipe"));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return fail(Errc::not_found, "resolve '{}': {}", host, ::gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, ::freeaddrinfo);
  l.fd_ = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l.fd_ < 0) return fail(Error::from_errno(errno, "socket(tcp)"));
  const int one = 1;
  ::setsockopt(l.fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(l.fd_, found->ai_addr, found->ai_addrlen) != 0)
    return fail(Error::from_errno(errno, fmt::format("bind tcp:{}:{}", host, port)));
  if (::listen(l.fd_, backlog) != 0)
    return fail(Error::from_errno(errno, fmt::format("listen tcp:{}:{}", host, port)));
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(l.fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  l.endpoint_.kind = Endpoint::Kind::tcp;
  l.endpoint_.host = host;
  l.endpoint_.port = bound.ss_family == AF_INET6
                         ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                         : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  return l;
}

Result<std::optional<std::unique_ptr<Connection>>> Listener::accept() {
  for (;;) {
    {
      std::lock_guard lock(close_mutex_);
      if (closed_ || fd_ < 0) return std::optional<std::unique_ptr<Connection>>{};
    }
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    const int n = ::poll(p, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Error::from_errno(errno, "poll listener"));
    }
    if ((p[1].revents & POLLIN) != 0) return std::optional<std::unique_ptr<Connection>>{};
    if ((p[0].revents & POLLIN) == 0) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
      if (errno == EMFILE || errno == ENFILE) {  // out of descriptors: back off, stay up
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      return fail(Error::from_errno(errno, "accept"));
    }
    std::string desc;
    if (endpoint_.kind == Endpoint::Kind::tcp) {
      set_nodelay(fd);
      desc = fmt::format("tcp:{}:{} from {}", endpoint_.host, endpoint_.port, peer_name(peer));
    } else {
      desc = "unix:" + endpoint_.path;
    }
    return std::optional<std::unique_ptr<Connection>>(
        std::make_unique<FdConnection>(fd, fd, std::move(desc)));
  }
}

std::string Listener::discovery_line() const {
  if (endpoint_.kind == Endpoint::Kind::tcp)
    return fmt::format("TCP:{}:{}", endpoint_.host, endpoint_.port);
  return "UNIX:" + endpoint_.path;
}

std::string Listener::remote_address(const Connection& c) {
  const std::string d = c.describe();
  const auto from = d.find(" from ");
  return from == std::string::npos ? std::string("local") : d.substr(from + 6);
}

}  // namespace sluice::rpc
