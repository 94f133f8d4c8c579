/*
 * test_cli.c - the `cortex` command line end to end, on a generated image dataset written as
 * IDX files (28x28 pictures of 4 classes: a bright bar whose position is the class, plus
 * noise): train, eval, predict, summary and resume succeed and agree with each other; bad
 * flags, missing data, damaged data, configs and checkpoints fail with "cortex: error: ..."
 * and the documented exit code (1 runtime, 2 usage). The binary comes from $CX_CLI (the
 * Makefile sets it); without it the group is skipped with a message.
 */
#include "test.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs "cortex ARGS" in the scratch directory (see cx_test_run_cli). */
#define run cx_test_run_cli

static void write_text(const char *name, const char *text) {
    FILE *f = fopen(cx_test_path(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    cx_test_write_bars("bars", 400, 100);
    write_text("mlp.cfg", "[model]\ninput = 1,28,28\n[flatten]\n[dense]\nunits = 32\n"
                          "[relu]\n[dense]\nunits = 4\n");
    return 0;
}

static void test_train_eval_predict(void **state) {
    (void)state;
    static char out[1 << 16];
    int rc = run(out, sizeof out, "train mlp.cfg --data bars --epochs 3 --batch 32 --lr 0.003 "
                                  "--out bars.safetensors --json --seed 3");
    if (rc) print_error("%s", out);
    assert_int_equal(rc, 0);
    double acc = cx_test_json_number(out, "test_accuracy");
    print_message("cli: test accuracy %.3f\n", acc);
    assert_true(acc > 0.9);
    assert_int_equal(run(out, sizeof out, "eval bars.safetensors --data bars --json"), 0);
    assert_true(cx_test_json_number(out, "accuracy") == acc);
    assert_int_equal(run(out, sizeof out, "eval bars.safetensors --data bars"), 0);
    assert_non_null(strstr(out, "accuracy"));

    /* a picture of class 2 */
    cx_rng *rng = cx_rng_new(77);
    uint8_t img[784];
    cx_test_draw_bar(img, 2, rng);
    cx_rng_free(rng);
    cx_tensor *t = cx_zeros(CX_SHAPE(1, 28, 28));
    for (int i = 0; i < 784; i++) cx_tensor_f32(t)[i] = img[i] / 255.0f;
    assert_int_equal(cx_image_save_png(cx_test_path("two.png"), t), CX_OK);
    cx_tensor_free(t);
    assert_int_equal(run(out, sizeof out, "predict bars.safetensors two.png"), 0);
    print_message("predict:\n%s", out);
    assert_true(out[0] == '2');
    /* a model ending in its own softmax: its outputs are the probabilities, not softmaxed
     * twice (which would cap 4 classes at e / (e + 3) = 0.475) */
    write_text("mlp_softmax.cfg", "[model]\ninput = 1,28,28\n[flatten]\n[dense]\nunits = 32\n"
                                  "[relu]\n[dense]\nunits = 4\n[softmax]\n");
    assert_int_equal(run(out, sizeof out, "train mlp_softmax.cfg --data bars --epochs 3 "
                                          "--batch 32 --lr 0.003 --out soft.safetensors --seed 3"),
                     0);
    assert_int_equal(run(out, sizeof out, "predict soft.safetensors two.png"), 0);
    print_message("predict (softmax model):\n%s", out);
    assert_true(out[0] == '2' && strtod(out + 1, NULL) > 0.6);

    assert_int_equal(run(out, sizeof out, "summary mlp.cfg"), 0);
    assert_non_null(strstr(out, "25,252")); /* 784*32+32 + 32*4+4 */
    assert_int_equal(run(out, sizeof out, "summary bars.safetensors"), 0);
    assert_non_null(strstr(out, "25,252"));

    /* resume one more epoch */
    assert_int_equal(run(out, sizeof out, "train --resume bars.safetensors --data bars "
                                          "--epochs 4 --json"), 0);
    assert_true(cx_test_json_number(out, "epochs") == 4);
}

static void test_errors(void **state) {
    (void)state;
    static char out[1 << 14];
    assert_int_equal(run(out, sizeof out, "train mlp.cfg --data bars --epoch 3"), 2);
    assert_non_null(strstr(out, "unknown option '--epoch'"));
    assert_non_null(strstr(out, "--epochs"));
    assert_int_equal(run(out, sizeof out, "train mlp.cfg"), 2);
    assert_non_null(strstr(out, "--data"));
    assert_int_equal(run(out, sizeof out, "train mlp.cfg --data bars --epochs many"), 2);
    assert_int_equal(run(out, sizeof out, "frobnicate"), 2);
    assert_int_equal(run(out, sizeof out, "train --help"), 0);
    assert_non_null(strstr(out, "--optimizer"));
    assert_int_equal(run(out, sizeof out, "help eval"), 0);
    assert_non_null(strstr(out, "usage: cortex eval"));

    assert_int_equal(run(out, sizeof out, "train mlp.cfg --data nowhere"), 1);
    assert_non_null(strstr(out, "cortex: error: "));

    write_text("bad.cfg", "[model]\ninput = 1,28,28\n[flatten]\n[dense]\nunits = 32\nunit = 3\n");
    assert_int_equal(run(out, sizeof out, "train bad.cfg --data bars"), 1);
    assert_non_null(strstr(out, "bad.cfg:6"));
    assert_int_equal(run(out, sizeof out, "summary bad.cfg"), 1);

    /* damaged data: the training images cut in half */
    assert_int_equal(mkdir(cx_test_path("cut"), 0700), 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd %s && head -c 150000 bars/train-images-idx3-ubyte > cut/train-images-idx3-ubyte"
             " && cp bars/train-labels-idx1-ubyte bars/t10k-* cut/", cx_test_scratch_dir());
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run(out, sizeof out, "train mlp.cfg --data cut"), 1);
    print_message("cut data: %s", out);
    assert_non_null(strstr(out, "train-images-idx3-ubyte"));

    /* damaged checkpoint */
    snprintf(cmd, sizeof cmd, "cd %s && head -c 3000 bars.safetensors > cut.safetensors",
             cx_test_scratch_dir());
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run(out, sizeof out, "eval cut.safetensors --data bars"), 1);
    assert_non_null(strstr(out, "cut.safetensors"));
    assert_int_equal(run(out, sizeof out, "predict bars.safetensors mlp.cfg"), 1);
    assert_non_null(strstr(out, "mlp.cfg"));
}

