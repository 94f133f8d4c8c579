/*
 * test_vision.c - optimising a network's input (cortex/vision.h) and what it needs from the
 * models: intermediate outputs (cx_model_forward_layers), heads rebuilt for other picture
 * sizes (cx_model_head), parameters named after layers (param_names = layer) with torchvision's
 * vgg16 names and a PyTorch parity test on an exported torchvision-style CNN
 * (scripts/export_torch.py wrote tests/golden/torch_import*.safetensors), and small runs of
 * adversarial examples, feature visualisation, deep dream and style transfer that check what
 * each promises (bounds, shapes, the objective improving, the model left as it was) and
 * their errors. FGSM on the MNIST CNN is in test_vision_mnist.c.
 */
#include "test.h"
#include "vision/vision_impl.h" /* cx__lbfgs */

#include <math.h>
#include <string.h>

/* A small convolutional classifier for 1x12x12 pictures. */
static const char small_cnn[] = "[model]\ninput = 1,12,12\n"
                                "[conv2d]\nfilters = 4\nkernel = 3\npadding = 1\n[relu]\n"
                                "[conv2d]\nfilters = 6\nkernel = 3\n[relu]\n[maxpool2d]\nkernel = 2\n"
                                "[flatten]\n[dense]\nunits = 3\n[softmax]\n";

static float max_abs_diff(cx_tensor *a, cx_tensor *b) {
    int64_t n = cx_tensor_numel(a);
    assert_int_equal(cx_tensor_numel(b), n);
    float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4), m = 0;
    cx_tensor_copy_to(a, x, (size_t)n * 4);
    cx_tensor_copy_to(b, y, (size_t)n * 4);
    for (int64_t i = 0; i < n; i++)
        m = fmaxf(m, fabsf(x[i] - y[i]));
    free(x);
    free(y);
    return m;
}

/* Tests that make many tensors run in an arena, which frees them all at the end. */
static cx_arena *arena_begin(void) {
    cx_arena *a = cx_arena_new(0);
    assert_non_null(a);
    cx_arena_begin(a);
    return a;
}

static void arena_done(cx_arena *a) {
    cx_arena_end(a);
    cx_arena_free(a);
}

static void assert_in_unit_range(cx_tensor *t) {
    const float *v = cx_tensor_f32(t);
    for (int64_t i = 0; i < cx_tensor_numel(t); i++)
        if (!(v[i] >= 0 && v[i] <= 1)) fail_msg("value %lld is %g, outside 0..1", (long long)i, v[i]);
}

/* ---- parameter names ---- */

static void param_names_follow_layers(void **state) {
    (void)state;
    const char *text = "[model]\ninput = 4\nparam_names = layer\n[dense]\nname = enc.0\nunits = 3\n"
                       "[relu]\n[dense]\nunits = 2\n[batchnorm]\nname = bn\n";
    cx_model *m = cx_test_model(text);
    static const char *const want[] = {"enc.0.weight", "enc.0.bias", "2.weight", "2.bias",
                                       "bn.weight", "bn.bias"};
    for (int i = 0; i < 6; i++)
        assert_string_equal(cx_model_param_name(m, i), want[i]);
    assert_string_equal(cx_model_buffer_name(m, 0), "bn.running_mean");
    assert_non_null(strstr(cx_model_config(m), "[model]\ninput = 4\nparam_names = layer\n"));
    cx_model *again = cx_test_model(cx_model_config(m));
    assert_string_equal(cx_model_param_name(again, 0), "enc.0.weight");
    cx_model_free(again);
    /* renaming a layer, or the naming, renames its parameters at once */
    assert_int_equal(cx_model_set_layer_name(m, 2, "head"), CX_OK);
    assert_string_equal(cx_model_param_name(m, 2), "head.weight");
    assert_int_equal(cx_model_set_param_names(m, CX_PARAM_NAMES_INDEX), CX_OK);
    assert_string_equal(cx_model_param_name(m, 0), "0.weight");
    assert_string_equal(cx_model_buffer_name(m, 1), "3.running_var");
    assert_int_equal(cx_model_find_layer(m, "bn"), 3);
    assert_int_equal(cx_model_find_layer(m, "nope"), -1);
    assert_int_equal(cx_model_set_param_names(m, (cx_param_names)7), CX_ERR_ARG);
    cx_clear_error();
    cx_model_free(m);
    /* the default stays the index, names or not */
    m = cx_test_model("[model]\ninput = 4\n[dense]\nname = a\nunits = 3\n");
    assert_string_equal(cx_model_param_name(m, 0), "0.weight");
    cx_model_free(m);
    cx_test_config_error("[model]\ninput = 4\nparam_names = path\n[dense]\nunits = 3\n",
                         (const char *[]){"bad.cfg:3:", "param_names = path", "index, layer", NULL});
}

