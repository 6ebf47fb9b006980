/* test_xfc_check.c — compiler/check.c: defaults equal fast-transformers'
 * builder table (SPEC §2), settings resolve (Transformer blocks override the
 * top level, string/identifier forms of attention types), and every class
 * of error is reported at its line:col with its message and hint, all of
 * them in one run.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "xfc_test.h"

static Spec spec;
static Model model;

/* Parses (must succeed) and checks `text` as "t.xf"; returns check's errors. */
static int check(const char *text) {
    test_src("t.xf", text, strlen(text));
    int pe = parse_spec(&src, &spec);
    fflush(out_f);
    cr_assert_eq(pe, 0, "the test spec must parse:\n%s", out_buf);
    int e = check_spec(&spec, &src, &model);
    fflush(out_f);
    return e;
}

static void teardown(void) {
    test_src_free();
}

TestSuite(check, .fini = teardown);

#define ENC(body) "model m : TransformerEncoder {\n" body "\n}\n"

/* ---- defaults and resolution -------------------------------------------- */

static void assert_default_stack(const Stack *s) {
    cr_assert_eq(s->n_layers, 4);
    cr_assert_eq(s->n_heads, 4);
    cr_assert_eq(s->query_dimensions, 64);
    cr_assert_eq(s->value_dimensions, 64);
    cr_assert_eq(s->d_model, 256);
    cr_assert_eq(s->feed_forward_dimensions, 1024);
    cr_assert_eq(s->attention_type, ATT_FULL);
    cr_assert_eq(s->cross_attention_type, ATT_FULL);
    cr_assert_eq(s->causal, 0);
    cr_assert_eq(s->local_context, 32);
    cr_assert_eq(s->topk, 32);
    cr_assert_float_eq(s->softmax_temp, 0.125, 1e-12);
    cr_assert_eq(s->activation, ACT_RELU);
    cr_assert_eq(s->normalization, NORM_POST);
    cr_assert_eq(s->final_normalization, 1);
    cr_assert_float_eq(s->layer_norm_eps, 1e-5, 1e-15);
}

Test(check, encoder_defaults) {
    cr_assert_eq(check("model enc : TransformerEncoder { }"), 0, "%s", out());
    cr_assert_str_empty(out());
    cr_assert_str_eq(model.name, "enc");
    cr_assert_eq(model.kind, MODEL_ENCODER);
    cr_assert_eq(model.weights, WEIGHTS_TORCH);
    cr_assert_eq(model.src, &src);
    assert_default_stack(&model.enc);
    cr_assert_eq(model.n_listeners, 0);
    cr_assert_null(model.listeners);
}

Test(check, decoder_and_transformer_defaults) {
    cr_assert_eq(check("model dec : TransformerDecoder { }"), 0, "%s", out());
    cr_assert_eq(model.kind, MODEL_DECODER);
    assert_default_stack(&model.dec);
    teardown();
    cr_assert_eq(check("model t : Transformer { }"), 0, "%s", out());
    cr_assert_eq(model.kind, MODEL_TRANSFORMER);
    assert_default_stack(&model.enc);
    assert_default_stack(&model.dec);
}

Test(check, every_setting_resolves) {
    cr_assert_eq(
        check(
            ENC("n_layers = 6  n_heads = 8  query_dimensions = 32  value_dimensions = 16\n"
                "feed_forward_dimensions = 2048  attention_type = local  local_context = 16\n"
                "softmax_temp = 0.5  activation = gelu  normalization = pre\n"
                "final_normalization = false  layer_norm_eps = 1e-6  weights = fast_transformers\n"
                "causal = true")),
        0, "%s", out());
    const Stack *s = &model.enc;
    cr_assert_eq(s->n_layers, 6);
    cr_assert_eq(s->n_heads, 8);
    cr_assert_eq(s->query_dimensions, 32);
    cr_assert_eq(s->value_dimensions, 16);
    cr_assert_eq(s->d_model, 128);
    cr_assert_eq(s->feed_forward_dimensions, 2048);
    cr_assert_eq(s->attention_type, ATT_LOCAL);
    cr_assert_eq(s->local_context, 16);
    cr_assert_float_eq(s->softmax_temp, 0.5, 1e-12);
    cr_assert_eq(s->activation, ACT_GELU);
    cr_assert_eq(s->normalization, NORM_PRE);
    cr_assert_eq(s->final_normalization, 0);
    cr_assert_float_eq(s->layer_norm_eps, 1e-6, 1e-16);
    cr_assert_eq(s->causal, 1);
    cr_assert_eq(model.weights, WEIGHTS_FAST_TRANSFORMERS);
}

