/*
 * loss.c - loss functions, each one fused op: mse_loss, bce_with_logits and kl_normal
 * (elementwise, then reduced) and cross_entropy and nll_loss (rows of (N, C) scores picked by
 * i32 labels).
 *
 * Reductions follow torch.nn.functional: MEAN divides the total by the element count (mse,
 * bce) or by N (cross_entropy, nll_loss), and for kl_normal by the batch size (dim 0) as
 * cortex.h documents; SUM is the total; NONE keeps one loss per element (per row for the
 * label losses). Totals accumulate in double over fixed chunks, so they do not depend on the
 * thread count.
 *
 * Gradients: bce_with_logits and mse_loss differentiate both inputs, as PyTorch does
 * (d bce/d target = -logits). cross_entropy saves each row's log-sum-exp for its backward,
 * (softmax - onehot) * g. There is no ignore_index, class weighting or label smoothing: every
 * label must lie in [0, C).
 */
#include "cortex_impl.h"

#include "backend/cpu/vmath.h" /* cx__vexp */

#include <math.h>

enum { CHUNK = 4096 }; /* elements per work item of the elementwise losses */

/* ---- shared helpers ---- */

static bool reduction_ok(const char *name, cx_reduction r) {
    if (r == CX_REDUCTION_MEAN || r == CX_REDUCTION_SUM || r == CX_REDUCTION_NONE) return true;
    cx__error(CX_ERR_ARG, "%s: unknown reduction %d (use CX_REDUCTION_MEAN, _SUM or _NONE)", name,
              (int)r);
    return false;
}

/* t's elements in logical order: t's own data if contiguous, else a copy left in *tmp. */
static const void *dense(const cx_tensor *t, void **tmp) {
    *tmp = NULL;
    if (cx__is_contiguous(t)) return (const char *)t->storage->data + t->offset * 4;
    *tmp = cx__temp_alloc((size_t)cx__numel(t->ndim, t->shape) * 4);
    if (*tmp) cx__copy_strided(t, *tmp);
    return *tmp;
}

CX_VECTORIZE
static double sum_span(const float *x, int64_t n) {
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++) acc += x[i];
    return acc;
}

/* A 0-d tensor holding value. */
static cx_tensor *scalar_out(double value) {
    cx_tensor *out = cx__tensor_empty(CX_DTYPE_F32, 0, NULL);
    if (out) cx__f32(out)[0] = (float)value;
    return out;
}

/* ---- elementwise losses: mse_loss, bce_with_logits, kl_normal ---- */

typedef enum { EW_MSE, EW_BCE, EW_KL } ew_kind;

/* v[i] = loss(a[i], b[i]): (a - b)^2; bce of logits a against targets b, stably
 * max(a, 0) - a b + log(1 + exp(-|a|)); KL of N(mu = a, exp(logvar = b)) from N(0, 1). */
CX_VECTORIZE
static void ew_values(ew_kind kind, const float *a, const float *b, int64_t n, float *v) {
    switch (kind) {
    case EW_MSE:
        for (int64_t i = 0; i < n; i++) v[i] = (a[i] - b[i]) * (a[i] - b[i]);
        break;
    case EW_BCE:
        for (int64_t i = 0; i < n; i++)
            v[i] = fmaxf(a[i], 0.0f) - a[i] * b[i] + cx__vlog1p(cx__vexp(-fabsf(a[i])));
        break;
    case EW_KL:
        for (int64_t i = 0; i < n; i++)
            v[i] = -0.5f * (1.0f + b[i] - a[i] * a[i] - cx__vexp(b[i]));
        break;
    }
}

/* Adds d loss/d a (which = 0) or d loss/d b (which = 1) into grad, with upstream gradient
 * g[i * gs] (gs = 0: one value for all). */
CX_VECTORIZE
static void ew_grad(ew_kind kind, int which, const float *a, const float *b, const float *g,
                    int64_t gs, int64_t n, float *grad) {
    float sign = which ? -1.0f : 1.0f;
    switch (kind) {
    case EW_MSE: /* d/da (a - b)^2 = 2 (a - b) = -d/db */
        for (int64_t i = 0; i < n; i++) grad[i] += sign * 2.0f * (a[i] - b[i]) * g[i * gs];
        break;
    case EW_BCE: /* d/da = sigmoid(a) - b, d/db = -a */
        if (which)
            for (int64_t i = 0; i < n; i++) grad[i] -= a[i] * g[i * gs];
        else
            for (int64_t i = 0; i < n; i++)
                grad[i] += (1.0f / (1.0f + cx__vexp(-a[i])) - b[i]) * g[i * gs];
        break;
    case EW_KL: /* d/dmu = mu, d/dlogvar = (exp(logvar) - 1) / 2 */
        if (which)
            for (int64_t i = 0; i < n; i++)
                grad[i] += 0.5f * (cx__vexp(b[i]) - 1.0f) * g[i * gs];
        else
            for (int64_t i = 0; i < n; i++) grad[i] += a[i] * g[i * gs];
        break;
    }
}

