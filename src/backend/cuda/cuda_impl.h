/*
 * cuda_impl.h - the CUDA backend's internal C API: devices, the caching allocator, copies and
 * kernels on device pointers. Compiled only in a `make CUDA=1` build (CX_HAVE_CUDA); included
 * by the backend's .c and .cu files, by src/backend/device.c and by tests/test_cuda.c.
 *
 * Conventions for every function below:
 *   - Pointers named x, y, a, b, g... are device pointers to f32 (labels: i32) on the current
 *     device, contiguous, row-major; n, rows, cols are element counts. Outputs may not alias
 *     inputs unless the function says so.
 *   - Work runs on the backend's stream of the current device (cx__cuda_stream), in order;
 *     a function returns once the work is queued, except where it says it synchronises.
 *   - Backward functions ADD into the gradients they are given (as the CPU ops accumulate
 *     into .grad); a NULL gradient pointer means "not wanted".
 *   - Status: CX_OK, or CX_ERR_DEVICE with a message naming the CUDA/cuBLAS call and the
 *     driver's error ("cudaMalloc(4096 bytes) on cuda:0: out of memory
 *     (cudaErrorMemoryAllocation)"); CX_ERR_ARG for a bad count; CX_ERR_OOM when device
 *     memory runs out even after the cache was emptied.
 * Numerics follow the CPU ops of src/ops and src/optim (same formulas, fp32 data, no TF32),
 * agreeing with them within 1e-4 relative (tests/test_cuda.c checks each one).
 */
#ifndef CX_CUDA_IMPL_H
#define CX_CUDA_IMPL_H

#include "cortex.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CX_CUDA_MAX_DEVICES 16 /* devices the backend keeps state for */

/* ---- errors (runtime.cu) ---- */

/* src/core's error setter (cortex_impl.h), declared here for the .cu files, which do not
 * include that C header. */
cx_status cx__error(cx_status status, const char *fmt, ...);

/* Sets CX_ERR_DEVICE "<what> on cuda:N: <driver message> (<error name>)" for a cudaError_t
 * code and returns CX_ERR_DEVICE (CX_ERR_OOM for cudaErrorMemoryAllocation). */
cx_status cx__cuda_error(const char *what, int code);
/* Checks a kernel launch just made (cudaGetLastError); what names the kernel. */
cx_status cx__cuda_check_launch(const char *what);

/* ---- devices (runtime.cu) ---- */

/* Devices visible (cudaGetDeviceCount), or -1 with the reason in why (size bytes) where the
 * driver reports an error. Asked once per process. */
int cx__cuda_device_count(char *why, size_t size);
/* Name, memory, compute capability, multiprocessors of device index into info. */
cx_status cx__cuda_describe(int index, cx_device_info *info);
/* Makes index the calling thread's current device (cudaSetDevice), checking it exists. */
cx_status cx__cuda_set_device(int index);
int cx__cuda_current_device(void);
/* The current device into *dev for the backend's per-device arrays; false + error naming the
 * call that failed, or a device number past CX_CUDA_MAX_DEVICES. */
bool cx__cuda_device_slot(int *dev);
/* The backend's stream on the current device (made on first use; NULL + error on failure).
 * The type is cudaStream_t. */
void *cx__cuda_stream(void);
/* Waits for everything queued on the current device's stream. */
cx_status cx__cuda_synchronize(void);

/* ---- copies (runtime.cu) ---- */

/* bytes from host src to device dst: synchronises (src may be reused on return). */
cx_status cx__cuda_copy_to_device(void *dst, const void *src, size_t bytes);
/* bytes from device src to host dst: synchronises (dst holds the data on return). */
cx_status cx__cuda_copy_to_host(void *dst, const void *src, size_t bytes);
/* bytes from device src to device dst, queued. */
cx_status cx__cuda_copy_device(void *dst, const void *src, size_t bytes);

/* ---- the caching allocator (alloc.c) ---- */

