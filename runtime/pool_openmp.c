/* pool_openmp.c — xf_parallel_for on the OpenMP pool that oneDNN's products
 * run on (-DXF_BLAS=onednn): one pool of threads in the process, sized once
 * by xf_set_threads.  (pool_pthreads.c is the OpenBLAS build's own pool.)
 *
 * One parallel loop runs at a time; a loop started while another runs — a
 * concurrent forward — runs on its caller's thread, as does a loop inside a
 * parallel region.  The products inside a task (attention's, on oneDNN) see
 * they are in a parallel region and stay on the task's thread. */
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "xf_blas.h"
#include "xf_kernels.h"
#include "xf_pool.h"

static atomic_flag busy = ATOMIC_FLAG_INIT; /* a loop is running on the pool */

void xf_parallel_for(int tasks, void (*fn)(void *ctx, int task, int worker), void *ctx) {
    int want = xf_pool_want(tasks);
    if (want <= 1 || omp_in_parallel() || atomic_flag_test_and_set(&busy)) {
        xf_serial_for(tasks, fn, ctx);
        return;
    }
#pragma omp parallel for num_threads(want) schedule(dynamic, 1)
    for (int t = 0; t < tasks; t++)
        fn(ctx, t, omp_get_thread_num());
    atomic_flag_clear(&busy);
}

static void *idle(void *arg) {
    return arg;
}

/* OpenMP starts its team at the first parallel region and, when a thread
 * cannot be made (a process capped by `ulimit -v`), exits with its own message
 * from inside a forward.  So the team is started here, before any model memory
 * is taken: first as plain threads of the same (default) stack size, whose
 * failure is ours to report, then as the team, which OpenMP keeps for the
 * process. */
int xf_start_threads(xf_error *err) {
    enum { MAX_TEAM = 256 };
    int n = xf_blas_threads();
    if (n > MAX_TEAM)
        n = MAX_TEAM;
    pthread_t th[MAX_TEAM];
    int made = 0, rc = 0;
    while (made < n - 1 && (rc = pthread_create(&th[made], NULL, idle, NULL)) == 0)
        made++;
    for (int i = 0; i < made; i++)
        pthread_join(th[i], NULL);
    if (made < n - 1)
        return xf_fail(err, "out of memory: cannot start %d threads (%s); try --threads 1", n,
                       strerror(rc));
#pragma omp parallel num_threads(n)
    { (void)0; }
    return 0;
}
