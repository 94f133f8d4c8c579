/*
 * conv2d.c - 2-D convolution layer, as torch.nn.Conv2d; one cx_conv2d op.
 *   x (N, C, H, W)  weight (filters, C/groups, kh, kw)  bias (filters)  ->  (N, filters, Ho, Wo)
 *   Ho = (H + 2 pad - dilation (kh - 1) - 1) / stride + 1
 * A size whose division leaves a remainder is refused unless `floor = true` (torch drops the
 * remainder; a Keras or torch user rarely means to). Default init as torch:
 * kaiming_uniform_(a=sqrt(5)) weights, U(±1/sqrt(fan_in)) biases, fan_in = C/groups kh kw.
 * Reference: https://pytorch.org/docs/1.13/generated/torch.nn.Conv2d.html
 */
#include "nn/layer.h"

typedef struct {
    cx_conv_args c; /* first: cx__init_layer reads it */
    cx_padding_arg padding;
    bool floor;
} conv2d_args;

static const conv2d_args conv2d_defaults = {.c = CX_CONV_DEFAULTS};

static const cx_layer_key conv2d_keys[] = {
    CX_CONV_HEAD_KEYS(conv2d_args),
    CX_KEY("padding", CX_KEY_PADDING, conv2d_args, padding, .min = 0, .max = 1 << 16),
    CX_CONV_TAIL_KEYS(conv2d_args),
    CX_KEY("floor", CX_KEY_BOOL, conv2d_args, floor),
    CX_KEY_END,
};

static cx_status conv2d_build(cx_layer_build *b) {
    const conv2d_args *a = b->args;
    const cx_conv_args *c = &a->c;
    cx_status st = cx__build_check_conv(b, c);
    if (st != CX_OK) return st;
    int64_t out[2];
    if (a->padding.same) {
        if (c->stride[0] != 1 || c->stride[1] != 1)
            return cx__error(CX_ERR_ARG, "padding = same needs stride 1 (as torch)");
        out[0] = b->in_shape[1];
        out[1] = b->in_shape[2];
    } else {
        st = cx__window_out(b->in_shape + 1, c->kernel, c->stride, a->padding.size, c->dilation,
                            false, !a->floor, out);
        if (st != CX_OK) return st;
    }
    b->out_ndim = 3;
    b->out_shape[0] = c->filters;
    b->out_shape[1] = out[0];
    b->out_shape[2] = out[1];
    cx__build_param(b, 0, "weight", 4,
                    (const int64_t[]){c->filters, b->in_shape[0] / c->groups, c->kernel[0],
                                      c->kernel[1]});
    if (c->w.bias) cx__build_param(b, 1, "bias", 1, &c->filters);
    return CX_OK;
}

static cx_tensor *conv2d_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    const conv2d_args *a = (const conv2d_args *)l->args;
    const cx_conv_args *c = &a->c;
    cx_conv2d_params p = {.stride = {c->stride[0], c->stride[1]},
                          .padding = {a->padding.size[0], a->padding.size[1]},
                          .dilation = {c->dilation[0], c->dilation[1]},
                          .groups = c->groups,
                          .same = a->padding.same};
    return cx_conv2d(x, run->params[0], c->w.bias ? run->params[1] : NULL, &p);
}

cx_status cx_model_add_conv2d(cx_model *m, int64_t filters, int64_t kh, int64_t kw,
                              const cx_conv2d_params *params, bool bias, cx_rng *rng) {
    conv2d_args a = conv2d_defaults;
    cx__conv_args_set(&a.c, filters, kh, kw, bias, params ? params->stride : NULL,
                      params ? params->dilation : NULL, params ? params->groups : 0);
    if (params) {
        a.padding.size[0] = params->padding[0];
        a.padding.size[1] = params->padding[1];
        a.padding.same = params->same;
    }
    return cx__model_add(m, &cx_layer_conv2d, &a, rng);
}

CX_LAYER_DEFINE(conv2d, conv2d_args, .title = "Conv2d", .defaults = &conv2d_defaults,
                .keys = conv2d_keys, .takes_activation = true, .build = conv2d_build,
                .init = cx__init_layer, .forward = conv2d_forward);
