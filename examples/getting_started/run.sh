#!/bin/sh
# Builds the getting-started spec with xfc and runs it on a 10 × 100 × 256 input.
# Writes examples/getting_started/out/: attention.png (2 × 2 grid), attention/*.png,
# qkv/*.npy, and output.npy.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
xfc=${XFC:-$here/../../build/compiler/xfc}
out=$here/out
mkdir -p "$out"
"$xfc" check "$here/encoder.xf"
"$xfc" build "$here/encoder.xf" -o "$out/encoder"
"$out/encoder" --weights "$here/weights.safetensors" --input "$here/input.npy" \
    --output "$out/output.npy" --events-dir "$out"
echo "wrote $out/attention.png, $out/attention/, $out/qkv/ and $out/output.npy"
