/*
 * test_conv.c - what the conv2d / conv_transpose2d test rows cannot say: the error messages,
 * the whole-arithmetic helper the layer builder uses, no heap allocation in a steady-state
 * forward + backward inside an arena, and larger outputs against a naive loop (batches big
 * enough that the kernels split images over threads, and odd settings in every dimension).
 */
#include "test.h"

#include <string.h>

static void conv2d_errors_name_shapes(void **state) {
    (void)state;
    cx_tensor *x = cx_zeros(CX_SHAPE(8, 3, 28, 28)), *w = cx_zeros(CX_SHAPE(16, 1, 5, 5));
    cx_tensor *small = cx_zeros(CX_SHAPE(1, 3, 2, 2)), *b = cx_zeros(CX_SHAPE(5));
    cx_tensor *w3 = cx_zeros(CX_SHAPE(6, 3, 3, 3)), *x3 = cx_zeros(CX_SHAPE(2, 3, 7));

    assert_null(cx_conv2d(x, w, NULL, NULL));
    assert_error(CX_ERR_SHAPE, "conv2d: input has 3 channels, weight expects 1", "[8,3,28,28]",
                 "[16,1,5,5]");
    assert_null(cx_conv2d(small, w3, NULL, NULL)); /* 2x2 input, 3x3 kernel */
    assert_error(CX_ERR_SHAPE, "conv2d: input height 2 with kernel 3", "gives no output",
                 "(2 + 0 - 3) / 1 + 1", "[1,3,2,2]", "[6,3,3,3]");
    assert_null(cx_conv2d(x, w3, NULL, &(cx_conv2d_params){.groups = 2}));
    assert_error(CX_ERR_SHAPE, "groups 2 does not divide the 3 input channels", "[8,3,28,28]");
    assert_null(cx_conv2d(x, w3, NULL, &(cx_conv2d_params){.groups = -1}));
    assert_error(CX_ERR_ARG, "conv2d: groups -1");
    assert_null(cx_conv2d(x, w3, NULL, &(cx_conv2d_params){.groups = 3}));
    assert_error(CX_ERR_SHAPE, "input has 3 channels, weight expects 9 (3 per group x 3 groups)");
    assert_null(cx_conv2d(x, w3, b, NULL));
    assert_error(CX_ERR_SHAPE, "conv2d: bias [5]", "expected [6]");
    assert_null(cx_conv2d(x, w3, NULL, &(cx_conv2d_params){.stride = {0, -2}}));
    assert_error(CX_ERR_ARG, "conv2d: stride (0, -2)");
    assert_null(cx_conv2d(x, w3, NULL, &(cx_conv2d_params){.same = true, .stride = {2, 2}}));
    assert_error(CX_ERR_ARG, "'same' needs stride 1");
    assert_null(cx_conv2d(x, w3, NULL, &(cx_conv2d_params){.padding = {INT64_MAX / 2, 0}}));
    assert_error(CX_ERR_ARG, "conv2d: padding", "at most");
    cx_tensor *w0 = cx_zeros(CX_SHAPE(6, 3, 0, 3));
    assert_null(cx_conv2d(x, w0, NULL, NULL));
    assert_error(CX_ERR_SHAPE, "empty 0x3 kernel", "[6,3,0,3]");
    cx_tensor_free(w0);
    assert_null(cx_conv2d(x3, w3, NULL, NULL));
    assert_error(CX_ERR_SHAPE, "need 4 dimensions", "[2,3,7]");
    assert_null(cx_conv2d(NULL, w3, NULL, NULL));
    assert_error(CX_ERR_ARG, "conv2d");

    /* torch floors: 7 with kernel 3 and stride 3 gives 2 */
    cx_tensor *x7 = cx_zeros(CX_SHAPE(1, 3, 7, 7));
    cx_tensor *y = cx_conv2d(x7, w3, NULL, &(cx_conv2d_params){.stride = {3, 3}});
    assert_non_null(y);
    assert_int_equal(cx_tensor_shape(y)[2], 2);
    assert_int_equal(cx_tensor_shape(y)[3], 2);
    cx_tensor_free(y);
    cx_tensor *tiny = cx_zeros(CX_SHAPE(1, 3, 2, 2));
    cx_tensor *same = cx_conv2d(tiny, w3, NULL, &(cx_conv2d_params){.same = true});
    assert_non_null(same); /* 'same' pads the 2x2 input so the 3x3 kernel fits */
    assert_int_equal(cx_tensor_shape(same)[2], 2);
    cx_tensor_free(same);

    cx_tensor *list[] = {x, w, small, b, w3, x3, x7, tiny};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) cx_tensor_free(list[i]);
}

