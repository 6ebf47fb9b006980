/* test_rt_attention_variants.c — xf_linear_attention (and causal-linear),
 * xf_local_attention and xf_topk_attention against naive O(L·S)
 * double-precision references written from fast-transformers' definitions,
 * on both paths (attn materialized / streaming), and against the fixtures:
 * encoder_linear, encoder_causal_linear (PyTorch, the lead's), encoder_local,
 * encoder_topk, transformer_small (tests/fixtures/gen/make_fixtures.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "xf_kernels.h"

typedef void (*attn_fn)(float *out, float *attn, const float *q, const float *k, const float *v,
                        const xf_attn_shape *sh, float *scratch);

enum kind { LINEAR, LOCAL, TOPK };
static const char *const kind_name[] = {"linear", "local", "topk"};
static const attn_fn kernel[] = {xf_linear_attention, xf_local_attention, xf_topk_attention};

/* exactly xf_attention_scratch floats, garbage-filled: ASan catches overruns */
static float *scratch_for(const xf_attn_shape *sh) {
    int64_t ns = xf_attention_scratch(sh);
    cr_assert_gt(ns, 0);
    return th_rand_buf(ns, 77, 1e3f);
}

#define QI(n, l, h, e) ((((int64_t)(n)*sh->L + (l)) * sh->H + (h)) * sh->E + (e))
#define KI(n, s, h, e) ((((int64_t)(n)*sh->S + (s)) * sh->H + (h)) * sh->E + (e))
#define VI(n, s, h, d) ((((int64_t)(n)*sh->S + (s)) * sh->H + (h)) * sh->D + (d))
#define OI(n, l, h, d) ((((int64_t)(n)*sh->L + (l)) * sh->H + (h)) * sh->D + (d))
#define AI(n, h, l, s) ((((int64_t)(n)*sh->H + (h)) * sh->L + (l)) * sh->S + (s))

/* ---- the references, in double ------------------------------------------- */

/* Key s is visible from query l: key length, causal, and for local the band
 * of fast-transformers' code: l − ⌊W/2⌋ ≤ s < l + ⌈W/2⌉. */
static int visible(enum kind kd, const xf_attn_shape *sh, int n, int l, int s) {
    int klen = sh->key_len ? sh->key_len[n] : sh->S;
    if (s >= klen || (sh->causal && s > l))
        return 0;
    if (kd == LOCAL) {
        long w = sh->local_context;
        return w > 0 && s >= l - w / 2 && s < l + (w + 1) / 2;
    }
    return 1;
}

static double phi(double x) {
    return x > 0 ? x + 1.0 : exp(x);
}

/* out [N,L,H,D], attn [N,H,L,S], per row the reference's normalization in
 * norm [N,H,L] (softmax: 1 or 0 with nothing visible; linear: den/(den+eps)). */
static void naive(enum kind kd, double *out, double *attn, double *norm, const float *q,
                  const float *k, const float *v, const xf_attn_shape *sh) {
    const int S = sh->S;
    double *row = malloc((size_t)(S ? S : 1) * sizeof *row);
    int *keep = malloc((size_t)(S ? S : 1) * sizeof *keep);
    for (int n = 0; n < sh->N; n++)
        for (int h = 0; h < sh->H; h++)
            for (int l = 0; l < sh->L; l++) {
                double sum = 0;
                int nvis = 0;
                for (int s = 0; s < S; s++) {
                    keep[s] = visible(kd, sh, n, l, s);
                    nvis += keep[s];
                    double d = 0;
                    for (int e = 0; e < sh->E; e++)
                        d += kd == LINEAR ? phi(q[QI(n, l, h, e)]) * phi(k[KI(n, s, h, e)])
                                          : (double)q[QI(n, l, h, e)] * k[KI(n, s, h, e)];
                    row[s] = d;
                }
                if (kd == TOPK && nvis > sh->topk) {
                    /* drop the smallest visible raw scores until topk remain;
                     * ties: the highest index goes first (lowest kept) */
                    for (int drop = nvis - (sh->topk > 0 ? sh->topk : 0); drop > 0; drop--) {
                        int worst = -1;
                        for (int s = 0; s < S; s++)
                            if (keep[s] && (worst < 0 || row[s] <= row[worst]))
                                worst = s;
                        keep[worst] = 0;
                    }
                }
                if (kd == LINEAR) {
                    for (int s = 0; s < S; s++)
                        sum += keep[s] ? row[s] : 0.0;
                    double z = 1.0 / (sum + 1e-6);
                    for (int s = 0; s < S; s++)
                        row[s] = keep[s] ? row[s] * z : 0.0;
                    norm[((int64_t)n * sh->H + h) * sh->L + l] = sum * z;
                } else {
                    double m = -INFINITY;
                    for (int s = 0; s < S; s++)
                        if (keep[s] && sh->temp * row[s] > m)
                            m = sh->temp * row[s];
                    for (int s = 0; s < S; s++) {
                        row[s] = keep[s] ? exp(sh->temp * row[s] - m) : 0.0;
                        sum += row[s];
                    }
                    for (int s = 0; s < S; s++)
                        row[s] = sum > 0 ? row[s] / sum : 0.0;
                    norm[((int64_t)n * sh->H + h) * sh->L + l] = sum > 0 ? 1.0 : 0.0;
                }
                for (int s = 0; s < S; s++)
                    attn[AI(n, h, l, s)] = row[s];
                for (int d = 0; d < sh->D; d++) {
                    double o = 0;
                    for (int s = 0; s < S; s++)
                        o += row[s] * v[VI(n, s, h, d)];
                    out[OI(n, l, h, d)] = o;
                }
            }
    free(row);
    free(keep);
}

