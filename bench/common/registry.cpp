#include "common/registry.hpp"

#include <algorithm>

namespace sluice::bench {

namespace {

// A function-local static: registrars run during static initialisation, in
// an order across files that the language leaves open.
std::vector<TransportEntry>& entries() {
  static std::vector<TransportEntry> list;
  return list;
}

}  // namespace

void register_transport(TransportEntry entry) { entries().push_back(entry); }

std::vector<TransportEntry> registered_transports() {
  auto list = entries();
  std::sort(list.begin(), list.end(), [](const TransportEntry& a, const TransportEntry& b) {
    return a.info.order != b.info.order ? a.info.order < b.info.order : a.info.name < b.info.name;
  });
  return list;
}

}  // namespace sluice::bench
