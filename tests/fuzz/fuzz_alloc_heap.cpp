// Fuzzes the heap against hostile metadata: a small heap is formatted and
// used, then the input scribbles bytes of its metadata (header, pool
// descriptors, TLSF state, chunk table, TLSF links), and the heap is
// attached and driven: resolve / add_ref / release / publish with refs
// built from the input, allocations of every policy, reclaim_peer, stats,
// audit with and without repair. Nothing may crash, hang or trip a
// sanitizer; every failure must be a clean error. And after a successful
// audit(repair) of a heap whose TLSF region is not marked corrupted, a
// second audit must find nothing.
//
// Input: byte 0 = number of patches n; then n patches of 3 bytes
// (offset u16 little-endian into the metadata, value); the rest drives the
// operations, 8 bytes per operation.

#include <sluice/alloc/heap.hpp>
#include <sluice/alloc/heap_layout.hpp>
#include <sluice/os/robust_mutex.hpp>

#include <sys/mman.h>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

using namespace sluice;
using namespace sluice::alloc;

namespace {

HeapConfig config() {
  HeapConfig c;
  c.classes = {{64, 16}, {256, 8}, {4096, 4}};
  c.tlsf_bytes = 64 * KiB;
  c.tlsf_max_blocks = 32;
  return c;
}

struct Region {
  HeapRegion r{};
  std::uint64_t meta_bytes = 0;
  Region() {
    meta_bytes = Heap::metadata_bytes(config()).value();
    const std::uint64_t meta = align_up(meta_bytes, kPageSize);
    const std::uint64_t data = Heap::data_bytes(config()).value();
    r = {nullptr, kPageSize + meta + data, kPageSize, meta, kPageSize + meta, data};
    void* p =
        ::mmap(nullptr, r.segment_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    r.base = static_cast<std::byte*>(p);
  }
};

Region& region() {
  static Region reg;
  return reg;
}

struct Reader {
  const std::uint8_t* p;
  std::size_t n;
  std::uint64_t take(std::size_t bytes) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < bytes && n > 0; ++i, ++p, --n) v |= std::uint64_t{*p} << (8 * i);
    return v;
  }
};

void check(bool cond) {
  if (!cond) std::abort();  // a property violation is a finding
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Region& reg = region();
  auto formatted = Heap::format(reg.r, config());
  check(formatted.has_value());
  Heap& h = *formatted;
  // A heap in use: chunks loaned, published, shared, freed, TLSF split.
  std::vector<ChunkRef> refs;
  for (std::uint64_t size : {64ull, 64ull, 200ull, 3000ull, 5000ull, 20000ull, 64ull, 100ull})
    if (auto r = h.allocate(size, 1)) refs.push_back(*r);
  (void)h.publish(refs[1]);
  (void)h.add_ref(refs[1], 2);
  (void)h.release(refs[6], 1);
  (void)h.release(refs[4], 1);

  Reader in{data, size};
  const std::uint64_t patches = in.take(1);
  std::byte* meta = reg.r.base + reg.r.meta_offset;
  for (std::uint64_t i = 0; i < patches && in.n >= 3; ++i) {
    const std::uint64_t off = in.take(2) % reg.meta_bytes;
    meta[off] = static_cast<std::byte>(in.take(1));
  }
  // The mutex is the OS's object, not ours to validate: keep it sane so that
  // the TLSF paths run (a scribbled pthread mutex is undefined behaviour in
  // glibc, not in the heap).
  auto* tlsf = reinterpret_cast<layout::TlsfHeader*>(meta + layout::kTlsfHeaderOffset);
  check(os::robust_mutex_init(tlsf->mutex).has_value());

  auto attached = Heap::attach(reg.r);
  if (!attached) {
    check(attached.error().code() != Errc::ok && !attached.error().what().empty());
    return 0;
  }
  Heap& a = *attached;
  (void)a.stats();
  a.for_each_live_chunk([](const ChunkInfo&) {});
  for (std::uint32_t id = 0; id < a.total_chunks(); ++id) (void)a.info(id);

  while (in.n > 0) {
    const std::uint64_t op = in.take(1);
    const std::uint64_t x = in.take(7);
    ChunkRef ref;
    if (!refs.empty() && (op & 0x80) == 0) {
      ref = refs[x % refs.size()];
    } else {
      ref.id = static_cast<std::uint32_t>(x % (a.total_chunks() + 2));
      ref.offset = (x >> 8) % reg.r.segment_size;
      ref.generation = static_cast<std::uint32_t>(x >> 40);
    }
    switch (op & 0x0F) {
      case 0: {
        auto v = a.resolve(ref);
        if (v) {
          check(v->data >= reg.r.base + a.data_offset());
          check(v->data + v->size <= reg.r.base + a.data_offset() + a.data_size());
          std::memset(v->data, 0xA5, v->size < 64 ? v->size : 64);
        }
        break;
      }
      case 1:
        (void)a.add_ref(ref, static_cast<std::uint32_t>(x % 3));
        break;
      case 2:
        (void)a.release(ref, static_cast<PeerIndex>(x % 8));
        break;
      case 3:
        (void)a.publish(ref);
        break;
      case 4:
        (void)a.transfer_owner(ref, static_cast<PeerIndex>(x % 8));
        break;
      case 5:
      case 6: {
        const auto policy = static_cast<AllocPolicy>(x % 3);
        if (auto r = a.allocate((x >> 8) % (80 * KiB), static_cast<PeerIndex>(x % 8), policy)) {
          auto v = a.resolve(*r);
          check(v.has_value());
          std::memset(v->data, 0x5A, v->size < 128 ? v->size : 128);
          refs.push_back(*r);
        }
        break;
      }
      case 7:
        (void)a.reclaim_peer(static_cast<PeerIndex>(x % 8));
        break;
      case 8:
        (void)a.audit(false);
        break;
      case 9:
        (void)a.stats();
        break;
      default:
        (void)a.info(ref.id);
        break;
    }
  }
  auto repaired = a.audit(true);
  if (repaired && !a.stats().tlsf.corrupted) {
    auto again = a.audit(false);
    check(again.has_value() && again->clean());
  }
  return 0;
}
