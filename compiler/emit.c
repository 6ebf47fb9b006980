/* emit.c — fills templates/ from the plan: model.c, model.h, main.c.
 *
 * Each emit_* function produces one part of the output and is headed by the
 * part it makes.  Values go into templates as strings; a small key/value
 * vector (KV) collects them so each fill reads like the template's holes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit.h"
#include "templates.h"
#include "xfc_config.h"

/* ---- small helpers ---------------------------------------------------------- */

/* A key/value list for tmpl_fill; values are owned copies. */
typedef struct KV {
    const char *kv[96];
    char *owned[48];
    int n, n_owned;
} KV;

static void kv_set(KV *k, const char *key, const char *val) {
    char *copy = strdup(val);
    k->owned[k->n_owned++] = copy;
    k->kv[k->n++] = key;
    k->kv[k->n++] = copy;
    k->kv[k->n] = NULL;
}

static void kv_int(KV *k, const char *key, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    kv_set(k, key, buf);
}

static void kv_take(KV *k, const char *key, char *val) {
    kv_set(k, key, val);
    free(val);
}

static void kv_free(KV *k) {
    for (int i = 0; i < k->n_owned; i++)
        free(k->owned[i]);
    k->n = k->n_owned = 0;
}

static void fill(StrBuf *out, const char *tmpl, KV *k) {
    k->kv[k->n] = NULL;
    tmpl_fill(out, tmpl_get(tmpl), k->kv);
    kv_free(k);
}

/* A float as a C literal that reads back exactly: 0.125f, 1e-05f. */
static char *c_float(double v) {
    char buf[48];
    snprintf(buf, sizeof buf, "%.9g", v);
    if (!strpbrk(buf, ".eE"))
        strcat(buf, ".0");
    strcat(buf, "f");
    return strdup(buf);
}

/* A C string literal (quotes included). */
static char *c_string(const char *s) {
    StrBuf b;
    sb_init(&b);
    sb_puts(&b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sb_printf(&b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            sb_printf(&b, "\\%03o", (unsigned char)*s);
        else
            sb_printf(&b, "%c", *s);
    }
    sb_puts(&b, "\"");
    return sb_take(&b);
}

/* Source text safe inside a C comment. */
static void comment_text(StrBuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '*' && i + 1 < n && s[i + 1] == '/')
            sb_puts(b, "* ");
        else
            sb_printf(b, "%c", s[i]);
    }
}

static const char *event_enum(xf_event_kind k) {
    static const char *const names[] = {"XF_EVENT", "XF_QKV_EVENT", "XF_ATTENTION_EVENT",
                                        "XF_INTERMEDIATE_OUTPUT"};
    return names[k];
}

static const char *handler_kind_name(HandlerKind k) {
    static const char *const names[] = {"save", "heatmap", "stats", "print", "call", "figure"};
    return names[k];
}

/* ---- the spec in the header comment ----------------------------------------- */

/* Byte offset of a (line, col) position. */
static size_t offset_of(const Src *src, Loc loc) {
    size_t off = 0;
    for (int line = 1; line < loc.line && off < src->len; off++)
        if (src->text[off] == '\n')
            line++;
    off += (size_t)(loc.col > 0 ? loc.col - 1 : 0);
    return off < src->len ? off : src->len;
}

/* Offset of the `model` keyword (outside comments and strings). */
static size_t model_keyword(const Src *src) {
    const char *t = src->text;
    for (size_t i = 0; i < src->len; i++) {
        if (t[i] == '#') {
            while (i < src->len && t[i] != '\n')
                i++;
        } else if (t[i] == '"') {
            for (i++; i < src->len && t[i] != '"'; i++)
                if (t[i] == '\\')
                    i++;
        } else if (!strncmp(t + i, "model", 5) && (i == 0 || !isalnum((unsigned char)t[i - 1])) &&
                   !isalnum((unsigned char)t[i + 5]) && t[i + 5] != '_') {
            return i;
        }
    }
    return 0;
}

/* The model declaration only (from `model` to its closing brace): listeners
 * are left out so a release build's C equals that of the spec without them. */
static char *spec_model_text(const Model *m) {
    const Src *src = m->src;
    size_t start = model_keyword(src), end = start;
    int depth = 0, seen = 0;
    for (; end < src->len; end++) {
        char ch = src->text[end];
        if (ch == '#') {
            while (end < src->len && src->text[end] != '\n')
                end++;
        } else if (ch == '"') {
            for (end++; end < src->len && src->text[end] != '"'; end++)
                if (src->text[end] == '\\')
                    end++;
        } else if (ch == '{') {
            depth++, seen = 1;
        } else if (ch == '}' && --depth == 0 && seen) {
            end++;
            break;
        }
    }
    StrBuf b;
    sb_init(&b);
    size_t line_start = start;
    for (size_t i = start; i <= end && i <= src->len; i++) {
        if (i == end || src->text[i] == '\n') {
            sb_puts(&b, " *   ");
            comment_text(&b, src->text + line_start, i - line_start);
            sb_puts(&b, "\n");
            line_start = i + 1;
            if (i == end)
                break;
        }
    }
    return sb_take(&b);
}

/* ---- model dims ------------------------------------------------------------- */

typedef struct Dims {
    int H, E, DV, D, F;   /* heads, q/k head dim, v head dim, d_model, feed-forward */
} Dims;

static Dims stack_dims(const Stack *s) {
    Dims d = {s->n_heads, s->query_dimensions, s->value_dimensions, s->d_model,
              s->feed_forward_dimensions};
    return d;
}

static int imax(int a, int b) { return a > b ? a : b; }

static int has_stack(const Model *m, int stack) {
    return stack == 0 ? m->kind != MODEL_DECODER : m->kind != MODEL_ENCODER;
}

static const Stack *get_stack(const Model *m, int stack) {
    return stack == 0 ? &m->enc : &m->dec;
}

/* The C name of a stack's layer array and final norm, and its weight prefix. */
static const char *stack_field(const Model *m, int stack) {
    if (m->kind != MODEL_TRANSFORMER)
        return "layers";
    return stack == 0 ? "encoder_layers" : "decoder_layers";
}
static const char *norm_field(const Model *m, int stack) {
    if (m->kind != MODEL_TRANSFORMER)
        return "norm";
    return stack == 0 ? "encoder_norm" : "decoder_norm";
}
static const char *source_prefix(const Model *m, int stack) {
    if (m->kind != MODEL_TRANSFORMER)
        return "";
    return stack == 0 ? "encoder." : "decoder.";
}

/* ---- listeners (handler configurations) --------------------------------------- */

