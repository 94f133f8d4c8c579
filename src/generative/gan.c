/*
 * gan.c - a generator and a discriminator joined: the shape checks that make them fit, the
 * label's way into both networks (one-hot after the noise; constant planes after the
 * picture's channels, or one-hot after the flattened picture), generating, discriminating and
 * sampling. The conditional form is that of Mirza & Osindero, arXiv:1411.1784: both networks
 * see y as extra input.
 */
#include "generative/generative_impl.h"

#include <string.h>

static bool same_shape(int na, const int64_t *a, int nb, const int64_t *b) {
    return na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0;
}

/* The two networks fit each other: see cortex/gan.h. */
static cx_status check_shapes(cx_gan *g) {
    int64_t gin[CX_MAX_DIMS], din[CX_MAX_DIMS], dout[CX_MAX_DIMS];
    int gin_nd = cx_model_input_shape(g->gen, gin);
    int din_nd = cx_model_input_shape(g->disc, din);
    int dout_nd = cx_model_output_shape(g->disc, dout);
    g->out_ndim = cx_model_output_shape(g->gen, g->out_shape);
    g->out_numel = cx__numel(g->out_ndim, g->out_shape);
    char a[CX_SHAPE_STR_MAX], b[CX_SHAPE_STR_MAX];
    int k = g->classes;
    if (gin_nd != 1 || gin[0] <= k)
        return cx__error(CX_ERR_SHAPE, "GAN: the generator's input %s must be flat noise [Z]%s",
                         cx__shape_str(gin_nd, gin, a, sizeof a),
                         k ? " plus the one-hot label: [Z + classes] with Z >= 1" : "");
    g->noise = gin[0] - k;
    if (dout_nd != 1 || dout[0] != 1)
        return cx__error(CX_ERR_SHAPE, "GAN: the discriminator's output %s must be one logit "
                         "[1]", cx__shape_str(dout_nd, dout, a, sizeof a));
    cx__shape_str(g->out_ndim, g->out_shape, a, sizeof a);
    cx__shape_str(din_nd, din, b, sizeof b);
    if (!k) {
        if (!same_shape(g->out_ndim, g->out_shape, din_nd, din))
            return cx__error(CX_ERR_SHAPE, "GAN: the generator's output %s is not the "
                             "discriminator's input %s", a, b);
        return CX_OK;
    }
    int64_t planes[CX_MAX_DIMS];
    memcpy(planes, g->out_shape, sizeof planes);
    planes[0] += k;
    if (g->out_ndim == 3 && same_shape(3, planes, din_nd, din)) {
        g->label_planes = true;
        return CX_OK;
    }
    if (din_nd == 1 && din[0] == g->out_numel + k) return CX_OK;
    return cx__error(CX_ERR_SHAPE, "conditional GAN: the discriminator's input %s must be the "
                     "generator's output %s with %d label planes ([C + %d, H, W]) or flattened "
                     "with the one-hot label ([%lld])", b, a, k, k,
                     (long long)(g->out_numel + k));
}

cx_gan *cx_gan_new(cx_model *generator, cx_model *discriminator, int classes) {
    cx_gan *g = NULL;
    if (!generator || !discriminator) {
        if (cx_last_status() == CX_OK)
            cx__error(CX_ERR_ARG, "GAN: the %s is NULL", generator ? "discriminator" : "generator");
    } else if (classes < 0 || classes > CX_GAN_MAX_CLASSES) {
        cx__error(CX_ERR_ARG, "GAN: %d classes; need 0 (unconditional) to %d", classes,
                  CX_GAN_MAX_CLASSES);
    } else if ((g = cx__calloc(sizeof *g))) {
        g->gen = generator;
        g->disc = discriminator;
        g->classes = classes;
        g->rng = cx_rng_new(0);
        if (g->rng && check_shapes(g) == CX_OK) return g;
        cx_gan_free(g);
        return NULL;
    }
    cx_model_free(generator);
    cx_model_free(discriminator);
    return NULL;
}

