/* intree.c — xfc_add_model() inside xfc's own build tree (the aliases xfc::xfc,
 * xfc::xfrt): an INSTRUMENT_ALL model with EMBED_WEIGHTS, used from C.
 *
 *   intree INPUT.npy EXPECTED.npy
 *
 * Loads the embedded weights, listens to every AttentionEvent through the
 * default dispatcher (next to the spec's own `stats` listener), runs one padded
 * forward and checks the output against PyTorch's (1e-4, valid rows) and that
 * one event per layer arrived. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "prenorm.h"
#include "prenorm_embedded.h"
#include "xf_io.h"

static const int lengths[3] = {37, 20, 5};

static void count(const xf_event *ev, void *user) {
    if (ev->attention_matrix && ev->attention_matrix->shape[1] == 6)
        ++*(int *)user;
}

/* the spec's own listener (tests/capi/prenorm.xf): call(on_layer1) */
static int layer1_calls;
void on_layer1(const xf_event *ev, void *user) {
    (void)ev;
    (void)user;
    layer1_calls++;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: intree INPUT.npy EXPECTED.npy\n");
        return 2;
    }
    xf_error err = {.msg = ""};
    xf_array x = {0}, want = {0};
    if (xf_npy_read(argv[1], &x, &err) || xf_npy_read(argv[2], &want, &err)) {
        fprintf(stderr, "intree: %s\n", err.msg);
        return 1;
    }
    prenorm *m = prenorm_load_embedded(&err);
    if (!m) {
        fprintf(stderr, "intree: %s\n", err.msg);
        return 1;
    }
    int events = 0;
    xf_dispatcher *d = xf_dispatcher_get("");
    xf_listen(d, xf_event_class(XF_ATTENTION_EVENT), count, &events);
    const int N = (int)x.shape[0], L = (int)x.shape[1], D = prenorm_D_MODEL;
    float *y = malloc(sizeof(float) * (size_t)N * L * D);
    int rc = prenorm_forward(m, x.data, N, L, lengths, y, &err);
    if (rc)
        fprintf(stderr, "intree: %s\n", err.msg);
    double max_err = 0;
    for (int n = 0; !rc && n < N; n++)
        for (int t = 0; t < lengths[n]; t++)
            for (int c = 0; c < D; c++) {
                size_t i = ((size_t)n * L + t) * D + c;
                double e = fabs((double)y[i] - want.data[i]);
                if (!(e <= max_err))
                    max_err = e;
            }
    printf("intree: max |y - expected| = %.3g, %d attention events, %d spec listener calls\n",
           max_err, events, layer1_calls);
    xf_clear(d);
    free(y);
    prenorm_free(m);
    xf_array_free(&x);
    xf_array_free(&want);
    return !rc && max_err <= 1e-4 && events == 3 && layer1_calls == 1 ? 0 : 1;
}
