/* test_rt_attention_mask_local_topk.c — xf_local_attention and
 * xf_topk_attention with fast-transformers' FullMask (xf_attn_shape.mask)
 * against a double-precision reference written from fast-transformers' code:
 * the mask added to q·k before the temperature (−inf drops, finite values
 * move the score), local's rows whose every in-band key the mask drops get
 * 1/W on each band key in [0, S) (its −1e24-filled band), top-k's such rows
 * 0 and rows left fewer than topk keys keep them all.  Shared and per-sample
 * masks, key lengths, causal, self and cross shapes, several query blocks,
 * the materialized and streaming paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "xf_kernels.h"

enum { LOCAL, TOPK };
enum { N = 2, H = 2, E = 4, D = 3 };
static const float TEMP = 0.6f;

/* A mask of about 1/3 −inf, some finite values, and rows `gone` (every 17th)
 * dropped entirely. */
static float *make_mask(int64_t planes, int L, int S) {
    float *m = malloc((size_t)(planes * L * S) * sizeof *m);
    uint32_t r = 777;
    for (int64_t i = 0; i < planes * L * S; i++) {
        r = r * 1664525u + 1013904223u;
        unsigned c = r >> 28;
        m[i] = c < 5 ? -INFINITY : c < 7 ? -0.75f : c < 8 ? 0.5f : 0.0f;
    }
    for (int64_t p = 0; p < planes; p++)
        for (int i = 3; i < L; i += 17)
            for (int j = 0; j < S; j++)
                m[(p * L + i) * S + j] = -INFINITY;
    return m;
}

/* Row i of (n, h): the weights w[S] the reference applies. */
static void reference_row(double *w, int kind, const float *q, const float *k, const float *mi,
                          const xf_attn_shape *sh, int n, int h, int i) {
    const int L = sh->L, S = sh->S, W = sh->local_context, klen = sh->key_len[n];
    int nvis = 0, nfin = 0;
    double mx = -INFINITY;
    for (int j = 0; j < S; j++) {
        int vis = j < klen && (!sh->causal || j <= i) &&
                  (kind == TOPK || (j >= i - W / 2 && j < i + (W + 1) / 2));
        double s = 0.0;
        for (int e = 0; e < E; e++)
            s += (double)q[(((int64_t)n * L + i) * H + h) * E + e] *
                 k[(((int64_t)n * S + j) * H + h) * E + e];
        w[j] = vis ? s + mi[j] : -INFINITY; /* before the temperature */
        nvis += vis;
        nfin += vis && mi[j] != -INFINITY;
    }
    if (kind == TOPK) /* drop all but the topk largest finite raw scores */
        for (int drop = nfin - sh->topk; drop > 0; drop--) {
            int at = -1;
            for (int j = 0; j < S; j++)
                if (!isinf(w[j]) && (at < 0 || w[j] < w[at]))
                    at = j;
            w[at] = -INFINITY;
        }
    for (int j = 0; j < S; j++)
        mx = w[j] > mx ? w[j] : mx;
    if (kind == LOCAL && nvis > 0 && nfin == 0) { /* fast-transformers' 1/W */
        for (int j = 0; j < S; j++)
            w[j] = j >= i - W / 2 && j < i + (W + 1) / 2 ? 1.0 / W : 0.0;
        return;
    }
    double sum = 0.0;
    for (int j = 0; j < S; j++)
        sum += w[j] = isinf(mx) || isinf(w[j]) ? 0.0 : exp(TEMP * (w[j] - mx));
    for (int j = 0; j < S; j++)
        w[j] = sum > 0.0 ? w[j] / sum : 0.0;
}

