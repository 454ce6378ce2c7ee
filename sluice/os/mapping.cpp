#include <sluice/base/units.hpp>
#include <sluice/os/mapping.hpp>

#include <sys/mman.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>

namespace sluice::os {
namespace {

// Guarded ranges, read by the SIGBUS handler: fixed storage and atomics
// only (nothing a signal handler may not touch). A slot is claimed by a CAS
// of `begin` from 0 to 1, filled, then published with the real begin.
struct GuardSlot {
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};
  std::atomic<bool> hit{false};
};
constexpr int kGuardSlots = 1024;
GuardSlot guard_slots[kGuardSlots];
std::atomic<std::uint64_t> faults{0};
struct sigaction previous_sigbus {};
std::once_flag handler_once;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (auto& g : guard_slots) {
    const std::uintptr_t b = g.begin.load(std::memory_order_acquire);
    if (b <= 1 || addr < b) continue;
    const std::uintptr_t e = g.end.load(std::memory_order_relaxed);
    if (addr >= e) continue;
    // The object shrank below this page: back the rest of the range with
    // private zero pages (as libwayland does for client shm pools), so the
    // faulting access and every later one completes; the owner of the
    // mapping sees truncated() and reports the domain corrupted.
    const std::uintptr_t page = addr & ~(std::uintptr_t{kPageSize} - 1);
    void* p = ::mmap(reinterpret_cast<void*>(page), e - page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) break;
    g.hit.store(true, std::memory_order_relaxed);
    faults.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Not ours: what the process had before.
  if ((previous_sigbus.sa_flags & SA_SIGINFO) != 0 && previous_sigbus.sa_sigaction != nullptr) {
    previous_sigbus.sa_sigaction(sig, info, context);
    return;
  }
  if (previous_sigbus.sa_handler != SIG_DFL && previous_sigbus.sa_handler != SIG_IGN) {
    previous_sigbus.sa_handler(sig);
    return;
  }
  // Default action: restore it; the access faults again and the process
  // dies of SIGBUS as it would have without us.
  ::signal(SIGBUS, SIG_DFL);
}

void install_handler() {
  std::call_once(handler_once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = &on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &previous_sigbus);
  });
}

int guard_range(std::byte* data, std::uint64_t size) noexcept {
  install_handler();
  for (int i = 0; i < kGuardSlots; ++i) {
    std::uintptr_t expected = 0;
    if (!guard_slots[i].begin.compare_exchange_strong(expected, 1, std::memory_order_acq_rel))
      continue;
    guard_slots[i].hit.store(false, std::memory_order_relaxed);
    guard_slots[i].end.store(reinterpret_cast<std::uintptr_t>(data) + size,
                             std::memory_order_relaxed);
    guard_slots[i].begin.store(reinterpret_cast<std::uintptr_t>(data), std::memory_order_release);
    return i;
  }
  return -1;  // table full: this mapping is unguarded (the caller is told)
}

}  // namespace

std::uint64_t truncation_faults() noexcept { return faults.load(std::memory_order_relaxed); }

Result<Mapping> Mapping::map(int fd, std::uint64_t size, MapOptions options, std::uint64_t offset) {
  if (size == 0) return fail(Errc::invalid_argument, "mmap of 0 bytes");
  int prot = PROT_READ;
  if (options.writable) prot |= PROT_WRITE;
  int flags = MAP_SHARED;
  if (options.populate) flags |= MAP_POPULATE;
  void* p = ::mmap(nullptr, size, prot, flags, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED)
    return fail(Error::from_errno(errno, fmt::format("mmap {} bytes at offset {}", size, offset)));
  if (options.huge_pages) ::madvise(p, size, MADV_HUGEPAGE);  // advisory: failure is harmless
  int guard = -1;
  if (options.guard_truncation) {
    guard = guard_range(static_cast<std::byte*>(p), size);
    if (guard < 0) {
      ::munmap(p, size);
      return fail(Errc::table_full, "mmap: more than {} guarded mappings in this process",
                  kGuardSlots);
    }
  }
  return Mapping(static_cast<std::byte*>(p), size, guard);
}

Result<Mapping> Mapping::anonymous(std::uint64_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return fail(Error::from_errno(errno, fmt::format("mmap anonymous {} bytes", size)));
  return Mapping(static_cast<std::byte*>(p), size);
}

Mapping::Mapping(Mapping&& o) noexcept : data_(o.data_), size_(o.size_), guard_(o.guard_) {
  o.data_ = nullptr;
  o.size_ = 0;
  o.guard_ = -1;
}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    reset();
    data_ = o.data_;
    size_ = o.size_;
    guard_ = o.guard_;
    o.data_ = nullptr;
    o.size_ = 0;
    o.guard_ = -1;
  }
  return *this;
}

Mapping::~Mapping() { reset(); }

void Mapping::reset() noexcept {
  if (guard_ >= 0) {
    // Unpublish before unmapping: the range may be reused by anyone.
    guard_slots[guard_].end.store(0, std::memory_order_relaxed);
    guard_slots[guard_].begin.store(0, std::memory_order_release);
    guard_ = -1;
  }
  if (data_) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

bool Mapping::truncated() const noexcept {
  return guard_ >= 0 && guard_slots[guard_].hit.load(std::memory_order_relaxed);
}

bool Mapping::contains(const void* p, std::uint64_t len) const noexcept {
  const auto* b = static_cast<const std::byte*>(p);
  if (b < data_) return false;
  return fits(static_cast<std::uint64_t>(b - data_), len, size_);
}

}  // namespace sluice::os
