/*
 * batch_norm.c - batch normalisation over dim 1, as torch.nn.functional.batch_norm (1.13).
 *
 * x [N, C], [N, C, L] or [N, C, H, W] is seen as [N, C, S]; channel c's statistics run over
 * its N * S = M values. y = (x - mean) * invstd * gamma + beta, computed as x * a + b with
 * per-channel a = gamma * invstd; x - mean is taken in double, as x * a + (beta - mean * a)
 * (torch's form) loses the digits that x and mean share when |mean| is large against the
 * spread.
 *   training: mean and biased variance of the batch, invstd = 1 / sqrt(var + eps); the running
 *             statistics, when given, become (1 - momentum) * running + momentum * batch, the
 *             variance unbiased (times M / (M - 1)). This update is plain data, outside the
 *             graph, once per call.
 *   eval:     mean and variance are running_mean and running_var.
 * Sums run in double, one channel per work item and in a fixed order within it, so results do
 * not depend on the thread count. The node keeps the mean and invstd used (saved: [3, C],
 * the mean as two floats whose sum carries its double value, then invstd), so later changes to
 * the running statistics do not reach the backward pass.
 */
#include "cortex_impl.h"

#include <math.h>

/* Channel c of x [N, C, S] is the N spans x + (n * C + c) * S, n < N. */
typedef struct {
    int64_t n, c, s;
} ncs;

static ncs ncs_of(const cx_tensor *x) {
    ncs d = {x->shape[0], x->shape[1], 1};
    for (int k = 2; k < x->ndim; k++)
        d.s *= x->shape[k];
    return d;
}

CX_VECTORIZE
static double span_sum(const float *x, int64_t n) {
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++)
        acc += x[i];
    return acc;
}

CX_VECTORIZE
static double span_sq_dev(const float *x, int64_t n, double mean) {
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++)
        acc += ((double)x[i] - mean) * ((double)x[i] - mean);
    return acc;
}

/* Σ g and Σ (x - mean) g over a span. */
CX_VECTORIZE
static void span_grad_sums(const float *x, const float *g, int64_t n, double mean, double *sg,
                           double *sxg) {
    double a = 0.0, b = 0.0;
#pragma omp simd reduction(+ : a, b)
    for (int64_t i = 0; i < n; i++) {
        a += g[i];
        b += ((double)x[i] - mean) * g[i];
    }
    *sg += a;
    *sxg += b;
}

CX_VECTORIZE
static void span_normalise(const float *x, int64_t n, double mean, float a, float beta, float *y) {
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)((double)x[i] - mean) * a + beta;
}

/* gx += (g - c1 - (x - mean) c2) a: the full gradient with c1 = mean(g), c2 = Σ(x-mean)g
 * invstd² / M (training), or c1 = c2 = 0 (eval). */
CX_VECTORIZE
static void span_grad(const float *x, const float *g, int64_t n, double mean, float a, float c1,
                      float c2, float *gx) {
    for (int64_t i = 0; i < n; i++)
        gx[i] += (g[i] - c1 - (float)((double)x[i] - mean) * c2) * a;
}

static bool is_channel_vector(const cx_tensor *t, int64_t c) {
    return t->ndim == 1 && t->shape[0] == c;
}

