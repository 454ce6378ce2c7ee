// bench_channels: sluice channels on their own, in one run with the
// hardware floors.
//
// 1. The peer suite (S1 latency busy/blocking over 8 B .. 64 MiB, S2
//    streaming, S3 fan-out) restricted to sluice and the two floors: the
//    same harness and processes as bench_peers.
// 2. 8-byte throughput, one publisher and one subscriber pinned to the two
//    cores: without batching (loan / publish / try_receive, one message at a
//    time), and with batching (publish_small / receive_each, groups of 64
//    written straight into descriptors). Appended to the same result file as
//    scenario "S2-batch".
//
// Usage: bench_channels [--quick] [--out FILE.json] [other bench_peers options]

#include "common/process.hpp"
#include "common/record.hpp"
#include "common/shared.hpp"
#include "common/suite.hpp"

#include <sluice/channel/channel.hpp>
#include <sluice/os/clock.hpp>

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace sluice::bench {
namespace {

using namespace std::chrono_literals;

struct Control {
  ProcessBarrier start;
  PaddedCounter elapsed_ns;
  PaddedCounter received;
  PaddedCounter rx_cpu_ns;
  PaddedCounter tx_cpu_ns;
};

std::uint64_t cpu_ns() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<std::uint64_t>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
}

// One throughput run: `count` 8-byte messages, batches of `batch` (1: none).
Result<Record> throughput(std::uint64_t count, std::size_t batch, int cpu_a, int cpu_b) {
  const std::string name = fmt::format("sluice-bench-tp-{}", ::getpid());
  (void)Domain::remove(name);
  DomainOptions dopt;
  dopt.heap = alloc::HeapConfig::scaled(0.05, 8 * MiB);
  SLUICE_TRY_ASSIGN(Domain creator, Domain::create(name, dopt));
  ChannelOptions copt;
  copt.capacity = 4096;
  copt.publish_timeout = 60s;
  SLUICE_TRY(
      ByteSubscriber::create(creator, "tp", {}, copt));  // the channel exists before the fork
  SLUICE_TRY_ASSIGN(auto ctl, Shared<Control>::create());
  ProcessGroup group;
  SLUICE_TRY(group.spawn("subscriber", cpu_b, [&]() -> int {
    auto d = Domain::open(name);
    if (!d) return 1;
    auto sub = ByteSubscriber::create(*d, "tp", {}, copt);
    if (!sub) return 2;
    if (!ctl->start.arrive_and_wait(2, 10'000'000'000ULL)) return 3;
    const std::uint64_t c0 = cpu_ns();
    std::uint64_t got = 0;
    std::uint64_t expect = 0;
    bool bad = false;
    while (got < count) {
      if (batch == 1) {
        auto s = sub->try_receive();
        if (!s) {
          if (s.error().code() != Errc::would_block) return 4;
          continue;
        }
        std::uint64_t v;
        std::memcpy(&v, s->data(), 8);  // read the payload
        if (v != expect++) return 5;
        ++got;
      } else {
        auto n = sub->receive_each(count - got, [&](std::span<const std::byte> b) {
          std::uint64_t v;
          std::memcpy(&v, b.data(), 8);  // read the payload
          bad |= v != expect++;
        });
        if (!n) return 4;
        got += *n;
      }
    }
    if (bad) return 5;
    ctl->received.value.store(got);
    ctl->rx_cpu_ns.value.store(cpu_ns() - c0);
    return 0;
  }));
  SLUICE_TRY(group.spawn("publisher", cpu_a, [&]() -> int {
    auto d = Domain::open(name);
    if (!d) return 1;
    auto pub = BytePublisher::create(*d, "tp", copt);
    if (!pub) return 2;
    for (int i = 0; i < 10000 && pub->subscriber_count() < 1; ++i) std::this_thread::sleep_for(1ms);
    if (!ctl->start.arrive_and_wait(2, 10'000'000'000ULL)) return 3;
    const std::uint64_t c0 = cpu_ns();
    const std::uint64_t t0 = os::monotonic_ns();
    for (std::uint64_t seq = 0; seq < count;) {
      if (batch == 1) {
        auto l = pub->loan(8);
        if (!l) return 4;
        std::memcpy(l->data(), &seq, 8);  // write the payload
        if (!pub->publish(std::move(*l))) return 5;
        ++seq;
      } else {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(batch, count - seq));
        auto sent = pub->publish_small(n, 8, [seq](std::size_t k, std::span<std::byte> b) {
          const std::uint64_t v = seq + k;
          std::memcpy(b.data(), &v, 8);  // write the payload
        });
        if (!sent) return 5;
        seq += *sent;
      }
    }
    // The clock stops when the subscriber has everything.
    while (ctl->received.value.load() < count) cpu_relax();
    ctl->elapsed_ns.value.store(os::monotonic_ns() - t0);
    ctl->tx_cpu_ns.value.store(cpu_ns() - c0);
    return 0;
  }));
  SLUICE_TRY(group.wait_all(std::chrono::minutes(5)));
  (void)Domain::remove(name);
  Record r;
  r.transport = "sluice";
  r.scenario = "S2-batch";
  r.metric = "throughput";
  r.mode = "busy";
  r.read = "all";
  r.payload_bytes = 8;
  r.n = count;
  r.note = batch == 1 ? "no batching: loan / publish / try_receive one message at a time"
                      : fmt::format("batches of {}: publish_small / receive_each", batch);
  const double secs = static_cast<double>(ctl->elapsed_ns.value.load()) / 1e9;
  r.seconds = secs;
  r.msgs_per_s = static_cast<double>(count) / secs;
  r.gb_per_s = static_cast<double>(count) * 8 / secs / 1e9;
  r.cpu_tx_ns_per_msg =
      static_cast<double>(ctl->tx_cpu_ns.value.load()) / static_cast<double>(count);
  r.cpu_rx_ns_per_msg =
      static_cast<double>(ctl->rx_cpu_ns.value.load()) / static_cast<double>(count);
  r.cpu_ns_per_msg = *r.cpu_tx_ns_per_msg + *r.cpu_rx_ns_per_msg;
  return r;
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) {
  using namespace sluice::bench;
  bool quick = false;
  std::string out = "channels.json";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    if (a == "--out" && i + 1 < argc) out = argv[i + 1];
  }
  const int rc = suite_main(argc, argv);
  if (rc != 0) return rc;
  auto file = ResultFile::load(out);
  if (!file) {
    std::fprintf(stderr, "bench_channels: %s\n", file.error().what().c_str());
    return 1;
  }
  const std::uint64_t count = quick ? 2'000'000 : 20'000'000;
  for (const std::size_t batch : {std::size_t{1}, std::size_t{64}}) {
    auto r = throughput(count, batch, 0, 1);
    if (!r) {
      std::fprintf(stderr, "bench_channels: throughput: %s\n", r.error().what().c_str());
      return 1;
    }
    std::printf("sluice           S2-batch 8 B  %-58s %8.2f M msg/s  cpu %.1f ns/msg\n",
                r->note.c_str(), *r->msgs_per_s / 1e6, *r->cpu_ns_per_msg);
    file->records.push_back(*r);
  }
  if (auto s = file->save(out); !s) {
    std::fprintf(stderr, "bench_channels: %s\n", s.error().what().c_str());
    return 1;
  }
  return 0;
}
