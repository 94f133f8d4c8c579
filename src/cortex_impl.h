/*
 * cortex_impl.h - internal structures and helpers shared by src/. Not installed.
 *
 * Names: public symbols are cx_*, cross-file internal ones are cx__* (two underscores),
 * file-local ones are static.
 */
#ifndef CORTEX_IMPL_H
#define CORTEX_IMPL_H

#include "cortex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---------------------------------------------------------------------------------------- */
/* Invariants and errors                                                                     */

/* For internal invariants no input can violate: prints where and aborts. */
#define CX_ASSERT(cond)                                                                        \
    do {                                                                                       \
        if (!(cond)) cx__assert_fail(#cond, __FILE__, __LINE__);                               \
    } while (0)
_Noreturn void cx__assert_fail(const char *cond, const char *file, int line);

/* Sets the thread's error (printf-style message) and returns status. */
cx_status cx__error(cx_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Compiles the function for AVX-512, AVX2 and baseline x86-64 and picks one at load time. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(CX_NO_CLONES)
#define CX_VECTORIZE __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CX_VECTORIZE
#endif

/* Elements above which elementwise kernels use OpenMP threads. */
#define CX_PARALLEL_MIN 32768

/* ---------------------------------------------------------------------------------------- */
/* Memory                                                                                    */

void *cx__alloc(size_t bytes);  /* through the allocator hook; NULL + CX_ERR_OOM on failure */
void *cx__calloc(size_t bytes); /* zeroed */
void cx__free(void *ptr);

/* Largest tensor accepted: 2^40 elements (4 TiB of f32); larger requests are refused. */
#define CX_MAX_NUMEL ((int64_t)1 << 40)

struct cx_arena {
    struct cx_arena_chunk *chunks; /* newest first */
    size_t used;                   /* bytes handed out since reset */
    size_t capacity;               /* bytes held in all chunks */
    struct cx_tensor *tensors;     /* tensors allocated here, to mark them dead on reset */
    int active;                    /* times begun and not ended */
};

cx_arena *cx__current_arena(void);                    /* NULL when none is active */
void *cx__arena_alloc(cx_arena *arena, size_t bytes); /* 64-byte aligned; NULL + error */
bool cx__arena_owns(const cx_arena *arena, const void *ptr);

/* Temporaries for kernels: from the current arena if one is active (then cx__temp_free is a
 * no-op and the memory is released by the reset), else from the heap. */
void *cx__temp_alloc(size_t bytes);
void cx__temp_free(void *ptr);

/* ---------------------------------------------------------------------------------------- */
/* Tensors                                                                                   */

#define CX_TENSOR_MAGIC 0x43585431u /* "CXT1": a live tensor */
#define CX_TENSOR_DEAD 0x44454144u  /* "DEAD": freed or reset */

typedef struct cx_storage {
    void *data;
    size_t bytes;
    int refcount;   /* heap storages only; arena storages die with the arena */
    bool in_arena;
} cx_storage;

typedef struct cx_node cx_node;

struct cx_tensor {
    uint32_t magic;
    cx_dtype dtype;
    int ndim;
    int64_t shape[CX_MAX_DIMS];
    int64_t stride[CX_MAX_DIMS]; /* in elements */
    int64_t offset;              /* in elements, into storage->data */
    cx_storage *storage;
    cx_arena *arena;   /* NULL: heap tensor, freed when refcount drops to 0 */
    int refcount;      /* heap tensors: the caller's reference + one per graph node using it */
    bool requires_grad;
    cx_tensor *grad;   /* contiguous f32, same shape; same lifetime as the tensor */
    cx_node *node;     /* the op that produced this tensor, NULL for leaves */
    uint64_t visit;    /* traversal stamp of the backward pass */
    cx_tensor *next_in_arena;
};

/* Validity check used at the top of every op: t is non-NULL and live. On failure sets an error
 * naming op and argument (unless an earlier error explains a NULL) and returns false. */
bool cx__check(const char *op, const char *arg, const cx_tensor *t);
/* As cx__check, plus the dtype must be f32. */
bool cx__check_f32(const char *op, const char *arg, const cx_tensor *t);

/* Allocates a contiguous tensor, uninitialised, in arena (NULL = heap). */
cx_tensor *cx__tensor_alloc(cx_arena *arena, cx_dtype dtype, int ndim, const int64_t *shape);
/* As cx__tensor_alloc in the current arena (or heap). */
cx_tensor *cx__tensor_empty(cx_dtype dtype, int ndim, const int64_t *shape);
/* A tensor sharing base's storage with the given shape, strides and offset. */
cx_tensor *cx__tensor_view(cx_tensor *base, int ndim, const int64_t *shape,
                           const int64_t *stride, int64_t offset);
void cx__tensor_retain(cx_tensor *t);
/* Ends every tensor of the arena (reset/free): drops their references to heap tensors and
 * marks them dead. */
void cx__arena_tensors_release(cx_arena *arena);

static inline float *cx__f32(const cx_tensor *t) {
    return (float *)t->storage->data + t->offset;
}
static inline int32_t *cx__i32(const cx_tensor *t) {
    return (int32_t *)t->storage->data + t->offset;
}
int64_t cx__numel(int ndim, const int64_t *shape);
bool cx__is_contiguous(const cx_tensor *t);
/* Normalises a possibly negative dim against ndim; false + error naming op if out of range. */
bool cx__dim(const char *op, int *dim, int ndim);
/* "[2,3,4]" for messages; returns buf. */
char *cx__shape_str(int ndim, const int64_t *shape, char *buf, size_t size);
#define CX_SHAPE_STR_MAX 128

/* memcpy, split across threads when large. */
void cx__memcpy(void *dst, const void *src, size_t bytes);
/* Copies x (any strides) into dst in logical (row-major) order. */
void cx__copy_strided(const cx_tensor *x, void *dst);

/* ---------------------------------------------------------------------------------------- */
/* Ops and the autograd graph                                                                */

/* One row of an op's test table: inputs to generate and how to call the op. The same rows
 * drive the finite-difference gradient check and the PyTorch golden comparison (the golden
 * file holds "<name>.in0", "<name>.out", "<name>.gout", "<name>.grad0", ...). */
typedef struct {
    int64_t shape[CX_MAX_DIMS]; /* leading non-zero entries; all zero means a scalar */
    cx_dtype dtype;             /* f32 (default) or i32 for labels and indices */
    float lo, hi;               /* value range: uniform for f32 (default -1..1), ints in [lo,hi) */
    bool no_grad;               /* not differentiated (labels, targets, indices) */
} cx_test_input;

#define CX_OP_TEST_MAX_IN 8 /* inputs of one test row (an LSTM layer takes 7) */

typedef struct {
    const char *name;
    cx_tensor *(*run)(cx_tensor *const *in);
    int n_in;
    cx_test_input in[CX_OP_TEST_MAX_IN];
    float eps; /* finite-difference step, default 1e-3 */
    float tol; /* gradcheck tolerance, default 1e-2 */
} cx_op_test;

/* Test-row helpers: CX_IN(3, 4) is an f32 input of shape [3,4] in -1..1; CX_IN(0) a scalar. */
#define CX_IN(...) {.shape = {__VA_ARGS__}}
#define CX_IN_RANGE(lo_, hi_, ...) {.shape = {__VA_ARGS__}, .lo = (lo_), .hi = (hi_)}
/* Integer (i32) input in [lo, hi), not differentiated: labels and indices. */
#define CX_IN_INT(lo_, hi_, ...)                                                               \
    {.shape = {__VA_ARGS__}, .dtype = CX_DTYPE_I32, .lo = (lo_), .hi = (hi_), .no_grad = true}

typedef struct cx_op {
    const char *name;
    /* d(loss)/d(inputs) from gout = d(loss)/d(out) (contiguous, out's shape): adds into the
     * gradient buffer (cx__grad) of every input that cx__needs_grad. */
    cx_status (*backward)(cx_node *node, cx_tensor *out, const float *gout);
    const cx_op_test *tests; /* terminated by a row with name NULL; may be NULL */
} cx_op;

#define CX_NODE_MAX_PARAMS 16

struct cx_node {
    const cx_op *op;
    int n_in;
    cx_tensor **in;      /* n_in inputs, each retained */
    cx_tensor *saved;    /* optional extra tensor kept for backward (retained) */
    float f[4];          /* op parameters */
    int64_t i[CX_NODE_MAX_PARAMS];
    int layer;              /* the model layer that ran the op (-1: none), for messages */
    const char *layer_kind; /* its kind ("dense") */
};

/* Defines the op descriptor cx_op_<name>. The Makefile collects these lines (grep) into
 * build/gen/ops.def, from which the registry of all ops is built. */
#define CX_OP_DEFINE(opname, ...) const cx_op cx_op_##opname = {.name = #opname, __VA_ARGS__}

#define CX_OP(opname) extern const cx_op cx_op_##opname;
#include "ops.def"
#undef CX_OP

extern const cx_op *const cx__ops[]; /* every op, NULL-terminated */

/* If grad mode is on and an input requires grad, attaches a node for op to out, retaining the
 * inputs; out->requires_grad becomes true. Returns CX_OK or CX_ERR_OOM (out left untouched). */
cx_status cx__record(cx_tensor *out, const cx_op *op, int n_in, cx_tensor *const *in);
/* Convenience: records and, on failure, frees out and returns NULL; else returns out. */
cx_tensor *cx__finish(cx_tensor *out, const cx_op *op, int n_in, cx_tensor *const *in);

static inline bool cx__needs_grad(const cx_tensor *t) { return t->requires_grad; }
/* t's gradient buffer (contiguous f32, t's logical shape), allocated zeroed on first use in
 * t's own lifetime (arena or heap). NULL + error on allocation failure. */
float *cx__grad(cx_tensor *t);
/* t's gradient buffer for a backward rule that writes every element: *assign is true when
 * the buffer is new (left unzeroed: the rule must store, not add), false when it holds
 * gradients already (the rule adds). Saves zeroing big activation gradients each step. */
float *cx__grad_assign(cx_tensor *t, bool *assign);
/* Makes g (contiguous f32, t's shape) t's gradient buffer, taking over the caller's reference
 * to it and dropping t's previous one: a model's parameters get views into its one flat
 * gradient vector this way. */
void cx__tensor_set_grad(cx_tensor *t, cx_tensor *g);

/* Anomaly detection (anomaly.c). A model sets the layer it runs (-1 and NULL after), which
 * cx__record stamps on nodes and messages name. With detection on, cx__finish checks each
 * op's output (false + CX_ERR_NUMERIC naming op, element and layer) and the backward driver
 * each node's input gradients. cx__first_nonfinite: index of the first NaN/inf of p, or -1. */
void cx__anomaly_set_layer(int index, const char *kind);
void cx__anomaly_stamp(cx_node *node);
bool cx__anomaly_check_output(const cx_op *op, const cx_tensor *out, int n_in,
                              cx_tensor *const *in);
cx_status cx__anomaly_check_backward(const cx_node *node);
int64_t cx__first_nonfinite(const float *p, int64_t n);

/* ---------------------------------------------------------------------------------------- */
/* CPU kernels shared across ops (src/backend/cpu)                                          */

/* Many products against one B (src/backend/cpu/packed_gemm.c): B [k, n] (trans: stored as
 * [n, k]) packed once into cx__packed_floats(k, n) floats, then C[m, n] = A[m, k]·B, added to
 * C when accumulate. Only where cx__packed_gemm_ok() (AVX2 with FMA, or AVX-512). */
bool cx__packed_gemm_ok(void);
size_t cx__packed_floats(int64_t k, int64_t n);
void cx__pack_b(bool trans, int64_t k, int64_t n, const float *b, int64_t ldb, float *packed);
void cx__sgemm_packed(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                      const float *packed, bool accumulate, float *c, int64_t ldc);
/* Products with bfloat16 factors (src/backend/cpu/bf16_gemm.c), for CX_MATMUL_BF16.
 * cx__sgemm_bf16 is cx__sgemm's contract; false where its packing buffers cannot be had (the
 * caller then multiplies in float32). The packed-B functions lay B out for AMX's tiles
 * (cx__bf16_packable: AMX present and k small enough for the stack blocks of A). */
#define CX_BF16_PACKED_MAX_K 1024
bool cx__bf16_matmul(void);
bool cx__amx_available(void);
uint16_t cx__bf16_round(float f);
bool cx__sgemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                    float *c, int64_t ldc);
bool cx__bf16_packable(int64_t k);
size_t cx__bf16_packed_floats(int64_t k, int64_t n);
void cx__bf16_pack_b(bool trans, int64_t k, int64_t n, const float *b, int64_t ldb,
                     float *packed);
void cx__bf16_packed_product(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                             const float *packed, bool accumulate, float *c, int64_t ldc);
void cx__bf16_round_rows(int64_t m, int64_t k, const float *a, int64_t lda, float *out);
void cx__bf16_round_in_place(float *x, size_t n);
/* C = alpha * op(A) op(B) + beta * C, row-major, op = transpose when trans is true; under
 * CX_MATMUL_BF16 with bfloat16 factors. cx__sgemm_float32 always multiplies in float32. */
void cx__sgemm_float32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                       float *c, int64_t ldc);
void cx__sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
               int64_t ldc);

