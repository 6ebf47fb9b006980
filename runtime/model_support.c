/* model_support.c — call checks, the reusable workspace and feature-map omegas of generated models. */
#include <stdlib.h>
#include <string.h>
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

void xf_workspace_init(xf_workspace *w) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
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
