/* feed_forward.c — the position-wise feed-forward block, in row chunks.
 *
 * y = linear2(act(linear1(x))) row by row is what every layer does; doing it
 * XF_FF_ROWS rows at a time keeps the hidden activations [rows, F] small (at
 * seq 4096 the whole [L, F] would be 16 MiB per sample) while each GEMM still
 * has hundreds of rows, and the hidden chunk stays in cache between the two
 * products.  The activation is linear1's post-op (xf_linear_act). */
#include "xf_blas.h"

void xf_feed_forward(float *y, const float *x, const float *w1t, const float *b1, const float *w2t,
                     const float *b2, float *h, int n, int d, int f, xf_activation act) {
    for (int r = 0; r < n; r += XF_FF_ROWS) {
        int k = n - r < XF_FF_ROWS ? n - r : XF_FF_ROWS;
        xf_linear_act(h, x + (int64_t)r * d, w1t, b1, k, d, f, act);
        xf_linear(y + (int64_t)r * d, h, w2t, b2, k, f, d);
    }
}
