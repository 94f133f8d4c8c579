/*
 * test_anomaly.c - the numeric guards. Anomaly detection names the op (and the layer) whose
 * output or gradient first holds a NaN or an infinity; cx_fit's guard stops on a NaN loss or
 * gradient naming the step and the layer, and keeps the last good checkpoint.
 */
#include "test.h"

#include <math.h>
#include <stdio.h>

static void ops_checked(void **state) {
    (void)state;
    cx_tensor *x = cx_from_data(CX_DTYPE_F32, CX_SHAPE(4), (float[]){1, -1, 0, 2});
    /* off: NaN flows through as in PyTorch */
    cx_tensor *y = cx_log(x);
    assert_non_null(y);
    assert_true(isnan(cx_tensor_f32(y)[1]));
    cx_tensor_free(y);

    cx_set_detect_anomaly(true);
    assert_true(cx_detect_anomaly());
    cx_test_assert_error(cx_log(x), CX_ERR_NUMERIC, "log produced NaN at element 1");
    /* a NaN coming in is pointed at */
    cx_tensor *n = cx_from_data(CX_DTYPE_F32, CX_SHAPE(2), (float[]){NAN, 1});
    cx_test_assert_error(cx_exp(n), CX_ERR_NUMERIC, "its input 0 already holds NaN");
    /* backward: sqrt's gradient at 0 is infinite */
    cx_tensor *z = cx_from_data(CX_DTYPE_F32, CX_SHAPE(2), (float[]){0, 4});
    cx_tensor_set_requires_grad(z, true);
    cx_tensor *r = cx_sqrt(z), *s = cx_sum(r, 0, NULL, false);
    assert_non_null(s);
    assert_int_equal(cx_backward(s), CX_ERR_NUMERIC);
    print_message("%s\n", cx_last_error());
    assert_error(CX_ERR_NUMERIC, "backward of sqrt", "+inf at element 0");
    cx_set_detect_anomaly(false);
    cx_tensor_free(s);
    cx_tensor_free(r);
    cx_tensor_free(z);
    cx_tensor_free(n);
    cx_tensor_free(x);
}

static void model_layer_named(void **state) {
    (void)state;
    cx_model *m = cx_test_model("[model]\ninput = 3\n[dense]\nunits = 4\n[relu]\n"
                                "[dense]\nunits = 2\n[log_softmax]\n");
    /* a huge weight in layer 2 overflows its output */
    cx_tensor_f32(cx_model_param_by_name(m, "2.weight"))[0] = 3e38f;
    cx_tensor_f32(cx_model_param_by_name(m, "0.bias"))[0] = 1e5f;
    cx_tensor *x = cx_ones(CX_SHAPE(2, 3));
    cx_set_detect_anomaly(true);
    cx_tensor *y = cx_model_forward(m, x);
    cx_set_detect_anomaly(false);
    cx_test_assert_error(y, CX_ERR_NUMERIC, "layer 2 (dense): detect-anomaly: linear produced");

    /* backward: the layer is named from the node */
    cx_tensor_f32(cx_model_param_by_name(m, "2.weight"))[0] = 0.5f;
    cx_tensor_f32(cx_model_param_by_name(m, "0.bias"))[0] = 0;
    cx_tensor *w = cx_model_param_by_name(m, "0.weight");
    cx_tensor_f32(w)[0] = 0; /* unit 0 sits at relu's kink: fine, no anomaly */
    y = cx_model_forward(m, x);
    cx_tensor *shifted = cx_add_scalar(y, 100.0f);
    cx_tensor *sq = cx_sqrt(shifted); /* fine as well */
    cx_tensor *s = cx_sum(sq, 0, NULL, false);
    cx_set_detect_anomaly(true);
    assert_int_equal(cx_backward(s), CX_OK);
    cx_set_detect_anomaly(false);
    cx_tensor_free(s);
    cx_tensor_free(sq);
    cx_tensor_free(shifted);
    cx_tensor_free(y);
    cx_tensor_free(x);
    cx_model_free(m);
}

/* n samples [n, 4], labels i % 2 */
static cx_dataset *data(int64_t n, float value) {
    cx_tensor *x = cx_full(CX_SHAPE(n, 4), value);
    cx_tensor *y = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(n));
    for (int64_t i = 0; i < n; i++) ((int32_t *)cx_tensor_data(y))[i] = (int32_t)(i % 2);
    cx_dataset *d = cx_dataset_from_tensors(x, y);
    cx_tensor_free(x);
    cx_tensor_free(y);
    return d;
}

static cx_optim *sgd(cx_model *m, float lr) {
    cx_tensor *params[8];
    int n = cx_model_trainable_params(m, params);
    cx_optim_params p = cx_optim_defaults(CX_OPTIM_SGD);
    p.lr = lr;
    return cx_optim_new(CX_OPTIM_SGD, &p, params, n);
}

