/* test_rt_attention.c — xf_attention against a naive O(L·S) double-precision
 * reference, on both paths (attn materialized / streaming), and against
 * PyTorch's attention matrices in tests/fixtures. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "xf_attn_tile.h"
#include "xf_kernels.h"

/* The definition, in double: out [N,L,H,D], attn [N,H,L,S]. */
static void naive_attention(double *out, double *attn, const float *q, const float *k,
                            const float *v, const xf_attn_shape *sh) {
    int N = sh->N, L = sh->L, S = sh->S, H = sh->H, E = sh->E, D = sh->D;
    double *row = malloc((size_t)(S ? S : 1) * sizeof *row);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int l = 0; l < L; l++) {
                int klen = sh->key_len ? sh->key_len[n] : S;
                double m = -INFINITY, sum = 0;
                for (int s = 0; s < S; s++) {
                    int vis = s < klen && (!sh->causal || s <= l);
                    double d = 0;
                    for (int e = 0; e < E; e++)
                        d += (double)q[((n * L + l) * H + h) * E + e] *
                             k[((n * S + s) * H + h) * E + e];
                    row[s] = vis ? d * sh->temp : -INFINITY;
                    if (row[s] > m)
                        m = row[s];
                }
                for (int s = 0; s < S; s++) {
                    row[s] = row[s] == -INFINITY ? 0.0 : exp(row[s] - m);
                    sum += row[s];
                }
                for (int s = 0; s < S; s++) {
                    row[s] = sum > 0 ? row[s] / sum : 0.0;
                    attn[((int64_t)(n * H + h) * L + l) * S + s] = row[s];
                }
                for (int d = 0; d < D; d++) {
                    double o = 0;
                    for (int s = 0; s < S; s++)
                        o += row[s] * v[((n * S + s) * H + h) * D + d];
                    out[((n * L + l) * H + h) * D + d] = o;
                }
            }
    free(row);
}

/* Runs both paths on random q/k/v and checks them against the reference:
 * out within tol, attn within tol with masked entries exactly 0, rows
 * summing to 1 (or 0 with no visible key), streaming out == materialized out. */
static void check_qkv(xf_attn_shape sh, double tol, float *q, float *k, float *v);

static void check(xf_attn_shape sh, double tol) {
    int64_t nq = (int64_t)sh.N * sh.L * sh.H * sh.E, nk = (int64_t)sh.N * sh.S * sh.H * sh.E;
    int64_t nv = (int64_t)sh.N * sh.S * sh.H * sh.D;
    check_qkv(sh, tol, th_rand_buf(nq, 1, 2.0f), th_rand_buf(nk, 2, 2.0f),
              th_rand_buf(nv, 3, 1.0f));
}

/* check() on the given q, k, v (freed here). */
static void check_qkv(xf_attn_shape sh, double tol, float *q, float *k, float *v) {
    int64_t no = (int64_t)sh.N * sh.L * sh.H * sh.D, na = (int64_t)sh.N * sh.H * sh.L * sh.S;
    double *ro = malloc((size_t)(no ? no : 1) * sizeof *ro),
           *ra = malloc((size_t)(na ? na : 1) * sizeof *ra);
    naive_attention(ro, ra, q, k, v, &sh);

    /* garbage in the outputs: every entry must be written */
    float *o1 = th_rand_buf(no, 4, 100.0f), *o2 = th_rand_buf(no, 5, 100.0f),
          *a = th_rand_buf(na, 6, 100.0f);
    int64_t ns = xf_attention_scratch(&sh);
    cr_assert_gt(ns, 0);
    float *scratch = th_rand_buf(ns, 7, 100.0f);

    xf_attention(o1, a, q, k, v, &sh, scratch);
    xf_attention(o2, NULL, q, k, v, &sh, scratch);

    for (int64_t i = 0; i < no; i++) {
        cr_assert(fabs(o1[i] - ro[i]) <= tol, "out[%lld] (materialized): got %.7g want %.7g",
                  (long long)i, o1[i], ro[i]);
        cr_assert(fabs(o2[i] - ro[i]) <= tol, "out[%lld] (streaming): got %.7g want %.7g",
                  (long long)i, o2[i], ro[i]);
        cr_assert(fabs(o1[i] - o2[i]) <= fmax(1e-5, tol / 10), /* loose tol: large scores */
                  "out[%lld]: materialized %.7g, streaming %.7g", (long long)i, o1[i], o2[i]);
    }
    for (int64_t r = 0; r < (int64_t)sh.N * sh.H * sh.L; r++) {
        double sum = 0, want = 0;
        for (int s = 0; s < sh.S; s++) {
            int64_t i = r * sh.S + s;
            cr_assert(fabs(a[i] - ra[i]) <= tol, "attn[%lld]: got %.7g want %.7g", (long long)i,
                      a[i], ra[i]);
            if (ra[i] == 0.0) /* only masked entries are exactly 0 in double */
                cr_assert(a[i] == 0.0f, "masked attn[%lld] = %g, want exactly 0", (long long)i,
                          a[i]);
            sum += a[i];
            want += ra[i];
        }
        cr_assert(fabs(sum - want) <= 1e-5, "attn row %lld sums to %.7g, want %.7g", (long long)r,
                  sum, want);
    }
    free(q);
    free(k);
    free(v);
    free(ro);
    free(ra);
    free(o1);
    free(o2);
    free(a);
    free(scratch);
}

