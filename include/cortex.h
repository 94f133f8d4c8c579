/*
 * cortex.h - the public C API of Cortex, a deep-learning framework in C11.
 *
 * Tensors are opaque handles (cx_tensor *) with a dtype, up to CX_MAX_DIMS dimensions and
 * strides; the logical layout is row-major, images are NCHW as in PyTorch.
 *
 * Errors: functions that can fail return NULL or a cx_status and set a thread-local message,
 * read with cx_last_error(). Every op accepts NULL inputs and then returns NULL, keeping the
 * first error's message, so a chain of ops needs one check at its end:
 *
 *     cx_tensor *y = cx_relu(cx_add(cx_matmul(x, w), b));
 *     if (!y) fprintf(stderr, "%s\n", cx_last_error());
 *
 * Ownership: every function returning cx_tensor * gives the caller one reference.
 *   - With no arena active, tensors live on the heap: release them with cx_tensor_free().
 *     The autograd graph holds its own references, so freeing an intermediate result before
 *     cx_backward() is safe.
 *   - Between cx_arena_begin(a) and cx_arena_end(a), new tensors (op results, gradients of
 *     arena tensors, temporaries) come from arena a; cx_tensor_free() on them does nothing and
 *     cx_arena_reset(a) releases them all at once. This is how a training step runs without
 *     heap allocation: parameters on the heap, the step inside an arena reset every step.
 *
 * Threads: a tensor and the graph built from it belong to one thread at a time. Kernels use
 * OpenMP; CX_NUM_THREADS or cx_set_num_threads() sets the count.
 */
#ifndef CORTEX_H
#define CORTEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CX_VERSION "0.1.0"
#define CX_MAX_DIMS 8

/* ---------------------------------------------------------------------------------------- */
/* Status and errors                                                                         */

typedef enum {
    CX_OK = 0,
    CX_ERR_SHAPE,       /* shapes do not fit the op */
    CX_ERR_DTYPE,       /* wrong element type for the op */
    CX_ERR_ARG,         /* bad argument: NULL, freed tensor, dimension out of range, ... */
    CX_ERR_OOM,         /* an allocation failed or a size is absurd */
    CX_ERR_IO,          /* reading or writing a file failed */
    CX_ERR_FORMAT,      /* a file is not in the expected format, or is damaged */
    CX_ERR_DEVICE,      /* the compute device failed */
    CX_ERR_UNSUPPORTED, /* valid request this build or device cannot do */
    CX_ERR_NUMERIC,     /* a value became NaN or infinite (training guard, anomaly detection) */
} cx_status;

/* The message of the last error on this thread ("" if none). Valid until the next error. */
const char *cx_last_error(void);
/* The status of the last error on this thread (CX_OK if none since cx_clear_error()). */
cx_status cx_last_status(void);
/* Forget the last error on this thread. */
void cx_clear_error(void);
/* A constant name for a status: "CX_ERR_SHAPE". */
const char *cx_status_name(cx_status s);

/* ---------------------------------------------------------------------------------------- */
/* Library settings                                                                          */

/* Number of CPU threads for kernels. Default: CX_NUM_THREADS if set, else all cores.
 * Returns CX_ERR_ARG if n < 1. */
cx_status cx_set_num_threads(int n);
int cx_get_num_threads(void);

/* Allocation hook: every heap allocation the library makes goes through it (tests use it to
 * count allocations or to fail the Nth one). alloc returns NULL on failure. Pass NULL to
 * restore malloc/free. Set it only while no tensor or arena made with another hook lives. */
typedef struct {
    void *(*alloc)(size_t bytes, void *ctx);
    void (*free)(void *ptr, void *ctx);
    void *ctx;
} cx_allocator;
void cx_set_allocator(const cx_allocator *allocator);

