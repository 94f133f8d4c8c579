/*
 * optim.c - the optimizer object: defaults, names and hyper-parameter checks, the state
 * buffers, and the step that runs an update rule (src/optim/<rule>.c) over every parameter.
 *
 * Everything a step touches is made in cx_optim_new: the state buffers (one f32 heap tensor
 * per parameter and buffer, as torch's zeros_like), the per-parameter scalars and a work list
 * cutting all parameters into spans of at most SPAN floats. cx_optim_step then allocates
 * nothing and runs the whole update as one parallel loop over the spans, so a model of many
 * small tensors pays one fork/join per step, not one per tensor.
 *
 * Step counts are kept per parameter, as torch's state["step"]: a parameter without a
 * gradient is skipped and its count stays, which is what Adam's bias correction and SGD's
 * first-update rule read.
 */
#include "optim/optim_impl.h"

#include <math.h>
#include <string.h>
#include <strings.h>

enum {
    SPAN = 8192,     /* floats per work item: Adam's 4-5 arrays of 32 KiB each stay in L2 */
    NAME_BYTES = 32, /* "<int>.max_exp_avg_sq" and the NUL: 11 + 1 + 14 + 1 */
};

typedef struct {
    cx_tensor *t; /* the parameter, owned by the caller */
    int64_t numel;
    int64_t steps;                        /* updates made to this parameter */
    cx_tensor *buf[CX_OPTIM_MAX_BUFFERS]; /* slot k's state, t's shape; NULL if unused */
    float *bufp[CX_OPTIM_MAX_BUFFERS];    /* their data */
    float coef[CX_OPTIM_MAX_COEF];        /* this step's scalars */
    float *w;                             /* this step's parameter data */
    const float *g;                       /* this step's gradient; NULL: skipped */
} param_slot;

typedef struct {
    int param;
    int64_t begin, len; /* elements of that parameter */
} span;

struct cx_optim {
    cx_optim_kind kind;
    cx_optim_params p;
    const cx__optim_rule *rule;
    int n;
    param_slot *slots; /* (n) */
    int n_spans;
    span *spans;   /* (n_spans) in parameter order */
    int64_t total; /* elements of all parameters */
    int64_t steps; /* cx_optim_step calls */
    int n_state;
    cx_tensor **state;         /* (n_state) the buffers in parameter, then slot order */
    char (*names)[NAME_BYTES]; /* (n_state) "<param index>.<buffer>" */
};

static const struct {
    const char *name;
    const cx__optim_rule *rule;
} kinds[] = {
    [CX_OPTIM_SGD] = {"sgd", &cx__optim_sgd},
    [CX_OPTIM_MOMENTUM] = {"momentum", &cx__optim_momentum},
    [CX_OPTIM_NESTEROV] = {"nesterov", &cx__optim_nesterov},
    [CX_OPTIM_ADAGRAD] = {"adagrad", &cx__optim_adagrad},
    [CX_OPTIM_ADADELTA] = {"adadelta", &cx__optim_adadelta},
    [CX_OPTIM_RMSPROP] = {"rmsprop", &cx__optim_rmsprop},
    [CX_OPTIM_ADAM] = {"adam", &cx__optim_adam},
    [CX_OPTIM_ADAMW] = {"adamw", &cx__optim_adamw},
};
enum { N_KINDS = sizeof kinds / sizeof kinds[0] };

/* ---- names and defaults ---- */

const char *cx_optim_kind_name(cx_optim_kind kind) {
    return (unsigned)kind < N_KINDS ? kinds[kind].name : "unknown";
}

cx_status cx_optim_kind_parse(const char *name, cx_optim_kind *kind) {
    for (int k = 0; name && k < N_KINDS; k++)
        if (strcasecmp(name, kinds[k].name) == 0) {
            if (kind) *kind = (cx_optim_kind)k;
            return CX_OK;
        }
    char valid[128] = "";
    for (int k = 0; k < N_KINDS; k++) {
        strcat(valid, kinds[k].name);
        if (k + 1 < N_KINDS) strcat(valid, ", ");
    }
    return cx__error(CX_ERR_ARG, "unknown optimizer '%s'; valid: %s", name ? name : "(null)",
                     valid);
}

