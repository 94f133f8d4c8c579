/*
 * recurrent.c - the recurrent layers [lstm], [gru] and [rnn], as torch.nn.LSTM, GRU and RNN
 * with batch_first=True (a model's batch is dimension 0); one cx_lstm / cx_gru / cx_rnn call,
 * i.e. one fused op per stacked layer.
 *   x (N, T, I) -> (N, T, hidden) with return_sequences, else the last step (N, hidden)
 * Parameters per stacked layer k, named as torch's state_dict names them so its weights load
 * by name: weight_ih_l{k} [G hidden, I_k], weight_hh_l{k} [G hidden, hidden], bias_ih_l{k},
 * bias_hh_l{k} [G hidden] (G = 4 LSTM, 3 GRU, 1 RNN). Init as torch: every one U(±1/sqrt(hidden)).
 *
 * stateful = true (Keras's name): the final states of a batch are the initial states of the
 * next (detached: truncated back-propagation through time), kept by the model until
 * cx_model_reset_states or a batch of another size.
 * Reference: https://pytorch.org/docs/1.13/generated/torch.nn.LSTM.html
 */
#include "nn/layer.h"

#include <math.h>

#define MAX_LAYERS 8 /* CX_LAYER_MAX_PARAMS / 4 */

typedef struct {
    int64_t hidden, layers;
    bool return_sequences, batch_first, bias, stateful;
    int nonlinearity; /* rnn: 0 tanh, 1 relu */
} recurrent_args;

static const recurrent_args recurrent_defaults = {.layers = 1, .batch_first = true, .bias = true};

static const char *const nonlinearities[] = {"tanh", "relu", NULL};

#define RECURRENT_KEYS                                                                         \
    CX_KEY("hidden", CX_KEY_INT, recurrent_args, hidden, .required = true, .min = 1,           \
           .max = 1 << 20),                                                                    \
        CX_KEY("layers", CX_KEY_INT, recurrent_args, layers, .min = 1, .max = MAX_LAYERS),     \
        CX_KEY("return_sequences", CX_KEY_BOOL, recurrent_args, return_sequences),             \
        CX_KEY("batch_first", CX_KEY_BOOL, recurrent_args, batch_first),                       \
        CX_KEY("bias", CX_KEY_BOOL, recurrent_args, bias),                                     \
        CX_KEY("stateful", CX_KEY_BOOL, recurrent_args, stateful)

static const cx_layer_key gated_keys[] = {RECURRENT_KEYS, CX_KEY_END};
static const cx_layer_key rnn_keys[] = {
    RECURRENT_KEYS,
    CX_KEY("nonlinearity", CX_KEY_ENUM, recurrent_args, nonlinearity, .choices = nonlinearities),
    CX_KEY_END,
};

static const char *const param_names[MAX_LAYERS][4] = {
#define NAMES(k) {"weight_ih_l" #k, "weight_hh_l" #k, "bias_ih_l" #k, "bias_hh_l" #k}
    NAMES(0), NAMES(1), NAMES(2), NAMES(3), NAMES(4), NAMES(5), NAMES(6), NAMES(7),
#undef NAMES
};

static int64_t gates_of(const cx_layer_kind *kind) {
    return kind == &cx_layer_lstm ? 4 : kind == &cx_layer_gru ? 3 : 1;
}

static cx_status build(cx_layer_build *b, const cx_layer_kind *kind) {
    const recurrent_args *a = b->args;
    if (a->hidden < 1 || a->hidden > 1 << 20 || a->layers < 1 || a->layers > MAX_LAYERS)
        return cx__error(CX_ERR_ARG, "hidden = %lld, layers = %lld: hidden must be 1 to %d and "
                         "layers 1 to %d", (long long)a->hidden, (long long)a->layers, 1 << 20,
                         MAX_LAYERS);
    if (!a->batch_first)
        return cx__error(CX_ERR_ARG, "batch_first = false: a model's batch is its first "
                         "dimension, so its recurrent layers read [N, T, features] (call "
                         "cx_%s for time-major data)", kind->name);
    if (b->in_ndim != 2)
        return cx__error(CX_ERR_SHAPE, "expects sequence samples [T, features] (a batch [N, T, "
                         "features]), got %d dimensions per sample", b->in_ndim);
    int64_t G = gates_of(kind), H = a->hidden, in = b->in_shape[1];
    b->out_ndim = a->return_sequences ? 2 : 1;
    b->out_shape[0] = a->return_sequences ? b->in_shape[0] : H;
    b->out_shape[1] = H;
    int p = 0;
    for (int64_t k = 0; k < a->layers; k++) {
        cx__build_param(b, p++, param_names[k][0], 2, (const int64_t[]){G * H, k ? H : in});
        cx__build_param(b, p++, param_names[k][1], 2, (const int64_t[]){G * H, H});
        if (!a->bias) continue;
        cx__build_param(b, p++, param_names[k][2], 1, (const int64_t[]){G * H});
        cx__build_param(b, p++, param_names[k][3], 1, (const int64_t[]){G * H});
    }
    return CX_OK;
}

