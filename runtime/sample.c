/* sample.c — the next token from a row of logits (xf_generate.h, SPEC §8).
 *
 * The generator is splitmix64 (Steele, Lea & Flood 2014, the seeder of
 * xoshiro): 64-bit state, one add and two multiply-xorshift rounds per draw,
 * integer arithmetic only, so a seed gives the same draws everywhere.
 * Uniforms are its top 53 bits / 2⁵³.
 *
 * Sampling allocates nothing: top-k finds the k-th largest logit by a
 * bisection over the 32-bit order-preserving key of a float (32 passes over
 * the row, no copy, no sort), keeps everything above it and, of the logits
 * equal to it, the lowest ids — the same set whatever the machine.  The draw
 * walks the cumulative weights exp((x − max) / T) in double.  NaN logits
 * weigh nothing.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "xf_generate.h"

void xf_rng_seed(xf_rng *r, uint64_t seed) {
    r->s = seed;
}

static uint64_t splitmix64(xf_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double xf_rng_uniform(xf_rng *r) {
    return (double)(splitmix64(r) >> 11) * 0x1.0p-53;
}

/* Lowest id of the largest logit (NaN never wins; all NaN: 0). */
static int32_t argmax(const float *x, int n) {
    int32_t best = -1;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i]) && (best < 0 || x[i] > x[best]))
            best = i;
    return best < 0 ? 0 : best;
}

/* Unsigned key with the order of the floats (-0 below +0; NaN: 0, below all). */
static uint32_t order_key(float f) {
    if (isnan(f))
        return 0;
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

/* The largest key t with at least k logits of key ≥ t: the k-th largest. */
static uint32_t kth_largest_key(const float *x, int n, int k) {
    uint32_t lo = 0, hi = UINT32_MAX; /* count(≥ lo) ≥ k always holds */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2 + 1, c = 0;
        for (int i = 0; i < n; i++)
            c += order_key(x[i]) >= mid;
        if (c >= (uint32_t)k)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Logits of key above t, or equal to it while ties_left lasts (lowest ids
 * first), are drawn from; NaN never is. */
static int kept(uint32_t key, uint32_t t, int *ties_left) {
    if (key == 0)
        return 0;
    if (key > t)
        return 1;
    return key == t && (*ties_left)-- > 0;
}

int32_t xf_sample(const float *logits, int vocab, const xf_sampling *how, xf_rng *r) {
    if (vocab <= 1 || !(how->temperature > 0.0f))
        return vocab <= 1 ? 0 : argmax(logits, vocab);
    const int k = how->top_k > 0 && how->top_k < vocab ? how->top_k : vocab;
    uint32_t t = 0; /* all: every key is above 0 but NaN's */
    int ties = 0;
    if (k < vocab) {
        t = kth_largest_key(logits, vocab, k);
        ties = k;
        for (int i = 0; i < vocab; i++)
            ties -= order_key(logits[i]) > t;
    }
    const double m = logits[argmax(logits, vocab)], inv_t = 1.0 / how->temperature;

    /* pass 1: total weight of the kept ids; pass 2: walk to the draw */
    double total = 0.0;
    int last = -1, left = ties;
    for (int i = 0; i < vocab; i++)
        if (kept(order_key(logits[i]), t, &left)) {
            total += exp((logits[i] - m) * inv_t);
            last = i;
        }
    if (!(total > 0.0) || !isfinite(total) || last < 0)
        return argmax(logits, vocab); /* kept logits NaN, −inf or +inf */
    double u = xf_rng_uniform(r) * total, acc = 0.0;
    left = ties;
    for (int i = 0; i < vocab; i++)
        if (kept(order_key(logits[i]), t, &left)) {
            acc += exp((logits[i] - m) * inv_t);
            if (u < acc)
                return i;
        }
    return last; /* u within rounding of the total */
}
