#!/usr/bin/env bash
# bench/run.sh [--quick] [--coretype inherit|unset|VALUE] [--xfc PATH] [--no-peers]
# bench/run.sh --generate [--quick] [--xfc PATH] [--no-peers]   # generation (gen_bench.py)
#
# xfc vs PyTorch vs ONNX Runtime on this machine: makes the cases' weights and
# inputs (bench/work/data/), builds bench/specs/*.xf with build/compiler/xfc,
# times every runner, checks xfc's output against PyTorch's, and writes
# bench/work/results.md (+ results.json).  See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
    echo "bench/run.sh: needs /usr/bin/python3 with torch and numpy (Debian: apt install python3-torch python3-numpy)" >&2
    exit 1
fi
for arg in "$@"; do
    if [ "$arg" = "--generate" ]; then
        exec /usr/bin/python3 bench/gen_bench.py "$@"
    fi
done
exec /usr/bin/python3 bench/bench.py "$@"
