/* test_rt_dispatch.c — the fast-transformers dispatcher in C (SPEC §5). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "xfrt.h"

static xf_event ev_of(xf_event_kind kind, const char *source) {
    xf_event e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.source = source;
    e.layer = -1;
    return e;
}

static int accepts(xf_filter *f, xf_event_kind kind, const char *source) {
    xf_event e = ev_of(kind, source);
    int r = xf_filter_accepts(f, &e);
    return r;
}

/* Each test uses its own named dispatcher, cleared at the end. */
static xf_dispatcher *fresh(const char *key) {
    xf_dispatcher *d = xf_dispatcher_get(key);
    xf_clear(d);
    return d;
}

/* ---- filters ---------------------------------------------------------------- */

Test(filters, event_class) {
    xf_filter *a = xf_event_class(XF_ATTENTION_EVENT);
    cr_assert(accepts(a, XF_ATTENTION_EVENT, "layers.0.attention.inner_attention"));
    cr_assert_not(accepts(a, XF_QKV_EVENT, "layers.0.attention"));
    cr_assert_not(accepts(a, XF_INTERMEDIATE_OUTPUT, ""));
    xf_filter_free(a);

    xf_filter *any = xf_event_class(XF_EVENT); /* the base class matches everything */
    cr_assert(accepts(any, XF_ATTENTION_EVENT, "x"));
    cr_assert(accepts(any, XF_QKV_EVENT, "x"));
    cr_assert(accepts(any, XF_INTERMEDIATE_OUTPUT, ""));
    xf_filter_free(any);
}

Test(filters, from_layer_is_equality) {
    xf_filter *f = xf_from_layer("layers.2.attention");
    cr_assert(accepts(f, XF_QKV_EVENT, "layers.2.attention"));
    cr_assert_not(accepts(f, XF_ATTENTION_EVENT, "layers.2.attention.inner_attention"));
    cr_assert_not(accepts(f, XF_QKV_EVENT, "layers.2"));
    cr_assert_not(accepts(f, XF_QKV_EVENT, "layers.20.attention"));
    xf_filter_free(f);
}

Test(filters, within_is_prefix_at_a_dot) {
    xf_filter *f = xf_within("layers.1");
    cr_assert(accepts(f, XF_QKV_EVENT, "layers.1"));
    cr_assert(accepts(f, XF_QKV_EVENT, "layers.1.attention"));
    cr_assert(accepts(f, XF_ATTENTION_EVENT, "layers.1.attention.inner_attention"));
    cr_assert_not(accepts(f, XF_QKV_EVENT, "layers.10"));
    cr_assert_not(accepts(f, XF_QKV_EVENT, "layers.10.attention"));
    cr_assert_not(accepts(f, XF_QKV_EVENT, "layers"));
    cr_assert_not(accepts(f, XF_QKV_EVENT, "decoder.layers.1"));
    xf_filter_free(f);

    xf_filter *all = xf_within("");
    cr_assert(accepts(all, XF_INTERMEDIATE_OUTPUT, ""));
    cr_assert(accepts(all, XF_QKV_EVENT, "decoder.layers.3.cross_attention"));
    xf_filter_free(all);
}

Test(filters, name_contains) {
    xf_filter *f = xf_layer_name_contains("cross");
    cr_assert(accepts(f, XF_QKV_EVENT, "layers.0.cross_attention"));
    cr_assert_not(accepts(f, XF_QKV_EVENT, "layers.0.self_attention"));
    cr_assert_not(accepts(f, XF_INTERMEDIATE_OUTPUT, ""));
    xf_filter_free(f);
    /* a plain substring: "layers.1" is inside "layers.10" (unlike within) */
    xf_filter *g = xf_layer_name_contains("layers.1");
    cr_assert(accepts(g, XF_QKV_EVENT, "layers.10.attention"));
    xf_filter_free(g);
}

