#!/bin/sh
# aft_length.sh — a call longer than aft_full's max_sequence_length (the rows
# of its learned u and v) is refused up front: exit 1, one line, no output.
#
#   aft_length.sh XFC FIXTURES SPECS WORK   (the ft_aft_full case: max_sequence_length 16)
set -u
XFC=$1 FIX=$2 SPECS=$3 WORK=$4
F=$FIX/ft_aft_full
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK" || exit 2
fail() { echo "FAIL: $*"; [ -f err ] && head -c 2000 err; exit 1; }
"$XFC" build "$SPECS/ft_aft_full.xf" -o aft --release 2>err || fail "build"
# x.npy: float32 zeros [1, 20, 24] (a header padded to 128 bytes, then the data)
h="{'descr': '<f4', 'fortran_order': False, 'shape': (1, 20, 24), }"
{ printf '\223NUMPY\001\000\166\000%s' "$h"; printf '%*s\n' $((117 - ${#h})) ''; head -c 1920 /dev/zero; } > x.npy
./aft --weights "$F/weights.safetensors" --input x.npy --output out.npy 2>err
rc=$?
[ $rc -eq 1 ] || fail "exit $rc, expected 1"
[ "$(wc -l < err)" -eq 1 ] || fail "not one line"
grep -qF "seq = 20 exceeds max_sequence_length 16 of aft_full attention" err || fail "message: $(cat err)"
[ ! -e out.npy ] || fail "wrote an output"
./aft --weights "$F/weights.safetensors" --input "$F/input.npy" --output out.npy 2>err || fail "the 12-row input failed"
echo "aft_length: a call past max_sequence_length is one line, exit 1"
