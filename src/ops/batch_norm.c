/*
 * batch_norm.c - batch normalisation over dim 1, as torch.nn.functional.batch_norm (1.13).
 *
 * x [N, C], [N, C, L] or [N, C, H, W] is seen as [N, C, S]; channel c's statistics run over
 * its M = N * S values, and y = (x - mean) * a + beta with a = gamma * invstd. x - mean is
 * taken in double: torch's form x * a + (beta - mean * a) loses the digits x and mean share
 * when |mean| is large against the spread.
 *   training: mean and biased variance of the batch, invstd = 1 / sqrt(var + eps); the running
 *             statistics, when given, become (1 - momentum) * running + momentum * batch, the
 *             variance unbiased (times M / (M - 1)). The update is plain data, outside the
 *             graph, done once per call after the output is made.
 *   eval:     mean and variance are running_mean and running_var.
 *
 * Work items are channels when S != 1 (a channel is N contiguous runs of S values) and strips
 * of up to BLOCK adjacent channels when S = 1 (x is [N, C], read row by row), so the inner
 * loops run over contiguous memory either way. Sums run in double in a fixed order within an
 * item, so results do not depend on the thread count. The node keeps the mean and invstd it
 * used (saved [3, C]: the mean as two floats whose sum carries its double value, then invstd),
 * so later changes to the running statistics do not reach the backward pass.
 */
#include "cortex_impl.h"

#include <math.h>

enum { BLOCK = 64 }; /* channels per work item when S = 1 */

typedef struct {
    int64_t n, c, s;
} ncs;

static ncs ncs_of(const cx_tensor *x) {
    ncs d = {x->shape[0], x->shape[1], 1};
    for (int k = 2; k < x->ndim; k++) d.s *= x->shape[k];
    return d;
}

static int64_t n_items(ncs d) { return d.s != 1 ? d.c : (d.c + BLOCK - 1) / BLOCK; }

/* Item it covers channels [*c0, *c0 + *len). */
static void item_channels(ncs d, int64_t it, int64_t *c0, int64_t *len) {
    *c0 = d.s != 1 ? it : it * BLOCK;
    *len = d.s != 1 ? 1 : (d.c - *c0 < BLOCK ? d.c - *c0 : BLOCK);
}

static bool parallel_worth(ncs d, int64_t items) {
    return items > 1 && d.n * d.c * d.s > CX_PARALLEL_MIN;
}

/* ---- per-item sums, all in double ---- */

CX_VECTORIZE
static double span_moment(const float *x, int64_t n, const double *mean) {
    double acc = 0.0;
    if (!mean) {
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n; i++) acc += x[i];
    } else {
        double m = *mean;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n; i++) acc += ((double)x[i] - m) * ((double)x[i] - m);
    }
    return acc;
}

/* out[j] = Σ x over channel c0 + j (mean NULL), or Σ (x - mean[j])², for j < len; mean and out
 * point at channel c0's entries. */
CX_VECTORIZE
static void item_moment(const float *x, ncs d, int64_t c0, int64_t len, const double *mean,
                        double *out) {
    if (d.s != 1) {
        double acc = 0.0;
        for (int64_t n = 0; n < d.n; n++) acc += span_moment(x + (n * d.c + c0) * d.s, d.s, mean);
        out[0] = acc;
        return;
    }
    for (int64_t j = 0; j < len; j++) out[j] = 0.0;
    for (int64_t n = 0; n < d.n; n++) {
        const float *row = x + n * d.c + c0;
        if (mean)
            for (int64_t j = 0; j < len; j++)
                out[j] += ((double)row[j] - mean[j]) * ((double)row[j] - mean[j]);
        else
            for (int64_t j = 0; j < len; j++) out[j] += row[j];
    }
}

