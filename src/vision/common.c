/*
 * common.c - the pieces every input-optimising function of cortex/vision.h uses: the model
 * held still, pixels normalised inside the graph, and jitter, blur and normalised ascent
 * steps on raw pixel buffers (outside autograd: they regularise the picture, they are not
 * part of the objective).
 */
#include "vision/vision_impl.h"

#include <math.h>
#include <string.h>

cx_pixel_norm cx_pixel_norm_imagenet(void) {
    return (cx_pixel_norm){.mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
}

cx_pixel_norm cx_pixel_norm_from_loader(const cx_loader_params *p) {
    /* (u8 scale - mean) / std with u8 = 255 pixel: (pixel - mean / k) / (std / k), k = 255 scale */
    float k = p && p->scale > 0 ? 255.0f * p->scale : 1.0f;
    float mean = p ? p->mean / k : 0.0f, std = (p && p->std > 0 ? p->std : 1.0f) / k;
    return (cx_pixel_norm){.mean = {mean, mean, mean}, .std = {std, std, std}};
}

cx_hold cx__hold_begin(cx_model *m) {
    cx_hold h = {.m = m, .training = cx_model_training(m)};
    cx_model_set_training(m, false);
    for (int i = 0; i < cx_model_num_param_tensors(m); i++)
        cx_tensor_set_requires_grad(cx_model_param(m, i), false);
    return h;
}

void cx__hold_end(cx_hold h) {
    cx_model_set_training(h.m, h.training);
    for (int i = 0; i < cx_model_num_param_tensors(h.m); i++)
        cx_tensor_set_requires_grad(cx_model_param(h.m, i), cx_model_param_trainable(h.m, i));
}

static float std_or_one(float s) {
    return s > 0 ? s : 1.0f;
}

cx_tensor *cx__pixel_normalise(cx_tensor *pixels, const cx_pixel_norm *norm) {
    if (!pixels) return NULL;
    cx_pixel_norm n = norm ? *norm : (cx_pixel_norm){{0}, {0}};
    if (cx_tensor_ndim(pixels) == 4 && cx_tensor_dim(pixels, 1) == 3) {
        float mean[3], inv[3];
        for (int c = 0; c < 3; c++) {
            mean[c] = n.mean[c];
            inv[c] = 1.0f / std_or_one(n.std[c]);
        }
        cx_tensor *tm = cx_from_data(CX_DTYPE_F32, CX_SHAPE(1, 3, 1, 1), mean);
        cx_tensor *ti = cx_from_data(CX_DTYPE_F32, CX_SHAPE(1, 3, 1, 1), inv);
        cx_tensor *centred = cx_sub(pixels, tm);
        cx_tensor *y = cx_mul(centred, ti);
        cx_tensor_free(centred);
        cx_tensor_free(tm);
        cx_tensor_free(ti);
        return y;
    }
    if (n.mean[0] == 0 && std_or_one(n.std[0]) == 1.0f) {
        cx__tensor_retain(pixels);
        return pixels;
    }
    cx_tensor *centred = cx_sub_scalar(pixels, n.mean[0]);
    cx_tensor *y = cx_mul_scalar(centred, 1.0f / std_or_one(n.std[0]));
    cx_tensor_free(centred);
    return y;
}

void cx__roll(float *data, int64_t planes, int64_t h, int64_t w, int dy, int dx) {
    if ((dy == 0 && dx == 0) || h < 1 || w < 1) return;
    int64_t sy = ((dy % h) + h) % h, sx = ((dx % w) + w) % w;
    float *tmp = cx__temp_alloc((size_t)(h * w) * sizeof(float));
    if (!tmp) return; /* out of memory: the picture stays unshifted this step */
    for (int64_t p = 0; p < planes; p++) {
        float *img = data + p * h * w;
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++)
                tmp[((y + sy) % h) * w + (x + sx) % w] = img[y * w + x];
        memcpy(img, tmp, (size_t)(h * w) * sizeof(float));
    }
    cx__temp_free(tmp);
}

