#!/bin/sh
# tokens.sh — a token model's binary (SPEC §8) against bad input, and its sampling.
#
#   tokens.sh setup XFC CLI_DIR FIXTURES WORK
#       builds WORK/bin/lm from the gen_lm_full fixture (release), and the same
#       model without a head (nohead), without causal attention (bidir) and with
#       causal_improved_clustered self-attention (clustered_lm, also emitted as C in
#       WORK/emit), and gen_ft_favor's with favor's stabilize (stabilize);
#   tokens.sh case FIXTURES WORK CASE
#       one case.  A failing case must exit 1 with exactly one line on stderr
#       containing the expected text and leave no output file; a `pass_*` or
#       `sample_*` case checks what it says.
set -u
LC_ALL=C
export LC_ALL

if [ "$1" = setup ]; then
  XFC=$2 CLI=$3 FIX=$4 WORK=$5
  rm -rf "$WORK/bin"
  mkdir -p "$WORK/bin"
  "$XFC" build "$FIX/gen_lm_full/model.xf" -o "$WORK/bin/lm" --release &&
  "$XFC" build "$CLI/tokens/nohead.xf" -o "$WORK/bin/nohead" --release &&
  "$XFC" build "$CLI/tokens/bidir.xf" -o "$WORK/bin/bidir" --release &&
  "$XFC" build "$CLI/tokens/stabilize.xf" -o "$WORK/bin/stabilize" --release &&
  "$XFC" build "$CLI/tokens/clustered_lm.xf" -o "$WORK/bin/clustered_lm" --release &&
  "$XFC" emit "$CLI/tokens/clustered_lm.xf" -o "$WORK/emit" --release || exit 1
  echo "built lm, nohead, bidir, stabilize, clustered_lm"
  exit 0
fi

[ "$1" = case ] || { echo "usage: tokens.sh setup … | case …"; exit 2; }
FIX=$2 WORK=$3 CASE=$4
F=$FIX/gen_lm_full
W=$WORK/case/$CASE
rm -rf "$W"
mkdir -p "$W/out"
cd "$W" || exit 2
BIN=$WORK/bin/lm
[ -x "$BIN" ] || { echo "FAIL: $BIN was not built (the setup test failed)"; exit 1; }
out=$W/out/o.npy
w="--weights $F/weights.safetensors"
i=1
while [ $i -le 40 ]; do echo "t$((i - 1))"; i=$((i + 1)); done > vocab.txt

# npy FILE DESCR SHAPE DATA: a .npy with a 128-byte header; DATA is printf's
# (octal escapes), little-endian
npy() {
  hdr="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
  { printf '\223NUMPY\001\000\166\000'; printf "%-117s\n" "$hdr"; printf "$4"; } >"$1"
}
I4_3='\003\000\000\000' I4_M1='\377\377\377\377'
I8_3='\003\000\000\000\000\000\000\000' I8_M1='\377\377\377\377\377\377\377\377'
gen="--generate 2 --output $out"

