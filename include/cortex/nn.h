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
 * nn.Sequential loads its weights by name. A model whose [model] section says
 * `param_names = layer` names the parameters of its named layers after the layer instead
 * ("features.0.weight" for a layer `name = features.0`), so a config whose layer names follow
 * a torch module's nesting (torchvision's vgg16: features.N, classifier.N) loads that module's
 * state_dict; unnamed layers keep their index. Every parameter and its gradient are views into two
 * contiguous buffers owned by the model (one flat vector each, for optimizers, clipping,
 * checkpoints and allreduce).
 *
 * Config files (INI: one section per layer, in order; ';' or '#' comments):
 *
 *     [model]              ; first: the input shape per sample, and optionally the loss
 *     input = 1,28,28      ; loss = cross_entropy (default) | mse | bce
 *                          ; param_names = index (default) | layer (see above)
 *     [flatten]
 *     [dense]
 *     units = 512          ; init = default | glorot_uniform | glorot_normal | he_uniform |
 *     bias = true          ;        he_normal | uniform | normal | zeros ; init_scale = 0.05
 *     [relu]               ; also: sigmoid, tanh, softmax, log_softmax, gelu,
 *     [dropout]            ;       leaky_relu (slope = 0.01), elu (alpha = 1)
 *     rate = 0.5
 *
 * A [dense] or [conv2d] section may also say `activation = relu` (Keras style): the activation
 * then becomes its own layer right after it, with the next index. Unknown sections or keys,
 * bad values and shapes that do not fit are errors naming the file, the line and the valid
 * choices.
 *
 * Images (NCHW; pairs are "3" or "height,width"):
 *
 *     [conv2d]             ; filters = 32, kernel = 3 | 3,5, stride = 1, dilation = 1,
 *     filters = 32         ; padding = 0 | N | N,M | same | valid, groups = 1, bias = true,
 *     kernel = 3           ; init = default (torch's), floor = false (see below), activation
 *     [conv_transpose2d]   ; filters, kernel, stride, padding, output_padding, dilation,
 *                          ; groups, bias, init
 *     [maxpool2d]          ; kernel = 2, stride = kernel, padding = 0, dilation = 1,
 *     [avgpool2d]          ; ceil_mode = false; avgpool2d: count_include_pad = true
 *     [globalavgpool2d]    ; to 1x1;  [adaptiveavgpool2d] size = 6 | 6,6
 *     [batchnorm]          ; over channels of [C] or [C,H,W] samples: momentum = 0.1,
 *                          ; eps = 1e-5, affine = true; running statistics are buffers
 *     [upsample]           ; scale = 2 or size = H,W; mode = nearest | bilinear,
 *                          ; align_corners = false
 *     [reshape]            ; shape = 1,28,28: the same elements per sample in another
 *                          ; shape (a decoder's [784] -> [1,28,28]; Keras's Reshape)
 *
 * A convolution whose size arithmetic leaves a remainder ((7 - 3) / 3 + 1) is refused when
 * the model is built, with the arithmetic and a padding that fits, unless it says
 * `floor = true` (torch drops the remainder silently); pooling follows torch's floor (or
 * ceil_mode) rule without refusing. An output size below 1 is always refused.
 *
 * Sequences: `input = none` (or `none,3`) makes the first sample size a length of any size T
 * (token ids [T], or [T, features]); layers that do not take any length refuse it.
 *
 *     [embedding]          ; vocab = 96, dim = 64: ids [T] (i32, or f32 whole numbers) -> [T, dim]
 *     [lstm]               ; also [gru], [rnn] (nonlinearity = tanh | relu): [T, I] ->
 *     hidden = 128         ;   [T, hidden] with return_sequences = true, else the last step
 *     layers = 2           ;   [hidden]; bias = true; stateful = false (true: the final states
 *                          ;   of a batch start the next, see cx_model_reset_states);
 *                          ;   batch_first = true only (the batch is dimension 0); parameters
 *                          ;   weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ... as torch
 *     [conv1d]             ; [C, L] -> [filters, Lo]: filters, kernel, stride, padding = N |
 *                          ;   same, dilation, groups, bias, init, activation
 *     [maxpool1d]          ; [C, L] -> [C, Lo]: kernel, stride = kernel, padding, ceil_mode;
 *     [avgpool1d]          ;   maxpool1d: dilation; avgpool1d: count_include_pad
 *
 * Graphs (ResNet, Inception): any layer may say `name = block1` and `input = NAME | -N` (take
 * its input from that earlier layer, or from the layer N before this one; `input` alone names
 * the model input); by default a layer takes the previous layer's output. Layer numbers count
 * every layer of the model, so an `activation = relu` counts as one.
 *
 *     [add]                ; previous output + the output of `from = NAME | -N` (same shape)
 *     from = block1
 *     [concat]             ; the listed outputs joined along the channels (dim 1 of the batch)
 *     layers = -1,branch3,branch5,pool
 *
 * Every layer with parameters may say `trainable = false` (frozen: see cx_model_freeze).
 *
 * A config may hold one [train] section: the recipe the model is trained with, as defaults of
 * `cortex train`'s options (`lr = 0.001`, `shift = 1`, `standardize = true`: each option's
 * name without "--"; the command line overrides them). The model builder skips it.
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
/* Each sample to shape (ndim sizes, the same number of elements; a view when possible). */
cx_status cx_model_add_reshape(cx_model *m, int ndim, const int64_t *shape);
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

