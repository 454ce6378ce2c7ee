#include <sluice/batch/vgis.hpp>

#include <sluice/base/units.hpp>
#include <sluice/os/mapping.hpp>
#include <sluice/os/shm.hpp>

#include <fmt/format.h>

#include <unistd.h>
#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cstring>

namespace sluice::batch::vgis {

using namespace ::sluice::arrow;  // NOLINT(google-build-using-namespace): the codec's vocabulary

static_assert(std::endian::native == std::endian::little, "the VGIS header is little-endian");

// The mapping, shared by the Segment handle and every buffer read in place.
struct Segment::Mapped {
  os::Mapping mapping;

  [[nodiscard]] std::byte* base() const noexcept { return mapping.data(); }
  [[nodiscard]] std::uint64_t size() const noexcept { return mapping.size(); }

  // All header access copies through memcpy: the bytes belong to whichever
  // peer wrote them last, and are read once into private values.
  [[nodiscard]] std::uint32_t raw_count() const noexcept {
    std::uint32_t n;
    std::memcpy(&n, base() + offsetof(HeaderLayout, num_allocs), 4);
    return n;
  }

  // The table as stored, clamped to the capacity, sorted by offset. Entries
  // are not otherwise altered: an entry we cannot make sense of may still be
  // live for a peer, so it is kept (and its range treated as occupied).
  [[nodiscard]] std::vector<Allocation> read_table() const {
    const std::size_t n = std::min<std::size_t>(raw_count(), kMaxAllocs);
    std::vector<Allocation> t(n);
    if (n) std::memcpy(t.data(), base() + kHeaderFixedSize, n * kAllocEntrySize);
    std::stable_sort(t.begin(), t.end(),
                     [](const Allocation& a, const Allocation& b) { return a.offset < b.offset; });
    return t;
  }

  void write_table(const std::vector<Allocation>& t) const noexcept {
    SLUICE_DEBUG_ASSERT(t.size() <= kMaxAllocs, "{} allocation entries", t.size());
    if (!t.empty()) std::memcpy(base() + kHeaderFixedSize, t.data(), t.size() * kAllocEntrySize);
    const auto n = static_cast<std::uint32_t>(t.size());
    std::memcpy(base() + offsetof(HeaderLayout, num_allocs), &n, 4);
  }

  Result<std::uint64_t> allocate(std::uint64_t size, std::uint64_t alignment) const {
    if (size == 0) return fail(Errc::invalid_argument, "allocate 0 bytes");
    if (!is_pow2(alignment))
      return fail(Errc::invalid_argument, "alignment {} is not a power of two", alignment);
    std::vector<Allocation> t = read_table();
    if (t.size() >= kMaxAllocs)
      return fail(Errc::table_full, "allocation table full ({} entries)", kMaxAllocs);
    const std::uint64_t data_end = this->size();
    auto aligned = [alignment](std::uint64_t v) -> std::optional<std::uint64_t> {
      if (v > UINT64_MAX - (alignment - 1)) return std::nullopt;
      return align_up(v, alignment);
    };
    auto sat_end = [](const Allocation& a) {
      return a.length > UINT64_MAX - a.offset ? UINT64_MAX : a.offset + a.length;
    };
    std::uint64_t prev_end = kHeaderSize;
    for (std::size_t i = 0; i < t.size(); ++i) {
      const Allocation& a = t[i];
      if (a.offset < prev_end) {  // overlaps what came before: occupied, never a gap
        prev_end = std::max(prev_end, sat_end(a));
        continue;
      }
      const auto start = aligned(prev_end);
      if (start && *start <= a.offset && a.offset - *start >= size &&
          fits(*start, size, data_end)) {
        t.insert(t.begin() + static_cast<std::ptrdiff_t>(i), Allocation{*start, size});
        write_table(t);
        return *start;
      }
      prev_end = sat_end(a);
    }
    const auto start = aligned(prev_end);
    if (start && fits(*start, size, data_end)) {
      t.push_back(Allocation{*start, size});
      write_table(t);
      return *start;
    }
    return fail(Errc::out_of_memory, "no gap of {} bytes in the {}-byte data area", size,
                data_end - kHeaderSize);
  }

  Result<void> free(std::uint64_t offset) const {
    std::vector<Allocation> t = read_table();
    auto it = std::find_if(t.begin(), t.end(),
                           [offset](const Allocation& a) { return a.offset == offset; });
    if (it == t.end()) return fail(Errc::invalid_argument, "no allocation at offset {}", offset);
    t.erase(it);
    write_table(t);
    return ok();
  }

