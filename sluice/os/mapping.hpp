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
};

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

 private:
  Mapping(std::byte* data, std::uint64_t size) : data_(data), size_(size) {}
  void reset() noexcept;
  std::byte* data_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace sluice::os
