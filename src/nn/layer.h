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
#define CX_LAYER_MAX_PARAMS 4         /* parameter tensors per layer */
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
} cx_key_type;

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
} cx_layer_build;

typedef struct {
    const cx_layer_kind *kind;
    int index; /* position in the model: the state_dict prefix */
    int in_ndim, out_ndim;
    int64_t in_shape[CX_MAX_DIMS], out_shape[CX_MAX_DIMS];
    int first_param, n_params; /* the layer's tensors in the model's parameter list */
    _Alignas(8) unsigned char args[CX_LAYER_ARGS_MAX];
} cx_layer;

/* What forward() receives besides its input. */
typedef struct {
    cx_tensor *const *params; /* the layer's parameter tensors */
    bool training;
    cx_rng *rng;               /* the model's generator (dropout masks) */
    cx_tensor *input;          /* the model's input */
    cx_tensor *const *outputs; /* outputs of the layers before this one */
} cx_layer_run;

struct cx_layer_kind {
    const char *name;  /* config section and cx_model_layer_kind ("dense") */
    const char *title; /* the type column of the summary (torch's class name, "Linear") */
    size_t args_size;
    const void *defaults;     /* an args struct holding every default */
    const cx_layer_key *keys; /* terminated by a NULL name; NULL = no settings */
    bool takes_activation;    /* the config may say `activation = relu` */
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

/* ---- the model (model.c) ---- */

/* Appends a layer of kind with settings args (kind->args_size bytes). On error the model is
 * unchanged and the message names the layer index and kind. */
cx_status cx__model_add(cx_model *m, const cx_layer_kind *kind, const void *args, cx_rng *rng);
const cx_layer *cx__model_layer(const cx_model *m, int i);
/* The model's config text (config.c): a new string (cx__free), NULL + error. */
char *cx__config_text(const cx_model *m);

/* "[N,1,28,28]"-style per-sample shape with the batch shown as N, for messages. */
char *cx__batch_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

#endif
