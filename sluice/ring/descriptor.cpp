#include <sluice/ring/descriptor.hpp>

namespace sluice::ring {

Result<void> check(const Descriptor& d) {
  const auto ring_flags = static_cast<std::uint16_t>(d.flags & Descriptor::kRingFlagsMask);
  if ((ring_flags & ~Descriptor::kKnownRingFlags) != 0)
    return fail(Errc::corrupted, "descriptor {}: unknown flags {:#06x}", d.sequence, d.flags);
  if (d.is_inline()) {
    if (d.length > Descriptor::kInlineCapacity)
      return fail(Errc::corrupted, "descriptor {}: inline length {} exceeds {}", d.sequence,
                  d.length, Descriptor::kInlineCapacity);
    if (d.offset != 0 || d.generation != 0)
      return fail(Errc::corrupted, "descriptor {}: inline but names chunk {} generation {}",
                  d.sequence, d.offset, d.generation);
  }
  return ok();
}

}  // namespace sluice::ring
