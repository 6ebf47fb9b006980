/* test_rt_linear.c — the products of linear layers as generated code runs
 * them: weights from a safetensors file through xf_weights_get_t (packed at
 * load by the oneDNN backend), fused activations, the feed-forward block,
 * many call shapes (past the primitive cache), concurrent callers.  Every
 * result is checked against a double-precision loop over torch's layout. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xf_blas.h"
#include "xf_io.h"
#include "xf_kernels.h"
#include "harness.h"

/* A safetensors file in memory holding one F32 tensor "w" of [rows, cols]. */
typedef struct {
    unsigned char *bytes; /* the whole file */
    size_t len;
    xf_weights *file; /* opened over bytes */
} one_tensor;

static one_tensor open_tensor(const float *w, int rows, int cols) {
    char header[200];
    size_t dlen = (size_t)rows * cols * sizeof(float);
    int hl = snprintf(header, sizeof header,
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]}}",
                      rows, cols, dlen);
    while (hl % 8) /* keep the data 4-byte aligned: used in place */
        header[hl++] = ' ';
    one_tensor t = {malloc(8 + (size_t)hl + dlen), 8 + (size_t)hl + dlen, NULL};
    for (int i = 0; i < 8; i++)
        t.bytes[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(t.bytes + 8, header, (size_t)hl);
    memcpy(t.bytes + 8 + hl, w, dlen);
    xf_error err = {{0}};
    t.file = xf_weights_from_memory(t.bytes, t.len, "mem.safetensors", &err);
    cr_assert_not_null(t.file, "%s", err.msg);
    return t;
}

static void close_tensor(one_tensor *t) {
    xf_weights_close(t->file);
    free(t->bytes);
}

/* y[n, out] = act(x · wᵀ + b) with w torch's [rows, in] weight, rows [row0, row0 + out) */
static double act_ref(double v, xf_activation act) {
    if (act == XF_RELU)
        return v < 0 ? 0 : v;
    if (act == XF_GELU)
        return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    return v;
}

static void expect_linear(const float *y, const float *x, const float *w, const float *b, int n,
                          int in, int out, int row0, xf_activation act) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int k = 0; k < in; k++)
                s += (double)x[i * in + k] * w[(int64_t)(row0 + o) * in + k];
            double want = act_ref(s, act);
            double got = y[(int64_t)i * out + o];
            /* float sums of `in` terms: error grows like sqrt(in) */
            cr_assert(fabs(got - want) <= 4e-6 * sqrt(in) * (1.0 + fabs(want)),
                      "[%d,%d] of %dx%dx%d: got %.7g, want %.7g", i, o, n, in, out, got, want);
        }
}

/* One weight loaded the way generated code does, run at several row counts
 * (a generation step is 1 row, a forward many), with and without bias. */
static void check_loaded(int in, int out) {
    float *w = th_rand_buf((int64_t)out * in, 7, 1.0f), *b = th_rand_buf(out, 8, 1.0f);
    one_tensor t = open_tensor(w, out, in);
    xf_error err = {{0}};
    const float *wt = xf_weights_get_t(t.file, "w", out, in, 0, out, &err);
    cr_assert_not_null(wt, "%s", err.msg);
    static const int rows[] = {1, 2, 16, 100, 517};
    for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
        int n = rows[r];
        float *x = th_rand_buf((int64_t)n * in, 9 + (unsigned)r, 1.0f),
              *y = th_rand_buf((int64_t)n * out, 3, 1.0f);
        xf_linear(y, x, wt, b, n, in, out);
        expect_linear(y, x, w, b, n, in, out, 0, XF_NO_ACTIVATION);
        xf_linear(y, x, wt, NULL, n, in, out);
        expect_linear(y, x, w, NULL, n, in, out, 0, XF_NO_ACTIVATION);
        free(x);
        free(y);
    }
    close_tensor(&t);
    free(w);
    free(b);
}

Test(linear, loaded_weights_model_shapes) {
    check_loaded(256, 768);
    check_loaded(1024, 256);
}

Test(linear, loaded_weights_odd_shapes) {
    check_loaded(13, 5);  /* smaller than one block of the packed layout */
    check_loaded(65, 97); /* partial blocks both ways */
}

