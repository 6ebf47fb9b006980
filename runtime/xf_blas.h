/* xf_blas.h — what the runtime asks of the library that computes its matrix
 * products (private to libxfrt).  Exactly one backend is compiled in, chosen
 * by -DXF_BLAS at configure time (cmake/XfBlas.cmake):
 *
 *   blas_onednn.c    oneDNN matmul primitives; each weight reordered once at
 *                    load into the blocked layout the primitive chose
 *   blas_openblas.c  cblas_sgemm on the transposed [in, out] weights
 *
 * Both run xf_linear on the pointer xf_weights_get_t returned (made by
 * xf_blas_weight) or on a plain [in, out] array, so generated code is the
 * same whichever backend runs it.
 */
#ifndef XF_BLAS_H
#define XF_BLAS_H

#include <stdint.h>

#include "xf_kernels.h"
#include "xfrt.h"

/* y[n,out] = act(x[n,in] · wt[in,out] + b[out]); b may be NULL.  The
 * activation rides in the product where the backend can fuse it. */
void xf_linear_act(float *y, const float *x, const float *wt, const float *b, int n, int in,
                   int out, xf_activation act);

/* ---- products of a few rows (gemv.c) ------------------------------------ */

/* Rows at most that the oneDNN backend's xf_linear runs as matrix–vector
 * products (xf_gemv), which stream each weight once, rather than as a matmul
 * primitive: a generation step's batch. */
enum { XF_GEMV_ROWS = 8 };

/* y[n,out] = act(x[n,in] · W + b[out]), b may be NULL, for W [in, out] laid out
 * as panels of 64 output columns, [ceil(out/64)][kpad][64] (kpad ≥ in rows per
 * panel, the last panel padded to 64 columns): oneDNN's BA16a64b, the layout
 * its AVX-512 kernels pack weights in, read in place. */
void xf_gemv(float *y, const float *x, const float *w, int64_t kpad, const float *b, int n, int in,
             int out, xf_activation act);

/* dst = torch's weight rows w[out, in] as the [in, out] operand in xf_gemv's
 * panels, [ceil(out/64)][kpad][64] (kpad ≥ in), the padding
 * zeroed: what oneDNN's reorder into BA16a64b writes, without the reorder's
 * kernel generation (~1 ms of a load, docs/PERFORMANCE.md). */
void xf_pack_panels(float *dst, const float *w, int64_t out, int64_t in, int64_t kpad);

/* oneDNN: whether the layout [in, out] weights are packed in without asking
 * oneDNN (xf_gemv's panels, on AVX-512 for in % 16 = 0, out % 64 = 0) is the one
 * its matmul primitives pick: 1 yes, 0 no (the products would then unpack
 * the weights at every call), -1 no prediction made for that shape or ISA
 * (asked at load instead).  OpenBLAS: -1.  For tests. */
int xf_blas_layout_predicted(int64_t in, int64_t out);

/* c[m,n] = alpha · op(a)[m,k] · op(b)[k,n] + beta · c, row-major, rows of
 * a, b, c lda, ldb, ldc floats apart; op(x) = xᵀ when its flag is XF_TRANS
 * (cblas_sgemm's row-major contract).  Attention's products, whose shapes
 * change from call to call; beta is 0 or 1 there. */
typedef enum { XF_NOTRANS, XF_TRANS } xf_trans;
void xf_gemm(xf_trans ta, xf_trans tb, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc);

/* xf_gemm for the tiniest products (a short sequence's attention heads: 16 ×
 * 16 × 64 at seq 16), computed in place without a library call (gemm_small.c):
 * m·n·k at most XF_SMALL_DIRECT, k · n (rounded up to 16) at most
 * XF_SMALL_PACKED, beta 0 or 1.  Returns 0, having done nothing, for any other
 * product.  The oneDNN backend runs its xf_gemm through it first: a primitive
 * call costs more than such a product's arithmetic. */
enum { XF_SMALL_DIRECT = 32 * 32 * 64, XF_SMALL_PACKED = 4096 };
int xf_gemm_small(xf_trans ta, xf_trans tb, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* xf_gemm for a shape the caller repeats many times: the backend may make a
 * kernel for exactly this shape, once (full attention's online tiles where
 * attention_tile.c has no AVX-512 kernels: per key panel and for P·V).  oneDNN: a fixed-shape primitive (its brgemm kernels, ~20% faster at
 * 128 × 512 × 64 than the run-time-shape gemm) while the process holds fewer
 * than XF_FIXED_SHAPES, else xf_gemm; OpenBLAS: xf_gemm. */
void xf_gemm_tile(xf_trans ta, xf_trans tb, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* oneDNN: the fixed-shape products' table, shared by xf_gemm_tile and
 * xf_gemm's small products (m·n·k ≤ 32 × 32 × 64), one primitive per (layouts,
 * beta, m, n, k, alpha), made on first use and kept for the process; past
 * XF_FIXED_SHAPES a product runs on the run-time-shape path.  It returns how
 * many the process holds (OpenBLAS: always 0). */
enum { XF_FIXED_SHAPES = 24 };
int xf_blas_fixed_shapes(void);

/* The operand xf_linear multiplies by for torch's weight rows w[out, in]
 * (nn.Linear's layout, rows `in` apart): the transposed [in, out] panel on
 * OpenBLAS; on oneDNN the weights reordered into its kernels' blocked
 * layout, filed in a registry under the returned address.  Only xf_linear
 * may read it.  Called at load by xf_weights_get_t, which names the weight
 * `file: tensor NAME` in the one-line error (out of memory); freed by
 * xf_blas_free_weight. */
float *xf_blas_weight(const float *w, int64_t out, int64_t in, const char *file, const char *tensor,
                      xf_error *err);
void xf_blas_free_weight(float *wt);

/* Storage for packed weights (pages.c): 64-byte aligned, from huge-page chunks
 * populated at allocation, so packing does not fault page by page.  NULL when
 * out of memory; xf_pages_free(NULL) does nothing. */
void *xf_pages_alloc(size_t bytes);
void xf_pages_free(void *p);

/* c[m, n] (rows ldc apart) *= beta; 0 when beta is 0, whatever c held (kernels.c). */
void xf_scale_matrix(float *c, int m, int n, int ldc, float beta);

/* dst[cols, rows] = src[rows, cols]ᵀ, src rows `ld` apart (kernels.c). */
void xf_transpose(float *dst, const float *src, int64_t rows, int64_t cols, int64_t ld);

/* [in, out] = w[out, in]ᵀ in an xf_pages_alloc copy, or NULL with "FILE: tensor T: out of
 * memory" (kernels.c): the plain weight layout of either backend. */
float *xf_transposed_copy(const float *w, int64_t out, int64_t in, const char *file,
                          const char *tensor, xf_error *err);

/* Threads of the backend's own parallel loops (n >= 1), and how many the
 * calling thread's next product would use. */
void xf_blas_set_threads(int n);
int xf_blas_threads(void);

/* "onednn" or "openblas": which backend this libxfrt was built with. */
const char *xf_blas_name(void);

#endif /* XF_BLAS_H */
