/* check.c — gives the AST its meaning: every setting of docs/SPEC.md §2
 * resolved to a Model (fast-transformers builder defaults), every listener's
 * event classes, predicate fields and handler validated.
 *
 * Every problem is reported (diag_error / diag_warning at its position) and
 * checking goes on, so one run lists them all.  Whether a filter can match a
 * point of the model is plan.c's question, not ours.
 *
 * A Model borrows from the AST (names, patterns, filters) and its listener
 * array is allocated with ast_alloc: ast_free_all() frees both.
 */
#include "model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "strbuf.h"

/* ---- settings (their table is names.h's SETTINGS) ---------------------- */

#define D_MODEL_MAX 65536

/* Where a list of settings sits. */
typedef enum { SCOPE_TOP, SCOPE_ENCODER, SCOPE_DECODER } ScopeKind;

/* The valid settings of one scope: at[id] is the setting that gave the value. */
typedef struct Scope {
    const Setting *seen[S_COUNT]; /* first occurrence, valid or not (duplicates) */
    const Setting *at[S_COUNT];   /* valid occurrence */
    long long iv[S_COUNT];        /* T_INT, T_BOOL, T_ENUM */
    double fv[S_COUNT];           /* T_REAL */
} Scope;

/* A resolved stack with, for each setting, where it came from (NULL = default). */
typedef struct Resolved {
    Stack st;
    const Setting *from[S_COUNT];
    int is_decoder;
} Resolved;

typedef struct Ctx {
    int kind_known;
    ModelKind kind;
    const Setting *reported[64]; /* settings a combination error was already given for */
    int n_reported;
} Ctx;

/* Reports each combination problem once, even when a top-level setting of a
 * Transformer reaches both stacks. */
static int first_report(Ctx *c, const Setting *s) {
    for (int i = 0; i < c->n_reported; i++)
        if (c->reported[i] == s)
            return 0;
    if (c->n_reported < (int)(sizeof c->reported / sizeof c->reported[0]))
        c->reported[c->n_reported++] = s;
    return 1;
}

static const char *value_kind_text(const Value *v) {
    switch (v->kind) {
        case VAL_INT: return "an integer";
        case VAL_FLOAT: return "a number";
        case VAL_BOOL: return "a boolean";
        case VAL_STRING: return "a string";
        case VAL_IDENT: return "an identifier";
        case VAL_CALL: return "a call";
    }
    return "a value";
}

static const char *const no_names[] = {NULL};

/* "unknown WHAT 'word'" with a suggestion close to `near` (word as the user
 * spelled it, near normalized), or the whole list of candidates. */
static void expected(Loc loc, const char *what, const char *word, const char *near,
                     const char *const *cands, const char *doc) {
    char otherwise[600];
    snprintf(otherwise, sizeof otherwise, " (expected %s)", name_list_text(cands));
    unknown(loc, 0, near, cands, "'%s'", otherwise, doc, "unknown %s '%s'", what, word);
}

/* ---- one setting -------------------------------------------------------- */

/* Enum values: identifiers, or strings where "-" may stand for "_".
 * buf receives the normalized spelling (for suggestions). */
static int enum_value(const SetInfo *info, const Value *v, char *buf, size_t size) {
    size_t n = strlen(v->s);
    if (n >= size)
        n = size - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (v->kind == VAL_STRING && v->s[i] == '-') ? '_' : v->s[i];
    buf[n] = '\0';
    return strlen(v->s) >= size ? -1 : name_lookup(buf, info->values);
}

#define PREFIX_MAX 128

/* A weights_prefix goes into the generated C inside tensor names. */
static int is_tensor_prefix(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return 0;
    return n <= PREFIX_MAX;
}

/* setting := IDENT "=" value — type and range of one setting; 1 if valid. */
static int check_value(SetId id, const Setting *s, Scope *sc) {
    const SetInfo *info = &setting_info[id];
    const Value *v = &s->val;
    switch (info->type) {
        case T_INT:
            if (v->kind != VAL_INT) {
                diag_error(v->loc, "'%s' must be an integer, not %s", info->name,
                           value_kind_text(v));
                return 0;
            }
            if (id == S_BITS) { /* its range is the attention type's: check_bits */
                sc->iv[id] = v->overflow || v->i > info->hi ? info->hi + 1
                             : v->i < info->lo              ? info->lo - 1
                                                            : v->i;
                return 1;
            }
            if (v->overflow) {
                diag_error(
                    v->loc,
                    "%s must be between %lld and %lld (got an integer too large for 64 bits)",
                    info->name, info->lo, info->hi);
                return 0;
            }
            if (v->i < info->lo || v->i > info->hi) {
                diag_error(v->loc, "%s must be between %lld and %lld (got %lld)", info->name,
                           info->lo, info->hi, v->i);
                return 0;
            }
            sc->iv[id] = v->i;
            return 1;
        case T_REAL: {
            double f;
            if (v->kind == VAL_INT && !v->overflow) {
                f = (double)v->i;
            } else if (v->kind == VAL_FLOAT && !v->overflow) {
                f = v->f;
            } else if (v->kind == VAL_INT || v->kind == VAL_FLOAT) {
                diag_error(v->loc, "%s is out of range (the number is too large)", info->name);
                return 0;
            } else {
                diag_error(v->loc, "'%s' must be a number, not %s", info->name, value_kind_text(v));
                return 0;
            }
            if (id == S_TEMP && !(f > 0)) {
                diag_error(v->loc, "softmax_temp must be greater than 0 (got %g)", f);
                return 0;
            }
            if (id == S_EPS && !(f > 0 && f < 1)) {
                diag_error(v->loc, "layer_norm_eps must be between 0 and 1, exclusive (got %g)", f);
                return 0;
            }
            sc->fv[id] = f;
            return 1;
        }
        case T_BOOL:
            if (v->kind != VAL_BOOL) {
                int named = v->kind == VAL_IDENT || v->kind == VAL_STRING;
                unknown(v->loc, 0, named ? v->s : "", named ? bool_names : no_names, "'%s'", "",
                        NULL, "'%s' must be true or false, not %s", info->name, value_kind_text(v));
                return 0;
            }
            sc->iv[id] = v->i;
            return 1;
        case T_STRING:
            if (v->kind != VAL_STRING) {
                diag_error(v->loc, "'%s' must be a string, not %s", info->name, value_kind_text(v));
                return 0;
            }
            if (id == S_PREFIX && !is_tensor_prefix(v->s)) {
                diag_error(
                    v->loc,
                    "weights_prefix must be at most %d printable characters without quotes or "
                    "backslashes (a module path like \"encoder.\")",
                    PREFIX_MAX);
                return 0;
            }
            return 1;
        case T_ENUM: {
            if (v->kind != VAL_IDENT && v->kind != VAL_STRING) {
                diag_error(v->loc, "'%s' must be one of %s, not %s", info->name,
                           name_list_text(info->values), value_kind_text(v));
                return 0;
            }
            char norm[64];
            int e = enum_value(info, v, norm, sizeof norm);
            if (e < 0 && (id == S_ATT || id == S_CROSS) && v->kind == VAL_STRING &&
                strchr(v->s, ':')) {
                diag_error(v->loc,
                           "fast-transformers' composed \"%s\" is written '%s = conditional_full' "
                           "and 'fallback = <type>' here",
                           v->s, info->name);
                return 0;
            }
            if (e < 0) {
                expected(v->loc, info->name, v->s, norm, info->values, DOC_SETTINGS);
                return 0;
            }
            sc->iv[id] = e;
            return 1;
        }
    }
    return 0;
}

