/* attention_reformer.c — LSH attention as fast-transformers' ReformerAttention
 * computes it (reformer_attention.py; Kitaev et al. 2020, "Reformer").
 *
 * Per (sample, head), with the queries as keys (shared QK):
 *
 *   K = q / |q|, zero past the key length;
 *   per round r of `rounds`, with planes P_r [bits, E] (the weight file's or
 *   drawn, xf_model.h):
 *     hash_i  = argmax over [K_i P_rᵀ, −K_i P_rᵀ] (2·bits buckets, the first
 *               maximum, as torch.argmax);
 *     order   = the positions sorted by hash — stably: equal hashes keep
 *               sequence order (fast-transformers' torch.argsort leaves that
 *               unspecified; SPEC §9 fixes it);
 *     chunk b = positions order[bC, (b+1)C), C = chunk_size; its queries see
 *               the keys of chunk b−1 and then chunk b (2C; chunk 0's first C
 *               are zero keys and values, masked);
 *     mask    = key lengths (−inf), the diagonal −1e9 when `masked`, the
 *               FullMask and causal (−inf); a row whose every entry is −inf
 *               is unmasked entirely (fast-transformers: "it doesn't matter
 *               what the output is at those positions"), zero keys included;
 *     out_r   = softmax(temp · (q kᵀ + mask)) v over those 2C keys;
 *   out = Σ_r out_r / rounds.
 *
 * The sequence must be a whole number of chunks (fast-transformers' view
 * fails otherwise; the generated forward refuses such calls); a shorter last
 * chunk is handled anyway.  The AttentionEvent matrix is the average over the
 * rounds of each round's weights scattered back to [L, L] (zero keys
 * dropped).
 *
 * Algorithm: the normalized keys of the head are formed once; one GEMM per
 * block of REFORMER_HASH_ROWS rows projects them on every round's planes at
 * once and a branch-free pass takes each argmax; a counting sort over the
 * 2·bits buckets orders the positions (O(L), stable); each chunk gathers its
 * C queries and 2C keys and values into contiguous tiles and runs two small
 * GEMMs (C × 2C × E and C × D × 2C), so a round costs O(L · C · (E + D)), not
 * O(L²).  Allocation-free (scratch: reformer_scratch, xf_simd.h); the
 * (sample, head) loop and its threads are the driver's (attention.c).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "xf_blas.h"
#include "xf_kernels.h"
#include "xf_simd.h"

/* A worker's scratch, carved in reformer_scratch's order. */
typedef struct {
    float *kn;      /* [L, E]         normalized queries (the keys), 0 past the length */
    int32_t *hash;  /* [rounds, L]    bucket of every position, per round */
    int32_t *order; /* [L]            positions in bucket order (one round) */
    int32_t *count; /* [2·bits + 1]   the counting sort's bucket starts */
    int32_t *keys;  /* [2C]           one chunk's key positions (-1: a zero key), its
                                       queries' the last C */
    float *proj;    /* [HASH_ROWS, rounds·bits] one block of projections (aliases the tiles) */
    float *qc, *kc; /* [C, E], [2C, E] one chunk's queries, its 2C keys */
    float *vc, *p;  /* [2C, D], [C, 2C] their values, the scores then weights */
    float *oc, *m;  /* [C, D], [2C]    the chunk's outputs, one row's mask */
} reformer_work;

static reformer_work carve(float *s, const xf_attn_shape *sh) {
    const int64_t L = sh->L, E = sh->E, D = sh->D, C = sh->chunk_size;
    reformer_work w;
    w.kn = s;
    s += L * E;
    w.hash = (int32_t *)s;
    s += (int64_t)sh->rounds * L;
    w.order = (int32_t *)s;
    s += L;
    w.count = (int32_t *)s;
    s += 2 * (int64_t)sh->bits + 1;
    w.keys = (int32_t *)s;
    s += 2 * C;
    w.proj = s; /* the hashing is over before the chunks start */
    w.qc = s;
    w.kc = w.qc + C * E;
    w.vc = w.kc + 2 * C * E;
    w.p = w.vc + 2 * C * D;
    w.oc = w.p + 2 * C * C;
    w.m = w.oc + C * D;
    return w;
}

