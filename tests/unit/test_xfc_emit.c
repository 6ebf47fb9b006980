/* test_xfc_emit.c — compiler/emit*.c and fill.c: the lines the emitter
 * writes for a plan.  Dispatch blocks and guards only where a listener is
 * subscribed and none in release; the attention matrix materialized only at
 * an AttentionEvent point (under its guard); layers without a point share one
 * function called in a loop, as their loading does; designated initialisers;
 * the named snippets of templates/parts_*.in.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "templates.h"
#include "xfc_test.h"

static Spec spec;
static Model model;
static Plan plan;
static Emitted em;

#define ENCODER(n_layers, listeners)                                                               \
    "model enc : TransformerEncoder {\n    n_layers = " #n_layers "\n    n_heads = 4\n"            \
    "    query_dimensions = 64\n    value_dimensions = 64\n    feed_forward_dimensions = "         \
    "1024\n}\n" listeners

/* Parses, checks, plans and emits `text` (each step must succeed). */
static void emitted(const char *text, Profile profile) {
    test_src("e.xf", text, strlen(text));
    cr_assert_eq(parse_spec(&src, &spec), 0);
    cr_assert_eq(check_spec(&spec, &src, &model), 0);
    cr_assert_eq(plan_build(&model, profile, &plan), 0);
    emit_model(&plan, "e.xf", NULL, &em);
}

static void teardown(void) {
    emit_free(&em);
    plan_free(&plan);
    test_src_free();
}

static int lines(const char *text) {
    return count(text, "\n");
}

TestSuite(emit, .fini = teardown);

Test(emit, release_has_no_dispatch_and_one_shared_layer) {
    emitted(
        ENCODER(4, "listen AttentionEvent -> stats\nlisten QKVEvent -> save(\"q/{source}.npy\")\n"),
        PROFILE_RELEASE);
    const char *c = em.model_c;
    cr_expect_eq(count(c, "dispatch point"), 0);
    cr_expect_eq(count(c, "xf_dispatch"), 0);
    cr_expect_eq(count(c, "listener_"), 0);
    cr_expect_eq(count(c, "xf_handlers.h"), 0);
    /* no matrix materialized: the layers run in blocks of rows */
    cr_expect_eq(count(c, "float *const A"), 0, "%s", c);
    cr_expect_eq(count(c, "xf_attention_rows("), 1);
    cr_expect_eq(
        count(c, "static void layer(enc *m, const xf_call *c, int l, float *x, const ws_t *w) {"),
        1);
    cr_expect_eq(count(c, "static void layers_"), 0);
    cr_expect_eq(count(c, "    for (int l = 0; l < 4; l++)\n        layer(m, &c, l, y, &w);\n"), 1);
    cr_expect_eq(count(em.main_c, "xf_handlers.h"), 0);
    cr_expect_eq(count(em.main_c, "(void)events_dir;"), 1);
}

Test(emit, debug_gives_a_layer_its_own_function_only_where_a_point_is) {
    emitted(
        ENCODER(4,
                "listen QKVEvent & from_layer(layers[2].attention) -> save(\"q/{field}.npy\")\n"),
        PROFILE_DEBUG);
    const char *c = em.model_c;
    cr_expect_eq(count(c, "dispatch point:"), 1);
    cr_expect_eq(count(c, "dispatch point: QKVEvent from \"layers.2.attention\""), 1);
    cr_expect_eq(
        count(c,
              "static void layers_2(enc *m, const xf_call *c, int l, float *x, const ws_t *w) {"),
        1);
    cr_expect_eq(count(c, "static void layer("), 1);
    cr_expect(strstr(c, "    for (int l = 0; l < 2; l++)\n        layer(m, &c, l, y, &w);\n"
                        "    layers_2(m, &c, 2, y, &w);\n    layer(m, &c, 3, y, &w);\n"),
              "the forward calls the shared function around layer 2's own:\n%s", c);
    cr_expect_eq(count(c, "xf_save(&ev, &listener_0);"), 1);
    cr_expect_eq(count(c, "static xf_save_cfg listener_0 = {.pattern = \"q/{field}.npy\"};"), 1);
    cr_expect_eq(count(c, "float *const A = NULL;"), 2, "no AttentionEvent: nothing materialized");
}

