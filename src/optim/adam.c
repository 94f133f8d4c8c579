/*
 * adam.c - Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW (torch 1.13,
 * _single_tensor_adam / _single_tensor_adamw, the non-capturable path):
 *
 *     w     = (1 - lr * weight_decay) * w          AdamW: decoupled decay
 *     d     = g + weight_decay * w                 Adam: L2 penalty in the gradient
 *     m     = beta1 * m + (1 - beta1) * d
 *     v     = beta2 * v + (1 - beta2) * d * d
 *     vmax  = max(vmax, v)                         (amsgrad; v below means vmax)
 *     w     = w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * One kernel serves both: Adam runs it with decay factor 1 (w * 1 is w) and AdamW with L2
 * factor 0 (g + 0 * w is g). Buffers: slot 0 "exp_avg", slot 1 "exp_avg_sq", slot 2
 * "max_exp_avg_sq" (amsgrad).
 */
#include "optim/optim_impl.h"
#include "backend/cpu/vmath.h" /* cx__vselect */

#include <math.h>

enum { C_DECAY, C_L2, C_BETA1, C_BETA1_1, C_BETA2, C_BETA2_1, C_NEG_STEP, C_BC2_SQRT, C_EPS };

static cx_status check_as(const char *o, const cx_optim_params *p) {
    if (!cx__optim_check_common(o, p) || !cx__optim_nonneg(o, "eps", p->eps) ||
        !cx__optim_below1(o, "beta1", p->beta1) || !cx__optim_below1(o, "beta2", p->beta2))
        return CX_ERR_ARG;
    return CX_OK;
}

static cx_status adam_check(const cx_optim_params *p) {
    return check_as("Adam", p);
}
static cx_status adamw_check(const cx_optim_params *p) {
    return check_as("AdamW", p);
}

static void adam_buffers(const cx_optim_params *p, const char **names, float *init) {
    names[0] = "exp_avg";
    names[1] = "exp_avg_sq";
    if (p->amsgrad) names[2] = "max_exp_avg_sq";
    init[0] = init[1] = init[2] = 0.0f;
}

/* The scalars both share; torch computes them in Python doubles. */
static void moments_coef(const cx_optim_params *p, int64_t step, float *c) {
    double t = (double)step, bc1 = 1.0 - pow(p->beta1, t), bc2 = 1.0 - pow(p->beta2, t);
    c[C_BETA1] = p->beta1;
    c[C_BETA1_1] = (float)(1.0 - (double)p->beta1);
    c[C_BETA2] = p->beta2;
    c[C_BETA2_1] = (float)(1.0 - (double)p->beta2);
    c[C_NEG_STEP] = (float)-((double)p->lr / bc1);
    c[C_BC2_SQRT] = (float)sqrt(bc2);
    c[C_EPS] = p->eps;
}

static void adam_coef(const cx_optim_params *p, int64_t step, float *c) {
    moments_coef(p, step, c);
    c[C_DECAY] = 1.0f;
    c[C_L2] = p->weight_decay;
}

static void adamw_coef(const cx_optim_params *p, int64_t step, float *c) {
    moments_coef(p, step, c);
    c[C_DECAY] = (float)(1.0 - (double)p->lr * (double)p->weight_decay);
    c[C_L2] = 0.0f;
}

static inline __attribute__((always_inline)) void adam_loop(int64_t n, float *w, const float *g,
                                                            float *m, float *v, float *vmax,
                                                            const float *c, bool amsgrad) {
    const float decay = c[C_DECAY], l2 = c[C_L2], b1 = c[C_BETA1], b1_1 = c[C_BETA1_1];
    const float b2 = c[C_BETA2], b2_1 = c[C_BETA2_1], neg_step = c[C_NEG_STEP];
    const float bc2_sqrt = c[C_BC2_SQRT], eps = c[C_EPS];
    for (int64_t i = 0; i < n; i++) {
        float x = w[i] * decay;
        float d = g[i] + l2 * x;
        m[i] = m[i] * b1 + b1_1 * d;
        v[i] = v[i] * b2 + b2_1 * d * d;
        float s = v[i];
        if (amsgrad) {
            /* torch.maximum propagates NaN from v; the select keeps v unless v <= vmax. */
            s = vmax[i] = cx__vselect(!(v[i] <= vmax[i]), v[i], vmax[i]);
        }
        w[i] = x + neg_step * m[i] / (sqrtf(s) / bc2_sqrt + eps);
    }
}

CX_VECTORIZE
static void adam_update(int64_t n, float *w, const float *g, float *const *buf, const float *c) {
    float *m = buf[0], *v = buf[1], *vmax = buf[2]; /* (n) each; vmax NULL without amsgrad */
    if (vmax)
        adam_loop(n, w, g, m, v, vmax, c, true);
    else
        adam_loop(n, w, g, m, v, vmax, c, false);
}

const cx__optim_rule cx__optim_adam = {"Adam", adam_check, adam_buffers, adam_coef, adam_update};
const cx__optim_rule cx__optim_adamw = {"AdamW", adamw_check, adam_buffers, adamw_coef,
                                        adam_update};
