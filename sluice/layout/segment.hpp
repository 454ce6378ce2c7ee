#pragma once
// Segment: a named shared-memory segment that processes create or attach to,
// with no broker. The first process creates it (O_CREAT|O_EXCL, mode 0600
// unless asked otherwise) and formats it while holding an exclusive flock on
// the object; the others wait for `ready` with an explicit timeout. The
// kernel drops the flock when the creator dies, which is how an attacher
// tells "still initialising" from "the creator died": a creator that died
// mid-initialisation is recovered by the next open_or_create, which
// re-initialises the segment in place with a new generation.
//
// Threading: a Segment object may be used from several threads; registry
// operations serialise on the in-segment robust mutex.

#include <sluice/base/result.hpp>
#include <sluice/layout/segment_layout.hpp>
#include <sluice/os/mapping.hpp>
#include <sluice/os/process.hpp>
#include <sluice/os/shm.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::layout {

class Segment;

// Formats the heap and data sections; called by the initialising process
// before the domain becomes ready. The layers above (alloc) provide it.
using SectionFormatter = std::function<Result<void>(Segment&)>;

struct SegmentOptions {
  std::uint32_t max_peers = 64;
  std::uint32_t max_entries = 128;
  std::uint64_t heap_bytes = 0;  // allocator metadata section
  std::uint64_t data_bytes = 0;  // payload area
  SectionFormatter format_sections;
  mode_t mode = 0600;
  os::ShmTrust trust{};                          // owners accepted when the segment exists already
  std::chrono::milliseconds open_timeout{5000};  // wait for `ready`
  bool populate = false;                         // MAP_POPULATE the mapping
  bool attach_as_peer = true;                    // take a peer slot
  // Keep the domain in /dev/shm when its last peer detaches (cleanly). By
  // default the last one out removes it; peers that die leave it to
  // `sluice gc`.
  bool persistent = false;
};

struct SegmentOpenOptions {
  std::chrono::milliseconds timeout{5000};
  // The widest permission bits accepted, and the owners trusted besides
  // this user: a segment beyond them is refused (untrusted). Read-only
  // inspection (tools) checks nothing.
  mode_t mode = 0600;
  os::ShmTrust trust{};
  bool read_only = false;  // map read-only (inspection); implies no peer slot
  bool attach_as_peer = true;
};

// Segment sizes that follow from options; all offsets page-aligned.
struct SegmentPlan {
  Section peers, registry, heap, data;
  std::uint64_t total;
};
Result<SegmentPlan> plan_segment(const SegmentOptions& options);

// A peer as seen from the table (for tools and reclamation).
struct PeerInfo {
  std::uint32_t index;
  PeerState state;
  os::ProcessIdentity identity;
  std::uint64_t epoch;
  std::uint64_t attach_unix_ns;
  bool alive;  // liveness checked now
};

struct EntryInfo {
  std::uint32_t index;
  std::uint32_t generation;
  std::string name;
  EntryConfig config;
  std::uint64_t control_offset;
  std::uint64_t control_size;
  std::uint32_t refs;
  std::int32_t creator_pid;
  std::uint64_t created_unix_ns;
};

// What locates the sections and tables of a segment: read from the header
// once, when the segment is attached (or formatted), checked, and kept in
// the process. Nothing re-reads it from shared memory afterwards, so a
// peer that scribbles over the header after attach can at worst make the
// domain report itself corrupted (header checksum), never move a table.
struct SegmentGeometry {
  std::uint64_t segment_size = 0;
  std::uint64_t generation = 0;
  std::uint32_t max_peers = 0;
  std::uint32_t max_entries = 0;
  Section peers{}, registry{}, heap{}, data{};
  bool persistent = false;
};

// How a registry create-or-attach went.
struct EntryRef {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;
  std::uint64_t control_offset = 0;
  std::uint64_t control_size = 0;
  bool created = false;
  EntryConfig config{};  // the entry's configuration (the existing one when attached)
};

// Formats an entry's control block; runs under the registry lock. Returns
// (offset, size) of the block it allocated in the segment.
using ControlFormatter = std::function<Result<Section>(Segment&)>;

// Decides whether an endpoint may attach to an entry that exists with the
// configuration given (the caller's requirements); runs under the registry
// lock. Its error is returned as it is.
using ConfigCheck = std::function<Result<void>(const EntryConfig& existing)>;

class Segment {
 public:
  static Result<Segment> create(std::string_view name, const SegmentOptions& options);
  static Result<Segment> open(std::string_view name, const SegmentOpenOptions& options = {});
  static Result<Segment> open_or_create(std::string_view name, const SegmentOptions& options);
  // Removes the name; processes attached keep their mapping.
  static Result<void> remove(std::string_view name);