static void conv_transpose2d_errors(void **state) {
    (void)state;
    cx_tensor *x = cx_zeros(CX_SHAPE(2, 4, 5, 5)), *w = cx_zeros(CX_SHAPE(3, 2, 3, 3));
    cx_tensor *w4 = cx_zeros(CX_SHAPE(4, 2, 3, 3)), *x1 = cx_zeros(CX_SHAPE(1, 4, 1, 1));
    assert_null(cx_conv_transpose2d(x, w, NULL, NULL));
    assert_error(CX_ERR_SHAPE, "conv_transpose2d: input has 4 channels, weight expects 3",
                 "[2,4,5,5]", "[3,2,3,3]");
    assert_null(cx_conv_transpose2d(x, w4, NULL, &(cx_conv_transpose2d_params){.groups = 3}));
    assert_error(CX_ERR_SHAPE, "groups 3 does not divide the 4 input channels");
    assert_null(cx_conv_transpose2d(
        x, w4, NULL, &(cx_conv_transpose2d_params){.stride = {2, 2}, .output_padding = {2, 0}}));
    assert_error(CX_ERR_ARG, "output_padding 2 (height) must be smaller than the stride 2");
    assert_null(
        cx_conv_transpose2d(x1, w4, NULL, &(cx_conv_transpose2d_params){.padding = {2, 2}}));
    assert_error(CX_ERR_SHAPE, "gives no output",
                 "(1 - 1) * 1 - 2 * 2 + 1 * (3 - 1) + 0 + 1 = -1");
    cx_tensor *y = cx_conv_transpose2d(x, w4, NULL, &(cx_conv_transpose2d_params){.groups = 2});
    assert_non_null(y); /* weight [4, 2, ..] with 2 groups: 4 output channels */
    assert_int_equal(cx_tensor_shape(y)[1], 4);
    assert_int_equal(cx_tensor_shape(y)[2], 7);
    cx_tensor_free(y);
    cx_tensor_free(x);
    cx_tensor_free(w);
    cx_tensor_free(w4);
    cx_tensor_free(x1);
}

static void out_size_helper(void **state) {
    (void)state;
    int64_t out = 0;
    assert_true(cx__conv_out_size("conv2d: input", 7, 3, 3, 0, 1, false, &out));
    assert_int_equal(out, 2); /* floors, as torch */
    assert_false(cx__conv_out_size("conv2d: input", 7, 3, 3, 0, 1, true, &out));
    assert_string_equal(cx_last_error(),
                        "conv2d: input 7 with kernel 3, stride 3, padding 0, dilation 1 does not "
                        "fit: (7 + 0 - 3) / 3 + 1 is not whole; padding 1 would fit");
    cx_clear_error();
    assert_true(cx__conv_out_size("x", 7, 3, 2, 0, 1, true, &out));
    assert_int_equal(out, 3);
    assert_true(cx__conv_out_size("x", 28, 3, 1, 1, 2, true, &out)); /* extent 5 */
    assert_int_equal(out, 26);
    /* even stride, odd span: no padding fixes it, so no hint */
    assert_false(cx__conv_out_size("x", 8, 3, 2, 0, 1, true, &out));
    assert_null(strstr(cx_last_error(), "would fit"));
    cx_clear_error();
    assert_false(cx__conv_out_size("x", 2, 3, 1, 0, 2, false, &out));
    assert_error(CX_ERR_SHAPE, "gives no output", "(2 + 0 - 5) / 1 + 1 is below 1");
}

/* One forward + backward of a two-layer conv net (conv2d, relu, conv_transpose2d) on x. */
static void conv_step(cx_tensor **p, cx_tensor *x) {
    cx_tensor *h = cx_relu(cx_conv2d(x, p[0], p[1], &(cx_conv2d_params){.stride = {2, 2},
                                                                        .padding = {1, 1}}));
    cx_tensor *y = cx_conv_transpose2d(h, p[2], p[3], &(cx_conv_transpose2d_params){
                                           .stride = {2, 2}, .padding = {1, 1},
                                           .output_padding = {1, 1}});
    cx_tensor *loss = cx_sum(cx_mul(y, y), 0, NULL, false);
    assert_non_null(loss);
    assert_int_equal(cx_backward(loss), CX_OK);
}

