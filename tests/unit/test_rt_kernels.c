/* test_rt_kernels.c — xf_linear, layernorms, pointwise ops against naive
 * double-precision loops. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xf_blas.h"
#include "xf_kernels.h"
#include "harness.h"

static void assert_close(const float *got, const double *want, int64_t n, double tol,
                         const char *what) {
    for (int64_t i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i])),
                  "%s[%lld]: got %.7g, want %.7g", what, (long long)i, got[i], want[i]);
}

/* ---- linear ----------------------------------------------------------- */

static void naive_linear(double *y, const float *x, const float *w, const float *b, int n, int in,
                         int out) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int k = 0; k < in; k++)
                s += (double)x[i * in + k] * w[k * out + o]; /* w is [in, out] */
            y[i * out + o] = s;
        }
}

static void check_linear(int n, int in, int out, int with_bias) {
    float *x = th_rand_buf((int64_t)n * in, 1, 1.0f), *w = th_rand_buf((int64_t)out * in, 2, 1.0f);
    float *b = with_bias ? th_rand_buf(out, 3, 1.0f) : NULL;
    float *y = th_rand_buf((int64_t)n * out, 4, 1.0f); /* garbage: must be overwritten */
    double *ref = malloc((size_t)n * out * sizeof *ref);
    naive_linear(ref, x, w, b, n, in, out);
    xf_linear(y, x, w, b, n, in, out);
    assert_close(y, ref, (int64_t)n * out, 1e-5, with_bias ? "linear+bias" : "linear");
    free(x);
    free(w);
    free(b);
    free(y);
    free(ref);
}

Test(linear, odd_sizes_without_bias) {
    check_linear(7, 13, 5, 0);
    check_linear(1, 1, 1, 0);
    check_linear(33, 65, 17, 0);
}

Test(linear, odd_sizes_with_bias) {
    check_linear(7, 13, 5, 1);
    check_linear(1, 3, 1, 1);
    check_linear(129, 31, 67, 1);
}

Test(linear, model_sized) {
    check_linear(100, 256, 768, 1);
}

/* few rows: the product goes to OpenBLAS in column chunks (its small-matrix
 * kernels), including a last chunk narrower than the others */
Test(linear, few_rows_in_chunks) {
    check_linear(16, 256, 768, 1);
    check_linear(1, 1024, 300, 1);
    check_linear(3, 200, 1000, 0);
}

Test(linear, empty_input_dim_gives_bias) {
    float b[3] = {1, 2, 3}, y[6] = {9, 9, 9, 9, 9, 9};
    xf_linear(y, NULL, NULL, b, 2, 0, 3);
    float want[6] = {1, 2, 3, 1, 2, 3};
    cr_assert(memcmp(y, want, sizeof y) == 0);
}

/* ---- layernorm -------------------------------------------------------- */

static void naive_layernorm(double *y, const float *x, const float *g, const float *b, int n, int d,
                            double eps) {
    for (int i = 0; i < n; i++) {
        double m = 0, v = 0;
        for (int j = 0; j < d; j++)
            m += x[i * d + j];
        m /= d;
        for (int j = 0; j < d; j++)
            v += (x[i * d + j] - m) * (x[i * d + j] - m);
        v /= d; /* biased, as torch */
        for (int j = 0; j < d; j++)
            y[i * d + j] = (x[i * d + j] - m) / sqrt(v + eps) * g[j] + b[j];
    }
}

static void check_layernorm(int n, int d, int alias) {
    float *x = th_rand_buf((int64_t)n * d, 5, 1.0f), *g = th_rand_buf(d, 6, 1.0f),
          *b = th_rand_buf(d, 7, 1.0f);
    for (int i = 0; i < n * d; i++)
        x[i] = x[i] * 3.0f + 10.0f; /* |mean| ≫ std: one-pass variance would cancel */
    double *ref = malloc((size_t)n * d * sizeof *ref);
    naive_layernorm(ref, x, g, b, n, d, 1e-5);
    float *y = alias ? x : th_rand_buf((int64_t)n * d, 8, 1.0f);
    xf_layernorm(y, x, g, b, n, d, 1e-5f);
    assert_close(y, ref, (int64_t)n * d, 2e-5, alias ? "layernorm(in place)" : "layernorm");
    if (!alias)
        free(y);
    free(x);
    free(g);
    free(b);
    free(ref);
}

Test(layernorm, matches_naive) {
    check_layernorm(5, 256, 0);
    check_layernorm(3, 37, 0); /* not a multiple of the vector width */
    check_layernorm(2, 7, 0);
}

Test(layernorm, in_place) {
    check_layernorm(5, 256, 1);
    check_layernorm(3, 37, 1);
}

