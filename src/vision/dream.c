/*
 * dream.c - deep dream (Mordvintsev, Olah & Tyka 2015, "Inceptionism"): gradient ascent on
 * the picture itself, enhancing whatever chosen layers already respond to.
 *
 * The objective is the weighted sum of the mean squared responses of the layers. Ascent runs
 * at several scales ("octaves"), smallest first: what one octave adds to the picture (its
 * detail) is enlarged and added to the next octave's picture, so large structures form at the
 * small scales and fine ones at the large. Each octave runs the network's layers up to the
 * deepest one on pictures of that octave's size (cx_model_head). Steps are normalised by the
 * mean gradient magnitude and jittered as in feature visualisation.
 */
#include "vision/vision_impl.h"

#include <math.h>
#include <string.h>

static const char *const WHO = "cx_deep_dream";

/* Sum over layers of weight times the mean square of the layer's output. */
static cx_tensor *dream_objective(cx_model *net, cx_tensor *x, int n, const int *layers,
                                  const float *weights, const cx_pixel_norm *norm) {
    cx_tensor *outs[64];
    cx_tensor *in = cx__pixel_normalise(x, norm);
    cx_tensor *total = NULL;
    if (in && cx_model_forward_layers(net, in, n, layers, outs) == CX_OK) {
        for (int k = 0; k < n; k++) {
            cx_tensor *sq = cx_mean(cx_mul(outs[k], outs[k]), 0, NULL, false);
            cx_tensor *term = cx_mul_scalar(sq, weights ? weights[k] : 1.0f);
            total = total ? cx_add(total, term) : term;
            cx_tensor_free(outs[k]);
        }
    }
    cx_tensor_free(in);
    return total;
}

/* steps of normalised, jittered ascent on the octave picture img [1, C, h, w]. */
static cx_status ascend(cx_model *net, float *img, int64_t c, int64_t h, int64_t w, int n,
                        const int *layers, const float *weights, const cx_dream_params *p,
                        cx_rng *rng, cx_arena *arena) {
    int steps = p->steps ? p->steps : 10, jitter = p->jitter == 0 ? 4 : p->jitter;
    float step_size = p->step_size > 0 ? p->step_size : 0.01f;
    int64_t shape[4] = {1, c, h, w}, size = c * h * w;
    cx_status st = CX_OK;
    for (int s = 0; st == CX_OK && s < steps; s++) {
        int dy, dx;
        cx__jitter_draw(rng, jitter, &dy, &dx);
        cx__roll(img, c, h, w, dy, dx);
        cx_arena_begin(arena);
        cx_tensor *x = cx_from_data(CX_DTYPE_F32, 4, shape, img);
        st = x ? cx_tensor_set_requires_grad(x, true) : cx_last_status();
        cx_tensor *obj = st == CX_OK ? dream_objective(net, x, n, layers, weights, &p->norm) : NULL;
        st = obj ? cx_backward(obj) : cx_last_status();
        if (st == CX_OK) cx__ascent_step(img, cx_tensor_f32(cx_tensor_grad(x)), 1, size, step_size);
        cx_arena_end(arena);
        cx_arena_reset(arena);
        cx__roll(img, c, h, w, -dy, -dx);
        cx__clamp01(img, size);
    }
    return st;
}

