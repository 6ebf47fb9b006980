/* xf_attn_tile.h — the products of full attention's online path (attention_tile.c).
 * Private to the runtime: attention.c and its tests.
 *
 * Keys are packed in panels of XF_KEY_PANEL: panel j holds keys [16j, 16j + 16) as
 * [E][16] (key s's element e at kp[(s / 16) · E · 16 + e · 16 + s % 16]), keys past
 * the last one zero. */
#ifndef XF_ATTN_TILE_H
#define XF_ATTN_TILE_H

#include <stdint.h>

enum { XF_KEY_PANEL = 64 };

/* Floats of n keys' panels: n rounded up to a panel, times E. */
int64_t xf__key_panels_size(int n, int E);

/* kp = the panels of k's n rows (E floats each, rows ld apart). */
void xf__key_panels(float *kp, const float *k, int64_t ld, int n, int E);

/* p[i·ldp + j] = q_i · k_j for i < rows, j < cols: q [rows, E] dense, kp the
 * panels of keys 0 .. cols (a panel's first key). */
void xf__tile_scores(float *p, int ldp, const float *q, const float *kp, int rows, int cols, int E);

/* The same scores, then per row i, in the same pass: p = 2^(score − m[i]),
 * sum[i] = Σ_j p[i·ldp + j], mx[i] = max_j score.  A row with m[i] < −1e38
 * (not started) first takes the max of its first 64 scores (its first panel) as m[i]. */
void xf__tile_scores_exp2(float *p, int ldp, float *m, float *sum, float *mx, const float *q,
                          const float *kp, int rows, int cols, int E);

/* o[i·ldo + d] += Σ_j p[i·ldp + j] · v[j·ldv + d] for i < rows, d < D, j < cols;
 * D a multiple of 16 (pad v's and o's rows). */
void xf__tile_pv(float *o, int ldo, const float *p, int ldp, const float *v, int ldv, int rows,
                 int cols, int D);

/* 1: the kernels above run their AVX-512 code (the CPU has it and the build
 * compiled it); 0: they run on the BLAS backend (xf_gemm_tile per key panel and
 * for P·V).  xf__tile_force_blas(1) makes them take that way (tests check both). */
int xf__tile_vector(void);
void xf__tile_force_blas(int on);

#endif /* XF_ATTN_TILE_H */