static void steady_state_allocates_nothing(void **state) {
    (void)state;
    cx_set_allocator(&cx_test_counting_allocator);
    cx_rng *rng = cx_rng_new(5);
    cx_tensor *p[4] = {cx_randn(rng, CX_SHAPE(6, 3, 3, 3)), cx_randn(rng, CX_SHAPE(6)),
                       cx_randn(rng, CX_SHAPE(6, 3, 3, 3)), cx_randn(rng, CX_SHAPE(3))};
    for (int i = 0; i < 4; i++) cx_tensor_set_requires_grad(p[i], true);
    /* batch 4 splits images over threads; batch 1 runs them through threaded sgemm */
    cx_tensor *xs[2] = {cx_randn(rng, CX_SHAPE(4, 3, 12, 10)),
                        cx_randn(rng, CX_SHAPE(1, 3, 12, 10))};
    for (int i = 0; i < 2; i++) cx_tensor_set_requires_grad(xs[i], true);
    cx_arena *arena = cx_arena_new(0);
    long warm = 0;
    for (int step = 0; step < 10; step++) {
        if (step == 3) warm = cx_test_allocs;
        cx_arena_begin(arena);
        conv_step(p, xs[step % 2]);
        cx_arena_end(arena);
        cx_arena_reset(arena);
        for (int i = 0; i < 4; i++) cx_tensor_zero_grad(p[i]);
        for (int i = 0; i < 2; i++) cx_tensor_zero_grad(xs[i]);
    }
    print_message("conv steps: %ld allocations in warm-up, %ld in 7 steady-state steps\n", warm,
                  cx_test_allocs - warm);
    assert_int_equal(cx_test_allocs - warm, 0);
    cx_arena_free(arena);
    for (int i = 0; i < 4; i++) cx_tensor_free(p[i]);
    for (int i = 0; i < 2; i++) cx_tensor_free(xs[i]);
    cx_rng_free(rng);
    cx_set_allocator(NULL);
}

/* Settings of the naive loops: stride, padding, dilation per dim, groups. */
typedef struct {
    int64_t s[2], p[2], d[2], groups;
} naive_conv;

/* y [n, o, oh, ow] = conv2d(x [n, c, h, w], w [o, c/G, kh, kw]) + b, one product at a time. */
static void naive_conv2d(const naive_conv *cv, const int64_t *xs, const float *x,
                         const int64_t *ws, const float *w, const float *b, const int64_t *ys,
                         float *y) {
    int64_t og = ws[0] / cv->groups, cg = ws[1];
    for (int64_t n = 0; n < ys[0]; n++)
        for (int64_t oc = 0; oc < ys[1]; oc++)
            for (int64_t oy = 0; oy < ys[2]; oy++)
                for (int64_t ox = 0; ox < ys[3]; ox++) {
                    double acc = b[oc];
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t i = 0; i < ws[2]; i++)
                            for (int64_t j = 0; j < ws[3]; j++) {
                                int64_t iy = oy * cv->s[0] - cv->p[0] + i * cv->d[0];
                                int64_t ix = ox * cv->s[1] - cv->p[1] + j * cv->d[1];
                                if (iy < 0 || iy >= xs[2] || ix < 0 || ix >= xs[3]) continue;
                                int64_t c = oc / og * cg + ci;
                                acc += (double)x[((n * xs[1] + c) * xs[2] + iy) * xs[3] + ix] *
                                       w[((oc * cg + ci) * ws[2] + i) * ws[3] + j];
                            }
                    y[((n * ys[1] + oc) * ys[2] + oy) * ys[3] + ox] = (float)acc;
                }
}

/* y [n, o, oh, ow] = conv_transpose2d(x [n, c, h, w], w [c, o/G, kh, kw]) + b: each input
 * pixel scatters its kernel-weighted value. */
