// The torture harness: kill -9 publishers, subscribers, queue senders and
// receivers at random moments and at named crash points, and check that
// nothing leaks, nothing torn is delivered, and the survivors go on.
//
//   sluice_crash_harness [--trials N] [--seed S] [--point NAME] [--max-seconds T]
//                        [--scenario pubsub|queue] [--verbose] [--json]
//
// One trial:
//   1. create a domain (unique name) with one channel: pub/sub (1 publisher,
//      2-3 subscribers, block or overwrite policy, with or without history)
//      or a queue (2-3 senders, 1 receiver);
//   2. start every role as its own process (crash_worker, fork + exec); the
//      messages carry writer, incarnation, sequence and a checksum, mixing
//      inline (<= 32 B), pool-chunk and TLSF sizes;
//   3. pick a victim and SIGKILL it either at a random moment or stopped at a
//      crash point (SLUICE_CRASH_POINT, see <sluice/base/internal/crash_point.hpp>):
//      mid-loan, mid-allocation, mid-publish, mid-receive, mid-release,
//      mid-registry-create ...;
//   4. maybe run Domain::reclaim() here (otherwise the survivors' own
//      reclaim calls and the restarted process's take-over do it);
//   5. restart the victim's role (a new incarnation) and wait until every
//      reader makes progress (a restarted publisher publishes again on the
//      same channel, and readers alive across the restart get its messages
//      from sequence 0 when the policy is lossless);
//   6. stop everyone, drain the queue here, and account for every chunk
//      (accounting.hpp): leaks found, then recovered with Domain::sweep(),
//      then accounted again — the final leak count must be 0, and nothing
//      may ever be over-released.
//
// Every reader checks every message's checksum, order and (lossless
// policies) gaps, and every bounded wait against its deadline. The exit
// status is 0 only if every trial passed; the report gives trials, kills per
// phase, chunks reclaimed and leaks.

#include "accounting.hpp"
#include "crash_message.hpp"
#include "support/process.hpp"
#include "support/shm_names.hpp"

#include <sluice/channel/channel.hpp>
#include <sluice/channel/internal/core.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using sluice::test::Child;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// Generous on purpose: CI machines are shared and sanitizers are slow; the
// figure reported is the measured worst case.
const std::int64_t kMaxOvershootUs = kSanitized ? 5'000'000 : 2'000'000;
const auto kStepTimeout = kSanitized ? 30s : 10s;

struct Options {
  std::uint64_t trials = 200;
  std::uint64_t seed = 0;
  std::string point;     // only this crash point
  std::string scenario;  // only pubsub / queue
  double max_seconds = 0;
  bool verbose = false;
  bool json = false;
};

// Crash points by role. "random" kills at a random moment instead.
struct PointSpec {
  const char* name;
  const char* roles;  // roles that reach it: p(ub) s(ub) S(end) r(ecv), g: a reclaimer
  long max_skip;      // the hit to stop at is drawn from [0, max_skip]
  bool needs_history;
  // Reclaimer points (role g): whose death the reclaimer then reclaims.
  // Such a trial kills that victim at a random moment first, lets a "gc"
  // worker (Domain::reclaim() in a loop) stop at the point, and kills it
  // there: the reclaim is finished by whoever comes next.
  const char* first_victims = "";
};
constexpr PointSpec kPoints[] = {
    {"loan.held", "pS", 200, false},
    {"alloc.pool.popped", "pS", 200, false},
    {"alloc.pool.released", "srpS", 100, false},
    {"tlsf.alloc.claimed", "pS", 5, false},
    {"tlsf.split.shrunk", "pS", 5, false},
    {"tlsf.free.marked", "srpS", 5, false},
    {"tlsf.free.merged", "srpS", 5, false},
    {"publish.inflight", "p", 150, false},
    {"publish.refs", "p", 150, false},
    {"publish.delivering", "p", 300, false},
    {"publish.history", "p", 100, true},
    {"publish.history.written", "p", 100, true},
    {"publish.delivered", "p", 150, false},
    {"queue.send.inflight", "S", 150, false},
    {"queue.send.pushed", "S", 150, false},
    {"mpmc.push.claimed", "S", 150, false},
    {"mpmc.pop.claimed", "r", 150, false},
    {"receive.popped", "sr", 200, false},
    {"receive.held", "sr", 150, false},
    {"release.cleared", "sr", 150, false},
    {"registry.create.claimed", "psSr", 0, false},
    {"registry.create.formatted", "psSr", 0, false},
    {"reclaim.marked", "g", 0, false, "psSr"},
    {"reclaim.heap", "g", 0, false, "psSr"},
    {"close.publisher.claimed", "g", 0, false, "pS"},
    {"close.subscriber.claimed", "g", 0, false, "sr"},
    {"close.subscriber.held", "g", 0, false, "sr"},
};

