#pragma once
// Buffer: an immutable byte range plus the handle that keeps it alive.
//
// A buffer either owns its bytes (allocated here, 64-byte aligned, padded with
// zeros to a multiple of 64) or is a view into foreign memory - an IPC message
// body, a shared-memory mapping, a buffer exported through the C Data
// Interface - kept alive by an opaque `std::shared_ptr<void>` lifetime handle.
// Slices share the handle, so the memory lives as long as any array still
// references any part of it. Copying a Buffer copies the handle, not bytes.
//
// Thread safety: a Buffer is immutable once shared; copies may be used from
// any thread (the handle's reference count is atomic).

#include <sluice/base/result.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace sluice::arrow {

// Alignment and padding of buffers allocated by sluice (the Arrow
// recommendation: 64 bytes, one cache line / AVX-512 register).
inline constexpr std::size_t kBufferAlignment = 64;

class Buffer {
 public:
  Buffer() = default;

  // A zero-filled owned buffer of `size` bytes (capacity rounded up to 64).
  // Fails with out_of_memory for sizes that cannot be allocated.
  static Result<Buffer> allocate(std::size_t size);
  // The same without zeroing [0, size) (the padding after it is zeroed): for
  // bytes about to be overwritten, such as a message body read from a
  // socket. Pages nobody writes are never touched, so a large buffer costs
  // memory only as it fills.
  static Result<Buffer> allocate_uninitialized(std::size_t size);
  // An owned copy of [data, data + size).
  static Buffer copy_of(const void* data, std::size_t size);
  // A view of foreign memory; `lifetime` keeps it valid (may be null for
  // memory that outlives every array, e.g. static data).
  static Buffer wrap(const void* data, std::size_t size, std::shared_ptr<void> lifetime) noexcept;

  [[nodiscard]] const std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::span<const std::byte> span() const noexcept { return {data_, size_}; }
  template <typename T>
  [[nodiscard]] const T* data_as() const noexcept {
    return reinterpret_cast<const T*>(data_);
  }
  // Writable access, only for a buffer this code allocated and has not yet
  // shared (builders fill it, then hand it out as immutable).
  [[nodiscard]] std::byte* mutable_data() const noexcept { return const_cast<std::byte*>(data_); }

  // [offset, offset + length), sharing the lifetime handle. The range must
  // lie inside the buffer (checked: a violation is a caller bug).
  [[nodiscard]] Buffer slice(std::size_t offset, std::size_t length) const;
  [[nodiscard]] Buffer slice(std::size_t offset) const { return slice(offset, size_ - offset); }

  [[nodiscard]] const std::shared_ptr<void>& lifetime() const noexcept { return lifetime_; }
  // True when data() is a multiple of `alignment` (a power of two).
  [[nodiscard]] bool is_aligned(std::size_t alignment) const noexcept {
    return (reinterpret_cast<std::uintptr_t>(data_) & (alignment - 1)) == 0;
  }

 private:
  Buffer(const std::byte* data, std::size_t size, std::shared_ptr<void> lifetime) noexcept
      : data_(data), size_(size), lifetime_(std::move(lifetime)) {}

  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::shared_ptr<void> lifetime_;
};

// Bit helpers for validity bitmaps and boolean values (LSB numbering, as
// Arrow specifies).
inline bool get_bit(const std::byte* bits, std::int64_t i) noexcept {
  return (static_cast<unsigned>(bits[i >> 3]) >> (i & 7)) & 1u;
}
inline void set_bit(std::byte* bits, std::int64_t i, bool v) noexcept {
  const auto mask = static_cast<std::byte>(1u << (i & 7));
  if (v)
    bits[i >> 3] |= mask;
  else
    bits[i >> 3] &= ~mask;
}
// Number of set bits in [offset, offset + length).
std::int64_t count_set_bits(const std::byte* bits, std::int64_t offset,
                            std::int64_t length) noexcept;
// Copies `length` bits starting at bit `src_offset` to bit 0 of `dst`
// (which holds at least ceil(length / 8) bytes; trailing bits are zeroed).
void copy_bits(const std::byte* src, std::int64_t src_offset, std::int64_t length,
               std::byte* dst) noexcept;

inline constexpr std::int64_t bitmap_bytes(std::int64_t bits) noexcept { return (bits + 7) / 8; }

}  // namespace sluice::arrow