static void check(int kind, int L, int S, int batched, int causal, int materialize) {
    const int len[N] = {S, S - 5};
    float *q = th_rand_buf((int64_t)N * L * H * E, 1, 1.0f),
          *k = th_rand_buf((int64_t)N * S * H * E, 2, 1.0f);
    float *v = th_rand_buf((int64_t)N * S * H * D, 3, 1.0f);
    float *mask = make_mask(batched ? N : 1, L, S);
    float *out = calloc((size_t)N * L * H * D, 4),
          *A = materialize ? calloc((size_t)N * H * L * S, 4) : NULL;
    xf_attn_shape sh = {.N = N,
                        .L = L,
                        .S = S,
                        .H = H,
                        .E = E,
                        .D = D,
                        .key_len = len,
                        .causal = causal,
                        .temp = TEMP,
                        .local_context = 7,
                        .topk = 5,
                        .mask = mask,
                        .mask_batched = batched};
    float *scratch = malloc((size_t)xf_attention_scratch(&sh) * 4);
    (kind == LOCAL ? xf_local_attention : xf_topk_attention)(out, A, q, k, v, &sh, scratch);
    double *w = malloc((size_t)S * sizeof *w);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < L; i++) {
                const float *mi = mask + ((batched ? n : 0) * (int64_t)L + i) * S;
                reference_row(w, kind, q, k, mi, &sh, n, h, i);
                for (int d = 0; d < D; d++) {
                    double o = 0.0;
                    for (int j = 0; j < S; j++)
                        o += w[j] * v[(((int64_t)n * S + j) * H + h) * D + d];
                    cr_assert_float_eq(out[(((int64_t)n * L + i) * H + h) * D + d], o, 1e-5,
                                       "%s L %d S %d batched %d causal %d attn %d: n %d h %d "
                                       "row %d",
                                       kind == LOCAL ? "local" : "topk", L, S, batched, causal,
                                       materialize, n, h, i);
                }
                for (int j = 0; A && j < S; j++)
                    cr_assert_float_eq(A[(((int64_t)n * H + h) * L + i) * S + j], w[j], 1e-6,
                                       "attn n %d h %d row %d key %d", n, h, i, j);
            }
    free(q), free(k), free(v), free(mask), free(out), free(A), free(scratch), free(w);
}

/* Both paths, shared and per-sample masks, causal or not, self (several
 * query blocks: local's are ~32 rows, top-k's up to 128) and cross shapes. */
static void check_all(int kind) {
    for (int materialize = 0; materialize < 2; materialize++) {
        check(kind, 12, 12, 0, 0, materialize);
        check(kind, 150, 150, 1, 1, materialize);
        check(kind, 150, 150, 0, 0, materialize);
        check(kind, 70, 90, 1, 0, materialize);
        check(kind, 90, 40, 0, 0, materialize);
    }
}

Test(mask_local_topk, local) {
    check_all(LOCAL);
}

Test(mask_local_topk, topk) {
    check_all(TOPK);
}

/* No mask: the fully-dropped rule never applies (rows past the key length
 * stay 0, unlike fast-transformers' 1/W there: see attention_local.c). */
Test(mask_local_topk, local_rows_without_keys_stay_zero) {
    const int L = 20, S = 20, len[N] = {20, 4};
    float *q = th_rand_buf((int64_t)N * L * H * E, 4, 1.0f),
          *k = th_rand_buf((int64_t)N * S * H * E, 5, 1.0f);
    float *v = th_rand_buf((int64_t)N * S * H * D, 6, 1.0f);
    float *out = calloc((size_t)N * L * H * D, 4), *A = calloc((size_t)N * H * L * S, 4);
    xf_attn_shape sh = {.N = N,
                        .L = L,
                        .S = S,
                        .H = H,
                        .E = E,
                        .D = D,
                        .key_len = len,
                        .temp = TEMP,
                        .local_context = 4};
    float *scratch = malloc((size_t)xf_attention_scratch(&sh) * 4);
    xf_local_attention(out, A, q, k, v, &sh, scratch);
    for (int i = 6; i < L; i++) /* band [i - 2, i + 2) past key 4 */
        for (int h = 0; h < H; h++)
            for (int d = 0; d < D; d++)
                cr_assert_eq(out[(((int64_t)1 * L + i) * H + h) * D + d], 0.0f, "row %d", i);
    free(q), free(k), free(v), free(out), free(A), free(scratch);
}