/* A file's text with every occurrence of from replaced by to (caller frees). */
static char *replace_all(const char *text, const char *from, const char *to) {
    size_t n = 0, lf = strlen(from), lt = strlen(to);
    for (const char *p = text; (p = strstr(p, from)); p += lf)
        n++;
    char *out = malloc(strlen(text) + n * (lt + 1) + 1), *o = out;
    for (const char *p = text, *q; ; p = q + lf) {
        q = strstr(p, from);
        size_t k = q ? (size_t)(q - p) : strlen(p);
        memcpy(o, p, k);
        o += k;
        if (!q) break;
        memcpy(o, to, lt);
        o += lt;
    }
    *o = '\0';
    return out;
}

/* models/vgg16.cfg names its parameters as torchvision's vgg16 state_dict does. The layer
 * sizes are shrunk so the model builds in a moment; names do not depend on them. */
static void vgg16_has_torchvision_names(void **state) {
    (void)state;
    FILE *f = fopen("models/vgg16.cfg", "r");
    assert_non_null(f);
    static char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *a = replace_all(text, "input = 3,224,224", "input = 3,32,32");
    char *b = replace_all(a, "units = 4096", "units = 4");
    char *c = replace_all(b, "filters = 512", "filters = 2");
    cx_model *m = cx_test_model(c);
    free(a);
    free(b);
    free(c);
    static const int feat[] = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28}, cls[] = {0, 3, 6};
    int k = 0;
    char want[64];
    for (int i = 0; i < 13; i++)
        for (int w = 0; w < 2; w++) {
            snprintf(want, sizeof want, "features.%d.%s", feat[i], w ? "bias" : "weight");
            assert_string_equal(cx_model_param_name(m, k++), want);
        }
    for (int i = 0; i < 3; i++)
        for (int w = 0; w < 2; w++) {
            snprintf(want, sizeof want, "classifier.%d.%s", cls[i], w ? "bias" : "weight");
            assert_string_equal(cx_model_param_name(m, k++), want);
        }
    assert_int_equal(cx_model_num_param_tensors(m), k);
    /* the style transfer layers are there under their torchvision names */
    assert_int_equal(cx_model_find_layer(m, cx_style_vgg_content), 22);
    assert_int_equal(cx_model_find_layer(m, "features.29"), 29);
    assert_int_equal(cx_model_find_layer(m, "classifier.6"), 39);
    cx_model_free(m);
}

/* A small randomly initialised torch CNN in torchvision's layout (features / avgpool /
 * classifier, batch norm included), exported by scripts/export_torch.py: Cortex loads it by
 * name into tests/golden/torch_import.cfg and gives torch's logits within 1e-5. */
