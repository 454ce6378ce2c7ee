// IPC body compression, method BUFFER: each buffer is
//   int64 uncompressed length (-1: the bytes follow uncompressed) | bytes
// with LZ4 frame format or Zstandard, as the Arrow specification defines.

#include <sluice/arrow/internal/ipc.hpp>

#include <lz4frame.h>
#include <zstd.h>

#include <memory>

namespace sluice::arrow::ipc::detail {

namespace {

Result<Buffer> raw_with_marker(std::span<const std::byte> in) {
  SLUICE_TRY_ASSIGN(Buffer out, Buffer::allocate(8 + in.size()));
  const std::int64_t marker = -1;
  std::memcpy(out.mutable_data(), &marker, 8);
  if (!in.empty()) std::memcpy(out.mutable_data() + 8, in.data(), in.size());
  return out;
}

struct Lz4DctxFree {
  void operator()(LZ4F_dctx* c) const noexcept { LZ4F_freeDecompressionContext(c); }
};

}  // namespace

Result<Buffer> compress_buffer(Compression codec, int level, std::span<const std::byte> in) {
  std::size_t bound = 0;
  if (codec == Compression::lz4_frame) {
    bound = LZ4F_compressFrameBound(in.size(), nullptr);
  } else if (codec == Compression::zstd) {
    bound = ZSTD_compressBound(in.size());
  } else {
    return fail(Errc::invalid_argument, "compress with codec none");
  }
  SLUICE_TRY_ASSIGN(Buffer out, Buffer::allocate(8 + bound));
  std::size_t n = 0;
  if (codec == Compression::lz4_frame) {
    LZ4F_preferences_t prefs{};
    prefs.frameInfo.contentSize = in.size();
    n = LZ4F_compressFrame(out.mutable_data() + 8, bound, in.data(), in.size(), &prefs);
    if (LZ4F_isError(n)) return fail(Errc::internal, "lz4 compression: {}", LZ4F_getErrorName(n));
  } else {
    n = ZSTD_compress(out.mutable_data() + 8, bound, in.data(), in.size(), level);
    if (ZSTD_isError(n)) return fail(Errc::internal, "zstd compression: {}", ZSTD_getErrorName(n));
  }
  // Not worth it: store raw (the specification's -1 marker).
  if (n >= in.size()) return raw_with_marker(in);
  const auto len = static_cast<std::int64_t>(in.size());
  std::memcpy(out.mutable_data(), &len, 8);
  return out.slice(0, 8 + n);
}

Result<Buffer> decompress_buffer(Compression codec, const Buffer& in, std::uint64_t* budget) {
  if (in.size() == 0) return Buffer{};
  if (in.size() < 8)
    return fail(Errc::parse_error, "compressed buffer of {} bytes lacks its length prefix",
                in.size());
  const std::int64_t declared = load_i64(in.data());
  if (declared == -1) return in.slice(8);
  if (declared < 0) return fail(Errc::parse_error, "compressed buffer declares {} bytes", declared);
  const auto want = static_cast<std::uint64_t>(declared);
  if (want > *budget)
    return fail(Errc::parse_error,
                "compressed buffer declares {} bytes, over the remaining limit of {}", want,
                *budget);
  *budget -= want;
  SLUICE_TRY_ASSIGN(Buffer out, Buffer::allocate(static_cast<std::size_t>(want)));
  const std::byte* src = in.data() + 8;
  const std::size_t src_len = in.size() - 8;
  if (codec == Compression::lz4_frame) {
    LZ4F_dctx* raw = nullptr;
    const std::size_t rc = LZ4F_createDecompressionContext(&raw, LZ4F_VERSION);
    if (LZ4F_isError(rc)) return fail(Errc::internal, "lz4 context: {}", LZ4F_getErrorName(rc));
    std::unique_ptr<LZ4F_dctx, Lz4DctxFree> ctx(raw);
    std::size_t in_pos = 0, out_pos = 0;
    // Each call consumes input and produces output; a call that does neither
    // means a truncated or corrupt frame (guards against looping forever).
    while (true) {
      std::size_t src_size = src_len - in_pos;
      std::size_t dst_size = static_cast<std::size_t>(want) - out_pos;
      const std::size_t hint = LZ4F_decompress(ctx.get(), out.mutable_data() + out_pos, &dst_size,
                                               src + in_pos, &src_size, nullptr);
      if (LZ4F_isError(hint))
        return fail(Errc::parse_error, "lz4 frame: {}", LZ4F_getErrorName(hint));
      in_pos += src_size;
      out_pos += dst_size;
      if (hint == 0) break;  // frame complete
      if (src_size == 0 && dst_size == 0)
        return fail(Errc::parse_error, "lz4 frame truncated or larger than the declared {} bytes",
                    want);
    }
    if (out_pos != want)
      return fail(Errc::parse_error, "lz4 frame holds {} bytes, declared {}", out_pos, want);
  } else if (codec == Compression::zstd) {
    const std::size_t n =
        ZSTD_decompress(out.mutable_data(), static_cast<std::size_t>(want), src, src_len);
    if (ZSTD_isError(n)) return fail(Errc::parse_error, "zstd frame: {}", ZSTD_getErrorName(n));
    if (n != want)
      return fail(Errc::parse_error, "zstd frame holds {} bytes, declared {}", n, want);
  } else {
    return fail(Errc::parse_error, "decompress with codec none");
  }
  return out;
}

}  // namespace sluice::arrow::ipc::detail
