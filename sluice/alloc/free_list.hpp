#pragma once
// Lock-free free list of chunk indices (a Treiber stack) whose head packs
// (index, tag) into one 64-bit word against ABA. The links live in a table
// outside the payload (ChunkMeta::next/depth), never in the chunks.
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
// whenever the head is still (j, t).
//
// Every node also records its depth (the list's length from it down),
// written by the push that lists it: depth(x) = depth(j) + 1. The depth of
// the top is the list's length, so "chunks in use" = capacity - depth(top)
// costs no counter on either path: a pool pair is exactly two atomic
// read-modify-writes (the pop CAS and the push CAS). The depth read by a
// push is consistent when its CAS succeeds: j was on top throughout, and a
// node's depth changes only when it is pushed again, after being popped.
//
// The atomic template is injectable (folly-style) so tests can interleave a
// second actor deterministically between a load and its CAS.
//
// Validation: indices read from shared memory (head, links) are checked
// against the capacity before use; a bad one is reported, never followed.
// Depths only feed statistics. Both loops are bounded: a CAS fails only when
// another actor succeeded (lock-free progress), and the bound turns a peer
// that rewrites the head forever into an error instead of a hang.

#include <sluice/base/atomic.hpp>

#include <atomic>
#include <cstdint>

namespace sluice::alloc {

template <template <typename> class Atom = std::atomic>
struct TaggedFreeList {
  static constexpr std::uint32_t kNil = 0xFFFFFFFFu;
  static constexpr std::uint32_t kDefaultAttempts = 1u << 20;
  static constexpr std::uint32_t kMaxBackoff = 64;  // cpu_relax() rounds

  // After a failed CAS: wait 1, 2, 4 ... kMaxBackoff pause rounds before the
  // next attempt. Only contended operations pay it; two cores hammering one
  // head otherwise spend most of their time failing each other's CAS.
  static void backoff(std::uint32_t& rounds) noexcept {
    for (std::uint32_t k = 0; k < rounds; ++k) cpu_relax();
    if (rounds < kMaxBackoff) rounds *= 2;
  }

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
    std::uint32_t tag;    // the tag installed by this pop (ok): pops so far
    std::uint32_t depth;  // the list's length before this pop, as recorded (ok)
  };

  // Pops an index. `node(i)` returns a reference to an object with members
  // `next` and `depth` of type Atom<std::uint32_t> (ChunkMeta).
  //
  // SYNC: the acquire load / acquire CAS of `head` pairs with the release
  // CAS in push(): whoever pops i sees the link the pusher stored and every
  // write the pusher made before (including, transitively, the payload
  // writes of the chunk's last holders).
  template <typename Node>
  static PopResult pop(Atom<std::uint64_t>& head, Node&& node, std::uint32_t capacity,
                       std::uint32_t max_attempts = kDefaultAttempts) noexcept {
    std::uint64_t h = head.load(std::memory_order_acquire);
    std::uint32_t rounds = 1;
    for (std::uint32_t attempt = 0; attempt < max_attempts; ++attempt) {
      if (attempt > 0) backoff(rounds);
      const std::uint32_t i = index_of(h);
      if (i == kNil) return {Status::empty, kNil, 0, 0};
      if (i >= capacity) return {Status::corrupted, i, 0, 0};
      // May be torn by a concurrent pop+push of i; then the CAS fails
      // because the tag moved. A successful CAS installs the link i had while
      // on top; that value is validated when it becomes the head.
      const std::uint32_t n = node(i).next.load(std::memory_order_relaxed);
      const std::uint32_t t = tag_of(h) + 1;
      if (head.compare_exchange_weak(h, pack(n, t), std::memory_order_acquire,
                                     std::memory_order_acquire))
        // i is ours now: nobody writes its depth until it is pushed again.
        return {Status::ok, i, t, node(i).depth.load(std::memory_order_relaxed)};
    }
    return {Status::contended, kNil, 0, 0};
  }

  // Pushes index i (< capacity, owned by the caller). Returns false only if
  // the attempt bound ran out; i is then on no list (audit() finds it).
  // A head index >= capacity (corruption) is linked below i as is and
  // reported by the pop that reaches it.
  //
  // SYNC: the release CAS publishes next(i)/depth(i) and the caller's prior
  // writes to the pop() that takes i next. The acquire loads of the head
  // (first load, failed CAS) pair with the release CAS of the push that
  // listed j, so depth(j) read here is the one that push wrote.
  template <typename Node>
  static bool push(Atom<std::uint64_t>& head, Node&& node, std::uint32_t i, std::uint32_t capacity,
                   std::uint32_t max_attempts = kDefaultAttempts) noexcept {
    std::uint64_t h = head.load(std::memory_order_acquire);
    std::uint32_t rounds = 1;
    for (std::uint32_t attempt = 0; attempt < max_attempts; ++attempt) {
      if (attempt > 0) backoff(rounds);
      const std::uint32_t j = index_of(h);
      const std::uint32_t below = j < capacity ? node(j).depth.load(std::memory_order_relaxed) : 0;
      node(i).next.store(j, std::memory_order_relaxed);
      node(i).depth.store(below + 1, std::memory_order_relaxed);
      if (head.compare_exchange_weak(h, pack(i, tag_of(h)), std::memory_order_release,
                                     std::memory_order_acquire))
        return true;
    }
    return false;
  }
};

}  // namespace sluice::alloc