/* torch's packed in_proj: three row ranges of one tensor, each its own weight */
Test(linear, in_proj_slices) {
    int d = 64, n = 10;
    float *w = th_rand_buf(3 * d * d, 11, 1.0f), *x = th_rand_buf(n * d, 12, 1.0f),
          *y = malloc(sizeof(float) * n * d);
    one_tensor t = open_tensor(w, 3 * d, d);
    xf_error err = {{0}};
    for (int j = 0; j < 3; j++) {
        const float *wt = xf_weights_get_t(t.file, "w", 3 * d, d, j * d, d, &err);
        cr_assert_not_null(wt, "%s", err.msg);
        xf_linear(y, x, wt, NULL, n, d, d);
        expect_linear(y, x, w, NULL, n, d, d, j * d, XF_NO_ACTIVATION);
    }
    close_tensor(&t);
    free(w);
    free(x);
    free(y);
}

/* The same slices from a file on disk, as a model loads them: the rows are
 * read with pread (not through the mapping), the first tensor placed so that
 * its data is not even 4-byte aligned in the file, and the file unlinked
 * before the first read (the open descriptor still reads it). */
Test(linear, in_proj_slices_from_a_file) {
    int d = 64, n = 10;
    float *w = th_rand_buf(3 * d * d, 13, 1.0f), *x = th_rand_buf(n * d, 14, 1.0f),
          *y = malloc(sizeof(float) * n * d);
    char header[256], path[] = "/tmp/xf_test_linear.XXXXXX";
    size_t dlen = (size_t)3 * d * d * sizeof(float);
    int hl = snprintf(header, sizeof header,
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]}}",
                      3 * d, d, dlen);
    while ((8 + hl) % 4 != 1)
        header[hl++] = ' ';
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    FILE *f = fdopen(fd, "wb");
    cr_assert(fwrite(len8, 1, 8, f) == 8 && fwrite(header, 1, (size_t)hl, f) == (size_t)hl &&
              fwrite(w, 1, dlen, f) == dlen);
    fclose(f);
    xf_error err = {{0}};
    xf_weights *file = xf_weights_open(path, &err);
    cr_assert_not_null(file, "%s", err.msg);
    unlink(path);
    for (int j = 2; j >= 0; j--) {
        const float *wt = xf_weights_get_t(file, "w", 3 * d, d, j * d, d, &err);
        cr_assert_not_null(wt, "%s", err.msg);
        xf_linear(y, x, wt, NULL, n, d, d);
        expect_linear(y, x, w, NULL, n, d, d, j * d, XF_NO_ACTIVATION);
    }
    cr_assert_eq(xf_weights_check_all_used(file, &err), 0, "%s", err.msg);
    xf_weights_close(file);
    free(w);
    free(x);
    free(y);
}

/* The activation fused into the product equals the product, then the kernel. */
Test(linear, fused_activations) {
    int n = 20, in = 48, out = 80;
    float *w = th_rand_buf(out * in, 21, 1.0f), *b = th_rand_buf(out, 22, 1.0f),
          *x = th_rand_buf(n * in, 23, 1.0f);
    float *y = malloc(sizeof(float) * n * out);
    one_tensor t = open_tensor(w, out, in);
    xf_error err = {{0}};
    const float *wt = xf_weights_get_t(t.file, "w", out, in, 0, out, &err);
    cr_assert_not_null(wt, "%s", err.msg);
    xf_linear_act(y, x, wt, b, n, in, out, XF_RELU);
    expect_linear(y, x, w, b, n, in, out, 0, XF_RELU);
    xf_linear_act(y, x, wt, b, n, in, out, XF_GELU);
    expect_linear(y, x, w, b, n, in, out, 0, XF_GELU);
    close_tensor(&t);
    free(w);
    free(b);
    free(x);
    free(y);
}

