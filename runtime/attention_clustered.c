/* attention_clustered.c — clustered attention (Vyas et al. 2020) as
 * fast-transformers computes it: ClusteredAttention, ImprovedClusteredAttention
 * and ImprovedClusteredCausalAttention (its code, where it and the paper differ).
 *
 * Per (sample, head):
 *   1. hash: bit b of query l's hash is q_l · a_b[:E] > a_b[E], a = the planes
 *      [bits, E+1] (hash_cpu.cpp); every row, padding included, as there;
 *   2. Hamming k-means (cluster_cpu.cpp): centroids start as the hashes of the
 *      initial positions (the file's, else xf_clustering_positions drawn from
 *      the seed, as fast-transformers' np.random.choice); iterations − 1 rounds of assign + recompute, then a
 *      last assign.  Assign: the nearest centroid by popcount(h ⊕ c), the first
 *      on ties, for valid queries only.  Recompute: per bit, 1 where most members
 *      have 1.  An empty cluster keeps its centroid (fast-transformers redraws it
 *      from a std::mt19937 seeded by std::random_device on every call: not
 *      reproducible by anyone, docs/DSL.md; tests/fixtures/gen/ft_empty_clusters.py);
 *   3. query centroids qc = the mean of each cluster's queries;
 *   4. clustered: A_c = softmax(temp · qc kᵀ) over the visible keys, out_l = A_c v
 *      for l in cluster c;
 *      improved: top_c = the topk keys of the largest qc·k (ties: lowest keys);
 *      out_l = Σ_{s∉top_c} A_c[s] v_s + (1 − m_c) Σ_{j∈top_c} softmax_j(temp q_l·k_j) v_j,
 *      m_c = Σ_{s∉top_c} A_c[s];
 *      causal improved: out_l = Σ_{j∈top_c, j≤l} softmax(temp q_l·k_j) v_j only (0
 *      when every top key is in l's future).
 *   topk is min(topk, visible keys); fast-transformers' improved takes
 *   min(topk, S) and masks slots by where cluster 0 of head 0 had −inf (the same
 *   when topk ≤ every length), its causal one min(topk, the batch's shortest
 *   key length): here too.
 *
 * Cost: L·bits·E (hash GEMM), iterations · L · C popcounts, C·S·E (the centroids'
 * GEMMs) and, improved, L·topk·(E + D): no L×S term.  `attn`, when given, gets
 * each query's applied row.  Thread-safe; the (sample, head) loop is the
 * driver's (attention.c).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "xf_blas.h"
#include "xf_kernels.h"
#include "xf_simd.h"

enum { HASH_ROWS = 64 }; /* rows of query projections per hashing GEMM */

/* One head's scratch (clustered_scratch in xf_simd.h gives its size). */
typedef struct {
    uint64_t *hash; /* [L] query hashes */
    int *group;     /* [L] cluster of each valid query */
    uint64_t *cent; /* [C] centroid hashes */
    int *count;     /* [C] populations */
    int *ones;      /* [C, 64] members with each bit set */
    float *qc;      /* [C, E] query centroids */
    float *sc;      /* [C, S] centroid scores, then probabilities */
    float *vc;      /* [C, D] the centroids' outputs */
    int *top;       /* [C, topk] improved: each cluster's top keys */
    float *bottom;  /* [C] improved: the mass outside them */
    float *proj;    /* [HASH_ROWS, 64] hash projections */
    float *w;       /* [topk] one query's weights */
    int *order;     /* [L] improved: the valid queries, cluster by cluster */
    int *start;     /* [C + 1] improved: where each cluster's begin in order */
    float *kt;      /* [E, topk] improved: one cluster's top keys, transposed */
    float *vt;      /* [topk, D] improved: their values */
} clu_buf;

static clu_buf carve(float *p, const xf_attn_shape *sh) {
    const xf_clustering *c = sh->clustering;
    int64_t L = sh->L, C = c->clusters, S = sh->S;
    clu_buf b;
    p = (float *)(((uintptr_t)p + 7) & ~(uintptr_t)7); /* a worker's slice may start odd */
    b.hash = (uint64_t *)p, p += 2 * L;
    b.cent = (uint64_t *)p, p += 2 * C;
    b.group = (int *)p, p += L;
    b.count = (int *)p, p += C;
    b.ones = (int *)p, p += 64 * C;
    b.qc = p, p += C * sh->E;
    b.sc = p, p += C * S;
    b.vc = p, p += C * sh->D;
    b.top = (int *)p, p += C * c->topk;
    b.bottom = p, p += C;
    b.proj = p, p += HASH_ROWS * 64;
    b.w = p, p += c->topk;
    b.order = (int *)p, p += L;
    b.start = (int *)p, p += C + 1;
    b.kt = p, p += (int64_t)sh->E * c->topk;
    b.vt = p;
    return b;
}

