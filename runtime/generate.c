/* generate.c — token embedding, positions, and full attention one position
 * at a time against a KV cache (xf_generate.h, SPEC §8).
 *
 * A generated token's step is one query row per (sample, head) against the
 * len keys and values cached so far: two passes over len·(E + D) floats and
 * nothing to reuse between them, so it is bound by reading the cache
 * (docs/PERFORMANCE.md).  The cache is laid out for that read: per (sample,
 * head) one contiguous run of key blocks, each KB keys transposed, so q·Kᵀ
 * is KB scores per block of vertical FMAs, and one contiguous run of value
 * rows, read once per 64 output columns held in registers.  Up to four
 * heads of a sample are read together (attend_four: four streams of the
 * cache in flight; each head's sums in the order of the one-head path, so
 * the results are the same bits).  Heads go to the runtime's pool when a
 * step reads enough of the cache to pay for waking it.
 *
 * The softmax is the batch kernel's (xf_simd.h): two-pass over the scores
 * when they fit one block of STEP_KEYS, the same online (flash-attention)
 * recurrence as attention.c beyond — so a step needs no scratch and its
 * result equals row len-1 of a causal xf_attention over the sequence.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xf_blas.h" /* xf_pages_alloc */
#include "xf_generate.h"
#include "xf_kernels.h"
#include "xf_simd.h" /* exp, row max, prefetch; GCC no-trapping-math */

/* ---- embedding and positions --------------------------------------------- */

/* Computed as torch's tutorial does, in float32: div = exp(2i · (−ln 10000 / d)),
 * then sin/cos of the float product p · div, so the table matches the one a
 * PyTorch model was trained with to the last bits rather than the formula. */
void xf_sinusoidal_table(float *pe, int max_pos, int d) {
    const float c = (float)(-9.210340371976184 / d); /* −ln(10000) / d */
    for (int i = 0; i < d; i += 2) {
        float div = (float)exp((double)((float)i * c));
        for (int p = 0; p < max_pos; p++) {
            double arg = (double)((float)p * div);
            pe[(int64_t)p * d + i] = (float)sin(arg);
            if (i + 1 < d)
                pe[(int64_t)p * d + i + 1] = (float)cos(arg);
        }
    }
}

int xf_check_ids(const int32_t *ids, int64_t count, int cols, int vocab, const char *what,
                 xf_error *err) {
    for (int64_t n = 0; n < count; n++)
        if (ids[n] < 0 || ids[n] >= vocab) {
            int64_t c = cols > 0 ? cols : 1;
            return xf_fail(err, "%s: token id %d at [%lld, %lld] is out of range 0..%d", what,
                           ids[n], (long long)(n / c), (long long)(n % c), vocab - 1);
        }
    return 0;
}

void xf_embed(float *x, const xf_embedding *e, const int32_t *ids, int N, int L, int pos0) {
    const int d = e->d;
    for (int64_t r = 0; r < (int64_t)N * L; r++) {
        float *xr = x + r * d;
        const float *t = e->tok + (int64_t)ids[r] * d;
        for (int i = 0; i < d; i++)
            xr[i] = t[i] * e->scale;
        if (e->pos) {
            const float *p = e->pos + (int64_t)(pos0 + r % L) * d;
            for (int i = 0; i < d; i++)
                xr[i] += p[i];
        }
    }
}

/* ---- KV cache -------------------------------------------------------------- */

/* Per (sample, head) the keys are stored in blocks of KB positions, each block
 * transposed ([E][KB]), and the values as plain rows ([cap][D]): a step's
 * q·Kᵀ reads one contiguous run of memory per head and scores KB keys with
 * vertical FMAs only (no horizontal sum per key), and its p·V reads another.
 * A step appends one column and one row in place; nothing is re-laid out. */
enum { KB = 16 };

static int64_t key_rows(int cap) { /* cap rounded up to whole key blocks */
    return ((int64_t)cap + KB - 1) / KB * KB;
}

/* count · 4 bytes, refusing non-positive sizes and overflow. */
static int cache_floats(int64_t *count, const int64_t *dims, int n) {
    int64_t c = 1;
    for (int i = 0; i < n; i++)
        if (dims[i] <= 0 || __builtin_mul_overflow(c, dims[i], &c))
            return -1;
    if (c > (int64_t)(SIZE_MAX / 8))
        return -1;
    *count = c;
    return 0;
}

