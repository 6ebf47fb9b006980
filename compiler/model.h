/* model.h — the checked model: every setting resolved to a value, every
 * dimension computed, every listener's handler validated.  Built by
 * check_spec() from the AST; the plan and emitter read only this.
 */
#ifndef XFC_MODEL_H
#define XFC_MODEL_H

#include "ast.h"
#include "names.h" /* ModelKind, HandlerKind and every name of the DSL */

typedef enum {
    ATT_FULL,          /* softmax(q kᵀ · temp) v */
    ATT_LINEAR,        /* φ(q)(φ(k)ᵀ v) / φ(q)Σφ(k), φ = elu + 1 */
    ATT_CAUSAL_LINEAR, /* linear with prefix sums (causal) */
    ATT_LOCAL,      /* full, restricted to i - floor(W/2) <= j < i + ceil(W/2), W = local_context */
    ATT_EXACT_TOPK, /* softmax over the topk largest scores per query */
    ATT_AFT_FULL,   /* σ(q) Σ softmax_s(k·w) v per channel, w = u vᵀ learned (AFT) */
    ATT_AFT_SIMPLE, /* σ(q) Σ softmax_s(k) v per channel (AFT) */
    ATT_CLUSTERED,  /* queries grouped by a Hamming k-means of their hashes; centroids attend */
    ATT_IMPROVED_CLUSTERED,        /* clustered, each query recomputing its cluster's top-k keys */
    ATT_CAUSAL_IMPROVED_CLUSTERED, /* improved, causal: only its top-k keys up to the query */
    ATT_CONDITIONAL_FULL,          /* full while L and S <= length_limit, else the fallback type */
    ATT_REFORMER,                  /* LSH: chunks of positions sorted by hashed query (shared QK) */
} AttentionType;

typedef enum { ACT_RELU, ACT_GELU } Activation;

/* feature_map of linear attention, in feature_map_names order (= xf_fmap_kind). */
typedef enum {
    FMAP_ELU,
    FMAP_FAVOR,
    FMAP_RANDOM_FOURIER,
    FMAP_SMOOTHED_RANDOM_FOURIER,
    FMAP_GENERALIZED_RANDOM
} FeatureMapKind;
typedef enum { NORM_POST, NORM_PRE } NormPlace;
typedef enum { WEIGHTS_TORCH, WEIGHTS_FAST_TRANSFORMERS } WeightsLayout;

typedef enum { POS_ENC_NONE, POS_ENC_SINUSOIDAL, POS_ENC_LEARNED } Positions;

/* embedding { vocab, weight, scale, positions, max_positions } of a stack. */
typedef struct Embedding {
    int present;            /* 1: the stack takes token ids */
    Loc loc;                /* of the block */
    int vocab;              /* ids 0..vocab-1 */
    const char *weight;     /* tensor [vocab, d_model] */
    int scale_sqrt;         /* scale = sqrt_d_model */
    double scale;           /* the factor (sqrt(d_model), a number, or 1) */
    Positions positions;    /* default none */
    const char *pos_weight; /* learned("…"): tensor [max_positions, d_model] */
    int max_positions;      /* default 1024 */
} Embedding;

/* head { weight = "…" | embedding, bias } of a stack: logits = x Wᵀ + b. */
typedef struct Head {
    int present;
    Loc loc;
    const char *weight; /* tensor [vocab, d_model]; NULL: tied to the embedding */
    const char *bias;   /* tensor [vocab], or NULL */
} Head;

