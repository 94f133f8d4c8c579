/*
 * test_cnn.c - convolutional models: the image layers' config keys and their errors
 * (file:line), size arithmetic refused at build time (also by `cortex summary`), graphs
 * (names, input =, [add], [concat]) and their canonical text, the parameter totals of every
 * model in models/, a golden against torch for a small residual/inception graph
 * (scripts/golden/cnn.py wrote tests/golden/cnn.safetensors), batch norm's training and
 * evaluation modes and buffers, freezing, and a steady-state CNN step that allocates nothing.
 */
#include "test.h"

#include <math.h>
#include <string.h>

#define GOLDEN_PATH "tests/golden/cnn.safetensors"

/* The layers of scripts/golden/cnn.py. */
static const char golden_text[] =
    "[model]\ninput = 3,8,8\n"
    "[conv2d]\nfilters = 8\nkernel = 3\npadding = 1\n[batchnorm]\n[relu]\nname = a\n"
    "[conv2d]\nfilters = 8\nkernel = 3\npadding = same\n[batchnorm]\n[add]\nfrom = a\n[relu]\n"
    "[maxpool2d]\nname = pool\nkernel = 2\n"
    "[conv2d]\nname = b1\nfilters = 4\nkernel = 1\n"
    "[conv2d]\ninput = pool\nfilters = 6\nkernel = 3,3\npadding = 1\nactivation = relu\n"
    "name = b3\n"
    "[concat]\nlayers = pool, b1, -1\n[globalavgpool2d]\n[flatten]\n[dense]\nunits = 5\n"
    "[softmax]\n";

static void compare_golden(cx_safetensors *g, const char *key, cx_tensor *got) {
    cx_tensor *want = cx_safetensors_get(g, key);
    cx_test_compare(key, got, want, 1e-4f);
    cx_tensor_free(want);
}

/* ---- config keys and errors ---- */

