/* kernels.c — the pointwise and per-row ops of a transformer layer.
 *
 * GEMMs go to OpenBLAS (xf_linear); everything else here is one or two
 * streaming passes over rows that fit in L1, written so GCC vectorizes them:
 *   - float reductions use 16 independent accumulators (GCC will not
 *     reassociate a single float sum without -ffast-math);
 *   - exp/erf are polynomials on bit tricks instead of libm calls;
 *   - the hot loops are compiled three times (AVX-512, AVX2+FMA, baseline)
 *     and picked at load time (target_clones), since libxfrt is built for
 *     plain x86-64 and would otherwise run 4-wide SSE on an AVX-512 machine.
 * No kernel allocates.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cblas.h>

#include "xf_kernels.h"

#include "xf_simd.h"   /* exp, LANES, target clones; GCC no-trapping-math */

/* ---- y = x w + b ------------------------------------------------------- */

/* OpenBLAS packs both operands of every sgemm call, which for few rows costs
 * more than the product itself (the weights are re-packed each call).  Its
 * AVX-512 builds also have "small matrix" kernels that skip packing, taken
 * only for row-major NN calls of M·N·K <= 100³: so for few rows, the product
 * is cut into column chunks that fit that limit.  Elsewhere (other kernels,
 * many rows) one ordinary call does the whole product. */
enum { SMALL_MNK = 1000000, SMALL_MAX_CHUNK = 128 };

static _Atomic int small_kernels = -1;   /* 1 when OpenBLAS runs its AVX-512 kernels */

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
void xf_linear(float *y, const float *x, const float *wt, const float *b,
               int n, int in, int out) {
    if (n <= 0 || out <= 0)
        return;
    size_t row = (size_t)out * sizeof(float);
    if (b)
        for (int i = 0; i < n; i++)
            memcpy(y + (int64_t)i * out, b, row);
    else if (in <= 0)
        memset(y, 0, (size_t)n * row);
    if (in <= 0)
        return;   /* lda would be 0: BLAS rejects it */
    const float beta = b ? 1.0f : 0.0f;
    int64_t chunk = SMALL_MNK / ((int64_t)n * in);
    if (chunk >= 16 && chunk < out && have_small_kernels()) {
        chunk = chunk > SMALL_MAX_CHUNK ? SMALL_MAX_CHUNK : chunk & ~(int64_t)15;
        for (int64_t c = 0; c < out; c += chunk) {
            int w = (int)(out - c < chunk ? out - c : chunk);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, w, in,
                        1.0f, x, in, wt + c, out, beta, y + c, out);
        }
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, in,
                1.0f, x, in, wt, out, beta, y, out);
}

/* ---- layernorm ---------------------------------------------------------- */

XF_INLINE float hsum(const float acc[LANES]) {
    float s = 0.0f;
    for (int j = 0; j < LANES; j++)
        s += acc[j];
    return s;
}

/* Σ (x[i] - mean)² over one row of d */
XF_INLINE float sq_dev_sum(const float *x, int d, float mean) {
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= d; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float t = x[i + j] - mean;
            acc[j] += t * t;
        }
    float s = hsum(acc);
    for (; i < d; i++)
        s += (x[i] - mean) * (x[i] - mean);
    return s;
}

/* y[d] = (x - mean) · rstd · g + b; y may be x */
XF_INLINE void norm_scale(float *y, const float *x, const float *g, const float *b,
                          int d, float mean, float rstd) {
    for (int i = 0; i < d; i++)
        y[i] = (x[i] - mean) * rstd * g[i] + b[i];
}

/* Two passes (mean, then squared deviations) rather than E[x²]−E[x]²:
 * the latter cancels badly when |mean| ≫ std.  Variance is biased (/d),
 * as torch's LayerNorm. */
XF_CLONES
void xf_layernorm(float *y, const float *x, const float *g, const float *b,
                  int n, int d, float eps) {
    for (int r = 0; r < n; r++) {
        const float *xr = x + (int64_t)r * d;
        float *yr = y + (int64_t)r * d;
        float acc[LANES] = {0};
        int i = 0;
        for (; i + LANES <= d; i += LANES)
            for (int j = 0; j < LANES; j++)
                acc[j] += xr[i + j];
        float s = hsum(acc);
        for (; i < d; i++)
            s += xr[i];
        float mean = s / (float)d;
        float var = sq_dev_sum(xr, d, mean) / (float)d;
        norm_scale(yr, xr, g, b, d, mean, 1.0f / sqrtf(var + eps));
    }
}

/* x[n,d] = LayerNorm(x + r): the residual add rides along the mean pass. */
XF_CLONES
void xf_add_layernorm(float *x, const float *r, const float *g, const float *b,
                      int n, int d, float eps) {
    for (int row = 0; row < n; row++) {
        float *xr = x + (int64_t)row * d;
        const float *rr = r + (int64_t)row * d;
        float acc[LANES] = {0};
        int i = 0;
        for (; i + LANES <= d; i += LANES)
            for (int j = 0; j < LANES; j++) {
                float v = xr[i + j] + rr[i + j];
                xr[i + j] = v;
                acc[j] += v;
            }
        float s = hsum(acc);
        for (; i < d; i++) {
            xr[i] += rr[i];
            s += xr[i];
        }
        float mean = s / (float)d;
        float var = sq_dev_sum(xr, d, mean) / (float)d;
        norm_scale(xr, xr, g, b, d, mean, 1.0f / sqrtf(var + eps));
    }
}

/* ---- pointwise ---------------------------------------------------------- */

XF_CLONES
void xf_add(float *x, const float *r, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        x[i] += r[i];
}

/* x < 0 ? 0 : x keeps NaN as NaN, like torch.relu. */
XF_CLONES
void xf_relu(float *x, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        x[i] = x[i] < 0.0f ? 0.0f : x[i];
}

/* erf, absolute error < 1.5e-7 (Abramowitz–Stegun 7.1.26), the same
 * formula torch's vectorized CPU erf uses. */
XF_INLINE float erf_approx(float z) {
    float a = fabsf(z);
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float p = 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    float e = 1.0f - p * t * exp_approx(-a * a);
    return z < 0.0f ? -e : e;
}

/* gelu(x) = x · Φ(x) = ½x(1 + erf(x/√2)), torch's default (exact) gelu */
XF_CLONES
void xf_gelu(float *x, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        x[i] = 0.5f * x[i] * (1.0f + erf_approx(x[i] * 0.70710678118654752f));
}