/* "unknown setting 'norm_first'; did you mean 'normalization = pre'?": the
 * PyTorch / fast-transformers spellings are matched with their value. */
static void unknown_setting(const Setting *s) {
    const Value *v = &s->val;
    const char *value = v->kind == VAL_BOOL                             ? (v->i ? "true" : "false")
                        : v->kind == VAL_IDENT || v->kind == VAL_STRING ? v->s
                                                                        : NULL;
    const char *alias = alias_find(s->name, value, setting_names);
    if (alias)
        diag_error(s->loc, "unknown setting '%s'; did you mean '%s'? (see %s)", s->name, alias,
                   DOC_SETTINGS);
    else
        unknown(s->loc, 0, s->name, setting_names, "'%s'", "", DOC_SETTINGS, "unknown setting '%s'",
                s->name);
}

/* setting* of one scope (model top level, or an encoder/decoder block). */
static void check_scope(Ctx *c, const Setting *list, ScopeKind where, Scope *sc) {
    memset(sc, 0, sizeof *sc);
    for (const Setting *s = list; s; s = s->next) {
        int id = name_lookup(s->name, setting_names);
        if (id < 0) {
            unknown_setting(s);
            continue;
        }
        if (sc->seen[id]) {
            diag_error(s->loc, "duplicate setting '%s'", s->name);
            diag_note(sc->seen[id]->loc, "'%s' first set here", s->name);
            continue;
        }
        sc->seen[id] = s;
        if ((id == S_WEIGHTS || id == S_PREFIX) && where != SCOPE_TOP) {
            diag_error(s->loc, "'%s' applies to the whole model; set it outside the '%s' block",
                       s->name, where == SCOPE_ENCODER ? "encoder" : "decoder");
            continue;
        }
        int cross = id == S_CROSS || id == S_CROSS_H || id == S_CROSS_Q || id == S_CROSS_V ||
                    id == S_CROSS_M;
        if (cross && c->kind_known && c->kind == MODEL_ENCODER) {
            diag_error(s->loc,
                       "'%s' is only for models with a decoder (this is a TransformerEncoder)",
                       s->name);
            continue;
        }
        if (cross && where == SCOPE_ENCODER) {
            diag_error(s->loc,
                       "'%s' belongs in the decoder block (the encoder has no cross-attention)",
                       s->name);
            continue;
        }
        if (check_value((SetId)id, s, sc))
            sc->at[id] = s;
    }
}

/* ---- stacks ------------------------------------------------------------- */

/* Defaults (fast-transformers' builders), then the top level, then the block. */
static void resolve_stack(Resolved *r, const Scope *top, const Scope *blk, int is_decoder) {
    static const long long idef[S_COUNT] = {
        [S_N_LAYERS] = 4,
        [S_N_HEADS] = 4,
        [S_QDIM] = 64,
        [S_VDIM] = 64,
        [S_FF] = 1024,
        [S_ATT] = ATT_FULL,
        [S_CROSS] = ATT_FULL,
        [S_CAUSAL] = 0,
        [S_LOCAL] = 32,
        [S_TOPK] = 32,
        [S_ACT] = ACT_RELU,
        [S_NORM] = NORM_POST,
        [S_FINAL] = 1,
        [S_FMAP] = FMAP_ELU,
        [S_FDIM] = 0,
        [S_STAB] = 0,
        [S_SEED] = 0,
        [S_MAXLEN] = 1024,
        [S_AFTP] = 64,
        [S_CLUSTERS] = 0,
        [S_ITERS] = 10,
        [S_BITS] = 63,
        [S_HASHB] = 1,
        [S_LIMIT] = 512,
        [S_FALLBACK] = ATT_FULL, /* none: conditional_full requires one */
        [S_CHUNK] = 32,
        [S_ROUNDS] = 4,
        [S_MASKED] = 0,
    };
    long long iv[S_COUNT];
    double fv[S_COUNT] = {[S_EPS] = 1e-5};
    memset(r, 0, sizeof *r);
    r->is_decoder = is_decoder;
    for (int id = 0; id < S_COUNT; id++) {
        const Scope *sc = blk && blk->at[id] ? blk : top && top->at[id] ? top : NULL;
        iv[id] = sc ? sc->iv[id] : idef[id];
        if (sc)
            fv[id] = sc->fv[id];
        r->from[id] = sc ? sc->at[id] : NULL;
    }
    Stack *st = &r->st;
    st->n_layers = (int)iv[S_N_LAYERS];
    st->n_heads = (int)iv[S_N_HEADS];
    st->query_dimensions = (int)iv[S_QDIM];
    st->value_dimensions = (int)iv[S_VDIM];
    st->d_model = iv[S_DMODEL] ? (int)iv[S_DMODEL]
                               : st->n_heads * st->value_dimensions; /* <= 1024 * 65536: fits */
    st->cross_n_heads = iv[S_CROSS_H] ? (int)iv[S_CROSS_H] : st->n_heads;
    st->cross_query_dimensions = iv[S_CROSS_Q] ? (int)iv[S_CROSS_Q] : st->query_dimensions;
    st->cross_value_dimensions = iv[S_CROSS_V] ? (int)iv[S_CROSS_V] : st->value_dimensions;
    st->memory_dimensions =
        iv[S_CROSS_M] ? (int)iv[S_CROSS_M] : st->cross_n_heads * st->cross_value_dimensions;
    st->feed_forward_dimensions = (int)iv[S_FF];
    st->attention_type = (AttentionType)iv[S_ATT];
    st->cross_attention_type = (AttentionType)iv[S_CROSS];
    st->causal = (int)iv[S_CAUSAL];
    st->local_context = (int)iv[S_LOCAL];
    st->topk = (int)iv[S_TOPK];
    st->max_sequence_length = (int)iv[S_MAXLEN];
    st->aft_parameterization = (int)iv[S_AFTP];
    st->clusters = (int)iv[S_CLUSTERS];
    st->iterations = (int)iv[S_ITERS];
    st->bits = (int)iv[S_BITS];
    st->hash_bias = (int)iv[S_HASHB];
    st->length_limit = (int)iv[S_LIMIT];
    st->fallback = (AttentionType)iv[S_FALLBACK];
    st->chunk_size = (int)iv[S_CHUNK];
    st->rounds = (int)iv[S_ROUNDS];
    st->masked = (int)iv[S_MASKED];
    st->softmax_temp = r->from[S_TEMP] ? fv[S_TEMP] : 1.0 / sqrt((double)st->query_dimensions);
    /* fast-transformers' default is 1/sqrt(E) of the queries each attention sees */
    st->cross_softmax_temp =
        r->from[S_TEMP] ? fv[S_TEMP] : 1.0 / sqrt((double)st->cross_query_dimensions);
    st->activation = (Activation)iv[S_ACT];
    st->normalization = (NormPlace)iv[S_NORM];
    st->final_normalization = (int)iv[S_FINAL];
    st->layer_norm_eps = r->from[S_EPS] ? fv[S_EPS] : 1e-5;
    st->feature_map = (FeatureMapKind)iv[S_FMAP];
    st->feature_dimensions = iv[S_FDIM] ? (int)iv[S_FDIM] : st->query_dimensions;
    st->stabilize = (int)iv[S_STAB];
    st->random_seed = iv[S_SEED];
    if (!is_decoder)
        st->cross_attention_type = ATT_FULL;
}