static void config_errors(void **state) {
    (void)state;
    static const struct {
        const char *text;
        const char *parts[5];
    } cases[] = {
        {"[model]\ninput = 1,8,8\n[conv2d]\nfilters = 4\n", {"bad.cfg:3:", "needs kernel"}},
        {"[model]\ninput = 1,8,8\n[conv2d]\nfilters = 4\nkernel = 0\n",
         {"bad.cfg:5:", "kernel = 0", "two (height,width)"}},
        {"[model]\ninput = 1,8,8\n[conv2d]\nfilters = 4\nkernel = 3,5,7\n",
         {"bad.cfg:5:", "kernel = 3,5,7"}},
        {"[model]\ninput = 1,8,8\n[conv2d]\nfilters = 4\nkernel = 3\npadding = full\n",
         {"bad.cfg:6:", "expected same, valid"}},
        {"[model]\ninput = 1,8,8\n[conv2d]\nfilters = 4\nkernel = 3\nkernal = 3\n",
         {"bad.cfg:6:", "valid keys: filters, kernel, stride, padding, dilation, groups, bias",
          "floor", "activation, name, input, trainable"}},
        {"[model]\ninput = 1,8,8\n[conv2d]\nfilters = 4\nkernel = 3\npadding = same\n"
         "stride = 2\n",
         {"bad.cfg:3:", "layer 0 (conv2d)", "padding = same needs stride 1"}},
        {"[model]\ninput = 3,8,8\n[conv2d]\nfilters = 4\nkernel = 3\ngroups = 2\n",
         {"bad.cfg:3:", "groups = 2 must divide the 3 input channels"}},
        {"[model]\ninput = 8\n[conv2d]\nfilters = 4\nkernel = 3\n",
         {"bad.cfg:3:", "expects image samples [C,H,W]"}},
        {"[model]\ninput = 1,8,8\n[maxpool2d]\nkernel = 2\ncount_include_pad = false\n",
         {"bad.cfg:5:", "valid keys: kernel, stride, padding, ceil_mode, dilation"}},
        {"[model]\ninput = 1,8,8\n[maxpool2d]\nkernel = 2\npadding = 2\n",
         {"bad.cfg:3:", "more than half the window"}},
        {"[model]\ninput = 1,8,8\n[upsample]\nscale = 2\nsize = 4\n",
         {"bad.cfg:3:", "either scale or size"}},
        {"[model]\ninput = 1,8,8\n[upsample]\nscale = 2\nmode = cubic\n",
         {"bad.cfg:5:", "nearest, bilinear"}},
        {"[model]\ninput = 1,8,8\n[upsample]\nscale = 2\nalign_corners = true\n",
         {"bad.cfg:3:", "bilinear only"}},
        {"[model]\ninput = 1,8,8\n[adaptiveavgpool2d]\n", {"bad.cfg:3:", "needs size"}},
        {"[model]\ninput = 1,2,3,4\n[batchnorm]\n", {"bad.cfg:3:", "[C,H,W] samples"}},
        {"[model]\ninput = 4\n[batchnorm]\nmomentum = 2\n", {"bad.cfg:4:", "momentum = 2"}},
        {"[model]\ninput = 4\n[relu]\n[add]\nfrom = nowhere\n",
         {"bad.cfg:5:", "from = nowhere", "no earlier layer is called 'nowhere'"}},
        {"[model]\ninput = 4\n[relu]\n[add]\nfrom = -3\n",
         {"bad.cfg:5:", "N is 1 to 2"}},
        {"[model]\ninput = 4\n[relu]\n[add]\n", {"bad.cfg:4:", "[add] needs from"}},
        {"[model]\ninput = 4\n[dense]\nunits = 3\n[add]\nfrom = input\n",
         {"bad.cfg:5:", "layer 1 (add)", "cannot add [N,4] of the model input to the input [N,3]"}},
        {"[model]\ninput = 4\n[relu]\ninput = b\n", {"bad.cfg:4:", "input = b"}},
        {"[model]\ninput = 4\n[relu]\nname = a\n[relu]\nname = a\n",
         {"bad.cfg:5:", "layer 1 (relu)", "name 'a' is taken by layer 0 (relu)"}},
        {"[model]\ninput = 4\n[relu]\nname = 1a\n", {"bad.cfg:3:", "name '1a'"}},
        {"[model]\ninput = 4\n[relu]\nname = input\n", {"bad.cfg:3:", "'input' is taken"}},
        {"[model]\ninput = 4\n[relu]\nname = a\nname = b\n", {"bad.cfg:5:", "name is given twice"}},
        {"[model]\ninput = 4\n[relu]\ntrainable = false\n",
         {"bad.cfg:3:", "no parameters to freeze"}},
        {"[model]\ninput = 4\n[dense]\nunits = 2\ntrainable = maybe\n",
         {"bad.cfg:5:", "true or false"}},
        {"[model]\ninput = 4\n[relu]\nslope = 1\n", {"bad.cfg:4:", "takes no keys of its own",
                                                     "name, input, trainable"}},
        {"[model]\ninput = 2,4,4\n[relu]\nname = a\n[maxpool2d]\nkernel = 2\n[concat]\n"
         "layers = a, -1\n",
         {"bad.cfg:7:", "layer 2 (concat)", "[N,2,2,2] does not join layer 0's [N,2,4,4]"}},
        {"[model]\ninput = 4\n[concat]\nlayers = input,,input\n", {"bad.cfg:4:", "layers ="}},
        {"[model]\ninput = 4\n[relu]\n[concat]\ninput = -2\nlayers = -1\n",
         {"bad.cfg:5:", "[concat] reads the layers its layers = lists, not an input"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cx_test_config_error(cases[i].text, cases[i].parts);
    cx_clear_error();
}

/* ---- size arithmetic ---- */

static void refused_arithmetic(void **state) {
    (void)state;
    static const char bad[] = "[model]\ninput = 1,9,9\n[conv2d]\nfilters = 4\nkernel = 3\n"
                              "activation = relu\n[conv2d]\nfilters = 4\nkernel = 3\nstride = 3\n";
    const char *msg = "layer 2 (conv2d) on input [N,4,7,7]: input 7x7 with kernel 3, stride 3, "
                      "padding 0 does not fit: (7 + 0 - 3) / 3 + 1 is not whole; use padding 1 "
                      "(or floor = true)";
    assert_null(cx_model_from_config(bad, "bad.cfg", NULL));
    assert_int_equal(cx_last_status(), CX_ERR_SHAPE);
    assert_non_null(strstr(cx_last_error(), "bad.cfg:7: "));
    if (!strstr(cx_last_error(), msg)) fail_msg("%s", cx_last_error());
    /* torch's floor when asked: (7 - 3) / 3 + 1 = 2 */
    char text[512];
    snprintf(text, sizeof text, "%sfloor = true\n", bad);
    cx_model *m = cx_test_model(text);
    int64_t s[CX_MAX_DIMS];
    assert_int_equal(cx_model_output_shape(m, s), 3);
    assert_true(s[0] == 4 && s[1] == 2 && s[2] == 2);
    assert_non_null(strstr(cx_model_config(m), "floor = true\n"));
    cx_model_free(m);
    /* the C API refuses the same way; output sizes below 1 always */
    m = cx_model_new(CX_SHAPE(1, 7, 5));
    assert_int_equal(cx_model_add_conv2d(m, 2, 3, 3, &(cx_conv2d_params){.stride = {3, 3}},
                                         true, NULL),
                     CX_ERR_SHAPE);
    assert_non_null(strstr(cx_last_error(), "input 7x5 with kernel 3, stride 3"));
    assert_int_equal(cx_model_add_conv2d(m, 2, 9, 3, NULL, true, NULL), CX_ERR_SHAPE);
    assert_non_null(strstr(cx_last_error(), "(7 + 0 - 9) / 1 + 1 = -1 is below 1"));
    assert_int_equal(cx_model_add_conv2d(m, 2, 3, 3, &(cx_conv2d_params){.dilation = {4, 1}},
                                         true, NULL),
                     CX_ERR_SHAPE);
    assert_non_null(strstr(cx_last_error(), "dilation 4x1"));
    /* pooling floors as torch does (7 -> 3), or rounds up with ceil_mode (7 -> 4) */
    assert_int_equal(cx_model_add_max_pool2d(m, &(cx_pool2d_params){.kernel = {2, 2}}), CX_OK);
    assert_int_equal(cx_model_output_shape(m, s), 3);
    assert_true(s[1] == 3 && s[2] == 2);
    cx_model_free(m);
    m = cx_test_model("[model]\ninput = 1,7,7\n[avgpool2d]\nkernel = 2\nceil_mode = true\n"
                  "[maxpool2d]\nkernel = 3\nstride = 2\npadding = 1\nceil_mode = true\n"
                  "[conv_transpose2d]\nfilters = 2\nkernel = 3\nstride = 2\npadding = 1\n"
                  "output_padding = 1\n[upsample]\nscale = 1.5\n[adaptiveavgpool2d]\nsize = 3,2\n");
    static const int64_t want[][3] = {{1, 4, 4}, {1, 3, 3}, {2, 6, 6}, {2, 9, 9}, {2, 3, 2}};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(cx_model_layer_output_shape(m, i, s), 3);
        assert_memory_equal(s, want[i], sizeof want[i]);
    }
    cx_model_free(m);
    /* a torch ceil_mode window that would start in the right padding is dropped: 4 -> 3 */
    m = cx_test_model("[model]\ninput = 1,5,5\n[maxpool2d]\nkernel = 2\nstride = 2\npadding = 1\n"
                  "ceil_mode = true\n");
    assert_int_equal(cx_model_output_shape(m, s), 3);
    assert_true(s[1] == 3);
    cx_model_free(m);
    cx_clear_error();
}

/* `cortex summary` prints the same refusal. */
static void summary_cli_error(void **state) {
    (void)state;
    const char *cli = getenv("CX_CLI");
    if (!cli) {
        print_message("skipped: set CX_CLI to the cortex binary (make test does)\n");
        return;
    }
    const char *dir = cx_test_scratch_new("cnn");
    assert_non_null(dir);
    const char *path = cx_test_path("bad.cfg");
    FILE *f = fopen(path, "w");
    fputs("[model]\ninput = 1,7,7\n[conv2d]\nfilters = 2\nkernel = 3\nstride = 3\n", f);
    fclose(f);
    char cmd[600], out[2048] = "";
    snprintf(cmd, sizeof cmd, "%s summary %s 2>&1", cli, path);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    print_message("%s", out);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    assert_non_null(strstr(out, "cortex: error: "));
    assert_non_null(strstr(out, "bad.cfg:3: layer 0 (conv2d) on input [N,1,7,7]: input 7x7 "
                                "with kernel 3, stride 3, padding 0 does not fit: (7 + 0 - 3) "
                                "/ 3 + 1 is not whole; use padding 1"));
    cx_test_scratch_remove();
}

/* ---- graphs ---- */

static void graph_config_round_trip(void **state) {
    (void)state;
    cx_model *m = cx_test_model(golden_text);
    assert_int_equal(cx_model_num_layers(m), 16);
    assert_string_equal(cx_model_layer_name(m, 2), "a");
    assert_string_equal(cx_model_layer_name(m, 10), "b3"); /* the name of a section's output */
    assert_string_equal(cx_model_layer_name(m, 9), "");
    assert_int_equal(cx_model_layer_input(m, 9), 7);
    assert_int_equal(cx_model_layer_input(m, 0), -1);
    int64_t s[CX_MAX_DIMS];
    assert_int_equal(cx_model_layer_output_shape(m, 11, s), 3);
    assert_true(s[0] == 18 && s[1] == 4 && s[2] == 4);
    static const char *const names[] = {"0.weight", "0.bias", "1.weight", "1.bias", "3.weight"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(cx_model_param_name(m, i), names[i]);
    const char *text = cx_model_config(m);
    assert_non_null(strstr(text, "[relu]\nname = a\n\n[conv2d]\nfilters = 8\nkernel = 3\n"
                                 "padding = same\n"));
    assert_non_null(strstr(text, "[conv2d]\ninput = pool\nfilters = 6\nkernel = 3\n"
                                 "padding = 1\n\n[relu]\nname = b3\n"));
    assert_non_null(strstr(text, "[add]\nfrom = a\n"));
    assert_non_null(strstr(text, "[concat]\nlayers = pool,b1,b3\n"));
    cx_model *m2 = cx_test_model(text);
    assert_string_equal(cx_model_config(m2), text);
    assert_int_equal(cx_model_num_params(m2), cx_model_num_params(m));
    cx_model_free(m2);
    cx_model_free(m);
    /* unnamed references are written as -N and read back the same */
    m = cx_test_model("[model]\ninput = 2,4,4\n[relu]\n[tanh]\n[add]\nfrom = -2\n[concat]\n"
                  "layers = -1,-3,input\n[sigmoid]\ninput = -3\n");
    text = cx_model_config(m);
    assert_non_null(strstr(text, "[add]\nfrom = -2\n"));
    assert_non_null(strstr(text, "[concat]\nlayers = -1,-3,input\n"));
    assert_non_null(strstr(text, "[sigmoid]\ninput = -3\n"));
    assert_int_equal(cx_model_layer_output_shape(m, 3, s), 3);
    assert_true(s[0] == 6);
    assert_int_equal(cx_model_layer_input(m, 4), 1);
    m2 = cx_test_model(text);
    assert_string_equal(cx_model_config(m2), text);
    cx_model_free(m2);
    cx_model_free(m);
}

/* The C API builds the same graph: branches, add, concat. */
static void graph_c_api(void **state) {
    (void)state;
    cx_model *m = cx_model_new(CX_SHAPE(2, 4, 4));
    assert_int_equal(cx_model_add_conv2d(m, 2, 3, 3, &(cx_conv2d_params){.same = true}, true,
                                         NULL),
                     CX_OK);
    assert_int_equal(cx_model_add_add(m, -1), CX_OK); /* conv(x) + x */
    assert_int_equal(cx_model_branch(m, -1), CX_OK);
    assert_int_equal(cx_model_add_conv2d(m, 3, 1, 1, NULL, false, NULL), CX_OK);
    assert_int_equal(cx_model_set_layer_name(m, 2, "side"), CX_OK);
    assert_int_equal(cx_model_add_concat(m, 2, (const int[]){1, 2}), CX_OK);
    assert_int_equal(cx_model_add_global_avg_pool2d(m), CX_OK);
    assert_int_equal(cx_model_layer_input(m, 2), -1);
    assert_int_equal(cx_model_branch(m, 7), CX_ERR_ARG);
    assert_int_equal(cx_model_set_layer_name(m, 3, "side"), CX_ERR_ARG);
    int64_t s[CX_MAX_DIMS];
    assert_int_equal(cx_model_output_shape(m, s), 3);
    assert_true(s[0] == 5 && s[1] == 1 && s[2] == 1);
    assert_string_equal(cx_model_config(m),
                        "[model]\ninput = 2,4,4\n\n[conv2d]\nfilters = 2\nkernel = 3\n"
                        "padding = same\n\n[add]\nfrom = input\n\n[conv2d]\nname = side\n"
                        "input = input\nfilters = 3\nkernel = 1\nbias = false\n\n[concat]\n"
                        "layers = -2,side\n\n[globalavgpool2d]\n");
    cx_tensor *x = cx_randn(NULL, CX_SHAPE(2, 2, 4, 4));
    cx_tensor *y = cx_model_forward(m, x);
    if (!y) fail_msg("%s", cx_last_error());
    /* channels 2..4 are the mean of the 1x1 conv of x, which has no bias */
    cx_tensor *w = cx_model_param(m, 2);
    cx_tensor *side = cx_conv2d(x, w, NULL, NULL);
    cx_tensor *pooled = cx_adaptive_avg_pool2d(side, 1, 1);
    cx_tensor *part = cx_slice(y, 1, 2, 5, 1);
    cx_test_compare("side branch", part, pooled, 1e-5f);
    cx_tensor *all[] = {x, y, side, pooled, part};
    for (int i = 0; i < 5; i++)
        cx_tensor_free(all[i]);
    cx_model_free(m);
    cx_clear_error();
}

/* Each layer hands its settings to its op: the model's output equals the ops called directly
 * with the same weights. */
static void layers_match_ops(void **state) {
    (void)state;
    cx_model *m = cx_test_model(
        "[model]\ninput = 2,5,5\n"
        "[conv_transpose2d]\nfilters = 4\nkernel = 3\nstride = 2\npadding = 1\n"
        "output_padding = 1\ngroups = 2\n"
        "[avgpool2d]\nkernel = 3\nstride = 2\npadding = 1\ncount_include_pad = false\n"
        "[upsample]\nsize = 7,6\nmode = bilinear\nalign_corners = true\n"
        "[conv2d]\nfilters = 2\nkernel = 3,2\nstride = 2,1\ndilation = 2,1\nfloor = true\n"
        "bias = false\n"
        "[maxpool2d]\nkernel = 2\ndilation = 1,2\nceil_mode = true\n"
        "[adaptiveavgpool2d]\nsize = 2,3\n[flatten]\n[batchnorm]\n");
    cx_tensor *x = cx_randn(NULL, CX_SHAPE(3, 2, 5, 5));
    cx_tensor *y = cx_model_forward(m, x);
    if (!y) fail_msg("%s", cx_last_error());
    cx_conv_transpose2d_params ct = {.stride = {2, 2}, .padding = {1, 1},
                                     .output_padding = {1, 1}, .groups = 2};
    cx_pool2d_params avg = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1},
                            .exclude_pad = true};
    cx_conv2d_params cv = {.stride = {2, 1}, .dilation = {2, 1}};
    cx_pool2d_params mx = {.kernel = {2, 2}, .dilation = {1, 2}, .ceil_mode = true};
    cx_tensor *h[8];
    h[0] = cx_conv_transpose2d(x, cx_model_param(m, 0), cx_model_param(m, 1), &ct);
    h[1] = cx_avg_pool2d(h[0], &avg);
    h[2] = cx_upsample2d(h[1], 7, 6, CX_UPSAMPLE_BILINEAR, true);
    h[3] = cx_conv2d(h[2], cx_model_param(m, 2), NULL, &cv);
    h[4] = cx_max_pool2d(h[3], &mx);
    h[5] = cx_adaptive_avg_pool2d(h[4], 2, 3);
    h[6] = cx_reshape(h[5], CX_SHAPE(3, 12));
    h[7] = cx_batch_norm(h[6], cx_model_param(m, 3), cx_model_param(m, 4), cx_model_buffer(m, 0),
                         cx_model_buffer(m, 1), false, 0.1f, 1e-5f);
    for (int i = 0; i < 6; i++) {
        int64_t s[CX_MAX_DIMS];
        int nd = cx_model_layer_output_shape(m, i, s);
        if (!h[i]) fail_msg("op %d: %s", i, cx_last_error());
        assert_int_equal(cx_tensor_ndim(h[i]), nd + 1);
        assert_memory_equal(cx_tensor_shape(h[i]) + 1, s, (size_t)nd * sizeof *s);
    }
    cx_test_compare("model vs ops", y, h[7], 1e-5f);
    for (int i = 0; i < 8; i++)
        cx_tensor_free(h[i]);
    cx_tensor_free(x);
    cx_tensor_free(y);
    cx_model_free(m);
}

/* ---- the models in models/ ---- */

static void model_totals(void **state) {
    (void)state;
    static const struct {
        const char *path;
        int64_t params;
        bool build; /* also with parameter memory (the others: shapes only) */
        int64_t out;
    } models[] = {
        {"models/mnist_cnn.cfg", 1199882, true, 10}, {"models/lenet5.cfg", 61706, true, 10},
        {"models/alexnet.cfg", 61100840, false, 1000}, {"models/vgg16.cfg", 138357544, false, 1000},
        {"models/resnet18.cfg", 11689512, true, 1000}, {"models/inception_small.cfg", 8138, true, 10},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        cx_model *m = cx_model_load_config_shapes(models[i].path);
        if (!m) fail_msg("%s", cx_last_error());
        print_message("%-28s %11lld parameters in %d layers\n", models[i].path,
                      (long long)cx_model_num_params(m), cx_model_num_layers(m));
        assert_int_equal(cx_model_num_params(m), models[i].params);
        int64_t s[CX_MAX_DIMS];
        assert_int_equal(cx_model_output_shape(m, s), 1);
        assert_int_equal(s[0], models[i].out);
        /* shapes only: no parameter memory, and it cannot run */
        assert_null(cx_model_params_flat(m));
        assert_int_equal(cx_model_num_param_tensors(m), 0);
        cx_tensor *x = cx_zeros(CX_SHAPE(1, 1));
        assert_null(cx_model_forward(m, x));
        assert_int_equal(cx_last_status(), CX_ERR_UNSUPPORTED);
        cx_tensor_free(x);
        /* each file is canonical below its comments */
        FILE *f = fopen(models[i].path, "r");
        static char file[1 << 16];
        size_t n = fread(file, 1, sizeof file - 1, f);
        fclose(f);
        file[n] = '\0';
        if (!strstr(file, cx_model_config(m)))
            fail_msg("%s is not canonical; cx_model_config gives:\n%s", models[i].path,
                     cx_model_config(m));
        if (models[i].build) {
            cx_model *full = cx_model_load_config(models[i].path, NULL);
            if (!full) fail_msg("%s", cx_last_error());
            assert_int_equal(cx_model_num_params(full), models[i].params);
            assert_non_null(cx_model_params_flat(full));
            assert_string_equal(cx_model_config(full), cx_model_config(m));
            cx_model_free(full);
        }
        cx_model_free(m);
    }
    cx_clear_error();
}

static void summary_resnet18(void **state) {
    (void)state;
    cx_model *m = cx_model_load_config_shapes("models/resnet18.cfg");
    assert_non_null(m);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(cx_model_summary(m, f), CX_OK);
    fclose(f);
    assert_non_null(strstr(buf, "Total params: 11,689,512\n"));
    assert_non_null(strstr(buf, " 0 (Conv2d)                  (None, 64, 112, 112)      9,408\n"));
    assert_non_null(strstr(buf, " 1 (BatchNorm2d) "));
    assert_non_null(strstr(buf, " 3 (MaxPool2d)               (None, 64, 56, 56)        0\n"));
    assert_non_null(strstr(buf, " 9 (Add)                     (None, 64, 56, 56)        0           "
                                "<- 8, stem\n"));
    assert_non_null(strstr(buf, "8,192       <- layer1.1\n")); /* the 1x1 shortcut's input */
    assert_non_null(strstr(buf, "(None, 512, 7, 7)"));
    free(buf);
    /* buffers: two per batch norm, named as torch's state_dict */
    cx_model *full = cx_model_load_config("models/resnet18.cfg", NULL);
    assert_int_equal(cx_model_num_buffers(full), 2 * 20);
    assert_string_equal(cx_model_buffer_name(full, 0), "1.running_mean");
    assert_string_equal(cx_model_buffer_name(full, 1), "1.running_var");
    assert_int_equal(cx_tensor_numel(cx_model_buffer(full, 1)), 64);
    assert_true(cx_tensor_f32(cx_model_buffer(full, 1))[0] == 1.0f);
    assert_false(cx_tensor_requires_grad(cx_model_buffer(full, 0)));
    cx_model_free(full);
    cx_model_free(m);
}

/* ---- golden against torch ---- */

static void golden_graph(void **state) {
    (void)state;
    cx_safetensors *g = cx_safetensors_open(GOLDEN_PATH);
    if (!g) fail_msg("%s; run `make golden`", cx_last_error());
    /* the int64 num_batches_tracked counters are not listed */
    assert_true(cx_safetensors_has(g, "1.running_mean"));
    assert_false(cx_safetensors_has(g, "1.num_batches_tracked"));
    cx_model *m = cx_test_model(golden_text);
    if (cx_model_load_weights(m, g) != CX_OK) fail_msg("%s", cx_last_error());
    compare_golden(g, "4.running_var", cx_model_buffer(m, 3));
    cx_tensor *x = cx_safetensors_get(g, "x"), *labels = cx_safetensors_get(g, "labels");
    assert_int_equal(cx_tensor_set_requires_grad(x, true), CX_OK);
    cx_model_set_training(m, true);
    cx_tensor *logits = NULL, *loss = cx_model_loss(m, x, labels, &logits);
    if (!loss) fail_msg("%s", cx_last_error());
    compare_golden(g, "logits", logits);
    compare_golden(g, "loss", loss);
    assert_int_equal(cx_backward(loss), CX_OK);
    compare_golden(g, "grad.x", cx_tensor_grad(x));
    char key[96];
    for (int i = 0; i < cx_model_num_param_tensors(m); i++) {
        snprintf(key, sizeof key, "grad.%s", cx_model_param_name(m, i));
        compare_golden(g, key, cx_tensor_grad(cx_model_param(m, i)));
    }
    for (int i = 0; i < cx_model_num_buffers(m); i++) {
        snprintf(key, sizeof key, "after.%s", cx_model_buffer_name(m, i));
        compare_golden(g, key, cx_model_buffer(m, i));
    }
    cx_model_set_training(m, false);
    cx_tensor *out = cx_model_forward(m, x);
    compare_golden(g, "eval.out", out);
    print_message("logits, loss, %d gradients, %d buffers and the eval output match torch\n",
                  cx_model_num_param_tensors(m) + 1, cx_model_num_buffers(m));
    cx_tensor *all[] = {x, labels, logits, loss, out};
    for (int i = 0; i < 5; i++)
        cx_tensor_free(all[i]);
    cx_model_free(m);
    cx_safetensors_close(g);
}

/* A checkpoint keeps the running statistics and what is frozen. */
static void checkpoint_buffers(void **state) {
    (void)state;
    assert_non_null(cx_test_scratch_new("cnn"));
    cx_model *m = cx_test_model("[model]\ninput = 2,3,3\n[conv2d]\nfilters = 2\nkernel = 1\n"
                                "trainable = false\n[batchnorm]\n[flatten]\n[dense]\nunits = 2\n");
    float *rv = cx_tensor_f32(cx_model_buffer(m, 1));
    rv[0] = 3.5f;
    rv[1] = 0.25f;
    cx_train_state ts = {.epoch = 1};
    const char *path = cx_test_path("bn.safetensors");
    assert_int_equal(cx_checkpoint_save(path, m, NULL, &ts), CX_OK);
    cx_model *back = cx_checkpoint_load(path, NULL, NULL);
    if (!back) fail_msg("%s", cx_last_error());
    cx_test_compare("1.running_var", cx_model_buffer(back, 1), cx_model_buffer(m, 1), 0);
    assert_false(cx_model_param_trainable(back, 0));
    assert_true(cx_model_param_trainable(back, 2));
    cx_model_free(back);
    cx_model_free(m);
    /* a model of shapes only has nothing to save */
    m = cx_model_load_config_shapes("models/lenet5.cfg");
    assert_int_equal(cx_checkpoint_save(path, m, NULL, &ts), CX_ERR_UNSUPPORTED);
    cx_model_free(m);
    cx_test_scratch_remove();
    cx_clear_error();
}

/* ---- batch norm ---- */

/* Per channel c of x (N, C, L): mean and (biased) variance. */
static void channel_stats(const float *x, int64_t n, int64_t c, int64_t l, int64_t ch,
                          double *mean, double *var) {
    double s = 0, sq = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < l; k++) {
            double v = x[(i * c + ch) * l + k];
            s += v;
            sq += v * v;
        }
    double cnt = (double)(n * l);
    *mean = s / cnt;
    *var = sq / cnt - *mean * *mean;
}

