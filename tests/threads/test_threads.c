/* test_threads.c — one generated model, many threads calling NAME_forward at once.
 *
 * Built twice (tests/threads/CMakeLists.txt):
 *   test_threads          the release model `causal` (causal.xf)
 *   test_threads_counted  the debug model `counted` (counted.xf), whose
 *                         listeners are call(count_*) handlers defined here
 * both emitted by `xfc emit` at build time, with the weights of
 * tests/fixtures/encoder_causal.
 *
 * 1. Shared model: every input (its own batch, seq, lengths; some in place,
 *    y == x) is run once single-threaded for a reference; then THREADS
 *    threads × CALLS calls each run their inputs at the same time on the one
 *    model, and every output must be bit-identical to its reference.  Twice:
 *    with the runtime's defaults, then with xf_set_threads(4) (OpenBLAS and
 *    the runtime's attention pool on 4 threads, shared by every caller; new
 *    references first, as OpenBLAS's threaded kernels round differently).
 *    Counted: each handler checks that the event it gets has the shapes of the
 *    call made on its own thread, and the number of calls of each handler
 *    must be exactly what the listeners imply (see counted.xf).
 * 2. Own models: THREADS threads each load, run and free a model of their
 *    own at the same time (loader, workspace and free under concurrency).
 *
 * Plain C (no Criterion) so that it runs as it is under ThreadSanitizer
 * (XF_TSAN=ON).  Exit status 0 when all holds.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xf_kernels.h" /* xf_set_threads */
#include "xfrt.h"

#ifdef XF_COUNTED
#include "counted.h"
#define MODEL(x) counted_##x
#define MODEL_T  counted
#define D_MODEL  counted_D_MODEL
#else
#include "causal.h"
#define MODEL(x) causal_##x
#define MODEL_T  causal
#define D_MODEL  causal_D_MODEL
#endif

#define WEIGHTS           XF_FIXTURES "/encoder_causal/weights.safetensors"
#define THREADS           12
#define CALLS             50
#define INPUTS_PER_THREAD 2
#define MAX_SEQ           24
#define N_LAYERS          2
#define N_HEADS           2

