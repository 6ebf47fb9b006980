/* generate.c — token embedding, positions, and full attention one position
 * at a time against a KV cache (xf_generate.h, SPEC §8).
 *
 * A generated token's step is one query row per (sample, head) against the
 * len keys and values cached so far: two passes over len·(E + D) floats and
 * nothing to reuse between them, so it is bound by reading the cache (and,
 * while the cache sits in L2, by the horizontal sums of the q·k dots:
 * docs/PERFORMANCE.md).  Both passes stream the cache rows in order (keys
 * H·E floats apart, as the batch kernel reads them) four rows at a time:
 * four independent dot chains, and the output row loaded and stored once
 * per four value rows.  Heads go to the runtime's pool when a step reads
 * enough of the cache to pay for waking it.
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

#include "xf_generate.h"
#include "xf_kernels.h"
#include "xf_simd.h" /* exp, row max; GCC no-trapping-math */

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

/* count · 4 bytes, refusing non-positive sizes and overflow. */
static int cache_floats(int64_t *count, const int *dims, int n) {
    int64_t c = 1;
    for (int i = 0; i < n; i++)
        if (dims[i] <= 0 || __builtin_mul_overflow(c, (int64_t)dims[i], &c))
            return -1;
    if (c > (int64_t)(SIZE_MAX / 8))
        return -1;
    *count = c;
    return 0;
}

int xf_kv_cache_init(xf_kv_cache *c, int N, int cap, int H, int E, int D, xf_error *err) {
    memset(c, 0, sizeof *c);
    int64_t nk, nv;
    if (cache_floats(&nk, (int[]){N, cap, H, E}, 4) || cache_floats(&nv, (int[]){N, cap, H, D}, 4))
        return xf_fail(err, "KV cache: invalid size N %d × max_len %d × heads %d × (%d + %d)", N,
                       cap, H, E, D);
    c->k = malloc((size_t)nk * sizeof(float));
    c->v = malloc((size_t)nv * sizeof(float));
    if (!c->k || !c->v) {
        xf_kv_cache_free(c);
        return xf_fail(err, "KV cache: out of memory for %lld bytes (N %d × max_len %d)",
                       (long long)(nk + nv) * 4, N, cap);
    }
    c->N = N, c->cap = cap, c->H = H, c->E = E, c->D = D;
    return 0;
}

void xf_kv_cache_free(xf_kv_cache *c) {
    free(c->k);
    free(c->v);
    memset(c, 0, sizeof *c);
}

int xf_kv_cache_append(xf_kv_cache *c, const float *k, const float *v, int L, xf_error *err) {
    if (L < 0 || L > c->cap - c->len)
        return xf_fail(err,
                       "the state holds %d positions: %d more do not fit after %d "
                       "(a larger max_len is needed)",
                       c->cap, L, c->len);
    const int64_t ks = (int64_t)c->H * c->E, vs = (int64_t)c->H * c->D;
    for (int n = 0; n < c->N; n++) {
        memcpy(c->k + ((int64_t)n * c->cap + c->len) * ks, k + (int64_t)n * L * ks,
               (size_t)(L * ks) * sizeof(float));
        memcpy(c->v + ((int64_t)n * c->cap + c->len) * vs, v + (int64_t)n * L * vs,
               (size_t)(L * vs) * sizeof(float));
    }
    c->len += L;
    return 0;
}

void xf_kv_cache_gather(float *dst, const xf_kv_cache *c, int which) {
    const int64_t x = (int64_t)c->H * (which ? c->D : c->E);
    const float *src = which ? c->v : c->k;
    for (int n = 0; n < c->N; n++)
        memcpy(dst + (int64_t)n * c->len * x, src + (int64_t)n * c->cap * x,
               (size_t)(c->len * x) * sizeof(float));
}

/* ---- one query row against the cache -------------------------------------- */

/* scores per block: 2 KiB on the stack, as attention.c's
 * ONLINE_KEYS, so long caches take the same recurrence */
enum { STEP_KEYS = 512 };

/* Σ a[0..LANES) as a tree (halves added lane-wise): vector adds and a few
 * shuffles, where the sequential sum is LANES dependent scalar adds. */
