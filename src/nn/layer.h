/*
 * layer.h - the layer-kind descriptor and the internals of cx_model, shared by src/nn and
 * src/io/config.c. Not installed.
 *
 * A layer kind is one file in src/nn/ that ends with
 *
 *     CX_LAYER_DEFINE(dense, dense_args, .title = "Dense", .keys = dense_keys, ...);
 *
 * The Makefile collects those lines into build/gen/layers.def, from which registry.c builds
 * the list of kinds the config parser, the summary and the API look names up in. A kind
 * describes: its config section name and settings (keys with a type, a range and the offset
 * into its args struct, so the config parser and writer need no per-kind code), a build
 * function (shape inference: checks the settings against the input shape, gives the output
 * shape and declares the parameters), an init function (fills the new parameters from an
 * rng) and a forward function composing ops of cortex.h. Layers add no math of their own.
 */
#ifndef CX_NN_LAYER_H
#define CX_NN_LAYER_H

#include "cortex_impl.h"

#include <stddef.h>

/* Limits that refuse absurd configs before anything is allocated. */
#define CX_MODEL_MAX_LAYERS 10000
#define CX_LAYER_MAX_PARAMS 32        /* parameter tensors per layer (an 8-layer LSTM's) */
#define CX_LAYER_MAX_BUFFERS 2        /* buffer tensors per layer */
#define CX_LAYER_MAX_REFS 16          /* earlier layers one layer may read ([concat]) */
#define CX_LAYER_NAME_MAX 32          /* bytes of a layer name, NUL included */
#define CX_LAYER_ARGS_MAX 256         /* bytes of a kind's settings struct */
#define CX_DIM_MAX ((int64_t)1 << 31) /* largest units / input dim accepted */
/* Scalar parameters a model may hold (8 GiB of f32 values, as many again for gradients).
 * A variable so the config fuzzer can lower it. */
extern int64_t cx__model_max_params;

/* ---- settings ---- */

typedef enum {
    CX_KEY_INT,   /* int64_t in [min, max] */
    CX_KEY_FLOAT, /* float in [min, max] (max exclusive when max_open) */
    CX_KEY_BOOL,  /* bool: true/false, yes/no, on/off, 1/0 */
    CX_KEY_ENUM,  /* int: index into choices */
    CX_KEY_PAIR,  /* int64_t[2] (height, width) in [min, max]: "3" or "3,5" */
    CX_KEY_PADDING, /* cx_padding_arg: "N", "N,M", "same" or "valid" */
    CX_KEY_LAYER,   /* int64_t: an earlier layer (index, -1 = the model input); the config
                     * names it by name or as -N, N layers back from this one */
    CX_KEY_LAYERS,  /* cx_layer_refs: a list of such references, "-1,-3,branch2" */
    CX_KEY_SHAPE,   /* cx_shape_arg: a per-sample shape, sizes separated by commas, "3,7,7" */
} cx_key_type;

/* A padding setting: explicit sizes, or 'same' (output size = input size at stride 1). */
typedef struct {
    int64_t size[2];
    bool same;
} cx_padding_arg;

/* A per-sample shape setting ([reshape]'s target): 1 to CX_MAX_DIMS - 1 sizes >= 1. */
typedef struct {
    int64_t ndim;
    int64_t size[CX_MAX_DIMS - 1];
} cx_shape_arg;

/* Earlier layers a layer reads besides its input (index, -1 = the model input). */
typedef struct {
    int64_t n;
    int64_t layer[CX_LAYER_MAX_REFS];
} cx_layer_refs;

typedef struct {
    const char *name;
    cx_key_type type;
    size_t offset;              /* into the kind's args struct */
    bool required;              /* no default: the config must give it */
    double min, max;            /* INT and FLOAT ranges */
    bool max_open;              /* FLOAT: max itself is refused (dropout rate < 1) */
    const char *const *choices; /* ENUM names, NULL-terminated */
} cx_layer_key;

/* A key of args_type's field: CX_KEY("rate", CX_KEY_FLOAT, dropout_args, rate, .max = 1). */
#define CX_KEY(name_, type_, args_type, field, ...)                                                \
    { .name = name_, .type = type_, .offset = offsetof(args_type, field), __VA_ARGS__ }
#define CX_KEY_END                                                                                 \
    { .name = NULL }

/* How a layer's weight and bias are made: the first member of the settings of dense and
 * convolution layers, so that one init function (cx__init_layer) serves them all. */
