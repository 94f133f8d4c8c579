/*
 * clip.c - gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_ (torch
 * 1.13): norm = ||all gradients as one vector||, scale = max_norm / (norm + 1e-6), and the
 * gradients are multiplied by scale only when it is below 1 (torch multiplies by min(scale, 1)
 * always; multiplying by 1 changes nothing, and a NaN norm then leaves the gradients alone
 * where torch would make them all NaN; an infinite norm gives scale 0 in both).
 *
 * The sum of squares is taken in double over fixed blocks whose partial sums are added in
 * order, so the norm does not depend on the thread count.
 */
#include "cortex_impl.h"

#include <math.h>

enum { BLOCK = 16384, MAX_BLOCKS = 64 };

CX_VECTORIZE
static double sum_squares(const float *x, int64_t n) {
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++)
        acc += (double)x[i] * (double)x[i];
    return acc;
}

CX_VECTORIZE
static void scale(float *x, int64_t n, float c) {
    for (int64_t i = 0; i < n; i++)
        x[i] *= c;
}

/* Sum of squares of x (n), in up to MAX_BLOCKS blocks across threads. */
static double tensor_sum_squares(const float *x, int64_t n) {
    int64_t block = n / MAX_BLOCKS + 1 > BLOCK ? n / MAX_BLOCKS + 1 : BLOCK;
    int blocks = (int)((n + block - 1) / block);
    double part[MAX_BLOCKS];
#pragma omp parallel for if (n > CX_PARALLEL_MIN)
    for (int b = 0; b < blocks; b++) {
        int64_t i = b * block, len = n - i < block ? n - i : block;
        part[b] = sum_squares(x + i, len);
    }
    double acc = 0.0;
    for (int b = 0; b < blocks; b++)
        acc += part[b];
    return acc;
}

static void tensor_scale(float *x, int64_t n, float c) {
    int64_t chunks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for if (n > CX_PARALLEL_MIN)
    for (int64_t k = 0; k < chunks; k++) {
        int64_t i = k * BLOCK, len = n - i < BLOCK ? n - i : BLOCK;
        scale(x + i, len, c);
    }
}

float cx_clip_grad_norm(cx_tensor *const *tensors, int n, float max_norm) {
    if (n < 0 || (n > 0 && !tensors)) {
        cx__error(CX_ERR_ARG, "cx_clip_grad_norm: no tensor list (n = %d)", n);
        return NAN;
    }
    if (!(max_norm >= 0.0f)) {
        cx__error(CX_ERR_ARG, "cx_clip_grad_norm: max_norm = %g is invalid; need >= 0",
                  (double)max_norm);
        return NAN;
    }
    for (int i = 0; i < n; i++)
        if (!cx_tensor_valid(tensors[i])) {
            cx__error(CX_ERR_ARG, "cx_clip_grad_norm: tensor %d is %s", i,
                      tensors[i] ? "not a live tensor (freed?)" : "NULL");
            return NAN;
        }
    double sq = 0.0;
    for (int i = 0; i < n; i++) {
        const cx_tensor *g = tensors[i]->grad; /* contiguous f32, or NULL: skipped */
        if (g) sq += tensor_sum_squares(cx__f32(g), cx__numel(g->ndim, g->shape));
    }
    /* torch keeps the norm, and so the scale, in float. */
    float norm = (float)sqrt(sq);
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f)
        for (int i = 0; i < n; i++) {
            const cx_tensor *g = tensors[i]->grad;
            if (g) tensor_scale(cx__f32(g), cx__numel(g->ndim, g->shape), coef);
        }
    return norm;
}
