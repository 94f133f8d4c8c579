/*
 * adadelta.c - Adadelta, as torch.optim.Adadelta (torch 1.13, _single_tensor_adadelta):
 *
 *     d     = g + weight_decay * w
 *     sq    = rho * sq + (1 - rho) * d * d
 *     delta = sqrt(acc + eps) / sqrt(sq + eps) * d
 *     acc   = rho * acc + (1 - rho) * delta * delta
 *     w     = w - lr * delta
 *
 * Buffers: slot 0 "square_avg", slot 1 "acc_delta".
 */
#include "optim/optim_impl.h"

#include <math.h>

enum { C_WD, C_NEG_LR, C_RHO, C_RHO1, C_EPS };

static cx_status adadelta_check(const cx_optim_params *p) {
    const char *o = "Adadelta";
    if (!cx__optim_check_common(o, p) || !cx__optim_unit(o, "rho", p->rho) ||
        !cx__optim_nonneg(o, "eps", p->eps))
        return CX_ERR_ARG;
    return CX_OK;
}

static void adadelta_buffers(const cx_optim_params *p, const char **names, float *init) {
    (void)p;
    names[0] = "square_avg";
    names[1] = "acc_delta";
    init[0] = init[1] = 0.0f;
}

static void adadelta_coef(const cx_optim_params *p, int64_t step, float *c) {
    (void)step;
    c[C_WD] = p->weight_decay;
    c[C_NEG_LR] = -p->lr;
    c[C_RHO] = p->rho;
    c[C_RHO1] = (float)(1.0 - (double)p->rho);
    c[C_EPS] = p->eps;
}

CX_VECTORIZE
static void adadelta_update(int64_t n, float *w, const float *g, float *const *buf,
                            const float *c) {
    float *sq = buf[0], *acc = buf[1]; /* (n) each */
    const float wd = c[C_WD], neg_lr = c[C_NEG_LR], rho = c[C_RHO], rho1 = c[C_RHO1];
    const float eps = c[C_EPS];
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        sq[i] = sq[i] * rho + rho1 * d * d;
        float delta = sqrtf(acc[i] + eps) / sqrtf(sq[i] + eps) * d;
        acc[i] = acc[i] * rho + rho1 * delta * delta;
        w[i] = w[i] + neg_lr * delta;
    }
}

const cx__optim_rule cx__optim_adadelta = {"Adadelta", adadelta_check, adadelta_buffers,
                                           adadelta_coef, adadelta_update};
