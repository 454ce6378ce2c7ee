#include <sluice/layout/segment.hpp>
#include <sluice/os/shm.hpp>

#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cstring>

namespace sluice::layout {
namespace {

using test::ScopedShmName;

SegmentOptions small() {
  SegmentOptions o;
  o.max_peers = 8;
  o.max_entries = 16;
  o.heap_bytes = 4096;
  o.data_bytes = std::uint64_t{64} * 1024;
  o.open_timeout = std::chrono::milliseconds(500);
  return o;
}

TEST(Segment, CreateThenOpenSeesSameSegment) {
  ScopedShmName name("dom");
  auto a = Segment::create(name.str(), small());
  ASSERT_TRUE(a) << a.error().what();
  EXPECT_TRUE(a->created());
  ASSERT_TRUE(a->peer_index());
  auto b = Segment::open(name.str());
  ASSERT_TRUE(b) << b.error().what();
  EXPECT_FALSE(b->created());
  EXPECT_EQ(a->generation(), b->generation());
  EXPECT_EQ(a->size(), b->size());
  EXPECT_NE(*a->peer_index(), *b->peer_index());
  EXPECT_EQ(a->peers().size(), 2u);
  for (const auto& p : a->peers()) EXPECT_TRUE(p.alive);
  // Default mode 0600, and no temporary objects left.
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm/" + name.str()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Segment, CreateExistingFailsOpenMissingFails) {
  ScopedShmName name("dom");
  auto a = Segment::create(name.str(), small());
  ASSERT_TRUE(a);
  auto again = Segment::create(name.str(), small());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Errc::already_exists);
  EXPECT_NE(again.error().what().find("already exists"), std::string::npos);
  auto missing = Segment::open(test::unique_shm_name("nothing"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::not_found);
  EXPECT_NE(missing.error().what().find("no such domain"), std::string::npos);
}

TEST(Segment, BadNamesAndOptions) {
  EXPECT_EQ(Segment::create("a/b", small()).error().code(), Errc::bad_name);
  EXPECT_EQ(Segment::create("", small()).error().code(), Errc::bad_name);
  auto o = small();
  o.max_peers = 0;
  EXPECT_EQ(Segment::create(test::unique_shm_name("x"), o).error().code(), Errc::invalid_argument);
}

TEST(Segment, OpenOrCreateCreatesOnceThenAttaches) {
  ScopedShmName name("dom");
  auto a = Segment::open_or_create(name.str(), small());
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->created());
  auto b = Segment::open_or_create("/" + name.str(), small());
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->created());
  EXPECT_EQ(a->generation(), b->generation());
}

TEST(Segment, PeerSlotsFreedOnDestructionAndTableFull) {
  ScopedShmName name("dom");
  auto o = small();
  o.max_peers = 2;
  auto a = Segment::create(name.str(), o);
  ASSERT_TRUE(a);
  {
    auto b = Segment::open(name.str());
    ASSERT_TRUE(b);
    auto c = Segment::open(name.str());
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), Errc::table_full);
  }
  auto d = Segment::open(name.str());
  ASSERT_TRUE(d) << d.error().what();
  EXPECT_EQ(a->peers().size(), 2u);
}

TEST(Segment, SectionFormatterRunsBeforeReady) {
  ScopedShmName name("dom");
  auto o = small();
  o.format_sections = [](Segment& d) -> Result<void> {
    SLUICE_TRY_ASSIGN(auto* p, d.at<std::uint64_t>(d.header().heap.offset));
    *p = 0xfeedULL;
    return ok();
  };
  auto a = Segment::create(name.str(), o);
  ASSERT_TRUE(a);
  auto b = Segment::open(name.str());
  ASSERT_TRUE(b);
  EXPECT_EQ(**b->at<std::uint64_t>(b->header().heap.offset), 0xfeedULL);
  EXPECT_FALSE(b->at<std::uint64_t>(b->size() - 4));
  EXPECT_FALSE(b->at<std::uint64_t>(b->size(), 1));
  EXPECT_FALSE(b->at<std::uint64_t>(3));
}