struct Proc {
  std::string role;
  std::uint16_t id = 0;  // writer id (pub/send); reader number otherwise
  std::uint16_t inc = 0;
  Child child;
  bool alive = false;
  std::string result;
  std::uint64_t received_at_restart = 0;
};

// key=value fields of a "status"/"result" line.
std::map<std::string, std::string> fields(const std::string& line) {
  std::map<std::string, std::string> out;
  std::size_t i = line.find(' ');
  while (i != std::string::npos && i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    const auto eq = line.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = line.substr(i, eq - i);
    std::size_t end;
    std::string val;
    if (eq + 1 < line.size() && line[eq + 1] == '"') {
      end = line.find('"', eq + 2);
      val = line.substr(eq + 2, end == std::string::npos ? std::string::npos : end - eq - 2);
      if (end != std::string::npos) ++end;
    } else {
      end = line.find(' ', eq);
      val = line.substr(eq + 1, end == std::string::npos ? std::string::npos : end - eq - 1);
    }
    out[key] = val;
    i = end;
  }
  return out;
}

std::uint64_t num(const std::map<std::string, std::string>& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() ? 0 : std::strtoull(it->second.c_str(), nullptr, 10);
}

struct Totals {
  std::uint64_t trials = 0, passed = 0;
  std::map<std::string, std::uint64_t> kills;  // phase -> kills
  std::map<std::string, std::uint64_t>
      window_leaks;                    // phase -> leaked refs/chunks found before recovery
  std::uint64_t chunks_reclaimed = 0;  // freed + references released by reclaim
  std::uint64_t chunks_orphaned = 0;
  std::uint64_t dead_peers = 0;
  std::uint64_t leaks_before_sweep = 0;  // leaked refs + orphan loans + lost pool chunks
  std::uint64_t sweep_recovered = 0;
  std::uint64_t leaks = 0;          // after recovery: must be 0
  std::uint64_t over_released = 0;  // must be 0
  std::uint64_t bad_messages = 0, order_errors = 0, gaps = 0, receive_errors = 0;
  std::uint64_t messages = 0;
  std::int64_t max_overshoot_us = 0;
  std::uint64_t points_not_reached = 0;
  std::vector<std::string> failures;
};

class Trial {
 public:
  Trial(const Options& opt, std::uint64_t index, std::mt19937_64& rng, Totals& tot)
      : opt_(opt), index_(index), rng_(rng), tot_(tot) {}

  bool run();

 private:
  bool fail(std::string why) {
    if (failure_.empty()) failure_ = std::move(why);
    return false;
  }
  std::string worker() const { return sluice::test::helper_path("crash_worker"); }
  Proc& start(const std::string& role, std::uint16_t id, std::uint16_t inc,
              const std::string& crash_env);
  bool wait_line(Proc& p, std::string_view prefix, std::string* line,
                 std::chrono::milliseconds timeout);
  std::optional<std::map<std::string, std::string>> status(Proc& p);
  bool wait_progress(const Proc& victim);
  bool stop_all();
  bool check_results();
  bool drain_queue(sluice::Domain& d);
  void reclaim_here(sluice::Domain& d);

  const Options& opt_;
  std::uint64_t index_;
  std::mt19937_64& rng_;
  Totals& tot_;
  std::string domain_name_;
  std::string channel_ = "torture";
  bool queue_ = false;
  std::string policy_ = "block";
  std::uint64_t history_ = 0;
  std::vector<Proc> procs_;
  std::string phase_;
  std::string failure_;
  std::string log_;