/* ---- hashing and the Hamming k-means -------------------------------------- */

/* hash[0..L): one GEMM of HASH_ROWS rows against the planes, then each
 * projection compared with its plane's threshold into one bit. */
static void hash_queries(uint64_t *hash, float *proj, const float *q, const xf_attn_shape *sh) {
    const xf_clustering *c = sh->clustering;
    const int qs = (int)xf_ldq(sh), E1 = sh->E + 1;
    for (int l0 = 0; l0 < sh->L; l0 += HASH_ROWS) {
        int rows = sh->L - l0 < HASH_ROWS ? sh->L - l0 : HASH_ROWS;
        xf_gemm(XF_NOTRANS, XF_TRANS, rows, c->bits, sh->E, 1.0f, q + (int64_t)l0 * qs, qs,
                c->planes, E1, 0.0f, proj, 64);
        for (int i = 0; i < rows; i++) {
            uint64_t h = 0;
            for (int b = 0; b < c->bits; b++)
                h |= (uint64_t)(proj[i * 64 + b] > c->planes[(int64_t)b * E1 + sh->E]) << b;
            hash[l0 + i] = h;
        }
    }
}

/* The nearest centroid to h (the first of the nearest, as cluster_cpu.cpp's
 * strict <): the minimum over k < C of popcount(h ⊕ cent[k]) · 2¹⁶ + k, one
 * vectorizable reduction (C ≤ 65536).  Compiled for VPOPCNTQ (AVX-512,
 * eight centroids an instruction), for POPCNT, and for plain x86-64
 * (libgcc's bit tricks), picked per head. */
#define NEAREST_BODY                                                                               \
    uint32_t best = UINT32_MAX;                                                                    \
    for (int k = 0; k < C; k++) {                                                                  \
        uint32_t key = (uint32_t)__builtin_popcountll(h ^ cent[k]) << 16 | (uint32_t)k;            \
        best = key < best ? key : best;                                                            \
    }                                                                                              \
    return (int)(best & 0xffff);
typedef int (*nearest_fn)(uint64_t h, const uint64_t *cent, int C);
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("avx512f,avx512vl,avx512vpopcntdq,prefer-vector-width=512"))) static int
nearest_vpopcnt(uint64_t h, const uint64_t *cent, int C) {
    NEAREST_BODY
}
__attribute__((target("popcnt"))) static int nearest_popcnt(uint64_t h, const uint64_t *cent,
                                                            int C) {
    NEAREST_BODY
}
#endif
static int nearest_plain(uint64_t h, const uint64_t *cent, int C) {
    NEAREST_BODY
}

static nearest_fn pick_nearest(void) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    if (__builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("avx512vl"))
        return nearest_vpopcnt;
    if (__builtin_cpu_supports("popcnt"))
        return nearest_popcnt;
#endif
    return nearest_plain;
}

/* group[l] = the nearest centroid of hash l, l < n. */
static void assign(int *group, const uint64_t *hash, int n, const uint64_t *cent, int C) {
    nearest_fn nearest = pick_nearest();
    for (int l = 0; l < n; l++)
        group[l] = nearest(hash[l], cent, C);
}

/* ones[b] += bit b of h, b < 64: a fixed-length loop GCC vectorizes. */
XF_INLINE void add_bits(int *ones, uint64_t h) {
    for (int b = 0; b < 64; b++)
        ones[b] += (int)((h >> b) & 1);
}

/* Each non-empty centroid: bit b set where more than half its members have
 * it (ties 0, as cluster_cpu.cpp's counts[b] > 0).  ones: [C, 64] ints. */
