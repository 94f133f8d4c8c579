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

/* Random labels [b] uniform in 0..classes-1 from rng. */
static cx_tensor *random_labels(cx_rng *rng, int64_t b, int classes) {
    cx_tensor *y = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(b));
    for (int64_t i = 0; y && i < b; i++) cx__i32(y)[i] = (int32_t)(cx_rng_u32(rng) % classes);
    return y;
}

cx_status cx_gan_train_step(cx_gan *gan, cx_optim *g_optim, cx_optim *d_optim, cx_tensor *x,
                            cx_tensor *labels, float smoothing, cx_gan_stats *stats) {
    if (stats) *stats = (cx_gan_stats){NAN, NAN, NAN, NAN, NAN, NAN};
    if (!gan || !g_optim || !d_optim)
        return cx__error(CX_ERR_ARG, "cx_gan_train_step: NULL argument");
    if (!cx__check_f32("cx_gan_train_step", "x", x)) return cx_last_status();
    if (!(smoothing >= 0 && smoothing <= 0.5f))
        return cx__error(CX_ERR_ARG, "GAN: label smoothing %g is outside 0..0.5", smoothing);
    if (x->ndim < 1 || x->shape[0] < 1)
        return cx__error(CX_ERR_SHAPE, "cx_gan_train_step: an empty batch");
    int64_t b = x->shape[0];
    cx_gan_stats s;
    float ok_real, ok_fake;
    cx_status st;
    /* D step: real towards 1 - s, fake (detached) towards 0 */
    cx_optim_zero_grad(d_optim);
    cx_tensor *z = cx_randn(gan->rng, CX_SHAPE(b, gan->noise));
    cx_tensor *fake_labels = gan->classes ? random_labels(gan->rng, b, gan->classes) : NULL;
    cx_tensor *fake = cx_gan_generate(gan, z, fake_labels);
    cx_tensor *still = cx_detach(fake);
    cx_tensor *d_real = cx_gan_discriminate(gan, x, labels);
    cx_tensor *d_fake = d_real ? cx_gan_discriminate(gan, still, fake_labels) : NULL;
    cx_tensor *l_real = bce_to(d_real, 1.0f - smoothing), *l_fake = bce_to(d_fake, 0.0f);
    cx_tensor *d_loss = l_real && l_fake ? cx_add(l_real, l_fake) : NULL;
    if ((st = check_loss(d_loss, "discriminator", &s.d_loss)) == CX_OK &&
        (st = cx_backward(d_loss)) == CX_OK)
        st = cx_optim_step(d_optim);
    if (st == CX_OK) {
        probs_of(d_real, &s.d_real, &ok_real, true);
        probs_of(d_fake, &s.d_fake, &ok_fake, false);
        s.d_accuracy = (ok_real + ok_fake) / 2;
    }
    /* G step: the fake batch through the updated D towards 1 */
    cx_tensor *d_fake_g = NULL, *g_loss = NULL;
    if (st == CX_OK) {
        cx_optim_zero_grad(g_optim);
        d_fake_g = cx_gan_discriminate(gan, fake, fake_labels);
        g_loss = bce_to(d_fake_g, 1.0f);
        if ((st = check_loss(g_loss, "generator", &s.g_loss)) == CX_OK &&
            (st = cx_backward(g_loss)) == CX_OK)
            st = cx_optim_step(g_optim);
        float unused;
        if (st == CX_OK) probs_of(d_fake_g, &s.d_fake_g, &unused, true);
    }
    cx_tensor *tmp[] = {z, fake_labels, fake, still, d_real, d_fake, l_real, l_fake, d_loss,
                        d_fake_g, g_loss};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) cx_tensor_free(tmp[i]);
    if (st == CX_OK && stats) *stats = s;
    return st;
}