/* kn[l] = q_l / |q_l| for l < klen, 0 after (fast-transformers' _normalize,
 * then K * key_lengths.float_matrix). */
XF_CLONES
static void normalize_keys(float *kn, const float *q, int64_t qs, int L, int E, int klen) {
    for (int l = 0; l < L; l++) {
        const float *ql = q + l * qs;
        float *kl = kn + (int64_t)l * E;
        float ss = 0.0f;
        for (int e = 0; e < E; e++)
            ss += ql[e] * ql[e];
        float norm = sqrtf(ss);
        for (int e = 0; e < E; e++)
            kl[e] = l < klen ? ql[e] / norm : 0.0f;
    }
}

/* The bucket of one projection row p [bits]: the index of the first maximum
 * of [p, −p] (torch.argmax over torch.cat([projected, -projected])). */
static int32_t bucket(const float *p, int bits) {
    float best = p[0];
    int32_t at = 0;
    for (int b = 1; b < bits; b++)
        if (p[b] > best)
            best = p[b], at = b;
    for (int b = 0; b < bits; b++)
        if (-p[b] > best)
            best = -p[b], at = bits + b;
    return at;
}

/* hash[r, l] for every round r and position l: one GEMM per block of rows
 * against all rounds' planes [rounds·bits, E]. */
static void hash_positions(const reformer_work *w, const xf_attn_shape *sh) {
    const int L = sh->L, E = sh->E, R = sh->rounds, bits = sh->bits, RB = R * bits;
    for (int l0 = 0; l0 < L; l0 += REFORMER_HASH_ROWS) {
        int rows = L - l0 < REFORMER_HASH_ROWS ? L - l0 : REFORMER_HASH_ROWS;
        xf_gemm(XF_NOTRANS, XF_TRANS, rows, RB, E, 1.0f, w->kn + (int64_t)l0 * E, E, sh->planes, E,
                0.0f, w->proj, RB);
        for (int i = 0; i < rows; i++)
            for (int r = 0; r < R; r++)
                w->hash[(int64_t)r * L + l0 + i] =
                    bucket(w->proj + (int64_t)i * RB + r * bits, bits);
    }
}

/* order = the positions sorted by hash, equal hashes in sequence order
 * (a counting sort over the 2·bits buckets). */
static void sort_by_bucket(int32_t *order, int32_t *count, const int32_t *hash, int L, int bits) {
    const int nb = 2 * bits;
    memset(count, 0, (size_t)(nb + 1) * sizeof *count);
    for (int l = 0; l < L; l++)
        count[hash[l] + 1]++;
    for (int b = 0; b < nb; b++)
        count[b + 1] += count[b];
    for (int l = 0; l < L; l++)
        order[count[hash[l]]++] = l;
}

/* The mask row of query position qi over the chunk's keys at positions
 * key[j] (-1: a zero key), in fast-transformers' order of additions: key
 * lengths, the −1e9 diagonal, the FullMask; causal as −inf.  A row of −inf
 * only is unmasked entirely. */
static void mask_row(float *m, const int32_t *key, int n, int qi, const head_view *hv,
                     const xf_attn_shape *sh) {
    int all_inf = 1;
    for (int j = 0; j < n; j++) {
        int kj = key[j];
        float x;
        if (kj < 0) {
            x = -INFINITY;
        } else {
            x = kj < hv->klen ? 0.0f : -INFINITY;
            if (sh->masked && kj == qi)
                x += -1e9f;
            if (hv->mask)
                x += hv->mask[(int64_t)qi * sh->S + kj];
            if (sh->causal && kj > qi)
                x = -INFINITY;
        }
        m[j] = x;
        all_inf &= isinf(x) != 0;
    }
    if (all_inf)
        memset(m, 0, (size_t)n * sizeof *m);
}

/* Copies rows pos[0..n) (stride ld, `cols` wide) of src into dst (packed);
 * pos < 0: a zero row. */
static void gather(float *dst, const float *src, int64_t ld, const int32_t *pos, int n, int cols) {
    for (int j = 0; j < n; j++) {
        float *d = dst + (int64_t)j * cols;
        if (pos[j] < 0)
            memset(d, 0, (size_t)cols * sizeof *d);
        else
            memcpy(d, src + pos[j] * ld, (size_t)cols * sizeof *d);
    }
}

