/*
 * cortex/optim.h - optimizers, learning-rate schedules and gradient clipping. Included by
 * cortex.h.
 *
 * Every optimizer follows the update rule of its torch.optim namesake exactly (same order of
 * operations, same defaults), so five steps from the same parameters and gradients give the
 * same values within 1e-6. An optimizer updates a list of f32 parameter tensors in place from
 * their gradients (cx_tensor_grad); a parameter without a gradient is skipped, as in torch, and
 * its own step count (which Adam's bias correction and Adagrad's lr_decay read) stays.
 *
 *     cx_optim *o = cx_optim_new(CX_OPTIM_ADAM, NULL, params, n_params);   // torch defaults
 *     for (...) { cx_optim_zero_grad(o); loss = ...; cx_backward(loss); cx_optim_step(o); }
 *     cx_optim_free(o);
 */
#ifndef CORTEX_OPTIM_H
#define CORTEX_OPTIM_H

#include "cortex.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CX_OPTIM_SGD = 0,
    CX_OPTIM_MOMENTUM, /* SGD with (heavy-ball) momentum */
    CX_OPTIM_NESTEROV, /* SGD with Nesterov momentum */
    CX_OPTIM_ADAGRAD,
    CX_OPTIM_ADADELTA,
    CX_OPTIM_RMSPROP,
    CX_OPTIM_ADAM,
    CX_OPTIM_ADAMW, /* Adam with decoupled weight decay */
} cx_optim_kind;

/* Hyper-parameters. Start from cx_optim_defaults(kind), which gives torch.optim's defaults
 * (SGD lr 0.01 here since torch has none, momentum 0.9 for the momentum kinds, Adam lr 1e-3
 * betas 0.9/0.999 eps 1e-8, AdamW weight decay 0.01, Adagrad lr 0.01 eps 1e-10, Adadelta lr 1
 * rho 0.9 eps 1e-6, RMSprop lr 0.01 alpha 0.99 eps 1e-8); fields a kind does not use are
 * ignored. */
typedef struct {
    float lr;
    float momentum;     /* momentum kinds; RMSprop's optional momentum */
    float dampening;    /* momentum (not Nesterov) */
    float beta1, beta2; /* Adam, AdamW */
    float alpha;        /* RMSprop smoothing */
    float rho;          /* Adadelta */
    float eps;
    float weight_decay;      /* L2 penalty added to the gradient; AdamW: decoupled decay */
    float lr_decay;          /* Adagrad */
    float initial_accumulator; /* Adagrad */
    bool centered;           /* RMSprop */
    bool amsgrad;            /* Adam, AdamW */
} cx_optim_params;

typedef struct cx_optim cx_optim;

cx_optim_params cx_optim_defaults(cx_optim_kind kind);
/* "sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw"
 * ("unknown" for a value outside the enum). */
const char *cx_optim_kind_name(cx_optim_kind kind);
/* The kind for a name (any case); CX_ERR_ARG listing the valid names if unknown. */
cx_status cx_optim_kind_parse(const char *name, cx_optim_kind *kind);

/* An optimizer over n >= 1 parameter tensors (f32, contiguous, each at most once, valid for
 * the optimizer's life; the caller keeps ownership). params NULL means cx_optim_defaults(kind);
 * it is copied. Returns NULL + error naming the optimizer (torch's class name: "SGD", "Adam")
 * and the culprit: CX_ERR_ARG for a hyper-parameter torch refuses or that is not finite
 * ("Adam: beta2 = 1 is invalid; need 0 <= value < 1"; negative lr, eps, weight_decay,
 * momentum, Nesterov without momentum or with dampening, ...), for a NULL, freed, repeated or
 * non-contiguous parameter ("parameter 3 [4,5] is not contiguous"); CX_ERR_DTYPE for a
 * non-f32 parameter; CX_ERR_OOM. All state is allocated here: cx_optim_step allocates nothing. */
cx_optim *cx_optim_new(cx_optim_kind kind, const cx_optim_params *params,
                       cx_tensor *const *tensors, int n);
void cx_optim_free(cx_optim *o); /* NULL is a no-op */

/* One update of every parameter from its gradient. Runs without recording autograd and without
 * allocating; threads share the work when the parameters hold over 32768 elements in all.
 * CX_ERR_ARG if o is NULL or a parameter was freed. */
