/* test_xfc_plan.c — compiler/plan.c: the dispatch points of each model kind
 * (names as fast-transformers names its modules), each listener folded on
 * each point (constants, run-time guards), the profiles' kept points, and the
 * static diagnostics: a listener that never fires (warning + the points that
 * do emit its event), a predicate on a field the event cannot have (error).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "xfc_test.h"

static Spec spec;
static Model model;
static Plan plan;

/* Parses and checks `text` (both must succeed), then plans it; returns the
 * plan's errors. */
static int planned(const char *text, Profile profile) {
    test_src("p.xf", text, strlen(text));
    cr_assert_eq(parse_spec(&src, &spec), 0);
    int ce = check_spec(&spec, &src, &model);
    fflush(out_f);
    cr_assert_eq(ce, 0, "the test spec must check:\n%s", out_buf);
    int e = plan_build(&model, profile, &plan);
    fflush(out_f);
    return e;
}

static void teardown(void) {
    plan_free(&plan);
    test_src_free();
}

static const Point *find(const char *source, xf_event_kind kind) {
    for (int i = 0; i < plan.n_points; i++)
        if (plan.points[i].kind == kind && !strcmp(plan.points[i].source, source))
            return &plan.points[i];
    return NULL;
}

/* Asserts that a guard prints as the C condition `want`. */
static void expect_guard_c(const Guard *g, const char *want) {
    cr_assert_not_null(g);
    char *c = plan_guard_c(g);
    cr_expect_str_eq(c, want);
    free(c);
}

static int kept(void) {
    int n = 0;
    for (int i = 0; i < plan.n_points; i++)
        n += plan.points[i].kept;
    return n;
}

#define ENC2                                                                                       \
    "model e : TransformerEncoder { n_layers = 2 n_heads = 4 query_dimensions = 8 "                \
    "value_dimensions = 8 }\n"

TestSuite(plan, .fini = teardown);

Test(plan, encoder_points_named_like_fast_transformers) {
    cr_assert_eq(planned(ENC2, PROFILE_DEBUG), 0);
    cr_expect_eq(plan.n_points, 6);
    cr_expect_not_null(find("layers.0.attention", XF_QKV_EVENT));
    cr_expect_not_null(find("layers.1.attention.inner_attention", XF_ATTENTION_EVENT));
    const Point *io = find("", XF_INTERMEDIATE_OUTPUT);
    cr_assert_not_null(io);
    cr_expect_eq(io->layer, 0);
    cr_expect_eq(kept(), 0, "no listener: no point in debug");
}

Test(plan, transformer_points_are_prefixed) {
    cr_assert_eq(planned("model t : Transformer { n_layers = 1 n_heads = 2 query_dimensions = 4 "
                         "value_dimensions = 4 }\n",
                         PROFILE_INSTRUMENT_ALL),
                 0);
    cr_expect_not_null(find("encoder.layers.0.attention", XF_QKV_EVENT));
    cr_expect_not_null(find("decoder.layers.0.self_attention.inner_attention", XF_ATTENTION_EVENT));
    cr_expect_not_null(find("decoder.layers.0.cross_attention", XF_QKV_EVENT));
    cr_expect_not_null(find("decoder", XF_INTERMEDIATE_OUTPUT));
    cr_expect_eq(kept(), plan.n_points, "instrument-all keeps every point");
}

Test(plan, from_layer_is_source_equality) {
    cr_assert_eq(
        planned(
            ENC2
            "listen AttentionEvent & from_layer(layers[1].attention.inner_attention) -> stats\n",
            PROFILE_DEBUG),
        0);
    cr_expect_eq(kept(), 1);
    const Point *p = find("layers.1.attention.inner_attention", XF_ATTENTION_EVENT);
    cr_assert_eq(p->n_fires, 1);
    cr_expect_null(p->fires[0].guard, "class and source fold to constants");
}

Test(plan, within_and_name_contains) {
    cr_assert_eq(planned(ENC2 "listen within(layers[0]) -> stats\n"
                              "listen layer_name_contains(\"inner\") -> print\n",
                         PROFILE_DEBUG),
                 0);
    /* within(layers[0]): its QKV and attention points, not IntermediateOutput ("") */
    cr_expect_eq(find("layers.0.attention", XF_QKV_EVENT)->n_fires, 1);
    cr_expect_eq(find("layers.0.attention.inner_attention", XF_ATTENTION_EVENT)->n_fires, 2);
    cr_expect_eq(find("layers.1.attention.inner_attention", XF_ATTENTION_EVENT)->n_fires, 1);
    cr_expect_eq(find("layers.1.attention", XF_QKV_EVENT)->n_fires, 0);
}