TEST(Segment, FailingFormatterLeavesNothing) {
  ScopedShmName name("dom");
  auto o = small();
  o.format_sections = [](Segment&) -> Result<void> { return fail(Errc::out_of_memory, "no room"); };
  auto a = Segment::create(name.str(), o);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().what().find("no room"), std::string::npos);
  EXPECT_EQ(Segment::open(name.str()).error().code(), Errc::not_found);
}

TEST(Segment, TheLastPeerOutRemovesTheDomainUnlessPersistent) {
  ScopedShmName name("last");
  const std::string path = "/dev/shm/" + name.str();
  {
    auto a = Segment::create(name.str(), small());
    ASSERT_TRUE(a);
    {
      auto b = Segment::open(name.str());
      ASSERT_TRUE(b) << b.error().what();
    }
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);  // `a` is still attached
    // A read-only look (tools) is no peer: it neither keeps nor removes it.
    SegmentOpenOptions ro;
    ro.read_only = true;
    EXPECT_TRUE(Segment::open(name.str(), ro));
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);  // the last one out removed it
  SegmentOptions keep = small();
  keep.persistent = true;
  { ASSERT_TRUE(Segment::create(name.str(), keep)); }
  EXPECT_EQ(::access(path.c_str(), F_OK), 0);
  auto again = Segment::open(name.str());
  ASSERT_TRUE(again) << again.error().what();
  EXPECT_TRUE(again->geometry().persistent);
}

class Corruption : public ::testing::Test {
 protected:
  void SetUp() override {
    SegmentOptions o = small();
    o.persistent = true;  // poked and opened after its creator detached
    auto d = Segment::create(name_.str(), o);
    ASSERT_TRUE(d);
    size_ = d->size();
  }
  // Writes `bytes` at `offset` of the object, as a hostile process would.
  void poke(std::uint64_t offset, const void* bytes, std::size_t n) {
    const int fd = ::shm_open(("/" + name_.str()).c_str(), O_RDWR, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes, n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
    ::close(fd);
  }
  Error open_error() {
    auto r = Segment::open(name_.str());
    EXPECT_FALSE(r);
    return r ? Error{} : r.error();
  }
  ScopedShmName name_{"corrupt"};
  std::uint64_t size_ = 0;
};

TEST_F(Corruption, BadMagic) {
  const char junk[8] = {'n', 'o', 't', 'a', 'd', 'o', 'm', '!'};
  poke(0, junk, 8);
  auto e = open_error();
  EXPECT_EQ(e.code(), Errc::bad_magic);
  EXPECT_NE(e.what().find("not a sluice domain"), std::string::npos);
}

TEST_F(Corruption, OtherLayoutVersion) {
  const std::uint32_t v = kLayoutVersion + 1;
  poke(offsetof(SegmentHeader, layout_version), &v, 4);
  auto e = open_error();
  EXPECT_EQ(e.code(), Errc::version_mismatch);
  EXPECT_NE(e.what().find(fmt::format("layout version {}, expected {}", v, kLayoutVersion)),
            std::string::npos);
}

TEST_F(Corruption, SectionOffsetsOverwritten) {
  const std::uint64_t off = size_ + 4096;
  poke(offsetof(SegmentHeader, data), &off, 8);
  auto e = open_error();
  EXPECT_EQ(e.code(), Errc::corrupted);
  EXPECT_NE(e.what().find("checksum"), std::string::npos);
}

TEST_F(Corruption, TruncatedObject) {
  ASSERT_EQ(::truncate(("/dev/shm/" + name_.str()).c_str(), static_cast<off_t>(size_ / 2)), 0);
  auto e = open_error();
  EXPECT_EQ(e.code(), Errc::corrupted);
  EXPECT_NE(e.what().find("truncated"), std::string::npos);
  ASSERT_EQ(::truncate(("/dev/shm/" + name_.str()).c_str(), 100), 0);
  e = open_error();
  EXPECT_EQ(e.code(), Errc::corrupted);
  EXPECT_NE(e.what().find("smaller than a domain header"), std::string::npos);
}

TEST_F(Corruption, InvalidInitState) {
  const std::uint32_t s = 77;
  poke(offsetof(SegmentHeader, init_state), &s, 4);
  EXPECT_EQ(open_error().code(), Errc::corrupted);
  const auto c = static_cast<std::uint32_t>(InitState::corrupted);
  poke(offsetof(SegmentHeader, init_state), &c, 4);
  auto e = open_error();
  EXPECT_EQ(e.code(), Errc::corrupted);
  EXPECT_NE(e.what().find("sluice rm"), std::string::npos);
}

TEST_F(Corruption, InitialisingByDeadCreatorIsRecoveredByOpenOrCreate) {
  const auto s = static_cast<std::uint32_t>(InitState::initialising);
  const std::int32_t dead_pid = 0x7ffffff0;  // no such process
  poke(offsetof(SegmentHeader, init_state), &s, 4);
  poke(offsetof(SegmentHeader, init_pid), &dead_pid, 4);
  auto e = open_error();
  EXPECT_EQ(e.code(), Errc::creator_died);
  auto r = Segment::open_or_create(name_.str(), small());
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_TRUE(r->created());
  auto again = Segment::open(name_.str());
  ASSERT_TRUE(again) << again.error().what();
  EXPECT_EQ(again->generation(), r->generation());
}

TEST_F(Corruption, RegistryEntryWithBadNameLength) {
  auto d = Segment::open(name_.str());
  ASSERT_TRUE(d);
  EntryConfig cfg{};
  ASSERT_TRUE(d->registry_create_or_attach("chan", cfg, nullptr));
  const std::uint32_t bad_len = 1000;
  poke(d->header().registry.offset + offsetof(RegistryEntry, name_length), &bad_len, 4);
  auto r = d->registry_attach("chan");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_FALSE(d->registry_list());
}

TEST(Registry, CreateAttachMismatchRemove) {
  ScopedShmName name("reg");
  auto d = Segment::create(name.str(), small());
  ASSERT_TRUE(d);
  EntryConfig cfg{};
  cfg.kind = 1;
  cfg.type_id = 42;
  cfg.element_size = 8;
  cfg.params[0] = 256;
  int formatted = 0;
  auto fmt_block = [&formatted](Segment& dom) -> Result<Section> {
    ++formatted;
    return Section{dom.header().data.offset, 128};
  };
  auto a = d->registry_create_or_attach("robot/pose", cfg, fmt_block);
  ASSERT_TRUE(a) << a.error().what();
  EXPECT_TRUE(a->created);
  auto b = d->registry_create_or_attach("robot/pose", cfg, fmt_block);
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->created);
  EXPECT_EQ(b->control_offset, a->control_offset);
  EXPECT_EQ(formatted, 1);

