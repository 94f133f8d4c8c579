/*
 * dropout.c - inverted dropout, as torch.nn.Dropout: in training mode each element is kept
 * with probability 1 - rate and scaled by 1 / (1 - rate), so evaluation (the identity) needs
 * no rescaling. The mask is drawn from the model's generator into the current arena and
 * multiplied in with cx_mul, whose backward applies the same mask to the gradient.
 */
#include "nn/layer.h"

typedef struct {
    float rate;
} dropout_args;

static const dropout_args dropout_defaults = {0.5f};

static const cx_layer_key dropout_keys[] = {
    CX_KEY("rate", CX_KEY_FLOAT, dropout_args, rate, .min = 0, .max = 1, .max_open = true),
    CX_KEY_END,
};

static cx_status dropout_build(cx_layer_build *b) {
    float rate = ((const dropout_args *)b->args)->rate;
    if (!(rate >= 0 && rate < 1))
        return cx__error(CX_ERR_ARG, "rate = %g: must be at least 0 and below 1", rate);
    return cx__build_same_shape(b);
}

/* d[i] = 0 where the draw's uniform value (its low 24 bits / 2^24) is below rate, else keep;
 * d and u share memory. */
CX_VECTORIZE static void mask_from_draws(const uint32_t *u, float *d, int64_t n, float rate,
                                         float keep) {
    for (int64_t i = 0; i < n; i++) {
        float v = (float)(u[i] & ((1u << 24) - 1)) * (1.0f / 16777216.0f);
        d[i] = v < rate ? 0.0f : keep;
    }
}

static cx_tensor *dropout_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    float rate = ((const dropout_args *)l->args)->rate;
    if (!run->training || rate == 0) return cx__layer_identity(x);
    cx_tensor *mask = cx__tensor_empty(CX_DTYPE_F32, x->ndim, x->shape); /* x's shape */
    if (!mask) return NULL;
    float *d = cx__f32(mask), keep = 1.0f / (1.0f - rate);
    int64_t n = cx__numel(x->ndim, x->shape);
    /* the draws go into the mask's own memory, then become 0 or keep in place; each is the
     * same comparison cx_rng_uniform(rng) < rate would make */
    uint32_t *u = (uint32_t *)d;
    int64_t rows = x->ndim ? x->shape[0] : 1;
    if (run->shard_total > 0 && rows > 0) {
        /* a shard of a global batch: the global mask's draws for these rows only */
        int64_t per_row = n / rows;
        if (run->shard_offset + rows > run->shard_total) {
            cx_tensor_free(mask);
            cx__error(CX_ERR_ARG, "dropout: rows %lld..%lld lie outside the global batch of %lld",
                      (long long)run->shard_offset, (long long)(run->shard_offset + rows),
                      (long long)run->shard_total);
            return NULL;
        }
        cx__rng_skip(run->rng, run->shard_offset * per_row);
        cx__rng_fill_u32(run->rng, u, n);
        cx__rng_skip(run->rng, (run->shard_total - run->shard_offset - rows) * per_row);
    } else {
        cx__rng_fill_u32(run->rng, u, n);
    }
    mask_from_draws(u, d, n, rate, keep);
    cx_tensor *y = cx_mul(x, mask);
    cx_tensor_free(mask);
    return y;
}

cx_status cx_model_add_dropout(cx_model *m, float rate) {
    return cx__model_add(m, &cx_layer_dropout, &(dropout_args){rate}, NULL);
}

CX_LAYER_DEFINE(dropout, dropout_args, .title = "Dropout", .defaults = &dropout_defaults,
                .keys = dropout_keys, .any_length = true, .build = dropout_build,
                .forward = dropout_forward);
