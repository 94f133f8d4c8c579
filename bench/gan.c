/*
 * gan.c - DCGAN training steps/s (cortex/gan.h's built-in DCGAN: G dense 100 -> 128x7x7,
 * transposed convolutions to 64x14x14 and 1x28x28 with batchnorm and ReLU, tanh; D strided
 * convolutions 64x14x14 and 128x7x7 with LeakyReLU 0.2 and batchnorm, dense logit), batch 64,
 * Adam lr 2e-4 beta1 0.5 for both: one step is one D update (real and fake batches) and one
 * G update (non-saturating loss), through cx_gan_train_step. The twin of bench/pytorch/gan.py
 * (same nets, batch, optimizers, threads). The real batches are random pictures in -1..1.
 *
 * Prints a JSON line {"name", "ms", "steps_per_s"}: ms the median of 7 rounds of 20 steps'
 * mean step time after 10 warm-up steps.
 * Usage: build/bench/gan [--threads N] [--filter SUBSTRING]
 */
#include "bench.h"

#define BATCH 64
#define WARMUP 10
#define ROUNDS 7
#define STEPS 20
#define NAME "dcgan train step (D + G, batch 64)"

static void bench_dcgan(void) {
    static char gen[8192], disc[8192];
    int classes;
    if (cx_gan_default_configs(CX_GAN_ARCH_DCGAN, 100, gen, disc, sizeof gen, &classes) != CX_OK)
        bench_die("configs");
    cx_gan *gan = cx_gan_from_configs(gen, "generator", disc, "discriminator", classes, NULL);
    if (!gan) bench_die("model");
    cx_optim_params p = cx_optim_defaults(CX_OPTIM_ADAM);
    p.lr = 2e-4f;
    p.beta1 = 0.5f;
    cx_tensor *gp[32], *dp[32];
    int ng = cx_model_trainable_params(cx_gan_generator(gan), gp);
    int nd = cx_model_trainable_params(cx_gan_discriminator(gan), dp);
    cx_optim *go = cx_optim_new(CX_OPTIM_ADAM, &p, gp, ng);
    cx_optim *dopt = cx_optim_new(CX_OPTIM_ADAM, &p, dp, nd);
    cx_rng *rng = cx_rng_new(1);
    cx_tensor *u = cx_rand(rng, CX_SHAPE(BATCH, 1, 28, 28));
    cx_tensor *u2 = cx_mul_scalar(u, 2.0f), *x = cx_add_scalar(u2, -1.0f);
    cx_arena *arena = cx_arena_new(0);
    if (!go || !dopt || !x || !arena) bench_die("setup");
    cx_gan_set_training(gan, true);
    double ms[ROUNDS];
    for (int r = -1; r < ROUNDS; r++) {
        int steps = r < 0 ? WARMUP : STEPS;
        double t0 = bench_now_ms();
        for (int s = 0; s < steps; s++) {
            cx_gan_stats st;
            cx_arena_begin(arena);
            if (cx_gan_train_step(gan, go, dopt, x, NULL, 0.0f, &st) != CX_OK) bench_die("step");
            cx_arena_end(arena);
            cx_arena_reset(arena);
        }
        if (r >= 0) ms[r] = (bench_now_ms() - t0) / steps;
    }
    double step = bench_median(ms, ROUNDS);
    printf("{\"name\": \"" NAME "\", \"ms\": %.4f, \"steps_per_s\": %.2f}\n", step, 1e3 / step);
    cx_arena_free(arena);
    cx_tensor_free(x);
    cx_tensor_free(u2);
    cx_tensor_free(u);
    cx_rng_free(rng);
    cx_optim_free(go);
    cx_optim_free(dopt);
    cx_gan_free(gan);
}

int main(int argc, char **argv) {
    const char *filter = bench_args(argc, argv);
    if (bench_wanted(filter, NAME)) bench_dcgan();
    return 0;
}
