// One process of a torture trial (see sluice_crash_harness.cpp): a
// publisher, subscriber, queue sender or queue receiver that exchanges
// checksummed, numbered messages (crash_message.hpp) and checks everything
// it receives.
//
//   crash_worker ROLE DOMAIN CHANNEL key=value...
//     ROLE      pub | sub | send | recv | gc (Domain::reclaim() in a loop)
//     id=N      writer id (pub, send)          inc=N   incarnation (restarts)
//     policy=block|overwrite                   history=N (pub/sub)
//     hold=N    samples a reader keeps before releasing (0..8)
//     pace=N    writers sleep 20 us every N messages (0: never)
//     seed=N    sizes and holding pattern
//
// Environment: SLUICE_CRASH_POINT=<point>:<skip> stops the process at the
// (skip+1)-th time it reaches <point> (a library crash point, see
// <sluice/base/internal/crash_point.hpp>, or "loan.held" here): it prints
// "stalled <point>" and waits to be killed.
//
// stdin commands: "status" (answer "status k=v ..."), "stop" (finish, print
// "result k=v ...", exit 0). stdout lines: "ready", "stalled <point>",
// "status ...", "result ...", "error <message>".

#include "crash_message.hpp"

#include <sluice/base/internal/crash_point.hpp>
#include <sluice/channel/channel.hpp>

#include <fmt/format.h>

#include <poll.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <thread>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using sluice::crash::MessageHeader;

// -- output: raw writes, usable from inside a crash point ----------------------

void say(const std::string& line) {
  const std::string l = line + "\n";
  std::size_t done = 0;
  while (done < l.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, l.data() + done, l.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

[[noreturn]] void die(const std::string& what) {
  say("error " + what);
  std::_Exit(1);
}

// -- crash point ------------------------------------------------------------------

char g_point[96] = {};
std::atomic<long> g_skip{0};

void stall_hook(const char* point) {
  if (std::strcmp(point, g_point) != 0) return;
  if (g_skip.fetch_sub(1, std::memory_order_relaxed) > 0) return;
  char buf[128];
  const int n = std::snprintf(buf, sizeof buf, "stalled %s\n", point);
  if (n > 0) (void)!::write(STDOUT_FILENO, buf, static_cast<std::size_t>(n));
  for (;;) ::pause();  // the harness kills us here
}

void install_crash_point() {
  const char* spec = std::getenv("SLUICE_CRASH_POINT");
  if (!spec || !*spec) return;
  const std::string_view s(spec);
  const auto colon = s.rfind(':');
  const std::string_view name = s.substr(0, colon);
  if (name.size() >= sizeof g_point) die("crash point name too long");
  std::memcpy(g_point, name.data(), name.size());
  g_skip.store(
      colon == std::string_view::npos ? 0 : std::atol(std::string(s.substr(colon + 1)).c_str()));
  sluice::testing::set_crash_point_hook(&stall_hook);
}

// -- commands from the harness -------------------------------------------------------

struct Control {
  bool stop = false;
  Clock::time_point next_check = Clock::now();
  std::string buffer;

  // Polls stdin at most every 2 ms; answers "status" with `status()`.
  template <typename StatusFn>
  void poll_commands(StatusFn&& status, bool force = false) {
    const auto now = Clock::now();
    if (!force && now < next_check) return;
    next_check = now + 2ms;
    for (;;) {
      pollfd p{STDIN_FILENO, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) break;
      char buf[256];
      const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n <= 0) {  // the harness went away: finish
        stop = true;
        return;
      }
      buffer.append(buf, static_cast<std::size_t>(n));
    }
    for (auto nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n')) {
      const std::string cmd = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (cmd == "stop")
        stop = true;
      else if (cmd == "status")
        say("status " + status());
    }
  }
};

struct Args {
  std::string role, domain, channel;
  std::uint16_t id = 0, inc = 0;
  sluice::channel::FullPolicy policy = sluice::channel::FullPolicy::block;
  std::uint64_t history = 0;
  std::uint32_t hold = 0;
  std::uint32_t pace = 0;
  std::uint64_t seed = 1;
};

Args parse(int argc, char** argv) {
  if (argc < 4) die("usage: crash_worker pub|sub|send|recv DOMAIN CHANNEL key=value...");
  Args a;
  a.role = argv[1];
  a.domain = argv[2];
  a.channel = argv[3];
  for (int i = 4; i < argc; ++i) {
    const std::string_view kv(argv[i]);
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos) die(fmt::format("bad argument '{}'", kv));
    const std::string key(kv.substr(0, eq));
    const std::string val(kv.substr(eq + 1));
    const auto num = std::strtoull(val.c_str(), nullptr, 10);
    if (key == "id")
      a.id = static_cast<std::uint16_t>(num);
    else if (key == "inc")
      a.inc = static_cast<std::uint16_t>(num);
    else if (key == "history")
      a.history = num;
    else if (key == "hold")
      a.hold = static_cast<std::uint32_t>(std::min<unsigned long long>(num, 12));
    else if (key == "pace")
      a.pace = static_cast<std::uint32_t>(num);
    else if (key == "seed")
      a.seed = num;
    else if (key == "policy")
      a.policy = val == "overwrite" ? sluice::channel::FullPolicy::overwrite
                                    : sluice::channel::FullPolicy::block;
    else
      die(fmt::format("unknown argument '{}'", key));
  }
  return a;
}

