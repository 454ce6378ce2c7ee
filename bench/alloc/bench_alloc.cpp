// Allocate+release pairs: the sluice heap (size-class pools and TLSF) side
// by side with glibc malloc/free and Boost.Interprocess
// managed_shared_memory (its default rbtree best-fit allocator and
// process-shared mutex), for the same sizes, in one run:
//
//   <allocator>/<size>              one thread, uncontended
//   <allocator>/<size>/threads:2    two threads on the same heap
//   <allocator>_2proc/<size>        this process measured while a forked
//                                   process (pinned to the other CPU)
//                                   hammers the same shared heap
//
// No payload byte is touched: the figures are the allocator's own cost.
// Run with no arguments for the default plan (5 repetitions, medians) and a
// Markdown table at the end (docs/bench/alloc.md). Any Google Benchmark
// flag may be given (--benchmark_filter=..., --benchmark_repetitions=...).
// --realtime runs everything under SCHED_FIFO (threads and the forked
// contender inherit it) so that other load on the machine does not preempt
// the measured loops; it needs CAP_SYS_NICE (or root) and falls back to
// normal scheduling, saying so, without it.

#include <sluice/alloc/heap.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#if SLUICE_BENCH_HAVE_BOOST
#include <boost/interprocess/managed_shared_memory.hpp>
#endif

#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::alloc;

// Sizes of every table row: the default classes and a 64 MiB payload.
const std::vector<std::int64_t> kSizes = {64,    256,    1024,    4096,    16384,
                                          65536, 262144, 1048576, 64 << 20};
const std::vector<std::int64_t> kContendedSizes = {64, 4096, 65536, 1048576, 64 << 20};

// ---------------------------------------------------------------- sluice

// The default heap config in an anonymous MAP_SHARED mapping (shmem pages,
// like a domain segment; a forked child shares it).
struct SluiceHeap {
  HeapRegion region{};
  Heap heap;
  SluiceHeap() {
    const HeapConfig cfg = HeapConfig::defaults();
    const std::uint64_t meta = align_up(Heap::metadata_bytes(cfg).value(), kPageSize);
    const std::uint64_t data = Heap::data_bytes(cfg).value();
    region = {nullptr, kPageSize + meta + data, kPageSize, meta, kPageSize + meta, data};
    void* p = ::mmap(nullptr, region.segment_size, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) std::abort();
    region.base = static_cast<std::byte*>(p);
    heap = Heap::format(region, cfg).value();
  }
};
Heap& sluice_heap() {
  static SluiceHeap h;
  return h.heap;
}

inline void sluice_pair(Heap& h, std::uint64_t size, PeerIndex peer, AllocPolicy policy,
                        benchmark::State* st) {
  auto r = h.allocate(size, peer, policy);
  if (!r) [[unlikely]] {
    if (st) st->SkipWithError(("sluice allocate: " + r.error().what()).c_str());
    return;
  }
  benchmark::DoNotOptimize(r->offset);
  auto f = h.release(*r, peer);
  benchmark::DoNotOptimize(f);
}

// Pools serve sizes up to 1 MiB; 64 MiB goes to TLSF (the "pool" row then
// shows what allocate() does by default for that size).
AllocPolicy pool_policy(std::uint64_t size) {
  return size <= (1u << 20) ? AllocPolicy::pool_only : AllocPolicy::any;
}

void sluice_pool(benchmark::State& st) {
  Heap& h = sluice_heap();
  const auto size = static_cast<std::uint64_t>(st.range(0));
  const auto peer = static_cast<PeerIndex>(st.thread_index() + 1);
  const AllocPolicy policy = pool_policy(size);
  for (auto _ : st) sluice_pair(h, size, peer, policy, &st);
}

void sluice_tlsf(benchmark::State& st) {
  Heap& h = sluice_heap();
  const auto size = static_cast<std::uint64_t>(st.range(0));
  const auto peer = static_cast<PeerIndex>(st.thread_index() + 1);
  for (auto _ : st) sluice_pair(h, size, peer, AllocPolicy::tlsf_only, &st);
}

// ---------------------------------------------------------------- glibc