/* The later of two settings in the file (either may be NULL). */
static const Setting *later(const Setting *a, const Setting *b) {
    if (!a)
        return b;
    if (!b)
        return a;
    if (b->loc.line > a->loc.line || (b->loc.line == a->loc.line && b->loc.col > a->loc.col))
        return b;
    return a;
}

/* feature_map with feature_dimensions and stabilize: the sizes
 * fast-transformers' feature maps need (an omega of at least one column). */
static void check_feature_map(Ctx *c, Resolved *r) {
    Stack *st = &r->st;
    const Setting *const *from = r->from;
    static const int min_dims[] = {[FMAP_ELU] = 1,
                                   [FMAP_FAVOR] = 2,
                                   [FMAP_RANDOM_FOURIER] = 2,
                                   [FMAP_SMOOTHED_RANDOM_FOURIER] = 3,
                                   [FMAP_GENERALIZED_RANDOM] = 1};
    if (st->feature_map == FMAP_ELU && from[S_FDIM] && first_report(c, from[S_FDIM]))
        diag_error(from[S_FDIM]->val.loc, "feature_dimensions needs a random feature_map (favor, "
                                          "random_fourier, smoothed_random_fourier or "
                                          "generalized_random); elu keeps query_dimensions");
    else if (st->feature_dimensions < min_dims[st->feature_map]) {
        const Setting *at = from[S_FDIM]   ? from[S_FDIM]
                            : from[S_QDIM] ? from[S_QDIM]
                                           : from[S_FMAP];
        if (at && first_report(c, at))
            diag_error(at->val.loc, "feature_map = %s needs feature_dimensions >= %d (got %d)",
                       feature_map_names[st->feature_map], min_dims[st->feature_map],
                       st->feature_dimensions);
    }
    if (st->stabilize && st->feature_map != FMAP_FAVOR && from[S_STAB] &&
        first_report(c, from[S_STAB]))
        diag_error(from[S_STAB]->val.loc,
                   "stabilize applies to feature_map = favor only (this is %s)",
                   feature_map_names[st->feature_map]);
}

/* model_dimensions and the cross-attention's dimensions: sizes that fit, and
 * with torch weights the one layout torch's MultiheadAttention has. */
static void check_cross_dimensions(Ctx *c, Resolved *r, WeightsLayout weights) {
    Stack *st = &r->st;
    const Setting *const *from = r->from;
    long long chdv = (long long)st->cross_n_heads * st->cross_value_dimensions;
    if (r->is_decoder && chdv > D_MODEL_MAX) {
        const Setting *at = later(from[S_CROSS_H], from[S_CROSS_V]);
        if (at && first_report(c, at))
            diag_error(at->val.loc, "cross_n_heads * cross_value_dimensions = %lld exceeds %d",
                       chdv, D_MODEL_MAX);
    }
    if (weights != WEIGHTS_TORCH)
        return;
    static const SetId ft_only[] = {S_DMODEL, S_CROSS_H, S_CROSS_Q, S_CROSS_V, S_CROSS_M};
    static const char *const why[] = {
        "torch's attention projects d_model to n_heads * value_dimensions and back",
        "torch's decoder layer has one head count, one head size and d_model-wide memory",
    };
    int differs[] = {
        st->d_model != st->n_heads * st->value_dimensions,
        st->cross_n_heads != st->n_heads,
        st->cross_query_dimensions != st->query_dimensions,
        st->cross_value_dimensions != st->value_dimensions,
        st->memory_dimensions != st->d_model,
    };
    for (int i = 0; i < 5; i++)
        if (differs[i] && from[ft_only[i]] && first_report(c, from[ft_only[i]]))
            diag_error(from[ft_only[i]]->val.loc,
                       "%s = %lld needs weights = fast_transformers (%s)",
                       setting_info[ft_only[i]].name, from[ft_only[i]]->val.i, why[i > 0]);
}

/* AFT works per channel, and reformer returns its values in the queries'
 * shape: queries, keys and values of one size (fast-transformers raises
 * otherwise).  Reformer hashes the queries as its keys: self-attention only. */
static void check_equal_dims(Ctx *c, Resolved *r) {
    Stack *st = &r->st;
    static const AttentionType types[] = {ATT_AFT_FULL, ATT_AFT_SIMPLE, ATT_REFORMER};
    static const char *const why[] = {"AFT works per channel", "AFT works per channel",
                                      "it returns its values in the queries' shape"};
    for (int cross = 0; cross <= r->is_decoder; cross++) {
        AttentionType t = cross ? st->cross_attention_type : st->attention_type;
        int E = cross ? st->cross_query_dimensions : st->query_dimensions;
        int D = cross ? st->cross_value_dimensions : st->value_dimensions;
        const Setting *at = r->from[cross ? S_CROSS : S_ATT];
        if (t == ATT_CONDITIONAL_FULL && r->from[S_FALLBACK])
            at = r->from[S_FALLBACK];
        for (int i = 0; i < 3; i++) {
            int shared_qk = cross && types[i] == ATT_REFORMER;
            if (!attention_runs(st, t, types[i]) || !(shared_qk || E != D) || !at ||
                !first_report(c, at))
                continue;
            if (shared_qk)
                diag_error(at->val.loc,
                           "reformer attention hashes the queries as its keys (shared QK, "
                           "fast-transformers' ReformerAttention): self-attention only, not "
                           "cross-attention");
            else
                diag_error(at->val.loc,
                           "%s needs %squery_dimensions == %svalue_dimensions (%s; got %d and %d)",
                           attention_type_names[types[i]], cross ? "cross_" : "",
                           cross ? "cross_" : "", why[i], E, D);
        }
    }
}

/* conditional_full (fast-transformers' "conditional-full:<fallback>"): a
 * fallback is required, is another type, and keeps the stack's causality. */
static void check_conditional(Ctx *c, Resolved *r) {
    Stack *st = &r->st;
    const Setting *fb = r->from[S_FALLBACK];
    for (int cross = 0; cross <= r->is_decoder; cross++) {
        AttentionType t = cross ? st->cross_attention_type : st->attention_type;
        const Setting *at = r->from[cross ? S_CROSS : S_ATT];
        if (t != ATT_CONDITIONAL_FULL)
            continue;
        if (!fb) {
            if (at && first_report(c, at))
                diag_error(
                    at->val.loc,
                    "%s = conditional_full needs fallback = <attention type>, the attention "
                    "used above length_limit (fast-transformers' \"conditional-full:<type>\")",
                    cross ? "cross_attention_type" : "attention_type");
            continue;
        }
        const char *why = NULL;
        if (st->fallback == ATT_FULL || st->fallback == ATT_CONDITIONAL_FULL)
            why = "fallback must be another attention type than full or conditional_full";
        else if (st->fallback == ATT_CLUSTERED || st->fallback == ATT_IMPROVED_CLUSTERED ||
                 st->fallback == ATT_CAUSAL_IMPROVED_CLUSTERED)
            why = "a clustered fallback is not supported: use attention_type = clustered (or "
                  "improved_clustered) itself";
        else if (cross && st->fallback == ATT_CAUSAL_LINEAR)
            why = "cross-attention cannot fall back to causal_linear: attention over the memory "
                  "is not causal (use linear)";
        else if (!cross && st->causal && st->fallback == ATT_LINEAR)
            why = "fallback = linear is not causal; with causal = true use fallback = "
                  "causal_linear";
        else if (!cross && !st->causal && st->fallback == ATT_CAUSAL_LINEAR)
            why = "fallback = causal_linear is always causal: set causal = true, so that the full "
                  "attention below length_limit is causal too";
        if (why && first_report(c, fb))
            diag_error(fb->val.loc, "%s", why);
    }
}

