/*
 * cortex/autoencoder.h - autoencoders (dense, convolutional, denoising) and variational
 * autoencoders: an encoder and a decoder, each a cx_model built from config text and trained
 * together; encoding, decoding and sampling on their own; the pictures that show what they
 * learnt; checkpoints holding both networks. Included by cortex.h.
 *
 * Plain autoencoder:  z = encoder(x), x' = decoder(z). The encoder's output shape per sample
 *                     is the decoder's input shape (the latent shape: [2], or [3,7,7]).
 * Variational (VAE):  the encoder's output [2L] holds the mean mu (first L) and the
 *                     log-variance (last L) of q(z|x); training decodes
 *                     z = mu + exp(logvar / 2) * eps with eps ~ N(0, 1) (the
 *                     reparameterisation of Kingma & Welling, arXiv:1312.6114); the decoder
 *                     takes [L]. Encoding for use gives mu.
 * Loss per sample:    reconstruction, summed over the sample's elements: binary cross-entropy
 *                     when the decoder's config says `loss = bce` (a final sigmoid is folded
 *                     in, as cx_model_loss does), squared error for `loss = mse`; plus, for a
 *                     VAE, beta * KL(N(mu, sigma^2) || N(0, 1)) summed over the latent; the
 *                     mean over the batch is minimised. beta = 1 is the ELBO.
 * Denoising:          with noise > 0 the inputs are x + noise * N(0, 1) clamped to 0..1 and
 *                     the targets stay the clean x.
 *
 * The decoder's output is a picture in 0..1 (the default configs end in a sigmoid); its
 * shape per sample has as many elements as the encoder's input and is read in that shape.
 * Samples are scaled to 0..1 (u8 / 255) for training, the only scale BCE targets allow.
 *
 * Ownership: an autoencoder owns its two models (cx_autoencoder_encoder/decoder return them
 * for inspection, summaries and optimizers; they live as long as the autoencoder). Tensors
 * come back as from any op: in the current arena, or on the heap for the caller to free.
 */
#ifndef CORTEX_AUTOENCODER_H
#define CORTEX_AUTOENCODER_H

#include "cortex.h"
#include "cortex/data.h"
#include "cortex/nn.h"
#include "cortex/optim.h"
#include "cortex/train.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CX_AE_PLAIN = 0, CX_AE_VARIATIONAL } cx_ae_kind;

typedef struct {
    cx_ae_kind kind;
    float beta;  /* VAE: weight of the KL term, >= 0 */
    float noise; /* standard deviation of the noise added to training inputs, 0..10 (0 none) */
} cx_ae_params;

/* beta 1, noise 0. */
cx_ae_params cx_ae_defaults(cx_ae_kind kind);
/* "plain", "variational" ("unknown" outside the enum). */
const char *cx_ae_kind_name(cx_ae_kind kind);

typedef struct cx_autoencoder cx_autoencoder;

/* ---- building ---- */

/* Joins encoder and decoder, taking ownership of both (freed on failure too). params NULL =
 * cx_ae_defaults(CX_AE_PLAIN). Errors (CX_ERR_SHAPE) name both shapes: a plain encoder's output
 * that is not the decoder's input, a VAE encoder's output that is not [2L] for a decoder input
 * [L], a decoder output with another number of elements than the encoder's input; CX_ERR_ARG
 * for a beta or noise out of range or a decoder trained with cross-entropy. */
cx_autoencoder *cx_autoencoder_new(cx_model *encoder, cx_model *decoder,
                                   const cx_ae_params *params);
/* Builds both models from config text (sources name them in messages) and joins them;
 * parameters are initialised from rng (NULL = default generator). */
cx_autoencoder *cx_autoencoder_from_configs(const char *encoder_text, const char *encoder_source,
                                            const char *decoder_text, const char *decoder_source,
                                            const cx_ae_params *params, cx_rng *rng);
void cx_autoencoder_free(cx_autoencoder *ae); /* NULL is a no-op */

/* The built-in configs for 28x28 grey pictures (MNIST, Fashion-MNIST):
 *   CX_AE_ARCH_DENSE  784-512-256-L-256-512-784 with ReLU (latent 0 means 2)
 *   CX_AE_ARCH_CONV   conv 32 / pool / conv 32 / pool / conv 3: a 3x7x7 bottleneck, and
 *                     transposed convolutions back to 1x28x28 (latent must be 0 or 147)
 *   CX_AE_ARCH_VAE    784-512-256-(mu L, logvar L) and L-256-512-784 (latent 0 means 2)
 * Each decoder ends in a sigmoid and says loss = bce. The texts are written into encoder and
 * decoder (size bytes each); models/autoencoder_*.cfg, conv_autoencoder_*.cfg and vae_*.cfg
 * hold them for the default latent. CX_ERR_ARG for a latent out of 1..4096 or a buffer too
 * small. */