static void naive_conv_transpose2d(const naive_conv *cv, const int64_t *xs, const float *x,
                                   const int64_t *ws, const float *w, const float *b,
                                   const int64_t *ys, float *y) {
    int64_t og = ws[1], cg = xs[1] / cv->groups, total = ys[0] * ys[1] * ys[2] * ys[3];
    double *acc = calloc((size_t)total, sizeof *acc);
    for (int64_t n = 0; n < xs[0]; n++)
        for (int64_t c = 0; c < xs[1]; c++)
            for (int64_t iy = 0; iy < xs[2]; iy++)
                for (int64_t ix = 0; ix < xs[3]; ix++)
                    for (int64_t ol = 0; ol < og; ol++)
                        for (int64_t i = 0; i < ws[2]; i++)
                            for (int64_t j = 0; j < ws[3]; j++) {
                                int64_t oy = iy * cv->s[0] - cv->p[0] + i * cv->d[0];
                                int64_t ox = ix * cv->s[1] - cv->p[1] + j * cv->d[1];
                                if (oy < 0 || oy >= ys[2] || ox < 0 || ox >= ys[3]) continue;
                                int64_t oc = c / cg * og + ol;
                                acc[((n * ys[1] + oc) * ys[2] + oy) * ys[3] + ox] +=
                                    (double)x[((n * xs[1] + c) * xs[2] + iy) * xs[3] + ix] *
                                    w[((c * og + ol) * ws[2] + i) * ws[3] + j];
                            }
    for (int64_t k = 0; k < total; k++) y[k] = (float)(acc[k] + b[k / (ys[2] * ys[3]) % ys[1]]);
    free(acc);
}

/* Runs the op on random x, w, b and compares with the naive loop. */
static void check_against_naive(bool transpose, const naive_conv *cv, int64_t const xs[4],
                                int64_t const ws[4], int64_t nb) {
    cx_rng *rng = cx_rng_new(11);
    cx_tensor *x = cx_randn(rng, 4, xs), *w = cx_randn(rng, 4, ws), *b = cx_randn(rng, 1, &nb);
    cx_tensor *y =
        transpose ? cx_conv_transpose2d(x, w, b, &(cx_conv_transpose2d_params){
                                                     .stride = {cv->s[0], cv->s[1]},
                                                     .padding = {cv->p[0], cv->p[1]},
                                                     .dilation = {cv->d[0], cv->d[1]},
                                                     .groups = cv->groups})
                  : cx_conv2d(x, w, b, &(cx_conv2d_params){.stride = {cv->s[0], cv->s[1]},
                                                           .padding = {cv->p[0], cv->p[1]},
                                                           .dilation = {cv->d[0], cv->d[1]},
                                                           .groups = cv->groups});
    if (!y) print_error("%s\n", cx_last_error());
    assert_non_null(y);
    const int64_t *ys = cx_tensor_shape(y);
    int64_t n = cx_tensor_numel(y);
    float *want = malloc((size_t)n * sizeof *want);
    (transpose ? naive_conv_transpose2d : naive_conv2d)(cv, xs, cx_tensor_f32(x), ws,
                                                        cx_tensor_f32(w), cx_tensor_f32(b), ys,
                                                        want);
    cx_test_assert_close(transpose ? "conv_transpose2d" : "conv2d", cx_tensor_f32(y), want, n,
                         1e-4f);
    free(want);
    cx_tensor *list[] = {x, w, b, y};
    for (int i = 0; i < 4; i++) cx_tensor_free(list[i]);
    cx_rng_free(rng);
}

static void forward_matches_naive_loops(void **state) {
    (void)state;
    naive_conv odd = {.s = {2, 1}, .p = {1, 2}, .d = {1, 2}, .groups = 2};
    check_against_naive(false, &odd, (int64_t[]){3, 6, 13, 11}, (int64_t[]){8, 3, 3, 4}, 8);
    naive_conv vgg = {.s = {1, 1}, .p = {1, 1}, .d = {1, 1}, .groups = 1};
    check_against_naive(false, &vgg, (int64_t[]){4, 16, 20, 20}, (int64_t[]){32, 16, 3, 3}, 32);
    check_against_naive(false, &vgg, (int64_t[]){1, 16, 20, 20}, (int64_t[]){32, 16, 3, 3}, 32);
    naive_conv point = {.s = {1, 1}, .groups = 1};
    check_against_naive(false, &point, (int64_t[]){3, 8, 9, 7}, (int64_t[]){5, 8, 1, 1}, 5);
    naive_conv up = {.s = {2, 3}, .p = {1, 0}, .d = {1, 2}, .groups = 2};
    check_against_naive(true, &up, (int64_t[]){3, 4, 6, 5}, (int64_t[]){4, 3, 4, 3}, 6);
}

CX_TEST_GROUP(conv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv2d_errors_name_shapes),
        cmocka_unit_test(conv_transpose2d_errors),
        cmocka_unit_test(out_size_helper),
        cmocka_unit_test(steady_state_allocates_nothing),
        cmocka_unit_test(forward_matches_naive_loops),
    };
    CX_RUN_GROUP("conv", tests);
}
