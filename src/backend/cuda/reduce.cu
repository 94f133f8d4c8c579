/*
 * reduce.cu - sum and mean, per row of a (rows, cols) matrix and over a whole array.
 *
 * Every sum accumulates in double (each thread's share and the tree over threads), and a
 * mean is the sum times 1 / count in double, as in src/ops/reduce.c (a mean of nothing is
 * 0 * inf = NaN, as PyTorch). The whole-array sum runs in two passes with a fixed number of
 * blocks, so its result does not depend on scheduling: no atomics, the same order every run.
 */
#include "backend/cuda/kernels.cuh"

enum { SUM_BLOCKS = 1024 }; /* blocks of the whole-array sum's first pass */

/* One block per row (grid-striding over rows): y[r] = scale * sum of the row. */
__global__ void sum_rows_kernel(int64_t rows, int64_t cols, const float *x, double scale,
                                float *y) {
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * cols;
        double acc = 0.0;
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
            acc += xr[j];
        acc = cx_cuda_block_sum(acc);
        if (threadIdx.x == 0) y[r] = (float)(acc * scale);
    }
}

/* First pass: part[b] = the sum of block b's grid-strided share of x. */
__global__ void sum_part_kernel(int64_t n, const float *x, double *part) {
    double acc = 0.0;
    CX_CUDA_FOR(i, n) acc += x[i];
    acc = cx_cuda_block_sum(acc);
    if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

/* Second pass, one block: y[0] = scale * the sum of part[0..parts). */
__global__ void sum_final_kernel(int parts, const double *part, double scale, float *y) {
    double acc = 0.0;
    for (int i = threadIdx.x; i < parts; i += blockDim.x)
        acc += part[i];
    acc = cx_cuda_block_sum(acc);
    if (threadIdx.x == 0) y[0] = (float)(acc * scale);
}

extern "C" cx_status cx__cuda_sum_rows(int64_t rows, int64_t cols, const float *x, bool mean,
                                       float *y) {
    CX_CUDA_CHECK_COUNT("sum_rows", rows);
    CX_CUDA_CHECK_COUNT("sum_rows", cols);
    if (rows == 0) return CX_OK;
    CX_CUDA_STREAM(s);
    double scale = mean ? 1.0 / (double)cols : 1.0;
    sum_rows_kernel<<<cx_cuda_row_blocks(rows), cx_cuda_row_threads(cols), 0, s>>>(rows, cols, x,
                                                                                   scale, y);
    return cx__cuda_check_launch("sum_rows");
}

extern "C" cx_status cx__cuda_sum_all(int64_t n, const float *x, bool mean, float *y) {
    CX_CUDA_CHECK_COUNT("sum_all", n);
    CX_CUDA_STREAM(s);
    unsigned blocks = cx_cuda_blocks(n);
    if (blocks > SUM_BLOCKS) blocks = SUM_BLOCKS;
    double *part = NULL; /* (blocks) first-pass sums */
    cx_status st = cx__cuda_malloc((void **)&part, blocks * sizeof *part);
    if (st != CX_OK) return st;
    double scale = mean ? 1.0 / (double)n : 1.0;
    sum_part_kernel<<<blocks, CX_CUDA_THREADS, 0, s>>>(n, x, part);
    st = cx__cuda_check_launch("sum_all (first pass)");
    if (st == CX_OK) {
        sum_final_kernel<<<1, 1024, 0, s>>>((int)blocks, part, scale, y);
        st = cx__cuda_check_launch("sum_all (second pass)");
    }
    /* back to the pool at once: whatever reuses it is queued on this stream after both passes */
    cx_status st2 = cx__cuda_free(part);
    return st != CX_OK ? st : st2;
}
