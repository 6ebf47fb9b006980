/* load_time.c — what loading a model costs against running it, in one process
 * (the "load" row of bench/run.sh).
 *
 *   load_time WEIGHTS THREADS RUNS
 *
 * Links the C of bench/specs/gs.xf (`xfc emit --release`).  Times gs_load
 * (open, check, transpose and — on oneDNN — pack every weight), the first
 * batch 1 × seq 16 forward (which creates the products' primitives), then
 * RUNS more, and prints one JSON line:
 *   {"load_ms": …, "first_forward_ms": …, "forward_ms": median, "runs": RUNS}
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "gs.h"
#include "xf_kernels.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s WEIGHTS THREADS RUNS\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[2]), runs = atoi(argv[3]);
    if (threads < 1 || runs < 1) {
        fprintf(stderr, "%s: THREADS and RUNS must be positive\n", argv[0]);
        return 2;
    }
    xf_set_threads(threads);
    enum { SEQ = 16 };
    static float x[SEQ * 256], y[SEQ * 256];
    for (int i = 0; i < SEQ * 256; i++)
        x[i] = (float)((i * 37 % 101) - 50) / 50.0f;
    xf_error err = {""};
    double t0 = now_ms();
    gs *m = gs_load(argv[1], &err);
    double load = now_ms() - t0;
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double *ms = malloc(sizeof *ms * (size_t)(runs + 1));
    for (int r = 0; r <= runs; r++) {
        t0 = now_ms();
        if (gs_forward(m, x, 1, SEQ, NULL, y, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        ms[r] = now_ms() - t0;
    }
    qsort(ms + 1, (size_t)runs, sizeof *ms, cmp_double);
    printf("{\"load_ms\": %.3f, \"first_forward_ms\": %.3f, \"forward_ms\": %.3f, \"runs\": %d}\n",
           load, ms[0], ms[1 + runs / 2], runs);
    free(ms);
    gs_free(m);
    return 0;
}
