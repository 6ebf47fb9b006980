#!/bin/sh
# seed.sh — (re)makes the seed corpora of tests/fuzz/corpus/ (committed; run
# this after changing the DSL's examples).  No python: printf and the specs
# of the repository.  Keep the corpus small (< 2 MB in all).
set -eu
LC_ALL=C
export LC_ALL
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
C=$HERE/corpus

# ---- spec: every spec of the repository, good and bad --------------------------
mkdir -p "$C/spec"
cp "$ROOT"/tests/golden/specs/*.xf "$ROOT"/tests/cli/specs/*.xf "$ROOT"/tests/cli/model.xf "$C/spec/"
# examples share file names (encoder.xf, lm.xf): each is named after its path
for f in "$ROOT"/examples/*/*.xf "$ROOT"/examples/*/*/*.xf "$ROOT"/tests/fixtures/gen_*/model.xf; do
    [ -f "$f" ] || continue
    rel=${f#"$ROOT"/}
    cp "$f" "$C/spec/$(printf '%s' "$rel" | tr / _)"
done
[ -f "$ROOT/tests/capi/prenorm.xf" ] && cp "$ROOT/tests/capi/prenorm.xf" "$C/spec/"
cat >"$C/spec/seed_transformer.xf" <<'XF'
model t : Transformer {
    n_heads = 2
    query_dimensions = 8
    value_dimensions = 8
    encoder { n_layers = 1 attention_type = local local_context = 4 }
    decoder { n_layers = 2 attention_type = "causal-linear" cross_attention_type = exact_topk topk = 3 }
    activation = gelu
    normalization = pre
    weights = fast_transformers
}
listen within(decoder.layers[1].cross_attention) & (attention_matrix.shape[3] * 2 - 1 >= layer + 3) -> heatmap("x/{source}.{call}.png", head = all, sample = 0)
listen ~event_class(QKVEvent) | layer_name_contains("encoder") -> print
listen IntermediateOutput & (x.shape[1] != 7) -> save("{event}/{layer}.{field}.npy")
listen Event -> call(counter)
XF
cat >"$C/spec/seed_decoder.xf" <<'XF'
# a decoder with every event class
model d : TransformerDecoder {
    n_layers = 1
    n_heads = 1
    query_dimensions = 4
    value_dimensions = 4
    feed_forward_dimensions = 8
    softmax_temp = 0.25
    layer_norm_eps = 1e-6
    final_normalization = false
}
listen QKVEvent & from_layer(layers[0].cross_attention) -> stats
listen AttentionEvent & ~(attention_matrix.shape[2] == attention_matrix.shape[3]) -> figure("f.png", cols = 1)
XF

# ---- safetensors: tiny hand-made files of each dtype and layout ------------------
mkdir -p "$C/safetensors"
st() {   # st FILE JSON DATA_PRINTF: header length (u64 LE), JSON, data bytes
  n=$(printf '%s' "$2" | wc -c)
  printf "$(printf '\\%03o' $((n & 255)) $((n >> 8 & 255)) 0 0 0 0 0 0)" >"$1"
  printf '%s' "$2" >>"$1"
  printf "$3" >>"$1"
}
S=$C/safetensors
st "$S/f32.safetensors" '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}' \
   '\000\000\200\077\000\000\000\100\000\000\100\100\000\000\200\100'
st "$S/f16_bf16.safetensors" '{"__metadata__":{"format":"pt"},"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]}}' \
   '\000\074\000\174\001\000\200\077\300\177'
st "$S/empty_and_scalar.safetensors" '{"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}' \
   '\000\000\300\177'
st "$S/unaligned.safetensors" '{"u":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}} ' \
   '\000\000\200\077\000\000\200\277'
st "$S/padded.safetensors" '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2,1],"data_offsets":[4,8]}}       ' \
   '\000\000\200\077\000\074\000\300'
st "$S/torch_names.safetensors" '{"layers.0.norm1.weight":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"layers.0.norm1.bias":{"dtype":"F32","shape":[4],"data_offsets":[16,32]},"norm.weight":{"dtype":"BF16","shape":[4],"data_offsets":[32,40]}}' \
   '\000\000\200\077\000\000\200\077\000\000\200\077\000\000\200\077\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\200\077\200\077\200\077\200\077'
st "$S/overlap.safetensors" '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' \
   '\000\000\200\077\000\000\200\077'
st "$S/not_object.safetensors" '[1,2]' ''

# ---- npy: small arrays of each rank and version -----------------------------------
mkdir -p "$C/npy"
npy() {   # npy FILE MAJOR DICT DATA_PRINTF: header padded to 64 bytes
  hn=$(( ( (10 + ${#3} + 1 + 63) / 64 ) * 64 - 10 ))
  if [ "$2" = 1 ]; then
    printf "\\223NUMPY\\001\\000$(printf '\\%03o' $((hn & 255)) $((hn >> 8)))" >"$1"
  else
    hn=$((hn - 2))
    printf "\\223NUMPY\\00$2\\000$(printf '\\%03o' $((hn & 255)) $((hn >> 8)) 0 0)" >"$1"
  fi
  printf '%s' "$3" >>"$1"
  pad=$((hn - ${#3} - 1))
  [ $pad -gt 0 ] && printf "%${pad}s" '' >>"$1"
  printf '\n' >>"$1"
  printf "$4" >>"$1"
}
N=$C/npy
npy "$N/rank1.npy" 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }" '\000\000\200\077\000\000\000\100'
npy "$N/rank3.npy" 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 1), }" '\000\000\200\077\000\000\300\177'
npy "$N/rank4.npy" 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1), }" '\000\000\200\177'
npy "$N/empty.npy" 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }" ''
npy "$N/v2.npy" 2 "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }" '\000\000\200\077'
npy "$N/v3.npy" 3 "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1,)}" '\000\000\200\077'
npy "$N/long.npy" 1 "{'shape': (1L, 1L), 'fortran_order': False, 'descr': '<f4'}" '\000\000\200\077'
npy "$N/f8.npy" 1 "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }" '\000\000\000\000\000\000\360\077'
npy "$N/fortran.npy" 1 "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }" '\000\000\200\077'
npy "$N/ids_i4.npy" 1 "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }" '\003\000\000\000\021\000\000\000\005\000\000\000\000\000\000\000\001\000\000\000\002\000\000\000'
npy "$N/ids_i8_rank1.npy" 1 "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }" '\003\000\000\000\000\000\000\000\000\000\000\000\000\001\000\000'
cp "$ROOT/tests/fixtures/encoder_causal/input.npy" "$N/fixture_input.npy"
# ---- vocab: a vocabulary file, then NUL and a text to encode ----------------------
mkdir -p "$C/vocab"
V=$C/vocab
{ for c in a b c d e f g h i j k l m n o p q r s t u v w x y z . , "'"; do printf '%s\n' "$c"; done
  printf ' \n\000hello world, it'"'"'s a test.'; } >"$V/chars.txt"
printf 'th\nthe\nt\nh\ne\nn\n \nhe\n the\nthen\000the then hen' >"$V/words.txt"
printf 'a\r\nb\r\nab\r\nba\000abba' >"$V/crlf_no_final_newline.txt"
printf '\303\251\n\303\240\n\346\227\245\346\234\254\nx\000\346\227\245\346\234\254\303\251x\303\240' >"$V/utf8.txt"
printf 'a\nb\000abc' >"$V/unknown_character.txt"
printf 'a\nb\na\n' >"$V/duplicate.txt"
printf 'a\n\nb\n' >"$V/empty_line.txt"
printf 'a\n\377\n' >"$V/invalid_utf8.txt"
printf '\355\240\200\n\300\257\n' >"$V/surrogate_overlong.txt"
echo "corpus: $(du -sk "$C" | cut -f1) KB in $(find "$C" -type f | wc -l) files"
