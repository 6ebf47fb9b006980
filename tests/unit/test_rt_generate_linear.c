/* test_rt_generate_linear.c — the recurrent state of causal-linear attention:
 * a prefill + one step per position gives the rows of one causal
 * xf_linear_attention over the sequence, implied rows included; the state
 * does not grow with the sequence; its errors. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h" /* th_rand_buf */
#include "xf_generate.h"
#include "xf_kernels.h"

/* rows [l0, l0+L) of x [N, T, w] into dst [N, L, w] */
static void rows_of(float *dst, const float *x, int N, int T, int64_t w, int l0, int L) {
    for (int n = 0; n < N; n++)
        memcpy(dst + n * L * w, x + (n * T + l0) * w, (size_t)(L * w) * sizeof(float));
}

/* Causal xf_linear_attention over L positions against a prefill of P
 * positions (absorbed) then steps: out within 1e-5 relative to the row's
 * size, and (keep_phik) the implied rows. */
static void steps_match_fm(int N, int L, int P, int H, int E, int D, int keep_phik,
                           const xf_feature_map *fm) {
    const int64_t qs = (int64_t)H * E, vs = (int64_t)H * D;
    float *q = th_rand_buf(N * L * qs, 21, 2.0f), *k = th_rand_buf(N * L * qs, 22, 2.0f);
    float *v = th_rand_buf(N * L * vs, 23, 1.0f), *o = malloc((size_t)(N * L * vs) * sizeof(float));
    float *a = malloc((size_t)N * H * L * L * sizeof(float));
    xf_attn_shape sh = {
        .N = N, .L = L, .S = L, .H = H, .E = E, .D = D, .causal = 1, .temp = 1, .fmap = fm};
    float *scratch = malloc((size_t)xf_attention_scratch(&sh) * sizeof(float));
    xf_linear_attention(o, a, q, k, v, &sh, scratch);

    xf_linear_state s;
    xf_error err = {""};
    cr_assert_eq(xf_linear_state_init(&s, N, H, E, D, fm, keep_phik, L, &err), 0, "%s", err.msg);
    float *kb = malloc((size_t)(N * L * qs) * sizeof(float)),
          *vb = malloc((size_t)(N * L * vs) * sizeof(float));
    rows_of(kb, k, N, L, qs, 0, P);
    rows_of(vb, v, N, L, vs, 0, P);
    cr_assert_eq(xf_linear_state_absorb(&s, kb, vb, 0, P, &err), 0, "%s", err.msg);
    float *qr = malloc((size_t)(N * qs) * sizeof(float)),
          *orow = malloc((size_t)(N * vs) * sizeof(float));
    float *arow = malloc((size_t)N * H * L * sizeof(float));
    for (int l = P; l < L; l++) {
        rows_of(qr, q, N, L, qs, l, 1);
        rows_of(kb, k, N, L, qs, l, 1);
        rows_of(vb, v, N, L, vs, l, 1);
        cr_assert_eq(
            xf_linear_attention_step(orow, keep_phik ? arow : NULL, qr, kb, vb, 0, &s, &err), 0,
            "%s", err.msg);
        cr_assert_eq(s.len, l + 1);
        for (int n = 0; n < N; n++)
            for (int i = 0; i < vs; i++) {
                float want = o[(n * L + l) * vs + i], got = orow[n * vs + i];
                cr_assert(fabsf(got - want) <= 1e-5f * (1 + fabsf(want)),
                          "position %d sample %d out[%d]: step %.7g, batch %.7g", l, n, i, got,
                          want);
            }
        for (int r = 0; keep_phik && r < N * H; r++)
            for (int j = 0; j <= l; j++) {
                float want = a[((int64_t)r * L + l) * L + j], got = arow[(int64_t)r * (l + 1) + j];
                /* relative: a Fourier map's implied weights exceed 1 */
                cr_assert(fabsf(got - want) <= 1e-5f * (1 + fabsf(want)),
                          "position %d row %d attn[%d]: step %.7g, batch %.7g", l, r, j, got, want);
            }
    }
    xf_linear_state_free(&s);
    free(q);
    free(k);
    free(v);
    free(o);
    free(a);
    free(scratch);
    free(kb);
    free(vb);
    free(qr);
    free(orow);
    free(arow);
}

static void steps_match_batch(int N, int L, int P, int H, int E, int D, int keep_phik) {
    steps_match_fm(N, L, P, H, E, D, keep_phik, NULL);
}

/* Each random feature map (feature_map.c) steps as the batch kernel runs it:
 * S, Z of F = xf_feature_map_dims features, implied rows included. */
Test(linear_state, random_feature_maps_step_as_the_batch_kernel) {
    const int E = 8, m = 6;
    float *omega = th_rand_buf(E * m, 31, 1.0f);
    const xf_fmap_kind kinds[] = {XF_FMAP_FAVOR, XF_FMAP_RANDOM_FOURIER,
                                  XF_FMAP_SMOOTHED_RANDOM_FOURIER, XF_FMAP_GENERALIZED_RANDOM};
    for (int i = 0; i < 4; i++) {
        xf_feature_map fm = {
            .kind = kinds[i], .m = m, .omega = omega, .temp = 0.35f, .n_dims = 2.0f * m};
        steps_match_fm(2, 24, 7, 3, E, 5, 1, &fm); /* prefill by GEMM, implied rows */
        steps_match_fm(1, 10, 0, 2, E, 4, 0, &fm); /* steps only */
    }
    free(omega);
}

