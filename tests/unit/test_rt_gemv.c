/* test_rt_gemv.c — xf_gemv, the products of a generation step's few rows,
 * over weights in oneDNN's blocked panels: every row count up to
 * XF_GEMV_ROWS (pairs of rows and the odd one), partial blocks and panels,
 * bias or none, each activation; xf_pack_panels, which writes those panels;
 * and xf_linear at those row counts on
 * weights loaded as generated code loads them (on the oneDNN backend packed
 * into the panels xf_gemv reads in place), a fused Q/K/V operand stacked at
 * load from three projections among them.  Every result is checked against a
 * double-precision loop. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "xf_blas.h"
#include "xf_kernels.h"

/* act(x · W + b) in double, W as w[k, j] of a plain [in, out] array. */
static void expect_rows(const float *y, const float *x, const float *w, const float *b, int n,
                        int in, int out, xf_activation act) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < out; j++) {
            double s = b ? b[j] : 0.0;
            for (int k = 0; k < in; k++)
                s += (double)x[(int64_t)i * in + k] * w[(int64_t)k * out + j];
            if (act == XF_RELU)
                s = s < 0 ? 0 : s;
            else if (act == XF_GELU)
                s = 0.5 * s * (1.0 + erf(s / sqrt(2.0)));
            double got = y[(int64_t)i * out + j];
            cr_assert(fabs(got - s) <= 4e-6 * sqrt(in) * (1.0 + fabs(s)),
                      "[%d,%d] of %dx%dx%d (act %d): got %.7g, want %.7g", i, j, n, in, out,
                      (int)act, got, s);
        }
}

/* w [in, out] as blocked panels: [ceil(out/64)][kpad][64], kpad = in rounded up
 * to 16, 64-byte aligned like packed weights; the padding holds NaN, so
 * reading any of it into a result shows. */
static float *blocked(const float *w, int in, int out, int64_t *kpad) {
    int64_t kp = (in + 15) / 16 * 16, np = (out + 63) / 64;
    float *p = aligned_alloc(64, sizeof(float) * (size_t)(np * kp * 64));
    cr_assert_not_null(p);
    for (int64_t i = 0; i < np * kp * 64; i++)
        p[i] = NAN;
    for (int k = 0; k < in; k++)
        for (int j = 0; j < out; j++)
            p[(j / 64) * kp * 64 + (int64_t)k * 64 + j % 64] = w[(int64_t)k * out + j];
    *kpad = kp;
    return p;
}

/* Every row count and activation, with and without bias, on one shape. */
static void check_shape(int in, int out) {
    float *w = th_rand_buf((int64_t)in * out, 41, 1.0f), *b = th_rand_buf(out, 42, 1.0f);
    float *x = th_rand_buf((int64_t)XF_GEMV_ROWS * in, 43, 1.0f);
    float *y = malloc(sizeof(float) * (size_t)XF_GEMV_ROWS * out);
    int64_t kpad;
    float *wb = blocked(w, in, out, &kpad);
    static const xf_activation acts[] = {XF_NO_ACTIVATION, XF_RELU, XF_GELU};
    for (int n = 1; n <= XF_GEMV_ROWS; n++)
        for (int a = 0; a < 3; a++) {
            xf_gemv(y, x, wb, kpad, b, n, in, out, acts[a]);
            expect_rows(y, x, w, b, n, in, out, acts[a]);
            xf_gemv(y, x, wb, kpad, NULL, n, in, out, acts[a]);
            expect_rows(y, x, w, NULL, n, in, out, acts[a]);
        }
    free(w);
    free(b);
    free(x);
    free(y);
    free(wb);
}

Test(gemv, model_shapes) {
    check_shape(256, 256);
    check_shape(1024, 256);
    check_shape(256, 768);  /* Q/K/V: one row's four streams of 3 panels each */
    check_shape(256, 1000); /* a head: 3 × 4 panels, a pair, one, and one of 40 columns */
}

