#include <sluice/layout/segment.hpp>

#include <sluice/base/internal/crash_point.hpp>
#include <sluice/os/clock.hpp>
#include <sluice/os/futex.hpp>

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

namespace sluice::layout {
namespace {

using namespace std::chrono_literals;

constexpr const char* kShmDir = "/dev/shm";  // where glibc's shm_open keeps objects

std::uint64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string bare_name(std::string_view name) {
  return std::string(!name.empty() && name.front() == '/' ? name.substr(1) : name);
}

std::uint64_t fresh_generation() noexcept {
  // Distinct across re-initialisations: time, pid and a per-process counter.
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x = os::monotonic_ns() ^ (static_cast<std::uint64_t>(::getpid()) << 40) ^
                    (counter.fetch_add(1) * 0x9e3779b97f4a7c15ULL);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x == 0 ? 1 : x;
}

}  // namespace

const char* to_string(InitState s) noexcept {
  switch (s) {
    case InitState::empty:
      return "empty";
    case InitState::initialising:
      return "initialising";
    case InitState::ready:
      return "ready";
    case InitState::corrupted:
      return "corrupted";
  }
  return "invalid";
}

const char* to_string(PeerState s) noexcept {
  switch (s) {
    case PeerState::free:
      return "free";
    case PeerState::attaching:
      return "attaching";
    case PeerState::alive:
      return "alive";
    case PeerState::reclaiming:
      return "reclaiming";
  }
  return "invalid";
}

std::uint64_t header_checksum(const SegmentHeader& h) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(&h);
  std::uint64_t x = 0xcbf29ce484222325ULL;
  auto add = [&x, p](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      x ^= p[i];
      x *= 0x100000001b3ULL;
    }
  };
  add(0, offsetof(SegmentHeader, checksum));
  add(offsetof(SegmentHeader, flags), offsetof(SegmentHeader, init_state));
  return x;
}

Result<SegmentPlan> plan_segment(const SegmentOptions& o) {
  if (o.max_peers == 0 || o.max_peers > kMaxPeers)
    return fail(Errc::invalid_argument, "max_peers {} must be 1..{}", o.max_peers, kMaxPeers);
  if (o.max_entries == 0 || o.max_entries > kMaxEntries)
    return fail(Errc::invalid_argument, "max_entries {} must be 1..{}", o.max_entries, kMaxEntries);
  if (o.heap_bytes > (1ULL << 46) || o.data_bytes > (1ULL << 46))
    return fail(Errc::invalid_argument, "heap {} / data {} bytes exceed 64 TiB", o.heap_bytes,
                o.data_bytes);
  SegmentPlan p{};
  std::uint64_t at = kHeaderSize;
  auto place = [&at](std::uint64_t bytes) {
    Section s{at, align_up(bytes, kPageSize)};
    at += s.size;
    return s;
  };
  p.peers = place(std::uint64_t{o.max_peers} * sizeof(PeerSlot));
  p.registry = place(std::uint64_t{o.max_entries} * sizeof(RegistryEntry));
  p.heap = place(o.heap_bytes);
  p.data = place(o.data_bytes);
  p.total = at;
  return p;
}

Segment::Segment(Segment&& o) noexcept
    : name_(std::move(o.name_)),
      shm_(std::move(o.shm_)),
      map_(std::move(o.map_)),
      header_(o.header_),
      geo_(o.geo_),
      generation_(o.generation_),
      peer_(o.peer_),
      peer_epoch_(o.peer_epoch_),
      created_(o.created_) {
  o.header_ = nullptr;
  o.peer_.reset();
}

Segment& Segment::operator=(Segment&& o) noexcept {
  if (this != &o) {
    detach_peer();
    name_ = std::move(o.name_);
    shm_ = std::move(o.shm_);
    map_ = std::move(o.map_);
    header_ = o.header_;
    geo_ = o.geo_;
    generation_ = o.generation_;
    peer_ = o.peer_;
    peer_epoch_ = o.peer_epoch_;
    created_ = o.created_;
    o.header_ = nullptr;
    o.peer_.reset();
  }
  return *this;
}

Segment::~Segment() { detach_peer(); }

