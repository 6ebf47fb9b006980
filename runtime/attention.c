/* attention.c — full softmax attention over strided heads.
 *
 * Algorithm: per (sample, head), queries are taken in blocks of B rows; each
 * block is scored against every key it can see with one GEMM into a B × S
 * tile, softmaxed row by row (two-pass: max, then exp + sum), and multiplied
 * by V with a second GEMM straight into `out`.  No key-block online-softmax
 * recurrence (flash attention): at seq 4096 the tile is 128 × 4096 floats =
 * 2 MiB, small next to the model's activations (the FF hidden layer alone is
 * 16 MiB there), and the exact two-pass softmax needs no rescaling of
 * partial outputs.
 *
 * Heads are never copied out: q/k rows of one head are H·E floats apart and
 * v/out rows H·D apart, which is just lda/ldb/ldc to xf_gemm.
 *
 * Masks cost nothing where they hide whole key ranges: a block only scores
 * keys s < min(key_len, last query of the block + 1) (causal).  Within the
 * block, entries past a row's own limit are zeroed before the PV GEMM.
 *
 * When `attn` is given, the tile *is* the block's rows of attn (ld = S), so
 * the materialized and streaming paths do the same arithmetic; streaming
 * only defers the 1/sum to the D outputs instead of the S probabilities.
 *
 * The driver at the end of this file (xf__attention_heads, xf_simd.h) owns
 * the (sample, head) loop of all four kernels: the empty-row rule, each
 * worker's slice of scratch, and whether heads run on the runtime's pool or
 * their GEMMs on the BLAS backend's threads (xf_blas.h).  Each kernel is a
 * per-head function.
 *
 * Thread-safe: no state besides the caller's scratch.
 */
#include <stdint.h>
#include <string.h>

#include "xf_blas.h"
#include "xf_kernels.h"
#include "xf_simd.h" /* exp, softmax row, blocking; GCC no-trapping-math */

/* One B × S tile plus B row sums (the streaming path's deferred 1/Σ),
 * rounded up to a bound that never decreases as L or S grow: B·S itself
 * wobbles (B = 32768/S rounds down), and callers size one scratch for their
 * longest sequences and reuse it for every shorter call.  The same bound
 * covers top-k (same blocks) and local attention (fewer rows, a band of
 * columns); linear attention's layout (xf_simd.h) depends on E and D and is
 * taken as a max, monotone in L and S as well. */
/* What one worker's (sample, head) needs. */
int64_t xf__attention_scratch_one(const xf_attn_shape *sh) {
    int64_t L = sh->L > 0 ? sh->L : 0, S = sh->S > 0 ? sh->S : 0;
    int64_t tile = MIN_BLOCK * S > TILE_FLOATS ? MIN_BLOCK * S : TILE_FLOATS; /* ≥ B·S */
    int64_t sums = L < TILE_FLOATS ? L : TILE_FLOATS;                         /* ≥ B */
    int64_t exact = L * (S + 1); /* B ≤ L: small calls need no more */
    int64_t n = tile + sums < exact ? tile + sums : exact;
    int64_t lin = linear_scratch(sh), loc = local_scratch(sh), aft = aft_scratch(sh);
    int64_t clu = clustered_scratch(sh), ref = reformer_scratch(sh);
    n = lin > n ? lin : n;
    n = clu > n ? clu : n;
    n = ref > n ? ref : n;
    n = aft > n ? aft : n;
    n = loc > n ? loc : n;
    return n > 0 ? n : 1;
}

/* Every worker its own slice (the variants use the first). */
int64_t xf_attention_scratch(const xf_attn_shape *sh) {
    return xf__attention_scratch_one(sh) * xf_runtime_threads();
}

/* ---- one block of query rows --------------------------------------------- */

/* Adds the mask's rows [l0, l0+rows), keys [s0, s0+cols), to the score tile
 * p (rows ld apart). */
static void add_mask(float *p, int ld, const float *mask, int S, int l0, int rows, int s0,
                     int cols) {
    for (int i = 0; i < rows; i++) {
        const float *mi = mask + (int64_t)(l0 + i) * S + s0;
        float *pi = p + (int64_t)i * ld;
        for (int j = 0; j < cols; j++)
            pi[j] += mi[j];
    }
}

/* A row whose every visible score a mask dropped (its max -inf, or below
 * any real score): it sees no key. */
