/* handlers.c — the built-in handlers save, stats, print, and what every
 * handler shares: the events directory, file patterns, "report once".
 * (heatmap and figure, which draw, are in figure.c.)
 *
 * Handlers never abort the forward: a failure is reported on stderr once per
 * handler configuration ("xfrt: save("x/{source}.npy"): …"), later failures
 * of the same configuration are silent; every one is counted
 * (xf_handler_failures: a driver's exit status 3).  They may run on several threads at
 * once: the only shared mutable state (events dir, the set of configurations
 * already reported) is behind mutexes, and each output line is written with
 * the stream locked so lines do not interleave.
 *
 * Patterns (xf_expand_pattern): {source} is the full module name, "model"
 * for the encoder/decoder itself (source ""); {event} the class name
 * ("AttentionEvent"); {field} the payload field (queries, keys, values,
 * attention_matrix, x); {layer} the layer index or "none"; {step} the
 * generation step (0 the prefill, k the k-th generated token) or "none"
 * outside a generation; {call} the forward-call counter.  Any other text, including unknown {words}, is
 * copied as is.  When an event has several fields (QKVEvent) and the
 * pattern has no {field}, save and heatmap insert ".{field}" before the
 * extension of the file name ("qkv/{source}.npy" -> "qkv/layers.0.attention.queries.npy"),
 * so the fields do not overwrite each other.
 */
#include "xf_handlers.h"
#include "xf_io.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xf_handlers_int.h"

/* ---- events dir ------------------------------------------------------------ */

static pthread_mutex_t dir_lock = PTHREAD_MUTEX_INITIALIZER;
static char *events_dir; /* NULL = current directory */

void xf_set_events_dir(const char *dir) {
    char *copy = NULL;
    if (dir && dir[0]) {
        copy = strdup(dir);
        if (!copy) {
            fprintf(stderr, "xfrt: out of memory setting the events dir\n");
            return;
        }
    }
    pthread_mutex_lock(&dir_lock);
    char *old = events_dir;
    events_dir = copy;
    pthread_mutex_unlock(&dir_lock);
    free(old);
}

/* ---- report once ------------------------------------------------------------- */

/* Every failure counts (xf_handler_failures), reported or not. */
static _Atomic int64_t failures;

int64_t xf_handler_failures(void) {
    return failures;
}

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static const void **reported;
static size_t n_reported, cap_reported;

/* 1 the first time it is called with `key`, 0 afterwards. */
int xf__report_once(const void *key) {
    int first = 1;
    pthread_mutex_lock(&report_lock);
    for (size_t i = 0; i < n_reported; i++)
        if (reported[i] == key) {
            first = 0;
            break;
        }
    if (first) {
        if (n_reported == cap_reported) {
            size_t cap = cap_reported ? 2 * cap_reported : 16;
            const void **r = realloc(reported, cap * sizeof *r);
            if (r) {
                reported = r;
                cap_reported = cap;
            }
        }
        if (n_reported < cap_reported)
            reported[n_reported++] = key;
    }
    pthread_mutex_unlock(&report_lock);
    return first;
}

/* "xfrt: WHAT: message (reported once)" on stderr, the first time for key. */
void xf__report(const void *key, const char *what, const char *fmt, ...) {
    failures++;
    if (!xf__report_once(key))
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    flockfile(stderr);
    fprintf(stderr, "xfrt: %s: %s (further failures of this handler are not reported)\n", what,
            msg);
    funlockfile(stderr);
}

/* ---- patterns ---------------------------------------------------------------- */

const char *xf__source_name(const xf_event *ev) {
    return (ev->source && ev->source[0]) ? ev->source : "model";
}

typedef struct {
    char *p;
    size_t n, cap;
    int overflow;
} outbuf;

static void put(outbuf *b, const char *s, size_t n) {
    if (b->overflow || b->n + n >= b->cap) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(outbuf *b, const char *s) {
    put(b, s, strlen(s));
}

/* "{layer}" / "{step}": the index, or "none" outside layers / steps (-1). */
static const char *index_or_none(char *num, size_t cap, int index) {
    if (index < 0)
        return "none";
    snprintf(num, cap, "%d", index);
    return num;
}

int xf_expand_pattern(char *out, size_t cap, const char *pattern, const xf_event *ev,
                      const char *field) {
    if (!out || cap == 0)
        return -1;
    out[0] = '\0';
    if (!pattern)
        return -1;
    outbuf b = {out, 0, cap, 0};
    if (pattern[0] != '/') {
        pthread_mutex_lock(&dir_lock);
        if (events_dir) {
            puts_(&b, events_dir);
            if (b.n && out[b.n - 1] != '/')
                puts_(&b, "/");
        }
        pthread_mutex_unlock(&dir_lock);
    }
    for (const char *p = pattern; *p;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t len = close ? (size_t)(close - p - 1) : 0;
            char num[32];
            const char *rep = NULL;
            if (close && len == 6 && !strncmp(p + 1, "source", 6))
                rep = xf__source_name(ev);
            else if (close && len == 5 && !strncmp(p + 1, "event", 5))
                rep = xf_event_name(ev->kind);
            else if (close && len == 5 && !strncmp(p + 1, "field", 5)) {
                if (!field)
                    return -1;
                rep = field;
            } else if (close && len == 5 && !strncmp(p + 1, "layer", 5)) {
                rep = index_or_none(num, sizeof num, ev->layer);
            } else if (close && len == 4 && !strncmp(p + 1, "step", 4)) {
                rep = index_or_none(num, sizeof num, ev->step);
            } else if (close && len == 4 && !strncmp(p + 1, "call", 4)) {
                snprintf(num, sizeof num, "%lld", (long long)ev->call);
                rep = num;
            }
            if (rep) {
                puts_(&b, rep);
                p = close + 1;
                continue;
            }
        }
        put(&b, p, 1);
        p++;
    }
    return b.overflow ? -1 : 0;
}

