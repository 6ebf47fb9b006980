#!/bin/sh
# profiles.sh XFC SPEC WEIGHTS INPUT WORK [MEMORY]
#
# What the three profiles promise about the generated code itself:
#   1. release C is byte-identical to the C of the same spec with every
#      `listen` line deleted (compiled in the default profile);
#   2. the release binary links no dispatcher, handler or figure code and
#      does not load cairo;
#   3. a debug build has exactly one dispatch block per point `xfc check`
#      marks as kept, and an instrument-all build one per possible point;
#   4. --embed-weights gives a binary that needs no --weights and computes
#      the same output.
set -eu
# shellcheck disable=SC2086
XFC=$1 SPEC=$2 WEIGHTS=$3 INPUT=$4 WORK=$5 MEMORY=${6:-}
extra=
[ -n "$MEMORY" ] && extra="--memory $MEMORY"
rm -rf "$WORK"
mkdir -p "$WORK/stripped" "$WORK/release" "$WORK/plain" "$WORK/debug" "$WORK/all"
name=$(basename "$SPEC")

# 1. byte identity
"$XFC" emit "$SPEC" -o "$WORK/release" --release
sed '/^[[:space:]]*listen[[:space:]]/d' "$SPEC" > "$WORK/stripped/$name"
if grep -q "^[[:space:]]*listen[[:space:]]" "$WORK/stripped/$name"; then echo "FAIL: strip left a listener"; exit 1; fi
"$XFC" emit "$WORK/stripped/$name" -o "$WORK/plain"
diff -r "$WORK/release" "$WORK/plain"
echo "ok: release C == listener-free C"

# 2. nothing of the event machinery in a release binary
"$XFC" build "$SPEC" -o "$WORK/model.release" --release
syms=$(nm "$WORK/model.release" | grep -E ' T (xf_dispatch|xf_listen|xf_save|xf_heatmap|xf_figure|xf_stats|xf_print|xf_png_matrix)' || true)
if [ -n "$syms" ]; then echo "FAIL: release binary links event code:"; echo "$syms"; exit 1; fi
if ldd "$WORK/model.release" | grep -q cairo; then echo "FAIL: release binary loads cairo"; exit 1; fi
echo "ok: release binary has no dispatcher, handler or cairo"

# 3. dispatch blocks = kept points
"$XFC" emit "$SPEC" -o "$WORK/debug"
"$XFC" emit "$SPEC" -o "$WORK/all" --instrument-all
kept=$("$XFC" check "$SPEC" | grep -c '^  \*' || true)
total=$("$XFC" check "$SPEC" | head -1 | sed 's/.*: \([0-9]*\) dispatch points.*/\1/')
# blocks outside the layers' generation-step twins (`layers_2_step`, token models),
# which repeat their layer's points for one position
count_blocks() {
  awk '/^static [a-z]+ [A-Za-z0-9_]+\(/ { fn = $3; sub(/\(.*/, "", fn) }
       /dispatch point:/ { if (fn ~ /_step$/) step++; else plain++ }
       END { print (which == "step" ? step + 0 : plain + 0) }' which="$2" "$1"/*.c
}
blocks=$(count_blocks "$WORK/debug" plain)
all_blocks=$(count_blocks "$WORK/all" plain)
step_blocks=$(count_blocks "$WORK/debug" step)
[ "$step_blocks" -le "$blocks" ] || { echo "FAIL: $step_blocks step blocks for $blocks layer blocks"; exit 1; }
rel_blocks=$(cat "$WORK"/release/*.c | grep -c 'dispatch point:' || true)
[ "$blocks" -eq "$kept" ] || { echo "FAIL: debug has $blocks dispatch blocks, plan keeps $kept"; exit 1; }
[ "$all_blocks" -eq "$total" ] || { echo "FAIL: instrument-all has $all_blocks blocks for $total points"; exit 1; }
[ "$rel_blocks" -eq 0 ] || { echo "FAIL: release has $rel_blocks dispatch blocks"; exit 1; }
echo "ok: debug $blocks blocks (= kept; $step_blocks more in step twins), instrument-all $all_blocks (= all), release 0"

# 4. embedded weights
"$XFC" build "$SPEC" -o "$WORK/model.embedded" --release --embed-weights "$WEIGHTS"
"$WORK/model.release" --weights "$WEIGHTS" --input "$INPUT" --output "$WORK/a.npy" $extra
"$WORK/model.embedded" --input "$INPUT" --output "$WORK/b.npy" $extra
cmp "$WORK/a.npy" "$WORK/b.npy"
echo "ok: embedded weights give the same output"