/* ---- the generic check ---------------------------------------------------- */

typedef struct {
    float *q, *k, *v;
    int64_t nq, nk, nv, no, na;
} inputs;

static inputs make_inputs(const xf_attn_shape *sh, unsigned seed) {
    inputs in;
    in.nq = (int64_t)sh->N * sh->L * sh->H * sh->E;
    in.nk = (int64_t)sh->N * sh->S * sh->H * sh->E;
    in.nv = (int64_t)sh->N * sh->S * sh->H * sh->D;
    in.no = (int64_t)sh->N * sh->L * sh->H * sh->D;
    in.na = (int64_t)sh->N * sh->H * sh->L * sh->S;
    in.q = th_rand_buf(in.nq, seed, 2.0f);
    in.k = th_rand_buf(in.nk, seed + 1, 2.0f);
    in.v = th_rand_buf(in.nv, seed + 2, 1.0f);
    return in;
}

static void free_inputs(inputs *in) {
    free(in->q);
    free(in->k);
    free(in->v);
}

/* Runs kernel kd with and without attn on random q/k/v (outputs and scratch
 * pre-filled with garbage: every entry must be written) and checks: out and
 * attn within tol of the reference, non-visible attn entries exactly 0,
 * visible entries kept > 0 (softmax types: the reference's kept set),
 * row sums equal to the reference's normalization, both paths' out equal. */
static void check(enum kind kd, xf_attn_shape sh, double tol) {
    const xf_attn_shape *s = &sh;
    inputs in = make_inputs(s, 1);
    double *ro = malloc((size_t)(in.no ? in.no : 1) * sizeof *ro);
    double *ra = malloc((size_t)(in.na ? in.na : 1) * sizeof *ra);
    double *rn = malloc((size_t)((int64_t)sh.N * sh.H * sh.L + 1) * sizeof *rn);
    naive(kd, ro, ra, rn, in.q, in.k, in.v, s);

    float *o1 = th_rand_buf(in.no, 4, 100.0f), *o2 = th_rand_buf(in.no, 5, 100.0f);
    float *a = th_rand_buf(in.na, 6, 100.0f), *scratch = scratch_for(s);
    kernel[kd](o1, a, in.q, in.k, in.v, s, scratch);
    kernel[kd](o2, NULL, in.q, in.k, in.v, s, scratch);

    for (int64_t i = 0; i < in.no; i++) {
        cr_assert(fabs(o1[i] - ro[i]) <= tol, "%s out[%lld] (materialized): got %.7g want %.7g",
                  kind_name[kd], (long long)i, o1[i], ro[i]);
        cr_assert(fabs(o2[i] - ro[i]) <= tol, "%s out[%lld] (streaming): got %.7g want %.7g",
                  kind_name[kd], (long long)i, o2[i], ro[i]);
        cr_assert(fabs(o1[i] - o2[i]) <= 1e-5, "%s out[%lld]: materialized %.7g, streaming %.7g",
                  kind_name[kd], (long long)i, o1[i], o2[i]);
    }
    for (int64_t r = 0; r < (int64_t)sh.N * sh.H * sh.L; r++) {
        double sum = 0;
        for (int j = 0; j < sh.S; j++) {
            int64_t i = r * sh.S + j;
            cr_assert(fabs(a[i] - ra[i]) <= tol, "%s attn[%lld]: got %.7g want %.7g", kind_name[kd],
                      (long long)i, a[i], ra[i]);
            if (ra[i] == 0.0) /* dropped or masked: exactly 0 */
                cr_assert(a[i] == 0.0f, "%s attn[%lld] = %g, want exactly 0", kind_name[kd],
                          (long long)i, a[i]);
            else if (kd != LINEAR)
                cr_assert(a[i] > 0.0f, "%s attn[%lld] = %g, want > 0", kind_name[kd], (long long)i,
                          a[i]);
            sum += a[i];
        }
        cr_assert(fabs(sum - rn[r]) <= 1e-5, "%s attn row %lld sums to %.7g, want %.7g",
                  kind_name[kd], (long long)r, sum, rn[r]);
    }
    free_inputs(&in);
    free(ro);
    free(ra);
    free(rn);
    free(o1);
    free(o2);
    free(a);
    free(scratch);
}