/* sg[j] = Σ g and sxg[j] = Σ (x - mean[j]) g over channel c0 + j. */
CX_VECTORIZE
static void item_grad_sums(const float *x, const float *g, ncs d, int64_t c0, int64_t len,
                           const double *mean, double *sg, double *sxg) {
    if (d.s != 1) {
        double a = 0.0, b = 0.0, m = *mean;
        for (int64_t n = 0; n < d.n; n++) {
            const float *xs = x + (n * d.c + c0) * d.s, *gs = g + (n * d.c + c0) * d.s;
#pragma omp simd reduction(+ : a, b)
            for (int64_t i = 0; i < d.s; i++) {
                a += gs[i];
                b += ((double)xs[i] - m) * gs[i];
            }
        }
        sg[0] = a;
        sxg[0] = b;
        return;
    }
    for (int64_t j = 0; j < len; j++) sg[j] = sxg[j] = 0.0;
    for (int64_t n = 0; n < d.n; n++) {
        const float *xr = x + n * d.c + c0, *gr = g + n * d.c + c0;
        for (int64_t j = 0; j < len; j++) {
            sg[j] += gr[j];
            sxg[j] += ((double)xr[j] - mean[j]) * gr[j];
        }
    }
}

/* ---- elementwise passes: over planes (n, c) when S != 1, over rows n when S = 1 ---- */

/* Per-channel coefficients of the elementwise passes, [C] each. */
typedef struct {
    double *mean;
    float *a;      /* gamma * invstd */
    float *b, *c;  /* forward: beta and unused; backward: mean(g) and Σ(x-mean)g invstd² / M */
} coefs;

/* One cx__temp_alloc block for the coefficients and two more [C] double arrays u, v (v may
 * be NULL). Returns the block to cx__temp_free, or NULL + error. */
static double *coefs_alloc(int64_t c, coefs *k, double **u, double **v) {
    size_t n = (size_t)(c > 0 ? c : 1); /* no zero-byte request for C = 0 */
    double *blk = cx__temp_alloc(n * (3 * sizeof(double) + 3 * sizeof(float)));
    if (!blk) return NULL;
    k->mean = blk;
    *u = blk + c;
    if (v) *v = blk + 2 * c;
    k->a = (float *)(blk + 3 * c);
    k->b = k->a + c;
    k->c = k->b + c;
    return blk;
}

/* y = (x - mean) a + b over n values of one channel (step 0) or of n channels (step 1). */
CX_VECTORIZE
static void run_normalise(const float *x, int64_t n, const coefs *k, int64_t k0, int64_t step,
                          float *y) {
    if (step == 0) {
        double m = k->mean[k0];
        float a = k->a[k0], b = k->b[k0];
        for (int64_t i = 0; i < n; i++) y[i] = (float)((double)x[i] - m) * a + b;
    } else {
        const double *m = k->mean + k0;
        const float *a = k->a + k0, *b = k->b + k0;
        for (int64_t i = 0; i < n; i++) y[i] = (float)((double)x[i] - m[i]) * a[i] + b[i];
    }
}

/* gx += (g - c1 - (x - mean) c2) a, with c1 = k->b and c2 = k->c (both 0 in eval). */
CX_VECTORIZE
static void run_grad(const float *x, const float *g, int64_t n, const coefs *k, int64_t k0,
                     int64_t step, float *gx) {
    if (step == 0) {
        double m = k->mean[k0];
        float a = k->a[k0], c1 = k->b[k0], c2 = k->c[k0];
        for (int64_t i = 0; i < n; i++)
            gx[i] += (g[i] - c1 - (float)((double)x[i] - m) * c2) * a;
    } else {
        const double *m = k->mean + k0;
        const float *a = k->a + k0, *c1 = k->b + k0, *c2 = k->c + k0;
        for (int64_t i = 0; i < n; i++)
            gx[i] += (g[i] - c1[i] - (float)((double)x[i] - m[i]) * c2[i]) * a[i];
    }
}

/* Runs of the elementwise passes: N*C runs of S (one channel each) or N rows of C. */
static int64_t n_runs(ncs d) { return d.s != 1 ? d.n * d.c : d.n; }
static int64_t run_len(ncs d) { return d.s != 1 ? d.s : d.c; }
static int64_t run_channel(ncs d, int64_t r) { return d.s != 1 ? r % d.c : 0; }

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
        cx__error(CX_ERR_SHAPE, "batch_norm: training needs more than 1 value per channel; "
                  "x %s has %lld", sx, (long long)(d.n * d.s));
        return false;
    }
    if (!(eps >= 0.0f) || !isfinite(eps) || !isfinite(momentum)) {
        cx__error(CX_ERR_ARG, "batch_norm: eps %g must be finite and not negative, momentum "
                  "%g finite", (double)eps, (double)momentum);
        return false;
    }
    return true;
}