/* The listener's own line(s) of the spec, for its comment. */
static void listener_comment(StrBuf *b, const Model *m, const Listener *l) {
    const Src *src = m->src;
    size_t start = offset_of(src, l->loc), end = start;
    while (end < src->len && src->text[end] != '\n')
        end++;
    sb_printf(b, "\n/* listener %d (spec line %d): ", l->index, l->loc.line);
    comment_text(b, src->text + start, end - start);
    sb_puts(b, " */\n");
}

/* The handler configuration object `listener_N`, if its handler takes one. */
static void emit_handler_cfg(StrBuf *b, const Listener *l) {
    const Handler *h = &l->handler;
    char *pat = h->pattern ? c_string(h->pattern) : NULL;
    switch (h->kind) {
    case HANDLER_SAVE:
        sb_printf(b, "static xf_save_cfg listener_%d = {%s};\n", l->index, pat);
        break;
    case HANDLER_HEATMAP:
        sb_printf(b, "static xf_heatmap_cfg listener_%d = {%s, %d, %d};   /* pattern, head, sample */\n",
                  l->index, pat, h->head, h->sample);
        break;
    case HANDLER_FIGURE:
        sb_printf(b, "static xf_figure_cfg listener_%d = {%s, %d, %d, %d, NULL};   /* pattern, head, sample, cols */\n",
                  l->index, pat, h->head, h->sample, h->cols);
        break;
    case HANDLER_CALL:
        sb_printf(b, "void %s(const xf_event *ev, void *user);   /* from --link */\n", h->symbol);
        break;
    case HANDLER_STATS:
    case HANDLER_PRINT:
        break;
    }
    free(pat);
}

/* The call of listener l's handler on `ev` (a statement without indentation). */
static char *handler_call(const Listener *l, const char *user) {
    StrBuf b;
    sb_init(&b);
    const Handler *h = &l->handler;
    switch (h->kind) {
    case HANDLER_SAVE: sb_printf(&b, "xf_save(&ev, &listener_%d);", l->index); break;
    case HANDLER_HEATMAP: sb_printf(&b, "xf_heatmap(&ev, &listener_%d);", l->index); break;
    case HANDLER_FIGURE: sb_printf(&b, "xf_figure(&ev, &listener_%d);", l->index); break;
    case HANDLER_STATS: sb_puts(&b, "xf_stats(&ev, NULL);"); break;
    case HANDLER_PRINT: sb_puts(&b, "xf_print(&ev, NULL);"); break;
    case HANDLER_CALL: sb_printf(&b, "%s(&ev, %s);", h->symbol, user); break;
    }
    return sb_take(&b);
}

/* Is listener li fired at any kept point? */
static int listener_used(const Plan *p, int li) {
    for (int i = 0; i < p->n_points; i++)
        if (p->points[i].kept)
            for (int f = 0; f < p->points[i].n_fires; f++)
                if (p->points[i].fires[f].listener == li)
                    return 1;
    return 0;
}

/* Instrument-all: the C expression of a payload predicate over `ev`. */
static void pred_expr(StrBuf *b, const Expr *e) {
    static const char *const ops[] = {
        [EX_ADD] = "+", [EX_SUB] = "-", [EX_MUL] = "*", [EX_EQ] = "==", [EX_NE] = "!=",
        [EX_LT] = "<", [EX_LE] = "<=", [EX_GT] = ">", [EX_GE] = ">=",
    };
    switch (e->kind) {
    case EX_NUM: sb_printf(b, "%lldLL", e->num); break;
    case EX_NAME: sb_puts(b, "(long long)ev->layer"); break;
    case EX_DIM: sb_printf(b, "(long long)ev->%s->shape[%lld]", e->name, e->num); break;
    case EX_NEG: sb_puts(b, "-("); pred_expr(b, e->lhs); sb_puts(b, ")"); break;
    default:
        sb_puts(b, "(");
        pred_expr(b, e->lhs);
        sb_printf(b, " %s ", ops[e->kind]);
        pred_expr(b, e->rhs);
        sb_puts(b, ")");
    }
}

static void pred_fields(StrBuf *b, const Expr *e) {
    if (!e)
        return;
    if (e->kind == EX_DIM && !strstr(b->s, e->name)) {
        sb_printf(b, "    if (!ev->%s)\n        return 0;   /* not a field of this event */\n", e->name);
    }
    pred_fields(b, e->lhs);
    pred_fields(b, e->rhs);
}

/* Instrument-all: predicate functions of filter f, and the constructor text. */
static void filter_ctor(StrBuf *defs, StrBuf *expr, const Filter *f, int li, int *npred) {
    char *s;
    switch (f->kind) {
    case FL_CLASS: {
        const char *k = !strcmp(f->name, "QKVEvent") ? "XF_QKV_EVENT"
                      : !strcmp(f->name, "AttentionEvent") ? "XF_ATTENTION_EVENT"
                      : !strcmp(f->name, "IntermediateOutput") ? "XF_INTERMEDIATE_OUTPUT" : "XF_EVENT";
        sb_printf(expr, "xf_event_class(%s)", k);
        return;
    }
    case FL_FROM_LAYER: s = c_string(f->name); sb_printf(expr, "xf_from_layer(%s)", s); free(s); return;
    case FL_WITHIN: s = c_string(f->name); sb_printf(expr, "xf_within(%s)", s); free(s); return;
    case FL_NAME_CONTAINS: s = c_string(f->name); sb_printf(expr, "xf_layer_name_contains(%s)", s); free(s); return;
    case FL_PRED: {
        int k = (*npred)++;
        StrBuf checks, body;
        sb_init(&checks);
        sb_init(&body);
        pred_fields(&checks, f->expr);
        pred_expr(&body, f->expr);
        sb_printf(defs, "static int listener_%d_pred_%d(const xf_event *ev, void *user) {\n    (void)user;\n%s    return %s;\n}\n",
                  li, k, checks.s, body.s);
        sb_free(&checks);
        sb_free(&body);
        sb_printf(expr, "xf_predicate(listener_%d_pred_%d, NULL)", li, k);
        return;
    }
    case FL_NOT:
        sb_puts(expr, "xf_not(");
        filter_ctor(defs, expr, f->lhs, li, npred);
        sb_puts(expr, ")");
        return;
    case FL_AND:
    case FL_OR:
        sb_puts(expr, f->kind == FL_AND ? "xf_and(" : "xf_or(");
        filter_ctor(defs, expr, f->lhs, li, npred);
        sb_puts(expr, ", ");
        filter_ctor(defs, expr, f->rhs, li, npred);
        sb_puts(expr, ")");
        return;
    }
}