int xf_kv_cache_init(xf_kv_cache *c, int N, int cap, int H, int E, int D, xf_error *err) {
    memset(c, 0, sizeof *c);
    int64_t nk, nv;
    if (cap <= 0 || cache_floats(&nk, (int64_t[]){N, H, key_rows(cap), E}, 4) ||
        cache_floats(&nv, (int64_t[]){N, H, cap, D}, 4))
        return xf_fail(err, "KV cache: invalid size N %d × max_len %d × heads %d × (%d + %d)", N,
                       cap, H, E, D);
    /* From huge-page chunks populated in one call (pages.c): a generation's
     * state costs a handful of page faults, not one per 4 KiB, and the next
     * state of a loop reuses the chunk.  Its contents are not zeroed: append
     * zeroes a key block when it starts one. */
    c->k = xf_pages_alloc((size_t)nk * sizeof(float));
    c->v = xf_pages_alloc((size_t)nv * sizeof(float));
    if (!c->k || !c->v) {
        xf_kv_cache_free(c);
        return xf_fail(err, "KV cache: out of memory for %lld bytes (N %d × max_len %d)",
                       (long long)(nk + nv) * 4, N, cap);
    }
    c->N = N, c->cap = cap, c->H = H, c->E = E, c->D = D;
    return 0;
}

void xf_kv_cache_free(xf_kv_cache *c) {
    xf_pages_free(c->k);
    xf_pages_free(c->v);
    memset(c, 0, sizeof *c);
}

/* Sample n, head h: its key blocks [cap/KB][E][KB] and value rows [cap][D]. */
static float *keys_of(const xf_kv_cache *c, int n, int h) {
    return c->k + ((int64_t)n * c->H + h) * key_rows(c->cap) * c->E;
}
static float *values_of(const xf_kv_cache *c, int n, int h) {
    return c->v + ((int64_t)n * c->H + h) * c->cap * c->D;
}

int xf_kv_cache_append(xf_kv_cache *c, const float *k, const float *v, int64_t ld, int L,
                       xf_error *err) {
    if (L < 0 || L > c->cap - c->len)
        return xf_fail(err,
                       "the state holds %d positions: %d more do not fit after %d "
                       "(a larger max_len is needed)",
                       c->cap, L, c->len);
    const int H = c->H, E = c->E, D = c->D;
    const int64_t lk = ld ? ld : (int64_t)H * E, lv = ld ? ld : (int64_t)H * D;
    for (int n = 0; n < c->N; n++)
        for (int h = 0; h < H; h++) {
            float *kh = keys_of(c, n, h), *vh = values_of(c, n, h);
            for (int l = 0; l < L; l++) {
                const int64_t row = (int64_t)n * L + l, t = c->len + l;
                const float *kr = k + row * lk + (int64_t)h * E;
                float *kb = kh + t / KB * KB * E + t % KB; /* column t % KB of its block */
                if (t % KB == 0) /* a step scores the whole block: its unused columns are 0 */
                    memset(kb, 0, (size_t)KB * (size_t)E * sizeof(float));
                for (int e = 0; e < E; e++)
                    kb[e * KB] = kr[e];
                memcpy(vh + t * D, v + row * lv + (int64_t)h * D, (size_t)D * sizeof(float));
            }
        }
    c->len += L;
    return 0;
}

void xf_kv_cache_gather(float *dst, const xf_kv_cache *c, int which) {
    const int H = c->H, X = which ? c->D : c->E;
    for (int n = 0; n < c->N; n++)
        for (int t = 0; t < c->len; t++)
            for (int h = 0; h < H; h++) {
                float *d = dst + (((int64_t)n * c->len + t) * H + h) * X;
                if (which) {
                    memcpy(d, values_of(c, n, h) + (int64_t)t * X, (size_t)X * sizeof(float));
                    continue;
                }
                const float *kb = keys_of(c, n, h) + (int64_t)t / KB * KB * X + t % KB;
                for (int e = 0; e < X; e++)
                    d[e] = kb[e * KB];
            }
}

/* ---- one query row against the cache -------------------------------------- */