cx_optim_params cx_optim_defaults(cx_optim_kind kind) {
    /* torch.optim's defaults; SGD has none for lr in torch, 0.01 is the usual choice. */
    cx_optim_params p = {
        .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .alpha = 0.99f, .rho = 0.9f, .eps = 1e-8f};
    switch (kind) {
    case CX_OPTIM_MOMENTUM:
    case CX_OPTIM_NESTEROV:
        p.momentum = 0.9f;
        break;
    case CX_OPTIM_ADAGRAD:
        p.eps = 1e-10f;
        break;
    case CX_OPTIM_ADADELTA:
        p.lr = 1.0f;
        p.eps = 1e-6f;
        break;
    case CX_OPTIM_ADAM:
        p.lr = 1e-3f;
        break;
    case CX_OPTIM_ADAMW:
        p.lr = 1e-3f;
        p.weight_decay = 0.01f;
        break;
    default:
        break;
    }
    return p;
}

/* ---- hyper-parameter checks ---- */

static bool bad_value(const char *opt, const char *field, float v, const char *need) {
    cx__error(CX_ERR_ARG, "%s: %s = %g is invalid; need %s", opt, field, (double)v, need);
    return false;
}

bool cx__optim_finite(const char *opt, const char *field, float v) {
    return isfinite(v) || bad_value(opt, field, v, "a finite value");
}

bool cx__optim_nonneg(const char *opt, const char *field, float v) {
    return (isfinite(v) && v >= 0.0f) || bad_value(opt, field, v, ">= 0");
}

bool cx__optim_below1(const char *opt, const char *field, float v) {
    return (v >= 0.0f && v < 1.0f) || bad_value(opt, field, v, "0 <= value < 1");
}

bool cx__optim_unit(const char *opt, const char *field, float v) {
    return (v >= 0.0f && v <= 1.0f) || bad_value(opt, field, v, "0 <= value <= 1");
}

bool cx__optim_check_common(const char *opt, const cx_optim_params *p) {
    return cx__optim_nonneg(opt, "lr", p->lr) &&
           cx__optim_nonneg(opt, "weight_decay", p->weight_decay);
}

/* ---- construction ---- */

/* The parameter list must hold n live, distinct, contiguous f32 tensors. */
static bool check_tensors(const char *opt, cx_tensor *const *tensors, int n) {
    if (n < 1 || !tensors) {
        cx__error(CX_ERR_ARG, "%s: no parameters to optimize (n = %d%s)", opt, n,
                  tensors ? "" : ", tensors NULL");
        return false;
    }
    for (int i = 0; i < n; i++) {
        const cx_tensor *t = tensors[i];
        char s[CX_SHAPE_STR_MAX];
        if (!t) {
            cx__error(CX_ERR_ARG, "%s: parameter %d is NULL", opt, i);
            return false;
        }
        if (!cx_tensor_valid(t)) {
            cx__error(CX_ERR_ARG, "%s: parameter %d is not a live tensor (freed?)", opt, i);
            return false;
        }
        if (t->dtype != CX_DTYPE_F32) {
            cx__error(CX_ERR_DTYPE, "%s: parameter %d is %s %s; parameters must be f32", opt, i,
                      cx_dtype_name(t->dtype), cx__shape_str(t->ndim, t->shape, s, sizeof s));
            return false;
        }
        if (!cx__is_contiguous(t)) {
            cx__error(CX_ERR_ARG, "%s: parameter %d %s is not contiguous; parameters must be", opt,
                      i, cx__shape_str(t->ndim, t->shape, s, sizeof s));
            return false;
        }
        for (int j = 0; j < i; j++)
            if (tensors[j] == t) {
                cx__error(CX_ERR_ARG,
                          "%s: parameter %d is parameter %d again; each tensor may "
                          "appear once",
                          opt, i, j);
                return false;
            }
    }
    return true;
}

/* Makes slot k's buffer of every parameter that the rule keeps, filled with its start value,
 * and the state list that names them. */
