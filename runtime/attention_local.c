/* attention_local.c — local (banded) softmax attention, fast-transformers
 * LocalAttention.
 *
 * Which keys a query sees.  LocalAttention's docstring says "Q_i can only
 * attend to K_j if |i-j| < local_context/2"; its code (local_product_cpu.cpp,
 * local_dot_product, and the CUDA kernel's `k = s - l + local_context/2`,
 * kept when 0 <= k < local_context) does
 *
 *     int start = std::max(0, l-local_context/2);
 *     int end = std::min(n_keys, l+(local_context+1)/2);
 *     for (int s=start, k=kstart; s<end; k++, s++) ... dot(q_l, k_s) + ama[l][s]
 *
 * i.e. i − ⌊W/2⌋ ≤ j < i + ⌈W/2⌉ with W = local_context: exactly W keys.
 * For odd W that is the docstring's |i − j| < W/2; for even W it also
 * includes j = i − W/2 (one more key before than after).  We follow the code.
 * Then key lengths (end ≤ n_keys) and the causal mask (j ≤ i; fast-
 * transformers adds it as −1e24, which softmax turns into an exact 0), then
 * softmax(temp · scores) over the band.  Entries outside the band are 0 in
 * `attn`.
 *
 * A mask (fast-transformers' FullMask, sh->mask): local_dot_product adds
 * attn_mask.additive_matrix_finite (0 keep, −1e24 drop) to q·k before the
 * temperature; here a −inf entry drops the key and a finite one is added as
 * temp · m (the same place; ft's masks are bool, so only 0 and −inf occur).
 * Its band starts as −1e24 everywhere, so a query whose every in-band key
 * the mask drops has equal scores in all W slots: softmax gives 1/W each,
 * and local_weighted_average applies them to the band's keys in [0, S) —
 * masked ones and padding past the key length included.  Such a row does
 * exactly that here (mask_dropped_row), in `out` and in `attn`.
 *
 * One difference, on purpose: a query with no visible key for lack of keys
 * (only possible past the key length or past S, not by a mask) also gets
 * fast-transformers' 1/W there; here that row is 0, like xf_attention's.
 * Rows < key_len always have a key in their band, so valid rows are
 * unaffected.
 *
 * Algorithm: like attention.c, queries in blocks of B rows (B ≈ W, 32..128);
 * a block sees at most the B + W − 1 keys [l0 − ⌊W/2⌋, l0 + B − 1 + ⌈W/2⌉), so
 * one GEMM scores that B × (B + W − 1) tile, each row is softmaxed over its own
 * window inside it (zeros around), and a second GEMM multiplies by those rows
 * of V straight into `out`.  Never L × S: the tile is at most half wasted
 * and bounded by B·(B + W − 1), whatever L.  When `attn` is given the tile is
 * attn's own sub-block (ld = S) and the rest of each row is zeroed.
 *
 * Allocation-free (scratch: local_scratch in xf_simd.h ≤ xf_attention_scratch).
 * Thread-safe; the (sample, head) loop and its threads are the driver's
 * (attention.c).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "xf_blas.h"
#include "xf_kernels.h"
#include "xf_simd.h"

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}
static int64_t max64(int64_t a, int64_t b) {
    return a > b ? a : b;
}

/* Row i of a block's tile p (ld apart, `cols` keys starting at key lo):
 * softmax over its window [a, b) of the tile, zeros around it; returns the
 * 1/Σ the streaming path applies to the outputs (0 for an empty window),
 * or normalizes in place when `norm`. */
static float band_row(float *pi, int64_t a, int64_t b, int cols, int norm) {
    if (b <= a) { /* no visible key: a zero row */
        memset(pi, 0, (size_t)cols * sizeof(float));
        return 0.0f;
    }
    float s = softmax_exp(pi + a, (int)(b - a));
    memset(pi, 0, (size_t)a * sizeof(float));
    memset(pi + b, 0, (size_t)(cols - b) * sizeof(float));
    if (norm)
        scale(pi + a, (int)(b - a), 1.0f / s);
    return 1.0f / s;
}

/* p[0..n) += the mask row m as fast-transformers adds it before the
 * temperature: temp · m, and −inf (dropped) as −inf whatever temp. */
XF_CLONES
static void add_band_mask(float *p, const float *m, int64_t n, float temp) {
    for (int64_t j = 0; j < n; j++)
        p[j] += m[j] == -INFINITY ? -INFINITY : temp * m[j];
}

/* o[0..n) += w · x[0..n). */
XF_CLONES
static void add_scaled(float *o, const float *x, int n, float w) {
    for (int j = 0; j < n; j++)
        o[j] += w * x[j];
}

/* Query l, whose every in-band key the mask dropped: fast-transformers'
 * 1/W on each key of its band inside [0, S) (see the top of this file),
 * into its out row o (zero before) and attn row a (NULL: none). */
