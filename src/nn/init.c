/*
 * init.c - weight initialisers, drawing the same numbers as torch.nn.init for the same
 * generator state: uniform_ maps each 24-bit draw x to x * (hi - lo) + lo in float, normal_
 * is torch's normal fill (cx_randn) scaled by std. Bounds are computed in double as
 * torch.nn.init computes them in Python.
 * Reference: https://pytorch.org/docs/1.13/nn.init.html
 */
#include "nn/layer.h" /* defines: cx__init_* */

#include <math.h>
#include <string.h>

const char *const cx__init_names[] = {"default",    "glorot_uniform", "glorot_normal",
                                      "he_uniform", "he_normal",      "uniform",
                                      "normal",     "zeros",          NULL};

void cx__init_uniform(cx_tensor *t, double lo, double hi, cx_rng *rng) {
    float *w = cx__f32(t), from = (float)lo, span = (float)hi - from;
    int64_t n = cx__numel(t->ndim, t->shape);
    for (int64_t i = 0; i < n; i++)
        w[i] = cx_rng_uniform(rng) * span + from;
}

void cx__init_normal(cx_tensor *t, double std, cx_rng *rng) {
    /* torch's fill (as cx_randn: scalar Box-Muller below 16 values, blocks of 16 above),
     * written straight into the parameter: no temporary, so nothing to fail */
    float *w = cx__f32(t), s = (float)std;
    int64_t n = cx__numel(t->ndim, t->shape);
    cx__rng_fill_normal(rng ? rng : cx_rng_default(), w, n);
    for (int64_t i = 0; i < n; i++)
        w[i] *= s;
}

void cx__init_weight(cx_tensor *w, cx_init init, float scale, int64_t fan_in, int64_t fan_out,
                     cx_rng *rng) {
    const double relu_gain = sqrt(2.0);
    double fi = (double)fan_in, fo = (double)fan_out;
    switch (init) {
    case CX_INIT_DEFAULT: { /* kaiming_uniform_(a=sqrt(5)): leaky_relu gain with slope sqrt(5) */
        double gain = sqrt(2.0 / (1.0 + sqrt(5.0) * sqrt(5.0)));
        double bound = sqrt(3.0) * (gain / sqrt(fi));
        cx__init_uniform(w, -bound, bound, rng);
        break;
    }
    case CX_INIT_GLOROT_UNIFORM: {
        double a = sqrt(3.0) * sqrt(2.0 / (fi + fo));
        cx__init_uniform(w, -a, a, rng);
        break;
    }
    case CX_INIT_GLOROT_NORMAL:
        cx__init_normal(w, sqrt(2.0 / (fi + fo)), rng);
        break;
    case CX_INIT_HE_UNIFORM: {
        double bound = sqrt(3.0) * (relu_gain / sqrt(fi));
        cx__init_uniform(w, -bound, bound, rng);
        break;
    }
    case CX_INIT_HE_NORMAL:
        cx__init_normal(w, relu_gain / sqrt(fi), rng);
        break;
    case CX_INIT_UNIFORM:
        cx__init_uniform(w, -(double)scale, scale, rng);
        break;
    case CX_INIT_NORMAL:
        cx__init_normal(w, scale, rng);
        break;
    case CX_INIT_ZEROS:
        memset(cx__f32(w), 0, (size_t)cx__numel(w->ndim, w->shape) * sizeof(float));
        break;
    }
}

void cx__init_weight_bias(cx_tensor *w, cx_tensor *b, cx_init init, float scale, cx_rng *rng) {
    int64_t receptive = 1;
    for (int d = 2; d < w->ndim; d++)
        receptive *= w->shape[d];
    int64_t fan_in = w->shape[1] * receptive, fan_out = w->shape[0] * receptive;
    cx__init_weight(w, init, scale, fan_in, fan_out, rng);
    if (!b) return;
    if (init == CX_INIT_DEFAULT) {
        double bound = 1.0 / sqrt((double)fan_in);
        cx__init_uniform(b, -bound, bound, rng);
    } else {
        cx__init_weight(b, CX_INIT_ZEROS, 0, fan_in, fan_out, rng);
    }
}

void cx__init_layer(const cx_layer *l, cx_tensor *const *params, cx_rng *rng) {
    const cx_weight_args *w = (const cx_weight_args *)l->args;
    cx__init_weight_bias(params[0], w->bias ? params[1] : NULL, (cx_init)w->init, w->scale, rng);
}
