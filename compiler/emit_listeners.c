/* emit_listeners.c — handler configurations of the spec's listeners, their
 * registration in instrument-all builds, and the calls at a dispatch point. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"
#include "emit_int.h"
#include "xfc_config.h"

/* ---- listeners (handler configurations) --------------------------------------- */

#define PART(name) "parts_listeners.c/" name

/* A one-hole piece: `name` with {{key}} = val. */
static char *part1(const char *name, const char *key, const char *val) {
    KV k = {0};
    emit_kv_set(&k, key, val);
    return emit_part(name, &k);
}

/* A two-operand piece: {{a}} and {{b}}, both taken. */
static char *part2(const char *name, char *a, char *b) {
    KV k = {0};
    emit_kv_take(&k, "a", a);
    if (b)
        emit_kv_take(&k, "b", b);
    return emit_part(name, &k);
}

/* The listener's own line(s) of the spec, for its comment. */
static void listener_comment(StrBuf *b, const Model *m, const Listener *l) {
    const Src *src = m->src;
    size_t start = emit_offset_of(src, l->loc), end = start;
    while (end < src->len && src->text[end] != '\n')
        end++;
    StrBuf text;
    sb_init(&text);
    emit_comment_text(&text, src->text + start, end - start);
    KV k = {0};
    emit_kv_int(&k, "li", l->index);
    emit_kv_int(&k, "line", l->loc.line);
    emit_kv_take(&k, "text", sb_take(&text));
    sb_free(&text);
    emit_fill(b, PART("comment"), &k);
}

/* The handler configuration object `listener_N`, if its handler takes one. */
static void emit_handler_cfg(StrBuf *b, const Listener *l) {
    const Handler *h = &l->handler;
    const HandlerInfo *hi = &handler_info[h->kind];
    KV k = {0};
    if (h->kind == HANDLER_CALL) {
        emit_kv_set(&k, "symbol", h->symbol);
        emit_fill(b, PART("link_decl"), &k);
        return;
    }
    if (!hi->cfg)
        return;
    emit_kv_set(&k, "type", hi->cfg);
    emit_kv_int(&k, "li", l->index);
    emit_kv_take(&k, "pattern", emit_c_string(h->pattern));
    emit_kv_int(&k, "head", h->head);
    emit_kv_int(&k, "sample", h->sample);
    emit_kv_int(&k, "cols", h->cols);
    emit_fill(b,
              hi->named & HARG_COLS   ? PART("cfg_cols")
              : hi->named & HARG_HEAD ? PART("cfg_head")
                                      : PART("cfg"),
              &k);
}

/* The call of listener l's handler on the event: the local `ev` at a
 * dispatch point, or (`ptr`) the pointer an instrument-all handler gets. */
static char *handler_call(const Listener *l, int ptr) {
    const Handler *h = &l->handler;
    const HandlerInfo *hi = &handler_info[h->kind];
    KV k = {0};
    emit_kv_take(&k, "ev", emit_part(ptr ? PART("event_ptr") : PART("local_event"), NULL));
    emit_kv_take(&k, "user", emit_part(PART("user"), NULL));
    emit_kv_set(&k, "symbol", h->kind == HANDLER_CALL ? h->symbol : "");
    emit_kv_set(&k, "fn", hi->fn ? hi->fn : "");
    emit_kv_int(&k, "li", l->index);
    return emit_part(h->kind == HANDLER_CALL ? PART("call_symbol")
                     : hi->cfg               ? PART("call_cfg")
                                             : PART("call_plain"),
                     &k);
}

/* Is listener li fired at any kept point? */
int emit_listener_used(const Plan *p, int li) {
    for (int i = 0; i < p->n_points; i++)
        if (p->points[i].kept)
            for (int f = 0; f < p->points[i].n_fires; f++)
                if (p->points[i].fires[f].listener == li)
                    return 1;
    return 0;
}

