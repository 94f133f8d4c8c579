/*
 * test_bf16.c - matrix products with bfloat16 factors (CX_MATMUL_BF16) against a double
 * reference over the rounded factors: every transpose, edge sizes for the 32 x 32 blocks and
 * the 32-deep k steps, alpha and beta, the packed B of the recurrent steps, NaN kept, and a
 * model that trains. The same checks hold with AMX (tiles) and without (rounded sgemm).
 */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float bf16(float x) {
    uint32_t u = (uint32_t)cx__bf16_round(x) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void test_bf16_round(void **state) {
    (void)state;
    assert_int_equal(cx__bf16_round(1.0f), 0x3f80);
    assert_int_equal(cx__bf16_round(-2.0f), 0xc000);
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even 1 */
    assert_int_equal(cx__bf16_round(1.00390625f), 0x3f80);
    assert_int_equal(cx__bf16_round(1.01171875f), 0x3f82); /* 1 + 3 * 2^-8: up to even */
    assert_int_equal(cx__bf16_round(INFINITY), 0x7f80);
    assert_int_equal(cx__bf16_round(3.4e38f), 0x7f80); /* past bfloat16's largest: infinity */
    uint32_t nan_bits = 0x7f800001; /* a NaN whose payload is only in the dropped half */
    float nan;
    memcpy(&nan, &nan_bits, sizeof nan);
    assert_true(isnan(bf16(nan)));
    assert_true(isnan(bf16(NAN)));
}

/* alpha * op(A) op(B) + beta * C in double over the rounded factors. */
static void reference(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, const float *b, float beta, const float *c0, double *want,
                      double *scale) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, size = 0;
            for (int64_t p = 0; p < k; p++) {
                double x = bf16(ta ? a[p * m + i] : a[i * k + p]);
                double y = bf16(tb ? b[j * k + p] : b[p * n + j]);
                s += x * y, size += fabs(x * y);
            }
            want[i * n + j] = alpha * s + (beta == 0.0f ? 0.0 : beta * c0[i * n + j]);
            scale[i * n + j] = fabs(alpha) * size + fabs(beta * c0[i * n + j]) + 1e-30;
        }
}

static void expect_close(const char *what, int64_t count, const float *got, const double *want,
                         const double *scale) {
    for (int64_t i = 0; i < count; i++)
        if (!(fabs(got[i] - want[i]) <= 2e-6 * scale[i]))
            fail_msg("%s: [%lld] %.9g, want %.9g (sum of |terms| %g)", what, (long long)i,
                     got[i], want[i], scale[i]);
}

static float *random_floats(cx_rng *rng, int64_t n) {
    cx_tensor *t = cx_randn(rng, CX_SHAPE(n > 0 ? n : 1));
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    memcpy(p, cx_tensor_f32(t), (size_t)(n > 0 ? n : 1) * sizeof *p);
    cx_tensor_free(t);
    return p;
}

static const int64_t sizes[][3] = {{1, 1, 1},     {33, 47, 65}, {32, 512, 128}, {5, 3, 1000},
                                   {70, 20, 31},  {17, 64, 2},  {113, 128, 40}, {2, 130, 1100}};

static void test_bf16_sgemm(void **state) {
    (void)state;
    cx_set_matmul_precision(CX_MATMUL_BF16);
    cx_rng *rng = cx_rng_new(3);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int64_t m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
        float *a = random_floats(rng, m * k), *b = random_floats(rng, k * n);
        float *c0 = random_floats(rng, m * n), *got = malloc((size_t)(m * n) * sizeof *got);
        double *want = malloc((size_t)(m * n) * sizeof *want);
        double *scale = malloc((size_t)(m * n) * sizeof *scale);
        for (int t = 0; t < 8; t++) {
            bool ta = t & 1, tb = t & 2, with_c = t & 4;
            float alpha = with_c ? 0.5f : 1.0f, beta = with_c ? -2.0f : 0.0f;
            for (int64_t i = 0; i < m * n; i++) got[i] = with_c ? c0[i] : NAN;
            cx__sgemm(ta, tb, m, n, k, alpha, a, ta ? m : k, b, tb ? k : n, beta, got, n);
            reference(ta, tb, m, n, k, alpha, a, b, beta, c0, want, scale);
            char what[96];
            snprintf(what, sizeof what, "%lldx%lldx%lld trans %d%d beta %g", (long long)m,
                     (long long)n, (long long)k, ta, tb, beta);
            expect_close(what, m * n, got, want, scale);
        }
        free(a), free(b), free(c0), free(got), free(want), free(scale);
    }
    /* a NaN factor gives NaN where it enters, and nowhere else */
    float a[4] = {1, NAN, 2, 3}, b[4] = {1, 2, 3, 4}, c[4];
    cx__sgemm(false, false, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    assert_true(isnan(c[0]) && isnan(c[1]));
    assert_true(c[2] == 2 * 1 + 3 * 3 && c[3] == 2 * 2 + 3 * 4);
    cx_set_matmul_precision(CX_MATMUL_FLOAT32);
    cx_rng_free(rng);
}

/* The recurrent steps' packed B: packed under bf16, multiplied, added. */
static void test_bf16_packed(void **state) {
    (void)state;
    if (!cx__packed_gemm_ok()) skip(); /* no AVX2 or AVX-512: the steps use sgemm */
    cx_set_matmul_precision(CX_MATMUL_BF16);
    cx_rng *rng = cx_rng_new(4);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int64_t m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
        float *a = random_floats(rng, m * k), *b = random_floats(rng, k * n);
        float *c0 = random_floats(rng, m * n), *got = malloc((size_t)(m * n) * sizeof *got);
        float *packed = malloc(cx__packed_floats(k, n) * sizeof *packed);
        double *want = malloc((size_t)(m * n) * sizeof *want);
        double *scale = malloc((size_t)(m * n) * sizeof *scale);
        for (int t = 0; t < 4; t++) {
            bool tb = t & 1, acc = t & 2;
            cx__pack_b(tb, k, n, b, tb ? k : n, packed);
            memcpy(got, c0, (size_t)(m * n) * sizeof *got);
            cx__sgemm_packed(m, n, k, a, k, packed, acc, got, n);
            reference(false, tb, m, n, k, 1.0f, a, b, acc ? 1.0f : 0.0f, c0, want, scale);
            char what[96];
            snprintf(what, sizeof what, "packed %lldx%lldx%lld trans %d accumulate %d",
                     (long long)m, (long long)n, (long long)k, tb, acc);
            expect_close(what, m * n, got, want, scale);
        }
        free(a), free(b), free(c0), free(got), free(packed), free(want), free(scale);
    }
    cx_set_matmul_precision(CX_MATMUL_FLOAT32);
    cx_rng_free(rng);
}

CX_TEST_GROUP(bf16) {
    printf("bf16: %s\n", cx__amx_available() ? "AMX tiles" : "no AMX: rounded factors to sgemm");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_round),
        cmocka_unit_test(test_bf16_sgemm),
        cmocka_unit_test(test_bf16_packed),
    };
    CX_RUN_GROUP("bf16", tests);
}