/* Masked entries must be exactly 0, not just small: check by the mask itself. */
static void check_mask_zeros(xf_attn_shape sh) {
    int64_t nq = (int64_t)sh.N * sh.L * sh.H * sh.E, nk = (int64_t)sh.N * sh.S * sh.H * sh.E;
    int64_t nv = (int64_t)sh.N * sh.S * sh.H * sh.D, no = (int64_t)sh.N * sh.L * sh.H * sh.D;
    int64_t na = (int64_t)sh.N * sh.H * sh.L * sh.S;
    float *q = th_rand_buf(nq, 8, 2.0f), *k = th_rand_buf(nk, 9, 2.0f),
          *v = th_rand_buf(nv, 10, 1.0f);
    float *o = malloc((size_t)no * sizeof *o), *a = th_rand_buf(na, 11, 5.0f);
    xf_attention(o, a, q, k, v, &sh, NULL); /* materialized: scratch unused */
    for (int n = 0; n < sh.N; n++)
        for (int h = 0; h < sh.H; h++)
            for (int l = 0; l < sh.L; l++)
                for (int s = 0; s < sh.S; s++) {
                    int klen = sh.key_len ? sh.key_len[n] : sh.S;
                    int vis = s < klen && (!sh.causal || s <= l);
                    float x = a[(((int64_t)n * sh.H + h) * sh.L + l) * sh.S + s];
                    if (!vis)
                        cr_assert(x == 0.0f, "masked attn[%d,%d,%d,%d] = %g", n, h, l, s, x);
                    else
                        cr_assert(x > 0.0f, "visible attn[%d,%d,%d,%d] = %g", n, h, l, s, x);
                }
    free(q);
    free(k);
    free(v);
    free(o);
    free(a);
}

#define SHAPE(n, l, s, h, e, d)                                                                    \
    (xf_attn_shape) {                                                                              \
        .N = n, .L = l, .S = s, .H = h, .E = e, .D = d, .temp = 1.0f / sqrtf((float)(e))           \
    }

Test(attention, no_mask) {
    check(SHAPE(2, 10, 10, 3, 8, 8), 1e-5);
}

Test(attention, causal) {
    xf_attn_shape sh = SHAPE(2, 13, 13, 2, 16, 16);
    sh.causal = 1;
    check(sh, 1e-5);
    check_mask_zeros(sh);
}

Test(attention, key_lengths) {
    int len[3] = {9, 1, 4};
    xf_attn_shape sh = SHAPE(3, 9, 9, 2, 8, 8);
    sh.key_len = len;
    check(sh, 1e-5);
    check_mask_zeros(sh);
}

Test(attention, causal_and_key_lengths) {
    int len[2] = {5, 11};
    xf_attn_shape sh = SHAPE(2, 11, 11, 3, 8, 8);
    sh.key_len = len;
    sh.causal = 1;
    check(sh, 1e-5);
    check_mask_zeros(sh);
}

Test(attention, cross_lengths_differ) {
    check(SHAPE(2, 7, 19, 4, 16, 16), 1e-5);
    check(SHAPE(1, 19, 7, 4, 16, 16), 1e-5);
}

Test(attention, query_dim_ne_value_dim) {
    int len[2] = {30, 11};
    xf_attn_shape sh = SHAPE(2, 30, 30, 4, 24, 32);
    sh.key_len = len;
    check(sh, 1e-5);
}

Test(attention, length_one) {
    check(SHAPE(3, 1, 1, 2, 8, 4), 1e-6);
    xf_attn_shape sh = SHAPE(1, 1, 5, 2, 8, 4);
    sh.causal = 1; /* query 0 sees key 0 only */
    check(sh, 1e-6);
}

