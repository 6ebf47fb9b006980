/* test_rt_attention_reformer.c — xf_reformer_attention against a direct
 * transcription of fast-transformers' ReformerAttention (in double): hashes
 * as argmax of [K·P, −K·P], a stable sort, chunks seeing the chunk before
 * (chunk 0: zero keys, masked), key lengths, the −1e9 diagonal (`masked`),
 * causal, a FullMask with a row it drops entirely (then the whole row is
 * unmasked, zero keys included), the average over rounds; the AttentionEvent
 * matrix too, and the same output without it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "xf_kernels.h"

#define MAXL 64

typedef struct {
    int N, L, H, E, C, R, B, masked, causal;
    const int *len;
    const float *mask; /* [N, L, L] or NULL */
} ref_case;

/* The bucket of row position l in round r (first maximum of [p, −p]). */
static int ref_hash(const double *kn, const float *planes, const ref_case *c, int r) {
    double best = -INFINITY;
    int at = 0;
    for (int sgn = 0; sgn < 2; sgn++)
        for (int b = 0; b < c->B; b++) {
            double p = 0.0;
            for (int e = 0; e < c->E; e++)
                p += kn[e] * planes[((int64_t)r * c->B + b) * c->E + e];
            p = sgn ? -p : p;
            if (p > best)
                best = p, at = sgn * c->B + b;
        }
    return at;
}

/* One round's weights of query position qi over the keys key[0..n) (-1: a
 * zero key) into w; its output row into o[D]. */
static void ref_row(double *w, double *o, int qi, const int *key, int n, const double *kn,
                    const float *q, const float *v, const ref_case *c, int nn, int h) {
    const int L = c->L, H = c->H, E = c->E;
    double m[2 * MAXL], s[2 * MAXL], mx = -INFINITY, sum = 0.0;
    int all_inf = 1;
    for (int j = 0; j < n; j++) {
        int kj = key[j];
        double x = kj < 0 || kj >= c->len[nn] ? -INFINITY : 0.0;
        if (kj >= 0) {
            if (c->masked && kj == qi)
                x += -1e9;
            if (c->mask)
                x += c->mask[((int64_t)nn * L + qi) * L + kj];
            if (c->causal && kj > qi)
                x = -INFINITY;
        }
        m[j] = x;
        all_inf &= isinf(x) != 0;
    }
    for (int j = 0; j < n; j++) {
        double qk = 0.0;
        for (int e = 0; e < E && key[j] >= 0; e++)
            qk += q[(((int64_t)nn * L + qi) * H + h) * E + e] * kn[key[j] * E + e];
        s[j] = (qk + (all_inf ? 0.0 : m[j])) / sqrt((double)E);
        mx = s[j] > mx ? s[j] : mx;
    }
    for (int j = 0; j < n; j++)
        sum += s[j] = exp(s[j] - mx);
    for (int d = 0; d < E; d++)
        o[d] = 0.0;
    for (int j = 0; j < n; j++) {
        w[j] = s[j] / sum;
        for (int d = 0; d < E && key[j] >= 0; d++)
            o[d] += w[j] * v[(((int64_t)nn * L + key[j]) * H + h) * E + d];
    }
}

/* out [L, E] and A [L, L] of sample nn, head h. */
static void reference(double *out, double *A, const float *q, const float *v, const float *planes,
                      const ref_case *c, int nn, int h) {
    const int L = c->L, E = c->E, C = c->C;
    double kn[MAXL * 8];
    for (int l = 0; l < L; l++) {
        double ss = 0.0;
        for (int e = 0; e < E; e++)
            ss += (double)q[(((int64_t)nn * L + l) * c->H + h) * E + e] *
                  q[(((int64_t)nn * L + l) * c->H + h) * E + e];
        for (int e = 0; e < E; e++)
            kn[l * E + e] =
                l < c->len[nn] ? q[(((int64_t)nn * L + l) * c->H + h) * E + e] / sqrt(ss) : 0.0;
    }
    memset(out, 0, (size_t)L * E * sizeof *out);
    memset(A, 0, (size_t)L * L * sizeof *A);
    for (int r = 0; r < c->R; r++) {
        int hash[MAXL], order[MAXL], n = 0;
        for (int l = 0; l < L; l++)
            hash[l] = ref_hash(kn + l * E, planes, c, r);
        for (int b = 0; b < 2 * c->B; b++) /* stable: sequence order within a bucket */
            for (int l = 0; l < L; l++)
                if (hash[l] == b)
                    order[n++] = l;
        for (int q0 = 0; q0 < L; q0 += C) {
            int key[2 * MAXL];
            for (int j = 0; j < C; j++)
                key[j] = q0 ? order[q0 - C + j] : -1;
            for (int j = 0; j < C; j++)
                key[C + j] = order[q0 + j];
            for (int i = 0; i < C; i++) {
                double w[2 * MAXL], o[8];
                int qi = key[C + i];
                ref_row(w, o, qi, key, 2 * C, kn, q, v, c, nn, h);
                for (int d = 0; d < E; d++)
                    out[qi * E + d] += o[d] / c->R;
                for (int j = 0; j < 2 * C; j++)
                    if (key[j] >= 0)
                        A[qi * L + key[j]] += w[j] / c->R;
            }
        }
    }
}

