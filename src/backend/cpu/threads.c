/*
 * threads.c - the CPU thread count shared by OpenMP kernels and the BLAS library.
 * Read once from CX_NUM_THREADS when the library loads (default: all cores).
 */
#include "cortex_impl.h"

#include <omp.h>

static int num_threads;

__attribute__((constructor)) void cx__threads_init(void) {
    if (num_threads) return;
    const char *env = getenv("CX_NUM_THREADS");
    int n = env ? atoi(env) : 0;
    if (n < 1) n = omp_get_num_procs();
    num_threads = n;
    omp_set_num_threads(n);
}

cx_status cx_set_num_threads(int n) {
    if (n < 1)
        return cx__error(CX_ERR_ARG, "cx_set_num_threads: %d threads requested; need >= 1", n);
    num_threads = n;
    omp_set_num_threads(n);
    cx__blas_set_threads(n);
    return CX_OK;
}

int cx_get_num_threads(void) {
    cx__threads_init();
    return num_threads;
}