/* out of kernel kd (attn NULL) on the given inputs, fresh buffers */
static float *run(enum kind kd, const xf_attn_shape *sh, const inputs *in, float *attn) {
    float *o = th_rand_buf(in->no, 9, 50.0f), *scratch = scratch_for(sh);
    kernel[kd](o, attn, in->q, in->k, in->v, sh, scratch);
    free(scratch);
    return o;
}

#define SHAPE(n, l, s, h, e, d)                                                                    \
    (xf_attn_shape) {                                                                              \
        .N = n, .L = l, .S = s, .H = h, .E = e, .D = d, .temp = 1.0f / sqrtf((float)(e)),          \
        .local_context = 4, .topk = 3                                                              \
    }

/* Every kernel through the shared mask cases. */
static void check_all(xf_attn_shape sh, double tol) {
    for (int kd = LINEAR; kd <= TOPK; kd++)
        check((enum kind)kd, sh, tol);
}

/* ---- shared cases ---------------------------------------------------------- */

Test(variants, no_mask) {
    check_all(SHAPE(2, 10, 10, 3, 8, 8), 1e-5);
}

Test(variants, key_lengths) {
    int len[3] = {9, 1, 4};
    xf_attn_shape sh = SHAPE(3, 9, 9, 2, 8, 8);
    sh.key_len = len;
    check_all(sh, 1e-5);
}

Test(variants, causal) {
    xf_attn_shape sh = SHAPE(2, 13, 13, 2, 16, 16);
    sh.causal = 1;
    check_all(sh, 1e-5);
}

Test(variants, causal_and_key_lengths) {
    int len[2] = {5, 11};
    xf_attn_shape sh = SHAPE(2, 11, 11, 3, 8, 8);
    sh.key_len = len;
    sh.causal = 1;
    check_all(sh, 1e-5);
}

Test(variants, cross_lengths_differ) {
    int len[2] = {15, 4};
    xf_attn_shape sh = SHAPE(2, 7, 19, 4, 16, 16);
    check_all(sh, 1e-5);
    sh.key_len = len;
    check_all(sh, 1e-5);
    sh = (xf_attn_shape)SHAPE(1, 19, 7, 4, 16, 16); /* local: queries ≥ 9 see no key */
    check_all(sh, 1e-5);
    sh.causal = 1;
    check_all(sh, 1e-5);
}

Test(variants, query_dim_ne_value_dim) {
    int len[2] = {30, 11};
    xf_attn_shape sh = SHAPE(2, 30, 30, 4, 24, 32);
    sh.key_len = len;
    sh.local_context = 9;
    sh.topk = 7;
    check_all(sh, 1e-5);
    sh.causal = 1;
    check_all(sh, 1e-5);
}

Test(variants, length_one) {
    check_all(SHAPE(3, 1, 1, 2, 8, 4), 1e-6);
    xf_attn_shape sh = SHAPE(1, 1, 5, 2, 8, 4);
    sh.causal = 1; /* query 0 sees key 0 only */
    check_all(sh, 1e-6);
}

/* key_len 1: only key 0 left; every query that sees it gets (about) v_0. */
Test(variants, one_visible_key_copies_its_value) {
    int len[1] = {1};
    xf_attn_shape sh = SHAPE(1, 6, 6, 2, 8, 8);
    sh.key_len = len;
    sh.local_context = 100; /* the band covers everything */
    check_all(sh, 1e-6);
    inputs in = make_inputs(&sh, 3);
    for (int kd = LINEAR; kd <= TOPK; kd++) {
        float *a = th_rand_buf(in.na, 1, 3.0f);
        float *o = run((enum kind)kd, &sh, &in, a), *o2 = run((enum kind)kd, &sh, &in, NULL);
        for (int l = 0; l < 6; l++)
            for (int h = 0; h < 2; h++) {
                float a0 = a[(h * 6 + l) * 6];
                if (kd == LINEAR) /* Z·den = den/(den + 1e-6) */
                    cr_assert(a0 > 1.0f - 1e-5f && a0 <= 1.0f, "%s a0 = %.9g", kind_name[kd], a0);
                else
                    cr_assert_eq(a0, 1.0f, "%s a0 = %.9g", kind_name[kd], a0);
                for (int d = 0; d < 8; d++) {
                    cr_assert_float_eq(o[(l * 2 + h) * 8 + d], in.v[h * 8 + d], 1e-5, "%s",
                                       kind_name[kd]);
                    cr_assert_float_eq(o2[(l * 2 + h) * 8 + d], in.v[h * 8 + d], 1e-5, "%s",
                                       kind_name[kd]);
                }
            }
        free(o);
        free(o2);
        free(a);
    }
    free_inputs(&in);
}