static bool check(const cx_model *m, cx_tensor *image, int n, const int *layers,
                  const cx_dream_params *p) {
    if (!m || !p) {
        cx__error(CX_ERR_ARG, "%s: %s is NULL", WHO, m ? "params" : "model");
        return false;
    }
    if (!cx__check_f32(WHO, "image", image) || !cx__check_layers(WHO, m, n, layers)) return false;
    if (n > 64) {
        cx__error(CX_ERR_ARG, "%s: at most 64 layers, got %d", WHO, n);
        return false;
    }
    int64_t in[CX_MAX_DIMS];
    if (cx_tensor_ndim(image) != 3 || cx_model_input_shape(m, in) != 3 ||
        in[0] != cx_tensor_dim(image, 0)) {
        char s[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "%s: image %s does not fit the model: it needs a picture "
                  "[C,H,W] with the model's channels", WHO,
                  cx_tensor_shape_str(image, s, sizeof s));
        return false;
    }
    return cx__check_setting(WHO, "octaves", p->octaves, 0, 32) &&
           cx__check_setting(WHO, "octave_scale", p->octave_scale, 0, 10) &&
           (p->octave_scale == 0 || cx__check_setting(WHO, "octave_scale", p->octave_scale, 1, 10)) &&
           cx__check_setting(WHO, "steps", p->steps, 0, 1e6) &&
           cx__check_setting(WHO, "step_size", p->step_size, 0, 1e3) &&
           cx__check_setting(WHO, "jitter", p->jitter, -1, 1024);
}

cx_tensor *cx_deep_dream(const cx_model *m, cx_tensor *image, int n, const int *layers,
                         const float *weights, const cx_dream_params *p) {
    if (!check(m, image, n, layers, p)) return NULL;
    int octaves = p->octaves ? p->octaves : 4;
    float scale = p->octave_scale ? p->octave_scale : 1.4f;
    int last = cx__max_layer(n, layers);
    int64_t c = cx_tensor_dim(image, 0), H = cx_tensor_dim(image, 1), W = cx_tensor_dim(image, 2);
    cx_arena *arena = cx_arena_new(0);
    cx_rng *rng = cx_rng_new(p->seed);
    cx_tensor *base = cx_reshape(image, CX_SHAPE(1, c, H, W)); /* [1, C, H, W] */
    cx_tensor *img = NULL, *result = NULL; /* the current octave's picture */
    cx_status st = arena && rng && base ? CX_OK : cx_last_status();
    for (int o = octaves - 1; st == CX_OK && o >= 0; o--) {
        double f = pow(scale, o);
        int64_t h = (int64_t)lround((double)H / f), w = (int64_t)lround((double)W / f);
        if (h < 1 || w < 1) continue;
        cx_model *net = cx_model_head(m, last, 3, (const int64_t[]){c, h, w});
        if (!net) {
            if (o > 0) { /* too small for the network: start at a larger octave */
                cx_clear_error();
                continue;
            }
            st = cx_last_status();
            break;
        }
        cx_tensor *base_o = cx__resize(base, h, w);
        cx_tensor *next = base_o;
        if (base_o && img) { /* the detail found so far, enlarged, on this octave's base */
            cx_tensor *prev_base = cx__resize(base, cx_tensor_dim(img, 2), cx_tensor_dim(img, 3));
            cx_tensor *detail = prev_base ? cx_sub(img, prev_base) : NULL;
            cx_tensor *big = detail ? cx__resize(detail, h, w) : NULL;
            next = big ? cx_add(base_o, big) : NULL;
            cx_tensor_free(prev_base);
            cx_tensor_free(detail);
            cx_tensor_free(big);
            cx_tensor_free(base_o);
        }
        cx_tensor_free(img);
        img = next ? cx_contiguous(next) : NULL;
        cx_tensor_free(next);
        if (!img) {
            st = cx_last_status();
        } else {
            cx__clamp01(cx_tensor_f32(img), cx_tensor_numel(img));
            cx_hold hold = cx__hold_begin(net);
            st = ascend(net, cx_tensor_f32(img), c, h, w, n, layers, weights, p, rng, arena);
            cx__hold_end(hold);
        }
        cx_model_free(net);
    }
    if (st == CX_OK && img) result = cx_reshape(img, CX_SHAPE(c, H, W));
    else if (st == CX_OK) cx__error(CX_ERR_SHAPE, "%s: the picture is too small", WHO);
    cx_tensor_free(img);
    cx_tensor_free(base);
    cx_arena_free(arena);
    cx_rng_free(rng);
    return result;
}
