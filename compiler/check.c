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

/* ---- settings table ---------------------------------------------------- */

typedef enum { T_INT, T_REAL, T_BOOL, T_ENUM } SetType;

typedef enum {
    S_N_LAYERS, S_N_HEADS, S_QDIM, S_VDIM, S_FF,
    S_ATT, S_CROSS, S_CAUSAL, S_LOCAL, S_TOPK,
    S_TEMP, S_ACT, S_NORM, S_FINAL, S_EPS, S_WEIGHTS,
    S_COUNT
} SetId;

static const char *const att_names[] = { "full", "linear", "causal_linear", "local", "exact_topk", NULL };
static const char *const act_names[] = { "relu", "gelu", NULL };
static const char *const norm_names[] = { "post", "pre", NULL };
static const char *const weights_names[] = { "torch", "fast_transformers", NULL };

typedef struct SetInfo {
    const char *name;
    SetType type;
    long long lo, hi;                 /* T_INT: inclusive range */
    const char *const *values;        /* T_ENUM: names, index = enum value */
    const char *values_text;          /* T_ENUM: for "expected …" */
} SetInfo;

static const SetInfo setting_info[S_COUNT] = {
    [S_N_LAYERS] = { "n_layers", T_INT, 1, 1024, NULL, NULL },
    [S_N_HEADS]  = { "n_heads", T_INT, 1, 1024, NULL, NULL },
    [S_QDIM]     = { "query_dimensions", T_INT, 1, 65536, NULL, NULL },
    [S_VDIM]     = { "value_dimensions", T_INT, 1, 65536, NULL, NULL },
    [S_FF]       = { "feed_forward_dimensions", T_INT, 1, 1048576, NULL, NULL },
    [S_ATT]      = { "attention_type", T_ENUM, 0, 0, att_names, "full, linear, causal_linear, local or exact_topk" },
    [S_CROSS]    = { "cross_attention_type", T_ENUM, 0, 0, att_names, "full, linear, causal_linear, local or exact_topk" },
    [S_CAUSAL]   = { "causal", T_BOOL, 0, 0, NULL, NULL },
    [S_LOCAL]    = { "local_context", T_INT, 1, 1048576, NULL, NULL },
    [S_TOPK]     = { "topk", T_INT, 1, 1048576, NULL, NULL },
    [S_TEMP]     = { "softmax_temp", T_REAL, 0, 0, NULL, NULL },
    [S_ACT]      = { "activation", T_ENUM, 0, 0, act_names, "relu or gelu" },
    [S_NORM]     = { "normalization", T_ENUM, 0, 0, norm_names, "post or pre" },
    [S_FINAL]    = { "final_normalization", T_BOOL, 0, 0, NULL, NULL },
    [S_EPS]      = { "layer_norm_eps", T_REAL, 0, 0, NULL, NULL },
    [S_WEIGHTS]  = { "weights", T_ENUM, 0, 0, weights_names, "torch or fast_transformers" },
};

static const char *const setting_names[] = {
    "n_layers", "n_heads", "query_dimensions", "value_dimensions", "feed_forward_dimensions",
    "attention_type", "cross_attention_type", "causal", "local_context", "topk",
    "softmax_temp", "activation", "normalization", "final_normalization", "layer_norm_eps",
    "weights", NULL,
};

#define D_MODEL_MAX 65536

static const char *const kind_names[] = { "TransformerEncoder", "TransformerDecoder", "Transformer", NULL };
static const char *const block_names[] = { "encoder", "decoder", NULL };

/* Where a list of settings sits. */
typedef enum { SCOPE_TOP, SCOPE_ENCODER, SCOPE_DECODER } ScopeKind;

/* The valid settings of one scope: at[id] is the setting that gave the value. */
typedef struct Scope {
    const Setting *seen[S_COUNT];   /* first occurrence, valid or not (duplicates) */
    const Setting *at[S_COUNT];     /* valid occurrence */
    long long iv[S_COUNT];          /* T_INT, T_BOOL, T_ENUM */
    double fv[S_COUNT];             /* T_REAL */
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
    const Setting *reported[64];    /* settings a combination error was already given for */
    int n_reported;
} Ctx;