/* Image layers (NCHW samples [C, H, W]); parameters as torch.nn's layers of the same name,
 * default init as torch (kaiming_uniform(a=sqrt(5)) weights, U(±1/sqrt(fan_in)) biases).
 * params NULL = the op's defaults. Sizes that do not fit are refused with the arithmetic. */
/* Conv2d: weight [filters, C/groups, kh, kw], bias [filters]. */
cx_status cx_model_add_conv2d(cx_model *m, int64_t filters, int64_t kh, int64_t kw,
                              const cx_conv2d_params *params, bool bias, cx_rng *rng);
/* ConvTranspose2d: weight [C, filters/groups, kh, kw], bias [filters]. */
cx_status cx_model_add_conv_transpose2d(cx_model *m, int64_t filters, int64_t kh, int64_t kw,
                                        const cx_conv_transpose2d_params *params, bool bias,
                                        cx_rng *rng);
cx_status cx_model_add_max_pool2d(cx_model *m, const cx_pool2d_params *params);
cx_status cx_model_add_avg_pool2d(cx_model *m, const cx_pool2d_params *params);
cx_status cx_model_add_adaptive_avg_pool2d(cx_model *m, int64_t out_h, int64_t out_w);
cx_status cx_model_add_global_avg_pool2d(cx_model *m); /* to [C, 1, 1] */
/* BatchNorm1d on [C] samples, BatchNorm2d on [C, H, W]: weight/bias [C] if affine, buffers
 * running_mean (0) and running_var (1). Normalises with batch statistics and updates the
 * running ones in training mode (cx_model_set_training), uses the running ones otherwise.
 * torch's defaults: momentum 0.1, eps 1e-5. */
cx_status cx_model_add_batchnorm(cx_model *m, float momentum, float eps, bool affine);
/* Resizes to [C, out_h, out_w]; or, with out_h = out_w = 0, by scale (floor(H * scale)). */
cx_status cx_model_add_upsample(cx_model *m, float scale, int64_t out_h, int64_t out_w,
                                cx_upsample_mode mode, bool align_corners);

/* Graphs. Layers are numbered from 0; -1 means the model input. */
/* Residual add: the previous layer's output + layer from's output (shapes must match). */
cx_status cx_model_add_add(cx_model *m, int from);
/* The outputs of the n listed layers joined along the channels (dim 1 of the batch). */
cx_status cx_model_add_concat(cx_model *m, int n, const int *layers);
/* The next layer added takes its input from layer (instead of the previous one). */
cx_status cx_model_branch(cx_model *m, int layer);
/* The layer a layer takes its input from (-1: the model input). */
int cx_model_layer_input(const cx_model *m, int i);
/* Layer names ("" if none; owned by m): letters, digits, '_', '.', '-', at most 31. */
const char *cx_model_layer_name(const cx_model *m, int i);
cx_status cx_model_set_layer_name(cx_model *m, int i, const char *name);
/* The index of the layer called name, -1 if none. */
int cx_model_find_layer(const cx_model *m, const char *name);

/* How parameters and buffers are named: "<index>.weight" (the default) or, for named layers,
 * "<layer name>.weight". Changing it (or a layer's name) renames them at once. */
typedef enum { CX_PARAM_NAMES_INDEX = 0, CX_PARAM_NAMES_LAYER } cx_param_names;
cx_status cx_model_set_param_names(cx_model *m, cx_param_names naming);
cx_param_names cx_model_get_param_names(const cx_model *m);

cx_status cx_model_set_loss(cx_model *m, cx_loss loss);
cx_loss cx_model_get_loss(const cx_model *m);

/* ---- config files ---- */

/* Builds a model from config text; source names it in messages ("models/mlp.cfg"). Parameters
 * are initialised from rng (NULL = default generator). NULL + error "FILE:LINE: ..." on error. */