/* The feed-forward block over more rows than one chunk (XF_FF_ROWS). */
Test(linear, feed_forward_chunks) {
    int n = XF_FF_ROWS + 37, d = 32, f = 64;
    float *w1 = th_rand_buf(f * d, 31, 1.0f), *b1 = th_rand_buf(f, 32, 1.0f),
          *w2 = th_rand_buf(d * f, 33, 1.0f), *b2 = th_rand_buf(d, 34, 1.0f),
          *x = th_rand_buf((int64_t)n * d, 35, 1.0f);
    float *h = malloc(sizeof(float) * XF_FF_ROWS * f), *y = malloc(sizeof(float) * n * d);
    float *hid = malloc(sizeof(float) * n * f);
    one_tensor t1 = open_tensor(w1, f, d), t2 = open_tensor(w2, d, f);
    xf_error err = {{0}};
    const float *w1t = xf_weights_get_t(t1.file, "w", f, d, 0, f, &err);
    const float *w2t = xf_weights_get_t(t2.file, "w", d, f, 0, d, &err);
    cr_assert(w1t && w2t, "%s", err.msg);
    xf_feed_forward(y, x, w1t, b1, w2t, b2, h, n, d, f, XF_GELU);
    for (int i = 0; i < n; i++) /* the hidden layer in double, rounded as the kernel stores it */
        for (int o = 0; o < f; o++) {
            double s = b1[o];
            for (int k = 0; k < d; k++)
                s += (double)x[i * d + k] * w1[o * d + k];
            hid[i * f + o] = (float)act_ref(s, XF_GELU);
        }
    expect_linear(y, hid, w2, b2, n, f, d, 0, XF_NO_ACTIVATION);
    close_tensor(&t1);
    close_tensor(&t2);
    free(w1);
    free(b1);
    free(w2);
    free(b2);
    free(x);
    free(h);
    free(y);
    free(hid);
}

/* More distinct row counts than the primitive cache holds, then the first
 * again: evicted primitives are rebuilt, results unchanged. */
Test(linear, more_shapes_than_the_cache) {
    int in = 24, out = 40;
    float *w = th_rand_buf(out * in, 41, 1.0f), *b = th_rand_buf(out, 42, 1.0f),
          *x = th_rand_buf(200 * in, 43, 1.0f);
    float *y = malloc(sizeof(float) * 200 * out);
    one_tensor t = open_tensor(w, out, in);
    xf_error err = {{0}};
    const float *wt = xf_weights_get_t(t.file, "w", out, in, 0, out, &err);
    cr_assert_not_null(wt, "%s", err.msg);
    for (int n = 1; n <= 150; n++) {
        xf_linear(y, x, wt, b, n, in, out);
        expect_linear(y, x, w, b, n, in, out, 0, XF_NO_ACTIVATION);
    }
    xf_linear(y, x, wt, b, 1, in, out);
    expect_linear(y, x, w, b, 1, in, out, 0, XF_NO_ACTIVATION);
    close_tensor(&t);
    free(w);
    free(b);
    free(x);
    free(y);
}

/* Two threads multiplying by the same packed weight at once (concurrent
 * forwards of one model), each with its own rows. */
typedef struct {
    const float *wt, *w, *b; /* packed panel, torch weight [out, in], bias */
    int n, in, out;
    unsigned seed;
} job;

static void *run_job(void *arg) {
    const job *j = arg;
    float *x = th_rand_buf((int64_t)j->n * j->in, j->seed, 1.0f),
          *y = malloc(sizeof(float) * j->n * j->out);
    for (int rep = 0; rep < 20; rep++)
        xf_linear(y, x, j->wt, j->b, j->n, j->in, j->out);
    expect_linear(y, x, j->w, j->b, j->n, j->in, j->out, 0, XF_NO_ACTIVATION);
    free(x);
    free(y);
    return NULL;
}

Test(linear, concurrent_callers) {
    int in = 64, out = 96;
    float *w = th_rand_buf(out * in, 51, 1.0f), *b = th_rand_buf(out, 52, 1.0f);
    one_tensor t = open_tensor(w, out, in);
    xf_error err = {{0}};
    const float *wt = xf_weights_get_t(t.file, "w", out, in, 0, out, &err);
    cr_assert_not_null(wt, "%s", err.msg);
    job jobs[2] = {{wt, w, b, 16, in, out, 53}, {wt, w, b, 7, in, out, 54}};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_job, &jobs[1]), 0);
    run_job(&jobs[0]);
    pthread_join(th, NULL);
    close_tensor(&t);
    free(w);
    free(b);
}

/* After a file is closed its panels' packed copies are gone: a new array at
 * the same address is read as itself, not as the old weights. */
