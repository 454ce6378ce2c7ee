#include <sluice/ring/ring_header.hpp>

#include <cstring>
#include <new>

namespace sluice::ring {

namespace {

const char* kind_name(std::uint32_t kind) {
  switch (kind) {
    case static_cast<std::uint32_t>(RingKind::spsc):
      return "spsc";
    case static_cast<std::uint32_t>(RingKind::mpmc):
      return "mpmc";
    case static_cast<std::uint32_t>(RingKind::bytes):
      return "bytes";
    default:
      return "unknown";
  }
}

}  // namespace

Result<void> check_region(const void* mem, std::size_t bytes, std::uint64_t required,
                          const char* what) {
  if (mem == nullptr) return fail(Errc::invalid_argument, "{}: null region", what);
  if (reinterpret_cast<std::uintptr_t>(mem) % kCacheLine != 0)
    return fail(Errc::invalid_argument, "{}: region at {} is not {}-byte aligned", what, mem,
                kCacheLine);
  if (bytes < required)
    return fail(Errc::invalid_argument, "{}: region of {} bytes, {} required", what, bytes,
                required);
  return ok();
}

RingControl* format_control(void* mem, const RingGeometry& g,
                            std::uint64_t initial_index) noexcept {
  auto* control = static_cast<RingControl*>(mem);
  // Zero the whole control block (padding included) so that no stale bytes of
  // a previous occupant of the region survive, then construct the atomics.
  std::memset(mem, 0, sizeof(RingControl));
  new (&control->header.magic) SharedAtomic<std::uint64_t>(0);
  new (&control->head.value) SharedAtomic<std::uint64_t>(initial_index);
  new (&control->tail.value) SharedAtomic<std::uint64_t>(initial_index);
  RingHeader& h = control->header;
  h.version = kRingVersion;
  h.kind = static_cast<std::uint32_t>(g.kind);
  h.capacity = g.capacity;
  h.element_size = g.element_size;
  h.stride = g.stride;
  h.flags = g.flags;
  h.param = g.param;
  h.total_size = g.total_size;
  h.initial_index = initial_index;
  h.reserved = 0;
  // SYNC POINT (format): publishes every header field, both indices and the
  // slots the ring wrote before this call; observed by the acquire load of
  // the magic in attach_control().
  h.magic.store(kRingMagic, std::memory_order_release);
  return control;
}

Result<RingControl*> attach_control(void* mem, std::size_t bytes, RingKind kind, const char* what) {
  SLUICE_TRY(check_region(mem, bytes, sizeof(RingControl), what));
  auto* control = static_cast<RingControl*>(mem);
  const RingHeader& h = control->header;
  // SYNC POINT (attach): pairs with the release store of the magic in
  // format_control(); every later read of the header sees format's values.
  const std::uint64_t magic = h.magic.load(std::memory_order_acquire);
  if (magic != kRingMagic)
    return fail(Errc::bad_magic, "{}: magic {:#018x}, expected {:#018x} (not formatted?)", what,
                magic, kRingMagic);
  if (h.version != kRingVersion)
    return fail(Errc::version_mismatch, "{}: layout version {}, expected {}", what, h.version,
                kRingVersion);
  if (h.kind != static_cast<std::uint32_t>(kind))
    return fail(Errc::config_mismatch, "{}: region holds a {} ring ({}), expected {}", what,
                kind_name(h.kind), h.kind, kind_name(static_cast<std::uint32_t>(kind)));
  if (!is_pow2(h.capacity) || h.capacity > kMaxRingCapacity)
    return fail(Errc::corrupted, "{}: capacity {} is not a power of two within {}", what,
                h.capacity, kMaxRingCapacity);
  if (h.total_size < sizeof(RingControl) || h.total_size > bytes)
    return fail(Errc::corrupted, "{}: header says {} bytes, region has {}", what, h.total_size,
                bytes);
  return control;
}

Result<IndexSnapshot> snapshot_indices(const RingControl& control, std::uint64_t capacity,
                                       const char* what) noexcept {
  constexpr int kAttempts = 64;
  IndexSnapshot s;
  for (int i = 0; i < kAttempts; ++i) {
    // Acquire loads: a head written by the consumer side after it saw tail
    // >= head makes the tail loaded afterwards at least that large.
    const std::uint64_t h1 = control.head.value.load(std::memory_order_acquire);
    const std::uint64_t t1 = control.tail.value.load(std::memory_order_acquire);
    const std::uint64_t h2 = control.head.value.load(std::memory_order_acquire);
    const std::uint64_t t2 = control.tail.value.load(std::memory_order_acquire);
    // h1 == h2: head was h1 while t1 was read. t1 == t2: tail was t1 while
    // h2 was read. Either way the pair is one instant of the ring.
    if (h1 == h2 || t1 == t2) {
      const std::uint64_t h = h1 == h2 ? h1 : h2;
      const std::uint64_t t = h1 == h2 ? t1 : t2;
      if (t - h > capacity) return corrupted_distance(what, "tail", t, "head", h, capacity);
      s.head = h;
      s.tail = t;
      s.stable = true;
      return s;
    }
    s.head = h2;
    s.tail = t2;
    cpu_relax();
  }
  s.stable = false;
  return s;
}

Failure corrupted_distance(const char* what, const char* ahead_name, std::uint64_t ahead,
                           const char* behind_name, std::uint64_t behind, std::uint64_t capacity) {
  return fail(Errc::corrupted, "{}: {} {} is {} ahead of {} {}, capacity {}", what, ahead_name,
              ahead, static_cast<std::int64_t>(ahead - behind), behind_name, behind, capacity);
}

}  // namespace sluice::ring
