// Fuzz target: attaching to a domain whose shared-memory object another
// process wrote. The input becomes a fresh shm object ("sluice-fz<pid>-...",
// unlinked after every input), which is then opened the way applications
// and tools open it: layout::Segment::open (header, init state, sections,
// peers, registry), sluice::Domain::open (the heap inside), and the
// lock-free walks over it (peers, dead peers, registry, channel listing,
// channel control blocks, live chunks). Nothing may crash, hang or read out
// of bounds; a bad segment is an error Result with a message.
//
// Operations that take an in-segment lock (the registry's or the TLSF
// region's robust mutex) are left out here: a lock word written by a
// hostile peer can only make them time out (bounded), and the registry
// target fuzzes the registry with an intact lock.
//
// Input: byte 0 selects the mode.
//   even: the rest is the whole object, as is (header parsing, sizes);
//   odd:  the rest is patches over a real small domain (one channel, one
//         queue, chunks in use): {u32 offset (LE), u8 length (<= 64),
//         bytes}..., offsets wrapping within the image; so mutations reach
//         the deep validation of a mostly valid segment.
//
// Built with -DSLUICE_FUZZ_SEEDS and a main() of its own, this file writes
// the seed corpus from real domains (a whole image, its header page, and
// patches that flip single fields).

#include <sluice/channel/channel.hpp>
#include <sluice/channel/internal/core.hpp>
#include <sluice/layout/segment.hpp>
#include <sluice/os/shm.hpp>

#include <fmt/format.h>

#include <sys/mman.h>
#include <unistd.h>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace sluice;

// A real domain, small: its image is what the patch mode mutates.
std::vector<std::byte> make_template() {
  DomainOptions o;
  o.heap.classes = {{64, 8}, {4096, 4}};
  o.heap.tlsf_bytes = 16 * KiB;
  o.heap.tlsf_max_blocks = 8;
  o.max_peers = 2;
  o.max_channels = 2;
  const std::string name = fmt::format("sluice-fz{}-template", ::getpid());
  (void)Domain::remove(name);
  auto d = Domain::create(name, o);
  if (!d) std::abort();
  (void)Domain::remove(name);
  ChannelOptions c;
  c.capacity = 4;
  c.max_subscribers = 1;
  c.max_held = 2;
  c.history = 2;
  c.policy = channel::FullPolicy::fail;
  auto pub = BytePublisher::create(*d, "fz/c", c);
  auto sub = ByteSubscriber::create(*d, "fz/c", {}, c);
  c.history = 0;
  c.max_senders = 1;
  auto tx = QueueSender::create(*d, "fz/q", c);
  if (!pub || !sub || !tx) std::abort();
  std::vector<std::byte> bytes(3000, std::byte{1});
  (void)pub->send(bytes);
  (void)pub->send({bytes.data(), 10});
  (void)tx->send({bytes.data(), 100});
  auto held = sub->try_receive();  // a held record
  const auto& seg = d->segment();
  return {seg.base(), seg.base() + seg.size()};
}