/* The listeners section of model.c: handler configurations (debug), or
 * handlers + filters + their registration (instrument-all). */
static char *emit_listeners(const Plan *p, const char *name) {
    const Model *m = p->model;
    StrBuf b;
    sb_init(&b);
    if (p->profile == PROFILE_RELEASE)
        return sb_take(&b);
    int any = 0;
    for (int li = 0; li < m->n_listeners; li++) {
        const Listener *l = &m->listeners[li];
        if (p->profile == PROFILE_DEBUG && !listener_used(p, li))
            continue;
        if (!any++)
            sb_puts(&b, "\n/* ---- listeners ---------------------------------------------------------- */\n");
        if (any == 1 && p->profile == PROFILE_INSTRUMENT_ALL)
            sb_printf(&b, "\n/* The spec's listeners are registered once per dispatcher (user NULL), not\n"
                          " * per loaded model, and act only inside a forward of this model: the\n"
                          " * forward running on this thread, whose user data call() handlers get. */\n"
                          "static _Thread_local const %s *in_forward;\n", name);
        listener_comment(&b, m, l);
        emit_handler_cfg(&b, l);
        if (p->profile != PROFILE_INSTRUMENT_ALL)
            continue;
        char *call = handler_call(l, "m->user");
        /* handler_call names its event `&ev`; here the event is a pointer */
        StrBuf fixed;
        sb_init(&fixed);
        for (const char *s = call; *s; s++) {
            if (!strncmp(s, "&ev", 3)) {
                sb_puts(&fixed, "ev");
                s += 2;
            } else {
                sb_printf(&fixed, "%c", *s);
            }
        }
        free(call);
        sb_printf(&b, "static void listener_%d_handler(const xf_event *ev, void *user) {\n"
                      "    const %s *m = in_forward;\n"
                      "    (void)user;\n"
                      "    if (!m)\n        return;   /* not dispatched from a forward of this model */\n"
                      "    %s\n}\n", li, name, fixed.s);
        sb_free(&fixed);
        StrBuf expr;
        sb_init(&expr);
        int npred = 0;
        filter_ctor(&b, &expr, l->filter, li, &npred);
        sb_printf(&b, "static xf_filter *listener_%d_filter(void) {\n    return %s;\n}\n", li, expr.s);
        sb_free(&expr);
    }
    if (p->profile == PROFILE_INSTRUMENT_ALL) {
        sb_printf(&b, "\n/* The spec's listeners, registered with the model's dispatcher at load. */\n"
                      "static void register_listeners(%s *m, xf_dispatcher *d) {\n", name);
        for (int li = 0; li < m->n_listeners; li++)
            sb_printf(&b, "    xf_listen(d, listener_%d_filter(), listener_%d_handler, NULL);\n", li, li);
        sb_printf(&b, "    (void)m;\n    (void)d;\n}\n");
    }
    return sb_take(&b);
}

/* ---- dispatch blocks ---------------------------------------------------------- */

/* The handler calls at a kept point, each under its guard (debug), or the
 * dispatch (instrument-all); `indent` spaces before each statement. */
static char *point_calls(const Plan *p, const Point *pt, int indent) {
    StrBuf b;
    sb_init(&b);
    if (p->profile == PROFILE_INSTRUMENT_ALL) {
        sb_printf(&b, "%*sxf_dispatch(m->dispatcher, &ev);\n", indent, "");
        return sb_take(&b);
    }
    for (int f = 0; f < pt->n_fires; f++) {
        const Listener *l = &p->model->listeners[pt->fires[f].listener];
        char *call = handler_call(l, "m->user");
        if (pt->fires[f].guard)
            sb_printf(&b, "%*sif %s%s%s\n%*s    %s   /* listener %d, line %d: %s */\n", indent, "",
                      pt->fires[f].guard[0] == '(' ? "" : "(", pt->fires[f].guard,
                      pt->fires[f].guard[0] == '(' ? "" : ")", indent, "", call, l->index, l->loc.line,
                      handler_kind_name(l->handler.kind));
        else
            sb_printf(&b, "%*s%s   /* listener %d, line %d: %s */\n", indent, "", call, l->index,
                      l->loc.line, handler_kind_name(l->handler.kind));
        free(call);
    }
    return sb_take(&b);
}

/* `if (xf_dispatcher_wants(…)) ` before a block of an instrument-all build. */
static char *wants(const Point *pt) {
    char *src = c_string(pt->source), *s;
    StrBuf b;
    sb_init(&b);
    sb_printf(&b, "xf_dispatcher_wants(m->dispatcher, %s, %s)", event_enum(pt->kind), src);
    s = sb_take(&b);
    free(src);
    return s;
}

/* The "when" of a materialized attention matrix at a kept point. */
static char *matrix_line(const Plan *p, const Point *pt) {
    StrBuf b;
    sb_init(&b);
    if (!pt) {
        sb_puts(&b, "        float *const A = NULL;   /* no AttentionEvent here: nothing L×S is kept */\n");
    } else if (p->profile == PROFILE_INSTRUMENT_ALL) {
        char *w = wants(pt);
        sb_printf(&b, "        float *const A = %s ? w->A : NULL;\n", w);
        free(w);
    } else {
        int guarded = 1;
        for (int f = 0; f < pt->n_fires; f++)
            guarded &= pt->fires[f].guard != NULL;
        if (!guarded) {
            sb_puts(&b, "        float *const A = w->A;   /* AttentionEvent listened to: materialize */\n");
        } else {
            sb_puts(&b, "        float *const A = (");
            for (int f = 0; f < pt->n_fires; f++)
                sb_printf(&b, "%s%s", f ? " || " : "", pt->fires[f].guard);
            sb_puts(&b, ") ? w->A : NULL;   /* materialized only when a guard holds */\n");
        }
    }
    return sb_take(&b);
}

/* ---- layers ----------------------------------------------------------------- */

static const char *attention_desc(const Stack *s, AttentionType t, int causal, char *buf, size_t cap) {
    snprintf(buf, cap, "%s attention%s, %d heads × %d (values %d)", attention_type_name(t),
             causal ? " (causal)" : "", s->n_heads, s->query_dimensions, s->value_dimensions);
    return buf;
}

/* The runtime kernel of an attention type (each has xf_attention's signature). */
static const char *attention_kernel(AttentionType t) {
    switch (t) {
    case ATT_LINEAR:
    case ATT_CAUSAL_LINEAR: return "xf_linear_attention";
    case ATT_LOCAL: return "xf_local_attention";
    case ATT_EXACT_TOPK: return "xf_topk_attention";
    case ATT_FULL: break;
    }
    return "xf_attention";
}

