/*
 * gan_step.c - one training step of a GAN: a discriminator update on a real and a fake
 * batch, then a generator update with the non-saturating loss (cortex/gan.h). The fake batch
 * is generated once and reused: detached for D's step, through D to G for G's step, as the
 * PyTorch DCGAN example does.
 * Reference: Goodfellow et al., arXiv:1406.2661, algorithm 1 and section 3 (the -log D(G(z))
 * generator loss); https://github.com/pytorch/examples/blob/main/dcgan/main.py.
 */
#include "generative/generative_impl.h"

#include <math.h>
#include <string.h>

/* Mean of sigmoid(logits) and the share of them above 0.5 (below when !above). */
static void probs_of(cx_tensor *logits, float *mean, float *share, bool above) {
    cx_tensor *c = cx_contiguous(logits);
    double sum = 0;
    int64_t hits = 0, n = c ? cx_tensor_numel(c) : 0;
    for (int64_t i = 0; i < n; i++) {
        float l = cx__f32(c)[i];
        sum += 1.0 / (1.0 + exp(-(double)l));
        hits += above ? l > 0 : l < 0;
    }
    cx_tensor_free(c);
    *mean = n ? (float)(sum / (double)n) : NAN;
    *share = n ? (float)hits / (float)n : NAN;
}

/* Mean BCE of the logits [B, 1] against the constant target. */
static cx_tensor *bce_to(cx_tensor *logits, float target) {
    if (!logits) return NULL;
    cx_tensor *t = cx_full(logits->ndim, logits->shape, target);
    cx_tensor *l = cx_bce_with_logits(logits, t, CX_REDUCTION_MEAN);
    cx_tensor_free(t);
    return l;
}

static cx_status check_loss(cx_tensor *loss, const char *which, float *out) {
    if (!loss) return cx_last_status();
    *out = cx_tensor_item(loss);
    if (!isfinite(*out))
        return cx__error(CX_ERR_NUMERIC, "GAN: the %s loss is %g", which, (double)*out);
    return CX_OK;
}

/* Rows [offset, offset + b) of a draw for the whole global batch (alone: all b rows), so
 * how the batch is split changes no sample's noise or label. */
static cx_tensor *own_rows(cx_tensor *all, int64_t b, const cx__gan_shard *sh) {
    if (!sh || !all) return all;
    int64_t shape[CX_MAX_DIMS];
    memcpy(shape, all->shape, (size_t)all->ndim * sizeof *shape);
    shape[0] = b;
    cx_tensor *own = cx_tensor_new(all->dtype, all->ndim, shape);
    if (own) {
        size_t row = (size_t)cx__numel(all->ndim - 1, all->shape + 1) *
                     cx_dtype_size(all->dtype);
        memcpy(cx_tensor_data(own), (char *)cx_tensor_data(all) + (size_t)sh->offset * row,
               (size_t)b * row);
    }
    cx_tensor_free(all);
    return own;
}

/* Noise [b, Z] and (conditional) random labels [b] uniform in 0..classes-1. */
static cx_status draw(cx_gan *gan, int64_t b, const cx__gan_shard *sh, cx_tensor **z,
                      cx_tensor **labels) {
    int64_t n = sh ? sh->global : b;
    *z = own_rows(cx_randn(gan->rng, CX_SHAPE(n, gan->noise)), b, sh);
    *labels = NULL;
    if (!*z || !gan->classes) return *z ? CX_OK : cx_last_status();
    cx_tensor *y = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(n));
    for (int64_t i = 0; y && i < n; i++)
        cx__i32(y)[i] = (int32_t)(cx_rng_u32(gan->rng) % (uint32_t)gan->classes);
    *labels = own_rows(y, b, sh);
    return *labels ? CX_OK : cx_last_status();
}

/* Backward from loss, with the gradients of one network averaged over the ranks when
 * sharded. A rank whose step already failed (st) still joins the reduction. */
static cx_status backward_synced(cx_status st, cx_tensor *loss, cx_grad_sync *sync, int64_t b,
                                 const cx__gan_shard *sh) {
    if (!sh) return st == CX_OK ? cx_backward(loss) : st;
    cx_status begun = cx_grad_sync_begin(sync, st == CX_OK ? b : 0, sh->global);
    if (st == CX_OK) st = begun;
    if (st == CX_OK) st = cx_backward(loss);
    cx_status synced = cx_grad_sync_end(sync);
    return st == CX_OK ? synced : st;
}

static void set_shard(cx_gan *gan, const cx__gan_shard *sh) {
    cx_model_set_batch_shard(gan->gen, sh ? sh->offset : 0, sh ? sh->global : 0);
    cx_model_set_batch_shard(gan->disc, sh ? sh->offset : 0, sh ? sh->global : 0);
}