typedef struct {
    bool bias;
    int init;    /* cx_init */
    float scale; /* of CX_INIT_UNIFORM and CX_INIT_NORMAL */
} cx_weight_args;
#define CX_WEIGHT_DEFAULTS {.bias = true, .init = CX_INIT_DEFAULT, .scale = 0.05f}
/* The keys of the cx_weight_args member (a member designator: w, c.w): bias, init,
 * init_scale. */
#define CX_WEIGHT_KEYS(args_type, member)                                                          \
    CX_KEY("bias", CX_KEY_BOOL, args_type, member.bias),                                           \
        CX_KEY("init", CX_KEY_ENUM, args_type, member.init, .choices = cx__init_names),            \
        CX_KEY("init_scale", CX_KEY_FLOAT, args_type, member.scale, .min = 0, .max = 1e6)

/* Settings conv2d and conv_transpose2d share: the first member of theirs (w first of all). */
typedef struct {
    cx_weight_args w;
    int64_t filters;
    int64_t kernel[2], stride[2], dilation[2];
    int64_t groups;
} cx_conv_args;
#define CX_CONV_DEFAULTS                                                                           \
    {.w = CX_WEIGHT_DEFAULTS, .stride = {1, 1}, .dilation = {1, 1}, .groups = 1}
/* Keys of a cx_conv_args member c: filters, kernel, stride (head); dilation, groups and the
 * weight keys (tail). A kind's padding keys go between them. */
#define CX_CONV_HEAD_KEYS(args_type)                                                               \
    CX_KEY("filters", CX_KEY_INT, args_type, c.filters, .required = true, .min = 1,                \
           .max = (double)CX_DIM_MAX),                                                             \
        CX_KEY("kernel", CX_KEY_PAIR, args_type, c.kernel, .required = true, .min = 1,             \
               .max = 1 << 16),                                                                    \
        CX_KEY("stride", CX_KEY_PAIR, args_type, c.stride, .min = 1, .max = 1 << 16)
#define CX_CONV_TAIL_KEYS(args_type)                                                               \
    CX_KEY("dilation", CX_KEY_PAIR, args_type, c.dilation, .min = 1, .max = 1 << 16),              \
        CX_KEY("groups", CX_KEY_INT, args_type, c.groups, .min = 1, .max = (double)CX_DIM_MAX),    \
        CX_WEIGHT_KEYS(args_type, c.w)

/* ---- building ---- */

typedef struct cx_layer_kind cx_layer_kind;

/* What build() receives and fills in. */
typedef struct {
    const void *args; /* the kind's settings */
    int in_ndim;      /* per-sample input shape */
    const int64_t *in_shape;
    const cx_model *model; /* earlier layers, for kinds that refer to them */
    int out_ndim;          /* out: per-sample output shape */
    int64_t out_shape[CX_MAX_DIMS];
    int n_params; /* out: parameters to create, in state_dict order */
    struct {
        const char *name; /* "weight", "bias" */
        int ndim;
        int64_t shape[CX_MAX_DIMS];
    } params[CX_LAYER_MAX_PARAMS];
    int n_buffers; /* out: 1-D buffers to create, in state_dict order, filled with fill */
    struct {
        const char *name; /* "running_mean" */
        int64_t size;
        float fill;
    } buffers[CX_LAYER_MAX_BUFFERS];
} cx_layer_build;

typedef struct {
    const cx_layer_kind *kind;
    int index; /* position in the model: the state_dict prefix */
    int input; /* the layer whose output this one takes: index, or -1 = the model input */
    char name[CX_LAYER_NAME_MAX]; /* "" if unnamed; config references use it */
    bool frozen;                  /* parameters do not require gradients */
    int in_ndim, out_ndim;
    int64_t in_shape[CX_MAX_DIMS], out_shape[CX_MAX_DIMS];
    int first_param, n_params; /* the layer's tensors in the model's parameter list */
    int first_buffer, n_buffers;
    int64_t numel; /* scalar parameters (counted even when the model holds shapes only) */
    _Alignas(8) unsigned char args[CX_LAYER_ARGS_MAX];
} cx_layer;

/* What forward() receives besides its input. */
typedef struct {
    cx_tensor *const *params;  /* the layer's parameter tensors */
    cx_tensor *const *buffers; /* the layer's buffers (batch norm's running statistics) */
    bool training;
    cx_rng *rng;               /* the model's generator (dropout masks) */
    /* cx_model_set_batch_shard: the input's rows are [shard_offset, + rows) of a global batch
     * of shard_total rows (0: not sharded); random draws are made for the global batch */
    int64_t shard_offset, shard_total;
    cx_tensor *input;          /* the model's input */
    cx_tensor *const *outputs; /* outputs of the layers before this one */
    cx_tensor **state;         /* the layer's slot for state carried to the next batch (a heap
                                * tensor it owns; NULL until set, and after cx_model_reset_states) */
} cx_layer_run;

