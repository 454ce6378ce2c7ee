// bench_peers: sluice against the IPC mechanisms users would pick instead.
// Run it through bench/run.sh (which starts RouDi for iceoryx); --help lists
// the options. The transports are the transport_*.cpp files compiled in.

#include "common/suite.hpp"

int main(int argc, char** argv) { return sluice::bench::suite_main(argc, argv); }
