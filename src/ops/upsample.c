/*
 * upsample.c - resizing NCHW images to a given size, as torch.nn.functional.interpolate with
 * size= (torch 1.13): nearest and bilinear (align_corners true or false).
 *
 * Along one axis (input n, output o):
 *   nearest:  src = min(floor(dst * (float)n / o), n - 1), in float as torch computes it.
 *   bilinear: align_corners: src = dst * (n - 1) / (o - 1) (0 when o = 1);
 *             otherwise src = max((dst + 0.5) * n / o - 0.5, 0);
 *             i0 = floor(src), i1 = min(i0 + 1, n - 1), weight of i1 = src - i0.
 * The taps and weights of both axes are computed once per call into a temporary table; each
 * (n, c) plane then reads it, so planes are split across threads.
 */
#include "cortex_impl.h"

#include <math.h>

/* One axis' taps: output i reads i0[i] (weight 1 - l[i]) and i1[i] (weight l[i]). */
typedef struct {
    int64_t *i0, *i1;
    float *l;
} taps;

static void taps_fill(int64_t n, int64_t o, cx_upsample_mode mode, bool align, taps *t) {
    float ratio = (float)n / (float)o;
    float scale = align ? (o > 1 ? (float)(n - 1) / (float)(o - 1) : 0.0f) : ratio;
    for (int64_t i = 0; i < o; i++) {
        if (mode == CX_UPSAMPLE_NEAREST) {
            int64_t k = (int64_t)floorf((float)i * ratio);
            t->i0[i] = t->i1[i] = k < n - 1 ? k : n - 1;
            t->l[i] = 0.0f;
            continue;
        }
        float src = align ? scale * (float)i : scale * ((float)i + 0.5f) - 0.5f;
        if (src < 0.0f) src = 0.0f;
        int64_t k = (int64_t)src; /* floor: src >= 0 */
        if (k > n - 1) k = n - 1;
        float l = src - (float)k;
        t->i0[i] = k;
        t->i1[i] = k < n - 1 ? k + 1 : k;
        t->l[i] = l < 0.0f ? 0.0f : (l > 1.0f ? 1.0f : l);
    }
}

/* Rows then columns, in one cx__temp_alloc block (free with cx__temp_free(rows->i0)). */
static bool taps_make(int64_t h, int64_t w, int64_t oh, int64_t ow, cx_upsample_mode mode,
                      bool align, taps *rows, taps *cols) {
    int64_t n = oh + ow;
    int64_t *ib = cx__temp_alloc((size_t)n * (2 * sizeof(int64_t) + sizeof(float)));
    if (!ib) return false;
    *rows = (taps){.i0 = ib, .i1 = ib + n, .l = (float *)(ib + 2 * n)};
    *cols = (taps){.i0 = ib + oh, .i1 = ib + n + oh, .l = rows->l + oh};
    taps_fill(h, oh, mode, align, rows);
    taps_fill(w, ow, mode, align, cols);
    return true;
}

/* y [oh, ow] from x [h, w]. Nearest copies its one tap (i0): weighting the unused taps by 0
 * would turn an infinite input into NaN. */
CX_VECTORIZE
static void resize_plane(const taps *r, const taps *c, bool nearest, int64_t w, int64_t oh,
                         int64_t ow, const float *x, float *y) {
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *x0 = x + r->i0[oy] * w, *x1 = x + r->i1[oy] * w;
        float l1 = r->l[oy], l0 = 1.0f - l1;
        float *yr = y + oy * ow;
        if (nearest) {
            for (int64_t o = 0; o < ow; o++) yr[o] = x0[c->i0[o]];
            continue;
        }
        for (int64_t o = 0; o < ow; o++) {
            float m1 = c->l[o], m0 = 1.0f - m1;
            int64_t a = c->i0[o], b = c->i1[o];
            yr[o] = l0 * (m0 * x0[a] + m1 * x0[b]) + l1 * (m0 * x1[a] + m1 * x1[b]);
        }
    }
}

