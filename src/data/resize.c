/*
 * resize.c - image resizing with a triangle filter, one axis at a time: bilinear when
 * enlarging, an area-weighted (tent of the shrink factor's width) average when shrinking, so
 * shrinking does not alias. Samples beyond the edge repeat the edge pixel.
 *
 * Cortex does this itself rather than with stb_image_resize because that library aborts on
 * an internal assertion for some size pairs (shrinking 9 rows to 7, for one), and a picture
 * from a stranger must never crash the program.
 */
#include "data_impl.h"

#include <math.h>

/* The taps of one axis: output o reads input index[o * width + k] with weight[...]. */
typedef struct {
    int64_t width;
    int64_t *index;
    float *weight;
} axis_taps;

/* Taps from n inputs to m outputs. Output o's centre lies at (o + 0.5) n / m - 0.5 in input
 * pixels; each input within radius r = max(1, n / m) of it weighs 1 - distance / r, and the
 * weights are scaled to sum to 1. */
static bool taps_new(int64_t n, int64_t m, axis_taps *t) {
    double scale = (double)n / (double)m, r = scale > 1 ? scale : 1;
    t->width = 2 * (int64_t)ceil(r) + 1;
    t->index = cx__alloc((size_t)(m * t->width) * sizeof *t->index);
    t->weight = t->index ? cx__alloc((size_t)(m * t->width) * sizeof *t->weight) : NULL;
    if (!t->weight) return false;
    for (int64_t o = 0; o < m; o++) {
        double centre = ((double)o + 0.5) * scale - 0.5, total = 0;
        int64_t first = (int64_t)floor(centre - r) + 1;
        int64_t *idx = t->index + o * t->width;
        float *w = t->weight + o * t->width;
        for (int64_t k = 0; k < t->width; k++) {
            int64_t i = first + k;
            double d = fabs((double)i - centre), v = d < r ? 1 - d / r : 0;
            idx[k] = i < 0 ? 0 : i >= n ? n - 1 : i;
            w[k] = (float)v;
            total += v;
        }
        for (int64_t k = 0; k < t->width; k++) w[k] = (float)(w[k] / total);
    }
    return true;
}

static void taps_free(axis_taps *t) {
    cx__free(t->index);
    cx__free(t->weight);
}

/* src [outer, n, inner] -> dst [outer, m, inner] along the middle axis. */
static bool resample_axis(const float *src, float *dst, int64_t outer, int64_t n, int64_t m,
                          int64_t inner) {
    axis_taps t = {0};
    if (!taps_new(n, m, &t)) {
        taps_free(&t);
        return false;
    }
    for (int64_t a = 0; a < outer; a++) {
        const float *s = src + a * n * inner;
        for (int64_t o = 0; o < m; o++) {
            float *d = dst + (a * m + o) * inner;
            for (int64_t j = 0; j < inner; j++) d[j] = 0;
            for (int64_t k = 0; k < t.width; k++) {
                float w = t.weight[o * t.width + k];
                if (w == 0) continue;
                const float *row = s + t.index[o * t.width + k] * inner;
                for (int64_t j = 0; j < inner; j++) d[j] += w * row[j];
            }
        }
    }
    taps_free(&t);
    return true;
}

bool cx__resize_hwc(const float *src, int64_t h, int64_t w, int64_t c, float *dst, int64_t oh,
                    int64_t ow) {
    /* The intermediate is [h, ow, c] going across first, [oh, w, c] going down first: take
     * the smaller (at most the geometric mean of the input and output sizes). */
    bool across_first = h * ow <= oh * w;
    int64_t mid = across_first ? h * ow : oh * w;
    float *tmp = cx__alloc((size_t)(mid * c) * sizeof *tmp);
    if (!tmp) return false;
    bool ok = across_first ? resample_axis(src, tmp, h, w, ow, c) &&
                                 resample_axis(tmp, dst, 1, h, oh, ow * c)
                           : resample_axis(src, tmp, 1, h, oh, w * c) &&
                                 resample_axis(tmp, dst, oh, w, ow, c);
    cx__free(tmp);
    return ok;
}
