#include <sluice/base/units.hpp>
#include <sluice/os/mapping.hpp>

#include <sys/mman.h>
#include <cerrno>

namespace sluice::os {

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
  return Mapping(static_cast<std::byte*>(p), size);
}

Result<Mapping> Mapping::anonymous(std::uint64_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return fail(Error::from_errno(errno, fmt::format("mmap anonymous {} bytes", size)));
  return Mapping(static_cast<std::byte*>(p), size);
}

Mapping::Mapping(Mapping&& o) noexcept : data_(o.data_), size_(o.size_) {
  o.data_ = nullptr;
  o.size_ = 0;
}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    reset();
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

Mapping::~Mapping() { reset(); }

void Mapping::reset() noexcept {
  if (data_) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

bool Mapping::contains(const void* p, std::uint64_t len) const noexcept {
  const auto* b = static_cast<const std::byte*>(p);
  if (b < data_) return false;
  return fits(static_cast<std::uint64_t>(b - data_), len, size_);
}

}  // namespace sluice::os
