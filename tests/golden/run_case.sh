#!/bin/sh
# run_case.sh XFC NPYCMP CASE_DIR SPEC WORK PROFILE [LENGTHS [SOURCE_LENGTHS]]
# (SOURCE_LENGTHS: the source's of a Transformer, the memory's of a decoder)
#
# Builds SPEC with xfc in PROFILE (debug | release | instrument-all), runs it on
# the fixture CASE_DIR and compares, within 1e-4 on the valid rows:
#   - output.npy always;
#   - every per-layer payload of the fixture (layers.*.npy) in debug and
#     instrument-all, where the spec's listeners save them under fixture names;
#   - in release, that no event file was written at all.
set -eu
XFC=$1 NPYCMP=$2 CASE=$3 SPEC=$4 WORK=$5 PROFILE=$6 LENGTHS=${7:-} SOURCE_LENGTHS=${8:-}

rm -rf "$WORK"
mkdir -p "$WORK/events"
case $PROFILE in
  debug) flag= ;;
  release) flag=--release ;;
  instrument-all) flag=--instrument-all ;;
  *) echo "bad profile $PROFILE"; exit 2 ;;
esac

"$XFC" build "$SPEC" -o "$WORK/model" $flag

set -- --weights "$CASE/weights.safetensors" --input "$CASE/input.npy" --output "$WORK/output.npy" \
       --events-dir "$WORK/events"
[ -f "$CASE/memory.npy" ] && set -- "$@" --memory "$CASE/memory.npy"
[ -f "$CASE/src.npy" ] && set -- "$@" --source "$CASE/src.npy"
[ -f "$CASE/mask.npy" ] && set -- "$@" --mask "$CASE/mask.npy"
[ -f "$CASE/memory_mask.npy" ] && set -- "$@" --memory-mask "$CASE/memory_mask.npy"
lenargs=
srclenargs=
if [ -n "$LENGTHS" ]; then
  set -- "$@" --lengths "$LENGTHS"
  lenargs="--lengths $LENGTHS"
fi
if [ -n "$SOURCE_LENGTHS" ]; then
  # a decoder's memory (memory.npy) or a Transformer's source (src.npy)
  if [ -f "$CASE/memory.npy" ]; then
    set -- "$@" --memory-lengths "$SOURCE_LENGTHS"
  else
    set -- "$@" --source-lengths "$SOURCE_LENGTHS"
  fi
  srclenargs="--lengths $SOURCE_LENGTHS"
fi
"$WORK/model" "$@"

# shellcheck disable=SC2086
"$NPYCMP" "$WORK/output.npy" "$CASE/output.npy" $lenargs --axis 1

count=0
for expected in "$CASE"/layers.*.npy "$CASE"/encoder.layers.*.npy "$CASE"/decoder.layers.*.npy; do
  [ -f "$expected" ] || continue
  name=$(basename "$expected")
  actual="$WORK/events/$name"
  if [ "$PROFILE" = release ]; then
    continue
  fi
  if [ ! -f "$actual" ]; then
    echo "FAIL: the $PROFILE build did not save $name"
    exit 1
  fi
  case $name in
    *attention.npy) axis=2 ;;   # [N,H,L,S]: queries on axis 2
    *) axis=1 ;;                # [N,L,H,E]
  esac
  # the valid positions along that axis: the source's for the encoder and
  # for the keys/values of cross-attention, the target's otherwise
  case $name in
    encoder.*|*cross_keys.npy|*cross_values.npy) lens=$srclenargs ;;
    *) lens=$lenargs ;;
  esac
  # shellcheck disable=SC2086
  "$NPYCMP" "$actual" "$expected" $lens --axis $axis
  count=$((count + 1))
done

if [ "$PROFILE" = release ]; then
  if [ -n "$(ls -A "$WORK/events")" ]; then
    echo "FAIL: the release build wrote event files:"; ls "$WORK/events"; exit 1
  fi
  echo "release: output matches, no events written"
else
  echo "$PROFILE: output and $count event payloads match"
fi
