/*
 * test_views.c - shape ops beyond the gradient check: which results are views sharing their
 * input's data and which are copies, slice offsets and strides, values of concat,
 * index_select and matmul against hand-computed ones, and the error messages for bad shapes,
 * dims and indices.
 */
#include "test.h"

#include <string.h>

/* [0, 1, ..., n-1] reshaped to shape. */
static cx_tensor *iota(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    cx_tensor *r = cx_arange(0, (double)n, 1);
    cx_tensor *t = cx_reshape(r, ndim, shape);
    cx_tensor_free(r);
    assert_non_null(t);
    return t;
}

/* The tensor's values in logical order into buf (n floats). */
static void values(const cx_tensor *t, float *buf, int64_t n) {
    assert_int_equal(cx_tensor_numel(t), n);
    assert_int_equal(cx_tensor_copy_to(t, buf, (size_t)n * sizeof *buf), CX_OK);
}

/* The last call failed with status and its message holds every string of the NULL-ended list. */
static void expect_error(cx_status status, ...) {
    assert_int_equal(cx_last_status(), status);
    const char *msg = cx_last_error();
    va_list ap;
    va_start(ap, status);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
        if (!strstr(msg, s)) print_error("message \"%s\" lacks \"%s\"\n", msg, s);
        assert_non_null(strstr(msg, s));
    }
    va_end(ap);
    cx_clear_error();
}

static void test_transpose_is_view(void **state) {
    (void)state;
    cx_tensor *x = iota(CX_SHAPE(3, 4));
    cx_tensor *t = cx_transpose(x, 0, -1);
    assert_non_null(t);
    assert_false(cx_tensor_is_contiguous(t));
    assert_null(cx_tensor_data(t)); /* not contiguous: no flat pointer */
    cx_clear_error();
    assert_int_equal(cx_tensor_dim(t, 0), 4);
    assert_int_equal(cx_tensor_dim(t, 1), 3);
    assert_int_equal(cx_tensor_strides(t)[0], 1);
    assert_int_equal(cx_tensor_strides(t)[1], 4);
    float v[12];
    values(t, v, 12);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) assert_true(v[i * 3 + j] == (float)(j * 4 + i));
    /* shares data: a write to x shows through t */
    cx_tensor_f32(x)[1] = 100.0f;
    values(t, v, 12);
    assert_true(v[3] == 100.0f);
    /* a permute of a transpose is a view of the same storage too */
    cx_tensor *p = cx_permute(t, (const int[]){-1, 0});
    assert_non_null(p);
    assert_true(cx_tensor_is_contiguous(p));
    assert_ptr_equal(cx_tensor_data(p), cx_tensor_data(x));
    cx_tensor_free(p);
    cx_tensor_free(t);
    cx_tensor_free(x);
}

static void test_reshape_views_and_copies(void **state) {
    (void)state;
    cx_tensor *x = iota(CX_SHAPE(2, 3, 4));
    cx_tensor *r = cx_reshape(x, CX_SHAPE(-1, 4));
    assert_non_null(r);
    assert_int_equal(cx_tensor_ndim(r), 2);
    assert_int_equal(cx_tensor_dim(r, 0), 6);
    assert_ptr_equal(cx_tensor_data(r), cx_tensor_data(x)); /* contiguous: a view */
    cx_tensor *s = cx_reshape(x, 0, NULL);                  /* 24 elements into a scalar */
    assert_null(s);
    expect_error(CX_ERR_SHAPE, "reshape", "[2,3,4]", "24 elements", "[]", NULL);

    /* a transpose flattened cannot stay a view: reshape copies, in logical order */
    cx_tensor *t = cx_transpose(r, 0, 1); /* [4,6] */
    cx_tensor *f = cx_reshape(t, CX_SHAPE(24));
    assert_non_null(f);
    assert_true(cx_tensor_is_contiguous(f));
    float *fd = cx_tensor_f32(f), *xd = cx_tensor_f32(x);
    assert_true(fd < xd || fd >= xd + 24);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++) assert_true(fd[i * 6 + j] == (float)(j * 4 + i));
    xd[0] = -1.0f;
    assert_true(fd[0] == 0.0f); /* the copy does not follow x */

    /* splitting a dim of a permuted tensor keeps it a view (strides allow it) */
    cx_tensor *p = cx_permute(x, (const int[]){1, 0, 2}); /* [3,2,4] strides [4,12,1] */
    cx_tensor *q = cx_reshape(p, CX_SHAPE(3, 2, 2, 2));
    assert_non_null(q);
    const int64_t want[] = {4, 12, 2, 1};
    for (int i = 0; i < 4; i++) assert_int_equal(cx_tensor_strides(q)[i], want[i]);
    float v[24];
    values(q, v, 24);
    assert_true(v[0] == -1.0f); /* shares x's data */
    assert_true(v[4] == 12.0f); /* q[0][1][0][0] = x[1][0][0] */
    cx_tensor_free(q);
    cx_tensor_free(p);
    cx_tensor_free(f);
    cx_tensor_free(t);
    cx_tensor_free(r);
    cx_tensor_free(x);
}

