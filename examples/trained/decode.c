/* decode.c — reads the reverse model's output back as letters, in plain C.
 *
 *   decode OUTPUT.npy HEAD.npy TOKENS.npy
 *
 * OUTPUT [N, L, D]: what the xfc-built `reverse` wrote (the decoder's output);
 * HEAD [V, D + 1]: the output layer of train.py (weight | bias); TOKENS [N, 2, L]:
 * each example's source tokens and their reversal (1..16 = a..p).  Prints, per
 * example, the source, the letter the model predicts at each position
 * (argmax of OUTPUT · weightᵀ + bias) and whether that is the reversal.
 * Exit status 0 when every prediction is right.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int rank; long shape[4]; float *data; } array;

/* A float32 little-endian C-order .npy (version 1.0 or 2.0), or exit. */
static array load(const char *path) {
    FILE *f = fopen(path, "rb");
    unsigned char pre[12];
    if (!f || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        fprintf(stderr, "decode: %s: not an .npy file\n", path);
        exit(1);
    }
    size_t hlen = pre[8] | pre[9] << 8;
    if (pre[6] >= 2) {   /* 4-byte header length */
        if (fread(pre + 10, 1, 2, f) != 2) {
            fprintf(stderr, "decode: %s: truncated\n", path);
            exit(1);
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    }
    char *h = calloc(hlen + 1, 1);
    if (!h || fread(h, 1, hlen, f) != hlen || !strstr(h, "'<f4'") || strstr(h, "True")) {
        fprintf(stderr, "decode: %s: expected float32 little-endian C-order data\n", path);
        exit(1);
    }
    array a = {0};
    size_t count = 1;
    for (char *p = strchr(strstr(h, "'shape'"), '(') + 1; *p != ')' && a.rank < 4;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        a.shape[a.rank++] = v;
        count *= (size_t)v;
        p = end + (*end == ',');
        while (*p == ' ')
            p++;
    }
    free(h);
    a.data = malloc(count * sizeof(float));
    if (!a.data || fread(a.data, sizeof(float), count, f) != count) {
        fprintf(stderr, "decode: %s: truncated\n", path);
        exit(1);
    }
    fclose(f);
    return a;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: decode OUTPUT.npy HEAD.npy TOKENS.npy\n");
        return 2;
    }
    array y = load(argv[1]), head = load(argv[2]), tok = load(argv[3]);
    const long N = y.shape[0], L = y.shape[1], D = y.shape[2], V = head.shape[0];
    if (y.rank != 3 || head.rank != 2 || head.shape[1] != D + 1 || tok.rank != 3 || tok.shape[0] != N ||
        tok.shape[1] != 2 || tok.shape[2] != L) {
        fprintf(stderr, "decode: shapes do not fit: output [N, L, D], head [V, D+1], tokens [N, 2, L]\n");
        return 1;
    }
    int wrong = 0;
    for (long n = 0; n < N; n++) {
        char src[256] = "", pred[256] = "", want[256] = "";
        for (long t = 0; t < L && t < 255; t++) {
            const float *x = y.data + (n * L + t) * D;
            long best = 0;
            float best_score = -1e30f;
            for (long v = 0; v < V; v++) {
                const float *w = head.data + v * (D + 1);
                float s = w[D];
                for (long d = 0; d < D; d++)
                    s += w[d] * x[d];
                if (s > best_score)
                    best_score = s, best = v;
            }
            src[t] = (char)('a' + (int)tok.data[(n * 2 + 0) * L + t] - 1);
            want[t] = (char)('a' + (int)tok.data[(n * 2 + 1) * L + t] - 1);
            pred[t] = best >= 1 ? (char)('a' + best - 1) : '^';
        }
        int ok = !strcmp(pred, want);
        wrong += !ok;
        printf("%s  ->  %s  %s\n", src, pred, ok ? "(reversed)" : "(WRONG)");
    }
    free(y.data);
    free(head.data);
    free(tok.data);
    return wrong ? 1 : 0;
}
