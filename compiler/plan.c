/* plan.c — every dispatch point of the model, and each listener folded on it.
 *
 * A filter folds, at one point, to one of:
 *   NO      — cannot fire here (class, source or a static shape says so)
 *   YES     — always fires here
 *   GUARD   — fires when a C condition over the run-time dims holds
 *   ABSENT  — the outcome depends on a payload field this event does not have
 * ABSENT is an error; a listener that is NO everywhere is a warning.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"
#include "plan.h"
#include "strbuf.h"

typedef enum { T_NO, T_YES, T_GUARD, T_ABSENT } Truth;

typedef struct Fold {
    Truth t;
    Guard *guard;       /* T_GUARD */
    const Expr *absent; /* T_ABSENT: the EX_DIM naming the missing field */
} Fold;

/* A folded integer expression: a constant, or a Guard over run-time dims. */
typedef struct Sym {
    int is_const;
    long long v;
    Guard *g;           /* when !is_const */
    const Expr *absent; /* set when a field is missing at this point */
    __int128 lo, hi;    /* the values it can take at run time (dims are 1..INT_MAX) */
} Sym;

/* A guard is evaluated in long long: every value it can take must fit with
 * room to spare, or it is a compile error rather than overflow at run time. */
#define GUARD_LIMIT ((__int128)1 << 62)

/* ---- guards ---------------------------------------------------------------- */

static Guard *guard_new(GuardKind k, Guard *lhs, Guard *rhs) {
    Guard *g = xcalloc(1, sizeof *g);
    g->kind = k;
    g->lhs = lhs;
    g->rhs = rhs;
    return g;
}

static Guard *guard_dim(RunDim d) {
    Guard *g = guard_new(G_DIM, NULL, NULL);
    g->dim = d;
    return g;
}

static void guard_free(Guard *g) {
    if (!g)
        return;
    guard_free(g->lhs);
    guard_free(g->rhs);
    free(g);
}

static void guard_text(StrBuf *sb, const Guard *g, int in_arith) {
    static const char *const dims[] = {"c->N", "c->L", "c->T", "c->S", "c->step"};
    switch (g->kind) {
        case G_CONST: sb_printf(sb, "%lld", g->v); return;
        case G_DIM: sb_printf(sb, "%s%s", in_arith ? "(long long)" : "", dims[g->dim]); return;
        case G_NEG:
            sb_puts(sb, "(-");
            guard_text(sb, g->lhs, 1);
            sb_puts(sb, ")");
            return;
        case G_BIN: {
            int cmp = g->op >= EX_EQ; /* a comparison, parenthesized; arithmetic in long long */
            sb_puts(sb, cmp ? "(" : "");
            guard_text(sb, g->lhs, !cmp);
            sb_printf(sb, " %s ", expr_op_text(g->op));
            guard_text(sb, g->rhs, !cmp);
            sb_puts(sb, cmp ? ")" : "");
            return;
        }
        case G_NOT:
            sb_puts(sb, "!");
            guard_text(sb, g->lhs, 0);
            return;
        case G_AND:
        case G_OR:
            sb_puts(sb, "(");
            guard_text(sb, g->lhs, 0);
            sb_puts(sb, g->kind == G_AND ? " && " : " || ");
            guard_text(sb, g->rhs, 0);
            sb_puts(sb, ")");
            return;
    }
}

char *plan_guard_c(const Guard *g) {
    StrBuf sb;
    sb_init(&sb);
    guard_text(&sb, g, 0);
    return sb_take(&sb);
}

/* The class names of the DSL (names.h; the compiler links no runtime code). */
static const char *event_name(xf_event_kind k) {
    return event_info[k].name;
}

/* ---- points --------------------------------------------------------------- */

static void add_point(Plan *p, xf_event_kind kind, const char *source, int stack, int layer,
                      Slot slot) {
    p->points = xrealloc(p->points, (size_t)p->n_points + 1, sizeof(Point));
    Point *pt = &p->points[p->n_points++];
    memset(pt, 0, sizeof *pt);
    pt->kind = kind;
    pt->source = xstrdup(source);
    pt->stack = stack;
    pt->layer = layer;
    pt->slot = slot;
}

