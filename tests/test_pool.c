/*
 * test_pool.c - what the op rows cannot show for pooling, upsampling and batch norm: error
 * messages, ceil_mode output sizes against torch, ties and NaN in max pooling, windows lying
 * wholly in the padding, large inputs (the threaded path) against a plain reference, and the
 * batch-norm running statistics against torch (tests/golden/batch_norm.safetensors, written by
 * scripts/golden/batch_norm.py) with train and eval behaviour; then, for all the ops, no heap
 * use inside an arena, every allocation failing in turn, and empty inputs.
 */
#include "test.h"

#include <math.h>
#include <string.h>

#define BN_GOLDEN "tests/golden/batch_norm.safetensors"

static cx_pool2d_params pool(int64_t k, int64_t s, int64_t p) {
    return (cx_pool2d_params){.kernel = {k, k}, .stride = {s, s}, .padding = {p, p}};
}

static void test_errors(void **state) {
    (void)state;
    cx_tensor *x3 = cx_zeros(CX_SHAPE(2, 4, 3));
    cx_tensor *x = cx_zeros(CX_SHAPE(1, 2, 4, 4));
    cx_tensor *xi = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(1, 2, 4, 4));
    cx_tensor *one = cx_zeros(CX_SHAPE(1, 3));
    cx_tensor *x5 = cx_zeros(CX_SHAPE(1, 2, 1, 1, 1));
    cx_tensor *c4 = cx_ones(CX_SHAPE(4)), *c5 = cx_ones(CX_SHAPE(5));
    cx_pool2d_params k3 = pool(3, 1, 0), pad2 = pool(3, 1, 2), big = pool(7, 1, 1);
    cx_pool2d_params neg = pool(2, -1, 0), dil = {.kernel = {2, 2}, .dilation = {2, 2}};
    cx_pool2d_params wide = {.kernel = {3, 3}, .dilation = {2, 2}, .padding = {0, 0}};

    cx_test_assert_error(cx_max_pool2d(x3, &k3), CX_ERR_SHAPE,
                         "max_pool2d: x must be [N, C, H, W]");
    cx_test_assert_error(cx_avg_pool2d(xi, &k3), CX_ERR_DTYPE, "avg_pool2d");
    cx_test_assert_error(cx_max_pool2d(x, NULL), CX_ERR_ARG, "kernel size must be given");
    cx_test_assert_error(cx_max_pool2d(x, &(cx_pool2d_params){0}), CX_ERR_ARG, "kernel 0x0");
    cx_test_assert_error(cx_avg_pool2d(x, &neg), CX_ERR_ARG, "stride -1x-1");
    cx_test_assert_error(cx_max_pool2d(x, &pad2), CX_ERR_ARG,
                         "padding 2x2 is more than half the kernel 3x3 (x [1,2,4,4])");
    cx_test_assert_error(cx_max_pool2d(x, &big), CX_ERR_SHAPE,
                         "kernel 7x7 (dilation 1x1) spans 7x7, more than the padded input 6x6");
    cx_test_assert_error(cx_max_pool2d(x, &wide), CX_ERR_SHAPE,
                         "spans 5x5, more than the padded input 4x4");
    cx_test_assert_error(cx_avg_pool2d(x, &dil), CX_ERR_ARG, "dilation 2x2 given");
    cx_test_assert_error(cx_adaptive_avg_pool2d(x, 0, 1), CX_ERR_SHAPE,
                         "output 0x1 from x [1,2,4,4]");
    cx_test_assert_error(cx_adaptive_avg_pool2d(x3, 1, 1), CX_ERR_SHAPE, "got [2,4,3]");
    cx_test_assert_error(cx_upsample2d(x, 8, 8, CX_UPSAMPLE_NEAREST, true), CX_ERR_ARG,
                         "align_corners applies to bilinear only");
    cx_test_assert_error(cx_upsample2d(x, 8, 0, CX_UPSAMPLE_BILINEAR, false), CX_ERR_SHAPE,
                         "output 8x0 for x [1,2,4,4]");
    cx_test_assert_error(cx_upsample2d(x, 8, 8, (cx_upsample_mode)5, false), CX_ERR_ARG,
                         "unknown mode 5");
    cx_test_assert_error(cx_batch_norm(x3, c5, NULL, NULL, NULL, true, 0.1f, 1e-5f), CX_ERR_SHAPE,
                         "weight [5] does not match the 4 channels of x [2,4,3]");
    cx_test_assert_error(cx_batch_norm(x3, NULL, NULL, c4, c5, true, 0.1f, 1e-5f), CX_ERR_SHAPE,
                         "running_var [5] does not match");
    cx_test_assert_error(cx_batch_norm(one, NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f),
                         CX_ERR_SHAPE, "more than 1 value per channel; x [1,3] has 1");
    cx_test_assert_error(cx_batch_norm(x3, NULL, NULL, NULL, NULL, false, 0.1f, 1e-5f), CX_ERR_ARG,
                         "must be given in eval mode");
    cx_test_assert_error(cx_batch_norm(x3, NULL, NULL, c4, NULL, true, 0.1f, 1e-5f), CX_ERR_ARG,
                         "must be given together");
    cx_test_assert_error(cx_batch_norm(x3, NULL, NULL, NULL, NULL, true, 0.1f, -1.0f), CX_ERR_ARG,
                         "eps -1");
    cx_test_assert_error(cx_batch_norm(x5, NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f), CX_ERR_SHAPE,
                         "got [1,2,1,1,1]");
    /* A NULL input keeps the error that produced it. */
    cx__error(CX_ERR_OOM, "earlier failure");
    cx_test_assert_error(cx_max_pool2d(NULL, &k3), CX_ERR_OOM, "earlier failure");

    cx_tensor *ts[] = {x3, x, xi, one, x5, c4, c5};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        cx_tensor_free(ts[i]);
}

