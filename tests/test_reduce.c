/*
 * test_reduce.c - what the gradcheck rows cannot show for reductions, softmax and losses:
 * error messages, accuracy of long sums against a double reference, strided (non-contiguous)
 * inputs, argmax and its tie rule, numerical stability, and no heap use inside an arena.
 */
#include "test.h"

#include <math.h>
#include <string.h>

/* f32 tensor of the given shape filled with lo + (hi - lo) * U[0,1). */
static cx_tensor *uniform(cx_rng *rng, float lo, float hi, int nd, const int64_t *shape) {
    cx_tensor *t = cx_rand(rng, nd, shape);
    assert_non_null(t);
    float *d = cx_tensor_f32(t);
    for (int64_t i = 0; i < cx_tensor_numel(t); i++) d[i] = lo + (hi - lo) * d[i];
    return t;
}

/* A view of the 2-D contiguous tensor t (shape [a, b]) as its transpose [b, a]. */
static cx_tensor *transposed(cx_tensor *t) {
    const int64_t *s = cx_tensor_shape(t);
    cx_tensor *v = cx__tensor_view(t, 2, (const int64_t[]){s[1], s[0]},
                                   (const int64_t[]){1, s[1]}, 0);
    assert_non_null(v);
    assert_false(cx_tensor_is_contiguous(v));
    return v;
}

/* A contiguous copy of t with no graph. */
static cx_tensor *copy_of(cx_tensor *t) {
    cx_tensor *c = cx_tensor_new(cx_tensor_dtype(t), cx_tensor_ndim(t), cx_tensor_shape(t));
    assert_non_null(c);
    assert_int_equal(cx_tensor_copy_to(t, cx_tensor_data(c), (size_t)cx_tensor_numel(t) * 4),
                     CX_OK);
    return c;
}

static void assert_same(const char *what, cx_tensor *a, cx_tensor *b, float tol) {
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(cx_tensor_ndim(a), cx_tensor_ndim(b));
    for (int d = 0; d < cx_tensor_ndim(a); d++)
        assert_int_equal(cx_tensor_shape(a)[d], cx_tensor_shape(b)[d]);
    cx_test_assert_close(what, cx_tensor_f32(a), cx_tensor_f32(b), cx_tensor_numel(a), tol);
}

static void test_errors(void **state) {
    (void)state;
    cx_tensor *x = cx_zeros(CX_SHAPE(2, 3));
    cx_tensor *y = cx_zeros(CX_SHAPE(3, 2));
    cx_tensor *xi = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(2, 3));
    cx_tensor *empty = cx_zeros(CX_SHAPE(0, 3));
    cx_tensor *logits = cx_zeros(CX_SHAPE(2, 5));
    cx_tensor *labels = cx_from_data(CX_DTYPE_I32, CX_SHAPE(2), (const int32_t[]){1, 5});
    cx_tensor *labels3 = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(3));
    cx_tensor *labels_f = cx_zeros(CX_SHAPE(2));
    cx_tensor *cube = cx_zeros(CX_SHAPE(2, 5, 1));

    cx_test_assert_error(cx_sum(x, 2, (const int[]){1, -1}, false), CX_ERR_ARG, "listed twice");
    cx_test_assert_error(cx_mean(x, 1, (const int[]){2}, false), CX_ERR_ARG, "out of range");
    cx_test_assert_error(cx_sum(x, 1, NULL, false), CX_ERR_ARG, "dims is NULL");
    cx_test_assert_error(cx_sum(x, -1, NULL, false), CX_ERR_ARG, "[2,3]");
    cx_test_assert_error(cx_sum(xi, 0, NULL, false), CX_ERR_DTYPE, "sum");
    cx_test_assert_error(cx_max(empty, 0, false), CX_ERR_SHAPE, "[0,3]");
    cx_test_assert_error(cx_argmax(x, -3, false), CX_ERR_ARG, "argmax");
    cx_test_assert_error(cx_softmax(x, 2), CX_ERR_ARG, "softmax");
    cx_test_assert_error(cx_mse_loss(x, y, CX_REDUCTION_MEAN), CX_ERR_SHAPE,
                         "pred [2,3] and target [3,2]");
    cx_test_assert_error(cx_kl_normal(x, y, CX_REDUCTION_SUM), CX_ERR_SHAPE,
                         "mu [2,3] and logvar [3,2]");
    cx_test_assert_error(cx_bce_with_logits(x, x, (cx_reduction)7), CX_ERR_ARG,
                         "unknown reduction 7");
    cx_test_assert_error(cx_cross_entropy(logits, labels, CX_REDUCTION_MEAN), CX_ERR_ARG,
                         "label 5 at index 1 is out of range [0, 5)");
    cx_test_assert_error(cx_nll_loss(logits, labels, CX_REDUCTION_SUM), CX_ERR_ARG,
                         "label 5 at index 1");
    cx_test_assert_error(cx_cross_entropy(logits, labels_f, CX_REDUCTION_MEAN), CX_ERR_DTYPE,
                         "labels must be i32, got f32");
    cx_test_assert_error(cx_cross_entropy(logits, labels3, CX_REDUCTION_MEAN), CX_ERR_SHAPE,
                         "labels [3] do not match logits [2,5]");
    cx_test_assert_error(cx_nll_loss(cube, labels, CX_REDUCTION_MEAN), CX_ERR_SHAPE,
                         "log_probs must be (N, C), got [2,5,1]");
    /* A NULL input keeps the error that produced it. */
    cx__error(CX_ERR_OOM, "earlier failure");
    cx_test_assert_error(cx_softmax(cx_sum(NULL, 0, NULL, false), 0), CX_ERR_OOM,
                         "earlier failure");

    cx_tensor *ts[] = {x, y, xi, empty, logits, labels, labels3, labels_f, cube};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        cx_tensor_free(ts[i]);
}

