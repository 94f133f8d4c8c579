/*
 * conv1d.c - 1-D convolution and pooling over [N, C, L], as torch.nn.functional.conv1d,
 * max_pool1d and avg_pool1d, run as their 2-D ops on a height-1 view: x [N, C, 1, L], kernel
 * (1, k). The views are reshapes, so no data is copied and the 2-D ops' backward serves.
 * The descriptors below record nothing (nodes belong to conv2d, max_pool2d, ...); they carry
 * the test rows that check these functions against finite differences and PyTorch.
 */
#include "cortex_impl.h"

#include <string.h>

/* x [N, C, L] as [N, C, 1, L]; w [O, C/g, k] as [O, C/g, 1, k]. */
static cx_tensor *as_2d(cx_tensor *t) {
    return cx_reshape(t, CX_SHAPE(t->shape[0], t->shape[1], 1, t->shape[2]));
}

/* y [N, C, 1, Lo] back to [N, C, Lo] (consumes y's reference). */
static cx_tensor *as_1d(cx_tensor *y) {
    if (!y) return NULL;
    cx_tensor *r = cx_reshape(y, CX_SHAPE(y->shape[0], y->shape[1], y->shape[3]));
    cx_tensor_free(y);
    return r;
}

static bool need_3d(const char *op, const char *what, const cx_tensor *t) {
    if (t->ndim == 3) return true;
    char s[CX_SHAPE_STR_MAX];
    cx__error(CX_ERR_SHAPE, "%s: %s %s must have 3 dimensions (%s)", op, what,
              cx__shape_str(t->ndim, t->shape, s, sizeof s),
              strcmp(what, "weight") ? "[N, C, L]" : "[O, C/groups, k]");
    return false;
}

/* Re-labels an error of the 2-D op as the 1-D one's ("conv1d: input [..]: ..."). */
static void relabel(const char *op, const cx_tensor *x) {
    char msg[512], s[CX_SHAPE_STR_MAX];
    snprintf(msg, sizeof msg, "%s", cx_last_error());
    cx__error(cx_last_status(), "%s on input %s (run as 2-D with height 1): %s", op,
              cx__shape_str(x->ndim, x->shape, s, sizeof s), msg);
}

cx_tensor *cx_conv1d(cx_tensor *x, cx_tensor *weight, cx_tensor *bias,
                     const cx_conv1d_params *params) {
    if (!cx__check_f32("conv1d", "x", x) || !cx__check_f32("conv1d", "weight", weight) ||
        (bias && !cx__check_f32("conv1d", "bias", bias)))
        return NULL;
    if (!need_3d("conv1d", "input", x) || !need_3d("conv1d", "weight", weight)) return NULL;
    cx_conv1d_params p = params ? *params : (cx_conv1d_params){0};
    cx_conv2d_params p2 = {.stride = {1, p.stride}, .padding = {0, p.padding},
                           .dilation = {1, p.dilation}, .groups = p.groups, .same = p.same};
    cx_tensor *x2 = as_2d(x), *w2 = x2 ? as_2d(weight) : NULL;
    cx_tensor *y = w2 ? cx_conv2d(x2, w2, bias, &p2) : NULL;
    if (!y && x2 && w2) relabel("conv1d", x);
    cx_tensor_free(x2);
    cx_tensor_free(w2);
    return as_1d(y);
}

static cx_pool2d_params pool2d_of(const cx_pool1d_params *params) {
    cx_pool1d_params p = params ? *params : (cx_pool1d_params){0};
    return (cx_pool2d_params){.kernel = {1, p.kernel}, .stride = {1, p.stride ? p.stride : p.kernel},
                              .padding = {0, p.padding}, .dilation = {1, p.dilation},
                              .ceil_mode = p.ceil_mode, .exclude_pad = p.exclude_pad};
}

static cx_tensor *pool1d(const char *op, cx_tensor *x, const cx_pool1d_params *params,
                         cx_tensor *(*pool2d)(cx_tensor *, const cx_pool2d_params *)) {
    if (!cx__check_f32(op, "x", x) || !need_3d(op, "input", x)) return NULL;
    if (!params || params->kernel < 1) {
        cx__error(CX_ERR_ARG, "%s: kernel %lld; must be at least 1", op,
                  (long long)(params ? params->kernel : 0));
        return NULL;
    }
    cx_pool2d_params p2 = pool2d_of(params);
    cx_tensor *x2 = as_2d(x);
    cx_tensor *y = x2 ? pool2d(x2, &p2) : NULL;
    if (!y && x2) relabel(op, x);
    cx_tensor_free(x2);
    return as_1d(y);
}

cx_tensor *cx_max_pool1d(cx_tensor *x, const cx_pool1d_params *params) {
    return pool1d("max_pool1d", x, params, cx_max_pool2d);
}

cx_tensor *cx_avg_pool1d(cx_tensor *x, const cx_pool1d_params *params) {
    return pool1d("avg_pool1d", x, params, cx_avg_pool2d);
}

/* ---- test rows ---- */

static cx_tensor *run_conv1d(cx_tensor *const *x) { return cx_conv1d(x[0], x[1], x[2], NULL); }
static cx_tensor *run_conv1d_strided(cx_tensor *const *x) {
    return cx_conv1d(x[0], x[1], x[2],
                     &(cx_conv1d_params){.stride = 2, .padding = 2, .dilation = 2});
}
static cx_tensor *run_conv1d_same(cx_tensor *const *x) {
    return cx_conv1d(x[0], x[1], NULL, &(cx_conv1d_params){.same = true, .groups = 2});
}
static cx_tensor *run_max_pool1d(cx_tensor *const *x) {
    return cx_max_pool1d(x[0], &(cx_pool1d_params){.kernel = 3, .stride = 2, .padding = 1});
}
static cx_tensor *run_avg_pool1d(cx_tensor *const *x) {
    return cx_avg_pool1d(x[0], &(cx_pool1d_params){.kernel = 2});
}

CX_OP_DEFINE(conv1d, .tests = (const cx_op_test[]){
                 {.name = "conv1d_basic", .run = run_conv1d, .n_in = 3,
                  .in = {CX_IN(2, 3, 9), CX_IN(4, 3, 3), CX_IN(4)}},
                 {.name = "conv1d_strided", .run = run_conv1d_strided, .n_in = 3,
                  .in = {CX_IN(2, 3, 11), CX_IN(5, 3, 3), CX_IN(5)}},
                 {.name = "conv1d_same_groups", .run = run_conv1d_same, .n_in = 2,
                  .in = {CX_IN(2, 4, 8), CX_IN(6, 2, 4)}},
                 {.name = NULL}});
CX_OP_DEFINE(max_pool1d, .tests = (const cx_op_test[]){
                 {.name = "max_pool1d_pad", .run = run_max_pool1d, .n_in = 1,
                  .in = {CX_IN(2, 3, 9)}},
                 {.name = NULL}});
CX_OP_DEFINE(avg_pool1d, .tests = (const cx_op_test[]){
                 {.name = "avg_pool1d_basic", .run = run_avg_pool1d, .n_in = 1,
                  .in = {CX_IN(2, 3, 7)}},
                 {.name = NULL}});