// -- creation ---------------------------------------------------------------
//
// The creator formats the segment under a private temporary name and then
// publishes it with link(2), which fails with EEXIST if the name is taken.
// So an attacher never maps a half-formatted domain, two creators racing on
// one name end with one domain, and a creator killed mid-initialisation
// leaves only its temporary object (removed by `sluice gc`), never a name
// that blocks a fresh start.

Result<void> Segment::format(const SegmentOptions& options, const SegmentPlan& plan) {
  auto& h = *header_;
  // The object is fresh from ftruncate: all zero. Claim it first, so anyone
  // who finds it mid-way knows who is initialising.
  h.init_pid = ::getpid();
  h.init_start_time = os::self_identity().start_time;
  h.init_state.store(static_cast<std::uint32_t>(InitState::initialising),
                     std::memory_order_release);

  h.magic = kDomainMagic;
  h.layout_version = kLayoutVersion;
  h.header_size = kHeaderSize;
  h.segment_size = plan.total;
  h.generation = fresh_generation();
  h.created_unix_ns = realtime_ns();
  h.max_peers = options.max_peers;
  h.max_entries = options.max_entries;
  h.peers = plan.peers;
  h.registry = plan.registry;
  h.heap = plan.heap;
  h.data = plan.data;
  h.flags = options.persistent ? kSegmentPersistent : 0;
  h.checksum = header_checksum(h);
  SLUICE_TRY(os::robust_mutex_init(h.registry_lock));
  generation_ = h.generation;
  snapshot_geometry();
  SLUICE_CRASH_POINT("domain.init.formatting");  // header written, sections not yet
  if (options.format_sections) {
    if (auto r = options.format_sections(*this); !r)
      return fail(r.error().context(fmt::format("format sections of '{}'", name_)));
  }
  // SYNC: this release store publishes every byte written above; attachers
  // observe it with the acquire load in open_existing().
  h.init_state.store(static_cast<std::uint32_t>(InitState::ready), std::memory_order_release);
  os::futex_wake_all(h.init_state);
  return ok();
}

Result<Segment> Segment::create(std::string_view name, const SegmentOptions& options) {
  SLUICE_TRY(os::validate_shm_name(name));
  SLUICE_TRY_ASSIGN(const SegmentPlan plan, plan_segment(options));
  static std::atomic<std::uint32_t> counter{0};
  const std::string bare = bare_name(name);
  const std::string tmp = fmt::format("{}.init-{}-{}", bare, ::getpid(), counter.fetch_add(1));

  // Every page of the object may be written: an object larger than what
  // /dev/shm can hold would fail later, one page fault at a time.
  if (struct statvfs fs{}; ::statvfs(kShmDir, &fs) == 0) {
    const std::uint64_t avail = std::uint64_t{fs.f_bavail} * fs.f_frsize;
    if (plan.total > avail)
      return fail(Errc::out_of_memory,
                  "create domain '{}': it needs {} bytes of shared memory and {} has {} free (of "
                  "{}); ask for smaller sizes or enlarge {}",
                  bare, plan.total, kShmDir, avail, std::uint64_t{fs.f_blocks} * fs.f_frsize,
                  kShmDir);
  }
  Segment d;
  d.name_ = bare;
  SLUICE_TRY_ASSIGN(d.shm_, os::ShmObject::create(tmp, plan.total, options.mode));
  auto cleanup_tmp = [&tmp] { ::shm_unlink(os::shm_path(tmp).c_str()); };
  auto mapped =
      os::Mapping::map(d.shm_.fd(), plan.total,
                       os::MapOptions{.populate = options.populate, .guard_truncation = true});
  if (!mapped) {
    cleanup_tmp();
    return fail(mapped.error().context(fmt::format("create domain '{}'", bare)));
  }
  d.map_ = std::move(mapped).value();
  d.header_ = reinterpret_cast<SegmentHeader*>(d.map_.data());
  if (auto r = d.format(options, plan); !r) {
    cleanup_tmp();
    return fail(r.error());
  }
  const std::string from = fmt::format("{}/{}", kShmDir, tmp);
  const std::string to = fmt::format("{}/{}", kShmDir, bare);
  if (::link(from.c_str(), to.c_str()) != 0) {
    const int err = errno;
    cleanup_tmp();
    if (err == EEXIST)
      return fail(Errc::already_exists, "create domain '{}': it already exists", bare);
    return fail(Error::from_errno(err, fmt::format("create domain '{}': link {}", bare, to)));
  }
  cleanup_tmp();
  d.created_ = true;
  if (options.attach_as_peer) SLUICE_TRY(d.attach_peer());
  return d;
}

