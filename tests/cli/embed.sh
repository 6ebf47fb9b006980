#!/bin/sh
# embed.sh XFC TOOL FIXTURES WORK CASE
#
# `xfc build --embed-weights W` loads W into the new binary before writing it
# (`BIN --check-weights`): weights of another model, or with a tensor missing,
# are the load's own one-line message after "xfc: error: --embed-weights: ",
# exit status 1, no binary; the right weights give a binary that needs no
# --weights.
set -u
LC_ALL=C
export LC_ALL
XFC=$1 TOOL=$2 FIX=$3 WORK=$4 CASE=$5
W=$WORK/$CASE
rm -rf "$W"
mkdir -p "$W/out"
cd "$W" || exit 2
SPEC=$(dirname "$0")/model.xf   # encoder_causal's model: 2 layers, d_model 64
F=$FIX/encoder_causal

fail() { echo "FAIL: $CASE: $*"; [ -f err.txt ] && cat err.txt; exit 1; }
refused() {   # refused WEIGHTS TEXT
  "$XFC" build "$SPEC" -o "$W/out/model" --release --embed-weights "$1" 2>err.txt >/dev/null
  rc=$?
  [ $rc -eq 1 ] || fail "exit status $rc, expected 1"
  [ "$(wc -l <err.txt)" -eq 1 ] || fail "expected one line on stderr"
  case $(cat err.txt) in
    "xfc: error: --embed-weights: "*"$2") ;;
    *) fail "expected 'xfc: error: --embed-weights: …$2'" ;;
  esac
  [ -z "$(ls -A "$W/out")" ] || fail "files left behind: $(ls -A "$W/out")"
  echo "ok: $CASE: $(cat err.txt)"
}

case $CASE in
  other_model)   # 4 layers of d_model 256
    refused "$FIX/encoder_getting_started/weights.safetensors" \
      "encoder_getting_started/weights.safetensors: tensor layers.0.self_attn.in_proj_weight: shape [768,256], expected [192,64]" ;;
  missing_tensor)
    "$TOOL" st-drop "$F/weights.safetensors" "$W/w.safetensors" layers.1.norm2.bias || fail "st-drop"
    refused "$W/w.safetensors" "$W/w.safetensors: tensor layers.1.norm2.bias: missing" ;;
  right_weights)
    "$XFC" build "$SPEC" -o "$W/out/model" --release --embed-weights "$F/weights.safetensors" || fail "build: $?"
    "$W/out/model" --check-weights || fail "--check-weights: exit status $?"
    "$W/out/model" --input "$F/input.npy" --output y.npy || fail "run: exit status $?"
    "$W/out/model" --check-weights --weights "$FIX/encoder_getting_started/weights.safetensors" 2>err.txt &&
      fail "--check-weights accepted another model's weights"
    grep -qF "shape [768,256], expected [192,64]" err.txt || fail "--check-weights --weights: wrong message"
    echo "ok: $CASE" ;;
  *) echo "embed.sh: unknown case '$CASE'"; exit 2 ;;
esac
