#pragma once
// Copies of ring slots that another thread or process may overwrite while
// they are being read (the SPSC ring in overwrite mode; see spsc_ring.hpp).
//
// Such a read is a race by design: the reader copies the slot, then a CAS
// tells it whether the copy is valid (nobody overwrote the slot meanwhile) or
// must be thrown away. To keep that race defined behaviour (and quiet under
// ThreadSanitizer) both sides access the slot as an array of machine words
// through relaxed atomic operations, never as T: a torn copy is possible and
// harmless, undefined behaviour is not. On x86-64 and AArch64 a relaxed
// atomic load or store of an aligned word is a plain mov/ldr/str, so this
// costs nothing over memcpy except vectorisation.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace sluice::ring {

// The widest word (8, 4, 2 or 1 bytes) that divides sizeof(T): slots are laid
// out with stride sizeof(T) from a cache-line aligned base, so every slot is
// aligned to this word.
template <typename T>
using SlotWord = std::conditional_t<
    sizeof(T) % 8 == 0, std::uint64_t,
    std::conditional_t<sizeof(T) % 4 == 0, std::uint32_t,
                       std::conditional_t<sizeof(T) % 2 == 0, std::uint16_t, std::uint8_t>>>;

// Stores value into the slot word by word (relaxed).
template <typename T>
inline void store_words(std::byte* slot, const T& value) noexcept {
  using W = SlotWord<T>;
  constexpr std::size_t kWords = sizeof(T) / sizeof(W);
  W words[kWords];
  std::memcpy(words, &value, sizeof(T));
  auto* dst = reinterpret_cast<W*>(slot);
  for (std::size_t i = 0; i < kWords; ++i)
    std::atomic_ref<W>(dst[i]).store(words[i], std::memory_order_relaxed);
}

// Loads the slot word by word (relaxed) into out. The result may be torn if
// the slot was overwritten meanwhile; the caller's CAS decides.
template <typename T>
inline void load_words(const std::byte* slot, T& out) noexcept {
  using W = SlotWord<T>;
  constexpr std::size_t kWords = sizeof(T) / sizeof(W);
  W words[kWords];
  // atomic_ref needs a non-const referent even for loads (C++20).
  auto* src = const_cast<W*>(reinterpret_cast<const W*>(slot));
  for (std::size_t i = 0; i < kWords; ++i)
    words[i] = std::atomic_ref<W>(src[i]).load(std::memory_order_relaxed);
  std::memcpy(&out, words, sizeof(T));
}

}  // namespace sluice::ring
