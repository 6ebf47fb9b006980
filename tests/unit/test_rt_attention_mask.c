/* test_rt_attention_mask.c — full attention with fast-transformers' FullMask
 * (xf_attn_shape.mask): against a double-precision softmax, shared and
 * per-sample masks, with key lengths and causal, rows the mask drops
 * entirely (out = 0), the materialized, streaming and online (long S)
 * paths; and xf_npy_read_mask's dtypes, shapes and refusals. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "xf_io.h"
#include "xf_kernels.h"

static void check(int L, int S, int batched, int causal, int materialize) {
    const int N = 2, H = 2, E = 4, D = 3;
    const int len[2] = {S, S - 3};
    float *q = th_rand_buf((int64_t)N * L * H * E, 1, 1.0f),
          *k = th_rand_buf((int64_t)N * S * H * E, 2, 1.0f);
    float *v = th_rand_buf((int64_t)N * S * H * D, 3, 1.0f);
    int64_t planes = batched ? N : 1;
    float *mask = malloc((size_t)(planes * L * S) * 4);
    uint32_t r = 12345;
    for (int64_t i = 0; i < planes * L * S; i++) {
        r = r * 1664525u + 1013904223u;
        mask[i] = (r >> 28) < 5 ? -INFINITY : 0.0f; /* about 1 in 3 dropped */
    }
    for (int j = 0; j < S; j++)
        mask[(int64_t)1 * S + j] = -INFINITY; /* query row 1 sees nothing */
    float *out = calloc((size_t)N * L * H * D, 4),
          *A = materialize ? calloc((size_t)N * H * L * S, 4) : NULL;
    xf_attn_shape sh = {.N = N,
                        .L = L,
                        .S = S,
                        .H = H,
                        .E = E,
                        .D = D,
                        .key_len = len,
                        .causal = causal,
                        .temp = 0.5f,
                        .mask = mask,
                        .mask_batched = batched};
    float *scratch = malloc((size_t)xf_attention_scratch(&sh) * 4);
    xf_attention(out, A, q, k, v, &sh, scratch);
    double *p = malloc((size_t)S * sizeof *p);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < L; i++) {
                const float *mi = mask + ((batched ? n : 0) * (int64_t)L + i) * S;
                double mx = -INFINITY, sum = 0.0;
                for (int j = 0; j < S; j++) {
                    double s = 0.0;
                    for (int e = 0; e < E; e++)
                        s += (double)q[(((int64_t)n * L + i) * H + h) * E + e] *
                             k[(((int64_t)n * S + j) * H + h) * E + e];
                    int vis = j < len[n] && (!causal || j <= i) && mi[j] == 0.0f;
                    p[j] = vis ? 0.5 * s : -INFINITY;
                    mx = p[j] > mx ? p[j] : mx;
                }
                for (int j = 0; j < S; j++)
                    sum += p[j] = isinf(mx) ? 0.0 : exp(p[j] - mx);
                for (int d = 0; d < D; d++) {
                    double o = 0.0;
                    for (int j = 0; j < S; j++)
                        o += (sum > 0 ? p[j] / sum : 0.0) *
                             v[(((int64_t)n * S + j) * H + h) * D + d];
                    cr_assert_float_eq(out[(((int64_t)n * L + i) * H + h) * D + d], o, 1e-5,
                                       "L %d S %d batched %d causal %d: n %d h %d row %d", L, S,
                                       batched, causal, n, h, i);
                }
                for (int j = 0; A && j < S; j++)
                    cr_assert_float_eq(A[(((int64_t)n * H + h) * L + i) * S + j],
                                       sum > 0 ? p[j] / sum : 0.0, 1e-6);
            }
    free(q), free(k), free(v), free(mask), free(out), free(A), free(scratch), free(p);
}

Test(attention_mask, shared_mask) {
    check(9, 11, 0, 0, 1);
    check(9, 11, 0, 0, 0);
}
Test(attention_mask, per_sample_mask_causal) {
    check(12, 12, 1, 1, 1);
    check(12, 12, 1, 1, 0);
}
Test(attention_mask, online_path_long_keys) {
    check(5, 1500, 1, 0, 0);
    check(5, 1500, 0, 0, 1);
}

Test(attention_mask, read_mask_files, .init = th_dir_setup, .fini = th_dir_teardown) {
    xf_error err = {0};
    xf_array m;
    /* bool [2, 3]: true keeps (0), false drops (-inf) */
    static const unsigned char b[] =
        "\x93NUMPY\x01\x00\x76\x00{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3), }";
    char hdr[128] = {0};
    memcpy(hdr, b, sizeof b - 1);
    memset(hdr + sizeof b - 1, ' ', 128 - (sizeof b - 1));
    hdr[127] = '\n';
    unsigned char data[6] = {1, 0, 1, 1, 1, 0};
    char buf[134];
    memcpy(buf, hdr, 128);
    memcpy(buf + 128, data, 6);
    th_write_file(th_in_dir("m.npy"), buf, sizeof buf);
    cr_assert_eq(xf_npy_read_mask(th_in_dir("m.npy"), 4, 2, 3, &m, &err), 0, "%s", err.msg);
    cr_assert_eq(m.rank, 2);
    cr_assert(m.data[0] == 0.0f && isinf(m.data[1]) && m.data[1] < 0 && isinf(m.data[5]));
    xf_array_free(&m);
    cr_assert_eq(xf_npy_read_mask(th_in_dir("m.npy"), 4, 3, 2, &m, &err), -1);
    cr_assert(strstr(err.msg, "m.npy: mask shape [2,3], expected [3, 2] or [4, 3, 2]"), "%s",
              err.msg);
    /* float32 [1, 2, 3] with a NaN */
    float f[6] = {0, -INFINITY, 0, NAN, 0, 0};
    const int64_t shape[3] = {1, 2, 3};
    cr_assert_eq(xf_npy_write(th_in_dir("f.npy"), f, 3, shape, &err), 0);
    cr_assert_eq(xf_npy_read_mask(th_in_dir("f.npy"), 1, 2, 3, &m, &err), -1);
    cr_assert(strstr(err.msg, "f.npy: mask value nan at flat index 3"), "%s", err.msg);
    f[3] = -1.5f;
    cr_assert_eq(xf_npy_write(th_in_dir("f.npy"), f, 3, shape, &err), 0);
    cr_assert_eq(xf_npy_read_mask(th_in_dir("f.npy"), 1, 2, 3, &m, &err), 0, "%s", err.msg);
    cr_assert_eq(m.rank, 3);
    cr_assert_eq(m.data[3], -1.5f);
    xf_array_free(&m);
}
