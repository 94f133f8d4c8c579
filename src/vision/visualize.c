/*
 * visualize.c - feature visualisation: pictures that excite one unit of a layer, found by
 * gradient ascent from noise (Erhan et al. 2009; Simonyan et al. 2014 for class scores; the
 * regularisers as in Olah et al. 2017, "Feature visualization", Distill).
 *
 * Every unit gets its own picture and all pictures run as one batch: picture k's objective
 * is the summed response of unit k, so the gradient of the sum of those responses with
 * respect to the batch gives each picture its own gradient. The regularisers act on the
 * pixels between steps: a random shift (jitter) before every step, so no single pixel
 * pattern is rewarded (the gradient is shifted back), an occasional Gaussian blur against high
 * frequencies, optional decay toward grey, and the pixel range 0..1.
 */
#include "vision/vision_impl.h"

#include <math.h>
#include <string.h>

static const char *const WHO = "cx_visualize";

/* The one-hot mask [n, K] or [n, K, 1, 1] that selects unit units[k] of picture k. */
static cx_tensor *unit_mask(int n, const int *units, const cx_tensor *out) {
    int64_t shape[4] = {n, cx_tensor_dim(out, 1), 1, 1};
    cx_tensor *mask = cx_zeros(cx_tensor_ndim(out) == 4 ? 4 : 2, shape);
    for (int k = 0; mask && k < n; k++)
        cx__f32(mask)[k * shape[1] + units[k]] = 1.0f;
    return mask;
}

/* One forward pass of pixels [n, C, H, W] (a leaf when ascending): the response of each
 * picture's unit, summed over positions, as a scalar to ascend; means per picture into
 * scores if not NULL. */
static cx_tensor *objective(cx_model *m, int layer, cx_tensor *pixels, int n, const int *units,
                            const cx_pixel_norm *norm, float *scores) {
    cx_tensor *in = cx__pixel_normalise(pixels, norm);
    cx_tensor *out = in ? cx_model_forward_to(m, in, layer) : NULL;
    cx_tensor *mask = out ? unit_mask(n, units, out) : NULL;
    cx_tensor *picked = mask ? cx_mul(out, mask) : NULL;
    cx_tensor *total = picked ? cx_sum(picked, 0, NULL, false) : NULL;
    if (total && scores) {
        cx_tensor *per = cx_contiguous(picked);
        int64_t size = cx_tensor_numel(per) / n;
        int64_t positions = cx_tensor_ndim(out) == 4 ? cx_tensor_dim(out, 2) * cx_tensor_dim(out, 3) : 1;
        for (int k = 0; per && k < n; k++) {
            double s = 0;
            for (int64_t i = 0; i < size; i++)
                s += cx__f32(per)[k * size + i];
            scores[k] = (float)(s / (double)positions);
        }
        cx_tensor_free(per);
    }
    cx_tensor_free(picked);
    cx_tensor_free(mask);
    cx_tensor_free(out);
    cx_tensor_free(in);
    return total;
}

/* Checks settings and units; the picture shape in shape[3]. */
static bool check(cx_model *m, int layer, int n, const int *units, const cx_visualize_params *p,
                  int64_t shape[3]) {
    if (!m || !p || !units || n < 1) {
        cx__error(CX_ERR_ARG, "%s: %s", WHO, !m ? "model is NULL" : !p ? "params is NULL"
                                             : "no units given");
        return false;
    }
    if (!cx__check_layers(WHO, m, 1, &layer)) return false;
    if (cx_model_input_shape(m, shape) != 3) {
        cx__error(CX_ERR_SHAPE, "%s: the model does not take pictures [C,H,W]", WHO);
        return false;
    }
    if (!cx__check_setting(WHO, "steps", p->steps, 0, 1e6) ||
        !cx__check_setting(WHO, "step_size", p->step_size, 0, 1e3) ||
        !cx__check_setting(WHO, "jitter", p->jitter, -1, 1024) ||
        !cx__check_setting(WHO, "blur", p->blur, -1e9, 10) ||
        !cx__check_setting(WHO, "blur_every", p->blur_every, 0, 1e6) ||
        !cx__check_setting(WHO, "decay", p->decay, 0, 1) ||
        !cx__check_setting(WHO, "height", (double)p->height, 0, 8192) ||
        !cx__check_setting(WHO, "width", (double)p->width, 0, 8192))
        return false;
    if (p->height) shape[1] = p->height;
    if (p->width) shape[2] = p->width;
    int64_t out[CX_MAX_DIMS];
    int nd = cx_model_layer_output_shape(m, layer, out);
    for (int k = 0; k < n; k++)
        if (units[k] < 0 || units[k] >= out[0]) {
            cx__error(CX_ERR_ARG, "%s: layer %d (%s) has %s 0 to %lld; %d is not one", WHO, layer,
                      cx_model_layer_kind(m, layer), nd == 3 ? "channels" : "units",
                      (long long)out[0] - 1, units[k]);
            return false;
        }
    return true;
}

