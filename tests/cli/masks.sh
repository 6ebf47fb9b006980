#!/bin/sh
# masks.sh — --mask / --memory-mask refused where they cannot apply: exit 1,
# one line naming the file or the attention type, no output file.
#
#   masks.sh XFC FIXTURES WORK
# on the ft_encoder_masked fixture's weights (fast_transformers names): a
# mask of the wrong shape, a float64 mask, a NaN in a float mask, and any mask
# given to an encoder of the same weights whose attention type takes none
# (fast-transformers raises for each: docs/SPEC.md §9's table), naming it;
# local and exact_topk take one; a conditional_full falling back to linear
# takes one up to its length_limit only, falling back to exact_topk always;
# on ft_decoder_masked's weights, a memory mask given to a linear
# cross-attention.
set -u
XFC=$1 FIX=$2 WORK=$3
F=$FIX/ft_encoder_masked
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK" || exit 2
fail() { echo "FAIL: $*"; [ -f err ] && head -c 2000 err; exit 1; }
spec() {
    printf 'model enc : TransformerEncoder {\n weights = fast_transformers\n n_layers = 2\n n_heads = 4\n'
    printf ' query_dimensions = 6\n value_dimensions = 6\n feed_forward_dimensions = 40\n attention_type = %s\n%b}\n' "$1" "${2:-}"
}
spec full > full.xf && "$XFC" build full.xf -o full --release 2>err || fail "build full"
spec linear > lin.xf && "$XFC" build lin.xf -o lin --release 2>err || fail "build linear"
spec local " local_context = 4\n" > local.xf && "$XFC" build local.xf -o local --release 2>err ||
    fail "build local"
spec exact_topk " topk = 3\n" > topk.xf && "$XFC" build topk.xf -o topk --release 2>err ||
    fail "build exact_topk"
for t in causal_linear clustered improved_clustered causal_improved_clustered aft_simple; do
    case $t in *clustered) extra=" clusters = 3\n" ;; *) extra= ;; esac
    spec $t "$extra" > $t.xf && "$XFC" build $t.xf -o $t --release 2>err || fail "build $t"
done
spec conditional_full " fallback = exact_topk\n length_limit = 9\n" > condtopk.xf
"$XFC" build condtopk.xf -o condtopk --release 2>err || fail "build conditional_full:exact_topk"
for limit in 9 10; do
    spec conditional_full " fallback = linear\n length_limit = $limit\n" > cond$limit.xf
    "$XFC" build cond$limit.xf -o cond$limit --release 2>err || fail "build conditional_full"
done
# expect BIN MASK TEXT: exit 1, one line containing TEXT, no output
expect() {
    "./$1" --weights "$F/weights.safetensors" --input "$F/input.npy" --output out.npy --mask "$2" 2>err
    rc=$?
    [ $rc -eq 1 ] || fail "$1 --mask $2: exit $rc, expected 1"
    [ "$(wc -l < err)" -eq 1 ] || fail "$1 --mask $2: not one line"
    grep -qF "$3" err || fail "$1 --mask $2: no '$3' in: $(cat err)"
    [ ! -e out.npy ] || fail "$1 --mask $2: wrote an output"
}
# a [10, 10] mask is right; [10, 9], float64 and NaN are not (python-free: from the fixture's bytes)
head -c 128 "$F/mask.npy" | sed 's/(10, 10)/(10, 9) /' > short.npy
tail -c 90 "$F/mask.npy" >> short.npy
expect full short.npy "short.npy: mask shape [10,9], expected [10, 10] or [2, 10, 10]"
head -c 128 "$F/mask.npy" | sed "s/|b1/<f8/" > f8.npy
expect full f8.npy "f8.npy: dtype '<f8', expected a mask as float32"
for t in linear causal_linear clustered improved_clustered causal_improved_clustered aft_simple; do
    bin=$t
    [ $t = linear ] && bin=lin
    expect $bin "$F/mask.npy" \
        "a mask applies to full, local, exact_topk or reformer attention only; this model's self-attention is $t"
done
expect cond9 "$F/mask.npy" "this model's self-attention is conditional_full, which runs linear above length_limit 9"
"./cond10" --weights "$F/weights.safetensors" --input "$F/input.npy" --output out.npy --mask "$F/mask.npy" \
    --lengths 10,7 2>err || fail "conditional_full refused a mask at its length_limit"
rm -f out.npy
for bin in local topk condtopk; do
    "./$bin" --weights "$F/weights.safetensors" --input "$F/input.npy" --output out.npy \
        --mask "$F/mask.npy" --lengths 10,7 2>err || fail "$bin refused a mask: $(cat err)"
    rm -f out.npy
done
# a decoder: --memory-mask given to a linear cross-attention
G=$FIX/ft_decoder_masked
printf 'model dec : TransformerDecoder {\n weights = fast_transformers\n n_layers = 2\n n_heads = 4\n' > dec.xf
printf ' query_dimensions = 6\n value_dimensions = 6\n feed_forward_dimensions = 40\n' >> dec.xf
printf ' cross_attention_type = linear\n}\n' >> dec.xf
"$XFC" build dec.xf -o dec --release 2>err || fail "build decoder"
./dec --weights "$G/weights.safetensors" --input "$G/input.npy" --memory "$G/memory.npy" \
    --output out.npy --mask "$G/mask.npy" --memory-mask "$G/memory_mask.npy" 2>err
[ $? -eq 1 ] && [ "$(wc -l < err)" -eq 1 ] && [ ! -e out.npy ] || fail "decoder memory mask: $(cat err)"
grep -qF "a memory mask applies to full, local, exact_topk or reformer attention only; this model's cross-attention is linear" err ||
    fail "decoder memory mask: $(cat err)"
"./full" --weights "$F/weights.safetensors" --input "$F/input.npy" --output out.npy --mask "$F/mask.npy" \
    --lengths 10,7 2>err || fail "the right mask was refused"
echo "masks: refusals are one line, exit 1, no output"