/* The modules of one stack, in execution order (fast-transformers' names). */
static void add_stack_points(Plan *p, const Stack *st, int stack, int is_decoder,
                             const char *prefix) {
    char src[256];
    for (int i = 0; i < st->n_layers; i++) {
        const char *self = is_decoder ? "self_attention" : "attention";
        snprintf(src, sizeof src, "%slayers.%d.%s", prefix, i, self);
        add_point(p, XF_QKV_EVENT, src, stack, i, SLOT_SELF);
        snprintf(src, sizeof src, "%slayers.%d.%s.inner_attention", prefix, i, self);
        add_point(p, XF_ATTENTION_EVENT, src, stack, i, SLOT_SELF);
        if (is_decoder) {
            snprintf(src, sizeof src, "%slayers.%d.cross_attention", prefix, i);
            add_point(p, XF_QKV_EVENT, src, stack, i, SLOT_CROSS);
            snprintf(src, sizeof src, "%slayers.%d.cross_attention.inner_attention", prefix, i);
            add_point(p, XF_ATTENTION_EVENT, src, stack, i, SLOT_CROSS);
        }
        /* IntermediateOutput's source is the encoder/decoder itself */
        size_t n = strlen(prefix);
        snprintf(src, sizeof src, "%.*s", n ? (int)n - 1 : 0, prefix);
        add_point(p, XF_INTERMEDIATE_OUTPUT, src, stack, i, SLOT_LAYER);
    }
}

/* ---- folding ---------------------------------------------------------------- */

static const Stack *point_stack(const Model *m, const Point *pt) {
    return pt->stack == 0 ? &m->enc : &m->dec;
}

/* The dim `index` of payload `field` at this point: a constant or C text.
 * Returns 0 if the event has no such field. */
static int field_dim(const Model *m, const Point *pt, const char *field, int index, Sym *out) {
    const Stack *st = point_stack(m, pt);
    RunDim kv = pt->slot == SLOT_CROSS ? DIM_S : DIM_T; /* key/value length */
    int dims[4] = {-1, -1, -1, -1};                     /* a RunDim, or -1: cst[i] */
    long long cst[4] = {0};
    int f = name_lookup(field, field_names);
    if (f < 0 || field_info[f].owner != pt->kind)
        return 0;
    int rank = field_info[f].rank;
    int cross =
        pt->slot == SLOT_CROSS; /* a decoder's cross-attention has its own heads and sizes */
    int H = cross ? st->cross_n_heads : st->n_heads;
    int E = cross ? st->cross_query_dimensions : st->query_dimensions;
    int DV = cross ? st->cross_value_dimensions : st->value_dimensions;
    switch ((FieldId)f) {
        case FIELD_QUERIES:
            dims[0] = DIM_N;
            dims[1] = DIM_L;
            cst[2] = H;
            cst[3] = E;
            break;
        case FIELD_KEYS:
            dims[0] = DIM_N;
            dims[1] = kv;
            cst[2] = H;
            cst[3] = E;
            break;
        case FIELD_VALUES:
            dims[0] = DIM_N;
            dims[1] = kv;
            cst[2] = H;
            cst[3] = DV;
            break;
        case FIELD_ATTENTION_MATRIX:
            dims[0] = DIM_N;
            cst[1] = H;
            dims[2] = DIM_L;
            dims[3] = kv;
            break;
        case FIELD_X:
            dims[0] = DIM_N;
            dims[1] = DIM_L;
            cst[2] = st->d_model;
            break;
        case N_FIELDS: return 0;
    }
    if (index < 0 || index >= rank)
        return 0; /* check.c rejects indexes past a field's rank */
    out->is_const = dims[index] < 0;
    out->v = cst[index];
    out->g = dims[index] < 0 ? NULL : guard_dim((RunDim)dims[index]);
    out->lo = out->is_const ? cst[index] : 1;
    out->hi = out->is_const ? cst[index] : INT_MAX;
    return 1;
}