cx_status cx_optim_step(cx_optim *o);
/* Zeroes every parameter's gradient, keeping the buffers (torch's zero_grad(set_to_none=False)). */
void cx_optim_zero_grad(cx_optim *o);

cx_optim_kind cx_optim_kind_of(const cx_optim *o);
const cx_optim_params *cx_optim_get_params(const cx_optim *o);
float cx_optim_get_lr(const cx_optim *o);
/* Schedules call this between epochs. CX_ERR_ARG (lr unchanged) if lr is negative or not
 * finite. */
cx_status cx_optim_set_lr(cx_optim *o, float lr);
int64_t cx_optim_steps(const cx_optim *o); /* cx_optim_step calls so far */

/* State for checkpoints: the step count and the per-parameter buffers, each an f32 tensor of
 * its parameter's shape owned by o (valid until cx_optim_free). Names are
 * "<param index>.<buffer>" with torch's buffer names, e.g. "3.exp_avg", as in torch's optimizer
 * state_dict: momentum_buffer (momentum, nesterov; rmsprop with momentum > 0), sum (adagrad),
 * square_avg and acc_delta (adadelta), square_avg and grad_avg (rmsprop, centered), exp_avg,
 * exp_avg_sq and max_exp_avg_sq (adam, adamw; the last with amsgrad). Plain SGD has none. The
 * list is ordered by parameter, then buffer. Buffers exist from cx_optim_new on, as zeros
 * (Adagrad's sum: initial_accumulator). Restoring a saved state: cx_optim_set_steps(o, saved)
 * (sets every parameter's step count too), then write each buffer (cx_tensor_copy_from).
 * Out-of-range i gives NULL. */
int cx_optim_state_count(const cx_optim *o);
const char *cx_optim_state_name(const cx_optim *o, int i);
cx_tensor *cx_optim_state_tensor(const cx_optim *o, int i);
cx_status cx_optim_set_steps(cx_optim *o, int64_t steps); /* CX_ERR_ARG if steps < 0 */

/* ---- learning-rate schedules (per epoch, as torch.optim.lr_scheduler) ---- */

typedef enum {
    CX_SCHEDULE_CONSTANT = 0,
    CX_SCHEDULE_STEP,        /* lr * gamma^(epoch / step_size)        (StepLR) */
    CX_SCHEDULE_EXPONENTIAL, /* lr * gamma^epoch                      (ExponentialLR) */
    CX_SCHEDULE_COSINE,      /* eta_min + (lr - eta_min)(1 + cos(pi epoch / t_max)) / 2 */
} cx_schedule_kind;

typedef struct {
    cx_schedule_kind kind;
    int step_size; /* STEP */
    float gamma;   /* STEP, EXPONENTIAL */
    int t_max;     /* COSINE */
    float eta_min; /* COSINE */
} cx_schedule;

/* The learning rate for epoch (0-based) from base_lr, in torch's closed form. NaN + CX_ERR_ARG
 * for a NULL or unknown schedule, epoch < 0, step_size < 1 (STEP), t_max < 1 (COSINE), or a
 * negative or non-finite gamma (STEP, EXPONENTIAL). */
float cx_schedule_lr(const cx_schedule *s, float base_lr, int epoch);
/* "constant", "step", "exponential", "cosine"; parse (any case) gives CX_ERR_ARG listing them. */
const char *cx_schedule_kind_name(cx_schedule_kind kind);
cx_status cx_schedule_kind_parse(const char *name, cx_schedule_kind *kind);

/* ---- gradient clipping ---- */

/* Scales the gradients of the n tensors so their global L2 norm is at most max_norm, as
 * torch.nn.utils.clip_grad_norm_: by max_norm / (norm + 1e-6) when that is below 1. Returns
 * the norm before clipping (NaN/Inf passes through, so callers can detect it; a NaN norm
 * leaves the gradients alone, an infinite one scales them by 0 as torch does); 0 when no
 * tensor has a gradient. Tensors without a gradient are skipped. Allocates nothing. NaN +
 * CX_ERR_ARG for a NULL list, a NULL or freed tensor, or max_norm negative or NaN. */
float cx_clip_grad_norm(cx_tensor *const *tensors, int n, float max_norm);

#ifdef __cplusplus
}
#endif
#endif /* CORTEX_OPTIM_H */
