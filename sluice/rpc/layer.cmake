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
  sluice_program(sluice-conformance
    SOURCES ${PROJECT_SOURCE_DIR}/sluice/rpc/conformance/main.cpp
            ${PROJECT_SOURCE_DIR}/sluice/rpc/conformance/service.cpp
    LIBS sluice_rpc)
  install(TARGETS sluice-conformance RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()
