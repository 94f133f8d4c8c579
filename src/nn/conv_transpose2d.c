/*
 * conv_transpose2d.c - transposed 2-D convolution layer, as torch.nn.ConvTranspose2d; one
 * cx_conv_transpose2d op.
 *   x (N, C, H, W)  weight (C, filters/groups, kh, kw)  bias (filters)  ->  (N, filters, Ho, Wo)
 *   Ho = (H - 1) stride - 2 pad + dilation (kh - 1) + output_padding + 1
 * Default init as torch, whose fans come from the weight's shape: fan_in = filters/groups kh kw.
 * Reference: https://pytorch.org/docs/1.13/generated/torch.nn.ConvTranspose2d.html
 */
#include "nn/layer.h"

typedef struct {
    cx_conv_args c; /* first: cx__init_layer reads it */
    int64_t padding[2], output_padding[2];
} convt_args;

static const convt_args convt_defaults = {.c = CX_CONV_DEFAULTS};

static const cx_layer_key convt_keys[] = {
    CX_CONV_HEAD_KEYS(convt_args),
    CX_KEY("padding", CX_KEY_PAIR, convt_args, padding, .min = 0, .max = 1 << 16),
    CX_KEY("output_padding", CX_KEY_PAIR, convt_args, output_padding, .min = 0, .max = 1 << 16),
    CX_CONV_TAIL_KEYS(convt_args),
    CX_KEY_END,
};

static cx_status convt_build(cx_layer_build *b) {
    const convt_args *a = b->args;
    const cx_conv_args *c = &a->c;
    cx_status st = cx__build_check_conv(b, c);
    if (st != CX_OK) return st;
    b->out_ndim = 3;
    b->out_shape[0] = c->filters;
    for (int d = 0; d < 2; d++) {
        const int64_t in = b->in_shape[1 + d], s = c->stride[d], p = a->padding[d];
        const int64_t k = c->kernel[d], dil = c->dilation[d], op = a->output_padding[d];
        if (p < 0 || op < 0 || (op >= s && op >= dil))
            return cx__error(CX_ERR_ARG, "padding %lld, output_padding %lld: padding must be at "
                             "least 0, output_padding smaller than the stride (%lld) or the "
                             "dilation (%lld), as torch", (long long)p, (long long)op,
                             (long long)s, (long long)dil);
        int64_t o = (in - 1) * s - 2 * p + dil * (k - 1) + op + 1;
        if (o < 1)
            return cx__error(CX_ERR_SHAPE, "input %lldx%lld: (%lld - 1) * %lld - 2 * %lld + %lld "
                             "* (%lld - 1) + %lld + 1 = %lld is below 1",
                             (long long)b->in_shape[1], (long long)b->in_shape[2], (long long)in,
                             (long long)s, (long long)p, (long long)dil, (long long)k,
                             (long long)op, (long long)o);
        b->out_shape[1 + d] = o;
    }
    cx__build_param(b, 0, "weight", 4,
                    (const int64_t[]){b->in_shape[0], c->filters / c->groups, c->kernel[0],
                                      c->kernel[1]});
    if (c->w.bias) cx__build_param(b, 1, "bias", 1, &c->filters);
    return CX_OK;
}

static cx_tensor *convt_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    const convt_args *a = (const convt_args *)l->args;
    const cx_conv_args *c = &a->c;
    cx_conv_transpose2d_params p = {
        .stride = {c->stride[0], c->stride[1]},
        .padding = {a->padding[0], a->padding[1]},
        .output_padding = {a->output_padding[0], a->output_padding[1]},
        .dilation = {c->dilation[0], c->dilation[1]},
        .groups = c->groups};
    return cx_conv_transpose2d(x, run->params[0], c->w.bias ? run->params[1] : NULL, &p);
}

cx_status cx_model_add_conv_transpose2d(cx_model *m, int64_t filters, int64_t kh, int64_t kw,
                                        const cx_conv_transpose2d_params *params, bool bias,
                                        cx_rng *rng) {
    convt_args a = convt_defaults;
    cx__conv_args_set(&a.c, filters, kh, kw, bias, params ? params->stride : NULL,
                      params ? params->dilation : NULL, params ? params->groups : 0);
    for (int d = 0; params && d < 2; d++) {
        a.padding[d] = params->padding[d];
        a.output_padding[d] = params->output_padding[d];
    }
    return cx__model_add(m, &cx_layer_conv_transpose2d, &a, rng);
}

CX_LAYER_DEFINE(conv_transpose2d, convt_args, .title = "ConvTranspose2d",
                .defaults = &convt_defaults, .keys = convt_keys, .build = convt_build,
                .init = cx__init_layer, .forward = convt_forward);
