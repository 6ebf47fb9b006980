/* test_xfc_parse.c — grammar/xf.l + xf.y + compiler/ast.c + compiler/diag.c:
 * every construct of SPEC §2 parses into the expected AST (kinds, names,
 * paths, positions); syntax errors are reported at the right line:col with
 * the expected text, all of them in one run; limits (nesting depth, name
 * length) hold; stray bytes, NUL, overflow and unterminated strings are
 * caught; src_read rejects what it must.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xfc_test.h"

static Spec spec;

/* Parses `len` bytes of `text` as "t.xf"; diagnostics go to out_buf. */
static int parse_n(const char *text, size_t len) {
    test_src("t.xf", text, len);
    int e = parse_spec(&src, &spec);
    fflush(out_f);
    return e;
}

static int parse(const char *text) {
    return parse_n(text, strlen(text));
}

static void teardown(void) {
    test_src_free();
}

TestSuite(parse, .fini = teardown);

#define assert_loc(l, L, C)                                                                        \
    do {                                                                                           \
        cr_assert_eq((l).line, (L), "line %d != %d", (l).line, (L));                               \
        cr_assert_eq((l).col, (C), "col %d != %d", (l).col, (C));                                  \
    } while (0)

static const ListenDecl *nth_listener(int i) {
    const ListenDecl *l = spec.listeners;
    while (l && i-- > 0)
        l = l->next;
    cr_assert_not_null(l);
    return l;
}

/* ---- models ------------------------------------------------------------- */

Test(parse, model_with_every_value_kind) {
    const char *text = "# comment\n"
                       "model encoder : TransformerEncoder {\n"
                       "    n_layers = 4\n"
                       "    attention_type = \"causal-linear\"   # or an identifier\n"
                       "    softmax_temp = 0.125\n"
                       "    final_normalization = false\n"
                       "    activation = gelu\n"
                       "    layer_norm_eps = 1e-5\n"
                       "    n_heads = -3\n"
                       "    causal = true\n"
                       "    topk = .5\n"
                       "}\n";
    cr_assert_eq(parse(text), 0, "%s", out());
    cr_assert_str_empty(out());
    const ModelDecl *m = spec.model;
    cr_assert_not_null(m);
    cr_assert_str_eq(m->name, "encoder");
    assert_loc(m->name_loc, 2, 7);
    cr_assert_str_eq(m->kind, "TransformerEncoder");
    assert_loc(m->kind_loc, 2, 17);
    cr_assert_null(m->blocks);
    cr_assert_null(spec.listeners);

    const Setting *s = m->settings;
    cr_assert_str_eq(s->name, "n_layers");
    assert_loc(s->loc, 3, 5);
    cr_assert_eq(s->val.kind, VAL_INT);
    cr_assert_eq(s->val.i, 4);
    assert_loc(s->val.loc, 3, 16);
    s = s->next;
    cr_assert_str_eq(s->name, "attention_type");
    cr_assert_eq(s->val.kind, VAL_STRING);
    cr_assert_str_eq(s->val.s, "causal-linear");
    assert_loc(s->val.loc, 4, 22);
    s = s->next;
    cr_assert_eq(s->val.kind, VAL_FLOAT);
    cr_assert_float_eq(s->val.f, 0.125, 1e-12);
    s = s->next;
    cr_assert_eq(s->val.kind, VAL_BOOL);
    cr_assert_eq(s->val.i, 0);
    s = s->next;
    cr_assert_eq(s->val.kind, VAL_IDENT);
    cr_assert_str_eq(s->val.s, "gelu");
    s = s->next;
    cr_assert_eq(s->val.kind, VAL_FLOAT);
    cr_assert_float_eq(s->val.f, 1e-5, 1e-15);
    s = s->next;
    cr_assert_eq(s->val.kind, VAL_INT);
    cr_assert_eq(s->val.i, -3);
    assert_loc(s->val.loc, 9, 15); /* a negative value starts at its '-' */
    s = s->next;
    cr_assert_eq(s->val.kind, VAL_BOOL);
    cr_assert_eq(s->val.i, 1);
    s = s->next;
    cr_assert_float_eq(s->val.f, 0.5, 1e-12);
    cr_assert_null(s->next);
}

