/* emit_layers.c — one C function per layer: projections, the attention
 * block (kernel, materialization, AttentionEvent), QKVEvent and
 * IntermediateOutput blocks, filled from templates/layer_*.in. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_int.h"
#include "xfc_config.h"

/* ---- layers ----------------------------------------------------------------- */

static const char *attention_desc(Dims d, AttentionType t, int causal, char *buf, size_t cap) {
    snprintf(buf, cap, "%s attention%s, %d heads × %d (values %d)", attention_type_name(t),
             causal ? " (causal)" : "", d.H, d.E, d.DV);
    return buf;
}

/* The runtime kernel of an attention type (each has xf_attention's signature). */
static const char *attention_kernel(AttentionType t) {
    switch (t) {
    case ATT_LINEAR:
    case ATT_CAUSAL_LINEAR: return "xf_linear_attention";
    case ATT_LOCAL: return "xf_local_attention";
    case ATT_EXACT_TOPK: return "xf_topk_attention";
    case ATT_AFT_FULL:
    case ATT_AFT_SIMPLE: return "xf_aft_attention";
    case ATT_FULL: break;
    }
    return "xf_attention";
}

/* One attention block: kernel call, materialization and AttentionEvent. */
static char *emit_attention(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                            const char *module) {
    const Model *m = p->model;
    const Point *pt = plan_point(p, XF_ATTENTION_EVENT, stack, layer, slot);
    int cross = slot == SLOT_CROSS;
    Dims d = attention_dims(s, cross);
    AttentionType t = cross ? s->cross_attention_type : s->attention_type;
    int causal = !cross && s->causal;
    StrBuf b;
    sb_init(&b);
    char src[300], desc[160];
    snprintf(src, sizeof src, "%s", module);
    KV k = {0};
    kv_set(&k, "source", src);
    kv_set(&k, "desc", attention_desc(d, t, causal, desc, sizeof desc));
    kv_set(&k, "Lq", "c->L");
    kv_set(&k, "Lk", cross ? "c->S" : "c->L");
    kv_int(&k, "H", d.H);
    kv_int(&k, "E", d.E);
    kv_int(&k, "DV", d.DV);
    kv_set(&k, "key_len", cross ? "c->mem_len" : "c->len");
    kv_int(&k, "causal", causal);
    kv_take(&k, "temp", c_float(cross ? s->cross_softmax_temp : s->softmax_temp));
    kv_take(&k, "matrix", matrix_line(p, pt, "w->A"));
    kv_int(&k, "local_context", t == ATT_LOCAL ? s->local_context : 0);
    kv_int(&k, "topk", t == ATT_EXACT_TOPK ? s->topk : 0);
    kv_set(&k, "kernel", attention_kernel(t));
    kv_set(&k, "fmap", !uses_feature_map(s, t) ? "NULL" : cross ? "&p->cross.fm" : "&p->self.fm");
    /* FullMask: full attention takes one (the forward refuses it for the other types) */
    kv_set(&k, "mask", t != ATT_FULL ? "NULL, 0" : cross ? "c->mem_mask, c->mem_mask_batched"
                                                          : "c->mask, c->mask_batched");
    char aft[80];
    snprintf(aft, sizeof aft, "p->%s.aft_u, p->%s.aft_v, %d", cross ? "cross" : "self", cross ? "cross" : "self",
             s->aft_parameterization);
    kv_set(&k, "aft", t == ATT_AFT_FULL ? aft : "NULL, NULL, 0");
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

/* The holes of a QKVEvent / IntermediateOutput block: its handler calls,
 * and in an instrument-all build the one branch that skips the block when
 * no listener of the dispatcher may want the point. */
static void bind_dispatch(KV *k, const Plan *p, const Point *pt) {
    if (p->profile == PROFILE_INSTRUMENT_ALL) {
        char *w = wants(pt);
        StrBuf when;
        sb_init(&when);
        sb_printf(&when, "if (%s) ", w);
        free(w);
        kv_take(k, "when", sb_take(&when));
    } else {
        kv_set(k, "when", "");
    }
    kv_take(k, "calls", point_calls(p, pt, 8));
}

/* Where a QKVEvent's keys and values are: the projections of a forward, or
 * in a step the cache (gathered), the step's own (causal_linear) or the
 * memory's, computed once by NAME_encode. */
typedef struct KeySource {
    const char *prep;   /* statements before the event (a gather), or "" */
    const char *k, *v;  /* the buffers */
    const char *Lk;     /* their length */
} KeySource;

/* The QKVEvent block after the projections of one attention module. */
static char *emit_qkv_event(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                            const char *module, const KeySource *ks) {
    const Point *pt = plan_point(p, XF_QKV_EVENT, stack, layer, slot);
    StrBuf b;
    sb_init(&b);
    if (!pt)
        return sb_take(&b);
    Dims d = attention_dims(s, slot == SLOT_CROSS);
    KV k = {0};
    kv_set(&k, "source", module);
    kv_int(&k, "layer", layer);
    kv_set(&k, "Lq", "c->L");
    kv_set(&k, "Lk", ks ? ks->Lk : slot == SLOT_CROSS ? "c->S" : "c->L");
    kv_int(&k, "H", d.H);
    kv_int(&k, "E", d.E);
    kv_int(&k, "DV", d.DV);
    kv_set(&k, "prep", ks ? ks->prep : "");
    kv_set(&k, "kbuf", ks ? ks->k : "w->k");
    kv_set(&k, "vbuf", ks ? ks->v : "w->v");
    bind_dispatch(&k, p, pt);
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
    bind_dispatch(&k, p, pt);
    fill(&b, "event_intermediate.c", &k);
    return sb_take(&b);
}

/* The QKVEvent block and attention block of one attention module. */
static char *emit_module(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                         const char *module) {
    char *qkv = emit_qkv_event(p, s, stack, layer, slot, module, NULL);
    char *a = emit_attention(p, s, stack, layer, slot, module);
    StrBuf b;
    sb_init(&b);
    sb_puts(&b, qkv);
    sb_puts(&b, a);
    free(qkv), free(a);
    return sb_take(&b);
}

/* Does this stack carry the generation state (its self-attention is stepped)? */
static int stepped(const Model *m, int stack) {
    return emit_generates(m) && stack == (m->kind == MODEL_ENCODER ? 0 : 1);
}

/* A prefill: the prompt's keys and values start the layer's state. */
static void prefill_capture(StrBuf *b, const Stack *s, int layer) {
    if (s->attention_type == ATT_CAUSAL_LINEAR)
        sb_printf(b, "    if (w->state)   /* a prefill: the prompt's keys and values start the recurrent state */\n"
                     "        xf_linear_state_absorb(&w->state->ls[%d], w->k, w->v, c->L, NULL);\n", layer);
    else
        sb_printf(b, "    if (w->state)   /* a prefill: the prompt's keys and values start the KV cache */\n"
                     "        xf_kv_cache_append(&w->state->kv[%d], w->k, w->v, c->L, NULL);\n", layer);
}

/* One step's attention block for the self (cache / recurrent state) or
 * cross (the memory's keys and values) attention of a layer. */
static char *emit_attention_step(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                                 const char *module) {
    Dims d = attention_dims(s, slot == SLOT_CROSS);
    const Point *pt = plan_point(p, XF_ATTENTION_EVENT, stack, layer, slot);
    int cross = slot == SLOT_CROSS, linear = !cross && s->attention_type == ATT_CAUSAL_LINEAR;
    AttentionType t = cross ? s->cross_attention_type : s->attention_type;
    char desc[160], call[600];
    char *temp = c_float(cross ? s->cross_softmax_temp : s->softmax_temp);
    if (cross)
        snprintf(call, sizeof call,
                 "const xf_attn_shape sh = {.N = c->N, .L = 1, .S = c->S, .H = %d, .E = %d, "
                 ".D = %d, .key_len = c->mem_len, .temp = %s, .local_context = %d, .topk = %d, .fmap = %s};\n"
                 "        %s(w->att, A, w->q, w->state->mem_k[%d], w->state->mem_v[%d], &sh, w->scratch);",
                 d.H, d.E, d.DV, temp, t == ATT_LOCAL ? s->local_context : 0, t == ATT_EXACT_TOPK ? s->topk : 0,
                 uses_feature_map(s, t) ? "&p->cross.fm" : "NULL", attention_kernel(t), layer, layer);
    else if (linear)
        snprintf(call, sizeof call, "xf_linear_attention_step(w->att, A, w->q, w->k, w->v, &w->state->ls[%d], NULL);",
                 layer);
    else
        snprintf(call, sizeof call, "xf_attention_step(w->att, A, w->q, &w->state->kv[%d], %s);", layer, temp);
    free(temp);
    KV k = {0};
    kv_set(&k, "source", module);
    kv_set(&k, "desc", attention_desc(d, t, !cross && s->causal, desc, sizeof desc));
    kv_set(&k, "against", cross ? "memory's keys and values" : linear ? "recurrent state" : "KV cache");
    kv_take(&k, "matrix", matrix_line(p, pt, cross ? "w->A" : "w->state->A"));
    kv_set(&k, "call", call);
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
        kv_set(&e, "Lk", cross ? "c->S" : "c->T");
        kv_take(&e, "calls", point_calls(p, pt, 12));
        fill(&ev, "event_attention.c", &e);
        kv_take(&k, "event", sb_take(&ev));
        sb_free(&ev);
    } else {
        kv_set(&k, "event", "");
    }
    StrBuf b;
    sb_init(&b);
    fill(&b, "attention_step.c", &k);
    return sb_take(&b);
}

