/*
 * test_errors.c - bad input gives a status and a message naming the op and the shapes, never
 * a crash: NULL and freed tensors, shape mismatches, absurd sizes, dead arena tensors.
 */
#include "test.h"

#include <math.h>
#include <string.h>

static void shape_mismatch_names_op_and_shapes(void **state) {
    (void)state;
    cx_tensor *a = cx_zeros(CX_SHAPE(8, 3)), *b = cx_zeros(CX_SHAPE(4));
    assert_null(cx_add(a, b));
    assert_error(CX_ERR_SHAPE, "add", "[8,3]", "[4]");
    assert_null(cx_mul(b, a));
    assert_error(CX_ERR_SHAPE, "mul", "[4]", "[8,3]");
    cx_tensor_free(a);
    cx_tensor_free(b);
}

static void null_inputs_propagate_first_error(void **state) {
    (void)state;
    cx_clear_error();
    cx_tensor *a = cx_zeros(CX_SHAPE(2));
    assert_null(cx_add(a, NULL));
    assert_error(CX_ERR_ARG, "add", "NULL");
    /* a failed op's NULL flowing into the next op keeps the first message */
    cx_tensor *c = cx_zeros(CX_SHAPE(3));
    cx_tensor *r = cx_mul(cx_sub(a, c), a);
    assert_null(r);
    assert_error(CX_ERR_SHAPE, "sub", "[2]", "[3]");
    cx_tensor_free(a);
    cx_tensor_free(c);
}

static void freed_tensor_is_detected(void **state) {
    (void)state;
    cx_tensor *a = cx_zeros(CX_SHAPE(2)), *b = cx_zeros(CX_SHAPE(2));
    cx_tensor_free(a);
    assert_false(cx_tensor_valid(a));
    assert_null(cx_add(a, b));
    assert_error(CX_ERR_ARG, "add", "freed");
    cx_tensor_free(a); /* double free: an error, not a crash */
    assert_error(CX_ERR_ARG, "already freed");
    cx_tensor_free(b);
    cx_tensor_free(NULL);
}

static void absurd_and_bad_shapes(void **state) {
    (void)state;
    assert_null(cx_zeros(CX_SHAPE(1000000, 1000000, 10)));
    assert_error(CX_ERR_OOM, "2^40");
    assert_null(cx_zeros(CX_SHAPE(3, -1)));
    assert_error(CX_ERR_ARG, "negative");
    assert_null(cx_zeros(9, (const int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}));
    assert_error(CX_ERR_ARG, "9 dimensions");
    assert_null(cx_zeros(2, NULL));
    assert_error(CX_ERR_ARG, "NULL");
    assert_null(cx_arange(0, 1, 0));
    assert_error(CX_ERR_ARG, "cx_arange");
    assert_null(cx_arange(0, NAN, 1));
    assert_error(CX_ERR_ARG, "cx_arange");
    assert_null(cx_tensor_new((cx_dtype)42, CX_SHAPE(2)));
    assert_error(CX_ERR_DTYPE, "dtype");
    assert_null(cx_from_data(CX_DTYPE_F32, CX_SHAPE(2), NULL));
    assert_error(CX_ERR_ARG, "NULL");
    /* empty tensors are fine */
    cx_tensor *e = cx_zeros(CX_SHAPE(0, 5));
    assert_non_null(e);
    assert_int_equal(cx_tensor_numel(e), 0);
    cx_tensor *e2 = cx_add(e, e);
    assert_non_null(e2);
    cx_tensor_free(e);
    cx_tensor_free(e2);
}

static void dtype_errors(void **state) {
    (void)state;
    int32_t v[2] = {1, 2};
    cx_tensor *i = cx_from_data(CX_DTYPE_I32, CX_SHAPE(2), v), *f = cx_zeros(CX_SHAPE(2));
    assert_null(cx_add(i, f));
    assert_error(CX_ERR_DTYPE, "add", "f32", "i32");
    assert_int_equal(cx_tensor_set_requires_grad(i, true), CX_ERR_DTYPE);
    cx_clear_error();
    assert_true(isnan(cx_tensor_item(f)));
    assert_error(CX_ERR_SHAPE, "cx_tensor_item", "[2]");
    assert_int_equal(cx_tensor_dim(f, 3), 0);
    assert_error(CX_ERR_ARG, "dim 3");
    cx_tensor_free(i);
    cx_tensor_free(f);
}

static void backward_errors(void **state) {
    (void)state;
    cx_tensor *a = cx_ones(CX_SHAPE(2)), *b = cx_ones(CX_SHAPE(3));
    assert_int_equal(cx_backward(a), CX_ERR_SHAPE);
    cx_clear_error();
    cx_tensor *s = cx_scalar(1.0f);
    assert_int_equal(cx_backward(s), CX_ERR_ARG); /* requires no gradient */
    assert_error(CX_ERR_ARG, "does not require");
    cx_tensor_set_requires_grad(a, true);
    cx_tensor *y = cx_mul(a, a);
    assert_int_equal(cx_backward_grad(y, b), CX_ERR_SHAPE);
    assert_error(CX_ERR_SHAPE, "[3]", "[2]");
    assert_int_equal(cx_backward(NULL), CX_ERR_ARG);
    cx_clear_error();
    for (cx_tensor **t = (cx_tensor *[]){a, b, s, y, NULL}; *t; t++) cx_tensor_free(*t);
}

static void dead_arena_tensors(void **state) {
    (void)state;
    cx_arena *arena = cx_arena_new(0);
    assert_int_equal(cx_arena_begin(arena), CX_OK);
    cx_tensor *a = cx_ones(CX_SHAPE(4));
    cx_tensor *b = cx_add(a, a);
    cx_tensor_free(b); /* no-op for arena tensors */
    assert_true(cx_tensor_valid(b));
    assert_int_equal(cx_arena_end(arena), CX_OK);
    assert_int_equal(cx_arena_end(arena), CX_ERR_ARG); /* not active */
    cx_clear_error();
    cx_arena_reset(arena);
    assert_false(cx_tensor_valid(a));
    assert_null(cx_add(a, a));
    assert_error(CX_ERR_ARG, "add", "arena was reset");
    cx_arena_free(arena);
    assert_int_equal(cx_arena_begin(NULL), CX_ERR_ARG);
    cx_clear_error();
}

CX_TEST_GROUP(errors) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shape_mismatch_names_op_and_shapes),
        cmocka_unit_test(null_inputs_propagate_first_error),
        cmocka_unit_test(freed_tensor_is_detected),
        cmocka_unit_test(absurd_and_bad_shapes),
        cmocka_unit_test(dtype_errors),
        cmocka_unit_test(backward_errors),
        cmocka_unit_test(dead_arena_tensors),
    };
    CX_RUN_GROUP("errors", tests);
}