/* Broadcasting: the output shape of two shapes, or false + error naming op and both shapes. */
bool cx__broadcast_shape(const char *op, const cx_tensor *a, const cx_tensor *b, int *ndim,
                         int64_t *shape);
/* Adds g (contiguous, shape out_ndim/out_shape) into grad (contiguous, t's shape), summing
 * over the dimensions along which t was broadcast. */
void cx__reduce_broadcast_add(const float *g, int out_ndim, const int64_t *out_shape,
                              float *grad, int ndim, const int64_t *shape);

/* Strides (elements) of t viewed in the broadcast shape: 0 along broadcast dimensions. */
void cx__broadcast_strides(const cx_tensor *t, int ndim, const int64_t *shape, int64_t *stride);
/* Drops size-1 dims and merges dims that are contiguous for every operand, in place; returns
 * the new ndim (>= 1). strides[k] are operand k's strides. */
int cx__collapse_dims(int ndim, int64_t *shape, int n_ops, int64_t (*strides)[CX_MAX_DIMS]);

/* Fills out with the next n values of cx_rng_u32(r), in order (a faster loop). */
void cx__rng_fill_u32(cx_rng *r, uint32_t *out, int64_t n);
/* Fills d[0..n) with N(0, 1) values exactly as cx_randn fills a tensor of n elements. */
void cx__rng_fill_normal(cx_rng *r, float *d, int64_t n);
/* Advances r past the next n draws of cx_rng_u32 (a rank's share of a global dropout mask). */
void cx__rng_skip(cx_rng *r, int64_t n);

