/*
 * view.c - shape ops: reshape, transpose, permute and slice (views sharing the input's storage
 * where possible), contiguous and clone (copies). Semantics follow torch.reshape,
 * Tensor.transpose/permute/contiguous/clone and Python slicing (x[start:end:step]).
 *
 * A view is new shape/strides/offset over the same storage (cx__tensor_view). Its backward maps
 * gout (contiguous, the view's shape) into the input's gradient (contiguous, the input's shape)
 * through the strides the view would have over a contiguous input: permuted strides for
 * permute/transpose, step-scaled strides plus an offset for slice. Reshape, contiguous and
 * clone keep the logical element order, so their backward is an elementwise sum.
 *
 * These ops accept any dtype (reshaping labels, slicing u8 images); only f32 can carry a
 * gradient, so only f32 results ever get a node.
 */
#include "cortex_impl.h"

#include <string.h>

/* Row-major strides (elements) of a contiguous tensor of this shape. */
static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
}

/* ---- shared backward kernels ---- */

/* g[i * gs] += src[i] for i < n. */
CX_VECTORIZE
static void add_row(float *g, int64_t gs, const float *src, int64_t n) {
    if (gs == 1)
        for (int64_t i = 0; i < n; i++) g[i] += src[i];
    else
        for (int64_t i = 0; i < n; i++) g[i * gs] += src[i];
}

/* g[offset + sum_d idx[d] * stride[d]] += gout[idx] over every index idx of shape (gout is
 * contiguous). A view never maps two elements to one place, so rows can run in parallel. */
static void add_strided(float *g, int ndim, const int64_t *shape, const int64_t *stride,
                        int64_t offset, const float *gout) {
    int64_t n = cx__numel(ndim, shape);
    if (n == 0) return;
    int64_t sh[CX_MAX_DIMS], st[2][CX_MAX_DIMS];
    if (ndim) {
        memcpy(sh, shape, (size_t)ndim * sizeof *sh);
        memcpy(st[0], stride, (size_t)ndim * sizeof *sh);
    }
    contiguous_strides(ndim, shape, st[1]);
    int nd = cx__collapse_dims(ndim, sh, 2, st);
    int64_t inner = sh[nd - 1], gs = st[0][nd - 1], rows = n / inner;
    g += offset;
#pragma omp parallel for if (n > CX_PARALLEL_MIN && rows > 1)
    for (int64_t r = 0; r < rows; r++) {
        int64_t off = 0, rem = r;
        for (int d = nd - 2; d >= 0; d--) {
            off += (rem % sh[d]) * st[0][d];
            rem /= sh[d];
        }
        add_row(g + off, gs, gout + r * inner, inner);
    }
}

/* d(out)/d(x) is the identity in logical order (reshape, contiguous, clone): dx += gout. */
static cx_status same_order_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *x = node->in[0];
    if (!cx__needs_grad(x)) return CX_OK;
    bool assign;
    float *g = cx__grad_assign(x, &assign);
    if (!g) return cx_last_status();
    int64_t n = cx__numel(out->ndim, out->shape);
#pragma omp parallel for simd if (n > CX_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) g[i] = (assign ? 0.0f : g[i]) + gout[i];
    return CX_OK;
}

/* out[j_0..j_n] = x[i] with i[perm[k]] = j_k: dx[i] += gout[j] (node->i holds perm). */
static cx_status permute_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *x = node->in[0];
    if (!cx__needs_grad(x)) return CX_OK;
    float *g = cx__grad(x);
    if (!g) return cx_last_status();
    int64_t cs[CX_MAX_DIMS], st[CX_MAX_DIMS];
    contiguous_strides(x->ndim, x->shape, cs);
    for (int k = 0; k < out->ndim; k++) st[k] = cs[node->i[k]];
    add_strided(g, out->ndim, out->shape, st, 0, gout);
    return CX_OK;
}

/* out[.., j, ..] = x[.., start + j * step, ..]: dx[.., start + j * step, ..] += gout[.., j, ..]
 * (node->i = {dim, start, step}). */
