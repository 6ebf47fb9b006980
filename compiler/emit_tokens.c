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
    return get_stack(m, out_stack(m))->emb.present;
}

/* The C field of a stack's embedding: `emb` for the tokens that are
 * generated, `src_emb` for a Transformer's source. */
static const char *emb_field(const Model *m, int stack) {
    return stack == out_stack(m) ? "emb" : "src_emb";
}

char *emit_token_fields(const Model *m) {
    StrBuf b;
    sb_init(&b);
    for (int st = 0; st < 2; st++) {
        if (!has_stack(m, st) || !get_stack(m, st)->emb.present)
            continue;
        const Stack *s = get_stack(m, st);
        sb_printf(&b, "    xf_embedding %s;%*s/* %stoken embedding [%d, %d] and positions */\n", emb_field(m, st),
                  st == out_stack(m) ? 8 : 4, "", source_prefix(m, st), s->emb.vocab, s->d_model);
        if (s->emb.positions == POS_ENC_SINUSOIDAL)
            sb_printf(&b, "    float *%s_pe;%*s/* [%d, %d] sinusoidal table, built at load */\n", emb_field(m, st),
                      st == out_stack(m) ? 12 : 8, "", s->emb.max_positions, s->d_model);
        if (s->head.present)
            sb_printf(&b, "    const float *head_w, *head_b; /* [%d, %d] (transposed), [%d] or NULL */\n", s->d_model,
                      s->emb.vocab, s->emb.vocab);
    }
    return sb_take(&b);
}

/* TENSOR(dst, "name", …) with the name as a C string literal. */
static void tensor_line(StrBuf *b, const char *dst, const char *tensor, int rank, long long d0, long long d1) {
    char *lit = c_string(tensor);
    if (rank == 1)
        sb_printf(b, "    TENSOR(%s, %s, 1, %lld);\n", dst, lit, d0);
    else
        sb_printf(b, "    TENSOR(%s, %s, 2, %lld, %lld);\n", dst, lit, d0, d1);
    free(lit);
}

/* One stack's embedding, positions and head, each tensor checked for shape. */
static void load_stack_tokens(StrBuf *b, const Model *m, int st) {
    const Stack *s = get_stack(m, st);
    const Embedding *e = &s->emb;
    const char *f = emb_field(m, st);
    char dst[64];
    sb_printf(b, "    /* %stoken embedding */\n", source_prefix(m, st));
    snprintf(dst, sizeof dst, "m->%s.tok", f);
    tensor_line(b, dst, e->weight, 2, e->vocab, s->d_model);
    char *scale = c_float(e->scale);
    sb_printf(b, "    m->%s.vocab = %d;\n    m->%s.d = %d;\n    m->%s.max_pos = %d;\n    m->%s.scale = %s;%s\n",
              f, e->vocab, f, s->d_model, f, e->max_positions, f, scale, e->scale_sqrt ? "   /* sqrt(d_model) */" : "");
    free(scale);
    if (e->positions == POS_ENC_SINUSOIDAL) {
        sb_printf(b, "    if (!(m->%s_pe = malloc(sizeof(float) * %lld)))\n"
                     "        return xf_fail(err, \"out of memory for the sinusoidal table [%d, %d]\");\n"
                     "    xf_sinusoidal_table(m->%s_pe, %d, %d);\n    m->%s.pos = m->%s_pe;\n",
                  f, (long long)e->max_positions * s->d_model, e->max_positions, s->d_model, f, e->max_positions,
                  s->d_model, f, f);
    } else if (e->positions == POS_ENC_LEARNED) {
        snprintf(dst, sizeof dst, "m->%s.pos", f);
        tensor_line(b, dst, e->pos_weight, 2, e->max_positions, s->d_model);
    }
    if (!s->head.present)
        return;
    char *w = c_string(s->head.weight ? s->head.weight : e->weight);
    sb_printf(b, "    /* output head%s */\n    WEIGHT(m->head_w, %s, %d, %d, 0, %d);\n",
              s->head.weight ? "" : ": the embedding, transposed (tied)", w, e->vocab, s->d_model, e->vocab);
    free(w);
    if (s->head.bias)
        tensor_line(b, "m->head_b", s->head.bias, 1, e->vocab, 0);
}

void emit_load_tokens(StrBuf *b, const Model *m) {
    for (int st = 0; st < 2; st++)
        if (has_stack(m, st) && get_stack(m, st)->emb.present)
            load_stack_tokens(b, m, st);
}

char *emit_token_free(const Model *m) {
    StrBuf b;
    sb_init(&b);
    for (int st = 0; st < 2; st++)
        if (has_stack(m, st) && get_stack(m, st)->emb.positions == POS_ENC_SINUSOIDAL)
            sb_printf(&b, "    free(m->%s_pe);\n", emb_field(m, st));
    return sb_take(&b);
}

/* The holes both token forwards share. */
static void token_holes(KV *k, const Model *m, const char *name) {
    const Stack *s = get_stack(m, out_stack(m));
    kv_set(k, "name", name);
    kv_int(k, "V", s->emb.vocab);
    kv_int(k, "D", s->d_model);
    kv_int(k, "OUT", s->head.present ? s->emb.vocab : s->d_model);
    kv_int(k, "max_pos", s->emb.max_positions);
    kv_set(k, "out_desc", s->head.present ? "logits" : "hidden states");
    static const char *const pos[] = {"", " + sinusoidal positions", " + learned positions"};
    kv_set(k, "pos_desc", pos[s->emb.positions]);
    if (m->kind == MODEL_TRANSFORMER) {
        kv_int(k, "src_V", m->enc.emb.vocab);
        kv_int(k, "src_max_pos", m->enc.emb.max_positions);
    }
}

char *emit_forward_tokens(const Model *m, const char *name) {
    const Stack *s = get_stack(m, out_stack(m));
    KV k = {0};
    token_holes(&k, m, name);
    StrBuf head;
    sb_init(&head);
    if (s->head.present)
        sb_printf(&head, "        xf_linear(out, x, m->head_w, m->head_b, batch * seq, %d, %d);   /* head */\n",
                  s->d_model, s->emb.vocab);
    else
        sb_printf(&head, "        memcpy(out, x, sizeof(float) * (size_t)batch * (size_t)seq * %d);\n",
                  s->d_model);
    kv_take(&k, "head", sb_take(&head));
    sb_free(&head);
    StrBuf b;
    sb_init(&b);
    fill(&b, m->kind == MODEL_TRANSFORMER ? "forward_tokens_transformer.c" : "forward_tokens_encoder.c", &k);
    return sb_take(&b);
}

char *emit_forward_tokens_decl(const Model *m, const char *name) {
    KV k = {0};
    token_holes(&k, m, name);
    StrBuf b;
    sb_init(&b);
    fill(&b, m->kind == MODEL_TRANSFORMER ? "model_h_forward_tokens_transformer" : "model_h_forward_tokens_encoder",
         &k);
    return sb_take(&b);
}
