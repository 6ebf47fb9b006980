/* test_rt_feature_map.c — linear attention's random feature maps
 * (feature_map.c): widths, each map against its formula in double, the
 * omega generator (deterministic, orthogonal columns), and
 * xf_linear_attention with a feature map against a quadratic double loop
 * (non-causal, causal, key lengths, favor's stabilize, the implied matrix). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "xf_io.h"
#include "xf_kernels.h"
#include "xf_model.h"

enum { E = 6 };

static xf_feature_map make(xf_fmap_kind kind, int m, const float *omega, int stabilize) {
    int n = kind == XF_FMAP_GENERALIZED_RANDOM        ? 2 * m
            : kind == XF_FMAP_SMOOTHED_RANDOM_FOURIER ? 2 * m + 1
                                                      : 2 * m;
    float temp = kind == XF_FMAP_GENERALIZED_RANDOM ? 1.0f : 1.0f / sqrtf((float)E);
    return (xf_feature_map){kind, m, omega, temp, (float)n, stabilize};
}

/* φ(x)[j] in double, after fast-transformers' fourier_features.py. */
static double ref_phi(const xf_feature_map *fm, const float *x, int j, double shift) {
    const int m = fm->m;
    double u = 0.0, nx = 0.0, st = sqrt((double)fm->temp);
    int jj = j % m;
    for (int e = 0; e < E; e++) {
        u += st * x[e] * fm->omega[e * m + jj];
        nx += st * x[e] * st * x[e];
    }
    switch (fm->kind) {
        case XF_FMAP_GENERALIZED_RANDOM: return u > 0 ? u : 0;
        case XF_FMAP_FAVOR: {
            double c = nx / 2 + 0.5 * log(fm->n_dims) + shift;
            return j < m ? exp(u - c) : exp(-u - c);
        }
        default:
            if (j == 2 * m)
                return 1.0;
            return sqrt(2.0 / fm->n_dims) * (j < m ? cos(u) : sin(u));
    }
}

Test(feature_map, widths) {
    float om[1] = {0};
    cr_assert_eq(xf_feature_map_dims(NULL, 7), 7);
    xf_feature_map f = make(XF_FMAP_FAVOR, 5, om, 0);
    cr_assert_eq(xf_feature_map_dims(&f, E), 10);
    f = make(XF_FMAP_SMOOTHED_RANDOM_FOURIER, 5, om, 0);
    cr_assert_eq(xf_feature_map_dims(&f, E), 11);
    f = make(XF_FMAP_GENERALIZED_RANDOM, 5, om, 0);
    cr_assert_eq(xf_feature_map_dims(&f, E), 5);
}

Test(feature_map, each_map_is_its_formula) {
    const int m = 4, rows = 5, ld = 2 * E;
    float *omega = th_rand_buf(E * m, 3, 1.0f), *x = th_rand_buf(rows * ld, 4, 1.5f);
    float phi[5 * 9];
    for (int k = XF_FMAP_FAVOR; k <= XF_FMAP_GENERALIZED_RANDOM; k++)
        for (int stab = 0; stab <= (k == XF_FMAP_FAVOR); stab++) {
            xf_feature_map fm = make((xf_fmap_kind)k, m, omega, stab);
            int F = xf_feature_map_dims(&fm, E);
            float shift = xf_feature_map_shift(&fm, x, rows, E, ld);
            double want_shift = 0.0;
            for (int i = 0; stab && i < rows; i++) {
                double s = 0.0;
                for (int e = 0; e < E; e++)
                    s += (double)x[i * ld + e] * x[i * ld + e] * fm.temp;
                want_shift = s > want_shift ? s : want_shift;
            }
            cr_assert_float_eq(shift, want_shift, 1e-5);
            xf_feature_map_apply(phi, x, rows, E, ld, &fm, shift);
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < F; j++)
                    cr_assert_float_eq(phi[i * F + j], ref_phi(&fm, x + i * ld, j, want_shift),
                                       1e-5, "map %d stabilize %d row %d col %d", k, stab, i, j);
        }
    free(omega), free(x);
}

