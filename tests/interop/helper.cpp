// The sluice side of the JavaScript interop tests (tests/interop/*.test.mjs).
//
//   sluice_interop write DIR
//       writes streams and files with every type (nulls, slices, dictionaries,
//       deltas, compression) for the JavaScript side to read and check
//   sluice_interop check FILE FIRST_ROW [EXCLUDED,COLUMNS]
//       reads a stream or file JavaScript wrote and compares every column with
//       the sample formulas (include/sluice/arrow/sample.hpp), batch by batch
//       starting at FIRST_ROW; prints a JSON summary, exits 1 on a mismatch
//   sluice_interop check-dict FILE
//       the dictionary stream JavaScript wrote (see sluice_reads_js.test.mjs)
//   sluice_interop vgis-serve NAME SIZE plain|dict
//       creates a VGIS segment, writes the sample batch into it, prints
//       {name, size, offset, length, rows, pointer} (pointer: the pointer batch
//       as an IPC stream, hex) and waits for a line on stdin; then checks that
//       the reader freed the region, unlinks, and exits
//   sluice_interop vgis-host NAME SIZE
//       creates a VGIS segment, prints {name, size}, reads one line from stdin
//       holding a pointer batch stream (hex) that JavaScript wrote after placing
//       a batch in the segment, resolves it in place, checks the values and
//       that the buffers alias the mapping, frees the region, prints a JSON
//       summary

#include <sluice/arrow/builder.hpp>
#include <sluice/arrow/compare.hpp>
#include <sluice/arrow/ipc.hpp>
#include <sluice/arrow/print.hpp>
#include <sluice/arrow/sample.hpp>
#include <sluice/batch/vgis.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace sa = sluice::arrow;
namespace ipc = sluice::arrow::ipc;
namespace vg = sluice::batch::vgis;

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "sluice_interop: %s\n", msg.c_str());
  std::exit(1);
}

template <typename T>
T must(sluice::Result<T> r, const char* what) {
  if (!r) die(fmt::format("{}: {}", what, r.error().what()));
  return std::move(r).value();
}

void save(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) die("write " + path);
}

sa::Buffer load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) die("open " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return sa::Buffer::copy_of(bytes.data(), bytes.size());
}

std::string to_hex(const std::vector<std::byte>& v) {
  std::string s;
  for (std::byte b : v) s += fmt::format("{:02x}", static_cast<unsigned>(b));
  return s;
}

std::vector<std::byte> from_hex(const std::string& s) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<std::byte>(std::stoi(s.substr(i, 2), nullptr, 16)));
  return out;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

sa::SampleOptions metadata_options() {
  sa::SampleOptions o;
  o.schema_metadata.set("origin", "sluice");
  o.schema_metadata.set("unicode", "\xc3\xa9t\xc3\xa9");
  o.batch_metadata.set("vgi_rpc.request_id", "17");
  return o;
}

// A dictionary column whose dictionary grows (deltas) and is then replaced.
std::vector<sa::RecordBatch> dictionary_batches() {
  auto type = sa::dictionary(sa::int32(), sa::utf8());
  auto s = sa::schema({sa::field("d", type)});
  auto mk = [&](std::vector<std::optional<std::string>> dict,
                std::vector<std::optional<std::int32_t>> idx) {
    auto col = sa::make_dictionary_array(type, sa::make_array<std::int32_t>(sa::int32(), idx),
                                         sa::make_binary_array(sa::utf8(), dict));
    return must(sa::RecordBatch::make(s, col->length(), {col}), "dictionary batch");
  };
  return {mk({"alpha", "beta"}, {0, 1, std::nullopt, 1}), mk({"alpha", "beta", "gamma"}, {2, 0, 2}),
          mk({"alpha", "beta", "gamma", "delta"}, {3, std::nullopt})};
}

int cmd_write(const std::string& dir) {
  const auto o = metadata_options();
  const auto batch = sa::make_sample_batch(60, o);
  save(dir + "/stream.arrows", must(ipc::write_stream(batch.schema(), {batch}), "stream"));
  save(dir + "/sliced.arrows",
       must(ipc::write_stream(batch.schema(), {sa::make_sample_batch(80, o).slice(7, 41)}),
            "sliced"));
  save(dir + "/multi.arrows",
       must(ipc::write_stream(batch.schema(),
                              {batch.slice(0, 20), batch.slice(20, 25), batch.slice(45, 15)}),
            "multi"));
  save(dir + "/file.arrow",
       must(ipc::write_file(batch.schema(), {batch.slice(0, 33), batch.slice(33, 27)}), "file"));
  ipc::WriteOptions align8;
  align8.alignment = 8;
  save(dir + "/align8.arrows", must(ipc::write_stream(batch.schema(), {batch}, align8), "align8"));
  ipc::WriteOptions lz4;
  lz4.compression = ipc::Compression::lz4_frame;
  save(dir + "/lz4.arrows", must(ipc::write_stream(batch.schema(), {batch}, lz4), "lz4"));
  const auto dicts = dictionary_batches();
  save(dir + "/dict_delta.arrows",
       must(ipc::write_stream(dicts[0].schema(), dicts), "dictionary deltas"));
  save(dir + "/empty.arrows",
       must(ipc::write_stream(batch.schema(),
                              {must(sa::RecordBatch::empty(batch.schema()), "empty")}),
            "empty"));
  std::printf("{\"written\": \"%s\", \"rows\": 60, \"columns\": %zu}\n", dir.c_str(),
              batch.num_columns());
  return 0;
}

