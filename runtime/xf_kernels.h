/* xf_kernels.h — the ops a generated model is made of.
 *
 * llama2.c style: each kernel is named after its op, output first, shapes in
 * the comments, row-major float32 throughout.  `n` is the number of rows
 * (batch × sequence), dims are per row.  The products run on oneDNN or
 * OpenBLAS, whichever libxfrt was built with (-DXF_BLAS, docs/DESIGN.md).
 */
#ifndef XF_KERNELS_H
#define XF_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { XF_RELU, XF_GELU, XF_NO_ACTIVATION } xf_activation;

/* y[n,out] = x[n,in] · wt[in,out] + b[out]   (torch nn.Linear; b may be NULL).
 * wt is what xf_weights_get_t made of the weight at load — its transpose, or
 * on the oneDNN build the same reordered into its kernels' blocked layout —
 * or any plain [in, out] array of the caller's. */
void xf_linear(float *y, const float *x, const float *wt, const float *b, int n, int in, int out);

/* y[n,d] = LayerNorm(x[n,d]) · g + b over the last dim; y may alias x */
void xf_layernorm(float *y, const float *x, const float *g, const float *b, int n, int d,
                  float eps);

/* x[n,d] = LayerNorm(x + r) · g + b   (post-norm residual, fused) */
void xf_add_layernorm(float *x, const float *r, const float *g, const float *b, int n, int d,
                      float eps);

/* x[i] += r[i] for i < count   (pre-norm residual) */
void xf_add(float *x, const float *r, int64_t count);

/* dst[rows, cols] = the first cols floats of each of src's rows (ld floats
 * apart): one of Q, K, V out of their product's shared rows, contiguous for
 * a QKVEvent payload or a state that keeps them. */
void xf_copy_rows(float *dst, const float *src, int64_t rows, int64_t cols, int64_t ld);

void xf_relu(float *x, int64_t count); /* in place */
void xf_gelu(float *x, int64_t count); /* in place, exact: x·Φ(x) with erf, as torch */

/* y[n,d] = linear2(act(linear1(x[n,d]))) with w1t [d,f], w2t [f,d] (transposed,
 * as xf_linear), computed XF_FF_ROWS rows at a time through h [XF_FF_ROWS, f];
 * act is fused into linear1's product where the backend can. */
enum { XF_FF_ROWS = 512 };
void xf_feed_forward(float *y, const float *x, const float *w1t, const float *b1, const float *w2t,
                     const float *b2, float *h, int n, int d, int f, xf_activation act);

/* The feature map φ of linear attention (fast-transformers' feature_maps;
 * formulas in feature_map.c).  NULL or XF_FMAP_ELU: elu(x) + 1. */
typedef enum {
    XF_FMAP_ELU,
    XF_FMAP_FAVOR,
    XF_FMAP_RANDOM_FOURIER,
    XF_FMAP_SMOOTHED_RANDOM_FOURIER,
    XF_FMAP_GENERALIZED_RANDOM
} xf_fmap_kind;

typedef struct {
    xf_fmap_kind kind;
    int m;              /* omega's columns */
    const float *omega; /* [E, m], the random projection */
    float temp;         /* rows are scaled by sqrt(temp) before the projection */
    float n_dims;       /* fast-transformers' n_dims as its base class holds it: Fourier
                             maps scale by sqrt(2/n_dims), favor subtracts ½ log n_dims */
    int stabilize;      /* favor: also subtract the sequence's max |x̃|² (xf_feature_map_shift) */
} xf_feature_map;

/* φ's width F for head size E: E (elu), 2m, 2m + 1 (smoothed) or m (generalized). */
int xf_feature_map_dims(const xf_feature_map *fm, int E);
/* phi[rows, F] (packed) = φ(x) of rows x [rows, E] `ld` floats apart; `shift`
 * is xf_feature_map_shift of the whole sequence the rows belong to. */
void xf_feature_map_apply(float *phi, const float *x, int rows, int E, int64_t ld,
                          const xf_feature_map *fm, float shift);
