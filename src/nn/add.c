/*
 * add.c - residual add: this layer's input (by default the previous layer's output) plus the
 * output of an earlier layer `from`, as ResNet's `out += identity`. Shapes must match; there
 * is no broadcasting, so a shortcut that changes shape needs its own 1x1 conv branch.
 *   x (N, ...) + from (N, ...) -> (N, ...); one cx_add op, no parameters.
 */
#include "nn/layer.h"

#include <string.h>

typedef struct {
    int64_t from; /* layer index, -1 = the model input */
} add_args;

static const add_args add_defaults = {0};

static const cx_layer_key add_keys[] = {
    CX_KEY("from", CX_KEY_LAYER, add_args, from, .required = true),
    CX_KEY_END,
};

/* Checks that every layer of refs exists before this one. */
cx_status cx__build_check_refs(const cx_layer_build *b, int n, const int64_t *refs) {
    int here = cx_model_num_layers(b->model);
    for (int i = 0; i < n; i++)
        if (refs[i] < -1 || refs[i] >= here)
            return cx__error(CX_ERR_ARG, "layer %lld is not an earlier layer (0 to %d, or -1 for "
                             "the model input)", (long long)refs[i], here - 1);
    return CX_OK;
}

static cx_status add_build(cx_layer_build *b) {
    const add_args *a = b->args;
    cx_status st = cx__build_check_refs(b, 1, &a->from);
    if (st != CX_OK) return st;
    int64_t shape[CX_MAX_DIMS];
    int nd = cx__model_output_of(b->model, a->from, shape);
    if (nd != b->in_ndim || memcmp(shape, b->in_shape, (size_t)nd * sizeof *shape) != 0) {
        char s[CX_SHAPE_STR_MAX + 8], t[CX_SHAPE_STR_MAX + 8], w[32] = "the model input";
        if (a->from >= 0) snprintf(w, sizeof w, "layer %lld", (long long)a->from);
        return cx__error(CX_ERR_SHAPE, "cannot add %s of %s to the input %s: the shapes must "
                         "match (a shortcut that changes shape needs a 1x1 conv2d branch)",
                         cx__batch_shape_str(nd, shape, s, sizeof s), w,
                         cx__batch_shape_str(b->in_ndim, b->in_shape, t, sizeof t));
    }
    return cx__build_same_shape(b);
}

static cx_tensor *add_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    return cx_add(x, cx__layer_output(run, ((const add_args *)l->args)->from));
}

cx_status cx_model_add_add(cx_model *m, int from) {
    return cx__model_add(m, &cx_layer_add, &(add_args){from}, NULL);
}

CX_LAYER_DEFINE(add, add_args, .title = "Add", .defaults = &add_defaults, .keys = add_keys,
                .build = add_build, .forward = add_forward);