/* Long sums in every layout against a double reference (run with 2 threads by make test). */
static void test_sum_accuracy(void **state) {
    (void)state;
    cx_rng *rng = cx_rng_new(3);
    const int64_t shapes[3][2] = {{1000, 1000}, {3, 400000}, {400000, 3}};
    for (int k = 0; k < 3; k++) {
        int64_t r = shapes[k][0], c = shapes[k][1];
        cx_tensor *x = uniform(rng, 0.0f, 1.0f, 2, shapes[k]);
        const float *d = cx_tensor_f32(x);
        double *rows = calloc((size_t)r, sizeof *rows), *cols = calloc((size_t)c, sizeof *cols);
        double all = 0;
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < c; j++) {
                rows[i] += d[i * c + j];
                cols[j] += d[i * c + j];
                all += d[i * c + j];
            }
        float *want_rows = malloc((size_t)r * sizeof(float));
        float *want_cols = malloc((size_t)c * sizeof(float));
        for (int64_t i = 0; i < r; i++) want_rows[i] = (float)(rows[i] / (double)c);
        for (int64_t j = 0; j < c; j++) want_cols[j] = (float)cols[j];
        cx_tensor *s_all = cx_sum(x, 0, NULL, false);
        cx_tensor *m_rows = cx_mean(x, 1, (const int[]){1}, false);
        cx_tensor *s_cols = cx_sum(x, 1, (const int[]){0}, true);
        float want_all = (float)all;
        cx_test_assert_close("sum all", cx_tensor_f32(s_all), &want_all, 1, 1e-6f);
        cx_test_assert_close("mean rows", cx_tensor_f32(m_rows), want_rows, r, 1e-6f);
        cx_test_assert_close("sum cols", cx_tensor_f32(s_cols), want_cols, c, 1e-6f);
        cx_tensor_free(s_all);
        cx_tensor_free(m_rows);
        cx_tensor_free(s_cols);
        free(want_rows);
        free(want_cols);
        free(rows);
        free(cols);
        cx_tensor_free(x);
    }
    cx_rng_free(rng);
}

/* Gradients of view, a strided leaf, match those of the same values stored contiguously. */
static void compare_grads(const char *what, cx_tensor *view, cx_tensor *dense, cx_tensor *a,
                          cx_tensor *b) {
    assert_same(what, a, b, 1e-6f);
    assert_int_equal(cx_backward(a), CX_OK);
    assert_int_equal(cx_backward(b), CX_OK);
    assert_same(what, cx_tensor_grad(view), cx_tensor_grad(dense), 1e-6f);
    cx_tensor_zero_grad(view);
    cx_tensor_zero_grad(dense);
    cx_tensor_free(a);
    cx_tensor_free(b);
}

