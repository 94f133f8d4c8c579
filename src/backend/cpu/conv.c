/*
 * conv.c - batched 2-D convolution kernels on the CPU: im2col + sgemm per image.
 *
 * For image n and group gi (og = o / G output channels, K = c / G * kh * kw):
 *   forward        y_n[gi]  (og, oh ow)  = W[gi] (og, K) · cols(x_n)[gi] (K, oh ow)
 *   backward, dx   dcols[gi] (K, oh ow)  = W[gi]ᵀ · gy_n[gi],  then col2im into dx_n
 *   backward, dW   dW[gi]   (og, K)     += gy_n[gi] · cols(x_n)[gi]ᵀ
 *   backward, db   db[oc]              += sum of gy_n[oc]
 * A 1x1 kernel with stride 1 and no padding needs no im2col: cols(x_n) is x_n itself.
 * cols is rebuilt in backward rather than kept from forward: kept, it would be the whole
 * batch's (85 MB for mnist_cnn's second layer) going through memory, where rebuilt it is one
 * image's, in cache.
 *
 * Threads: with at least as many images as threads, each thread takes whole images and runs
 * a single-threaded sgemm on its own cols buffer (OpenBLAS runs single-threaded inside an
 * active OpenMP region), which keeps every buffer of an image in that core's cache and leaves
 * no serial im2col between products. With fewer images, images go one after another and
 * sgemm and im2col thread themselves. sgemm is never called from an inactive region (see
 * FOR_BATCHES in src/ops/matmul.c). Weight and bias gradients are summed per thread into
 * private buffers, added in thread order afterwards so a given thread count gives the same
 * bits.
 *
 * Measured alternatives (bench/conv.c, 2 threads): own loops in place of sgemm for a few rows
 * of cols (the 1-channel first layer, K = 9) were slower than OpenBLAS; tiling the grid so a
 * tile's cols stays in L2 did not speed up the VGG shapes.
 */
#include "cortex_impl.h"

#include <omp.h>
#include <string.h>

typedef struct {
    const cx_conv_geom *g;
    int64_t groups, o;
    int64_t og, cg;  /* output and input channels per group */
    int64_t k;       /* rows of cols per group: cg * kh * kw */
    int64_t hw;      /* grid points: oh * ow */
    int64_t img;     /* elements of one image: c * h * w */
    bool pointwise;  /* cols(x) = x: 1x1 kernel, stride 1, no padding */
} conv_plan;

static conv_plan plan_of(const cx_conv_geom *g, int64_t groups, int64_t o) {
    conv_plan p = {.g = g, .groups = groups, .o = o, .og = o / groups, .cg = g->c / groups};
    p.k = p.cg * g->kh * g->kw;
    p.hw = g->oh * g->ow;
    p.img = g->c * g->h * g->w;
    p.pointwise = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 &&
                  g->pw == 0 && g->oh == g->h && g->ow == g->w;
    return p;
}

/* Threads to split the batch over: 1 means images run serially. */
static int image_threads(int64_t n) {
    int t = omp_in_parallel() ? 1 : cx_get_num_threads();
    return t > 1 && n >= t ? t : 1;
}

/* Runs body for image i in [0, n): split over `threads` threads when more than one (each
 * thread's buffers are found by omp_get_thread_num(), 0 when serial). */
#define FOR_IMAGES(threads, i, n, body)                                                        \
    do {                                                                                       \
        if ((threads) > 1) {                                                                   \
            _Pragma("omp parallel for num_threads(threads) schedule(static)")                 \
            for (int64_t i = 0; i < (n); i++) { body; }                                        \
        } else {                                                                               \
            for (int64_t i = 0; i < (n); i++) { body; }                                        \
        }                                                                                      \
    } while (0)

/* cols(x_n) into buf, or x_n itself when no gather is needed. */
static const float *cols_of(const conv_plan *p, const float *x_n, float *buf) {
    if (p->pointwise) return x_n;
    cx__im2col(p->g, x_n, buf);
    return buf;
}

/* Per-thread buffers: threads * each floats (each 0 gives a valid NULL-free pointer). */
static float *thread_buffers(int threads, int64_t each) {
    return cx__temp_alloc((size_t)threads * (size_t)(each > 0 ? each : 1) * sizeof(float));
}

