/*
 * conv1d.c - the 1-D convolution layer, as torch.nn.Conv1d: samples [C, L] (channels, length)
 * -> [filters, Lo]; one cx_conv1d op.
 *   x (N, C, L)  W (filters, C/groups, kernel)  b (filters)  ->  (N, filters, Lo)
 * Lo = (L + 2 padding - dilation (kernel - 1) - 1) / stride + 1, rounded down as torch does;
 * padding = same keeps the length (stride 1). Default init as torch's (kaiming_uniform(a=sqrt(5))
 * weights, U(±1/sqrt(fan_in)) biases).
 */
#include "nn/layer.h"

typedef struct {
    cx_weight_args w; /* first: cx__init_layer reads it */
    int64_t filters, kernel, stride, dilation, groups;
    cx_padding_arg padding;
} conv1d_args;

static const conv1d_args conv1d_defaults = {.w = CX_WEIGHT_DEFAULTS, .stride = 1,
                                            .dilation = 1, .groups = 1};

static const cx_layer_key conv1d_keys[] = {
    CX_KEY("filters", CX_KEY_INT, conv1d_args, filters, .required = true, .min = 1,
           .max = (double)CX_DIM_MAX),
    CX_KEY("kernel", CX_KEY_INT, conv1d_args, kernel, .required = true, .min = 1, .max = 1 << 16),
    CX_KEY("stride", CX_KEY_INT, conv1d_args, stride, .min = 1, .max = 1 << 16),
    CX_KEY("padding", CX_KEY_PADDING, conv1d_args, padding, .min = 0, .max = 1 << 16),
    CX_KEY("dilation", CX_KEY_INT, conv1d_args, dilation, .min = 1, .max = 1 << 16),
    CX_KEY("groups", CX_KEY_INT, conv1d_args, groups, .min = 1, .max = (double)CX_DIM_MAX),
    CX_WEIGHT_KEYS(conv1d_args, w),
    CX_KEY_END,
};

static cx_status conv1d_build(cx_layer_build *b) {
    const conv1d_args *a = b->args;
    if (b->in_ndim != 2)
        return cx__error(CX_ERR_SHAPE, "expects samples [channels, length] (a batch [N, C, L]), "
                         "got %d dimensions per sample", b->in_ndim);
    if (a->padding.size[0] != a->padding.size[1])
        return cx__error(CX_ERR_ARG, "padding = %lld,%lld: a 1-D convolution takes one padding",
                         (long long)a->padding.size[0], (long long)a->padding.size[1]);
    int64_t c = b->in_shape[0], len = b->in_shape[1];
    if (a->filters < 1 || a->kernel < 1 || a->stride < 1 || a->dilation < 1 || a->groups < 1 ||
        c % a->groups || a->filters % a->groups)
        return cx__error(CX_ERR_ARG, "filters %lld, kernel %lld, stride %lld, dilation %lld, "
                         "groups %lld: all at least 1, and groups must divide the %lld input "
                         "channels and the filters", (long long)a->filters, (long long)a->kernel,
                         (long long)a->stride, (long long)a->dilation, (long long)a->groups,
                         (long long)c);
    int64_t out = len;
    if (a->padding.same && a->stride != 1)
        return cx__error(CX_ERR_ARG, "padding = same needs stride 1 (as torch)");
    if (!a->padding.same && !cx__conv_out_size("input length", len, a->kernel, a->stride,
                                               a->padding.size[0], a->dilation, false, &out))
        return cx_last_status();
    b->out_ndim = 2;
    b->out_shape[0] = a->filters;
    b->out_shape[1] = out;
    cx__build_param(b, 0, "weight", 3, (const int64_t[]){a->filters, c / a->groups, a->kernel});
    if (a->w.bias) cx__build_param(b, 1, "bias", 1, &a->filters);
    return CX_OK;
}

static cx_tensor *conv1d_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    const conv1d_args *a = (const conv1d_args *)l->args;
    cx_conv1d_params p = {.stride = a->stride, .padding = a->padding.size[0],
                          .dilation = a->dilation, .groups = a->groups, .same = a->padding.same};
    return cx_conv1d(x, run->params[0], a->w.bias ? run->params[1] : NULL, &p);
}

CX_LAYER_DEFINE(conv1d, conv1d_args, .title = "Conv1d", .defaults = &conv1d_defaults,
                .keys = conv1d_keys, .takes_activation = true, .build = conv1d_build,
                .init = cx__init_layer, .forward = conv1d_forward);
