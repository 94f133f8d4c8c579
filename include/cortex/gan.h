/*
 * cortex/gan.h - generative adversarial networks (Goodfellow et al., arXiv:1406.2661): a
 * generator G and a discriminator D, each a cx_model built from config text, trained in
 * alternation; the dense GAN, the DCGAN (Radford et al., arXiv:1511.06434) and the
 * conditional GAN (Mirza & Osindero, arXiv:1411.1784) as built-in configs; the fixed-noise
 * sample grid, the mode-collapse watch (a classifier's verdict on generated samples), and
 * checkpoints holding both networks and both optimizers. Included by cortex.h.
 *
 * Shapes (per sample):
 *   G: noise [Z] -> a picture S ([1,28,28]) in -1..1 (the built-in generators end in tanh).
 *   D: a picture S -> one logit [1] (real: D(x) = sigmoid(logit) near 1).
 * Conditional (classes K > 0): the label y in 0..K-1 goes to both networks as a one-hot
 * vector. G's input is [Z + K]: the noise, then the one-hot label. D's input is either
 * [C + K, H, W] for S = [C, H, W] (the one-hot label as K constant planes after the picture's
 * channels: a convolutional D sees it at every position) or [numel(S) + K] (the flattened
 * picture, then the one-hot label: a dense D). Which one follows from D's input shape.
 *
 * One training step on a batch x of real pictures (scaled to -1..1) with labels y:
 *   z ~ N(0, 1) [B, Z], fake labels y' uniform in 0..K-1 (conditional), fake = G(z, y');
 *   D step: loss_D = BCE(D(x, y), 1 - s) + BCE(D(fake, y'), 0) (fake detached; s the
 *           one-sided label smoothing, 0 by default), one update of D's optimizer;
 *   G step: loss_G = BCE(D(fake, y'), 1), the non-saturating loss (G maximises log D(G(z))
 *           instead of minimising log(1 - D(G(z)))), one update of G's optimizer.
 * BCE is the mean over the batch of binary cross-entropy on D's logits. Real and fake
 * batches go through D separately (batch normalisation sees one kind at a time), as in the
 * PyTorch DCGAN example. The default optimizers are Adam with lr 2e-4 and beta1 0.5.
 *
 * Ownership: a GAN owns its two models (cx_gan_generator/discriminator return them for
 * inspection, summaries and optimizers; they live as long as the GAN). Tensors come back as
 * from any op: in the current arena, or on the heap for the caller to free.
 */
#ifndef CORTEX_GAN_H
#define CORTEX_GAN_H

#include "cortex.h"
#include "cortex/data.h"
#include "cortex/nn.h"
#include "cortex/optim.h"
#include "cortex/train.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CX_GAN_MAX_CLASSES 256

typedef struct cx_gan cx_gan;

/* ---- building ---- */

/* Joins generator and discriminator, taking ownership of both (freed on failure too), for
 * classes = 0 (unconditional) or K in 1..CX_GAN_MAX_CLASSES (conditional). Errors
 * (CX_ERR_SHAPE) name the shapes: a generator input that is not flat ([Z], or [Z + K] with
 * Z >= 1), a discriminator input that is not the generator's output (or, conditional, one of
 * the two forms above), a discriminator output that is not [1]; CX_ERR_ARG for classes out of
 * range. */
cx_gan *cx_gan_new(cx_model *generator, cx_model *discriminator, int classes);
/* Builds both models from config text (sources name them in messages) and joins them;
 * parameters are initialised from rng (NULL = default generator). */
cx_gan *cx_gan_from_configs(const char *generator_text, const char *generator_source,
                            const char *discriminator_text, const char *discriminator_source,
                            int classes, cx_rng *rng);
void cx_gan_free(cx_gan *gan); /* NULL is a no-op */

/* The built-in configs for 28x28 grey pictures (MNIST, Fashion-MNIST), noise size Z
 * (0 means 100):
 *   CX_GAN_ARCH_DENSE  G: Z-256-512-1024-784, each hidden dense layer followed by batch
 *                      normalisation, then LeakyReLU 0.2; tanh output.
 *                      D: 784-512-256-1 with LeakyReLU 0.2.
 *   CX_GAN_ARCH_DCGAN  G: dense to 128x7x7, batchnorm, ReLU; transposed convolutions
 *                      (kernel 4, stride 2, padding 1) to 64x14x14 (batchnorm, ReLU) and
 *                      1x28x28; tanh. D: strided convolutions (kernel 4, stride 2,
 *                      padding 1) 64x14x14 (LeakyReLU 0.2), 128x7x7 (batchnorm, LeakyReLU
 *                      0.2), dense to 1. No pooling.
 *   CX_GAN_ARCH_CGAN   the DCGAN's nets made conditional on 10 classes: G takes [Z + 10],
 *                      D takes [1 + 10, 28, 28] (label planes).
 * Weights start from N(0, 0.02) and batchnorm's scale from 1 (DCGAN's init). The texts are
 * written into generator and discriminator (size bytes each); models/gan_*.cfg hold them for
 * Z = 100. *classes (may be NULL) receives the classes the pair is made for (0 or 10).
 * CX_ERR_ARG for a noise size out of 1..4096, an unknown arch or a buffer too small. */