# bad input: the arguments, and the text expected in the one-line error
case $CASE in
  ids_rank3)         npy x.npy '<i4' '(1, 1, 2)' "$I4_3$I4_3"; set -- $w --input x.npy $gen; want="x.npy: rank 3" ;;
  ids_scalar)        npy x.npy '<i4' '()' "$I4_3"; set -- $w --input x.npy $gen; want="x.npy: rank 0" ;;
  ids_huge_dim)      npy x.npy '<i4' '(3000000000,)' "$I4_3"; set -- $w --input x.npy $gen; want="x.npy: shape [3000000000] is too large" ;;
  ids_huge_shape)    npy x.npy '<i8' '(100000, 100000)' "$I8_3"; set -- $w --input x.npy $gen; want="x.npy: truncated" ;;
  ids_empty)         npy x.npy '<i4' '(0, 4)' ''; set -- $w --input x.npy $gen; want="x.npy: shape [0,4] holds no token ids" ;;
  ids_negative_i4)   npy x.npy '<i4' '(1, 2)' "$I4_3$I4_M1"; set -- $w --input x.npy $gen; want="token id -1 at [0, 1] is out of range 0..39" ;;
  ids_negative_i8)   npy x.npy '<i8' '(1, 2)' "$I8_3$I8_M1"; set -- $w --input x.npy $gen; want="token id -1 at [0, 1] is out of range 0..39" ;;
  ids_i8_too_big)    npy x.npy '<i8' '(1, 2)' "$I8_3\000\000\000\000\001\000\000\000"; set -- $w --input x.npy $gen
                     want="x.npy: token id 4294967296 at [0, 1] does not fit in int32" ;;
  ids_uint8)         npy x.npy '|u1' '(1, 2)' '\003\004'; set -- $w --input x.npy $gen; want="x.npy: dtype '|u1'" ;;
  vocab_million_lines) awk 'BEGIN { for (i = 0; i < 1000000; i++) print "w" i }' > v.txt
                     set -- $w --vocab v.txt --text w1 $gen; want="v.txt: 7888890 bytes, more than 40 lines" ;;
  vocab_line_1mb)    { head -c 1048576 /dev/zero | tr '\0' a; echo; sed 1d vocab.txt; } > v.txt
                     set -- $w --vocab v.txt --text t1 $gen; want="v.txt: 1048724 bytes, more than 40 lines" ;;
  vocab_line_long)   { head -c 5000 /dev/zero | tr '\0' a; echo; sed 1d vocab.txt; } > v.txt
                     set -- $w --vocab v.txt --text t1 $gen; want="v.txt:1: line of 5000 bytes, longer than 4096" ;;
  vocab_nul)         printf 'a\000b\n' > v.txt; set -- $w --vocab v.txt --text a $gen; want="v.txt:1:2: NUL byte" ;;
  vocab_empty_file)  : > v.txt; set -- $w --vocab v.txt --text a $gen; want="v.txt: no tokens (an empty file)" ;;
  text_empty)        set -- $w --vocab vocab.txt --text "" $gen; want='--text: no tokens in ""' ;;
  text_bad_utf8)     set -- $w --vocab vocab.txt --text "$(printf 't1\377')" $gen; want="invalid UTF-8 at byte 2" ;;
  pass_ids_int64)
    npy p8.npy '<i8' '(2,)' "$I8_3\004\000\000\000\000\000\000\000"
    "$BIN" $w --input p8.npy --generate 6 --output a.npy &&
    "$BIN" $w --input 3,4 --generate 6 --output b.npy || exit 1
    cmp -s a.npy b.npy || { echo "FAIL: an int64 prompt generated other tokens than the same int32 one"; exit 1; }
    echo "ok: int64 ids = int32 ids"; exit 0 ;;
  id_out_of_range)   set -- $w --input 3,40 --output "$out"; want="token id 40 at [0, 1] is out of range" ;;
  id_negative)       set -- $w --input 3,-2 --generate 2 --output "$out"; want="negative" ;;
  ids_float_npy)     set -- $w --input "$F/step_logits.npy" --output "$out"; want="step_logits.npy: dtype '<f4'" ;;
  ids_npy_range)     set -- $w --input "$F/prompt.npy" --generate 2 --eos 40 --output "$out"; want="--eos" ;;
  prompt_too_long)   set -- $w --input "$F/prompt.npy" --generate 60 --output "$out"; want="max_positions = 64" ;;
  no_head)           BIN=$WORK/bin/nohead; set -- $w --input 3,4 --generate 2 --output "$out"; want="cannot generate: it has no head" ;;
  not_causal)        BIN=$WORK/bin/bidir; set -- $w --input 3,4 --generate 2 --output "$out"; want="not causal" ;;
  favor_stabilize)   BIN=$WORK/bin/stabilize; set -- --weights "$FIX/gen_ft_favor/weights.safetensors" --input 3,4 --generate 2 --output "$out"
                     want="cannot generate: favor's stabilize" ;;
  self_cannot_step)  # refused when compiled: no generation API, the binary says why
    for f in state_new prefill step generate; do
      ! grep -q "clustered_lm_$f(" "$WORK/emit/clustered_lm.h" || { echo "FAIL: clustered_lm.h declares clustered_lm_$f"; exit 1; }
    done
    grep -q "clustered_lm_forward(" "$WORK/emit/clustered_lm.h" || { echo "FAIL: no clustered_lm_forward"; exit 1; }
    BIN=$WORK/bin/clustered_lm; set -- $w --input 3,4,5 --generate 2 --output "$out"
    want="cannot generate: only full (KV cache) and causal_linear (recurrent state) self-attention can step" ;;
  step_logits_alone) set -- $w --input 3,4 --step-logits "$W/out/sl.npy" --output "$out"; want="--step-logits needs --generate" ;;
  temperature_bad)   set -- $w --input 3,4 --generate 2 --temperature -1 --output "$out"; want="--temperature" ;;
  vocab_duplicate)   printf 'a\na\n' > v.txt; set -- $w --vocab v.txt --text a --generate 2 --output "$out"; want="v.txt:2: duplicate token" ;;
  vocab_empty_line)  printf 'a\n\nb\n' > v.txt; set -- $w --vocab v.txt --text a --generate 2 --output "$out"; want="v.txt:2: empty line" ;;
  vocab_bad_utf8)    printf 'a\n\377\n' > v.txt; set -- $w --vocab v.txt --text a --generate 2 --output "$out"; want="invalid UTF-8" ;;
  vocab_size)        printf 'a\nb\n' > v.txt; set -- $w --vocab v.txt --text a --generate 2 --output "$out"; want="v.txt: 2 tokens" ;;
  text_unknown_char) set -- $w --vocab vocab.txt --text "t1x" --generate 2 --output "$out"; want="'x'" ;;
  pass_forward)
    "$BIN" $w --input "$F/generated.npy" --output "$out" || exit 1
    [ -f "$out" ] || { echo "FAIL: no logits written"; exit 1; }
    echo "ok: forward on ids"; exit 0 ;;
  pass_text)
    got=$("$BIN" $w --vocab vocab.txt --text "t38t31t34t29t2" --generate 12) || exit 1
    [ "$got" = "t22t25t28t15t25t28t8t36t28t22t25t28" ] || { echo "FAIL: text '$got'"; exit 1; }
    echo "ok: text in, greedy text out: $got"; exit 0 ;;
  pass_bench)
    last=$("$BIN" $w --input "$F/prompt.npy" --generate 12 --bench 3 | tail -n 1) || exit 1
    echo "$last" | grep -Eq '^generate_ms median=[0-9.]+ min=[0-9.]+ max=[0-9.]+ runs=3 tokens=12$' ||
      { echo "FAIL: bench line '$last'"; exit 1; }
    echo "ok: $last"; exit 0 ;;
  sample_same_seed)
    "$BIN" $w --input "$F/prompt.npy" --generate 12 --temperature 3 --seed 11 --output a.npy &&
    "$BIN" $w --input "$F/prompt.npy" --generate 12 --temperature 3 --seed 11 --output b.npy &&
    "$BIN" $w --input "$F/prompt.npy" --generate 12 --temperature 3 --seed 12 --output c.npy || exit 1
    cmp -s a.npy b.npy || { echo "FAIL: the same seed gave different tokens"; exit 1; }
    cmp -s a.npy c.npy && { echo "FAIL: another seed gave the same 24 tokens"; exit 1; }
    echo "ok: same seed, same tokens; another seed, others"; exit 0 ;;
  sample_top1_greedy)
    "$BIN" $w --input "$F/prompt.npy" --generate 12 --temperature 2 --top-k 1 --seed 3 --output a.npy &&
    "$BIN" $w --input "$F/prompt.npy" --generate 12 --output b.npy || exit 1
    cmp -s a.npy b.npy || { echo "FAIL: --top-k 1 differs from greedy"; exit 1; }
    cmp -s b.npy "$F/generated.npy" || { echo "FAIL: greedy differs from PyTorch's"; exit 1; }
    echo "ok: --top-k 1 = greedy = PyTorch"; exit 0 ;;
  one_row_one_rank_less)   # ids [L] (an inline list) in: logits [L, 40], generated ids [L + K]
    "$BIN" $w --input 3,4,5 --output a.npy && "$BIN" $w --input 3,4,5 --generate 2 --output b.npy || exit 1
    head -c 128 a.npy | grep -qF "'shape': (3, 40)" || { echo "FAIL: logits $(head -c 80 a.npy)"; exit 1; }
    head -c 128 b.npy | grep -qF "'shape': (5,)" || { echo "FAIL: generated $(head -c 80 b.npy)"; exit 1; }
    echo "ok: [3] ids in, [3, 40] logits and [5] ids out"; exit 0 ;;
  *) echo "unknown case $CASE"; exit 2 ;;
esac

"$BIN" "$@" 2> err.txt >/dev/null
rc=$?
if [ $rc -ne 1 ]; then echo "FAIL: $CASE: exit status $rc, expected 1"; cat err.txt; exit 1; fi
if [ "$(wc -l < err.txt)" -ne 1 ]; then echo "FAIL: $CASE: expected one line on stderr:"; cat err.txt; exit 1; fi
if ! grep -qF -- "$want" err.txt; then echo "FAIL: $CASE: expected '$want' in:"; cat err.txt; exit 1; fi
if [ -n "$(ls -A "$W/out")" ]; then echo "FAIL: $CASE: output left behind:"; ls "$W/out"; exit 1; fi
echo "ok: $CASE: $(cat err.txt)"