// Compares a batch JavaScript produced with the sample rows it should hold.
std::vector<std::string> compare_with_sample(const sa::RecordBatch& got, std::int64_t first,
                                             const std::vector<std::string>& excluded) {
  std::vector<std::string> errors;
  const auto expect = sa::make_sample_batch(
      got.num_rows(), {.exclude = excluded, .schema_metadata = {}, .batch_metadata = {}}, first);
  if (got.num_columns() != expect.num_columns())
    errors.push_back(
        fmt::format("{} columns, expected {}", got.num_columns(), expect.num_columns()));
  for (std::size_t c = 0; c < expect.num_columns(); ++c) {
    const auto& f = expect.schema()->field(c);
    const int idx = got.schema()->field_index(f->name());
    if (idx < 0) {
      errors.push_back(fmt::format("column '{}' missing", f->name()));
      continue;
    }
    const auto& gf = got.schema()->field(static_cast<std::size_t>(idx));
    if (!gf->equals(*f)) {
      errors.push_back(fmt::format("column '{}': field {}, expected {}", f->name(), gf->to_string(),
                                   f->to_string()));
      continue;
    }
    const auto& a = *got.column(static_cast<std::size_t>(idx));
    const auto& b = *expect.column(c);
    if (!sa::array_equals(a, b)) {
      std::string detail = fmt::format("null count {} vs {}", a.null_count(), b.null_count());
      for (std::int64_t i = 0; i < a.length(); ++i) {
        if (!sa::array_range_equals(a, i, b, i, 1)) {
          detail = fmt::format("row {}: {} expected {}", first + i, sa::format_value(a, i),
                               sa::format_value(b, i));
          break;
        }
      }
      errors.push_back(fmt::format("column '{}': {}", f->name(), detail));
    }
  }
  return errors;
}

int cmd_check(const std::string& path, std::int64_t first,
              const std::vector<std::string>& excluded) {
  sa::SchemaPtr schema;
  auto batches = must(ipc::read_all(load(path), &schema), "read");
  std::vector<std::string> errors;
  std::int64_t row = first;
  for (std::size_t k = 0; k < batches.size(); ++k) {
    for (auto& e : compare_with_sample(batches[k], row, excluded))
      errors.push_back(fmt::format("batch {}: {}", k, e));
    row += batches[k].num_rows();
  }
  std::printf(
      "{\"file\": \"%s\", \"batches\": %zu, \"rows\": %lld, \"columns\": %zu, \"errors\": %zu}\n",
      path.c_str(), batches.size(), static_cast<long long>(row - first), schema->num_fields(),
      errors.size());
  for (const auto& e : errors) std::fprintf(stderr, "mismatch: %s\n", e.c_str());
  return errors.empty() && !batches.empty() ? 0 : 1;
}

int cmd_check_dict(const std::string& path) {
  ipc::StreamStats stats;
  auto r = must(ipc::StreamReader::open(load(path)), "open");
  auto batches = must(r.read_all(), "read");
  stats = r.stats();
  const auto expect = dictionary_batches();
  int bad = 0;
  if (batches.size() != expect.size())
    die(fmt::format("{} batches, expected {}", batches.size(), expect.size()));
  for (std::size_t k = 0; k < batches.size(); ++k) {
    // JavaScript names its own field; compare the values.
    if (!sa::array_equals(*batches[k].column(0), *expect[k].column(0))) {
      std::fprintf(stderr, "mismatch in batch %zu\n", k);
      ++bad;
    }
  }
  std::printf("{\"batches\": %zu, \"dictionary_batches\": %llu, \"dictionary_deltas\": %llu}\n",
              batches.size(), static_cast<unsigned long long>(stats.dictionary_batches),
              static_cast<unsigned long long>(stats.dictionary_deltas));
  return bad == 0 ? 0 : 1;
}

