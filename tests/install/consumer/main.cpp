// A program outside the sluice tree, built against the installed package.
#include <sluice/layout/domain.hpp>

#include <cstdio>
#include <string>
#include <unistd.h>

int main() {
  const std::string name = "sluice-t" + std::to_string(::getpid()) + "-consumer";
  sluice::layout::DomainOptions options;
  options.data_bytes = 4096;
  auto domain = sluice::layout::Domain::create(name, options);
  if (!domain) {
    std::fprintf(stderr, "consumer: %s\n", domain.error().what().c_str());
    return 1;
  }
  std::printf("consumer attached to %s as peer %u\n", domain->name().c_str(), *domain->peer_index());
  return sluice::layout::Domain::remove(name) ? 0 : 1;
}