Test(filters, and_or_not) {
    xf_filter *f = xf_and(xf_event_class(XF_QKV_EVENT), xf_within("layers.2"));
    cr_assert(accepts(f, XF_QKV_EVENT, "layers.2.attention"));
    cr_assert_not(accepts(f, XF_ATTENTION_EVENT, "layers.2.attention.inner_attention"));
    cr_assert_not(accepts(f, XF_QKV_EVENT, "layers.3.attention"));
    xf_filter_free(f);

    xf_filter *g =
        xf_or(xf_from_layer("layers.0.attention"), xf_event_class(XF_INTERMEDIATE_OUTPUT));
    cr_assert(accepts(g, XF_QKV_EVENT, "layers.0.attention"));
    cr_assert(accepts(g, XF_INTERMEDIATE_OUTPUT, ""));
    cr_assert_not(accepts(g, XF_QKV_EVENT, "layers.1.attention"));
    xf_filter_free(g);

    xf_filter *h = xf_not(xf_within("layers.0"));
    cr_assert_not(accepts(h, XF_QKV_EVENT, "layers.0.attention"));
    cr_assert(accepts(h, XF_QKV_EVENT, "layers.1.attention"));
    xf_filter_free(h);

    /* deep nesting: ~~~~(A) == A, and a long chain frees cleanly */
    xf_filter *n = xf_event_class(XF_ATTENTION_EVENT);
    for (int i = 0; i < 1000; i++)
        n = xf_not(n);
    cr_assert(accepts(n, XF_ATTENTION_EVENT, "a"));
    cr_assert_not(accepts(n, XF_QKV_EVENT, "a"));
    xf_filter_free(n);
}

static int seq_is_100(const xf_event *ev, void *user) {
    int *calls = user;
    (*calls)++;
    return ev->attention_matrix && ev->attention_matrix->shape[2] == 100;
}

Test(filters, predicate_sees_payload) {
    int calls = 0;
    xf_filter *f = xf_and(xf_event_class(XF_ATTENTION_EVENT), xf_predicate(seq_is_100, &calls));
    xf_tensor t = {4, {1, 2, 100, 100}, NULL};
    xf_event e = ev_of(XF_ATTENTION_EVENT, "layers.0.attention.inner_attention");
    e.attention_matrix = &t;
    cr_assert(xf_filter_accepts(f, &e));
    t.shape[2] = 7;
    cr_assert_not(xf_filter_accepts(f, &e));
    cr_assert_eq(calls, 2);
    /* short circuit: the class fails first, the predicate is not called */
    e.kind = XF_QKV_EVENT;
    cr_assert_not(xf_filter_accepts(f, &e));
    cr_assert_eq(calls, 2);
    xf_filter_free(f);
}

Test(filters, null_source_and_null_filter) {
    xf_filter *f = xf_within("");
    cr_assert(accepts(f, XF_INTERMEDIATE_OUTPUT, NULL));
    xf_filter_free(f);
    xf_filter *g = xf_from_layer("");
    cr_assert(accepts(g, XF_INTERMEDIATE_OUTPUT, NULL));
    xf_filter_free(g);
    cr_assert(accepts(NULL, XF_QKV_EVENT, "x"));
    xf_filter_free(NULL);
}

/* ---- dispatchers ------------------------------------------------------------- */

typedef struct {
    char log[64];
    int n;
} trace;

static void h_a(const xf_event *ev, void *user) {
    (void)ev;
    trace *t = user;
    t->log[t->n++] = 'a';
}
static void h_b(const xf_event *ev, void *user) {
    (void)ev;
    trace *t = user;
    t->log[t->n++] = 'b';
}
static void h_c(const xf_event *ev, void *user) {
    (void)ev;
    trace *t = user;
    t->log[t->n++] = 'c';
}

static void fire(xf_dispatcher *d, xf_event_kind kind, const char *source) {
    xf_event e = ev_of(kind, source);
    xf_dispatch(d, &e);
}

Test(dispatcher, named_are_distinct_and_stable) {
    xf_dispatcher *def = xf_dispatcher_get("");
    cr_assert_not_null(def);
    cr_assert_eq(def, xf_dispatcher_get(""));
    cr_assert_eq(def, xf_dispatcher_get(NULL));
    xf_dispatcher *x = xf_dispatcher_get("x"), *y = xf_dispatcher_get("y");
    cr_assert_neq(x, y);
    cr_assert_neq(x, def);
    char key[8] = "x";
    cr_assert_eq(xf_dispatcher_get(key), x); /* by value, not by pointer */

    trace t = {0};
    xf_clear(x);
    xf_clear(y);
    xf_listen(x, xf_event_class(XF_EVENT), h_a, &t);
    fire(y, XF_QKV_EVENT, "layers.0.attention");
    cr_assert_eq(t.n, 0, "a listener of x must not hear y");
    fire(x, XF_QKV_EVENT, "layers.0.attention");
    cr_assert_eq(t.n, 1);
    xf_clear(x);
}

