/*
 * test_gan.c - generative adversarial networks: the built-in configs (the models/ files are
 * what the library writes) and their shapes, the checks joining a generator and a
 * discriminator (conditional ones too), the mode-collapse watch on crafted histograms and a
 * crafted classifier, a short training where the discriminator moves off chance, checkpoints
 * that resume exactly and refuse foreign or damaged files, and the CLI (cortex gan, gan
 * sample) with its bad-input errors, on generated bars.
 */
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <unistd.h>

/* A tiny dense GAN for 28x28 pictures: noise 8 (+ classes) -> 32 -> 784, and 784 -> 32 -> 1. */
static const char tiny_gen[] = "[model]\ninput = %d\n[dense]\nunits = 32\n[batchnorm]\n"
                               "[leaky_relu]\nslope = 0.2\n[dense]\nunits = 784\n[tanh]\n"
                               "[reshape]\nshape = 1,28,28\n";
static const char tiny_disc[] = "[model]\ninput = %s\n[flatten]\n[dense]\nunits = 32\n"
                                "[leaky_relu]\nslope = 0.2\n[dense]\nunits = 1\n";

static cx_gan *tiny_gan(int classes, uint64_t seed) {
    char g[512], d[512], in[32];
    snprintf(g, sizeof g, tiny_gen, 8 + classes);
    snprintf(in, sizeof in, classes ? "%d" : "1,28,28", 784 + classes);
    snprintf(d, sizeof d, tiny_disc, in);
    cx_rng *rng = cx_rng_new(seed);
    cx_gan *gan = cx_gan_from_configs(g, "gen", d, "disc", classes, rng);
    cx_rng_free(rng);
    if (!gan) fail_msg("%s", cx_last_error());
    return gan;
}