Test(parse, transformer_blocks_in_order) {
    const char *text = "model t : Transformer { n_heads = 8   encoder { n_layers = 6 }   "
                       "decoder { n_layers = 2 causal = true }  value_dimensions = 32 }";
    cr_assert_eq(parse(text), 0, "%s", out());
    const ModelDecl *m = spec.model;
    cr_assert_str_eq(m->kind, "Transformer");
    cr_assert_str_eq(m->settings->name, "n_heads");
    cr_assert_str_eq(m->settings->next->name, "value_dimensions");
    cr_assert_null(m->settings->next->next);
    const Block *b = m->blocks;
    cr_assert_str_eq(b->name, "encoder");
    assert_loc(b->loc, 1, 39);
    cr_assert_str_eq(b->settings->name, "n_layers");
    cr_assert_eq(b->settings->val.i, 6);
    cr_assert_null(b->settings->next);
    b = b->next;
    cr_assert_str_eq(b->name, "decoder");
    cr_assert_eq(b->settings->val.i, 2);
    cr_assert_str_eq(b->settings->next->name, "causal");
    cr_assert_null(b->next);
}

Test(parse, string_escapes) {
    cr_assert_eq(parse("model m : TransformerEncoder { a = \"q\\\"b\\\\c\\nd\\te\" }"), 0, "%s",
                 out());
    cr_assert_str_eq(spec.model->settings->val.s, "q\"b\\c\nd\te");
}

Test(parse, float_forms) {
    cr_assert_eq(parse("model m : TransformerEncoder { a = 1e-5 b = .5 c = 2. d = 3E2 e = -0.25 }"),
                 0, "%s", out());
    const Setting *s = spec.model->settings;
    double want[] = {1e-5, 0.5, 2.0, 300.0, -0.25};
    for (int i = 0; i < 5; i++, s = s->next) {
        cr_assert_eq(s->val.kind, VAL_FLOAT, "setting %d", i);
        cr_assert_float_eq(s->val.f, want[i], 1e-12, "setting %d", i);
    }
}

Test(parse, empty_and_comment_only_files) {
    cr_assert_eq(parse("# only a comment\n\n   \t\n"), 0);
    cr_assert_null(spec.model);
    cr_assert_null(spec.listeners);
}

/* ---- listeners (the six lines of SPEC §2 and the brief) --------------------- */

static const char *listeners_text =
    "model encoder : TransformerEncoder { }\n"
    "listen AttentionEvent -> heatmap(\"attention/{source}.png\", head = 0, sample = 0)\n"
    "listen QKVEvent & from_layer(layers[2].attention) -> save(\"qkv/{source}.{field}.npy\")\n"
    "listen event_class(AttentionEvent) & (attention_matrix.shape[2] == 100) -> stats\n"
    "listen ~(within(decoder.layers[0]) | layer_name_contains(\"cross\")) & Event -> "
    "call(my_handler)\n"
    "listen IntermediateOutput & (layer >= 2) -> print\n"
    "listen AttentionEvent -> figure(\"attention.png\", head = 0, sample = 0, cols = 2)\n";

Test(parse, listener_class_and_heatmap) {
    cr_assert_eq(parse(listeners_text), 0, "%s", out());
    const ListenDecl *l = nth_listener(0);
    assert_loc(l->loc, 2, 1);
    cr_assert_eq(l->filter->kind, FL_CLASS);
    cr_assert_str_eq(l->filter->name, "AttentionEvent");
    assert_loc(l->filter->loc, 2, 8);
    cr_assert_str_eq(l->handler, "heatmap");
    assert_loc(l->handler_loc, 2, 26);
    const Arg *a = l->args;
    cr_assert_null(a->name);
    cr_assert_eq(a->val.kind, VAL_STRING);
    cr_assert_str_eq(a->val.s, "attention/{source}.png");
    assert_loc(a->loc, 2, 34);
    a = a->next;
    cr_assert_str_eq(a->name, "head");
    cr_assert_eq(a->val.kind, VAL_INT);
    cr_assert_eq(a->val.i, 0);
    assert_loc(a->loc, 2, 60);
    a = a->next;
    cr_assert_str_eq(a->name, "sample");
    cr_assert_null(a->next);
}

Test(parse, listener_from_layer_path) {
    cr_assert_eq(parse(listeners_text), 0, "%s", out());
    const Filter *f = nth_listener(1)->filter;
    cr_assert_eq(f->kind, FL_AND);
    assert_loc(f->loc, 3, 17);
    cr_assert_eq(f->lhs->kind, FL_CLASS);
    cr_assert_str_eq(f->lhs->name, "QKVEvent");
    cr_assert_eq(f->rhs->kind, FL_FROM_LAYER);
    cr_assert_str_eq(f->rhs->name, "layers.2.attention");
    assert_loc(f->rhs->loc, 3, 19);
    cr_assert_str_eq(nth_listener(1)->handler, "save");
    cr_assert_str_eq(nth_listener(1)->args->val.s, "qkv/{source}.{field}.npy");
}

