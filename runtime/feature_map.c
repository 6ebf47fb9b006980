/* feature_map.c — the random feature maps of linear attention
 * (fast-transformers feature_maps/fourier_features.py), applied to rows of
 * queries or keys, and the generator that draws their omega when the weight
 * file has none.
 *
 * For a row x [E] and omega [E, m], with x̃ = √temp · x and u = x̃ omega [m]:
 *   random_fourier           φ = √(2/n) [cos u, sin u]                      (2m)
 *   smoothed_random_fourier  φ = [√(2/n) cos u, √(2/n) sin u, 1]           (2m + 1)
 *   favor                    φ = [e^(u − c), e^(−u − c)],
 *                            c = |x̃|²/2 + ½ log n (+ max over the sequence
 *                            of |x̃|² with stabilize)                      (2m)
 *   generalized_random       φ = relu(u) (temp 1: x not scaled)            (m)
 * n is fast-transformers' n_dims after its constructor's adjustment (see
 * xf_feature_map).  u is one GEMM per block of rows straight into φ's first
 * m columns; the second half is written from it in place.
 *
 * The generator (no omega in the file): splitmix64 seeded with random_seed
 * XOR the FNV-1a hash of the omega's tensor name, Box–Muller normals (in
 * double), and for the orthogonal maps fast-transformers'
 * orthogonal_random_matrix_: blocks of E columns, each the Q of the QR of an
 * E × E normal matrix (Gram–Schmidt), column j scaled by the norm of row j of
 * that matrix (a chi-distributed length).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xf_blas.h"
#include "xf_kernels.h"
#include "xf_simd.h"

int xf_feature_map_dims(const xf_feature_map *fm, int E) {
    if (!fm || fm->kind == XF_FMAP_ELU)
        return E;
    switch (fm->kind) {
        case XF_FMAP_GENERALIZED_RANDOM: return fm->m;
        case XF_FMAP_SMOOTHED_RANDOM_FOURIER: return 2 * fm->m + 1;
        default: return 2 * fm->m;
    }
}

/* Σ_e x[e]² · temp: |x̃|² of one row. */
static float sq_norm(const float *x, int E, float temp) {
    float s = 0.0f;
    for (int e = 0; e < E; e++)
        s += x[e] * x[e];
    return s * temp;
}

float xf_feature_map_shift(const xf_feature_map *fm, const float *x, int rows, int E, int64_t ld) {
    if (!fm || fm->kind != XF_FMAP_FAVOR || !fm->stabilize || rows <= 0)
        return 0.0f;
    float mx = sq_norm(x, E, fm->temp);
    for (int i = 1; i < rows; i++) {
        float s = sq_norm(x + i * ld, E, fm->temp);
        mx = s > mx ? s : mx;
    }
    return mx;
}

/* φ of one row from u in y[0..m): the second half and the scaling. */
static void finish_row(float *y, const float *x, const xf_feature_map *fm, int E, float shift) {
    const int m = fm->m;
    if (fm->kind == XF_FMAP_GENERALIZED_RANDOM) {
        for (int j = 0; j < m; j++)
            y[j] = y[j] > 0.0f ? y[j] : 0.0f;
        return;
    }
    if (fm->kind == XF_FMAP_FAVOR) {
        float c = 0.5f * sq_norm(x, E, fm->temp) + 0.5f * logf(fm->n_dims) + shift;
        for (int j = 0; j < m; j++) {
            float u = y[j];
            y[m + j] = exp_approx(-u - c);
            y[j] = exp_approx(u - c);
        }
        return;
    }
    const float a = sqrtf(2.0f / fm->n_dims);
    for (int j = 0; j < m; j++) {
        float u = y[j];
        y[m + j] = a * sinf(u);
        y[j] = a * cosf(u);
    }
    if (fm->kind == XF_FMAP_SMOOTHED_RANDOM_FOURIER)
        y[2 * m] = 1.0f; /* fast-transformers' smoothing = 1.0 */
}

void xf_feature_map_apply(float *phi, const float *x, int rows, int E, int64_t ld,
                          const xf_feature_map *fm, float shift) {
    const int F = xf_feature_map_dims(fm, E);
    if (!fm || fm->kind == XF_FMAP_ELU) {
        for (int i = 0; i < rows; i++)
            for (int e = 0; e < E; e++) {
                float xe = x[i * ld + e], ex = exp_approx(xe);
                phi[(int64_t)i * F + e] = xe > 0.0f ? xe + 1.0f : ex;
            }
        return;
    }
    if (rows <= 0)
        return;
    float alpha =
        fm->kind == XF_FMAP_GENERALIZED_RANDOM && fm->temp == 1.0f ? 1.0f : sqrtf(fm->temp);
    xf_gemm(XF_NOTRANS, XF_NOTRANS, rows, fm->m, E, alpha, x, (int)ld, fm->omega, fm->m, 0.0f, phi,
            F);
    for (int i = 0; i < rows; i++)
        finish_row(phi + (int64_t)i * F, x + i * ld, fm, E, shift);
}

/* ---- the generator ----------------------------------------------------------- */

uint64_t xf_splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A standard normal (Box–Muller, one of the pair). */
static double normal(uint64_t *s) {
    double u1 = ((double)(xf_splitmix64(s) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    double u2 = (double)(xf_splitmix64(s) >> 11) / 9007199254740992.0;         /* [0, 1) */
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t xf_feature_map_seed(uint64_t random_seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return random_seed ^ h;
}

/* One orthogonal block: omega[:, c0 .. c0+cols) from an E × E normal matrix
 * g (rows r): Q of g's QR by modified Gram–Schmidt over its columns, column j
 * times |g row j|. */
static void orthogonal_block(float *omega, int E, int m, int c0, int cols, double *g, uint64_t *s) {
    double *q = g + (size_t)E * E;
    for (int i = 0; i < E * E; i++)
        g[i] = normal(s);
    memcpy(q, g, (size_t)E * E * sizeof(double));
    for (int j = 0; j < E; j++) { /* column j of q, orthonormalized against 0..j-1 */
        for (int p = 0; p < j; p++) {
            double d = 0.0;
            for (int i = 0; i < E; i++)
                d += q[i * E + p] * q[i * E + j];
            for (int i = 0; i < E; i++)
                q[i * E + j] -= d * q[i * E + p];
        }
        double nrm = 0.0;
        for (int i = 0; i < E; i++)
            nrm += q[i * E + j] * q[i * E + j];
        nrm = nrm > 0.0 ? 1.0 / sqrt(nrm) : 0.0;
        for (int i = 0; i < E; i++)
            q[i * E + j] *= nrm;
    }
    for (int j = 0; j < cols; j++) {
        double len = 0.0;
        for (int i = 0; i < E; i++)
            len += g[j * E + i] * g[j * E + i];
        len = sqrt(len);
        for (int i = 0; i < E; i++)
            omega[(int64_t)i * m + c0 + j] = (float)(q[i * E + j] * len);
    }
}

int xf_feature_map_draw(float *omega, int E, int m, int orthogonal, uint64_t seed) {
    uint64_t s = seed;
    if (!orthogonal) {
        for (int64_t i = 0; i < (int64_t)E * m; i++)
            omega[i] = (float)normal(&s);
        return 0;
    }
    double *g = malloc(2 * (size_t)E * (size_t)E * sizeof(double));
    if (!g)
        return -1;
    for (int c0 = 0; c0 < m; c0 += E)
        orthogonal_block(omega, E, m, c0, m - c0 < E ? m - c0 : E, g, &s);
    free(g);
    return 0;
}