XF_INLINE float sum_lanes(float *a) {
    for (int w = LANES / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            a[i] += a[i + w];
    return a[0];
}

/* s[j] = temp · q·k_j for n keys, k rows ld floats apart.  Four keys per
 * pass: four independent accumulator chains instead of one, whose latency
 * and horizontal sum otherwise dominate a 64-float dot. */
XF_CLONES
static void score_keys(float *s, const float *q, const float *k, int n, int E, int64_t ld,
                       float temp) {
    const int E0 = E / LANES * LANES;
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *k0 = k + j * ld, *k1 = k0 + ld, *k2 = k1 + ld, *k3 = k2 + ld;
        float a0[LANES] = {0}, a1[LANES] = {0}, a2[LANES] = {0}, a3[LANES] = {0};
        for (int e = 0; e < E0; e += LANES)
            for (int i = 0; i < LANES; i++) {
                a0[i] += q[e + i] * k0[e + i];
                a1[i] += q[e + i] * k1[e + i];
                a2[i] += q[e + i] * k2[e + i];
                a3[i] += q[e + i] * k3[e + i];
            }
        for (int e = E0; e < E; e++) { /* E not a multiple of LANES */
            a0[0] += q[e] * k0[e];
            a1[0] += q[e] * k1[e];
            a2[0] += q[e] * k2[e];
            a3[0] += q[e] * k3[e];
        }
        s[j] = temp * sum_lanes(a0), s[j + 1] = temp * sum_lanes(a1);
        s[j + 2] = temp * sum_lanes(a2), s[j + 3] = temp * sum_lanes(a3);
    }
    for (; j < n; j++) {
        const float *kj = k + j * ld;
        float a[LANES] = {0};
        for (int e = 0; e < E0; e += LANES)
            for (int i = 0; i < LANES; i++)
                a[i] += q[e + i] * kj[e + i];
        for (int e = E0; e < E; e++)
            a[0] += q[e] * kj[e];
        s[j] = temp * sum_lanes(a);
    }
}

/* o[D] += Σ_j p[j] v_j for n values, v rows ld floats apart; four rows per
 * pass so o is loaded and stored once per four. */
XF_CLONES
static void accumulate_values(float *o, const float *p, const float *v, int n, int D, int64_t ld) {
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *v0 = v + j * ld, *v1 = v0 + ld, *v2 = v1 + ld, *v3 = v2 + ld;
        const float p0 = p[j], p1 = p[j + 1], p2 = p[j + 2], p3 = p[j + 3];
        for (int d = 0; d < D; d++)
            o[d] += p0 * v0[d] + p1 * v1[d] + p2 * v2[d] + p3 * v3[d];
    }
    for (; j < n; j++)
        for (int d = 0; d < D; d++)
            o[d] += p[j] * v[j * ld + d];
}

/* One (sample, head): o[D] = softmax(temp · q Kᵀ) V over len ≥ 1 keys;
 * a (len floats) receives the probabilities when non-NULL. */
static void attend_one(float *o, float *a, const float *q, const float *k, const float *v, int len,
                       int E, int D, int64_t ks, int64_t vs, float temp) {
    memset(o, 0, (size_t)D * sizeof(float));
    if (a) { /* the row is wanted: it is the scores' buffer, normalized in place */
        score_keys(a, q, k, len, E, ks, temp);
        scale(a, len, 1.0f / softmax_exp(a, len));
        accumulate_values(o, a, v, len, D, vs);
        return;
    }
    float p[STEP_KEYS], m = -3.0e38f, l = 0.0f;
    for (int s0 = 0; s0 < len; s0 += STEP_KEYS) {
        int n = len - s0 < STEP_KEYS ? len - s0 : STEP_KEYS;
        score_keys(p, q, k + s0 * ks, n, E, ks, temp);
        float mx = row_max(p, n), mnew = mx > m ? mx : m;
        float sum = exp_shift_sum(p, n, mnew), alpha = exp_approx(m - mnew);
        if (alpha != 1.0f)
            scale(o, D, alpha);
        l = l * alpha + sum;
        m = mnew;
        accumulate_values(o, p, v + s0 * vs, n, D, vs);
    }
    scale(o, D, 1.0f / l);
}

typedef struct {
    float *out, *attn;
    const float *q;
    const xf_kv_cache *c;
    float temp;
} step_job;

static void step_head(void *ctx, int task, int worker) {
    (void)worker;
    const step_job *j = ctx;
    const xf_kv_cache *c = j->c;
    const int n = task / c->H, h = task % c->H;
    const int64_t ks = (int64_t)c->H * c->E, vs = (int64_t)c->H * c->D;
    float *o = j->out + n * vs + (int64_t)h * c->D;
    float *a = j->attn ? j->attn + (int64_t)task * c->len : NULL;
    if (c->len == 0) { /* no key: zeros, as the batch kernel's empty rows */
        memset(o, 0, (size_t)c->D * sizeof(float));
        return;
    }
    attend_one(o, a, j->q + n * ks + (int64_t)h * c->E,
               c->k + (int64_t)n * c->cap * ks + (int64_t)h * c->E,
               c->v + (int64_t)n * c->cap * vs + (int64_t)h * c->D, c->len, c->E, c->D, ks, vs,
               j->temp);
}

/* Cache floats a step reads before handing heads to the pool pays: waking
 * the workers costs a few microseconds, reading 64 Ki floats about as much. */
enum { STEP_PARALLEL_FLOATS = 65536 };

void xf_attention_step(float *out, float *attn, const float *q, const xf_kv_cache *c, float temp) {
    step_job j = {out, attn, q, c, temp};
    const int tasks = c->N * c->H;
    if ((int64_t)tasks * c->len * (c->E + c->D) >= STEP_PARALLEL_FLOATS)
        xf_parallel_for(tasks, step_head, &j);
    else
        for (int t = 0; t < tasks; t++)
            step_head(&j, t, 0);
}
