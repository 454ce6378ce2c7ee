// Hostile segment: this process overwrites fields of a live domain (header,
// peer slots, registry entries, channel control block, endpoint slots, ring
// indices and descriptors, history, chunk metadata, pool free lists, held
// records) while peer processes (corrupt_peer) use it, and checks that each
// corruption gives its clear error — a specific Errc with a message — and
// never a crash, an out-of-bounds access (run under ASan too) or a hang
// (every answer is awaited with a deadline; every helper must exit 0).

#include "support/process.hpp"
#include "support/shm_names.hpp"

#include <sluice/alloc/heap_layout.hpp>
#include <sluice/channel/channel.hpp>
#include <sluice/channel/internal/core.hpp>
#include <sluice/layout/segment_layout.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace sluice {
namespace {

using namespace std::chrono_literals;
using test::Child;

constexpr auto kAnswerTimeout = 10s;  // generous for sanitizer builds; a hang is far longer

class Peer {
 public:
  explicit Peer(const std::string& domain)
      : child_(Child::spawn(test::helper_path("corrupt_peer"), {domain})) {
    opened_ = child_.read_line(kAnswerTimeout);
    if (std::getenv("SLUICE_TEST_VERBOSE")) std::printf("    open -> %s\n", opened_.c_str());
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;
  ~Peer() {
    if (!exited_) (void)finish();
  }
  // The answer to opening the domain ("ok" or "err ...").
  [[nodiscard]] const std::string& opened() const { return opened_; }
  // Sends one command; the answer line, or "timeout" if none came in time.
  std::string operator()(const std::string& command) {
    child_.write_line(command);
    std::string a = child_.read_line(kAnswerTimeout);
    if (a.empty()) a = "timeout";
    if (std::getenv("SLUICE_TEST_VERBOSE"))
      std::printf("    %s -> %s\n", command.c_str(), a.c_str());
    return a;
  }
  // Asks it to exit; its exit status (0 expected: no crash, no sanitizer
  // report, no abort).
  int finish() {
    exited_ = true;
    child_.write_line("exit");
    return child_.wait(std::chrono::duration_cast<std::chrono::milliseconds>(kAnswerTimeout));
  }
  void kill() {
    child_.kill(SIGKILL);
    (void)child_.wait(5s);
    exited_ = true;
  }

 private:
  Child child_;
  std::string opened_;
  bool exited_ = false;
};

// "err <code> <message>": the code is `code` and a message follows.
::testing::AssertionResult is_error(const std::string& answer, std::string_view code,
                                    std::string_view message_part = {}) {
  const std::string prefix = "err " + std::string(code) + " ";
  if (answer.rfind(prefix, 0) != 0)
    return ::testing::AssertionFailure()
           << "expected '" << prefix << "...', got '" << answer << "'";
  const std::string message = answer.substr(prefix.size());
  if (message.empty()) return ::testing::AssertionFailure() << "no message in '" << answer << "'";
  if (!message_part.empty() && message.find(message_part) == std::string::npos)
    return ::testing::AssertionFailure()
           << "message '" << message << "' lacks '" << message_part << "'";
  return ::testing::AssertionSuccess();
}

bool starts_with(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DomainOptions o;
    o.heap.classes = {{64, 256}, {256, 256}, {1024, 128}, {4096, 64}, {65536, 16}};
    o.heap.tlsf_bytes = 4 * MiB;
    o.heap.tlsf_max_blocks = 64;
    o.max_peers = 16;
    o.max_channels = 8;
    auto d = Domain::create(name_.str(), o);
    ASSERT_TRUE(d) << d.error().what();
    domain_ = std::move(d).value();
  }

  std::byte* base() const { return domain_->segment().base(); }
  layout::SegmentHeader& header() const { return domain_->segment().header(); }

