#!/bin/sh
# run.sh — builds reverse.xf with xfc (weights embedded) and reverses text with it, no Python:
#   sh examples/trained/run.sh ["text" ...]        # XFC=path/to/xfc, OUT=dir (default examples/trained/out)
# For each text (default: four examples) the binary splits it over vocab.txt, encodes it, and
# generates the reversal token by token — a prefill of <bos> (id 1), then one step per token
# against the decoder's KV cache and the cross-attention's K/V of the source, greedy, until
# <eos> (id 2) — and prints it.  The spec's listener draws the decoder's cross-attention of
# the first text's generation, assembled from its steps: OUT/cross_attention.png.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
xfc=${XFC:-$here/../../build/compiler/xfc}
out=${OUT:-$here/out}
mkdir -p "$out/more"
"$xfc" build "$here/reverse.xf" -o "$out/reverse" --embed-weights "$here/weights.safetensors"
[ $# -gt 0 ] || set -- "hello world" "abcdefghijklmnop" "the quick brown fox" "xfc generates"
dir=$out
for text in "$@"; do
    printf '%s  ->  ' "$text"
    "$out/reverse" --vocab "$here/vocab.txt" --text "$text" --input 1 --generate 25 --eos 2 --events-dir "$dir"
    dir=$out/more      # the figure of the first text stays in $out
done
