# The batch layer writes record-batch messages straight into loaned chunks
# through the arrow layer's private IPC internals (sluice/arrow/internal/ipc.hpp),
# so it sees the same generated flatbuffers headers, privately.
function(sluice_batch_post)
  target_include_directories(sluice_batch SYSTEM PRIVATE
    ${sluice_arrow_gen_dir} ${SLUICE_FLATBUFFERS_INCLUDE})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(sluice_batch PRIVATE -Wno-null-dereference)  # see arrow/layer.cmake
  endif()
endfunction()