static int is_clustered(AttentionType t) {
    return t == ATT_CLUSTERED || t == ATT_IMPROVED_CLUSTERED || t == ATT_CAUSAL_IMPROVED_CLUSTERED;
}

/* The clustered types (fast-transformers' registry): `clusters` has no
 * default; clustered and improved_clustered take no mask but lengths, the
 * causal one needs the triangular mask (it raises otherwise) and so cannot
 * attend over a memory. */
static void check_clustered(Ctx *c, Resolved *r) {
    Stack *st = &r->st;
    const Setting *const *from = r->from;
    for (int cross = 0; cross <= r->is_decoder; cross++) {
        AttentionType t = cross ? st->cross_attention_type : st->attention_type;
        const Setting *at = from[cross ? S_CROSS : S_ATT];
        if (!is_clustered(t) || !at)
            continue;
        const char *name = attention_type_names[t];
        const Setting *where = at;
        char msg[240] = "";
        if (!st->clusters)
            snprintf(msg, sizeof msg,
                     "%s needs clusters = N (how many groups of queries; fast-transformers has "
                     "no default)",
                     name);
        else if (cross && t == ATT_CAUSAL_IMPROVED_CLUSTERED)
            snprintf(msg, sizeof msg,
                     "cross_attention_type cannot be %s: attention over the memory is not "
                     "causal (use improved_clustered)",
                     name);
        else if (!cross && t != ATT_CAUSAL_IMPROVED_CLUSTERED && st->causal)
            where = from[S_CAUSAL] ? from[S_CAUSAL] : at,
            snprintf(msg, sizeof msg,
                     "%s cannot be causal (fast-transformers accepts no attention mask there); "
                     "use causal_improved_clustered",
                     name);
        else if (!cross && t == ATT_CAUSAL_IMPROVED_CLUSTERED && from[S_CAUSAL] && !st->causal)
            where = from[S_CAUSAL],
            snprintf(msg, sizeof msg,
                     "causal = false contradicts attention_type = %s, which is "
                     "always causal",
                     name);
        if (*msg && first_report(c, where))
            diag_error(where->val.loc, "%s", msg);
    }
    if (st->attention_type == ATT_CAUSAL_IMPROVED_CLUSTERED)
        st->causal = 1;
}

/* bits: 1..63 for the clustered types (a hash is one 64-bit word), 1..1024
 * (the table's range) for reformer and for a stack using neither (which
 * warn_unused then warns about); the message names the type in use. */
static void check_bits(Ctx *c, Resolved *r) {
    const Setting *at = r->from[S_BITS];
    if (!at)
        return;
    const Stack *st = &r->st;
    long long lo = setting_info[S_BITS].lo, hi = setting_info[S_BITS].hi;
    const char *type = NULL;
    for (int cross = 0; cross <= r->is_decoder; cross++) {
        AttentionType t = cross ? st->cross_attention_type : st->attention_type;
        if (is_clustered(t))
            hi = 63, type = attention_type_names[t];
        else if (attention_runs(st, t, ATT_REFORMER) && !type)
            type = "reformer";
    }
    const Value *v = &at->val;
    if ((!v->overflow && v->i >= lo && v->i <= hi) || !first_report(c, at))
        return;
    char got[64] = "an integer too large for 64 bits";
    if (!v->overflow)
        snprintf(got, sizeof got, "%lld", v->i);
    diag_error(v->loc, "bits must be between %lld and %lld%s%s (got %s)", lo, hi,
               type ? " for " : "", type ? type : "", got);
}

/* Combinations within one stack. */
static void check_stack(Ctx *c, Resolved *r, WeightsLayout weights, const Setting *weights_at) {
    Stack *st = &r->st;
    const Setting *const *from = r->from;

    check_cross_dimensions(c, r, weights);

    long long d_model = (long long)st->n_heads * st->value_dimensions;
    if (d_model > D_MODEL_MAX) {
        const Setting *at = later(from[S_N_HEADS], from[S_VDIM]);
        if (at && first_report(c, at))
            diag_error(at->val.loc,
                       "d_model = n_heads * value_dimensions = %d * %d = %lld exceeds %d",
                       st->n_heads, st->value_dimensions, d_model, D_MODEL_MAX);
    }

    if (weights == WEIGHTS_TORCH && st->query_dimensions != st->value_dimensions) {
        const Setting *at = from[S_QDIM] ? from[S_QDIM] : from[S_VDIM];
        if (at && first_report(c, at)) {
            diag_error(
                at->val.loc,
                "query_dimensions (%d) != value_dimensions (%d) needs weights = fast_transformers "
                "(torch attention uses one size per head for queries, keys and values)",
                st->query_dimensions, st->value_dimensions);
            if (weights_at)
                diag_note(weights_at->val.loc, "weights = torch is set here");
        }
    }

    if (st->attention_type == ATT_LINEAR && st->causal && from[S_ATT] && from[S_CAUSAL]) {
        if (first_report(c, from[S_ATT])) {
            diag_error(from[S_ATT]->val.loc, "attention_type = linear is not causal; with causal = "
                                             "true use attention_type = causal_linear");
            diag_note(from[S_CAUSAL]->val.loc, "causal = true is set here");
        }
    }

    if (st->attention_type == ATT_CAUSAL_LINEAR) {
        if (from[S_CAUSAL] && !st->causal) {
            if (first_report(c, from[S_CAUSAL])) {
                diag_error(from[S_CAUSAL]->val.loc,
                           "causal = false contradicts attention_type = causal_linear, which is "
                           "always causal "
                           "(causal_linear implies causal = true; set it or remove the line)");
                if (from[S_ATT])
                    diag_note(from[S_ATT]->val.loc, "attention_type = causal_linear is set here");
            }
        }
        st->causal = 1;
    }

    check_feature_map(c, r);
    check_conditional(c, r);
    check_equal_dims(c, r);
    check_clustered(c, r);
    check_bits(c, r);

    if (r->is_decoder && st->cross_attention_type == ATT_CAUSAL_LINEAR && from[S_CROSS]) {
        if (first_report(c, from[S_CROSS]))
            diag_error(from[S_CROSS]->val.loc, "cross_attention_type cannot be causal_linear: "
                                               "attention over the memory is not causal "
                                               "(use linear)");
    }
}

static int uses(const Resolved *r, AttentionType t) {
    return attention_runs(&r->st, r->st.attention_type, t) ||
           (r->is_decoder && attention_runs(&r->st, r->st.cross_attention_type, t));
}

/* Does the stack use any attention type of the mask (bit 1 << type)? */
static int uses_any(const Resolved *r, unsigned types) {
    for (int t = 0; t < 32; t++)
        if ((types >> t & 1u) && uses(r, (AttentionType)t))
            return 1;
    return 0;
}

/* local_context / topk / feature_map… written where no stack they reach uses
 * them: `needs` is the mask (1 << type) of the types that read the setting. */
static void warn_unused(Resolved *const *rs, int n, SetId id, unsigned needs,
                        const char *type_name) {
    for (int i = 0; i < n; i++) {
        const Setting *s = rs[i]->from[id];
        if (!s)
            continue;
        int used = 0, seen_before = 0;
        for (int j = 0; j < n; j++) {
            if (rs[j]->from[id] != s)
                continue;
            if (j < i)
                seen_before = 1;
            if (uses_any(rs[j], needs))
                used = 1;
        }
        if (!used && !seen_before)
            diag_warning(s->loc, "'%s' has no effect: attention_type is not %s",
                         setting_info[id].name, type_name);
    }
}