sluice::ChannelOptions channel_options(const Args& a, bool queue) {
  sluice::ChannelOptions o;
  o.capacity = 64;
  o.policy = a.policy;
  o.history = queue ? 0 : a.history;
  o.max_subscribers = 8;
  o.max_senders = 4;
  o.max_held = 16;
  o.publish_timeout = 200ms;
  return o;
}

// Message sizes: a mix of inline (<= 32 B), pool chunks of every class and
// TLSF blocks (above the largest class of the harness's heap).
std::size_t pick_size(std::mt19937_64& rng) {
  const auto r = rng() % 100;
  if (r < 40) return sluice::crash::kMinMessage + rng() % 9;  // 24..32: inline
  if (r < 75) return 33 + rng() % 4064;                       // pool classes up to 4 KiB
  if (r < 95) return 4097 + rng() % (60 * 1024);              // 16 KiB / 64 KiB classes
  return 64 * 1024 + 1 + rng() % (192 * 1024);                // TLSF
}

// Deadline bookkeeping: the worst overshoot of any bounded wait.
struct Waits {
  std::int64_t max_over_us = 0;
  std::uint64_t count = 0;
  void note(Clock::time_point start, std::chrono::nanoseconds timeout) {
    const auto took = Clock::now() - start;
    const auto over = std::chrono::duration_cast<std::chrono::microseconds>(took - timeout).count();
    max_over_us = std::max(max_over_us, over);
    ++count;
  }
};

// -- writers -----------------------------------------------------------------------------

template <typename Endpoint, typename SendFn>
int run_writer(const Args& a, sluice::Domain& domain, Endpoint& ep, SendFn&& send) {
  std::mt19937_64 rng(a.seed);
  Control ctl;
  Waits waits;
  std::uint64_t seq = 0, timeouts = 0, oom = 0, reclaimed = 0;
  auto status = [&] { return fmt::format("sent={} timeouts={} oom={}", seq, timeouts, oom); };
  say("ready");
  while (!ctl.stop) {
    ctl.poll_commands(status);
    const std::size_t size = pick_size(rng);
    auto loan = ep.loan(size);
    if (!loan) {
      if (loan.error().code() != sluice::Errc::out_of_memory &&
          loan.error().code() != sluice::Errc::timed_out)
        die(fmt::format("loan {} bytes: {}", size, loan.error().what()));
      ++oom;
      std::this_thread::sleep_for(1ms);
      continue;
    }
    sluice::crash::fill(loan->bytes(), a.id, a.inc, seq);
    SLUICE_CRASH_POINT("loan.held");
    for (;;) {
      const auto start = Clock::now();
      auto r = send(std::move(*loan));
      if (r) break;
      const auto code = r.error().code();
      if (code == sluice::Errc::timed_out) waits.note(start, 200ms);
      if (code != sluice::Errc::timed_out && code != sluice::Errc::queue_full)
        die(fmt::format("publish {}: {}", seq, r.error().what()));
      ++timeouts;
      // A reader is slow or dead: give reclamation a chance, as an
      // application's supervisor loop would.
      if (auto rec = domain.reclaim()) reclaimed += rec->chunks_freed + rec->references_released;
      ctl.poll_commands(status, true);
      if (ctl.stop) break;
    }
    ++seq;
    if (a.pace != 0 && seq % a.pace == 0) std::this_thread::sleep_for(20us);
  }
  say(fmt::format(
      "result role={} id={} inc={} sent={} timeouts={} oom={} max_over_us={} waits={} reclaimed={}",
      a.role, a.id, a.inc, seq, timeouts, oom, waits.max_over_us, waits.count, reclaimed));
  return 0;
}

