/*
 * embedding.c - a lookup table of vectors, as torch.nn.Embedding: samples of token ids [T]
 * (any length when the model input says none) -> [T, dim]; one cx_embedding op.
 *   ids (N, T)  weight (vocab, dim)  ->  (N, T, dim)
 * Ids come as i32, or as f32 holding whole numbers (what loaders give), converted here.
 * Default init as torch: N(0, 1).
 */
#include "nn/layer.h"

typedef struct {
    int64_t vocab, dim;
} embedding_args;

static const embedding_args embedding_defaults = {0};

static const cx_layer_key embedding_keys[] = {
    CX_KEY("vocab", CX_KEY_INT, embedding_args, vocab, .required = true, .min = 1,
           .max = (double)CX_DIM_MAX),
    CX_KEY("dim", CX_KEY_INT, embedding_args, dim, .required = true, .min = 1,
           .max = (double)CX_DIM_MAX),
    CX_KEY_END,
};

static cx_status embedding_build(cx_layer_build *b) {
    const embedding_args *a = b->args;
    if (a->vocab < 1 || a->dim < 1 || a->vocab > CX_DIM_MAX || a->dim > CX_DIM_MAX)
        return cx__error(CX_ERR_ARG, "vocab = %lld, dim = %lld: both must be 1 to %lld",
                         (long long)a->vocab, (long long)a->dim, (long long)CX_DIM_MAX);
    if (b->in_ndim + 1 >= CX_MAX_DIMS)
        return cx__error(CX_ERR_SHAPE, "samples of %d dimensions leave no room for the vector",
                         b->in_ndim);
    cx__build_same_shape(b);
    b->out_shape[b->out_ndim++] = a->dim;
    cx__build_param(b, 0, "weight", 2, (const int64_t[]){a->vocab, a->dim});
    return CX_OK;
}

static void embedding_init(const cx_layer *l, cx_tensor *const *params, cx_rng *rng) {
    (void)l;
    cx__init_normal(params[0], 1.0, rng);
}

static cx_tensor *embedding_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    (void)l;
    if (x->dtype == CX_DTYPE_I32) return cx_embedding(x, run->params[0]);
    if (x->dtype != CX_DTYPE_F32) {
        cx__error(CX_ERR_DTYPE, "token ids must be i32 or f32, got %s", cx_dtype_name(x->dtype));
        return NULL;
    }
    cx_tensor *ids = cx_to_dtype(x, CX_DTYPE_I32);
    cx_tensor *y = ids ? cx_embedding(ids, run->params[0]) : NULL;
    cx_tensor_free(ids);
    return y;
}

CX_LAYER_DEFINE(embedding, embedding_args, .title = "Embedding", .defaults = &embedding_defaults,
                .keys = embedding_keys, .any_length = true, .build = embedding_build,
                .init = embedding_init, .forward = embedding_forward);