/* ---- token blocks: embedding { } and head { } (SPEC §8) ------------------- */

/* The embedding and head blocks found for one stack. */
typedef struct TokenBlocks {
    const Block *emb, *head;
} TokenBlocks;

/* Files block b (named embedding or head) under its stack; `stack` names the
 * stack for messages ("decoder") or is NULL for a model without blocks. */
static void add_token_block(const Block *b, int which, TokenBlocks *tb, const char *stack) {
    const Block **slot = which == 2 ? &tb->emb : &tb->head;
    if (which == 3 && stack && strcmp(stack, "encoder") == 0) {
        diag_error(
            b->loc,
            "'head { … }' goes in the decoder block: a Transformer generates with its decoder");
        return;
    }
    if (*slot) {
        diag_error(b->loc, "duplicate '%s' block", b->name);
        diag_note((*slot)->loc, "the first '%s' block is here", b->name);
        return;
    }
    *slot = b;
    for (const Block *in = b->blocks; in; in = in->next)
        diag_error(in->loc, "'%s { … }' cannot be nested in '%s { … }'", in->name, b->name);
}

/* A tensor name: a non-empty string. */
static const char *tensor_name(const Setting *s) {
    if (s->val.kind != VAL_STRING || !s->val.s[0]) {
        diag_error(s->val.loc, "'%s' must be a tensor name string, e.g. \"tok.weight\" (not %s)",
                   s->name,
                   s->val.kind == VAL_STRING ? "an empty string" : value_kind_text(&s->val));
        return NULL;
    }
    return s->val.s;
}

/* An integer setting of a token block in [lo, hi]; -1 if invalid. */
static int block_int(const Setting *s, int lo, int hi) {
    const Value *v = &s->val;
    if (v->kind != VAL_INT || v->overflow || v->i < lo || v->i > hi) {
        diag_error(v->loc, "%s must be an integer between %d and %d", s->name, lo, hi);
        return -1;
    }
    return (int)v->i;
}

/* The settings of a token block, by index into `names`; duplicates and unknown
 * names reported.  at[i] is the setting or NULL. */
static void block_settings(const Block *b, const char *const *names, const Setting **at, int n) {
    for (int i = 0; i < n; i++)
        at[i] = NULL;
    for (const Setting *s = b->settings; s; s = s->next) {
        int id = name_lookup(s->name, names);
        if (id < 0) {
            char what[64];
            snprintf(what, sizeof what, "%s setting", b->name);
            expected(s->loc, what, s->name, s->name, names, DOC_TOKENS);
        } else if (at[id]) {
            diag_error(s->loc, "duplicate setting '%s'", s->name);
            diag_note(at[id]->loc, "'%s' first set here", s->name);
        } else {
            at[id] = s;
        }
    }
}

/* scale = sqrt_d_model | number;  positions = none | sinusoidal | learned("…") */
static void embedding_scale_positions(const Setting *scale, const Setting *pos, Embedding *e,
                                      int d_model) {
    if (scale && scale->val.kind == VAL_IDENT && strcmp(scale->val.s, "sqrt_d_model") == 0) {
        e->scale_sqrt = 1;
        e->scale = sqrt((double)d_model);
    } else if (scale && (scale->val.kind == VAL_INT || scale->val.kind == VAL_FLOAT) &&
               !scale->val.overflow) {
        e->scale = scale->val.kind == VAL_INT ? (double)scale->val.i : scale->val.f;
        if (!(e->scale > 0 && e->scale < 1e30))
            diag_error(scale->val.loc, "scale must be greater than 0 (got %g)", e->scale);
    } else if (scale) {
        diag_error(scale->val.loc, "scale must be sqrt_d_model or a number, not %s",
                   value_kind_text(&scale->val));
    }
    if (!pos)
        return;
    const Value *v = &pos->val;
    int k = v->kind == VAL_IDENT || v->kind == VAL_CALL ? name_lookup(v->s, positions_names) : -1;
    if (k < 0 && (v->kind == VAL_IDENT || v->kind == VAL_CALL))
        expected(v->loc, "positions", v->s, v->s, positions_names, DOC_TOKENS);
    else if (k < 0)
        diag_error(v->loc, "positions must be sinusoidal, learned(\"tensor\") or none, not %s",
                   value_kind_text(v));
    else if ((k == POS_ENC_LEARNED) != (v->kind == VAL_CALL))
        diag_error(v->loc,
                   k == POS_ENC_LEARNED
                       ? "learned positions name their tensor: learned(\"pos.weight\")"
                       : "'%s' takes no argument",
                   v->s);
    else if (k == POS_ENC_LEARNED && !v->arg[0])
        diag_error(v->loc, "learned(\"…\") needs a tensor name");
    else {
        e->positions = (Positions)k;
        e->pos_weight = k == POS_ENC_LEARNED ? v->arg : NULL;
    }
}

/* embedding := "embedding" "{" vocab weight [scale] [positions] [max_positions] "}" */
static void check_embedding(const Block *b, Embedding *e, int d_model) {
    const Setting *at[N_EMBEDDING_SETTINGS];
    block_settings(b, embedding_setting_names, at, N_EMBEDDING_SETTINGS);
    memset(e, 0, sizeof *e);
    e->present = 1;
    e->loc = b->loc;
    e->scale = 1;
    e->max_positions = 1024;
    if (!at[E_VOCAB])
        diag_error(b->loc, "embedding needs 'vocab = N' (the number of token ids)");
    else
        e->vocab = block_int(at[E_VOCAB], 1, 1 << 24);
    if (!at[E_WEIGHT])
        diag_error(b->loc, "embedding needs 'weight = \"…\"' (the tensor [vocab, d_model])");
    else
        e->weight = tensor_name(at[E_WEIGHT]);
    if (at[E_MAX_POSITIONS])
        e->max_positions = block_int(at[E_MAX_POSITIONS], 1, 1 << 20);
    embedding_scale_positions(at[E_SCALE], at[E_POSITIONS], e, d_model);
}

/* head := "head" "{" weight = "…" | embedding  [bias = "…"] "}" */
static void check_head(const Block *b, Head *h, const Embedding *e) {
    const Setting *at[N_HEAD_SETTINGS];
    block_settings(b, head_setting_names, at, N_HEAD_SETTINGS);
    memset(h, 0, sizeof *h);
    h->present = 1;
    h->loc = b->loc;
    if (!e->present)
        diag_error(
            b->loc,
            "a head needs an embedding in the same stack: generation feeds each chosen token "
            "back in (add embedding { vocab = …  weight = \"…\" })");
    const Setting *w = at[HD_WEIGHT];
    if (!w)
        diag_error(
            b->loc,
            "head needs 'weight = \"…\"' (the tensor [vocab, d_model]) or 'weight = embedding'");
    else if (w->val.kind == VAL_IDENT && strcmp(w->val.s, "embedding") == 0)
        h->weight = NULL; /* tied */
    else
        h->weight = tensor_name(w);
    if (at[HD_BIAS])
        h->bias = tensor_name(at[HD_BIAS]);
}

