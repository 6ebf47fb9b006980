/* names.h — every name of the DSL, one table per concept (Lua's luaX_tokens).
 *
 * Each concept is an X-macro list: the enum the compiler phases switch on,
 * the spelling the user writes and what the emitter prints come from the same
 * line, so adding an event class, a handler or a setting is one edit here.
 * check.c validates against these tables, plan.c folds with them, emit*.c
 * prints from them, and every "did you mean" goes through unknown().
 */
#ifndef XFC_NAMES_H
#define XFC_NAMES_H

#include "diag.h"
#include "xfrt.h" /* xf_event_kind */

/* The tables below keep their columns aligned by hand. */
/* clang-format off */

/* ---- model kinds --------------------------------------------------------- */

/*        enum                 DSL name */
#define MODEL_KINDS(X)                            \
    X(MODEL_ENCODER,     "TransformerEncoder")    \
    X(MODEL_DECODER,     "TransformerDecoder")    \
    X(MODEL_TRANSFORMER, "Transformer")

#define X_ENUM(id, ...) id,
typedef enum { MODEL_KINDS(X_ENUM) N_MODEL_KINDS } ModelKind;

/* ---- event classes and their payload fields ------------------------------ */

/* Event classes: the runtime's xf_event_kind, the DSL name, the C enum, and
 * the module a point of that class comes from (relative to its attention). */
typedef struct EventInfo {
    xf_event_kind kind;
    const char *name;     /* "AttentionEvent" */
    const char *c_enum;   /* "XF_ATTENTION_EVENT" */
    const char *source;   /* "<attention>.inner_attention": where its points are */
} EventInfo;

#define EVENT_CLASSES(X)                                                                 \
    X(XF_EVENT,               "Event",              "XF_EVENT",               "any")     \
    X(XF_QKV_EVENT,           "QKVEvent",           "XF_QKV_EVENT",           "<attention>") \
    X(XF_ATTENTION_EVENT,     "AttentionEvent",     "XF_ATTENTION_EVENT",     "<attention>.inner_attention") \
    X(XF_INTERMEDIATE_OUTPUT, "IntermediateOutput", "XF_INTERMEDIATE_OUTPUT", "the encoder/decoder")

#define N_EVENT_CLASSES 4
extern const EventInfo event_info[N_EVENT_CLASSES];   /* indexed by xf_event_kind */
extern const char *const event_class_names[];         /* NULL-terminated */

/* Payload fields: name, rank, the class that carries it. */
typedef enum { FIELD_QUERIES, FIELD_KEYS, FIELD_VALUES, FIELD_ATTENTION_MATRIX, FIELD_X, N_FIELDS } FieldId;

typedef struct FieldInfo {
    const char *name;     /* "attention_matrix" */
    int rank;             /* 4 */
    xf_event_kind owner;  /* XF_ATTENTION_EVENT */
} FieldInfo;

extern const FieldInfo field_info[N_FIELDS];
extern const char *const field_names[];        /* NULL-terminated */
/* Names a predicate may use: the scalars `layer` and `step`, and every field. */
extern const char *const pred_names[];

/* ---- handlers and their arguments ---------------------------------------- */

/*        enum             DSL     positional    named args (HARG_ bits)     runtime call   config type     example pattern */
#define HANDLERS(X)                                                                                        \
    X(HANDLER_SAVE,    "save",    POS_PATTERN, 0,                            "xf_save",    "xf_save_cfg",    "qkv/{source}.{field}.npy") \
    X(HANDLER_HEATMAP, "heatmap", POS_PATTERN, HARG_HEAD | HARG_SAMPLE,      "xf_heatmap", "xf_heatmap_cfg", "attention/{source}.png")   \
    X(HANDLER_STATS,   "stats",   POS_NONE,    0,                            "xf_stats",   NULL,             NULL)                       \
    X(HANDLER_PRINT,   "print",   POS_NONE,    0,                            "xf_print",   NULL,             NULL)                       \
    X(HANDLER_CALL,    "call",    POS_SYMBOL,  0,                            NULL,         NULL,             NULL)                       \
    X(HANDLER_FIGURE,  "figure",  POS_PATTERN, HARG_HEAD | HARG_SAMPLE | HARG_COLS, "xf_figure", "xf_figure_cfg", "attention/{source}.png")

typedef enum { HANDLERS(X_ENUM) N_HANDLERS } HandlerKind;
typedef enum { POS_NONE, POS_PATTERN, POS_SYMBOL } Positional;

/* Named handler arguments: `name = integer` in [lo, hi]; `head` also takes
 * `all` and its upper bound is the model's head count. */
typedef enum { HARG_I_HEAD, HARG_I_SAMPLE, HARG_I_COLS, N_HANDLER_ARGS } HandlerArgId;
#define HARG_HEAD (1u << HARG_I_HEAD)
#define HARG_SAMPLE (1u << HARG_I_SAMPLE)
#define HARG_COLS (1u << HARG_I_COLS)

