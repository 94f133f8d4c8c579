/*
 * unary.c - elementwise math on one tensor: neg, exp, log, sqrt, abs, clamp and the ops with a
 * scalar operand (add/sub/rsub/mul/div/pow_scalar), plus the elementwise driver they share
 * with activation.c (see unary_impl.h).
 *
 * Each op is a forward kernel and a backward kernel defined from one expression. The driver
 * reads strided inputs row by row (gathering strided rows into a small buffer so kernels only
 * see contiguous floats), writes a contiguous output, and splits large tensors across threads.
 * Derivatives follow PyTorch, including its choices at kinks (abs'(0) = 0, clamp passes the
 * gradient where lo <= x <= hi, pow_scalar with p = 0 has gradient 0).
 */
#include "ops/unary_impl.h"

#include <math.h>
#include <string.h>

/* Floats per work item: big enough to hide the per-call cost, small enough to sit on the stack
 * as the gather buffer of a strided row. */
enum { CHUNK = 2048 };

/* y (contiguous, x's shape) = f(x) for x with any strides. */
static void unary_apply(cx__unary_fwd_fn f, const cx_tensor *x, float *y, const float *p) {
    int64_t n = cx__numel(x->ndim, x->shape);
    if (n == 0) return;
    const float *xd = cx__f32(x);
    if (cx__is_contiguous(x)) {
        int64_t chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (n > CX_PARALLEL_MIN)
        for (int64_t c = 0; c < chunks; c++) {
            int64_t i = c * CHUNK, len = n - i < CHUNK ? n - i : CHUNK;
            f(len, xd + i, y + i, p);
        }
        return;
    }
    int64_t sh[CX_MAX_DIMS], st[2][CX_MAX_DIMS];
    memcpy(sh, x->shape, (size_t)x->ndim * sizeof *sh);
    memcpy(st[0], x->stride, (size_t)x->ndim * sizeof *sh);
    int64_t s = 1;
    for (int i = x->ndim - 1; i >= 0; i--) {
        st[1][i] = s;
        s *= x->shape[i];
    }
    int nd = cx__collapse_dims(x->ndim, sh, 2, st);
    /* Work items are (row, chunk of the row), so one long row is still split across threads. */
    int64_t inner = sh[nd - 1], rows = n / inner, chunks = (inner + CHUNK - 1) / CHUNK;
    int64_t step = st[0][nd - 1];
#pragma omp parallel for if (n > CX_PARALLEL_MIN && rows * chunks > 1)
    for (int64_t w = 0; w < rows * chunks; w++) {
        int64_t r = w / chunks, c0 = (w % chunks) * CHUNK;
        int64_t len = inner - c0 < CHUNK ? inner - c0 : CHUNK;
        int64_t off = c0 * step, rem = r;
        for (int d = nd - 2; d >= 0; d--) {
            off += (rem % sh[d]) * st[0][d];
            rem /= sh[d];
        }
        const float *src = xd + off;
        float *dst = y + r * inner + c0;
        if (step == 1) {
            f(len, src, dst, p);
        } else {
            float buf[CHUNK];
            for (int64_t i = 0; i < len; i++) buf[i] = src[i * step];
            f(len, buf, dst, p);
        }
    }
}

cx_tensor *cx__unary(const char *op_name, const cx_op *op, cx_tensor *x, cx__unary_fwd_fn f,
                     const float *p, int n_p) {
    if (!cx__check_f32(op_name, "x", x)) return NULL;
    CX_ASSERT(n_p >= 0 && n_p <= 4);
    cx_tensor *y = cx__tensor_empty(CX_DTYPE_F32, x->ndim, x->shape);
    if (!y) return NULL;
    unary_apply(f, x, cx__f32(y), p);
    y = cx__finish(y, op, 1, &x);
    if (y && y->node && n_p > 0) memcpy(y->node->f, p, (size_t)n_p * sizeof *p);
    return y;
}

