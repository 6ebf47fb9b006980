/* row_blocks.c — what a self-attention layer needs to run in blocks of rows.
 *
 * Only the keys and values must exist for every row at once: each query
 * block attends to all of its sample's keys.  So a blocked layer
 * (templates/layer_encoder_*_rows.c.in) computes them first, then per block
 * of rows its queries, attention, output projection, norms and feed-forward,
 * overwriting x's rows.  Long samples keep their keys and values as one
 * plane per head ([H][n][E], [H][n][D]): the online attention path reads a
 * head dense, and planes let it read them in place instead of packing each
 * head once per block.  At batch 1 × seq 4096 × d_model 256 the
 * whole-sequence working memory is the planes' 8 MiB instead of 12 MiB of
 * Q|K|V, 4 MiB of attention output and 2 MiB of one head's packed K/V.
 */
#include <stddef.h>

#include "xf_kernels.h"

int xf_row_block(int N, int L, int r0) {
    if (L <= XF_ROW_SAMPLES) { /* whole samples: as many as fit, at least one */
        int per = XF_ROW_SAMPLES / L, left = N - r0 / L;
        return (per < left ? per : left) * L;
    }
    /* near-equal blocks of a long sample: ⌈L / XF_ROW_BLOCK⌉ of ⌈L / that⌉ rows */
    int blocks = (L + XF_ROW_BLOCK - 1) / XF_ROW_BLOCK, rows = (L + blocks - 1) / blocks;
    int left = L - r0 % L;
    return rows < left ? rows : left;
}

int xf_row_block_max(int N, int L) {
    return N <= 0 || L <= 0 ? 0 : xf_row_block(N, L, 0);
}

/* Planes for samples past XF_ROW_SAMPLES (2 × ONLINE_KEYS in attention.c:
 * only their rows take the online path, which would pack each head); the
 * product's own rows below (no copy, and read as strided heads). */
static int planes(int L) {
    return L > XF_ROW_SAMPLES;
}

void xf_linear_kv(float *kv, int N, int L, int r, const float *x, const float *wt, const float *b,
                  float *tmp, int rows, int in, int H, int E, int D) {
    const int64_t n = (int64_t)N * L, W = (int64_t)H * (E + D);
    if (!planes(L)) {
        xf_linear(kv + r * W, x, wt, b, rows, in, (int)W);
        return;
    }
    float *k = kv + r * E, *v = kv + (int64_t)H * n * E + r * D;
    xf_linear(tmp, x, wt, b, rows, in, (int)W);
    for (int h = 0; h < H; h++) {
        xf_copy_rows(k + h * n * E, tmp + (int64_t)h * E, rows, E, W);
        xf_copy_rows(v + h * n * D, tmp + (int64_t)H * E + (int64_t)h * D, rows, D, W);
    }
}

void xf_attention_rows(float *out, const float *q, const float *kv, const xf_attn_shape *whole,
                       int r0, int rows, float *scratch) {
    const int L = whole->L, S = whole->S, s = r0 / L, l0 = r0 % L, H = whole->H;
    const int64_t E = whole->E, D = whole->D, n = (int64_t)whole->N * S, W = H * (E + D);
    xf_attn_shape sh = *whole;
    int samples = l0 == 0 && rows % L == 0; /* whole samples, or rows of one */
    sh.N = samples ? rows / L : 1;
    sh.L = samples ? L : rows;
    sh.q0 = samples ? 0 : l0; /* causal limits and mask rows count from the sample's row 0 */
    sh.key_len = whole->key_len ? whole->key_len + s : NULL;
    sh.mask = whole->mask ? whole->mask + (whole->mask_batched ? (int64_t)s * L * S : 0) : NULL;
    sh.mask_batched = whole->mask_batched && sh.N > 1;
    sh.ldq = 0; /* the block's own queries, H·E apart */
    const float *k, *v;
    if (planes(L)) {
        sh.ldk = (int)E, sh.ldv = (int)D, sh.hsk = n * E, sh.hsv = n * D;
        k = kv + s * S * E, v = kv + H * n * E + s * S * D;
    } else {
        sh.ldk = sh.ldv = (int)W, sh.hsk = sh.hsv = 0;
        k = kv + s * S * W, v = k + H * E;
    }
    xf_attention(out, NULL, q, k, v, &sh, scratch);
}
