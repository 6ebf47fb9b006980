/* blas_openblas.c — the matrix products on OpenBLAS (-DXF_BLAS=openblas).
 *
 * xf_linear multiplies by the [in, out] panel xf_blas_weight transposed at
 * load (row-major NN products, for the small-matrix kernels below).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cblas.h>

#include "xf_blas.h"

/* Declared here rather than through cblas.h: Debian's cblas.h may resolve to
 * the netlib header (via alternatives), which does not declare it. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

/* OpenBLAS packs both operands of every sgemm call, which for few rows costs
 * more than the product itself (the weights are re-packed each call).  Its
 * AVX-512 builds also have "small matrix" kernels that skip packing, taken
 * only for row-major NN calls of M·N·K <= 100³: so for few rows, the product
 * is cut into column chunks that fit that limit.  Elsewhere (other kernels,
 * many rows) one ordinary call does the whole product. */
enum { SMALL_MNK = 1000000, SMALL_MAX_CHUNK = 128 };

static _Atomic int small_kernels = -1; /* 1 when OpenBLAS runs its AVX-512 kernels */

static int have_small_kernels(void) {
    int v = atomic_load_explicit(&small_kernels, memory_order_relaxed);
    if (v < 0) {
        const char *core = openblas_get_corename();
        v = core && (!strcasecmp(core, "skylakex") || !strcasecmp(core, "cooperlake") ||
                     !strcasecmp(core, "sapphirerapids"));
        atomic_store_explicit(&small_kernels, v, memory_order_relaxed);
    }
    return v;
}

/* y[n,out] = x[n,in] · wt[in,out] + b[out]   (wt = torch's weightᵀ)
 * The bias is copied into y first and the GEMM accumulates onto it
 * (beta = 1): OpenBLAS would otherwise spend a pass zeroing C for beta = 0,
 * so the bias costs nothing extra. */
void xf_linear(float *y, const float *x, const float *wt, const float *b, int n, int in, int out) {
    if (n <= 0 || out <= 0)
        return;
    size_t row = (size_t)out * sizeof(float);
    if (b)
        for (int i = 0; i < n; i++)
            memcpy(y + (int64_t)i * out, b, row);
    else if (in <= 0)
        memset(y, 0, (size_t)n * row);
    if (in <= 0)
        return; /* lda would be 0: BLAS rejects it */
    const float beta = b ? 1.0f : 0.0f;
    int64_t chunk = SMALL_MNK / ((int64_t)n * in);
    if (chunk >= 16 && chunk < out && have_small_kernels()) {
        chunk = chunk > SMALL_MAX_CHUNK ? SMALL_MAX_CHUNK : chunk & ~(int64_t)15;
        for (int64_t c = 0; c < out; c += chunk) {
            int w = (int)(out - c < chunk ? out - c : chunk);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, w, in, 1.0f, x, in, wt + c,
                        out, beta, y + c, out);
        }
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, in, 1.0f, x, in, wt, out, beta,
                y, out);
}

void xf_gemm(xf_trans ta, xf_trans tb, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) { /* lda would be 0: BLAS rejects it */
        xf_scale_matrix(c, m, n, ldc, beta);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta == XF_TRANS ? CblasTrans : CblasNoTrans,
                tb == XF_TRANS ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                ldc);
}

void xf_gemm_tile(xf_trans ta, xf_trans tb, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    xf_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int xf_blas_fixed_shapes(void) {
    return 0; /* OpenBLAS makes no kernel per shape */
}

int xf_blas_layout_predicted(int64_t in, int64_t out) {
    (void)in, (void)out;
    return -1; /* weights are plain [in, out]: nothing to predict */
}

void xf_linear_act(float *y, const float *x, const float *wt, const float *b, int n, int in,
                   int out, xf_activation act) {
    xf_linear(y, x, wt, b, n, in, out);
    if (n <= 0 || out <= 0)
        return;
    if (act == XF_RELU)
        xf_relu(y, (int64_t)n * out);
    else if (act == XF_GELU)
        xf_gelu(y, (int64_t)n * out);
}

float *xf_blas_weight(const float *w, int64_t out, int64_t in, const char *file, const char *tensor,
                      xf_error *err) {
    return xf_transposed_copy(w, out, in, file, tensor, err);
}

void xf_blas_free_weight(float *wt) {
    xf_pages_free(wt);
}

void xf_blas_set_threads(int n) {
    openblas_set_num_threads(n);
}

int xf_blas_threads(void) {
    return openblas_get_num_threads();
}

const char *xf_blas_name(void) {
    return "openblas";
}
