/*
 * test_nn.c - models: a golden against torch.nn (scripts/golden/nn.py wrote
 * tests/golden/nn.safetensors), initialisers (same numbers as torch.nn.init for the same seed,
 * and their statistics), config files (errors with file:line and the valid names, canonical
 * round trip), the summary of models/mlp.cfg, shape errors, dropout, a random-direction
 * gradient check of whole models (parameters and input), and a steady-state training step
 * that allocates nothing.
 */
#include "test.h"

#include <math.h>
#include <string.h>

#define GOLDEN_PATH "tests/golden/nn.safetensors"

/* The layers of scripts/golden/nn.py, without the final activation. */
static const char golden_body[] =
    "[model]\ninput = 2,3\n[flatten]\n[dense]\nunits = 16\n[relu]\n[dense]\nunits = 12\n"
    "[tanh]\n[dropout]\nrate = 0.3\n[dense]\nunits = 10\n[gelu]\n[dense]\nunits = 8\n"
    "[elu]\nalpha = 0.7\n[dense]\nunits = 6\n[leaky_relu]\nslope = 0.2\n[dense]\nunits = 4\n";

/* ---- golden against torch.nn ---- */

static void golden_case(const char *name, const char *final, cx_loss loss, const char *target) {
    cx_safetensors *g = cx_safetensors_open(GOLDEN_PATH);
    if (!g) fail_msg("%s; run `make golden`", cx_last_error());
    char text[1024], key[64];
    snprintf(text, sizeof text, "%s[%s]\n", golden_body, final);
    cx_model *m = cx_test_model(text);
    assert_int_equal(cx_model_set_loss(m, loss), CX_OK);
    assert_int_equal(cx_model_load_weights(m, g), CX_OK);
    cx_tensor *x = cx_safetensors_get(g, "x"), *t = cx_safetensors_get(g, target);
    assert_int_equal(cx_tensor_set_requires_grad(x, true), CX_OK);

    cx_tensor *out = cx_model_forward(m, x);
    snprintf(key, sizeof key, "%s.out", name);
    cx_tensor *want = cx_safetensors_get(g, key);
    cx_test_compare(key, out, want, 1e-5f);
    cx_tensor_free(want);
    cx_tensor_free(out);

    cx_tensor *l = cx_model_loss(m, x, t, NULL);
    snprintf(key, sizeof key, "%s.loss", name);
    want = cx_safetensors_get(g, key);
    cx_test_compare(key, l, want, 1e-5f);
    cx_tensor_free(want);
    assert_int_equal(cx_backward(l), CX_OK);
    cx_tensor_free(l);
    snprintf(key, sizeof key, "%s.grad.x", name);
    want = cx_safetensors_get(g, key);
    cx_test_compare(key, cx_tensor_grad(x), want, 1e-5f);
    cx_tensor_free(want);
    assert_int_equal(cx_model_num_param_tensors(m), 12);
    for (int i = 0; i < cx_model_num_param_tensors(m); i++) {
        snprintf(key, sizeof key, "%s.grad.%s", name, cx_model_param_name(m, i));
        want = cx_safetensors_get(g, key);
        cx_test_compare(key, cx_tensor_grad(cx_model_param(m, i)), want, 1e-5f);
        cx_tensor_free(want);
    }
    cx_tensor_free(x);
    cx_tensor_free(t);
    cx_model_free(m);
    cx_safetensors_close(g);
}

static void golden_softmax_ce(void **s) {
    (void)s;
    golden_case("ce", "softmax", CX_LOSS_CROSS_ENTROPY, "labels");
}
static void golden_log_softmax_ce(void **s) {
    (void)s;
    golden_case("logsm", "log_softmax", CX_LOSS_CROSS_ENTROPY, "labels");
}
static void golden_sigmoid_bce(void **s) {
    (void)s;
    golden_case("bce", "sigmoid", CX_LOSS_BCE, "bce.target");
}
static void golden_tanh_mse(void **s) {
    (void)s;
    golden_case("mse", "tanh", CX_LOSS_MSE, "mse.target");
}

/* ---- initialisers ---- */

static const char *const init_names[] = {
    "default", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "uniform", "normal"};