Test(emit, guards_and_materialization) {
    emitted(ENCODER(2, "listen AttentionEvent & (attention_matrix.shape[3] == 100) -> stats\n"),
            PROFILE_DEBUG);
    const char *c = em.model_c;
    cr_expect_eq(count(c, "dispatch point: AttentionEvent"), 2);
    cr_expect_eq(count(c, "? w->A : NULL;   /* materialized only when a guard holds */"), 2, "%s",
                 c);
    cr_expect_eq(count(c, "            if (c->T == 100)\n                xf_stats(&ev, NULL);"), 2,
                 "%s", c);
    teardown();
    emitted(ENCODER(2, "listen AttentionEvent & within(layers[1].attention) -> stats\n"),
            PROFILE_DEBUG);
    c = em.model_c;
    cr_expect_eq(count(c, "float *const A = w->A;   /* AttentionEvent listened to: materialize */"),
                 1);
    cr_expect_eq(count(c, "float *const A = NULL;"), 1);
}

Test(emit, instrument_all_has_every_point_behind_the_dispatcher) {
    emitted(ENCODER(3, "listen AttentionEvent -> stats\n"), PROFILE_INSTRUMENT_ALL);
    const char *c = em.model_c;
    for (int i = 0; i < 3; i++) {
        char fn[96];
        snprintf(fn, sizeof fn, "static void layers_%d(enc *m", i);
        cr_expect_eq(count(c, fn), 1, "layer %d has its own function", i);
    }
    cr_expect_eq(count(c, "static void layer("), 0);
    cr_expect_eq(count(c, "xf_dispatch(m->dispatcher, &ev);"), 9); /* QKV, attention, output × 3 */
    cr_expect_eq(
        count(c, "if (xf_dispatcher_wants(m->dispatcher, XF_QKV_EVENT, \"layers.0.attention\")) {"),
        1);
    cr_expect_eq(count(c, "xf_listen(d, listener_0_filter(), listener_0_handler, NULL);"), 1);
    cr_expect_eq(count(em.model_h, "void enc_set_dispatcher(enc *m, xf_dispatcher *d);"), 1);
}

Test(emit, load_lines_one_function_a_stack_in_a_loop) {
    /* every layer's attention is seen: the layers run whole */
    emitted(ENCODER(4, "listen AttentionEvent -> stats\n"), PROFILE_DEBUG);
    const char *c = em.model_c;
    cr_expect_eq(
        count(c, "static int load_layer(enc *m, xf_layer_weights *p, int l, xf_error *err) {"), 1);
    cr_expect_eq(
        count(c, "#define AT(suffix) (snprintf(t, sizeof t, \"layers.%d.\" suffix, l), t)"), 1);
    /* a self-attention's Q/K/V: all of in_proj as one operand, one product */
    cr_expect_eq(
        count(c, "    WEIGHT(p->self.qkv_w, AT(\"self_attn.in_proj_weight\"), 768, 256, 0, 768);"),
        1);
    cr_expect_eq(count(c, "    TENSOR(p->self.qkv_b, AT(\"self_attn.in_proj_bias\"), 1, 768);"), 1);
    cr_expect_eq(count(c, "xf_linear(w->q, x, p->self.qkv_w, p->self.qkv_b, n, 256, 768);"), 4);
    cr_expect_eq(count(c, ".ldq = 768, .ldk = 768, .ldv = 768"), 4); /* a function per layer */
    cr_expect_eq(count(c, "(w->att, A, w->q, w->q + 256, w->q + 512, &sh, w->scratch);"), 4);
    cr_expect_eq(count(c, "    TENSOR(p->norm2.b, AT(\"norm2.bias\"), 1, 256);"), 1);
    cr_expect_eq(count(c, "        if (load_layer(m, &m->layers[l], l, err))"), 1);
    cr_expect_eq(count(c, "TENSOR(m->norm.g, \"norm.weight\", 1, 256);"), 1);
    cr_expect_eq(count(c, "xf_attention_rows("), 0);
}

/* Where no point shows an encoder's attention, its layers run in blocks of
 * rows: queries and keys|values loaded as two operands, the keys and values
 * of every row first, then per block the queries and attention, and the
 * workspace holds a block's buffers besides the keys and values. */
