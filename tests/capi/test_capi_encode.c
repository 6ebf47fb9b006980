/* A Transformer's NAME_encode (SPEC §8) refuses the sources its forward
 * refuses for their length — clustered attention shorter than clusters,
 * reformer not whole chunks, aft_full past max_sequence_length — with the
 * forward's message, and the state stays usable: a valid source then encodes,
 * prefills and steps.  The models are tests/cli/encode/TYPE.xf, release builds;
 * s2s_aft's weights are gen_seq2seq's plus u, v (xfhostile st-add, ones). */
#include <criterion/criterion.h>
#include <string.h>
#include "s2s_aft.h"
#include "s2s_clustered.h"
#include "s2s_reformer.h"

/* ENCODE_CASE(M, WEIGHTS, BAD, GOOD, WANT): the forward and M_encode on a
 * source of BAD tokens fail with the same message containing WANT; a source
 * of GOOD tokens then encodes on the same state and generates. */
#define ENCODE_CASE(M, WEIGHTS, BAD, GOOD, WANT)                                                   \
    do {                                                                                           \
        xf_error err = {""}, fwd = {""};                                                           \
        M *m = M##_load(WEIGHTS, &err);                                                            \
        cr_assert_not_null(m, "%s", err.msg);                                                      \
        int32_t src[16], tgt[2] = {1, 2};                                                          \
        for (int i = 0; i < 16; i++)                                                               \
            src[i] = 1 + i % 7;                                                                    \
        float out[2 * M##_VOCAB];                                                                  \
        cr_assert_eq(M##_forward(m, src, 1, BAD, NULL, tgt, 2, NULL, out, &fwd), -1);              \
        cr_assert(strstr(fwd.msg, WANT) != NULL, "forward: %s", fwd.msg);                          \
        M##_state *s = M##_state_new(m, 1, 4, &err);                                               \
        cr_assert_not_null(s, "%s", err.msg);                                                      \
        cr_expect_eq(M##_encode(m, s, src, BAD, NULL, &err), -1, "a source of %d encoded", BAD);   \
        cr_expect_str_eq(err.msg, fwd.msg);                                                        \
        cr_assert_eq(M##_encode(m, s, src, GOOD, NULL, &err), 0, "%s", err.msg);                   \
        float logits[M##_VOCAB];                                                                   \
        cr_assert_eq(M##_prefill(m, s, tgt, 2, logits, &err), 0, "%s", err.msg);                   \
        cr_assert_eq(M##_step(m, s, tgt, logits, &err), 0, "%s", err.msg);                         \
        M##_state_free(s);                                                                         \
        M##_free(m);                                                                               \
    } while (0)

Test(encode, clustered_source_shorter_than_clusters) {
    ENCODE_CASE(s2s_clustered, XF_FIXTURES "/gen_ft_seq2seq_cross_dims/weights.safetensors", 3, 5,
                "src_seq = 3 is shorter than clusters = 5");
}

Test(encode, clustered_source_lengths_shorter_than_clusters) {
    xf_error err = {""}, fwd = {""};
    s2s_clustered *m =
        s2s_clustered_load(XF_FIXTURES "/gen_ft_seq2seq_cross_dims/weights.safetensors", &err);
    cr_assert_not_null(m, "%s", err.msg);
    const int32_t src[12] = {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6}, tgt[4] = {1, 2, 1, 2};
    const int lengths[2] = {6, 3};
    float out[2 * 2 * s2s_clustered_VOCAB];
    cr_assert_eq(s2s_clustered_forward(m, src, 2, 6, lengths, tgt, 2, NULL, out, &fwd), -1);
    cr_assert(strstr(fwd.msg, "source lengths[1] = 3 is shorter than clusters = 5"), "%s", fwd.msg);
    s2s_clustered_state *s = s2s_clustered_state_new(m, 2, 4, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_expect_eq(s2s_clustered_encode(m, s, src, 6, lengths, &err), -1);
    cr_expect_str_eq(err.msg, fwd.msg);
    s2s_clustered_state_free(s);
    s2s_clustered_free(m);
}

Test(encode, reformer_source_not_whole_chunks) {
    ENCODE_CASE(s2s_reformer, XF_FIXTURES "/gen_seq2seq/weights.safetensors", 6, 8,
                "src_seq = 6 is not a multiple of chunk_size 4");
}

Test(encode, aft_full_source_past_max_sequence_length) {
    ENCODE_CASE(s2s_aft, XF_AFT_WEIGHTS, 9, 8, "src_seq = 9 exceeds max_sequence_length 8");
}
