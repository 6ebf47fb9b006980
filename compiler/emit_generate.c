/* emit_generate.c — a token model's generation (SPEC §8): the state (a KV
 * cache or the recurrent state per layer, the memory's keys and values),
 * NAME_state_new / NAME_encode / NAME_prefill / NAME_step / NAME_generate,
 * filled from templates/generate*.in.  The layers' step twins come from
 * emit_layers.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_int.h"

static int gen_stack(const Model *m) {
    return m->kind == MODEL_ENCODER ? 0 : 1;
}

const char *emit_generate_refusal(const Model *m) {
    const Stack *s = get_stack(m, gen_stack(m));
    if (!emit_is_token_model(m))
        return "it takes no token ids (no embedding { })";
    if (!s->head.present)
        return "it has no head { } to turn hidden states into tokens";
    if (!s->causal)
        return "its self-attention is not causal (set causal = true)";
    if (s->attention_type != ATT_FULL && s->attention_type != ATT_CAUSAL_LINEAR)
        return "only full (KV cache) and causal_linear (recurrent state) self-attention can step";
    if (s->cross_attention_type == ATT_AFT_FULL && m->kind == MODEL_TRANSFORMER)
        return "aft_full cross-attention has a position bias per query row, which a step does not track";
    if (uses_feature_map(s, s->attention_type))
        return "a causal_linear recurrent state steps with feature_map = elu only";
    return NULL;
}

int emit_generates(const Model *m) {
    return emit_generate_refusal(m) == NULL;
}

/* Is any point of (kind, generating stack, self-attention) kept? */
static int self_point_kept(const Plan *p, xf_event_kind kind) {
    const Model *m = p->model;
    for (int i = 0; i < get_stack(m, gen_stack(m))->n_layers; i++)
        if (plan_point(p, kind, gen_stack(m), i, SLOT_SELF))
            return 1;
    return 0;
}

/* The state's per-layer fields and their init/free. */
static void state_holes(KV *k, const Plan *p) {
    const Model *m = p->model;
    const Stack *s = get_stack(m, gen_stack(m));
    Dims d = stack_dims(s);
    int linear = s->attention_type == ATT_CAUSAL_LINEAR, want_A = self_point_kept(p, XF_ATTENTION_EVENT);
    StrBuf f, init, fr;
    sb_init(&f), sb_init(&init), sb_init(&fr);
    if (linear) {
        sb_printf(&f, "    xf_linear_state ls[%d];   /* per layer: S, Z%s — their size does not grow */\n",
                  s->n_layers, want_A ? " and φ(k) (an AttentionEvent wants the implied rows)" : "");
        sb_printf(&init, "xf_linear_state_init(&s->ls[i], batch, %d, %d, %d, %d, max_len, err)", d.H, d.E, d.DV,
                  want_A);
        sb_puts(&fr, "        xf_linear_state_free(&s->ls[i]);\n");
    } else {
        sb_printf(&f, "    xf_kv_cache kv[%d];       /* per layer: the keys and values of every position */\n",
                  s->n_layers);
        sb_printf(&init, "xf_kv_cache_init(&s->kv[i], batch, max_len, %d, %d, %d, err)", d.H, d.E, d.DV);
        sb_puts(&fr, "        xf_kv_cache_free(&s->kv[i]);\n");
    }
    if (m->kind == MODEL_TRANSFORMER) {
        sb_printf(&f, "    int S;                    /* source length */\n"
                      "    float *memory;            /* [N, S, %d] the encoder's output (NAME_encode) */\n"
                      "    int *src_len;             /* [N] source lengths, or NULL */\n"
                      "    float *mem_k[%d], *mem_v[%d]; /* per decoder layer: [N, S, %d], [N, S, %d] cross keys/values */\n",
                  d.D, s->n_layers, s->n_layers, cross_dims(s).H * cross_dims(s).E,
                  cross_dims(s).H * cross_dims(s).DV);
        sb_puts(&fr, "        free(s->mem_k[i]);\n        free(s->mem_v[i]);\n");
    }
    kv_take(k, "state_fields", sb_take(&f));
    kv_take(k, "layer_init", sb_take(&init));
    kv_take(k, "layer_free", sb_take(&fr));
    kv_set(k, "free_memory", m->kind == MODEL_TRANSFORMER ? "    free(s->memory);\n    free(s->src_len);\n" : "");
    kv_int(k, "want_A", want_A);
    kv_int(k, "want_keys", !linear && self_point_kept(p, XF_QKV_EVENT));
    kv_set(k, "state_kind", linear ? "recurrent state (causal_linear)" : "KV cache (full attention)");
    sb_free(&f), sb_free(&init), sb_free(&fr);
}

