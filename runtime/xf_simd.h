/* xf_simd.h — private helpers shared by the attention kernels
 * (kernels.c, attention.c, attention_linear.c, attention_local.c, attention_topk.c).
 * Not installed, not part of the runtime's API.  gemv.c and generate.c use
 * its clones and prefetch too.
 *
 * Including it changes how the rest of the including file is compiled:
 * GCC's no-trapping-math, without which GCC keeps the compares of a clamp or
 * a select as branches (an ordered compare may raise FE_INVALID) and
 * vectorizes none of the loops; the runtime never reads floating-point
 * exception flags.  Include it before any function definition.
 */
#ifndef XF_SIMD_H
#define XF_SIMD_H

#include <stdint.h>
#include <string.h>

#include "xf_kernels.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
/* Not under GCC's ThreadSanitizer: target clones are ifuncs, resolved before
 * TSan's runtime is up, and the process dies at start. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define XF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define XF_CLONES
#endif
#define XF_INLINE static inline __attribute__((always_inline))

enum { LANES = 16 }; /* accumulators per reduction: one AVX-512 vector */

/* GEMMs of at most this M·N·K run on OpenBLAS's single-threaded small-matrix
 * kernels (its AVX-512 builds: row-major NN calls up to 100³); beyond it
 * OpenBLAS threads them itself.  The attention driver runs heads on the
 * runtime's pool below it. */
enum { SMALL_GEMM = 1000000 };

/* ---- attention blocking (full and top-k; xf_attention_scratch bounds it) -- */

/* query rows per GEMM at least: OpenBLAS repacks all
 * of K and V for every GEMM, so M must amortize it
 * (64 → 128 rows: -15% at seq 4096) */
enum { MIN_BLOCK = 128 };
enum { TILE_FLOATS = 32768 }; /* grow the block to this many scores (128 KiB) */

/* Query rows per block: MIN_BLOCK, or more while the tile stays ~L2-sized,
 * so short sequences (S ≤ 512) run one GEMM pair per head. */
static inline int block_rows(const xf_attn_shape *sh) {
    int64_t b = TILE_FLOATS / (sh->S > 0 ? sh->S : 1);
    if (b < MIN_BLOCK)
        b = MIN_BLOCK;
    if (b > sh->L)
        b = sh->L;
    return b < 1 ? 1 : (int)b;
}

/* ---- one (sample, head) of a call (every kernel) -------------------------- */

/* Row strides of q, k, v (sh->ldq, ldk, ldv, or the contiguous ones). */
static inline int64_t xf_ldq(const xf_attn_shape *sh) {
    return sh->ldq ? sh->ldq : (int64_t)sh->H * sh->E;
}
static inline int64_t xf_ldk(const xf_attn_shape *sh) {
    return sh->ldk ? sh->ldk : (int64_t)sh->H * sh->E;
}
static inline int64_t xf_ldv(const xf_attn_shape *sh) {
    return sh->ldv ? sh->ldv : (int64_t)sh->H * sh->D;
}

/* Where one (sample n, head h) lives: its first query, key, value and output
 * row (rows xf_ldq / xf_ldk / xf_ldv and H·D floats apart: heads are never copied out), its plane
 * of the [N,H,L,S] attention (NULL when not materialized), and how many keys
 * it may see (key_len clamped to 0..S). */
typedef struct {
    const float *q, *k, *v;
    float *o, *a;
    int klen;
    const float *mask; /* this sample's [L, S] additive mask, or NULL */
    int qlen;          /* valid query rows: query_len clamped to 0..L (clustered) */
} head_view;

static inline head_view head_at(const xf_attn_shape *sh, int n, int h, const float *q,
                                const float *k, const float *v, float *out, float *attn) {
    const int64_t L = sh->L, S = sh->S, vs = (int64_t)sh->H * sh->D;
    int klen = sh->key_len ? sh->key_len[n] : sh->S;
    int qlen = sh->query_len ? sh->query_len[n] : sh->L;
    head_view hv = {
        q + n * L * xf_ldq(sh) + (int64_t)h * sh->E,
        k + n * S * xf_ldk(sh) + h * (sh->hsk ? sh->hsk : sh->E),
        v + n * S * xf_ldv(sh) + h * (sh->hsv ? sh->hsv : sh->D),
        out + n * L * vs + (int64_t)h * sh->D,
        attn ? attn + ((int64_t)n * sh->H + h) * L * S : NULL,
        klen < 0       ? 0
        : klen > sh->S ? sh->S
                       : klen,
        sh->mask ? sh->mask + (sh->mask_batched ? n * L * S : 0) : NULL,
        qlen < 0       ? 0
        : qlen > sh->L ? sh->L
                       : qlen,
    };
    return hv;
}

