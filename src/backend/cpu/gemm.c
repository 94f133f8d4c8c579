/*
 * gemm.c - single-precision matrix products.
 *
 * OpenBLAS is loaded at run time (dlopen) rather than linked, so that Cortex decides what
 * happens before OpenBLAS initialises: Debian's OpenBLAS 0.3.21 does not recognise recent AMD
 * CPUs and would pick its AVX2 kernels at half the speed, and some environments preset
 * OPENBLAS_CORETYPE=Haswell. So Cortex sets OPENBLAS_CORETYPE itself: CX_BLAS_CORETYPE if
 * given, else SkylakeX on a CPU with AVX-512. The OpenMP build is preferred so
 * BLAS and our kernels share one thread pool. Without OpenBLAS a blocked built-in kernel runs.
 */
#include "cortex_impl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc);

static sgemm_fn blas_sgemm;
static void (*blas_set_threads)(int);
static char blas_name[256] = "built-in";
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_load(void) {
    static const char *const candidates[] = {
        "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
        "libopenblas.so.0",
        "libopenblas.so",
    };
    if (getenv("CX_BLAS") && strcmp(getenv("CX_BLAS"), "builtin") == 0) return;
    const char *core = getenv("CX_BLAS_CORETYPE");
#if defined(__x86_64__) && defined(__GNUC__)
    if (!core && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        core = "SkylakeX";
#endif
    if (core) setenv("OPENBLAS_CORETYPE", core, 1);
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        void *lib = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (!lib) continue;
        sgemm_fn f = (sgemm_fn)dlsym(lib, "cblas_sgemm");
        if (!f) {
            dlclose(lib);
            continue;
        }
        blas_sgemm = f;
        blas_set_threads = (void (*)(int))dlsym(lib, "openblas_set_num_threads");
        char *(*corename)(void) = (char *(*)(void))dlsym(lib, "openblas_get_corename");
        char *(*config)(void) = (char *(*)(void))dlsym(lib, "openblas_get_config");
        snprintf(blas_name, sizeof blas_name, "%s (%s)", config ? config() : "OpenBLAS",
                 corename ? corename() : "?");
        if (blas_set_threads) blas_set_threads(cx_get_num_threads());
        return; /* the library stays loaded for the life of the process */
    }
}

const char *cx_blas_name(void) {
    pthread_once(&blas_once, blas_load);
    return blas_name;
}

void cx__blas_set_threads(int n) {
    pthread_once(&blas_once, blas_load);
    if (blas_set_threads) blas_set_threads(n);
}



/* Built-in fallback: C += alpha * op(A) op(B) over blocks, after scaling C by beta. */
static void builtin_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                          const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                          float *c, int64_t ldc) {
#pragma omp parallel for if (m * n * k > CX_PARALLEL_MIN)
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (int64_t j = 0; j < n; j++) ci[j] = beta == 0.0f ? 0.0f : ci[j] * beta;
        for (int64_t p = 0; p < k; p++) {
            float aip = alpha * (ta ? a[p * lda + i] : a[i * lda + p]);
            if (aip == 0.0f) continue;
            if (tb)
                for (int64_t j = 0; j < n; j++) ci[j] += aip * b[j * ldb + p];
            else
                for (int64_t j = 0; j < n; j++) ci[j] += aip * b[p * ldb + j];
        }
    }
}

void cx__sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
               int64_t ldc) {
    if (m == 0 || n == 0) return;
    if (k > 0 && cx__bf16_matmul() &&
        cx__sgemm_bf16(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        return;
    cx__sgemm_float32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void cx__sgemm_float32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                       float *c, int64_t ldc) {
    pthread_once(&blas_once, blas_load);
    if (m == 0 || n == 0) return;
    if (k == 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : c[i * ldc + j] * beta;
        return;
    }
    /* cblas takes int dimensions; beyond that (never for sane models) use the built-in. */
    if (blas_sgemm && m < INT32_MAX && n < INT32_MAX && k < INT32_MAX && lda < INT32_MAX &&
        ldb < INT32_MAX && ldc < INT32_MAX) {
        blas_sgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS,
                   trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)m, (int)n, (int)k, alpha, a,
                   (int)lda, b, (int)ldb, beta, c, (int)ldc);
        return;
    }
    builtin_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
