/*
 * index.c - picking entries by integer index: index_select and gather, as torch.index_select
 * and torch.gather. Indices are i32 and checked one by one before use: a bad one is an error
 * naming its value and the valid range, never a read outside x.
 *
 * index_select sees x as [outer, size, inner] around dim and copies whole inner rows; gather
 * walks index in logical order and follows x's own strides, so neither copies a strided x.
 * Backward scatter-adds gout into the input gradient (indices may repeat, so it accumulates).
 * The index is the node's second input, kept for backward and never differentiated.
 */
#include "cortex_impl.h"

#include <string.h>

/* index (i32, any strides) in logical order, in a temporary; NULL + error on failure. */
static int32_t *index_values(const cx_tensor *index) {
    int64_t n = cx__numel(index->ndim, index->shape);
    int32_t *v = cx__temp_alloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (v) cx__copy_strided(index, v);
    return v;
}

static bool check_index_dtype(const char *op, const cx_tensor *index) {
    if (index->dtype == CX_DTYPE_I32) return true;
    char s[CX_SHAPE_STR_MAX];
    cx__error(CX_ERR_DTYPE, "%s: index must be i32, got %s %s", op, cx_dtype_name(index->dtype),
              cx__shape_str(index->ndim, index->shape, s, sizeof s));
    return false;
}

/* True if every idx[0..n) is in [0, size); else an error naming the first bad value. */
static bool indices_ok(const char *op, const int32_t *idx, int64_t n, int64_t size, int dim,
                       const cx_tensor *x) {
    for (int64_t j = 0; j < n; j++) {
        if (idx[j] >= 0 && idx[j] < size) continue;
        char s[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_ARG, "%s: index %lld (at position %lld of the index) is out of range "
                              "[0, %lld) for dim %d of x %s",
                  op, (long long)idx[j], (long long)j, (long long)size, dim,
                  cx__shape_str(x->ndim, x->shape, s, sizeof s));
        return false;
    }
    return true;
}

/* ---- index_select ---- */

cx_tensor *cx_index_select(cx_tensor *x, int dim, cx_tensor *index) {
    if (!cx__check_f32("index_select", "x", x) || !cx__check("index_select", "index", index))
        return NULL;
    if (!check_index_dtype("index_select", index) || !cx__dim("index_select", &dim, x->ndim))
        return NULL;
    if (index->ndim > 1) {
        char si[CX_SHAPE_STR_MAX], sx[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "index_select: index must be 1-D, got %s (x %s)",
                  cx__shape_str(index->ndim, index->shape, si, sizeof si),
                  cx__shape_str(x->ndim, x->shape, sx, sizeof sx));
        return NULL;
    }
    int64_t count = cx__numel(index->ndim, index->shape), size = x->shape[dim];
    int32_t *idx = index_values(index);
    if (!idx) return NULL;
    if (!indices_ok("index_select", idx, count, size, dim, x)) {
        cx__temp_free(idx);
        return NULL;
    }
    int64_t shape[CX_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = count;
    cx_tensor *out = cx__tensor_empty(CX_DTYPE_F32, x->ndim, shape);
    if (!out) {
        cx__temp_free(idx);
        return NULL;
    }
    /* out[o, j, i] = x[o, idx[j], i] over x as [outer, size, inner] */
    int64_t outer = cx__numel(dim, x->shape);
    int64_t inner = cx__numel(x->ndim - dim - 1, x->shape + dim + 1);
    int64_t n = outer * count * inner;
    float *o = cx__f32(out);
    const float *src = cx__f32(x);
    float *tmp = NULL;
    if (!cx__is_contiguous(x) && n > 0) {
        tmp = cx__temp_alloc((size_t)cx__numel(x->ndim, x->shape) * sizeof *tmp);
        if (!tmp) {
            cx__temp_free(idx);
            cx_tensor_free(out);
            return NULL;
        }
        cx__copy_strided(x, tmp);
        src = tmp;
    }
#pragma omp parallel for if (n > CX_PARALLEL_MIN && outer * count > 1)
    for (int64_t w = 0; w < outer * count; w++) {
        int64_t r = w / count, j = w % count;
        memcpy(o + w * inner, src + (r * size + idx[j]) * inner, (size_t)inner * sizeof *o);
    }
    cx__temp_free(tmp);
    cx__temp_free(idx);
    out = cx__finish(out, &cx_op_index_select, 2, (cx_tensor *[]){x, index});
    if (out && out->node) out->node->i[0] = dim;
    return out;
}

/* out[o, j, i] = x[o, idx[j], i]: dx[o, idx[j], i] += gout[o, j, i], summed over repeats. */
static cx_status index_select_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *x = node->in[0], *index = node->in[1];
    if (!cx__needs_grad(x)) return CX_OK;
    int dim = (int)node->i[0];
    int64_t count = out->shape[dim], size = x->shape[dim];
    int64_t outer = cx__numel(dim, x->shape);
    int64_t inner = cx__numel(x->ndim - dim - 1, x->shape + dim + 1);
    int32_t *idx = index_values(index);
    if (!idx) return cx_last_status();
    /* the index may have been written to since forward: check again rather than trust it */
    cx_status st = indices_ok("index_select backward", idx, count, size, dim, x) ? CX_OK
                                                                                : CX_ERR_ARG;
    float *g = st == CX_OK ? cx__grad(x) : NULL;
    if (st == CX_OK && !g) st = cx_last_status();
    if (st == CX_OK) {
        /* rows r are disjoint in g; within a row the j loop stays serial (repeats collide) */
#pragma omp parallel for if (outer * count * inner > CX_PARALLEL_MIN && outer > 1)
        for (int64_t r = 0; r < outer; r++)
            for (int64_t j = 0; j < count; j++) {
                float *gr = g + (r * size + idx[j]) * inner;
                const float *src = gout + (r * count + j) * inner;
                for (int64_t i = 0; i < inner; i++) gr[i] += src[i];
            }
    }
    cx__temp_free(idx);
    return st;
}