/* A config's [train] section gives defaults that the command line overrides; augmentation
 * and standardisation are kept in the checkpoint, so --resume continues with them. */
static void test_train_section(void **state) {
    (void)state;
    static char out[1 << 16];
    write_text("recipe.cfg", "[model]\ninput = 1,28,28\n[train]\nepochs = 2\nbatch = 50\n"
                             "lr = 0.003\nstandardize = true\nshift = 2\nrotate = 5\n"
                             "progress = none\n[flatten]\n[dense]\nunits = 4\n");
    int rc = run(out, sizeof out, "train recipe.cfg --data bars --json --out recipe.safetensors");
    if (rc) print_error("%s", out);
    assert_int_equal(rc, 0);
    assert_true(cx_test_json_number(out, "epochs") == 2);
    assert_true(cx_test_json_number(out, "test_accuracy") > 0.9);
    assert_int_equal(run(out, sizeof out, "train recipe.cfg --data bars --json --epochs 1"), 0);
    assert_true(cx_test_json_number(out, "epochs") == 1);

    cx_train_state st;
    cx_model *m = cx_checkpoint_load(cx_test_path("recipe.safetensors"), NULL, &st);
    assert_non_null(m);
    assert_int_equal(st.normalisation.shift, 2);
    assert_true(st.normalisation.rotate == 5 && st.normalisation.std > 0.1f &&
                st.normalisation.mean > 0.05f);
    cx_model_free(m);
    assert_int_equal(run(out, sizeof out, "train --resume recipe.safetensors --data bars --json"), 0);
    assert_true(cx_test_json_number(out, "epochs") == 3);

    write_text("typo.cfg", "[model]\ninput = 1,28,28\n[train]\nepoch = 2\n[flatten]\n");
    assert_int_equal(run(out, sizeof out, "train typo.cfg --data bars"), 2);
    assert_non_null(strstr(out, "typo.cfg: [train] unknown key 'epoch'"));
    write_text("badval.cfg", "[model]\ninput = 1,28,28\n[train]\nlr = fast\n[flatten]\n");
    assert_int_equal(run(out, sizeof out, "train badval.cfg --data bars"), 2);
    assert_non_null(strstr(out, "'fast' is not a number"));
    write_text("twice.cfg", "[model]\ninput = 1,28,28\n[train]\nlr = 1\n[train]\nlr = 2\n");
    assert_int_equal(run(out, sizeof out, "summary twice.cfg"), 1);
    assert_non_null(strstr(out, "[train] given twice"));
    assert_int_equal(run(out, sizeof out, "train mlp.cfg --data bars --rotate 200"), 2);
    assert_non_null(strstr(out, "--rotate"));
}

