/* The C API of a generated model (release profile), as a user calls it. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include "prenorm.h"
#include "xf_io.h"

#define CASE XF_FIXTURES "/encoder_prenorm_gelu_padded"

static const int lengths[3] = {37, 20, 5};

/* max |a - b| over the valid rows (t < lengths[n]) of [N, L, D] arrays */
static double max_err_valid(const float *a, const float *b, int N, int L, int D) {
    double e = 0;
    for (int n = 0; n < N; n++)
        for (int t = 0; t < lengths[n]; t++)
            for (int d = 0; d < D; d++) {
                double x =
                    fabs((double)a[((size_t)n * L + t) * D + d] - b[((size_t)n * L + t) * D + d]);
                if (!(x <= e))
                    e = x;
            }
    return e;
}

Test(capi, forward_matches_pytorch) {
    xf_error err = {""};
    xf_array x, want;
    cr_assert_eq(xf_npy_read(CASE "/input.npy", &x, &err), 0, "%s", err.msg);
    cr_assert_eq(xf_npy_read(CASE "/output.npy", &want, &err), 0, "%s", err.msg);
    prenorm *m = prenorm_load(CASE "/weights.safetensors", &err);
    cr_assert_not_null(m, "%s", err.msg);
    int N = (int)x.shape[0], L = (int)x.shape[1], D = (int)x.shape[2];
    cr_assert_eq(D, prenorm_D_MODEL);
    float *y = malloc(sizeof(float) * (size_t)N * L * D);
    cr_assert_eq(prenorm_forward(m, x.data, N, L, lengths, y, &err), 0, "%s", err.msg);
    cr_expect_leq(max_err_valid(y, want.data, N, L, D), 1e-4);
    /* y may be x: the forward works in place */
    cr_assert_eq(prenorm_forward(m, x.data, N, L, lengths, x.data, &err), 0, "%s", err.msg);
    cr_expect_leq(max_err_valid(x.data, want.data, N, L, D), 1e-4);
    free(y);
    prenorm_free(m);
    xf_array_free(&x);
    xf_array_free(&want);
}

Test(capi, load_errors_name_the_file) {
    xf_error err = {""};
    cr_assert_null(prenorm_load("/nonexistent/w.safetensors", &err));
    cr_expect(strstr(err.msg, "/nonexistent/w.safetensors") != NULL, "%s", err.msg);
    /* the weights of another model: a misshaped tensor, named */
    cr_assert_null(prenorm_load(XF_FIXTURES "/encoder_causal/weights.safetensors", &err));
    cr_expect(strstr(err.msg, "layers.0.self_attn.in_proj_weight") != NULL, "%s", err.msg);
}

Test(capi, bad_calls_fail_cleanly) {
    xf_error err = {""};
    prenorm *m = prenorm_load(CASE "/weights.safetensors", &err);
    cr_assert_not_null(m, "%s", err.msg);
    float x[2 * 4 * prenorm_D_MODEL] = {0}, y[2 * 4 * prenorm_D_MODEL];
    const int bad[2] = {4, 5};
    cr_expect_eq(prenorm_forward(m, x, 2, 4, bad, y, &err), -1);
    cr_expect(strstr(err.msg, "lengths[1] = 5") != NULL, "%s", err.msg);
    cr_expect_eq(prenorm_forward(m, x, 0, 4, NULL, y, &err), -1);
    cr_expect(strstr(err.msg, "batch") != NULL, "%s", err.msg);
    cr_expect_eq(prenorm_forward(m, x, 1 << 20, 1 << 20, NULL, y, &err), -1);
    cr_expect(strstr(err.msg, "GiB") != NULL, "%s", err.msg);
    /* and the model still works afterwards */
    cr_expect_eq(prenorm_forward(m, x, 2, 4, NULL, y, &err), 0, "%s", err.msg);
    prenorm_free(m);
}
