#pragma once
// The transports compiled into a benchmark program. Each transport file
// registers itself with SLUICE_BENCH_REGISTER_TRANSPORT(Type); the program's
// CMakeLists decides which files are compiled (iceoryx only when found,
// sluice only when its channel target exists).

#include "common/scenarios.hpp"

#include <vector>

namespace sluice::bench {

struct TransportEntry {
  TransportInfo info;
  Measurement (*measure)(const MeasureSpec&);
};

// Every registered transport, sorted by info.order then name.
std::vector<TransportEntry> registered_transports();

void register_transport(TransportEntry entry);

template <Transport T>
struct TransportRegistrar {
  TransportRegistrar() { register_transport({T::info(), &measure<T>}); }
};

}  // namespace sluice::bench

#define SLUICE_BENCH_CONCAT_INNER_(a, b) a##b
#define SLUICE_BENCH_CONCAT_(a, b) SLUICE_BENCH_CONCAT_INNER_(a, b)

// Registers a transport type at static-initialisation time. Use it once, at
// namespace scope, in the transport's .cpp file (compiled into the program,
// not into a static library, so that the registration is linked in).
#define SLUICE_BENCH_REGISTER_TRANSPORT(Type)                                  \
  static const ::sluice::bench::TransportRegistrar<Type> SLUICE_BENCH_CONCAT_( \
      sluice_bench_registrar_, __LINE__) {}