static void torch_import_parity(void **state) {
    (void)state;
    cx_model *m = cx_model_load_config("tests/golden/torch_import.cfg", NULL);
    assert_non_null(m);
    cx_safetensors *w = cx_safetensors_open("tests/golden/torch_import.safetensors");
    cx_safetensors *io = cx_safetensors_open("tests/golden/torch_import_check.safetensors");
    assert_non_null(w);
    assert_non_null(io);
    /* every tensor of the state_dict has its parameter or buffer (num_batches_tracked is
     * left out by the reader), and the other way round */
    assert_int_equal(cx_safetensors_count(w), cx_model_num_param_tensors(m) + cx_model_num_buffers(m));
    assert_int_equal(cx_model_load_weights(m, w), CX_OK);
    cx_tensor *x = cx_safetensors_get(io, "x"), *want = cx_safetensors_get(io, "logits");
    cx_tensor *got = cx_model_forward(m, x);
    assert_non_null(got);
    float d = max_abs_diff(got, want);
    print_message("torch import: logits within %.2g of torch's\n", (double)d);
    assert_true(d <= 1e-5f);
    cx_tensor_free(got);
    cx_tensor_free(x);
    cx_tensor_free(want);
    cx_safetensors_close(io);
    cx_safetensors_close(w);
    cx_model_free(m);
}

/* ---- intermediate outputs and heads ---- */

static void forward_layers_and_heads(void **state) {
    (void)state;
    cx_arena *arena = arena_begin();
    cx_model *m = cx_test_model(small_cnn);
    cx_tensor *x = cx_rand(NULL, CX_SHAPE(2, 1, 12, 12));
    cx_tensor *outs[3];
    assert_int_equal(cx_model_forward_layers(m, x, 3, (const int[]){3, 1, 7}, outs), CX_OK);
    assert_int_equal(cx_tensor_ndim(outs[0]), 4);
    assert_true(cx_tensor_dim(outs[0], 1) == 6 && cx_tensor_dim(outs[0], 2) == 10);
    assert_true(cx_tensor_dim(outs[1], 1) == 4 && cx_tensor_dim(outs[2], 1) == 3);
    cx_tensor *logits = cx_model_forward_to(m, x, 7);
    assert_true(max_abs_diff(logits, outs[2]) == 0);
    /* the gradient of an intermediate output reaches the input */
    cx_tensor_set_requires_grad(x, true);
    cx_tensor *h = cx_model_forward_to(m, x, 1);
    assert_int_equal(cx_backward(cx_sum(h, 0, NULL, false)), CX_OK);
    assert_non_null(cx_tensor_grad(x));
    /* a head of the convolutional part runs on pictures of another size with the same
     * weights: an all-ones picture gives the same value at an inner position */
    cx_model *big = cx_model_head(m, 3, CX_SHAPE(1, 20, 16));
    assert_non_null(big);
    assert_int_equal(cx_model_num_layers(big), 4);
    assert_string_equal(cx_model_param_name(big, 3), "2.bias");
    cx_tensor *o12 = cx_model_forward_to(m, cx_ones(CX_SHAPE(1, 1, 12, 12)), 3);
    cx_tensor *o20 = cx_model_forward(big, cx_ones(CX_SHAPE(1, 1, 20, 16)));
    assert_true(cx_tensor_dim(o20, 2) == 18 && cx_tensor_dim(o20, 3) == 14);
    assert_float_equal(cx_tensor_f32(o12)[5 * 10 + 5], cx_tensor_f32(o20)[5 * 14 + 5], 1e-5);
    /* errors */
    assert_int_equal(cx_model_forward_layers(m, x, 1, (const int[]){8}, outs), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "layer 8 is not in the model (layers 0 to 7)");
    assert_null(outs[0]);
    assert_null(cx_model_forward_to(m, cx_rand(NULL, CX_SHAPE(2, 1, 10, 10)), 1));
    assert_error(CX_ERR_SHAPE, "does not fit the model");
    assert_null(cx_model_head(m, 7, CX_SHAPE(1, 20, 16))); /* dense's weight would change */
    assert_error(CX_ERR_SHAPE, "on input [N,1,20,16], 6.weight would be [3,378] instead of "
                 "the model's [3,150]");
    assert_null(cx_model_head(m, 9, 0, NULL));
    assert_error(CX_ERR_ARG, "layer 9 is not in the model");
    for (int k = 0; k < 3; k++)
        cx_tensor_free(outs[k]);
    cx_model_free(big);
    cx_model_free(m);
    arena_done(arena);
}

/* ---- adversarial examples ---- */