static int dropped(float mx) {
    return !(mx > -1e30f);
}

/* Rows [l0, l0+rows) of one (sample, head), seeing keys s < klen (klen ≥ 1).
 *   q → this head's query row l0; k, v → its key 0; o → its out row l0
 *   p → the tile: attn's rows (S apart) when `a` is set, else scratch
 *       (rows nvis apart, packed) and `inv` (rows floats) for the deferred 1/Σ. */
static void attend_block(float *o, float *p, int a, float *inv, const float *q, const float *k,
                         const float *v, const float *mask, const xf_attn_shape *sh, int l0,
                         int rows, int klen) {
    const int qs = sh->H * sh->E, vs = sh->H * sh->D;
    /* keys the block's last row sees: later ones are never scored */
    int nvis = sh->causal && l0 + rows < klen ? l0 + rows : klen;
    int ldp = a ? sh->S : nvis;

    xf_gemm(XF_NOTRANS, XF_TRANS, rows, nvis, sh->E, sh->temp, q, qs, k, qs, 0.0f, p, ldp);
    if (mask)
        add_mask(p, ldp, mask, sh->S, l0, rows, 0, nvis);

    for (int i = 0; i < rows; i++) {
        float *pi = p + (int64_t)i * ldp;
        int lim = sh->causal && l0 + i + 1 < nvis ? l0 + i + 1 : nvis;
        if (mask && dropped(row_max(pi, lim)))
            lim = 0; /* out = 0 and a zero row, as with no visible key */
        float s = lim ? softmax_exp(pi, lim) : 1.0f;
        memset(pi + lim, 0, (size_t)(nvis - lim) * sizeof(float));
        if (a) {
            scale(pi, lim, 1.0f / s);
            memset(pi + nvis, 0, (size_t)(ldp - nvis) * sizeof(float));
        } else {
            inv[i] = 1.0f / s; /* applied to D outputs instead of nvis probabilities */
        }
    }

    xf_gemm(XF_NOTRANS, XF_NOTRANS, rows, sh->D, nvis, 1.0f, p, ldp, v, vs, 0.0f, o, vs);
    if (!a)
        for (int i = 0; i < rows; i++)
            scale(o + (int64_t)i * vs, sh->D, inv[i]);
}

/* The same rows when nothing is materialized and many keys are visible: the
 * flash-attention recurrence over key blocks of ONLINE_KEYS.  Each block's
 * scores (rows × ONLINE_KEYS, 256 KiB at 128 rows) stay in L2 while they are
 * exponentiated and multiplied by V, instead of a rows × S tile (2 MiB at seq
 * 4096) making three trips to memory.  Per row: running max m and sum l; a
 * new block with a larger max rescales what was accumulated by e^(m − m'). */
enum { ONLINE_KEYS = 512 };

static void attend_block_online(float *o, float *p, float *m, float *l, const float *q,
                                const float *k, const float *v, const float *mask,
                                const xf_attn_shape *sh, int l0, int rows, int klen) {
    const int qs = sh->H * sh->E, vs = sh->H * sh->D;
    int nvis = sh->causal && l0 + rows < klen ? l0 + rows : klen;
    for (int i = 0; i < rows; i++) {
        m[i] = -3.0e38f;
        l[i] = 0.0f;
        memset(o + (int64_t)i * vs, 0, (size_t)sh->D * sizeof(float));
    }
    for (int s0 = 0; s0 < nvis; s0 += ONLINE_KEYS) {
        int cols = nvis - s0 < ONLINE_KEYS ? nvis - s0 : ONLINE_KEYS;
        xf_gemm(XF_NOTRANS, XF_TRANS, rows, cols, sh->E, sh->temp, q, qs, k + (int64_t)s0 * qs, qs,
                0.0f, p, cols);
        if (mask)
            add_mask(p, cols, mask, sh->S, l0, rows, s0, cols);
        for (int i = 0; i < rows; i++) {
            float *pi = p + (int64_t)i * cols;
            int lim = sh->causal ? l0 + i + 1 - s0 : cols; /* keys of this block row i sees */
            lim = lim > cols ? cols : lim;
            if (lim <= 0) {
                memset(pi, 0, (size_t)cols * sizeof(float));
                continue;
            }
            float mx = row_max(pi, lim), mnew = mx > m[i] ? mx : m[i];
            if (dropped(mx)) { /* every key of this block masked out */
                memset(pi, 0, (size_t)cols * sizeof(float));
                continue;
            }
            float sum = exp_shift_sum(pi, lim, mnew);
            memset(pi + lim, 0, (size_t)(cols - lim) * sizeof(float));
            float alpha = exp_approx(m[i] - mnew);
            if (alpha != 1.0f)
                scale(o + (int64_t)i * vs, sh->D, alpha);
            l[i] = l[i] * alpha + sum;
            m[i] = mnew;
        }
        xf_gemm(XF_NOTRANS, XF_NOTRANS, rows, sh->D, cols, 1.0f, p, cols, v + (int64_t)s0 * vs, vs,
                1.0f, o, vs);
    }
    for (int i = 0; i < rows; i++) /* l = 0: the mask dropped every key */
        scale(o + (int64_t)i * vs, sh->D, l[i] > 0.0f ? 1.0f / l[i] : 0.0f);
}