Test(check, softmax_temp_default_follows_query_dimensions) {
    cr_assert_eq(check(ENC("query_dimensions = 16 value_dimensions = 16")), 0, "%s", out());
    cr_assert_float_eq(model.enc.softmax_temp, 0.25, 1e-12);
    teardown();
    cr_assert_eq(check(ENC("softmax_temp = 2")), 0, "an integer is a fine number: %s", out());
    cr_assert_float_eq(model.enc.softmax_temp, 2.0, 1e-12);
}

Test(check, attention_type_string_and_identifier_forms) {
    static const struct {
        const char *text;
        AttentionType t;
        int causal;
    } cases[] = {
        {"attention_type = \"causal-linear\"", ATT_CAUSAL_LINEAR, 1},
        {"attention_type = causal_linear", ATT_CAUSAL_LINEAR, 1},
        {"attention_type = \"causal_linear\" causal = true", ATT_CAUSAL_LINEAR, 1},
        {"attention_type = \"exact-topk\" topk = 8", ATT_EXACT_TOPK, 0},
        {"attention_type = exact_topk", ATT_EXACT_TOPK, 0},
        {"attention_type = \"linear\"", ATT_LINEAR, 0},
        {"attention_type = local", ATT_LOCAL, 0},
        {"attention_type = \"full\"", ATT_FULL, 0},
        {"attention_type = full causal = true", ATT_FULL, 1},
        {"attention_type = clustered clusters = 9", ATT_CLUSTERED, 0},
        {"attention_type = \"improved-clustered\" clusters = 9 topk = 4", ATT_IMPROVED_CLUSTERED,
         0},
        {"attention_type = \"causal-improved-clustered\" clusters = 9",
         ATT_CAUSAL_IMPROVED_CLUSTERED, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, ENC("%s"), cases[i].text);
        cr_assert_eq(check(text), 0, "%s: %s", cases[i].text, out());
        cr_assert_eq(model.enc.attention_type, cases[i].t, "%s", cases[i].text);
        cr_assert_eq(model.enc.causal, cases[i].causal, "%s", cases[i].text);
        cr_assert_eq(diag_warnings(), 0, "%s: %s", cases[i].text, out());
        teardown();
    }
}

Test(check, attention_type_names) {
    cr_assert_str_eq(attention_type_name(ATT_FULL), "full");
    cr_assert_str_eq(attention_type_name(ATT_LINEAR), "linear");
    cr_assert_str_eq(attention_type_name(ATT_CAUSAL_LINEAR), "causal_linear");
    cr_assert_str_eq(attention_type_name(ATT_LOCAL), "local");
    cr_assert_str_eq(attention_type_name(ATT_EXACT_TOPK), "exact_topk");
}

Test(check, transformer_blocks_override_top_level) {
    cr_assert_eq(check("model t : Transformer { n_heads = 8   encoder { n_layers = 6 }   decoder { "
                       "n_layers = 2 } }"),
                 0, "%s", out());
    cr_assert_eq(model.enc.n_layers, 6);
    cr_assert_eq(model.dec.n_layers, 2);
    cr_assert_eq(model.enc.n_heads, 8);
    cr_assert_eq(model.dec.n_heads, 8);
    cr_assert_eq(model.enc.d_model, 512);
    cr_assert_eq(model.dec.d_model, 512);
    teardown();
    cr_assert_eq(check("model t : Transformer { attention_type = linear  activation = gelu\n"
                       "  decoder { attention_type = causal_linear cross_attention_type = linear "
                       "feed_forward_dimensions = 64 } }"),
                 0, "%s", out());
    cr_assert_eq(model.enc.attention_type, ATT_LINEAR);
    cr_assert_eq(model.enc.causal, 0);
    cr_assert_eq(model.dec.attention_type, ATT_CAUSAL_LINEAR);
    cr_assert_eq(model.dec.causal, 1);
    cr_assert_eq(model.dec.cross_attention_type, ATT_LINEAR);
    cr_assert_eq(model.enc.activation, ACT_GELU);
    cr_assert_eq(model.dec.activation, ACT_GELU);
    cr_assert_eq(model.enc.feed_forward_dimensions, 1024);
    cr_assert_eq(model.dec.feed_forward_dimensions, 64);
}