// -- attaching ----------------------------------------------------------------

Result<Segment> Segment::open(std::string_view name, const SegmentOpenOptions& options) {
  return open_existing(name, options, nullptr);
}

Result<Segment> Segment::open_existing(std::string_view name, const SegmentOpenOptions& options,
                                       const SegmentOptions* recover_with) {
  SLUICE_TRY(os::validate_shm_name(name));
  const std::string bare = bare_name(name);
  const auto ctx = [&bare](const Error& e) {
    return e.context(fmt::format("open domain '{}'", bare));
  };

  Segment d;
  d.name_ = bare;
  auto obj = os::ShmObject::open(bare, options.read_only);
  if (!obj) {
    if (obj.error().code() == Errc::not_found)
      return fail(Errc::not_found, "open domain '{}': no such domain", bare);
    return fail(ctx(obj.error()));
  }
  d.shm_ = std::move(obj).value();
  SLUICE_TRY_ASSIGN(const os::ShmStat st, d.shm_.stat());
  // fstat of the fd we hold, never of the path: what we check is what we map.
  if (!options.read_only)
    SLUICE_TRY(
        os::check_trusted(st, fmt::format("domain '{}'", bare), options.mode, options.trust));
  if (st.size < kHeaderSize)
    return fail(Errc::corrupted,
                "open domain '{}': object is {} bytes, smaller than a domain header ({})", bare,
                st.size, kHeaderSize);
  auto mapped =
      os::Mapping::map(d.shm_.fd(), st.size,
                       os::MapOptions{.writable = !options.read_only, .guard_truncation = true});
  if (!mapped) return fail(ctx(mapped.error()));
  d.map_ = std::move(mapped).value();
  d.header_ = reinterpret_cast<SegmentHeader*>(d.map_.data());
  auto& h = *d.header_;

  if (h.magic != kDomainMagic)
    return fail(Errc::bad_magic, "open domain '{}': not a sluice domain (magic {:#018x})", bare,
                h.magic);
  if (h.layout_version != kLayoutVersion)
    return fail(Errc::version_mismatch, "open domain '{}': layout version {}, expected {}", bare,
                h.layout_version, kLayoutVersion);

  // Wait for `ready`. SYNC: this acquire load pairs with the release store
  // at the end of format(); once it reads `ready`, the whole format is visible.
  const auto deadline = os::Deadline::after(options.timeout);
  for (;;) {
    const std::uint32_t s = h.init_state.load(std::memory_order_acquire);
    if (s == static_cast<std::uint32_t>(InitState::ready)) break;
    if (s == static_cast<std::uint32_t>(InitState::corrupted))
      return fail(Errc::corrupted,
                  "open domain '{}': marked corrupted; remove it with `sluice rm {}`", bare, bare);
    if (s != static_cast<std::uint32_t>(InitState::initialising) &&
        s != static_cast<std::uint32_t>(InitState::empty))
      return fail(Errc::corrupted, "open domain '{}': invalid init state {}", bare, s);
    const os::ProcessIdentity initialiser{h.init_pid, h.init_start_time};
    if (s == static_cast<std::uint32_t>(InitState::empty) ||
        os::check_liveness(initialiser) == os::Liveness::dead) {
      // Domains are published only once ready (see create), so this object
      // was left by a creator that died while formatting it in place.
      if (!recover_with)
        return fail(Errc::creator_died,
                    "open domain '{}': its creator (pid {}) died during initialisation; "
                    "open_or_create recovers it, or remove it with `sluice rm {}`",
                    bare, h.init_pid, bare);
      // Re-initialise in place under an exclusive flock: one recoverer wins;
      // the others wait on the lock and then find it ready.
      if (options.read_only)
        return fail(Errc::creator_died, "open domain '{}': creator died", bare);
      if (::flock(d.shm_.fd(), LOCK_EX) != 0) return fail(ctx(Error::from_errno(errno, "flock")));
      if (h.init_state.load(std::memory_order_acquire) !=
          static_cast<std::uint32_t>(InitState::ready)) {
        SLUICE_TRY_ASSIGN(const SegmentPlan plan, plan_segment(*recover_with));
        SLUICE_TRY(d.shm_.truncate(plan.total));
        d.map_ = os::Mapping();
        SLUICE_TRY_ASSIGN(d.map_, os::Mapping::map(d.shm_.fd(), plan.total,
                                                   os::MapOptions{.guard_truncation = true}));
        d.header_ = reinterpret_cast<SegmentHeader*>(d.map_.data());
        std::memset(d.map_.data(), 0, plan.total);
        auto r = d.format(*recover_with, plan);
        ::flock(d.shm_.fd(), LOCK_UN);
        SLUICE_TRY(r);
        d.created_ = true;
      } else {
        ::flock(d.shm_.fd(), LOCK_UN);
      }
      break;
    }
    if (deadline.expired())
      return fail(Errc::timed_out,
                  "open domain '{}': not ready after {} ms (initialising by pid {})", bare,
                  options.timeout.count(), h.init_pid);
    // Sleep until the creator's wake (or 10 ms, to re-check its liveness).
    (void)os::futex_wait(h.init_state, s,
                         std::min<std::chrono::nanoseconds>(deadline.remaining(), 10ms));
  }
  d.header_ = reinterpret_cast<SegmentHeader*>(d.map_.data());
  SLUICE_TRY(d.validate());
  d.snapshot_geometry();
  d.generation_ = d.geo_.generation;
  if (options.attach_as_peer && !options.read_only) {
    // The last peer out removes a domain (unless persistent) under an
    // exclusive flock; attaching under a shared one means it either sees
    // our slot or has unlinked the name before we looked again below.
    if (::flock(d.shm_.fd(), LOCK_SH) != 0) return fail(ctx(Error::from_errno(errno, "flock")));
    auto attached = d.attach_peer();
    ::flock(d.shm_.fd(), LOCK_UN);
    SLUICE_TRY(attached);
    auto now = os::stat_name(bare);
    if (!now || now->inode != st.inode || now->device != st.device) {
      d.detach_peer();
      return fail(Errc::not_found, "open domain '{}': it was removed while this process attached",
                  bare);
    }
  }
  return d;
}