/* scores per block: 2 KiB on the stack, as attention.c's
 * ONLINE_KEYS, so long caches take the same recurrence
 * (a multiple of KB: blocks start on a key block) */
enum { STEP_KEYS = 512 };

/* 16 floats, one AVX-512 register (two AVX2, four SSE per clone); value rows
 * are D floats apart, so only 4-byte alignment is assumed. */
typedef float vf16 __attribute__((vector_size(64), aligned(4)));

/* s[0..KB) = temp · q·k_j for one key block kb [E][KB]: a block column is
 * one vector, so KB scores are vertical FMAs only, in four chains (e mod 4)
 * that do not wait on each other. */
XF_INLINE void score_block(float *s, const float *q, const float *kb, int E, float temp) {
    vf16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    const vf16 *u = (const vf16 *)kb;
    int e = 0;
    for (; e + 4 <= E; e += 4, u += 4) {
        prefetch_lines(u, XF_AHEAD, 4 * KB * 4);
        a0 += q[e] * u[0], a1 += q[e + 1] * u[1], a2 += q[e + 2] * u[2], a3 += q[e + 3] * u[3];
    }
    for (; e < E; e++, u++)
        a0 += q[e] * u[0];
    *(vf16 *)s = temp * ((a0 + a1) + (a2 + a3));
}

/* s[j] = temp · q·k_j for the n keys of the blocks from k on (n need not be a
 * multiple of KB: the last block's extra scores are dropped). */
XF_CLONES
static void score_keys(float *s, const float *q, const float *k, int n, int E, float temp) {
    int j = 0;
    for (; j + KB <= n; j += KB)
        score_block(s + j, q, k + (int64_t)j * E, E, temp);
    if (j < n) {
        float t[KB];
        score_block(t, q, k + (int64_t)j * E, E, temp);
        memcpy(s + j, t, (size_t)(n - j) * sizeof(float));
    }
}

/* o[64] += Σ_j p[j] v_j over n rows of one 64-column slice (rows D floats
 * apart): the slice of o stays in four registers for the whole pass, and
 * the first and the second half of the rows go to separate accumulators —
 * eight FMA chains over two streams of rows, no load or store of o per row
 * (as gemv.c's panels).  An odd n's middle row ends the first half's sums. */
XF_INLINE void accumulate_slice(float *o, const float *p, const float *v, int n, int64_t D) {
    vf16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    const int m = n / 2, h = n - m; /* rows [0, m) and [h, n) */
    for (int j = 0; j < m; j++) {
        const vf16 *u = (const vf16 *)(v + j * D), *w = (const vf16 *)(v + (h + j) * D);
        prefetch_lines(u, XF_AHEAD, 64 * 4);
        prefetch_lines(w, XF_AHEAD, 64 * 4);
        const float p0 = p[j], p1 = p[h + j];
        a0 += p0 * u[0], a1 += p0 * u[1], a2 += p0 * u[2], a3 += p0 * u[3];
        b0 += p1 * w[0], b1 += p1 * w[1], b2 += p1 * w[2], b3 += p1 * w[3];
    }
    if (m < h) {
        const vf16 *u = (const vf16 *)(v + m * D);
        a0 += p[m] * u[0], a1 += p[m] * u[1], a2 += p[m] * u[2], a3 += p[m] * u[3];
    }
    vf16 *r = (vf16 *)o;
    r[0] += a0 + b0, r[1] += a1 + b1, r[2] += a2 + b2, r[3] += a3 + b3;
}

/* o[D] += Σ_j p[j] v_j for n contiguous value rows: 64 columns at a time in
 * registers, the last D % 64 columns four rows per pass. */
XF_CLONES
static void accumulate_values(float *o, const float *p, const float *v, int n, int D) {
    int d0 = 0;
    for (; d0 + 64 <= D; d0 += 64)
        accumulate_slice(o + d0, p, v + d0, n, D);
    if (d0 == D)
        return;
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *v0 = v + (int64_t)j * D, *v1 = v0 + D, *v2 = v1 + D, *v3 = v2 + D;
        const float p0 = p[j], p1 = p[j + 1], p2 = p[j + 2], p3 = p[j + 3];
        for (int d = d0; d < D; d++)
            o[d] += p0 * v0[d] + p1 * v1[d] + p2 * v2[d] + p3 * v3[d];
    }
    for (; j < n; j++)
        for (int d = d0; d < D; d++)
            o[d] += p[j] * v[(int64_t)j * D + d];
}