static void test_slice_offsets(void **state) {
    (void)state;
    cx_tensor *x = iota(CX_SHAPE(5, 6));
    float *xd = cx_tensor_f32(x);
    /* rows 2..3: still contiguous, starting 12 elements in */
    cx_tensor *rows = cx_slice(x, 0, 2, 4, 1);
    assert_non_null(rows);
    assert_int_equal(cx_tensor_dim(rows, 0), 2);
    assert_ptr_equal(cx_tensor_f32(rows), xd + 12);
    /* columns -5::2 = 1, 3, 5 (end clamped) */
    cx_tensor *cols = cx_slice(x, -1, -5, 100, 2);
    assert_non_null(cols);
    assert_int_equal(cx_tensor_dim(cols, 1), 3);
    assert_int_equal(cx_tensor_strides(cols)[0], 6);
    assert_int_equal(cx_tensor_strides(cols)[1], 2);
    float v[15];
    values(cols, v, 15);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++) assert_true(v[i * 3 + j] == (float)(i * 6 + 1 + 2 * j));
    /* a slice of a slice adds offsets and multiplies steps: cols 3, 5 of rows 2, 3 */
    cx_tensor *ss = cx_slice(rows, 1, 3, 6, 2);
    values(ss, v, 4);
    assert_true(v[0] == 15.0f && v[1] == 17.0f && v[2] == 21.0f && v[3] == 23.0f);
    /* out-of-range bounds clamp as in Python: empty, and all rows */
    cx_tensor *empty = cx_slice(x, 0, 10, 20, 1);
    assert_non_null(empty);
    assert_int_equal(cx_tensor_numel(empty), 0);
    cx_tensor *all = cx_slice(x, 0, -100, 100, 3);
    assert_int_equal(cx_tensor_dim(all, 0), 2); /* rows 0, 3 */
    cx_tensor *back = cx_slice(x, 0, 4, 2, 1);   /* end before start: empty */
    assert_int_equal(cx_tensor_numel(back), 0);
    assert_null(cx_slice(x, 1, 0, 6, 0));
    expect_error(CX_ERR_ARG, "slice", "step 0", "[5,6]", NULL);
    assert_null(cx_slice(x, 2, 0, 1, 1));
    expect_error(CX_ERR_ARG, "slice", "dim 2", NULL);
    cx_tensor_free(back);
    cx_tensor_free(all);
    cx_tensor_free(empty);
    cx_tensor_free(ss);
    cx_tensor_free(cols);
    cx_tensor_free(rows);
    cx_tensor_free(x);
}