  // This process's view of a channel's shared structures.
  std::shared_ptr<channel::ChannelCore> core(const std::string& channel) const {
    auto entries = domain_->segment().registry_list();
    EXPECT_TRUE(entries) << entries.error().what();
    for (const auto& e : *entries) {
      if (e.name != channel) continue;
      auto c = channel::ChannelCore::attach_existing(domain_->state(), e);
      EXPECT_TRUE(c) << c.error().what();
      return c ? *c : nullptr;
    }
    ADD_FAILURE() << "no channel " << channel;
    return nullptr;
  }
  // Looked up while the registry is still intact.
  layout::RegistryEntry& entry(const std::string& channel) const {
    auto entries = domain_->segment().registry_list();
    std::uint32_t index = 0;
    if (entries) {
      for (const auto& e : *entries)
        if (e.name == channel) index = e.index;
    } else {
      ADD_FAILURE() << entries.error().what();
    }
    return reinterpret_cast<layout::RegistryEntry*>(base() + header().registry.offset)[index];
  }
  alloc::layout::ChunkMeta& chunk_meta(std::uint32_t id) const {
    const auto* hh =
        reinterpret_cast<const alloc::layout::HeapHeader*>(base() + header().heap.offset);
    return reinterpret_cast<alloc::layout::ChunkMeta*>(base() + hh->chunk_meta_offset)[id];
  }

  // A pub/sub channel "c" with a publisher peer and a subscriber peer, one
  // message (`size` bytes) queued for the subscriber.
  void pubsub(Peer& pub, Peer& sub, std::size_t size) {
    ASSERT_EQ(pub.opened(), "ok");
    ASSERT_EQ(sub.opened(), "ok");
    ASSERT_EQ(pub("pub c"), "ok");
    ASSERT_EQ(sub("sub c"), "ok");
    ASSERT_EQ(pub(fmt::format("send {}", size)), "ok");
  }

