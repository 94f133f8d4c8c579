/*
 * concat.c - joins the outputs of the listed earlier layers along the channels (the first
 * dimension of a sample), as an Inception module's torch.cat(branches, 1). Every other
 * dimension must match. The layer's own input is not used unless it is listed.
 *   outputs (N, C_i, ...) -> (N, sum C_i, ...); one cx_concat op, no parameters.
 */
#include "nn/layer.h"

#include <string.h>

typedef struct {
    cx_layer_refs layers;
} concat_args;

static const concat_args concat_defaults = {{0}};

static const cx_layer_key concat_keys[] = {
    CX_KEY("layers", CX_KEY_LAYERS, concat_args, layers, .required = true),
    CX_KEY_END,
};

static cx_status concat_build(cx_layer_build *b) {
    const cx_layer_refs *r = &((const concat_args *)b->args)->layers;
    if (r->n < 1 || r->n > CX_LAYER_MAX_REFS)
        return cx__error(CX_ERR_ARG, "layers: 1 to %d layers, got %lld", CX_LAYER_MAX_REFS,
                         (long long)r->n);
    cx_status st = cx__build_check_refs(b, (int)r->n, r->layer);
    if (st != CX_OK) return st;
    b->out_ndim = cx__model_output_of(b->model, r->layer[0], b->out_shape);
    for (int i = 1; i < r->n; i++) {
        int64_t shape[CX_MAX_DIMS];
        int nd = cx__model_output_of(b->model, r->layer[i], shape);
        if (nd != b->out_ndim || memcmp(shape + 1, b->out_shape + 1,
                                        (size_t)(nd - 1) * sizeof *shape) != 0) {
            char s[CX_SHAPE_STR_MAX + 8], t[CX_SHAPE_STR_MAX + 8];
            int64_t first[CX_MAX_DIMS];
            int fnd = cx__model_output_of(b->model, r->layer[0], first);
            return cx__error(CX_ERR_SHAPE, "layer %lld's output %s does not join layer %lld's %s "
                             "along the channels: the other dimensions must match",
                             (long long)r->layer[i], cx__batch_shape_str(nd, shape, s, sizeof s),
                             (long long)r->layer[0],
                             cx__batch_shape_str(fnd, first, t, sizeof t));
        }
        b->out_shape[0] += shape[0];
    }
    return CX_OK;
}

static cx_tensor *concat_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    (void)x;
    const cx_layer_refs *r = &((const concat_args *)l->args)->layers;
    cx_tensor *xs[CX_LAYER_MAX_REFS];
    for (int i = 0; i < r->n; i++)
        xs[i] = cx__layer_output(run, r->layer[i]);
    if (r->n == 1) return cx__layer_identity(xs[0]);
    return cx_concat(xs, (int)r->n, 1);
}

cx_status cx_model_add_concat(cx_model *m, int n, const int *layers) {
    concat_args a = {{.n = n}};
    if (n < 1 || n > CX_LAYER_MAX_REFS || !layers)
        return cx__error(CX_ERR_ARG, "cx_model_add_concat: 1 to %d layers, got %d%s",
                         CX_LAYER_MAX_REFS, n, layers ? "" : " (layers is NULL)");
    for (int i = 0; i < n; i++)
        a.layers.layer[i] = layers[i];
    return cx__model_add(m, &cx_layer_concat, &a, NULL);
}

CX_LAYER_DEFINE(concat, concat_args, .title = "Concat", .defaults = &concat_defaults,
                .keys = concat_keys, .build = concat_build, .forward = concat_forward);