Test(check, decoder_cross_attention_type_at_top_level) {
    cr_assert_eq(check("model d : TransformerDecoder { cross_attention_type = \"linear\" }"), 0,
                 "%s", out());
    cr_assert_eq(model.dec.cross_attention_type, ATT_LINEAR);
    cr_assert_eq(model.dec.attention_type, ATT_FULL);
}

/* ---- listeners and handlers -------------------------------------------- */

Test(check, handlers_resolve) {
    const char *text =
        "model m : TransformerEncoder { n_heads = 8 }\n"
        "listen AttentionEvent -> heatmap(\"attention/{source}.png\", head = 0, sample = 0)\n"
        "listen QKVEvent & from_layer(layers[2].attention) -> save(\"qkv/{source}.{field}.npy\")\n"
        "listen event_class(AttentionEvent) & (attention_matrix.shape[2] == 100) -> stats\n"
        "listen ~(within(decoder.layers[0]) | layer_name_contains(\"cross\")) & Event -> "
        "call(my_handler)\n"
        "listen IntermediateOutput & (layer >= 2) & x.shape[2] == 256 -> print\n"
        "listen AttentionEvent -> figure(\"att_{layer}_{event}_{call}.png\", head = all, sample = "
        "3, cols = 4)\n"
        "listen AttentionEvent -> heatmap(\"h.png\")\n"
        "listen Event -> call(\"from_string\")\n";
    cr_assert_eq(check(text), 0, "%s", out());
    cr_assert_str_empty(out());
    cr_assert_eq(model.n_listeners, 8);
    const ListenDecl *l = spec.listeners;
    for (int i = 0; i < 8; i++, l = l->next) {
        cr_assert_eq(model.listeners[i].index, i);
        cr_assert_eq(model.listeners[i].filter, l->filter, "the filter is the AST's");
        cr_assert_eq(model.listeners[i].loc.line, i + 2);
        cr_assert_eq(model.listeners[i].loc.col, 1);
    }
    const Handler *h = &model.listeners[0].handler;
    cr_assert_eq(h->kind, HANDLER_HEATMAP);
    cr_assert_str_eq(h->pattern, "attention/{source}.png");
    cr_assert_eq(h->head, 0);
    cr_assert_eq(h->sample, 0);
    cr_assert_eq(h->loc.line, 2);
    cr_assert_eq(h->loc.col, 26);
    h = &model.listeners[1].handler;
    cr_assert_eq(h->kind, HANDLER_SAVE);
    cr_assert_str_eq(h->pattern, "qkv/{source}.{field}.npy");
    cr_assert_eq(model.listeners[2].handler.kind, HANDLER_STATS);
    h = &model.listeners[3].handler;
    cr_assert_eq(h->kind, HANDLER_CALL);
    cr_assert_str_eq(h->symbol, "my_handler");
    cr_assert_eq(model.listeners[4].handler.kind, HANDLER_PRINT);
    h = &model.listeners[5].handler;
    cr_assert_eq(h->kind, HANDLER_FIGURE);
    cr_assert_eq(h->head, -1);
    cr_assert_eq(h->sample, 3);
    cr_assert_eq(h->cols, 4);
    h = &model.listeners[6].handler;
    cr_assert_eq(h->head, 0);
    cr_assert_eq(h->sample, 0);
    cr_assert_eq(h->cols, 2);
    cr_assert_str_eq(model.listeners[7].handler.symbol, "from_string");
}

/* ---- errors: one class each, at its line:col --------------------------- */

typedef struct ErrCase {
    const char *text;
    const char *want; /* "t.xf:L:C: error: …" substring */
} ErrCase;

