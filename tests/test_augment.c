/*
 * test_augment.c - random affine augmentation in the loader (shift, rotate, zoom) and the
 * dataset statistics used to standardise inputs.
 */
#include "test.h"

#include "data/data_impl.h"

#include <math.h>

/* A dataset of one grey image [1, h, w] from pixels (borrowed; freed by the caller). */
static cx_dataset *one_image(const uint8_t *px, int64_t h, int64_t w, cx_tensor **keep) {
    *keep = cx_from_data(CX_DTYPE_U8, CX_SHAPE(1, 1, h, w), px);
    cx_dataset *d = cx_dataset_from_tensors(*keep, NULL);
    assert_non_null(d);
    return d;
}

/* A single bright pixel moves by whole pixels within the shift, keeping its value, and over
 * many epochs takes nearly every offset. */
static void shift_moves_whole_pixels(void **state) {
    (void)state;
    uint8_t px[49] = {0};
    px[3 * 7 + 3] = 255;
    cx_tensor *t;
    cx_dataset *d = one_image(px, 7, 7, &t);
    cx_loader *l = cx_loader_new(d, &(cx_loader_params){.batch_size = 1, .seed = 3, .shift = 2});
    assert_non_null(l);
    bool seen[5][5] = {{false}};
    int distinct = 0;
    for (int epoch = 0; epoch < 200; epoch++) {
        cx_loader_start_epoch(l, epoch);
        cx_tensor *x;
        assert_true(cx_loader_next(l, &x, NULL));
        const float *v = cx_tensor_f32(x);
        int lit = -1;
        for (int i = 0; i < 49; i++) {
            if (v[i] == 0) continue;
            assert_int_equal(lit, -1); /* one pixel only, at full value */
            assert_true(fabsf(v[i] - 1.0f) < 1e-6f);
            lit = i;
        }
        int dy = lit / 7 - 3, dx = lit % 7 - 3;
        assert_true(abs(dy) <= 2 && abs(dx) <= 2);
        distinct += !seen[dy + 2][dx + 2];
        seen[dy + 2][dx + 2] = true;
    }
    assert_true(distinct >= 22);
    cx_loader_free(l);
    cx_dataset_free(d);
    cx_tensor_free(t);
}

/* The same (seed, epoch) gives the same images, another epoch others; shifted-out pixels are
 * black after normalisation too. */
static void augmentation_is_seeded(void **state) {
    (void)state;
    uint8_t px[64];
    for (int i = 0; i < 64; i++)
        px[i] = (uint8_t)(40 + 3 * i);
    cx_tensor *t;
    cx_dataset *d = one_image(px, 8, 8, &t);
    cx_loader_params p = {.batch_size = 1,
                          .seed = 9,
                          .shift = 3,
                          .rotate = 20,
                          .zoom = 0.2f,
                          .mean = 0.5f,
                          .std = 0.25f};
    cx_loader *a = cx_loader_new(d, &p), *b = cx_loader_new(d, &p);
    float first[64], again[64];
    cx_tensor *x;
    for (int epoch = 0; epoch < 2; epoch++) {
        cx_loader_start_epoch(a, epoch);
        assert_true(cx_loader_next(a, &x, NULL));
        memcpy(epoch ? again : first, cx_tensor_f32(x), sizeof first);
    }
    assert_memory_not_equal(first, again, sizeof first);
    cx_loader_start_epoch(b, 1);
    assert_true(cx_loader_next(b, &x, NULL));
    assert_memory_equal(cx_tensor_f32(x), again, sizeof again);
    float black = (0 - 0.5f) / 0.25f, lo = black, hi = (1 - 0.5f) / 0.25f;
    for (int i = 0; i < 64; i++)
        assert_true(again[i] >= lo - 1e-5f && again[i] <= hi + 1e-5f);
    cx_loader_free(a);
    cx_loader_free(b);
    cx_dataset_free(d);
    cx_tensor_free(t);
}

/* The transform itself: a quarter turn about the centre moves pixels exactly; a zoom of 2
 * keeps the centre and magnifies around it. */
