#!/bin/sh
# script.sh XFC SOURCE_DIR WORK — tests scripts/export_torch.py itself
# (test_export_script.py) with the first python3 that has torch: $XFC_TORCH_PYTHON,
# python3, /usr/bin/python3.  Without one: skipped (exit 77) — torch is never
# needed to build or test xfc; the committed examples (export.<case>) still run.
XFC=$1 SRC=$2 WORK=$3
for py in ${XFC_TORCH_PYTHON:-} python3 /usr/bin/python3; do
  if "$py" -c "import torch" >/dev/null 2>&1; then
    exec "$py" "$SRC/tests/export/test_export_script.py" "$XFC" "$WORK"
  fi
done
echo "SKIP: no python3 with torch found (set XFC_TORCH_PYTHON to one)"
exit 77
