/*
 * optim_impl.h - what the optimizer files share: the descriptor of an update rule, which each
 * src/optim/<rule>.c defines and optim.c dispatches through, and the hyper-parameter checks.
 *
 * An update is split the way torch.optim splits it: the per-parameter scalars (bias
 * corrections, decayed learning rates) are computed once per parameter and step in double, as
 * torch's Python side does, and rounded to float, as torch's kernels take them (coef); the
 * elementwise part then runs over spans of the flat f32 arrays (update), with no branches left
 * in its loop but loop-invariant ones, so it vectorises.
 */
#ifndef CX_OPTIM_IMPL_H
#define CX_OPTIM_IMPL_H

#include "cortex_impl.h"

#define CX_OPTIM_MAX_BUFFERS 3 /* state buffers per parameter (RMSprop uses all three) */
#define CX_OPTIM_MAX_COEF 12   /* per-step scalars of one parameter */

typedef struct {
    const char *name; /* torch's class name, for messages: "SGD", "Adam" */
    /* Checks the hyper-parameters as torch's constructor does, plus finiteness: CX_OK, or
     * CX_ERR_ARG with a message naming the optimizer, the field and its value. */
    cx_status (*check)(const cx_optim_params *p);
    /* The state buffers kept with these hyper-parameters, by slot: names[k] is torch's name
     * for slot k (NULL: slot unused) and init[k] its starting value. Slots are fixed per rule,
     * so update() finds each buffer at its own index whatever the options. */
    void (*buffers)(const cx_optim_params *p, const char **names, float *init);
    /* c[0..CX_OPTIM_MAX_COEF) for a parameter's step-th update (1-based). */
    void (*coef)(const cx_optim_params *p, int64_t step, float *c);
    /* One update of n elements: w parameter, g gradient, buf[k] slot k's buffer (NULL if the
     * slot is unused), all (n) contiguous and at the same offset. */
    void (*update)(int64_t n, float *w, const float *g, float *const *buf, const float *c);
} cx__optim_rule;

extern const cx__optim_rule cx__optim_sgd, cx__optim_momentum, cx__optim_nesterov;
extern const cx__optim_rule cx__optim_adagrad, cx__optim_adadelta, cx__optim_rmsprop;
extern const cx__optim_rule cx__optim_adam, cx__optim_adamw;

/* Hyper-parameter checks for rule->check. Each passes (true) or sets CX_ERR_ARG with
 * "<optimizer>: <field> = <value> is invalid; need <range>" and returns false. NaN and
 * infinities always fail. */
bool cx__optim_nonneg(const char *opt, const char *field, float v); /* v >= 0 */
bool cx__optim_below1(const char *opt, const char *field, float v); /* 0 <= v < 1 */
bool cx__optim_unit(const char *opt, const char *field, float v);   /* 0 <= v <= 1 */
bool cx__optim_finite(const char *opt, const char *field, float v); /* any finite v */

/* The checks every rule shares: lr and weight_decay non-negative. */
bool cx__optim_check_common(const char *opt, const cx_optim_params *p);

#endif /* CX_OPTIM_IMPL_H */
