/*
 * device.c - the device registry: device names, what each device is, and whether CUDA can be
 * used. The one file outside src/backend/cuda that knows whether the build has the CUDA
 * backend (CX_HAVE_CUDA, set by `make CUDA=1`); without it, every CUDA question is answered
 * here with the reason and nothing links against the CUDA libraries.
 */
#include "cortex_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CX_HAVE_CUDA
#include "backend/cuda/cuda_impl.h"
#else
static const char no_backend[] = "this build has no CUDA backend (build with make CUDA=1)";
#endif

/* ---- names ---- */

cx_status cx_device_parse(const char *text, cx_device *out) {
    if (!text) return cx__error(CX_ERR_ARG, "device: NULL name; use cpu, cuda or cuda:N");
    cx_device d = {CX_DEVICE_CPU, 0};
    if (strcmp(text, "cpu") == 0) {
        /* d is the CPU */
    } else if (strcmp(text, "cuda") == 0) {
        d.type = CX_DEVICE_CUDA;
    } else if (strncmp(text, "cuda:", 5) == 0) {
        const char *num = text + 5;
        char *end = NULL;
        errno = 0;
        long v = (num[0] >= '0' && num[0] <= '9') ? strtol(num, &end, 10) : -1;
        if (v < 0 || !end || *end != '\0')
            return cx__error(CX_ERR_ARG,
                             "device '%s': the index after 'cuda:' must be a "
                             "number 0, 1, ... (cuda:0)",
                             text);
        if (errno == ERANGE || v > 2147483647L)
            return cx__error(CX_ERR_ARG, "device '%s': index out of range", text);
        d.type = CX_DEVICE_CUDA;
        d.index = (int)v;
    } else {
        return cx__error(CX_ERR_ARG, "unknown device '%s': use cpu, cuda or cuda:N", text);
    }
    if (out) *out = d;
    return CX_OK;
}

const char *cx_device_str(cx_device device, char *buf, size_t size) {
    if (!buf || !size) return buf;
    if (device.type == CX_DEVICE_CUDA)
        snprintf(buf, size, "cuda:%d", device.index);
    else if (device.type == CX_DEVICE_CPU)
        snprintf(buf, size, "cpu");
    else
        snprintf(buf, size, "device?%d", (int)device.type);
    return buf;
}

/* ---- CUDA availability ---- */

bool cx_cuda_available(char *why, size_t size) {
#ifdef CX_HAVE_CUDA
    char reason[256];
    int n = cx__cuda_device_count(reason, sizeof reason);
    if (why && size) snprintf(why, size, "%s", n > 0 ? "" : reason);
    return n > 0;
#else
    if (why && size) snprintf(why, size, "%s", no_backend);
    return false;
#endif
}

int cx_cuda_device_count(void) {
#ifdef CX_HAVE_CUDA
    int n = cx__cuda_device_count(NULL, 0);
    return n > 0 ? n : 0;
#else
    return 0;
#endif
}

/* ---- describing a device ---- */

/* The value of "key: value" lines of a /proc file, such as /proc/cpuinfo's "model name". */
static bool proc_field(const char *path, const char *key, char *out, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[512];
    size_t k = strlen(key);
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, k) != 0) continue;
        const char *v = line + k;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v != ':') continue;
        for (v++; *v == ' ' || *v == '\t'; v++) {
        }
        snprintf(out, size, "%s", v);
        out[strcspn(out, "\n")] = '\0';
        found = true;
    }
    fclose(f);
    return found;
}

static cx_status describe_cpu(cx_device_info *info) {
    if (!proc_field("/proc/cpuinfo", "model name", info->name, sizeof info->name))
        snprintf(info->name, sizeof info->name, "CPU");
    long cores = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    info->cores = cores > 0 ? (int)cores : 1;
    if (pages > 0 && page > 0) info->memory_bytes = (uint64_t)pages * (uint64_t)page;
    char avail[64];
    if (proc_field("/proc/meminfo", "MemAvailable", avail, sizeof avail))
        info->free_bytes = strtoull(avail, NULL, 10) * 1024; /* "12345 kB" */
    snprintf(info->blas, sizeof info->blas, "%s", cx_blas_name());
    return CX_OK;
}

cx_status cx_device_describe(cx_device device, cx_device_info *info) {
    if (!info) return cx__error(CX_ERR_ARG, "cx_device_describe: NULL info");
    memset(info, 0, sizeof *info);
    info->device = device;
    if (device.type == CX_DEVICE_CPU) return describe_cpu(info);
    if (device.type != CX_DEVICE_CUDA)
        return cx__error(CX_ERR_ARG, "cx_device_describe: unknown device type %d",
                         (int)device.type);
#ifdef CX_HAVE_CUDA
    return cx__cuda_describe(device.index, info);
#else
    return cx__error(CX_ERR_UNSUPPORTED, "cuda:%d: %s", device.index, no_backend);
#endif
}

/* ---- the device allocator's public face ---- */

cx_status cx_cuda_memory_stats_get(cx_cuda_memory_stats *stats) {
    if (!stats) return cx__error(CX_ERR_ARG, "cx_cuda_memory_stats_get: NULL stats");
    memset(stats, 0, sizeof *stats);
#ifdef CX_HAVE_CUDA
    cx__cuda_memory_stats(stats);
#endif
    return CX_OK;
}

cx_status cx_cuda_empty_cache(void) {
#ifdef CX_HAVE_CUDA
    return cx__cuda_empty_cache();
#else
    return CX_OK;
#endif
}