/* A pool of blocks in size classes over a raw allocator. The CUDA allocator is one pool per
 * device over cudaMalloc/cudaFree; tests run the same pool over the host heap, so its reuse
 * rules are exercised on machines without a GPU. */
typedef struct {
    /* Gets bytes from the underlying allocator into *ptr: CX_OK, or an error already set
     * (CX_ERR_OOM where it is out of memory, so the pool empties its cache and retries). */
    cx_status (*alloc)(void **ptr, size_t bytes, void *ctx);
    cx_status (*free)(void *ptr, void *ctx);
    void *ctx;
} cx__pool_raw;

typedef struct cx__pool cx__pool;

cx__pool *cx__pool_new(const cx__pool_raw *raw); /* NULL + CX_ERR_OOM */
/* Frees every block (those in use too) and the pool; NULL is a no-op. */
void cx__pool_free(cx__pool *pool);
/* A block of at least bytes (> 0) into *ptr: from the free list of its size class, or from
 * raw (then, if raw runs out of memory, after emptying the cache). CX_ERR_ARG for 0 bytes or
 * more than 2^40; the raw allocator's error otherwise. */
cx_status cx__pool_alloc(cx__pool *pool, size_t bytes, void **ptr);
/* Puts ptr's block back on its free list. NULL is a no-op; CX_ERR_ARG for a pointer the pool
 * did not hand out (or handed out and already took back). */
cx_status cx__pool_release(cx__pool *pool, void *ptr);
/* Returns every cached block to raw. */
cx_status cx__pool_empty(cx__pool *pool);
/* Adds the pool's counters to *stats (device_mallocs/frees count raw calls). */
void cx__pool_stats(const cx__pool *pool, cx_cuda_memory_stats *stats);
/* The class size a request of bytes is rounded up to (0 for 0 or absurd sizes). */
size_t cx__pool_class_size(size_t bytes);

/* Device memory on the current device, through its pool. */
cx_status cx__cuda_malloc(void **ptr, size_t bytes);
/* Returns ptr (from cx__cuda_malloc, on any device) to its pool; NULL is a no-op. The block
 * is reused by later work on the same stream, so no synchronisation is needed. */
cx_status cx__cuda_free(void *ptr);

/* The counters of every device's pool (cx_cuda_memory_stats_get). */
void cx__cuda_memory_stats(cx_cuda_memory_stats *stats);
/* Every device's cached blocks back to the driver (cx_cuda_empty_cache). */
cx_status cx__cuda_empty_cache(void);

/* ---- elementwise (elementwise.cu): n elements, same shapes, no broadcasting ---- */

typedef enum { CX_CUDA_ADD, CX_CUDA_SUB, CX_CUDA_MUL, CX_CUDA_DIV } cx__cuda_binop;
typedef enum {
    CX_CUDA_RELU,
    CX_CUDA_LEAKY_RELU, /* param: negative slope */
    CX_CUDA_SIGMOID,
    CX_CUDA_TANH,
} cx__cuda_unop;

/* y = a op b (y may alias a or b). */
cx_status cx__cuda_binary(cx__cuda_binop op, int64_t n, const float *a, const float *b, float *y);
/* ga += d(a op b)/da * gy, gb += d(a op b)/db * gy (either NULL). */
cx_status cx__cuda_binary_backward(cx__cuda_binop op, int64_t n, const float *a, const float *b,
                                   const float *gy, float *ga, float *gb);
/* y = f(x) (y may alias x). */
cx_status cx__cuda_unary(cx__cuda_unop op, int64_t n, const float *x, float param, float *y);
/* gx += f'(x) * gy, f' from x or from the forward's output y as the CPU op does (relu,
 * sigmoid and tanh read y, leaky_relu reads x); pass both. */
cx_status cx__cuda_unary_backward(cx__cuda_unop op, int64_t n, const float *x, const float *y,
                                  const float *gy, float param, float *gx);
/* y = alpha * x (y may alias x). */
cx_status cx__cuda_scale(int64_t n, float alpha, const float *x, float *y);
/* y[0..n) = value. */
cx_status cx__cuda_fill(int64_t n, float value, float *y);

