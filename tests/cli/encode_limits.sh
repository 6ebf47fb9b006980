#!/bin/sh
# encode_limits.sh — a Transformer's generation encodes its source with the
# encoder's attention (NAME_encode): a source the forward refuses for its
# length (clustered: shorter than clusters; reformer: not whole chunks;
# aft_full: past max_sequence_length) is refused by --generate too, with the
# forward's one line, exit 1 and no output; a source it takes generates.
#
#   encode_limits.sh XFC XFHOSTILE CLI_DIR FIXTURES WORK TYPE
#       TYPE: clustered | reformer | aft (the spec CLI_DIR/encode/TYPE.xf)
set -u
LC_ALL=C
export LC_ALL
XFC=$1 HOSTILE=$2 CLI=$3 FIX=$4 WORK=$5 TYPE=$6
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK" || exit 2
fail() { echo "FAIL: $*"; [ -f err ] && head -c 2000 err; exit 1; }
"$XFC" build "$CLI/encode/$TYPE.xf" -o bin --release 2>err || fail "build"

# zeros FILE ROWS COLS: int32 ids [ROWS, COLS], all 0 (a 128-byte .npy header)
zeros() {
    printf '\223NUMPY\001\000\166\000%-117s\n' \
        "{'descr': '<i4', 'fortran_order': False, 'shape': ($2, $3), }" > "$1"
    head -c $((4 * $2 * $3)) /dev/zero >> "$1"
}

# refused WANT ARGS…: the forward and --generate both refuse the source in
# the same one line, containing WANT; the prompt is $INPUT.
INPUT=5,5
refused() {
    want=$1
    shift
    ./bin --weights w.safetensors "$@" --input "$INPUT" --output f.npy 2>forward
    rc=$?
    [ $rc -eq 1 ] || { cp forward err; fail "forward: exit $rc, expected 1"; }
    grep -qF "$want" forward || { cp forward err; fail "forward: expected '$want'"; }
    ./bin --weights w.safetensors "$@" --input "$INPUT" --generate 3 --output g.npy 2>err
    rc=$?
    [ $rc -eq 1 ] || fail "--generate $*: exit $rc, expected 1"
    [ "$(wc -l < err)" -eq 1 ] || fail "--generate: not one line"
    cmp -s err forward || fail "--generate: another message than the forward's ($(cat forward))"
    [ ! -e f.npy ] && [ ! -e g.npy ] || fail "wrote an output"
}

case $TYPE in
  clustered)
    cp "$FIX/gen_ft_seq2seq_cross_dims/weights.safetensors" w.safetensors
    refused "src_seq = 3 is shorter than clusters = 5" --source 1,2,3
    zeros src.npy 2 6
    zeros prompt.npy 2 2
    INPUT=prompt.npy refused "source lengths[1] = 3 is shorter than clusters = 5" --source src.npy --source-lengths 6,3
    good="1,2,3,4,5" ;;
  reformer)
    cp "$FIX/gen_seq2seq/weights.safetensors" w.safetensors
    refused "src_seq = 6 is not a multiple of chunk_size 4" --source 1,2,3,4,5,6
    good="1,2,3,4,5,6,7,8" ;;
  aft)   # the weights of gen_seq2seq and aft_full's u, v per encoder layer
    cp "$FIX/gen_seq2seq/weights.safetensors" w0.safetensors
    i=0
    for l in 0 1; do
        for t in u v; do
            "$HOSTILE" st-add w$i.safetensors w$((i + 1)).safetensors \
                transformer.encoder.layers.$l.self_attn.inner_attention.$t 8 3 || exit 2
            i=$((i + 1))
        done
    done
    mv w$i.safetensors w.safetensors
    refused "src_seq = 9 exceeds max_sequence_length 8" --source 1,2,3,4,5,6,7,8,9
    good="1,2,3,4,5,6,7,8" ;;
  *) echo "unknown type $TYPE"; exit 2 ;;
esac
./bin --weights w.safetensors --source "$good" --input 5,5 --generate 3 --output g.npy 2>err ||
    fail "the source $good did not generate"
head -c 128 g.npy | grep -qF "'shape': (5,)" || fail "generated $(head -c 80 g.npy)"
echo "encode_limits $TYPE: the forward's refusals hold for --generate; a valid source generates"