/* key_len 0: out and attn rows exactly 0, never NaN (torch gives NaN for
 * softmax types, linear gives 0·1/eps = 0). */
Test(variants, row_without_visible_key_is_zero) {
    int len[2] = {0, 4};
    xf_attn_shape sh = SHAPE(2, 5, 4, 2, 8, 8);
    sh.key_len = len;
    check_all(sh, 1e-5);
    inputs in = make_inputs(&sh, 5);
    for (int kd = LINEAR; kd <= TOPK; kd++) {
        float *a = th_rand_buf(in.na, 1, 3.0f);
        float *o = run((enum kind)kd, &sh, &in, a), *o2 = run((enum kind)kd, &sh, &in, NULL);
        for (int i = 0; i < 5 * 2 * 8; i++)
            cr_assert(o[i] == 0.0f && o2[i] == 0.0f, "%s out[%d] = %g / %g, want 0", kind_name[kd],
                      i, o[i], o2[i]);
        for (int i = 0; i < 2 * 5 * 4; i++)
            cr_assert(a[i] == 0.0f, "%s attn[%d] = %g, want 0", kind_name[kd], i, a[i]);
        free(o);
        free(o2);
        free(a);
    }
    free_inputs(&in);
}

/* More than one block of query rows (linear: 128; local: ~W; top-k: 128 or
 * 32K scores), not a multiple, with masks: the causal-linear chunk state
 * and the band's block edges. */
Test(variants, long_sequence_blocks, .timeout = 120) {
    int len[1] = {290};
    xf_attn_shape sh = SHAPE(1, 300, 300, 2, 16, 16);
    sh.local_context = 10;
    sh.topk = 20;
    check_all(sh, 2e-5);
    sh.causal = 1;
    sh.key_len = len;
    check_all(sh, 2e-5);
    sh.local_context = 201;
    sh.causal = 0;
    check(LOCAL, sh, 2e-5);
}

/* ---- linear ---------------------------------------------------------------- */

/* no temperature in linear attention: changing it changes nothing */
/* The driver runs every kernel's heads on the runtime's threads (one scratch
 * slice per worker): the references still hold, and each output is bitwise
 * the one a single thread computes (heads are independent, no reduction
 * order changes). */
Test(variants, heads_on_threads) {
    xf_attn_shape sh = SHAPE(3, 37, 45, 4, 8, 6);
    int len[3] = {45, 11, 0};
    sh.key_len = len;
    for (int causal = 0; causal <= 1; causal++) {
        sh.causal = causal;
        inputs in = make_inputs(&sh, 3);
        for (int kd = LINEAR; kd <= TOPK; kd++) {
            xf_set_threads(1);
            float *one = run((enum kind)kd, &sh, &in, NULL);
            xf_set_threads(3);
            float *three = run((enum kind)kd, &sh, &in, NULL);
            check((enum kind)kd, sh, 2e-5);
            for (int64_t i = 0; i < in.no; i++)
                cr_assert(one[i] == three[i],
                          "%s causal=%d out[%lld]: 1 thread %.9g, 3 threads %.9g", kind_name[kd],
                          causal, (long long)i, one[i], three[i]);
            free(one);
            free(three);
        }
        free_inputs(&in);
    }
    xf_set_threads(1);
}

Test(linear, temperature_is_not_used) {
    xf_attn_shape sh = SHAPE(2, 9, 9, 2, 8, 8);
    inputs in = make_inputs(&sh, 11);
    float *o1 = run(LINEAR, &sh, &in, NULL);
    sh.temp = 7.0f;
    float *o2 = run(LINEAR, &sh, &in, NULL);
    cr_assert(memcmp(o1, o2, (size_t)in.no * sizeof(float)) == 0);
    free(o1);
    free(o2);
    free_inputs(&in);
}

/* eps = 1e-6 is in the normalizer: with φ(q)·φ(k) about 1e-6 it halves the
 * output.  q = k = −8 everywhere: φ = e⁻⁸, den_i = (i+1)·E·e⁻¹⁶ (causal). */