Test(layernorm, constant_row_is_bias) {
    float x[4] = {2, 2, 2, 2}, g[4] = {1, 1, 1, 1}, b[4] = {0.5f, -1, 0, 3};
    xf_layernorm(x, x, g, b, 1, 4, 1e-5f);
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(x[i], b[i], 1e-6);
}

Test(layernorm, add_layernorm_is_add_then_norm) {
    int n = 4, d = 100;
    float *x = th_rand_buf(n * d, 9, 1.0f), *r = th_rand_buf(n * d, 10, 1.0f);
    float *g = th_rand_buf(d, 11, 1.0f), *b = th_rand_buf(d, 12, 1.0f);
    float *sum = malloc((size_t)n * d * sizeof *sum);
    for (int i = 0; i < n * d; i++)
        sum[i] = x[i] + r[i];
    double *ref = malloc((size_t)n * d * sizeof *ref);
    naive_layernorm(ref, sum, g, b, n, d, 1e-5);
    xf_add_layernorm(x, r, g, b, n, d, 1e-5f);
    assert_close(x, ref, n * d, 2e-5, "add_layernorm");
    free(x);
    free(r);
    free(g);
    free(b);
    free(sum);
    free(ref);
}

/* ---- pointwise -------------------------------------------------------- */

Test(pointwise, add) {
    float *x = th_rand_buf(1001, 13, 1.0f), *r = th_rand_buf(1001, 14, 1.0f);
    double *ref = malloc(1001 * sizeof *ref);
    for (int i = 0; i < 1001; i++)
        ref[i] = (double)x[i] + r[i];
    xf_add(x, r, 1001);
    assert_close(x, ref, 1001, 1e-7, "add");
    free(x);
    free(r);
    free(ref);
}

Test(pointwise, relu) {
    float x[7] = {-2.0f, -0.0f, 0.0f, 1e-30f, 3.5f, -1e-30f, NAN};
    xf_relu(x, 7);
    cr_assert_eq(x[0], 0.0f);
    cr_assert_eq(x[1], 0.0f);
    cr_assert_eq(x[2], 0.0f);
    cr_assert_eq(x[3], 1e-30f);
    cr_assert_eq(x[4], 3.5f);
    cr_assert_eq(x[5], 0.0f);
    cr_assert(isnan(x[6]), "relu(NaN) stays NaN, as torch");
}

Test(pointwise, gelu_known_values) {
    float x[5] = {1.0f, -1.0f, 0.0f, 3.0f, -3.0f};
    xf_gelu(x, 5);
    cr_assert_float_eq(x[0], 0.8413447f, 1e-6);
    cr_assert_float_eq(x[1], -0.1586553f, 1e-6);
    cr_assert_float_eq(x[2], 0.0f, 1e-7);
    cr_assert_float_eq(x[3], 2.9959502f, 1e-6);
    cr_assert_float_eq(x[4], -0.0040497f, 1e-6);
}

Test(pointwise, gelu_matches_erf_everywhere) {
    int n = 4001;
    float *x = malloc(n * sizeof *x);
    double *ref = malloc(n * sizeof *ref);
    for (int i = 0; i < n; i++) {
        x[i] = -20.0f + 40.0f * i / (n - 1);
        ref[i] = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
    }
    xf_gelu(x, n);
    for (int i = 0; i < n; i++)
        cr_assert(fabs(x[i] - ref[i]) <= 1e-6 * (1.0 + fabs(ref[i])),
                  "gelu[%d]: got %.8g, want %.8g", i, x[i], ref[i]);
    free(x);
    free(ref);
}

/* ---- threads / BLAS core selection --------------------------------------- */

Test(threads, set_threads_reaches_the_blas_backend) {
    xf_set_threads(2);
    cr_assert_eq(xf_blas_threads(), 2);
    xf_set_threads(0); /* nonsense means 1 */
    cr_assert_eq(xf_blas_threads(), 1);
}

static void *blas_threads_elsewhere(void *out) {
    *(int *)out = xf_blas_threads();
    return NULL;
}

/* OpenMP keeps the thread count per thread: a forward run from another
 * thread must see xf_set_threads all the same. */
Test(threads, set_threads_holds_on_other_threads) {
    xf_set_threads(2);
    int seen = 0;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, blas_threads_elsewhere, &seen), 0);
    pthread_join(th, NULL);
    cr_assert_eq(seen, 2);
    xf_set_threads(1);
}