/* One step of an attention module: the new key enters the cache, then the
 * QKVEvent (the whole cache, the step's own key, or the memory's) and the
 * attention. */
static char *emit_module_step(const Plan *p, const Stack *s, int stack, int layer, Slot slot,
                              const char *module) {
    StrBuf b;
    sb_init(&b);
    int cross = slot == SLOT_CROSS, linear = !cross && s->attention_type == ATT_CAUSAL_LINEAR;
    char prep[300], kb[64], vb[64];
    KeySource ks = {"", "w->k", "w->v", "c->L"};
    if (cross) {
        snprintf(kb, sizeof kb, "w->state->mem_k[%d]", layer);
        snprintf(vb, sizeof vb, "w->state->mem_v[%d]", layer);
        ks = (KeySource){"", kb, vb, "c->S"};
    } else if (!linear) {
        sb_printf(&b, "    xf_kv_cache_append(&w->state->kv[%d], w->k, w->v, 1, NULL);   /* room checked by the step */\n",
                  layer);
        snprintf(prep, sizeof prep, "        xf_kv_cache_gather(w->state->keys, &w->state->kv[%d], 0);\n"
                                    "        xf_kv_cache_gather(w->state->values, &w->state->kv[%d], 1);\n", layer, layer);
        ks = (KeySource){prep, "w->state->keys", "w->state->values", "c->T"};
    }
    char *qkv = emit_qkv_event(p, s, stack, layer, slot, module, &ks);
    char *a = emit_attention_step(p, s, stack, layer, slot, module);
    sb_puts(&b, qkv);
    sb_puts(&b, a);
    free(qkv), free(a);
    return sb_take(&b);
}