 public:
  [[nodiscard]] const std::string& failure() const { return failure_; }
  [[nodiscard]] const std::string& phase() const { return phase_; }
  [[nodiscard]] const std::string& log() const { return log_; }
};

Proc& Trial::start(const std::string& role, std::uint16_t id, std::uint16_t inc,
                   const std::string& crash_env) {
  std::vector<std::string> args = {role,
                                   domain_name_,
                                   channel_,
                                   fmt::format("id={}", id),
                                   fmt::format("inc={}", inc),
                                   "policy=" + policy_,
                                   fmt::format("history={}", history_),
                                   fmt::format("hold={}", rng_() % 13),
                                   fmt::format("pace={}", rng_() % 3 == 0 ? 0 : 1 + rng_() % 64),
                                   fmt::format("seed={}", rng_())};
  std::vector<std::string> env;
  if (!crash_env.empty()) env.push_back("SLUICE_CRASH_POINT=" + crash_env);
  Proc p;
  p.role = role;
  p.id = id;
  p.inc = inc;
  p.child = Child::spawn(worker(), args, env);
  p.alive = true;
  procs_.push_back(std::move(p));
  return procs_.back();
}

bool Trial::wait_line(Proc& p, std::string_view prefix, std::string* out,
                      std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    if (left.count() <= 0) return false;
    std::string line = p.child.read_line(left);
    if (line.empty()) return false;
    if (line.rfind("error ", 0) == 0) {
      fail(fmt::format("{} {}.{}: {}", p.role, p.id, p.inc, line));
      return false;
    }
    if (line.rfind(prefix, 0) == 0) {
      if (out) *out = std::move(line);
      return true;
    }
    // "stalled" before "ready" (registry points) or stray status lines.
    if (opt_.verbose) log_ += fmt::format("  [{} {}] {}\n", p.role, p.id, line);
  }
}

std::optional<std::map<std::string, std::string>> Trial::status(Proc& p) {
  p.child.write_line("status");
  std::string line;
  if (!wait_line(p, "status ", &line,
                 std::chrono::duration_cast<std::chrono::milliseconds>(kStepTimeout)))
    return std::nullopt;
  return fields(line);
}

// Every live reader receives again; readers alive across a writer's restart
// see the new incarnation.
bool Trial::wait_progress(const Proc& victim) {
  const bool writer_restarted = victim.role == "pub" || victim.role == "send";
  const auto end = Clock::now() + kStepTimeout;
  for (;;) {
    bool done = true;
    std::string why;
    for (auto& p : procs_) {
      if (!p.alive || (p.role != "sub" && p.role != "recv")) continue;
      auto f = status(p);
      if (!f) return fail(fmt::format("{} {} does not answer", p.role, p.id));
      if (num(*f, "bad") || num(*f, "order") || num(*f, "errors")) {
        // The reader's first complaint comes with its result line.
        p.child.write_line("stop");
        std::string result;
        (void)wait_line(p, "result ", &result, 5000ms);
        return fail(fmt::format("{} {}: {}", p.role, p.id, result));
      }
      // Queues: more than a lap of the ring, so that a cell abandoned by a
      // dead receiver would stop the senders.
      const std::uint64_t need = queue_ ? 100 : 10;
      if (num(*f, "received") < p.received_at_restart + need) {
        done = false;
        why = fmt::format("{} {} received {} (at restart {})", p.role, p.id, num(*f, "received"),
                          p.received_at_restart);
      }
      if (writer_restarted) {
        auto it = f->find(fmt::format("w{}", victim.id));
        if (it == f->end() || it->second.rfind(fmt::format("i{}:", victim.inc), 0) != 0) {
          done = false;
          why = fmt::format("{} {} has not seen writer {} incarnation {}", p.role, p.id, victim.id,
                            victim.inc);
        }
      }
    }
    if (done) return true;
    if (Clock::now() > end) return fail("survivors made no progress: " + why);
    std::this_thread::sleep_for(10ms);
  }
}