/* The transpose of resize_plane: each output's gradient goes back to its four taps with the
 * same weights (taps repeat across outputs, so this loop scatters and is not vectorised). */
static void resize_grad_plane(const taps *r, const taps *c, bool nearest, int64_t w,
                              int64_t oh, int64_t ow, const float *gy, float *gx) {
    for (int64_t oy = 0; oy < oh; oy++) {
        float *g0 = gx + r->i0[oy] * w, *g1 = gx + r->i1[oy] * w;
        float l1 = r->l[oy], l0 = 1.0f - l1;
        const float *gr = gy + oy * ow;
        if (nearest) {
            for (int64_t o = 0; o < ow; o++) g0[c->i0[o]] += gr[o];
            continue;
        }
        for (int64_t o = 0; o < ow; o++) {
            float m1 = c->l[o], m0 = 1.0f - m1, v = gr[o];
            int64_t a = c->i0[o], b = c->i1[o];
            g0[a] += l0 * m0 * v;
            g0[b] += l0 * m1 * v;
            g1[a] += l1 * m0 * v;
            g1[b] += l1 * m1 * v;
        }
    }
}

cx_tensor *cx_upsample2d(cx_tensor *x, int64_t out_h, int64_t out_w, cx_upsample_mode mode,
                         bool align_corners) {
    const char *op = "upsample2d";
    char s[CX_SHAPE_STR_MAX];
    if (!cx__check_f32(op, "x", x)) return NULL;
    cx__shape_str(x->ndim, x->shape, s, sizeof s);
    if (x->ndim != 4 || x->shape[2] < 1 || x->shape[3] < 1) {
        cx__error(CX_ERR_SHAPE, "%s: x must be [N, C, H, W] with H, W >= 1, got %s", op, s);
        return NULL;
    }
    if (mode != CX_UPSAMPLE_NEAREST && mode != CX_UPSAMPLE_BILINEAR) {
        cx__error(CX_ERR_ARG, "%s: unknown mode %d (nearest %d, bilinear %d)", op, (int)mode,
                  CX_UPSAMPLE_NEAREST, CX_UPSAMPLE_BILINEAR);
        return NULL;
    }
    if (align_corners && mode == CX_UPSAMPLE_NEAREST) {
        cx__error(CX_ERR_ARG, "%s: align_corners applies to bilinear only, not nearest", op);
        return NULL;
    }
    if (out_h < 1 || out_w < 1 || out_h > INT32_MAX || out_w > INT32_MAX) {
        cx__error(CX_ERR_SHAPE, "%s: output %lldx%lld for x %s: both sides must be in 1..2^31", op,
                  (long long)out_h, (long long)out_w, s);
        return NULL;
    }
    cx_tensor *xc = cx_contiguous(x);
    if (!xc) return NULL;
    const int64_t shape[4] = {x->shape[0], x->shape[1], out_h, out_w};
    cx_tensor *y = cx__tensor_empty(CX_DTYPE_F32, 4, shape);
    int64_t h = x->shape[2], w = x->shape[3], planes = shape[0] * shape[1];
    taps r, c;
    if (!y || !taps_make(h, w, out_h, out_w, mode, align_corners, &r, &c)) {
        cx_tensor_free(y);
        cx_tensor_free(xc);
        return NULL;
    }
    const float *xd = cx__f32(xc);
    float *yd = cx__f32(y);
#pragma omp parallel for if (planes > 1 && planes * out_h * out_w > CX_PARALLEL_MIN)
    for (int64_t p = 0; p < planes; p++)
        resize_plane(&r, &c, mode == CX_UPSAMPLE_NEAREST, w, out_h, out_w, xd + p * h * w,
                     yd + p * out_h * out_w);
    cx__temp_free(r.i0);
    y = cx__finish(y, &cx_op_upsample2d, 1, &xc);
    if (y && y->node) {
        y->node->i[0] = mode;
        y->node->i[1] = align_corners;
    }
    cx_tensor_free(xc);
    return y;
}