Test(gemv, odd_shapes) {
    check_shape(1, 1);
    check_shape(3, 63);   /* an odd row count of weights, one partial panel */
    check_shape(17, 65);  /* in past a block of 16; one column in the last panel */
    check_shape(33, 128); /* one row: exactly one pair of panels */
    check_shape(40, 192); /* one row: a pair, then a lone full panel */
    check_shape(5, 130);  /* one row: a pair, then a panel of 2 columns */
    check_shape(20, 512); /* one row: four streams of 2 panels */
    check_shape(9, 448);  /* one row: four panels, a pair, a lone one */
}

/* xf_pack_panels of torch's rows w[out, in] into panels of kpad rows, on a
 * destination full of NaN: every value where the panels put it, every padding
 * value (rows past in, columns past out) zero. */
static void check_pack(int in, int out, int64_t kpad) {
    float *w = th_rand_buf((int64_t)out * in, 61, 1.0f);
    int64_t np = (out + 63) / 64, n = np * kpad * 64;
    float *p = aligned_alloc(64, sizeof(float) * (size_t)n);
    cr_assert_not_null(p);
    for (int64_t i = 0; i < n; i++)
        p[i] = NAN;
    xf_pack_panels(p, w, out, in, kpad);
    for (int64_t j = 0; j < np * 64; j++)
        for (int64_t k = 0; k < kpad; k++) {
            float got = p[(j / 64) * kpad * 64 + k * 64 + j % 64];
            float want = j < out && k < in ? w[j * in + k] : 0.0f;
            cr_assert(got == want, "[%lld,%lld] of %dx%d (kpad %lld): got %g, want %g",
                      (long long)k, (long long)j, in, out, (long long)kpad, got, want);
        }
    free(w);
    free(p);
}

Test(gemv, pack_panels) {
    check_pack(256, 256, 256);
    check_pack(1024, 64, 1024);
    check_pack(1, 1, 16);   /* all padding but one value */
    check_pack(17, 65, 32); /* partial blocks of 16 both ways, a one-column panel */
    check_pack(40, 200, 48);
    check_pack(5, 70, 8); /* a short last block (layouts blocking rows by 4 or 8) */
}

/* The layout weights are packed in at load without asking oneDNN is the one
 * its primitives pick (a oneDNN that picks another would make every product
 * unpack its weights): the getting-started and LM shapes, and others that
 * qualify; shapes that do not (in % 16, out % 64) make no prediction. */
Test(gemv, predicted_layout) {
    static const int64_t shapes[][2] = {{256, 768},  {256, 256}, {256, 1024}, {1024, 256},
                                        {512, 2048}, {16, 64},   {4096, 64},  {48, 320}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        int r = xf_blas_layout_predicted(shapes[i][0], shapes[i][1]);
        cr_assert(r != 0, "[%lld,%lld]: oneDNN picks another layout than predicted",
                  (long long)shapes[i][0], (long long)shapes[i][1]);
    }
    cr_assert_eq(xf_blas_layout_predicted(96, 200), -1);
    cr_assert_eq(xf_blas_layout_predicted(100, 64), -1);
}

/* xf_linear at a step's row counts and one past XF_GEMV_ROWS (the GEMM) on
 * weights loaded through xf_weights_get_t, the activation fused. */
