/*
 * runtime.cu - the CUDA runtime as the backend uses it: errors turned into cx errors naming
 * the call, the device list (asked once), one stream per device, and host<->device copies.
 *
 * A machine with the CUDA libraries but no GPU, or no driver at all, is a normal case: the
 * first cudaGetDeviceCount returns an error code (cudaErrorNoDevice, cudaErrorInsufficientDriver
 * ...) at once, and that message is what cx_cuda_available reports.
 */
#include "backend/cuda/cuda_impl.h"

#include <cuda_runtime.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- errors ---- */

extern "C" cx_status cx__cuda_error(const char *what, int code) {
    cudaError_t e = (cudaError_t)code;
    int dev = -1;
    if (cudaGetDevice(&dev) != cudaSuccess) dev = -1;
    cudaGetLastError(); /* reset the last-error state (a sticky error stays) for the next check */
    cx_status st = e == cudaErrorMemoryAllocation ? CX_ERR_OOM : CX_ERR_DEVICE;
    if (dev >= 0)
        return cx__error(st, "%s on cuda:%d: %s (%s)", what, dev, cudaGetErrorString(e),
                         cudaGetErrorName(e));
    return cx__error(st, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

extern "C" cx_status cx__cuda_check_launch(const char *what) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return CX_OK;
    char buf[160];
    snprintf(buf, sizeof buf, "launching the %s kernel", what);
    return cx__cuda_error(buf, e);
}

/* ---- devices ---- */

static pthread_once_t count_once = PTHREAD_ONCE_INIT;
static int device_count = -1;
static char count_error[256];

static void count_devices(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess) {
        device_count = n;
        if (n == 0) snprintf(count_error, sizeof count_error, "no CUDA device found");
    } else if (e == cudaErrorNoDevice) {
        device_count = 0;
        snprintf(count_error, sizeof count_error, "no CUDA device found");
    } else {
        device_count = -1;
        snprintf(count_error, sizeof count_error, "%s (cudaGetDeviceCount: %s)",
                 cudaGetErrorString(e), cudaGetErrorName(e));
    }
    cudaGetLastError();
}

extern "C" int cx__cuda_device_count(char *why, size_t size) {
    pthread_once(&count_once, count_devices);
    if (why && size) snprintf(why, size, "%s", device_count > 0 ? "" : count_error);
    return device_count;
}

/* Checks that index names a present device; an error naming it otherwise. */
static cx_status check_index(int index) {
    char why[256];
    int n = cx__cuda_device_count(why, sizeof why);
    if (n <= 0) return cx__error(CX_ERR_DEVICE, "cuda:%d: CUDA is unavailable: %s", index, why);
    if (index < 0 || index >= n)
        return n == 1 ? cx__error(CX_ERR_DEVICE,
                                  "cuda:%d: no such device; 1 CUDA device present "
                                  "(cuda:0)",
                                  index)
                      : cx__error(CX_ERR_DEVICE,
                                  "cuda:%d: no such device; %d CUDA devices "
                                  "present (cuda:0 to cuda:%d)",
                                  index, n, n - 1);
    return CX_OK;
}

extern "C" cx_status cx__cuda_describe(int index, cx_device_info *info) {
    cx_status st = check_index(index);
    if (st != CX_OK) return st;
    cudaDeviceProp prop;
    cudaError_t e = cudaGetDeviceProperties(&prop, index);
    if (e != cudaSuccess) return cx__cuda_error("cudaGetDeviceProperties", e);
    memset(info, 0, sizeof *info);
    info->device.type = CX_DEVICE_CUDA;
    info->device.index = index;
    snprintf(info->name, sizeof info->name, "%s", prop.name);
    info->memory_bytes = prop.totalGlobalMem;
    info->cores = prop.multiProcessorCount;
    info->cc_major = prop.major;
    info->cc_minor = prop.minor;
    /* Free memory needs a context on that device; the caller's current device is restored. */
    int prev = 0;
    if ((e = cudaGetDevice(&prev)) != cudaSuccess) return cx__cuda_error("cudaGetDevice", e);
    if ((e = cudaSetDevice(index)) != cudaSuccess) return cx__cuda_error("cudaSetDevice", e);
    size_t free_b = 0, total_b = 0;
    e = cudaMemGetInfo(&free_b, &total_b);
    cudaError_t back = cudaSetDevice(prev);
    if (e != cudaSuccess) return cx__cuda_error("cudaMemGetInfo", e);
    if (back != cudaSuccess) return cx__cuda_error("cudaSetDevice (restoring the caller's)", back);
    info->free_bytes = free_b;
    cx__cuda_blas_name(info->blas, sizeof info->blas);
    return CX_OK;
}

