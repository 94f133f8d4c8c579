/*
 * autoencoder.c - an encoder and a decoder joined: the shape checks that make them fit,
 * encoding (the VAE's mean and log-variance as two views of the encoder's [N, 2L] output),
 * decoding, sampling from the prior, denoising noise, and the loss
 *     recon + beta * KL,  recon = sum over a sample's elements of BCE (or squared error),
 *                         KL = -1/2 sum (1 + logvar - mu^2 - exp(logvar)),
 * both means over the batch. cx_model_loss gives the decoder's mean per element (with a final
 * sigmoid folded into BCE), so the sum per sample is that mean times the sample's elements.
 * Reference: Kingma & Welling, Auto-Encoding Variational Bayes, arXiv:1312.6114, appendix B.
 */
#include "generative/generative_impl.h"

#include <math.h>
#include <string.h>

cx_ae_params cx_ae_defaults(cx_ae_kind kind) {
    return (cx_ae_params){.kind = kind, .beta = 1.0f, .noise = 0.0f};
}

const char *cx_ae_kind_name(cx_ae_kind kind) {
    return kind == CX_AE_PLAIN ? "plain" : kind == CX_AE_VARIATIONAL ? "variational" : "unknown";
}

static cx_status check_params(const cx_ae_params *p) {
    if (p->kind != CX_AE_PLAIN && p->kind != CX_AE_VARIATIONAL)
        return cx__error(CX_ERR_ARG, "autoencoder: unknown kind %d", (int)p->kind);
    if (!(p->beta >= 0 && p->beta <= 1e6f))
        return cx__error(CX_ERR_ARG, "autoencoder: beta = %g is invalid; need 0 <= beta <= 1e6",
                         p->beta);
    if (!(p->noise >= 0 && p->noise <= 10))
        return cx__error(CX_ERR_ARG, "autoencoder: noise = %g is invalid; need 0 <= noise <= 10",
                         p->noise);
    return CX_OK;
}

/* The encoder and decoder fit each other: see cortex/autoencoder.h. */
static cx_status check_shapes(cx_autoencoder *ae) {
    int64_t eo[CX_MAX_DIMS], dout[CX_MAX_DIMS];
    int eo_nd = cx_model_output_shape(ae->enc, eo);
    int do_nd = cx_model_output_shape(ae->dec, dout);
    ae->lat_ndim = cx_model_input_shape(ae->dec, ae->lat_shape);
    ae->in_ndim = cx_model_input_shape(ae->enc, ae->in_shape);
    ae->latent = cx__numel(ae->lat_ndim, ae->lat_shape);
    ae->in_numel = cx__numel(ae->in_ndim, ae->in_shape);
    char a[CX_SHAPE_STR_MAX], b[CX_SHAPE_STR_MAX];
    cx__shape_str(eo_nd, eo, a, sizeof a);
    cx__shape_str(ae->lat_ndim, ae->lat_shape, b, sizeof b);
    if (ae->p.kind == CX_AE_PLAIN) {
        if (eo_nd != ae->lat_ndim || memcmp(eo, ae->lat_shape, (size_t)eo_nd * sizeof *eo) != 0)
            return cx__error(CX_ERR_SHAPE, "autoencoder: the encoder's output %s is not the "
                             "decoder's input %s (the latent shape)", a, b);
    } else if (eo_nd != 1 || ae->lat_ndim != 1 || eo[0] != 2 * ae->lat_shape[0]) {
        return cx__error(CX_ERR_SHAPE, "variational autoencoder: the encoder's output %s must "
                         "be [2L] (mean and log-variance) for the decoder's input [L]; the "
                         "decoder takes %s", a, b);
    }
    if (cx__numel(do_nd, dout) != ae->in_numel) {
        cx__shape_str(do_nd, dout, a, sizeof a);
        cx__shape_str(ae->in_ndim, ae->in_shape, b, sizeof b);
        return cx__error(CX_ERR_SHAPE, "autoencoder: the decoder's output %s does not have the "
                         "elements of the encoder's input %s", a, b);
    }
    if (cx_model_get_loss(ae->dec) == CX_LOSS_CROSS_ENTROPY)
        return cx__error(CX_ERR_ARG, "autoencoder: the decoder's config needs `loss = bce` or "
                         "`loss = mse` in its [model] section (the reconstruction loss)");
    return CX_OK;
}