static void mask_dropped_row(float *o, float *a, const head_view *hv, const xf_attn_shape *sh,
                             int64_t l) {
    const int64_t W = sh->local_context;
    const int64_t s0 = max64(0, l - W / 2), s1 = min64(sh->S, l + (W + 1) / 2);
    const float w = 1.0f / (float)W;
    for (int64_t s = s0; s < s1; s++) {
        add_scaled(o, hv->v + s * xf_ldv(sh), sh->D, w);
        if (a)
            a[s] = w;
    }
}

/* Rows [l0, l0+rows) of one head seeing keys [lo, hi) (hi > lo): one GEMM
 * into the tile, each row (plus its mask, if any) softmaxed over its own
 * window, one GEMM by V.  ab: attn's rows (the tile is their sub-block
 * [lo, hi)) or NULL (scratch tile, packed).  inv[rows]: each row's 1/Σ,
 * −1 for a row the mask dropped entirely (filled in last). */
static void band_block(float *ob, float *ab, float *scratch, float *inv, const head_view *hv,
                       const xf_attn_shape *sh, int l0, int rows, int64_t lo, int64_t hi) {
    const int64_t qs = xf_ldq(sh), ks = xf_ldk(sh), lv = xf_ldv(sh), vs = (int64_t)sh->H * sh->D;
    const int64_t S = sh->S, before = sh->local_context / 2, after = (sh->local_context + 1) / 2;
    const int cols = (int)(hi - lo);
    float *p = ab ? ab + lo : scratch;
    const int ldp = ab ? (int)S : cols;
    int gone = 0; /* rows the mask dropped entirely */
    xf_gemm(XF_NOTRANS, XF_TRANS, rows, cols, sh->E, sh->temp, hv->q + l0 * qs, qs, hv->k + lo * ks,
            ks, 0.0f, p, ldp);
    for (int i = 0; i < rows; i++) {
        int64_t l = (int64_t)l0 + i;
        float *pi = p + (int64_t)i * ldp;
        /* this row's window inside the tile: [a, b) */
        int64_t a = max64(lo, l - before) - lo, b = min64(hi, l + after) - lo;
        if (sh->causal)
            b = min64(b, l + 1 - lo);
        int dropped = 0;
        if (hv->mask && b > a) {
            add_band_mask(pi + a, hv->mask + l * S + lo + a, b - a, sh->temp);
            dropped = !(row_max(pi + a, (int)(b - a)) > -1e30f);
        }
        float r = band_row(pi, a, dropped ? a : b, cols, ab != NULL);
        inv[i] = dropped ? -1.0f : r;
        gone += dropped;
        if (ab) { /* the rest of attn's row, outside the tile */
            memset(ab + (int64_t)i * S, 0, (size_t)lo * sizeof(float));
            memset(pi + cols, 0, (size_t)(S - hi) * sizeof(float));
        }
    }
    xf_gemm(XF_NOTRANS, XF_NOTRANS, rows, sh->D, cols, 1.0f, p, ldp, hv->v + lo * lv, lv, 0.0f, ob,
            vs);
    if (!ab)
        for (int i = 0; i < rows; i++)
            scale(ob + i * vs, sh->D, inv[i] > 0.0f ? inv[i] : 0.0f);
    for (int i = 0; gone && i < rows; i++)
        if (inv[i] < 0.0f)
            mask_dropped_row(ob + i * vs, ab ? ab + (int64_t)i * S : NULL, hv, sh, (int64_t)l0 + i);
}

/* Every query block of one (sample, head), klen ≥ 1. */
static void local_head(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    const int L = sh->L, B = local_block_rows(sh);
    const int64_t vs = (int64_t)sh->H * sh->D, W = sh->local_context;
    const int64_t before = W / 2, after = (W + 1) / 2; /* keys [i − before, i + after) */
    float *inv = scratch + local_scratch(sh) - B;      /* after the B × cols tile */
    for (int l0 = 0; l0 < L; l0 += B) {
        int rows = L - l0 < B ? L - l0 : B;
        float *ob = hv->o + l0 * vs, *ab = hv->a ? hv->a + (int64_t)l0 * sh->S : NULL;
        /* keys any row of the block sees: [lo, hi) */
        int64_t lo = max64(0, l0 - before);
        int64_t hi = min64(hv->klen, (int64_t)l0 + rows - 1 + after);
        if (sh->causal)
            hi = min64(hi, (int64_t)l0 + rows);
        if (W <= 0 || hi <= lo)
            zero_rows(ob, ab, sh, rows);
        else
            band_block(ob, ab, scratch, inv, hv, sh, l0, rows, lo, hi);
    }
}

/* out[N,L,H,D] = softmax over the band (plus masks) of temp · q kᵀ, times v;
 * attn [N,H,L,S] or NULL; scratch: xf_attention_scratch(sh) floats. */
void xf_local_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                        const xf_attn_shape *sh, float *scratch) {
    int64_t B = local_block_rows(sh), ed = sh->E > sh->D ? sh->E : sh->D;
    int64_t cols = B + (int64_t)sh->local_context - 1;
    cols = cols > sh->S ? sh->S : cols < 1 ? 1 : cols;
    xf__attention_heads(local_head, B * cols * ed, out, attn, q, k, v, sh, scratch);
}