Test(linear, eps_in_the_normalizer) {
    xf_attn_shape sh = SHAPE(1, 4, 4, 1, 8, 2);
    sh.causal = 1;
    float q[4 * 8], k[4 * 8], v[4 * 2], o[4 * 2], a[4 * 4];
    for (int i = 0; i < 32; i++)
        q[i] = k[i] = -8.0f;
    for (int i = 0; i < 8; i++)
        v[i] = 1.0f;
    float *scratch = scratch_for(&sh);
    xf_linear_attention(o, a, q, k, v, &sh, scratch);
    for (int i = 0; i < 4; i++) {
        double w = 8 * exp(-16.0), den = (i + 1) * w, want = den / (den + 1e-6);
        cr_assert(want < 0.9);
        for (int d = 0; d < 2; d++)
            cr_assert(fabs(o[i * 2 + d] - want) <= 1e-4 * want, "out[%d] = %.7g want %.7g", i,
                      o[i * 2 + d], want);
        for (int j = 0; j < 4; j++)
            cr_assert(fabs(a[i * 4 + j] - (j <= i ? w / (den + 1e-6) : 0.0)) <= 1e-4 * want,
                      "attn[%d,%d] = %.7g", i, j, a[i * 4 + j]);
    }
    free(scratch);
}

/* Causal linear at every i equals non-causal linear over keys 0..i: the
 * prefix state carried between chunks is the plain sum. */
Test(linear, causal_row_equals_prefix_attention) {
    xf_attn_shape sh = SHAPE(1, 140, 140, 1, 8, 8); /* crosses the 128-row chunk */
    sh.causal = 1;
    inputs in = make_inputs(&sh, 21);
    float *oc = run(LINEAR, &sh, &in, NULL);
    for (int i = 0; i < 140; i += 13) {
        int len[1] = {i + 1};
        xf_attn_shape p = sh;
        p.causal = 0;
        p.key_len = len;
        float *op = run(LINEAR, &p, &in, NULL);
        for (int d = 0; d < 8; d++)
            cr_assert_float_eq(oc[i * 8 + d], op[i * 8 + d], 2e-6, "row %d", i);
        free(op);
    }
    free(oc);
    free_inputs(&in);
}

/* Seq 4096 with attn NULL: O(L), so a 4096-row call is quick and 8× the rows
 * cost about 8× (measured ~11×: caches), far from an O(L²) kernel's 64×; the
 * bound is 32×.  One BLAS thread, thread CPU time, best of 3: little affected
 * by other load on the machine. */
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double time_linear(int L, int causal, float *sample_out) {
    xf_attn_shape sh = SHAPE(1, L, L, 4, 64, 64);
    sh.causal = causal;
    inputs in = make_inputs(&sh, 31);
    float *o = malloc((size_t)in.no * sizeof *o), *scratch = scratch_for(&sh);
    double best = INFINITY;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cpu_seconds();
        xf_linear_attention(o, NULL, in.q, in.k, in.v, &sh, scratch);
        double t = cpu_seconds() - t0;
        best = t < best ? t : best;
    }
    if (sample_out) { /* the last row, checked against a direct O(L) sum */
        double *w = malloc((size_t)L * sizeof *w);
        for (int h = 0; h < 4; h++) {
            double den = 0;
            for (int s = 0; s < L; s++) {
                w[s] = 0;
                for (int e = 0; e < 64; e++)
                    w[s] += phi(in.q[(((int64_t)L - 1) * 4 + h) * 64 + e]) *
                            phi(in.k[((int64_t)s * 4 + h) * 64 + e]);
                den += w[s];
            }
            for (int d = 0; d < 64; d++) {
                double num = 0;
                for (int s = 0; s < L; s++)
                    num += w[s] * in.v[((int64_t)s * 4 + h) * 64 + d];
                sample_out[h * 64 + d] = (float)(num / (den + 1e-6));
                float got = o[(((int64_t)L - 1) * 4 + h) * 64 + d];
                cr_assert(fabsf(got - sample_out[h * 64 + d]) <= 1e-4f,
                          "L %d causal %d out[%d,%d]: got %g want %g", L, causal, h, d, got,
                          sample_out[h * 64 + d]);
            }
        }
        free(w);
    }
    free(o);
    free(scratch);
    free_inputs(&in);
    return best;
}

