/*
 * vmath.h - float exp, expm1, log, log1p, tanh, sigmoid and the normal CDF written so that GCC vectorises
 * loops calling them (libm's versions are scalar calls unless -ffast-math).
 *
 * Measured against double-precision libm (tests/test_unary.c): exp <= 1 ulp (subnormal results
 * included), expm1 and tanh <= 2 ulp, sigmoid <= 3 ulp over the whole range; the normal CDF
 * <= 1e-6 relative for x > -5 and <= 1e-5 in the lower tail, where the rounding of x^2 in
 * e^(-x^2/2) dominates. NaN in gives NaN out; overflow gives inf.
 *
 * Why the bit tricks: GCC turns float selects (c ? a : b) that follow arithmetic into branches,
 * and may not speculate floating-point operations across them, so such loops stay scalar.
 * Selects are therefore done on bit masks (cx__vselect), and exp derives its integer exponent
 * from the bits of the rounded float instead of a float-to-int conversion.
 */
#ifndef CX_VMATH_H
#define CX_VMATH_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* c ? a : b, branch-free. */
static inline float cx__vselect(bool c, float a, float b) {
    uint32_t m = -(uint32_t)c, ua, ub;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    uint32_t r = (ua & m) | (ub & ~m);
    float out;
    memcpy(&out, &r, sizeof out);
    return out;
}

static inline float cx__vabs(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u &= 0x7fffffffu;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* |a| with the sign of s. */
static inline float cx__vcopysign(float a, float s) {
    uint32_t ua, us;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&us, &s, sizeof us);
    ua = (ua & 0x7fffffffu) | (us & 0x80000000u);
    memcpy(&a, &ua, sizeof a);
    return a;
}

/* e^x (Cephes expf): x = n ln2 + r with |r| <= ln2/2, e^r by a degree-7 polynomial, 2^n put
 * into the exponent bits in two halves so that results down to the subnormals stay exact. */
static inline float cx__vexp(float x) {
    /* Beyond this range the result is 0 or inf anyway; clamping keeps n in int range. */
    x = cx__vselect(x < -104.0f, -104.0f, x);
    x = cx__vselect(x > 88.8f, 88.8f, x);
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = x * 1.44269504088896341f + magic;
    float n = t - magic;
    uint32_t tb;
    memcpy(&tb, &t, sizeof tb);
    int32_t k = (int32_t)(tb - 0x4b400000u); /* n as an integer: the low mantissa bits of t */
    k = k < -152 ? -152 : k;                 /* only NaN gets here; keeps the shifts defined */
    k = k > 128 ? 128 : k;
    float r = x - n * 0.693359375f - n * -2.12194440e-4f; /* ln2 split in two for precision */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    int32_t k1 = k >> 1, k2 = k - k1;
    uint32_t b1 = (uint32_t)(k1 + 127) << 23, b2 = (uint32_t)(k2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return p * s1 * s2; /* overflows to inf above ln(FLT_MAX) */
}

/* ln x for a positive, finite, normal x (Cephes logf): x = m 2^e with m in [sqrt(1/2),
 * sqrt 2), ln m = f - f^2/2 + f^3 P(f) with f = m - 1, and e ln2 added in two parts. */
static inline float cx__vlog(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    float e = (float)((int32_t)((u >> 23) & 0xffu) - 126);
    u = (u & 0x807fffffu) | 0x3f000000u; /* the mantissa as m in [0.5, 1) */
    float m;
    memcpy(&m, &u, sizeof m);
    bool low = m < 0.707106781186547524f;
    e = cx__vselect(low, e - 1.0f, e);
    float f = cx__vselect(low, m + m - 1.0f, m - 1.0f), z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float y = p * f * z + e * -2.12194440e-4f - 0.5f * z;
    return f + y + e * 0.693359375f;
}

/* ln(1 + y) for 0 <= y < 2^126 (NaN gives NaN): ln u · y / (u - 1) with u = 1 + y rounded,
 * which cancels the rounding of u, so tiny y keep their relative accuracy. */
static inline float cx__vlog1p(float y) {
    float u = 1.0f + y;
    float d = cx__vselect(u == 1.0f, 1.0f, u - 1.0f);
    return cx__vselect(u == 1.0f, y, cx__vlog(u) * (y / d));
}

/* e^x - 1, accurate near 0 where e^x - 1 cancels: Taylor series to x^8 for |x| < 0.5. */
static inline float cx__vexpm1(float x) {
    float p = 1.0f / 40320.0f;
    p = p * x + 1.0f / 5040.0f;
    p = p * x + 1.0f / 720.0f;
    p = p * x + 1.0f / 120.0f;
    p = p * x + 1.0f / 24.0f;
    p = p * x + 1.0f / 6.0f;
    p = p * x + 0.5f;
    p = p * (x * x) + x;
    return cx__vselect(cx__vabs(x) < 0.5f, p, cx__vexp(x) - 1.0f);
}

/* tanh x: odd polynomial (Cephes tanhf) for |x| < 0.625, else 1 - 2 / (e^2|x| + 1). */
static inline float cx__vtanh(float x) {
    float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    p = p * z * x + x;
    float a = cx__vabs(x);
    float big = 1.0f - 2.0f / (cx__vexp(2.0f * a) + 1.0f);
    return cx__vselect(a < 0.625f, p, cx__vcopysign(big, x));
}

/* 1 / (1 + e^-x), from e^-|x| so that nothing overflows: for x < 0 it is e^x / (1 + e^x). */
static inline float cx__vsigmoid(float x) {
    float e = cx__vexp(-cx__vabs(x));
    float s = 1.0f / (1.0f + e);
    return cx__vselect(x >= 0.0f, s, e * s);
}

/* Standard normal density e^(-x^2/2) / sqrt(2 pi). */
static inline float cx__vnormal_pdf(float x) {
    return 0.398942280401432678f * cx__vexp(-0.5f * x * x);
}

/* Standard normal CDF, Phi(x) = erfc(-x/sqrt2) / 2. erfc(a) for a >= 0 is e^-a^2 t P(t) with
 * t = 1 / (1 + 0.3275911 a) (the Abramowitz-Stegun 7.1.26 form, P refitted with degree 10 to
 * 1e-8 relative), so the lower tail keeps its relative accuracy, unlike 1 + erf(x/sqrt2). */
static inline float cx__vnormal_cdf(float x) {
    float a = cx__vabs(x) * 0.707106781186547524f;
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float p = 2.958646719e-02f;
    p = p * t - 1.180116057e-01f;
    p = p * t + 1.358485858e-01f;
    p = p * t - 5.098595317e-02f;
    p = p * t + 8.871869124e-02f;
    p = p * t + 8.779954395e-02f;
    p = p * t + 1.274047363e-01f;
    p = p * t + 1.550919864e-01f;
    p = p * t + 1.749003271e-01f;
    p = p * t + 1.848237450e-01f;
    p = p * t + 1.848234847e-01f;
    float half_erfc = 0.5f * t * p * cx__vexp(-0.5f * x * x); /* e^-a^2, one rounding less */
    return cx__vselect(x < 0.0f, half_erfc, 1.0f - half_erfc);
}

#endif /* CX_VMATH_H */
