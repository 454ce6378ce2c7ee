// Helper for the domain multi-process tests. Commands:
//   mp_domain race NAME        wait for "go" on stdin, open_or_create NAME, print
//                              "created=<0|1> gen=<g> peer=<i>", then stay attached
//                              until stdin closes
//   mp_domain create NAME [MS] create NAME, stalling MS milliseconds at the crash
//                              point "domain.init.formatting" (so that a test can
//                              kill it mid-initialisation), print "ready"
//   mp_domain open NAME        open NAME, print "ok" or "error <code> <message>"
//   mp_domain open-as UID NAME drop to UID first (permission tests, run as root)
//   mp_domain create-as UID NAME MODE
//                              drop to UID, create NAME with MODE (octal), print
//                              "ready", stay until stdin closes (squatting tests)
#include <sluice/base/internal/crash_point.hpp>
#include <sluice/layout/segment.hpp>

#include <chrono>
#include <thread>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

using sluice::layout::Segment;
using sluice::layout::SegmentOptions;

namespace {

long g_stall_ms = 0;

#if SLUICE_CRASH_POINTS
void stall_in_init(const char* point) {
  if (std::string_view(point) == "domain.init.formatting")
    std::this_thread::sleep_for(std::chrono::milliseconds(g_stall_ms));
}
#endif

SegmentOptions options() {
  SegmentOptions o;
  o.max_peers = 16;
  o.max_entries = 8;
  o.data_bytes = 64 * 1024;
  o.open_timeout = std::chrono::milliseconds(10000);
  return o;
}

int report_open(const std::string& name) {
  auto d = Segment::open(name);
  if (d) {
    std::printf("ok\n");
  } else {
    std::printf("error %s %s\n", std::string(sluice::errc_name(d.error().code())).c_str(),
                d.error().what().c_str());
  }
  std::fflush(stdout);
  return d ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::string cmd = argv[1];
  if (cmd == "race") {
    std::string line;
    std::getline(std::cin, line);  // the barrier: all start at once
    auto d = Segment::open_or_create(argv[2], options());
    if (!d) {
      std::printf("error %s\n", d.error().what().c_str());
      return 1;
    }
    std::printf("created=%d gen=%llu peer=%u\n", d->created() ? 1 : 0,
                static_cast<unsigned long long>(d->generation()), *d->peer_index());
    std::fflush(stdout);
    while (std::getline(std::cin, line)) {
    }
    return 0;
  }
  if (cmd == "create") {
    if (argc >= 4) {
      g_stall_ms = std::atol(argv[3]);
#if SLUICE_CRASH_POINTS
      sluice::testing::set_crash_point_hook(&stall_in_init);
#endif
    }
    auto d = Segment::create(argv[2], options());
    std::printf("%s\n", d ? "ready" : d.error().what().c_str());
    std::fflush(stdout);
    return d ? 0 : 1;
  }
  if (cmd == "open") return report_open(argv[2]);
  if (cmd == "open-as" && argc >= 4) {
    const auto uid = static_cast<uid_t>(std::strtoul(argv[2], nullptr, 10));
    if (::setgid(uid) != 0 || ::setuid(uid) != 0) {
      std::perror("setuid");
      return 3;
    }
    return report_open(argv[3]);
  }
  if (cmd == "create-as" && argc >= 5) {
    const auto uid = static_cast<uid_t>(std::strtoul(argv[2], nullptr, 10));
    if (::setgid(uid) != 0 || ::setuid(uid) != 0) {
      std::perror("setuid");
      return 3;
    }
    SegmentOptions o = options();
    o.mode = static_cast<mode_t>(std::strtoul(argv[4], nullptr, 8));
    auto d = Segment::create(argv[3], o);
    std::printf("%s\n", d ? "ready" : d.error().what().c_str());
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    return d ? 0 : 1;
  }
  return 2;
}