Test(parse, listener_event_class_and_predicate) {
    cr_assert_eq(parse(listeners_text), 0, "%s", out());
    const ListenDecl *l = nth_listener(2);
    const Filter *f = l->filter;
    cr_assert_eq(f->kind, FL_AND);
    cr_assert_eq(f->lhs->kind, FL_CLASS);
    cr_assert_str_eq(f->lhs->name, "AttentionEvent");
    assert_loc(f->lhs->loc, 4, 20); /* the class inside event_class( ) */
    const Filter *p = f->rhs;
    cr_assert_eq(p->kind, FL_PRED);
    assert_loc(p->loc, 4, 39);
    const Expr *e = p->expr;
    cr_assert_eq(e->kind, EX_EQ);
    assert_loc(e->loc, 4, 65);
    cr_assert_eq(e->lhs->kind, EX_DIM);
    cr_assert_str_eq(e->lhs->name, "attention_matrix");
    cr_assert_eq(e->lhs->num, 2);
    assert_loc(e->lhs->loc, 4, 39);
    assert_loc(e->lhs->idx_loc, 4, 62);
    cr_assert_eq(e->rhs->kind, EX_NUM);
    cr_assert_eq(e->rhs->num, 100);
    cr_assert_str_eq(l->handler, "stats");
    cr_assert_null(l->args);
}

Test(parse, listener_not_or_within_contains_call) {
    cr_assert_eq(parse(listeners_text), 0, "%s", out());
    const ListenDecl *l = nth_listener(3);
    const Filter *f = l->filter;
    cr_assert_eq(f->kind, FL_AND);
    cr_assert_eq(f->lhs->kind, FL_NOT);
    assert_loc(f->lhs->loc, 5, 8);
    const Filter *o = f->lhs->lhs;
    cr_assert_eq(o->kind, FL_OR);
    cr_assert_eq(o->lhs->kind, FL_WITHIN);
    cr_assert_str_eq(o->lhs->name, "decoder.layers.0");
    cr_assert_eq(o->rhs->kind, FL_NAME_CONTAINS);
    cr_assert_str_eq(o->rhs->name, "cross");
    cr_assert_eq(f->rhs->kind, FL_CLASS);
    cr_assert_str_eq(f->rhs->name, "Event");
    cr_assert_str_eq(l->handler, "call");
    cr_assert_eq(l->args->val.kind, VAL_IDENT);
    cr_assert_str_eq(l->args->val.s, "my_handler");
    cr_assert_null(l->args->name);
}

Test(parse, listener_layer_predicate_and_figure) {
    cr_assert_eq(parse(listeners_text), 0, "%s", out());
    const Filter *f = nth_listener(4)->filter;
    cr_assert_eq(f->rhs->kind, FL_PRED);
    cr_assert_eq(f->rhs->expr->kind, EX_GE);
    cr_assert_eq(f->rhs->expr->lhs->kind, EX_NAME);
    cr_assert_str_eq(f->rhs->expr->lhs->name, "layer");
    cr_assert_eq(f->rhs->expr->rhs->num, 2);
    cr_assert_str_eq(nth_listener(4)->handler, "print");
    const ListenDecl *fig = nth_listener(5);
    cr_assert_str_eq(fig->handler, "figure");
    const Arg *a = fig->args->next->next->next;
    cr_assert_str_eq(a->name, "cols");
    cr_assert_eq(a->val.i, 2);
    cr_assert_null(fig->next);
}

Test(parse, no_separators_needed) {
    const char *text =
        "model m:TransformerEncoder{n_layers=2 n_heads=2}listen Event->print listen Event->stats()";
    cr_assert_eq(parse(text), 0, "%s", out());
    cr_assert_eq(spec.model->settings->next->val.i, 2);
    cr_assert_str_eq(nth_listener(0)->handler, "print");
    cr_assert_str_eq(nth_listener(1)->handler, "stats");
    cr_assert_null(nth_listener(1)->args);
}

Test(parse, operator_precedence) {
    cr_assert_eq(parse("listen A | B & ~C -> print\n"
                       "listen (A | B) & C -> print\n"
                       "listen ~~A -> print\n"),
                 0, "%s", out());
    const Filter *f = nth_listener(0)->filter; /* A | (B & (~C)) */
    cr_assert_eq(f->kind, FL_OR);
    cr_assert_str_eq(f->lhs->name, "A");
    cr_assert_eq(f->rhs->kind, FL_AND);
    cr_assert_str_eq(f->rhs->lhs->name, "B");
    cr_assert_eq(f->rhs->rhs->kind, FL_NOT);
    cr_assert_str_eq(f->rhs->rhs->lhs->name, "C");
    cr_assert_eq(f->depth, 4);
    f = nth_listener(1)->filter; /* (A | B) & C */
    cr_assert_eq(f->kind, FL_AND);
    cr_assert_eq(f->lhs->kind, FL_OR);
    cr_assert_str_eq(f->rhs->name, "C");
    f = nth_listener(2)->filter;
    cr_assert_eq(f->kind, FL_NOT);
    cr_assert_eq(f->lhs->kind, FL_NOT);
    cr_assert_eq(f->lhs->lhs->kind, FL_CLASS);
}

