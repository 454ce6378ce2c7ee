# Warnings and sanitizers are INTERFACE targets that each sluice target links,
# never global flags, so consumers of the installed package are unaffected.

add_library(sluice_warnings INTERFACE)
add_library(sluice::warnings ALIAS sluice_warnings)
target_compile_options(sluice_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
  # GCC 12's -Wnull-dereference fires inside libstdc++, gtest and flatbuffers
  # headers once inlined at -O3 (no null pointer is involved); clang's is
  # precise, so it keeps it.
  $<$<CXX_COMPILER_ID:Clang>:-Wnull-dereference>
  $<$<CXX_COMPILER_ID:GNU>:-Wno-interference-size>
  # GCC 12 reports impossible std::string / std::vector copies at -O3
  # (bugs 105329, 105651: memcpy "accessing 9223372036854775810 bytes"); the
  # same code is clean with clang and at -O2.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
if(SLUICE_WERROR)
  target_compile_options(sluice_warnings INTERFACE -Werror)
endif()

add_library(sluice_sanitizers INTERFACE)
add_library(sluice::sanitizers ALIAS sluice_sanitizers)
if(SLUICE_SANITIZE)
  target_compile_options(sluice_sanitizers INTERFACE
    -fsanitize=${SLUICE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  if(SLUICE_BUILD_FUZZ)
    # Coverage feedback from every library, not only the fuzz harness.
    target_compile_options(sluice_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
  endif()
  if(SLUICE_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # TSan does not model standalone fences. Ours pair store->load (Dekker)
    # for wake-ups; data is always published by release/acquire pairs, which
    # TSan does see, so the warning carries no information here.
    target_compile_options(sluice_sanitizers INTERFACE -Wno-tsan)
  endif()
  target_link_options(sluice_sanitizers INTERFACE -fsanitize=${SLUICE_SANITIZE})
endif()

# sluice_add_layer(NAME SOURCES... DEPS <layers below>... LIBS ...): one
# library per layer, built from sluice/<NAME>/*.cpp, exported as
# sluice::<NAME>. Layers link only the layers below them;
# tests/layering_check.sh enforces the same on #includes. Static by default;
# BUILD_SHARED_LIBS=ON builds shared libraries with a versioned SONAME.
function(sluice_add_layer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LIBS" ${ARGN})
  set(target sluice_${name})
  if(name STREQUAL "tools")
    add_library(${target} STATIC ${ARG_SOURCES})  # internal to the CLI
  else()
    add_library(${target} ${ARG_SOURCES})
  endif()
  add_library(sluice::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME sluice_${name} EXPORT_NAME ${name}
    VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  # Consumers of the installed package get C++20 from the target itself.
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  foreach(dep IN LISTS ARG_DEPS)
    target_link_libraries(${target} PUBLIC sluice_${dep})
  endforeach()
  target_link_libraries(${target} PUBLIC ${ARG_LIBS})
  target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:sluice_warnings>)
  # Static libraries are built -fPIC (they may end up in shared objects), and
  # shared ones export every function: either way GCC would treat our own
  # functions as interposable and refuse to inline one into another.
  # Nothing interposes them, so say so (measured: 47 -> 24 ns for a pooled
  # allocate + release).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -fno-semantic-interposition)
  endif()
  target_link_libraries(${target} PUBLIC $<BUILD_INTERFACE:sluice_sanitizers>)
  if(NOT name STREQUAL "tools")  # the CLI's library is internal: not exported
    install(TARGETS ${target} EXPORT sluiceTargets
      ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
      LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  endif()
endfunction()

# sluice_program(NAME SOURCES... LIBS ...): an executable with the project's
# warnings and sanitizers.
function(sluice_program name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} sluice_warnings sluice_sanitizers)
endfunction()
