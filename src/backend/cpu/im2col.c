/*
 * im2col.c - the window gather behind convolutions and its adjoint.
 *
 * im2col lays the kh x kw windows of an image [c, h, w] out as a matrix cols
 * [c * kh * kw, oh * ow], so a convolution becomes one sgemm W [o, c kh kw] · cols; col2im adds
 * such a matrix back onto the pixels it came from (the gradient of im2col, and the core of a
 * transposed convolution). Both walk one (channel, tap) row at a time: for each grid row the
 * columns whose pixel lies inside the image form one run, found by arithmetic, so the inner
 * loop has no bounds test and is a memcpy (or a plain add) when the stride is 1. Off-image
 * entries of cols are zeros, which is the zero padding.
 */
#include "cortex_impl.h"

#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

/* Work (elements of cols) above which a call outside any parallel region uses threads. */
#define IM2COL_PARALLEL_MIN (1 << 16)

/* The grid columns [*lo, *hi) whose pixel x * s + off lies in [0, w). */
static void inside_run(int64_t off, int64_t s, int64_t w, int64_t ow, int64_t *lo, int64_t *hi) {
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = w - off > 0 ? (w - off + s - 1) / s : 0;
    *lo = a < ow ? a : ow;
    *hi = b < *lo ? *lo : (b < ow ? b : ow);
}

/* One row of cols: tap (i, j) of one channel plane [h, w]; dst [oh, ow]. Grid rows are
 * short (24-56 floats for the usual layers), so the copies are plain loops the compiler
 * vectorises: as memcpy/memset calls their overhead took most of the time. */
CX_VECTORIZE __attribute__((optimize("no-tree-loop-distribute-patterns")))
static void im2col_row(const cx_conv_geom *g, const float *plane, int64_t i, int64_t j,
                       float *dst) {
    int64_t lo, hi, xoff = j * g->dw - g->pw, ow = g->ow, sw = g->sw;
    inside_run(xoff, sw, g->w, ow, &lo, &hi);
    for (int64_t y = 0; y < g->oh; y++, dst += ow) {
        int64_t iy = y * g->sh - g->ph + i * g->dh;
        if (iy < 0 || iy >= g->h || lo == hi) {
            for (int64_t x = 0; x < ow; x++) dst[x] = 0.0f;
            continue;
        }
        const float *src = plane + iy * g->w + xoff + lo * sw; /* column lo's pixel */
        for (int64_t x = 0; x < lo; x++) dst[x] = 0.0f;
        if (sw == 1)
            for (int64_t x = 0; x < hi - lo; x++) dst[lo + x] = src[x];
        else
            for (int64_t x = 0; x < hi - lo; x++) dst[lo + x] = src[x * sw];
        for (int64_t x = hi; x < ow; x++) dst[x] = 0.0f;
    }
}

/* The adjoint of im2col_row: plane [h, w] += each in-image entry of src [oh, ow]. */
CX_VECTORIZE static void col2im_row(const cx_conv_geom *g, const float *src, int64_t i,
                                    int64_t j, float *plane) {
    int64_t lo, hi, xoff = j * g->dw - g->pw;
    inside_run(xoff, g->sw, g->w, g->ow, &lo, &hi);
    for (int64_t y = 0; y < g->oh; y++, src += g->ow) {
        int64_t iy = y * g->sh - g->ph + i * g->dh;
        if (iy < 0 || iy >= g->h || lo == hi) continue;
        float *dst = plane + iy * g->w + xoff + lo * g->sw; /* column lo's pixel */
        const float *s = src + lo;
        if (g->sw == 1)
            for (int64_t x = 0; x < hi - lo; x++) dst[x] += s[x];
        else
            for (int64_t x = 0; x < hi - lo; x++) dst[x * g->sw] += s[x];
    }
}

/* ---- small grids: a gather table ----
 * On a small grid (7x7, 14x14) a cols row is a few grid rows of a few points each, and the
 * loops above spend their time starting runs. There a table of every (tap, grid point)'s
 * pixel, built once a call, turns each cols row into one gather over hw points. */
#define TABLE_MAX 8192 /* taps * grid points: the table's entries */

typedef struct {
    int32_t *at;    /* [taps, hw]: the pixel of (tap, point) in its plane, or -1 (padding) */
    int64_t taps, hw;
} gather_table;

static bool small_grid(const cx_conv_geom *g) {
    return g->oh * g->ow <= 256 && g->kh * g->kw * g->oh * g->ow <= TABLE_MAX;
}

static void table_fill(const cx_conv_geom *g, int32_t *at) {
    for (int64_t i = 0, t = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++, t++)
            for (int64_t y = 0, p = 0; y < g->oh; y++)
                for (int64_t x = 0; x < g->ow; x++, p++) {
                    int64_t iy = y * g->sh - g->ph + i * g->dh, ix = x * g->sw - g->pw + j * g->dw;
                    at[t * g->oh * g->ow + p] =
                        iy >= 0 && iy < g->h && ix >= 0 && ix < g->w ? (int32_t)(iy * g->w + ix)
                                                                     : -1;
                }
}

