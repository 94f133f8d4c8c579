/*
 * cortex/nn.h - models built from layers: a Sequential container, its parameters, and the
 * model config language. Included by cortex.h.
 *
 * A model is a list of layers applied in order to a batch of samples (dimension 0 is the
 * batch). It is built for one per-sample input shape (e.g. [1,28,28] or [784]) and infers every
 * layer's output shape when a layer is added, so a layer that does not fit is refused when the
 * model is built, with a message naming the layer and the arithmetic.
 *
 * Parameters are named as PyTorch's state_dict names them for the same nn.Sequential: the
 * layer's index, a dot, the parameter ("0.weight", "2.bias"). Activation, Flatten and Dropout
 * layers take an index too, as in torch, so a config that lists the same layers as a PyTorch
 * nn.Sequential loads its weights by name. Every parameter and its gradient are views into two
 * contiguous buffers owned by the model (one flat vector each, for optimizers, clipping,
 * checkpoints and allreduce).
 *
 * Config files (INI: one section per layer, in order; ';' or '#' comments):
 *
 *     [model]              ; first: the input shape per sample, and optionally the loss
 *     input = 1,28,28      ; loss = cross_entropy (default) | mse | bce
 *     [flatten]
 *     [dense]
 *     units = 512          ; init = default | glorot_uniform | glorot_normal | he_uniform |
 *     bias = true          ;        he_normal | uniform | normal | zeros ; init_scale = 0.05
 *     [relu]               ; also: sigmoid, tanh, softmax, log_softmax, gelu,
 *     [dropout]            ;       leaky_relu (slope = 0.01), elu (alpha = 1)
 *     rate = 0.5
 *
 * A [dense] section may also say `activation = relu` (Keras style): the activation then
 * becomes its own layer right after it, with the next index. Unknown sections or keys, bad
 * values and shapes that do not fit are errors naming the file, the line and the valid choices.
 */
#ifndef CORTEX_NN_H
#define CORTEX_NN_H

#include "cortex.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cx_model cx_model;

/* Weight initialisers. CX_INIT_DEFAULT is torch.nn's default for the layer (for Dense:
 * kaiming_uniform(a=sqrt(5)) weights and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) biases). Explicit
 * initialisers apply to the weight; biases are then zero. */
typedef enum {
    CX_INIT_DEFAULT = 0,
    CX_INIT_GLOROT_UNIFORM, /* torch.nn.init.xavier_uniform_ */
    CX_INIT_GLOROT_NORMAL,  /* xavier_normal_ */
    CX_INIT_HE_UNIFORM,     /* kaiming_uniform_ (ReLU gain, fan_in) */
    CX_INIT_HE_NORMAL,      /* kaiming_normal_ (ReLU gain, fan_in) */
    CX_INIT_UNIFORM,        /* U(-scale, scale) */
    CX_INIT_NORMAL,         /* N(0, scale^2) */
    CX_INIT_ZEROS,
} cx_init;

/* Loss the model is trained with. For CX_LOSS_CROSS_ENTROPY the targets are i32 class labels
 * and a final softmax layer is folded into the loss (log-softmax of its input), as Keras does. */
typedef enum {
    CX_LOSS_CROSS_ENTROPY = 0,
    CX_LOSS_MSE,
    CX_LOSS_BCE, /* binary cross-entropy; a final sigmoid is folded in the same way */
} cx_loss;

/* ---- building ---- */

/* An empty model for samples of the given shape (ndim 1..CX_MAX_DIMS-1, without the batch
 * dimension). NULL + error on a bad shape. Free with cx_model_free (NULL is a no-op). */
cx_model *cx_model_new(int ndim, const int64_t *sample_shape);
void cx_model_free(cx_model *m);

/* Appending layers. Each returns CX_OK or an error (CX_ERR_SHAPE when the layer does not fit
 * the current output shape, CX_ERR_ARG for bad settings, CX_ERR_OOM past 2^31 parameters) and
 * leaves the model unchanged on error. Parameters are created and initialised at once from
 * rng (NULL = default generator); they live on the heap even if an arena is active. For
 * dense, scale 0 means 0.05 (the scale of CX_INIT_UNIFORM and CX_INIT_NORMAL). */
cx_status cx_model_add_dense(cx_model *m, int64_t units, bool bias, cx_init init, float scale,
                             cx_rng *rng);
cx_status cx_model_add_flatten(cx_model *m);
cx_status cx_model_add_dropout(cx_model *m, float rate); /* 0 <= rate < 1 */

typedef enum {
    CX_ACT_RELU = 0,
    CX_ACT_SIGMOID,
    CX_ACT_TANH,
    CX_ACT_SOFTMAX,     /* over the last dimension */
    CX_ACT_LOG_SOFTMAX, /* over the last dimension */
    CX_ACT_GELU,
    CX_ACT_LEAKY_RELU, /* param: negative slope (0 = torch's 0.01) */
    CX_ACT_ELU,        /* param: alpha (0 = 1.0) */
} cx_activation;
cx_status cx_model_add_activation(cx_model *m, cx_activation act, float param);

cx_status cx_model_set_loss(cx_model *m, cx_loss loss);
cx_loss cx_model_get_loss(const cx_model *m);

