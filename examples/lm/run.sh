#!/bin/sh
# run.sh — builds the two character LMs (full attention with a KV cache, causal_linear with a
# constant-size recurrent state) and lets each continue a prompt, no Python:
#   sh examples/lm/run.sh ["PROMPT"]        # XFC=path/to/xfc, OUT=dir (default examples/lm/out)
# Each binary prints the prompt and its continuation (sampled: --temperature 0.8 --top-k 20
# --seed 1, so the run is reproducible); the full model's listener draws the attention of
# its last layer over the whole generation, assembled from the steps:
#   OUT/attention_full/layers.3.attention.inner_attention.png (and attention_linear/: the implied matrix)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
xfc=${XFC:-$here/../../build/compiler/xfc}
out=${OUT:-$here/out}
prompt=${1:-And God said unto Moses, }
mkdir -p "$out"
for v in full linear; do
    "$xfc" build "$here/$v/lm.xf" -o "$out/lm_$v"
    echo "== $v"
    "$out/lm_$v" --weights "$here/$v/weights.safetensors" --vocab "$here/vocab.txt" --text "$prompt" \
        --generate 220 --temperature 0.8 --top-k 20 --seed 1 --events-dir "$out"
done
