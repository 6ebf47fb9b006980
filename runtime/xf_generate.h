/* xf_generate.h — whole models and generation (SPEC §8): token embedding,
 * positions, output head, the KV cache of full attention, the recurrent
 * state of causal-linear attention ("Transformers are RNNs"), sampling, and
 * the vocabulary of --text.
 *
 * llama2.c style: kernels named after the op, output first, shapes in the
 * comments, row-major float32.  A generated token model holds one
 * xf_embedding per stack and, per state, one xf_kv_cache or xf_linear_state
 * per self-attention layer; cross-attention keys/values of the memory are
 * plain [N, S, H*E] buffers computed once by NAME_encode.
 *
 * Contract for the parallel work of this session: the compiler emits calls
 * to exactly these functions.  Change a signature only together with its
 * callers.
 */
#ifndef XF_GENERATE_H
#define XF_GENERATE_H

#include <stdint.h>
#include "xf_kernels.h" /* xf_feature_map */
#include "xfrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- embedding and positions -------------------------------------------- */

typedef struct {
    const float *tok; /* [vocab, d]  token embedding (nn.Embedding.weight), untransposed */
    const float *pos; /* [max_pos, d] added position rows (sinusoidal table or learned), or NULL */
    int vocab;        /* number of token ids: valid ids are 0..vocab-1 */
    int d;            /* d_model */
    int max_pos;      /* positions 0..max_pos-1 exist */
    float scale;      /* tok rows are multiplied by this (sqrt(d) or 1) before pos is added */
} xf_embedding;

/* pe[max_pos, d]: torch's tutorial table, pe[p, 2i] = sin(p / 10000^(2i/d)),
 * pe[p, 2i+1] = cos(p / 10000^(2i/d)) (odd d: the last column is sin). */
void xf_sinusoidal_table(float *pe, int max_pos, int d);

/* Checks ids[n] (n < count) are in 0..vocab-1; otherwise fails naming `what`
 * (e.g. "--input"), the position [row, col] (cols per row) and the range. */
int xf_check_ids(const int32_t *ids, int64_t count, int cols, int vocab, const char *what,
                 xf_error *err);

/* x[N*L, d] = tok[ids[n, l]] · scale + pos[pos0 + l]   (ids [N, L], checked
 * before by xf_check_ids; pos0 + L ≤ max_pos checked by the caller) */
void xf_embed(float *x, const xf_embedding *e, const int32_t *ids, int N, int L, int pos0);

/* ---- KV cache of full self-attention ------------------------------------- */

/* One layer's keys and values of every position so far, laid out for a
 * step's read (generate.c): per (sample, head) the keys in blocks of 16
 * positions, each block transposed, and the values as rows.  Read them
 * through xf_kv_cache_gather. */
typedef struct {
    float *k; /* [N, H, ceil(cap/16), E, 16] key blocks, position t in column t % 16 */
    float *v; /* [N, H, cap, D] */
    int N, cap, H, E, D;
    int len; /* positions held (same for every sample) */
} xf_kv_cache;

/* Allocates k and v for cap positions (fails with "out of memory" naming the
 * size); len = 0. */
int xf_kv_cache_init(xf_kv_cache *c, int N, int cap, int H, int E, int D, xf_error *err);
void xf_kv_cache_free(xf_kv_cache *c);
/* Appends L positions: k [N, L, H*E], v [N, L, H*D], rows ld floats apart (0:
 * H*E and H*D; the keys' and values' columns of one Q/K/V product share rows);
 * fails ("the state holds cap positions: …") when len + L > cap, changing nothing. */
int xf_kv_cache_append(xf_kv_cache *c, const float *k, const float *v, int64_t ld, int L,
                       xf_error *err);

/* One query row per sample against the cache's first c->len keys (after the
 * step's own key was appended):
 *   out[N, H*D] = softmax(temp · q kᵀ) v,  q [N, H*E] (rows ldq apart; 0: H*E)
 * attn, when non-NULL, receives the rows [N, H, 1, len] (AttentionEvent). */
void xf_attention_step(float *out, float *attn, const float *q, int64_t ldq, const xf_kv_cache *c,
                       float temp);

/* Copies the cache's first len rows to a contiguous [N, len, H*X] tensor for a
 * QKVEvent payload (keys: which = 0, values: which = 1); dst holds N·len·H·X. */