static atomic_int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (atomic_fetch_add(&failures, 1) < 20) {                                             \
                fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                              \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* One forward call's input. */
typedef struct {
    int batch, seq;
    int lengths[4];
    int use_lengths, in_place;
    float *x;   /* [batch, seq, D] */
    float *ref; /* [batch, seq, D]: the single-threaded output */
} input;

/* ---- handlers of the counted model ----------------------------------------- */

static atomic_llong n_attention, n_intermediate, n_qkv;
static _Thread_local const input *current; /* the call this thread is making */

static void expect_shape(const xf_tensor *t, int rank, int64_t a, int64_t b, int64_t c, int64_t d,
                         const char *what) {
    const int64_t want[4] = {a, b, c, d};
    CHECK(t && t->rank == rank, "%s: rank %d, expected %d", what, t ? t->rank : -1, rank);
    for (int i = 0; t && i < rank; i++)
        CHECK(t->shape[i] == want[i], "%s: shape[%d] = %lld, expected %lld (batch %d seq %d)", what,
              i, (long long)t->shape[i], (long long)want[i], current ? current->batch : -1,
              current ? current->seq : -1);
    CHECK(t && t->data, "%s: no data", what);
}

void count_attention(const xf_event *ev, void *user);
void count_intermediate(const xf_event *ev, void *user);
void count_qkv(const xf_event *ev, void *user);

void count_attention(const xf_event *ev, void *user) {
    (void)user;
    atomic_fetch_add(&n_attention, 1);
    CHECK(current, "an event outside any call of this thread");
    CHECK(ev->kind == XF_ATTENTION_EVENT, "count_attention got kind %d", (int)ev->kind);
    CHECK(ev->layer >= 0 && ev->layer < N_LAYERS, "layer %d", ev->layer);
    if (current)
        expect_shape(ev->attention_matrix, 4, current->batch, N_HEADS, current->seq, current->seq,
                     "attention_matrix");
}

void count_intermediate(const xf_event *ev, void *user) {
    (void)user;
    atomic_fetch_add(&n_intermediate, 1);
    CHECK(current, "an event outside any call of this thread");
    CHECK(ev->kind == XF_INTERMEDIATE_OUTPUT, "count_intermediate got kind %d", (int)ev->kind);
    if (current)
        expect_shape(ev->x, 3, current->batch, current->seq, D_MODEL, 0, "x");
}

void count_qkv(const xf_event *ev, void *user) {
    (void)user;
    atomic_fetch_add(&n_qkv, 1);
    CHECK(current, "an event outside any call of this thread");
    CHECK(current && current->seq > 10, "the guard queries.shape[1] > 10 let seq %d through",
          current ? current->seq : -1);
    if (current)
        expect_shape(ev->queries, 4, current->batch, current->seq, N_HEADS, D_MODEL / N_HEADS,
                     "queries");
}

/* Events one call makes (counted.xf). */
static long long events_per_call(const input *in, long long *att, long long *inter,
                                 long long *qkv) {
    *att = N_LAYERS;
    *inter = N_LAYERS;
    *qkv = in->seq > 10 ? N_LAYERS : 0;
    return *att + *inter + *qkv;
}

/* ---- inputs ----------------------------------------------------------------------- */

static uint32_t rng_state;
static float rnd(void) { /* uniform in [-2, 2), deterministic */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / (float)(1u << 24) * 4.0f - 2.0f;
}

static size_t floats(const input *in) {
    return (size_t)in->batch * (size_t)in->seq * D_MODEL;
}

static void make_input(input *in, int t, int k) {
    rng_state = 0x9e3779b9u * (uint32_t)(t * INPUTS_PER_THREAD + k + 1);
    in->batch = 1 + (t + k) % 3;
    in->seq = 1 + (t * 7 + k * 11) % MAX_SEQ; /* 1..24, both sides of the guard */
    in->use_lengths = (t + k) % 2;
    for (int n = 0; n < in->batch; n++)
        in->lengths[n] = in->seq - (n * 5) % in->seq; /* 1..seq */
    in->in_place = t % 4 == 3;
    in->x = malloc(sizeof(float) * floats(in));
    in->ref = malloc(sizeof(float) * floats(in));
    for (size_t i = 0; i < floats(in); i++)
        in->x[i] = rnd();
}

/* One forward of `in` into y (in place when asked). */
static int run(MODEL_T *m, const input *in, float *y, xf_error *err) {
    current = in;
    int rc;
    if (in->in_place) {
        memcpy(y, in->x, sizeof(float) * floats(in));
        rc = MODEL(forward)(m, y, in->batch, in->seq, in->use_lengths ? in->lengths : NULL, y, err);
    } else {
        rc = MODEL(forward)(m, in->x, in->batch, in->seq, in->use_lengths ? in->lengths : NULL, y,
                            err);
    }
    current = NULL;
    return rc;
}

/* Where two outputs differ first: "valid row" or "padding row". */
static void report_mismatch(const input *in, const float *y, int t, int call) {
    for (size_t i = 0; i < floats(in); i++)
        if (memcmp(&y[i], &in->ref[i], sizeof(float))) {
            size_t row = i / D_MODEL, n = row / (size_t)in->seq, pos = row % (size_t)in->seq;
            int padding = in->use_lengths && (int)pos >= in->lengths[n];
            CHECK(0,
                  "thread %d call %d (batch %d seq %d%s): output differs from the single-threaded "
                  "run at [%zu,%zu,%zu] (%s row): %.9g vs %.9g",
                  t, call, in->batch, in->seq, in->in_place ? ", in place" : "", n, pos,
                  i % D_MODEL, padding ? "padding" : "valid", (double)y[i], (double)in->ref[i]);
            return;
        }
}

/* ---- phase 1: one shared model ------------------------------------------------------ */

typedef struct {
    MODEL_T *m;
    int t;
    input *in; /* [INPUTS_PER_THREAD] */
    pthread_barrier_t *start;
} job;

static void *shared_worker(void *arg) {
    job *j = arg;
    float *y = malloc(sizeof(float) * 3 * MAX_SEQ * D_MODEL);
    pthread_barrier_wait(j->start); /* every thread starts calling at once */
    for (int c = 0; c < CALLS; c++) {
        const input *in = &j->in[c % INPUTS_PER_THREAD];
        xf_error err = {""};
        if (run(j->m, in, y, &err)) {
            CHECK(0, "thread %d call %d: %s", j->t, c, err.msg);
            continue;
        }
        if (memcmp(y, in->ref, sizeof(float) * floats(in)))
            report_mismatch(in, y, j->t, c);
    }
    free(y);
    return NULL;
}

/* ---- phase 2: a model per thread ------------------------------------------------------ */

static void *own_worker(void *arg) {
    job *j = arg;
    float *y = malloc(sizeof(float) * 3 * MAX_SEQ * D_MODEL);
    pthread_barrier_wait(j->start);
    for (int round = 0; round < 3; round++) {
        xf_error err = {""};
        MODEL_T *m = MODEL(load)(WEIGHTS, &err);
        if (!m) {
            CHECK(0, "thread %d: load: %s", j->t, err.msg);
            break;
        }
        for (int c = 0; c < 4; c++) {
            const input *in = &j->in[c % INPUTS_PER_THREAD];
            if (run(m, in, y, &err))
                CHECK(0, "thread %d: %s", j->t, err.msg);
            else if (memcmp(y, in->ref, sizeof(float) * floats(in)))
                report_mismatch(in, y, j->t, c);
        }
        MODEL(free)(m);
    }
    free(y);
    return NULL;
}

static void run_threads(void *(*worker)(void *), MODEL_T *m, input (*inputs)[INPUTS_PER_THREAD]) {
    pthread_t th[THREADS];
    job jobs[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (job){m, t, inputs[t], &start};
        if (pthread_create(&th[t], NULL, worker, &jobs[t])) {
            fprintf(stderr, "FAIL: pthread_create\n");
            exit(1);
        }
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start);
}

int main(void) {
    static input inputs[THREADS][INPUTS_PER_THREAD];
    xf_error err = {""};
    MODEL_T *m = MODEL(load)(WEIGHTS, &err);
    if (!m) {
        fprintf(stderr, "FAIL: load: %s\n", err.msg);
        return 1;
    }

    for (int t = 0; t < THREADS; t++)
        for (int k = 0; k < INPUTS_PER_THREAD; k++)
            make_input(&inputs[t][k], t, k);

    /* Twice: the runtime's default threads, then xf_set_threads(4).  OpenBLAS
     * on several threads picks other kernels (results differ in the last
     * bits), so each setting gets its own references: one caller, one call
     * per input. */
    long long want_att = 0, want_inter = 0, want_qkv = 0;
    const int settings[2] = {0, 4}; /* 0: the defaults */
    for (int r = 0; r < 2; r++) {
        if (settings[r])
            xf_set_threads(settings[r]);
        for (int t = 0; t < THREADS; t++)
            for (int k = 0; k < INPUTS_PER_THREAD; k++)
                if (run(m, &inputs[t][k], inputs[t][k].ref, &err)) {
                    fprintf(stderr, "FAIL: reference run: %s\n", err.msg);
                    return 1;
                }
        /* the same input again in one thread gives the same bits (or the
         * comparisons below would mean nothing) */
        {
            input *in = &inputs[1][0];
            float *y = malloc(sizeof(float) * floats(in));
            CHECK(run(m, in, y, &err) == 0, "%s", err.msg);
            if (memcmp(y, in->ref, sizeof(float) * floats(in)))
                report_mismatch(in, y, 1, -1);
            free(y);
        }
        atomic_store(&n_attention, 0);
        atomic_store(&n_intermediate, 0);
        atomic_store(&n_qkv, 0);
        want_att = want_inter = want_qkv = 0;
        for (int t = 0; t < THREADS; t++)
            for (int c = 0; c < CALLS; c++) {
                long long a, i, q;
                events_per_call(&inputs[t][c % INPUTS_PER_THREAD], &a, &i, &q);
                want_att += a, want_inter += i, want_qkv += q;
            }
        run_threads(shared_worker, m, inputs);
        printf("shared model, %s: %d threads x %d calls, outputs checked bit for bit\n",
               settings[r] ? "xf_set_threads(4)" : "default threads", THREADS, CALLS);
#ifdef XF_COUNTED
        printf("handler calls: attention %lld (want %lld), intermediate %lld (want %lld), qkv %lld "
               "(want %lld)\n",
               (long long)n_attention, want_att, (long long)n_intermediate, want_inter,
               (long long)n_qkv, want_qkv);
        CHECK(n_attention == want_att, "count_attention called %lld times, expected %lld",
              (long long)n_attention, want_att);
        CHECK(n_intermediate == want_inter, "count_intermediate called %lld times, expected %lld",
              (long long)n_intermediate, want_inter);
        CHECK(n_qkv == want_qkv, "count_qkv called %lld times, expected %lld", (long long)n_qkv,
              want_qkv);
#else
        (void)want_att, (void)want_inter, (void)want_qkv;
        CHECK(n_attention + n_intermediate + n_qkv == 0, "a release model called a handler");
#endif
    }
    MODEL(free)(m);

    run_threads(own_worker, NULL, inputs);
    printf("own models: %d threads x 3 x (load, 4 calls, free)\n", THREADS);

    for (int t = 0; t < THREADS; t++)
        for (int k = 0; k < INPUTS_PER_THREAD; k++) {
            free(inputs[t][k].x);
            free(inputs[t][k].ref);
        }
    int f = atomic_load(&failures);
    if (f) {
        fprintf(stderr, "%d failures\n", f);
        return 1;
    }
    printf("ok\n");
    return 0;
}