static void test_strided_inputs(void **state) {
    (void)state;
    cx_rng *rng = cx_rng_new(5);
    /* Everything lives in an arena, so chains of ops leak no intermediate results. */
    cx_arena *arena = cx_arena_new(0);
    assert_int_equal(cx_arena_begin(arena), CX_OK);
    cx_tensor *base = uniform(rng, -2.0f, 2.0f, CX_SHAPE(5, 6));
    cx_tensor *v = transposed(base); /* [6, 5] */
    cx_tensor *d = copy_of(v);
    cx_tensor *other = uniform(rng, -2.0f, 2.0f, CX_SHAPE(6, 5));
    cx_tensor *labels =
        cx_from_data(CX_DTYPE_I32, CX_SHAPE(6), (const int32_t[]){0, 4, 2, 1, 3, 4});
    assert_int_equal(cx_tensor_set_requires_grad(v, true), CX_OK);
    assert_int_equal(cx_tensor_set_requires_grad(d, true), CX_OK);

    for (int dim = -2; dim < 2; dim++) {
        compare_grads("sum dim", v, d, cx_sum(cx_sum(v, 1, &dim, false), 0, NULL, false),
                      cx_sum(cx_sum(d, 1, &dim, false), 0, NULL, false));
        compare_grads("max dim", v, d, cx_sum(cx_max(v, dim, false), 0, NULL, false),
                      cx_sum(cx_max(d, dim, false), 0, NULL, false));
        cx_tensor *ia = cx_argmax(v, dim, true), *ib = cx_argmax(d, dim, true);
        assert_memory_equal(cx_tensor_data(ia), cx_tensor_data(ib),
                            (size_t)cx_tensor_numel(ia) * 4);
        cx_tensor_free(ia);
        cx_tensor_free(ib);
        compare_grads("softmax", v, d, cx_mse_loss(cx_softmax(v, dim), other, CX_REDUCTION_SUM),
                      cx_mse_loss(cx_softmax(d, dim), other, CX_REDUCTION_SUM));
        compare_grads("log_softmax", v, d,
                      cx_mse_loss(cx_log_softmax(v, dim), other, CX_REDUCTION_SUM),
                      cx_mse_loss(cx_log_softmax(d, dim), other, CX_REDUCTION_SUM));
    }
    compare_grads("mean all", v, d, cx_mean(v, 0, NULL, false), cx_mean(d, 0, NULL, false));
    compare_grads("cross_entropy", v, d, cx_cross_entropy(v, labels, CX_REDUCTION_MEAN),
                  cx_cross_entropy(d, labels, CX_REDUCTION_MEAN));
    compare_grads("nll_loss", v, d, cx_nll_loss(v, labels, CX_REDUCTION_SUM),
                  cx_nll_loss(d, labels, CX_REDUCTION_SUM));
    compare_grads("bce", v, d, cx_bce_with_logits(v, other, CX_REDUCTION_MEAN),
                  cx_bce_with_logits(d, other, CX_REDUCTION_MEAN));
    compare_grads("kl", v, d, cx_kl_normal(other, v, CX_REDUCTION_MEAN),
                  cx_kl_normal(other, d, CX_REDUCTION_MEAN));

    /* Multi-dim sums over a strided 3-D view: [2,3,4] seen with its dims reversed. */
    cx_tensor *b3 = uniform(rng, -1.0f, 1.0f, CX_SHAPE(2, 3, 4));
    cx_tensor *v3 = cx__tensor_view(b3, 3, (const int64_t[]){4, 3, 2},
                                    (const int64_t[]){1, 4, 12}, 0);
    cx_tensor *d3 = copy_of(v3);
    cx_tensor *sa = cx_sum(v3, 2, (const int[]){0, 2}, true);
    cx_tensor *sb = cx_sum(d3, 2, (const int[]){0, 2}, true);
    assert_same("sum {0,2} strided", sa, sb, 1e-6f);
    assert_int_equal(cx_arena_end(arena), CX_OK);
    cx_arena_free(arena);
    cx_rng_free(rng);
}

