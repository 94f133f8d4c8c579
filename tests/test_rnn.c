/*
 * test_rnn.c - recurrent layers against PyTorch (tests/golden/rnn.safetensors, written by
 * scripts/golden/rnn.py: a 2-layer LSTM and GRU over 10 steps), through cx_lstm / cx_gru and
 * through the [lstm] / [gru] layers; carried state, sequences of any length, the last-step
 * output, steady-state allocations and the errors users can reach.
 */
#include "test.h"

#include <math.h>
#include <stdlib.h>

#define GOLDEN "tests/golden/rnn.safetensors"

static cx_safetensors *golden;

static cx_tensor *get(const char *net, const char *what) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", net, what);
    cx_tensor *t = cx_safetensors_get(golden, key);
    if (!t) fail_msg("%s (run `make golden`)", cx_last_error());
    return t;
}

static void check(const char *net, const char *what, cx_tensor *got) {
    char label[128];
    snprintf(label, sizeof label, "%s.%s", net, what);
    cx_tensor *want = get(net, what);
    cx_test_compare(label, got, want, 1e-4f);
    cx_tensor_free(want);
}

/* sum(t * g) for the golden upstream gradient g */
static cx_tensor *weighted(cx_tensor *t, const char *net, const char *g_name) {
    cx_tensor *g = get(net, g_name);
    cx_tensor *s = cx_sum(cx_mul(t, g), 0, NULL, false);
    cx_tensor_free(g);
    return s;
}

static const char *const param_suffix[4] = {"weight_ih_l", "weight_hh_l", "bias_ih_l",
                                            "bias_hh_l"};

/* The op: outputs, final states and every gradient from the golden initial states. */
static void op_golden(const char *net, bool lstm) {
    cx_arena *arena = cx_arena_new(0);
    cx_arena_begin(arena);
    cx_tensor *w[8];
    for (int k = 0; k < 8; k++) {
        char name[64];
        snprintf(name, sizeof name, "0.%s%d", param_suffix[k % 4], k / 4);
        w[k] = get(net, name);
        cx_tensor_set_requires_grad(w[k], true);
    }
    cx_tensor *x = get(net, "x"), *h0 = get(net, "h0"), *c0 = lstm ? get(net, "c0") : NULL;
    cx_tensor_set_requires_grad(x, true);
    cx_tensor_set_requires_grad(h0, true);
    if (c0) cx_tensor_set_requires_grad(c0, true);
    cx_rnn_params p = {.num_layers = 2, .batch_first = true};
    cx_tensor *hn = NULL, *cn = NULL;
    cx_tensor *y = lstm ? cx_lstm(x, h0, c0, w, &p, &hn, &cn) : cx_gru(x, h0, w, &p, &hn);
    if (!y) fail_msg("%s", cx_last_error());
    check(net, "out", y);
    check(net, "h_n", hn);
    cx_tensor *loss = cx_add(weighted(y, net, "g_out"), weighted(hn, net, "g_h"));
    if (lstm) {
        check(net, "c_n", cn);
        loss = cx_add(loss, weighted(cn, net, "g_c"));
    }
    assert_non_null(loss);
    assert_int_equal(cx_backward(loss), CX_OK);
    check(net, "grad.x", cx_tensor_grad(x));
    check(net, "grad.h0", cx_tensor_grad(h0));
    if (lstm) check(net, "grad.c0", cx_tensor_grad(c0));
    for (int k = 0; k < 8; k++) {
        char name[64];
        snprintf(name, sizeof name, "grad.0.%s%d", param_suffix[k % 4], k / 4);
        check(net, name, cx_tensor_grad(w[k]));
    }
    cx_arena_end(arena);
    cx_arena_free(arena);
}

static void test_lstm_golden(void **state) {
    (void)state;
    op_golden("lstm", true);
}
static void test_gru_golden(void **state) {
    (void)state;
    op_golden("gru", false);
}

