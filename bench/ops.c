/*
 * ops.c - op benchmarks, the twin of bench/pytorch/ops.py: the same workloads, shapes and
 * thread count. Prints one JSON object per workload: {"name", "ms"} with ms the median time of
 * one call (forward, or forward + backward where the name says so).
 * Usage: build/bench/ops [--threads N] [--filter SUBSTRING]
 */
#include "bench.h"

typedef struct {
    cx_tensor *a, *b; /* inputs (heap) */
    cx_tensor *g;     /* upstream gradient for backward workloads */
    cx_arena *arena;  /* per-call memory, reset after each call */
} bench_ctx;

typedef cx_tensor *(*workload_fn)(bench_ctx *c);

static cx_tensor *w_matmul(bench_ctx *c) { return cx_matmul(c->a, c->b); }
static cx_tensor *w_add(bench_ctx *c) { return cx_add(c->a, c->b); }
static cx_tensor *w_mul(bench_ctx *c) { return cx_mul(c->a, c->b); }
static cx_tensor *w_relu(bench_ctx *c) { return cx_relu(c->a); }
static cx_tensor *w_exp(bench_ctx *c) { return cx_exp(c->a); }
static cx_tensor *w_sigmoid(bench_ctx *c) { return cx_sigmoid(c->a); }
static cx_tensor *w_gelu(bench_ctx *c) { return cx_gelu(c->a); }
static cx_tensor *w_sum_all(bench_ctx *c) { return cx_sum(c->a, 0, NULL, false); }
static cx_tensor *w_sum_rows(bench_ctx *c) { return cx_sum(c->a, 1, (int[]){1}, false); }
static cx_tensor *w_sum_cols(bench_ctx *c) { return cx_sum(c->a, 1, (int[]){0}, false); }
static cx_tensor *w_softmax(bench_ctx *c) { return cx_softmax(c->a, -1); }
static cx_tensor *w_transpose_copy(bench_ctx *c) {
    return cx_contiguous(cx_transpose(c->a, 0, 1));
}

/* forward + backward of the workload with the given upstream gradient */
static cx_tensor *with_backward(bench_ctx *c, workload_fn f) {
    cx_tensor *out = f(c);
    if (out && cx_backward_grad(out, c->g) != CX_OK) return NULL;
    return out;
}
static cx_tensor *w_matmul_bwd(bench_ctx *c) { return with_backward(c, w_matmul); }
static cx_tensor *w_add_bwd(bench_ctx *c) { return with_backward(c, w_add); }
static cx_tensor *w_relu_bwd(bench_ctx *c) { return with_backward(c, w_relu); }
static cx_tensor *w_softmax_bwd(bench_ctx *c) { return with_backward(c, w_softmax); }

typedef struct {
    const char *name;
    workload_fn fn;
    int64_t a[2], b[2]; /* b[0] == 0: no second input; b[0] == -1: scalar-broadcast row */
    bool backward;
} workload;

static const workload workloads[] = {
    {"matmul 256x256x256", w_matmul, {256, 256}, {256, 256}, false},
    {"matmul 1024x1024x1024", w_matmul, {1024, 1024}, {1024, 1024}, false},
    {"matmul 128x784x512 (mlp layer)", w_matmul, {128, 784}, {784, 512}, false},
    {"matmul fwd+bwd 128x784x512", w_matmul_bwd, {128, 784}, {784, 512}, true},
    {"add 1M", w_add, {1024, 1024}, {1024, 1024}, false},
    {"add bias-broadcast 1M", w_add, {1024, 1024}, {1, 1024}, false},
    {"add fwd+bwd bias 1M", w_add_bwd, {1024, 1024}, {1, 1024}, true},
    {"mul 1M", w_mul, {1024, 1024}, {1024, 1024}, false},
    {"relu 1M", w_relu, {1024, 1024}, {0, 0}, false},
    {"relu fwd+bwd 1M", w_relu_bwd, {1024, 1024}, {0, 0}, true},
    {"exp 1M", w_exp, {1024, 1024}, {0, 0}, false},
    {"sigmoid 1M", w_sigmoid, {1024, 1024}, {0, 0}, false},
    {"gelu 1M", w_gelu, {1024, 1024}, {0, 0}, false},
    {"sum all 4M", w_sum_all, {2048, 2048}, {0, 0}, false},
    {"sum rows 4M", w_sum_rows, {2048, 2048}, {0, 0}, false},
    {"sum cols 4M", w_sum_cols, {2048, 2048}, {0, 0}, false},
    {"softmax 256x1000", w_softmax, {256, 1000}, {0, 0}, false},
    {"softmax fwd+bwd 256x1000", w_softmax_bwd, {256, 1000}, {0, 0}, true},
    {"transpose+copy 2048x2048", w_transpose_copy, {2048, 2048}, {0, 0}, false},
};

static double run_one(const workload *w, bench_ctx *c) {
    enum { MIN_REPS = 5, MAX_REPS = 200 };
    const double budget_ms = 400;
    double times[MAX_REPS];
    int reps = 0;
    double start = bench_now_ms();
    for (int warm = 0; warm < 2; warm++) { /* warm-up: sizes the arena, loads BLAS */
        cx_arena_begin(c->arena);
        if (!w->fn(c)) {
            fprintf(stderr, "bench: %s: %s\n", w->name, cx_last_error());
            exit(1);
        }
        cx_arena_end(c->arena);
        cx_arena_reset(c->arena);
    }
    while (reps < MAX_REPS && (reps < MIN_REPS || bench_now_ms() - start < budget_ms)) {
        if (c->a && w->backward) cx_tensor_zero_grad(c->a);
        double t0 = bench_now_ms();
        cx_arena_begin(c->arena);
        w->fn(c);
        cx_arena_end(c->arena);
        cx_arena_reset(c->arena);
        times[reps++] = bench_now_ms() - t0;
    }
    return bench_median(times, reps);
}

int main(int argc, char **argv) {
    const char *filter = bench_args(argc, argv);
    cx_seed(0);
    for (size_t k = 0; k < sizeof workloads / sizeof workloads[0]; k++) {
        const workload *w = &workloads[k];
        if (filter && !strstr(w->name, filter)) continue;
        bench_ctx c = {.arena = cx_arena_new(0)};
        c.a = cx_randn(NULL, 2, w->a);
        if (w->b[0]) c.b = cx_randn(NULL, 2, w->b);
        if (w->backward) {
            cx_tensor_set_requires_grad(c.a, true);
            if (c.b) cx_tensor_set_requires_grad(c.b, true);
            cx_no_grad_begin();
            cx_tensor *probe = w->fn == w_matmul_bwd ? cx_matmul(c.a, c.b)
                             : w->fn == w_add_bwd    ? cx_add(c.a, c.b)
                                                     : cx_clone(c.a);
            cx_no_grad_end();
            c.g = cx_ones(cx_tensor_ndim(probe), cx_tensor_shape(probe));
            cx_tensor_free(probe);
        }
        double ms = run_one(w, &c);
        printf("{\"name\": \"%s\", \"ms\": %.4f}\n", w->name, ms);
        fflush(stdout);
        cx_tensor_free(c.a);
        cx_tensor_free(c.b);
        cx_tensor_free(c.g);
        cx_arena_free(c.arena);
    }
    return 0;
}
