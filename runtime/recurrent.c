/* recurrent.c — causal-linear attention as a recurrent model
 * (fast-transformers' RecurrentLinearAttention, "Transformers are RNNs"):
 * per (sample, head) a state S = Σ φ(k_j) v_jᵀ [F, D] and Z = Σ φ(k_j) [F],
 * φ the layer's feature map (elu(x) + 1, or a random map of F features:
 * feature_map.c, the same function as the batch kernel's), and a step's output
 *     out = φ(q)·S / (φ(q)·Z + eps),   eps = 1e-6,
 * after absorbing the step's own key and value (fast-transformers updates
 * the state first, then reads it) — in one pass over S, each row updated
 * and read while in registers.  The state's size depends on F and D only:
 * a step costs the same after 4096 tokens as after one.  A prefill is
 * absorbed with one GEMM per (sample, head): S += φ(K)ᵀ V.
 *
 * The φ(k) history is kept only when a listener wants the implied attention
 * row A[j] = φ(q)·φ(k_j) / (φ(q)·Z + eps), j < len — the row of the batch
 * kernel's implied matrix (attention_linear.c) for the newest query.
 *
 * φ is xf_feature_map_apply, as in the batch kernel, so a prefill + steps
 * equals a causal xf_linear_attention over the sequence row by row.  favor
 * with stabilize is refused: its offset is a max over the whole sequence.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xf_blas.h"
#include "xf_generate.h"
#include "xf_kernels.h"
#include "xf_simd.h"

#define LIN_EPS 1e-6f /* fast-transformers' default eps */

/* Product of dims as a float count; -1 when a dim is not positive or it
 * would not fit in memory's address range. */
static int64_t floats_of(const int *dims, int n) {
    int64_t c = 1;
    for (int i = 0; i < n; i++)
        if (dims[i] <= 0 || __builtin_mul_overflow(c, (int64_t)dims[i], &c))
            return -1;
    return c > (int64_t)(SIZE_MAX / 8) ? -1 : c;
}

int xf_linear_state_init(xf_linear_state *s, int N, int H, int E, int D, const xf_feature_map *fm,
                         int keep_phik, int cap, xf_error *err) {
    memset(s, 0, sizeof *s);
    if (fm && fm->kind == XF_FMAP_FAVOR && fm->stabilize)
        return xf_fail(err, "recurrent state: favor's stabilize offset is a max over the whole "
                            "sequence, which a step does not see");
    const int F = E > 0 ? xf_feature_map_dims(fm, E) : 0;
    int64_t ns = floats_of((int[]){N, H, F, D}, 4), nz = floats_of((int[]){N, H, F}, 3);
    int64_t np = keep_phik ? floats_of((int[]){N, cap, H, F}, 4) : 0;
    int64_t nw = floats_of((int[]){2, H, F}, 3);
    if (ns < 0 || nz < 0 || np < 0 || nw < 0)
        return xf_fail(err, "recurrent state: invalid size N %d × heads %d × %d × %d%s", N, H, F, D,
                       keep_phik ? " with the φ(k) history" : "");
    s->S = calloc((size_t)ns, sizeof(float));
    s->Z = calloc((size_t)nz, sizeof(float));
    s->phi = malloc((size_t)nw * sizeof(float));
    s->phik = keep_phik ? malloc((size_t)np * sizeof(float)) : NULL;
    if (!s->S || !s->Z || !s->phi || (keep_phik && !s->phik)) {
        xf_linear_state_free(s);
        return xf_fail(err, "recurrent state: out of memory for %lld bytes",
                       (long long)(ns + nz + np + nw) * 4);
    }
    s->fm = fm;
    s->N = N, s->H = H, s->E = E, s->F = F, s->D = D, s->cap = keep_phik ? cap : 0;
    return 0;
}

void xf_linear_state_free(xf_linear_state *s) {
    free(s->S);
    free(s->Z);
    free(s->phi);
    free(s->phik);
    memset(s, 0, sizeof *s);
}

