/*
 * activation.c - elementwise activations: sigmoid, tanh, relu, leaky_relu, elu, gelu.
 *
 * Built on the elementwise driver of unary.c (unary_impl.h): each op is a forward kernel and
 * a backward kernel. sigmoid, tanh and gelu use the vectorisable functions of vmath.h;
 * sigmoid is computed from e^-|x| so it neither overflows nor loses the tiny values of the
 * lower tail. Definitions and kink conventions follow torch.nn.functional:
 *   relu'(0) = 0, leaky_relu'(0) = slope, elu'(0) = alpha, gelu(x) = x Phi(x) (exact erf form).
 */
#include "ops/unary_impl.h"

#include <math.h>

CX_UNARY_FWD(sigmoid, cx__vsigmoid(x))
CX_UNARY_BWD(sigmoid, g * y * (1.0f - y)) /* s' = s (1 - s) */

CX_UNARY_FWD(tanh, cx__vtanh(x))
CX_UNARY_BWD(tanh, g * (1.0f - y * y)) /* tanh' = 1 - tanh^2 */

/* x < 0 rather than x > 0 so that NaN passes through, as in PyTorch. */
CX_UNARY_FWD(relu, cx__vselect(x < 0.0f, 0.0f, x))
CX_UNARY_BWD(relu, cx__vselect(y > 0.0f, g, 0.0f)) /* relu' = 1 where relu(x) > 0, else 0 */

/* p = {negative_slope} */
CX_UNARY_FWD(leaky_relu, cx__vselect(x > 0.0f, x, x * p[0]))
CX_UNARY_BWD(leaky_relu, cx__vselect(x > 0.0f, g, g * p[0])) /* 1 for x > 0, else slope */

/* p = {alpha}: x for x > 0, alpha (e^x - 1) otherwise. */
CX_UNARY_FWD(elu, cx__vselect(x > 0.0f, x, p[0] * cx__vexpm1(x)))
/* elu' = 1 for x > 0, else alpha e^x (from x, not y + alpha, which cancels for x << 0) */
CX_UNARY_BWD(elu, cx__vselect(x > 0.0f, g, g * p[0] * cx__vexp(x)))

CX_UNARY_FWD(gelu, x * cx__vnormal_cdf(x))
/* (x Phi(x))' = Phi(x) + x phi(x), phi the standard normal density */
CX_UNARY_BWD(gelu, g * (cx__vnormal_cdf(x) + x * cx__vnormal_pdf(x)))

CX_UNARY_BACKWARD(sigmoid)
CX_UNARY_BACKWARD(tanh)
CX_UNARY_BACKWARD(relu)
CX_UNARY_BACKWARD(leaky_relu)
CX_UNARY_BACKWARD(elu)
CX_UNARY_BACKWARD(gelu)

cx_tensor *cx_sigmoid(cx_tensor *x) {
    return cx__unary("sigmoid", &cx_op_sigmoid, x, sigmoid_fwd, NULL, 0);
}
cx_tensor *cx_tanh(cx_tensor *x) { return cx__unary("tanh", &cx_op_tanh, x, tanh_fwd, NULL, 0); }
cx_tensor *cx_relu(cx_tensor *x) { return cx__unary("relu", &cx_op_relu, x, relu_fwd, NULL, 0); }
cx_tensor *cx_leaky_relu(cx_tensor *x, float negative_slope) {
    return cx__unary("leaky_relu", &cx_op_leaky_relu, x, leaky_relu_fwd, &negative_slope, 1);
}
cx_tensor *cx_elu(cx_tensor *x, float alpha) {
    return cx__unary("elu", &cx_op_elu, x, elu_fwd, &alpha, 1);
}
cx_tensor *cx_gelu(cx_tensor *x) { return cx__unary("gelu", &cx_op_gelu, x, gelu_fwd, NULL, 0); }

/* ---- test rows: [3,5], and [4,3,2] read through a [2,3,4] strided view (run_*_t) ---- */

CX_UNARY_RUN(sigmoid, cx_sigmoid(x))
CX_UNARY_RUN_T(sigmoid, cx_sigmoid(x))
CX_UNARY_RUN(tanh, cx_tanh(x))
CX_UNARY_RUN_T(tanh, cx_tanh(x))
CX_UNARY_RUN(relu, cx_relu(x))
CX_UNARY_RUN_T(relu, cx_relu(x))
CX_UNARY_RUN(leaky_relu, cx_leaky_relu(x, 0.01f))
CX_UNARY_RUN_T(leaky_relu, cx_leaky_relu(x, 0.2f))
CX_UNARY_RUN(elu, cx_elu(x, 1.0f))
CX_UNARY_RUN_T(elu, cx_elu(x, 0.5f))
CX_UNARY_RUN(gelu, cx_gelu(x))
CX_UNARY_RUN_T(gelu, cx_gelu(x))

CX_OP_DEFINE(sigmoid, .backward = sigmoid_backward,
             .tests = (const cx_op_test[]){
                 {.name = "sigmoid_2d", .run = run_sigmoid, .n_in = 1,
                  .in = {CX_IN_RANGE(-4.0f, 4.0f, 3, 5)}},
                 {.name = "sigmoid_t", .run = run_sigmoid_t, .n_in = 1, .in = {CX_IN(4, 3, 2)}},
                 /* saturated: exercises both tails */
                 {.name = "sigmoid_wide", .run = run_sigmoid, .n_in = 1,
                  .in = {CX_IN_RANGE(-30.0f, 30.0f, 5, 7)}},
                 {.name = "sigmoid_0d", .run = run_sigmoid, .n_in = 1, .in = {CX_IN(0)}},
                 {.name = NULL}});
CX_OP_DEFINE(tanh, .backward = tanh_backward,
             .tests = (const cx_op_test[]){
                 {.name = "tanh_2d", .run = run_tanh, .n_in = 1,
                  .in = {CX_IN_RANGE(-3.0f, 3.0f, 3, 5)}},
                 {.name = "tanh_t", .run = run_tanh_t, .n_in = 1, .in = {CX_IN(4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(relu, .backward = relu_backward,
             .tests = (const cx_op_test[]){
                 {.name = "relu_2d", .run = run_relu, .n_in = 1, .in = {CX_IN(3, 5)}},
                 {.name = "relu_t", .run = run_relu_t, .n_in = 1, .in = {CX_IN(4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(leaky_relu, .backward = leaky_relu_backward,
             .tests = (const cx_op_test[]){
                 {.name = "leaky_relu_2d", .run = run_leaky_relu, .n_in = 1,
                  .in = {CX_IN(3, 5)}},
                 {.name = "leaky_relu_t", .run = run_leaky_relu_t, .n_in = 1,
                  .in = {CX_IN(4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(elu, .backward = elu_backward,
             .tests = (const cx_op_test[]){
                 {.name = "elu_2d", .run = run_elu, .n_in = 1,
                  .in = {CX_IN_RANGE(-3.0f, 3.0f, 3, 5)}},
                 {.name = "elu_t", .run = run_elu_t, .n_in = 1, .in = {CX_IN(4, 3, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(gelu, .backward = gelu_backward,
             .tests = (const cx_op_test[]){
                 {.name = "gelu_2d", .run = run_gelu, .n_in = 1,
                  .in = {CX_IN_RANGE(-3.0f, 3.0f, 3, 5)}},
                 {.name = "gelu_t", .run = run_gelu_t, .n_in = 1,
                  .in = {CX_IN_RANGE(-6.0f, 6.0f, 4, 3, 2)}},
                 {.name = NULL}});
