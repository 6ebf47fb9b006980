# XfBlas.cmake — which library computes the matrix products (-DXF_BLAS=…).
#
#   onednn    oneDNN matmul primitives, weights packed once at load (runtime/blas_onednn.c),
#             the runtime's parallel loops on oneDNN's OpenMP pool (runtime/pool_openmp.c);
#             the default on x86-64 when libdnnl-dev is installed: 2–3× OpenBLAS on the
#             few-row products of small batches (docs/PERFORMANCE.md).
#   openblas  cblas_sgemm on the transposed weights (runtime/blas_openblas.c), the
#             runtime's loops on a pool of its own (runtime/pool_pthreads.c): machines
#             without oneDNN, and the sanitizer builds that cannot see inside libgomp
#             (ThreadSanitizer) or would mix clang's OpenMP with oneDNN's (libFuzzer).
# Sets XF_BLAS and BLAS_LIBRARIES: everything a model binary links for its products
# (compiler/CMakeLists.txt hands it to xfc, xfrt.pc and xfcConfig.cmake to users).
set(_xf_blas_default openblas)
find_library(XF_DNNL_LIBRARY dnnl)
find_path(XF_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64" AND XF_DNNL_LIBRARY AND XF_DNNL_INCLUDE_DIR
   AND NOT XF_TSAN AND NOT XF_FUZZ)
  set(_xf_blas_default onednn)
endif()
set(XF_BLAS ${_xf_blas_default} CACHE STRING "Matrix products: onednn or openblas")
set_property(CACHE XF_BLAS PROPERTY STRINGS onednn openblas)

if(XF_BLAS STREQUAL "onednn")
  if(NOT XF_DNNL_LIBRARY OR NOT XF_DNNL_INCLUDE_DIR)
    message(FATAL_ERROR "XF_BLAS=onednn needs oneDNN (Debian: libdnnl-dev); or configure with -DXF_BLAS=openblas")
  endif()
  find_package(OpenMP REQUIRED COMPONENTS C)
  # libdnnl is built on GNU OpenMP: the runtime's loops (runtime/pool_openmp.c) join
  # the same pool, so the process has one; no OpenBLAS at all
  set(BLAS_LIBRARIES ${XF_DNNL_LIBRARY} ${OpenMP_C_LIBRARIES})
elseif(XF_BLAS STREQUAL "openblas")
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS REQUIRED)
else()
  message(FATAL_ERROR "XF_BLAS=${XF_BLAS}: choose onednn or openblas")
endif()
message(STATUS "xfc: matrix products on ${XF_BLAS}")
