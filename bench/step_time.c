/* step_time.c — a generation step's own time, measured inside one process
 * (gen_bench.py's "time per token after P tokens" rows).
 *
 *   step_time WEIGHTS PROMPT_IDS P S
 *
 * Built by gen_bench.py once per attention type, linked with the
 * `xfc emit --release` C of that spec (as xfc links a model):
 *   cc -O2 -DMODEL=lm_causal_linear -DMODEL_H='"lm_causal_linear.h"' -I GEN -I RUNTIME
 *      GEN/lm_causal_linear.c bench/step_time.c libxfrt.a LIBS…
 * Loads the model (one thread), warms up on a state of its own (a 16-token
 * prefill + 16 steps: the step's products and their primitives exist before
 * the clock starts), then on a fresh state runs MODEL_prefill over the first P
 * ids of PROMPT_IDS (.npy int32 [1, L] or [L]) and S consecutive MODEL_step
 * calls, greedy: each step is fed the argmax of the previous logits (taken
 * outside the timed call).  Each step is timed alone, wall clock
 * (CLOCK_MONOTONIC) and the process's CPU time (CLOCK_PROCESS_CPUTIME_ID: a
 * step preempted by another program's work costs wall time, not CPU time).
 * Differencing two whole generations instead would bury the steps under the
 * prefill's noise (a 4096-token prefill ≈ 190 ± 20 ms).  Prints one JSON line:
 *   {"prompt": P, "steps": S, "prefill_ms": …, "first_step_us": …,
 *    "step_us": median, "step_us_min": …, "step_cpu_us": median CPU, "last_id": …}
 * (first_step_us is the first of the S samples: the median is hardly moved by it). */
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "xf_io.h"
#include "xf_kernels.h"
#include MODEL_H

#define CAT2(a, b) a##b
#define CAT(a, b)  CAT2(a, b)
#define API(f)     CAT(MODEL, f)

static int32_t argmax(const float *v, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int fail(const xf_error *err) {
    fprintf(stderr, "step_time: %s\n", err->msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s WEIGHTS PROMPT_IDS P S\n", argv[0]);
        return 2;
    }
    int P = atoi(argv[3]), S = atoi(argv[4]);
    enum { WARM = 16, V = API(_VOCAB) };
    if (P < WARM || S < 1 || P + S > API(_MAX_POSITIONS)) {
        fprintf(stderr, "step_time: need P >= %d, S >= 1 and P + S <= %d (max_positions)\n", WARM,
                (int)API(_MAX_POSITIONS));
        return 2;
    }
    xf_set_threads(1);
    xf_error err = {""};
    xf_ids ids;
    if (xf_npy_read_ids(argv[2], &ids, &err) != 0)
        return fail(&err);
    if (ids.rows != 1 || ids.cols < P) {
        fprintf(stderr, "step_time: %s: need one row of at least %d ids\n", argv[2], P);
        return 1;
    }
    API() *m = API(_load)(argv[1], &err);
    if (!m)
        return fail(&err);
    static float logits[V];
    double *wall = malloc(sizeof *wall * (size_t)S), *cpu = malloc(sizeof *cpu * (size_t)S);
    if (!wall || !cpu) {
        fprintf(stderr, "step_time: out of memory\n");
        return 1;
    }

    /* warm-up: first calls create the products' primitives and fault the buffers in */
    API(_state) *s = API(_state_new)(m, 1, WARM * 2, &err);
    if (!s || API(_prefill)(m, s, ids.data, WARM, logits, &err) != 0)
        return fail(&err);
    for (int k = 0; k < WARM; k++) {
        int32_t next = argmax(logits, V);
        if (API(_step)(m, s, &next, logits, &err) != 0)
            return fail(&err);
    }
    API(_state_free)(s);

    s = API(_state_new)(m, 1, P + S, &err);
    if (!s)
        return fail(&err);
    double t0 = now_ms();
    if (API(_prefill)(m, s, ids.data, P, logits, &err) != 0)
        return fail(&err);
    double prefill = now_ms() - t0;
    int32_t next = 0;
    for (int k = 0; k < S; k++) {
        next = argmax(logits, V);
        double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = now_ms();
        int rc = API(_step)(m, s, &next, logits, &err);
        double w1 = now_ms(), c1 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        if (rc != 0)
            return fail(&err);
        wall[k] = 1e3 * (w1 - w0);
        cpu[k] = 1e3 * (c1 - c0);
    }
    double first = wall[0], mn = wall[0];
    for (int k = 1; k < S; k++)
        mn = wall[k] < mn ? wall[k] : mn;
    printf("{\"prompt\": %d, \"steps\": %d, \"prefill_ms\": %.3f, \"first_step_us\": %.1f, "
           "\"step_us\": %.1f, "
           "\"step_us_min\": %.1f, \"step_cpu_us\": %.1f, \"last_id\": %d}\n",
           P, S, prefill, first, median(wall, S), mn, median(cpu, S), (int)argmax(logits, V));
    free(wall);
    free(cpu);
    API(_state_free)(s);
    API(_free)(m);
    xf_ids_free(&ids);
    return 0;
}