/* Output heights from torch 1.13 (F.max_pool2d / F.avg_pool2d on [1, 1, H, 1]) for floor and
 * ceil mode; avg -1 where the row has dilation. */
static void test_ceil_mode_sizes(void **state) {
    (void)state;
    static const struct {
        int64_t h, k, s, p, d, max_floor, max_ceil;
    } rows[] = {
        {5, 2, 2, 0, 1, 2, 3}, {5, 2, 2, 1, 1, 3, 3}, {6, 3, 2, 1, 1, 3, 4}, {7, 3, 2, 1, 1, 4, 4},
        {7, 3, 2, 1, 2, 3, 3}, {4, 3, 3, 1, 1, 2, 2}, {1, 1, 1, 0, 1, 1, 1}, {10, 4, 3, 2, 1, 4, 4},
        {9, 3, 3, 0, 1, 3, 3}, {8, 3, 3, 1, 1, 3, 3}, {2, 2, 1, 1, 3, 1, 1}, {11, 5, 4, 2, 2, 2, 3},
        {3, 2, 2, 1, 1, 2, 2}, /* ceil gives 3, but the last window would start in the padding */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cx_tensor *x = cx_zeros(CX_SHAPE(1, 1, rows[i].h, 1));
        for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++) {
            cx_pool2d_params p = {.kernel = {rows[i].k, 1},
                                  .stride = {rows[i].s, 1},
                                  .padding = {rows[i].p, 0},
                                  .dilation = {rows[i].d, 1},
                                  .ceil_mode = ceil_mode};
            int64_t want = ceil_mode ? rows[i].max_ceil : rows[i].max_floor;
            cx_tensor *m = cx_max_pool2d(x, &p), *a = rows[i].d == 1 ? cx_avg_pool2d(x, &p) : NULL;
            assert_non_null(m);
            if (cx_tensor_shape(m)[2] != want || (a && cx_tensor_shape(a)[2] != want))
                print_error("row %zu ceil %d: max %lld, avg %lld, torch %lld\n", i, ceil_mode,
                            (long long)cx_tensor_shape(m)[2],
                            a ? (long long)cx_tensor_shape(a)[2] : -1LL, (long long)want);
            assert_int_equal(cx_tensor_shape(m)[2], want);
            if (a) assert_int_equal(cx_tensor_shape(a)[2], want);
            cx_tensor_free(m);
            cx_tensor_free(a);
        }
        cx_tensor_free(x);
    }
}

