// Fuzz target: the fuzzer's bytes are a framed byte ring region as a hostile
// or crashed writer might have left it. The reader, frame by frame and
// message by message, must never crash, hang or read out of bounds; bad
// frames are Errc::corrupted. A writer attached to the same region must
// cope with whatever head the region holds.
//
// Built with -DSLUICE_RING_FUZZ_SEEDS, this file writes the seed corpus
// instead (see write_seeds below), from the repo root:
//   c++ -std=c++20 -DSLUICE_RING_FUZZ_SEEDS -Iinclude tests/fuzz/fuzz_ring_frames.cpp
//       src/ring/*.cpp src/base/*.cpp -lfmt -o /tmp/gen
//   /tmp/gen tests/fuzz/corpus/ring_frames

#include <sluice/ring/byte_ring.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using namespace sluice::ring;

constexpr std::size_t kMaxRegion = 1 << 20;

struct Buffer {
  explicit Buffer(std::size_t n)
      : size(n), mem(static_cast<std::byte*>(std::aligned_alloc(64, (n + 63) / 64 * 64))) {}
  ~Buffer() { std::free(mem); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  std::size_t size;
  std::byte* mem;
};

void read_frames(std::byte* mem, std::size_t size) {
  auto reader = ByteRingReader::attach(mem, size);
  if (!reader) return;
  std::uint64_t sum = 0;
  // Bounded: every frame moves the cursor forward within what was published
  // (at most capacity bytes, 16 bytes or more per frame).
  for (int i = 0; i < 1 << 16; ++i) {
    auto f = reader->next_frame();
    if (!f || !*f) break;
    for (std::byte b : (*f)->payload) sum += static_cast<std::uint8_t>(b);
    if (i % 3 == 0) reader->release();
  }
  reader->release();
  volatile std::uint64_t sink = sum;
  (void)sink;
}

void read_messages(std::byte* mem, std::size_t size) {
  auto reader = ByteRingReader::attach(mem, size, ByteRingReaderOptions{4096, 1 << 16});
  if (!reader) return;
  std::vector<std::byte> msg;
  for (int i = 0; i < 1 << 16; ++i) {
    std::uint32_t stream = static_cast<std::uint32_t>(i % 3);
    auto r = (i % 2 == 0) ? reader->try_read(stream, msg) : reader->try_read_any(stream, msg);
    if (!r || *r == ReadStatus::empty) break;
  }
}

void write_some(std::byte* mem, std::size_t size) {
  auto writer = ByteRingWriter::attach(mem, size);
  if (!writer) return;
  std::byte payload[300] = {};
  for (int i = 0; i < 8; ++i) {
    auto r = writer->try_write(static_cast<std::uint32_t>(i), payload);
    if (!r || !r->complete) break;
  }
  (void)writer->try_write_end(1);
  (void)writer->free_space();
}

// The same reader over a ring whose header is valid: the first 16 input
// bytes become head and tail, the rest the data area. Mutations then hit the
// frame checks instead of mostly breaking the magic.
void structured(const std::uint8_t* data, std::size_t size) {
  if (size < 16) return;
  constexpr std::uint64_t kCapacity = 1024;
  Buffer b(ByteRing::required_size(kCapacity));
  if (!ByteRing::format(b.mem, b.size, kCapacity, {128, 0})) return;
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  std::memcpy(&head, data, 8);
  std::memcpy(&tail, data + 8, 8);
  // Mostly plausible indices (aligned, within a lap), sometimes raw ones.
  if ((head & 1) == 0) {
    head &= ~std::uint64_t{7};
    tail = head + (tail % (kCapacity + 1) & ~std::uint64_t{7});
  }
  auto* control = reinterpret_cast<RingControl*>(b.mem);
  control->head.value.store(head, std::memory_order_relaxed);
  control->tail.value.store(tail, std::memory_order_relaxed);
  std::byte* area = b.mem + kRingDataOffset;
  const std::size_t n = std::min<std::size_t>(size - 16, kCapacity);
  // Place the bytes at the ring position of head so frames start there.
  for (std::size_t i = 0; i < n; ++i)
    area[(head + i) & (kCapacity - 1)] = static_cast<std::byte>(data[16 + i]);
  read_frames(b.mem, b.size);
  read_messages(b.mem, b.size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxRegion) return 0;
  structured(data, size);
  {
    Buffer b(size);
    if (size != 0) std::memcpy(b.mem, data, size);
    read_frames(b.mem, size);
  }
  {
    Buffer b(size);
    if (size != 0) std::memcpy(b.mem, data, size);
    read_messages(b.mem, size);
    write_some(b.mem, size);
    read_frames(b.mem, size);
  }
  return 0;
}

#ifdef SLUICE_RING_FUZZ_SEEDS
#include <fstream>
#include <string>

namespace {

void save(const std::string& dir, const char* name, const std::byte* mem, std::size_t size) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(mem), static_cast<std::streamsize>(size));
}

std::vector<std::byte> bytes(std::size_t n, int seed) {
  std::vector<std::byte> b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::byte>((i * 7 + static_cast<std::size_t>(seed)) & 0xFF);
  return b;
}

void write_seeds(const std::string& dir) {
  {  // several streams, a chunked message, end of stream, 256-byte ring
    Buffer b(ByteRing::required_size(256));
    (void)ByteRing::format(b.mem, b.size, 256, {});
    auto w = ByteRingWriter::attach(b.mem, b.size).value();
    (void)w.try_write(1, bytes(20, 1));
    (void)w.try_write(2, bytes(100, 2), false);
    (void)w.try_write(3, {});
    (void)w.try_write_end(3);
    save(dir, "streams", b.mem, b.size);
    // The same frames for the structured mode: head, tail, data area.
    std::vector<std::byte> s(16 + 256);
    const std::uint64_t head = 0;
    const std::uint64_t tail = w.position();
    std::memcpy(s.data(), &head, 8);
    std::memcpy(s.data() + 8, &tail, 8);
    std::memcpy(s.data() + 16, b.mem + kRingDataOffset, 256);
    save(dir, "structured_streams", s.data(), s.size());
  }
  {  // frames across the end of the data area: padding then a lap start
    Buffer b(ByteRing::required_size(256));
    (void)ByteRing::format(b.mem, b.size, 256, {});
    auto w = ByteRingWriter::attach(b.mem, b.size).value();
    auto r = ByteRingReader::attach(b.mem, b.size).value();
    std::vector<std::byte> msg;
    for (int i = 0; i < 11; ++i) (void)w.try_write(1, bytes(32, i));
    for (int i = 0; i < 11; ++i) (void)r.try_read(1, msg);
    (void)w.try_write(4, bytes(40, 9));
    (void)w.try_write(5, bytes(8, 9));
    save(dir, "wrap_padding", b.mem, b.size);
  }
  {  // implicit skip of the last 8 bytes, started near 2^64
    Buffer b(ByteRing::required_size(256));
    (void)ByteRing::format(b.mem, b.size, 256, {0, ~std::uint64_t{0} - 255});
    auto w = ByteRingWriter::attach(b.mem, b.size).value();
    auto r = ByteRingReader::attach(b.mem, b.size).value();
    std::vector<std::byte> msg;
    for (int i = 0; i < 14; ++i) (void)w.try_write(1, {});
    (void)w.try_write(1, bytes(8, 0));
    for (int i = 0; i < 15; ++i) (void)r.try_read(1, msg);
    (void)w.try_write(6, bytes(40, 3));
    save(dir, "implicit_skip", b.mem, b.size);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  write_seeds(argv[1]);
  return 0;
}
#endif
