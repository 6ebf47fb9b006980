#!/bin/sh
# deps.sh — installs the Debian 12 packages xfc needs to build and test, if missing.
# (python3-torch / numpy / node are only for bench/ and fixture generation: not here.)
set -eu
# clang + libclang-rt-14-dev: the libFuzzer runs at the end of scripts/test.sh; clang-format: its style check
# libdnnl-dev: the default matrix-product backend on x86-64 (oneDNN); libopenblas-dev the other
PKGS="build-essential g++ cmake flex bison pkg-config libopenblas-dev libdnnl-dev libcriterion-dev libcjson-dev libcairo2-dev clang clang-format libclang-rt-14-dev"
missing=
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps.sh: installing$missing"
SUDO=
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