/* out = op(x) (x 1-D data shaped [1, 1, h, w], requiring grad) compared with want, then the
 * gradient of sum(out) with want_grad. */
static void check_pool(cx_tensor *(*op)(cx_tensor *, const cx_pool2d_params *),
                       const cx_pool2d_params *p, int64_t h, int64_t w, const float *x,
                       int64_t n_out, const float *want, const float *want_grad) {
    cx_tensor *t = cx_from_data(CX_DTYPE_F32, CX_SHAPE(1, 1, h, w), x);
    assert_int_equal(cx_tensor_set_requires_grad(t, true), CX_OK);
    cx_tensor *y = op(t, p);
    assert_non_null(y);
    assert_int_equal(cx_tensor_numel(y), n_out);
    const float *yd = cx_tensor_f32(y);
    for (int64_t i = 0; i < n_out; i++) {
        bool same = isnan(want[i]) ? isnan(yd[i]) : yd[i] == want[i];
        if (!same) print_error("out[%lld]: got %g, want %g\n", (long long)i, yd[i], want[i]);
        assert_true(same);
    }
    cx_tensor *s = cx_sum(y, 0, NULL, false);
    assert_int_equal(cx_backward(s), CX_OK);
    cx_tensor *g = cx_tensor_grad(t);
    assert_non_null(g);
    cx_test_assert_close("grad", cx_tensor_f32(g), want_grad, h * w, 0.0f);
    cx_tensor_free(s);
    cx_tensor_free(y);
    cx_tensor_free(t);
}

/* Values and gradients torch 1.13 gives for the same calls. */
static void test_pool_values(void **state) {
    (void)state;
    /* ties: the first maximal element takes the gradient */
    cx_pool2d_params k2 = pool(2, 0, 0);
    check_pool(cx_max_pool2d, &k2, 2, 2, (const float[]){1, 1, 1, 1}, 1, (const float[]){1},
               (const float[]){1, 0, 0, 0});
    /* NaN wins over numbers, and the last NaN in the window is the one chosen */
    check_pool(cx_max_pool2d, &k2, 2, 2, (const float[]){1, NAN, NAN, 2}, 1, (const float[]){NAN},
               (const float[]){0, 0, 1, 0});
    /* a window whose dilated taps all fall in the padding is -inf and passes no gradient */
    cx_pool2d_params holes = {
        .kernel = {2, 2}, .stride = {1, 1}, .padding = {1, 1}, .dilation = {3, 3}};
    check_pool(cx_max_pool2d, &holes, 2, 2, (const float[]){0, 1, 2, 3}, 1,
               (const float[]){-INFINITY}, (const float[]){0, 0, 0, 0});
    /* ceil mode: the last window reaches past the padded input; row 3 of 6x6 arange(36) */
    float x36[36];
    for (int i = 0; i < 36; i++)
        x36[i] = (float)i;
    cx_tensor *t = cx_from_data(CX_DTYPE_F32, CX_SHAPE(1, 1, 6, 6), x36);
    for (int exclude = 0; exclude < 2; exclude++) {
        cx_pool2d_params p = {.kernel = {3, 3},
                              .stride = {2, 2},
                              .padding = {1, 1},
                              .ceil_mode = true,
                              .exclude_pad = exclude};
        cx_tensor *y = cx_avg_pool2d(t, &p);
        assert_non_null(y);
        assert_int_equal(cx_tensor_shape(y)[2], 4);
        const float want[2][4] = {{61.0f / 6, 16, 17, 8.75f}, {30.5f, 32, 34, 35}};
        cx_test_assert_close("avg row 3", cx_tensor_f32(y) + 12, want[exclude], 4, 1e-6f);
        cx_tensor_free(y);
    }
    cx_tensor_free(t);
    /* nearest upsampling copies: an infinite input stays infinite, not NaN */
    cx_tensor *inf = cx_from_data(CX_DTYPE_F32, CX_SHAPE(1, 1, 1, 2), (const float[]){INFINITY, 1});
    cx_tensor *up = cx_upsample2d(inf, 2, 4, CX_UPSAMPLE_NEAREST, false);
    assert_non_null(up);
    const float want_up[8] = {INFINITY, INFINITY, 1, 1, INFINITY, INFINITY, 1, 1};
    assert_memory_equal(cx_tensor_f32(up), want_up, sizeof want_up);
    cx_tensor_free(up);
    cx_tensor_free(inf);
}