static cx_status slice_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *x = node->in[0];
    if (!cx__needs_grad(x)) return CX_OK;
    float *g = cx__grad(x);
    if (!g) return cx_last_status();
    int dim = (int)node->i[0];
    int64_t st[CX_MAX_DIMS];
    contiguous_strides(x->ndim, x->shape, st);
    int64_t offset = node->i[1] * st[dim];
    st[dim] *= node->i[2];
    add_strided(g, out->ndim, out->shape, st, offset, gout);
    return CX_OK;
}

/* ---- copies ---- */

/* A contiguous copy of x recorded as op. */
static cx_tensor *copy_of(cx_tensor *x, const cx_op *op) {
    cx_tensor *out = cx__tensor_empty(x->dtype, x->ndim, x->shape);
    if (!out) return NULL;
    cx__copy_strided(x, out->storage->data);
    return cx__finish(out, op, 1, &x);
}

cx_tensor *cx_contiguous(cx_tensor *x) {
    if (!cx__check("contiguous", "x", x)) return NULL;
    if (cx__is_contiguous(x)) {
        cx__tensor_retain(x);
        return x;
    }
    return copy_of(x, &cx_op_contiguous);
}

cx_tensor *cx_clone(cx_tensor *x) {
    if (!cx__check("clone", "x", x)) return NULL;
    return copy_of(x, &cx_op_clone);
}

/* ---- reshape ---- */

/* Resolves the requested shape (one -1 inferred) against x's element count into want. */
static bool reshape_target(const cx_tensor *x, int ndim, const int64_t *shape, int64_t *want) {
    char sx[CX_SHAPE_STR_MAX], ss[CX_SHAPE_STR_MAX];
    int64_t numel = cx__numel(x->ndim, x->shape);
    cx__shape_str(x->ndim, x->shape, sx, sizeof sx);
    if (ndim < 0 || ndim > CX_MAX_DIMS) {
        cx__error(CX_ERR_ARG, "reshape: %d dimensions requested for %s; 0 to %d are supported",
                  ndim, sx, CX_MAX_DIMS);
        return false;
    }
    if (ndim > 0 && !shape) {
        cx__error(CX_ERR_ARG, "reshape: shape is NULL (ndim %d) for %s", ndim, sx);
        return false;
    }
    cx__shape_str(ndim, shape, ss, sizeof ss);
    int infer = -1;
    int64_t known = 1; /* product of the given sizes, saturated above CX_MAX_NUMEL */
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (shape[i] < 0) {
            cx__error(CX_ERR_ARG, "reshape: cannot reshape %s (%lld elements) into %s: size %lld "
                                  "at dim %d (only one -1 may be inferred, other sizes >= 0)",
                      sx, (long long)numel, ss, (long long)shape[i], i);
            return false;
        }
        want[i] = shape[i];
        if (known != 0 && shape[i] != 0)
            known = shape[i] > CX_MAX_NUMEL / known ? CX_MAX_NUMEL + 1 : known * shape[i];
        else
            known = 0;
    }
    if (infer >= 0) {
        if (known == 0) {
            cx__error(CX_ERR_SHAPE, "reshape: cannot reshape %s (%lld elements) into %s: the "
                                    "-1 is ambiguous next to a size 0",
                      sx, (long long)numel, ss);
            return false;
        }
        if (numel % known != 0) {
            cx__error(CX_ERR_SHAPE, "reshape: cannot reshape %s (%lld elements) into %s: %lld "
                                    "is not a multiple of %lld",
                      sx, (long long)numel, ss, (long long)numel, (long long)known);
            return false;
        }
        want[infer] = numel / known;
        known = numel;
    }
    if (known != numel) {
        cx__error(CX_ERR_SHAPE, "reshape: cannot reshape %s (%lld elements) into %s (%s%lld "
                                "elements)",
                  sx, (long long)numel, ss, known > CX_MAX_NUMEL ? "over " : "",
                  (long long)(known > CX_MAX_NUMEL ? CX_MAX_NUMEL : known));
        return false;
    }
    return true;
}

/* Strides that give x the shape want without moving data, if there are any (the algorithm of
 * PyTorch's computeStride): every run of x's dims that is contiguous in memory can be split
 * and merged freely; a new dim must not straddle two runs. */
