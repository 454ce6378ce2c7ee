// vgi-rpc shared-memory segments: header bytes, allocator semantics against a
// hostile table, attach/ownership rules, batches written and read in place,
// pointer batches.

#include <sluice/arrow/builder.hpp>
#include <sluice/arrow/compare.hpp>
#include <sluice/arrow/sample.hpp>
#include <sluice/batch/vgis.hpp>
#include <sluice/os/shm.hpp>

#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <cstring>
#include <random>

namespace sa = sluice::arrow;
namespace vg = sluice::batch::vgis;
namespace ipc = sluice::arrow::ipc;
using sluice::Errc;
using sluice::test::ScopedShmName;

namespace {

bool exists(const std::string& name) {
  struct stat st {};
  return ::stat(("/dev/shm/" + (name[0] == '/' ? name.substr(1) : name)).c_str(), &st) == 0;
}

std::vector<std::byte> hex_bytes(const std::string& hex) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<std::byte>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

void poke_table(vg::Segment& seg, std::uint32_t n, const std::vector<vg::Allocation>& entries) {
  auto head = seg.bytes(vg::kHeaderSize, 0);  // just to have the mapping base
  ASSERT_TRUE(head);
  std::byte* base = head->data() - vg::kHeaderSize;
  std::memcpy(base + 16, &n, 4);
  if (!entries.empty())
    std::memcpy(base + 24, entries.data(), entries.size() * sizeof(vg::Allocation));
}

TEST(Vgis, HeaderMatchesVgiRpcGoldenBytes) {
  // The golden state pinned by vgi-rpc's own cross-language tests: data_size
  // 16384, allocations (65536, 100) and (65792, 50).
  ScopedShmName name("vgis");
  auto seg = vg::Segment::create(name.str(), vg::kHeaderSize + 16384);
  ASSERT_TRUE(seg) << seg.error().what();
  auto a0 = seg->allocate(100).value();
  ASSERT_TRUE(seg->free(a0));
  auto a = seg->allocate(100).value();
  auto gap = seg->allocate(156).value();
  auto b = seg->allocate(50).value();
  EXPECT_EQ(a, 65536u);
  EXPECT_EQ(b, 65792u);
  ASSERT_TRUE(seg->free(gap));
  const auto golden = hex_bytes(
      "5647495301000000004000000000000002000000000000000000010000000000"
      "640000000000000000010100000000003200000000000000");
  auto head = seg->bytes(vg::kHeaderSize, 0).value();
  EXPECT_EQ(std::memcmp(head.data() - vg::kHeaderSize, golden.data(), golden.size()), 0);
  EXPECT_EQ(seg->allocations(), (std::vector<vg::Allocation>{{65536, 100}, {65792, 50}}));
}

TEST(Vgis, FirstFitReusesAndCoalescesGaps) {
  ScopedShmName name("vgis");
  auto seg = vg::Segment::create(name.str(), vg::kHeaderSize + 64 * 1024).value();
  auto a = seg.allocate(100).value();
  auto b = seg.allocate(100).value();
  auto c = seg.allocate(100).value();
  EXPECT_TRUE(b > a && c > b);
  ASSERT_TRUE(seg.free(b));
  EXPECT_EQ(seg.allocate(100).value(), b);
  ASSERT_TRUE(seg.free(b));
  ASSERT_TRUE(seg.free(c));
  EXPECT_EQ(seg.allocate(200).value(), b);  // the two neighbours' space, merged
  auto big = seg.allocate(65 * 1024);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), Errc::out_of_memory);
  EXPECT_FALSE(seg.allocate(0));
  EXPECT_FALSE(seg.free(12345));
}

TEST(Vgis, AlignedAllocation) {
  ScopedShmName name("vgis");
  auto seg = vg::Segment::create(name.str(), vg::kHeaderSize + 64 * 1024).value();
  auto a = seg.allocate(3).value();
  auto b = seg.allocate(10, 64).value();
  EXPECT_EQ(a, vg::kHeaderSize);
  EXPECT_EQ(b, vg::kHeaderSize + 64);
  EXPECT_EQ(seg.allocate(5).value(), vg::kHeaderSize + 3);  // first fit still uses the gap
  EXPECT_FALSE(seg.allocate(8, 3));
}

