/* fma_peak.c — one core's single-precision arithmetic ceiling: fused
 * multiply-adds on 12 independent vector accumulators (enough to cover the FMA
 * latency on two FMA pipes), nothing loaded or stored.  No matrix product, on
 * any library, can beat it; bench.py sets xfc's GFLOP/s against it.
 *
 *   cc -O2 -march=native bench/fma_peak.c -o bench/work/fma_peak
 *   bench/work/fma_peak
 *
 * Times thread CPU time (a busy machine stretches wall time, not the work).
 * Last line: "fma width=… bits gflops median=X best=Y".
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#if defined(__AVX512F__)
enum { LANES = 16 };
#elif defined(__AVX__)
enum { LANES = 8 };
#else
enum { LANES = 4 };
#endif
typedef float vec __attribute__((vector_size(LANES * sizeof(float))));

/* 12 chains a = a·m + c, `iters` times; the asm keeps the compiler from
 * merging or hoisting chains.  Returns a sum so nothing is dead. */
static float chains(long iters) {
    vec a[12], m, c;
    for (int j = 0; j < LANES; j++) {
        m[j] = 0.999999f;
        c[j] = 1e-7f;
    }
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < LANES; j++)
            a[i][j] = (float)(i * LANES + j);
    vec a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6], a7 = a[7],
        a8 = a[8], a9 = a[9], a10 = a[10], a11 = a[11];
    for (long it = 0; it < iters; it++) {
        a0 = a0 * m + c, a1 = a1 * m + c, a2 = a2 * m + c, a3 = a3 * m + c;
        a4 = a4 * m + c, a5 = a5 * m + c, a6 = a6 * m + c, a7 = a7 * m + c;
        a8 = a8 * m + c, a9 = a9 * m + c, a10 = a10 * m + c, a11 = a11 * m + c;
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
        __asm__ volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
    }
    vec s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
    float t = 0.0f;
    for (int j = 0; j < LANES; j++)
        t += s[j];
    return t;
}

int main(void) {
    const long iters = 20000000; /* ≈ 7.7 GFLOP at 16 lanes: ≈ 40 ms a sample */
    enum { SAMPLES = 9 };
    double gf[SAMPLES];
    float sink = chains(iters / 4); /* warm-up: clock ramps */
    for (int s = 0; s < SAMPLES; s++) {
        double t0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
        sink += chains(iters);
        gf[s] = 2.0 * LANES * 12 * (double)iters /
                ((clock_ms(CLOCK_THREAD_CPUTIME_ID) - t0) / 1e3) / 1e9;
    }
    qsort(gf, SAMPLES, sizeof gf[0], cmp_double);
    printf("fma width=%d bits (sum %g) gflops median=%.1f best=%.1f\n", LANES * 32, (double)sink,
           gf[SAMPLES / 2], gf[SAMPLES - 1]);
    return 0;
}
