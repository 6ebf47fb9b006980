#!/bin/sh
# run_case.sh XFC NPYCMP CASE_DIR WORK [PROFILE_FLAG]
#
# A committed export example (make_examples.py): builds CASE_DIR/model.xf — the
# spec scripts/export_torch.py wrote — with xfc, runs it on the case's inputs
# with the exported weights, and compares with PyTorch's output (expected.npy)
# within 1e-4 on the valid rows.  Optional files of the case give the flags:
#   source.npy -> --source (Transformer), memory.npy -> --memory (TransformerDecoder),
#   lengths / source_lengths / memory_lengths -> --lengths / --source-lengths / --memory-lengths.
set -eu
XFC=$1 NPYCMP=$2 CASE=$3 WORK=$4 FLAG=${5:-}

rm -rf "$WORK"
mkdir -p "$WORK"
# shellcheck disable=SC2086
"$XFC" build "$CASE/model.xf" -o "$WORK/model" $FLAG

set -- --weights "$CASE/model.safetensors" --input "$CASE/input.npy" --output "$WORK/output.npy"
[ -f "$CASE/source.npy" ] && set -- "$@" --source "$CASE/source.npy"
[ -f "$CASE/memory.npy" ] && set -- "$@" --memory "$CASE/memory.npy"
[ -f "$CASE/source_lengths" ] && set -- "$@" --source-lengths "$(cat "$CASE/source_lengths")"
[ -f "$CASE/memory_lengths" ] && set -- "$@" --memory-lengths "$(cat "$CASE/memory_lengths")"
lenargs=
if [ -f "$CASE/lengths" ]; then
  set -- "$@" --lengths "$(cat "$CASE/lengths")"
  lenargs="--lengths $(cat "$CASE/lengths") --axis 1"
fi
"$WORK/model" "$@"
# shellcheck disable=SC2086
"$NPYCMP" "$WORK/output.npy" "$CASE/expected.npy" $lenargs