/* Every query block of one (sample, head), klen ≥ 1. */
static void attend_head(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    const int L = sh->L, S = sh->S;
    const int64_t qs = (int64_t)sh->H * sh->E, vs = (int64_t)sh->H * sh->D;
    const int B = block_rows(sh), klen = hv->klen;
    for (int l0 = 0; l0 < L; l0 += B) {
        int rows = L - l0 < B ? L - l0 : B;
        float *ob = hv->o + l0 * vs, *ab = hv->a ? hv->a + (int64_t)l0 * S : NULL;
        const float *qb = hv->q + l0 * qs;
        if (ab)
            attend_block(ob, ab, 1, NULL, qb, hv->k, hv->v, hv->mask, sh, l0, rows, klen);
        else if (klen > 2 * ONLINE_KEYS)
            attend_block_online(ob, scratch, scratch + (int64_t)B * ONLINE_KEYS,
                                scratch + (int64_t)B * ONLINE_KEYS + B, qb, hv->k, hv->v, hv->mask,
                                sh, l0, rows, klen);
        else
            attend_block(ob, scratch, 0, scratch + (int64_t)B * S, qb, hv->k, hv->v, hv->mask, sh,
                         l0, rows, klen);
    }
}

/* out[N,L,H,D] = softmax(temp · q kᵀ + masks) v; attn [N,H,L,S] or NULL.
 * scratch: xf_attention_scratch(sh) floats, unused when attn is given. */
void xf_attention(float *out, float *attn, const float *q, const float *k, const float *v,
                  const xf_attn_shape *sh, float *scratch) {
    int64_t mnk = (int64_t)block_rows(sh) * sh->S * (sh->E > sh->D ? sh->E : sh->D);
    xf__attention_heads(attend_head, mnk, out, attn, q, k, v, sh, scratch);
}

/* ---- the driver ------------------------------------------------------------ */

typedef struct {
    head_fn fn;
    float *out, *attn, *scratch;
    const float *q, *k, *v;
    const xf_attn_shape *sh;
    int64_t per_worker; /* scratch floats of one worker */
} heads_job;

static void run_head(void *ctx, int task, int worker) {
    const heads_job *j = ctx;
    const xf_attn_shape *sh = j->sh;
    const head_view hv = head_at(sh, task / sh->H, task % sh->H, j->q, j->k, j->v, j->out, j->attn);
    if (hv.klen == 0)
        zero_rows(hv.o, hv.a, sh, sh->L); /* attn plane: L rows of S, contiguous */
    else
        j->fn(&hv, sh, j->scratch + worker * j->per_worker);
}

void xf__attention_heads(head_fn fn, int64_t gemm_mnk, float *out, float *attn, const float *q,
                         const float *k, const float *v, const xf_attn_shape *sh, float *scratch) {
    if (sh->N <= 0 || sh->H <= 0 || sh->L <= 0 || sh->D <= 0 || sh->E <= 0)
        return; /* nothing to compute; E = 0 would be an invalid lda */
    heads_job j = {fn, out, attn, scratch, q, k, v, sh, xf__attention_scratch_one(sh)};
    const int tasks = sh->N * sh->H;
    if (gemm_mnk <= SMALL_GEMM)
        xf_parallel_for(tasks, run_head, &j);
    else
        for (int t = 0; t < tasks; t++)
            run_head(&j, t, 0);
}