/* Called by the backward pass for every leaf tensor that requires a gradient, once that
 * gradient is final (every op using the leaf has run its backward rule): data-parallel
 * training starts reducing a bucket of gradients while the rest of backward runs. One hook
 * per thread; NULL fn removes it. */
typedef void (*cx__leaf_hook)(cx_tensor *leaf, void *ctx);
void cx__backward_set_leaf_hook(cx__leaf_hook fn, void *ctx);

/* Reads CX_NUM_THREADS once (also run as a load-time constructor); cheap to call again. */
void cx__threads_init(void);
void cx__blas_set_threads(int n);

/* ---------------------------------------------------------------------------------------- */
/* Convolution (src/backend/cpu/im2col.c, conv.c)                                           */

/* Output size of a convolution along one dimension, torch's rule:
 *     out = (in + 2 pad - dil (k - 1) - 1) / stride + 1, rounded down.
 * Returns false and sets a CX_ERR_SHAPE message starting with `what` (say "conv2d: input
 * height") when out would be < 1, or, with exact, when the division is not whole (the layer
 * builder refuses such layers; the op itself floors, as torch does). in, k, stride, dil >= 1,
 * pad >= 0 are the caller's to check. */
bool cx__conv_out_size(const char *what, int64_t in, int64_t k, int64_t stride, int64_t pad,
                       int64_t dil, bool exact, int64_t *out);