static void adversarial_bounds_and_errors(void **state) {
    (void)state;
    cx_arena *arena = arena_begin();
    cx_seed(3);
    cx_model *m = cx_test_model(small_cnn);
    cx_tensor *x = cx_rand(NULL, CX_SHAPE(5, 1, 12, 12));
    cx_tensor *y = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(5));
    for (int i = 0; i < 5; i++)
        ((int32_t *)cx_tensor_data(y))[i] = i % 3;
    cx_model_set_training(m, true);
    const cx_attack_params methods[] = {
        {.method = CX_ATTACK_FGSM, .eps = 0.1f},
        {.method = CX_ATTACK_PGD, .eps = 0.05f, .steps = 5, .random_start = true, .seed = 1},
        {.method = CX_ATTACK_PGD, .eps = 0.2f, .targeted = true, .target = 2},
    };
    for (int k = 0; k < 3; k++) {
        cx_tensor *adv = cx_adversarial(m, x, y, &methods[k]);
        assert_non_null(adv);
        assert_true(max_abs_diff(adv, x) <= methods[k].eps + 1e-6f);
        assert_true(max_abs_diff(adv, x) > methods[k].eps / 2);
        assert_in_unit_range(adv);
        cx_tensor_free(adv);
    }
    /* the model is as it was: training mode, parameters requiring (and without) gradients */
    assert_true(cx_model_training(m));
    for (int i = 0; i < cx_model_num_param_tensors(m); i++)
        assert_true(cx_tensor_requires_grad(cx_model_param(m, i)));
    for (int64_t i = 0; i < cx_model_num_params(m); i++)
        assert_true(cx_model_grads_flat(m)[i] == 0);
    /* a targeted PGD attack on a model moves the scores toward the target */
    cx_tensor *c = cx_classify(m, x, NULL);
    assert_int_equal(cx_tensor_dtype(c), CX_DTYPE_I32);
    cx_tensor_free(c);

    cx_attack_params p = {.eps = 0};
    assert_null(cx_adversarial(m, x, y, &p));
    assert_error(CX_ERR_ARG, "eps = 0 is out of range");
    p.eps = 1.5f;
    assert_null(cx_adversarial(m, x, y, &p));
    assert_error(CX_ERR_ARG, "eps = 1.5");
    p = (cx_attack_params){.eps = 0.1f, .targeted = true, .target = 3};
    assert_null(cx_adversarial(m, x, y, &p));
    assert_error(CX_ERR_ARG, "target class 3 is not one of the model's 0 to 2");
    p.targeted = false;
    cx_tensor *short_y = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(4));
    assert_null(cx_adversarial(m, x, short_y, &p));
    assert_error(CX_ERR_SHAPE, "labels must be i32 [5]");
    assert_null(cx_adversarial(m, x, NULL, &p));
    assert_error(CX_ERR_ARG, "labels");
    assert_null(cx_adversarial(m, cx_rand(NULL, CX_SHAPE(5, 1, 8, 8)), y, &p));
    assert_error(CX_ERR_SHAPE, "does not fit the model");
    cx_model *reg = cx_test_model("[model]\ninput = 3\nloss = mse\n[dense]\nunits = 2\n");
    assert_null(cx_adversarial(reg, x, y, &p));
    assert_error(CX_ERR_ARG, "not a classifier");
    cx_model_free(reg);
    cx_tensor_free(short_y);
    cx_tensor_free(x);
    cx_tensor_free(y);
    cx_model_free(m);
    arena_done(arena);
}

/* ---- visualisation, dream, style ---- */

