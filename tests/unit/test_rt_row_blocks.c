/* test_rt_row_blocks.c — a layer in blocks of rows (row_blocks.c): how a
 * call is cut into blocks, and that keys/values made block by block by
 * xf_linear_kv (rows, or planes past XF_ROW_SAMPLES) and attention run block
 * by block by xf_attention_rows give what one xf_attention over the whole
 * call gives — with key lengths, causal, shared and per-sample masks,
 * blocks inside a sample and blocks of whole samples. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "xf_kernels.h"

/* The blocks of a [N, L] call: each inside one sample or of whole samples,
 * none larger than xf_row_block_max, covering every row once. */
static int blocks_of(int N, int L, int *max_rows) {
    int count = 0, most = 0;
    for (int r = 0, rows; r < N * L; r += rows, count++) {
        rows = xf_row_block(N, L, r);
        cr_assert_gt(rows, 0);
        int whole = r % L == 0 && rows % L == 0, inside = r / L == (r + rows - 1) / L;
        cr_expect(whole || inside, "block at %d (%d rows) of [%d, %d] straddles samples", r, rows,
                  N, L);
        most = rows > most ? rows : most;
    }
    cr_expect_eq(most, xf_row_block_max(N, L), "[%d, %d]", N, L);
    *max_rows = most;
    return count;
}

Test(row_blocks, cuts) {
    int most;
    cr_expect_eq(blocks_of(1, 4096, &most), 16); /* seq 4096: 16 blocks of 256 */
    cr_expect_eq(most, XF_ROW_BLOCK);
    cr_expect_eq(blocks_of(2, 1100, &most), 10); /* 5 near-equal blocks a sample */
    cr_expect_eq(most, 220);
    cr_expect_eq(blocks_of(10, 100, &most), 1); /* whole samples: b10 × L100 in one */
    cr_expect_eq(most, 1000);
    cr_expect_eq(blocks_of(25, 100, &most), 3); /* 10 + 10 + 5 samples */
    cr_expect_eq(blocks_of(3, 1024, &most), 3);
    cr_expect_eq(blocks_of(1, 1025, &most), 5);
    cr_expect_eq(most, 205);
    cr_expect_eq(blocks_of(4, 1, &most), 1);
    cr_expect_eq(xf_row_block_max(0, 10), 0);
}

/* x [N·L, in] → keys|values with W [in, H(E+D)] and queries at random; the
 * blocked path against one xf_attention over the product's rows. */
static void check(int N, int L, const int *len, int mask_planes, int causal) {
    const int H = 2, E = 8, D = 4, in = 12, KV = H * (E + D);
    const int64_t n = (int64_t)N * L;
    float *x = th_rand_buf(n * in, 1, 1.0f), *w = th_rand_buf((int64_t)in * KV, 2, 0.5f);
    float *b = th_rand_buf(KV, 3, 0.5f), *q = th_rand_buf(n * H * E, 4, 1.0f);
    float *mask = NULL;
    if (mask_planes) {
        mask = th_rand_buf((int64_t)mask_planes * L * L, 5, 1.0f);
        for (int64_t i = 0; i < (int64_t)mask_planes * L * L; i += 7)
            mask[i] = -INFINITY;
    }
    xf_attn_shape sh = {.N = N,
                        .L = L,
                        .S = L,
                        .H = H,
                        .E = E,
                        .D = D,
                        .key_len = len,
                        .causal = causal,
                        .temp = 0.4f,
                        .mask = mask,
                        .mask_batched = mask_planes > 1};
    /* the whole call: one product, heads strided in its rows */
    float *rows_kv = calloc((size_t)(n * KV), 4), *ref = calloc((size_t)(n * H * D), 4);
    xf_linear(rows_kv, x, w, b, (int)n, in, KV);
    xf_attn_shape whole = sh;
    whole.ldk = whole.ldv = KV;
    float *scratch = th_rand_buf(xf_attention_scratch(&whole), 6, 1e3f);
    xf_attention(ref, NULL, q, rows_kv, rows_kv + H * E, &whole, scratch);
    /* in blocks */
    const int B = xf_row_block_max(N, L);
    float *kv = th_rand_buf(n * KV, 7, 1e3f), *tmp = th_rand_buf((int64_t)B * KV, 8, 1e3f);
    float *out = th_rand_buf(n * H * D, 9, 1e3f);
    for (int r = 0, rows; r < n; r += rows) {
        rows = (int)(n - r < B ? n - r : B);
        xf_linear_kv(kv, N, L, r, x + (int64_t)r * in, w, b, tmp, rows, in, H, E, D);
    }
    int blocks = 0;
    for (int r = 0, rows; r < n; r += rows, blocks++) {
        rows = xf_row_block(N, L, r);
        xf_attention_rows(out + (int64_t)r * H * D, q + (int64_t)r * H * E, kv, &sh, r, rows,
                          scratch);
    }
    cr_expect_gt(blocks, 1, "the case has more than one block");
    double worst = 0;
    for (int s = 0; s < N; s++) /* rows past a sample's length are unspecified: skip them */
        for (int64_t i = (int64_t)s * L * H * D; i < ((int64_t)s * L + (len ? len[s] : L)) * H * D;
             i++) {
            double e = fabs((double)out[i] - ref[i]);
            worst = e > worst ? e : worst;
        }
    cr_expect_lt(worst, 1e-5, "[%d, %d], mask planes %d, causal %d: worst %g", N, L, mask_planes,
                 causal, worst);
    free(x), free(w), free(b), free(q), free(mask), free(rows_kv), free(ref), free(scratch);
    free(kv), free(tmp), free(out);
}

Test(row_blocks, planes_inside_samples_with_lengths_and_masks) {
    const int len[2] = {1100, 650}; /* sample 1: fewer keys than the online path takes */
    for (int causal = 0; causal < 2; causal++) { /* causal: a block's rows from its offset */
        check(2, 1100, len, 0, causal);
        check(2, 1100, len, 1, causal); /* one mask for both samples */
        check(2, 1100, len, 2, causal); /* a mask per sample */
    }
    check(1, 1300, NULL, 1, 1);
}

Test(row_blocks, rows_of_whole_samples_with_lengths_and_masks) {
    const int len[25] = {100, 37,  1,   100, 64,  100, 99,  100, 100, 100, 100, 100, 12,
                         100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 50};
    for (int causal = 0; causal < 2; causal++) {
        check(25, 100, len, 0, causal);
        check(25, 100, len, 1, causal);
        check(25, 100, len, 25, causal);
    }
}