static void test_argmax_and_ties(void **state) {
    (void)state;
    cx_tensor *x = cx_from_data(CX_DTYPE_F32, CX_SHAPE(2, 4),
                                (const float[]){1, 3, 3, 2, 5, NAN, 7, NAN});
    cx_tensor *a = cx_argmax(x, -1, false);
    assert_non_null(a);
    assert_int_equal(cx_tensor_dtype(a), CX_DTYPE_I32);
    assert_false(cx_tensor_requires_grad(a));
    const int32_t *ai = cx_tensor_data(a);
    assert_int_equal(ai[0], 1); /* the first of two maxima */
    assert_int_equal(ai[1], 1); /* NaN counts as the maximum */
    cx_tensor *ak = cx_argmax(x, 0, true);
    assert_int_equal(cx_tensor_ndim(ak), 2);
    assert_int_equal(cx_tensor_shape(ak)[0], 1);
    const int32_t *akd = cx_tensor_data(ak);
    const int32_t want_cols[4] = {1, 1, 1, 1};
    assert_memory_equal(akd, want_cols, sizeof want_cols);

    /* max's gradient goes to the first maximal element only. */
    cx_tensor *t = cx_from_data(CX_DTYPE_F32, CX_SHAPE(2, 3), (const float[]){1, 3, 3, 4, 4, 0});
    assert_int_equal(cx_tensor_set_requires_grad(t, true), CX_OK);
    cx_tensor *m = cx_max(t, 1, false);
    cx_tensor *mc = cx_max(t, 0, true); /* columns: ties between rows go to row 0 */
    cx_tensor *ms = cx_sum(m, 0, NULL, false), *mcs = cx_sum(mc, 0, NULL, false);
    cx_tensor *l = cx_add(ms, mcs);
    assert_int_equal(cx_backward(l), CX_OK);
    const float want[6] = {0, 1, 1, 2, 1, 0};
    cx_test_assert_close("max grad", cx_tensor_f32(cx_tensor_grad(t)), want, 6, 0.0f);

    /* 0-d inputs: dim 0 or -1 names the scalar itself. */
    cx_tensor *s = cx_scalar(2.5f);
    cx_tensor *ss = cx_sum(s, 1, (const int[]){-1}, true), *sm = cx_softmax(s, 0);
    cx_tensor *smax = cx_max(s, 0, false), *sarg = cx_argmax(s, -1, true);
    assert_int_equal(cx_tensor_ndim(ss), 0);
    assert_true(cx_tensor_item(ss) == 2.5f && cx_tensor_item(sm) == 1.0f);
    assert_true(cx_tensor_item(smax) == 2.5f && cx_tensor_item(sarg) == 0.0f);

    /* Empty reductions: sums are 0, means NaN, as in PyTorch. */
    cx_tensor *e = cx_zeros(CX_SHAPE(0, 3));
    cx_tensor *es = cx_sum(e, 1, (const int[]){0}, false), *em = cx_mean(e, 0, NULL, false);
    assert_int_equal(cx_tensor_numel(es), 3);
    assert_true(cx_tensor_f32(es)[0] == 0.0f && isnan(cx_tensor_item(em)));

    cx_tensor *ts[] = {x, a, ak, t, m, mc, ms, mcs, l, s, ss, sm, smax, sarg, e, es, em};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) cx_tensor_free(ts[i]);
}