  Result<void> shrink(std::uint64_t offset, std::uint64_t new_length) const {
    std::vector<Allocation> t = read_table();
    auto it = std::find_if(t.begin(), t.end(),
                           [offset](const Allocation& a) { return a.offset == offset; });
    if (it == t.end()) return fail(Errc::invalid_argument, "no allocation at offset {}", offset);
    if (new_length > it->length)
      return fail(Errc::invalid_argument, "shrink: new length {} > reservation {}", new_length,
                  it->length);
    it->length = new_length;
    write_table(t);
    return ok();
  }
};

namespace {

void write_empty_header(std::byte* base, std::uint64_t size) {
  HeaderLayout h{};
  std::memcpy(h.magic, "VGIS", 4);
  h.version = kVersion;
  h.data_size = size - kHeaderSize;
  h.num_allocs = 0;
  h.padding = 0;
  std::memcpy(base, &h, sizeof h);
}

Result<std::uint64_t> parse_decimal(std::string_view key, std::optional<std::string_view> v) {
  if (!v) return fail(Errc::parse_error, "pointer batch without {}", key);
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (v->empty() || ec != std::errc{} || p != v->data() + v->size())
    return fail(Errc::parse_error, "bad {} '{}'", key, *v);
  return out;
}

}  // namespace

Segment::Segment(std::shared_ptr<Mapped> mapped, std::string name, bool owner)
    : mapped_(std::move(mapped)), name_(std::move(name)), owner_(owner) {}
Segment::Segment(Segment&& o) noexcept
    : mapped_(std::move(o.mapped_)),
      name_(std::move(o.name_)),
      owner_(std::exchange(o.owner_, false)) {}
Segment& Segment::operator=(Segment&& o) noexcept {
  if (this != &o) {
    if (owner_) (void)os::ShmObject::unlink(name_);
    mapped_ = std::move(o.mapped_);
    name_ = std::move(o.name_);
    owner_ = std::exchange(o.owner_, false);
  }
  return *this;
}
Segment::~Segment() {
  if (owner_) (void)os::ShmObject::unlink(name_);  // already gone is fine
}

std::string Segment::unique_name() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return fmt::format("vgi_rpc_{:x}_{:x}", static_cast<unsigned>(::getpid()),
                     static_cast<std::uint64_t>(ns));
}

Result<Segment> Segment::create(std::string_view name, std::uint64_t size) {
  if (size <= kHeaderSize)
    return fail(Errc::invalid_argument, "segment size must be > {}, got {}", kHeaderSize, size);
  SLUICE_TRY_ASSIGN(os::ShmObject obj, os::ShmObject::create(name, size));
  auto mapping = os::Mapping::map(obj.fd(), size, os::MapOptions{.guard_truncation = true});
  if (!mapping) {
    (void)os::ShmObject::unlink(name);
    return fail(std::move(mapping).error().context(fmt::format("vgis create '{}'", name)));
  }
  auto mapped = std::make_shared<Mapped>();
  mapped->mapping = std::move(mapping).value();
  write_empty_header(mapped->base(), size);
  return Segment(std::move(mapped), std::string(name), true);
}

Result<Segment> Segment::attach(std::string_view name, std::uint64_t size,
                                std::optional<uid_t> owner) {
  auto obj = os::ShmObject::open(name);
  if (!obj) return fail(std::move(obj).error().context(fmt::format("vgis attach '{}'", name)));
  SLUICE_TRY_ASSIGN(os::ShmStat st, obj->stat());
  if (owner) {
    os::ShmTrust trust;
    trust.uids.push_back(*owner);
    SLUICE_TRY(os::check_trusted(st, fmt::format("vgis segment '{}'", name), 07777, trust));
  }
  if (size == 0) size = st.size;
  // Mapping past the object's end would fault on access: refuse instead.
  if (size > st.size)
    return fail(Errc::invalid_argument, "vgis attach '{}': size {} exceeds the object's {} bytes",
                name, size, st.size);
  if (size <= kHeaderSize)
    return fail(Errc::corrupted, "vgis attach '{}': {} bytes is too small for a segment", name,
                size);
  auto mapping = os::Mapping::map(obj->fd(), size, os::MapOptions{.guard_truncation = true});
  if (!mapping)
    return fail(std::move(mapping).error().context(fmt::format("vgis attach '{}'", name)));
  auto mapped = std::make_shared<Mapped>();
  mapped->mapping = std::move(mapping).value();
  HeaderLayout h;
  std::memcpy(&h, mapped->base(), sizeof h);
  if (std::memcmp(h.magic, "VGIS", 4) != 0)
    return fail(Errc::bad_magic, "vgis attach '{}': bad magic {:02x} {:02x} {:02x} {:02x}", name,
                static_cast<unsigned char>(h.magic[0]), static_cast<unsigned char>(h.magic[1]),
                static_cast<unsigned char>(h.magic[2]), static_cast<unsigned char>(h.magic[3]));
  if (h.version != kVersion)
    return fail(Errc::version_mismatch, "vgis attach '{}': version {}, expected {}", name,
                h.version, kVersion);
  if (h.data_size != size - kHeaderSize)
    return fail(Errc::corrupted, "vgis attach '{}': data_size {} in the header, expected {}", name,
                h.data_size, size - kHeaderSize);
  return Segment(std::move(mapped), std::string(name), false);
}

