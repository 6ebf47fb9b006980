/* emit_layers.c — the layer functions: projections, the attention block
 * (kernel, materialization, AttentionEvent), QKVEvent and IntermediateOutput
 * blocks, filled from templates/layer_*.in and parts_layers.c.
 *
 * A stack's layers share one function (`layer`, called in a loop with the
 * layer's index); a layer gets its own (`layers_2`) only where a kept
 * dispatch point makes its code differ.  The same holds for the generation
 * step twins (`layer_step`, `layers_2_step`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_int.h"

#define PART(name) "parts_layers.c/" name

/* Does a kept point of layer i make its function differ from the stack's shared one? */
int emit_layer_distinct(const Plan *p, int stack, int i) {
    for (int k = 0; k < p->n_points; k++)
        if (p->points[k].kept && p->points[k].stack == stack && p->points[k].layer == i)
            return 1;
    return 0;
}

/* Does the stack run its layers in blocks of rows (runtime/row_blocks.c)?
 * An encoder's full self-attention whose queries, keys, values and
 * attention matrix no kept point shows (a QKVEvent or AttentionEvent needs
 * them for every row at once): release builds, and debug builds listening
 * to no attention of the stack.  The other attention types, decoders and
 * token models (a generating stack's prefill keeps the prompt's keys in
 * its cache) run whole. */
int emit_row_blocked(const Plan *p, int stack) {
    const Model *m = p->model;
    const Stack *s = emit_stack(m, stack);
    if (m->kind != MODEL_ENCODER || stack != 0 || emit_is_token_model(m) ||
        s->attention_type != ATT_FULL)
        return 0;
    for (int k = 0; k < p->n_points; k++)
        if (p->points[k].kept && p->points[k].stack == stack &&
            p->points[k].kind != XF_INTERMEDIATE_OUTPUT)
            return 0;
    return 1;
}

/* The function of layer i (its step twin with `step`): the stack's shared
 * one, or its own. */
static char *layer_fn(const Plan *p, int stack, int i, int step) {
    const Model *m = p->model;
    char shared[64];
    snprintf(shared, sizeof shared, "%.*s", (int)strlen(emit_stack_field(m, stack)) - 1,
             emit_stack_field(m, stack));
    KV k = {0}, s = {0};
    emit_kv_set(&k, "field", emit_stack_field(m, stack));
    emit_kv_int(&k, "i", i);
    emit_kv_set(&k, "layer", shared); /* layers → layer */
    char *fn =
        emit_part(i < 0 || !emit_layer_distinct(p, stack, i) ? PART("shared_fn") : PART("fn"), &k);
    if (!step)
        return fn;
    emit_kv_take(&s, "fn", fn);
    return emit_part(PART("step_fn"), &s);
}

/* The calls of a stack's layers on `x` (`call`: the xf_call; `memory`: a
 * decoder's), a loop over each run of layers that share their function. */
void emit_layer_calls(StrBuf *b, const Plan *p, int stack, int step, const char *call,
                      const char *x, const char *memory) {
    int n = emit_stack(p->model, stack)->n_layers;
    for (int i = 0; i < n;) {
        int to = i + 1;
        if (!emit_layer_distinct(p, stack, i))
            while (to < n && !emit_layer_distinct(p, stack, to))
                to++;
        KV k = {0};
        emit_kv_take(&k, "fn", layer_fn(p, stack, i, step));
        emit_kv_set(&k, "call", call);
        emit_kv_set(&k, "x", x);
        emit_kv_int(&k, "l", i);
        emit_kv_int(&k, "from", i);
        emit_kv_int(&k, "to", to);
        if (memory)
            emit_kv_set(&k, "memory", memory);
        int loop = to - i > 1;
        emit_fill(b,
                  memory ? (loop ? PART("loop_memory") : PART("call_memory"))
                  : loop ? PART("loop")
                         : PART("call"),
                  &k);
        i = to;
    }
}

static char *attention_desc(Dims d, AttentionType t, int causal) {
    KV k = {0};
    emit_kv_set(&k, "type", attention_type_name(t));
    emit_kv_take(&k, "causal", emit_part_if(causal, PART("causal_note"), NULL));
    emit_kv_int(&k, "H", d.H);
    emit_kv_int(&k, "E", d.E);
    emit_kv_int(&k, "DV", d.DV);
    return emit_part(PART("desc"), &k);
}

