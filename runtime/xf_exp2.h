/* xf_exp2.h — 2^x for softmax rows (exp2.c).  Private to the runtime: the
 * attention kernels and their tests. */
#ifndef XF_EXP2_H
#define XF_EXP2_H

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

#endif /* XF_EXP2_H */