Test(feature_map, draw_is_seeded_and_orthogonal) {
    const int m = 9; /* one full block of E columns and a partial one */
    float a[E * 9], b[E * 9], c[E * 9];
    uint64_t s = xf_feature_map_seed(0, "layers.0.attention.inner_attention.feature_map.omega");
    cr_assert_neq(s,
                  xf_feature_map_seed(0, "layers.1.attention.inner_attention.feature_map.omega"));
    cr_assert_neq(s,
                  xf_feature_map_seed(1, "layers.0.attention.inner_attention.feature_map.omega"));
    cr_assert_eq(xf_feature_map_draw(a, E, m, 1, s), 0);
    cr_assert_eq(xf_feature_map_draw(b, E, m, 1, s), 0);
    cr_assert_eq(xf_feature_map_draw(c, E, m, 1, s + 1), 0);
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "same seed, same omega");
    cr_assert_neq(memcmp(a, c, sizeof a), 0);
    for (int p = 0; p < E; p++) /* the first block's columns are orthogonal */
        for (int q = p + 1; q < E; q++) {
            double d = 0.0, np = 0.0, nq = 0.0;
            for (int e = 0; e < E; e++) {
                d += a[e * m + p] * a[e * m + q];
                np += a[e * m + p] * a[e * m + p];
                nq += a[e * m + q] * a[e * m + q];
            }
            cr_assert(fabs(d) < 1e-4 * sqrt(np * nq), "columns %d and %d: %g", p, q, d);
        }
    float g[E * 64]; /* plain normals: mean ~0, variance ~1 */
    cr_assert_eq(xf_feature_map_draw(g, E, 64, 0, s), 0);
    double mu = 0.0, var = 0.0;
    for (int i = 0; i < E * 64; i++)
        mu += g[i] / (E * 64.0);
    for (int i = 0; i < E * 64; i++)
        var += (g[i] - mu) * (g[i] - mu) / (E * 64.0);
    cr_assert(fabs(mu) < 0.15 && fabs(var - 1.0) < 0.2, "mean %g variance %g", mu, var);
}

/* Linear attention with a feature map vs. the quadratic form in double. */
static void check_linear(xf_fmap_kind kind, int causal, int stabilize) {
    const int N = 2, L = 37, H = 2, D = 5, m = 7; /* L > 32: several blocks */
    const int len[2] = {37, 20};
    float *omega = th_rand_buf(E * m, 11, 1.0f);
    xf_feature_map fm = make(kind, m, omega, stabilize);
    const int F = xf_feature_map_dims(&fm, E);
    float *q = th_rand_buf(N * L * H * E, 1, 1.0f), *k = th_rand_buf(N * L * H * E, 2, 1.0f);
    float *v = th_rand_buf(N * L * H * D, 5, 1.0f);
    float *out = calloc((size_t)N * L * H * D, 4), *A = calloc((size_t)N * H * L * L, 4);
    xf_attn_shape sh = {.N = N,
                        .L = L,
                        .S = L,
                        .H = H,
                        .E = E,
                        .D = D,
                        .key_len = len,
                        .causal = causal,
                        .temp = 1.0f,
                        .fmap = &fm};
    float *scratch = malloc((size_t)xf_attention_scratch(&sh) * 4);
    xf_linear_attention(out, A, q, k, v, &sh, scratch);
    float *pq = malloc((size_t)L * F * 4), *pk = malloc((size_t)L * F * 4);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++) {
            const float *qh = q + ((int64_t)n * L * H + h) * E,
                        *kh = k + ((int64_t)n * L * H + h) * E;
            float qs = xf_feature_map_shift(&fm, qh, L, E, H * E),
                  ks = xf_feature_map_shift(&fm, kh, L, E, H * E);
            for (int i = 0; i < L; i++)
                for (int j = 0; j < F; j++) {
                    pq[i * F + j] = (float)ref_phi(&fm, qh + (int64_t)i * H * E, j, qs);
                    pk[i * F + j] = (float)ref_phi(&fm, kh + (int64_t)i * H * E, j, ks);
                }
            for (int i = 0; i < L; i++) {
                double s[64], den = 0.0;
                for (int j = 0; j < L; j++) {
                    s[j] = 0.0;
                    if (j < len[n] && (!causal || j <= i))
                        for (int f = 0; f < F; f++)
                            s[j] += (double)pq[i * F + f] * pk[j * F + f];
                    den += s[j];
                }
                for (int d = 0; d < D; d++) {
                    double o = 0.0;
                    for (int j = 0; j < L; j++)
                        o += s[j] / (den + 1e-6) * v[(((int64_t)n * L + j) * H + h) * D + d];
                    cr_assert_float_eq(out[(((int64_t)n * L + i) * H + h) * D + d], o, 1e-4,
                                       "map %d causal %d: n %d h %d row %d", kind, causal, n, h, i);
                }
                for (int j = 0; j < L; j++)
                    cr_assert_float_eq(A[(((int64_t)n * H + h) * L + i) * L + j],
                                       s[j] / (den + 1e-6), 1e-5);
            }
        }
    free(omega), free(q), free(k), free(v), free(out), free(A), free(scratch), free(pq), free(pk);
}