cx_status cx__blur(float *data, int64_t planes, int64_t h, int64_t w, float sigma) {
    if (!(sigma > 0)) return CX_OK;
    int r = (int)ceilf(3.0f * sigma);
    if (r > 32) r = 32;
    float k[65], sum = 0;
    for (int i = -r; i <= r; i++)
        sum += k[i + r] = expf(-(float)(i * i) / (2.0f * sigma * sigma));
    for (int i = 0; i <= 2 * r; i++)
        k[i] /= sum;
    float *tmp = cx__temp_alloc((size_t)(h * w) * sizeof(float));
    if (!tmp) return CX_ERR_OOM;
    for (int64_t p = 0; p < planes; p++) {
        float *img = data + p * h * w;
        for (int64_t y = 0; y < h; y++) /* rows into tmp */
            for (int64_t x = 0; x < w; x++) {
                float acc = 0;
                for (int i = -r; i <= r; i++) {
                    int64_t xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
                    acc += k[i + r] * img[y * w + xx];
                }
                tmp[y * w + x] = acc;
            }
        for (int64_t y = 0; y < h; y++) /* columns back */
            for (int64_t x = 0; x < w; x++) {
                float acc = 0;
                for (int i = -r; i <= r; i++) {
                    int64_t yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
                    acc += k[i + r] * tmp[yy * w + x];
                }
                img[y * w + x] = acc;
            }
    }
    cx__temp_free(tmp);
    return CX_OK;
}

void cx__clamp01(float *data, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        data[i] = data[i] < 0 ? 0 : data[i] > 1 ? 1 : data[i];
}

void cx__ascent_step(float *x, const float *g, int64_t n, int64_t size, float step) {
    for (int64_t k = 0; k < n; k++) {
        double mag = 0;
        for (int64_t i = 0; i < size; i++)
            mag += fabsf(g[k * size + i]);
        mag /= (double)size;
        if (!(mag > 0)) continue;
        float s = (float)(step / mag);
        for (int64_t i = 0; i < size; i++)
            x[k * size + i] += s * g[k * size + i];
    }
}

void cx__jitter_draw(cx_rng *rng, int jitter, int *dy, int *dx) {
    *dy = *dx = 0;
    if (jitter <= 0) return;
    uint32_t span = 2u * (uint32_t)jitter + 1u;
    *dy = (int)(cx_rng_u32(rng) % span) - jitter;
    *dx = (int)(cx_rng_u32(rng) % span) - jitter;
}

bool cx__check_setting(const char *who, const char *what, double v, double lo, double hi) {
    if (isfinite(v) && v >= lo && v <= hi) return true;
    cx__error(CX_ERR_ARG, "%s: %s = %g is out of range; need %g to %g", who, what, v, lo, hi);
    return false;
}

int cx__max_layer(int n, const int *layers) {
    int last = -1;
    for (int k = 0; k < n; k++)
        if (layers[k] > last) last = layers[k];
    return last;
}

bool cx__check_layers(const char *who, const cx_model *m, int n, const int *layers) {
    if (n < 1 || !layers) {
        cx__error(CX_ERR_ARG, "%s: no layers given", who);
        return false;
    }
    for (int k = 0; k < n; k++)
        if (layers[k] < 0 || layers[k] >= cx_model_num_layers(m)) {
            cx__error(CX_ERR_ARG, "%s: layer %d is not in the model (layers 0 to %d)", who,
                      layers[k], cx_model_num_layers(m) - 1);
            return false;
        }
    return true;
}

cx_tensor *cx__resize(cx_tensor *x, int64_t h, int64_t w) {
    if (x && cx_tensor_dim(x, 2) == h && cx_tensor_dim(x, 3) == w) return cx_clone(x);
    cx_no_grad_begin();
    cx_tensor *y = cx_upsample2d(x, h, w, CX_UPSAMPLE_BILINEAR, false);
    cx_no_grad_end();
    return y;
}