/* The Guard of a folded value (taken: s no longer owns it). */
static Guard *sym_take(Sym *s) {
    Guard *g = s->g;
    s->g = NULL;
    if (s->is_const) {
        g = guard_new(G_CONST, NULL, NULL);
        g->v = s->v;
    }
    return g;
}

static void sym_free(Sym *s) {
    guard_free(s->g);
    s->g = NULL;
}

static Sym fold_expr(const Model *m, const Point *pt, const Expr *e);

/* An expression is folded once per point: report its problem once. */
static int first_report(const Expr *e) {
    static const Expr *seen[64];
    static int n;
    for (int i = 0; i < n; i++)
        if (seen[i] == e)
            return 0;
    if (n < 64)
        seen[n++] = e;
    return 1;
}

static Sym binary(const Model *m, const Point *pt, const Expr *e) {
    Sym a = fold_expr(m, pt, e->lhs), b = fold_expr(m, pt, e->rhs), r = {0};
    if (a.absent || b.absent) {
        r.absent = a.absent ? a.absent : b.absent;
        sym_free(&a), sym_free(&b);
        return r;
    }
    if (a.is_const && b.is_const) {
        long long v = 0;
        int overflow = 0;
        switch (e->kind) {
            case EX_ADD: overflow = __builtin_add_overflow(a.v, b.v, &v); break;
            case EX_SUB: overflow = __builtin_sub_overflow(a.v, b.v, &v); break;
            case EX_MUL: overflow = __builtin_mul_overflow(a.v, b.v, &v); break;
            case EX_EQ: v = a.v == b.v; break;
            case EX_NE: v = a.v != b.v; break;
            case EX_LT: v = a.v < b.v; break;
            case EX_LE: v = a.v <= b.v; break;
            case EX_GT: v = a.v > b.v; break;
            case EX_GE: v = a.v >= b.v; break;
            default: break;
        }
        if (overflow && first_report(e))
            diag_error(e->loc, "integer overflow in this expression");
        r.is_const = 1;
        r.v = v;
        r.lo = r.hi = v;
        return r;
    }
    /* The range of the run-time value: arithmetic must stay inside long long. */
    if (e->kind == EX_ADD) {
        r.lo = a.lo + b.lo, r.hi = a.hi + b.hi;
    } else if (e->kind == EX_SUB) {
        r.lo = a.lo - b.hi, r.hi = a.hi - b.lo;
    } else if (e->kind == EX_MUL) {
        __int128 p[4] = {a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi};
        r.lo = r.hi = p[0];
        for (int i = 1; i < 4; i++) {
            r.lo = p[i] < r.lo ? p[i] : r.lo;
            r.hi = p[i] > r.hi ? p[i] : r.hi;
        }
    } else {
        r.lo = 0, r.hi = 1; /* a comparison */
    }
    if ((r.lo < -GUARD_LIMIT || r.hi > GUARD_LIMIT) && first_report(e)) {
        diag_error(e->loc, "this expression can overflow at run time (batch and sequence lengths "
                           "go up to 2^31): use smaller constants");
        r.lo = r.hi = 0;
    }
    r.g = guard_new(G_BIN, sym_take(&a), sym_take(&b));
    r.g->op = e->kind;
    return r;
}

static Sym fold_expr(const Model *m, const Point *pt, const Expr *e) {
    Sym r = {0};
    switch (e->kind) {
        case EX_NUM:
            r.is_const = 1;
            r.v = e->num;
            r.lo = r.hi = e->num;
            return r;
        case EX_NAME:                       /* `layer` or `step`: check.c admits no other name */
            if (!strcmp(e->name, "step")) { /* SPEC §8: known at run time only */
                r.g = guard_dim(DIM_STEP);
                r.lo = -1, r.hi = INT_MAX;
                return r;
            }
            r.is_const = 1;
            r.v = pt->layer;
            r.lo = r.hi = pt->layer;
            return r;
        case EX_DIM:
            if (!field_dim(m, pt, e->name, (int)e->num, &r))
                r.absent = e;
            return r;
        case EX_NEG: {
            Sym a = fold_expr(m, pt, e->lhs);
            if (a.absent || !a.is_const) {
                if (!a.absent) {
                    r.g = guard_new(G_NEG, sym_take(&a), NULL);
                    r.lo = -a.hi, r.hi = -a.lo;
                }
                r.absent = a.absent;
                sym_free(&a);
                return r;
            }
            r.is_const = 1;
            if (__builtin_sub_overflow(0LL, a.v, &r.v))
                diag_error(e->loc, "integer overflow in this expression");
            r.lo = r.hi = r.v;
            return r;
        }
        default: return binary(m, pt, e);
    }
}

