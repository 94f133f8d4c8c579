/*
 * pool.c - 2-D pooling of NCHW images: max (with dilation), average (padding counted or not)
 * and adaptive average, as torch.nn.functional.max_pool2d, avg_pool2d and
 * adaptive_avg_pool2d in torch 1.13.
 *
 * Output size along one axis (input n, kernel k, stride s, padding p, dilation d):
 *     o = floor((n + 2p - d(k-1) - 1 + (ceil_mode ? s-1 : 0)) / s) + 1
 * and in ceil mode one less when the last window would start at or past n + p: torch's rule
 * that every window starts inside the input or its left padding. A window wider than the
 * padded input is refused, also in ceil mode (where torch would still give one output).
 *
 * Every (n, c) plane is pooled on its own, so planes are split across threads. The window
 * kernels loop over the window's taps (ky, kx) outside and the output columns inside: for one
 * tap the columns read x at a fixed stride, which vectorises, and visiting taps in row-major
 * order keeps torch's choice among equal maxima (the first; a NaN wins over any number).
 */
#include "cortex_impl.h"

#include <math.h>
#include <string.h>

/* A plane's size, its output's size and the window settings. */
typedef struct {
    int64_t h, w, oh, ow;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    bool ceil_mode, exclude_pad;
} geom;

/* Settings travel in node->i: kh kw sh sw ph pw dh dw ceil exclude. */
static void geom_save(cx_node *node, const geom *g) {
    const int64_t v[] = {g->kh, g->kw, g->sh, g->sw,        g->ph,
                         g->pw, g->dh, g->dw, g->ceil_mode, g->exclude_pad};
    for (int k = 0; k < 10; k++)
        node->i[k] = v[k];
}

static geom geom_load(const cx_node *node, const cx_tensor *x, const cx_tensor *out) {
    const int64_t *v = node->i;
    return (geom){.h = x->shape[2],
                  .w = x->shape[3],
                  .oh = out->shape[2],
                  .ow = out->shape[3],
                  .kh = v[0],
                  .kw = v[1],
                  .sh = v[2],
                  .sw = v[3],
                  .ph = v[4],
                  .pw = v[5],
                  .dh = v[6],
                  .dw = v[7],
                  .ceil_mode = v[8],
                  .exclude_pad = v[9]};
}

static int64_t out_size(int64_t n, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
    int64_t span = n + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    int64_t o = (span >= 0 ? span / s : -((-span + s - 1) / s)) + 1;
    if (ceil_mode && (o - 1) * s >= n + p) o--;
    return o;
}

static bool check_nchw(const char *op, const cx_tensor *x) {
    if (x->ndim == 4 && x->shape[2] * x->shape[3] <= INT32_MAX) return true;
    char s[CX_SHAPE_STR_MAX];
    cx__error(CX_ERR_SHAPE, "%s: x must be [N, C, H, W] with H*W below 2^31, got %s", op,
              cx__shape_str(x->ndim, x->shape, s, sizeof s));
    return false;
}

