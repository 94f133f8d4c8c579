/*
 * softmax.cu - softmax and log_softmax over the last dimension, forward and backward, and
 * cross-entropy with integer labels (mean over rows) and its gradient.
 *
 * One block per row, as src/ops/softmax.c runs one row at a time: the row's maximum is
 * subtracted before exponentiating (so large logits do not overflow), the exponentials are
 * summed in double, and the output is (x - m) - log(s) or e^(x - m) * (1 / s). A row holding
 * NaN or +inf, or all -inf, gives NaN, as on the CPU and in PyTorch.
 *
 * Cross-entropy (src/ops/loss.c): loss = mean over rows of logsumexp(x[r]) - x[r, y[r]],
 * the per-row log-sum-exp kept for the backward, (softmax - onehot) * g / rows.
 */
#include "backend/cuda/kernels.cuh"

#include <math.h>

/* The row's maximum and sum of e^(x - max) (in double), for every thread of the block. */
static __device__ void row_stats(const float *xr, int64_t cols, float *m_out, double *s_out) {
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        m = fmaxf(m, xr[j]);
    m = cx_cuda_block_max(m);
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        s += expf(xr[j] - m);
    *m_out = m;
    *s_out = cx_cuda_block_sum(s);
}

/* ---- softmax, log_softmax ---- */

__global__ void softmax_kernel(int64_t rows, int64_t cols, const float *x, bool log_out, float *y) {
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float m;
        double s;
        row_stats(xr, cols, &m, &s);
        if (log_out) {
            float ls = (float)log(s);
            for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
                yr[j] = (xr[j] - m) - ls;
        } else {
            float inv = (float)(1.0 / s);
            for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
                yr[j] = expf(xr[j] - m) * inv;
        }
    }
}

/* softmax: gx += y (g - sum(g y)); log_softmax: gx += g - e^y sum(g), sums over the row. */
__global__ void softmax_backward_kernel(int64_t rows, int64_t cols, const float *y, const float *g,
                                        bool log_out, float *gx) {
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *yr = y + r * cols, *gr = g + r * cols;
        float *gxr = gx + r * cols;
        double acc = 0.0;
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
            acc += log_out ? (double)gr[j] : (double)gr[j] * yr[j];
        float a = (float)cx_cuda_block_sum(acc);
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
            gxr[j] += log_out ? gr[j] - expf(yr[j]) * a : yr[j] * (gr[j] - a);
    }
}

extern "C" cx_status cx__cuda_softmax(int64_t rows, int64_t cols, const float *x, bool log_out,
                                      float *y) {
    const char *name = log_out ? "log_softmax" : "softmax";
    CX_CUDA_CHECK_COUNT(name, rows);
    CX_CUDA_CHECK_COUNT(name, cols);
    if (rows == 0 || cols == 0) return CX_OK;
    CX_CUDA_STREAM(s);
    softmax_kernel<<<cx_cuda_row_blocks(rows), cx_cuda_row_threads(cols), 0, s>>>(rows, cols, x,
                                                                                  log_out, y);
    return cx__cuda_check_launch(name);
}

extern "C" cx_status cx__cuda_softmax_backward(int64_t rows, int64_t cols, const float *y,
                                               const float *g, bool log_out, float *gx) {
    const char *name = log_out ? "log_softmax backward" : "softmax backward";
    CX_CUDA_CHECK_COUNT(name, rows);
    CX_CUDA_CHECK_COUNT(name, cols);
    if (rows == 0 || cols == 0) return CX_OK;
    CX_CUDA_STREAM(s);
    softmax_backward_kernel<<<cx_cuda_row_blocks(rows), cx_cuda_row_threads(cols), 0, s>>>(
        rows, cols, y, g, log_out, gx);
    return cx__cuda_check_launch(name);
}

/* ---- cross-entropy ---- */

/* lse[r] = logsumexp(x[r]), loss[r] = lse[r] - x[r, y[r]]; the smallest row with a label
 * outside [0, cols) goes to *bad (which starts at ULLONG_MAX), its loss to NaN. */