/* The same for two heads at once (scores s0, s1; queries q0, q1; key
 * blocks k0, k1): two streams of keys in flight, each head's sums in the
 * order score_block takes them. */
XF_INLINE void score_block2(float *s0, float *s1, const float *q0, const float *q1, const float *k0,
                            const float *k1, int E, float temp) {
    vf16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    const vf16 *u = (const vf16 *)k0, *w = (const vf16 *)k1;
    int e = 0;
    for (; e + 4 <= E; e += 4, u += 4, w += 4) {
        prefetch_lines(u, XF_AHEAD, 4 * KB * 4);
        prefetch_lines(w, XF_AHEAD, 4 * KB * 4);
        a0 += q0[e] * u[0], a1 += q0[e + 1] * u[1], a2 += q0[e + 2] * u[2], a3 += q0[e + 3] * u[3];
        b0 += q1[e] * w[0], b1 += q1[e + 1] * w[1], b2 += q1[e + 2] * w[2], b3 += q1[e + 3] * w[3];
    }
    for (; e < E; e++, u++, w++)
        a0 += q0[e] * u[0], b0 += q1[e] * w[0];
    *(vf16 *)s0 = temp * ((a0 + a1) + (a2 + a3));
    *(vf16 *)s1 = temp * ((b0 + b1) + (b2 + b3));
}

XF_CLONES
static void score_keys2(float *s0, float *s1, const float *q0, const float *q1, const float *k0,
                        const float *k1, int n, int E, float temp) {
    int j = 0;
    for (; j + KB <= n; j += KB)
        score_block2(s0 + j, s1 + j, q0, q1, k0 + (int64_t)j * E, k1 + (int64_t)j * E, E, temp);
    if (j < n) {
        float t0[KB], t1[KB];
        score_block2(t0, t1, q0, q1, k0 + (int64_t)j * E, k1 + (int64_t)j * E, E, temp);
        memcpy(s0 + j, t0, (size_t)(n - j) * sizeof(float));
        memcpy(s1 + j, t1, (size_t)(n - j) * sizeof(float));
    }
}

/* Four heads at once: score_block's sums for each, four streams of keys. */
XF_INLINE void score_block4(float *const s[4], const float *const q[4], const float *const k[4],
                            int64_t off, int E, float temp) {
    vf16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    vf16 c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0}, d0 = {0}, d1 = {0}, d2 = {0}, d3 = {0};
    const vf16 *u = (const vf16 *)(k[0] + off), *w = (const vf16 *)(k[1] + off);
    const vf16 *x = (const vf16 *)(k[2] + off), *y = (const vf16 *)(k[3] + off);
    const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
    int e = 0;
    for (; e + 4 <= E; e += 4, u += 4, w += 4, x += 4, y += 4) {
        prefetch_lines(u, XF_AHEAD, 4 * KB * 4);
        prefetch_lines(w, XF_AHEAD, 4 * KB * 4);
        prefetch_lines(x, XF_AHEAD, 4 * KB * 4);
        prefetch_lines(y, XF_AHEAD, 4 * KB * 4);
        a0 += q0[e] * u[0], a1 += q0[e + 1] * u[1], a2 += q0[e + 2] * u[2], a3 += q0[e + 3] * u[3];
        b0 += q1[e] * w[0], b1 += q1[e + 1] * w[1], b2 += q1[e + 2] * w[2], b3 += q1[e + 3] * w[3];
        c0 += q2[e] * x[0], c1 += q2[e + 1] * x[1], c2 += q2[e + 2] * x[2], c3 += q2[e + 3] * x[3];
        d0 += q3[e] * y[0], d1 += q3[e + 1] * y[1], d2 += q3[e + 2] * y[2], d3 += q3[e + 3] * y[3];
    }
    for (; e < E; e++, u++, w++, x++, y++)
        a0 += q0[e] * u[0], b0 += q1[e] * w[0], c0 += q2[e] * x[0], d0 += q3[e] * y[0];
    *(vf16 *)s[0] = temp * ((a0 + a1) + (a2 + a3));
    *(vf16 *)s[1] = temp * ((b0 + b1) + (b2 + b3));
    *(vf16 *)s[2] = temp * ((c0 + c1) + (c2 + c3));
    *(vf16 *)s[3] = temp * ((d0 + d1) + (d2 + d3));
}

