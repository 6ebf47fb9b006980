/* test_rt_handlers.c — patterns, events dir, save, stats, print. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "xf_handlers.h"
#include "xf_io.h"

TestSuite(handlers, .init = th_events_setup, .fini = th_events_teardown);

/* ---- capturing a stream (harness.h) ------------------------------------------ */

typedef th_capture capture;

static capture capture_begin(FILE *stream) {
    return th_capture_start(fileno(stream));
}

/* Returns what was written (malloc'd). */
static char *capture_end(capture c, FILE *stream) {
    (void)stream;
    return th_capture_end(&c);
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* ---- events --------------------------------------------------------------------- */

static xf_event event(xf_event_kind kind, const char *source, int layer, int64_t call) {
    xf_event e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.source = source;
    e.layer = layer;
    e.call = call;
    e.step = -1; /* a plain forward */
    return e;
}

static float *ramp(int64_t n, float scale) {
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)i * scale;
    return x;
}

/* ---- patterns ---------------------------------------------------------------------- */

Test(patterns, every_placeholder) {
    xf_set_events_dir(NULL);
    xf_event e = event(XF_ATTENTION_EVENT, "layers.2.attention.inner_attention", 2, 17);
    char out[256];
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "{source}/{event}/{field}-{layer}-{call}.npy",
                                   &e, "attention_matrix"),
                 0);
    cr_assert_str_eq(out,
                     "layers.2.attention.inner_attention/AttentionEvent/attention_matrix-2-17.npy");

    xf_event m = event(XF_INTERMEDIATE_OUTPUT, "", -1, 0);
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "out/{source}_{layer}_{event}.npy", &m, NULL),
                 0);
    cr_assert_str_eq(out, "out/model_none_IntermediateOutput.npy");
    m.source = NULL;
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "{source}", &m, NULL), 0);
    cr_assert_str_eq(out, "model");

    xf_event q = event(XF_QKV_EVENT, "decoder.layers.0.cross_attention", 0, 3);
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "{event}:{source}:{layer}", &q, NULL), 0);
    cr_assert_str_eq(out, "QKVEvent:decoder.layers.0.cross_attention:0");
}

Test(patterns, literal_braces_and_limits) {
    xf_set_events_dir(NULL);
    xf_event e = event(XF_QKV_EVENT, "layers.0.attention", 0, 1);
    char out[64];
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "{unknown}{{call}}{", &e, NULL), 0);
    cr_assert_str_eq(out, "{unknown}{1}{");
    /* {field} needs a field */
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "{field}.npy", &e, NULL), -1);
    /* does not fit */
    char small[8];
    cr_assert_eq(xf_expand_pattern(small, sizeof small, "{source}.npy", &e, NULL), -1);
    cr_assert_eq(xf_expand_pattern(small, sizeof small, "1234567", &e, NULL), 0);
    cr_assert_eq(xf_expand_pattern(small, sizeof small, "12345678", &e, NULL), -1);
}

Test(handlers, events_dir_prefixes_relative_paths_only) {
    xf_event e = event(XF_QKV_EVENT, "layers.0.attention", 0, 0);
    char out[512], want[512];
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "qkv/{source}.npy", &e, NULL), 0);
    snprintf(want, sizeof want, "%s/qkv/layers.0.attention.npy", th_dir);
    cr_assert_str_eq(out, want);
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "/abs/{layer}.npy", &e, NULL), 0);
    cr_assert_str_eq(out, "/abs/0.npy");
    char slash[300];
    snprintf(slash, sizeof slash, "%s/", th_dir); /* a trailing slash is not doubled */
    xf_set_events_dir(slash);
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "x.npy", &e, NULL), 0);
    snprintf(want, sizeof want, "%s/x.npy", th_dir);
    cr_assert_str_eq(out, want);
    xf_set_events_dir("");
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "x.npy", &e, NULL), 0);
    cr_assert_str_eq(out, "x.npy");
}

/* ---- save ------------------------------------------------------------------------- */

