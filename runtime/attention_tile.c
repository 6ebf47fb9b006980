/* attention_tile.c — the two products of full attention's online path, in
 * registers (attention.c: per block of query rows, tiles of keys).
 *
 * On oneDNN's brgemm the tiles (128 × 512 × 64 both ways at seq 4096) ran at
 * 184 and 193 GFLOP/s alone, ~90% of one core's FMA peak, and the scores
 * made a round trip through L2 between their product and the exp pass.  Here
 * the head's keys are packed once into panels of 64 ([E][64], xf_attn_tile.h,
 * so a step over E reads 256 contiguous bytes); the scores of 6 query rows ×
 * 64 keys accumulate in 24 AVX-512 registers over E, and where the whole tile
 * is visible (no mask, and not on the causal diagonal) they are exponentiated
 * right there against the row's running max (xf__exp2_16), summed and their
 * max taken: only 2^(s − m) is stored.  The tile loop runs over panels
 * outermost, so a panel (16 KiB at E 64) stays in L1 while every row block
 * reads it; the rows' running sums and maxima stay vectors in a small array
 * until the end of the tile.  P·V: 6 rows × 64 output columns in 24 registers
 * over the tile's keys, 128 keys at a time (V's 32 KiB in L1).  Alone:
 * scores 195–205 GFLOP/s, scores + exp 170–180, P·V 197–205; in place, one
 * seq-4096 layer's attention took 3–5% less CPU time than on oneDNN.
 *
 * Tried and dropped: running each block's exp inside the next block's
 * product (5 × 4 blocks, 3 vectors per 8 steps of E; faster alone, 20% slower
 * in place), key tiles of 256 or 1024 (no better than 512).
 *
 * Without AVX-512 (or outside x86-64 GCC) the same layouts run on the BLAS
 * backend: a panel's scores are one product (xf_gemm_tile), as is P·V.
 */
#include <math.h>
#include <string.h>

#include "xf_attn_tile.h"
#include "xf_blas.h"
#include "xf_exp2.h"
#include "xf_simd.h"

/* RB query rows × KB panels of scores, PR rows × KB·16 outputs of P·V:
 * 24 registers each */
enum { RB = 6, PR = 6, KB = 4, CB = KB * 16, ROW_CHUNK = 128, PV_KEYS = 128 };

int64_t xf__key_panels_size(int n, int E) {
    return (int64_t)(n + XF_KEY_PANEL - 1) / XF_KEY_PANEL * XF_KEY_PANEL * E;
}

#ifdef XF_EXP2_AVX512
/* dst[c · 64 + r] = src[r · ld + c] for r, c < 16: a 16 × 16 block of keys ×
 * elements into a panel's rows, by unpacks and lane shuffles in registers
 * (a layer in blocks of rows packs a head's keys once per block). */
__attribute__((target("avx512f"))) static void transpose16(float *dst, const float *src,
                                                           int64_t ld) {
    __m512 r[16], t[16], u[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_loadu_ps(src + i * ld);
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* u[4i + j], lane L: column 4L + j of rows 4i .. 4i + 3 */
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
        __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    for (int j = 0; j < 4; j++) { /* column 4L + j: lane L of u[j], u[4 + j], u[8 + j], u[12 + j] */
        __m512 p = _mm512_shuffle_f32x4(u[j], u[4 + j], _MM_SHUFFLE(1, 0, 1, 0));
        __m512 q = _mm512_shuffle_f32x4(u[j], u[4 + j], _MM_SHUFFLE(3, 2, 3, 2));
        __m512 p2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(1, 0, 1, 0));
        __m512 q2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(3, 2, 3, 2));
        _mm512_storeu_ps(dst + (0 + j) * XF_KEY_PANEL,
                         _mm512_shuffle_f32x4(p, p2, _MM_SHUFFLE(2, 0, 2, 0)));
        _mm512_storeu_ps(dst + (4 + j) * XF_KEY_PANEL,
                         _mm512_shuffle_f32x4(p, p2, _MM_SHUFFLE(3, 1, 3, 1)));
        _mm512_storeu_ps(dst + (8 + j) * XF_KEY_PANEL,
                         _mm512_shuffle_f32x4(q, q2, _MM_SHUFFLE(2, 0, 2, 0)));
        _mm512_storeu_ps(dst + (12 + j) * XF_KEY_PANEL,
                         _mm512_shuffle_f32x4(q, q2, _MM_SHUFFLE(3, 1, 3, 1)));
    }
}
#endif

