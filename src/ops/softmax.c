/*
 * softmax.c - softmax and log-softmax along any dim, computed stably: the slice's maximum is
 * subtracted before exponentiating, so large logits do not overflow.
 *
 * x is seen as [O, R, I] with R the softmax dim. I = 1 (the last dim, the common case) runs
 * one contiguous row at a time; otherwise blocks of up to COLS adjacent columns are processed
 * together so that the inner loops still run over contiguous memory. A slice containing NaN
 * or +inf gives NaN, and one that is all -inf gives NaN, as in PyTorch.
 */
#include "cortex_impl.h"

#include "backend/cpu/vmath.h" /* cx__vexp */

#include <math.h>

enum { COLS = 64 };

/* y[0..n) = softmax(x[0..n)), or log_softmax if log_out. */
CX_VECTORIZE
static void softmax_row(const float *x, int64_t n, bool log_out, float *y) {
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int64_t i = 0; i < n; i++) y[i] = cx__vexp(x[i] - m);
    /* Summed in a loop of its own: GCC vectorises neither loop if they are fused. */
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += y[i];
    if (log_out) {
        float ls = (float)log(s);
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m) - ls;
    } else {
        float inv = (float)(1.0 / s);
        for (int64_t i = 0; i < n; i++) y[i] *= inv;
    }
}

/* As softmax_row for len columns at once: slice j is x[r * stride + j], r < rows. */
CX_VECTORIZE
static void softmax_block(const float *x, int64_t rows, int64_t stride, int64_t len,
                          bool log_out, float *y) {
    float m[COLS];
    double s[COLS];
    for (int64_t j = 0; j < len; j++) {
        m[j] = -INFINITY;
        s[j] = 0.0;
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * stride;
        for (int64_t j = 0; j < len; j++) m[j] = xr[j] > m[j] ? xr[j] : m[j];
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * stride;
        float *yr = y + r * stride;
        for (int64_t j = 0; j < len; j++) yr[j] = cx__vexp(xr[j] - m[j]);
        for (int64_t j = 0; j < len; j++) s[j] += yr[j];
    }
    float f[COLS]; /* log of the sum, or its inverse */
    for (int64_t j = 0; j < len; j++) f[j] = (float)(log_out ? log(s[j]) : 1.0 / s[j]);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * stride;
        float *yr = y + r * stride;
        if (log_out)
            for (int64_t j = 0; j < len; j++) yr[j] = (xr[j] - m[j]) - f[j];
        else
            for (int64_t j = 0; j < len; j++) yr[j] *= f[j];
    }
}

/* Row form of the backward rules (see softmax_backward), adding into gx. */
CX_VECTORIZE
static void softmax_grad_row(const float *y, const float *g, int64_t n, bool log_out,
                             float *gx) {
    double acc = 0.0;
    if (log_out) {
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n; i++) acc += g[i];
        float sg = (float)acc;
        for (int64_t i = 0; i < n; i++) gx[i] += g[i] - cx__vexp(y[i]) * sg;
    } else {
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n; i++) acc += (double)g[i] * y[i];
        float dot = (float)acc;
        for (int64_t i = 0; i < n; i++) gx[i] += y[i] * (g[i] - dot);
    }
}

/* Column-block form of softmax_grad_row. */
CX_VECTORIZE
static void softmax_grad_block(const float *y, const float *g, int64_t rows, int64_t stride,
                               int64_t len, bool log_out, float *gx) {
    float acc[COLS];
    for (int64_t j = 0; j < len; j++) acc[j] = 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < len; j++) {
            int64_t k = r * stride + j;
            acc[j] += log_out ? g[k] : g[k] * y[k];
        }
    }
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < len; j++) {
            int64_t k = r * stride + j;
            gx[k] += log_out ? g[k] - cx__vexp(y[k]) * acc[j] : y[k] * (g[k] - acc[j]);
        }
    }
}

/* x's logical shape as [outer, shape[dim], inner]. */
static void split_at(const cx_tensor *x, int dim, int64_t *outer, int64_t *red, int64_t *inner) {
    *outer = *red = *inner = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (d < dim) *outer *= x->shape[d];
        else if (d == dim) *red = x->shape[d];
        else *inner *= x->shape[d];
    }
}

static cx_tensor *softmax_common(const char *name, const cx_op *op, cx_tensor *x, int dim,
                                 bool log_out) {
    if (!cx__check_f32(name, "x", x) || !cx__dim(name, &dim, x->ndim ? x->ndim : 1)) return NULL;
    int64_t n = cx__numel(x->ndim, x->shape), outer, red, inner;
    split_at(x, dim, &outer, &red, &inner);
    const float *src = cx__f32(x);
    float *tmp = NULL; /* contiguous copy of a strided x */
    if (!cx__is_contiguous(x)) {
        if (!(tmp = cx__temp_alloc((size_t)n * sizeof *tmp))) return NULL;
        cx__copy_strided(x, tmp);
        src = tmp;
    }
    cx_tensor *out = cx__tensor_empty(CX_DTYPE_F32, x->ndim, x->shape);
    if (!out) {
        cx__temp_free(tmp);
        return NULL;
    }
    float *y = cx__f32(out);
    if (inner == 1) {
#pragma omp parallel for if (n > CX_PARALLEL_MIN && outer > 1)
        for (int64_t o = 0; o < outer; o++) softmax_row(src + o * red, red, log_out, y + o * red);
    } else {
        int64_t blocks = (inner + COLS - 1) / COLS;
#pragma omp parallel for if (n > CX_PARALLEL_MIN && outer * blocks > 1)
        for (int64_t w = 0; w < outer * blocks; w++) {
            int64_t o = w / blocks, j0 = w % blocks * COLS;
            int64_t len = inner - j0 < COLS ? inner - j0 : COLS, k = o * red * inner + j0;
            softmax_block(src + k, red, inner, len, log_out, y + k);
        }
    }
    cx__temp_free(tmp);
    out = cx__finish(out, op, 1, &x);
    if (out && out->node) out->node->i[0] = dim;
    return out;
}

