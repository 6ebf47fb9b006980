#!/bin/sh
# memcap.sh — a run whose address space is capped (prlimit --as) below what
# it needs (docs/RELIABILITY.md, "Memory"): exit status 1 and one line saying
# "out of memory", never a signal, never a hang; a cap that suffices: exit 0.
#
#   memcap.sh FIXTURES WORK CASE BLAS SANITIZE
#     forward   the release encoder of hostile.sh's setup on a [5000, 24, 64]
#               input (29 MiB, overwritten in place by the output; 59 MiB of
#               working memory: its layers run in blocks of rows, only the
#               keys and values are kept for every row), capped at 60 … 170
#               MiB: the input, the workspace or the room kept for oneDNN's
#               kernels fails (once, with the window moved, the workspace
#               fit and the forward died in oneDNN's kernel generation:
#               runtime/model_support.c, KERNEL_ROOM).  Then 195 MiB with
#               --threads 1 suffices (175 on this VM): exit 0 and the output
#               written — whole layers (117 MiB of working memory) needed
#               232, and a binary that still kept a second [5000, 24, 64]
#               array for its output more than 260.
#     generate  the release token model of tokens.sh's setup, 20 000 prompts
#               of 4 tokens, --generate 32: its KV cache (368 MB) fails at
#               100 … 340 MiB
# OpenMP's own exit when it cannot make its threads ("libgomp: Thread creation
# failed") is a failure here: drivers start the team before taking memory.
# Skipped (77) under ASan (its shadow memory is terabytes of address space:
# every cap fails at startup) and on the OpenBLAS backend, whose worker
# threads retry a failed 128 MiB buffer allocation forever instead of
# failing (docs/RELIABILITY.md).
set -u
FIX=$1 WORK=$2 CASE=$3 BLAS=$4 SANITIZE=$5
case $SANITIZE in ON|1|TRUE|YES|on|true|yes) echo "skip: ASan reserves more address space than any cap"; exit 77 ;; esac
[ "$BLAS" = openblas ] && { echo "skip: OpenBLAS threads loop on a failed allocation (docs/RELIABILITY.md)"; exit 77; }
command -v prlimit >/dev/null || { echo "skip: no prlimit"; exit 77; }
W=$WORK/memcap/$CASE
rm -rf "$W"
mkdir -p "$W/out"
fail() { echo "FAIL: $CASE: $*"; cat "$W/err" 2>/dev/null; exit 1; }
npy() {   # npy FILE DESCR SHAPE BYTES: zeros with a 128-byte header
  hdr="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
  { printf '\223NUMPY\001\000\166\000'; printf "%-117s\n" "$hdr"; head -c "$4" /dev/zero; } >"$1"
}
case $CASE in
  forward)
    BIN=$WORK/binary/bin/release/causal F=$FIX/encoder_causal caps="60 80 100 120 140 160 170" enough=195
    npy "$W/x.npy" '<f4' '(5000, 24, 64)' $((5000 * 24 * 64 * 4))
    set -- --weights "$F/weights.safetensors" --input "$W/x.npy" ;;
  generate)
    BIN=$WORK/tokens/bin/lm F=$FIX/gen_lm_full caps="100 160 220 280 340" enough=
    npy "$W/ids.npy" '<i4' '(20000, 4)' $((20000 * 4 * 4))
    set -- --weights "$F/weights.safetensors" --input "$W/ids.npy" --generate 32 ;;
  *) echo "memcap.sh: unknown case '$CASE'"; exit 2 ;;
esac
[ -x "$BIN" ] || fail "$BIN was not built (the setup test failed)"
for mib in $caps; do
  prlimit --as=$((mib * 1024 * 1024)) timeout 120 "$BIN" "$@" --output "$W/out/y.npy" >/dev/null 2>"$W/err"
  rc=$?
  [ $rc -ne 124 ] || fail "--as=${mib}MiB: hung (killed after 120 s)"
  [ $rc -eq 1 ] || fail "--as=${mib}MiB: exit status $rc, expected 1"
  [ "$(wc -l <"$W/err")" -eq 1 ] || fail "--as=${mib}MiB: expected one line on stderr"
  grep -q "out of memory" "$W/err" || fail "--as=${mib}MiB: the line does not say out of memory"
  [ -z "$(ls -A "$W/out")" ] || fail "--as=${mib}MiB: output left: $(ls -A "$W/out")"
  echo "--as=${mib}MiB: $(cat "$W/err")"
done
if [ -n "$enough" ]; then
  prlimit --as=$((enough * 1024 * 1024)) timeout 120 "$BIN" "$@" --threads 1 --output "$W/out/y.npy" >/dev/null 2>"$W/err"
  rc=$?
  [ $rc -eq 0 ] || fail "--as=${enough}MiB --threads 1: exit status $rc, expected 0 (the run fits)"
  [ -s "$W/out/y.npy" ] || fail "--as=${enough}MiB --threads 1: no output written"
  echo "--as=${enough}MiB --threads 1: exit 0, output written"
fi
echo "ok: $CASE: exit 1 and one 'out of memory' line at $caps MiB${enough:+, exit 0 at $enough MiB}"
