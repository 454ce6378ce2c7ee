// bench_arrow: an Arrow record batch handed from one pinned process to
// another, through a sluice batch channel and, in the same run, through a
// pipe.
//
// Timed interval (one way, CLOCK_MONOTONIC read in both processes): from the
// moment the publisher starts publishing a batch it already has, to the
// moment the subscriber holds a decoded batch and has read the first and the
// last cache line of its column (and checked both values). Per iteration:
//
//   A1 sluice  the batch was built straight into a loaned chunk (BatchLoan:
//              the column is filled at its final place in the IPC stream,
//              untimed); timed: publish (writes the record-batch metadata,
//              one descriptor), receive, decode in place.
//   A1 pipe    the batch is in the publisher's private memory; timed: its
//              IPC stream is written to a pipe (StreamWriter over the fd, the
//              body straight from the array, after an 8-byte length), read
//              into a buffer on the other side (allocated and faulted in
//              once, reused: the most favourable case for the pipe), and
//              decoded there (in place in that buffer).
//   A2 sluice  the batch is in private memory; timed: publish(batch)
//              serialises it into a loan of exactly its size (one copy),
//              then receive and decode in place - what a producer pays when
//              its batch was not built in shared memory.
//
// Payloads: one int64 column of 8 Mi rows (64 MiB) and of 128 rows (1 KiB).
// Subscribers busy-poll (mode "busy") or sleep in the kernel (mode
// "blocking": futex for sluice, read() for the pipe); in blocking mode every
// iteration starts once the subscriber is seen asleep.
//
// Usage: bench_arrow [--quick] [--out FILE.json] [--cpus A,B] [--nice N]
//                    [--realtime] [--iterations N] [--commit ID] [--note TEXT]

#include "common/format.hpp"
#include "common/histogram.hpp"
#include "common/process.hpp"
#include "common/record.hpp"
#include "common/shared.hpp"
#include "common/system.hpp"

#include <sluice/arrow/builder.hpp>
#include <sluice/arrow/ipc.hpp>
#include <sluice/batch/batch_channel.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#ifndef SLUICE_BENCH_BUILD_TYPE
#define SLUICE_BENCH_BUILD_TYPE "unknown"
#endif

namespace sluice::bench {
namespace {

using namespace std::chrono_literals;
namespace sa = sluice::arrow;
namespace sb = sluice::batch;

constexpr std::int64_t kBigRows = std::int64_t{8} << 20;  // 64 MiB of int64
constexpr std::int64_t kSmallRows = 128;                  // 1 KiB
constexpr std::size_t kPipeSize = 1 << 20;

enum class Path : std::uint8_t { loaned, pipe, serialised, loaned_warm };

struct Spec {
  Path path = Path::loaned;
  bool blocking = false;
  std::int64_t rows = kBigRows;
  std::uint64_t warmup = 5;
  std::uint64_t iterations = 100;
};

struct Options {
  bool quick = false;
  std::string out = "arrow.json";
  int cpu_a = 0;
  int cpu_b = 1;
  int nice = -20;
  bool realtime = false;
  std::uint64_t iterations = 0;  // 0: per payload default
  std::string commit = "unknown";
  std::string note;
};

struct Control {
  ProcessBarrier start;
  // publisher: k + 1 once message k is prepared (futex word; the subscriber
  // sleeps on it meanwhile, instead of spinning through the preparation).
  alignas(64) std::atomic<std::uint32_t> armed{0};
  PaddedCounter ready;         // subscriber: k + 1 once it waits for message k
  PaddedCounter done;          // subscriber: k + 1 once message k is checked and dropped
  PaddedCounter t0;            // publisher: start of message k (seq_cst store before sending)
  PaddedCounter stream_bytes;  // subscriber: size of the IPC stream received
  std::atomic<std::int32_t> subscriber_pid{0};
  std::atomic<std::uint64_t> not_asleep{0};
  std::atomic<std::uint64_t> preemptions{0};
  Percentiles latency;       // written by the subscriber before it exits
  Percentiles publish_call;  // the publisher's send call alone (written by the publisher)
  char error[512] = {};
};

int child_error(Control& ctl, const std::string& what) {
  std::snprintf(ctl.error, sizeof ctl.error, "%s", what.c_str());
  return 1;
}

sa::SchemaPtr column_schema() { return sa::schema({sa::field("v", sa::int64(), false)}); }

// A private batch with v[i] = i.
sa::RecordBatch private_batch(std::int64_t rows) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(rows));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int64_t>(i);
  return sa::RecordBatch(column_schema(), rows,
                         {sa::make_fixed_width(sa::int64(), v.data(), rows)});
}

