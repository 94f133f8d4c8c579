/*
 * kernels.cuh - what the backend's .cu files share: launch geometry, the stream to launch on
 * and the argument checks every kernel wrapper makes before launching.
 */
#ifndef CX_CUDA_KERNELS_CUH
#define CX_CUDA_KERNELS_CUH

#include "backend/cuda/cuda_impl.h"

#include <cuda_runtime.h>

#include <stdint.h>

static const int CX_CUDA_THREADS = 256;            /* threads per block, elementwise kernels */
static const int64_t CX_CUDA_MAX_BLOCKS = 1 << 16; /* beyond: a grid-stride loop covers the rest */

/* Blocks for n elements at CX_CUDA_THREADS each, at least 1, at most CX_CUDA_MAX_BLOCKS. */
static inline unsigned cx_cuda_blocks(int64_t n) {
    int64_t b = (n + CX_CUDA_THREADS - 1) / CX_CUDA_THREADS;
    return (unsigned)(b < 1 ? 1 : b > CX_CUDA_MAX_BLOCKS ? CX_CUDA_MAX_BLOCKS : b);
}

/* Threads per block for a row of cols handled by one block: a multiple of 32 up to 256, so
 * short rows (10 class scores) do not leave most of a block idle. */
static inline unsigned cx_cuda_row_threads(int64_t cols) {
    unsigned t = 32;
    while (t < 256 && (int64_t)t < cols)
        t *= 2;
    return t;
}

/* Blocks for rows handled one per block (a grid-stride loop covers more). */
static inline unsigned cx_cuda_row_blocks(int64_t rows) {
    return (unsigned)(rows < 1 ? 1 : rows < CX_CUDA_MAX_BLOCKS ? rows : CX_CUDA_MAX_BLOCKS);
}

/* for (i = this thread's first element; i < n; i += the grid's size) */
#define CX_CUDA_FOR(i, n)                                                                          \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                      \
         i += (int64_t)gridDim.x * blockDim.x)

/* The stream to launch on into s, or return the error; and the count check. */
#define CX_CUDA_STREAM(s)                                                                          \
    cudaStream_t s = (cudaStream_t)cx__cuda_stream();                                              \
    if (!s) return cx_last_status()

#define CX_CUDA_CHECK_COUNT(what, n)                                                               \
    do {                                                                                           \
        if ((n) < 0)                                                                               \
            return cx__error(CX_ERR_ARG, "%s: negative element count %lld", what, (long long)(n)); \
    } while (0)

/* A double sum over a block's threads; every thread gets the result. Requires blockDim.x a
 * multiple of 32, at most 1024, and all threads of the block calling it. */
static __device__ inline double cx_cuda_block_sum(double v) {
    __shared__ double part[32], total;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads(); /* part may still be read by a previous call */
    if (lane == 0) part[warp] = v;
    __syncthreads();
    v = lane < warps ? part[lane] : 0.0;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, o);
    if (threadIdx.x == 0) total = v;
    __syncthreads();
    return total;
}

/* The block's maximum of v for every thread, NaN ignored as fmaxf does (a NaN in a softmax row
 * still makes the row NaN, through its exponential, as on the CPU); as above. */
static __device__ inline float cx_cuda_block_max(float v) {
    __shared__ float part[32], top;
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    v = lane < warps ? part[lane] : -INFINITY;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1)
            v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    if (threadIdx.x == 0) top = v;
    __syncthreads();
    return top;
}

#endif /* CX_CUDA_KERNELS_CUH */
