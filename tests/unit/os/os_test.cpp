#include <sluice/os/clock.hpp>
#include <sluice/os/eventfd.hpp>
#include <sluice/os/futex.hpp>
#include <sluice/os/mapping.hpp>
#include <sluice/os/process.hpp>
#include <sluice/os/robust_mutex.hpp>
#include <sluice/os/shm.hpp>

#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cstring>
#include <thread>

namespace sluice::os {
namespace {

using namespace std::chrono_literals;

TEST(ShmName, Validation) {
  EXPECT_TRUE(validate_shm_name("telemetry"));
  EXPECT_TRUE(validate_shm_name("/telemetry.v2_a-b"));
  EXPECT_EQ(validate_shm_name("").error().code(), Errc::bad_name);
  EXPECT_EQ(validate_shm_name("/").error().code(), Errc::bad_name);
  EXPECT_EQ(validate_shm_name("a/b").error().code(), Errc::bad_name);
  EXPECT_EQ(validate_shm_name("..").error().code(), Errc::bad_name);
  EXPECT_EQ(validate_shm_name(std::string(201, 'x')).error().code(), Errc::bad_name);
  EXPECT_NE(validate_shm_name("a b").error().what().find("character"), std::string::npos);
  EXPECT_EQ(shm_path("x"), "/x");
  EXPECT_EQ(shm_path("/x"), "/x");
}

TEST(ShmObject, CreateIsExclusiveAndModeIsExact) {
  test::ScopedShmName name("os");
  auto a = ShmObject::create(name.str(), 8192, 0640);
  ASSERT_TRUE(a) << a.error().what();
  auto st = a->stat();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->size, 8192u);
  EXPECT_EQ(st->mode, 0640u);
  auto b = ShmObject::create("/" + name.str(), 8192);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), Errc::already_exists);
  EXPECT_NE(b.error().what().find(name.str()), std::string::npos);
}

TEST(ShmObject, OpenMissingIsNotFound) {
  auto r = ShmObject::open(test::unique_shm_name("missing"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::not_found);
  EXPECT_EQ(ShmObject::unlink(test::unique_shm_name("missing")).error().code(), Errc::not_found);
}

TEST(Mapping, TwoMappingsShareBytes) {
  test::ScopedShmName name("map");
  auto obj = ShmObject::create(name.str(), 4096);
  ASSERT_TRUE(obj);
  auto m1 = Mapping::map(obj->fd(), 4096);
  auto other = ShmObject::open(name.str());
  ASSERT_TRUE(other);
  auto m2 = Mapping::map(other->fd(), 4096, MapOptions{.writable = false, .populate = true});
  ASSERT_TRUE(m1 && m2);
  std::memcpy(m1->data(), "sluice", 6);
  EXPECT_EQ(std::memcmp(m2->data(), "sluice", 6), 0);
  EXPECT_TRUE(m1->contains(m1->data() + 4000, 96));
  EXPECT_FALSE(m1->contains(m1->data() + 4000, 97));
}

TEST(MemFd, SizedAndMappable) {
  auto obj = ShmObject::memfd("sluice-test", 1 << 20);
  ASSERT_TRUE(obj);
  EXPECT_EQ(obj->stat()->size, 1u << 20);
  auto m = Mapping::map(obj->fd(), 1 << 20);
  ASSERT_TRUE(m);
  m->data()[(1 << 20) - 1] = std::byte{7};
}

TEST(Futex, WakesWaiterAcrossProcesses) {
  auto m = Mapping::map(ShmObject::memfd("futex", 4096)->fd(), 4096);
  ASSERT_TRUE(m);
  auto* word = new (m->data()) std::atomic<std::uint32_t>(0);
  const pid_t child = ::fork();
  if (child == 0) {
    while (word->load() == 0) {
      if (!futex_wait(*word, 0, 5s)) _exit(2);
    }
    _exit(word->load() == 1 ? 0 : 3);
  }
  std::this_thread::sleep_for(20ms);
  word->store(1);
  futex_wake(*word, 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Futex, TimesOutAndReturnsOnChangedValue) {
  std::atomic<std::uint32_t> w{5};
  const auto t0 = monotonic_ns();
  auto r = futex_wait(w, 5, 20ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::timed_out);
  EXPECT_GE(monotonic_ns() - t0, 15'000'000u);
  EXPECT_TRUE(futex_wait(w, 4, 1s));  // value differs: returns at once
}

TEST(EventFd, SignalConsume) {
  auto e = EventFd::create();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->consume().error().code(), Errc::would_block);
  ASSERT_TRUE(e->signal());
  ASSERT_TRUE(e->signal());
  auto v = e->consume();
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 2u);
}

