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
#include "emit_int.h"
#include "xfc_config.h"

/* ---- the model ------------------------------------------------------------------ */

static const char *kind_name(ModelKind k) {
    return model_kind_names[k];
}

static char *summary(const Model *m) {
    StrBuf b;
    sb_init(&b);
    sb_printf(&b, "%s", kind_name(m->kind));
    for (int st = 0; st < 2; st++) {
        if (!emit_has_stack(m, st))
            continue;
        const Stack *s = emit_stack(m, st);
        sb_printf(&b,
                  "%s%d layers, d_model %d = %d heads × %d (queries %d), ff %d, %s attention%s, "
                  "%s, %s-norm%s",
                  m->kind == MODEL_TRANSFORMER ? (st == 0 ? "\n *   encoder: " : "\n *   decoder: ")
                                               : ": ",
                  s->n_layers, s->d_model, s->n_heads, s->value_dimensions, s->query_dimensions,
                  s->feed_forward_dimensions, attention_type_name(s->attention_type),
                  s->causal ? " (causal)" : "", s->activation == ACT_GELU ? "gelu" : "relu",
                  s->normalization == NORM_PRE ? "pre" : "post",
                  s->final_normalization ? ", final LayerNorm" : "");
    }
    sb_printf(&b, "\n *   weights: %s names",
              m->weights == WEIGHTS_TORCH ? "torch" : "fast_transformers");
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

static int any_kept_of(const Plan *p, xf_event_kind kind) {
    for (int i = 0; i < p->n_points; i++)
        if (p->points[i].kept && p->points[i].kind == kind)
            return 1;
    return 0;
}

static int any_attention_kept(const Plan *p) {
    return any_kept_of(p, XF_ATTENTION_EVENT);
}

static int any_kept(const Plan *p) {
    for (int i = 0; i < p->n_points; i++)
        if (p->points[i].kept)
            return 1;
    return 0;
}

#define PART(name) "parts_model.c/" name

static char *model_fields(const Model *m) {
    StrBuf b;
    sb_init(&b);
    for (int st = 0; st < 2; st++) {
        if (!emit_has_stack(m, st))
            continue;
        const Stack *s = emit_stack(m, st);
        KV k = {0}, n = {0};
        emit_kv_set(&k, "field", emit_stack_field(m, st));
        emit_kv_int(&k, "n", s->n_layers);
        emit_kv_set(&k, "prefix", emit_source_prefix(m, st));
        emit_fill(&b, PART("stack_field"), &k);
        if (!s->final_normalization)
            continue;
        emit_kv_set(&n, "field", emit_norm_field(m, st));
        emit_kv_set(&n, "prefix", emit_source_prefix(m, st));
        emit_kv_int(&n, "D", s->d_model);
        emit_fill(&b, PART("norm_field"), &n);
    }
    return sb_take(&b);
}

/* A stack's final LayerNorm over `x` (`rows` rows), if it has one. */
void emit_final_norm(StrBuf *b, const Model *m, int stack, const char *x, const char *rows) {
    const Stack *s = emit_stack(m, stack);
    if (!s->final_normalization)
        return;
    KV k = {0};
    emit_kv_set(&k, "x", x);
    emit_kv_set(&k, "norm", emit_norm_field(m, stack));
    emit_kv_set(&k, "rows", rows);
    emit_kv_int(&k, "D", s->d_model);
    emit_kv_take(&k, "eps", emit_c_float(s->layer_norm_eps));
    emit_kv_set(&k, "prefix", emit_source_prefix(m, stack));
    emit_fill(b, PART("final_norm"), &k);
}

/* One stack's part of the forward: its layers on x, then its final norm (the
 * arguments name parts_model.c pieces). */
static void stack_calls(StrBuf *b, const Plan *p, int stack, const char *call, const char *x,
                        const char *memory, const char *rows) {
    char *c = emit_part(call, NULL), *xs = emit_part(x, NULL), *r = emit_part(rows, NULL);
    char *mem = memory ? emit_part(memory, NULL) : NULL;
    emit_layer_calls(b, p, stack, 0, c, xs, mem);
    emit_final_norm(b, p->model, stack, xs, r);
    free(c), free(xs), free(r), free(mem);
}

/* Is listener li's handler of this kind, and in this build? */
static int listener_built(const Plan *p, int li, HandlerKind kind) {
    return p->model->listeners[li].handler.kind == kind &&
           (p->profile == PROFILE_INSTRUMENT_ALL ||
            (p->profile == PROFILE_DEBUG && emit_listener_used(p, li)));
}

/* The figures collected during the call (`call`: its number) are drawn when it
 * ends; with `heatmaps`, a generation's heatmaps, assembled from its steps, too.
 * `call` names the piece that holds the call's number. */
static void flushes(StrBuf *b, const Plan *p, const char *call, int heatmaps) {
    for (int pass = 0; pass < 1 + heatmaps; pass++)
        for (int li = 0; li < p->model->n_listeners; li++)
            if (listener_built(p, li, pass ? HANDLER_HEATMAP : HANDLER_FIGURE)) {
                KV k = {0};
                emit_kv_int(&k, "li", li);
                emit_kv_take(&k, "call", emit_part(call, NULL));
                emit_fill(b, pass ? PART("heatmap_flush") : PART("figure_flush"), &k);
            }
}

/* "full, local, exact_topk or reformer": the attention types that take a mask. */
static char *mask_takers(void) {
    StrBuf b;
    sb_init(&b);
    const char *names[16];
    int n = 0;
    for (int t = 0; attention_type_names[t] && n < 15; t++)
        if (attention_takes_mask((AttentionType)t) && t != ATT_CONDITIONAL_FULL)
            names[n++] = attention_type_names[t];
    names[n] = NULL;
    sb_puts(&b, name_list_text(names));
    return sb_take(&b);
}

/* " && (Lq > limit || Lk > limit)": the calls on which a conditional_full
 * runs its fallback, or nothing (`cond` = 0). */
static char *fallback_guard(int cond, const Stack *s, const char *Lq, const char *Lk) {
    KV g = {0};
    emit_kv_set(&g, "Lq", Lq);
    emit_kv_set(&g, "Lk", Lk);
    emit_kv_int(&g, "limit", s->length_limit);
    return emit_part_if(cond, strcmp(Lq, Lk) ? PART("fallback_guard") : PART("fallback_guard_self"),
                        &g);
}

/* A mask given to attention of type t in stack s (`what`: "mask", "memory
 * mask"; `Lq`, `Lk`: the call's lengths): the statement refusing it, or
 * nothing where the type takes one.  A conditional_full whose fallback takes
 * none refuses it only for calls longer than its length_limit. */
static void mask_refusal(StrBuf *b, const Stack *s, AttentionType t, const char *var,
                         const char *what, const char *attention, const char *Lq, const char *Lk) {
    int cond = t == ATT_CONDITIONAL_FULL;
    if (attention_takes_mask(t) && !(cond && !attention_takes_mask(s->fallback)))
        return;
    KV k = {0};
    emit_kv_set(&k, "var", var);
    emit_kv_set(&k, "what", what);
    emit_kv_set(&k, "attention", attention);
    emit_kv_take(&k, "takers", mask_takers());
    emit_kv_take(&k, "guard", fallback_guard(cond, s, Lq, Lk));
    if (cond) { /* "conditional_full (… past length N: fallback)" */
        KV g = {0};
        emit_kv_int(&g, "limit", s->length_limit);
        emit_kv_set(&g, "fallback", attention_type_name(s->fallback));
        emit_kv_take(&k, "type", emit_part(PART("mask_conditional"), &g));
    } else {
        emit_kv_take(&k, "type", emit_c_string(attention_type_name(t)));
    }
    emit_fill(b, PART("mask_refusal"), &k);
}

/* aft_full's u and v have max_sequence_length rows: a longer call is refused
 * up front (for a conditional_full falling back to aft_full, one past its
 * length_limit too).  `self` / `mem` name the call's lengths for each stack. */
static void aft_length_check(StrBuf *b, const Stack *s, int has_cross, const char *self,
                             const char *mem) {
    const char *done[2] = {NULL, NULL}; /* lengths already checked unconditionally */
    for (int cross = 0; cross <= has_cross; cross++) {
        AttentionType t = cross ? s->cross_attention_type : s->attention_type;
        if (!attention_runs(s, t, ATT_AFT_FULL))
            continue;
        const char *vars[2] = {self, cross ? mem : self};
        for (int i = 0; i < 2; i++) {
            int cond = t == ATT_CONDITIONAL_FULL;
            if ((i == 1 && vars[1] == vars[0]) || (vars[i] == done[0] || vars[i] == done[1]))
                continue;
            if (!cond)
                done[i] = vars[i];
            KV k = {0};
            emit_kv_set(&k, "var", vars[i]);
            emit_kv_int(&k, "max", s->max_sequence_length);
            emit_kv_take(&k, "guard", fallback_guard(cond, s, vars[0], vars[1]));
            emit_fill(b, PART("aft_length_check"), &k);
        }
    }
}

/* Reformer splits the sorted sequence into chunks of chunk_size: a call
 * whose length is not a multiple is refused up front (fast-transformers'
 * view fails), for a conditional_full falling back to it past its limit. */
static void chunk_check(StrBuf *b, const Stack *s, const char *self) {
    if (!attention_runs(s, s->attention_type, ATT_REFORMER))
        return;
    KV k = {0};
    emit_kv_set(&k, "var", self);
    emit_kv_int(&k, "C", s->chunk_size);
    emit_kv_take(&k, "guard",
                 fallback_guard(s->attention_type == ATT_CONDITIONAL_FULL, s, self, self));
    emit_fill(b, PART("chunk_check"), &k);
}

/* Clustered self or cross attention groups the stack's queries: a call with
 * fewer than `clusters` of them is refused (xf_check_clusters says why). */
static void cluster_check(StrBuf *b, const Stack *s, int has_cross, const char *self,
                          const char *lengths, const char *lengths_what) {
    if (!emit_is_clustered(s->attention_type) &&
        !(has_cross && emit_is_clustered(s->cross_attention_type)))
        return;
    KV k = {0};
    emit_kv_set(&k, "var", self);
    emit_kv_set(&k, "lengths", lengths);
    emit_kv_set(&k, "lengths_what", lengths_what);
    emit_kv_int(&k, "C", s->clusters);
    emit_kv_int(&k, "iterations", s->iterations);
    emit_fill(b, PART("cluster_check"), &k);
}

/* A stack's call checks, in the forward's order: aft_full's length, reformer's
 * chunks, clustered attention's queries. */
static void stack_length_checks(StrBuf *b, const Stack *s, int has_cross, const char *self,
                                const char *mem, const char *lengths, const char *lengths_what) {
    aft_length_check(b, s, has_cross, self, mem);
    chunk_check(b, s, self);
    cluster_check(b, s, has_cross, self, lengths, lengths_what);
}

static char *length_checks(const Model *m) {
    StrBuf b;
    sb_init(&b);
    if (m->kind == MODEL_ENCODER) {
        stack_length_checks(&b, &m->enc, 0, "seq", NULL, "lengths", "lengths");
    } else if (m->kind == MODEL_DECODER) {
        stack_length_checks(&b, &m->dec, 1, "seq", "mem_seq", "lengths", "lengths");
    } else {
        stack_length_checks(&b, &m->enc, 0, "src_seq", NULL, "src_lengths", "source lengths");
        stack_length_checks(&b, &m->dec, 1, "tgt_seq", "src_seq", "tgt_lengths", "target lengths");
    }
    return sb_take(&b);
}

char *emit_encoder_length_checks(const Model *m) {
    StrBuf b;
    sb_init(&b);
    stack_length_checks(&b, &m->enc, 0, "src_seq", NULL, "src_lengths", "source lengths");
    return sb_take(&b);
}

/* NAME_forward_masked of an encoder or decoder taking float features. */
static char *masked_api(const Model *m, const char *name) {
    if (emit_is_token_model(m) || m->kind == MODEL_TRANSFORMER)
        return emit_nothing();
    const Stack *s = emit_stack(m, m->kind == MODEL_ENCODER ? 0 : 1);
    int dec = m->kind == MODEL_DECODER;
    StrBuf r;
    sb_init(&r);
    mask_refusal(&r, s, s->attention_type, "mask", "mask", "self-attention", "seq", "seq");
    if (dec)
        mask_refusal(&r, s, s->cross_attention_type, "memory_mask", "memory mask",
                     "cross-attention", "seq", "mem_seq");
    KV k = {0};
    emit_kv_set(&k, "name", name);
    emit_kv_take(&k, "refusals", sb_take(&r));
    sb_free(&r);
    return emit_part(dec ? PART("masked_api_decoder") : PART("masked_api_encoder"), &k);
}

/* The forward function of the model, by kind. */
static char *emit_forward(const Plan *p, const char *name, int D) {
    const Model *m = p->model;
    StrBuf body, enc;
    sb_init(&body);
    sb_init(&enc);
    KV f = {0}, n = {0};
    emit_kv_set(&f, "name", name);
    emit_kv_int(&f, "D", D);
    emit_kv_int(&f, "DM", m->kind == MODEL_DECODER ? m->dec.memory_dimensions : D);
    const char *tmpl;
    if (m->kind == MODEL_ENCODER) {
        stack_calls(&body, p, 0, PART("c"), PART("y"), NULL, PART("rows"));
        tmpl = "forward_encoder.c";
    } else if (m->kind == MODEL_DECODER) {
        stack_calls(&body, p, 1, PART("c"), PART("y"), PART("memory"), PART("rows"));
        tmpl = "forward_decoder.c";
    } else {
        stack_calls(&enc, p, 0, PART("ce"), PART("w_mem"), NULL, PART("src_rows"));
        stack_calls(&body, p, 1, PART("c"), PART("y"), PART("w_mem"), PART("tgt_rows"));
        emit_kv_take(&f, "encoder_body", sb_take(&enc));
        tmpl = "forward_transformer.c";
    }
    flushes(&body, p, PART("forward_call_no"), 0);
    emit_kv_take(&f, "body", sb_take(&body));
    emit_kv_take(&f, "masked_api", masked_api(m, name));
    emit_kv_take(&f, "length_checks", length_checks(m));
    int tokens = emit_is_token_model(m);
    emit_kv_set(&n, "name", name); /* a token model's NAME_forward takes ids */
    emit_kv_take(&f, "forward_fn",
                 emit_part(tokens ? PART("hidden_forward_fn") : PART("forward_fn"), &n));
    int tracked = p->profile == PROFILE_INSTRUMENT_ALL && m->n_listeners > 0;
    char *enter = emit_part_if(tracked, PART("enter"), NULL),
         *leave = emit_part_if(tracked, PART("leave"), NULL);
    emit_kv_set(&f, "enter", enter);
    emit_kv_set(&f, "leave", leave);
    StrBuf b;
    sb_init(&b);
    emit_fill(&b, tmpl, &f);
    if (tokens) {
        char *fwd = emit_forward_tokens(m, name);
        sb_puts(&b, fwd);
        free(fwd);
        StrBuf fl;
        sb_init(&fl);
        flushes(&fl, p, PART("state_call_no"), 1);
        char *gen = emit_generate(p, name, enter, leave, fl.s);
        sb_puts(&b, gen);
        free(gen);
        sb_free(&fl);
    }
    free(enter), free(leave);
    sb_free(&body);
    sb_free(&enc);
    return sb_take(&b);
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

/* Does this build call handlers (a kept point outside release)? */
int emit_has_handlers(const Plan *p) {
    return p->profile != PROFILE_RELEASE && any_kept(p);
}

/* The largest dims over the model's stacks: the workspace serves every layer. */
static Dims max_dims(const Model *m, int *max_local, int *max_topk, int *max_phi,
                     int *max_clusters) {
    Dims mx = {0};
    *max_local = *max_topk = *max_phi = *max_clusters = 0;
    for (int st = 0; st < 2; st++) {
        if (!emit_has_stack(m, st))
            continue;
        const Stack *s = emit_stack(m, st);
        for (int cross = 0; cross <= (st == 1); cross++) {
            Dims d = emit_attention_dims(s, cross);
            mx.H = emit_imax(mx.H, d.H), mx.E = emit_imax(mx.E, d.E),
            mx.DV = emit_imax(mx.DV, d.DV);
            mx.D = emit_imax(mx.D, d.D), mx.F = emit_imax(mx.F, d.F);
            /* linear attention's scratch E: φ's width */
            *max_phi = emit_imax(*max_phi, emit_feature_map_params(s, d.E).width);
        }
        mx.D = emit_imax(mx.D, s->memory_dimensions); /* the memory buffer's rows */
        if (emit_is_clustered(s->attention_type) ||
            (st == 1 && emit_is_clustered(s->cross_attention_type)))
            *max_clusters = emit_imax(*max_clusters, s->clusters);
        *max_local = emit_imax(*max_local, s->local_context);
        *max_topk = emit_imax(*max_topk, s->topk);
    }
    return mx;
}

/* `tmpl` filled from k, which stays bound for the next part. */
static char *keep_part(const char *tmpl, KV *k) {
    StrBuf b;
    sb_init(&b);
    emit_fill_keep(&b, tmpl, k);
    return sb_take(&b);
}

/* Whether every stack is post-norm: its layers then write t (the sublayer
 * output) only after attention has read q, and the two share one buffer —
 * at batch 1 × seq 4096 one [L, d_model] activation (4 MiB) less.  Pre-norm
 * layers project q from t (the normalized input), so there both stay.
 * Post-norm layers also use the feed-forward's hidden chunk h only after the
 * output projection has read the attention output att, so h lives in att's
 * buffer (2 MiB less at seq 4096); pre-norm ones write the feed-forward's
 * output into att while h holds its hidden chunk. */
static int t_shares_q(const Model *m) {
    for (int st = 0; st < 2; st++)
        if (emit_has_stack(m, st) && emit_stack(m, st)->normalization != NORM_POST)
            return 0;
    return 1;
}

/* t's buffer (its own, or q's: t_shares_q) and att's and h's. */
static void t_buffer_holes(KV *k, const Model *m, Dims mx) {
    int share = t_shares_q(m);
    KV tk = {0};
    emit_kv_int(&tk, "D", mx.D);
    emit_kv_take(k, "t_carve", emit_part(share ? PART("t_alias") : PART("t_carve"), &tk));
    KV fk = {0}, hk = {0};
    emit_kv_int(&fk, "F", mx.F);
    emit_kv_int(&hk, "HDV", (long long)mx.H * mx.DV);
    emit_kv_take(&hk, "FF", emit_part(PART("ff_floats"), &fk));
    emit_kv_take(k, "att_h_carve",
                 emit_part(share ? PART("att_h_alias") : PART("att_h_carve"), &hk));
}

/* The buffers of a model whose layers run in blocks of rows (emit_row_blocked:
 * an encoder, one stack): the key and value planes for every row, the rest
 * for one block of B rows.  Post-norm, t shares q and h shares att, as in
 * the whole layout; h also holds a block's keys|values product before
 * xf_linear_kv spreads it into the planes. */
static void rows_buffer_holes(KV *k, const Model *m, Dims mx) {
    int share = t_shares_q(m);
    long long HE = (long long)mx.H * mx.E, HDV = (long long)mx.H * mx.DV;
    long long qw = share && mx.D > HE ? mx.D : HE;
    KV br = {0}, a = {0}, t = {0}, w = {0}, l = {0};
    emit_kv_int(&br, "F", mx.F);
    emit_kv_int(&br, "KV", HE + HDV);
    emit_kv_take(k, "block_rows", emit_part(PART("block_rows"), &br));
    emit_kv_int(&a, "HDV", HDV);
    emit_kv_int(&a, "AD", share || HDV >= mx.D ? HDV : mx.D); /* pre-norm: ff's output too */
    emit_kv_take(k, "att_h_carve",
                 emit_part(share ? PART("rows_att_h_alias") : PART("rows_att_h_carve"), &a));
    emit_kv_int(&t, "D", mx.D);
    emit_kv_take(k, "t_carve", emit_part(share ? PART("t_alias") : PART("rows_t_carve"), &t));
    emit_kv_int(&w, "q_width", qw);
    emit_kv_set(&w, "t_note", share ? ", = q (post-norm)" : "");
    emit_kv_set(&w, "h_note", share ? ", = att (post-norm)" : "");
    emit_kv_set(&w, "att_note", share ? ", = h (post-norm)" : "");
    emit_kv_int(&w, "max_he", HE);
    emit_kv_int(&w, "max_hdv", HDV);
    emit_kv_int(&w, "max_d", mx.D);
    emit_kv_int(&w, "max_f", mx.F);
    emit_kv_int(&w, "max_h", mx.H);
    emit_kv_int(&w, "max_e", mx.E);
    emit_kv_int(&w, "max_dv", mx.DV);
    emit_kv_int(&w, "KV", HE + HDV);
    emit_kv_take(k, "buf_fields", keep_part(PART("rows_fields"), &w));
    emit_kv_take(k, "qkv_carve", keep_part(PART("rows_qkv"), &w));
    emit_kv_take(k, "need", emit_part(PART("rows_need"), &w));
    emit_kv_take(k, "ws_L", emit_part(PART("ws_L_rows"), NULL));
    emit_kv_int(&l, "E", mx.E);
    emit_kv_int(&l, "DV", mx.DV);
    emit_kv_take(k, "ws_ld", emit_part(PART("ws_ld_rows"), &l));
}

/* The whole layout's q/k/v fields, carves and size (t_buffer_holes binds the rest). */
static void whole_buffer_holes(KV *k, const Model *m, Dims mx) {
    t_buffer_holes(k, m, mx);
    int share = t_shares_q(m);
    KV w = {0};
    emit_kv_int(&w, "q_width", share ? emit_imax(mx.H * mx.E, mx.D) : (long long)mx.H * mx.E);
    emit_kv_int(&w, "t_width", share ? 0 : mx.D);
    emit_kv_set(&w, "t_note", share ? ", = q (post-norm)" : "");
    emit_kv_set(&w, "h_note", share ? ", = att (post-norm)" : "");
    emit_kv_int(&w, "max_he", (long long)mx.H * mx.E);
    emit_kv_int(&w, "max_hdv", (long long)mx.H * mx.DV);
    emit_kv_int(&w, "max_d", mx.D);
    emit_kv_int(&w, "max_f", mx.F);
    emit_kv_take(k, "buf_fields", keep_part(PART("whole_fields"), &w));
    emit_kv_take(k, "qkv_carve", keep_part(PART("whole_qkv"), &w));
    emit_kv_take(k, "need", emit_part(PART("whole_need"), &w));
    emit_kv_take(k, "block_rows", emit_nothing());
    emit_kv_take(k, "ws_L", emit_part(PART("ws_L_whole"), NULL));
    emit_kv_take(k, "ws_ld", emit_nothing());
}

/* The reformer fields of the workspace's shape (the largest chunk_size,
 * rounds and bits of a stack running reformer), or nothing. */
static char *reformer_workspace(const Model *m) {
    KV k = {0};
    int C = 0, R = 0, B = 0;
    for (int st = 0; st < 2; st++) {
        const Stack *s = emit_stack(m, st);
        if (!emit_has_stack(m, st) || !attention_runs(s, s->attention_type, ATT_REFORMER))
            continue;
        C = emit_imax(C, s->chunk_size), R = emit_imax(R, s->rounds), B = emit_imax(B, s->bits);
    }
    emit_kv_int(&k, "C", C);
    emit_kv_int(&k, "R", R);
    emit_kv_int(&k, "B", B);
    return emit_part_if(C > 0, PART("reformer_ws"), &k);
}

/* The holes of model.c's workspace: its buffers' sizes. */
static void workspace_holes(KV *k, const Plan *p) {
    const Model *m = p->model;
    int max_local, max_topk, max_phi, max_clusters;
    Dims mx = max_dims(m, &max_local, &max_topk, &max_phi, &max_clusters);
    emit_kv_int(k, "max_h", mx.H);
    emit_kv_int(k, "max_e", emit_imax(mx.E, max_phi));
    emit_kv_int(k, "max_dv", mx.DV);
    emit_kv_int(k, "max_local", max_local);
    emit_kv_int(k, "max_topk", max_topk);
    emit_kv_int(k, "max_clusters", max_clusters);
    emit_kv_take(k, "reformer_ws", reformer_workspace(m));
    KV mk = {0}, ak = {0}, nk = {0};
    emit_kv_int(&mk, "D", mx.D);
    emit_kv_int(&ak, "H", mx.H);
    emit_kv_int(&nk, "H", mx.H);
    int tr = m->kind == MODEL_TRANSFORMER, att = any_attention_kept(p);
    KV mc = {0};
    emit_kv_int(&mc, "D", mx.D);
    emit_kv_take(k, "mem_field",
                 emit_part_if(tr, PART("mem_field"), &mk)); /* an encoder-decoder's only */
    emit_kv_take(k, "mem_carve", emit_part_if(tr, PART("mem_carve"), &mc));
    emit_kv_take(k, "attn_floats", emit_part(att ? PART("attn_floats") : PART("zero"), &ak));
    emit_kv_take(k, "attn_need", emit_part(att ? PART("attn_need") : PART("zero"), &nk));
    /* a QKVEvent's contiguous copies of q, k, v (their product shares rows) */
    int qkv = any_kept_of(p, XF_QKV_EVENT);
    KV ek = {0}, ec = {0};
    emit_kv_int(&ek, "W", (long long)mx.H * (2 * mx.E + mx.DV));
    emit_kv_int(&ec, "W", (long long)mx.H * (2 * mx.E + mx.DV));
    emit_kv_take(k, "ev_carve", emit_part_if(qkv, PART("ev_carve"), &ek));
    emit_kv_take(k, "ev_need", emit_part(qkv ? PART("ev_need") : PART("zero"), &ec));
    if (emit_row_blocked(p, 0))
        rows_buffer_holes(k, m, mx);
    else
        whole_buffer_holes(k, m, mx);
}

/* The struct's fields, the includes and what loading adds, by kind and profile. */
static void struct_holes(KV *k, const Plan *p) {
    const Model *m = p->model;
    int tokens = emit_is_token_model(m), handlers = emit_has_handlers(p),
        all = p->profile == PROFILE_INSTRUMENT_ALL;
    StrBuf inc;
    sb_init(&inc);
    if (tokens)
        emit_fill(&inc, PART("include_generate"), NULL);
    if (handlers)
        emit_fill(&inc, PART("include_handlers"), NULL);
    emit_kv_take(k, "includes", sb_take(&inc));
    sb_free(&inc);
    StrBuf fields;
    sb_init(&fields);
    char *stack_fields = model_fields(m), *tok_fields = emit_token_fields(m);
    sb_printf(&fields, "%s%s", stack_fields, tok_fields);
    free(stack_fields);
    free(tok_fields);
    emit_kv_take(k, "model_fields", sb_take(&fields));
    sb_free(&fields);
    emit_kv_take(k, "free_extra", emit_token_free(m));
    emit_kv_take(k, "state_struct", emit_generate_state(p, m->name));
    KV n = {0}, d = {0};
    emit_kv_set(&n, "name", m->name);
    emit_kv_take(k, "ws_state", emit_part_if(emit_generates(m), PART("ws_state"), &n));
    emit_kv_take(k, "extra_fields", emit_part_if(all, PART("dispatcher_field"), NULL));
    emit_kv_take(k, "load_tail", emit_part_if(all, PART("load_dispatcher"), NULL));
    emit_kv_set(&d, "name", m->name);
    emit_kv_take(k, "api_extra", emit_part_if(all, PART("set_dispatcher"), &d));
}

/* NAME.c: the weights, the workspace, the listeners, the layers and the forward. */
static char *emit_model_c(const Plan *p, const char *spec_name) {
    const Model *m = p->model;
    const char *name = m->name;
    int out_stack = m->kind == MODEL_ENCODER ? 0 : 1;
    StrBuf layers, load, load_fns;
    sb_init(&layers);
    sb_init(&load);
    sb_init(&load_fns);
    for (int st = 0; st < 2; st++) {
        if (!emit_has_stack(m, st))
            continue;
        emit_layers(&layers, p, st, name, 0);
        if (emit_generates(m) && st == out_stack)
            emit_layers(&layers, p, st, name, 1); /* their generation-step twins */
        emit_load_stack(&load_fns, &load, m, name, st, emit_row_blocked(p, st));
    }
    if (emit_is_token_model(m))
        emit_load_tokens(&load, m);
    KV k = {0};
    emit_kv_set(&k, "name", name);
    emit_kv_set(&k, "version", XFC_VERSION);
    emit_kv_set(&k, "spec_file", spec_name);
    emit_kv_take(&k, "spec_text", emit_spec_text(m));
    emit_kv_take(&k, "summary", summary(m));
    emit_kv_take(&k, "points_summary", points_summary(p));
    struct_holes(&k, p);
    workspace_holes(&k, p);
    emit_kv_take(&k, "listeners", emit_listeners(p, name));
    emit_kv_take(&k, "load_fns", sb_take(&load_fns));
    emit_kv_take(&k, "load_body", sb_take(&load));
    emit_kv_take(&k, "layers", sb_take(&layers));
    emit_kv_take(&k, "forward", emit_forward(p, name, emit_stack(m, out_stack)->d_model));
    sb_free(&layers);
    sb_free(&load);
    sb_free(&load_fns);
    return emit_part("model.c", &k);
}

#define HPART(name) "parts_model.h/" name

/* NAME.h: the C API. */
static char *emit_model_h(const Plan *p, const char *spec_name) {
    const Model *m = p->model;
    const char *name = m->name;
    int tokens = emit_is_token_model(m);
    const Stack *out = emit_stack(m, m->kind == MODEL_ENCODER ? 0 : 1);
    StrBuf fdecl;
    sb_init(&fdecl);
    if (tokens) {
        char *decl = emit_forward_tokens_decl(m, name), *gen = emit_generate_decl(m, name);
        sb_printf(&fdecl, "%s%s", decl, gen);
        free(decl);
        free(gen);
    } else {
        KV f = {0};
        emit_kv_set(&f, "name", name);
        emit_kv_int(&f, "D", out->d_model);
        emit_kv_int(&f, "DM", m->kind == MODEL_DECODER ? m->dec.memory_dimensions : out->d_model);
        emit_fill(&fdecl,
                  m->kind == MODEL_ENCODER   ? "model_h_forward_encoder"
                  : m->kind == MODEL_DECODER ? "model_h_forward_decoder"
                                             : "model_h_forward_transformer",
                  &f);
    }
    KV hk = {0}, dk = {0}, sk = {0};
    emit_kv_set(&hk, "name", name);
    emit_kv_set(&hk, "version", XFC_VERSION);
    emit_kv_set(&hk, "spec_file", spec_name);
    emit_kv_set(&hk, "forward_shapes",
                tokens                     ? "(token ids in, see below)"
                : m->kind == MODEL_ENCODER ? "(x, y: [batch, seq, d_model])"
                                           : "(see below for the memory / source arguments)");
    emit_kv_take(&hk, "guard", upper_guard(name));
    emit_kv_set(&dk, "name", name);
    emit_kv_int(&dk, "D", out->d_model);
    emit_kv_int(&dk, "V", out->emb.vocab);
    emit_kv_int(&dk, "max_pos", out->emb.max_positions);
    emit_kv_take(&hk, "dim_enum", emit_part(tokens ? HPART("dims_tokens") : HPART("dims"), &dk));
    emit_kv_take(&hk, "forward_decl", sb_take(&fdecl));
    sb_free(&fdecl);
    emit_kv_set(&sk, "name", name);
    emit_kv_take(&hk, "dispatcher_decl",
                 emit_part_if(p->profile == PROFILE_INSTRUMENT_ALL, HPART("set_dispatcher"), &sk));
    return emit_part("model.h", &hk);
}

void emit_model(const Plan *p, const char *spec_name, const char *embed_path, Emitted *out) {
    out->model_c = emit_model_c(p, spec_name);
    out->model_h = emit_model_h(p, spec_name);
    out->main_c = emit_main_c(p, spec_name, embed_path);
}

void emit_free(Emitted *e) {
    free(e->model_c);
    free(e->model_h);
    free(e->main_c);
    memset(e, 0, sizeof *e);
}
