/* emit_main.c — NAME_main.c, the command-line driver: templates/main.c (float
 * inputs) or main_tokens.c (token ids), the parts that differ by model kind
 * from templates/parts_main.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_int.h"
#include "xfc_config.h"

#define PART(name) "parts_main.c/" name

/* The holes of main.c and main_tokens.c a second sequence fills (a decoder's
 * memory, an encoder-decoder's source); main_tokens.c's source also the bench's. */
static const char *const second_holes[] = {"usage_extra", "usage_extra_str", "main_vars",
                                           "main_flags",  "main_prepare",    "main_free_extra",
                                           NULL};
static const char *const source_holes[] = {"usage_extra",  "usage_extra_str", "main_vars",
                                           "main_flags",   "main_prepare",    "main_free_extra",
                                           "bench_params", "bench_args",      NULL};

/* The holes of a kind without a second sequence. */
static void no_second(KV *k) {
    for (int i = 0; second_holes[i]; i++)
        emit_kv_set(k, second_holes[i], "");
}

/* To each hole H of `holes` (its text in bufs[i]) the snippet
 * parts_main.c/PREFIX_H, all filled with the bindings of `with` (then freed). */
static void append_parts(StrBuf *bufs, const char *prefix, const char *const *holes, KV *with) {
    for (int i = 0; holes[i]; i++) {
        char name[96];
        snprintf(name, sizeof name, PART("%s_%s"), prefix, holes[i]);
        emit_fill_keep(&bufs[i], name, with);
    }
    emit_kv_drop(with);
}

/* Each hole H of `holes` from the snippet parts_main.c/PREFIX_H (see append_parts). */
static void bind_parts(KV *k, const char *prefix, const char *const *holes, KV *with) {
    StrBuf b[16];
    for (int i = 0; holes[i]; i++)
        sb_init(&b[i]);
    append_parts(b, prefix, holes, with);
    for (int i = 0; holes[i]; i++)
        emit_kv_take(k, holes[i], sb_take(&b[i]));
}

/* The holes of main.c that differ by model kind: the second sequence
 * (decoder: --memory; encoder-decoder: --source), the masks (encoder and
 * decoder: --mask; decoder: --memory-mask) and the forward call. */
static void main_kind_holes(KV *k, const Model *m, const char *name) {
    int dec = m->kind == MODEL_DECODER, tr = m->kind == MODEL_TRANSFORMER;
    KV f = {0};
    emit_kv_set(&f, "name", name);
    emit_kv_take(k, "forward_call",
                 emit_part(dec  ? PART("forward_decoder")
                           : tr ? PART("forward_transformer")
                                : PART("forward_encoder"),
                           &f));
    StrBuf b[16];
    for (int i = 0; second_holes[i]; i++)
        sb_init(&b[i]);
    if (dec || tr) {
        KV s = {0};
        emit_kv_set(&s, "flag", dec ? "--memory" : "--source");
        emit_kv_set(&s, "lflag", dec ? "--memory-lengths" : "--source-lengths");
        emit_kv_set(&s, "file", dec ? "M" : "SRC");
        emit_kv_set(&s, "role", dec ? "memory" : "source");
        emit_kv_int(&s, "D", dec ? emit_stack(m, 1)->memory_dimensions : emit_stack(m, 0)->d_model);
        append_parts(b, "second", second_holes, &s);
    }
    if (!tr) { /* fast-transformers' FullMask: [L, S] or [N, L, S], float 0/-inf or bool */
        KV s = {0};
        emit_kv_take(&s, "mem_usage", emit_part_if(dec, PART("memory_mask_usage"), NULL));
        emit_kv_take(&s, "mem_flag", emit_part_if(dec, PART("memory_mask_flag"), NULL));
        emit_kv_take(&s, "mem_len", emit_part(dec ? PART("memory_len") : PART("self_len"), NULL));
        append_parts(b, "mask", second_holes, &s);
    }
    for (int i = 0; second_holes[i]; i++)
        emit_kv_take(k, second_holes[i], sb_take(&b[i]));
}