static void affine_geometry(void **state) {
    (void)state;
    uint8_t px[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    cx_tensor *t = cx_from_data(CX_DTYPE_U8, CX_SHAPE(1, 1, 3, 3), px);
    float out[9];
    cx__affine quarter = {.cos_s = 0, .sin_s = 1};
    cx__augment_apply(t, 0, &quarter, 1, 0, 1, out);
    const float turned[9] = {7, 4, 1, 8, 5, 2, 9, 6, 3};
    cx_test_assert_close("quarter turn", out, turned, 9, 1e-6f);
    cx__affine moved = {.cos_s = 1, .dy = 1, .dx = -1};
    cx__augment_apply(t, 0, &moved, 1, 0, 1, out);
    const float shifted[9] = {0, 0, 0, 2, 3, 0, 5, 6, 0};
    cx_test_assert_close("shift down and left", out, shifted, 9, 1e-6f);
    cx__affine zoom = {.cos_s = 0.5f};
    cx__augment_apply(t, 0, &zoom, 1, 0, 1, out);
    const float magnified[9] = {3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7};
    cx_test_assert_close("zoom 2", out, magnified, 9, 1e-6f);
    cx_tensor_free(t);
}

static void augmentation_refuses_bad_settings(void **state) {
    (void)state;
    uint8_t px[49] = {0};
    cx_tensor *t;
    cx_dataset *d = one_image(px, 7, 7, &t);
    const cx_loader_params bad[] = {
        {.batch_size = 1, .rotate = -1},  {.batch_size = 1, .rotate = 181},
        {.batch_size = 1, .rotate = NAN}, {.batch_size = 1, .zoom = 1},
        {.batch_size = 1, .zoom = -0.1f}, {.batch_size = 1, .shift = -1},
        {.batch_size = 1, .shift = 7},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(cx_loader_new(d, &bad[i]));
        assert_error(CX_ERR_ARG, "augmentation");
    }
    float flat[4] = {0};
    cx_tensor *f = cx_from_data(CX_DTYPE_F32, CX_SHAPE(1, 4), flat);
    cx_dataset *df = cx_dataset_from_tensors(f, NULL);
    assert_null(cx_loader_new(df, &(cx_loader_params){.batch_size = 1, .shift = 1}));
    assert_error(CX_ERR_ARG, "image samples", "[1,4]");
    cx_dataset_free(df);
    cx_tensor_free(f);
    cx_dataset_free(d);
    cx_tensor_free(t);
}

static void mean_std_of_datasets(void **state) {
    (void)state;
    uint8_t px[4] = {0, 255, 0, 255};
    cx_tensor *u = cx_from_data(CX_DTYPE_U8, CX_SHAPE(2, 2), px);
    cx_dataset *du = cx_dataset_from_tensors(u, NULL);
    float mean, std;
    assert_int_equal(cx_dataset_mean_std(du, 0, &mean, &std), CX_OK);
    assert_true(fabsf(mean - 0.5f) < 1e-6f && fabsf(std - 0.5f) < 1e-6f);
    assert_int_equal(cx_dataset_mean_std(du, 1, &mean, &std), CX_OK);
    assert_true(fabsf(mean - 127.5f) < 1e-4f && fabsf(std - 127.5f) < 1e-4f);
    float same[3] = {2, 2, 2}, holes[3] = {1, NAN, 2};
    cx_tensor *c = cx_from_data(CX_DTYPE_F32, CX_SHAPE(3, 1), same);
    cx_tensor *n = cx_from_data(CX_DTYPE_F32, CX_SHAPE(3, 1), holes);
    cx_dataset *dc = cx_dataset_from_tensors(c, NULL), *dn = cx_dataset_from_tensors(n, NULL);
    assert_int_equal(cx_dataset_mean_std(dc, 0, &mean, &std), CX_OK);
    assert_true(mean == 2 && std == 1);
    assert_int_equal(cx_dataset_mean_std(dn, 0, &mean, &std), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "NaN");
    cx_dataset *empty = cx_dataset_head(dc, 0);
    assert_int_equal(cx_dataset_mean_std(empty, 0, &mean, &std), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "empty");
    assert_int_equal(cx_dataset_mean_std(NULL, 0, &mean, &std), CX_ERR_ARG);
    cx_clear_error();
    cx_dataset_free(empty);
    cx_dataset_free(du);
    cx_dataset_free(dc);
    cx_dataset_free(dn);
    cx_tensor_free(u);
    cx_tensor_free(c);
    cx_tensor_free(n);
}

CX_TEST_GROUP(augment) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shift_moves_whole_pixels),
        cmocka_unit_test(augmentation_is_seeded),
        cmocka_unit_test(affine_geometry),
        cmocka_unit_test(augmentation_refuses_bad_settings),
        cmocka_unit_test(mean_std_of_datasets),
    };
    CX_RUN_GROUP("augment", tests);
}
