/* The generation C API of token models (SPEC §8), as a user calls it:
 * gen_lm_full (KV cache) and lm_long (causal_linear, the weights of
 * gen_lm_linear_eos with max_positions 8192), release builds. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <pthread.h>
#include <string.h>
#include "gen_lm_full.h"
#include "lm_long.h"
#include "xf_io.h"

#define FULL XF_FIXTURES "/gen_lm_full"
#define LONG XF_FIXTURES "/gen_lm_linear_eos"

Test(generate, greedy_equals_pytorch) {
    xf_error err = {""};
    xf_ids prompt = {0}, want = {0};
    cr_assert_eq(xf_npy_read_ids(FULL "/prompt.npy", &prompt, &err), 0, "%s", err.msg);
    cr_assert_eq(xf_npy_read_ids(FULL "/generated.npy", &want, &err), 0, "%s", err.msg);
    gen_lm_full *m = gen_lm_full_load(FULL "/weights.safetensors", &err);
    cr_assert_not_null(m, "%s", err.msg);
    const int K = want.cols - prompt.cols;
    int32_t *out = malloc(sizeof(int32_t) * (size_t)want.rows * want.cols);
    cr_assert_eq(gen_lm_full_generate(m, prompt.data, prompt.rows, prompt.cols, K, NULL, out, &err),
                 0, "%s", err.msg);
    cr_expect_arr_eq(out, want.data, sizeof(int32_t) * (size_t)want.rows * want.cols);
    free(out);
    gen_lm_full_free(m);
    xf_ids_free(&prompt);
    xf_ids_free(&want);
}

/* ---- several states stepping concurrently on one model ------------------- */

enum { THREADS = 4, STEPS = 40 };

typedef struct {
    gen_lm_full *m;
    int32_t first; /* the prompt: first, first + 1, first + 2 */
    int32_t out[3 + STEPS];
    int rc;
} job;

static void *generate_one(void *arg) {
    job *j = arg;
    xf_error err = {""};
    const int32_t prompt[3] = {j->first, j->first + 1, j->first + 2};
    gen_lm_full_state *s = gen_lm_full_state_new(j->m, 1, 3 + STEPS, &err);
    j->rc =
        s ? gen_lm_full_state_generate(j->m, s, prompt, 3, STEPS, NULL, j->out, NULL, &err) : -1;
    gen_lm_full_state_free(s);
    return NULL;
}

Test(generate, concurrent_states_equal_serial) {
    xf_error err = {""};
    gen_lm_full *m = gen_lm_full_load(FULL "/weights.safetensors", &err);
    cr_assert_not_null(m, "%s", err.msg);
    job serial[THREADS], par[THREADS];
    for (int t = 0; t < THREADS; t++) {
        serial[t] = (job){.m = m, .first = (int32_t)(5 * t)};
        par[t] = serial[t];
        generate_one(&serial[t]);
        cr_assert_eq(serial[t].rc, 0);
    }
    pthread_t th[THREADS];
    for (int round = 0; round < 5; round++) {
        for (int t = 0; t < THREADS; t++)
            pthread_create(&th[t], NULL, generate_one, &par[t]);
        for (int t = 0; t < THREADS; t++) {
            pthread_join(th[t], NULL);
            cr_assert_eq(par[t].rc, 0);
            cr_expect_arr_eq(par[t].out, serial[t].out, sizeof par[t].out, "thread %d, round %d", t,
                             round);
        }
    }
    gen_lm_full_free(m);
}

/* ---- memory --------------------------------------------------------------- */

