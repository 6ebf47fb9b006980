/* recurrent.c — causal-linear attention as a recurrent model
 * (fast-transformers' RecurrentLinearAttention, "Transformers are RNNs"):
 * per (sample, head) a state S = Σ φ(k_j) v_jᵀ [E, D] and Z = Σ φ(k_j) [E],
 * φ(x) = elu(x) + 1, and a step's output
 *     out = φ(q)·S / (φ(q)·Z + eps),   eps = 1e-6,
 * after absorbing the step's own key and value (fast-transformers updates
 * the state first, then reads it) — in one pass over S, each row updated
 * and read while in registers.  The state's size depends on E and D only:
 * a step costs the same after 4096 tokens as after one.  A prefill is
 * absorbed with one GEMM per (sample, head): S += φ(K)ᵀ V.
 *
 * The φ(k) history is kept only when a listener wants the implied attention
 * row A[j] = φ(q)·φ(k_j) / (φ(q)·Z + eps), j < len — the row of the batch
 * kernel's implied matrix (attention_linear.c) for the newest query.
 *
 * φ uses the batch kernel's exp (xf_simd.h), so a prefill + steps equals a
 * causal xf_linear_attention over the sequence row by row.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xf_blas.h"
#include "xf_generate.h"
#include "xf_kernels.h"
#include "xf_simd.h"

#define LIN_EPS 1e-6f /* fast-transformers' default eps */

/* φ of a step's key and query up to this E live on the
 * stack: a step allocates nothing for usual head sizes */
enum { STACK_E = 256 };

XF_INLINE float phi(float x) {
    float ex = exp_approx(x); /* both sides: a select, no branch */
    return x > 0.0f ? x + 1.0f : ex;
}

/* Product of dims as a float count; -1 when a dim is not positive or it
 * would not fit in memory's address range. */
static int64_t floats_of(const int *dims, int n) {
    int64_t c = 1;
    for (int i = 0; i < n; i++)
        if (dims[i] <= 0 || __builtin_mul_overflow(c, (int64_t)dims[i], &c))
            return -1;
    return c > (int64_t)(SIZE_MAX / 8) ? -1 : c;
}

int xf_linear_state_init(xf_linear_state *s, int N, int H, int E, int D, int keep_phik, int cap,
                         xf_error *err) {
    memset(s, 0, sizeof *s);
    int64_t ns = floats_of((int[]){N, H, E, D}, 4), nz = floats_of((int[]){N, H, E}, 3);
    int64_t np = keep_phik ? floats_of((int[]){N, cap, H, E}, 4) : 0;
    if (ns < 0 || nz < 0 || np < 0)
        return xf_fail(err, "recurrent state: invalid size N %d × heads %d × %d × %d%s", N, H, E, D,
                       keep_phik ? " with the φ(k) history" : "");
    s->S = calloc((size_t)ns, sizeof(float));
    s->Z = calloc((size_t)nz, sizeof(float));
    s->phik = keep_phik ? malloc((size_t)np * sizeof(float)) : NULL;
    if (!s->S || !s->Z || (keep_phik && !s->phik)) {
        xf_linear_state_free(s);
        return xf_fail(err, "recurrent state: out of memory for %lld bytes",
                       (long long)(ns + nz + np) * 4);
    }
    s->N = N, s->H = H, s->E = E, s->D = D, s->cap = keep_phik ? cap : 0;
    return 0;
}

void xf_linear_state_free(xf_linear_state *s) {
    free(s->S);
    free(s->Z);
    free(s->phik);
    memset(s, 0, sizeof *s);
}

/* S[E, D] += f vᵀ, Z[E] += f for one position: E rows of D, vectorized. */
XF_CLONES
static void absorb_one(float *S, float *Z, const float *f, const float *v, int E, int D) {
    for (int e = 0; e < E; e++) {
        float *Se = S + (int64_t)e * D;
        for (int d = 0; d < D; d++)
            Se[d] += f[e] * v[d];
        Z[e] += f[e];
    }
}

/* One sample's L positions of one head: φ(k) into f (rows ld apart), then
 * S += φ(K)ᵀ V (one GEMM when L > 1) and Z += Σ φ(k). */
static void absorb_head(float *S, float *Z, float *f, int64_t ld, const float *k, const float *v,
                        int L, int E, int D, int64_t ks, int64_t vs) {
    for (int l = 0; l < L; l++)
        for (int e = 0; e < E; e++)
            f[l * ld + e] = phi(k[l * ks + e]);
    if (L == 1) {
        absorb_one(S, Z, f, v, E, D);
        return;
    }
    xf_gemm(XF_TRANS, XF_NOTRANS, E, D, L, 1.0f, f, (int)ld, v, (int)vs, 1.0f, S, D);
    for (int l = 0; l < L; l++)
        for (int e = 0; e < E; e++)
            Z[e] += f[l * ld + e];
}

