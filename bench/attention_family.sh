#!/bin/sh
# bench/attention_family.sh [--xfc PATH] [--rounds N] [--threads N]
#
# Clustered and improved-clustered attention against full attention in xfc
# itself (issue 13): the kernels alone (bench/attention_family.c, batch 1,
# 4 heads × 64, clusters 100, improved topk 32; linear attention for
# reference) at L = 1024 and 4096, median of ROUNDS interleaved calls.
# Links libxfrt as xfc links a model (`xfc --print-runtime`, the build tree's
# xfc_config.h).  Prints one line per kernel and length.
set -eu
cd "$(dirname "$0")/.."
XFC=build/compiler/xfc ROUNDS=9 THREADS=1
while [ $# -gt 0 ]; do
    case $1 in
        --xfc) XFC=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        *) echo "usage: $0 [--xfc PATH] [--rounds N] [--threads N]" >&2; exit 2 ;;
    esac
done
CFG=$(dirname "$(dirname "$XFC")")/compiler/xfc_config.h
[ -x "$XFC" ] && [ -f "$CFG" ] || { echo "$0: needs a built xfc and its build tree ($XFC, $CFG)" >&2; exit 1; }
RT=$("$XFC" --print-runtime)
INC=$(echo "$RT" | sed -n 's/^include[[:space:]]*//p')
LIB=$(echo "$RT" | sed -n 's/^library[[:space:]]*//p')
LIBS=$(sed -n 's/^#define XFC_LINK_LIBS //p' "$CFG" | tr -d '",')
mkdir -p bench/work
OUT=bench/work/attention_family
cc -O2 -I "$INC" bench/attention_family.c "$LIB" $LIBS -o "$OUT"
echo "# $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg), threads $THREADS, rounds $ROUNDS"
for L in 1024 4096; do
    "$OUT" "$L" 100 "$ROUNDS" "$THREADS"
done
