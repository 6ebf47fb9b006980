/* attention_short.c — full attention of one (sample, head) over at most
 * SHORT_KEYS keys: both products and the softmax in one kernel.
 *
 * At batch 10 × seq 100 a head's products are 100 × 100 × 64 each: through
 * oneDNN they ran at ~60% of the FMA peak (its run-time-shape gemm, strided
 * heads: brgemm takes only dense operands) and the softmax between them was
 * two more passes over the 40 KiB score tile per head — together 11% of the
 * forward for 6% of its arithmetic.  Here, per head:
 *
 *   - the keys are transposed once, 16 × 16 in registers, into
 *     kt [E][≤ 128] (zero past the last key), and the values copied dense into
 *     vd [S][64] (zero past D): rows 3 KiB apart alias into a quarter of L1's
 *     sets, which the P·V loop, reading every value row once per row block,
 *     would thrash;
 *   - per block of R = 6 query rows: the scores q·kᵀ, 6 × (up to 4 vectors)
 *     accumulators at a time, into a small tile pb [R][≤ 128] that stays in
 *     L1; each row's max and 2^(x − max) there (scores in base 2: alpha
 *     carries temp · log2 e); then P·V, 6 × 4 accumulators over the visible
 *     keys, the 1/Σ applied at the store.
 *
 * Causal rows and key_len restrict the keys exactly as attend_block does
 * (attention.c): a block scores only the keys its last row sees, a row's
 * probabilities past its own limit are 0.  Masks, materialized attention
 * (AttentionEvent), E or D above 64 and CPUs without AVX-512 stay on
 * attend_block, as does everything under clang (no xf__exp2_16 there).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "xf_exp2.h"
#include "xf_simd.h"

enum {
    SHORT_KEYS = 128, /* keys at most: 8 vectors per score row */
    SHORT_DIM = 64,   /* E and D at most: 4 vectors */
    R = 6             /* query rows per block: 6 × 4 accumulators + 4 operands */
};

/* Keys the scratch has room for: S rounded up to a vector, at most SHORT_KEYS
 * (never decreasing as S grows). */
static int64_t keys_cap(const xf_attn_shape *sh) {
    int64_t s = sh->S > 0 ? ((int64_t)sh->S + 15) / 16 * 16 : 0;
    return s < SHORT_KEYS ? s : SHORT_KEYS;
}

int64_t xf__attention_short_scratch(const xf_attn_shape *sh) {
    if (sh->E <= 0 || sh->E > SHORT_DIM || sh->D <= 0 || sh->D > SHORT_DIM)
        return 0;
    /* kt [64][cap], vd [cap][64], pb [R][cap], the last block's queries
     * [R][64], and 16 to align: monotone in S, independent of L */
    const int64_t cap = keys_cap(sh);
    return 2 * SHORT_DIM * cap + R * cap + R * SHORT_DIM + 16;
}

#ifdef XF_EXP2_AVX512

/* The first n of 16 lanes (none for n ≤ 0, all for n ≥ 16). */
static inline __mmask16 lanes(int n) {
    return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* kt[e][0 .. 16) = k[j][e] for e < ne, j < 16: rows nj ≤ 16 of k (ks
 * apart, ne ≤ 16 columns read), the others zero.  The classic in-register
 * transpose: unpack 32-bit, unpack 64-bit, two rounds of 128-bit lane
 * shuffles. */
XF_AVX512 static void transpose16(float *kt, int ldt, const float *k, int64_t ks, int nj, int ne) {
    __m512 r[16], t[16];
    const __mmask16 em = lanes(ne);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        r[i] = i < nj ? _mm512_maskz_loadu_ps(em, k + i * ks) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]),
                      c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) { /* j = i mod 4 of half i / 4 */
        const int j = (i / 4) * 8 + i % 4;
        t[j] = _mm512_shuffle_f32x4(r[j], r[j + 4], 0x88);
        t[j + 4] = _mm512_shuffle_f32x4(r[j], r[j + 4], 0xdd);
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
    }
    for (int e = 0; e < ne; e++)
        _mm512_store_ps(kt + (int64_t)e * ldt, r[e]);
}