Test(feature_map, linear_attention_favor) {
    check_linear(XF_FMAP_FAVOR, 0, 0);
}
Test(feature_map, causal_linear_favor_stabilized) {
    check_linear(XF_FMAP_FAVOR, 1, 1);
}
Test(feature_map, linear_attention_random_fourier) {
    check_linear(XF_FMAP_RANDOM_FOURIER, 0, 0);
}
Test(feature_map, causal_linear_smoothed) {
    check_linear(XF_FMAP_SMOOTHED_RANDOM_FOURIER, 1, 0);
}
Test(feature_map, linear_attention_generalized) {
    check_linear(XF_FMAP_GENERALIZED_RANDOM, 0, 0);
}

/* A safetensors file in memory holding one F32 tensor `name` [rows, cols]. */
static xf_weights *one_tensor(char *buf, size_t cap, const char *name, int rows, int cols,
                              const float *data) {
    char shape[32];
    snprintf(shape, sizeof shape, "[%d,%d]", rows, cols);
    return th_one_tensor_weights(buf, cap, name, "F32", shape, data,
                                 (size_t)rows * cols * sizeof(float));
}

Test(feature_map, omega_from_the_file_else_drawn) {
    static char buf[4096];
    const char *name = "layers.0.attention.inner_attention.feature_map.omega";
    float *omega = th_rand_buf(E * 4, 9, 1.0f), drawn[E * 4];
    xf_error err = {0};

    xf_weights *w = one_tensor(buf, sizeof buf, name, E, 4, omega);
    xf_feature_map fm = make(XF_FMAP_FAVOR, 4, NULL, 0);
    cr_assert_eq(xf_feature_map_load(&fm, w, name, E, 1, 7, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(fm.omega, omega, sizeof drawn), 0, "the file's omega is used");
    cr_assert_eq(xf_weights_check_all_used(w, &err), 0);
    xf_weights_close(w);

    w = one_tensor(buf, sizeof buf, "other", E, 4, omega);
    fm = make(XF_FMAP_FAVOR, 4, NULL, 0);
    cr_assert_eq(xf_feature_map_load(&fm, w, name, E, 1, 7, &err), 0, "%s", err.msg);
    cr_assert_eq(xf_feature_map_draw(drawn, E, 4, 1, xf_feature_map_seed(7, name)), 0);
    cr_assert_eq(memcmp(fm.omega, drawn, sizeof drawn), 0,
                 "absent: drawn from random_seed and the name");
    xf_weights_close(w);

    w = one_tensor(buf, sizeof buf, name, 4, E, omega); /* transposed */
    fm = make(XF_FMAP_FAVOR, 4, NULL, 0);
    cr_assert_eq(xf_feature_map_load(&fm, w, name, E, 1, 7, &err), -1);
    cr_assert(strstr(err.msg, "feature_map.omega") && strstr(err.msg, "shape"), "%s", err.msg);
    xf_weights_close(w);
    free(omega);
}