cx_status cx__unary_backward(cx_node *node, cx_tensor *out, const float *gout,
                             cx__unary_bwd_fn df) {
    cx_tensor *x = node->in[0];
    int64_t n = cx__numel(out->ndim, out->shape);
    if (!cx__needs_grad(x) || n == 0) return CX_OK;
    bool assign;
    float *gx = cx__grad_assign(x, &assign); /* (x's shape), contiguous */
    if (!gx) return cx_last_status();
    const float *xs = cx__f32(x), *ys = cx__f32(out);
    float *copy = NULL;
    if (!cx__is_contiguous(x)) {
        copy = cx__temp_alloc((size_t)n * sizeof *copy);
        if (!copy) return cx_last_status();
        cx__copy_strided(x, copy);
        xs = copy;
    }
    const float *p = node->f;
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (n > CX_PARALLEL_MIN)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t i = c * CHUNK, len = n - i < CHUNK ? n - i : CHUNK;
        df(len, xs + i, ys + i, gout + i, gx + i, p, assign);
    }
    cx__temp_free(copy);
    return CX_OK;
}

/* ---- kernels: forward value and the gradient contribution g * dy/dx ---- */

CX_UNARY_FWD(neg, -x)
CX_UNARY_BWD(neg, -g) /* d(-x)/dx = -1 */

CX_UNARY_FWD(exp, cx__vexp(x))
CX_UNARY_BWD(exp, g * y) /* d(e^x)/dx = e^x */

CX_UNARY_FWD(log, logf(x))
CX_UNARY_BWD(log, g / x) /* d(ln x)/dx = 1/x */

CX_UNARY_FWD(sqrt, sqrtf(x))
CX_UNARY_BWD(sqrt, g / (2.0f * y)) /* d(sqrt x)/dx = 1 / (2 sqrt x) */

CX_UNARY_FWD(abs, cx__vabs(x))
/* d|x|/dx = sign(x), 0 at 0 */
CX_UNARY_BWD(abs, cx__vselect(x > 0.0f, g, cx__vselect(x < 0.0f, -g, 0.0f)))

/* p = {lo, hi}. Written so that NaN passes through, and lo > hi gives hi (as PyTorch). */
CX_UNARY_FWD(clamp, cx__vselect(x > p[1], p[1], cx__vselect(x < p[0], p[0], x)))
/* d clamp/dx = 1 where lo <= x <= hi, else 0 */
CX_UNARY_BWD(clamp, cx__vselect((x >= p[0]) & (x <= p[1]), g, 0.0f))

/* p = {s} for the scalar ops. */
CX_UNARY_FWD(add_scalar, x + p[0])
CX_UNARY_BWD(add_scalar, g) /* d(x+s)/dx = 1 */
CX_UNARY_FWD(sub_scalar, x - p[0])
CX_UNARY_BWD(sub_scalar, g) /* d(x-s)/dx = 1 */
CX_UNARY_FWD(rsub_scalar, p[0] - x)
CX_UNARY_BWD(rsub_scalar, -g) /* d(s-x)/dx = -1 */
CX_UNARY_FWD(mul_scalar, x * p[0])
CX_UNARY_BWD(mul_scalar, g * p[0]) /* d(xs)/dx = s */
CX_UNARY_FWD(div_scalar, x / p[0])
CX_UNARY_BWD(div_scalar, g / p[0]) /* d(x/s)/dx = 1/s */

/* p = {exponent}. Exponents 2, 0.5 and -1 get exact kernels (x * x, sqrt, 1 / x), as in PyTorch;
 * the first and last also vectorise, powf does not. */
CX_UNARY_FWD(pow_scalar, powf(x, p[0]))
CX_UNARY_FWD(pow_square, x * x)
CX_UNARY_FWD(pow_sqrt, sqrtf(x))
CX_UNARY_FWD(pow_recip, 1.0f / x)
/* d(x^p)/dx = p x^(p-1); 0 when p = 0 (not 0 * inf at x = 0) */
CX_UNARY_BWD(pow_scalar, p[0] == 0.0f ? 0.0f : g * p[0] * powf(x, p[0] - 1.0f))

