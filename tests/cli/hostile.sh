#!/bin/sh
# hostile.sh — the built binary against hostile files and arguments.
#
#   hostile.sh setup XFC CLI_DIR GOLDEN_SPECS WORK
#       builds, once, WORK/bin/release/causal from CLI_DIR/model.xf (the
#       encoder_causal fixture's model, no listeners), WORK/bin/debug/causal
#       from GOLDEN_SPECS/encoder_causal.xf (the same model with save
#       listeners: a debug build with dispatch points) and
#       WORK/bin/instrument/dec from GOLDEN_SPECS/decoder_cross.xf, and
#   hostile.sh case TOOL FIXTURES WORK CASE
#       one case: makes its hostile file from the real fixtures with TOOL
#       (xfhostile) and runs the binary on it.
#
# A failing case must: exit with status 1 (no signal, no usage status), write
# exactly one line to stderr that contains the expected text (the file,
# tensor or flag at fault) and no control character (a name from the file
# with "\n" or an escape sequence is shown with '?'), print no sanitizer report, and leave no output
# file (nor OUT.tmp.*) behind.  A `pass_*` case must succeed instead.
set -u
LC_ALL=C
export LC_ALL

if [ "$1" = setup ]; then
  XFC=$2 CLI=$3 GOLDEN=$4 WORK=$5
  rm -rf "$WORK/bin"
  mkdir -p "$WORK/bin/release" "$WORK/bin/debug" "$WORK/bin/instrument"
  "$XFC" build "$CLI/model.xf" -o "$WORK/bin/release/causal" --release &&
  "$XFC" build "$GOLDEN/encoder_causal.xf" -o "$WORK/bin/debug/causal" &&
  "$XFC" build "$GOLDEN/decoder_cross.xf" -o "$WORK/bin/instrument/dec" --instrument-all || exit 1
  echo "built the release, debug and instrument-all binaries"
  exit 0
fi

[ "$1" = case ] || { echo "usage: hostile.sh setup … | case …"; exit 2; }
TOOL=$2 FIX=$3 WORK=$4 CASE=$5
F=$FIX/encoder_causal
W=$WORK/case/$CASE
rm -rf "$W"
mkdir -p "$W/out"
cd "$W" || exit 2
BIN=$WORK/bin/release/causal
[ -x "$BIN" ] || { echo "FAIL: $BIN was not built (the setup test failed)"; exit 1; }

setup_fail() { echo "FAIL: $CASE: setting up the hostile file failed"; exit 1; }
h() { "$TOOL" "$@" || setup_fail; }
ST=$W/w.safetensors NPY=$W/x.npy
weights=$F/weights.safetensors input=$F/input.npy out=$W/out/y.npy
expect_ok=0 extra=
hdr() { printf "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" "$1" "$2" "$3"; }

