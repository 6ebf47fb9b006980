/* soak.c — many forwards and generations on loaded instrument-all models
 * while listeners come and go (issue 14, docs/RELIABILITY.md "Soak").
 *
 * XF_SOAK_FORWARDS forwards (default 10000; the release check runs 1000000)
 * of a few input shapes on the model `soak` (soak.xf, emitted by xfc at build
 * time).  Before each call, with probability 1/3, one of four handlers of
 * this file is subscribed with a freshly built random filter or removed; every
 * 1000 calls the model moves between the default dispatcher and a private
 * one.  What must hold:
 *   - every output is bit-identical to the same input's first output;
 *   - every event a handler gets has a payload it can read entirely (the sum
 *     of its values is finite) and the spec's listener sees every attention;
 *   - resident memory after the first 100 calls grows by at most 1 MiB and
 *     no file descriptor leaks (/proc/self/statm, /proc/self/fd); under ASan, whose
 *     quarantine keeps freed memory resident, LeakSanitizer checks leaks instead.
 * Then XF_SOAK_GENERATIONS generations (default 200) of XF_SOAK_TOKENS tokens
 * (default 256) on the token model `soak_lm` (soak_lm.xf, causal_linear),
 * sampled with a fixed seed from one of three prompts, listeners still coming
 * and going: every generation equals the first of its prompt, and resident
 * memory and descriptors after the first 10 hold as above.
 * Plain C, exit status 0 when all holds. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "soak.h"
#include "soak_lm.h"
#include "xfrt.h"

#define WEIGHTS    XF_FIXTURES "/encoder_causal/weights.safetensors"
#define LM_WEIGHTS XF_FIXTURES "/gen_lm_linear_eos/weights.safetensors"
#define N_PROMPTS  3
#define PROMPT_LEN 4
#define N_SHAPES   4
#define MAX_ELEMS  (3 * 16 * soak_D_MODEL)

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond) && failures++ < 20) {                                                          \
            fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                                  \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* ---- handlers ------------------------------------------------------------ */

static long long spec_attention_events, test_events;

/* Reads a whole payload: a freed or short buffer shows up under ASan, a
 * garbage one as a non-finite sum. */
static void read_all(const xf_tensor *t) {
    if (!t)
        return;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->shape[i];
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += t->data[i];
    CHECK(isfinite(s), "a payload of %lld values sums to %g", (long long)n, s);
}

static void read_event(const xf_event *ev) {
    read_all(ev->queries);
    read_all(ev->keys);
    read_all(ev->values);
    read_all(ev->attention_matrix);
    read_all(ev->x);
}

void soak_spec_attention(const xf_event *ev, void *user);
void soak_spec_attention(const xf_event *ev, void *user) {
    (void)user;
    CHECK(ev->kind == XF_ATTENTION_EVENT, "the spec listener got kind %d", (int)ev->kind);
    spec_attention_events++;
    read_event(ev);
}

static void on_any(const xf_event *ev, void *user) {
    (void)user;
    test_events++;
    read_event(ev);
}
static void on_any2(const xf_event *ev, void *user) {
    on_any(ev, user);
}
static void on_any3(const xf_event *ev, void *user) {
    on_any(ev, user);
}
static void on_any4(const xf_event *ev, void *user) {
    on_any(ev, user);
}
static const xf_handler handlers[4] = {on_any, on_any2, on_any3, on_any4};

/* ---- random filters ------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15u;
static unsigned rnd(unsigned n) { /* splitmix64, uniform enough for choices */
    uint64_t z = (rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (unsigned)((z ^ (z >> 31)) % n);
}

static int long_enough(const xf_event *ev, void *user) {
    (void)user;
    const xf_tensor *t = ev->x ? ev->x : ev->queries;
    return t ? t->shape[1] > 8 : 1;
}

static xf_filter *random_filter(int depth) {
    switch (depth > 2 ? rnd(5) : rnd(8)) {
        case 0: return xf_event_class((xf_event_kind)rnd(4));
        case 1:
            return xf_from_layer(rnd(2) ? "layers.1.attention"
                                        : "layers.0.attention.inner_attention");
        case 2: return xf_within(rnd(2) ? "layers.0" : "");
        case 3: return xf_layer_name_contains("attention");
        case 4: return xf_predicate(long_enough, NULL);
        case 5: return xf_and(random_filter(depth + 1), random_filter(depth + 1));
        case 6: return xf_or(random_filter(depth + 1), random_filter(depth + 1));
        default: return xf_not(random_filter(depth + 1));
    }
}

/* ---- process measurements ------------------------------------------------ */

static long resident_kib(void) {
    long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &res) != 2)
        res = -1;
    if (f)
        fclose(f);
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ---- generations ----------------------------------------------------------- */

/* Before a call: with probability 1/3 one test handler subscribes (random
 * filter) to d or leaves it. */
static void churn_listeners(xf_dispatcher *d) {
    if (rnd(3) != 0)
        return;
    xf_handler h = handlers[rnd(4)];
    if (rnd(2))
        xf_listen(d, random_filter(0), h, NULL);
    else
        xf_remove(d, h);
}