void xf_kv_cache_gather(float *dst, const xf_kv_cache *c, int which);

/* ---- recurrent state of causal-linear attention -------------------------- */

/* fast-transformers' RecurrentLinearAttention, φ its feature map (elu(x) + 1
 * or a random map of F features), eps 1e-6:
 *   S += φ(k) vᵀ, Z += φ(k), out = φ(q)·S / (φ(q)·Z + eps).
 * Its size does not depend on the sequence; phik (the φ(k) history) exists
 * only when a listener wants the implied attention row. */
typedef struct {
    float *S;                 /* [N, H, F, D]  Σ φ(k_j) v_jᵀ */
    float *Z;                 /* [N, H, F]     Σ φ(k_j) */
    float *phik;              /* [N, cap, H, F] φ(k_j) of every position, or NULL */
    float *phi;               /* [2, H, F] a step's φ(q), φ(k) of one sample (scratch) */
    const xf_feature_map *fm; /* φ: NULL = elu + 1; a random map's omega is the caller's */
    int N, H, E, D, cap;
    int F;   /* φ's width: xf_feature_map_dims(fm, E) */
    int len; /* positions absorbed */
} xf_linear_state;

/* fm: the layer's feature map (NULL: elu + 1; kept by pointer, it must
 * outlive the state; favor with stabilize is refused).  keep_phik: 1 to keep
 * φ(k) of up to cap positions (for implied rows). */
int xf_linear_state_init(xf_linear_state *s, int N, int H, int E, int D, const xf_feature_map *fm,
                         int keep_phik, int cap, xf_error *err);
void xf_linear_state_free(xf_linear_state *s);
/* Absorbs L positions of a prefill: k [N, L, H*E], v [N, L, H*D], rows ld
 * floats apart (0: H*E and H*D). */
int xf_linear_state_absorb(xf_linear_state *s, const float *k, const float *v, int64_t ld, int L,
                           xf_error *err);
/* One step: absorbs k [N, H*E], v [N, H*D], then out[N, H*D] for q [N, H*E];
 * q, k, v rows ld floats apart (0: H*E, H*E, H*D).  attn, when non-NULL
 * (requires phik), receives the implied rows [N, H, 1, len]. */
int xf_linear_attention_step(float *out, float *attn, const float *q, const float *k,
                             const float *v, int64_t ld, xf_linear_state *s, xf_error *err);

/* ---- sampling ------------------------------------------------------------ */

/* xorshift-style generator: same seed, same draws, on every machine. */
typedef struct {
    uint64_t s;
} xf_rng;
void xf_rng_seed(xf_rng *r, uint64_t seed);
double xf_rng_uniform(xf_rng *r); /* [0, 1) */

/* The next token from logits[vocab] (how: see xf_sampling in xfrt.h):
 * temperature <= 0 → argmax (lowest id on ties); else softmax(logits / T)
 * restricted to the top_k largest (top_k <= 0: all), drawn with r. */
int32_t xf_sample(const float *logits, int vocab, const xf_sampling *how, xf_rng *r);

/* ---- vocabulary (--vocab V.txt --text "…") ------------------------------- */

typedef struct xf_vocab xf_vocab;

/* One token per line, line i = id i (UTF-8, "\n" or "\r\n"); refuses empty
 * lines, duplicates, invalid UTF-8, more than max_tokens lines or a line
 * over 4096 bytes, naming the file and line. */
xf_vocab *xf_vocab_read(const char *path, int max_tokens, xf_error *err);
/* The same from bytes in memory (fuzzing, tests); `name` names it in errors. */
xf_vocab *xf_vocab_parse(const char *bytes, size_t len, const char *name, int max_tokens,
                         xf_error *err);
int xf_vocab_size(const xf_vocab *v);
/* Splits text by longest match into ids (malloc'd, *n of them); a character
 * no token starts with is an error naming it and its byte offset. */
int32_t *xf_vocab_encode(const xf_vocab *v, const char *text, int *n, xf_error *err);
/* The token's text (id in range), as stored. */
const char *xf_vocab_token(const xf_vocab *v, int32_t id);
void xf_vocab_free(xf_vocab *v);

#ifdef __cplusplus
}
#endif
#endif /* XF_GENERATE_H */
