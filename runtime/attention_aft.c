/* attention_aft.c — the Attention Free Transformer (Zhai et al. 2021) as
 * fast-transformers' AFTFullAttention / AFTSimpleAttention compute it (its
 * code, which differs from the paper where noted).  Per (sample, head),
 * element-wise in the channel d (E = D):
 *
 *   aft_full:    w = u[:L] v[:S]ᵀ (a low-rank position bias, u, v [max_len, P])
 *                out[l,d] = σ(q[l,d]) Σ_s softmax_s(k[s,d] · w[l,s]) v[s,d]
 *                (the product k·w is fast-transformers' code; the paper adds);
 *                s over the visible keys (s < key length, causal: s ≤ l), a row
 *                with none gives 0 — fast-transformers multiplies its -inf
 *                masks into k·w, which is NaN or ±inf there, so it is only
 *                defined without masks.
 *   aft_simple:  out[l,d] = σ(q[l,d]) Σ_s softmax_s(k[s,d]) v[s,d], the same for
 *                every l; causal (fast-transformers' code): with M[d] the max of
 *                k[:,d] over the visible keys, e_j = exp(k[j,d] − M[d]) and
 *                c_j = Σ_{i≤j} e_i, out[l,d] = σ(q[l,d]) Σ_{j≤l} (e_j / c_j) v[j,d].
 *
 * aft_full takes rows in blocks of B: one GEMM makes the block's w [B, S],
 * then per row two passes over the keys with D-wide running max / sum /
 * accumulator (contiguous channel loops).  The AttentionEvent matrix is the
 * weights applied to v[s,d] averaged over the D channels (σ(q) not included),
 * computed only when `attn` is given.  Thread-safe; the (sample, head) loop is
 * the driver's (attention.c).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "xf_blas.h"
#include "xf_kernels.h"
#include "xf_simd.h"

XF_INLINE float sigmoid(float x) {
    return 1.0f / (1.0f + exp_approx(-x));
}

/* One row l of aft_full: keys s < nvis with bias w [nvis]; m, z, acc: D floats. */
XF_CLONES
static void aft_full_row(float *o, float *a, const float *q, const float *k, const float *v,
                         const float *w, int nvis, int D, int64_t ks, int64_t lv, float *m,
                         float *z, float *acc) {
    for (int d = 0; d < D; d++)
        m[d] = -3.0e38f, z[d] = 0.0f, acc[d] = 0.0f;
    for (int s = 0; s < nvis; s++)
        for (int d = 0; d < D; d++) {
            float x = k[s * ks + d] * w[s];
            m[d] = x > m[d] ? x : m[d];
        }
    for (int s = 0; s < nvis; s++)
        for (int d = 0; d < D; d++) {
            float e = exp_approx(k[s * ks + d] * w[s] - m[d]);
            z[d] += e;
            acc[d] += e * v[s * lv + d];
        }
    for (int d = 0; d < D; d++)
        o[d] = sigmoid(q[d]) * acc[d] / z[d];
    if (!a)
        return;
    for (int s = 0; s < nvis; s++) { /* the weights of row l, averaged over channels */
        float t = 0.0f;
        for (int d = 0; d < D; d++)
            t += exp_approx(k[s * ks + d] * w[s] - m[d]) / z[d];
        a[s] = t / (float)D;
    }
}

static void aft_full_head(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    const int L = sh->L, S = sh->S, D = sh->D, P = sh->aft_rank;
    const int64_t qs = xf_ldq(sh), ks = xf_ldk(sh), lv = xf_ldv(sh), vs = (int64_t)sh->H * D;
    /* rows of w per block: what this worker's scratch holds besides m, z, acc */
    int64_t fit = (xf__attention_scratch_one(sh) - 3 * (int64_t)D) / (S > 0 ? S : 1);
    const int B = fit < 1 ? 1 : fit < block_rows(sh) ? (int)fit : block_rows(sh);
    float *m = scratch, *z = m + D, *acc = z + D, *w = acc + D;
    for (int l0 = 0; l0 < L; l0 += B) {
        int rows = L - l0 < B ? L - l0 : B;
        xf_gemm(XF_NOTRANS, XF_TRANS, rows, S, P, 1.0f, sh->aft_u + (int64_t)l0 * P, P, sh->aft_v,
                P, 0.0f, w, S);
        for (int i = 0; i < rows; i++) {
            int l = l0 + i, nvis = sh->causal && l + 1 < hv->klen ? l + 1 : hv->klen;
            float *a = hv->a ? hv->a + (int64_t)l * S : NULL;
            if (a)
                memset(a, 0, (size_t)S * sizeof(float));
            aft_full_row(hv->o + l * vs, a, hv->q + l * qs, hv->k, hv->v, w + (int64_t)i * S, nvis,
                         D, ks, lv, m, z, acc);
        }
    }
}

