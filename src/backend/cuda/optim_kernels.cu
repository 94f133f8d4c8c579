/*
 * optim_kernels.cu - the fused optimizer kernels: one pass over a parameter's w, g and state
 * buffers per step. Each loop body is src/optim's, operation for operation (sgd.c, adam.c), and the
 * build compiles without fused multiply-add contraction (-fmad=false, as GCC's ISO C mode
 * does not contract on the CPU), so the GPU's update rounds exactly as the CPU's.
 *
 * c holds the rule's scalars in the slot order of its src/optim file; the enums below must
 * match those files (tests/test_cuda.c compares every rule with the CPU optimizer).
 */
#include "backend/cuda/kernels.cuh"

/* sgd.c's slots */
enum { SGD_WD, SGD_NEG_LR, SGD_MOM, SGD_DAMP1, SGD_NESTEROV_MOM };
/* adam.c's slots */
enum {
    ADAM_DECAY,
    ADAM_L2,
    ADAM_BETA1,
    ADAM_BETA1_1,
    ADAM_BETA2,
    ADAM_BETA2_1,
    ADAM_NEG_STEP,
    ADAM_BC2_SQRT,
    ADAM_EPS
};

typedef struct {
    float v[12]; /* CX_OPTIM_MAX_COEF, passed by value into constant memory */
} coefs;

/* w = w - lr (g + wd w) */
__global__ void sgd_kernel(int64_t n, float *w, const float *g, coefs c) {
    const float wd = c.v[SGD_WD], neg_lr = c.v[SGD_NEG_LR];
    CX_CUDA_FOR(i, n) w[i] = w[i] + neg_lr * (g[i] + wd * w[i]);
}

/* b = mom b + (1 - dampening) d, then w = w - lr b (heavy ball) or w - lr (d + mom b) */
template <bool NESTEROV>
__global__ void momentum_kernel(int64_t n, float *w, const float *g, float *b, coefs c) {
    const float wd = c.v[SGD_WD], neg_lr = c.v[SGD_NEG_LR], mom = c.v[SGD_MOM];
    const float damp1 = c.v[SGD_DAMP1], nmom = c.v[SGD_NESTEROV_MOM];
    CX_CUDA_FOR(i, n) {
        float d = g[i] + wd * w[i];
        b[i] = b[i] * mom + damp1 * d;
        w[i] = NESTEROV ? w[i] + neg_lr * (d + nmom * b[i]) : w[i] + neg_lr * b[i];
    }
}

/* Adam and AdamW (adam.c): decoupled decay, L2 term, moments, optional AMSGrad maximum */
template <bool AMSGRAD>
__global__ void adam_kernel(int64_t n, float *w, const float *g, float *m, float *v, float *vmax,
                            coefs c) {
    const float decay = c.v[ADAM_DECAY], l2 = c.v[ADAM_L2], b1 = c.v[ADAM_BETA1];
    const float b1_1 = c.v[ADAM_BETA1_1], b2 = c.v[ADAM_BETA2], b2_1 = c.v[ADAM_BETA2_1];
    const float neg_step = c.v[ADAM_NEG_STEP], bc2_sqrt = c.v[ADAM_BC2_SQRT];
    const float eps = c.v[ADAM_EPS];
    CX_CUDA_FOR(i, n) {
        float x = w[i] * decay;
        float d = g[i] + l2 * x;
        float mi = m[i] * b1 + b1_1 * d;
        float vi = v[i] * b2 + b2_1 * d * d;
        m[i] = mi;
        v[i] = vi;
        float s = vi;
        if (AMSGRAD) {
            /* as torch.maximum: NaN in v propagates */
            s = !(vi <= vmax[i]) ? vi : vmax[i];
            vmax[i] = s;
        }
        w[i] = x + neg_step * mi / (sqrtf(s) / bc2_sqrt + eps);
    }
}

extern "C" cx_status cx__cuda_optim_launch(int rule, int64_t n, float *w, const float *g,
                                           float *const *buf, const float *c) {
    CX_CUDA_CHECK_COUNT("optimizer update", n);
    if (n == 0) return CX_OK;
    CX_CUDA_STREAM(s);
    coefs k;
    for (int i = 0; i < 12; i++)
        k.v[i] = c[i];
    unsigned blocks = cx_cuda_blocks(n);
    switch (rule) {
    case 0:
        sgd_kernel<<<blocks, CX_CUDA_THREADS, 0, s>>>(n, w, g, k);
        break;
    case 1:
        momentum_kernel<false><<<blocks, CX_CUDA_THREADS, 0, s>>>(n, w, g, buf[0], k);
        break;
    case 2:
        momentum_kernel<true><<<blocks, CX_CUDA_THREADS, 0, s>>>(n, w, g, buf[0], k);
        break;
    case 3:
        if (buf[2])
            adam_kernel<true>
                <<<blocks, CX_CUDA_THREADS, 0, s>>>(n, w, g, buf[0], buf[1], buf[2], k);
        else
            adam_kernel<false><<<blocks, CX_CUDA_THREADS, 0, s>>>(n, w, g, buf[0], buf[1], NULL, k);
        break;
    default:
        return cx__error(CX_ERR_ARG, "cuda optimizer: unknown update kernel %d", rule);
    }
    return cx__cuda_check_launch("optimizer update");
}