/* pb[R][v0·16 .. (v0+CW)·16) = alpha · q kᵀ for R query rows (qs apart) over
 * E, from kt (rows ldt apart).  CW (1–4) a constant after inlining: R × CW
 * accumulators, CW key vectors and a broadcast query element in registers. */
XF_AVX512 static inline __attribute__((always_inline)) void scores(float *pb, int ldt,
                                                                   const float *q, int64_t qs,
                                                                   const float *kt, int E, int v0,
                                                                   int CW, float alpha) {
    __m512 acc[R][4];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CW; c++)
            acc[r][c] = _mm512_setzero_ps();
    for (int e = 0; e < E; e++) {
        __m512 b[4];
#pragma GCC unroll 4
        for (int c = 0; c < CW; c++)
            b[c] = _mm512_load_ps(kt + (int64_t)e * ldt + (v0 + c) * 16);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const __m512 a = _mm512_set1_ps(q[r * qs + e]);
#pragma GCC unroll 4
            for (int c = 0; c < CW; c++)
                acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
        }
    }
    const __m512 s = _mm512_set1_ps(alpha);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CW; c++)
            _mm512_store_ps(pb + r * ldt + (v0 + c) * 16, _mm512_mul_ps(acc[r][c], s));
}

/* Row pr[0..lim) = 2^(pr − max), zero from lim to nv·16; returns 1/Σ. */
XF_AVX512 static float softmax_row(float *pr, int lim, int nv) {
    __m512 mx = _mm512_set1_ps(-INFINITY), sum = _mm512_setzero_ps();
    for (int c = 0; c * 16 < lim; c++)
        mx = _mm512_mask_max_ps(mx, lanes(lim - c * 16), mx, _mm512_load_ps(pr + c * 16));
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    for (int c = 0; c < nv; c++) {
        const __m512 x = _mm512_sub_ps(_mm512_load_ps(pr + c * 16), m);
        const __m512 e = _mm512_maskz_mov_ps(lanes(lim - c * 16), xf__exp2_16(x));
        _mm512_store_ps(pr + c * 16, e);
        sum = _mm512_add_ps(sum, e);
    }
    return 1.0f / _mm512_reduce_add_ps(sum);
}

/* o rows (vs apart, D columns) = inv[r] · Σ_j pb[r][j] vd[j] over j < nvis,
 * for the first `rows` of the block's R: R × 4 accumulators. */
