/*
 * adagrad.c - Adagrad, as torch.optim.Adagrad (torch 1.13, _single_tensor_adagrad):
 *
 *     d   = g + weight_decay * w
 *     clr = lr / (1 + (step - 1) * lr_decay)
 *     sum = sum + d * d
 *     w   = w - clr * d / (sqrt(sum) + eps)
 *
 * Buffer: slot 0 "sum", starting at initial_accumulator (torch's initial_accumulator_value).
 */
#include "optim/optim_impl.h"

#include <math.h>

enum { C_WD, C_NEG_CLR, C_EPS };

static cx_status adagrad_check(const cx_optim_params *p) {
    const char *o = "Adagrad";
    if (!cx__optim_check_common(o, p) || !cx__optim_nonneg(o, "lr_decay", p->lr_decay) ||
        !cx__optim_nonneg(o, "initial_accumulator", p->initial_accumulator) ||
        !cx__optim_nonneg(o, "eps", p->eps))
        return CX_ERR_ARG;
    return CX_OK;
}

static void adagrad_buffers(const cx_optim_params *p, const char **names, float *init) {
    names[0] = "sum";
    init[0] = p->initial_accumulator;
}

static void adagrad_coef(const cx_optim_params *p, int64_t step, float *c) {
    c[C_WD] = p->weight_decay;
    c[C_NEG_CLR] = (float)-((double)p->lr / (1.0 + (double)(step - 1) * p->lr_decay));
    c[C_EPS] = p->eps;
}

CX_VECTORIZE
static void adagrad_update(int64_t n, float *w, const float *g, float *const *buf, const float *c) {
    float *sum = buf[0]; /* (n) */
    const float wd = c[C_WD], neg_clr = c[C_NEG_CLR], eps = c[C_EPS];
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        sum[i] = sum[i] + d * d;
        w[i] = w[i] + neg_clr * d / (sqrtf(sum[i]) + eps);
    }
}

const cx__optim_rule cx__optim_adagrad = {"Adagrad", adagrad_check, adagrad_buffers, adagrad_coef,
                                          adagrad_update};