/* The widths of one module's projections: HE, HDV; the offsets of keys and
 * values in a self-attention's Q/K/V rows (HE, HE2) and those rows' width
 * (QKV = 2HE + HDV); a cross-attention's K/V rows' width (KV = HE + HDV). */
static void proj_holes(KV *k, Dims d) {
    long long HE = (long long)d.H * d.E, HDV = (long long)d.H * d.DV;
    emit_kv_int(k, "HE", HE);
    emit_kv_int(k, "HE2", 2 * HE);
    emit_kv_int(k, "HDV", HDV);
    emit_kv_int(k, "QKV", 2 * HE + HDV);
    emit_kv_int(k, "KV", HE + HDV);
}

/* `tmpl` filled from k, which stays (several pieces share one KV). */
static char *part_keep(const char *tmpl, KV *k) {
    StrBuf b;
    sb_init(&b);
    emit_fill_keep(&b, tmpl, k);
    return sb_take(&b);
}

/* The runtime kernel of an attention type (each has xf_attention's signature):
 * a conditional_full picks full attention or its fallback's kernel by the
 * call's lengths (`Lq`, `Lk`: their C expressions), as fast-transformers'
 * ConditionalFullAttention does. */
static char *kernel_name(const Stack *s, AttentionType t, const char *Lq, const char *Lk) {
    char name[96];
    if (t != ATT_CONDITIONAL_FULL) {
        snprintf(name, sizeof name, PART("kernel_%s"), attention_type_name(t));
        return emit_part(name, NULL);
    }
    KV k = {0};
    emit_kv_take(&k, "Lq", emit_part(Lq, NULL));
    emit_kv_take(&k, "Lk", emit_part(Lk, NULL));
    emit_kv_int(&k, "limit", s->length_limit);
    emit_kv_take(&k, "fallback", kernel_name(s, s->fallback, Lq, Lk));
    return emit_part(strcmp(Lq, Lk) ? PART("kernel_conditional") : PART("kernel_conditional_self"),
                     &k);
}

/* The kernel and the shape fields only its kernel reads (local_context, topk,
 * a random feature map's, of the self or cross module; a conditional_full's
 * fallback's too). */
static void kernel_holes(KV *k, const Stack *s, AttentionType t, int cross, const char *Lk) {
    emit_kv_take(k, "kernel", kernel_name(s, t, PART("self_len"), Lk));
    int local = attention_runs(s, t, ATT_LOCAL), topk = attention_runs(s, t, ATT_EXACT_TOPK);
    KV v = {0};
    emit_kv_int(&v, "n", local ? s->local_context : s->topk);
    emit_kv_set(&v, "slot", cross ? "cross" : "self");
    const char *variant = local                  ? PART("variant_local")
                          : topk                 ? PART("variant_exact_topk")
                          : emit_is_clustered(t) ? PART("variant_clustered")
                                                 : NULL;
    emit_kv_take(k, "variant", emit_part_if(variant != NULL, variant, &v));
    emit_kv_take(k, "fmap",
                 emit_part_if(emit_uses_feature_map(s, t),
                              cross ? PART("fmap_cross") : PART("fmap_self"), NULL));
}

/* The shape fields of a forward's attention only: fast-transformers' FullMask
 * on the types that take one (the forward refuses it for the others),
 * aft_full's learned position bias u, v and reformer's settings and planes
 * (neither steps: self-attention of a forward only, or aft_full's cross). */
static void forward_holes(KV *k, const Stack *s, AttentionType t, int cross) {
    emit_kv_take(k, "mask",
                 emit_part_if(attention_takes_mask(t),
                              cross ? PART("mask_cross") : PART("mask_self"), NULL));
    KV a = {0}, r = {0};
    emit_kv_int(&a, "rank", s->aft_parameterization);
    emit_kv_take(k, "aft",
                 emit_part_if(attention_runs(s, t, ATT_AFT_FULL),
                              cross ? PART("aft_cross") : PART("aft_self"), &a));
    emit_kv_int(&r, "C", s->chunk_size);
    emit_kv_int(&r, "R", s->rounds);
    emit_kv_int(&r, "B", s->bits);
    emit_kv_int(&r, "masked", s->masked);
    emit_kv_take(
        k, "reformer",
        emit_part_if(!cross && attention_runs(s, t, ATT_REFORMER), PART("reformer_self"), &r));
}

