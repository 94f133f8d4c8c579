/*
 * conv2d.c - 2-D convolution (cross-correlation), as torch.nn.functional.conv2d.
 *
 * x [N, C, H, W], weight [O, C/G, kh, kw], bias [O] or none -> y [N, O, Ho, Wo] with
 *   Ho = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1   (likewise Wo)
 * stride, zero padding (or 'same': total dh (kh - 1), the odd one at the bottom/right, as
 * torch), dilation and G groups. The kernels (src/backend/cpu/conv.c) run im2col + sgemm per
 * image; backward is the same machinery: dx = col2im(Wᵀ · gy), dW += gy · colsᵀ, db = sums of
 * gy per channel. Reference: https://pytorch.org/docs/1.13/generated/torch.nn.Conv2d.html
 *
 * This file also holds the checks conv_transpose2d shares (settings, output size).
 */
#include "cortex_impl.h"

#include <string.h>

/* Node parameters: i[0..1] stride, i[2..3] top/left padding, i[4..5] dilation, i[6] groups. */
enum { P_STRIDE = 0, P_PAD = 2, P_DIL = 4, P_GROUPS = 6 };

bool cx__conv_out_size(const char *what, int64_t in, int64_t k, int64_t stride, int64_t pad,
                       int64_t dil, bool exact, int64_t *out) {
    int64_t extent = dil * (k - 1) + 1, span = in + 2 * pad - extent;
    if (span < 0) {
        cx__error(CX_ERR_SHAPE, "%s %lld with kernel %lld, stride %lld, padding %lld, dilation "
                  "%lld gives no output: (%lld + %lld - %lld) / %lld + 1 is below 1", what,
                  (long long)in, (long long)k, (long long)stride, (long long)pad, (long long)dil,
                  (long long)in, (long long)(2 * pad), (long long)extent, (long long)stride);
        return false;
    }
    if (exact && span % stride != 0) {
        /* the next padding that fits, if one within a stride does */
        int64_t fix = -1;
        for (int64_t p = pad + 1; p <= pad + stride && fix < 0; p++)
            if ((in + 2 * p - extent) % stride == 0) fix = p;
        char hint[64] = "";
        if (fix >= 0) snprintf(hint, sizeof hint, "; padding %lld would fit", (long long)fix);
        cx__error(CX_ERR_SHAPE, "%s %lld with kernel %lld, stride %lld, padding %lld, dilation "
                  "%lld does not fit: (%lld + %lld - %lld) / %lld + 1 is not whole%s", what,
                  (long long)in, (long long)k, (long long)stride, (long long)pad, (long long)dil,
                  (long long)in, (long long)(2 * pad), (long long)extent, (long long)stride,
                  hint);
        return false;
    }
    *out = span / stride + 1;
    return true;
}

/* Settings above this are refused, which keeps every size expression far from overflow. */
#define SETTING_MAX ((int64_t)1 << 20)

bool cx__conv_setting(const char *op, const char *name, const int64_t in[2], int64_t min,
                      int64_t out[2]) {
    for (int d = 0; d < 2; d++) {
        out[d] = in[d] == 0 && min > 0 ? 1 : in[d];
        if (out[d] < min || out[d] > SETTING_MAX) {
            cx__error(CX_ERR_ARG, "%s: %s (%lld, %lld) must be %s and at most %lld", op, name,
                      (long long)in[0], (long long)in[1],
                      min > 0 ? "at least 1 (0 means 1)" : "at least 0", (long long)SETTING_MAX);
            return false;
        }
    }
    return true;
}

bool cx__conv_inputs(const char *op, const cx_tensor *x, const cx_tensor *w,
                     const cx_tensor *b) {
    if (!cx__check_f32(op, "x", x) || !cx__check_f32(op, "weight", w)) return false;
    if (b && !cx__check_f32(op, "bias", b)) return false;
    if (x->ndim != 4 || w->ndim != 4) {
        char sx[CX_SHAPE_STR_MAX], sw[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "%s: input %s and weight %s: both need 4 dimensions (input "
                  "[N, C, H, W], weight [out, in, kh, kw])", op,
                  cx__shape_str(x->ndim, x->shape, sx, sizeof sx),
                  cx__shape_str(w->ndim, w->shape, sw, sizeof sw));
        return false;
    }
    if (w->shape[2] < 1 || w->shape[3] < 1) {
        cx__error(CX_ERR_SHAPE, "%s: weight has an empty %lldx%lld kernel", op,
                  (long long)w->shape[2], (long long)w->shape[3]);
        cx__conv_error_shapes(x, w);
        return false;
    }
    return true;
}

