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
    const Stack *s = emit_stack(m, gen_stack(m));
    if (!emit_is_token_model(m))
        return "it takes no token ids (no embedding { })";
    if (!s->head.present)
        return "it has no head { } to turn hidden states into tokens";
    if (!s->causal)
        return "its self-attention is not causal (set causal = true)";
    if (s->attention_type != ATT_FULL && s->attention_type != ATT_CAUSAL_LINEAR)
        return "only full (KV cache) and causal_linear (recurrent state) self-attention can step";
    if (s->cross_attention_type == ATT_CONDITIONAL_FULL && m->kind == MODEL_TRANSFORMER)
        return "conditional_full cross-attention has no step form (nor in fast-transformers' "
               "recurrent attention registry)";
    if (s->cross_attention_type == ATT_AFT_FULL && m->kind == MODEL_TRANSFORMER)
        return "aft_full cross-attention has a position bias per query row, which a step does not "
               "track";
    if (emit_is_clustered(s->cross_attention_type) && m->kind == MODEL_TRANSFORMER)
        return "clustered cross-attention groups the queries of a whole call, which a step does "
               "not have";
    if (emit_uses_feature_map(s, s->attention_type) && s->feature_map == FMAP_FAVOR && s->stabilize)
        return "favor's stabilize subtracts a max over the whole sequence, which a step does not "
               "see";
    return NULL;
}

int emit_generates(const Model *m) {
    return emit_generate_refusal(m) == NULL;
}

/* Is any point of (kind, generating stack, self-attention) kept? */
static int self_point_kept(const Plan *p, xf_event_kind kind) {
    const Model *m = p->model;
    for (int i = 0; i < emit_stack(m, gen_stack(m))->n_layers; i++)
        if (plan_point(p, kind, gen_stack(m), i, SLOT_SELF))
            return 1;
    return 0;
}

#define PART(name) "parts_generate.c/" name

/* The state's per-layer fields and their init/free. */
static void state_holes(KV *k, const Plan *p) {
    const Model *m = p->model;
    const Stack *s = emit_stack(m, gen_stack(m));
    Dims d = emit_dims(s);
    int linear = s->attention_type == ATT_CAUSAL_LINEAR,
        want_A = self_point_kept(p, XF_ATTENTION_EVENT);
    int tr = m->kind == MODEL_TRANSFORMER;
    KV f = {0}, i = {0}, mf = {0};
    emit_kv_int(&f, "n", s->n_layers);
    emit_kv_take(&f, "phi", emit_part_if(want_A, PART("phi"), NULL));
    emit_kv_int(&i, "H", d.H);
    emit_kv_int(&i, "E", d.E);
    emit_kv_int(&i, "DV", d.DV);
    emit_kv_int(&i, "want_A", want_A);
    char fm[96] = "NULL"; /* the layer's random feature map: its omega is the model's */
    if (emit_uses_feature_map(s, s->attention_type))
        snprintf(fm, sizeof fm, "&m->%s[i].self.fm", emit_stack_field(m, gen_stack(m)));
    emit_kv_set(&i, "fm", fm);
    emit_kv_int(&mf, "n", s->n_layers);
    emit_kv_int(&mf, "D", d.D);
    Dims cd = emit_cross_dims(s); /* the memory's keys and values are the cross-attention's */
    emit_kv_int(&mf, "HE", (long long)cd.H * cd.E);
    emit_kv_int(&mf, "HDV", (long long)cd.H * cd.DV);
    StrBuf fields, fr;
    sb_init(&fields), sb_init(&fr);
    emit_fill(&fields, linear ? PART("linear_field") : PART("kv_field"), &f);
    emit_fill(&fr, linear ? PART("linear_free") : PART("kv_free"), NULL);
    if (tr) {
        emit_fill(&fields, PART("memory_fields"), &mf);
        emit_fill(&fr, PART("memory_layer_free"), NULL);
    } else {
        emit_kv_drop(&mf); /* unused */
    }
    emit_kv_take(k, "state_fields", sb_take(&fields));
    emit_kv_take(k, "layer_init", emit_part(linear ? PART("linear_init") : PART("kv_init"), &i));
    emit_kv_take(k, "layer_free", sb_take(&fr));
    sb_free(&fields), sb_free(&fr);
    emit_kv_take(k, "free_memory", emit_part_if(tr, PART("memory_free"), NULL));
    emit_kv_int(k, "want_A", want_A);
    emit_kv_int(k, "want_keys", !linear && self_point_kept(p, XF_QKV_EVENT));
    emit_kv_set(k, "state_kind",
                linear ? "recurrent state (causal_linear)" : "KV cache (full attention)");
}

/* The calls of the stepped stack's layers (their _step twins for a step), then its final norm. */
static char *layer_calls(const Plan *p, int step) {
    const Model *m = p->model;
    StrBuf b;
    sb_init(&b);
    char *x = emit_part(step ? PART("state_x") : PART("x"), NULL);
    char *rows = emit_part(step ? PART("step_rows") : PART("prompt_rows"), NULL);
    char *memory = emit_part(PART("memory"), NULL);
    char *c = emit_part(PART("c"), NULL);
    emit_layer_calls(&b, p, gen_stack(m), step, c, x, m->kind == MODEL_ENCODER ? NULL : memory);
    emit_final_norm(&b, m, gen_stack(m), x, rows);
    free(x), free(rows), free(memory), free(c);
    return sb_take(&b);
}