__global__ void cross_entropy_kernel(int64_t rows, int64_t cols, const float *x,
                                     const int32_t *labels, float *lse, float *loss,
                                     unsigned long long *bad) {
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * cols;
        float m;
        double s;
        row_stats(xr, cols, &m, &s);
        if (threadIdx.x == 0) {
            float l = m + (float)log(s);
            int32_t y = labels[r];
            lse[r] = l;
            if (y < 0 || y >= cols) {
                atomicMin(bad, (unsigned long long)r);
                loss[r] = NAN;
            } else {
                loss[r] = l - xr[y];
            }
        }
    }
}

/* gx[r, j] += e^(x - lse) g, then -= g where j = y[r], with g = gout[0] / rows (float). */
__global__ void cross_entropy_backward_kernel(int64_t rows, int64_t cols, const float *x,
                                              const int32_t *labels, const float *lse,
                                              const float *gout, float *gx) {
    float g = gout[0] / (float)rows;
    CX_CUDA_FOR(i, rows * cols) {
        int64_t r = i / cols, j = i % cols;
        float v = gx[i] + expf(x[i] - lse[r]) * g;
        if (j == labels[r]) v -= g;
        gx[i] = v;
    }
}

__global__ void first_bad_init(unsigned long long *bad) {
    *bad = ~0ull;
}

extern "C" cx_status cx__cuda_cross_entropy(int64_t rows, int64_t cols, const float *x,
                                            const int32_t *labels, float *lse, float *loss) {
    const char *name = "cross_entropy";
    CX_CUDA_CHECK_COUNT(name, rows);
    if (rows < 1 || cols < 1)
        return cx__error(CX_ERR_SHAPE,
                         "%s: logits (%lld, %lld) need at least one row and one "
                         "class",
                         name, (long long)rows, (long long)cols);
    CX_CUDA_STREAM(s);
    /* scratch: the first bad row, then (rows) per-row losses */
    size_t bytes = sizeof(unsigned long long) + (size_t)rows * sizeof(float);
    void *scratch = NULL;
    cx_status st = cx__cuda_malloc(&scratch, bytes);
    if (st != CX_OK) return st;
    unsigned long long *bad = (unsigned long long *)scratch;
    float *row_loss = (float *)(bad + 1);
    first_bad_init<<<1, 1, 0, s>>>(bad);
    cross_entropy_kernel<<<cx_cuda_row_blocks(rows), cx_cuda_row_threads(cols), 0, s>>>(
        rows, cols, x, labels, lse, row_loss, bad);
    st = cx__cuda_check_launch(name);
    if (st == CX_OK) st = cx__cuda_sum_all(rows, row_loss, true, loss);
    unsigned long long first = ~0ull;
    if (st == CX_OK) st = cx__cuda_copy_to_host(&first, bad, sizeof first);
    if (st == CX_OK && first != ~0ull) {
        int32_t y = 0;
        st = cx__cuda_copy_to_host(&y, labels + first, sizeof y);
        if (st == CX_OK)
            st = cx__error(CX_ERR_ARG, "%s: label %d at index %llu is out of range [0, %lld)", name,
                           (int)y, first, (long long)cols);
    }
    cx_status st2 = cx__cuda_free(scratch);
    return st != CX_OK ? st : st2;
}

extern "C" cx_status cx__cuda_cross_entropy_backward(int64_t rows, int64_t cols, const float *x,
                                                     const int32_t *labels, const float *lse,
                                                     const float *gout, float *gx) {
    const char *name = "cross_entropy backward";
    CX_CUDA_CHECK_COUNT(name, rows);
    CX_CUDA_CHECK_COUNT(name, cols);
    if (rows == 0 || cols == 0) return CX_OK;
    CX_CUDA_STREAM(s);
    cross_entropy_backward_kernel<<<cx_cuda_blocks(rows * cols), CX_CUDA_THREADS, 0, s>>>(
        rows, cols, x, labels, lse, gout, gx);
    return cx__cuda_check_launch(name);
}
