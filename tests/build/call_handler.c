/* User handlers for call(symbol) (tests/build/call_handler.sh): each prints
 * what it saw, so the test can check sources, shapes and the call counter. */
#include <stdio.h>
#include "xfrt.h"

void on_attention(const xf_event *ev, void *user) {
    const xf_tensor *a = ev->attention_matrix;
    double sum = 0;
    int64_t n = a->shape[0] * a->shape[1] * a->shape[2] * a->shape[3];
    for (int64_t i = 0; i < n; i++)
        sum += a->data[i];
    /* every row of a softmax sums to 1: the total is N·H·L */
    printf("attention %s layer=%d call=%lld shape=[%lld,%lld,%lld,%lld] rows=%.3f user=%s\n",
           ev->source, ev->layer, (long long)ev->call, (long long)a->shape[0],
           (long long)a->shape[1], (long long)a->shape[2], (long long)a->shape[3], sum,
           user ? "set" : "null");
}

void on_output(const xf_event *ev, void *user) {
    (void)user;
    printf("output %s layer=%d shape=[%lld,%lld,%lld]\n", ev->source[0] ? ev->source : "\"\"",
           ev->layer, (long long)ev->x->shape[0], (long long)ev->x->shape[1],
           (long long)ev->x->shape[2]);
}
