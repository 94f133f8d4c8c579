/*
 * linear.c - y = x·Wᵀ + b in one op, as torch.nn.functional.linear (the Dense layer).
 *
 * x [.., in] (the leading dims are rows), W [out, in] as torch.nn.Linear stores it, b [out]
 * or none. One sgemm with beta = 1 over rows pre-filled with b; backward is two sgemms that
 * accumulate straight into the gradient buffers (dX += G·W, dW += Gᵀ·X) and a column sum for
 * db. Doing it as matmul(x, transpose(W)) + b instead costs the gradient of the transposed
 * view, a strided add of it into W's gradient and a broadcast reduction for b: at MLP sizes
 * those passes took longer than the products themselves.
 */
#include "cortex_impl.h"

#include <string.h>

/* Rows of the flattened input: numel / in (in > 0), or 0. */
static int64_t rows_of(const cx_tensor *x) {
    int64_t in = x->shape[x->ndim - 1];
    return in > 0 ? cx__numel(x->ndim, x->shape) / in : 0;
}

static bool linear_check(const cx_tensor *x, const cx_tensor *w, const cx_tensor *b) {
    char sx[CX_SHAPE_STR_MAX], sw[CX_SHAPE_STR_MAX], sb[CX_SHAPE_STR_MAX];
    cx__shape_str(x->ndim, x->shape, sx, sizeof sx);
    cx__shape_str(w->ndim, w->shape, sw, sizeof sw);
    if (x->ndim < 1 || w->ndim != 2) {
        cx__error(CX_ERR_SHAPE, "linear: input %s and weight %s: the input needs at least 1 "
                                "dimension and the weight 2 ([out, in])", sx, sw);
        return false;
    }
    if (x->shape[x->ndim - 1] != w->shape[1]) {
        cx__error(CX_ERR_SHAPE, "linear: input %s has %lld features, weight %s expects %lld",
                  sx, (long long)x->shape[x->ndim - 1], sw, (long long)w->shape[1]);
        return false;
    }
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
        cx__shape_str(b->ndim, b->shape, sb, sizeof sb);
        cx__error(CX_ERR_SHAPE, "linear: bias %s does not match weight %s: expected [%lld]", sb,
                  sw, (long long)w->shape[0]);
        return false;
    }
    return true;
}

cx_tensor *cx_linear(cx_tensor *x, cx_tensor *weight, cx_tensor *bias) {
    if (!cx__check_f32("linear", "x", x) || !cx__check_f32("linear", "weight", weight))
        return NULL;
    if (bias && !cx__check_f32("linear", "bias", bias)) return NULL;
    if (!linear_check(x, weight, bias)) return NULL;
    /* sgemm reads x and W as dense row-major matrices; views are made contiguous (and the
     * copy records its own backward, so gradients still reach the original) */
    cx_tensor *xc = cx_contiguous(x), *wc = xc ? cx_contiguous(weight) : NULL;
    cx_tensor *bc = wc && bias ? cx_contiguous(bias) : NULL;
    if (!wc || (bias && !bc)) {
        cx_tensor_free(xc);
        cx_tensor_free(wc);
        return NULL;
    }
    int64_t in = weight->shape[1], n_out = weight->shape[0], rows = rows_of(x);
    int64_t shape[CX_MAX_DIMS];
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
    shape[x->ndim - 1] = n_out;
    cx_tensor *y = cx__tensor_empty(CX_DTYPE_F32, x->ndim, shape);
    if (y) {
        float *yd = cx__f32(y); /* (rows, out) */
        if (bc)
            for (int64_t r = 0; r < rows; r++)
                memcpy(yd + r * n_out, cx__f32(bc), (size_t)n_out * sizeof *yd);
        cx__sgemm(false, true, rows, n_out, in, 1.0f, cx__f32(xc), in, cx__f32(wc), in,
                  bc ? 1.0f : 0.0f, yd, n_out);
        y = cx__finish(y, &cx_op_linear, bc ? 3 : 2, (cx_tensor *[]){xc, wc, bc});
    }
    cx_tensor_free(xc);
    cx_tensor_free(wc);
    cx_tensor_free(bc);
    return y;
}

/* db[j] += sum over rows of G[r, j] */
CX_VECTORIZE static void column_sums(const float *g, int64_t rows, int64_t cols, float *db) {
    for (int64_t r = 0; r < rows; r++) {
        const float *row = g + r * cols;
        for (int64_t j = 0; j < cols; j++) db[j] += row[j];
    }
}

/* dX += G·W, dW += Gᵀ·X, db += column sums of G;  G (rows, out), X (rows, in), W (out, in) */
static cx_status linear_backward(cx_node *node, cx_tensor *out, const float *gout) {
    (void)out;
    cx_tensor *x = node->in[0], *w = node->in[1], *b = node->n_in > 2 ? node->in[2] : NULL;
    int64_t in = w->shape[1], n_out = w->shape[0], rows = rows_of(x);
    if (cx__needs_grad(x)) {
        bool assign;
        float *gx = cx__grad_assign(x, &assign);
        if (!gx) return cx_last_status();
        cx__sgemm(false, false, rows, in, n_out, 1.0f, gout, n_out, cx__f32(w), in,
                  assign ? 0.0f : 1.0f, gx, in);
    }
    if (cx__needs_grad(w)) {
        float *gw = cx__grad(w);
        if (!gw) return cx_last_status();
        cx__sgemm(true, false, n_out, in, rows, 1.0f, gout, n_out, cx__f32(x), in, 1.0f, gw, in);
    }
    if (b && cx__needs_grad(b)) {
        float *gb = cx__grad(b);
        if (!gb) return cx_last_status();
        column_sums(gout, rows, n_out, gb);
    }
    return CX_OK;
}

/* ---- test rows ---- */

static cx_tensor *run_linear(cx_tensor *const *x) { return cx_linear(x[0], x[1], x[2]); }
static cx_tensor *run_linear_nobias(cx_tensor *const *x) { return cx_linear(x[0], x[1], NULL); }
/* x read through a transposed view: copied, and the copy's backward reaches x */
static cx_tensor *run_linear_t(cx_tensor *const *x) {
    cx_tensor *xt = cx_transpose(x[0], 0, 1);
    cx_tensor *y = cx_linear(xt, x[1], x[2]);
    cx_tensor_free(xt);
    return y;
}

CX_OP_DEFINE(linear, .backward = linear_backward,
             .tests = (const cx_op_test[]){
                 {.name = "linear_2d", .run = run_linear, .n_in = 3,
                  .in = {CX_IN(5, 7), CX_IN(4, 7), CX_IN(4)}},
                 {.name = "linear_3d", .run = run_linear, .n_in = 3,
                  .in = {CX_IN(2, 3, 6), CX_IN(5, 6), CX_IN(5)}},
                 {.name = "linear_1d", .run = run_linear, .n_in = 3,
                  .in = {CX_IN(6), CX_IN(3, 6), CX_IN(3)}},
                 {.name = "linear_nobias", .run = run_linear_nobias, .n_in = 2,
                  .in = {CX_IN(4, 9), CX_IN(2, 9)}},
                 {.name = "linear_t", .run = run_linear_t, .n_in = 3,
                  .in = {CX_IN(7, 3), CX_IN(4, 7), CX_IN(4)}},
                 {.name = NULL}});