/* favor with stabilize: max over the rows of |√temp · x|², else 0. */
float xf_feature_map_shift(const xf_feature_map *fm, const float *x, int rows, int E, int64_t ld);
/* omega [E, m] drawn from `seed` (xf_feature_map_seed): normals, or with
 * `orthogonal` fast-transformers' orthogonal random features.  -1: no memory. */
int xf_feature_map_draw(float *omega, int E, int m, int orthogonal, uint64_t seed);
/* The seed of one omega: random_seed XOR FNV-1a 64 of its tensor name. */
uint64_t xf_feature_map_seed(uint64_t random_seed, const char *name);
/* The next 64 random bits of splitmix64 (Steele et al.) from *state: the
 * generator of every draw xfc makes in place of fast-transformers'. */
uint64_t xf_splitmix64(uint64_t *state);

/* Clustered attention's settings and what fast-transformers draws at run
 * time (xf_clustered_attention; SPEC §9). */
typedef struct {
    int clusters;         /* C: query clusters per (sample, head) */
    int iterations;       /* Lloyd iterations, the last assignment counted as one (≥ 1) */
    int bits;             /* hash bits, 1..63 */
    int topk;             /* improved: keys recomputed per query; 0: plain clustered */
    const float *planes;  /* [bits, E + 1] hyperplanes, last column the threshold */
    const float *initial; /* [C] integral query positions whose hashes start the k-means
                             (taken mod L), or NULL: drawn from `seed` per call */
    uint64_t seed;        /* initial == NULL: C distinct positions of [0, L) by selection
                             sampling (xf_clustering_positions) */
} xf_clustering;

/* pos[C]: C distinct positions of [0, L), increasing, uniformly drawn by
 * Knuth's selection sampling (Algorithm S) — position l taken when
 * u · (L − l) < C − taken, u = the top 53 bits of xf_splitmix64 / 2⁵³ —
 * from a state starting at `seed`: what xfc draws in place of
 * fast-transformers' np.random.choice(L, C, replace=False).  C > L: the
 * positions past L repeat l mod L (a call refuses it first). */
void xf_clustering_positions(int *pos, int C, int L, uint64_t seed);

/* Attention masks and sizes of one call.  Queries attend over keys
 * s < key_len[n] (all S when key_len is NULL); causal adds s <= l. */
typedef struct {
    int N, L, S;        /* batch, query length, key length */
    int H, E, D;        /* heads, query/key head dim, value head dim */
    const int *key_len; /* [N] valid keys per sample, or NULL */
    int causal;         /* 1: query l sees keys s <= l */
    float temp;         /* softmax temperature (1/sqrt(E) by default) */
    int local_context; /* xf_local_attention: key j visible from query i when i - W/2 <= j < i + ceil(W/2) */
    int topk;          /* xf_topk_attention: keys kept per query */
    const xf_feature_map *fmap; /* xf_linear_attention: φ, NULL = elu + 1 */
    const float *mask; /* [L, S] (or [N, L, S] with mask_batched), fast-transformers' FullMask
                             (0 keep, -inf drop), or NULL; read by xf_attention (added to
                             the scaled scores), xf_local_attention and xf_topk_attention
                             (to q·k before the temperature, as fast-transformers adds it) */
    int mask_batched;  /* 1: mask holds one [L, S] plane per sample */
    const float *aft_u, *aft_v;      /* xf_aft_attention, aft_full: the position bias u, v
                                     [max_len, aft_rank] (rows [0, L) and [0, S) used); NULL: aft_simple */
    int aft_rank;                    /* their columns (aft_parameterization) */
    const xf_clustering *clustering; /* xf_clustered_attention: settings and draws */
    const int *query_len;            /* [N] valid queries (clustered), or NULL: all L */
    int chunk_size;                  /* xf_reformer_attention: queries per chunk (S = L) */
    int rounds, bits;                /* its hashing rounds and planes per round */
    int masked;          /* 1: a query does not attend to itself (−1e9 on the diagonal) */
    const float *planes; /* [rounds, bits, E] its random hashing planes (the
                                        clustered types' are clustering->planes) */
    int ldq, ldk, ldv;   /* floats between consecutive rows of q, k, v; 0: H*E, H*E, H*D
                            (each its own array).  Q/K/V made by one product share rows
                            of H*E + H*E + H*D floats; out is always H*D apart. */
    int q0;              /* xf_attention: the position of query row 0 (a block of a
                            sample's rows, xf_attention_rows): causal limits and mask rows
                            count from it, the mask pointing at the sample's row 0 */
    int64_t hsk, hsv;    /* floats between heads of k, v; 0: E, D (heads side by side in a
                            row).  Planes (xf_linear_kv: ldk = E, hsk = N*S*E) hand
                            each head's keys and values over dense, read without a copy. */
} xf_attn_shape;