static bool make_state(cx_optim *o) {
    const char *names[CX_OPTIM_MAX_BUFFERS] = {0};
    float init[CX_OPTIM_MAX_BUFFERS] = {0};
    o->rule->buffers(&o->p, names, init);
    int per_param = 0;
    for (int k = 0; k < CX_OPTIM_MAX_BUFFERS; k++)
        per_param += names[k] != NULL;
    o->n_state = per_param * o->n;
    if (o->n_state == 0) return true;
    o->state = cx__calloc((size_t)o->n_state * sizeof *o->state);
    o->names = cx__calloc((size_t)o->n_state * sizeof *o->names);
    if (!o->state || !o->names) return false;
    int j = 0;
    for (int i = 0; i < o->n; i++) {
        param_slot *s = &o->slots[i];
        for (int k = 0; k < CX_OPTIM_MAX_BUFFERS; k++) {
            if (!names[k]) continue;
            /* On the heap, whatever arena is active: the state outlives every step. */
            cx_tensor *b = cx__tensor_alloc(NULL, CX_DTYPE_F32, s->t->ndim, s->t->shape);
            if (!b) return false;
            s->buf[k] = o->state[j] = b;
            s->bufp[k] = cx__f32(b);
            for (int64_t e = 0; e < s->numel; e++)
                s->bufp[k][e] = init[k];
            snprintf(o->names[j], NAME_BYTES, "%d.%s", i, names[k]);
            j++;
        }
    }
    return true;
}

static bool make_spans(cx_optim *o) {
    int64_t count = 0;
    for (int i = 0; i < o->n; i++)
        count += (o->slots[i].numel + SPAN - 1) / SPAN;
    if (count > INT32_MAX) {
        cx__error(CX_ERR_OOM, "%s: %lld elements in the parameters are too many", o->rule->name,
                  (long long)o->total);
        return false;
    }
    o->n_spans = (int)count;
    if (count == 0) return true;
    o->spans = cx__alloc((size_t)count * sizeof *o->spans);
    if (!o->spans) return false;
    int j = 0;
    for (int i = 0; i < o->n; i++)
        for (int64_t b = 0; b < o->slots[i].numel; b += SPAN) {
            int64_t left = o->slots[i].numel - b;
            o->spans[j++] = (span){.param = i, .begin = b, .len = left < SPAN ? left : SPAN};
        }
    return true;
}

cx_optim *cx_optim_new(cx_optim_kind kind, const cx_optim_params *params, cx_tensor *const *tensors,
                       int n) {
    if ((unsigned)kind >= N_KINDS) {
        cx__error(CX_ERR_ARG, "cx_optim_new: unknown optimizer kind %d", (int)kind);
        return NULL;
    }
    cx_optim_params p = params ? *params : cx_optim_defaults(kind);
    const cx__optim_rule *rule = kinds[kind].rule;
    if (rule->check(&p) != CX_OK || !check_tensors(rule->name, tensors, n)) return NULL;
    /* torch's SGD keeps no buffer and ignores dampening when momentum is 0. */
    if (kind == CX_OPTIM_MOMENTUM && p.momentum == 0.0f) rule = &cx__optim_sgd;

    cx_optim *o = cx__calloc(sizeof *o);
    if (!o) return NULL;
    o->kind = kind;
    o->p = p;
    o->rule = rule;
    o->n = n;
    o->slots = cx__calloc((size_t)n * sizeof *o->slots);
    if (!o->slots) goto fail;
    for (int i = 0; i < n; i++) {
        o->slots[i].t = tensors[i];
        o->slots[i].numel = cx__numel(tensors[i]->ndim, tensors[i]->shape);
        o->total += o->slots[i].numel;
    }
    if (!make_state(o) || !make_spans(o)) goto fail;
    return o;
fail:
    cx_optim_free(o);
    return NULL;
}

void cx_optim_free(cx_optim *o) {
    if (!o) return;
    for (int j = 0; o->state && j < o->n_state; j++)
        cx_tensor_free(o->state[j]);
    cx__free(o->state);
    cx__free(o->names);
    cx__free(o->spans);
    cx__free(o->slots);
    cx__free(o);
}

/* ---- the step ---- */

