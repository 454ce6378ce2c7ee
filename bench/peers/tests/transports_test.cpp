// Every transport compiled into bench_peers, through every scenario of the
// suite the transport supports, at small budgets: messages arrive complete,
// in order and none lost (the harness checks each one), and every role
// reports. Correctness only; nothing here depends on how fast anything is.

#include "common/registry.hpp"
#include "common/suite.hpp"
#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace sluice::bench {
namespace {

Budget tiny_budget() {
  Budget b;
  b.warmup_ns = 1'000'000;
  b.min_warmup = 2;
  b.measure_ns = 5'000'000;
  b.min_iterations = 3;
  b.max_iterations = 2000;
  return b;
}

MeasureSpec spec_for(const PlanItem& item) {
  MeasureSpec s;
  s.scenario = item.scenario;
  s.wait = item.wait;
  s.read = item.read;
  s.payload = item.payload;
  s.receivers = item.receivers;
  s.budget = tiny_budget();
  s.name = test::unique_shm_name("bench");
  s.cpu_a = 0;
  s.cpu_b = online_cpus() > 1 ? 1 : 0;
  return s;
}

void expect_measured(const PlanItem& item, const Measurement& m) {
  ASSERT_TRUE(m.ok) << m.error;
  if (is_latency(item.scenario)) {
    EXPECT_GE(m.latency.n, 3U);
    EXPECT_GT(m.latency.p50, 0.0);
    EXPECT_LE(m.latency.p50, m.latency.max);
  } else {
    EXPECT_GE(m.messages, 3U);
    EXPECT_GT(m.msgs_per_s, 0.0);
    EXPECT_GT(m.cpu_ns_per_msg, 0.0);
  }
}

std::vector<std::string> transport_names() {
  std::vector<std::string> names;
  for (const auto& t : registered_transports()) names.emplace_back(t.info.name);
  return names;
}

class EveryTransport : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryTransport, CarriesEveryScenarioIntact) {
  const auto all = registered_transports();
  const auto it = std::find_if(all.begin(), all.end(),
                               [&](const TransportEntry& t) { return t.info.name == GetParam(); });
  ASSERT_NE(it, all.end());
  struct stat st {};
  if (it->info.name == "iceoryx" && ::stat("/tmp/roudi", &st) != 0) {
    GTEST_SKIP() << "iceoryx needs a running RouDi (bench/peers/with_roudi.sh)";
  }
  int measured = 0;
  for (const auto& item : suite_plan({})) {
    // 64 MiB copies take long under sanitizers and prove nothing new.
    if (item.payload > (1U << 20) || !unsupported_reason(it->info, item).empty()) continue;
    // Busy-polling ping-pong on a single CPU only measures the scheduler.
    if (item.wait == Wait::busy && online_cpus() < 2) continue;
    SCOPED_TRACE(fmt::format("{} {} {} {} {} B", it->info.name, scenario_id(item.scenario),
                             to_string(item.wait), to_string(item.read), item.payload));
    expect_measured(item, it->measure(spec_for(item)));
    ++measured;
  }
  EXPECT_GT(measured, 0);
}

INSTANTIATE_TEST_SUITE_P(Peers, EveryTransport, ::testing::ValuesIn(transport_names()),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// A transport that damages the last byte of every message it delivers: the
// measurement must fail with the receiver's complaint, not report numbers.
struct DamagingTransport {
  static TransportInfo info() {
    TransportInfo i;
    i.name = "damaging";
    return i;
  }
  struct Sender {
    int fd;
    std::vector<std::byte> buf;
    std::span<std::byte> loan(std::size_t n) {
      buf.resize(n);
      return buf;
    }
    void send(std::span<std::byte> m) {
      if (::send(fd, m.data(), m.size(), 0) != static_cast<ssize_t>(m.size())) fatal("send failed");
    }
  };
  struct Receiver {
    int fd;
    std::vector<std::byte> buf = std::vector<std::byte>(1 << 16);
    std::optional<std::span<const std::byte>> try_receive() {
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n <= 0) return std::nullopt;
      buf[static_cast<std::size_t>(n) - 1] ^= std::byte{1};
      return std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n));
    }
    std::span<const std::byte> receive() {
      for (;;) {
        if (auto m = try_receive()) return *m;
      }
    }
    void release() {}
  };
  struct Link {
    int fds[2];
    Result<Sender> open_sender() { return Sender{fds[0], {}}; }
    Result<Receiver> open_receiver(std::uint32_t) { return Receiver{fds[1]}; }
  };
  static Result<Link> create_link(const LinkSpec&) {
    Link l{};
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, l.fds) != 0)
      return fail(Errc::system_error, "socketpair");
    return l;
  }
};
static_assert(Transport<DamagingTransport>);

TEST(Harness, ADamagedMessageFailsTheMeasurementWithTheReceiversMessage) {
  const PlanItem item{Scenario::s2_stream, Wait::blocking, Read::all, 64, 1};
  const Measurement m = measure<DamagingTransport>(spec_for(item));
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.error.find("receiver: received a torn or stale message (64 bytes)"),
            std::string::npos)
      << m.error;
}

}  // namespace
}  // namespace sluice::bench