/* y_n (o, hw) = W · cols(x_n) (+ bias) (+ y_n when accumulate); buf (c kh kw, hw). */
static void forward_one(const conv_plan *p, const float *x_n, const float *w, const float *bias,
                        float *y_n, bool accumulate, float *buf) {
    const float *cols = cols_of(p, x_n, buf);
    if (bias)
        for (int64_t oc = 0; oc < p->o; oc++) {
            float *row = y_n + oc * p->hw;
            if (accumulate)
                for (int64_t i = 0; i < p->hw; i++) row[i] += bias[oc];
            else
                for (int64_t i = 0; i < p->hw; i++) row[i] = bias[oc];
        }
    float beta = accumulate || bias ? 1.0f : 0.0f;
    for (int64_t gi = 0; gi < p->groups; gi++)
        cx__sgemm(false, false, p->og, p->hw, p->k, 1.0f, w + gi * p->og * p->k, p->k,
                  cols + gi * p->k * p->hw, p->hw, beta, y_n + gi * p->og * p->hw, p->hw);
}

/* ---- small grids: images in chunks ----
 * On a small grid (the 7x7 and 14x14 of a DCGAN) one image's product is too thin for sgemm
 * to run well ([128, 1024] · [1024, 49]; its weight gradient a sum over 49 columns), so the
 * images go in chunks of b whose columns sit side by side: cols [K, b hw] from
 * cx__im2col_ld, one product of width b hw per chunk, the chunk's y or gy laid out the same
 * way ([o, b hw]) in a second buffer. Threads take whole chunks. */
static float row_sum(const float *row, int64_t len);
static void add_into(float *dst, const float *src, int64_t len);

#define CHUNK_HW_MAX 256 /* grids of at most this many points go in chunks */
#define CHUNK_COLS 512   /* the columns a chunk aims at */

static bool chunked(const conv_plan *p) {
    return p->groups == 1 && !p->pointwise && p->hw <= CHUNK_HW_MAX;
}

/* Images per chunk: about CHUNK_COLS columns, and no more than a thread's share. */
static int64_t chunk_images(const conv_plan *p, int64_t n, int threads) {
    int64_t b = (CHUNK_COLS + p->hw - 1) / p->hw, share = (n + threads - 1) / threads;
    b = b < share ? b : share;
    return b > 0 ? b : 1;
}

/* Runs body for chunk c (images c b .. c b + nb - 1) over the chunks of n images. */
#define FOR_CHUNKS(threads, c, b, nb, n, body)                                                 \
    FOR_IMAGES(threads, c, ((n) + (b) - 1) / (b), {                                            \
        int64_t nb = (n) - c * (b) < (b) ? (n) - c * (b) : (b);                                \
        body;                                                                                  \
    })

/* y of the chunk's images (+ bias) (+ y with accumulate); cols [K, nb hw], ybuf [o, nb hw]. */
static void forward_chunk(const conv_plan *p, const float *x, const float *w, const float *bias,
                          float *y, bool accumulate, int64_t i0, int64_t nb, float *cols,
                          float *ybuf) {
    int64_t hw = p->hw, ld = nb * hw;
    for (int64_t j = 0; j < nb; j++) cx__im2col_ld(p->g, x + (i0 + j) * p->img, cols + j * hw, ld);
    cx__sgemm(false, false, p->o, ld, p->k, 1.0f, w, p->k, cols, ld, 0.0f, ybuf, ld);
    for (int64_t j = 0; j < nb; j++)
        for (int64_t oc = 0; oc < p->o; oc++) {
            float *dst = y + ((i0 + j) * p->o + oc) * hw, bv = bias ? bias[oc] : 0.0f;
            const float *src = ybuf + oc * ld + j * hw;
            if (accumulate)
                for (int64_t i = 0; i < hw; i++) dst[i] += src[i] + bv;
            else
                for (int64_t i = 0; i < hw; i++) dst[i] = src[i] + bv;
        }
}

static bool forward_chunked(const conv_plan *p, int64_t n, const float *x, const float *w,
                            const float *bias, float *y, bool accumulate) {
    int threads = image_threads(n);
    int64_t b = chunk_images(p, n, threads), ld = b * p->hw;
    int64_t each = (p->k + p->o) * ld;
    float *ws = thread_buffers(threads, each);
    if (!ws) return false;
    FOR_CHUNKS(threads, c, b, nb, n, {
        float *buf = ws + omp_get_thread_num() * each;
        forward_chunk(p, x, w, bias, y, accumulate, c * b, nb, buf, buf + p->k * ld);
    });
    cx__temp_free(ws);
    return true;
}

