/*
 * rmsprop.c - RMSprop, as torch.optim.RMSprop (torch 1.13, _single_tensor_rmsprop):
 *
 *     d   = g + weight_decay * w
 *     sq  = alpha * sq + (1 - alpha) * d * d
 *     ga  = alpha * ga + (1 - alpha) * d              (centered)
 *     avg = sqrt(sq - ga * ga) + eps   (centered)  or  sqrt(sq) + eps
 *     b   = momentum * b + d / avg,  w = w - lr * b   (momentum > 0)
 *     w   = w - lr * d / avg                          (otherwise)
 *
 * Buffers: slot 0 "square_avg", slot 1 "momentum_buffer" (momentum > 0), slot 2 "grad_avg"
 * (centered), in the order torch's state lists them.
 */
#include "optim/optim_impl.h"

#include <math.h>

enum { C_WD, C_NEG_LR, C_ALPHA, C_ALPHA1, C_EPS, C_MOM };

static cx_status rmsprop_check(const cx_optim_params *p) {
    const char *o = "RMSprop";
    if (!cx__optim_check_common(o, p) || !cx__optim_nonneg(o, "eps", p->eps) ||
        !cx__optim_nonneg(o, "momentum", p->momentum) || !cx__optim_nonneg(o, "alpha", p->alpha))
        return CX_ERR_ARG;
    return CX_OK;
}

static void rmsprop_buffers(const cx_optim_params *p, const char **names, float *init) {
    names[0] = "square_avg";
    if (p->momentum > 0.0f) names[1] = "momentum_buffer";
    if (p->centered) names[2] = "grad_avg";
    init[0] = init[1] = init[2] = 0.0f;
}

static void rmsprop_coef(const cx_optim_params *p, int64_t step, float *c) {
    (void)step;
    c[C_WD] = p->weight_decay;
    c[C_NEG_LR] = -p->lr;
    c[C_ALPHA] = p->alpha;
    c[C_ALPHA1] = (float)(1.0 - (double)p->alpha);
    c[C_EPS] = p->eps;
    c[C_MOM] = p->momentum;
}

/* The loop for one combination of options; inlined into each branch of rmsprop_update so
 * every combination gets its own branch-free loop. */
static inline __attribute__((always_inline)) void rmsprop_loop(int64_t n, float *w, const float *g,
                                                               float *sq, float *b, float *ga,
                                                               const float *c, bool centered,
                                                               bool momentum) {
    const float wd = c[C_WD], neg_lr = c[C_NEG_LR], alpha = c[C_ALPHA], alpha1 = c[C_ALPHA1];
    const float eps = c[C_EPS], mom = c[C_MOM];
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        sq[i] = sq[i] * alpha + alpha1 * d * d;
        float avg;
        if (centered) {
            ga[i] = ga[i] * alpha + alpha1 * d;
            avg = sqrtf(sq[i] - ga[i] * ga[i]) + eps;
        } else {
            avg = sqrtf(sq[i]) + eps;
        }
        if (momentum) {
            b[i] = b[i] * mom + d / avg;
            w[i] = w[i] + neg_lr * b[i];
        } else {
            w[i] = w[i] + neg_lr * d / avg;
        }
    }
}

CX_VECTORIZE
static void rmsprop_update(int64_t n, float *w, const float *g, float *const *buf, const float *c) {
    float *sq = buf[0], *b = buf[1], *ga = buf[2]; /* (n) each; b, ga NULL when unused */
    if (ga && b)
        rmsprop_loop(n, w, g, sq, b, ga, c, true, true);
    else if (ga)
        rmsprop_loop(n, w, g, sq, b, ga, c, true, false);
    else if (b)
        rmsprop_loop(n, w, g, sq, b, ga, c, false, true);
    else
        rmsprop_loop(n, w, g, sq, b, ga, c, false, false);
}

const cx__optim_rule cx__optim_rmsprop = {"RMSprop", rmsprop_check, rmsprop_buffers, rmsprop_coef,
                                          rmsprop_update};