/* Reports each combination problem once, even when a top-level setting of a
 * Transformer reaches both stacks. */
static int first_report(Ctx *c, const Setting *s)
{
    for (int i = 0; i < c->n_reported; i++)
        if (c->reported[i] == s)
            return 0;
    if (c->n_reported < (int)(sizeof c->reported / sizeof c->reported[0]))
        c->reported[c->n_reported++] = s;
    return 1;
}

static const char *value_kind_text(const Value *v)
{
    switch (v->kind) {
    case VAL_INT: return "an integer";
    case VAL_FLOAT: return "a number";
    case VAL_BOOL: return "a boolean";
    case VAL_STRING: return "a string";
    case VAL_IDENT: return "an identifier";
    }
    return "a value";
}

static int lookup(const char *word, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(word, names[i]) == 0)
            return i;
    return -1;
}

/* "did you mean 'X'?" or the list of what is expected. */
static void unknown(Loc loc, const char *what, const char *word, const char *const *cands, const char *expected)
{
    const char *hint = diag_suggest(word, cands);
    if (hint)
        diag_error(loc, "unknown %s '%s'; did you mean '%s'?", what, word, hint);
    else
        diag_error(loc, "unknown %s '%s' (expected %s)", what, word, expected);
}

/* ---- one setting -------------------------------------------------------- */

/* Enum values: identifiers, or strings where "-" may stand for "_".
 * buf receives the normalized spelling (for suggestions). */
static int enum_value(const SetInfo *info, const Value *v, char *buf, size_t size)
{
    size_t n = strlen(v->s);
    if (n >= size)
        n = size - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (v->kind == VAL_STRING && v->s[i] == '-') ? '_' : v->s[i];
    buf[n] = '\0';
    return strlen(v->s) >= size ? -1 : lookup(buf, info->values);
}

/* setting := IDENT "=" value — type and range of one setting; 1 if valid. */
static int check_value(SetId id, const Setting *s, Scope *sc)
{
    const SetInfo *info = &setting_info[id];
    const Value *v = &s->val;
    switch (info->type) {
    case T_INT:
        if (v->kind != VAL_INT) {
            diag_error(v->loc, "'%s' must be an integer, not %s", info->name, value_kind_text(v));
            return 0;
        }
        if (v->overflow) {
            diag_error(v->loc, "%s must be between %lld and %lld (got an integer too large for 64 bits)",
                       info->name, info->lo, info->hi);
            return 0;
        }
        if (v->i < info->lo || v->i > info->hi) {
            diag_error(v->loc, "%s must be between %lld and %lld (got %lld)", info->name, info->lo, info->hi, v->i);
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
            static const char *const bools[] = { "true", "false", NULL };
            const char *hint = v->kind == VAL_IDENT || v->kind == VAL_STRING ? diag_suggest(v->s, bools) : NULL;
            if (hint)
                diag_error(v->loc, "'%s' must be true or false, not %s; did you mean '%s'?", info->name,
                           value_kind_text(v), hint);
            else
                diag_error(v->loc, "'%s' must be true or false, not %s", info->name, value_kind_text(v));
            return 0;
        }
        sc->iv[id] = v->i;
        return 1;
    case T_ENUM: {
        if (v->kind != VAL_IDENT && v->kind != VAL_STRING) {
            diag_error(v->loc, "'%s' must be one of %s, not %s", info->name, info->values_text, value_kind_text(v));
            return 0;
        }
        char norm[64];
        int e = enum_value(info, v, norm, sizeof norm);
        if (e < 0) {
            const char *hint = diag_suggest(norm, info->values);
            if (hint)
                diag_error(v->loc, "unknown %s '%s'; did you mean '%s'?", info->name, v->s, hint);
            else
                diag_error(v->loc, "unknown %s '%s' (expected %s)", info->name, v->s, info->values_text);
            return 0;
        }
        sc->iv[id] = e;
        return 1;
    }
    }
    return 0;
}