int xf_linear_state_absorb(xf_linear_state *s, const float *k, const float *v, int L,
                           xf_error *err) {
    if (L < 0 || (s->phik && L > s->cap - s->len))
        return xf_fail(err,
                       "the state holds %d positions: %d more do not fit after %d "
                       "(a larger max_len is needed)",
                       s->cap, L, s->len);
    const int H = s->H, E = s->E, D = s->D;
    const int64_t ks = (int64_t)H * E, vs = (int64_t)H * D;
    float *tmp = NULL, one[STACK_E]; /* φ(k) of a step without history */
    if (!s->phik && (L > 1 || E > STACK_E) &&
        !(tmp = malloc((size_t)L * (size_t)E * sizeof(float))))
        return xf_fail(err, "recurrent state: out of memory absorbing %d positions", L);
    for (int n = 0; n < s->N; n++)
        for (int h = 0; h < H; h++) {
            float *f = s->phik ? s->phik + ((int64_t)n * s->cap + s->len) * ks + (int64_t)h * E
                       : tmp   ? tmp
                               : one;
            int64_t ld = s->phik ? ks : E;
            absorb_head(s->S + ((int64_t)n * H + h) * E * D, s->Z + ((int64_t)n * H + h) * E, f, ld,
                        k + (int64_t)n * L * ks + (int64_t)h * E,
                        v + (int64_t)n * L * vs + (int64_t)h * D, L, E, D, ks, vs);
        }
    free(tmp);
    s->len += L;
    return 0;
}

/* One step of one (sample, head) in a single pass over the state:
 *   S += φ(k) vᵀ, Z += φ(k), then o[D] = φ(q)·S / (φ(q)·Z + eps),
 * each row S[e] updated and read while it is in a register.  fk, fq receive
 * φ(k), φ(q); returns the normalizer 1/(φ(q)·Z + eps). */
XF_CLONES
static float step_state(float *o, float *fk, float *fq, const float *q, const float *k,
                        const float *v, float *S, float *Z, int E, int D) {
    for (int e = 0; e < E; e++) {
        fk[e] = phi(k[e]);
        fq[e] = phi(q[e]);
    }
    float den = 0.0f;
    memset(o, 0, (size_t)D * sizeof(float));
    for (int e = 0; e < E; e++) {
        float *Se = S + (int64_t)e * D;
        const float a = fk[e], b = fq[e];
        Z[e] += a;
        den += b * Z[e];
        for (int d = 0; d < D; d++) {
            Se[d] += a * v[d];
            o[d] += b * Se[d];
        }
    }
    float z = 1.0f / (den + LIN_EPS);
    scale(o, D, z);
    return z;
}

/* a[j] = z φ(q)·φ(k_j) for the len keys of the history (rows ld apart). */
XF_CLONES
static void implied_row(float *a, const float *f, const float *phik, int len, int E, int64_t ld,
                        float z) {
    for (int j = 0; j < len; j++) {
        const float *pj = phik + j * ld;
        float acc[LANES] = {0}, t = 0.0f;
        int e = 0;
        for (; e + LANES <= E; e += LANES)
            for (int i = 0; i < LANES; i++)
                acc[i] += f[e + i] * pj[e + i];
        for (; e < E; e++)
            t += f[e] * pj[e];
        for (int i = 0; i < LANES; i++)
            t += acc[i];
        a[j] = z * t;
    }
}

int xf_linear_attention_step(float *out, float *attn, const float *q, const float *k,
                             const float *v, xf_linear_state *s, xf_error *err) {
    if (attn && !s->phik)
        return xf_fail(err, "the implied attention row needs the state's φ(k) history "
                            "(keep_phik when the state is made)");
    if (s->phik && s->len >= s->cap)
        return xf_fail(err,
                       "the state holds %d positions: 1 more do not fit after %d "
                       "(a larger max_len is needed)",
                       s->cap, s->len);
    const int H = s->H, E = s->E, D = s->D, len = s->len + 1;
    const int64_t ks = (int64_t)H * E, vs = (int64_t)H * D;
    float stack[2 * STACK_E], *f = E <= STACK_E ? stack : malloc(2 * (size_t)E * sizeof(float));
    if (!f)
        return xf_fail(err, "recurrent state: out of memory for φ(q), φ(k)");
    for (int n = 0; n < s->N; n++)
        for (int h = 0; h < H; h++) {
            const int64_t nh = (int64_t)n * H + h;
            float *hist = s->phik ? s->phik + (int64_t)n * s->cap * ks + (int64_t)h * E : NULL;
            float *fk = hist ? hist + (int64_t)s->len * ks : f + E; /* φ(k) kept in the history */
            float z = step_state(out + n * vs + (int64_t)h * D, fk, f, q + n * ks + (int64_t)h * E,
                                 k + n * ks + (int64_t)h * E, v + n * vs + (int64_t)h * D,
                                 s->S + nh * E * D, s->Z + nh * E, E, D);
            if (attn)
                implied_row(attn + nh * len, f, hist, len, E, ks, z);
        }
    s->len = len;
    if (f != stack)
        free(f);
    return 0;
}