CX_UNARY_BACKWARD(neg)
CX_UNARY_BACKWARD(exp)
CX_UNARY_BACKWARD(log)
CX_UNARY_BACKWARD(sqrt)
CX_UNARY_BACKWARD(abs)
CX_UNARY_BACKWARD(clamp)
CX_UNARY_BACKWARD(add_scalar)
CX_UNARY_BACKWARD(sub_scalar)
CX_UNARY_BACKWARD(rsub_scalar)
CX_UNARY_BACKWARD(mul_scalar)
CX_UNARY_BACKWARD(div_scalar)

/* The square is common (norms, variances): its gradient 2 x g vectorises, powf does not. */
CX_UNARY_BWD(pow_square, 2.0f * x * g)
static cx_status pow_scalar_backward(cx_node *node, cx_tensor *out, const float *gout) {
    return cx__unary_backward(node, out, gout, node->f[0] == 2.0f ? pow_square_bwd
                                                                  : pow_scalar_bwd);
}

/* ---- public functions ---- */

cx_tensor *cx_neg(cx_tensor *x) { return cx__unary("neg", &cx_op_neg, x, neg_fwd, NULL, 0); }
cx_tensor *cx_exp(cx_tensor *x) { return cx__unary("exp", &cx_op_exp, x, exp_fwd, NULL, 0); }
cx_tensor *cx_log(cx_tensor *x) { return cx__unary("log", &cx_op_log, x, log_fwd, NULL, 0); }
cx_tensor *cx_sqrt(cx_tensor *x) { return cx__unary("sqrt", &cx_op_sqrt, x, sqrt_fwd, NULL, 0); }
cx_tensor *cx_abs(cx_tensor *x) { return cx__unary("abs", &cx_op_abs, x, abs_fwd, NULL, 0); }

cx_tensor *cx_clamp(cx_tensor *x, float lo, float hi) {
    if (!cx__check_f32("clamp", "x", x)) return NULL;
    if (isnan(lo) || isnan(hi)) {
        char s[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_ARG, "clamp: bounds must not be NaN, got lo %g and hi %g (x %s)",
                  (double)lo, (double)hi, cx__shape_str(x->ndim, x->shape, s, sizeof s));
        return NULL;
    }
    return cx__unary("clamp", &cx_op_clamp, x, clamp_fwd, (const float[]){lo, hi}, 2);
}

cx_tensor *cx_add_scalar(cx_tensor *x, float s) {
    return cx__unary("add_scalar", &cx_op_add_scalar, x, add_scalar_fwd, &s, 1);
}
cx_tensor *cx_sub_scalar(cx_tensor *x, float s) {
    return cx__unary("sub_scalar", &cx_op_sub_scalar, x, sub_scalar_fwd, &s, 1);
}
cx_tensor *cx_rsub_scalar(cx_tensor *x, float s) {
    return cx__unary("rsub_scalar", &cx_op_rsub_scalar, x, rsub_scalar_fwd, &s, 1);
}
cx_tensor *cx_mul_scalar(cx_tensor *x, float s) {
    return cx__unary("mul_scalar", &cx_op_mul_scalar, x, mul_scalar_fwd, &s, 1);
}
cx_tensor *cx_div_scalar(cx_tensor *x, float s) {
    return cx__unary("div_scalar", &cx_op_div_scalar, x, div_scalar_fwd, &s, 1);
}

cx_tensor *cx_pow_scalar(cx_tensor *x, float p) {
    cx__unary_fwd_fn f = p == 2.0f   ? pow_square_fwd
                         : p == 0.5f ? pow_sqrt_fwd
                         : p == -1.0f ? pow_recip_fwd
                                      : pow_scalar_fwd;
    return cx__unary("pow_scalar", &cx_op_pow_scalar, x, f, &p, 1);
}

/* ---- test support: a strided view that passes gradients back (see unary_impl.h) ---- */


/* ---- test rows: [3,5], and [4,3,2] read through a [2,3,4] strided view (run_*_t) ---- */

