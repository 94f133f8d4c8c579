/*
 * gemm.cu - single-precision matrix products through cuBLAS, with the row-major interface of
 * cx__sgemm (src/backend/cpu/gemm.c).
 *
 * cuBLAS is column-major. A row-major (m, n) matrix C read column-major is C^T (n, m), and
 * C^T = op(B)^T op(A)^T, so the row-major product is cublasSgemm with the operands swapped
 * (B first), m and n swapped, and the same transposes and leading dimensions.
 *
 * fp32 throughout: the handle's math mode is CUBLAS_PEDANTIC_MATH, which rules out TF32 (and
 * any other reduced-precision path) even where NVIDIA_TF32_OVERRIDE asks for it, so results
 * agree with the CPU's sgemm to fp32 rounding.
 */
#include "backend/cuda/kernels.cuh"

#include <cublas_v2.h>

#include <limits.h>
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t handle_lock = PTHREAD_MUTEX_INITIALIZER;
static cublasHandle_t handles[CX_CUDA_MAX_DEVICES];

static cx_status blas_error(const char *what, cublasStatus_t st) {
    int dev = cx__cuda_current_device();
    return cx__error(st == CUBLAS_STATUS_ALLOC_FAILED ? CX_ERR_OOM : CX_ERR_DEVICE,
                     "%s on cuda:%d: %s (status %d)", what, dev, cublasGetStatusString(st),
                     (int)st);
}

/* The current device's handle, made on first use and bound to the backend's stream. */
static cx_status handle_get(cublasHandle_t *out) {
    *out = NULL;
    int dev = cx__cuda_current_device();
    if (dev < 0 || dev >= CX_CUDA_MAX_DEVICES)
        return cx__error(CX_ERR_DEVICE, "cuda:%d: the backend keeps state for %d devices only", dev,
                         CX_CUDA_MAX_DEVICES);
    cudaStream_t s = (cudaStream_t)cx__cuda_stream();
    if (!s) return cx_last_status();
    cx_status st = CX_OK;
    pthread_mutex_lock(&handle_lock);
    if (!handles[dev]) {
        cublasHandle_t h = NULL;
        cublasStatus_t bs = cublasCreate(&h);
        if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetStream(h, s);
        if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH);
        if (bs == CUBLAS_STATUS_SUCCESS) {
            handles[dev] = h;
        } else {
            if (h) cublasDestroy(h);
            st = blas_error("cublasCreate", bs);
        }
    }
    *out = handles[dev];
    pthread_mutex_unlock(&handle_lock);
    return st;
}

extern "C" cx_status cx__cuda_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                                    float alpha, const float *a, int64_t lda, const float *b,
                                    int64_t ldb, float beta, float *c, int64_t ldc) {
    const int64_t dims[6] = {m, n, k, lda, ldb, ldc};
    for (int i = 0; i < 6; i++)
        if (dims[i] < 0 || dims[i] > INT_MAX)
            return cx__error(CX_ERR_ARG,
                             "cuda sgemm: m %lld, n %lld, k %lld, lda %lld, ldb "
                             "%lld, ldc %lld must lie in [0, %d]",
                             (long long)m, (long long)n, (long long)k, (long long)lda,
                             (long long)ldb, (long long)ldc, INT_MAX);
    if (m == 0 || n == 0) return CX_OK;
    cublasHandle_t h = NULL;
    cx_status st = handle_get(&h);
    if (st != CX_OK) return st;
    cublasStatus_t bs =
        cublasSgemm(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                    (int)n, (int)m, (int)k, &alpha, b, (int)ldb, a, (int)lda, &beta, c, (int)ldc);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        char what[96];
        snprintf(what, sizeof what, "cublasSgemm (m %lld, n %lld, k %lld)", (long long)m,
                 (long long)n, (long long)k);
        return blas_error(what, bs);
    }
    return CX_OK;
}

extern "C" const char *cx__cuda_blas_name(char *buf, size_t size) {
    int major = 0, minor = 0, patch = 0;
    if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
        cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
        cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS)
        snprintf(buf, size, "cuBLAS %d.%d.%d", major, minor, patch);
    else
        snprintf(buf, size, "cuBLAS");
    return buf;
}
