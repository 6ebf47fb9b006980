#!/bin/sh
# handlers.sh — a debug binary whose handlers fail (docs/RELIABILITY.md,
# "Handler failures"): tests/cli/heatmap.xf draws every attention matrix
# under --events-dir; here that directory is under a regular file, so every
# heatmap fails (as root too, unlike a chmod'ed directory).
#
#   handlers.sh setup XFC CLI_DIR WORK       builds WORK/bin/heatmap (debug)
#   handlers.sh case FIXTURES WORK CASE
#     pass         a writable events dir: exit 0, two PNGs, no failure on stderr
#     lost         exit 3, the output written (as the pass case's), the
#                  handler's failure once, then "2 event outputs lost"
#     must_succeed --events-must-succeed: exit 3, no output, the driver's line
#                  "stopped, no output written"
#     bench_lost   --bench 3 with --events-must-succeed: stops after the
#                  warm-up, prints no timing
set -u
LC_ALL=C
export LC_ALL
if [ "$1" = setup ]; then
  rm -rf "$4/bin"
  mkdir -p "$4/bin"
  "$2" build "$3/heatmap.xf" -o "$4/bin/heatmap" || exit 1
  echo "built heatmap (debug)"
  exit 0
fi
FIX=$2 WORK=$3 CASE=$4
F=$FIX/encoder_causal
BIN=$WORK/bin/heatmap
W=$WORK/case/$CASE
rm -rf "$W"
mkdir -p "$W/out" "$W/events"
: >"$W/blocker"
fail() { echo "FAIL: $CASE: $*"; cat "$W/err" 2>/dev/null; exit 1; }
[ -x "$BIN" ] || fail "$BIN was not built (the setup test failed)"
run() { "$BIN" --weights "$F/weights.safetensors" --input "$F/input.npy" "$@" >"$W/stdout" 2>"$W/err"; }
case $CASE in
  pass)
    run --output "$W/out/y.npy" --events-dir "$W/events" || fail "exit status $?"
    ! grep -q 'xfrt:\|lost\|causal:' "$W/err" || fail "a failure was reported"
    [ "$(ls "$W/events/maps" | wc -l)" -eq 2 ] || fail "expected 2 heatmaps: $(ls "$W/events/maps")" ;;
  lost)
    run --output "$W/out/ref.npy" --events-dir "$W/events" || fail "the passing run failed"
    run --output "$W/out/y.npy" --events-dir "$W/blocker/events"
    rc=$?
    [ $rc -eq 3 ] || fail "exit status $rc, expected 3"
    cmp -s "$W/out/ref.npy" "$W/out/y.npy" || fail "the output was not written (or differs)"
    [ "$(grep -c '^xfrt: \|^causal: ' "$W/err")" -eq 2 ] || fail "expected 2 lines on stderr (the failure, the count)"
    grep -q 'xfrt: heatmap("maps/{source}.png").*blocker/events/maps' "$W/err" || fail "the failure does not name the file"
    grep -q '^causal: 2 event outputs lost: handlers failed' "$W/err" || fail "the count is missing or wrong" ;;
  must_succeed)
    run --output "$W/out/y.npy" --events-dir "$W/blocker/events" --events-must-succeed
    rc=$?
    [ $rc -eq 3 ] || fail "exit status $rc, expected 3"
    [ -z "$(ls -A "$W/out")" ] || fail "output left: $(ls -A "$W/out")"
    grep '^causal: ' "$W/err" | grep -q '^causal: a handler failed (--events-must-succeed): stopped, no output written$' ||
      fail "no line says it stopped" ;;
  bench_lost)
    run --bench 3 --events-dir "$W/blocker/events" --events-must-succeed
    rc=$?
    [ $rc -eq 3 ] || fail "exit status $rc, expected 3"
    [ ! -s "$W/stdout" ] || fail "a timing was printed: $(cat "$W/stdout")" ;;
  *) echo "handlers.sh: unknown case '$CASE'"; exit 2 ;;
esac
echo "ok: $CASE"
