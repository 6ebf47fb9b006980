/* generate.c — token embedding, positions, and full attention one position
 * at a time against a KV cache (xf_generate.h, SPEC §8).
 *
 * A generated token's step is one query row per (sample, head) against the
 * len keys and values cached so far: two passes over len·(E + D) floats and
 * nothing to reuse between them, so it is bound by reading the cache
 * (docs/PERFORMANCE.md).  The cache is laid out for that read: per (sample,
 * head) one contiguous run of key blocks, each KB keys transposed, so q·Kᵀ
 * is KB scores per block of vertical FMAs, and one contiguous run of value
 * rows, read once per 64 output columns held in registers.  Heads go to the
 * runtime's pool when a step reads enough of the cache to pay for waking it.
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
 * even and odd rows go to separate accumulators — eight FMA chains, no
 * load or store of o per row (as gemv.c's panels). */
XF_INLINE void accumulate_slice(float *o, const float *p, const float *v, int n, int64_t D) {
    vf16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    int j = 0;
    for (; j + 2 <= n; j += 2) {
        const vf16 *u = (const vf16 *)(v + j * D), *w = (const vf16 *)(v + (j + 1) * D);
        prefetch_lines(u, XF_AHEAD, 2 * 64 * 4);
        const float p0 = p[j], p1 = p[j + 1];
        a0 += p0 * u[0], a1 += p0 * u[1], a2 += p0 * u[2], a3 += p0 * u[3];
        b0 += p1 * w[0], b1 += p1 * w[1], b2 += p1 * w[2], b3 += p1 * w[3];
    }
    if (j < n) {
        const vf16 *u = (const vf16 *)(v + j * D);
        a0 += p[j] * u[0], a1 += p[j] * u[1], a2 += p[j] * u[2], a3 += p[j] * u[3];
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
        float mx = row_max(p, n), mnew = mx > m ? mx : m;
        float sum = exp_shift_sum(p, n, mnew), alpha = exp_approx(m - mnew);
        if (alpha != 1.0f)
            scale(o, D, alpha);
        l = l * alpha + sum;
        m = mnew;
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

/* Cache floats a step reads before handing heads to the pool pays: waking
 * the workers costs a few microseconds, reading 64 Ki floats about as much. */
enum { STEP_PARALLEL_FLOATS = 65536 };

void xf_attention_step(float *out, float *attn, const float *q, int64_t ldq, const xf_kv_cache *c,
                       float temp) {
    step_job j = {out, attn, q, ldq ? ldq : (int64_t)c->H * c->E, c, temp};
    const int tasks = c->N * c->H;
    if ((int64_t)tasks * c->len * (c->E + c->D) >= STEP_PARALLEL_FLOATS)
        xf_parallel_for(tasks, step_head, &j);
    else
        for (int t = 0; t < tasks; t++)
            step_head(&j, t, 0);
}
