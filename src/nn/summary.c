/*
 * summary.c - cx_model_summary: a Keras-style table of the layers, their output shapes (batch
 * shown as None) and parameter counts, then the totals with thousands separators. In a graph,
 * a layer that reads other layers than the one before it says which ("<- 3, stem"), as
 * Keras's "Connected to" column; the references come from its kind's layer keys.
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
        len += (size_t)(shape[d] ? snprintf(buf + len, size - len, ", %lld", (long long)shape[d])
                                 : snprintf(buf + len, size - len, ", None"));
    if (len < size) snprintf(buf + len, size - len, ")");
    return buf;
}

/* The layers l reads, into refs, when that is more than the layer before it (else 0): its
 * input unless it is a [concat] (which reads only its list), then its kind's references. */
static int layer_inputs(const cx_layer *l, int64_t *refs) {
    int n = 0;
    bool own_input = true;
    for (const cx_layer_key *k = l->kind->keys; k && k->name; k++)
        if (k->type == CX_KEY_LAYERS) own_input = false;
    if (own_input) refs[n++] = l->input;
    for (const cx_layer_key *k = l->kind->keys; k && k->name; k++) {
        const void *v = l->args + k->offset;
        if (k->type == CX_KEY_LAYER) refs[n++] = *(const int64_t *)v;
        for (int i = 0; k->type == CX_KEY_LAYERS && i < ((const cx_layer_refs *)v)->n; i++)
            refs[n++] = ((const cx_layer_refs *)v)->layer[i];
    }
    return n == 1 && own_input && l->input == l->index - 1 ? 0 : n;
}

/* "<- 3, stem, input": names where the layers have them. */
static void put_inputs(FILE *out, const cx_model *m, const int64_t *refs, int n) {
    fprintf(out, "<- ");
    for (int i = 0; i < n; i++) {
        const char *name = refs[i] >= 0 ? cx_model_layer_name(m, (int)refs[i]) : "input";
        if (name[0])
            fprintf(out, "%s%s", i ? ", " : "", name);
        else
            fprintf(out, "%s%lld", i ? ", " : "", (long long)refs[i]);
    }
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
        snprintf(name, sizeof name, "%d (%s)", i,
                 l->kind->title_of ? l->kind->title_of(l) : l->kind->title);
        int64_t refs[1 + CX_LAYER_MAX_REFS];
        int n = layer_inputs(l, refs);
        fprintf(out, n ? " %-28s%-26s%-12s" : " %-28s%-26s%s", name,
                none_shape(l->out_ndim, l->out_shape, shape, sizeof shape),
                thousands(cx_model_layer_num_params(m, i), count, sizeof count));
        if (n) put_inputs(out, m, refs, n);
        fputc('\n', out);
    }
    rule(out, '=');
    int64_t total = cx_model_num_params(m), trainable = cx__model_trainable_numel(m);
    fprintf(out, "Total params: %s\n", thousands(total, count, sizeof count));
    fprintf(out, "Trainable params: %s\n", thousands(trainable, count, sizeof count));
    fprintf(out, "Non-trainable params: %s\n", thousands(total - trainable, count, sizeof count));
    rule(out, '_');
    return ferror(out) ? cx__error(CX_ERR_IO, "cx_model_summary: writing failed") : CX_OK;
}