Test(linear_state, favor_stabilize_refused) {
    float omega[8 * 4] = {0};
    xf_feature_map fm = {
        .kind = XF_FMAP_FAVOR, .m = 4, .omega = omega, .temp = 1, .n_dims = 8, .stabilize = 1};
    xf_linear_state s;
    xf_error err = {""};
    cr_assert_eq(xf_linear_state_init(&s, 1, 2, 8, 8, &fm, 0, 4, &err), -1);
    cr_assert(strstr(err.msg, "stabilize"), "%s", err.msg);
    cr_assert_null(s.S);
}

Test(linear_state, steps_equal_causal_linear_attention) {
    steps_match_batch(2, 50, 17, 3, 16, 8, 0); /* prefill by GEMM, then steps */
    steps_match_batch(1, 30, 0, 2, 8, 12, 0);  /* steps only */
    steps_match_batch(2, 25, 1, 2, 5, 3, 0);   /* dims not a multiple of the vector width */
}

/* D in 64-column register slices: one slice (D 64), two plus a tail (130). */
Test(linear_state, value_slices) {
    steps_match_batch(1, 20, 5, 2, 64, 64, 0);
    steps_match_batch(2, 12, 0, 1, 16, 130, 1);
}

Test(linear_state, implied_rows_equal_batch_attention) {
    steps_match_batch(2, 40, 9, 3, 16, 8, 1);
    steps_match_batch(1, 20, 0, 1, 300, 7, 1); /* E past the stack buffer */
}

Test(linear_state, wide_heads_without_history) {
    steps_match_batch(1, 12, 3, 2, 300, 4, 0);
}

/* Its size does not depend on the sequence: the heap in use after 4096
 * steps is what it was after 1, and the arrays are the same. */
Test(linear_state, memory_after_4096_steps_equals_after_1) {
    const int H = 4, E = 16, D = 16;
    xf_linear_state s;
    xf_error err = {""};
    cr_assert_eq(xf_linear_state_init(&s, 1, H, E, D, NULL, 0, 0, &err), 0, "%s", err.msg);
    float *q = th_rand_buf(H * E, 1, 1.0f), *k = th_rand_buf(H * E, 2, 1.0f),
          *v = th_rand_buf(H * D, 3, 1.0f);
    float o[4 * 16];
    cr_assert_eq(xf_linear_attention_step(o, NULL, q, k, v, 0, &s, &err), 0);
    const float *S = s.S, *Z = s.Z;
    size_t used = mallinfo2().uordblks;
    for (int t = 1; t < 4096; t++)
        cr_assert_eq(xf_linear_attention_step(o, NULL, q, k, v, 0, &s, &err), 0);
    cr_assert_eq(s.len, 4096);
    cr_assert_eq(mallinfo2().uordblks, used, "heap in use grew from %zu to %zu bytes", used,
                 mallinfo2().uordblks);
    cr_assert(S == s.S && Z == s.Z && s.phik == NULL);
    for (int i = 0; i < H * D; i++)
        cr_assert(isfinite(o[i]));
    xf_linear_state_free(&s);
    free(q);
    free(k);
    free(v);
}

Test(linear_state, history_full_refused_unchanged) {
    xf_linear_state s;
    xf_error err = {""};
    cr_assert_eq(xf_linear_state_init(&s, 1, 1, 2, 2, NULL, 1, 2, &err), 0);
    const float x[4] = {0.5f, -1, 2, 0};
    float o[2], a[3];
    cr_assert_eq(xf_linear_state_absorb(&s, x, x, 0, 2, &err), 0);
    float S0 = s.S[0];
    cr_assert_eq(xf_linear_attention_step(o, a, x, x, x, 0, &s, &err), -1);
    cr_assert_str_eq(err.msg, "the state holds 2 positions: 1 more do not fit after 2 "
                              "(a larger max_len is needed)");
    cr_assert(s.len == 2 && s.S[0] == S0, "a refused step changes nothing");
    xf_linear_state_free(&s);
}

Test(linear_state, implied_rows_need_history) {
    xf_linear_state s;
    xf_error err = {""};
    cr_assert_eq(xf_linear_state_init(&s, 1, 1, 2, 2, NULL, 0, 0, &err), 0);
    const float x[2] = {1, 2};
    float o[2], a[1];
    cr_assert_eq(xf_linear_attention_step(o, a, x, x, x, 0, &s, &err), -1);
    cr_assert(strstr(err.msg, "φ(k) history"), "%s", err.msg);
    cr_assert_eq(s.len, 0);
    xf_linear_state_free(&s);
}

Test(linear_state, absurd_sizes_refused) {
    xf_linear_state s;
    xf_error err = {""};
    cr_assert_eq(xf_linear_state_init(&s, 1, 0, 16, 16, NULL, 0, 0, &err), -1);
    cr_assert(strstr(err.msg, "invalid size"), "%s", err.msg);
    cr_assert_eq(xf_linear_state_init(&s, 1 << 30, 1 << 30, 1 << 30, 16, NULL, 0, 0, &err), -1);
    cr_assert_eq(xf_linear_state_init(&s, 1, 4, 16, 16, NULL, 1, 0, &err), -1); /* history of 0 */
    cr_assert_null(s.S);
}
