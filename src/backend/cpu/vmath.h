/*
 * vmath.h - float math that GCC can vectorise: loops calling these inline functions compile
 * to AVX2/AVX-512 code, where calls to libm's expf stay scalar (glibc's vector variants are
 * only offered under -ffast-math, which Cortex does not use).
 */
#ifndef CX_VMATH_H
#define CX_VMATH_H

#include <math.h>
#include <stdint.h>

/* e^x within 1 ulp (checked against every float in range), Cephes' expf: x = n ln2 + r with
 * |r| <= ln2/2, e^r from a degree-7 polynomial, 2^n built in the exponent bits without a
 * float-to-int conversion. Above 88.72 it gives +inf and NaN stays NaN, as expf; below -86.64
 * it gives 0 where expf gives at most 2.3e-38 (near or in the subnormal range). */
static inline float cx__expf(float x) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float xc = x > 88.72283f ? 88.72283f : x;
    xc = xc < -86.64f ? -86.64f : xc;
    union { float f; uint32_t u; } t, s;
    t.f = xc * 1.44269504f + magic;
    float n = t.f - magic;
    float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^(n-1) in the exponent bits, times 2 below: n reaches 128 at the top of the range. */
    s.u = (t.u - 0x4B400000u + 126u) << 23;
    float y = p * s.f * 2.0f;
    y = x > 88.72283f ? (float)INFINITY : y;
    return x < -86.64f ? 0.0f : y;
}

#endif /* CX_VMATH_H */
