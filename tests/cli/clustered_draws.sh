#!/bin/sh
# clustered_draws.sh — clustered attention whose weight file holds no planes
# and no initial centroids (tests/fixtures/ft_clustered_nodraws): xfc draws
# them from random_seed — the same seed gives the same output, run after run
# and build after build, another seed another output, and `xfc check` says so.
# A call with fewer queries than clusters is refused (exit 1, one line, no
# output): fast-transformers' np.random.choice raises for it, and a sample
# shorter than clusters leaves clusters whose centroids it redraws at random.
#
#   clustered_draws.sh XFC FIXTURES WORK
set -u
XFC=$1 FIX=$2 WORK=$3
F=$FIX/ft_clustered_nodraws
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK" || exit 2
fail() { echo "FAIL: $*"; [ -f err ] && head -c 2000 err; exit 1; }
spec() { # spec SEED: the ft_clustered encoder with random_seed = SEED
    printf 'model clu : TransformerEncoder {\n  weights = fast_transformers\n  n_layers = 2\n'
    printf '  n_heads = 4\n  query_dimensions = 8\n  value_dimensions = 8\n'
    printf '  feed_forward_dimensions = 48\n  attention_type = clustered\n  clusters = 3\n'
    printf '  random_seed = %s\n}\n' "$1"
}
spec 1 > s1.xf
spec 2 > s2.xf
"$XFC" check s1.xf >out 2>err || fail "check"
for t in planes initial_centroids; do
    grep -F "random layers.1.attention.inner_attention.$t" out | grep -qF "random_seed 1" ||
        fail "xfc check does not say $t is drawn from random_seed 1: $(cat out)"
done
"$XFC" build s1.xf -o m1 --release 2>err || fail "build 1"
"$XFC" build s1.xf -o m1b --release 2>err || fail "build 1 again"
"$XFC" build s2.xf -o m2 --release 2>err || fail "build 2"
run() { # run BIN OUT [ARGS…]
    b=$1 o=$2
    shift 2
    "./$b" --weights "$F/weights.safetensors" --output "$o" "$@" 2>err
}
run m1 a.npy --input "$F/input.npy" --lengths 16,11 || fail "seed 1"
run m1 b.npy --input "$F/input.npy" --lengths 16,11 || fail "seed 1, second run"
run m1b c.npy --input "$F/input.npy" --lengths 16,11 || fail "seed 1, second build"
run m2 d.npy --input "$F/input.npy" --lengths 16,11 || fail "seed 2"
cmp -s a.npy b.npy || fail "random_seed 1: two runs differ"
cmp -s a.npy c.npy || fail "random_seed 1: two builds differ"
cmp -s a.npy d.npy && fail "random_seed 1 and 2 give the same output"

# x.npy: float32 zeros [2, 2, 32] (a header padded to 128 bytes, then the data)
h="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 32), }"
{ printf '\223NUMPY\001\000\166\000%s' "$h"; printf '%*s\n' $((117 - ${#h})) ''; head -c 512 /dev/zero; } > x.npy
refused() { # refused MESSAGE ARGS…: exit 1, that one line, no output
    want=$1
    shift
    run m1 r.npy "$@"
    rc=$?
    [ $rc -eq 1 ] || fail "$*: exit $rc, expected 1"
    [ "$(wc -l < err)" -eq 1 ] || fail "$*: not one line"
    grep -qF "$want" err || fail "$*: message: $(cat err)"
    [ ! -e r.npy ] || fail "$*: wrote an output"
}
refused "seq = 2 is shorter than clusters = 3 of clustered attention" --input x.npy
refused "lengths[1] = 2 is shorter than clusters = 3 of clustered attention" \
    --input "$F/input.npy" --lengths 16,2
run m1 e.npy --input "$F/input.npy" --lengths 16,3 || fail "lengths 16,3 (= clusters) refused"
echo "clustered_draws: drawn from random_seed (same seed same output, another seed another); fewer queries than clusters refused"
