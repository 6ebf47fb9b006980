/* gen_events.c — the call() handler of the generation golden tests: saves each
 * AttentionEvent as SOURCE.step<k>.npy (k = xf_event.step; -1 for a forward)
 * under the current directory, so every step of a generation is kept. */
#include <stdio.h>
#include <stdlib.h>
#include "xf_io.h"

void save_step_attention(const xf_event *ev, void *user) {
    (void)user;
    char path[512];
    snprintf(path, sizeof path, "%s.step%d.npy", ev->source, ev->step);
    xf_error err = {.msg = ""};
    const xf_tensor *t = ev->attention_matrix;
    if (xf_npy_write(path, t->data, t->rank, t->shape, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}