bool Trial::stop_all() {
  // Writers first, so readers see everything that was published.
  for (const bool writers : {true, false}) {
    for (auto& p : procs_) {
      if (!p.alive) continue;
      const bool is_writer = p.role == "pub" || p.role == "send";
      if (is_writer != writers) continue;
      p.child.write_line("stop");
    }
    for (auto& p : procs_) {
      if (!p.alive) continue;
      const bool is_writer = p.role == "pub" || p.role == "send";
      if (is_writer != writers) continue;
      if (!wait_line(p, "result ", &p.result,
                     std::chrono::duration_cast<std::chrono::milliseconds>(kStepTimeout)))
        return fail(fmt::format("{} {}.{} did not stop", p.role, p.id, p.inc));
      const int rc =
          p.child.wait(std::chrono::duration_cast<std::chrono::milliseconds>(kStepTimeout));
      p.alive = false;
      if (rc != 0) return fail(fmt::format("{} {}.{} exited with {}", p.role, p.id, p.inc, rc));
    }
  }
  return true;
}

bool Trial::check_results() {
  // Which incarnation each writer ended with.
  std::map<std::uint16_t, std::uint16_t> final_inc;
  for (const auto& p : procs_)
    if (p.role == "pub" || p.role == "send") final_inc[p.id] = std::max(final_inc[p.id], p.inc);
  for (const auto& p : procs_) {
    if (p.result.empty()) continue;
    const auto f = fields(p.result);
    tot_.max_overshoot_us = std::max<std::int64_t>(
        tot_.max_overshoot_us, static_cast<std::int64_t>(num(f, "max_over_us")));
    if (static_cast<std::int64_t>(num(f, "max_over_us")) > kMaxOvershootUs)
      fail(fmt::format("{} {}: a wait overran its deadline by {} us", p.role, p.id,
                       num(f, "max_over_us")));
    tot_.chunks_reclaimed += num(f, "reclaimed");
    if (p.role != "sub" && p.role != "recv") continue;
    tot_.messages += num(f, "received");
    tot_.bad_messages += num(f, "bad");
    tot_.order_errors += num(f, "order");
    tot_.receive_errors += num(f, "errors");
    if (policy_ == "block") tot_.gaps += num(f, "gaps");
    if (num(f, "bad") || num(f, "order") || num(f, "errors") ||
        (policy_ == "block" && num(f, "gaps")))
      fail(fmt::format("{} {}.{}: {}", p.role, p.id, p.inc, p.result));
    // A reader that was attached before a writer's new incarnation started
    // gets it from sequence 0 (lossless policies): nothing of the new
    // publisher may be mistaken for the dead one's.
    if (policy_ != "block") continue;
    for (const auto& [w, inc] : final_inc) {
      if (inc == 0) continue;
      auto it = f.find(fmt::format("s{}.{}", w, inc));
      if (it == f.end()) continue;
      if (p.inc == 0 && it->second.rfind("0:", 0) != 0)
        fail(fmt::format(
            "{} {}: writer {} incarnation {} started at {} (first:last:count), expected 0", p.role,
            p.id, w, inc, it->second));
    }
  }
  return failure_.empty();
}

bool Trial::drain_queue(sluice::Domain& d) {
  sluice::ChannelOptions o;
  o.capacity = 64;
  o.max_subscribers = 8;
  o.max_senders = 4;
  o.max_held = 16;
  o.publish_timeout = 200ms;
  auto rx = sluice::QueueReceiver::create(d, channel_, o);
  if (!rx) return fail(fmt::format("drain: {}", rx.error().what()));
  for (int empty = 0; empty < 2;) {
    auto s = rx->receive_for(20ms);
    if (!s) {
      if (s.error().code() != sluice::Errc::timed_out)
        return fail(fmt::format("drain: {}", s.error().what()));
      ++empty;
      continue;
    }
    sluice::crash::MessageHeader h{};
    if (!sluice::crash::verify(s->bytes(), h)) {
      ++tot_.bad_messages;
      return fail("drain: a queued message fails its checksum");
    }
  }
  return true;
}

