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
        if (!has_stack(m, st))
            continue;
        const Stack *s = get_stack(m, st);
        sb_printf(&b, "%s%d layers, d_model %d = %d heads × %d (queries %d), ff %d, %s attention%s, %s, %s-norm%s",
                  m->kind == MODEL_TRANSFORMER ? (st == 0 ? "\n *   encoder: " : "\n *   decoder: ") : ": ",
                  s->n_layers, s->d_model, s->n_heads, s->value_dimensions, s->query_dimensions,
                  s->feed_forward_dimensions, attention_type_name(s->attention_type),
                  s->causal ? " (causal)" : "", s->activation == ACT_GELU ? "gelu" : "relu",
                  s->normalization == NORM_PRE ? "pre" : "post",
                  s->final_normalization ? ", final LayerNorm" : "");
    }
    sb_printf(&b, "\n *   weights: %s names", m->weights == WEIGHTS_TORCH ? "torch" : "fast_transformers");
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

static int any_attention_kept(const Plan *p) {
    for (int i = 0; i < p->n_points; i++)
        if (p->points[i].kept && p->points[i].kind == XF_ATTENTION_EVENT)
            return 1;
    return 0;
}

static int any_kept(const Plan *p) {
    for (int i = 0; i < p->n_points; i++)
        if (p->points[i].kept)
            return 1;
    return 0;
}

static char *model_fields(const Model *m) {
    StrBuf b;
    sb_init(&b);
    for (int st = 0; st < 2; st++) {
        if (!has_stack(m, st))
            continue;
        const Stack *s = get_stack(m, st);
        sb_printf(&b, "    xf_layer_weights %s[%d];%*s/* %slayers.i */\n", stack_field(m, st),
                  s->n_layers, 4, "", source_prefix(m, st));
        if (s->final_normalization)
            sb_printf(&b, "    xf_norm_weights %s;          /* %snorm [%d] */\n", norm_field(m, st),
                      source_prefix(m, st), s->d_model);
    }
    return sb_take(&b);
}

/* One stack's part of the forward: each layer on x, then its final norm. */
static void stack_calls(StrBuf *b, const Model *m, int stack, const char *call, const char *x,
                        const char *memory, const char *rows) {
    const Stack *s = get_stack(m, stack);
    for (int i = 0; i < s->n_layers; i++) {
        if (stack == 0)
            sb_printf(b, "    %s_%d(m, %s, %s, &w);\n", stack_field(m, stack), i, call, x);
        else
            sb_printf(b, "    %s_%d(m, %s, %s, %s, &w);\n", stack_field(m, stack), i, call, x, memory);
    }
    if (s->final_normalization) {
        char *eps = c_float(s->layer_norm_eps);
        sb_printf(b, "    xf_layernorm(%s, %s, m->%s.g, m->%s.b, %s, %d, %s);   /* %snorm */\n", x, x,
                  norm_field(m, stack), norm_field(m, stack), rows, s->d_model, eps, source_prefix(m, stack));
        free(eps);
    }
}

/* The figures collected during the call (`call`: its number) are drawn when it ends. */
static void figure_flushes(StrBuf *b, const Plan *p, const char *call) {
    const Model *m = p->model;
    for (int li = 0; li < m->n_listeners; li++)
        if (m->listeners[li].handler.kind == HANDLER_FIGURE &&
            (p->profile == PROFILE_INSTRUMENT_ALL || (p->profile == PROFILE_DEBUG && listener_used(p, li))))
            sb_printf(b, "    xf_figure_flush(&listener_%d, %s);   /* listener %d draws its figure */\n",
                      li, call, li);
}

/* A generation's heatmaps, assembled from its steps, are drawn when it ends. */
static void heatmap_flushes(StrBuf *b, const Plan *p, const char *call) {
    const Model *m = p->model;
    for (int li = 0; li < m->n_listeners; li++)
        if (m->listeners[li].handler.kind == HANDLER_HEATMAP &&
            (p->profile == PROFILE_INSTRUMENT_ALL || (p->profile == PROFILE_DEBUG && listener_used(p, li))))
            sb_printf(b, "    xf_heatmap_flush(&listener_%d, %s);   /* listener %d draws the generation */\n",
                      li, call, li);
}

