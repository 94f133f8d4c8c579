/*
 * test_unary.c - elementwise ops beyond what the gradcheck rows cover: accuracy of the
 * vectorised math (vmath.h) against double-precision libm, special values (NaN, inf,
 * saturation), large and strided inputs (threaded and gather paths), gradient accumulation,
 * no-grad and arena use, empty tensors and error messages.
 */
#include "test.h"

#include "backend/cpu/vmath.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* |got - want| in units of the last place of want (subnormal spacing below FLT_MIN). */
static double ulps(float got, double want) {
    if (isnan(want)) return isnan(got) ? 0.0 : INFINITY;
    if (isinf(want)) return got == want ? 0.0 : INFINITY;
    double ulp = fabs(want) < FLT_MIN ? ldexp(1.0, -149) : ldexp(1.0, ilogb((float)want) - 23);
    return fabs((double)got - want) / ulp;
}

static void vmath_accuracy(void **state) {
    (void)state;
    double e_exp = 0, e_expm1 = 0, e_tanh = 0, e_sig = 0, e_cdf = 0, e_cdf_tail = 0, e_pdf = 0;
    for (double xd = -110.0; xd < 95.0; xd += 2.9e-4) {
        float x = (float)xd;
        double xx = x;
        e_exp = fmax(e_exp, ulps(cx__vexp(x), exp(xx)));
        e_expm1 = fmax(e_expm1, ulps(cx__vexpm1(x), expm1(xx)));
        e_tanh = fmax(e_tanh, ulps(cx__vtanh(x), tanh(xx)));
        e_sig = fmax(e_sig, ulps(cx__vsigmoid(x), 1.0 / (1.0 + exp(-xx))));
        double cdf = 0.5 * erfc(-xx / sqrt(2.0)), pdf = exp(-0.5 * xx * xx) / sqrt(2.0 * M_PI);
        double rel = fabs(cx__vnormal_cdf(x) - cdf) / cdf;
        if (x > -5.0f) e_cdf = fmax(e_cdf, rel);
        else if (cdf > 1e-30) e_cdf_tail = fmax(e_cdf_tail, rel);
        if (pdf > 1e-30) e_pdf = fmax(e_pdf, fabs(cx__vnormal_pdf(x) - pdf) / pdf);
    }
    /* log over every binade of the normal floats, log1p over [0, 1] (its use: softplus) */
    double e_log = 0, e_log1p = 0;
    for (double xd = 1.2e-38; xd < 3e38; xd *= 1.0001) {
        float x = (float)xd;
        e_log = fmax(e_log, ulps(cx__vlog(x), log((double)x)));
    }
    for (double yd = 1e-30; yd <= 1.0; yd *= 1.0001) {
        float y = (float)yd;
        e_log1p = fmax(e_log1p, ulps(cx__vlog1p(y), log1p((double)y)));
    }
    assert_true(cx__vlog1p(0.0f) == 0.0f && isnan(cx__vlog1p(NAN)));
    if (e_log > 2.0 || e_log1p > 3.0)
        fail_msg("max errors: log %.2f ulp, log1p %.2f ulp", e_log, e_log1p);
    if (e_exp > 1.5 || e_expm1 > 2.5 || e_tanh > 2.5 || e_sig > 4.0 || e_cdf > 1.5e-6 ||
        e_cdf_tail > 1e-5 || e_pdf > 1e-5)
        fail_msg("max errors: exp %.2f ulp, expm1 %.2f ulp, tanh %.2f ulp, sigmoid %.2f ulp, "
                 "normal cdf %.3g (x > -5) %.3g (tail), pdf %.3g",
                 e_exp, e_expm1, e_tanh, e_sig, e_cdf, e_cdf_tail, e_pdf);
}