static cx_tensor *ew_loss(const char *name, const cx_op *op, ew_kind kind, cx_tensor *a,
                          const char *a_name, cx_tensor *b, const char *b_name,
                          cx_reduction red) {
    if (!cx__check_f32(name, a_name, a) || !cx__check_f32(name, b_name, b) ||
        !reduction_ok(name, red))
        return NULL;
    bool same = a->ndim == b->ndim;
    for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == b->shape[d];
    if (!same) {
        char sa[CX_SHAPE_STR_MAX], sb[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "%s: %s %s and %s %s must have the same shape", name, a_name,
                  cx__shape_str(a->ndim, a->shape, sa, sizeof sa), b_name,
                  cx__shape_str(b->ndim, b->shape, sb, sizeof sb));
        return NULL;
    }
    int64_t n = cx__numel(a->ndim, a->shape), chunks = (n + CHUNK - 1) / CHUNK;
    double scale = 1.0; /* applied to the total */
    if (red == CX_REDUCTION_MEAN)
        scale = 1.0 / (double)(kind == EW_KL ? (a->ndim ? a->shape[0] : 1) : n);
    void *ta, *tb;
    const float *da = dense(a, &ta), *db = dense(b, &tb);
    cx_tensor *out = NULL;
    double *part = NULL; /* [chunks] partial totals */
    if (da && db) {
        if (red == CX_REDUCTION_NONE) out = cx__tensor_empty(CX_DTYPE_F32, a->ndim, a->shape);
        else part = cx__temp_alloc((size_t)(chunks ? chunks : 1) * sizeof *part);
    }
    if (out) {
        float *v = cx__f32(out);
#pragma omp parallel for if (n > CX_PARALLEL_MIN)
        for (int64_t c = 0; c < chunks; c++) {
            int64_t i0 = c * CHUNK, len = n - i0 < CHUNK ? n - i0 : CHUNK;
            ew_values(kind, da + i0, db + i0, len, v + i0);
        }
    } else if (part) {
#pragma omp parallel for if (n > CX_PARALLEL_MIN)
        for (int64_t c = 0; c < chunks; c++) {
            int64_t i0 = c * CHUNK, len = n - i0 < CHUNK ? n - i0 : CHUNK;
            float v[CHUNK];
            ew_values(kind, da + i0, db + i0, len, v);
            part[c] = sum_span(v, len);
        }
        double total = 0.0;
        for (int64_t c = 0; c < chunks; c++) total += part[c];
        out = scalar_out(total * scale); /* MEAN of nothing: 0 * inf = NaN, as PyTorch */
    }
    cx__temp_free(part);
    cx__temp_free(tb);
    cx__temp_free(ta);
    out = cx__finish(out, op, 2, (cx_tensor *[]){a, b});
    if (out && out->node) {
        out->node->i[0] = red;
        out->node->f[0] = (float)scale;
    }
    return out;
}

static cx_status ew_backward(ew_kind kind, cx_node *node, const float *gout) {
    cx_tensor *a = node->in[0], *b = node->in[1];
    int64_t n = cx__numel(a->ndim, a->shape), chunks = (n + CHUNK - 1) / CHUNK;
    bool none = node->i[0] == CX_REDUCTION_NONE;
    float g0 = none ? 0.0f : gout[0] * node->f[0];
    const float *g = none ? gout : &g0;
    void *ta, *tb;
    const float *da = dense(a, &ta), *db = dense(b, &tb);
    cx_status st = da && db ? CX_OK : cx_last_status();
    for (int which = 0; which < 2 && st == CX_OK; which++) {
        cx_tensor *t = node->in[which];
        if (!cx__needs_grad(t)) continue;
        float *grad = cx__grad(t);
        if (!grad) {
            st = cx_last_status();
            break;
        }
#pragma omp parallel for if (n > CX_PARALLEL_MIN)
        for (int64_t c = 0; c < chunks; c++) {
            int64_t i0 = c * CHUNK, len = n - i0 < CHUNK ? n - i0 : CHUNK;
            ew_grad(kind, which, da + i0, db + i0, none ? g + i0 : g, none, len, grad + i0);
        }
    }
    cx__temp_free(tb);
    cx__temp_free(ta);
    return st;
}