cx_gan *cx_gan_from_configs(const char *generator_text, const char *generator_source,
                            const char *discriminator_text, const char *discriminator_source,
                            int classes, cx_rng *rng) {
    if (!generator_text || !discriminator_text)
        return cx__error(CX_ERR_ARG, "GAN: NULL config text"), NULL;
    cx_model *gen = cx_model_from_config(generator_text,
                                         generator_source ? generator_source : "generator", rng);
    cx_model *disc = gen ? cx_model_from_config(discriminator_text,
                                                discriminator_source ? discriminator_source
                                                                     : "discriminator", rng)
                         : NULL;
    if (!disc) {
        cx_model_free(gen);
        return NULL;
    }
    return cx_gan_new(gen, disc, classes);
}

void cx_gan_free(cx_gan *gan) {
    if (!gan) return;
    cx_model_free(gan->gen);
    cx_model_free(gan->disc);
    cx_rng_free(gan->rng);
    cx__free(gan);
}

/* ---- inspecting ---- */

cx_model *cx_gan_generator(cx_gan *gan) { return gan ? gan->gen : NULL; }
cx_model *cx_gan_discriminator(cx_gan *gan) { return gan ? gan->disc : NULL; }
int64_t cx_gan_noise_size(const cx_gan *gan) { return gan ? gan->noise : 0; }
int cx_gan_classes(const cx_gan *gan) { return gan ? gan->classes : 0; }
cx_rng *cx_gan_rng(cx_gan *gan) { return gan ? gan->rng : NULL; }

int cx_gan_sample_shape(const cx_gan *gan, int64_t *shape) {
    if (!gan) return 0;
    if (shape) memcpy(shape, gan->out_shape, (size_t)gan->out_ndim * sizeof *shape);
    return gan->out_ndim;
}

void cx_gan_set_training(cx_gan *gan, bool training) {
    if (!gan) return;
    cx_model_set_training(gan->gen, training);
    cx_model_set_training(gan->disc, training);
}

/* ---- running ---- */

cx_tensor *cx__gan_one_hot(cx_tensor *labels, int64_t n, int classes, const char *who) {
    if (!labels) return cx__error(CX_ERR_ARG, "%s: a conditional GAN needs labels", who), NULL;
    if (!cx__check(who, "labels", labels)) return NULL;
    char s[CX_SHAPE_STR_MAX];
    if (labels->dtype != CX_DTYPE_I32 || labels->ndim != 1 || labels->shape[0] != n)
        return cx__error(CX_ERR_SHAPE, "%s: labels %s %s must be i32 [%lld], one per sample",
                         who, cx_dtype_name(labels->dtype),
                         cx__shape_str(labels->ndim, labels->shape, s, sizeof s),
                         (long long)n), NULL;
    cx_tensor *oh = cx_zeros(CX_SHAPE(n, classes));
    if (!oh) return NULL;
    float *o = cx__f32(oh); /* (n, classes) */
    for (int64_t i = 0; i < n; i++) {
        int32_t y = cx__i32(labels)[i * labels->stride[0]];
        if (y < 0 || y >= classes) {
            cx_tensor_free(oh);
            return cx__error(CX_ERR_ARG, "%s: label %d of sample %lld is outside 0..%d", who,
                             (int)y, (long long)i, classes - 1), NULL;
        }
        o[i * classes + y] = 1.0f;
    }
    return oh;
}

static bool check_gan(const cx_gan *gan, const char *who) {
    if (gan) return true;
    cx__error(CX_ERR_ARG, "%s: the GAN is NULL", who);
    return false;
}

cx_tensor *cx_gan_generate(cx_gan *gan, cx_tensor *z, cx_tensor *labels) {
    const char *who = "cx_gan_generate";
    if (!check_gan(gan, who) || !cx__check_f32(who, "z", z)) return NULL;
    if (z->ndim != 2 || z->shape[1] != gan->noise) {
        char s[CX_SHAPE_STR_MAX];
        return cx__error(CX_ERR_SHAPE, "%s: noise %s must be [N, %lld]", who,
                         cx__shape_str(z->ndim, z->shape, s, sizeof s),
                         (long long)gan->noise), NULL;
    }
    if (!gan->classes) return cx_model_forward(gan->gen, z);
    cx_tensor *oh = cx__gan_one_hot(labels, z->shape[0], gan->classes, who);
    cx_tensor *parts[] = {z, oh};
    cx_tensor *in = oh ? cx_concat(parts, 2, 1) : NULL;
    cx_tensor *y = in ? cx_model_forward(gan->gen, in) : NULL;
    cx_tensor_free(in);
    cx_tensor_free(oh);
    return y;
}

