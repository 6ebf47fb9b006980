#!/bin/sh
# run.sh SECONDS [HARNESS...] — runs each libFuzzer harness (default: spec,
# safetensors, npy, vocab) for SECONDS seconds, one after the other, and prints each
# one's executions and coverage (libFuzzer's final `cov:`/`ft:`).
#
# Needs a clang build with XF_FUZZ=ON (docs/RELIABILITY.md):
#   CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXF_FUZZ=ON
#   cmake --build build-fuzz -j2 --target fuzz_spec fuzz_safetensors fuzz_npy fuzz_vocab
# Environment: XF_FUZZ_EMIT=0 (fuzz_spec without emit_model: the front end only), XF_FUZZ_BUILD (default: <repo>/build-fuzz), XF_FUZZ_WORK (default:
# $XF_FUZZ_BUILD/fuzz-work: the growing corpora, logs and crash artifacts;
# the committed seeds in corpus/ are only read), XF_FUZZ_ARGS (more libFuzzer flags).
#
# A crash leaves XF_FUZZ_WORK/<harness>/crash-* (or leak-*, timeout-*, oom-*):
# reproduce with `BUILD/tests/fuzz/fuzz_<harness> FILE`, fix, then copy FILE to
# tests/fuzz/regressions/<harness>/ so ctest replays it from then on.
set -u
[ $# -ge 1 ] || { echo "usage: $0 SECONDS [spec|safetensors|npy|vocab]..."; exit 2; }
SECONDS_EACH=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${XF_FUZZ_BUILD:-$ROOT/build-fuzz}
WORK=${XF_FUZZ_WORK:-$BUILD/fuzz-work}
[ $# -gt 0 ] || set -- spec safetensors npy vocab

status=0
summary=
for h in "$@"; do
  bin=$BUILD/tests/fuzz/fuzz_$h
  [ -x "$bin" ] || { echo "$bin: not built (XF_FUZZ=ON, target fuzz_$h)"; exit 2; }
  mkdir -p "$WORK/$h/corpus"
  case $h in
    spec) extra="-dict=$HERE/xf.dict -max_len=4096" ;;
    safetensors) extra="-max_len=4096" ;;
    npy) extra="-max_len=16384" ;;
    vocab) extra="-max_len=16384" ;;
    *) echo "unknown harness $h"; exit 2 ;;
  esac
  log=$WORK/$h/fuzz.log
  echo "== fuzz_$h for ${SECONDS_EACH}s (log: $log)"
  # shellcheck disable=SC2086
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
  "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
         -artifact_prefix="$WORK/$h/" $extra ${XF_FUZZ_ARGS:-} \
         "$WORK/$h/corpus" "$HERE/corpus/$h" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(printf '%s' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(printf '%s' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  crashes=$(ls "$WORK/$h" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' || true)
  line="fuzz_$h: rc=$rc executions=${execs:-?} cov=${cov:-?} ft=${ft:-?} corpus=$(ls "$WORK/$h/corpus" | wc -l)"
  [ -n "$crashes" ] && line="$line FINDINGS: $(echo $crashes)" && status=1
  [ $rc -eq 0 ] || status=1
  echo "$line"
  summary="$summary$line
"
done
echo "---"
printf '%s' "$summary"
exit $status
