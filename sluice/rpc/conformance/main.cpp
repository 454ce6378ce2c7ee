// sluice-conformance: the vgi-rpc ConformanceService (PROTOCOL.md §14.1) and
// the Gen C secondary protocol, served on stdio (default), a Unix socket or TCP.
//
//   sluice-conformance                      stdin/stdout carry the connection
//   sluice-conformance --unix PATH          prints "UNIX:PATH" once listening
//   sluice-conformance --tcp HOST:PORT      port 0 picks one; prints "TCP:HOST:PORT"
//   --access-log PATH                       JSONL access records (PROTOCOL.md §12)
//   --no-tracebacks                         error batches without a traceback
//
// Exits 0 on SIGTERM or SIGINT, and in stdio mode when stdin closes.
#include <sluice/rpc/conformance/api.hpp>
#include <sluice/rpc/server.hpp>
#include <sluice/version.hpp>

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <unistd.h>

namespace {

void usage(std::FILE* to) {
  std::fputs(
      "usage: sluice-conformance [--unix PATH | --tcp HOST:PORT] [--access-log PATH]\n"
      "                          [--no-tracebacks] [--version] [--help]\n"
      "Serves the vgi-rpc ConformanceService (protocol ConformanceService 1.0.0) and\n"
      "conformance.Secondary.v1, with vgi_rpc.Reflection.v1. Without --unix or --tcp\n"
      "it serves one client on stdin/stdout.\n",
      to);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sluice;
  std::string unix_path;
  std::string tcp;
  rpc::ServerOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sluice-conformance: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--unix")
      unix_path = value("--unix");
    else if (a == "--tcp")
      tcp = value("--tcp");
    else if (a == "--access-log")
      options.access_log_path = value("--access-log");
    else if (a == "--no-tracebacks")
      options.tracebacks = false;
    else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--version") {
      std::printf("sluice-conformance %s\n", SLUICE_VERSION_STRING);
      return 0;
    } else {
      std::fprintf(stderr, "sluice-conformance: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (!unix_path.empty() && !tcp.empty()) {
    std::fprintf(stderr, "sluice-conformance: --unix and --tcp are exclusive\n");
    return 2;
  }

  // Signals are taken by one thread with sigwait; every other thread blocks them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  rpc::Server server(options);
  server.host(rpc::conformance::primary());
  server.host(rpc::conformance::secondary_protocol());

  if (unix_path.empty() && tcp.empty()) {
    std::thread([&] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      std::fflush(nullptr);
      ::_exit(0);
    }).detach();
    rpc::FdConnection stdio(0, 1, "stdio", false);
    auto r = server.serve_connection(stdio);
    if (!r) {
      std::fprintf(stderr, "sluice-conformance: %s\n", r.error().what().c_str());
      return 1;
    }
    return 0;
  }

  Result<rpc::Listener> listener = [&]() -> Result<rpc::Listener> {
    if (!unix_path.empty()) return rpc::Listener::listen_unix(unix_path);
    SLUICE_TRY_ASSIGN(auto ep, rpc::Endpoint::parse("tcp:" + tcp));
    return rpc::Listener::listen_tcp(ep.host, ep.port);
  }();
  if (!listener) {
    std::fprintf(stderr, "sluice-conformance: %s\n", listener.error().what().c_str());
    return 1;
  }
  std::printf("%s\n", listener->discovery_line().c_str());
  std::fflush(stdout);
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();
  });
  auto r = server.serve(*listener);
  if (!r) std::fprintf(stderr, "sluice-conformance: %s\n", r.error().what().c_str());
  // Ends the stopper when serve() returned on its own: every thread blocks
  // the stop signals, so the pending signal goes to the stopper's sigwait.
  ::kill(::getpid(), SIGTERM);
  stopper.join();
  server.stop();
  return r ? 0 : 1;
}
