/* test_xfc_about.c — compiler/emit_about.c: the spec hash a binary's
 * --version prints (FNV-1a 64, checked against the published test vectors)
 * and the --help paragraph of each model kind (what the CLI tests do not
 * build: a Transformer, a release build of a spec with listeners).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit_int.h"

static Src src;
static Spec spec;
static Model model;
static Plan plan;

static char *about(const char *text, Profile profile) {
    src.path = "a.xf";
    src.text = strdup(text);
    src.len = strlen(text);
    diag_set_output(stderr);
    diag_init(&src);
    cr_assert_eq(parse_spec(&src, &spec), 0);
    cr_assert_eq(check_spec(&spec, &src, &model), 0);
    cr_assert_eq(plan_build(&model, profile, &plan), 0);
    char *a = emit_about(&plan, "a.xf");
    for (char *c = a; *c && strncmp(c, "\n  line", 7); c++) /* the paragraph as one line */
        if (*c == '\n' && c[1] != '\n' && c[1])
            *c = ' ';
    return a;
}

static void teardown(void) {
    plan_free(&plan);
    ast_free_all();
    free(src.text);
    src.text = NULL;
}

TestSuite(about, .fini = teardown);

Test(about, fnv1a64_test_vectors) {
    cr_expect_eq(emit_spec_hash("", 0), 0xcbf29ce484222325ull);
    cr_expect_eq(emit_spec_hash("a", 1), 0xaf63dc4c8601ec8cull);
    cr_expect_eq(emit_spec_hash("foobar", 6), 0x85944171f73967e8ull);
}

Test(about, transformer_describes_both_stacks) {
    char *a = about("model t : Transformer { n_layers = 2 n_heads = 2 query_dimensions = 4 "
                    "value_dimensions = 4\n"
                    "  decoder { n_layers = 1 causal = true cross_attention_type = linear } }\n"
                    "listen AttentionEvent -> stats\n",
                    PROFILE_RELEASE);
    cr_expect(strstr(a, "t: a Transformer compiled by xfc ") == a, "%s", a);
    cr_expect(strstr(a, "Encoder: 2 layers, d_model 8 (2 heads x 4)") != NULL, "%s", a);
    cr_expect(strstr(a, "Decoder: 1 layer, d_model 8 (2 heads x 4), feed-forward 1024, relu, "
                        "post-norm, causal full "
                        "attention, linear cross-attention.") != NULL,
              "%s", a);
    cr_expect(
        strstr(a,
               "[batch, seq, 8] (the decoder input; or [seq, 8], one sequence) and --source S.npy "
               "[batch, src, 8]; writes [batch, seq, 8]") != NULL,
        "%s", a);
    cr_expect(strstr(a, "(profile release)") != NULL, "%s", a);
    cr_expect(strstr(a, "No listeners compiled in.\n\n") != NULL, "%s", a);
    free(a);
}

Test(about, only_the_listeners_compiled_in) {
    char *a = about("model e : TransformerEncoder { n_layers = 1 }\n"
                    "listen AttentionEvent & within(layers[3]) -> stats\n"
                    "listen QKVEvent -> print\n",
                    PROFILE_DEBUG);
    cr_expect(strstr(a, "(profile debug)") != NULL, "%s", a);
    cr_expect(strstr(a, "Listeners:\n  line 3: listen QKVEvent -> print\n\n") != NULL, "%s", a);
    cr_expect(strstr(a, "line 2") == NULL, "a listener that never fires is not in the binary: %s",
              a);
    free(a);
}