Result<Segment> Segment::open_or_create(std::string_view name, const SegmentOptions& options) {
  const auto deadline = os::Deadline::after(options.open_timeout);
  SegmentOpenOptions oo;
  oo.timeout = options.open_timeout;
  oo.attach_as_peer = options.attach_as_peer;
  oo.mode = options.mode;
  oo.trust = options.trust;
  for (;;) {
    auto opened = open_existing(name, oo, &options);
    if (opened || opened.error().code() != Errc::not_found) return opened;
    auto created = create(name, options);
    if (created || created.error().code() != Errc::already_exists) return created;
    // Lost the race to another creator between our open and create: open it.
    if (deadline.expired())
      return fail(Errc::timed_out, "open_or_create domain '{}': gave up after {} ms",
                  bare_name(name), options.open_timeout.count());
  }
}

Result<void> Segment::remove(std::string_view name) {
  auto r = os::ShmObject::unlink(name);
  if (!r && r.error().code() == Errc::not_found)
    return fail(Errc::not_found, "remove domain '{}': no such domain", bare_name(name));
  return r;
}

Result<void> Segment::validate() const {
  const auto& h = *header_;
  const std::uint64_t size = map_.size();
  auto bad = [this](std::string_view what) {
    return fail(Errc::corrupted, "domain '{}' is corrupted: {}", name_, what);
  };
  if (h.magic != kDomainMagic) return bad("bad magic");
  if (h.layout_version != kLayoutVersion)
    return fail(Errc::version_mismatch, "domain '{}': layout version {}, expected {}", name_,
                h.layout_version, kLayoutVersion);
  if (h.header_size != kHeaderSize)
    return bad(fmt::format("header size {}, expected {}", h.header_size, kHeaderSize));
  if (h.checksum != header_checksum(h))
    return bad("header checksum mismatch (header was overwritten)");
  if (h.segment_size != size)
    return bad(fmt::format("header says {} bytes, the object has {} (truncated or resized)",
                           h.segment_size, size));
  if ((h.flags & ~kSegmentPersistent) != 0) return bad(fmt::format("unknown flags {:#x}", h.flags));
  if (h.max_peers == 0 || h.max_peers > kMaxPeers)
    return bad(fmt::format("max_peers {}", h.max_peers));
  if (h.max_entries == 0 || h.max_entries > kMaxEntries)
    return bad(fmt::format("max_entries {}", h.max_entries));
  // Sections: in order, page-aligned, inside the segment, not overlapping.
  const Section secs[] = {h.peers, h.registry, h.heap, h.data};
  const char* names[] = {"peers", "registry", "heap", "data"};
  std::uint64_t end = kHeaderSize;
  for (int i = 0; i < 4; ++i) {
    if (secs[i].offset % kPageSize != 0 || secs[i].offset < end ||
        !fits(secs[i].offset, secs[i].size, size))
      return bad(
          fmt::format("section {} [{}, +{}) is misplaced", names[i], secs[i].offset, secs[i].size));
    end = secs[i].offset + secs[i].size;
  }
  if (h.peers.size < std::uint64_t{h.max_peers} * sizeof(PeerSlot))
    return bad("peer section too small");
  if (h.registry.size < std::uint64_t{h.max_entries} * sizeof(RegistryEntry))
    return bad("registry section too small");
  return ok();
}

