/* on_attention.c — the user handler of the "instrumentation" benchmark case
 * (bench/specs/gs_attn.xf: `listen AttentionEvent -> call(on_attention)`).
 *
 * Touches every element of the attention matrix (sums it), so the matrix has
 * to exist, and at exit prints to stderr
 *   on_attention: calls=K sum=S expected=E
 * where E = Σ N·H·L over the events (each softmax row sums to 1): bench/bench.py
 * checks K = n_layers × (runs + 1) and S ≈ E, so a skipped or garbage matrix
 * shows up.  Linked with `xfc build bench/specs/gs_attn.xf --link bench/on_attention.c`.
 */
#include <stdio.h>
#include "xfrt.h"

void on_attention(const xf_event *ev, void *user);

static long long n_calls;
static double total, expected;

void on_attention(const xf_event *ev, void *user) {
    (void)user;
    const xf_tensor *a = ev->attention_matrix;
    if (!a)
        return;
    int64_t n = 1;
    for (int i = 0; i < a->rank; i++)
        n *= a->shape[i];
    double s = 0.0; /* a plain loop over the whole [N,H,L,S] matrix */
    for (int64_t i = 0; i < n; i++)
        s += a->data[i];
    total += s;
    expected += (double)(a->rank == 4 ? a->shape[0] * a->shape[1] * a->shape[2] : 0);
    n_calls++;
}

__attribute__((destructor)) static void on_attention_report(void) {
    fprintf(stderr, "on_attention: calls=%lld sum=%.6g expected=%.6g\n", n_calls, total, expected);
}