cx_tensor *cx_mse_loss(cx_tensor *pred, cx_tensor *target, cx_reduction reduction) {
    return ew_loss("mse_loss", &cx_op_mse_loss, EW_MSE, pred, "pred", target, "target",
                   reduction);
}

cx_tensor *cx_bce_with_logits(cx_tensor *logits, cx_tensor *target, cx_reduction reduction) {
    return ew_loss("bce_with_logits", &cx_op_bce_with_logits, EW_BCE, logits, "logits", target,
                   "target", reduction);
}

cx_tensor *cx_kl_normal(cx_tensor *mu, cx_tensor *logvar, cx_reduction reduction) {
    return ew_loss("kl_normal", &cx_op_kl_normal, EW_KL, mu, "mu", logvar, "logvar", reduction);
}

static cx_status mse_loss_backward(cx_node *node, cx_tensor *out, const float *gout) {
    (void)out;
    return ew_backward(EW_MSE, node, gout);
}
static cx_status bce_with_logits_backward(cx_node *node, cx_tensor *out, const float *gout) {
    (void)out;
    return ew_backward(EW_BCE, node, gout);
}
static cx_status kl_normal_backward(cx_node *node, cx_tensor *out, const float *gout) {
    (void)out;
    return ew_backward(EW_KL, node, gout);
}

/* ---- label losses: cross_entropy, nll_loss ---- */

/* Checks scores (N, C) f32 and labels (N) i32. */
static bool labels_check(const char *name, const char *s_name, const cx_tensor *s,
                         const cx_tensor *labels, cx_reduction red) {
    if (!cx__check_f32(name, s_name, s) || !cx__check(name, "labels", labels) ||
        !reduction_ok(name, red))
        return false;
    char a[CX_SHAPE_STR_MAX], b[CX_SHAPE_STR_MAX];
    cx__shape_str(s->ndim, s->shape, a, sizeof a);
    cx__shape_str(labels->ndim, labels->shape, b, sizeof b);
    if (labels->dtype != CX_DTYPE_I32) {
        cx__error(CX_ERR_DTYPE, "%s: labels must be i32, got %s (labels %s)", name,
                  cx_dtype_name(labels->dtype), b);
        return false;
    }
    if (s->ndim != 2) {
        cx__error(CX_ERR_SHAPE, "%s: %s must be (N, C), got %s (labels %s)", name, s_name, a, b);
        return false;
    }
    if (labels->ndim != 1 || labels->shape[0] != s->shape[0]) {
        cx__error(CX_ERR_SHAPE, "%s: labels %s do not match %s %s: need (N) = (%lld)", name, b,
                  s_name, a, (long long)s->shape[0]);
        return false;
    }
    return true;
}

/* True if every label lies in [0, C); else an error naming the first bad one. */
static bool labels_in_range(const char *name, const int32_t *y, int64_t n, int64_t c) {
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= c) {
            cx__error(CX_ERR_ARG, "%s: label %d at index %lld is out of range [0, %lld)", name,
                      (int)y[i], (long long)i, (long long)c);
            return false;
        }
    }
    return true;
}

/* The output: per-row losses (NONE), their total (SUM) or mean (MEAN). */
static cx_tensor *rows_out(const float *loss, int64_t n, cx_reduction red) {
    if (red == CX_REDUCTION_MEAN) return scalar_out(sum_span(loss, n) / (double)n);
    if (red == CX_REDUCTION_SUM) return scalar_out(sum_span(loss, n));
    cx_tensor *out = cx__tensor_empty(CX_DTYPE_F32, 1, &n);
    for (int64_t i = 0; out && i < n; i++) cx__f32(out)[i] = loss[i];
    return out;
}

/* log(sum_j exp(x[j])), j < c, with the maximum subtracted first. */
CX_VECTORIZE
static float logsumexp(const float *x, int64_t c) {
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < c; j++) m = x[j] > m ? x[j] : m;
    double s = 0.0;
    for (int64_t j0 = 0; j0 < c; j0 += 256) {
        float e[256]; /* exponentials then summed in double: GCC vectorises the two apart */
        int64_t len = c - j0 < 256 ? c - j0 : 256;
        for (int64_t j = 0; j < len; j++) e[j] = cx__vexp(x[j0 + j] - m);
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < len; j++) s += e[j];
    }
    return m + (float)log(s);
}