/* aft_simple, not causal: one softmax over the visible keys per channel. */
static void aft_simple_all(const head_view *hv, const xf_attn_shape *sh, float *m, float *z,
                           float *acc) {
    const int L = sh->L, S = sh->S, D = sh->D, n = hv->klen;
    const int64_t qs = xf_ldq(sh), ks = xf_ldk(sh), lv = xf_ldv(sh), vs = (int64_t)sh->H * D;
    for (int d = 0; d < D; d++)
        m[d] = -3.0e38f, z[d] = 0.0f, acc[d] = 0.0f;
    for (int s = 0; s < n; s++)
        for (int d = 0; d < D; d++)
            m[d] = hv->k[s * ks + d] > m[d] ? hv->k[s * ks + d] : m[d];
    for (int s = 0; s < n; s++)
        for (int d = 0; d < D; d++) {
            float e = exp_approx(hv->k[s * ks + d] - m[d]);
            z[d] += e;
            acc[d] += e * hv->v[s * lv + d];
        }
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++)
            hv->o[l * vs + d] = sigmoid(hv->q[l * qs + d]) * acc[d] / z[d];
    if (!hv->a)
        return;
    float *a0 = hv->a;
    memset(a0, 0, (size_t)S * sizeof(float));
    for (int s = 0; s < n; s++) {
        float t = 0.0f;
        for (int d = 0; d < D; d++)
            t += exp_approx(hv->k[s * ks + d] - m[d]) / z[d];
        a0[s] = t / (float)D;
    }
    for (int l = 1; l < L; l++)
        memcpy(hv->a + (int64_t)l * S, a0, (size_t)S * sizeof(float));
}

/* aft_simple, causal, as fast-transformers' code: out[l] = σ(q[l]) Σ_{j≤l} (e_j / c_j) v_j. */
static void aft_simple_causal(const head_view *hv, const xf_attn_shape *sh, float *m, float *c,
                              float *acc) {
    const int L = sh->L, S = sh->S, D = sh->D, n = hv->klen;
    const int64_t qs = xf_ldq(sh), ks = xf_ldk(sh), lv = xf_ldv(sh), vs = (int64_t)sh->H * D;
    for (int d = 0; d < D; d++)
        m[d] = -3.0e38f, c[d] = 0.0f, acc[d] = 0.0f;
    for (int s = 0; s < n; s++)
        for (int d = 0; d < D; d++)
            m[d] = hv->k[s * ks + d] > m[d] ? hv->k[s * ks + d] : m[d];
    if (hv->a)
        memset(hv->a, 0, (size_t)L * (size_t)S * sizeof(float));
    for (int l = 0; l < L; l++) {
        float t = 0.0f;
        for (int d = 0; l < n && d < D; d++) { /* key l joins the prefix */
            float e = exp_approx(hv->k[l * ks + d] - m[d]);
            c[d] += e;
            float r = e / c[d];
            acc[d] += r * hv->v[l * lv + d];
            t += r;
        }
        for (int d = 0; d < D; d++) /* rows past the length keep the prefix of every key */
            hv->o[l * vs + d] = sigmoid(hv->q[l * qs + d]) * acc[d];
        if (hv->a && l < n) { /* column l of every later row: e_l / c_l averaged */
            for (int r = l; r < L; r++)
                hv->a[(int64_t)r * S + l] = t / (float)D;
        }
    }
}

static void aft_simple_head(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    float *m = scratch, *z = m + sh->D, *acc = z + sh->D;
    if (sh->causal)
        aft_simple_causal(hv, sh, m, z, acc);
    else
        aft_simple_all(hv, sh, m, z, acc);
}

void xf_aft_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                      const xf_attn_shape *sh, float *scratch) {
    int64_t mnk = (int64_t)block_rows(sh) * sh->S * (sh->aft_rank > 0 ? sh->aft_rank : 1);
    xf__attention_heads(sh->aft_u ? aft_full_head : aft_simple_head, sh->aft_u ? mnk : 0, out, attn,
                        q, k, v, sh, scratch);
}