/* The chunk's gradients: gbuf [o, nb hw] gathers its gy; cols serves cols, then dcols. */
static void backward_chunk(const conv_plan *p, const float *x, const float *gy, const float *w,
                           float *dx, bool dx_assign, float *dw, float *db, int64_t i0,
                           int64_t nb, float *cols, float *gbuf) {
    int64_t hw = p->hw, ld = nb * hw;
    for (int64_t j = 0; j < nb; j++)
        for (int64_t oc = 0; oc < p->o; oc++)
            memcpy(gbuf + oc * ld + j * hw, gy + ((i0 + j) * p->o + oc) * hw,
                   (size_t)hw * sizeof *gbuf);
    if (dw) {
        for (int64_t j = 0; j < nb; j++)
            cx__im2col_ld(p->g, x + (i0 + j) * p->img, cols + j * hw, ld);
        cx__sgemm(false, true, p->o, p->k, ld, 1.0f, gbuf, ld, cols, ld, 1.0f, dw, p->k);
    }
    if (dx) {
        cx__sgemm(true, false, p->k, ld, p->o, 1.0f, w, p->k, gbuf, ld, 0.0f, cols, ld);
        for (int64_t j = 0; j < nb; j++) {
            float *dx_n = dx + (i0 + j) * p->img;
            if (dx_assign) memset(dx_n, 0, (size_t)p->img * sizeof *dx_n);
            cx__col2im_ld(p->g, cols + j * hw, ld, dx_n);
        }
    }
    if (db)
        for (int64_t oc = 0; oc < p->o; oc++) db[oc] += row_sum(gbuf + oc * ld, ld);
}

static bool backward_chunked(const conv_plan *p, int64_t n, const float *x, const float *gy,
                             const float *w, float *dx, bool dx_assign, float *dw, float *db) {
    int threads = image_threads(n);
    int64_t b = chunk_images(p, n, threads), ld = b * p->hw;
    int64_t wlen = dw ? p->o * p->k : 0, blen = db ? p->o : 0;
    /* per thread: cols, gbuf, then (threaded) its private dw (o, K) and db (o) */
    int64_t each = (p->k + p->o) * ld, stride = each + (threads > 1 ? wlen + blen : 0);
    float *ws = thread_buffers(threads, stride);
    if (!ws) return false;
    if (threads > 1)
        for (int t = 0; t < threads; t++)
            memset(ws + t * stride + each, 0, (size_t)(wlen + blen) * sizeof *ws);
    FOR_CHUNKS(threads, c, b, nb, n, {
        float *buf = ws + omp_get_thread_num() * stride;
        float *dw_t = !dw ? NULL : threads > 1 ? buf + each : dw;
        float *db_t = !db ? NULL : threads > 1 ? buf + each + wlen : db;
        backward_chunk(p, x, gy, w, dx, dx_assign, dw_t, db_t, c * b, nb, buf,
                       buf + p->k * ld);
    });
    for (int t = 0; threads > 1 && t < threads; t++) {
        if (dw) add_into(dw, ws + t * stride + each, wlen);
        if (db) add_into(db, ws + t * stride + each + wlen, blen);
    }
    cx__temp_free(ws);
    return true;
}

bool cx__conv_forward(const cx_conv_geom *g, int64_t groups, int64_t n, int64_t o,
                      const float *x, const float *w, const float *bias, float *y,
                      bool accumulate) {
    conv_plan p = plan_of(g, groups, o);
    if (chunked(&p)) return forward_chunked(&p, n, x, w, bias, y, accumulate);
    int threads = image_threads(n);
    int64_t each = p.pointwise ? 0 : p.k * groups * p.hw;
    float *ws = thread_buffers(threads, each);
    if (!ws) return false;
    FOR_IMAGES(threads, i, n,
               forward_one(&p, x + i * p.img, w, bias, y + i * o * p.hw, accumulate,
                           ws + omp_get_thread_num() * each));
    cx__temp_free(ws);
    return true;
}

/* dx_n += col2im(Wᵀ · gy_n) (= with assign); buf (c kh kw, hw). Pointwise: dx_n += Wᵀ · gy_n
 * directly. */
static void backward_data_one(const conv_plan *p, const float *gy_n, const float *w,
                              float *dx_n, bool assign, float *buf) {
    float *dst = p->pointwise ? dx_n : buf;
    for (int64_t gi = 0; gi < p->groups; gi++)
        cx__sgemm(true, false, p->k, p->hw, p->og, 1.0f, w + gi * p->og * p->k, p->k,
                  gy_n + gi * p->og * p->hw, p->hw, p->pointwise && !assign ? 1.0f : 0.0f,
                  dst + gi * p->k * p->hw, p->hw);
    if (p->pointwise) return;
    if (assign) memset(dx_n, 0, (size_t)p->img * sizeof *dx_n); /* this thread's image, hot */
    cx__col2im(p->g, buf, dx_n);
}