extern "C" cx_status cx__cuda_set_device(int index) {
    cx_status st = check_index(index);
    if (st != CX_OK) return st;
    cudaError_t e = cudaSetDevice(index);
    return e == cudaSuccess ? CX_OK : cx__cuda_error("cudaSetDevice", e);
}

extern "C" int cx__cuda_current_device(void) {
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return 0;
    return dev;
}

extern "C" bool cx__cuda_device_slot(int *dev) {
    cudaError_t e = cudaGetDevice(dev);
    if (e != cudaSuccess) {
        cx__cuda_error("cudaGetDevice", e);
        return false;
    }
    if (*dev < 0 || *dev >= CX_CUDA_MAX_DEVICES) {
        cx__error(CX_ERR_DEVICE, "cuda:%d: the backend keeps state for %d devices only", *dev,
                  CX_CUDA_MAX_DEVICES);
        return false;
    }
    return true;
}

/* ---- streams ---- */

static pthread_mutex_t stream_lock = PTHREAD_MUTEX_INITIALIZER;
static cudaStream_t streams[CX_CUDA_MAX_DEVICES];

extern "C" void *cx__cuda_stream(void) {
    int dev = 0;
    if (!cx__cuda_device_slot(&dev)) return NULL;
    cudaError_t e = cudaSuccess;
    pthread_mutex_lock(&stream_lock);
    /* Non-blocking: the legacy default stream (used by other libraries in the process) does
     * not serialise with ours. */
    if (!streams[dev] &&
        (e = cudaStreamCreateWithFlags(&streams[dev], cudaStreamNonBlocking)) != cudaSuccess) {
        streams[dev] = NULL;
        pthread_mutex_unlock(&stream_lock);
        cx__cuda_error("cudaStreamCreateWithFlags", e);
        return NULL;
    }
    cudaStream_t s = streams[dev];
    pthread_mutex_unlock(&stream_lock);
    return (void *)s;
}

extern "C" cx_status cx__cuda_synchronize(void) {
    cudaStream_t s = (cudaStream_t)cx__cuda_stream();
    if (!s) return cx_last_status();
    cudaError_t e = cudaStreamSynchronize(s);
    return e == cudaSuccess ? CX_OK : cx__cuda_error("cudaStreamSynchronize", e);
}

/* ---- copies ---- */

static cx_status copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                      const char *what, bool sync) {
    if (bytes == 0) return CX_OK;
    if (!dst || !src) return cx__error(CX_ERR_ARG, "%s: NULL pointer (%zu bytes)", what, bytes);
    cudaStream_t s = (cudaStream_t)cx__cuda_stream();
    if (!s) return cx_last_status();
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, s);
    if (e == cudaSuccess && sync) e = cudaStreamSynchronize(s);
    if (e != cudaSuccess) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s (cudaMemcpyAsync, %zu bytes)", what, bytes);
        return cx__cuda_error(buf, e);
    }
    return CX_OK;
}

/* Synchronised: from pageable memory the runtime may still be reading src after
 * cudaMemcpyAsync returns. A pinned staging path for data loading is the next step's. */
extern "C" cx_status cx__cuda_copy_to_device(void *dst, const void *src, size_t bytes) {
    return copy(dst, src, bytes, cudaMemcpyHostToDevice, "host to device copy", true);
}

extern "C" cx_status cx__cuda_copy_to_host(void *dst, const void *src, size_t bytes) {
    return copy(dst, src, bytes, cudaMemcpyDeviceToHost, "device to host copy", true);
}

extern "C" cx_status cx__cuda_copy_device(void *dst, const void *src, size_t bytes) {
    return copy(dst, src, bytes, cudaMemcpyDeviceToDevice, "device to device copy", false);
}
