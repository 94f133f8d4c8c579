/*
 * test_faults.c - fault injection. Every allocation of building a model (every layer kind),
 * a whole training run through cx_fit (loader, arena, steps, optimizer, checkpoint), saving a
 * checkpoint and loading one fails in turn: each gives CX_ERR_OOM, never a crash or a leak
 * (the sanitizer build checks leaks at exit), and a failed save leaves the previous
 * checkpoint as it was with no temporary file behind. Write errors: a file-size limit
 * (RLIMIT_FSIZE, what a full disk looks like to write()) at every point of a checkpoint
 * save, and in the middle of a training run, leaves the previous checkpoint intact.
 */
#include "test.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define DIM 6
#define CLASSES 3

static const char *const mlp = "[model]\ninput = 6\n[dense]\nunits = 8\nactivation = relu\n"
                               "[dropout]\nrate = 0.2\n[dense]\nunits = 3\n";

/* Every layer kind a config can name, in two small models (images, sequences). */
static const char *const every_image_layer =
    "[model]\ninput = 2,8,8\n[conv2d]\nname = stem\nfilters = 4\nkernel = 3\npadding = same\n"
    "[batchnorm]\n[leaky_relu]\n[conv2d]\nfilters = 4\nkernel = 1\ninput = stem\n[add]\n"
    "from = -2\n[concat]\nlayers = -1,stem\n[conv_transpose2d]\nfilters = 2\nkernel = 2\n"
    "stride = 2\n[upsample]\nscale = 0.5\nmode = bilinear\n[maxpool2d]\nkernel = 2\n"
    "[avgpool2d]\nkernel = 2\n[adaptiveavgpool2d]\nsize = 1\n[globalavgpool2d]\n[flatten]\n"
    "[dropout]\n[dense]\nunits = 3\n[elu]\n[gelu]\n[sigmoid]\n[tanh]\n[softmax]\n";
static const char *const every_sequence_layer =
    "[model]\ninput = 5\n[embedding]\nvocab = 7\ndim = 4\n[lstm]\nhidden = 3\nlayers = 2\n"
    "stateful = true\nreturn_sequences = true\n[gru]\nhidden = 3\nreturn_sequences = true\n"
    "[rnn]\nhidden = 2\nreturn_sequences = true\n[flatten]\n[log_softmax]\n";
static const char *const conv1d_model =
    "[model]\ninput = 2,12\n[conv1d]\nfilters = 3\nkernel = 3\npadding = same\n[maxpool1d]\n"
    "kernel = 2\n[avgpool1d]\nkernel = 3\n[flatten]\n[dense]\nunits = 2\n[relu]\n";

static cx_dataset *small_data(int64_t n) {
    cx_rng *rng = cx_rng_new(5);
    cx_tensor *x = cx_randn(rng, CX_SHAPE(n, DIM));
    cx_tensor *y = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(n));
    for (int64_t i = 0; i < n; i++) ((int32_t *)cx_tensor_data(y))[i] = (int32_t)(i % CLASSES);
    cx_dataset *d = cx_dataset_from_tensors(x, y);
    cx_tensor_free(x);
    cx_tensor_free(y);
    cx_rng_free(rng);
    assert_non_null(d);
    return d;
}

static cx_optim *adam_for(cx_model *m) {
    cx_tensor *params[16];
    int n = cx_model_trainable_params(m, params);
    return cx_optim_new(CX_OPTIM_ADAM, NULL, params, n);
}