/* One attention block: kernel call, materialization and AttentionEvent. */
static char *emit_attention(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                            const char *module) {
    const Model *m = p->model;
    Dims d = stack_dims(s);
    const Point *pt = plan_point(p, XF_ATTENTION_EVENT, stack, layer, slot);
    int cross = slot == SLOT_CROSS;
    AttentionType t = cross ? s->cross_attention_type : s->attention_type;
    int causal = !cross && s->causal;
    StrBuf b;
    sb_init(&b);
    char src[300], desc[160];
    snprintf(src, sizeof src, "%s", module);
    KV k = {0};
    kv_set(&k, "source", src);
    kv_set(&k, "desc", attention_desc(s, t, causal, desc, sizeof desc));
    kv_set(&k, "Lq", "c->L");
    kv_set(&k, "Lk", cross ? "c->S" : "c->L");
    kv_int(&k, "H", d.H);
    kv_int(&k, "E", d.E);
    kv_int(&k, "DV", d.DV);
    kv_set(&k, "key_len", cross ? "c->mem_len" : "c->len");
    kv_int(&k, "causal", causal);
    kv_take(&k, "temp", c_float(s->softmax_temp));
    kv_take(&k, "matrix", matrix_line(p, pt));
    kv_int(&k, "local_context", t == ATT_LOCAL ? s->local_context : 0);
    kv_int(&k, "topk", t == ATT_EXACT_TOPK ? s->topk : 0);
    kv_set(&k, "kernel", attention_kernel(t));
    if (pt) {
        KV e = {0};
        StrBuf ev;
        sb_init(&ev);
        char inner[320];
        snprintf(inner, sizeof inner, "%s.inner_attention", module);
        kv_set(&e, "source", inner);
        kv_int(&e, "layer", layer);
        kv_int(&e, "H", d.H);
        kv_set(&e, "Lq", "c->L");
        kv_set(&e, "Lk", cross ? "c->S" : "c->L");
        kv_take(&e, "calls", point_calls(p, pt, 12));
        fill(&ev, "event_attention.c", &e);
        kv_take(&k, "event", sb_take(&ev));
        sb_free(&ev);
    } else {
        kv_set(&k, "event", "");
    }
    fill(&b, "attention.c", &k);
    (void)m;
    return sb_take(&b);
}

/* The QKVEvent block after the projections of one attention module. */
static char *emit_qkv_event(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                            const char *module) {
    const Point *pt = plan_point(p, XF_QKV_EVENT, stack, layer, slot);
    StrBuf b;
    sb_init(&b);
    if (!pt)
        return sb_take(&b);
    Dims d = stack_dims(s);
    KV k = {0};
    kv_set(&k, "source", module);
    kv_int(&k, "layer", layer);
    kv_set(&k, "Lq", "c->L");
    kv_set(&k, "Lk", slot == SLOT_CROSS ? "c->S" : "c->L");
    kv_int(&k, "H", d.H);
    kv_int(&k, "E", d.E);
    kv_int(&k, "DV", d.DV);
    if (p->profile == PROFILE_INSTRUMENT_ALL) {
        char *w = wants(pt);
        StrBuf when;
        sb_init(&when);
        sb_printf(&when, "if (%s) ", w);
        free(w);
        kv_take(&k, "when", sb_take(&when));
        sb_free(&when);
    } else {
        kv_set(&k, "when", "");
    }
    kv_take(&k, "calls", point_calls(p, pt, 8));
    fill(&b, "event_qkv.c", &k);
    return sb_take(&b);
}

static char *emit_intermediate(const Plan *p, const Stack *s, int stack, int layer) {
    const Point *pt = plan_point(p, XF_INTERMEDIATE_OUTPUT, stack, layer, SLOT_LAYER);
    StrBuf b;
    sb_init(&b);
    if (!pt)
        return sb_take(&b);
    KV k = {0};
    kv_set(&k, "source", pt->source);
    kv_int(&k, "layer", layer);
    kv_int(&k, "D", s->d_model);
    if (p->profile == PROFILE_INSTRUMENT_ALL) {
        char *w = wants(pt);
        StrBuf when;
        sb_init(&when);
        sb_printf(&when, "if (%s) ", w);
        free(w);
        kv_take(&k, "when", sb_take(&when));
        sb_free(&when);
    } else {
        kv_set(&k, "when", "");
    }
    kv_take(&k, "calls", point_calls(p, pt, 8));
    fill(&b, "event_intermediate.c", &k);
    return sb_take(&b);
}

/* The QKVEvent block and attention block of one attention module. */
static char *emit_module(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                         const char *module) {
    char *qkv = emit_qkv_event(p, s, stack, layer, slot, module);
    char *a = emit_attention(p, s, stack, layer, slot, module);
    StrBuf b;
    sb_init(&b);
    sb_puts(&b, qkv);
    sb_puts(&b, a);
    free(qkv), free(a);
    return sb_take(&b);
}

/* One layer function, e.g. `static void layers_2(…)`. */
static void emit_layer(StrBuf *out, const Plan *p, int stack, int i, const char *name) {
    const Model *m = p->model;
    const Stack *s = get_stack(m, stack);
    Dims d = stack_dims(s);
    char module[256], fn[64], weights[64], self[300], cross[300], desc[160];
    snprintf(module, sizeof module, "%slayers.%d", source_prefix(m, stack), i);
    snprintf(fn, sizeof fn, "%s_%d", stack_field(m, stack), i);
    snprintf(weights, sizeof weights, "%s[%d]", stack_field(m, stack), i);
    snprintf(self, sizeof self, "%s.%s", module, stack == 0 ? "attention" : "self_attention");
    snprintf(cross, sizeof cross, "%s.cross_attention", module);
    KV k = {0};
    kv_set(&k, "name", name);
    kv_set(&k, "source", module);
    kv_set(&k, "fn", fn);
    kv_set(&k, "weights", weights);
    kv_set(&k, "attention_desc", attention_desc(s, s->attention_type, s->causal, desc, sizeof desc));
    kv_int(&k, "D", d.D);
    kv_int(&k, "F", d.F);
    kv_int(&k, "HE", (long long)d.H * d.E);
    kv_int(&k, "HDV", (long long)d.H * d.DV);
    kv_set(&k, "act", s->activation == ACT_GELU ? "gelu" : "relu");
    kv_set(&k, "ACT", s->activation == ACT_GELU ? "XF_GELU" : "XF_RELU");
    kv_take(&k, "eps", c_float(s->layer_norm_eps));
    kv_take(&k, "self_attention", emit_module(p, s, stack, i, SLOT_SELF, self));
    kv_take(&k, "after", emit_intermediate(p, s, stack, i));
    const char *tmpl;
    if (stack == 1) {
        kv_set(&k, "cross_desc", attention_desc(s, s->cross_attention_type, 0, desc, sizeof desc));
        kv_take(&k, "cross_attention", emit_module(p, s, stack, i, SLOT_CROSS, cross));
        tmpl = s->normalization == NORM_PRE ? "layer_decoder_pre.c" : "layer_decoder_post.c";
    } else {
        tmpl = s->normalization == NORM_PRE ? "layer_encoder_pre.c" : "layer_encoder_post.c";
    }
    fill(out, tmpl, &k);
}

