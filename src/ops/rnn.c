/*
 * rnn.c - recurrent layers as fused ops: cx_rnn (Elman, tanh or ReLU), cx_lstm and cx_gru, as
 * torch.nn.RNN / LSTM / GRU (unidirectional, without inter-layer dropout).
 *
 * Each layer of a stack is one op over the whole sequence (kernels in src/backend/cpu/rnn.c):
 * forward keeps the activated gates, backward runs BPTT for all steps at once. A layer's op
 * returns one packed tensor [T + S, N, H]: the outputs of the T steps, then the final hidden
 * state and (LSTM) the final cell state. The public functions hand out views of it (slices),
 * so a loss on the outputs, on the final states or on both back-propagates through one node.
 *
 * Inputs of a layer's node, always present (zeros stand in for a missing initial state or
 * bias): x [T, N, I], h0 [N, H], c0 [N, H] (LSTM), w_ih [K H, I], w_hh [K H, H], b_ih, b_hh
 * [K H]. The node saves the gates (and per cell c_t, tanh c_t or GRU's hn_t) and a copy of h0
 * and c0, so a caller may overwrite its state tensors after forward (carried state).
 */
#include "cortex_impl.h"

#include <string.h>

#define MAX_LAYERS 64

static const char *cell_name(cx_cell_kind kind) {
    return kind == CX_CELL_LSTM ? "lstm" : kind == CX_CELL_GRU ? "gru" : "rnn";
}

static const cx_op *cell_op(cx_cell_kind kind) {
    return kind == CX_CELL_LSTM ? &cx_op_lstm : kind == CX_CELL_GRU ? &cx_op_gru : &cx_op_rnn;
}

/* Shape checks of one layer: x [T, N, I] (T, N >= 1), weights and biases of hidden size H,
 * states [N, H]. */
static bool layer_check(cx_cell_kind kind, int layer, cx_tensor *const *in) {
    const char *op = cell_name(kind);
    cx_tensor *x = in[0], *w_ih = in[3], *w_hh = in[4];
    int64_t K = cx__rnn_gates(kind);
    char sx[CX_SHAPE_STR_MAX], sw[CX_SHAPE_STR_MAX], sh[CX_SHAPE_STR_MAX];
    cx__shape_str(x->ndim, x->shape, sx, sizeof sx);
    if (w_ih->ndim != 2 || w_hh->ndim != 2 || w_hh->shape[0] % K || w_hh->shape[0] == 0 ||
        w_hh->shape[1] * K != w_hh->shape[0]) {
        cx__error(CX_ERR_SHAPE, "%s: layer %d: weight_hh %s must be [%lld H, H] and weight_ih "
                  "%s [%lld H, input size]", op, layer,
                  cx__shape_str(w_hh->ndim, w_hh->shape, sh, sizeof sh), (long long)K,
                  cx__shape_str(w_ih->ndim, w_ih->shape, sw, sizeof sw), (long long)K);
        return false;
    }
    int64_t H = w_hh->shape[1];
    cx__shape_str(w_ih->ndim, w_ih->shape, sw, sizeof sw);
    if (w_ih->shape[0] != K * H || w_ih->shape[1] != x->shape[2]) {
        cx__error(CX_ERR_SHAPE, "%s: layer %d: input %s has %lld features per step, weight_ih "
                  "%s must be [%lld, %lld]", op, layer, sx, (long long)x->shape[2], sw,
                  (long long)(K * H), (long long)x->shape[2]);
        return false;
    }
    for (int b = 5; b < 7; b++) {
        cx_tensor *t = in[b];
        if (t->ndim != 1 || t->shape[0] != K * H) {
            cx__error(CX_ERR_SHAPE, "%s: layer %d: %s %s must be [%lld]", op, layer,
                      b == 5 ? "bias_ih" : "bias_hh", cx__shape_str(t->ndim, t->shape, sh, sizeof sh),
                      (long long)(K * H));
            return false;
        }
    }
    for (int s = 1; s < (kind == CX_CELL_LSTM ? 3 : 2); s++) {
        cx_tensor *t = in[s];
        if (t->ndim != 2 || t->shape[0] != x->shape[1] || t->shape[1] != H) {
            cx__error(CX_ERR_SHAPE, "%s: layer %d: initial %s state %s must be [%lld, %lld] "
                      "(batch, hidden) for input %s", op, layer, s == 1 ? "hidden" : "cell",
                      cx__shape_str(t->ndim, t->shape, sh, sizeof sh),
                      (long long)x->shape[1], (long long)H, sx);
            return false;
        }
    }
    return true;
}