/* `count` generations of `tokens` tokens, checked as the header says. */
static void soak_generations(long count, int tokens) {
    xf_error err;
    soak_lm *m = soak_lm_load(LM_WEIGHTS, &err);
    if (!m) {
        CHECK(0, "soak_lm: %s", err.msg);
        return;
    }
    const int width = PROMPT_LEN + tokens;
    int32_t prompts[N_PROMPTS][PROMPT_LEN],
        *first = calloc((size_t)N_PROMPTS * width, sizeof *first),
        *out = calloc((size_t)width, sizeof *out);
    int have_first[N_PROMPTS] = {0};
    for (int p = 0; p < N_PROMPTS; p++)
        for (int i = 0; i < PROMPT_LEN; i++)
            prompts[p][i] = (int32_t)rnd(soak_lm_VOCAB);
    const xf_sampling how = {.temperature = 1.0f, .top_k = 8, .seed = 7, .eos = -1};
    xf_dispatcher *d = xf_dispatcher_get("");
    long rss10 = 0;
    int fds10 = 0;
    for (long g = 0; g < count && failures == 0 && first && out; g++) {
        churn_listeners(d);
        const int p = (int)rnd(N_PROMPTS);
        CHECK(!soak_lm_generate(m, prompts[p], 1, PROMPT_LEN, tokens, &how, out, &err),
              "generation %ld: %s", g, err.msg);
        int32_t *ref = first + (size_t)p * width;
        if (!have_first[p]) {
            memcpy(ref, out, sizeof *out * (size_t)width);
            have_first[p] = 1;
        }
        CHECK(!memcmp(out, ref, sizeof *out * (size_t)width),
              "generation %ld (prompt %d) differs from the first", g, p);
        if (g == 9) {
            rss10 = resident_kib();
            fds10 = open_fds();
        }
    }
    if (count > 10) {
        const long rss = resident_kib();
        const int fds = open_fds();
#ifndef __SANITIZE_ADDRESS__
        CHECK(rss - rss10 <= 1024, "resident memory grew by %ld KiB after generation 10",
              rss - rss10);
#endif
        CHECK(fds == fds10, "%d file descriptors open, %d after generation 10", fds, fds10);
        printf("soak: %ld generations of %d tokens, resident %+ld KiB after generation 10, %d fds: "
               "%s\n",
               count, tokens, rss - rss10, fds, failures ? "FAILED" : "ok");
    }
    xf_clear(d);
    free(first);
    free(out);
    soak_lm_free(m);
}

/* ---- the run ------------------------------------------------------------- */

typedef struct {
    int batch, seq, lengths[3];
    float x[MAX_ELEMS], ref[MAX_ELEMS];
} shape;

static void make_inputs(shape *s) {
    static const int dims[N_SHAPES][2] = {{1, 5}, {2, 12}, {3, 16}, {1, 9}};
    for (int i = 0; i < N_SHAPES; i++) {
        s[i].batch = dims[i][0];
        s[i].seq = dims[i][1];
        for (int n = 0; n < s[i].batch; n++)
            s[i].lengths[n] = s[i].seq - n;
        for (int j = 0; j < s[i].batch * s[i].seq * soak_D_MODEL; j++)
            s[i].x[j] = (float)rnd(2001) / 500.0f - 2.0f;
    }
}

int main(void) {
    const char *env = getenv("XF_SOAK_FORWARDS"); /* the generations' sizes: at the end */
    long forwards = env ? atol(env) : 10000;
    xf_error err;
    soak *m = soak_load(WEIGHTS, &err);
    if (!m) {
        fprintf(stderr, "soak: %s\n", err.msg);
        return 1;
    }
    static shape shapes[N_SHAPES];
    static float y[MAX_ELEMS];
    make_inputs(shapes);
    for (int i = 0; i < N_SHAPES; i++)
        CHECK(!soak_forward(m, shapes[i].x, shapes[i].batch, shapes[i].seq, shapes[i].lengths,
                            shapes[i].ref, &err),
              "reference forward: %s", err.msg);

    xf_dispatcher *def = xf_dispatcher_get(""), *own = xf_dispatcher_get("soak"), *d = def;
    long rss100 = 0;
    int fds100 = 0;
    for (long call = 0; call < forwards && failures == 0; call++) {
        churn_listeners(d);
        if (call % 1000 == 999) { /* the test handlers follow the model to its new dispatcher */
            xf_clear(d == def ? own : def);
            d = d == def ? own : def;
            soak_set_dispatcher(m, d);
        }
        const shape *s = &shapes[rnd(N_SHAPES)];
        const int64_t n = (int64_t)s->batch * s->seq * soak_D_MODEL;
        CHECK(!soak_forward(m, s->x, s->batch, s->seq, s->lengths, y, &err), "call %ld: %s", call,
              err.msg);
        CHECK(!memcmp(y, s->ref, sizeof(float) * (size_t)n),
              "call %ld (batch %d, seq %d): output differs from the first", call, s->batch, s->seq);
        if (call == 99) {
            rss100 = resident_kib();
            fds100 = open_fds();
        }
    }
    long rss = resident_kib();
    int fds = open_fds();
    if (forwards > 100) {
#ifndef __SANITIZE_ADDRESS__ /* ASan's quarantine holds freed blocks; LeakSanitizer checks instead */
        CHECK(rss - rss100 <= 1024, "resident memory grew by %ld KiB after call 100", rss - rss100);
#endif
        CHECK(fds == fds100, "%d file descriptors open, %d after call 100", fds, fds100);
    }
    CHECK(spec_attention_events > 0 && test_events > 0, "events: spec %lld, test %lld",
          spec_attention_events, test_events);
    xf_clear(def);
    xf_clear(own);
    soak_free(m);
    printf("soak: %ld forwards, %lld spec + %lld test events, resident %+ld KiB after call 100, "
           "%d fds: %s\n",
           forwards, spec_attention_events, test_events, rss - rss100, fds,
           failures ? "FAILED" : "ok");
    const char *genv = getenv("XF_SOAK_GENERATIONS"), *tenv = getenv("XF_SOAK_TOKENS");
    const int tokens = tenv ? atoi(tenv) : 256;
    if (failures == 0 && tokens > 0 && tokens <= 8192 - PROMPT_LEN)
        soak_generations(genv ? atol(genv) : 200, tokens);
    return failures != 0;
}