/* The output of an earlier layer (-1: the model input) during a forward pass. */
static inline cx_tensor *cx__layer_output(const cx_layer_run *run, int64_t layer) {
    return layer < 0 ? run->input : run->outputs[layer];
}

struct cx_layer_kind {
    const char *name;  /* config section and cx_model_layer_kind ("dense") */
    const char *title; /* the type column of the summary (torch's class name, "Linear") */
    /* The title for one layer where it depends on the input (BatchNorm1d/2d); NULL: title. */
    const char *(*title_of)(const cx_layer *l);
    size_t args_size;
    const void *defaults;     /* an args struct holding every default */
    const cx_layer_key *keys; /* terminated by a NULL name; NULL = no settings */
    bool takes_activation;    /* the config may say `activation = relu` */
    bool any_length;          /* takes samples whose first size is any (0): sequences */
    bool is_activation;
    cx_activation activation; /* for is_activation kinds */
    /* Checks args against the input shape; fills the output shape and the parameters.
     * Errors: CX_ERR_SHAPE / CX_ERR_ARG with a message (the caller names the layer). */
    cx_status (*build)(cx_layer_build *b);
    /* Fills the freshly created parameters (NULL: none). */
    void (*init)(const cx_layer *l, cx_tensor *const *params, cx_rng *rng);
    /* The layer's output for x ([N, in_shape...]): a new reference, recorded for autograd. */
    cx_tensor *(*forward)(const cx_layer *l, cx_tensor *x, const cx_layer_run *run);
};