/* The AttentionEvent block of a kept point (`Lk`: the keys' length). */
static char *attention_event(const Plan *p, const Point *pt, Dims d, int layer, const char *module,
                             const char *Lk) {
    if (!pt)
        return emit_nothing();
    char inner[320];
    snprintf(inner, sizeof inner, "%s.inner_attention", module);
    KV e = {0};
    emit_kv_set(&e, "source", inner);
    emit_kv_int(&e, "layer", layer);
    emit_kv_int(&e, "H", d.H);
    emit_kv_take(&e, "Lq", emit_part(PART("self_len"), NULL));
    emit_kv_take(&e, "Lk", emit_part(Lk, NULL));
    emit_kv_take(&e, "calls", emit_point_calls(p, pt, 12));
    return emit_part("event_attention.c", &e);
}

/* One attention block: kernel call, materialization and AttentionEvent. */
static char *emit_attention(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                            const char *module) {
    const Point *pt = plan_point(p, XF_ATTENTION_EVENT, stack, layer, slot);
    int cross = slot == SLOT_CROSS;
    Dims d = emit_attention_dims(s, cross);
    AttentionType t = cross ? s->cross_attention_type : s->attention_type;
    int causal = !cross && s->causal;
    KV k = {0};
    emit_kv_set(&k, "source", module);
    emit_kv_take(&k, "desc", attention_desc(d, t, causal));
    emit_kv_take(&k, "Lq", emit_part(PART("self_len"), NULL));
    emit_kv_take(&k, "Lk", emit_part(cross ? PART("cross_len") : PART("self_len"), NULL));
    emit_kv_int(&k, "H", d.H);
    emit_kv_int(&k, "E", d.E);
    emit_kv_int(&k, "DV", d.DV);
    KV pk = {0};
    proj_holes(&pk, d);
    emit_kv_take(&k, "k", part_keep(cross ? PART("cross_k") : PART("own_k"), &pk));
    emit_kv_take(&k, "v", part_keep(cross ? PART("cross_v") : PART("own_v"), &pk));
    emit_kv_take(&k, "ld", emit_part(cross ? PART("ld_cross") : PART("ld_self"), &pk));
    emit_kv_take(&k, "key_len",
                 emit_part(cross ? PART("cross_key_len") : PART("self_key_len"), NULL));
    emit_kv_int(&k, "causal", causal);
    emit_kv_take(&k, "temp", emit_c_float(cross ? s->cross_softmax_temp : s->softmax_temp));
    char *buf = emit_part(PART("forward_A"), NULL);
    emit_kv_take(&k, "matrix", emit_matrix_line(p, pt, buf));
    free(buf);
    kernel_holes(&k, s, t, cross, cross ? PART("cross_len") : PART("self_len"));
    forward_holes(&k, s, t, cross);
    emit_kv_take(
        &k, "event",
        attention_event(p, pt, d, layer, module, cross ? PART("cross_len") : PART("self_len")));
    return emit_part("attention.c", &k);
}

/* The holes of a QKVEvent / IntermediateOutput block: its handler calls,
 * and in an instrument-all build the one branch that skips the block when
 * no listener of the dispatcher may want the point. */
static void bind_dispatch(KV *k, const Plan *p, const Point *pt) {
    KV w = {0};
    emit_kv_take(&w, "wants", emit_wants(pt));
    emit_kv_take(k, "when", emit_part_if(p->profile == PROFILE_INSTRUMENT_ALL, PART("when"), &w));
    emit_kv_take(k, "calls", emit_point_calls(p, pt, 8));
}

/* Where a QKVEvent's queries, keys and values are (parts_layers.c pieces):
 * the projections of a forward (copied out of their product's shared rows),
 * or in a step the cache (gathered), the step's own (causal_linear) or the
 * memory's, computed once by NAME_encode. */
