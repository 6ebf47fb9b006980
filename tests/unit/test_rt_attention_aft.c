/* test_rt_attention_aft.c — xf_aft_attention against a double loop: aft_full
 * with key lengths and causal (where fast-transformers' code is undefined and
 * xfc excludes the masked keys), several row blocks (L > the block), the
 * implied matrix; aft_simple non-causal with lengths. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "xf_kernels.h"

static void check_full(int L, int causal) {
    const int N = 2, H = 2, D = 3, P = 4, S = L;
    const int len[2] = {L, L / 2};
    float *q = th_rand_buf((int64_t)N * L * H * D, 1, 1.0f),
          *k = th_rand_buf((int64_t)N * S * H * D, 2, 1.0f);
    float *v = th_rand_buf((int64_t)N * S * H * D, 3, 1.0f);
    float *u = th_rand_buf((int64_t)L * P, 4, 0.5f), *w = th_rand_buf((int64_t)S * P, 5, 0.5f);
    float *out = calloc((size_t)N * L * H * D, 4), *A = calloc((size_t)N * H * L * S, 4);
    xf_attn_shape sh = {.N = N,
                        .L = L,
                        .S = S,
                        .H = H,
                        .E = D,
                        .D = D,
                        .key_len = len,
                        .causal = causal,
                        .temp = 1.0f,
                        .aft_u = u,
                        .aft_v = w,
                        .aft_rank = P};
    float *scratch = malloc((size_t)xf_attention_scratch(&sh) * 4);
    xf_aft_attention(out, A, q, k, v, &sh, scratch);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int l = 0; l < L; l++) {
                int nvis = causal && l + 1 < len[n] ? l + 1 : len[n];
                double a[512] = {0};
                for (int d = 0; d < D; d++) {
                    double z[512], mx = -1e300, sum = 0.0, acc = 0.0;
                    for (int s = 0; s < nvis; s++) {
                        double bias = 0.0;
                        for (int p = 0; p < P; p++)
                            bias += (double)u[l * P + p] * w[s * P + p];
                        z[s] = k[(((int64_t)n * S + s) * H + h) * D + d] * bias;
                        mx = z[s] > mx ? z[s] : mx;
                    }
                    for (int s = 0; s < nvis; s++)
                        sum += z[s] = exp(z[s] - mx);
                    for (int s = 0; s < nvis; s++) {
                        acc += z[s] / sum * v[(((int64_t)n * S + s) * H + h) * D + d];
                        a[s] += z[s] / sum / D;
                    }
                    double qv = q[(((int64_t)n * L + l) * H + h) * D + d];
                    cr_assert_float_eq(
                        out[(((int64_t)n * L + l) * H + h) * D + d], acc / (1 + exp(-qv)), 1e-5,
                        "L %d causal %d: n %d h %d l %d d %d", L, causal, n, h, l, d);
                }
                for (int s = 0; s < S; s++)
                    cr_assert_float_eq(A[(((int64_t)n * H + h) * L + l) * S + s], a[s], 1e-5);
            }
    free(q), free(k), free(v), free(u), free(w), free(out), free(A), free(scratch);
}

Test(aft, full_lengths) {
    check_full(11, 0);
}
Test(aft, full_causal_several_blocks) {
    check_full(300, 1);
}

Test(aft, simple_lengths) {
    const int N = 2, L = 7, H = 3, D = 4;
    const int len[2] = {7, 3};
    float *q = th_rand_buf(N * L * H * D, 6, 1.0f), *k = th_rand_buf(N * L * H * D, 7, 2.0f);
    float *v = th_rand_buf(N * L * H * D, 8, 1.0f), *out = calloc((size_t)N * L * H * D, 4);
    xf_attn_shape sh = {
        .N = N, .L = L, .S = L, .H = H, .E = D, .D = D, .key_len = len, .temp = 1.0f};
    float *scratch = malloc((size_t)xf_attention_scratch(&sh) * 4);
    xf_aft_attention(out, NULL, q, k, v, &sh, scratch);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int d = 0; d < D; d++) {
                double mx = -1e300, sum = 0.0, acc = 0.0;
                for (int s = 0; s < len[n]; s++)
                    mx = fmax(mx, k[((n * L + s) * H + h) * D + d]);
                for (int s = 0; s < len[n]; s++) {
                    double e = exp(k[((n * L + s) * H + h) * D + d] - mx);
                    sum += e;
                    acc += e * v[((n * L + s) * H + h) * D + d];
                }
                for (int l = 0; l < L; l++) {
                    double qv = q[((n * L + l) * H + h) * D + d];
                    cr_assert_float_eq(out[((n * L + l) * H + h) * D + d],
                                       acc / sum / (1 + exp(-qv)), 1e-5);
                }
            }
    free(q), free(k), free(v), free(out), free(scratch);
}