// Reads exactly out.size() bytes (false at end of input or on error).
bool read_full(int fd, std::byte* out, std::size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, out, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    out += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool write_full(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::byte*>(data);
  while (n > 0) {
    const ssize_t r = ::write(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// First and last cache line of the column, checked against what was sent.
bool touch(const sa::RecordBatch& b, std::int64_t rows, std::int64_t base) {
  if (b.num_rows() != rows || b.num_columns() != 1) return false;
  const sa::Array& col = *b.column(0);
  return col.value<std::int64_t>(0) == base && col.value<std::int64_t>(rows - 1) == base + rows - 1;
}

std::string path_name(Path p) {
  switch (p) {
    case Path::loaned:
      return "sluice";
    case Path::pipe:
      return "pipe";
    case Path::serialised:
      return "sluice";
    case Path::loaned_warm:
      return "sluice";
  }
  return "?";
}

std::string scenario_of(Path p) {
  switch (p) {
    case Path::loaned:
    case Path::pipe:
      return "A1";
    case Path::serialised:
      return "A2";
    case Path::loaned_warm:
      return "A3";
  }
  return "?";
}

Result<Record> measure(const Spec& spec, const Options& opts, unsigned index) {
  const std::string domain_name = fmt::format("sluice-bench-arrow-{}-{}", ::getpid(), index);
  (void)Domain::remove(domain_name);
  std::optional<Domain> domain;
  int pipe_fds[2] = {-1, -1};
  std::size_t pipe_size = 0;
  if (spec.path == Path::pipe) {
    if (::pipe(pipe_fds) != 0) return fail(Error::from_errno(errno, "pipe"));
    const int r = ::fcntl(pipe_fds[1], F_SETPIPE_SZ, static_cast<int>(kPipeSize));
    pipe_size = r > 0 ? static_cast<std::size_t>(r) : 65536;
  } else {
    DomainOptions dopt;
    // Small pools; the batches go to a TLSF region that holds a 64 MiB
    // batch with room to spare.
    dopt.heap = alloc::HeapConfig::scaled(0.02, 256 * MiB);
    dopt.max_peers = 8;
    dopt.max_channels = 4;
    SLUICE_TRY_ASSIGN(domain, Domain::create(domain_name, dopt));
  }
  SLUICE_TRY_ASSIGN(auto ctl, Shared<Control>::create());
  ChannelOptions copt;
  copt.capacity = 8;
  copt.publish_timeout = 10s;
  const std::int64_t rows = spec.rows;
  const std::uint64_t total = spec.warmup + spec.iterations;
  constexpr std::uint64_t kSetupTimeout = 20'000'000'000ULL;

  ProcessGroup group;
  // --- subscriber ---
  SLUICE_TRY(group.spawn("subscriber", opts.cpu_b, [&]() -> int {
    Control& c = *ctl;
    c.subscriber_pid.store(::getpid());
    if (pipe_fds[1] >= 0) ::close(pipe_fds[1]);
    std::optional<sb::BatchSubscriber> sub;
    std::optional<Domain> d;
    std::vector<std::byte> buffer;
    if (spec.path == Path::pipe) {
      // Allocated and faulted in once: the pipe pays its copies, not page faults.
      buffer.assign(static_cast<std::size_t>(rows) * 8 + 64 * 1024, std::byte{1});
    } else {
      auto dd = Domain::open(domain_name);
      if (!dd) return child_error(c, "subscriber: " + dd.error().what());
      d = std::move(*dd);
      auto s = sb::BatchSubscriber::create(*d, "batches", {}, {}, copt);
      if (!s) return child_error(c, "subscriber: " + s.error().what());
      sub = std::move(*s);
    }
    if (!c.start.arrive_and_wait(2, kSetupTimeout))
      return child_error(c, "subscriber: start barrier timed out");
    Histogram h;
    Usage u1 = usage_now();
    for (std::uint64_t k = 0; k < total; ++k) {
      if (k == spec.warmup) u1 = usage_now();
      const auto armed = static_cast<std::uint32_t>(k + 1);
      for (std::uint32_t a; (a = c.armed.load(std::memory_order_acquire)) != armed;)
        futex_wait(c.armed, a, 100'000'000);
      c.ready.value.store(k + 1, std::memory_order_release);
      std::uint64_t t1 = 0;
      const bool loaned = spec.path == Path::loaned || spec.path == Path::loaned_warm;
      const std::int64_t base = loaned ? static_cast<std::int64_t>(k) : 0;
      if (spec.path == Path::pipe) {
        std::uint64_t len = 0;
        if (!read_full(pipe_fds[0], reinterpret_cast<std::byte*>(&len), 8) || len > buffer.size())
          return child_error(c,
                             fmt::format("pipe read: length {} (buffer {})", len, buffer.size()));
        if (!read_full(pipe_fds[0], buffer.data(), len))
          return child_error(c, "pipe read: short stream");
        auto reader = sa::ipc::StreamReader::open(sa::Buffer::wrap(buffer.data(), len, nullptr));
        if (!reader) return child_error(c, "pipe decode: " + reader.error().what());
        auto b = reader->next();
        if (!b || !*b) return child_error(c, "pipe decode: no batch");
        if (!touch(**b, rows, base))
          return child_error(c, fmt::format("pipe message {}: wrong values", k));
        t1 = now_ns();
        c.stream_bytes.value.store(len, std::memory_order_relaxed);
      } else {
        Result<sb::ReceivedBatch> got = fail(Errc::would_block);
        if (spec.blocking) {
          got = sub->receive_for(10s);
        } else {
          do {
            got = sub->try_receive();
          } while (!got && got.error().code() == Errc::would_block);
        }
        if (!got) return child_error(c, fmt::format("receive {}: {}", k, got.error().what()));
        if (!touch(got->batch, rows, base))
          return child_error(c, fmt::format("message {}: wrong values", k));
        t1 = now_ns();
        if (got->buffers_copied != 0) return child_error(c, "a buffer was copied");
        c.stream_bytes.value.store(got->stream_bytes, std::memory_order_relaxed);
      }  // the batch is dropped here: its chunk returns to the heap
      const std::uint64_t t0 = c.t0.value.load(std::memory_order_seq_cst);
      if (k >= spec.warmup) h.record(t1 - t0);
      c.done.value.store(k + 1, std::memory_order_release);
    }
    const Usage u2 = usage_now();
    c.preemptions.fetch_add(u2.preemptions - u1.preemptions);
    c.latency = summarize(h);
    return 0;
  }));

  // --- publisher ---
  SLUICE_TRY(group.spawn("publisher", opts.cpu_a, [&]() -> int {
    Control& c = *ctl;
    if (pipe_fds[0] >= 0) ::close(pipe_fds[0]);
    std::optional<Domain> d;
    std::optional<sb::BatchPublisher> pub;
    sa::RecordBatch batch;
    if (spec.path != Path::loaned) batch = private_batch(rows);
    if (spec.path != Path::pipe) {
      auto dd = Domain::open(domain_name);
      if (!dd) return child_error(c, "publisher: " + dd.error().what());
      d = std::move(*dd);
      auto p = sb::BatchPublisher::create(*d, "batches", copt);
      if (!p) return child_error(c, "publisher: " + p.error().what());
      pub = std::move(*p);
      for (int i = 0; i < 10000 && pub->subscriber_count() < 1; ++i)
        std::this_thread::sleep_for(1ms);
    }
    if (!c.start.arrive_and_wait(2, kSetupTimeout))
      return child_error(c, "publisher: start barrier timed out");
    std::optional<SleepProbe> probe;
    if (spec.blocking) {
      auto p = SleepProbe::open(c.subscriber_pid.load());
      if (!p) return child_error(c, "publisher: " + p.error().what());
      probe = std::move(*p);
    }
    Usage u1 = usage_now();
    std::uint64_t not_asleep = 0;
    Histogram calls;
    for (std::uint64_t k = 0; k < total; ++k) {
      if (k == spec.warmup) u1 = usage_now();
      // Untimed: build the batch in place.
      std::optional<sb::BatchLoan> loan;
      if (spec.path == Path::loaned || spec.path == Path::loaned_warm) {
        auto l = pub->loan(column_schema(), rows);
        if (!l) return child_error(c, fmt::format("loan {}: {}", k, l.error().what()));
        auto v = l->values_as<std::int64_t>(0);
        const auto base = static_cast<std::int64_t>(k);
        if (spec.path == Path::loaned) {
          for (std::size_t i = 0; i < v.size(); ++i) v[i] = base + static_cast<std::int64_t>(i);
        } else {
          // Only the two cache lines the subscriber checks: the transport's
          // own cost, without a 64 MiB write evicting both processes' caches.
          // (The rest of the chunk keeps an earlier message's values.)
          v.front() = base;
          v.back() = base + rows - 1;
        }
        loan = std::move(*l);
      }
      c.armed.store(static_cast<std::uint32_t>(k + 1), std::memory_order_release);
      futex_wake(c.armed, 1);
      while (c.ready.value.load(std::memory_order_acquire) < k + 1) cpu_relax();
      if (probe) {
        const std::uint64_t deadline = now_ns() + 2'000'000;
        while (!probe->asleep() && now_ns() < deadline) {
        }
        if (!probe->asleep() && k >= spec.warmup) ++not_asleep;
      }
      const std::uint64_t t0 = now_ns();
      c.t0.value.store(t0, std::memory_order_seq_cst);
      switch (spec.path) {
        case Path::loaned:
        case Path::loaned_warm:
          if (auto r = pub->publish(std::move(*loan)); !r)
            return child_error(c, "publish: " + r.error().what());
          break;
        case Path::serialised:
          if (auto r = pub->publish(batch); !r)
            return child_error(c, "publish: " + r.error().what());
          break;
        case Path::pipe: {
          auto size = sa::ipc::serialized_size(batch);
          if (!size) return child_error(c, "size: " + size.error().what());
          const std::uint64_t len = *size;
          if (!write_full(pipe_fds[1], &len, 8)) return child_error(c, "pipe write failed");
          auto w = sa::ipc::StreamWriter::open(sa::ipc::fd_sink(pipe_fds[1]), batch.schema());
          if (!w) return child_error(c, "pipe writer: " + w.error().what());
          if (auto r = w->write(batch); !r)
            return child_error(c, "pipe write: " + r.error().what());
          if (auto r = w->close(); !r) return child_error(c, "pipe close: " + r.error().what());
          break;
        }
      }
      if (k >= spec.warmup) calls.record(now_ns() - t0);
      while (c.done.value.load(std::memory_order_acquire) < k + 1) cpu_relax();
    }
    c.publish_call = summarize(calls);
    const Usage u2 = usage_now();
    c.preemptions.fetch_add(u2.preemptions - u1.preemptions);
    c.not_asleep.store(not_asleep);
    return 0;
  }));
  if (pipe_fds[0] >= 0) ::close(pipe_fds[0]);
  if (pipe_fds[1] >= 0) ::close(pipe_fds[1]);
  auto waited = group.wait_all(std::chrono::minutes(10));
  if (domain) (void)Domain::remove(domain_name);
  if (!waited) {
    const std::string detail = ctl->error[0] ? std::string(ctl->error) : waited.error().what();
    return fail(Errc::internal, "{}", detail);
  }

  Record r;
  r.transport = path_name(spec.path);
  r.scenario = scenario_of(spec.path);
  r.metric = "latency";
  r.mode = spec.blocking ? "blocking" : "busy";
  r.read = "ends";
  r.payload_bytes = static_cast<std::uint64_t>(rows) * 8;
  const Percentiles& p = ctl->latency;
  r.n = p.n;
  r.min_ns = p.min;
  r.mean_ns = p.mean;
  r.p50_ns = p.p50;
  r.p90_ns = p.p90;
  r.p99_ns = p.p99;
  r.p999_ns = p.p999;
  r.max_ns = p.max;
  r.preemptions = ctl->preemptions.load();
  if (spec.blocking) r.not_asleep = ctl->not_asleep.load();
  const std::uint64_t stream = ctl->stream_bytes.value.load();
  const std::string call =
      fmt::format("; the send call alone: p50 {}", format_ns(ctl->publish_call.p50));
  switch (spec.path) {
    case Path::loaned:
      r.note = fmt::format(
          "batch built in a loaned chunk; publish + receive + decode in place ({} B stream){}",
          stream, call);
      break;
    case Path::loaned_warm:
      r.note = fmt::format(
          "as A1, but only the column's first and last cache lines rewritten: caches stay warm ({} "
          "B stream){}",
          stream, call);
      break;
    case Path::serialised:
      r.note = fmt::format(
          "private batch serialised into a loan by publish(batch), decoded in place ({} B "
          "stream){}",
          stream, call);
      break;
    case Path::pipe:
      r.note = fmt::format(
          "IPC stream written to a pipe ({} B), read into a reused buffer, decoded there ({} B "
          "stream){}",
          pipe_size, stream, call);
      break;
  }
  return r;
}

std::string apply_scheduling(const Options& opts) {
  if (opts.realtime) {
    const sched_param param{1};
    if (::sched_setscheduler(0, SCHED_FIFO, &param) == 0) return "SCHED_FIFO priority 1";
    std::fprintf(stderr, "bench_arrow: cannot switch to SCHED_FIFO (%s); using nice %d\n",
                 std::strerror(errno), opts.nice);
  }
  if (opts.nice == 0) return "SCHED_OTHER, nice unchanged";
  errno = 0;
  if (::setpriority(PRIO_PROCESS, 0, opts.nice) != 0) {
    const int err = errno;
    std::fprintf(stderr, "bench_arrow: cannot set nice %d (%s)\n", opts.nice, std::strerror(err));
    return fmt::format("SCHED_OTHER, nice {} (setting {} failed: {})",
                       ::getpriority(PRIO_PROCESS, 0), opts.nice, std::strerror(err));
  }
  return fmt::format("SCHED_OTHER, nice {}", opts.nice);
}

void usage(std::FILE* to) {
  std::fprintf(
      to,
      "usage: bench_arrow [--quick] [--out FILE.json] [--cpus A,B] [--nice N] [--realtime]\n"
      "                   [--iterations N] [--commit ID] [--note TEXT]\n"
      "An int64 column of 64 MiB and of 1 KiB passed between two pinned processes:\n"
      "built in a sluice loan and published (A1 sluice), written to a pipe and decoded\n"
      "(A1 pipe), serialised into a loan by publish(batch) (A2 sluice).\n"
      "--nice N: nice value of the processes (default -20; 0: unchanged).\n"
      "--realtime: SCHED_FIFO priority 1 instead (opt-in: it starves other work on the cores).\n");
}

int run(const Options& opts) {
  ResultFile file;
  RunHeader& h = file.header;
  h.tool = "bench_arrow";
  h.date = utc_timestamp();
  h.machine = describe_machine();
  h.compiler = compiler_id();
  h.build_type = SLUICE_BENCH_BUILD_TYPE;
  h.commit = opts.commit;
  h.clock_overhead_ns = clock_overhead_ns();
  h.settings["quick"] = opts.quick ? "true" : "false";
  h.settings["cpus"] = fmt::format("{},{}", opts.cpu_a, opts.cpu_b);
  h.settings["scheduling"] = apply_scheduling(opts);
  h.settings["loadavg_start"] = fmt::format("{:.2f} {:.2f} {:.2f}", h.machine.loadavg[0],
                                            h.machine.loadavg[1], h.machine.loadavg[2]);
  if (!opts.note.empty()) h.settings["note"] = opts.note;
  h.transports.push_back({"sluice", "sluice", "Arrow batch channel (zero-copy)", false, 0});
  h.transports.push_back({"pipe", "pipe", "Arrow IPC stream through a pipe", false, 50});
  if (std::max(opts.cpu_a, opts.cpu_b) >= online_cpus()) {
    std::fprintf(stderr, "bench_arrow: cpus %d,%d requested, %d online\n", opts.cpu_a, opts.cpu_b,
                 online_cpus());
    return 2;
  }
  std::printf("bench_arrow: %s, %d CPUs, load %.2f; processes on cpus %d and %d%s\n",
              h.machine.cpu_model.c_str(), h.machine.cpus, h.machine.loadavg[0], opts.cpu_a,
              opts.cpu_b, opts.quick ? "; quick" : "");
  std::vector<Spec> plan;
  for (const std::int64_t rows : {kBigRows, kSmallRows}) {
    const bool big = rows == kBigRows;
    std::uint64_t n = opts.iterations ? opts.iterations
                                      : (big ? (opts.quick ? 20 : 200) : (opts.quick ? 300 : 5000));
    const std::uint64_t warm = big ? 5 : 100;
    plan.push_back({Path::loaned, false, rows, warm, n});
    plan.push_back({Path::loaned, true, rows, warm, n});
    plan.push_back({Path::pipe, true, rows, warm, n});
    plan.push_back({Path::serialised, false, rows, warm, n});
    if (big) plan.push_back({Path::loaned_warm, false, rows, warm, n});
  }
  const std::uint64_t t_start = now_ns();
  int status = 0;
  unsigned index = 0;
  for (const auto& spec : plan) {
    auto r = measure(spec, opts, index++);
    if (!r) {
      Record failed;
      failed.transport = path_name(spec.path);
      failed.scenario = scenario_of(spec.path);
      failed.metric = "latency";
      failed.mode = spec.blocking ? "blocking" : "busy";
      failed.read = "ends";
      failed.payload_bytes = static_cast<std::uint64_t>(spec.rows) * 8;
      failed.status = "failed";
      failed.note = r.error().what();
      std::printf("%-7s %s %-8s %7s  failed: %s\n", failed.transport.c_str(),
                  failed.scenario.c_str(), failed.mode.c_str(),
                  format_size(failed.payload_bytes).c_str(), failed.note.c_str());
      file.records.push_back(std::move(failed));
      status = 1;
      continue;
    }
    std::printf(
        "%-7s %s %-8s %7s  n=%-5llu p50 %9s  p99 %9s  max %9s  (send call p50 %s)%s\n",
        r->transport.c_str(), r->scenario.c_str(), r->mode.c_str(),
        format_size(r->payload_bytes).c_str(), static_cast<unsigned long long>(r->n),
        format_ns(r->p50_ns.value_or(0)).c_str(), format_ns(r->p99_ns.value_or(0)).c_str(),
        format_ns(r->max_ns.value_or(0)).c_str(), r->note.substr(r->note.rfind("p50 ") + 4).c_str(),
        r->preemptions.value_or(0) ? fmt::format("  preempted {}x", *r->preemptions).c_str() : "");
    std::fflush(stdout);
    file.records.push_back(std::move(*r));
  }
  // The ratios the brief asks for: the pipe against sluice at each size.
  auto find = [&](const char* transport, const char* scenario, const char* mode,
                  std::uint64_t bytes) -> const Record* {
    for (const auto& r : file.records)
      if (r.transport == transport && r.scenario == scenario && r.mode == mode &&
          r.payload_bytes == bytes && r.status == "ok")
        return &r;
    return nullptr;
  };
  for (const std::int64_t rows : {kBigRows, kSmallRows}) {
    const auto bytes = static_cast<std::uint64_t>(rows) * 8;
    const Record* pipe = find("pipe", "A1", "blocking", bytes);
    for (const char* mode : {"busy", "blocking"}) {
      const Record* s = find("sluice", "A1", mode, bytes);
      if (!pipe || !s || !s->p50_ns || *s->p50_ns <= 0) continue;
      const double ratio = *pipe->p50_ns / *s->p50_ns;
      const std::string key =
          fmt::format("ratio_pipe_over_sluice_{}{}_{}", bytes >= MiB ? bytes / MiB : bytes / KiB,
                      bytes >= MiB ? "MiB" : "KiB", mode);
      h.settings[key] = fmt::format("{:.0f}", ratio);
      std::printf("%7s: pipe p50 %s / sluice (%s) p50 %s = %s\n", format_size(bytes).c_str(),
                  format_ns(*pipe->p50_ns).c_str(), mode, format_ns(*s->p50_ns).c_str(),
                  format_ratio(ratio).c_str());
    }
  }
  const MachineInfo end = describe_machine();
  h.settings["loadavg_end"] =
      fmt::format("{:.2f} {:.2f} {:.2f}", end.loadavg[0], end.loadavg[1], end.loadavg[2]);
  h.settings["duration_s"] = fmt::format("{:.0f}", static_cast<double>(now_ns() - t_start) * 1e-9);
  if (auto saved = file.save(opts.out); !saved) {
    std::fprintf(stderr, "bench_arrow: %s\n", saved.error().what().c_str());
    return 1;
  }
  std::printf("bench_arrow: %zu records in %s s -> %s\n", file.records.size(),
              h.settings["duration_s"].c_str(), opts.out.c_str());
  return status;
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) {
  using namespace sluice::bench;
  Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage(stderr);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--quick") {
      opts.quick = true;
    } else if (a == "--out") {
      opts.out = value();
    } else if (a == "--cpus") {
      const std::string v = value();
      if (std::sscanf(v.c_str(), "%d,%d", &opts.cpu_a, &opts.cpu_b) != 2) {
        usage(stderr);
        return 2;
      }
    } else if (a == "--nice") {
      opts.nice = std::atoi(value().c_str());
    } else if (a == "--realtime") {
      opts.realtime = true;
    } else if (a == "--iterations") {
      opts.iterations = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--commit") {
      opts.commit = value();
    } else if (a == "--note") {
      opts.note = value();
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  return run(opts);
}
