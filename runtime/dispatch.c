/* dispatch.c — the fast-transformers event dispatcher in C (SPEC §5, xfrt.h).
 *
 * Filters are small trees (class / from_layer / within / name_contains /
 * and / or / not / predicate).  A dispatcher is an ordered list of
 * (handler, user, filter) listeners, like fast-transformers' dict of
 * handler -> filter: listening with a handler already present replaces its
 * filter and keeps its place.
 *
 * Decisions where SPEC/xfrt.h are silent (documented for the lead):
 *   - "Same handler" means the same function AND the same user pointer — the
 *     C equivalent of a Python bound method, which is what fast-transformers'
 *     dict keys on.  So xf_listen(d, f1, xf_save, &cfg_a) and
 *     xf_listen(d, f2, xf_save, &cfg_b) are two listeners (the built-in
 *     handlers are shared functions with per-listener configs), while
 *     listening (xf_save, &cfg_a) again replaces its filter in place.
 *   - xf_remove(d, h) removes every listener whose function is h, whatever
 *     its user pointer (fast-transformers' remove(handler)).
 *   - A NULL filter accepts every event (as event_class(Event)); a NULL
 *     dispatcher means the default one, xf_dispatcher_get("").
 *   - Running out of memory while building a filter or a listener prints one
 *     line and aborts: these calls have no error channel in the API.
 *
 * Threads: listen/remove/clear take the dispatcher's write lock; dispatch and
 * wants take its read lock, so forwards on several threads dispatch
 * concurrently.  Dispatch evaluates the filters under the read lock, copies
 * the accepted (handler, user) pairs, releases the lock, and only then calls
 * the handlers — so a handler may itself listen/remove without deadlock (the
 * change applies from the next dispatch).  Predicates run under the read lock
 * and must not call listen/remove/clear.  xf_dispatcher_wants first reads the
 * listener count with an atomic load and returns 0 when it is 0: no lock, one
 * branch, for the "nobody listens" case of an instrument-all build.
 * Dispatchers live as long as the process.
 */
#include "xfrt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation ---------------------------------------------------------- */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "xfrt: out of memory (dispatcher, %zu bytes)\n", n);
        abort();
    }
    return p;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s ? s : "") + 1;
    char *p = xmalloc(n);
    memcpy(p, s ? s : "", n);
    return p;
}

/* ---- events -------------------------------------------------------------- */

const char *xf_event_name(xf_event_kind kind) {
    switch (kind) {
        case XF_EVENT: return "Event";
        case XF_QKV_EVENT: return "QKVEvent";
        case XF_ATTENTION_EVENT: return "AttentionEvent";
        case XF_INTERMEDIATE_OUTPUT: return "IntermediateOutput";
    }
    return "Event";
}

/* ---- filters ------------------------------------------------------------- */

typedef enum {
    F_CLASS,    /* kind */
    F_FROM,     /* s: source equal */
    F_WITHIN,   /* s: source equal or s + "." prefix; "" = all */
    F_CONTAINS, /* s: substring of source */
    F_AND,      /* a, b */
    F_OR,       /* a, b */
    F_NOT,      /* a */
    F_PRED      /* fn(ev, user) */
} filter_op;

struct xf_filter {
    filter_op op;
    xf_event_kind kind;
    char *s;
    xf_filter *a, *b;
    int (*fn)(const xf_event *ev, void *user);
    void *user;
};

static xf_filter *filter_new(filter_op op) {
    xf_filter *f = xmalloc(sizeof *f);
    memset(f, 0, sizeof *f);
    f->op = op;
    return f;
}

xf_filter *xf_event_class(xf_event_kind kind) {
    xf_filter *f = filter_new(F_CLASS);
    f->kind = kind;
    return f;
}

xf_filter *xf_from_layer(const char *source) {
    xf_filter *f = filter_new(F_FROM);
    f->s = xstrdup(source);
    return f;
}

xf_filter *xf_within(const char *module) {
    xf_filter *f = filter_new(F_WITHIN);
    f->s = xstrdup(module);
    return f;
}

