/* test_rt_attention_tile.c — the online path's tile products (attention_tile.c)
 * against plain double references: key panels, scores, scores exponentiated in
 * the same pass (sums, maxima, rows not started), P·V; odd row, key and E
 * counts, partial panels, both the AVX-512 code (when the CPU has it) and the
 * BLAS backend's products over the same panels. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "xf_attn_tile.h"

/* q_i · k_j in double, k [n, E] dense. */
static double ref_score(const float *q, const float *k, int i, int j, int E) {
    double s = 0.0;
    for (int e = 0; e < E; e++)
        s += (double)q[(int64_t)i * E + e] * k[(int64_t)j * E + e];
    return s;
}

/* Runs f with the vector code (if any) and on the BLAS backend. */
static void both(void (*f)(void)) {
    xf__tile_force_blas(0);
    f();
    xf__tile_force_blas(1);
    cr_assert_eq(xf__tile_vector(), 0);
    f();
    xf__tile_force_blas(0);
}

Test(attention_tile, key_panels_layout) {
    const int n = 37, E = 5, ld = 9; /* rows ld apart: a strided head; one partial panel */
    float *k = th_rand_buf((int64_t)n * ld, 1, 1.0f);
    int64_t size = xf__key_panels_size(n, E);
    cr_assert_eq(size, (int64_t)64 * E);
    float *kp = th_rand_buf(size, 2, 100.0f); /* garbage: every float is written */
    xf__key_panels(kp, k, ld, n, E);
    for (int s = 0; s < 64; s++)
        for (int e = 0; e < E; e++) {
            float got = kp[e * 64 + s];
            cr_assert_eq(got, s < n ? k[(int64_t)s * ld + e] : 0.0f, "key %d, e %d", s, e);
        }
    free(k);
    free(kp);
}

/* shapes: rows not a multiple of the row blocks (5, 6), keys not of the
 * 64-key blocks or the 16-key panels, E odd */
static const int SHAPES[][3] = {{13, 77, 19}, {1, 5, 64},  {128, 512, 64},
                                {7, 130, 3},  {11, 64, 8}, {2, 150, 65}};

static void scores_match(void) {
    for (size_t t = 0; t < sizeof SHAPES / sizeof SHAPES[0]; t++) {
        const int rows = SHAPES[t][0], cols = SHAPES[t][1], E = SHAPES[t][2], ldp = cols + 3;
        float *q = th_rand_buf((int64_t)rows * E, 3, 1.0f),
              *k = th_rand_buf((int64_t)cols * E, 4, 1.0f);
        float *kp = malloc((size_t)xf__key_panels_size(cols, E) * sizeof *kp);
        float *p = th_rand_buf((int64_t)rows * ldp, 5, 100.0f);
        xf__key_panels(kp, k, E, cols, E);
        xf__tile_scores(p, ldp, q, kp, rows, cols, E);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < ldp; j++) {
                float got = p[(int64_t)i * ldp + j];
                if (j >= cols) /* past the tile: not touched */
                    cr_assert(fabsf(got) <= 100.0f && got != 0.0f, "p[%d][%d] written", i, j);
                else
                    cr_assert(fabs(got - ref_score(q, k, i, j, E)) <= 1e-5 * E,
                              "%dx%dx%d: score[%d][%d] = %g, want %g", rows, cols, E, i, j, got,
                              ref_score(q, k, i, j, E));
            }
        free(q);
        free(k);
        free(kp);
        free(p);
    }
}

Test(attention_tile, scores_against_the_definition) {
    both(scores_match);
}

/* Rows alternate between started (m given, some far below the scores so the
 * sums grow large) and not started (m taken from the first keys). */