typedef enum { CX_GAN_ARCH_DENSE = 0, CX_GAN_ARCH_DCGAN, CX_GAN_ARCH_CGAN } cx_gan_arch;
cx_status cx_gan_default_configs(cx_gan_arch arch, int64_t noise, char *generator,
                                 char *discriminator, size_t size, int *classes);
/* "dense", "dcgan", "cgan" ("unknown" outside the enum); parse gives CX_ERR_ARG listing them. */
const char *cx_gan_arch_name(cx_gan_arch arch);
cx_status cx_gan_arch_parse(const char *name, cx_gan_arch *arch);

/* ---- inspecting ---- */

cx_model *cx_gan_generator(cx_gan *gan);
cx_model *cx_gan_discriminator(cx_gan *gan);
int64_t cx_gan_noise_size(const cx_gan *gan); /* Z */
int cx_gan_classes(const cx_gan *gan);        /* 0 unconditional, else K */
/* The picture shape per sample (the generator's output); returns ndim. */
int cx_gan_sample_shape(const cx_gan *gan, int64_t *shape);
/* The generator of training noise and fake labels (owned by gan; saved in checkpoints). */
cx_rng *cx_gan_rng(cx_gan *gan);
/* Training or evaluation mode of both models (batch normalisation). */
void cx_gan_set_training(cx_gan *gan, bool training);

/* ---- running (recorded for autograd like any op) ---- */

/* z [N, Z] (and, conditional, labels i32 [N] in 0..K-1; ignored and may be NULL otherwise)
 * -> pictures [N, S...]. CX_ERR_ARG for missing labels or a label out of range. */
cx_tensor *cx_gan_generate(cx_gan *gan, cx_tensor *z, cx_tensor *labels);
/* x [N, S...] (labels as above) -> D's logits [N, 1]. */
cx_tensor *cx_gan_discriminate(cx_gan *gan, cx_tensor *x, cx_tensor *labels);
/* n pictures from noise drawn from rng (NULL = default), in evaluation mode without
 * gradients: [n, S...] in the generator's range (-1..1). labels: as for cx_gan_generate. */
cx_tensor *cx_gan_sample(cx_gan *gan, int64_t n, cx_tensor *labels, cx_rng *rng);

/* ---- training ---- */

/* The figures of one step (or means over an epoch's steps). */
typedef struct {
    float d_loss;     /* loss_D */
    float g_loss;     /* loss_G */
    float d_real;     /* mean D(x) over the real batch */
    float d_fake;     /* mean D(G(z)) at the D step (before D's update) */
    float d_fake_g;   /* mean D(G(z)) at the G step (after D's update) */
    float d_accuracy; /* share of real with D(x) > 0.5 and fake with D(G(z)) < 0.5, D step */
} cx_gan_stats;

/* One step as described at the top: x [B, S...] real pictures in -1..1, labels i32 [B]
 * (conditional; NULL otherwise), g_optim and d_optim over the trainable parameters of the
 * generator and the discriminator, smoothing in 0..0.5, noise and fake labels from the GAN's
 * generator. Both models must be in training mode. stats (may be NULL) receives the step's
 * figures. Run it inside an arena reset after it to allocate nothing in steady state. */
cx_status cx_gan_train_step(cx_gan *gan, cx_optim *g_optim, cx_optim *d_optim, cx_tensor *x,
                            cx_tensor *labels, float smoothing, cx_gan_stats *stats);

/* ---- the mode-collapse watch ---- */

typedef struct {
    int classes;        /* bins: the classifier's outputs */
    int64_t samples;
    int64_t counts[CX_GAN_MAX_CLASSES]; /* generated samples per predicted class */
    float entropy;      /* of the histogram, in bits (log2 classes for an even spread) */
    int top_class;      /* the most frequent class */
    float top_share;    /* its share of the samples */
    bool collapse;      /* top_share > 0.5: one class takes more than half */
    float mean_top_prob; /* mean over samples of the classifier's highest probability */
    float label_accuracy; /* conditional: share classified as the label asked for (NAN) */
} cx_gan_watch;

/* Fills entropy, top_class, top_share and collapse of w from w->classes and w->counts
 * (samples becomes their sum). CX_ERR_ARG for classes out of 1..CX_GAN_MAX_CLASSES, a
 * negative count or none at all. */
cx_status cx_gan_watch_summarise(cx_gan_watch *w);

/* Draws n samples (noise from a generator seeded with seed; conditional: labels i % K, so
 * each class is asked for equally) and classifies them with classifier (a model taking the
 * pictures' shape and giving one logit per class; norm: how it wants its pixels, in 0..1
 * before (p - mean) / std, as the training state of its checkpoint says; NULL: as they are).
 * Generated pictures in -1..1 become pixels p = (g + 1) / 2. out receives the histogram
 * summary. Evaluation mode, no gradients; the GAN's own generators are untouched. */