/* Fills g from x [N, C, H, W] and params, or sets an error naming the numbers. */
static bool geom_make(const char *op, const cx_tensor *x, const cx_pool2d_params *p, bool max,
                      geom *g) {
    char s[CX_SHAPE_STR_MAX];
    if (!check_nchw(op, x)) return false;
    cx__shape_str(x->ndim, x->shape, s, sizeof s);
    if (!p) {
        cx__error(CX_ERR_ARG, "%s: params are NULL; the kernel size must be given", op);
        return false;
    }
    if (!max && (p->dilation[0] > 1 || p->dilation[1] > 1)) {
        cx__error(CX_ERR_ARG, "%s: dilation %lldx%lld given; average pooling has none", op,
                  (long long)p->dilation[0], (long long)p->dilation[1]);
        return false;
    }
    *g = (geom){.h = x->shape[2],
                .w = x->shape[3],
                .kh = p->kernel[0],
                .kw = p->kernel[1],
                .sh = p->stride[0] ? p->stride[0] : p->kernel[0],
                .sw = p->stride[1] ? p->stride[1] : p->kernel[1],
                .ph = p->padding[0],
                .pw = p->padding[1],
                .dh = p->dilation[0] ? p->dilation[0] : 1,
                .dw = p->dilation[1] ? p->dilation[1] : 1,
                .ceil_mode = p->ceil_mode,
                .exclude_pad = p->exclude_pad};
    const int64_t lim = INT32_MAX;
    bool bad = g->kh < 1 || g->kw < 1 || g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 ||
               g->ph < 0 || g->pw < 0 || g->kh > lim || g->kw > lim || g->sh > lim || g->sw > lim ||
               g->dh > lim || g->dw > lim || g->ph > lim || g->pw > lim;
    if (bad) {
        cx__error(CX_ERR_ARG,
                  "%s: kernel %lldx%lld, stride %lldx%lld and dilation %lldx%lld must be "
                  "positive and padding %lldx%lld not negative (all below 2^31)",
                  op, (long long)g->kh, (long long)g->kw, (long long)g->sh, (long long)g->sw,
                  (long long)g->dh, (long long)g->dw, (long long)g->ph, (long long)g->pw);
        return false;
    }
    if (2 * g->ph > g->kh || 2 * g->pw > g->kw) {
        cx__error(CX_ERR_ARG,
                  "%s: padding %lldx%lld is more than half the kernel %lldx%lld (x %s)",
                  op, (long long)g->ph, (long long)g->pw, (long long)g->kh, (long long)g->kw, s);
        return false;
    }
    int64_t eh = g->dh * (g->kh - 1) + 1, ew = g->dw * (g->kw - 1) + 1;
    if (eh > g->h + 2 * g->ph || ew > g->w + 2 * g->pw) {
        cx__error(CX_ERR_SHAPE,
                  "%s: kernel %lldx%lld (dilation %lldx%lld) spans %lldx%lld, more than "
                  "the padded input %lldx%lld (x %s, padding %lldx%lld)",
                  op, (long long)g->kh, (long long)g->kw, (long long)g->dh, (long long)g->dw,
                  (long long)eh, (long long)ew, (long long)(g->h + 2 * g->ph),
                  (long long)(g->w + 2 * g->pw), s, (long long)g->ph, (long long)g->pw);
        return false;
    }
    g->oh = out_size(g->h, g->kh, g->sh, g->ph, g->dh, g->ceil_mode);
    g->ow = out_size(g->w, g->kw, g->sw, g->pw, g->dw, g->ceil_mode);
    if (g->oh < 1 || g->ow < 1) {
        cx__error(CX_ERR_SHAPE, "%s: x %s gives an output of %lldx%lld, which is too small", op, s,
                  (long long)g->oh, (long long)g->ow);
        return false;
    }
    return true;
}

/* Output columns o in [*lo, *hi) whose tap at offset off (kx * dilation) lands inside the
 * row: 0 <= o*s - p + off < n. */
static void tap_range(int64_t n, int64_t out, int64_t s, int64_t p, int64_t off, int64_t *lo,
                      int64_t *hi) {
    int64_t a = p - off, b = n - 1 + p - off;
    *lo = a > 0 ? (a + s - 1) / s : 0;
    *hi = b < 0 ? 0 : (b / s + 1 < out ? b / s + 1 : out);
    if (*lo > *hi) *lo = *hi;
}

/* Whether planes of per_plane work each (taps read) are worth splitting across threads. */
static bool parallel_worth(int64_t planes, int64_t per_plane) {
    return planes > 1 && planes * per_plane > CX_PARALLEL_MIN;
}

/* ---- max pooling ---- */

/* y [oh, ow] = window maxima of x [h, w]; idx [oh, ow] = their positions in x (h*w plane
 * index), -1 for a window lying wholly in the padding (then y is -inf, as in torch). */
CX_VECTORIZE
static void max_plane(const geom *g, const float *x, float *y, int32_t *idx) {
    for (int64_t i = 0; i < g->oh * g->ow; i++) {
        y[i] = -INFINITY;
        idx[i] = -1;
    }
    for (int64_t oy = 0; oy < g->oh; oy++) {
        float *yr = y + oy * g->ow;
        int32_t *ir = idx + oy * g->ow;
        for (int64_t ky = 0; ky < g->kh; ky++) {
            int64_t iy = oy * g->sh - g->ph + ky * g->dh;
            if (iy < 0 || iy >= g->h) continue;
            for (int64_t kx = 0; kx < g->kw; kx++) {
                int64_t lo, hi, base = iy * g->w + kx * g->dw - g->pw, s = g->sw;
                tap_range(g->w, g->ow, s, g->pw, kx * g->dw, &lo, &hi);
                for (int64_t o = lo; o < hi; o++) {
                    float v = x[base + o * s];
                    bool take = v > yr[o] || v != v;
                    yr[o] = take ? v : yr[o];
                    ir[o] = take ? (int32_t)(base + o * s) : ir[o];
                }
            }
        }
    }
}