static int source_within(const char *source, const char *module) {
    size_t n = strlen(module);
    if (n == 0)
        return 1;
    return !strncmp(source, module, n) && (source[n] == '\0' || source[n] == '.');
}

static int class_matches(const char *name, xf_event_kind kind) {
    int k = name_lookup(name, event_class_names);
    return k == XF_EVENT || k == (int)kind;
}

static Fold mk(Truth t) {
    Fold f = {t, NULL, NULL};
    return f;
}

static Fold fold_filter(const Model *m, const Point *pt, const Filter *f) {
    Fold a, b, r;
    switch (f->kind) {
        case FL_CLASS: return mk(class_matches(f->name, pt->kind) ? T_YES : T_NO);
        case FL_FROM_LAYER: return mk(!strcmp(pt->source, f->name) ? T_YES : T_NO);
        case FL_WITHIN: return mk(source_within(pt->source, f->name) ? T_YES : T_NO);
        case FL_NAME_CONTAINS: return mk(strstr(pt->source, f->name) ? T_YES : T_NO);
        case FL_PRED: {
            Sym s = fold_expr(m, pt, f->expr);
            if (s.absent) {
                r = mk(T_ABSENT);
                r.absent = s.absent;
            } else if (s.is_const) {
                r = mk(s.v ? T_YES : T_NO);
            } else {
                r = mk(T_GUARD);
                r.guard = sym_take(&s);
            }
            sym_free(&s);
            return r;
        }
        case FL_NOT:
            a = fold_filter(m, pt, f->lhs);
            if (a.t == T_YES || a.t == T_NO)
                return mk(a.t == T_YES ? T_NO : T_YES);
            if (a.t == T_GUARD) {
                r = mk(T_GUARD);
                r.guard = guard_new(G_NOT, a.guard, NULL);
                return r;
            }
            return a;
        case FL_AND:
        case FL_OR: {
            int is_and = f->kind == FL_AND;
            Truth zero = is_and ? T_NO : T_YES; /* absorbing */
            Truth one = is_and ? T_YES : T_NO;  /* neutral */
            a = fold_filter(m, pt, f->lhs);
            b = fold_filter(m, pt, f->rhs);
            if (a.t == zero || b.t == zero) {
                guard_free(a.guard), guard_free(b.guard);
                return mk(zero);
            }
            if (a.t == T_ABSENT || b.t == T_ABSENT) {
                r = a.t == T_ABSENT ? a : b;
                guard_free(a.guard), guard_free(b.guard);
                r.guard = NULL;
                return r;
            }
            if (a.t == one)
                return b;
            if (b.t == one)
                return a;
            r = mk(T_GUARD);
            r.guard = guard_new(is_and ? G_AND : G_OR, a.guard, b.guard);
            return r;
        }
    }
    return mk(T_NO);
}

/* ---- diagnostics for listeners that never fire ------------------------------ */

/* Classes a filter names outside any ~, as a bit set (none named = all). */
static unsigned named_classes(const Filter *f, int negated) {
    switch (f->kind) {
        case FL_CLASS: {
            if (negated)
                return 0;
            int k = name_lookup(f->name, event_class_names);
            if (k == XF_EVENT)
                return ~0u;
            return k > 0 ? 1u << k : 0;
        }
        case FL_AND:
        case FL_OR: return named_classes(f->lhs, negated) | named_classes(f->rhs, negated);
        case FL_NOT: return named_classes(f->lhs, !negated);
        default: return 0;
    }
}