/* out[N,L,H,D] = softmax(temp · q kᵀ + masks) v, per (sample, head); masks:
 * key lengths, causal, and sh->mask (a row it drops entirely gets out = 0).
 * q [N,L,H,E], k [N,S,H,E], v [N,S,H,D].  When `attn` is non-NULL the
 * normalized matrix is also stored there as [N,H,L,S] (the AttentionEvent
 * payload, masked entries 0); when NULL nothing L×S is kept.
 * `scratch` holds xf_attention_scratch(shape) floats.
 * A query row with no visible key gets out = 0 (and an all-zero attn row). */
void xf_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                  const xf_attn_shape *sh, float *scratch);
int64_t xf_attention_scratch(const xf_attn_shape *sh);

/* ---- layers in blocks of rows (row_blocks.c) -----------------------------
 * A self-attention layer whose rows are many computes the keys and values of
 * every row first, then runs queries, attention, output projection, norms
 * and feed-forward one block of rows at a time, in place over x's rows: the
 * only whole-sequence buffer is the keys and values (docs/DESIGN.md, "Layers
 * in blocks of rows"). */

/* Samples of at most XF_ROW_SAMPLES rows go whole into a block (as many as
 * fit); a longer one is cut into near-equal blocks of at most XF_ROW_BLOCK. */
enum { XF_ROW_BLOCK = 256, XF_ROW_SAMPLES = 1024 };

/* Rows of the block of a [N, L] call starting at row r0 (0, then each block's end). */
int xf_row_block(int N, int L, int r0);
/* The most rows a block of the call has: what its buffers hold. */
int xf_row_block_max(int N, int L);

/* Rows [r, r + rows) of the keys and values kv of a [N, L] call = the
 * columns [H·E | H·D] of x[rows, in] · wt + b.  Samples of at most
 * XF_ROW_SAMPLES rows keep them as the product's rows ([N·L, H·(E + D)]);
 * longer ones (the online attention path, which reads a head dense) as one
 * plane per head, [H][N·L][E] then [H][N·L][D], through tmp [rows, H·(E + D)]. */
void xf_linear_kv(float *kv, int N, int L, int r, const float *x, const float *wt, const float *b,
                  float *tmp, int rows, int in, int H, int E, int D);

/* Full attention of rows [r0, r0 + rows) (a block, xf_row_block) of the
 * self-attention call `whole` (S = L) over its keys and values kv
 * (xf_linear_kv); q, out: the block's rows (H·E, H·D apart). */
void xf_attention_rows(float *out, const float *q, const float *kv, const xf_attn_shape *whole,
                       int r0, int rows, float *scratch);

