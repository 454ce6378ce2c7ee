// Fuzz target: the fuzzer's bytes are an Arrow IPC stream or file from an
// untrusted peer. Decoding must never crash, hang or read out of bounds: bad
// input is a clean error. Whatever does decode must be fully usable - every
// value is rendered - and must survive a round trip through the writer
// unchanged (a mismatch there is a codec bug, reported by trapping).
//
// The first byte picks how the rest is read: as a stream or file from
// memory, as the message sequence of a known schema (the vgi-rpc
// shared-memory layout), or message by message through message_size().
//
// Built with -DSLUICE_ARROW_FUZZ_SEEDS, this file writes the seed corpus
// instead (real streams from sluice's writer), from the repo root:
//   cmake --build <dir> --target sluice_arrow
//   c++ -std=c++20 -DSLUICE_ARROW_FUZZ_SEEDS -Iinclude tests/fuzz/fuzz_arrow_ipc.cpp \
//       <dir>/.../libsluice_arrow.a <dir>/.../libsluice_base.a -lfmt -llz4 -lzstd -o /tmp/gen
//   /tmp/gen tests/fuzz/corpus/arrow_ipc

#include <sluice/arrow/builder.hpp>
#include <sluice/arrow/compare.hpp>
#include <sluice/arrow/ipc.hpp>
#include <sluice/arrow/print.hpp>
#include <sluice/arrow/sample.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace {

namespace sa = sluice::arrow;
namespace ipc = sluice::arrow::ipc;

constexpr std::int64_t kMaxRowsToTouch = 4096;

void touch(const sa::RecordBatch& b) {
  if (b.num_rows() > kMaxRowsToTouch) return;
  for (const auto& c : b.columns())
    for (std::int64_t i = 0; i < c->length(); ++i) (void)sa::format_value(*c, i);
  // Whatever decoded must encode again and decode to the same values.
  auto again = ipc::EncodedStream::encode(b);
  if (!again) __builtin_trap();
  std::vector<std::byte> out(again->size());
  if (!again->write_to(out)) __builtin_trap();
  auto r = ipc::StreamReader::open(sa::Buffer::copy_of(out.data(), out.size()));
  if (!r) __builtin_trap();
  auto b2 = r->next();
  if (!b2 || !*b2 || !sa::batch_equals(**b2, b, true)) __builtin_trap();
}

ipc::ReadOptions options() {
  ipc::ReadOptions o;
  o.max_metadata_size = 1u << 20;
  o.max_decompressed_size = 16u << 20;
  return o;
}

}  // namespace

#ifndef SLUICE_ARROW_FUZZ_SEEDS

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0] % 4;
  const sa::Buffer input = sa::Buffer::copy_of(data + 1, size - 1);
  switch (mode) {
    case 0:
    case 1: {  // stream or file, whichever the bytes hold
      auto all = ipc::read_all(input, nullptr, options());
      if (all)
        for (const auto& b : *all) touch(b);
      break;
    }
    case 2: {  // continuation of a known schema, as in a vgi-rpc region
      static const sa::SchemaPtr schema = sa::make_sample_batch(1).schema();
      auto r = ipc::StreamReader::open_with_schema(input, schema, options());
      if (!r) break;
      for (int n = 0; n < 64; ++n) {
        auto b = r->next();
        if (!b || !*b) break;
        touch(**b);
      }
      break;
    }
    default: {  // framing alone
      std::size_t pos = 0;
      while (pos < input.size()) {
        auto n = ipc::message_size(input.span().subspan(pos));
        if (!n || *n == 0) break;
        pos += *n;
      }
      break;
    }
  }
  return 0;
}

#else  // seed writer

#include <filesystem>
#include <fstream>
#include <string>

namespace {

void put(const std::filesystem::path& dir, const std::string& name, std::uint8_t mode,
         const std::vector<std::byte>& bytes) {
  std::ofstream f(dir / name, std::ios::binary);
  f.put(static_cast<char>(mode));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::byte> must(sluice::Result<std::vector<std::byte> > r) {
  if (!r) {
    std::fprintf(stderr, "seed: %s\n", r.error().what().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  sa::SampleOptions o;
  o.schema_metadata.set("origin", "seed");
  o.batch_metadata.set("vgi_rpc.request_id", "7");
  const auto batch = sa::make_sample_batch(6, o);
  put(dir, "stream_every_type", 0, must(ipc::write_stream(batch.schema(), {batch})));
  put(dir, "stream_sliced", 0,
      must(ipc::write_stream(batch.schema(), {sa::make_sample_batch(12, o).slice(3, 7)})));
  put(dir, "file_every_type", 1,
      must(ipc::write_file(batch.schema(), {batch, sa::make_sample_batch(2, o, 6)})));
  ipc::WriteOptions lz4;
  lz4.compression = ipc::Compression::lz4_frame;
  lz4.alignment = 8;
  put(dir, "stream_lz4_align8", 0, must(ipc::write_stream(batch.schema(), {batch}, lz4)));
  ipc::WriteOptions zstd;
  zstd.compression = ipc::Compression::zstd;
  put(dir, "stream_zstd", 0, must(ipc::write_stream(batch.schema(), {batch}, zstd)));
  // Dictionary deltas and replacement.
  auto s = sa::schema({sa::field("d", sa::dictionary(sa::int16(), sa::utf8()))});
  auto mk = [&](std::vector<std::optional<std::string> > dict,
                std::vector<std::optional<std::int16_t> > idx) {
    auto col = sa::make_dictionary_array(s->field(0)->type(),
                                         sa::make_array<std::int16_t>(sa::int16(), idx),
                                         sa::make_binary_array(sa::utf8(), dict));
    return sa::RecordBatch::make(s, col->length(), {col}).value();
  };
  put(dir, "stream_dict_delta_replace", 0,
      must(ipc::write_stream(
          s, {mk({"a", "b"}, {0, 1}), mk({"a", "b", "c"}, {2, std::nullopt}), mk({"z"}, {0})})));
  // The vgi-rpc region layout: messages without schema and end-of-stream.
  auto region = ipc::EncodedStream::encode(batch, {}, true).value();
  std::vector<std::byte> rb(region.size());
  (void)region.write_to(rb);
  put(dir, "region_messages_only", 2, rb);
  put(dir, "framing_stream", 3, must(ipc::write_stream(batch.schema(), {batch})));
  auto empty = sa::schema({});
  put(dir, "stream_empty_schema", 0,
      must(ipc::write_stream(empty, {sa::RecordBatch::make(empty, 0, {}).value()})));
  std::printf("seeds written to %s\n", argv[1]);
  return 0;
}

#endif