TEST(Vgis, ShrinkReturnsTheTail) {
  ScopedShmName name("vgis");
  auto seg = vg::Segment::create(name.str(), vg::kHeaderSize + 64 * 1024).value();
  auto off = seg.allocate(8 * 1024).value();
  ASSERT_TRUE(seg.shrink(off, 1024));
  EXPECT_EQ(seg.allocate(4 * 1024).value(), off + 1024);
  EXPECT_EQ(seg.num_allocs(), 2u);
  EXPECT_FALSE(seg.shrink(off, 2048));     // larger than the reservation
  EXPECT_FALSE(seg.shrink(off + 1, 100));  // unknown offset
  EXPECT_EQ(seg.allocations().front(), (vg::Allocation{off, 1024}));
}

TEST(Vgis, TableCapacityIs4094) {
  ScopedShmName name("vgis");
  auto seg = vg::Segment::create(name.str(), vg::kHeaderSize + (vg::kMaxAllocs + 1) * 16).value();
  std::vector<std::uint64_t> offs;
  for (std::size_t i = 0; i < vg::kMaxAllocs; ++i) offs.push_back(seg.allocate(16).value());
  auto full = seg.allocate(16);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), Errc::table_full);
  ASSERT_TRUE(seg.free(offs[0]));
  EXPECT_TRUE(seg.allocate(16));
}

TEST(Vgis, HostileTableNeverYieldsOutOfBoundsOrOverlap) {
  ScopedShmName name("vgis");
  const std::uint64_t total = vg::kHeaderSize + 64 * 1024;
  auto seg = vg::Segment::create(name.str(), total).value();
  // Unsorted, overlapping, past the end, inside the header, huge lengths.
  std::vector<vg::Allocation> evil{{total - 8, 8},
                                   {vg::kHeaderSize, 8},
                                   {vg::kHeaderSize + 4, 100},
                                   {10, 5},
                                   {total + 100, 50},
                                   {vg::kHeaderSize + 4096, UINT64_MAX},
                                   {UINT64_MAX - 1, 10}};
  poke_table(seg, static_cast<std::uint32_t>(evil.size()), evil);
  auto all = seg.allocate(total);
  EXPECT_FALSE(all);
  auto r = seg.allocate(1024);
  ASSERT_TRUE(r);
  EXPECT_GE(*r, vg::kHeaderSize + 104);
  EXPECT_LE(*r + 1024, vg::kHeaderSize + 4096);
  // A count far past the capacity is clamped, never read past the header.
  poke_table(seg, 1000000, {});
  EXPECT_LE(seg.allocations().size(), vg::kMaxAllocs);
  EXPECT_EQ(seg.inspect().num_allocs, 1000000u);
  auto full = seg.allocate(16);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), Errc::table_full);
  seg.reset();
  EXPECT_EQ(seg.num_allocs(), 0u);
}