/* The one-hot labels as constant planes [N, K, H, W]. */
static cx_tensor *label_planes(cx_tensor *oh, int64_t h, int64_t w) {
    int64_t n = oh->shape[0], k = oh->shape[1];
    cx_tensor *p = cx_tensor_new(CX_DTYPE_F32, CX_SHAPE(n, k, h, w));
    if (!p) return NULL;
    float *d = cx__f32(p); /* (n, k, h, w) */
    const float *o = cx__f32(oh);
    for (int64_t i = 0; i < n * k; i++)
        if (o[i] != 0.0f)
            for (int64_t j = 0; j < h * w; j++) d[i * h * w + j] = o[i];
    return p;
}

cx_tensor *cx_gan_discriminate(cx_gan *gan, cx_tensor *x, cx_tensor *labels) {
    const char *who = "cx_gan_discriminate";
    if (!check_gan(gan, who) || !cx__check_f32(who, "x", x)) return NULL;
    if (x->ndim < 1 || cx_tensor_numel(x) != x->shape[0] * gan->out_numel) {
        char s[CX_SHAPE_STR_MAX], t[CX_SHAPE_STR_MAX];
        return cx__error(CX_ERR_SHAPE, "%s: pictures %s are not [N, %s]", who,
                         cx__shape_str(x->ndim, x->shape, s, sizeof s),
                         cx__shape_str(gan->out_ndim, gan->out_shape, t, sizeof t) + 1), NULL;
    }
    int64_t n = x->shape[0];
    if (!gan->classes) {
        cx_tensor *xs = cx__ae_as(x, gan->out_ndim, gan->out_shape);
        cx_tensor *y = cx_model_forward(gan->disc, xs);
        cx_tensor_free(xs);
        return y;
    }
    cx_tensor *oh = cx__gan_one_hot(labels, n, gan->classes, who), *xs = NULL, *extra = NULL;
    if (oh && gan->label_planes) {
        xs = cx__ae_as(x, gan->out_ndim, gan->out_shape);
        extra = label_planes(oh, gan->out_shape[1], gan->out_shape[2]);
    } else if (oh) {
        xs = cx_reshape(x, CX_SHAPE(n, gan->out_numel));
        extra = oh, cx__tensor_retain(oh);
    }
    cx_tensor *parts[] = {xs, extra};
    cx_tensor *in = xs && extra ? cx_concat(parts, 2, 1) : NULL;
    cx_tensor *y = in ? cx_model_forward(gan->disc, in) : NULL;
    cx_tensor *tmp[] = {in, xs, extra, oh};
    for (int i = 0; i < 4; i++) cx_tensor_free(tmp[i]);
    return y;
}

cx_tensor *cx_gan_sample(cx_gan *gan, int64_t n, cx_tensor *labels, cx_rng *rng) {
    if (!check_gan(gan, "cx_gan_sample")) return NULL;
    if (n < 1 || n > (1 << 20))
        return cx__error(CX_ERR_ARG, "cx_gan_sample: n = %lld; need 1 to %d", (long long)n,
                         1 << 20), NULL;
    bool training = cx_model_training(gan->gen);
    cx_model_set_training(gan->gen, false);
    cx_no_grad_begin();
    cx_tensor *z = cx_randn(rng, CX_SHAPE(n, gan->noise));
    cx_tensor *y = z ? cx_gan_generate(gan, z, labels) : NULL;
    cx_no_grad_end();
    cx_model_set_training(gan->gen, training);
    cx_tensor_free(z);
    return y;
}