Test(parse, arithmetic_precedence) {
    cr_assert_eq(parse("listen 1 + 2 * x.shape[0] == layer - 1 - 2 -> print\n"
                       "listen -layer * 2 != 4 & Event -> print\n"
                       "listen layer < 1 | layer > 2 | layer <= 3 -> print\n"),
                 0, "%s", out());
    const Filter *f = nth_listener(0)->filter;
    cr_assert_eq(f->kind, FL_PRED);
    const Expr *e = f->expr;
    cr_assert_eq(e->kind, EX_EQ);
    cr_assert_eq(e->lhs->kind, EX_ADD); /* 1 + (2 * x.shape[0]) */
    cr_assert_eq(e->lhs->lhs->num, 1);
    cr_assert_eq(e->lhs->rhs->kind, EX_MUL);
    cr_assert_eq(e->lhs->rhs->rhs->kind, EX_DIM);
    cr_assert_str_eq(e->lhs->rhs->rhs->name, "x");
    cr_assert_eq(e->rhs->kind, EX_SUB); /* (layer - 1) - 2 */
    cr_assert_eq(e->rhs->lhs->kind, EX_SUB);
    cr_assert_eq(e->rhs->rhs->num, 2);
    f = nth_listener(1)->filter; /* ((-layer) * 2 != 4) & Event */
    cr_assert_eq(f->kind, FL_AND);
    cr_assert_eq(f->lhs->expr->kind, EX_NE);
    cr_assert_eq(f->lhs->expr->lhs->kind, EX_MUL);
    cr_assert_eq(f->lhs->expr->lhs->lhs->kind, EX_NEG);
    f = nth_listener(2)->filter;
    cr_assert_eq(f->kind, FL_OR);
    cr_assert_eq(f->rhs->expr->kind, EX_LE);
    cr_assert_eq(f->lhs->kind, FL_OR);
    cr_assert_eq(f->lhs->lhs->expr->kind, EX_LT);
    cr_assert_eq(f->lhs->rhs->expr->kind, EX_GT);
}

Test(parse, module_paths) {
    cr_assert_eq(parse("listen from_layer(layers[2].attention.inner_attention) -> print\n"
                       "listen within(decoder.layers[0].cross_attention) -> print\n"
                       "listen within(encoder) -> print\n"
                       "listen from_layer(\"layers.2.attention\") -> print\n"
                       "listen from_layer(\"\") -> print\n"),
                 0, "%s", out());
    cr_assert_str_eq(nth_listener(0)->filter->name, "layers.2.attention.inner_attention");
    cr_assert_eq(nth_listener(1)->filter->kind, FL_WITHIN);
    cr_assert_str_eq(nth_listener(1)->filter->name, "decoder.layers.0.cross_attention");
    cr_assert_str_eq(nth_listener(2)->filter->name, "encoder");
    cr_assert_eq(nth_listener(3)->filter->kind, FL_FROM_LAYER);
    cr_assert_str_eq(nth_listener(3)->filter->name, "layers.2.attention");
    cr_assert_str_eq(nth_listener(4)->filter->name, "");
}

Test(parse, handler_args_positional_and_named) {
    cr_assert_eq(parse("listen E -> h(\"s\", ident, 3, -2, 1.5, true, k = v, n = \"w\")"), 0, "%s",
                 out());
    const Arg *a = nth_listener(0)->args;
    ValKind kinds[] = {VAL_STRING, VAL_IDENT, VAL_INT,   VAL_INT,
                       VAL_FLOAT,  VAL_BOOL,  VAL_IDENT, VAL_STRING};
    for (int i = 0; i < 8; i++, a = a->next) {
        cr_assert_not_null(a, "arg %d", i);
        cr_assert_eq(a->val.kind, kinds[i], "arg %d", i);
        cr_assert_eq(a->name != NULL, i >= 6, "arg %d", i);
    }
    cr_assert_null(a);
    cr_assert_eq(nth_listener(0)->args->next->next->next->val.i, -2);
}