/* One stack of layers (the encoder, or the decoder). */
typedef struct Stack {
    int n_layers;                       /* n_layers (default 4) */
    int n_heads;                        /* n_heads (default 4) */
    int query_dimensions;               /* E, per head (default 64) */
    int value_dimensions;               /* D, per head (default 64) */
    int d_model;                        /* model_dimensions (default n_heads * value_dimensions) */
    int cross_n_heads;                  /* decoder cross-attention: heads (default n_heads) */
    int cross_query_dimensions;         /* its E (default query_dimensions) */
    int cross_value_dimensions;         /* its Dv (default value_dimensions) */
    int memory_dimensions;              /* the memory's width, cross_model_dimensions (default:
                                     cross_n_heads * cross_value_dimensions as fast-transformers;
                                     a Transformer: the encoder's d_model) */
    int feed_forward_dimensions;        /* default 1024 */
    AttentionType attention_type;       /* self-attention; default full */
    AttentionType cross_attention_type; /* decoder only; default full */
    int causal;                         /* triangular mask on self-attention (default false) */
    int local_context;                  /* for local, default 32 */
    int topk;                           /* for exact_topk, default 32 */
    int max_sequence_length;    /* aft_full: rows of u and v, the longest call (default 1024) */
    int aft_parameterization;   /* aft_full: columns of u and v (default 64) */
    int clusters;               /* clustered types: query clusters (required) */
    int iterations;             /* clustered types: Lloyd iterations (default 10) */
    int bits;                   /* clustered types: hash bits; reformer: planes per round (63) */
    int hash_bias;              /* clustered types: planes with a threshold (default true) */
    int length_limit;           /* conditional_full: longest L and S full attention takes (512) */
    AttentionType fallback;     /* conditional_full: the type above length_limit (required) */
    int chunk_size;             /* reformer: queries per chunk (default 32) */
    int rounds;                 /* reformer: hashing rounds averaged (default 4) */
    int masked;                 /* reformer: a query does not attend to itself (default false) */
    double softmax_temp;        /* default 1/sqrt(query_dimensions) */
    double cross_softmax_temp;  /* the cross-attention's: default 1/sqrt(cross_query_dimensions) */
    Activation activation;      /* default relu */
    NormPlace normalization;    /* default post */
    int final_normalization;    /* default true */
    double layer_norm_eps;      /* default 1e-5 */
    FeatureMapKind feature_map; /* φ of linear / causal_linear attention (default elu) */
    int feature_dimensions;     /* fast-transformers' n_dims argument (default query_dimensions) */
    int stabilize;              /* favor: subtract the sequence's max norm (default false) */
    long long random_seed;      /* seeds what is drawn when the weight file lacks it (default 0) */
    Embedding emb;              /* token embedding and positions (SPEC §8), if any */
    Head head;                  /* output head, if any (decoder of a Transformer) */
} Stack;

typedef struct Handler {
    HandlerKind kind;
    Loc loc;
    const char *pattern; /* save/heatmap/figure */
    const char *symbol;  /* call */
    int head;            /* heatmap/figure: head index, -1 = all (default 0) */
    int sample;          /* heatmap/figure: batch index (default 0) */
    int cols;            /* figure: panels per row (default 2) */
} Handler;

typedef struct Listener {
    int index; /* 0-based, in file order */
    Loc loc;
    const Filter *filter; /* checked: classes and fields exist, paths well-formed */
    Handler handler;
} Listener;

typedef struct Model {
    const Src *src;
    const char *name; /* C identifier; prefixes the API (NAME_load…) */
    ModelKind kind;
    WeightsLayout weights;
    const char *weights_prefix; /* prepended to the stacks' tensor names ("" default) */
    Stack enc;                  /* encoder stack (MODEL_ENCODER, MODEL_TRANSFORMER) */
    Stack dec;                  /* decoder stack (MODEL_DECODER, MODEL_TRANSFORMER) */
    Listener *listeners;        /* [n_listeners], file order */
    int n_listeners;
} Model;

/* Resolves spec into *m, reporting every problem through diag_error
 * (unknown setting with a suggestion, wrong type, out of range, duplicate,
 * incompatible combination, unknown handler/argument/event class/field).
 * Returns the number of errors. */
int check_spec(const Spec *spec, const Src *src, Model *m);

const char *attention_type_name(AttentionType t); /* "full", "causal_linear"… */

/* Does attention of type t in stack s run kernel type `what`: t itself, or a
 * conditional_full's fallback. */
int attention_runs(const Stack *s, AttentionType t, AttentionType what);

/* Does attention of type t accept fast-transformers' FullMask (--mask)?  For
 * conditional_full: its full attention does, the fallback may not. */
int attention_takes_mask(AttentionType t);

#endif /* XFC_MODEL_H */
