/* stream_copy.c — this machine's memory bandwidth, STREAM-style, one thread.
 *
 *   cc -O2 -o stream_copy bench/stream_copy.c && ./stream_copy [MiB per array]
 *
 * Two kernels over float arrays (default 256 MiB each: far larger than the caches; gen_bench.py
 * also runs 13 MiB, the size of its model's weights, which the caches may hold):
 *   copy  b[i] = a[i]          STREAM's Copy: counts bytes read + bytes written
 *   read  s += a[i]            a read-only sweep, the access pattern of a generation
 *                              step, which reads every weight once (matrix-vector products)
 * Each is run 7 times; the best time gives the rate (STREAM's convention).  Prints
 *   copy_gbs=X read_gbs=Y mib=M
 * (GB = 1e9 bytes).  gen_bench.py compares a step's weight bytes / step time with both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

/* Eight independent 4-float vector sums (GCC/clang vector extension, plain SSE on x86-64):
 * the loop is bound by loads, not by the latency of the adds.  (Eight scalar partial sums
 * compiled to two vector chains and read a cache-held array at 45–50 GB/s where this one reads
 * 55–70 on the same machine: add latency, not the cache, was the limit.) */
typedef float v4 __attribute__((vector_size(16)));

static inline v4 load4(const float *p) {
    v4 x;
    memcpy(&x, p, sizeof x); /* unaligned load */
    return x;
}

static float sum_read(const float *a, size_t n) {
    v4 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0};
    for (size_t i = 0; i + 32 <= n; i += 32) {
        s0 += load4(a + i), s1 += load4(a + i + 4), s2 += load4(a + i + 8), s3 += load4(a + i + 12);
        s4 += load4(a + i + 16), s5 += load4(a + i + 20), s6 += load4(a + i + 24),
            s7 += load4(a + i + 28);
    }
    v4 s = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
    return s[0] + s[1] + s[2] + s[3];
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
    if (mib < 1 || mib > 4096) {
        fprintf(stderr, "stream_copy: MiB per array must be 1..4096\n");
        return 1;
    }
    size_t n = mib * 1024 * 1024 / sizeof(float);
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    if (!a || !b) {
        fprintf(stderr, "stream_copy: out of memory for 2 x %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(i & 1023), b[i] = 0.0f; /* touch every page */
    double best_copy = 1e30, best_read = 1e30;
    volatile float sink = 0.0f;
    for (int r = 0; r < 7; r++) {
        double t = now_ms() / 1e3;
        memcpy(b, a, n * sizeof(float));
        t = now_ms() / 1e3 - t;
        if (t < best_copy)
            best_copy = t;
        a[r] = b[n - 1 - r]; /* the copies are used: nothing is optimized away */
    }
    /* The reads after all the copies: between two sweeps only `a` is touched, so an array
     * the caches can hold stays in them, as a step's weights do between two steps. */
    for (int r = 0; r < 7; r++) {
        double t = now_ms() / 1e3;
        sink += sum_read(a, n);
        t = now_ms() / 1e3 - t;
        if (t < best_read)
            best_read = t;
    }
    printf("copy_gbs=%.2f read_gbs=%.2f mib=%zu\n", 2.0 * n * sizeof(float) / best_copy / 1e9,
           (double)n * sizeof(float) / best_read / 1e9, mib);
    free(a);
    free(b);
    return sink == 12345.0f; /* sink is read: the sums are kept */
}