/* Empty batches, channels and planes give empty outputs (and empty gradients). */
static void test_empty(void **state) {
    (void)state;
    cx_tensor *e4 = cx_zeros(CX_SHAPE(0, 2, 4, 4)), *e_plane = cx_zeros(CX_SHAPE(2, 3, 0, 4));
    cx_tensor *e_c = cx_zeros(CX_SHAPE(2, 0)), *rm = cx_zeros(CX_SHAPE(3)),
              *rv = cx_ones(CX_SHAPE(3));
    cx_tensor *rm0 = cx_zeros(CX_SHAPE(0)), *rv0 = cx_zeros(CX_SHAPE(0));
    assert_int_equal(cx_tensor_set_requires_grad(e4, true), CX_OK);
    cx_pool2d_params k2 = pool(2, 0, 0);
    cx_tensor *ys[] = {
        cx_max_pool2d(e4, &k2),
        cx_avg_pool2d(e4, &k2),
        cx_adaptive_avg_pool2d(e4, 3, 3),
        cx_upsample2d(e4, 8, 8, CX_UPSAMPLE_BILINEAR, false),
        cx_batch_norm(e_plane, NULL, NULL, rm, rv, false, 0.1f, 1e-5f),
        cx_batch_norm(e_c, NULL, NULL, rm0, rv0, true, 0.1f, 1e-5f),
    };
    for (size_t i = 0; i < sizeof ys / sizeof ys[0]; i++) {
        if (!ys[i]) print_error("op %zu: %s\n", i, cx_last_error());
        assert_non_null(ys[i]);
        assert_int_equal(cx_tensor_numel(ys[i]), 0);
        cx_tensor *s = cx_sum(ys[i], 0, NULL, false);
        if (i < 4) assert_int_equal(cx_backward(s), CX_OK);
        cx_tensor_free(s);
        cx_tensor_free(ys[i]);
    }
    cx_tensor *ts[] = {e4, e_plane, e_c, rm, rv, rm0, rv0};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        cx_tensor_free(ts[i]);
}

/* Max and average pooling of a large batch (the threaded path) against a plain loop. */
static void test_large_pool(void **state) {
    (void)state;
    cx_rng *rng = cx_rng_new(5);
    const int64_t n = 4, c = 8, h = 37, w = 41;
    cx_tensor *x = cx_rand(rng, CX_SHAPE(n, c, h, w));
    assert_non_null(x);
    cx_pool2d_params p = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true};
    cx_tensor *ym = cx_max_pool2d(x, &p), *ya = cx_avg_pool2d(x, &p);
    assert_non_null(ym);
    assert_non_null(ya);
    int64_t oh = cx_tensor_shape(ym)[2], ow = cx_tensor_shape(ym)[3];
    assert_int_equal(oh, 19);
    assert_int_equal(ow, 21);
    const float *xd = cx_tensor_f32(x), *md = cx_tensor_f32(ym), *ad = cx_tensor_f32(ya);
    int bad = 0;
    for (int64_t pl = 0; pl < n * c; pl++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                float m = -INFINITY, s = 0;
                int64_t y1 = i * 2 + 2 < h + 1 ? i * 2 + 2 : h + 1;
                int64_t x1 = j * 2 + 2 < w + 1 ? j * 2 + 2 : w + 1;
                for (int64_t a = i * 2 - 1; a < i * 2 + 2; a++)
                    for (int64_t b = j * 2 - 1; b < j * 2 + 2; b++) {
                        if (a < 0 || b < 0 || a >= h || b >= w) continue;
                        float v = xd[(pl * h + a) * w + b];
                        m = v > m ? v : m;
                        s += v;
                    }
                float cnt = (float)((y1 - (i * 2 - 1)) * (x1 - (j * 2 - 1)));
                int64_t k = (pl * oh + i) * ow + j;
                bad += md[k] != m || fabsf(ad[k] - s / cnt) > 1e-6f;
            }
    assert_int_equal(bad, 0);
    cx_tensor_free(ym);
    cx_tensor_free(ya);
    cx_tensor_free(x);
    cx_rng_free(rng);
}

