/* npycmp — compares two float32 .npy files within a tolerance, for golden tests.
 *
 *   npycmp ACTUAL.npy EXPECTED.npy [--tol 1e-4] [--lengths 37,20,5 --axis 1]
 *
 * With --lengths, positions >= lengths[n] along `axis` (the query/sequence
 * axis) are skipped: PyTorch leaves padding rows unspecified.  Prints the max
 * absolute error; exit 0 when within tolerance, 1 otherwise (or on a shape
 * mismatch / unreadable file). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xf_io.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr,
                "usage: npycmp ACTUAL.npy EXPECTED.npy [--tol T] [--lengths L,L --axis A]\n");
        return 2;
    }
    double tol = 1e-4;
    int axis = 1, lengths[256], n_len = 0;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--tol"))
            tol = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--axis"))
            axis = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--lengths"))
            for (char *s = argv[i + 1]; *s && n_len < 256; s += *s == ',')
                lengths[n_len++] = (int)strtol(s, &s, 10);
    }
    xf_error err = {{0}};
    xf_array a = {0}, b = {0};
    if (xf_npy_read(argv[1], &a, &err) || xf_npy_read(argv[2], &b, &err)) {
        fprintf(stderr, "npycmp: %s\n", err.msg);
        return 1;
    }
    int same = a.rank == b.rank;
    for (int d = 0; same && d < a.rank; d++)
        same = a.shape[d] == b.shape[d];
    if (!same) {
        fprintf(stderr, "npycmp: %s and %s differ in shape\n", argv[1], argv[2]);
        return 1;
    }
    int64_t total = 1, inner = 1;
    for (int d = 0; d < a.rank; d++)
        total *= a.shape[d];
    for (int d = axis + 1; d < a.rank; d++)
        inner *= a.shape[d];
    double max_err = 0;
    int64_t compared = 0;
    for (int64_t i = 0; i < total; i++) {
        if (n_len) {
            int64_t n = i / (total / a.shape[0]);
            int64_t pos = (i / inner) % a.shape[axis];
            if (n < n_len && pos >= lengths[n])
                continue;
        }
        double e = fabs((double)a.data[i] - (double)b.data[i]);
        if (!(e <= max_err))
            max_err = e; /* NaN propagates as a failure */
        compared++;
    }
    printf("%s: max abs error %.3g over %lld values (tol %g)\n", argv[2], max_err,
           (long long)compared, tol);
    xf_array_free(&a);
    xf_array_free(&b);
    return max_err <= tol && compared > 0 ? 0 : 1;
}