  EntryConfig other = cfg;
  other.element_size = 16;
  auto c = d->registry_create_or_attach("robot/pose", other, fmt_block);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::config_mismatch);
  EXPECT_NE(c.error().what().find("element size 8 (asked for 16)"), std::string::npos);

  auto list = d->registry_list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "robot/pose");
  EXPECT_EQ((*list)[0].refs, 2u);

  EXPECT_EQ(d->registry_remove("robot/pose").error().code(), Errc::invalid_argument);
  ASSERT_TRUE(d->registry_detach(*a));
  ASSERT_TRUE(d->registry_detach(*b));
  auto removed = d->registry_remove("robot/pose");
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->size, 128u);
  EXPECT_EQ(d->registry_detach(*a).error().code(), Errc::stale);
  EXPECT_EQ(d->registry_attach("robot/pose").error().code(), Errc::not_found);
  EXPECT_EQ(d->registry_attach("bad name").error().code(), Errc::bad_name);
}

TEST(Registry, FullAndFailingFormatter) {
  ScopedShmName name("reg");
  auto o = small();
  o.max_entries = 2;
  auto d = Segment::create(name.str(), o);
  ASSERT_TRUE(d);
  EntryConfig cfg{};
  auto failing = [](Segment&) -> Result<Section> { return fail(Errc::out_of_memory, "heap full"); };
  auto r = d->registry_create_or_attach("x", cfg, failing);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().what().find("heap full"), std::string::npos);
  ASSERT_TRUE(d->registry_create_or_attach("a", cfg, nullptr));
  ASSERT_TRUE(d->registry_create_or_attach("b", cfg, nullptr));
  auto full = d->registry_create_or_attach("c", cfg, nullptr);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), Errc::table_full);
}

}  // namespace
}  // namespace sluice::layout
