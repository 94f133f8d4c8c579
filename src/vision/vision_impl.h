/*
 * vision_impl.h - what the input-optimising functions of cortex/vision.h share: holding a
 * model still, normalising pictures inside the graph, and the pixel-space helpers of
 * gradient ascent (jitter, blur, normalised steps). Not installed.
 */
#ifndef CX_VISION_IMPL_H
#define CX_VISION_IMPL_H

#include "cortex_impl.h"

/* A model held still while its input is optimised: evaluation mode, and no parameter requires
 * a gradient (backward computes none for them). cx__hold_end restores both. */
typedef struct {
    cx_model *m;
    bool training;
} cx_hold;
cx_hold cx__hold_begin(cx_model *m);
void cx__hold_end(cx_hold h);

/* pixels [N, C, ...] -> model input (pixel - mean[c]) / std[c], recorded for autograd. Three
 * channels of [N, 3, H, W] use their own entries, anything else entry 0. */
cx_tensor *cx__pixel_normalise(cx_tensor *pixels, const cx_pixel_norm *norm);

/* Shifts each of planes pictures of h x w in data by (dy, dx) with wrap-around, in place. */
void cx__roll(float *data, int64_t planes, int64_t h, int64_t w, int dy, int dx);
/* A separable Gaussian blur (sigma > 0, edges clamped) of planes pictures, in place. */
cx_status cx__blur(float *data, int64_t planes, int64_t h, int64_t w, float sigma);
void cx__clamp01(float *data, int64_t n);
/* One normalised ascent step on each of n pictures of size elements: x += step g / mean|g|
 * (a zero gradient leaves the picture alone). */
void cx__ascent_step(float *x, const float *g, int64_t n, int64_t size, float step);
/* A random shift in [-jitter, jitter] for each axis (none if jitter <= 0). */
void cx__jitter_draw(cx_rng *rng, int jitter, int *dy, int *dx);
/* Settings: a value that is not finite or below lo is an error naming what and who. */
bool cx__check_setting(const char *who, const char *what, double v, double lo, double hi);

/* The index of the largest layer index among n. */
int cx__max_layer(int n, const int *layers);
/* Checks n layers against m (0 <= layer < layers); false + CX_ERR_ARG naming who. */
bool cx__check_layers(const char *who, const cx_model *m, int n, const int *layers);

/* x [1, C, H, W] resized to h x w (bilinear), without gradient. */
cx_tensor *cx__resize(cx_tensor *x, int64_t h, int64_t w);

/* Minimises f over x (n floats) with L-BFGS (history 10, step lr, the first step scaled by
 * min(1, 1 / |g|_1) while no curvature is known, as torch.optim.LBFGS, a backtracking line search keeping every step a
 * decrease). f writes the gradient into grad and returns the loss, or NaN on error (which
 * stops the run with that status). progress (may be NULL) is told each iteration's loss and
 * may stop the run by returning false. */
typedef float (*cx_lbfgs_fn)(const float *x, float *grad, void *ctx);
cx_status cx__lbfgs(float *x, int64_t n, int iterations, float lr, cx_lbfgs_fn f, void *ctx,
                    bool (*progress)(int step, float loss, void *ctx), void *progress_ctx);

#endif