/* ---- batch norm against torch ---- */

/* "<c>.<what>" from the golden file, "<c>.<what><step>" if step >= 0; NULL if absent. */
static cx_tensor *bn_load(cx_safetensors *f, const char *c, const char *what, int step) {
    char key[64];
    if (step >= 0)
        snprintf(key, sizeof key, "%s.%s%d", c, what, step);
    else
        snprintf(key, sizeof key, "%s.%s", c, what);
    if (!cx_safetensors_has(f, key)) return NULL;
    cx_tensor *t = cx_safetensors_get(f, key);
    assert_non_null(t);
    return t;
}

/* got against "<c>.<what><step>". */
static void bn_compare(cx_safetensors *f, const char *c, const char *what, int step,
                       cx_tensor *got) {
    char label[64];
    snprintf(label, sizeof label, "%s.%s%d", c, what, step);
    cx_tensor *want = bn_load(f, c, what, step);
    assert_non_null(want);
    assert_int_equal(cx_tensor_numel(got), cx_tensor_numel(want));
    cx_test_assert_close(label, cx_tensor_f32(got), cx_tensor_f32(want), cx_tensor_numel(want),
                         1e-5f);
    cx_tensor_free(want);
}

/* Two training calls (the second under no-grad) update the running statistics as torch does,
 * once per call and not in backward; the eval call then uses them and leaves them alone. */
static void bn_case(cx_safetensors *f, const char *c) {
    cx_tensor *w = bn_load(f, c, "w", -1), *b = bn_load(f, c, "b", -1);
    cx_tensor *rm = bn_load(f, c, "rm", 0), *rv = bn_load(f, c, "rv", 0);
    cx_tensor *hy = bn_load(f, c, "hyper", -1);
    float momentum = cx_tensor_f32(hy)[0], eps = cx_tensor_f32(hy)[1];
    for (int step = 1; step <= 3; step++) {
        cx_tensor *x = bn_load(f, c, "x", step);
        assert_int_equal(cx_tensor_set_requires_grad(x, true), CX_OK);
        if (step == 2) cx_no_grad_begin();
        cx_tensor *y = cx_batch_norm(x, w, b, rm, rv, step < 3, momentum, eps);
        if (step == 2) cx_no_grad_end();
        assert_non_null(y);
        if (step == 1) { /* backward leaves the statistics as the forward call left them */
            cx_tensor *s = cx_sum(y, 0, NULL, false);
            assert_int_equal(cx_backward(s), CX_OK);
            cx_tensor_free(s);
        }
        bn_compare(f, c, "y", step, y);
        int st = step < 3 ? step : 2; /* eval: the statistics stay those of step 2 */
        bn_compare(f, c, "rm", st, rm);
        bn_compare(f, c, "rv", st, rv);
        cx_tensor_free(y);
        cx_tensor_free(x);
    }
    assert_false(cx_tensor_requires_grad(rm) || cx_tensor_requires_grad(rv));
    assert_null(cx_tensor_grad(rm));
    cx_tensor *ts[] = {w, b, rm, rv, hy};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        cx_tensor_free(ts[i]);
}

static void test_batch_norm_running(void **state) {
    (void)state;
    cx_safetensors *f = cx_safetensors_open(BN_GOLDEN);
    if (!f) fail_msg("%s; run `make golden`", cx_last_error());
    bn_case(f, "nchw");
    bn_case(f, "nc");
    bn_case(f, "ncl");
    cx_safetensors_close(f);
}