/* ---- loading ---------------------------------------------------------------- */

#define DIMS2(a, b) (long long)(a), (long long)(b)

static void load_line(StrBuf *b, const char *dst, const char *tensor, int rank, long long d0, long long d1) {
    if (rank == 1)
        sb_printf(b, "    TENSOR(%s, \"%s\", 1, %lld);\n", dst, tensor, d0);
    else
        sb_printf(b, "    TENSOR(%s, \"%s\", 2, %lld, %lld);\n", dst, tensor, d0, d1);
}

/* A [rows, cols] weight (or its rows [row0, row0 + n)) stored transposed. */
static void load_weight(StrBuf *b, const char *dst, const char *tensor, long long rows, long long cols,
                        long long row0, long long n) {
    sb_printf(b, "    WEIGHT(%s, \"%s\", %lld, %lld, %lld, %lld);\n", dst, tensor, rows, cols, row0, n);
}

/* The tensors of one attention module under `wprefix` into `dst`. */
static void load_attention(StrBuf *b, const Model *m, const Stack *s, const char *dst,
                           const char *wprefix) {
    Dims d = stack_dims(s);
    long long HE = (long long)d.H * d.E, HDV = (long long)d.H * d.DV;
    char t[400], lhs[200];
    if (m->weights == WEIGHTS_TORCH) {
        /* packed in_proj: rows [0, D) queries, [D, 2D) keys, [2D, 3D) values */
        snprintf(t, sizeof t, "%s.in_proj_weight", wprefix);
        static const char *const fld[] = {"q", "k", "v"};
        for (int j = 0; j < 3; j++) {
            snprintf(lhs, sizeof lhs, "%s.%s_w", dst, fld[j]);
            load_weight(b, lhs, t, 2 * HE + HDV, d.D, j * HE, j < 2 ? HE : HDV);
        }
        snprintf(t, sizeof t, "%s.in_proj_bias", wprefix);
        snprintf(lhs, sizeof lhs, "%s.q_b", dst);
        load_line(b, lhs, t, 1, 2 * HE + HDV, 0);
        sb_printf(b, "    %s.k_b = %s.q_b + %lld;\n    %s.v_b = %s.q_b + %lld;\n", dst, dst, HE, dst,
                  dst, 2 * HE);
        snprintf(t, sizeof t, "%s.out_proj.weight", wprefix);
        snprintf(lhs, sizeof lhs, "%s.o_w", dst);
        load_weight(b, lhs, t, d.D, HDV, 0, d.D);
        snprintf(t, sizeof t, "%s.out_proj.bias", wprefix);
        snprintf(lhs, sizeof lhs, "%s.o_b", dst);
        load_line(b, lhs, t, 1, d.D, 0);
        return;
    }
    static const char *const proj[] = {"query", "key", "value", "out"};
    static const char *const fld[] = {"q", "k", "v", "o"};
    for (int j = 0; j < 4; j++) {
        long long rows = j < 2 ? HE : j == 2 ? HDV : d.D;
        long long cols = j < 3 ? d.D : HDV;
        snprintf(t, sizeof t, "%s.%s_projection.weight", wprefix, proj[j]);
        snprintf(lhs, sizeof lhs, "%s.%s_w", dst, fld[j]);
        load_weight(b, lhs, t, rows, cols, 0, rows);
        snprintf(t, sizeof t, "%s.%s_projection.bias", wprefix, proj[j]);
        snprintf(lhs, sizeof lhs, "%s.%s_b", dst, fld[j]);
        load_line(b, lhs, t, 1, rows, 0);
    }
}

static void load_norm(StrBuf *b, const char *dst, const char *tensor, int D) {
    char t[320], lhs[220];
    snprintf(t, sizeof t, "%s.weight", tensor);
    snprintf(lhs, sizeof lhs, "%s.g", dst);
    load_line(b, lhs, t, 1, D, 0);
    snprintf(t, sizeof t, "%s.bias", tensor);
    snprintf(lhs, sizeof lhs, "%s.b", dst);
    load_line(b, lhs, t, 1, D, 0);
}

static void emit_load_stack(StrBuf *b, const Model *m, int stack) {
    const Stack *s = get_stack(m, stack);
    Dims d = stack_dims(s);
    const char *wp = m->kind == MODEL_TRANSFORMER ? (stack == 0 ? "encoder." : "decoder.") : "";
    int torch = m->weights == WEIGHTS_TORCH;
    char dst[200], t[300];
    for (int i = 0; i < s->n_layers; i++) {
        sb_printf(b, "    /* %slayers.%d */\n", wp, i);
        snprintf(dst, sizeof dst, "m->%s[%d].self", stack_field(m, stack), i);
        snprintf(t, sizeof t, "%slayers.%d.%s", wp, i,
                 torch ? "self_attn" : stack == 0 ? "attention" : "self_attention");
        load_attention(b, m, s, dst, t);
        if (stack == 1) {
            snprintf(dst, sizeof dst, "m->%s[%d].cross", stack_field(m, stack), i);
            snprintf(t, sizeof t, "%slayers.%d.%s", wp, i, torch ? "multihead_attn" : "cross_attention");
            load_attention(b, m, s, dst, t);
        }
        snprintf(t, sizeof t, "%slayers.%d.linear1.weight", wp, i);
        snprintf(dst, sizeof dst, "m->%s[%d].ff.w1", stack_field(m, stack), i);
        load_weight(b, dst, t, d.F, d.D, 0, d.F);
        snprintf(t, sizeof t, "%slayers.%d.linear1.bias", wp, i);
        snprintf(dst, sizeof dst, "m->%s[%d].ff.b1", stack_field(m, stack), i);
        load_line(b, dst, t, 1, d.F, 0);
        snprintf(t, sizeof t, "%slayers.%d.linear2.weight", wp, i);
        snprintf(dst, sizeof dst, "m->%s[%d].ff.w2", stack_field(m, stack), i);
        load_weight(b, dst, t, d.D, d.F, 0, d.D);
        snprintf(t, sizeof t, "%slayers.%d.linear2.bias", wp, i);
        snprintf(dst, sizeof dst, "m->%s[%d].ff.b2", stack_field(m, stack), i);
        load_line(b, dst, t, 1, d.D, 0);
        for (int n = 1; n <= (stack == 1 ? 3 : 2); n++) {
            snprintf(t, sizeof t, "%slayers.%d.norm%d", wp, i, n);
            snprintf(dst, sizeof dst, "m->%s[%d].norm%d", stack_field(m, stack), i, n);
            load_norm(b, dst, t, d.D);
        }
    }
    if (s->final_normalization) {
        snprintf(t, sizeof t, "%snorm", wp);
        snprintf(dst, sizeof dst, "m->%s", norm_field(m, stack));
        sb_printf(b, "    /* %snorm: final LayerNorm */\n", wp);
        load_norm(b, dst, t, d.D);
    }
}