Test(dispatcher, listen_order_and_filters) {
    xf_dispatcher *d = fresh("order");
    trace t = {0};
    xf_listen(d, xf_event_class(XF_QKV_EVENT), h_c, &t);
    xf_listen(d, xf_event_class(XF_EVENT), h_a, &t);
    xf_listen(d, xf_within("layers.1"), h_b, &t);
    fire(d, XF_QKV_EVENT, "layers.1.attention");
    cr_assert_str_eq(t.log, "cab");
    fire(d, XF_ATTENTION_EVENT, "layers.0.attention.inner_attention");
    cr_assert_str_eq(t.log, "caba");
    xf_clear(d);
}

Test(dispatcher, same_handler_replaces_filter_keeps_position) {
    xf_dispatcher *d = fresh("replace");
    trace t = {0};
    xf_listen(d, xf_event_class(XF_QKV_EVENT), h_a, &t);
    xf_listen(d, xf_event_class(XF_EVENT), h_b, &t);
    xf_listen(d, xf_event_class(XF_EVENT), h_c, &t);
    /* h_a again: now attention only, still first (the old filter is freed: ASan) */
    xf_listen(d, xf_event_class(XF_ATTENTION_EVENT), h_a, &t);
    fire(d, XF_QKV_EVENT, "layers.0.attention");
    cr_assert_str_eq(t.log, "bc", "the replaced filter must no longer apply");
    fire(d, XF_ATTENTION_EVENT, "layers.0.attention.inner_attention");
    cr_assert_str_eq(t.log, "bcabc", "h_a keeps its first position");
    xf_clear(d);
}

Test(dispatcher, same_function_other_user_is_another_listener) {
    xf_dispatcher *d = fresh("users");
    trace t1 = {0}, t2 = {0};
    xf_listen(d, xf_event_class(XF_EVENT), h_a, &t1);
    xf_listen(d, xf_event_class(XF_EVENT), h_a, &t2);
    fire(d, XF_QKV_EVENT, "x");
    cr_assert_eq(t1.n, 1);
    cr_assert_eq(t2.n, 1);
    xf_remove(d, h_a); /* removes every listener of that function */
    fire(d, XF_QKV_EVENT, "x");
    cr_assert_eq(t1.n, 1);
    cr_assert_eq(t2.n, 1);
}

Test(dispatcher, remove_and_clear) {
    xf_dispatcher *d = fresh("remove");
    trace t = {0};
    xf_listen(d, xf_event_class(XF_EVENT), h_a, &t);
    xf_listen(d, xf_event_class(XF_EVENT), h_b, &t);
    xf_listen(d, xf_event_class(XF_EVENT), h_c, &t);
    xf_remove(d, h_b);
    fire(d, XF_QKV_EVENT, "x");
    cr_assert_str_eq(t.log, "ac");
    xf_remove(d, h_b); /* not there: nothing happens */
    fire(d, XF_QKV_EVENT, "x");
    cr_assert_str_eq(t.log, "acac");
    xf_clear(d);
    fire(d, XF_QKV_EVENT, "x");
    cr_assert_str_eq(t.log, "acac");
    cr_assert_not(xf_dispatcher_wants(d, XF_QKV_EVENT, "x"));
    /* usable again after clear */
    xf_listen(d, xf_event_class(XF_EVENT), h_b, &t);
    fire(d, XF_QKV_EVENT, "x");
    cr_assert_str_eq(t.log, "acacb");
    xf_clear(d);
}

Test(dispatcher, many_listeners) {
    xf_dispatcher *d = fresh("many");
    trace ts[40];
    memset(ts, 0, sizeof ts);
    for (int i = 0; i < 40; i++)
        xf_listen(d, xf_event_class(XF_EVENT), h_a, &ts[i]);
    fire(d, XF_QKV_EVENT, "x");
    for (int i = 0; i < 40; i++)
        cr_assert_eq(ts[i].n, 1);
    xf_clear(d);
}