void glibc_malloc(benchmark::State& st) {
  const auto size = static_cast<std::size_t>(st.range(0));
  for (auto _ : st) {
    void* p = std::malloc(size);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
}

// ---------------------------------------------------------------- Boost

#if SLUICE_BENCH_HAVE_BOOST
namespace bip = boost::interprocess;

// A named segment (managed_shared_memory needs a name), removed at exit.
struct BoostSegment {
  std::string name = fmt::format("sluice-bench-alloc-{}", ::getpid());
  std::unique_ptr<bip::managed_shared_memory> seg;
  BoostSegment() {
    bip::shared_memory_object::remove(name.c_str());
    seg = std::make_unique<bip::managed_shared_memory>(bip::create_only, name.c_str(), 400u << 20);
  }
  ~BoostSegment() {
    seg.reset();
    bip::shared_memory_object::remove(name.c_str());
  }
};
BoostSegment& boost_segment() {
  static BoostSegment s;
  return s;
}

inline void boost_pair(bip::managed_shared_memory& seg, std::size_t size, benchmark::State* st) {
  void* p = seg.allocate(size, std::nothrow);
  if (!p) [[unlikely]] {
    if (st) st->SkipWithError("boost allocate failed");
    return;
  }
  benchmark::DoNotOptimize(p);
  seg.deallocate(p);
}

void boost_ipc(benchmark::State& st) {
  auto& seg = *boost_segment().seg;
  const auto size = static_cast<std::size_t>(st.range(0));
  for (auto _ : st) boost_pair(seg, size, &st);
}
#endif

// ---------------------------------------------------------------- two processes

// Flags shared with the contending child (anonymous shared page).
struct ProcFlags {
  std::atomic<int> ready{0};
  std::atomic<int> stop{0};
};
ProcFlags& proc_flags() {
  static ProcFlags* f = [] {
    void* p = ::mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    return new (p) ProcFlags();
  }();
  return *f;
}

void pin(std::size_t cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)::sched_setaffinity(0, sizeof set, &set);
}

// Runs `pair` in a loop in a forked child pinned to CPU 1 while this
// process, pinned to CPU 0, runs the timed loop.
template <typename Parent, typename Child>
void with_contender(benchmark::State& st, Parent&& parent_pair, Child&& child_pair) {
  if (std::thread::hardware_concurrency() < 2) {
    st.SkipWithError("needs two CPUs");
    return;
  }
  ProcFlags& f = proc_flags();
  f.ready.store(0);
  f.stop.store(0);
  cpu_set_t saved;
  (void)::sched_getaffinity(0, sizeof saved, &saved);
  const pid_t pid = ::fork();
  if (pid == 0) {
    pin(1);
    f.ready.store(1);
    while (f.stop.load(std::memory_order_relaxed) == 0) child_pair();
    ::_exit(0);
  }
  pin(0);
  while (f.ready.load() == 0) std::this_thread::yield();
  for (auto _ : st) parent_pair();
  f.stop.store(1);
  ::waitpid(pid, nullptr, 0);
  (void)::sched_setaffinity(0, sizeof saved, &saved);
}

void sluice_pool_2proc(benchmark::State& st) {
  Heap& h = sluice_heap();
  const auto size = static_cast<std::uint64_t>(st.range(0));
  const AllocPolicy policy = pool_policy(size);
  auto parent = [&] { sluice_pair(h, size, 1, policy, &st); };
  auto child = [&] { sluice_pair(h, size, 2, policy, nullptr); };
  with_contender(st, parent, child);
}

void sluice_tlsf_2proc(benchmark::State& st) {
  Heap& h = sluice_heap();
  const auto size = static_cast<std::uint64_t>(st.range(0));
  auto parent = [&] { sluice_pair(h, size, 1, AllocPolicy::tlsf_only, &st); };
  auto child = [&] { sluice_pair(h, size, 2, AllocPolicy::tlsf_only, nullptr); };
  with_contender(st, parent, child);
}

#if SLUICE_BENCH_HAVE_BOOST
void boost_ipc_2proc(benchmark::State& st) {
  auto& seg = *boost_segment().seg;
  const auto size = static_cast<std::size_t>(st.range(0));
  auto parent = [&] { boost_pair(seg, size, &st); };
  auto child = [&] { boost_pair(seg, size, nullptr); };
  with_contender(st, parent, child);
}
#endif

void register_all() {
  struct Family {
    const char* name;
    void (*fn)(benchmark::State&);
    bool threads;
  };
  std::vector<Family> families = {
    {"sluice_pool", sluice_pool, true},
    {"sluice_tlsf", sluice_tlsf, true},
    {"glibc_malloc", glibc_malloc, true},
#if SLUICE_BENCH_HAVE_BOOST
    {"boost_ipc", boost_ipc, true},
#endif
  };
  for (const auto& f : families) {
    auto* b = benchmark::RegisterBenchmark(f.name, f.fn);
    for (auto s : kSizes) b->Arg(s);
  }
  for (const auto& f : families) {
    auto* b = benchmark::RegisterBenchmark(f.name, f.fn);
    for (auto s : kContendedSizes) b->Arg(s);
    b->Threads(2);
  }
  std::vector<Family> procs = {
    {"sluice_pool_2proc", sluice_pool_2proc, false},
    {"sluice_tlsf_2proc", sluice_tlsf_2proc, false},
#if SLUICE_BENCH_HAVE_BOOST
    {"boost_ipc_2proc", boost_ipc_2proc, false},
#endif
  };
  for (const auto& f : procs) {
    auto* b = benchmark::RegisterBenchmark(f.name, f.fn);
    for (auto s : kContendedSizes) b->Arg(s);
  }
}

