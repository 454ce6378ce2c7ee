#pragma once
// The machine under the benchmark: pinning, clocks, CPU time, and the facts a
// result file records so that a number can be traced to where it was taken.

#include <sluice/base/result.hpp>

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <string>

namespace sluice::bench {

// CLOCK_MONOTONIC in nanoseconds through the vDSO (no system call); the same
// clock in every process, so a time taken by one process can be compared
// with a time taken by another. Inline: it brackets every timed interval.
inline std::uint64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Resource usage of the calling process so far (getrusage RUSAGE_SELF).
struct Usage {
  std::uint64_t cpu_ns = 0;       // user + system CPU time
  std::uint64_t preemptions = 0;  // involuntary context switches
};
Usage usage_now() noexcept;

// Restricts the calling thread (and the threads it creates later) to one CPU.
Result<void> pin_to_cpu(int cpu);

int online_cpus() noexcept;

// Median cost of one now_ns() call, measured here; every timed interval
// includes one such call.
double clock_overhead_ns();

// Whether another process's main thread is asleep in the kernel, read from
// /proc/<pid>/stat (state S or D). Used between iterations of blocking
// scenarios so that every timed message finds its receiver asleep, never
// still on its way into the wait. The file is opened once; each check is one
// pread, a few microseconds, always outside the timed interval.
class SleepProbe {
 public:
  SleepProbe() = default;
  static Result<SleepProbe> open(pid_t pid);
  SleepProbe(SleepProbe&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  SleepProbe& operator=(SleepProbe&& o) noexcept;
  SleepProbe(const SleepProbe&) = delete;
  SleepProbe& operator=(const SleepProbe&) = delete;
  ~SleepProbe();

  [[nodiscard]] bool asleep() const noexcept;

 private:
  int fd_ = -1;
};

struct MachineInfo {
  std::string cpu_model;   // /proc/cpuinfo "model name"
  int cpus = 0;            // online CPUs
  std::string hypervisor;  // "KVM", "none", ... (from the cpuid hypervisor flag / sysfs)
  std::string kernel;      // uname: sysname release version machine
  std::string hostname;
  std::uint64_t memory_bytes = 0;
  std::string clocksource;  // /sys/devices/system/clocksource/clocksource0
  std::string governor;     // cpufreq scaling governor of cpu0, or "n/a"
  double loadavg[3] = {0, 0, 0};
};

MachineInfo describe_machine();

// "GNU 12.2.0" / "Clang 14.0.6", from the compiler that built this file.
std::string compiler_id();

// UTC time as ISO 8601 ("2025-01-31T12:00:00Z").
std::string utc_timestamp();

}  // namespace sluice::bench