XF_CLONES
static void recompute(uint64_t *cent, int *count, int *ones, const int *group, const uint64_t *hash,
                      int n, int C) {
    memset(count, 0, (size_t)C * sizeof(int));
    memset(ones, 0, (size_t)C * 64 * sizeof(int));
    for (int l = 0; l < n; l++) {
        count[group[l]]++;
        add_bits(ones + group[l] * 64, hash[l]);
    }
    for (int k = 0; k < C; k++) {
        if (!count[k])
            continue; /* empty: keeps its centroid (see the top of the file) */
        uint64_t c = 0;
        for (int b = 0; b < 64; b++)
            c |= (uint64_t)(2 * ones[k * 64 + b] > count[k]) << b;
        cent[k] = c;
    }
}

void xf_clustering_positions(int *pos, int C, int L, uint64_t seed) {
    uint64_t state = seed;
    int taken = 0;
    for (int l = 0; l < L && taken < C; l++) {
        double u = (double)(xf_splitmix64(&state) >> 11) * 0x1.0p-53; /* [0, 1) */
        if (u * (double)(L - l) < (double)(C - taken))
            pos[taken++] = l;
    }
    for (int k = taken; k < C; k++)
        pos[k] = k % L;
}

/* group[0..n) and count[C] of one head's n valid queries. */
static void kmeans(clu_buf *b, const xf_attn_shape *sh, int n) {
    const xf_clustering *c = sh->clustering;
    const int C = c->clusters;
    if (!c->initial) /* drawn, the same for every sample and head as there; count as the room */
        xf_clustering_positions(b->count, C, sh->L, c->seed);
    for (int k = 0; k < C; k++)
        b->cent[k] = b->hash[c->initial ? (int64_t)c->initial[k] % sh->L : b->count[k]];
    for (int it = 1; it < c->iterations; it++) {
        assign(b->group, b->hash, n, b->cent, C);
        recompute(b->cent, b->count, b->ones, b->group, b->hash, n, C);
    }
    assign(b->group, b->hash, n, b->cent, C);
    memset(b->count, 0, (size_t)C * sizeof(int));
    for (int l = 0; l < n; l++)
        b->count[b->group[l]]++;
}

/* ---- the centroids' attention ----------------------------------------------- */

/* qc[k] = the mean of cluster k's queries (0 when empty). */
static void centroids(float *qc, const int *group, const int *count, const float *q, int n,
                      const xf_attn_shape *sh, int C) {
    const int E = sh->E;
    const int64_t qs = xf_ldq(sh);
    memset(qc, 0, (size_t)C * E * sizeof(float));
    for (int l = 0; l < n; l++) {
        float *dst = qc + (int64_t)group[l] * E, f = 1.0f / (float)count[group[l]];
        const float *src = q + (int64_t)l * qs;
        for (int e = 0; e < E; e++)
            dst[e] += src[e] * f; /* as clustered_aggregate: each query times 1/count */
    }
}

/* sc[C, klen] (rows S apart) = qc kᵀ over the visible keys (raw: the top-k
 * of improved attention ranks these, as fast-transformers does). */
static void centroid_scores(float *sc, const float *qc, const float *k, int klen,
                            const xf_attn_shape *sh, int C) {
    xf_gemm(XF_NOTRANS, XF_TRANS, C, klen, sh->E, 1.0f, qc, sh->E, k, (int)xf_ldk(sh), 0.0f, sc,
            sh->S);
}

/* Rows of sc = softmax(temp · sc) over the visible keys. */
static void centroid_softmax(float *sc, int klen, const xf_attn_shape *sh, int C) {
    for (int c = 0; c < C; c++) {
        float *r = sc + (int64_t)c * sh->S;
        scale(r, klen, sh->temp);
        scale(r, klen, 1.0f / softmax_exp(r, klen));
    }
}

/* Output rows of every valid query: its cluster's vc row; `attn` rows: its
 * cluster's sc row (zeros past klen). */
static void broadcast(const head_view *hv, const clu_buf *b, const xf_attn_shape *sh, int n) {
    const int64_t vs = (int64_t)sh->H * sh->D;
    for (int l = 0; l < n; l++) {
        memcpy(hv->o + l * vs, b->vc + (int64_t)b->group[l] * sh->D, (size_t)sh->D * sizeof(float));
        if (hv->a) {
            float *ar = hv->a + (int64_t)l * sh->S;
            memcpy(ar, b->sc + (int64_t)b->group[l] * sh->S, (size_t)hv->klen * sizeof(float));
            memset(ar + hv->klen, 0, (size_t)(sh->S - hv->klen) * sizeof(float));
        }
    }
}