static void visualize_raises_the_response(void **state) {
    (void)state;
    cx_arena *arena = arena_begin();
    cx_seed(5);
    cx_model *m = cx_test_model(small_cnn);
    int units[3] = {0, 2, 5};
    float before[3], after[3];
    cx_visualize_params p = {.steps = 1, .step_size = 1e-9f, .jitter = -1, .blur = -1};
    cx_tensor *start = cx_visualize(m, 3, 3, units, &p, before);
    assert_non_null(start);
    p = (cx_visualize_params){.steps = 24, .blur_every = 8};
    cx_tensor *pics = cx_visualize(m, 3, 3, units, &p, after);
    assert_non_null(pics);
    assert_true(cx_tensor_dim(pics, 0) == 3 && cx_tensor_dim(pics, 2) == 12);
    assert_in_unit_range(pics);
    for (int k = 0; k < 3; k++)
        assert_true(after[k] > before[k]);
    cx_tensor_free(pics);
    cx_tensor_free(start);
    /* a class score, on a larger canvas for a convolutional layer */
    p = (cx_visualize_params){.steps = 4};
    pics = cx_visualize(m, 6, 1, (const int[]){1}, &p, NULL);
    assert_non_null(pics);
    cx_tensor_free(pics);
    p.height = p.width = 20;
    pics = cx_visualize(m, 1, 1, (const int[]){1}, &p, NULL);
    assert_true(pics && cx_tensor_dim(pics, 2) == 20);
    cx_tensor_free(pics);
    assert_null(cx_visualize(m, 3, 1, (const int[]){6}, &p, NULL));
    assert_error(CX_ERR_ARG, "layer 3 (relu) has channels 0 to 5; 6 is not one");
    assert_null(cx_visualize(m, 12, 1, (const int[]){0}, &p, NULL));
    assert_error(CX_ERR_ARG, "layer 12 is not in the model");
    p.decay = 2;
    assert_null(cx_visualize(m, 1, 1, (const int[]){0}, &p, NULL));
    assert_error(CX_ERR_ARG, "decay = 2");
    cx_model_free(m);
    arena_done(arena);
}

static void dream_changes_the_picture(void **state) {
    (void)state;
    cx_arena *arena = arena_begin();
    cx_seed(6);
    cx_model *m = cx_test_model(small_cnn);
    cx_tensor *img = cx_rand(NULL, CX_SHAPE(1, 30, 24));
    cx_dream_params p = {.octaves = 3, .steps = 3};
    cx_tensor *d = cx_deep_dream(m, img, 2, (const int[]){1, 3}, (const float[]){1, 0.5f}, &p);
    assert_non_null(d);
    assert_true(cx_tensor_dim(d, 1) == 30 && cx_tensor_dim(d, 2) == 24);
    assert_in_unit_range(d);
    assert_true(max_abs_diff(d, img) > 0.01f);
    cx_tensor_free(d);
    assert_null(cx_deep_dream(m, cx_rand(NULL, CX_SHAPE(3, 30, 24)), 1, (const int[]){1}, NULL, &p));
    assert_error(CX_ERR_SHAPE, "does not fit the model");
    assert_null(cx_deep_dream(m, img, 1, (const int[]){7}, NULL, &p)); /* dense: fixed size */
    assert_error(CX_ERR_SHAPE, "6.weight would be");
    p.octave_scale = 0.5f;
    assert_null(cx_deep_dream(m, img, 1, (const int[]){1}, NULL, &p));
    assert_error(CX_ERR_ARG, "octave_scale = 0.5");
    cx_tensor_free(img);
    cx_model_free(m);
    arena_done(arena);
}

static void gram_values(void **state) {
    (void)state;
    /* [1, 2, 1, 2]: channel 0 = (1, 2), channel 1 = (3, 4); G = F Fᵀ / 4 */
    cx_tensor *f = cx_from_data(CX_DTYPE_F32, CX_SHAPE(1, 2, 1, 2), (const float[]){1, 2, 3, 4});
    cx_tensor *g = cx_gram(f);
    const float want[] = {5 / 4.0f, 11 / 4.0f, 11 / 4.0f, 25 / 4.0f};
    cx_test_assert_close("gram", cx_tensor_f32(g), want, 4, 1e-6f);
    cx_tensor_free(g);
    cx_tensor_free(f);
    cx_tensor *batch = cx_zeros(CX_SHAPE(2, 2, 2, 2));
    assert_null(cx_gram(batch));
    assert_error(CX_ERR_SHAPE, "gram: features [2,2,2,2]");
    cx_tensor_free(batch);
}