typedef enum { CX_AE_ARCH_DENSE = 0, CX_AE_ARCH_CONV, CX_AE_ARCH_VAE } cx_ae_arch;
cx_status cx_ae_default_configs(cx_ae_arch arch, int64_t latent, char *encoder, char *decoder,
                                size_t size);

/* ---- inspecting ---- */

cx_model *cx_autoencoder_encoder(cx_autoencoder *ae);
cx_model *cx_autoencoder_decoder(cx_autoencoder *ae);
cx_ae_params cx_autoencoder_params(const cx_autoencoder *ae);
/* The latent shape per sample (the decoder's input); returns ndim. */
int cx_autoencoder_latent_shape(const cx_autoencoder *ae, int64_t *shape);
int64_t cx_autoencoder_latent_size(const cx_autoencoder *ae); /* its elements */
/* The trainable parameters of the encoder, then the decoder (room for all parameter tensors
 * of both); returns how many. An optimizer over this list is what checkpoints store. */
int cx_autoencoder_trainable_params(cx_autoencoder *ae, cx_tensor **out);
int cx_autoencoder_num_param_tensors(const cx_autoencoder *ae);
/* The generator of training noise and eps (owned by ae; its state goes into checkpoints). */
cx_rng *cx_autoencoder_rng(cx_autoencoder *ae);
/* Training or evaluation mode of both models (dropout, batch norm). */
void cx_autoencoder_set_training(cx_autoencoder *ae, bool training);

/* ---- running (recorded for autograd like any op) ---- */

/* x [N, input shape...] -> the latent code [N, latent shape...]: the encoder's output, or the
 * mean mu for a VAE; *logvar (may be NULL) receives the VAE's log-variance [N, L] (NULL for
 * a plain autoencoder). */
cx_tensor *cx_autoencoder_encode(cx_autoencoder *ae, cx_tensor *x, cx_tensor **logvar);
/* z [N, latent shape...] (or [N, latent size]) -> pictures [N, input shape...] in 0..1. */
cx_tensor *cx_autoencoder_decode(cx_autoencoder *ae, cx_tensor *z);
/* decode(encode(x)), the mean latent for a VAE. */
cx_tensor *cx_autoencoder_reconstruct(cx_autoencoder *ae, cx_tensor *x);
/* n latents drawn from N(0, 1) (rng NULL = default) decoded: [n, input shape...]. VAE only
 * (a plain autoencoder has no prior: CX_ERR_UNSUPPORTED). */
cx_tensor *cx_autoencoder_sample(cx_autoencoder *ae, int64_t n, cx_rng *rng);
/* x with the autoencoder's training noise: clamp(x + noise * N(0, 1), 0, 1); without noise x
 * itself, as a new reference: free the result with cx_tensor_free even inside an arena when
 * x is a heap tensor (a loader's batch). */
cx_tensor *cx_autoencoder_add_noise(cx_autoencoder *ae, cx_tensor *x, cx_rng *rng);

/* The loss terms of one batch, per sample (means over the batch). */
typedef struct {
    float recon; /* reconstruction */
    float kl;    /* KL divergence (0 for a plain autoencoder) */
    float total; /* recon + beta * kl: what is minimised */
} cx_ae_terms;

/* The training loss (a scalar: recon + beta kl) of inputs x_in against targets x ([N, input
 * shape...] both; pass x twice without denoising), eps drawn from rng (NULL = default).
 * terms (may be NULL) receives its parts. */
cx_tensor *cx_autoencoder_loss(cx_autoencoder *ae, cx_tensor *x_in, cx_tensor *x, cx_rng *rng,
                               cx_ae_terms *terms);

/* ---- training ---- */

typedef struct {
    cx_ae_terms terms;
    float mse;       /* squared error per element of reconstruct(input) to the clean sample */
    float input_mse; /* denoising: of the noisy input to the clean sample (NAN without noise) */
    int64_t samples;
} cx_ae_metrics;

/* Loss terms and reconstruction error of ae (evaluation mode, no gradients) over d, batch at
 * a time; the noise and eps come from a generator seeded with seed, so the figures repeat. */
cx_status cx_autoencoder_evaluate(cx_autoencoder *ae, const cx_dataset *d, int64_t batch,
                                  uint64_t seed, cx_ae_metrics *out);
/* The same over all ranks of a distributed run (cortex/dist.h), each evaluating its part of
 * global batches of batch samples (batch / ranks each) with the draws one process would
 * make; every rank receives the totals. One process: cx_autoencoder_evaluate. */
cx_status cx_autoencoder_evaluate_sharded(cx_autoencoder *ae, const cx_dataset *d,
                                          int64_t batch, uint64_t seed, cx_ae_metrics *out);