  // An empty handle, attached to nothing (assign one from create/open).
  Segment() = default;
  Segment(Segment&&) noexcept;
  Segment& operator=(Segment&&) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] std::byte* base() const noexcept { return map_.data(); }
  [[nodiscard]] std::uint64_t size() const noexcept { return map_.size(); }
  // The shared header: only its mutable fields (init state, epochs, the
  // registry lock) are for use after attach; sizes and sections come from
  // geometry().
  [[nodiscard]] const SegmentHeader& header() const noexcept { return *header_; }
  [[nodiscard]] SegmentHeader& header() noexcept { return *header_; }
  // Sections and table sizes as validated at attach (process-local).
  [[nodiscard]] const SegmentGeometry& geometry() const noexcept { return geo_; }
  [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }
  [[nodiscard]] bool created() const noexcept { return created_; }
  // This process's peer slot, if attached as a peer.
  [[nodiscard]] std::optional<std::uint32_t> peer_index() const noexcept { return peer_; }
  [[nodiscard]] std::uint64_t peer_epoch() const noexcept { return peer_epoch_; }
  [[nodiscard]] int fd() const noexcept { return shm_.fd(); }

  // Bounds-checked access to a shared object at `offset`, validated against
  // the segment (alignment and size); corrupted if it does not fit.
  template <typename T>
  Result<T*> at(std::uint64_t offset, std::uint64_t count = 1) const {
    if (offset % alignof(T) != 0 || count > map_.size() / sizeof(T) ||
        !fits(offset, count * sizeof(T), map_.size()))
      return fail(Errc::corrupted,
                  "domain '{}': object at offset {} ({} x {} bytes) is outside the segment", name_,
                  offset, count, sizeof(T));
    return reinterpret_cast<T*>(map_.data() + offset);
  }

  // -- peers --
  [[nodiscard]] std::vector<PeerInfo> peers() const;
  // Slot of a peer, validated; nullptr if out of range.
  [[nodiscard]] PeerSlot* peer_slot(std::uint32_t index) const noexcept;
  // Peers whose process is dead (pid gone or reused) but whose slot is not
  // free: candidates for reclamation.
  [[nodiscard]] std::vector<std::uint32_t> dead_peers() const;
  // Marks a dead peer's slot free again, after the layers above returned what
  // it held. Fails if the peer is alive.
  Result<void> release_peer_slot(std::uint32_t index);

  // -- registry (cold path: takes the in-segment robust lock) --
  // Creates `name` with `config` (running `format` to build its control
  // block) or attaches to the existing entry; a different config is
  // config_mismatch. Two processes creating the same name at once end with
  // one entry. Increments the entry's reference count.
  // With `accept`, an existing entry is attached when accept(its config)
  // succeeds (the caller adopts that configuration) instead of requiring
  // `config` byte for byte.
  Result<EntryRef> registry_create_or_attach(std::string_view name, const EntryConfig& config,
                                             const ControlFormatter& format,
                                             const ConfigCheck& accept = nullptr);
  Result<EntryRef> registry_attach(std::string_view name);
  // Drops a reference taken by create_or_attach/attach. When it was the
  // last one and `free_if_unused` (run under the registry lock) agrees, the
  // entry is freed and its control block returned for the caller to
  // release; a later create of the name gets a new generation, so a stale
  // EntryRef never matches it.
  using UnusedCheck = std::function<bool()>;
  Result<std::optional<Section>> registry_detach(const EntryRef& ref,
                                                 const UnusedCheck& free_if_unused = nullptr);
  // Frees the entry when no reference is left and `free_if_unused` agrees
  // (after the references of dead holders were dropped by reclamation).
  Result<std::optional<Section>> registry_free_if_unused(const EntryRef& ref,
                                                         const UnusedCheck& free_if_unused);
  // Removes an entry; returns its control block so the caller can free it.
  Result<Section> registry_remove(std::string_view name);
  [[nodiscard]] Result<std::vector<EntryInfo>> registry_list() const;

  // Checks the header against the segment (magic, version, sizes, sections,
  // checksum). Used at attach and by tools; cheap.
  Result<void> validate() const;
  // Also checks that the header still says what it said at attach.
  Result<void> check_unchanged() const;
  // Another process shrank the object under this mapping (SIGBUS absorbed,
  // see os::MapOptions::guard_truncation). One relaxed load.
  [[nodiscard]] bool truncated() const noexcept { return map_.truncated(); }
  // The corrupted error for a truncated segment (names the sizes).
  [[nodiscard]] Error truncation_error() const;

 private:
  static Result<Segment> open_existing(std::string_view name, const SegmentOpenOptions& options,
                                       const SegmentOptions* recover_with);
  Result<void> format(const SegmentOptions& options, const SegmentPlan& plan);
  Result<void> attach_peer();
  void detach_peer() noexcept;
  void remove_if_last() noexcept;
  void snapshot_geometry() noexcept;
  Result<std::uint32_t> find_entry_locked(std::string_view name) const;
  Result<std::optional<Section>> detach_locked(const EntryRef& ref, bool drop,
                                               const UnusedCheck& free_if_unused);
  Result<void> repair_registry_locked();

  std::string name_;
  os::ShmObject shm_;
  os::Mapping map_;
  SegmentHeader* header_ = nullptr;
  SegmentGeometry geo_;
  std::uint64_t generation_ = 0;
  std::optional<std::uint32_t> peer_;
  std::uint64_t peer_epoch_ = 0;
  bool created_ = false;
};

const char* to_string(InitState s) noexcept;
const char* to_string(PeerState s) noexcept;

}  // namespace sluice::layout