cx_tensor *cx_softmax(cx_tensor *x, int dim) {
    return softmax_common("softmax", &cx_op_softmax, x, dim, false);
}

cx_tensor *cx_log_softmax(cx_tensor *x, int dim) {
    return softmax_common("log_softmax", &cx_op_log_softmax, x, dim, true);
}

/* softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g), sums over dim. */
static cx_status backward_common(cx_node *node, cx_tensor *out, const float *gout,
                                 bool log_out) {
    cx_tensor *x = node->in[0];
    if (!cx__needs_grad(x)) return CX_OK;
    float *gx = cx__grad(x);
    if (!gx) return cx_last_status();
    int64_t n = cx__numel(x->ndim, x->shape), outer, red, inner;
    split_at(x, (int)node->i[0], &outer, &red, &inner);
    const float *y = cx__f32(out);
    if (inner == 1) {
#pragma omp parallel for if (n > CX_PARALLEL_MIN && outer > 1)
        for (int64_t o = 0; o < outer; o++)
            softmax_grad_row(y + o * red, gout + o * red, red, log_out, gx + o * red);
    } else {
        int64_t blocks = (inner + COLS - 1) / COLS;
#pragma omp parallel for if (n > CX_PARALLEL_MIN && outer * blocks > 1)
        for (int64_t w = 0; w < outer * blocks; w++) {
            int64_t o = w / blocks, j0 = w % blocks * COLS;
            int64_t len = inner - j0 < COLS ? inner - j0 : COLS, k = o * red * inner + j0;
            softmax_grad_block(y + k, gout + k, red, inner, len, log_out, gx + k);
        }
    }
    return CX_OK;
}

static cx_status softmax_backward(cx_node *node, cx_tensor *out, const float *gout) {
    return backward_common(node, out, gout, false);
}

static cx_status log_softmax_backward(cx_node *node, cx_tensor *out, const float *gout) {
    return backward_common(node, out, gout, true);
}

/* ---- test rows: last, middle and first dim, 1-D, large logits, many columns ---- */

static cx_tensor *run_softmax_last(cx_tensor *const *x) { return cx_softmax(x[0], -1); }
static cx_tensor *run_softmax_mid(cx_tensor *const *x) { return cx_softmax(x[0], 1); }
static cx_tensor *run_softmax_first(cx_tensor *const *x) { return cx_softmax(x[0], 0); }
static cx_tensor *run_softmax_neg(cx_tensor *const *x) { return cx_softmax(x[0], -3); }
static cx_tensor *run_log_softmax_last(cx_tensor *const *x) { return cx_log_softmax(x[0], -1); }
static cx_tensor *run_log_softmax_mid(cx_tensor *const *x) { return cx_log_softmax(x[0], 1); }
static cx_tensor *run_log_softmax_first(cx_tensor *const *x) { return cx_log_softmax(x[0], 0); }
static cx_tensor *run_log_softmax_neg(cx_tensor *const *x) { return cx_log_softmax(x[0], -3); }

#define SOFTMAX_TESTS(op)                                                                      \
    (const cx_op_test[]) {                                                                     \
        {.name = #op "_last", .run = run_##op##_last, .n_in = 1,                               \
         .in = {CX_IN_RANGE(-3.0f, 3.0f, 4, 7)}},                                             \
        {.name = #op "_mid", .run = run_##op##_mid, .n_in = 1,                                 \
         .in = {CX_IN_RANGE(-3.0f, 3.0f, 3, 5, 4)}},                                          \
        {.name = #op "_first", .run = run_##op##_first, .n_in = 1,                             \
         .in = {CX_IN_RANGE(-3.0f, 3.0f, 5, 3)}},                                             \
        {.name = #op "_neg", .run = run_##op##_neg, .n_in = 1,                                 \
         .in = {CX_IN_RANGE(-3.0f, 3.0f, 2, 3, 2, 3)}},                                       \
        {.name = #op "_vec", .run = run_##op##_first, .n_in = 1, .in = {CX_IN(9)}},            \
        {.name = #op "_large", .run = run_##op##_last, .n_in = 1,                              \
         .in = {CX_IN_RANGE(50.0f, 60.0f, 3, 5)}},                                            \
        {.name = #op "_wide", .run = run_##op##_first, .n_in = 1, /* 3 column blocks */        \
         .in = {CX_IN_RANGE(-3.0f, 3.0f, 3, 2, 70)}},                                         \
        {.name = NULL}                                                                         \
    }

CX_OP_DEFINE(softmax, .backward = softmax_backward, .tests = SOFTMAX_TESTS(softmax));
CX_OP_DEFINE(log_softmax, .backward = log_softmax_backward, .tests = SOFTMAX_TESTS(log_softmax));