/* True if the scratch directory holds a leftover "*.tmp.*" file. */
static bool temp_left(void) {
    DIR *d = opendir(cx_test_scratch_dir());
    assert_non_null(d);
    bool found = false;
    for (struct dirent *e; (e = readdir(d));) found |= strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return found;
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    char *b = malloc(*n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* Asserts path holds exactly want[0..n). */
static void assert_file_is(const char *path, const char *want, size_t n) {
    size_t got_n = 0;
    char *got = slurp(path, &got_n);
    assert_non_null(got);
    assert_true(got_n == n && memcmp(got, want, n) == 0);
    free(got);
}

/* Runs step(ctx) with the Nth allocation failing, for N = 0, 1, ... until one run meets no
 * failure; each failed run must report CX_ERR_OOM. Returns how many runs failed. */
typedef bool (*step_fn)(void *ctx); /* true: it succeeded */
static int sweep(const char *what, step_fn step, void *ctx, long max) {
    int failures = 0;
    for (long n = 0; n < max; n++) {
        cx_test_fail_countdown = n;
        cx_set_allocator(&cx_test_counting_allocator);
        bool ok = step(ctx);
        bool done = cx_test_fail_countdown >= 0; /* nothing failed: all allocations tried */
        cx_test_fail_countdown = -1;
        cx_set_allocator(NULL);
        if (done) {
            if (!ok) fail_msg("%s: failed with no failed allocation: %s", what, cx_last_error());
            print_message("%s: %d allocations failed in turn\n", what, failures);
            return failures;
        }
        if (ok) fail_msg("%s: succeeded although allocation %ld failed", what, n);
        if (cx_last_status() != CX_ERR_OOM)
            fail_msg("%s: allocation %ld failed, but the error is %s: %s", what, n,
                     cx_status_name(cx_last_status()), cx_last_error());
        failures++;
        cx_clear_error();
    }
    fail_msg("%s: still failing after %ld allocations", what, max);
    return failures;
}

/* ---- model building ---- */

static bool build_and_step(void *ctx) {
    const char *text = ctx;
    cx_model *m = cx_model_from_config(text, "oom.cfg", NULL);
    if (!m) return false;
    cx_model_set_training(m, true);
    int64_t shape[CX_MAX_DIMS] = {2};
    int nd = cx_model_input_shape(m, shape + 1) + 1;
    if (shape[1] == 0) shape[1] = 5; /* a sequence: 5 steps */
    bool tokens = strstr(text, "[embedding]") != NULL;
    cx_tensor *x = tokens ? cx_tensor_new(CX_DTYPE_I32, nd, shape) : cx_zeros(nd, shape);
    cx_tensor *y = x ? cx_model_forward(m, x) : NULL;
    cx_tensor *s = y ? cx_sum(y, 0, NULL, false) : NULL;
    bool ok = s && cx_backward(s) == CX_OK && cx_model_config(m);
    cx_tensor_free(s);
    cx_tensor_free(y);
    cx_tensor_free(x);
    cx_model_free(m);
    return ok;
}

static void building_every_layer(void **state) {
    (void)state;
    assert_true(sweep("image layers", build_and_step, (void *)every_image_layer, 3000) > 50);
    assert_true(sweep("sequence layers", build_and_step, (void *)every_sequence_layer, 3000) >
                20);
    assert_true(sweep("conv1d", build_and_step, (void *)conv1d_model, 3000) > 10);
}

/* ---- a training run ---- */

typedef struct {
    cx_model *m;
    const cx_dataset *train, *val;
    const char *ck;
} fit_ctx;

static bool fit_once(void *ctx) {
    fit_ctx *c = ctx;
    cx_optim *o = adam_for(c->m);
    FILE *out = fopen("/dev/null", "w");
    cx_fit_params p = {.epochs = 2, .batch_size = 4, .seed = 3, .progress = CX_PROGRESS_NONE,
                       .out = out, .checkpoint_path = c->ck, .clip_norm = 1.0f};
    cx_status st = o ? cx_fit(c->m, o, c->train, c->val, &p, NULL) : cx_last_status();
    fclose(out);
    cx_optim_free(o);
    if (temp_left()) fail_msg("a temporary checkpoint file was left behind");
    if (st != CX_OK) {
        /* the checkpoint is the old one, or a whole one of the first epoch */
        cx_train_state ts;
        cx_model *back = cx_checkpoint_load(c->ck, NULL, &ts);
        if (!back) fail_msg("the checkpoint does not load after a failed run: %s",
                            cx_last_error());
        cx_model_free(back);
        cx_clear_error();
        cx__error(st, "(the run's error)");
    }
    return st == CX_OK;
}

static void training_run(void **state) {
    (void)state;
    cx_dataset *train = small_data(12), *val = small_data(4);
    cx_model *m = cx_model_from_config(mlp, "fit.cfg", NULL);
    assert_non_null(m);
    fit_ctx c = {.m = m, .train = train, .val = val, .ck = cx_test_path("fit.safetensors")};
    cx_train_state ts = {.best_val_loss = INFINITY};
    assert_int_equal(cx_checkpoint_save(c.ck, m, NULL, &ts), CX_OK);
    assert_true(sweep("cx_fit", fit_once, &c, 3000) > 30);
    cx_model_free(m);
    cx_dataset_free(train);
    cx_dataset_free(val);
}

/* ---- checkpoints ---- */

typedef struct {
    cx_model *m;
    cx_optim *o;
    const char *path;
    char *before; /* the checkpoint's bytes after its first save */
    size_t before_n;
} save_ctx;

static bool save_once(void *ctx) {
    save_ctx *c = ctx;
    cx_train_state ts = {.epoch = 7, .best_val_loss = INFINITY};
    cx_status st = cx_checkpoint_save(c->path, c->m, c->o, &ts);
    if (temp_left()) fail_msg("a temporary checkpoint file was left behind");
    if (st != CX_OK) assert_file_is(c->path, c->before, c->before_n);
    return st == CX_OK;
}

static bool load_once(void *ctx) {
    save_ctx *c = ctx;
    cx_optim *o = NULL;
    cx_train_state ts;
    cx_model *m = cx_checkpoint_load(c->path, &o, &ts);
    bool ok = m && o && ts.epoch == 7;
    cx_optim_free(o);
    cx_model_free(m);
    return ok;
}

/* A model with an optimizer that has taken a step (so it has state to save). */
static void trained(const char *text, cx_model **m, cx_optim **o) {
    *m = cx_model_from_config(text, "ck.cfg", NULL);
    assert_non_null(*m);
    *o = adam_for(*m);
    assert_non_null(*o);
    cx_model_set_training(*m, true);
    int64_t shape[CX_MAX_DIMS] = {2};
    int nd = cx_model_input_shape(*m, shape + 1) + 1;
    cx_tensor *x = cx_randn(NULL, nd, shape);
    cx_tensor *y = cx_model_forward(*m, x), *s = cx_sum(y, 0, NULL, false);
    assert_int_equal(cx_backward(s), CX_OK);
    assert_int_equal(cx_optim_step(*o), CX_OK);
    cx_tensor_free(s);
    cx_tensor_free(y);
    cx_tensor_free(x);
}

/* c: a trained model of text saved (epoch 1) as name, and the file's bytes. */
static void saved(const char *text, const char *name, save_ctx *c) {
    c->path = cx_test_path(name);
    trained(text, &c->m, &c->o);
    cx_train_state ts = {.epoch = 1, .best_val_loss = INFINITY};
    assert_int_equal(cx_checkpoint_save(c->path, c->m, c->o, &ts), CX_OK);
    c->before = slurp(c->path, &c->before_n);
}

static void saved_free(save_ctx *c) {
    free(c->before);
    cx_optim_free(c->o);
    cx_model_free(c->m);
}

static void checkpoint_save_and_load(void **state) {
    (void)state;
    save_ctx c;
    saved(every_image_layer, "ck.safetensors", &c);
    assert_true(sweep("checkpoint save", save_once, &c, 500) > 3);
    assert_true(sweep("checkpoint load", load_once, &c, 3000) > 20);
    saved_free(&c);
}

/* ---- write errors ---- */

static struct rlimit fsize_before;

static void fsize_limit(rlim_t bytes) {
    struct rlimit r = fsize_before;
    r.rlim_cur = bytes;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &r), 0);
}