cx_autoencoder *cx_autoencoder_new(cx_model *encoder, cx_model *decoder,
                                   const cx_ae_params *params) {
    cx_ae_params p = params ? *params : cx_ae_defaults(CX_AE_PLAIN);
    cx_autoencoder *ae = NULL;
    if (!encoder || !decoder) {
        if (cx_last_status() == CX_OK)
            cx__error(CX_ERR_ARG, "autoencoder: the %s is NULL", encoder ? "decoder" : "encoder");
    } else if (check_params(&p) == CX_OK && (ae = cx__calloc(sizeof *ae))) {
        ae->enc = encoder;
        ae->dec = decoder;
        ae->p = p;
        ae->rng = cx_rng_new(0);
        if (ae->rng && check_shapes(ae) == CX_OK) return ae;
        cx_autoencoder_free(ae);
        return NULL;
    }
    cx_model_free(encoder);
    cx_model_free(decoder);
    return NULL;
}

cx_autoencoder *cx_autoencoder_from_configs(const char *encoder_text, const char *encoder_source,
                                            const char *decoder_text, const char *decoder_source,
                                            const cx_ae_params *params, cx_rng *rng) {
    if (!encoder_text || !decoder_text)
        return cx__error(CX_ERR_ARG, "autoencoder: NULL config text"), NULL;
    cx_model *enc = cx_model_from_config(encoder_text, encoder_source ? encoder_source : "encoder",
                                         rng);
    cx_model *dec = enc ? cx_model_from_config(decoder_text,
                                               decoder_source ? decoder_source : "decoder", rng)
                        : NULL;
    if (!dec) {
        cx_model_free(enc);
        return NULL;
    }
    return cx_autoencoder_new(enc, dec, params);
}

void cx_autoencoder_free(cx_autoencoder *ae) {
    if (!ae) return;
    cx_model_free(ae->enc);
    cx_model_free(ae->dec);
    cx_rng_free(ae->rng);
    cx__free(ae);
}

/* ---- inspecting ---- */

cx_model *cx_autoencoder_encoder(cx_autoencoder *ae) { return ae ? ae->enc : NULL; }
cx_model *cx_autoencoder_decoder(cx_autoencoder *ae) { return ae ? ae->dec : NULL; }
cx_ae_params cx_autoencoder_params(const cx_autoencoder *ae) {
    return ae ? ae->p : cx_ae_defaults(CX_AE_PLAIN);
}
cx_rng *cx_autoencoder_rng(cx_autoencoder *ae) { return ae ? ae->rng : NULL; }

int cx_autoencoder_latent_shape(const cx_autoencoder *ae, int64_t *shape) {
    if (!ae) return 0;
    if (shape) memcpy(shape, ae->lat_shape, (size_t)ae->lat_ndim * sizeof *shape);
    return ae->lat_ndim;
}

int64_t cx_autoencoder_latent_size(const cx_autoencoder *ae) { return ae ? ae->latent : 0; }

int cx_autoencoder_num_param_tensors(const cx_autoencoder *ae) {
    return ae ? cx_model_num_param_tensors(ae->enc) + cx_model_num_param_tensors(ae->dec) : 0;
}

int cx_autoencoder_trainable_params(cx_autoencoder *ae, cx_tensor **out) {
    if (!ae || !out) return 0;
    int n = cx_model_trainable_params(ae->enc, out);
    return n + cx_model_trainable_params(ae->dec, out + n);
}

void cx_autoencoder_set_training(cx_autoencoder *ae, bool training) {
    if (!ae) return;
    cx_model_set_training(ae->enc, training);
    cx_model_set_training(ae->dec, training);
}

/* ---- running ---- */

cx_tensor *cx__ae_as(cx_tensor *t, int ndim, const int64_t *shape) {
    if (!t) return NULL;
    int64_t full[CX_MAX_DIMS] = {cx_tensor_dim(t, 0)};
    memcpy(full + 1, shape, (size_t)ndim * sizeof *shape);
    return cx_reshape(t, ndim + 1, full);
}

static bool check_ae(const cx_autoencoder *ae, const char *what) {
    if (ae) return true;
    cx__error(CX_ERR_ARG, "%s: the autoencoder is NULL", what);
    return false;
}