TEST(Process, IdentityDetectsDeathAndPidReuse) {
  const auto self = self_identity();
  EXPECT_EQ(self.pid, ::getpid());
  EXPECT_GT(self.start_time, 0u);
  EXPECT_EQ(check_liveness(self), Liveness::alive);
  // Same pid, another start time: a reused pid is not the old process.
  EXPECT_EQ(check_liveness({self.pid, self.start_time + 1}), Liveness::dead);

  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    _exit(0);
  }
  auto start = process_start_time(child);
  ASSERT_TRUE(start);
  const ProcessIdentity id{child, *start};
  EXPECT_EQ(check_liveness(id), Liveness::alive);
  auto pfd = PidFd::open(child);
  ::kill(child, SIGKILL);
  // Before reaping: a zombie counts as dead.
  for (int i = 0; i < 200 && check_liveness(id) == Liveness::alive; ++i)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(check_liveness(id), Liveness::dead);
  if (pfd) {
    EXPECT_TRUE(pfd->exited());
  }
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(check_liveness(id), Liveness::dead);
}

TEST(RobustMutex, OwnerDeathIsReported) {
  auto m = Mapping::map(ShmObject::memfd("mutex", 4096)->fd(), 4096);
  ASSERT_TRUE(m);
  auto* mx = reinterpret_cast<RobustMutexData*>(m->data());
  ASSERT_TRUE(robust_mutex_init(*mx));
  const pid_t child = ::fork();
  if (child == 0) {
    auto st = robust_mutex_lock(*mx, 1s);
    _exit(st ? 0 : 1);  // exits holding the lock
  }
  ::waitpid(child, nullptr, 0);
  auto st = robust_mutex_lock(*mx, 1s);
  ASSERT_TRUE(st) << st.error().what();
  EXPECT_EQ(*st, LockState::owner_died);
  robust_mutex_unlock(*mx);
  st = robust_mutex_lock(*mx, 1s);
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, LockState::acquired);
  // Held by us: another thread times out.
  std::thread t([&] {
    auto r = robust_mutex_lock(*mx, 10ms);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Errc::timed_out);
  });
  t.join();
  robust_mutex_unlock(*mx);
}

TEST(RobustMutex, ScribbledWordsAreTakenOverOrTimeOutButNeverCrash) {
  auto m = Mapping::map(ShmObject::memfd("mutex", 4096)->fd(), 4096);
  ASSERT_TRUE(m);
  auto* mx = reinterpret_cast<RobustMutexData*>(m->data());
  ASSERT_TRUE(robust_mutex_init(*mx));
  // A word naming no thread (the tid mask's top is far above pid_max), and
  // garbage everywhere else: a dead owner, taken over.
  std::memset(static_cast<void*>(mx), 0xff, sizeof *mx);
  mx->word.store(kRobustTidMask - 1);
  auto st = robust_mutex_lock(*mx, 1s);
  ASSERT_TRUE(st) << st.error().what();
  EXPECT_EQ(*st, LockState::owner_died);
  robust_mutex_unlock(*mx);
  // A word naming a live thread of another process (pid 1): a clear
  // timed_out, not a hang.
  mx->word.store(1);
  auto busy = robust_mutex_lock(*mx, 30ms);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code(), Errc::timed_out);
  EXPECT_EQ(robust_mutex_try_lock(*mx).error().code(), Errc::would_block);
  mx->word.store(0);
  st = robust_mutex_lock(*mx, 1s);
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, LockState::acquired);
  EXPECT_EQ(robust_mutex_lock(*mx, 1s).error().code(), Errc::internal);  // not recursive
  robust_mutex_unlock(*mx);
}

TEST(RobustMutex, AThreadThatExitsHoldingItIsADeadOwner) {
  RobustMutexData mx{};
  ASSERT_TRUE(robust_mutex_init(mx));
  std::thread([&] { ASSERT_TRUE(robust_mutex_lock(mx, 1s)); }).join();
  auto st = robust_mutex_lock(mx, 2s);
  ASSERT_TRUE(st) << st.error().what();
  EXPECT_EQ(*st, LockState::owner_died);
  robust_mutex_unlock(mx);
}

TEST(RobustMutex, ExcludesThreadsAndProcesses) {
  auto m = Mapping::map(ShmObject::memfd("mutex", 4096)->fd(), 4096);
  ASSERT_TRUE(m);
  auto* mx = reinterpret_cast<RobustMutexData*>(m->data());
  auto* counter = reinterpret_cast<std::uint64_t*>(m->data() + 64);
  ASSERT_TRUE(robust_mutex_init(*mx));
  constexpr int kRounds = 20000;
  auto work = [&] {
    for (int i = 0; i < kRounds; ++i) {
      auto st = robust_mutex_lock(*mx, 10s);
      if (!st) return false;
      const std::uint64_t v = *counter;  // a plain read-modify-write under the lock
      *counter = v + 1;
      robust_mutex_unlock(*mx);
    }
    return true;
  };
  const pid_t child = ::fork();
  if (child == 0) _exit(work() ? 0 : 1);
  std::thread t([&] { EXPECT_TRUE(work()); });
  EXPECT_TRUE(work());
  t.join();
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(*counter, 3U * kRounds);
}

TEST(Deadline, Basics) {
  auto d = Deadline::after(10ms);
  EXPECT_FALSE(d.expired());
  EXPECT_GT(d.remaining().count(), 0);
  EXPECT_TRUE(Deadline::after(0ns).expired());
  EXPECT_FALSE(Deadline::never().expired());
}

}  // namespace
}  // namespace sluice::os
