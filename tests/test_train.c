/*
 * test_train.c - the training loop and checkpoints on a small generated problem (Gaussian
 * blobs, 4 classes): training learns it; a resumed run is bit-identical to an uninterrupted
 * one; early stopping stops and restores the best weights; a NaN loss stops training with a
 * message and leaves the last checkpoint loadable; JSON epoch lines carry the promised keys;
 * damaged or foreign checkpoint files are refused with a clear error.
 */
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#define DIM 12
#define CLASSES 4

/* n samples [n, DIM] around one centre per class; labels random when shuffle_labels. */
static cx_dataset *blobs(int64_t n, uint64_t seed, bool shuffle_labels) {
    cx_rng *rng = cx_rng_new(seed);
    cx_tensor *x = cx_zeros(CX_SHAPE(n, DIM));
    cx_tensor *y = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(n));
    float *xd = cx_tensor_f32(x);
    int32_t *yd = cx_tensor_data(y);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(cx_rng_u32(rng) % CLASSES);
        for (int j = 0; j < DIM; j++)
            xd[i * DIM + j] = 0.7f * cx_rng_normal(rng) + (j % CLASSES == c ? 1.5f : 0.0f);
        yd[i] = shuffle_labels ? (int32_t)(cx_rng_u32(rng) % CLASSES) : c;
    }
    cx_dataset *d = cx_dataset_from_tensors(x, y);
    cx_tensor_free(x);
    cx_tensor_free(y);
    cx_rng_free(rng);
    assert_non_null(d);
    return d;
}

static const char *const config =
    "[model]\ninput = 12\n"
    "[dense]\nunits = 32\n[relu]\n[dropout]\nrate = 0.2\n[dense]\nunits = 4\n";

static cx_model *make_model(uint64_t seed) {
    cx_rng *rng = cx_rng_new(seed);
    cx_model *m = cx_model_from_config(config, "test", rng);
    cx_rng_free(rng);
    if (!m) print_error("%s\n", cx_last_error());
    assert_non_null(m);
    return m;
}

static cx_optim *make_optim(cx_model *m, cx_optim_kind kind, float lr) {
    cx_optim_params p = cx_optim_defaults(kind);
    if (lr > 0) p.lr = lr;
    int n = cx_model_num_param_tensors(m);
    cx_tensor *params[16];
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) params[i] = cx_model_param(m, i);
    cx_optim *o = cx_optim_new(kind, &p, params, n);
    assert_non_null(o);
    return o;
}

static FILE *sink(void) {
    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    return f;
}

static void test_learns_blobs(void **state) {
    (void)state;
    cx_dataset *train = blobs(640, 1, false), *test = blobs(256, 2, false);
    cx_model *m = make_model(3);
    cx_optim *o = make_optim(m, CX_OPTIM_ADAM, 0.01f);
    FILE *out = sink();
    cx_fit_params p = {.epochs = 5, .batch_size = 32, .seed = 4, .progress = CX_PROGRESS_NONE,
                       .out = out};
    cx_fit_result r;
    assert_int_equal(cx_fit(m, o, train, test, &p, &r), CX_OK);
    print_message("blobs: train loss %.4f acc %.3f, val loss %.4f acc %.3f\n", r.train.loss,
                  r.train.accuracy, r.val.loss, r.val.accuracy);
    assert_int_equal(r.epochs_run, 5);
    assert_true(r.val.accuracy > 0.9f); /* chance is 0.25 */
    cx_metrics em;
    assert_int_equal(cx_evaluate(m, test, 100, NULL, &em), CX_OK);
    assert_int_equal(em.samples, 256);
    assert_true(fabsf(em.loss - r.val.loss) < 1e-5f);
    fclose(out);
    cx_optim_free(o);
    cx_model_free(m);
    cx_dataset_free(train);
    cx_dataset_free(test);
}

