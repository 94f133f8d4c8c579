/*
 * bench.h - what the benchmark programs share: a clock, medians, random image datasets, and
 * the training-throughput measurement through cx_fit (its own per-epoch timing). Header-only:
 * every file in bench/ is one program.
 */
#ifndef CX_BENCH_H
#define CX_BENCH_H

#include <cortex.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline double bench_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return v[n / 2];
}

static inline void bench_die(const char *what) {
    fprintf(stderr, "bench: %s: %s\n", what, cx_last_error());
    exit(1);
}

/* n random u8 pictures [n, c, h, w] with random labels in 0..9. */
static inline cx_dataset *bench_random_images(int64_t n, int64_t c, int64_t h, int64_t w) {
    cx_rng *rng = cx_rng_new(1);
    cx_tensor *x = cx_tensor_new(CX_DTYPE_U8, CX_SHAPE(n, c, h, w));
    cx_tensor *y = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(n));
    if (!x || !y) bench_die("data");
    uint8_t *xd = cx_tensor_data(x);
    int32_t *yd = cx_tensor_data(y);
    for (int64_t i = 0; i < cx_tensor_numel(x); i++) xd[i] = (uint8_t)cx_rng_u32(rng);
    for (int64_t i = 0; i < n; i++) yd[i] = (int32_t)(cx_rng_u32(rng) % 10);
    cx_dataset *d = cx_dataset_from_tensors(x, y);
    if (!d) bench_die("dataset");
    cx_tensor_free(x);
    cx_tensor_free(y);
    cx_rng_free(rng);
    return d;
}

/* Trains a fresh model of config on d for epochs with optimizer kind (lr, 0 = default) and
 * batch; writes each epoch's training seconds into seconds[] and returns the run's minor page
 * faults. */
static inline long bench_train(const char *config, cx_optim_kind kind, float lr, int64_t batch,
                               const cx_dataset *d, int epochs, double *seconds) {
    cx_model *m = cx_model_from_config(config, "bench", NULL);
    if (!m) bench_die("model");
    cx_tensor *params[64];
    int n = cx_model_trainable_params(m, params);
    cx_optim_params op = cx_optim_defaults(kind);
    if (lr > 0) op.lr = lr;
    cx_optim *o = cx_optim_new(kind, &op, params, n);
    if (!o) bench_die("optimizer");
    char *log = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&log, &size);
    cx_fit_params fp = {.epochs = epochs, .batch_size = batch, .seed = 7, .json = true,
                        .out = out};
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    if (cx_fit(m, o, d, NULL, &fp, NULL) != CX_OK) bench_die("fit");
    getrusage(RUSAGE_SELF, &r1);
    fclose(out);
    int k = 0;
    for (const char *p = strstr(log, "\"seconds\": "); p && k < epochs;
         p = strstr(p + 1, "\"seconds\": "))
        seconds[k++] = strtod(p + 11, NULL);
    free(log);
    if (k != epochs) bench_die("epoch log");
    cx_optim_free(o);
    cx_model_free(m);
    return r1.ru_minflt - r0.ru_minflt;
}

/* Parses --threads N and --filter S; returns the filter (or NULL). */
static inline const char *bench_args(int argc, char **argv) {
    const char *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) cx_set_num_threads(atoi(argv[++i]));
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) filter = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--threads N] [--filter SUBSTRING]\n", argv[0]);
            exit(2);
        }
    }
    return filter;
}

static inline bool bench_wanted(const char *filter, const char *name) {
    return !filter || strstr(name, filter);
}

#endif