static const ErrCase err_cases[] = {
    /* model */
    {"model m : TransformerEncodr { }", "t.xf:1:11: error: unknown model kind 'TransformerEncodr'; "
                                        "did you mean 'TransformerEncoder'?"},
    {"model m : Banana { }", "t.xf:1:11: error: unknown model kind 'Banana' (expected "
                             "TransformerEncoder, TransformerDecoder or Transformer)"},
    {"model int : TransformerEncoder { }",
     "t.xf:1:7: error: model name 'int' cannot be used: it is a C keyword or reserved name"},
    {"model xf_model : TransformerEncoder { }", "t.xf:1:7: error: model name 'xf_model' cannot "
                                                "start with 'xf_' (reserved for the xfc runtime)"},
    {"model __m : TransformerEncoder { }", "t.xf:1:7: error: model name '__m' is reserved in C"},
    /* unknown setting, types */
    {ENC("  n_layer = 4"), "t.xf:2:3: error: unknown setting 'n_layer'; did you mean 'n_layers'?"},
    {ENC("  n_layers = \"four\""), "t.xf:2:14: error: 'n_layers' must be an integer, not a string"},
    {ENC("  n_layers = 4.0"), "t.xf:2:14: error: 'n_layers' must be an integer, not a number"},
    {ENC("  causal = 1"), "t.xf:2:12: error: 'causal' must be true or false, not an integer"},
    {ENC("  causal = True"),
     "t.xf:2:12: error: 'causal' must be true or false, not an identifier; did you mean 'true'?"},
    {ENC("  softmax_temp = \"x\""),
     "t.xf:2:18: error: 'softmax_temp' must be a number, not a string"},
    {ENC("  activation = 3"),
     "t.xf:2:16: error: 'activation' must be one of relu or gelu, not an integer"},
    {ENC("  activation = \"gleu\""),
     "t.xf:2:16: error: unknown activation 'gleu'; did you mean 'gelu'?"},
    {ENC("  attention_type = \"causal-lin\""),
     "t.xf:2:20: error: unknown attention_type 'causal-lin'; did you mean 'causal_linear'?"},
    {ENC("  attention_type = bigbird"),
     "t.xf:2:20: error: unknown attention_type 'bigbird' (expected full, linear, causal_linear, "
     "local, exact_topk, aft_full, aft_simple, clustered, improved_clustered, "
     "causal_improved_clustered, conditional_full or reformer)"},
    {ENC("  normalization = middle"),
     "t.xf:2:19: error: unknown normalization 'middle' (expected post or pre)"},
    {ENC("  weights = pytorch"),
     "t.xf:2:13: error: unknown weights 'pytorch'; did you mean 'torch'?"},
    /* ranges */
    {ENC("  n_layers = 0"), "t.xf:2:14: error: n_layers must be between 1 and 1024 (got 0)"},
    {ENC("  n_layers = -3"), "t.xf:2:14: error: n_layers must be between 1 and 1024 (got -3)"},
    {ENC("  n_heads = 1025"), "t.xf:2:13: error: n_heads must be between 1 and 1024 (got 1025)"},
    {ENC("  query_dimensions = 65537"),
     "t.xf:2:22: error: query_dimensions must be between 1 and 65536 (got 65537)"},
    {ENC("  feed_forward_dimensions = 1099511627776"),
     "t.xf:2:29: error: feed_forward_dimensions must be between 1 and 1048576 (got 1099511627776)"},
    {ENC("  n_layers = 99999999999999999999"), "t.xf:2:14: error: n_layers must be between 1 and "
                                               "1024 (got an integer too large for 64 bits)"},
    {ENC("  bits = 64 attention_type = improved_clustered clusters = 4"),
     "t.xf:2:10: error: bits must be between 1 and 63 for improved_clustered (got 64)"},
    {ENC("  bits = 1025 attention_type = reformer"),
     "t.xf:2:10: error: bits must be between 1 and 1024 for reformer (got 1025)"},
    {ENC("  bits = 0"), "t.xf:2:10: error: bits must be between 1 and 1024 (got 0)"},
    {ENC("  bits = 99999999999999999999 attention_type = clustered clusters = 2"),
     "t.xf:2:10: error: bits must be between 1 and 63 for clustered (got an integer too large "
     "for 64 bits)"},
    {ENC("  local_context = 0 attention_type = local"),
     "t.xf:2:19: error: local_context must be between 1 and 1048576 (got 0)"},
    {ENC("  topk = 2000000 attention_type = exact_topk"),
     "t.xf:2:10: error: topk must be between 1 and 1048576 (got 2000000)"},
    {ENC("  softmax_temp = 0"), "t.xf:2:18: error: softmax_temp must be greater than 0 (got 0)"},
    {ENC("  softmax_temp = -0.5"),
     "t.xf:2:18: error: softmax_temp must be greater than 0 (got -0.5)"},
    {ENC("  softmax_temp = 1e999"),
     "t.xf:2:18: error: softmax_temp is out of range (the number is too large)"},
    {ENC("  layer_norm_eps = 1"),
     "t.xf:2:20: error: layer_norm_eps must be between 0 and 1, exclusive (got 1)"},
    {ENC("  layer_norm_eps = 0.0"),
     "t.xf:2:20: error: layer_norm_eps must be between 0 and 1, exclusive (got 0)"},
    {ENC("  n_heads = 1024 value_dimensions = 128 query_dimensions = 128"),
     "t.xf:2:37: error: d_model = n_heads * value_dimensions = 1024 * 128 = 131072 exceeds 65536"},
    /* combinations */
    {ENC("  query_dimensions = 32"), "t.xf:2:22: error: query_dimensions (32) != value_dimensions "
                                     "(64) needs weights = fast_transformers"},
    {ENC("  weights = torch\n  value_dimensions = 32"),
     "t.xf:3:22: error: query_dimensions (64) != value_dimensions (32) needs weights = "
     "fast_transformers"},
    {ENC("  attention_type = linear\n  causal = true"),
     "t.xf:2:20: error: attention_type = linear is not causal; with causal = true use "
     "attention_type = causal_linear"},
    {ENC("  attention_type = causal_linear\n  causal = false"),
     "t.xf:3:12: error: causal = false contradicts attention_type = causal_linear"},
    {"model d : TransformerDecoder { cross_attention_type = causal_linear }",
     "t.xf:1:55: error: cross_attention_type cannot be causal_linear"},
    /* where settings may go */
    {ENC("  cross_attention_type = full"), "t.xf:2:3: error: 'cross_attention_type' is only for "
                                           "models with a decoder (this is a TransformerEncoder)"},
    {"model t : Transformer { encoder { cross_attention_type = linear } }",
     "t.xf:1:35: error: 'cross_attention_type' belongs in the decoder block"},
    {"model t : Transformer { decoder { weights = torch } }",
     "t.xf:1:35: error: 'weights' applies to the whole model; set it outside the 'decoder' block"},
    {ENC("  encoder { n_layers = 2 }"), "t.xf:2:3: error: 'encoder { … }' blocks are only allowed "
                                        "in a Transformer model (this is a TransformerEncoder)"},
    {"model t : Transformer { encodr { } }",
     "t.xf:1:25: error: unknown block 'encodr'; did you mean 'encoder'?"},
    {"model t : Transformer { decoder { } decoder { } }",
     "t.xf:1:37: error: duplicate 'decoder' block"},
    {"model t : Transformer { decoder { n_heads = 8 } }",
     "t.xf:1:45: error: encoder and decoder d_model differ (256 vs 512)"},
    /* token blocks (SPEC §8) */
    {ENC("  embedding { weight = \"tok.weight\" }"),
     "t.xf:2:3: error: embedding needs 'vocab = N' (the number of token ids)"},
    {ENC("  embedding { vocab = 40 }"), "t.xf:2:3: error: embedding needs 'weight = \"…\"'"},
    {ENC("  embedding { vocab = 0 weight = \"t\" }"),
     "t.xf:2:23: error: vocab must be an integer between 1 and"},
    {ENC("  embedding { vocab = 4 weight = \"t\" vocabb = 3 }"),
     "t.xf:2:38: error: unknown embedding setting 'vocabb'; did you mean 'vocab'?"},
    {ENC("  embedding { vocab = 4 weight = \"t\" positions = sinusodal }"),
     "t.xf:2:50: error: unknown positions 'sinusodal'; did you mean 'sinusoidal'?"},
    {ENC("  embedding { vocab = 4 weight = \"t\" positions = learned }"),
     "t.xf:2:50: error: learned positions name their tensor: learned(\"pos.weight\")"},
    {ENC("  embedding { vocab = 4 weight = \"t\" scale = sqrt }"),
     "t.xf:2:46: error: scale must be sqrt_d_model or a number, not an identifier"},
    {ENC("  head { weight = \"h\" }"),
     "t.xf:2:3: error: a head needs an embedding in the same stack"},
    {ENC("  embedding { vocab = 4 weight = \"t\" }\n  head { bias = \"b\" }"),
     "t.xf:3:3: error: head needs 'weight = \"…\"'"},
    {ENC("  embedding { vocab = 4 weight = 3 }"),
     "t.xf:2:34: error: 'weight' must be a tensor name string, e.g. \"tok.weight\" (not an "
     "integer)"},
    {"model t : Transformer { head { weight = embedding } }",
     "t.xf:1:25: error: in a Transformer, 'head { … }' goes inside the decoder { } block"},
    {"model t : Transformer { encoder { head { weight = \"h\" } } }",
     "t.xf:1:35: error: 'head { … }' goes in the decoder block"},
    {"model t : Transformer { decoder { embedding { vocab = 3 weight = \"t\" } } }",
     "t.xf:1:35: error: a Transformer takes token ids in both stacks or in neither"},
    {"model d : TransformerDecoder { embedding { vocab = 3 weight = \"t\" } }",
     "t.xf:1:32: error: token blocks need a TransformerEncoder"},
    {ENC("  embedding { vocab = 3 weight = \"t\" embedding { } }"),
     "t.xf:2:38: error: 'embedding { … }' cannot be nested in 'embedding { … }'"},
    {"model t : Transformer { encoder { weights_prefix = \"x.\" } }",
     "t.xf:1:35: error: 'weights_prefix' applies to the whole model; set it outside the 'encoder' "
     "block"},
    {ENC("  weights_prefix = encoder"),
     "t.xf:2:20: error: 'weights_prefix' must be a string, not an identifier"},
    {ENC("") "listen (step.shape[0] > 1) -> stats",
     "t.xf:4:9: error: 'step' is an integer, not a tensor"},
    /* no model */
    {"listen Event -> print", "t.xf:1:1: error: no model declared"},
    /* listeners */
    {ENC("") "listen AttentionEvnt -> stats",
     "t.xf:4:8: error: unknown event class 'AttentionEvnt'; did you mean 'AttentionEvent'?"},
    {ENC("") "listen event_class(Foo) -> stats",
     "t.xf:4:20: error: unknown event class 'Foo' (expected Event, QKVEvent, AttentionEvent or "
     "IntermediateOutput)"},
    {ENC("") "listen attention_matrix.shape[4] == 1 -> stats",
     "t.xf:4:31: error: attention_matrix has rank 4: shape index 4 is out of range (0..3)"},
    {ENC("") "listen IntermediateOutput & (x.shape[3] > 1) -> stats",
     "t.xf:4:38: error: x has rank 3: shape index 3 is out of range (0..2)"},
    {ENC("") "listen atention_matrix.shape[0] == 1 -> stats",
     "t.xf:4:8: error: unknown field 'atention_matrix'; did you mean 'attention_matrix'?"},
    {ENC("") "listen (layr == 1) -> stats",
     "t.xf:4:9: error: unknown name 'layr'; did you mean 'layer'?"},
    {ENC("") "listen queries > 1 -> stats", "t.xf:4:8: error: 'queries' is a tensor; compare one "
                                            "of its dimensions, e.g. queries.shape[0]"},
    {ENC("") "listen layer.shape[0] > 1 -> stats",
     "t.xf:4:8: error: 'layer' is an integer, not a tensor"},
    {ENC("") "listen from_layer(\"layers..2\") -> stats",
     "t.xf:4:8: error: malformed module path \"layers..2\""},
    {ENC("") "listen Event -> savee(\"x.npy\")",
     "t.xf:4:17: error: unknown handler 'savee'; did you mean 'save'?"},
    {ENC("") "listen Event -> plot", "t.xf:4:17: error: unknown handler 'plot' (expected save, "
                                     "heatmap, figure, stats, print or call)"},
    {ENC("") "listen Event -> heatmap(\"h.png\", haed = 1)",
     "t.xf:4:34: error: unknown argument 'haed' for 'heatmap'; did you mean 'head'?"},
    {ENC("") "listen Event -> heatmap(\"h.png\", cols = 1)",
     "t.xf:4:34: error: unknown argument 'cols' for 'heatmap' (it takes head and sample)"},
    {ENC("") "listen Event -> save(\"x.npy\", head = 1)",
     "t.xf:4:31: error: 'save' takes no named arguments ('head' is not one)"},
    {ENC("") "listen Event -> heatmap(\"h.png\", head = 1, head = 2)",
     "t.xf:4:44: error: duplicate argument 'head'"},
    {ENC("") "listen Event -> heatmap(\"h.png\", head = 4)",
     "t.xf:4:41: error: head must be between 0 and 3 (the model has 4 heads) or all"},
    {ENC("") "listen Event -> heatmap(\"h.png\", head = some)",
     "t.xf:4:41: error: 'head' must be a head index or all, not an identifier"},
    {ENC("") "listen Event -> heatmap(\"h.png\", sample = -1)",
     "t.xf:4:43: error: sample must be between 0 and"},
    {ENC("") "listen Event -> figure(\"f.png\", cols = 0)",
     "t.xf:4:40: error: cols must be between 1 and 1024"},
    {ENC("") "listen Event -> heatmap(\"h.png\", \"g.png\")",
     "t.xf:4:34: error: too many arguments to 'heatmap'"},
    {ENC("") "listen Event -> stats(1)", "t.xf:4:23: error: 'stats' takes no arguments"},
    {ENC("") "listen Event -> print(x = 1)",
     "t.xf:4:23: error: 'print' takes no named arguments ('x' is not one)"},
    {ENC("") "listen Event -> save(out)",
     "t.xf:4:22: error: 'save' takes a file pattern string: write save(\"out.npy\")"},
    {ENC("") "listen Event -> save",
     "t.xf:4:17: error: 'save' needs a file pattern, e.g. save(\"qkv/{source}.{field}.npy\")"},
    {ENC("") "listen Event -> call",
     "t.xf:4:17: error: 'call' needs the name of a C function, e.g. call(my_handler)"},
    {ENC("") "listen Event -> call(\"not a name\")",
     "t.xf:4:22: error: 'call' takes the name of a C function"},
    {ENC("") "listen Event -> call(while)",
     "t.xf:4:22: error: handler function 'while' cannot be used"},
    {ENC("") "listen Event -> save(\"a/{sorce}.npy\")",
     "t.xf:4:22: error: unknown placeholder '{sorce}' in the file pattern; did you mean "
     "'{source}'?"},
    {ENC("") "listen Event -> save(\"a/{name}.npy\")",
     "t.xf:4:22: error: unknown placeholder '{name}' in the file pattern (expected {source}, "
     "{event}, {field}, {layer}, {step} or {call})"},
    {ENC("") "listen Event -> save(\"a/{source.npy\")",
     "t.xf:4:22: error: unclosed '{' in the file pattern"},
    {ENC("") "listen Event -> save(\"\")", "t.xf:4:22: error: empty file pattern"},
};