typedef struct HandlerArgInfo {
    const char *name;     /* "cols" */
    long long lo, hi;     /* inclusive range (head: hi is n_heads - 1) */
    int deflt;            /* value when not given */
} HandlerArgInfo;

extern const HandlerArgInfo handler_arg_info[N_HANDLER_ARGS];
extern const char *const handler_arg_names[];   /* NULL-terminated */

typedef struct HandlerInfo {
    const char *name;        /* "heatmap" */
    Positional positional;   /* what its one positional argument is */
    unsigned named;          /* HARG_ bits: the named arguments it takes */
    const char *fn;          /* the runtime function called on an event (NULL: call's symbol) */
    const char *cfg;         /* its configuration type, or NULL */
    const char *example;     /* a file pattern for messages (POS_PATTERN) */
} HandlerInfo;

extern const HandlerInfo handler_info[N_HANDLERS];   /* indexed by HandlerKind */
extern const char *const handler_names[];            /* NULL-terminated */

/* ---- settings --------------------------------------------------------------- */

typedef enum { T_INT, T_REAL, T_BOOL, T_ENUM, T_STRING } SetType;

/* `bits` is shared by the clustered types (1..63: a hash is one 64-bit word)
 * and reformer (1..1024): lo..hi is the widest range, and check.c narrows it
 * to the range of the attention type in use (check_bits). */
/*        enum         DSL name                    type    lo  hi       enum values */
#define SETTINGS(X)                                                              \
    X(S_N_LAYERS, "n_layers",                T_INT,  1, 1024,    NULL)           \
    X(S_N_HEADS,  "n_heads",                 T_INT,  1, 1024,    NULL)           \
    X(S_QDIM,     "query_dimensions",        T_INT,  1, 65536,   NULL)           \
    X(S_VDIM,     "value_dimensions",        T_INT,  1, 65536,   NULL)           \
    X(S_FF,       "feed_forward_dimensions", T_INT,  1, 1048576, NULL)           \
    X(S_ATT,      "attention_type",          T_ENUM, 0, 0,       attention_type_names) \
    X(S_CROSS,    "cross_attention_type",    T_ENUM, 0, 0,       attention_type_names) \
    X(S_CAUSAL,   "causal",                  T_BOOL, 0, 0,       NULL)           \
    X(S_LOCAL,    "local_context",           T_INT,  1, 1048576, NULL)           \
    X(S_TOPK,     "topk",                    T_INT,  1, 1048576, NULL)           \
    X(S_TEMP,     "softmax_temp",            T_REAL, 0, 0,       NULL)           \
    X(S_ACT,      "activation",              T_ENUM, 0, 0,       activation_names) \
    X(S_NORM,     "normalization",           T_ENUM, 0, 0,       normalization_names) \
    X(S_FINAL,    "final_normalization",     T_BOOL, 0, 0,       NULL)           \
    X(S_EPS,      "layer_norm_eps",          T_REAL, 0, 0,       NULL)           \
    X(S_WEIGHTS,  "weights",                 T_ENUM, 0, 0,       weights_layout_names) \
    X(S_PREFIX,   "weights_prefix",          T_STRING, 0, 0,     NULL)           \
    X(S_FMAP,     "feature_map",             T_ENUM, 0, 0,       feature_map_names) \
    X(S_FDIM,     "feature_dimensions",      T_INT,  1, 65536,   NULL)           \
    X(S_STAB,     "stabilize",               T_BOOL, 0, 0,       NULL)           \
    X(S_SEED,     "random_seed",             T_INT,  0, 4294967295LL, NULL)  \
    X(S_DMODEL,   "model_dimensions",        T_INT,  1, 65536,   NULL)           \
    X(S_CROSS_H,  "cross_n_heads",           T_INT,  1, 1024,    NULL)           \
    X(S_CROSS_Q,  "cross_query_dimensions",  T_INT,  1, 65536,   NULL)           \
    X(S_CROSS_V,  "cross_value_dimensions",  T_INT,  1, 65536,   NULL)           \
    X(S_CROSS_M,  "cross_model_dimensions",  T_INT,  1, 65536,   NULL)           \
    X(S_MAXLEN,   "max_sequence_length",     T_INT,  1, 1048576, NULL)           \
    X(S_AFTP,     "aft_parameterization",    T_INT,  1, 65536,   NULL)           \
    X(S_CLUSTERS, "clusters",                T_INT,  1, 65536,   NULL)           \
    X(S_ITERS,    "iterations",              T_INT,  1, 1000,    NULL)           \
    X(S_BITS,     "bits",                    T_INT,  1, 1024,    NULL)           \
    X(S_HASHB,    "hash_bias",               T_BOOL, 0, 0,       NULL) \
    X(S_LIMIT,    "length_limit",            T_INT,  0, 1048576, NULL)           \
    X(S_FALLBACK, "fallback",                T_ENUM, 0, 0,       attention_type_names) \
    X(S_CHUNK,    "chunk_size",              T_INT,  1, 65536,   NULL)           \
    X(S_ROUNDS,   "rounds",                  T_INT,  1, 1024,    NULL)           \
    X(S_MASKED,   "masked",                  T_BOOL, 0, 0,       NULL)