/* A mask given to attention of type t (`what`: "mask", "memory mask"): the
 * statement refusing it, or "" where the type takes one (full attention). */
static void mask_refusal(StrBuf *b, AttentionType t, const char *var, const char *what, const char *attention) {
    if (t == ATT_FULL)
        return;
    sb_printf(b, "    if (%s)   /* fast-transformers raises for it too */\n"
                 "        return xf_fail(err, \"a %s applies to full attention only; this model's %s is %s\");\n",
              var, what, attention, attention_type_name(t));
}

/* aft_full's u and v have max_sequence_length rows: a longer call is refused
 * up front.  `self` / `mem` name the call's lengths for each stack. */
static void aft_length_check(StrBuf *b, const Stack *s, int has_cross, const char *self, const char *mem) {
    const char *vars[3] = {NULL, NULL, NULL};
    if (s->attention_type == ATT_AFT_FULL)
        vars[0] = self;
    if (has_cross && s->cross_attention_type == ATT_AFT_FULL)
        vars[vars[0] ? 1 : 0] = self, vars[2] = mem;
    for (int i = 0; i < 3; i++)
        if (vars[i] && !(i == 1 && vars[0] == vars[1]))
            sb_printf(b, "    if (%s > %d)\n        return xf_fail(err, \"%s = %%d exceeds max_sequence_length %d of "
                         "aft_full attention\", %s);\n", vars[i], s->max_sequence_length, vars[i],
                      s->max_sequence_length, vars[i]);
}

static char *length_checks(const Model *m) {
    StrBuf b;
    sb_init(&b);
    if (m->kind == MODEL_ENCODER)
        aft_length_check(&b, &m->enc, 0, "seq", NULL);
    else if (m->kind == MODEL_DECODER)
        aft_length_check(&b, &m->dec, 1, "seq", "mem_seq");
    else {
        aft_length_check(&b, &m->enc, 0, "src_seq", NULL);
        aft_length_check(&b, &m->dec, 1, "tgt_seq", "src_seq");
    }
    return sb_take(&b);
}

/* NAME_forward_masked of an encoder or decoder taking float features. */
static char *masked_api(const Model *m, const char *name) {
    StrBuf b;
    sb_init(&b);
    if (emit_is_token_model(m) || m->kind == MODEL_TRANSFORMER)
        return sb_take(&b);
    const Stack *s = get_stack(m, m->kind == MODEL_ENCODER ? 0 : 1);
    int dec = m->kind == MODEL_DECODER;
    sb_printf(&b, "\n/* The forward with fast-transformers' FullMask (%s). */\n", dec ? "self and memory" : "self");
    sb_printf(&b, "int %s_forward_masked(%s *m, const float *x, int batch, int seq, const int *lengths,\n", name, name);
    if (dec)
        sb_puts(&b, "                     const float *memory, int mem_seq, const int *memory_lengths,\n");
    sb_puts(&b, "                     const float *mask, int mask_batched,\n");
    if (dec)
        sb_puts(&b, "                     const float *memory_mask, int memory_mask_batched,\n");
    sb_puts(&b, "                     float *y, xf_error *err) {\n");
    mask_refusal(&b, s->attention_type, "mask", "mask", "self-attention");
    if (dec)
        mask_refusal(&b, s->cross_attention_type, "memory_mask", "memory mask", "cross-attention");
    sb_printf(&b, "    return forward_masked(m, x, batch, seq, lengths, %smask, mask_batched, %sy, err);\n}\n",
              dec ? "memory, mem_seq, memory_lengths, " : "", dec ? "memory_mask, memory_mask_batched, " : "");
    return sb_take(&b);
}

