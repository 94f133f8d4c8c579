/*
 * generative_impl.h - the autoencoder's internals, shared by src/generative/.
 */
#ifndef CX_GENERATIVE_IMPL_H
#define CX_GENERATIVE_IMPL_H

#include "cortex_impl.h"

struct cx_autoencoder {
    cx_model *enc, *dec;
    cx_ae_params p;
    int lat_ndim; /* per-sample latent shape: the decoder's input */
    int64_t lat_shape[CX_MAX_DIMS];
    int64_t latent; /* its elements */
    int in_ndim;    /* per-sample input shape: the encoder's */
    int64_t in_shape[CX_MAX_DIMS];
    int64_t in_numel;
    cx_rng *rng; /* training noise and eps */
    /* data-parallel: the batch is rows [shard_offset, + rows) of a global batch of
     * shard_total (0: not sharded); noise and eps are drawn for the global batch */
    int64_t shard_offset, shard_total;
};

/* Shards ae's next batches (its noise, eps and both networks' dropout), as
 * cx_model_set_batch_shard; total 0 ends it. */
void cx__ae_set_batch_shard(cx_autoencoder *ae, int64_t offset, int64_t total);

/* A GAN (cortex/gan.h): the two networks and how the label reaches them. */
struct cx_gan {
    cx_model *gen, *disc;
    int classes;      /* 0: unconditional */
    bool label_planes; /* conditional D: the label as constant planes (else appended flat) */
    int64_t noise;    /* Z: the generator's input minus the one-hot label */
    int out_ndim;     /* per-sample picture shape: the generator's output */
    int64_t out_shape[CX_MAX_DIMS];
    int64_t out_numel;
    cx_rng *rng;      /* training noise and fake labels */
};

/* A data-parallel GAN step (gan_fit.c): this rank's batch is rows [offset, offset + B) of a
 * global batch of `global`; noise, fake labels and dropout are drawn for the whole global
 * batch and cut to those rows, and each network's gradients are averaged over the ranks by
 * its own sync (both networks train, but in separate phases with separate losses). */
typedef struct {
    int64_t offset, global;
    cx_grad_sync *g_sync, *d_sync;
} cx__gan_shard;

/* cx_gan_train_step, sharded (shard NULL: alone). Every rank makes the same collective calls
 * whether or not its step fails; stats are the global batch's means. */
cx_status cx__gan_train_step(cx_gan *gan, cx_optim *g_optim, cx_optim *d_optim, cx_tensor *x,
                             cx_tensor *labels, float smoothing, const cx__gan_shard *shard,
                             cx_gan_stats *stats);

/* labels i32 [N] in 0..classes-1 as one-hot f32 [N, classes] (no gradient); NULL + error
 * naming who for a missing, mis-shaped or out-of-range label. */
cx_tensor *cx__gan_one_hot(cx_tensor *labels, int64_t n, int classes, const char *who);

/* Formats config text into buf (size bytes); false if it does not fit. */
bool cx__config_put(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* t [N, ...] viewed as [N, shape...] (ndim sizes per sample); a new reference. */
cx_tensor *cx__ae_as(cx_tensor *t, int ndim, const int64_t *shape);

#endif
