/* attention_linear.c — linear and causal-linear attention
 * (fast-transformers LinearAttention / CausalLinearAttention, Katharopoulos
 * et al. 2020), feature map φ = sh->fmap (feature_map.c; elu(x) + 1 by
 * default) of width F, eps 1e-6, no temperature.  E below is φ's width F
 * wherever φ(q) or φ(k) is the operand.
 *
 *   Z_i   = 1 / (φ(q_i) · Σ_j φ(k_j) + eps)
 *   out_i = Z_i · φ(q_i) · Σ_j φ(k_j) v_jᵀ
 *
 * j runs over the visible keys: j < key_len (fast-transformers multiplies the
 * padding keys' φ(k) by 0) and, causal, j ≤ i.  No visible key gives
 * out_i = 0 exactly (0 · 1/eps), as in fast-transformers.
 *
 * Non-causal, per (sample, head): KV [E, D] = φ(K)ᵀ V and Σ φ(k_j) over the
 * keys in blocks of B = 32 (GEMMs with ld = H·E / H·D, heads never copied;
 * φ is applied into a packed B × E buffer), then per block of B query rows
 * out = φ(Q) KV (GEMM straight into `out`) and the normalizers (GEMV),
 * O(L·E·D).
 *
 * Causal: the same, chunked along the sequence.  The query block [l0, l0+B)
 * reads the state of the keys j < l0 (KV, Σφ(k)) with one GEMM, adds its own
 * diagonal block through a B × B tile φ(Q_b) φ(K_b)ᵀ masked to j ≤ i (two
 * GEMMs), then folds its keys into the state (one GEMM).  O(L·(E·D + B·(E+D))),
 * linear in L, every product a GEMM instead of L rank-1 updates.
 *
 * `attn` (the implied matrix A[i,j] = Z_i φ(q_i)·φ(k_j), 0 where not visible,
 * rows summing to den/(den + eps)) is formed only when asked: per query
 * block, one GEMM per key block straight into attn's rows (ld = S).
 *
 * Allocation-free: everything lives in the caller's scratch (layout in
 * xf_simd.h, linear_scratch).  Thread-safe; the (sample, head) loop and its
 * threads are the driver's (attention.c).
 */
#include <stdint.h>
#include <string.h>

#include "xf_blas.h"
#include "xf_kernels.h"
#include "xf_simd.h"

#define LIN_EPS 1e-6f /* fast-transformers' default eps */

static int phi_dims(const xf_attn_shape *sh) {
    return xf_feature_map_dims(sh->fmap, sh->E);
}

/* dst[rows, E] (packed) = elu(src) + 1, src rows `ld` floats apart. */
XF_CLONES
static void elu_map(float *dst, const float *src, int rows, int E, int64_t ld) {
    for (int i = 0; i < rows; i++) {
        const float *x = src + i * ld;
        float *y = dst + (int64_t)i * E;
        for (int e = 0; e < E; e++) {
            float xe = x[e], ex = exp_approx(xe); /* both sides: a select, no branch */
            y[e] = xe > 0.0f ? xe + 1.0f : ex;
        }
    }
}

/* dst[rows, F] (packed) = φ(src) (F = phi_dims(sh)); `shift`: the
 * sequence's xf_feature_map_shift (favor with stabilize). */
static void feature_map(float *dst, const float *src, int rows, const xf_attn_shape *sh, int64_t ld,
                        float shift) {
    if (!sh->fmap || sh->fmap->kind == XF_FMAP_ELU)
        elu_map(dst, src, rows, sh->E, ld);
    else
        xf_feature_map_apply(dst, src, rows, sh->E, ld, sh->fmap, shift);
}

/* acc[E] += Σ_i x[i, E] (packed rows) */
XF_CLONES
static void add_rows(float *acc, const float *x, int rows, int E) {
    for (int i = 0; i < rows; i++)
        for (int e = 0; e < E; e++)
            acc[e] += x[(int64_t)i * E + e];
}