Test(linear, seq_4096_smoke_is_linear_time, .timeout = 60) {
    xf_set_threads(1);
    float ref[4 * 64];
    for (int causal = 0; causal <= 1; causal++) {
        double t512 = time_linear(512, causal, NULL);
        double t4096 = time_linear(4096, causal, ref);
        cr_log_info("linear causal=%d: seq 512 %.2f ms, seq 4096 %.2f ms (CPU, 1 thread)", causal,
                    1e3 * t512, 1e3 * t4096);
        cr_assert(t4096 < 2.0, "seq 4096 %s linear took %.3f s", causal ? "causal" : "", t4096);
        cr_assert(t4096 < 32.0 * t512 + 0.01,
                  "causal %d: 8x the sequence took %.1fx the time (%.4f s vs %.4f s): not O(L)",
                  causal, t4096 / t512, t4096, t512);
    }
}

/* ---- local ----------------------------------------------------------------- */

/* Odd and even windows: odd W sees |i − j| ≤ W/2 both sides; even W sees
 * W/2 keys before and W/2 − 1 after (fast-transformers' code, not its
 * docstring's |i − j| < W/2), so exactly W keys in the middle of the sequence. */
Test(local, odd_and_even_context) {
    for (int w = 1; w <= 8; w++) {
        xf_attn_shape sh = SHAPE(2, 16, 16, 2, 8, 8);
        sh.local_context = w;
        check(LOCAL, sh, 1e-5);
        sh.causal = 1;
        check(LOCAL, sh, 1e-5);
    }
    xf_attn_shape sh = SHAPE(1, 12, 12, 1, 8, 8);
    inputs in = make_inputs(&sh, 41);
    for (int w = 1; w <= 6; w++) {
        sh.local_context = w;
        float *a = th_rand_buf(in.na, 2, 1.0f);
        float *o = run(LOCAL, &sh, &in, a);
        for (int j = 0; j < 12; j++) { /* row 6 in the middle: keys 6 − w/2 .. 6 + (w+1)/2 − 1 */
            int want = j >= 6 - w / 2 && j < 6 + (w + 1) / 2;
            cr_assert((a[6 * 12 + j] > 0.0f) == want, "W %d: attn[6,%d] = %g", w, j, a[6 * 12 + j]);
        }
        free(o);
        free(a);
    }
    free_inputs(&in);
}

/* W = 1: each query sees only itself: out_i = v_i, attn = identity. */
Test(local, context_one_is_identity) {
    xf_attn_shape sh = SHAPE(2, 9, 9, 2, 8, 8);
    sh.local_context = 1;
    inputs in = make_inputs(&sh, 42);
    float *a = th_rand_buf(in.na, 3, 1.0f), *o = run(LOCAL, &sh, &in, a);
    for (int64_t i = 0; i < in.no; i++)
        cr_assert_float_eq(o[i], in.v[i], 1e-6);
    for (int r = 0; r < 2 * 2 * 9; r++)
        for (int j = 0; j < 9; j++)
            cr_assert_eq(a[r * 9 + j], j == r % 9 ? 1.0f : 0.0f);
    free(o);
    free(a);
    free_inputs(&in);
}

/* local_context ≥ 2L: the band covers everything, so local == full attention. */
Test(local, context_larger_than_sequence_is_full) {
    int len[2] = {10, 6};
    xf_attn_shape sh = SHAPE(2, 10, 10, 3, 8, 8);
    sh.key_len = len;
    for (int causal = 0; causal <= 1; causal++) {
        sh.causal = causal;
        for (int w = 20; w <= 21; w++) {
            sh.local_context = w;
            check(LOCAL, sh, 1e-5);
            inputs in = make_inputs(&sh, 43);
            float *af = malloc((size_t)in.na * sizeof *af),
                  *al = malloc((size_t)in.na * sizeof *al);
            float *of = run(LOCAL, &sh, &in, al);
            float *ol = malloc((size_t)in.no * sizeof *ol), *scratch = scratch_for(&sh);
            xf_attention(ol, af, in.q, in.k, in.v, &sh, scratch);
            for (int64_t i = 0; i < in.no; i++)
                cr_assert_float_eq(of[i], ol[i], 1e-6);
            for (int64_t i = 0; i < in.na; i++)
                cr_assert_float_eq(al[i], af[i], 1e-6);
            free(af);
            free(al);
            free(of);
            free(ol);
            free(scratch);
            free_inputs(&in);
        }
    }
    /* and W ≤ 0 sees nothing */
    sh.local_context = 0;
    check(LOCAL, sh, 0);
}

/* ---- top-k ----------------------------------------------------------------- */