static void write_errors(void **state) {
    (void)state;
    /* Past the limit write() fails with EFBIG (the signal it would raise is ignored): to the
     * writer it is a full disk at that byte. */
    void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &fsize_before), 0);
    save_ctx c;
    saved(mlp, "disk.safetensors", &c);
    cx_train_state ts = {.epoch = 2, .best_val_loss = INFINITY};
    size_t n = c.before_n;
    /* the model changes, so the next save would differ */
    cx_model_params_flat(c.m)[0] += 1.0f;
    int refused = 0;
    for (size_t limit = 0; limit < n; limit += limit < 64 ? 8 : n / 16) {
        fsize_limit(limit);
        cx_status st = cx_checkpoint_save(c.path, c.m, c.o, &ts);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &fsize_before), 0);
        assert_int_equal(st, CX_ERR_IO);
        if (refused++ == 0) print_message("full disk: %s\n", cx_last_error());
        assert_non_null(strstr(cx_last_error(), "disk.safetensors"));
        cx_clear_error();
        assert_file_is(c.path, c.before, n);
        assert_false(temp_left());
    }
    assert_true(refused > 10);

    /* a training run whose second epoch's checkpoint cannot be written: the error stops it
     * and the first epoch's checkpoint stays */
    cx_dataset *train = small_data(8);
    cx_optim *o = adam_for(c.m);
    FILE *out = fopen("/dev/null", "w");
    const char *ck = cx_test_path("run.safetensors");
    cx_fit_params p = {.epochs = 1, .batch_size = 4, .seed = 3, .progress = CX_PROGRESS_NONE,
                       .out = out, .checkpoint_path = ck};
    cx_train_state resume;
    assert_int_equal(cx_fit(c.m, o, train, NULL, &p, NULL), CX_OK);
    cx_optim_free(o);
    cx_model *m2 = cx_checkpoint_load(ck, &o, &resume);
    assert_non_null(m2);
    size_t one_n;
    char *one = slurp(ck, &one_n);
    p.epochs = 2;
    p.resume = &resume;
    fsize_limit(one_n / 2);
    cx_status st = cx_fit(m2, o, train, NULL, &p, NULL);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &fsize_before), 0);
    assert_int_equal(st, CX_ERR_IO);
    cx_clear_error();
    assert_file_is(ck, one, one_n);
    assert_false(temp_left());
    fclose(out);
    free(one);
    cx_optim_free(o);
    cx_model_free(m2);
    cx_dataset_free(train);
    saved_free(&c);
    signal(SIGXFSZ, old);
}

CX_TEST_GROUP(faults) {
    cx_test_scratch_new("faults");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(building_every_layer),
        cmocka_unit_test(training_run),
        cmocka_unit_test(checkpoint_save_and_load),
        cmocka_unit_test(write_errors),
    };
    CX_RUN_GROUP("faults", tests);
    cx_test_scratch_remove();
}