Test(emit, unseen_attention_runs_in_blocks_of_rows) {
    /* one kept attention point in the stack keeps its layers whole */
    emitted(ENCODER(4, "listen QKVEvent & within(layers[3]) -> stats\n"), PROFILE_DEBUG);
    cr_expect_eq(count(em.model_c, "xf_attention_rows("), 0);
    cr_expect_eq(count(em.model_c, "p->self.qkv_w, p->self.qkv_b, n, 256, 768);"), 2);
    teardown();
    /* IntermediateOutput is x after the layer: blocks of rows still */
    emitted(ENCODER(4, "listen IntermediateOutput -> stats\n"), PROFILE_DEBUG);
    const char *c = em.model_c;
    cr_expect_eq(
        count(c, "    WEIGHT(p->self.q_w, AT(\"self_attn.in_proj_weight\"), 768, 256, 0, 256);"),
        1);
    cr_expect_eq(
        count(c, "    WEIGHT(p->self.kv_w, AT(\"self_attn.in_proj_weight\"), 768, 256, 256, 512);"),
        1);
    cr_expect_eq(count(c, "    p->self.kv_b = p->self.q_b + 256;"), 1);
    cr_expect_eq(count(c, "p->self.qkv_w"), 0);
    cr_expect_eq(count(c, "xf_linear_kv(w->kv, c->N, c->L, r, x + (int64_t)r * 256, p->self.kv_w,"),
                 4); /* a function per layer: each has its point */
    cr_expect_eq(count(c, "xf_linear(w->q, xb, p->self.q_w, p->self.q_b, rows, 256, 256);"), 4);
    cr_expect_eq(count(c, "xf_attention_rows(w->att, w->q, w->kv, &sh, r, rows, w->scratch);"), 4);
    cr_expect_eq(count(c, "    CARVE(q, B * 256);"), 1);
    cr_expect_eq(count(c, "    CARVE(kv, N * T * 512);"), 1);
    cr_expect_eq(count(c, ".ldk = 64, .ldv = 64};"), 1); /* the planes: no packed head in scratch */
    cr_expect_eq(count(c, ".kind = XF_INTERMEDIATE_OUTPUT"), 4);
}

Test(emit, a_percent_in_weights_prefix_stays_literal) {
    emitted("model enc : TransformerEncoder {\n    n_layers = 1\n    n_heads = 1\n    "
            "query_dimensions = 4\n"
            "    value_dimensions = 4\n    feed_forward_dimensions = 8\n    weights_prefix = "
            "\"a%d.\"\n}\n",
            PROFILE_RELEASE);
    cr_expect_eq(count(em.model_c, "\"a%%d.layers.%d.\" suffix"), 1, "%s", em.model_c);
}

Test(emit, designated_initialisers_and_no_memory_for_an_encoder) {
    emitted(ENCODER(1, "listen QKVEvent -> stats\n"), PROFILE_DEBUG); /* whole layers */
    const char *c = em.model_c;
    cr_expect_eq(
        count(
            c,
            "const xf_attn_shape sh = {.N = c->N, .L = c->L, .S = c->L, .H = 4, .E = 64, .D = 64,"),
        1);
    /* full attention takes fast-transformers' FullMask (NAME_forward_masked) */
    cr_expect_eq(count(c, ".key_len = c->len, .causal = 0, .temp = 0.125f, .ldq = 768, .ldk = 768, "
                          ".ldv = 768, .mask = c->mask, .mask_batched = c->mask_batched};"),
                 1);
    cr_expect_eq(count(c, "CARVE(mem"), 0);
    cr_expect_eq(count(c, "float *mem;"), 0);
}

Test(emit, aft_full_takes_its_position_bias_and_refuses_a_mask) {
    emitted("model aft : TransformerEncoder {\n    weights = fast_transformers\n    n_layers = 2\n "
            "   n_heads = 4\n"
            "    query_dimensions = 6\n    value_dimensions = 6\n    feed_forward_dimensions = 40\n"
            "    attention_type = aft_full\n    max_sequence_length = 16\n    aft_parameterization "
            "= 5\n}\n",
            PROFILE_RELEASE);
    const char *c = em.model_c;
    cr_expect_eq(count(c, ".aft_u = p->self.aft_u, .aft_v = p->self.aft_v, .aft_rank = 5};"), 1,
                 "%s", c);
    cr_expect_eq(count(c, "xf_aft_attention(w->att"), 1);
    cr_expect_eq(count(c, ".mask = c->mask"), 0);
    cr_expect_eq(count(c, "TENSOR(p->self.aft_u, AT(\"attention.inner_attention.u\"), 2, 16, 5);"),
                 1);
    cr_expect_eq(count(c, "if (seq > 16)"), 1);
    cr_expect_eq(count(c, "if (mask)   /* fast-transformers raises for it too */"), 1);
}

