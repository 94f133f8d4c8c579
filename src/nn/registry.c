/*
 * registry.c - every layer kind, from build/gen/layers.def (the Makefile collects the
 * CX_LAYER_DEFINE lines of the files in src/nn, sorted by name), and lookups by name.
 */
#include "nn/layer.h"

#include <string.h>

const cx_layer_kind *const cx__layer_kinds[] = {
#define CX_LAYER(name) &cx_layer_##name,
#include "layers.def"
#undef CX_LAYER
    NULL,
};

const cx_layer_kind *cx__layer_kind_find(const char *name) {
    for (const cx_layer_kind *const *k = cx__layer_kinds; *k; k++)
        if (strcmp((*k)->name, name) == 0) return *k;
    return NULL;
}

const cx_layer_kind *cx__activation_kind(cx_activation act) {
    for (const cx_layer_kind *const *k = cx__layer_kinds; *k; k++)
        if ((*k)->is_activation && (*k)->activation == act) return *k;
    return NULL;
}

char *cx__layer_kind_list(char *buf, size_t size, bool activations_only) {
    size_t len = 0;
    buf[0] = '\0';
    for (const cx_layer_kind *const *k = cx__layer_kinds; *k && len < size; k++)
        if (!activations_only || (*k)->is_activation)
            len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "", (*k)->name);
    return buf;
}