TEST(Vgis, RandomOperationsKeepInvariants) {
  ScopedShmName name("vgis");
  const std::uint64_t total = vg::kHeaderSize + 64 * 1024;
  auto seg = vg::Segment::create(name.str(), total).value();
  std::mt19937_64 rng(7);
  std::vector<vg::Allocation> live;
  for (int step = 0; step < 5000; ++step) {
    const auto op = rng() % 3;
    const std::uint64_t size = 1 + rng() % 4096;
    if (op == 0) {
      const std::uint64_t align = std::uint64_t{1} << (rng() % 7);
      auto r = seg.allocate(size, align);
      if (r) {
        EXPECT_GE(*r, vg::kHeaderSize);
        EXPECT_LE(*r + size, total);
        EXPECT_EQ(*r % align, 0u);
        for (const auto& l : live) EXPECT_TRUE(*r + size <= l.offset || *r >= l.offset + l.length);
        live.push_back({*r, size});
      } else {
        EXPECT_EQ(r.error().code(), Errc::out_of_memory);
      }
    } else if (op == 1 && !live.empty()) {
      const std::size_t i = rng() % live.size();
      ASSERT_TRUE(seg.free(live[i].offset));
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (!live.empty()) {
      const std::size_t i = rng() % live.size();
      const std::uint64_t n = std::max<std::uint64_t>(1, size % live[i].length);
      ASSERT_TRUE(seg.shrink(live[i].offset, n));
      live[i].length = n;
    }
    ASSERT_EQ(seg.num_allocs(), live.size());
  }
}

TEST(Vgis, AttachOwnershipAndNames) {
  ScopedShmName name("vgis");
  const std::string slashed = "/" + name.str();
  {
    auto owner = vg::Segment::create(slashed, vg::kHeaderSize + 4096).value();
    EXPECT_TRUE(owner.is_owner());
    auto off = owner.allocate(123).value();
    {
      auto bare = vg::Segment::attach(name.str(), owner.size());  // without the slash
      ASSERT_TRUE(bare) << bare.error().what();
      EXPECT_FALSE(bare->is_owner());
      EXPECT_EQ(bare->allocations(), (std::vector<vg::Allocation>{{off, 123}}));
      EXPECT_TRUE(bare->free(off));
      auto sized = vg::Segment::attach(slashed);  // size from the object
      ASSERT_TRUE(sized);
      EXPECT_EQ(sized->size(), owner.size());
      EXPECT_FALSE(sized->unlink());  // an attacher never unlinks
    }
    EXPECT_TRUE(exists(name.str()));  // attachers left it in place
    EXPECT_EQ(owner.num_allocs(), 0u);
    auto too_big = vg::Segment::attach(name.str(), owner.size() + 4096);
    EXPECT_FALSE(too_big);
  }
  EXPECT_FALSE(exists(name.str()));  // the owner unlinked it
  EXPECT_FALSE(vg::Segment::attach(name.str()));
}

TEST(Vgis, AttachRejectsCorruptHeaders) {
  ScopedShmName name("vgis");
  auto seg = vg::Segment::create(name.str(), vg::kHeaderSize + 4096).value();
  std::byte* base = seg.bytes(vg::kHeaderSize, 0).value().data() - vg::kHeaderSize;
  std::byte saved[24];
  std::memcpy(saved, base, 24);
  std::memcpy(base, "XXXX", 4);
  auto r = vg::Segment::attach(name.str());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::bad_magic);
  std::memcpy(base, saved, 24);
  const std::uint32_t v = 999;
  std::memcpy(base + 4, &v, 4);
  r = vg::Segment::attach(name.str());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::version_mismatch);
  std::memcpy(base, saved, 24);
  const std::uint64_t ds = 1;
  std::memcpy(base + 8, &ds, 8);
  r = vg::Segment::attach(name.str());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_NE(r.error().what().find("data_size"), std::string::npos);
  EXPECT_FALSE(vg::Segment::create(name.str(), vg::kHeaderSize));  // too small (and exists)
}

bool all_in(const sa::Array& a, const std::byte* lo, std::size_t n) {
  for (const auto& b : a.buffers())
    if (!b.empty() && (b.data() < lo || b.data() + b.size() > lo + n)) return false;
  for (const auto& c : a.children())
    if (!all_in(*c, lo, n)) return false;
  return !a.dictionary() || all_in(*a.dictionary(), lo, n);
}