static void scores_exp2_match(void) {
    for (size_t t = 0; t < sizeof SHAPES / sizeof SHAPES[0]; t++) {
        const int rows = SHAPES[t][0], cols = SHAPES[t][1], E = SHAPES[t][2], ldp = cols;
        float *q = th_rand_buf((int64_t)rows * E, 6, 2.0f),
              *k = th_rand_buf((int64_t)cols * E, 7, 2.0f);
        float *kp = malloc((size_t)xf__key_panels_size(cols, E) * sizeof *kp);
        float *p = malloc((size_t)rows * ldp * sizeof *p);
        float *m = malloc((size_t)rows * sizeof *m), *sum = malloc((size_t)rows * sizeof *sum);
        float *mx = malloc((size_t)rows * sizeof *mx);
        xf__key_panels(kp, k, E, cols, E);
        for (int i = 0; i < rows; i++)
            m[i] = i % 3 == 0 ? -3.0e38f : i % 3 == 1 ? 0.5f : -20.0f;
        xf__tile_scores_exp2(p, ldp, m, sum, mx, q, kp, rows, cols, E);
        for (int i = 0; i < rows; i++) {
            double want_m = i % 3 == 1 ? 0.5 : -20.0, want_mx = -INFINITY, want_sum = 0.0;
            if (i % 3 == 0) { /* not started: the max of its first panel (64 keys) */
                int first = cols < 64 ? cols : 64;
                want_m = -INFINITY;
                for (int j = 0; j < first; j++)
                    want_m = fmax(want_m, ref_score(q, k, i, j, E));
                cr_assert(fabs(m[i] - want_m) <= 1e-5 * E, "row %d: m %g, want %g", i, m[i],
                          want_m);
                want_m = m[i];
            } else {
                cr_assert_eq(m[i], (float)want_m, "row %d: m changed", i);
            }
            for (int j = 0; j < cols; j++) {
                double s = ref_score(q, k, i, j, E), e = exp2(s - want_m);
                float got = p[(int64_t)i * ldp + j];
                want_mx = fmax(want_mx, s);
                want_sum += e;
                /* the score's rounding (E products), amplified by ln 2 · |s − m|, and 2^x's */
                cr_assert(fabs(got - e) <= e * (1e-6 + 2e-6 * E * (1.0 + fabs(s - want_m))),
                          "%dx%dx%d: p[%d][%d] = %g, want %g", rows, cols, E, i, j, got, e);
            }
            cr_assert(fabs(mx[i] - want_mx) <= 1e-5 * E, "row %d: max %g, want %g", i, mx[i],
                      want_mx);
            cr_assert(fabs(sum[i] - want_sum) <= want_sum * 1e-4, "row %d: sum %g, want %g", i,
                      sum[i], want_sum);
        }
        free(q);
        free(k);
        free(kp);
        free(p);
        free(m);
        free(sum);
        free(mx);
    }
}

Test(attention_tile, scores_exponentiated_in_the_same_pass) {
    both(scores_exp2_match);
}

/* Scores far below the running max give exactly 0 (no denormal reaches P·V). */
static void underflow_is_zero(void) {
    enum { E = 4, cols = 20 };
    float q[E] = {1.0f, 0.0f, 0.0f, 0.0f}, k[cols * E], kp[64 * E], p[cols], m = 0.0f, sum, mx;
    for (int j = 0; j < cols * E; j++)
        k[j] = j % E == 0 ? -150.0f - (float)j : 0.0f; /* scores −150 − 4j */
    k[0] = 0.0f;                                       /* key 0: score 0, p = 1 */
    xf__key_panels(kp, k, E, cols, E);
    xf__tile_scores_exp2(p, cols, &m, &sum, &mx, q, kp, 1, cols, E);
    cr_assert_eq(p[0], 1.0f);
    for (int j = 1; j < cols; j++)
        cr_assert_eq(p[j], 0.0f, "p[%d] = %g", j, p[j]);
    cr_assert_eq(sum, 1.0f);
    cr_assert_eq(mx, 0.0f);
}

Test(attention_tile, far_below_the_max_is_zero) {
    both(underflow_is_zero);
}

static void pv_match(void) {
    static const int PV[][3] = {{13, 77, 16}, {1, 5, 64}, {128, 512, 64}, {7, 130, 80}, {6, 3, 48}};
    for (size_t t = 0; t < sizeof PV / sizeof PV[0]; t++) {
        const int rows = PV[t][0], cols = PV[t][1], D = PV[t][2], ldp = cols + 1, ldv = D + 16,
                  ldo = D + 32;
        float *p = th_rand_buf((int64_t)rows * ldp, 8, 1.0f),
              *v = th_rand_buf((int64_t)cols * ldv, 9, 1.0f);
        float *o = th_rand_buf((int64_t)rows * ldo, 10, 1.0f);
        float *o0 = malloc((size_t)rows * ldo * sizeof *o0);
        memcpy(o0, o, (size_t)rows * ldo * sizeof *o0);
        xf__tile_pv(o, ldo, p, ldp, v, ldv, rows, cols, D);
        for (int i = 0; i < rows; i++)
            for (int d = 0; d < ldo; d++) {
                double want = o0[(int64_t)i * ldo + d];
                if (d < D)
                    for (int j = 0; j < cols; j++)
                        want += (double)p[(int64_t)i * ldp + j] * v[(int64_t)j * ldv + d];
                cr_assert(fabs(o[(int64_t)i * ldo + d] - want) <= 1e-5 * (cols + 1),
                          "%dx%dx%d: o[%d][%d] = %g, want %g", rows, cols, D, i, d,
                          o[(int64_t)i * ldo + d], want);
            }
        free(p);
        free(v);
        free(o);
        free(o0);
    }
}

Test(attention_tile, pv_accumulates_against_the_definition) {
    both(pv_match);
}