static void batchnorm_case(const char *text, int ndim, const int64_t *shape) {
    cx_model *m = cx_test_model(text);
    assert_int_equal(cx_model_num_buffers(m), 2);
    assert_string_equal(cx_model_buffer_name(m, 0), "0.running_mean");
    assert_string_equal(cx_model_buffer_name(m, 1), "0.running_var");
    assert_string_equal(cx_model_param_name(m, 0), "0.weight");
    cx_tensor *z = cx_randn(NULL, ndim, shape), *z2 = cx_mul_scalar(z, 2.0f);
    cx_tensor *x = cx_add_scalar(z2, 1.0f);
    int64_t n = shape[0], c = shape[1], l = cx_tensor_numel(x) / (n * c);
    const float *xd = cx_tensor_f32(x);
    /* training: batch statistics, running ones move by momentum 0.1 */
    cx_model_set_training(m, true);
    cx_tensor *y = cx_model_forward(m, x);
    if (!y) fail_msg("%s", cx_last_error());
    const float *rm = cx_tensor_f32(cx_model_buffer(m, 0)), *rv = cx_tensor_f32(cx_model_buffer(m, 1));
    for (int64_t ch = 0; ch < c; ch++) {
        double mx, vx, my, vy;
        channel_stats(xd, n, c, l, ch, &mx, &vx);
        channel_stats(cx_tensor_f32(y), n, c, l, ch, &my, &vy);
        assert_true(fabs(my) < 1e-5 && fabs(vy - vx / (vx + 1e-5)) < 1e-4);
        double unbiased = vx * (double)(n * l) / (double)(n * l - 1);
        assert_float_equal(rm[ch], 0.1 * mx, 1e-5);
        assert_float_equal(rv[ch], 0.9 + 0.1 * unbiased, 1e-4);
    }
    cx_tensor_free(y);
    /* evaluation: the running statistics, nothing updated */
    cx_model_set_training(m, false);
    float rm0 = rm[0];
    y = cx_model_forward(m, x);
    const float *yd = cx_tensor_f32(y);
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t k = 0; k < l; k++) {
                int64_t at = (i * c + ch) * l + k;
                assert_float_equal(yd[at], (xd[at] - rm[ch]) / sqrt(rv[ch] + 1e-5), 1e-4);
            }
    assert_true(rm[0] == rm0);
    cx_tensor *all[] = {z, z2, x, y};
    for (int i = 0; i < 4; i++)
        cx_tensor_free(all[i]);
    cx_model_free(m);
}