/* The step's figures over the global batch: each rank's means weighted by its rows. */
static cx_status share_stats(cx_status st, cx_gan_stats *s, int64_t b, const cx__gan_shard *sh) {
    if (!sh) return st;
    float *f[] = {&s->d_loss, &s->g_loss, &s->d_real, &s->d_fake, &s->d_fake_g, &s->d_accuracy};
    double sums[6];
    for (int i = 0; i < 6; i++) sums[i] = st == CX_OK ? (double)*f[i] * (double)b : 0;
    st = cx_dist_share(st, sums, 6, "GAN");
    for (int i = 0; st == CX_OK && i < 6; i++) *f[i] = (float)(sums[i] / (double)sh->global);
    return st;
}

cx_status cx_gan_train_step(cx_gan *gan, cx_optim *g_optim, cx_optim *d_optim, cx_tensor *x,
                            cx_tensor *labels, float smoothing, cx_gan_stats *stats) {
    return cx__gan_train_step(gan, g_optim, d_optim, x, labels, smoothing, NULL, stats);
}

cx_status cx__gan_train_step(cx_gan *gan, cx_optim *g_optim, cx_optim *d_optim, cx_tensor *x,
                             cx_tensor *labels, float smoothing, const cx__gan_shard *sh,
                             cx_gan_stats *stats) {
    if (stats) *stats = (cx_gan_stats){NAN, NAN, NAN, NAN, NAN, NAN};
    if (!gan || !g_optim || !d_optim)
        return cx__error(CX_ERR_ARG, "cx_gan_train_step: NULL argument");
    if (!cx__check_f32("cx_gan_train_step", "x", x)) return cx_last_status();
    if (!(smoothing >= 0 && smoothing <= 0.5f))
        return cx__error(CX_ERR_ARG, "GAN: label smoothing %g is outside 0..0.5", smoothing);
    if (x->ndim < 1 || x->shape[0] < 1)
        return cx__error(CX_ERR_SHAPE, "cx_gan_train_step: an empty batch");
    int64_t b = x->shape[0];
    if (sh && (sh->offset < 0 || sh->offset + b > sh->global || !sh->g_sync || !sh->d_sync))
        return cx__error(CX_ERR_ARG, "cx_gan_train_step: rows %lld..%lld of a global batch of "
                         "%lld", (long long)(sh ? sh->offset : 0),
                         (long long)(sh ? sh->offset + b : b), (long long)(sh ? sh->global : 0));
    cx_gan_stats s = {0};
    float ok_real, ok_fake;
    set_shard(gan, sh);
    /* D step: real towards 1 - s, fake (detached) towards 0 */
    cx_optim_zero_grad(d_optim);
    cx_tensor *z, *fake_labels;
    cx_status st = draw(gan, b, sh, &z, &fake_labels);
    cx_tensor *fake = st == CX_OK ? cx_gan_generate(gan, z, fake_labels) : NULL;
    cx_tensor *still = fake ? cx_detach(fake) : NULL;
    cx_tensor *d_real = still ? cx_gan_discriminate(gan, x, labels) : NULL;
    cx_tensor *d_fake = d_real ? cx_gan_discriminate(gan, still, fake_labels) : NULL;
    cx_tensor *l_real = bce_to(d_real, 1.0f - smoothing), *l_fake = bce_to(d_fake, 0.0f);
    cx_tensor *d_loss = l_real && l_fake ? cx_add(l_real, l_fake) : NULL;
    st = check_loss(d_loss, "discriminator", &s.d_loss);
    if ((st = backward_synced(st, d_loss, sh ? sh->d_sync : NULL, b, sh)) == CX_OK)
        st = cx_optim_step(d_optim);
    if (st == CX_OK) {
        probs_of(d_real, &s.d_real, &ok_real, true);
        probs_of(d_fake, &s.d_fake, &ok_fake, false);
        s.d_accuracy = (ok_real + ok_fake) / 2;
    }
    /* G step: the fake batch through the updated D towards 1 */
    cx_tensor *d_fake_g = NULL, *g_loss = NULL;
    cx_optim_zero_grad(g_optim);
    if (st == CX_OK) {
        d_fake_g = cx_gan_discriminate(gan, fake, fake_labels);
        g_loss = bce_to(d_fake_g, 1.0f);
        st = check_loss(g_loss, "generator", &s.g_loss);
    }
    if ((st = backward_synced(st, g_loss, sh ? sh->g_sync : NULL, b, sh)) == CX_OK)
        st = cx_optim_step(g_optim);
    float unused;
    if (st == CX_OK) probs_of(d_fake_g, &s.d_fake_g, &unused, true);
    set_shard(gan, NULL);
    st = share_stats(st, &s, b, sh);
    cx_tensor *tmp[] = {z, fake_labels, fake, still, d_real, d_fake, l_real, l_fake, d_loss,
                        d_fake_g, g_loss};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) cx_tensor_free(tmp[i]);
    if (st == CX_OK && stats) *stats = s;
    return st;
}