static void expect_npy(const char *path, int rank, const int64_t *shape, const float *data) {
    xf_array a;
    xf_error err = {{0}};
    cr_assert_eq(xf_npy_read(path, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(a.rank, rank);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        cr_assert_eq(a.shape[i], shape[i]);
        n *= shape[i];
    }
    cr_assert_arr_eq(a.data, data, (size_t)n * sizeof(float));
    xf_array_free(&a);
}

Test(handlers, save_qkv_fields) {
    float *q = ramp(2 * 3 * 2 * 4, 1), *k = ramp(2 * 5 * 2 * 4, 2), *v = ramp(2 * 5 * 2 * 3, 3);
    xf_tensor tq = {4, {2, 3, 2, 4}, q}, tk = {4, {2, 5, 2, 4}, k}, tv = {4, {2, 5, 2, 3}, v};
    xf_event e = event(XF_QKV_EVENT, "layers.2.attention", 2, 0);
    e.queries = &tq;
    e.keys = &tk;
    e.values = &tv;
    xf_save_cfg cfg = {"qkv/{source}.{field}.npy"};
    xf_save(&e, &cfg);
    expect_npy(th_in_dir("qkv/layers.2.attention.queries.npy"), 4, tq.shape, q);
    expect_npy(th_in_dir("qkv/layers.2.attention.keys.npy"), 4, tk.shape, k);
    expect_npy(th_in_dir("qkv/layers.2.attention.values.npy"), 4, tv.shape, v);

    /* no {field} in the pattern: inserted before the extension, nothing overwritten */
    xf_save_cfg cfg2 = {"flat/{source}.npy"};
    xf_save(&e, &cfg2);
    expect_npy(th_in_dir("flat/layers.2.attention.queries.npy"), 4, tq.shape, q);
    expect_npy(th_in_dir("flat/layers.2.attention.values.npy"), 4, tv.shape, v);
    free(q);
    free(k);
    free(v);
}

Test(handlers, save_attention_and_x) {
    float *a = ramp(1 * 2 * 3 * 3, 0.1f), *x = ramp(2 * 3 * 8, 1);
    xf_tensor ta = {4, {1, 2, 3, 3}, a}, tx = {3, {2, 3, 8}, x};
    xf_event ea = event(XF_ATTENTION_EVENT, "layers.0.attention.inner_attention", 0, 4);
    ea.attention_matrix = &ta;
    xf_save_cfg cfg = {"{event}/{source}_{call}.npy"}; /* one field: no insertion */
    xf_save(&ea, &cfg);
    expect_npy(th_in_dir("AttentionEvent/layers.0.attention.inner_attention_4.npy"), 4, ta.shape,
               a);

    xf_event ex = event(XF_INTERMEDIATE_OUTPUT, "", 1, 0);
    ex.x = &tx;
    xf_save_cfg cfgx = {"x/{source}.{layer}.{field}.npy"};
    xf_save(&ex, &cfgx);
    expect_npy(th_in_dir("x/model.1.x.npy"), 3, tx.shape, x);
    free(a);
    free(x);
}

Test(handlers, save_failure_reported_once_and_forward_goes_on) {
    /* the events dir is a file: every write fails */
    char file[512];
    snprintf(file, sizeof file, "%s/not_a_dir", th_dir);
    FILE *f = fopen(file, "w");
    fclose(f);
    xf_set_events_dir(file);
    float x[4] = {1, 2, 3, 4};
    xf_tensor tx = {3, {1, 2, 2}, x};
    xf_event e = event(XF_INTERMEDIATE_OUTPUT, "", 0, 0);
    e.x = &tx;
    xf_save_cfg cfg = {"out/{layer}.npy"};
    capture c = capture_begin(stderr);
    xf_save(&e, &cfg);
    xf_save(&e, &cfg);
    xf_save(&e, &cfg);
    char *err = capture_end(c, stderr);
    cr_assert_eq(count_of(err, "xfrt: save(\"out/{layer}.npy\")"), 1, "got: %s", err);
    cr_assert_not_null(strstr(err, "not_a_dir"), "names the path: %s", err);
    cr_assert_eq(count_of(err, "\n"), 1);
    free(err);

    /* another configuration reports its own failure */
    xf_save_cfg cfg2 = {"other.npy"};
    c = capture_begin(stderr);
    xf_save(&e, &cfg2);
    err = capture_end(c, stderr);
    cr_assert_eq(count_of(err, "xfrt: save(\"other.npy\")"), 1, "got: %s", err);
    free(err);
}

/* ---- stats -------------------------------------------------------------------------- */

Test(handlers, stats_line_with_entropy) {
    /* two rows: uniform over 4 (entropy ln 4) and one-hot (entropy 0) */
    float a[8] = {0.25f, 0.25f, 0.25f, 0.25f, 1, 0, 0, 0};
    xf_tensor ta = {4, {1, 1, 2, 4}, a};
    xf_event e = event(XF_ATTENTION_EVENT, "layers.3.attention.inner_attention", 3, 0);
    e.attention_matrix = &ta;
    capture c = capture_begin(stderr);
    xf_stats(&e, NULL);
    char *out = capture_end(c, stderr);
    cr_assert_not_null(
        strstr(out,
               "layers.3.attention.inner_attention AttentionEvent attention_matrix [1,1,2,4] "),
        "%s", out);
    cr_assert_not_null(strstr(out, "min=0 max=1 mean=0.25 std=0.306186"), "%s", out);
    char ent[64];
    snprintf(ent, sizeof ent, "entropy=%.6g nats", log(4.0) / 2);
    cr_assert_not_null(strstr(out, ent), "%s", out);
    cr_assert_eq(count_of(out, "\n"), 1);
    free(out);
}

Test(handlers, stats_one_line_per_field_and_nonfinite) {
    float q[4] = {1, 2, 3, 4}, k[4] = {-1, -1, -1, -1}, v[4] = {0, NAN, 2, INFINITY};
    xf_tensor tq = {4, {1, 1, 1, 4}, q}, tk = {4, {1, 1, 1, 4}, k}, tv = {4, {1, 1, 1, 4}, v};
    xf_event e = event(XF_QKV_EVENT, "layers.0.attention", 0, 0);
    e.queries = &tq;
    e.keys = &tk;
    e.values = &tv;
    capture c = capture_begin(stderr);
    xf_stats(&e, NULL);
    char *out = capture_end(c, stderr);
    cr_assert_eq(count_of(out, "\n"), 3, "%s", out);
    cr_assert_not_null(
        strstr(out, "QKVEvent queries [1,1,1,4] layer=0 min=1 max=4 mean=2.5 std=1.11803"), "%s",
        out);
    cr_assert_not_null(strstr(out, "keys [1,1,1,4] layer=0 min=-1 max=-1 mean=-1 std=0"), "%s",
                       out);
    cr_assert_not_null(strstr(out, "values [1,1,1,4] layer=0 min=0 max=2 mean=1 std=1 nonfinite=2"),
                       "%s", out);
    cr_assert_null(strstr(out, "entropy"), "entropy is for attention only");
    free(out);

    xf_tensor tx = {3, {1, 1, 4}, q};
    xf_event ex = event(XF_INTERMEDIATE_OUTPUT, "", 0, 0);
    ex.x = &tx;
    c = capture_begin(stderr);
    xf_stats(&ex, NULL);
    out = capture_end(c, stderr);
    cr_assert_not_null(strstr(out, "model IntermediateOutput x [1,1,4] layer=0 min=1 max=4"), "%s",
                       out);
    free(out);
}

/* ---- print -------------------------------------------------------------------------- */

Test(handlers, print_leading_values) {
    float *x = ramp(2 * 3 * 10, 1);
    xf_tensor tx = {3, {2, 3, 10}, x};
    xf_event e = event(XF_INTERMEDIATE_OUTPUT, "", 1, 0);
    e.x = &tx;
    capture c = capture_begin(stdout);
    xf_print(&e, NULL);
    char *out = capture_end(c, stdout);
    cr_assert_str_eq(out, "model IntermediateOutput x [2,3,10] layer=1 = "
                          "[[[0 1 2 3 4 5 ...] [10 11 12 13 14 15 ...] ...] ...]\n");
    free(out);
    free(x);

    float a[6] = {0.0123f, 0.5f, 0.25f, 1, 2, 3};
    xf_tensor ta = {4, {1, 1, 2, 3}, a}; /* small: everything shown */
    xf_event ea = event(XF_ATTENTION_EVENT, "layers.0.attention.inner_attention", 0, 0);
    ea.attention_matrix = &ta;
    c = capture_begin(stdout);
    xf_print(&ea, NULL);
    out = capture_end(c, stdout);
    cr_assert_str_eq(
        out,
        "layers.0.attention.inner_attention AttentionEvent attention_matrix [1,1,2,3] layer=0 = "
        "[[[[0.0123 0.5 0.25] [1 2 3]]]]\n");
    free(out);
}

Test(handlers, print_qkv_three_lines) {
    float *q = ramp(100, 1);
    xf_tensor t = {4, {1, 5, 2, 10}, q};
    xf_event e = event(XF_QKV_EVENT, "layers.1.attention", 1, 0);
    e.queries = e.keys = e.values = &t;
    capture c = capture_begin(stdout);
    xf_print(&e, NULL);
    char *out = capture_end(c, stdout);
    cr_assert_eq(count_of(out, "\n"), 3);
    cr_assert_not_null(
        strstr(
            out,
            "layers.1.attention QKVEvent queries [1,5,2,10] layer=1 = [[[[0 1 2 3 4 5 ...] [10 11"),
        "%s", out);
    cr_assert_not_null(strstr(out, " keys [1,5,2,10]"));
    cr_assert_not_null(strstr(out, " values [1,5,2,10]"));
    free(out);
    free(q);
}

/* ---- concurrency -------------------------------------------------------------------- */

typedef struct {
    int id;
    xf_save_cfg *cfg;
} job;

static void *save_many(void *arg) {
    job *j = arg;
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)(j->id * 100 + i);
    xf_tensor tx = {3, {1, 3, 4}, x};
    for (int call = 0; call < 20; call++) {
        xf_event e = event(XF_INTERMEDIATE_OUTPUT, "", j->id, call);
        e.x = &tx;
        xf_save(&e, j->cfg);
    }
    return NULL;
}