/* A model whose layer 0 is the golden net (its weights copied by state_dict name). */
static cx_model *golden_model(const char *net, const char *config) {
    cx_model *m = cx_test_model(config);
    for (int i = 0; i < cx_model_num_param_tensors(m); i++) {
        cx_tensor *src = get(net, cx_model_param_name(m, i));
        assert_int_equal(cx_tensor_copy_from(cx_model_param(m, i), cx_tensor_data(src),
                                             (size_t)cx_tensor_numel(src) * 4),
                         CX_OK);
        cx_tensor_free(src);
    }
    return m;
}

/* The layer from zero states: outputs and parameter gradients. */
static void layer_golden(const char *net, const char *kind) {
    char config[256];
    snprintf(config, sizeof config,
             "[model]\ninput = 10,5\n[%s]\nhidden = 8\nlayers = 2\nreturn_sequences = true\n",
             kind);
    cx_model *m = golden_model(net, config);
    cx_tensor *x = get(net, "x"), *g = get(net, "g_out");
    cx_tensor *y = cx_model_forward(m, x);
    check(net, "zero.out", y);
    assert_int_equal(cx_backward_grad(y, g), CX_OK);
    for (int i = 0; i < cx_model_num_param_tensors(m); i++) {
        char name[96];
        snprintf(name, sizeof name, "zero.grad.%s", cx_model_param_name(m, i));
        check(net, name, cx_tensor_grad(cx_model_param(m, i)));
    }
    cx_tensor_free(y);
    cx_tensor_free(x);
    cx_tensor_free(g);
    cx_model_free(m);
}

static void test_lstm_layer_golden(void **state) {
    (void)state;
    layer_golden("lstm", "lstm");
}
static void test_gru_layer_golden(void **state) {
    (void)state;
    layer_golden("gru", "gru");
}

/* Two stateful batches of 5 steps give the outputs of one batch of 10 (truncated BPTT
 * changes gradients, not values); a reset starts again from zeros. Any length runs. */
static void test_stateful(void **state) {
    (void)state;
    cx_model *m = golden_model("lstm", "[model]\ninput = none,5\n[lstm]\nhidden = 8\n"
                                       "layers = 2\nreturn_sequences = true\nstateful = true\n");
    cx_arena *arena = cx_arena_new(0); /* for the chained slices */
    cx_arena_begin(arena);
    cx_tensor *x = get("lstm", "x"), *want = get("lstm", "zero.out");
    for (int rep = 0; rep < 2; rep++) {
        for (int half = 0; half < 2; half++) {
            cx_tensor *xs = cx_contiguous(cx_slice(x, 1, 5 * half, 5 * half + 5, 1));
            cx_tensor *y = cx_model_forward(m, xs);
            cx_tensor *ws = cx_contiguous(cx_slice(want, 1, 5 * half, 5 * half + 5, 1));
            cx_test_compare("stateful half", y, ws, 1e-4f);
            cx_tensor_free(y);
            cx_tensor_free(xs);
            cx_tensor_free(ws);
        }
        cx_model_reset_states(m);
    }
    /* a batch of another size starts from zeros: 1 sequence of 3 steps */
    cx_tensor *x1 = cx_contiguous(cx_slice(cx_slice(x, 0, 0, 1, 1), 1, 0, 3, 1));
    cx_tensor *y1 = cx_model_forward(m, x1);
    cx_tensor *w1 = cx_contiguous(cx_slice(cx_slice(want, 0, 0, 1, 1), 1, 0, 3, 1));
    cx_test_compare("new batch size", y1, w1, 1e-4f);
    cx_tensor_free(x1);
    cx_tensor_free(y1);
    cx_arena_end(arena);
    cx_arena_free(arena);
    cx_model_free(m);
}