typedef enum { SETTINGS(X_ENUM) S_COUNT } SetId;

typedef struct SetInfo {
    const char *name;
    SetType type;
    long long lo, hi;                 /* T_INT: inclusive range */
    const char *const *values;        /* T_ENUM: names, index = enum value */
} SetInfo;

extern const SetInfo setting_info[S_COUNT];
extern const char *const setting_names[];        /* NULL-terminated */

/* Values of the enum settings, index = the model.h enum value. */
extern const char *const attention_type_names[];  /* full, linear, …, clustered, …, conditional_full, reformer */
extern const char *const activation_names[];      /* relu, gelu */
extern const char *const feature_map_names[];     /* elu, favor, random_fourier, … (FeatureMapKind) */
extern const char *const normalization_names[];   /* post, pre */
extern const char *const weights_layout_names[];  /* torch, fast_transformers */
extern const char *const model_kind_names[];      /* TransformerEncoder, … */
extern const char *const block_names[];           /* encoder, decoder, embedding, head */

/* The settings of the token blocks (SPEC §8), index = the check.c switch. */
typedef enum { E_VOCAB, E_WEIGHT, E_SCALE, E_POSITIONS, E_MAX_POSITIONS, N_EMBEDDING_SETTINGS } EmbeddingSetting;
typedef enum { HD_WEIGHT, HD_BIAS, N_HEAD_SETTINGS } HeadSetting;
extern const char *const embedding_setting_names[];   /* vocab, weight, scale, positions, max_positions */
extern const char *const head_setting_names[];        /* weight, bias */
extern const char *const positions_names[];           /* none, sinusoidal, learned("…") */
extern const char *const bool_names[];            /* true, false */
extern const char *const placeholder_names[];     /* source, event, field, layer, step, call */

/* ---- operators of predicates ------------------------------------------------ */

/* The C text of a binary ExprKind ("+", "==", …); NULL for leaves. */
const char *expr_op_text(int expr_kind);

/* ---- lookups and "did you mean" --------------------------------------------- */

/* Index of word in a NULL-terminated list, or -1. */
int name_lookup(const char *word, const char *const *names);

/* "a, b, c or d" from a NULL-terminated list (static buffer, for messages). */
const char *name_list_text(const char *const *names);

/* 1 when s is a C identifier ([A-Za-z_][A-Za-z0-9_]*): a handler or a module
 * path component the emitter prints as a C name. */
int name_is_identifier(const char *s);

/* ---- PyTorch / fast-transformers spellings ------------------------------------ */

/* A name a PyTorch or fast-transformers user writes and what xfc calls it.
 * One table for settings (`nhead`), enum values (`prenorm`) and module path
 * components (`self_attn`): an entry applies where its `instead` (up to the
 * first blank) is one of the candidates, so `norm_first` only suggests
 * `normalization = pre` among settings. */
typedef struct Alias {
    const char *word;      /* "norm_first" */
    const char *value;     /* the value it applies to ("true"), or NULL for any */
    const char *instead;   /* "normalization = pre" */
} Alias;

extern const Alias aliases[];   /* ends with { NULL } */

/* The xfc spelling of `word` (with `value`, or NULL) whose first word is in
 * cands, or NULL. */
const char *alias_find(const char *word, const char *value, const char *const *cands);

/* Where each kind of name is documented, for the end of "unknown" errors. */
#define DOC_SETTINGS "docs/DSL.md §3 Settings"
#define DOC_EVENTS "docs/DSL.md §4 Events"
#define DOC_FILTERS "docs/DSL.md §5 Filters"
#define DOC_HANDLERS "docs/DSL.md §6 Handlers"
#define DOC_TOKENS "docs/DSL.md §3.3 Token models"

/* The one "did you mean": reports the formatted message followed by
 * "; did you mean 'X'?" when an alias (above), the lower-case spelling or a
 * candidate close to `word` is in cands (hint_fmt says how to quote it,
 * e.g. "'%s'" or "'{%s}'"), else by `otherwise` (e.g. " (expected a or b)",
 * may be ""); then " (see DOC)" when doc is not NULL.  `note` reports a note
 * instead of an error. */
void unknown(Loc loc, int note, const char *word, const char *const *cands, const char *hint_fmt,
             const char *otherwise, const char *doc, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* clang-format on */

#endif /* XFC_NAMES_H */