static void test_contiguous_and_clone(void **state) {
    (void)state;
    cx_tensor *x = iota(CX_SHAPE(3, 4));
    cx_tensor *c = cx_contiguous(x);
    assert_ptr_equal(c, x); /* already contiguous: the same tensor, one more reference */
    cx_tensor_free(c);
    assert_true(cx_tensor_valid(x));
    cx_tensor *t = cx_transpose(x, 0, 1);
    cx_tensor *ct = cx_contiguous(t);
    assert_true(cx_tensor_is_contiguous(ct));
    assert_ptr_not_equal(cx_tensor_data(ct), cx_tensor_data(x));
    assert_true(cx_tensor_f32(ct)[1] == 4.0f);
    cx_tensor *k = cx_clone(x);
    assert_ptr_not_equal(cx_tensor_data(k), cx_tensor_data(x));
    assert_true(cx_tensor_f32(k)[11] == 11.0f);
    /* views and copies work on i32 too (labels) */
    cx_tensor *lab = cx_to_dtype(x, CX_DTYPE_I32);
    cx_tensor *lt = cx_transpose(lab, 0, 1);
    cx_tensor *lc = cx_contiguous(lt);
    assert_int_equal(cx_tensor_dtype(lc), CX_DTYPE_I32);
    assert_int_equal(((int32_t *)cx_tensor_data(lc))[1], 4);
    cx_tensor_free(lc);
    cx_tensor_free(lt);
    cx_tensor_free(lab);
    cx_tensor_free(k);
    cx_tensor_free(ct);
    cx_tensor_free(t);
    cx_tensor_free(x);
}

static void test_view_grads(void **state) {
    (void)state;
    /* x -> transpose -> slice -> reshape; gradient of the sum lands on the sliced entries */
    cx_tensor *x = iota(CX_SHAPE(3, 4));
    assert_int_equal(cx_tensor_set_requires_grad(x, true), CX_OK);
    cx_tensor *t = cx_transpose(x, 0, 1);      /* [4,3] */
    cx_tensor *s = cx_slice(t, 0, -3, 4, 2);   /* rows 1, 3 of t = columns 1, 3 of x */
    cx_tensor *r = cx_reshape(s, CX_SHAPE(-1)); /* a copy: s is not contiguous */
    cx_tensor *w = cx_full(CX_SHAPE(6), 2.0f);
    assert_int_equal(cx_backward_grad(r, w), CX_OK);
    const float *g = cx_tensor_f32(cx_tensor_grad(x));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) assert_true(g[i * 4 + j] == (j % 2 ? 2.0f : 0.0f));
    cx_tensor_free(w);
    cx_tensor_free(r);
    cx_tensor_free(s);
    cx_tensor_free(t);
    cx_tensor_free(x);
}

static void test_concat_values(void **state) {
    (void)state;
    cx_tensor *a = iota(CX_SHAPE(2, 1, 2)), *b = iota(CX_SHAPE(2, 2, 2));
    cx_tensor *c = cx_concat((cx_tensor *[]){a, b, a}, 3, -2);
    assert_non_null(c);
    assert_int_equal(cx_tensor_dim(c, 1), 4);
    float v[16];
    values(c, v, 16);
    const float want[16] = {0, 1, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 2, 3};
    cx_test_assert_close("concat", v, want, 16, 0);
    cx_tensor_free(c);
    cx_tensor_free(b);
    cx_tensor_free(a);
}

static void test_index_values_and_grads(void **state) {
    (void)state;
    cx_tensor *x = iota(CX_SHAPE(3, 2));
    assert_int_equal(cx_tensor_set_requires_grad(x, true), CX_OK);
    cx_tensor *idx = cx_from_data(CX_DTYPE_I32, CX_SHAPE(4), (const int32_t[]){2, 0, 2, 2});
    cx_tensor *y = cx_index_select(x, 0, idx);
    float v[8];
    values(y, v, 8);
    const float want[8] = {4, 5, 0, 1, 4, 5, 4, 5};
    cx_test_assert_close("index_select", v, want, 8, 0);
    cx_tensor *w = cx_ones(CX_SHAPE(4, 2));
    assert_int_equal(cx_backward_grad(y, w), CX_OK);
    const float gw[6] = {1, 1, 0, 0, 3, 3}; /* row 2 picked three times */
    cx_test_assert_close("index_select grad", cx_tensor_f32(cx_tensor_grad(x)), gw, 6, 0);

    cx_tensor *gi = cx_from_data(CX_DTYPE_I32, CX_SHAPE(3, 1), (const int32_t[]){1, 1, 0});
    cx_tensor *gy = cx_gather(x, 1, gi);
    values(gy, v, 3);
    const float gwant[3] = {1, 3, 4};
    cx_test_assert_close("gather", v, gwant, 3, 0);
    cx_tensor_free(gy);
    cx_tensor_free(gi);
    cx_tensor_free(w);
    cx_tensor_free(y);
    cx_tensor_free(idx);
    cx_tensor_free(x);
}

