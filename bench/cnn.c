/*
 * cnn.c - the Keras mnist_cnn (conv 32 3x3 ReLU, conv 64 3x3 ReLU, max-pool 2, dropout 0.25,
 * flatten, dense 128 ReLU, dropout 0.5, dense 10), the twin of bench/pytorch/cnn.py:
 * training through cx_fit (batch 128, Adam 1e-3, 8,192 random u8 28x28 pictures reshuffled
 * every epoch; median step of epochs 2-4), inference at batch 256 and the latency of one
 * picture (median forward passes in evaluation mode, no gradients).
 * Prints JSON lines {"name", "ms", ...}. Usage: build/bench/cnn [--threads N] [--filter S]
 */
#include "bench.h"

#define N_SAMPLES 8192
#define BATCH 128
#define EPOCHS 3

static const char cnn_config[] =
    "[model]\ninput = 1,28,28\n"
    "[conv2d]\nfilters = 32\nkernel = 3\n[relu]\n"
    "[conv2d]\nfilters = 64\nkernel = 3\n[relu]\n"
    "[maxpool2d]\nkernel = 2\n[dropout]\nrate = 0.25\n[flatten]\n"
    "[dense]\nunits = 128\n[relu]\n[dropout]\nrate = 0.5\n[dense]\nunits = 10\n";

/* forward multiply-adds x 2 per picture: the two convolutions and the two dense layers */
#define FWD_FLOPS (2.0 * (26 * 26 * 32 * 9.0 + 24 * 24 * 64 * 32 * 9.0 + 9216.0 * 128 + 1280))

static void bench_training(void) {
    cx_dataset *d = bench_random_images(N_SAMPLES, 1, 28, 28);
    double s[EPOCHS + 1], ms[EPOCHS];
    bench_train(cnn_config, CX_OPTIM_ADAM, 0, BATCH, d, EPOCHS + 1, s);
    for (int e = 0; e < EPOCHS; e++) ms[e] = s[e + 1] * 1e3 / (N_SAMPLES / BATCH);
    double step = bench_median(ms, EPOCHS);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    /* training does about 3x the forward work (forward, input and weight gradients) */
    printf("{\"name\": \"mnist_cnn train step (batch 128)\", \"ms\": %.4f, \"images_per_s\": "
           "%.0f, \"gflops\": %.1f, \"peak_rss_mb\": %.1f}\n", step, BATCH / step * 1e3,
           3 * FWD_FLOPS * BATCH / step / 1e6, ru.ru_maxrss / 1024.0);
    cx_dataset_free(d);
}

/* Median time of a no-grad forward pass over batch pictures. */
static double forward_ms(cx_model *m, int64_t batch, int reps) {
    cx_tensor *x = cx_rand(NULL, CX_SHAPE(batch, 1, 28, 28));
    cx_arena *arena = cx_arena_new(0);
    double t[200];
    cx_no_grad_begin();
    for (int i = 0; i < reps + 3; i++) {
        cx_arena_begin(arena);
        double t0 = bench_now_ms();
        if (!cx_model_forward(m, x)) bench_die("forward");
        if (i >= 3) t[i - 3] = bench_now_ms() - t0;
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    cx_no_grad_end();
    cx_arena_free(arena);
    cx_tensor_free(x);
    return bench_median(t, reps);
}

int main(int argc, char **argv) {
    const char *filter = bench_args(argc, argv);
    if (bench_wanted(filter, "mnist_cnn train step (batch 128)")) bench_training();
    cx_model *m = cx_model_from_config(cnn_config, "bench", NULL);
    if (!m) bench_die("model");
    if (bench_wanted(filter, "mnist_cnn inference (batch 256)")) {
        double ms = forward_ms(m, 256, 20);
        printf("{\"name\": \"mnist_cnn inference (batch 256)\", \"ms\": %.4f, \"images_per_s\": "
               "%.0f, \"gflops\": %.1f}\n", ms, 256 / ms * 1e3, FWD_FLOPS * 256 / ms / 1e6);
    }
    if (bench_wanted(filter, "mnist_cnn one picture")) {
        double ms = forward_ms(m, 1, 200);
        printf("{\"name\": \"mnist_cnn one picture\", \"ms\": %.4f}\n", ms);
    }
    cx_model_free(m);
    return 0;
}