XF_CLONES
static void score_keys4(float *const s[4], const float *const q[4], const float *const k[4], int n,
                        int E, float temp) {
    int j = 0;
    for (; j + KB <= n; j += KB) {
        float *const sj[4] = {s[0] + j, s[1] + j, s[2] + j, s[3] + j};
        score_block4(sj, q, k, (int64_t)j * E, E, temp);
    }
    if (j < n) {
        float t[4][KB];
        float *const st[4] = {t[0], t[1], t[2], t[3]};
        score_block4(st, q, k, (int64_t)j * E, E, temp);
        for (int h = 0; h < 4; h++)
            memcpy(s[h] + j, t[h], (size_t)(n - j) * sizeof(float));
    }
}

/* o0[64] += Σ p0[j] v0_j and o1[64] += Σ p1[j] v1_j over n rows of one
 * 64-column slice each: accumulate_slice for two heads, four streams of
 * rows in flight, each head's sums in accumulate_slice's order. */
XF_INLINE void accumulate_slice2(float *o0, float *o1, const float *p0, const float *p1,
                                 const float *v0, const float *v1, int n, int64_t D) {
    vf16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    vf16 c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0}, d0 = {0}, d1 = {0}, d2 = {0}, d3 = {0};
    const int m = n / 2, h = n - m;
    for (int j = 0; j < m; j++) {
        const vf16 *u = (const vf16 *)(v0 + j * D), *w = (const vf16 *)(v0 + (h + j) * D);
        const vf16 *x = (const vf16 *)(v1 + j * D), *y = (const vf16 *)(v1 + (h + j) * D);
        prefetch_lines(u, XF_AHEAD, 64 * 4);
        prefetch_lines(w, XF_AHEAD, 64 * 4);
        prefetch_lines(x, XF_AHEAD, 64 * 4);
        prefetch_lines(y, XF_AHEAD, 64 * 4);
        const float p = p0[j], q = p0[h + j], r = p1[j], t = p1[h + j];
        a0 += p * u[0], a1 += p * u[1], a2 += p * u[2], a3 += p * u[3];
        b0 += q * w[0], b1 += q * w[1], b2 += q * w[2], b3 += q * w[3];
        c0 += r * x[0], c1 += r * x[1], c2 += r * x[2], c3 += r * x[3];
        d0 += t * y[0], d1 += t * y[1], d2 += t * y[2], d3 += t * y[3];
    }
    if (m < h) {
        const vf16 *u = (const vf16 *)(v0 + m * D), *x = (const vf16 *)(v1 + m * D);
        a0 += p0[m] * u[0], a1 += p0[m] * u[1], a2 += p0[m] * u[2], a3 += p0[m] * u[3];
        c0 += p1[m] * x[0], c1 += p1[m] * x[1], c2 += p1[m] * x[2], c3 += p1[m] * x[3];
    }
    vf16 *r = (vf16 *)o0, *z = (vf16 *)o1;
    r[0] += a0 + b0, r[1] += a1 + b1, r[2] += a2 + b2, r[3] += a3 + b3;
    z[0] += c0 + d0, z[1] += c1 + d1, z[2] += c2 + d2, z[3] += c3 + d3;
}

XF_CLONES
static void accumulate_values2(float *o0, float *o1, const float *p0, const float *p1,
                               const float *v0, const float *v1, int n, int D) {
    for (int d0 = 0; d0 < D; d0 += 64) /* D % 64 == 0 (attend_two's callers) */
        accumulate_slice2(o0 + d0, o1 + d0, p0, p1, v0 + d0, v1 + d0, n, D);
}

/* One block of n scores p into a head's running softmax: p becomes
 * exp(p − m) for the new running max m, the sum l and the output o[D]
 * (accumulated so far) are rescaled to it, and the block's sum added to l. */
XF_INLINE void fold_block(float *o, int D, float *p, int n, float *m, float *l) {
    float mx = row_max(p, n), mnew = mx > *m ? mx : *m;
    float sum = exp_shift_sum(p, n, mnew), alpha = exp_approx(*m - mnew);
    if (alpha != 1.0f)
        scale(o, D, alpha);
    *l = *l * alpha + sum;
    *m = mnew;
}

