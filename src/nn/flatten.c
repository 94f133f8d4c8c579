/*
 * flatten.c - flattens each sample to one dimension, as torch.nn.Flatten (dims 1..-1):
 *   x (N, d1, d2, ...) -> (N, d1*d2*...), a view when x is contiguous.
 */
#include "nn/layer.h"

typedef struct {
    char unused; /* no settings */
} flatten_args;

static const flatten_args flatten_defaults = {0};

static cx_status flatten_build(cx_layer_build *b) {
    b->out_ndim = 1;
    b->out_shape[0] = cx__numel(b->in_ndim, b->in_shape);
    return CX_OK;
}

static cx_tensor *flatten_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    (void)run;
    return cx_reshape(x, 2, (const int64_t[]){x->shape[0], l->out_shape[0]});
}

cx_status cx_model_add_flatten(cx_model *m) {
    return cx__model_add(m, &cx_layer_flatten, &flatten_defaults, NULL);
}

CX_LAYER_DEFINE(flatten, flatten_args, .title = "Flatten", .defaults = &flatten_defaults,
                .build = flatten_build, .forward = flatten_forward);
