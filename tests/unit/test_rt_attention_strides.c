/* test_rt_attention_strides.c — q, k, v read from the rows of one Q/K/V
 * product (xf_attn_shape.ldq/ldk/ldv, rows of H*E + H*E + H*D floats) give
 * what the same values as three contiguous arrays give: every attention
 * kernel (full, its online path, linear, causal linear, local, top-k, AFT,
 * clustered, improved clustered, reformer; full, local and top-k with a
 * FullMask too), the KV cache and the recurrent state of
 * generation, and xf_copy_rows (a QKVEvent payload's copy). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "xf_generate.h"
#include "xf_kernels.h"

enum { N = 2, H = 2, E = 8, D = 8, W = 2 * H * E + H * D };

typedef void (*kernel_fn)(float *out, float *attn, const float *q, const float *k, const float *v,
                          const xf_attn_shape *sh, float *scratch);

/* y[rows, W] = q | k | v, row by row: the layout of one Q/K/V product. */
static float *interleave(const float *q, const float *k, const float *v, int64_t rows) {
    float *y = malloc((size_t)(rows * W) * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        memcpy(y + r * W, q + r * H * E, H * E * sizeof(float));
        memcpy(y + r * W + H * E, k + r * H * E, H * E * sizeof(float));
        memcpy(y + r * W + 2 * H * E, v + r * H * D, H * D * sizeof(float));
    }
    return y;
}

static void assert_close(const float *a, const float *b, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        cr_assert(fabsf(a[i] - b[i]) <= 1e-5f * (1.0f + fabsf(b[i])), "%s [%lld]: %g vs %g", what,
                  (long long)i, a[i], b[i]);
}

/* The kernel on contiguous q, k, v and on their interleaved rows (L = S). */
static void check(kernel_fn fn, xf_attn_shape sh, const char *what) {
    const int64_t rows = (int64_t)N * sh.L, out_n = rows * H * D,
                  a_n = (int64_t)N * H * sh.L * sh.S;
    float *q = th_rand_buf(rows * H * E, 11, 1.0f), *k = th_rand_buf(rows * H * E, 12, 1.0f);
    float *v = th_rand_buf(rows * H * D, 13, 1.0f), *y = interleave(q, k, v, rows);
    float *o1 = calloc((size_t)out_n, 4), *o2 = calloc((size_t)out_n, 4);
    float *a1 = calloc((size_t)a_n, 4), *a2 = calloc((size_t)a_n, 4);
    float *scratch = malloc((size_t)xf_attention_scratch(&sh) * 4);
    for (int materialize = 0; materialize < 2; materialize++) {
        fn(o1, materialize ? a1 : NULL, q, k, v, &sh, scratch);
        xf_attn_shape st = sh;
        st.ldq = st.ldk = st.ldv = W;
        fn(o2, materialize ? a2 : NULL, y, y + H * E, y + 2 * H * E, &st, scratch);
        assert_close(o2, o1, out_n, what);
        if (materialize)
            assert_close(a2, a1, a_n, what);
    }
    free(q), free(k), free(v), free(y), free(o1), free(o2), free(a1), free(a2), free(scratch);
}

static xf_attn_shape shape(int L, int causal) {
    static const int len[N] = {1000000, 5}; /* clamped to L; the second sample's keys cut */
    return (xf_attn_shape){.N = N,
                           .L = L,
                           .S = L,
                           .H = H,
                           .E = E,
                           .D = D,
                           .key_len = len,
                           .causal = causal,
                           .temp = 0.35f};
}

/* A FullMask [L, L]: every third key of a row dropped, row 1 entirely. */
static float *full_mask(int L) {
    float *m = calloc((size_t)L * L, sizeof(float));
    for (int i = 0; i < L; i++)
        for (int j = 0; j < L; j++)
            if ((i + j) % 3 == 0 || i == 1)
                m[(int64_t)i * L + j] = -INFINITY;
    return m;
}

Test(strides, full_attention) {
    check(xf_attention, shape(23, 0), "full");
    check(xf_attention, shape(23, 1), "full causal");
}

Test(strides, full_attention_online) {
    xf_attn_shape sh = shape(1100, 0); /* klen > 2 × ONLINE_KEYS: the flash recurrence */
    const int len[N] = {1100, 1090};
    sh.key_len = len;
    check(xf_attention, sh, "full online");
    float *mask = full_mask(1100);
    sh.mask = mask;
    check(xf_attention, sh, "full online masked");
    free(mask);
}

Test(strides, linear_attention) {
    check(xf_linear_attention, shape(40, 0), "linear");
    check(xf_linear_attention, shape(40, 1), "causal linear");
}

Test(strides, local_and_topk) {
    xf_attn_shape sh = shape(30, 0);
    sh.local_context = 5;
    check(xf_local_attention, sh, "local");
    sh = shape(30, 1);
    sh.topk = 4;
    check(xf_topk_attention, sh, "topk");
    float *mask = full_mask(30);
    sh.mask = mask;
    check(xf_topk_attention, sh, "topk masked");
    sh = shape(30, 0);
    sh.local_context = 5;
    sh.mask = mask;
    check(xf_local_attention, sh, "local masked");
    free(mask);
}