bool cx__conv_contiguous(cx_tensor *const in[3], cx_tensor *c[3]) {
    for (int i = 0; i < 3; i++) {
        c[i] = in[i] ? cx_contiguous(in[i]) : NULL;
        if (in[i] && !c[i]) {
            cx__conv_release(c);
            return false;
        }
    }
    return true;
}

void cx__conv_release(cx_tensor *c[3]) {
    for (int i = 0; i < 3; i++) {
        cx_tensor_free(c[i]);
        c[i] = NULL;
    }
}

/* Adds " (input .., weight ..)" to the message of the error just set, keeping its status. */
cx_status cx__conv_error_shapes(const cx_tensor *x, const cx_tensor *w) {
    char msg[512], sx[CX_SHAPE_STR_MAX], sw[CX_SHAPE_STR_MAX];
    snprintf(msg, sizeof msg, "%s", cx_last_error());
    return cx__error(cx_last_status(), "%s (input %s, weight %s)", msg,
                     cx__shape_str(x->ndim, x->shape, sx, sizeof sx),
                     cx__shape_str(w->ndim, w->shape, sw, sizeof sw));
}

bool cx__conv_groups(const char *op, int64_t groups_in, int64_t channels, int64_t outs,
                     const cx_tensor *x, const cx_tensor *w, int64_t *groups) {
    *groups = groups_in == 0 ? 1 : groups_in;
    if (*groups < 1 || *groups > (channels > 1 ? channels : 1))
        cx__error(CX_ERR_ARG, "%s: groups %lld must be at least 1 (0 means 1) and at most the "
                  "%lld input channels", op, (long long)groups_in, (long long)channels);
    else if (channels % *groups != 0)
        cx__error(CX_ERR_SHAPE, "%s: groups %lld does not divide the %lld input channels", op,
                  (long long)*groups, (long long)channels);
    else if (outs % *groups != 0)
        cx__error(CX_ERR_SHAPE, "%s: groups %lld does not divide the %lld output channels", op,
                  (long long)*groups, (long long)outs);
    else
        return true;
    cx__conv_error_shapes(x, w);
    return false;
}

/* The settings resolved against x and weight: everything the kernels and backward need. */
typedef struct {
    int64_t stride[2], pad[2], dil[2], groups;
    int64_t out[2];
} conv2d_setup;

static bool conv2d_check(const cx_tensor *x, const cx_tensor *w, const cx_tensor *b,
                         const cx_conv2d_params *pr, conv2d_setup *s) {
    static const cx_conv2d_params defaults = {0};
    if (!pr) pr = &defaults;
    if (!cx__conv_setting("conv2d", "stride", pr->stride, 1, s->stride) ||
        !cx__conv_setting("conv2d", "padding", pr->padding, 0, s->pad) ||
        !cx__conv_setting("conv2d", "dilation", pr->dilation, 1, s->dil))
        return false;
    int64_t c = x->shape[1], o = w->shape[0];
    if (!cx__conv_groups("conv2d", pr->groups, c, o, x, w, &s->groups)) return false;
    if (w->shape[1] * s->groups != c) {
        cx__error(CX_ERR_SHAPE, "conv2d: input has %lld channels, weight expects %lld",
                  (long long)c, (long long)(w->shape[1] * s->groups));
        if (s->groups > 1) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", cx_last_error());
            cx__error(CX_ERR_SHAPE, "%s (%lld per group x %lld groups)", msg,
                      (long long)w->shape[1], (long long)s->groups);
        }
        cx__conv_error_shapes(x, w);
        return false;
    }
    if (b && (b->ndim != 1 || b->shape[0] != o)) {
        char sb[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "conv2d: bias %s does not match the weight's %lld output "
                  "channels: expected [%lld]", cx__shape_str(b->ndim, b->shape, sb, sizeof sb),
                  (long long)o, (long long)o);
        cx__conv_error_shapes(x, w);
        return false;
    }
    if (pr->same) {
        if (s->stride[0] != 1 || s->stride[1] != 1 || s->pad[0] || s->pad[1]) {
            cx__error(CX_ERR_ARG, "conv2d: padding 'same' needs stride 1 and no explicit "
                      "padding (stride (%lld, %lld), padding (%lld, %lld))",
                      (long long)s->stride[0], (long long)s->stride[1], (long long)s->pad[0],
                      (long long)s->pad[1]);
            return false;
        }
        /* total dil (k - 1) per dim: half before, the rest (one more if odd) after */
        for (int d = 0; d < 2; d++) {
            s->pad[d] = s->dil[d] * (w->shape[2 + d] - 1) / 2;
            s->out[d] = x->shape[2 + d];
        }
        return true;
    }
    static const char *const dims[2] = {"conv2d: input height", "conv2d: input width"};
    for (int d = 0; d < 2; d++)
        if (!cx__conv_out_size(dims[d], x->shape[2 + d], w->shape[2 + d], s->stride[d],
                               s->pad[d], s->dil[d], false, &s->out[d])) {
            cx__conv_error_shapes(x, w);
            return false;
        }
    return true;
}