/* S[F, D] += f vᵀ, Z[F] += f for one position: F rows of D, vectorized. */
XF_CLONES
static void absorb_one(float *S, float *Z, const float *f, const float *v, int F, int D) {
    for (int e = 0; e < F; e++) {
        float *Se = S + (int64_t)e * D;
        for (int d = 0; d < D; d++)
            Se[d] += f[e] * v[d];
        Z[e] += f[e];
    }
}

/* One sample's L positions of one head, f = φ(K) [L, F] already computed:
 * S += φ(K)ᵀ V (one GEMM when L > 1) and Z += Σ φ(k). */
static void absorb_head(float *S, float *Z, const float *f, const float *v, int L, int F, int D,
                        int64_t vs) {
    if (L == 1) {
        absorb_one(S, Z, f, v, F, D);
        return;
    }
    xf_gemm(XF_TRANS, XF_NOTRANS, F, D, L, 1.0f, f, F, v, (int)vs, 1.0f, S, D);
    for (int l = 0; l < L; l++)
        for (int e = 0; e < F; e++)
            Z[e] += f[(int64_t)l * F + e];
}

int xf_linear_state_absorb(xf_linear_state *s, const float *k, const float *v, int64_t ld, int L,
                           xf_error *err) {
    if (L < 0 || (s->phik && L > s->cap - s->len))
        return xf_fail(err,
                       "the state holds %d positions: %d more do not fit after %d "
                       "(a larger max_len is needed)",
                       s->cap, L, s->len);
    const int H = s->H, E = s->E, F = s->F, D = s->D;
    const int64_t ks = ld ? ld : (int64_t)H * E, vs = ld ? ld : (int64_t)H * D;
    float *f = L ? malloc((size_t)L * (size_t)F * sizeof(float)) : NULL; /* φ(K) of one head */
    if (L && !f)
        return xf_fail(err, "recurrent state: out of memory absorbing %d positions", L);
    for (int n = 0; n < s->N; n++)
        for (int h = 0; h < H; h++) {
            xf_feature_map_apply(f, k + (int64_t)n * L * ks + (int64_t)h * E, L, E, ks, s->fm,
                                 0.0f);
            for (int l = 0; s->phik && l < L; l++) /* the history: [N, cap, H, F] */
                memcpy(s->phik + (((int64_t)n * s->cap + s->len + l) * H + h) * F,
                       f + (int64_t)l * F, (size_t)F * sizeof(float));
            absorb_head(s->S + ((int64_t)n * H + h) * F * D, s->Z + ((int64_t)n * H + h) * F, f,
                        v + (int64_t)n * L * vs + (int64_t)h * D, L, F, D, vs);
        }
    free(f);
    s->len += L;
    return 0;
}

/* 16 floats, one AVX-512 register (two AVX2, four SSE per clone); rows of S
 * are D floats apart, so only 4-byte alignment is assumed. */
typedef float vf16 __attribute__((vector_size(64), aligned(4)));

/* One 64-column slice of step_state's pass: S[e][0..64) += φ(k)[e] v and
 * o[0..64) = Σ_e φ(q)[e] S[e] with v and o in registers for the whole pass
 * (before: o loaded and stored per row e, behind every store to S it might
 * alias), each row of S read and written once; the same sums in the same
 * order. */
XF_INLINE void step_slice(float *o, const float *fk, const float *fq, const float *v, float *S,
                          int F, int64_t D) {
    const vf16 *vv = (const vf16 *)v;
    const vf16 v0 = vv[0], v1 = vv[1], v2 = vv[2], v3 = vv[3];
    vf16 o0 = {0}, o1 = {0}, o2 = {0}, o3 = {0};
    for (int e = 0; e < F; e++) {
        vf16 *r = (vf16 *)(S + e * D);
        prefetch_lines(r, XF_AHEAD, 64 * 4);
        const float a = fk[e], b = fq[e];
        const vf16 s0 = r[0] + a * v0, s1 = r[1] + a * v1, s2 = r[2] + a * v2, s3 = r[3] + a * v3;
        r[0] = s0, r[1] = s1, r[2] = s2, r[3] = s3;
        o0 += b * s0, o1 += b * s1, o2 += b * s2, o3 += b * s3;
    }
    vf16 *w = (vf16 *)o;
    w[0] = o0, w[1] = o1, w[2] = o2, w[3] = o3;
}

