#!/bin/sh
# lm.sh XFC SOURCE_DIR WORK
#
# examples/lm: builds both character LMs with xfc (their specs' listener included) and checks
# that each one's greedy continuation of the prompt — a prefill and 60 steps against the KV
# cache (full) or the recurrent state (causal_linear), printed as text through vocab.txt —
# equals PyTorch's (expected.txt, reference.py: the same float16 weights, the whole sequence
# recomputed per token), and that the listener drew the generation's attention as a PNG.
set -eu
XFC=$1 SRC=$2 WORK=$3
ex=$SRC/examples/lm

rm -rf "$WORK"
mkdir -p "$WORK"
for v in full linear; do
    "$XFC" build "$ex/$v/lm.xf" -o "$WORK/lm_$v"
    got=$("$WORK/lm_$v" --weights "$ex/$v/weights.safetensors" --vocab "$ex/vocab.txt" \
          --text "And God said unto Moses, " --generate 60 --events-dir "$WORK")
    want=$(cat "$ex/$v/expected.txt")
    if [ "$got" != "$want" ]; then
        printf 'FAIL: %s: xfc continues with\n  "%s"\nPyTorch with\n  "%s"\n' "$v" "$got" "$want"
        exit 1
    fi
    png=$WORK/attention_$v/layers.3.attention.inner_attention.png
    [ -s "$png" ] || { echo "FAIL: no $png"; exit 1; }
    [ "$(od -An -c -N4 "$png" | tr -d ' ')" = "211PNG" ] || { echo "FAIL: $png is not a PNG"; exit 1; }
    echo "lm $v: \"$got\" (= PyTorch's greedy continuation)"
done
