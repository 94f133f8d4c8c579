/*
 * mlp.c - training throughput of the MLP 784-512-512-10 (ReLU), batch 128, SGD with momentum
 * 0.9, lr 0.01, through cx_fit: the twin of bench/pytorch/mlp.py (same model, data size,
 * batch, optimizer and threads). The data are 16,384 random u8 "images" with random labels,
 * shuffled every epoch, as a real epoch would be.
 *
 * Prints JSON lines: {"name", "ms"} with ms the median time of one training step over epochs
 * 2-6 of a 6-epoch run (cx_fit's own per-epoch timing), plus images_per_s, the step's GFLOP/s (6 x batch x weights: forward
 * and both backward products), minor page faults per steady-state step and peak RSS; and
 * a 1024^3 sgemm for the roof this machine's BLAS reaches.
 * Usage: build/bench/mlp [--threads N] [--filter SUBSTRING]
 */
#include <cortex.h>

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define N_SAMPLES 16384
#define BATCH 128
#define EPOCHS 5
/* multiply-adds x 2 of the step's products: forward and dW for every layer, dX for the two
 * upper ones (the input needs no gradient) */
#define STEP_FLOPS (2.0 * BATCH * (2 * 784.0 * 512 + 3 * 512.0 * 512 + 3 * 512.0 * 10))

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what) {
    fprintf(stderr, "bench mlp: %s: %s\n", what, cx_last_error());
    exit(1);
}

static cx_dataset *random_images(void) {
    cx_rng *rng = cx_rng_new(1);
    cx_tensor *x = cx_tensor_new(CX_DTYPE_U8, CX_SHAPE(N_SAMPLES, 1, 28, 28));
    cx_tensor *y = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(N_SAMPLES));
    if (!x || !y) die("data");
    uint8_t *xd = cx_tensor_data(x);
    int32_t *yd = cx_tensor_data(y);
    for (int64_t i = 0; i < cx_tensor_numel(x); i++) xd[i] = (uint8_t)cx_rng_u32(rng);
    for (int64_t i = 0; i < N_SAMPLES; i++) yd[i] = (int32_t)(cx_rng_u32(rng) % 10);
    cx_dataset *d = cx_dataset_from_tensors(x, y);
    if (!d) die("dataset");
    cx_tensor_free(x);
    cx_tensor_free(y);
    cx_rng_free(rng);
    return d;
}

static const char mlp_config[] = "[model]\ninput = 1,28,28\n[flatten]\n[dense]\nunits = 512\n"
                                 "[relu]\n[dense]\nunits = 512\n[relu]\n[dense]\nunits = 10\n";

/* Trains a fresh MLP for epochs; returns the minor page faults of the run and writes the
 * epoch log (JSON lines) into log. */
static long train_run(const cx_dataset *d, int epochs, char **log, size_t *log_size) {
    cx_model *m = cx_model_from_config(mlp_config, "mlp", NULL);
    if (!m) die("model");
    int n = cx_model_num_param_tensors(m);
    cx_tensor *params[8];
    for (int i = 0; i < n; i++) params[i] = cx_model_param(m, i);
    cx_optim_params op = cx_optim_defaults(CX_OPTIM_MOMENTUM);
    op.lr = 0.01f;
    cx_optim *o = cx_optim_new(CX_OPTIM_MOMENTUM, &op, params, n);
    if (!o) die("optimizer");
    FILE *out = open_memstream(log, log_size);
    cx_fit_params fp = {.epochs = epochs, .batch_size = BATCH, .seed = 7, .json = true,
                        .out = out};
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    if (cx_fit(m, o, d, NULL, &fp, NULL) != CX_OK) die("fit");
    getrusage(RUSAGE_SELF, &r1);
    fclose(out);
    cx_optim_free(o);
    cx_model_free(m);
    return r1.ru_minflt - r0.ru_minflt;
}