static bool bn_check(const cx_tensor *x, cx_tensor *const *vec, bool training, float momentum,
                     float eps) {
    static const char *names[4] = {"weight", "bias", "running_mean", "running_var"};
    char sx[CX_SHAPE_STR_MAX], sv[CX_SHAPE_STR_MAX];
    cx__shape_str(x->ndim, x->shape, sx, sizeof sx);
    if (x->ndim < 2 || x->ndim > 4) {
        cx__error(CX_ERR_SHAPE, "batch_norm: x must be [N, C], [N, C, L] or [N, C, H, W], got %s",
                  sx);
        return false;
    }
    for (int k = 0; k < 4; k++) {
        if (!vec[k]) continue;
        if (!cx__check_f32("batch_norm", names[k], vec[k])) return false;
        if (!is_channel_vector(vec[k], x->shape[1])) {
            cx__error(CX_ERR_SHAPE, "batch_norm: %s %s does not match the %lld channels of x %s",
                      names[k], cx__shape_str(vec[k]->ndim, vec[k]->shape, sv, sizeof sv),
                      (long long)x->shape[1], sx);
            return false;
        }
    }
    if (!vec[2] != !vec[3] || (!training && !vec[2])) {
        cx__error(CX_ERR_ARG, "batch_norm: running_mean and running_var must be given %s",
                  training ? "together" : "in eval mode");
        return false;
    }
    ncs d = ncs_of(x);
    if (training && d.n * d.s <= 1) {
        cx__error(CX_ERR_SHAPE,
                  "batch_norm: training needs more than 1 value per channel; x %s "
                  "has %lld",
                  sx, (long long)(d.n * d.s));
        return false;
    }
    if (!(eps >= 0.0f) || !isfinite(eps) || !isfinite(momentum)) {
        cx__error(CX_ERR_ARG,
                  "batch_norm: eps %g must be finite and not negative, momentum %g "
                  "finite",
                  (double)eps, (double)momentum);
        return false;
    }
    return true;
}

/* Element i of the 1-D tensor t (any stride). */
static float *at(const cx_tensor *t, int64_t i) {
    return cx__f32(t) + i * t->stride[0];
}

static void stats_put(float *stats, int64_t c, int64_t n_c, double mean, double invstd) {
    stats[c] = (float)mean;
    stats[n_c + c] = (float)(mean - (double)stats[c]);
    stats[2 * n_c + c] = (float)invstd;
}

static double stats_mean(const float *stats, int64_t c, int64_t n_c) {
    return (double)stats[c] + (double)stats[n_c + c];
}

/* stats [3, C]: the mean (high and low parts) and invstd each channel is normalised with; in
 * training also the running statistics' update. */
static void bn_stats(const float *x, ncs d, const cx_tensor *rmean, const cx_tensor *rvar,
                     bool training, float momentum, float eps, float *stats) {
    int64_t m = d.n * d.s;
#pragma omp parallel for if (d.c > 1 && d.n * d.c * d.s > CX_PARALLEL_MIN)
    for (int64_t c = 0; c < d.c; c++) {
        if (!training) {
            stats_put(stats, c, d.c, *at(rmean, c), 1.0 / sqrt((double)*at(rvar, c) + eps));
            continue;
        }
        double sum = 0.0, sq = 0.0;
        for (int64_t n = 0; n < d.n; n++)
            sum += span_sum(x + (n * d.c + c) * d.s, d.s);
        double mean = sum / (double)m;
        for (int64_t n = 0; n < d.n; n++)
            sq += span_sq_dev(x + (n * d.c + c) * d.s, d.s, mean);
        double var = sq / (double)m;
        stats_put(stats, c, d.c, mean, 1.0 / sqrt(var + eps));
        if (rmean) {
            float *rm = at(rmean, c), *rv = at(rvar, c);
            *rm = (float)((1.0 - momentum) * *rm + momentum * mean);
            *rv = (float)((1.0 - momentum) * *rv + momentum * var * (double)m / (double)(m - 1));
        }
    }
}