/* local (self) and exact_topk (cross) take fast-transformers' FullMask: the
 * mask reaches their kernels and nothing refuses it. */
Test(emit, local_and_exact_topk_take_a_mask) {
    emitted("model d : TransformerDecoder {\n    n_layers = 1\n    n_heads = 2\n"
            "    query_dimensions = 4\n    value_dimensions = 4\n    feed_forward_dimensions = 8\n"
            "    attention_type = local\n    local_context = 5\n"
            "    cross_attention_type = exact_topk\n    topk = 3\n}\n",
            PROFILE_RELEASE);
    const char *c = em.model_c;
    cr_expect_eq(count(c, ".local_context = 5, .mask = c->mask, .mask_batched = c->mask_batched};"),
                 1, "%s", c);
    cr_expect_eq(count(c, ".topk = 3, .mask = c->mem_mask, .mask_batched = c->mem_mask_batched};"),
                 1);
    cr_expect_eq(count(c, "fast-transformers raises for it too"), 0);
}

Test(emit, conditional_full_picks_its_kernel_by_the_call_length) {
    emitted("model c : TransformerDecoder {\n    n_layers = 1\n    n_heads = 2\n"
            "    query_dimensions = 4\n    value_dimensions = 4\n    feed_forward_dimensions = 8\n"
            "    attention_type = conditional_full\n    cross_attention_type = conditional_full\n"
            "    length_limit = 64\n    fallback = linear\n}\n",
            PROFILE_RELEASE);
    const char *c = em.model_c;
    cr_expect_eq(count(c, "(c->L > 64 ? xf_linear_attention : xf_attention)(w->att"), 1, "%s", c);
    cr_expect_eq(count(c, "(c->L > 64 || c->S > 64 ? xf_linear_attention : xf_attention)(w->att"),
                 1);
    /* full attention takes the mask; linear refuses it above the limit only */
    cr_expect_eq(count(c, ".mask = c->mask, .mask_batched = c->mask_batched};"), 1);
    cr_expect_eq(count(c, "if (mask && seq > 64)   /* fast-transformers raises for it too */"), 1);
    cr_expect_eq(count(c, "if (memory_mask && (seq > 64 || mem_seq > 64))"), 1);
}

Test(emit, reformer_takes_its_planes_settings_and_a_mask) {
    emitted("model r : TransformerEncoder {\n    weights = fast_transformers\n    n_layers = 1\n"
            "    n_heads = 2\n    query_dimensions = 4\n    value_dimensions = 4\n"
            "    feed_forward_dimensions = 8\n    attention_type = reformer\n    chunk_size = 8\n"
            "    rounds = 2\n    bits = 5\n    masked = true\n    random_seed = 7\n}\n",
            PROFILE_RELEASE);
    const char *c = em.model_c;
    cr_expect_eq(count(c, "xf_reformer_attention(w->att"), 1, "%s", c);
    cr_expect_eq(count(c, ".mask = c->mask, .mask_batched = c->mask_batched, .chunk_size = 8, "
                          ".rounds = 2, .bits = 5, .masked = 1, .planes = p->self.planes};"),
                 1);
    cr_expect_eq(count(c, "p->self.planes = xf_random_normal_load(m->file, "
                          "AT(\"attention.inner_attention.planes\"), 3, (const int64_t[3]){ 2, 5, "
                          "4 }, 7ULL, err);"),
                 1);
    cr_expect_eq(count(c, ".topk = 32}, .chunk_size = 8, .rounds = 2, .bits = 5};"), 1, "%s", c);
    cr_expect_eq(count(c, "if (seq % 8 != 0)"), 1);
    cr_expect_eq(count(c, "if (mask)   /* fast-transformers raises for it too */"), 0);
}