/* setting* of one scope (model top level, or an encoder/decoder block). */
static void check_scope(Ctx *c, const Setting *list, ScopeKind where, Scope *sc)
{
    memset(sc, 0, sizeof *sc);
    for (const Setting *s = list; s; s = s->next) {
        int id = lookup(s->name, setting_names);
        if (id < 0) {
            unknown(s->loc, "setting", s->name, setting_names, "one of the settings in docs/SPEC.md");
            continue;
        }
        if (sc->seen[id]) {
            diag_error(s->loc, "duplicate setting '%s'", s->name);
            diag_note(sc->seen[id]->loc, "'%s' first set here", s->name);
            continue;
        }
        sc->seen[id] = s;
        if (id == S_WEIGHTS && where != SCOPE_TOP) {
            diag_error(s->loc, "'weights' applies to the whole model; set it outside the '%s' block",
                       where == SCOPE_ENCODER ? "encoder" : "decoder");
            continue;
        }
        if (id == S_CROSS && c->kind_known && c->kind == MODEL_ENCODER) {
            diag_error(s->loc, "'cross_attention_type' is only for models with a decoder (this is a TransformerEncoder)");
            continue;
        }
        if (id == S_CROSS && where == SCOPE_ENCODER) {
            diag_error(s->loc, "'cross_attention_type' belongs in the decoder block (the encoder has no cross-attention)");
            continue;
        }
        if (check_value((SetId)id, s, sc))
            sc->at[id] = s;
    }
}

/* ---- stacks ------------------------------------------------------------- */

/* Defaults (fast-transformers' builders), then the top level, then the block. */
static void resolve_stack(Resolved *r, const Scope *top, const Scope *blk, int is_decoder)
{
    static const long long idef[S_COUNT] = {
        [S_N_LAYERS] = 4, [S_N_HEADS] = 4, [S_QDIM] = 64, [S_VDIM] = 64, [S_FF] = 1024,
        [S_ATT] = ATT_FULL, [S_CROSS] = ATT_FULL, [S_CAUSAL] = 0, [S_LOCAL] = 32, [S_TOPK] = 32,
        [S_ACT] = ACT_RELU, [S_NORM] = NORM_POST, [S_FINAL] = 1,
    };
    long long iv[S_COUNT];
    double fv[S_COUNT] = { [S_EPS] = 1e-5 };
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
    st->d_model = st->n_heads * st->value_dimensions;   /* <= 1024 * 65536: fits */
    st->feed_forward_dimensions = (int)iv[S_FF];
    st->attention_type = (AttentionType)iv[S_ATT];
    st->cross_attention_type = (AttentionType)iv[S_CROSS];
    st->causal = (int)iv[S_CAUSAL];
    st->local_context = (int)iv[S_LOCAL];
    st->topk = (int)iv[S_TOPK];
    st->softmax_temp = r->from[S_TEMP] ? fv[S_TEMP] : 1.0 / sqrt((double)st->query_dimensions);
    st->activation = (Activation)iv[S_ACT];
    st->normalization = (NormPlace)iv[S_NORM];
    st->final_normalization = (int)iv[S_FINAL];
    st->layer_norm_eps = r->from[S_EPS] ? fv[S_EPS] : 1e-5;
    if (!is_decoder)
        st->cross_attention_type = ATT_FULL;
}

/* The later of two settings in the file (either may be NULL). */
static const Setting *later(const Setting *a, const Setting *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    if (b->loc.line > a->loc.line || (b->loc.line == a->loc.line && b->loc.col > a->loc.col))
        return b;
    return a;
}