/* Threads of this process right now (/proc/self/task). */
static int count_threads(void) {
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

typedef struct {
    _Atomic int threads; /* most threads seen by a task */
    _Atomic int worker;  /* highest worker index seen */
} census;

/* A task of the runtime's loop that also runs a product, as attention does. */
static void census_task(void *ctx, int task, int worker) {
    census *c = ctx;
    float a[64 * 64], b[64 * 64], y[64 * 64];
    for (int i = 0; i < 64 * 64; i++)
        a[i] = b[i] = (float)((i + task) % 7) - 3.0f;
    xf_gemm(XF_NOTRANS, XF_TRANS, 64, 64, 64, 0.5f, a, 64, b, 64, 0.0f, y, 64);
    int n = count_threads();
    for (int seen = atomic_load(&c->threads); n > seen;)
        atomic_compare_exchange_weak(&c->threads, &seen, n);
    for (int seen = atomic_load(&c->worker); worker > seen;)
        atomic_compare_exchange_weak(&c->worker, &seen, worker);
}

/* On oneDNN, its products and the runtime's loops share one pool: with 2
 * threads, the process gains exactly one thread, whatever runs. */
Test(threads, one_pool_for_products_and_loops) {
    if (strcmp(xf_blas_name(), "onednn") != 0)
        cr_skip_test("OpenBLAS keeps a pool of its own");
    int before = count_threads();
    xf_set_threads(2);
    int n = 512, in = 256, out = 1024;
    float *x = th_rand_buf((int64_t)n * in, 1, 1.0f), *w = th_rand_buf((int64_t)in * out, 2, 1.0f);
    float *y = malloc(sizeof(float) * n * out);
    xf_linear(y, x, w, NULL, n, in, out); /* big enough for oneDNN to use both threads */
    census c = {0, 0};
    xf_parallel_for(16, census_task, &c);
    xf_linear(y, x, w, NULL, n, in, out);
    cr_assert_eq(atomic_load(&c.threads), before + 1, "%d threads during the loop, %d before",
                 atomic_load(&c.threads), before);
    cr_assert_leq(atomic_load(&c.worker), 1);
    cr_assert_eq(count_threads(), before + 1);
    free(x);
    free(w);
    free(y);
    xf_set_threads(1);
}

/* The re-exec'd process of the test below: before Criterion starts, report
 * what OpenBLAS would see and leave. */
__attribute__((constructor)) static void reexec_probe(void) {
    const char *out = getenv("XF_TEST_REEXEC_OUT");
    if (!out)
        return;
    FILE *f = fopen(out, "w");
    if (f) {
        const char *ct = getenv("OPENBLAS_CORETYPE");
        fprintf(f, "%s", ct ? ct : "(unset)");
        fclose(f);
    }
    _exit(0);
}

/* Runs xf_prefer_avx512_blas in a child; returns what the probe saw, or ""
 * when the call returned instead of exec'ing. */
static void run_prefer(const char *coretype, const char *marker, char *seen, size_t cap) {
    char out[] = "/tmp/xf_reexec.XXXXXX";
    int fd = mkstemp(out);
    cr_assert_geq(fd, 0);
    close(fd);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (coretype)
            setenv("OPENBLAS_CORETYPE", coretype, 1);
        else
            unsetenv("OPENBLAS_CORETYPE");
        if (marker)
            setenv("XF_AVX512_REEXEC", marker, 1);
        else
            unsetenv("XF_AVX512_REEXEC");
        setenv("XF_TEST_REEXEC_OUT", out, 1);
        char *argv[] = {"test_rt_kernels", NULL};
        xf_prefer_avx512_blas(argv);
        _exit(42); /* returned: no re-exec */
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st));
    seen[0] = 0;
    if (WEXITSTATUS(st) == 0) {
        FILE *f = fopen(out, "r");
        cr_assert_not_null(f);
        if (!fgets(seen, (int)cap, f))
            seen[0] = 0;
        fclose(f);
    } else {
        cr_assert_eq(WEXITSTATUS(st), 42);
    }
    unlink(out);
}

Test(threads, prefer_avx512_reexecs_only_when_useful) {
    char seen[64];
    __builtin_cpu_init();
    run_prefer(NULL, NULL, seen, sizeof seen);
    if (__builtin_cpu_supports("avx512f") && strcmp(xf_blas_name(), "openblas") == 0)
        cr_assert_str_eq(seen, "SkylakeX", "re-exec'd process saw OPENBLAS_CORETYPE=%s", seen);
    else
        cr_assert_str_eq(seen, "", "no AVX-512 or no OpenBLAS: must not re-exec");
    run_prefer("Haswell", NULL, seen, sizeof seen);
    cr_assert_str_eq(seen, "", "the user's OPENBLAS_CORETYPE wins");
    run_prefer(NULL, "1", seen, sizeof seen);
    cr_assert_str_eq(seen, "", "already re-exec'd once: never loop");
}