case $CASE in
  # ---- controls: the untouched fixtures work -----------------------------------
  pass_release) expect_ok=1 ;;
  pass_lengths) expect_ok=1; extra="--lengths 24,7" ;;

  # ---- the safetensors file ------------------------------------------------------
  w_no_such_file)  weights=$W/nope.safetensors; want="nope.safetensors: No such file" ;;
  w_directory)     weights=$W/out; want="$W/out: is a directory" ;;
  w_device)        weights=/dev/zero; want="/dev/zero: not a regular file" ;;
  w_empty)         : >"$ST"; weights=$ST; want="w.safetensors: truncated: 0 bytes" ;;
  w_trunc_4)       h truncate "$weights" "$ST" 4; weights=$ST; want="w.safetensors: truncated: 4 bytes" ;;
  w_trunc_header)  h truncate "$weights" "$ST" 1000; weights=$ST; want="w.safetensors: header length 2128 exceeds the file" ;;
  w_trunc_data)    h truncate "$weights" "$ST" -100; weights=$ST; want="w.safetensors: tensor layers.1.norm2.bias: data_offsets [267520,267776] past the end" ;;
  w_hlen_huge)     h st-hlen "$weights" "$ST" 0xffffffffffffffff; weights=$ST; want="w.safetensors: header length 18446744073709551615 exceeds the file" ;;
  w_hlen_short)    h st-hlen "$weights" "$ST" 100; weights=$ST; want="w.safetensors: header is not valid JSON" ;;
  w_hlen_zero)     h st-hlen "$weights" "$ST" 0; weights=$ST; want="w.safetensors: header is not valid JSON" ;;
  w_json_bad)      h st-json "$weights" "$ST" '{"layers.0.norm1.weight": {"dtype": '; weights=$ST; want="w.safetensors: header is not valid JSON" ;;
  w_json_array)    h st-json "$weights" "$ST" '[1, 2, 3]'; weights=$ST; want="w.safetensors: header is not a JSON object" ;;
  w_json_garbage)  h st-json "$weights" "$ST" '{} trailing'; weights=$ST; want="w.safetensors: header is not valid JSON (garbage after" ;;
  w_json_entry)    h st-json "$weights" "$ST" '{"layers.0.norm1.weight": 5}'; weights=$ST; want="w.safetensors: tensor layers.0.norm1.weight: header entry is not an object" ;;
  w_json_metadata) h st-json "$weights" "$ST" '{"__metadata__": [1]}'; weights=$ST; want="w.safetensors: __metadata__ is not an object" ;;
  w_json_twice)    h st-json "$weights" "$ST" '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
                   weights=$ST; want="w.safetensors: tensor a: listed twice" ;;
  w_off_past_end)  h st-set "$weights" "$ST" layers.0.norm1.bias data_offsets '[267776, 268032]'; weights=$ST; want="tensor layers.0.norm1.bias: data_offsets [267776,268032] past the end" ;;
  w_off_reversed)  h st-set "$weights" "$ST" layers.0.norm1.bias data_offsets '[133376, 133120]'; weights=$ST; want="tensor layers.0.norm1.bias: data_offsets [133376,133120] end before begin" ;;
  w_off_overlap)   h st-set "$weights" "$ST" layers.0.self_attn.in_proj_bias data_offsets '[0, 768]'; weights=$ST; want="overlap tensor" ;;
  w_off_negative)  h st-set "$weights" "$ST" layers.0.norm1.bias data_offsets '[-256, 0]'; weights=$ST; want="tensor layers.0.norm1.bias: data_offsets must be [begin, end]" ;;
  w_off_fraction)  h st-set "$weights" "$ST" layers.0.norm1.bias data_offsets '[133120.5, 133376.5]'; weights=$ST; want="tensor layers.0.norm1.bias: data_offsets must be [begin, end]" ;;
  w_off_huge)      h st-set "$weights" "$ST" layers.0.norm1.bias data_offsets '[0, 1e300]'; weights=$ST; want="tensor layers.0.norm1.bias: data_offsets must be [begin, end]" ;;
  w_off_three)     h st-set "$weights" "$ST" layers.0.norm1.bias data_offsets '[0, 4, 8]'; weights=$ST; want="tensor layers.0.norm1.bias: data_offsets must be [begin, end]" ;;
  w_dtype_f64)     h st-set "$weights" "$ST" layers.0.norm1.weight dtype '"F64"'; weights=$ST; want="tensor layers.0.norm1.weight: dtype F64 not supported" ;;
  w_dtype_i32)     h st-set "$weights" "$ST" layers.1.linear2.bias dtype '"I32"'; weights=$ST; want="tensor layers.1.linear2.bias: dtype I32 not supported" ;;
  w_dtype_number)  h st-set "$weights" "$ST" layers.0.norm1.weight dtype '4'; weights=$ST; want="tensor layers.0.norm1.weight: dtype missing or not a string" ;;
  w_dtype_f16_size) h st-set "$weights" "$ST" layers.0.norm1.weight dtype '"F16"'; weights=$ST; want="tensor layers.0.norm1.weight: data_offsets hold 256 bytes, shape [64] F16 needs 128" ;;
  w_shape_transposed) h st-set "$weights" "$ST" layers.0.linear1.weight shape '[64, 128]'; weights=$ST; want="tensor layers.0.linear1.weight: shape [64,128], expected [128,64]" ;;
  w_shape_flat)    h st-set "$weights" "$ST" layers.1.self_attn.in_proj_weight shape '[12288]'; weights=$ST; want="tensor layers.1.self_attn.in_proj_weight: shape [12288], expected [192,64]" ;;
  w_shape_numel)   h st-set "$weights" "$ST" layers.0.norm1.weight shape '[65]'; weights=$ST; want="tensor layers.0.norm1.weight: data_offsets hold 256 bytes, shape [65] F32 needs 260" ;;
  w_shape_negative) h st-set "$weights" "$ST" layers.0.norm1.weight shape '[-64]'; weights=$ST; want="tensor layers.0.norm1.weight: shape must be a list of non-negative integers" ;;
  w_shape_rank9)   h st-set "$weights" "$ST" layers.0.norm1.weight shape '[1,1,1,1,1,1,1,1,64]'; weights=$ST; want="tensor layers.0.norm1.weight: rank 9" ;;
  w_shape_overflow) h st-set "$weights" "$ST" layers.0.norm1.weight shape '[4294967296, 4294967296, 4294967296]'; weights=$ST; want="tensor layers.0.norm1.weight: shape has too many elements" ;;
  w_shape_missing) h st-set "$weights" "$ST" layers.0.norm1.weight shape '"64"'; weights=$ST; want="tensor layers.0.norm1.weight: shape missing or not a list" ;;
  w_missing_tensor) h st-drop "$weights" "$ST" layers.1.norm2.bias; weights=$ST; want="w.safetensors: tensor layers.1.norm2.bias: missing" ;;
  w_extra_tensor)  h st-add "$weights" "$ST" layers.2.norm1.weight; weights=$ST; want="w.safetensors: tensor layers.2.norm1.weight: not used by the model" ;;
  # names and dtypes from the file reach the message without their control
  # characters: still one line, no terminal escape
  w_name_control)  h st-add "$weights" "$ST" "$(printf 'layers.9.evil\n\033[2J')"; weights=$ST
                   want="w.safetensors: tensor layers.9.evil??[2J: not used by the model" ;;
  w_dtype_control) h st-set "$weights" "$ST" layers.0.norm1.weight dtype '"F\r\n32"'; weights=$ST
                   want="w.safetensors: tensor layers.0.norm1.weight: dtype F??32 not supported" ;;
  w_other_model)   weights=$FIX/encoder_getting_started/weights.safetensors  # 4 layers of d_model 256
                   want="encoder_getting_started/weights.safetensors: tensor layers.0.self_attn.in_proj_weight: shape [768,256], expected [192,64]" ;;
  w_other_layout)  weights=$FIX/ft_encoder_qdim_ne_vdim/weights.safetensors  # fast_transformers names
                   want="ft_encoder_qdim_ne_vdim/weights.safetensors: tensor layers.0.self_attn.in_proj_weight: missing" ;;

  # ---- the input .npy ------------------------------------------------------------
  x_no_such_file)  input=$W/nope.npy; want="nope.npy: cannot open" ;;
  x_directory)     input=$W/out; want="$W/out: not a regular file" ;;
  x_empty)         : >"$NPY"; input=$NPY; want="x.npy: not a .npy file (bad magic)" ;;
  x_magic)         h patch "$input" "$NPY" 0 0x92; input=$NPY; want="x.npy: not a .npy file (bad magic)" ;;
  x_version)       h patch "$input" "$NPY" 6 9; input=$NPY; want="x.npy: unsupported .npy format version 9.0" ;;
  x_minor)         h patch "$input" "$NPY" 7 1; input=$NPY; want="x.npy: unsupported .npy format version 1.1" ;;
  x_dtype_f8)      h npy-header "$input" "$NPY" "$(hdr '<f8' False '(2, 24, 32)')"; input=$NPY; want="x.npy: dtype '<f8', expected float32 '<f4'" ;;
  x_dtype_be)      h npy-header "$input" "$NPY" "$(hdr '>f4' False '(2, 24, 64)')"; input=$NPY; want="x.npy: dtype '>f4', expected float32 '<f4'" ;;
  x_dtype_struct)  h npy-header "$input" "$NPY" "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 24, 64), }"; input=$NPY; want="x.npy: unsupported dtype" ;;
  x_fortran)       h npy-header "$input" "$NPY" "$(hdr '<f4' True '(2, 24, 64)')"; input=$NPY; want="x.npy: fortran_order True, expected C order" ;;
  x_rank1)         h npy-header "$input" "$NPY" "$(hdr '<f4' False '(3072,)')"; input=$NPY; want="x.npy: input must be [batch, seq, d_model] or [seq, d_model], got rank 1" ;;
  x_rank5)         h npy-header "$input" "$NPY" "$(hdr '<f4' False '(1, 1, 2, 24, 64)')"; input=$NPY; want="x.npy: rank 5, expected 1..4" ;;
  x_width)         h npy-header "$input" "$NPY" "$(hdr '<f4' False '(2, 48, 32)')"; input=$NPY; want="x.npy: input has d_model 32, expected 64" ;;
  x_truncated)     h truncate "$input" "$NPY" -4; input=$NPY; want="x.npy: truncated: shape [2,24,64] needs 12288 data bytes, the file has 12284" ;;
  x_extra_bytes)   h npy-header "$input" "$NPY" "$(hdr '<f4' False '(2, 23, 64)')"; input=$NPY; want="x.npy: 512 bytes after the data of shape [2,23,64]" ;;
  x_empty_batch)   h npy-header "$input" "$W/t.npy" "$(hdr '<f4' False '(0, 24, 64)')"; h truncate "$W/t.npy" "$NPY" 128
                   input=$NPY; want="x.npy: input has an empty or absurd batch or sequence dimension" ;;
  x_huge_shape)    h npy-header "$input" "$NPY" "$(hdr '<f4' False '(4294967296, 4294967296, 64)')"; input=$NPY; want="x.npy: shape [4294967296,4294967296,64] is too large" ;;
  x_header_past_end) h truncate "$input" "$NPY" 50; input=$NPY; want="x.npy: header length 118 runs past the end of the file (50 bytes)" ;;
  x_dtype_control) h npy-header "$input" "$NPY" "$(hdr "$(printf '\033[31m')" False '(2, 24, 64)')"; input=$NPY
                   want="x.npy: unsupported dtype (not a simple type string)" ;;
  x_header_garbage) h npy-header "$input" "$NPY" "not a dict"; input=$NPY; want="x.npy: malformed header: not a dict" ;;
  x_header_nul)    h patch "$input" "$NPY" 20 0; input=$NPY; want="x.npy: malformed header: NUL byte" ;;

  # ---- --lengths -----------------------------------------------------------------
  len_not_number)  extra="--lengths abc"; want="--lengths: 'abc' is not a list of positive integers" ;;
  len_comma)       extra="--lengths ,"; want="--lengths: ',' is not a list of positive integers" ;;
  len_too_few)     extra="--lengths 24"; want="--lengths: '24' must have one length per sample of the batch" ;;
  len_too_many)    extra="--lengths 24,24,24"; want="--lengths: '24,24,24' must have one length per sample of the batch" ;;
  len_trailing)    extra="--lengths 24,24,"; want="--lengths: '24,24,' must have one length per sample" ;;
  len_zero)        extra="--lengths 0,24"; want="--lengths: '0,24' is not a list of positive integers" ;;
  len_negative)    extra="--lengths 24,-1"; want="--lengths: '24,-1' is not a list of positive integers" ;;
  len_huge)        extra="--lengths 99999999999999999999,1"; want="--lengths: '99999999999999999999,1' is not a list of positive integers" ;;
  len_past_seq)    extra="--lengths 25,24"; want="lengths[0] = 25 is out of range 1..24" ;;
  len_past_seq_2)  extra="--lengths 24,1073741824"; want="lengths[1] = 1073741824 is out of range 1..24" ;;

  # ---- flags ---------------------------------------------------------------------
  flag_unknown)      extra="--bogus 1"; want="unknown flag '--bogus'" ;;
  flag_unknown_last) extra="--bogus"; want="--bogus: missing value (or unknown flag)" ;;
  flag_positional)   extra="stray.npy value"; want="unknown flag 'stray.npy'" ;;
  flag_no_value)     extra="--lengths"; want="--lengths: missing value" ;;
  flag_no_weights)   weights=; want="--weights is required" ;;
  flag_no_input)     input=; want="--input is required" ;;
  flag_no_output)    out=; want="--output is required" ;;
  flag_threads_zero) extra="--threads 0"; want="--threads: '0' is not a positive integer" ;;
  flag_threads_text) extra="--threads many"; want="--threads: 'many' is not a positive integer" ;;
  flag_threads_huge) extra="--threads 99999999999"; want="--threads: '99999999999' is not a positive integer" ;;
  flag_bench_negative) extra="--bench -5"; want="--bench: '-5' is not a positive integer" ;;

  # ---- the output ----------------------------------------------------------------
  out_parent_is_file) : >"$W/file"; out=$W/file/y.npy; want="$W/file/y.npy: cannot create directory $W/file" ;;
  out_is_directory)   out=$W/out; want="$W/out: cannot rename the temporary file into place" ;;
  out_not_writable)
    if [ "$(id -u)" = 0 ]; then   # root writes anywhere chmod allows: use a directory no one may write
      out=/proc/self/y.npy; want="/proc/self/y.npy: cannot create"
    else
      mkdir "$W/ro"; chmod 555 "$W/ro"; out=$W/ro/y.npy; want="$W/ro/y.npy: cannot create: Permission denied"
    fi ;;

  # ---- --check-finite ------------------------------------------------------------
  # x [2,24,64]: NaN at [0,5,17] (flat 337), +Inf at [1,0,0] (1536), -Inf at [1,23,63] (3071)
  finite_debug_default)
    h npy-set "$input" "$W/a.npy" 337 nan; h npy-set "$W/a.npy" "$W/b.npy" 1536 inf; h npy-set "$W/b.npy" "$NPY" 3071 -inf
    BIN=$WORK/bin/debug/causal; input=$NPY; extra="--events-dir $W/events"; want="x.npy: 3 non-finite values (first at [0,5,17])" ;;
  finite_debug_one)
    h npy-set "$input" "$NPY" 3071 -inf
    BIN=$WORK/bin/debug/causal; input=$NPY; extra="--events-dir $W/events"; want="x.npy: 1 non-finite value (first at [1,23,63])" ;;
  finite_debug_off)
    h npy-set "$input" "$NPY" 337 nan
    BIN=$WORK/bin/debug/causal; input=$NPY; extra="--no-check-finite --events-dir $W/events"; expect_ok=1 ;;
  finite_release_default_off)
    h npy-set "$input" "$NPY" 337 nan
    input=$NPY; expect_ok=1 ;;
  finite_release_on)
    h npy-set "$input" "$NPY" 337 nan
    input=$NPY; extra=--check-finite; want="x.npy: 1 non-finite value (first at [0,5,17])" ;;
  finite_last_flag_wins)
    h npy-set "$input" "$NPY" 337 nan
    input=$NPY; extra="--no-check-finite --check-finite"; want="x.npy: 1 non-finite value (first at [0,5,17])" ;;
  finite_instrument_memory)   # decoder_cross: memory [2,?,64]; an Inf in it, the input clean
    D=$FIX/decoder_cross
    h npy-set "$D/memory.npy" "$W/m.npy" 70 inf
    BIN=$WORK/bin/instrument/dec weights=$D/weights.safetensors input=$D/input.npy
    extra="--memory $W/m.npy --events-dir $W/events"; want="m.npy: 1 non-finite value (first at [0,1,6])" ;;
  finite_instrument_input)
    D=$FIX/decoder_cross
    h npy-set "$D/input.npy" "$NPY" 0 nan
    BIN=$WORK/bin/instrument/dec weights=$D/weights.safetensors input=$NPY
    extra="--memory $D/memory.npy --events-dir $W/events"; want="x.npy: 1 non-finite value (first at [0,0,0])" ;;

  *) echo "hostile.sh: unknown case '$CASE'"; exit 2 ;;
