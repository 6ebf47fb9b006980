/* test_rt_attention_clustered.c — xf_clustered_attention where its answer is
 * known without fast-transformers (the golden ft_*clustered cases compare it
 * with fast-transformers itself):
 *   - improved clustered with topk ≥ every key is full attention (the top part
 *     is each query's own softmax, the bottom mass 0), whatever the clusters —
 *     outputs and attention rows both;
 *   - causal improved with topk ≥ L is causal full attention;
 *   - one cluster per query (clusters = L, distinct hashes) is full attention;
 *   - two well-separated groups of queries make two clusters: each query gets
 *     its group mean's softmax row (a double loop), rows past the query length
 *     zero, also with drawn initial positions (a seed that puts one in each);
 *   - drawn initial positions: xf_clustering_positions gives C distinct
 *     increasing positions, each about equally often; the kernel without
 *     `initial` is the kernel given exactly those positions, and another seed
 *     another clustering;
 *   - xf_clustering_load: I64 initial centroids from the file, planes drawn. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "xf_io.h"
#include "xf_kernels.h"
#include "xf_model.h"

enum { N = 2, H = 2, E = 6, D = 5 };

static xf_attn_shape shape(int L, const int *len, int causal, const xf_clustering *c) {
    return (xf_attn_shape){.N = N,
                           .L = L,
                           .S = L,
                           .H = H,
                           .E = E,
                           .D = D,
                           .key_len = len,
                           .causal = causal,
                           .temp = 0.4f,
                           .clustering = c,
                           .query_len = len};
}

/* out and attn of `fn` on sh (scratch garbage-filled), fresh buffers. */
static void run(void (*fn)(float *, float *, const float *, const float *, const float *,
                           const xf_attn_shape *, float *),
                const xf_attn_shape *sh, const float *q, const float *k, const float *v,
                float **out, float **attn) {
    *out = calloc((size_t)N * sh->L * H * D, sizeof(float));
    *attn = calloc((size_t)N * H * sh->L * sh->S, sizeof(float));
    float *scratch = th_rand_buf(xf_attention_scratch(sh), 9, 1e3f);
    fn(*out, *attn, q, k, v, sh, scratch);
    free(scratch);
}

/* Valid rows (l < len[n]) of a and b agree within tol: out [N,L,H,D] and
 * attention [N,H,L,S]. */
static void same_rows(const float *oa, const float *ob, const float *aa, const float *ab, int L,
                      const int *len, float tol) {
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int l = 0; l < len[n]; l++) {
                for (int d = 0; d < D; d++) {
                    int64_t i = (((int64_t)n * L + l) * H + h) * D + d;
                    cr_assert(fabsf(oa[i] - ob[i]) <= tol, "out[%d,%d,%d,%d]: %g vs %g", n, l, h, d,
                              oa[i], ob[i]);
                }
                for (int s = 0; s < L; s++) {
                    int64_t i = (((int64_t)n * H + h) * L + l) * L + s;
                    cr_assert(fabsf(aa[i] - ab[i]) <= tol, "attn[%d,%d,%d,%d]: %g vs %g", n, h, l,
                              s, aa[i], ab[i]);
                }
            }
}

static float *planes_for(int bits, unsigned seed) {
    return th_rand_buf((int64_t)bits * (E + 1), seed, 1.0f);
}

/* clustered (topk = 0) or improved against full attention, masks as given. */
static void against_full(int L, int clusters, int topk, int causal, const float *initial,
                         int short_by) {
    const int len[N] = {L, L - short_by};
    float *q = th_rand_buf((int64_t)N * L * H * E, 1, 1.0f),
          *k = th_rand_buf((int64_t)N * L * H * E, 2, 1.0f),
          *v = th_rand_buf((int64_t)N * L * H * D, 3, 1.0f), *planes = planes_for(63, 4);
    xf_clustering c = {clusters, 10, 63, topk, planes, initial, 0};
    xf_attn_shape sc = shape(L, len, causal, &c), sf = shape(L, len, causal, NULL);
    float *oc, *ac, *of, *af;
    run(xf_clustered_attention, &sc, q, k, v, &oc, &ac);
    run(xf_attention, &sf, q, k, v, &of, &af);
    same_rows(oc, of, ac, af, L, len, 2e-5f);
    free(q), free(k), free(v), free(planes), free(oc), free(ac), free(of), free(af);
}

Test(clustered, improved_with_every_key_is_full) {
    against_full(40, 5, 40, 0, NULL, 3);
}