/* The first from_layer/within module a filter names, or NULL. */
static const Filter *named_module(const Filter *f) {
    if (f->kind == FL_FROM_LAYER || f->kind == FL_WITHIN)
        return f;
    if (f->kind == FL_AND || f->kind == FL_OR) {
        const Filter *l = named_module(f->lhs);
        return l ? l : named_module(f->rhs);
    }
    return NULL;
}

/* "layers.10.attention" -> "layers[10].attention", the DSL's path spelling. */
static char *dsl_path(const char *source) {
    StrBuf sb;
    sb_init(&sb);
    for (const char *p = source; *p;) {
        if (*p == '.' && p[1] >= '0' && p[1] <= '9') {
            sb_puts(&sb, "[");
            p++;
            while (*p >= '0' && *p <= '9')
                sb_printf(&sb, "%c", *p++);
            sb_puts(&sb, "]");
        } else {
            sb_printf(&sb, "%c", *p++);
        }
    }
    return sb_take(&sb);
}

/* Every module of the model in the DSL's spelling ("layers[1].attention"):
 * the point sources and each of their dotted prefixes; NULL-terminated. */
static char **module_names(const Plan *p) {
    char **names = xcalloc(1, sizeof *names);
    int n = 0;
    for (int i = 0; i < p->n_points; i++) {
        char *src = xstrdup(p->points[i].source);
        for (size_t end = 0; src[0]; end++) {
            if (src[end] != '.' && src[end] != '\0')
                continue;
            char saved = src[end];
            src[end] = '\0';
            char *path = dsl_path(src);
            int seen = name_lookup(path, (const char *const *)names) >= 0;
            if (!seen) {
                names = xrealloc(names, (size_t)n + 2, sizeof *names);
                names[n++] = path, names[n] = NULL;
            } else {
                free(path);
            }
            src[end] = saved;
            if (!saved)
                break;
        }
        free(src);
    }
    return names;
}

static void free_names(char **names) {
    for (int i = 0; names[i]; i++)
        free(names[i]);
    free(names);
}

/* "layers.5" past the stack's n_layers: "the model has layers 0–2". */
static int note_layer_range(const Plan *p, const Filter *mod) {
    const Model *m = p->model;
    const char *at = strstr(mod->name, "layers.");
    if (!at || (at != mod->name && at[-1] != '.') || at[7] < '0' || at[7] > '9')
        return 0;
    long long idx = strtoll(at + 7, NULL, 10);
    int in_dec = m->kind == MODEL_DECODER || !strncmp(mod->name, "decoder.", 8);
    int in_enc = m->kind == MODEL_ENCODER || !strncmp(mod->name, "encoder.", 8);
    if (in_enc || in_dec) {
        int n = in_dec ? m->dec.n_layers : m->enc.n_layers;
        if (idx < n)
            return 0;
        diag_note(mod->loc, "the %s has layers 0–%d (n_layers = %d)",
                  m->kind == MODEL_TRANSFORMER ? (in_dec ? "decoder" : "encoder") : "model", n - 1,
                  n);
        return 1;
    }
    if (idx < m->enc.n_layers || idx < m->dec.n_layers)
        return 0;
    diag_note(mod->loc,
              "the encoder has layers 0–%d, the decoder 0–%d; in a Transformer, module paths start "
              "with the stack ('encoder.layers[0]')",
              m->enc.n_layers - 1, m->dec.n_layers - 1);
    return 1;
}

/* A Transformer's paths start with the stack: "layers[0]" is "encoder.layers[0]"
 * or "decoder.layers[0]". */
static int note_stack_prefix(const Plan *p, const Filter *mod, const char *const *modules) {
    if (p->model->kind != MODEL_TRANSFORMER || !strncmp(mod->name, "encoder", 7) ||
        !strncmp(mod->name, "decoder", 7))
        return 0;
    char *path = dsl_path(mod->name);
    StrBuf enc, dec;
    sb_init(&enc), sb_init(&dec);
    sb_printf(&enc, "encoder.%s", path), sb_printf(&dec, "decoder.%s", path);
    int e = name_lookup(enc.s, modules) >= 0, d = name_lookup(dec.s, modules) >= 0;
    if (e && d)
        diag_note(mod->loc, "in a Transformer, module paths start with the stack: '%s' or '%s'",
                  enc.s, dec.s);
    else if (e || d)
        diag_note(mod->loc, "in a Transformer, module paths start with the stack: '%s'",
                  e ? enc.s : dec.s);
    sb_free(&enc), sb_free(&dec);
    free(path);
    return e || d;
}

