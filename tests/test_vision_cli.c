/*
 * test_vision_cli.c - the input-optimising commands end to end: FGSM on the MNIST CNN
 * (models/mnist_cnn.cfg, trained here for one epoch on 4,000 of the real digits; skipped with
 * a reason when scripts/get-data has not run) takes the accuracy below 20% at eps 0.2 with
 * every pixel within eps; `cortex visualize`, `dream` and `style` write their pictures; bad
 * flags are usage errors (exit 2) and bad files runtime errors (exit 1). The binary comes from
 * $CX_CLI (the Makefile sets it).
 */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *cli;
static char data_dir[512];

/* Runs "cortex ARGS" in the scratch directory; the exit code, and the output in out. */
static int run(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t size, const char *fmt, ...) {
    char args[1024], cmd[2400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && CX_DATA_DIR=%s %s %s 2>&1", cx_test_scratch_dir(),
             data_dir, cli, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool have_mnist(void) {
    char probe[600];
    snprintf(probe, sizeof probe, "%s/mnist/t10k-images-idx3-ubyte", data_dir);
    if (access(probe, R_OK) == 0) return true;
    print_message("vision cli: %s is absent (run scripts/get-data); skipped\n", probe);
    return false;
}

static void fgsm_on_the_mnist_cnn(void **state) {
    (void)state;
    if (!have_mnist()) skip();
    static char out[1 << 15];
    char models[512];
    assert_non_null(realpath("models/mnist_cnn.cfg", models));
    int rc = run(out, sizeof out, "train %s --data mnist --limit 4000 --epochs 1 --seed 42 "
                                  "--out cnn.safetensors --progress none", models);
    if (rc) print_error("%s", out);
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, "adversarial cnn.safetensors --data mnist --method fgsm --eps 0.2 "
                              "--out triplets.png --json");
    if (rc) print_error("%s", out);
    assert_int_equal(rc, 0);
    double clean = cx_test_json_number(out, "clean_accuracy"), adv = cx_test_json_number(out, "adversarial_accuracy");
    print_message("fgsm eps 0.2 on mnist_cnn: accuracy %.4f -> %.4f (%g test digits)\n", clean,
                  adv, cx_test_json_number(out, "samples"));
    /* One FGSM step costs this augmented network about half its accuracy (the fully trained
     * one of `cortex train models/mnist_cnn.cfg`, 0.988 clean, keeps 0.27); ten PGD steps
     * within the same eps take it below 20%. */
    assert_true(clean > 0.8);
    assert_true(adv < 0.5);
    assert_true(cx_test_json_number(out, "max_perturbation") <= 0.2 + 1e-6);
    assert_true(cx_test_json_number(out, "samples") == 2000);
    assert_int_equal(access(cx_test_path("triplets.png"), R_OK), 0);
    rc = run(out, sizeof out, "adversarial cnn.safetensors --data mnist --method pgd --eps 0.2 "
                              "--steps 10 --json");
    if (rc) print_error("%s", out);
    assert_int_equal(rc, 0);
    double pgd = cx_test_json_number(out, "adversarial_accuracy");
    print_message("pgd eps 0.2, 10 steps: accuracy %.4f -> %.4f\n", clean, pgd);
    assert_true(pgd < 0.2);
    assert_true(cx_test_json_number(out, "max_perturbation") <= 0.2 + 1e-6);

    /* every perturbation within eps, pixel by pixel, and every pixel in 0..1 */
    cx_model *m = cx_checkpoint_load(cx_test_path("cnn.safetensors"), NULL, NULL);
    assert_non_null(m);
    const char *old = getenv("CX_DATA_DIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("CX_DATA_DIR", data_dir, 1);
    cx_dataset *test = cx_dataset_load("mnist", CX_SPLIT_TEST);
    if (saved) setenv("CX_DATA_DIR", saved, 1);
    else unsetenv("CX_DATA_DIR");
    free(saved);
    cx_dataset *head = cx_dataset_head(test, 200);
    cx_loader *l = cx_loader_new(head, &(cx_loader_params){.batch_size = 200});
    cx_tensor *x, *y;
    cx_loader_start_epoch(l, 0);
    assert_true(cx_loader_next(l, &x, &y));
    cx_attack_params p = {.method = CX_ATTACK_FGSM, .eps = 0.2f};
    cx_tensor *a = cx_adversarial(m, x, y, &p);
    assert_non_null(a);
    const float *xv = cx_tensor_f32(x), *av = cx_tensor_f32(a);
    for (int64_t i = 0; i < cx_tensor_numel(a); i++) {
        assert_true(fabsf(av[i] - xv[i]) <= 0.2f + 1e-6f);
        assert_true(av[i] >= 0 && av[i] <= 1);
    }
    cx_tensor_free(a);
    cx_loader_free(l);
    cx_dataset_free(head);
    cx_dataset_free(test);
    cx_model_free(m);

    /* the same network's filters and a class, by name and index */
    assert_int_equal(run(out, sizeof out, "visualize cnn.safetensors --layer 3 --filters 4 "
                                          "--steps 8 --out filters.png"), 0);
    assert_non_null(strstr(out, "4 pictures of 28x28 for layer 3 (relu), one per filter"));
    assert_int_equal(run(out, sizeof out, "visualize cnn.safetensors --class 7 --steps 8 "
                                          "--out seven.png"), 0);
    assert_non_null(strstr(out, "layer 10 (dense)"));
}

/* A 24x32 colour picture with a diagonal edge, as PNG. */
static void write_picture(const char *name, int channels) {
    cx_tensor *t = cx_zeros(CX_SHAPE(channels, 24, 32));
    float *v = cx_tensor_f32(t);
    for (int c = 0; c < channels; c++)
        for (int i = 0; i < 24 * 32; i++)
            v[c * 768 + i] = (i / 32 > (i % 32) * 0.6) ? 0.2f + 0.3f * c : 0.8f - 0.2f * c;
    assert_int_equal(cx_image_save_png(cx_test_path(name), t), CX_OK);
    cx_tensor_free(t);
}

static void dream_and_style(void **state) {
    (void)state;
    static char out[1 << 14];
    write_picture("c.png", 3);
    write_picture("g.png", 1);
    FILE *f = fopen(cx_test_path("conv.cfg"), "w");
    fputs("[model]\ninput = 1,16,16\n[conv2d]\nfilters = 4\nkernel = 3\nname = c1\n[relu]\n"
          "name = r1\n[maxpool2d]\nkernel = 2\n[flatten]\n[dense]\nunits = 2\n", f);
    fclose(f);
    assert_int_equal(run(out, sizeof out, "dream conv.cfg g.png --layers r1 --octaves 2 --steps 2 "
                                          "--out dream.png"), 0);
    assert_non_null(strstr(out, "untrained")); /* a config without --weights says so */
    assert_non_null(strstr(out, "dream.png: 32x24, 2 octaves of 2 steps on layer 1 (relu)"));
    cx_tensor *d = cx_image_load(cx_test_path("dream.png"), 0, 0, 0);
    assert_true(d && cx_tensor_dim(d, 0) == 1 && cx_tensor_dim(d, 2) == 32);
    cx_tensor_free(d);
    assert_int_equal(run(out, sizeof out, "style --content c.png --style g.png --out s.png --init noise "
                                          "--size 16 --steps 3 --progress 1"), 0);
    assert_non_null(strstr(out, "step 3: loss"));
    d = cx_image_load(cx_test_path("s.png"), 0, 0, 0);
    assert_true(d && cx_tensor_dim(d, 0) == 3 && cx_tensor_dim(d, 2) == 16);
    cx_tensor_free(d);

    /* usage errors: exit 2 */
    assert_int_equal(run(out, sizeof out, "dream conv.cfg g.png"), 2);
    assert_non_null(strstr(out, "needs --out"));
    assert_int_equal(run(out, sizeof out, "dream conv.cfg g.png --layers nope --out x.png"), 2);
    assert_non_null(strstr(out, "no layer 'nope'"));
    assert_int_equal(run(out, sizeof out, "style --content c.png --out x.png"), 2);
    assert_int_equal(run(out, sizeof out, "style --content c.png --style c.png --out x.png "
                                          "--optimizer sgd"), 2);
    assert_non_null(strstr(out, "valid: lbfgs, adam"));
    assert_int_equal(run(out, sizeof out, "style --content c.png --style c.png --out x.png "
                                          "--model conv.cfg"), 2);
    assert_non_null(strstr(out, "--content-layers"));
    assert_int_equal(run(out, sizeof out, "visualize conv.cfg --out x.png"), 2);
    assert_int_equal(run(out, sizeof out, "visualize conv.cfg --layer 1 --filter 9 --out x.png"), 1);
    assert_non_null(strstr(out, "channels 0 to 3; 9 is not one"));
    assert_int_equal(run(out, sizeof out, "adversarial conv.cfg --data mnist"), 2);
    assert_non_null(strstr(out, "--eps"));
    assert_int_equal(run(out, sizeof out, "adversarial conv.cfg --data mnist --eps 0.1 "
                                          "--method cw"), 2);
    /* runtime errors: exit 1 */
    assert_int_equal(run(out, sizeof out, "dream conv.cfg missing.png --out x.png"), 1);
    assert_non_null(strstr(out, "missing.png"));
    assert_int_equal(run(out, sizeof out, "dream nothere.safetensors g.png --out x.png"), 1);
    assert_int_equal(run(out, sizeof out, "dream conv.cfg g.png --weights conv.cfg --out x.png"), 1);
    assert_non_null(strstr(out, "conv.cfg"));
    assert_int_equal(run(out, sizeof out, "style --content c.png --style missing.png "
                                          "--out x.png"), 1);
    assert_non_null(strstr(out, "missing.png"));
}

CX_TEST_GROUP(vision_cli) {
    cli = getenv("CX_CLI");
    if (!cli || access(cli, X_OK) != 0) {
        printf("[  SKIPPED ] vision_cli: set CX_CLI to the cortex binary (make test does)\n");
        return;
    }
    static char abs_cli[512];
    if (cli[0] != '/' && realpath(cli, abs_cli)) cli = abs_cli;
    const char *root = getenv("CX_DATA_DIR");
    if (!realpath(root ? root : "data", data_dir)) snprintf(data_dir, sizeof data_dir, "/nonexistent");
    cx_test_scratch_new("vision_cli");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fgsm_on_the_mnist_cnn),
        cmocka_unit_test(dream_and_style),
    };
    CX_RUN_GROUP("vision_cli", tests);
    cx_test_scratch_remove();
}
