/*
 * pool1d.c - 1-D max and average pooling layers, as torch.nn.MaxPool1d and AvgPool1d:
 * samples [C, L] -> [C, Lo] with torch's floor (or ceil_mode) rule; one cx_max_pool1d /
 * cx_avg_pool1d op each. stride defaults to the kernel. No parameters.
 */
#include "nn/layer.h"

typedef struct {
    int64_t kernel, stride, padding, dilation; /* stride 0: the kernel */
    bool ceil_mode, count_include_pad;
} pool1d_args;

static const pool1d_args maxpool1d_defaults = {.dilation = 1};
static const pool1d_args avgpool1d_defaults = {.dilation = 1, .count_include_pad = true};

#define POOL1D_KEYS                                                                            \
    CX_KEY("kernel", CX_KEY_INT, pool1d_args, kernel, .required = true, .min = 1,              \
           .max = 1 << 16),                                                                    \
        CX_KEY("stride", CX_KEY_INT, pool1d_args, stride, .min = 1, .max = 1 << 16),           \
        CX_KEY("padding", CX_KEY_INT, pool1d_args, padding, .min = 0, .max = 1 << 16),         \
        CX_KEY("ceil_mode", CX_KEY_BOOL, pool1d_args, ceil_mode)

static const cx_layer_key maxpool1d_keys[] = {
    POOL1D_KEYS,
    CX_KEY("dilation", CX_KEY_INT, pool1d_args, dilation, .min = 1, .max = 1 << 16),
    CX_KEY_END,
};
static const cx_layer_key avgpool1d_keys[] = {
    POOL1D_KEYS,
    CX_KEY("count_include_pad", CX_KEY_BOOL, pool1d_args, count_include_pad),
    CX_KEY_END,
};

static cx_pool1d_params params_of(const pool1d_args *a, bool avg) {
    return (cx_pool1d_params){.kernel = a->kernel, .stride = a->stride ? a->stride : a->kernel,
                              .padding = a->padding, .dilation = avg ? 1 : a->dilation,
                              .ceil_mode = a->ceil_mode, .exclude_pad = !a->count_include_pad};
}

static cx_status pool1d_build(cx_layer_build *b) {
    if (b->in_ndim != 2)
        return cx__error(CX_ERR_SHAPE, "expects samples [channels, length] (a batch [N, C, L]), "
                         "got %d dimensions per sample", b->in_ndim);
    cx_pool1d_params p = params_of(b->args, false);
    if (p.kernel < 1 || p.stride < 1 || p.dilation < 1 || p.padding < 0)
        return cx__error(CX_ERR_ARG, "kernel %lld, stride %lld, dilation %lld, padding %lld: "
                         "kernel, stride and dilation must be at least 1, padding at least 0",
                         (long long)p.kernel, (long long)p.stride, (long long)p.dilation,
                         (long long)p.padding);
    if (p.padding > (p.dilation * (p.kernel - 1) + 1) / 2)
        return cx__error(CX_ERR_ARG, "padding %lld is more than half the window (%lld): torch "
                         "refuses it too", (long long)p.padding,
                         (long long)(p.dilation * (p.kernel - 1) + 1));
    int64_t out[2];
    cx_status st = cx__window_out((const int64_t[]){1, b->in_shape[1]},
                                  (const int64_t[]){1, p.kernel}, (const int64_t[]){1, p.stride},
                                  (const int64_t[]){0, p.padding},
                                  (const int64_t[]){1, p.dilation}, p.ceil_mode, false, out);
    if (st != CX_OK) return st;
    b->out_ndim = 2;
    b->out_shape[0] = b->in_shape[0];
    b->out_shape[1] = out[1];
    return CX_OK;
}

static cx_tensor *maxpool1d_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    (void)run;
    cx_pool1d_params p = params_of((const pool1d_args *)l->args, false);
    return cx_max_pool1d(x, &p);
}

static cx_tensor *avgpool1d_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    (void)run;
    cx_pool1d_params p = params_of((const pool1d_args *)l->args, true);
    return cx_avg_pool1d(x, &p);
}

CX_LAYER_DEFINE(maxpool1d, pool1d_args, .title = "MaxPool1d", .defaults = &maxpool1d_defaults,
                .keys = maxpool1d_keys, .build = pool1d_build, .forward = maxpool1d_forward);
CX_LAYER_DEFINE(avgpool1d, pool1d_args, .title = "AvgPool1d", .defaults = &avgpool1d_defaults,
                .keys = avgpool1d_keys, .build = pool1d_build, .forward = avgpool1d_forward);
