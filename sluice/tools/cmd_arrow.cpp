// sluice arrow cat FILE|- | arrow gen --rows N --out FILE | vgis dump NAME:
// Arrow IPC streams and files, and vgi-rpc shared-memory segments.
#include <sluice/arrow/builder.hpp>
#include <sluice/arrow/ipc.hpp>
#include <sluice/arrow/print.hpp>
#include <sluice/arrow/sample.hpp>
#include <sluice/base/json.hpp>
#include <sluice/base/units.hpp>
#include <sluice/batch/vgis.hpp>
#include <sluice/tools/cli.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <ostream>

namespace sluice::tools {

namespace {

namespace ipc = arrow::ipc;

// The whole input in one owned buffer (a stream may come from a pipe).
Result<arrow::Buffer> read_input(const std::string& path) {
  const bool stdin_input = path == "-";
  const int fd = stdin_input ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(Error::from_errno(errno, fmt::format("open '{}'", path)));
  arrow::BufferBuilder bytes;
  std::byte chunk[1 << 16];
  Result<void> status;
  while (true) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      status = fail(Error::from_errno(errno, fmt::format("read '{}'", path)));
      break;
    }
    bytes.append(chunk, static_cast<std::size_t>(n));
  }
  if (!stdin_input) ::close(fd);
  SLUICE_TRY(status);
  return bytes.finish();
}

int cmd_cat(CliIo& io, const std::string& path, bool json, std::int64_t max_rows) {
  auto input = read_input(path);
  if (!input) {
    io.err << "sluice arrow cat: " << input.error().what() << "\n";
    return 1;
  }
  const bool file_format = ipc::is_file_format(input->span());
  arrow::SchemaPtr schema;
  auto batches = ipc::read_all(std::move(input).value(), &schema);
  if (!batches) {
    io.err << "sluice arrow cat: '" << path << "': " << batches.error().what() << "\n";
    return 1;
  }
  if (json) {
    for (const auto& b : *batches) io.out << arrow::batch_to_json_rows(b);
    return 0;
  }
  io.out << fmt::format("{} ({} fields)\n", file_format ? "ipc file" : "ipc stream",
                        schema->num_fields())
         << schema->to_string();
  std::int64_t rows = 0;
  for (std::size_t k = 0; k < batches->size(); ++k) {
    const auto& b = (*batches)[k];
    rows += b.num_rows();
    io.out << fmt::format("\nbatch {}: {} rows\n", k, b.num_rows());
    for (const auto& [key, value] : b.metadata().items())
      io.out << fmt::format("-- {}: {}\n", key, value);
    io.out << arrow::format_table(b, max_rows);
  }
  io.out << fmt::format("\n{} batches, {} rows\n", batches->size(), rows);
  return 0;
}

int cmd_gen(CliIo& io, std::int64_t rows, const std::string& out, bool file_format, int batches,
            const std::string& compression) {
  // Each batch is built in memory before it is written: bound it, and the
  // whole output with it.
  constexpr std::int64_t kMaxBatchRows = std::int64_t{1} << 22;
  constexpr std::int64_t kMaxRows = std::int64_t{1} << 32;
  if (rows < 0 || batches < 1) {
    io.err << "sluice arrow gen: --rows must be >= 0 and --batches >= 1\n";
    return 2;
  }
  if (rows > kMaxRows) {
    io.err << fmt::format("sluice arrow gen: --rows {} is more than the {} this tool writes\n",
                          rows, kMaxRows);
    return 2;
  }
  if ((rows + batches - 1) / batches > kMaxBatchRows) {
    io.err << fmt::format(
        "sluice arrow gen: {} rows in {} batch(es) is more than {} rows per batch; use --batches "
        "{} or more\n",
        rows, batches, kMaxBatchRows, (rows + kMaxBatchRows - 1) / kMaxBatchRows);
    return 2;
  }
  ipc::WriteOptions options;
  if (compression == "lz4")
    options.compression = ipc::Compression::lz4_frame;
  else if (compression == "zstd")
    options.compression = ipc::Compression::zstd;
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    io.err << "sluice arrow gen: " << Error::from_errno(errno, fmt::format("open '{}'", out)).what()
           << "\n";
    return 1;
  }
  arrow::SampleOptions sample;
  sample.schema_metadata.set("generator", "sluice arrow gen");
  auto result = [&]() -> Result<void> {
    const auto first = arrow::make_sample_batch(0, sample);
    const auto schema = first.schema();
    auto write_all = [&](auto& writer) -> Result<void> {
      std::int64_t done = 0;
      const bool progress = rows >= kMaxBatchRows;
      for (int k = 0; k < batches; ++k) {
        const std::int64_t n = rows / batches + (k < rows % batches ? 1 : 0);
        SLUICE_TRY(writer.write(arrow::make_sample_batch(n, sample, done)));
        done += n;
        if (progress)
          io.err << fmt::format("sluice arrow gen: {} of {} rows ({}%)\n", done, rows,
                                done * 100 / rows);
      }
      return writer.close();
    };
    if (file_format) {
      SLUICE_TRY_ASSIGN(ipc::FileWriter w,
                        ipc::FileWriter::open(ipc::fd_sink(fd), schema, options));
      return write_all(w);
    }
    SLUICE_TRY_ASSIGN(ipc::StreamWriter w,
                      ipc::StreamWriter::open(ipc::fd_sink(fd), schema, options));
    return write_all(w);
  }();
  ::close(fd);
  if (!result) {
    io.err << "sluice arrow gen: " << result.error().what() << "\n";
    return 1;
  }
  io.out << fmt::format("wrote {} rows of {} columns to {} ({})\n", rows,
                        arrow::sample_column_names().size(), out, file_format ? "file" : "stream");
  return 0;
}