cx_tensor *cx_visualize(cx_model *m, int layer, int n, const int *units,
                        const cx_visualize_params *p, float *scores) {
    int64_t shape[3];
    if (!check(m, layer, n, units, p, shape)) return NULL;
    int64_t in[3];
    cx_model_input_shape(m, in);
    bool resized = in[1] != shape[1] || in[2] != shape[2];
    cx_model *net = resized ? cx_model_head(m, layer, 3, shape) : m;
    if (!net) return NULL;
    int steps = p->steps ? p->steps : 128, every = p->blur_every ? p->blur_every : 4;
    float step_size = p->step_size > 0 ? p->step_size : 0.01f;
    float blur = p->blur == 0 ? 0.5f : p->blur;
    int jitter = p->jitter == 0 ? 2 : p->jitter;
    int64_t c = shape[0], h = shape[1], w = shape[2], size = c * h * w;
    int64_t batch[4] = {n, c, h, w};
    float *pix = cx__alloc((size_t)(n * size) * sizeof(float));
    cx_arena *arena = cx_arena_new(0);
    cx_rng *rng = cx_rng_new(p->seed);
    cx_tensor *result = NULL;
    cx_status st = pix && arena && rng ? CX_OK : CX_ERR_OOM;
    for (int64_t i = 0; st == CX_OK && i < n * size; i++) /* grey plus a little noise */
        pix[i] = 0.5f + 0.1f * cx_rng_normal(rng);
    cx_hold hold = cx__hold_begin(net);
    for (int s = 0; st == CX_OK && s < steps; s++) {
        int dy, dx;
        cx__jitter_draw(rng, jitter, &dy, &dx);
        cx__roll(pix, n * c, h, w, dy, dx);
        cx_arena_begin(arena);
        cx_tensor *x = cx_from_data(CX_DTYPE_F32, 4, batch, pix);
        st = x ? cx_tensor_set_requires_grad(x, true) : cx_last_status();
        cx_tensor *total = st == CX_OK ? objective(net, layer, x, n, units, &p->norm, NULL) : NULL;
        st = total ? cx_backward(total) : cx_last_status();
        if (st == CX_OK) {
            float *g = cx_tensor_f32(cx_tensor_grad(x));
            cx__ascent_step(pix, g, n, size, step_size);
        }
        cx_arena_end(arena);
        cx_arena_reset(arena);
        cx__roll(pix, n * c, h, w, -dy, -dx);
        if (p->decay > 0)
            for (int64_t i = 0; i < n * size; i++)
                pix[i] = 0.5f + (pix[i] - 0.5f) * (1.0f - p->decay);
        if (st == CX_OK && blur > 0 && (s + 1) % every == 0 && s + 1 < steps)
            st = cx__blur(pix, n * c, h, w, blur);
        cx__clamp01(pix, n * size);
    }
    if (st == CX_OK && scores) { /* the final responses, without jitter */
        cx_arena_begin(arena);
        cx_no_grad_begin();
        cx_tensor *x = cx_from_data(CX_DTYPE_F32, 4, batch, pix);
        if (!objective(net, layer, x, n, units, &p->norm, scores)) st = cx_last_status();
        cx_no_grad_end();
        cx_arena_end(arena);
    }
    cx__hold_end(hold);
    if (st == CX_OK) result = cx_from_data(CX_DTYPE_F32, 4, batch, pix);
    if (net != m) cx_model_free(net);
    cx_arena_free(arena);
    cx_rng_free(rng);
    cx__free(pix);
    return result;
}
