#!/bin/sh
# readme.sh CMAKE BUILD_DIR SOURCE_DIR WORK NPYCMP FIXTURE CC CXX
#
# The README's "C API" instructions, line for line, against an installed xfc
# (`cmake --install BUILD_DIR --prefix WORK/prefix`):
#   1. C, pkg-config:   xfc emit model.xf -o gen --release
#                       cc -O2 -Igen -o app app.c gen/NAME.c $(pkg-config --cflags --libs xfrt)
#   2. C++, pkg-config: cc -O2 -Igen -c gen/NAME.c $(pkg-config --cflags xfrt)
#                       c++ -O2 -Igen -o app app.cpp NAME.o $(pkg-config --cflags --libs xfrt)
#   3. C++, CMake:      find_package(xfc REQUIRED) / xfc_add_model(mymodel model.xf RELEASE) /
#                       target_link_libraries(app PRIVATE mymodel)
# with app.c = examples/cmake_project/main.c, app.cpp = tests/install/readme/app.cpp;
# each program runs the getting-started model, compared with PyTorch's output
# within 1e-4.
set -eu
CMAKE=$1 BUILD=$2 SRC=$3 WORK=$4 NPYCMP=$5 FIX=$6 CC=$7 CXX=$8

fail() { echo "FAIL: $*"; exit 1; }
step() { echo "--- $*"; }

rm -rf "$WORK"
mkdir -p "$WORK/c" "$WORK/cxx" "$WORK/cmake"
"$CMAKE" --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log" || { cat "$WORK/install.log"; fail "cmake --install"; }
P=$(cd "$WORK/prefix" && pwd -P)
PATH="$P/bin:$PATH" PKG_CONFIG_PATH="$P/lib/pkgconfig"
export PATH PKG_CONFIG_PATH
W=$FIX/weights.safetensors

step "1. C, pkg-config (the README's two lines)"
cd "$WORK/c"
cp "$SRC/examples/cmake_project/encoder.xf" model.xf
cp "$SRC/examples/cmake_project/main.c" app.c
xfc emit model.xf -o gen --release
# shellcheck disable=SC2046
"$CC" -O2 -Igen -o app app.c gen/encoder.c $(pkg-config --cflags --libs xfrt)
./app "$FIX/input.npy" --weights "$W" --output y.npy --expect "$FIX/output.npy"
"$NPYCMP" y.npy "$FIX/output.npy"

step "2. C++, pkg-config"
cd "$WORK/cxx"
cp "$SRC/examples/cmake_project/encoder.xf" model.xf
cp "$SRC/tests/install/readme/app.cpp" app.cpp
xfc emit model.xf -o gen --release
# shellcheck disable=SC2046
"$CC" -O2 -Igen -c gen/encoder.c $(pkg-config --cflags xfrt)
# shellcheck disable=SC2046
"$CXX" -O2 -Igen -o app app.cpp encoder.o $(pkg-config --cflags --libs xfrt)
./app "$FIX/input.npy" "$W" y.npy
"$NPYCMP" y.npy "$FIX/output.npy"

step "3. C++, find_package(xfc) + xfc_add_model"
cd "$WORK/cmake"
mkdir project
cp "$SRC/examples/cmake_project/encoder.xf" "$SRC/tests/install/readme/app.cpp" \
   "$SRC/tests/install/readme/CMakeLists.txt" project/
"$CMAKE" -S project -B build -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
         -DCMAKE_BUILD_TYPE=Release > configure.log || { cat configure.log; fail "configuring the C++ project"; }
"$CMAKE" --build build -j2 > build.log || { cat build.log; fail "building the C++ project"; }
./build/app "$FIX/input.npy" "$W" y.npy
"$NPYCMP" y.npy "$FIX/output.npy"

echo "readme: the C program (pkg-config) and the C++ program (pkg-config, CMake) build and match PyTorch"
