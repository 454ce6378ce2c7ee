// Fuzz target: a subscriber (and a queue receiver) over a fuzzed ring,
// control block, history, held table and chunk metadata.
//
// A small real domain with a pub/sub channel and a queue is built once (and
// its name removed at once: nothing stays in /dev/shm); its pristine image
// is restored before every input. Per input: a publisher and a subscriber
// are opened, a few messages published (so that rings, history and chunks
// hold real descriptors), then the input's patches overwrite bytes of those
// shared structures (as a broken or hostile peer could), and the endpoints
// are driven: try_receive until empty, publish again, receive again, then
// every endpoint closes (which drains rings and releases held samples over
// the fuzzed data too). Nothing may crash, hang or trip a sanitizer; every
// failure must be an error Result. Received bytes are read in full (a
// sample that resolves must be inside the segment).
//
// Input: byte 0: policy (bit 0: overwrite), byte 1: messages to publish
// first (0..15), then patches {u8 region, u16 offset (LE), u8 length (<= 32),
// bytes}; the offset wraps within the region. Regions: 0 the subscriber's
// ring, 1 history slots, 2 the publisher's endpoint slot, 3 every endpoint
// slot and the held records, 4 the control block's counters (the
// publish guard excepted: an odd one stalls closes by design, see
// ChannelCore::close_subscriber), 5 the chunk metadata table, 6 the queue
// ring, 7 the queue's endpoint slots.
//
// Built with -DSLUICE_FUZZ_SEEDS and a main() of its own, this file writes
// the seed corpus (from real structures: no patch, and patches that replay
// the real descriptors of another message at other positions):
//   c++ -std=c++20 -DSLUICE_FUZZ_SEEDS -Iinclude tests/fuzz/fuzz_channel_receive.cpp \
//       build/.../src/libsluice_*.a -lfmt -o /tmp/gen && /tmp/gen tests/fuzz/corpus/channel_receive

#include <sluice/alloc/heap_layout.hpp>
#include <sluice/channel/channel.hpp>
#include <sluice/channel/internal/core.hpp>

#include <fmt/format.h>

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

struct Fixture {
  std::optional<Domain> domain;
  std::vector<std::byte> pristine;

  static ChannelOptions options(bool overwrite, bool queue) {
    ChannelOptions o;
    o.capacity = 8;
    o.history = queue ? 0 : 4;
    o.max_subscribers = 2;
    o.max_senders = 2;
    o.max_held = 4;
    o.policy = overwrite ? channel::FullPolicy::overwrite : channel::FullPolicy::fail;
    o.publish_timeout = 1ms;
    return o;
  }

  Fixture() {
    DomainOptions o;
    o.heap.classes = {{64, 32}, {1024, 16}, {8192, 16}};
    o.heap.tlsf_bytes = 128 * KiB;
    o.heap.tlsf_max_blocks = 16;
    o.max_peers = 4;
    o.max_channels = 4;
    const std::string name = fmt::format("sluice-fz{}-receive", ::getpid());
    (void)Domain::remove(name);
    auto d = Domain::create(name, o);
    if (!d) std::abort();
    (void)Domain::remove(name);  // attached processes keep the mapping
    domain.emplace(std::move(d).value());
    // Both policies' channels exist in the image (options must match at open).
    for (const bool overwrite : {false, true}) {
      auto p =
          BytePublisher::create(*domain, overwrite ? "fz/o" : "fz/c", options(overwrite, false));
      if (!p) std::abort();
    }
    auto q = QueueSender::create(*domain, "fz/q", options(false, true));
    if (!q) std::abort();
    const auto& seg = domain->segment();
    pristine.assign(seg.base(), seg.base() + seg.size());
  }

  void restore() const { std::memcpy(domain->segment().base(), pristine.data(), pristine.size()); }
};