XF_AVX512 static void values(float *o, int64_t vs, int D, int rows, const float *pb, int ldt,
                             const float *vd, int nvis, const float *inv) {
    __m512 acc[R][4];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            acc[r][c] = _mm512_setzero_ps();
    for (int j = 0; j < nvis; j++) {
        __m512 b[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            b[c] = _mm512_load_ps(vd + (int64_t)j * SHORT_DIM + c * 16);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const __m512 a = _mm512_set1_ps(pb[r * ldt + j]);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        if (r >= rows)
            break;
        const __m512 s = _mm512_set1_ps(inv[r]);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            if (c * 16 < D)
                _mm512_mask_storeu_ps(o + r * vs + c * 16, lanes(D - c * 16),
                                      _mm512_mul_ps(acc[r][c], s));
    }
}

/* The scores of one block, chunks of up to 4 vectors, each chunk width a
 * constant of its own instance of scores(). */
XF_AVX512 static void block_scores(float *pb, int ldt, const float *q, int64_t qs, const float *kt,
                                   int E, int nv, float alpha) {
    for (int v0 = 0; v0 < nv; v0 += 4)
        switch (nv - v0 < 4 ? nv - v0 : 4) {
            case 4: scores(pb, ldt, q, qs, kt, E, v0, 4, alpha); break;
            case 3: scores(pb, ldt, q, qs, kt, E, v0, 3, alpha); break;
            case 2: scores(pb, ldt, q, qs, kt, E, v0, 2, alpha); break;
            default: scores(pb, ldt, q, qs, kt, E, v0, 1, alpha); break;
        }
}

/* Share b of nb of the next head's queries, keys and values into L1 while
 * this head computes: the next head along the head strides, the driver's
 * next task (but after a sample's last head, where the addresses are the
 * rest of the rows).  The products' outputs (3 MiB of q, k and v at batch 10
 * × seq 100) have left L2 by then, and the transpose and the value copy
 * waited on their rows (perf: the transpose's share 1.2 → 0.7%). */
static void prefetch_next(const head_view *hv, const xf_attn_shape *sh, int b, int nb) {
    const int64_t qs = xf_ldq(sh), ks = xf_ldk(sh), lv = xf_ldv(sh);
    const int L = sh->L, E = sh->E, D = sh->D, klen = hv->klen;
    const int64_t hk = sh->hsk ? sh->hsk : E, hvs = sh->hsv ? sh->hsv : D; /* head strides */
    for (int j = klen * b / nb; j < klen * (b + 1) / nb; j++) {
        for (int e = 0; e < E; e += 16)
            __builtin_prefetch(hv->k + j * ks + hk + e, 0, 3);
        for (int d = 0; d < D; d += 16)
            __builtin_prefetch(hv->v + j * lv + hvs + d, 0, 3);
    }
    for (int i = L * b / nb; i < L * (b + 1) / nb; i++)
        for (int e = 0; e < E; e += 16)
            __builtin_prefetch(hv->q + i * qs + E + e, 0, 3);
}

XF_AVX512 static void short_head(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    const int L = sh->L, E = sh->E, D = sh->D, klen = hv->klen;
    const int64_t qs = xf_ldq(sh), ks = xf_ldk(sh), lv = xf_ldv(sh), vs = (int64_t)sh->H * D;
    const int ldt = (klen + 15) / 16 * 16; /* kt and pb rows */
    float *kt = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    const int64_t cap = keys_cap(sh); /* ≥ ldt: klen ≤ S */
    float *vd = kt + SHORT_DIM * cap, *pb = vd + cap * SHORT_DIM;
    float *qt = pb + R * cap; /* the last block's queries, padded to R rows */
    const float alpha = sh->temp * XF_LOG2E;

    for (int j0 = 0; j0 < klen; j0 += 16)
        for (int e0 = 0; e0 < E; e0 += 16)
            transpose16(kt + (int64_t)e0 * ldt + j0, ldt, hv->k + j0 * ks + e0, ks,
                        klen - j0 < 16 ? klen - j0 : 16, E - e0 < 16 ? E - e0 : 16);
    for (int j = 0; j < klen; j++) {
        const float *vj = hv->v + j * lv;
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) /* zero past D */
            _mm512_store_ps(vd + (int64_t)j * SHORT_DIM + c * 16,
                            _mm512_maskz_loadu_ps(lanes(D - c * 16), vj + c * 16));
    }

    const int nb = (L + R - 1) / R;
    for (int l0 = 0, b = 0; l0 < L; l0 += R, b++) {
        const int rows = L - l0 < R ? L - l0 : R;
        prefetch_next(hv, sh, b, nb);
        const float *q = hv->q + l0 * qs;
        int64_t ldq = qs;
        if (rows < R) { /* past the last query: zero rows, scored but never stored */
            memset(qt, 0, sizeof(float) * R * SHORT_DIM);
            for (int r = 0; r < rows; r++)
                memcpy(qt + r * SHORT_DIM, q + r * qs, sizeof(float) * (size_t)E);
            q = qt;
            ldq = SHORT_DIM;
        }
        /* keys the block's last row sees */
        const int p0 = sh->q0 + l0; /* the rows' position: causal limits count from it */
        const int nvis = sh->causal && p0 + R < klen ? p0 + R : klen;
        const int nv = (nvis + 15) / 16;
        block_scores(pb, ldt, q, ldq, kt, E, nv, alpha);
        float inv[R];
        for (int r = 0; r < R; r++) {
            const int lim = sh->causal && p0 + r + 1 < nvis ? p0 + r + 1 : nvis;
            inv[r] = softmax_row(pb + r * ldt, lim, nv);
        }
        values(hv->o + l0 * vs, vs, D, rows, pb, ldt, vd, nvis, inv);
    }
}

int xf__attend_short(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    if (hv->a || hv->mask || hv->klen > SHORT_KEYS || hv->klen < 1 ||
        xf__attention_short_scratch(sh) == 0 || !__builtin_cpu_supports("avx512f"))
        return 0;
    short_head(hv, sh, scratch);
    return 1;
}

#else

int xf__attend_short(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    (void)hv;
    (void)sh;
    (void)scratch;
    return 0;
}

#endif
