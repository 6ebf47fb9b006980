/* xf_model.h — what every generated model shares: the weights of its
 * building blocks, the shape of one forward call, and the reusable workspace.
 */
#ifndef XF_MODEL_H
#define XF_MODEL_H

#include <pthread.h>
#include <stdint.h>
#include "xf_kernels.h" /* xf_feature_map */
#include "xfrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One attention module (torch MultiheadAttention / fast-transformers
 * AttentionLayer).  Every weight is an xf_linear operand ([in, out], see
 * xf_weights_get_t); biases of torch's packed in_proj point into it.  A
 * self-attention projects queries, keys and values in one product (qkv_w),
 * a cross-attention its queries (q_w) and the memory's keys and values in
 * another (kv_w); the fields a module does not use are NULL. */
typedef struct {
    const float *qkv_w, *qkv_b; /* [D, 2*H*E + H*Dv], [2*H*E + H*Dv]  self: Wq; Wk; Wv */
    const float *q_w, *q_b;     /* [D, H*E], [H*E]   cross: query projection */
    const float *kv_w, *kv_b;   /* [Dm, H*E + H*Dv], [H*E + H*Dv]  cross: Wk; Wv */
    const float *o_w, *o_b;     /* [H*Dv, D], [D]    out projection */
    xf_feature_map fm;          /* linear attention's φ (omega [E, m]: the file's or drawn) */
    const float *aft_u, *aft_v; /* [max_sequence_length, P] aft_full's position bias */
    xf_clustering clu;          /* clustered types: settings, planes [bits, E+1], initial
                                   centroids [clusters] (the file's or drawn) */
    const float *planes;        /* [rounds, bits, E] reformer's hashing planes (file's or drawn) */
} xf_attn_weights;

typedef struct {
    const float *g, *b; /* [D], [D] LayerNorm weight and bias */
} xf_norm_weights;

typedef struct {
    const float *w1, *b1; /* [D, F], [F]  linear1 (transposed) */
    const float *w2, *b2; /* [F, D], [D]  linear2 (transposed) */
} xf_ff_weights;

/* One encoder or decoder layer (cross and norm3: decoder only). */
typedef struct {
    xf_attn_weights self;  /* attention / self_attn / self_attention */
    xf_attn_weights cross; /* multihead_attn / cross_attention */
    xf_ff_weights ff;
    xf_norm_weights norm1, norm2, norm3;
} xf_layer_weights;

/* The run-time shape of one forward call, as a stack of layers sees it. */
typedef struct {
    int N;                 /* batch */
    int L;                 /* this stack's sequence length */
    int S;                 /* memory length (decoder cross-attention), else L */
    int T;                 /* self-attention keys: L in a forward, the positions so far
                                 (cache length) in a generation step */
    const int *len;        /* [N] valid positions of the sequence, or NULL */
    const int *mem_len;    /* [N] valid positions of the memory, or NULL */
    int64_t call;          /* forward-call counter ({call} in patterns) */
    int step;              /* generation step (xf_event.step): 0 the prefill, k the k-th
                                 generated token, -1 in a plain forward */
    const float *mask;     /* self-attention mask [L, S] or [N, L, S] (mask_batched), or NULL */
    const float *mem_mask; /* cross-attention mask over the memory, the same way */
    int mask_batched, mem_mask_batched;
} xf_call;

/* A random feature map's omega [E, fm->m]: the tensor `name` of the file
 * when it has one, else drawn from xf_feature_map_seed(random_seed, name)
 * (`orthogonal`: favor, generalized_random).  The other fields of fm are the
 * caller's. */
struct xf_weights;
int xf_feature_map_load(xf_feature_map *fm, struct xf_weights *w, const char *name, int E,
                        int orthogonal, uint64_t random_seed, xf_error *err);

/* Clustered attention's draws (SPEC §9): `base`.planes F32 [1, bits, E+1]
 * when the file has it, else normals drawn from xf_feature_map_seed(
 * random_seed, `base`.planes); hash_bias = 0 zeroes their last column.
 * `base`.initial_centroids I64 [clusters] (integral, ≥ 0) when the file has
 * it, else none: each call then draws its positions (xf_clustering_positions)
 * from seed = xf_feature_map_seed(random_seed, `base`.initial_centroids).
 * c->clusters, bits, iterations, topk are the caller's. */
int xf_clustering_load(xf_clustering *c, struct xf_weights *w, const char *base, int E,
                       int hash_bias, uint64_t random_seed, xf_error *err);

/* What fast-transformers draws as normals at run time (reformer's hashing
 * planes): the tensor `name` of the file, of exactly these dims, when it has
 * one, else independent standard normals in row-major order drawn from
 * xf_feature_map_seed(random_seed, name) (splitmix64, Box–Muller), owned by
 * the weights.  NULL with err set on a wrong shape or no memory. */
const float *xf_random_normal_load(struct xf_weights *w, const char *name, int rank,
                                   const int64_t *dims, uint64_t random_seed, xf_error *err);

/* Checks batch, seq and lengths[batch] (each 1..seq) of a call; `what`
 * names the argument in the message ("lengths", "memory lengths"). */
int xf_check_call(int batch, int seq, const int *lengths, const char *what, xf_error *err);

/* Clustered attention's call: at least `clusters` queries (fast-transformers'
 * np.random.choice raises otherwise) and, when the k-means recomputes
 * (iterations > 1), every sample's length too (fewer leave clusters empty,
 * whose centroids fast-transformers redraws from an unseeded random device).
 * `what` / `lengths_what` name seq and lengths in the message. */
int xf_check_clusters(int batch, int seq, const int *lengths, int clusters, int iterations,
                      const char *what, const char *lengths_what, xf_error *err);

/* A model's scratch memory: one block reused by consecutive calls.  A call
 * made while another holds it gets a private block, so concurrent forwards
 * on one model are safe and the common single-caller case never allocates
 * after the first call. */
typedef struct {
    pthread_mutex_t mu;
    float *buf; /* [cap] floats, 64-byte aligned */
    int64_t cap;
    int busy;
} xf_workspace;

void xf_workspace_init(xf_workspace *w);
/* `floats` floats (fails, saying how much it needed, past `XF_MAX_WORKSPACE`). */
float *xf_workspace_acquire(xf_workspace *w, int64_t floats, xf_error *err);
void xf_workspace_release(xf_workspace *w, float *buf);
void xf_workspace_destroy(xf_workspace *w);

#define XF_MAX_WORKSPACE ((int64_t)16 << 30) /* bytes: refuse larger calls up front */

#ifdef __cplusplus
}
#endif

#endif /* XF_MODEL_H */