/* return_sequences = false: the last step of the last layer. */
static void test_last_step(void **state) {
    (void)state;
    cx_model *m = golden_model("gru", "[model]\ninput = 10,5\n[gru]\nhidden = 8\nlayers = 2\n");
    int64_t shape[4];
    assert_int_equal(cx_model_output_shape(m, shape), 1);
    assert_int_equal(shape[0], 8);
    cx_arena *arena = cx_arena_new(0);
    cx_arena_begin(arena);
    cx_tensor *x = get("gru", "x"), *want = get("gru", "zero.out");
    cx_tensor *y = cx_model_forward(m, x);
    cx_tensor *last = cx_contiguous(cx_slice(want, 1, 9, 10, 1));
    cx_test_compare("last step", y, last, 1e-4f);
    cx_arena_end(arena);
    cx_arena_free(arena);
    cx_model_free(m);
}

/* An embedding + stateful LSTM + dense char model on sequences of any length: the loss over
 * every position, and sequences of other lengths. */
static void test_char_model(void **state) {
    (void)state;
    cx_model *m = cx_test_model("[model]\ninput = none\n[embedding]\nvocab = 11\ndim = 4\n"
                                "[lstm]\nhidden = 6\nreturn_sequences = true\nstateful = true\n"
                                "[dense]\nunits = 11\n");
    assert_int_equal(cx_model_num_param_tensors(m), 7);
    assert_string_equal(cx_model_param_name(m, 1), "1.weight_ih_l0");
    const int32_t ids[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1};
    cx_tensor *x = cx_from_data(CX_DTYPE_I32, CX_SHAPE(2, 6), ids);
    cx_tensor *t = cx_from_data(CX_DTYPE_I32, CX_SHAPE(2, 6), ids);
    cx_tensor *loss = cx_model_loss(m, x, t, NULL);
    if (!loss) fail_msg("%s", cx_last_error());
    assert_true(cx_tensor_item(loss) > 2.0f); /* about ln 11 before training */
    assert_int_equal(cx_backward(loss), CX_OK);
    cx_tensor *x3 = cx_from_data(CX_DTYPE_I32, CX_SHAPE(2, 3), ids);
    cx_tensor *y3 = cx_model_forward(m, x3);
    assert_non_null(y3);
    assert_int_equal(cx_tensor_dim(y3, 1), 3);
    assert_int_equal(cx_tensor_dim(y3, 2), 11);
    /* the config round-trips, "none" included */
    assert_non_null(strstr(cx_model_config(m), "input = none\n"));
    cx_model *again = cx_test_model(cx_model_config(m));
    cx_model_free(again);
    /* an id past the vocabulary is refused */
    cx_tensor *bad = cx_from_data(CX_DTYPE_I32, CX_SHAPE(1, 2), (int32_t[]){3, 11});
    cx_test_assert_error(cx_model_forward(m, bad), CX_ERR_ARG, "out of range");
    cx_tensor_free(bad);
    cx_tensor_free(y3);
    cx_tensor_free(x3);
    cx_tensor_free(loss);
    cx_tensor_free(x);
    cx_tensor_free(t);
    cx_model_free(m);
}

static void test_steady_state(void **state) {
    (void)state;
    cx_test_steady_state("[model]\ninput = 6,3\n[lstm]\nhidden = 8\nlayers = 2\n"
                         "stateful = true\n[dense]\nunits = 4\n", 16, 4, 8, 0.1f);
    cx_test_steady_state("[model]\ninput = 3,16\n[conv1d]\nfilters = 4\nkernel = 3\n"
                         "padding = same\nactivation = relu\n[maxpool1d]\nkernel = 2\n"
                         "[flatten]\n[dense]\nunits = 3\n", 8, 3, 8, 0.1f);
}

static void test_conv1d_layers(void **state) {
    (void)state;
    cx_model *m = cx_test_model("[model]\ninput = 3,20\n[conv1d]\nfilters = 8\nkernel = 5\n"
                                "stride = 2\n[avgpool1d]\nkernel = 2\n[gru]\nhidden = 4\n");
    int64_t shape[4];
    assert_int_equal(cx_model_layer_output_shape(m, 0, shape), 2);
    assert_int_equal(shape[0], 8);
    assert_int_equal(shape[1], 8); /* (20 - 5) / 2 + 1 */
    assert_int_equal(cx_model_layer_output_shape(m, 1, shape), 2);
    assert_int_equal(shape[1], 4);
    assert_string_equal(cx_model_param_name(m, 0), "0.weight");
    cx_model_free(m);
}