cx_status cx_gan_watch_classify(cx_gan *gan, cx_model *classifier, const cx_loader_params *norm,
                                int64_t n, uint64_t seed, cx_gan_watch *out);

/* Pictures as f32 [C, H, W] in 0..1 (cx_image_save_png writes them). */
/* The samples for the noise z [N, Z] (evaluation mode, no gradients), in rows of columns
 * (0: square-ish); conditional: labels [N] (NULL: i / columns, one class per row). */
cx_tensor *cx_gan_picture_grid(cx_gan *gan, cx_tensor *z, cx_tensor *labels, int columns);

typedef struct {
    int epochs;           /* total epochs (a resumed run goes on up to this) */
    int64_t batch_size;   /* default 64 */
    uint64_t seed;        /* shuffling, noise, fake labels, the fixed noise of the grid */
    float smoothing;      /* one-sided label smoothing of the real targets, 0..0.5 */
    double time_limit_s;  /* > 0: no epoch starts that would end past it (judged by the
                           * last epoch's time) */
    cx_progress progress;
    bool json;            /* one JSON object per epoch on `out` */
    FILE *out;            /* default stdout */
    FILE *warnings;       /* the watch's collapse warnings (default stderr) */
    const char *checkpoint_path; /* saved after every epoch when set */
    const char *grid_dir;        /* the fixed-noise grid of every epoch as DIR/epoch_NNN.png */
    const char *plot_path;       /* loss curves (D, G) as PNG at the end when set */
    cx_model *classifier;        /* the mode-collapse watch each epoch, when set */
    cx_loader_params classifier_norm; /* its pixels' normalisation (mean, std) */
    int64_t watch_samples;       /* samples it classifies (0: 1000) */
    cx_train_state *resume;      /* continue from this state (from cx_gan_load) */
    const char *data_name;       /* the training data's name, kept in checkpoints */
    /* In an MPI job (cortex/dist.h): batch_size per rank; rank 0's networks go to every rank,
     * each takes its part of every global batch, noise, fake labels and dropout are drawn per
     * global sample, each network's gradients are averaged over the ranks in its own phase,
     * and rank 0 alone writes the grid, the watch, the log, the curves and checkpoints. Batch
     * norm keeps each rank's statistics (rank 0's are kept after each epoch). */
    bool distributed;
} cx_gan_fit_params;

typedef struct {
    int epochs_run;       /* counting resumed ones */
    bool stopped_by_time; /* time_limit_s ended the run early */
    cx_gan_stats last;    /* last epoch's means */
    cx_gan_watch watch;   /* last epoch's watch (samples 0 without a classifier) */
    float steps_per_s;    /* last epoch */
    double seconds;       /* this run's time */
} cx_gan_fit_result;

/* Trains gan with g_optim and d_optim on the samples of train (u8 pictures of the
 * generator's output shape; labels for a conditional GAN), pictures scaled to -1..1
 * (x * 2 / 255 - 1). Each epoch logs its means (and the watch) as a line or, with json, as
 * {"epoch", "d_loss", "g_loss", "d_real", "d_fake", "d_fake_g", "d_accuracy", "seconds",
 * "steps_per_s", "grid", "classes", "class_entropy", "top_class", "top_share",
 * "mean_top_prob", "label_accuracy", "collapse"} (null where a figure does not apply); a
 * collapse also writes a warning line on `warnings`. Steps run in one arena. A NaN or infinite
 * loss stops training with CX_ERR_NUMERIC naming the epoch and step; the last checkpoint
 * stays as it was. */
cx_status cx_gan_fit(cx_gan *gan, cx_optim *g_optim, cx_optim *d_optim, const cx_dataset *train,
                     const cx_gan_fit_params *params, cx_gan_fit_result *result);

/* ---- checkpoints ---- */

/* One safetensors file: the generator's tensors as "generator.<name>", the discriminator's
 * as "discriminator.<name>", each optimizer's state (either may be NULL) as
 * "optim.generator.<name>.<buffer>" / "optim.discriminator.<name>.<buffer>" with its
 * settings under the metadata "generator_optimizer" / "discriminator_optimizer", both
 * configs, the classes, the training state and every generator (metadata "format":
 * "cortex-gan-1"). Written atomically. */
cx_status cx_gan_save(const char *path, cx_gan *gan, const cx_optim *g_optim,
                      const cx_optim *d_optim, const cx_train_state *state);
/* Rebuilds the GAN saved in path; g_optim, d_optim and state (each may be NULL) receive the
 * optimizers (NULL if the file has none) and the training state. Another kind of checkpoint
 * or a damaged file is CX_ERR_FORMAT naming the file and what is wrong. */
cx_gan *cx_gan_load(const char *path, cx_optim **g_optim, cx_optim **d_optim,
                    cx_train_state *state);

#ifdef __cplusplus
}
#endif
#endif /* CORTEX_GAN_H */