// -- readers -----------------------------------------------------------------------------

struct Stream {  // what a reader saw of one writer incarnation
  std::uint16_t inc = 0;
  std::uint64_t first = 0, last = 0, count = 0;
};

template <typename Endpoint>
int run_reader(const Args& a, sluice::Domain& domain, Endpoint& ep, bool lossless) {
  std::mt19937_64 rng(a.seed);
  Control ctl;
  Waits waits;
  std::deque<sluice::Sample> held;
  // writer -> streams in arrival order (one per incarnation seen)
  std::map<std::uint16_t, std::vector<Stream>> streams;
  std::uint64_t received = 0, bad = 0, order = 0, gaps = 0, reclaimed = 0, errors = 0;
  std::string first_error;
  auto status = [&] {
    std::string s = fmt::format("received={} bad={} order={} gaps={} errors={}", received, bad,
                                order, gaps, errors);
    for (const auto& [w, v] : streams)
      s += fmt::format(" w{}=i{}:f{}:n{}", w, v.back().inc, v.back().first, v.back().count);
    return s;
  };
  auto problem = [&](std::uint64_t& counter, std::string what) {
    ++counter;
    if (first_error.empty()) first_error = std::move(what);
  };
  say("ready");
  auto last_reclaim = Clock::now();
  while (!ctl.stop) {
    ctl.poll_commands(status);
    const auto start = Clock::now();
    auto s = ep.receive_for(50ms);
    if (!s) {
      const auto code = s.error().code();
      if (code == sluice::Errc::timed_out) {
        waits.note(start, 50ms);
        if (Clock::now() - last_reclaim > 100ms) {
          if (auto rec = domain.reclaim())
            reclaimed += rec->chunks_freed + rec->references_released;
          last_reclaim = Clock::now();
        }
        continue;
      }
      // A descriptor that failed validation is reported and skipped; the
      // harness counts it as a failure (nothing here is corrupted on purpose).
      problem(errors, fmt::format("receive: {}", s.error().what()));
      continue;
    }
    MessageHeader h{};
    if (!sluice::crash::verify(s->bytes(), h)) {
      problem(bad, fmt::format("message of {} bytes fails its checksum", s->size()));
      continue;
    }
    ++received;
    auto& v = streams[h.writer];
    if (v.empty() || h.incarnation > v.back().inc) {
      v.push_back(Stream{h.incarnation, h.sequence, h.sequence, 1});
    } else if (h.incarnation < v.back().inc) {
      problem(order, fmt::format("writer {}: incarnation {} after {}", h.writer, h.incarnation,
                                 v.back().inc));
    } else if (h.sequence <= v.back().last) {
      problem(order, fmt::format("writer {} inc {}: sequence {} after {}", h.writer, h.incarnation,
                                 h.sequence, v.back().last));
    } else {
      if (h.sequence != v.back().last + 1) {
        if (lossless)
          problem(gaps, fmt::format("writer {} inc {}: sequence {} after {}", h.writer,
                                    h.incarnation, h.sequence, v.back().last));
        else
          ++gaps;  // overwrite policy: overruns are expected
      }
      v.back().last = h.sequence;
      ++v.back().count;
    }
    // Keep some samples for a while: the held table is part of what a
    // dead reader leaves behind. A held sample is checked again before its
    // release: if anyone released our reference meanwhile (a double release
    // elsewhere), the chunk may have been reused and overwritten.
    held.push_back(std::move(s).value());
    const std::size_t keep = a.hold == 0 ? 0 : rng() % (a.hold + 1);
    auto drop_oldest = [&] {
      MessageHeader hh{};
      if (!sluice::crash::verify(held.front().bytes(), hh))
        problem(bad, fmt::format("a held sample of {} bytes changed before its release",
                                 held.front().size()));
      held.pop_front();
    };
    while (held.size() > keep) drop_oldest();
  }
  while (!held.empty()) {
    MessageHeader hh{};
    if (!sluice::crash::verify(held.front().bytes(), hh))
      problem(bad, fmt::format("a held sample of {} bytes changed before its release",
                               held.front().size()));
    held.pop_front();
  }
  std::string streams_text;
  for (const auto& [w, v] : streams)
    for (const auto& st : v)
      streams_text += fmt::format(" s{}.{}={}:{}:{}", w, st.inc, st.first, st.last, st.count);
  say(fmt::format(
      "result role={} received={} bad={} order={} gaps={} errors={} max_over_us={} waits={} "
      "reclaimed={}{}{}",
      a.role, received, bad, order, gaps, errors, waits.max_over_us, waits.count, reclaimed,
      streams_text, first_error.empty() ? "" : " first_error=\"" + first_error + "\""));
  return 0;
}