Test(parse, tabs_and_crlf_positions) {
    cr_assert_eq(parse("model m : TransformerEncoder {\r\n\tn_layers\t= 4\r\n}\r\n"), 0, "%s",
                 out());
    assert_loc(spec.model->settings->loc, 2, 2);
    assert_loc(spec.model->settings->val.loc, 2, 13);
}

/* ---- syntax errors ------------------------------------------------------- */

Test(parse, syntax_error_position_and_text) {
    cr_assert_eq(parse("model m : TransformerEncoder {\n    n_layers = = 4\n}\n"), 1);
    assert_out_has("t.xf:2:16: error: syntax error: unexpected '='; expected a value\n");
    assert_out_has("\n        n_layers = = 4\n");
    assert_out_has("\n                   ^\n");
}

Test(parse, syntax_error_expected_tokens) {
    cr_assert_eq(parse("listen AttentionEvent -> -> print\n"), 1);
    assert_out_has("t.xf:1:26: error: syntax error: unexpected '->'; expected identifier");
    teardown();
    cr_assert_eq(parse("model m TransformerEncoder { }\n"), 1);
    assert_out_has(
        "t.xf:1:9: error: syntax error: unexpected identifier 'TransformerEncoder'; expected ':'");
    teardown();
    cr_assert_eq(parse("model m : TransformerEncoder { n_layers 4 }\n"), 1);
    assert_out_has("t.xf:1:41: error: syntax error: unexpected integer 4; expected '{' or '='");
}

Test(parse, error_at_end_of_file) {
    cr_assert_eq(parse("model m : TransformerEncoder { }\nlisten AttentionEvent"), 1);
    assert_out_has("t.xf:2:22: error: syntax error: unexpected end of file");
    teardown();
    cr_assert_eq(parse("model m : TransformerEncoder {"), 1);
    assert_out_has("t.xf:1:31: error: syntax error: unexpected end of file");
}

Test(parse, caret_keeps_tabs) {
    cr_assert_eq(parse("model m : TransformerEncoder {\n\t\tn_layers = = 4\n}\n"), 1);
    assert_out_has("t.xf:2:14: error:");
    assert_out_has("\n    \t\tn_layers = = 4\n    \t\t           ^\n");
    cr_assert_null(strchr(out(), '\033'), "no colors when not writing to a tty");
}

Test(parse, every_broken_statement_reported) {
    const char *text = "model m : TransformerEncoder { n_layers = = 4 }\n" /* 1 */
                       "listen AttentionEvent -> stats\n"                  /* good */
                       "listen AttentionEvent stats\n"                     /* 3: missing -> */
                       "listen -> print\n"                                 /* 4: missing filter */
                       "listen QKVEvent -> save(\"a.npy\",)\n"             /* 5: trailing comma */
                       "listen Event -> print\n"                           /* good */
                       "listen (Event -> print\n";                         /* 7 */
    cr_assert_eq(parse(text), 5, "%s", out());
    assert_out_has("t.xf:1:43: error: syntax error: unexpected '='");
    assert_out_has("t.xf:3:23: error: syntax error: unexpected identifier 'stats'");
    assert_out_has("t.xf:4:8: error: syntax error: unexpected '->'");
    assert_out_has("t.xf:5:33: error: syntax error: unexpected ')'; expected a value");
    assert_out_has("t.xf:7:15: error: syntax error: unexpected '->'");
    cr_assert_eq(count(out(), ": error: "), 5, "%s", out());
    /* the good listeners between the broken ones are kept */
    cr_assert_str_eq(nth_listener(0)->handler, "stats");
    cr_assert_str_eq(nth_listener(1)->handler, "print");
    cr_assert_null(nth_listener(1)->next);
}

Test(parse, second_model_is_an_error_with_a_note) {
    cr_assert_eq(parse("model a : TransformerEncoder { }\nmodel b : TransformerEncoder { }\n"), 1);
    assert_out_has("t.xf:2:7: error: a spec declares one model; 'b' is a second one");
    assert_out_has("t.xf:1:7: note: the model 'a' is declared here");
    cr_assert_str_eq(spec.model->name, "a");
}

Test(parse, unknown_filter_function_suggests) {
    cr_assert_eq(parse("listen from_layr(layers[1]) -> print\nlisten frobnicate(x) -> print\n"), 2);
    assert_out_has("t.xf:1:8: error: unknown filter 'from_layr'; did you mean 'from_layer'?");
    assert_out_has("t.xf:2:8: error: unknown filter 'frobnicate' (expected event_class, "
                   "from_layer, within or layer_name_contains)");
}