int cmd_vgis_dump(CliIo& io, const std::string& name, bool json) {
  auto seg = batch::vgis::Segment::attach(name);
  if (!seg) {
    io.err << "sluice vgis dump: " << seg.error().what() << "\n";
    return 1;
  }
  const auto info = seg->inspect();
  if (json) {
    JsonWriter j;
    j.begin_object()
        .field("size", info.size)
        .field("data_size", info.data_size)
        .field("num_allocs", static_cast<std::uint64_t>(info.num_allocs));
    j.key("allocs").begin_array();
    for (const auto& a : info.allocs) j.begin_array().value(a.offset).value(a.length).end_array();
    j.end_array().end_object();
    io.out << j.str() << "\n";
    return 0;
  }
  std::uint64_t used = 0;
  for (const auto& a : info.allocs) used += a.length;
  io.out << fmt::format("segment {}: {} ({} data), {} allocations, {} in use\n", name,
                        format_bytes(info.size), format_bytes(info.data_size), info.num_allocs,
                        format_bytes(used));
  if (!info.allocs.empty()) {
    Table t({"OFFSET", "LENGTH", "END"});
    for (const auto& a : info.allocs)
      t.add({std::to_string(a.offset), std::to_string(a.length),
             std::to_string(a.offset + a.length)});
    t.print(io.out);
  }
  return 0;
}

}  // namespace

void register_arrow_commands(CLI::App& app, CliIo& io, int& exit_code) {
  auto* arrow_cmd = app.add_subcommand("arrow", "Arrow IPC streams and files");
  arrow_cmd->require_subcommand(1);

  auto* cat = arrow_cmd->add_subcommand(
      "cat", "print an Arrow IPC stream or file as a table (or JSON rows)");
  auto cat_path = std::make_shared<std::string>();
  auto cat_json = std::make_shared<bool>(false);
  auto cat_rows = std::make_shared<std::int64_t>(100);
  cat->add_option("FILE", *cat_path, "stream or file; - reads standard input")->required();
  cat->add_flag("--json", *cat_json, "one JSON object per row (JSON Lines), every row");
  cat->add_option("--max-rows", *cat_rows, "rows shown per batch in the table (default 100)");
  cat->callback([&io, &exit_code, cat_path, cat_json, cat_rows] {
    exit_code = cmd_cat(io, *cat_path, *cat_json, *cat_rows);
  });

  auto* gen = arrow_cmd->add_subcommand(
      "gen", "write a sample batch with a column of every supported type");
  auto gen_rows = std::make_shared<std::int64_t>(100);
  auto gen_out = std::make_shared<std::string>();
  auto gen_file = std::make_shared<bool>(false);
  auto gen_batches = std::make_shared<int>(1);
  auto gen_comp = std::make_shared<std::string>("none");
  gen->add_option("--rows", *gen_rows, "rows in total (default 100)");
  gen->add_option("--out", *gen_out, "output path")->required();
  gen->add_flag("--file", *gen_file, "the IPC file format (default: stream)");
  gen->add_option("--batches", *gen_batches, "split the rows into this many batches (default 1)");
  gen->add_option("--compression", *gen_comp, "body compression: none, lz4, zstd")
      ->check(CLI::IsMember({"none", "lz4", "zstd"}));
  gen->callback([&io, &exit_code, gen_rows, gen_out, gen_file, gen_batches, gen_comp] {
    exit_code = cmd_gen(io, *gen_rows, *gen_out, *gen_file, *gen_batches, *gen_comp);
  });

  auto* vgis = app.add_subcommand("vgis", "vgi-rpc shared-memory segments");
  vgis->require_subcommand(1);
  auto* dump = vgis->add_subcommand("dump", "show a segment's header and allocation table");
  auto dump_name = std::make_shared<std::string>();
  auto dump_json = std::make_shared<bool>(false);
  dump->add_option("NAME", *dump_name, "segment name (with or without the leading slash)")
      ->required();
  dump->add_flag("--json", *dump_json,
                 "{size, data_size, num_allocs, allocs: [[offset, length], ...]}");
  dump->callback([&io, &exit_code, dump_name, dump_json] {
    exit_code = cmd_vgis_dump(io, *dump_name, *dump_json);
  });
}

}  // namespace sluice::tools