esac

set --
[ -n "$weights" ] && set -- "$@" --weights "$weights"
[ -n "$input" ] && set -- "$@" --input "$input"
[ -n "$out" ] && set -- "$@" --output "$out"
cmdline="$BIN $* $extra"
# shellcheck disable=SC2086
"$BIN" "$@" $extra >"$W/stdout" 2>"$W/stderr"
rc=$?

fail() {
  echo "FAIL: $CASE: $*"
  echo "--- command: $cmdline"
  echo "--- stderr:"; head -c 4000 "$W/stderr"
  exit 1
}
if grep -q -e 'Sanitizer' -e 'runtime error' "$W/stderr"; then fail "sanitizer report"; fi
if [ $expect_ok = 1 ]; then
  [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
  [ -f "$out" ] || fail "no output $out"
  echo "ok: $CASE: succeeded as it should"
  exit 0
fi
[ $rc -ne 0 ] || fail "exit status 0, expected 1"
[ $rc -lt 128 ] || fail "killed by signal $((rc - 128))"
[ $rc -eq 1 ] || fail "exit status $rc, expected 1"
lines=$(awk 'END { print NR }' "$W/stderr")
[ "$lines" -eq 1 ] || fail "$lines lines on stderr, expected exactly one"
if grep -q "$(printf '[\001-\010\013-\037\177]')" "$W/stderr"; then
  fail "control characters in the message (bytes of the file, unescaped)"
fi
line=$(cat "$W/stderr")
case $line in
  *"$want"*) ;;
  *) fail "the message lacks '$want'" ;;
esac
# nothing written: no output, no temporary output, no event file
if [ -n "$out" ]; then
  [ -d "$out" ] || [ ! -e "$out" ] || fail "$out exists"
  leftovers=$(ls -d "$out".tmp.* 2>/dev/null)
  [ -z "$leftovers" ] || fail "temporary files left behind: $leftovers"
fi
[ -z "$(ls -A "$W/out")" ] || fail "files left in the output directory: $(ls -A "$W/out")"
[ ! -e "$W/events" ] || [ -z "$(ls -A "$W/events")" ] || fail "event files written"
echo "ok: $CASE: $line"
