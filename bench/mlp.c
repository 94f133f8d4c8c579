/*
 * mlp.c - training throughput of the MLP 784-512-512-10 (ReLU), batch 128, SGD with momentum
 * 0.9, lr 0.01, through cx_fit: the twin of bench/pytorch/mlp.py (same model, data size,
 * batch, optimizer and threads). The data are 16,384 random u8 "images" with random labels,
 * shuffled every epoch, as a real epoch would be.
 *
 * Prints JSON lines: {"name", "ms"} with ms the median time of one training step over epochs
 * 2-6 of a 6-epoch run (cx_fit's own per-epoch timing), plus images_per_s, the step's GFLOP/s
 * (counting the products it needs), minor page faults per steady-state step and peak RSS; the
 * step's products alone (its roof) and a 1024^3 sgemm.
 * Usage: build/bench/mlp [--threads N] [--filter SUBSTRING]
 */
#include "bench.h"

#define N_SAMPLES 16384
#define BATCH 128
#define EPOCHS 5
#define STEPS (N_SAMPLES / BATCH)
/* multiply-adds x 2 of the step's products: forward and dW for every layer, dX for the two
 * upper ones (the input needs no gradient) */
#define STEP_FLOPS (2.0 * BATCH * (2 * 784.0 * 512 + 3 * 512.0 * 512 + 3 * 512.0 * 10))

static const char mlp_config[] = "[model]\ninput = 1,28,28\n[flatten]\n[dense]\nunits = 512\n"
                                 "[relu]\n[dense]\nunits = 512\n[relu]\n[dense]\nunits = 10\n";

static void bench_mlp(void) {
    cx_dataset *d = bench_random_images(N_SAMPLES, 1, 28, 28);
    double s[EPOCHS + 1];
    /* faults of epochs 2..6 = faults of a 6-epoch run minus those of a 1-epoch run, both
     * after a first run has loaded and warmed everything */
    bench_train(mlp_config, CX_OPTIM_MOMENTUM, 0.01f, BATCH, d, 1, s);
    long faults_first = bench_train(mlp_config, CX_OPTIM_MOMENTUM, 0.01f, BATCH, d, 1, s);
    long faults_all = bench_train(mlp_config, CX_OPTIM_MOMENTUM, 0.01f, BATCH, d, EPOCHS + 1, s);
    double ms[EPOCHS];
    for (int e = 0; e < EPOCHS; e++) ms[e] = s[e + 1] * 1e3 / STEPS;
    double step = bench_median(ms, EPOCHS);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"name\": \"mlp 784-512-512-10 train step\", \"ms\": %.4f, \"images_per_s\": %.0f, "
           "\"gflops\": %.1f, \"faults_per_step\": %.2f, \"peak_rss_mb\": %.1f}\n",
           step, BATCH / step * 1e3, STEP_FLOPS / step / 1e6,
           (double)(faults_all - faults_first) / (EPOCHS * STEPS), ru.ru_maxrss / 1024.0);
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
        double t0 = bench_now_ms();
        for (int l = 0; l < 3; l++) {
            cx_tensor *gt = cx_transpose(g[l], 0, 1);
            if (!cx_linear(x[l], w[l], NULL) || !cx_matmul(gt, x[l])) bench_die("products");
            if (l > 0 && !cx_matmul(g[l], w[l])) bench_die("products");
        }
        if (i >= 5) t[i - 5] = bench_now_ms() - t0;
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    double ms = bench_median(t, 50);
    printf("{\"name\": \"mlp step products alone (roof)\", \"ms\": %.4f, \"gflops\": %.1f}\n", ms,
           STEP_FLOPS / ms / 1e6);
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
        double t0 = bench_now_ms();
        if (!cx_matmul(a, b)) bench_die("matmul");
        if (i >= 2) t[i - 2] = bench_now_ms() - t0;
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    double ms = bench_median(t, 15);
    printf("{\"name\": \"sgemm 1024^3 (roof)\", \"ms\": %.4f, \"gflops\": %.1f}\n", ms,
           2.0 * 1024 * 1024 * 1024 / ms / 1e6);
    cx_arena_free(arena);
    cx_tensor_free(a);
    cx_tensor_free(b);
}

int main(int argc, char **argv) {
    const char *filter = bench_args(argc, argv);
    if (bench_wanted(filter, "mlp 784-512-512-10 train step")) bench_mlp();
    if (bench_wanted(filter, "mlp step products alone (roof)")) bench_products();
    if (bench_wanted(filter, "sgemm 1024^3 (roof)")) bench_sgemm();
    return 0;
}