/* One step of one (sample, head) in a single pass over the state:
 *   S += φ(k) vᵀ, Z += φ(k), then o[D] = φ(q)·S / (φ(q)·Z + eps),
 * each row S[e] updated and read while it is in a register: 64 columns at a
 * time (step_slice), the last D % 64 as before.  Returns the normalizer
 * 1/(φ(q)·Z + eps). */
XF_CLONES
static float step_state(float *o, const float *fk, const float *fq, const float *v, float *S,
                        float *Z, int F, int D) {
    float den = 0.0f;
    for (int e = 0; e < F; e++) {
        Z[e] += fk[e];
        den += fq[e] * Z[e];
    }
    int d0 = 0;
    for (; d0 + 64 <= D; d0 += 64)
        step_slice(o + d0, fk, fq, v + d0, S + d0, F, D);
    if (d0 < D) {
        memset(o + d0, 0, (size_t)(D - d0) * sizeof(float));
        for (int e = 0; e < F; e++) {
            float *Se = S + (int64_t)e * D;
            const float a = fk[e], b = fq[e];
            for (int d = d0; d < D; d++) {
                Se[d] += a * v[d];
                o[d] += b * Se[d];
            }
        }
    }
    float z = 1.0f / (den + LIN_EPS);
    scale(o, D, z);
    return z;
}

/* a[j] = z φ(q)·φ(k_j) for the len keys of the history (rows ld apart). */
XF_CLONES
static void implied_row(float *a, const float *f, const float *phik, int len, int F, int64_t ld,
                        float z) {
    for (int j = 0; j < len; j++) {
        const float *pj = phik + j * ld;
        float acc[LANES] = {0}, t = 0.0f;
        int e = 0;
        for (; e + LANES <= F; e += LANES)
            for (int i = 0; i < LANES; i++)
                acc[i] += f[e + i] * pj[e + i];
        for (; e < F; e++)
            t += f[e] * pj[e];
        for (int i = 0; i < LANES; i++)
            t += acc[i];
        a[j] = z * t;
    }
}

int xf_linear_attention_step(float *out, float *attn, const float *q, const float *k,
                             const float *v, int64_t ld, xf_linear_state *s, xf_error *err) {
    if (attn && !s->phik)
        return xf_fail(err, "the implied attention row needs the state's φ(k) history "
                            "(keep_phik when the state is made)");
    if (s->phik && s->len >= s->cap)
        return xf_fail(err,
                       "the state holds %d positions: 1 more do not fit after %d "
                       "(a larger max_len is needed)",
                       s->cap, s->len);
    const int H = s->H, E = s->E, F = s->F, D = s->D, len = s->len + 1;
    const int64_t ks = ld ? ld : (int64_t)H * E, vs = (int64_t)H * D, fs = (int64_t)H * F;
    const int64_t lv = ld ? ld : vs;
    float *fq = s->phi, *fk = s->phi + fs; /* [H, F] each: the state's own scratch */
    for (int n = 0; n < s->N; n++) {
        /* φ of the sample's H query and key rows: one call each (one GEMM for a random map) */
        xf_feature_map_apply(fq, q + n * ks, H, E, E, s->fm, 0.0f);
        xf_feature_map_apply(fk, k + n * ks, H, E, E, s->fm, 0.0f);
        float *hist = s->phik ? s->phik + (int64_t)n * s->cap * fs : NULL;
        if (hist) /* φ(k) kept in the history */
            memcpy(hist + (int64_t)s->len * fs, fk, (size_t)fs * sizeof(float));
        for (int h = 0; h < H; h++) {
            const int64_t nh = (int64_t)n * H + h;
            float z =
                step_state(out + n * vs + (int64_t)h * D, fk + (int64_t)h * F, fq + (int64_t)h * F,
                           v + n * lv + (int64_t)h * D, s->S + nh * F * D, s->Z + nh * F, F, D);
            if (attn)
                implied_row(attn + nh * len, fq + (int64_t)h * F, hist + (int64_t)h * F, len, F, fs,
                            z);
        }
    }
    s->len = len;
    return 0;
}
