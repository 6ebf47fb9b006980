#!/bin/sh
# trained.sh XFC NPYCMP SOURCE_DIR WORK
#
# examples/trained: runs its run.sh (xfc build of reverse.xf, the binary on the
# embedded example sequences, decode.c), then checks that
#   - the output matches PyTorch's (expected.npy) within 1e-4,
#   - every decoded prediction is the reversal (run.sh's exit status),
#   - the figures exist: cross_attention.png, encoder_attention.png and the
#     per-layer heatmaps, as valid PNGs.
set -eu
XFC=$1 NPYCMP=$2 SRC=$3 WORK=$4
ex=$SRC/examples/trained

rm -rf "$WORK"
mkdir -p "$WORK"
XFC=$XFC OUT=$WORK sh "$ex/run.sh"
"$NPYCMP" "$WORK/output.npy" "$ex/expected.npy"
for png in cross_attention.png encoder_attention.png \
           cross_attention/decoder.layers.0.cross_attention.inner_attention.png \
           cross_attention/decoder.layers.1.cross_attention.inner_attention.png \
           encoder_attention/encoder.layers.0.attention.inner_attention.png \
           encoder_attention/encoder.layers.1.attention.inner_attention.png; do
  [ -s "$WORK/$png" ] || { echo "FAIL: no $png"; exit 1; }
  magic=$(od -An -c -N4 "$WORK/$png" | tr -d ' ')
  [ "$magic" = "211PNG" ] || { echo "FAIL: $png is not a PNG ($magic)"; exit 1; }
done
echo "trained: output matches PyTorch, predictions reversed, figures written"
