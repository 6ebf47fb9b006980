#!/bin/sh
# format.sh — the tree's C in one style (.clang-format): every tracked .c/.h.
#   sh scripts/format.sh          rewrite the files in place
#   sh scripts/format.sh --check  list the files that differ and exit 1 (test.sh)
# Templates (templates/*.in) are C with {{holes}} and stay as written; the
# emitted C is checked by its own tests.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h')
if [ "${1:-}" = --check ]; then
    bad=0
    for f in $files; do
        if ! clang-format --style=file "$f" | cmp -s - "$f"; then
            echo "format.sh: $f differs from .clang-format's style (run sh scripts/format.sh)" >&2
            bad=1
        fi
    done
    exit $bad
fi
echo "$files" | xargs clang-format --style=file -i
