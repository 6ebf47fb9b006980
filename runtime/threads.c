/* threads.c — process-wide BLAS settings: thread count, AVX-512 kernels.
 *
 * The GEMMs are where the time goes and the BLAS backend threads them; the
 * runtime's parallel loops (pool_*.c) take what it does not: attention heads whose
 * GEMMs are too small to thread.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xf_blas.h"
#include "xf_pool.h"

enum { MAX_WORKERS = 64 };

static _Atomic int n_threads = 1; /* xf_set_threads: the pool's workers + the caller */

void xf_set_runtime_threads(int n) {
    atomic_store(&n_threads, n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : n);
}

int xf_runtime_threads(void) {
    return atomic_load(&n_threads);
}

int xf_pool_want(int tasks) {
    int want = atomic_load(&n_threads);
    return want > tasks ? tasks : want;
}

void xf_serial_for(int tasks, void (*fn)(void *ctx, int task, int worker), void *ctx) {
    for (int t = 0; t < tasks; t++)
        fn(ctx, t, 0);
}

void xf_set_threads(int n) {
    xf_blas_set_threads(n < 1 ? 1 : n);
    xf_set_runtime_threads(n);
}

/* Set in the environment of the re-exec'd process so it never loops, even
 * if OpenBLAS or the user later clears OPENBLAS_CORETYPE. */
#define REEXEC_MARKER "XF_AVX512_REEXEC"

void xf_prefer_avx512_blas(char **argv) {
    if (!argv || !argv[0] || strcmp(xf_blas_name(), "openblas") != 0)
        return; /* oneDNN picks its AVX-512 kernels itself */
    /* libgcc's check includes the OS having enabled the AVX-512 state (XCR0). */
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f"))
        return;
    if (getenv("OPENBLAS_CORETYPE") || getenv(REEXEC_MARKER))
        return; /* the user chose, or we already re-exec'd */
    if (setenv(REEXEC_MARKER, "1", 1) != 0)
        return;
    if (setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) != 0) {
        unsetenv(REEXEC_MARKER);
        return;
    }
    execv("/proc/self/exe", argv);
    /* Still here: exec failed (no /proc, seccomp…).  Run on, as we were. */
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(REEXEC_MARKER);
}
