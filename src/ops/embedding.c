/*
 * embedding.c - rows of a table picked by integer index, as torch.nn.functional.embedding:
 * weight [V, E], indices (i32, any shape) -> [indices..., E]. One index_select over the
 * flattened indices (whose backward scatter-adds into the table's gradient, repeated indices
 * adding up) and reshapes. The descriptor records nothing (nodes are index_select's); it
 * carries the test rows.
 */
#include "cortex_impl.h"

#include <string.h>

cx_tensor *cx_embedding(cx_tensor *indices, cx_tensor *weight) {
    if (!cx__check("embedding", "indices", indices) ||
        !cx__check_f32("embedding", "weight", weight))
        return NULL;
    char si[CX_SHAPE_STR_MAX], sw[CX_SHAPE_STR_MAX];
    cx__shape_str(indices->ndim, indices->shape, si, sizeof si);
    cx__shape_str(weight->ndim, weight->shape, sw, sizeof sw);
    if (indices->dtype != CX_DTYPE_I32) {
        cx__error(CX_ERR_DTYPE, "embedding: indices %s must be i32, got %s", si,
                  cx_dtype_name(indices->dtype));
        return NULL;
    }
    if (weight->ndim != 2 || indices->ndim + 1 > CX_MAX_DIMS) {
        cx__error(CX_ERR_SHAPE, "embedding: weight %s must be [vocabulary, dim] and indices %s "
                  "have at most %d dimensions", sw, si, CX_MAX_DIMS - 1);
        return NULL;
    }
    int64_t shape[CX_MAX_DIMS];
    memcpy(shape, indices->shape, (size_t)indices->ndim * sizeof *shape);
    shape[indices->ndim] = weight->shape[1];
    cx_tensor *flat = cx_reshape(indices, CX_SHAPE(-1));
    cx_tensor *rows = flat ? cx_index_select(weight, 0, flat) : NULL;
    cx_tensor *out = rows ? cx_reshape(rows, indices->ndim + 1, shape) : NULL;
    if (!rows && flat) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cx_last_error());
        cx__error(cx_last_status(), "embedding: indices %s into weight %s: %s", si, sw, msg);
    }
    cx_tensor_free(flat);
    cx_tensor_free(rows);
    return out;
}

/* ---- test rows ---- */

static cx_tensor *run_embedding(cx_tensor *const *x) { return cx_embedding(x[0], x[1]); }

CX_OP_DEFINE(embedding, .tests = (const cx_op_test[]){
                 {.name = "embedding_2d", .run = run_embedding, .n_in = 2,
                  .in = {CX_IN_INT(0, 7, 3, 4), CX_IN(7, 5)}},
                 {.name = "embedding_repeats", .run = run_embedding, .n_in = 2,
                  .in = {CX_IN_INT(0, 2, 9), CX_IN(3, 4)}},
                 {.name = NULL}});
