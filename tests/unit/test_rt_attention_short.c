/* test_rt_attention_short.c — the short-key kernel (attention_short.c, heads
 * of at most 128 keys, E and D at most 64) against a double-precision
 * reference, called directly (xf__attend_short) and through xf_attention:
 * key counts around its vector width and limit, row counts around its
 * 6-row blocks, E and D not multiples of 16, causal rows (also of a block of
 * a longer sample's rows, from its first row's position q0), key lengths,
 * q/k/v as the strided rows of one Q/K/V product, garbage in its scratch. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "xf_kernels.h"
#include "xf_simd.h"

/* One head: q [L] rows qs apart, k and v [klen] rows ks / lv apart; query
 * row i sits at position q0 + i (causal: sees the keys up to it). */
static void reference(double *o, const float *q, int64_t qs, const float *k, int64_t ks,
                      const float *v, int64_t lv, int L, int klen, int E, int D, int causal, int q0,
                      float temp) {
    double *p = malloc((size_t)klen * sizeof *p);
    for (int i = 0; i < L; i++) {
        int lim = causal && q0 + i + 1 < klen ? q0 + i + 1 : klen;
        double m = -INFINITY, sum = 0;
        for (int j = 0; j < lim; j++) {
            double d = 0;
            for (int e = 0; e < E; e++)
                d += (double)q[i * qs + e] * k[j * ks + e];
            p[j] = d * temp;
            m = p[j] > m ? p[j] : m;
        }
        for (int j = 0; j < lim; j++)
            sum += (p[j] = exp(p[j] - m));
        for (int d = 0; d < D; d++) {
            double acc = 0;
            for (int j = 0; j < lim; j++)
                acc += p[j] * v[j * lv + d];
            o[i * D + d] = acc / sum;
        }
    }
    free(p);
}

static int kernel_expected(void) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return 0;
#endif
}

/* One head of sample 0, head 0 of an [N=1, L, H, E] layout interleaved as the
 * rows of one Q/K/V product (rows 2·H·E + H·D floats apart): the kernel
 * writes exactly the head's D columns of its L output rows, within tol of
 * the reference; the other heads' columns keep their garbage. */
static void check_head_at(int L, int S, int klen, int E, int D, int causal, int q0) {
    const int H = 3, W = 2 * H * E + H * D;
    float *qkv = th_rand_buf((int64_t)(L > S ? L : S) * W, 11, 2.0f);
    xf_attn_shape sh = {.N = 1,
                        .L = L,
                        .S = S,
                        .H = H,
                        .E = E,
                        .D = D,
                        .causal = causal,
                        .temp = 1.0f / sqrtf((float)E),
                        .ldq = W,
                        .ldk = W,
                        .ldv = W,
                        .q0 = q0};
    int len[1] = {klen};
    sh.key_len = len;
    const int64_t no = (int64_t)L * H * D;
    float *o = th_rand_buf(no, 12, 100.0f), *keep = malloc((size_t)no * sizeof *keep);
    memcpy(keep, o, (size_t)no * sizeof *o);
    float *scratch = th_rand_buf(xf__attention_scratch_one(&sh), 13, 1e3f);
    head_view hv = head_at(&sh, 0, 1, qkv, qkv + H * E, qkv + 2 * H * E, o, NULL);
    int ran = xf__attend_short(&hv, &sh, scratch);
    cr_assert_eq(ran, kernel_expected(), "L %d S %d klen %d E %d D %d: ran %d", L, S, klen, E, D,
                 ran);
    if (ran) {
        double *want = malloc((size_t)L * D * sizeof *want);
        reference(want, hv.q, W, hv.k, W, hv.v, W, L, klen, E, D, causal, q0, sh.temp);
        for (int i = 0; i < L; i++)
            for (int c = 0; c < H * D; c++) {
                const float got = o[(int64_t)i * H * D + c];
                if (c / D == 1)
                    cr_assert(fabs(got - want[i * D + c % D]) <= 2e-6,
                              "L %d S %d klen %d E %d D %d causal %d: out[%d][%d] %.8g want %.8g",
                              L, S, klen, E, D, causal, i, c % D, got, want[i * D + c % D]);
                else
                    cr_assert(got == keep[(int64_t)i * H * D + c], "column %d of row %d written", c,
                              i);
            }
        free(want);
    }
    free(qkv);
    free(o);
    free(keep);
    free(scratch);
}

static void check_head(int L, int S, int klen, int E, int D, int causal) {
    check_head_at(L, S, klen, E, D, causal, 0);
}