cx_tensor *cx_batch_norm(cx_tensor *x, cx_tensor *weight, cx_tensor *bias, cx_tensor *running_mean,
                         cx_tensor *running_var, bool training, float momentum, float eps) {
    if (!cx__check_f32("batch_norm", "x", x)) return NULL;
    cx_tensor *vec[4] = {weight, bias, running_mean, running_var};
    if (!bn_check(x, vec, training, momentum, eps)) return NULL;
    ncs d = ncs_of(x);
    cx_tensor *xc = cx_contiguous(x);
    if (!xc) return NULL;
    cx_tensor *y = cx__tensor_empty(CX_DTYPE_F32, x->ndim, x->shape);
    cx_tensor *stats = y ? cx__tensor_empty(CX_DTYPE_F32, 2, (const int64_t[]){3, d.c}) : NULL;
    if (!stats) {
        cx_tensor_free(y);
        cx_tensor_free(xc);
        return NULL;
    }
    const float *xd = cx__f32(xc);
    float *st = cx__f32(stats), *yd = cx__f32(y);
    /* The running statistics are updated only once the output is certain to be returned. */
    bn_stats(xd, d, running_mean, running_var, training, momentum, eps, st);
#pragma omp parallel for if (d.n * d.c > 1 && d.n * d.c * d.s > CX_PARALLEL_MIN)
    for (int64_t p = 0; p < d.n * d.c; p++) {
        int64_t c = p % d.c;
        float a = st[2 * d.c + c] * (weight ? *at(weight, c) : 1.0f);
        span_normalise(xd + p * d.s, d.s, stats_mean(st, c, d.c), a, bias ? *at(bias, c) : 0.0f,
                       yd + p * d.s);
    }
    cx_tensor *in[3] = {xc};
    int n_in = 1;
    if (weight) in[n_in++] = weight;
    if (bias) in[n_in++] = bias;
    y = cx__finish(y, &cx_op_batch_norm, n_in, in);
    if (y && y->node) {
        y->node->saved = stats; /* the node takes our reference */
        y->node->i[0] = weight != NULL;
        y->node->i[1] = bias != NULL;
        y->node->i[2] = training;
    } else {
        cx_tensor_free(stats);
    }
    cx_tensor_free(xc);
    return y;
}

/* With x̂ = (x - mean) invstd and a = gamma invstd:
 *   dbeta = Σ g, dgamma = Σ g x̂;
 *   training: dx = a (g - mean(g) - x̂ mean(g x̂))  (mean and variance depend on x);
 *   eval:     dx = a g. */
static cx_status batch_norm_backward(cx_node *node, cx_tensor *out, const float *gout) {
    (void)out;
    cx_tensor *x = node->in[0];
    cx_tensor *w = node->i[0] ? node->in[1] : NULL, *b = node->i[1] ? node->in[1 + !!w] : NULL;
    bool training = node->i[2];
    float *gx = cx__needs_grad(x) ? cx__grad(x) : NULL;
    float *gw = w && cx__needs_grad(w) ? cx__grad(w) : NULL;
    float *gb = b && cx__needs_grad(b) ? cx__grad(b) : NULL;
    if ((cx__needs_grad(x) && !gx) || (w && cx__needs_grad(w) && !gw) ||
        (b && cx__needs_grad(b) && !gb))
        return cx_last_status();
    ncs d = ncs_of(x);
    const float *xd = cx__f32(x), *st = cx__f32(node->saved);
    double m = (double)(d.n * d.s);
#pragma omp parallel for if (d.c > 1 && d.n * d.c * d.s > CX_PARALLEL_MIN)
    for (int64_t c = 0; c < d.c; c++) {
        double mean = stats_mean(st, c, d.c);
        float invstd = st[2 * d.c + c];
        double sg = 0.0, sxg = 0.0;
        for (int64_t n = 0; n < d.n; n++) {
            int64_t k = (n * d.c + c) * d.s;
            span_grad_sums(xd + k, gout + k, d.s, mean, &sg, &sxg);
        }
        if (gb) gb[c] += (float)sg;
        if (gw) gw[c] += (float)(sxg * invstd);
        if (!gx) continue;
        float a = invstd * (w ? *at(w, c) : 1.0f);
        float c1 = training ? (float)(sg / m) : 0.0f;
        float c2 = training ? (float)(sxg * invstd * invstd / m) : 0.0f;
        for (int64_t n = 0; n < d.n; n++) {
            int64_t k = (n * d.c + c) * d.s;
            span_grad(xd + k, gout + k, d.s, mean, a, c1, c2, gx + k);
        }
    }
    return CX_OK;
}

/* ---- test rows ----
 * Training rows pass no running statistics, so the gradient check's repeated calls all see
 * the same op; the running-statistics update is checked against torch in tests/test_pool.c.
 * Eval rows take both statistics in one input [2, C] (mean, then a positive variance). */