cx_tensor *cx_max_pool2d(cx_tensor *x, const cx_pool2d_params *params) {
    geom g;
    if (!cx__check_f32("max_pool2d", "x", x) || !geom_make("max_pool2d", x, params, true, &g))
        return NULL;
    cx_tensor *xc = cx_contiguous(x);
    if (!xc) return NULL;
    const int64_t shape[4] = {x->shape[0], x->shape[1], g.oh, g.ow};
    cx_tensor *y = cx__tensor_empty(CX_DTYPE_F32, 4, shape);
    cx_tensor *idx = y ? cx__tensor_empty(CX_DTYPE_I32, 4, shape) : NULL; /* (N, C, Ho, Wo) */
    if (!idx) {
        cx_tensor_free(y);
        cx_tensor_free(xc);
        return NULL;
    }
    int64_t planes = shape[0] * shape[1], in_plane = g.h * g.w, out_plane = g.oh * g.ow;
    const float *xd = cx__f32(xc);
    float *yd = cx__f32(y);
    int32_t *id = cx__i32(idx);
#pragma omp parallel for if (parallel_worth(planes, out_plane * g.kh * g.kw))
    for (int64_t p = 0; p < planes; p++)
        max_plane(&g, xd + p * in_plane, yd + p * out_plane, id + p * out_plane);
    y = cx__finish(y, &cx_op_max_pool2d, 1, &xc);
    if (y && y->node) {
        y->node->saved = idx; /* the node takes our reference */
        geom_save(y->node, &g);
    } else {
        cx_tensor_free(idx);
    }
    cx_tensor_free(xc);
    return y;
}

/* d max/dx = 1 at the window's chosen element: gx[idx] += g, one plane at a time. */
static cx_status max_pool2d_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *x = node->in[0];
    if (!cx__needs_grad(x)) return CX_OK;
    bool assign;
    float *gx = cx__grad_assign(x, &assign);
    if (!gx) return cx_last_status();
    int64_t planes = x->shape[0] * x->shape[1], in_plane = x->shape[2] * x->shape[3];
    int64_t out_plane = out->shape[2] * out->shape[3];
    const int32_t *idx = cx__i32(node->saved);
#pragma omp parallel for if (parallel_worth(planes, out_plane))
    for (int64_t p = 0; p < planes; p++) {
        const int32_t *ip = idx + p * out_plane;
        const float *gp = gout + p * out_plane;
        float *gxp = gx + p * in_plane;
        if (assign) memset(gxp, 0, (size_t)in_plane * sizeof *gxp); /* threaded, plane hot */
        for (int64_t i = 0; i < out_plane; i++)
            if (ip[i] >= 0) gxp[ip[i]] += gp[i];
    }
    return CX_OK;
}

/* ---- average pooling ---- */

/* Rows (or columns) of window o that torch divides by: the window clipped to the padded
 * input, or with exclude_pad to the input itself. */
static int64_t avg_extent(int64_t o, int64_t s, int64_t p, int64_t k, int64_t n, bool exclude) {
    int64_t a = o * s - p, b = a + k < n + p ? a + k : n + p;
    if (exclude) {
        a = a > 0 ? a : 0;
        b = b < n ? b : n;
    }
    return b > a ? b - a : 0;
}

/* div [oh + ow]: the row extents of the output rows, then the column extents of the output
 * columns; a window's divisor is the product. From cx__temp_alloc; NULL + error. */
static float *avg_divisors(const geom *g) {
    float *div = cx__temp_alloc((size_t)(g->oh + g->ow) * sizeof *div);
    if (!div) return NULL;
    for (int64_t o = 0; o < g->oh; o++)
        div[o] = (float)avg_extent(o, g->sh, g->ph, g->kh, g->h, g->exclude_pad);
    for (int64_t o = 0; o < g->ow; o++)
        div[g->oh + o] = (float)avg_extent(o, g->sw, g->pw, g->kw, g->w, g->exclude_pad);
    return div;
}

/* y [oh, ow] = window sums of x [h, w] over the divisors div (see avg_divisors); a window
 * with nothing to divide by (all padding, excluded) gives 0, as in torch. */
