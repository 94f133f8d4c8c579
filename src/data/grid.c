/*
 * grid.c - many small pictures tiled into one, for feature maps, filters, samples and
 * reconstructions.
 */
#include "data_impl.h"

#include <math.h>
#include <string.h>

/* Scales one picture's n values into 0..1 (a constant picture becomes 0.5). */
static void stretch(float *v, int64_t n) {
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) lo = fminf(lo, v[i]), hi = fmaxf(hi, v[i]);
    float span = hi - lo;
    for (int64_t i = 0; i < n; i++)
        v[i] = !isfinite(v[i]) ? 0.0f : span > 0 ? (v[i] - lo) / span : 0.5f;
}

cx_tensor *cx_image_grid(cx_tensor *images, int columns, int pad, bool normalize_each) {
    if (!cx__check_f32("cx_image_grid", "images", images)) return NULL;
    char s[CX_SHAPE_STR_MAX];
    int nd = images->ndim;
    int64_t c = nd == 4 ? images->shape[1] : 1;
    if ((nd != 3 && nd != 4) || (c != 1 && c != 3) || columns < 0 || pad < 0 || pad > 64) {
        cx__error(CX_ERR_SHAPE, "cx_image_grid: images %s: expected [N, H, W] or [N, C, H, W] "
                  "with C 1 or 3, columns >= 0 and padding 0..64",
                  cx__shape_str(nd, images->shape, s, sizeof s));
        return NULL;
    }
    int64_t n = images->shape[0], h = images->shape[nd - 2], w = images->shape[nd - 1];
    int64_t cols = columns > 0 ? columns : (int64_t)ceil(sqrt((double)(n > 0 ? n : 1)));
    int64_t rows = n > 0 ? (n + cols - 1) / cols : 1;
    int64_t gh = rows * h + (rows + 1) * pad, gw = cols * w + (cols + 1) * pad;
    if (gh > 32768 || gw > 32768) {
        cx__error(CX_ERR_SHAPE, "cx_image_grid: %lld pictures of %lldx%lld make a %lldx%lld "
                  "grid; the limit is 32768 a side", (long long)n, (long long)h, (long long)w,
                  (long long)gh, (long long)gw);
        return NULL;
    }
    /* values in logical order, so any strides work */
    float *v = cx__alloc((size_t)(n * c * h * w > 0 ? n * c * h * w : 1) * sizeof *v);
    cx_tensor *grid = v ? cx__tensor_empty(CX_DTYPE_F32, 3, (int64_t[]){c, gh, gw}) : NULL;
    if (!grid) {
        cx__free(v);
        return NULL;
    }
    cx__copy_strided(images, v);
    float *g = cx__f32(grid); /* (c, gh, gw), padding white-ish grey */
    for (int64_t i = 0; i < c * gh * gw; i++) g[i] = 0.25f;
    for (int64_t k = 0; k < n; k++) {
        float *pic = v + k * c * h * w; /* (c, h, w) */
        if (normalize_each) stretch(pic, c * h * w);
        int64_t y0 = pad + (k / cols) * (h + pad), x0 = pad + (k % cols) * (w + pad);
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t y = 0; y < h; y++)
                memcpy(g + (ch * gh + y0 + y) * gw + x0, pic + (ch * h + y) * w,
                       (size_t)w * sizeof *g);
    }
    cx__free(v);
    return grid;
}