/* Two heads of one sample, no attention row wanted, D a multiple of 64:
 * attend_one's recurrence for both in lockstep, so each kernel has two
 * streams of the cache in flight instead of one. */
static void attend_two(float *o0, float *o1, const float *q0, const float *q1, const float *k0,
                       const float *k1, const float *v0, const float *v1, int len, int E, int D,
                       float temp) {
    memset(o0, 0, (size_t)D * sizeof(float));
    memset(o1, 0, (size_t)D * sizeof(float));
    float p[2][STEP_KEYS], m[2] = {-3.0e38f, -3.0e38f}, l[2] = {0.0f, 0.0f};
    float *o[2] = {o0, o1};
    for (int s0 = 0; s0 < len; s0 += STEP_KEYS) {
        int n = len - s0 < STEP_KEYS ? len - s0 : STEP_KEYS;
        score_keys2(p[0], p[1], q0, q1, k0 + (int64_t)s0 * E, k1 + (int64_t)s0 * E, n, E, temp);
        for (int h = 0; h < 2; h++)
            fold_block(o[h], D, p[h], n, &m[h], &l[h]);
        accumulate_values2(o0, o1, p[0], p[1], v0 + (int64_t)s0 * D, v1 + (int64_t)s0 * D, n, D);
    }
    scale(o0, D, 1.0f / l[0]);
    scale(o1, D, 1.0f / l[1]);
}

/* Four heads (o, q, k, v: each head's), as attend_two: scores four at a
 * time, values two pairs at a time. */
static void attend_four(float *const o[4], const float *const q[4], const float *const k[4],
                        const float *const v[4], int len, int E, int D, float temp) {
    for (int h = 0; h < 4; h++)
        memset(o[h], 0, (size_t)D * sizeof(float));
    float p[4][STEP_KEYS], m[4], l[4];
    for (int h = 0; h < 4; h++)
        m[h] = -3.0e38f, l[h] = 0.0f;
    for (int s0 = 0; s0 < len; s0 += STEP_KEYS) {
        int n = len - s0 < STEP_KEYS ? len - s0 : STEP_KEYS;
        float *const ps[4] = {p[0], p[1], p[2], p[3]};
        const float *const ks[4] = {k[0] + (int64_t)s0 * E, k[1] + (int64_t)s0 * E,
                                    k[2] + (int64_t)s0 * E, k[3] + (int64_t)s0 * E};
        score_keys4(ps, q, ks, n, E, temp);
        for (int h = 0; h < 4; h++)
            fold_block(o[h], D, p[h], n, &m[h], &l[h]);
        for (int h = 0; h < 4; h += 2)
            accumulate_values2(o[h], o[h + 1], p[h], p[h + 1], v[h] + (int64_t)s0 * D,
                               v[h + 1] + (int64_t)s0 * D, n, D);
    }
    for (int h = 0; h < 4; h++)
        scale(o[h], D, 1.0f / l[h]);
}

/* One (sample, head): o[D] = softmax(temp · q Kᵀ) V over len ≥ 1 keys (k its
 * key blocks, v its value rows); a (len floats) receives the probabilities
 * when non-NULL. */
static void attend_one(float *o, float *a, const float *q, const float *k, const float *v, int len,
                       int E, int D, float temp) {
    memset(o, 0, (size_t)D * sizeof(float));
    if (a) { /* the row is wanted: it is the scores' buffer, normalized in place */
        score_keys(a, q, k, len, E, temp);
        scale(a, len, 1.0f / softmax_exp(a, len));
        accumulate_values(o, a, v, len, D);
        return;
    }
    float p[STEP_KEYS], m = -3.0e38f, l = 0.0f;
    for (int s0 = 0; s0 < len; s0 += STEP_KEYS) {
        int n = len - s0 < STEP_KEYS ? len - s0 : STEP_KEYS;
        score_keys(p, q, k + (int64_t)s0 * E, n, E, temp);
        fold_block(o, D, p, n, &m, &l);
        accumulate_values(o, p, v + (int64_t)s0 * D, n, D);
    }
    scale(o, D, 1.0f / l);
}