/* The forward function of the model, by kind. */
static char *emit_forward(const Plan *p, const char *name, int D) {
    const Model *m = p->model;
    StrBuf b, body, enc;
    sb_init(&b);
    sb_init(&body);
    sb_init(&enc);
    KV f = {0};
    kv_set(&f, "name", name);
    kv_int(&f, "D", D);
    kv_int(&f, "DM", m->kind == MODEL_DECODER ? m->dec.memory_dimensions : D);
    const char *tmpl;
    if (m->kind == MODEL_ENCODER) {
        stack_calls(&body, m, 0, "&c", "y", NULL, "batch * seq");
        tmpl = "forward_encoder.c";
    } else if (m->kind == MODEL_DECODER) {
        stack_calls(&body, m, 1, "&c", "y", "memory", "batch * seq");
        tmpl = "forward_decoder.c";
    } else {
        stack_calls(&enc, m, 0, "&ce", "w.mem", NULL, "batch * src_seq");
        stack_calls(&body, m, 1, "&c", "y", "w.mem", "batch * tgt_seq");
        kv_take(&f, "encoder_body", sb_take(&enc));
        tmpl = "forward_transformer.c";
    }
    figure_flushes(&body, p, "c.call");
    kv_take(&f, "body", sb_take(&body));
    kv_take(&f, "masked_api", masked_api(m, name));
    kv_take(&f, "length_checks", length_checks(m));
    if (emit_is_token_model(m)) {
        kv_set(&f, "forward_fn", "static int hidden_forward");   /* NAME_forward takes ids */
    } else {
        char fn[200];
        snprintf(fn, sizeof fn, "int %s_forward", name);
        kv_set(&f, "forward_fn", fn);
    }
    int tracked = p->profile == PROFILE_INSTRUMENT_ALL && m->n_listeners > 0;
    const char *enter = tracked ? "    const void *const outer = in_forward;   /* the spec's listeners act for this call */\n"
                                  "    in_forward = m;\n" : "";
    const char *leave = tracked ? "    in_forward = outer;\n" : "";
    kv_set(&f, "enter", enter);
    kv_set(&f, "leave", leave);
    fill(&b, tmpl, &f);
    if (emit_is_token_model(m)) {
        char *tokens = emit_forward_tokens(m, name);
        sb_puts(&b, tokens);
        free(tokens);
        StrBuf fl;
        sb_init(&fl);
        figure_flushes(&fl, p, "s->call");
        heatmap_flushes(&fl, p, "s->call");
        char *gen = emit_generate(p, name, enter, leave, fl.s);
        sb_puts(&b, gen);
        free(gen);
        sb_free(&fl);
    }
    sb_free(&body);
    sb_free(&enc);
    return sb_take(&b);
}

/* The holes of main.c that differ by model kind: the second sequence
 * (decoder: --memory; encoder-decoder: --source), the masks (encoder and
 * decoder: --mask; decoder: --memory-mask) and the forward call. */
