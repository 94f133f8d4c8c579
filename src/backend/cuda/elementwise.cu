/*
 * elementwise.cu - same-shape elementwise kernels: add, sub, mul, div and the activations
 * relu, leaky_relu, sigmoid, tanh, forward and backward; scale and fill.
 *
 * Formulas and kink conventions are the CPU ops' (src/ops/binary.c, src/ops/activation.c):
 * relu passes NaN (x < 0 ? 0 : x), relu' reads the output (1 where y > 0), leaky_relu' reads
 * x (1 for x > 0, else the slope), sigmoid is formed from e^-|x| so neither tail overflows,
 * sigmoid' = y (1 - y), tanh' = 1 - y^2. Broadcasting stays with the CPU ops for now.
 */
#include "backend/cuda/kernels.cuh"

/* ---- binary ---- */

template <cx__cuda_binop OP> __device__ inline float binop(float a, float b) {
    if (OP == CX_CUDA_ADD) return a + b;
    if (OP == CX_CUDA_SUB) return a - b;
    if (OP == CX_CUDA_MUL) return a * b;
    return a / b;
}

template <cx__cuda_binop OP>
__global__ void binary_kernel(int64_t n, const float *a, const float *b, float *y) {
    CX_CUDA_FOR(i, n) y[i] = binop<OP>(a[i], b[i]);
}

/* d(a op b)/da and /db times g, added into ga and gb (either may be NULL). */
template <cx__cuda_binop OP>
__global__ void binary_backward_kernel(int64_t n, const float *a, const float *b, const float *g,
                                       float *ga, float *gb) {
    CX_CUDA_FOR(i, n) {
        float gi = g[i];
        if (ga) {
            if (OP == CX_CUDA_MUL)
                ga[i] += gi * b[i]; /* d(ab)/da = b */
            else if (OP == CX_CUDA_DIV)
                ga[i] += gi / b[i]; /* d(a/b)/da = 1/b */
            else
                ga[i] += gi;
        }
        if (gb) {
            if (OP == CX_CUDA_ADD)
                gb[i] += gi;
            else if (OP == CX_CUDA_SUB)
                gb[i] += -gi;
            else if (OP == CX_CUDA_MUL)
                gb[i] += gi * a[i];
            else
                gb[i] += -gi * a[i] / (b[i] * b[i]); /* d(a/b)/db = -a/b^2 */
        }
    }
}

static const char *binop_name(cx__cuda_binop op) {
    switch (op) {
    case CX_CUDA_ADD:
        return "add";
    case CX_CUDA_SUB:
        return "sub";
    case CX_CUDA_MUL:
        return "mul";
    case CX_CUDA_DIV:
        return "div";
    }
    return "?";
}

extern "C" cx_status cx__cuda_binary(cx__cuda_binop op, int64_t n, const float *a, const float *b,
                                     float *y) {
    CX_CUDA_CHECK_COUNT(binop_name(op), n);
    if (n == 0) return CX_OK;
    CX_CUDA_STREAM(s);
    unsigned blocks = cx_cuda_blocks(n);
    switch (op) {
    case CX_CUDA_ADD:
        binary_kernel<CX_CUDA_ADD><<<blocks, CX_CUDA_THREADS, 0, s>>>(n, a, b, y);
        break;
    case CX_CUDA_SUB:
        binary_kernel<CX_CUDA_SUB><<<blocks, CX_CUDA_THREADS, 0, s>>>(n, a, b, y);
        break;
    case CX_CUDA_MUL:
        binary_kernel<CX_CUDA_MUL><<<blocks, CX_CUDA_THREADS, 0, s>>>(n, a, b, y);
        break;
    case CX_CUDA_DIV:
        binary_kernel<CX_CUDA_DIV><<<blocks, CX_CUDA_THREADS, 0, s>>>(n, a, b, y);
        break;
    default:
        return cx__error(CX_ERR_ARG, "cuda binary op: unknown op %d", (int)op);
    }
    return cx__cuda_check_launch(binop_name(op));
}

extern "C" cx_status cx__cuda_binary_backward(cx__cuda_binop op, int64_t n, const float *a,
                                              const float *b, const float *gy, float *ga,
                                              float *gb) {
    CX_CUDA_CHECK_COUNT(binop_name(op), n);
    if (n == 0 || (!ga && !gb)) return CX_OK;
    CX_CUDA_STREAM(s);
    unsigned blocks = cx_cuda_blocks(n);
#define BWD(OP) binary_backward_kernel<OP><<<blocks, CX_CUDA_THREADS, 0, s>>>(n, a, b, gy, ga, gb)
    switch (op) {
    case CX_CUDA_ADD:
        BWD(CX_CUDA_ADD);
        break;
    case CX_CUDA_SUB:
        BWD(CX_CUDA_SUB);
        break;
    case CX_CUDA_MUL:
        BWD(CX_CUDA_MUL);
        break;
    case CX_CUDA_DIV:
        BWD(CX_CUDA_DIV);
        break;
    default:
        return cx__error(CX_ERR_ARG, "cuda binary op: unknown op %d", (int)op);
    }
#undef BWD
    return cx__cuda_check_launch("binary backward");
}

/* ---- activations ---- */

