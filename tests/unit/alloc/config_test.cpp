#include <sluice/alloc/config.hpp>
#include <sluice/alloc/heap.hpp>
#include <sluice/alloc/heap_layout.hpp>

#include <gtest/gtest.h>

namespace sluice::alloc {
namespace {

TEST(HeapConfig, DefaultsAreValidAndGenerous) {
  const HeapConfig c = HeapConfig::defaults();
  ASSERT_TRUE(c.validate()) << c.validate().error().what();
  EXPECT_EQ(c.classes.front().chunk_size, 64u);
  EXPECT_EQ(c.classes.back().chunk_size, 1 * MiB);
  for (std::size_t i = 1; i < c.classes.size(); ++i)
    EXPECT_GT(c.classes[i].chunk_size, c.classes[i - 1].chunk_size);
  // A 64 MiB payload fits the default TLSF region several times over.
  EXPECT_GE(c.tlsf_bytes, 4 * 64 * MiB);
  std::uint64_t small = 0;
  for (const auto& k : c.classes)
    if (k.chunk_size <= 1024) small += k.count;
  EXPECT_GE(small, 65536u) << "small-message pools must not run dry under bursts";
}

TEST(HeapConfig, SizingOfDefaults) {
  const HeapConfig c = HeapConfig::defaults();
  const std::uint64_t meta = Heap::metadata_bytes(c).value();
  const std::uint64_t data = Heap::data_bytes(c).value();
  std::uint64_t chunks = c.tlsf_max_blocks;
  std::uint64_t payload = align_up(c.tlsf_bytes, kPageSize);
  for (const auto& k : c.classes) {
    chunks += k.count;
    payload += align_up(k.chunk_size * k.count, kPageSize);
  }
  EXPECT_EQ(data, payload);
  EXPECT_EQ(meta,
            align_up(align_up(layout::kChunkMetaOffset + chunks * sizeof(layout::ChunkMeta), 64) +
                         c.tlsf_max_blocks * sizeof(layout::TlsfLink),
                     64));
  // Metadata overhead stays a small fraction of the payload area.
  EXPECT_LT(meta * 50, data);
}

TEST(HeapConfig, Scaled) {
  const HeapConfig c = HeapConfig::scaled(0.5, 64 * MiB);
  ASSERT_TRUE(c.validate());
  EXPECT_EQ(c.classes[0].count, HeapConfig::defaults().classes[0].count / 2);
  EXPECT_EQ(c.tlsf_bytes, 64 * MiB);
  const HeapConfig tiny = HeapConfig::scaled(0.000001, 0);
  ASSERT_TRUE(tiny.validate());
  for (const auto& k : tiny.classes) EXPECT_EQ(k.count, 1u);
  EXPECT_EQ(tiny.tlsf_max_blocks, 0u);
}

TEST(HeapConfig, RejectsBadConfigs) {
  auto bad = [](HeapConfig c) {
    auto r = c.validate();
    EXPECT_FALSE(r);
    if (!r) {
      EXPECT_EQ(r.error().code(), Errc::invalid_argument);
      EXPECT_FALSE(r.error().message().empty());
    }
    EXPECT_FALSE(Heap::metadata_bytes(c));
    EXPECT_FALSE(Heap::data_bytes(c));
  };
  HeapConfig c;
  bad(c);  // nothing at all
  c.classes = {{64, 10}, {64, 10}};
  bad(c);  // not ascending
  c.classes = {{128, 10}, {64, 10}};
  bad(c);  // descending
  c.classes = {{100, 10}};
  bad(c);  // not a multiple of 64
  c.classes = {{32, 10}};
  bad(c);  // below 64
  c.classes = {{64, 0}};
  bad(c);  // empty class
  c.classes = {{64, 1}};
  c.tlsf_bytes = 1000;
  c.tlsf_max_blocks = 16;
  bad(c);  // tlsf not a multiple of 64
  c.tlsf_bytes = 4096;
  c.tlsf_max_blocks = 1;
  bad(c);  // too few descriptors
  c.tlsf_bytes = 0;
  c.tlsf_max_blocks = 16;
  bad(c);  // descriptors without a region
  c.tlsf_max_blocks = 0;
  c.classes.clear();
  for (std::uint64_t i = 1; i <= kMaxClasses + 1; ++i) c.classes.push_back({i * 64, 1});
  bad(c);  // too many classes
  c.classes = {{64, 0x7FFFFFFF}, {128, 0x7FFFFFFF}};
  bad(c);  // too many chunk ids
  c.classes = {{kMaxChunkSize, 0x10000000}};
  bad(c);  // absurd data size
}

TEST(HeapConfig, Describe) {
  HeapConfig c;
  c.classes = {{64, 16}, {4096, 2}};
  c.tlsf_bytes = 2 * MiB;
  c.tlsf_max_blocks = 32;
  EXPECT_EQ(c.describe(), "64 B x 16, 4 KiB x 2; tlsf 2 MiB (32 blocks)");
  c.tlsf_bytes = 0;
  c.tlsf_max_blocks = 0;
  EXPECT_EQ(c.describe(), "64 B x 16, 4 KiB x 2; no tlsf");
}

}  // namespace
}  // namespace sluice::alloc
