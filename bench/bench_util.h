/* bench_util.h — the clock and the comparison every C benchmark here sorts
 * its samples with (header-only: each bench is one `cc` line). */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <time.h>

/* Clock `id` in milliseconds: CLOCK_MONOTONIC (wall) or a CPU-time clock
 * (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID: time another program
 * takes from the core does not count). */
static inline double clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Monotonic wall time in milliseconds. */
static inline double now_ms(void) {
    return clock_ms(CLOCK_MONOTONIC);
}

/* qsort order for doubles, ascending (medians and minima of samples). */
static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
