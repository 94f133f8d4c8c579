/*
 * adaptive_pool2d.c - adaptive average pooling layers, as torch.nn.AdaptiveAvgPool2d: each
 * output cell averages torch's window [floor(i H / Ho), ceil((i + 1) H / Ho)), so any input
 * size gives the set output size. [globalavgpool2d] is the 1x1 case (ResNet's head).
 *   x (N, C, H, W) -> (N, C, Ho, Wo); one cx_adaptive_avg_pool2d op, no parameters.
 */
#include "nn/layer.h"

typedef struct {
    int64_t size[2]; /* (Ho, Wo) */
} adaptive_args;

static const adaptive_args adaptive_defaults = {{0, 0}};
static const adaptive_args global_defaults = {{1, 1}};

static const cx_layer_key adaptive_keys[] = {
    CX_KEY("size", CX_KEY_PAIR, adaptive_args, size, .required = true, .min = 1,
           .max = (double)CX_DIM_MAX),
    CX_KEY_END,
};

static cx_status adaptive_build(cx_layer_build *b) {
    const adaptive_args *a = b->args;
    cx_status st = cx__build_need_image(b);
    if (st != CX_OK) return st;
    if (a->size[0] < 1 || a->size[1] < 1 || a->size[0] > CX_DIM_MAX || a->size[1] > CX_DIM_MAX)
        return cx__error(CX_ERR_ARG, "size = %lld,%lld: each must be 1 to %lld",
                         (long long)a->size[0], (long long)a->size[1], (long long)CX_DIM_MAX);
    b->out_ndim = 3;
    b->out_shape[0] = b->in_shape[0];
    b->out_shape[1] = a->size[0];
    b->out_shape[2] = a->size[1];
    return CX_OK;
}

static cx_tensor *adaptive_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    (void)run;
    const adaptive_args *a = (const adaptive_args *)l->args;
    return cx_adaptive_avg_pool2d(x, a->size[0], a->size[1]);
}

cx_status cx_model_add_adaptive_avg_pool2d(cx_model *m, int64_t out_h, int64_t out_w) {
    return cx__model_add(m, &cx_layer_adaptiveavgpool2d, &(adaptive_args){{out_h, out_w}}, NULL);
}

cx_status cx_model_add_global_avg_pool2d(cx_model *m) {
    return cx__model_add(m, &cx_layer_globalavgpool2d, &global_defaults, NULL);
}

CX_LAYER_DEFINE(adaptiveavgpool2d, adaptive_args, .title = "AdaptiveAvgPool2d",
                .defaults = &adaptive_defaults, .keys = adaptive_keys, .build = adaptive_build,
                .forward = adaptive_forward);
CX_LAYER_DEFINE(globalavgpool2d, adaptive_args, .title = "AdaptiveAvgPool2d",
                .defaults = &global_defaults, .build = adaptive_build,
                .forward = adaptive_forward);