Test(parse, filter_argument_kinds) {
    cr_assert_eq(parse("listen event_class(\"AttentionEvent\") -> print\n"
                       "listen layer_name_contains(layers[1]) -> print\n"
                       "listen event_class(layers[0]) -> print\n"),
                 3);
    assert_out_has("t.xf:1:20: error: event_class takes the name of an event class");
    assert_out_has("t.xf:2:28: error: layer_name_contains takes a string");
    assert_out_has("t.xf:3:20: error: event_class takes the name of an event class");
}

Test(parse, shape_must_be_spelled_shape) {
    cr_assert_eq(parse("listen x.shap[2] == 1 -> print\n"), 1);
    assert_out_has("t.xf:1:10: error: expected 'shape' after 'x.'");
}

/* ---- lexical problems ---------------------------------------------------- */

Test(parse, stray_characters) {
    cr_assert_eq(parse("model m : TransformerEncoder { n_layers = 4; }\n"
                       "listen @ AttentionEvent -> stats\n"
                       "listen Ev\xc3\xa9nt -> stats\n"
                       "listen \x01 -> stats\n"
                       "listen Event -> print\n"),
                 4, "%s", out());
    assert_out_has("t.xf:1:44: error: stray character ';'");
    assert_out_has("t.xf:2:8: error: stray character '@'");
    assert_out_has("t.xf:3:10: error: stray character '\\xc3'");
    assert_out_has("t.xf:4:8: error: stray character '\\x01'");
    cr_assert_eq(count(out(), ": error: "), 4, "one message per stray byte run:\n%s", out());
    cr_assert_str_eq(nth_listener(0)->handler, "print");
}

Test(parse, non_ascii_in_strings_and_comments_is_fine) {
    cr_assert_eq(
        parse("# caf\xc3\xa9\nlisten Event -> save(\"r\xc3\xa9sum\xc3\xa9/{source}.npy\")\n"), 0,
        "%s", out());
    cr_assert_str_eq(nth_listener(0)->args->val.s, "r\xc3\xa9sum\xc3\xa9/{source}.npy");
}

Test(parse, nul_byte_is_a_stray_character) {
    const char text[] =
        "model m : TransformerEncoder { }\nlisten Ev\0ent -> print\nlisten Event -> stats\n";
    cr_assert_eq(parse_n(text, sizeof text - 1), 1, "%s", out());
    assert_out_has("t.xf:2:10: error: stray character '\\x00'");
    cr_assert_str_eq(nth_listener(0)->handler, "stats");
}

Test(parse, nul_byte_in_string_and_comment) {
    const char text[] = "# a\0b\nlisten Event -> save(\"a\0b\")\n";
    cr_assert_eq(parse_n(text, sizeof text - 1), 2, "%s", out());
    assert_out_has("t.xf:1:4: error: stray character '\\x00'");
    assert_out_has("t.xf:2:24: error: NUL byte in string");
}

Test(parse, unterminated_string_at_its_start) {
    cr_assert_eq(
        parse("listen Event -> save(\"abc\nlisten Event -> print\nlisten Event -> save(\"x"), 2,
        "%s", out());
    assert_out_has("t.xf:1:22: error: unterminated string");
    assert_out_has("t.xf:3:22: error: unterminated string");
    cr_assert_eq(count(out(), ": error: "), 2, "no follow-up syntax error:\n%s", out());
    cr_assert_str_eq(nth_listener(0)->handler, "print");
}

Test(parse, unknown_escape) {
    cr_assert_eq(parse("listen Event -> save(\"a\\qb\")\n"), 1);
    assert_out_has("t.xf:1:24: error: unknown escape sequence in string");
}

Test(parse, integer_overflow) {
    cr_assert_eq(parse("model m : TransformerEncoder { n_layers = 99999999999999999999 n_heads = "
                       "9223372036854775807 "
                       "feed_forward_dimensions = 1099511627776 }"),
                 0, "%s", out());
    const Setting *s = spec.model->settings;
    cr_assert(s->val.overflow, "overflow flagged, reported by check");
    cr_assert(!s->next->val.overflow);
    cr_assert_eq(s->next->val.i, 9223372036854775807LL);
    cr_assert(!s->next->next->val.overflow);
    cr_assert_eq(s->next->next->val.i, 1099511627776LL);
    teardown();
    cr_assert_eq(parse("listen layer == 99999999999999999999 -> print\nlisten "
                       "x.shape[99999999999999999999] == 1 -> print\n"
                       "listen from_layer(layers[99999999999999999999]) -> print\n"),
                 3);
    assert_out_has("t.xf:1:17: error: integer literal too large");
    assert_out_has("t.xf:2:16: error: shape index too large");
    assert_out_has("t.xf:3:26: error: layer index too large");
}

