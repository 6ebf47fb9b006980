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
void emit_layer(StrBuf *out, const Plan *p, int stack, int i, const char *name) {
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
