# The rpc layer: vgi-rpc over byte streams.
#  - nlohmann-json (header only, private): log extras, error details, the
#    canonical JSON of the protocol hash, the access log.
#  - libsodium (private): SHA-256 of the protocol hash and random ids (and,
#    for the HTTP transport, sealed stream tokens).
#  - sluice-conformance: the ConformanceService worker of PROTOCOL.md §14.1,
#    built to bin/ and installed.
find_package(nlohmann_json 3 CONFIG REQUIRED)
find_path(SLUICE_SODIUM_INCLUDE sodium.h REQUIRED)
find_library(SLUICE_SODIUM_LIB sodium REQUIRED)

function(sluice_rpc_post)
  target_include_directories(sluice_rpc SYSTEM PRIVATE ${SLUICE_SODIUM_INCLUDE})
  # Plain library names keep the installed export free of build-tree paths.
  target_link_libraries(sluice_rpc PRIVATE $<BUILD_INTERFACE:nlohmann_json::nlohmann_json> sodium)
  # The conformance protocols as a library of their own (not installed): the
  # worker links it, and so do the rpc unit tests and fuzzers.
  add_library(sluice_rpc_conformance STATIC ${PROJECT_SOURCE_DIR}/sluice/rpc/conformance/service.cpp)
  target_link_libraries(sluice_rpc_conformance PUBLIC sluice_rpc PRIVATE sluice_warnings sluice_sanitizers)
  sluice_program(sluice-conformance
    SOURCES ${PROJECT_SOURCE_DIR}/sluice/rpc/conformance/main.cpp
    LIBS sluice_rpc_conformance)
  install(TARGETS sluice-conformance RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()
