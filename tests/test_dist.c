/*
 * test_dist.c - the single-process pieces of data-parallel training: sharded loaders (the
 * parts of every global batch, in order, make up the batch one process sees), text streams,
 * the generator's skip, dropout masks of a shard (the rows of the global batch's mask), the
 * backward pass's leaf hook (called once per parameter, when its gradient is final), gradient
 * buckets, and every collective as a no-op alone. The 2-rank run against 1 rank is
 * tests/dist/equivalence.
 */
#include "test.h"

#include <string.h>

/* n samples [1, 2] of f32 whose values are 2i and 2i + 1, labels i. */
static cx_dataset *counting(int64_t n) {
    int64_t shape[3] = {n, 1, 2};
    cx_tensor *x = cx_tensor_new(CX_DTYPE_F32, 3, shape), *y = cx_tensor_new(CX_DTYPE_I32, 1, &n);
    float *xv = cx_tensor_f32(x);
    int32_t *yv = cx_tensor_data(y);
    for (int64_t i = 0; i < n; i++) {
        xv[2 * i] = (float)(2 * i);
        xv[2 * i + 1] = (float)(2 * i + 1);
        yv[i] = (int32_t)i;
    }
    cx_dataset *d = cx_dataset_from_tensors(x, y);
    cx_tensor_free(x);
    cx_tensor_free(y);
    assert_non_null(d);
    return d;
}

/* For n samples, ranks x batch per rank: rank r's parts, one after another, are the global
 * batches of one loader with batch ranks x batch; each part's offset is where it lies. */
static void check_shards(int64_t n, int ranks, int64_t batch) {
    cx_dataset *d = counting(n);
    cx_loader_params one = {.batch_size = batch * ranks, .shuffle = true, .seed = 7};
    cx_loader *whole = cx_loader_new(d, &one);
    cx_loader *part[4];
    for (int r = 0; r < ranks; r++) {
        cx_loader_params p = one;
        p.batch_size = batch;
        p.shard_rank = r;
        p.shard_count = ranks;
        assert_non_null(part[r] = cx_loader_new(d, &p));
        assert_int_equal(cx_loader_num_batches(part[r]), cx_loader_num_batches(whole));
    }
    for (int epoch = 0; epoch < 2; epoch++) {
        cx_loader_start_epoch(whole, epoch);
        for (int r = 0; r < ranks; r++)
            cx_loader_start_epoch(part[r], epoch);
        cx_tensor *x, *y;
        while (cx_loader_next(whole, &x, &y)) {
            int64_t g = cx_tensor_dim(x, 0), at = 0;
            for (int r = 0; r < ranks; r++) {
                cx_tensor *px, *py;
                int64_t offset, global;
                assert_true(cx_loader_next(part[r], &px, &py));
                cx_loader_shard_rows(part[r], &offset, &global);
                assert_int_equal(global, g);
                assert_int_equal(offset, at);
                int64_t rows = px ? cx_tensor_dim(px, 0) : 0;
                assert_true(rows <= batch);
                if (r == 0) assert_true(rows > 0); /* rank 0's part is never empty */
                if (!px) assert_null(py);
                if (rows) {
                    assert_memory_equal(cx_tensor_f32(px), cx_tensor_f32(x) + 2 * at,
                                        (size_t)rows * 2 * sizeof(float));
                    assert_memory_equal(cx_tensor_data(py), (int32_t *)cx_tensor_data(y) + at,
                                        (size_t)rows * sizeof(int32_t));
                }
                at += rows;
            }
            assert_int_equal(at, g);
        }
        for (int r = 0; r < ranks; r++)
            assert_false(cx_loader_next(part[r], NULL, NULL));
    }
    for (int r = 0; r < ranks; r++)
        cx_loader_free(part[r]);
    cx_loader_free(whole);
    cx_dataset_free(d);
}

static void test_loader_shards(void **state) {
    (void)state;
    check_shards(24, 2, 4); /* whole global batches only */
    check_shards(10, 3, 2); /* a last batch of 4: parts of 2, 2 and 0 */
    check_shards(13, 2, 3); /* a last batch of 1: rank 1's part is empty */
    check_shards(5, 4, 8);  /* one partial batch: parts of 2, 2, 1 and 0 */
}

static void test_loader_shard_errors(void **state) {
    (void)state;
    cx_dataset *d = counting(8);
    cx_loader_params p = {.batch_size = 2, .shard_rank = 2, .shard_count = 2};
    assert_null(cx_loader_new(d, &p));
    assert_error(CX_ERR_ARG, "shard 2 of 2");
    p = (cx_loader_params){.batch_size = 2, .shard_rank = 0, .shard_count = -1};
    assert_null(cx_loader_new(d, &p));
    assert_error(CX_ERR_ARG, "shard_count");
    p = (cx_loader_params){.batch_size = INT64_MAX / 2, .shard_count = 64};
    assert_null(cx_loader_new(d, &p));
    assert_error(CX_ERR_ARG, "absurd");
    cx_dataset_free(d);
}

