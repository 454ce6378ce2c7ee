#pragma once
// sluice::Domain: what applications open. A named shared-memory segment
// (layout::Domain) with its heap (alloc::Heap) inside, from which channels
// are created by name. Copies of a Domain share one attachment; channels
// keep it alive while they exist.
//
//   auto domain = sluice::Domain::open_or_create("robot");
//   auto pub = sluice::Publisher<Pose>::create(*domain, "pose");

#include <sluice/alloc/config.hpp>
#include <sluice/alloc/heap.hpp>
#include <sluice/base/result.hpp>
#include <sluice/layout/domain.hpp>

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
  std::chrono::milliseconds open_timeout{5000};
  bool populate = false;  // fault every page in at attach (avoids first-touch latency)
};

struct OpenOptions {
  std::chrono::milliseconds timeout{5000};
};

// What reclaim() returned for dead peers.
struct ReclaimSummary {
  std::uint32_t dead_peers = 0;
  std::uint32_t endpoints_closed = 0;  // publisher/subscriber slots of dead peers
  std::uint32_t references_released = 0;  // queued and held samples of dead subscribers
  std::uint32_t chunks_freed = 0;      // loans of dead publishers
  std::uint32_t chunks_orphaned = 0;   // published chunks whose owner died (holders keep them)
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
  static Result<void> remove(std::string_view name) { return layout::Domain::remove(name); }

  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] layout::Domain& segment() const noexcept;
  [[nodiscard]] alloc::Heap& heap() const noexcept;
  // This process's peer index (chunk owner id).
  [[nodiscard]] alloc::PeerIndex peer() const noexcept;

  // Finds peers whose process died and returns everything they held:
  // endpoint slots, queued and held samples, loans, the peer slot. Runs on
  // demand, and by channels when a wait times out. Safe to call any time
  // from any attached process.
  Result<ReclaimSummary> reclaim();

  struct State;
  [[nodiscard]] const std::shared_ptr<State>& state() const noexcept { return state_; }

 private:
  explicit Domain(std::shared_ptr<State> s) : state_(std::move(s)) {}
  static Result<Domain> attach_heap(layout::Domain segment);
  std::shared_ptr<State> state_;
};

// The domain-level heap geometry a config needs (for plan/inspect).
Result<layout::DomainOptions> segment_options(const DomainOptions& options);

}  // namespace sluice
