/* test_xfc_feature_map.c — the compiler side of random feature maps: the
 * settings resolve to fast-transformers' parameters (m, n_dims, width, temp,
 * orthogonal) and `xfc check` names each omega the model reads or draws. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ast.h"
#include "diag.h"
#include "emit.h"
#include "emit_int.h"
#include "model.h"

/* Checks `text` (written to a file) into *m; returns the error count. */
static int check_text(const char *text, Model *m, Src *src) {
    char path[] = "/tmp/xfc_fm_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cr_assert_eq(src_read(src, path), 0);
    unlink(path);
    diag_init(src);
    Spec spec;
    if (parse_spec(src, &spec))
        return 1;
    return check_spec(&spec, src, m);
}

#define SPEC(att, extra)                                                                           \
    "model m : TransformerDecoder {\n weights = fast_transformers\n n_layers = 1\n"                \
    " n_heads = 2\n query_dimensions = 8\n value_dimensions = 8\n attention_type = " att           \
    "\n causal = true\n cross_attention_type = linear\n" extra "}\n"

Test(xfc_feature_map, parameters_of_each_map) {
    static const struct {
        const char *spec;
        int m, n, width, orth;
        double temp;
    } cases[] = {
        {SPEC("causal_linear", " feature_map = favor\n feature_dimensions = 16\n"), 8, 16, 16, 1,
         0.35355339},
        {SPEC("causal_linear", " feature_map = random_fourier\n"), 4, 8, 8, 0, 0.35355339},
        {SPEC("causal_linear", " feature_map = smoothed_random_fourier\n feature_dimensions = 9\n"),
         4, 8, 9, 0, 0.35355339},
        {SPEC("causal_linear", " feature_map = generalized_random\n feature_dimensions = 5\n"), 5,
         10, 5, 1, 1.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Model m;
        Src src;
        cr_assert_eq(check_text(cases[i].spec, &m, &src), 0, "case %zu", i);
        FeatureMapParams f = emit_feature_map_params(&m.dec, m.dec.query_dimensions);
        cr_assert_eq(f.m, cases[i].m, "case %zu", i);
        cr_assert_eq(f.n_dims, cases[i].n, "case %zu", i);
        cr_assert_eq(f.width, cases[i].width, "case %zu", i);
        cr_assert_eq(f.orthogonal, cases[i].orth, "case %zu", i);
        cr_assert_float_eq(f.temp, cases[i].temp, 1e-7, "case %zu", i);
        src_free(&src);
    }
}

Test(xfc_feature_map, check_lists_each_omega) {
    Model m;
    Src src;
    cr_assert_eq(
        check_text(SPEC("causal_linear", " feature_map = favor\n random_seed = 5\n"), &m, &src), 0);
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    emit_print_random(&m, f);
    fclose(f);
    cr_assert(
        strstr(out,
               "random layers.0.self_attention.inner_attention.feature_map.omega [8, 4] (favor)"),
        "%s", out);
    cr_assert(
        strstr(out,
               "random layers.0.cross_attention.inner_attention.feature_map.omega [8, 4] (favor)"),
        "%s", out);
    cr_assert(strstr(out, "orthogonal normals from splitmix64 seeded by random_seed 5"), "%s", out);
    free(out);
    src_free(&src);

    cr_assert_eq(check_text(SPEC("full", ""), &m, &src), 0); /* elu: nothing drawn */
    f = open_memstream(&out, &n);
    emit_print_random(&m, f);
    fclose(f);
    cr_assert_eq(n, 0, "%s", out);
    free(out);
    src_free(&src);
}
