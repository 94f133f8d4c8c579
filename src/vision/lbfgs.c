/*
 * lbfgs.c - limited-memory BFGS (Nocedal & Wright, "Numerical Optimization", algorithm 7.4 and
 * 7.5) for style transfer, which optimises one picture against a smooth loss: the two-loop
 * recursion over the last HISTORY steps, the initial Hessian scaled by sᵀy / yᵀy, and a
 * backtracking line search (Armijo condition) so that no iteration makes the loss worse.
 * As torch.optim.LBFGS, a step without curvature history is lr · min(1, 1 / |g|_1) along -g.
 */
#include "vision/vision_impl.h"

#include <math.h>
#include <string.h>

#define HISTORY 10
#define ARMIJO 1e-4
#define BACKTRACKS 20

static double dot(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* d = -H g by the two-loop recursion over the k stored pairs, newest at (head - 1). */
static void direction(float *d, const float *g, int64_t n, float *const *s, float *const *y,
                      const double *rho, int k, int head) {
    double alpha[HISTORY];
    for (int64_t i = 0; i < n; i++)
        d[i] = -g[i];
    for (int j = 0; j < k; j++) {
        int i = (head - 1 - j + HISTORY) % HISTORY;
        alpha[j] = rho[i] * dot(s[i], d, n);
        for (int64_t e = 0; e < n; e++)
            d[e] -= (float)alpha[j] * y[i][e];
    }
    if (k) {
        int i = (head - 1 + HISTORY) % HISTORY;
        double gamma = dot(s[i], y[i], n) / dot(y[i], y[i], n);
        for (int64_t e = 0; e < n; e++)
            d[e] *= (float)gamma;
    }
    for (int j = k - 1; j >= 0; j--) {
        int i = (head - 1 - j + HISTORY) % HISTORY;
        double beta = rho[i] * dot(y[i], d, n);
        for (int64_t e = 0; e < n; e++)
            d[e] += (float)(alpha[j] - beta) * s[i][e];
    }
}

cx_status cx__lbfgs(float *x, int64_t n, int iterations, float lr, cx_lbfgs_fn f, void *ctx,
                    bool (*progress)(int step, float loss, void *ctx), void *progress_ctx) {
    size_t bytes = (size_t)n * sizeof(float);
    float *mem = cx__alloc(bytes * (4 + 2 * HISTORY));
    if (!mem) return CX_ERR_OOM;
    float *g = mem, *d = g + n, *xn = d + n, *gn = xn + n, *s[HISTORY], *y[HISTORY];
    for (int i = 0; i < HISTORY; i++) {
        s[i] = gn + n + (int64_t)(2 * i) * n;
        y[i] = s[i] + n;
    }
    double rho[HISTORY];
    int k = 0, head = 0;
    cx_status st = CX_OK;
    float loss = f(x, g, ctx);
    if (isnan(loss)) st = cx_last_status() != CX_OK ? cx_last_status() : CX_ERR_ARG;
    for (int it = 0; st == CX_OK && it < iterations; it++) {
        direction(d, g, n, s, y, rho, k, head);
        double gtd = dot(g, d, n);
        if (!(gtd < 0)) { /* not a descent direction: forget the history */
            k = 0;
            for (int64_t i = 0; i < n; i++)
                d[i] = -g[i];
            gtd = dot(g, d, n);
        }
        if (!(gtd < 0)) break; /* the gradient is zero: a stationary point */
        double t = lr;
        if (k == 0) { /* no curvature known yet: a cautious first step */
            double l1 = 0;
            for (int64_t i = 0; i < n; i++)
                l1 += fabsf(g[i]);
            t = lr * fmin(1.0, 1.0 / l1);
        }
        float fn = NAN;
        for (int b = 0; b < BACKTRACKS; b++, t *= 0.5) {
            for (int64_t i = 0; i < n; i++)
                xn[i] = x[i] + (float)t * d[i];
            fn = f(xn, gn, ctx);
            if (isnan(fn) && cx_last_status() != CX_OK) break;
            if (fn <= loss + ARMIJO * t * gtd) break;
        }
        if (isnan(fn)) {
            st = cx_last_status() != CX_OK ? cx_last_status() : CX_ERR_ARG;
            break;
        }
        if (!(fn <= loss)) break; /* no decrease along d: as good as it gets */
        float *sh = s[head], *yh = y[head];
        for (int64_t i = 0; i < n; i++) {
            sh[i] = xn[i] - x[i];
            yh[i] = gn[i] - g[i];
        }
        double ys = dot(yh, sh, n), yy = dot(yh, yh, n), ss = dot(sh, sh, n);
        if (ys > 1e-8 * sqrt(yy * ss)) { /* keep the pair only where the curvature is positive */
            rho[head] = 1.0 / ys;
            head = (head + 1) % HISTORY;
            if (k < HISTORY) k++;
        }
        memcpy(x, xn, bytes);
        memcpy(g, gn, bytes);
        loss = fn;
        if (progress && !progress(it + 1, loss, progress_ctx)) break;
    }
    cx__free(mem);
    return st;
}