static void test_stability(void **state) {
    (void)state;
    cx_tensor *x =
        cx_from_data(CX_DTYPE_F32, CX_SHAPE(2, 2), (const float[]){1000, 0, -1000, -1e30f});
    cx_tensor *sm = cx_softmax(x, 1), *lsm = cx_log_softmax(x, 1);
    const float want_sm[4] = {1, 0, 1, 0}, want_lsm[4] = {0, -1000, 0, -1e30f};
    cx_test_assert_close("softmax", cx_tensor_f32(sm), want_sm, 4, 1e-6f);
    cx_test_assert_close("log_softmax", cx_tensor_f32(lsm), want_lsm, 4, 1e-6f);
    cx_tensor *labels = cx_from_data(CX_DTYPE_I32, CX_SHAPE(2), (const int32_t[]){1, 0});
    cx_tensor *ce = cx_cross_entropy(x, labels, CX_REDUCTION_NONE);
    const float want_ce[2] = {1000, 0};
    cx_test_assert_close("cross_entropy", cx_tensor_f32(ce), want_ce, 2, 1e-6f);
    cx_tensor *t = cx_from_data(CX_DTYPE_F32, CX_SHAPE(2, 2), (const float[]){0, 1, 1, 0});
    cx_tensor *bce = cx_bce_with_logits(x, t, CX_REDUCTION_NONE);
    const float want_bce[4] = {1000, 0.6931472f, 1000, 0}; /* x = 0: log 2 */
    cx_test_assert_close("bce_with_logits", cx_tensor_f32(bce), want_bce, 4, 1e-6f);
    cx_tensor *ts[] = {x, sm, lsm, labels, ce, t, bce};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) cx_tensor_free(ts[i]);
}

static size_t heap_allocs;
static void *counting_alloc(size_t bytes, void *ctx) {
    (void)ctx;
    heap_allocs++;
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 1) == 0 ? p : NULL;
}
static void counting_free(void *p, void *ctx) {
    (void)ctx;
    free(p);
}

/* A step of every op inside an arena: after the first step, no heap allocation. The
 * parameters live in an arena of their own that is not reset. */
static void test_arena_step(void **state) {
    (void)state;
    cx_set_allocator(&(cx_allocator){counting_alloc, counting_free, NULL});
    cx_rng *rng = cx_rng_new(9);
    cx_arena *params = cx_arena_new(0);
    assert_int_equal(cx_arena_begin(params), CX_OK);
    cx_tensor *w = uniform(rng, -1.0f, 1.0f, CX_SHAPE(300, 130));
    cx_tensor *labels = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(300));
    cx_tensor *target = uniform(rng, 0.0f, 1.0f, CX_SHAPE(300, 130));
    assert_int_equal(cx_arena_end(params), CX_OK);
    assert_int_equal(cx_tensor_set_requires_grad(w, true), CX_OK);
    cx_arena *arena = cx_arena_new(0);
    size_t after_first = 0;
    for (int step = 0; step < 3; step++) {
        assert_int_equal(cx_arena_begin(arena), CX_OK);
        cx_tensor *wt = cx__tensor_view(w, 2, (const int64_t[]){130, 300},
                                        (const int64_t[]){1, 130}, 0);
        cx_tensor *terms[] = {
            cx_cross_entropy(w, labels, CX_REDUCTION_MEAN),
            cx_nll_loss(cx_log_softmax(w, 0), labels, CX_REDUCTION_SUM),
            cx_mse_loss(cx_softmax(w, 1), target, CX_REDUCTION_MEAN),
            cx_bce_with_logits(w, target, CX_REDUCTION_SUM),
            cx_kl_normal(w, target, CX_REDUCTION_MEAN),
            cx_sum(cx_max(w, 0, false), 0, NULL, false),
            cx_mean(cx_sum(w, 2, (const int[]){1, 0}, true), 0, NULL, false),
            cx_sum(cx_mean(wt, 1, (const int[]){0}, false), 0, NULL, false),
        };
        assert_non_null(cx_argmax(w, 1, false));
        cx_tensor *loss = terms[0];
        for (size_t i = 1; i < sizeof terms / sizeof terms[0]; i++) loss = cx_add(loss, terms[i]);
        assert_non_null(loss);
        assert_int_equal(cx_backward(loss), CX_OK);
        assert_int_equal(cx_arena_end(arena), CX_OK);
        cx_arena_reset(arena);
        if (step == 0) after_first = heap_allocs;
    }
    size_t extra = heap_allocs - after_first;
    cx_arena_free(arena);
    cx_arena_free(params);
    cx_rng_free(rng);
    cx_set_allocator(NULL);
    assert_int_equal(extra, 0);
}

CX_TEST_GROUP(reduce) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_sum_accuracy),
        cmocka_unit_test(test_strided_inputs),  cmocka_unit_test(test_argmax_and_ties),
        cmocka_unit_test(test_stability),       cmocka_unit_test(test_arena_step),
    };
    CX_RUN_GROUP("reduce", tests);
}