static void test_matmul_values(void **state) {
    (void)state;
    cx_tensor *a = iota(CX_SHAPE(2, 3)), *b = iota(CX_SHAPE(3, 2));
    cx_tensor *c = cx_matmul(a, b);
    float v[4];
    values(c, v, 4);
    const float want[4] = {10, 13, 28, 40};
    cx_test_assert_close("matmul", v, want, 4, 0);
    /* 1-D . 1-D is a 0-dim dot product */
    cx_tensor *u = cx_arange(0, 3, 1);
    cx_tensor *d = cx_matmul(u, u);
    assert_int_equal(cx_tensor_ndim(d), 0);
    assert_true(cx_tensor_item(d) == 5.0f);
    /* [3]·[2,3,2] -> [2,2]: the vector's dim is removed again */
    cx_tensor *bb = iota(CX_SHAPE(2, 3, 2));
    cx_tensor *e = cx_matmul(u, bb);
    assert_int_equal(cx_tensor_ndim(e), 2);
    values(e, v, 4);
    const float ewant[4] = {10, 13, 28, 31};
    cx_test_assert_close("matmul vec batch", v, ewant, 4, 0);
    cx_tensor_free(e);
    cx_tensor_free(bb);
    cx_tensor_free(d);
    cx_tensor_free(u);
    cx_tensor_free(c);
    cx_tensor_free(b);
    cx_tensor_free(a);
}

/* A training-style step in an arena: views, matmul and backward allocate from it. */
static void test_views_in_arena(void **state) {
    (void)state;
    cx_tensor *w = iota(CX_SHAPE(4, 3));
    assert_int_equal(cx_tensor_set_requires_grad(w, true), CX_OK);
    cx_arena *arena = cx_arena_new(0);
    for (int step = 0; step < 2; step++) {
        assert_int_equal(cx_arena_begin(arena), CX_OK);
        cx_tensor *x = cx_ones(CX_SHAPE(2, 5, 3));
        cx_tensor *y = cx_matmul(x, cx_transpose(w, 0, 1));          /* [2,5,4] */
        cx_tensor *z = cx_slice(cx_reshape(y, CX_SHAPE(10, 4)), 1, 1, 3, 1);
        cx_tensor *s = cx_concat((cx_tensor *[]){z, z}, 2, 0);
        assert_non_null(s);
        assert_int_equal(cx_backward_grad(s, cx_ones(CX_SHAPE(20, 2))), CX_OK);
        assert_int_equal(cx_arena_end(arena), CX_OK);
        cx_arena_reset(arena);
    }
    /* each step: rows 1, 2 of w get 2 (concat twice) * 10 rows of x of ones */
    const float *g = cx_tensor_f32(cx_tensor_grad(w));
    for (int i = 0; i < 12; i++) assert_true(g[i] == (i / 3 == 1 || i / 3 == 2 ? 40.0f : 0.0f));
    cx_arena_free(arena);
    cx_tensor_free(w);
}

