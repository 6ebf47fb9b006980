/* attention_family.c — xfc's attention kernels alone, one call each, on the
 * getting-started model's attention (batch 1, 4 heads × 64, self-attention
 * over L positions, no masks): full vs clustered, improved-clustered and
 * linear (bench/attention_family.sh builds and runs it).
 *
 *   attention_family L CLUSTERS ROUNDS THREADS
 *
 * The kernels run interleaved, ROUNDS times each; one line per kernel:
 *   <name> L=<L> median_ms=<m> min_ms=<m> ratio_to_full=<full median / this median>
 * Inputs are uniform in [-1, 1); planes normal-ish from the same generator;
 * initial centroids none (spread positions).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "xf_kernels.h"

enum { H = 4, E = 64, D = 64, BITS = 63, KINDS = 4 };

typedef void (*kernel_fn)(float *, float *, const float *, const float *, const float *,
                          const xf_attn_shape *, float *);

static float *rand_buf(int64_t n, uint32_t seed) {
    float *x = malloc((size_t)n * sizeof *x);
    if (!x)
        exit(1);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) * (2.0 / 16777216.0)) - 1.0f;
    }
    return x;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s L CLUSTERS ROUNDS THREADS\n", argv[0]);
        return 2;
    }
    int L = atoi(argv[1]), C = atoi(argv[2]), rounds = atoi(argv[3]), threads = atoi(argv[4]);
    if (L < 1 || C < 1 || C > L || rounds < 1 || threads < 1) {
        fprintf(stderr, "%s: need 1 <= CLUSTERS <= L, ROUNDS >= 1, THREADS >= 1\n", argv[0]);
        return 2;
    }
    xf_set_threads(threads);
    float *q = rand_buf((int64_t)L * H * E, 1), *k = rand_buf((int64_t)L * H * E, 2);
    float *v = rand_buf((int64_t)L * H * D, 3), *planes = rand_buf(BITS * (E + 1), 4);
    float *out = malloc((size_t)L * H * D * sizeof(float));
    xf_clustering plain = {C, 10, BITS, 0, planes, NULL},
                  improved = {C, 10, BITS, 32, planes, NULL};
    const char *names[KINDS] = {"full", "clustered", "improved_clustered", "linear"};
    kernel_fn fns[KINDS] = {xf_attention, xf_clustered_attention, xf_clustered_attention,
                            xf_linear_attention};
    xf_attn_shape sh[KINDS];
    for (int i = 0; i < KINDS; i++)
        sh[i] = (xf_attn_shape){.N = 1,
                                .L = L,
                                .S = L,
                                .H = H,
                                .E = E,
                                .D = D,
                                .temp = 0.125f,
                                .clustering = i == 1   ? &plain
                                              : i == 2 ? &improved
                                                       : NULL};
    int64_t most = 0;
    for (int i = 0; i < KINDS; i++)
        most = xf_attention_scratch(&sh[i]) > most ? xf_attention_scratch(&sh[i]) : most;
    float *scratch = malloc((size_t)most * sizeof(float));
    double *t = malloc(sizeof(double) * KINDS * rounds);
    if (!out || !scratch || !t)
        return 1;
    for (int i = 0; i < KINDS; i++) /* warm-up */
        fns[i](out, NULL, q, k, v, &sh[i], scratch);
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < KINDS; i++) {
            double t0 = now_ms();
            fns[i](out, NULL, q, k, v, &sh[i], scratch);
            t[i * rounds + r] = now_ms() - t0;
        }
    double full = 0.0;
    for (int i = 0; i < KINDS; i++) {
        qsort(t + i * rounds, (size_t)rounds, sizeof(double), cmp_double);
        double med = t[i * rounds + rounds / 2];
        full = i == 0 ? med : full;
        printf("%-19s L=%d clusters=%d median_ms=%.2f min_ms=%.2f ratio_to_full=%.1f\n", names[i],
               L, C, med, t[i * rounds], full / med);
    }
    free(q), free(k), free(v), free(planes), free(out), free(scratch), free(t);
    return 0;
}
