/* emit_tokens.c — a token model (SPEC §8): its embedding, positions and head
 * as model fields, their loading with shape checks, and NAME_forward on ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_int.h"

/* The stack whose tokens come out: the encoder of a TransformerEncoder, else the decoder. */
static int out_stack(const Model *m) {
    return m->kind == MODEL_ENCODER ? 0 : 1;
}

int emit_is_token_model(const Model *m) {
    return emit_stack(m, out_stack(m))->emb.present;
}

/* The C field of a stack's embedding: `emb` for the tokens that are
 * generated, `src_emb` for a Transformer's source. */
static const char *emb_field(const Model *m, int stack) {
    return stack == out_stack(m) ? "emb" : "src_emb";
}

#define PART(name) "parts_tokens.c/" name

/* The holes of a stack's embedding pieces. */
static void emb_holes(KV *k, const Model *m, int st) {
    const Stack *s = emit_stack(m, st);
    emit_kv_set(k, "f", emb_field(m, st));
    emit_kv_set(k, "prefix", emit_source_prefix(m, st));
    emit_kv_int(k, "V", s->emb.vocab);
    emit_kv_int(k, "D", s->d_model);
    emit_kv_int(k, "P", s->emb.max_positions);
    emit_kv_int(k, "PD", (long long)s->emb.max_positions * s->d_model);
    emit_kv_set(k, "pad", st == out_stack(m) ? "            " : "        ");
}

char *emit_token_fields(const Model *m) {
    StrBuf b;
    sb_init(&b);
    for (int st = 0; st < 2; st++) {
        if (!emit_has_stack(m, st) || !emit_stack(m, st)->emb.present)
            continue;
        const Stack *s = emit_stack(m, st);
        KV f = {0}, p = {0}, h = {0};
        emb_holes(&f, m, st);
        emit_fill(&b, st == out_stack(m) ? PART("emb_field") : PART("src_emb_field"), &f);
        emb_holes(&p, m, st);
        if (s->emb.positions == POS_ENC_SINUSOIDAL)
            emit_fill(&b, PART("pe_field"), &p);
        else
            emit_kv_drop(&p);
        emb_holes(&h, m, st);
        if (s->head.present)
            emit_fill(&b, PART("head_field"), &h);
        else
            emit_kv_drop(&h);
    }
    return sb_take(&b);
}

/* One piece of a stack's embedding loading; `tensor` (a weight name) may be NULL. */
static void load_piece(StrBuf *b, const Model *m, int st, const char *part, const char *tensor) {
    KV k = {0};
    emb_holes(&k, m, st);
    emit_kv_take(&k, "tensor", emit_c_string(tensor ? tensor : ""));
    const Embedding *e = &emit_stack(m, st)->emb;
    emit_kv_take(&k, "scale", emit_c_float(e->scale));
    emit_kv_take(&k, "sqrt", emit_part_if(e->scale_sqrt, PART("sqrt_note"), NULL));
    emit_kv_take(&k, "tied",
                 emit_part_if(!emit_stack(m, st)->head.weight, PART("tied_note"), NULL));
    emit_fill(b, part, &k);
}

/* One stack's embedding, positions and head, each tensor checked for shape. */
static void load_stack_tokens(StrBuf *b, const Model *m, int st) {
    const Stack *s = emit_stack(m, st);
    const Embedding *e = &s->emb;
    load_piece(b, m, st, PART("load_embedding"), e->weight);
    if (e->positions == POS_ENC_SINUSOIDAL)
        load_piece(b, m, st, PART("load_sinusoidal"), NULL);
    else if (e->positions == POS_ENC_LEARNED)
        load_piece(b, m, st, PART("load_learned"), e->pos_weight);
    if (!s->head.present)
        return;
    load_piece(b, m, st, PART("load_head"), s->head.weight ? s->head.weight : e->weight);
    if (s->head.bias)
        load_piece(b, m, st, PART("load_head_bias"), s->head.bias);
}

void emit_load_tokens(StrBuf *b, const Model *m) {
    for (int st = 0; st < 2; st++)
        if (emit_has_stack(m, st) && emit_stack(m, st)->emb.present)
            load_stack_tokens(b, m, st);
}

char *emit_token_free(const Model *m) {
    StrBuf b;
    sb_init(&b);
    for (int st = 0; st < 2; st++)
        if (emit_has_stack(m, st) && emit_stack(m, st)->emb.positions == POS_ENC_SINUSOIDAL) {
            KV k = {0};
            emit_kv_set(&k, "f", emb_field(m, st));
            emit_fill(&b, PART("free_pe"), &k);
        }
    return sb_take(&b);
}

/* The holes both token forwards share. */
static void token_holes(KV *k, const Model *m, const char *name) {
    const Stack *s = emit_stack(m, out_stack(m));
    emit_kv_set(k, "name", name);
    emit_kv_int(k, "V", s->emb.vocab);
    emit_kv_int(k, "D", s->d_model);
    emit_kv_int(k, "OUT", s->head.present ? s->emb.vocab : s->d_model);
    emit_kv_int(k, "max_pos", s->emb.max_positions);
    emit_kv_set(k, "out_desc", s->head.present ? "logits" : "hidden states");
    static const char *const pos[] = {"", " + sinusoidal positions", " + learned positions"};
    emit_kv_set(k, "pos_desc", pos[s->emb.positions]);
    if (m->kind == MODEL_TRANSFORMER) {
        emit_kv_int(k, "src_V", m->enc.emb.vocab);
        emit_kv_int(k, "src_max_pos", m->enc.emb.max_positions);
    }
}

char *emit_forward_tokens(const Model *m, const char *name) {
    const Stack *s = emit_stack(m, out_stack(m));
    KV k = {0};
    token_holes(&k, m, name);
    KV h = {0};
    emit_kv_int(&h, "D", s->d_model);
    emit_kv_int(&h, "V", s->emb.vocab);
    emit_kv_take(&k, "head", emit_part(s->head.present ? PART("head") : PART("no_head"), &h));
    StrBuf b;
    sb_init(&b);
    emit_fill(&b,
              m->kind == MODEL_TRANSFORMER ? "forward_tokens_transformer.c"
                                           : "forward_tokens_encoder.c",
              &k);
    return sb_take(&b);
}

char *emit_forward_tokens_decl(const Model *m, const char *name) {
    KV k = {0};
    token_holes(&k, m, name);
    StrBuf b;
    sb_init(&b);
    emit_fill(&b,
              m->kind == MODEL_TRANSFORMER ? "model_h_forward_tokens_transformer"
                                           : "model_h_forward_tokens_encoder",
              &k);
    return sb_take(&b);
}
