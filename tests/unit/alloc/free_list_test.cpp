// The tagged free list with an injected atomic, so that a second actor can
// run deterministically between a load and the CAS that depends on it.

#include <sluice/alloc/free_list.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <functional>
#include <utility>

namespace sluice::alloc {
namespace {

// Runs `before_cas` (once, or every time if `persistent`) right before a
// compare_exchange: the interleaving point of a lock-free algorithm.
struct CasHook {
  static inline std::function<void()> before_cas;
  static inline bool persistent = false;
};

template <typename T>
class HookedAtomic {
 public:
  HookedAtomic() = default;
  explicit HookedAtomic(T v) : v_(v) {}
  T load(std::memory_order o) const { return v_.load(o); }
  void store(T v, std::memory_order o) { v_.store(v, o); }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order s, std::memory_order f) {
    if (CasHook::before_cas) {
      auto hook =
          CasHook::persistent ? CasHook::before_cas : std::exchange(CasHook::before_cas, nullptr);
      hook();
    }
    return v_.compare_exchange_strong(expected, desired, s, f);
  }

 private:
  std::atomic<T> v_{};
};

using List = TaggedFreeList<HookedAtomic>;
constexpr std::uint32_t kN = 8;

struct Node {
  HookedAtomic<std::uint32_t> next;
  HookedAtomic<std::uint32_t> depth;
};

struct Fixture {
  HookedAtomic<std::uint64_t> head{List::pack(List::kNil, 0)};
  std::array<Node, kN> nodes{};
  auto link() {
    return [this](std::uint32_t i) -> Node& { return nodes[i]; };
  }
  List::PopResult pop() { return List::pop(head, link(), kN); }
  void push(std::uint32_t i) { ASSERT_TRUE(List::push(head, link(), i, kN)); }
  std::uint32_t length() {
    const std::uint32_t top = List::index_of(head.load(std::memory_order_relaxed));
    return top == List::kNil ? 0 : nodes[top].depth.load(std::memory_order_relaxed);
  }
  // Builds 0 -> 1 -> ... -> n-1.
  void build(std::uint32_t n) {
    for (std::uint32_t i = n; i-- > 0;) push(i);
  }
};

class FreeListTest : public ::testing::Test {
 protected:
  void TearDown() override {
    CasHook::before_cas = nullptr;
    CasHook::persistent = false;
  }
};

TEST_F(FreeListTest, LifoOrderAndEmpty) {
  Fixture f;
  EXPECT_EQ(f.pop().status, List::Status::empty);
  f.build(4);
  for (std::uint32_t i = 0; i < 4; ++i) {
    auto r = f.pop();
    ASSERT_EQ(r.status, List::Status::ok);
    EXPECT_EQ(r.index, i);
  }
  EXPECT_EQ(f.pop().status, List::Status::empty);
}

// The top's depth is the list's length, through pushes, pops and the
// interleavings of the tests below.
TEST_F(FreeListTest, DepthTracksLength) {
  Fixture f;
  EXPECT_EQ(f.length(), 0u);
  f.build(5);
  EXPECT_EQ(f.length(), 5u);
  auto a = f.pop();
  EXPECT_EQ(a.depth, 5u) << "a pop reports the length before it";
  EXPECT_EQ(f.length(), 4u);
  auto b = f.pop();
  f.push(a.index);
  EXPECT_EQ(f.length(), 4u);
  f.push(b.index);
  EXPECT_EQ(f.length(), 5u);
  while (f.pop().status == List::Status::ok) {
  }
  EXPECT_EQ(f.length(), 0u);
}

TEST_F(FreeListTest, TagCountsPopsOnly) {
  Fixture f;
  f.build(4);
  EXPECT_EQ(List::tag_of(f.head.load(std::memory_order_relaxed)), 0u);
  auto a = f.pop();
  auto b = f.pop();
  EXPECT_EQ(a.tag, 1u);
  EXPECT_EQ(b.tag, 2u);
  f.push(a.index);
  EXPECT_EQ(List::tag_of(f.head.load(std::memory_order_relaxed)), 2u);
}

// Classic ABA: actor 1 reads head = (0, t) and next(0) = 1; before its CAS
// actor 2 pops 0, pops 1, pushes 0 back (head index is 0 again, next(0) is
// now 2). Without the tag actor 1 would install 1 (a chunk actor 2 holds).
TEST_F(FreeListTest, TagDefeatsAba) {
  Fixture f;
  f.build(3);  // 0 -> 1 -> 2
  std::uint32_t held_by_2 = List::kNil;
  CasHook::before_cas = [&] {
    auto x = f.pop();
    auto y = f.pop();
    ASSERT_EQ(x.index, 0u);
    ASSERT_EQ(y.index, 1u);
    held_by_2 = y.index;
    f.push(x.index);  // head index 0 again, tag advanced by two pops
  };
  auto r = f.pop();  // actor 1: its first CAS fails, the retry pops 0 correctly
  ASSERT_EQ(r.status, List::Status::ok);
  EXPECT_EQ(r.index, 0u);
  EXPECT_EQ(held_by_2, 1u);
  EXPECT_EQ(f.length(), 1u);
  auto rest = f.pop();
  ASSERT_EQ(rest.status, List::Status::ok);
  EXPECT_EQ(rest.index, 2u) << "chunk 1 is held by actor 2 and must not be on the list";
  EXPECT_EQ(f.pop().status, List::Status::empty);
}

// A push whose head changed between its load and its CAS retries with the
// new head, so nothing is lost.
TEST_F(FreeListTest, PushRetriesAfterConcurrentPop) {
  Fixture f;
  f.build(3);
  auto taken = f.pop();  // actor 1 holds 0
  ASSERT_EQ(taken.index, 0u);
  std::uint32_t popped_by_2 = List::kNil;
  CasHook::before_cas = [&] { popped_by_2 = f.pop().index; };
  f.push(taken.index);  // actor 1 returns 0 while actor 2 pops 1
  EXPECT_EQ(popped_by_2, 1u);
  EXPECT_EQ(f.length(), 2u) << "the depth was re-read after the failed CAS";
  EXPECT_EQ(f.pop().index, 0u);
  EXPECT_EQ(f.pop().index, 2u);
  EXPECT_EQ(f.pop().status, List::Status::empty);
}

TEST_F(FreeListTest, CorruptedHeadIsReportedNotFollowed) {
  Fixture f;
  f.head.store(List::pack(kN + 5, 3), std::memory_order_relaxed);
  auto r = f.pop();
  EXPECT_EQ(r.status, List::Status::corrupted);
  EXPECT_EQ(r.index, kN + 5);
  // A bad link is installed by a pop but caught by the next one.
  f.head.store(List::pack(0, 0), std::memory_order_relaxed);
  f.nodes[0].next.store(1000, std::memory_order_relaxed);
  EXPECT_EQ(f.pop().status, List::Status::ok);
  EXPECT_EQ(f.pop().status, List::Status::corrupted);
}

// A peer that rewrites the head forever makes every CAS fail; the bound
// turns that into an error instead of a hang.
TEST_F(FreeListTest, AttemptBoundEndsLivelock) {
  Fixture f;
  f.build(2);
  CasHook::persistent = true;
  CasHook::before_cas = [&] {
    const auto h = f.head.load(std::memory_order_relaxed);
    f.head.store(List::pack(List::index_of(h), List::tag_of(h) + 1), std::memory_order_relaxed);
  };
  EXPECT_EQ(List::pop(f.head, f.link(), kN, 16).status, List::Status::contended);
  EXPECT_FALSE(List::push(f.head, f.link(), 7, kN, 16));
}

}  // namespace
}  // namespace sluice::alloc
