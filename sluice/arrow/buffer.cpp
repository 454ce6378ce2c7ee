#include <sluice/arrow/buffer.hpp>

#include <sluice/base/units.hpp>

#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>

namespace sluice::arrow {

namespace {
struct AlignedFree {
  void operator()(void* p) const noexcept { std::free(p); }
};
}  // namespace

Result<Buffer> Buffer::allocate_uninitialized(std::size_t size) {
  if (size > (std::size_t{1} << 48)) return fail(Errc::out_of_memory, "buffer of {} bytes", size);
  const std::size_t capacity = align_up(size == 0 ? 1 : size, kBufferAlignment);
  void* p = std::aligned_alloc(kBufferAlignment, capacity);
  if (p == nullptr) return fail(Errc::out_of_memory, "allocate buffer of {} bytes", size);
  std::memset(static_cast<std::byte*>(p) + size, 0, capacity - size);
  std::shared_ptr<void> owner(p, AlignedFree{});
  return Buffer(static_cast<const std::byte*>(p), size, std::move(owner));
}

Result<Buffer> Buffer::allocate(std::size_t size) {
  SLUICE_TRY_ASSIGN(Buffer b, allocate_uninitialized(size));
  if (size) std::memset(b.mutable_data(), 0, size);
  return b;
}

Buffer Buffer::copy_of(const void* data, std::size_t size) {
  auto r = allocate(size);
  if (!r) throw std::bad_alloc();
  Buffer b = std::move(r).value();
  if (size) std::memcpy(b.mutable_data(), data, size);
  return b;
}

Buffer Buffer::wrap(const void* data, std::size_t size, std::shared_ptr<void> lifetime) noexcept {
  return Buffer(static_cast<const std::byte*>(data), size, std::move(lifetime));
}

Buffer Buffer::slice(std::size_t offset, std::size_t length) const {
  SLUICE_CHECK(fits(offset, length, size_), "slice [{}, +{}) of a {}-byte buffer", offset, length,
               size_);
  return Buffer(data_ + offset, length, lifetime_);
}

std::int64_t count_set_bits(const std::byte* bits, std::int64_t offset,
                            std::int64_t length) noexcept {
  std::int64_t count = 0;
  std::int64_t i = offset;
  const std::int64_t end = offset + length;
  // Leading bits up to a byte boundary, then whole 64-bit words, then the tail.
  while (i < end && (i & 7) != 0) count += get_bit(bits, i++);
  while (end - i >= 64) {
    std::uint64_t w;
    std::memcpy(&w, bits + (i >> 3), 8);
    count += std::popcount(w);
    i += 64;
  }
  while (end - i >= 8) {
    count += std::popcount(static_cast<unsigned>(bits[i >> 3]));
    i += 8;
  }
  while (i < end) count += get_bit(bits, i++);
  return count;
}

void copy_bits(const std::byte* src, std::int64_t src_offset, std::int64_t length,
               std::byte* dst) noexcept {
  const auto nbytes = static_cast<std::size_t>(bitmap_bytes(length));
  if ((src_offset & 7) == 0) {
    std::memcpy(dst, src + (src_offset >> 3), nbytes);
  } else {
    // Byte-wise shift; the source holds bitmap_bytes(src_offset + length)
    // bytes, so the high byte is read only while it exists.
    const auto shift = static_cast<unsigned>(src_offset & 7);
    const std::byte* s = src + (src_offset >> 3);
    const auto src_bytes = static_cast<std::size_t>(bitmap_bytes((src_offset & 7) + length));
    for (std::size_t j = 0; j < nbytes; ++j) {
      unsigned v = static_cast<unsigned>(s[j]) >> shift;
      if (j + 1 < src_bytes) v |= static_cast<unsigned>(s[j + 1]) << (8 - shift);
      dst[j] = static_cast<std::byte>(v & 0xffu);
    }
  }
  // Zero the bits past `length` in the last byte so the output is canonical.
  if ((length & 7) != 0) dst[nbytes - 1] &= static_cast<std::byte>((1u << (length & 7)) - 1);
}

}  // namespace sluice::arrow