/* L-BFGS finds the minimum of the Rosenbrock function (1, 1). */
static float rosenbrock(const float *x, float *g, void *ctx) {
    (void)ctx;
    float a = 1 - x[0], b = x[1] - x[0] * x[0];
    g[0] = -2 * a - 400 * x[0] * b;
    g[1] = 200 * b;
    return a * a + 100 * b * b;
}

static void lbfgs_minimises(void **state) {
    (void)state;
    float x[2] = {-1.2f, 1.0f};
    assert_int_equal(cx__lbfgs(x, 2, 200, 1.0f, rosenbrock, NULL, NULL, NULL), CX_OK);
    assert_float_equal(x[0], 1.0f, 1e-3);
    assert_float_equal(x[1], 1.0f, 2e-3);
}

typedef struct {
    float first, last;
    int calls;
} losses;

static bool record(int step, float loss, void *ctx) {
    losses *l = ctx;
    if (step == 1) l->first = loss;
    l->last = loss;
    l->calls++;
    return true;
}

static void style_transfer_lowers_the_loss(void **state) {
    (void)state;
    cx_arena *arena = arena_begin();
    cx_model *m = cx_style_random_net(3, 1);
    assert_non_null(m);
    cx_seed(8);
    cx_tensor *content = cx_rand(NULL, CX_SHAPE(3, 16, 20)), *style = cx_rand(NULL, CX_SHAPE(3, 24, 24));
    int cl[] = {cx_model_find_layer(m, "s2")}, sl[] = {cx_model_find_layer(m, "s1a"),
                                                       cx_model_find_layer(m, "s2")};
    assert_true(cl[0] > 0 && sl[0] >= 0);
    for (int opt = 0; opt < 2; opt++) {
        losses l = {0};
        cx_style_params p = {.n_content = 1, .content_layers = cl, .n_style = 2,
                             .style_layers = sl, .tv_weight = 1, .steps = 6,
                             .optimizer = opt ? CX_STYLE_ADAM : CX_STYLE_LBFGS,
                             .init_noise = opt == 1, .progress = record, .ctx = &l};
        cx_tensor *out = cx_style_transfer(m, content, style, &p);
        assert_non_null(out);
        assert_true(cx_tensor_dim(out, 1) == 16 && cx_tensor_dim(out, 2) == 20);
        assert_in_unit_range(out);
        print_message("style (%s): loss %g -> %g in %d steps\n", opt ? "adam" : "lbfgs",
                      (double)l.first, (double)l.last, l.calls);
        assert_true(l.calls >= 3 && l.last < l.first);
        cx_tensor_free(out);
    }
    cx_style_params p = {.n_content = 1, .content_layers = cl, .n_style = 2, .style_layers = sl};
    assert_null(cx_style_transfer(m, cx_rand(NULL, CX_SHAPE(1, 16, 16)), style, &p));
    assert_error(CX_ERR_SHAPE, "content picture [1,16,16] does not fit the model");
    p.tv_weight = -1;
    assert_null(cx_style_transfer(m, content, style, &p));
    assert_error(CX_ERR_ARG, "tv_weight = -1");
    p.tv_weight = 0;
    p.n_style = 0;
    assert_null(cx_style_transfer(m, content, style, &p));
    assert_error(CX_ERR_ARG, "no layers given");
    assert_null(cx_style_random_net(2, 0));
    assert_error(CX_ERR_ARG, "1 or 3 channels");
    cx_tensor_free(content);
    cx_tensor_free(style);
    cx_model_free(m);
    arena_done(arena);
}

CX_TEST_GROUP(vision) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(param_names_follow_layers),
        cmocka_unit_test(vgg16_has_torchvision_names),
        cmocka_unit_test(torch_import_parity),
        cmocka_unit_test(forward_layers_and_heads),
        cmocka_unit_test(adversarial_bounds_and_errors),
        cmocka_unit_test(visualize_raises_the_response),
        cmocka_unit_test(dream_changes_the_picture),
        cmocka_unit_test(gram_values),
        cmocka_unit_test(lbfgs_minimises),
        cmocka_unit_test(style_transfer_lowers_the_loss),
    };
    CX_RUN_GROUP("vision", tests);
}