/* Padding points (-1) read from, or add to, a spare float instead of branching: the
 * compiler leaves these loops scalar, and a branch per point mispredicts along the borders. */
static void gather_row_scalar(const float *plane, const int32_t *at, int64_t hw, float *dst) {
    static const float zero = 0.0f;
    for (int64_t p = 0; p < hw; p++) dst[p] = *(at[p] >= 0 ? plane + at[p] : &zero);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* Eight points a time with AVX2's masked gather (padding points stay 0). */
__attribute__((target("avx2"))) static void gather_row_avx2(const float *plane,
                                                           const int32_t *at, int64_t hw,
                                                           float *dst) {
    int64_t p = 0;
    for (; p + 8 <= hw; p += 8) {
        __m256i idx = _mm256_loadu_si256((const __m256i *)(at + p));
        __m256 inside = _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(-1)));
        _mm256_storeu_ps(dst + p,
                         _mm256_mask_i32gather_ps(_mm256_setzero_ps(), plane, idx, inside, 4));
    }
    gather_row_scalar(plane, at + p, hw - p, dst + p);
}
#endif

static void gather_row(const float *plane, const int32_t *at, int64_t hw, float *dst) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2")) {
        gather_row_avx2(plane, at, hw, dst);
        return;
    }
#endif
    gather_row_scalar(plane, at, hw, dst);
}

/* Within one tap the points read distinct pixels, so the adds never collide. */
static void scatter_row(const float *src, const int32_t *at, int64_t hw, float *plane) {
    float spare = 0.0f;
    for (int64_t p = 0; p < hw; p++) *(at[p] >= 0 ? plane + at[p] : &spare) += src[p];
}

static void im2col_small(const cx_conv_geom *g, const float *img, float *cols, int64_t ld) {
    int32_t at[TABLE_MAX];
    int64_t taps = g->kh * g->kw, hw = g->oh * g->ow, plane = g->h * g->w;
    table_fill(g, at);
    for (int64_t ci = 0; ci < g->c; ci++)
        for (int64_t t = 0; t < taps; t++)
            gather_row(img + ci * plane, at + t * hw, hw, cols + (ci * taps + t) * ld);
}

static void col2im_small(const cx_conv_geom *g, const float *cols, int64_t ld, float *img) {
    int32_t at[TABLE_MAX];
    int64_t taps = g->kh * g->kw, hw = g->oh * g->ow, plane = g->h * g->w;
    table_fill(g, at);
    for (int64_t ci = 0; ci < g->c; ci++)
        for (int64_t t = 0; t < taps; t++)
            scatter_row(cols + (ci * taps + t) * ld, at + t * hw, hw, img + ci * plane);
}

static bool use_threads(const cx_conv_geom *g) {
    return !omp_in_parallel() && omp_get_max_threads() > 1 &&
           g->c * g->kh * g->kw * g->oh * g->ow >= IM2COL_PARALLEL_MIN;
}

/* cols [c kh kw, oh ow]: rows are independent, so threads split them. */
void cx__im2col(const cx_conv_geom *g, const float *img, float *cols) {
    cx__im2col_ld(g, img, cols, g->oh * g->ow);
}

void cx__im2col_ld(const cx_conv_geom *g, const float *img, float *cols, int64_t ld) {
    if (small_grid(g) && !use_threads(g)) {
        im2col_small(g, img, cols, ld);
        return;
    }
    int64_t taps = g->kh * g->kw, rows = g->c * taps;
#define IM2COL_ROW(r)                                                                          \
    im2col_row(g, img + (r) / taps * g->h * g->w, (r) % taps / g->kw, (r) % g->kw,             \
               cols + (r) * ld)
    if (use_threads(g)) {
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < rows; r++) IM2COL_ROW(r);
    } else {
        for (int64_t r = 0; r < rows; r++) IM2COL_ROW(r);
    }
#undef IM2COL_ROW
}

/* img [c, h, w] += cols: the taps of one channel overlap, so threads split channels. */
void cx__col2im(const cx_conv_geom *g, const float *cols, float *img) {
    cx__col2im_ld(g, cols, g->oh * g->ow, img);
}

void cx__col2im_ld(const cx_conv_geom *g, const float *cols, int64_t ld, float *img) {
    if (small_grid(g) && !use_threads(g)) {
        col2im_small(g, cols, ld, img);
        return;
    }
    int64_t taps = g->kh * g->kw, plane = g->h * g->w;
#define COL2IM_CHANNEL(ci)                                                                     \
    for (int64_t t = 0; t < taps; t++)                                                         \
        col2im_row(g, cols + ((ci) * taps + t) * ld, t / g->kw, t % g->kw, img + (ci) * plane)
    if (use_threads(g) && g->c > 1) {
#pragma omp parallel for schedule(static)
        for (int64_t ci = 0; ci < g->c; ci++) COL2IM_CHANNEL(ci);
    } else {
        for (int64_t ci = 0; ci < g->c; ci++) COL2IM_CHANNEL(ci);
    }
#undef COL2IM_CHANNEL
}