std::uint64_t Segment::size() const noexcept { return mapped_ ? mapped_->size() : 0; }

Result<void> Segment::unlink() {
  if (!owner_) return fail(Errc::invalid_argument, "vgis '{}': only the owner unlinks", name_);
  owner_ = false;
  return os::ShmObject::unlink(name_);
}

Result<std::uint64_t> Segment::allocate(std::uint64_t size, std::uint64_t alignment) {
  return mapped_->allocate(size, alignment);
}
Result<void> Segment::free(std::uint64_t offset) { return mapped_->free(offset); }
Result<void> Segment::shrink(std::uint64_t offset, std::uint64_t new_length) {
  return mapped_->shrink(offset, new_length);
}
void Segment::reset() { mapped_->write_table({}); }
std::vector<Allocation> Segment::allocations() const { return mapped_->read_table(); }
std::uint32_t Segment::num_allocs() const noexcept { return mapped_->raw_count(); }

HeaderInfo Segment::inspect() const {
  HeaderInfo info;
  HeaderLayout h;
  std::memcpy(&h, mapped_->base(), sizeof h);
  info.size = size();
  info.data_size = h.data_size;
  info.num_allocs = h.num_allocs;
  const std::size_t n = std::min<std::size_t>(h.num_allocs, kMaxAllocs);
  info.allocs.resize(n);
  if (n) std::memcpy(info.allocs.data(), mapped_->base() + kHeaderFixedSize, n * kAllocEntrySize);
  return info;
}

Result<std::span<std::byte>> Segment::bytes(std::uint64_t offset, std::uint64_t length) const {
  if (offset < kHeaderSize || !fits(offset, length, size()))
    return fail(Errc::out_of_range, "vgis '{}': region [{}, +{}) outside the data area [{}, {})",
                name_, offset, length, kHeaderSize, size());
  return std::span<std::byte>(mapped_->base() + offset, static_cast<std::size_t>(length));
}

Result<Allocation> Segment::write_batch(const RecordBatch& batch,
                                        const ipc::WriteOptions& options) {
  const bool messages_only = batch.schema()->has_top_level_dictionaries();
  SLUICE_TRY_ASSIGN(ipc::EncodedStream enc,
                    ipc::EncodedStream::encode(batch, options, messages_only));
  SLUICE_TRY_ASSIGN(std::uint64_t off,
                    allocate(enc.size(), std::max<std::uint64_t>(options.alignment, 8)));
  auto dst = bytes(off, enc.size());
  auto written = dst ? enc.write_to(*dst) : Result<std::size_t>(fail(dst.error()));
  if (!written) {
    (void)free(off);
    return fail(std::move(written).error().context(fmt::format("vgis '{}': write batch", name_)));
  }
  return Allocation{off, enc.size()};
}

Result<RecordBatch> Segment::read_batch(std::uint64_t offset, std::uint64_t length,
                                        const SchemaPtr& schema, bool free_on_release,
                                        const ipc::ReadOptions& options) const {
  if (!free_on_release) return read_in_place(offset, length, schema, mapped_, options);
  std::shared_ptr<Mapped> m = mapped_;
  return read_in_place(
      offset, length, schema,
      std::shared_ptr<void>(nullptr, [m, offset](void*) { (void)m->free(offset); }), options);
}

Result<RecordBatch> Segment::read_batch(std::uint64_t offset, std::uint64_t length,
                                        const SchemaPtr& schema, ReleaseHook on_release,
                                        const ipc::ReadOptions& options) const {
  std::shared_ptr<Mapped> m = mapped_;  // the hook's holder keeps the mapping too
  return read_in_place(offset, length, schema,
                       std::shared_ptr<void>(nullptr,
                                             [m, offset, hook = std::move(on_release)](void*) {
                                               if (hook) hook(offset);
                                             }),
                       options);
}