/* gr[j] += (exp(x[j] - lse) - [j = y]) g: one row of the cross-entropy gradient. */
CX_VECTORIZE
static void cross_entropy_grad_row(const float *x, int64_t c, float lse, int32_t y, float g,
                                   float *gr) {
    for (int64_t j = 0; j < c; j++) gr[j] += cx__vexp(x[j] - lse) * g;
    gr[y] -= g;
}

cx_tensor *cx_cross_entropy(cx_tensor *logits, cx_tensor *labels, cx_reduction reduction) {
    const char *name = "cross_entropy";
    if (!labels_check(name, "logits", logits, labels, reduction)) return NULL;
    int64_t n = logits->shape[0], c = logits->shape[1];
    void *tx, *ty;
    const float *x = dense(logits, &tx);
    const int32_t *y = dense(labels, &ty);
    cx_tensor *out = NULL, *lse = NULL; /* lse: (N) log-sum-exp per row, kept for backward */
    float *loss = NULL;                 /* (N) */
    if (x && y && labels_in_range(name, y, n, c) &&
        (lse = cx__tensor_empty(CX_DTYPE_F32, 1, &n)) &&
        (loss = cx__temp_alloc((size_t)n * sizeof *loss))) {
        float *l = cx__f32(lse);
#pragma omp parallel for if (n * c > CX_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) {
            l[i] = logsumexp(x + i * c, c);
            loss[i] = l[i] - x[i * c + y[i]];
        }
        out = rows_out(loss, n, reduction);
    }
    cx__temp_free(loss);
    cx__temp_free(ty);
    cx__temp_free(tx);
    out = cx__finish(out, &cx_op_cross_entropy, 2, (cx_tensor *[]){logits, labels});
    if (out && out->node) {
        out->node->saved = lse; /* the node takes our reference */
        out->node->i[0] = reduction;
    } else {
        cx_tensor_free(lse);
    }
    return out;
}

/* d/dx[i, j] = (softmax(x[i])[j] - [j = y[i]]) g[i], softmax from the saved log-sum-exp. */
static cx_status cross_entropy_backward(cx_node *node, cx_tensor *out, const float *gout) {
    (void)out;
    cx_tensor *logits = node->in[0], *labels = node->in[1];
    if (!cx__needs_grad(logits)) return CX_OK;
    int64_t n = logits->shape[0], c = logits->shape[1];
    bool none = node->i[0] == CX_REDUCTION_NONE;
    float g0 = node->i[0] == CX_REDUCTION_MEAN ? gout[0] / (float)n : gout[0];
    float *grad = cx__grad(logits);
    void *tx = NULL, *ty = NULL;
    const float *x = grad ? dense(logits, &tx) : NULL;
    const int32_t *y = x ? dense(labels, &ty) : NULL;
    const float *lse = cx__f32(node->saved);
    /* Labels are checked again: they may have been overwritten since the forward pass. */
    cx_status st = y && labels_in_range("cross_entropy", y, n, c) ? CX_OK : cx_last_status();
    if (st == CX_OK) {
#pragma omp parallel for if (n * c > CX_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++)
            cross_entropy_grad_row(x + i * c, c, lse[i], y[i], none ? gout[i] : g0, grad + i * c);
    }
    cx__temp_free(ty);
    cx__temp_free(tx);
    return st;
}

cx_tensor *cx_nll_loss(cx_tensor *log_probs, cx_tensor *labels, cx_reduction reduction) {
    const char *name = "nll_loss";
    if (!labels_check(name, "log_probs", log_probs, labels, reduction)) return NULL;
    int64_t n = log_probs->shape[0], c = log_probs->shape[1];
    const float *lp = cx__f32(log_probs);
    const int64_t *st = log_probs->stride;
    void *ty;
    const int32_t *y = dense(labels, &ty);
    cx_tensor *out = NULL;
    float *loss = NULL; /* (N) */
    if (y && labels_in_range(name, y, n, c) &&
        (loss = cx__temp_alloc((size_t)n * sizeof *loss))) {
        for (int64_t i = 0; i < n; i++) loss[i] = -lp[i * st[0] + y[i] * st[1]];
        out = rows_out(loss, n, reduction);
    }
    cx__temp_free(loss);
    cx__temp_free(ty);
    out = cx__finish(out, &cx_op_nll_loss, 2, (cx_tensor *[]){log_probs, labels});
    if (out && out->node) out->node->i[0] = reduction;
    return out;
}