xf_filter *xf_layer_name_contains(const char *s) {
    xf_filter *f = filter_new(F_CONTAINS);
    f->s = xstrdup(s);
    return f;
}

xf_filter *xf_and(xf_filter *a, xf_filter *b) {
    xf_filter *f = filter_new(F_AND);
    f->a = a;
    f->b = b;
    return f;
}

xf_filter *xf_or(xf_filter *a, xf_filter *b) {
    xf_filter *f = filter_new(F_OR);
    f->a = a;
    f->b = b;
    return f;
}

xf_filter *xf_not(xf_filter *a) {
    xf_filter *f = filter_new(F_NOT);
    f->a = a;
    return f;
}

xf_filter *xf_predicate(int (*fn)(const xf_event *ev, void *user), void *user) {
    xf_filter *f = filter_new(F_PRED);
    f->fn = fn;
    f->user = user;
    return f;
}

void xf_filter_free(xf_filter *f) {
    while (f) { /* loop on the last child: long not-chains stay flat */
        xf_filter *next = NULL;
        free(f->s);
        if (f->op == F_AND || f->op == F_OR) {
            xf_filter_free(f->a);
            next = f->b;
        } else if (f->op == F_NOT) {
            next = f->a;
        }
        free(f);
        f = next;
    }
}

static int kind_matches(xf_event_kind want, xf_event_kind got) {
    return want == XF_EVENT || want == got;
}

static int within_matches(const char *module, const char *source) {
    size_t n = strlen(module);
    if (n == 0)
        return 1;
    return strncmp(source, module, n) == 0 && (source[n] == '\0' || source[n] == '.');
}

int xf_filter_accepts(const xf_filter *f, const xf_event *ev) {
    if (!f)
        return 1;
    const char *src = ev->source ? ev->source : "";
    switch (f->op) {
        case F_CLASS: return kind_matches(f->kind, ev->kind);
        case F_FROM: return strcmp(src, f->s) == 0;
        case F_WITHIN: return within_matches(f->s, src);
        case F_CONTAINS: return strstr(src, f->s) != NULL;
        case F_AND: return xf_filter_accepts(f->a, ev) && xf_filter_accepts(f->b, ev);
        case F_OR: return xf_filter_accepts(f->a, ev) || xf_filter_accepts(f->b, ev);
        case F_NOT: return !xf_filter_accepts(f->a, ev);
        case F_PRED: return f->fn ? f->fn(ev, f->user) != 0 : 0;
    }
    return 0;
}

/* Three-valued evaluation without a payload: 0 no, 1 maybe, 2 yes.
 * and = min, or = max, not = 2 - x (Kleene logic). */
enum { NO = 0, MAYBE = 1, YES = 2 };

static int filter_may(const xf_filter *f, xf_event_kind kind, const char *src) {
    if (!f)
        return YES;
    switch (f->op) {
        case F_CLASS: return kind_matches(f->kind, kind) ? YES : NO;
        case F_FROM: return strcmp(src, f->s) == 0 ? YES : NO;
        case F_WITHIN: return within_matches(f->s, src) ? YES : NO;
        case F_CONTAINS: return strstr(src, f->s) ? YES : NO;
        case F_AND: {
            int a = filter_may(f->a, kind, src);
            if (a == NO)
                return NO;
            int b = filter_may(f->b, kind, src);
            return a < b ? a : b;
        }
        case F_OR: {
            int a = filter_may(f->a, kind, src);
            if (a == YES)
                return YES;
            int b = filter_may(f->b, kind, src);
            return a > b ? a : b;
        }
        case F_NOT: return YES - filter_may(f->a, kind, src);
        case F_PRED: return MAYBE;
    }
    return MAYBE;
}

/* ---- dispatchers --------------------------------------------------------- */

typedef struct {
    xf_handler h;
    void *user;
    xf_filter *f; /* owned */
} listener;