/* Checks shared by the convolution ops (src/ops/conv2d.c), each setting an error naming op:
 * cx__conv_inputs: x, w f32 and 4-D with a kernel of at least 1x1, b f32 or NULL.
 * cx__conv_setting: a (height, width) pair: 0 means 1 when min is 1; below min or above 2^20
 *   is CX_ERR_ARG.
 * cx__conv_groups: groups (0 means 1) >= 1 dividing channels and outs; the message names
 *   both shapes.
 * cx__conv_error_shapes: appends " (input [..], weight [..])" to the current error.
 * cx__conv_contiguous: c[i] = contiguous in[i] (NULL stays NULL; copies record their own
 *   backward); false with nothing held on failure. cx__conv_release frees the three. */
bool cx__conv_inputs(const char *op, const cx_tensor *x, const cx_tensor *w,
                     const cx_tensor *b);
bool cx__conv_setting(const char *op, const char *name, const int64_t in[2], int64_t min,
                      int64_t out[2]);
bool cx__conv_groups(const char *op, int64_t groups_in, int64_t channels, int64_t outs,
                     const cx_tensor *x, const cx_tensor *w, int64_t *groups);
cx_status cx__conv_error_shapes(const cx_tensor *x, const cx_tensor *w);
bool cx__conv_contiguous(cx_tensor *const in[3], cx_tensor *c[3]);
void cx__conv_release(cx_tensor *c[3]);