typedef struct KeySource {
    const char *prep;      /* statements before the event (copies, a gather), or NULL */
    const char *q, *k, *v; /* the buffers */
    const char *Lk;        /* their length */
} KeySource;

/* The QKVEvent block after the projections of one attention module. */
static char *emit_qkv_event(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                            const char *module, const KeySource *ks) {
    const Point *pt = plan_point(p, XF_QKV_EVENT, stack, layer, slot);
    if (!pt)
        return emit_nothing();
    Dims d = emit_attention_dims(s, slot == SLOT_CROSS);
    KV k = {0};
    emit_kv_set(&k, "source", module);
    emit_kv_int(&k, "layer", layer);
    emit_kv_take(&k, "Lq", emit_part(PART("self_len"), NULL));
    emit_kv_take(&k, "Lk", emit_part(ks->Lk, NULL));
    emit_kv_int(&k, "H", d.H);
    emit_kv_int(&k, "E", d.E);
    emit_kv_int(&k, "DV", d.DV);
    KV pk = {0};
    proj_holes(&pk, d);
    emit_kv_take(&pk, "Lq", emit_part(PART("self_len"), NULL));
    emit_kv_take(&pk, "Lk", emit_part(ks->Lk, NULL));
    emit_kv_take(&k, "prep", ks->prep ? part_keep(ks->prep, &pk) : emit_nothing());
    emit_kv_take(&k, "qbuf", part_keep(ks->q, &pk));
    emit_kv_take(&k, "kbuf", part_keep(ks->k, &pk));
    emit_kv_take(&k, "vbuf", emit_part(ks->v, &pk));
    bind_dispatch(&k, p, pt);
    return emit_part("event_qkv.c", &k);
}

static char *emit_intermediate(const Plan *p, const Stack *s, int stack, int layer) {
    const Point *pt = plan_point(p, XF_INTERMEDIATE_OUTPUT, stack, layer, SLOT_LAYER);
    if (!pt)
        return emit_nothing();
    KV k = {0};
    emit_kv_set(&k, "source", pt->source);
    emit_kv_int(&k, "layer", layer);
    emit_kv_int(&k, "D", s->d_model);
    bind_dispatch(&k, p, pt);
    return emit_part("event_intermediate.c", &k);
}

/* a, b and c (NULL: none) one after the other; all three are taken. */
static char *joined(char *a, char *b, char *c) {
    StrBuf j;
    sb_init(&j);
    sb_printf(&j, "%s%s%s", a, b, c ? c : "");
    free(a), free(b), free(c);
    return sb_take(&j);
}

/* The QKVEvent block and attention block of one attention module. */
static char *emit_module(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                         const char *module) {
    static const KeySource self = {PART("copy_qkv"), PART("ev_q"), PART("ev_k"), PART("ev_v"),
                                   PART("self_len")};
    static const KeySource cross = {PART("copy_kv"), PART("own_q"), PART("ev_cross_k"),
                                    PART("ev_cross_v"), PART("cross_len")};
    char *qkv =
        emit_qkv_event(p, s, stack, layer, slot, module, slot == SLOT_CROSS ? &cross : &self);
    return joined(qkv, emit_attention(p, s, stack, layer, slot, module), NULL);
}

/* Does this stack carry the generation state (its self-attention is stepped)? */
static int stepped(const Model *m, int stack) {
    return emit_generates(m) && stack == (m->kind == MODEL_ENCODER ? 0 : 1);
}

/* One step's attention block for the self (cache / recurrent state) or
 * cross (the memory's keys and values) attention of a layer. */
