/* model_support.c — call checks, the reusable workspace, feature-map omegas, clustered
 * attention's and reformer's draws of generated models. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "xf_io.h"
#include "xf_model.h"

int xf_check_call(int batch, int seq, const int *lengths, const char *what, xf_error *err) {
    if (batch < 1)
        return xf_fail(err, "batch must be at least 1 (got %d)", batch);
    if (seq < 1)
        return xf_fail(err, "sequence length must be at least 1 (got %d)", seq);
    if (lengths)
        for (int i = 0; i < batch; i++)
            if (lengths[i] < 1 || lengths[i] > seq)
                return xf_fail(err, "%s[%d] = %d is out of range 1..%d", what, i, lengths[i], seq);
    return 0;
}

int xf_check_clusters(int batch, int seq, const int *lengths, int clusters, int iterations,
                      const char *what, const char *lengths_what, xf_error *err) {
    if (seq < clusters)
        return xf_fail(err,
                       "%s = %d is shorter than clusters = %d of clustered attention "
                       "(fast-transformers draws %d distinct query positions to start its k-means)",
                       what, seq, clusters, clusters);
    for (int i = 0; lengths && iterations > 1 && i < batch; i++)
        if (lengths[i] < clusters)
            return xf_fail(err,
                           "%s[%d] = %d is shorter than clusters = %d of clustered attention: "
                           "clusters stay empty, and fast-transformers redraws their centroids "
                           "from an unseeded random device (not reproducible)",
                           lengths_what, i, lengths[i], clusters);
    return 0;
}

void xf_workspace_init(xf_workspace *w) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
}

/* Address space a call keeps free beyond its working memory.  oneDNN makes
 * the kernels of a product shape it has not seen during the call, each in a
 * mapping of its own (18 of 256 KiB in a first forward of tests/cli's
 * memcap encoder), and crashes when one cannot be made: under a cap on the
 * address space (`prlimit --as`) that let the working memory in but not
 * those, a forward died of SIGSEGV (cli.memcap.forward).  Checked where the
 * working memory is taken, so a later call of a new shape still has the
 * rest of this room. */
enum { KERNEL_ROOM = 32 << 20 };

/* Whether `bytes` more address space can be mapped (nothing is kept). */
static int has_room(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    munmap(p, bytes);
    return 1;
}