/* d/dlp[i, j] = -g[i] where j = y[i], 0 elsewhere. */
static cx_status nll_loss_backward(cx_node *node, cx_tensor *out, const float *gout) {
    (void)out;
    cx_tensor *lp = node->in[0], *labels = node->in[1];
    if (!cx__needs_grad(lp)) return CX_OK;
    int64_t n = lp->shape[0], c = lp->shape[1];
    bool none = node->i[0] == CX_REDUCTION_NONE;
    float g0 = node->i[0] == CX_REDUCTION_MEAN ? gout[0] / (float)n : gout[0];
    float *grad = cx__grad(lp);
    void *ty = NULL;
    const int32_t *y = grad ? dense(labels, &ty) : NULL;
    cx_status st = y && labels_in_range("nll_loss", y, n, c) ? CX_OK : cx_last_status();
    for (int64_t i = 0; st == CX_OK && i < n; i++) grad[i * c + y[i]] -= none ? gout[i] : g0;
    cx__temp_free(ty);
    return st;
}

/* ---- test rows: every reduction, odd sizes ---- */

#define RUN2(fn, red, suffix)                                                                  \
    static cx_tensor *run_##fn##_##suffix(cx_tensor *const *x) {                               \
        return cx_##fn(x[0], x[1], CX_REDUCTION_##red);                                        \
    }
#define RUN_ALL(fn) RUN2(fn, MEAN, mean) RUN2(fn, SUM, sum) RUN2(fn, NONE, none)
RUN_ALL(mse_loss)
RUN_ALL(bce_with_logits)
RUN_ALL(kl_normal)
RUN_ALL(cross_entropy)
RUN_ALL(nll_loss)

#define ROW(fn, suffix, ...)                                                                   \
    {.name = #fn "_" #suffix, .run = run_##fn##_##suffix, .n_in = 2, .in = {__VA_ARGS__}}

CX_OP_DEFINE(mse_loss, .backward = mse_loss_backward,
             .tests = (const cx_op_test[]){
                 ROW(mse_loss, mean, CX_IN(3, 4), CX_IN(3, 4)),
                 ROW(mse_loss, sum, CX_IN(5, 3), CX_IN(5, 3)),
                 ROW(mse_loss, none, CX_IN(2, 3, 5), CX_IN(2, 3, 5)),
                 {.name = NULL}});
CX_OP_DEFINE(bce_with_logits, .backward = bce_with_logits_backward,
             .tests = (const cx_op_test[]){
                 ROW(bce_with_logits, mean, CX_IN_RANGE(-3.0f, 3.0f, 4, 3),
                     CX_IN_RANGE(0.0f, 1.0f, 4, 3)),
                 ROW(bce_with_logits, sum, CX_IN_RANGE(-3.0f, 3.0f, 7),
                     CX_IN_RANGE(0.0f, 1.0f, 7)),
                 ROW(bce_with_logits, none, CX_IN_RANGE(-3.0f, 3.0f, 2, 5, 3),
                     CX_IN_RANGE(0.0f, 1.0f, 2, 5, 3)),
                 {.name = NULL}});
CX_OP_DEFINE(kl_normal, .backward = kl_normal_backward,
             .tests = (const cx_op_test[]){
                 ROW(kl_normal, mean, CX_IN(4, 3), CX_IN(4, 3)),
                 ROW(kl_normal, sum, CX_IN(5, 2, 3), CX_IN(5, 2, 3)),
                 ROW(kl_normal, none, CX_IN(3, 5), CX_IN(3, 5)),
                 {.name = NULL}});
CX_OP_DEFINE(cross_entropy, .backward = cross_entropy_backward,
             .tests = (const cx_op_test[]){
                 ROW(cross_entropy, mean, CX_IN_RANGE(-3.0f, 3.0f, 4, 5), CX_IN_INT(0, 5, 4)),
                 ROW(cross_entropy, sum, CX_IN_RANGE(-3.0f, 3.0f, 7, 3), CX_IN_INT(0, 3, 7)),
                 ROW(cross_entropy, none, CX_IN_RANGE(-3.0f, 3.0f, 6, 11), CX_IN_INT(0, 11, 6)),
                 {.name = NULL}});
CX_OP_DEFINE(nll_loss, .backward = nll_loss_backward,
             .tests = (const cx_op_test[]){
                 ROW(nll_loss, mean, CX_IN_RANGE(-3.0f, 0.0f, 4, 5), CX_IN_INT(0, 5, 4)),
                 ROW(nll_loss, sum, CX_IN_RANGE(-3.0f, 0.0f, 7, 3), CX_IN_INT(0, 3, 7)),
                 ROW(nll_loss, none, CX_IN_RANGE(-3.0f, 0.0f, 6, 11), CX_IN_INT(0, 11, 6)),
                 {.name = NULL}});