static void main_kind_holes(KV *k, const Model *m, const char *name) {
    char call[500];
    int dec = m->kind == MODEL_DECODER, tr = m->kind == MODEL_TRANSFORMER;
    StrBuf use, use_s, vars, flags, prep, fr;
    sb_init(&use), sb_init(&use_s), sb_init(&vars), sb_init(&flags), sb_init(&prep), sb_init(&fr);
    if (dec || tr) {
        const char *flag = dec ? "--memory" : "--source", *lflag = dec ? "--memory-lengths" : "--source-lengths";
        sb_printf(&use, "\n *       %s %s.npy [%s N,N,...]", flag, dec ? "M" : "SRC", lflag);
        sb_printf(&use_s, "\\n          %s %s.npy [%s N,N,...]", flag, dec ? "M" : "SRC", lflag);
        sb_puts(&vars, "\n    const char *second_path = NULL, *second_lengths_s = NULL;");
        sb_printf(&flags, "\n        else if (!strcmp(a, \"%s\")) second_path = v;"
                          "\n        else if (!strcmp(a, \"%s\")) second_lengths_s = v;", flag, lflag);
        sb_printf(&prep,
                  "    if (!second_path)\n        die(\"%s is required\");\n"
                  "    xf_array second = {0};\n"
                  "    if (xf_npy_read(second_path, &second, &err))\n        die(\"%%s\", err.msg);\n"
                  "    check_input(second_path, &second, %d, \"%s\");\n"
                  "    if (second.shape[0] != batch)\n"
                  "        die(\"%%s: batch %%lld differs from the input's %%d\", second_path, (long long)second.shape[0], batch);\n"
                  "    int *second_lengths = second_lengths_s ? parse_lengths(\"%s\", second_lengths_s, batch) : NULL;\n",
                  flag, dec ? get_stack(m, 1)->memory_dimensions : get_stack(m, 0)->d_model,
                  dec ? "memory" : "source", lflag);
        sb_puts(&fr, "    free(second_lengths);\n    xf_array_free(&second);\n");
    }
    if (!tr) {   /* fast-transformers' FullMask: [L, S] or [N, L, S], float 0/-inf or bool */
        sb_puts(&use, dec ? "\n *       [--mask MASK.npy] [--memory-mask MASK.npy]" : "\n *       [--mask MASK.npy]");
        sb_puts(&use_s, dec ? "\\n          [--mask MASK.npy] [--memory-mask MASK.npy]" : "\\n          [--mask MASK.npy]");
        sb_puts(&vars, "\n    const char *mask_path = NULL, *mem_mask_path = NULL;");
        sb_puts(&flags, "\n        else if (!strcmp(a, \"--mask\")) mask_path = v;");
        if (dec)
            sb_puts(&flags, "\n        else if (!strcmp(a, \"--memory-mask\")) mem_mask_path = v;");
        sb_printf(&prep, "    xf_array mask = {0}, mem_mask = {0};\n"
                         "    if (mask_path && xf_npy_read_mask(mask_path, batch, seq, seq, &mask, &err))\n"
                         "        die(\"%%s\", err.msg);\n"
                         "    if (mem_mask_path && xf_npy_read_mask(mem_mask_path, batch, seq, %s, &mem_mask, &err))\n"
                         "        die(\"%%s\", err.msg);\n", dec ? "(int)second.shape[1]" : "seq");
        sb_puts(&fr, "    xf_array_free(&mask);\n    xf_array_free(&mem_mask);\n");
    }
    if (tr)
        snprintf(call, sizeof call, "%s_forward(m, second.data, batch, (int)second.shape[1], second_lengths, x.data, seq, lengths, y, &err)", name);
    else if (dec)
        snprintf(call, sizeof call, "%s_forward_masked(m, x.data, batch, seq, lengths, second.data, (int)second.shape[1], "
                 "second_lengths, mask.data, mask.rank == 3, mem_mask.data, mem_mask.rank == 3, y, &err)", name);
    else
        snprintf(call, sizeof call, "%s_forward_masked(m, x.data, batch, seq, lengths, mask.data, mask.rank == 3, y, &err)",
                 name);
    kv_take(k, "usage_extra", sb_take(&use));
    kv_take(k, "usage_extra_str", sb_take(&use_s));
    kv_take(k, "main_vars", sb_take(&vars));
    kv_take(k, "main_flags", sb_take(&flags));
    kv_take(k, "main_prepare", sb_take(&prep));
    kv_take(k, "main_free_extra", sb_take(&fr));
    kv_set(k, "forward_call", call);
    sb_free(&use), sb_free(&use_s), sb_free(&vars), sb_free(&flags), sb_free(&prep), sb_free(&fr);
}

