/*
 * sgd.c - stochastic gradient descent, plain, with heavy-ball momentum and with Nesterov
 * momentum, as torch.optim.SGD (torch 1.13, _single_tensor_sgd):
 *
 *     d = g + weight_decay * w
 *     b = d                                    on a parameter's first update
 *     b = momentum * b + (1 - dampening) * d   after
 *     d = d + momentum * b  (Nesterov)   or  d = b  (heavy ball)
 *     w = w - lr * d
 *
 * Buffer: slot 0 "momentum_buffer" (momentum kinds). Plain SGD keeps no state.
 */
#include "optim/optim_impl.h"

enum { C_WD, C_NEG_LR, C_MOM, C_DAMP1, C_NESTEROV_MOM };

static cx_status sgd_check(const cx_optim_params *p) {
    return cx__optim_check_common("SGD", p) ? CX_OK : CX_ERR_ARG;
}

static cx_status momentum_check(const cx_optim_params *p) {
    if (!cx__optim_check_common("SGD", p) || !cx__optim_nonneg("SGD", "momentum", p->momentum) ||
        !cx__optim_finite("SGD", "dampening", p->dampening))
        return CX_ERR_ARG;
    return CX_OK;
}

static cx_status nesterov_check(const cx_optim_params *p) {
    if (momentum_check(p) != CX_OK) return CX_ERR_ARG;
    if (p->momentum <= 0.0f || p->dampening != 0.0f)
        return cx__error(CX_ERR_ARG,
                         "SGD: Nesterov momentum requires a momentum > 0 and zero "
                         "dampening (momentum = %g, dampening = %g)",
                         (double)p->momentum, (double)p->dampening);
    return CX_OK;
}

static void no_buffers(const cx_optim_params *p, const char **names, float *init) {
    (void)p, (void)names, (void)init;
}

static void momentum_buffers(const cx_optim_params *p, const char **names, float *init) {
    (void)p;
    names[0] = "momentum_buffer";
    init[0] = 0.0f;
}

static void sgd_coef(const cx_optim_params *p, int64_t step, float *c) {
    c[C_WD] = p->weight_decay;
    c[C_NEG_LR] = -p->lr;
    /* torch starts the buffer as a copy of d; 0 * b + 1 * d is exactly that (b starts at 0). */
    bool first = step == 1;
    c[C_MOM] = first ? 0.0f : p->momentum;
    c[C_DAMP1] = first ? 1.0f : (float)(1.0 - (double)p->dampening);
    c[C_NESTEROV_MOM] = p->momentum;
}

CX_VECTORIZE
static void sgd_update(int64_t n, float *w, const float *g, float *const *buf, const float *c) {
    (void)buf;
    const float wd = c[C_WD], neg_lr = c[C_NEG_LR];
    for (int64_t i = 0; i < n; i++)
        w[i] = w[i] + neg_lr * (g[i] + wd * w[i]);
}

CX_VECTORIZE
static void momentum_update(int64_t n, float *w, const float *g, float *const *buf,
                            const float *c) {
    float *b = buf[0]; /* (n) momentum_buffer */
    const float wd = c[C_WD], neg_lr = c[C_NEG_LR], mom = c[C_MOM], damp1 = c[C_DAMP1];
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        b[i] = b[i] * mom + damp1 * d;
        w[i] = w[i] + neg_lr * b[i];
    }
}

CX_VECTORIZE
static void nesterov_update(int64_t n, float *w, const float *g, float *const *buf,
                            const float *c) {
    float *b = buf[0]; /* (n) momentum_buffer */
    const float wd = c[C_WD], neg_lr = c[C_NEG_LR], mom = c[C_MOM], damp1 = c[C_DAMP1];
    const float nmom = c[C_NESTEROV_MOM];
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        b[i] = b[i] * mom + damp1 * d;
        w[i] = w[i] + neg_lr * (d + nmom * b[i]);
    }
}

const cx__optim_rule cx__optim_sgd = {"SGD", sgd_check, no_buffers, sgd_coef, sgd_update};
const cx__optim_rule cx__optim_momentum = {"SGD", momentum_check, momentum_buffers, sgd_coef,
                                           momentum_update};
const cx__optim_rule cx__optim_nesterov = {"SGD", nesterov_check, momentum_buffers, sgd_coef,
                                           nesterov_update};