void xf__key_panels(float *kp, const float *k, int64_t ld, int n, int E) {
    for (int j0 = 0; j0 < n; j0 += XF_KEY_PANEL) {
        float *pj = kp + (int64_t)j0 * E;
        const int keys = n - j0 < XF_KEY_PANEL ? n - j0 : XF_KEY_PANEL;
        int s0 = 0;
#ifdef XF_EXP2_AVX512
        int e0 = 0;
        if (xf__tile_vector()) /* whole 16 × 16 blocks in registers, the rest below */
            for (; s0 + 16 <= keys; s0 += 16)
                for (e0 = 0; e0 + 16 <= E; e0 += 16)
                    transpose16(pj + (int64_t)e0 * XF_KEY_PANEL + s0, k + (j0 + s0) * ld + e0, ld);
        for (int s = 0; s < s0; s++) /* the blocks' rows past the last whole 16 of E */
            for (int e = e0; e < E; e++)
                pj[e * XF_KEY_PANEL + s] = k[(j0 + s) * ld + e];
#endif
        for (int s = s0; s < keys; s++) {
            const float *ks = k + (j0 + s) * ld;
            for (int e = 0; e < E; e++)
                pj[e * XF_KEY_PANEL + s] = ks[e];
        }
        for (int s = keys; s < XF_KEY_PANEL; s++) /* the last panel's missing keys */
            for (int e = 0; e < E; e++)
                pj[e * XF_KEY_PANEL + s] = 0.0f;
    }
}

static int force_blas; /* tests only, set while no other thread is in a kernel */

void xf__tile_force_blas(int on) {
    force_blas = on;
}

/* ---- on the BLAS backend (no AVX-512) --------------------------------------- */

/* A panel is a dense [E][64] matrix, so a panel's scores are one NN product
 * of the queries with it: the backend's kernels (oneDNN's brgemm for the
 * repeated shapes, or OpenBLAS) keep a CPU without AVX-512 at BLAS speed. */
static void blas_scores(float *p, int ldp, const float *q, const float *kp, int rows, int cols,
                        int E) {
    for (int j0 = 0; j0 < cols; j0 += XF_KEY_PANEL) {
        const int keys = cols - j0 < XF_KEY_PANEL ? cols - j0 : XF_KEY_PANEL;
        xf_gemm_tile(XF_NOTRANS, XF_NOTRANS, rows, keys, E, 1.0f, q, E, kp + (int64_t)j0 * E,
                     XF_KEY_PANEL, 0.0f, p + j0, ldp);
    }
}

static void blas_scores_exp2(float *p, int ldp, float *m, float *sum, float *mx, const float *q,
                             const float *kp, int rows, int cols, int E) {
    blas_scores(p, ldp, q, kp, rows, cols, E);
    for (int i = 0; i < rows; i++) {
        float *pi = p + (int64_t)i * ldp;
        if (m[i] < -1e38f) /* as the vector path: its first block of keys */
            m[i] = row_max(pi, cols < XF_KEY_PANEL ? cols : XF_KEY_PANEL);
        sum[i] = xf__exp2_shift_sum_max(pi, cols, m[i], &mx[i]);
    }
}

static void blas_pv(float *o, int ldo, const float *p, int ldp, const float *v, int ldv, int rows,
                    int cols, int D) {
    xf_gemm_tile(XF_NOTRANS, XF_NOTRANS, rows, D, cols, 1.0f, p, ldp, v, ldv, 1.0f, o, ldo);
}

/* ---- AVX-512 --------------------------------------------------------------- */

#ifdef XF_EXP2_AVX512
#define AVX512 __attribute__((target("avx512f")))
#define UNROLL _Pragma("GCC unroll 8")

/* acc[r][c] = q_r · keys 16c .. 16c + 16 of the panel kp (R ≤ RB rows a
 * constant after inlining, so acc lives in registers). */
AVX512 XF_INLINE void scores_block(__m512 acc[RB][KB], const float *q, int E, const float *kp,
                                   int R) {
    enum { NP = KB };
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < NP; c++) acc[r][c] =
        _mm512_setzero_ps();
    for (int e = 0; e < E; e++) {
        __m512 b[KB];
        UNROLL for (int c = 0; c < NP; c++) b[c] =
            _mm512_loadu_ps(kp + (int64_t)e * XF_KEY_PANEL + c * 16);
        UNROLL for (int r = 0; r < R; r++) {
            __m512 a = _mm512_set1_ps(q[(int64_t)r * E + e]);
            UNROLL for (int c = 0; c < NP; c++) acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
        }
    }
}

