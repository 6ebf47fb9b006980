#!/bin/sh
# signals.sh — SIGINT / SIGTERM during a long run (docs/RELIABILITY.md,
# "Interruption"): the binary dies of the signal (status 130 / 143) and
# leaves neither its output nor a temporary file, wherever the signal lands
# (several delays: loading, the forward or generation loop, the write).
#
#   signals.sh FIXTURES WORK CASE [XFSIGNAL]
#     forward_int forward_term generate_int generate_term
#         --bench 1000000 runs, far longer than any delay: always interrupted
#     write_int write_term
#         one forward over a 12 MB input whose 12 MB output takes ≈ 0.15 s to
#         write and fsync: signalled by XFSIGNAL (tests/cli/xfsignal.c)
#         when its temporary file appears, +0, +0.5, +2 ms
#
# The binaries are those of hostile.sh's setup (WORK/binary) and tokens.sh's
# (WORK/tokens).
set -u
FIX=$1 WORK=$2 CASE=$3 XFSIGNAL=${4:-}
W=$WORK/signals/$CASE
rm -rf "$W"
mkdir -p "$W/out"
fail() { echo "FAIL: $CASE: $*"; exit 1; }
case $CASE in
  forward_*)
    BIN=$WORK/binary/bin/release/causal F=$FIX/encoder_causal
    set -- --weights "$F/weights.safetensors" --input "$F/input.npy" --bench 1000000 ;;
  generate_*)
    BIN=$WORK/tokens/bin/lm F=$FIX/gen_lm_full
    set -- --weights "$F/weights.safetensors" --input "$F/prompt.npy" --generate 12 --bench 1000000
            --step-logits "$W/out/steps.npy" ;;
  write_*)
    BIN=$WORK/binary/bin/release/causal F=$FIX/encoder_causal
    hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (2000, 24, 64), }"
    { printf '\223NUMPY\001\000\166\000'; printf "%-117s\n" "$hdr"
      head -c $((2000 * 24 * 64 * 4)) /dev/zero; } >"$W/big.npy"
    set -- --weights "$F/weights.safetensors" --input "$W/big.npy" ;;
  *) echo "signals.sh: unknown case '$CASE'"; exit 2 ;;
esac
case $CASE in
  *_int) SIG=INT SIGNUM=2 want=130 ;;
  *_term) SIG=TERM SIGNUM=15 want=143 ;;
esac
[ -x "$BIN" ] || fail "$BIN was not built (the setup test failed)"
if [ "${CASE%_*}" = write ]; then
  # xfsignal (inotify) sends the signal the moment the temporary output is
  # created, then +0.5 ms, +2 ms: mid-write however loaded the machine is.
  killed=0
  for extra in 0 500 2000; do
    said=$("$XFSIGNAL" "$W/out" $SIGNUM $extra "$BIN" "$@" --output "$W/out/y.npy" 2>"$W/err")
    rc=$?
    if [ $rc -eq $want ] && [ -z "$(ls -A "$W/out")" ]; then   # interrupted: nothing left
      killed=$((killed + 1))
    elif [ $rc -eq 0 ] || [ $rc -eq $want ]; then
      # the write was faster than the signal (which may land after the
      # rename, before the exit): the output, whole, and nothing else
      [ "$(ls -A "$W/out")" = y.npy ] || fail "SIG$SIG (+${extra} us), status $rc, left: $(ls -A "$W/out")"
      [ "$(wc -c <"$W/out/y.npy")" -eq $((2000 * 24 * 64 * 4 + 128)) ] || fail "a finished run's output is short"
      rm -f "$W/out/y.npy"
    else
      cat "$W/err"; fail "SIG$SIG mid-write (+${extra} us, $said): exit status $rc, expected $want"
    fi
  done
  [ $killed -gt 0 ] || fail "no run was interrupted mid-write"
  echo "ok: $CASE: SIG$SIG mid-write (+0, 0.5, 2 ms): $killed of 3 interrupted with status $want, nothing left"
  exit 0
fi
for delay in 0.01 0.05 0.2 0.5; do
  timeout --preserve-status -s $SIG $delay "$BIN" "$@" --output "$W/out/y.npy" >/dev/null 2>"$W/err"
  rc=$?
  [ $rc -eq $want ] || { cat "$W/err"; fail "SIG$SIG after ${delay}s: exit status $rc, expected $want"; }
  [ -z "$(ls -A "$W/out")" ] || fail "SIG$SIG after ${delay}s left: $(ls -A "$W/out")"
done
echo "ok: $CASE: status $want, nothing left, at 0.01 0.05 0.2 0.5 s"
