/* xf_io.h — files in and out: safetensors weights, .npy arrays.
 *
 * Every error names the file and, where there is one, the tensor:
 *   "w.safetensors: tensor layers.0.linear1.weight: shape [96,64], expected [128,64]"
 */
#ifndef XF_IO_H
#define XF_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "xfrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- safetensors -------------------------------------------------------- */

typedef struct xf_weights xf_weights;

/* Opens (mmap) and validates a whole safetensors file: header length, JSON,
 * every entry's dtype (F32, F16, BF16; I64 read as floats), shape, and data_offsets inside the
 * file, in order, not overlapping, sized shape × dtype. */
xf_weights *xf_weights_open(const char *path, xf_error *err);

/* The same over bytes already in memory (weights embedded in a binary);
 * `name` is what errors call the file.  The bytes must outlive the result. */
xf_weights *xf_weights_from_memory(const void *bytes, size_t len, const char *name, xf_error *err);

/* The tensor `tensor` as float32, checked to have exactly `rank` dims equal
 * to `shape`.  F16/BF16 are converted once (the copy is owned by w); F32 is
 * used in place when aligned.  NULL + error when missing or misshaped. */
const float *xf_weights_get(xf_weights *w, const char *tensor, int rank, const int64_t *shape,
                            xf_error *err);

/* Rows [row0, row0 + nrows) of the 2-D tensor `tensor` (checked to be
 * [rows, cols], torch's nn.Linear layout [out, in]) as the weight operand of
 * xf_linear(…, in = cols, out = nrows), owned by w: the [cols, nrows] float32
 * transpose, or on the oneDNN build the weights in its kernels' blocked
 * layout — pass it to xf_linear only.  Torch's packed in_proj is sliced
 * this way. */
const float *xf_weights_get_t(xf_weights *w, const char *tensor, int64_t rows, int64_t cols,
                              int64_t row0, int64_t nrows, xf_error *err);

/* Fast-transformers' projections `module`.proj[i] (n ≤ XF_MAX_STACKED), as
 * one product: *wt the operand of xf_linear(…, in = cols, out = Σ rows) made
 * of their weights (each checked to be [rows[i], cols]) stacked in order, as
 * xf_weights_get_t makes one, and *bias their biases [rows[i]] one after the
 * other; both owned by w.  The query, key and value projections of a
 * self-attention this way are one product instead of three. */
enum { XF_MAX_STACKED = 3, XF_NAME_CAP = 512 };
int xf_weights_get_projections(xf_weights *w, const char *module, int n, const char *const *proj,
                               const int64_t *rows, int64_t cols, const float **wt,
                               const float **bias, xf_error *err);

/* 1 when the file has a tensor of that name (optional tensors). */
int xf_weights_has(const xf_weights *w, const char *tensor);

/* `floats` floats owned by w (freed by xf_weights_close): what a model draws
 * at load in place of an optional tensor the file lacks. */
float *xf_weights_alloc(xf_weights *w, int64_t floats, xf_error *err);

/* After all gets: fails naming the first tensor of the file never asked
 * for (the weights of a different model, or a layer too many).  Ends the
 * load: closes the file (its mapping stays) and drops the buffer that
 * xf_weights_get_t read weights through. */
int xf_weights_check_all_used(xf_weights *w, xf_error *err);

void xf_weights_close(xf_weights *w);

/* ---- .npy (float32, little-endian, C order) ------------------------------ */

typedef struct {
    int rank; /* 1..4 */
    int64_t shape[4];
    float *data; /* malloc'd, product(shape) floats */
} xf_array;

/* Reads a .npy file of '<f4' C-order data; anything else is an error naming
 * the file (magic, version, dtype, fortran_order, rank, truncated). */
int xf_npy_read(const char *path, xf_array *out, xf_error *err);

/* Reads path's float32 data again into a->data, the buffer xf_npy_read filled
 * from it (its shape maybe given another rank, as long as the count is the
 * same): --bench runs the forward in place over its input and restores the
 * input before each run.  A file that changed dtype or count is an error
 * naming it. */