static void vmath_special(void **state) {
    (void)state;
    assert_true(isnan(cx__vexp(NAN)) && isnan(cx__vtanh(NAN)) && isnan(cx__vsigmoid(NAN)));
    assert_true(isnan(cx__vexpm1(NAN)) && isnan(cx__vnormal_cdf(NAN)));
    assert_true(cx__vexp(INFINITY) == INFINITY && cx__vexp(-INFINITY) == 0.0f);
    assert_true(cx__vexp(89.0f) == INFINITY && cx__vexp(-105.0f) == 0.0f);
    assert_true(isfinite(cx__vexp(88.72f)) && cx__vexp(-103.0f) > 0.0f); /* subnormal */
    assert_true(cx__vexp(0.0f) == 1.0f && cx__vexpm1(0.0f) == 0.0f);
    assert_true(cx__vexpm1(-INFINITY) == -1.0f);
    assert_true(cx__vtanh(INFINITY) == 1.0f && cx__vtanh(-INFINITY) == -1.0f);
    assert_true(cx__vsigmoid(INFINITY) == 1.0f && cx__vsigmoid(-INFINITY) == 0.0f);
    assert_true(cx__vsigmoid(-100.0f) > 0.0f && cx__vsigmoid(-100.0f) < 1e-40f);
    assert_true(cx__vnormal_cdf(INFINITY) == 1.0f && cx__vnormal_cdf(-INFINITY) == 0.0f);
}

/* Runs op on a 1-D tensor of the given values and checks each result (NaN matches NaN). */
static void check_values(const char *what, cx_tensor *(*op)(cx_tensor *), const float *in,
                         const float *want, int n) {
    cx_tensor *x = cx_from_data(CX_DTYPE_F32, 1, (const int64_t[]){n}, in);
    cx_tensor *y = op(x);
    assert_non_null(y);
    const float *got = cx_tensor_f32(y);
    for (int i = 0; i < n; i++) {
        float tol = 1e-6f * fmaxf(1.0f, fabsf(want[i]));
        bool ok = isnan(want[i]) ? isnan(got[i])
                                 : got[i] == want[i] || fabsf(got[i] - want[i]) <= tol;
        if (!ok) fail_msg("%s(%g) = %g, want %g", what, in[i], got[i], want[i]);
    }
    cx_tensor_free(y);
    cx_tensor_free(x);
}

static cx_tensor *clamp_pm1(cx_tensor *x) { return cx_clamp(x, -1.0f, 1.0f); }
static cx_tensor *gelu(cx_tensor *x) { return cx_gelu(x); }

static void special_values(void **state) {
    (void)state;
    const float in[] = {NAN, INFINITY, -INFINITY, 0.0f, 100.0f, -100.0f};
    enum { N = 6 };
    check_values("exp", cx_exp, in, (const float[N]){NAN, INFINITY, 0, 1, INFINITY, 0}, N);
    check_values("log", cx_log, in, (const float[N]){NAN, INFINITY, NAN, -INFINITY, logf(100),
                                                     NAN}, N);
    check_values("sqrt", cx_sqrt, in, (const float[N]){NAN, INFINITY, NAN, 0, 10, NAN}, N);
    check_values("sigmoid", cx_sigmoid, in, (const float[N]){NAN, 1, 0, 0.5f, 1, 3.7e-44f}, N);
    check_values("tanh", cx_tanh, in, (const float[N]){NAN, 1, -1, 0, 1, -1}, N);
    check_values("relu", cx_relu, in, (const float[N]){NAN, INFINITY, 0, 0, 100, 0}, N);
    check_values("clamp", clamp_pm1, in, (const float[N]){NAN, 1, -1, 0, 1, -1}, N);
    check_values("gelu", gelu, in, (const float[N]){NAN, INFINITY, NAN, 0, 100, 0}, N);
}

/* Every op, as a function of one tensor, for the bulk checks below. */
static cx_tensor *op_clamp(cx_tensor *x) { return cx_clamp(x, -0.3f, 0.4f); }
static cx_tensor *op_add_scalar(cx_tensor *x) { return cx_add_scalar(x, 0.5f); }
static cx_tensor *op_rsub_scalar(cx_tensor *x) { return cx_rsub_scalar(x, 0.5f); }
static cx_tensor *op_div_scalar(cx_tensor *x) { return cx_div_scalar(x, 3.0f); }
static cx_tensor *op_pow_scalar(cx_tensor *x) { return cx_pow_scalar(x, 3.0f); }
static cx_tensor *op_pow_square(cx_tensor *x) { return cx_pow_scalar(x, 2.0f); }
static cx_tensor *op_leaky_relu(cx_tensor *x) { return cx_leaky_relu(x, 0.1f); }
static cx_tensor *op_elu(cx_tensor *x) { return cx_elu(x, 1.5f); }

