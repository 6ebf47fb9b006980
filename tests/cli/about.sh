#!/bin/sh
# about.sh TOOL FIXTURES WORK CASE
#
# What a built binary says about itself (--help's first paragraph, --version)
# and one sequence given as [seq, d_model] (the output then has that rank too,
# with the numbers of the same sequence given as [1, seq, d_model]).  Uses the
# binaries hostile.sh's setup built in WORK/bin.
set -u
LC_ALL=C
export LC_ALL
TOOL=$1 FIX=$2 WORK=$3 CASE=$4
W=$WORK/about/$CASE
rm -rf "$W"
mkdir -p "$W"
cd "$W" || exit 2
REL=$WORK/bin/release/causal DBG=$WORK/bin/debug/causal DEC=$WORK/bin/instrument/dec
F=$FIX/encoder_causal D=$FIX/decoder_cross

fail() { echo "FAIL: $CASE: $*"; exit 1; }
# has FILE TEXT: TEXT in FILE, the paragraph's line breaks read as blanks
has() { tr '\n' ' ' <"$1" | grep -qF -- "$2" || { echo "--- $1:"; cat "$1"; fail "no '$2'"; }; }
# first_sample IN.npy SEQ: IN's first sample as s3.npy [1, SEQ, 64] and s2.npy [SEQ, 64]
# (the fixtures' .npy headers are 128 bytes)
first_sample() {
  "$TOOL" truncate "$1" "$W/first.npy" $((128 + $2 * 64 * 4)) || fail "truncate $1"
  "$TOOL" npy-header "$W/first.npy" "$W/${3}3.npy" "{'descr': '<f4', 'fortran_order': False, 'shape': (1, $2, 64), }" &&
  "$TOOL" npy-header "$W/first.npy" "$W/${3}2.npy" "{'descr': '<f4', 'fortran_order': False, 'shape': ($2, 64), }" ||
    fail "npy-header"
}
# same_numbers A.npy B.npy SHAPE: B's header says SHAPE, and both hold the same bytes of data
same_numbers() {
  head -c 128 "$2" | grep -qF "'shape': ($3)" || fail "$2 does not have shape ($3): $(head -c 80 "$2")"
  size=$(wc -c <"$1")
  [ "$size" -eq "$(wc -c <"$2")" ] || fail "$1 and $2 differ in size"
  tail -c $((size - 128)) "$1" >a.bin; tail -c $((size - 128)) "$2" >b.bin
  cmp -s a.bin b.bin || fail "$2 ([$3]) differs from $1 ([1, $3])"
}

case $CASE in
  help_describes_the_model)
    "$REL" --help >help.txt 2>err.txt || fail "--help: exit status $?"
    has help.txt "causal: a TransformerEncoder compiled by xfc"
    has help.txt "from model.xf (profile release)"
    has help.txt "2 layers, d_model 64 (2 heads x 32), feed-forward 128, relu, post-norm, causal full attention"
    has help.txt "[batch, seq, 64] (or [seq, 64], one sequence)"
    has help.txt "No listeners compiled in."
    has help.txt "usage: "
    [ "$(head -c 7 help.txt)" = "causal:" ] || fail "--help does not start with the description" ;;
  help_debug_lists_listeners)
    "$DBG" --help >help.txt || fail "--help: exit status $?"
    has help.txt "(profile debug)"
    has help.txt 'line 10: listen QKVEvent -> save("layers.{layer}.{field}.npy")'
    has help.txt 'line 11: listen AttentionEvent -> save("layers.{layer}.attention.npy")'
    "$DEC" --help >dec.txt || fail "--help: exit status $?"
    has dec.txt "dec: a TransformerDecoder"
    has dec.txt "full cross-attention"
    has dec.txt "--memory M.npy [batch, mem, 64]" ;;
  version_names_the_spec)
    "$REL" --version >rel.txt || fail "--version: exit status $?"
    "$DBG" --version >dbg.txt || fail "--version: exit status $?"
    grep -Eq '^causal \(spec model\.xf, fnv1a64 [0-9a-f]{16}\) built by xfc [0-9.]+, profile release$' rel.txt ||
      fail "--version: '$(cat rel.txt)'"
    grep -Eq '^causal \(spec encoder_causal\.xf, fnv1a64 [0-9a-f]{16}\) built by xfc [0-9.]+, profile debug$' dbg.txt ||
      fail "--version: '$(cat dbg.txt)'"
    h1=$(sed 's/.*fnv1a64 \([0-9a-f]*\).*/\1/' rel.txt) h2=$(sed 's/.*fnv1a64 \([0-9a-f]*\).*/\1/' dbg.txt)
    [ "$h1" != "$h2" ] || fail "two different specs, one hash $h1" ;;
  rank2_input_rank2_output)
    first_sample "$F/input.npy" 24 x
    "$REL" --weights "$F/weights.safetensors" --input x3.npy --output y3.npy || fail "[1, 24, 64]: exit status $?"
    "$REL" --weights "$F/weights.safetensors" --input x2.npy --output y2.npy || fail "[24, 64]: exit status $?"
    same_numbers y3.npy y2.npy "24, 64" ;;
  rank2_memory)   # a decoder: input and memory both one sequence
    first_sample "$D/input.npy" 12 x
    first_sample "$D/memory.npy" 17 m
    "$DEC" --weights "$D/weights.safetensors" --input x3.npy --memory m3.npy --output y3.npy || fail "exit status $?"
    "$DEC" --weights "$D/weights.safetensors" --input x2.npy --memory m2.npy --output y2.npy || fail "exit status $?"
    same_numbers y3.npy y2.npy "12, 64" ;;
  bench_output_is_the_forward)   # the forward runs in place over the input's buffer:
    # --bench re-reads the input file before each run (inputs are regular files)
    cp "$F/input.npy" x.npy
    sum=$(cksum <x.npy)
    "$REL" --weights "$F/weights.safetensors" --input x.npy --output once.npy || fail "exit status $?"
    "$REL" --weights "$F/weights.safetensors" --input x.npy --output bench.npy --bench 3 >out.txt ||
      fail "--bench: exit status $?"
    grep -q "runs=3" out.txt || fail "--bench printed no forward_ms line: $(cat out.txt)"
    "$DEC" --weights "$D/weights.safetensors" --input "$D/input.npy" --memory "$D/memory.npy" --output dec1.npy ||
      fail "decoder: exit status $?"
    "$DEC" --weights "$D/weights.safetensors" --input "$D/input.npy" --memory "$D/memory.npy" --output dec2.npy --bench 2 >/dev/null ||
      fail "decoder --bench: exit status $?"
    [ "$(cksum <x.npy)" = "$sum" ] || fail "the input file changed"
    cmp -s once.npy bench.npy || fail "--bench 3 wrote other numbers than one forward"
    cmp -s dec1.npy dec2.npy || fail "the decoder's --bench wrote other numbers than one forward" ;;
  *) echo "about.sh: unknown case '$CASE'"; exit 2 ;;
esac
echo "ok: $CASE"