/* The kernels' view: image x [C, H, W], grid y [Ho, Wo]. */
static cx_conv_geom geom_of(const cx_tensor *x, const cx_tensor *w, const int64_t *i,
                            const int64_t *out_hw) {
    return (cx_conv_geom){.c = x->shape[1], .h = x->shape[2], .w = x->shape[3],
                          .kh = w->shape[2], .kw = w->shape[3],
                          .sh = i[P_STRIDE], .sw = i[P_STRIDE + 1],
                          .ph = i[P_PAD], .pw = i[P_PAD + 1],
                          .dh = i[P_DIL], .dw = i[P_DIL + 1],
                          .oh = out_hw[0], .ow = out_hw[1]};
}

static void pack_params(const conv2d_setup *s, int64_t *i) {
    memcpy(i + P_STRIDE, s->stride, sizeof s->stride);
    memcpy(i + P_PAD, s->pad, sizeof s->pad);
    memcpy(i + P_DIL, s->dil, sizeof s->dil);
    i[P_GROUPS] = s->groups;
}

cx_tensor *cx_conv2d(cx_tensor *x, cx_tensor *weight, cx_tensor *bias,
                     const cx_conv2d_params *params) {
    cx_tensor *c[3];
    conv2d_setup s;
    if (!cx__conv_inputs("conv2d", x, weight, bias)) return NULL;
    if (!conv2d_check(x, weight, bias, params, &s)) return NULL;
    /* the kernels read dense NCHW; a view is copied, and the copy's backward reaches it */
    if (!cx__conv_contiguous((cx_tensor *[]){x, weight, bias}, c)) return NULL;
    int64_t n = x->shape[0], o = weight->shape[0];
    cx_tensor *y = cx__tensor_empty(CX_DTYPE_F32, 4, (int64_t[]){n, o, s.out[0], s.out[1]});
    int64_t p[CX_NODE_MAX_PARAMS] = {0};
    pack_params(&s, p);
    cx_conv_geom g = geom_of(x, weight, p, s.out);
    if (y && !cx__conv_forward(&g, s.groups, n, o, cx__f32(c[0]), cx__f32(c[1]),
                               c[2] ? cx__f32(c[2]) : NULL, cx__f32(y), false)) {
        cx_tensor_free(y);
        y = NULL;
    }
    y = cx__finish(y, &cx_op_conv2d, c[2] ? 3 : 2, c);
    if (y && y->node) memcpy(y->node->i, p, sizeof p);
    cx__conv_release(c);
    return y;
}

/* y = conv(x, W) + b:  dx = convᵀ(gy, W),  dW = sum_n gy_n · cols(x_n)ᵀ,  db = sum of gy */
static cx_status conv2d_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *x = node->in[0], *w = node->in[1], *b = node->n_in > 2 ? node->in[2] : NULL;
    int64_t n = x->shape[0], o = w->shape[0], groups = node->i[P_GROUPS];
    cx_conv_geom g = geom_of(x, w, node->i, out->shape + 2);
    bool need_b = b && cx__needs_grad(b);
    bool gx_assign = false;
    float *gx = cx__needs_grad(x) ? cx__grad_assign(x, &gx_assign) : NULL;
    float *gw = cx__needs_grad(w) ? cx__grad(w) : NULL, *gb = need_b ? cx__grad(b) : NULL;
    if ((cx__needs_grad(x) && !gx) || (cx__needs_grad(w) && !gw) || (need_b && !gb))
        return cx_last_status();
    if (!cx__conv_backward(&g, groups, n, o, cx__f32(x), gout, cx__f32(w), gx, gx_assign, gw,
                           gb))
        return cx_last_status();
    return CX_OK;
}

/* ---- test rows ---- */

/* run_<name>: cx_conv2d on inputs x, weight (and bias when with_bias) with the given
 * settings. */