/* The calls of the stepped stack's layers (their _step twins for a step). */
static char *layer_calls(const Model *m, int step) {
    const Stack *s = get_stack(m, gen_stack(m));
    StrBuf b;
    sb_init(&b);
    const char *x = step ? "s->x" : "x", *rows = step ? "batch" : "batch * len";
    for (int i = 0; i < s->n_layers; i++) {
        if (m->kind == MODEL_ENCODER)
            sb_printf(&b, "    %s_%d%s(m, &c, %s, &w);\n", stack_field(m, 0), i, step ? "_step" : "", x);
        else
            sb_printf(&b, "    %s_%d%s(m, &c, %s, s->memory, &w);\n", stack_field(m, 1), i, step ? "_step" : "", x);
    }
    if (s->final_normalization) {
        char *eps = c_float(s->layer_norm_eps);
        sb_printf(&b, "    xf_layernorm(%s, %s, m->%s.g, m->%s.b, %s, %d, %s);   /* %snorm */\n", x, x,
                  norm_field(m, gen_stack(m)), norm_field(m, gen_stack(m)), rows, s->d_model, eps,
                  source_prefix(m, gen_stack(m)));
        free(eps);
    }
    return sb_take(&b);
}

/* NAME_encode: the encoder over the source ids, then the memory's keys and values. */
static char *encode_fn(const Model *m, const char *name, const char *enter, const char *leave) {
    StrBuf b, body;
    sb_init(&b);
    if (m->kind != MODEL_TRANSFORMER)
        return sb_take(&b);
    sb_init(&body);
    for (int i = 0; i < m->enc.n_layers; i++)
        sb_printf(&body, "    %s_%d(m, &ce, s->memory, &w);\n", stack_field(m, 0), i);
    if (m->enc.final_normalization) {
        char *eps = c_float(m->enc.layer_norm_eps);
        sb_printf(&body, "    xf_layernorm(s->memory, s->memory, m->encoder_norm.g, m->encoder_norm.b, batch * src_len, "
                         "%d, %s);   /* encoder.norm */\n", m->enc.d_model, eps);
        free(eps);
    }
    Dims d = cross_dims(&m->dec);   /* the memory's keys and values are the cross-attention's */
    KV k = {0};
    kv_set(&k, "name", name);
    kv_int(&k, "src_V", m->enc.emb.vocab);
    kv_int(&k, "src_max_pos", m->enc.emb.max_positions);
    kv_int(&k, "D", d.D);
    kv_int(&k, "HE", (long long)d.H * d.E);
    kv_int(&k, "HDV", (long long)d.H * d.DV);
    kv_int(&k, "n_layers", m->dec.n_layers);
    kv_set(&k, "enter", enter);
    kv_set(&k, "leave", leave);
    kv_take(&k, "encoder_body", sb_take(&body));
    fill(&b, "generate_encode.c", &k);
    sb_free(&body);
    return sb_take(&b);
}

/* The state struct, before the layers that fill and step it. */
char *emit_generate_state(const Plan *p, const char *name) {
    const Model *m = p->model;
    StrBuf b;
    sb_init(&b);
    if (!emit_generates(m))
        return sb_take(&b);
    const Stack *s = get_stack(m, gen_stack(m));
    Dims d = stack_dims(s);
    int tr = m->kind == MODEL_TRANSFORMER;
    KV k = {0};
    kv_set(&k, "name", name);
    kv_set(&k, "stack_name", tr ? "decoder" : "stack");
    kv_set(&k, "memory_desc", tr ? "the encoder's memory with its keys and values per layer, " : "");
    kv_int(&k, "D", d.D);
    kv_int(&k, "H", d.H);
    kv_int(&k, "HE", (long long)d.H * d.E);
    kv_int(&k, "HDV", (long long)d.H * d.DV);
    state_holes(&k, p);
    fill(&b, "generate_state.c", &k);
    return sb_take(&b);
}