/* A PyTorch name in the path ("layers[0].self_attn"): the module it means. */
static int note_torch_name(const Filter *mod, const char *const *modules) {
    char *path = dsl_path(mod->name);
    int found = 0;
    for (const char *c = path; *c && !found;
         c += c[strcspn(c, ".")] ? strcspn(c, ".") + 1 : strlen(c)) {
        size_t len = strcspn(c, ".["); /* one component, without its [i] */
        for (const Alias *a = aliases; a->word && !found; a++) {
            if (strlen(a->word) != len || strncmp(a->word, c, len))
                continue;
            StrBuf sb;
            sb_init(&sb);
            sb_printf(&sb, "%.*s%s%s", (int)(c - path), path, a->instead, c + len);
            if (name_lookup(sb.s, modules) >= 0) {
                diag_note(mod->loc,
                          "the model has no module '%s'; did you mean '%s'? (xfc names modules as "
                          "fast-transformers does; see %s)",
                          path, sb.s, DOC_FILTERS);
                found = 1;
            }
            sb_free(&sb);
        }
    }
    free(path);
    return found;
}

/* Why the module a listener names matches nothing: a layer past the stack,
 * a Transformer path without its stack, a PyTorch name, or a typo. */
static void explain_module(const Plan *p, const Filter *mod, unsigned classes) {
    char **modules = module_names(p);
    const char *const *cands = (const char *const *)modules;
    char *path = dsl_path(mod->name);
    int k = XF_EVENT + 1;
    while (k < N_EVENT_CLASSES && !(classes & (1u << k)))
        k++;
    if (name_lookup(path, cands) >= 0 && k < N_EVENT_CLASSES)
        diag_note(mod->loc, "no %s comes from '%s': its source is %s (see %s)",
                  event_name((xf_event_kind)k), path, event_info[k].source, DOC_EVENTS);
    else if (name_lookup(path, cands) >= 0)
        diag_note(mod->loc, "none of the filter's event classes comes from '%s' (see %s)", path,
                  DOC_EVENTS);
    else if (!note_layer_range(p, mod) && !note_stack_prefix(p, mod, cands) &&
             !note_torch_name(mod, cands))
        unknown(mod->loc, 1, path, cands, "'%s'", "", DOC_FILTERS, "the model has no module '%s'",
                path);
    free(path);
    free_names(modules);
}

static void warn_never_fires(const Plan *p, const Listener *l) {
    unsigned classes = named_classes(l->filter, 0);
    if (!classes)
        classes = ~0u;
    const Filter *mod = named_module(l->filter);
    diag_warning(l->loc,
                 "this listener never fires: no dispatch point of model '%s' matches its filter",
                 p->model->name);
    if (!mod)
        return;
    /* Points of the named classes inside the named module: the usual mistake is
     * from_layer(layers[i]) where the event comes from a submodule. */
    int shown = 0;
    for (int i = 0; i < p->n_points && shown < 3; i++) {
        const Point *pt = &p->points[i];
        if (!(classes & (1u << pt->kind)) || !source_within(pt->source, mod->name))
            continue;
        char *path = dsl_path(pt->source), *within = dsl_path(mod->name);
        diag_note(mod->loc, "%s comes from '%s': use from_layer(%s) or within(%s)",
                  event_name(pt->kind), pt->source, path, within);
        free(path), free(within);
        shown++;
    }
    if (!shown)
        explain_module(p, mod, classes);
}