Test(check, each_error_at_its_position) {
    for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
        int e = check(err_cases[i].text);
        cr_assert_geq(e, 1, "case %zu should fail: %s", i, err_cases[i].text);
        cr_assert(strstr(out(), err_cases[i].want) != NULL, "case %zu: expected \"%s\" in:\n%s", i,
                  err_cases[i].want, out());
        cr_assert_eq(e, 1, "case %zu: exactly one error expected:\n%s", i, out());
        teardown();
    }
}

Test(check, duplicate_setting_has_a_note) {
    cr_assert_eq(check(ENC("  n_layers = 2\n  n_heads = 2\n  n_layers = 3")), 1);
    assert_out_has("t.xf:4:3: error: duplicate setting 'n_layers'\n");
    assert_out_has("t.xf:2:3: note: 'n_layers' first set here\n");
    cr_assert_eq(model.enc.n_layers, 2, "the first one counts");
}

Test(check, duplicate_in_block_but_override_across_scopes_is_fine) {
    cr_assert_eq(
        check("model t : Transformer { n_layers = 2 encoder { n_layers = 3 n_layers = 4 } }"), 1);
    assert_out_has("t.xf:1:61: error: duplicate setting 'n_layers'");
    assert_out_has("t.xf:1:48: note: 'n_layers' first set here");
}