static cx_status fit(cx_model *m, cx_optim *o, cx_dataset *d, const char *ck, int epochs) {
    FILE *out = fopen("/dev/null", "w");
    cx_fit_params p = {.epochs = epochs, .batch_size = 1, .seed = 1, .out = out,
                       .progress = CX_PROGRESS_NONE, .checkpoint_path = ck};
    cx_status st = cx_fit(m, o, d, NULL, &p, NULL);
    fclose(out);
    return st;
}

static void guard_names_gradient_layer(void **state) {
    (void)state;
    /* Layer 2's weights are +-3e38, so its logits are finite (+-1e9) and so is the loss, but
     * the gradient flowing back into layer 0 is 6e38: infinite. */
    cx_model *m = cx_test_model("[model]\ninput = 4\n[dense]\nunits = 1\n[relu]\n"
                                "[dense]\nunits = 2\nbias = false\n");
    float *w0 = cx_tensor_f32(cx_model_param_by_name(m, "0.weight"));
    for (int i = 0; i < 4; i++) w0[i] = 1e-9f;
    cx_tensor_f32(cx_model_param_by_name(m, "0.bias"))[0] = 0;
    float *w2 = cx_tensor_f32(cx_model_param_by_name(m, "2.weight"));
    w2[0] = 3e38f;
    w2[1] = -3e38f;
    cx_dataset *d = data(2, 1.0f);
    cx_optim *o = sgd(m, 0.1f);
    cx_status st = fit(m, o, d, NULL, 1);
    print_message("%s\n", cx_last_error());
    assert_int_equal(st, CX_ERR_NUMERIC);
    assert_error(CX_ERR_NUMERIC, "epoch 1 step 2", "gradient of 0.weight (layer 0, dense)",
                 "the last checkpoint kept");
    cx_optim_free(o);
    cx_dataset_free(d);
    cx_model_free(m);
}

static void guard_keeps_checkpoint(void **state) {
    (void)state;
    cx_model *m = cx_test_model("[model]\ninput = 4\n[dense]\nunits = 3\n[relu]\n"
                                "[dense]\nunits = 2\n");
    cx_dataset *good = data(4, 0.5f);
    cx_optim *o = sgd(m, 0.1f);
    const char *ck = cx_test_path("guard.safetensors");
    assert_int_equal(fit(m, o, good, ck, 1), CX_OK);
    cx_optim_free(o);

    /* a weight that is already NaN: the re-run names it */
    cx_train_state ts;
    cx_model *m2 = cx_checkpoint_load(ck, &o, &ts);
    assert_non_null(m2);
    cx_tensor_f32(cx_model_param_by_name(m2, "2.weight"))[1] = NAN;
    ts.epoch = 1;
    FILE *out = fopen("/dev/null", "w");
    cx_fit_params p = {.epochs = 3, .batch_size = 2, .seed = 1, .out = out,
                       .progress = CX_PROGRESS_NONE, .checkpoint_path = ck, .resume = &ts};
    assert_int_equal(cx_fit(m2, o, good, NULL, &p, NULL), CX_ERR_NUMERIC);
    print_message("%s\n", cx_last_error());
    assert_error(CX_ERR_NUMERIC, "epoch 2 step 1", "loss is NaN",
                 "parameter 2.weight (layer 2, dense) holds NaN");
    cx_optim_free(o);
    cx_model_free(m2);

    /* an input that overflows layer 0: the re-run with anomaly detection names the op */
    cx_dataset *bad = data(4, 3e38f);
    m2 = cx_checkpoint_load(ck, &o, &ts);
    ts.epoch = 1;
    cx_tensor_f32(cx_model_param_by_name(m2, "0.weight"))[0] = 10.0f;
    assert_int_equal(cx_fit(m2, o, bad, NULL, &p, NULL), CX_ERR_NUMERIC);
    print_message("%s\n", cx_last_error());
    assert_error(CX_ERR_NUMERIC, "epoch 2 step 1", "layer 0 (dense): detect-anomaly: linear");
    cx_optim_free(o);
    cx_model_free(m2);

    /* the checkpoint is still the good epoch-1 one */
    cx_model *back = cx_checkpoint_load(ck, NULL, &ts);
    assert_non_null(back);
    assert_int_equal(ts.epoch, 1);
    float *w = cx_model_params_flat(back);
    assert_true(cx__first_nonfinite(w, cx_model_num_params(back)) < 0);
    fclose(out);
    cx_model_free(back);
    cx_dataset_free(bad);
    cx_dataset_free(good);
    cx_model_free(m);
}

/* `cortex train --detect-anomaly` is an option (its effect is tested above). */
static void cli_flag(void **state) {
    (void)state;
    const char *cli = getenv("CX_CLI");
    if (!cli) skip();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s train --help | grep -q -- --detect-anomaly", cli);
    assert_int_equal(system(cmd), 0);
}

CX_TEST_GROUP(anomaly) {
    cx_test_scratch_new("anomaly");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ops_checked),
        cmocka_unit_test(model_layer_named),
        cmocka_unit_test(guard_names_gradient_layer),
        cmocka_unit_test(guard_keeps_checkpoint),
        cmocka_unit_test(cli_flag),
    };
    CX_RUN_GROUP("anomaly", tests);
    cx_test_scratch_remove();
}