/* dw (o, K) += gy_n · cols(x_n)ᵀ; buf (c kh kw, hw). */
static void backward_weight_one(const conv_plan *p, const float *x_n, const float *gy_n,
                                float *dw, float *buf) {
    const float *cols = cols_of(p, x_n, buf);
    for (int64_t gi = 0; gi < p->groups; gi++)
        cx__sgemm(false, true, p->og, p->k, p->hw, 1.0f, gy_n + gi * p->og * p->hw, p->hw,
                  cols + gi * p->k * p->hw, p->hw, 1.0f, dw + gi * p->og * p->k, p->k);
}

/* 16 partial sums, so the loop vectorises without reassociating one float sum. */
CX_VECTORIZE static float row_sum(const float *row, int64_t len) {
    float part[16] = {0}, s = 0.0f;
    int64_t i = 0;
    for (; i + 16 <= len; i += 16)
        for (int l = 0; l < 16; l++) part[l] += row[i + l];
    for (; i < len; i++) s += row[i];
    for (int l = 0; l < 16; l++) s += part[l];
    return s;
}

/* The gradients of image i while its gy_n is in cache; buf serves cols, then dcols. */
static void backward_one(const conv_plan *p, int64_t i, const float *x, const float *gy,
                         const float *w, float *dx, bool dx_assign, float *dw, float *db,
                         float *buf) {
    const float *gy_n = gy + i * p->o * p->hw;
    if (dw) backward_weight_one(p, x + i * p->img, gy_n, dw, buf);
    if (dx) backward_data_one(p, gy_n, w, dx + i * p->img, dx_assign, buf);
    if (db)
        for (int64_t oc = 0; oc < p->o; oc++) db[oc] += row_sum(gy_n + oc * p->hw, p->hw);
}

CX_VECTORIZE static void add_into(float *dst, const float *src, int64_t len) {
    for (int64_t i = 0; i < len; i++) dst[i] += src[i];
}

bool cx__conv_backward(const cx_conv_geom *g, int64_t groups, int64_t n, int64_t o,
                       const float *x, const float *gy, const float *w, float *dx,
                       bool dx_assign, float *dw, float *db) {
    conv_plan p = plan_of(g, groups, o);
    if (chunked(&p)) return backward_chunked(&p, n, x, gy, w, dx, dx_assign, dw, db);
    int threads = image_threads(n);
    int64_t each = p.pointwise ? 0 : p.k * groups * p.hw;
    int64_t wlen = dw ? o * p.k : 0, blen = db ? o : 0;
    /* per thread: its cols buffer, then (threaded) its private dw (o, K) and db (o) */
    int64_t stride = each + (threads > 1 ? wlen + blen : 0);
    float *ws = thread_buffers(threads, stride);
    if (!ws) return false;
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        {
            float *buf = ws + omp_get_thread_num() * stride;
            float *dw_t = dw ? buf + each : NULL, *db_t = db ? buf + each + wlen : NULL;
            memset(buf + each, 0, (size_t)(wlen + blen) * sizeof *buf);
#pragma omp for schedule(static)
            for (int64_t i = 0; i < n; i++)
                backward_one(&p, i, x, gy, w, dx, dx_assign, dw_t, db_t, buf);
        }
        for (int t = 0; t < threads; t++) {
            if (dw) add_into(dw, ws + t * stride + each, wlen);
            if (db) add_into(db, ws + t * stride + each + wlen, blen);
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            backward_one(&p, i, x, gy, w, dx, dx_assign, dw, db, ws);
    }
    cx__temp_free(ws);
    return true;
}

void cx__channel_fill(float *y, const float *b, int64_t n, int64_t c, int64_t hw) {
#pragma omp parallel for if (n * c * hw > CX_PARALLEL_MIN) schedule(static)
    for (int64_t r = 0; r < n * c; r++) {
        float v = b ? b[r % c] : 0.0f, *row = y + r * hw;
        for (int64_t i = 0; i < hw; i++) row[i] = v;
    }
}

/* Threads split channels, so each db[ci] has one writer and a fixed order. */
void cx__channel_sum_add(const float *y, int64_t n, int64_t c, int64_t hw, float *db) {
#pragma omp parallel for if (n * c * hw > CX_PARALLEL_MIN && c > 1) schedule(static)
    for (int64_t ci = 0; ci < c; ci++) {
        float s = 0.0f;
        for (int64_t i = 0; i < n; i++) s += row_sum(y + (i * c + ci) * hw, hw);
        db[ci] += s;
    }
}
