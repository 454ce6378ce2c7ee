# Extra build steps of the arrow layer (included by sluice/CMakeLists.txt before
# the sluice_arrow library is created).
#
#  - flatc compiles the IPC schema text (sluice/arrow/format/*.fbs, written from
#    the Arrow format specification) into C++ headers under the build tree.
#    They are a private, SYSTEM include of sluice_arrow (and of sluice_batch,
#    whose batch loans write record-batch metadata through the private
#    sluice/arrow/internal/ipc.hpp): public headers never expose flatbuffers
#    types, and flatc's output is not held to our warnings.
#  - lz4 and zstd provide the optional IPC body compression.

find_program(SLUICE_FLATC flatc REQUIRED)
find_path(SLUICE_FLATBUFFERS_INCLUDE flatbuffers/flatbuffers.h REQUIRED)
find_path(SLUICE_LZ4_INCLUDE lz4frame.h REQUIRED)
find_path(SLUICE_ZSTD_INCLUDE zstd.h REQUIRED)
find_library(SLUICE_LZ4_LIB lz4 REQUIRED)
find_library(SLUICE_ZSTD_LIB zstd REQUIRED)

set(sluice_arrow_fbs_dir ${PROJECT_SOURCE_DIR}/sluice/arrow/format)
set(sluice_arrow_gen_dir ${PROJECT_BINARY_DIR}/generated/arrow)
set(sluice_arrow_fbs Schema Message File)
set(sluice_arrow_gen_headers "")
set(sluice_arrow_fbs_files "")
foreach(f IN LISTS sluice_arrow_fbs)
  list(APPEND sluice_arrow_gen_headers ${sluice_arrow_gen_dir}/sluice_arrow_fb/${f}_generated.h)
  list(APPEND sluice_arrow_fbs_files ${sluice_arrow_fbs_dir}/${f}.fbs)
endforeach()
add_custom_command(
  OUTPUT ${sluice_arrow_gen_headers}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${sluice_arrow_gen_dir}/sluice_arrow_fb
  COMMAND ${SLUICE_FLATC} --cpp --scoped-enums --no-warnings
          -o ${sluice_arrow_gen_dir}/sluice_arrow_fb ${sluice_arrow_fbs_files}
  DEPENDS ${sluice_arrow_fbs_files}
  COMMENT "flatc: Arrow IPC schema"
  VERBATIM)

function(sluice_arrow_post)
  target_sources(sluice_arrow PRIVATE ${sluice_arrow_gen_headers})
  target_include_directories(sluice_arrow SYSTEM PRIVATE
    ${sluice_arrow_gen_dir} ${SLUICE_FLATBUFFERS_INCLUDE} ${SLUICE_LZ4_INCLUDE} ${SLUICE_ZSTD_INCLUDE})
  # Plain library names keep the installed export free of build-tree paths.
  target_link_libraries(sluice_arrow PRIVATE lz4 zstd)
  # GCC's -Wnull-dereference fires inside flatbuffers' own headers once they
  # are inlined at -O3 (base.h ReadScalar); the system-header exemption does
  # not cover warnings found after inlining. Our code is checked by the rest
  # of the warning set and by the fuzzers under UBSan.
  # (Source-file options come after the target's warning set on the command
  # line, so they win.)
  # Only the files that include the generated flatbuffers code.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    file(GLOB arrow_fb_sources ${PROJECT_SOURCE_DIR}/sluice/arrow/ipc_*.cpp)
    set_source_files_properties(${arrow_fb_sources} TARGET_DIRECTORY sluice_arrow
                                PROPERTIES COMPILE_OPTIONS -Wno-null-dereference)
  endif()
endfunction()
