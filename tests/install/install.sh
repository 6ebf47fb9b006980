#!/bin/sh
# install.sh CMAKE BUILD_DIR SOURCE_DIR WORK NPYCMP FIXTURE CC
#
# 1. `cmake --install BUILD_DIR --prefix WORK/prefix`; every promised file is there.
# 2. The installed xfc, run from WORK/anywhere (nothing moved), finds its own
#    runtime (--print-runtime), builds the getting-started spec, and the binary's
#    output matches PyTorch's within 1e-4.
# 3. pkg-config: `xfc emit` + examples/cmake_project/main.c compiled with
#    `pkg-config --cflags --libs xfrt`, run with --weights, checked.
# 4. CMake: a copy of examples/cmake_project configured against the prefix
#    (find_package(xfc), xfc_add_model(… RELEASE EMBED_WEIGHTS …)), built, run
#    with the embedded weights and with --weights; then an edit of its spec must
#    re-run `xfc emit` on the next build.
set -eu
CMAKE=$1 BUILD=$2 SRC=$3 WORK=$4 NPYCMP=$5 FIX=$6 CC=$7

fail() { echo "FAIL: $*"; exit 1; }
step() { echo "--- $*"; }

rm -rf "$WORK"
mkdir -p "$WORK/anywhere"

step "cmake --install $BUILD --prefix $WORK/prefix"
"$CMAKE" --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log" || { cat "$WORK/install.log"; fail "cmake --install"; }
P=$(cd "$WORK/prefix" && pwd -P)
for f in bin/xfc lib/libxfrt.a include/xfc/xfrt.h include/xfc/xf_kernels.h include/xfc/xf_io.h \
         include/xfc/xf_handlers.h include/xfc/xf_model.h lib/cmake/xfc/xfcConfig.cmake \
         lib/cmake/xfc/xfcConfigVersion.cmake lib/cmake/xfc/xfcAddModel.cmake lib/pkgconfig/xfrt.pc \
         share/man/man1/xfc.1 share/doc/xfc/DSL.md share/doc/xfc/C_API.md; do
  [ -f "$P/$f" ] || fail "the install has no $f"
done
"$P/bin/xfc" --version | grep -q '^xfc [0-9]' || fail "xfc --version"
if command -v man >/dev/null 2>&1; then
  MANPAGER=cat MANWIDTH=80 man -l "$P/share/man/man1/xfc.1" 2>/dev/null | grep -q 'xfc build' || fail "man -l xfc.1"
fi

step "the installed xfc uses the installed runtime"
cd "$WORK/anywhere"
"$P/bin/xfc" --print-runtime > runtime.txt
cat runtime.txt
grep -qx "include $P/include/xfc" runtime.txt || fail "xfc --print-runtime does not point into $P"
grep -qx "from    installation" runtime.txt || fail "xfc does not say it uses its installation"
# XFC_HOME overrides; pointing it at nothing is an error, not a silent fallback
XFC_HOME="$P" "$P/bin/xfc" --print-runtime | grep -qx "from    XFC_HOME" || fail "XFC_HOME=$P ignored"
if XFC_HOME="$WORK/anywhere" "$P/bin/xfc" --print-runtime 2> home.err; then fail "a wrong XFC_HOME was accepted"; fi
grep -q "XFC_HOME=.* is not an xfc installation" home.err || { cat home.err; fail "wrong XFC_HOME message"; }

step "installed xfc build, from $WORK/anywhere"
"$P/bin/xfc" build "$SRC/examples/getting_started/encoder.xf" -o gs
./gs --weights "$FIX/weights.safetensors" --input "$FIX/input.npy" --output out.npy --events-dir events 2> stats.txt
"$NPYCMP" out.npy "$FIX/output.npy"
[ -f events/attention.png ] || fail "the debug build drew no figure"

step "pkg-config --cflags --libs xfrt"
"$P/bin/xfc" emit "$SRC/examples/cmake_project/encoder.xf" -o gen --release
PKG_CONFIG_PATH="$P/lib/pkgconfig"
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags --libs xfrt) || fail "pkg-config xfrt"
echo "pkg-config: $flags"
# shellcheck disable=SC2086
"$CC" -std=gnu11 -O1 -Wall -Wextra -Werror -Wno-unused-variable -Igen -o pc_app \
      "$SRC/examples/cmake_project/main.c" gen/encoder.c $flags
./pc_app "$FIX/input.npy" --weights "$FIX/weights.safetensors" --expect "$FIX/output.npy"
if ./pc_app "$FIX/input.npy" 2> pc.err; then fail "pc_app ran without weights"; fi

step "find_package(xfc) + xfc_add_model: examples/cmake_project"
cp -R "$SRC/examples/cmake_project" "$WORK/project"
"$CMAKE" -S "$WORK/project" -B "$WORK/project-build" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$CC" \
         -DCMAKE_BUILD_TYPE=Release -DXFC_EXAMPLE_WEIGHTS="$FIX/weights.safetensors" > configure.log \
  || { cat configure.log; fail "configuring examples/cmake_project"; }
"$CMAKE" --build "$WORK/project-build" -j2 > build.log || { cat build.log; fail "building examples/cmake_project"; }
grep -q "xfc emit" build.log || { cat build.log; fail "the build did not run xfc emit"; }
"$WORK/project-build/cmake_example" "$FIX/input.npy" --expect "$FIX/output.npy" | tee embedded.txt
grep -q "from embedded weights" embedded.txt || fail "the embedded weights were not used"
"$WORK/project-build/cmake_example" "$FIX/input.npy" --weights "$FIX/weights.safetensors" --expect "$FIX/output.npy"

step "editing the spec regenerates the model"
"$CMAKE" --build "$WORK/project-build" > rebuild0.log
if grep -q "xfc emit" rebuild0.log; then cat rebuild0.log; fail "xfc emit ran again with nothing changed"; fi
printf '# edited\n' >> "$WORK/project/encoder.xf"
"$CMAKE" --build "$WORK/project-build" > rebuild.log || { cat rebuild.log; fail "rebuild after the edit"; }
grep -q "xfc emit" rebuild.log || { cat rebuild.log; fail "editing the spec did not re-run xfc emit"; }
"$WORK/project-build/cmake_example" "$FIX/input.npy" --expect "$FIX/output.npy" > /dev/null

echo "install: prefix, installed xfc build, pkg-config and find_package(xfc) all work"