/* Reads this step's parameter and gradient pointers; false + error if a parameter died. */
static bool bind_params(cx_optim *o, const char *what) {
    for (int i = 0; i < o->n; i++) {
        param_slot *s = &o->slots[i];
        if (!cx_tensor_valid(s->t)) {
            cx__error(CX_ERR_ARG, "%s %s: parameter %d was freed while the optimizer uses it",
                      o->rule->name, what, i);
            return false;
        }
        s->w = cx__f32(s->t);
        s->g = s->t->grad ? cx__f32(s->t->grad) : NULL;
    }
    return true;
}

cx_status cx_optim_step(cx_optim *o) {
    if (!o) return cx__error(CX_ERR_ARG, "cx_optim_step: optimizer is NULL");
    if (!bind_params(o, "step")) return CX_ERR_ARG;
    for (int i = 0; i < o->n; i++) {
        param_slot *s = &o->slots[i];
        if (!s->g) continue;
        s->steps++;
        o->rule->coef(&o->p, s->steps, s->coef);
    }
    const param_slot *slots = o->slots;
    const span *spans = o->spans;
    void (*update)(int64_t, float *, const float *, float *const *, const float *) =
        o->rule->update;
    /* Writes go straight to the buffers: nothing is recorded for autograd. */
#pragma omp parallel for schedule(static) if (o->total > CX_PARALLEL_MIN)
    for (int j = 0; j < o->n_spans; j++) {
        const span *sp = &spans[j];
        const param_slot *s = &slots[sp->param];
        if (!s->g) continue;
        float *b[CX_OPTIM_MAX_BUFFERS];
        for (int k = 0; k < CX_OPTIM_MAX_BUFFERS; k++)
            b[k] = s->bufp[k] ? s->bufp[k] + sp->begin : NULL;
        update(sp->len, s->w + sp->begin, s->g + sp->begin, b, s->coef);
    }
    o->steps++;
    return CX_OK;
}

void cx_optim_zero_grad(cx_optim *o) {
    if (!o || !bind_params(o, "zero_grad")) return;
    const param_slot *slots = o->slots;
    const span *spans = o->spans;
#pragma omp parallel for schedule(static) if (o->total > CX_PARALLEL_MIN)
    for (int j = 0; j < o->n_spans; j++) {
        const param_slot *s = &slots[spans[j].param];
        if (s->g) memset((float *)s->g + spans[j].begin, 0, (size_t)spans[j].len * sizeof(float));
    }
}

/* ---- accessors ---- */

cx_optim_kind cx_optim_kind_of(const cx_optim *o) {
    return o ? o->kind : CX_OPTIM_SGD;
}

const cx_optim_params *cx_optim_get_params(const cx_optim *o) {
    return o ? &o->p : NULL;
}

float cx_optim_get_lr(const cx_optim *o) {
    return o ? o->p.lr : NAN;
}

cx_status cx_optim_set_lr(cx_optim *o, float lr) {
    if (!o) return cx__error(CX_ERR_ARG, "cx_optim_set_lr: optimizer is NULL");
    if (!cx__optim_nonneg(o->rule->name, "lr", lr)) return CX_ERR_ARG;
    o->p.lr = lr;
    return CX_OK;
}

int64_t cx_optim_steps(const cx_optim *o) {
    return o ? o->steps : 0;
}

cx_status cx_optim_set_steps(cx_optim *o, int64_t steps) {
    if (!o) return cx__error(CX_ERR_ARG, "cx_optim_set_steps: optimizer is NULL");
    if (steps < 0)
        return cx__error(CX_ERR_ARG, "%s: steps = %lld is invalid; need >= 0", o->rule->name,
                         (long long)steps);
    o->steps = steps;
    for (int i = 0; i < o->n; i++)
        o->slots[i].steps = steps;
    return CX_OK;
}

int cx_optim_state_count(const cx_optim *o) {
    return o ? o->n_state : 0;
}

const char *cx_optim_state_name(const cx_optim *o, int i) {
    return o && i >= 0 && i < o->n_state ? o->names[i] : NULL;
}

cx_tensor *cx_optim_state_tensor(const cx_optim *o, int i) {
    return o && i >= 0 && i < o->n_state ? o->state[i] : NULL;
}