/* The geometry of one convolution, seen from the image side: an image [c, h, w] is read through
 * kh x kw windows (stride, dilation, top/left padding) placed on an oh x ow grid; whatever falls
 * outside the image is zero (so bottom/right padding is implied by oh, ow). */
typedef struct {
    int64_t c, h, w;        /* image channels, height, width */
    int64_t kh, kw;
    int64_t sh, sw;         /* stride */
    int64_t ph, pw;         /* padding before the first row / column */
    int64_t dh, dw;         /* dilation */
    int64_t oh, ow;         /* the output grid */
} cx_conv_geom;

/* cols [c * kh * kw, oh * ow] = the image's windows, row (ci, i, j) holding tap (i, j) of
 * channel ci at every grid point. */
void cx__im2col(const cx_conv_geom *g, const float *img, float *cols);
/* The adjoint: img [c, h, w] += every column entry at the pixel it was read from. */
void cx__col2im(const cx_conv_geom *g, const float *cols, float *img);

/* The same with the rows of cols ld floats apart (ld >= oh * ow): the columns of several
 * images side by side in one matrix, for one product over all of them. */
void cx__im2col_ld(const cx_conv_geom *g, const float *img, float *cols, int64_t ld);
void cx__col2im_ld(const cx_conv_geom *g, const float *cols, int64_t ld, float *img);

/* A batch of convolutions, all buffers contiguous, G groups:
 *   x [n, g->c, g->h, g->w]  image side      y [n, o, g->oh, g->ow]  grid side
 *   w [o, g->c / G, kh, kw]                  bias [o] or NULL
 * cx__conv_forward:  y = conv(x, w) + bias, or y += conv(x, w) + bias with accumulate
 * cx__conv_backward: for the grid-side gradient gy, dx += convᵀ(gy, w) (a transposed conv)
 *   when dx is not NULL (dx = it with dx_assign: dx's old contents are ignored),
 *   dw += sum over the batch of gy_n · cols(x_n)ᵀ when dw is not NULL, db[oc] += the sum of
 *   gy's channel oc when db is not NULL (x may be NULL without dw, w without dx).
 * Threads go over images (each running a single-threaded sgemm) when the batch has enough
 * images, else to sgemm and im2col. Temporaries come from cx__temp_alloc; false (+ error) only
 * if that fails. */
bool cx__conv_forward(const cx_conv_geom *g, int64_t groups, int64_t n, int64_t o,
                      const float *x, const float *w, const float *bias, float *y,
                      bool accumulate);
bool cx__conv_backward(const cx_conv_geom *g, int64_t groups, int64_t n, int64_t o,
                       const float *x, const float *gy, const float *w, float *dx,
                       bool dx_assign, float *dw, float *db);
/* y [n, c, hw] = b[c] (zeros when b is NULL);  db[c] += sum of y over n and hw. */
void cx__channel_fill(float *y, const float *b, int64_t n, int64_t c, int64_t hw);
void cx__channel_sum_add(const float *y, int64_t n, int64_t c, int64_t hw, float *db);

/* ---------------------------------------------------------------------------------------- */
/* Recurrent layers over a whole sequence (src/backend/cpu/rnn.c)                            */

typedef enum { CX_CELL_RNN_TANH = 0, CX_CELL_RNN_RELU, CX_CELL_LSTM, CX_CELL_GRU } cx_cell_kind;

int cx__rnn_gates(cx_cell_kind kind); /* K: gate blocks of the weights (1, 4 i f g o, 3 r z n) */
int cx__rnn_extra(cx_cell_kind kind); /* E: floats per hidden unit saved per step besides them */