static void bench_mlp(void) {
    cx_dataset *d = random_images();
    char *log = NULL;
    size_t size = 0;
    /* faults of epochs 2..6 = faults of a 6-epoch run minus those of a 1-epoch run, both
     * after a first run has loaded and warmed everything */
    free((train_run(d, 1, &log, &size), log));
    long faults_first = train_run(d, 1, &log, &size);
    free(log);
    long faults_all = train_run(d, EPOCHS + 1, &log, &size);
    double ms[EPOCHS];
    int k = 0;
    for (const char *p = strstr(log, "\"seconds\": "); p && k < EPOCHS + 1;
         p = strstr(p + 1, "\"seconds\": "), k++)
        if (k > 0) ms[k - 1] = strtod(p + 11, NULL) * 1e3 / (N_SAMPLES / BATCH);
    free(log);
    if (k != EPOCHS + 1) die("epoch log");
    qsort(ms, EPOCHS, sizeof ms[0], cmp_double);
    double step = ms[EPOCHS / 2];
    double flops = STEP_FLOPS;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"name\": \"mlp 784-512-512-10 train step\", \"ms\": %.4f, \"images_per_s\": %.0f, "
           "\"gflops\": %.1f, \"faults_per_step\": %.2f, \"peak_rss_mb\": %.1f}\n",
           step, BATCH / step * 1e3, flops / step / 1e6,
           (double)(faults_all - faults_first) / (EPOCHS * (N_SAMPLES / BATCH)),
           ru.ru_maxrss / 1024.0);
    cx_dataset_free(d);
}

/* The eight matrix products of one MLP step, alone (what the step would cost with free
 * elementwise work): forward X·Wᵀ per layer, backward Gᵀ·X per layer and G·W for the two
 * upper layers. Their time is the step's roof on this machine. */
static void bench_products(void) {
    static const int64_t dims[4] = {784, 512, 512, 10};
    cx_tensor *x[3], *w[3], *g[3];
    for (int l = 0; l < 3; l++) {
        x[l] = cx_randn(NULL, CX_SHAPE(BATCH, dims[l]));
        w[l] = cx_randn(NULL, CX_SHAPE(dims[l + 1], dims[l]));
        g[l] = cx_randn(NULL, CX_SHAPE(BATCH, dims[l + 1]));
    }
    cx_arena *arena = cx_arena_new(0);
    double t[50];
    for (int i = 0; i < 55; i++) {
        cx_arena_begin(arena);
        double t0 = now_ms();
        for (int l = 0; l < 3; l++) {
            cx_tensor *gt = cx_transpose(g[l], 0, 1);
            if (!cx_linear(x[l], w[l], NULL) || !cx_matmul(gt, x[l])) die("products");
            if (l > 0 && !cx_matmul(g[l], w[l])) die("products");
        }
        if (i >= 5) t[i - 5] = now_ms() - t0;
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    qsort(t, 50, sizeof t[0], cmp_double);
    double flops = STEP_FLOPS;
    printf("{\"name\": \"mlp step products alone (roof)\", \"ms\": %.4f, \"gflops\": %.1f}\n",
           t[25], flops / t[25] / 1e6);
    cx_arena_free(arena);
    for (int l = 0; l < 3; l++) {
        cx_tensor_free(x[l]);
        cx_tensor_free(w[l]);
        cx_tensor_free(g[l]);
    }
}

static void bench_sgemm(void) {
    cx_tensor *a = cx_randn(NULL, CX_SHAPE(1024, 1024)), *b = cx_randn(NULL, CX_SHAPE(1024, 1024));
    cx_arena *arena = cx_arena_new(0);
    double t[15];
    for (int i = 0; i < 17; i++) {
        cx_arena_begin(arena);
        double t0 = now_ms();
        if (!cx_matmul(a, b)) die("matmul");
        if (i >= 2) t[i - 2] = now_ms() - t0;
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    qsort(t, 15, sizeof t[0], cmp_double);
    printf("{\"name\": \"sgemm 1024^3 (roof)\", \"ms\": %.4f, \"gflops\": %.1f}\n", t[7],
           2.0 * 1024 * 1024 * 1024 / t[7] / 1e6);
    cx_arena_free(arena);
    cx_tensor_free(a);
    cx_tensor_free(b);
}

int main(int argc, char **argv) {
    const char *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) cx_set_num_threads(atoi(argv[++i]));
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) filter = argv[++i];
        else return fprintf(stderr, "usage: %s [--threads N] [--filter S]\n", argv[0]), 2;
    }
    if (!filter || strstr("mlp 784-512-512-10 train step", filter)) bench_mlp();
    if (!filter || strstr("mlp step products alone (roof)", filter)) bench_products();
    if (!filter || strstr("sgemm 1024^3 (roof)", filter)) bench_sgemm();
    return 0;
}