// ---------------------------------------------------------------- the table

std::string size_label(std::int64_t s) { return format_bytes(static_cast<std::uint64_t>(s)); }

class TableReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      const bool single = r.run_type == Run::RT_Iteration && r.repetitions <= 1;
      if (r.error_occurred || !(median || single)) continue;
      const std::string threads = r.run_name.threads.empty() ? "threads:1" : r.run_name.threads;
      cells_[{r.run_name.function_name, threads, std::stoll(r.run_name.args)}] =
          r.GetAdjustedRealTime();
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void print_table(const std::string& command, const std::string& scheduling) const {
    std::string out;
    out += fmt::format("\n## Allocate + release pair, median ns of real time ({})\n\n", command);
    out += fmt::format("machine: {}, {} CPUs; scheduling: {}\n", cpu_model(),
                       std::thread::hardware_concurrency(), scheduling);
    section(out, "One thread, uncontended", "", "threads:1", kSizes);
    section(out,
            "Two threads on one heap (wall time / pairs of both threads: the inverse of their "
            "combined rate)",
            "", "threads:2", kContendedSizes);
    section(out,
            "Two processes on one shared heap (the measured process's own pairs, while a forked "
            "contender on the other CPU runs the same loop)",
            "_2proc", "threads:1", kContendedSizes);
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
  }

 private:
  using Key = std::tuple<std::string, std::string, std::int64_t>;

  [[nodiscard]] const double* cell(const std::string& fn, const std::string& threads,
                                   std::int64_t size) const {
    auto it = cells_.find({fn, threads, size});
    return it == cells_.end() ? nullptr : &it->second;
  }
  static std::string num(const double* v) { return v ? fmt::format("{:.1f}", *v) : "-"; }

  void section(std::string& out, const char* title, const char* suffix, const std::string& threads,
               const std::vector<std::int64_t>& sizes) const {
    const std::string sfx = suffix;
    const bool procs = !sfx.empty();
    out += fmt::format("\n### {}\n\n", title);
    out += "| size | sluice pool | sluice TLSF |";
    if (!procs) out += " glibc malloc |";
    out += " Boost.Interprocess | Boost / sluice pool | Boost / sluice TLSF |\n";
    out += "|---:|---:|---:|";
    if (!procs) out += "---:|";
    out += "---:|---:|---:|\n";
    for (auto s : sizes) {
      const double* pool = cell("sluice_pool" + sfx, threads, s);
      const double* tlsf = cell("sluice_tlsf" + sfx, threads, s);
      const double* boost = cell("boost_ipc" + sfx, threads, s);
      auto ratio = [&](const double* a) {
        return (a && boost && *a > 0) ? fmt::format("x{:.1f}", *boost / *a) : std::string("-");
      };
      out += fmt::format("| {} | {} | {} |", size_label(s),
                         s > (1 << 20) ? "(TLSF) " + num(pool) : num(pool), num(tlsf));
      if (!procs) out += fmt::format(" {} |", num(cell("glibc_malloc", threads, s)));
      out += fmt::format(" {} | {} | {} |\n", num(boost), ratio(pool), ratio(tlsf));
    }
  }

  static std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown CPU";
  }

  std::map<Key, double> cells_;
};

bool has_flag(int argc, char** argv, const char* flag) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::string scheduling = "normal (SCHED_OTHER)";
  std::vector<char*> in;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--realtime") == 0) {
      sched_param sp{};
      sp.sched_priority = 10;
      if (::sched_setscheduler(0, SCHED_FIFO, &sp) == 0)
        scheduling = "SCHED_FIFO priority 10 (--realtime)";
      else
        scheduling = fmt::format("normal: --realtime refused ({})", std::strerror(errno));
      continue;
    }
    in.push_back(argv[i]);
  }
  argc = static_cast<int>(in.size());
  argv = in.data();
  // Default plan: 5 repetitions of at least 0.1 s each, medians reported.
  std::vector<std::string> extra;
  if (!has_flag(argc, argv, "--benchmark_repetitions"))
    extra.emplace_back("--benchmark_repetitions=5");
  if (!has_flag(argc, argv, "--benchmark_min_time")) extra.emplace_back("--benchmark_min_time=0.1");
  if (!has_flag(argc, argv, "--benchmark_report_aggregates_only"))
    extra.emplace_back("--benchmark_report_aggregates_only=true");
  std::vector<char*> args(argv, argv + argc);
  for (auto& e : extra) args.push_back(e.data());
  std::string command = "bench_alloc";
  for (std::size_t i = 1; i < args.size(); ++i) command += std::string(" ") + args[i];
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  // Set up both shared heaps before any timing (and before any fork).
  (void)sluice_heap();
#if SLUICE_BENCH_HAVE_BOOST
  (void)boost_segment();
#endif
  (void)proc_flags();
  register_all();
  TableReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_table(command, scheduling);
  benchmark::Shutdown();
  return 0;
}