/* Instrument-all: the C expression of a payload predicate over `ev`. */
static char *pred_expr(const Expr *e) {
    KV k = {0};
    switch (e->kind) {
        case EX_NUM: emit_kv_int(&k, "n", e->num); return emit_part(PART("num"), &k);
        case EX_NAME: return part1(PART("name"), "name", e->name); /* layer, step */
        case EX_DIM:
            emit_kv_set(&k, "name", e->name);
            emit_kv_int(&k, "i", e->num);
            return emit_part(PART("dim"), &k);
        case EX_NEG: return part2(PART("neg"), pred_expr(e->lhs), NULL);
        default:
            emit_kv_take(&k, "a", pred_expr(e->lhs));
            emit_kv_set(&k, "op", expr_op_text(e->kind));
            emit_kv_take(&k, "b", pred_expr(e->rhs));
            return emit_part(PART("binary"), &k);
    }
}

/* The checks that the event has each tensor field the predicate reads. */
static void pred_fields(StrBuf *b, const Expr *e) {
    if (!e)
        return;
    if (e->kind == EX_DIM && !strstr(b->s, e->name)) {
        KV k = {0};
        emit_kv_set(&k, "field", e->name);
        emit_fill(b, PART("pred_field"), &k);
    }
    pred_fields(b, e->lhs);
    pred_fields(b, e->rhs);
}

/* Instrument-all: predicate functions of filter f (into defs), and its constructor. */
static char *filter_ctor(StrBuf *defs, const Filter *f, int li, int *npred) {
    switch (f->kind) {
        case FL_CLASS: {
            int k = name_lookup(f->name, event_class_names);
            return part1(PART("event_class"), "kind",
                         emit_event_enum(k > 0 ? (xf_event_kind)k : XF_EVENT));
        }
        case FL_FROM_LAYER:
        case FL_WITHIN:
        case FL_NAME_CONTAINS: {
            KV k = {0};
            emit_kv_take(&k, "s", emit_c_string(f->name));
            return emit_part(f->kind == FL_FROM_LAYER ? PART("from_layer")
                             : f->kind == FL_WITHIN   ? PART("within")
                                                      : PART("name_contains"),
                             &k);
        }
        case FL_PRED: {
            KV k = {0}, c = {0};
            StrBuf checks;
            sb_init(&checks);
            pred_fields(&checks, f->expr);
            emit_kv_int(&k, "li", li);
            emit_kv_int(&k, "k", *npred);
            emit_kv_take(&k, "checks", sb_take(&checks));
            emit_kv_take(&k, "expr", pred_expr(f->expr));
            emit_fill(defs, PART("pred_fn"), &k);
            sb_free(&checks);
            emit_kv_int(&c, "li", li);
            emit_kv_int(&c, "k", (*npred)++);
            return emit_part(PART("predicate"), &c);
        }
        case FL_NOT: return part2(PART("not"), filter_ctor(defs, f->lhs, li, npred), NULL);
        case FL_AND:
        case FL_OR: {
            char *a = filter_ctor(defs, f->lhs, li, npred);
            return part2(f->kind == FL_AND ? PART("and") : PART("or"), a,
                         filter_ctor(defs, f->rhs, li, npred));
        }
    }
    return NULL;
}

/* Instrument-all: listener li's handler (acting inside this model's forward)
 * and its filter. */
static void listener_hooks(StrBuf *b, const Listener *l, const char *name) {
    KV h = {0}, f = {0};
    emit_kv_int(&h, "li", l->index);
    emit_kv_set(&h, "name", name);
    emit_kv_take(&h, "call", handler_call(l, 1));
    emit_fill(b, PART("handler"), &h);
    int npred = 0;
    emit_kv_int(&f, "li", l->index);
    char *expr = filter_ctor(b, l->filter, l->index, &npred);
    emit_kv_take(&f, "expr", expr);
    emit_fill(b, PART("filter"), &f);
}

/* Instrument-all: the registration of every listener at load. */
static void register_fn(StrBuf *b, const Model *m, const char *name) {
    KV k = {0};
    emit_kv_set(&k, "name", name);
    emit_fill(b, PART("register_begin"), &k);
    for (int li = 0; li < m->n_listeners; li++) {
        KV r = {0};
        emit_kv_int(&r, "li", li);
        emit_fill(b, PART("register"), &r);
    }
    emit_fill(b, PART("register_end"), NULL);
}