CX_VECTORIZE
static void avg_plane(const geom *g, const float *div, const float *x, float *y) {
    for (int64_t oy = 0; oy < g->oh; oy++) {
        float *yr = y + oy * g->ow;
        for (int64_t o = 0; o < g->ow; o++)
            yr[o] = 0.0f;
        for (int64_t ky = 0; ky < g->kh; ky++) {
            int64_t iy = oy * g->sh - g->ph + ky;
            if (iy < 0 || iy >= g->h) continue;
            for (int64_t kx = 0; kx < g->kw; kx++) {
                int64_t lo, hi, base = iy * g->w + kx - g->pw, s = g->sw;
                tap_range(g->w, g->ow, s, g->pw, kx, &lo, &hi);
                for (int64_t o = lo; o < hi; o++)
                    yr[o] += x[base + o * s];
            }
        }
        for (int64_t o = 0; o < g->ow; o++) {
            float d = div[oy] * div[g->oh + o];
            yr[o] = d > 0.0f ? yr[o] / d : 0.0f;
        }
    }
}

/* d avg/dx = 1/divisor for every in-image element of the window: gx [h, w] += g / divisor. */
CX_VECTORIZE
static void avg_grad_plane(const geom *g, const float *div, const float *gy, float *gx) {
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const float *gr = gy + oy * g->ow;
        for (int64_t ky = 0; ky < g->kh; ky++) {
            int64_t iy = oy * g->sh - g->ph + ky;
            if (iy < 0 || iy >= g->h) continue;
            for (int64_t kx = 0; kx < g->kw; kx++) {
                int64_t lo, hi, base = iy * g->w + kx - g->pw, s = g->sw;
                tap_range(g->w, g->ow, s, g->pw, kx, &lo, &hi);
                for (int64_t o = lo; o < hi; o++)
                    gx[base + o * s] += gr[o] / (div[oy] * div[g->oh + o]);
            }
        }
    }
}

cx_tensor *cx_avg_pool2d(cx_tensor *x, const cx_pool2d_params *params) {
    geom g;
    if (!cx__check_f32("avg_pool2d", "x", x) || !geom_make("avg_pool2d", x, params, false, &g))
        return NULL;
    cx_tensor *xc = cx_contiguous(x);
    if (!xc) return NULL;
    const int64_t shape[4] = {x->shape[0], x->shape[1], g.oh, g.ow};
    cx_tensor *y = cx__tensor_empty(CX_DTYPE_F32, 4, shape);
    float *div = y ? avg_divisors(&g) : NULL;
    if (!div) {
        cx_tensor_free(y);
        cx_tensor_free(xc);
        return NULL;
    }
    int64_t planes = shape[0] * shape[1], in_plane = g.h * g.w, out_plane = g.oh * g.ow;
    const float *xd = cx__f32(xc);
    float *yd = cx__f32(y);
#pragma omp parallel for if (parallel_worth(planes, out_plane * g.kh * g.kw))
    for (int64_t p = 0; p < planes; p++)
        avg_plane(&g, div, xd + p * in_plane, yd + p * out_plane);
    cx__temp_free(div);
    y = cx__finish(y, &cx_op_avg_pool2d, 1, &xc);
    if (y && y->node) geom_save(y->node, &g);
    cx_tensor_free(xc);
    return y;
}

static cx_status avg_pool2d_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *x = node->in[0];
    if (!cx__needs_grad(x)) return CX_OK;
    float *gx = cx__grad(x);
    if (!gx) return cx_last_status();
    geom g = geom_load(node, x, out);
    float *div = avg_divisors(&g);
    if (!div) return cx_last_status();
    int64_t planes = x->shape[0] * x->shape[1], in_plane = g.h * g.w, out_plane = g.oh * g.ow;
#pragma omp parallel for if (parallel_worth(planes, out_plane * g.kh * g.kw))
    for (int64_t p = 0; p < planes; p++)
        avg_grad_plane(&g, div, gout + p * out_plane, gx + p * in_plane);
    cx__temp_free(div);
    return CX_OK;
}

/* ---- adaptive average pooling ---- */

/* torch's adaptive windows: output i of o over n inputs averages [floor(i n / o),
 * ceil((i+1) n / o)), written so that i * n cannot overflow. */
static int64_t win_start(int64_t i, int64_t o, int64_t n) {
    return i / o * n + i % o * n / o;
}
static int64_t win_end(int64_t i, int64_t o, int64_t n) {
    return 1 + ((i + 1) * n - 1) / o;
}

