/*
 * pool2d.c - max and average pooling layers, as torch.nn.MaxPool2d and AvgPool2d; one
 * cx_max_pool2d / cx_avg_pool2d op each. No parameters.
 *   x (N, C, H, W) -> (N, C, Ho, Wo), Ho = (H + 2 pad - dilation (k - 1) - 1) / stride + 1
 * rounded down (or up with ceil_mode), as torch: pooling 2 on an odd size drops the last row,
 * which users expect, so it is not refused. stride defaults to the kernel.
 * Reference: https://pytorch.org/docs/1.13/generated/torch.nn.MaxPool2d.html
 */
#include "nn/layer.h"

typedef struct {
    int64_t kernel[2], stride[2], padding[2], dilation[2]; /* stride 0: the kernel */
    bool ceil_mode, count_include_pad;
} pool_args;

static const pool_args maxpool_defaults = {.dilation = {1, 1}};
static const pool_args avgpool_defaults = {.dilation = {1, 1}, .count_include_pad = true};

#define POOL_KEYS                                                                              \
    CX_KEY("kernel", CX_KEY_PAIR, pool_args, kernel, .required = true, .min = 1,               \
           .max = 1 << 16),                                                                    \
        CX_KEY("stride", CX_KEY_PAIR, pool_args, stride, .min = 1, .max = 1 << 16),            \
        CX_KEY("padding", CX_KEY_PAIR, pool_args, padding, .min = 0, .max = 1 << 16),          \
        CX_KEY("ceil_mode", CX_KEY_BOOL, pool_args, ceil_mode)

static const cx_layer_key maxpool_keys[] = {
    POOL_KEYS,
    CX_KEY("dilation", CX_KEY_PAIR, pool_args, dilation, .min = 1, .max = 1 << 16),
    CX_KEY_END,
};
static const cx_layer_key avgpool_keys[] = {
    POOL_KEYS,
    CX_KEY("count_include_pad", CX_KEY_BOOL, pool_args, count_include_pad),
    CX_KEY_END,
};

/* The op's settings: stride 0 becomes the kernel. */
static cx_pool2d_params pool_params(const pool_args *a) {
    cx_pool2d_params p = {.ceil_mode = a->ceil_mode, .exclude_pad = !a->count_include_pad};
    for (int d = 0; d < 2; d++) {
        p.kernel[d] = a->kernel[d];
        p.stride[d] = a->stride[d] ? a->stride[d] : a->kernel[d];
        p.padding[d] = a->padding[d];
        p.dilation[d] = a->dilation[d] ? a->dilation[d] : 1;
    }
    return p;
}

static cx_status pool_build(cx_layer_build *b) {
    cx_status st = cx__build_need_image(b);
    if (st != CX_OK) return st;
    cx_pool2d_params p = pool_params(b->args);
    for (int d = 0; d < 2; d++) {
        if (p.kernel[d] < 1 || p.stride[d] < 1 || p.dilation[d] < 1 || p.padding[d] < 0)
            return cx__error(CX_ERR_ARG, "kernel %lld, stride %lld, dilation %lld, padding "
                             "%lld: kernel, stride and dilation must be at least 1, padding "
                             "at least 0", (long long)p.kernel[d], (long long)p.stride[d],
                             (long long)p.dilation[d], (long long)p.padding[d]);
        if (p.padding[d] > (p.dilation[d] * (p.kernel[d] - 1) + 1) / 2)
            return cx__error(CX_ERR_ARG, "padding %lld is more than half the window (%lld): "
                             "torch refuses it too", (long long)p.padding[d],
                             (long long)(p.dilation[d] * (p.kernel[d] - 1) + 1));
    }
    int64_t out[2];
    st = cx__window_out(b->in_shape + 1, p.kernel, p.stride, p.padding, p.dilation, p.ceil_mode,
                        false, out);
    if (st != CX_OK) return st;
    b->out_ndim = 3;
    b->out_shape[0] = b->in_shape[0];
    b->out_shape[1] = out[0];
    b->out_shape[2] = out[1];
    return CX_OK;
}

static cx_tensor *maxpool_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    (void)run;
    cx_pool2d_params p = pool_params((const pool_args *)l->args);
    return cx_max_pool2d(x, &p);
}

static cx_tensor *avgpool_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    (void)run;
    cx_pool2d_params p = pool_params((const pool_args *)l->args);
    p.dilation[0] = p.dilation[1] = 1;
    return cx_avg_pool2d(x, &p);
}

/* The layer's settings from the op's (zero = default, as there). */
static pool_args args_of(const cx_pool2d_params *params, bool avg) {
    pool_args a = avg ? avgpool_defaults : maxpool_defaults;
    if (!params) return a;
    for (int d = 0; d < 2; d++) {
        a.kernel[d] = params->kernel[d];
        a.stride[d] = params->stride[d];
        a.padding[d] = params->padding[d];
        a.dilation[d] = avg || !params->dilation[d] ? 1 : params->dilation[d];
    }
    a.ceil_mode = params->ceil_mode;
    a.count_include_pad = !params->exclude_pad;
    return a;
}

cx_status cx_model_add_max_pool2d(cx_model *m, const cx_pool2d_params *params) {
    pool_args a = args_of(params, false);
    return cx__model_add(m, &cx_layer_maxpool2d, &a, NULL);
}

cx_status cx_model_add_avg_pool2d(cx_model *m, const cx_pool2d_params *params) {
    pool_args a = args_of(params, true);
    return cx__model_add(m, &cx_layer_avgpool2d, &a, NULL);
}

CX_LAYER_DEFINE(maxpool2d, pool_args, .title = "MaxPool2d", .defaults = &maxpool_defaults,
                .keys = maxpool_keys, .build = pool_build, .forward = maxpool_forward);
CX_LAYER_DEFINE(avgpool2d, pool_args, .title = "AvgPool2d", .defaults = &avgpool_defaults,
                .keys = avgpool_keys, .build = pool_build, .forward = avgpool_forward);