static float *alloc_floats(int64_t floats, xf_error *err) {
    if (floats < 0 || floats > XF_MAX_WORKSPACE / (int64_t)sizeof(float)) {
        xf_fail(err,
                "this call needs %.1f GiB of working memory (limit %.0f GiB): use a smaller batch "
                "or sequence",
                (double)floats * sizeof(float) / (1 << 30), (double)XF_MAX_WORKSPACE / (1 << 30));
        return NULL;
    }
    size_t bytes = ((size_t)(floats ? floats : 1) * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (!p)
        xf_fail(err, "out of memory: this call needs %.1f MiB of working memory",
                (double)bytes / (1 << 20));
    else if (!has_room(KERNEL_ROOM)) {
        free(p);
        p = NULL;
        xf_fail(err,
                "out of memory: this call needs %.1f MiB of working memory and %d MiB of room "
                "for the products' kernels",
                (double)bytes / (1 << 20), KERNEL_ROOM >> 20);
    }
    return p;
}

float *xf_workspace_acquire(xf_workspace *w, int64_t floats, xf_error *err) {
    pthread_mutex_lock(&w->mu);
    if (w->busy) {
        pthread_mutex_unlock(&w->mu);
        return alloc_floats(floats, err);
    }
    if (floats > w->cap) {
        float *p = alloc_floats(floats, err);
        if (!p) {
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        free(w->buf);
        w->buf = p;
        w->cap = floats;
    }
    w->busy = 1;
    pthread_mutex_unlock(&w->mu);
    return w->buf;
}

void xf_workspace_release(xf_workspace *w, float *buf) {
    pthread_mutex_lock(&w->mu);
    if (buf == w->buf)
        w->busy = 0;
    else
        free(buf);
    pthread_mutex_unlock(&w->mu);
}

void xf_workspace_destroy(xf_workspace *w) {
    free(w->buf);
    pthread_mutex_destroy(&w->mu);
}

const float *xf_random_normal_load(struct xf_weights *w, const char *name, int rank,
                                   const int64_t *dims, uint64_t random_seed, xf_error *err) {
    if (xf_weights_has(w, name))
        return xf_weights_get(w, name, rank, dims, err);
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    if (n > INT_MAX) {
        xf_fail(err, "%s: %lld values are too many to draw", name, (long long)n);
        return NULL;
    }
    float *x = xf_weights_alloc(w, n, err);
    if (!x)
        return NULL;
    /* independent normals, in order: one row of n columns */
    if (xf_feature_map_draw(x, 1, (int)n, 0, xf_feature_map_seed(random_seed, name))) {
        xf_fail(err, "%s: out of memory drawing it", name);
        return NULL;
    }
    return x;
}

int xf_feature_map_load(xf_feature_map *fm, struct xf_weights *w, const char *name, int E,
                        int orthogonal, uint64_t random_seed, xf_error *err) {
    if (xf_weights_has(w, name)) {
        fm->omega = xf_weights_get(w, name, 2, (const int64_t[]){E, fm->m}, err);
        return fm->omega ? 0 : -1;
    }
    float *omega = xf_weights_alloc(w, (int64_t)E * fm->m, err);
    if (!omega)
        return -1;
    if (xf_feature_map_draw(omega, E, fm->m, orthogonal, xf_feature_map_seed(random_seed, name)))
        return xf_fail(err, "%s: out of memory drawing its omega", name);
    fm->omega = omega;
    return 0;
}

/* planes [bits, E+1]: the file's `name` [1, bits, E+1] or drawn; with
 * hash_bias = 0 a copy whose threshold column is 0 (fast-transformers zeroes
 * it after drawing, so a file of its holds zeros there already). */
static int clustering_planes(xf_clustering *c, struct xf_weights *w, const char *name, int E,
                             int hash_bias, uint64_t random_seed, xf_error *err) {
    const int64_t n = (int64_t)c->bits * (E + 1);
    const float *src = NULL;
    if (xf_weights_has(w, name) &&
        !(src = xf_weights_get(w, name, 3, (const int64_t[]){1, c->bits, E + 1}, err)))
        return -1;
    if (src && hash_bias) {
        c->planes = src;
        return 0;
    }
    float *p = xf_weights_alloc(w, n, err);
    if (!p)
        return -1;
    if (src)
        memcpy(p, src, (size_t)n * sizeof(float));
    else if (xf_feature_map_draw(p, c->bits, E + 1, 0, xf_feature_map_seed(random_seed, name)))
        return xf_fail(err, "%s: out of memory drawing the hashing planes", name);
    for (int b = 0; !hash_bias && b < c->bits; b++)
        p[(int64_t)b * (E + 1) + E] = 0.0f;
    c->planes = p;
    return 0;
}

int xf_clustering_load(xf_clustering *c, struct xf_weights *w, const char *base, int E,
                       int hash_bias, uint64_t random_seed, xf_error *err) {
    char name[512];
    snprintf(name, sizeof name, "%s.planes", base);
    if (clustering_planes(c, w, name, E, hash_bias, random_seed, err))
        return -1;
    snprintf(name, sizeof name, "%s.initial_centroids", base);
    c->initial = NULL;
    c->seed = xf_feature_map_seed(random_seed, name);
    if (!xf_weights_has(w, name))
        return 0;
    const float *init = xf_weights_get(w, name, 1, (const int64_t[]){c->clusters}, err);
    if (!init)
        return -1;
    for (int k = 0; k < c->clusters; k++)
        if (!(init[k] >= 0.0f && init[k] < 16777216.0f && init[k] == (float)(int64_t)init[k]))
            return xf_fail(err, "tensor %s: entry %d is %g, not a query position", name, k,
                           (double)init[k]);
    c->initial = init;
    return 0;
}