static const struct {
    const char *name;
    cx_tensor *(*fn)(cx_tensor *);
} all_ops[] = {
    {"neg", cx_neg},           {"exp", cx_exp},
    {"abs", cx_abs},           {"clamp", op_clamp},
    {"add_scalar", op_add_scalar}, {"rsub_scalar", op_rsub_scalar},
    {"div_scalar", op_div_scalar}, {"pow_scalar", op_pow_scalar},
    {"pow_square", op_pow_square}, {"sigmoid", cx_sigmoid},
    {"tanh", cx_tanh},         {"relu", cx_relu},
    {"leaky_relu", op_leaky_relu}, {"elu", op_elu},
    {"gelu", gelu},
};

/* x (shape) in -3..3; through a view with dims d0, d1 swapped and through a contiguous copy of
 * that view, every op must give bitwise the same output and (mapped back) gradient. */
static void strided_matches_contiguous(int ndim, const int64_t *shape, int d0, int d1) {
    cx_rng *rng = cx_rng_new(99);
    cx_tensor *x = cx_rand(rng, ndim, shape);
    int64_t n = cx_tensor_numel(x);
    float *xd = cx_tensor_f32(x);
    for (int64_t i = 0; i < n; i++) xd[i] = 6.0f * xd[i] - 3.0f;
    assert_int_equal(cx_tensor_set_requires_grad(x, true), CX_OK);
    for (size_t k = 0; k < sizeof all_ops / sizeof *all_ops; k++) {
        cx_tensor *v = cx_transpose(x, d0, d1);
        assert_non_null(v);
        float *vbuf = malloc((size_t)n * sizeof *vbuf);
        cx__copy_strided(v, vbuf);
        cx_tensor *c = cx_from_data(CX_DTYPE_F32, v->ndim, v->shape, vbuf);
        assert_int_equal(cx_tensor_set_requires_grad(c, true), CX_OK);
        cx_tensor *yv = all_ops[k].fn(v), *yc = all_ops[k].fn(c);
        assert_non_null(yv);
        assert_non_null(yc);
        if (memcmp(cx_tensor_f32(yv), cx_tensor_f32(yc), (size_t)n * sizeof(float)))
            fail_msg("%s: strided and contiguous outputs differ", all_ops[k].name);
        cx_tensor *w = cx_randn(rng, v->ndim, v->shape);
        cx_tensor_zero_grad(x);
        assert_int_equal(cx_backward_grad(yv, w), CX_OK);
        assert_int_equal(cx_backward_grad(yc, w), CX_OK);
        /* The contiguous copy's gradient, swapped back, is x's gradient. */
        cx_tensor *gc = cx_tensor_grad(c);
        cx_tensor *gcv = cx_transpose(gc, d0, d1);
        float *back = malloc((size_t)n * sizeof *back);
        cx__copy_strided(gcv, back);
        if (memcmp(cx_tensor_f32(cx_tensor_grad(x)), back, (size_t)n * sizeof(float)))
            fail_msg("%s: strided and contiguous gradients differ", all_ops[k].name);
        free(back);
        free(vbuf);
        cx_tensor_free(gcv);
        cx_tensor_free(w);
        cx_tensor_free(yc);
        cx_tensor_free(yv);
        cx_tensor_free(c);
        cx_tensor_free(v);
    }
    cx_tensor_free(x);
    cx_rng_free(rng);
}

/* Above CX_PARALLEL_MIN: threaded, with strided rows gathered (inner stride != 1). */
static void large_transposed(void **state) {
    (void)state;
    strided_matches_contiguous(2, (const int64_t[]){300, 257}, 0, 1);
}

/* Swapping the outer dims keeps unit inner stride: rows are read in place. */
static void outer_swap(void **state) {
    (void)state;
    strided_matches_contiguous(3, (const int64_t[]){5, 7, 3000}, 0, 1);
    strided_matches_contiguous(4, (const int64_t[]){2, 3, 4, 5}, 1, 3);
}

static void grads_accumulate(void **state) {
    (void)state;
    cx_tensor *x = cx_from_data(CX_DTYPE_F32, 1, (const int64_t[]){3},
                                (const float[]){-1.0f, 0.5f, 2.0f});
    assert_int_equal(cx_tensor_set_requires_grad(x, true), CX_OK);
    cx_tensor *a = cx_exp(x), *b = cx_mul_scalar(x, 3.0f);
    cx_tensor *w = cx_ones(1, (const int64_t[]){3});
    assert_int_equal(cx_backward_grad(a, w), CX_OK);
    assert_int_equal(cx_backward_grad(b, w), CX_OK);
    const float *g = cx_tensor_f32(cx_tensor_grad(x));
    float want[3] = {expf(-1.0f) + 3.0f, expf(0.5f) + 3.0f, expf(2.0f) + 3.0f};
    cx_test_assert_close("d(exp(x) + 3x)/dx", g, want, 3, 1e-6f);
    cx_tensor_free(w);
    cx_tensor_free(b);
    cx_tensor_free(a);
    cx_tensor_free(x);
}