Test(attention, one_visible_key_copies_its_value) {
    int len[1] = {1};
    xf_attn_shape sh = SHAPE(1, 6, 6, 2, 8, 8);
    sh.key_len = len;
    check(sh, 1e-6);
    /* and exactly: every query row's output is value row 0 */
    float *q = th_rand_buf(6 * 2 * 8, 1, 3.0f), *k = th_rand_buf(6 * 2 * 8, 2, 3.0f);
    float *v = th_rand_buf(6 * 2 * 8, 3, 1.0f), o[6 * 2 * 8], a[2 * 6 * 6];
    float *scratch = malloc((size_t)xf_attention_scratch(&sh) * sizeof(float));
    xf_attention(o, a, q, k, v, &sh, scratch);
    for (int l = 0; l < 6; l++)
        for (int h = 0; h < 2; h++) {
            cr_assert_eq(a[(h * 6 + l) * 6], 1.0f);
            for (int d = 0; d < 8; d++)
                cr_assert_float_eq(o[(l * 2 + h) * 8 + d], v[h * 8 + d], 1e-6);
        }
    xf_attention(o, NULL, q, k, v, &sh, scratch);
    for (int l = 0; l < 6; l++)
        for (int d = 0; d < 16; d++)
            cr_assert_float_eq(o[l * 16 + d], v[d], 1e-6);
    free(q);
    free(k);
    free(v);
    free(scratch);
}

Test(attention, row_without_visible_key_is_zero) {
    int len[2] = {0, 4};
    xf_attn_shape sh = SHAPE(2, 5, 4, 2, 8, 8);
    sh.key_len = len;
    check(sh, 1e-5); /* sample 0: out and attn rows all 0 */
    float *q = th_rand_buf(2 * 5 * 2 * 8, 1, 1.0f), *k = th_rand_buf(2 * 4 * 2 * 8, 2, 1.0f);
    float *v = th_rand_buf(2 * 4 * 2 * 8, 3, 1.0f), *o = th_rand_buf(2 * 5 * 2 * 8, 4, 9.0f);
    float *scratch = malloc((size_t)xf_attention_scratch(&sh) * sizeof(float));
    xf_attention(o, NULL, q, k, v, &sh, scratch);
    for (int i = 0; i < 5 * 2 * 8; i++)
        cr_assert(o[i] == 0.0f, "out[%d] = %g, want 0", i, o[i]);
    free(q);
    free(k);
    free(v);
    free(o);
    free(scratch);
}

Test(attention, temperature_applies) {
    xf_attn_shape sh = SHAPE(1, 8, 8, 2, 8, 8);
    sh.temp = 2.5f;
    check(sh, 1e-5);
    sh.temp = 0.0f; /* uniform over visible keys */
    sh.causal = 1;
    check(sh, 1e-6);
}

/* Longer than one query block (128 rows or 32K scores) and not a multiple. */
Test(attention, long_sequence_blocks, .timeout = 120) {
    xf_attn_shape sh = SHAPE(1, 700, 700, 2, 16, 16);
    check(sh, 2e-5);
    sh.causal = 1;
    int len[1] = {650};
    sh.key_len = len;
    check(sh, 2e-5);
}

/* More keys than two online blocks (1024): the streaming path runs the
 * flash-attention recurrence over key blocks, rescaling as the max grows;
 * causal rows see 1, 2, … blocks, a short sample sees one. */
Test(attention, online_softmax_over_key_blocks, .timeout = 120) {
    xf_attn_shape sh = SHAPE(2, 1300, 1300, 1, 16, 8);
    int len[2] = {1300, 1100};
    sh.key_len = len;
    check(sh, 2e-5);
    sh.causal = 1;
    check(sh, 2e-5);
}

/* q, k, v for the online path's lazy max: keys 512–1023 score ~3× the
 * first block's range (most rows' max grows by 16–80: their sums and outputs
 * rescaled), keys from 1024 on ~8× (a jump past 80: the row's scores
 * recomputed).  Not more: the double reference must not underflow. */
static void check_jumps(xf_attn_shape sh) {
    float *k = th_rand_buf((int64_t)sh.S * sh.E, 2, 2.0f);
    for (int s = 512; s < sh.S; s++)
        for (int e = 0; e < sh.E; e++)
            k[(int64_t)s * sh.E + e] *= s < 1024 ? 3.0f : 8.0f;
    check_qkv(sh, 5e-4, th_rand_buf((int64_t)sh.L * sh.E, 1, 2.0f), k,
              th_rand_buf((int64_t)sh.S * sh.D, 3, 1.0f));
}

/* E and D not multiples of the vector width, L and S not of the tiles;
 * causal rows meet the jumps in their own later blocks. */
Test(attention, online_lazy_max_rescales_and_recomputes, .timeout = 120) {
    xf_attn_shape sh = SHAPE(1, 300, 1700, 1, 19, 7);
    sh.temp = 1.0f;
    check_jumps(sh);
    sh.L = 1300;
    sh.S = 1300;
    sh.causal = 1;
    check_jumps(sh);
}

/* The tile products on the BLAS backend (a CPU without AVX-512) in the same
 * recurrence: long keys, causal, key lengths, jumps of the max. */
