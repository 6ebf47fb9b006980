/* emit_listeners.c — handler configurations of the spec's listeners, their
 * registration in instrument-all builds, and the calls at a dispatch point. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_int.h"
#include "xfc_config.h"

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
    const HandlerInfo *hi = &handler_info[h->kind];
    if (h->kind == HANDLER_CALL) {
        sb_printf(b, "void %s(const xf_event *ev, void *user);   /* from --link */\n", h->symbol);
        return;
    }
    if (!hi->cfg)
        return;
    char *pat = c_string(h->pattern);
    sb_printf(b, "static %s listener_%d = {%s", hi->cfg, l->index, pat);
    if (hi->named & HARG_HEAD)
        sb_printf(b, ", %d, %d", h->head, h->sample);
    if (hi->named & HARG_COLS)
        sb_printf(b, ", %d, NULL", h->cols);
    sb_puts(b, "};");
    if (hi->named & HARG_COLS)
        sb_puts(b, "   /* pattern, head, sample, cols */");
    else if (hi->named & HARG_HEAD)
        sb_puts(b, "   /* pattern, head, sample */");
    sb_puts(b, "\n");
    free(pat);
}

/* The call of listener l's handler on the event `ev` names (`&ev` for a
 * local event, `ev` for a pointer): a statement without indentation. */
static char *handler_call(const Listener *l, const char *ev, const char *user) {
    StrBuf b;
    sb_init(&b);
    const Handler *h = &l->handler;
    const HandlerInfo *hi = &handler_info[h->kind];
    if (h->kind == HANDLER_CALL)
        sb_printf(&b, "%s(%s, %s);", h->symbol, ev, user);
    else if (hi->cfg)
        sb_printf(&b, "%s(%s, &listener_%d);", hi->fn, ev, l->index);
    else
        sb_printf(&b, "%s(%s, NULL);", hi->fn, ev);
    return sb_take(&b);
}

/* Is listener li fired at any kept point? */
int listener_used(const Plan *p, int li) {
    for (int i = 0; i < p->n_points; i++)
        if (p->points[i].kept)
            for (int f = 0; f < p->points[i].n_fires; f++)
                if (p->points[i].fires[f].listener == li)
                    return 1;
    return 0;
}

/* Instrument-all: the C expression of a payload predicate over `ev`. */
static void pred_expr(StrBuf *b, const Expr *e) {
    switch (e->kind) {
    case EX_NUM: sb_printf(b, "%lldLL", e->num); break;
    case EX_NAME: sb_printf(b, "(long long)ev->%s", e->name); break;   /* layer, step */
    case EX_DIM: sb_printf(b, "(long long)ev->%s->shape[%lld]", e->name, e->num); break;
    case EX_NEG: sb_puts(b, "-("); pred_expr(b, e->lhs); sb_puts(b, ")"); break;
    default:
        sb_puts(b, "(");
        pred_expr(b, e->lhs);
        sb_printf(b, " %s ", expr_op_text(e->kind));
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
        int k = name_lookup(f->name, event_class_names);
        sb_printf(expr, "xf_event_class(%s)", event_enum(k > 0 ? (xf_event_kind)k : XF_EVENT));
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
char *emit_listeners(const Plan *p, const char *name) {
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
        char *call = handler_call(l, "ev", "m->user");
        sb_printf(&b, "static void listener_%d_handler(const xf_event *ev, void *user) {\n"
                      "    const %s *m = in_forward;\n"
                      "    (void)user;\n"
                      "    if (!m)\n        return;   /* not dispatched from a forward of this model */\n"
                      "    %s\n}\n", li, name, call);
        free(call);
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
char *point_calls(const Plan *p, const Point *pt, int indent) {
    StrBuf b;
    sb_init(&b);
    if (p->profile == PROFILE_INSTRUMENT_ALL) {
        sb_printf(&b, "%*sxf_dispatch(m->dispatcher, &ev);\n", indent, "");
        return sb_take(&b);
    }
    for (int f = 0; f < pt->n_fires; f++) {
        const Listener *l = &p->model->listeners[pt->fires[f].listener];
        char *call = handler_call(l, "&ev", "m->user");
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
char *wants(const Point *pt) {
    char *src = c_string(pt->source), *s;
    StrBuf b;
    sb_init(&b);
    sb_printf(&b, "xf_dispatcher_wants(m->dispatcher, %s, %s)", event_enum(pt->kind), src);
    s = sb_take(&b);
    free(src);
    return s;
}

/* The "when" of a materialized attention matrix at a kept point, into `buf`
 * (w->A in a forward, the state's rows in a generation step). */
char *matrix_line(const Plan *p, const Point *pt, const char *buf) {
    StrBuf b;
    sb_init(&b);
    if (!pt) {
        sb_puts(&b, "        float *const A = NULL;   /* no AttentionEvent here: nothing L×S is kept */\n");
    } else if (p->profile == PROFILE_INSTRUMENT_ALL) {
        char *w = wants(pt);
        sb_printf(&b, "        float *const A = %s ? %s : NULL;\n", w, buf);
        free(w);
    } else {
        int guarded = 1;
        for (int f = 0; f < pt->n_fires; f++)
            guarded &= pt->fires[f].guard != NULL;
        if (!guarded) {
            sb_printf(&b, "        float *const A = %s;   /* AttentionEvent listened to: materialize */\n", buf);
        } else {
            sb_puts(&b, "        float *const A = (");
            for (int f = 0; f < pt->n_fires; f++)
                sb_printf(&b, "%s%s", f ? " || " : "", pt->fires[f].guard);
            sb_printf(&b, ") ? %s : NULL;   /* materialized only when a guard holds */\n", buf);
        }
    }
    return sb_take(&b);
}