/* y [oh, ow] = averages of x [h, w] over the adaptive windows, summed in double. */
CX_VECTORIZE
static void adaptive_plane(int64_t h, int64_t w, int64_t oh, int64_t ow, const float *x, float *y) {
    for (int64_t oy = 0; oy < oh; oy++) {
        int64_t y0 = win_start(oy, oh, h), y1 = win_end(oy, oh, h);
        for (int64_t ox = 0; ox < ow; ox++) {
            int64_t x0 = win_start(ox, ow, w), x1 = win_end(ox, ow, w);
            double acc = 0.0;
            for (int64_t iy = y0; iy < y1; iy++) {
                const float *row = x + iy * w;
#pragma omp simd reduction(+ : acc)
                for (int64_t ix = x0; ix < x1; ix++)
                    acc += row[ix];
            }
            y[oy * ow + ox] = (float)(acc / (double)((y1 - y0) * (x1 - x0)));
        }
    }
}

/* d avg/dx = 1/count over each window: gx [h, w] += g / count. */
CX_VECTORIZE
static void adaptive_grad_plane(int64_t h, int64_t w, int64_t oh, int64_t ow, const float *gy,
                                float *gx) {
    for (int64_t oy = 0; oy < oh; oy++) {
        int64_t y0 = win_start(oy, oh, h), y1 = win_end(oy, oh, h);
        for (int64_t ox = 0; ox < ow; ox++) {
            int64_t x0 = win_start(ox, ow, w), x1 = win_end(ox, ow, w);
            float v = gy[oy * ow + ox] / (float)((y1 - y0) * (x1 - x0));
            for (int64_t iy = y0; iy < y1; iy++) {
                float *row = gx + iy * w;
                for (int64_t ix = x0; ix < x1; ix++)
                    row[ix] += v;
            }
        }
    }
}

cx_tensor *cx_adaptive_avg_pool2d(cx_tensor *x, int64_t out_h, int64_t out_w) {
    const char *op = "adaptive_avg_pool2d";
    if (!cx__check_f32(op, "x", x) || !check_nchw(op, x)) return NULL;
    char s[CX_SHAPE_STR_MAX];
    if (out_h < 1 || out_w < 1 || out_h > INT32_MAX || out_w > INT32_MAX || x->shape[2] < 1 ||
        x->shape[3] < 1) {
        cx__error(CX_ERR_SHAPE,
                  "%s: output %lldx%lld from x %s: both sides must be in 1..2^31 "
                  "and the input not empty",
                  op, (long long)out_h, (long long)out_w,
                  cx__shape_str(x->ndim, x->shape, s, sizeof s));
        return NULL;
    }
    cx_tensor *xc = cx_contiguous(x);
    if (!xc) return NULL;
    const int64_t shape[4] = {x->shape[0], x->shape[1], out_h, out_w};
    cx_tensor *y = cx__tensor_empty(CX_DTYPE_F32, 4, shape);
    if (y) {
        int64_t h = x->shape[2], w = x->shape[3], planes = shape[0] * shape[1];
        const float *xd = cx__f32(xc);
        float *yd = cx__f32(y);
#pragma omp parallel for if (parallel_worth(planes, h * w + out_h * out_w))
        for (int64_t p = 0; p < planes; p++)
            adaptive_plane(h, w, out_h, out_w, xd + p * h * w, yd + p * out_h * out_w);
        y = cx__finish(y, &cx_op_adaptive_avg_pool2d, 1, &xc);
    }
    cx_tensor_free(xc);
    return y;
}

static cx_status adaptive_avg_pool2d_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *x = node->in[0];
    if (!cx__needs_grad(x)) return CX_OK;
    float *gx = cx__grad(x);
    if (!gx) return cx_last_status();
    int64_t h = x->shape[2], w = x->shape[3], oh = out->shape[2], ow = out->shape[3];
    int64_t planes = x->shape[0] * x->shape[1];
#pragma omp parallel for if (parallel_worth(planes, h * w + oh * ow))
    for (int64_t p = 0; p < planes; p++)
        adaptive_grad_plane(h, w, oh, ow, gout + p * oh * ow, gx + p * h * w);
    return CX_OK;
}

/* ---- test rows ---- */

#define POOL_RUN(fn, name, ...)                                                                    \
    static cx_tensor *run_##name(cx_tensor *const *x) {                                            \
        return fn(x[0], &(cx_pool2d_params){__VA_ARGS__});                                         \
    }

POOL_RUN(cx_max_pool2d, max_k2, .kernel = {2, 2})
POOL_RUN(cx_max_pool2d, max_odd, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1})
POOL_RUN(cx_max_pool2d, max_ceil, .kernel = {2, 2}, .ceil_mode = true)
POOL_RUN(cx_max_pool2d, max_ceil_rule, .kernel = {2, 2}, .padding = {1, 1}, .ceil_mode = true)
POOL_RUN(cx_max_pool2d, max_dilated, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1},
         .dilation = {2, 2}, .ceil_mode = true)
