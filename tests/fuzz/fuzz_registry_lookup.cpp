// Fuzz target: registry lookup over a fuzzed registry. The input is the
// registry section of a live domain (the entries other processes write:
// states, name lengths, names, configurations, control offsets, reference
// counts), and every registry operation runs over it: list, attach by name,
// create-or-attach, detach, remove. Nothing may crash, hang or read out of
// bounds; a bad entry is an error Result (corrupted), never a wrong match
// on garbage past a name.
//
// The domain is created once (its name removed at once: nothing stays in
// /dev/shm); its header, and so the registry lock, are never fuzzed.
//
// Input: the registry section's bytes (16 entries of 256 bytes; shorter
// inputs are zero-filled, which is what free entries look like).
//
// Built with -DSLUICE_FUZZ_SEEDS and a main() of its own, this file writes
// the seed corpus: registries filled by real create calls.

#include <sluice/layout/segment.hpp>

#include <fmt/format.h>

#include <unistd.h>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace sluice;

constexpr std::uint32_t kEntries = 16;

struct Fixture {
  std::optional<layout::Segment> domain;

  Fixture() {
    layout::SegmentOptions o;
    o.max_peers = 2;
    o.max_entries = kEntries;
    const std::string name = fmt::format("sluice-fz{}-registry", ::getpid());
    (void)layout::Segment::remove(name);
    auto d = layout::Segment::create(name, o);
    if (!d) std::abort();
    (void)layout::Segment::remove(name);
    domain.emplace(std::move(d).value());
  }

  [[nodiscard]] std::byte* registry() const {
    return domain->base() + domain->header().registry.offset;
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

layout::EntryConfig config_for(std::uint64_t salt) {
  layout::EntryConfig c{};
  c.kind = 1;
  c.type_id = salt;
  c.element_size = 8;
  c.params[0] = 64;
  return c;
}

// A control block "formatter" that allocates nothing: the registry only
// records where it is.
layout::ControlFormatter formatter(std::uint64_t offset) {
  return [offset](layout::Segment&) -> Result<layout::Section> {
    return layout::Section{offset, 64};
  };
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Fixture& fx = fixture();
  layout::Segment& d = *fx.domain;
  const std::size_t bytes = kEntries * sizeof(layout::RegistryEntry);
  std::memset(fx.registry(), 0, bytes);
  std::memcpy(fx.registry(), data, size < bytes ? size : bytes);

  std::vector<std::string> names = {"a", "robot/pose", "fz.x:1", std::string(63, 'n')};
  if (auto list = d.registry_list()) {
    for (const auto& e : *list) {
      // A listed entry's name is exactly its stored length, validated.
      if (e.name.empty() || e.name.size() >= layout::kNameCapacity) std::abort();
      names.push_back(e.name);
    }
  }
  for (const auto& n : names) {
    if (auto ref = d.registry_attach(n)) {
      (void)d.registry_detach(*ref);
      (void)d.registry_detach(*ref);  // a second detach of the same reference
    }
  }
  // Create or attach: finds a free entry among the fuzzed ones, or reports
  // a full or corrupted registry; then removes what it created.
  const std::uint64_t salt = size > 0 ? data[0] : 0;
  for (const char* n : {"fz/new", "a"}) {
    auto ref = d.registry_create_or_attach(n, config_for(salt), formatter(4096));
    if (!ref) continue;
    (void)d.registry_detach(*ref);
    if (ref->created) (void)d.registry_remove(n);
  }
  (void)d.registry_remove("robot/pose");
  (void)d.registry_list();
  return 0;
}

#ifdef SLUICE_FUZZ_SEEDS
#include <fstream>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  Fixture& fx = fixture();
  layout::Segment& d = *fx.domain;
  const std::size_t bytes = kEntries * sizeof(layout::RegistryEntry);
  auto save = [&](const char* name) {
    std::ofstream out(std::string(argv[1]) + "/" + name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(fx.registry()), static_cast<std::streamsize>(bytes));
  };
  std::memset(fx.registry(), 0, bytes);
  (void)d.registry_create_or_attach("robot/pose", config_for(1), formatter(8192));
  save("one");
  for (std::uint64_t i = 0; i < 6; ++i)
    (void)d.registry_create_or_attach(fmt::format("ch/{}", i), config_for(i),
                                      formatter(4096 * (i + 3)));
  (void)d.registry_attach("ch/2");
  (void)d.registry_remove("ch/4");
  save("several");
  std::memset(fx.registry(), 0, bytes);
  for (std::uint64_t i = 0; i < kEntries; ++i)
    (void)d.registry_create_or_attach(
        fmt::format("{}", std::string(1 + i * 3, static_cast<char>('a' + i))), config_for(i),
        formatter(4096));
  save("full");
  return 0;
}
#endif
