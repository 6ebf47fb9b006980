/* xf_exp2.h — 2^x for softmax rows (exp2.c).  Private to the runtime: the
 * attention kernels and their tests. */
#ifndef XF_EXP2_H
#define XF_EXP2_H

/* 2^f on [−½, ½]: c0 + c1 f + … + c5 f⁵ (exp2.c says how) */
#define EXP2_C1   6.931470037e-01f
#define EXP2_C2   2.402224243e-01f
#define EXP2_C3   5.550733581e-02f
#define EXP2_C4   9.671512991e-03f
#define EXP2_C5   1.326472731e-03f
#define EXP2_LOW  -126.0f /* below: 0 */
#define EXP2_HIGH 128.0f  /* at or above: +inf */

/* log2(e): scores multiplied by it make e^(x − m) = 2^(x' − m') */
#define XF_LOG2E 1.44269504088896341f

/* 2^y, relative error < 2e-7; y < −126 → 0, y ≥ 128 → +inf, NaN → NaN. */
float xf_exp2(float y);

/* y[0..n) = 2^x[0..n) (the vector path when the CPU has AVX-512). */
void xf__exp2_row(float *y, const float *x, int n);

/* p[0..n) = 2^(p − m); returns Σ and, in *mx, the max of the p it read
 * (−inf when n = 0): one pass where a max pass and an exp pass make two. */
float xf__exp2_shift_sum_max(float *p, int n, float m, float *mx);

/* The same without the max. */
float xf__exp2_shift_sum(float *p, int n, float m);

/* 2^y for 16 floats in one AVX-512 register, where GCC builds x86-64: what
 * the row functions above run per vector, for kernels that hold their scores
 * in registers (attention_short.c).  Callers check the CPU first
 * (__builtin_cpu_supports("avx512f")). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define XF_EXP2_AVX512 1
#define XF_AVX512      __attribute__((target("avx512f")))

XF_AVX512 static inline __attribute__((always_inline)) __m512 xf__exp2_16(__m512 y) {
    __m512 yc = _mm512_min_ps(_mm512_set1_ps(EXP2_HIGH), y); /* NaN: the second operand */
    __m512 n = _mm512_roundscale_ps(yc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(yc, n);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(EXP2_C5), f, _mm512_set1_ps(EXP2_C4));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(EXP2_C3));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(EXP2_C2));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(EXP2_C1));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    /* unordered "not less": NaN is kept (and stays NaN) */
    __mmask16 keep = _mm512_cmp_ps_mask(y, _mm512_set1_ps(EXP2_LOW), _CMP_NLT_UQ);
    return _mm512_maskz_scalef_ps(keep, p, n);
}
#endif

#endif /* XF_EXP2_H */