/* ---- gather ---- */

/* Walks index's shape in logical order. For element e with coordinates c (k-th in order):
 * xoff = sum_{d != dim} c[d] * xs[d] + idx[e] * xs[dim], with xs x's strides (or g's). */
typedef struct {
    int ndim, dim;
    int64_t shape[CX_MAX_DIMS]; /* index's shape */
} gather_walk;

/* Offsets (without the dim term) of the start of every innermost row of the walk, given the
 * strides xs of x (or of its gradient); inner-row element k adds k * xs[ndim - 1] unless the
 * last dim is dim itself. */
static int64_t row_offset(const gather_walk *w, const int64_t *xs, int64_t row) {
    int64_t off = 0;
    for (int d = w->ndim - 2; d >= 0; d--) {
        int64_t c = row % w->shape[d];
        row /= w->shape[d];
        if (d != w->dim) off += c * xs[d];
    }
    return off;
}

cx_tensor *cx_gather(cx_tensor *x, int dim, cx_tensor *index) {
    if (!cx__check_f32("gather", "x", x) || !cx__check("gather", "index", index)) return NULL;
    if (!check_index_dtype("gather", index) || !cx__dim("gather", &dim, x->ndim)) return NULL;
    bool fits = index->ndim == x->ndim;
    for (int d = 0; fits && d < x->ndim; d++) fits = d == dim || index->shape[d] <= x->shape[d];
    if (!fits) {
        char si[CX_SHAPE_STR_MAX], sx[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "gather: index %s does not fit x %s along dim %d: it needs as "
                                "many dims as x, each but dim %d at most x's size",
                  cx__shape_str(index->ndim, index->shape, si, sizeof si),
                  cx__shape_str(x->ndim, x->shape, sx, sizeof sx), dim, dim);
        return NULL;
    }
    cx_tensor *out = cx__tensor_empty(CX_DTYPE_F32, index->ndim, index->shape);
    if (!out) return NULL;
    int32_t *idx = index_values(index);
    if (!idx) {
        cx_tensor_free(out);
        return NULL;
    }
    int64_t n = cx__numel(index->ndim, index->shape);
    if (!indices_ok("gather", idx, n, x->shape[dim], dim, x)) {
        cx__temp_free(idx);
        cx_tensor_free(out);
        return NULL;
    }
    gather_walk w = {.ndim = x->ndim, .dim = dim};
    memcpy(w.shape, index->shape, sizeof w.shape);
    int64_t inner = n ? index->shape[x->ndim - 1] : 0, rows = inner ? n / inner : 0;
    int64_t ks = dim == x->ndim - 1 ? 0 : x->stride[x->ndim - 1], ds = x->stride[dim];
    const float *src = cx__f32(x);
    float *o = cx__f32(out);
#pragma omp parallel for if (n > CX_PARALLEL_MIN && rows > 1)
    for (int64_t r = 0; r < rows; r++) {
        int64_t base = row_offset(&w, x->stride, r);
        for (int64_t k = 0; k < inner; k++) {
            int64_t e = r * inner + k;
            o[e] = src[base + k * ks + idx[e] * ds];
        }
    }
    cx__temp_free(idx);
    out = cx__finish(out, &cx_op_gather, 2, (cx_tensor *[]){x, index});
    if (out && out->node) out->node->i[0] = dim;
    return out;
}