/* Memory cap: once set (bytes; 0 = none, the default), an allocation that would take the
 * library's live heap memory (tensors, arenas, models, temporaries) past it fails with
 * CX_ERR_OOM and a message naming the cap, as a failed malloc would. The environment
 * variable CX_MAX_MEMORY sets it at start-up ("512M", "2G", "1048576"; K/M/G/T are powers of
 * 1024; a value that does not read as a size is ignored and cx_memory_limit stays 0).
 * cx_memory_in_use: bytes the library holds now (each block counted with a small header). */
void cx_set_memory_limit(size_t bytes);
size_t cx_memory_limit(void);
size_t cx_memory_in_use(void);
/* Reads "512M"-style sizes as CX_MAX_MEMORY does; false if text is not one. */
bool cx_parse_size(const char *text, size_t *bytes);

/* Anomaly detection for this thread (off by default), as torch.autograd.detect_anomaly: every
 * op checks its f32 output as it is made, and every backward rule the gradients it wrote; the
 * first NaN or infinity makes the op (or cx_backward) fail with CX_ERR_NUMERIC, naming the op,
 * the element and, inside a model, the layer ("detect-anomaly: log produced NaN at element 3
 * of its output [8,10] in layer 4 (log_softmax)"). Slows every op by a scan of its output. */
void cx_set_detect_anomaly(bool on);
bool cx_detect_anomaly(void);

/* Precision of float32 matrix products (matmul, dense, convolution, recurrent steps), as
 * torch.set_float32_matmul_precision: CX_MATMUL_FLOAT32 (the default) multiplies in float32;
 * CX_MATMUL_BF16 rounds both factors to bfloat16 (8 significant bits, round to nearest even)
 * and sums in float32, which Intel AMX runs several times faster (elsewhere the same numbers
 * come at float32 speed). Tensors, gradients and optimizer state stay float32. CX_MATMUL=bf16
 * in the environment sets it at start-up. Change it between steps, not during one. */
typedef enum { CX_MATMUL_FLOAT32, CX_MATMUL_BF16 } cx_matmul_precision;
void cx_set_matmul_precision(cx_matmul_precision p);
cx_matmul_precision cx_get_matmul_precision(void);

/* Name of the matrix-product library in use ("OpenBLAS 0.3.21 (SkylakeX)" or "built-in"). */
const char *cx_blas_name(void);

/* ---------------------------------------------------------------------------------------- */
/* Arenas: one buffer per step                                                               */

typedef struct cx_arena cx_arena;

/* A growing arena; initial_bytes may be 0. Returns NULL on allocation failure. */
cx_arena *cx_arena_new(size_t initial_bytes);
/* Frees the arena and everything in it. NULL is a no-op. The arena must not be active. */
void cx_arena_free(cx_arena *arena);
/* Makes arena the target of new tensors on this thread until the matching cx_arena_end.
 * Arenas nest (a stack of up to 16). */
cx_status cx_arena_begin(cx_arena *arena);
cx_status cx_arena_end(cx_arena *arena);
/* Releases every tensor allocated from the arena; their handles become invalid. The memory
 * is kept (merged into one block) so the next step allocates nothing from the system. */
void cx_arena_reset(cx_arena *arena);
size_t cx_arena_used(const cx_arena *arena);     /* bytes handed out since the last reset */
size_t cx_arena_capacity(const cx_arena *arena); /* bytes held */

/* ---------------------------------------------------------------------------------------- */
/* Random numbers                                                                            */

typedef struct cx_rng cx_rng;

/* A generator (Mersenne Twister mt19937, as PyTorch's CPU generator) seeded with seed. */
cx_rng *cx_rng_new(uint64_t seed);
void cx_rng_free(cx_rng *rng);
void cx_rng_seed(cx_rng *rng, uint64_t seed);
/* The thread's default generator, used when NULL is passed as rng. Seed it with cx_seed. */
cx_rng *cx_rng_default(void);
void cx_seed(uint64_t seed);
uint32_t cx_rng_u32(cx_rng *rng);
float cx_rng_uniform(cx_rng *rng); /* [0, 1) */
float cx_rng_normal(cx_rng *rng);  /* N(0, 1) */
/* Saves/restores the complete generator state (for checkpoints); state_bytes() bytes. */
size_t cx_rng_state_bytes(void);
void cx_rng_get_state(const cx_rng *rng, void *state);
cx_status cx_rng_set_state(cx_rng *rng, const void *state);

