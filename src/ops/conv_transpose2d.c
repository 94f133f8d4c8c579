/*
 * conv_transpose2d.c - transposed 2-D convolution, as torch.nn.functional.conv_transpose2d.
 *
 * x [N, C, H, W], weight [C, O/G, kh, kw] (torch's layout), bias [O] or none ->
 * y [N, O, Ho, Wo],  Ho = (H - 1) sh - 2 ph + dh (kh - 1) + oph + 1  (likewise Wo).
 * It is the adjoint of conv2d: the conv2d whose input is y-shaped and whose output is x-shaped
 * (same kernel, stride, padding, dilation, groups) maps y to x; this op maps x back. So the
 * conv2d kernels run with the roles swapped, y being the image side and x the grid side:
 *   forward   y  = bias + convᵀ(x, W)          (cx__conv_backward, its dx)
 *   backward  dx += conv(gy, W)                  (cx__conv_forward)
 *             dW += sum_n x_n · cols(gy_n)ᵀ      (cx__conv_backward, its dw)
 *             db += sums of gy per channel
 * output_padding only makes y larger at the bottom/right; those rows get bias alone.
 * Reference: https://pytorch.org/docs/1.13/generated/torch.nn.ConvTranspose2d.html
 */
#include "cortex_impl.h"

#include <string.h>

/* Node parameters: i[0..1] stride, i[2..3] padding, i[4..5] dilation, i[6] groups. */
enum { P_STRIDE = 0, P_PAD = 2, P_DIL = 4, P_GROUPS = 6 };

typedef struct {
    int64_t stride[2], pad[2], outpad[2], dil[2], groups;
    int64_t out[2];
} convt_setup;

static bool convt_check(const cx_tensor *x, const cx_tensor *w, const cx_tensor *b,
                        const cx_conv_transpose2d_params *pr, convt_setup *s) {
    static const cx_conv_transpose2d_params defaults = {0};
    const char *op = "conv_transpose2d";
    if (!pr) pr = &defaults;
    if (!cx__conv_setting(op, "stride", pr->stride, 1, s->stride) ||
        !cx__conv_setting(op, "padding", pr->padding, 0, s->pad) ||
        !cx__conv_setting(op, "output_padding", pr->output_padding, 0, s->outpad) ||
        !cx__conv_setting(op, "dilation", pr->dilation, 1, s->dil))
        return false;
    int64_t c = x->shape[1];
    if (w->shape[0] != c) {
        cx__error(CX_ERR_SHAPE, "%s: input has %lld channels, weight expects %lld", op,
                  (long long)c, (long long)w->shape[0]);
        cx__conv_error_shapes(x, w);
        return false;
    }
    if (!cx__conv_groups(op, pr->groups, c, c, x, w, &s->groups)) return false;
    int64_t o = w->shape[1] * s->groups;
    if (b && (b->ndim != 1 || b->shape[0] != o)) {
        char sb[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "%s: bias %s does not match the %lld output channels "
                  "(%lld per group x %lld groups): expected [%lld]", op,
                  cx__shape_str(b->ndim, b->shape, sb, sizeof sb), (long long)o,
                  (long long)w->shape[1], (long long)s->groups, (long long)o);
        cx__conv_error_shapes(x, w);
        return false;
    }
    static const char *const dims[2] = {"height", "width"};
    for (int d = 0; d < 2; d++) {
        int64_t in = x->shape[2 + d], k = w->shape[2 + d];
        if (s->outpad[d] >= s->stride[d] && s->outpad[d] >= s->dil[d]) {
            cx__error(CX_ERR_ARG, "%s: output_padding %lld (%s) must be smaller than the "
                      "stride %lld or the dilation %lld", op, (long long)s->outpad[d], dims[d],
                      (long long)s->stride[d], (long long)s->dil[d]);
            return false;
        }
        s->out[d] = (in - 1) * s->stride[d] - 2 * s->pad[d] + s->dil[d] * (k - 1) +
                    s->outpad[d] + 1;
        if (s->out[d] < 1) {
            cx__error(CX_ERR_SHAPE, "%s: input %s %lld with kernel %lld, stride %lld, padding "
                      "%lld, dilation %lld, output_padding %lld gives no output: (%lld - 1) * "
                      "%lld - 2 * %lld + %lld * (%lld - 1) + %lld + 1 = %lld", op, dims[d],
                      (long long)in, (long long)k, (long long)s->stride[d],
                      (long long)s->pad[d], (long long)s->dil[d], (long long)s->outpad[d],
                      (long long)in, (long long)s->stride[d], (long long)s->pad[d],
                      (long long)s->dil[d], (long long)k, (long long)s->outpad[d],
                      (long long)s->out[d]);
            cx__conv_error_shapes(x, w);
            return false;
        }
    }
    return true;
}

/* The kernels' view: image y [O, Ho, Wo] (out_hw), grid x [H, W]. */
static cx_conv_geom geom_of(const cx_tensor *x, const cx_tensor *w, const int64_t *i,
                            const int64_t *out_hw) {
    return (cx_conv_geom){.c = w->shape[1] * i[P_GROUPS], .h = out_hw[0], .w = out_hw[1],
                          .kh = w->shape[2], .kw = w->shape[3],
                          .sh = i[P_STRIDE], .sw = i[P_STRIDE + 1],
                          .ph = i[P_PAD], .pw = i[P_PAD + 1],
                          .dh = i[P_DIL], .dw = i[P_DIL + 1],
                          .oh = x->shape[2], .ow = x->shape[3]};
}