static char *emit_attention_step(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                                 const char *module) {
    Dims d = emit_attention_dims(s, slot == SLOT_CROSS);
    const Point *pt = plan_point(p, XF_ATTENTION_EVENT, stack, layer, slot);
    int cross = slot == SLOT_CROSS, linear = !cross && s->attention_type == ATT_CAUSAL_LINEAR;
    AttentionType t = cross ? s->cross_attention_type : s->attention_type;
    KV c = {0}, k = {0};
    emit_kv_int(&c, "H", d.H);
    emit_kv_int(&c, "E", d.E);
    emit_kv_int(&c, "DV", d.DV);
    proj_holes(&c, d);
    emit_kv_take(&c, "temp", emit_c_float(cross ? s->cross_softmax_temp : s->softmax_temp));
    kernel_holes(&c, s, t, cross, PART("cross_len"));
    emit_kv_take(&k, "call",
                 emit_part(cross    ? PART("step_cross")
                           : linear ? PART("step_linear")
                                    : PART("step_full"),
                           &c));
    emit_kv_set(&k, "source", module);
    emit_kv_take(&k, "desc", attention_desc(d, t, !cross && s->causal));
    emit_kv_set(&k, "against",
                cross    ? "memory's keys and values"
                : linear ? "recurrent state"
                         : "KV cache");
    char *buf = emit_part(cross ? PART("forward_A") : PART("state_A"), NULL);
    emit_kv_take(&k, "matrix", emit_matrix_line(p, pt, buf));
    free(buf);
    emit_kv_take(
        &k, "event",
        attention_event(p, pt, d, layer, module, cross ? PART("cross_len") : PART("cache_len")));
    return emit_part("attention_step.c", &k);
}

/* One step of an attention module: the new key enters the cache, then the
 * QKVEvent (the whole cache, the step's own key, or the memory's) and the
 * attention. */
static char *emit_module_step(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                              const char *module) {
    static const KeySource own = {PART("copy_qkv"), PART("ev_q"), PART("ev_k"), PART("ev_v"),
                                  PART("self_len")};
    static const KeySource memory = {NULL, PART("own_q"), PART("mem_k"), PART("mem_v"),
                                     PART("cross_len")};
    static const KeySource cache = {PART("copy_q_gather"), PART("ev_q"), PART("cache_k"),
                                    PART("cache_v"), PART("cache_len")};
    int cross = slot == SLOT_CROSS, linear = !cross && s->attention_type == ATT_CAUSAL_LINEAR;
    KV pk = {0};
    proj_holes(&pk, emit_attention_dims(s, cross));
    char *append = emit_part_if(!cross && !linear, PART("cache_append"), &pk);
    char *qkv = emit_qkv_event(p, s, stack, layer, slot, module,
                               cross    ? &memory
                               : linear ? &own
                                        : &cache);
    return joined(append, qkv, emit_attention_step(p, s, stack, layer, slot, module));
}

/* The self-attention of layer i (-1: the shared function, no points). */
static char *self_attention(const Plan *p, const Stack *s, int stack, int i, const char *module,
                            int step) {
    if (step)
        return emit_module_step(p, s, stack, i, SLOT_SELF, module);
    KV pk = {0};
    proj_holes(&pk, emit_attention_dims(s, 0));
    char *capture = emit_part_if(
        stepped(p->model, stack),
        s->attention_type == ATT_CAUSAL_LINEAR ? PART("prefill_linear") : PART("prefill_kv"), &pk);
    return joined(capture, emit_module(p, s, stack, i, SLOT_SELF, module), NULL);
}

/* A decoder layer's cross-attention holes. */
static void cross_holes(KV *k, const Plan *p, const Stack *s, int i, const char *module, int step) {
    Dims d = emit_cross_dims(s);
    char cross[300];
    snprintf(cross, sizeof cross, "%s.cross_attention", module);
    emit_kv_take(k, "cross_desc", attention_desc(d, s->cross_attention_type, 0));
    emit_kv_take(k, "cross_attention",
                 step ? emit_module_step(p, s, 1, i, SLOT_CROSS, cross)
                      : emit_module(p, s, 1, i, SLOT_CROSS, cross));
    if (step) {
        emit_kv_take(k, "cross_kv", emit_part(PART("step_cross_kv"), NULL));
        return;
    }
    KV ck = {0};
    emit_kv_int(&ck, "DM", s->memory_dimensions);
    emit_kv_int(&ck, "KV", (long long)d.H * (d.E + d.DV));
    emit_kv_take(k, "cross_kv", emit_part("cross_kv.c", &ck));
}

/* One layer function: layer i's own (`layers_2`), or with i = -1 the one the
 * stack's other layers share (`layer`); `step`: its generation-step twin. */