TEST(Vgis, BatchWrittenAndReadInPlace) {
  ScopedShmName name("vgis");
  auto seg = vg::Segment::create(name.str(), vg::kHeaderSize + (4 << 20)).value();
  sa::SampleOptions o;
  o.exclude = {"dict_utf8", "dict_i64"};  // the full-stream layout
  o.batch_metadata.set("vgi_rpc.request_id", "9");
  const auto batch = sa::make_sample_batch(200, o);
  auto region = seg.write_batch(batch);
  ASSERT_TRUE(region) << region.error().what();
  EXPECT_EQ(region->offset % 64, 0u);
  EXPECT_EQ(region->length, ipc::serialized_size(batch).value());
  auto bytes = seg.bytes(region->offset, region->length).value();
  const std::uint32_t eos[2] = {0xFFFFFFFFu, 0};
  EXPECT_EQ(std::memcmp(bytes.data() + bytes.size() - 8, eos, 8), 0);  // a complete stream
  auto got = seg.read_batch(region->offset, region->length, batch.schema());
  ASSERT_TRUE(got) << got.error().what();
  EXPECT_TRUE(sa::batch_equals(*got, batch, true));
  for (const auto& c : got->columns())
    EXPECT_TRUE(all_in(*c, bytes.data(), bytes.size())) << c->type()->to_string();
  // Writing into the mapping wrote the bytes the stream writer would produce.
  auto streamed = ipc::write_stream(batch.schema(), {batch}).value();
  ASSERT_EQ(streamed.size(), bytes.size());
  EXPECT_EQ(std::memcmp(streamed.data(), bytes.data(), bytes.size()), 0);
}

TEST(Vgis, DictionarySchemasOmitSchemaAndEos) {
  ScopedShmName name("vgis");
  auto seg = vg::Segment::create(name.str(), vg::kHeaderSize + (1 << 20)).value();
  const auto batch = sa::make_sample_batch(20);  // has top-level dictionary columns
  auto region = seg.write_batch(batch).value();
  auto full = ipc::EncodedStream::encode(batch).value();
  EXPECT_EQ(region.length, full.size() - full.messages().front().size() - 8);
  auto bytes = seg.bytes(region.offset, region.length).value();
  // The region starts with a dictionary batch, not the schema.
  std::vector<std::byte> first(full.messages()[1].size());
  ASSERT_TRUE(full.messages()[1].write_to(first));
  EXPECT_EQ(std::memcmp(bytes.data(), first.data(), first.size()), 0);
  auto got = seg.read_batch(region.offset, region.length, batch.schema());
  ASSERT_TRUE(got) << got.error().what();
  EXPECT_TRUE(sa::batch_equals(*got, batch));
  // Without the schema it cannot be read.
  EXPECT_FALSE(seg.read_batch(region.offset, region.length, nullptr));
}

TEST(Vgis, PointerBatchesResolveInPlace) {
  ScopedShmName name("vgis");
  auto seg = vg::Segment::create(name.str(), vg::kHeaderSize + (1 << 20)).value();
  const auto batch = sa::make_sample_batch(
      50, {.exclude = {}, .schema_metadata = {}, .batch_metadata = {{"vgi_rpc.method", "f"}}});
  auto ptr = vg::maybe_write_to_segment(batch, seg);
  ASSERT_TRUE(ptr) << ptr.error().what();
  EXPECT_TRUE(vg::is_pointer_batch(*ptr));
  EXPECT_EQ(ptr->num_rows(), 0);
  EXPECT_EQ(*ptr->metadata().get("vgi_rpc.method"), "f");
  auto region = vg::pointer_region(*ptr).value();
  EXPECT_EQ(std::to_string(region.offset), *ptr->metadata().get(vg::kShmOffsetKey));
  EXPECT_EQ(seg.num_allocs(), 1u);
  // The pointer batch travels as an ordinary IPC stream.
  auto wire = ipc::write_stream(ptr->schema(), {*ptr}).value();
  auto received = ipc::read_all(sa::Buffer::copy_of(wire.data(), wire.size())).value().at(0);
  auto attached = vg::Segment::attach(seg.name(), seg.size()).value();
  auto res = vg::resolve_pointer_batch(received, attached);
  ASSERT_TRUE(res) << res.error().what();
  ASSERT_TRUE(res->release_offset);
  EXPECT_TRUE(sa::batch_equals(res->batch, batch));
  EXPECT_EQ(*res->batch.metadata().get(vg::kShmSourceKey), seg.name());
  EXPECT_FALSE(res->batch.metadata().contains(vg::kShmOffsetKey));
  ASSERT_TRUE(attached.free(*res->release_offset));
  EXPECT_EQ(seg.num_allocs(), 0u);
  // Not a pointer: unchanged. Log batches are zero-row too but are not pointers.
  auto plain = vg::resolve_pointer_batch(batch, seg).value();
  EXPECT_FALSE(plain.release_offset);
  auto log = sa::RecordBatch::empty(batch.schema(), {{std::string(vg::kShmOffsetKey), "0"},
                                                     {std::string(vg::kLogLevelKey), "INFO"}})
                 .value();
  EXPECT_FALSE(vg::is_pointer_batch(log));
  // Zero-row batches are never written.
  auto empty = sa::RecordBatch::empty(batch.schema()).value();
  EXPECT_FALSE(vg::is_pointer_batch(vg::maybe_write_to_segment(empty, seg).value()));
}

