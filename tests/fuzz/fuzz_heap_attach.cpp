// Fuzz target: Heap::attach over metadata bytes another process wrote. The
// input is the heap's whole metadata section (header, pool descriptors, TLSF
// header, chunk table, TLSF links) as is, so mutations reach every field of
// the attach-time validation at once (fuzz_alloc_heap, by the allocator's
// author, patches a few bytes of a heap in use instead). When attach
// accepts the bytes, the read-only walks that tools and reclamation use run
// over them: stats, info of every chunk, live-chunk and per-owner
// iteration, resolve of refs built from the table itself, audit without
// repair. Nothing may crash, hang or read out of bounds.
//
// The TLSF robust mutex inside the section is re-initialised before use (a
// lock word written by a hostile peer can only make locking time out, which
// the heap bounds with its lock timeout; glibc's mutex internals are not
// what this target is about).
//
// Input: the metadata section's bytes (shorter inputs are zero-filled).
//
// Built with -DSLUICE_FUZZ_SEEDS and a main() of its own, this file writes
// the seed corpus: the metadata of real heaps, freshly formatted and in use.

#include <sluice/alloc/heap.hpp>
#include <sluice/alloc/heap_layout.hpp>
#include <sluice/os/robust_mutex.hpp>

#include <sys/mman.h>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace sluice;
using namespace sluice::alloc;

HeapConfig config() {
  HeapConfig c;
  c.classes = {{64, 8}, {512, 4}, {4096, 2}};
  c.tlsf_bytes = 32 * KiB;
  c.tlsf_max_blocks = 8;
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
  [[nodiscard]] std::byte* meta() const { return r.base + r.meta_offset; }
};

Region& region() {
  static Region reg;
  return reg;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Region& reg = region();
  const std::size_t n = static_cast<std::size_t>(reg.meta_bytes);
  std::memset(reg.meta(), 0, n);
  std::memcpy(reg.meta(), data, size < n ? size : n);
  auto* tlsf = reinterpret_cast<layout::TlsfHeader*>(reg.meta() + layout::kTlsfHeaderOffset);
  if (!os::robust_mutex_init(tlsf->mutex)) std::abort();

  auto heap = Heap::attach(reg.r, HeapOptions{.lock_timeout = 1ms});
  if (!heap) {
    if (heap.error().what().empty()) std::abort();  // every refusal says why
    return 0;
  }
  Heap& h = *heap;
  (void)h.stats();
  (void)h.config();
  std::uint64_t total = 0;
  for (std::uint32_t id = 0; id < h.total_chunks(); ++id) {
    auto info = h.info(id);
    if (!info) continue;
    // What a holder would do with a ref naming this chunk: resolve it and
    // read its bytes, which must lie inside the mapping.
    if (auto view = h.resolve(info->ref)) {
      if (view->data < reg.r.base || view->data + view->size > reg.r.base + reg.r.segment_size)
        std::abort();
      volatile std::byte sink = view->data[0];
      sink = view->data[view->size - 1];
      (void)sink;
    }
  }
  h.for_each_live_chunk([&total](const ChunkInfo& i) { total += i.size; });
  h.for_each_chunk_of(3, [&total](const ChunkInfo& i) { total += i.refs; });
  (void)h.audit(false);
  return 0;
}

#ifdef SLUICE_FUZZ_SEEDS
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  Region& reg = region();
  auto save = [&](const char* name) {
    std::ofstream out(std::string(argv[1]) + "/" + name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(reg.meta()),
              static_cast<std::streamsize>(reg.meta_bytes));
  };
  auto h = Heap::format(reg.r, config()).value();
  save("formatted");
  std::vector<ChunkRef> refs;
  for (const std::uint64_t s : {40, 64, 300, 4000, 9000, 20000, 64, 500})
    if (auto r = h.allocate(s, static_cast<PeerIndex>(s % 5))) refs.push_back(*r);
  (void)h.publish(refs[1]);
  (void)h.add_ref(refs[1], 3);
  (void)h.release(refs[2], 0);
  (void)h.release(refs[5], 0);
  save("in_use");
  return 0;
}
#endif
