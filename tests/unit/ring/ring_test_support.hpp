#pragma once
// Helpers of the ring tests: a cache-line aligned, zeroed region standing in
// for a piece of a shared segment.

#include <sluice/base/units.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace sluice::ring::test {

class Region {
 public:
  explicit Region(std::size_t bytes)
      : size_(bytes),
        mem_(static_cast<std::byte*>(
            std::aligned_alloc(kCacheLine, align_up(bytes ? bytes : 1, kCacheLine)))) {
    std::memset(mem_.get(), 0, bytes);
  }
  [[nodiscard]] std::byte* data() const noexcept { return mem_.get(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  // Raw access to a field of the region, for corruption tests.
  template <typename V>
  void poke(std::size_t offset, V value) noexcept {
    std::memcpy(mem_.get() + offset, &value, sizeof value);
  }
  template <typename V>
  V peek(std::size_t offset) const noexcept {
    V v;
    std::memcpy(&v, mem_.get() + offset, sizeof v);
    return v;
  }

 private:
  struct Free {
    void operator()(std::byte* p) const noexcept { std::free(p); }
  };
  std::size_t size_;
  std::unique_ptr<std::byte, Free> mem_;
};

}  // namespace sluice::ring::test