/* Training normalises with the batch statistics whatever the running ones hold; eval with
 * the running ones. Values around 1000 check the double accumulation; both shapes are large
 * enough for the threaded path ([N, C, H, W]: one channel per item; [N, C]: channel strips). */
static void bn_modes_case(cx_rng *rng, int nd, const int64_t *shape) {
    int64_t n = shape[0], c = shape[1], s = nd > 2 ? shape[2] * shape[3] : 1, total = n * c * s;
    cx_tensor *x = cx_rand(rng, nd, shape);
    cx_tensor *rm = cx_tensor_new(CX_DTYPE_F32, CX_SHAPE(c)), *rv = cx_ones(CX_SHAPE(c));
    float *xd = cx_tensor_f32(x), *rmd = cx_tensor_f32(rm), *rvd = cx_tensor_f32(rv);
    for (int64_t i = 0; i < total; i++)
        xd[i] += 1000.0f;
    for (int64_t ch = 0; ch < c; ch++)
        rmd[ch] = 5.0f + (float)ch, rvd[ch] = 1.0f + (float)ch;
    cx_tensor *plain = cx_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1f, 0.0f);
    cx_tensor *with = cx_batch_norm(x, NULL, NULL, rm, rv, true, 0.1f, 0.0f);
    cx_tensor *eval = cx_batch_norm(x, NULL, NULL, rm, rv, false, 0.1f, 0.0f);
    assert_non_null(plain);
    assert_non_null(with);
    assert_non_null(eval);
    cx_test_assert_close("train", cx_tensor_f32(with), cx_tensor_f32(plain), total, 0.0f);
    const float *p = cx_tensor_f32(plain), *e = cx_tensor_f32(eval);
    for (int64_t ch = 0; ch < c; ch++) {
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < s; k++) {
                int64_t j = (i * c + ch) * s + k;
                sum += p[j];
                sq += (double)p[j] * p[j];
                /* eval: the running statistics, as the training call above left them */
                if (k == 0) assert_true(fabsf(e[j] - (xd[j] - rmd[ch]) / sqrtf(rvd[ch])) < 1e-3f);
            }
        /* batch-normalised: mean 0 and variance 1 per channel */
        assert_true(fabs(sum / (double)(n * s)) < 1e-5);
        assert_true(fabs(sq / (double)(n * s) - 1.0) < 1e-4);
    }
    cx_tensor *ts[] = {x, rm, rv, plain, with, eval};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        cx_tensor_free(ts[i]);
}

static void test_batch_norm_modes(void **state) {
    (void)state;
    cx_rng *rng = cx_rng_new(11);
    bn_modes_case(rng, CX_SHAPE(16, 3, 40, 40));
    bn_modes_case(rng, CX_SHAPE(600, 70));
    cx_rng_free(rng);
}

/* The inputs of a training step through every op here: x [2, 3, 9, 11], gamma and beta
 * (all three requiring grad) and running statistics. */
typedef struct {
    cx_tensor *x, *gamma, *beta, *rm, *rv;
} step_inputs;

static step_inputs step_inputs_new(uint64_t seed) {
    cx_rng *rng = cx_rng_new(seed);
    step_inputs in = {cx_rand(rng, CX_SHAPE(2, 3, 9, 11)), cx_ones(CX_SHAPE(3)),
                      cx_zeros(CX_SHAPE(3)), cx_zeros(CX_SHAPE(3)), cx_ones(CX_SHAPE(3))};
    cx_rng_free(rng);
    cx_tensor *ps[] = {in.x, in.gamma, in.beta};
    for (int i = 0; i < 3; i++)
        assert_int_equal(cx_tensor_set_requires_grad(ps[i], true), CX_OK);
    return in;
}

static void step_inputs_free(step_inputs *in) {
    cx_tensor *ts[] = {in->x, in->gamma, in->beta, in->rm, in->rv};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        cx_tensor_free(ts[i]);
}