/* topk ≥ S: every visible key kept, the same as xf_attention. */
Test(topk, topk_at_least_S_is_full_attention) {
    int len[2] = {12, 5};
    xf_attn_shape sh = SHAPE(2, 12, 12, 2, 16, 16);
    for (int m = 0; m < 4; m++) {
        sh.key_len = m & 1 ? len : NULL;
        sh.causal = m >> 1;
        for (int t = 12; t <= 13; t++) {
            sh.topk = t;
            check(TOPK, sh, 1e-5);
            inputs in = make_inputs(&sh, 51);
            float *af = malloc((size_t)in.na * sizeof *af),
                  *at = malloc((size_t)in.na * sizeof *at);
            float *ot = run(TOPK, &sh, &in, at), *of = malloc((size_t)in.no * sizeof *of);
            float *scratch = scratch_for(&sh);
            xf_attention(of, af, in.q, in.k, in.v, &sh, scratch);
            for (int64_t i = 0; i < in.no; i++)
                cr_assert_float_eq(ot[i], of[i], 1e-6);
            for (int64_t i = 0; i < in.na; i++)
                cr_assert_float_eq(at[i], af[i], 1e-6);
            free(af);
            free(at);
            free(ot);
            free(of);
            free(scratch);
            free_inputs(&in);
        }
    }
}

/* topk = 1: the argmax key alone, weight exactly 1, out = its value row. */
Test(topk, topk_one_picks_the_argmax) {
    int len[2] = {17, 6};
    xf_attn_shape sh = SHAPE(2, 17, 17, 2, 8, 8);
    sh.topk = 1;
    sh.key_len = len;
    check(TOPK, sh, 1e-6);
    inputs in = make_inputs(&sh, 52);
    float *a = th_rand_buf(in.na, 3, 1.0f), *o = run(TOPK, &sh, &in, a);
    const xf_attn_shape *s = &sh; /* for the index macros */
    for (int n = 0; n < 2; n++)
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 17; l++) {
                int best = 0;
                double bv = -INFINITY;
                for (int j = 0; j < len[n]; j++) {
                    double d = 0;
                    for (int e = 0; e < 8; e++)
                        d += (double)in.q[(((int64_t)n * s->L + l) * 2 + h) * 8 + e] *
                             in.k[(((int64_t)n * s->S + j) * 2 + h) * 8 + e];
                    if (d > bv) {
                        bv = d;
                        best = j;
                    }
                }
                for (int j = 0; j < 17; j++)
                    cr_assert_eq(a[(((int64_t)n * 2 + h) * 17 + l) * 17 + j],
                                 j == best ? 1.0f : 0.0f);
                for (int d = 0; d < 8; d++)
                    cr_assert_eq(o[(((int64_t)n * 17 + l) * 2 + h) * 8 + d],
                                 in.v[(((int64_t)n * 17 + best) * 2 + h) * 8 + d]);
            }
    free(a);
    free(o);
    free_inputs(&in);
}

/* Ranking is on the raw q·k, the temperature applies after (as in
 * fast-transformers): temp < 0 keeps the same keys and inverts their weights;
 * temp = 0 is uniform over the kept keys. */
Test(topk, temperature_applies_after_selection) {
    xf_attn_shape sh = SHAPE(2, 11, 11, 2, 8, 8);
    sh.topk = 4;
    sh.temp = -0.7f;
    check(TOPK, sh, 1e-5);
    sh.temp = 0.0f;
    check(TOPK, sh, 1e-6);
    inputs in = make_inputs(&sh, 53);
    float *a = th_rand_buf(in.na, 3, 1.0f), *o = run(TOPK, &sh, &in, a);
    for (int64_t i = 0; i < in.na; i++)
        cr_assert(a[i] == 0.0f || fabsf(a[i] - 0.25f) < 1e-6f, "attn[%lld] = %g", (long long)i,
                  a[i]);
    free(a);
    free(o);
    free_inputs(&in);
}

/* Equal scores at the k-th place: exactly topk kept, the lowest indices. */
Test(topk, ties_keep_exactly_topk_lowest_indices) {
    xf_attn_shape sh = SHAPE(1, 3, 8, 1, 4, 4);
    sh.topk = 3;
    float q[3 * 4] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
    /* scores of key j: 2, 1, 5, 1, 1, 0, 1, -3 → keep 2, 0 and the first 1 (key 1) */
    float kk[8] = {2, 1, 5, 1, 1, 0, 1, -3}, k[8 * 4] = {0}, v[8 * 4], o[3 * 4], a[3 * 8];
    for (int j = 0; j < 8; j++) {
        k[j * 4] = kk[j];
        for (int d = 0; d < 4; d++)
            v[j * 4 + d] = (float)(j * 10 + d);
    }
    float *scratch = scratch_for(&sh);
    xf_topk_attention(o, a, q, k, v, &sh, scratch);
    for (int l = 0; l < 3; l++)
        for (int j = 0; j < 8; j++)
            cr_assert((a[l * 8 + j] > 0.0f) == (j == 0 || j == 1 || j == 2), "attn[%d,%d] = %g", l,
                      j, a[l * 8 + j]);
    free(scratch);
    check(TOPK, sh, 1e-5);
}