/* Text streams: rank r's rows of each batch are rows [r B, (r + 1) B) of the global one. */
static void test_text_shards(void **state) {
    (void)state;
    int64_t n = 1001;
    cx_tensor *ids = cx_tensor_new(CX_DTYPE_I32, 1, &n);
    for (int64_t i = 0; i < n; i++)
        ((int32_t *)cx_tensor_data(ids))[i] = (int32_t)i;
    cx_text_loader *whole = cx_text_loader_new(ids, 6, 5), *part[3];
    for (int r = 0; r < 3; r++)
        assert_non_null(part[r] = cx_text_loader_new_shard(ids, 2, 5, r, 3));
    cx_tensor *x, *y, *px, *py;
    int64_t batches = 0;
    while (cx_text_loader_next(whole, &x, &y)) {
        for (int r = 0; r < 3; r++) {
            assert_true(cx_text_loader_next(part[r], &px, &py));
            assert_memory_equal(cx_tensor_data(px), (int32_t *)cx_tensor_data(x) + r * 2 * 5,
                                2 * 5 * sizeof(int32_t));
            assert_memory_equal(cx_tensor_data(py), (int32_t *)cx_tensor_data(y) + r * 2 * 5,
                                2 * 5 * sizeof(int32_t));
        }
        batches++;
    }
    assert_int_equal(batches, cx_text_loader_num_batches(part[2]));
    assert_null(cx_text_loader_new_shard(ids, 2, 5, 3, 3));
    assert_error(CX_ERR_ARG, "shard 3 of 3");
    for (int r = 0; r < 3; r++)
        cx_text_loader_free(part[r]);
    cx_text_loader_free(whole);
    cx_tensor_free(ids);
}

static void test_rng_skip(void **state) {
    (void)state;
    cx_rng *a = cx_rng_new(99), *b = cx_rng_new(99);
    const int64_t skips[] = {0, 1, 623, 624, 625, 5000};
    for (size_t i = 0; i < sizeof skips / sizeof *skips; i++) {
        for (int64_t k = 0; k < skips[i]; k++)
            cx_rng_u32(a);
        cx__rng_skip(b, skips[i]);
        assert_int_equal(cx_rng_u32(a), cx_rng_u32(b));
    }
    cx_rng_free(a);
    cx_rng_free(b);
}

/* The dropout output for rows [offset, offset + rows) of a global batch, from seed 5. */
static cx_tensor *dropped(cx_model *m, const float *global_x, int64_t offset, int64_t rows,
                          int64_t total) {
    int64_t shape[2] = {rows, 6};
    cx_tensor *x = cx_tensor_new(CX_DTYPE_F32, 2, shape);
    memcpy(cx_tensor_f32(x), global_x + offset * 6, (size_t)rows * 6 * sizeof(float));
    cx_model_seed(m, 5);
    assert_int_equal(cx_model_set_batch_shard(m, offset, total), CX_OK);
    cx_tensor *y = cx_model_forward(m, x);
    assert_non_null(y);
    /* the generator ends where a whole global batch leaves it */
    cx_tensor_free(x);
    return y;
}

static void test_dropout_shard(void **state) {
    (void)state;
    int64_t six = 6;
    cx_model *m = cx_model_new(1, &six);
    assert_int_equal(cx_model_add_dropout(m, 0.5f), CX_OK);
    cx_model_set_training(m, true);
    float x[10 * 6];
    for (int i = 0; i < 60; i++)
        x[i] = 1.0f + (float)i;
    cx_tensor *all = dropped(m, x, 0, 10, 0);
    uint32_t after_all = cx_rng_u32(cx_model_rng(m));
    const int64_t cuts[][2] = {{0, 4}, {4, 3}, {7, 3}, {0, 10}};
    for (size_t c = 0; c < 4; c++) {
        cx_tensor *part = dropped(m, x, cuts[c][0], cuts[c][1], 10);
        assert_memory_equal(cx_tensor_f32(part), cx_tensor_f32(all) + cuts[c][0] * 6,
                            (size_t)cuts[c][1] * 6 * sizeof(float));
        assert_int_equal(cx_rng_u32(cx_model_rng(m)), after_all);
        cx_tensor_free(part);
    }
    /* rows past the global batch, and negative shards, are errors */
    int64_t shape[2] = {4, 6};
    cx_tensor *four = cx_tensor_new(CX_DTYPE_F32, 2, shape);
    assert_int_equal(cx_model_set_batch_shard(m, 8, 10), CX_OK);
    assert_null(cx_model_forward(m, four));
    assert_error(CX_ERR_ARG, "outside the global batch of 10");
    assert_int_equal(cx_model_set_batch_shard(m, -1, 10), CX_ERR_ARG);
    cx_clear_error();
    cx_tensor_free(four);
    cx_tensor_free(all);
    cx_model_free(m);
}

/* The leaf hook: every parameter once, and its gradient by then final. */
typedef struct {
    cx_model *m;
    int calls[8];
    float *seen[8]; /* each parameter's gradient when the hook ran */
} hook_log;