/* ---------------------------------------------------------------------------------------- */
/* Tensors                                                                                   */

typedef struct cx_tensor cx_tensor;

typedef enum {
    CX_DTYPE_F32 = 0, /* float: values, activations, gradients */
    CX_DTYPE_I32,     /* int32_t: labels and indices */
    CX_DTYPE_U8,      /* uint8_t: images as stored */
} cx_dtype;

const char *cx_dtype_name(cx_dtype dtype); /* "f32", "i32", "u8" */
size_t cx_dtype_size(cx_dtype dtype);

/* CX_SHAPE(2, 3) expands to the (ndim, shape) argument pair: 2, (const int64_t[]){2, 3}. */
#define CX_SHAPE(...)                                                                          \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]) { __VA_ARGS__ }

/* Creation. shape has ndim entries (0 <= ndim <= CX_MAX_DIMS, each >= 0); ndim 0 is a scalar.
 * Errors: CX_ERR_ARG for bad dims, CX_ERR_OOM for sizes over 2^40 elements or failed allocs. */
cx_tensor *cx_tensor_new(cx_dtype dtype, int ndim, const int64_t *shape); /* zero-filled */
cx_tensor *cx_zeros(int ndim, const int64_t *shape);                      /* f32 */
cx_tensor *cx_ones(int ndim, const int64_t *shape);
cx_tensor *cx_full(int ndim, const int64_t *shape, float value);
cx_tensor *cx_scalar(float value); /* 0-dimensional */
/* 1-D f32 [start, start+step, ...) below end (above end if step < 0), as torch.arange. */
cx_tensor *cx_arange(double start, double end, double step);
cx_tensor *cx_rand(cx_rng *rng, int ndim, const int64_t *shape);  /* U[0,1), rng NULL=default */
cx_tensor *cx_randn(cx_rng *rng, int ndim, const int64_t *shape); /* N(0,1) */
/* Copies numel * dtype_size bytes from data (row-major). */
cx_tensor *cx_from_data(cx_dtype dtype, int ndim, const int64_t *shape, const void *data);
/* A contiguous copy with another dtype (f32 -> i32 truncates toward zero). No gradient. */
cx_tensor *cx_to_dtype(cx_tensor *x, cx_dtype dtype);
/* A contiguous copy (gradient flows back to x). */
cx_tensor *cx_clone(cx_tensor *x);

/* Drops the caller's reference. NULL and arena tensors: no-op. Freeing twice is detected
 * (CX_ERR_ARG) as long as the handle was not reused. */
void cx_tensor_free(cx_tensor *t);
/* True if t is a live tensor handle. */
bool cx_tensor_valid(const cx_tensor *t);

/* Accessors (t must be valid; invalid t gives 0/NULL). */
cx_dtype cx_tensor_dtype(const cx_tensor *t);
int cx_tensor_ndim(const cx_tensor *t);
int64_t cx_tensor_dim(const cx_tensor *t, int i); /* i < 0 counts from the end */
const int64_t *cx_tensor_shape(const cx_tensor *t);
const int64_t *cx_tensor_strides(const cx_tensor *t); /* in elements */
int64_t cx_tensor_numel(const cx_tensor *t);
bool cx_tensor_is_contiguous(const cx_tensor *t);
/* Pointer to the first element; NULL if t is not contiguous (use cx_contiguous first).
 * Valid while t lives. Writing through it bypasses autograd. */