static bool view_strides(const cx_tensor *x, int ndim, const int64_t *want, int64_t *stride) {
    if (cx__is_contiguous(x) || cx__numel(x->ndim, x->shape) == 0) {
        contiguous_strides(ndim, want, stride);
        return true;
    }
    int view_d = ndim - 1;
    int64_t base = x->stride[x->ndim - 1], tensor_numel = 1, view_numel = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        tensor_numel *= x->shape[d];
        /* d starts a run when the dim before it is not laid out right above it */
        if (d == 0 || (x->shape[d - 1] != 1 && x->stride[d - 1] != tensor_numel * base)) {
            while (view_d >= 0 && (view_numel < tensor_numel || want[view_d] == 1)) {
                stride[view_d] = view_numel * base;
                view_numel *= want[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (d > 0) {
                base = x->stride[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

cx_tensor *cx_reshape(cx_tensor *x, int ndim, const int64_t *shape) {
    if (!cx__check("reshape", "x", x)) return NULL;
    int64_t want[CX_MAX_DIMS], stride[CX_MAX_DIMS];
    if (!reshape_target(x, ndim, shape, want)) return NULL;
    cx_tensor *out;
    if (view_strides(x, ndim, want, stride)) {
        out = cx__tensor_view(x, ndim, want, stride, x->offset);
    } else {
        out = cx__tensor_empty(x->dtype, ndim, want);
        if (out) cx__copy_strided(x, out->storage->data);
    }
    return cx__finish(out, &cx_op_reshape, 1, &x);
}

/* ---- transpose, permute ---- */

/* The view of x with dims reordered: out dim k is x dim perm[k]. */
static cx_tensor *permuted(cx_tensor *x, const int *perm, const cx_op *op) {
    int64_t shape[CX_MAX_DIMS], stride[CX_MAX_DIMS];
    for (int k = 0; k < x->ndim; k++) {
        shape[k] = x->shape[perm[k]];
        stride[k] = x->stride[perm[k]];
    }
    cx_tensor *out = cx__tensor_view(x, x->ndim, shape, stride, x->offset);
    out = cx__finish(out, op, 1, &x);
    if (out && out->node)
        for (int k = 0; k < x->ndim; k++) out->node->i[k] = perm[k];
    return out;
}

cx_tensor *cx_transpose(cx_tensor *x, int dim0, int dim1) {
    if (!cx__check("transpose", "x", x)) return NULL;
    if (!cx__dim("transpose", &dim0, x->ndim) || !cx__dim("transpose", &dim1, x->ndim))
        return NULL;
    int perm[CX_MAX_DIMS];
    for (int k = 0; k < x->ndim; k++) perm[k] = k;
    perm[dim0] = dim1;
    perm[dim1] = dim0;
    return permuted(x, perm, &cx_op_transpose);
}

cx_tensor *cx_permute(cx_tensor *x, const int *dims) {
    if (!cx__check("permute", "x", x)) return NULL;
    char sx[CX_SHAPE_STR_MAX];
    cx__shape_str(x->ndim, x->shape, sx, sizeof sx);
    if (x->ndim > 0 && !dims) {
        cx__error(CX_ERR_ARG, "permute: dims is NULL for %s", sx);
        return NULL;
    }
    int perm[CX_MAX_DIMS];
    bool seen[CX_MAX_DIMS] = {false};
    for (int k = 0; k < x->ndim; k++) {
        int d = dims[k];
        if (!cx__dim("permute", &d, x->ndim)) return NULL;
        if (seen[d]) {
            cx__error(CX_ERR_ARG, "permute: dim %d appears twice in the dims for %s; each of "
                                  "0..%d must appear once", d, sx, x->ndim - 1);
            return NULL;
        }
        seen[d] = true;
        perm[k] = d;
    }
    return permuted(x, perm, &cx_op_permute);
}

/* ---- slice ---- */

/* A Python slice bound: negative counts from the end, then clamped into [0, size]. */
static int64_t slice_bound(int64_t v, int64_t size) {
    if (v < 0) v = v < -size ? 0 : v + size;
    return v > size ? size : v;
}

cx_tensor *cx_slice(cx_tensor *x, int dim, int64_t start, int64_t end, int64_t step) {
    if (!cx__check("slice", "x", x)) return NULL;
    if (!cx__dim("slice", &dim, x->ndim)) return NULL;
    if (step < 1) {
        char sx[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_ARG, "slice: step %lld along dim %d of %s; step must be >= 1",
                  (long long)step, dim, cx__shape_str(x->ndim, x->shape, sx, sizeof sx));
        return NULL;
    }
    int64_t size = x->shape[dim];
    start = slice_bound(start, size);
    end = slice_bound(end, size);
    int64_t len = end > start ? (end - start - 1) / step + 1 : 0;
    int64_t shape[CX_MAX_DIMS], stride[CX_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    memcpy(stride, x->stride, sizeof stride);
    shape[dim] = len;
    stride[dim] = x->stride[dim] * step;
    /* an empty slice keeps x's offset rather than pointing past the storage */
    int64_t offset = x->offset + (len ? start * x->stride[dim] : 0);
    cx_tensor *out = cx__tensor_view(x, x->ndim, shape, stride, offset);
    out = cx__finish(out, &cx_op_slice, 1, &x);
    if (out && out->node) {
        out->node->i[0] = dim;
        out->node->i[1] = start;
        out->node->i[2] = step;
    }
    return out;
}

/* ---- test rows ---- */

static cx_tensor *run_reshape_basic(cx_tensor *const *x) {
    return cx_reshape(x[0], CX_SHAPE(2, 6));
}
static cx_tensor *run_reshape_infer(cx_tensor *const *x) {
    return cx_reshape(x[0], CX_SHAPE(5, -1, 3));
}
static cx_tensor *run_reshape_flat(cx_tensor *const *x) { return cx_reshape(x[0], CX_SHAPE(-1)); }
/* A transpose cannot be flattened in place: reshape copies. */
static cx_tensor *run_reshape_copy(cx_tensor *const *x) {
    cx_tensor *t = cx_transpose(x[0], 0, 1);
    cx_tensor *y = cx_reshape(t, CX_SHAPE(-1));
    cx_tensor_free(t);
    return y;
}
/* Splitting a dim of a permuted tensor is still a view. */
static cx_tensor *run_reshape_split(cx_tensor *const *x) {
    cx_tensor *t = cx_permute(x[0], (const int[]){1, 0, 2});
    cx_tensor *y = cx_reshape(t, CX_SHAPE(3, 2, 2, 2));
    cx_tensor_free(t);
    return y;
}
static cx_tensor *run_transpose_2d(cx_tensor *const *x) { return cx_transpose(x[0], 0, 1); }
static cx_tensor *run_transpose_neg(cx_tensor *const *x) { return cx_transpose(x[0], -1, -3); }
static cx_tensor *run_transpose_mid(cx_tensor *const *x) { return cx_transpose(x[0], 1, -1); }
static cx_tensor *run_permute_3d(cx_tensor *const *x) {
    return cx_permute(x[0], (const int[]){2, 0, 1});
}
static cx_tensor *run_permute_neg(cx_tensor *const *x) {
    return cx_permute(x[0], (const int[]){-1, 1, 0, -2});
}
static cx_tensor *run_permute_of_slice(cx_tensor *const *x) {
    cx_tensor *s = cx_slice(x[0], 1, 1, 5, 2);
    cx_tensor *y = cx_permute(s, (const int[]){1, 2, 0});
    cx_tensor_free(s);
    return y;
}
static cx_tensor *run_contiguous_t(cx_tensor *const *x) {
    cx_tensor *t = cx_transpose(x[0], 0, 1);
    cx_tensor *y = cx_contiguous(t);
    cx_tensor_free(t);
    return y;
}
static cx_tensor *run_contiguous_same(cx_tensor *const *x) { return cx_contiguous(x[0]); }
static cx_tensor *run_contiguous_slice(cx_tensor *const *x) {
    cx_tensor *s = cx_slice(x[0], -1, 0, 5, 2);
    cx_tensor *y = cx_contiguous(s);
    cx_tensor_free(s);
    return y;
}
static cx_tensor *run_clone(cx_tensor *const *x) { return cx_clone(x[0]); }
static cx_tensor *run_clone_t(cx_tensor *const *x) {
    cx_tensor *t = cx_transpose(x[0], 0, 2);
    cx_tensor *y = cx_clone(t);
    cx_tensor_free(t);
    return y;
}
static cx_tensor *run_slice_step2(cx_tensor *const *x) { return cx_slice(x[0], 0, -6, 7, 2); }
static cx_tensor *run_slice_mid(cx_tensor *const *x) { return cx_slice(x[0], -2, 2, -1, 3); }
static cx_tensor *run_slice_clamp(cx_tensor *const *x) { return cx_slice(x[0], 1, -100, 100, 4); }
static cx_tensor *run_slice_of_t(cx_tensor *const *x) {
    cx_tensor *t = cx_transpose(x[0], 0, 1);
    cx_tensor *y = cx_slice(t, 1, 1, -1, 1);
    cx_tensor_free(t);
    return y;
}

CX_OP_DEFINE(reshape, .backward = same_order_backward,
             .tests = (const cx_op_test[]){
                 {.name = "reshape_basic", .run = run_reshape_basic, .n_in = 1,
                  .in = {CX_IN(3, 4)}},
                 {.name = "reshape_infer", .run = run_reshape_infer, .n_in = 1,
                  .in = {CX_IN(2, 3, 5)}},
                 {.name = "reshape_flat", .run = run_reshape_flat, .n_in = 1,
                  .in = {CX_IN(3, 1, 7)}},
                 {.name = "reshape_copy", .run = run_reshape_copy, .n_in = 1, .in = {CX_IN(5, 3)}},
                 {.name = "reshape_split", .run = run_reshape_split, .n_in = 1,
                  .in = {CX_IN(2, 3, 4)}},
                 {.name = NULL}});
CX_OP_DEFINE(transpose, .backward = permute_backward,
             .tests = (const cx_op_test[]){
                 {.name = "transpose_2d", .run = run_transpose_2d, .n_in = 1, .in = {CX_IN(3, 5)}},
                 {.name = "transpose_neg", .run = run_transpose_neg, .n_in = 1,
                  .in = {CX_IN(2, 3, 4)}},
                 {.name = "transpose_mid", .run = run_transpose_mid, .n_in = 1,
                  .in = {CX_IN(3, 5, 2, 3)}},
                 {.name = NULL}});
CX_OP_DEFINE(permute, .backward = permute_backward,
             .tests = (const cx_op_test[]){
                 {.name = "permute_3d", .run = run_permute_3d, .n_in = 1, .in = {CX_IN(2, 3, 5)}},
                 {.name = "permute_neg", .run = run_permute_neg, .n_in = 1,
                  .in = {CX_IN(2, 3, 4, 5)}},
                 {.name = "permute_of_slice", .run = run_permute_of_slice, .n_in = 1,
                  .in = {CX_IN(3, 6, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(contiguous, .backward = same_order_backward,
             .tests = (const cx_op_test[]){
                 {.name = "contiguous_t", .run = run_contiguous_t, .n_in = 1, .in = {CX_IN(3, 5)}},
                 {.name = "contiguous_same", .run = run_contiguous_same, .n_in = 1,
                  .in = {CX_IN(4, 3)}},
                 {.name = "contiguous_slice", .run = run_contiguous_slice, .n_in = 1,
                  .in = {CX_IN(2, 3, 7)}},
                 {.name = NULL}});
CX_OP_DEFINE(clone, .backward = same_order_backward,
             .tests = (const cx_op_test[]){
                 {.name = "clone_basic", .run = run_clone, .n_in = 1, .in = {CX_IN(3, 5)}},
                 {.name = "clone_t", .run = run_clone_t, .n_in = 1, .in = {CX_IN(2, 3, 4)}},
                 {.name = NULL}});
CX_OP_DEFINE(slice, .backward = slice_backward,
             .tests = (const cx_op_test[]){
                 {.name = "slice_step2", .run = run_slice_step2, .n_in = 1, .in = {CX_IN(7, 5)}},
                 {.name = "slice_mid", .run = run_slice_mid, .n_in = 1, .in = {CX_IN(3, 8, 2)}},
                 {.name = "slice_clamp", .run = run_slice_clamp, .n_in = 1, .in = {CX_IN(4, 6)}},
                 {.name = "slice_of_t", .run = run_slice_of_t, .n_in = 1, .in = {CX_IN(5, 4)}},
                 {.name = NULL}});
