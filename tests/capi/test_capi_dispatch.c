/* An instrument-all model with the runtime dispatcher: C code listens,
 * removes and redirects at run time (fast-transformers' API in C). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "prenorm.h"
#include "xf_handlers.h"
#include "xf_io.h"

#define CASE XF_FIXTURES "/encoder_prenorm_gelu_padded"

typedef struct {
    int calls;
    char source[128];
    double max_err; /* vs the fixture's layers.1.attention, valid query rows */
    int64_t shape[4];
} Seen;

static xf_array want_attention;
static const int lengths[3] = {37, 20, 5};

static void on_attention(const xf_event *ev, void *user) {
    Seen *s = user;
    s->calls++;
    snprintf(s->source, sizeof s->source, "%s", ev->source);
    const xf_tensor *a = ev->attention_matrix;
    memcpy(s->shape, a->shape, sizeof s->shape);
    int64_t N = a->shape[0], H = a->shape[1], L = a->shape[2], S = a->shape[3];
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t l = 0; l < lengths[n]; l++)
                for (int64_t j = 0; j < S; j++) {
                    size_t i = (size_t)(((n * H + h) * L + l) * S + j);
                    double e = fabs((double)a->data[i] - want_attention.data[i]);
                    if (!(e <= s->max_err))
                        s->max_err = e;
                }
}

static void on_any(const xf_event *ev, void *user) {
    (void)ev;
    ((Seen *)user)->calls++;
}

static int wide_queries(const xf_event *ev, void *user) {
    (void)user;
    return ev->queries && ev->queries->shape[3] == 16;
}

/* The spec's own listener: call(on_layer1). */
static int layer1_calls;
static void *layer1_user;
void on_layer1(const xf_event *ev, void *user) {
    cr_assert_str_eq(ev->source, "layers.1.attention.inner_attention");
    layer1_calls++;
    layer1_user = user;
}

static void run(prenorm *m) {
    xf_error err = {""};
    xf_array x;
    cr_assert_eq(xf_npy_read(CASE "/input.npy", &x, &err), 0, "%s", err.msg);
    cr_assert_eq(prenorm_forward(m, x.data, 3, 37, lengths, x.data, &err), 0, "%s", err.msg);
    xf_array_free(&x);
}

Test(dispatch, listen_remove_and_redirect) {
    xf_error err = {""};
    cr_assert_eq(xf_npy_read(CASE "/layers.1.attention.npy", &want_attention, &err), 0, "%s",
                 err.msg);
    prenorm *m = prenorm_load(CASE "/weights.safetensors", &err);
    cr_assert_not_null(m, "%s", err.msg);
    xf_dispatcher *d = xf_dispatcher_get("");

    Seen att = {0}, qkv = {0};
    xf_listen(d, xf_and(xf_event_class(XF_ATTENTION_EVENT), xf_within("layers.1")), on_attention,
              &att);
    xf_listen(d, xf_and(xf_event_class(XF_QKV_EVENT), xf_predicate(wide_queries, NULL)), on_any,
              &qkv);
    run(m);
    cr_expect_eq(att.calls, 1);
    cr_expect_str_eq(att.source, "layers.1.attention.inner_attention");
    cr_expect_eq(att.shape[0], 3);
    cr_expect_eq(att.shape[1], 6);
    cr_expect_eq(att.shape[2], 37);
    cr_expect_leq(att.max_err, 1e-4, "attention differs from PyTorch by %g", att.max_err);
    cr_expect_eq(qkv.calls, 3, "one QKVEvent per layer");

    xf_remove(d, on_attention);
    run(m);
    cr_expect_eq(att.calls, 1, "removed handler was called");
    cr_expect_eq(qkv.calls, 6);

    /* another dispatcher: the default one no longer hears this model */
    xf_dispatcher *mine = xf_dispatcher_get("mine");
    cr_assert_neq(mine, d);
    Seen other = {0};
    xf_listen(mine, xf_event_class(XF_EVENT), on_any, &other);
    prenorm_set_dispatcher(m, mine);
    run(m);
    cr_expect_eq(qkv.calls, 6, "default dispatcher still called");
    cr_expect_eq(other.calls, 3 * 3, "3 layers x (QKV, Attention, IntermediateOutput)");

    xf_clear(mine);
    xf_clear(d);
    prenorm_free(m);
    xf_array_free(&want_attention);
}

/* Two loaded models share the default dispatcher: the spec's listener fires
 * once per event, with the user data of the model whose forward it is, and
 * freeing one model leaves the other working (no stale registration). */
Test(dispatch, spec_listeners_with_two_models) {
    xf_error err = {""};
    prenorm *a = prenorm_load(CASE "/weights.safetensors", &err);
    prenorm *b = prenorm_load(CASE "/weights.safetensors", &err);
    cr_assert(a && b, "%s", err.msg);
    int ua, ub;
    prenorm_set_user_data(a, &ua);
    prenorm_set_user_data(b, &ub);
    layer1_calls = 0;
    run(a);
    cr_expect_eq(layer1_calls, 1, "the listener fired %d times for one event", layer1_calls);
    cr_expect_eq(layer1_user, &ua);
    run(b);
    cr_expect_eq(layer1_calls, 2);
    cr_expect_eq(layer1_user, &ub);
    prenorm_free(b);
    run(a);
    cr_expect_eq(layer1_calls, 3);
    cr_expect_eq(layer1_user, &ua);
    prenorm_free(a);
}

/* xf_handler_failures: a built-in handler that cannot write (its directory
 * is under a regular file) counts one failure per event lost, the forward
 * still succeeds; a handler that can write counts none. */
Test(dispatch, handler_failures_are_counted) {
    xf_error err = {""};
    prenorm *m = prenorm_load(CASE "/weights.safetensors", &err);
    cr_assert_not_null(m, "%s", err.msg);
    xf_dispatcher *d = xf_dispatcher_get("");
    char dir[] = "/tmp/xf_capi_failures.XXXXXX", blocker[64], pattern[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(blocker, sizeof blocker, "%s/file", dir);
    FILE *f = fopen(blocker, "w");
    cr_assert_not_null(f);
    fclose(f);

    snprintf(pattern, sizeof pattern, "%s/file/{source}.png", dir);
    xf_heatmap_cfg bad = {pattern, 0, 0, NULL};
    xf_listen(d, xf_event_class(XF_ATTENTION_EVENT), xf_heatmap, &bad);
    int64_t before = xf_handler_failures();
    run(m);
    cr_expect_eq(xf_handler_failures() - before, 3, "3 layers' attention lost, counted %lld",
                 (long long)(xf_handler_failures() - before));
    xf_clear(d);

    snprintf(pattern, sizeof pattern, "%s/{source}.npy", dir);
    xf_save_cfg good = {pattern};
    xf_listen(d, xf_event_class(XF_ATTENTION_EVENT), xf_save, &good);
    before = xf_handler_failures();
    run(m);
    cr_expect_eq(xf_handler_failures(), before, "a handler that succeeds counted a failure");
    xf_clear(d);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
    prenorm_free(m);
}