/* Rows with no visible key (key_len 0, or outside a local band): zero
 * output rows (D floats, H·D apart) and, when attention is materialized,
 * zero attention rows (S floats, contiguous). */
static inline void zero_rows(float *o, float *a, const xf_attn_shape *sh, int rows) {
    const int64_t vs = (int64_t)sh->H * sh->D;
    for (int i = 0; i < rows; i++)
        memset(o + i * vs, 0, (size_t)sh->D * sizeof(float));
    if (a)
        memset(a, 0, (size_t)rows * (size_t)sh->S * sizeof(float));
}

/* ---- the attention driver (attention.c) ---------------------------------- */

/* One kernel's work on one (sample, head) whose klen ≥ 1: every query row of
 * hv, with `scratch` (xf__attention_scratch_one floats) to itself. */
typedef void (*head_fn)(const head_view *hv, const xf_attn_shape *sh, float *scratch);

/* The (sample, head) loop of every attention kernel: locates each head
 * (head_at), applies the empty-row rule (klen 0: zero rows), hands each worker
 * its own slice of scratch, and runs the heads on the runtime's pool when the
 * kernel's largest GEMM (gemm_mnk = M·N·K) is one OpenBLAS would not thread
 * itself (≤ SMALL_GEMM), else one after the other with OpenBLAS threading
 * each GEMM — never both, so no oversubscription. */
/* Full attention of one (sample, head) of at most 128 keys, E and D at most 64,
 * no mask and nothing materialized, both products and the softmax in one
 * kernel (attention_short.c, AVX-512): 1 if it ran, 0 (nothing done) when
 * the head or the CPU is not one it takes.  Its scratch, which
 * xf__attention_scratch_one covers: a constant (0 when E or D is above 64). */
int xf__attend_short(const head_view *hv, const xf_attn_shape *sh, float *scratch);
int64_t xf__attention_short_scratch(const xf_attn_shape *sh);

/* The scratch floats of one worker (xf_attention_scratch is this × threads). */
int64_t xf__attention_scratch_one(const xf_attn_shape *sh);

void xf__attention_heads(head_fn fn, int64_t gemm_mnk, float *out, float *attn, const float *q,
                         const float *k, const float *v, const xf_attn_shape *sh, float *scratch);

/* ---- local attention (attention_local.c) --------------------------------- */

/* Query rows per block: about one window, so the B × (B + W − 1) tile the
 * block scores is at least half band; 32 rows at least to amortize the GEMM
 * calls, 128 at most (then the tile is a full-attention tile). */
static inline int local_block_rows(const xf_attn_shape *sh) {
    int b = sh->local_context < 32          ? 32
            : sh->local_context > MIN_BLOCK ? MIN_BLOCK
                                            : sh->local_context;
    b = b > sh->L ? sh->L : b;
    return b < 1 ? 1 : b;
}

/* Tile of B rows × (keys the block can see: B + W − 1, at most S) plus B row
 * sums.  Never above xf_attention_scratch's full-attention bound (B ≤ 128,
 * columns ≤ S), kept explicit anyway. */
static inline int64_t local_scratch(const xf_attn_shape *sh) {
    int64_t L = sh->L > 0 ? sh->L : 0, S = sh->S > 0 ? sh->S : 0;
    int64_t rows = L > 0 ? local_block_rows(sh) : 0;
    int64_t cols = rows + (int64_t)sh->local_context - 1;
    cols = cols > S ? S : cols < 0 ? 0 : cols;
    return rows * cols + rows;
}

/* ---- linear attention (attention_linear.c) ------------------------------- */

/* query rows / keys per GEMM: the causal diagonal tile
 * is B × B, so small blocks waste least (seq 4096,
 * E = D = 64: 32 rows 6 ms, 64: 8 ms, 128: 13 ms) */
enum { LIN_BLOCK = 32 };

