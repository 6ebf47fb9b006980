#!/bin/sh
# warnings.sh XFC SPEC WORK
#
# SPEC is a valid spec that draws a warning; its first lines say what:
#   # warning: <substring of the warning>
#   # note: <substring of the note that follows it, or nothing>
#   # at: LINE:COL                      (of the warning)
# - `xfc check SPEC`: exit status 0, `SPEC:LINE:COL: warning: …` with the
#   text, then the note;
# - `xfc check --strict SPEC`: exit status 1, the same line as an error
#   ending with "[--strict]", the note still there;
# - `xfc build --strict SPEC -o WORK/out/model`: exit status 1, WORK/out/ empty.
set -u
LC_ALL=C
export LC_ALL
XFC=$1 SPEC=$2 WORK=$3

fail() { echo "FAIL: $(basename "$SPEC"): $*"; [ -f "$WORK/stderr" ] && { echo "--- stderr:"; head -c 4000 "$WORK/stderr"; }; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/out"
warning=$(sed -n 's/^# warning: //p' "$SPEC" | head -1)
note=$(sed -n 's/^# note: //p' "$SPEC" | head -1)
at=$(sed -n 's/^# at: //p' "$SPEC" | head -1)
[ -n "$warning" ] && [ -n "$at" ] || fail "the spec lacks its '# warning:' / '# at:' lines"

"$XFC" check "$SPEC" >"$WORK/stdout" 2>"$WORK/stderr"
rc=$?
[ $rc -eq 0 ] || fail "xfc check: exit status $rc, expected 0 (a warning is not an error)"
grep -qF "$SPEC:$at: warning: $warning" "$WORK/stderr" || fail "xfc check: no '$SPEC:$at: warning: $warning'"
[ -z "$note" ] || grep -qF "$note" "$WORK/stderr" || fail "xfc check: no note '$note'"

"$XFC" check --strict "$SPEC" >"$WORK/stdout" 2>"$WORK/stderr"
rc=$?
[ $rc -eq 1 ] || fail "xfc check --strict: exit status $rc, expected 1"
first=$(sed -n 1p "$WORK/stderr")
case $first in
  "$SPEC:$at: error: $warning"*"[--strict]") ;;
  *) fail "xfc check --strict: first line is not '$SPEC:$at: error: $warning… [--strict]'" ;;
esac
[ -z "$note" ] || grep -qF "$note" "$WORK/stderr" || fail "xfc check --strict: no note '$note'"
[ -s "$WORK/stdout" ] && fail "xfc check --strict printed a plan"

"$XFC" build --strict "$SPEC" -o "$WORK/out/model" >"$WORK/stdout" 2>"$WORK/stderr"
rc=$?
[ $rc -eq 1 ] || fail "xfc build --strict: exit status $rc, expected 1"
[ -z "$(ls -A "$WORK/out")" ] || fail "xfc build --strict left files behind: $(ls -A "$WORK/out")"

echo "ok: $(basename "$SPEC"): $warning / $note"