/* Combinations within one stack. */
static void check_stack(Ctx *c, Resolved *r, WeightsLayout weights, const Setting *weights_at)
{
    Stack *st = &r->st;
    const Setting *const *from = r->from;

    long long d_model = (long long)st->n_heads * st->value_dimensions;
    if (d_model > D_MODEL_MAX) {
        const Setting *at = later(from[S_N_HEADS], from[S_VDIM]);
        if (at && first_report(c, at))
            diag_error(at->val.loc, "d_model = n_heads * value_dimensions = %d * %d = %lld exceeds %d",
                       st->n_heads, st->value_dimensions, d_model, D_MODEL_MAX);
    }

    if (weights == WEIGHTS_TORCH && st->query_dimensions != st->value_dimensions) {
        const Setting *at = from[S_QDIM] ? from[S_QDIM] : from[S_VDIM];
        if (at && first_report(c, at)) {
            diag_error(at->val.loc,
                       "query_dimensions (%d) != value_dimensions (%d) needs weights = fast_transformers "
                       "(torch attention uses one size per head for queries, keys and values)",
                       st->query_dimensions, st->value_dimensions);
            if (weights_at)
                diag_note(weights_at->val.loc, "weights = torch is set here");
        }
    }

    if (st->attention_type == ATT_LINEAR && st->causal && from[S_ATT] && from[S_CAUSAL]) {
        if (first_report(c, from[S_ATT])) {
            diag_error(from[S_ATT]->val.loc,
                       "attention_type = linear is not causal; with causal = true use attention_type = causal_linear");
            diag_note(from[S_CAUSAL]->val.loc, "causal = true is set here");
        }
    }

    if (st->attention_type == ATT_CAUSAL_LINEAR) {
        if (from[S_CAUSAL] && !st->causal) {
            if (first_report(c, from[S_CAUSAL])) {
                diag_error(from[S_CAUSAL]->val.loc,
                           "causal = false contradicts attention_type = causal_linear, which is always causal "
                           "(causal_linear implies causal = true; set it or remove the line)");
                if (from[S_ATT])
                    diag_note(from[S_ATT]->val.loc, "attention_type = causal_linear is set here");
            }
        }
        st->causal = 1;
    }

    if (r->is_decoder && st->cross_attention_type == ATT_CAUSAL_LINEAR && from[S_CROSS]) {
        if (first_report(c, from[S_CROSS]))
            diag_error(from[S_CROSS]->val.loc,
                       "cross_attention_type cannot be causal_linear: attention over the memory is not causal "
                       "(use linear)");
    }
}

static int uses(const Resolved *r, AttentionType t)
{
    return r->st.attention_type == t || (r->is_decoder && r->st.cross_attention_type == t);
}

/* local_context / topk written where no stack they reach uses them. */
static void warn_unused(Resolved *const *rs, int n, SetId id, AttentionType needs, const char *type_name)
{
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
            if (uses(rs[j], needs))
                used = 1;
        }
        if (!used && !seen_before)
            diag_warning(s->loc, "'%s' has no effect: attention_type is not %s", setting_info[id].name, type_name);
    }
}

/* ---- the model --------------------------------------------------------- */

static int is_c_reserved(const char *name)
{
    static const char *const words[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
        "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
        "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
        "union", "unsigned", "void", "volatile", "while", "_Alignas", "_Alignof", "_Atomic",
        "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn", "_Static_assert",
        "_Thread_local", "asm", "typeof", "bool", "true", "false", "NULL", "alignas", "alignof",
        "noreturn", "static_assert", "thread_local", "complex", "imaginary", "main", NULL,
    };
    return lookup(name, words) >= 0;
}

/* A name the generated C uses as a prefix or symbol: NAME_load, my_handler. */
static int check_c_name(Loc loc, const char *name, const char *what)
{
    if (is_c_reserved(name)) {
        diag_error(loc, "%s '%s' cannot be used: it is a C keyword or reserved name", what, name);
        return 0;
    }
    if (strncmp(name, "xf_", 3) == 0 || strncmp(name, "XF_", 3) == 0) {
        diag_error(loc, "%s '%s' cannot start with '%.3s' (reserved for the xfc runtime)", what, name, name);
        return 0;
    }
    if (name[0] == '_' && (name[1] == '_' || (name[1] >= 'A' && name[1] <= 'Z'))) {
        diag_error(loc, "%s '%s' is reserved in C (names starting with '__' or '_' and a capital)", what, name);
        return 0;
    }
    return 1;
}