static void check(const ref_case *c, unsigned seed) {
    const int N = c->N, L = c->L, H = c->H, E = c->E;
    float *q = th_rand_buf((int64_t)N * L * H * E, seed, 1.0f);
    float *v = th_rand_buf((int64_t)N * L * H * E, seed + 1, 1.0f);
    float *planes = th_rand_buf((int64_t)c->R * c->B * E, seed + 2, 1.0f);
    float *out = calloc((size_t)N * L * H * E, 4), *out2 = calloc((size_t)N * L * H * E, 4);
    float *A = calloc((size_t)N * H * L * L, 4);
    xf_attn_shape sh = {.N = N,
                        .L = L,
                        .S = L,
                        .H = H,
                        .E = E,
                        .D = E,
                        .key_len = c->len,
                        .causal = c->causal,
                        .temp = 1.0f / sqrtf((float)E),
                        .mask = c->mask,
                        .mask_batched = 1,
                        .chunk_size = c->C,
                        .rounds = c->R,
                        .bits = c->B,
                        .masked = c->masked,
                        .planes = planes};
    float *scratch = th_rand_buf(xf_attention_scratch(&sh), 9, 1e3f); /* garbage-filled */
    xf_reformer_attention(out, A, q, NULL, v, &sh, scratch);
    xf_reformer_attention(out2, NULL, q, NULL, v, &sh, scratch);
    double ro[MAXL * 8], ra[MAXL * MAXL];
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++) {
            reference(ro, ra, q, v, planes, c, n, h);
            for (int l = 0; l < L; l++) {
                for (int d = 0; d < E; d++) {
                    int64_t i = (((int64_t)n * L + l) * H + h) * E + d;
                    cr_assert_float_eq(out[i], ro[l * E + d], 1e-5, "n %d h %d l %d d %d", n, h, l,
                                       d);
                    cr_assert_eq(out2[i], out[i]);
                }
                for (int s = 0; s < L; s++)
                    cr_assert_float_eq(A[(((int64_t)n * H + h) * L + l) * L + s], ra[l * L + s],
                                       1e-5, "n %d h %d l %d s %d", n, h, l, s);
            }
        }
    free(q), free(v), free(planes), free(out), free(out2), free(A), free(scratch);
}

Test(reformer, lengths_and_rounds) {
    const int len[2] = {16, 11};
    ref_case c = {.N = 2, .L = 16, .H = 2, .E = 6, .C = 4, .R = 3, .B = 5, .len = len};
    check(&c, 11);
}

Test(reformer, masked_diagonal_and_causal) {
    const int len[2] = {24, 17};
    ref_case c = {.N = 2,
                  .L = 24,
                  .H = 3,
                  .E = 4,
                  .C = 6,
                  .R = 2,
                  .B = 3,
                  .masked = 1,
                  .causal = 1,
                  .len = len};
    check(&c, 21);
}

/* A mask [N, L, L] dropping 60% of the keys and every key of row 5: that row's
 * chunk window is unmasked entirely, as fast-transformers does. */
Test(reformer, full_mask_with_a_dropped_row) {
    const int N = 2, L = 16, len[2] = {16, 13};
    float *mask = th_rand_buf((int64_t)N * L * L, 31, 1.0f);
    for (int i = 0; i < N * L * L; i++)
        mask[i] = mask[i] < 0.2f || (i / L) % L == 5 ? -INFINITY : 0.0f;
    ref_case c = {.N = N, .L = L, .H = 2, .E = 8, .C = 4, .R = 4, .B = 6, .len = len, .mask = mask};
    check(&c, 41);
    free(mask);
}

/* Bucket ties everywhere (one plane: 2 buckets) and a longer sequence. */
Test(reformer, two_buckets_many_chunks) {
    const int len[1] = {60};
    ref_case c = {.N = 1, .L = 64, .H = 2, .E = 5, .C = 8, .R = 2, .B = 1, .len = len};
    check(&c, 51);
}
