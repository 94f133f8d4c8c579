/*
 * dense.c - fully connected layer, as torch.nn.Linear: y = x·Wᵀ + b over the last dimension
 * of x, with W stored [units, in] so torch's state_dict loads as is; one cx_linear op.
 *   x (N, ..., in)  W (units, in)  b (units)  ->  y (N, ..., units)
 * Default init as torch: kaiming_uniform_(a=sqrt(5)) weights, U(±1/sqrt(in)) biases; an
 * explicit init applies to W and leaves b zero.
 */
#include "nn/layer.h"

#include <math.h>

typedef struct {
    cx_weight_args w; /* first: cx__init_layer reads it */
    int64_t units;
} dense_args;

static const dense_args dense_defaults = {.w = CX_WEIGHT_DEFAULTS};

static const cx_layer_key dense_keys[] = {
    CX_KEY("units", CX_KEY_INT, dense_args, units, .required = true, .min = 1,
           .max = (double)CX_DIM_MAX),
    CX_WEIGHT_KEYS(dense_args, w),
    CX_KEY_END,
};

static cx_status dense_build(cx_layer_build *b) {
    const dense_args *a = b->args;
    if (a->units < 1 || a->units > CX_DIM_MAX)
        return cx__error(CX_ERR_ARG, "units = %lld: must be 1 to %lld", (long long)a->units,
                         (long long)CX_DIM_MAX);
    if (a->w.init < CX_INIT_DEFAULT || a->w.init > CX_INIT_ZEROS)
        return cx__error(CX_ERR_ARG, "unknown init %d", a->w.init);
    if (!(a->w.scale >= 0) || !isfinite(a->w.scale))
        return cx__error(CX_ERR_ARG, "init_scale = %g: must be a finite value >= 0", a->w.scale);
    int64_t in = b->in_shape[b->in_ndim - 1];
    b->out_ndim = b->in_ndim;
    for (int d = 0; d < b->in_ndim; d++)
        b->out_shape[d] = b->in_shape[d];
    b->out_shape[b->in_ndim - 1] = a->units;
    cx__build_param(b, 0, "weight", 2, (const int64_t[]){a->units, in});
    if (a->w.bias) cx__build_param(b, 1, "bias", 1, &a->units);
    return CX_OK;
}

static cx_tensor *dense_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    const dense_args *a = (const dense_args *)l->args;
    return cx_linear(x, run->params[0], a->w.bias ? run->params[1] : NULL);
}

cx_status cx_model_add_dense(cx_model *m, int64_t units, bool bias, cx_init init, float scale,
                             cx_rng *rng) {
    dense_args a = {.w = {.bias = bias,
                          .init = (int)init,
                          .scale = scale == 0 ? dense_defaults.w.scale : scale},
                    .units = units};
    return cx__model_add(m, &cx_layer_dense, &a, rng);
}

CX_LAYER_DEFINE(dense, dense_args, .title = "Linear", .defaults = &dense_defaults,
                .keys = dense_keys, .takes_activation = true, .any_length = true,
                .build = dense_build,
                .init = cx__init_layer, .forward = dense_forward);