Test(check, combination_notes_point_at_the_other_setting) {
    cr_assert_eq(check(ENC("  attention_type = linear\n  causal = true")), 1);
    assert_out_has("t.xf:3:12: note: causal = true is set here");
    teardown();
    cr_assert_eq(check(ENC("  attention_type = causal_linear\n  causal = false")), 1);
    assert_out_has("causal_linear implies causal = true");
    assert_out_has("t.xf:2:20: note: attention_type = causal_linear is set here");
}

Test(check, top_level_conflict_in_transformer_reported_once) {
    cr_assert_eq(check("model t : Transformer { attention_type = linear causal = true }"), 1, "%s",
                 out());
    cr_assert_eq(count(out(), ": error: "), 1, "%s", out());
}

Test(check, unused_local_context_and_topk_warn) {
    cr_assert_eq(check(ENC("  local_context = 8\n  topk = 4")), 0, "%s", out());
    cr_assert_eq(diag_warnings(), 2);
    assert_out_has("t.xf:2:3: warning: 'local_context' has no effect: attention_type is not local");
    assert_out_has("t.xf:3:3: warning: 'topk' has no effect: attention_type is not exact_topk");
    cr_assert_eq(model.enc.local_context, 8);
    teardown();
    /* used by one stack of a Transformer: no warning */
    cr_assert_eq(
        check("model t : Transformer { local_context = 8 decoder { attention_type = local } }"), 0,
        "%s", out());
    cr_assert_eq(diag_warnings(), 0, "%s", out());
    teardown();
    cr_assert_eq(
        check("model d : TransformerDecoder { topk = 8 cross_attention_type = exact_topk }"), 0,
        "%s", out());
    cr_assert_eq(diag_warnings(), 0, "%s", out());
}

