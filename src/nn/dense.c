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
    int64_t units;
    bool bias;
    int init; /* cx_init */
    float scale;
} dense_args;

static const dense_args dense_defaults = {.bias = true, .init = CX_INIT_DEFAULT, .scale = 0.05f};

static const cx_layer_key dense_keys[] = {
    CX_KEY("units", CX_KEY_INT, dense_args, units, .required = true, .min = 1,
           .max = (double)CX_DIM_MAX),
    CX_KEY("bias", CX_KEY_BOOL, dense_args, bias),
    CX_KEY("init", CX_KEY_ENUM, dense_args, init, .choices = cx__init_names),
    CX_KEY("init_scale", CX_KEY_FLOAT, dense_args, scale, .min = 0, .max = 1e6),
    CX_KEY_END,
};

static cx_status dense_build(cx_layer_build *b) {
    const dense_args *a = b->args;
    if (a->units < 1 || a->units > CX_DIM_MAX)
        return cx__error(CX_ERR_ARG, "units = %lld: must be 1 to %lld", (long long)a->units,
                         (long long)CX_DIM_MAX);
    if (a->init < CX_INIT_DEFAULT || a->init > CX_INIT_ZEROS)
        return cx__error(CX_ERR_ARG, "unknown init %d", a->init);
    if (!(a->scale >= 0) || !isfinite(a->scale))
        return cx__error(CX_ERR_ARG, "init_scale = %g: must be a finite value >= 0", a->scale);
    int64_t in = b->in_shape[b->in_ndim - 1];
    b->out_ndim = b->in_ndim;
    for (int d = 0; d < b->in_ndim; d++)
        b->out_shape[d] = b->in_shape[d];
    b->out_shape[b->in_ndim - 1] = a->units;
    b->params[0].name = "weight";
    b->params[0].ndim = 2;
    b->params[0].shape[0] = a->units;
    b->params[0].shape[1] = in;
    b->n_params = 1;
    if (a->bias) {
        b->params[1].name = "bias";
        b->params[1].ndim = 1;
        b->params[1].shape[0] = a->units;
        b->n_params = 2;
    }
    return CX_OK;
}

static void dense_init(const cx_layer *l, cx_tensor *const *params, cx_rng *rng) {
    const dense_args *a = (const dense_args *)l->args;
    int64_t fan_out = params[0]->shape[0], fan_in = params[0]->shape[1];
    cx__init_weight(params[0], (cx_init)a->init, a->scale, fan_in, fan_out, rng);
    if (!a->bias) return;
    if (a->init == CX_INIT_DEFAULT) {
        double bound = 1.0 / sqrt((double)fan_in);
        cx__init_uniform(params[1], -bound, bound, rng);
    } else {
        cx__init_weight(params[1], CX_INIT_ZEROS, 0, fan_in, fan_out, rng);
    }
}

static cx_tensor *dense_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    const dense_args *a = (const dense_args *)l->args;
    return cx_linear(x, run->params[0], a->bias ? run->params[1] : NULL);
}

cx_status cx_model_add_dense(cx_model *m, int64_t units, bool bias, cx_init init, float scale,
                             cx_rng *rng) {
    dense_args a = {.units = units,
                    .bias = bias,
                    .init = (int)init,
                    .scale = scale == 0 ? dense_defaults.scale : scale};
    return cx__model_add(m, &cx_layer_dense, &a, rng);
}

CX_LAYER_DEFINE(dense, dense_args, .title = "Linear", .defaults = &dense_defaults,
                .keys = dense_keys, .takes_activation = true, .build = dense_build,
                .init = dense_init, .forward = dense_forward);