/* ---- improved: each query's own softmax over its cluster's top keys --------- */

/* The top kk keys of every cluster by raw qc·k (sc before the softmax). */
static void cluster_topk(int *top, const float *sc, int klen, int kk, int C, int64_t S, int tk) {
    for (int c = 0; c < C; c++)
        xf__topk_indices(top + (int64_t)c * tk, sc + c * S, klen, kk);
}

/* w[kk] = temp · q·k_j for the packed keys kt [E, kk] (transposed: the inner
 * loop runs over the kk keys, a vector wide). */
XF_CLONES
static void top_scores(float *w, const float *q, const float *kt, int E, int kk, float temp) {
    memset(w, 0, (size_t)kk * sizeof(float));
    for (int e = 0; e < E; e++) {
        const float qe = q[e], *row = kt + (int64_t)e * kk;
        for (int j = 0; j < kk; j++)
            w[j] += qe * row[j];
    }
    for (int j = 0; j < kk; j++)
        w[j] *= temp;
}

/* w[kk] = softmax of the scores, restricted (causal) to keys top[j] ≤ l; all 0
 * when none is left. */
static void top_softmax(float *w, const int *top, int kk, int l, int causal) {
    float mx = -INFINITY, sum = 0.0f;
    for (int j = 0; j < kk; j++)
        if (!causal || top[j] <= l)
            mx = w[j] > mx ? w[j] : mx;
    if (mx == -INFINITY) {
        memset(w, 0, (size_t)kk * sizeof(float));
        return;
    }
    for (int j = 0; j < kk; j++)
        sum += w[j] = causal && top[j] > l ? 0.0f : exp_approx(w[j] - mx);
    scale(w, kk, 1.0f / sum);
}

/* o[D] += Σ_j w[j] · keep · vt[j] (vt [kk, D] packed). */
XF_CLONES
static void top_values(float *o, const float *w, float keep, const float *vt, int kk, int D) {
    for (int j = 0; j < kk; j++) {
        const float wj = w[j] * keep, *vj = vt + (int64_t)j * D;
        for (int d = 0; d < D; d++)
            o[d] += wj * vj[d];
    }
}

/* Non-causal: the centroid's probabilities off its top keys (sc rows zeroed
 * there, their sum the bottom mass) and vc = those rows times v. */
static void bottom_part(clu_buf *b, const float *v, int klen, int kk, int C,
                        const xf_attn_shape *sh) {
    const int tk = sh->clustering->topk;
    for (int c = 0; c < C; c++) {
        float *r = b->sc + (int64_t)c * sh->S;
        for (int j = 0; j < kk; j++)
            r[b->top[c * tk + j]] = 0.0f;
        float m = 0.0f;
        for (int s = 0; s < klen; s++)
            m += r[s];
        b->bottom[c] = m;
    }
    xf_gemm(XF_NOTRANS, XF_NOTRANS, C, sh->D, klen, 1.0f, b->sc, sh->S, v, (int)xf_ldv(sh), 0.0f,
            b->vc, sh->D);
}

/* order[start[c] .. start[c+1]) = the valid queries of cluster c. */
static void cluster_members(int *order, int *start, const int *group, const int *count, int n,
                            int C) {
    start[0] = 0;
    for (int c = 0; c < C; c++)
        start[c + 1] = start[c] + count[c];
    for (int l = 0; l < n; l++)
        order[start[group[l]]++] = l;
    for (int c = C; c > 0; c--) /* the loop above left start[c] at start[c + 1] */
        start[c] = start[c - 1];
    start[0] = 0;
}

/* One query l of cluster c: its bottom part (non-causal: vc's row, the
 * centroid's attention off the top keys) plus its own top part. */
