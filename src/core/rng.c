/*
 * rng.c - the random generator: Mersenne Twister mt19937 with PyTorch's CPU conventions, so a
 * seed gives the same uniform stream as torch.manual_seed(seed):
 *   uniform float = (next32 & (2^24 - 1)) * 2^-24
 *   normal fills of >= 16 values: uniforms, then Box-Muller on blocks of 16 (pairs i, i+8),
 *   the tail handled by redoing the last 16 (torch's normal_fill).
 *   single normals (and fills of < 16): torch's at::normal_distribution<double>, Box-Muller
 *   on two 53-bit uniform doubles (each from two 32-bit draws, the first as the high word),
 *   returning r cos(theta) and keeping r sin(theta) for the next call.
 * Reference: M. Matsumoto, T. Nishimura, "Mersenne Twister", ACM TOMACS 8(1), 1998.
 */
#include "cortex_impl.h"

#include <math.h>
#include <string.h>

#define MT_N 624
#define MT_M 397

struct cx_rng {
    uint32_t state[MT_N];
    int index;
    int has_spare; /* Box-Muller spare for cx_rng_normal (torch caches it in the generator) */
    double spare;
};

void cx_rng_seed(cx_rng *r, uint64_t seed) {
    if (!r) r = cx_rng_default();
    r->state[0] = (uint32_t)seed;
    for (int i = 1; i < MT_N; i++)
        r->state[i] = 1812433253u * (r->state[i - 1] ^ (r->state[i - 1] >> 30)) + (uint32_t)i;
    r->index = MT_N;
    r->has_spare = 0;
    r->spare = 0; /* saved in checkpoints: no uninitialised bytes in files */
}

cx_rng *cx_rng_new(uint64_t seed) {
    cx_rng *r = cx__alloc(sizeof *r);
    if (r) cx_rng_seed(r, seed);
    return r;
}

void cx_rng_free(cx_rng *r) {
    if (r && r != cx_rng_default()) cx__free(r);
}

static _Thread_local cx_rng default_rng;
static _Thread_local bool default_seeded;

cx_rng *cx_rng_default(void) {
    if (!default_seeded) {
        default_seeded = true;
        cx_rng_seed(&default_rng, 5489u);
    }
    return &default_rng;
}

void cx_seed(uint64_t seed) { cx_rng_seed(cx_rng_default(), seed); }

