/*
 * batchnorm.c - batch normalisation layer, as torch.nn.BatchNorm1d on [C] (or [C, L]) samples
 * and BatchNorm2d on [C, H, W]: per channel, y = (x - mean) / sqrt(var + eps) * weight + bias.
 * Training mode normalises with the batch's statistics and updates the running ones
 * (running = (1 - momentum) running + momentum batch, unbiased variance); evaluation mode
 * uses the running ones. One cx_batch_norm op.
 *   parameters weight (C) = 1, bias (C) = 0 if affine; buffers running_mean (C) = 0,
 *   running_var (C) = 1, named as torch's state_dict ("1.running_mean").
 * Reference: https://pytorch.org/docs/1.13/generated/torch.nn.BatchNorm2d.html
 */
#include "nn/layer.h"


typedef struct {
    float momentum, eps;
    bool affine;
} batchnorm_args;

static const batchnorm_args batchnorm_defaults = {.momentum = 0.1f, .eps = 1e-5f,
                                                  .affine = true};

static const cx_layer_key batchnorm_keys[] = {
    CX_KEY("momentum", CX_KEY_FLOAT, batchnorm_args, momentum, .min = 0, .max = 1),
    CX_KEY("eps", CX_KEY_FLOAT, batchnorm_args, eps, .min = 0, .max = 1),
    CX_KEY("affine", CX_KEY_BOOL, batchnorm_args, affine),
    CX_KEY_END,
};

static cx_status batchnorm_build(cx_layer_build *b) {
    const batchnorm_args *a = b->args;
    if (!(a->momentum >= 0 && a->momentum <= 1) || !(a->eps > 0 && a->eps <= 1))
        return cx__error(CX_ERR_ARG, "momentum = %g, eps = %g: momentum must be 0 to 1, eps "
                         "above 0 and at most 1", a->momentum, a->eps);
    if (b->in_ndim > 3)
        return cx__error(CX_ERR_SHAPE, "normalises [C], [C,L] or [C,H,W] samples, got %d "
                         "dimensions per sample", b->in_ndim);
    int64_t c = b->in_shape[0];
    if (a->affine) {
        cx__build_param(b, 0, "weight", 1, &c);
        cx__build_param(b, 1, "bias", 1, &c);
    }
    b->n_buffers = 2;
    b->buffers[0].name = "running_mean";
    b->buffers[0].size = c;
    b->buffers[0].fill = 0;
    b->buffers[1].name = "running_var";
    b->buffers[1].size = c;
    b->buffers[1].fill = 1;
    return cx__build_same_shape(b);
}

static void batchnorm_init(const cx_layer *l, cx_tensor *const *params, cx_rng *rng) {
    (void)rng;
    for (int p = 0; p < l->n_params; p++) {
        float *d = cx__f32(params[p]), v = p == 0 ? 1.0f : 0.0f; /* weight 1, bias 0 */
        for (int64_t i = 0; i < params[p]->shape[0]; i++)
            d[i] = v;
    }
}

static cx_tensor *batchnorm_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    const batchnorm_args *a = (const batchnorm_args *)l->args;
    cx_tensor *w = a->affine ? run->params[0] : NULL, *b = a->affine ? run->params[1] : NULL;
    return cx_batch_norm(x, w, b, run->buffers[0], run->buffers[1], run->training, a->momentum,
                         a->eps);
}

/* torch's class for the same input: BatchNorm2d on images, BatchNorm1d on [C] or [C, L]. */
static const char *batchnorm_title(const cx_layer *l) {
    return l->in_ndim == 3 ? "BatchNorm2d" : "BatchNorm1d";
}

cx_status cx_model_add_batchnorm(cx_model *m, float momentum, float eps, bool affine) {
    batchnorm_args a = {.momentum = momentum, .eps = eps, .affine = affine};
    return cx__model_add(m, &cx_layer_batchnorm, &a, NULL);
}

CX_LAYER_DEFINE(batchnorm, batchnorm_args, .title = "BatchNorm", .title_of = batchnorm_title,
                .defaults = &batchnorm_defaults, .keys = batchnorm_keys, .build = batchnorm_build, .init = batchnorm_init,
                .forward = batchnorm_forward);