static void error_absent(const Point *pt, const Expr *e) {
    int f = name_lookup(e->name, field_names);
    const char *cls = f >= 0 ? event_name(field_info[f].owner) : "no event";
    diag_error(
        e->loc,
        "%s (from '%s') has no field '%s'; it belongs to %s: restrict the filter, e.g. '%s & (…)'",
        event_name(pt->kind), pt->source, e->name, cls, cls);
}

/* ---- the plan --------------------------------------------------------------- */

int plan_build(const Model *m, Profile profile, Plan *out) {
    int errors_before = diag_errors();
    memset(out, 0, sizeof *out);
    out->model = m;
    out->profile = profile;
    if (m->kind == MODEL_ENCODER)
        add_stack_points(out, &m->enc, 0, 0, "");
    else if (m->kind == MODEL_DECODER)
        add_stack_points(out, &m->dec, 1, 1, "");
    else {
        add_stack_points(out, &m->enc, 0, 0, "encoder.");
        add_stack_points(out, &m->dec, 1, 1, "decoder.");
    }

    for (int li = 0; li < m->n_listeners; li++) {
        const Listener *l = &m->listeners[li];
        int fires = 0, reported = 0;
        for (int pi = 0; pi < out->n_points; pi++) {
            Point *pt = &out->points[pi];
            Fold f = fold_filter(m, pt, l->filter);
            if (f.t == T_ABSENT) {
                if (!reported++)
                    error_absent(pt, f.absent);
                continue;
            }
            if (f.t == T_NO)
                continue;
            fires++;
            pt->fires = xrealloc(pt->fires, (size_t)pt->n_fires + 1, sizeof(Fire));
            pt->fires[pt->n_fires].listener = li;
            pt->fires[pt->n_fires].guard = f.guard;
            pt->n_fires++;
        }
        if (!fires && !reported)
            warn_never_fires(out, l);
    }

    for (int pi = 0; pi < out->n_points; pi++) {
        Point *pt = &out->points[pi];
        pt->kept =
            profile == PROFILE_INSTRUMENT_ALL || (profile == PROFILE_DEBUG && pt->n_fires > 0);
    }
    return diag_errors() - errors_before;
}

const Point *plan_point(const Plan *p, xf_event_kind kind, int stack, int layer, Slot slot) {
    for (int i = 0; i < p->n_points; i++) {
        const Point *pt = &p->points[i];
        if (pt->kind == kind && pt->stack == stack && pt->layer == layer && pt->slot == slot)
            return pt->kept ? pt : NULL;
    }
    return NULL;
}

static const char *handler_name(HandlerKind k) {
    return handler_info[k].name;
}

void plan_print(const Plan *p, FILE *out) {
    static const char *const profiles[] = {"debug", "release", "instrument-all"};
    int kept = 0;
    for (int i = 0; i < p->n_points; i++)
        kept += p->points[i].kept;
    fprintf(out, "model %s: %d dispatch points, %d kept (profile %s)\n", p->model->name,
            p->n_points, kept, profiles[p->profile]);
    for (int i = 0; i < p->n_points; i++) {
        const Point *pt = &p->points[i];
        fprintf(out, "  %c %-18s %-45s", pt->kept ? '*' : ' ', event_name(pt->kind),
                pt->source[0] ? pt->source : "\"\"");
        if (pt->kind == XF_INTERMEDIATE_OUTPUT)
            fprintf(out, " layer %d", pt->layer);
        for (int f = 0; f < pt->n_fires; f++) {
            const Listener *l = &p->model->listeners[pt->fires[f].listener];
            fprintf(out, "%s listener %d (line %d, %s)", f ? "," : " ->", l->index, l->loc.line,
                    handler_name(l->handler.kind));
            if (pt->fires[f].guard) {
                char *c = plan_guard_c(pt->fires[f].guard);
                fprintf(out, " if %s", c);
                free(c);
            }
        }
        fputc('\n', out);
    }
}

void plan_free(Plan *p) {
    for (int i = 0; i < p->n_points; i++) {
        for (int f = 0; f < p->points[i].n_fires; f++)
            guard_free(p->points[i].fires[f].guard);
        free(p->points[i].fires);
        free(p->points[i].source);
    }
    free(p->points);
    memset(p, 0, sizeof *p);
}