/* out[c] = x[c with c[dim] := idx[c]]: dx[c with c[dim] := idx[c]] += gout[c]. */
static cx_status gather_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *x = node->in[0], *index = node->in[1];
    if (!cx__needs_grad(x)) return CX_OK;
    int dim = (int)node->i[0];
    int32_t *idx = index_values(index);
    if (!idx) return cx_last_status();
    int64_t n = cx__numel(out->ndim, out->shape), size = x->shape[dim];
    cx_status st = indices_ok("gather backward", idx, n, size, dim, x) ? CX_OK : CX_ERR_ARG;
    float *g = st == CX_OK ? cx__grad(x) : NULL;
    if (st == CX_OK && !g) st = cx_last_status();
    if (st == CX_OK && n > 0) {
        gather_walk w = {.ndim = x->ndim, .dim = dim};
        memcpy(w.shape, out->shape, sizeof w.shape);
        int64_t gs[CX_MAX_DIMS], s = 1;
        for (int d = x->ndim - 1; d >= 0; d--) {
            gs[d] = s;
            s *= x->shape[d];
        }
        int64_t inner = out->shape[x->ndim - 1], rows = n / inner;
        int64_t ks = dim == x->ndim - 1 ? 0 : 1, ds = gs[dim];
        for (int64_t r = 0; r < rows; r++) {
            int64_t base = row_offset(&w, gs, r);
            for (int64_t k = 0; k < inner; k++) {
                int64_t e = r * inner + k;
                g[base + k * ks + idx[e] * ds] += gout[e];
            }
        }
    }
    cx__temp_free(idx);
    return st;
}

/* ---- test rows ---- */

static cx_tensor *run_index_select0(cx_tensor *const *x) { return cx_index_select(x[0], 0, x[1]); }
static cx_tensor *run_index_select_neg(cx_tensor *const *x) {
    return cx_index_select(x[0], -2, x[1]);
}
static cx_tensor *run_index_select1(cx_tensor *const *x) { return cx_index_select(x[0], 1, x[1]); }
/* x arrives transposed: [4,3] seen as [3,4]. */
static cx_tensor *run_index_select_t(cx_tensor *const *x) {
    cx_tensor *t = cx_transpose(x[0], 0, 1);
    cx_tensor *y = cx_index_select(t, 1, x[1]);
    cx_tensor_free(t);
    return y;
}
static cx_tensor *run_gather0(cx_tensor *const *x) { return cx_gather(x[0], 0, x[1]); }
static cx_tensor *run_gather1(cx_tensor *const *x) { return cx_gather(x[0], 1, x[1]); }
static cx_tensor *run_gather_neg(cx_tensor *const *x) { return cx_gather(x[0], -1, x[1]); }
static cx_tensor *run_gather_t(cx_tensor *const *x) {
    cx_tensor *t = cx_transpose(x[0], 0, 1);
    cx_tensor *y = cx_gather(t, 0, x[1]);
    cx_tensor_free(t);
    return y;
}

CX_OP_DEFINE(index_select, .backward = index_select_backward,
             .tests = (const cx_op_test[]){
                 /* 7 indices into 5 rows: some repeat */
                 {.name = "index_select_rep", .run = run_index_select0, .n_in = 2,
                  .in = {CX_IN(5, 3), CX_IN_INT(0, 5, 7)}},
                 {.name = "index_select_neg", .run = run_index_select_neg, .n_in = 2,
                  .in = {CX_IN(2, 6, 3), CX_IN_INT(0, 6, 4)}},
                 {.name = "index_select_last", .run = run_index_select1, .n_in = 2,
                  .in = {CX_IN(3, 4), CX_IN_INT(0, 4, 9)}},
                 {.name = "index_select_t", .run = run_index_select_t, .n_in = 2,
                  .in = {CX_IN(4, 3), CX_IN_INT(0, 4, 5)}},
                 {.name = NULL}});
CX_OP_DEFINE(gather, .backward = gather_backward,
             .tests = (const cx_op_test[]){
                 {.name = "gather_dim0", .run = run_gather0, .n_in = 2,
                  .in = {CX_IN(4, 3), CX_IN_INT(0, 4, 5, 3)}},
                 {.name = "gather_dim1", .run = run_gather1, .n_in = 2,
                  .in = {CX_IN(2, 5, 3), CX_IN_INT(0, 5, 2, 7, 2)}},
                 {.name = "gather_neg", .run = run_gather_neg, .n_in = 2,
                  .in = {CX_IN(3, 5), CX_IN_INT(0, 5, 2, 6)}},
                 {.name = "gather_t", .run = run_gather_t, .n_in = 2,
                  .in = {CX_IN(4, 3), CX_IN_INT(0, 3, 2, 4)}},
                 {.name = NULL}});