#define CONV_RUN(name, with_bias, ...)                                                         \
    static cx_tensor *run_##name(cx_tensor *const *in) {                                       \
        return cx_conv2d(in[0], in[1], with_bias ? in[2] : NULL,                               \
                         &(cx_conv2d_params){__VA_ARGS__});                                    \
    }
CONV_RUN(conv2d_3x3, true, .stride = {0, 0})
CONV_RUN(conv2d_1x1, true, .stride = {0, 0})
CONV_RUN(conv2d_stride2, true, .stride = {2, 2})
CONV_RUN(conv2d_pad1, true, .padding = {1, 1})
CONV_RUN(conv2d_stride2_pad, true, .stride = {2, 1}, .padding = {1, 2})
CONV_RUN(conv2d_same_odd, true, .same = true)
CONV_RUN(conv2d_same_even, true, .same = true)
CONV_RUN(conv2d_same_dil, true, .same = true, .dilation = {2, 1})
CONV_RUN(conv2d_dil2, true, .dilation = {2, 2}, .padding = {1, 0})
CONV_RUN(conv2d_groups2, true, .groups = 2, .padding = {1, 1})
CONV_RUN(conv2d_depthwise, true, .groups = 3, .padding = {1, 1})
CONV_RUN(conv2d_nobias, false, .stride = {1, 2})
CONV_RUN(conv2d_1x1_stride2, false, .stride = {2, 2})
/* x read through a permuted view [N, H, W, C] -> [N, C, H, W]: copied, gradient reaches x */
static cx_tensor *run_conv2d_permuted(cx_tensor *const *in) {
    cx_tensor *x = cx_permute(in[0], (const int[]){0, 3, 1, 2});
    cx_tensor *y = cx_conv2d(x, in[1], in[2], &(cx_conv2d_params){.padding = {1, 1}});
    cx_tensor_free(x);
    return y;
}

#define CONV_ROW(name_, ...) {.name = #name_, .run = run_##name_, .n_in = 3, .in = {__VA_ARGS__}}
#define CONV_ROW2(name_, ...) {.name = #name_, .run = run_##name_, .n_in = 2, .in = {__VA_ARGS__}}

CX_OP_DEFINE(conv2d, .backward = conv2d_backward,
             .tests = (const cx_op_test[]){
                 CONV_ROW(conv2d_3x3, CX_IN(1, 2, 7, 9), CX_IN(3, 2, 3, 3), CX_IN(3)),
                 CONV_ROW(conv2d_1x1, CX_IN(2, 3, 4, 5), CX_IN(4, 3, 1, 1), CX_IN(4)),
                 CONV_ROW(conv2d_stride2, CX_IN(2, 2, 7, 8), CX_IN(3, 2, 3, 3), CX_IN(3)),
                 CONV_ROW(conv2d_pad1, CX_IN(1, 2, 5, 6), CX_IN(2, 2, 3, 3), CX_IN(2)),
                 CONV_ROW(conv2d_stride2_pad, CX_IN(1, 2, 6, 7), CX_IN(2, 2, 3, 2), CX_IN(2)),
                 CONV_ROW(conv2d_same_odd, CX_IN(1, 2, 5, 6), CX_IN(2, 2, 3, 5), CX_IN(2)),
                 CONV_ROW(conv2d_same_even, CX_IN(2, 2, 5, 6), CX_IN(2, 2, 2, 4), CX_IN(2)),
                 CONV_ROW(conv2d_same_dil, CX_IN(1, 2, 6, 5), CX_IN(2, 2, 2, 3), CX_IN(2)),
                 CONV_ROW(conv2d_dil2, CX_IN(1, 2, 7, 8), CX_IN(2, 2, 3, 3), CX_IN(2)),
                 CONV_ROW(conv2d_groups2, CX_IN(2, 4, 5, 5), CX_IN(6, 2, 3, 3), CX_IN(6)),
                 CONV_ROW(conv2d_depthwise, CX_IN(1, 3, 5, 6), CX_IN(6, 1, 3, 3), CX_IN(6)),
                 CONV_ROW2(conv2d_nobias, CX_IN(2, 3, 6, 7), CX_IN(2, 3, 3, 2)),
                 CONV_ROW2(conv2d_1x1_stride2, CX_IN(1, 3, 5, 6), CX_IN(2, 3, 1, 1)),
                 CONV_ROW(conv2d_permuted, CX_IN(2, 5, 6, 3), CX_IN(2, 3, 3, 3), CX_IN(2)),
                 {.name = NULL}});
