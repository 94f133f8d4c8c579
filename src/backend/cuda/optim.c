/*
 * optim.c - fused optimizer updates on the GPU: the host half. The per-parameter scalars of a
 * step (bias corrections, the first-update rule of momentum) come from src/optim's own rule
 * (rule->coef, in double as torch computes them), so the kernel in optim_kernels.cu applies exactly
 * the CPU's update, element by element, in one pass over w, g and the state buffers.
 */
#include "optim/optim_impl.h" /* cx__optim_rule, cx__optim_sgd, ... */
#include "backend/cuda/cuda_impl.h"

#include <string.h>

_Static_assert(CX_OPTIM_MAX_COEF == 12, "optim_kernels.cu passes the rule's 12 scalars");

/* The rule for kind and the kernel that runs it (cx__cuda_optim_launch's numbering). */
static const cx__optim_rule *rule_of(cx_optim_kind kind, int *kernel) {
    switch (kind) {
    case CX_OPTIM_SGD:
        *kernel = 0;
        return &cx__optim_sgd;
    case CX_OPTIM_MOMENTUM:
        *kernel = 1;
        return &cx__optim_momentum;
    case CX_OPTIM_NESTEROV:
        *kernel = 2;
        return &cx__optim_nesterov;
    case CX_OPTIM_ADAM:
        *kernel = 3;
        return &cx__optim_adam;
    case CX_OPTIM_ADAMW:
        *kernel = 3;
        return &cx__optim_adamw;
    default:
        return NULL;
    }
}

cx_status cx__cuda_optim_update(cx_optim_kind kind, const cx_optim_params *p, int64_t step,
                                int64_t n, float *w, const float *g, float *const *buf) {
    int kernel = -1;
    const cx__optim_rule *rule = rule_of(kind, &kernel);
    if (!rule)
        return cx__error(CX_ERR_UNSUPPORTED,
                         "cuda optimizer: %s has no GPU update yet (sgd, "
                         "momentum, nesterov, adam and adamw do)",
                         cx_optim_kind_name(kind));
    if (!p) return cx__error(CX_ERR_ARG, "cuda optimizer %s: NULL hyper-parameters", rule->name);
    cx_status st = rule->check(p);
    if (st != CX_OK) return st;
    if (step < 1 || n < 0)
        return cx__error(CX_ERR_ARG,
                         "cuda optimizer %s: step %lld and count %lld; need step "
                         ">= 1 and count >= 0",
                         rule->name, (long long)step, (long long)n);
    const char *names[CX_OPTIM_MAX_BUFFERS] = {NULL};
    float init[CX_OPTIM_MAX_BUFFERS];
    rule->buffers(p, names, init);
    float *slots[CX_OPTIM_MAX_BUFFERS] = {NULL}; /* only the rule's own slots reach the kernel */
    for (int k = 0; k < CX_OPTIM_MAX_BUFFERS; k++) {
        if (!names[k]) continue;
        if (!buf || !buf[k])
            return cx__error(CX_ERR_ARG, "cuda optimizer %s: state buffer %d (%s) is missing",
                             rule->name, k, names[k]);
        slots[k] = buf[k];
    }
    if (n == 0) return CX_OK;
    float c[CX_OPTIM_MAX_COEF];
    memset(c, 0, sizeof c);
    rule->coef(p, step, c);
    return cx__cuda_optim_launch(kernel, n, w, g, slots, c);
}