void *cx_tensor_data(cx_tensor *t);
float *cx_tensor_f32(cx_tensor *t); /* as cx_tensor_data, NULL unless dtype is f32 */
/* Copies the elements in logical order into buf (bytes >= numel * dtype size). */
cx_status cx_tensor_copy_to(const cx_tensor *t, void *buf, size_t bytes);
/* Overwrites t's elements from buf in logical order (no autograd record). */
cx_status cx_tensor_copy_from(cx_tensor *t, const void *buf, size_t bytes);
/* Value of a one-element tensor as float (NAN and an error otherwise). */
float cx_tensor_item(const cx_tensor *t);
/* Writes "[8,3,28,28]" into buf (always NUL-terminated); returns buf. */
char *cx_tensor_shape_str(const cx_tensor *t, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------- */
/* Autograd                                                                                  */

/* Marks a leaf tensor (one not produced by an op) as needing a gradient. f32 only. */
cx_status cx_tensor_set_requires_grad(cx_tensor *t, bool requires_grad);
bool cx_tensor_requires_grad(const cx_tensor *t);
/* t's accumulated gradient (same shape, contiguous f32) or NULL if none yet. Owned by t. */
cx_tensor *cx_tensor_grad(cx_tensor *t);
/* Sets t's gradient to zero (keeps the buffer). */
void cx_tensor_zero_grad(cx_tensor *t);

/* Back-propagates from a one-element loss: adds d(loss)/d(t) into the gradient of every
 * tensor t the loss depends on that requires a gradient (parameters and inputs alike). */
cx_status cx_backward(cx_tensor *loss);
/* Back-propagates from any tensor with upstream gradient grad (same shape), like
 * torch.autograd.backward(t, grad). */
cx_status cx_backward_grad(cx_tensor *t, cx_tensor *grad);

/* Inside no-grad regions ops record nothing (evaluation, optimizer updates). They nest. */
void cx_no_grad_begin(void);
void cx_no_grad_end(void);
bool cx_grad_enabled(void);
/* A view sharing t's data that is cut off from the graph. */
cx_tensor *cx_detach(cx_tensor *t);

/* ---------------------------------------------------------------------------------------- */
/* Ops. Every op returns a new tensor, or NULL (see cx_last_error()). Inputs are f32 unless  */
/* stated. Binary elementwise ops broadcast as PyTorch does.                                 */

cx_tensor *cx_add(cx_tensor *a, cx_tensor *b);
cx_tensor *cx_sub(cx_tensor *a, cx_tensor *b);
cx_tensor *cx_mul(cx_tensor *a, cx_tensor *b);
cx_tensor *cx_div(cx_tensor *a, cx_tensor *b);
cx_tensor *cx_pow(cx_tensor *a, cx_tensor *b); /* a^b elementwise */
cx_tensor *cx_neg(cx_tensor *x);
cx_tensor *cx_add_scalar(cx_tensor *x, float s);  /* x + s */
cx_tensor *cx_sub_scalar(cx_tensor *x, float s);  /* x - s */
cx_tensor *cx_rsub_scalar(cx_tensor *x, float s); /* s - x */
cx_tensor *cx_mul_scalar(cx_tensor *x, float s);  /* x * s */
cx_tensor *cx_div_scalar(cx_tensor *x, float s);  /* x / s */
cx_tensor *cx_pow_scalar(cx_tensor *x, float p);  /* x^p */
cx_tensor *cx_exp(cx_tensor *x);
cx_tensor *cx_log(cx_tensor *x);
cx_tensor *cx_sqrt(cx_tensor *x);
cx_tensor *cx_abs(cx_tensor *x);
/* min(max(x, lo), hi); pass -INFINITY or INFINITY for a one-sided clamp. */
cx_tensor *cx_clamp(cx_tensor *x, float lo, float hi);

/* Activations */
cx_tensor *cx_sigmoid(cx_tensor *x);
cx_tensor *cx_tanh(cx_tensor *x);
cx_tensor *cx_relu(cx_tensor *x);
cx_tensor *cx_leaky_relu(cx_tensor *x, float negative_slope); /* PyTorch default 0.01 */
cx_tensor *cx_elu(cx_tensor *x, float alpha);                 /* PyTorch default 1.0 */
cx_tensor *cx_gelu(cx_tensor *x);                             /* exact (erf) form */
cx_tensor *cx_softmax(cx_tensor *x, int dim);
cx_tensor *cx_log_softmax(cx_tensor *x, int dim);

/* Matrix product with torch.matmul semantics: 1-D x 1-D is a dot product, 2-D x 2-D a matrix
 * product, and batched inputs broadcast their batch dimensions. */
cx_tensor *cx_matmul(cx_tensor *a, cx_tensor *b);
/* x·weightᵀ + bias, as torch.nn.functional.linear: x [.., in], weight [out, in], bias [out] or
 * NULL; the result is [.., out]. One fused op (the Dense layer's). */
cx_tensor *cx_linear(cx_tensor *x, cx_tensor *weight, cx_tensor *bias);

/* ---- images (NCHW) ---- */

/* 2-D convolution settings; zero means the default (stride 1, no padding, dilation 1, one
 * group). Pairs are (height, width). */
typedef struct {
    int64_t stride[2];
    int64_t padding[2];  /* zeros added on each side */
    int64_t dilation[2];
    int64_t groups;      /* in and out channels both divisible by it */
    bool same;           /* padding 'same' (stride 1 only): output size = input size; an odd
                          * total pads one more at the bottom/right, as PyTorch */
} cx_conv2d_params;

/* x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] or NULL -> [N, O, Ho, Wo] with
 * Ho = (H + 2 ph - dh (kh - 1) - 1) / sh + 1, as torch.nn.functional.conv2d. params NULL = all
 * defaults. A size that does not fit (Ho < 1) is CX_ERR_SHAPE with the arithmetic. */
cx_tensor *cx_conv2d(cx_tensor *x, cx_tensor *weight, cx_tensor *bias,
                     const cx_conv2d_params *params);

typedef struct {
    int64_t stride[2];
    int64_t padding[2];
    int64_t output_padding[2]; /* added to one side of the output, < stride or < dilation */
    int64_t dilation[2];
    int64_t groups;
} cx_conv_transpose2d_params;

/* x [N, C, H, W], weight [C, O/groups, kh, kw] (torch's layout), bias [O] or NULL ->
 * [N, O, Ho, Wo], Ho = (H - 1) sh - 2 ph + dh (kh - 1) + oph + 1, as
 * torch.nn.functional.conv_transpose2d. */
cx_tensor *cx_conv_transpose2d(cx_tensor *x, cx_tensor *weight, cx_tensor *bias,
                               const cx_conv_transpose2d_params *params);

/* Pooling windows; zero means the default (stride = kernel, no padding, dilation 1). */
typedef struct {
    int64_t kernel[2];
    int64_t stride[2];
    int64_t padding[2];  /* max: -inf padding; avg: zeros (see exclude_pad) */
    int64_t dilation[2]; /* max pooling only */
    bool ceil_mode;      /* output size rounded up, as torch's ceil_mode */
    bool exclude_pad;    /* avg: divide by the in-image count (torch count_include_pad=False) */
} cx_pool2d_params;

/* x [N, C, H, W] -> [N, C, Ho, Wo]; max's gradient goes to the first maximal element of each
 * window. */
cx_tensor *cx_max_pool2d(cx_tensor *x, const cx_pool2d_params *params);
cx_tensor *cx_avg_pool2d(cx_tensor *x, const cx_pool2d_params *params);
/* x [N, C, H, W] -> [N, C, out_h, out_w] averaging torch's adaptive windows; 1x1 is global
 * average pooling. */
cx_tensor *cx_adaptive_avg_pool2d(cx_tensor *x, int64_t out_h, int64_t out_w);

typedef enum { CX_UPSAMPLE_NEAREST = 0, CX_UPSAMPLE_BILINEAR } cx_upsample_mode;
/* x [N, C, H, W] -> [N, C, out_h, out_w], as torch.nn.functional.interpolate (nearest, or
 * bilinear with align_corners). */
cx_tensor *cx_upsample2d(cx_tensor *x, int64_t out_h, int64_t out_w, cx_upsample_mode mode,
                         bool align_corners);

/* Batch normalisation over dim 1 of x [N, C], [N, C, L] or [N, C, H, W], as
 * torch.nn.functional.batch_norm. training: normalise with the batch's mean and (biased)
 * variance and update running_mean/running_var in place (momentum, unbiased variance), if
 * given; otherwise normalise with running_mean/running_var. weight (gamma) and bias (beta)
 * [C] may be NULL. Gradients flow to x, weight and bias. */
cx_tensor *cx_batch_norm(cx_tensor *x, cx_tensor *weight, cx_tensor *bias,
                         cx_tensor *running_mean, cx_tensor *running_var, bool training,
                         float momentum, float eps);

/* ---- sequences ---- */

/* 1-D convolution, as torch.nn.functional.conv1d: x [N, C, L], weight [O, C/groups, k], bias
 * [O] or NULL -> [N, O, Lo], Lo = (L + 2 padding - dilation (k - 1) - 1) / stride + 1.
 * Zero means the default (stride 1, no padding, dilation 1, one group); same: output length =
 * input length (stride 1). Runs as a conv2d of height 1. */
typedef struct {
    int64_t stride, padding, dilation, groups;
    bool same;
} cx_conv1d_params;
cx_tensor *cx_conv1d(cx_tensor *x, cx_tensor *weight, cx_tensor *bias,
                     const cx_conv1d_params *params);

/* 1-D pooling over x [N, C, L] -> [N, C, Lo], as torch's max_pool1d / avg_pool1d; zero means
 * the default (stride = kernel, no padding, dilation 1). */
typedef struct {
    int64_t kernel, stride, padding, dilation; /* dilation: max pooling only */
    bool ceil_mode, exclude_pad;
} cx_pool1d_params;
cx_tensor *cx_max_pool1d(cx_tensor *x, const cx_pool1d_params *params);
cx_tensor *cx_avg_pool1d(cx_tensor *x, const cx_pool1d_params *params);

/* Rows of weight [V, E] picked by indices (i32, any shape, each in [0, V)): [indices..., E],
 * as torch.nn.functional.embedding. The gradient flows to weight (repeated indices add up);
 * an index out of range is CX_ERR_ARG naming it. */
cx_tensor *cx_embedding(cx_tensor *indices, cx_tensor *weight);

/* Recurrent layers over a whole sequence, as torch.nn.RNN, LSTM and GRU (unidirectional, no
 * inter-layer dropout), with torch's equations, gate order and weight layout, so torch's
 * weights are used as they are:
 *   RNN   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)                      (or ReLU)
 *   LSTM  i, f, g, o = σ, σ, tanh, σ of (W_ih x + b_ih + W_hh h + b_hh) in that order;
 *         c' = f c + i g,  h' = o tanh(c')
 *   GRU   r, z = σ(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z}),
 *         n = tanh(W_in x + b_in + r (W_hn h + b_hn)),  h' = (1 - z) n + z h
 * Each layer is one op: the input projections of all steps are one matrix product, the steps
 * run in order, and backward is back-propagation through the whole sequence.
 *
 * x: [T, N, I] (steps, batch, features), or [N, T, I] with batch_first.
 * weights: 4 per layer, in torch's order (its _flat_weights): weight_ih_l{k} [G H, I_k],
 *   weight_hh_l{k} [G H, H], bias_ih_l{k} [G H], bias_hh_l{k} [G H] for k = 0..L-1, where
 *   G = 1 (RNN), 4 (LSTM) or 3 (GRU), I_0 = I and I_k = H above; a bias entry may be NULL.
 * h0, c0: initial states [L, N, H], or NULL for zeros.
 * Returns the last layer's output at every step: [T, N, H] ([N, T, H] with batch_first).
 * Multiple results: h_n and c_n, when not NULL, receive the final states [L, N, H] (each a new
 * reference the caller owns, NULL on error). Every result is a view of the same per-layer
 * outputs, so a loss on the outputs, the final states or both back-propagates through time
 * once; states passed as h0/c0 are copied, so the caller may overwrite them afterwards (to
 * carry state across batches with truncated BPTT: pass detached final states as the next h0).
 * Errors (NULL): CX_ERR_SHAPE naming the layer and both shapes, CX_ERR_ARG for num_layers
 * outside 1..64 or a NULL weight. */
typedef struct {
    int64_t num_layers; /* 0 means 1 */
    bool batch_first;
    bool relu;          /* cx_rnn: ReLU instead of tanh (torch's nonlinearity='relu') */
} cx_rnn_params;
cx_tensor *cx_rnn(cx_tensor *x, cx_tensor *h0, cx_tensor *const *weights,
                  const cx_rnn_params *params, cx_tensor **h_n);
cx_tensor *cx_lstm(cx_tensor *x, cx_tensor *h0, cx_tensor *c0, cx_tensor *const *weights,
                   const cx_rnn_params *params, cx_tensor **h_n, cx_tensor **c_n);
cx_tensor *cx_gru(cx_tensor *x, cx_tensor *h0, cx_tensor *const *weights,
                  const cx_rnn_params *params, cx_tensor **h_n);

/* Shape and views. Views share data with their input; dims may be negative (from the end). */
/* One entry of shape may be -1 (inferred). A view when x's strides allow, a copy otherwise. */
cx_tensor *cx_reshape(cx_tensor *x, int ndim, const int64_t *shape);
cx_tensor *cx_transpose(cx_tensor *x, int dim0, int dim1); /* view */
cx_tensor *cx_permute(cx_tensor *x, const int *dims);      /* view; dims has ndim entries */
cx_tensor *cx_contiguous(cx_tensor *x); /* x itself (new reference) if already contiguous */
/* Elements start, start+step, ... below end along dim (end clamped to the size; start/end
 * may be negative as in Python). step >= 1. A view. */
cx_tensor *cx_slice(cx_tensor *x, int dim, int64_t start, int64_t end, int64_t step);
/* Joins n tensors along dim; all other dims must match. */
cx_tensor *cx_concat(cx_tensor *const *xs, int n, int dim);
/* x's entries at index (1-D i32) along dim, as torch.index_select. */
cx_tensor *cx_index_select(cx_tensor *x, int dim, cx_tensor *index);
/* out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 etc., as torch.gather; index is i32. */
cx_tensor *cx_gather(cx_tensor *x, int dim, cx_tensor *index);

/* Reductions over the n dims listed (n = 0: all dims); keepdim keeps them with size 1. */
cx_tensor *cx_sum(cx_tensor *x, int n, const int *dims, bool keepdim);
cx_tensor *cx_mean(cx_tensor *x, int n, const int *dims, bool keepdim);
/* Maximum along one dim; the gradient flows to the first maximal element. */
cx_tensor *cx_max(cx_tensor *x, int dim, bool keepdim);
/* Index (i32) of the first maximal element along dim; no gradient. */
cx_tensor *cx_argmax(cx_tensor *x, int dim, bool keepdim);

/* Losses. reduction as in torch.nn.functional. */
typedef enum {
    CX_REDUCTION_MEAN = 0,
    CX_REDUCTION_SUM,
    CX_REDUCTION_NONE,
} cx_reduction;

cx_tensor *cx_mse_loss(cx_tensor *pred, cx_tensor *target, cx_reduction reduction);
/* Binary cross-entropy of sigmoid(logits) against targets in [0,1], computed stably. */
cx_tensor *cx_bce_with_logits(cx_tensor *logits, cx_tensor *target, cx_reduction reduction);
/* logits (N, C) f32, labels (N) i32 in [0, C): softmax cross-entropy. */
cx_tensor *cx_cross_entropy(cx_tensor *logits, cx_tensor *labels, cx_reduction reduction);
/* log_probs (N, C), labels (N) i32: -log_probs[i, labels[i]]. */
cx_tensor *cx_nll_loss(cx_tensor *log_probs, cx_tensor *labels, cx_reduction reduction);
/* KL(N(mu, exp(logvar)) || N(0, 1)) per element: -0.5 (1 + logvar - mu^2 - exp(logvar)).
 * SUM: total; MEAN: total divided by the batch size (dim 0), the usual VAE term; NONE: per
 * element. mu and logvar have the same shape. */
cx_tensor *cx_kl_normal(cx_tensor *mu, cx_tensor *logvar, cx_reduction reduction);

/* ---------------------------------------------------------------------------------------- */
/* Files: safetensors (the weight format of PyTorch and Hugging Face)                        */

typedef struct cx_safetensors cx_safetensors;

/* Opens path and reads and checks its header: every dtype, shape and data range against the
 * file size, before anything is allocated from it. Tensor data is read by cx_safetensors_get.
 * Returns a handle the caller closes with cx_safetensors_close, or NULL and an error naming
 * the file (and the tensor): CX_ERR_IO (cannot open or read), CX_ERR_FORMAT (not safetensors,
 * truncated, inconsistent), CX_ERR_UNSUPPORTED (a dtype other than F32, I32, U8). I64 tensors
 * named "*.num_batches_tracked" (the step counter of torch's BatchNorm) are left out. */
cx_safetensors *cx_safetensors_open(const char *path);
/* Closes f; every string it returned becomes invalid. NULL is a no-op. */
void cx_safetensors_close(cx_safetensors *f);
/* Number of tensors (0 for NULL), and the name of tensor i in 0..count-1 in name order (NULL
 * if out of range). The name is owned by f and valid until cx_safetensors_close. */
int cx_safetensors_count(const cx_safetensors *f);
const char *cx_safetensors_name(const cx_safetensors *f, int i);
bool cx_safetensors_has(const cx_safetensors *f, const char *name);
/* A new contiguous tensor with the stored dtype, shape and data (current arena or heap, see
 * "Ownership"). NULL + CX_ERR_ARG naming the tensor if f has none of that name; CX_ERR_IO if
 * the read fails (the file changed since it was opened). */
cx_tensor *cx_safetensors_get(const cx_safetensors *f, const char *name);
/* The "__metadata__" value for key, or NULL if absent. Owned by f, valid until close. */
const char *cx_safetensors_metadata(const cx_safetensors *f, const char *key);
/* Writes n tensors (any strides; names unique, not "__metadata__") and n_meta string
 * metadata pairs to path. The file is written as "<path>.tmp.<pid>", synced and renamed over
 * path, so on failure path keeps its previous contents (or stays absent). The caller keeps
 * ownership of everything passed. Errors: CX_ERR_ARG (NULL or freed tensor, duplicate name,
 * invalid UTF-8), CX_ERR_IO, CX_ERR_OOM. */
cx_status cx_safetensors_save(const char *path, int n, const char *const *names,
                              cx_tensor *const *tensors, int n_meta,
                              const char *const *meta_keys, const char *const *meta_values);

#ifdef __cplusplus
}
#endif

/* The layers above the core: models (nn), optimizers, data, training and checkpoints, and
 * what is built on them: reinforcement learning (rl), text models (text), autoencoders, GANs, and
 * optimising a network's input (vision: adversarial examples, visualisation, dream, style);
 * the compute devices (device: the CPU and CUDA GPUs). */
#include "cortex/nn.h"
#include "cortex/optim.h"
#include "cortex/data.h"
#include "cortex/train.h"
#include "cortex/rl.h"
#include "cortex/text.h"
#include "cortex/autoencoder.h"
#include "cortex/gan.h"
#include "cortex/vision.h"
#include "cortex/dist.h"
#include "cortex/device.h"

#endif /* CORTEX_H */