static void emit_layer_fn(StrBuf *out, const Plan *p, int stack, int i, const char *name,
                          int step) {
    const Model *m = p->model;
    const Stack *s = emit_stack(m, stack);
    Dims d = emit_dims(s);
    char module[256], self[300];
    if (i >= 0) {
        snprintf(module, sizeof module, "%slayers.%d", emit_source_prefix(m, stack), i);
    } else {
        KV sk = {0};
        emit_kv_set(&sk, "prefix", emit_source_prefix(m, stack));
        char *src = emit_part(PART("shared_source"), &sk);
        snprintf(module, sizeof module, "%s", src);
        free(src);
    }
    snprintf(self, sizeof self, "%s.%s", module, stack == 0 ? "attention" : "self_attention");
    KV k = {0};
    emit_kv_set(&k, "name", name);
    emit_kv_set(&k, "source", module);
    emit_kv_take(&k, "fn", layer_fn(p, stack, i, step));
    emit_kv_set(&k, "field", emit_stack_field(m, stack));
    emit_kv_take(&k, "attention_desc", attention_desc(d, s->attention_type, s->causal));
    emit_kv_int(&k, "D", d.D);
    emit_kv_int(&k, "F", d.F);
    emit_kv_int(&k, "HE", (long long)d.H * d.E);
    emit_kv_int(&k, "HDV", (long long)d.H * d.DV);
    emit_kv_int(&k, "QKV", (long long)d.H * (2 * d.E + d.DV));
    Dims cd = emit_cross_dims(s);
    emit_kv_int(&k, "CHE", (long long)cd.H * cd.E);
    emit_kv_int(&k, "CHDV", (long long)cd.H * cd.DV);
    emit_kv_set(&k, "act", s->activation == ACT_GELU ? "gelu" : "relu");
    emit_kv_take(&k, "ACT",
                 emit_part(s->activation == ACT_GELU ? PART("gelu") : PART("relu"), NULL));
    emit_kv_take(&k, "eps", emit_c_float(s->layer_norm_eps));
    if (!step && emit_row_blocked(p, stack)) { /* stack 0 of an encoder, no attention point */
        emit_kv_int(&k, "H", d.H);
        emit_kv_int(&k, "E", d.E);
        emit_kv_int(&k, "DV", d.DV);
        emit_kv_int(&k, "KV", (long long)d.H * (d.E + d.DV));
        emit_kv_take(&k, "temp", emit_c_float(s->softmax_temp));
        emit_kv_int(&k, "causal", s->causal);
        emit_kv_take(&k, "desc", attention_desc(emit_attention_dims(s, 0), ATT_FULL, s->causal));
        emit_kv_take(&k, "after", emit_intermediate(p, s, stack, i));
        emit_fill(out,
                  s->normalization == NORM_PRE ? "layer_encoder_pre_rows.c"
                                               : "layer_encoder_post_rows.c",
                  &k);
        return;
    }
    emit_kv_take(&k, "self_attention", self_attention(p, s, stack, i, self, step));
    emit_kv_take(&k, "after", emit_intermediate(p, s, stack, i));
    if (stack == 1)
        cross_holes(&k, p, s, i, module, step);
    const char *tmpl =
        stack == 1
            ? (s->normalization == NORM_PRE ? "layer_decoder_pre.c" : "layer_decoder_post.c")
            : (s->normalization == NORM_PRE ? "layer_encoder_pre.c" : "layer_encoder_post.c");
    emit_fill(out, tmpl, &k);
}

/* A stack's layer functions: the shared one (if a layer uses it), then each
 * layer's own; with `step`, their generation-step twins. */
void emit_layers(StrBuf *out, const Plan *p, int stack, const char *name, int step) {
    int n = emit_stack(p->model, stack)->n_layers, shared = 0;
    for (int i = 0; i < n; i++)
        shared |= !emit_layer_distinct(p, stack, i);
    if (shared)
        emit_layer_fn(out, p, stack, -1, name, step);
    for (int i = 0; i < n; i++)
        if (emit_layer_distinct(p, stack, i))
            emit_layer_fn(out, p, stack, i, name, step);
}