/* The pass over node inputs in (contiguous) and workspace ws: [gates | extra | h0 | c0]. */
static cx_rnn_pass pass_of(cx_cell_kind kind, cx_tensor *const *in, float *ws, float *y) {
    cx_tensor *x = in[0];
    cx_rnn_pass p = {.kind = kind, .T = x->shape[0], .N = x->shape[1], .I = x->shape[2],
                     .H = in[4]->shape[1]};
    int64_t KH = cx__rnn_gates(kind) * p.H, EH = cx__rnn_extra(kind) * p.H;
    p.x = cx__f32(x);
    p.w_ih = cx__f32(in[3]);
    p.w_hh = cx__f32(in[4]);
    p.b_ih = cx__f32(in[5]);
    p.b_hh = cx__f32(in[6]);
    p.gates = ws;
    p.extra = EH ? ws + p.T * p.N * KH : NULL;
    float *h0 = ws + p.T * p.N * (KH + EH);
    p.h0 = h0;
    p.c0 = h0 + p.N * p.H;
    p.y = y;
    return p;
}

/* One layer: in = {x, h0, c0, w_ih, w_hh, b_ih, b_hh} (c0 ignored unless LSTM), each made
 * contiguous here; the packed result [T + S, N, H]. */
static cx_tensor *layer_forward(cx_cell_kind kind, int layer, cx_tensor *const *in) {
    cx_tensor *c[7] = {0};
    cx_tensor *out = NULL, *ws = NULL;
    if (!layer_check(kind, layer, in)) return NULL;
    for (int i = 0; i < 7; i++)
        if (!(c[i] = cx_contiguous(in[i]))) goto done;
    int64_t T = in[0]->shape[0], N = in[0]->shape[1], H = in[4]->shape[1];
    int64_t KH = cx__rnn_gates(kind) * H, EH = cx__rnn_extra(kind) * H;
    int64_t S = kind == CX_CELL_LSTM ? 2 : 1;
    out = cx__tensor_empty(CX_DTYPE_F32, 3, (const int64_t[]){T + S, N, H});
    ws = out ? cx__tensor_empty(CX_DTYPE_F32, 1,
                                (const int64_t[]){T * N * (KH + EH) + 2 * N * H})
             : NULL;
    float *scratch = ws && kind == CX_CELL_GRU ? cx__temp_alloc((size_t)(N * KH) * 4) : NULL;
    if (!ws || (kind == CX_CELL_GRU && !scratch)) {
        cx_tensor_free(out);
        out = NULL;
        goto done;
    }
    float *y = cx__f32(out);
    cx_rnn_pass p = pass_of(kind, c, cx__f32(ws), y);
    p.scratch = scratch;
    memcpy((float *)p.h0, cx__f32(c[1]), (size_t)(N * H) * 4);
    if (kind == CX_CELL_LSTM) memcpy((float *)p.c0, cx__f32(c[2]), (size_t)(N * H) * 4);
    else memset((float *)p.c0, 0, (size_t)(N * H) * 4);
    bool ran = cx__rnn_forward(&p);
    cx__temp_free(scratch);
    if (!ran) {
        cx_tensor_free(out);
        out = NULL;
        goto done;
    }
    /* h_n = y_{T-1}; LSTM's c_n = c_{T-1}, the first H of each extra row */
    memcpy(y + T * N * H, y + (T - 1) * N * H, (size_t)(N * H) * 4);
    if (kind == CX_CELL_LSTM)
        for (int64_t n = 0; n < N; n++)
            memcpy(y + ((T + 1) * N + n) * H, p.extra + ((T - 1) * N + n) * EH, (size_t)H * 4);
    out = cx__finish(out, cell_op(kind), 7, c);
    if (out && out->node) {
        out->node->i[0] = kind;
        out->node->saved = ws; /* the node takes our reference */
        ws = NULL;
    }
done:
    cx_tensor_free(ws);
    for (int i = 0; i < 7; i++) cx_tensor_free(c[i]);
    return out;
}

/* BPTT over the whole sequence; gout [T + S, N, H] holds the gradients of the outputs, then of
 * h_n (and c_n). */