Test(attention_short, key_counts_around_vectors_and_limit) {
    static const int keys[] = {1, 2, 15, 16, 17, 31, 33, 64, 65, 100, 127, 128};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        check_head(keys[i], keys[i], keys[i], 64, 64, 0);
        check_head(keys[i], keys[i], keys[i], 64, 64, 1);
    }
}

Test(attention_short, rows_around_blocks) {
    for (int L = 1; L <= 14; L++)
        check_head(L, 40, 40, 64, 64, 0);
    check_head(100, 100, 100, 64, 64, 1);
}

Test(attention_short, odd_head_sizes) {
    check_head(23, 23, 23, 1, 1, 0);
    check_head(23, 37, 37, 24, 32, 0);
    check_head(19, 50, 50, 17, 47, 1);
    check_head(33, 33, 33, 63, 20, 0);
    check_head(7, 7, 7, 64, 16, 1);
}

Test(attention_short, key_lengths) {
    check_head(100, 100, 37, 64, 64, 0);
    check_head(100, 100, 1, 64, 64, 0);
    check_head(50, 120, 99, 32, 64, 1);
}

/* A block of a longer sample's rows (xf_attention_rows: q0, its first row's
 * position) whose key length is short: causal limits count from q0. */
Test(attention_short, rows_of_a_block_count_from_q0) {
    check_head_at(30, 300, 100, 64, 64, 1, 40);
    check_head_at(30, 300, 100, 64, 64, 1, 200);
    check_head_at(13, 128, 128, 32, 48, 1, 115);
    check_head_at(30, 300, 100, 64, 64, 0, 40);
}

/* Beyond it: more than 128 keys, E or D above 64, a mask, a materialized
 * attention matrix — 0, nothing written. */
Test(attention_short, declines_what_it_does_not_take) {
    xf_attn_shape sh = {.N = 1, .L = 8, .S = 129, .H = 1, .E = 64, .D = 64, .temp = 1.0f};
    float *q = th_rand_buf(129 * 64, 1, 1.0f), *o = th_rand_buf(129 * 64, 2, 1.0f);
    float *scratch = th_rand_buf(xf__attention_scratch_one(&sh), 3, 1.0f);
    float *keep = malloc(129 * 64 * sizeof *keep), mask[8 * 129] = {0}, a[8 * 129];
    memcpy(keep, o, 129 * 64 * sizeof *o);
    head_view hv = head_at(&sh, 0, 0, q, q, q, o, NULL);
    cr_assert_eq(xf__attend_short(&hv, &sh, scratch), 0);
    sh.S = 128;
    sh.E = 65;
    hv = head_at(&sh, 0, 0, q, q, q, o, NULL);
    cr_assert_eq(xf__attend_short(&hv, &sh, scratch), 0);
    sh.E = 64;
    sh.D = 65;
    cr_assert_eq(xf__attend_short(&hv, &sh, scratch), 0);
    sh.D = 64;
    sh.mask = mask;
    hv = head_at(&sh, 0, 0, q, q, q, o, NULL);
    cr_assert_eq(xf__attend_short(&hv, &sh, scratch), 0);
    sh.mask = NULL;
    hv = head_at(&sh, 0, 0, q, q, q, o, a);
    cr_assert_eq(xf__attend_short(&hv, &sh, scratch), 0);
    cr_assert_eq(memcmp(o, keep, 129 * 64 * sizeof *o), 0);
    free(q);
    free(o);
    free(keep);
    free(scratch);
}

/* The bench model's shape through xf_attention on contiguous q, k, v, and
 * the materialized path (attend_block) agreeing with it. */
Test(attention_short, model_shape_matches_materialized_path) {
    xf_attn_shape sh = {.N = 2, .L = 100, .S = 100, .H = 4, .E = 64, .D = 64, .temp = 0.125f};
    const int64_t n = 2 * 100 * 4 * 64;
    float *q = th_rand_buf(n, 1, 2.0f), *k = th_rand_buf(n, 2, 2.0f), *v = th_rand_buf(n, 3, 1.0f);
    float *o1 = th_rand_buf(n, 4, 9.0f), *o2 = th_rand_buf(n, 5, 9.0f);
    float *a = malloc((size_t)2 * 4 * 100 * 100 * sizeof *a);
    float *scratch = th_rand_buf(xf_attention_scratch(&sh), 6, 1e3f);
    xf_attention(o1, NULL, q, k, v, &sh, scratch);
    xf_attention(o2, a, q, k, v, &sh, scratch);
    for (int64_t i = 0; i < n; i++)
        cr_assert(fabsf(o1[i] - o2[i]) <= 2e-6f, "out[%lld]: %.8g vs %.8g", (long long)i, o1[i],
                  o2[i]);
    free(q);
    free(k);
    free(v);
    free(o1);
    free(o2);
    free(a);
    free(scratch);
}