static cx_status lstm_build(cx_layer_build *b) { return build(b, &cx_layer_lstm); }
static cx_status gru_build(cx_layer_build *b) { return build(b, &cx_layer_gru); }
static cx_status rnn_build(cx_layer_build *b) { return build(b, &cx_layer_rnn); }

static void recurrent_init(const cx_layer *l, cx_tensor *const *params, cx_rng *rng) {
    double bound = 1.0 / sqrt((double)((const recurrent_args *)l->args)->hidden);
    for (int p = 0; p < l->n_params; p++) cx__init_uniform(params[p], -bound, bound, rng);
}

static cx_tensor *recurrent_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    const recurrent_args *a = (const recurrent_args *)l->args;
    int64_t L = a->layers, H = a->hidden, N = x->shape[0];
    bool lstm = l->kind == &cx_layer_lstm;
    cx_tensor *w[4 * MAX_LAYERS] = {0};
    for (int64_t k = 0, p = 0; k < L; k++) {
        w[4 * k] = run->params[p++];
        w[4 * k + 1] = run->params[p++];
        if (a->bias) {
            w[4 * k + 2] = run->params[p++];
            w[4 * k + 3] = run->params[p++];
        }
    }
    /* carried state [S, L, N, H]: h (and c) of the last batch, as views */
    cx_tensor *state = NULL, *h0 = NULL, *c0 = NULL;
    const int64_t st_shape[3] = {L, N, H}, st_stride[3] = {N * H, H, 1};
    if (a->stateful) {
        state = cx__layer_state(run, 4, (const int64_t[]){lstm ? 2 : 1, L, N, H});
        h0 = state ? cx__tensor_view(state, 3, st_shape, st_stride, 0) : NULL;
        c0 = h0 && lstm ? cx__tensor_view(state, 3, st_shape, st_stride, L * N * H) : NULL;
        if (!h0 || (lstm && !c0)) {
            cx_tensor_free(h0);
            return NULL;
        }
    }
    cx_rnn_params p = {.num_layers = L, .batch_first = true, .relu = a->nonlinearity == 1};
    cx_tensor *hn = NULL, *cn = NULL;
    cx_tensor **want_h = a->stateful || !a->return_sequences ? &hn : NULL;
    cx_tensor **want_c = a->stateful && lstm ? &cn : NULL;
    cx_tensor *y = lstm ? cx_lstm(x, h0, c0, w, &p, want_h, want_c)
                   : l->kind == &cx_layer_gru ? cx_gru(x, h0, w, &p, want_h)
                                              : cx_rnn(x, h0, w, &p, want_h);
    cx_tensor_free(h0);
    cx_tensor_free(c0);
    if (y && state) { /* the op copied h0 and c0: overwriting them now is safe */
        size_t bytes = (size_t)(L * N * H) * sizeof(float);
        cx_tensor_copy_to(hn, cx__f32(state), bytes);
        if (cn) cx_tensor_copy_to(cn, cx__f32(state) + L * N * H, bytes);
    }
    cx_tensor_free(cn);
    if (!y || a->return_sequences) {
        cx_tensor_free(hn);
        return y;
    }
    /* the last step of the last layer: h_n[L - 1] */
    cx_tensor_free(y);
    cx_tensor *last = cx_slice(hn, 0, L - 1, L, 1);
    cx_tensor *out = last ? cx_reshape(last, CX_SHAPE(N, H)) : NULL;
    cx_tensor_free(last);
    cx_tensor_free(hn);
    return out;
}

CX_LAYER_DEFINE(lstm, recurrent_args, .title = "LSTM", .defaults = &recurrent_defaults,
                .keys = gated_keys, .any_length = true, .build = lstm_build,
                .init = recurrent_init, .forward = recurrent_forward);
CX_LAYER_DEFINE(gru, recurrent_args, .title = "GRU", .defaults = &recurrent_defaults,
                .keys = gated_keys, .any_length = true, .build = gru_build,
                .init = recurrent_init, .forward = recurrent_forward);
CX_LAYER_DEFINE(rnn, recurrent_args, .title = "RNN", .defaults = &recurrent_defaults,
                .keys = rnn_keys, .any_length = true, .build = rnn_build,
                .init = recurrent_init, .forward = recurrent_forward);