const std::vector<std::byte>& image() {
  static const std::vector<std::byte> t = make_template();
  return t;
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

// Everything a tool or an attaching application reads without a lock.
void walk(const std::string& name) {
  auto seg =
      layout::Segment::open(name, {.timeout = 0ms, .read_only = false, .attach_as_peer = false});
  if (!seg) {
    if (seg.error().what().empty()) std::abort();  // every refusal says why
    return;
  }
  (void)seg->validate();
  (void)seg->peers();
  (void)seg->dead_peers();
  if (auto list = seg->registry_list())
    for (const auto& e : *list) (void)channel::geometry_from_config(e.config);
  (void)list_channels(*seg);

  auto d = Domain::open(name, {.timeout = 0ms});  // takes a peer slot; attaches the heap
  if (!d) {
    if (d.error().what().empty()) std::abort();
    return;
  }
  (void)d->heap().stats();
  std::uint64_t live = 0;
  d->heap().for_each_live_chunk([&live](const alloc::ChunkInfo& i) { live += i.size; });
  if (auto list = d->segment().registry_list()) {
    for (const auto& e : *list) {
      auto core = channel::ChannelCore::attach_existing(d->state(), e);
      if (!core) continue;
      // What a receiver would look at: its ring's indices and first slot.
      const auto& ch = **core;
      for (std::uint32_t i = 0;
           i < (ch.g.kind == channel::Kind::pubsub ? ch.g.max_subscribers : 1u); ++i) {
        if (ch.g.kind == channel::Kind::pubsub) {
          if (auto c = channel::DescRing::Consumer::attach(ch.ring(i), ch.ring_bytes()))
            (void)c->size_hint();
        } else if (auto q = channel::QueueRing::attach(ch.ring(i), ch.ring_bytes())) {
          (void)q->size_hint();
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > (4u << 20)) return 0;
  Reader in{data + 1, size - 1};
  std::vector<std::byte> object;
  if ((data[0] & 1) == 0) {
    object.assign(reinterpret_cast<const std::byte*>(data + 1),
                  reinterpret_cast<const std::byte*>(data + size));
  } else {
    object = image();
    while (in.n >= 5) {
      const std::size_t off = static_cast<std::size_t>(in.take(4));
      const std::size_t len = static_cast<std::size_t>(in.take(1) % 65);
      for (std::size_t i = 0; i < len && in.n > 0; ++i)
        object[(off + i) % object.size()] = static_cast<std::byte>(in.take(1));
    }
  }
  const std::string name = fmt::format("sluice-fz{}-attach", ::getpid());
  (void)os::ShmObject::unlink(name);
  {
    auto obj = os::ShmObject::create(name, object.size());
    if (!obj) std::abort();
    if (!object.empty()) {
      void* p = ::mmap(nullptr, object.size(), PROT_READ | PROT_WRITE, MAP_SHARED, obj->fd(), 0);
      if (p == MAP_FAILED) std::abort();
      std::memcpy(p, object.data(), object.size());
      ::munmap(p, object.size());
    }
  }
  walk(name);
  (void)os::ShmObject::unlink(name);
  return 0;
}

#ifdef SLUICE_FUZZ_SEEDS
#include <fstream>

namespace {

void save(const std::string& dir, const char* name, std::uint8_t mode, const void* p,
          std::size_t n) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.put(static_cast<char>(mode));
  out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  const auto& img = image();
  save(dir, "whole_domain", 0, img.data(), img.size());
  save(dir, "header_page", 0, img.data(), 4096);
  save(dir, "template", 1, nullptr, 0);
  // Single-field patches at real offsets.
  auto patch = [&](const char* name, std::uint32_t off, std::uint64_t value, std::uint8_t len) {
    std::vector<std::uint8_t> v(4 + 1 + len);
    std::memcpy(v.data(), &off, 4);
    v[4] = len;
    std::memcpy(v.data() + 5, &value, len);
    save(dir, name, 1, v.data(), v.size());
  };
  const auto* h = reinterpret_cast<const layout::SegmentHeader*>(img.data());
  patch("init_state", offsetof(layout::SegmentHeader, init_state), 1, 4);
  patch("max_peers", offsetof(layout::SegmentHeader, max_peers), 4097, 4);
  patch(
      "registry_name_length",
      static_cast<std::uint32_t>(h->registry.offset + offsetof(layout::RegistryEntry, name_length)),
      200, 4);
  patch("registry_control",
        static_cast<std::uint32_t>(h->registry.offset +
                                   offsetof(layout::RegistryEntry, control_offset)),
        64, 8);
  patch("heap_magic", static_cast<std::uint32_t>(h->heap.offset), 0, 8);
  patch("peer_state", static_cast<std::uint32_t>(h->peers.offset), 0x1234567800000009ULL, 8);
  return 0;
}
#endif
