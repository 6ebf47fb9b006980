/* gemv.c — products of a few rows (a generation step): y = act(x · W + b)
 * as matrix–vector products streaming the weights once.
 *
 * A step multiplies one row per sample by every weight matrix: 2 FLOPs per
 * weight read, so it runs at the rate the weights arrive from L3, ~13 MB per
 * token for the bench's LM.  oneDNN's brgemm matmul at one row reads them at
 * ~75 GB/s from L3 and costs ~1 µs of primitive dispatch per call (25 calls
 * a step); this loop reads them at ~85–90 GB/s (a plain read of the same
 * bytes: ~96 GB/s) and dispatches nothing (docs/PERFORMANCE.md).  oneDNN has
 * no matrix–vector primitive (its matmul is the one above; dnnl_sgemm's gemv
 * costs 40–67 ms of kernel generation on first use and wants plain weights),
 * so the loop is here, over the weights oneDNN already packed.
 *
 * The layout is oneDNN's BA16a64b: per panel of 64 output columns one
 * contiguous [kpad][64] run.  Per panel, four 16-float vectors per row
 * accumulate x[k] · w[k, 64 columns]; GCC's vector extension types compile to
 * one AVX-512 register each, two AVX2 or four SSE ones, per target clone.
 */
#include "xf_blas.h"
#include "xf_simd.h" /* XF_CLONES, prefetch_lines */

enum { PANEL = 64 };

/* Rows of a panel ahead that the loops prefetch: XF_AHEAD bytes. */
enum { AHEAD_ROWS = XF_AHEAD / (PANEL * 4) };

/* 16 floats: one AVX-512 register (panels are 64-byte aligned, 256 bytes a row) */
typedef float vf __attribute__((vector_size(64)));

/* t[0..64) = x[0..in) · w (one panel).  Even and odd k in two sets of
 * accumulators: eight FMA chains hide the FMA latency. */
XF_INLINE void panel_one(float *t, const float *x, const float *w, int in) {
    vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    const vf *u = (const vf *)w;
    int k = 0;
    for (; k + 2 <= in; k += 2, u += 8) {
        prefetch_lines(u, XF_AHEAD, 2 * PANEL * 4);
        const float x0 = x[k], x1 = x[k + 1];
        a0 += x0 * u[0], a1 += x0 * u[1], a2 += x0 * u[2], a3 += x0 * u[3];
        b0 += x1 * u[4], b1 += x1 * u[5], b2 += x1 * u[6], b3 += x1 * u[7];
    }
    if (k < in)
        a0 += x[k] * u[0], a1 += x[k] * u[1], a2 += x[k] * u[2], a3 += x[k] * u[3];
    vf *o = (vf *)t;
    o[0] = a0 + b0, o[1] = a1 + b1, o[2] = a2 + b2, o[3] = a3 + b3;
}

/* Two panels w, w + ps for one row x (t: the first panel's 64 columns, then
 * the second's): two streams of weights in flight instead of one, and eight
 * independent FMA chains.  A step's 13.6 MB of products at one row: 83–87 →
 * 88–97 GB/s (panel_one with or without prefetch: the same 83–87).  No
 * software prefetch: the hardware follows both streams, and prefetching
 * them too measured as slow as one panel at a time. */
XF_INLINE void panel_pair(float *t, const float *x, const float *w, int64_t ps, int in) {
    vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    const vf *u = (const vf *)w, *v = (const vf *)(w + ps);
    for (int k = 0; k < in; k++, u += 4, v += 4) {
        const float x0 = x[k];
        a0 += x0 * u[0], a1 += x0 * u[1], a2 += x0 * u[2], a3 += x0 * u[3];
        b0 += x0 * v[0], b1 += x0 * v[1], b2 += x0 * v[2], b3 += x0 * v[3];
    }
    vf *o = (vf *)t;
    o[0] = a0, o[1] = a1, o[2] = a2, o[3] = a3;
    o[4] = b0, o[5] = b1, o[6] = b2, o[7] = b3;
}

/* The same for two rows x, x + in at once: each weight vector loaded once
 * for both (t: row 0's 64 columns, then row 1's). */
XF_INLINE void panel_two(float *t, const float *x, const float *w, int in) {
    vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    const vf *u = (const vf *)w;
    for (int k = 0; k < in; k++, u += 4) {
        prefetch_lines(u, XF_AHEAD, PANEL * 4);
        const float x0 = x[k], x1 = x[in + k];
        a0 += x0 * u[0], a1 += x0 * u[1], a2 += x0 * u[2], a3 += x0 * u[3];
        b0 += x1 * u[0], b1 += x1 * u[1], b2 += x1 * u[2], b3 += x1 * u[3];
    }
    vf *o = (vf *)t;
    o[0] = a0, o[1] = a1, o[2] = a2, o[3] = a3;
    o[4] = b0, o[5] = b1, o[6] = b2, o[7] = b3;
}

/* y[0..n) = t[0..n) + b (b may be NULL), relu'd when asked: one panel's
 * columns of one row (n = 64 but in the last panel). */
XF_INLINE void panel_store(float *y, const float *t, const float *b, int n, int relu) {
    if (n == PANEL) { /* a constant trip count: vectorized */
        for (int j = 0; j < PANEL; j++) {
            float v = t[j] + (b ? b[j] : 0.0f);
            y[j] = relu && v < 0.0f ? 0.0f : v;
        }
        return;
    }
    for (int j = 0; j < n; j++) {
        float v = t[j] + (b ? b[j] : 0.0f);
        y[j] = relu && v < 0.0f ? 0.0f : v;
    }
}

XF_CLONES
void xf_gemv(float *y, const float *x, const float *w, int64_t kpad, const float *b, int n, int in,
             int out, xf_activation act) {
    float t[2 * PANEL] __attribute__((aligned(64)));
    const int relu = act == XF_RELU;
    int p0 = 0;
    if (n == 1) /* one row (a batch-1 step): full panels two at a time */
        for (; p0 + 2 * PANEL <= out; p0 += 2 * PANEL) {
            panel_pair(t, x, w + p0 * kpad, PANEL * kpad, in);
            panel_store(y + p0, t, b ? b + p0 : NULL, PANEL, relu);
            panel_store(y + p0 + PANEL, t + PANEL, b ? b + p0 + PANEL : NULL, PANEL, relu);
        }
    for (; p0 < out; p0 += PANEL) {
        const float *wp = w + p0 * kpad; /* panel p0 / 64 */
        const float *bp = b ? b + p0 : NULL;
        const int cols = out - p0 < PANEL ? out - p0 : PANEL;
        int r = 0;
        for (; r + 2 <= n; r += 2) { /* pairs of rows: the panel read once per pair */
            panel_two(t, x + (int64_t)r * in, wp, in);
            panel_store(y + (int64_t)r * out + p0, t, bp, cols, relu);
            panel_store(y + (int64_t)(r + 1) * out + p0, t + PANEL, bp, cols, relu);
        }
        if (r < n) {
            panel_one(t, x + (int64_t)r * in, wp, in);
            panel_store(y + (int64_t)r * out + p0, t, bp, cols, relu);
        }
    }
    if (act == XF_GELU)
        xf_gelu(y, (int64_t)n * out);
}
