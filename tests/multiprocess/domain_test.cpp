// Real processes (fork + exec) creating, racing for and attaching to domains.
#include <sluice/channel/domain.hpp>
#include <sluice/config.hpp>
#include <sluice/layout/scan.hpp>
#include <sluice/layout/segment.hpp>

#include "support/process.hpp"
#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <set>
#include <string>
#include <thread>

namespace sluice {
namespace {

using namespace std::chrono_literals;
using test::Child;

std::string helper() { return test::helper_path("mp_domain"); }

bool temp_object_exists(const std::string& name) {
  bool found = false;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d))
      if (std::string(e->d_name).rfind(name + ".init-", 0) == 0) found = true;
    ::closedir(d);
  }
  return found;
}

// 8 processes race open_or_create on one name, many rounds: exactly one
// initialises, all end attached to the same domain (same generation).
TEST(MultiProcessDomain, EightProcessesRaceOpenOrCreate) {
  constexpr int kRounds = 25;
  constexpr int kProcs = 8;
  for (int round = 0; round < kRounds; ++round) {
    test::ScopedShmName name("race");
    std::vector<Child> kids;
    for (int i = 0; i < kProcs; ++i) kids.push_back(Child::spawn(helper(), {"race", name.str()}));
    for (auto& k : kids) k.write_line("go");
    int created = 0;
    std::set<std::string> generations;
    std::set<std::string> peers;
    for (auto& k : kids) {
      const std::string line = k.read_line();
      ASSERT_EQ(line.rfind("created=", 0), 0u) << "round " << round << ": " << line;
      created += line[8] == '1' ? 1 : 0;
      const auto g = line.find("gen=");
      const auto p = line.find(" peer=");
      generations.insert(line.substr(g, p - g));
      peers.insert(line.substr(p));
    }
    EXPECT_EQ(created, 1) << "round " << round;
    EXPECT_EQ(generations.size(), 1u) << "round " << round;
    EXPECT_EQ(peers.size(), static_cast<std::size_t>(kProcs)) << "every process has its own slot";
    layout::SegmentOpenOptions ro;
    ro.read_only = true;
    auto d = layout::Segment::open(name.str(), ro);
    ASSERT_TRUE(d) << d.error().what();
    EXPECT_EQ(d->peers().size(), static_cast<std::size_t>(kProcs));
    for (auto& k : kids) k.kill(SIGTERM);
    for (auto& k : kids) k.wait();
    EXPECT_FALSE(temp_object_exists(name.str()));
  }
}

// The creator is killed with SIGKILL in the middle of initialisation: the
// name never appears half-made, the next opener starts fresh, and gc removes
// the dead creator's temporary object.
TEST(MultiProcessDomain, CreatorKilledMidInitialisation) {
  if (!SLUICE_CRASH_POINTS) GTEST_SKIP() << "needs a build with -DSLUICE_CRASH_POINTS=ON";
  test::ScopedShmName name("killinit");
  auto creator = Child::spawn(helper(), {"create", name.str(), "10000"});
  for (int i = 0; i < 5000 && !temp_object_exists(name.str()); ++i)
    std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(temp_object_exists(name.str()));
  std::this_thread::sleep_for(20ms);  // well inside the stall
  creator.kill(SIGKILL);
  EXPECT_EQ(creator.wait(), 128 + SIGKILL);

  layout::SegmentOptions o;
  o.data_bytes = 4096;
  o.open_timeout = 2s;
  auto d = layout::Segment::open_or_create(name.str(), o);
  ASSERT_TRUE(d) << d.error().what();
  EXPECT_TRUE(d->created());

  auto listed = layout::list_domains();
  ASSERT_TRUE(listed);
  bool saw_abandoned = false;
  for (const auto& s : *listed)
    if (s.temporary && s.name.rfind(name.str(), 0) == 0) saw_abandoned = s.state == "abandoned";
  EXPECT_TRUE(saw_abandoned);
  auto gc = layout::collect_garbage({});
  ASSERT_TRUE(gc) << gc.error().what();
  bool removed = false;
  for (const auto& a : *gc)
    if (a.name.rfind(name.str() + ".init-", 0) == 0) removed = a.removed;
  EXPECT_TRUE(removed);
  EXPECT_FALSE(temp_object_exists(name.str()));
}

