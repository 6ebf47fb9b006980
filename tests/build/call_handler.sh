#!/bin/sh
# call_handler.sh XFC CASE_DIR WORK — call(symbol) handlers linked with --link,
# in the debug and instrument-all profiles; and the error without --link.
set -eu
XFC=$1 CASE=$2 WORK=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"
for profile in debug instrument-all; do
  flag=; [ $profile = instrument-all ] && flag=--instrument-all
  "$XFC" build "$here/call_handler.xf" -o "$WORK/ch" $flag --link "$here/call_handler.c"
  "$WORK/ch" --weights "$CASE/weights.safetensors" --input "$CASE/input.npy" --output "$WORK/y.npy" > "$WORK/out.txt"
  cat "$WORK/out.txt"
  grep -qx 'attention layers.1.attention.inner_attention layer=1 call=0 shape=\[2,2,24,24\] rows=96.000 user=null' "$WORK/out.txt"
  grep -qx 'output "" layer=0 shape=\[2,24,64\]' "$WORK/out.txt"
  grep -qx 'output "" layer=1 shape=\[2,24,64\]' "$WORK/out.txt"
  [ "$(wc -l < "$WORK/out.txt")" -eq 3 ] || { echo "FAIL: expected exactly 3 events ($profile)"; exit 1; }
done
# without --link the build stops before the C compiler, naming the listener
if "$XFC" build "$here/call_handler.xf" -o "$WORK/nolink" 2> "$WORK/err.txt"; then
  echo "FAIL: built without --link"; exit 1
fi
grep -q 'call_handler.xf:11:30: error: call(on_output) needs its definition: pass --link FILE.c' "$WORK/err.txt"
[ ! -e "$WORK/nolink" ] || { echo "FAIL: output left behind"; exit 1; }
echo "ok: call() handlers in debug and instrument-all; missing --link is an error"