cx_model *cx_model_from_config(const char *text, const char *source, cx_rng *rng);
/* Reads and builds path (CX_ERR_IO if it cannot be read; files over 1 MiB are refused). */
cx_model *cx_model_load_config(const char *path, cx_rng *rng);
/* As cx_model_from_config / cx_model_load_config, but shapes only: every layer's output
 * shape and parameter count without parameter memory, for summaries of big models
 * (`cortex summary`). Such a model has no parameter or buffer tensors; forward, loss and
 * loading weights fail with CX_ERR_UNSUPPORTED. */
cx_model *cx_model_from_config_shapes(const char *text, const char *source);
cx_model *cx_model_load_config_shapes(const char *path);
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
/* Data-parallel training: the batches m runs next are rows [offset, offset + rows) of global
 * batches of total rows (rows = each batch's first dimension). Dropout then draws the masks a
 * single process would draw for the whole global batch and uses its rows only, so N processes
 * train exactly as one process with N times the batch. total 0 (the default) ends sharding.
 * CX_ERR_ARG for a negative offset or total. */
cx_status cx_model_set_batch_shard(cx_model *m, int64_t offset, int64_t total);

/* Output of the whole model for a batch x (shape [N, sample shape...], f32; i32 token ids for
 * a model that starts with an embedding; any length T > 0 where the input shape says none),
 * recorded for autograd like any op, in the current arena. NULL + error naming the layer on
 * a shape mismatch. */
cx_tensor *cx_model_forward(cx_model *m, cx_tensor *x);
/* Intermediate outputs, for optimising the input (feature visualisation, deep dream, style
 * transfer): runs layers 0..max(layers) on x once and gives outputs[k] a new reference to the
 * output of layer layers[k] (n >= 1 entries, any order, repeats allowed), recorded for
 * autograd, so cx_backward from a function of them reaches x (and the parameters, unless
 * frozen). On error every outputs[k] is NULL: CX_ERR_ARG for a layer outside the model, and
 * cx_model_forward's errors. */
cx_status cx_model_forward_layers(cx_model *m, cx_tensor *x, int n, const int *layers,
                                  cx_tensor **outputs);
/* The output of one layer (cx_model_forward_layers with n = 1); NULL + error. */
cx_tensor *cx_model_forward_to(cx_model *m, cx_tensor *x, int layer);

/* A new model of m's layers 0..last built for samples of sample_shape (ndim entries; ndim 0
 * or NULL: m's input shape), with copies of their parameters and buffers, the same names,
 * inputs, freezing, naming and mode. Convolutional layers accept pictures of any size, so
 * this runs a network's convolutional part on a picture of another size. NULL + error if a
 * layer does not fit the new shape (the message names it and the arithmetic), or m was built
 * for shapes only. The caller frees the result; m is not changed. */
cx_model *cx_model_head(const cx_model *m, int last, int ndim, const int64_t *sample_shape);
/* The training loss (a scalar, mean over the batch) of batch x against target (i32 labels
 * [N] for cross-entropy, f32 of the output's shape otherwise; for an output [N, T, .., C]
 * the labels are [N, T, ..] and the mean is over every position). If logits is not NULL it
 * receives the model's output before the folded final activation (for accuracy; the caller
 * owns that reference). Folding: cross-entropy takes the input of a final softmax or
 * log_softmax layer, BCE the input of a final sigmoid; without such a layer the output is
 * taken as the logits. MSE uses the output as it is. */
cx_tensor *cx_model_loss(cx_model *m, cx_tensor *x, cx_tensor *target, cx_tensor **logits);
/* Forgets the state that stateful recurrent layers carry from one batch to the next (Keras's
 * reset_states): the next batch starts from zeros. A batch of another size also starts from
 * zeros. */
void cx_model_reset_states(cx_model *m);

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

/* Freezing for transfer learning: parameters of frozen layers keep requires_grad false, hold
 * no gradient (cx_tensor_grad is NULL, so optimizers skip them, weight decay included) and are
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
 * parameters; for a layer that reads other layers than the one before it, which: "<- 8, stem")
 * and the totals with thousands separators ("Total params: 669,706"), frozen parameters
 * counted as non-trainable. */
cx_status cx_model_summary(const cx_model *m, FILE *out);

/* Copies every parameter of m from f by name (dtype f32, shapes must match). Errors name the
 * missing or mismatched tensor; on error m's values are unspecified but valid. */
cx_status cx_model_load_weights(cx_model *m, const cx_safetensors *f);

#ifdef __cplusplus
}
#endif
#endif /* CORTEX_NN_H */