XF_CLONES
static float row_sum(const float *x, int n) {
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] += x[i + j];
    float s = 0.0f;
    for (int j = 0; j < LANES; j++)
        s += acc[j];
    for (; i < n; i++)
        s += x[i];
    return s;
}

/* Rows [l0, l0+rows) of this head's implied matrix, a → attn row l0 (S
 * floats apart): A[i,j] = z[i] φ(q_i)·φ(k_j) for j < lim(i), 0 elsewhere,
 * where lim(i) = nvis (non-causal) or min(nvis, l0+i+1) (causal).
 * phq holds the block's φ(q); phk is a key-block buffer (overwritten). */
static void implied_rows(float *a, const float *phq, float *phk, const float *kh, const float *z,
                         const xf_attn_shape *sh, int l0, int rows, int nvis, float kshift) {
    const int F = phi_dims(sh), S = sh->S, bk = sh->S < LIN_BLOCK ? sh->S : LIN_BLOCK;
    const int64_t ks = xf_ldk(sh);
    for (int s0 = 0; s0 < nvis; s0 += bk) {
        int kn = nvis - s0 < bk ? nvis - s0 : bk;
        feature_map(phk, kh + s0 * ks, kn, sh, ks, kshift);
        xf_gemm(XF_NOTRANS, XF_TRANS, rows, kn, F, 1.0f, phq, F, phk, F, 0.0f, a + s0, S);
    }
    for (int i = 0; i < rows; i++) {
        float *ai = a + (int64_t)i * S;
        int lim = sh->causal && l0 + i + 1 < nvis ? l0 + i + 1 : nvis;
        scale(ai, lim, z[i]);
        memset(ai + lim, 0, (size_t)(S - lim) * sizeof(float));
    }
}

/* out rows (vs apart) *= 1/(den + eps); den becomes that factor (Z). */
static void normalize(float *o, float *den, int rows, int D, int64_t vs) {
    for (int i = 0; i < rows; i++) {
        den[i] = 1.0f / (den[i] + LIN_EPS);
        scale(o + i * vs, D, den[i]);
    }
}

/* The state of all visible keys at once (non-causal: every query sees every
 * key): kv = Σ φ(k_j) v_jᵀ, ks = Σ φ(k_j), in key blocks of bk. */
static void whole_state(float *kv, float *ks, float *phk, const head_view *hv,
                        const xf_attn_shape *sh, int bk, float kshift) {
    const int F = phi_dims(sh), D = sh->D;
    const int64_t lk = xf_ldk(sh), lv = xf_ldv(sh);
    for (int s0 = 0; s0 < hv->klen; s0 += bk) {
        int kn = hv->klen - s0 < bk ? hv->klen - s0 : bk;
        feature_map(phk, hv->k + s0 * lk, kn, sh, lk, kshift);
        xf_gemm(XF_TRANS, XF_NOTRANS, F, D, kn, 1.0f, phk, F, hv->v + s0 * lv, lv, 1.0f, kv, D);
        add_rows(ks, phk, kn, F);
    }
}

/* Causal: the query block [l0, l0+rows)'s own keys j in [l0, l0+kn), visible
 * when j ≤ i, added to its outputs ob and normalizers den through the tile
 * t = φ(Q_b) φ(K_b)ᵀ; then those keys folded into the state (kv, ks). */