/* Σ of every op here applied to batch_norm(x) (x read through a transposed view if
 * transposed, which takes the copying path); NULL if an op failed. The caller owns it. */
static cx_tensor *step_loss(const step_inputs *in, bool transposed) {
    cx_tensor *xt = transposed ? cx_transpose(in->x, 2, 3) : in->x;
    cx_tensor *h = cx_batch_norm(xt, in->gamma, in->beta, in->rm, in->rv, true, 0.1f, 1e-5f);
    cx_pool2d_params p = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true};
    cx_tensor *t[] = {
        cx_max_pool2d(h, &p),
        cx_avg_pool2d(h, &p),
        cx_adaptive_avg_pool2d(h, 3, 2),
        cx_upsample2d(h, 13, 17, CX_UPSAMPLE_BILINEAR, false),
        cx_upsample2d(h, 18, 22, CX_UPSAMPLE_NEAREST, false),
    };
    cx_tensor *loss = cx_sum(t[0], 0, NULL, false);
    for (size_t i = 1; i < sizeof t / sizeof t[0]; i++) {
        cx_tensor *si = cx_sum(t[i], 0, NULL, false), *next = cx_add(loss, si);
        cx_tensor_free(si);
        cx_tensor_free(loss);
        loss = next;
    }
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        cx_tensor_free(t[i]);
    cx_tensor_free(h);
    if (transposed) cx_tensor_free(xt);
    return loss;
}

/* Training steps inside an arena: after the first, no heap allocation (the kernels'
 * temporaries come from the arena). */
static void test_arena_step(void **state) {
    (void)state;
    cx_set_allocator(&cx_test_counting_allocator);
    step_inputs in = step_inputs_new(12);
    cx_arena *arena = cx_arena_new(0);
    long after_first = 0;
    for (int step = 0; step < 3; step++) {
        assert_int_equal(cx_arena_begin(arena), CX_OK);
        cx_tensor *loss = step_loss(&in, false);
        assert_non_null(loss);
        assert_int_equal(cx_backward(loss), CX_OK);
        assert_int_equal(cx_arena_end(arena), CX_OK);
        cx_arena_reset(arena);
        if (step == 0) after_first = cx_test_allocs;
    }
    long extra = cx_test_allocs - after_first;
    cx_arena_free(arena);
    step_inputs_free(&in);
    cx_set_allocator(NULL);
    assert_int_equal(extra, 0);
}

/* Every allocation of a training step failing in turn: each failure surfaces as a NULL
 * result or CX_ERR_OOM, and nothing leaks (the sanitizer run checks that). */
static void test_alloc_failures(void **state) {
    (void)state;
    step_inputs in = step_inputs_new(13);
    int failures = 0;
    for (long n = 0; n < 1000; n++) {
        cx_test_fail_countdown = n;
        cx_set_allocator(&cx_test_counting_allocator);
        cx_tensor *loss = step_loss(&in, true);
        cx_status st = loss ? cx_backward(loss) : cx_last_status();
        bool done = cx_test_fail_countdown >= 0; /* nothing failed: all allocations tried */
        cx_test_fail_countdown = -1;
        cx_tensor_free(loss);
        cx_set_allocator(NULL);
        cx_tensor *ps[] = {in.x, in.gamma, in.beta};
        for (int i = 0; i < 3; i++)
            cx_tensor_zero_grad(ps[i]);
        if (done) {
            assert_int_equal(st, CX_OK);
            break;
        }
        failures++;
        assert_true(st == CX_OK || st == CX_ERR_OOM);
        cx_clear_error();
    }
    print_message("%d allocations failed in turn\n", failures);
    assert_true(failures > 10 && failures < 1000);
    step_inputs_free(&in);
}

CX_TEST_GROUP(pool) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_ceil_mode_sizes),
        cmocka_unit_test(test_pool_values),
        cmocka_unit_test(test_large_pool),
        cmocka_unit_test(test_batch_norm_running),
        cmocka_unit_test(test_batch_norm_modes),
        cmocka_unit_test(test_arena_step),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_empty),
    };
    CX_RUN_GROUP("pool", tests);
}
