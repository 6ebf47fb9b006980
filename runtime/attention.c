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
 * Heads are never copied out: q/k/v rows of one head are xf_ldq / xf_ldk /
 * xf_ldv floats apart (H·E, H·D, or the rows of one Q/K/V product) and out
 * rows H·D apart, which is just lda/ldb/ldc to xf_gemm.
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

#include "xf_attn_tile.h"
#include "xf_blas.h"
#include "xf_exp2.h"
#include "xf_kernels.h"
#include "xf_simd.h" /* exp, softmax row, blocking; GCC no-trapping-math */

/* One B × S tile plus B row sums (the streaming path's deferred 1/Σ),
 * rounded up to a bound that never decreases as L or S grow: B·S itself
 * wobbles (B = 32768/S rounds down), and callers size one scratch for their
 * longest sequences and reuse it for every shorter call.  The same bound
 * covers top-k (same blocks) and local attention (fewer rows, a band of
 * columns); linear attention's layout (xf_simd.h) depends on E and D and is
 * taken as a max, monotone in L and S as well. */
/* Keys per block of the online path (attend_block_online), taken when more
 * than two blocks' worth are visible and nothing is materialized. */
enum { ONLINE_KEYS = 512 };

/* Value and output rows on the online path: D rounded up to a vector (16). */
static int online_ldv(int D) {
    return (D + 15) / 16 * 16;
}

/* Are one head's values dense already (planes, or one head) with rows of
 * whole vectors, for the P·V kernel to read in place? */
static int dense_values(const xf_attn_shape *sh) {
    return xf_ldv(sh) == sh->D && sh->D % 16 == 0;
}

/* The online path's packed head (online_bufs): keys (panels) and values of
 * S rows (unless dense_values), and per block of B ≤ MIN_BLOCK rows its
 * queries, scores, outputs, m, l and a tile's sums and maxima. */
static int64_t online_scratch(const xf_attn_shape *sh) {
    int S = sh->S > 0 ? sh->S : 0, E = sh->E > 0 ? sh->E : 0, D = sh->D > 0 ? sh->D : 0;
    if (S <= 2 * ONLINE_KEYS)
        return 0;
    int64_t Dp = online_ldv(D);
    return xf__key_panels_size(S, E) + (dense_values(sh) ? 0 : S * Dp) +
           (int64_t)MIN_BLOCK * (E + ONLINE_KEYS + Dp + 4);
}

