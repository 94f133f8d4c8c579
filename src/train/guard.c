/*
 * guard.c - the numeric guard of the training loops (cx_fit, cx_text_train): a NaN or an
 * infinity in the loss, a gradient or a weight stops training with CX_ERR_NUMERIC and a
 * message that says when (the caller's "fit: epoch 3 step 17") and where it came from: the
 * parameter and layer of the first bad gradient, or for a bad loss a weight that already
 * holds one, the batch itself, or the op and layer found by re-running the batch with anomaly
 * detection (anomaly.c). The checks are one vectorised pass over the flat vectors per step.
 */
#include "train/train_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Index of the first parameter whose gradient (grads) or value holds a NaN or an infinity,
 * or -1: the flat vector first, the tensors only when it has one. */
static int bad_param(cx_model *m, bool grads) {
    float *flat = grads ? cx_model_grads_flat(m) : cx_model_params_flat(m);
    if (!flat || cx__first_nonfinite(flat, cx_model_num_params(m)) < 0) return -1;
    for (int i = 0; i < cx_model_num_param_tensors(m); i++) {
        cx_tensor *t = cx_model_param(m, i);
        cx_tensor *g = grads ? cx_tensor_grad(t) : t;
        if (g && cx__first_nonfinite(cx__f32(g), cx_tensor_numel(g)) >= 0) return i;
    }
    return -1;
}

/* "1.weight (layer 1, dense)" for parameter i. */
static void param_where(cx_model *m, int i, char *buf, size_t size) {
    const char *name = cx_model_param_name(m, i);
    int layer = atoi(name);
    snprintf(buf, size, "%s (layer %d, %s)", name, layer, cx_model_layer_kind(m, layer));
}

/* Why the loss of batch x came out NaN or infinite. */
static void diagnose_loss(cx_model *m, cx_tensor *x, cx_tensor *target, char *why,
                          size_t size) {
    char at[128];
    int p = bad_param(m, false);
    if (p >= 0) {
        param_where(m, p, at, sizeof at);
        snprintf(why, size, "parameter %s holds NaN or inf", at);
        return;
    }
    int64_t bad = cx_tensor_dtype(x) == CX_DTYPE_F32
                      ? cx__first_nonfinite(cx_tensor_f32(x), cx_tensor_numel(x)) : -1;
    if (bad >= 0) {
        snprintf(why, size, "the input batch holds NaN or inf (sample %lld of the batch)",
                 (long long)(bad / (cx_tensor_numel(x) / cx_tensor_dim(x, 0))));
        return;
    }
    bool was = cx_detect_anomaly();
    cx_set_detect_anomaly(true);
    cx_no_grad_begin();
    cx_tensor *loss = cx_model_loss(m, x, target, NULL);
    cx_no_grad_end();
    cx_set_detect_anomaly(was);
    if (loss) snprintf(why, size, "no op gives it again on a re-run (dropout?)");
    else snprintf(why, size, "%s", cx_last_error());
    cx_tensor_free(loss);
    cx_clear_error();
}

cx_status cx__guard_loss(cx_model *m, const char *who, float loss, cx_tensor *x,
                         cx_tensor *target) {
    if (isfinite(loss)) return CX_OK;
    char why[400];
    diagnose_loss(m, x, target, why, sizeof why);
    return cx__error(CX_ERR_NUMERIC, "%s: the loss is %s: %s; " CX_GUARD_STOPPED " (lower the "
                     "learning rate, or clip gradients)", who, isnan(loss) ? "NaN" : "infinite",
                     why);
}

/* The error for the first parameter whose gradient (grads) or value is not finite. */
static cx_status param_error(cx_model *m, const char *who, bool grads) {
    int p = bad_param(m, grads);
    if (p < 0) return CX_OK;
    char at[128];
    param_where(m, p, at, sizeof at);
    return cx__error(CX_ERR_NUMERIC, grads ? "%s: the gradient of %s is NaN or infinite; "
                     CX_GUARD_STOPPED " (lower the learning rate, or find the op with anomaly "
                     "detection: --detect-anomaly)"
                     : "%s: parameter %s became NaN or infinite in the last step; "
                     CX_GUARD_STOPPED " (lower the learning rate)", who, at);
}

cx_status cx__guard_grads(cx_model *m, const char *who) { return param_error(m, who, true); }
cx_status cx__guard_weights(cx_model *m, const char *who) { return param_error(m, who, false); }

cx_status cx__guard_error(const char *who) {
    cx_status st = cx_last_status();
    /* the guard's own messages say when already; anomaly detection's do not */
    if (st == CX_ERR_NUMERIC && strncmp(cx_last_error(), who, strlen(who)) != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", cx_last_error());
        cx__error(st, "%s: %s; " CX_GUARD_STOPPED, who, why);
    }
    return st;
}