static cx_status layer_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_cell_kind kind = (cx_cell_kind)node->i[0];
    cx_tensor *const *in = node->in;
    cx_rnn_pass p = pass_of(kind, in, cx__f32(node->saved), cx__f32(out));
    int64_t TNH = p.T * p.N * p.H;
    cx_rnn_grads d = {.gy = gout, .ghn = gout + TNH,
                      .gcn = kind == CX_CELL_LSTM ? gout + TNH + p.N * p.H : NULL};
    float **dst[7] = {&d.dx, &d.dh0, &d.dc0, &d.dw_ih, &d.dw_hh, &d.db_ih, &d.db_hh};
    for (int i = 0; i < 7; i++) {
        if (!cx__needs_grad(in[i]) || (i == 2 && kind != CX_CELL_LSTM)) continue;
        if (!(*dst[i] = cx__grad(in[i]))) return cx_last_status();
    }
    return cx__rnn_backward(&p, &d) ? CX_OK : cx_last_status();
}

/* ---- the stack ---- */

/* x [T, N, I] time-major; weights 4 per layer; h0/c0 [L, N, H] or NULL. */
static cx_tensor *run_stack(cx_cell_kind kind, cx_tensor *x, cx_tensor *h0, cx_tensor *c0,
                            cx_tensor *const *weights, const cx_rnn_params *params,
                            cx_tensor **h_n, cx_tensor **c_n) {
    const char *op = cell_name(kind);
    if (h_n) *h_n = NULL;
    if (c_n) *c_n = NULL;
    if (!cx__check_f32(op, "x", x) || (h0 && !cx__check_f32(op, "h0", h0)) ||
        (c0 && !cx__check_f32(op, "c0", c0)))
        return NULL;
    cx_rnn_params pr = params ? *params : (cx_rnn_params){0};
    int64_t L = pr.num_layers ? pr.num_layers : 1;
    if (L < 1 || L > MAX_LAYERS) {
        cx__error(CX_ERR_ARG, "%s: num_layers = %lld; must be 1 to %d", op,
                  (long long)pr.num_layers, MAX_LAYERS);
        return NULL;
    }
    if (!weights) {
        cx__error(CX_ERR_ARG, "%s: weights is NULL (4 per layer: weight_ih, weight_hh, "
                  "bias_ih, bias_hh)", op);
        return NULL;
    }
    for (int64_t k = 0; k < 4 * L; k++) {
        static const char *const names[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
        char what[32];
        snprintf(what, sizeof what, "%s_l%lld", names[k % 4], (long long)(k / 4));
        if ((k % 4 < 2 || weights[k]) && !cx__check_f32(op, what, weights[k])) return NULL;
    }
    char sx[CX_SHAPE_STR_MAX], ss[CX_SHAPE_STR_MAX];
    cx__shape_str(x->ndim, x->shape, sx, sizeof sx);
    if (x->ndim != 3 || x->shape[0] < 1 || x->shape[1] < 1) {
        cx__error(CX_ERR_SHAPE, "%s: input %s must be %s with at least one step and one "
                  "sequence", op, sx, pr.batch_first ? "[N, T, features]" : "[T, N, features]");
        return NULL;
    }
    int64_t N = x->shape[pr.batch_first ? 0 : 1], H = weights[1]->shape[weights[1]->ndim - 1];
    for (int s = 0; s < 2; s++) {
        cx_tensor *st = s ? c0 : h0;
        if (!st || (s && kind != CX_CELL_LSTM)) continue;
        if (st->ndim != 3 || st->shape[0] != L || st->shape[1] != N || st->shape[2] != H) {
            cx__error(CX_ERR_SHAPE, "%s: %s %s must be [%lld, %lld, %lld] (layers, batch, "
                      "hidden) for input %s", op, s ? "c0" : "h0",
                      cx__shape_str(st->ndim, st->shape, ss, sizeof ss), (long long)L,
                      (long long)N, (long long)H, sx);
            return NULL;
        }
    }
    cx_tensor *h = pr.batch_first ? cx_transpose(x, 0, 1) : (cx__tensor_retain(x), x);
    cx_tensor *finals[2][MAX_LAYERS] = {{0}};
    cx_tensor *zeros = h ? cx_zeros(CX_SHAPE(h->shape[1], H)) : NULL;
    cx_tensor *zero_bias = NULL;
    int64_t S = kind == CX_CELL_LSTM ? 2 : 1, T = h ? h->shape[0] : 0;
    bool ok = zeros != NULL;
    for (int64_t l = 0; ok && l < L; l++) {
        cx_tensor *in[7] = {h, zeros, zeros, weights[4 * l], weights[4 * l + 1],
                            weights[4 * l + 2], weights[4 * l + 3]};
        cx_tensor *st[2] = {0};
        for (int s = 0; s < 2; s++) {
            cx_tensor *src = s ? c0 : h0;
            if (!src || (s && kind != CX_CELL_LSTM)) continue;
            cx_tensor *sl = cx_slice(src, 0, l, l + 1, 1);
            st[s] = cx_reshape(sl, CX_SHAPE(N, H));
            cx_tensor_free(sl);
            if (!(in[1 + s] = st[s])) ok = false;
        }
        for (int b = 5; ok && b < 7; b++) {
            if (in[b]) continue;
            int64_t kh = weights[4 * l + 1]->shape[0];
            if (!zero_bias || zero_bias->shape[0] != kh) {
                cx_tensor_free(zero_bias);
                if (!(zero_bias = cx_zeros(1, &kh))) ok = false;
            }
            in[b] = zero_bias;
        }
        cx_tensor *packed = ok ? layer_forward(kind, (int)l, in) : NULL;
        cx_tensor_free(st[0]);
        cx_tensor_free(st[1]);
        cx_tensor_free(h);
        h = NULL;
        if (!packed) {
            ok = false;
            break;
        }
        h = cx_slice(packed, 0, 0, T, 1);
        for (int s = 0; s < S; s++) finals[s][l] = cx_slice(packed, 0, T + s, T + s + 1, 1);
        cx_tensor_free(packed);
        ok = h && finals[0][l] && (S < 2 || finals[1][l]);
    }
    cx_tensor_free(zeros);
    cx_tensor_free(zero_bias);
    cx_tensor **wanted[2] = {h_n, kind == CX_CELL_LSTM ? c_n : NULL};
    for (int s = 0; s < S; s++) {
        if (ok && wanted[s])
            ok = (*wanted[s] = L == 1 ? (cx__tensor_retain(finals[s][0]), finals[s][0])
                                      : cx_concat(finals[s], (int)L, 0)) != NULL;
        for (int64_t l = 0; l < L; l++) cx_tensor_free(finals[s][l]);
    }
    cx_tensor *y = ok && pr.batch_first ? cx_transpose(h, 0, 1) : NULL;
    if (ok && pr.batch_first) {
        cx_tensor_free(h);
        h = y;
        ok = h != NULL;
    }
    if (!ok) {
        cx_tensor_free(h);
        for (int s = 0; s < 2; s++)
            if (wanted[s] && *wanted[s]) {
                cx_tensor_free(*wanted[s]);
                *wanted[s] = NULL;
            }
        return NULL;
    }
    return h;
}

cx_tensor *cx_rnn(cx_tensor *x, cx_tensor *h0, cx_tensor *const *weights,
                  const cx_rnn_params *params, cx_tensor **h_n) {
    bool relu = params && params->relu;
    return run_stack(relu ? CX_CELL_RNN_RELU : CX_CELL_RNN_TANH, x, h0, NULL, weights, params,
                     h_n, NULL);
}

cx_tensor *cx_lstm(cx_tensor *x, cx_tensor *h0, cx_tensor *c0, cx_tensor *const *weights,
                   const cx_rnn_params *params, cx_tensor **h_n, cx_tensor **c_n) {
    return run_stack(CX_CELL_LSTM, x, h0, c0, weights, params, h_n, c_n);
}

cx_tensor *cx_gru(cx_tensor *x, cx_tensor *h0, cx_tensor *const *weights,
                  const cx_rnn_params *params, cx_tensor **h_n) {
    return run_stack(CX_CELL_GRU, x, h0, NULL, weights, params, h_n, NULL);
}

/* ---- test rows: one layer, the outputs and final states packed as [T + S, N, H] ---- */

static cx_tensor *packed(cx_tensor *y, cx_tensor *hn, cx_tensor *cn) {
    cx_tensor *parts[3] = {y, hn, cn};
    cx_tensor *out = y && hn ? cx_concat(parts, cn ? 3 : 2, 0) : NULL;
    cx_tensor_free(y);
    cx_tensor_free(hn);
    cx_tensor_free(cn);
    return out;
}

static cx_tensor *run_lstm(cx_tensor *const *x) {
    cx_tensor *hn = NULL, *cn = NULL;
    cx_tensor *y = cx_lstm(x[0], x[1], x[2], x + 3, NULL, &hn, &cn);
    return packed(y, hn, cn);
}
/* batch_first, zero initial state, no biases: the outputs only */
static cx_tensor *run_lstm_bf(cx_tensor *const *x) {
    return cx_lstm(x[0], NULL, NULL, (cx_tensor *[]){x[1], x[2], NULL, NULL},
                   &(cx_rnn_params){.batch_first = true}, NULL, NULL);
}
static cx_tensor *run_gru(cx_tensor *const *x) {
    cx_tensor *hn = NULL;
    cx_tensor *y = cx_gru(x[0], x[1], x + 2, NULL, &hn);
    return packed(y, hn, NULL);
}
static cx_tensor *run_gru_bf(cx_tensor *const *x) {
    return cx_gru(x[0], NULL, (cx_tensor *[]){x[1], x[2], x[3], x[4]},
                  &(cx_rnn_params){.batch_first = true}, NULL);
}
static cx_tensor *run_rnn_tanh(cx_tensor *const *x) {
    cx_tensor *hn = NULL;
    cx_tensor *y = cx_rnn(x[0], x[1], x + 2, NULL, &hn);
    return packed(y, hn, NULL);
}
static cx_tensor *run_rnn_relu(cx_tensor *const *x) {
    cx_tensor *hn = NULL;
    cx_tensor *y = cx_rnn(x[0], x[1], x + 2, &(cx_rnn_params){.relu = true}, &hn);
    return packed(y, hn, NULL);
}

/* T 5, N 3, I 4, H 6 (the batch splits across threads from N 16: lstm_wide) */
#define STATE CX_IN_RANGE(-0.5f, 0.5f, 1, 3, 6)
#define WEIGHTS(K) CX_IN_RANGE(-0.5f, 0.5f, K * 6, 4), CX_IN_RANGE(-0.5f, 0.5f, K * 6, 6),     \
                   CX_IN_RANGE(-0.5f, 0.5f, K * 6), CX_IN_RANGE(-0.5f, 0.5f, K * 6)

CX_OP_DEFINE(lstm, .backward = layer_backward,
             .tests = (const cx_op_test[]){
                 {.name = "lstm_layer", .run = run_lstm, .n_in = 7,
                  .in = {CX_IN(5, 3, 4), STATE, STATE, WEIGHTS(4)}},
                 {.name = "lstm_wide", .run = run_lstm, .n_in = 7,
                  .in = {CX_IN(3, 17, 2), CX_IN_RANGE(-.5f, .5f, 1, 17, 3),
                         CX_IN_RANGE(-.5f, .5f, 1, 17, 3), CX_IN_RANGE(-.5f, .5f, 12, 2),
                         CX_IN_RANGE(-.5f, .5f, 12, 3), CX_IN_RANGE(-.5f, .5f, 12),
                         CX_IN_RANGE(-.5f, .5f, 12)}},
                 {.name = "lstm_batch_first", .run = run_lstm_bf, .n_in = 3,
                  .in = {CX_IN(3, 5, 4), CX_IN_RANGE(-0.5f, 0.5f, 24, 4),
                         CX_IN_RANGE(-0.5f, 0.5f, 24, 6)}},
                 {.name = NULL}});
CX_OP_DEFINE(gru, .backward = layer_backward,
             .tests = (const cx_op_test[]){
                 {.name = "gru_layer", .run = run_gru, .n_in = 6,
                  .in = {CX_IN(5, 3, 4), STATE, WEIGHTS(3)}},
                 {.name = "gru_batch_first", .run = run_gru_bf, .n_in = 5,
                  .in = {CX_IN(3, 5, 4), WEIGHTS(3)}},
                 {.name = NULL}});
CX_OP_DEFINE(rnn, .backward = layer_backward,
             .tests = (const cx_op_test[]){
                 {.name = "rnn_tanh", .run = run_rnn_tanh, .n_in = 6,
                  .in = {CX_IN(5, 3, 4), STATE, WEIGHTS(1)}},
                 {.name = "rnn_relu", .run = run_rnn_relu, .n_in = 6,
                  .in = {CX_IN(5, 3, 4), STATE, WEIGHTS(1)}},
                 {.name = NULL}});