/* Scratch layout of xf_linear_attention, Bq = min(L, 32), Bk = min(S, 32):
 *   phq [Bq, E]   φ(q) of one block of query rows, packed
 *   phk [Bk, E]   φ(k) of one block of keys, packed
 *   t   [Bq, Bk]  causal: φ(q)·φ(k)ᵀ inside the diagonal block
 *   kv  [E, D]    Σ φ(k_j) v_jᵀ (causal: over the keys before the block)
 *   ks  [E]       Σ φ(k_j)
 *   den [Bq]      φ(q_i)·Σ φ(k_j) per row
 * Monotone in L and S: both block sizes only grow with them. */
/* Scratch of xf_aft_attention at least: aft_full's w for one row and the
 * D-wide max, sum and accumulator (aft_simple: those three only).  aft_full
 * takes as many rows per block as one worker's scratch holds
 * (xf__attention_scratch_one), so this minimum keeps the bound monotone. */
static inline int64_t aft_scratch(const xf_attn_shape *sh) {
    return (sh->S > 0 ? sh->S : 0) + 3 * (int64_t)(sh->D > 0 ? sh->D : 0);
}

/* Scratch of xf_clustered_attention (attention_clustered.c, which lays it
 * out): per query a hash (2 floats) and a cluster; per cluster a centroid
 * hash (2), population, 64 bit counts, query centroid [E], scores
 * [S], values [D], top-k keys and bottom mass; 64 rows of hash projections;
 * one query's top-k weights; improved: the queries in cluster order, where
 * each cluster starts, one cluster's top keys and values packed; 1 to align
 * the hashes.
 * Linear in L and S, so monotone. */
static inline int64_t clustered_scratch(const xf_attn_shape *sh) {
    if (!sh->clustering || sh->clustering->clusters <= 0)
        return 0;
    int64_t L = sh->L > 0 ? sh->L : 0, S = sh->S > 0 ? sh->S : 0;
    int64_t C = sh->clustering->clusters, k = sh->clustering->topk;
    return 4 * L + C * (69 + sh->E + S + sh->D + k) + 64 * 64 + k * (1 + sh->E + sh->D) + 2;
}

/* The k largest of p[0..n) (1 ≤ k ≤ n): their indices in idx[k], ascending;
 * ties at the k-th value keep the lowest indices (attention_topk.c). */
void xf__topk_indices(int *idx, const float *p, int n, int k);

static inline int64_t linear_scratch(const xf_attn_shape *sh) {
    int64_t L = sh->L > 0 ? sh->L : 0, S = sh->S > 0 ? sh->S : 0;
    int64_t E = sh->E > 0 ? xf_feature_map_dims(sh->fmap, sh->E) : 0, D = sh->D > 0 ? sh->D : 0;
    int64_t bq = L < LIN_BLOCK ? L : LIN_BLOCK, bk = S < LIN_BLOCK ? S : LIN_BLOCK;
    return bq * E + bk * E + bq * bk + E * D + E + bq;
}

/* ---- reformer attention (attention_reformer.c) ---------------------------- */

/* rows per hashing GEMM: with 4 rounds of 63 planes and E = 64 it stays a
 * small product (~0.5 M multiply-adds), so heads run on the runtime's pool */
enum { REFORMER_HASH_ROWS = 32 };

/* Scratch of xf_reformer_attention (its carve() in that file):
 *   kn    [L, E]       the normalized queries (its keys)
 *   hash  [rounds, L]  int32 buckets, order [L] int32, count [2·bits + 1]
 *   keys  [2C]         int32 positions of one chunk's keys
 *   then the larger of one hashing block [HASH_ROWS, rounds·bits] and one
 *   chunk's tiles: qc [C, E], kc [2C, E], vc [2C, D], p [C, 2C], oc [C, D],
 *   m [2C].
 * 0 when sh is not a reformer's; monotone in L (C fixed). */
static inline int64_t reformer_scratch(const xf_attn_shape *sh) {
    if (sh->chunk_size <= 0 || sh->rounds <= 0 || sh->bits <= 0)
        return 0;
    int64_t L = sh->L > 0 ? sh->L : 0, E = sh->E > 0 ? sh->E : 0, D = sh->D > 0 ? sh->D : 0;
    int64_t C = sh->chunk_size, R = sh->rounds, B = sh->bits;
    int64_t hash_rows = L < REFORMER_HASH_ROWS ? L : REFORMER_HASH_ROWS;
    int64_t hashing = hash_rows * R * B;
    int64_t chunk = C * E + 2 * C * E + 2 * C * D + 2 * C * C + C * D + 2 * C;
    return L * E + R * L + L + 2 * B + 1 + 2 * C + (hashing > chunk ? hashing : chunk);
}

