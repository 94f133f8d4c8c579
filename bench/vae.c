/*
 * vae.c - training throughput of the variational autoencoder 784-512-2 (encoder 784-512-(2, 2),
 * decoder 2-512-784, ReLU, BCE on logits + KL), batch 128, Adam lr 1e-3, through
 * cx_autoencoder_fit: the twin of bench/pytorch/vae.py (same model, data size, batch,
 * optimizer and threads). The data are 16,384 random u8 pictures, shuffled every epoch.
 *
 * Prints a JSON line {"name", "ms"} with ms the median time of one training step over epochs
 * 2-6 of a 6-epoch run (the fit's own per-epoch timing), plus images_per_s.
 * Usage: build/bench/vae [--threads N] [--filter SUBSTRING]
 */
#include "bench.h"

#define N_SAMPLES 16384
#define BATCH 128
#define EPOCHS 5
#define STEPS (N_SAMPLES / BATCH)
#define NAME "vae 784-512-2 train step"

static const char encoder[] = "[model]\ninput = 1,28,28\n[flatten]\n[dense]\nunits = 512\n"
                              "activation = relu\n[dense]\nunits = 4\n";
static const char decoder[] = "[model]\ninput = 2\nloss = bce\n[dense]\nunits = 512\n"
                              "activation = relu\n[dense]\nunits = 784\n[reshape]\n"
                              "shape = 1,28,28\n[sigmoid]\n";

static void bench_vae(void) {
    cx_dataset *d = bench_random_images(N_SAMPLES, 1, 28, 28);
    cx_ae_params p = cx_ae_defaults(CX_AE_VARIATIONAL);
    cx_autoencoder *ae = cx_autoencoder_from_configs(encoder, "encoder", decoder, "decoder", &p,
                                                     NULL);
    if (!ae) bench_die("model");
    cx_tensor *params[16];
    int n = cx_autoencoder_trainable_params(ae, params);
    cx_optim *o = cx_optim_new(CX_OPTIM_ADAM, NULL, params, n);
    if (!o) bench_die("optimizer");
    char *log = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&log, &size);
    cx_ae_fit_params fp = {.epochs = EPOCHS + 1, .batch_size = BATCH, .seed = 7, .json = true,
                           .out = out};
    if (cx_autoencoder_fit(ae, o, d, NULL, &fp, NULL) != CX_OK) bench_die("fit");
    fclose(out);
    double ms[EPOCHS];
    int k = -1;
    for (const char *s = strstr(log, "\"seconds\": "); s && k < EPOCHS;
         s = strstr(s + 1, "\"seconds\": "), k++)
        if (k >= 0) ms[k] = strtod(s + 11, NULL) * 1e3 / STEPS; /* epoch 1 warms up */
    free(log);
    if (k != EPOCHS) bench_die("epoch log");
    double step = bench_median(ms, EPOCHS);
    printf("{\"name\": \"" NAME "\", \"ms\": %.4f, \"images_per_s\": %.0f}\n", step,
           BATCH / step * 1e3);
    cx_optim_free(o);
    cx_autoencoder_free(ae);
    cx_dataset_free(d);
}

int main(int argc, char **argv) {
    const char *filter = bench_args(argc, argv);
    if (bench_wanted(filter, NAME)) bench_vae();
    return 0;
}