static void batchnorm_train_eval(void **state) {
    (void)state;
    batchnorm_case("[model]\ninput = 3,5,4\n[batchnorm]\n", 4, (const int64_t[]){6, 3, 5, 4});
    batchnorm_case("[model]\ninput = 7\n[batchnorm]\n", 2, (const int64_t[]){16, 7});
    /* affine = false: no parameters, still the buffers */
    cx_model *m = cx_test_model("[model]\ninput = 4,2,2\n[batchnorm]\naffine = false\neps = 0.001\n"
                            "momentum = 0.2\n");
    assert_int_equal(cx_model_num_params(m), 0);
    assert_int_equal(cx_model_num_buffers(m), 2);
    assert_non_null(strstr(cx_model_config(m), "momentum = 0.2\neps = 0.001\naffine = false\n"));
    cx_model_free(m);
}

/* ---- freezing ---- */

static void freezing(void **state) {
    (void)state;
    cx_model *m = cx_test_model("[model]\ninput = 1,6,6\n[conv2d]\nfilters = 4\nkernel = 3\n"
                            "trainable = false\nactivation = relu\n[batchnorm]\n[flatten]\n"
                            "[dense]\nunits = 3\n");
    assert_false(cx_model_param_trainable(m, 0));
    assert_false(cx_model_param_trainable(m, 1));
    assert_true(cx_model_param_trainable(m, 2));
    assert_false(cx_tensor_requires_grad(cx_model_param(m, 0)));
    assert_null(cx_tensor_grad(cx_model_param(m, 0)));
    int n = cx_model_num_param_tensors(m);
    cx_tensor *params[8], *trainable[8];
    assert_int_equal(n, 6);
    for (int i = 0; i < n; i++)
        params[i] = cx_model_param(m, i);
    assert_int_equal(cx_model_trainable_params(m, trainable), 4);
    assert_ptr_equal(trainable[0], cx_model_param(m, 2));
    assert_non_null(strstr(cx_model_config(m), "kernel = 3\ntrainable = false\n\n[relu]"));

    /* an optimizer over every parameter (as cx_fit makes it) leaves the frozen ones alone,
     * weight decay included */
    cx_optim_params p = cx_optim_defaults(CX_OPTIM_SGD);
    p.lr = 0.1f;
    p.weight_decay = 0.5f;
    cx_optim *o = cx_optim_new(CX_OPTIM_SGD, &p, params, n);
    assert_non_null(o);
    int64_t total = cx_model_num_params(m), frozen = 4 * 9 + 4;
    float *before = malloc((size_t)total * sizeof(float));
    memcpy(before, cx_model_params_flat(m), (size_t)total * sizeof(float));
    cx_model_set_training(m, true);
    cx_tensor *x = cx_randn(NULL, CX_SHAPE(5, 1, 6, 6));
    int32_t lab[5] = {0, 1, 2, 1, 0};
    cx_tensor *labels = cx_from_data(CX_DTYPE_I32, CX_SHAPE(5), lab);
    cx_tensor *loss = cx_model_loss(m, x, labels, NULL);
    assert_int_equal(cx_backward(loss), CX_OK);
    assert_int_equal(cx_optim_step(o), CX_OK);
    const float *after = cx_model_params_flat(m);
    assert_memory_equal(after, before, (size_t)frozen * sizeof(float));
    int64_t moved = 0;
    for (int64_t i = frozen; i < total; i++)
        moved += after[i] != before[i];
    assert_true(moved > (total - frozen) / 2);

    /* cx_model_freeze: layers 0..2 (the batch norm too); the summary counts them */
    assert_int_equal(cx_model_freeze(m, 2), CX_OK);
    assert_int_equal(cx_model_trainable_params(m, trainable), 2);
    assert_int_equal(cx_model_freeze(m, 9), CX_ERR_ARG);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(cx_model_summary(m, f), CX_OK);
    fclose(f);
    char want[64];
    snprintf(want, sizeof want, "Non-trainable params: %lld\n", (long long)(frozen + 8));
    assert_non_null(strstr(buf, want));
    free(buf);
    assert_non_null(strstr(cx_model_config(m), "[batchnorm]\ntrainable = false\n"));
    cx_model *again = cx_test_model(cx_model_config(m));
    assert_int_equal(cx_model_trainable_params(again, trainable), 2);
    cx_model_free(again);
    assert_int_equal(cx_model_freeze(m, -1), CX_OK);
    assert_int_equal(cx_model_trainable_params(m, trainable), 0);

    cx_tensor *all[] = {x, labels, loss};
    for (int i = 0; i < 3; i++)
        cx_tensor_free(all[i]);
    free(before);
    cx_optim_free(o);
    cx_model_free(m);
    cx_clear_error();
}

