/* test_rt_exp2.c — the attention kernels' 2^x (exp2.c) against libm's
 * double exp2: relative error over the range softmax uses, the ends
 * (→ 0 below −126, +inf from 128, NaN kept), 2^0 = 1 exactly, and the row
 * functions (vector path on AVX-512 machines, tails of every length). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "xf_exp2.h"

/* Max relative error of 2^x over [lo, hi) at n evenly spaced points, the
 * scalar and the row function both. */
static double max_rel_err(double lo, double hi, int n) {
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    cr_assert(x && y);
    for (int i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * i / n);
    xf__exp2_row(y, x, n);
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        double want = exp2((double)x[i]);
        double e1 = fabs(y[i] - want) / want, e2 = fabs(xf_exp2(x[i]) - want) / want;
        worst = fmax(worst, fmax(e1, e2));
    }
    free(x);
    free(y);
    return worst;
}

Test(exp2, relative_error_over_the_normal_range) {
    /* 2^−126 .. 2^127.9: every normal result, dense near 0 where softmax lives */
    cr_assert_lt(max_rel_err(-126.0, 127.9, 1 << 20), 2.5e-7);
    cr_assert_lt(max_rel_err(-30.0, 0.0, 1 << 20), 2.5e-7);
    cr_assert_lt(max_rel_err(-1.0, 1.0, 1 << 16), 2.5e-7);
}

Test(exp2, ends_of_the_range) {
    const float in[8] = {0.0f, -0.0f, -126.5f, -200.0f, -1e30f, -INFINITY, 128.0f, INFINITY};
    const float want[8] = {1.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, INFINITY, INFINITY};
    float out[8];
    xf__exp2_row(out, in, 8);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(out[i], want[i], "row 2^%g = %g, want %g", in[i], out[i], want[i]);
        cr_assert_eq(xf_exp2(in[i]), want[i], "2^%g = %g, want %g", in[i], xf_exp2(in[i]), want[i]);
    }
    float nan = NAN, y;
    xf__exp2_row(&y, &nan, 1);
    cr_assert(isnan(y) && isnan(xf_exp2(NAN)), "NaN must stay NaN");
}

/* p = 2^(p − m), Σ and max, for every length 0..70 (whole vectors, tails) */
Test(exp2, shift_sum_max_rows) {
    float p[70], x[70];
    for (int n = 0; n <= 70; n++) {
        for (int i = 0; i < n; i++)
            p[i] = x[i] = (float)((i * 37 % 23) - 11) * 0.7f;
        float mx, s = xf__exp2_shift_sum_max(p, n, 3.0f, &mx);
        double want_s = 0.0, want_mx = -INFINITY;
        for (int i = 0; i < n; i++) {
            double e = exp2((double)x[i] - 3.0);
            want_s += e;
            want_mx = fmax(want_mx, x[i]);
            cr_assert_float_eq(p[i], e, 3e-7 * e, "n %d: p[%d] %g, want %g", n, i, p[i], e);
        }
        cr_assert_float_eq(s, want_s, 1e-6 * want_s + 1e-30, "n %d: sum %g, want %g", n, s, want_s);
        cr_assert_eq(mx, (float)want_mx, "n %d: max %g, want %g", n, mx, want_mx);
        for (int i = 0; i < n; i++)
            p[i] = x[i];
        float s2 = xf__exp2_shift_sum(p, n, 3.0f);
        cr_assert_float_eq(s2, want_s, 1e-6 * want_s + 1e-30, "n %d: sum %g, want %g", n, s2,
                           want_s);
    }
}
