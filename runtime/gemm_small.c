/* gemm_small.c — the tiny products of short sequences' attention, in place.
 *
 * At batch 1 × seq 16 a head's two products are 16 × 16 × 64: 16 K FMAs,
 * a few hundred cycles of arithmetic.  Through a oneDNN primitive each one
 * cost ~1 µs of dispatch plus copies of its operands (brgemm wants them
 * dense), 41 µs of a 0.6 ms forward for 32 of them.  Here: B copied once into
 * a zero-padded [k][npad] block on the stack (for B transposed, that copy is
 * the transpose), then per group of four rows of C, per 16 columns, four
 * chains of vector FMAs over k, alpha and beta applied at the store.
 * GCC's vector extension types compile to one AVX-512 register per 16 floats
 * (two AVX2 or four SSE ones), per target clone.
 */
#include "xf_blas.h"
#include "xf_simd.h" /* XF_CLONES, XF_INLINE */

typedef float vf __attribute__((vector_size(64)));

enum { COLS = 16 };

/* One row i of op(a): element kk (a row-major [m, k], or [k, m] when ta). */
XF_INLINE float a_at(const float *a, int lda, xf_trans ta, int i, int kk) {
    return ta == XF_TRANS ? a[(int64_t)kk * lda + i] : a[(int64_t)i * lda + kk];
}

/* c[i][j] = alpha · t[j] + beta · c[i][j] for j < cols (beta 0: c not read). */
XF_INLINE void store_row(float *c, const float *t, int cols, float alpha, float beta) {
    if (beta == 0.0f)
        for (int j = 0; j < cols; j++)
            c[j] = alpha * t[j];
    else
        for (int j = 0; j < cols; j++)
            c[j] = alpha * t[j] + c[j];
}

/* Rows i0 .. i0+R of c (R ≤ 4, a constant after inlining), columns j0 ..
 * j0+cols, from the packed block bp [k][npad]. */
XF_INLINE void rows_block(float *c, int ldc, const float *a, int lda, xf_trans ta, const float *bp,
                          int npad, int k, int i0, int j0, int cols, int R, float alpha,
                          float beta) {
    vf acc[4] = {{0}, {0}, {0}, {0}};
    for (int kk = 0; kk < k; kk++) {
        vf bv;
        memcpy(&bv, bp + (int64_t)kk * npad + j0, sizeof bv);
        for (int r = 0; r < R; r++)
            acc[r] += a_at(a, lda, ta, i0 + r, kk) * bv;
    }
    for (int r = 0; r < R; r++) {
        float t[COLS];
        memcpy(t, &acc[r], sizeof t);
        store_row(c + (int64_t)(i0 + r) * ldc + j0, t, cols, alpha, beta);
    }
}

/* Every row and column of c from bp; ta a constant after inlining. */
XF_INLINE void all_rows(float *c, int ldc, const float *a, int lda, xf_trans ta, const float *bp,
                        int npad, int m, int n, int k, float alpha, float beta) {
    for (int j0 = 0; j0 < n; j0 += COLS) {
        const int cols = n - j0 < COLS ? n - j0 : COLS;
        int i = 0;
        for (; i + 4 <= m; i += 4)
            rows_block(c, ldc, a, lda, ta, bp, npad, k, i, j0, cols, 4, alpha, beta);
        for (; i < m; i++)
            rows_block(c, ldc, a, lda, ta, bp, npad, k, i, j0, cols, 1, alpha, beta);
    }
}

XF_CLONES
int xf_gemm_small(xf_trans ta, xf_trans tb, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    const int npad = (n + COLS - 1) / COLS * COLS;
    if (m <= 0 || n <= 0 || k <= 0 || (beta != 0.0f && beta != 1.0f) ||
        (int64_t)m * n * k > XF_SMALL_DIRECT || (int64_t)k * npad > XF_SMALL_PACKED)
        return 0;
    float bp[XF_SMALL_PACKED] __attribute__((aligned(64)));
    for (int kk = 0; kk < k; kk++) {
        float *row = bp + (int64_t)kk * npad;
        if (tb == XF_NOTRANS)
            memcpy(row, b + (int64_t)kk * ldb, (size_t)n * sizeof(float));
        memset(row + n, 0, (size_t)(npad - n) * sizeof(float));
    }
    if (tb == XF_TRANS) /* b's rows are columns of op(b): read each once, in order */
        for (int j = 0; j < n; j++) {
            const float *bj = b + (int64_t)j * ldb;
            for (int kk = 0; kk < k; kk++)
                bp[(int64_t)kk * npad + j] = bj[kk];
        }
    if (ta == XF_TRANS)
        all_rows(c, ldc, a, lda, XF_TRANS, bp, npad, m, n, k, alpha, beta);
    else
        all_rows(c, ldc, a, lda, XF_NOTRANS, bp, npad, m, n, k, alpha, beta);
    return 1;
}