/* ---- the model ------------------------------------------------------------------ */

static const char *kind_name(ModelKind k) {
    static const char *const names[] = {"TransformerEncoder", "TransformerDecoder", "Transformer"};
    return names[k];
}

static char *summary(const Model *m) {
    StrBuf b;
    sb_init(&b);
    sb_printf(&b, "%s", kind_name(m->kind));
    for (int st = 0; st < 2; st++) {
        if (!has_stack(m, st))
            continue;
        const Stack *s = get_stack(m, st);
        sb_printf(&b, "%s%d layers, d_model %d = %d heads × %d (queries %d), ff %d, %s attention%s, %s, %s-norm%s",
                  m->kind == MODEL_TRANSFORMER ? (st == 0 ? "\n *   encoder: " : "\n *   decoder: ") : ": ",
                  s->n_layers, s->d_model, s->n_heads, s->value_dimensions, s->query_dimensions,
                  s->feed_forward_dimensions, attention_type_name(s->attention_type),
                  s->causal ? " (causal)" : "", s->activation == ACT_GELU ? "gelu" : "relu",
                  s->normalization == NORM_PRE ? "pre" : "post",
                  s->final_normalization ? ", final LayerNorm" : "");
    }
    sb_printf(&b, "\n *   weights: %s names", m->weights == WEIGHTS_TORCH ? "torch" : "fast_transformers");
    return sb_take(&b);
}

static char *points_summary(const Plan *p) {
    int kept = 0;
    for (int i = 0; i < p->n_points; i++)
        kept += p->points[i].kept;
    StrBuf b;
    sb_init(&b);
    if (!kept)
        sb_printf(&b, "none (of %d possible)", p->n_points);
    else
        sb_printf(&b, "%d of %d possible (`xfc check` lists them)", kept, p->n_points);
    if (p->profile == PROFILE_INSTRUMENT_ALL)
        sb_puts(&b, ", through the runtime dispatcher");
    return sb_take(&b);
}

static int any_attention_kept(const Plan *p) {
    for (int i = 0; i < p->n_points; i++)
        if (p->points[i].kept && p->points[i].kind == XF_ATTENTION_EVENT)
            return 1;
    return 0;
}

static int any_kept(const Plan *p) {
    for (int i = 0; i < p->n_points; i++)
        if (p->points[i].kept)
            return 1;
    return 0;
}

static char *model_fields(const Model *m) {
    StrBuf b;
    sb_init(&b);
    for (int st = 0; st < 2; st++) {
        if (!has_stack(m, st))
            continue;
        const Stack *s = get_stack(m, st);
        sb_printf(&b, "    xf_layer_weights %s[%d];%*s/* %slayers.i */\n", stack_field(m, st),
                  s->n_layers, 4, "", source_prefix(m, st));
        if (s->final_normalization)
            sb_printf(&b, "    xf_norm_weights %s;          /* %snorm [%d] */\n", norm_field(m, st),
                      source_prefix(m, st), s->d_model);
    }
    return sb_take(&b);
}

/* One stack's part of the forward: each layer on x, then its final norm. */
static void stack_calls(StrBuf *b, const Model *m, int stack, const char *call, const char *x,
                        const char *memory, const char *rows) {
    const Stack *s = get_stack(m, stack);
    for (int i = 0; i < s->n_layers; i++) {
        if (stack == 0)
            sb_printf(b, "    %s_%d(m, %s, %s, &w);\n", stack_field(m, stack), i, call, x);
        else
            sb_printf(b, "    %s_%d(m, %s, %s, %s, &w);\n", stack_field(m, stack), i, call, x, memory);
    }
    if (s->final_normalization) {
        char *eps = c_float(s->layer_norm_eps);
        sb_printf(b, "    xf_layernorm(%s, %s, m->%s.g, m->%s.b, %s, %d, %s);   /* %snorm */\n", x, x,
                  norm_field(m, stack), norm_field(m, stack), rows, s->d_model, eps, source_prefix(m, stack));
        free(eps);
    }
}

/* The figures collected during the call are drawn when it ends. */
static void figure_flushes(StrBuf *b, const Plan *p) {
    const Model *m = p->model;
    for (int li = 0; li < m->n_listeners; li++)
        if (m->listeners[li].handler.kind == HANDLER_FIGURE &&
            (p->profile == PROFILE_INSTRUMENT_ALL || (p->profile == PROFILE_DEBUG && listener_used(p, li))))
            sb_printf(b, "    xf_figure_flush(&listener_%d, c.call);   /* listener %d draws its figure */\n",
                      li, li);
}

/* The forward function of the model, by kind. */
static char *emit_forward(const Plan *p, const char *name, int D) {
    const Model *m = p->model;
    StrBuf b, body, enc;
    sb_init(&b);
    sb_init(&body);
    sb_init(&enc);
    KV f = {0};
    kv_set(&f, "name", name);
    kv_int(&f, "D", D);
    const char *tmpl;
    if (m->kind == MODEL_ENCODER) {
        stack_calls(&body, m, 0, "&c", "y", NULL, "batch * seq");
        tmpl = "forward_encoder.c";
    } else if (m->kind == MODEL_DECODER) {
        stack_calls(&body, m, 1, "&c", "y", "memory", "batch * seq");
        tmpl = "forward_decoder.c";
    } else {
        stack_calls(&enc, m, 0, "&ce", "w.mem", NULL, "batch * src_seq");
        stack_calls(&body, m, 1, "&c", "y", "w.mem", "batch * tgt_seq");
        kv_take(&f, "encoder_body", sb_take(&enc));
        tmpl = "forward_transformer.c";
    }
    figure_flushes(&body, p);
    kv_take(&f, "body", sb_take(&body));
    int tracked = p->profile == PROFILE_INSTRUMENT_ALL && m->n_listeners > 0;
    kv_set(&f, "enter", tracked ? "    const void *const outer = in_forward;   /* the spec's listeners act for this call */\n"
                                  "    in_forward = m;\n" : "");
    kv_set(&f, "leave", tracked ? "    in_forward = outer;\n" : "");
    fill(&b, tmpl, &f);
    sb_free(&body);
    sb_free(&enc);
    return sb_take(&b);
}