CX_UNARY_RUN(neg, cx_neg(x))
CX_UNARY_RUN_T(neg, cx_neg(x))
CX_UNARY_RUN(exp, cx_exp(x))
CX_UNARY_RUN_T(exp, cx_exp(x))
CX_UNARY_RUN(log, cx_log(x))
CX_UNARY_RUN_T(log, cx_log(x))
CX_UNARY_RUN(sqrt, cx_sqrt(x))
CX_UNARY_RUN_T(sqrt, cx_sqrt(x))
CX_UNARY_RUN(abs, cx_abs(x))
CX_UNARY_RUN_T(abs, cx_abs(x))
CX_UNARY_RUN(clamp, cx_clamp(x, -0.5f, 0.5f))
CX_UNARY_RUN_T(clamp, cx_clamp(x, -0.5f, 0.5f))
CX_UNARY_RUN(clamp_lo, cx_clamp(x, -0.3f, INFINITY))
CX_UNARY_RUN_T(clamp_hi, cx_clamp(x, -INFINITY, 0.2f))
CX_UNARY_RUN(add_scalar, cx_add_scalar(x, 1.5f))
CX_UNARY_RUN_T(add_scalar, cx_add_scalar(x, 1.5f))
CX_UNARY_RUN(sub_scalar, cx_sub_scalar(x, -0.25f))
CX_UNARY_RUN_T(sub_scalar, cx_sub_scalar(x, -0.25f))
CX_UNARY_RUN(rsub_scalar, cx_rsub_scalar(x, 2.0f))
CX_UNARY_RUN_T(rsub_scalar, cx_rsub_scalar(x, 2.0f))
CX_UNARY_RUN(mul_scalar, cx_mul_scalar(x, -2.5f))
CX_UNARY_RUN_T(mul_scalar, cx_mul_scalar(x, -2.5f))
CX_UNARY_RUN(div_scalar, cx_div_scalar(x, -0.3f))
CX_UNARY_RUN_T(div_scalar, cx_div_scalar(x, -0.3f))
CX_UNARY_RUN(pow_scalar, cx_pow_scalar(x, 2.5f))
CX_UNARY_RUN_T(pow_scalar_neg, cx_pow_scalar(x, -1.5f))
CX_UNARY_RUN(pow_scalar_sq, cx_pow_scalar(x, 2.0f))
CX_UNARY_RUN_T(pow_scalar_cube, cx_pow_scalar(x, 3.0f))
CX_UNARY_RUN(pow_scalar_sqrt, cx_pow_scalar(x, 0.5f))
CX_UNARY_RUN(pow_scalar_recip, cx_pow_scalar(x, -1.0f))

/* Positive inputs for log, sqrt and fractional powers. */
#define POS(...) CX_IN_RANGE(0.5f, 2.0f, __VA_ARGS__)

CX_OP_DEFINE(neg, .backward = neg_backward,
             .tests = (const cx_op_test[]){
                 {.name = "neg_2d", .run = run_neg, .n_in = 1, .in = {CX_IN(3, 5)}},
                 {.name = "neg_t", .run = run_neg_t, .n_in = 1, .in = {CX_IN(4, 3, 2)}},
                 {.name = "neg_0d", .run = run_neg, .n_in = 1, .in = {CX_IN(0)}},
                 {.name = NULL}});
CX_OP_DEFINE(exp, .backward = exp_backward,
             .tests = (const cx_op_test[]){
                 {.name = "exp_2d", .run = run_exp, .n_in = 1,
                  .in = {CX_IN_RANGE(-3.0f, 3.0f, 3, 5)}},
                 {.name = "exp_t", .run = run_exp_t, .n_in = 1, .in = {CX_IN(4, 3, 2)}},
                 {.name = "exp_0d", .run = run_exp, .n_in = 1, .in = {CX_IN(0)}},
                 {.name = NULL}});