/* Element i of the 1-D tensor t (any stride). */
static float *at(const cx_tensor *t, int64_t i) { return cx__f32(t) + i * t->stride[0]; }

/* mean[C] and var[C] (biased) of the batch. */
static void batch_stats(const float *x, ncs d, double *mean, double *var) {
    int64_t items = n_items(d);
    double m = (double)(d.n * d.s);
#pragma omp parallel for if (parallel_worth(d, items))
    for (int64_t it = 0; it < items; it++) {
        int64_t c0, len;
        item_channels(d, it, &c0, &len);
        item_moment(x, d, c0, len, NULL, mean + c0);
        for (int64_t j = 0; j < len; j++) mean[c0 + j] /= m;
        item_moment(x, d, c0, len, mean + c0, var + c0);
        for (int64_t j = 0; j < len; j++) var[c0 + j] /= m;
    }
}

cx_tensor *cx_batch_norm(cx_tensor *x, cx_tensor *weight, cx_tensor *bias,
                         cx_tensor *running_mean, cx_tensor *running_var, bool training,
                         float momentum, float eps) {
    if (!cx__check_f32("batch_norm", "x", x)) return NULL;
    cx_tensor *vec[4] = {weight, bias, running_mean, running_var};
    if (!bn_check(x, vec, training, momentum, eps)) return NULL;
    ncs d = ncs_of(x);
    cx_tensor *xc = cx_contiguous(x);
    if (!xc) return NULL;
    cx_tensor *y = cx__tensor_empty(CX_DTYPE_F32, x->ndim, x->shape);
    cx_tensor *stats = y ? cx__tensor_empty(CX_DTYPE_F32, 2, (const int64_t[]){3, d.c}) : NULL;
    coefs k;
    double *var = NULL;
    double *blk = stats ? coefs_alloc(d.c, &k, &var, NULL) : NULL;
    if (!blk) {
        cx_tensor_free(stats);
        cx_tensor_free(y);
        cx_tensor_free(xc);
        return NULL;
    }
    const float *xd = cx__f32(xc);
    float *st = cx__f32(stats), *yd = cx__f32(y);
    if (training) batch_stats(xd, d, k.mean, var);
    for (int64_t c = 0; c < d.c; c++) {
        if (!training) {
            k.mean[c] = *at(running_mean, c);
            var[c] = *at(running_var, c);
        }
        double invstd = 1.0 / sqrt(var[c] + eps);
        st[c] = (float)k.mean[c];
        st[d.c + c] = (float)(k.mean[c] - (double)st[c]);
        st[2 * d.c + c] = (float)invstd;
        k.a[c] = (float)invstd * (weight ? *at(weight, c) : 1.0f);
        k.b[c] = bias ? *at(bias, c) : 0.0f;
    }
    int64_t runs = n_runs(d), len = run_len(d);
#pragma omp parallel for if (parallel_worth(d, runs))
    for (int64_t r = 0; r < runs; r++)
        run_normalise(xd + r * len, len, &k, run_channel(d, r), d.s == 1, yd + r * len);
    cx_tensor *in[3] = {xc};
    int n_in = 1;
    if (weight) in[n_in++] = weight;
    if (bias) in[n_in++] = bias;
    y = cx__finish(y, &cx_op_batch_norm, n_in, in);
    if (y && training && running_mean) {
        double m = (double)(d.n * d.s);
        for (int64_t c = 0; c < d.c; c++) {
            float *rm = at(running_mean, c), *rv = at(running_var, c);
            *rm = (float)((1.0 - momentum) * *rm + momentum * k.mean[c]);
            *rv = (float)((1.0 - momentum) * *rv + momentum * var[c] * m / (m - 1.0));
        }
    }
    cx__temp_free(blk);
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
    coefs k;
    double *sg, *sxg;
    double *blk = coefs_alloc(d.c, &k, &sg, &sxg);
    if (!blk) return cx_last_status();
    const float *xd = cx__f32(x), *st = cx__f32(node->saved);
    for (int64_t c = 0; c < d.c; c++) k.mean[c] = (double)st[c] + (double)st[d.c + c];
    int64_t items = n_items(d);
#pragma omp parallel for if (parallel_worth(d, items))
    for (int64_t it = 0; it < items; it++) {
        int64_t c0, len;
        item_channels(d, it, &c0, &len);
        item_grad_sums(xd, gout, d, c0, len, k.mean + c0, sg + c0, sxg + c0);
    }
    double m = (double)(d.n * d.s);
    for (int64_t c = 0; c < d.c; c++) {
        float invstd = st[2 * d.c + c];
        if (gb) gb[c] += (float)sg[c];
        if (gw) gw[c] += (float)(sxg[c] * invstd);
        k.a[c] = invstd * (w ? *at(w, c) : 1.0f);
        k.b[c] = training ? (float)(sg[c] / m) : 0.0f;
        k.c[c] = training ? (float)(sxg[c] * invstd * invstd / m) : 0.0f;
    }
    int64_t runs = gx ? n_runs(d) : 0, len = run_len(d);
#pragma omp parallel for if (parallel_worth(d, runs))
    for (int64_t r = 0; r < runs; r++)
        run_grad(xd + r * len, gout + r * len, len, &k, run_channel(d, r), d.s == 1,
                 gx + r * len);
    cx__temp_free(blk);
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
    for (int k = 0; k < 4; k++) cx_tensor_free(t[k]);
    return y;
}