/* bits is shared: the clustered types take 1..63, reformer 1..1024. */
Test(check, bits_range_follows_the_attention_type) {
    cr_assert_eq(check(ENC("  bits = 64 attention_type = reformer")), 0, "%s", out());
    cr_assert_eq(model.enc.bits, 64);
    teardown();
    cr_assert_eq(check(ENC("  bits = 63 attention_type = clustered clusters = 2")), 0, "%s", out());
    cr_assert_eq(model.enc.bits, 63);
    teardown();
    cr_assert_eq(check(ENC("  bits = 12")), 0, "%s", out());
    assert_out_has("t.xf:2:3: warning: 'bits' has no effect: attention_type is not one of the "
                   "clustered types or reformer");
}

Test(check, no_model_in_an_empty_file) {
    cr_assert_eq(check("# nothing here\n"), 1);
    assert_out_has("t.xf: error: no model declared");
}

Test(check, all_errors_in_one_run) {
    const char *text = "model m : TransformerEncoder {\n"
                       "    n_layer = 4\n"                 /* unknown setting */
                       "    n_heads = \"four\"\n"          /* wrong type */
                       "    feed_forward_dimensions = 0\n" /* out of range */
                       "    activation = relu\n"
                       "    activation = gelu\n" /* duplicate */
                       "}\n"
                       "listen AttentionEvnt -> stats\n"        /* unknown class */
                       "listen Event -> heatmap(\"{x}.png\")\n" /* unknown placeholder */
                       "listen Event -> pritn\n";               /* unknown handler */
    cr_assert_eq(check(text), 7, "%s", out());
    assert_out_has("t.xf:2:5: error: unknown setting 'n_layer'");
    assert_out_has("t.xf:3:15: error: 'n_heads' must be an integer");
    assert_out_has(
        "t.xf:4:31: error: feed_forward_dimensions must be between 1 and 1048576 (got 0)");
    assert_out_has("t.xf:6:5: error: duplicate setting 'activation'");
    assert_out_has(
        "t.xf:8:8: error: unknown event class 'AttentionEvnt'; did you mean 'AttentionEvent'?");
    assert_out_has("t.xf:9:25: error: unknown placeholder '{x}'");
    assert_out_has("t.xf:10:17: error: unknown handler 'pritn'; did you mean 'print'?");
    cr_assert_eq(model.n_listeners, 3);
}

