/* stream_copy.c — this machine's memory bandwidth, STREAM-style, one thread.
 *
 *   cc -O2 -o stream_copy bench/stream_copy.c && ./stream_copy [MiB per array]
 *
 * Two kernels over float arrays far larger than the caches (default 256 MiB each):
 *   copy  b[i] = a[i]          STREAM's Copy: counts bytes read + bytes written
 *   read  s += a[i]            a read-only sweep, the access pattern of a generation
 *                              step, which reads every weight once (matrix-vector products)
 * Each is run 7 times; the best time gives the rate (STREAM's convention).  Prints
 *   copy_gbs=X read_gbs=Y mib=M
 * (GB = 1e9 bytes).  gen_bench.py compares a step's weight bytes / step time with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

/* Eight partial sums: the adds are independent, so the loop is bound by loads, not by
 * the latency of one accumulator. */
static float sum_read(const float *a, size_t n) {
    float s[8] = {0};
    for (size_t i = 0; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += a[i + k];
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
    if (mib < 16 || mib > 4096) {
        fprintf(stderr, "stream_copy: MiB per array must be 16..4096\n");
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
        t = now_ms() / 1e3;
        sink += sum_read(a, n);
        t = now_ms() / 1e3 - t;
        if (t < best_read)
            best_read = t;
        a[r] = b[n - 1 - r]; /* the copies are used: nothing is optimized away */
    }
    printf("copy_gbs=%.2f read_gbs=%.2f mib=%zu\n", 2.0 * n * sizeof(float) / best_copy / 1e9,
           (double)n * sizeof(float) / best_read / 1e9, mib);
    free(a);
    free(b);
    return sink == 12345.0f; /* sink is read: the sums are kept */
}