Test(plan, static_shapes_fold_runtime_shapes_guard) {
    cr_assert_eq(
        planned(
            ENC2
            "listen AttentionEvent & (attention_matrix.shape[1] == 4) -> stats\n" /* heads: static, true */
            "listen QKVEvent & (queries.shape[3] * 2 == 99) -> stats\n" /* static, false */
            "listen AttentionEvent & (attention_matrix.shape[2] >= 100) -> stats\n" /* run-time L */
            "listen IntermediateOutput & (layer == 1) -> stats\n", /* layer: static */
            PROFILE_DEBUG),
        0);
    const Point *a0 = find("layers.0.attention.inner_attention", XF_ATTENTION_EVENT);
    cr_assert_eq(a0->n_fires, 2);
    cr_expect_null(a0->fires[0].guard);
    const Guard *g = a0->fires[1].guard;
    cr_assert_not_null(g);
    cr_expect(g->kind == G_BIN && g->op == EX_GE);
    cr_expect(g->lhs->kind == G_DIM && g->lhs->dim == DIM_L, "attention_matrix.shape[2] is L");
    cr_expect(g->rhs->kind == G_CONST && g->rhs->v == 100);
    expect_guard_c(g, "(c->L >= 100)");
    cr_expect_eq(find("layers.0.attention", XF_QKV_EVENT)->n_fires, 0, "folded to false");
    const Point *io1 = NULL;
    for (int i = 0; i < plan.n_points; i++)
        if (plan.points[i].kind == XF_INTERMEDIATE_OUTPUT && plan.points[i].layer == 1)
            io1 = &plan.points[i];
    cr_expect_eq(io1->n_fires, 1);
    cr_expect_eq(plan.points[2].n_fires, 0, "IntermediateOutput of layer 0 does not fire");
    /* the QKV listener never fires: a warning */
    cr_expect(strstr(out(), "p.xf:3:1: warning: this listener never fires") != NULL, "%s", out());
}

Test(plan, cross_attention_keys_use_the_memory_length) {
    cr_assert_eq(planned("model d : TransformerDecoder { n_layers = 1 n_heads = 2 query_dimensions "
                         "= 4 value_dimensions = 4 }\n"
                         "listen AttentionEvent & (attention_matrix.shape[3] == 17) -> stats\n",
                         PROFILE_DEBUG),
                 0);
    const Point *self = find("layers.0.self_attention.inner_attention", XF_ATTENTION_EVENT);
    const Point *cross = find("layers.0.cross_attention.inner_attention", XF_ATTENTION_EVENT);
    expect_guard_c(self->fires[0].guard, "(c->T == 17)");
    expect_guard_c(cross->fires[0].guard, "(c->S == 17)");
}

Test(plan, never_firing_listener_names_the_real_source) {
    cr_assert_eq(
        planned(ENC2 "listen from_layer(layers[1]) & AttentionEvent -> stats\n", PROFILE_DEBUG), 0);
    const char *o = out();
    cr_expect(strstr(o, "p.xf:2:1: warning: this listener never fires") != NULL, "%s", o);
    cr_expect(strstr(o, "AttentionEvent comes from 'layers.1.attention.inner_attention'") != NULL,
              "%s", o);
    cr_expect(strstr(o, "within(layers[1])") != NULL, "%s", o);
    cr_expect_eq(diag_warnings(), 1);
}

Test(plan, missing_module_is_suggested) {
    cr_assert_eq(planned(ENC2 "listen from_layer(layers[7].attention) -> stats\n", PROFILE_DEBUG),
                 0);
    cr_expect(strstr(out(), "p.xf:2:8: note: the model has layers 0–1 (n_layers = 2)") != NULL,
              "%s", out());
}

#define TRF1                                                                                       \
    "model t : Transformer { n_layers = 2 n_heads = 2 query_dimensions = 4 value_dimensions = 4 "  \
    "}\n"

