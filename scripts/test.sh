#!/bin/sh
# test.sh — second command of the README (and .ci/run): check the C style,
# build and run every test (the golden and runtime ones on both matrix-product backends), each
# libFuzzer harness for XF_FUZZ_SECONDS (default 60) seconds, then the whole
# suite again built with ASan + UBSan.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/format.sh --check   # one style (.clang-format) for every .c/.h
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
ctest --test-dir build --output-on-failure -j2
# The runtime's and golden tests again on the other matrix-product backend
# (oneDNN / OpenBLAS, cmake/XfBlas.cmake): both must give PyTorch's results.
blas=$(sed -n 's/^XF_BLAS:STRING=//p' build/CMakeCache.txt)
other=openblas
[ "$blas" = openblas ] && other=onednn
cmake -S . -B "build-$other" -DCMAKE_BUILD_TYPE=Release -DXF_BLAS="$other"
cmake --build "build-$other" -j2
ctest --test-dir "build-$other" --output-on-failure -j2 -R '^(golden\.|unit\.test_rt_|capi\.|threads\.)'
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXF_FUZZ=ON
cmake --build build-fuzz -j2 --target fuzz_spec fuzz_safetensors fuzz_npy fuzz_vocab
sh tests/fuzz/run.sh "${XF_FUZZ_SECONDS:-60}"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DXF_SANITIZE=ON
cmake --build build-asan -j2
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j2