/* ---- streaming reads (gemv.c, generate.c) --------------------------------- */

/* Bytes ahead of a sequential read the kernels that stream from L3 (a
 * generation step's weights and KV cache) ask for: the hardware prefetcher
 * alone starts each new stream cold (2 KiB: +5–10% from L3, measured). */
enum { XF_AHEAD = 2048 };

/* Prefetches the cache lines of [p + off, p + off + bytes), which may lie
 * past p's array (a prefetch never faults; the address is computed as an
 * integer so no out-of-bounds pointer is formed). */
XF_INLINE void prefetch_lines(const void *p, int64_t off, int bytes) {
    for (int i = 0; i < bytes; i += 64)
        __builtin_prefetch((const void *)((uintptr_t)p + (uintptr_t)(off + i)));
}

/* ---- exp and softmax on one row ------------------------------------------ */

XF_INLINE float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
XF_INLINE uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* e^x, relative error ~2 ulp (Cephes expf), vectorizable; the same helper
 * as in kernels.c.  x is clamped to the normal range. */
XF_INLINE float exp_approx(float x) {
    const float magic = 12582912.0f; /* 1.5 · 2²³ */
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    float t = x * 1.44269504088896341f + magic;
    float nf = t - magic; /* round(x / ln2) */
    int32_t ni = (int32_t)(f32_bits(t) - f32_bits(magic));
    float r = x - nf * 0.693359375f - nf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * f32_from_bits((uint32_t)(ni + 127) << 23);
}

/* max of p[0..n), n ≥ 1 */
XF_CLONES
static inline float row_max(const float *p, int n) {
    float mx[LANES];
    for (int j = 0; j < LANES; j++)
        mx[j] = p[0];
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            mx[j] = p[i + j] > mx[j] ? p[i + j] : mx[j];
    float m = mx[0];
    for (int j = 1; j < LANES; j++)
        m = mx[j] > m ? mx[j] : m;
    for (; i < n; i++)
        m = p[i] > m ? p[i] : m;
    return m;
}

/* p[0..n) = exp(p − m); returns Σ. */
XF_CLONES
static inline float exp_shift_sum(float *p, int n, float m) {
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float e = exp_approx(p[i + j] - m);
            p[i + j] = e;
            acc[j] += e;
        }
    float s = 0.0f;
    for (int j = 0; j < LANES; j++)
        s += acc[j];
    for (; i < n; i++) {
        p[i] = exp_approx(p[i] - m);
        s += p[i];
    }
    return s;
}

/* p[0..n) = exp(p − m), n ≥ 1; returns Σ and, in *mx, the max of the p it
 * read: one pass where row_max + exp_shift_sum make two. */
XF_CLONES
static inline float exp_shift_sum_max(float *p, int n, float m, float *mx) {
    float acc[LANES] = {0}, hi[LANES];
    for (int j = 0; j < LANES; j++)
        hi[j] = p[0];
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float x = p[i + j], e = exp_approx(x - m);
            hi[j] = x > hi[j] ? x : hi[j];
            p[i + j] = e;
            acc[j] += e;
        }
    float s = 0.0f, h = hi[0];
    for (int j = 0; j < LANES; j++) {
        s += acc[j];
        h = hi[j] > h ? hi[j] : h;
    }
    for (; i < n; i++) {
        h = p[i] > h ? p[i] : h;
        p[i] = exp_approx(p[i] - m);
        s += p[i];
    }
    *mx = h;
    return s;
}

/* Σ a[i] b[i] over n */
XF_CLONES
static inline float dot(const float *a, const float *b, int n) {
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = 0.0f;
    for (int j = 0; j < LANES; j++)
        s += acc[j];
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* p[0..n) = exp(p − max p), n ≥ 1; returns Σ.  Unnormalized: the caller
 * divides wherever it is cheaper. */
static inline float softmax_exp(float *p, int n) {
    return exp_shift_sum(p, n, row_max(p, n));
}

XF_CLONES
static inline void scale(float *x, int n, float c) {
    for (int i = 0; i < n; i++)
        x[i] *= c;
}

#endif /* XF_SIMD_H */