int cmd_vgis_serve(const std::string& name, std::uint64_t size, const std::string& mode) {
  auto seg = must(vg::Segment::create(name, size), "create segment");
  sa::SampleOptions o = metadata_options();
  if (mode == "plain") o.exclude = {"dict_utf8", "dict_i64"};
  const auto batch = sa::make_sample_batch(60, o);
  auto region = must(seg.write_batch(batch), "write batch");
  auto pointer =
      must(vg::make_pointer_batch(batch.schema(), region, batch.metadata()), "pointer batch");
  auto wire = must(ipc::write_stream(pointer.schema(), {pointer}), "pointer stream");
  std::printf(
      "{\"name\": \"%s\", \"size\": %llu, \"offset\": %llu, \"length\": %llu, \"rows\": %lld, "
      "\"pointer\": \"%s\"}\n",
      name.c_str(), static_cast<unsigned long long>(size),
      static_cast<unsigned long long>(region.offset),
      static_cast<unsigned long long>(region.length), static_cast<long long>(batch.num_rows()),
      to_hex(wire).c_str());
  std::fflush(stdout);
  std::string line;
  std::getline(std::cin, line);
  const bool freed = seg.num_allocs() == 0;
  std::printf("{\"freed\": %s}\n", freed ? "true" : "false");
  return freed ? 0 : 1;
}

bool all_inside(const sa::Array& a, const std::byte* lo, std::size_t n, std::uint64_t* aliased) {
  for (const auto& b : a.buffers()) {
    if (b.empty()) continue;
    if (b.data() < lo || b.data() + b.size() > lo + n) return false;
    ++*aliased;
  }
  for (const auto& c : a.children())
    if (!all_inside(*c, lo, n, aliased)) return false;
  return !a.dictionary() || all_inside(*a.dictionary(), lo, n, aliased);
}

int cmd_vgis_host(const std::string& name, std::uint64_t size) {
  auto seg = must(vg::Segment::create(name, size), "create segment");
  std::printf("{\"name\": \"%s\", \"size\": %llu}\n", name.c_str(),
              static_cast<unsigned long long>(size));
  std::fflush(stdout);
  std::string line;
  if (!std::getline(std::cin, line)) die("no pointer batch on stdin");
  // The exclusions JavaScript applied come first: "a,b;<hex>".
  const auto semi = line.find(';');
  const auto excluded = split(semi == std::string::npos ? "" : line.substr(0, semi));
  const auto wire = from_hex(semi == std::string::npos ? line : line.substr(semi + 1));
  auto batches =
      must(ipc::read_all(sa::Buffer::copy_of(wire.data(), wire.size())), "pointer stream");
  if (batches.size() != 1 || !vg::is_pointer_batch(batches[0])) die("not a pointer batch");
  // Attach as a server would, and resolve in place.
  auto server = must(vg::Segment::attach(name, size), "attach");
  auto resolved = must(vg::resolve_pointer_batch(batches[0], server), "resolve");
  const auto region = must(vg::pointer_region(batches[0]), "region");
  auto span = must(server.bytes(region.offset, region.length), "region bytes");
  std::uint64_t aliased = 0;
  bool in_place = true;
  for (const auto& c : resolved.batch.columns()) {
    if (c->type_id() == sa::TypeId::dictionary)
      continue;  // dictionaries are concatenated when JS sends deltas
    in_place &= all_inside(*c, span.data(), span.size(), &aliased);
  }
  auto errors = compare_with_sample(resolved.batch, 0, excluded);
  for (const auto& e : errors) std::fprintf(stderr, "mismatch: %s\n", e.c_str());
  const auto source = resolved.batch.metadata().get(vg::kShmSourceKey);
  if (!source || *source != name) errors.push_back("vgi_rpc.shm_source missing");
  if (!resolved.release_offset) die("no release offset");
  if (auto fr = server.free(*resolved.release_offset); !fr) die("free: " + fr.error().what());
  std::printf(
      "{\"rows\": %lld, \"columns\": %zu, \"in_place\": %s, \"aliased_buffers\": %llu, \"errors\": "
      "%zu, "
      "\"allocs_left\": %u}\n",
      static_cast<long long>(resolved.batch.num_rows()), resolved.batch.num_columns(),
      in_place ? "true" : "false", static_cast<unsigned long long>(aliased), errors.size(),
      seg.num_allocs());
  return errors.empty() && in_place && seg.num_allocs() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "write") return cmd_write(args[1]);
  if ((args.size() == 3 || args.size() == 4) && args[0] == "check")
    return cmd_check(args[1], std::stoll(args[2]),
                     args.size() == 4 ? split(args[3]) : std::vector<std::string>{});
  if (args.size() == 2 && args[0] == "check-dict") return cmd_check_dict(args[1]);
  if (args.size() == 4 && args[0] == "vgis-serve")
    return cmd_vgis_serve(args[1], std::stoull(args[2]), args[3]);
  if (args.size() == 3 && args[0] == "vgis-host")
    return cmd_vgis_host(args[1], std::stoull(args[2]));
  std::fprintf(stderr,
               "usage: sluice_interop write DIR | check FILE FIRST [EXCLUDED] | check-dict FILE |\n"
               "       vgis-serve NAME SIZE plain|dict | vgis-host NAME SIZE\n");
  return 2;
}
