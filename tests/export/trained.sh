#!/bin/sh
# trained.sh XFC NPYCMP SOURCE_DIR WORK
#
# examples/trained: runs its run.sh — xfc build of reverse.xf with the weights embedded,
# then greedy generation (`--text … --input 1 --generate 25 --eos 2`) of four texts — and
# checks that
#   - what it prints equals expected.txt: PyTorch's greedy decoding of the same texts
#     (train.py, recomputing the sequence for each token),
#   - every line is its text reversed,
#   - the cross-attention figure of the first generation, assembled from its steps, is a PNG.
set -eu
XFC=$1 SRC=$3 WORK=$4
ex=$SRC/examples/trained

rm -rf "$WORK"
mkdir -p "$WORK"
XFC=$XFC OUT=$WORK sh "$ex/run.sh" > "$WORK/stdout.txt"
diff -u "$ex/expected.txt" "$WORK/stdout.txt" || { echo "FAIL: xfc's generations differ from PyTorch's"; exit 1; }
awk -F '  ->  ' '{ r = ""; for (i = length($1); i > 0; i--) r = r substr($1, i, 1)
                   if (r != $2) { print "FAIL: \"" $2 "\" is not \"" $1 "\" reversed"; bad = 1 } }
                 END { exit bad }' "$WORK/stdout.txt"
png=$WORK/cross_attention.png
[ -s "$png" ] || { echo "FAIL: no $png"; exit 1; }
magic=$(od -An -c -N4 "$png" | tr -d ' ')
[ "$magic" = "211PNG" ] || { echo "FAIL: $png is not a PNG ($magic)"; exit 1; }
echo "trained: $(wc -l < "$WORK/stdout.txt") texts reversed by greedy generation, as PyTorch decodes them; figure written"
