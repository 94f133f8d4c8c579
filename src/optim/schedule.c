/*
 * schedule.c - per-epoch learning rates in the closed forms of torch.optim.lr_scheduler
 * (StepLR, ExponentialLR, CosineAnnealingLR._get_closed_form_lr), computed in double as
 * torch's Python side does and rounded once to float.
 */
#include "cortex_impl.h"

#include <math.h>
#include <strings.h>

static const char *const names[] = {
    [CX_SCHEDULE_CONSTANT] = "constant",
    [CX_SCHEDULE_STEP] = "step",
    [CX_SCHEDULE_EXPONENTIAL] = "exponential",
    [CX_SCHEDULE_COSINE] = "cosine",
};
enum { N_KINDS = sizeof names / sizeof names[0] };

const char *cx_schedule_kind_name(cx_schedule_kind kind) {
    return (unsigned)kind < N_KINDS ? names[kind] : "unknown";
}

cx_status cx_schedule_kind_parse(const char *name, cx_schedule_kind *kind) {
    for (int k = 0; name && k < N_KINDS; k++)
        if (strcasecmp(name, names[k]) == 0) {
            if (kind) *kind = (cx_schedule_kind)k;
            return CX_OK;
        }
    return cx__error(CX_ERR_ARG,
                     "unknown schedule '%s'; valid: constant, step, exponential, "
                     "cosine",
                     name ? name : "(null)");
}

static float bad(const char *what, const char *field, double v, const char *need) {
    cx__error(CX_ERR_ARG, "%s schedule: %s = %g is invalid; need %s", what, field, v, need);
    return NAN;
}

float cx_schedule_lr(const cx_schedule *s, float base_lr, int epoch) {
    if (!s) {
        cx__error(CX_ERR_ARG, "cx_schedule_lr: schedule is NULL");
        return NAN;
    }
    const char *what = cx_schedule_kind_name(s->kind);
    if (epoch < 0) return bad(what, "epoch", epoch, ">= 0");
    double lr = base_lr, gamma = s->gamma;
    bool uses_gamma = s->kind == CX_SCHEDULE_STEP || s->kind == CX_SCHEDULE_EXPONENTIAL;
    if (uses_gamma && !(isfinite(gamma) && gamma >= 0)) return bad(what, "gamma", gamma, ">= 0");
    switch (s->kind) {
    case CX_SCHEDULE_CONSTANT:
        return base_lr;
    case CX_SCHEDULE_STEP:
        if (s->step_size < 1) return bad(what, "step_size", s->step_size, ">= 1");
        return (float)(lr * pow(gamma, epoch / s->step_size));
    case CX_SCHEDULE_EXPONENTIAL:
        return (float)(lr * pow(gamma, epoch));
    case CX_SCHEDULE_COSINE: {
        if (s->t_max < 1) return bad(what, "t_max", s->t_max, ">= 1");
        double eta_min = s->eta_min;
        return (float)(eta_min + (lr - eta_min) * (1.0 + cos(M_PI * epoch / s->t_max)) / 2.0);
    }
    }
    cx__error(CX_ERR_ARG, "cx_schedule_lr: unknown schedule kind %d", (int)s->kind);
    return NAN;
}
