#!/bin/sh
# reformer_chunks.sh — reformer sorts the sequence into whole chunks of
# chunk_size: a call of another length is refused up front (exit 1, one line,
# no output); a multiple runs.
#
#   reformer_chunks.sh XFC FIXTURES SPECS WORK   (the ft_reformer_rounds case: chunk_size 4)
set -u
XFC=$1 FIX=$2 SPECS=$3 WORK=$4
F=$FIX/ft_reformer_rounds
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK" || exit 2
fail() { echo "FAIL: $*"; [ -f err ] && head -c 2000 err; exit 1; }
"$XFC" build "$SPECS/ft_reformer_rounds.xf" -o ref --release 2>err || fail "build"
"$XFC" check "$SPECS/ft_reformer_rounds.xf" >out 2>err || fail "check"
grep -qF "random layers.0.attention.inner_attention.planes [3, 5, 6] (reformer hashing planes)" out ||
    fail "xfc check does not say where the planes come from: $(cat out)"
# x.npy: float32 zeros [1, 10, 24] (a header padded to 128 bytes, then the data)
h="{'descr': '<f4', 'fortran_order': False, 'shape': (1, 10, 24), }"
{ printf '\223NUMPY\001\000\166\000%s' "$h"; printf '%*s\n' $((117 - ${#h})) ''; head -c 960 /dev/zero; } > x.npy
./ref --weights "$F/weights.safetensors" --input x.npy --output out.npy 2>err
rc=$?
[ $rc -eq 1 ] || fail "exit $rc, expected 1"
[ "$(wc -l < err)" -eq 1 ] || fail "not one line"
grep -qF "seq = 10 is not a multiple of chunk_size 4 of reformer attention" err || fail "message: $(cat err)"
[ ! -e out.npy ] || fail "wrote an output"
./ref --weights "$F/weights.safetensors" --input "$F/input.npy" --output out.npy 2>err || fail "the 16-row input failed"
echo "reformer_chunks: a call that is not whole chunks is one line, exit 1"