Test(clustered, causal_improved_with_every_key_is_causal_full) {
    against_full(33, 4, 64, 1, NULL, 0); /* kk = min(topk, the batch's shortest) */
}

Test(clustered, one_cluster_per_query_is_full) {
    const int L = 24;
    float initial[24];
    for (int i = 0; i < L; i++)
        initial[i] = (float)i;
    against_full(L, L, 0, 0, initial, 3);
}

/* Queries ±u per group (+ small noise): two clusters whatever the planes. */
static void two_groups(const float *initial, uint64_t seed) {
    const int L = 20, len[N] = {20, 13};
    float *q = th_rand_buf((int64_t)N * L * H * E, 5, 0.05f),
          *k = th_rand_buf((int64_t)N * L * H * E, 6, 1.0f),
          *v = th_rand_buf((int64_t)N * L * H * D, 7, 1.0f), *planes = planes_for(40, 8);
    for (int i = 0; i < N * L * H; i++) /* row (n, l, h): group l >= L/2 */
        for (int e = 0; e < E; e++)
            q[(int64_t)i * E + e] +=
                ((i / H) % L >= L / 2 ? -20.0f : 20.0f) * (e % 2 ? 1.0f : -0.5f);
    xf_clustering c = {2, 10, 40, 0, planes, initial, seed};
    xf_attn_shape sh = shape(L, len, 0, &c);
    float *out, *attn;
    run(xf_clustered_attention, &sh, q, k, v, &out, &attn);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int g = 0; g < 2; g++) {
                double qc[E] = {0}, p[20], sum = 0.0, mx = -1e300;
                int cnt = 0;
                for (int l = g * L / 2; l < (g + 1) * L / 2 && l < len[n]; l++, cnt++)
                    for (int e = 0; e < E; e++)
                        qc[e] += q[(((int64_t)n * L + l) * H + h) * E + e];
                for (int s = 0; s < len[n]; s++) {
                    p[s] = 0.0;
                    for (int e = 0; e < E; e++)
                        p[s] += 0.4 * qc[e] / cnt * k[(((int64_t)n * L + s) * H + h) * E + e];
                    mx = fmax(mx, p[s]);
                }
                for (int s = 0; s < len[n]; s++)
                    sum += p[s] = exp(p[s] - mx);
                for (int l = g * L / 2; l < (g + 1) * L / 2; l++)
                    for (int d = 0; d < D; d++) {
                        double want = 0.0;
                        for (int s = 0; s < len[n] && l < len[n]; s++)
                            want += p[s] / sum * v[(((int64_t)n * L + s) * H + h) * D + d];
                        float got = out[(((int64_t)n * L + l) * H + h) * D + d];
                        cr_assert(fabs(got - want) < 1e-5, "n %d h %d l %d d %d: %g, want %g", n, h,
                                  l, d, got, want);
                    }
            }
    free(q), free(k), free(v), free(planes), free(out), free(attn);
}

Test(clustered, two_groups_two_clusters) {
    const float initial[2] = {3, 35}; /* 35 mod 20 = 15: the other group */
    two_groups(initial, 0);
}

Test(clustered, two_groups_drawn_initial_positions) {
    uint64_t seed = 0;
    for (int pos[2];; seed++) { /* the first seed drawing one position in each group */
        xf_clustering_positions(pos, 2, 20, seed);
        if (pos[0] < 10 && pos[1] >= 10)
            break;
    }
    two_groups(NULL, seed);
}

/* ---- drawn initial positions (no initial_centroids in the file) ------------- */

Test(clustered, positions_are_distinct_increasing_and_uniform) {
    enum { L = 12, C = 4, DRAWS = 6000 };
    int hits[L] = {0};
    for (uint64_t seed = 0; seed < DRAWS; seed++) {
        int pos[C];
        xf_clustering_positions(pos, C, L, seed * 7919);
        for (int k = 0; k < C; k++) {
            cr_assert(pos[k] >= 0 && pos[k] < L && (k == 0 || pos[k] > pos[k - 1]),
                      "seed %llu: position %d is %d", (unsigned long long)seed, k, pos[k]);
            hits[pos[k]]++;
        }
    }
    for (int l = 0; l < L; l++) /* expected DRAWS·C/L = 2000, sd ≈ 37 */
        cr_assert(abs(hits[l] - DRAWS * C / L) < 200, "position %d drawn %d times", l, hits[l]);
    int all[5];
    xf_clustering_positions(all, 5, 5, 3);
    for (int k = 0; k < 5; k++)
        cr_assert_eq(all[k], k, "C = L takes every position");
    xf_clustering_positions(all, 5, 3, 3);
    cr_assert(all[3] == 0 && all[4] == 1, "C > L repeats positions mod L");
}