static void twist(cx_rng *r) {
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (r->state[i] & 0x80000000u) | (r->state[(i + 1) % MT_N] & 0x7fffffffu);
        r->state[i] = r->state[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    r->index = 0;
}

uint32_t cx_rng_u32(cx_rng *r) {
    if (!r) r = cx_rng_default();
    if (r->index >= MT_N) twist(r);
    uint32_t y = r->state[r->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* The next n draws of cx_rng_u32, in the same order, a state block at a time: the tempering
 * of a whole block vectorises, where a call per draw does not (dropout masks draw one per
 * activation). */
CX_VECTORIZE static void temper(const uint32_t *state, uint32_t *out, int n) {
    for (int i = 0; i < n; i++) {
        uint32_t y = state[i];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        out[i] = y ^ (y >> 18);
    }
}

void cx__rng_fill_u32(cx_rng *r, uint32_t *out, int64_t n) {
    if (!r) r = cx_rng_default();
    while (n > 0) {
        if (r->index >= MT_N) twist(r);
        int take = MT_N - r->index < n ? MT_N - r->index : (int)n;
        temper(r->state + r->index, out, take);
        r->index += take;
        out += take;
        n -= take;
    }
}

/* Advances r past n draws of cx_rng_u32 without tempering them: whole state blocks are only
 * twisted, so skipping costs about a third of drawing. */
void cx__rng_skip(cx_rng *r, int64_t n) {
    if (!r) r = cx_rng_default();
    while (n > 0) {
        if (r->index >= MT_N) twist(r);
        int take = MT_N - r->index < n ? MT_N - r->index : (int)n;
        r->index += take;
        n -= take;
    }
}

float cx_rng_uniform(cx_rng *r) {
    return (float)(cx_rng_u32(r) & ((1u << 24) - 1)) * (1.0f / 16777216.0f);
}

/* Uniform double in [0, 1) from 53 bits of a 64-bit draw, as torch's uniform_real<double>. */
static double uniform_double(cx_rng *r) {
    uint64_t hi = cx_rng_u32(r), lo = cx_rng_u32(r);
    uint64_t bits = (hi << 32 | lo) & (((uint64_t)1 << 53) - 1);
    return (double)bits * (1.0 / 9007199254740992.0);
}

float cx_rng_normal(cx_rng *r) {
    if (!r) r = cx_rng_default();
    if (r->has_spare) {
        r->has_spare = 0;
        return (float)r->spare;
    }
    double u1 = uniform_double(r), u2 = uniform_double(r);
    double radius = sqrt(-2.0 * log(1.0 - u2)), theta = 2.0 * M_PI * u1;
    r->spare = radius * sin(theta);
    r->has_spare = 1;
    return (float)(radius * cos(theta));
}

size_t cx_rng_state_bytes(void) { return sizeof(cx_rng); }

void cx_rng_get_state(const cx_rng *r, void *state) {
    if (!r) r = cx_rng_default();
    memcpy(state, r, sizeof *r);
}

cx_status cx_rng_set_state(cx_rng *r, const void *state) {
    if (!r) r = cx_rng_default();
    cx_rng tmp;
    memcpy(&tmp, state, sizeof tmp);
    if (tmp.index < 0 || tmp.index > MT_N || (tmp.has_spare != 0 && tmp.has_spare != 1))
        return cx__error(CX_ERR_FORMAT, "cx_rng_set_state: the saved generator state is damaged");
    *r = tmp;
    return CX_OK;
}

/* Box-Muller on a block of 16: pairs (i, i+8), as torch's normal_fill_16. */
static void normal_fill_16(float *d) {
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j], u2 = d[j + 8];
        float radius = sqrtf(-2.0f * logf(u1)), theta = 2.0f * (float)M_PI * u2;
        d[j] = radius * cosf(theta);
        d[j + 8] = radius * sinf(theta);
    }
}

void cx__rng_fill_normal(cx_rng *r, float *d, int64_t n) {
    if (n < 16) {
        for (int64_t i = 0; i < n; i++) d[i] = cx_rng_normal(r);
        return;
    }
    for (int64_t i = 0; i < n; i++) d[i] = cx_rng_uniform(r);
    for (int64_t i = 0; i + 16 <= n; i += 16) normal_fill_16(d + i);
    if (n % 16) {
        float *tail = d + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = cx_rng_uniform(r);
        normal_fill_16(tail);
    }
}

static cx_tensor *random_tensor(const char *who, cx_rng *r, int ndim, const int64_t *shape,
                                bool normal) {
    cx_tensor *t = cx_tensor_new(CX_DTYPE_F32, ndim, shape);
    if (!t) {
        /* Copied first: the message buffer cannot be both source and target of the format. */
        char why[512];
        snprintf(why, sizeof why, "%s", cx_last_error());
        cx__error(cx_last_status(), "%s: %s", who, why);
        return NULL;
    }
    if (!r) r = cx_rng_default();
    float *d = cx__f32(t);
    int64_t n = cx__numel(ndim, shape);
    if (normal) cx__rng_fill_normal(r, d, n);
    else
        for (int64_t i = 0; i < n; i++) d[i] = cx_rng_uniform(r);
    return t;
}

cx_tensor *cx_rand(cx_rng *r, int ndim, const int64_t *shape) {
    return random_tensor("cx_rand", r, ndim, shape, false);
}

cx_tensor *cx_randn(cx_rng *r, int ndim, const int64_t *shape) {
    return random_tensor("cx_randn", r, ndim, shape, true);
}