/* The encoder's output, and for a VAE its two halves (new references; *logvar may be NULL). */
static cx_tensor *encode(cx_autoencoder *ae, cx_tensor *x, cx_tensor **logvar) {
    if (logvar) *logvar = NULL;
    cx_tensor *h = cx_model_forward(ae->enc, x);
    if (!h || ae->p.kind == CX_AE_PLAIN) return h;
    int64_t l = ae->latent;
    cx_tensor *mu = cx_slice(h, 1, 0, l, 1);
    if (mu && logvar && !(*logvar = cx_slice(h, 1, l, 2 * l, 1))) {
        cx_tensor_free(mu);
        mu = NULL;
    }
    cx_tensor_free(h);
    return mu;
}

cx_tensor *cx_autoencoder_encode(cx_autoencoder *ae, cx_tensor *x, cx_tensor **logvar) {
    if (logvar) *logvar = NULL;
    return check_ae(ae, "cx_autoencoder_encode") ? encode(ae, x, logvar) : NULL;
}

cx_tensor *cx_autoencoder_decode(cx_autoencoder *ae, cx_tensor *z) {
    if (!check_ae(ae, "cx_autoencoder_decode") || !cx__check("cx_autoencoder_decode", "z", z))
        return NULL;
    cx_tensor *zs = cx__ae_as(z, ae->lat_ndim, ae->lat_shape);
    cx_tensor *y = cx_model_forward(ae->dec, zs);
    cx_tensor_free(zs);
    cx_tensor *out = cx__ae_as(y, ae->in_ndim, ae->in_shape);
    cx_tensor_free(y);
    return out;
}

cx_tensor *cx_autoencoder_reconstruct(cx_autoencoder *ae, cx_tensor *x) {
    cx_tensor *z = cx_autoencoder_encode(ae, x, NULL);
    cx_tensor *y = z ? cx_autoencoder_decode(ae, z) : NULL;
    cx_tensor_free(z);
    return y;
}

cx_tensor *cx_autoencoder_sample(cx_autoencoder *ae, int64_t n, cx_rng *rng) {
    if (!check_ae(ae, "cx_autoencoder_sample")) return NULL;
    if (ae->p.kind != CX_AE_VARIATIONAL)
        return cx__error(CX_ERR_UNSUPPORTED, "cx_autoencoder_sample: a plain autoencoder has no "
                         "prior to sample latents from; train a variational one"), NULL;
    if (n < 1 || n > (1 << 20))
        return cx__error(CX_ERR_ARG, "cx_autoencoder_sample: n = %lld; need 1 to %d",
                         (long long)n, 1 << 20), NULL;
    cx_tensor *z = cx_randn(rng, CX_SHAPE(n, ae->latent));
    cx_tensor *y = cx_autoencoder_decode(ae, z);
    cx_tensor_free(z);
    return y;
}

void cx__ae_set_batch_shard(cx_autoencoder *ae, int64_t offset, int64_t total) {
    ae->shard_offset = total > 0 ? offset : 0;
    ae->shard_total = total > 0 ? total : 0;
    cx_model_set_batch_shard(ae->enc, ae->shard_offset, ae->shard_total);
    cx_model_set_batch_shard(ae->dec, ae->shard_offset, ae->shard_total);
}

/* N(0, 1) values of shape [rows, ...] from rng; sharded, the rows of a draw for the whole
 * global batch that are this batch's, so the split does not change any sample's values. */
static cx_tensor *randn_rows(const cx_autoencoder *ae, cx_rng *rng, int ndim,
                             const int64_t *shape) {
    if (ae->shard_total <= 0) return cx_randn(rng, ndim, shape);
    if (ae->shard_offset + shape[0] > ae->shard_total) {
        cx__error(CX_ERR_ARG, "autoencoder: rows %lld..%lld lie outside the global batch of %lld",
                  (long long)ae->shard_offset, (long long)(ae->shard_offset + shape[0]),
                  (long long)ae->shard_total);
        return NULL;
    }
    int64_t global[CX_MAX_DIMS];
    memcpy(global, shape, (size_t)ndim * sizeof *global);
    global[0] = ae->shard_total;
    cx_tensor *all = cx_randn(rng, ndim, global);
    cx_tensor *own = all ? cx__tensor_empty(CX_DTYPE_F32, ndim, shape) : NULL;
    if (own) {
        int64_t row = cx__numel(ndim - 1, shape + 1);
        memcpy(cx__f32(own), cx__f32(all) + ae->shard_offset * row,
               (size_t)(shape[0] * row) * sizeof(float));
    }
    cx_tensor_free(all);
    return own;
}