/* f32 [1, 16, 16]: dark left half, bright right half (a vertical edge at column 8). */
static void write_edge_png(const char *name) {
    cx_tensor *t = cx_zeros(CX_SHAPE(1, 16, 16));
    for (int i = 0; i < 256; i++) cx_tensor_f32(t)[i] = i % 16 >= 8 ? 0.8f : 0.2f;
    assert_int_equal(cx_image_save_png(cx_test_path(name), t), CX_OK);
    cx_tensor_free(t);
}

static void test_filter(void **state) {
    (void)state;
    static char out[1 << 13];
    write_edge_png("edge.png");
    assert_int_equal(run(out, sizeof out, "filter edge.png --kernel sobel-x --out sx.png"), 0);
    cx_tensor *r = cx_image_load(cx_test_path("sx.png"), 1, 0, 0);
    assert_non_null(r);
    const float *v = cx_tensor_f32(r); /* [1, 16, 16] */
    assert_true(v[8 * 16 + 8] > 0.9f && v[8 * 16 + 7] > 0.9f); /* |4 * 0.6| clamped: the edge */
    assert_true(v[8 * 16 + 3] < 0.01f && v[8 * 16 + 12] < 0.01f); /* flat regions */
    cx_tensor_free(r);
    /* identity, by name and from a kernel file, gives the picture back */
    write_text("id.txt", "0 0 0\n0 1 0\n0 0 0\n");
    const char *kernels[] = {"identity", "id.txt"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(run(out, sizeof out, "filter edge.png --kernel %s --out id.png", kernels[k]), 0);
        cx_tensor *a = cx_image_load(cx_test_path("edge.png"), 1, 0, 0);
        cx_tensor *b = cx_image_load(cx_test_path("id.png"), 1, 0, 0);
        assert_non_null(a);
        assert_non_null(b);
        assert_memory_equal(cx_tensor_f32(a), cx_tensor_f32(b), 256 * sizeof(float));
        cx_tensor_free(a);
        cx_tensor_free(b);
    }
    write_text("bad.txt", "1 2 3 4 5 6 7 8\n");
    assert_int_equal(run(out, sizeof out, "filter edge.png --kernel bad.txt --out x.png"), 1);
    assert_non_null(strstr(out, "8 numbers"));
    assert_int_equal(run(out, sizeof out, "filter edge.png --kernel emboss --out x.png"), 2);
    assert_non_null(strstr(out, "sobel-x"));
    assert_int_equal(run(out, sizeof out, "filter missing.png --kernel blur --out x.png"), 1);
    assert_non_null(strstr(out, "missing.png"));
}

