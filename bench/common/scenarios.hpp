#pragma once
// The scenarios, written once for every transport.
//
// measure<T>(spec) runs one measurement of transport T: it creates the links
// in the parent, forks the pinned processes, runs the scenario's roles in
// them and collects what they reported. The roles below are the only timed
// code of the peer benchmark.
//
// S1 (ping-pong), per iteration k:
//   initiator (cpu A)                         responder (cpu B)
//   loan + fill message k        (untimed)    loan + fill reply k   (untimed)
//   wait until responder ready   (untimed)    ready = k + 1
//   t0                                        receive  <- waits here
//   send ------------------------------------> read (ends or all), check
//   receive  <--------------------------------- send reply k
//   read (ends or all), check                 release
//   t1; release; record (t1 - t0) / 2
// In blocking mode the initiator also waits, untimed, until the responder is
// asleep in the kernel (SleepProbe), so every timed message pays a real
// wake-up rather than catching the responder on its way into the wait.
//
// S2/S3 streams: the sender loans, fills and sends as fast as the link lets
// it; receivers read every byte and check every sequence number (lossless).
// Throughput is measured from the sender's first measured send to the last
// receiver's receipt of the final message.

#include "common/measure.hpp"
#include "common/payload.hpp"
#include "common/process.hpp"
#include "common/system.hpp"

#include <atomic>
#include <optional>
#include <vector>

namespace sluice::bench {

namespace detail {

// Runs one role in a child: reports its pid, runs, stores an error message
// where the parent finds it. Returns the child's exit status.
int run_role(Control& control, std::uint32_t slot, const std::function<Result<void>()>& role);

// Collects the reports of a finished measurement into m.
void collect(const MeasureSpec& spec, const Control& control, std::uint32_t receivers,
             Measurement& m);

// The first error a child stored, else `fallback`.
std::string first_child_error(const Control& control, std::string fallback);

std::string process_name(const MeasureSpec& spec, std::uint32_t slot);

template <Transport T>
std::span<const std::byte> receive_one(typename T::Receiver& rx, Wait wait) {
  if (wait == Wait::blocking) return rx.receive();
  // No pause instruction: it would add its own latency (~40 ns on recent
  // Intel cores) to every measurement. The price is paid by an SMT sibling
  // of the spinning core, if it has one (docs/benchmarks.md, caveats).
  for (;;) {
    if (auto m = rx.try_receive()) return *m;
  }
}

inline std::uint64_t consume(std::span<const std::byte> msg, Read read, std::string_view who) {
  std::uint64_t header = 0;
  const bool good = read == Read::all ? read_all(msg, header) : touch(msg, header);
  if (!good) fatal("{}: received a torn or stale message ({} bytes)", who, msg.size());
  return header;
}

inline void expect_seq(std::uint64_t header, std::uint64_t k, std::string_view who) {
  if ((header & kSeqMask) != k) {
    fatal("{}: lost or reordered message: got #{}, expected #{}", who, header & kSeqMask, k);
  }
}

// Untimed: waits until every process in [first, first + count) is ready for
// message k, and in blocking mode until each is asleep. Returns how many
// were not seen asleep within the timeout.
inline std::uint64_t wait_ready(Control& control, std::uint32_t first, std::uint32_t count,
                                std::uint64_t k, const std::vector<SleepProbe>& probes,
                                std::uint64_t asleep_timeout_ns) {
  for (std::uint32_t p = first; p < first + count; ++p) {
    while (control.ready[p].value.load(std::memory_order_acquire) < k + 1) {
    }
  }
  std::uint64_t missed = 0;
  for (const auto& probe : probes) {
    const std::uint64_t since = now_ns();
    while (!probe.asleep()) {
      if (now_ns() - since > asleep_timeout_ns) {
        ++missed;
        break;
      }
    }
  }
  return missed;
}

inline Result<std::vector<SleepProbe>> open_probes(const Control& control, Wait wait,
                                                   std::uint32_t first, std::uint32_t count) {
  std::vector<SleepProbe> probes;
  if (wait != Wait::blocking) return probes;
  for (std::uint32_t p = first; p < first + count; ++p) {
    SLUICE_TRY_ASSIGN(auto probe, SleepProbe::open(control.pid[p].load()));
    probes.push_back(std::move(probe));
  }
  return probes;
}

// Warm-up and stop decisions, shared by every role that drives a loop.
class Phase {
 public:
  struct Step {
    bool measured;  // iteration k is past the warm-up: record it
    bool last;      // iteration k is the last one
  };

