#!/bin/sh
# setup.sh — first command of the README: install what is missing, build xfc,
# and run the getting-started example (writes attention heatmaps).
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
sh examples/getting_started/run.sh
