/*
 * binary.c - elementwise binary ops with broadcasting: add, sub, mul, div, pow.
 *
 * Forward walks the broadcast output with each input's own strides (0 along broadcast dims),
 * so transposed or sliced inputs need no copy. Backward forms the full-size gradient and sums
 * it over the dimensions each input was broadcast along (cx__reduce_broadcast_add).
 */
#include "cortex_impl.h"

#include <math.h>
#include <string.h>

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_POW } binop;

#define BIN_CASES(EXPR)                                                                        \
    if (sa == 1 && sb == 1)                                                                    \
        for (int64_t i = 0; i < n; i++) { float x = a[i], y = b[i]; out[i] = (EXPR); }         \
    else if (sa == 1 && sb == 0)                                                               \
        for (int64_t i = 0; i < n; i++) { float x = a[i], y = b[0]; out[i] = (EXPR); }         \
    else if (sa == 0 && sb == 1)                                                               \
        for (int64_t i = 0; i < n; i++) { float x = a[0], y = b[i]; out[i] = (EXPR); }         \
    else                                                                                       \
        for (int64_t i = 0; i < n; i++) { float x = a[i * sa], y = b[i * sb]; out[i] = (EXPR); }

/* out[0..n) = a[i*sa] op b[i*sb], the innermost loop of every binary op. */
CX_VECTORIZE
static void binary_row(binop op, int64_t n, const float *a, int64_t sa, const float *b,
                       int64_t sb, float *out) {
    switch (op) {
    case BIN_ADD: BIN_CASES(x + y); break;
    case BIN_SUB: BIN_CASES(x - y); break;
    case BIN_MUL: BIN_CASES(x * y); break;
    case BIN_DIV: BIN_CASES(x / y); break;
    case BIN_POW: BIN_CASES(powf(x, y)); break;
    }
}

/* out (contiguous, shape) = a op b with a, b given by data pointers and broadcast strides. */
static void binary_apply(binop op, int ndim, const int64_t *shape, const float *a,
                         const int64_t *stride_a, const float *b, const int64_t *stride_b,
                         float *out) {
    int64_t n = cx__numel(ndim, shape);
    if (n == 0) return;
    int64_t sh[CX_MAX_DIMS], st[3][CX_MAX_DIMS];
    memcpy(sh, shape, (size_t)ndim * sizeof *sh);
    memcpy(st[0], stride_a, (size_t)ndim * sizeof *sh);
    memcpy(st[1], stride_b, (size_t)ndim * sizeof *sh);
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        st[2][i] = s;
        s *= shape[i];
    }
    int nd = cx__collapse_dims(ndim, sh, 3, st);
    /* Work items are (row, chunk of the row), so one long row is still split across threads. */
    enum { CHUNK = 16384 };
    int64_t inner = sh[nd - 1], rows = n / inner, chunks = (inner + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (n > CX_PARALLEL_MIN && rows * chunks > 1)
    for (int64_t w = 0; w < rows * chunks; w++) {
        int64_t r = w / chunks, c0 = (w % chunks) * CHUNK;
        int64_t len = inner - c0 < CHUNK ? inner - c0 : CHUNK;
        int64_t oa = c0 * st[0][nd - 1], ob = c0 * st[1][nd - 1], rem = r;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t i = rem % sh[d];
            rem /= sh[d];
            oa += i * st[0][d];
            ob += i * st[1][d];
        }
        binary_row(op, len, a + oa, st[0][nd - 1], b + ob, st[1][nd - 1], out + r * inner + c0);
    }
}

static cx_tensor *binary(const char *name, const cx_op *op_desc, binop op, cx_tensor *a,
                         cx_tensor *b) {
    if (!cx__check_f32(name, "a", a) || !cx__check_f32(name, "b", b)) return NULL;
    int nd;
    int64_t shape[CX_MAX_DIMS], sa[CX_MAX_DIMS], sb[CX_MAX_DIMS];
    if (!cx__broadcast_shape(name, a, b, &nd, shape)) return NULL;
    cx_tensor *out = cx__tensor_empty(CX_DTYPE_F32, nd, shape);
    if (!out) return NULL;
    cx__broadcast_strides(a, nd, shape, sa);
    cx__broadcast_strides(b, nd, shape, sb);
    binary_apply(op, nd, shape, cx__f32(a), sa, cx__f32(b), sb, cx__f32(out));
    return cx__finish(out, op_desc, 2, (cx_tensor *[]){a, b});
}