Test(linear, closed_weights_are_forgotten) {
    int in = 32, out = 32, n = 4;
    float *w = th_rand_buf(out * in, 61, 1.0f), *x = th_rand_buf(n * in, 62, 1.0f),
          *y = malloc(sizeof(float) * n * out);
    for (int round = 0; round < 3; round++) {
        one_tensor t = open_tensor(w, out, in);
        xf_error err = {{0}};
        const float *wt = xf_weights_get_t(t.file, "w", out, in, 0, out, &err);
        cr_assert_not_null(wt, "%s", err.msg);
        xf_linear(y, x, wt, NULL, n, in, out);
        expect_linear(y, x, w, NULL, n, in, out, 0, XF_NO_ACTIVATION);
        close_tensor(&t);
        float *plain = malloc(sizeof(float) * in * out); /* likely the freed panel's address */
        for (int k = 0; k < in * out; k++)
            plain[k] = 0.5f;
        xf_linear(y, x, plain, NULL, n, in, out);
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int k = 0; k < in; k++)
                s += 0.5 * x[i * in + k];
            cr_assert(fabs(y[i * out] - s) <= 1e-5 * (1 + fabs(s)), "got %g want %g", y[i * out],
                      s);
        }
        free(plain);
    }
    free(w);
    free(x);
    free(y);
}

/* ---- xf_gemm: attention's products, every layout it is called with -------- */

typedef void (*gemm_fn)(xf_trans, xf_trans, int, int, int, float, const float *, int, const float *,
                        int, float, float *, int);

/* c[m,n] = alpha·op(a)·op(b) + beta·c by `gemm`, checked in double over the same
 * strided operands */
static void check_product(gemm_fn gemm, xf_trans ta, xf_trans tb, int m, int n, int k, float alpha,
                          float beta, int pad) {
    int lda = (ta == XF_TRANS ? m : k) + pad, ldb = (tb == XF_TRANS ? k : n) + pad, ldc = n + pad;
    int arows = ta == XF_TRANS ? k : m, brows = tb == XF_TRANS ? n : k;
    float *a = th_rand_buf((int64_t)arows * lda, 71, 1.0f),
          *b = th_rand_buf((int64_t)brows * ldb, 72, 1.0f);
    float *c = th_rand_buf((int64_t)m * ldc, 73, 1.0f), *c0 = malloc(sizeof(float) * m * ldc);
    memcpy(c0, c, sizeof(float) * m * ldc);
    gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int l = 0; l < k; l++)
                s += (double)(ta == XF_TRANS ? a[l * lda + i] : a[i * lda + l]) *
                     (tb == XF_TRANS ? b[j * ldb + l] : b[l * ldb + j]);
            double want = alpha * s + beta * c0[i * ldc + j];
            cr_assert(fabs(c[i * ldc + j] - want) <= 4e-6 * sqrt(k + 1) * (1 + fabs(want)),
                      "ta %d tb %d %dx%dx%d beta %g [%d,%d]: got %g want %g", ta, tb, m, n, k, beta,
                      i, j, c[i * ldc + j], want);
        }
        for (int j = n; j < ldc; j++) /* padding between rows is left alone */
            cr_assert_eq(c[i * ldc + j], c0[i * ldc + j]);
    }
    free(a);
    free(b);
    free(c);
    free(c0);
}

static void check_gemm(xf_trans ta, xf_trans tb, int m, int n, int k, float alpha, float beta,
                       int pad) {
    check_product(xf_gemm, ta, tb, m, n, k, alpha, beta, pad);
}

Test(gemm, every_layout_and_beta) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_gemm(ta, tb, 33, 47, 64, 0.125f, 0.0f, 5);
            check_gemm(ta, tb, 7, 100, 19, 1.0f, 1.0f, 0);
        }
}

/* Short sequences' heads (m·n·k up to 32·32·64 on oneDNN: in place in
 * gemm_small.c) and the next size up (strided operands on a primitive),
 * scaled, accumulated and with padded rows, as attention calls them. */
Test(gemm, both_sides_of_the_small_product_bound) {
    static const int shapes[][3] = {{16, 16, 64}, {16, 64, 16}, {32, 32, 64}, {32, 33, 64}};
    for (int s = 0; s < 4; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                check_gemm(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 0.125f, 0.0f, 3);
                check_gemm(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 1.0f, 2);
                check_gemm(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 0.5f, 0.25f, 0);
            }
}

