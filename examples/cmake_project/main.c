/* main.c — runs the model that xfc_add_model() built on an .npy input and
 * prints a checksum of its output.
 *
 *   cmake_example INPUT.npy [--weights W.safetensors] [--lengths 100,37,...]
 *                 [--output Y.npy] [--expect EXPECTED.npy]
 *
 * Weights: the embedded ones (EMBED_WEIGHTS) unless --weights is given.
 * --expect compares with a reference (PyTorch's) and fails past 1e-4.
 * Built without EXAMPLE_EMBEDDED_WEIGHTS (e.g. with pkg-config), --weights is required.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "encoder.h" /* the model's C API, generated from encoder.xf */
#ifdef EXAMPLE_EMBEDDED_WEIGHTS
#include "encoder_embedded.h" /* encoder_load_embedded(), from EMBED_WEIGHTS */
#endif
#include "xf_io.h" /* the runtime's .npy reader and writer */

static int die(const char *what) {
    fprintf(stderr, "cmake_example: %s\n", what);
    return 1;
}

int main(int argc, char **argv) {
    const char *input = NULL, *weights = NULL, *lengths_s = NULL, *output = NULL, *expect = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--weights") && i + 1 < argc)
            weights = argv[++i];
        else if (!strcmp(argv[i], "--lengths") && i + 1 < argc)
            lengths_s = argv[++i];
        else if (!strcmp(argv[i], "--output") && i + 1 < argc)
            output = argv[++i];
        else if (!strcmp(argv[i], "--expect") && i + 1 < argc)
            expect = argv[++i];
        else if (argv[i][0] != '-' && !input)
            input = argv[i];
        else
            return die("usage: cmake_example INPUT.npy [--weights W] [--lengths N,...] [--output "
                       "Y.npy] [--expect E.npy]");
    }
    if (!input)
        return die("usage: cmake_example INPUT.npy [--weights W] [--lengths N,...] [--output "
                   "Y.npy] [--expect E.npy]");

    xf_error err = {""};
    xf_array x = {0};
    if (xf_npy_read(input, &x, &err))
        return die(err.msg);
    if (x.rank != 3 || x.shape[2] != encoder_D_MODEL)
        return die("the input must be [batch, seq, 256]");
    const int batch = (int)x.shape[0], seq = (int)x.shape[1];

    int *lengths = NULL;
    if (lengths_s) {
        lengths = calloc((size_t)batch, sizeof *lengths);
        char *p = (char *)lengths_s;
        for (int n = 0; n < batch; n++, p += *p == ',')
            lengths[n] = (int)strtol(p, &p, 10);
    }

#ifdef EXAMPLE_EMBEDDED_WEIGHTS
    encoder *m = weights ? encoder_load(weights, &err) : encoder_load_embedded(&err);
#else
    if (!weights)
        return die("--weights is required (built without embedded weights)");
    encoder *m = encoder_load(weights, &err);
#endif
    if (!m)
        return die(err.msg);

    float *y = malloc(sizeof(float) * (size_t)batch * (size_t)seq * encoder_D_MODEL);
    if (!y || encoder_forward(m, x.data, batch, seq, lengths, y, &err))
        return die(y ? err.msg : "out of memory");

    double sum = 0, sum_abs = 0;
    const size_t count = (size_t)batch * (size_t)seq * encoder_D_MODEL;
    for (size_t i = 0; i < count; i++)
        sum += y[i], sum_abs += fabs(y[i]);
    printf("output [%d, %d, %d] from %s weights: checksum sum = %.4f, sum |y| = %.4f\n", batch, seq,
           encoder_D_MODEL, weights ? "file" : "embedded", sum, sum_abs);

    int status = 0;
    if (output) {
        const int64_t shape[3] = {batch, seq, encoder_D_MODEL};
        if (xf_npy_write(output, y, 3, shape, &err))
            status = die(err.msg);
    }
    if (expect) {
        xf_array want = {0};
        if (xf_npy_read(expect, &want, &err))
            return die(err.msg);
        if (want.rank != 3 || want.shape[0] != batch || want.shape[1] != seq ||
            want.shape[2] != encoder_D_MODEL)
            return die("the expected output's shape differs");
        double max_err = 0;
        for (int n = 0; n < batch; n++)
            for (int t = 0; t < (lengths ? lengths[n] : seq);
                 t++) /* padding rows are unspecified */
                for (int d = 0; d < encoder_D_MODEL; d++) {
                    size_t i = ((size_t)n * seq + t) * encoder_D_MODEL + d;
                    double e = fabs((double)y[i] - want.data[i]);
                    if (!(e <= max_err))
                        max_err = e;
                }
        printf("max |y - expected| = %.3g (tolerance 1e-4)\n", max_err);
        status = max_err <= 1e-4 ? status : 1;
        xf_array_free(&want);
    }
    free(y);
    free(lengths);
    encoder_free(m);
    xf_array_free(&x);
    return status;
}