/* Lanes of vector c (of the panel from key j) that hold keys < cols. */
XF_INLINE __mmask16 panel_mask(int j, int c, int cols) {
    int n = cols - j - c * 16;
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* Rows 0 .. R of the panel of keys j .. j + 64, stored as scores or, when
 * ex, exponentiated against m: vs / vx hold each row's running vector sum
 * and max; a row not started (m < −1e38) takes its first block's max. */
AVX512 XF_INLINE void scores_rows(float *p, int ldp, float *m, __m512 *vs, __m512 *vx,
                                  const float *q, const float *kp, int E, int j, int cols, int R,
                                  int ex) {
    enum { NP = KB };
    __m512 acc[RB][KB];
    scores_block(acc, q, E, kp + (int64_t)j * E, R);
    UNROLL for (int r = 0; r < R; r++) {
        float *pr = p + (int64_t)r * ldp + j;
        if (!ex) {
            UNROLL for (int c = 0; c < NP; c++)
                _mm512_mask_storeu_ps(pr + c * 16, panel_mask(j, c, cols), acc[r][c]);
            continue;
        }
        __m512 hi = vx[r];
        UNROLL for (int c = 0; c < NP; c++) { /* keys past cols: −inf, 2^(−inf) = 0 */
            acc[r][c] =
                _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), panel_mask(j, c, cols), acc[r][c]);
            hi = _mm512_max_ps(hi, acc[r][c]);
        }
        vx[r] = hi;
        if (m[r] < -1e38f)
            m[r] = _mm512_reduce_max_ps(hi);
        const __m512 vm = _mm512_set1_ps(m[r]);
        __m512 s = vs[r];
        UNROLL for (int c = 0; c < NP; c++) {
            __m512 e = xf__exp2_16(_mm512_sub_ps(acc[r][c], vm));
            _mm512_mask_storeu_ps(pr + c * 16, panel_mask(j, c, cols), e);
            s = _mm512_add_ps(s, e);
        }
        vs[r] = s;
    }
}

/* Every row of the tile against the panel of keys j .. j + 64 (m NULL
 * unless ex). */
AVX512 XF_INLINE void scores_cols(float *p, int ldp, float *m, __m512 *vs, __m512 *vx,
                                  const float *q, const float *kp, int E, int j, int rows, int cols,
                                  int ex) {
    int i = 0;
    for (; i + RB <= rows; i += RB)
        scores_rows(p + (int64_t)i * ldp, ldp, ex ? m + i : NULL, vs + i, vx + i,
                    q + (int64_t)i * E, kp, E, j, cols, RB, ex);
    for (; i < rows; i++)
        scores_rows(p + (int64_t)i * ldp, ldp, ex ? m + i : NULL, vs + i, vx + i,
                    q + (int64_t)i * E, kp, E, j, cols, 1, ex);
}

/* Every row of the tile (rows ≤ ROW_CHUNK), block of keys by block: scores,
 * or with ex their 2^(s − m) and the rows' sums and maxima. */
AVX512 static void tile_avx512(float *p, int ldp, float *m, float *sum, float *mx, const float *q,
                               const float *kp, int rows, int cols, int E, int ex) {
    __m512 vs[ROW_CHUNK], vx[ROW_CHUNK];
    for (int i = 0; i < rows; i++) {
        vs[i] = _mm512_setzero_ps();
        vx[i] = _mm512_set1_ps(-INFINITY);
    }
    for (int j = 0; j < cols; j += XF_KEY_PANEL) /* the last one may be partial */
        scores_cols(p, ldp, m, vs, vx, q, kp, E, j, rows, cols, ex);
    if (ex)
        for (int i = 0; i < rows; i++) {
            sum[i] = _mm512_reduce_add_ps(vs[i]);
            mx[i] = _mm512_reduce_max_ps(vx[i]);
        }
}

