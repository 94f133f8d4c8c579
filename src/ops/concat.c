/*
 * concat.c - joining tensors along one dim, as torch.cat.
 *
 * Seen around dim, every tensor is [outer, size_i * inner] with outer the product of the dims
 * before dim and inner the product of those after it; the output row o is the inputs' rows o
 * laid end to end. Forward copies those blocks, backward adds the matching blocks of gout back.
 */
#include "cortex_impl.h"

#include <string.h>

/* Checks the inputs against xs[0]; on success *dim is normalised. */
static bool concat_check(cx_tensor *const *xs, int n, int *dim) {
    if (n < 1 || !xs) {
        cx__error(CX_ERR_ARG, "concat: needs at least one tensor, got %d%s", n,
                  xs ? "" : " (xs is NULL)");
        return false;
    }
    for (int i = 0; i < n; i++) {
        char arg[32];
        snprintf(arg, sizeof arg, "input %d", i);
        if (!cx__check_f32("concat", arg, xs[i])) return false;
    }
    const cx_tensor *x0 = xs[0];
    if (!cx__dim("concat", dim, x0->ndim)) return false;
    for (int i = 1; i < n; i++) {
        const cx_tensor *x = xs[i];
        bool same = x->ndim == x0->ndim;
        for (int d = 0; same && d < x->ndim; d++) same = d == *dim || x->shape[d] == x0->shape[d];
        if (!same) {
            char s0[CX_SHAPE_STR_MAX], si[CX_SHAPE_STR_MAX];
            cx__error(CX_ERR_SHAPE, "concat: input %d has shape %s, input 0 has %s: all dims "
                                    "but dim %d must match",
                      i, cx__shape_str(x->ndim, x->shape, si, sizeof si),
                      cx__shape_str(x0->ndim, x0->shape, s0, sizeof s0), *dim);
            return false;
        }
    }
    return true;
}

cx_tensor *cx_concat(cx_tensor *const *xs, int n, int dim) {
    if (!concat_check(xs, n, &dim)) return NULL;
    const cx_tensor *x0 = xs[0];
    int64_t shape[CX_MAX_DIMS], total = 0;
    memcpy(shape, x0->shape, sizeof shape);
    for (int i = 0; i < n; i++) {
        total += xs[i]->shape[dim];
        if (total > CX_MAX_NUMEL) break; /* the allocation below refuses it with a message */
    }
    shape[dim] = total;
    cx_tensor *out = cx__tensor_empty(CX_DTYPE_F32, x0->ndim, shape);
    if (!out) return NULL;
    int64_t outer = cx__numel(dim, shape), inner = cx__numel(x0->ndim - dim - 1, shape + dim + 1);
    int64_t row = total * inner; /* one output row: [total, inner] */
    float *o = cx__f32(out);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        cx_tensor *x = xs[i];
        int64_t len = x->shape[dim] * inner, numel = outer * len;
        const float *src = cx__f32(x);
        float *tmp = NULL;
        if (!cx__is_contiguous(x) && numel > 0) {
            tmp = cx__temp_alloc((size_t)numel * sizeof *tmp);
            if (!tmp) {
                cx_tensor_free(out);
                return NULL;
            }
            cx__copy_strided(x, tmp);
            src = tmp;
        }
#pragma omp parallel for if (numel > CX_PARALLEL_MIN && outer > 1)
        for (int64_t r = 0; r < outer; r++)
            memcpy(o + r * row + at, src + r * len, (size_t)len * sizeof *o);
        cx__temp_free(tmp);
        at += len;
    }
    out = cx__finish(out, &cx_op_concat, n, xs);
    if (out && out->node) out->node->i[0] = dim;
    return out;
}

/* out = [x_0, x_1, ...] along dim: dx_i = the block of gout where x_i was placed. */
static cx_status concat_backward(cx_node *node, cx_tensor *out, const float *gout) {
    int dim = (int)node->i[0];
    int64_t outer = cx__numel(dim, out->shape);
    int64_t inner = cx__numel(out->ndim - dim - 1, out->shape + dim + 1);
    int64_t row = out->shape[dim] * inner, at = 0;
    for (int i = 0; i < node->n_in; i++) {
        cx_tensor *x = node->in[i];
        int64_t len = x->shape[dim] * inner;
        if (cx__needs_grad(x)) {
            float *g = cx__grad(x);
            if (!g) return cx_last_status();
#pragma omp parallel for if (outer * len > CX_PARALLEL_MIN && outer > 1)
            for (int64_t r = 0; r < outer; r++) {
                float *gr = g + r * len;
                const float *src = gout + r * row + at;
                for (int64_t j = 0; j < len; j++) gr[j] += src[j];
            }
        }
        at += len;
    }
    return CX_OK;
}

/* ---- test rows ---- */

static cx_tensor *run_concat2_last(cx_tensor *const *x) { return cx_concat(x, 2, -1); }
static cx_tensor *run_concat2_first(cx_tensor *const *x) { return cx_concat(x, 2, 0); }
static cx_tensor *run_concat3_mid(cx_tensor *const *x) { return cx_concat(x, 3, 1); }
static cx_tensor *run_concat1(cx_tensor *const *x) { return cx_concat(x, 1, 0); }
/* The first input arrives transposed (a non-contiguous view). */
static cx_tensor *run_concat_t(cx_tensor *const *x) {
    cx_tensor *t = cx_transpose(x[0], 0, 1);
    cx_tensor *y = cx_concat((cx_tensor *[]){t, x[1]}, 2, 0);
    cx_tensor_free(t);
    return y;
}
/* The same tensor twice: its gradient collects both blocks. */
static cx_tensor *run_concat_twice(cx_tensor *const *x) {
    return cx_concat((cx_tensor *[]){x[0], x[0]}, 2, -2);
}

CX_OP_DEFINE(concat, .backward = concat_backward,
             .tests = (const cx_op_test[]){
                 {.name = "concat_mid3", .run = run_concat3_mid, .n_in = 3,
                  .in = {CX_IN(2, 3, 4), CX_IN(2, 1, 4), CX_IN(2, 5, 4)}},
                 {.name = "concat_last", .run = run_concat2_last, .n_in = 2,
                  .in = {CX_IN(3, 2), CX_IN(3, 5)}},
                 {.name = "concat_first", .run = run_concat2_first, .n_in = 2,
                  .in = {CX_IN(2, 3, 3), CX_IN(5, 3, 3)}},
                 {.name = "concat_one", .run = run_concat1, .n_in = 1, .in = {CX_IN(3, 4)}},
                 {.name = "concat_t", .run = run_concat_t, .n_in = 2,
                  .in = {CX_IN(4, 3), CX_IN(2, 4)}},
                 {.name = "concat_twice", .run = run_concat_twice, .n_in = 1,
                  .in = {CX_IN(3, 5)}},
                 {.name = NULL}});