TEST(Vgis, BadPointersAreRejected) {
  ScopedShmName name("vgis");
  auto seg = vg::Segment::create(name.str(), vg::kHeaderSize + 65536).value();
  auto s = sa::schema({sa::field("v", sa::int64())});
  auto past = vg::make_pointer_batch(s, {seg.size(), 1024}).value();
  auto r = vg::resolve_pointer_batch(past, seg);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::out_of_range);
  auto overflow = vg::make_pointer_batch(s, {vg::kHeaderSize, UINT64_MAX}).value();
  EXPECT_FALSE(vg::resolve_pointer_batch(overflow, seg));
  for (const char* bad : {"not-a-number", "", "12x", "-5", "99999999999999999999999"}) {
    auto b = sa::RecordBatch::empty(s, {{std::string(vg::kShmOffsetKey), bad},
                                        {std::string(vg::kShmLengthKey), "100"}})
                 .value();
    auto e = vg::resolve_pointer_batch(b, seg);
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().code(), Errc::parse_error);
  }
  // Garbage in an in-bounds region is a parse error, not a crash.
  auto off = seg.allocate(256).value();
  std::memset(seg.bytes(off, 256).value().data(), 0x5a, 256);
  auto garbage = vg::make_pointer_batch(s, {off, 256}).value();
  auto g = vg::resolve_pointer_batch(garbage, seg);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code(), Errc::parse_error);
}

TEST(Vgis, FallsBackWhenTooSmallWithoutLeakingASlot) {
  ScopedShmName name("vgis");
  auto seg = vg::Segment::create(name.str(), vg::kHeaderSize + 4096).value();
  std::vector<std::optional<std::int64_t>> v(200000, 1);
  auto big = sa::RecordBatch::make(sa::schema({sa::field("v", sa::int64())}), 200000,
                                   {sa::make_array<std::int64_t>(sa::int64(), v)})
                 .value();
  auto out = vg::maybe_write_to_segment(big, seg).value();
  EXPECT_FALSE(vg::is_pointer_batch(out));
  EXPECT_EQ(out.num_rows(), 200000);
  EXPECT_EQ(seg.num_allocs(), 0u);
}

TEST(Vgis, ReadBatchOutlivesTheHandleAndCanFreeOnRelease) {
  ScopedShmName name("vgis");
  const auto batch = sa::make_sample_batch(30);
  std::optional<sa::RecordBatch> kept;
  {
    auto seg = vg::Segment::create(name.str(), vg::kHeaderSize + (1 << 20)).value();
    auto region = seg.write_batch(batch).value();
    auto attached = vg::Segment::attach(name.str()).value();
    {
      auto owned = attached.read_batch(region.offset, region.length, batch.schema(), true).value();
      EXPECT_EQ(seg.num_allocs(), 1u);
      auto col = owned.column(4);
      owned = sa::RecordBatch{};
      EXPECT_EQ(seg.num_allocs(), 1u);  // a column still references the region
      col.reset();
      EXPECT_EQ(seg.num_allocs(), 0u);  // freed when the last buffer went away
    }
    auto again = seg.write_batch(batch).value();
    kept = seg.read_batch(again.offset, again.length, batch.schema()).value();
  }
  // The owner unlinked the segment, but the mapping lives on with the batch.
  EXPECT_FALSE(exists(name.str()));
  EXPECT_TRUE(sa::batch_equals(*kept, batch));
}

}  // namespace