Test(generate, causal_linear_state_does_not_grow) {
    xf_error err = {""};
    lm_long *m = lm_long_load(LONG "/weights.safetensors", &err);
    cr_assert_not_null(m, "%s", err.msg);
    lm_long_state *s = lm_long_state_new(m, 1, 4097, &err);
    cr_assert_not_null(s, "%s", err.msg);
    float logits[lm_long_VOCAB];
    int32_t id = 3;
    cr_assert_eq(lm_long_prefill(m, s, &id, 1, logits, &err), 0, "%s", err.msg);
    cr_assert_eq(lm_long_step(m, s, &id, logits, &err), 0, "%s", err.msg);
    /* the runtime's thread pool and scratch settle in the first steps; then
     * nothing may grow (a KV cache would grow by 4096 rows per layer) */
    for (int k = 1; k < 64; k++)
        cr_assert_eq(lm_long_step(m, s, &id, logits, &err), 0, "%s", err.msg);
    size_t after_one = mallinfo2().uordblks;
    for (int k = 64; k < 4096; k++) {
        id = (int32_t)(k % lm_long_VOCAB);
        cr_assert_eq(lm_long_step(m, s, &id, logits, &err), 0, "step %d: %s", k, err.msg);
    }
    cr_expect_eq(mallinfo2().uordblks, after_one, "the state grew over 4096 steps");
    /* and it is full now: one more position is refused, clearly */
    cr_expect_eq(lm_long_step(m, s, &id, logits, &err), -1);
    cr_expect(strstr(err.msg, "4097") != NULL, "%s", err.msg);
    lm_long_state_free(s);
    lm_long_free(m);
}

Test(generate, full_attention_state_refuses_past_max_len) {
    xf_error err = {""};
    gen_lm_full *m = gen_lm_full_load(FULL "/weights.safetensors", &err);
    cr_assert_not_null(m, "%s", err.msg);
    gen_lm_full_state *s = gen_lm_full_state_new(m, 2, 5, &err);
    cr_assert_not_null(s, "%s", err.msg);
    const int32_t prompt[6] = {1, 2, 3, 4, 5, 6}, next[2] = {7, 8};
    float logits[2 * gen_lm_full_VOCAB];
    cr_assert_eq(gen_lm_full_prefill(m, s, prompt, 3, logits, &err), 0, "%s", err.msg);
    cr_assert_eq(gen_lm_full_step(m, s, next, logits, &err), 0, "%s", err.msg);
    cr_assert_eq(gen_lm_full_step(m, s, next, logits, &err), 0, "%s", err.msg);
    cr_expect_eq(gen_lm_full_step(m, s, next, logits, &err), -1);
    cr_expect(strstr(err.msg, "holds 5 positions") != NULL, "%s", err.msg);
    /* a second prefill, an id out of range, a state past max_positions */
    cr_expect_eq(gen_lm_full_prefill(m, s, prompt, 3, logits, &err), -1);
    gen_lm_full_state_free(s);
    s = gen_lm_full_state_new(m, 1, 4, &err);
    const int32_t bad[1] = {gen_lm_full_VOCAB};
    cr_expect_eq(gen_lm_full_prefill(m, s, bad, 1, logits, &err), -1);
    cr_expect(strstr(err.msg, "out of range") != NULL, "%s", err.msg);
    gen_lm_full_state_free(s);
    cr_expect_null(gen_lm_full_state_new(m, 1, gen_lm_full_MAX_POSITIONS + 1, &err));
    cr_expect(strstr(err.msg, "max_positions") != NULL, "%s", err.msg);
    gen_lm_full_free(m);
}

/* A step is the forward's last row: prefill + steps = forward over the sequence. */
Test(generate, steps_equal_the_forward) {
    xf_error err = {""};
    gen_lm_full *m = gen_lm_full_load(FULL "/weights.safetensors", &err);
    cr_assert_not_null(m, "%s", err.msg);
    const int32_t seq[8] = {3, 9, 27, 1, 4, 16, 25, 36};
    float full[8 * gen_lm_full_VOCAB], step[gen_lm_full_VOCAB];
    cr_assert_eq(gen_lm_full_forward(m, seq, 1, 8, NULL, full, &err), 0, "%s", err.msg);
    gen_lm_full_state *s = gen_lm_full_state_new(m, 1, 8, &err);
    cr_assert_eq(gen_lm_full_prefill(m, s, seq, 3, step, &err), 0, "%s", err.msg);
    for (int t = 3; t <= 8; t++) {
        for (int v = 0; v < gen_lm_full_VOCAB; v++)
            cr_expect_float_eq(step[v], full[(t - 1) * gen_lm_full_VOCAB + v], 1e-4, "position %d",
                               t - 1);
        if (t < 8)
            cr_assert_eq(gen_lm_full_step(m, s, &seq[t], step, &err), 0, "%s", err.msg);
    }
    gen_lm_full_state_free(s);
    gen_lm_full_free(m);
}
