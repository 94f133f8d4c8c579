/*
 * reshape.c - gives each sample another shape with the same number of elements, as Keras's
 * Reshape or torch.nn.Unflatten(1, shape) after a flat layer:
 *   x (N, d1, d2, ...) -> (N, shape...), a view when x is contiguous.
 * A decoder uses it to turn a dense layer's [784] into a [1,28,28] picture, or [147] into
 * the [3,7,7] input of a transposed convolution.
 */
#include "nn/layer.h"

#include <string.h>

typedef struct {
    cx_shape_arg shape;
} reshape_args;

static const reshape_args reshape_defaults = {{0}};

static const cx_layer_key reshape_keys[] = {
    CX_KEY("shape", CX_KEY_SHAPE, reshape_args, shape, .required = true),
    CX_KEY_END,
};

static cx_status reshape_build(cx_layer_build *b) {
    const reshape_args *a = b->args;
    char in[CX_SHAPE_STR_MAX], out[CX_SHAPE_STR_MAX];
    if (a->shape.ndim < 1 || a->shape.ndim > CX_MAX_DIMS - 1)
        return cx__error(CX_ERR_ARG, "shape needs 1 to %d sizes", CX_MAX_DIMS - 1);
    for (int64_t d = 0; d < a->shape.ndim; d++)
        if (a->shape.size[d] < 1 || a->shape.size[d] > CX_DIM_MAX)
            return cx__error(CX_ERR_ARG, "shape sizes must be 1 to %lld", (long long)CX_DIM_MAX);
    int64_t n_in = cx__numel(b->in_ndim, b->in_shape);
    int64_t n_out = cx__numel((int)a->shape.ndim, a->shape.size);
    if (n_in != n_out)
        return cx__error(CX_ERR_SHAPE, "input %s has %lld elements per sample, shape %s has %lld",
                         cx__shape_str(b->in_ndim, b->in_shape, in, sizeof in), (long long)n_in,
                         cx__shape_str((int)a->shape.ndim, a->shape.size, out, sizeof out),
                         (long long)n_out);
    b->out_ndim = (int)a->shape.ndim;
    memcpy(b->out_shape, a->shape.size, (size_t)a->shape.ndim * sizeof(int64_t));
    return CX_OK;
}

static cx_tensor *reshape_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    (void)run;
    int64_t shape[CX_MAX_DIMS] = {x->shape[0]};
    memcpy(shape + 1, l->out_shape, (size_t)l->out_ndim * sizeof(int64_t));
    return cx_reshape(x, l->out_ndim + 1, shape);
}

cx_status cx_model_add_reshape(cx_model *m, int ndim, const int64_t *shape) {
    reshape_args a = {{.ndim = ndim}};
    if (ndim < 1 || ndim > CX_MAX_DIMS - 1 || !shape)
        return cx__error(CX_ERR_ARG, "cx_model_add_reshape: needs 1 to %d sizes", CX_MAX_DIMS - 1);
    memcpy(a.shape.size, shape, (size_t)ndim * sizeof *shape);
    return cx__model_add(m, &cx_layer_reshape, &a, NULL);
}

CX_LAYER_DEFINE(reshape, reshape_args, .title = "Reshape", .defaults = &reshape_defaults,
                .keys = reshape_keys, .build = reshape_build, .forward = reshape_forward);