void Segment::snapshot_geometry() noexcept {
  const auto& h = *header_;
  geo_.segment_size = map_.size();
  geo_.generation = h.generation;
  geo_.max_peers = h.max_peers;
  geo_.max_entries = h.max_entries;
  geo_.peers = h.peers;
  geo_.registry = h.registry;
  geo_.heap = h.heap;
  geo_.data = h.data;
  geo_.persistent = (h.flags & kSegmentPersistent) != 0;
}

Error Segment::truncation_error() const {
  std::uint64_t now = 0;
  if (auto st = shm_.stat()) now = st->size;
  return {Errc::corrupted,
          fmt::format("domain '{}' is corrupted: another process shrank its shared memory "
                      "from {} to {} bytes (the part that vanished reads as zeros here)",
                      name_, map_.size(), now)};
}

Result<void> Segment::check_unchanged() const {
  if (truncated()) return fail(truncation_error());
  SLUICE_TRY(validate());
  const auto& h = *header_;
  if (h.generation != geo_.generation || h.max_peers != geo_.max_peers ||
      h.max_entries != geo_.max_entries || h.peers.offset != geo_.peers.offset ||
      h.registry.offset != geo_.registry.offset || h.heap.offset != geo_.heap.offset ||
      h.data.offset != geo_.data.offset || h.data.size != geo_.data.size)
    return fail(Errc::corrupted, "domain '{}' is corrupted: its header changed after attach",
                name_);
  return ok();
}

// -- peers ----------------------------------------------------------------------

PeerSlot* Segment::peer_slot(std::uint32_t index) const noexcept {
  if (!header_ || index >= geo_.max_peers) return nullptr;
  return reinterpret_cast<PeerSlot*>(map_.data() + geo_.peers.offset) + index;
}