static void test_errors(void **state) {
    (void)state;
    cx_test_config_error("[model]\ninput = none\n[flatten]\n",
                         (const char *[]){"fixed size", "none", NULL});
    cx_test_config_error("[model]\ninput = 4\n[lstm]\nhidden = 3\n",
                         (const char *[]){"[T, features]", NULL});
    cx_test_config_error("[model]\ninput = 4,2\n[lstm]\nhidden = 3\nbatch_first = false\n",
                         (const char *[]){"batch_first", "cx_lstm", NULL});
    cx_test_config_error("[model]\ninput = 4,2\n[lstm]\nhidden = 3\nlayers = 9\n",
                         (const char *[]){"layers", NULL});
    cx_test_config_error("[model]\ninput = 4,2\n[rnn]\nhidden = 3\nnonlinearity = sine\n",
                         (const char *[]){"tanh", "relu", NULL});
    cx_test_config_error("[model]\ninput = 3,4\n[conv1d]\nfilters = 2\nkernel = 7\n",
                         (const char *[]){"input length 4", "below 1", NULL});
    cx_test_config_error("[model]\ninput = 3,4\n[conv1d]\nfilters = 2\nkernel = 1\n"
                         "padding = 1,2\n", (const char *[]){"one padding", NULL});
    cx_test_config_error("[model]\ninput = 3,none\n", (const char *[]){"none", NULL});

    cx_tensor *x = cx_zeros(CX_SHAPE(4, 2, 3));
    cx_tensor *w_ih = cx_zeros(CX_SHAPE(20, 3)), *w_hh = cx_zeros(CX_SHAPE(20, 5));
    cx_tensor *w_bad = cx_zeros(CX_SHAPE(20, 4));
    cx_tensor *ws[] = {w_ih, w_hh, NULL, NULL};
    cx_test_assert_error(cx_lstm(w_ih, NULL, NULL, ws, NULL, NULL, NULL), CX_ERR_SHAPE,
                         "[T, N, features]");
    cx_test_assert_error(cx_lstm(x, NULL, NULL, (cx_tensor *[]){w_bad, w_hh, NULL, NULL}, NULL,
                                 NULL, NULL),
                         CX_ERR_SHAPE, "weight_ih");
    cx_test_assert_error(cx_gru(x, NULL, ws, NULL, NULL), CX_ERR_SHAPE, "weight_hh");
    cx_tensor *h0 = cx_zeros(CX_SHAPE(1, 3, 5));
    cx_test_assert_error(cx_lstm(x, h0, NULL, ws, NULL, NULL, NULL), CX_ERR_SHAPE,
                         "h0 [1,3,5] must be [1, 2, 5]");
    cx_test_assert_error(cx_lstm(x, NULL, NULL, (cx_tensor *[]){w_ih, w_hh, NULL, NULL, NULL},
                                 &(cx_rnn_params){.num_layers = 2}, NULL, NULL),
                         CX_ERR_ARG, "weight_ih_l1");
    cx_test_assert_error(cx_lstm(x, NULL, NULL, NULL, NULL, NULL, NULL), CX_ERR_ARG, "NULL");
    cx_tensor *hn = (cx_tensor *)1;
    assert_null(cx_lstm(NULL, NULL, NULL, ws, NULL, &hn, NULL));
    assert_null(hn);
    cx_clear_error();
    cx_tensor *ids = cx_from_data(CX_DTYPE_I32, CX_SHAPE(2), (int32_t[]){0, 99});
    cx_test_assert_error(cx_embedding(ids, w_ih), CX_ERR_ARG, "index 99");
    cx_test_assert_error(cx_embedding(x, w_ih), CX_ERR_DTYPE, "i32");
    cx_test_assert_error(cx_conv1d(x, w_ih, NULL, NULL), CX_ERR_SHAPE, "3 dimensions");
    cx_test_assert_error(cx_max_pool1d(x, &(cx_pool1d_params){.kernel = 9}), CX_ERR_SHAPE,
                         "max_pool1d");
    cx_test_assert_error(cx_avg_pool1d(x, NULL), CX_ERR_ARG, "kernel");
    cx_tensor *objs[] = {x, w_ih, w_hh, w_bad, h0, ids};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) cx_tensor_free(objs[i]);
}