void Trial::reclaim_here(sluice::Domain& d) {
  auto r = d.reclaim();
  if (!r) {
    fail(fmt::format("reclaim: {}", r.error().what()));
    return;
  }
  tot_.dead_peers += r->dead_peers;
  tot_.chunks_reclaimed += r->chunks_freed + r->references_released;
  tot_.chunks_orphaned += r->chunks_orphaned;
}

bool Trial::run() {
  sluice::test::ShmGuard guard(sluice::test::unique_shm_name(fmt::format("torture{}", index_)));
  domain_name_ = guard.name();
  sluice::DomainOptions dopt;
  dopt.heap.classes = {{64, 1024},  {256, 1024},  {1024, 512},
                       {4096, 256}, {16384, 128}, {65536, 64}};
  dopt.heap.tlsf_bytes = 16 * sluice::MiB;
  dopt.heap.tlsf_max_blocks = 512;
  dopt.max_peers = 32;
  dopt.max_channels = 8;
  auto created = sluice::Domain::create(domain_name_, dopt);
  if (!created) return fail(fmt::format("create domain: {}", created.error().what()));
  sluice::Domain domain = std::move(created).value();

  // Kill: a crash point of the victim's role, or a random moment. The first
  // trials walk through every point (twice) so that each run covers all of
  // them; the scenario follows from the point.
  const PointSpec* point = nullptr;
  if (!opt_.point.empty()) {
    for (const auto& pt : kPoints)
      if (opt_.point == pt.name) point = &pt;
    if (!point) return fail("unknown crash point " + opt_.point);
  } else if (index_ < std::size(kPoints) * 2) {
    point = &kPoints[index_ % std::size(kPoints)];
  } else if (rng_() % 10 < 6) {
    point = &kPoints[rng_() % std::size(kPoints)];
  }
  const bool reclaimer = point && std::strchr(point->roles, 'g') != nullptr;
  // For a reclaimer point, the roles whose death leads there.
  auto reaches = [reclaimer](const PointSpec* pt, char role) {
    return std::strchr(reclaimer ? pt->first_victims : pt->roles, role) != nullptr;
  };
  if (point) {
    const bool pubsub_ok = reaches(point, 'p') || reaches(point, 's');
    const bool queue_ok = reaches(point, 'S') || reaches(point, 'r');
    if (opt_.scenario == "queue" && !queue_ok) point = nullptr;
    if (opt_.scenario == "pubsub" && !pubsub_ok) point = nullptr;
    if (point)
      queue_ = !opt_.scenario.empty() ? opt_.scenario == "queue"
                                      : !pubsub_ok || (queue_ok && rng_() % 2);
  }
  if (!point) queue_ = opt_.scenario == "queue" || (opt_.scenario.empty() && rng_() % 5 < 2);
  if (!queue_) {
    policy_ = rng_() % 10 < 7 ? "block" : "overwrite";
    history_ = rng_() % 3 == 0 ? 4 : 0;
  }
  const int readers = queue_ ? 1 : 2 + static_cast<int>(rng_() % 2);
  const int writers = queue_ ? 2 + static_cast<int>(rng_() % 2) : 1;
  const char* reader_role = queue_ ? "recv" : "sub";
  const char* writer_role = queue_ ? "send" : "pub";
  std::string victim_role;
  if (point) {
    std::string roles;
    for (const char r : std::string_view(queue_ ? "Sr" : "ps"))
      if (reaches(point, r)) roles += r;
    const char r = roles[rng_() % roles.size()];
    victim_role = r == 'p' ? "pub" : r == 's' ? "sub" : r == 'S' ? "send" : "recv";
    if (point->needs_history) {
      history_ = 4;
      policy_ = "block";
    }
  } else {
    victim_role = rng_() % 2 ? writer_role : reader_role;
  }
  const bool registry_point = point && std::string_view(point->name).rfind("registry.", 0) == 0;
  const std::string crash_env =
      point
          ? fmt::format(
                "{}:{}", point->name,
                point->max_skip > 0 ? rng_() % static_cast<std::uint64_t>(point->max_skip + 1) : 0)
          : "";
  const std::uint16_t victim_id = static_cast<std::uint16_t>(
      rng_() % static_cast<std::uint64_t>(victim_role == writer_role ? writers : readers));
  phase_ = point && !reclaimer ? std::string(point->name) : "random:" + victim_role;
  log_ += fmt::format(
      "trial {}: {} policy {} history {}, {} writer(s), {} reader(s), victim {} {}, kill at {}{}\n",
      index_, queue_ ? "queue" : "pubsub", policy_, history_, writers, readers, victim_role,
      victim_id, point && !reclaimer ? crash_env : "a random moment",
      reclaimer ? ", then its reclaimer at " + crash_env : "");

  procs_.reserve(16);  // references into procs_ stay valid
  // Start: the victim first when it must create the channel (registry
  // points); readers before writers otherwise.
  std::size_t victim_index = 0;
  auto start_role = [&](const std::string& role, std::uint16_t id) -> bool {
    const bool is_victim = role == victim_role && id == victim_id;
    Proc& p = start(role, id, 0, is_victim && !reclaimer ? crash_env : "");
    if (is_victim) victim_index = procs_.size() - 1;
    if (is_victim && registry_point) return true;  // it stalls before "ready"
    if (!wait_line(p, "ready", nullptr,
                   std::chrono::duration_cast<std::chrono::milliseconds>(kStepTimeout)))
      return fail(fmt::format("{} {} did not start", role, id));
    return true;
  };
  bool stalled = false;
  if (registry_point) {
    if (!start_role(victim_role, victim_id)) return false;
    if (wait_line(procs_[victim_index], "stalled", nullptr, 3s)) stalled = true;
  }
  for (std::uint16_t i = 0; i < readers; ++i) {
    if (registry_point && victim_role == reader_role && i == victim_id) continue;
    // Readers that start while the victim holds the registry lock wait for
    // it (up to the lock timeout): start them without waiting for "ready".
    if (registry_point && stalled) {
      start(reader_role, i, 0, "");
      continue;
    }
    if (!start_role(reader_role, i)) return false;
  }
  for (std::uint16_t i = 0; i < writers; ++i) {
    if (registry_point && victim_role == writer_role && i == victim_id) continue;
    if (registry_point && stalled) {
      start(writer_role, i, 0, "");
      continue;
    }
    if (!start_role(writer_role, i)) return false;
  }

  std::size_t gc_index = SIZE_MAX;
  if (reclaimer) {
    Proc& gc = start("gc", 0, 0, crash_env);
    gc_index = procs_.size() - 1;
    if (!wait_line(gc, "ready", nullptr,
                   std::chrono::duration_cast<std::chrono::milliseconds>(kStepTimeout)))
      return fail("the reclaimer did not start");
  }
  Proc& victim = procs_[victim_index];
  if (point && !registry_point && !reclaimer) {
    stalled = wait_line(victim, "stalled", nullptr, kSanitized ? 8s : 3s);
    if (!failure_.empty()) return false;
  }
  if (reclaimer) {
    std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 30'000));
  } else if (point && !stalled) {
    ++tot_.points_not_reached;
    phase_ = "random:" + victim_role;
    log_ += "  point not reached: killed at a random moment instead\n";
  } else if (!point) {
    std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 30'000));
  }
  ++tot_.kills[phase_];
  victim.child.kill(SIGKILL);
  victim.child.wait(std::chrono::duration_cast<std::chrono::milliseconds>(kStepTimeout));
  victim.alive = false;
  if (reclaimer) {
    // The reclaimer finds the dead victim and stops at its point; kill it
    // there (a survivor may have reclaimed first: then it is not reached).
    Proc& gc = procs_[gc_index];
    if (wait_line(gc, "stalled", nullptr, kSanitized ? 8s : 3s)) {
      phase_ = point->name;
      ++tot_.kills[phase_];
      gc.child.kill(SIGKILL);
      gc.child.wait(std::chrono::duration_cast<std::chrono::milliseconds>(kStepTimeout));
      gc.alive = false;
    } else {
      if (!failure_.empty()) return false;
      ++tot_.points_not_reached;
      log_ += "  reclaimer point not reached (someone else reclaimed first)\n";
    }
  }

  // The other processes started under a stalled registry holder must now
  // come up (the lock's owner died; the next locker repairs the registry).
  if (registry_point && stalled) {
    for (auto& p : procs_) {
      if (!p.alive) continue;
      if (!wait_line(p, "ready", nullptr,
                     std::chrono::duration_cast<std::chrono::milliseconds>(kStepTimeout)))
        return fail(
            fmt::format("{} {} did not start after the registry holder died", p.role, p.id));
    }
  }

  if (rng_() % 2 == 0) reclaim_here(domain);

  // Restart the victim's role.
  for (auto& p : procs_) {
    if (!p.alive || (p.role != "sub" && p.role != "recv")) continue;
    auto f = status(p);
    if (!f) return fail(fmt::format("{} {} does not answer", p.role, p.id));
    p.received_at_restart = num(*f, "received");
  }
  const std::string vrole = victim.role;
  const std::uint16_t vid = victim.id;
  const auto vinc = static_cast<std::uint16_t>(victim.inc + 1);
  {
    Proc& again = start(vrole, vid, vinc, "");
    if (!wait_line(again, "ready", nullptr,
                   std::chrono::duration_cast<std::chrono::milliseconds>(kStepTimeout)))
      return fail(fmt::format("restarted {} {} did not start", vrole, vid));
  }
  if (!wait_progress(procs_.back())) return false;
  if (!stop_all()) return false;
  if (!check_results()) return false;
  if (queue_ && !drain_queue(domain)) return false;

  // Nothing is attached now but this process: account for every chunk.
  reclaim_here(domain);
  auto before = sluice::crash::account(domain);
  const std::uint64_t leaked =
      before.leaked_refs + before.loaned_orphans + before.lost_pool_chunks + before.freeing;
  tot_.leaks_before_sweep += leaked;
  if (leaked) tot_.window_leaks[phase_] += leaked;
  tot_.over_released += before.over_released;
  if (!before.safe()) return fail("accounting: " + sluice::crash::describe(before));
  auto swept = domain.sweep();
  if (!swept) return fail(fmt::format("sweep: {}", swept.error().what()));
  tot_.sweep_recovered += swept->references_recovered + swept->lost_chunks_relisted;
  auto after = sluice::crash::account(domain);
  const std::uint64_t still =
      after.leaked_refs + after.loaned_orphans + after.lost_pool_chunks + after.freeing;
  tot_.leaks += still;
  tot_.over_released += after.over_released;
  if (still || !after.safe() || after.attached_endpoints || after.registry_refs)
    return fail("after sweep: " + sluice::crash::describe(after));
  if (opt_.verbose && leaked) log_ += "  before sweep: " + sluice::crash::describe(before) + "\n";
  return true;
}