// Attachers that race a slow creator never see a half-initialised domain: they
// get not_found until it is published, then attach.
TEST(MultiProcessDomain, AttachersNeverSeeHalfInitialisedDomain) {
  if (!SLUICE_CRASH_POINTS) GTEST_SKIP() << "needs a build with -DSLUICE_CRASH_POINTS=ON";
  test::ScopedShmName name("slow");
  auto creator = Child::spawn(helper(), {"create", name.str(), "300"});
  for (int i = 0; i < 200; ++i) {
    auto opener = Child::spawn(helper(), {"open", name.str()});
    const std::string line = opener.read_line();
    opener.wait();
    if (line == "ok") break;
    ASSERT_EQ(line.rfind("error not_found", 0), 0u) << line;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(creator.read_line(), "ready");
  EXPECT_EQ(creator.wait(), 0);
}

TEST(MultiProcessDomain, PermissionDenied) {
  test::ScopedShmName name("perm");
  layout::SegmentOptions o;
  o.data_bytes = 4096;
  if (::geteuid() != 0) o.mode = 0;  // the owner itself cannot open a mode-0 object
  auto d = layout::Segment::create(name.str(), o);
  ASSERT_TRUE(d);
  auto opener = ::geteuid() == 0 ? Child::spawn(helper(), {"open-as", "65534", name.str()})
                                 : Child::spawn(helper(), {"open", name.str()});
  const std::string line = opener.read_line();
  EXPECT_EQ(line.rfind("error permission_denied", 0), 0u) << line;
  EXPECT_NE(line.find("permission denied"), std::string::npos) << line;
  EXPECT_NE(line.find(name.str()), std::string::npos) << line;
  EXPECT_EQ(opener.wait(), 1);
}

TEST(MultiProcessDomain, ADomainPlantedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as a second user (uid 65534)";
  test::ScopedShmName name("squat");
  // An unprivileged user creates the name first, world-writable.
  auto squatter = Child::spawn(helper(), {"create-as", "65534", name.str(), "0666"});
  ASSERT_EQ(squatter.read_line(), "ready");
  layout::SegmentOptions mine;
  mine.data_bytes = 4096;
  auto opened = layout::Segment::open_or_create(name.str(), mine);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code(), Errc::untrusted) << opened.error().what();
  EXPECT_NE(opened.error().what().find("65534"), std::string::npos) << opened.error().what();
  EXPECT_NE(opened.error().what().find("0666"), std::string::npos) << opened.error().what();
  auto plain = Domain::open(name.str());
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code(), Errc::untrusted);
  // Deliberate sharing: trust that owner, accept that mode.
  layout::SegmentOpenOptions trusting;
  trusting.trust.uids = {65534};
  trusting.mode = 0666;
  auto shared = layout::Segment::open(name.str(), trusting);
  EXPECT_TRUE(shared) << shared.error().what();
  // Trusting the owner does not widen the mode.
  trusting.mode = 0600;
  auto narrow = layout::Segment::open(name.str(), trusting);
  ASSERT_FALSE(narrow);
  EXPECT_NE(narrow.error().what().find("wider"), std::string::npos) << narrow.error().what();
}

TEST(MultiProcessDomain, OwnDomainWithAWiderModeAndSymlinksAreRefused) {
  test::ScopedShmName name("widemode");
  layout::SegmentOptions o;
  o.data_bytes = 4096;
  o.mode = 0644;
  auto d = layout::Segment::create(name.str(), o);
  ASSERT_TRUE(d) << d.error().what();
  layout::SegmentOpenOptions oo;
  auto wide = layout::Segment::open(name.str(), oo);
  ASSERT_FALSE(wide);
  EXPECT_EQ(wide.error().code(), Errc::untrusted);
  EXPECT_NE(wide.error().what().find("0644"), std::string::npos) << wide.error().what();
  oo.mode = 0644;
  EXPECT_TRUE(layout::Segment::open(name.str(), oo));
  // A symbolic link under a domain's name is never followed.
  test::ScopedShmName link_name("symlink");
  const std::string link_path = "/dev/shm/" + link_name.str();
  ASSERT_EQ(::symlink(("/dev/shm/" + name.str()).c_str(), link_path.c_str()), 0);
  auto via_link = layout::Segment::open(link_name.str(), oo);
  EXPECT_FALSE(via_link);
  ::unlink(link_path.c_str());
}

}  // namespace
}  // namespace sluice