static void log_leaf(cx_tensor *leaf, void *ctx) {
    hook_log *h = ctx;
    for (int i = 0; i < cx_model_num_param_tensors(h->m); i++) {
        cx_tensor *p = cx_model_param(h->m, i);
        if (p != leaf) continue;
        h->calls[i]++;
        int64_t n = cx_tensor_numel(p);
        h->seen[i] = malloc((size_t)n * sizeof(float));
        memcpy(h->seen[i], cx_tensor_f32(cx_tensor_grad(p)), (size_t)n * sizeof(float));
    }
}

static cx_model *small_mlp(void) {
    int64_t in = 5;
    cx_model *m = cx_model_new(1, &in);
    cx_rng *rng = cx_rng_new(3);
    assert_int_equal(cx_model_add_dense(m, 7, true, CX_INIT_UNIFORM, 0, rng), CX_OK);
    assert_int_equal(cx_model_add_dense(m, 3, true, CX_INIT_UNIFORM, 0, rng), CX_OK);
    cx_rng_free(rng);
    assert_int_equal(cx_model_set_loss(m, CX_LOSS_MSE), CX_OK);
    return m;
}

static void test_leaf_hook(void **state) {
    (void)state;
    cx_model *m = small_mlp();
    hook_log h = {.m = m};
    int64_t shape[2] = {4, 5}, tshape[2] = {4, 3};
    cx_rng *rng = cx_rng_new(1);
    cx_tensor *x = cx_randn(rng, 2, shape), *t = cx_randn(rng, 2, tshape);
    cx_model_zero_grad(m);
    cx_tensor *loss = cx_model_loss(m, x, t, NULL);
    cx__backward_set_leaf_hook(log_leaf, &h);
    assert_int_equal(cx_backward(loss), CX_OK);
    cx__backward_set_leaf_hook(NULL, NULL);
    for (int i = 0; i < cx_model_num_param_tensors(m); i++) {
        cx_tensor *p = cx_model_param(m, i);
        assert_int_equal(h.calls[i], 1);
        assert_memory_equal(h.seen[i], cx_tensor_f32(cx_tensor_grad(p)),
                            (size_t)cx_tensor_numel(p) * sizeof(float));
        free(h.seen[i]);
    }
    cx_tensor_free(loss);
    cx_tensor_free(x);
    cx_tensor_free(t);
    cx_rng_free(rng);
    cx_model_free(m);
}

/* Alone, every collective is a no-op and gradients stay as backward left them; buckets hold
 * whole parameters, the whole gradient vector between them. */
static void test_single_process(void **state) {
    (void)state;
    assert_int_equal(cx_dist_init(NULL, NULL), CX_OK); /* no launcher: stays alone */
    assert_int_equal(cx_dist_rank(), 0);
    assert_int_equal(cx_dist_size(), 1);
    assert_true(cx_dist_is_root());
    double v[2] = {1.5, -2};
    assert_int_equal(cx_dist_sum_f64(v, 2), CX_OK);
    assert_true(v[0] == 1.5 && v[1] == -2);
    /* sharing a step's outcome alone: this rank's status, the sums as they were */
    assert_int_equal(cx_dist_share(CX_OK, v, 2, "test"), CX_OK);
    assert_int_equal(cx_dist_share(CX_ERR_NUMERIC, v, 2, "test"), CX_ERR_NUMERIC);
    assert_true(v[0] == 1.5 && v[1] == -2);
    cx_model *m = small_mlp();
    assert_int_equal(cx_dist_broadcast_model(m), CX_OK);
    int64_t n = cx_model_num_params(m);
    float *g = cx_model_grads_flat(m);
    for (int64_t i = 0; i < n; i++)
        g[i] = (float)i;
    cx_grad_sync *one = cx_grad_sync_new(m, 0), *per = cx_grad_sync_new(m, 4);
    assert_non_null(one);
    assert_non_null(per);
    assert_int_equal(cx_grad_sync_get_stats(one).n_buckets, 1);
    /* 4 bytes: one parameter tensor per bucket */
    assert_int_equal(cx_grad_sync_get_stats(per).n_buckets, cx_model_num_param_tensors(m));
    assert_int_equal(cx_grad_sync_get_stats(per).bytes, n * (int64_t)sizeof(float));
    assert_int_equal(cx_grad_sync_begin(per, 3, 6), CX_OK);
    assert_int_equal(cx_grad_sync_end(per), CX_OK);
    for (int64_t i = 0; i < n; i++)
        assert_true(g[i] == (float)i);
    assert_int_equal(cx_grad_sync_begin(per, 7, 6), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "local_rows <= global_rows");
    cx_grad_sync_free(one);
    cx_grad_sync_free(per);
    cx_grad_sync_free(NULL);
    cx_dist_finalize(); /* a no-op: it joined no job */
    cx_model_free(m);
}

CX_TEST_GROUP(dist) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loader_shards), cmocka_unit_test(test_loader_shard_errors),
        cmocka_unit_test(test_rng_skip),      cmocka_unit_test(test_dropout_shard),
        cmocka_unit_test(test_leaf_hook),     cmocka_unit_test(test_single_process),
        cmocka_unit_test(test_text_shards),
    };
    CX_RUN_GROUP("dist", tests);
}