/* n bars pictures (4 classes, label i % 4) as a dataset. */
static cx_dataset *bars(int64_t n, uint64_t seed) {
    cx_rng *rng = cx_rng_new(seed);
    cx_tensor *x = cx_tensor_new(CX_DTYPE_U8, CX_SHAPE(n, 1, 28, 28));
    cx_tensor *y = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(n));
    for (int64_t i = 0; i < n; i++) {
        cx_test_draw_bar((uint8_t *)cx_tensor_data(x) + i * 784, (int)(i % 4), rng);
        ((int32_t *)cx_tensor_data(y))[i] = (int32_t)(i % 4);
    }
    cx_dataset *d = cx_dataset_from_tensors(x, y);
    cx_tensor_free(x);
    cx_tensor_free(y);
    cx_rng_free(rng);
    assert_non_null(d);
    return d;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot read %s", path);
    static char buf[2][8192];
    static int k;
    char *b = buf[k++ % 2];
    size_t n = fread(b, 1, sizeof buf[0] - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static cx_optim *adam(cx_model *m) {
    cx_optim_params p = cx_optim_defaults(CX_OPTIM_ADAM);
    p.lr = 2e-4f;
    p.beta1 = 0.5f;
    cx_tensor *params[64];
    int n = cx_model_trainable_params(m, params);
    cx_optim *o = cx_optim_new(CX_OPTIM_ADAM, &p, params, n);
    assert_non_null(o);
    return o;
}

/* ---- configs and shapes ---- */

/* models/ holds what cx_gan_default_configs writes; every pair joins and runs. */
static void default_configs(void **state) {
    (void)state;
    static const char *const names[] = {"dense", "dcgan", "cgan"};
    static char gen[8192], disc[8192];
    for (int a = 0; a < 3; a++) {
        int classes = -1;
        assert_int_equal(cx_gan_default_configs((cx_gan_arch)a, 0, gen, disc, sizeof gen,
                                                &classes), CX_OK);
        assert_int_equal(classes, a == CX_GAN_ARCH_CGAN ? 10 : 0);
        char path[64];
        snprintf(path, sizeof path, "models/gan_%s_generator.cfg", names[a]);
        assert_string_equal(read_text(path), gen);
        snprintf(path, sizeof path, "models/gan_%s_discriminator.cfg", names[a]);
        assert_string_equal(read_text(path), disc);
        cx_gan *gan = cx_gan_from_configs(gen, "g", disc, "d", classes, NULL);
        assert_non_null(gan);
        assert_int_equal(cx_gan_noise_size(gan), 100);
        assert_int_equal(cx_gan_classes(gan), classes);
        int64_t shape[CX_MAX_DIMS];
        assert_int_equal(cx_gan_sample_shape(gan, shape), 3);
        assert_true(shape[0] == 1 && shape[1] == 28 && shape[2] == 28);
        cx_tensor *labels = cx_from_data(CX_DTYPE_I32, CX_SHAPE(3), (int32_t[]){0, 9, 4});
        cx_tensor *x = cx_gan_sample(gan, 3, labels, NULL);
        assert_non_null(x);
        assert_int_equal(cx_tensor_ndim(x), 4);
        assert_int_equal(cx_tensor_dim(x, 0), 3);
        assert_int_equal(cx_tensor_dim(x, 3), 28);
        const float *v = cx_tensor_f32(x);
        for (int64_t i = 0; i < cx_tensor_numel(x); i++) assert_true(v[i] >= -1 && v[i] <= 1);
        cx_tensor *logits = cx_gan_discriminate(gan, x, labels);
        assert_non_null(logits);
        assert_int_equal(cx_tensor_dim(logits, 0), 3);
        assert_int_equal(cx_tensor_dim(logits, 1), 1);
        cx_tensor_free(logits);
        cx_tensor_free(x);
        cx_tensor_free(labels);
        cx_gan_free(gan);
    }
    assert_string_equal(cx_gan_arch_name(CX_GAN_ARCH_CGAN), "cgan");
    cx_gan_arch arch;
    assert_int_equal(cx_gan_arch_parse("wgan", &arch), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "'wgan'", "dense, dcgan, cgan");
    assert_int_equal(cx_gan_default_configs(CX_GAN_ARCH_DCGAN, 64, gen, disc, sizeof gen, NULL),
                     CX_OK);
    assert_non_null(strstr(gen, "input = 64\n"));
    assert_int_equal(cx_gan_default_configs(CX_GAN_ARCH_DENSE, 5000, gen, disc, sizeof gen,
                                            NULL), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "1..4096");
    assert_int_equal(cx_gan_default_configs(CX_GAN_ARCH_DENSE, 8, gen, disc, 50, NULL),
                     CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "too few");
}

static void join_errors(void **state) {
    (void)state;
    static const struct {
        const char *gen, *disc;
        int classes;
        const char *message;
    } bad[] = {
        {"[model]\ninput = 2,4\n[flatten]\n[dense]\nunits = 784\n",
         "[model]\ninput = 784\n[dense]\nunits = 1\n", 0, "must be flat noise"},
        {"[model]\ninput = 8\n[dense]\nunits = 784\n",
         "[model]\ninput = 784\n[dense]\nunits = 2\n", 0, "must be one logit [1]"},
        {"[model]\ninput = 8\n[dense]\nunits = 784\n[reshape]\nshape = 1,28,28\n",
         "[model]\ninput = 784\n[dense]\nunits = 1\n", 0, "is not the discriminator's input"},
        {"[model]\ninput = 4\n[dense]\nunits = 784\n",
         "[model]\ninput = 784\n[dense]\nunits = 1\n", 4, "[Z + classes] with Z >= 1"},
        {"[model]\ninput = 14\n[dense]\nunits = 784\n[reshape]\nshape = 1,28,28\n",
         "[model]\ninput = 1,28,28\n[flatten]\n[dense]\nunits = 1\n", 4,
         "with 4 label planes ([C + 4, H, W]) or flattened with the one-hot label ([788])"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_null(cx_gan_from_configs(bad[i].gen, "g", bad[i].disc, "d", bad[i].classes,
                                        NULL));
        assert_error(CX_ERR_SHAPE, bad[i].message);
    }
    assert_null(cx_gan_new(NULL, NULL, 0));
    assert_error(CX_ERR_ARG, "the generator is NULL");
    assert_null(cx_gan_new(cx_test_model("[model]\ninput = 8\n[dense]\nunits = 1\n"),
                           cx_test_model("[model]\ninput = 1\n[dense]\nunits = 1\n"), 300));
    assert_error(CX_ERR_ARG, "300 classes");
    /* labels: needed, i32 [N], in range */
    cx_gan *gan = tiny_gan(4, 1);
    cx_tensor *z = cx_zeros(CX_SHAPE(2, 8));
    assert_null(cx_gan_generate(gan, z, NULL));
    assert_error(CX_ERR_ARG, "needs labels");
    cx_tensor *y = cx_from_data(CX_DTYPE_I32, CX_SHAPE(2), (int32_t[]){1, 4});
    assert_null(cx_gan_generate(gan, z, y));
    assert_error(CX_ERR_ARG, "label 4 of sample 1 is outside 0..3");
    cx_tensor *y3 = cx_from_data(CX_DTYPE_I32, CX_SHAPE(3), (int32_t[]){1, 2, 3});
    assert_null(cx_gan_generate(gan, z, y3));
    assert_error(CX_ERR_SHAPE, "must be i32 [2]");
    cx_tensor *z9 = cx_zeros(CX_SHAPE(2, 9));
    assert_null(cx_gan_generate(gan, z9, y3));
    assert_error(CX_ERR_SHAPE, "noise [2,9] must be [N, 8]");
    cx_tensor *x = cx_zeros(CX_SHAPE(2, 1, 27, 28));
    assert_null(cx_gan_discriminate(gan, x, y));
    assert_error(CX_ERR_SHAPE, "are not [N, 1,28,28]");
    cx_tensor *tmp[] = {z, y, y3, z9, x};
    for (int i = 0; i < 5; i++) cx_tensor_free(tmp[i]);
    cx_gan_free(gan);
}

/* ---- the watch ---- */

static void watch_summarise(void **state) {
    (void)state;
    cx_gan_watch w = {.classes = 10};
    for (int c = 0; c < 10; c++) w.counts[c] = 100;
    assert_int_equal(cx_gan_watch_summarise(&w), CX_OK);
    assert_int_equal(w.samples, 1000);
    assert_true(fabsf(w.entropy - log2f(10)) < 1e-5f);
    assert_false(w.collapse);
    /* exactly half is not more than half */
    w = (cx_gan_watch){.classes = 10, .counts = {500, 100, 100, 100, 100, 100}};
    assert_int_equal(cx_gan_watch_summarise(&w), CX_OK);
    assert_false(w.collapse);
    assert_int_equal(w.top_class, 0);
    assert_true(fabsf(w.top_share - 0.5f) < 1e-6f);
    w = (cx_gan_watch){.classes = 10, .counts = {0, 0, 0, 400, 0, 0, 0, 601}};
    assert_int_equal(cx_gan_watch_summarise(&w), CX_OK);
    assert_true(w.collapse);
    assert_int_equal(w.top_class, 7);
    double p = 601.0 / 1001, q = 400.0 / 1001;
    assert_true(fabs(w.entropy - (-p * log2(p) - q * log2(q))) < 1e-5);
    w = (cx_gan_watch){.classes = 3, .counts = {0, 5, 0}};
    assert_int_equal(cx_gan_watch_summarise(&w), CX_OK);
    assert_true(w.collapse && w.entropy == 0 && w.top_class == 1);
    w = (cx_gan_watch){.classes = 4};
    assert_int_equal(cx_gan_watch_summarise(&w), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "no samples");
    w = (cx_gan_watch){.classes = 0};
    assert_int_equal(cx_gan_watch_summarise(&w), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "0 classes");
    w = (cx_gan_watch){.classes = 2, .counts = {3, -1}};
    assert_int_equal(cx_gan_watch_summarise(&w), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "negative");
}

/* A classifier that answers class 2 whatever it sees (zero weights, bias favouring 2). */
static cx_model *class_two(const char *last) {
    char text[256];
    snprintf(text, sizeof text, "[model]\ninput = 1,28,28\n[flatten]\n[dense]\nunits = 4\n"
             "init = zeros\n%s", last);
    cx_model *m = cx_test_model(text);
    float bias[4] = {0, 0, 3, 0};
    cx_tensor *b = cx_model_param(m, 1);
    assert_int_equal(cx_tensor_copy_from(b, bias, sizeof bias), CX_OK);
    return m;
}

static void watch_classify(void **state) {
    (void)state;
    cx_gan *gan = tiny_gan(4, 2);
    static const char *const lasts[] = {"", "[softmax]\n", "[log_softmax]\n"};
    float top = expf(3) / (expf(3) + 3);
    for (int k = 0; k < 3; k++) {
        cx_model *c = class_two(lasts[k]);
        cx_gan_watch w;
        assert_int_equal(cx_gan_watch_classify(gan, c, NULL, 300, 5, &w), CX_OK);
        assert_int_equal(w.classes, 4);
        assert_int_equal(w.samples, 300);
        assert_int_equal(w.counts[2], 300);
        assert_true(w.collapse);
        assert_true(fabsf(w.mean_top_prob - top) < 1e-5f);
        /* labels i % 4 are asked for: a quarter come out as asked */
        assert_true(fabsf(w.label_accuracy - 0.25f) < 1e-6f);
        cx_model_free(c);
    }
    cx_model *wrong = cx_test_model("[model]\ninput = 10\n[dense]\nunits = 4\n");
    cx_gan_watch w;
    assert_int_equal(cx_gan_watch_classify(gan, wrong, NULL, 10, 1, &w), CX_ERR_SHAPE);
    assert_error(CX_ERR_SHAPE, "needs the generator's pictures [1,28,28]");
    cx_model_free(wrong);
    cx_gan_free(gan);
}

/* ---- training ---- */

/* A few hundred steps on bars: D tells real from fake well above chance, and the numbers of
 * a step are what the step reports. */
static void short_training(void **state) {
    (void)state;
    cx_gan *gan = tiny_gan(0, 3);
    cx_dataset *d = bars(512, 4);
    cx_optim *go = adam(cx_gan_generator(gan)), *dopt = adam(cx_gan_discriminator(gan));
    char *log = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&log, &size);
    cx_gan_fit_params fp = {.epochs = 3, .batch_size = 32, .seed = 5, .json = true, .out = out};
    cx_gan_fit_result r;
    assert_int_equal(cx_gan_fit(gan, go, dopt, d, &fp, &r), CX_OK);
    fclose(out);
    assert_int_equal(r.epochs_run, 3);
    assert_true(isfinite(r.last.d_loss) && isfinite(r.last.g_loss));
    if (!(r.last.d_accuracy > 0.75f && r.last.d_real > r.last.d_fake + 0.2f))
        fail_msg("D accuracy %g, D(x) %g, D(G(z)) %g", r.last.d_accuracy, r.last.d_real,
                 r.last.d_fake);
    json_error_t err;
    json_t *j = json_loadb(log, strcspn(log, "\n"), 0, &err);
    assert_non_null(j);
    const char *keys[] = {"epoch", "d_loss", "g_loss", "d_real", "d_fake", "d_fake_g",
                          "d_accuracy", "seconds", "steps_per_s"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        assert_true(json_is_number(json_object_get(j, keys[k])));
    assert_true(json_is_null(json_object_get(j, "classes")));
    json_decref(j);
    free(log);
    /* the step refuses bad settings */
    cx_tensor *x = cx_zeros(CX_SHAPE(4, 1, 28, 28));
    assert_int_equal(cx_gan_train_step(gan, go, dopt, x, NULL, 0.7f, NULL), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "smoothing 0.7");
    assert_int_equal(cx_gan_train_step(gan, NULL, dopt, x, NULL, 0, NULL), CX_ERR_ARG);
    cx_clear_error();
    cx_tensor_free(x);
    fp.smoothing = 0.6f;
    assert_int_equal(cx_gan_fit(gan, go, dopt, d, &fp, NULL), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "smoothing");
    fp = (cx_gan_fit_params){.epochs = 1, .batch_size = 1024};
    assert_int_equal(cx_gan_fit(gan, go, dopt, d, &fp, NULL), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "fewer than one batch");
    cx_optim_free(go);
    cx_optim_free(dopt);
    cx_gan_free(gan);
    cx_dataset_free(d);
}

/* Trains a tiny conditional GAN up to epochs, from resume when given, saving to path. */
static cx_gan *fit_tiny(const cx_dataset *d, int epochs, const char *path, const char *resume,
                        cx_optim **go_out, cx_optim **do_out) {
    cx_gan *gan;
    cx_optim *go, *dopt;
    cx_train_state s;
    if (resume) {
        gan = cx_gan_load(resume, &go, &dopt, &s);
        if (!gan) fail_msg("%s", cx_last_error());
        assert_true(go && dopt);
    } else {
        gan = tiny_gan(4, 7);
        go = adam(cx_gan_generator(gan));
        dopt = adam(cx_gan_discriminator(gan));
    }
    FILE *out = fopen("/dev/null", "w");
    cx_gan_fit_params fp = {.epochs = epochs, .batch_size = 32, .seed = 11, .json = true,
                            .out = out, .smoothing = 0.1f, .checkpoint_path = path,
                            .resume = resume ? &s : NULL};
    assert_int_equal(cx_gan_fit(gan, go, dopt, d, &fp, NULL), CX_OK);
    fclose(out);
    *go_out = go;
    *do_out = dopt;
    return gan;
}

static void resume_exactly(void **state) {
    (void)state;
    cx_test_scratch_new("gan");
    cx_dataset *d = bars(128, 8);
    cx_optim *o[6];
    cx_gan *whole = fit_tiny(d, 4, NULL, NULL, &o[0], &o[1]);
    cx_gan *half = fit_tiny(d, 2, cx_test_path("gan.st"), NULL, &o[2], &o[3]);
    cx_gan *rest = fit_tiny(d, 4, cx_test_path("gan2.st"), cx_test_path("gan.st"), &o[4], &o[5]);
    for (int m = 0; m < 2; m++) {
        cx_model *a = m ? cx_gan_discriminator(whole) : cx_gan_generator(whole);
        cx_model *b = m ? cx_gan_discriminator(rest) : cx_gan_generator(rest);
        assert_memory_equal(cx_model_params_flat(a), cx_model_params_flat(b),
                            (size_t)cx_model_num_params(a) * sizeof(float));
        for (int i = 0; i < cx_model_num_buffers(a); i++)
            cx_test_compare("buffer", cx_model_buffer(a, i), cx_model_buffer(b, i), 0);
    }
    for (int k = 0; k < 2; k++) {
        assert_int_equal(cx_optim_steps(o[k]), cx_optim_steps(o[4 + k]));
        for (int i = 0; i < cx_optim_state_count(o[k]); i++)
            cx_test_compare("optimizer state", cx_optim_state_tensor(o[k], i),
                            cx_optim_state_tensor(o[4 + k], i), 0);
    }
    /* a loaded GAN samples as the saved one */
    cx_gan *back = cx_gan_load(cx_test_path("gan2.st"), NULL, NULL, NULL);
    assert_non_null(back);
    assert_int_equal(cx_gan_classes(back), 4);
    cx_tensor *y = cx_from_data(CX_DTYPE_I32, CX_SHAPE(3), (int32_t[]){3, 0, 1});
    cx_rng *r1 = cx_rng_new(9), *r2 = cx_rng_new(9);
    cx_tensor *s1 = cx_gan_sample(back, 3, y, r1), *s2 = cx_gan_sample(rest, 3, y, r2);
    cx_test_compare("samples", s1, s2, 0);
    cx_tensor *tmp[] = {s1, s2, y};
    for (int i = 0; i < 3; i++) cx_tensor_free(tmp[i]);
    cx_rng_free(r1);
    cx_rng_free(r2);
    cx_gan_free(back);
    for (int i = 0; i < 6; i++) cx_optim_free(o[i]);
    cx_gan_free(whole);
    cx_gan_free(half);
    cx_gan_free(rest);
    cx_dataset_free(d);
}

static void checkpoint_errors(void **state) {
    (void)state;
    /* (the files of resume_exactly) */
    const char *gan = cx_test_path("gan.st");
    assert_null(cx_checkpoint_load(gan, NULL, NULL));
    assert_error(CX_ERR_FORMAT, "not a Cortex checkpoint");
    cx_model *m = cx_test_model("[model]\ninput = 4\n[dense]\nunits = 2\n");
    cx_train_state s = {.best_val_loss = INFINITY};
    assert_int_equal(cx_checkpoint_save(cx_test_path("cls.st"), m, NULL, &s), CX_OK);
    cx_model_free(m);
    assert_null(cx_gan_load(cx_test_path("cls.st"), NULL, NULL, NULL));
    assert_error(CX_ERR_FORMAT, "not a GAN checkpoint", "cortex-checkpoint-1");
    cx_test_copy_file(gan, cx_test_path("cut.st"), 3000);
    cx_optim *go = (cx_optim *)1, *dopt = (cx_optim *)1;
    assert_null(cx_gan_load(cx_test_path("cut.st"), &go, &dopt, NULL));
    assert_true(go == NULL && dopt == NULL);
    assert_int_not_equal(cx_last_status(), CX_OK);
    cx_clear_error();
    assert_null(cx_gan_load(cx_test_path("absent.st"), NULL, NULL, NULL));
    assert_error(CX_ERR_IO, "absent.st");
    assert_int_equal(cx_gan_save(gan, NULL, NULL, NULL, &s), CX_ERR_ARG);
    cx_clear_error();
    /* a failed save keeps the old file */
    cx_gan *g = cx_gan_load(gan, NULL, NULL, NULL);
    assert_non_null(g);
    assert_int_equal(cx_gan_save(cx_test_path("nodir/x.st"), g, NULL, NULL, &s), CX_ERR_IO);
    cx_clear_error();
    cx_gan_free(g);
}

/* ---- the command line ---- */

static void write_text(const char *name, const char *text) {
    FILE *f = fopen(cx_test_path(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void cli(void **state) {
    (void)state;
    if (!cx_test_cli()) {
        print_message("skipped: set CX_CLI to the cortex binary (make test does)\n");
        return;
    }
    cx_test_scratch_new("gan");
    cx_test_write_bars("bars", 256, 64);
    char text[512], in[16];
    snprintf(text, sizeof text, tiny_gen, 12);
    write_text("g.cfg", text);
    snprintf(in, sizeof in, "788");
    snprintf(text, sizeof text, tiny_disc, in);
    write_text("d.cfg", text);
    /* a classifier for the watch: always class 2 */
    cx_model *c = class_two("");
    cx_train_state s = {.best_val_loss = INFINITY};
    assert_int_equal(cx_checkpoint_save(cx_test_path("cls.st"), c, NULL, &s), CX_OK);
    cx_model_free(c);
    static char out[1 << 15];
    int rc = cx_test_run_cli(out, sizeof out, "gan --generator g.cfg --discriminator d.cfg "
                             "--classes 4 --data bars --epochs 2 --batch 32 --json --out gan.st "
                             "--grid-dir grids --plot losses.png --classifier cls.st --watch 200 "
                             "--progress none --smoothing 0.1");
    if (rc) print_error("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "{\"epoch\": 2, \"d_loss\": "));
    assert_non_null(strstr(out, "\"classes\": [0, 0, 200, 0]"));
    assert_non_null(strstr(out, "\"label_accuracy\": 0.25"));
    assert_non_null(strstr(out, "warning: epoch 2: possible mode collapse: class 2 takes 100.0%"));
    assert_true(cx_test_json_number(out, "epochs") == 2);
    assert_int_equal(access(cx_test_path("grids/epoch_001.png"), R_OK), 0);
    assert_int_equal(access(cx_test_path("grids/epoch_002.png"), R_OK), 0);
    assert_int_equal(access(cx_test_path("losses.png"), R_OK), 0);
    /* resume: one more epoch */
    assert_int_equal(cx_test_run_cli(out, sizeof out, "gan --resume gan.st --data bars --json "
                                     "--progress none"), 0);
    assert_non_null(strstr(out, "{\"epoch\": 3,"));
    /* samples: one class per row, or one digit; the classifier's report */
    assert_int_equal(cx_test_run_cli(out, sizeof out, "gan sample gan.st --n 8 --columns 4 "
                                     "--digit 3 --out grid.png --classifier cls.st --watch 40 "
                                     "--json"), 0);
    assert_true(cx_test_json_number(out, "samples") == 40);
    assert_true(cx_test_json_number(out, "classes_found") == 1);
    cx_tensor *img = cx_image_load(cx_test_path("grid.png"), 0, 0, 0);
    assert_true(img && cx_tensor_dim(img, 1) == 2 * (2 * 30 + 2) &&
                cx_tensor_dim(img, 2) == 2 * (4 * 30 + 2));
    cx_tensor_free(img);
    /* a time limit of a moment: one epoch, then stop */
    rc = cx_test_run_cli(out, sizeof out, "gan --generator g.cfg --discriminator d.cfg "
                         "--classes 4 --data bars --epochs 50 --batch 32 --time-limit 0.01 "
                         "--json --progress none");
    assert_int_equal(rc, 0);
    assert_true(cx_test_json_number(out, "epochs") == 1);
    assert_non_null(strstr(out, "\"stopped_by_time\": true"));
    const cx_test_cli_error bad[] = {
        {"gan --data bars --arch wgan", "'wgan' is not one of dense, dcgan, cgan", 2},
        {"gan --epochs 2", "needs --data", 2},
        {"gan --data bars --generator g.cfg", "go together", 2},
        {"gan --data bars --smoothing 0.9", "--smoothing must be", 2},
        {"gan --data bars --classes 3", "--classes goes with --generator", 2},
        {"gan --data bars --generator g.cfg --discriminator d.cfg --arch dense",
         "--arch and --noise choose a built-in config", 2},
        {"gan --resume gan.st --data bars --lr 0.1", "--resume continues", 2},
        {"gan --data bars --batch 1", "--batch at least 2", 2},
        {"gan --data bars --generator g.cfg --discriminator d.cfg",
         "the generator's output [1,28,28] is not the discriminator's input [788]", 1},
        {"gan --data bars --generator g.cfg --discriminator d.cfg --classes 4 --classifier "
         "absent.st", "absent.st", 1},
        {"gan --resume absent.st --data bars", "absent.st", 1},
        {"gan --resume cls.st --data bars", "not a GAN checkpoint", 1},
        {"gan --data absent", "absent", 1},
        {"gan sample gan.st --digit 4", "--digit 4 is outside 0..3", 2},
        {"gan sample", "missing arguments", 2},
        {"gan sample gan.st --n 0", "--n must be 1 to 10000", 2},
        {"gan sample cls.st", "not a GAN checkpoint", 1},
    };
    cx_test_cli_errors(bad, sizeof bad / sizeof *bad);
    cx_test_scratch_remove();
}

CX_TEST_GROUP(gan) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_configs), cmocka_unit_test(join_errors),
        cmocka_unit_test(watch_summarise), cmocka_unit_test(watch_classify),
        cmocka_unit_test(short_training),  cmocka_unit_test(resume_exactly),
        cmocka_unit_test(checkpoint_errors), cmocka_unit_test(cli),
    };
    CX_RUN_GROUP("gan", tests);
}