cx_tensor *cx_autoencoder_add_noise(cx_autoencoder *ae, cx_tensor *x, cx_rng *rng) {
    if (!check_ae(ae, "cx_autoencoder_add_noise") || !cx__check("cx_autoencoder_add_noise", "x", x))
        return NULL;
    if (ae->p.noise <= 0) return cx__tensor_retain(x), x;
    cx_tensor *e = randn_rows(ae, rng, x->ndim, x->shape);
    cx_tensor *s = cx_mul_scalar(e, ae->p.noise), *y = cx_add(x, s);
    cx_tensor *out = cx_clamp(y, 0.0f, 1.0f);
    cx_tensor_free(e);
    cx_tensor_free(s);
    cx_tensor_free(y);
    return out;
}

/* z = mu + exp(logvar / 2) * eps, eps ~ N(0, 1) from rng. */
static cx_tensor *reparameterise(const cx_autoencoder *ae, cx_tensor *mu, cx_tensor *logvar,
                                 cx_rng *rng) {
    cx_tensor *half = cx_mul_scalar(logvar, 0.5f), *sigma = cx_exp(half);
    cx_tensor *eps = mu ? randn_rows(ae, rng, mu->ndim, mu->shape) : NULL;
    cx_tensor *noise = cx_mul(sigma, eps), *z = cx_add(mu, noise);
    cx_tensor *tmp[] = {half, sigma, eps, noise};
    for (int i = 0; i < 4; i++) cx_tensor_free(tmp[i]);
    return z;
}

cx_tensor *cx_autoencoder_loss(cx_autoencoder *ae, cx_tensor *x_in, cx_tensor *x, cx_rng *rng,
                               cx_ae_terms *terms) {
    if (terms) *terms = (cx_ae_terms){NAN, NAN, NAN};
    if (!check_ae(ae, "cx_autoencoder_loss") || !cx__check("cx_autoencoder_loss", "x_in", x_in) ||
        !cx__check("cx_autoencoder_loss", "x", x))
        return NULL;
    if (x->ndim < 1 || x_in->ndim < 1 || x->shape[0] != x_in->shape[0] ||
        cx_tensor_numel(x) != cx_tensor_numel(x_in)) {
        char a[CX_SHAPE_STR_MAX], b[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "cx_autoencoder_loss: inputs %s and targets %s differ",
                  cx__shape_str(x_in->ndim, x_in->shape, a, sizeof a),
                  cx__shape_str(x->ndim, x->shape, b, sizeof b));
        return NULL;
    }
    cx_tensor *logvar = NULL, *kl = NULL;
    cx_tensor *code = encode(ae, x_in, ae->p.kind == CX_AE_VARIATIONAL ? &logvar : NULL);
    cx_tensor *z = code;
    if (code && logvar) {
        z = reparameterise(ae, code, logvar, rng);
        kl = cx_kl_normal(code, logvar, CX_REDUCTION_MEAN);
        if (!kl) cx_tensor_free(z), z = NULL;
    }
    cx_tensor *zs = cx__ae_as(z, ae->lat_ndim, ae->lat_shape);
    int64_t dout[CX_MAX_DIMS];
    int dnd = cx_model_output_shape(ae->dec, dout);
    cx_tensor *target = zs ? cx__ae_as(x, dnd, dout) : NULL;
    cx_tensor *mean = target ? cx_model_loss(ae->dec, zs, target, NULL) : NULL;
    cx_tensor *recon = cx_mul_scalar(mean, (float)ae->in_numel);
    cx_tensor *weighted = kl ? cx_mul_scalar(kl, ae->p.beta) : NULL;
    cx_tensor *total = kl ? cx_add(recon, weighted) : (recon ? (cx__tensor_retain(recon), recon)
                                                             : NULL);
    if (total && terms) {
        terms->recon = cx_tensor_item(recon);
        terms->kl = kl ? cx_tensor_item(kl) : 0.0f;
        terms->total = cx_tensor_item(total);
    }
    cx_tensor *tmp[] = {logvar, kl, code, z != code ? z : NULL, zs, target, mean, recon, weighted};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) cx_tensor_free(tmp[i]);
    return total;
}
