#pragma once
// RAII memory mappings of shm objects.

#include <sluice/base/result.hpp>

#include <cstddef>
#include <cstdint>

namespace sluice::os {

struct MapOptions {
  bool writable = true;
  bool populate = false;    // MAP_POPULATE: fault every page in now
  bool huge_pages = false;  // MADV_HUGEPAGE on the range (transparent huge pages)
  // Survive the object being shrunk under the mapping (another process
  // calling ftruncate): a SIGBUS in the range maps zero pages over the part
  // that vanished and marks the mapping truncated(), instead of killing the
  // process. See docs/crash-safety.md ("Truncation").
  bool guard_truncation = false;
};

// How many SIGBUS faults in guarded mappings this process absorbed.
std::uint64_t truncation_faults() noexcept;

class Mapping {
 public:
  static Result<Mapping> map(int fd, std::uint64_t size, MapOptions options = {},
                             std::uint64_t offset = 0);
  // Anonymous private memory, for tests and benchmarks.
  static Result<Mapping> anonymous(std::uint64_t size);

  Mapping() = default;
  Mapping(Mapping&& o) noexcept;
  Mapping& operator=(Mapping&& o) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  [[nodiscard]] bool valid() const noexcept { return data_ != nullptr; }
  [[nodiscard]] bool contains(const void* p, std::uint64_t len) const noexcept;
  // A guarded mapping whose object was shrunk under it: some of its pages
  // now read as zeros of this process's own. One relaxed load.
  [[nodiscard]] bool truncated() const noexcept;

 private:
  Mapping(std::byte* data, std::uint64_t size, int guard = -1)
      : data_(data), size_(size), guard_(guard) {}
  void reset() noexcept;
  std::byte* data_ = nullptr;
  std::uint64_t size_ = 0;
  int guard_ = -1;  // slot in the process's table of guarded ranges
};

}  // namespace sluice::os
