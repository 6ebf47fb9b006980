#!/bin/sh
# run_spec.sh XFC SPEC WORK
#
# SPEC is a bad spec whose first two lines say what xfc must report:
#   # expect: <substring of the message>
#   # at: LINE:COL
# For each of `xfc check SPEC`, `xfc emit SPEC -o WORK/emit` and
# `xfc build SPEC -o WORK/out/model`:
#   - exit status 1 (not 0, not 2 = usage, not a signal);
#   - stderr's first line is `SPEC:LINE:COL: error: …` containing the text;
#   - then the source line (4 spaces + the line as written, or a window of a
#     long line) and a caret under the column;
#   - no sanitizer report anywhere on stderr;
#   - emit: WORK/emit is not created; build: WORK/out/ stays empty (no
#     model, no model.tmp.* file).
# Exit 0 when all hold, 1 otherwise, 77 (ctest: skipped) for a known bug that
# the test lists with --known-no-caret (the message is right, the source
# line + caret are missing).
set -u
LC_ALL=C
export LC_ALL
XFC=$1 SPEC=$2 WORK=$3 KNOWN=${4:-}

fail() { echo "FAIL: $(basename "$SPEC"): $*"; [ -f "$WORK/stderr" ] && { echo "--- stderr:"; head -c 4000 "$WORK/stderr"; }; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK"
expect=$(sed -n '1s/^# expect: //p' "$SPEC")
at=$(sed -n '2s/^# at: //p' "$SPEC")
[ -n "$expect" ] && [ -n "$at" ] || fail "the spec lacks its '# expect:' / '# at:' lines"
line=${at%%:*} col=${at#*:}

# The caret line diag.c must print: 4 spaces, then for each byte before the
# column a space (a tab for a tab; UTF-8 continuation bytes skipped), then ^.
src_line=$(sed -n "${line}p" "$SPEC" | tr '\000' ' ' | tr -d '\r')   # diag.c shows a NUL as a blank
len=$(printf '%s' "$src_line" | wc -c)
if [ "$col" -gt 1 ]; then
  caret_pad=$(printf '%s' "$src_line" | head -c $((col - 1)) | tr -d '\200-\277' | tr -c '\t' ' ')
else
  caret_pad=
fi
shown_line=$(printf '%s' "$src_line" | tr '\001-\010\012-\037' ' ')

check_stderr() {   # $1: what ran
  err=$WORK/stderr
  if grep -q -e 'Sanitizer' -e 'runtime error' -e 'AddressSanitizer' -e 'LeakSanitizer' "$err"; then
    fail "$1: sanitizer report"
  fi
  first=$(sed -n 1p "$err")
  case $first in
    "$SPEC:$line:$col: error: "*) ;;
    *) fail "$1: first line is not '$SPEC:$line:$col: error: …'" ;;
  esac
  case $first in
    *"$expect"*) ;;
    *) fail "$1: the message lacks '$expect'" ;;
  esac
  l2=$(sed -n 2p "$err") l3=$(sed -n 3p "$err")
  case $l3 in
    *"^") ;;
    *)
      if [ -n "$KNOWN" ] && [ -z "$l2" -o "${l2#"$SPEC"}" != "$l2" ]; then
        echo "SKIP (known bug): $1: no source line and caret after the message"
        head -3 "$err"
        exit 77
      fi
      fail "$1: no source line + caret after the message" ;;
  esac
  if [ "$len" -le 160 ]; then
    [ "$l2" = "    $shown_line" ] || fail "$1: second line is not the source line $line"
    [ "$l3" = "    $caret_pad^" ] || fail "$1: the caret is not under column $col"
  else
    case $l2 in "    "*) ;; *) fail "$1: second line is not the (windowed) source line" ;; esac
  fi
}

"$XFC" check "$SPEC" >"$WORK/stdout" 2>"$WORK/stderr"
rc=$?
[ $rc -eq 1 ] || fail "xfc check: exit status $rc, expected 1"
check_stderr "xfc check"

"$XFC" emit "$SPEC" -o "$WORK/emit" >"$WORK/stdout" 2>"$WORK/stderr"
rc=$?
[ $rc -eq 1 ] || fail "xfc emit: exit status $rc, expected 1"
check_stderr "xfc emit"
[ ! -e "$WORK/emit" ] || fail "xfc emit created $WORK/emit"

OUT=$WORK/out/model
mkdir -p "$WORK/out"
"$XFC" build "$SPEC" -o "$OUT" >"$WORK/stdout" 2>"$WORK/stderr"
rc=$?
[ $rc -eq 1 ] || fail "xfc build: exit status $rc, expected 1"
check_stderr "xfc build"
[ ! -e "$OUT" ] || fail "xfc build left $OUT behind"
[ -z "$(ls -A "$WORK/out")" ] || fail "xfc build left files behind: $(ls -A "$WORK/out")"

echo "ok: $(basename "$SPEC"): $(sed -n 1p "$WORK/stderr")"