Test(parse, float_overflow_is_flagged) {
    cr_assert_eq(parse("model m : TransformerEncoder { softmax_temp = 1e999 }"), 0);
    cr_assert(spec.model->settings->val.overflow);
}

/* ---- limits ------------------------------------------------------------ */

static char *repeat(const char *pre, const char *unit, int n, const char *mid, const char *unit2,
                    int n2, const char *post) {
    size_t len = strlen(pre) + strlen(unit) * (size_t)n + strlen(mid) + strlen(unit2) * (size_t)n2 +
                 strlen(post) + 1;
    char *s = malloc(len);
    strcpy(s, pre);
    for (int i = 0; i < n; i++)
        strcat(s, unit);
    strcat(s, mid);
    for (int i = 0; i < n2; i++)
        strcat(s, unit2);
    strcat(s, post);
    return s;
}

Test(parse, nesting_depth_64_is_fine) {
    char *t = repeat("listen ", "(", 64, "Event", ")", 64, " -> print\n");
    cr_assert_eq(parse(t), 0, "%s", out());
    cr_assert_eq(nth_listener(0)->filter->kind, FL_CLASS);
    free(t);
    teardown();
    t = repeat("listen ", "~", 63, "Event", "", 0, " -> print\n");
    cr_assert_eq(parse(t), 0, "%s", out());
    cr_assert_eq(nth_listener(0)->filter->depth, 64);
    free(t);
}

Test(parse, nesting_depth_65_is_an_error) {
    char *t = repeat("listen ", "(", 65, "Event", ")", 65, " -> print\nlisten Event -> stats\n");
    cr_assert_eq(parse(t), 1, "%s", out());
    assert_out_has("t.xf:1:72: error: filter nested too deeply (more than 64 levels)");
    cr_assert_str_eq(nth_listener(0)->handler, "stats");
    free(t);
}

Test(parse, deep_not_chain_is_an_error) {
    char *t = repeat("listen ", "~", 100000, "Event -> print\n", "", 0, "listen Event -> stats\n");
    cr_assert_eq(parse(t), 1, "%s", out());
    assert_out_has("t.xf:1:72: error: filter nested too deeply");
    cr_assert_str_eq(nth_listener(0)->handler, "stats");
    free(t);
}

Test(parse, long_and_chain_is_bounded) {
    char *t = repeat("listen Event", " & Event", 5000, "", "", 0, " -> print\n");
    cr_assert_eq(parse(t), 1, "%s", out());
    assert_out_has("filter nested too deeply (more than 64 levels)");
    cr_assert(nth_listener(0)->filter->depth <= AST_MAX_DEPTH + 1);
    free(t);
}

Test(parse, long_arithmetic_is_bounded) {
    char *t = repeat("listen layer", " + 1", 5000, " == 1", "", 0, " -> print\n");
    cr_assert_eq(parse(t), 1, "%s", out());
    assert_out_has("filter nested too deeply");
    free(t);
    teardown();
    t = repeat("listen ", "-", 65, "1 == layer", "", 0, " -> print\n");
    cr_assert_eq(parse(t), 1, "%s", out());
    assert_out_has("t.xf:1:72: error: filter nested too deeply");
    free(t);
}

Test(parse, identifier_and_string_length_limits) {
    char *t =
        repeat("listen ", "a", AST_MAX_NAME + 10, " -> save(\"", "b", AST_MAX_NAME + 10, "\")\n");
    cr_assert_eq(parse(t), 2, "%s", out());
    assert_out_has("t.xf:1:8: error: identifier too long (more than 4096 characters)");
    assert_out_has("error: string too long (more than 4096 bytes)");
    cr_assert_eq(strlen(nth_listener(0)->filter->name), AST_MAX_NAME);
    cr_assert_eq(strlen(nth_listener(0)->args->val.s), AST_MAX_NAME);
    free(t);
}

Test(parse, long_module_path_is_an_error) {
    char *t = repeat("listen within(a", ".layers[1]", 1000, ") -> print\n", "", 0, "");
    cr_assert_eq(parse(t), 1, "%s", out());
    assert_out_has("t.xf:1:15: error: module path too long (more than 4096 bytes)");
    cr_assert_eq(strlen(nth_listener(0)->filter->name), AST_MAX_NAME);
    free(t);
    teardown();
    t = repeat("listen within(", "x", AST_MAX_NAME - 2, ".y", "", 0,
               ") -> print\n"); /* exactly the limit */
    cr_assert_eq(parse(t), 0, "%s", out());
    cr_assert_eq(strlen(nth_listener(0)->filter->name), AST_MAX_NAME);
    free(t);
}