Fixture& fixture() {
  static Fixture f;
  return f;
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

// Reads every byte of a sample: a resolved sample must lie in the segment.
void consume(const Sample& s) {
  volatile std::uint8_t sink = 0;
  for (std::byte b : s.bytes())
    sink = static_cast<std::uint8_t>(sink ^ static_cast<std::uint8_t>(b));
  (void)sink;
}

void drain(ByteSubscriber& sub, std::vector<Sample>& held) {
  for (int i = 0; i < 32; ++i) {
    auto s = sub.try_receive();
    if (!s) {
      if (s.error().code() == Errc::would_block) return;
      continue;  // corrupted descriptor: reported, skipped
    }
    consume(*s);
    if (held.size() < 2) held.push_back(std::move(s).value());
  }
}

void drain(QueueReceiver& rx) {
  for (int i = 0; i < 32; ++i) {
    auto s = rx.try_receive();
    if (!s) {
      if (s.error().code() == Errc::would_block) return;
      continue;
    }
    consume(*s);
  }
}

std::size_t message_size(std::size_t k) {
  static constexpr std::size_t kSizes[] = {8, 32, 100, 1000, 5000, 20000};
  return kSizes[k % std::size(kSizes)];
}

struct Region {
  std::byte* at;
  std::size_t size;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  Fixture& fx = fixture();
  fx.restore();
  Domain& d = *fx.domain;
  Reader in{data, size};
  const bool overwrite = (in.take(1) & 1) != 0;
  const std::size_t messages = in.take(1) % 16;
  const char* name = overwrite ? "fz/o" : "fz/c";
  {
    auto pub = BytePublisher::create(d, name, Fixture::options(overwrite, false));
    auto sub = ByteSubscriber::create(d, name, {.history = 4}, Fixture::options(overwrite, false));
    auto tx = QueueSender::create(d, "fz/q", Fixture::options(false, true));
    auto rx = QueueReceiver::create(d, "fz/q", Fixture::options(false, true));
    if (!pub || !sub || !tx || !rx) std::abort();  // the restored image is valid
    std::vector<std::byte> bytes(20000, std::byte{0x5a});
    for (std::size_t k = 0; k < messages; ++k) {
      (void)pub->send({bytes.data(), message_size(k)});
      (void)tx->send({bytes.data(), message_size(k + 3)});
    }
    // Where the patches go.
    auto entries = d.segment().registry_list();
    if (!entries) std::abort();
    std::shared_ptr<channel::ChannelCore> ch, qch;
    for (const auto& e : *entries) {
      if (e.name == name) ch = channel::ChannelCore::attach_existing(d.state(), e).value();
      if (e.name == "fz/q") qch = channel::ChannelCore::attach_existing(d.state(), e).value();
    }
    const auto* hh = reinterpret_cast<const alloc::layout::HeapHeader*>(
        d.segment().base() + d.segment().header().heap.offset);
    auto* ctl_bytes = reinterpret_cast<std::byte*>(ch->ctl);
    const Region regions[8] = {
        {ch->ring(0), ch->ring_bytes()},
        {reinterpret_cast<std::byte*>(ch->history), ch->g.history * sizeof(channel::HistorySlot)},
        {reinterpret_cast<std::byte*>(&ch->pubs[0]), sizeof(channel::EndpointSlot)},
        // subscriber slots, publisher slot, held records (contiguous)
        {reinterpret_cast<std::byte*>(ch->subs),
         static_cast<std::size_t>(
             reinterpret_cast<std::byte*>(ch->held + std::size_t{ch->g.max_subscribers} *
                                                         ch->g.held_capacity) -
             reinterpret_cast<std::byte*>(ch->subs))},
        // counters after the guard: sequence, history_count, published, pids,
        // the subscriber mask line and the space line
        {ctl_bytes + offsetof(channel::ChannelControl, sequence),
         sizeof(channel::ChannelControl) - offsetof(channel::ChannelControl, sequence)},
        {d.segment().base() + hh->chunk_meta_offset,
         d.heap().total_chunks() * sizeof(alloc::layout::ChunkMeta)},
        {qch->ring(0), qch->ring_bytes()},
        {reinterpret_cast<std::byte*>(qch->subs), 3 * sizeof(channel::EndpointSlot)},
    };
    while (in.n >= 4) {
      const Region& r = regions[in.take(1) % 8];
      const std::size_t off = static_cast<std::size_t>(in.take(2));
      std::size_t len = static_cast<std::size_t>(in.take(1) % 33);
      if (r.size == 0) continue;
      for (std::size_t i = 0; i < len && in.n > 0; ++i)
        r.at[(off + i) % r.size] = static_cast<std::byte>(in.take(1));
    }
    // The publish guard stays even (see the header comment).
    ch->ctl->publish_guard.fetch_and(~std::uint64_t{1});
    qch->ctl->publish_guard.fetch_and(~std::uint64_t{1});

    std::vector<Sample> held;
    drain(*sub, held);
    drain(*rx);
    for (std::size_t k = 0; k < 4; ++k) {
      (void)pub->send({bytes.data(), message_size(k + 1)});
      (void)tx->send({bytes.data(), message_size(k + 2)});
    }
    drain(*sub, held);
    drain(*rx);
    (void)sub->stats();
    (void)pub->subscriber_count();
    (void)list_channels(d.segment());
    held.clear();
    // A late joiner replays the (fuzzed) history.
    auto late = ByteSubscriber::create(d, name, {.history = 4}, Fixture::options(overwrite, false));
    if (late) {
      std::vector<Sample> more;
      drain(*late, more);
    }
  }  // every endpoint closes here, over the fuzzed data
  (void)d.reclaim();
  return 0;
}

#ifdef SLUICE_FUZZ_SEEDS
#include <fstream>

namespace {

void save(const std::string& dir, const char* name, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void patch(std::vector<std::uint8_t>& v, std::uint8_t region, std::uint16_t off, const void* p,
           std::uint8_t len) {
  v.push_back(region);
  v.push_back(static_cast<std::uint8_t>(off & 0xff));
  v.push_back(static_cast<std::uint8_t>(off >> 8));
  v.push_back(len);
  const auto* b = static_cast<const std::uint8_t*>(p);
  v.insert(v.end(), b, b + len);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  save(dir, "plain", {0, 6});
  save(dir, "overwrite", {1, 15});
  // A real descriptor (a chunk message) written over the next free slot of
  // the ring, and over a history slot: duplicates of a live reference.
  Fixture& fx = fixture();
  fx.restore();
  ring::Descriptor d{};
  {
    auto pub = BytePublisher::create(*fx.domain, "fz/c", Fixture::options(false, false));
    auto sub = ByteSubscriber::create(*fx.domain, "fz/c", {}, Fixture::options(false, false));
    std::vector<std::byte> bytes(5000);
    (void)pub->send(bytes);
    auto entries = fx.domain->segment().registry_list().value();
    for (const auto& e : entries)
      if (e.name == "fz/c") {
        auto ch = channel::ChannelCore::attach_existing(fx.domain->state(), e).value();
        std::memcpy(&d, ch->ring(0) + ring::kRingDataOffset, sizeof d);
      }
  }
  std::vector<std::uint8_t> dup = {0, 3};
  patch(dup, 0, static_cast<std::uint16_t>(ring::kRingDataOffset + 3 * sizeof d), &d, 32);
  patch(dup, 0, static_cast<std::uint16_t>(ring::kRingDataOffset + 3 * sizeof d + 32),
        reinterpret_cast<const std::byte*>(&d) + 32, 32);
  save(dir, "duplicate_descriptor", dup);
  std::vector<std::uint8_t> hist = {0, 5};
  patch(hist, 1, static_cast<std::uint16_t>(offsetof(channel::HistorySlot, desc)), &d, 32);
  save(dir, "history_duplicate", hist);
  // Indices: tail far ahead of head, in both rings.
  std::vector<std::uint8_t> idx = {0, 4};
  const std::uint64_t far = 1000;
  patch(idx, 0, static_cast<std::uint16_t>(offsetof(ring::RingControl, tail)), &far, 8);
  patch(idx, 6, static_cast<std::uint16_t>(offsetof(ring::RingControl, tail)), &far, 8);
  save(dir, "indices", idx);
  return 0;
}
#endif