Test(check, token_model_resolves) {
    cr_assert_eq(
        check(
            ENC("  n_heads = 2 query_dimensions = 8 value_dimensions = 8 causal = true\n"
                "  weights_prefix = \"encoder.\"\n"
                "  embedding { vocab = 40 weight = \"tok.weight\" scale = sqrt_d_model\n"
                "              positions = learned(\"pos.weight\") max_positions = 64 }\n"
                "  head { weight = embedding bias = \"head.bias\" }") "listen (step > 0) -> stats\n"
                                                                      "listen AttentionEvent -> "
                                                                      "save(\"a/{step}.npy\")"),
        0, "%s", out());
    cr_assert_str_eq(model.weights_prefix, "encoder.");
    const Embedding *e = &model.enc.emb;
    cr_assert(e->present);
    cr_assert_eq(e->vocab, 40);
    cr_assert_str_eq(e->weight, "tok.weight");
    cr_assert(e->scale_sqrt);
    cr_assert_float_eq(e->scale, 4.0, 1e-12);
    cr_assert_eq(e->positions, POS_ENC_LEARNED);
    cr_assert_str_eq(e->pos_weight, "pos.weight");
    cr_assert_eq(e->max_positions, 64);
    cr_assert(model.enc.head.present);
    cr_assert_null(model.enc.head.weight); /* tied */
    cr_assert_str_eq(model.enc.head.bias, "head.bias");
}

Test(check, token_defaults) {
    cr_assert_eq(check(ENC("  embedding { vocab = 7 weight = \"t\" }")), 0, "%s", out());
    cr_assert_float_eq(model.enc.emb.scale, 1.0, 1e-12);
    cr_assert_eq(model.enc.emb.positions, POS_ENC_NONE);
    cr_assert_eq(model.enc.emb.max_positions, 1024);
    cr_assert_not(model.enc.head.present);
    cr_assert_str_eq(model.weights_prefix, "");
}

Test(check, error_output_has_source_line_and_caret) {
    cr_assert_eq(check(ENC("\tn_layers = 0")), 1);
    assert_out_has("t.xf:2:13: error: n_layers must be between 1 and 1024 (got 0)\n    \tn_layers "
                   "= 0\n    \t           ^\n");
}