/* What one worker's (sample, head) needs. */
int64_t xf__attention_scratch_one(const xf_attn_shape *sh) {
    int64_t L = sh->L > 0 ? sh->L : 0, S = sh->S > 0 ? sh->S : 0;
    int64_t tile = MIN_BLOCK * S > TILE_FLOATS ? MIN_BLOCK * S : TILE_FLOATS; /* ≥ B·S */
    int64_t sums = L < TILE_FLOATS ? L : TILE_FLOATS;                         /* ≥ B */
    int64_t exact = L * (S + 1); /* B ≤ L: small calls need no more */
    int64_t n = tile + sums < exact ? tile + sums : exact;
    int64_t lin = linear_scratch(sh), loc = local_scratch(sh), aft = aft_scratch(sh);
    int64_t clu = clustered_scratch(sh), ref = reformer_scratch(sh), onl = online_scratch(sh);
    int64_t sho = xf__attention_short_scratch(sh);
    n = sho > n ? sho : n;
    n = onl > n ? onl : n;
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

/* Adds c times the mask's rows [l0, l0+rows), keys [s0, s0+cols), to the
 * score tile p (rows ld apart); c = log2(e) where scores are in base 2. */
static void add_mask(float *p, int ld, const float *mask, int S, int l0, int rows, int s0, int cols,
                     float c) {
    for (int i = 0; i < rows; i++) {
        const float *mi = mask + (int64_t)(l0 + i) * S + s0;
        float *pi = p + (int64_t)i * ld;
        for (int j = 0; j < cols; j++)
            pi[j] += c * mi[j];
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
    const int qs = (int)xf_ldq(sh), ks = (int)xf_ldk(sh), lv = (int)xf_ldv(sh), vs = sh->H * sh->D;
    /* keys the block's last row sees: later ones are never scored */
    int nvis = sh->causal && l0 + rows < klen ? l0 + rows : klen;
    int ldp = a ? sh->S : nvis;

    /* scores in base 2 for xf_exp2: temp · log2 e · q kᵀ + log2 e · mask */
    xf_gemm(XF_NOTRANS, XF_TRANS, rows, nvis, sh->E, sh->temp * XF_LOG2E, q, qs, k, ks, 0.0f, p,
            ldp);
    if (mask)
        add_mask(p, ldp, mask, sh->S, l0, rows, 0, nvis, XF_LOG2E);

    for (int i = 0; i < rows; i++) {
        float *pi = p + (int64_t)i * ldp;
        int lim = sh->causal && l0 + i + 1 < nvis ? l0 + i + 1 : nvis;
        float mx = lim ? row_max(pi, lim) : 0.0f;
        if (mask && dropped(mx))
            lim = 0; /* out = 0 and a zero row, as with no visible key */
        float s = lim ? xf__exp2_shift_sum(pi, lim, mx) : 1.0f;
        memset(pi + lim, 0, (size_t)(nvis - lim) * sizeof(float));
        if (a) {
            scale(pi, lim, 1.0f / s);
            memset(pi + nvis, 0, (size_t)(ldp - nvis) * sizeof(float));
        } else {
            inv[i] = 1.0f / s; /* applied to D outputs instead of nvis probabilities */
        }
    }

    xf_gemm(XF_NOTRANS, XF_NOTRANS, rows, sh->D, nvis, 1.0f, p, ldp, v, lv, 0.0f, o, vs);
    if (!a)
        for (int i = 0; i < rows; i++)
            scale(o + (int64_t)i * vs, sh->D, inv[i]);
}

/* The same rows when nothing is materialized and many keys are visible: the
 * flash-attention recurrence over key blocks of ONLINE_KEYS.  Each block's
 * scores (rows × ONLINE_KEYS, 256 KiB at 128 rows) stay in L2 while they are
 * exponentiated and multiplied by V, instead of a rows × S tile (2 MiB at seq
 * 4096) making three trips to memory.  Per row: running max m and sum l; a
 * new block with a larger max rescales what was accumulated by 2^(m − m').
 *
 * The head's keys are first packed into panels and its values dense
 * (online_head) for the tile products of attention_tile.c, and the queries
 * prescaled by temp · log2 e, so the scores come out in base 2 for xf_exp2.
 * Without a mask a row's tiles (the first against the max of its first
 * keys) are exponentiated against the running max in the pass that finds
 * their own max — for a tile every row sees whole, inside the scores'
 * product (xf__tile_scores_exp2); on the causal diagonal by
 * xf__exp2_shift_sum_max over the row's visible scores.  Only a tile whose
 * max exceeds the running one by more than LAZY_MARGIN moves it, so most
 * tiles cost no pass of their own and most rows no rescale. */
/* Scores here are in base 2 (the queries carry temp · log2 e), exponentiated
 * by xf_exp2 (exp2.c).  2^LAZY_MARGIN ≈ 1.7·10⁷ bounds any exponentiated
 * score, so sums and outputs stay far from overflow; beyond REDO_MARGIN a
 * block's sum of 2^(x − m) may have overflowed (2^128) and the row's scores
 * are recomputed. */
#define LAZY_MARGIN 24.0f
#define REDO_MARGIN 100.0f

/* One packed head's arrays in scratch (online_scratch sizes them):
 *   kp  the klen keys' panels (xf_attn_tile.h)   vp [klen, ldv]  values
 *   qb [B, E]     temp·log2e · query  p [B, ONLINE_KEYS]  one tile's scores
 *   ob [B, ldv]   output accumulator  m, l [B]  running max and sum
 *   ts, tx [B]    one tile's sums and maxima (ldv: D rounded up to 16) */
typedef struct {
    float *kp;
    const float *vp;
    float *qb, *p, *ob, *m, *l, *ts, *tx;
    int ldv;
} online_bufs;

/* Row i of a later key block, no mask, its lim scores pi already
 * 2^(x − m) with sum `sum` and max mx of x: moves *m to mx when it exceeds
 * *m by LAZY_MARGIN, scaling *l and the row's output oi[D] to it, and returns
 * the sum against the new *m.  qi (prescaled) and kb (the block's key panels)
 * rebuild the scores when the lazy pass cannot be trusted. */
static float online_row_lazy(float *pi, int lim, float sum, float mx, float *m, float *l, float *oi,
                             int D, const float *qi, const float *kb, int E) {
    if (mx <= *m + LAZY_MARGIN)
        return sum;
    if (mx > *m + REDO_MARGIN) { /* a jump this large: redo the block's row exactly */
        xf__tile_scores(pi, lim, qi, kb, 1, lim, E);
        sum = xf__exp2_shift_sum(pi, lim, mx);
    } else {
        float c = xf_exp2(*m - mx); /* the stored 2^(x − m) → 2^(x − mx) */
        scale(pi, lim, c);
        sum *= c;
    }
    float alpha = xf_exp2(*m - mx);
    scale(oi, D, alpha);
    *l *= alpha;
    *m = mx;
    return sum;
}

/* Row i of a key block with a mask: the exact two-pass step (max, then
 * exp), a block the mask drops entirely contributing nothing. */
static float online_row_masked(float *pi, int lim, float *m, float *l, float *oi, int D) {
    float mx = row_max(pi, lim);
    if (dropped(mx)) {
        memset(pi, 0, (size_t)lim * sizeof(float));
        return 0.0f;
    }
    float mnew = mx > *m ? mx : *m, sum = xf__exp2_shift_sum(pi, lim, mnew);
    float alpha = xf_exp2(*m - mnew);
    if (alpha != 1.0f)
        scale(oi, D, alpha);
    *l *= alpha;
    *m = mnew;
    return sum;
}

/* The scores tile of keys [s0, s0 + cols) for the block, `whole` when every
 * row sees all of it and no mask is added: softmax numerators in place, m
 * and l advanced; entries a row must not see are zeroed. */
static void online_tile(const online_bufs *b, const float *mask, const xf_attn_shape *sh, int l0,
                        int rows, int s0, int cols, int whole) {
    const int E = sh->E, D = sh->D;
    const float *kb = b->kp + (int64_t)s0 * E;
    if (whole) {
        xf__tile_scores_exp2(b->p, cols, b->m, b->ts, b->tx, b->qb, kb, rows, cols, E);
        for (int i = 0; i < rows; i++)
            b->l[i] += online_row_lazy(b->p + (int64_t)i * cols, cols, b->ts[i], b->tx[i], &b->m[i],
                                       &b->l[i], b->ob + (int64_t)i * b->ldv, D,
                                       b->qb + (int64_t)i * E, kb, E);
        return;
    }
    xf__tile_scores(b->p, cols, b->qb, kb, rows, cols, E);
    if (mask)
        add_mask(b->p, cols, mask, sh->S, l0, rows, s0, cols, XF_LOG2E);
    for (int i = 0; i < rows; i++) {
        float *pi = b->p + (int64_t)i * cols, *oi = b->ob + (int64_t)i * b->ldv;
        int lim = sh->causal ? l0 + i + 1 - s0 : cols; /* keys of this block row i sees */
        lim = lim > cols ? cols : lim < 0 ? 0 : lim;
        float sum = 0.0f;
        if (lim > 0 && mask) {
            sum = online_row_masked(pi, lim, &b->m[i], &b->l[i], oi, D);
        } else if (lim > 0) {
            /* first block (every row sees key 0): m starts at its first keys'
             * max, which the lazy pass moves if need be — no pass of its own */
            if (s0 == 0)
                b->m[i] = row_max(pi, lim < LANES ? lim : LANES);
            float mx, s = xf__exp2_shift_sum_max(pi, lim, b->m[i], &mx);
            sum = online_row_lazy(pi, lim, s, mx, &b->m[i], &b->l[i], oi, D, b->qb + (int64_t)i * E,
                                  kb, E);
        }
        b->l[i] += sum;
        memset(pi + lim, 0, (size_t)(cols - lim) * sizeof(float));
    }
}

static void attend_block_online(float *o, const online_bufs *b, const float *q, const float *mask,
                                const xf_attn_shape *sh, int l0, int rows, int klen) {
    const int E = sh->E, D = sh->D, qs = (int)xf_ldq(sh), vs = sh->H * sh->D;
    int nvis = sh->causal && l0 + rows < klen ? l0 + rows : klen;
    for (int i = 0; i < rows; i++) {
        for (int e = 0; e < E; e++)
            b->qb[(int64_t)i * E + e] = sh->temp * XF_LOG2E * q[(int64_t)i * qs + e];
        b->m[i] = -3.0e38f; /* not started: the first tile sets it */
        b->l[i] = 0.0f;
    }
    memset(b->ob, 0, (size_t)rows * (size_t)b->ldv * sizeof(float));
    for (int s0 = 0; s0 < nvis; s0 += ONLINE_KEYS) {
        int cols = nvis - s0 < ONLINE_KEYS ? nvis - s0 : ONLINE_KEYS;
        /* every row sees the whole tile: no mask, and causal only below the diagonal */
        int whole = !mask && (!sh->causal || s0 + cols <= l0 + 1);
        online_tile(b, mask, sh, l0, rows, s0, cols, whole);
        xf__tile_pv(b->ob, b->ldv, b->p, cols, b->vp + (int64_t)s0 * b->ldv, b->ldv, rows, cols,
                    b->ldv);
    }
    for (int i = 0; i < rows; i++) { /* l = 0: the mask dropped every key */
        float c = b->l[i] > 0.0f ? 1.0f / b->l[i] : 0.0f;
        for (int d = 0; d < D; d++)
            o[(int64_t)i * vs + d] = b->ob[(int64_t)i * b->ldv + d] * c;
    }
}

/* Every query block of one (sample, head) on the online path: its keys
 * packed once into panels and its values dense (read in place when they are
 * already: a layer in blocks of rows calls this once per block, and its
 * planes need no copy), then the recurrence block by block. */
static void online_head(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    const int L = sh->L, E = sh->E, D = sh->D, B = block_rows(sh), klen = hv->klen;
    const int64_t qs = xf_ldq(sh), ks = xf_ldk(sh), lv = xf_ldv(sh), vs = (int64_t)sh->H * D;
    const int dense = dense_values(sh);
    online_bufs b;
    b.ldv = online_ldv(D);
    b.kp = scratch;
    float *vp = b.kp + xf__key_panels_size(klen, E);
    b.vp = dense ? hv->v : vp;
    b.qb = dense ? vp : vp + (int64_t)klen * b.ldv;
    b.p = b.qb + (int64_t)B * E;
    b.ob = b.p + (int64_t)B * ONLINE_KEYS;
    b.m = b.ob + (int64_t)B * b.ldv;
    b.l = b.m + B;
    b.ts = b.l + B;
    b.tx = b.ts + B;
    xf__key_panels(b.kp, hv->k, ks, klen, E);
    for (int j = 0; !dense && j < klen; j++) {
        memcpy(vp + (int64_t)j * b.ldv, hv->v + j * lv, (size_t)D * sizeof(float));
        memset(vp + (int64_t)j * b.ldv + D, 0, (size_t)(b.ldv - D) * sizeof(float));
    }
    for (int l0 = 0; l0 < L; l0 += B) {
        int rows = L - l0 < B ? L - l0 : B;
        attend_block_online(hv->o + l0 * vs, &b, hv->q + l0 * qs, hv->mask, sh, sh->q0 + l0, rows,
                            klen); /* l0: the rows' position (causal, mask rows) */
    }
}

/* Every query block of one (sample, head), klen ≥ 1. */
static void attend_head(const head_view *hv, const xf_attn_shape *sh, float *scratch) {
    const int L = sh->L, S = sh->S;
    const int64_t qs = xf_ldq(sh), vs = (int64_t)sh->H * sh->D;
    const int B = block_rows(sh), klen = hv->klen;
    if (xf__attend_short(hv, sh, scratch))
        return; /* at most 128 keys, nothing materialized: attention_short.c */
    if (!hv->a && klen > 2 * ONLINE_KEYS) {
        online_head(hv, sh, scratch);
        return;
    }
    for (int l0 = 0; l0 < L; l0 += B) {
        int rows = L - l0 < B ? L - l0 : B;
        float *ob = hv->o + l0 * vs, *ab = hv->a ? hv->a + (int64_t)l0 * S : NULL;
        const float *qb = hv->q + l0 * qs;
        if (ab)
            attend_block(ob, ab, 1, NULL, qb, hv->k, hv->v, hv->mask, sh, sh->q0 + l0, rows, klen);
        else
            attend_block(ob, scratch, 0, scratch + (int64_t)B * S, qb, hv->k, hv->v, hv->mask, sh,
                         sh->q0 + l0, rows, klen);
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