Test(gemv, linear_on_loaded_weights) {
    const int in = 96, out = 200;
    float *w = th_rand_buf((int64_t)out * in, 51, 1.0f), *b = th_rand_buf(out, 52, 1.0f);
    size_t cap = 512 + sizeof(float) * (size_t)out * in;
    char *buf = malloc(cap);
    xf_weights *file = th_one_tensor_weights(buf, cap, "w", "F32", "[200,96]", w,
                                             sizeof(float) * (size_t)out * in);
    xf_error err = {{0}};
    const float *wt = xf_weights_get_t(file, "w", out, in, 0, out, &err);
    cr_assert_not_null(wt, "%s", err.msg);
    float *wio =
        malloc(sizeof(float) * (size_t)in * out); /* [in, out] = torch's wᵀ: the reference */
    for (int k = 0; k < in; k++)
        for (int j = 0; j < out; j++)
            wio[(int64_t)k * out + j] = w[(int64_t)j * in + k];
    const int rows = XF_GEMV_ROWS + 1;
    float *x = th_rand_buf((int64_t)rows * in, 53, 1.0f), *y = malloc(sizeof(float) * rows * out);
    for (int n = 1; n <= rows; n++) {
        xf_linear_act(y, x, wt, b, n, in, out, XF_RELU);
        expect_rows(y, x, wio, b, n, in, out, XF_RELU);
        xf_linear(y, x, wt, NULL, n, in, out);
        expect_rows(y, x, wio, NULL, n, in, out, XF_NO_ACTIVATION);
    }
    xf_weights_close(file);
    free(buf);
    free(w);
    free(b);
    free(wio);
    free(x);
    free(y);
}

/* fast-transformers' query, key and value projections stacked at load into
 * one operand (xf_weights_get_projections): a step's rows (xf_gemv on
 * oneDNN) and one more (the GEMM) give q | k | v with their biases. */
Test(gemv, linear_on_stacked_projections) {
    enum { IN = 64, QK = 64, V = 48, OUT = 2 * QK + V };
    const int64_t rows[6] = {QK, QK, QK, QK, V, V}, cols[6] = {IN, 0, IN, 0, IN, 0};
    static const char *const names[6] = {"m.query_projection.weight", "m.query_projection.bias",
                                         "m.key_projection.weight",   "m.key_projection.bias",
                                         "m.value_projection.weight", "m.value_projection.bias"};
    float *data[6];
    for (int i = 0; i < 6; i++)
        data[i] = th_rand_buf(rows[i] * (cols[i] ? cols[i] : 1), 60 + (unsigned)i, 1.0f);
    size_t cap = 2048 + sizeof(float) * (size_t)(OUT * (IN + 1));
    char *buf = malloc(cap);
    th_tensor t[6];
    char shapes[6][32];
    for (int i = 0; i < 6; i++) {
        if (cols[i])
            snprintf(shapes[i], sizeof shapes[i], "[%lld,%lld]", (long long)rows[i],
                     (long long)cols[i]);
        else
            snprintf(shapes[i], sizeof shapes[i], "[%lld]", (long long)rows[i]);
        t[i] = (th_tensor){names[i], "F32", shapes[i], data[i],
                           sizeof(float) * (size_t)(rows[i] * (cols[i] ? cols[i] : 1))};
    }
    xf_weights *file = th_weights(buf, cap, 6, t);
    static const char *const proj[3] = {"query_projection", "key_projection", "value_projection"};
    const float *wt, *b;
    xf_error err = {{0}};
    cr_assert_eq(xf_weights_get_projections(file, "m", 3, proj, (const int64_t[]){QK, QK, V}, IN,
                                            &wt, &b, &err),
                 0, "%s", err.msg);
    float *wio = malloc(sizeof(float) * IN * OUT), bias[OUT]; /* [in, out] reference */
    for (int p = 0, j0 = 0; p < 3; j0 += (int)rows[2 * p], p++)
        for (int j = 0; j < rows[2 * p]; j++) {
            bias[j0 + j] = data[2 * p + 1][j];
            for (int k = 0; k < IN; k++)
                wio[(int64_t)k * OUT + j0 + j] = data[2 * p][(int64_t)j * IN + k];
        }
    const int n_rows = XF_GEMV_ROWS + 1;
    float *x = th_rand_buf((int64_t)n_rows * IN, 70, 1.0f),
          *y = malloc(sizeof(float) * n_rows * OUT);
    for (int n = 1; n <= n_rows; n++) {
        xf_linear(y, x, wt, b, n, IN, OUT);
        expect_rows(y, x, wio, bias, n, IN, OUT, XF_NO_ACTIVATION);
    }
    xf_weights_close(file);
    for (int i = 0; i < 6; i++)
        free(data[i]);
    free(buf);
    free(wio);
    free(x);
    free(y);
}
