/*
 * shuffle.c - seeded permutations for splits and loader epochs. A (seed, stream) pair is
 * hashed into the 32-bit seed of an mt19937 generator (cx_rng), so every bit of the 64-bit
 * seed matters and nearby epochs get unrelated orders; the order is then a Fisher-Yates
 * shuffle with unbiased bounded draws.
 */
#include "data_impl.h"

/* splitmix64's finaliser (Steele, Lea, Flood, "Fast splittable pseudorandom number
 * generators", OOPSLA 2014): a bijection that spreads every input bit over the output. */
static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void cx__shuffle_seed(cx_rng *rng, uint64_t seed, uint64_t stream) {
    uint64_t h = mix64(mix64(seed) ^ stream);
    cx_rng_seed(rng, (uint32_t)(h ^ (h >> 32)));
}

/* A uniform draw in [0, range), range >= 1: rejects the top values that would make x % range
 * favour small results. */
static uint64_t bounded(cx_rng *rng, uint64_t range) {
    if (range <= UINT32_MAX) {
        uint32_t r = (uint32_t)range, threshold = (uint32_t)(-r) % r;
        for (;;) {
            uint32_t x = cx_rng_u32(rng);
            if (x >= threshold) return x % r;
        }
    }
    uint64_t threshold = (-range) % range;
    for (;;) {
        uint64_t x = (uint64_t)cx_rng_u32(rng) << 32 | cx_rng_u32(rng);
        if (x >= threshold) return x % range;
    }
}

void cx__permutation(cx_rng *rng, int64_t n, int64_t *perm) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)bounded(rng, (uint64_t)i + 1);
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}
