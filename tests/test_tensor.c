/*
 * test_tensor.c - tensor creation, accessors, lifetimes and autograd bookkeeping.
 */
#include "test.h"

#include <math.h>
#include <string.h>

static void creation(void **state) {
    (void)state;
    cx_tensor *z = cx_zeros(CX_SHAPE(2, 3));
    cx_tensor *o = cx_ones(CX_SHAPE(4));
    cx_tensor *f = cx_full(CX_SHAPE(2, 2), 7.5f);
    cx_tensor *s = cx_scalar(3.0f);
    assert_int_equal(cx_tensor_ndim(z), 2);
    assert_int_equal(cx_tensor_dim(z, -1), 3);
    assert_int_equal(cx_tensor_numel(z), 6);
    assert_int_equal(cx_tensor_dtype(z), CX_DTYPE_F32);
    assert_true(cx_tensor_is_contiguous(z));
    assert_true(cx_tensor_f32(z)[5] == 0.0f);
    assert_true(cx_tensor_f32(o)[3] == 1.0f);
    assert_true(cx_tensor_f32(f)[3] == 7.5f);
    assert_int_equal(cx_tensor_ndim(s), 0);
    assert_true(cx_tensor_item(s) == 3.0f);
    const int64_t *st = cx_tensor_strides(z);
    assert_int_equal(st[0], 3);
    assert_int_equal(st[1], 1);
    char buf[32];
    assert_string_equal(cx_tensor_shape_str(z, buf, sizeof buf), "[2,3]");
    cx_tensor_free(z);
    cx_tensor_free(o);
    cx_tensor_free(f);
    cx_tensor_free(s);
}

static void arange_and_data(void **state) {
    (void)state;
    cx_tensor *a = cx_arange(0, 5, 1);
    assert_int_equal(cx_tensor_numel(a), 5);
    assert_true(cx_tensor_f32(a)[4] == 4.0f);
    cx_tensor *b = cx_arange(1, 0, -0.25);
    assert_int_equal(cx_tensor_numel(b), 4);
    assert_true(cx_tensor_f32(b)[3] == 0.25f);
    int32_t labels[3] = {2, 0, 1};
    cx_tensor *l = cx_from_data(CX_DTYPE_I32, CX_SHAPE(3), labels);
    assert_int_equal(cx_tensor_dtype(l), CX_DTYPE_I32);
    assert_null(cx_tensor_f32(l)); /* not f32 */
    assert_int_equal(cx_last_status(), CX_ERR_DTYPE);
    assert_int_equal(((int32_t *)cx_tensor_data(l))[0], 2);
    cx_tensor *lf = cx_to_dtype(l, CX_DTYPE_F32);
    assert_true(cx_tensor_f32(lf)[1] == 0.0f && cx_tensor_f32(lf)[0] == 2.0f);
    uint8_t px[4] = {0, 128, 255, 7};
    cx_tensor *u = cx_from_data(CX_DTYPE_U8, CX_SHAPE(2, 2), px);
    cx_tensor *uf = cx_to_dtype(u, CX_DTYPE_F32);
    assert_true(cx_tensor_f32(uf)[2] == 255.0f);
    float out[4];
    assert_int_equal(cx_tensor_copy_to(uf, out, sizeof out), CX_OK);
    assert_true(out[1] == 128.0f);
    assert_int_equal(cx_tensor_copy_to(uf, out, 8), CX_ERR_ARG);
    cx_clear_error();
    for (cx_tensor **t = (cx_tensor *[]){a, b, l, lf, u, uf, NULL}; *t; t++) cx_tensor_free(*t);
}

static void random_streams_repeat(void **state) {
    (void)state;
    cx_rng *r1 = cx_rng_new(42), *r2 = cx_rng_new(42);
    cx_tensor *a = cx_randn(r1, CX_SHAPE(100)), *b = cx_randn(r2, CX_SHAPE(100));
    assert_memory_equal(cx_tensor_f32(a), cx_tensor_f32(b), 100 * sizeof(float));
    double mean = 0, var = 0;
    for (int i = 0; i < 100; i++) mean += cx_tensor_f32(a)[i] / 100.0;
    for (int i = 0; i < 100; i++) var += pow(cx_tensor_f32(a)[i] - mean, 2) / 100.0;
    assert_true(fabs(mean) < 0.3 && var > 0.6 && var < 1.5);
    cx_tensor *u = cx_rand(r1, CX_SHAPE(1000));
    for (int i = 0; i < 1000; i++) assert_true(cx_tensor_f32(u)[i] >= 0 && cx_tensor_f32(u)[i] < 1);
    cx_seed(7);
    cx_tensor *c = cx_rand(NULL, CX_SHAPE(8));
    cx_seed(7);
    cx_tensor *d = cx_rand(NULL, CX_SHAPE(8));
    assert_memory_equal(cx_tensor_f32(c), cx_tensor_f32(d), 8 * sizeof(float));
    for (cx_tensor **t = (cx_tensor *[]){a, b, u, c, d, NULL}; *t; t++) cx_tensor_free(*t);
    cx_rng_free(r1);
    cx_rng_free(r2);
}