/* One chunk of one round: its `nq` queries at positions order[q0..), the
 * keys before them (chunk b−1, or zero keys for chunk 0) and their own; the
 * weights go to the output rows (and attn) times `factor`. */
static void attend_chunk(const reformer_work *w, const head_view *hv, const xf_attn_shape *sh,
                         int q0, int nq, float factor) {
    const int C = sh->chunk_size, E = sh->E, D = sh->D, n = C + nq;
    const int64_t qs = xf_ldq(sh), lv = xf_ldv(sh), vs = (int64_t)sh->H * sh->D;
    int32_t *keys = w->keys;
    for (int j = 0; j < C; j++)
        keys[j] = q0 >= C ? w->order[q0 - C + j] : -1;
    for (int j = 0; j < nq; j++)
        keys[C + j] = w->order[q0 + j];
    gather(w->qc, hv->q, qs, keys + C, nq, E);
    gather(w->kc, w->kn, E, keys, n, E);
    gather(w->vc, hv->v, lv, keys, n, D);
    xf_gemm(XF_NOTRANS, XF_TRANS, nq, n, E, 1.0f, w->qc, E, w->kc, E, 0.0f, w->p, n);
    for (int i = 0; i < nq; i++) {
        float *pi = w->p + (int64_t)i * n;
        mask_row(w->m, keys, n, keys[C + i], hv, sh);
        for (int j = 0; j < n; j++)
            pi[j] = sh->temp * (pi[j] + w->m[j]);
        scale(pi, n, 1.0f / softmax_exp(pi, n));
    }
    xf_gemm(XF_NOTRANS, XF_NOTRANS, nq, D, n, 1.0f, w->p, n, w->vc, D, 0.0f, w->oc, D);
    for (int i = 0; i < nq; i++) {
        float *o = hv->o + keys[C + i] * vs;
        const float *oi = w->oc + (int64_t)i * D;
        for (int d = 0; d < D; d++)
            o[d] += factor * oi[d];
        if (!hv->a)
            continue;
        float *a = hv->a + (int64_t)keys[C + i] * sh->S;
        for (int j = 0; j < n; j++)
            if (keys[j] >= 0)
                a[keys[j]] += factor * w->p[(int64_t)i * n + j];
    }
}

/* Every round of one (sample, head), klen ≥ 1. */
static void reformer_head(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    const int L = sh->L, C = sh->chunk_size;
    const int64_t vs = (int64_t)sh->H * sh->D;
    reformer_work w = carve(scratch, sh);
    for (int l = 0; l < L; l++)
        memset(hv->o + l * vs, 0, (size_t)sh->D * sizeof(float));
    if (hv->a)
        memset(hv->a, 0, (size_t)L * (size_t)sh->S * sizeof(float));
    normalize_keys(w.kn, hv->q, xf_ldq(sh), L, sh->E, hv->klen);
    hash_positions(&w, sh);
    const float factor = 1.0f / (float)sh->rounds;
    for (int r = 0; r < sh->rounds; r++) {
        sort_by_bucket(w.order, w.count, w.hash + (int64_t)r * L, L, sh->bits);
        for (int q0 = 0; q0 < L; q0 += C)
            attend_chunk(&w, hv, sh, q0, L - q0 < C ? L - q0 : C, factor);
    }
}

/* out[N,L,H,D] = reformer attention of q (as keys) and v; attn [N,H,L,L] or
 * NULL; k is not read (shared QK).  scratch: xf_attention_scratch(sh). */
void xf_reformer_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                           const xf_attn_shape *sh, float *scratch) {
    (void)k;
    if (sh->chunk_size < 1 || sh->rounds < 1 || sh->bits < 1 || !sh->planes || sh->S != sh->L)
        return; /* the compiler never builds such a call (check.c) */
    int64_t C = sh->chunk_size, mnk = C * 2 * C * (sh->E > sh->D ? sh->E : sh->D);
    xf__attention_heads(reformer_head, mnk, out, attn, q, q, v, sh, scratch);
}