Test(clustered, kernel_draws_its_positions_from_the_seed) {
    const int L = 16, len[N] = {16, 11}, C = 3;
    float *q = th_rand_buf((int64_t)N * L * H * E, 21, 1.0f),
          *k = th_rand_buf((int64_t)N * L * H * E, 22, 1.0f),
          *v = th_rand_buf((int64_t)N * L * H * D, 23, 1.0f), *planes = planes_for(30, 24);
    xf_clustering drawn = {.clusters = C, .iterations = 1, .bits = 30, .planes = planes};
    float *o0, *a0, *o1, *a1;
    drawn.seed = 77;
    xf_attn_shape sh = shape(L, len, 0, &drawn);
    run(xf_clustered_attention, &sh, q, k, v, &o0, &a0);
    int pos[C];
    xf_clustering_positions(pos, C, L, 77);
    float initial[C];
    for (int c = 0; c < C; c++)
        initial[c] = (float)pos[c];
    xf_clustering given = drawn;
    given.initial = initial;
    sh.clustering = &given;
    run(xf_clustered_attention, &sh, q, k, v, &o1, &a1);
    same_rows(o0, o1, a0, a1, L, len, 0.0f);
    free(o1), free(a1);
    int differs = 0; /* other seeds, other starts: some clustering differs */
    sh.clustering = &drawn;
    for (drawn.seed = 1; drawn.seed <= 8 && !differs; drawn.seed++) {
        run(xf_clustered_attention, &sh, q, k, v, &o1, &a1);
        for (int64_t i = 0; i < (int64_t)N * L * H * D && !differs; i++)
            differs = (i / (H * D)) % L < len[i / ((int64_t)L * H * D)] && o1[i] != o0[i];
        free(o1), free(a1);
    }
    cr_assert(differs, "eight other seeds, all the same output: the seed is not used");
    free(q), free(k), free(v), free(planes), free(o0), free(a0);
}

/* ---- xf_clustering_load: the draws from the file (I64 centroids) or drawn ---- */

/* A safetensors file in memory holding `name` I64 [n] = vals. */
static xf_weights *i64_file(char *buf, size_t cap, const char *name, int n, const int64_t *vals) {
    char shape[32];
    snprintf(shape, sizeof shape, "[%d]", n);
    return th_one_tensor_weights(buf, cap, name, "I64", shape, vals, (size_t)n * 8);
}

Test(clustered, load_centroids_from_the_file_planes_drawn) {
    static char buf[1024];
    const char *base = "layers.0.attention.inner_attention";
    const int64_t init[3] = {4, 0, 17};
    xf_error err = {0};
    xf_weights *w =
        i64_file(buf, sizeof buf, "layers.0.attention.inner_attention.initial_centroids", 3, init);
    xf_clustering c = {.clusters = 3, .iterations = 10, .bits = 12};
    cr_assert_eq(xf_clustering_load(&c, w, base, E, 0, 5, &err), 0, "%s", err.msg);
    for (int k = 0; k < 3; k++)
        cr_assert_eq(c.initial[k], (float)init[k], "I64 entry %d read as %g", k, c.initial[k]);
    float drawn[12 * (E + 1)];
    cr_assert_eq(
        xf_feature_map_draw(drawn, 12, E + 1, 0,
                            xf_feature_map_seed(5, "layers.0.attention.inner_attention.planes")),
        0);
    for (int b = 0; b < 12; b++)
        for (int e = 0; e <= E; e++)
            cr_assert_eq(c.planes[b * (E + 1) + e], e == E ? 0.0f : drawn[b * (E + 1) + e],
                         "plane %d column %d: drawn from random_seed and the name, hash_bias = "
                         "false zeroes the threshold",
                         b, e);
    cr_assert_eq(xf_weights_check_all_used(w, &err), 0);
    xf_weights_close(w);
}

Test(clustered, load_refuses_a_negative_position) {
    static char buf[1024];
    const int64_t init[2] = {3, -1};
    xf_error err = {0};
    xf_weights *w = i64_file(buf, sizeof buf, "a.initial_centroids", 2, init);
    xf_clustering c = {.clusters = 2, .iterations = 10, .bits = 8};
    cr_assert_eq(xf_clustering_load(&c, w, "a", E, 1, 0, &err), -1);
    cr_assert(strstr(err.msg, "a.initial_centroids") && strstr(err.msg, "entry 1 is -1"), "%s",
              err.msg);
    xf_weights_close(w);
}
