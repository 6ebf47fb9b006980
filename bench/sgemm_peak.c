/* sgemm_peak.c — the GEMM ceiling of this machine's OpenBLAS, single thread.
 *
 * Times cblas_sgemm C[M,N] = A[M,K] · B[K,N] (default 1000 × 256 × 1024: the
 * feed-forward GEMM of the getting-started model at batch 10 × seq 100) and
 * prints the GFLOP/s (2·M·K·N / time) and the kernel OpenBLAS chose.  Run it
 * with and without OPENBLAS_CORETYPE=SkylakeX: the variable is read when
 * OpenBLAS loads, so it must be in the environment before the process starts.
 *
 *   cc -O2 bench/sgemm_peak.c -o bench/work/sgemm_peak -lopenblas
 *   bench/work/sgemm_peak [M K N [threads]]
 *
 * Last line: "sgemm M=… K=… N=… threads=… core=… gflops median=X best=Y".
 */
#define _POSIX_C_SOURCE 199309L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

/* OpenBLAS extensions (declared by its cblas.h, repeated for other headers) */
void openblas_set_num_threads(int);
char *openblas_get_corename(void);

int main(int argc, char **argv) {
    int M = 1000, K = 256, N = 1024, threads = 1;
    if (argc >= 4) {
        M = atoi(argv[1]);
        K = atoi(argv[2]);
        N = atoi(argv[3]);
    }
    if (argc >= 5)
        threads = atoi(argv[4]);
    if (M <= 0 || K <= 0 || N <= 0 || threads <= 0) {
        fprintf(stderr, "usage: %s [M K N [threads]]\n", argv[0]);
        return 1;
    }
    openblas_set_num_threads(threads);
    float *A = malloc(sizeof(float) * (size_t)M * K);
    float *B = malloc(sizeof(float) * (size_t)K * N);
    float *C = malloc(sizeof(float) * (size_t)M * N);
    if (!A || !B || !C) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    srand(1);
    for (size_t i = 0; i < (size_t)M * K; i++)
        A[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)K * N; i++)
        B[i] = (float)rand() / RAND_MAX - 0.5f;

    const double flop = 2.0 * M * K * N;
    /* calls per sample: about 50 ms of work at 100 GFLOP/s */
    int reps = (int)(5e9 / flop);
    if (reps < 1)
        reps = 1;
    enum { SAMPLES = 15 };
    double gf[SAMPLES];
    for (int w = 0; w < reps; w++) /* warm-up: thread pool, caches, page faults */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f, C,
                    N);
    for (int s = 0; s < SAMPLES; s++) {
        double t0 = now_ms();
        for (int r = 0; r < reps; r++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f,
                        C, N);
        gf[s] = flop * reps / ((now_ms() - t0) / 1e3) / 1e9;
    }
    qsort(gf, SAMPLES, sizeof gf[0], cmp_double);
    const char *env = getenv("OPENBLAS_CORETYPE");
    printf("sgemm M=%d K=%d N=%d threads=%d OPENBLAS_CORETYPE=%s core=%s gflops median=%.1f "
           "best=%.1f\n",
           M, K, N, threads, env ? env : "(unset)", openblas_get_corename(), gf[SAMPLES / 2],
           gf[SAMPLES - 1]);
    free(A);
    free(B);
    free(C);
    return 0;
}