/* The token blocks of every stack, once d_model is known. */
static void check_token_blocks(const ModelDecl *md, Model *m, const TokenBlocks tok[2]) {
    if (m->kind == MODEL_DECODER && (tok[1].emb || tok[1].head)) {
        const Block *b = tok[1].emb ? tok[1].emb : tok[1].head;
        diag_error(b->loc,
                   "token blocks need a TransformerEncoder (a decoder-only LM, causal = true) or a "
                   "Transformer: a TransformerDecoder's memory comes as floats");
        return;
    }
    for (int st = 0; st < 2; st++) {
        Stack *s = st == 0 ? &m->enc : &m->dec;
        if (tok[st].emb)
            check_embedding(tok[st].emb, &s->emb, s->d_model);
        if (tok[st].head)
            check_head(tok[st].head, &s->head, &s->emb);
    }
    if (m->kind == MODEL_TRANSFORMER && m->enc.emb.present != m->dec.emb.present) {
        const Embedding *one = m->enc.emb.present ? &m->enc.emb : &m->dec.emb;
        diag_error(one->loc,
                   "a Transformer takes token ids in both stacks or in neither: add an embedding "
                   "{ } to the %s block",
                   m->enc.emb.present ? "decoder" : "encoder");
    }
    (void)md;
}

/* ---- the model --------------------------------------------------------- */

static int is_c_reserved(const char *name) {
    static const char *const words[] = {
        "auto",
        "break",
        "case",
        "char",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extern",
        "float",
        "for",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "while",
        "_Alignas",
        "_Alignof",
        "_Atomic",
        "_Bool",
        "_Complex",
        "_Generic",
        "_Imaginary",
        "_Noreturn",
        "_Static_assert",
        "_Thread_local",
        "asm",
        "typeof",
        "bool",
        "true",
        "false",
        "NULL",
        "alignas",
        "alignof",
        "noreturn",
        "static_assert",
        "thread_local",
        "complex",
        "imaginary",
        "main",
        NULL,
    };
    return name_lookup(name, words) >= 0;
}

/* A name the generated C uses as a prefix or symbol: NAME_load, my_handler. */
static int check_c_name(Loc loc, const char *name, const char *what) {
    if (is_c_reserved(name)) {
        diag_error(loc, "%s '%s' cannot be used: it is a C keyword or reserved name", what, name);
        return 0;
    }
    if (strncmp(name, "xf_", 3) == 0 || strncmp(name, "XF_", 3) == 0) {
        diag_error(loc, "%s '%s' cannot start with '%.3s' (reserved for the xfc runtime)", what,
                   name, name);
        return 0;
    }
    if (name[0] == '_' && (name[1] == '_' || (name[1] >= 'A' && name[1] <= 'Z'))) {
        diag_error(loc, "%s '%s' is reserved in C (names starting with '__' or '_' and a capital)",
                   what, name);
        return 0;
    }
    return 1;
}

/* block := IDENT "{" body "}" at the model's top level: encoder / decoder
 * (Transformer), or the token blocks of a one-stack model. */
static void check_blocks(Ctx *c, const ModelDecl *md, const Block *blocks[2], Scope blk[2],
                         TokenBlocks tok[2]) {
    for (const Block *b = md->blocks; b; b = b->next) {
        int which = name_lookup(b->name, block_names);
        if (which < 0) {
            expected(b->loc, "block", b->name, b->name, block_names, DOC_SETTINGS);
            continue;
        }
        if (which >= 2) {
            if (c->kind_known && c->kind == MODEL_TRANSFORMER)
                diag_error(b->loc, "in a Transformer, '%s { … }' goes inside the %s block", b->name,
                           which == 2 ? "encoder { } and decoder { }" : "decoder { }");
            else
                add_token_block(b, which, &tok[c->kind == MODEL_DECODER], NULL);
            continue;
        }
        if (c->kind_known && c->kind != MODEL_TRANSFORMER) {
            diag_error(b->loc,
                       "'%s { … }' blocks are only allowed in a Transformer model (this is a %s)",
                       b->name, model_kind_names[c->kind]);
            continue;
        }
        if (blocks[which]) {
            diag_error(b->loc, "duplicate '%s' block", b->name);
            diag_note(blocks[which]->loc, "the first '%s' block is here", b->name);
            continue;
        }
        blocks[which] = b;
        check_scope(c, b->settings, which == 0 ? SCOPE_ENCODER : SCOPE_DECODER, &blk[which]);
        for (const Block *in = b->blocks; in; in = in->next) {
            int w = name_lookup(in->name, block_names);
            if (w < 2)
                diag_error(in->loc,
                           "'%s { … }' cannot be nested in '%s { … }' (it takes embedding { } and "
                           "head { })",
                           in->name, b->name);
            else
                add_token_block(in, w, &tok[which], b->name);
        }
    }
}

/* model_decl := "model" IDENT ":" IDENT "{" (setting | block)* "}" */
static void check_model(Ctx *c, const ModelDecl *md, Model *m) {
    m->name = md->name;
    check_c_name(md->name_loc, md->name, "model name");

    int k = name_lookup(md->kind, model_kind_names);
    if (k < 0) {
        expected(md->kind_loc, "model kind", md->kind, md->kind, model_kind_names,
                 "docs/DSL.md §3 The model");
        c->kind_known = 0;
        c->kind = MODEL_ENCODER;
    } else {
        c->kind_known = 1;
        c->kind = (ModelKind)k;
    }
    m->kind = c->kind;

    Scope top, blk[2];
    const Block *blocks[2] = {NULL, NULL};
    check_scope(c, md->settings, SCOPE_TOP, &top);

    TokenBlocks tok[2] = {{NULL, NULL}, {NULL, NULL}};
    check_blocks(c, md, blocks, blk, tok);

    m->weights_prefix = top.at[S_PREFIX] ? top.at[S_PREFIX]->val.s : "";
    m->weights = top.at[S_WEIGHTS] ? (WeightsLayout)top.iv[S_WEIGHTS] : WEIGHTS_TORCH;
    const Setting *weights_at = top.at[S_WEIGHTS];

    Resolved enc, dec;
    Resolved *rs[2];
    int n = 0;
    int has_enc = c->kind != MODEL_DECODER;
    int has_dec = c->kind != MODEL_ENCODER;
    if (has_enc) {
        resolve_stack(&enc, &top, blocks[0] ? &blk[0] : NULL, 0);
        check_stack(c, &enc, m->weights, weights_at);
        m->enc = enc.st;
        rs[n++] = &enc;
    }
    if (has_dec) {
        resolve_stack(&dec, &top, blocks[1] ? &blk[1] : NULL, 1);
        check_stack(c, &dec, m->weights, weights_at);
        m->dec = dec.st;
        rs[n++] = &dec;
    }
    warn_unused(rs, n, S_LOCAL, 1u << ATT_LOCAL, "local");
    const unsigned clustered =
        1u << ATT_CLUSTERED | 1u << ATT_IMPROVED_CLUSTERED | 1u << ATT_CAUSAL_IMPROVED_CLUSTERED;
    const unsigned improved = 1u << ATT_IMPROVED_CLUSTERED | 1u << ATT_CAUSAL_IMPROVED_CLUSTERED;
    warn_unused(rs, n, S_TOPK, 1u << ATT_EXACT_TOPK | improved,
                "exact_topk or (causal_)improved_clustered");
    warn_unused(rs, n, S_BITS, clustered | 1u << ATT_REFORMER,
                "one of the clustered types or reformer");
    static const SetId clu_settings[] = {S_CLUSTERS, S_ITERS, S_HASHB};
    for (size_t i = 0; i < sizeof clu_settings / sizeof clu_settings[0]; i++)
        warn_unused(rs, n, clu_settings[i], clustered, "one of the clustered types");
    warn_unused(rs, n, S_MAXLEN, 1u << ATT_AFT_FULL, "aft_full");
    warn_unused(rs, n, S_AFTP, 1u << ATT_AFT_FULL, "aft_full");
    warn_unused(rs, n, S_LIMIT, 1u << ATT_CONDITIONAL_FULL, "conditional_full");
    warn_unused(rs, n, S_FALLBACK, 1u << ATT_CONDITIONAL_FULL, "conditional_full");
    static const SetId reformer_settings[] = {S_CHUNK, S_ROUNDS, S_MASKED};
    for (size_t i = 0; i < sizeof reformer_settings / sizeof reformer_settings[0]; i++)
        warn_unused(rs, n, reformer_settings[i], 1u << ATT_REFORMER, "reformer");
    static const SetId fmap_settings[] = {S_FMAP, S_FDIM, S_STAB};
    for (size_t i = 0; i < sizeof fmap_settings / sizeof fmap_settings[0]; i++)
        warn_unused(rs, n, fmap_settings[i], 1u << ATT_LINEAR | 1u << ATT_CAUSAL_LINEAR,
                    "linear or causal_linear");

    if (has_enc && has_dec && m->enc.d_model != m->dec.d_model) {
        const Setting *at = NULL;
        if (blocks[1])
            at = later(blk[1].at[S_N_HEADS], blk[1].at[S_VDIM]);
        if (!at && blocks[0])
            at = later(blk[0].at[S_N_HEADS], blk[0].at[S_VDIM]);
        Loc loc = at ? at->val.loc : blocks[1] ? blocks[1]->loc : md->name_loc;
        diag_error(loc,
                   "encoder and decoder d_model differ (%d vs %d): the decoder's cross-attention "
                   "reads the "
                   "encoder's output, so n_heads * value_dimensions must agree",
                   m->enc.d_model, m->dec.d_model);
    }
    if (has_enc && has_dec) { /* the memory is the encoder's output */
        const Setting *at = dec.from[S_CROSS_M];
        if (at && m->dec.memory_dimensions != m->enc.d_model)
            diag_error(at->val.loc,
                       "cross_model_dimensions = %d, but the memory is the encoder's output "
                       "(d_model %d)",
                       m->dec.memory_dimensions, m->enc.d_model);
        m->dec.memory_dimensions = m->enc.d_model;
    }
    check_token_blocks(md, m, tok);
}