/* 2 epochs straight, and 1 epoch + checkpoint + load + 1 epoch, give the same bits. */
static void test_resume_is_exact(void **state) {
    (void)state;
    int threads = cx_get_num_threads();
    cx_set_num_threads(1);
    cx_dataset *train = blobs(300, 5, false), *val = blobs(100, 6, false);
    FILE *out = sink();
    cx_fit_params p = {.epochs = 2, .batch_size = 32, .seed = 9, .progress = CX_PROGRESS_NONE,
                       .out = out, .schedule = {.kind = CX_SCHEDULE_STEP, .step_size = 1,
                                                .gamma = 0.5f}};
    cx_model *a = make_model(11);
    cx_optim *oa = make_optim(a, CX_OPTIM_ADAM, 0.01f);
    assert_int_equal(cx_fit(a, oa, train, val, &p, NULL), CX_OK);

    cx_model *b = make_model(11);
    cx_optim *ob = make_optim(b, CX_OPTIM_ADAM, 0.01f);
    p.epochs = 1;
    p.checkpoint_path = cx_test_path("resume.safetensors");
    assert_int_equal(cx_fit(b, ob, train, val, &p, NULL), CX_OK);
    cx_optim *oc = NULL;
    cx_train_state st;
    cx_model *c = cx_checkpoint_load(p.checkpoint_path, &oc, &st);
    if (!c) print_error("%s\n", cx_last_error());
    assert_non_null(c);
    assert_non_null(oc);
    assert_int_equal(st.epoch, 1);
    assert_int_equal(cx_optim_kind_of(oc), CX_OPTIM_ADAM);
    p.epochs = 2;
    p.checkpoint_path = NULL;
    p.resume = &st;
    assert_int_equal(cx_fit(c, oc, train, val, &p, NULL), CX_OK);
    assert_int_equal(st.epoch, 2);
    int64_t n = cx_model_num_params(a);
    assert_int_equal(cx_model_num_params(c), n);
    assert_memory_equal(cx_model_params_flat(a), cx_model_params_flat(c), (size_t)n * 4);
    /* and it did train: the weights moved away from the start */
    cx_model *fresh = make_model(11);
    assert_memory_not_equal(cx_model_params_flat(a), cx_model_params_flat(fresh), (size_t)n * 4);
    cx_model_free(fresh);
    fclose(out);
    cx_optim_free(oa);
    cx_optim_free(ob);
    cx_optim_free(oc);
    cx_model_free(a);
    cx_model_free(b);
    cx_model_free(c);
    cx_dataset_free(train);
    cx_dataset_free(val);
    cx_set_num_threads(threads);
}

/* Validation labels are noise, so validation loss rises as the model fits the training set. */
static void test_early_stopping_restores_best(void **state) {
    (void)state;
    cx_dataset *train = blobs(256, 7, false), *val = blobs(128, 8, true);
    cx_model *m = make_model(12);
    cx_optim *o = make_optim(m, CX_OPTIM_ADAM, 0.02f);
    FILE *out = sink();
    cx_fit_params p = {.epochs = 60, .batch_size = 32, .seed = 1, .patience = 3,
                       .restore_best = true, .progress = CX_PROGRESS_NONE, .out = out};
    cx_fit_result r;
    assert_int_equal(cx_fit(m, o, train, val, &p, &r), CX_OK);
    print_message("early stopping: stopped after %d epochs, best %d\n", r.epochs_run,
                  r.best_epoch);
    assert_true(r.stopped_early);
    assert_true(r.epochs_run < 60);
    assert_int_equal(r.epochs_run, r.best_epoch + 3);
    cx_metrics em;
    assert_int_equal(cx_evaluate(m, val, 256, NULL, &em), CX_OK);
    assert_true(em.loss <= r.val.loss); /* the best epoch's weights are back */
    fclose(out);
    cx_optim_free(o);
    cx_model_free(m);
    cx_dataset_free(train);
    cx_dataset_free(val);
}

static void test_nan_stops_and_keeps_checkpoint(void **state) {
    (void)state;
    cx_dataset *train = blobs(128, 9, false);
    cx_model *m = make_model(13);
    cx_optim *o = make_optim(m, CX_OPTIM_SGD, 0.1f);
    FILE *out = sink();
    const char *ck = cx_test_path("nan.safetensors");
    cx_fit_params p = {.epochs = 1, .batch_size = 32, .seed = 1, .progress = CX_PROGRESS_NONE,
                       .out = out, .checkpoint_path = ck};
    assert_int_equal(cx_fit(m, o, train, NULL, &p, NULL), CX_OK);
    /* poison one sample: the step that meets it has a NaN loss */
    cx_tensor *x = cx_dataset_samples(train);
    cx_tensor_f32(x)[5 * DIM] = NAN;
    cx_train_state st;
    cx_optim *o2 = NULL;
    cx_model *m2 = cx_checkpoint_load(ck, &o2, &st);
    assert_non_null(m2);
    p.epochs = 3;
    p.resume = &st;
    assert_int_not_equal(cx_fit(m2, o2, train, NULL, &p, NULL), CX_OK);
    print_message("NaN: %s\n", cx_last_error());
    assert_non_null(strstr(cx_last_error(), "epoch 2 step"));
    assert_non_null(strstr(cx_last_error(), "NaN"));
    cx_train_state st2;
    cx_model *m3 = cx_checkpoint_load(ck, NULL, &st2);
    assert_non_null(m3);
    assert_int_equal(st2.epoch, 1);
    fclose(out);
    cx_model_free(m3);
    cx_optim_free(o2);
    cx_model_free(m2);
    cx_optim_free(o);
    cx_model_free(m);
    cx_dataset_free(train);
}

