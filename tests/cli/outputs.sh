#!/bin/sh
# outputs.sh — where a built binary's --output goes (docs/RELIABILITY.md,
# "Outputs"): the release binary of hostile.sh's setup on the encoder_causal
# fixture, against the file it writes to a regular path.
#
#   outputs.sh FIXTURES WORK CASE
#     stdout    --output - writes the same bytes to standard output, no file "-"
#     fifo      --output FIFO: the reader gets the bytes; the FIFO stays a FIFO
#     dev_full  --output /dev/full: exit 1, one line naming it (ENOSPC), and
#               /dev/full stays a character device
set -u
FIX=$1 WORK=$2 CASE=$3
BIN=$WORK/bin/release/causal
[ -x "$BIN" ] || { echo "FAIL: $BIN was not built (the setup test failed)"; exit 1; }
F=$FIX/encoder_causal
W=$WORK/outputs/$CASE
rm -rf "$W"
mkdir -p "$W"
cd "$W" || exit 2
fail() { echo "FAIL: $CASE: $*"; [ -f err ] && head -c 2000 err; exit 1; }
run() { "$BIN" --weights "$F/weights.safetensors" --input "$F/input.npy" --output "$@"; }

run "$W/ref.npy" 2>err || fail "the regular-file run failed"
case $CASE in
  stdout)
    run - >got 2>err || fail "exit status $?"
    cmp -s got ref.npy || fail "standard output differs from the file"
    [ ! -e ./- ] || fail "a file named '-' was written" ;;
  fifo)
    mkfifo p || fail "mkfifo"
    cat p >got &
    reader=$!
    run p 2>err || fail "exit status $?"
    wait $reader
    cmp -s got ref.npy || fail "the reader got other bytes"
    [ -p p ] || fail "the FIFO was replaced"
    [ "$(ls -A | grep -c tmp)" -eq 0 ] || fail "temporary files left: $(ls -A)" ;;
  dev_full)
    [ -c /dev/full ] || { echo "skip: no /dev/full"; exit 77; }
    run /dev/full 2>err
    rc=$?
    [ $rc -eq 1 ] || fail "exit status $rc, expected 1"
    [ "$(awk 'END { print NR }' err)" -eq 1 ] || fail "expected exactly one line on stderr"
    grep -q "/dev/full: write failed: No space left on device" err || fail "the message lacks the path and ENOSPC"
    [ -c /dev/full ] || fail "/dev/full is no longer a character device" ;;
  *) echo "outputs.sh: unknown case '$CASE'"; exit 2 ;;
esac
echo "ok: $CASE"