/* ---- listeners ---------------------------------------------------------- */

/* "layers.2.attention", "" (the stack itself): dot-separated [A-Za-z0-9_]+. */
static int is_module_path(const char *p) {
    if (!*p)
        return 1;
    int seg = 0;
    for (; *p; p++) {
        if (*p == '.') {
            if (seg == 0)
                return 0;
            seg = 0;
        } else if (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9')) {
            seg++;
        } else {
            return 0;
        }
    }
    return seg > 0;
}

/* factor := INT | IDENT | IDENT "." "shape" "[" INT "]"  (and the operators above) */
static void check_expr(const Expr *e) {
    switch (e->kind) {
        case EX_NUM: return;
        case EX_NAME: {
            if (strcmp(e->name, "layer") == 0 || strcmp(e->name, "step") == 0)
                return; /* the layer index; the generation step (-1 outside a generation) */
            int f = name_lookup(e->name, field_names);
            if (f >= 0)
                diag_error(e->loc,
                           "'%s' is a tensor; compare one of its dimensions, e.g. %s.shape[0]",
                           e->name, e->name);
            else
                unknown(e->loc, 0, e->name, pred_names, "'%s'",
                        " (expected layer, step or FIELD.shape[i])", DOC_FILTERS,
                        "unknown name '%s'", e->name);
            return;
        }
        case EX_DIM: {
            int f = name_lookup(e->name, field_names);
            if (f < 0) {
                if (strcmp(e->name, "layer") == 0 || strcmp(e->name, "step") == 0)
                    diag_error(e->loc, "'%s' is an integer, not a tensor: it has no shape",
                               e->name);
                else
                    expected(e->loc, "field", e->name, e->name, field_names, DOC_EVENTS);
                return;
            }
            int rank = field_info[f].rank;
            if (e->num < 0 || e->num >= rank)
                diag_error(e->idx_loc, "%s has rank %d: shape index %lld is out of range (0..%d)",
                           e->name, rank, e->num, rank - 1);
            return;
        }
        default:
            if (e->lhs)
                check_expr(e->lhs);
            if (e->rhs)
                check_expr(e->rhs);
            return;
    }
}

/* filter: classes exist, paths are well-formed, predicates name real fields. */
static void check_filter(const Filter *f) {
    switch (f->kind) {
        case FL_CLASS:
            if (name_lookup(f->name, event_class_names) < 0)
                expected(f->loc, "event class", f->name, f->name, event_class_names, DOC_EVENTS);
            return;
        case FL_FROM_LAYER:
        case FL_WITHIN:
            if (!is_module_path(f->name))
                diag_error(
                    f->loc,
                    "malformed module path \"%s\" (expected a name like \"layers.2.attention\")",
                    f->name);
            return;
        case FL_NAME_CONTAINS: return;
        case FL_PRED: check_expr(f->expr); return;
        case FL_AND:
        case FL_OR:
            check_filter(f->lhs);
            check_filter(f->rhs);
            return;
        case FL_NOT: check_filter(f->lhs); return;
    }
}

/* Pattern placeholders: {source} {event} {field} {layer} {step} {call}. */
static void check_pattern(const Value *v) {
    if (!v->s[0]) {
        diag_error(v->loc, "empty file pattern");
        return;
    }
    for (const char *p = v->s; *p; p++) {
        if (*p != '{')
            continue;
        const char *end = strchr(p + 1, '}');
        if (!end) {
            diag_error(v->loc, "unclosed '{' in the file pattern (placeholders are {source}, "
                               "{event}, {field}, {layer}, {step}, {call})");
            return;
        }
        char name[64];
        size_t n = (size_t)(end - p - 1);
        if (n >= sizeof name)
            n = sizeof name - 1;
        memcpy(name, p + 1, n);
        name[n] = '\0';
        if (name_lookup(name, placeholder_names) < 0)
            unknown(v->loc, 0, name, placeholder_names, "'{%s}'",
                    " (expected {source}, {event}, {field}, {layer}, {step} or {call})",
                    DOC_HANDLERS, "unknown placeholder '{%s}' in the file pattern", name);
        p = end;
    }
}

/* The one positional argument: a C function (call) or a file pattern. */
static void check_positional(const Arg *a, Handler *h) {
    const HandlerInfo *hi = &handler_info[h->kind];
    const Value *v = &a->val;
    if (hi->positional == POS_SYMBOL) {
        if ((v->kind != VAL_IDENT && v->kind != VAL_STRING) || !name_is_identifier(v->s)) {
            diag_error(a->loc, "'call' takes the name of a C function, e.g. call(my_handler)");
            return;
        }
        if (check_c_name(v->loc, v->s, "handler function"))
            h->symbol = v->s;
        return;
    }
    if (v->kind == VAL_IDENT) { /* heatmap(attn): a bare word meant as a file name */
        diag_error(a->loc, "'%s' takes a file pattern string: write %s(\"%s.%s\")", hi->name,
                   hi->name, v->s, h->kind == HANDLER_SAVE ? "npy" : "png");
        return;
    }
    if (v->kind != VAL_STRING) {
        diag_error(a->loc, "'%s' takes a file pattern string first, e.g. %s(\"%s\")", hi->name,
                   hi->name, hi->example);
        return;
    }
    check_pattern(v);
    h->pattern = v->s;
}