static cx_tensor *run_bn_train(cx_tensor *const *x) {
    return cx_batch_norm(x[0], x[1], x[2], NULL, NULL, true, 0.1f, 1e-5f);
}
/* x read through a transposed view (copied by the op, the gradient passed on) */
static cx_tensor *run_bn_train_t(cx_tensor *const *x) {
    cx_tensor *xt = cx_transpose(x[0], 2, 3);
    cx_tensor *y = cx_batch_norm(xt, x[1], x[2], NULL, NULL, true, 0.1f, 1e-5f);
    cx_tensor_free(xt);
    return y;
}
static cx_tensor *run_bn_train_noaffine(cx_tensor *const *x) {
    return cx_batch_norm(x[0], NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f);
}
static cx_tensor *run_bn_train_eps(cx_tensor *const *x) {
    return cx_batch_norm(x[0], x[1], NULL, NULL, NULL, true, 0.1f, 0.1f);
}
static cx_tensor *run_bn_eval(cx_tensor *const *x) { return bn_eval(x[0], x[1], x[2], x[3]); }
static cx_tensor *run_bn_eval_noaffine(cx_tensor *const *x) {
    return bn_eval(x[0], NULL, NULL, x[1]);
}

#define BN_STATS(c) {.shape = {2, c}, .lo = 0.5f, .hi = 1.5f, .no_grad = true}
/* A row named batch_norm_<id> running run_bn_<fn>. */
#define ROW(id, fn, n, ...)                                                                    \
    {.name = "batch_norm_" #id, .run = run_bn_##fn, .n_in = n, .in = {__VA_ARGS__}}

CX_OP_DEFINE(batch_norm, .backward = batch_norm_backward,
             .tests = (const cx_op_test[]){
                 ROW(2d, train, 3, CX_IN(6, 4), CX_IN(4), CX_IN(4)),
                 ROW(2d_wide, train, 3, CX_IN(5, 70), CX_IN(70), CX_IN(70)), /* 2 blocks */
                 ROW(3d, train, 3, CX_IN(3, 4, 5), CX_IN(4), CX_IN(4)),
                 ROW(4d, train, 3, CX_IN(2, 3, 4, 5), CX_IN(3), CX_IN(3)),
                 ROW(4d_t, train_t, 3, CX_IN(2, 3, 5, 4), CX_IN(3), CX_IN(3)),
                 ROW(2d_noaffine, train_noaffine, 1, CX_IN(5, 3)),
                 ROW(3d_noaffine, train_noaffine, 1, CX_IN(2, 3, 7)),
                 ROW(4d_noaffine, train_noaffine, 1, CX_IN(3, 2, 3, 3)),
                 ROW(4d_eps_nobias, train_eps, 2, CX_IN(2, 3, 3, 4), CX_IN(3)),
                 ROW(4d_eval, eval, 4, CX_IN(2, 3, 4, 5), CX_IN(3), CX_IN(3), BN_STATS(3)),
                 ROW(3d_eval_noaffine, eval_noaffine, 2, CX_IN(3, 4, 5), BN_STATS(4)),
                 ROW(2d_eval, eval, 4, CX_IN(5, 4), CX_IN(4), CX_IN(4), BN_STATS(4)),
                 {.name = NULL}});