/* oneDNN holds XF_FIXED_SHAPES fixed-shape primitives per process (this test's
 * own: Criterion runs each test in a fresh process), OpenBLAS none. */
static int fixed_bound(void) {
    return strcmp(xf_blas_name(), "onednn") == 0 ? XF_FIXED_SHAPES : 0;
}

/* More distinct small shapes than the fixed-shape table holds (k = 256: B too
 * large for gemm_small.c's stack block, so each takes the table's path): the
 * first XF_FIXED_SHAPES fill it (transposed, strided, scaled, accumulated:
 * copied dense, written back), the later ones run on the run-time-shape path,
 * and a shape admitted before still runs on its primitive — every one correct. */
Test(gemm, many_small_shapes) {
    const int shapes = XF_FIXED_SHAPES + 8;
    for (int s = 0; s < shapes; s++) {
        int m = 1 + s % 5, n = 17 + (s * 7) % 29;
        check_gemm((xf_trans)(s % 2), (xf_trans)(s / 2 % 2), m, n, 256, s % 3 ? 0.125f : 1.0f,
                   s % 5 == 0 ? 1.0f : 0.0f, s % 4);
        int held = s + 1 < fixed_bound() ? s + 1 : fixed_bound();
        cr_assert_eq(xf_blas_fixed_shapes(), held, "after %d shapes", s + 1);
    }
    check_gemm(XF_NOTRANS, XF_NOTRANS, 1, 17, 256, 1.0f, 1.0f, 0); /* the first shape, again */
    check_gemm(XF_NOTRANS, XF_NOTRANS, 1, 17, 256, 1.0f, 1.0f, 3);
    cr_assert_eq(xf_blas_fixed_shapes(), fixed_bound());
}

/* xf_gemm_tile shares the table: its tiles (any alpha, beta 0 or 1, strided
 * or not) take a place while there is one, and past the bound — the table
 * filled by small products — run as xf_gemm, still correct. */
Test(gemm, tiles_share_the_fixed_shape_bound) {
    check_product(xf_gemm_tile, XF_NOTRANS, XF_TRANS, 128, 512, 64, 1.0f, 0.0f, 0);
    check_product(xf_gemm_tile, XF_NOTRANS, XF_NOTRANS, 128, 64, 512, 1.0f, 1.0f, 0);
    check_product(xf_gemm_tile, XF_NOTRANS, XF_TRANS, 40, 70, 24, 0.25f, 1.0f, 3);
    check_product(xf_gemm_tile, XF_TRANS, XF_NOTRANS, 40, 70, 24, 0.5f, 0.75f, 1); /* as xf_gemm */
    cr_assert_eq(xf_blas_fixed_shapes(), fixed_bound() ? 3 : 0);
    for (int s = 0; xf_blas_fixed_shapes() < fixed_bound(); s++)
        check_gemm(XF_NOTRANS, XF_TRANS, 1 + s % 5, 17 + s, 256, 1.0f, 0.0f, 0);
    check_product(xf_gemm_tile, XF_NOTRANS, XF_TRANS, 128, 256, 64, 1.0f, 0.0f, 0); /* past it */
    check_product(xf_gemm_tile, XF_NOTRANS, XF_NOTRANS, 128, 64, 256, 1.0f, 1.0f, 2);
    check_product(xf_gemm_tile, XF_NOTRANS, XF_TRANS, 128, 512, 64, 1.0f, 0.0f, 0); /* held */
    cr_assert_eq(xf_blas_fixed_shapes(), fixed_bound());
}

Test(gemm, vector_and_empty_shapes) {
    check_gemm(XF_NOTRANS, XF_TRANS, 40, 1, 64, 1.0f, 0.0f, 0); /* a matrix-vector product */
    check_gemm(XF_NOTRANS, XF_NOTRANS, 1, 30, 8, 1.0f, 1.0f, 3);
    check_gemm(XF_NOTRANS, XF_NOTRANS, 5, 6, 0, 1.0f, 0.0f, 0); /* k = 0: c = beta·c */
    check_gemm(XF_NOTRANS, XF_NOTRANS, 5, 6, 0, 1.0f, 1.0f, 0);
}
