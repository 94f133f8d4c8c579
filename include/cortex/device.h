/*
 * cortex/device.h - compute devices: the CPU, always present, and NVIDIA GPUs through the CUDA
 * backend of a `make CUDA=1` build. Included by cortex.h.
 *
 * A device is named as in PyTorch: "cpu", "cuda" (the first GPU) or "cuda:N". Nothing here
 * needs a GPU: on a build without the CUDA backend, or a machine without a GPU or without the
 * NVIDIA driver, cx_cuda_available() says why and every CUDA request fails with that reason.
 *
 * Tensors still live on the CPU: the CUDA kernels, the device allocator and cuBLAS exist
 * (src/backend/cuda, docs/CUDA.md) but ops do not dispatch to them yet.
 *
 *     char why[256];
 *     if (!cx_cuda_available(why, sizeof why)) printf("no GPU: %s\n", why);
 */
#ifndef CORTEX_DEVICE_H
#define CORTEX_DEVICE_H

#include "cortex.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CX_DEVICE_CPU = 0,
    CX_DEVICE_CUDA,
} cx_device_type;

/* A device: its type and, for CUDA, the GPU's index as CUDA numbers them (after
 * CUDA_VISIBLE_DEVICES). Plain data, passed by value; zero is the CPU. */
typedef struct {
    cx_device_type type;
    int index; /* 0 for the CPU */
} cx_device;

/* Longest device string cx_device_str writes, with its NUL ("cuda:2147483647"). */
#define CX_DEVICE_STR_MAX 16

/* Parses "cpu", "cuda" (= "cuda:0") or "cuda:N" (N a decimal index, 0 <= N < 2^31) into *out.
 * Only the syntax is checked: whether the device exists is cx_device_describe's question.
 * Returns CX_OK, or CX_ERR_ARG with a message quoting text and saying what is accepted
 * ("unknown device 'gpu': use cpu, cuda or cuda:N"). out may be NULL (validation only). */
cx_status cx_device_parse(const char *text, cx_device *out);

/* "cpu" or "cuda:N" into buf (size bytes, CX_DEVICE_STR_MAX is enough); returns buf. */
const char *cx_device_str(cx_device device, char *buf, size_t size);

/* Whether CUDA devices can be used: true if this build has the CUDA backend and the driver
 * reports at least one GPU. Otherwise false, and why (if not NULL, size bytes, always
 * NUL-terminated) receives the reason: "this build has no CUDA backend (build with make
 * CUDA=1)", "no CUDA device found", or the driver's own message (from cudaGetDeviceCount:
 * "CUDA driver version is insufficient for CUDA runtime version" where no driver is
 * installed). Safe on any machine: it does not crash or wait where there is no GPU or no
 * driver. The answer is found once and kept for the process. */
bool cx_cuda_available(char *why, size_t size);

/* CUDA devices present: 0 where cx_cuda_available is false. */
int cx_cuda_device_count(void);

/* What a device is. CPU: the processor's model name, online cores, physical memory, and the
 * BLAS in use. CUDA: the GPU's name, its total and free memory, compute capability and
 * multiprocessor count. */
typedef struct {
    cx_device device;
    char name[256];         /* "AMD EPYC 9B45", "NVIDIA H200" */
    uint64_t memory_bytes;  /* physical memory (CPU) or device memory (CUDA) */
    uint64_t free_bytes;    /* available now (CPU: MemAvailable; CUDA: cudaMemGetInfo) */
    int cores;              /* CPU: online cores; CUDA: multiprocessors */
    int cc_major, cc_minor; /* CUDA compute capability (9.0 for H100/H200); 0 for the CPU */
    char blas[128];         /* CPU: cx_blas_name(); CUDA: "cuBLAS <version>" */
} cx_device_info;

/* Fills *info for a present device. Errors: CX_ERR_ARG for a NULL info or a bad device type;
 * CX_ERR_UNSUPPORTED for CUDA in a build without the backend; CX_ERR_DEVICE naming the
 * device for a CUDA index that does not exist ("cuda:3: no such device; 1 CUDA device
 * present (cuda:0)") or where CUDA is unavailable (with the reason), or when a CUDA call
 * fails (naming the call). */
cx_status cx_device_describe(cx_device device, cx_device_info *info);

/* ---- the CUDA caching allocator (src/backend/cuda/alloc.c) ----
 * Device memory is taken from the driver (cudaMalloc) in size classes and kept when freed, on
 * a free list per class and device, to be handed out again; so once a training step has run
 * once, the next ones take no new device memory. Where a cudaMalloc fails, the cache is
 * emptied and the call tried once more. */

typedef struct {
    uint64_t bytes_in_use;    /* in blocks handed out (rounded up to their class) */
    uint64_t bytes_cached;    /* in blocks kept on the free lists */
    uint64_t bytes_requested; /* asked for by the blocks in use (before rounding) */
    int64_t device_mallocs;   /* cudaMalloc calls that succeeded, since the process began */
    int64_t device_frees;     /* cudaFree calls (cx_cuda_empty_cache, retries after OOM) */
    int64_t allocs, reuses;   /* allocations served, and those served from the cache */
} cx_cuda_memory_stats;

/* The allocator's counters, over every device. In a build without CUDA, or before any device
 * memory was used, all zero. CX_ERR_ARG for a NULL stats. */
cx_status cx_cuda_memory_stats_get(cx_cuda_memory_stats *stats);

/* Returns every cached (free) block to the driver. Blocks in use are untouched. CX_OK, also in
 * a build without CUDA (nothing is cached); CX_ERR_DEVICE naming the call if cudaFree fails. */
cx_status cx_cuda_empty_cache(void);

#ifdef __cplusplus
}
#endif

#endif /* CORTEX_DEVICE_H */