/* The generation half of main_tokens.c (templates/main_generate.c), or its refusal. */
static void generate_holes(KV *k, const Model *m, const char *name) {
    const Stack *s = emit_stack(m, m->kind == MODEL_ENCODER ? 0 : 1);
    const char *refusal = emit_generate_refusal(m);
    int tr = m->kind == MODEL_TRANSFORMER;
    emit_kv_int(k, "can_generate", refusal == NULL);
    emit_kv_set(k, "cannot_generate", refusal ? refusal : "");
    if (refusal) {
        emit_kv_set(k, "generate_fns", "");
        emit_kv_take(k, "generate_call", emit_part(PART("no_generate_call"), NULL));
        return;
    }
    KV gk = {0}, nk = {0};
    emit_kv_set(&gk, "name", name);
    emit_kv_int(&gk, "V", s->emb.vocab);
    emit_kv_take(&gk, "src_params", emit_part_if(tr, PART("src_params"), NULL));
    emit_kv_take(&gk, "src_args", emit_part_if(tr, PART("src_args"), NULL));
    emit_kv_set(&nk, "name", name);
    emit_kv_take(&gk, "encode_call", emit_part_if(tr, PART("generate_encode"), &nk));
    emit_kv_take(k, "generate_fns", emit_part("main_generate.c", &gk));
    emit_kv_take(k, "generate_call",
                 emit_part(tr ? PART("generate_call_transformer") : PART("generate_call"), NULL));
}

/* The holes of main_tokens.c: ids in, logits out; a Transformer's --source. */
static void main_token_holes(KV *k, const Model *m, const char *name) {
    const Stack *s = emit_stack(m, m->kind == MODEL_ENCODER ? 0 : 1);
    int tr = m->kind == MODEL_TRANSFORMER;
    emit_kv_int(k, "V", s->emb.vocab);
    emit_kv_int(k, "max_pos", s->emb.max_positions);
    emit_kv_int(k, "OUT", s->head.present ? s->emb.vocab : s->d_model);
    emit_kv_int(k, "text_is_input", !tr);
    emit_kv_set(k, "text_role", tr ? "the source" : "the prompt");
    emit_kv_take(k, "input_hint", emit_part_if(tr, PART("source_hint"), NULL));
    generate_holes(k, m, name);
    KV f = {0};
    emit_kv_set(&f, "name", name);
    emit_kv_take(
        k, "forward_call",
        emit_part(tr ? PART("token_forward_transformer") : PART("token_forward_encoder"), &f));
    if (!tr) {
        no_second(k);
        emit_kv_set(k, "bench_params", "");
        emit_kv_set(k, "bench_args", "");
        return;
    }
    KV p = {0};
    emit_kv_int(&p, "src_V", m->enc.emb.vocab);
    emit_kv_int(&p, "src_max_pos", m->enc.emb.max_positions);
    bind_parts(k, "source", source_holes, &p);
}

/* Embedded weights: the .incbin (keeps the bytes out of the C text and the
 * compiler's memory) and the load from them. */
static void embed_holes(KV *k, const char *name, const char *embed_path) {
    if (!embed_path) {
        emit_kv_set(k, "embedded", "0");
        emit_kv_set(k, "load_embedded", "NULL");
        emit_kv_set(k, "embed", "");
        return;
    }
    KV e = {0}, l = {0};
    emit_kv_set(k, "embedded", "1");
    emit_kv_set(&l, "name", name);
    emit_kv_take(&l, "path_lit", emit_c_string(embed_path));
    emit_kv_take(k, "load_embedded", emit_part(PART("load_embedded"), &l));
    emit_kv_set(&e, "name", name);
    emit_kv_set(&e, "path", embed_path);
    emit_kv_take(k, "embed", emit_part(PART("embed"), &e));
}

char *emit_main_c(const Plan *p, const char *spec_name, const char *embed_path) {
    const Model *m = p->model;
    int tokens = emit_is_token_model(m), handlers = emit_has_handlers(p);
    int D = emit_stack(m, m->kind == MODEL_ENCODER ? 0 : 1)->d_model;
    KV k = {0};
    emit_kv_set(&k, "name", m->name);
    emit_kv_set(&k, "version", XFC_VERSION);
    char *about = emit_about(p, spec_name), *version = emit_version(p, spec_name);
    emit_kv_take(&k, "about", emit_c_string(about));
    emit_kv_take(&k, "version_text", emit_c_string(version));
    free(about), free(version);
    if (tokens)
        main_token_holes(&k, m, m->name);
    else
        main_kind_holes(&k, m, m->name);
    /* on where something is instrumented: a listener-free debug build is a release build */
    emit_kv_int(&k, "check_finite_default", handlers);
    /* a build without dispatch points must not pull the handlers in */
    emit_kv_take(&k, "handlers_include", emit_part_if(handlers, PART("handlers_include"), NULL));
    emit_kv_take(&k, "set_events_dir",
                 emit_part(handlers ? PART("set_events_dir") : PART("no_events_dir"), NULL));
    emit_kv_take(
        &k, "handler_failures",
        emit_part(handlers ? PART("handler_failures") : PART("no_handler_failures"), NULL));
    emit_kv_int(&k, "D_IN", D);
    emit_kv_int(&k, "D_OUT", D);
    embed_holes(&k, m->name, embed_path);
    return emit_part(tokens ? "main_tokens.c" : "main.c", &k);
}