/* The other attention types of fast-transformers, same arguments and layouts
 * as xf_attention (scratch: xf_attention_scratch covers every kernel).  Each
 * fills `attn`, when non-NULL, with the attention it actually applied — the
 * implied matrix fast-transformers cannot show — and never forms L×S when
 * `attn` is NULL (local: only the band; linear: O(L) state).
 *
 * linear (causal = 0) / causal-linear (causal = 1): φ = sh->fmap (elu(x) + 1 when NULL),
 *   out_i = φ(q_i)·Σ_j φ(k_j) v_jᵀ / (φ(q_i)·Σ_j φ(k_j) + 1e-6), j over visible keys
 *   (causal: j <= i); temp is not used, as in fast-transformers.
 * local: softmax attention over keys i - floor(W/2) <= j < i + ceil(W/2), W = local_context
 *   (fast-transformers' local_product code; its docstring says |i - j| < W/2), plus masks;
 *   a row whose every in-band key sh->mask drops gets fast-transformers' 1/W on each key of
 *   its band in [0, S).
 * exact top-k: per query, the `topk` largest visible raw scores q·k (+ sh->mask), then
 *   softmax of temp · score over just those (fast-transformers' exact_topk_attention); a
 *   row the mask drops entirely is 0. */
void xf_linear_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                         const xf_attn_shape *sh, float *scratch);
void xf_local_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                        const xf_attn_shape *sh, float *scratch);
void xf_topk_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                       const xf_attn_shape *sh, float *scratch);
/* AFT (attention_aft.c; E = D): aft_full with sh->aft_u / aft_v, aft_simple without,
 * as fast-transformers' AFTFullAttention / AFTSimpleAttention; temp unused; `attn`
 * receives the weights applied to v averaged over the D channels. */
void xf_aft_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                      const xf_attn_shape *sh, float *scratch);

/* Clustered attention (attention_clustered.c), fast-transformers' ClusteredAttention,
 * ImprovedClusteredAttention (topk > 0) and ImprovedClusteredCausalAttention
 * (topk > 0, causal = 1): queries hashed by sh->clustering->planes, grouped by a
 * Hamming k-means, their centroids attend; improved: each query also recomputes
 * its own softmax over its cluster's top-k keys.  Queries past query_len get 0.
 * `attn` receives the attention each query applied. */
void xf_clustered_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                            const xf_attn_shape *sh, float *scratch);

/* Reformer (attention_reformer.c; S = L, E = D as fast-transformers needs):
 * fast-transformers' ReformerAttention with the queries as keys (k unused) —
 * per round, positions hashed on sh->planes, stably sorted by bucket, chunks
 * of chunk_size attending to themselves and the chunk before; averaged over
 * the rounds.  `attn` receives that average of the weights, [N,H,L,L]. */
void xf_reformer_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                           const xf_attn_shape *sh, float *scratch);

/* Sets the threads of the products (oneDNN's OpenMP pool, or OpenBLAS's)
 * and of the runtime's loops (attention over sample × head) for this
 * process; 1 by default for the runtime.  On oneDNN both are one pool.
 * Change it between forward calls, not during one. */
void xf_set_threads(int n);

/* The runtime's parallel loop: runs fn(ctx, task, worker) for task in
 * [0, tasks) on up to xf_runtime_threads() threads (worker in [0, threads)),
 * on OpenMP's pool with oneDNN (pool_openmp.c), else on workers of its own
 * (pool_pthreads.c); either way started once and reused, never per call. */
void xf_set_runtime_threads(int n);
int xf_runtime_threads(void);
void xf_parallel_for(int tasks, void (*fn)(void *ctx, int task, int worker), void *ctx);

/* Starts the pool's threads now, so that a process short of memory gets the
 * one-line "out of memory" error here rather than OpenMP's own exit later in
 * a call; 0 or -1 with err set.  Programs call it after xf_set_threads. */
struct xf_error;
int xf_start_threads(struct xf_error *err);

/* When the CPU has AVX-512 and OPENBLAS_CORETYPE is unset, re-exec the
 * current binary with OPENBLAS_CORETYPE=SkylakeX: Debian's OpenBLAS 0.3.21
 * does not know Zen 4 and would fall back to half-speed AVX2 kernels
 * (PERFORMANCE.md).  Returns only if no re-exec was needed or possible —
 * always on the oneDNN build, which picks its AVX-512 kernels itself. */
void xf_prefer_avx512_blas(char **argv);

#ifdef __cplusplus
}
#endif

#endif /* XF_KERNELS_H */