/* ---- steady state ---- */

/* conv, batch norm, relu, max pooling, add, concat, global pooling, dense: all in the arena */
static void steady_state_allocates_nothing(void **state) {
    (void)state;
    cx_test_steady_state(golden_text, 8, 5, 12, 0.05f);
}

/* Every allocation of building and running a graph with buffers fails in turn: an error,
 * never a crash or a leak (the sanitizer build checks). */
static void failed_allocations(void **state) {
    (void)state;
    cx_tensor *x = cx_randn(NULL, CX_SHAPE(2, 3, 8, 8));
    int32_t lab[2] = {0, 4};
    cx_tensor *labels = cx_from_data(CX_DTYPE_I32, CX_SHAPE(2), lab);
    int failures = 0;
    for (long n = 0; n < 2000; n++) {
        cx_test_fail_countdown = n;
        cx_set_allocator(&cx_test_counting_allocator);
        cx_model *m = cx_model_from_config(golden_text, "oom.cfg", NULL);
        cx_tensor *loss = NULL;
        if (m) {
            cx_model_set_training(m, true);
            loss = cx_model_loss(m, x, labels, NULL);
            if (loss) cx_backward(loss);
        }
        bool done = cx_test_fail_countdown >= 0;
        cx_test_fail_countdown = -1;
        cx_tensor_free(loss);
        cx_model_free(m);
        cx_set_allocator(NULL);
        if (done) break;
        failures++;
        cx_clear_error();
    }
    print_message("%d allocations failed in turn\n", failures);
    assert_true(failures > 20 && failures < 2000);
    cx_tensor_free(x);
    cx_tensor_free(labels);
}

CX_TEST_GROUP(cnn) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_errors),
        cmocka_unit_test(refused_arithmetic),
        cmocka_unit_test(summary_cli_error),
        cmocka_unit_test(graph_config_round_trip),
        cmocka_unit_test(graph_c_api),
        cmocka_unit_test(layers_match_ops),
        cmocka_unit_test(model_totals),
        cmocka_unit_test(summary_resnet18),
        cmocka_unit_test(golden_graph),
        cmocka_unit_test(checkpoint_buffers),
        cmocka_unit_test(batchnorm_train_eval),
        cmocka_unit_test(freezing),
        cmocka_unit_test(steady_state_allocates_nothing),
        cmocka_unit_test(failed_allocations),
    };
    CX_RUN_GROUP("cnn", tests);
}
