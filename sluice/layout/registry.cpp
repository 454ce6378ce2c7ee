// The registry: names to control blocks. Every change happens under the
// robust mutex in the segment header; a holder that dies mid-change is
// repaired by the next locker (entries left `creating` are freed).

#include <sluice/base/internal/crash_point.hpp>
#include <sluice/layout/segment.hpp>

#include <unistd.h>
#include <chrono>
#include <cstring>
#include <ctime>

namespace sluice::layout {
namespace {

using namespace std::chrono_literals;
constexpr auto kLockTimeout = 5s;

std::uint64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

Result<void> validate_entry_name(std::string_view name) {
  if (name.empty() || name.size() >= kNameCapacity)
    return fail(Errc::bad_name, "name '{}' must have 1 to {} characters", name, kNameCapacity - 1);
  for (char c : name) {
    const bool ok_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/' ||
                         c == ':';
    if (!ok_char) return fail(Errc::bad_name, "name '{}' has the character {:?}", name, c);
  }
  return ok();
}

std::string describe_mismatch(const EntryConfig& have, const EntryConfig& want) {
  std::string out;
  auto add = [&out](std::string_view field, std::uint64_t a, std::uint64_t b) {
    if (a == b) return;
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {} (asked for {})", field, a, b);
  };
  add("kind", have.kind, want.kind);
  add("flags", have.flags, want.flags);
  add("type id", have.type_id, want.type_id);
  add("element size", have.element_size, want.element_size);
  for (int i = 0; i < 5; ++i) add(fmt::format("param[{}]", i), have.params[i], want.params[i]);
  return out;
}

// Reads an entry's name after validating its length.
Result<std::string_view> entry_name(const RegistryEntry& e, std::uint32_t index) {
  if (e.name_length == 0 || e.name_length >= kNameCapacity || e.name[e.name_length] != '\0')
    return fail(Errc::corrupted, "registry entry {}: invalid name length {}", index, e.name_length);
  return std::string_view(e.name, e.name_length);
}

}  // namespace

Result<std::uint32_t> Segment::find_entry_locked(std::string_view name) const {
  auto* entries = reinterpret_cast<RegistryEntry*>(map_.data() + geo_.registry.offset);
  for (std::uint32_t i = 0; i < geo_.max_entries; ++i) {
    const auto& e = entries[i];
    if (e.state.load(std::memory_order_acquire) != static_cast<std::uint32_t>(EntryState::ready))
      continue;
    SLUICE_TRY_ASSIGN(const std::string_view n, entry_name(e, i));
    if (n == name) return i;
  }
  return fail(Errc::not_found);
}

Result<void> Segment::repair_registry_locked() {
  auto* entries = reinterpret_cast<RegistryEntry*>(map_.data() + geo_.registry.offset);
  for (std::uint32_t i = 0; i < geo_.max_entries; ++i) {
    auto& e = entries[i];
    if (e.state.load(std::memory_order_relaxed) ==
        static_cast<std::uint32_t>(EntryState::creating)) {
      // The creator died while formatting this entry's control block. The
      // block's memory belongs to the dead peer and is returned by its
      // reclamation; the entry itself is simply freed.
      e.state.store(static_cast<std::uint32_t>(EntryState::free), std::memory_order_release);
    }
  }
  header_->registry_version.fetch_add(1, std::memory_order_relaxed);
  return ok();
}

#define SLUICE_REGISTRY_LOCK(lock_var)                                                            \
  bool owner_died_ = false;                                                                       \
  SLUICE_TRY_ASSIGN(auto lock_var,                                                                \
                    os::RobustLock::acquire(header_->registry_lock, kLockTimeout, &owner_died_)); \
  if (owner_died_) SLUICE_TRY(repair_registry_locked())

Result<EntryRef> Segment::registry_create_or_attach(std::string_view name,
                                                    const EntryConfig& config,
                                                    const ControlFormatter& format,
                                                    const ConfigCheck& accept) {
  SLUICE_TRY(validate_entry_name(name));
  SLUICE_REGISTRY_LOCK(lock);
  auto* entries = reinterpret_cast<RegistryEntry*>(map_.data() + geo_.registry.offset);
  auto found = find_entry_locked(name);
  if (found) {
    auto& e = entries[*found];
    if (accept) {
      SLUICE_TRY(accept(e.config));
    } else if (std::memcmp(&e.config, &config, sizeof config) != 0) {
      return fail(Errc::config_mismatch,
                  "'{}' in domain '{}' exists with another configuration: {}", name, name_,
                  describe_mismatch(e.config, config));
    }
    e.refs.fetch_add(1, std::memory_order_relaxed);
    return EntryRef{*found, e.generation, e.control_offset, e.control_size, false, e.config};
  }
  if (found.error().code() != Errc::not_found) return fail(found.error());

  for (std::uint32_t i = 0; i < geo_.max_entries; ++i) {
    auto& e = entries[i];
    if (e.state.load(std::memory_order_relaxed) != static_cast<std::uint32_t>(EntryState::free))
      continue;
    e.state.store(static_cast<std::uint32_t>(EntryState::creating), std::memory_order_relaxed);
    std::memset(e.name, 0, sizeof e.name);
    std::memcpy(e.name, name.data(), name.size());
    e.name_length = static_cast<std::uint32_t>(name.size());
    e.config = config;
    e.generation += 1;
    e.creator_pid = ::getpid();
    e.creator_peer = peer_.value_or(UINT32_MAX);
    e.created_unix_ns = realtime_ns();
    e.refs.store(1, std::memory_order_relaxed);
    SLUICE_CRASH_POINT("registry.create.claimed");  // lock held, entry `creating`
    Section control{0, 0};
    if (format) {
      auto r = format(*this);
      if (!r) {
        e.state.store(static_cast<std::uint32_t>(EntryState::free), std::memory_order_relaxed);
        return fail(r.error().context(fmt::format("create '{}' in domain '{}'", name, name_)));
      }
      control = *r;
    }
    SLUICE_CRASH_POINT("registry.create.formatted");  // control block made, entry not ready
    e.control_offset = control.offset;
    e.control_size = control.size;
    // SYNC: publishes the entry and its formatted control block to lock-free
    // readers (find under acquire in registry_list / other lockers).
    e.state.store(static_cast<std::uint32_t>(EntryState::ready), std::memory_order_release);
    header_->registry_version.fetch_add(1, std::memory_order_relaxed);
    return EntryRef{i, e.generation, control.offset, control.size, true, config};
  }
  return fail(Errc::table_full,
              "domain '{}': registry is full ({} entries); create the domain with more", name_,
              geo_.max_entries);
}

Result<EntryRef> Segment::registry_attach(std::string_view name) {
  SLUICE_TRY(validate_entry_name(name));
  SLUICE_REGISTRY_LOCK(lock);
  auto found = find_entry_locked(name);
  if (!found) {
    if (found.error().code() == Errc::not_found)
      return fail(Errc::not_found, "domain '{}' has no '{}'", name_, name);
    return fail(found.error());
  }
  auto* entries = reinterpret_cast<RegistryEntry*>(map_.data() + geo_.registry.offset);
  auto& e = entries[*found];
  e.refs.fetch_add(1, std::memory_order_relaxed);
  return EntryRef{*found, e.generation, e.control_offset, e.control_size, false, e.config};
}

Result<std::optional<Section>> Segment::registry_free_if_unused(const EntryRef& ref,
                                                                const UnusedCheck& free_if_unused) {
  return detach_locked(ref, false, free_if_unused);
}

Result<std::optional<Section>> Segment::registry_detach(const EntryRef& ref,
                                                        const UnusedCheck& free_if_unused) {
  return detach_locked(ref, true, free_if_unused);
}

Result<std::optional<Section>> Segment::detach_locked(const EntryRef& ref, bool drop,
                                                      const UnusedCheck& free_if_unused) {
  SLUICE_REGISTRY_LOCK(lock);
  if (ref.index >= geo_.max_entries)
    return fail(Errc::out_of_range, "domain '{}': registry index {} out of range", name_,
                ref.index);
  auto* entries = reinterpret_cast<RegistryEntry*>(map_.data() + geo_.registry.offset);
  auto& e = entries[ref.index];
  if (e.state.load(std::memory_order_relaxed) != static_cast<std::uint32_t>(EntryState::ready) ||
      e.generation != ref.generation)
    return fail(Errc::stale, "domain '{}': registry entry {} was removed or recreated", name_,
                ref.index);
  std::uint32_t refs = e.refs.load(std::memory_order_relaxed);
  if (drop && refs > 0) e.refs.store(--refs, std::memory_order_relaxed);
  if (refs != 0 || !free_if_unused || !free_if_unused()) return std::optional<Section>();
  e.state.store(static_cast<std::uint32_t>(EntryState::free), std::memory_order_release);
  header_->registry_version.fetch_add(1, std::memory_order_relaxed);
  return std::optional<Section>(Section{e.control_offset, e.control_size});
}

Result<Section> Segment::registry_remove(std::string_view name) {
  SLUICE_TRY(validate_entry_name(name));
  SLUICE_REGISTRY_LOCK(lock);
  auto found = find_entry_locked(name);
  if (!found) {
    if (found.error().code() == Errc::not_found)
      return fail(Errc::not_found, "domain '{}' has no '{}'", name_, name);
    return fail(found.error());
  }
  auto* entries = reinterpret_cast<RegistryEntry*>(map_.data() + geo_.registry.offset);
  auto& e = entries[*found];
  const std::uint32_t refs = e.refs.load(std::memory_order_relaxed);
  if (refs != 0)
    return fail(Errc::invalid_argument, "domain '{}': '{}' still has {} attached endpoint(s)",
                name_, name, refs);
  e.state.store(static_cast<std::uint32_t>(EntryState::free), std::memory_order_release);
  header_->registry_version.fetch_add(1, std::memory_order_relaxed);
  return Section{e.control_offset, e.control_size};
}

Result<std::vector<EntryInfo>> Segment::registry_list() const {
  std::vector<EntryInfo> out;
  const auto* entries = reinterpret_cast<const RegistryEntry*>(map_.data() + geo_.registry.offset);
  for (std::uint32_t i = 0; i < geo_.max_entries; ++i) {
    const auto& e = entries[i];
    if (e.state.load(std::memory_order_acquire) != static_cast<std::uint32_t>(EntryState::ready))
      continue;
    SLUICE_TRY_ASSIGN(const std::string_view n, entry_name(e, i));
    out.push_back(EntryInfo{i, e.generation, std::string(n), e.config, e.control_offset,
                            e.control_size, e.refs.load(std::memory_order_relaxed), e.creator_pid,
                            e.created_unix_ns});
  }
  return out;
}

}  // namespace sluice::layout
