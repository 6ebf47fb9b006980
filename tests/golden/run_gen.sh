#!/bin/sh
# run_gen.sh XFC GENCMP NPYCMP HANDLERS CASE_DIR WORK PROFILE K EOS EOS_STEPS [SOURCE_LENGTHS]
#
# A generation golden test (SPEC §8): the fixture's model.xf built in PROFILE, with
# (debug, instrument-all) a listener saving layer 0's attention of every step, then:
#   - greedy ids of `--generate K` equal PyTorch's exactly;
#   - --step-logits within 1e-4 of PyTorch's (each row up to its eos step);
#   - a forward over the generated ids gives PyTorch's logits within 1e-4;
#   - step k's attention equals row P+k-1 of the forward's (step 0: rows 0..P-1);
#   - release: no event file at all.
# EOS is "" for none; EOS_STEPS as gencmp takes them ("" for none).
set -eu
XFC=$1 GENCMP=$2 NPYCMP=$3 HANDLERS=$4 CASE=$5 WORK=$6 PROFILE=$7 K=$8 EOS=$9
shift 9
EOS_STEPS=${1:-} SOURCE_LENGTHS=${2:-}

rm -rf "$WORK"
mkdir -p "$WORK/events"
cp "$CASE/model.xf" "$WORK/spec.xf"
case $PROFILE in
  debug) flag= ;;
  release) flag=--release ;;
  instrument-all) flag=--instrument-all ;;
  *) echo "bad profile $PROFILE"; exit 2 ;;
esac
layer0="layers[0]"
[ -f "$CASE/source.npy" ] && layer0="decoder.layers[0]"
if [ "$PROFILE" != release ]; then
  echo "listen AttentionEvent & within($layer0) -> call(save_step_attention)" >> "$WORK/spec.xf"
fi
"$XFC" build "$WORK/spec.xf" -o "$WORK/model" $flag --link "$HANDLERS"

set -- --weights "$CASE/weights.safetensors"
if [ -f "$CASE/source.npy" ]; then
  set -- "$@" --source "$CASE/source.npy"
  [ -n "$SOURCE_LENGTHS" ] && set -- "$@" --source-lengths "$SOURCE_LENGTHS"
fi
eos=
[ -n "$EOS" ] && eos="--eos $EOS"

cd "$WORK/events"
# shellcheck disable=SC2086
"$WORK/model" "$@" --input "$CASE/prompt.npy" --generate "$K" $eos --output "$WORK/out.npy" \
  --step-logits "$WORK/step_logits.npy"
"$GENCMP" ids "$WORK/out.npy" "$CASE/generated.npy"
"$GENCMP" steps "$WORK/step_logits.npy" "$CASE/step_logits.npy" "$EOS_STEPS"
"$WORK/model" "$@" --input "$CASE/generated.npy" --output "$WORK/logits.npy"
"$NPYCMP" "$WORK/logits.npy" "$CASE/logits.npy"

if [ "$PROFILE" = release ]; then
  if [ -n "$(ls -A "$WORK/events")" ]; then
    echo "FAIL: the release build wrote event files:"; ls "$WORK/events"; exit 1
  fi
  echo "release: ids, step logits and logits match, no events"
  exit 0
fi
count=0
for full in "$CASE"/layers.0.attention.npy "$CASE"/decoder.layers.0.self_attention.npy \
            "$CASE"/decoder.layers.0.cross_attention.npy; do
  [ -f "$full" ] || continue
  prefix=$(basename "$full" .npy).inner_attention
  "$GENCMP" attention "$full" "$CASE/prompt.npy" "$WORK/events/$prefix"
  count=$((count + 1))
done
echo "$PROFILE: ids, step logits, logits and $count attention files match"
