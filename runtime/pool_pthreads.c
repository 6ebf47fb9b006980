/* pool_pthreads.c — the runtime's own threads, for work OpenBLAS does not thread:
 * attention over (sample, head) pairs.  Workers are started once (at the
 * first parallel call after xf_set_threads) and parked on a condition
 * variable between calls, so a forward never spawns a thread.
 *
 * One parallel loop runs at a time (a mutex serializes callers); a forward
 * running concurrently with another simply waits its turn for the pool or,
 * when the pool is busy, runs its loop on its own thread. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "xf_kernels.h"
#include "xf_pool.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;   /* guards everything below */
static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER; /* one loop at a time */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static int n_started;       /* worker threads running */
static uint64_t generation; /* bumped per loop: workers wake on change */
static int n_pending;       /* workers still inside the current loop */

static void (*job_fn)(void *ctx, int task, int worker);
static void *job_ctx;
static _Atomic int next_task;
static int job_tasks, job_workers;

static void run_tasks(int worker) {
    for (int t; (t = atomic_fetch_add(&next_task, 1)) < job_tasks;)
        job_fn(job_ctx, t, worker);
}

static void *worker_main(void *arg) {
    int id = (int)(intptr_t)arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (generation == seen)
            pthread_cond_wait(&wake, &mu);
        seen = generation;
        if (id >= job_workers)
            continue; /* this loop wants fewer threads */
        pthread_mutex_unlock(&mu);
        run_tasks(id);
        pthread_mutex_lock(&mu);
        if (--n_pending == 0)
            pthread_cond_signal(&done);
    }
    return NULL;
}

void xf_parallel_for(int tasks, void (*fn)(void *ctx, int task, int worker), void *ctx) {
    int want = xf_pool_want(tasks);
    if (want <= 1 || pthread_mutex_trylock(&busy) != 0) {
        xf_serial_for(tasks, fn, ctx); /* one thread, or the pool is taken */
        return;
    }
    pthread_mutex_lock(&mu);
    while (n_started < want - 1) { /* workers 1 .. want-1; the caller is worker 0 */
        pthread_t th;
        if (pthread_create(&th, NULL, worker_main, (void *)(intptr_t)(n_started + 1)) != 0)
            break;
        pthread_detach(th);
        n_started++;
    }
    if (want > n_started + 1)
        want = n_started + 1;
    job_fn = fn;
    job_ctx = ctx;
    job_tasks = tasks;
    job_workers = want;
    atomic_store(&next_task, 0);
    n_pending = want - 1;
    generation++;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&mu);

    run_tasks(0);

    pthread_mutex_lock(&mu);
    while (n_pending > 0)
        pthread_cond_wait(&done, &mu);
    pthread_mutex_unlock(&mu);
    pthread_mutex_unlock(&busy);
}

/* This pool starts its workers on demand and runs with fewer when one cannot
 * be made, so there is nothing to fail here (pool_openmp.c's has). */
int xf_start_threads(struct xf_error *err) {
    (void)err;
    return 0;
}