// `lifetime` is the handle every buffer read in place holds: it keeps the
// mapping, and its deleter is what happens to the region when the last
// buffer goes away.
Result<RecordBatch> Segment::read_in_place(std::uint64_t offset, std::uint64_t length,
                                           const SchemaPtr& schema, std::shared_ptr<void> lifetime,
                                           const ipc::ReadOptions& options) const {
  SLUICE_TRY_ASSIGN(std::span<std::byte> region, bytes(offset, length));
  const Buffer input = Buffer::wrap(region.data(), region.size(), std::move(lifetime));
  const bool messages_only = schema && schema->has_top_level_dictionaries();
  auto reader = messages_only ? ipc::StreamReader::open_with_schema(input, schema, options)
                              : ipc::StreamReader::open(input, options);
  if (!reader)
    return fail(std::move(reader).error().context(
        fmt::format("vgis '{}' region [{}, +{})", name_, offset, length)));
  auto b = reader->next();
  if (!b)
    return fail(std::move(b).error().context(
        fmt::format("vgis '{}' region [{}, +{})", name_, offset, length)));
  if (!b.value())
    return fail(Errc::parse_error, "vgis '{}' region [{}, +{}) holds no record batch", name_,
                offset, length);
  RecordBatch batch = std::move(*b.value());
  if (schema && !batch.schema()->equals(*schema))
    return fail(Errc::type_error,
                "vgis '{}' region [{}, +{}): batch schema differs from the pointer batch's", name_,
                offset, length);
  return batch;
}

// --- pointer batches -------------------------------------------------------------------------

Result<RecordBatch> make_pointer_batch(const SchemaPtr& schema, Allocation region,
                                       KeyValueMetadata metadata) {
  metadata.set(std::string(kShmOffsetKey), std::to_string(region.offset));
  metadata.set(std::string(kShmLengthKey), std::to_string(region.length));
  return RecordBatch::empty(schema, std::move(metadata));
}

bool is_pointer_batch(const RecordBatch& batch) noexcept {
  return batch.num_rows() == 0 && batch.metadata().contains(kShmOffsetKey) &&
         !batch.metadata().contains(kLogLevelKey);
}

Result<Allocation> pointer_region(const RecordBatch& batch) {
  SLUICE_TRY_ASSIGN(std::uint64_t off,
                    parse_decimal(kShmOffsetKey, batch.metadata().get(kShmOffsetKey)));
  SLUICE_TRY_ASSIGN(std::uint64_t len,
                    parse_decimal(kShmLengthKey, batch.metadata().get(kShmLengthKey)));
  return Allocation{off, len};
}

namespace {

// The resolved batch's metadata: the region batch's, then the pointer
// batch's minus the offset and length, then the segment's name.
RecordBatch with_pointer_metadata(const RecordBatch& data, const RecordBatch& pointer,
                                  const Segment& segment) {
  KeyValueMetadata md = data.metadata();
  for (const auto& [k, v] : pointer.metadata().items()) {
    if (k != kShmOffsetKey && k != kShmLengthKey) md.set(k, v);
  }
  md.set(std::string(kShmSourceKey), segment.name());
  return data.with_metadata(std::move(md));
}

}  // namespace

Result<Resolved> resolve_pointer_batch(const RecordBatch& batch, const Segment& segment,
                                       bool free_on_release) {
  if (!is_pointer_batch(batch)) return Resolved{batch, std::nullopt};
  SLUICE_TRY_ASSIGN(Allocation region, pointer_region(batch));
  SLUICE_TRY_ASSIGN(RecordBatch data, segment.read_batch(region.offset, region.length,
                                                         batch.schema(), free_on_release));
  Resolved out{with_pointer_metadata(data, batch, segment), std::nullopt};
  if (!free_on_release) out.release_offset = region.offset;
  return out;
}

Result<Resolved> resolve_pointer_batch(const RecordBatch& batch, const Segment& segment,
                                       Segment::ReleaseHook on_release) {
  if (!is_pointer_batch(batch)) return Resolved{batch, std::nullopt};
  SLUICE_TRY_ASSIGN(Allocation region, pointer_region(batch));
  SLUICE_TRY_ASSIGN(RecordBatch data, segment.read_batch(region.offset, region.length,
                                                         batch.schema(), std::move(on_release)));
  return Resolved{with_pointer_metadata(data, batch, segment), std::nullopt};
}

Result<RecordBatch> maybe_write_to_segment(const RecordBatch& batch, Segment& segment,
                                           const ipc::WriteOptions& options) {
  if (batch.num_rows() == 0) return batch;
  auto region = segment.write_batch(batch, options);
  if (!region) {
    const Errc c = region.error().code();
    if (c == Errc::out_of_memory || c == Errc::table_full) return batch;  // send it inline instead
    return fail(std::move(region).error());
  }
  return make_pointer_batch(batch.schema(), *region, batch.metadata());
}

}  // namespace sluice::batch::vgis