static cx_tensor *bn_eval(cx_tensor *x, cx_tensor *w, cx_tensor *b, cx_tensor *stats) {
    int64_t c = cx_tensor_shape(stats)[1];
    cx_tensor *rm = cx_slice(stats, 0, 0, 1, 1), *rv = cx_slice(stats, 0, 1, 2, 1);
    cx_tensor *rm1 = cx_reshape(rm, 1, &c), *rv1 = cx_reshape(rv, 1, &c);
    cx_tensor *y = cx_batch_norm(x, w, b, rm1, rv1, false, 0.1f, 1e-5f);
    cx_tensor *t[] = {rm, rv, rm1, rv1};
    for (int k = 0; k < 4; k++)
        cx_tensor_free(t[k]);
    return y;
}

static cx_tensor *run_bn_train(cx_tensor *const *x) {
    return cx_batch_norm(x[0], x[1], x[2], NULL, NULL, true, 0.1f, 1e-5f);
}
static cx_tensor *run_bn_train_noaffine(cx_tensor *const *x) {
    return cx_batch_norm(x[0], NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f);
}
static cx_tensor *run_bn_train_eps(cx_tensor *const *x) {
    return cx_batch_norm(x[0], x[1], NULL, NULL, NULL, true, 0.1f, 0.1f);
}
static cx_tensor *run_bn_eval(cx_tensor *const *x) {
    return bn_eval(x[0], x[1], x[2], x[3]);
}
static cx_tensor *run_bn_eval_noaffine(cx_tensor *const *x) {
    return bn_eval(x[0], NULL, NULL, x[1]);
}

#define BN_STATS(c)                                                                                \
    { .shape = {2, c}, .lo = 0.5f, .hi = 1.5f, .no_grad = true }

CX_OP_DEFINE(batch_norm, .backward = batch_norm_backward,
             .tests = (const cx_op_test[]){
                 {.name = "batch_norm_2d",
                  .run = run_bn_train,
                  .n_in = 3,
                  .in = {CX_IN(6, 4), CX_IN(4), CX_IN(4)}},
                 {.name = "batch_norm_3d",
                  .run = run_bn_train,
                  .n_in = 3,
                  .in = {CX_IN(3, 4, 5), CX_IN(4), CX_IN(4)}},
                 {.name = "batch_norm_4d",
                  .run = run_bn_train,
                  .n_in = 3,
                  .in = {CX_IN(2, 3, 4, 5), CX_IN(3), CX_IN(3)}},
                 {.name = "batch_norm_2d_noaffine",
                  .run = run_bn_train_noaffine,
                  .n_in = 1,
                  .in = {CX_IN(5, 3)}},
                 {.name = "batch_norm_3d_noaffine",
                  .run = run_bn_train_noaffine,
                  .n_in = 1,
                  .in = {CX_IN(2, 3, 7)}},
                 {.name = "batch_norm_4d_noaffine",
                  .run = run_bn_train_noaffine,
                  .n_in = 1,
                  .in = {CX_IN(3, 2, 3, 3)}},
                 {.name = "batch_norm_4d_eps_nobias",
                  .run = run_bn_train_eps,
                  .n_in = 2,
                  .in = {CX_IN(2, 3, 3, 4), CX_IN(3)}},
                 {.name = "batch_norm_4d_eval",
                  .run = run_bn_eval,
                  .n_in = 4,
                  .in = {CX_IN(2, 3, 4, 5), CX_IN(3), CX_IN(3), BN_STATS(3)}},
                 {.name = "batch_norm_3d_eval_noaffine",
                  .run = run_bn_eval_noaffine,
                  .n_in = 2,
                  .in = {CX_IN(3, 4, 5), BN_STATS(4)}},
                 {.name = "batch_norm_2d_eval",
                  .run = run_bn_eval,
                  .n_in = 4,
                  .in = {CX_IN(5, 4), CX_IN(4), CX_IN(4), BN_STATS(4)}},
                 {.name = NULL}});