int xf_npy_reread(const char *path, xf_array *a, xf_error *err);

/* An attention mask (fast-transformers' FullMask, --mask / --memory-mask):
 * float32 added to the scores (0 keep, -inf drop) or bool (true keep, made
 * 0 / -inf), shaped [L, S] (every sample) or [batch, L, S]; any other dtype
 * or shape, NaN or +inf is an error naming the file. */
int xf_npy_read_mask(const char *path, int batch, int L, int S, xf_array *out, xf_error *err);

/* Writes data as .npy through xf_write_output (below: "-" is standard
 * output; a FIFO or device is written in place; a regular file is replaced
 * atomically, a failure leaves no partial file).  Creates missing parent
 * directories. */
int xf_npy_write(const char *path, const float *data, int rank, const int64_t *shape,
                 xf_error *err);

void xf_array_free(xf_array *a);

/* ---- token ids (.npy int32/int64, little-endian, C order) ---------------- */

typedef struct {
    int rank;       /* 1 ([L]: one row) or 2 ([N, L]) */
    int rows, cols; /* N, L (rank 1: 1, L) */
    int32_t *data;  /* malloc'd [rows, cols] ids (int64 files narrowed) */
} xf_ids;

/* Reads token ids: dtype '<i4' or '<i8', rank 1 or 2, C order, the data
 * exactly as long as the shape says.  Fails with one line naming the file
 * for a float (or any other) dtype, another rank, a dimension past INT32_MAX,
 * an empty dimension, an int64 id that does not fit int32, truncated or trailing data, and all
 * that xf_npy_read refuses in the header.  Range checks against a
 * vocabulary are xf_check_ids's (xf_generate.h). */
int xf_npy_read_ids(const char *path, xf_ids *out, xf_error *err);
void xf_ids_free(xf_ids *a);

/* Writes int32 token ids (e.g. a generation's [N, L + K]) as '<i4' .npy, the
 * same way as xf_npy_write (temporary file, then rename). */
int xf_npy_write_ids(const char *path, const int32_t *ids, int rank, const int64_t *shape,
                     xf_error *err);

/* mkdir -p of the directory part of `path` (helper for every writer). */
int xf_make_parent_dirs(const char *path, xf_error *err);

/* ---- outputs (output.c; docs/RELIABILITY.md "Outputs") ------------------ */

/* Writes one output file; put(fp, ctx) writes the content and returns 0, or
 * -1 (errno set).  "-" is standard output; an existing path that is not a
 * regular file or a directory (FIFO, character device, symlink such as
 * /dev/stdout) is opened and written in place, never renamed over or
 * unlinked; anything else goes to PATH.tmp.XXXXXX in the same directory,
 * fsync'd and renamed onto PATH.  A failure (ENOSPC, EPIPE, EIO, …) is one
 * line in err naming the path, with no temporary file left behind; SIGPIPE
 * never kills the process here.  Does not create directories. */
typedef int (*xf_put_fn)(FILE *fp, void *ctx);
int xf_write_output(const char *path, xf_put_fn put, void *ctx, xf_error *err);

/* SIGINT, SIGTERM and SIGHUP (those not ignored) remove the temporary
 * files of the writes in flight, then kill the process with the same signal
 * (a shell sees status 130 / 143 / 129): an interrupted run leaves no
 * temporary and no partial output.  The generated command-line drivers call
 * it first thing; a library never installs signal handlers by itself. */
void xf_cleanup_on_signals(void);

/* What that handler does, for a program with handlers of its own:
 * async-signal-safe (unlink only). */
void xf_remove_pending_outputs(void);

/* xf_write_output of len bytes. */
int xf_write_bytes(const char *path, const void *data, size_t len, xf_error *err);

#ifdef __cplusplus
}
#endif

#endif /* XF_IO_H */