Test(dispatcher, wants_yes_no_maybe) {
    xf_dispatcher *d = fresh("wants");
    cr_assert_not(xf_dispatcher_wants(d, XF_ATTENTION_EVENT, "layers.0.attention.inner_attention"));

    trace t = {0};
    int calls = 0;
    /* AttentionEvent from layers.2 only */
    xf_listen(d, xf_and(xf_event_class(XF_ATTENTION_EVENT), xf_within("layers.2")), h_a, &t);
    cr_assert(xf_dispatcher_wants(d, XF_ATTENTION_EVENT, "layers.2.attention.inner_attention"));
    cr_assert_not(xf_dispatcher_wants(d, XF_ATTENTION_EVENT, "layers.1.attention.inner_attention"));
    cr_assert_not(xf_dispatcher_wants(d, XF_QKV_EVENT, "layers.2.attention"));

    /* a predicate is "maybe": wanted unless something else rules it out */
    xf_listen(d, xf_and(xf_event_class(XF_QKV_EVENT), xf_predicate(seq_is_100, &calls)), h_b, &t);
    cr_assert(xf_dispatcher_wants(d, XF_QKV_EVENT, "layers.0.attention"));
    cr_assert_not(xf_dispatcher_wants(d, XF_INTERMEDIATE_OUTPUT, ""));
    cr_assert_eq(calls, 0, "wants never calls predicates");

    /* ~predicate is maybe too; ~(class) is decided */
    xf_listen(d, xf_and(xf_not(xf_event_class(XF_QKV_EVENT)), xf_not(xf_within("layers"))), h_c,
              &t);
    cr_assert(xf_dispatcher_wants(d, XF_INTERMEDIATE_OUTPUT, ""));
    cr_assert_not(xf_dispatcher_wants(d, XF_ATTENTION_EVENT, "layers.1.attention.inner_attention"));
    xf_remove(d, h_c);
    xf_listen(d, xf_not(xf_predicate(seq_is_100, &calls)), h_c, &t);
    cr_assert(xf_dispatcher_wants(d, XF_INTERMEDIATE_OUTPUT, ""));
    /* or: yes | maybe = yes, no | no = no */
    xf_clear(d);
    xf_listen(d, xf_or(xf_from_layer("a"), xf_from_layer("b")), h_a, &t);
    cr_assert(xf_dispatcher_wants(d, XF_QKV_EVENT, "b"));
    cr_assert_not(xf_dispatcher_wants(d, XF_QKV_EVENT, "c"));
    xf_clear(d);
    cr_assert_not(xf_dispatcher_wants(d, XF_QKV_EVENT, "b"));
}

/* A handler may change the dispatcher while being dispatched to. */
static xf_dispatcher *reentrant_d;
static void h_self_remove(const xf_event *ev, void *user) {
    (void)ev;
    trace *t = user;
    t->log[t->n++] = 'r';
    xf_remove(reentrant_d, h_self_remove);
}

Test(dispatcher, handler_may_remove_itself) {
    reentrant_d = fresh("reentrant");
    trace t = {0};
    xf_listen(reentrant_d, NULL, h_self_remove, &t); /* NULL filter = every event */
    xf_listen(reentrant_d, NULL, h_a, &t);
    fire(reentrant_d, XF_QKV_EVENT, "x");
    fire(reentrant_d, XF_QKV_EVENT, "x");
    cr_assert_str_eq(t.log, "raa");
    xf_clear(reentrant_d);
}

/* Concurrent dispatch from several threads (meaningful under ASan/TSan). */
static void h_count(const xf_event *ev, void *user) {
    (void)ev;
    __atomic_add_fetch((int *)user, 1, __ATOMIC_RELAXED);
}

static void *fire_many(void *arg) {
    xf_dispatcher *d = arg;
    for (int i = 0; i < 2000; i++) {
        fire(d, XF_ATTENTION_EVENT, i % 2 ? "layers.1.attention.inner_attention" : "layers.0.x");
        (void)xf_dispatcher_wants(d, XF_ATTENTION_EVENT, "layers.1.attention.inner_attention");
    }
    return NULL;
}

Test(dispatcher, concurrent_dispatch) {
    xf_dispatcher *d = fresh("threads");
    int count = 0;
    xf_listen(d, xf_within("layers.1"), h_count, &count);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, fire_many, d);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(count, 4 * 1000);
    xf_clear(d);
}

Test(dispatcher, event_names) {
    cr_assert_str_eq(xf_event_name(XF_EVENT), "Event");
    cr_assert_str_eq(xf_event_name(XF_QKV_EVENT), "QKVEvent");
    cr_assert_str_eq(xf_event_name(XF_ATTENTION_EVENT), "AttentionEvent");
    cr_assert_str_eq(xf_event_name(XF_INTERMEDIATE_OUTPUT), "IntermediateOutput");
}
