/*
 * activation.c - activation layers, one kind per cx_activation, each its own config section
 * ([relu], [leaky_relu] slope = 0.2, ...) and its own index in the model, as torch's
 * nn.ReLU etc. are modules of an nn.Sequential. Softmax and log-softmax act on the last
 * dimension. No parameters.
 */
#include "nn/layer.h"

typedef struct {
    float param; /* leaky_relu: negative slope; elu: alpha; unused otherwise */
} act_args;

static const act_args no_param = {0};
static const act_args slope_default = {0.01f}; /* torch.nn.LeakyReLU */
static const act_args alpha_default = {1.0f};  /* torch.nn.ELU */

static const cx_layer_key slope_keys[] = {
    CX_KEY("slope", CX_KEY_FLOAT, act_args, param, .min = -1e6, .max = 1e6),
    CX_KEY_END,
};
static const cx_layer_key alpha_keys[] = {
    CX_KEY("alpha", CX_KEY_FLOAT, act_args, param, .min = -1e6, .max = 1e6),
    CX_KEY_END,
};

static cx_tensor *act_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    (void)run;
    float p = ((const act_args *)l->args)->param;
    switch (l->kind->activation) {
    case CX_ACT_RELU:
        return cx_relu(x);
    case CX_ACT_SIGMOID:
        return cx_sigmoid(x);
    case CX_ACT_TANH:
        return cx_tanh(x);
    case CX_ACT_SOFTMAX:
        return cx_softmax(x, -1);
    case CX_ACT_LOG_SOFTMAX:
        return cx_log_softmax(x, -1);
    case CX_ACT_GELU:
        return cx_gelu(x);
    case CX_ACT_LEAKY_RELU:
        return cx_leaky_relu(x, p);
    case CX_ACT_ELU:
        return cx_elu(x, p);
    }
    CX_ASSERT(!"unknown activation");
    return NULL;
}

cx_status cx_model_add_activation(cx_model *m, cx_activation act, float param) {
    const cx_layer_kind *kind = cx__activation_kind(act);
    if (!kind)
        return cx__error(CX_ERR_ARG, "cx_model_add_activation: unknown activation %d", (int)act);
    act_args a = *(const act_args *)kind->defaults;
    if (param != 0) a.param = param; /* 0 = torch's default */
    return cx__model_add(m, kind, &a, NULL);
}

#define ACT(id, title_, defaults_, keys_)                                                          \
    .title = title_, .defaults = &defaults_, .keys = keys_, .is_activation = true,                 \
    .activation = id, .build = cx__build_same_shape, .forward = act_forward

CX_LAYER_DEFINE(relu, act_args, ACT(CX_ACT_RELU, "ReLU", no_param, NULL));
CX_LAYER_DEFINE(sigmoid, act_args, ACT(CX_ACT_SIGMOID, "Sigmoid", no_param, NULL));
CX_LAYER_DEFINE(tanh, act_args, ACT(CX_ACT_TANH, "Tanh", no_param, NULL));
CX_LAYER_DEFINE(softmax, act_args, ACT(CX_ACT_SOFTMAX, "Softmax", no_param, NULL));
CX_LAYER_DEFINE(log_softmax, act_args, ACT(CX_ACT_LOG_SOFTMAX, "LogSoftmax", no_param, NULL));
CX_LAYER_DEFINE(gelu, act_args, ACT(CX_ACT_GELU, "GELU", no_param, NULL));
CX_LAYER_DEFINE(leaky_relu, act_args,
                ACT(CX_ACT_LEAKY_RELU, "LeakyReLU", slope_default, slope_keys));
CX_LAYER_DEFINE(elu, act_args, ACT(CX_ACT_ELU, "ELU", alpha_default, alpha_keys));