char *emit_generate(const Plan *p, const char *name, const char *enter, const char *leave, const char *flushes) {
    const Model *m = p->model;
    StrBuf b;
    sb_init(&b);
    if (!emit_generates(m))
        return sb_take(&b);
    const Stack *s = get_stack(m, gen_stack(m));
    Dims d = stack_dims(s);
    int tr = m->kind == MODEL_TRANSFORMER;
    char buf[600];
    KV k = {0};
    kv_set(&k, "name", name);
    kv_set(&k, "stack_name", tr ? "decoder" : "stack");
    kv_set(&k, "memory_desc", tr ? "the encoder's memory with its keys and values per layer, " : "");
    kv_int(&k, "D", d.D);
    kv_int(&k, "H", d.H);
    kv_int(&k, "HE", (long long)d.H * d.E);
    kv_int(&k, "HDV", (long long)d.H * d.DV);
    kv_int(&k, "V", s->emb.vocab);
    kv_int(&k, "max_pos", s->emb.max_positions);
    kv_int(&k, "n_layers", s->n_layers);
    state_holes(&k, p);
    kv_take(&k, "encode", encode_fn(m, name, enter, leave));
    snprintf(buf, sizeof buf, "    if (!s->memory)\n        return xf_fail(err, \"prefill: encode the source first (%s_encode)\");\n", name);
    kv_set(&k, "prefill_check", tr ? buf : "");
    kv_set(&k, "prefill_S", tr ? "s->S" : "len");
    kv_set(&k, "step_S", tr ? "s->S" : "1");
    kv_set(&k, "mem_len", tr ? "s->src_len" : "NULL");
    kv_set(&k, "enter", enter);
    kv_set(&k, "leave", leave);
    kv_take(&k, "prefill_body", layer_calls(m, 0));
    kv_take(&k, "step_body", layer_calls(m, 1));
    kv_set(&k, "flushes", flushes);
    kv_set(&k, "generate_src_params", tr ? "const int32_t *src, int src_len, const int *src_lengths,\n                      " : "");
    snprintf(buf, sizeof buf, "%s_encode(m, s, src, src_len, src_lengths, err) ? -1 : ", name);
    kv_set(&k, "generate_encode", tr ? buf : "");
    fill(&b, "generate.c", &k);
    return sb_take(&b);
}

char *emit_generate_decl(const Model *m, const char *name) {
    StrBuf b;
    sb_init(&b);
    if (!emit_generates(m))
        return sb_take(&b);
    const Stack *s = get_stack(m, gen_stack(m));
    KV k = {0};
    kv_set(&k, "name", name);
    kv_int(&k, "V", s->emb.vocab);
    kv_int(&k, "max_pos", s->emb.max_positions);
    kv_set(&k, "state_kind", s->attention_type == ATT_CAUSAL_LINEAR ? "the recurrent state S, Z of every layer (causal_linear: its size does not grow)"
                                                                    : "a KV cache per layer (full attention)");
    int tr = m->kind == MODEL_TRANSFORMER;
    char buf[400];
    snprintf(buf, sizeof buf,
             "\n/* Transformer: the encoder over source ids [batch, src_len] (src_lengths NULL: all), and the\n"
             " * memory's keys and values of every cross-attention, once for all steps. */\n"
             "int %s_encode(%s *m, %s_state *s, const int32_t *src, int src_len, const int *src_lengths, xf_error *err);\n",
             name, name, name);
    kv_set(&k, "encode_decl", tr ? buf : "");
    kv_set(&k, "generate_src_params", tr ? "const int32_t *src, int src_len, const int *src_lengths,\n                      " : "");
    fill(&b, "model_h_generate", &k);
    return sb_take(&b);
}
