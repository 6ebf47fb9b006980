/* xfrt.h — the public face of the xfc runtime.
 *
 * What a user's C code and user handlers (`call(symbol)`) include: errors,
 * tensors, events, and the fast-transformers dispatcher API (SPEC §5).
 * Kernels, weights and figures have headers of their own (xf_kernels.h,
 * xf_io.h, xf_handlers.h); generated models include those too.
 */
#ifndef XFRT_H
#define XFRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XFRT_VERSION "0.1.0"

/* ---- errors ------------------------------------------------------------ */

/* Every fallible runtime call takes an xf_error* and returns NULL/-1 on
 * failure with a one-line message here: "FILE: tensor NAME: what is wrong". */
typedef struct xf_error {
    char msg[512];
} xf_error;

/* printf into err->msg (err may be NULL); always returns -1 so callers can
 * `return xf_fail(err, ...)`. */
int xf_fail(xf_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- tensors and events (SPEC §5) --------------------------------------- */

typedef struct {
    int rank;         /* 1..4 */
    int64_t shape[4]; /* row-major, shape[rank..3] unused */
    const float *data;
} xf_tensor;

/* The event classes.  XF_EVENT is the base class: event_class(Event)
 * matches every event. */
typedef enum {
    XF_EVENT,              /* base class, never emitted itself */
    XF_QKV_EVENT,          /* queries/keys/values of an attention module */
    XF_ATTENTION_EVENT,    /* attention_matrix of an inner_attention module */
    XF_INTERMEDIATE_OUTPUT /* x after each layer of an encoder/decoder */
} xf_event_kind;

typedef struct xf_event {
    xf_event_kind kind;
    const char *source; /* full module name, e.g. "layers.2.attention.inner_attention" */
    int layer;          /* layer index, -1 where none */
    const xf_tensor *queries, *keys,
        *values;                       /* QKVEvent: [N,L,H,E] [N,S,H,E] [N,S,H,D], else NULL */
    const xf_tensor *attention_matrix; /* AttentionEvent: [N,H,L,S], else NULL */
    const xf_tensor *x;                /* IntermediateOutput: [N,L,D], else NULL */
    /* beyond SPEC §5, for handlers' file patterns: */
    int64_t call; /* forward-call counter of the model ({call}), from 0 */
    int step;     /* SPEC §8: generation step ({step}): 0 the prefill, k the k-th
                               generated token; -1 in a plain forward (set it: {0} is step 0) */
} xf_event;

typedef void (*xf_handler)(const xf_event *ev, void *user);

/* How NAME_generate picks each token (SPEC §8). */
typedef struct xf_sampling {
    float temperature; /* <= 0: greedy (argmax); else softmax(logits / T) sampling */
    int top_k;         /* sample among the top_k largest logits only; <= 0: all */
    uint64_t seed;     /* same seed, same tokens */
    int eos;           /* a row that produced this id is filled with it; -1: none */
} xf_sampling;

/* "QKVEvent", "AttentionEvent", "IntermediateOutput", "Event". */
const char *xf_event_name(xf_event_kind kind);

/* ---- dispatcher: fast-transformers' API in C (SPEC §5) ------------------ */

typedef struct xf_dispatcher xf_dispatcher;
typedef struct xf_filter xf_filter;

/* A listener is keyed by (handler, user), the C form of a Python bound
 * method: xf_listen with the same pair again replaces its filter in place;
 * the same function with another user pointer is another listener.
 * xf_remove drops every listener of that function.  A NULL filter accepts
 * every event; a NULL dispatcher means xf_dispatcher_get("").  Handlers are
 * called after the lock is released, so they may listen/remove themselves;
 * predicates must not.  Dispatchers live as long as the process. */
xf_dispatcher *xf_dispatcher_get(const char *key); /* "" = the default; same key, same dispatcher */
void xf_listen(xf_dispatcher *d, xf_filter *f, xf_handler h,
               void *user); /* same handler again: filter replaced */
void xf_remove(xf_dispatcher *d, xf_handler h);
void xf_clear(xf_dispatcher *d);
void xf_dispatch(xf_dispatcher *d,
                 const xf_event *ev); /* each accepting handler, in listen order */

/* Could any listener accept an event of this kind from this source?  Decided
 * without a payload (predicates count as "maybe"), so a point can skip
 * materializing what nobody wants: the one branch of an instrument-all build. */
int xf_dispatcher_wants(xf_dispatcher *d, xf_event_kind kind, const char *source);

xf_filter *xf_event_class(xf_event_kind kind);
xf_filter *xf_from_layer(const char *source); /* source equal */
xf_filter *xf_within(const char *module);     /* source equal or inside ("" = everything) */
xf_filter *xf_layer_name_contains(const char *s);
xf_filter *xf_and(xf_filter *a, xf_filter *b);
xf_filter *xf_or(xf_filter *a, xf_filter *b);
xf_filter *xf_not(xf_filter *a);
xf_filter *xf_predicate(int (*fn)(const xf_event *ev, void *user), void *user);
int xf_filter_accepts(const xf_filter *f, const xf_event *ev);
void xf_filter_free(xf_filter *f);

#ifdef __cplusplus
}
#endif
#endif /* XFRT_H */
