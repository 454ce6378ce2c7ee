# The project compiles its static libraries with -fPIC. GCC then treats every
# function with default visibility as interposable and will not inline one
# into another, which doubles the cost of a pool allocate+release (the hot
# entry points call their helpers in the same file). A static library is
# never interposed, so say so.
function(sluice_alloc_post)
  target_compile_options(sluice_alloc PRIVATE -fno-semantic-interposition)
endfunction()