cx_tensor *cx_add(cx_tensor *a, cx_tensor *b) { return binary("add", &cx_op_add, BIN_ADD, a, b); }
cx_tensor *cx_sub(cx_tensor *a, cx_tensor *b) { return binary("sub", &cx_op_sub, BIN_SUB, a, b); }
cx_tensor *cx_mul(cx_tensor *a, cx_tensor *b) { return binary("mul", &cx_op_mul, BIN_MUL, a, b); }
cx_tensor *cx_div(cx_tensor *a, cx_tensor *b) { return binary("div", &cx_op_div, BIN_DIV, a, b); }
cx_tensor *cx_pow(cx_tensor *a, cx_tensor *b) { return binary("pow", &cx_op_pow, BIN_POW, a, b); }

/* ---- backward ---- */

/* x expanded to out's shape as a contiguous temporary. */
static float *expand(const cx_tensor *x, const cx_tensor *out) {
    int64_t n = cx__numel(out->ndim, out->shape);
    float *buf = cx__temp_alloc((size_t)n * sizeof *buf);
    if (!buf) return NULL;
    int64_t sx[CX_MAX_DIMS], zero[CX_MAX_DIMS] = {0};
    static const float zerof = 0.0f;
    cx__broadcast_strides(x, out->ndim, out->shape, sx);
    binary_apply(BIN_ADD, out->ndim, out->shape, cx__f32(x), sx, &zerof, zero, buf);
    return buf;
}

/* Adds g (out's shape) into t's gradient, reduced over broadcast dims. */
static cx_status accumulate(cx_tensor *t, const float *g, const cx_tensor *out) {
    float *grad = cx__grad(t);
    if (!grad) return cx_last_status();
    cx__reduce_broadcast_add(g, out->ndim, out->shape, grad, t->ndim, t->shape);
    return CX_OK;
}

/* True if t is contiguous with out's shape (no broadcasting, no strides). */
static bool same_layout(const cx_tensor *t, const cx_tensor *out) {
    if (t->ndim != out->ndim || !cx__is_contiguous(t)) return false;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != out->shape[i]) return false;
    return true;
}

/* grad(t) (+)= gout * other, threaded: the product of same-shaped contiguous tensors (a
 * dropout mask, a gate), without the temporaries of the general path. */
static cx_status mul_same_layout(cx_tensor *t, cx_tensor *other, const float *gout, int64_t n) {
    bool assign;
    float *g = cx__grad_assign(t, &assign);
    if (!g) return cx_last_status();
    const float *o = cx__f32(other);
#pragma omp parallel for simd if (n > CX_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) g[i] = (assign ? 0.0f : g[i]) + gout[i] * o[i];
    return CX_OK;
}

/* d/da and d/db of out = a op b, given gout; ga/gb written over the expanded a/b buffers. */
static cx_status binary_backward(binop op, cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *a = node->in[0], *b = node->in[1];
    int64_t n = cx__numel(out->ndim, out->shape);
    if (op == BIN_MUL && a != b && same_layout(a, out) && same_layout(b, out)) {
        cx_status st = cx__needs_grad(a) ? mul_same_layout(a, b, gout, n) : CX_OK;
        if (st == CX_OK && cx__needs_grad(b)) st = mul_same_layout(b, a, gout, n);
        return st;
    }
    if (op == BIN_ADD || op == BIN_SUB) {
        cx_status st = CX_OK;
        if (cx__needs_grad(a)) st = accumulate(a, gout, out);
        if (st != CX_OK || !cx__needs_grad(b)) return st;
        if (op == BIN_ADD) return accumulate(b, gout, out);
        float *neg = cx__temp_alloc((size_t)n * sizeof *neg);
        if (!neg) return cx_last_status();
        for (int64_t i = 0; i < n; i++) neg[i] = -gout[i];
        st = accumulate(b, neg, out);
        cx__temp_free(neg);
        return st;
    }
    float *ea = expand(a, out), *eb = expand(b, out);
    const float *o = cx__f32(out);
    cx_status st = (ea && eb) ? CX_OK : cx_last_status();
    if (st == CX_OK && cx__needs_grad(a)) {
        float *g = cx__temp_alloc((size_t)n * sizeof *g);
        if (!g) st = cx_last_status();
        for (int64_t i = 0; g && i < n; i++) {
            switch (op) {
            case BIN_MUL: g[i] = gout[i] * eb[i]; break; /* d(ab)/da = b */
            case BIN_DIV: g[i] = gout[i] / eb[i]; break; /* d(a/b)/da = 1/b */
            default: /* d(a^b)/da = b a^(b-1) */
                g[i] = eb[i] == 0.0f ? 0.0f : gout[i] * eb[i] * powf(ea[i], eb[i] - 1.0f);
            }
        }
        if (g) st = accumulate(a, g, out);
        cx__temp_free(g);
    }
    if (st == CX_OK && cx__needs_grad(b)) {
        float *g = cx__temp_alloc((size_t)n * sizeof *g);
        if (!g) st = cx_last_status();
        for (int64_t i = 0; g && i < n; i++) {
            switch (op) {
            case BIN_MUL: g[i] = gout[i] * ea[i]; break;                   /* d(ab)/db = a */
            case BIN_DIV: g[i] = -gout[i] * ea[i] / (eb[i] * eb[i]); break; /* -a/b^2 */
            default: /* d(a^b)/db = a^b ln a, taken as 0 where a = 0 (as PyTorch) */
                g[i] = ea[i] == 0.0f ? 0.0f : gout[i] * o[i] * logf(ea[i]);
            }
        }
        if (g) st = accumulate(b, g, out);
        cx__temp_free(g);
    }
    cx__temp_free(eb);
    cx__temp_free(ea);
    return st;
}