typedef struct {
    float *out, *attn;
    const float *q;
    int64_t ldq; /* floats between samples' query rows */
    const xf_kv_cache *c;
    float temp;
    int group; /* heads per task: 1 (step_head), else step_heads */
} step_job;

static void step_head(void *ctx, int task, int worker) {
    (void)worker;
    const step_job *j = ctx;
    const xf_kv_cache *c = j->c;
    const int n = task / c->H, h = task % c->H;
    const int64_t vs = (int64_t)c->H * c->D;
    float *o = j->out + n * vs + (int64_t)h * c->D;
    float *a = j->attn ? j->attn + (int64_t)task * c->len : NULL;
    if (c->len == 0) { /* no key: zeros, as the batch kernel's empty rows */
        memset(o, 0, (size_t)c->D * sizeof(float));
        return;
    }
    attend_one(o, a, j->q + n * j->ldq + (int64_t)h * c->E, keys_of(c, n, h), values_of(c, n, h),
               c->len, c->E, c->D, j->temp);
}

/* A group of G heads of a sample (step_job.group = G; tasks: N · ceil(H / G)):
 * four at a time through attend_four, the rest in a pair and alone. */
static void step_heads(void *ctx, int task, int worker) {
    const step_job *j = ctx;
    const xf_kv_cache *c = j->c;
    const int G = j->group, per = (c->H + G - 1) / G, n = task / per, h0 = task % per * G;
    const int h1 = h0 + G < c->H ? h0 + G : c->H;
    const int64_t vs = (int64_t)c->H * c->D;
    float *o = j->out + n * vs;
    const float *q = j->q + n * j->ldq;
    int h = h0;
    for (; c->len && h + 4 <= h1; h += 4) {
        float *const os[4] = {o + h * c->D, o + (h + 1) * c->D, o + (h + 2) * c->D,
                              o + (h + 3) * c->D};
        const float *const qs[4] = {q + h * c->E, q + (h + 1) * c->E, q + (h + 2) * c->E,
                                    q + (h + 3) * c->E};
        const float *const ks[4] = {keys_of(c, n, h), keys_of(c, n, h + 1), keys_of(c, n, h + 2),
                                    keys_of(c, n, h + 3)};
        const float *const vv[4] = {values_of(c, n, h), values_of(c, n, h + 1),
                                    values_of(c, n, h + 2), values_of(c, n, h + 3)};
        attend_four(os, qs, ks, vv, c->len, c->E, c->D, j->temp);
    }
    for (; c->len && h + 2 <= h1; h += 2)
        attend_two(o + h * c->D, o + (h + 1) * c->D, q + h * c->E, q + (h + 1) * c->E,
                   keys_of(c, n, h), keys_of(c, n, h + 1), values_of(c, n, h),
                   values_of(c, n, h + 1), c->len, c->E, c->D, j->temp);
    for (; h < h1; h++)
        step_head(ctx, n * c->H + h, worker);
}

/* Cache floats a step reads before handing heads to the pool pays: waking
 * the workers costs a few microseconds, reading 64 Ki floats about as much. */
enum { STEP_PARALLEL_FLOATS = 65536 };

void xf_attention_step(float *out, float *attn, const float *q, int64_t ldq, const xf_kv_cache *c,
                       float temp) {
    step_job j = {out, attn, q, ldq ? ldq : (int64_t)c->H * c->E, c, temp, 1};
    const int parallel = (int64_t)c->N * c->H * c->len * (c->E + c->D) >= STEP_PARALLEL_FLOATS;
    /* Heads in groups of up to 4 (several streams of the cache in flight:
     * docs/PERFORMANCE.md) when no attention row is wanted and D is whole
     * 64-column slices — fewer, so that the pool's threads all get a group */
    if (!attn && c->D % 64 == 0) {
        const int threads = parallel ? xf_runtime_threads() : 1;
        for (j.group = 4; j.group > 1 && c->N * ((c->H + j.group - 1) / j.group) < threads;)
            j.group /= 2;
    }
    const int tasks = c->N * ((c->H + j.group - 1) / j.group);
    void (*fn)(void *, int, int) = j.group > 1 ? step_heads : step_head;
    if (parallel)
        xf_parallel_for(tasks, fn, &j);
    else
        for (int t = 0; t < tasks; t++)
            fn(&j, t, 0);
}
