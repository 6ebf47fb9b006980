/* xf_pool.h — what the two thread pools (pool_pthreads.c, pool_openmp.c) share,
 * kept in threads.c: the thread count xf_set_threads set, and the serial loop
 * a parallel loop falls back to.  Internal to the runtime, not installed. */
#ifndef XF_POOL_H
#define XF_POOL_H

/* The threads a loop of `tasks` tasks may use (the caller included; <= 1: serial). */
int xf_pool_want(int tasks);

/* fn(ctx, t, 0) for every task t, on the calling thread. */
void xf_serial_for(int tasks, void (*fn)(void *ctx, int task, int worker), void *ctx);

#endif /* XF_POOL_H */