  Phase(const Budget& b, std::uint64_t start_ns) : budget_(b), start_(start_ns) {}

  // Decides about iteration k before it runs; `now` is the current time.
  Step next(std::uint64_t k, std::uint64_t now) noexcept {
    if (!measuring_) {
      if (now - start_ < budget_.warmup_ns || k < budget_.min_warmup) return {false, false};
      measuring_ = true;
      first_ = k;
      since_ = now;
    }
    const std::uint64_t done = k - first_ + 1;  // measured iterations, k included
    const bool last = done >= budget_.max_iterations ||
                      (now - since_ >= budget_.measure_ns && done >= budget_.min_iterations);
    return {true, last};
  }
  [[nodiscard]] bool measuring() const noexcept { return measuring_; }
  [[nodiscard]] std::uint64_t first() const noexcept { return first_; }

 private:
  Budget budget_;
  std::uint64_t start_;
  bool measuring_ = false;
  std::uint64_t first_ = 0;
  std::uint64_t since_ = 0;
};

// ---- S1 --------------------------------------------------------------------

template <Transport T>
Result<void> s1_initiator(Control& c, const MeasureSpec& spec, typename T::Sender& tx,
                          typename T::Receiver& rx) {
  SLUICE_TRY_ASSIGN(const auto probes, open_probes(c, spec.wait, 1, 1));
  Histogram rtt;
  UsageWindow usage;
  Phase phase(spec.budget, now_ns());
  for (std::uint64_t k = 0;; ++k) {
    const auto step = phase.next(k, now_ns());
    if (step.measured) usage.begin();
    const auto out = tx.loan(spec.payload);
    fill(out, k | (step.measured ? kMeasuredFlag : 0));
    const std::uint64_t missed = wait_ready(c, 1, 1, k, probes, spec.asleep_timeout_ns);

    const std::uint64_t t0 = now_ns();
    tx.send(out);
    const auto in = receive_one<T>(rx, spec.wait);
    const std::uint64_t reply = consume(in, spec.read, "initiator");
    const std::uint64_t t1 = now_ns();

    rx.release();
    expect_seq(reply, k, "initiator");
    if (step.measured) {
      rtt.record(t1 - t0);
      c.not_asleep += missed;
    }
    if (step.last) break;
  }
  usage.end(c.report[0]);
  const auto stop = tx.loan(spec.payload);
  fill(stop, kStopFlag);
  tx.send(stop);
  c.latency = summarize(rtt, 0.5);
  return ok();
}

template <Transport T>
Result<void> s1_responder(Control& c, const MeasureSpec& spec, std::uint32_t slot,
                          typename T::Sender& tx, typename T::Receiver& rx) {
  UsageWindow usage;
  for (std::uint64_t k = 0;; ++k) {
    const auto out = tx.loan(spec.payload);
    fill(out, k);
    c.ready[slot].value.store(k + 1, std::memory_order_release);
    const auto in = receive_one<T>(rx, spec.wait);
    const std::uint64_t header = consume(in, spec.read, "responder");
    if (header & kStopFlag) {
      rx.release();
      usage.end(c.report[slot]);
      return ok();  // the unsent loan goes back when tx is destroyed
    }
    if (header & kMeasuredFlag) usage.begin();
    tx.send(out);
    rx.release();
    expect_seq(header, k, "responder");
  }
}

// ---- S3 latency --------------------------------------------------------------

template <Transport T>
Result<void> s3_publisher(Control& c, const MeasureSpec& spec, typename T::Sender& tx) {
  SLUICE_TRY_ASSIGN(const auto probes, open_probes(c, spec.wait, 1, spec.receivers));
  Histogram lat;
  UsageWindow usage;
  Phase phase(spec.budget, now_ns());
  for (std::uint64_t k = 0;; ++k) {
    const auto step = phase.next(k, now_ns());
    if (step.measured) usage.begin();
    const auto out = tx.loan(spec.payload);
    fill(out, k | (step.measured ? kMeasuredFlag : 0));
    const std::uint64_t missed =
        wait_ready(c, 1, spec.receivers, k, probes, spec.asleep_timeout_ns);

    const std::uint64_t target = (k + 1) * spec.receivers;
    const std::uint64_t t0 = now_ns();
    tx.send(out);
    while (c.acks.value.load(std::memory_order_acquire) < target) {
    }
    const std::uint64_t t1 = now_ns();

    if (step.measured) {
      lat.record(t1 - t0);
      c.not_asleep += missed;
    }
    if (step.last) break;
  }
  usage.end(c.report[0]);
  const auto stop = tx.loan(spec.payload);
  fill(stop, kStopFlag);
  tx.send(stop);
  c.latency = summarize(lat, 1.0);
  return ok();
}

template <Transport T>
Result<void> s3_subscriber(Control& c, const MeasureSpec& spec, std::uint32_t slot,
                           typename T::Receiver& rx) {
  UsageWindow usage;
  for (std::uint64_t k = 0;; ++k) {
    c.ready[slot].value.store(k + 1, std::memory_order_release);
    const auto in = receive_one<T>(rx, spec.wait);
    const std::uint64_t header = consume(in, spec.read, "subscriber");
    if (header & kStopFlag) {
      rx.release();
      usage.end(c.report[slot]);
      return ok();
    }
    if (header & kMeasuredFlag) usage.begin();
    expect_seq(header, k, "subscriber");
    c.acks.value.fetch_add(1, std::memory_order_acq_rel);
    rx.release();
  }
}

// ---- S2 / S3 streams ---------------------------------------------------------

template <Transport T>
Result<void> stream_sender(Control& c, const MeasureSpec& spec, typename T::Sender& tx) {
  // Read the clock every message for large payloads, every 64th for small
  // ones, where a clock read would be a visible share of a message's cost.
  const std::uint64_t check_mask = spec.payload >= 16 * 1024 ? 0 : 63;
  ProcessReport& me = c.report[0];
  Phase phase(spec.budget, now_ns());
  Phase::Step step{false, false};
  UsageWindow usage;
  std::uint64_t k = 0;
  for (;; ++k) {
    if ((k & check_mask) == 0) {
      const std::uint64_t now = now_ns();
      const bool was_measuring = phase.measuring();
      step = phase.next(k, now);
      if (step.measured && !was_measuring) {
        me.first_ns = now;
        usage.begin();
      }
    }
    const std::uint64_t header =
        k | (step.measured ? kMeasuredFlag : 0) | (step.last ? kStopFlag : 0);
    const auto out = tx.loan(spec.payload);
    fill(out, header);
    tx.send(out);
    if (step.last) break;
  }
  usage.end(me);
  me.messages = k - phase.first() + 1;
  return ok();
}

template <Transport T>
Result<void> stream_receiver(Control& c, const MeasureSpec& spec, std::uint32_t slot,
                             typename T::Receiver& rx) {
  ProcessReport& me = c.report[slot];
  UsageWindow usage;
  std::uint64_t measured = 0;
  for (std::uint64_t k = 0;; ++k) {
    const auto in = receive_one<T>(rx, spec.wait);
    const std::uint64_t header = consume(in, Read::all, "receiver");
    rx.release();
    expect_seq(header, k, "receiver");
    if (header & kMeasuredFlag) {
      usage.begin();
      ++measured;
    }
    if (header & kStopFlag) {
      me.last_ns = now_ns();
      usage.end(me);
      me.messages = measured;
      return ok();
    }
  }
}

// ---- processes -----------------------------------------------------------------

// Links and endpoints need only be move-constructible: construct in place.
template <typename V>
Result<void> emplace(std::optional<V>& slot, Result<V>&& made) {
  if (!made) return fail(std::move(made).error());
  slot.emplace(std::move(made).value());
  return ok();
}

template <Transport T>
Result<void> init_process(const MeasureSpec& spec, std::uint32_t slot) {
  if constexpr (HasInitProcess<T>) {
    return T::init_process(process_name(spec, slot));
  } else {
    (void)spec;
    (void)slot;
    return ok();
  }
}

template <Transport T>
Result<void> connect(typename T::Receiver& rx, const MeasureSpec& spec) {
  if constexpr (HasWaitConnected<typename T::Receiver>) {
    return rx.wait_connected(now_ns() + spec.setup_timeout_ns);
  } else {
    (void)rx;
    (void)spec;
    return ok();
  }
}

// Process 0: the initiator (S1) or the sender / publisher (S2, S3).
template <Transport T>
Result<void> role_a(Control& c, const MeasureSpec& spec, typename T::Link& fwd,
                    typename T::Link* back, std::uint32_t parties) {
  SLUICE_TRY(init_process<T>(spec, 0));
  SLUICE_TRY_ASSIGN(auto tx, fwd.open_sender());
  std::optional<typename T::Receiver> rx;
  if (back) {
    SLUICE_TRY(emplace(rx, back->open_receiver(0)));
    SLUICE_TRY(connect<T>(*rx, spec));
  }
  SLUICE_TRY(c.start.arrive_and_wait(parties, spec.setup_timeout_ns));
  switch (spec.scenario) {
    case Scenario::s1_latency:
      return s1_initiator<T>(c, spec, tx, *rx);
    case Scenario::s3_fanout_latency:
      return s3_publisher<T>(c, spec, tx);
    case Scenario::s2_stream:
    case Scenario::s3_fanout_stream:
      return stream_sender<T>(c, spec, tx);
  }
  return ok();
}

// Processes 1..receivers: the responder (S1) or the receivers (S2, S3).
template <Transport T>
Result<void> role_b(Control& c, const MeasureSpec& spec, std::uint32_t slot, typename T::Link& fwd,
                    typename T::Link* back, std::uint32_t parties) {
  SLUICE_TRY(init_process<T>(spec, slot));
  SLUICE_TRY_ASSIGN(auto rx, fwd.open_receiver(slot - 1));
  std::optional<typename T::Sender> tx;
  if (back) SLUICE_TRY(emplace(tx, back->open_sender()));
  SLUICE_TRY(connect<T>(rx, spec));
  SLUICE_TRY(c.start.arrive_and_wait(parties, spec.setup_timeout_ns));
  switch (spec.scenario) {
    case Scenario::s1_latency:
      return s1_responder<T>(c, spec, slot, *tx, rx);
    case Scenario::s3_fanout_latency:
      return s3_subscriber<T>(c, spec, slot, rx);
    case Scenario::s2_stream:
    case Scenario::s3_fanout_stream:
      return stream_receiver<T>(c, spec, slot, rx);
  }
  return ok();
}

template <Transport T>
Result<void> run_measurement(const MeasureSpec& spec, Measurement& m) {
  const bool pingpong = spec.scenario == Scenario::s1_latency;
  const std::uint32_t receivers = is_fanout(spec.scenario) ? spec.receivers : 1;
  if (receivers == 0 || receivers > kMaxReceivers) {
    return fail(Errc::invalid_argument, "{} receivers: 1 to {} supported", receivers,
                kMaxReceivers);
  }
  MeasureSpec s = spec;
  s.receivers = receivers;
  const std::uint32_t depth = link_depth(spec.scenario, spec.payload);

  SLUICE_TRY_ASSIGN(auto control, Shared<Control>::create());
  SLUICE_TRY_ASSIGN(auto fwd,
                    T::create_link({s.name + "-ab", s.payload, depth, receivers, s.wait}));
  std::optional<typename T::Link> back;
  if (pingpong)
    SLUICE_TRY(emplace(back, T::create_link({s.name + "-ba", s.payload, depth, 1, s.wait})));
  typename T::Link* back_ptr = back ? &*back : nullptr;

  Control& c = *control;
  const std::uint32_t parties = 1 + receivers;
  ProcessGroup group;
  for (std::uint32_t slot = 1; slot <= receivers; ++slot) {
    SLUICE_TRY(group.spawn(process_name(s, slot), s.cpu_b, [&, slot] {
      return run_role(c, slot, [&] { return role_b<T>(c, s, slot, fwd, back_ptr, parties); });
    }));
  }
  SLUICE_TRY(group.spawn(process_name(s, 0), s.cpu_a, [&] {
    return run_role(c, 0, [&] { return role_a<T>(c, s, fwd, back_ptr, parties); });
  }));

  // Generous: setup, warm-up, measuring, and the slowest iterations of a
  // 64 MiB copy several times over.
  const auto budget_ms =
      (s.setup_timeout_ns + 4 * (s.budget.warmup_ns + s.budget.measure_ns)) / 1'000'000;
  if (auto done = group.wait_all(std::chrono::milliseconds(budget_ms + 60'000)); !done) {
    return fail(Errc::internal, "{}", first_child_error(c, done.error().what()));
  }
  collect(s, c, receivers, m);
  return ok();
}

}  // namespace detail

template <Transport T>
Measurement measure(const MeasureSpec& spec) {
  Measurement m;
  if (auto r = detail::run_measurement<T>(spec, m); !r) {
    m.ok = false;
    m.error = r.error().what();
    return m;
  }
  m.ok = true;
  return m;
}

}  // namespace sluice::bench