Test(emit, a_transformer_carves_its_memory) {
    emitted(
        "model t : Transformer {\n    encoder {\n        n_layers = 2\n        n_heads = 2\n"
        "        query_dimensions = 8\n        value_dimensions = 8\n        "
        "feed_forward_dimensions = 32\n    }\n"
        "    decoder {\n        n_layers = 2\n        n_heads = 2\n        query_dimensions = 8\n"
        "        value_dimensions = 8\n        feed_forward_dimensions = 32\n    }\n}\n",
        PROFILE_RELEASE);
    const char *c = em.model_c;
    cr_expect_eq(count(c, "    CARVE(mem, N * S * 16);"), 1, "%s", c);
    cr_expect_eq(
        count(
            c,
            "static void encoder_layer(t *m, const xf_call *c, int l, float *x, const ws_t *w) {"),
        1);
    cr_expect_eq(count(c, "static void decoder_layer(t *m, const xf_call *c, int l, float *x, "
                          "const float *memory,"),
                 1);
    cr_expect_eq(count(c, "        decoder_layer(m, &c, l, y, w.mem, &w);"), 1);
    cr_expect_eq(count(c, "static int load_decoder_layer(t *m"), 1);
}

/* Post-norm layers write t only after attention has read q: one buffer for
 * both, as wide as the wider (d_model 32 > 2 heads × 8 queries here).  A
 * pre-norm stack projects q from t, so any pre-norm stack keeps t its own. */
Test(emit, post_norm_t_shares_q) {
    emitted("model e : TransformerEncoder {\n    weights = fast_transformers\n    n_layers = 1\n   "
            " n_heads = 2\n"
            "    query_dimensions = 8\n    value_dimensions = 16\n"
            "    feed_forward_dimensions = 64\n}\n",
            PROFILE_DEBUG);
    const char *c = em.model_c;
    cr_expect_eq(count(c, "    CARVE(q, B * 32);"), 1, "%s", c); /* blocks of rows */
    cr_expect_eq(count(c, "    w->t = w->q;"), 1);
    cr_expect_eq(count(c, "CARVE(t,"), 0);
}

Test(emit, pre_norm_t_has_its_own_buffer) {
    emitted("model t : Transformer {\n    encoder {\n        n_layers = 1\n        n_heads = 2\n"
            "        query_dimensions = 8\n        value_dimensions = 8\n"
            "        feed_forward_dimensions = 32\n    }\n"
            "    decoder {\n        n_layers = 1\n        n_heads = 2\n"
            "        query_dimensions = 8\n        value_dimensions = 8\n"
            "        feed_forward_dimensions = 32\n        normalization = pre\n    }\n}\n",
            PROFILE_RELEASE);
    const char *c = em.model_c;
    cr_expect_eq(count(c, "    CARVE(q, N * T * 16);"), 1, "%s", c);
    cr_expect_eq(count(c, "    CARVE(t, N * T * 16);"), 1);
    cr_expect_eq(count(c, "w->t = w->q"), 0);
}

Test(emit, twenty_four_layers_are_not_twenty_four_copies) {
    emitted(ENCODER(4, ""), PROFILE_RELEASE);
    int four = lines(em.model_c);
    teardown();
    emitted(ENCODER(24, ""), PROFILE_RELEASE);
    cr_expect_eq(lines(em.model_c), four, "4 layers: %d lines, 24 layers: %d", four,
                 lines(em.model_c));
    cr_expect_eq(count(em.model_c, "for (int l = 0; l < 24; l++)"),
                 2); /* the forward and the loading */
}

Test(emit, snippets) {
    size_t n;
    const char *s = tmpl_get_n("parts_layers.c/kernel_local", &n);
    cr_expect_eq(n, strlen("xf_local_attention"));
    cr_expect(!strncmp(s, "xf_local_attention", n));
    s = tmpl_get_n("parts_main.c/second_main_free_extra", &n); /* a block: whole lines */
    cr_expect_eq(n, strlen("    free(second_lengths);\n    xf_array_free(&second);\n"));
    cr_expect(!strncmp(s, "    free(second_lengths);\n    xf_array_free(&second);\n", n));
    s = tmpl_get_n("parts_main.c/second_main_vars", &n); /* `~`: without its last newline */
    cr_expect_eq(n, strlen("\n    const char *second_path = NULL, *second_lengths_s = NULL;"));
    cr_expect_eq(s[n - 1], ';');
}
