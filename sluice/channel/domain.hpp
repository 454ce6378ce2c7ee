#pragma once
// sluice::Domain: what applications open. A named shared-memory segment
// (layout::Segment) with its heap (alloc::Heap) inside, from which channels
// are created by name. Copies of a Domain share one attachment; channels
// keep it alive while they exist.
//
//   auto domain = sluice::Domain::open_or_create("robot");
//   auto pub = sluice::Publisher<Pose>::create(*domain, "pose");

#include <sluice/alloc/config.hpp>
#include <sluice/alloc/heap.hpp>
#include <sluice/base/result.hpp>
#include <sluice/layout/segment.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct DomainOptions {
  alloc::HeapConfig heap = alloc::HeapConfig::defaults();
  std::uint32_t max_peers = 64;
  std::uint32_t max_channels = 128;
  mode_t mode = 0600;
  // An existing domain is attached only when this user owns it (or an owner
  // trusted here does) and its mode is within `mode`; otherwise untrusted.
  os::ShmTrust trust{};
  std::chrono::milliseconds open_timeout{5000};
  bool populate = false;  // fault every page in at attach (avoids first-touch latency)
  // Keep the domain when its last process detaches. By default the last
  // one out removes it (queued messages with it); a domain left by
  // processes that died is removed by `sluice gc`.
  bool persistent = false;
};

struct OpenOptions {
  std::chrono::milliseconds timeout{5000};
  mode_t mode = 0600;    // the widest permission bits accepted
  os::ShmTrust trust{};  // owners trusted besides this user
};

// What reclaim() returned for dead peers.
struct ReclaimSummary {
  std::uint32_t dead_peers = 0;
  std::uint32_t endpoints_closed = 0;     // publisher/subscriber slots of dead peers
  std::uint32_t references_released = 0;  // queued and held samples of dead subscribers
  std::uint32_t chunks_freed = 0;         // loans of dead publishers
  std::uint32_t chunks_orphaned = 0;      // published chunks whose owner died (holders keep them)
  std::uint32_t channels_skipped = 0;  // channels (or the registry) failing validation: not walked
};

// What sweep() found and returned.
struct SweepReport {
  std::uint32_t references_recovered = 0;  // references no holder records, dropped
  std::uint32_t chunks_freed =
      0;  // chunks that dropping them freed (incl. loans of departed peers)
  std::uint32_t lost_chunks_relisted = 0;  // pool chunks free but on no free list (Heap::audit)
  std::uint32_t records_cleared =
      0;  // held records of closed subscribers, registry reference counts
  // Holders that name a chunk with fewer references than holders (a double
  // release happened somewhere): reported, never "repaired".
  std::vector<std::string> problems;
};

namespace channel {
class ChannelCore;
}

class Domain {
 public:
  static Result<Domain> create(std::string_view name, const DomainOptions& options = {});
  static Result<Domain> open(std::string_view name, const OpenOptions& options = {});
  static Result<Domain> open_or_create(std::string_view name, const DomainOptions& options = {});
  // Removes the name (attached processes keep their mapping).
  static Result<void> remove(std::string_view name) { return layout::Segment::remove(name); }

  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] layout::Segment& segment() const noexcept;
  [[nodiscard]] alloc::Heap& heap() const noexcept;
  // This process's peer index (chunk owner id).
  [[nodiscard]] alloc::PeerIndex peer() const noexcept;

  // Finds peers whose process died and returns everything they held:
  // endpoint slots, queued and held samples, loans, the peer slot. Runs on
  // demand, and by channels when a wait times out. Safe to call any time
  // from any attached process.
  Result<ReclaimSummary> reclaim();

  // Recovers what no live process can release any more: references left by a
  // process killed inside one of the few-instruction windows that reclaim()
  // cannot judge (docs/crash-safety.md lists them), loans of peers that are
  // gone, pool chunks off every free list. It recounts the holders of every
  // chunk (control blocks, queued descriptors, history) and drops the
  // references beyond them. Exact only on an idle domain, so it runs reclaim()
  // first and then refuses (Errc::invalid_argument) while another live peer
  // is attached or any endpoint is open, this process's included; other
  // threads of this process must not loan or allocate meanwhile. Cold path,
  // O(chunks + channels); `sluice gc` and the crash tests use it.
  Result<SweepReport> sweep();

  struct State;
  [[nodiscard]] const std::shared_ptr<State>& state() const noexcept { return state_; }

 private:
  explicit Domain(std::shared_ptr<State> s) : state_(std::move(s)) {}
  static Result<Domain> attach_heap(layout::Segment segment);
  // The peer table was full: attaches without a slot, reclaims what dead
  // peers held and frees their slots (so the caller's retry finds one).
  static Result<void> reclaim_to_attach(std::string_view name, layout::SegmentOpenOptions oo,
                                        const Error& full);
  std::shared_ptr<State> state_;
};

// The domain-level heap geometry a config needs (for plan/inspect).
Result<layout::SegmentOptions> segment_options(const DomainOptions& options);

}  // namespace sluice
