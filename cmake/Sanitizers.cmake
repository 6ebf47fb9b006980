# Sanitizers.cmake — the reliability build options (docs/RELIABILITY.md).
# Included by the top-level CMakeLists.txt after XF_SANITIZE is handled:
#
#   XF_TSAN=ON   everything (and every model xfc builds) with ThreadSanitizer.
#                Run with OPENBLAS_NUM_THREADS=1 and
#                TSAN_OPTIONS=suppressions=tests/threads/tsan.supp (OpenBLAS
#                is not instrumented).  Excludes XF_SANITIZE.
#   XF_FUZZ=ON   clang only: the libFuzzer harnesses of tests/fuzz/ (fuzz_spec,
#                fuzz_safetensors, fuzz_npy).  Every library gets
#                -fsanitize=fuzzer-no-link (coverage for libFuzzer), and ASan +
#                UBSan as with XF_SANITIZE (turned on here if it is not).
if(XF_TSAN)
  if(XF_SANITIZE OR XF_FUZZ)
    message(FATAL_ERROR "XF_TSAN cannot be combined with XF_SANITIZE or XF_FUZZ")
  endif()
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    # GCC builds runtime/xf_simd.h's XF_CLONES (target_clones) as ifuncs whose
    # resolvers run before the TSan runtime is up: every program segfaults at
    # start.  Clang does not take that path.
    message(WARNING "XF_TSAN with ${CMAKE_C_COMPILER_ID}: programs using the runtime's "
                    "target_clones kernels crash at start; configure with CC=clang")
  endif()
  set(XF_SANITIZE_FLAGS -fsanitize=thread -fno-omit-frame-pointer)
  add_compile_options(${XF_SANITIZE_FLAGS})
  add_link_options(${XF_SANITIZE_FLAGS})
endif()

if(XF_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "XF_FUZZ=ON needs clang (libFuzzer): configure with -DCMAKE_C_COMPILER=clang "
                        "(apt-get install clang libclang-rt-14-dev)")
  endif()
  if(NOT XF_SANITIZE)
    set(XF_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    add_compile_options(${XF_SANITIZE_FLAGS})
    add_link_options(${XF_SANITIZE_FLAGS})
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