static void graph_outlives_freed_intermediates(void **state) {
    (void)state;
    cx_tensor *x = cx_full(CX_SHAPE(3), 2.0f);
    cx_tensor *y = cx_full(CX_SHAPE(3), 3.0f);
    cx_tensor_set_requires_grad(x, true);
    cx_tensor_set_requires_grad(y, true);
    cx_tensor *p = cx_mul(x, y);  /* 6 */
    cx_tensor *q = cx_add(p, x);  /* x*y + x */
    cx_tensor_free(p);            /* the graph still holds p */
    cx_tensor *r = cx_mul(q, q);  /* (xy + x)^2 */
    cx_tensor_free(q);
    cx_tensor *g = cx_ones(CX_SHAPE(3));
    assert_int_equal(cx_backward_grad(r, g), CX_OK);
    /* dr/dx = 2(xy + x)(y + 1) = 2*8*4 = 64; dr/dy = 2(xy + x) x = 32 */
    assert_true(cx_tensor_f32(cx_tensor_grad(x))[0] == 64.0f);
    assert_true(cx_tensor_f32(cx_tensor_grad(y))[2] == 32.0f);
    /* gradients accumulate over backward calls; a second backward over the same graph
     * does not double-count intermediate gradients */
    assert_int_equal(cx_backward_grad(r, g), CX_OK);
    assert_true(cx_tensor_f32(cx_tensor_grad(x))[0] == 128.0f);
    cx_tensor_zero_grad(x);
    assert_true(cx_tensor_f32(cx_tensor_grad(x))[0] == 0.0f);
    for (cx_tensor **t = (cx_tensor *[]){x, y, r, g, NULL}; *t; t++) cx_tensor_free(*t);
}

static void no_grad_and_detach(void **state) {
    (void)state;
    cx_tensor *x = cx_ones(CX_SHAPE(2));
    cx_tensor_set_requires_grad(x, true);
    cx_no_grad_begin();
    assert_false(cx_grad_enabled());
    cx_tensor *y = cx_add(x, x);
    cx_no_grad_end();
    assert_true(cx_grad_enabled());
    assert_false(cx_tensor_requires_grad(y));
    assert_int_equal(cx_backward(y), CX_ERR_SHAPE); /* 2 elements */
    cx_tensor *d = cx_detach(x);
    assert_false(cx_tensor_requires_grad(d));
    assert_ptr_equal(cx_tensor_f32(d), cx_tensor_f32(x)); /* shares data */
    cx_tensor *z = cx_mul(d, x);
    assert_true(cx_tensor_requires_grad(z));
    cx_tensor *s = cx_ones(CX_SHAPE(2));
    assert_int_equal(cx_backward_grad(z, s), CX_OK);
    assert_true(cx_tensor_f32(cx_tensor_grad(x))[0] == 1.0f); /* only through the live branch */
    assert_int_equal(cx_tensor_set_requires_grad(z, false), CX_ERR_ARG); /* not a leaf */
    cx_clear_error();
    for (cx_tensor **t = (cx_tensor *[]){x, y, d, z, s, NULL}; *t; t++) cx_tensor_free(*t);
}

static void input_gradients(void **state) {
    (void)state;
    /* The gradient reaches a plain input tensor, as adversarial examples need. */
    cx_tensor *img = cx_full(CX_SHAPE(1, 4), 0.5f), *w = cx_full(CX_SHAPE(4), 2.0f);
    cx_tensor_set_requires_grad(img, true);
    cx_tensor *y = cx_mul(img, w);
    cx_tensor *g = cx_ones(CX_SHAPE(1, 4));
    assert_int_equal(cx_backward_grad(y, g), CX_OK);
    assert_true(cx_tensor_f32(cx_tensor_grad(img))[3] == 2.0f);
    assert_null(cx_tensor_grad(w));
    for (cx_tensor **t = (cx_tensor *[]){img, w, y, g, NULL}; *t; t++) cx_tensor_free(*t);
}

CX_TEST_GROUP(tensor) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(creation),
        cmocka_unit_test(arange_and_data),
        cmocka_unit_test(random_streams_repeat),
        cmocka_unit_test(graph_outlives_freed_intermediates),
        cmocka_unit_test(no_grad_and_detach),
        cmocka_unit_test(input_gradients),
    };
    CX_RUN_GROUP("tensor", tests);
}