static void no_grad_and_arena(void **state) {
    (void)state;
    cx_tensor *x = cx_full(2, (const int64_t[]){4, 6}, 0.25f);
    assert_int_equal(cx_tensor_set_requires_grad(x, true), CX_OK);
    cx_no_grad_begin();
    cx_tensor *y = cx_elu(x, 2.0f);
    cx_no_grad_end();
    assert_false(cx_tensor_requires_grad(y));
    cx_tensor_free(y);
    cx_tensor_free(x);

    /* All in an arena: the strided backward takes its input copy from arena scratch. */
    cx_arena *arena = cx_arena_new(1 << 16);
    assert_int_equal(cx_arena_begin(arena), CX_OK);
    x = cx_full(2, (const int64_t[]){4, 6}, 0.25f);
    assert_int_equal(cx_tensor_set_requires_grad(x, true), CX_OK);
    cx_tensor *z = cx_gelu(cx_transpose(x, 0, 1));
    assert_int_equal(cx_backward_grad(z, cx_ones(2, (const int64_t[]){6, 4})), CX_OK);
    float want = cx__vnormal_cdf(0.25f) + 0.25f * cx__vnormal_pdf(0.25f);
    assert_float_equal(cx_tensor_f32(cx_tensor_grad(x))[5], want, 1e-6);
    assert_int_equal(cx_arena_end(arena), CX_OK);
    cx_arena_free(arena);
}

static void empty_tensors(void **state) {
    (void)state;
    cx_tensor *x = cx_zeros(2, (const int64_t[]){0, 3});
    assert_int_equal(cx_tensor_set_requires_grad(x, true), CX_OK);
    for (size_t k = 0; k < sizeof all_ops / sizeof *all_ops; k++) {
        cx_tensor *y = all_ops[k].fn(x);
        assert_non_null(y);
        assert_int_equal(cx_tensor_ndim(y), 2);
        assert_int_equal(cx_tensor_shape(y)[0], 0);
        assert_int_equal(cx_tensor_shape(y)[1], 3);
        assert_int_equal(cx_backward_grad(y, NULL), CX_OK);
        cx_tensor_free(y);
    }
    cx_tensor_free(x);
}

static void errors(void **state) {
    (void)state;
    cx_clear_error();
    assert_null(cx_exp(NULL));
    assert_int_equal(cx_last_status(), CX_ERR_ARG);
    assert_non_null(strstr(cx_last_error(), "exp:"));
    /* A NULL from a failed op keeps that op's message. */
    assert_null(cx_sigmoid(NULL));
    assert_non_null(strstr(cx_last_error(), "exp:"));

    cx_clear_error();
    cx_tensor *i = cx_tensor_new(CX_DTYPE_I32, 2, (const int64_t[]){2, 3});
    assert_null(cx_leaky_relu(i, 0.1f));
    assert_int_equal(cx_last_status(), CX_ERR_DTYPE);
    assert_non_null(strstr(cx_last_error(), "leaky_relu:"));
    assert_non_null(strstr(cx_last_error(), "[2,3]"));
    cx_tensor_free(i);

    cx_clear_error();
    cx_tensor *x = cx_zeros(1, (const int64_t[]){4});
    assert_null(cx_clamp(x, NAN, 1.0f));
    assert_int_equal(cx_last_status(), CX_ERR_ARG);
    assert_non_null(strstr(cx_last_error(), "clamp:"));
    cx_tensor_free(x);
    cx_clear_error();
}

CX_TEST_GROUP(unary) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vmath_accuracy),   cmocka_unit_test(vmath_special),
        cmocka_unit_test(special_values),   cmocka_unit_test(large_transposed),
        cmocka_unit_test(outer_swap),       cmocka_unit_test(grads_accumulate),
        cmocka_unit_test(no_grad_and_arena), cmocka_unit_test(empty_tensors),
        cmocka_unit_test(errors),
    };
    CX_RUN_GROUP("unary", tests);
}
