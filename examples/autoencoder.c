/*
 * autoencoder.c - a denoising autoencoder and a variational autoencoder from C, on the MNIST
 * digits (scripts/get-data). The denoising one is trained by its own loop, step by step
 * (noise, loss, backward, Adam), to show what `cortex autoencoder --noise` does; the VAE with
 * cx_autoencoder_fit, then used on its own: its decoder turns random latents into digits.
 * Writes denoised.png (noisy, denoised, clean rows) and vae_samples.png.
 * Usage: build/examples/autoencoder [EPOCHS]
 */
#include <cortex.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(void) {
    fprintf(stderr, "autoencoder: %s\n", cx_last_error());
    return 1;
}

/* An Adam optimizer over both networks' parameters. */
static cx_optim *adam_for(cx_autoencoder *ae) {
    cx_tensor *params[64];
    int n = cx_autoencoder_trainable_params(ae, params);
    return cx_optim_new(CX_OPTIM_ADAM, NULL, params, n);
}

int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 3;
    cx_dataset *train = cx_dataset_load("mnist", CX_SPLIT_TRAIN);
    cx_dataset *test = cx_dataset_load("mnist", CX_SPLIT_TEST);
    if (!train || !test) return fail();
    static char enc[4096], dec[4096];

    /* 1. Denoising: the convolutional autoencoder sees x + 0.5 N(0,1), learns to give x. */
    cx_ae_params dp = cx_ae_defaults(CX_AE_PLAIN);
    dp.noise = 0.5f;
    if (cx_ae_default_configs(CX_AE_ARCH_CONV, 0, enc, dec, sizeof enc)) return fail();
    cx_autoencoder *dae = cx_autoencoder_from_configs(enc, "conv encoder", dec, "conv decoder",
                                                      &dp, NULL);
    cx_optim *opt = dae ? adam_for(dae) : NULL;
    cx_loader *batches = cx_loader_new(train, &(cx_loader_params){.batch_size = 128,
                                                                  .shuffle = true, .seed = 1});
    cx_arena *step = cx_arena_new(0);
    if (!opt || !batches || !step) return fail();
    cx_autoencoder_set_training(dae, true);
    for (int e = 0; e < epochs; e++) {
        cx_loader_start_epoch(batches, e);
        cx_tensor *x, *labels;
        double sum = 0;
        int64_t seen = 0;
        while (cx_loader_next(batches, &x, &labels)) {
            cx_arena_begin(step); /* every tensor of the step lives here */
            cx_optim_zero_grad(opt);
            cx_tensor *noisy = cx_autoencoder_add_noise(dae, x, NULL);
            cx_ae_terms t;
            cx_tensor *loss = cx_autoencoder_loss(dae, noisy, x, NULL, &t);
            if (!loss || cx_backward(loss) != CX_OK || cx_optim_step(opt) != CX_OK) return fail();
            cx_tensor_free(noisy); /* a no-op for the step's tensors */
            sum += t.total * (double)cx_tensor_dim(x, 0);
            seen += cx_tensor_dim(x, 0);
            cx_arena_end(step);
            cx_arena_reset(step);
        }
        printf("denoising epoch %d: loss %.2f per digit\n", e + 1, sum / (double)seen);
    }
    cx_ae_metrics m;
    if (cx_autoencoder_evaluate(dae, test, 256, 1, &m) != CX_OK) return fail();
    printf("test: squared error per pixel %.4f for the noisy digits, %.4f once denoised\n",
           m.input_mse, m.mse);
    cx_loader *first = cx_loader_new(test, &(cx_loader_params){.batch_size = 10});
    cx_tensor *x, *labels;
    cx_loader_start_epoch(first, 0);
    cx_loader_next(first, &x, &labels);
    cx_tensor *rows = cx_autoencoder_picture_reconstructions(dae, x, NULL);
    if (!rows || cx_image_save_png("denoised.png", rows) != CX_OK) return fail();
    cx_tensor_free(rows);

    /* 2. A VAE with a 2-D latent, trained by cx_autoencoder_fit, then sampled. */
    if (cx_ae_default_configs(CX_AE_ARCH_VAE, 2, enc, dec, sizeof enc)) return fail();
    cx_ae_params vp = cx_ae_defaults(CX_AE_VARIATIONAL);
    cx_autoencoder *vae = cx_autoencoder_from_configs(enc, "vae encoder", dec, "vae decoder", &vp,
                                                      NULL);
    cx_optim *vopt = vae ? adam_for(vae) : NULL;
    cx_ae_fit_params fit = {.epochs = epochs, .batch_size = 32, .seed = 1};
    if (!vopt || cx_autoencoder_fit(vae, vopt, train, test, &fit, NULL) != CX_OK) return fail();
    cx_tensor *samples = cx_autoencoder_picture_samples(vae, 40, 10, NULL);
    if (!samples || cx_image_save_png("vae_samples.png", samples) != CX_OK) return fail();
    printf("wrote denoised.png and vae_samples.png\n");

    cx_tensor_free(samples);
    cx_optim_free(vopt);
    cx_autoencoder_free(vae);
    cx_loader_free(first);
    cx_arena_free(step);
    cx_loader_free(batches);
    cx_optim_free(opt);
    cx_autoencoder_free(dae);
    cx_dataset_free(train);
    cx_dataset_free(test);
    return 0;
}
