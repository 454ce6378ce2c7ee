#include "common/system.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string_view>
#include <vector>

namespace sluice::bench {

Usage usage_now() noexcept {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const auto ns = [](const timeval& tv) {
    return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(tv.tv_usec) * 1000ULL;
  };
  return {ns(ru.ru_utime) + ns(ru.ru_stime), static_cast<std::uint64_t>(ru.ru_nivcsw)};
}

Result<void> pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu), &set);
  if (::sched_setaffinity(0, sizeof(set), &set) != 0) {
    return fail(Error::from_errno(errno, fmt::format("sched_setaffinity to cpu {}", cpu)));
  }
  return ok();
}

int online_cpus() noexcept { return static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)); }

double clock_overhead_ns() {
  std::vector<std::uint64_t> d(10'001);
  for (auto& v : d) {
    const auto a = now_ns();
    const auto b = now_ns();
    v = b - a;
  }
  std::nth_element(d.begin(), d.begin() + 5000, d.end());
  return static_cast<double>(d[5000]);
}

Result<SleepProbe> SleepProbe::open(pid_t pid) {
  SleepProbe p;
  const auto path = fmt::format("/proc/{}/stat", pid);
  p.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (p.fd_ < 0) return fail(Error::from_errno(errno, fmt::format("open '{}'", path)));
  return p;
}

SleepProbe& SleepProbe::operator=(SleepProbe&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

SleepProbe::~SleepProbe() {
  if (fd_ >= 0) ::close(fd_);
}

bool SleepProbe::asleep() const noexcept {
  // "pid (comm) S ...": the state follows the last ')', since comm may
  // itself contain parentheses and spaces.
  char buf[512];
  const ssize_t n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return false;
  const std::string_view s(buf, static_cast<std::size_t>(n));
  const auto paren = s.rfind(')');
  if (paren == std::string_view::npos || paren + 2 >= s.size()) return false;
  const char state = s[paren + 2];
  return state == 'S' || state == 'D';
}

namespace {

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
}

// The hypervisor's signature in CPUID leaf 0x40000000 ("KVMKVMKVM",
// "Microsoft Hv", ...), as lscpu reports it; empty when unknown.
std::string hypervisor_vendor() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __cpuid(0x40000000U, eax, ebx, ecx, edx);
  char sig[13] = {};
  std::memcpy(sig, &ebx, 4);
  std::memcpy(sig + 4, &ecx, 4);
  std::memcpy(sig + 8, &edx, 4);
  const std::string s(sig);
  if (s == "KVMKVMKVM") return "KVM";
  if (s == "Microsoft Hv") return "Hyper-V";
  if (s == "VMwareVMware") return "VMware";
  if (s == "XenVMMXenVMM") return "Xen";
  if (s == "TCGTCGTCGTCG") return "QEMU (TCG)";
  return s;
#else
  return {};
#endif
}

}  // namespace

MachineInfo describe_machine() {
  MachineInfo m;
  m.cpus = online_cpus();
  bool hypervisor_flag = false;
  {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      const auto key = trim(line.substr(0, colon));
      if (key == "model name" && m.cpu_model.empty()) m.cpu_model = trim(line.substr(colon + 1));
      if (key == "flags" && line.find(" hypervisor") != std::string::npos) hypervisor_flag = true;
    }
  }
  m.hypervisor = "none";
  if (hypervisor_flag) {
    m.hypervisor = hypervisor_vendor();
    if (m.hypervisor.empty()) m.hypervisor = read_first_line("/sys/hypervisor/type");
    if (m.hypervisor.empty()) m.hypervisor = read_first_line("/sys/class/dmi/id/sys_vendor");
    if (m.hypervisor.empty()) m.hypervisor = "yes (unknown)";
  }
  utsname u{};
  if (::uname(&u) == 0) {
    m.kernel = fmt::format("{} {} {} {}", u.sysname, u.release, u.version, u.machine);
    m.hostname = u.nodename;
  }
  m.memory_bytes = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
                   static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  m.clocksource =
      read_first_line("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  m.governor = read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  if (m.governor.empty()) m.governor = "n/a";
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &m.loadavg[0], &m.loadavg[1], &m.loadavg[2]) != 3) {
      m.loadavg[0] = m.loadavg[1] = m.loadavg[2] = 0;
    }
    std::fclose(f);
  }
  return m;
}

std::string compiler_id() {
#if defined(__clang__)
  return fmt::format("Clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  return fmt::format("GNU {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

std::string utc_timestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace sluice::bench