CX_OP_DEFINE(log, .backward = log_backward,
             .tests = (const cx_op_test[]){
                 {.name = "log_2d", .run = run_log, .n_in = 1, .in = {POS(3, 5)}},
                 {.name = "log_t", .run = run_log_t, .n_in = 1,
                  .in = {CX_IN_RANGE(0.1f, 3.0f, 4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(sqrt, .backward = sqrt_backward,
             .tests = (const cx_op_test[]){
                 {.name = "sqrt_2d", .run = run_sqrt, .n_in = 1, .in = {POS(3, 5)}},
                 {.name = "sqrt_t", .run = run_sqrt_t, .n_in = 1,
                  .in = {CX_IN_RANGE(0.1f, 3.0f, 4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(abs, .backward = abs_backward,
             .tests = (const cx_op_test[]){
                 {.name = "abs_2d", .run = run_abs, .n_in = 1, .in = {CX_IN(3, 5)}},
                 {.name = "abs_t", .run = run_abs_t, .n_in = 1, .in = {CX_IN(4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(clamp, .backward = clamp_backward,
             .tests = (const cx_op_test[]){
                 {.name = "clamp_2d", .run = run_clamp, .n_in = 1, .in = {CX_IN(3, 5)}},
                 {.name = "clamp_t", .run = run_clamp_t, .n_in = 1, .in = {CX_IN(4, 3, 2)}},
                 {.name = "clamp_lo", .run = run_clamp_lo, .n_in = 1, .in = {CX_IN(3, 5)}},
                 {.name = "clamp_hi_t", .run = run_clamp_hi_t, .n_in = 1,
                  .in = {CX_IN(4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(add_scalar, .backward = add_scalar_backward,
             .tests = (const cx_op_test[]){
                 {.name = "add_scalar_2d", .run = run_add_scalar, .n_in = 1,
                  .in = {CX_IN(3, 5)}},
                 {.name = "add_scalar_t", .run = run_add_scalar_t, .n_in = 1,
                  .in = {CX_IN(4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(sub_scalar, .backward = sub_scalar_backward,
             .tests = (const cx_op_test[]){
                 {.name = "sub_scalar_2d", .run = run_sub_scalar, .n_in = 1,
                  .in = {CX_IN(3, 5)}},
                 {.name = "sub_scalar_t", .run = run_sub_scalar_t, .n_in = 1,
                  .in = {CX_IN(4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(rsub_scalar, .backward = rsub_scalar_backward,
             .tests = (const cx_op_test[]){
                 {.name = "rsub_scalar_2d", .run = run_rsub_scalar, .n_in = 1,
                  .in = {CX_IN(3, 5)}},
                 {.name = "rsub_scalar_t", .run = run_rsub_scalar_t, .n_in = 1,
                  .in = {CX_IN(4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(mul_scalar, .backward = mul_scalar_backward,
             .tests = (const cx_op_test[]){
                 {.name = "mul_scalar_2d", .run = run_mul_scalar, .n_in = 1,
                  .in = {CX_IN(3, 5)}},
                 {.name = "mul_scalar_t", .run = run_mul_scalar_t, .n_in = 1,
                  .in = {CX_IN(4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(div_scalar, .backward = div_scalar_backward,
             .tests = (const cx_op_test[]){
                 {.name = "div_scalar_2d", .run = run_div_scalar, .n_in = 1,
                  .in = {CX_IN(3, 5)}},
                 {.name = "div_scalar_t", .run = run_div_scalar_t, .n_in = 1,
                  .in = {CX_IN(4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(pow_scalar, .backward = pow_scalar_backward,
             .tests = (const cx_op_test[]){
                 {.name = "pow_scalar_2d", .run = run_pow_scalar, .n_in = 1, .in = {POS(3, 5)}},
                 {.name = "pow_scalar_neg_t", .run = run_pow_scalar_neg_t, .n_in = 1,
                  .in = {POS(4, 3, 2)}},
                 {.name = "pow_scalar_sq", .run = run_pow_scalar_sq, .n_in = 1,
                  .in = {CX_IN(3, 5)}},
                 {.name = "pow_scalar_cube_t", .run = run_pow_scalar_cube_t, .n_in = 1,
                  .in = {CX_IN(4, 3, 2)}},
                 {.name = "pow_scalar_sqrt", .run = run_pow_scalar_sqrt, .n_in = 1,
                  .in = {POS(3, 5)}},
                 {.name = "pow_scalar_recip", .run = run_pow_scalar_recip, .n_in = 1,
                  .in = {POS(3, 5)}},
                 {.name = NULL}});