typedef struct {
    int epochs;           /* total epochs (a resumed run goes on up to this) */
    int64_t batch_size;   /* default 128 */
    uint64_t seed;        /* shuffling, noise, eps and dropout */
    cx_progress progress;
    bool json;            /* one JSON object per epoch on `out` */
    FILE *out;            /* default stdout */
    const char *checkpoint_path; /* saved after every epoch when set */
    cx_train_state *resume;      /* continue from this state (from cx_autoencoder_load) */
    const char *data_name;       /* the training data's name, kept in checkpoints */
    /* Data-parallel over the ranks of an MPI job, as cx_fit_params.distributed: batch_size
     * per rank, noise, eps and dropout drawn per global sample, evaluation sharded, rank 0
     * alone logs and writes the checkpoint. */
    bool distributed;
} cx_ae_fit_params;

typedef struct {
    int epochs_run;    /* counting resumed ones */
    cx_ae_metrics train, val; /* last epoch (val.samples 0 without validation data) */
    float images_per_s;       /* last epoch */
} cx_ae_fit_result;

/* Trains ae with o (an optimizer over cx_autoencoder_trainable_params, in that order) on the
 * samples of train (labels unused), evaluating on val (may be NULL) after every epoch. Each
 * epoch logs the training terms (and val's: terms, mse) as a line or, with json, as
 * {"epoch", "recon_loss", "kl", "loss", "val_recon_loss", "val_kl", "val_loss", "val_mse",
 * "val_input_mse", "seconds", "images_per_s"} (null where a figure does not apply). Steps run
 * in one arena and allocate nothing after the first. A NaN or infinite loss stops training
 * with an error naming the epoch and step; the last checkpoint stays as it was. */
cx_status cx_autoencoder_fit(cx_autoencoder *ae, cx_optim *o, const cx_dataset *train,
                             const cx_dataset *val, const cx_ae_fit_params *params,
                             cx_ae_fit_result *result);

/* ---- checkpoints ---- */

/* One safetensors file: the encoder's tensors as "encoder.<name>", the decoder's as
 * "decoder.<name>", the optimizer's state (o may be NULL) as "optim.encoder.<name>.<buffer>"
 * ..., both configs, the kind, beta and noise, the training state and every generator, as
 * cx_checkpoint_save writes a classifier (metadata "format": "cortex-autoencoder-1").
 * Written atomically. */
cx_status cx_autoencoder_save(const char *path, cx_autoencoder *ae, const cx_optim *o,
                              const cx_train_state *state);
/* Rebuilds the autoencoder saved in path; optim and state (may be NULL) as in
 * cx_checkpoint_load. A classifier's checkpoint or a damaged file is CX_ERR_FORMAT naming
 * the file and what is wrong. */
cx_autoencoder *cx_autoencoder_load(const char *path, cx_optim **optim, cx_train_state *state);

/* ---- latents and pictures ---- */

/* Every sample of d encoded (evaluation mode, no gradients, batch at a time, u8 / 255):
 * [N, latent size] f32, the mean for a VAE. */
cx_tensor *cx_autoencoder_encode_dataset(cx_autoencoder *ae, const cx_dataset *d,
                                         int64_t batch);
/* The share of test points whose k nearest train points (Euclidean) vote for their label
 * (ties: the nearest voter's label): train [N, D], test [M, D] f32, labels i32 [N] and [M];
 * 1 <= k <= N. How well a latent space separates the classes. NAN + error on bad input. */
float cx_knn_accuracy(cx_tensor *train, cx_tensor *train_labels, cx_tensor *test,
                      cx_tensor *test_labels, int k);

/* Pictures as f32 [C, H, W] in 0..1 (cx_image_save_png writes them), each a grid of decoded
 * samples with grey padding. The encoder's input must be pictures ([C, H, W], or a flat
 * square such as 784). */
/* Three rows for the n samples of x: input, reconstruction, |difference|; with noise
 * (denoising, noise drawn from rng): noisy input, reconstruction, clean input. */
cx_tensor *cx_autoencoder_picture_reconstructions(cx_autoencoder *ae, cx_tensor *x,
                                                  cx_rng *rng);
/* n x n pictures decoded from a 2-D latent plane: columns from lo[0] to hi[0], rows from
 * hi[1] (top) to lo[1]. Needs a latent of 2 elements (CX_ERR_UNSUPPORTED otherwise). */
cx_tensor *cx_autoencoder_picture_latent_grid(cx_autoencoder *ae, int n, const float lo[2],
                                              const float hi[2]);
/* One row per pair: steps pictures decoded along the straight line from the latent of a[i]
 * to that of b[i] (a, b [P, input shape...]; steps >= 2). */
cx_tensor *cx_autoencoder_picture_interpolations(cx_autoencoder *ae, cx_tensor *a, cx_tensor *b,
                                                 int steps);
/* n random samples (cx_autoencoder_sample) in rows of columns (0: square-ish). */
cx_tensor *cx_autoencoder_picture_samples(cx_autoencoder *ae, int64_t n, int columns,
                                          cx_rng *rng);

#ifdef __cplusplus
}
#endif
#endif /* CORTEX_AUTOENCODER_H */