struct xf_dispatcher {
    char *key;
    pthread_rwlock_t lock;
    listener *ls;        /* in listen order */
    int n, cap;          /* n is also read atomically, without the lock, by wants */
    xf_dispatcher *next; /* registry list */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static xf_dispatcher *registry;

xf_dispatcher *xf_dispatcher_get(const char *key) {
    if (!key)
        key = "";
    pthread_mutex_lock(&registry_lock);
    xf_dispatcher *d = registry;
    while (d && strcmp(d->key, key) != 0)
        d = d->next;
    if (!d) {
        d = xmalloc(sizeof *d);
        memset(d, 0, sizeof *d);
        d->key = xstrdup(key);
        pthread_rwlock_init(&d->lock, NULL);
        d->next = registry;
        registry = d;
    }
    pthread_mutex_unlock(&registry_lock);
    return d;
}

static xf_dispatcher *resolve(xf_dispatcher *d) {
    return d ? d : xf_dispatcher_get("");
}

static void set_count(xf_dispatcher *d, int n) {
    __atomic_store_n(&d->n, n, __ATOMIC_RELEASE);
}

void xf_listen(xf_dispatcher *d, xf_filter *f, xf_handler h, void *user) {
    d = resolve(d);
    if (!h) { /* nothing to call: the filter is still ours */
        xf_filter_free(f);
        return;
    }
    pthread_rwlock_wrlock(&d->lock);
    for (int i = 0; i < d->n; i++) {
        if (d->ls[i].h == h && d->ls[i].user == user) {
            xf_filter *old = d->ls[i].f;
            d->ls[i].f = f;
            pthread_rwlock_unlock(&d->lock);
            if (old != f)
                xf_filter_free(old);
            return;
        }
    }
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 8;
        listener *ls = xmalloc((size_t)cap * sizeof *ls);
        if (d->n)
            memcpy(ls, d->ls, (size_t)d->n * sizeof *ls);
        free(d->ls);
        d->ls = ls;
        d->cap = cap;
    }
    d->ls[d->n] = (listener){h, user, f};
    set_count(d, d->n + 1);
    pthread_rwlock_unlock(&d->lock);
}

void xf_remove(xf_dispatcher *d, xf_handler h) {
    d = resolve(d);
    pthread_rwlock_wrlock(&d->lock);
    int kept = 0;
    for (int i = 0; i < d->n; i++) {
        if (d->ls[i].h == h)
            xf_filter_free(d->ls[i].f);
        else
            d->ls[kept++] = d->ls[i];
    }
    set_count(d, kept);
    pthread_rwlock_unlock(&d->lock);
}

void xf_clear(xf_dispatcher *d) {
    d = resolve(d);
    pthread_rwlock_wrlock(&d->lock);
    for (int i = 0; i < d->n; i++)
        xf_filter_free(d->ls[i].f);
    free(d->ls);
    d->ls = NULL;
    d->cap = 0;
    set_count(d, 0);
    pthread_rwlock_unlock(&d->lock);
}

void xf_dispatch(xf_dispatcher *d, const xf_event *ev) {
    d = resolve(d);
    if (!ev || __atomic_load_n(&d->n, __ATOMIC_ACQUIRE) == 0)
        return;
    listener local[16], *calls = local;
    int ncalls = 0;
    pthread_rwlock_rdlock(&d->lock);
    if (d->n > (int)(sizeof local / sizeof local[0]))
        calls = xmalloc((size_t)d->n * sizeof *calls);
    for (int i = 0; i < d->n; i++)
        if (xf_filter_accepts(d->ls[i].f, ev))
            calls[ncalls++] = d->ls[i];
    pthread_rwlock_unlock(&d->lock);
    for (int i = 0; i < ncalls; i++)
        calls[i].h(ev, calls[i].user);
    if (calls != local)
        free(calls);
}

int xf_dispatcher_wants(xf_dispatcher *d, xf_event_kind kind, const char *source) {
    d = resolve(d);
    if (__atomic_load_n(&d->n, __ATOMIC_ACQUIRE) == 0)
        return 0;
    if (!source)
        source = "";
    int wants = 0;
    pthread_rwlock_rdlock(&d->lock);
    for (int i = 0; i < d->n && !wants; i++)
        wants = filter_may(d->ls[i].f, kind, source) != NO;
    pthread_rwlock_unlock(&d->lock);
    return wants;
}