/* The notes under "never fires": a typo, a PyTorch name, a path without its stack. */
Test(plan, missing_module_notes) {
    cr_assert_eq(planned(ENC2 "listen within(layer[1]) -> stats\n", PROFILE_DEBUG), 0);
    cr_expect(strstr(out(),
                     "note: the model has no module 'layer[1]'; did you mean 'layers[1]'?") != NULL,
              "%s", out());
    teardown();
    cr_assert_eq(planned(ENC2 "listen within(layers[1].self_attn) -> stats\n", PROFILE_DEBUG), 0);
    cr_expect(strstr(out(), "did you mean 'layers[1].attention'?") != NULL, "%s", out());
    teardown();
    cr_assert_eq(planned(ENC2 "listen within(layers[0].atention) -> stats\n", PROFILE_DEBUG), 0);
    cr_expect(
        strstr(out(),
               "the model has no module 'layers[0].atention'; did you mean 'layers[0].attention'? "
               "(see docs/DSL.md §5 Filters)") != NULL,
        "%s", out());
    teardown();
    cr_assert_eq(planned(TRF1 "listen within(layers[0]) -> stats\n", PROFILE_DEBUG), 0);
    cr_expect(strstr(out(), "p.xf:2:8: note: in a Transformer, module paths start with the stack: "
                            "'encoder.layers[0]' or 'decoder.layers[0]'") != NULL,
              "%s", out());
    teardown();
    cr_assert_eq(
        planned(TRF1 "listen within(decoder.layers[0].multihead_attn) -> stats\n", PROFILE_DEBUG),
        0);
    cr_expect(strstr(out(), "did you mean 'decoder.layers[0].cross_attention'?") != NULL, "%s",
              out());
    teardown();
    cr_assert_eq(planned(TRF1 "listen within(decoder.layers[2]) -> stats\n", PROFILE_DEBUG), 0);
    cr_expect(strstr(out(), "note: the decoder has layers 0–1 (n_layers = 2)") != NULL, "%s",
              out());
    teardown();
    cr_assert_eq(
        planned(ENC2 "listen IntermediateOutput & within(layers[0]) -> stats\n", PROFILE_DEBUG), 0);
    cr_expect(strstr(out(), "note: no IntermediateOutput comes from 'layers[0]': its source is the "
                            "encoder/decoder") != NULL,
              "%s", out());
}

/* --strict: the warning is an error, its notes stay notes. */
Test(plan, strict_makes_warnings_errors) {
    diag_set_strict(1);
    int e = planned(ENC2 "listen within(layers[5]) -> stats\n", PROFILE_DEBUG);
    diag_set_strict(0);
    cr_expect_eq(e, 1);
    cr_expect(
        strstr(out(),
               "p.xf:2:1: error: this listener never fires: no dispatch point of model 'e' matches "
               "its filter [--strict]") != NULL,
        "%s", out());
    cr_expect(strstr(out(), "p.xf:2:8: note: the model has layers 0–1") != NULL, "%s", out());
}

Test(plan, field_the_event_cannot_have_is_an_error) {
    cr_expect_eq(
        planned(ENC2 "listen AttentionEvent & (queries.shape[0] == 1) -> stats\n", PROFILE_DEBUG),
        1);
    cr_expect(strstr(out(), "p.xf:2:26: error: AttentionEvent") != NULL, "%s", out());
    cr_expect(strstr(out(), "has no field 'queries'; it belongs to QKVEvent") != NULL, "%s", out());
}

Test(plan, field_guarded_by_its_class_is_fine) {
    /* the predicate is only reached where the class matched: no error */
    cr_expect_eq(planned(ENC2
                         "listen QKVEvent & (queries.shape[3] == 8) | AttentionEvent -> stats\n",
                         PROFILE_DEBUG),
                 0, "%s", out());
    cr_expect_eq(kept(), 4);
}

Test(plan, release_keeps_nothing) {
    cr_assert_eq(planned(ENC2 "listen Event -> stats\n", PROFILE_RELEASE), 0);
    cr_expect_eq(kept(), 0);
    cr_expect_eq(plan.points[0].n_fires, 1, "the folding still happened");
}

Test(plan, negation_of_a_guard) {
    cr_assert_eq(planned(ENC2
                         "listen AttentionEvent & ~(attention_matrix.shape[0] == 1) -> stats\n",
                         PROFILE_DEBUG),
                 0);
    const Point *a = find("layers.0.attention.inner_attention", XF_ATTENTION_EVENT);
    expect_guard_c(a->fires[0].guard, "!(c->N == 1)");
}

/* Arithmetic on run-time dims (ints up to 2^31) is printed in long long, on
 * either side of an operator; static parts fold, & and | keep their shape. */
Test(plan, guard_arithmetic_in_long_long) {
    cr_assert_eq(planned(ENC2 "listen AttentionEvent & (2 * attention_matrix.shape[0] + 1 > 5 "
                              "| -attention_matrix.shape[3] < attention_matrix.shape[1] - 9"
                              " & layer == 0) -> stats\n",
                         PROFILE_DEBUG),
                 0);
    expect_guard_c(find("layers.0.attention.inner_attention", XF_ATTENTION_EVENT)->fires[0].guard,
                   "((2 * (long long)c->N + 1 > 5) || ((-(long long)c->T) < -5))");
    cr_expect_eq(
        find("layers.1.attention.inner_attention", XF_ATTENTION_EVENT)->fires[0].guard->kind, G_BIN,
        "layer == 0 folds away: only the left side is left in layer 1");
}