static void improved_row(const head_view *hv, const clu_buf *b, int c, int l, int kk,
                         const xf_attn_shape *sh) {
    const int tk = sh->clustering->topk, *top = b->top + c * tk;
    float *o = hv->o + (int64_t)l * sh->H * sh->D, *ar = hv->a ? hv->a + (int64_t)l * sh->S : NULL;
    top_scores(b->w, hv->q + (int64_t)l * xf_ldq(sh), b->kt, sh->E, kk, sh->temp);
    top_softmax(b->w, top, kk, l, sh->causal);
    float keep = sh->causal ? 1.0f : 1.0f - b->bottom[c];
    if (sh->causal)
        memset(o, 0, (size_t)sh->D * sizeof(float));
    else
        memcpy(o, b->vc + (int64_t)c * sh->D, (size_t)sh->D * sizeof(float));
    top_values(o, b->w, keep, b->vt, kk, sh->D);
    if (!ar)
        return;
    if (sh->causal)
        memset(ar, 0, (size_t)sh->S * sizeof(float));
    else {
        memcpy(ar, b->sc + (int64_t)c * sh->S, (size_t)hv->klen * sizeof(float));
        memset(ar + hv->klen, 0, (size_t)(sh->S - hv->klen) * sizeof(float));
    }
    for (int j = 0; j < kk; j++)
        ar[top[j]] = b->w[j] * keep;
}

/* Every valid query, cluster by cluster: the cluster's top keys packed once
 * (kt transposed [E, kk], vt [kk, D]), then each member's row. */
static void improved_rows(const head_view *hv, clu_buf *b, int kk, int n, const xf_attn_shape *sh) {
    const int C = sh->clustering->clusters, tk = sh->clustering->topk;
    const int64_t ks = xf_ldk(sh), lv = xf_ldv(sh);
    cluster_members(b->order, b->start, b->group, b->count, n, C);
    for (int c = 0; c < C; c++) {
        if (!b->count[c])
            continue;
        const int *top = b->top + c * tk;
        for (int j = 0; j < kk; j++) {
            const float *kj = hv->k + top[j] * ks;
            for (int e = 0; e < sh->E; e++)
                b->kt[(int64_t)e * kk + j] = kj[e];
            memcpy(b->vt + (int64_t)j * sh->D, hv->v + top[j] * lv, (size_t)sh->D * sizeof(float));
        }
        for (int i = b->start[c]; i < b->start[c] + b->count[c]; i++)
            improved_row(hv, b, c, b->order[i], kk, sh);
    }
}

/* ---- one (sample, head), the driver's entry --------------------------------- */

/* kk: the keys each cluster keeps, fast-transformers' rule (top of the file). */
static int keys_kept(const xf_attn_shape *sh, int klen) {
    int kk = sh->clustering->topk, lim = klen;
    if (sh->causal && sh->key_len)
        for (int n = 0; n < sh->N; n++)
            lim = sh->key_len[n] < lim ? sh->key_len[n] : lim;
    kk = kk < lim ? kk : lim;
    return kk > 0 ? kk : 0;
}

static void clustered_head(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    const xf_clustering *c = sh->clustering;
    const int C = c->clusters, n = hv->qlen, klen = hv->klen;
    const int64_t vs = (int64_t)sh->H * sh->D;
    clu_buf b = carve(scratch, sh);
    zero_rows(hv->o + n * vs, hv->a ? hv->a + (int64_t)n * sh->S : NULL, sh, sh->L - n);
    if (n == 0)
        return;
    hash_queries(b.hash, b.proj, hv->q, sh);
    kmeans(&b, sh, n);
    centroids(b.qc, b.group, b.count, hv->q, n, sh, C);
    centroid_scores(b.sc, b.qc, hv->k, klen, sh, C);
    int kk = c->topk ? keys_kept(sh, klen) : 0;
    if (kk)
        cluster_topk(b.top, b.sc, klen, kk, C, sh->S, c->topk);
    centroid_softmax(b.sc, klen, sh, C);
    if (!c->topk) {
        xf_gemm(XF_NOTRANS, XF_NOTRANS, C, sh->D, klen, 1.0f, b.sc, sh->S, hv->v, (int)xf_ldv(sh),
                0.0f, b.vc, sh->D);
        broadcast(hv, &b, sh, n);
        return;
    }
    if (!sh->causal)
        bottom_part(&b, hv->v, klen, kk, C, sh);
    improved_rows(hv, &b, kk, n, sh);
}

/* out[N,L,H,D]; attn [N,H,L,S] or NULL; scratch: xf_attention_scratch(sh). */
void xf_clustered_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                            const xf_attn_shape *sh, float *scratch) {
    if (!sh->clustering || sh->clustering->clusters <= 0)
        return;
    int64_t mnk = (int64_t)sh->clustering->clusters * sh->S * (sh->E > sh->D ? sh->E : sh->D);
    xf__attention_heads(clustered_head, mnk, out, attn, q, k, v, sh, scratch);
}