/* The holes of main_tokens.c: ids in, logits out; a Transformer's --source. */
static void main_token_holes(KV *k, const Model *m, const char *name) {
    const Stack *s = get_stack(m, m->kind == MODEL_ENCODER ? 0 : 1);
    char buf[1600];
    kv_int(k, "V", s->emb.vocab);
    kv_int(k, "max_pos", s->emb.max_positions);
    kv_int(k, "OUT", s->head.present ? s->emb.vocab : s->d_model);
    const char *refusal = emit_generate_refusal(m);
    kv_int(k, "can_generate", refusal == NULL);
    kv_set(k, "cannot_generate", refusal ? refusal : "");
    int tr = m->kind == MODEL_TRANSFORMER;
    kv_int(k, "text_is_input", !tr);
    kv_set(k, "text_role", tr ? "the source" : "the prompt");
    kv_set(k, "input_hint", tr ? " (the decoder's prompt ids, e.g. its start token)" : "");
    if (refusal) {
        kv_set(k, "generate_fns", "");
        kv_set(k, "generate_call", "(void)output;");
    } else {
        KV gk = {0};
        StrBuf gb;
        sb_init(&gb);
        kv_set(&gk, "name", name);
        kv_int(&gk, "V", s->emb.vocab);
        kv_set(&gk, "src_params", tr ? "const xf_ids *src, const int *src_lengths, " : "");
        kv_set(&gk, "src_args", tr ? "src, src_lengths, " : "");
        snprintf(buf, sizeof buf, "%s_encode(m, s, src->data, src->cols, src_lengths, err) ? -1 : ", name);
        kv_set(&gk, "encode_call", tr ? buf : "");
        fill(&gb, "main_generate.c", &gk);
        kv_take(k, "generate_fns", sb_take(&gb));
        sb_free(&gb);
        kv_set(k, "generate_call", tr ? "run_generate(m, xs, &g, output, src, src_lengths, 0);"
                                      : "run_generate(m, xs, &g, output, 0);");
    }
    if (!tr) {
        kv_set(k, "usage_extra", "");
        kv_set(k, "usage_extra_str", "");
        kv_set(k, "main_vars", "");
        kv_set(k, "main_flags", "");
        kv_set(k, "main_prepare", "");
        kv_set(k, "main_free_extra", "");
        kv_set(k, "bench_params", "");
        kv_set(k, "bench_args", "");
        snprintf(buf, sizeof buf, "%s_forward(m, xs->data, batch, seq, lengths, y, &err)", name);
        kv_set(k, "forward_call", buf);
        return;
    }
    kv_set(k, "usage_extra", "\n *       --source SRC_IDS [--source-lengths N,N,...]   (the encoder's tokens)");
    kv_set(k, "usage_extra_str", "\\n          --source SRC_IDS [--source-lengths N,N,...]");
    kv_set(k, "main_vars", "\n    const char *source_path = NULL, *source_lengths_s = NULL;");
    kv_set(k, "main_flags", "\n        else if (!strcmp(a, \"--source\")) source_path = v;"
                            "\n        else if (!strcmp(a, \"--source-lengths\")) source_lengths_s = v;");
    snprintf(buf, sizeof buf,
             "    xf_ids sx = {0};\n"
             "    if (text)\n        text_ids(vocab, text, &sx);\n"
             "    else if (!source_path)\n        die(\"--source is required (the encoder's token ids)\");\n"
             "    else\n        read_ids(\"--source\", source_path, &sx);\n"
             "    const xf_ids *src = &sx;\n"
             "    const char *source_name = text ? \"--text\" : source_path;\n"
             "    if (sx.rows != batch)\n"
             "        die(\"%%s: batch %%d differs from the input's %%d\", source_name, sx.rows, batch);\n"
             "    if (xf_check_ids(sx.data, (int64_t)sx.rows * sx.cols, sx.cols, %d, source_name, &err))\n"
             "        die(\"%%s\", err.msg);\n"
             "    if (sx.cols > %d)\n"
             "        die(\"%%s: %%d tokens are more than max_positions = %d\", source_name, sx.cols);\n"
             "    int *src_lengths = source_lengths_s ? parse_lengths(\"--source-lengths\", source_lengths_s, batch) : NULL;\n",
             m->enc.emb.vocab, m->enc.emb.max_positions, m->enc.emb.max_positions);
    kv_set(k, "main_prepare", buf);
    kv_set(k, "main_free_extra", "    free(src_lengths);\n    xf_ids_free(&sx);\n");
    kv_set(k, "bench_params", " const xf_ids *src, const int *src_lengths,");
    kv_set(k, "bench_args", " src, src_lengths,");
    snprintf(buf, sizeof buf, "%s_forward(m, src->data, batch, src->cols, src_lengths, xs->data, seq, lengths, y, &err)",
             name);
    kv_set(k, "forward_call", buf);
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

void emit_model(const Plan *p, const char *spec_name, const char *embed_path, Emitted *out) {
    const Model *m = p->model;
    const char *name = m->name;
    Dims mx = {0};
    int max_phi = 0;
    for (int st = 0; st < 2; st++) {
        if (!has_stack(m, st))
            continue;
        const Stack *s = get_stack(m, st);
        for (int cross = 0; cross <= (st == 1); cross++) {
            Dims d = attention_dims(s, cross);
            /* the attention scratch's E: linear attention's is φ's width */
            max_phi = imax(max_phi, feature_map_params(s, d.E).width);
            mx.H = imax(mx.H, d.H), mx.E = imax(mx.E, d.E), mx.DV = imax(mx.DV, d.DV);
            mx.D = imax(mx.D, d.D), mx.F = imax(mx.F, d.F);
        }
        mx.D = imax(mx.D, s->memory_dimensions);   /* the memory buffer's rows */
    }
    int out_stack = m->kind == MODEL_ENCODER ? 0 : 1;
    int D_out = get_stack(m, out_stack)->d_model;

    /* model.c */
    StrBuf c, layers, load;
    sb_init(&c);
    sb_init(&layers);
    sb_init(&load);
    for (int st = 0; st < 2; st++) {
        if (!has_stack(m, st))
            continue;
        for (int i = 0; i < get_stack(m, st)->n_layers; i++) {
            emit_layer(&layers, p, st, i, name, 0);
            if (emit_generates(m) && st == out_stack)
                emit_layer(&layers, p, st, i, name, 1);   /* its generation-step twin */
        }
        emit_load_stack(&load, m, st);
    }
    int tokens = emit_is_token_model(m);
    if (tokens)
        emit_load_tokens(&load, m);
    int handlers = p->profile != PROFILE_RELEASE && any_kept(p);
    KV k = {0};
    kv_set(&k, "name", name);
    kv_set(&k, "version", XFC_VERSION);
    kv_set(&k, "spec_file", spec_name);
    kv_take(&k, "spec_text", spec_model_text(m));
    kv_take(&k, "summary", summary(m));
    kv_take(&k, "points_summary", points_summary(p));
    kv_set(&k, "includes", handlers && tokens ? "#include \"xf_generate.h\"\n#include \"xf_handlers.h\"\n"
                           : handlers     ? "#include \"xf_handlers.h\"\n"
                           : tokens       ? "#include \"xf_generate.h\"\n"
                                          : "");
    StrBuf fields;
    sb_init(&fields);
    char *stack_fields = model_fields(m), *tok_fields = emit_token_fields(m);
    sb_printf(&fields, "%s%s", stack_fields, tok_fields);
    free(stack_fields);
    free(tok_fields);
    kv_take(&k, "model_fields", sb_take(&fields));
    kv_take(&k, "free_extra", emit_token_free(m));
    kv_take(&k, "state_struct", emit_generate_state(p, name));
    if (emit_generates(m)) {
        char ws[200];
        snprintf(ws, sizeof ws, "    struct %s_state *state;   /* a prefill or step: the generation state, else NULL */\n", name);
        kv_set(&k, "ws_state", ws);
    } else {
        kv_set(&k, "ws_state", "");
    }
    kv_set(&k, "extra_fields", p->profile == PROFILE_INSTRUMENT_ALL
                                   ? "    xf_dispatcher *dispatcher;   /* where every point dispatches */\n"
                                   : "");
    kv_int(&k, "max_he", (long long)mx.H * mx.E);
    kv_int(&k, "max_hdv", (long long)mx.H * mx.DV);
    kv_int(&k, "max_d", mx.D);
    kv_int(&k, "max_f", mx.F);
    kv_int(&k, "max_h", mx.H);
    kv_int(&k, "max_e", imax(mx.E, max_phi));
    kv_int(&k, "max_dv", mx.DV);
    int max_local = 0, max_topk = 0;
    for (int st = 0; st < 2; st++)
        if (has_stack(m, st)) {
            max_local = imax(max_local, get_stack(m, st)->local_context);
            max_topk = imax(max_topk, get_stack(m, st)->topk);
        }
    kv_int(&k, "max_local", max_local);
    kv_int(&k, "max_topk", max_topk);
    char mem[64];
    snprintf(mem, sizeof mem, "N * S * %d", mx.D);
    kv_set(&k, "mem_floats", m->kind == MODEL_TRANSFORMER ? mem : "0");
    int att = any_attention_kept(p);
    char buf[400];
    snprintf(buf, sizeof buf, "N * %d * T * T", mx.H);
    kv_set(&k, "attn_floats", att ? buf : "0");
    snprintf(buf, sizeof buf, "(double)N * %d * T * T", mx.H);
    kv_set(&k, "attn_need", att ? buf : "0");
    kv_take(&k, "listeners", emit_listeners(p, name));
    kv_take(&k, "load_body", sb_take(&load));
    kv_set(&k, "load_tail", p->profile == PROFILE_INSTRUMENT_ALL
                                ? "    m->dispatcher = xf_dispatcher_get(\"\");\n    register_listeners(m, m->dispatcher);\n"
                                : "");
    StrBuf api;
    sb_init(&api);
    if (p->profile == PROFILE_INSTRUMENT_ALL)
        sb_printf(&api, "\nvoid %s_set_dispatcher(%s *m, xf_dispatcher *d) {\n"
                        "    m->dispatcher = d;\n    register_listeners(m, d);\n}\n", name, name);
    kv_take(&k, "api_extra", sb_take(&api));
    sb_free(&api);
    kv_take(&k, "layers", sb_take(&layers));
    kv_take(&k, "forward", emit_forward(p, name, D_out));
    fill(&c, "model.c", &k);
    out->model_c = sb_take(&c);
    sb_free(&layers);
    sb_free(&load);

    /* model.h */
    StrBuf h, fdecl;
    sb_init(&h);
    sb_init(&fdecl);
    {
        if (tokens) {
            char *decl = emit_forward_tokens_decl(m, name), *gen = emit_generate_decl(m, name);
            sb_puts(&fdecl, decl);
            sb_puts(&fdecl, gen);
            free(decl);
            free(gen);
        } else {
            KV f = {0};
            kv_set(&f, "name", name);
            kv_int(&f, "D", D_out);
            kv_int(&f, "DM", m->kind == MODEL_DECODER ? m->dec.memory_dimensions : D_out);
            fill(&fdecl, m->kind == MODEL_ENCODER ? "model_h_forward_encoder"
                         : m->kind == MODEL_DECODER ? "model_h_forward_decoder" : "model_h_forward_transformer", &f);
        }
    }
    KV hk = {0};
    kv_set(&hk, "name", name);
    kv_set(&hk, "version", XFC_VERSION);
    kv_set(&hk, "spec_file", spec_name);
    kv_set(&hk, "forward_shapes", tokens ? "(token ids in, see below)"
                                  : m->kind == MODEL_ENCODER ? "(x, y: [batch, seq, d_model])"
                                  : "(see below for the memory / source arguments)");
    kv_take(&hk, "guard", upper_guard(name));
    snprintf(buf, sizeof buf, "    %s_D_MODEL = %d,   /* width of x and y */\n", name, D_out);
    if (tokens) {
        const Stack *ts = get_stack(m, out_stack);
        snprintf(buf, sizeof buf, "    %s_D_MODEL = %d,   /* width of the hidden states */\n"
                                  "    %s_VOCAB = %d,     /* token ids 0..%s_VOCAB-1 */\n"
                                  "    %s_MAX_POSITIONS = %d,\n",
                 name, D_out, name, ts->emb.vocab, name, name, ts->emb.max_positions);
    }
    kv_set(&hk, "dim_enum", buf);
    kv_set(&hk, "embedded_decl", "");
    kv_take(&hk, "forward_decl", sb_take(&fdecl));
    if (p->profile == PROFILE_INSTRUMENT_ALL) {
        StrBuf dd;
        sb_init(&dd);
        sb_printf(&dd, "\n/* Instrument-all build: every dispatch point goes to this dispatcher\n"
                       " * (default: xf_dispatcher_get(\"\")); the spec's listeners are registered there. */\n"
                       "void %s_set_dispatcher(%s *m, xf_dispatcher *d);\n", name, name);
        kv_take(&hk, "dispatcher_decl", sb_take(&dd));
        sb_free(&dd);
    } else {
        kv_set(&hk, "dispatcher_decl", "");
    }
    fill(&h, "model.h", &hk);
    out->model_h = sb_take(&h);
    sb_free(&h);
    sb_free(&fdecl);

    /* main.c */
    StrBuf mc;
    sb_init(&mc);
    KV mk = {0};
    kv_set(&mk, "name", name);
    kv_set(&mk, "version", XFC_VERSION);
    char *about = emit_about(p, spec_name), *version = emit_version(p, spec_name);
    kv_take(&mk, "about", c_string(about));
    kv_take(&mk, "version_text", c_string(version));
    free(about), free(version);
    if (tokens)
        main_token_holes(&mk, m, name);
    else
        main_kind_holes(&mk, m, name);
    /* on where something is instrumented: a listener-free debug build is a release build */
    kv_int(&mk, "check_finite_default", handlers);
    /* a build without dispatch points must not pull the handlers in */
    kv_set(&mk, "handlers_include", handlers ? "#include \"xf_handlers.h\"\n" : "");
    kv_set(&mk, "handler_failures", handlers ? "xf_handler_failures()" : "0");
    kv_set(&mk, "set_events_dir", handlers ? "    xf_set_events_dir(events_dir);\n"
                                           : "    (void)events_dir;   /* no handlers in this build */\n");
    kv_int(&mk, "D_IN", D_out);
    kv_int(&mk, "D_OUT", D_out);
    if (embed_path) {
        StrBuf e;
        sb_init(&e);
        char *lit = c_string(embed_path);
        sb_printf(&e, "%s_load_memory(%s_embedded, (size_t)(%s_embedded_end - %s_embedded), %s, &err)",
                  name, name, name, name, lit);
        kv_set(&mk, "embedded", "1");
        kv_take(&mk, "load_embedded", sb_take(&e));
        sb_free(&e);
        free(lit);
    } else {
        kv_set(&mk, "embedded", "0");
        kv_set(&mk, "load_embedded", "NULL");
    }
    StrBuf emb;
    sb_init(&emb);
    if (embed_path) {
        /* .incbin keeps the bytes out of the C text (and the compiler's memory) */
        sb_printf(&emb, "\n/* The weights, embedded at build time from %s. */\n"
                       "__asm__(\".section .rodata\\n.balign 64\\n\"\n"
                       "        \".global %s_embedded\\n%s_embedded:\\n\"\n"
                       "        \".incbin \\\"%s\\\"\\n\"\n"
                       "        \".global %s_embedded_end\\n%s_embedded_end:\\n.previous\\n\");\n",
                  embed_path, name, name, embed_path, name, name);
        sb_printf(&emb, "extern const unsigned char %s_embedded[], %s_embedded_end[];\n", name, name);
    }
    kv_take(&mk, "embed", sb_take(&emb));
    sb_free(&emb);
    fill(&mc, tokens ? "main_tokens.c" : "main.c", &mk);
    out->main_c = sb_take(&mc);
    sb_free(&mc);
}

void emit_free(Emitted *e) {
    free(e->model_c);
    free(e->model_h);
    free(e->main_c);
    memset(e, 0, sizeof *e);
}