Result<void> Segment::attach_peer() {
  const auto self = os::self_identity();
  auto& h = *header_;
  for (std::uint32_t i = 0; i < geo_.max_peers; ++i) {
    PeerSlot* slot = peer_slot(i);
    std::uint64_t expected = peer_control(PeerState::free, 0);
    if (slot->control.load(std::memory_order_relaxed) != expected) continue;
    // Claim with our pid in the same word, so a crash right after the CAS
    // still leaves an identifiable (and reclaimable) slot.
    if (!slot->control.compare_exchange_strong(
            expected, peer_control(PeerState::attaching, self.pid), std::memory_order_acq_rel))
      continue;
    slot->start_time = self.start_time;
    slot->attach_unix_ns = realtime_ns();
    slot->flags = 0;
    const std::uint64_t epoch = h.attach_epoch.fetch_add(1, std::memory_order_relaxed) + 1;
    slot->epoch.store(epoch, std::memory_order_relaxed);
    // SYNC: publishes start_time/epoch; readers acquire-load `control`.
    slot->control.store(peer_control(PeerState::alive, self.pid), std::memory_order_release);
    peer_ = i;
    peer_epoch_ = epoch;
    return ok();
  }
  const auto dead = dead_peers();
  return fail(Errc::table_full,
              "domain '{}': all {} peer slots are taken ({} held by dead processes: a live peer's "
              "Domain::reclaim() frees them, and `sluice gc` removes the domain once every "
              "attached process has exited)",
              name_, geo_.max_peers, dead.size());
}

void Segment::detach_peer() noexcept {
  if (!peer_ || !header_) return;
  PeerSlot* slot = peer_slot(*peer_);
  const auto self = os::self_identity();
  std::uint64_t expected = peer_control(PeerState::alive, self.pid);
  // Only free the slot if it is still ours (a survivor may have reclaimed it
  // if we were wrongly declared dead).
  if (slot && slot->epoch.load(std::memory_order_relaxed) == peer_epoch_)
    slot->control.compare_exchange_strong(expected, peer_control(PeerState::free, 0),
                                          std::memory_order_release);
  peer_.reset();
  if (!geo_.persistent) remove_if_last();
}

void Segment::remove_if_last() noexcept {
  // An attacher holds a shared flock while it claims its slot: if one is
  // at it, it will be there after us and the domain stays.
  if (truncated() || ::flock(shm_.fd(), LOCK_EX | LOCK_NB) != 0) return;
  bool empty = true;
  for (std::uint32_t i = 0; i < geo_.max_peers && empty; ++i)
    empty = peer_state_of(peer_slot(i)->control.load(std::memory_order_acquire)) == PeerState::free;
  if (empty) {
    // Only the object we mapped: the name may have been given to another.
    auto mine = shm_.stat();
    auto named = os::stat_name(name_);
    if (mine && named && mine->inode == named->inode && mine->device == named->device)
      (void)os::ShmObject::unlink(name_);
  }
  ::flock(shm_.fd(), LOCK_UN);
}

std::vector<PeerInfo> Segment::peers() const {
  std::vector<PeerInfo> out;
  for (std::uint32_t i = 0; i < geo_.max_peers; ++i) {
    const PeerSlot* s = peer_slot(i);
    const std::uint64_t c = s->control.load(std::memory_order_acquire);
    const PeerState st = peer_state_of(c);
    if (st == PeerState::free) continue;
    PeerInfo info{};
    info.index = i;
    info.state = st;
    info.identity = {peer_pid_of(c), s->start_time};
    info.epoch = s->epoch.load(std::memory_order_relaxed);
    info.attach_unix_ns = s->attach_unix_ns;
    info.alive = os::check_liveness(info.identity) == os::Liveness::alive;
    out.push_back(info);
  }
  return out;
}

std::vector<std::uint32_t> Segment::dead_peers() const {
  std::vector<std::uint32_t> out;
  for (const auto& p : peers())
    if (!p.alive) out.push_back(p.index);
  return out;
}

Result<void> Segment::release_peer_slot(std::uint32_t index) {
  PeerSlot* s = peer_slot(index);
  if (!s) return fail(Errc::out_of_range, "domain '{}': peer {} out of range", name_, index);
  std::uint64_t c = s->control.load(std::memory_order_acquire);
  if (peer_state_of(c) == PeerState::free) return ok();
  const os::ProcessIdentity id{peer_pid_of(c), s->start_time};
  if (os::check_liveness(id) == os::Liveness::alive)
    return fail(Errc::invalid_argument, "domain '{}': peer {} (pid {}) is alive", name_, index,
                id.pid);
  if (!s->control.compare_exchange_strong(c, peer_control(PeerState::free, 0),
                                          std::memory_order_acq_rel))
    return fail(Errc::stale, "domain '{}': peer slot {} changed while releasing it", name_, index);
  return ok();
}

}  // namespace sluice::layout