/* The same numbers as torch.nn.init after torch.manual_seed(7). */
static void init_matches_torch(void **state) {
    (void)state;
    cx_safetensors *g = cx_safetensors_open(GOLDEN_PATH);
    if (!g) fail_msg("%s; run `make golden`", cx_last_error());
    for (int i = 0; i < 7; i++) {
        cx_rng *rng = cx_rng_new(7);
        cx_model *m = cx_model_new(CX_SHAPE(20));
        assert_int_equal(cx_model_add_dense(m, 30, true, (cx_init)i, 0, rng), CX_OK);
        char key[64];
        snprintf(key, sizeof key, i ? "init.%s" : "init.%s.weight", init_names[i]);
        cx_tensor *want = cx_safetensors_get(g, key);
        cx_test_compare(key, cx_model_param(m, 0), want, 1e-6f);
        cx_tensor_free(want);
        cx_tensor *bias = i ? cx_zeros(CX_SHAPE(30)) : cx_safetensors_get(g, "init.default.bias");
        cx_test_compare("bias", cx_model_param(m, 1), bias, 1e-6f);
        cx_tensor_free(bias);
        cx_model_free(m);
        cx_rng_free(rng);
    }
    cx_safetensors_close(g);
}

/* Bounds of uniform inits and std of normal ones for a 256 -> 512 layer. */
static void init_statistics(void **state) {
    (void)state;
    const double fi = 256, fo = 512;
    const double expect[] = {1 / sqrt(fi), sqrt(6 / (fi + fo)), sqrt(2 / (fi + fo)),
                             sqrt(6 / fi), sqrt(2 / fi),        0.1,
                             0.1};
    for (int i = 0; i < 7; i++) {
        cx_model *m = cx_model_new(CX_SHAPE(256));
        assert_int_equal(cx_model_add_dense(m, 512, true, (cx_init)i, 0.1f, NULL), CX_OK);
        assert_string_equal(cx_model_param_name(m, 0), "0.weight");
        assert_string_equal(cx_model_param_name(m, 1), "0.bias");
        cx_tensor *w = cx_model_param(m, 0);
        assert_int_equal(cx_tensor_ndim(w), 2);
        assert_int_equal(cx_tensor_dim(w, 0), 512);
        assert_int_equal(cx_tensor_dim(w, 1), 256);
        const float *d = cx_tensor_f32(w);
        double sum = 0, sq = 0, maxabs = 0;
        int64_t n = cx_tensor_numel(w);
        for (int64_t k = 0; k < n; k++) {
            sum += d[k];
            sq += (double)d[k] * d[k];
            maxabs = fmax(maxabs, fabs(d[k]));
        }
        double mean = sum / (double)n, std = sqrt(sq / (double)n - mean * mean);
        bool normal = i == CX_INIT_GLOROT_NORMAL || i == CX_INIT_HE_NORMAL || i == CX_INIT_NORMAL;
        print_message("%-14s mean %+.5f std %.5f max %.5f (expected %s %.5f)\n", init_names[i],
                      mean, std, maxabs, normal ? "std" : "bound", expect[i]);
        assert_true(fabs(mean) < 0.05 * expect[i]);
        if (normal) {
            assert_true(fabs(std / expect[i] - 1) < 0.03);
        } else {
            assert_true(maxabs <= expect[i] * (1 + 1e-6) && maxabs > 0.99 * expect[i]);
            assert_true(fabs(std / (expect[i] / sqrt(3.0)) - 1) < 0.03);
        }
        /* biases: U(±1/sqrt(fan_in)) by default, zero with an explicit init */
        const float *b = cx_tensor_f32(cx_model_param(m, 1));
        double bmax = 0;
        for (int k = 0; k < 512; k++)
            bmax = fmax(bmax, fabs(b[k]));
        if (i == 0)
            assert_true(bmax <= 1 / sqrt(fi) && bmax > 0.95 / sqrt(fi));
        else
            assert_true(bmax == 0);
        cx_model_free(m);
    }
}

/* ---- config files ---- */

#define EXPECT_CONFIG_ERROR(text, ...)                                                             \
    cx_test_config_error(text, (const char *const[]){__VA_ARGS__, NULL})