/* ---- config files ---- */

/* Builds a model from config text; source names it in messages ("models/mlp.cfg"). Parameters
 * are initialised from rng (NULL = default generator). NULL + error "FILE:LINE: ..." on error. */
cx_model *cx_model_from_config(const char *text, const char *source, cx_rng *rng);
/* Reads and builds path (CX_ERR_IO if it cannot be read; files over 1 MiB are refused). */
cx_model *cx_model_load_config(const char *path, cx_rng *rng);
/* The model as config text, in canonical form (re-parsing it builds the same model).
 * Owned by m, valid until the next change to m. */
const char *cx_model_config(cx_model *m);

/* ---- running ---- */

/* Training mode (dropout active) or evaluation mode (the default). */
void cx_model_set_training(cx_model *m, bool training);
bool cx_model_training(const cx_model *m);
/* The generator dropout draws from (owned by the model; seeded with cx_model_seed). Its
 * state goes into checkpoints so training resumes exactly. */
cx_rng *cx_model_rng(cx_model *m);
void cx_model_seed(cx_model *m, uint64_t seed);

/* Output of the whole model for a batch x (shape [N, sample shape...], f32), recorded for
 * autograd like any op, in the current arena. NULL + error naming the layer on a shape
 * mismatch. */
cx_tensor *cx_model_forward(cx_model *m, cx_tensor *x);
/* The training loss (a scalar, mean over the batch) of batch x against target (i32 labels
 * [N] for cross-entropy, f32 of the output's shape otherwise). If logits is not NULL it
 * receives the model's output before the folded final activation (for accuracy; the caller
 * owns that reference). Folding: cross-entropy takes the input of a final softmax or
 * log_softmax layer, BCE the input of a final sigmoid; without such a layer the output is
 * taken as the logits. MSE uses the output as it is. */
cx_tensor *cx_model_loss(cx_model *m, cx_tensor *x, cx_tensor *target, cx_tensor **logits);

/* ---- inspecting ---- */

int cx_model_num_layers(const cx_model *m);
/* Layer i's kind ("dense", "relu", ...), and its output shape per sample. */
const char *cx_model_layer_kind(const cx_model *m, int i);
int cx_model_layer_output_shape(const cx_model *m, int i, int64_t *shape); /* returns ndim */
int64_t cx_model_layer_num_params(const cx_model *m, int i);
/* Per-sample input and output shapes; return ndim. */
int cx_model_input_shape(const cx_model *m, int64_t *shape);
int cx_model_output_shape(const cx_model *m, int64_t *shape);

/* Parameters in order (layer by layer, weight before bias). The tensors are owned by m and
 * live as long as it; each requires a gradient, kept in m's gradient buffer. */
int cx_model_num_param_tensors(const cx_model *m);
cx_tensor *cx_model_param(cx_model *m, int i);
const char *cx_model_param_name(const cx_model *m, int i); /* "0.weight" */
cx_tensor *cx_model_param_by_name(cx_model *m, const char *name);
int64_t cx_model_num_params(const cx_model *m); /* scalar parameters in all */
/* The flat parameter and gradient vectors (cx_model_num_params elements each). */
float *cx_model_params_flat(cx_model *m);
float *cx_model_grads_flat(cx_model *m);
void cx_model_zero_grad(cx_model *m);

/* Buffers: state saved with the model but not trained (batch normalisation's running_mean and
 * running_var), named as torch's state_dict names them ("1.running_mean"). Owned by m. */
int cx_model_num_buffers(const cx_model *m);
cx_tensor *cx_model_buffer(cx_model *m, int i);
const char *cx_model_buffer_name(const cx_model *m, int i);

/* Freezing for transfer learning: parameters of frozen layers keep requires_grad false and are
 * left out of cx_model_trainable_params. A config says `trainable = false` in a layer's
 * section; cx_model_freeze(m, upto) freezes layers 0..upto (upto < 0 counts from the end). */
cx_status cx_model_freeze(cx_model *m, int upto);
bool cx_model_param_trainable(const cx_model *m, int i);
/* Fills out (room for cx_model_num_param_tensors entries) with the trainable parameters, in
 * order; returns how many. */
int cx_model_trainable_params(cx_model *m, cx_tensor **out);

/* Transfer learning: copies into m every parameter and buffer of f whose name and shape agree;
 * the others keep their initial values and get one line each in report (NUL-terminated, cut
 * when full; may be NULL). *loaded (may be NULL) receives the count copied. strict: any
 * mismatch is CX_ERR_FORMAT listing them. */
cx_status cx_model_init_from(cx_model *m, const cx_safetensors *f, bool strict, int *loaded,
                             char *report, size_t report_size);

/* Writes a Keras-style table (layer index and type, output shape with the batch as None,
 * parameters) and the totals with thousands separators ("Total params: 669,706"). */
cx_status cx_model_summary(const cx_model *m, FILE *out);

/* Copies every parameter of m from f by name (dtype f32, shapes must match). Errors name the
 * missing or mismatched tensor; on error m's values are unspecified but valid. */
cx_status cx_model_load_weights(cx_model *m, const cx_safetensors *f);

#ifdef __cplusplus
}
#endif
#endif /* CORTEX_NN_H */