/* The listeners section of model.c: handler configurations (debug), or
 * handlers + filters + their registration (instrument-all). */
char *emit_listeners(const Plan *p, const char *name) {
    const Model *m = p->model;
    int all = p->profile == PROFILE_INSTRUMENT_ALL, any = 0;
    StrBuf b;
    sb_init(&b);
    if (p->profile == PROFILE_RELEASE)
        return sb_take(&b);
    for (int li = 0; li < m->n_listeners; li++) {
        const Listener *l = &m->listeners[li];
        if (p->profile == PROFILE_DEBUG && !emit_listener_used(p, li))
            continue;
        if (!any++)
            emit_fill(&b, PART("section"), NULL);
        if (any == 1 && all) {
            KV k = {0};
            emit_kv_set(&k, "name", name);
            emit_fill(&b, PART("in_forward"), &k);
        }
        listener_comment(&b, m, l);
        emit_handler_cfg(&b, l);
        if (all)
            listener_hooks(&b, l, name);
    }
    if (all)
        register_fn(&b, m, name);
    return sb_take(&b);
}

/* ---- dispatch blocks ---------------------------------------------------------- */

/* The handler calls at a kept point, each under its guard (debug), or the
 * dispatch (instrument-all); `indent` spaces before each statement. */
char *emit_point_calls(const Plan *p, const Point *pt, int indent) {
    StrBuf b;
    sb_init(&b);
    char pad[32];
    snprintf(pad, sizeof pad, "%*s", indent, "");
    if (p->profile == PROFILE_INSTRUMENT_ALL) {
        KV k = {0};
        emit_kv_set(&k, "indent", pad);
        emit_fill(&b, PART("dispatch"), &k);
        return sb_take(&b);
    }
    for (int f = 0; f < pt->n_fires; f++) {
        const Listener *l = &p->model->listeners[pt->fires[f].listener];
        char *guard = pt->fires[f].guard ? plan_guard_c(pt->fires[f].guard) : NULL;
        KV k = {0};
        emit_kv_set(&k, "indent", pad);
        emit_kv_take(&k, "call", handler_call(l, 0));
        emit_kv_int(&k, "li", l->index);
        emit_kv_int(&k, "line", l->loc.line);
        emit_kv_set(&k, "handler", emit_handler_name(l->handler.kind));
        if (guard)
            emit_kv_take(&k, "guard",
                         guard[0] == '(' ? xstrdup(guard) : part1(PART("paren"), "a", guard));
        emit_fill(&b, guard ? PART("fire_guarded") : PART("fire"), &k);
        free(guard);
    }
    return sb_take(&b);
}

/* `xf_dispatcher_wants(…)`: may a listener of the dispatcher want this point? */
char *emit_wants(const Point *pt) {
    KV k = {0};
    emit_kv_set(&k, "kind", emit_event_enum(pt->kind));
    emit_kv_take(&k, "source", emit_c_string(pt->source));
    return emit_part(PART("wants"), &k);
}

/* The "when" of a materialized attention matrix at a kept point, into `buf`
 * (w->A in a forward, the state's rows in a generation step). */
char *emit_matrix_line(const Plan *p, const Point *pt, const char *buf) {
    KV k = {0};
    emit_kv_set(&k, "buf", buf);
    if (!pt)
        return emit_part(PART("no_matrix"), &k);
    if (p->profile == PROFILE_INSTRUMENT_ALL) {
        emit_kv_take(&k, "wants", emit_wants(pt));
        return emit_part(PART("matrix_wanted"), &k);
    }
    int guarded = 1;
    for (int f = 0; f < pt->n_fires; f++)
        guarded &= pt->fires[f].guard != NULL;
    if (!guarded)
        return emit_part(PART("matrix"), &k);
    char *guards = NULL;
    for (int f = 0; f < pt->n_fires; f++) {
        char *g = plan_guard_c(pt->fires[f].guard);
        guards = guards ? part2(PART("or_guard"), guards, g) : g;
    }
    emit_kv_take(&k, "guards", guards);
    return emit_part(PART("matrix_guarded"), &k);
}