Test(attention, online_on_blas_tiles, .timeout = 120) {
    xf__tile_force_blas(1);
    xf_attn_shape sh = SHAPE(1, 200, 1300, 1, 16, 8);
    int len[1] = {1250};
    sh.key_len = len;
    check(sh, 2e-5);
    sh = (xf_attn_shape)SHAPE(1, 1100, 1100, 1, 19, 7);
    sh.causal = 1;
    check(sh, 2e-5);
    sh = (xf_attn_shape)SHAPE(1, 100, 1700, 1, 19, 7);
    sh.temp = 1.0f;
    check_jumps(sh);
    xf__tile_force_blas(0);
}

/* On the runtime's threads (heads in parallel, one scratch slice each) the
 * result is the same. */
Test(attention, heads_on_threads) {
    xf_set_threads(2);
    xf_attn_shape sh = SHAPE(3, 40, 50, 4, 16, 8);
    int len[3] = {50, 17, 1};
    sh.key_len = len;
    check(sh, 1e-5);
    xf_set_threads(1);
}

/* Models size one scratch for their longest call and reuse it: a shorter
 * query or key length must never need more.  (B·S alone is not monotone:
 * L = S = 256 → 128 × 256, but S = 128 → 256 × 128 + 256 sums.) */
Test(attention, scratch_is_monotone) {
    for (int L = 1; L <= 600; L += 7)
        for (int S = 1; S <= 600; S++) {
            xf_attn_shape a = SHAPE(1, L, S, 1, 8, 8), b = SHAPE(1, L + 7, S, 1, 8, 8);
            xf_attn_shape c = SHAPE(1, L, S + 1, 1, 8, 8);
            int64_t na = xf_attention_scratch(&a);
            cr_assert_leq(na, xf_attention_scratch(&b), "L %d→%d, S %d", L, L + 7, S);
            cr_assert_leq(na, xf_attention_scratch(&c), "L %d, S %d→%d", L, S, S + 1);
        }
}

Test(attention, scratch_is_bounded) {
    /* streaming never holds L×S: the seq-4096 case stays a block of rows, or
     * on the online path the head's keys and values packed + one block's
     * queries, scores (512 keys), outputs, maxima and sums, and one tile's */
    xf_attn_shape sh = SHAPE(1, 4096, 4096, 4, 64, 64);
    cr_assert_leq(xf_attention_scratch(&sh), (int64_t)4096 * (64 + 64) + 128 * (64 + 512 + 64 + 4));
    /* seq 100: the short-key kernel's keys transposed and values packed
     * (112 keys × 64 each), one block's 6 score rows and 6 queries, 16 to
     * align (attention_short.c) */
    sh = (xf_attn_shape)SHAPE(10, 100, 100, 4, 64, 64);
    cr_assert_leq(xf_attention_scratch(&sh), (int64_t)2 * 112 * 64 + 6 * 112 + 6 * 64 + 16);
}

/* ---- against PyTorch (tests/fixtures) ------------------------------------ */

/* One layer's attention from the fixture's q/k/v (harness.h): attn within
 * 1e-4 of torch's on valid query rows; out = attn·v (torch gives no out). */
static void check_fixture(const char *cas, const char *prefix, int causal, const int *len) {
    xf_attn_shape proto = {.key_len = len, .causal = causal};
    th_check_attention_fixture(xf_attention, cas, prefix, proto, len);
}

Test(fixtures, encoder_getting_started) {
    for (int i = 0; i < 4; i++) {
        char p[32];
        snprintf(p, sizeof p, "layers.%d.", i);
        check_fixture("encoder_getting_started", p, 0, NULL);
    }
}

Test(fixtures, encoder_causal) {
    check_fixture("encoder_causal", "layers.0.", 1, NULL);
    check_fixture("encoder_causal", "layers.1.", 1, NULL);
}

Test(fixtures, padded_key_lengths) {
    int len[3] = {37, 20, 5};
    for (int i = 0; i < 3; i++) {
        char p[32];
        snprintf(p, sizeof p, "layers.%d.", i);
        check_fixture("encoder_prenorm_gelu_padded", p, 0, len);
    }
    int len2[2] = {30, 11}; /* fast-transformers, E = 24 ≠ D = 32 */
    check_fixture("ft_encoder_qdim_ne_vdim", "layers.0.", 0, len2);
    check_fixture("ft_encoder_qdim_ne_vdim", "layers.1.", 0, len2);
}

Test(fixtures, decoder_self_and_cross) {
    check_fixture("decoder_cross", "layers.0.self_", 1, NULL);
    check_fixture("decoder_cross", "layers.0.cross_", 0, NULL);
    check_fixture("decoder_cross", "layers.1.self_", 1, NULL);
    check_fixture("decoder_cross", "layers.1.cross_", 0, NULL);
}