POOL_RUN(cx_max_pool2d, max_rect, .kernel = {2, 3}, .stride = {1, 2}, .padding = {1, 0},
         .dilation = {1, 2})
POOL_RUN(cx_avg_pool2d, avg_k2, .kernel = {2, 2})
POOL_RUN(cx_avg_pool2d, avg_pad, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1})
POOL_RUN(cx_avg_pool2d, avg_exclude, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1},
         .exclude_pad = true)
POOL_RUN(cx_avg_pool2d, avg_ceil, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1},
         .ceil_mode = true)
POOL_RUN(cx_avg_pool2d, avg_ceil_exclude, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1},
         .ceil_mode = true, .exclude_pad = true)
POOL_RUN(cx_avg_pool2d, avg_rect, .kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 0})

/* max_odd on a transposed view of x: the op copies it, and the copy passes the gradient on */
static cx_tensor *run_max_t(cx_tensor *const *x) {
    cx_tensor *xt = cx_transpose(x[0], 2, 3), *y = run_max_odd(&xt);
    cx_tensor_free(xt);
    return y;
}

static cx_tensor *run_adaptive_1x1(cx_tensor *const *x) {
    return cx_adaptive_avg_pool2d(x[0], 1, 1);
}
static cx_tensor *run_adaptive_3x2(cx_tensor *const *x) {
    return cx_adaptive_avg_pool2d(x[0], 3, 2);
}
static cx_tensor *run_adaptive_5x4(cx_tensor *const *x) {
    return cx_adaptive_avg_pool2d(x[0], 5, 4);
}
static cx_tensor *run_adaptive_up(cx_tensor *const *x) {
    return cx_adaptive_avg_pool2d(x[0], 5, 7);
}

/* A row named <prefix>_<suffix> running run_<fn> on one input of the given shape. */
#define ROW(prefix, suffix, fn, ...)                                                              \
    {                                                                                              \
        .name = #prefix "_" #suffix, .run = run_##fn, .n_in = 1, .in = { CX_IN(__VA_ARGS__) }     \
    }

/* Max-pool rows: uniform values are distinct, so the finite differences see no ties. */
CX_OP_DEFINE(max_pool2d, .backward = max_pool2d_backward,
             .tests = (const cx_op_test[]){ROW(max_pool2d, k2, max_k2, 2, 3, 6, 8),
                                           ROW(max_pool2d, odd, max_odd, 2, 2, 7, 9),
                                           ROW(max_pool2d, ceil, max_ceil, 1, 2, 7, 9),
                                           ROW(max_pool2d, ceil_rule, max_ceil_rule, 1, 2, 5, 6),
                                           ROW(max_pool2d, dilated, max_dilated, 2, 2, 7, 9),
                                           ROW(max_pool2d, rect, max_rect, 1, 3, 5, 9),
                                           ROW(max_pool2d, t, max_t, 1, 2, 9, 7),
                                           {.name = NULL}});
CX_OP_DEFINE(avg_pool2d, .backward = avg_pool2d_backward,
             .tests = (const cx_op_test[]){
                 ROW(avg_pool2d, k2, avg_k2, 2, 3, 6, 8),
                 ROW(avg_pool2d, pad, avg_pad, 2, 2, 7, 9),
                 ROW(avg_pool2d, exclude, avg_exclude, 2, 2, 7, 9),
                 ROW(avg_pool2d, ceil, avg_ceil, 1, 2, 6, 8),
                 ROW(avg_pool2d, ceil_exclude, avg_ceil_exclude, 1, 2, 6, 8),
                 ROW(avg_pool2d, rect, avg_rect, 1, 3, 7, 5),
                 {.name = NULL}});
CX_OP_DEFINE(adaptive_avg_pool2d, .backward = adaptive_avg_pool2d_backward,
             .tests = (const cx_op_test[]){ROW(adaptive_avg_pool2d, 1x1, adaptive_1x1, 2, 3, 7, 9),
                                           ROW(adaptive_avg_pool2d, 3x2, adaptive_3x2, 2, 3, 7, 9),
                                           ROW(adaptive_avg_pool2d, 5x4, adaptive_5x4, 1, 2, 7, 9),
                                           ROW(adaptive_avg_pool2d, up, adaptive_up, 1, 2, 3, 4),
                                           {.name = NULL}});