/* One layer function, e.g. `static void layers_2(…)`; `step`: its
 * generation-step twin `layers_2_step` (one position against the state). */
void emit_layer(StrBuf *out, const Plan *p, int stack, int i, const char *name, int step) {
    const Model *m = p->model;
    const Stack *s = get_stack(m, stack);
    Dims d = stack_dims(s);
    char module[256], fn[64], weights[64], self[300], cross[300], desc[160];
    snprintf(module, sizeof module, "%slayers.%d", source_prefix(m, stack), i);
    snprintf(fn, sizeof fn, "%s_%d%s", stack_field(m, stack), i, step ? "_step" : "");
    snprintf(weights, sizeof weights, "%s[%d]", stack_field(m, stack), i);
    snprintf(self, sizeof self, "%s.%s", module, stack == 0 ? "attention" : "self_attention");
    snprintf(cross, sizeof cross, "%s.cross_attention", module);
    KV k = {0};
    kv_set(&k, "name", name);
    kv_set(&k, "source", module);
    kv_set(&k, "fn", fn);
    kv_set(&k, "weights", weights);
    kv_set(&k, "attention_desc", attention_desc(stack_dims(s), s->attention_type, s->causal, desc, sizeof desc));
    kv_int(&k, "D", d.D);
    kv_int(&k, "F", d.F);
    kv_int(&k, "HE", (long long)d.H * d.E);
    kv_int(&k, "HDV", (long long)d.H * d.DV);
    Dims cd = cross_dims(s);
    kv_int(&k, "CHE", (long long)cd.H * cd.E);
    kv_int(&k, "CHDV", (long long)cd.H * cd.DV);
    kv_set(&k, "act", s->activation == ACT_GELU ? "gelu" : "relu");
    kv_set(&k, "ACT", s->activation == ACT_GELU ? "XF_GELU" : "XF_RELU");
    kv_take(&k, "eps", c_float(s->layer_norm_eps));
    if (step) {
        kv_take(&k, "self_attention", emit_module_step(p, s, stack, i, SLOT_SELF, self));
    } else {
        StrBuf sa;
        sb_init(&sa);
        if (stepped(m, stack))
            prefill_capture(&sa, s, i);
        char *mod = emit_module(p, s, stack, i, SLOT_SELF, self);
        sb_puts(&sa, mod);
        free(mod);
        kv_take(&k, "self_attention", sb_take(&sa));
        sb_free(&sa);
    }
    kv_take(&k, "after", emit_intermediate(p, s, stack, i));
    const char *tmpl;
    if (stack == 1) {
        kv_set(&k, "cross_desc", attention_desc(cross_dims(s), s->cross_attention_type, 0, desc, sizeof desc));
        kv_take(&k, "cross_attention", step ? emit_module_step(p, s, stack, i, SLOT_CROSS, cross)
                                            : emit_module(p, s, stack, i, SLOT_CROSS, cross));
        if (step) {
            kv_set(&k, "cross_kv", "    (void)memory, (void)nm;   /* the state holds the memory's keys and values */\n");
        } else {
            KV ck = {0};
            StrBuf cb;
            sb_init(&cb);
            kv_int(&ck, "DM", s->memory_dimensions);
            kv_int(&ck, "HE", (long long)cd.H * cd.E);
            kv_int(&ck, "HDV", (long long)cd.H * cd.DV);
            fill(&cb, "cross_kv.c", &ck);
            kv_take(&k, "cross_kv", sb_take(&cb));
            sb_free(&cb);
        }
        tmpl = s->normalization == NORM_PRE ? "layer_decoder_pre.c" : "layer_decoder_post.c";
    } else {
        tmpl = s->normalization == NORM_PRE ? "layer_encoder_pre.c" : "layer_encoder_post.c";
    }
    fill(out, tmpl, &k);
}
