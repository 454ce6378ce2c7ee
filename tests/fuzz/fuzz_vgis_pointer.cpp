// Fuzz target: resolving a vgi-rpc shared-memory pointer batch (PROTOCOL.md
// §10) against a segment that a hostile peer wrote. Each input starts from a
// real region (a batch of binary values, or of dictionary-encoded strings,
// written by Segment::write_batch), then
//   byte 0       flags: bit 0 dictionary batch, bit 1 another allocation in the table,
//                bit 2 offset/length as fuzzer text instead of numbers
//   bytes 1-8    int32 offset delta, int32 length delta (little-endian)
//   the rest     (u16 position, u8 xor) mutations of the region's bytes, or
//                with bit 2 the offset and length text ("123,456")
// and resolves the pointer as the RPC layer does (read in place, the region
// handed to a release hook). The read must fail with an error or give
// arrays whose every value can be read in bounds; never a crash.

#include <sluice/arrow/builder.hpp>
#include <sluice/batch/vgis.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace sluice;
namespace vgis = batch::vgis;

vgis::Segment& segment() {
  static vgis::Segment* s = [] {
    auto created = vgis::Segment::create(vgis::Segment::unique_name(), 1 << 20);
    if (!created) __builtin_trap();
    auto* seg = new vgis::Segment(std::move(created).value());  // NOLINT: lives for the run
    (void)seg->unlink();  // the mapping stays; /dev/shm stays clean
    return seg;
  }();
  return *s;
}

arrow::RecordBatch base_batch(bool dictionary) {
  std::vector<std::optional<std::string>> values;
  values.reserve(40);
  for (int i = 0; i < 40; ++i)
    values.emplace_back(i % 7 == 3 ? std::nullopt
                                   : std::optional(std::string(static_cast<std::size_t>(i % 13),
                                                               static_cast<char>('a' + i % 5))));
  if (!dictionary) {
    auto schema = arrow::schema({arrow::field("data", arrow::binary(), true)});
    return {schema, 40, {arrow::make_binary_array(arrow::binary(), values)}};
  }
  auto type = arrow::dictionary(arrow::int16(), arrow::utf8());
  std::vector<std::optional<std::int16_t>> idx;
  idx.reserve(40);
  for (int i = 0; i < 40; ++i)
    idx.emplace_back(i % 9 == 4 ? std::nullopt : std::optional<std::int16_t>(i % 3));
  auto dict = arrow::make_binary_array(arrow::utf8(), {"PENDING", "ACTIVE", "CLOSED"});
  auto schema = arrow::schema({arrow::field("status", type, true)});
  return {schema,
          40,
          {arrow::make_dictionary_array(type, arrow::make_array<std::int16_t>(arrow::int16(), idx),
                                        dict)}};
}

std::uint64_t touch(const arrow::Array& a) {
  std::uint64_t sum = 0;
  for (std::int64_t i = 0; i < a.length(); ++i) {
    if (a.is_null(i)) continue;
    if (a.dictionary()) {
      const auto k = a.dictionary_index(i);
      if (k >= 0 && k < a.dictionary()->length()) sum += a.dictionary()->bytes_value(k).size();
    } else {
      const auto v = a.bytes_value(i);
      for (const char c : v) sum += static_cast<unsigned char>(c);
    }
  }
  return sum;
}

std::int32_t le32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return static_cast<std::int32_t>(v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 9) return 0;
  auto& seg = segment();
  seg.reset();
  const std::uint8_t flags = data[0];
  const auto batch = base_batch((flags & 1) != 0);
  auto region = seg.write_batch(batch);
  if (!region) __builtin_trap();  // a fresh 1 MiB segment holds 40 rows
  auto bytes = seg.bytes(region->offset, region->length).value();

  std::string offset_text =
      std::to_string(static_cast<std::int64_t>(region->offset) + le32(data + 1));
  std::string length_text =
      std::to_string(static_cast<std::int64_t>(region->length) + le32(data + 5));
  const std::uint8_t* rest = data + 9;
  const std::size_t rest_size = size - 9;
  if ((flags & 4) != 0) {
    const std::string text(reinterpret_cast<const char*>(rest), rest_size);
    const auto comma = text.find(',');
    offset_text = text.substr(0, comma);
    length_text = comma == std::string::npos ? std::string() : text.substr(comma + 1);
  } else {
    for (std::size_t i = 0; i + 3 <= rest_size; i += 3) {
      const std::size_t pos = (std::size_t{rest[i]} | std::size_t{rest[i + 1]} << 8) % bytes.size();
      bytes[pos] ^= static_cast<std::byte>(rest[i + 2]);
    }
  }
  if ((flags & 2) != 0 && rest_size >= 4) {
    // Another allocation beside the region, sized by the fuzzer.
    std::uint32_t n = 0;
    std::memcpy(&n, rest, 4);
    (void)seg.allocate(1 + n % 4096, 64);
  }

  arrow::KeyValueMetadata md;
  md.set(std::string(vgis::kShmOffsetKey), offset_text);
  md.set(std::string(vgis::kShmLengthKey), length_text);
  auto ptr = arrow::RecordBatch::empty(batch.schema(), md);
  if (!ptr) return 0;
  std::vector<std::uint64_t> released;
  {
    auto r = vgis::resolve_pointer_batch(
        *ptr, seg, [&released](std::uint64_t off) { released.push_back(off); });
    if (r) {
      std::uint64_t sum = 0;
      for (const auto& c : r->batch.columns()) sum += touch(*c);
      if (sum == 0xFFFFFFFFFFFFFFFFULL) __builtin_trap();  // keeps the reads
    }
  }
  for (const auto off : released) (void)seg.free(off);
  return 0;
}
