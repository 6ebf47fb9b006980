/* test_xfc_names.c — compiler/names.h: the tables the phases share agree
 * with each other and with the runtime's enums, and unknown() is the one
 * "did you mean" (suggestion when close, the fallback text otherwise). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "model.h"

Test(names, event_table_indexed_by_runtime_kind) {
    cr_assert_eq(event_info[XF_QKV_EVENT].kind, XF_QKV_EVENT);
    cr_assert_str_eq(event_info[XF_ATTENTION_EVENT].name, "AttentionEvent");
    cr_assert_str_eq(event_info[XF_INTERMEDIATE_OUTPUT].c_enum, "XF_INTERMEDIATE_OUTPUT");
    for (int k = 0; k < N_EVENT_CLASSES; k++)
        cr_assert_str_eq(event_class_names[k], event_info[k].name);
    cr_assert_null(event_class_names[N_EVENT_CLASSES]);
}

Test(names, fields_belong_to_their_class) {
    for (int f = 0; f < N_FIELDS; f++) {
        cr_assert_str_eq(field_names[f], field_info[f].name);
        cr_assert_str_eq(pred_names[f + 2], field_info[f].name);
    }
    cr_assert_eq(field_info[FIELD_ATTENTION_MATRIX].owner, XF_ATTENTION_EVENT);
    cr_assert_eq(field_info[FIELD_X].rank, 3);
}

Test(names, handlers_and_settings) {
    cr_assert_eq(name_lookup("figure", handler_names), HANDLER_FIGURE);
    cr_assert_eq(handler_info[HANDLER_FIGURE].named, HARG_HEAD | HARG_SAMPLE | HARG_COLS);
    cr_assert_eq(handler_info[HANDLER_CALL].positional, POS_SYMBOL);
    cr_assert_str_eq(handler_info[HANDLER_SAVE].cfg, "xf_save_cfg");
    cr_assert_eq(name_lookup("layer_norm_eps", setting_names), S_EPS);
    cr_assert_eq(setting_info[S_ATT].values, attention_type_names);
    cr_assert_eq(name_lookup("Transformer", model_kind_names), MODEL_TRANSFORMER);
    cr_assert_str_eq(expr_op_text(EX_LE), "<=");
    cr_assert_null(expr_op_text(EX_NUM));
    cr_assert_str_eq(name_list_text(activation_names), "relu or gelu");
    cr_assert_str_eq(name_list_text(normalization_names), "post or pre");
}

static char *run_unknown_in(const char *word, const char *const *cands, const char *otherwise,
                            const char *doc) {
    static Src src = {"t.xf", (char *)"x\n", 2};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    diag_set_output(f);
    diag_init(&src);
    unknown((Loc){1, 1}, 0, word, cands, "'%s'", otherwise, doc, "unknown name '%s'", word);
    fclose(f);
    diag_set_output(NULL);
    return buf;
}

static char *run_unknown(const char *word, const char *otherwise) {
    return run_unknown_in(word, handler_names, otherwise, NULL);
}

Test(names, unknown_suggests_or_falls_back) {
    char *a = run_unknown("heatmao", " (expected …)");
    cr_assert(strstr(a, "t.xf:1:1: error: unknown name 'heatmao'; did you mean 'heatmap'?"), "%s",
              a);
    char *b = run_unknown("zzzzzzzz", " (expected save or stats)");
    cr_assert(strstr(b, "unknown name 'zzzzzzzz' (expected save or stats)"), "%s", b);
    free(a);
    free(b);
}

/* PyTorch / fast-transformers spellings, upper case, and the docs pointer. */
Test(names, unknown_knows_torch_names_and_points_to_the_docs) {
    char *a = run_unknown_in("dim_feedforward", setting_names, "", DOC_SETTINGS);
    cr_assert(strstr(a, "unknown name 'dim_feedforward'; did you mean 'feed_forward_dimensions'? "
                        "(see docs/DSL.md §3 Settings)\n"),
              "%s", a);
    char *b = run_unknown_in("GELU", activation_names, " (expected relu or gelu)", NULL);
    cr_assert(strstr(b, "unknown name 'GELU'; did you mean 'gelu'?\n"), "%s", b);
    char *c = run_unknown_in("zzzzzzzz", setting_names, "", DOC_SETTINGS);
    cr_assert(strstr(c, "unknown name 'zzzzzzzz' (see docs/DSL.md §3 Settings)\n"), "%s", c);
    free(a), free(b), free(c);
}

Test(names, alias_matches_the_value_and_the_candidates) {
    cr_assert_str_eq(alias_find("norm_first", "true", setting_names), "normalization = pre");
    cr_assert_str_eq(alias_find("norm_first", "false", setting_names), "normalization = post");
    cr_assert_str_eq(alias_find("norm_first", NULL, setting_names), "normalization");
    cr_assert_str_eq(alias_find("norm_first", NULL, normalization_names), "pre");
    cr_assert_str_eq(alias_find("nhead", NULL, setting_names), "n_heads");
    cr_assert_null(alias_find("nhead", NULL, handler_names),
                   "only where its xfc name is a candidate");
    cr_assert_null(alias_find("n_heads", NULL, setting_names));
}

Test(names, xalloc_checks_overflow, .exit_code = 1) {
    xrealloc(NULL, (size_t)-1 / 2, 4); /* n * size overflows: the one out-of-memory exit */
}