// -- reclaimer -------------------------------------------------------------------------

// Runs Domain::reclaim() every millisecond, as a supervisor would; the
// harness stops it inside a reclaim to check that another process finishes
// what it started.
int run_reclaimer(const Args& a, sluice::Domain& domain) {
  Control ctl;
  std::uint64_t rounds = 0, dead = 0, reclaimed = 0;
  auto status = [&] {
    return fmt::format("rounds={} dead={} reclaimed={}", rounds, dead, reclaimed);
  };
  say("ready");
  while (!ctl.stop) {
    ctl.poll_commands(status);
    auto r = domain.reclaim();
    if (!r) die(fmt::format("reclaim: {}", r.error().what()));
    ++rounds;
    dead += r->dead_peers;
    reclaimed += r->chunks_freed + r->references_released;
    std::this_thread::sleep_for(1ms);
  }
  say(fmt::format("result role={} rounds={} dead={} reclaimed={} max_over_us=0", a.role, rounds,
                  dead, reclaimed));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  install_crash_point();
  auto domain = sluice::Domain::open(a.domain);
  if (!domain) die(fmt::format("open domain: {}", domain.error().what()));
  if (a.role == "gc") return run_reclaimer(a, *domain);
  const bool queue = a.role == "send" || a.role == "recv";
  const auto options = channel_options(a, queue);
  if (a.role == "pub") {
    auto pub = sluice::BytePublisher::create(*domain, a.channel, options);
    if (!pub) die(fmt::format("publisher: {}", pub.error().what()));
    return run_writer(a, *domain, *pub,
                      [&pub](sluice::Loan&& l) { return pub->publish(std::move(l)); });
  }
  if (a.role == "sub") {
    auto sub = sluice::ByteSubscriber::create(*domain, a.channel, {.history = a.history}, options);
    if (!sub) die(fmt::format("subscriber: {}", sub.error().what()));
    return run_reader(a, *domain, *sub, a.policy == sluice::channel::FullPolicy::block);
  }
  if (a.role == "send") {
    auto tx = sluice::QueueSender::create(*domain, a.channel, options);
    if (!tx) die(fmt::format("sender: {}", tx.error().what()));
    return run_writer(a, *domain, *tx, [&tx](sluice::Loan&& l) { return tx->send(std::move(l)); });
  }
  if (a.role == "recv") {
    auto rx = sluice::QueueReceiver::create(*domain, a.channel, options);
    if (!rx) die(fmt::format("receiver: {}", rx.error().what()));
    return run_reader(a, *domain, *rx, true);
  }
  die("unknown role " + a.role);
}
