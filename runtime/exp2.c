/* exp2.c — 2^x for softmax rows: the attention kernels' exponential.
 *
 * Scores scaled by log2(e) once (the queries' prescale) turn every e^(x − m)
 * of a softmax into 2^(x' − m'), and 2^y splits without a multiply: y = n + f
 * with n = round(y), f in [−½, ½]; 2^f is a degree-5 polynomial (fitted for
 * relative error, constant term exactly 1: max error 1.7e-7 over the range,
 * ~1.4 ulp) and 2^n is applied by AVX-512's scalef.  Per 16 scores that is
 * round, subtract, five FMAs and one scalef — about half of the Cephes e^x
 * (exp_approx, xf_simd.h), which was 12% of attention's time at seq 4096.
 *
 * y < −126 gives 0 (no denormals reach the P·V product), y ≥ 128 gives +inf,
 * NaN stays NaN.  Without AVX-512 (or outside x86-64 GCC) the same
 * polynomial runs with the exponent added to the bits, 2^n built as a float. */
#include <math.h>
#include <stdint.h>

#include "xf_exp2.h"
#include "xf_simd.h"

float xf_exp2(float y) {
    if (y < EXP2_LOW)
        return 0.0f;
    if (!(y < EXP2_HIGH))
        return y != y ? y : INFINITY;
    float n = rintf(y), f = y - n; /* exact: |y| < 2^23 */
    float p = EXP2_C5;
    p = p * f + EXP2_C4;
    p = p * f + EXP2_C3;
    p = p * f + EXP2_C2;
    p = p * f + EXP2_C1;
    p = p * f + 1.0f;
    /* 2^n as a float: n in [−126, 128]; 128 would not fit, so halve twice */
    int ni = (int)n;
    float half = f32_from_bits((uint32_t)(ni / 2 + 127) << 23);
    return p * half * f32_from_bits((uint32_t)(ni - ni / 2 + 127) << 23);
}

#ifdef XF_EXP2_AVX512
#define AVX512 XF_AVX512

/* p[0..n) = 2^(p − m); returns Σ and the max of the p it read in *mx. */
AVX512 static float shift_sum_max_avx512(float *p, int n, float m, float *mx) {
    const __m512 vm = _mm512_set1_ps(m);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, h0 = _mm512_set1_ps(-INFINITY), h1 = h0;
    int i = 0;
    for (; i + 32 <= n; i += 32) { /* two chains: the adds' latency hides */
        __m512 x0 = _mm512_loadu_ps(p + i), x1 = _mm512_loadu_ps(p + i + 16);
        __m512 e0 = xf__exp2_16(_mm512_sub_ps(x0, vm)), e1 = xf__exp2_16(_mm512_sub_ps(x1, vm));
        h0 = _mm512_max_ps(h0, x0);
        h1 = _mm512_max_ps(h1, x1);
        _mm512_storeu_ps(p + i, e0);
        _mm512_storeu_ps(p + i + 16, e1);
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
    }
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(k, p + i), e = xf__exp2_16(_mm512_sub_ps(x, vm));
        h0 = _mm512_mask_max_ps(h0, k, h0, x);
        _mm512_mask_storeu_ps(p + i, k, e);
        s0 = _mm512_mask_add_ps(s0, k, s0, e);
    }
    *mx = _mm512_reduce_max_ps(_mm512_max_ps(h0, h1));
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

/* y[0..n) = 2^x[0..n) */
AVX512 static void exp2_avx512(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, k, xf__exp2_16(_mm512_maskz_loadu_ps(k, x + i)));
    }
}

static int have_avx512(void) {
    return __builtin_cpu_supports("avx512f");
}
#endif

float xf__exp2_shift_sum_max(float *p, int n, float m, float *mx) {
#ifdef XF_EXP2_AVX512
    if (have_avx512())
        return shift_sum_max_avx512(p, n, m, mx);
#endif
    float s = 0.0f, h = -INFINITY;
    for (int i = 0; i < n; i++) {
        h = p[i] > h ? p[i] : h;
        p[i] = xf_exp2(p[i] - m);
        s += p[i];
    }
    *mx = h;
    return s;
}

float xf__exp2_shift_sum(float *p, int n, float m) {
    float mx;
    return xf__exp2_shift_sum_max(p, n, m, &mx);
}

void xf__exp2_row(float *y, const float *x, int n) {
#ifdef XF_EXP2_AVX512
    if (have_avx512()) {
        exp2_avx512(y, x, n);
        return;
    }
#endif
    for (int i = 0; i < n; i++)
        y[i] = xf_exp2(x[i]);
}