Test(topk, topk_zero_gives_zeros) {
    xf_attn_shape sh = SHAPE(1, 5, 5, 2, 8, 8);
    sh.topk = 0;
    check(TOPK, sh, 0);
}

/* Wide rows (S = 1000: 128-row blocks of 1000 scores) with several topk. */
Test(topk, wide_rows, .timeout = 60) {
    int len[1] = {900};
    xf_attn_shape sh = SHAPE(1, 150, 1000, 1, 16, 16);
    sh.key_len = len;
    for (int t = 1; t <= 100; t *= 10) {
        sh.topk = t;
        check(TOPK, sh, 2e-5);
    }
}

/* ---- scratch ----------------------------------------------------------------- */

/* Sized once for the longest call and reused: never larger for shorter L or S,
 * whatever E, D, local_context (the linear layout depends on E and D). */
Test(scratch, monotone_with_variant_layouts) {
    int dims[3][2] = {{8, 8}, {64, 64}, {24, 128}};
    for (int c = 0; c < 3; c++)
        for (int L = 1; L <= 400; L += 13)
            for (int S = 1; S <= 400; S += 3) {
                xf_attn_shape a = SHAPE(1, L, S, 2, dims[c][0], dims[c][1]);
                a.local_context = 3 + 40 * c;
                xf_attn_shape b = a, d = a;
                b.L += 13;
                d.S += 3;
                int64_t na = xf_attention_scratch(&a);
                cr_assert_leq(na, xf_attention_scratch(&b), "L %d→%d, S %d", L, b.L, S);
                cr_assert_leq(na, xf_attention_scratch(&d), "L %d, S %d→%d", L, S, d.S);
            }
}

/* ---- against the fixtures ------------------------------------------------------ */

/* One layer's attention recomputed by fn from the fixture's q/k/v
 * (harness.h): attn within 1e-4 of the fixture's matrix on valid query rows
 * (l < qlen), and out (both paths) within 1e-4 of that matrix times v. */
static void check_fixture(attn_fn fn, const char *cas, const char *prefix, xf_attn_shape proto,
                          const int *qlen) {
    th_check_attention_fixture(fn, cas, prefix, proto, qlen);
}

static void check_layers(attn_fn fn, const char *cas, int layers, xf_attn_shape proto,
                         const int *len) {
    for (int i = 0; i < layers; i++) {
        char p[32];
        snprintf(p, sizeof p, "layers.%d.", i);
        check_fixture(fn, cas, p, proto, len);
    }
}

Test(fixtures, encoder_linear) {
    check_layers(xf_linear_attention, "encoder_linear", 2, (xf_attn_shape){.causal = 0}, NULL);
}

Test(fixtures, encoder_causal_linear) {
    check_layers(xf_linear_attention, "encoder_causal_linear", 2, (xf_attn_shape){.causal = 1},
                 NULL);
}

/* encoder_local: local_context 6 (even: the asymmetric band), lengths 24, 15 */
Test(fixtures, encoder_local) {
    int len[2] = {24, 15};
    check_layers(xf_local_attention, "encoder_local", 2,
                 (xf_attn_shape){.key_len = len, .local_context = 6}, len);
}

/* encoder_topk: topk 5, causal, lengths 20, 3 (rows seeing fewer than topk keys) */
Test(fixtures, encoder_topk) {
    int len[2] = {20, 3};
    check_layers(xf_topk_attention, "encoder_topk", 2,
                 (xf_attn_shape){.key_len = len, .causal = 1, .topk = 5}, len);
}

/* transformer_small (nn.Transformer): encoder self, decoder causal self and
 * cross attention, full softmax (xf_attention), with src and tgt lengths. */
Test(fixtures, transformer_small) {
    int src_len[2] = {12, 7}, tgt_len[2] = {10, 4};
    for (int i = 0; i < 2; i++) {
        char p[64];
        snprintf(p, sizeof p, "encoder.layers.%d.", i);
        check_fixture(xf_attention, "transformer_small", p, (xf_attn_shape){.key_len = src_len},
                      src_len);
        snprintf(p, sizeof p, "decoder.layers.%d.self_", i);
        check_fixture(xf_attention, "transformer_small", p,
                      (xf_attn_shape){.key_len = tgt_len, .causal = 1}, tgt_len);
        snprintf(p, sizeof p, "decoder.layers.%d.cross_", i);
        check_fixture(xf_attention, "transformer_small", p, (xf_attn_shape){.key_len = src_len},
                      tgt_len);
    }
}