Test(handlers, concurrent_saves) {
    xf_save_cfg cfg = {"conc/{layer}/{call}.npy"};
    pthread_t th[4];
    job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){i, &cfg};
        pthread_create(&th[i], NULL, save_many, &jobs[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        float x[12];
        for (int k = 0; k < 12; k++)
            x[k] = (float)(i * 100 + k);
        int64_t s[3] = {1, 3, 4};
        char rel[64];
        snprintf(rel, sizeof rel, "conc/%d/19.npy", i);
        expect_npy(th_in_dir(rel), 3, s, x);
    }
}

/* ---- layer and step (issues 11, 15) ---------------------------------------------- */

Test(handlers, print_and_stats_show_layer_and_step) {
    float x[4] = {1, 2, 3, 4};
    xf_tensor tx = {3, {1, 1, 4}, x};
    xf_event e = event(XF_INTERMEDIATE_OUTPUT, "decoder", 2, 0);
    e.x = &tx;
    e.step = 5;
    capture c = capture_begin(stdout);
    xf_print(&e, NULL);
    char *out = capture_end(c, stdout);
    cr_assert_str_eq(out, "decoder IntermediateOutput x [1,1,4] layer=2 step=5 = [[[1 2 3 4]]]\n");
    free(out);
    c = capture_begin(stderr);
    xf_stats(&e, NULL);
    out = capture_end(c, stderr);
    cr_assert_not_null(
        strstr(out, "decoder IntermediateOutput x [1,1,4] layer=2 step=5 min=1 max=4"), "%s", out);
    free(out);
}

Test(handlers, step_in_patterns) {
    xf_event e = event(XF_ATTENTION_EVENT, "layers.0.attention.inner_attention", 0, 3);
    char out[512], want[512];
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "/a/{step}_{call}.npy", &e, NULL), 0);
    cr_assert_str_eq(out, "/a/none_3.npy");
    e.step = 0;
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "/a/{step}.npy", &e, NULL), 0);
    cr_assert_str_eq(out, "/a/0.npy");
    e.step = 12;
    cr_assert_eq(xf_expand_pattern(out, sizeof out, "s{step}/{layer}.npy", &e, NULL), 0);
    snprintf(want, sizeof want, "%s/s12/0.npy", th_dir);
    cr_assert_str_eq(out, want);
}
