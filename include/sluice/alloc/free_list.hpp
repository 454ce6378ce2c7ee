#pragma once
// Lock-free free list of chunk indices (a Treiber stack) whose head packs
// (index, tag) into one 64-bit word against ABA. The next links live in a
// table outside the payload (ChunkMeta::next), never in the chunks.
//
//   head:  63          32 31           0
//         +--------------+--------------+
//         |  tag (pops)  |    index     |     index == kNil: empty
//         +--------------+--------------+
//
// The tag counts successful pops (mod 2^32); pushes keep it. That is enough
// against ABA: a pop reads (i, t) and next(i) = n, and may only install n
// if i is still on top *and has not been popped since*; every way for the
// head to show index i again after i left the top goes through a pop of i
// (or of what was pushed above it), which advances the tag, so (i, t) never
// comes back (until 2^32 pops happen while one thread sits between its load
// and its CAS). A push that reads (j, t) and links x -> j is correct
// whenever the head is still (j, t). Counting pops only lets the pool
// derive "chunks in use" as tag - pushes without a second counter on the
// allocation path.
//
// The atomic template is injectable (folly-style) so tests can interleave a
// second actor deterministically between a load and its CAS.
//
// Validation: indices read from shared memory (head, links) are checked
// against the capacity before use; a bad one is reported, never followed.
// Both loops are bounded: a CAS fails only when another actor succeeded
// (lock-free progress), and the bound turns a peer that rewrites the head
// forever into an error instead of a hang.

#include <atomic>
#include <cstdint>

namespace sluice::alloc {

template <template <typename> class Atom = std::atomic>
struct TaggedFreeList {
  static constexpr std::uint32_t kNil = 0xFFFFFFFFu;
  static constexpr std::uint32_t kDefaultAttempts = 1u << 20;

  static constexpr std::uint64_t pack(std::uint32_t index, std::uint32_t tag) noexcept {
    return (static_cast<std::uint64_t>(tag) << 32) | index;
  }
  static constexpr std::uint32_t index_of(std::uint64_t head) noexcept {
    return static_cast<std::uint32_t>(head);
  }
  static constexpr std::uint32_t tag_of(std::uint64_t head) noexcept {
    return static_cast<std::uint32_t>(head >> 32);
  }

  enum class Status : std::uint8_t {
    ok,
    empty,
    corrupted,  // head names an index >= capacity
    contended,  // the attempt bound ran out (retryable)
  };
  struct PopResult {
    Status status;
    std::uint32_t index;  // the popped index (ok) or the bad one (corrupted)
    std::uint32_t tag;    // the tag installed by this pop (ok)
  };

  // Pops an index. `link(i)` returns the Atom<std::uint32_t>& holding next(i).
  //
  // SYNC: the acquire load / acquire CAS of `head` pairs with the release
  // CAS in push(): whoever pops i sees the link the pusher stored and every
  // write the pusher made before (including, transitively, the payload
  // writes of the chunk's last holders).
  template <typename Link>
  static PopResult pop(Atom<std::uint64_t>& head, Link&& link, std::uint32_t capacity,
                       std::uint32_t max_attempts = kDefaultAttempts) noexcept {
    std::uint64_t h = head.load(std::memory_order_acquire);
    for (std::uint32_t attempt = 0; attempt < max_attempts; ++attempt) {
      const std::uint32_t i = index_of(h);
      if (i == kNil) return {Status::empty, kNil, 0};
      if (i >= capacity) return {Status::corrupted, i, 0};
      // May be torn by a concurrent pop+push of i; then the CAS fails
      // because the tag moved. A successful CAS installs the link i had while
      // on top; that value is validated when it becomes the head.
      const std::uint32_t n = link(i).load(std::memory_order_relaxed);
      const std::uint32_t t = tag_of(h) + 1;
      if (head.compare_exchange_weak(h, pack(n, t), std::memory_order_acquire,
                                     std::memory_order_acquire))
        return {Status::ok, i, t};
    }
    return {Status::contended, kNil, 0};
  }

  // Pushes index i (< capacity, owned by the caller). Returns false only if
  // the attempt bound ran out; i is then on no list (audit() finds it).
  //
  // SYNC: the release CAS publishes link(i) and the caller's prior writes
  // to the pop() that takes i next.
  template <typename Link>
  static bool push(Atom<std::uint64_t>& head, Link&& link, std::uint32_t i,
                   std::uint32_t max_attempts = kDefaultAttempts) noexcept {
    std::uint64_t h = head.load(std::memory_order_relaxed);
    for (std::uint32_t attempt = 0; attempt < max_attempts; ++attempt) {
      link(i).store(index_of(h), std::memory_order_relaxed);
      if (head.compare_exchange_weak(h, pack(i, tag_of(h)), std::memory_order_release,
                                     std::memory_order_relaxed))
        return true;
    }
    return false;
  }
};

}  // namespace sluice::alloc