static int is_c_identifier(const char *s)
{
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return 0;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

/* model_decl := "model" IDENT ":" IDENT "{" (setting | block)* "}" */
static void check_model(Ctx *c, const ModelDecl *md, Model *m)
{
    m->name = md->name;
    check_c_name(md->name_loc, md->name, "model name");

    int k = lookup(md->kind, kind_names);
    if (k < 0) {
        unknown(md->kind_loc, "model kind", md->kind, kind_names, "TransformerEncoder, TransformerDecoder or Transformer");
        c->kind_known = 0;
        c->kind = MODEL_ENCODER;
    } else {
        c->kind_known = 1;
        c->kind = (ModelKind)k;
    }
    m->kind = c->kind;

    Scope top, blk[2];
    const Block *blocks[2] = { NULL, NULL };
    check_scope(c, md->settings, SCOPE_TOP, &top);

    /* block := IDENT "{" setting* "}" */
    for (const Block *b = md->blocks; b; b = b->next) {
        int which = lookup(b->name, block_names);
        if (which < 0) {
            unknown(b->loc, "block", b->name, block_names, "encoder or decoder");
            continue;
        }
        if (c->kind_known && c->kind != MODEL_TRANSFORMER) {
            diag_error(b->loc, "'%s { … }' blocks are only allowed in a Transformer model (this is a %s)",
                       b->name, kind_names[c->kind]);
            continue;
        }
        if (blocks[which]) {
            diag_error(b->loc, "duplicate '%s' block", b->name);
            diag_note(blocks[which]->loc, "the first '%s' block is here", b->name);
            continue;
        }
        blocks[which] = b;
        check_scope(c, b->settings, which == 0 ? SCOPE_ENCODER : SCOPE_DECODER, &blk[which]);
    }

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
    warn_unused(rs, n, S_LOCAL, ATT_LOCAL, "local");
    warn_unused(rs, n, S_TOPK, ATT_EXACT_TOPK, "exact_topk");

    if (has_enc && has_dec && m->enc.d_model != m->dec.d_model) {
        const Setting *at = NULL;
        if (blocks[1])
            at = later(blk[1].at[S_N_HEADS], blk[1].at[S_VDIM]);
        if (!at && blocks[0])
            at = later(blk[0].at[S_N_HEADS], blk[0].at[S_VDIM]);
        Loc loc = at ? at->val.loc : blocks[1] ? blocks[1]->loc : md->name_loc;
        diag_error(loc,
                   "encoder and decoder d_model differ (%d vs %d): the decoder's cross-attention reads the "
                   "encoder's output, so n_heads * value_dimensions must agree",
                   m->enc.d_model, m->dec.d_model);
    }
}

/* ---- listeners ---------------------------------------------------------- */

static const char *const event_classes[] = { "Event", "QKVEvent", "AttentionEvent", "IntermediateOutput", NULL };
static const char *const field_names[] = { "queries", "keys", "values", "attention_matrix", "x", NULL };
static const int field_ranks[] = { 4, 4, 4, 4, 3 };
static const char *const pred_names[] = { "layer", "queries", "keys", "values", "attention_matrix", "x", NULL };

/* "layers.2.attention", "" (the stack itself): dot-separated [A-Za-z0-9_]+. */
static int is_module_path(const char *p)
{
    if (!*p)
        return 1;
    int seg = 0;
    for (; *p; p++) {
        if (*p == '.') {
            if (seg == 0)
                return 0;
            seg = 0;
        } else if (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) {
            seg++;
        } else {
            return 0;
        }
    }
    return seg > 0;
}

/* factor := INT | IDENT | IDENT "." "shape" "[" INT "]"  (and the operators above) */
static void check_expr(const Expr *e)
{
    switch (e->kind) {
    case EX_NUM:
        return;
    case EX_NAME: {
        if (strcmp(e->name, "layer") == 0)
            return;
        int f = lookup(e->name, field_names);
        if (f >= 0)
            diag_error(e->loc, "'%s' is a tensor; compare one of its dimensions, e.g. %s.shape[0]", e->name, e->name);
        else
            unknown(e->loc, "name", e->name, pred_names, "layer or FIELD.shape[i]");
        return;
    }
    case EX_DIM: {
        int f = lookup(e->name, field_names);
        if (f < 0) {
            if (strcmp(e->name, "layer") == 0)
                diag_error(e->loc, "'layer' is an integer, not a tensor: it has no shape");
            else
                unknown(e->loc, "field", e->name, field_names, "queries, keys, values, attention_matrix or x");
            return;
        }
        if (e->num < 0 || e->num >= field_ranks[f])
            diag_error(e->idx_loc, "%s has rank %d: shape index %lld is out of range (0..%d)", e->name,
                       field_ranks[f], e->num, field_ranks[f] - 1);
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
static void check_filter(const Filter *f)
{
    switch (f->kind) {
    case FL_CLASS:
        if (lookup(f->name, event_classes) < 0)
            unknown(f->loc, "event class", f->name, event_classes,
                    "Event, QKVEvent, AttentionEvent or IntermediateOutput");
        return;
    case FL_FROM_LAYER:
    case FL_WITHIN:
        if (!is_module_path(f->name))
            diag_error(f->loc, "malformed module path \"%s\" (expected a name like \"layers.2.attention\")", f->name);
        return;
    case FL_NAME_CONTAINS:
        return;
    case FL_PRED:
        check_expr(f->expr);
        return;
    case FL_AND:
    case FL_OR:
        check_filter(f->lhs);
        check_filter(f->rhs);
        return;
    case FL_NOT:
        check_filter(f->lhs);
        return;
    }
}

static const char *const handler_names[] = { "save", "heatmap", "stats", "print", "call", "figure", NULL };
static const char *const placeholders[] = { "source", "event", "field", "layer", "call", NULL };

/* Pattern placeholders: {source} {event} {field} {layer} {call}. */
static void check_pattern(const Value *v)
{
    if (!v->s[0]) {
        diag_error(v->loc, "empty file pattern");
        return;
    }
    for (const char *p = v->s; *p; p++) {
        if (*p != '{')
            continue;
        const char *end = strchr(p + 1, '}');
        if (!end) {
            diag_error(v->loc, "unclosed '{' in the file pattern (placeholders are {source}, {event}, {field}, {layer}, {call})");
            return;
        }
        char name[64];
        size_t n = (size_t)(end - p - 1);
        if (n >= sizeof name)
            n = sizeof name - 1;
        memcpy(name, p + 1, n);
        name[n] = '\0';
        if (lookup(name, placeholders) < 0) {
            const char *hint = diag_suggest(name, placeholders);
            if (hint)
                diag_error(v->loc, "unknown placeholder '{%s}' in the file pattern; did you mean '{%s}'?", name, hint);
            else
                diag_error(v->loc, "unknown placeholder '{%s}' in the file pattern (expected {source}, {event}, "
                                   "{field}, {layer} or {call})", name);
        }
        p = end;
    }
}

/* handler := IDENT | IDENT "(" [arg ("," arg)*] ")" */
static void check_handler(const ListenDecl *l, Handler *h, int max_heads)
{
    static const char *const image_args[] = { "head", "sample", "cols", NULL };
    static const char *const heatmap_args[] = { "head", "sample", NULL };
    static const char *const none[] = { NULL };

    h->loc = l->handler_loc;
    h->head = 0;
    h->sample = 0;
    h->cols = 2;
    int k = lookup(l->handler, handler_names);
    if (k < 0) {
        unknown(l->handler_loc, "handler", l->handler, handler_names, "save, heatmap, figure, stats, print or call");
        return;
    }
    h->kind = (HandlerKind)k;
    const char *name = handler_names[k];
    int want_pos = (h->kind == HANDLER_STATS || h->kind == HANDLER_PRINT) ? 0 : 1;
    const char *const *named = h->kind == HANDLER_FIGURE ? image_args : h->kind == HANDLER_HEATMAP ? heatmap_args : none;
    const Arg *seen[3] = { NULL, NULL, NULL };
    int n_pos = 0;

    for (const Arg *a = l->args; a; a = a->next) {
        const Value *v = &a->val;
        if (!a->name) {
            if (n_pos++ >= want_pos) {
                if (want_pos == 0)
                    diag_error(a->loc, "'%s' takes no arguments", name);
                else
                    diag_error(a->loc, "too many arguments to '%s'", name);
                continue;
            }
            if (h->kind == HANDLER_CALL) {
                if ((v->kind != VAL_IDENT && v->kind != VAL_STRING) || !is_c_identifier(v->s)) {
                    diag_error(a->loc, "'call' takes the name of a C function, e.g. call(my_handler)");
                    continue;
                }
                if (check_c_name(v->loc, v->s, "handler function"))
                    h->symbol = v->s;
            } else {
                if (v->kind != VAL_STRING) {
                    diag_error(a->loc, "'%s' takes a file pattern string first, e.g. %s(\"%s\")", name, name,
                               h->kind == HANDLER_SAVE ? "qkv/{source}.{field}.npy" : "attention/{source}.png");
                    continue;
                }
                check_pattern(v);
                h->pattern = v->s;
            }
            continue;
        }
        int which = lookup(a->name, named);
        if (which < 0) {
            const char *hint = diag_suggest(a->name, named);
            if (hint)
                diag_error(a->loc, "unknown argument '%s' for '%s'; did you mean '%s'?", a->name, name, hint);
            else if (named[0])
                diag_error(a->loc, "unknown argument '%s' for '%s' (it takes %s)", a->name, name,
                           h->kind == HANDLER_FIGURE ? "head, sample and cols" : "head and sample");
            else
                diag_error(a->loc, "'%s' takes no named arguments ('%s' is not one)", name, a->name);
            continue;
        }
        if (seen[which]) {
            diag_error(a->loc, "duplicate argument '%s'", a->name);
            diag_note(seen[which]->loc, "'%s' first given here", a->name);
            continue;
        }
        seen[which] = a;
        if (which == 0 && v->kind == VAL_IDENT && strcmp(v->s, "all") == 0) {
            h->head = -1;
            continue;
        }
        if (v->kind != VAL_INT) {
            diag_error(v->loc, "'%s' must be %s, not %s", a->name,
                       which == 0 ? "a head index or all" : "an integer", value_kind_text(v));
            continue;
        }
        long long lo = which == 2 ? 1 : 0;
        long long hi = which == 0 ? max_heads - 1 : which == 2 ? 1024 : INT_MAX;
        if (v->overflow || v->i < lo || v->i > hi) {
            if (which == 0)
                diag_error(v->loc, "head must be between 0 and %lld (the model has %d heads) or all", hi, max_heads);
            else
                diag_error(v->loc, "%s must be between %lld and %lld", a->name, lo, hi);
            continue;
        }
        if (which == 0)
            h->head = (int)v->i;
        else if (which == 1)
            h->sample = (int)v->i;
        else
            h->cols = (int)v->i;
    }
    if (n_pos < want_pos) {
        if (h->kind == HANDLER_CALL)
            diag_error(l->handler_loc, "'call' needs the name of a C function, e.g. call(my_handler)");
        else
            diag_error(l->handler_loc, "'%s' needs a file pattern, e.g. %s(\"%s\")", name, name,
                       h->kind == HANDLER_SAVE ? "qkv/{source}.{field}.npy" : "attention/{source}.png");
    }
}

/* ---- entry -------------------------------------------------------------- */

int check_spec(const Spec *spec, const Src *src, Model *m)
{
    memset(m, 0, sizeof *m);
    m->src = src;
    if (diag_src() != src)
        diag_init(src);
    int before = diag_errors();
    Ctx c = { 0 };

    if (spec->model) {
        check_model(&c, spec->model, m);
    } else if (spec->listeners) {
        diag_error(spec->listeners->loc,
                   "no model declared; listeners need one, e.g. 'model encoder : TransformerEncoder { }'");
    } else {
        diag_file_error("no model declared (e.g. 'model encoder : TransformerEncoder { n_layers = 4 }')");
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

const char *attention_type_name(AttentionType t)
{
    return (unsigned)t < sizeof att_names / sizeof att_names[0] - 1 ? att_names[t] : "?";
}
