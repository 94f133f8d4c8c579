/*
 * anomaly.c - finding where a NaN or an infinity first appears.
 *
 * With anomaly detection on (cx_set_detect_anomaly, `cortex train --detect-anomaly`), every
 * op checks its f32 output when it is made and every backward rule the gradients it wrote;
 * the first non-finite value stops the computation with CX_ERR_NUMERIC naming the op, the
 * element and, for ops run by a model, the layer. Off, the only cost is one flag test per op.
 * The training loops' own guard (src/train/guard.c) uses the scan here to name the
 * parameter whose gradient went bad, and this mode to find the op behind a bad loss.
 */
#include "cortex_impl.h"

#include <math.h>
#include <string.h>

static _Thread_local bool detect;
static _Thread_local int layer_index = -1;
static _Thread_local const char *layer_kind;

void cx_set_detect_anomaly(bool on) { detect = on; }
bool cx_detect_anomaly(void) { return detect; }

void cx__anomaly_set_layer(int index, const char *kind) {
    layer_index = index;
    layer_kind = kind;
}

void cx__anomaly_stamp(cx_node *node) {
    node->layer = layer_index;
    node->layer_kind = layer_kind;
}

int64_t cx__first_nonfinite(const float *p, int64_t n) {
    /* An exponent of all ones is an infinity or a NaN; the OR over a block vectorises, and
     * the element is looked for only once a block has one. */
    const uint32_t *u = (const uint32_t *)p;
    enum { BLOCK = 4096 };
    for (int64_t b = 0; b < n; b += BLOCK) {
        int64_t e = b + BLOCK < n ? b + BLOCK : n;
        uint32_t bad = 0;
        for (int64_t i = b; i < e; i++) bad |= (u[i] & 0x7f800000u) == 0x7f800000u;
        if (bad)
            for (int64_t i = b; i < e; i++)
                if (!isfinite(p[i])) return i;
    }
    return -1;
}

/* "NaN", "+inf" or "-inf" */
static const char *kind_of(float v) { return isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf"; }

/* The first non-finite element of a contiguous f32 tensor, or -1 (others are not looked at:
 * views show values their base was checked for). */
static int64_t tensor_bad(const cx_tensor *t) {
    if (!t || t->dtype != CX_DTYPE_F32 || !cx__is_contiguous(t)) return -1;
    return cx__first_nonfinite(cx__f32(t), cx__numel(t->ndim, t->shape));
}

static void where(char *buf, size_t size, int layer, const char *kind) {
    if (layer >= 0) snprintf(buf, size, " in layer %d (%s)", layer, kind ? kind : "?");
    else buf[0] = '\0';
}

bool cx__anomaly_check_output(const cx_op *op, const cx_tensor *out, int n_in,
                              cx_tensor *const *in) {
    if (!detect) return true;
    int64_t bad = tensor_bad(out);
    if (bad < 0) return true;
    /* (inside a model the layer is named by the model's own message around this one) */
    char shape[CX_SHAPE_STR_MAX], cause[96] = "";
    cx__shape_str(out->ndim, out->shape, shape, sizeof shape);
    for (int i = 0; i < n_in; i++)
        if (in[i] && tensor_bad(in[i]) >= 0) {
            snprintf(cause, sizeof cause, "; its input %d already holds %s (bad data or "
                     "parameters?)", i, kind_of(cx__f32(in[i])[tensor_bad(in[i])]));
            break;
        }
    cx__error(CX_ERR_NUMERIC, "detect-anomaly: %s produced %s at element %lld of its output "
              "%s%s", op->name, kind_of(cx__f32(out)[bad]), (long long)bad, shape, cause);
    return false;
}

cx_status cx__anomaly_check_backward(const cx_node *node) {
    if (!detect) return CX_OK;
    for (int i = 0; i < node->n_in; i++) {
        const cx_tensor *x = node->in[i];
        int64_t bad = x->requires_grad ? tensor_bad(x->grad) : -1;
        if (bad < 0) continue;
        char shape[CX_SHAPE_STR_MAX], at[64];
        cx__shape_str(x->ndim, x->shape, shape, sizeof shape);
        where(at, sizeof at, node->layer, node->layer_kind);
        return cx__error(CX_ERR_NUMERIC, "detect-anomaly: the backward of %s made the gradient "
                         "of its input %d %s %s at element %lld%s", node->op->name, i, shape,
                         kind_of(cx__f32(x->grad)[bad]), (long long)bad, at);
    }
    return CX_OK;
}