  test::ScopedShmName name_{"corrupt"};
  std::optional<Domain> domain_;
};

// -- segment header ------------------------------------------------------------------

TEST_F(CorruptionTest, HeaderMagicIsRefusedAtAttach) {
  Peer live(name_.str());
  ASSERT_EQ(live.opened(), "ok");
  ASSERT_EQ(live("pub c"), "ok");
  header().magic ^= 0x1;
  Peer late(name_.str());
  EXPECT_TRUE(is_error(late.opened(), "bad_magic", "not a sluice domain"));
  // The attached peer keeps working on what it validated at attach.
  EXPECT_EQ(live("send 100"), "ok");
  EXPECT_EQ(late.finish(), 0);
  EXPECT_EQ(live.finish(), 0);
}

TEST_F(CorruptionTest, HeaderVersionIsRefused) {
  header().layout_version = 7;
  Peer late(name_.str());
  EXPECT_TRUE(is_error(late.opened(), "version_mismatch", "layout version 7"));
  EXPECT_EQ(late.finish(), 0);
}

TEST_F(CorruptionTest, ImmutableHeaderFieldsAreCaughtByTheChecksum) {
  // A section moved: every offset still in bounds, only the checksum knows.
  header().data.offset += kPageSize;
  Peer late(name_.str());
  EXPECT_TRUE(is_error(late.opened(), "corrupted", "checksum"));
  EXPECT_EQ(late.finish(), 0);
}

TEST_F(CorruptionTest, InitStateValues) {
  header().init_state.store(static_cast<std::uint32_t>(layout::InitState::corrupted));
  {
    Peer late(name_.str());
    EXPECT_TRUE(is_error(late.opened(), "corrupted", "marked corrupted"));
    EXPECT_EQ(late.finish(), 0);
  }
  header().init_state.store(9);
  {
    Peer late(name_.str());
    EXPECT_TRUE(is_error(late.opened(), "corrupted", "invalid init state 9"));
    EXPECT_EQ(late.finish(), 0);
  }
  header().init_state.store(static_cast<std::uint32_t>(layout::InitState::ready));
}

TEST_F(CorruptionTest, HeapHeaderIsRefusedAtAttach) {
  auto* hh = reinterpret_cast<alloc::layout::HeapHeader*>(base() + header().heap.offset);
  hh->total_chunks += 1000;
  Peer late(name_.str());
  EXPECT_TRUE(is_error(late.opened(), "corrupted", "heap"));
  EXPECT_EQ(late.finish(), 0);
}

// -- peer table -------------------------------------------------------------------------

TEST_F(CorruptionTest, GarbagePeerSlotsAreSkipped) {
  Peer pub(name_.str()), sub(name_.str());
  pubsub(pub, sub, 200);
  // Free slots overwritten: invalid states, a pid that is not ours, garbage
  // start times. Reclamation must leave them (and the live peers) alone.
  auto* slots = reinterpret_cast<layout::PeerSlot*>(base() + header().peers.offset);
  const std::uint32_t n = header().max_peers;
  slots[n - 1].control.store(layout::peer_control(static_cast<layout::PeerState>(9), 1));
  slots[n - 2].control.store(layout::peer_control(layout::PeerState::reclaiming, 0x7fffffff));
  slots[n - 3].control.store(layout::peer_control(layout::PeerState::alive, -5));
  slots[n - 3].start_time = ~0ull;
  const auto r = sub("reclaim");
  EXPECT_TRUE(starts_with(r, "ok")) << r;
  EXPECT_EQ(sub("recv"), "ok 200 intact");
  EXPECT_EQ(pub("send 300"), "ok");
  EXPECT_EQ(sub("recv"), "ok 300 intact");
  EXPECT_EQ(pub.finish(), 0);
  EXPECT_EQ(sub.finish(), 0);
  for (std::uint32_t k = 1; k <= 3; ++k) slots[n - k].control.store(0);
}

// -- registry -----------------------------------------------------------------------------

TEST_F(CorruptionTest, RegistryNameLength) {
  Peer pub(name_.str()), sub(name_.str()), victim(name_.str());
  pubsub(pub, sub, 64);
  ASSERT_EQ(victim("sub c"), "ok");
  layout::RegistryEntry& e = entry("c");
  const std::uint32_t saved = e.name_length;
  e.name_length = 5000;
  Peer late(name_.str());
  ASSERT_EQ(late.opened(), "ok");
  EXPECT_TRUE(is_error(late("sub c"), "corrupted", "name length"));
  // Reclaiming a dead peer cannot walk the registry: it still returns the
  // peer's loans and slot, and reports the registry as skipped.
  victim.kill();
  EXPECT_EQ(late("reclaim"), "ok dead=1 closed=0 skipped=1");
  // Endpoints already open keep their validated view.
  EXPECT_EQ(sub("recv"), "ok 64 intact");
  e.name_length = saved;
  // Its subscriber slot stays taken until a subscriber needs it: subscribers
  // take over slots of dead processes.
  EXPECT_EQ(late("reclaim"), "ok dead=0 closed=0 skipped=0");
  EXPECT_EQ(late("sub c"), "ok");
  EXPECT_EQ(late.finish(), 0);
  EXPECT_EQ(pub.finish(), 0);
  EXPECT_EQ(sub.finish(), 0);
}

TEST_F(CorruptionTest, RegistryControlOffsetOutsideTheData) {
  Peer pub(name_.str());
  ASSERT_EQ(pub("pub c"), "ok");
  auto& e = entry("c");
  const std::uint64_t saved = e.control_offset;
  for (const std::uint64_t bad :
       {std::uint64_t{8}, domain_->segment().size() - 64, ~std::uint64_t{0} - 100, saved + 8}) {
    e.control_offset = bad;
    Peer late(name_.str());
    const auto a = late("sub c");
    EXPECT_TRUE(is_error(a, "corrupted")) << "offset " << bad << ": " << a;
    EXPECT_EQ(late.finish(), 0);
  }
  e.control_offset = saved;
  EXPECT_EQ(pub.finish(), 0);
}

TEST_F(CorruptionTest, RegistryConfigurationChanged) {
  Peer pub(name_.str()), victim(name_.str());
  ASSERT_EQ(pub("pub c"), "ok");
  ASSERT_EQ(victim("sub c"), "ok");
  auto& e = entry("c");
  e.config.params[0] = 3;  // capacity: no longer what the block was built for
  Peer late(name_.str());
  // Opening: the stored configuration is not one a channel can have.
  EXPECT_TRUE(is_error(late("sub c"), "corrupted", "not canonical"));
  // Tools and reclaim that take the configuration from the entry refuse it.
  auto infos = list_channels(domain_->segment());
  ASSERT_FALSE(infos);
  EXPECT_EQ(infos.error().code(), Errc::corrupted);
  e.config.kind = 77;
  // A dead peer's endpoints in a channel whose configuration is corrupted:
  // that channel is skipped (inspect reports it), the rest is reclaimed.
  victim.kill();
  EXPECT_TRUE(starts_with(late("reclaim"), "ok dead=1"));
  EXPECT_EQ(late.finish(), 0);
  EXPECT_EQ(pub.finish(), 0);
}

// -- channel control block and endpoint slots ------------------------------------------------

TEST_F(CorruptionTest, ControlBlockMagicAndGeometry) {
  Peer pub(name_.str()), sub(name_.str());
  pubsub(pub, sub, 100);
  auto c = core("c");
  ASSERT_TRUE(c);
  c->ctl->magic ^= 0xff;
  {
    Peer late(name_.str());
    EXPECT_TRUE(is_error(late("sub c"), "corrupted", "magic"));
    EXPECT_EQ(late.finish(), 0);
  }
  c->ctl->magic ^= 0xff;
  c->ctl->ring_stride += 64;
  {
    Peer late(name_.str());
    EXPECT_TRUE(is_error(late("sub c"), "corrupted", "does not match"));
    EXPECT_EQ(late.finish(), 0);
  }
  c->ctl->ring_stride -= 64;
  c->ctl->rings_offset += 64;
  {
    Peer late(name_.str());
    EXPECT_TRUE(is_error(late("sub c"), "corrupted", "misplaced"));
    EXPECT_EQ(late.finish(), 0);
  }
  c->ctl->rings_offset -= 64;
  // Live endpoints work from what they validated.
  EXPECT_EQ(sub("recv"), "ok 100 intact");
  EXPECT_EQ(pub.finish(), 0);
  EXPECT_EQ(sub.finish(), 0);
}

TEST_F(CorruptionTest, SubscriberMaskWithBitsOfFreeSlots) {
  Peer pub(name_.str()), sub(name_.str());
  pubsub(pub, sub, 40);
  auto c = core("c");
  // Bits for slots nobody holds (rings never formatted) and beyond the
  // channel's subscriber count: the publisher must deliver to the real
  // subscriber and skip the rest.
  c->ctl->subscriber_mask.fetch_or(~std::uint64_t{0} << 1);
  EXPECT_EQ(pub("send 50"), "ok");
  EXPECT_EQ(sub("recv"), "ok 40 intact");
  EXPECT_EQ(sub("recv"), "ok 50 intact");
  EXPECT_EQ(pub.finish(), 0);
  EXPECT_EQ(sub.finish(), 0);
}

TEST_F(CorruptionTest, PublishGuardLeftOddDoesNotHangDepartingSubscribers) {
  Peer pub(name_.str()), sub(name_.str());
  pubsub(pub, sub, 100);
  auto c = core("c");
  // "A publish is delivering" forever, while the publisher is alive: a
  // subscriber that leaves waits for it, but not forever.
  c->ctl->publish_guard.fetch_or(1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(sub.finish(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
  c->ctl->publish_guard.fetch_add(1);
  EXPECT_EQ(pub("send 10"), "ok");
  EXPECT_EQ(pub.finish(), 0);
}

TEST_F(CorruptionTest, EndpointSlotsOfADeadPublisherWithGarbageRecords) {
  Peer pub(name_.str()), sub(name_.str());
  pubsub(pub, sub, 5000);
  pub.kill();
  auto c = core("c");
  // The dead publisher's in-flight and eviction records point nowhere, or at
  // chunks that are not its: reclamation must only release what is valid
  // (the heap checks every reference) and must not crash.
  channel::EndpointSlot& s = c->pubs[0];
  s.inflight_offset = ~std::uint64_t{0} - 64;
  s.inflight_generation = 12345;
  s.inflight_pending.store(~std::uint64_t{0});
  s.inflight_id.store(0x7ffffff0);
  s.evict_offset = 64;
  s.evict_id.store(3);
  s.peer = 0xffffffff;  // a peer index out of range
  Peer other(name_.str());
  const auto r = other("reclaim");
  EXPECT_TRUE(starts_with(r, "ok")) << r;
  EXPECT_EQ(sub("recv"), "ok 5000 intact");
  // A new publisher takes the slot over.
  EXPECT_EQ(other("pub c"), "ok");
  EXPECT_EQ(other("send 6000"), "ok");
  EXPECT_EQ(sub("recv"), "ok 6000 intact");
  EXPECT_EQ(other.finish(), 0);
  EXPECT_EQ(sub.finish(), 0);
}

TEST_F(CorruptionTest, HeldRecordsOfADeadSubscriberPointAnywhere) {
  Peer pub(name_.str()), sub(name_.str());
  pubsub(pub, sub, 3000);
  ASSERT_EQ(sub("hold"), "ok 3000 intact");
  sub.kill();
  auto c = core("c");
  channel::HeldSlot* h = c->held_of(0);
  h[1].offset.store(123);
  h[1].generation.store(9);
  h[1].id.store(0xfffffffe);
  h[2].offset.store(header().data.offset);
  h[2].id.store(0);  // chunk 0 exists but is not this
  h[3].id.store(0x7fffffff);
  Peer other(name_.str());
  const auto r = other("reclaim");
  EXPECT_TRUE(starts_with(r, "ok")) << r;
  EXPECT_EQ(pub("send 70"), "ok");
  ASSERT_EQ(other("sub c"), "ok");
  EXPECT_EQ(pub("send 80"), "ok");
  EXPECT_EQ(other("recv"), "ok 80 intact");
  EXPECT_EQ(pub.finish(), 0);
  EXPECT_EQ(other.finish(), 0);
}

// -- rings and descriptors -----------------------------------------------------------------------

TEST_F(CorruptionTest, RingIndicesOutOfRange) {
  Peer pub(name_.str()), sub(name_.str());
  pubsub(pub, sub, 100);
  auto c = core("c");
  auto* rc = reinterpret_cast<ring::RingControl*>(c->ring(0));
  const std::uint64_t tail = rc->tail.value.load();
  rc->tail.value.store(tail + 1000);  // far beyond the capacity
  EXPECT_TRUE(is_error(sub("recv"), "corrupted", "spsc ring"));
  rc->tail.value.store(tail);
  EXPECT_EQ(sub("recv"), "ok 100 intact");
  // Head ahead of tail: the publisher notices when it next reads head (when
  // its cached view says the ring is full) and stops delivering to that
  // subscriber; the other subscriber gets every message.
  Peer other(name_.str());
  ASSERT_EQ(other("sub c"), "ok");
  const std::uint64_t head = rc->head.value.load();
  rc->head.value.store(head + 500);
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(pub("send 100"), "ok") << i;
    ASSERT_EQ(other("recv"), "ok 100 intact") << i;
  }
  rc->head.value.store(head);
  EXPECT_EQ(pub.finish(), 0);
  EXPECT_EQ(sub.finish(), 0);
  EXPECT_EQ(other.finish(), 0);
}

TEST_F(CorruptionTest, DescriptorsNamingNothing) {
  Peer pub(name_.str()), sub(name_.str());
  ASSERT_EQ(pub("pub c"), "ok");
  ASSERT_EQ(sub("sub c"), "ok");
  for (int i = 0; i < 4; ++i) ASSERT_EQ(pub("send 1000"), "ok");
  auto c = core("c");
  auto* rc = reinterpret_cast<ring::RingControl*>(c->ring(0));
  const std::uint64_t head = rc->head.value.load();
  auto slot = [&](std::uint64_t k) {
    return reinterpret_cast<ring::Descriptor*>(c->ring(0) + ring::kRingDataOffset +
                                               ((head + k) & (c->g.capacity - 1)) *
                                                   sizeof(ring::Descriptor));
  };
  slot(0)->offset = domain_->segment().size() + 4096;  // outside the segment
  slot(1)->generation ^= 0x5;                          // a stale generation
  slot(2)->flags = 0x00f0;                             // unknown ring flags
  EXPECT_TRUE(is_error(sub("recv"), "corrupted", "no live chunk"));
  EXPECT_TRUE(is_error(sub("recv"), "corrupted", "no live chunk"));
  EXPECT_TRUE(is_error(sub("recv"), "corrupted"));
  EXPECT_EQ(sub("recv"), "ok 1000 intact");  // the channel goes on
  ASSERT_EQ(pub("send 20"), "ok");           // inline
  slot(4)->length = 4000;                    // inline length beyond the inline area
  EXPECT_TRUE(is_error(sub("recv"), "corrupted", "inline"));
  ASSERT_EQ(pub("send 20"), "ok");
  EXPECT_EQ(sub("recv"), "ok 20 intact");
  EXPECT_EQ(pub.finish(), 0);
  EXPECT_EQ(sub.finish(), 0);
}

TEST_F(CorruptionTest, QueueCellSequences) {
  Peer tx(name_.str()), rx(name_.str());
  ASSERT_EQ(tx("tx q"), "ok");
  ASSERT_EQ(rx("rx q"), "ok");
  ASSERT_EQ(tx("send 500"), "ok");
  auto c = core("q");
  auto* rc = reinterpret_cast<ring::RingControl*>(c->ring(0));
  using Q = channel::QueueRing;
  const std::uint64_t head = rc->head.value.load();
  auto* seq = reinterpret_cast<std::atomic<std::uint64_t>*>(
      c->ring(0) + ring::kRingDataOffset + (head & (c->g.capacity - 1)) * Q::kCellStride);
  const std::uint64_t saved = seq->load();
  seq->store(head - 1000);  // more than a lap behind
  EXPECT_TRUE(is_error(rx("recv"), "corrupted", "mpmc ring"));
  seq->store(saved);
  EXPECT_EQ(rx("recv"), "ok 500 intact");
  EXPECT_EQ(tx.finish(), 0);
  EXPECT_EQ(rx.finish(), 0);
}

TEST_F(CorruptionTest, HistoryEntriesNamingNothing) {
  Peer pub(name_.str());
  ASSERT_EQ(pub("pub c"), "ok");
  for (int i = 0; i < 4; ++i) ASSERT_EQ(pub("send 2000"), "ok");
  auto c = core("c");
  auto& d0 = c->history[0].desc;
  d0.offset = 7;                                                  // misaligned, names nothing
  c->history[1].desc.flags = 0x00f0;                              // fails ring::check
  c->history[2].version.store(c->history[2].version.load() | 1);  // torn
  Peer late(name_.str());
  ASSERT_EQ(late("sub c 4"), "ok");
  // The one intact entry is replayed; the others are skipped.
  EXPECT_EQ(late("recv"), "ok 2000 intact");
  EXPECT_TRUE(is_error(late("recv"), "timed_out"));
  EXPECT_EQ(pub.finish(), 0);
  EXPECT_EQ(late.finish(), 0);
}

// -- chunk metadata and pools ----------------------------------------------------------------

TEST_F(CorruptionTest, ChunkControlWordOfAQueuedMessage) {
  Peer pub(name_.str()), sub(name_.str());
  pubsub(pub, sub, 3000);
  auto c = core("c");
  auto* rc = reinterpret_cast<ring::RingControl*>(c->ring(0));
  ring::Descriptor d;
  std::memcpy(
      &d,
      c->ring(0) + ring::kRingDataOffset + (rc->head.value.load() & (c->g.capacity - 1)) * sizeof d,
      sizeof d);
  ASSERT_FALSE(d.is_inline());
  auto& m = chunk_meta(d.tag);
  const std::uint64_t saved = m.control.load();
  m.control.store(0xdeadbeefdeadbeefULL);  // invalid state, owner, refs, generation
  EXPECT_TRUE(is_error(sub("recv"), "corrupted", "no live chunk"));
  m.control.store(saved);
  EXPECT_EQ(pub("send 64"), "ok");
  EXPECT_EQ(sub("recv"), "ok 64 intact");
  EXPECT_EQ(pub.finish(), 0);
  EXPECT_EQ(sub.finish(), 0);
}

TEST_F(CorruptionTest, PoolFreeListHead) {
  Peer pub(name_.str());
  ASSERT_EQ(pub("pub c"), "ok");
  auto* pools = reinterpret_cast<alloc::layout::PoolDesc*>(base() + header().heap.offset +
                                                           alloc::layout::kPoolTableOffset);
  auto& pool = pools[2];  // 1 KiB chunks
  const std::uint64_t saved = pool.head.load();
  pool.head.store((saved & ~std::uint64_t{0xffffffff}) | 0x00ffffffu);  // index outside the pool
  const auto a = pub("loan 1000");
  // The class reports corruption; the allocation may still be served by the
  // TLSF fallback, never by a chunk outside the pool.
  EXPECT_TRUE(a == "ok" || is_error(a, "corrupted")) << a;
  pool.head.store(saved);
  EXPECT_EQ(pub("send 1000"), "ok");
  EXPECT_EQ(pub.finish(), 0);
  auto audit = domain_->heap().audit(false);
  ASSERT_TRUE(audit) << audit.error().what();
}

TEST_F(CorruptionTest, EveryByteOfTheControlBlockFlippedInTurn) {
  // Exhaustive over the control block line by line: whatever a peer wrote
  // there, a new subscriber either attaches or gets a clear error, and the
  // existing publisher never crashes.
  Peer pub(name_.str());
  ASSERT_EQ(pub("pub c"), "ok");
  auto c = core("c");
  auto* bytes = reinterpret_cast<unsigned char*>(c->ctl);
  for (std::size_t off = 0; off < sizeof(channel::ChannelControl); off += 8) {
    if (off >= offsetof(channel::ChannelControl, publish_guard))
      break;  // counters: any value is legal
    const unsigned char saved = bytes[off];
    bytes[off] = static_cast<unsigned char>(saved ^ 0x41);
    Peer late(name_.str());
    const auto a = late("sub c");
    EXPECT_TRUE(a == "ok" || starts_with(a, "err corrupted") ||
                starts_with(a, "err config_mismatch"))
        << "byte " << off << ": " << a;
    EXPECT_EQ(late.finish(), 0) << "byte " << off;
    bytes[off] = saved;
  }
  EXPECT_EQ(pub("send 10"), "ok");
  EXPECT_EQ(pub.finish(), 0);
}

// -- after attach: the header rewritten, the object shrunk or replaced --------------------

TEST_F(CorruptionTest, HeaderGeometryRewrittenAfterAttachMovesNothing) {
  Peer pub(name_.str()), sub(name_.str());
  pubsub(pub, sub, 700);
  // What located the peer table and the registry, aimed far outside the
  // segment: attached peers read them once, at attach, and never again.
  header().peers.offset = ~std::uint64_t{0} - 4096;
  header().max_peers = 0xffffffffU;
  header().registry.offset = std::uint64_t{1} << 40;
  header().max_entries = 0x7fffffffU;
  EXPECT_EQ(sub("recv"), "ok 700 intact");
  EXPECT_EQ(pub("send 900"), "ok");
  EXPECT_EQ(sub("recv"), "ok 900 intact");
  const auto r = sub("reclaim");
  EXPECT_TRUE(starts_with(r, "ok")) << r;
  EXPECT_EQ(pub("pub d"), "ok");  // the registry, through the geometry read at attach
  Peer late(name_.str());
  EXPECT_TRUE(is_error(late.opened(), "corrupted", "checksum"));
  EXPECT_EQ(late.finish(), 0);
  EXPECT_EQ(pub.finish(), 0);
  EXPECT_EQ(sub.finish(), 0);
}

TEST_F(CorruptionTest, ShrunkUnderLivePeersGivesCorruptedNotSigbus) {
  Peer pub(name_.str()), sub(name_.str());
  pubsub(pub, sub, 5000);
  const std::uint64_t before = domain_->segment().size();
  ASSERT_EQ(::ftruncate(domain_->segment().fd(), 4096), 0);
  // Every access past the first page faults in every process; each peer
  // absorbs the fault and reports the domain corrupted.
  EXPECT_TRUE(is_error(sub("recv"), "corrupted", "shrank its shared memory"));
  EXPECT_TRUE(is_error(pub("send 100"), "corrupted", "shrank its shared memory"));
  EXPECT_TRUE(is_error(pub("send 10"), "corrupted"));  // inline messages too
  const auto r = sub("reclaim");
  EXPECT_TRUE(starts_with(r, "ok") || starts_with(r, "err ")) << r;
  Peer late(name_.str());
  EXPECT_TRUE(is_error(late.opened(), "corrupted")) << late.opened();
  EXPECT_EQ(late.finish(), 0);
  EXPECT_EQ(pub.finish(), 0);  // closing endpoints writes the vanished pages: no crash
  EXPECT_EQ(sub.finish(), 0);
  EXPECT_TRUE(domain_->segment().truncated() || domain_->segment().size() == before);
}

TEST_F(CorruptionTest, ReplacedUnderLivePeersTheyKeepTheirObject) {
  Peer pub(name_.str()), sub(name_.str());
  pubsub(pub, sub, 300);
  // Someone removes the name and puts a file of their own there.
  ASSERT_EQ(::shm_unlink(("/" + name_.str()).c_str()), 0);
  const int fd = ::shm_open(("/" + name_.str()).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  std::vector<std::uint8_t> junk(std::size_t{64} * 1024, 0xab);
  ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  ::close(fd);
  EXPECT_EQ(sub("recv"), "ok 300 intact");
  EXPECT_EQ(pub("send 400"), "ok");
  EXPECT_EQ(sub("recv"), "ok 400 intact");
  Peer late(name_.str());
  EXPECT_TRUE(is_error(late.opened(), "bad_magic", "not a sluice domain"));
  EXPECT_EQ(late.finish(), 0);
  EXPECT_EQ(pub.finish(), 0);
  EXPECT_EQ(sub.finish(), 0);
}

}  // namespace
}  // namespace sluice
