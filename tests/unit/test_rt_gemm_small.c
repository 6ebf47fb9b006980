/* test_rt_gemm_small.c — xf_gemm_small, the in-place tiny products of short
 * sequences' attention: every operand layout, row and column counts off the
 * kernel's groups of 4 rows and 16 columns, alpha, beta 0 (c not read) and 1,
 * against a plain triple loop; and the products it must leave alone. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "xf_blas.h"

/* op(x)[i][j] of a row-major x, rows ld apart. */
static float at(const float *x, int ld, xf_trans t, int i, int j) {
    return t == XF_TRANS ? x[(int64_t)j * ld + i] : x[(int64_t)i * ld + j];
}

static void check(xf_trans ta, xf_trans tb, int m, int n, int k, float alpha, float beta) {
    const int lda = (ta == XF_TRANS ? m : k) + 3, ldb = (tb == XF_TRANS ? k : n) + 5, ldc = n + 2;
    float *a = th_rand_buf((int64_t)(ta == XF_TRANS ? k : m) * lda, 71, 1.0f);
    float *b = th_rand_buf((int64_t)(tb == XF_TRANS ? n : k) * ldb, 72, 1.0f);
    float *c = th_rand_buf((int64_t)m * ldc, 73, 1.0f), *c0 = malloc(sizeof(float) * m * ldc);
    if (beta == 0.0f) /* beta 0: whatever c held is never read, NaN included */
        for (int64_t i = 0; i < (int64_t)m * ldc; i++)
            c[i] = NAN;
    memcpy(c0, c, sizeof(float) * m * ldc);
    cr_assert_eq(xf_gemm_small(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), 1,
                 "%dx%dx%d ta %d tb %d refused", m, n, k, ta, tb);
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int p = 0; p < k; p++)
                s += (double)at(a, lda, ta, i, p) * at(b, ldb, tb, p, j);
            double want = alpha * s + (beta != 0.0f ? c0[(int64_t)i * ldc + j] : 0.0);
            float got = c[(int64_t)i * ldc + j];
            cr_assert(fabs(got - want) <= 1e-4 * (1.0 + fabs(want)),
                      "%dx%dx%d ta %d tb %d alpha %g beta %g: c[%d][%d] = %g, want %g", m, n, k, ta,
                      tb, alpha, beta, i, j, got, want);
        }
        for (int j = n; j < ldc; j++) /* past n: untouched */
            cr_assert(memcmp(&c[(int64_t)i * ldc + j], &c0[(int64_t)i * ldc + j], sizeof(float)) ==
                      0);
    }
    free(a);
    free(b);
    free(c);
    free(c0);
}

Test(gemm_small, layouts_and_edges) {
    static const int shapes[][3] = {{16, 16, 64}, {16, 64, 16}, {1, 1, 1},   {5, 17, 3},
                                    {7, 33, 20},  {32, 32, 64}, {3, 90, 40}, {4, 16, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++) {
            check((xf_trans)(t & 1), (xf_trans)(t >> 1), shapes[s][0], shapes[s][1], shapes[s][2],
                  0.125f, 0.0f);
            check((xf_trans)(t & 1), (xf_trans)(t >> 1), shapes[s][0], shapes[s][1], shapes[s][2],
                  1.0f, 1.0f);
        }
}

Test(gemm_small, leaves_other_products) {
    float x[4] = {0};
    /* too many FMAs; B too large to pack on the stack; beta neither 0 nor 1; empty */
    cr_assert_eq(xf_gemm_small(XF_NOTRANS, XF_NOTRANS, 64, 64, 64, 1, x, 64, x, 64, 0, x, 64), 0);
    cr_assert_eq(xf_gemm_small(XF_NOTRANS, XF_NOTRANS, 1, 16, 512, 1, x, 512, x, 16, 0, x, 16), 0);
    cr_assert_eq(xf_gemm_small(XF_NOTRANS, XF_NOTRANS, 1, 1, 1, 1, x, 1, x, 1, 0.5f, x, 1), 0);
    cr_assert_eq(xf_gemm_small(XF_NOTRANS, XF_NOTRANS, 0, 1, 1, 1, x, 1, x, 1, 0, x, 1), 0);
}