#define CX_LAYER_DEFINE(kindname, args_type, ...)                                                  \
    _Static_assert(sizeof(args_type) <= CX_LAYER_ARGS_MAX, #kindname " settings too large");       \
    const cx_layer_kind cx_layer_##kindname = {                                                    \
        .name = #kindname, .args_size = sizeof(args_type), __VA_ARGS__}

/* Shape-preserving layers (activations, dropout): the output shape is the input shape. */
static inline cx_status cx__build_same_shape(cx_layer_build *b) {
    b->out_ndim = b->in_ndim;
    for (int d = 0; d < b->in_ndim; d++)
        b->out_shape[d] = b->in_shape[d];
    return CX_OK;
}

/* Image layers take [C, H, W] samples. */
static inline cx_status cx__build_need_image(const cx_layer_build *b) {
    if (b->in_ndim == 3) return CX_OK;
    return cx__error(CX_ERR_SHAPE, "expects image samples [C,H,W] (a batch [N,C,H,W]), got %d "
                     "dimensions per sample", b->in_ndim);
}

/* Checks that the n layers of refs come before the one being built (add.c). */
cx_status cx__build_check_refs(const cx_layer_build *b, int n, const int64_t *refs);

/* Declares parameter p of b: name and shape. */
static inline void cx__build_param(cx_layer_build *b, int p, const char *name, int ndim,
                                   const int64_t *shape) {
    b->params[p].name = name;
    b->params[p].ndim = ndim;
    for (int d = 0; d < ndim; d++)
        b->params[p].shape[d] = shape[d];
    if (b->n_params < p + 1) b->n_params = p + 1;
}

/* The layer's carried state (run->state) with this shape: the one kept from the last batch,
 * or zeros (a heap tensor owned by the model) when there is none or its shape differs (a
 * batch of another size). NULL + error if it cannot be allocated. */
cx_tensor *cx__layer_state(const cx_layer_run *run, int ndim, const int64_t *shape);

/* A layer that passes x through returns a new reference to it, as every forward does. */
static inline cx_tensor *cx__layer_identity(cx_tensor *x) {
    cx__tensor_retain(x);
    return x;
}

/* ---- registry (registry.c) ---- */

#define CX_LAYER(name) extern const cx_layer_kind cx_layer_##name;
#include "layers.def" /* every kind: cx_layer_dense, cx_layer_relu, ... */
#undef CX_LAYER

extern const cx_layer_kind *const cx__layer_kinds[]; /* every kind by name, NULL-terminated */
const cx_layer_kind *cx__layer_kind_find(const char *name); /* NULL if unknown */
/* The kind of an activation, or NULL. */
const cx_layer_kind *cx__activation_kind(cx_activation act);
/* "dense, dropout, ..." (every kind, or only activations) into buf; returns buf. */
char *cx__layer_kind_list(char *buf, size_t size, bool activations_only);

/* ---- initialisers (init.c), as torch.nn.init draws them ---- */

/* t (contiguous) = U(lo, hi), as t.uniform_(lo, hi). */
void cx__init_uniform(cx_tensor *t, double lo, double hi, cx_rng *rng);
/* t (contiguous) = N(0, std^2), as t.normal_(0, std). */
void cx__init_normal(cx_tensor *t, double std, cx_rng *rng);
/* A weight with the given fans by init (CX_INIT_DEFAULT: kaiming_uniform_(a=sqrt(5)), as
 * torch's Linear and Conv layers); scale for CX_INIT_UNIFORM / CX_INIT_NORMAL. */
void cx__init_weight(cx_tensor *w, cx_init init, float scale, int64_t fan_in, int64_t fan_out,
                     cx_rng *rng);
extern const char *const cx__init_names[]; /* "default", "glorot_uniform", ...; NULL-ended */
/* A Linear / Conv / ConvTranspose weight and its bias (NULL if none) as torch initialises
 * them, fans from the weight's shape as torch computes them: fan_in = shape[1] * (kernel
 * elements), fan_out = shape[0] * (kernel elements). CX_INIT_DEFAULT gives the bias
 * U(±1/sqrt(fan_in)); an explicit init leaves it zero. */
void cx__init_weight_bias(cx_tensor *w, cx_tensor *b, cx_init init, float scale, cx_rng *rng);
/* The init function of kinds whose settings start with a cx_weight_args: params[0] is the
 * weight, params[1] the bias if it has one. */
void cx__init_layer(const cx_layer *l, cx_tensor *const *params, cx_rng *rng);

/* ---- the model (model.c) ---- */

/* Settings every layer has besides its kind's: where its input comes from, a name, and
 * whether its parameters train. */
typedef struct {
    int input;        /* earlier layer index, -1 = the model input; CX_INPUT_PREVIOUS */
    const char *name; /* NULL or "" = unnamed */
    bool frozen;
} cx_layer_opts;
#define CX_INPUT_PREVIOUS (-2) /* the layer before (the model input for the first layer) */

/* Appends a layer of kind with settings args (kind->args_size bytes). On error the model is
 * unchanged and the message names the layer index and kind. */
cx_status cx__model_add(cx_model *m, const cx_layer_kind *kind, const void *args, cx_rng *rng);
cx_status cx__model_add_opts(cx_model *m, const cx_layer_kind *kind, const void *args,
                             const cx_layer_opts *opts, cx_rng *rng);
const cx_layer *cx__model_layer(const cx_model *m, int i);
/* The index of the layer called name, -1 if none. */
int cx__model_find_layer(const cx_model *m, const char *name);
/* Shapes only: layers keep their shapes and parameter counts, no parameter memory is made. */
void cx__model_set_shapes_only(cx_model *m);
bool cx__model_shapes_only(const cx_model *m);
/* The per-sample output shape of layer i, or of the model input for i = -1; returns ndim. */
int cx__model_output_of(const cx_model *m, int64_t i, int64_t *shape);
/* Scalar parameters of the layers that are not frozen. */
int64_t cx__model_trainable_numel(const cx_model *m);

/* ---- window arithmetic of convolution and pooling (window.c) ---- */

/* The output size of a sliding window over (height, width): per dimension
 *     out = (in + 2 pad - dilation (kernel - 1) - 1) / stride + 1
 * rounded down, or up with ceil_mode (torch's rule: the last window must start inside the
 * input or its left padding). With exact, a division that leaves a remainder is refused.
 * Errors (CX_ERR_SHAPE, the message shows the arithmetic and a fix): an output below 1, or an
 * inexact division when exact. A convolution layer can take a helper of the conv op instead
 * once one exists; this one keeps the messages the layers promise. */
cx_status cx__window_out(const int64_t in[2], const int64_t kernel[2], const int64_t stride[2],
                         const int64_t pad[2], const int64_t dilation[2], bool ceil_mode,
                         bool exact, int64_t out[2]);
/* Checks what conv layers share against b's input (callers of the C API skip the config's
 * key ranges): image samples, filters 1..CX_DIM_MAX, kernel, stride, dilation and groups
 * >= 1, groups dividing the channels and filters, a known init. */
cx_status cx__build_check_conv(const cx_layer_build *b, const cx_conv_args *c);
/* c for the C API: filters, kernel, bias, and stride, dilation, groups where given (0 = 1). */
void cx__conv_args_set(cx_conv_args *c, int64_t filters, int64_t kh, int64_t kw, bool bias,
                       const int64_t *stride, const int64_t *dilation, int64_t groups);
/* The model's config text (config.c): a new string (cx__free), NULL + error. */
char *cx__config_text(const cx_model *m);

/* "[N,1,28,28]"-style per-sample shape with the batch shown as N, for messages. */
char *cx__batch_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

#endif