/* The path of one output file of a handler: the pattern, with ".{field}"
 * inserted before the extension when the event has several fields and the
 * pattern does not say {field}, then expanded. */
int xf__handler_path(char *out, size_t cap, const char *pattern, const xf_event *ev,
                     const char *field, int nfields) {
    if (!pattern)
        return -1;
    if (nfields <= 1 || !field || strstr(pattern, "{field}"))
        return xf_expand_pattern(out, cap, pattern, ev, field);
    size_t n = strlen(pattern);
    char *p = malloc(n + 9);
    if (!p)
        return -1;
    const char *base = strrchr(pattern, '/');
    base = base ? base + 1 : pattern;
    const char *dot = strrchr(base, '.');
    size_t at = (dot && dot != base) ? (size_t)(dot - pattern) : n;
    memcpy(p, pattern, at);
    memcpy(p + at, ".{field}", 8);
    memcpy(p + at + 8, pattern + at, n - at + 1);
    int rc = xf_expand_pattern(out, cap, p, ev, field);
    free(p);
    return rc;
}

/* The non-NULL payload fields of an event, in a fixed order; returns how many. */
int xf__event_fields(const xf_event *ev, const char *names[5], const xf_tensor *ts[5]) {
    int n = 0;
#define FIELD(f)                                                                                   \
    if (ev->f && ev->f->data) {                                                                    \
        names[n] = #f;                                                                             \
        ts[n] = ev->f;                                                                             \
        n++;                                                                                       \
    }
    FIELD(queries);
    FIELD(keys);
    FIELD(values);
    FIELD(attention_matrix);
    FIELD(x);
#undef FIELD
    return n;
}

/* " layer=L step=S" for print and stats: each only where the event has one
 * (layer ≥ 0; step ≥ 0, i.e. inside a generation), so two IntermediateOutput
 * lines of different layers or steps differ. */
static void where_text(char *buf, size_t cap, const xf_event *ev) {
    int n = 0;
    buf[0] = '\0';
    if (ev->layer >= 0)
        n = snprintf(buf, cap, " layer=%d", ev->layer);
    if (ev->step >= 0 && n >= 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, " step=%d", ev->step);
}

static int64_t tensor_size(const xf_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank && i < 4; i++)
        n *= t->shape[i] > 0 ? t->shape[i] : 0;
    return t->rank > 0 ? n : 0;
}

static void shape_text(char *buf, size_t cap, const xf_tensor *t) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->rank && i < 4 && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

/* ---- save -------------------------------------------------------------------- */

void xf_save(const xf_event *ev, void *cfgp) {
    const xf_save_cfg *cfg = cfgp;
    if (!ev)
        return;
    if (!cfg || !cfg->pattern) {
        xf__report(cfgp, "save", "no file pattern");
        return;
    }
    const char *names[5];
    const xf_tensor *ts[5];
    int n = xf__event_fields(ev, names, ts);
    for (int i = 0; i < n; i++) {
        char path[4096];
        char what[300];
        snprintf(what, sizeof what, "save(\"%s\")", cfg->pattern);
        if (xf__handler_path(path, sizeof path, cfg->pattern, ev, names[i], n) != 0) {
            xf__report(cfgp, what, "the file name is too long for %s %s", xf__source_name(ev),
                       names[i]);
            return;
        }
        if (ts[i]->rank < 1 || ts[i]->rank > 4) {
            xf__report(cfgp, what, "%s: field %s has rank %d", path, names[i], ts[i]->rank);
            continue;
        }
        xf_error err;
        if (xf_npy_write(path, ts[i]->data, ts[i]->rank, ts[i]->shape, &err) != 0)
            xf__report(cfgp, what, "%s", err.msg);
    }
}

/* ---- stats ------------------------------------------------------------------- */