/* ---- reductions (reduce.cu): sums accumulate in double ---- */

/* y[r] = sum (or mean) of x[r, 0..cols) for r < rows; x is (rows, cols). cols 0 gives 0
 * (sum) or NaN (mean), as PyTorch. */
cx_status cx__cuda_sum_rows(int64_t rows, int64_t cols, const float *x, bool mean, float *y);
/* y[0] = sum (or mean) of x[0..n). Deterministic: the same blocks, in the same order, every
 * run. */
cx_status cx__cuda_sum_all(int64_t n, const float *x, bool mean, float *y);

/* ---- softmax and losses (softmax.cu) ---- */

/* y = softmax(x) or log_softmax(x) over the last dim of x (rows, cols), with the row maximum
 * subtracted first; a row holding NaN or +inf gives NaN, one all -inf gives NaN. */
cx_status cx__cuda_softmax(int64_t rows, int64_t cols, const float *x, bool log_out, float *y);
/* gx += the gradient, from the forward's output y: softmax y * (g - sum(g * y)),
 * log_softmax g - exp(y) * sum(g), the sums over each row. */
cx_status cx__cuda_softmax_backward(int64_t rows, int64_t cols, const float *y, const float *g,
                                    bool log_out, float *gx);
/* loss[0] = mean over rows of logsumexp(x[r]) - x[r, labels[r]]; lse (rows) receives each
 * row's log-sum-exp, kept for the backward. Labels must lie in [0, cols): this function
 * synchronises to check, and a bad one is CX_ERR_ARG naming it, as the CPU op does. */
cx_status cx__cuda_cross_entropy(int64_t rows, int64_t cols, const float *x, const int32_t *labels,
                                 float *lse, float *loss);
/* gx[r, j] += (exp(x[r, j] - lse[r]) - [j = labels[r]]) * gout[0] / rows, gout a device
 * scalar (the loss's upstream gradient). */
cx_status cx__cuda_cross_entropy_backward(int64_t rows, int64_t cols, const float *x,
                                          const int32_t *labels, const float *lse,
                                          const float *gout, float *gx);

/* ---- fused optimizer updates (optim.c, optim_kernels.cu) ---- */

/* One update of n parameters w with gradient g and state buffers buf[k] (torch's slots, as
 * src/optim: SGD none; momentum/Nesterov slot 0 "momentum_buffer"; Adam/AdamW slot 0
 * "exp_avg", 1 "exp_avg_sq", 2 "max_exp_avg_sq" with amsgrad), step the parameter's update
 * count (1 for the first). The per-step scalars come from src/optim's own rule, so the update
 * is the CPU's, element by element. CX_ERR_UNSUPPORTED for Adagrad, Adadelta and RMSprop (not
 * on the GPU yet); CX_ERR_ARG for bad hyper-parameters (as cx_optim_new) or a missing buffer. */
cx_status cx__cuda_optim_update(cx_optim_kind kind, const cx_optim_params *p, int64_t step,
                                int64_t n, float *w, const float *g, float *const *buf);
/* The kernel optim.c launches: rule 0 SGD, 1 momentum, 2 Nesterov, 3 Adam/AdamW (amsgrad
 * when buf[2] is not NULL); c the rule's scalars in its own slot order (src/optim). */
cx_status cx__cuda_optim_launch(int rule, int64_t n, float *w, const float *g, float *const *buf,
                                const float *c);

/* ---- matrix products (gemm.cu) ---- */

/* C = alpha op(A) op(B) + beta C, row-major as cx__sgemm (src/backend/cpu/gemm.c): A is
 * (m, k) after op, B (k, n), C (m, n), leading dimensions in elements. Through cuBLAS in
 * fp32 with TF32 off. Dimensions must fit an int (CX_ERR_ARG otherwise). */
cx_status cx__cuda_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                         float *c, int64_t ldc);
/* "cuBLAS 13.0.0" into buf (the library version; no device needed); returns buf. */
const char *cx__cuda_blas_name(char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* CX_CUDA_IMPL_H */