/* The holes of main.c that differ by model kind: the second sequence
 * (decoder: --memory; encoder-decoder: --source) and the forward call. */
static void main_kind_holes(KV *k, const Model *m, const char *name) {
    char call[400];
    if (m->kind == MODEL_ENCODER) {
        kv_set(k, "usage_extra", "");
        kv_set(k, "usage_extra_str", "");
        kv_set(k, "main_vars", "");
        kv_set(k, "main_flags", "");
        kv_set(k, "main_prepare", "");
        kv_set(k, "main_free_extra", "");
        snprintf(call, sizeof call, "%s_forward(m, x.data, batch, seq, lengths, y, &err)", name);
        kv_set(k, "forward_call", call);
        return;
    }
    int dec = m->kind == MODEL_DECODER;
    const char *flag = dec ? "--memory" : "--source", *lflag = dec ? "--memory-lengths" : "--source-lengths";
    char buf[1200];
    snprintf(buf, sizeof buf, "\n *       %s %s.npy [%s N,N,...]", flag, dec ? "M" : "SRC", lflag);
    kv_set(k, "usage_extra", buf);
    snprintf(buf, sizeof buf, "\\n          %s %s.npy [%s N,N,...]", flag, dec ? "M" : "SRC", lflag);
    kv_set(k, "usage_extra_str", buf);
    kv_set(k, "main_vars", "\n    const char *second_path = NULL, *second_lengths_s = NULL;");
    snprintf(buf, sizeof buf,
             "\n        else if (!strcmp(a, \"%s\")) second_path = v;"
             "\n        else if (!strcmp(a, \"%s\")) second_lengths_s = v;", flag, lflag);
    kv_set(k, "main_flags", buf);
    snprintf(buf, sizeof buf,
             "    if (!second_path)\n        die(\"%s is required\");\n"
             "    xf_array second = {0};\n"
             "    if (xf_npy_read(second_path, &second, &err))\n        die(\"%%s\", err.msg);\n"
             "    check_input(second_path, &second, %d, \"%s\");\n"
             "    if (second.shape[0] != batch)\n"
             "        die(\"%%s: batch %%lld differs from the input's %%d\", second_path, (long long)second.shape[0], batch);\n"
             "    int *second_lengths = second_lengths_s ? parse_lengths(\"%s\", second_lengths_s, batch) : NULL;\n",
             flag, get_stack(m, 0)->d_model > 0 && !dec ? get_stack(m, 0)->d_model : get_stack(m, 1)->d_model,
             dec ? "memory" : "source", lflag);
    kv_set(k, "main_prepare", buf);
    kv_set(k, "main_free_extra", "    free(second_lengths);\n    xf_array_free(&second);\n");
    if (dec)
        snprintf(call, sizeof call, "%s_forward(m, x.data, batch, seq, lengths, second.data, (int)second.shape[1], second_lengths, y, &err)", name);
    else
        snprintf(call, sizeof call, "%s_forward(m, second.data, batch, (int)second.shape[1], second_lengths, x.data, seq, lengths, y, &err)", name);
    kv_set(k, "forward_call", call);
}

static char *upper_guard(const char *name) {
    StrBuf b;
    sb_init(&b);
    sb_puts(&b, "XFC_");
    for (const char *s = name; *s; s++)
        sb_printf(&b, "%c", *s >= 'a' && *s <= 'z' ? *s - 32 : *s);
    sb_puts(&b, "_H");
    return sb_take(&b);
}