/* One layer's pass, every buffer contiguous and time-major:
 *   x [T, N, I], w_ih [K H, I], w_hh [K H, H], b_ih, b_hh [K H] or NULL, h0 [N, H] and (LSTM)
 *   c0 [N, H] (zeros for none), y [T, N, H] (the outputs h_1..h_T),
 *   gates [T, N, K H] and extra [T, N, E H] (NULL when E = 0): written by forward, read by
 *   backward (LSTM: c_t is extra[t][.., 0:H], so c_T is the final cell state),
 *   scratch [N, K H] (GRU forward only). */
typedef struct {
    cx_cell_kind kind;
    int64_t T, N, I, H;
    const float *x, *w_ih, *w_hh, *b_ih, *b_hh, *h0, *c0;
    float *y, *gates, *extra, *scratch;
} cx_rnn_pass;

/* Gradients for cx__rnn_backward, each NULL when not wanted; all but gy, ghn, gcn accumulate.
 *   gy [T, N, H] d(loss)/d(y), ghn [N, H] of h_T (beyond what gy holds), gcn [N, H] of c_T;
 *   dx [T, N, I], dw_ih, dw_hh, db_ih, db_hh, dh0, dc0 as the inputs. */
typedef struct {
    const float *gy, *ghn, *gcn;
    float *dx, *dw_ih, *dw_hh, *db_ih, *db_hh, *dh0, *dc0;
} cx_rnn_grads;

/* Both false (+ error) only if their temporaries cannot be allocated. */
bool cx__rnn_forward(const cx_rnn_pass *p);
bool cx__rnn_backward(const cx_rnn_pass *p, const cx_rnn_grads *d);

/* ---------------------------------------------------------------------------------------- */
/* Checkpoints (src/io/checkpoint.c), shared by every kind of checkpoint file                */

/* cx_model_load_weights with every tensor name read as prefix + state_dict name. */
cx_status cx__model_load_weights_prefixed(cx_model *m, const cx_safetensors *f,
                                          const char *prefix);

/* One model of a checkpoint: its parameters and buffers stored as prefix + state_dict name,
 * its generator as prefix + "rng.state", its config text under the metadata key config_key.
 * A classifier checkpoint has one part ("", "config"); an autoencoder's has two. */
typedef struct {
    cx_model *model;
    const char *prefix;
    const char *config_key;
} cx__ckpt_part;

/* Writes the parts, the optimizer o (may be NULL; made over the trainable parameters of all
 * parts in order, its state stored as "optim.<prefix><name>.<buffer>"), the training state,
 * metadata "format" = format plus n_meta pairs, and n_extra more tensors, atomically. */
cx_status cx__checkpoint_write(const char *path, const char *format, int n_parts,
                               const cx__ckpt_part *parts, const cx_optim *o,
                               const cx_train_state *state, int n_meta,
                               const char *const *meta_keys, const char *const *meta_values,
                               int n_extra, const char *const *extra_names,
                               cx_tensor *const *extra);
/* Reads back what cx__checkpoint_write wrote into f (opened from path; the caller checks its
 * format): each part's model (parts[i].model receives it) rebuilt from its config with its
 * weights and generator; *optim (if optim is not NULL; NULL when the file has none) and
 * *state as cx_checkpoint_load gives them. On error every model made is freed. */
cx_status cx__checkpoint_read(const char *path, const cx_safetensors *f, int n_parts,
                              cx__ckpt_part *parts, cx_optim **optim, cx_train_state *state);
/* More than one optimizer in a checkpoint (a GAN's two), each over the trainable parameters
 * of its own parts: cx__optim_json gives an optimizer's settings as JSON text (free() it) to
 * store under a metadata key of one's own; cx__optim_tensor_name the name of its state i
 * ("optim.<prefix><name>.<buffer>"), false if it fits no parameter of parts or not in size;
 * cx__checkpoint_load_optim rebuilds it from the settings under meta_key and those tensors
 * (NULL without that key, or + error when damaged). */
char *cx__optim_json(const cx_optim *o);
bool cx__optim_tensor_name(int n_parts, const cx__ckpt_part *parts, const cx_optim *o, int i,
                           char *buf, size_t size);
cx_optim *cx__checkpoint_load_optim(const char *path, const cx_safetensors *f,
                                    const char *meta_key, int n_parts,
                                    const cx__ckpt_part *parts);
/* Copies the stored tensor name into dst (same dtype and shape, else CX_ERR_FORMAT). */
cx_status cx__checkpoint_load_into(const char *path, const cx_safetensors *f, const char *name,
                                   cx_tensor *dst);

#endif /* CORTEX_IMPL_H */