static cx_status add_backward(cx_node *n, cx_tensor *o, const float *g) {
    return binary_backward(BIN_ADD, n, o, g);
}
static cx_status sub_backward(cx_node *n, cx_tensor *o, const float *g) {
    return binary_backward(BIN_SUB, n, o, g);
}
static cx_status mul_backward(cx_node *n, cx_tensor *o, const float *g) {
    return binary_backward(BIN_MUL, n, o, g);
}
static cx_status div_backward(cx_node *n, cx_tensor *o, const float *g) {
    return binary_backward(BIN_DIV, n, o, g);
}
static cx_status pow_backward(cx_node *n, cx_tensor *o, const float *g) {
    return binary_backward(BIN_POW, n, o, g);
}

/* ---- test rows: same shapes, broadcasting both ways, scalars ---- */

static cx_tensor *run_add(cx_tensor *const *x) { return cx_add(x[0], x[1]); }
static cx_tensor *run_sub(cx_tensor *const *x) { return cx_sub(x[0], x[1]); }
static cx_tensor *run_mul(cx_tensor *const *x) { return cx_mul(x[0], x[1]); }
static cx_tensor *run_div(cx_tensor *const *x) { return cx_div(x[0], x[1]); }
static cx_tensor *run_pow(cx_tensor *const *x) { return cx_pow(x[0], x[1]); }

#define BIN_TESTS(op)                                                                          \
    (const cx_op_test[]) {                                                                     \
        {.name = #op "_same", .run = run_##op, .n_in = 2, .in = {CX_IN(3, 4), CX_IN(3, 4)}},   \
        {.name = #op "_bcast", .run = run_##op, .n_in = 2, .in = {CX_IN(2, 3, 4), CX_IN(3, 1)}}, \
        {.name = #op "_bcast2", .run = run_##op, .n_in = 2, .in = {CX_IN(4, 1, 5), CX_IN(3, 1)}}, \
        {.name = #op "_0d", .run = run_##op, .n_in = 2, .in = {CX_IN(5), CX_IN(0)}},       \
        {.name = NULL}                                                                         \
    }

CX_OP_DEFINE(add, .backward = add_backward, .tests = BIN_TESTS(add));
CX_OP_DEFINE(sub, .backward = sub_backward, .tests = BIN_TESTS(sub));
CX_OP_DEFINE(mul, .backward = mul_backward, .tests = BIN_TESTS(mul));
CX_OP_DEFINE(div, .backward = div_backward,
             .tests = (const cx_op_test[]){
                 {.name = "div_same", .run = run_div, .n_in = 2,
                  .in = {CX_IN(3, 4), CX_IN_RANGE(0.5f, 2.0f, 3, 4)}},
                 {.name = "div_bcast", .run = run_div, .n_in = 2,
                  .in = {CX_IN(2, 3, 4), CX_IN_RANGE(0.5f, 2.0f, 3, 1)}},
                 {.name = NULL}});
CX_OP_DEFINE(pow, .backward = pow_backward,
             .tests = (const cx_op_test[]){
                 {.name = "pow_same", .run = run_pow, .n_in = 2,
                  .in = {CX_IN_RANGE(0.5f, 2.0f, 3, 4), CX_IN(3, 4)}},
                 {.name = "pow_bcast", .run = run_pow, .n_in = 2,
                  .in = {CX_IN_RANGE(0.5f, 2.0f, 2, 3, 4), CX_IN(4)}},
                 {.name = NULL}});
