/* kernels.c — the pointwise and per-row ops of a transformer layer.
 *
 * Products go to the BLAS backend (xf_linear: xf_blas.h); everything here is one or two
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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xf_blas.h"
#include "xf_kernels.h"

#include "xf_simd.h" /* exp, LANES, target clones; GCC no-trapping-math */

/* ---- transpose, scale: helpers of the BLAS backends ----------------------- */

/* In 32 × 32 tiles, so that both sides stay in cache. */
void xf_copy_rows(float *dst, const float *src, int64_t rows, int64_t cols, int64_t ld) {
    for (int64_t r = 0; r < rows; r++)
        memcpy(dst + r * cols, src + r * ld, (size_t)cols * sizeof(float));
}

void xf_transpose(float *dst, const float *src, int64_t rows, int64_t cols, int64_t ld) {
    enum { TILE = 32 };
    for (int64_t r0 = 0; r0 < rows; r0 += TILE)
        for (int64_t c0 = 0; c0 < cols; c0 += TILE)
            for (int64_t r = r0; r < r0 + TILE && r < rows; r++)
                for (int64_t c = c0; c < c0 + TILE && c < cols; c++)
                    dst[c * rows + r] = src[r * ld + c];
}

float *xf_transposed_copy(const float *w, int64_t out, int64_t in, const char *file,
                          const char *tensor, xf_error *err) {
    float *wt = xf_pages_alloc(sizeof(float) * (size_t)(in * out));
    if (!wt) {
        xf_fail(err, "%s: tensor %s: out of memory", file, tensor);
        return NULL;
    }
    xf_transpose(wt, w, out, in, in);
    return wt;
}

void xf_scale_matrix(float *c, int m, int n, int ldc, float beta) {
    for (int i = 0; i < m; i++) {
        float *r = c + (int64_t)i * ldc;
        if (beta == 0.0f)
            memset(r, 0, (size_t)n * sizeof(float));
        else
            for (int j = 0; j < n; j++)
                r[j] *= beta;
    }
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
XF_INLINE void norm_scale(float *y, const float *x, const float *g, const float *b, int d,
                          float mean, float rstd) {
    for (int i = 0; i < d; i++)
        y[i] = (x[i] - mean) * rstd * g[i] + b[i];
}

/* Two passes (mean, then squared deviations) rather than E[x²]−E[x]²:
 * the latter cancels badly when |mean| ≫ std.  Variance is biased (/d),
 * as torch's LayerNorm. */
XF_CLONES
void xf_layernorm(float *y, const float *x, const float *g, const float *b, int n, int d,
                  float eps) {
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
void xf_add_layernorm(float *x, const float *r, const float *g, const float *b, int n, int d,
                      float eps) {
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
