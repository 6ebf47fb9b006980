#!/bin/sh
# absurd.sh XFC WORK CASE
#
# Specs too big, too empty or too binary to keep as files in specs/: made
# here, then `xfc check` and `xfc build -o OUT` must each exit 1 with the
# expected first line, print no sanitizer report, finish (ctest's timeout)
# and leave no OUT behind.
set -u
LC_ALL=C
export LC_ALL
XFC=$1 WORK=$2 CASE=$3

fail() { echo "FAIL: $CASE: $*"; [ -f "$WORK/stderr" ] && { echo "--- stderr:"; head -c 3000 "$WORK/stderr"; }; exit 1; }
rm -rf "$WORK"
mkdir -p "$WORK/out"
S=$WORK/$CASE.xf

rep() {   # rep N TEXT: TEXT N times, without a loop per byte
  n=$1 t=$2 out=
  while [ "$n" -gt 0 ]; do
    [ $((n % 2)) -eq 1 ] && out=$out$t
    t=$t$t n=$((n / 2))
  done
  printf '%b' "$out"
}
header() { printf 'model m : TransformerEncoder {\n}\n'; }

case $CASE in
  empty)            # 0 bytes
    : >"$S"
    want="$S: error: no model declared" ;;
  comments_only)
    printf '# nothing but a comment\n\n   \n# and another\n' >"$S"
    want="$S: error: no model declared" ;;
  too_large)        # one byte over the 1 MiB limit
    head -c 1048577 /dev/zero | tr '\000' '#' >"$S"
    want="$S: error: file too large" ;;
  binary)           # the bytes of an ELF header: the first NUL at 1:8
    printf '\177ELF\002\001\001\000\000\000' >"$S"
    want="$S:1:8: error: file contains a NUL byte" ;;
  binary_no_nul)    # high bytes and control characters, no NUL
    printf '\377\376\375\001\002\003\200\201model\n' >"$S"
    want="$S:1:1: error: stray character" ;;
  long_line)        # a 200000-byte line, the error at its end (shown as a window)
    { header; printf 'listen AttentionEvent'; rep 200000 ' '; printf '@ -> stats\n'; } >"$S"
    want="$S:3:200022: error: stray character '@'" ;;
  long_string)
    { header; printf 'listen AttentionEvent -> save("'; rep 200000 a; printf '.npy")\n'; } >"$S"
    want="$S:3:31: error: string too long" ;;
  long_identifier)
    { printf 'model '; rep 100000 m; printf ' : TransformerEncoder {\n}\n'; } >"$S"
    want="$S:1:7: error: identifier too long" ;;
  deep_parens)      # 100000 nested parentheses around a filter
    { header; printf 'listen '; rep 100000 '('; printf AttentionEvent; rep 100000 ')'; printf ' -> stats\n'; } >"$S"
    want="$S:3:72: error: filter nested too deeply" ;;
  deep_not)         # 100000 × ~
    { header; printf 'listen '; rep 100000 '~'; printf 'AttentionEvent -> stats\n'; } >"$S"
    want="$S:3:72: error: filter nested too deeply" ;;
  deep_expr)        # a predicate nested 100000 deep
    { header; printf 'listen AttentionEvent & ('; rep 100000 '('; printf layer; rep 100000 ')'; printf ' == 1) -> stats\n'; } >"$S"
    want="$S:3:89: error: filter nested too deeply" ;;
  long_sum)         # 100000 terms: a left-leaning tree 100000 deep
    { header; printf 'listen AttentionEvent & (layer'; rep 100000 ' + layer'; printf ' == 1) -> stats\n'; } >"$S"
    want="$S:3:536: error: filter nested too deeply" ;;
  many_errors)      # 20000 unknown settings: 100 reported, then a note
    { printf 'model m : TransformerEncoder {\n'; rep 20000 '  n_layer = 1\n'; printf '}\n'; } >"$S"
    want="$S:2:3: error: unknown setting 'n_layer'" ;;
  many_listeners)   # 20000 listeners of which one is bad: no quadratic blow-up
    { header; rep 20000 'listen AttentionEvent -> stats\n'; printf 'listen Bogus -> stats\n'; } >"$S"
    want="$S:20003:8: error: unknown event class 'Bogus'" ;;
  many_lines)       # 500000 empty lines, then the error
    { header; rep 500000 '\n'; printf 'n_layers = 4\n'; } >"$S"
    want="$S:500003:1: error: syntax error" ;;
  *) echo "absurd.sh: unknown case '$CASE'"; exit 2 ;;
esac

for cmd in check build; do
  if [ $cmd = check ]; then
    "$XFC" check "$S" >"$WORK/stdout" 2>"$WORK/stderr"
  else
    "$XFC" build "$S" -o "$WORK/out/model" >"$WORK/stdout" 2>"$WORK/stderr"
  fi
  rc=$?
  [ $rc -eq 1 ] || fail "xfc $cmd: exit status $rc, expected 1"
  if grep -q -e 'Sanitizer' -e 'runtime error' "$WORK/stderr"; then fail "xfc $cmd: sanitizer report"; fi
  first=$(sed -n 1p "$WORK/stderr")
  case $first in
    "$want"*) ;;
    *) fail "xfc $cmd: first line is not '$want…'" ;;
  esac
  if [ $cmd = build ]; then
    [ -z "$(ls -A "$WORK/out")" ] || fail "xfc build left files behind: $(ls -A "$WORK/out")"
  fi
  # at most 100 errors are printed: stderr stays small whatever the spec
  [ "$(wc -c <"$WORK/stderr")" -lt 200000 ] || fail "xfc $cmd: $(wc -c <"$WORK/stderr") bytes of diagnostics"
done
echo "ok: $CASE: $first"
