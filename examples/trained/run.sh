#!/bin/sh
# run.sh — builds reverse.xf with xfc and runs it on the four embedded example
# sequences (src.npy: the encoder input, tgt.npy: the decoder input), no Python:
#   OUT/output.npy               the decoder output (compare: expected.npy, from PyTorch)
#   OUT/cross_attention.png      decoder cross-attention, layers 0 and 1, head 0: the anti-diagonal
#   OUT/encoder_attention.png    encoder self-attention, layers 0 and 1, head 0
#   OUT/cross_attention/, OUT/encoder_attention/   one heatmap per layer, every head
# then decodes the output to letters with decode.c (the output layer is head.npy).
# XFC: the xfc to use (default: the build tree's); OUT: default examples/trained/out.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
xfc=${XFC:-$here/../../build/compiler/xfc}
out=${OUT:-$here/out}
mkdir -p "$out"
"$xfc" build "$here/reverse.xf" -o "$out/reverse"
"$out/reverse" --weights "$here/weights.safetensors" --source "$here/src.npy" --input "$here/tgt.npy" \
    --output "$out/output.npy" --events-dir "$out"
${CC:-cc} -std=c11 -O2 -Wall -Wextra -o "$out/decode" "$here/decode.c"
"$out/decode" "$out/output.npy" "$here/head.npy" "$here/tokens.npy"
echo "wrote $out/output.npy, $out/cross_attention.png, $out/encoder_attention.png, $out/cross_attention/, $out/encoder_attention/"