/* Shared QK: the queries' rows are the keys, k is never read. */
Test(strides, reformer) {
    float *planes = th_rand_buf(2 * 3 * E, 51, 1.0f);
    xf_attn_shape sh = shape(24, 0);
    sh.chunk_size = 4, sh.rounds = 2, sh.bits = 3, sh.planes = planes;
    check(xf_reformer_attention, sh, "reformer");
    sh = shape(24, 1);
    sh.chunk_size = 6, sh.rounds = 1, sh.bits = 2, sh.planes = planes, sh.masked = 1;
    check(xf_reformer_attention, sh, "reformer causal masked");
    free(planes);
}

Test(strides, aft_simple) {
    check(xf_aft_attention, shape(20, 0), "aft");
    check(xf_aft_attention, shape(20, 1), "aft causal");
}

Test(strides, clustered) {
    float *planes = th_rand_buf(6 * (E + 1), 21, 1.0f);
    xf_clustering c = {.clusters = 3, .iterations = 5, .bits = 6, .planes = planes};
    xf_attn_shape sh = shape(25, 0);
    sh.clustering = &c;
    check(xf_clustered_attention, sh, "clustered");
    c.topk = 4;
    check(xf_clustered_attention, sh, "improved clustered");
    free(planes);
}

/* The KV cache and xf_attention_step, and the recurrent state of causal
 * linear attention, fed the interleaved rows: the same outputs. */
Test(strides, generation_state) {
    const int P = 3; /* prompt positions, then one step */
    float *q = th_rand_buf(N * (P + 1) * H * E, 31, 1.0f),
          *k = th_rand_buf(N * (P + 1) * H * E, 32, 1.0f);
    float *v = th_rand_buf(N * (P + 1) * H * D, 33, 1.0f), *y = interleave(q, k, v, N * (P + 1));
    float o1[N * H * D], o2[N * H * D];
    xf_error err = {0};
    xf_kv_cache c1, c2;
    cr_assert_eq(xf_kv_cache_init(&c1, N, 8, H, E, D, &err), 0);
    cr_assert_eq(xf_kv_cache_init(&c2, N, 8, H, E, D, &err), 0);
    cr_assert_eq(xf_kv_cache_append(&c1, k, v, 0, P, &err), 0);
    cr_assert_eq(xf_kv_cache_append(&c2, y + H * E, y + 2 * H * E, W, P, &err), 0);
    /* the step: row P of each sample's block, as the step's [N, ...] rows */
    const float *qs = q + (int64_t)N * P * H * E, *ys = y + (int64_t)N * P * W;
    cr_assert_eq(
        xf_kv_cache_append(&c1, k + (int64_t)N * P * H * E, v + (int64_t)N * P * H * D, 0, 1, &err),
        0);
    cr_assert_eq(xf_kv_cache_append(&c2, ys + H * E, ys + 2 * H * E, W, 1, &err), 0);
    xf_attention_step(o1, NULL, qs, 0, &c1, 0.5f);
    xf_attention_step(o2, NULL, ys, W, &c2, 0.5f);
    assert_close(o2, o1, N * H * D, "attention step");
    xf_kv_cache_free(&c1), xf_kv_cache_free(&c2);

    xf_linear_state s1, s2;
    cr_assert_eq(xf_linear_state_init(&s1, N, H, E, D, NULL, 0, 8, &err), 0);
    cr_assert_eq(xf_linear_state_init(&s2, N, H, E, D, NULL, 0, 8, &err), 0);
    cr_assert_eq(xf_linear_state_absorb(&s1, k, v, 0, P, &err), 0);
    cr_assert_eq(xf_linear_state_absorb(&s2, y + H * E, y + 2 * H * E, W, P, &err), 0);
    cr_assert_eq(xf_linear_attention_step(o1, NULL, qs, k + (int64_t)N * P * H * E,
                                          v + (int64_t)N * P * H * D, 0, &s1, &err),
                 0);
    cr_assert_eq(xf_linear_attention_step(o2, NULL, ys, ys + H * E, ys + 2 * H * E, W, &s2, &err),
                 0);
    assert_close(o2, o1, N * H * D, "linear step");
    xf_linear_state_free(&s1), xf_linear_state_free(&s2);
    free(q), free(k), free(v), free(y);
}

Test(strides, copy_rows) {
    float *q = th_rand_buf(5 * H * E, 41, 1.0f), *k = th_rand_buf(5 * H * E, 42, 1.0f);
    float *v = th_rand_buf(5 * H * D, 43, 1.0f), *y = interleave(q, k, v, 5);
    float back[5 * H * D];
    xf_copy_rows(back, y + 2 * H * E, 5, H * D, W);
    cr_assert_eq(memcmp(back, v, sizeof back), 0);
    xf_copy_rows(back, y, 5, H * E, W);
    cr_assert_eq(memcmp(back, q, sizeof back), 0);
    free(q), free(k), free(v), free(y);
}
