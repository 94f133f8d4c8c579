/*
 * conv.c - convolution benchmarks, the twin of bench/pytorch/conv.py: the same shapes,
 * settings and thread count. The shapes are the two convolutions of the Keras mnist_cnn
 * (batch 128) and VGG-style 3x3 layers. Prints one JSON object per workload: {"name", "ms",
 * "gflops"} with ms the median time of one call (forward, or forward + backward where the
 * name says so; backward gives weight and bias gradients, and the input's where the layer is
 * not the first) and gflops the products' rate (2 multiply-adds per output, per pass).
 * Usage: build/bench/conv [--threads N] [--filter SUBSTRING]
 */
#include "bench.h"

typedef struct {
    const char *name;
    int64_t n, c, h, w, o, k, pad, stride;
    bool transpose; /* conv_transpose2d: weight [c, o, k, k] */
    bool backward;
    bool input_grad; /* backward also to x */
} workload;

static const workload workloads[] = {
    {"conv mnist1 128x1x28x28 -> 32 k3", 128, 1, 28, 28, 32, 3, 0, 1, false, false, false},
    {"conv mnist1 fwd+bwd", 128, 1, 28, 28, 32, 3, 0, 1, false, true, false},
    {"conv mnist2 128x32x26x26 -> 64 k3", 128, 32, 26, 26, 64, 3, 0, 1, false, false, false},
    {"conv mnist2 fwd+bwd", 128, 32, 26, 26, 64, 3, 0, 1, false, true, true},
    {"conv vgg 16x64x56x56 -> 64 k3 p1", 16, 64, 56, 56, 64, 3, 1, 1, false, false, false},
    {"conv vgg64 fwd+bwd", 16, 64, 56, 56, 64, 3, 1, 1, false, true, true},
    {"conv vgg 16x128x28x28 -> 128 k3 p1", 16, 128, 28, 28, 128, 3, 1, 1, false, false, false},
    {"conv vgg128 fwd+bwd", 16, 128, 28, 28, 128, 3, 1, 1, false, true, true},
    {"conv vgg 1x64x56x56 -> 64 k3 p1", 1, 64, 56, 56, 64, 3, 1, 1, false, false, false},
    {"conv_t dcgan 64x64x7x7 -> 32 k4 s2 p1", 64, 64, 7, 7, 32, 4, 1, 2, true, false, false},
    {"conv_t dcgan fwd+bwd", 64, 64, 7, 7, 32, 4, 1, 2, true, true, true},
};

typedef struct {
    cx_tensor *x, *w, *b, *g;
    const workload *wl;
} bench_ctx;

static cx_tensor *forward(const bench_ctx *c) {
    const workload *w = c->wl;
    if (w->transpose)
        return cx_conv_transpose2d(c->x, c->w, c->b,
                                   &(cx_conv_transpose2d_params){
                                       .stride = {w->stride, w->stride},
                                       .padding = {w->pad, w->pad}});
    return cx_conv2d(c->x, c->w, c->b,
                     &(cx_conv2d_params){.stride = {w->stride, w->stride},
                                         .padding = {w->pad, w->pad}});
}

static bool call(const bench_ctx *c) {
    cx_tensor *y = forward(c);
    if (!y) return false;
    return !c->wl->backward || cx_backward_grad(y, c->g) == CX_OK;
}

static double run_one(const bench_ctx *c, cx_arena *arena) {
    enum { MIN_REPS = 5, MAX_REPS = 200 };
    const double budget_ms = 600;
    double times[MAX_REPS];
    int reps = 0;
    for (int warm = 0; warm < 2; warm++) { /* sizes the arena, loads BLAS */
        cx_arena_begin(arena);
        bool ok = call(c);
        cx_arena_end(arena);
        cx_arena_reset(arena);
        if (!ok) {
            fprintf(stderr, "bench conv: %s: %s\n", c->wl->name, cx_last_error());
            exit(1);
        }
    }
    double start = bench_now_ms();
    while (reps < MAX_REPS && (reps < MIN_REPS || bench_now_ms() - start < budget_ms)) {
        cx_tensor_zero_grad(c->w);
        cx_tensor_zero_grad(c->b);
        if (c->wl->input_grad) cx_tensor_zero_grad(c->x);
        double t0 = bench_now_ms();
        cx_arena_begin(arena);
        call(c);
        cx_arena_end(arena);
        cx_arena_reset(arena);
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
        bench_ctx c = {.wl = w};
        c.x = cx_randn(NULL, CX_SHAPE(w->n, w->c, w->h, w->w));
        c.w = w->transpose ? cx_randn(NULL, CX_SHAPE(w->c, w->o, w->k, w->k))
                           : cx_randn(NULL, CX_SHAPE(w->o, w->c, w->k, w->k));
        c.b = cx_randn(NULL, CX_SHAPE(w->o));
        if (w->backward) {
            cx_tensor_set_requires_grad(c.w, true);
            cx_tensor_set_requires_grad(c.b, true);
            if (w->input_grad) cx_tensor_set_requires_grad(c.x, true);
        }
        cx_no_grad_begin();
        cx_tensor *probe = forward(&c);
        cx_no_grad_end();
        if (!probe) {
            fprintf(stderr, "bench conv: %s: %s\n", w->name, cx_last_error());
            return 1;
        }
        c.g = cx_ones(cx_tensor_ndim(probe), cx_tensor_shape(probe));
        /* multiply-adds of one pass: every grid point of the smaller side meets c*o*k*k taps */
        const int64_t *s = cx_tensor_shape(w->transpose ? c.x : probe);
        double macs = (double)s[0] * s[2] * s[3] * (double)w->c * w->o * w->k * w->k;
        double passes = w->backward ? (w->input_grad ? 3 : 2) : 1;
        cx_tensor_free(probe);
        cx_arena *arena = cx_arena_new(0);
        double ms = run_one(&c, arena);
        printf("{\"name\": \"%s\", \"ms\": %.4f, \"gflops\": %.1f}\n", w->name, ms,
               2 * macs * passes / ms / 1e6);
        fflush(stdout);
        cx_arena_free(arena);
        cx_tensor_free(c.x);
        cx_tensor_free(c.w);
        cx_tensor_free(c.b);
        cx_tensor_free(c.g);
    }
    return 0;
}