/* y is linear in x with the tap weights: dx[tap] += weight * g. */
static cx_status upsample2d_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *x = node->in[0];
    if (!cx__needs_grad(x)) return CX_OK;
    float *gx = cx__grad(x);
    if (!gx) return cx_last_status();
    int64_t h = x->shape[2], w = x->shape[3], oh = out->shape[2], ow = out->shape[3];
    int64_t planes = x->shape[0] * x->shape[1];
    taps r, c;
    if (!taps_make(h, w, oh, ow, (cx_upsample_mode)node->i[0], node->i[1], &r, &c))
        return cx_last_status();
#pragma omp parallel for if (planes > 1 && planes * oh * ow > CX_PARALLEL_MIN)
    for (int64_t p = 0; p < planes; p++)
        resize_grad_plane(&r, &c, node->i[0] == CX_UPSAMPLE_NEAREST, w, oh, ow,
                          gout + p * oh * ow, gx + p * h * w);
    cx__temp_free(r.i0);
    return CX_OK;
}

/* ---- test rows ---- */

#define UPSAMPLE_RUN(name, oh, ow, mode, align)                                                    \
    static cx_tensor *run_##name(cx_tensor *const *x) {                                            \
        return cx_upsample2d(x[0], oh, ow, mode, align);                                           \
    }
UPSAMPLE_RUN(nearest_x2, 6, 8, CX_UPSAMPLE_NEAREST, false)
UPSAMPLE_RUN(nearest_frac, 7, 10, CX_UPSAMPLE_NEAREST, false)
UPSAMPLE_RUN(nearest_down, 4, 5, CX_UPSAMPLE_NEAREST, false)
UPSAMPLE_RUN(bilinear_x2, 6, 8, CX_UPSAMPLE_BILINEAR, false)
UPSAMPLE_RUN(bilinear_frac, 7, 10, CX_UPSAMPLE_BILINEAR, false)
UPSAMPLE_RUN(bilinear_down, 4, 5, CX_UPSAMPLE_BILINEAR, false)
UPSAMPLE_RUN(bilinear_ac, 7, 10, CX_UPSAMPLE_BILINEAR, true)
UPSAMPLE_RUN(bilinear_ac_line, 1, 9, CX_UPSAMPLE_BILINEAR, true)
/* bilinear_frac on a transposed view of x (copied by the op, the gradient passed on) */
static cx_tensor *run_bilinear_t(cx_tensor *const *x) {
    cx_tensor *xt = cx_transpose(x[0], 2, 3), *y = run_bilinear_frac(&xt);
    cx_tensor_free(xt);
    return y;
}

/* A row named upsample2d_<id> on one input of the given shape. */
#define ROW(id, ...)                                                                             \
    {                                                                                              \
        .name = "upsample2d_" #id, .run = run_##id, .n_in = 1, .in = { CX_IN(__VA_ARGS__) }    \
    }

CX_OP_DEFINE(upsample2d, .backward = upsample2d_backward,
             .tests = (const cx_op_test[]){ROW(nearest_x2, 2, 2, 3, 4),
                                           ROW(nearest_frac, 1, 2, 5, 7),
                                           ROW(nearest_down, 1, 2, 7, 9),
                                           ROW(bilinear_x2, 2, 2, 3, 4),
                                           ROW(bilinear_frac, 1, 2, 5, 7),
                                           ROW(bilinear_down, 1, 2, 7, 9),
                                           ROW(bilinear_ac, 1, 2, 5, 7),
                                           ROW(bilinear_ac_line, 1, 2, 3, 4),
                                           ROW(bilinear_t, 1, 2, 7, 5),
                                           {.name = NULL}});
