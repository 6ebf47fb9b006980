/* attention_topk.c — exact top-k softmax attention, fast-transformers
 * ExactTopKAttention.
 *
 * What fast-transformers does (exact_topk_attention.py, forward):
 *
 *     QK = torch.einsum("nlhe,nshe->nhls", queries, keys)
 *     topk = min(self.topk, S)
 *     if not attn_mask.all_ones:
 *         QK = QK + attn_mask.additive_matrix           # −inf where masked
 *     QK = QK + key_lengths.additive_matrix[:, None, None]
 *     topk_values, topk_idx = torch.topk(QK, topk, sorted=False, dim=-1)
 *     mask = −inf everywhere, 0 at topk_idx;  QK = QK + mask
 *     A = softmax(softmax_temp * QK)
 *
 * So: masks first, then the top-k of the *unscaled* scores q·k, then the
 * temperature inside the softmax.  The kept set is the min(topk, visible)
 * largest visible scores: when a row sees fewer than topk keys, torch.topk
 * also picks −inf (masked) entries, which stay −inf and weigh 0.  Here the
 * same: per query, the k = min(topk, visible) largest visible raw scores,
 * softmax(temp · score) over them, every other entry exactly 0.  Ties at the
 * k-th score (torch: unspecified which) keep the lowest key indices.
 * Ranking on raw scores matters for temp ≤ 0 only; topk ≥ visible is
 * full attention.  Rows with no visible key, or topk ≤ 0 (torch: NaN), are 0.
 *
 * A mask (fast-transformers' FullMask, sh->mask) is added where it adds it,
 * to the raw scores before the ranking: −inf drops a key (visible = the
 * entries left finite), a finite value moves the score (scaled by the
 * temperature with it).  A row the mask drops entirely is 0 (torch: NaN).
 *
 * Algorithm: attention.c's blocks (same block rows, same scratch), the GEMM
 * without the temperature; per row the k-th largest score is found by a
 * bisection over the scores' order-preserving integer keys, each step a
 * vectorizable count (≤ 32 passes over the row, usually ~16: no buffer, no
 * allocation, deterministic), the row is masked and softmaxed in
 * vectorizable passes, and the second
 * GEMM multiplies the (mostly zero) rows by V.  When `attn` is given the tile
 * is attn's rows (ld = S).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "xf_blas.h"
#include "xf_kernels.h"
#include "xf_simd.h"

/* Unsigned key with the order of the float (−0 < +0; NaN aside). */
XF_INLINE uint32_t order_key(float x) {
    uint32_t u = f32_bits(x);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

/* How many of p[0..n) have a key ≥ t: one vectorizable pass. */
XF_CLONES
static int count_ge(const float *p, int n, uint32_t t) {
    int c = 0;
    for (int j = 0; j < n; j++)
        c += order_key(p[j]) >= t;
    return c;
}

/* Smallest and largest key of p[0..n), n ≥ 1. */
XF_CLONES
static void key_range(const float *p, int n, uint32_t *lo, uint32_t *hi) {
    uint32_t a = UINT32_MAX, b = 0;
    for (int j = 0; j < n; j++) {
        uint32_t key = order_key(p[j]);
        a = key < a ? key : a;
        b = key > b ? key : b;
    }
    *lo = a;
    *hi = b;
}

/* The k-th largest key t of p[0..n), 1 ≤ k < n, by bisection over the keys
 * between the row's min and max: at most 32 vectorizable counting passes,
 * deterministic, no buffer.  Usually fewer: it stops as soon as some key t
 * has exactly k entries ≥ t (then *all_ties = 1: "key ≥ t" is the kept set).
 * Otherwise t is the k-th largest key itself and *quota (≥ 1) is how many
 * entries equal to t are kept, the first ones. */
static uint32_t kth_largest(const float *p, int n, int k, int *quota, int *all_ties) {
    uint32_t lo, hi;
    key_range(p, n, &lo, &hi);
    /* invariant: count_ge(lo) ≥ k, and the answer is ≤ hi */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2 + 1;
        int c = count_ge(p, n, mid);
        if (c == k) {
            *quota = 0;
            *all_ties = 1;
            return mid;
        }
        if (c > k)
            lo = mid;
        else
            hi = mid - 1;
    }
    int above = lo < UINT32_MAX ? count_ge(p, n, lo + 1) : 0; /* < k */
    *quota = k - above;
    *all_ties = count_ge(p, n, lo) == k;
    return lo;
}

void xf__topk_indices(int *idx, const float *p, int n, int k) {
    int quota = 0, all_ties = 1, m = 0;
    uint32_t t = k < n ? kth_largest(p, n, k, &quota, &all_ties) : 0;
    for (int j = 0; j < n && m < k; j++) {
        uint32_t key = order_key(p[j]);
        if (key > t || (key == t && (all_ties || quota-- > 0)))
            idx[m++] = j;
    }
}

/* p[0..n): keep the entries whose key is above t and the first `quota`
 * equal to t, scaled by temp; the others become −inf.  all_ties: every
 * entry equal to t is kept (a vectorizable compare, the usual case). */
XF_CLONES
static void keep_topk(float *p, int n, uint32_t t, int quota, int all_ties, float temp) {
    if (all_ties) {
        for (int j = 0; j < n; j++)
            p[j] = order_key(p[j]) >= t ? temp * p[j] : -INFINITY;
        return;
    }
    for (int j = 0; j < n; j++) {
        uint32_t key = order_key(p[j]);
        int keep = key > t || (key == t && quota-- > 0);
        p[j] = keep ? temp * p[j] : -INFINITY;
    }
}