void usage() {
  std::fprintf(stderr,
               "usage: sluice_crash_harness [--trials N] [--seed S] [--point NAME] [--scenario "
               "pubsub|queue]\n"
               "                            [--max-seconds T] [--verbose] [--json]\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  opt.seed = std::random_device{}();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--trials")
      opt.trials = std::strtoull(value().c_str(), nullptr, 10);
    else if (a == "--seed")
      opt.seed = std::strtoull(value().c_str(), nullptr, 10);
    else if (a == "--point")
      opt.point = value();
    else if (a == "--scenario")
      opt.scenario = value();
    else if (a == "--max-seconds")
      opt.max_seconds = std::strtod(value().c_str(), nullptr);
    else if (a == "--verbose")
      opt.verbose = true;
    else if (a == "--json")
      opt.json = true;
    else if (a == "--list-points") {
      for (const auto& p : kPoints) std::printf("%s\n", p.name);
      return 0;
    } else {
      usage();
      return 2;
    }
  }
  std::mt19937_64 rng(opt.seed);
  Totals tot;
  const auto t0 = Clock::now();
  for (std::uint64_t t = 0; t < opt.trials; ++t) {
    if (opt.max_seconds > 0 &&
        std::chrono::duration<double>(Clock::now() - t0).count() > opt.max_seconds)
      break;
    Trial trial(opt, t, rng, tot);
    const bool ok = trial.run();
    const std::string& failure = trial.failure();
    const std::string& phase = trial.phase();
    const std::string& log = trial.log();
    ++tot.trials;
    if (ok) {
      ++tot.passed;
    } else {
      tot.failures.push_back(fmt::format("trial {} ({}): {}", t, phase, failure));
      std::fprintf(stderr, "FAILED trial %llu (%s): %s\n%s", static_cast<unsigned long long>(t),
                   phase.c_str(), failure.c_str(), log.c_str());
    }
    if (opt.verbose) std::fputs(log.c_str(), stderr);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  std::printf("sluice crash harness: %llu trials in %.1f s (seed %llu), %llu passed\n",
              static_cast<unsigned long long>(tot.trials), secs,
              static_cast<unsigned long long>(opt.seed),
              static_cast<unsigned long long>(tot.passed));
  std::printf("kills per phase (leaked references found before the sweep):\n");
  for (const auto& [phase, n] : tot.kills) {
    const auto it = tot.window_leaks.find(phase);
    std::printf("  %-28s %6llu  (%llu)\n", phase.c_str(), static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(it == tot.window_leaks.end() ? 0 : it->second));
  }
  std::printf("crash points not reached (killed at random instead): %llu\n",
              static_cast<unsigned long long>(tot.points_not_reached));
  std::printf(
      "messages verified: %llu; bad checksums %llu, order errors %llu, gaps (lossless) %llu, "
      "receive "
      "errors %llu\n",
      static_cast<unsigned long long>(tot.messages),
      static_cast<unsigned long long>(tot.bad_messages),
      static_cast<unsigned long long>(tot.order_errors), static_cast<unsigned long long>(tot.gaps),
      static_cast<unsigned long long>(tot.receive_errors));
  std::printf(
      "dead peers reclaimed: %llu; chunks reclaimed (loans freed + references released): %llu; "
      "published "
      "chunks orphaned (holders kept them): %llu\n",
      static_cast<unsigned long long>(tot.dead_peers),
      static_cast<unsigned long long>(tot.chunks_reclaimed),
      static_cast<unsigned long long>(tot.chunks_orphaned));
  std::printf(
      "leaks found before the sweep: %llu; recovered by the sweep: %llu; leaks after: %llu; "
      "over-released: %llu\n",
      static_cast<unsigned long long>(tot.leaks_before_sweep),
      static_cast<unsigned long long>(tot.sweep_recovered),
      static_cast<unsigned long long>(tot.leaks),
      static_cast<unsigned long long>(tot.over_released));
  std::printf("worst deadline overshoot: %lld us\n", static_cast<long long>(tot.max_overshoot_us));
  if (opt.json) {
    std::string kills;
    for (const auto& [phase, n] : tot.kills)
      kills += fmt::format("{}\"{}\":{}", kills.empty() ? "" : ",", phase, n);
    std::printf(
        "{\"trials\":%llu,\"passed\":%llu,\"seconds\":%.1f,\"kills\":{%s},\"chunks_reclaimed\":%"
        "llu,"
        "\"leaks_before_sweep\":%llu,\"sweep_recovered\":%llu,\"leaks\":%llu,\"over_released\":%"
        "llu,"
        "\"messages\":%llu,\"bad_messages\":%llu,\"max_overshoot_us\":%lld}\n",
        static_cast<unsigned long long>(tot.trials), static_cast<unsigned long long>(tot.passed),
        secs, kills.c_str(), static_cast<unsigned long long>(tot.chunks_reclaimed),
        static_cast<unsigned long long>(tot.leaks_before_sweep),
        static_cast<unsigned long long>(tot.sweep_recovered),
        static_cast<unsigned long long>(tot.leaks),
        static_cast<unsigned long long>(tot.over_released),
        static_cast<unsigned long long>(tot.messages),
        static_cast<unsigned long long>(tot.bad_messages),
        static_cast<long long>(tot.max_overshoot_us));
  }
  for (const auto& f : tot.failures) std::printf("FAILED %s\n", f.c_str());
  return tot.failures.empty() && tot.trials > 0 ? 0 : 1;
}