Test(parse, errors_beyond_100_are_counted_not_printed) {
    char *t = repeat("", "listen @\n", 150, "", "", 0, "");
    cr_assert_eq(parse(t), 150);
    cr_assert_eq(count(out(), ": error: "), 100);
    assert_out_has("t.xf: note: too many errors; the rest are not shown");
    free(t);
}

Test(parse, long_line_shows_a_window) {
    char *t = repeat("listen Event", " ", 5000, "@ -> print", "", 0, "\n");
    cr_assert_eq(parse(t), 1);
    assert_out_has("t.xf:1:5013: error: stray character '@'");
    cr_assert_lt(strlen(out()), 600, "the whole 5000-byte line is not printed:\n%s", out());
    assert_out_has("...");
    free(t);
}

/* ---- diag helpers -------------------------------------------------------- */

Test(parse, diag_suggest_by_edit_distance) {
    static const char *const names[] = {"n_layers", "n_heads", "query_dimensions", "attention_type",
                                        NULL};
    cr_assert_str_eq(diag_suggest("n_layer", names), "n_layers");
    cr_assert_str_eq(diag_suggest("n_haeds", names), "n_heads");
    cr_assert_str_eq(diag_suggest("query_dimension", names), "query_dimensions");
    cr_assert_str_eq(diag_suggest("attentoin_typ", names), "attention_type"); /* 3 <= 13 / 3 */
    cr_assert_null(diag_suggest("banana", names));
    cr_assert_null(diag_suggest("x", names));
}

Test(parse, diag_warning_and_note_format) {
    cr_assert_eq(parse("listen Event -> print\n"), 0);
    diag_warning((Loc){1, 8}, "something %d", 42);
    diag_note((Loc){1, 1}, "here");
    assert_out_has("t.xf:1:8: warning: something 42\n    listen Event -> print\n           ^\n");
    assert_out_has("t.xf:1:1: note: here\n");
    cr_assert_eq(diag_warnings(), 1);
    cr_assert_eq(diag_errors(), 0);
}

/* ---- src_read ------------------------------------------------------------ */

static char tmpdir[64];

static void write_file(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite(data, 1, len, f);
    fclose(f);
}

static void capture(void) {
    out_f = open_memstream(&out_buf, &out_len);
    diag_set_output(out_f);
    strcpy(tmpdir, "/tmp/xfc_parse_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

Test(parse, src_read_reads_a_file) {
    capture();
    char path[128];
    snprintf(path, sizeof path, "%s/ok.xf", tmpdir);
    write_file(path, "listen Event -> print\n", 22);
    cr_assert_eq(src_read(&src, path), 0);
    cr_assert_eq(src.len, 22);
    cr_assert_str_eq(src.text, "listen Event -> print\n");
    cr_assert_str_empty(out());
    unlink(path);
    rmdir(tmpdir);
}

Test(parse, src_read_missing_file) {
    capture();
    cr_assert_eq(src_read(&src, "/nonexistent/dir/x.xf"), -1);
    assert_out_has("/nonexistent/dir/x.xf: error: cannot open: No such file or directory");
    rmdir(tmpdir);
}

Test(parse, src_read_directory) {
    capture();
    cr_assert_eq(src_read(&src, tmpdir), -1);
    assert_out_has(": error: is a directory");
    rmdir(tmpdir);
}

Test(parse, src_read_nul_byte_position) {
    capture();
    char path[128];
    snprintf(path, sizeof path, "%s/nul.xf", tmpdir);
    write_file(path, "model m\n  : Tr\0ansformer", 24);
    cr_assert_eq(src_read(&src, path), -1);
    char want[256];
    snprintf(want, sizeof want, "%s:2:7: error: file contains a NUL byte", path);
    assert_out_has(want);
    unlink(path);
    rmdir(tmpdir);
}

Test(parse, src_read_too_large) {
    capture();
    char path[128];
    snprintf(path, sizeof path, "%s/big.xf", tmpdir);
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n);
    memset(big, '#', n);
    write_file(path, big, n);
    free(big);
    cr_assert_eq(src_read(&src, path), -1);
    assert_out_has("error: file too large");
    unlink(path);
    /* exactly 1 MiB is accepted */
    big = malloc(n - 1);
    memset(big, '#', n - 1);
    write_file(path, big, n - 1);
    free(big);
    cr_assert_eq(src_read(&src, path), 0);
    cr_assert_eq(src.len, n - 1);
    unlink(path);
    rmdir(tmpdir);
}