static void test_shape_errors(void **state) {
    (void)state;
    cx_clear_error();
    cx_tensor *x = iota(CX_SHAPE(3, 4));
    assert_null(cx_reshape(x, CX_SHAPE(5, -1)));
    expect_error(CX_ERR_SHAPE, "reshape", "[3,4]", "[5,-1]", "12 elements", NULL);
    assert_null(cx_reshape(x, CX_SHAPE(5, 2)));
    expect_error(CX_ERR_SHAPE, "reshape", "[3,4]", "12 elements", "[5,2]", "10 elements", NULL);
    assert_null(cx_reshape(x, CX_SHAPE(-1, -1)));
    expect_error(CX_ERR_ARG, "reshape", "[3,4]", "[-1,-1]", NULL);
    assert_null(cx_transpose(x, 0, 2));
    expect_error(CX_ERR_ARG, "transpose", "dim 2", "2 dimensions", NULL);
    assert_null(cx_permute(x, (const int[]){1, -1}));
    expect_error(CX_ERR_ARG, "permute", "dim 1", "[3,4]", NULL);
    assert_null(cx_permute(x, (const int[]){0, -3}));
    expect_error(CX_ERR_ARG, "permute", "dim -3", NULL);

    cx_tensor *y = iota(CX_SHAPE(3, 5));
    assert_null(cx_concat((cx_tensor *[]){x, x, y}, 3, 0));
    expect_error(CX_ERR_SHAPE, "concat", "input 2", "[3,5]", "[3,4]", NULL);
    assert_null(cx_concat((cx_tensor *[]){x}, 0, 0));
    expect_error(CX_ERR_ARG, "concat", NULL);
    assert_null(cx_concat((cx_tensor *[]){x, y}, 2, 2));
    expect_error(CX_ERR_ARG, "concat", "dim 2", NULL);
    cx_tensor *c = cx_concat((cx_tensor *[]){x, y}, 2, -1); /* [3,9] is fine */
    assert_non_null(c);
    cx_tensor_free(c);

    cx_tensor *idx = cx_from_data(CX_DTYPE_I32, CX_SHAPE(3), (const int32_t[]){0, 3, 1});
    assert_null(cx_index_select(x, 0, idx));
    expect_error(CX_ERR_ARG, "index_select", "index 3", "[0, 3)", "[3,4]", NULL);
    cx_tensor *neg = cx_from_data(CX_DTYPE_I32, CX_SHAPE(3, 1), (const int32_t[]){0, -1, 1});
    assert_null(cx_gather(x, 1, neg));
    expect_error(CX_ERR_ARG, "gather", "index -1", "[0, 4)", NULL);
    cx_tensor *big = cx_from_data(CX_DTYPE_I32, CX_SHAPE(4, 1), (const int32_t[]){0, 1, 2, 0});
    assert_null(cx_gather(x, 1, big)); /* 4 rows of index, x has 3 */
    expect_error(CX_ERR_SHAPE, "gather", "[4,1]", "[3,4]", NULL);
    cx_tensor *fidx = cx_zeros(CX_SHAPE(2));
    assert_null(cx_index_select(x, 0, fidx));
    expect_error(CX_ERR_DTYPE, "index_select", "i32", NULL);

    cx_tensor *a = cx_zeros(CX_SHAPE(2, 3)), *b = cx_zeros(CX_SHAPE(4, 5));
    assert_null(cx_matmul(a, b));
    assert_int_equal(cx_last_status(), CX_ERR_SHAPE);
    assert_string_equal(cx_last_error(),
                        "matmul: shapes [2,3] and [4,5] do not fit: 3 columns against 4 rows");
    cx_tensor *p = cx_zeros(CX_SHAPE(2, 3, 4)), *q = cx_zeros(CX_SHAPE(3, 4, 5));
    assert_null(cx_matmul(p, q));
    expect_error(CX_ERR_SHAPE, "matmul", "[2,3,4]", "[3,4,5]", "batch", NULL);
    cx_tensor *s = cx_scalar(1.0f);
    assert_null(cx_matmul(s, a));
    expect_error(CX_ERR_SHAPE, "matmul", "[]", "[2,3]", NULL);

    /* a NULL input keeps the first error */
    assert_null(cx_transpose(cx_reshape(x, CX_SHAPE(7)), 0, 1));
    expect_error(CX_ERR_SHAPE, "reshape", "[7]", NULL);
    cx_tensor_free(s);
    cx_tensor_free(q);
    cx_tensor_free(p);
    cx_tensor_free(b);
    cx_tensor_free(a);
    cx_tensor_free(fidx);
    cx_tensor_free(big);
    cx_tensor_free(neg);
    cx_tensor_free(idx);
    cx_tensor_free(y);
    cx_tensor_free(x);
}

CX_TEST_GROUP(views) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transpose_is_view),
        cmocka_unit_test(test_reshape_views_and_copies),
        cmocka_unit_test(test_slice_offsets),
        cmocka_unit_test(test_contiguous_and_clone),
        cmocka_unit_test(test_view_grads),
        cmocka_unit_test(test_concat_values),
        cmocka_unit_test(test_index_values_and_grads),
        cmocka_unit_test(test_matmul_values),
        cmocka_unit_test(test_views_in_arena),
        cmocka_unit_test(test_shape_errors),
    };
    CX_RUN_GROUP("views", tests);
}