/* NAME_encode: the encoder over the source ids, then the memory's keys and values. */
static char *encode_fn(const Plan *p, const char *name, const char *enter, const char *leave) {
    const Model *m = p->model;
    if (m->kind != MODEL_TRANSFORMER)
        return emit_nothing();
    StrBuf body;
    sb_init(&body);
    char *memory = emit_part(PART("memory"), NULL), *rows = emit_part(PART("src_rows"), NULL);
    char *ce = emit_part(PART("ce"), NULL);
    emit_layer_calls(&body, p, 0, 0, ce, memory, NULL);
    emit_final_norm(&body, m, 0, memory, rows);
    free(memory), free(rows), free(ce);
    Dims d = emit_cross_dims(&m->dec); /* the memory's keys and values are the cross-attention's */
    KV k = {0};
    emit_kv_set(&k, "name", name);
    emit_kv_int(&k, "src_V", m->enc.emb.vocab);
    emit_kv_int(&k, "src_max_pos", m->enc.emb.max_positions);
    emit_kv_int(&k, "D", d.D);
    emit_kv_int(&k, "HE", (long long)d.H * d.E);
    emit_kv_int(&k, "HDV", (long long)d.H * d.DV);
    emit_kv_int(&k, "n_layers", m->dec.n_layers);
    emit_kv_set(&k, "enter", enter);
    emit_kv_set(&k, "leave", leave);
    emit_kv_take(&k, "encoder_body", sb_take(&body));
    char *checks = emit_encoder_length_checks(m); /* the forward's, on the source */
    int any = *checks != '\0';
    KV c = {0};
    emit_kv_take(&c, "checks", checks);
    emit_kv_take(&k, "length_checks", emit_part_if(any, PART("encode_checks"), &c));
    sb_free(&body);
    return emit_part("generate_encode.c", &k);
}

/* The holes generate_state.c and generate.c share: the state's shape. */
static void state_shape_holes(KV *k, const Plan *p, const char *name) {
    const Model *m = p->model;
    Dims d = emit_dims(emit_stack(m, gen_stack(m)));
    int tr = m->kind == MODEL_TRANSFORMER;
    emit_kv_set(k, "name", name);
    emit_kv_set(k, "stack_name", tr ? "decoder" : "stack");
    emit_kv_set(k, "memory_desc",
                tr ? "the encoder's memory with its keys and values per layer, " : "");
    emit_kv_int(k, "D", d.D);
    emit_kv_int(k, "H", d.H);
    emit_kv_int(k, "HE", (long long)d.H * d.E);
    emit_kv_int(k, "HDV", (long long)d.H * d.DV);
    state_holes(k, p);
}

/* The state struct, before the layers that fill and step it. */
char *emit_generate_state(const Plan *p, const char *name) {
    if (!emit_generates(p->model))
        return emit_nothing();
    KV k = {0};
    state_shape_holes(&k, p, name);
    return emit_part("generate_state.c", &k);
}

/* The holes generate.c and model_h_generate share: a Transformer's source. */
static void source_holes(KV *k, const Model *m, const char *name) {
    int tr = m->kind == MODEL_TRANSFORMER;
    KV e = {0};
    emit_kv_set(&e, "name", name);
    emit_kv_take(k, "generate_src_params", emit_part_if(tr, PART("src_params"), NULL));
    emit_kv_take(k, "generate_encode", emit_part_if(tr, PART("encode"), &e));
}

char *emit_generate(const Plan *p, const char *name, const char *enter, const char *leave,
                    const char *flushes) {
    const Model *m = p->model;
    if (!emit_generates(m))
        return emit_nothing();
    const Stack *s = emit_stack(m, gen_stack(m));
    int tr = m->kind == MODEL_TRANSFORMER;
    KV k = {0}, c = {0};
    state_shape_holes(&k, p, name);
    emit_kv_int(&k, "V", s->emb.vocab);
    emit_kv_int(&k, "max_pos", s->emb.max_positions);
    emit_kv_int(&k, "n_layers", s->n_layers);
    emit_kv_take(&k, "encode", encode_fn(p, name, enter, leave));
    emit_kv_set(&c, "name", name);
    emit_kv_take(&k, "prefill_check", emit_part_if(tr, PART("prefill_check"), &c));
    emit_kv_take(&k, "prefill_S", emit_part(tr ? PART("source_len") : PART("prompt_len"), NULL));
    emit_kv_take(&k, "step_S", emit_part(tr ? PART("source_len") : PART("one"), NULL));
    emit_kv_take(&k, "mem_len", emit_part(tr ? PART("source_lengths") : PART("null"), NULL));
    emit_kv_set(&k, "enter", enter);
    emit_kv_set(&k, "leave", leave);
    emit_kv_take(&k, "prefill_body", layer_calls(p, 0));
    emit_kv_take(&k, "step_body", layer_calls(p, 1));
    emit_kv_set(&k, "flushes", flushes);
    source_holes(&k, m, name);
    return emit_part("generate.c", &k);
}

char *emit_generate_decl(const Model *m, const char *name) {
    if (!emit_generates(m))
        return emit_nothing();
    const Stack *s = emit_stack(m, gen_stack(m));
    KV k = {0}, e = {0};
    emit_kv_set(&k, "name", name);
    emit_kv_int(&k, "V", s->emb.vocab);
    emit_kv_int(&k, "max_pos", s->emb.max_positions);
    emit_kv_set(
        &k, "state_kind",
        s->attention_type == ATT_CAUSAL_LINEAR
            ? "the recurrent state S, Z of every layer (causal_linear: its size does not grow)"
            : "a KV cache per layer (full attention)");
    emit_kv_set(&e, "name", name);
    emit_kv_take(&k, "encode_decl",
                 emit_part_if(m->kind == MODEL_TRANSFORMER, PART("encode_decl"), &e));
    source_holes(&k, m, name);
    return emit_part("model_h_generate", &k);
}