/* p[0..n) = exp(p − max p), 0 where p = −inf (at least one finite); returns Σ. */
XF_CLONES
static float softmax_exp_kept(float *p, int n) {
    const float m = row_max(p, n); /* xf_simd.h */
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float x = p[i + j], e = exp_approx(x - m); /* clamped: −inf → tiny, */
            e = x == -INFINITY ? 0.0f : e;             /* so select an exact 0 */
            p[i + j] = e;
            acc[j] += e;
        }
    float s = 0.0f;
    for (int j = 0; j < LANES; j++)
        s += acc[j];
    for (; i < n; i++) {
        float x = p[i], e = exp_approx(x - m);
        p[i] = x == -INFINITY ? 0.0f : e;
        s += p[i];
    }
    return s;
}

/* p[0..n) += m[0..n) (a mask row); returns how many entries stay finite. */
XF_CLONES
static int add_mask_count(float *p, const float *m, int n) {
    int c = 0;
    for (int j = 0; j < n; j++) {
        p[j] += m[j];
        c += p[j] > -INFINITY;
    }
    return c;
}

/* Rows [l0, l0+rows) of one (sample, head), seeing keys s < klen (klen ≥ 1);
 * same tile conventions as attention.c's attend_block; mask: this sample's
 * [L, S] plane or NULL. */
static void topk_block(float *o, float *p, int a, float *inv, const float *q, const float *k,
                       const float *v, const float *mask, const xf_attn_shape *sh, int l0, int rows,
                       int klen) {
    const int qs = (int)xf_ldq(sh), ks = (int)xf_ldk(sh), lv = (int)xf_ldv(sh), vs = sh->H * sh->D;
    int nvis = sh->causal && l0 + rows < klen ? l0 + rows : klen;
    int ldp = a ? sh->S : nvis;

    /* raw q·k: fast-transformers ranks before applying the temperature */
    xf_gemm(XF_NOTRANS, XF_TRANS, rows, nvis, sh->E, 1.0f, q, qs, k, ks, 0.0f, p, ldp);

    for (int i = 0; i < rows; i++) {
        float *pi = p + (int64_t)i * ldp;
        int lim = sh->causal && l0 + i + 1 < nvis ? l0 + i + 1 : nvis;
        /* keys the mask leaves: -inf entries rank below every finite one */
        int left = mask ? add_mask_count(pi, mask + (int64_t)(l0 + i) * sh->S, lim) : lim;
        int kk = sh->topk < left ? sh->topk : left;
        float s = 0.0f;
        if (kk <= 0) {
            memset(pi, 0, (size_t)lim * sizeof(float));
        } else {
            if (kk < lim) { /* also drops the masked entries (below the k-th) */
                int quota, all_ties;
                uint32_t t = kth_largest(pi, lim, kk, &quota, &all_ties);
                keep_topk(pi, lim, t, quota, all_ties, sh->temp);
            } else {
                scale(pi, lim, sh->temp);
            }
            s = softmax_exp_kept(pi, lim);
        }
        memset(pi + lim, 0, (size_t)(nvis - lim) * sizeof(float));
        if (a) {
            if (s > 0.0f)
                scale(pi, lim, 1.0f / s);
            memset(pi + nvis, 0, (size_t)(ldp - nvis) * sizeof(float));
        } else {
            inv[i] = s > 0.0f ? 1.0f / s : 0.0f;
        }
    }

    xf_gemm(XF_NOTRANS, XF_NOTRANS, rows, sh->D, nvis, 1.0f, p, ldp, v, lv, 0.0f, o, vs);
    if (!a)
        for (int i = 0; i < rows; i++)
            scale(o + (int64_t)i * vs, sh->D, inv[i]);
}

/* Every query block of one (sample, head), klen ≥ 1. */
static void topk_head(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    const int L = sh->L, S = sh->S, B = block_rows(sh);
    const int64_t qs = xf_ldq(sh), vs = (int64_t)sh->H * sh->D;
    for (int l0 = 0; l0 < L; l0 += B) {
        int rows = L - l0 < B ? L - l0 : B;
        float *ob = hv->o + l0 * vs, *ab = hv->a ? hv->a + (int64_t)l0 * S : NULL;
        const float *qb = hv->q + l0 * qs;
        if (ab)
            topk_block(ob, ab, 1, NULL, qb, hv->k, hv->v, hv->mask, sh, l0, rows, hv->klen);
        else
            topk_block(ob, scratch, 0, scratch + (int64_t)B * S, qb, hv->k, hv->v, hv->mask, sh, l0,
                       rows, hv->klen);
    }
}

/* out[N,L,H,D] = top-k softmax attention; attn [N,H,L,S] or NULL;
 * scratch: xf_attention_scratch(sh) floats, unused when attn is given.
 * Same blocks, so the same threading rule, as xf_attention. */
void xf_topk_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                       const xf_attn_shape *sh, float *scratch) {
    int64_t mnk = (int64_t)block_rows(sh) * sh->S * (sh->E > sh->D ? sh->E : sh->D);
    xf__attention_heads(topk_head, mnk, out, attn, q, k, v, sh, scratch);
}