/* o rows r0 .. r0+R, columns d .. d+NZ·16, += p · v over keys k0 .. k1. */
AVX512 XF_INLINE void pv_block(float *o, int ldo, const float *p, int ldp, const float *v, int ldv,
                               int k0, int k1, int R, int NZ) {
    __m512 acc[PR][KB];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int z = 0; z < NZ; z++) acc[r][z] =
        _mm512_loadu_ps(o + (int64_t)r * ldo + z * 16);
    for (int k = k0; k < k1; k++) {
        __m512 b[KB];
        UNROLL for (int z = 0; z < NZ; z++) b[z] = _mm512_loadu_ps(v + (int64_t)k * ldv + z * 16);
        UNROLL for (int r = 0; r < R; r++) {
            __m512 a = _mm512_set1_ps(p[(int64_t)r * ldp + k]);
            UNROLL for (int z = 0; z < NZ; z++) acc[r][z] = _mm512_fmadd_ps(a, b[z], acc[r][z]);
        }
    }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int z = 0; z < NZ; z++)
        _mm512_storeu_ps(o + (int64_t)r * ldo + z * 16, acc[r][z]);
}

/* pv_block with NZ = nz (1..4) a constant. */
AVX512 XF_INLINE void pv_cols(float *o, int ldo, const float *p, int ldp, const float *v, int ldv,
                              int k0, int k1, int R, int nz) {
    switch (nz) {
        case 4: pv_block(o, ldo, p, ldp, v, ldv, k0, k1, R, 4); break;
        case 3: pv_block(o, ldo, p, ldp, v, ldv, k0, k1, R, 3); break;
        case 2: pv_block(o, ldo, p, ldp, v, ldv, k0, k1, R, 2); break;
        default: pv_block(o, ldo, p, ldp, v, ldv, k0, k1, R, 1); break;
    }
}

AVX512 static void pv_avx512(float *o, int ldo, const float *p, int ldp, const float *v, int ldv,
                             int rows, int cols, int D) {
    for (int k0 = 0; k0 < cols; k0 += PV_KEYS) {
        const int k1 = cols - k0 < PV_KEYS ? cols : k0 + PV_KEYS;
        for (int d = 0; d < D; d += CB) {
            const int nz = (D - d < CB ? D - d : CB) / 16;
            int i = 0;
            for (; i + PR <= rows; i += PR)
                pv_cols(o + (int64_t)i * ldo + d, ldo, p + (int64_t)i * ldp, ldp, v + d, ldv, k0,
                        k1, PR, nz);
            for (; i < rows; i++)
                pv_cols(o + (int64_t)i * ldo + d, ldo, p + (int64_t)i * ldp, ldp, v + d, ldv, k0,
                        k1, 1, nz);
        }
    }
}
#endif

int xf__tile_vector(void) {
#ifdef XF_EXP2_AVX512
    return !force_blas && __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

/* ---- entry points: rows in chunks of ROW_CHUNK ------------------------------ */

void xf__tile_scores(float *p, int ldp, const float *q, const float *kp, int rows, int cols,
                     int E) {
#ifdef XF_EXP2_AVX512
    if (xf__tile_vector()) {
        for (int i = 0; i < rows; i += ROW_CHUNK)
            tile_avx512(p + (int64_t)i * ldp, ldp, NULL, NULL, NULL, q + (int64_t)i * E, kp,
                        rows - i < ROW_CHUNK ? rows - i : ROW_CHUNK, cols, E, 0);
        return;
    }
#endif
    blas_scores(p, ldp, q, kp, rows, cols, E);
}

void xf__tile_scores_exp2(float *p, int ldp, float *m, float *sum, float *mx, const float *q,
                          const float *kp, int rows, int cols, int E) {
#ifdef XF_EXP2_AVX512
    if (xf__tile_vector()) {
        for (int i = 0; i < rows; i += ROW_CHUNK)
            tile_avx512(p + (int64_t)i * ldp, ldp, m + i, sum + i, mx + i, q + (int64_t)i * E, kp,
                        rows - i < ROW_CHUNK ? rows - i : ROW_CHUNK, cols, E, 1);
        return;
    }
#endif
    blas_scores_exp2(p, ldp, m, sum, mx, q, kp, rows, cols, E);
}

void xf__tile_pv(float *o, int ldo, const float *p, int ldp, const float *v, int ldv, int rows,
                 int cols, int D) {
#ifdef XF_EXP2_AVX512
    if (xf__tile_vector()) {
        pv_avx512(o, ldo, p, ldp, v, ldv, rows, cols, D);
        return;
    }
#endif
    blas_pv(o, ldo, p, ldp, v, ldv, rows, cols, D);
}