/* A small CNN on the bars: feature maps of its first layer, and a new model started from it
 * with a different head and the convolution frozen. */
static void test_featuremaps_and_transfer(void **state) {
    (void)state;
    static char out[1 << 14];
    write_text("cnn.cfg", "[model]\ninput = 1,28,28\n[conv2d]\nfilters = 4\nkernel = 3\n[relu]\n"
                          "[maxpool2d]\nkernel = 2\n[flatten]\n[dense]\nunits = 4\n");
    int rc = run(out, sizeof out, "train cnn.cfg --data bars --epochs 1 --batch 32 --out cnn.safetensors");
    if (rc) print_error("%s", out);
    assert_int_equal(rc, 0);
    assert_int_equal(run(out, sizeof out, "featuremaps cnn.safetensors two.png --layer 0 --out maps.png"), 0);
    assert_non_null(strstr(out, "4 maps of 26x26"));
    cx_tensor *grid = cx_image_load(cx_test_path("maps.png"), 1, 0, 0);
    assert_non_null(grid);
    assert_int_equal(cx_tensor_dim(grid, 1), 2 * 26 + 3); /* 2x2 maps, padding 1 */
    cx_tensor_free(grid);
    assert_int_equal(run(out, sizeof out, "featuremaps cnn.safetensors two.png --layer 4 --out m.png"), 2);
    assert_non_null(strstr(out, "not feature maps"));
    assert_int_equal(run(out, sizeof out, "featuremaps cnn.safetensors two.png --layer 9 --out m.png"), 2);

    write_text("cnn2.cfg", "[model]\ninput = 1,28,28\n[conv2d]\nfilters = 4\nkernel = 3\n[relu]\n"
                           "[maxpool2d]\nkernel = 2\n[flatten]\n[dense]\nunits = 16\n[relu]\n"
                           "[dense]\nunits = 4\n");
    rc = run(out, sizeof out, "train cnn2.cfg --data bars --epochs 1 --batch 32 --init-from "
                              "cnn.safetensors --freeze 0 --out cnn2.safetensors");
    if (rc) print_error("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "initialised 2 tensors from cnn.safetensors"));
    assert_non_null(strstr(out, "4.weight: the file has f32 [4,676], the model f32 [16,676]"));
    /* the frozen convolution kept the weights it started from */
    cx_safetensors *a = cx_safetensors_open(cx_test_path("cnn.safetensors"));
    cx_safetensors *b = cx_safetensors_open(cx_test_path("cnn2.safetensors"));
    assert_non_null(a);
    assert_non_null(b);
    cx_tensor *wa = cx_safetensors_get(a, "0.weight"), *wb = cx_safetensors_get(b, "0.weight");
    assert_memory_equal(cx_tensor_data(wa), cx_tensor_data(wb), 36 * sizeof(float));
    cx_tensor_free(wa);
    cx_tensor_free(wb);
    cx_safetensors_close(a);
    cx_safetensors_close(b);
    assert_int_equal(run(out, sizeof out, "train cnn2.cfg --data bars --init-from cnn.safetensors "
                                          "--strict-init"), 1);
    assert_non_null(strstr(out, "did not match"));
}

/* The real digits (scripts/get-data; make test runs it): models/mlp.cfg from the command line
 * learns them well above chance in 3 epochs (it reaches about 0.93 in 5). */
static void test_mnist_mlp(void **state) {
    (void)state;
    static char out[1 << 14], probe[600];
    const char *root = getenv("CX_DATA_DIR");
    snprintf(probe, sizeof probe, "%s/mnist/t10k-images-idx3-ubyte", root ? root : "data");
    if (access(probe, R_OK) != 0) {
        print_message("cli: %s is absent (run scripts/get-data); skipped\n", probe);
        skip();
    }
    char data_dir[512];
    if (!realpath(root ? root : "data", data_dir)) skip();
    char models[512];
    assert_non_null(realpath("models/mlp.cfg", models));
    /* the command runs in the scratch directory: point it at the repository's data */
    char *saved = root ? strdup(root) : NULL;
    setenv("CX_DATA_DIR", data_dir, 1);
    int rc = run(out, sizeof out, "train %s --data mnist --epochs 3 --json --seed 1", models);
    if (saved) setenv("CX_DATA_DIR", saved, 1);
    else unsetenv("CX_DATA_DIR");
    free(saved);
    if (rc) print_error("%s", out);
    assert_int_equal(rc, 0);
    double acc = cx_test_json_number(out, "test_accuracy");
    print_message("mnist: models/mlp.cfg, 3 epochs: test accuracy %.4f\n", acc);
    assert_true(acc >= 0.9);
}

/* cortex text: train on a directory of text files (a binary one and *.dat left out), JSON
 * with bits per character, generate from the model; usage and runtime errors. */
static void test_text(void **state) {
    (void)state;
    static char out[1 << 14];
    mkdir(cx_test_path("corpus"), 0755);
    FILE *bin = fopen(cx_test_path("corpus/bin"), "wb");
    assert_non_null(bin);
    fwrite("\001\000", 1, 2, bin);
    fclose(bin);
    write_text("corpus/idx.dat", "\002\003");
    char text[3000] = "";
    while (strlen(text) + 60 < sizeof text) strcat(text, "the cat sat on the mat.\n");
    write_text("corpus/cats", text);
    assert_int_equal(run(out, sizeof out, "text train corpus --hidden 16 --layers 1 --embed 8 "
                                          "--seq 10 --batch 4 --epochs 2 --dropout 0.1 "
                                          "--lr-decay 0.5 --json --out t.st"), 0);
    assert_non_null(strstr(out, "\"val_bpc\": "));
    assert_non_null(strstr(out, "\"lr\": 0.001,")); /* after epoch 2 */
    assert_non_null(strstr(out, "\"vocab\": 12")); /* 11 characters of the poem: no \001 */
    assert_int_equal(run(out, sizeof out, "text generate t.st --prime the --length 20 --seed 1 "
                                          "--temperature 0.5 --top-k 3"), 0);
    assert_true(strncmp(out, "the", 3) == 0 && strlen(out) >= 20);
    assert_int_equal(run(out, sizeof out, "text train corpus"), 2);
    assert_non_null(strstr(out, "--out"));
    assert_int_equal(run(out, sizeof out, "text train corpus --out x --tokens bytes"), 2);
    assert_int_equal(run(out, sizeof out, "text train corpus --out x --dropout 1"), 2);
    assert_non_null(strstr(out, "--dropout 1"));
    assert_int_equal(run(out, sizeof out, "text train corpus --out x --lr-decay 0"), 2);
    assert_int_equal(run(out, sizeof out, "text"), 2);
    assert_int_equal(run(out, sizeof out, "text train nowhere --out x"), 1);
    assert_non_null(strstr(out, "nowhere"));
    assert_int_equal(run(out, sizeof out, "text train corpus/cats --batch 500 --out x"), 1);
    assert_non_null(strstr(out, "smaller --batch"));
    assert_int_equal(run(out, sizeof out, "text generate corpus/cats"), 1);
    assert_non_null(strstr(out, "cortex: error:"));
    assert_int_equal(run(out, sizeof out, "text generate t.st --prime zebra"), 1);
    assert_non_null(strstr(out, "'z'"));
}

CX_TEST_GROUP(cli) {
    if (!cx_test_cli()) {
        printf("[  SKIPPED ] cli: set CX_CLI to the cortex binary (make test does)\n");
        return;
    }
    cx_test_scratch_new("cli");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_train_eval_predict, setup),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_train_section),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_featuremaps_and_transfer),
        cmocka_unit_test(test_mnist_mlp),
        cmocka_unit_test(test_text),
    };
    CX_RUN_GROUP("cli", tests);
    cx_test_scratch_remove();
}
