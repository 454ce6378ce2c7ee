#include <sluice/channel/channel.hpp>
#include <sluice/layout/segment.hpp>
#include <sluice/tools/cli.hpp>

#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sstream>

namespace sluice::tools {
namespace {

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run sluice(std::vector<std::string> args) {
  args.insert(args.begin(), "sluice");
  std::ostringstream out;
  std::ostringstream err;
  const int code = run_cli(args, {out, err});
  return {code, out.str(), err.str()};
}

layout::SegmentOptions small() {
  layout::SegmentOptions o;
  o.max_peers = 4;
  o.max_entries = 4;
  o.data_bytes = 4096;
  return o;
}

TEST(Cli, HelpAndUsageExitCodes) {
  auto help = sluice({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("inspect"), std::string::npos);
  for (const char* cmd : {"ls", "inspect", "rm", "gc"}) {
    auto r = sluice({cmd, "--help"});
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find("--json"), std::string::npos) << cmd;
  }
  EXPECT_EQ(sluice({}).code, 2);
  EXPECT_EQ(sluice({"inspect"}).code, 2);
  EXPECT_EQ(sluice({"ls", "--bogus"}).code, 2);
}

TEST(Cli, UnknownCommandsAreNamed) {
  auto r = sluice({"bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown command 'bogus'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("inspect"), std::string::npos) << r.err;
}

TEST(Cli, RmJsonCarriesItsErrors) {
  const std::string missing = test::unique_shm_name("none");
  auto r = sluice({"rm", missing, "--json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out.rfind("{\"removed\":[],\"errors\":[{\"name\":\"" + missing, 0), 0U) << r.out;
  EXPECT_NE(r.out.find("no such domain"), std::string::npos) << r.out;
}

TEST(Cli, LsAndInspectShowLiveDomain) {
  test::ScopedShmName name("cli");
  DomainOptions o;
  o.heap = alloc::HeapConfig::scaled(0.01, 16 * MiB);
  auto d = Domain::create(name.str(), o);
  ASSERT_TRUE(d);
  auto pub = BytePublisher::create(*d, "robot/pose");
  auto sub = ByteSubscriber::create(*d, "robot/pose");
  ASSERT_TRUE(pub && sub);
  ASSERT_TRUE(pub->send(std::vector<std::byte>(100)));

  auto ls = sluice({"ls", "--json"});
  EXPECT_EQ(ls.code, 0);
  EXPECT_EQ(ls.out.rfind("{\"domains\":[", 0), 0u);
  EXPECT_NE(ls.out.find("\"name\":\"" + name.str() + "\""), std::string::npos) << ls.out;
  auto table = sluice({"ls"});
  EXPECT_NE(table.out.find(name.str()), std::string::npos);
  EXPECT_NE(table.out.find("ready"), std::string::npos);

  auto ins = sluice({"inspect", name.str(), "--json"});
  EXPECT_EQ(ins.code, 0) << ins.err;
  EXPECT_NE(ins.out.find("\"header\":{"), std::string::npos);
  EXPECT_NE(ins.out.find("\"pid\":" + std::to_string(::getpid())), std::string::npos) << ins.out;
  EXPECT_NE(ins.out.find("\"name\":\"robot/pose\""), std::string::npos);
  EXPECT_NE(ins.out.find("\"heap\":{"), std::string::npos) << ins.out;
  EXPECT_NE(ins.out.find("\"role\":\"subscriber\""), std::string::npos) << ins.out;
  EXPECT_NE(ins.out.find("\"queued\":1"), std::string::npos) << ins.out;
  auto text = sluice({"inspect", name.str()});
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("robot/pose"), std::string::npos);
  EXPECT_NE(text.out.find("high water"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("PUBLISHED"), std::string::npos) << text.out;
}

TEST(Cli, ClearErrorsForMissingAndCorrupted) {
  auto missing = sluice({"inspect", test::unique_shm_name("none")});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("no such domain"), std::string::npos);
  test::ScopedShmName name("cli");
  {
    auto o = small();
    o.persistent = true;  // inspected after this handle is gone
    auto d = layout::Segment::create(name.str(), o);
    ASSERT_TRUE(d);
    d->header().segment_size += 1;  // now the checksum no longer matches
  }
  auto bad = sluice({"inspect", name.str()});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("corrupted"), std::string::npos) << bad.err;
  auto ls = sluice({"ls"});
  EXPECT_NE(ls.out.find("checksum"), std::string::npos) << ls.out;
  auto rm = sluice({"rm", name.str()});
  EXPECT_EQ(rm.code, 0) << rm.err;
}

TEST(Cli, RmRefusesLiveDomainUnlessForced) {
  test::ScopedShmName name("cli");
  auto d = layout::Segment::create(name.str(), small());
  ASSERT_TRUE(d);
  auto r = sluice({"rm", name.str()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("live process"), std::string::npos);
  r = sluice({"rm", name.str(), "--force", "--json"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "{\"removed\":[\"" + name.str() + "\"]}\n");
}

TEST(Cli, RmRemovesOnlySluiceDomainsUnlessForced) {
  test::ScopedShmName name("cli");
  const int fd = ::shm_open(("/" + name.str()).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "not a domain", 12), 12);
  ::close(fd);
  auto r = sluice({"rm", name.str()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not a sluice domain"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(::access(("/dev/shm/" + name.str()).c_str(), F_OK), 0);  // still there
  r = sluice({"rm", name.str(), "--force"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(::access(("/dev/shm/" + name.str()).c_str(), F_OK), 0);
}

TEST(Cli, LsListsDomainsItCannotRead) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as a second user (uid 65534)";
  test::ScopedShmName name("cli");
  auto d = layout::Segment::create(name.str(), small());  // root's, mode 0600
  ASSERT_TRUE(d);
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipefd[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(3);
    const auto ls = sluice({"ls", "--json"});
    const auto table = sluice({"ls"});
    const std::string both = ls.out + "\n" + table.out;
    (void)!::write(pipefd[1], both.data(), both.size());
    _exit(ls.code);
  }
  ::close(pipefd[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;)
    got.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << got;
  const auto at = got.find(R"("name":")" + name.str() + "\"");
  ASSERT_NE(at, std::string::npos) << got;
  const std::string entry = got.substr(at, got.find('}', at) - at);
  EXPECT_NE(entry.find("\"state\":\"unreadable\""), std::string::npos) << entry;
  EXPECT_NE(entry.find("\"owner_uid\":0"), std::string::npos) << entry;
  EXPECT_NE(entry.find("\"mode\":\"0600\""), std::string::npos) << entry;
  EXPECT_NE(entry.find("permission denied"), std::string::npos) << entry;
  EXPECT_EQ(got.find("no sluice domains"), std::string::npos) << got;
}

TEST(Cli, GcRemovesDomainsOfDeadProcesses) {
  test::ScopedShmName name("cli");
  const pid_t child = ::fork();
  if (child == 0) {
    auto d = layout::Segment::create(name.str(), small());
    _exit(d ? 0 : 1);  // exits without detaching: like a crash
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  // _exit ran no destructors, so the peer slot still names the dead child.
  auto dry = sluice({"gc", "--dry-run", "--json"});
  EXPECT_NE(dry.out.find(name.str()), std::string::npos) << dry.out;
  auto gc = sluice({"gc"});
  EXPECT_EQ(gc.code, 0);
  EXPECT_NE(gc.out.find("removed " + name.str()), std::string::npos) << gc.out;
  EXPECT_EQ(sluice({"inspect", name.str()}).code, 1);
}

}  // namespace
}  // namespace sluice::tools

namespace sluice::tools {
namespace {

TEST(CliArrow, GenIsBoundedAndSaysHowToSplit) {
  const std::string out = "/tmp/" + test::unique_shm_name("gen") + ".arrow";
  auto huge = sluice({"arrow", "gen", "--rows", "9223372036854775807", "--out", out});
  EXPECT_EQ(huge.code, 2);
  EXPECT_NE(huge.err.find("more than"), std::string::npos) << huge.err;
  auto one_batch = sluice({"arrow", "gen", "--rows", "10000000", "--out", out});
  EXPECT_EQ(one_batch.code, 2);
  EXPECT_NE(one_batch.err.find("--batches 3"), std::string::npos) << one_batch.err;
  EXPECT_NE(::access(out.c_str(), F_OK), 0);  // nothing written
}

TEST(CliArrow, GenThenCatAsTableAndJson) {
  const std::string path = "/tmp/" + test::unique_shm_name("arrow") + ".arrows";
  auto gen = sluice({"arrow", "gen", "--rows", "5", "--out", path});
  ASSERT_EQ(gen.code, 0) << gen.err;
  auto cat = sluice({"arrow", "cat", path});
  EXPECT_EQ(cat.code, 0) << cat.err;
  EXPECT_FALSE(cat.out.empty());
  auto json = sluice({"arrow", "cat", path, "--json"});
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_NE(json.out.find('{'), std::string::npos);
  ::unlink(path.c_str());
  auto missing = sluice({"arrow", "cat", path});
  EXPECT_EQ(missing.code, 1);
  EXPECT_FALSE(missing.err.empty());
  for (const char* cmd : {"arrow", "vgis"}) {
    auto h = sluice({cmd, "--help"});
    EXPECT_EQ(h.code, 0) << cmd;
  }
}

}  // namespace
}  // namespace sluice::tools