void emit_model(const Plan *p, const char *spec_name, const char *embed_path, Emitted *out) {
    const Model *m = p->model;
    const char *name = m->name;
    Dims mx = {0};
    for (int st = 0; st < 2; st++) {
        if (!has_stack(m, st))
            continue;
        Dims d = stack_dims(get_stack(m, st));
        mx.H = imax(mx.H, d.H), mx.E = imax(mx.E, d.E), mx.DV = imax(mx.DV, d.DV);
        mx.D = imax(mx.D, d.D), mx.F = imax(mx.F, d.F);
    }
    int out_stack = m->kind == MODEL_ENCODER ? 0 : 1;
    int D_out = get_stack(m, out_stack)->d_model;

    /* model.c */
    StrBuf c, layers, load;
    sb_init(&c);
    sb_init(&layers);
    sb_init(&load);
    for (int st = 0; st < 2; st++) {
        if (!has_stack(m, st))
            continue;
        for (int i = 0; i < get_stack(m, st)->n_layers; i++)
            emit_layer(&layers, p, st, i, name);
        emit_load_stack(&load, m, st);
    }
    int handlers = p->profile != PROFILE_RELEASE && any_kept(p);
    KV k = {0};
    kv_set(&k, "name", name);
    kv_set(&k, "version", XFC_VERSION);
    kv_set(&k, "spec_file", spec_name);
    kv_take(&k, "spec_text", spec_model_text(m));
    kv_take(&k, "summary", summary(m));
    kv_take(&k, "points_summary", points_summary(p));
    kv_set(&k, "includes", handlers ? "#include \"xf_handlers.h\"\n" : "");
    kv_take(&k, "model_fields", model_fields(m));
    kv_set(&k, "extra_fields", p->profile == PROFILE_INSTRUMENT_ALL
                                   ? "    xf_dispatcher *dispatcher;   /* where every point dispatches */\n"
                                   : "");
    kv_int(&k, "max_he", (long long)mx.H * mx.E);
    kv_int(&k, "max_hdv", (long long)mx.H * mx.DV);
    kv_int(&k, "max_d", mx.D);
    kv_int(&k, "max_f", mx.F);
    kv_int(&k, "max_h", mx.H);
    kv_int(&k, "max_e", mx.E);
    kv_int(&k, "max_dv", mx.DV);
    int max_local = 0, max_topk = 0;
    for (int st = 0; st < 2; st++)
        if (has_stack(m, st)) {
            max_local = imax(max_local, get_stack(m, st)->local_context);
            max_topk = imax(max_topk, get_stack(m, st)->topk);
        }
    kv_int(&k, "max_local", max_local);
    kv_int(&k, "max_topk", max_topk);
    kv_set(&k, "mem_floats", m->kind == MODEL_TRANSFORMER ? "N * S * {{max_d}}" : "0");
    int att = any_attention_kept(p);
    char buf[160];
    snprintf(buf, sizeof buf, "N * %d * T * T", mx.H);
    kv_set(&k, "attn_floats", att ? buf : "0");
    snprintf(buf, sizeof buf, "(double)N * %d * T * T", mx.H);
    kv_set(&k, "attn_need", att ? buf : "0");
    kv_take(&k, "listeners", emit_listeners(p, name));
    kv_take(&k, "load_body", sb_take(&load));
    kv_set(&k, "load_tail", p->profile == PROFILE_INSTRUMENT_ALL
                                ? "    m->dispatcher = xf_dispatcher_get(\"\");\n    register_listeners(m, m->dispatcher);\n"
                                : "");
    StrBuf api;
    sb_init(&api);
    if (p->profile == PROFILE_INSTRUMENT_ALL)
        sb_printf(&api, "\nvoid %s_set_dispatcher(%s *m, xf_dispatcher *d) {\n"
                        "    m->dispatcher = d;\n    register_listeners(m, d);\n}\n", name, name);
    kv_take(&k, "api_extra", sb_take(&api));
    sb_free(&api);
    kv_take(&k, "layers", sb_take(&layers));
    kv_take(&k, "forward", emit_forward(p, name, D_out));
    fill(&c, "model.c", &k);
    /* the mem_floats hole carries a nested hole; resolve it */
    StrBuf c2;
    sb_init(&c2);
    char maxd[16];
    snprintf(maxd, sizeof maxd, "%d", mx.D);
    const char *kv2[] = {"max_d", maxd, NULL};
    tmpl_fill(&c2, c.s, kv2);
    out->model_c = sb_take(&c2);
    sb_free(&c2);
    sb_free(&c);
    sb_free(&layers);
    sb_free(&load);

    /* model.h */
    StrBuf h, fdecl;
    sb_init(&h);
    sb_init(&fdecl);
    {
        KV f = {0};
        kv_set(&f, "name", name);
        kv_int(&f, "D", D_out);
        fill(&fdecl, m->kind == MODEL_ENCODER ? "model_h_forward_encoder"
                     : m->kind == MODEL_DECODER ? "model_h_forward_decoder" : "model_h_forward_transformer", &f);
    }
    KV hk = {0};
    kv_set(&hk, "name", name);
    kv_set(&hk, "version", XFC_VERSION);
    kv_set(&hk, "spec_file", spec_name);
    kv_set(&hk, "forward_shapes", m->kind == MODEL_ENCODER ? "(x, y: [batch, seq, d_model])"
                                  : "(see below for the memory / source arguments)");
    kv_take(&hk, "guard", upper_guard(name));
    snprintf(buf, sizeof buf, "    %s_D_MODEL = %d,   /* width of x and y */\n", name, D_out);
    kv_set(&hk, "dim_enum", buf);
    kv_set(&hk, "embedded_decl", "");
    kv_take(&hk, "forward_decl", sb_take(&fdecl));
    if (p->profile == PROFILE_INSTRUMENT_ALL) {
        StrBuf dd;
        sb_init(&dd);
        sb_printf(&dd, "\n/* Instrument-all build: every dispatch point goes to this dispatcher\n"
                       " * (default: xf_dispatcher_get(\"\")); the spec's listeners are registered there. */\n"
                       "void %s_set_dispatcher(%s *m, xf_dispatcher *d);\n", name, name);
        kv_take(&hk, "dispatcher_decl", sb_take(&dd));
        sb_free(&dd);
    } else {
        kv_set(&hk, "dispatcher_decl", "");
    }
    fill(&h, "model.h", &hk);
    out->model_h = sb_take(&h);
    sb_free(&h);
    sb_free(&fdecl);

    /* main.c */
    StrBuf mc;
    sb_init(&mc);
    KV mk = {0};
    kv_set(&mk, "name", name);
    kv_set(&mk, "version", XFC_VERSION);
    main_kind_holes(&mk, m, name);
    /* on where something is instrumented: a listener-free debug build is a release build */
    kv_int(&mk, "check_finite_default", handlers);
    /* a build without dispatch points must not pull the handlers in */
    kv_set(&mk, "handlers_include", handlers ? "#include \"xf_handlers.h\"\n" : "");
    kv_set(&mk, "set_events_dir", handlers ? "    xf_set_events_dir(events_dir);\n"
                                           : "    (void)events_dir;   /* no handlers in this build */\n");
    kv_int(&mk, "D_IN", D_out);
    kv_int(&mk, "D_OUT", D_out);
    if (embed_path) {
        StrBuf e;
        sb_init(&e);
        char *lit = c_string(embed_path);
        sb_printf(&e, "%s_load_memory(%s_embedded, (size_t)(%s_embedded_end - %s_embedded), %s, &err)",
                  name, name, name, name, lit);
        kv_set(&mk, "embedded", "1");
        kv_take(&mk, "load_embedded", sb_take(&e));
        sb_free(&e);
        free(lit);
    } else {
        kv_set(&mk, "embedded", "0");
        kv_set(&mk, "load_embedded", "NULL");
    }
    StrBuf emb;
    sb_init(&emb);
    if (embed_path) {
        /* .incbin keeps the bytes out of the C text (and the compiler's memory) */
        sb_printf(&emb, "\n/* The weights, embedded at build time from %s. */\n"
                       "__asm__(\".section .rodata\\n.balign 64\\n\"\n"
                       "        \".global %s_embedded\\n%s_embedded:\\n\"\n"
                       "        \".incbin \\\"%s\\\"\\n\"\n"
                       "        \".global %s_embedded_end\\n%s_embedded_end:\\n.previous\\n\");\n",
                  embed_path, name, name, embed_path, name, name);
        sb_printf(&emb, "extern const unsigned char %s_embedded[], %s_embedded_end[];\n", name, name);
    }
    kv_take(&mk, "embed", sb_take(&emb));
    sb_free(&emb);
    fill(&mc, "main.c", &mk);
    out->main_c = sb_take(&mc);
    sb_free(&mc);
}

void emit_free(Emitted *e) {
    free(e->model_c);
    free(e->model_h);
    free(e->main_c);
    memset(e, 0, sizeof *e);
}