static void stats_line(const xf_event *ev, const char *name, const xf_tensor *t) {
    char shp[96], line[640];
    shape_text(shp, sizeof shp, t);
    int64_t n = tensor_size(t);
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    int64_t finite = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = t->data[i];
        if (!isfinite(v))
            continue;
        finite++;
        sum += v;
        if (v < mn)
            mn = v;
        if (v > mx)
            mx = v;
    }
    double mean = finite ? sum / (double)finite : NAN, var = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = t->data[i];
        if (isfinite(v))
            var += (v - mean) * (v - mean);
    }
    double sd = finite ? sqrt(var / (double)finite) : NAN;
    if (!finite)
        mn = mx = NAN;
    char where[48];
    where_text(where, sizeof where, ev);
    int k =
        snprintf(line, sizeof line, "%s %s %s %s%s min=%.6g max=%.6g mean=%.6g std=%.6g",
                 xf__source_name(ev), xf_event_name(ev->kind), name, shp, where, mn, mx, mean, sd);
    if (strcmp(name, "attention_matrix") == 0 && t->rank >= 1 && t->shape[t->rank - 1] > 0 &&
        n > 0) {
        int64_t S = t->shape[t->rank - 1], rows = n / S;
        double total = 0;
        for (int64_t r = 0; r < rows; r++) {
            const float *row = t->data + r * S;
            double h = 0;
            for (int64_t j = 0; j < S; j++) {
                double p = row[j];
                if (p > 0 && isfinite(p))
                    h -= p * log(p);
            }
            total += h;
        }
        k +=
            snprintf(line + k, sizeof line - (size_t)k, " entropy=%.6g nats", total / (double)rows);
    }
    if (finite < n && k < (int)sizeof line)
        snprintf(line + k, sizeof line - (size_t)k, " nonfinite=%lld", (long long)(n - finite));
    flockfile(stderr);
    fputs(line, stderr);
    fputc('\n', stderr);
    funlockfile(stderr);
}

void xf_stats(const xf_event *ev, void *cfg) {
    (void)cfg;
    if (!ev)
        return;
    const char *names[5];
    const xf_tensor *ts[5];
    int n = xf__event_fields(ev, names, ts);
    for (int i = 0; i < n; i++)
        stats_line(ev, names[i], ts[i]);
}

/* ---- print ------------------------------------------------------------------- */

enum { PRINT_INNER = 6, PRINT_ROWS = 2 };

/* Leading values, numpy-like, on one line: the innermost axis shows its first
 * PRINT_INNER values, the one above its first PRINT_ROWS rows, outer axes
 * their first block; "..." marks what is left out. */
static void print_block(outbuf *b, const xf_tensor *t, int axis, int64_t offset) {
    int64_t n = t->shape[axis];
    int64_t stride = 1;
    for (int i = axis + 1; i < t->rank; i++)
        stride *= t->shape[i];
    puts_(b, "[");
    if (axis == t->rank - 1) {
        int64_t k = n < PRINT_INNER ? n : PRINT_INNER;
        for (int64_t i = 0; i < k; i++) {
            char num[32];
            snprintf(num, sizeof num, "%s%.4g", i ? " " : "", (double)t->data[offset + i]);
            puts_(b, num);
        }
        if (n > k)
            puts_(b, " ...");
    } else {
        int64_t lim = axis == t->rank - 2 ? PRINT_ROWS : 1;
        int64_t k = n < lim ? n : lim;
        for (int64_t i = 0; i < k; i++) {
            if (i)
                puts_(b, " ");
            print_block(b, t, axis + 1, offset + i * stride);
        }
        if (n > k)
            puts_(b, " ...");
    }
    puts_(b, "]");
}

void xf_print(const xf_event *ev, void *cfg) {
    (void)cfg;
    if (!ev)
        return;
    const char *names[5];
    const xf_tensor *ts[5];
    int n = xf__event_fields(ev, names, ts);
    for (int i = 0; i < n; i++) {
        const xf_tensor *t = ts[i];
        char line[1024], shp[96];
        outbuf b = {line, 0, sizeof line, 0};
        line[0] = '\0';
        shape_text(shp, sizeof shp, t);
        puts_(&b, xf__source_name(ev));
        puts_(&b, " ");
        puts_(&b, xf_event_name(ev->kind));
        puts_(&b, " ");
        puts_(&b, names[i]);
        puts_(&b, " ");
        puts_(&b, shp);
        char where[48];
        where_text(where, sizeof where, ev);
        puts_(&b, where);
        puts_(&b, " = ");
        if (t->rank >= 1 && t->rank <= 4 && tensor_size(t) > 0)
            print_block(&b, t, 0, 0);
        else
            puts_(&b, "[]");
        flockfile(stdout);
        fputs(line, stdout);
        if (b.overflow)
            fputs("...", stdout);
        fputc('\n', stdout);
        fflush(stdout);
        funlockfile(stdout);
    }
}