static void config_errors(void **state) {
    (void)state;
    /* config text, then parts the message must contain */
    static const struct {
        const char *text;
        const char *parts[6];
    } cases[] = {
        {"[model]\ninput = 4\n\n[conv]\n",
         {"bad.cfg:4:", "[conv]", "valid sections: model, train, adaptiveavgpool2d, add", "dense, dropout",
          "tanh"}},
        {"[model]\ninput = 4\n[dense]\nunits = 3\nunit = 2\n",
         {"bad.cfg:5:", "'unit'", "valid keys: units, bias, init, init_scale, activation"}},
        {"[model]\ninput = 4\n[relu]\nslope = 2\n", {"bad.cfg:4:", "takes no keys"}},
        {"[model]\ninput = 4\n[leaky_relu]\nalpha = 2\n", {"bad.cfg:4:", "valid keys: slope"}},
        {"[model]\ninput = 4\nloss = hinge\n", {"bad.cfg:3:", "cross_entropy, mse, bce"}},
        {"[model]\ninput = 4\nfoo = 1\n", {"bad.cfg:3:", "valid keys: input, loss"}},
        {"[model]\ninput = 4\n[dense]\nunits = many\n",
         {"bad.cfg:4:", "units = many", "whole number"}},
        {"[model]\ninput = 4\n[dense]\nunits = 1000000000000\n", {"bad.cfg:4:", "from 1 to"}},
        {"[model]\ninput = 4\n[dense]\nunits = 3\nbias = maybe\n", {"bad.cfg:5:", "true or false"}},
        {"[model]\ninput = 4\n[dense]\nunits = 3\ninit = kaiming\n",
         {"bad.cfg:5:", "default, glorot_uniform, glorot_normal, he_uniform"}},
        {"[model]\ninput = 4\n[dense]\nunits = 3\nactivation = swish\n",
         {"bad.cfg:5:", "elu, gelu, leaky_relu, log_softmax, relu"}},
        {"[model]\ninput = 4\n[dropout]\nrate = 1\n", {"bad.cfg:4:", "rate = 1"}},
        {"[model]\ninput = 4\n[dense]\n\n[relu]\n", {"bad.cfg:3:", "needs units"}},
        {"[model]\nloss = mse\n[relu]\n", {"bad.cfg:1:", "needs input"}},
        {"; nothing\n", {"bad.cfg:1:", "no [model]"}},
        {"[relu]\n[model]\ninput = 3\n", {"bad.cfg:1:", "before [model]"}},
        {"[model]\ninput = 3\n[model]\ninput = 3\n", {"bad.cfg:3:", "twice"}},
        {"[model]\ninput = 0,3\n", {"bad.cfg:2:", "input = 0,3"}},
        {"[model]\ninput = 1,2,3,4,5,6,7,8\n", {"bad.cfg:2:", "1 to 7 sizes"}},
        {"[model]\ninput = 4\n[dense\nunits = 2\n", {"bad.cfg:3:", "syntax error"}},
        {"[model]\ninput = 4\njust words\n", {"bad.cfg:3:", "syntax error"}},
        {"units = 3\n[model]\n", {"bad.cfg:1:", "before any section"}},
        {"[model]\ninput = 4\n[dense]\nunits = 3\nunits = 4\n", {"bad.cfg:5:", "twice"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cx_test_config_error(cases[i].text, cases[i].parts);
    /* absurd sizes are refused before anything is allocated */
    EXPECT_CONFIG_ERROR("[model]\ninput = 100000,100000\n[flatten]\n[dense]\nunits = 100000\n",
                        "bad.cfg:4:", "layer 1 (dense) on input [N,10000000000]",
                        "weight [100000,10000000000]");
    char *many = malloc(7 * 10001 + 32), *end = many + sprintf(many, "[model]\ninput = 4\n");
    for (int i = 0; i < 10001; i++)
        end += sprintf(end, "[relu]\n");
    EXPECT_CONFIG_ERROR(many, "bad.cfg:10003:", "more than 10000 layers");
    free(many);
    char *big = malloc((1 << 20) + 16);
    memset(big, ';', (1 << 20) + 8);
    big[(1 << 20) + 8] = '\0';
    EXPECT_CONFIG_ERROR(big, "larger than 1 MiB");
    free(big);
    char line[400];
    snprintf(line, sizeof line, "[model]\ninput = 4\n; %0300d\n", 0);
    EXPECT_CONFIG_ERROR(line, "bad.cfg:3:", "longer than");
    assert_null(cx_model_load_config("/nonexistent/model.cfg", NULL));
    assert_int_equal(cx_last_status(), CX_ERR_IO);
    cx_clear_error();
}

/* Canonical text parses back into the same model and the same text. */
static void config_round_trip(void **state) {
    (void)state;
    static const char text[] =
        "# a comment\n[model]\ninput = 3, 8 ; inline comment\nloss = BCE\n"
        "  [dense]\n  units = 5\n  bias = no\n\tinit = uniform\ninit_scale = 0.125\nactivation = "
        "elu\n"
        "[flatten]\n[dropout]\n[dense]\nunits = 7\ninit = he_normal\n[leaky_relu]\nslope = 0.3\n"
        "[dense]\nunits = 2\nactivation = sigmoid\n";
    static const char canonical[] =
        "[model]\ninput = 3,8\nloss = bce\n\n"
        "[dense]\nunits = 5\nbias = false\ninit = uniform\ninit_scale = 0.125\n\n[elu]\n\n"
        "[flatten]\n\n[dropout]\n\n[dense]\nunits = 7\ninit = he_normal\n\n"
        "[leaky_relu]\nslope = 0.3\n\n[dense]\nunits = 2\n\n[sigmoid]\n";
    cx_model *m = cx_test_model(text);
    assert_string_equal(cx_model_config(m), canonical);
    assert_int_equal(cx_model_num_layers(m), 8);
    assert_string_equal(cx_model_layer_kind(m, 1), "elu"); /* activation = elu: its own layer */
    assert_string_equal(cx_model_param_name(m, 1), "4.weight");
    assert_int_equal(cx_model_get_loss(m), CX_LOSS_BCE);
    cx_model *m2 = cx_test_model(cx_model_config(m));
    assert_string_equal(cx_model_config(m2), canonical);
    assert_int_equal(cx_model_num_params(m2), cx_model_num_params(m));
    for (int i = 0; i < cx_model_num_layers(m); i++) {
        int64_t a[CX_MAX_DIMS], b[CX_MAX_DIMS];
        int na = cx_model_layer_output_shape(m, i, a), nb = cx_model_layer_output_shape(m2, i, b);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, (size_t)na * sizeof *a);
        assert_string_equal(cx_model_layer_kind(m, i), cx_model_layer_kind(m2, i));
    }
    cx_model_free(m);
    cx_model_free(m2);
}

static void summary_mlp(void **state) {
    (void)state;
    cx_model *m = cx_model_load_config("models/mlp.cfg", NULL);
    if (!m) fail_msg("%s", cx_last_error());
    assert_int_equal(cx_model_num_params(m), 669706);
    static const char *const names[] = {"1.weight", "1.bias",   "3.weight",
                                        "3.bias",   "5.weight", "5.bias"};
    assert_int_equal(cx_model_num_param_tensors(m), 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal(cx_model_param_name(m, i), names[i]);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(cx_model_summary(m, f), CX_OK);
    fclose(f);
    print_message("%s", buf);
    assert_non_null(strstr(buf, "Total params: 669,706\n"));
    assert_non_null(strstr(buf, "Trainable params: 669,706\n"));
    assert_non_null(
        strstr(buf, " 1 (Linear)                  (None, 512)               401,920\n"));
    assert_non_null(strstr(buf, "(None, 10)"));
    free(buf);
    /* the file is canonical below its comments */
    FILE *cfg = fopen("models/mlp.cfg", "r");
    char file[4096];
    size_t n = fread(file, 1, sizeof file - 1, cfg);
    fclose(cfg);
    file[n] = '\0';
    assert_non_null(strstr(file, cx_model_config(m)));
    cx_model_free(m);
}

/* ---- shapes and errors ---- */

static void shape_errors(void **state) {
    (void)state;
    assert_null(cx_model_new(0, NULL));
    assert_null(cx_model_new(CX_SHAPE(3, -1)));
    cx_clear_error();
    cx_model *m = cx_model_new(CX_SHAPE(4, 6));
    assert_int_equal(cx_model_add_dense(m, 5, true, CX_INIT_DEFAULT, 0, NULL), CX_OK);
    int64_t s[CX_MAX_DIMS];
    assert_int_equal(cx_model_output_shape(m, s), 2); /* dense acts on the last dimension */
    assert_true(s[0] == 4 && s[1] == 5);
    /* refused at build time, model unchanged */
    assert_int_equal(cx_model_add_dense(m, 0, true, CX_INIT_DEFAULT, 0, NULL), CX_ERR_ARG);
    assert_non_null(strstr(cx_last_error(), "layer 1 (dense) on input [N,4,5]: units = 0"));
    assert_int_equal(cx_model_add_dropout(m, 1.5f), CX_ERR_ARG);
    assert_non_null(strstr(cx_last_error(), "layer 1 (dropout) on input [N,4,5]: rate = 1.5"));
    assert_int_equal(cx_model_add_flatten(m), CX_OK);
    assert_int_equal(cx_model_add_dense(m, (int64_t)1 << 30, true, CX_INIT_DEFAULT, 0, NULL),
                     CX_ERR_OOM);
    assert_non_null(
        strstr(cx_last_error(), "layer 2 (dense) on input [N,20]: weight [1073741824,20]"));
    assert_int_equal(cx_model_num_layers(m), 2);
    assert_int_equal(cx_model_num_params(m), 35);
    /* a batch of the wrong sample shape names both */
    cx_tensor *x = cx_zeros(CX_SHAPE(2, 4, 7));
    assert_null(cx_model_forward(m, x));
    assert_int_equal(cx_last_status(), CX_ERR_SHAPE);
    assert_non_null(strstr(cx_last_error(), "[2,4,7]"));
    assert_non_null(strstr(cx_last_error(), "[N,4,6]"));
    cx_tensor_free(x);
    cx_clear_error();
    /* weights by name: missing tensors and shape mismatches are named */
    const char *path = "build/test_nn_weights.safetensors";
    cx_tensor *w = cx_zeros(CX_SHAPE(5, 7)), *b = cx_zeros(CX_SHAPE(5));
    assert_int_equal(cx_safetensors_save(path, 1, (const char *[]){"0.weight"}, &w, 0, NULL, NULL),
                     CX_OK);
    cx_safetensors *f = cx_safetensors_open(path);
    assert_int_equal(cx_model_load_weights(m, f), CX_ERR_SHAPE);
    assert_non_null(
        strstr(cx_last_error(), "\"0.weight\" is f32 [5,7] in the file, the model has f32 [5,6]"));
    cx_safetensors_close(f);
    cx_tensor_free(w);
    w = cx_ones(CX_SHAPE(5, 6));
    assert_int_equal(cx_safetensors_save(path, 1, (const char *[]){"0.weight"}, &w, 0, NULL, NULL),
                     CX_OK);
    f = cx_safetensors_open(path);
    assert_int_equal(cx_model_load_weights(m, f), CX_ERR_FORMAT);
    assert_non_null(strstr(cx_last_error(), "no tensor \"0.bias\""));
    cx_safetensors_close(f);
    cx_tensor *both[2] = {w, b};
    assert_int_equal(
        cx_safetensors_save(path, 2, (const char *[]){"0.weight", "0.bias"}, both, 0, NULL, NULL),
        CX_OK);
    f = cx_safetensors_open(path);
    assert_int_equal(cx_model_load_weights(m, f), CX_OK);
    assert_true(cx_model_params_flat(m)[0] == 1.0f && cx_model_params_flat(m)[29] == 1.0f &&
                cx_model_params_flat(m)[30] == 0.0f);
    cx_safetensors_close(f);
    remove(path);
    cx_tensor_free(w);
    cx_tensor_free(b);
    cx_model_free(m);
    cx_clear_error();
}

/* Parameters are views of the flat vectors; a model built inside an arena survives its reset. */
static void flat_parameters(void **state) {
    (void)state;
    cx_arena *a = cx_arena_new(0);
    cx_arena_begin(a);
    cx_model *m =
        cx_test_model("[model]\ninput = 3\n[dense]\nunits = 4\n[dense]\nunits = 2\nbias = false\n");
    cx_arena_end(a);
    cx_arena_reset(a);
    cx_arena_free(a);
    assert_int_equal(cx_model_num_params(m), 12 + 4 + 8);
    float *flat = cx_model_params_flat(m), *grads = cx_model_grads_flat(m);
    int64_t off = 0;
    for (int i = 0; i < cx_model_num_param_tensors(m); i++) {
        cx_tensor *p = cx_model_param(m, i);
        assert_true(cx_tensor_valid(p) && cx_tensor_requires_grad(p));
        assert_ptr_equal(cx_tensor_f32(p), flat + off);
        assert_ptr_equal(cx_tensor_f32(cx_tensor_grad(p)), grads + off);
        off += cx_tensor_numel(p);
    }
    assert_ptr_equal(cx_model_param_by_name(m, "1.weight"), cx_model_param(m, 2));
    assert_null(cx_model_param_by_name(m, "1.bias"));
    /* zeroing one gradient leaves the others */
    for (int64_t i = 0; i < off; i++)
        grads[i] = 1;
    cx_tensor_zero_grad(cx_model_param(m, 1));
    assert_true(grads[11] == 1 && grads[12] == 0 && grads[15] == 0 && grads[16] == 1);
    cx_model_zero_grad(m);
    assert_true(grads[0] == 0 && grads[off - 1] == 0);
    cx_model_free(m);
}

static void dropout_train_eval(void **state) {
    (void)state;
    const int64_t n = 20000;
    const float rate = 0.3f;
    cx_model *m = cx_model_new(CX_SHAPE(n));
    assert_int_equal(cx_model_add_dropout(m, rate), CX_OK);
    cx_tensor *x = cx_rand(NULL, CX_SHAPE(1, n));
    cx_tensor *shifted = cx_add_scalar(x, 0.5f); /* no zeros in x */
    cx_tensor_free(x);
    x = shifted;
    assert_int_equal(cx_tensor_set_requires_grad(x, true), CX_OK);
    const float *xd = cx_tensor_f32(x);
    assert_false(cx_model_training(m));
    cx_tensor *y = cx_model_forward(m, x);
    cx_test_compare("eval", y, x, 0);
    cx_tensor_free(y);

    cx_model_set_training(m, true);
    cx_model_seed(m, 11);
    y = cx_model_forward(m, x);
    cx_tensor *ones = cx_ones(CX_SHAPE(1, n));
    assert_int_equal(cx_backward_grad(y, ones), CX_OK);
    cx_tensor_free(ones);
    const float *yd = cx_tensor_f32(y), *g = cx_tensor_f32(cx_tensor_grad(x));
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        if (yd[i] == 0) {
            zeros++;
            assert_true(g[i] == 0);
        } else {
            assert_float_equal(yd[i], xd[i] / (1 - rate), 1e-6);
            assert_float_equal(g[i], 1 / (1 - rate), 1e-6);
        }
    }
    double frac = (double)zeros / (double)n;
    print_message("dropout rate %.2f: %.4f of %lld zeroed\n", rate, frac, (long long)n);
    assert_true(fabs(frac - rate) < 0.015);
    cx_tensor_free(y);
    /* the same seed draws the same mask */
    cx_model_seed(m, 11);
    cx_tensor *y1 = cx_model_forward(m, x);
    cx_model_seed(m, 11);
    cx_tensor *y2 = cx_model_forward(m, x);
    cx_test_compare("same seed", y1, y2, 0);
    cx_tensor_free(y1);
    cx_tensor_free(y2);
    cx_tensor_free(x);
    cx_model_free(m);
}

/* cx_model_loss folds a final softmax / sigmoid: logits are the input of that layer. */
static void loss_folds_final_activation(void **state) {
    (void)state;
    cx_model *m = cx_test_model("[model]\ninput = 5\n[dense]\nunits = 3\n[softmax]\n");
    cx_tensor *x = cx_randn(NULL, CX_SHAPE(4, 5));
    int32_t lab[4] = {0, 1, 2, 1};
    cx_tensor *labels = cx_from_data(CX_DTYPE_I32, CX_SHAPE(4), lab), *logits = NULL;
    cx_tensor *loss = cx_model_loss(m, x, labels, &logits);
    assert_non_null(loss);
    cx_tensor *probs = cx_model_forward(m, x), *again = cx_softmax(logits, -1);
    cx_test_compare("softmax(logits)", again, probs, 1e-6f);
    cx_tensor *want = cx_cross_entropy(logits, labels, CX_REDUCTION_MEAN);
    cx_test_compare("loss", loss, want, 1e-6f);
    cx_tensor_free(want);
    cx_tensor *bad = cx_zeros(CX_SHAPE(4, 3));
    assert_null(cx_model_loss(m, x, bad, NULL)); /* cross-entropy takes i32 labels */
    assert_int_equal(cx_last_status(), CX_ERR_DTYPE);
    cx_clear_error();
    cx_tensor *tensors[] = {loss, logits, probs, again, bad, labels, x};
    for (int i = 0; i < 7; i++)
        cx_tensor_free(tensors[i]);
    cx_model_free(m);
}

/* ---- gradients of whole models ---- */

/* loss(params + t*d, x + t*dx) with the model's dropout mask fixed by reseeding. */
static double loss_at(cx_model *m, cx_tensor *x, cx_tensor *target) {
    cx_model_seed(m, 5);
    cx_no_grad_begin();
    cx_tensor *l = cx_model_loss(m, x, target, NULL);
    cx_no_grad_end();
    assert_non_null(l);
    double v = cx_tensor_item(l);
    cx_tensor_free(l);
    return v;
}

static void shift(float *v, const float *d, int64_t n, float t) {
    for (int64_t i = 0; i < n; i++)
        v[i] += t * d[i];
}

static void gradcheck_model(const char *text, cx_tensor *target) {
    cx_model *m = cx_test_model(text);
    cx_model_set_training(m, true);
    cx_rng *rng = cx_rng_new(99);
    int64_t in[CX_MAX_DIMS];
    int nd = cx_model_input_shape(m, in);
    int64_t shape[CX_MAX_DIMS] = {4};
    memcpy(shape + 1, in, (size_t)nd * sizeof *in);
    cx_tensor *x = cx_randn(rng, nd + 1, shape);
    assert_int_equal(cx_tensor_set_requires_grad(x, true), CX_OK);
    cx_model_seed(m, 5);
    cx_tensor *l = cx_model_loss(m, x, target, NULL);
    assert_non_null(l);
    assert_int_equal(cx_backward(l), CX_OK);
    cx_tensor_free(l);

    int64_t np = cx_model_num_params(m), nx = cx_tensor_numel(x);
    cx_tensor *dp = cx_randn(rng, CX_SHAPE(np)), *dx = cx_randn(rng, CX_SHAPE(nx));
    float *p = cx_model_params_flat(m), *xv = cx_tensor_f32(x);
    const float *gp = cx_model_grads_flat(m), *gx = cx_tensor_f32(cx_tensor_grad(x));
    double analytic = 0, analytic_x = 0;
    for (int64_t i = 0; i < np; i++)
        analytic += (double)gp[i] * cx_tensor_f32(dp)[i];
    for (int64_t i = 0; i < nx; i++)
        analytic_x += (double)gx[i] * cx_tensor_f32(dx)[i];
    const float eps = 1e-3f;
    double numeric[2];
    for (int which = 0; which < 2; which++) { /* parameters, then the input */
        float *v = which ? xv : p;
        const float *d = cx_tensor_f32(which ? dx : dp);
        int64_t n = which ? nx : np;
        shift(v, d, n, eps);
        double up = loss_at(m, x, target);
        shift(v, d, n, -2 * eps);
        double down = loss_at(m, x, target);
        shift(v, d, n, eps);
        numeric[which] = (up - down) / (2 * eps);
    }
    print_message("directional derivative: params %.6f vs %.6f, input %.6f vs %.6f\n", analytic,
                  numeric[0], analytic_x, numeric[1]);
    assert_true(fabs(analytic - numeric[0]) <= 1e-2 * fmax(fabs(numeric[0]), 1e-2));
    assert_true(fabs(analytic_x - numeric[1]) <= 1e-2 * fmax(fabs(numeric[1]), 1e-2));
    cx_tensor_free(dp);
    cx_tensor_free(dx);
    cx_tensor_free(x);
    cx_rng_free(rng);
    cx_model_free(m);
}

static void gradcheck_models(void **state) {
    (void)state;
    int32_t lab[4] = {2, 0, 1, 2};
    cx_tensor *labels = cx_from_data(CX_DTYPE_I32, CX_SHAPE(4), lab);
    gradcheck_model("[model]\ninput = 2,3\n[dense]\nunits = 5\nactivation = tanh\n[flatten]\n"
                    "[dense]\nunits = 6\n[gelu]\n[dropout]\nrate = 0.25\n[dense]\nunits = 4\n"
                    "[elu]\n[dense]\nunits = 3\n[softmax]\n",
                    labels);
    cx_tensor *probs = cx_rand(NULL, CX_SHAPE(4, 2));
    gradcheck_model("[model]\ninput = 3\nloss = bce\n[dense]\nunits = 6\ninit = glorot_normal\n"
                    "[leaky_relu]\nslope = 0.1\n[dense]\nunits = 2\n[sigmoid]\n",
                    probs);
    cx_tensor *target = cx_randn(NULL, CX_SHAPE(4, 2, 2));
    gradcheck_model("[model]\ninput = 2,5\nloss = mse\n[dense]\nunits = 3\n[log_softmax]\n"
                    "[dense]\nunits = 2\nactivation = sigmoid\n",
                    target);
    cx_tensor_free(labels);
    cx_tensor_free(probs);
    cx_tensor_free(target);
}

/* ---- steady state ---- */

static void steady_state_allocates_nothing(void **state) {
    (void)state;
    cx_test_steady_state("[model]\ninput = 1,4,5\n[flatten]\n[dense]\nunits = 32\n"
                         "activation = relu\n[dropout]\nrate = 0.1\n[dense]\nunits = 32\n"
                         "activation = relu\n[dense]\nunits = 10\n",
                         16, 10, 20, 0.1f);
}

/* ---- failed allocations ---- */

/* Every allocation of building a model, running it and its config text fails in turn: each
 * gives an error (never a crash), and everything is freed (the sanitizer build checks). */
static void failed_allocations(void **state) {
    (void)state;
    static const char text[] = "[model]\ninput = 2,3\n[flatten]\n[dense]\nunits = 8\n"
                               "activation = relu\n[dropout]\n[dense]\nunits = 3\n[softmax]\n";
    cx_tensor *x = cx_randn(NULL, CX_SHAPE(4, 2, 3));
    int32_t lab[4] = {0, 1, 2, 0};
    cx_tensor *labels = cx_from_data(CX_DTYPE_I32, CX_SHAPE(4), lab);
    int failures = 0;
    for (long n = 0; n < 400; n++) {
        cx_test_fail_countdown = n;
        cx_set_allocator(&cx_test_counting_allocator);
        cx_model *m = cx_model_from_config(text, "oom.cfg", NULL);
        cx_tensor *loss = NULL;
        const char *cfg = NULL;
        if (m) {
            cx_model_set_training(m, true);
            loss = cx_model_loss(m, x, labels, NULL);
            if (loss) cx_backward(loss);
            cfg = cx_model_config(m);
        }
        bool done = cx_test_fail_countdown >= 0; /* nothing failed: all allocations tried */
        cx_test_fail_countdown = -1;
        cx_tensor_free(loss);
        cx_model_free(m);
        cx_set_allocator(NULL);
        if (done) {
            assert_non_null(cfg);
            break;
        }
        failures++;
        if (!m) assert_int_equal(cx_last_status(), CX_ERR_OOM);
        cx_clear_error();
    }
    print_message("%d allocations failed in turn\n", failures);
    assert_true(failures > 10 && failures < 400);
    cx_tensor_free(x);
    cx_tensor_free(labels);
}

CX_TEST_GROUP(nn) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_softmax_ce),
        cmocka_unit_test(golden_log_softmax_ce),
        cmocka_unit_test(golden_sigmoid_bce),
        cmocka_unit_test(golden_tanh_mse),
        cmocka_unit_test(init_matches_torch),
        cmocka_unit_test(init_statistics),
        cmocka_unit_test(config_errors),
        cmocka_unit_test(config_round_trip),
        cmocka_unit_test(summary_mlp),
        cmocka_unit_test(shape_errors),
        cmocka_unit_test(flat_parameters),
        cmocka_unit_test(dropout_train_eval),
        cmocka_unit_test(loss_folds_final_activation),
        cmocka_unit_test(gradcheck_models),
        cmocka_unit_test(steady_state_allocates_nothing),
        cmocka_unit_test(failed_allocations),
    };
    CX_RUN_GROUP("nn", tests);
}
