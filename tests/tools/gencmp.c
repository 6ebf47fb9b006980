/* gencmp — checks a generation against PyTorch's, for the generation golden tests.
 *
 *   gencmp ids ACTUAL.npy EXPECTED.npy                   int32 ids, exactly equal
 *   gencmp steps ACTUAL.npy EXPECTED.npy EOS_STEPS       step logits [N,K,V] within 1e-4,
 *                                                        row n up to its eos step only
 *   gencmp attention FULL.npy PROMPT.npy PREFIX          PREFIX.step<k>.npy of a generation
 *                                                        against the forward's [N,H,T,S]
 *
 * EOS_STEPS: one entry per row, "-" where the row never produced eos (e.g. 5,2,-).
 * Step 0 (the prefill) is [N,H,P,X]: rows 0..P-1 of FULL; step k is [N,H,1,X]: row
 * P+k-1; X columns of FULL (padded keys of FULL are 0, as the steps give them).
 * Prints what it compared; exit 0 when everything matches, 1 otherwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xf_io.h"

static void die(const char *msg) {
    fprintf(stderr, "gencmp: %s\n", msg);
    exit(1);
}

static int ids(const char *a, const char *b) {
    xf_ids x = {0}, y = {0};
    xf_error err = {""};
    if (xf_npy_read_ids(a, &x, &err) || xf_npy_read_ids(b, &y, &err))
        die(err.msg);
    int bad = x.rows != y.rows || x.cols != y.cols;
    if (bad)
        fprintf(stderr, "gencmp: %s is [%d,%d], %s is [%d,%d]\n", a, x.rows, x.cols, b, y.rows,
                y.cols);
    for (int i = 0; !bad && i < x.rows * x.cols; i++)
        if (x.data[i] != y.data[i]) {
            fprintf(stderr, "gencmp: ids differ at [%d,%d]: %d vs %d\n", i / x.cols, i % x.cols,
                    x.data[i], y.data[i]);
            bad = 1;
        }
    if (!bad)
        printf("ids: %d × %d equal\n", x.rows, x.cols);
    xf_ids_free(&x);
    xf_ids_free(&y);
    return bad;
}

static int steps(const char *a, const char *b, const char *eos_steps) {
    xf_array x = {0}, y = {0};
    xf_error err = {""};
    if (xf_npy_read(a, &x, &err) || xf_npy_read(b, &y, &err))
        die(err.msg);
    if (x.rank != 3 || y.rank != 3 || memcmp(x.shape, y.shape, sizeof x.shape))
        die("step logits shapes differ");
    int64_t N = x.shape[0], K = x.shape[1], V = x.shape[2];
    double worst = 0;
    const char *p = eos_steps;
    for (int64_t n = 0; n < N; n++) {
        int64_t last = K - 1; /* compared up to the eos step */
        if (*p && *p != '-')
            last = strtol(p, NULL, 10);
        while (*p && *p != ',')
            p++;
        if (*p == ',')
            p++;
        for (int64_t k = 0; k <= last && k < K; k++)
            for (int64_t v = 0; v < V; v++)
                worst =
                    fmax(worst, fabs(x.data[(n * K + k) * V + v] - y.data[(n * K + k) * V + v]));
    }
    printf("step logits: max error %.3g\n", worst);
    xf_array_free(&x);
    xf_array_free(&y);
    return !(worst <= 1e-4);
}

static int attention(const char *full_path, int P, const char *prefix) {
    xf_array f = {0};
    xf_error err = {""};
    if (xf_npy_read(full_path, &f, &err))
        die(err.msg);
    const int64_t N = f.shape[0], H = f.shape[1], T = f.shape[2], S = f.shape[3];
    double worst = 0;
    int k = 0;
    for (;; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s.step%d.npy", prefix, k);
        xf_array a = {0};
        if (xf_npy_read(path, &a, &err))
            break;
        const int64_t rows = a.shape[2], X = a.shape[3], row0 = k == 0 ? 0 : P + k - 1;
        if (a.shape[0] != N || a.shape[1] != H || rows != (k == 0 ? P : 1) || X > S ||
            row0 + rows > T) {
            fprintf(stderr, "gencmp: %s has the wrong shape for step %d\n", path, k);
            return 1;
        }
        for (int64_t n = 0; n < N; n++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t c = 0; c < X; c++)
                        worst = fmax(worst, fabs(a.data[((n * H + h) * rows + r) * X + c] -
                                                 f.data[((n * H + h) * T + row0 + r) * S + c]));
        xf_array_free(&a);
    }
    printf("attention: %d steps, max error %.3g\n", k, worst);
    xf_array_free(&f);
    return k < 2 || !(worst <= 1e-4);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "ids"))
        return ids(argv[2], argv[3]);
    if (argc == 5 && !strcmp(argv[1], "steps"))
        return steps(argv[2], argv[3], argv[4]);
    if (argc == 5 && !strcmp(argv[1], "attention")) {
        xf_ids prompt = {0};
        xf_error err = {""};
        if (xf_npy_read_ids(argv[3], &prompt, &err))
            die(err.msg);
        const int P = prompt.cols;
        xf_ids_free(&prompt);
        return attention(argv[2], P, argv[4]);
    }
    fprintf(stderr, "usage: gencmp ids A B | steps A B EOS_STEPS | attention FULL PROMPT PREFIX\n");
    return 2;
}
