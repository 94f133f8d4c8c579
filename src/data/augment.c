/*
 * augment.c - random affine augmentation of image samples (torchvision's RandomAffine):
 * rotation, scaling and whole-pixel translation about the image centre, sampled bilinearly,
 * black outside the source image. The loader draws one transform per sample from its epoch
 * generator, in batch order, so a seeded run (and a resumed one) sees the same images.
 */
#include "data_impl.h"

#include <math.h>

void cx__augment_draw(cx_rng *rng, const cx_loader_params *p, cx__affine *out) {
    /* every field drawn every time, so the stream does not depend on which are zero */
    float u_angle = cx_rng_uniform(rng), u_scale = cx_rng_uniform(rng);
    uint32_t span = (uint32_t)(2 * p->shift + 1);
    int64_t dy = (int64_t)(cx_rng_u32(rng) % span) - p->shift;
    int64_t dx = (int64_t)(cx_rng_u32(rng) % span) - p->shift;
    float angle = (2.0f * u_angle - 1.0f) * p->rotate * (float)(M_PI / 180.0);
    float scale = 1.0f + (2.0f * u_scale - 1.0f) * p->zoom;
    /* output pixel (y, x) reads source c + R(-angle) ((y, x) - c - (dy, dx)) / scale */
    out->cos_s = cosf(angle) / scale;
    out->sin_s = sinf(angle) / scale;
    out->dy = (float)dy;
    out->dx = (float)dx;
}

/* The source value at (y, x), bilinear, with 0 outside the plane [h, w]. */
static float sample(const cx_tensor *s, size_t plane, int64_t h, int64_t w, float y, float x) {
    float fy = floorf(y), fx = floorf(x);
    int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
    float ty = y - fy, tx = x - fx, v = 0;
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 2; i++) {
            int64_t yy = y0 + j, xx = x0 + i;
            float wgt = (j ? ty : 1 - ty) * (i ? tx : 1 - tx);
            if (yy < 0 || yy >= h || xx < 0 || xx >= w || wgt == 0) continue;
            size_t at = plane + (size_t)(yy * w + xx);
            v += wgt * (s->dtype == CX_DTYPE_U8 ? (float)((const uint8_t *)s->storage->data)[at]
                                                : ((const float *)s->storage->data)[at]);
        }
    return v;
}

void cx__augment_apply(const cx_tensor *s, int64_t index, const cx__affine *a, float scale,
                       float mean, float std, float *out) {
    int64_t c_n = s->shape[1], h = s->shape[2], w = s->shape[3];
    float cy = 0.5f * (float)(h - 1), cx = 0.5f * (float)(w - 1);
    for (int64_t c = 0; c < c_n; c++) {
        size_t plane = (size_t)((index * c_n + c) * h * w);
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                float py = (float)y - cy - a->dy, px = (float)x - cx - a->dx;
                float sy = cy + a->cos_s * py - a->sin_s * px;
                float sx = cx + a->sin_s * py + a->cos_s * px;
                float v = sample(s, plane, h, w, sy, sx);
                *out++ = (v * scale - mean) / std;
            }
    }
}