static void diagonal_block(float *ob, float *den, float *kv, float *ks, float *phk, float *t,
                           const float *phq, const head_view *hv, const xf_attn_shape *sh, int l0,
                           int rows, int kn, float kshift) {
    const int F = phi_dims(sh), D = sh->D;
    const int64_t lk = xf_ldk(sh), lv = xf_ldv(sh), vs = (int64_t)sh->H * D;
    const float *vb = hv->v + l0 * lv;
    feature_map(phk, hv->k + l0 * lk, kn, sh, lk, kshift);
    xf_gemm(XF_NOTRANS, XF_TRANS, rows, kn, F, 1.0f, phq, F, phk, F, 0.0f, t, kn);
    for (int i = 0; i < rows; i++) {
        float *ti = t + (int64_t)i * kn;
        int lim = i + 1 < kn ? i + 1 : kn;
        memset(ti + lim, 0, (size_t)(kn - lim) * sizeof(float));
        den[i] += row_sum(ti, lim);
    }
    xf_gemm(XF_NOTRANS, XF_NOTRANS, rows, D, kn, 1.0f, t, kn, vb, lv, 1.0f, ob, vs);
    xf_gemm(XF_TRANS, XF_NOTRANS, F, D, kn, 1.0f, phk, F, vb, lv, 1.0f, kv, D);
    add_rows(ks, phk, kn, F);
}

/* Every query block of one (sample, head), klen ≥ 1; scratch: linear_scratch. */
static void linear_head(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    const int L = sh->L, S = sh->S, E = sh->E, D = sh->D, F = phi_dims(sh), klen = hv->klen;
    const int64_t qs = xf_ldq(sh), vs = (int64_t)sh->H * D;
    const int bq = L < LIN_BLOCK ? L : LIN_BLOCK, bk = S < LIN_BLOCK ? S : LIN_BLOCK;
    float *phq = scratch, *phk = phq + (int64_t)bq * F, *t = phk + (int64_t)bk * F;
    float *kv = t + (int64_t)bq * bk, *ks = kv + (int64_t)F * D, *den = ks + F;
    /* favor's stabilize: each side's max over its whole (padded) sequence, as
     * fast-transformers takes it before the key padding is applied */
    const float qshift = xf_feature_map_shift(sh->fmap, hv->q, L, E, qs);
    const float kshift = xf_feature_map_shift(sh->fmap, hv->k, S, E, xf_ldk(sh));

    memset(kv, 0, (size_t)F * (size_t)D * sizeof(float));
    memset(ks, 0, (size_t)F * sizeof(float));
    if (!sh->causal)
        whole_state(kv, ks, phk, hv, sh, bk, kshift);
    for (int l0 = 0; l0 < L; l0 += bq) {
        int rows = L - l0 < bq ? L - l0 : bq;
        float *ob = hv->o + l0 * vs;
        feature_map(phq, hv->q + l0 * qs, rows, sh, qs, qshift);
        /* non-causal: all keys; causal: the keys before l0 */
        xf_gemm(XF_NOTRANS, XF_NOTRANS, rows, D, F, 1.0f, phq, F, kv, D, 0.0f, ob, vs);
        xf_gemm(XF_NOTRANS, XF_TRANS, rows, 1, F, 1.0f, phq, F, ks, F, 0.0f, den, 1);
        int kn = sh->causal ? (klen < l0 + rows ? klen : l0 + rows) - l0 : 0;
        if (kn > 0)
            diagonal_block(ob, den, kv, ks, phk, t, phq, hv, sh, l0, rows, kn, kshift);
        normalize(ob, den, rows, D, vs);
        if (hv->a) {
            int nvis = sh->causal && l0 + rows < klen ? l0 + rows : klen;
            implied_rows(hv->a + (int64_t)l0 * S, phq, phk, hv->k, den, sh, l0, rows, nvis, kshift);
        }
    }
}

/* out[N,L,H,D] = linear attention of q [N,L,H,E], k [N,S,H,E], v [N,S,H,D];
 * attn [N,H,L,S] (implied matrix) or NULL; scratch: xf_attention_scratch(sh).
 * Every GEMM is at most 32 rows × max(E, D)², so heads run on the pool
 * whenever that is under SMALL_GEMM. */
void xf_linear_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                         const xf_attn_shape *sh, float *scratch) {
    int64_t F = phi_dims(sh), ed = F > sh->D ? F : sh->D;
    xf__attention_heads(linear_head, LIN_BLOCK * ed * ed, out, attn, q, k, v, sh, scratch);
}