template <cx__cuda_unop OP> __device__ inline float unop(float x, float p) {
    if (OP == CX_CUDA_RELU) return x < 0.0f ? 0.0f : x;
    if (OP == CX_CUDA_LEAKY_RELU) return x > 0.0f ? x : x * p;
    if (OP == CX_CUDA_SIGMOID) {
        float e = expf(-fabsf(x)), r = 1.0f / (1.0f + e); /* sigmoid(|x|) */
        return x >= 0.0f ? r : e * r;                     /* sigmoid(-|x|) = e / (1 + e) */
    }
    return tanhf(x);
}

/* f'(x) g, from x or from y = f(x) */
template <cx__cuda_unop OP> __device__ inline float unop_grad(float x, float y, float g, float p) {
    if (OP == CX_CUDA_RELU) return y > 0.0f ? g : 0.0f;
    if (OP == CX_CUDA_LEAKY_RELU) return x > 0.0f ? g : g * p;
    if (OP == CX_CUDA_SIGMOID) return g * y * (1.0f - y);
    return g * (1.0f - y * y);
}

template <cx__cuda_unop OP>
__global__ void unary_kernel(int64_t n, const float *x, float p, float *y) {
    CX_CUDA_FOR(i, n) y[i] = unop<OP>(x[i], p);
}

template <cx__cuda_unop OP>
__global__ void unary_backward_kernel(int64_t n, const float *x, const float *y, const float *g,
                                      float p, float *gx) {
    CX_CUDA_FOR(i, n) gx[i] += unop_grad<OP>(x[i], y[i], g[i], p);
}

static const char *unop_name(cx__cuda_unop op) {
    switch (op) {
    case CX_CUDA_RELU:
        return "relu";
    case CX_CUDA_LEAKY_RELU:
        return "leaky_relu";
    case CX_CUDA_SIGMOID:
        return "sigmoid";
    case CX_CUDA_TANH:
        return "tanh";
    }
    return "?";
}

extern "C" cx_status cx__cuda_unary(cx__cuda_unop op, int64_t n, const float *x, float param,
                                    float *y) {
    CX_CUDA_CHECK_COUNT(unop_name(op), n);
    if (n == 0) return CX_OK;
    CX_CUDA_STREAM(s);
    unsigned blocks = cx_cuda_blocks(n);
#define FWD(OP) unary_kernel<OP><<<blocks, CX_CUDA_THREADS, 0, s>>>(n, x, param, y)
    switch (op) {
    case CX_CUDA_RELU:
        FWD(CX_CUDA_RELU);
        break;
    case CX_CUDA_LEAKY_RELU:
        FWD(CX_CUDA_LEAKY_RELU);
        break;
    case CX_CUDA_SIGMOID:
        FWD(CX_CUDA_SIGMOID);
        break;
    case CX_CUDA_TANH:
        FWD(CX_CUDA_TANH);
        break;
    default:
        return cx__error(CX_ERR_ARG, "cuda activation: unknown op %d", (int)op);
    }
#undef FWD
    return cx__cuda_check_launch(unop_name(op));
}

extern "C" cx_status cx__cuda_unary_backward(cx__cuda_unop op, int64_t n, const float *x,
                                             const float *y, const float *gy, float param,
                                             float *gx) {
    CX_CUDA_CHECK_COUNT(unop_name(op), n);
    if (n == 0) return CX_OK;
    CX_CUDA_STREAM(s);
    unsigned blocks = cx_cuda_blocks(n);
#define BWD(OP) unary_backward_kernel<OP><<<blocks, CX_CUDA_THREADS, 0, s>>>(n, x, y, gy, param, gx)
    switch (op) {
    case CX_CUDA_RELU:
        BWD(CX_CUDA_RELU);
        break;
    case CX_CUDA_LEAKY_RELU:
        BWD(CX_CUDA_LEAKY_RELU);
        break;
    case CX_CUDA_SIGMOID:
        BWD(CX_CUDA_SIGMOID);
        break;
    case CX_CUDA_TANH:
        BWD(CX_CUDA_TANH);
        break;
    default:
        return cx__error(CX_ERR_ARG, "cuda activation: unknown op %d", (int)op);
    }
#undef BWD
    return cx__cuda_check_launch("activation backward");
}

/* ---- scale and fill ---- */

__global__ void scale_kernel(int64_t n, float alpha, const float *x, float *y) {
    CX_CUDA_FOR(i, n) y[i] = alpha * x[i];
}

__global__ void fill_kernel(int64_t n, float value, float *y) {
    CX_CUDA_FOR(i, n) y[i] = value;
}

extern "C" cx_status cx__cuda_scale(int64_t n, float alpha, const float *x, float *y) {
    CX_CUDA_CHECK_COUNT("scale", n);
    if (n == 0) return CX_OK;
    CX_CUDA_STREAM(s);
    scale_kernel<<<cx_cuda_blocks(n), CX_CUDA_THREADS, 0, s>>>(n, alpha, x, y);
    return cx__cuda_check_launch("scale");
}

extern "C" cx_status cx__cuda_fill(int64_t n, float value, float *y) {
    CX_CUDA_CHECK_COUNT("fill", n);
    if (n == 0) return CX_OK;
    CX_CUDA_STREAM(s);
    fill_kernel<<<cx_cuda_blocks(n), CX_CUDA_THREADS, 0, s>>>(n, value, y);
    return cx__cuda_check_launch("fill");
}