/* "unknown argument" for a handler, naming the arguments it takes. */
static void unknown_handler_arg(const Arg *a, const HandlerInfo *hi, const char *const *named) {
    if (!named[0]) {
        diag_error(a->loc, "'%s' takes no named arguments ('%s' is not one)", hi->name, a->name);
        return;
    }
    StrBuf takes;
    sb_init(&takes);
    sb_puts(&takes, " (it takes ");
    for (int i = 0; named[i]; i++)
        sb_printf(&takes, "%s%s", i == 0 ? "" : named[i + 1] ? ", " : " and ", named[i]);
    sb_puts(&takes, ")");
    unknown(a->loc, 0, a->name, named, "'%s'", takes.s, DOC_HANDLERS,
            "unknown argument '%s' for '%s'", a->name, hi->name);
    sb_free(&takes);
}

/* `name = value` of a handler: an integer in the argument's range (head: or all). */
static void check_named(const Arg *a, HandlerArgId id, Handler *h, int max_heads) {
    const Value *v = &a->val;
    const HandlerArgInfo *ai = &handler_arg_info[id];
    if (id == HARG_I_HEAD && v->kind == VAL_IDENT && strcmp(v->s, "all") == 0) {
        h->head = -1;
        return;
    }
    if (v->kind != VAL_INT) {
        diag_error(v->loc, "'%s' must be %s, not %s", a->name,
                   id == HARG_I_HEAD ? "a head index or all" : "an integer", value_kind_text(v));
        return;
    }
    long long hi = id == HARG_I_HEAD ? max_heads - 1 : ai->hi;
    if (v->overflow || v->i < ai->lo || v->i > hi) {
        if (id == HARG_I_HEAD)
            diag_error(v->loc, "head must be between 0 and %lld (the model has %d heads) or all",
                       hi, max_heads);
        else
            diag_error(v->loc, "%s must be between %lld and %lld", a->name, ai->lo, hi);
        return;
    }
    int *field[N_HANDLER_ARGS] = {
        [HARG_I_HEAD] = &h->head, [HARG_I_SAMPLE] = &h->sample, [HARG_I_COLS] = &h->cols};
    *field[id] = (int)v->i;
}

/* handler := IDENT | IDENT "(" [arg ("," arg)*] ")"  — driven by names.h's HANDLERS */
static void check_handler(const ListenDecl *l, Handler *h, int max_heads) {
    h->loc = l->handler_loc;
    h->head = handler_arg_info[HARG_I_HEAD].deflt;
    h->sample = handler_arg_info[HARG_I_SAMPLE].deflt;
    h->cols = handler_arg_info[HARG_I_COLS].deflt;
    int k = name_lookup(l->handler, handler_names);
    if (k < 0) {
        unknown(l->handler_loc, 0, l->handler, handler_names, "'%s'",
                " (expected save, heatmap, figure, stats, print or call)", DOC_HANDLERS,
                "unknown handler '%s'", l->handler);
        return;
    }
    h->kind = (HandlerKind)k;
    const HandlerInfo *hi = &handler_info[k];
    int want_pos = hi->positional != POS_NONE;
    const char
        *named[N_HANDLER_ARGS + 1]; /* the argument names this handler takes, NULL-terminated */
    int n_named = 0;
    for (int i = 0; i < N_HANDLER_ARGS; i++)
        if (hi->named & (1u << i))
            named[n_named++] = handler_arg_info[i].name;
    named[n_named] = NULL;
    const Arg *seen[N_HANDLER_ARGS] = {NULL};
    int n_pos = 0;

    for (const Arg *a = l->args; a; a = a->next) {
        if (!a->name) {
            if (n_pos++ >= want_pos)
                diag_error(a->loc,
                           want_pos ? "too many arguments to '%s'" : "'%s' takes no arguments",
                           hi->name);
            else
                check_positional(a, h);
            continue;
        }
        int id = name_lookup(a->name, handler_arg_names);
        if (id < 0 || !(hi->named & (1u << id))) {
            unknown_handler_arg(a, hi, named);
            continue;
        }
        if (seen[id]) {
            diag_error(a->loc, "duplicate argument '%s'", a->name);
            diag_note(seen[id]->loc, "'%s' first given here", a->name);
            continue;
        }
        seen[id] = a;
        check_named(a, (HandlerArgId)id, h, max_heads);
    }
    if (n_pos < want_pos) {
        if (hi->positional == POS_SYMBOL)
            diag_error(l->handler_loc,
                       "'call' needs the name of a C function, e.g. call(my_handler)");
        else
            diag_error(l->handler_loc, "'%s' needs a file pattern, e.g. %s(\"%s\")", hi->name,
                       hi->name, hi->example);
    }
}

/* ---- entry -------------------------------------------------------------- */

int check_spec(const Spec *spec, const Src *src, Model *m) {
    memset(m, 0, sizeof *m);
    m->src = src;
    if (diag_src() != src)
        diag_init(src);
    int before = diag_errors();
    Ctx c = {0};

    if (spec->model) {
        check_model(&c, spec->model, m);
    } else if (spec->listeners) {
        diag_error(
            spec->listeners->loc,
            "no model declared; listeners need one, e.g. 'model encoder : TransformerEncoder { }'");
    } else {
        diag_file_error(
            "no model declared (e.g. 'model encoder : TransformerEncoder { n_layers = 4 }')");
    }

    int max_heads = 1024;
    if (spec->model) {
        max_heads = 0;
        if (m->kind != MODEL_DECODER && m->enc.n_heads > max_heads)
            max_heads = m->enc.n_heads;
        if (m->kind != MODEL_ENCODER && m->dec.n_heads > max_heads)
            max_heads = m->dec.n_heads;
    }

    int n = 0;
    for (const ListenDecl *l = spec->listeners; l; l = l->next)
        n++;
    m->listeners = n ? ast_alloc((size_t)n * sizeof *m->listeners) : NULL;
    m->n_listeners = n;
    int i = 0;
    for (const ListenDecl *l = spec->listeners; l; l = l->next, i++) {
        Listener *li = &m->listeners[i];
        li->index = i;
        li->loc = l->loc;
        li->filter = l->filter;
        check_filter(l->filter);
        check_handler(l, &li->handler, max_heads);
    }
    return diag_errors() - before;
}

const char *attention_type_name(AttentionType t) {
    return (unsigned)t <= ATT_REFORMER ? attention_type_names[t] : "?";
}

int attention_runs(const Stack *s, AttentionType t, AttentionType what) {
    return t == what || (t == ATT_CONDITIONAL_FULL && (what == ATT_FULL || s->fallback == what));
}

/* The types whose fast-transformers module adds an arbitrary FullMask
 * (docs/SPEC.md §9's table); the others raise for one that is not all ones
 * (linear, clustered, improved_clustered) or lower-triangular (causal_linear,
 * causal_improved_clustered, aft_simple: xfc's `causal`), or make it NaN
 * (aft_full multiplies its -inf into the keys).  A conditional_full takes
 * one where its full attention runs. */
int attention_takes_mask(AttentionType t) {
    return t == ATT_FULL || t == ATT_LOCAL || t == ATT_EXACT_TOPK || t == ATT_CONDITIONAL_FULL ||
           t == ATT_REFORMER;
}
