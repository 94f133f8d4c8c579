/*
 * unary_impl.h - the elementwise driver shared by unary.c and activation.c.
 *
 * An elementwise op is a forward kernel y = f(x) and a backward kernel gx += g * f'(x), both
 * over contiguous runs of n floats; the driver (unary.c) walks strided inputs, splits the work
 * across threads, records the autograd node and keeps the op's scalar parameters in node->f.
 * CX_UNARY_FWD / CX_UNARY_BWD define the kernels from one expression each.
 */
#ifndef CX_UNARY_IMPL_H
#define CX_UNARY_IMPL_H

#include "cortex_impl.h"

#include "backend/cpu/vmath.h" /* cx__vexp, cx__vtanh, cx__vsigmoid, cx__vselect, ... */

/* ys[0..n) = f(xs[0..n)) given the op's parameters p (node->f). */
typedef void (*cx__unary_fwd_fn)(int64_t n, const float *xs, float *ys, const float *p);
/* gx[0..n) += the gradient through f, from gy (d loss / d y), xs and ys = f(xs); with assign,
 * gx[0..n) = it (gx held no gradient yet, see cx__grad_assign). */
typedef void (*cx__unary_bwd_fn)(int64_t n, const float *xs, const float *ys, const float *gy,
                                 float *gx, const float *p, bool assign);

/* y = f(x) elementwise for x f32 with any strides; y is contiguous. Stores the n_p (<= 4)
 * parameters p in the node for backward. NULL + error (naming op_name) on failure. */
cx_tensor *cx__unary(const char *op_name, const cx_op *op, cx_tensor *x, cx__unary_fwd_fn f,
                     const float *p, int n_p);
/* The body of a unary op's backward rule: runs df over the input (made contiguous if needed)
 * and the output. */
cx_status cx__unary_backward(cx_node *node, cx_tensor *out, const float *gout,
                             cx__unary_bwd_fn df);

/* Defines `static void name##_fwd`: ys[i] = EXPR, where EXPR uses x (= xs[i]) and p. */
#define CX_UNARY_FWD(name, EXPR)                                                               \
    CX_VECTORIZE static void name##_fwd(int64_t n, const float *restrict xs,                   \
                                        float *restrict ys, const float *restrict p) {         \
        (void)p;                                                                               \
        for (int64_t i = 0; i < n; i++) {                                                      \
            float x = xs[i];                                                                   \
            ys[i] = (EXPR);                                                                    \
        }                                                                                      \
    }

/* Defines `static void name##_bwd`: gx[i] += EXPR (or = with assign), where EXPR uses g
 * (= gy[i]), x, y and p. */
#define CX_UNARY_BWD(name, EXPR)                                                               \
    CX_VECTORIZE static void name##_bwd(int64_t n, const float *restrict xs,                   \
                                        const float *restrict ys, const float *restrict gy,    \
                                        float *restrict gx, const float *restrict p,           \
                                        bool assign) {                                         \
        (void)p;                                                                               \
        for (int64_t i = 0; i < n; i++) {                                                      \
            float x = xs[i], y = ys[i], g = gy[i];                                             \
            (void)x;                                                                           \
            (void)y;                                                                           \
            gx[i] = (assign ? 0.0f : gx[i]) + (EXPR);                                          \
        }                                                                                      \
    }

/* Defines `static cx_status name##_backward`, the op's backward rule, from name##_bwd. */
#define CX_UNARY_BACKWARD(name)                                                                \
    static cx_status name##_backward(cx_node *node, cx_tensor *out, const float *gout) {       \
        return cx__unary_backward(node, out, gout, name##_bwd);                                \
    }

/* Test runners: run_##name calls CALL on x = in[0]; run_##name##_t on a view of in[0] with its
 * first and last dims swapped, so the op reads a strided input. */
#define CX_UNARY_RUN(name, CALL)                                                               \
    static cx_tensor *run_##name(cx_tensor *const *in) {                                       \
        cx_tensor *x = in[0];                                                                  \
        return CALL;                                                                           \
    }
#define CX_UNARY_RUN_T(name, CALL)                                                             \
    static cx_tensor *run_##name##_t(cx_tensor *const *in) {                                   \
        cx_tensor *x = cx_transpose(in[0], 0, -1);                                       \
        cx_tensor *y = CALL;                                                                   \
        cx_tensor_free(x); /* y's node keeps the view */                                      \
        return y;                                                                              \
    }

#endif /* CX_UNARY_IMPL_H */