cx_tensor *cx_conv_transpose2d(cx_tensor *x, cx_tensor *weight, cx_tensor *bias,
                               const cx_conv_transpose2d_params *params) {
    cx_tensor *c[3];
    convt_setup s;
    if (!cx__conv_inputs("conv_transpose2d", x, weight, bias)) return NULL;
    if (!convt_check(x, weight, bias, params, &s)) return NULL;
    if (!cx__conv_contiguous((cx_tensor *[]){x, weight, bias}, c)) return NULL;
    int64_t n = x->shape[0], ch = x->shape[1], o = weight->shape[1] * s.groups;
    cx_tensor *y = cx__tensor_empty(CX_DTYPE_F32, 4, (int64_t[]){n, o, s.out[0], s.out[1]});
    int64_t p[CX_NODE_MAX_PARAMS] = {0};
    memcpy(p + P_STRIDE, s.stride, sizeof s.stride);
    memcpy(p + P_PAD, s.pad, sizeof s.pad);
    memcpy(p + P_DIL, s.dil, sizeof s.dil);
    p[P_GROUPS] = s.groups;
    cx_conv_geom g = geom_of(x, weight, p, s.out);
    if (y) {
        cx__channel_fill(cx__f32(y), c[2] ? cx__f32(c[2]) : NULL, n, o, s.out[0] * s.out[1]);
        if (!cx__conv_backward(&g, s.groups, n, ch, NULL, cx__f32(c[0]), cx__f32(c[1]),
                               cx__f32(y), false, NULL, NULL)) {
            cx_tensor_free(y);
            y = NULL;
        }
    }
    y = cx__finish(y, &cx_op_conv_transpose2d, c[2] ? 3 : 2, c);
    if (y && y->node) memcpy(y->node->i, p, sizeof p);
    cx__conv_release(c);
    return y;
}

/* y = convᵀ(x, W) + b:  dx = conv(gy, W),  dW = sum_n x_n · cols(gy_n)ᵀ,  db = sum of gy */
static cx_status conv_transpose2d_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *x = node->in[0], *w = node->in[1], *b = node->n_in > 2 ? node->in[2] : NULL;
    int64_t n = x->shape[0], ch = x->shape[1], groups = node->i[P_GROUPS];
    cx_conv_geom g = geom_of(x, w, node->i, out->shape + 2);
    if (cx__needs_grad(x)) {
        bool assign;
        float *gx = cx__grad_assign(x, &assign);
        if (!gx || !cx__conv_forward(&g, groups, n, ch, gout, cx__f32(w), NULL, gx, !assign))
            return cx_last_status();
    }
    if (cx__needs_grad(w)) {
        float *gw = cx__grad(w);
        if (!gw ||
            !cx__conv_backward(&g, groups, n, ch, gout, cx__f32(x), NULL, NULL, false, gw, NULL))
            return cx_last_status();
    }
    if (b && cx__needs_grad(b)) {
        float *gb = cx__grad(b);
        if (!gb) return cx_last_status();
        cx__channel_sum_add(gout, n, g.c, g.h * g.w, gb);
    }
    return CX_OK;
}

/* ---- test rows ---- */

#define CONVT_RUN(name, with_bias, ...)                                                        \
    static cx_tensor *run_##name(cx_tensor *const *in) {                                       \
        return cx_conv_transpose2d(in[0], in[1], with_bias ? in[2] : NULL,                     \
                                   &(cx_conv_transpose2d_params){__VA_ARGS__});                \
    }
CONVT_RUN(conv_transpose2d_basic, true, .stride = {0, 0})
CONVT_RUN(conv_transpose2d_stride2_op1, true, .stride = {2, 2}, .output_padding = {1, 1})
CONVT_RUN(conv_transpose2d_pad, true, .stride = {2, 1}, .padding = {1, 1})
CONVT_RUN(conv_transpose2d_dil2, true, .dilation = {2, 2}, .padding = {1, 0},
          .output_padding = {1, 0})
CONVT_RUN(conv_transpose2d_groups2, true, .groups = 2, .stride = {2, 2})
CONVT_RUN(conv_transpose2d_nobias, false, .stride = {3, 2}, .output_padding = {2, 1})
CONVT_RUN(conv_transpose2d_1x1, true, .stride = {0, 0})

#define CONVT_ROW(name_, n_, ...)                                                              \
    {.name = #name_, .run = run_##name_, .n_in = n_, .in = {__VA_ARGS__}}

CX_OP_DEFINE(conv_transpose2d, .backward = conv_transpose2d_backward,
             .tests = (const cx_op_test[]){
                 CONVT_ROW(conv_transpose2d_basic, 3, CX_IN(1, 2, 4, 5), CX_IN(2, 3, 3, 3),
                           CX_IN(3)),
                 CONVT_ROW(conv_transpose2d_stride2_op1, 3, CX_IN(2, 2, 3, 4),
                           CX_IN(2, 2, 3, 3), CX_IN(2)),
                 CONVT_ROW(conv_transpose2d_pad, 3, CX_IN(1, 3, 4, 3), CX_IN(3, 2, 3, 2),
                           CX_IN(2)),
                 CONVT_ROW(conv_transpose2d_dil2, 3, CX_IN(1, 2, 4, 4), CX_IN(2, 2, 3, 2),
                           CX_IN(2)),
                 CONVT_ROW(conv_transpose2d_groups2, 3, CX_IN(1, 4, 3, 3), CX_IN(4, 3, 2, 3),
                           CX_IN(6)),
                 CONVT_ROW(conv_transpose2d_nobias, 2, CX_IN(2, 2, 3, 3), CX_IN(2, 2, 3, 2)),
                 CONVT_ROW(conv_transpose2d_1x1, 3, CX_IN(2, 3, 3, 4), CX_IN(3, 2, 1, 1),
                           CX_IN(2)),
                 {.name = NULL}});