/* The step products' packed kernel against sgemm: edge sizes (rows not a multiple of the
 * 6-row tile, columns not of the panel), B given either way round, written and added. */
static void test_packed_gemm(void **state) {
    (void)state;
    if (!cx__packed_gemm_ok()) skip(); /* no AVX2 or AVX-512: the steps use sgemm */
    const int64_t sizes[][3] = {
        {1, 1, 1}, {7, 33, 5}, {32, 512, 128}, {13, 100, 64}, {6, 16, 0}};
    cx_rng *rng = cx_rng_new(5);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int64_t m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
        cx_tensor *a = cx_randn(rng, CX_SHAPE(m, k ? k : 1));
        cx_tensor *b = cx_randn(rng, CX_SHAPE(k ? k : 1, n));
        cx_tensor *c0 = cx_randn(rng, CX_SHAPE(m, n));
        float *packed = malloc(cx__packed_floats(k, n) * sizeof(float) + 1);
        float *want = malloc((size_t)(m * n) * sizeof(float));
        float *got = malloc((size_t)(m * n) * sizeof(float));
        for (int trans = 0; trans < 2; trans++) {
            /* trans: B stored as its transpose [n, k] */
            float *bt = malloc((size_t)(k * n + 1) * sizeof(float));
            for (int64_t p = 0; p < k; p++)
                for (int64_t j = 0; j < n; j++)
                    bt[trans ? j * k + p : p * n + j] = cx_tensor_f32(b)[p * n + j];
            cx__pack_b(trans, k, n, bt, trans ? k : n, packed);
            for (int acc = 0; acc < 2; acc++) {
                memcpy(want, cx_tensor_f32(c0), (size_t)(m * n) * sizeof(float));
                memcpy(got, want, (size_t)(m * n) * sizeof(float));
                cx__sgemm(false, false, m, n, k, 1.0f, cx_tensor_f32(a), k, cx_tensor_f32(b), n,
                          acc ? 1.0f : 0.0f, want, n);
                cx__sgemm_packed(m, n, k, cx_tensor_f32(a), k, packed, acc, got, n);
                for (int64_t i = 0; i < m * n; i++)
                    if (fabsf(got[i] - want[i]) > 1e-5f * (1.0f + fabsf(want[i])))
                        fail_msg("%lldx%lldx%lld trans %d accumulate %d: [%lld] %g, want %g",
                                 (long long)m, (long long)n, (long long)k, trans, acc,
                                 (long long)i, got[i], want[i]);
            }
            free(bt);
        }
        free(packed), free(want), free(got);
        cx_tensor_free(a), cx_tensor_free(b), cx_tensor_free(c0);
    }
    cx_rng_free(rng);
}

CX_TEST_GROUP(rnn) {
    golden = cx_safetensors_open(GOLDEN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstm_golden),       cmocka_unit_test(test_gru_golden),
        cmocka_unit_test(test_lstm_layer_golden), cmocka_unit_test(test_gru_layer_golden),
        cmocka_unit_test(test_stateful),          cmocka_unit_test(test_last_step),
        cmocka_unit_test(test_char_model),        cmocka_unit_test(test_steady_state),
        cmocka_unit_test(test_conv1d_layers),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_packed_gemm),
    };
    if (!golden) printf("rnn: %s; run `make golden`\n", cx_last_error());
    CX_RUN_GROUP("rnn", tests);
    cx_safetensors_close(golden);
    golden = NULL;
}
