/*
 * summary.c - cx_model_summary: a Keras-style table of the layers, their output shapes (batch
 * shown as None) and parameter counts, then the totals with thousands separators.
 */
#include "nn/layer.h"

#include <string.h>

#define RULE_WIDTH 65

/* 669706 -> "669,706" */
static char *thousands(int64_t v, char *buf, size_t size) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)v), len = 0;
    for (int i = 0; i < n && (size_t)len + 2 < size; i++) {
        if (i && digits[i - 1] != '-' && (n - i) % 3 == 0) buf[len++] = ',';
        buf[len++] = digits[i];
    }
    buf[len] = '\0';
    return buf;
}

/* [512] -> "(None, 512)" */
static char *none_shape(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t len = (size_t)snprintf(buf, size, "(None");
    for (int d = 0; d < ndim && len < size; d++)
        len += (size_t)snprintf(buf + len, size - len, ", %lld", (long long)shape[d]);
    if (len < size) snprintf(buf + len, size - len, ")");
    return buf;
}

static void rule(FILE *out, char c) {
    for (int i = 0; i < RULE_WIDTH; i++)
        fputc(c, out);
    fputc('\n', out);
}

cx_status cx_model_summary(const cx_model *m, FILE *out) {
    if (!m || !out)
        return cx__error(CX_ERR_ARG, "cx_model_summary: %s is NULL", m ? "out" : "model");
    char shape[CX_SHAPE_STR_MAX + 16], count[32], name[64];
    int64_t in[CX_MAX_DIMS];
    int in_ndim = cx_model_input_shape(m, in);
    fprintf(out, "Model: \"sequential\"  input %s\n", none_shape(in_ndim, in, shape, sizeof shape));
    rule(out, '_');
    fprintf(out, " %-28s%-26s%s\n", "Layer (type)", "Output Shape", "Param #");
    rule(out, '=');
    for (int i = 0; i < cx_model_num_layers(m); i++) {
        const cx_layer *l = cx__model_layer(m, i);
        snprintf(name, sizeof name, "%d (%s)", i, l->kind->title);
        fprintf(out, " %-28s%-26s%s\n", name,
                none_shape(l->out_ndim, l->out_shape, shape, sizeof shape),
                thousands(cx_model_layer_num_params(m, i), count, sizeof count));
    }
    rule(out, '=');
    int64_t total = cx_model_num_params(m), trainable = cx__model_trainable_numel(m);
    fprintf(out, "Total params: %s\n", thousands(total, count, sizeof count));
    fprintf(out, "Trainable params: %s\n", thousands(trainable, count, sizeof count));
    fprintf(out, "Non-trainable params: %s\n", thousands(total - trainable, count, sizeof count));
    rule(out, '_');
    return ferror(out) ? cx__error(CX_ERR_IO, "cx_model_summary: writing failed") : CX_OK;
}