static void test_json_lines(void **state) {
    (void)state;
    cx_dataset *train = blobs(96, 10, false), *val = blobs(32, 11, false);
    cx_model *m = make_model(14);
    cx_optim *o = make_optim(m, CX_OPTIM_MOMENTUM, 0);
    const char *log = cx_test_path("log.jsonl");
    FILE *out = fopen(log, "w+");
    assert_non_null(out);
    cx_fit_params p = {.epochs = 2, .batch_size = 16, .json = true, .out = out,
                       .plot_path = cx_test_path("loss.png")};
    assert_int_equal(cx_fit(m, o, train, val, &p, NULL), CX_OK);
    rewind(out);
    char line[1024];
    int lines = 0;
    while (fgets(line, sizeof line, out)) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        assert_non_null(j);
        const char *keys[] = {"epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                              "images_per_s"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            assert_true(json_is_number(json_object_get(j, keys[k])));
        assert_int_equal(json_integer_value(json_object_get(j, "epoch")), lines + 1);
        json_decref(j);
        lines++;
    }
    assert_int_equal(lines, 2);
    assert_int_equal(access(cx_test_path("loss.png"), R_OK), 0);
    fclose(out);
    cx_optim_free(o);
    cx_model_free(m);
    cx_dataset_free(train);
    cx_dataset_free(val);
}

static void test_bad_checkpoints(void **state) {
    (void)state;
    cx_model *m = make_model(15);
    cx_optim *o = make_optim(m, CX_OPTIM_ADAM, 0);
    cx_train_state st = {.epoch = 3, .seed = 1, .best_val_loss = INFINITY};
    const char *good = cx_test_path("good.safetensors");
    assert_int_equal(cx_checkpoint_save(good, m, o, &st), CX_OK);
    cx_optim *o2 = NULL;
    cx_train_state st2;
    cx_model *m2 = cx_checkpoint_load(good, &o2, &st2);
    assert_non_null(m2);
    assert_int_equal(st2.epoch, 3);
    assert_true(isinf(st2.best_val_loss));
    cx_optim_free(o2);
    cx_model_free(m2);

    /* a plain weights file is not a checkpoint */
    const char *names[] = {"1.weight"};
    cx_tensor *w = cx_model_param(m, 0);
    const char *plain = cx_test_path("plain.safetensors");
    assert_int_equal(cx_safetensors_save(plain, 1, names, &w, 0, NULL, NULL), CX_OK);
    assert_null(cx_checkpoint_load(plain, NULL, NULL));
    assert_non_null(strstr(cx_last_error(), "not a Cortex checkpoint"));

    /* a file cut short anywhere is refused */
    FILE *f = fopen(good, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    unsigned char *buf = malloc((size_t)size);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    const char *cut = cx_test_path("cut.safetensors");
    for (long n = 0; n < size; n += size / 37 + 1) {
        FILE *g = fopen(cut, "wb");
        fwrite(buf, 1, (size_t)n, g);
        fclose(g);
        assert_null(cx_checkpoint_load(cut, NULL, NULL));
        assert_true(strlen(cx_last_error()) > 0);
    }
    free(buf);

    /* a config that disagrees with the stored weights: the tensor and both shapes named */
    const char *keys[] = {"format", "config", "train"};
    const char *values[] = {"cortex-checkpoint-1",
                            "[model]\ninput = 12\n[dense]\nunits = 5\n",
                            "{\"epoch\": 0, \"seed\": \"1\", \"base_lr\": 0.1, "
                            "\"best_val_loss\": null, \"best_epoch\": 0, \"bad_epochs\": 0, "
                            "\"scale\": 0, \"mean\": 0, \"std\": 0}"};
    const char *wname[] = {"0.weight"};
    const char *mismatch = cx_test_path("mismatch.safetensors");
    assert_int_equal(cx_safetensors_save(mismatch, 1, wname, &w, 3, keys, values), CX_OK);
    assert_null(cx_checkpoint_load(mismatch, NULL, NULL));
    print_message("mismatch: %s\n", cx_last_error());
    assert_non_null(strstr(cx_last_error(), "0."));
    cx_optim_free(o);
    cx_model_free(m);
}

CX_TEST_GROUP(train) {
    cx_test_scratch_new("train");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_blobs),
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_early_stopping_restores_best),
        cmocka_unit_test(test_nan_stops_and_keeps_checkpoint),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_bad_checkpoints),
    };
    CX_RUN_GROUP("train", tests);
    cx_test_scratch_remove();
}
