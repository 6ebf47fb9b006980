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
#include <stdlib.h>
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

/* Four panels w, w + ps, w + 2·ps, w + 3·ps for one row x (t: their 4 × 64
 * columns in that order): four weight streams in flight and sixteen FMA
 * chains.  xf_gemv gives each stream a contiguous run of panels, so the
 * hardware prefetcher follows four long streams rather than restarting at
 * every panel (a step's products: see xf_gemv). */
XF_INLINE void panel_quad(float *t, const float *x, const float *w, int64_t ps, int in) {
    vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    vf c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0}, d0 = {0}, d1 = {0}, d2 = {0}, d3 = {0};
    const vf *u = (const vf *)w, *v = (const vf *)(w + ps), *y = (const vf *)(w + 2 * ps),
             *z = (const vf *)(w + 3 * ps);
    for (int k = 0; k < in; k++, u += 4, v += 4, y += 4, z += 4) {
        const float x0 = x[k];
        a0 += x0 * u[0], a1 += x0 * u[1], a2 += x0 * u[2], a3 += x0 * u[3];
        b0 += x0 * v[0], b1 += x0 * v[1], b2 += x0 * v[2], b3 += x0 * v[3];
        c0 += x0 * y[0], c1 += x0 * y[1], c2 += x0 * y[2], c3 += x0 * y[3];
        d0 += x0 * z[0], d1 += x0 * z[1], d2 += x0 * z[2], d3 += x0 * z[3];
    }
    vf *o = (vf *)t;
    o[0] = a0, o[1] = a1, o[2] = a2, o[3] = a3;
    o[4] = b0, o[5] = b1, o[6] = b2, o[7] = b3;
    o[8] = c0, o[9] = c1, o[10] = c2, o[11] = c3;
    o[12] = d0, o[13] = d1, o[14] = d2, o[15] = d3;
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
    float t[4 * PANEL] __attribute__((aligned(64)));
    const int relu = act == XF_RELU;
    int p0 = 0;
    if (n == 1) { /* one row (a batch-1 step) */
        /* Panels four at a time, stream s reading panels [s·groups,
         * (s+1)·groups) in order: four contiguous runs (consecutive
         * quadruples: every new quadruple restarts three streams).  A
         * last partial panel is read whole (its columns past out are
         * padding) and stored in part. */
        const int groups = (out + PANEL - 1) / PANEL / 4;
        const int64_t ps = (int64_t)groups * PANEL * kpad;
        for (int g = 0; g < groups; g++) {
            panel_quad(t, x, w + (int64_t)g * PANEL * kpad, ps, in);
            for (int q = 0; q < 4; q++) {
                const int c = (q * groups + g) * PANEL;
                panel_store(y + c, t + q * PANEL, b ? b + c : NULL,
                            out - c < PANEL ? out - c : PANEL, relu);
            }
        }
        p0 = groups * 4 * PANEL;
        for (; p0 + 2 * PANEL <= out; p0 += 2 * PANEL) { /* then pairs */
            panel_pair(t, x, w + p0 * kpad, PANEL * kpad, in);
            panel_store(y + p0, t, b ? b + p0 : NULL, PANEL, relu);
            panel_store(y + p0 + PANEL, t + PANEL, b ? b + p0 + PANEL : NULL, PANEL, relu);
        }
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

/* ---- packing: torch's rows into the panels ------------------------------- */

/* The 16 × 16 block r (row i = r[i]) transposed in place: four rounds of
 * two-vector shuffles, each swapping the off-diagonal halves of blocks twice
 * the size of the last (1 × 1, 2 × 2, 4 × 4, then 8 × 8 quarters). */
XF_INLINE void transpose16(vf r[16]) {
    vf t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26,
                                       12, 28, 14, 30);
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11,
                                           27, 13, 29, 15, 31);
    }
    for (int i = 0; i < 16; i += 4)
        for (int q = 0; q < 2; q++) {
            r[i + q] = __builtin_shufflevector(t[i + q], t[i + q + 2], 0, 1, 16, 17, 4, 5, 20, 21,
                                               8, 9, 24, 25, 12, 13, 28, 29);
            r[i + q + 2] = __builtin_shufflevector(t[i + q], t[i + q + 2], 2, 3, 18, 19, 6, 7, 22,
                                                   23, 10, 11, 26, 27, 14, 15, 30, 31);
        }
    for (int i = 0; i < 16; i += 8)
        for (int q = 0; q < 4; q++) {
            t[i + q] = __builtin_shufflevector(r[i + q], r[i + q + 4], 0, 1, 2, 3, 16, 17, 18, 19,
                                               8, 9, 10, 11, 24, 25, 26, 27);
            t[i + q + 4] = __builtin_shufflevector(r[i + q], r[i + q + 4], 4, 5, 6, 7, 20, 21, 22,
                                                   23, 12, 13, 14, 15, 28, 29, 30, 31);
        }
    for (int q = 0; q < 8; q++) {
        r[q] = __builtin_shufflevector(t[q], t[q + 8], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20,
                                       21, 22, 23);
        r[q + 8] = __builtin_shufflevector(t[q], t[q + 8], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26,
                                           27, 28, 29, 30, 31);
    }
}

/* Rows [k0, kend) × columns [c0, c0+16) of a panel (rows 64 floats apart) =
 * rows w[c0..c0+16) (`in` apart) at columns k0..kend, transposed: a whole
 * 16 × 16 block through registers, edges (past `in`, past the weight's last
 * row, a short last block) one value at a time, zeros for the padding. */
XF_INLINE void pack_block(float *p, const float *w, int64_t in, int rows, int64_t k0,
                          int64_t kend) {
    if (rows == 16 && k0 + 16 <= in) {
        vf r[16];
        for (int i = 0; i < 16; i++)
            memcpy(&r[i], w + i * in + k0, sizeof r[i]);
        transpose16(r);
        for (int i = 0; i < 16; i++)
            memcpy(p + (k0 + i) * PANEL, &r[i], sizeof r[i]);
        return;
    }
    for (int64_t k = k0; k < kend; k++)
        for (int i = 0; i < 16; i++)
            p[k * PANEL + i] = i < rows && k < in ? w[i * in + k] : 0.0f;
}

XF_CLONES
void xf_pack_panels(float *dst, const float *w, int64_t out, int64_t in, int64_t kpad) {
    for (int64_t j = 0; j < out; j += PANEL) {
        float *p = dst + j * kpad; /* panel j / 64 */
        for (int64_t k0 = 0; k0 < kpad; k0 += 16)
            for (int c0 = 0; c0 < PANEL; c0 += 16) {
                int64_t left = out - j - c0; /* rows of w left for this block */
                int rows = left <= 0 ? 0 : left < 16 ? (int)left : 16;
                pack_block(p + c0, rows ? w + (j + c0) * in : w, in, rows, k0,
                           k0 + 16 < kpad ? k0 + 16 : kpad);
            }
    }
}
