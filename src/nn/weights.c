/*
 * weights.c - cx_model_load_weights: every parameter copied from a safetensors file by its
 * state_dict name, so weights saved from the same torch nn.Sequential load directly, and the
 * buffers (batch norm's running statistics) with them. Tensors in the file that the model
 * does not have (optimizer state, metadata, BatchNorm's num_batches_tracked) are ignored.
 */
#include "nn/layer.h"

#include <string.h>

/* Copies the tensor called name from f into p (f32, same shape). */
static cx_status load_one(const cx_safetensors *f, const char *name, cx_tensor *p) {
    char want[CX_SHAPE_STR_MAX], got[CX_SHAPE_STR_MAX];
    cx__shape_str(p->ndim, p->shape, want, sizeof want);
    if (!cx_safetensors_has(f, name))
        return cx__error(CX_ERR_FORMAT,
                         "cx_model_load_weights: the file has no tensor "
                         "\"%s\" (the model's %s)",
                         name, want);
    cx_tensor *t = cx_safetensors_get(f, name);
    if (!t) return cx_last_status();
    bool same = t->dtype == CX_DTYPE_F32 && t->ndim == p->ndim &&
                memcmp(t->shape, p->shape, (size_t)p->ndim * sizeof *p->shape) == 0;
    if (!same) {
        cx__shape_str(t->ndim, t->shape, got, sizeof got);
        cx_status st = cx__error(CX_ERR_SHAPE,
                                 "cx_model_load_weights: \"%s\" is %s %s in "
                                 "the file, the model has f32 %s",
                                 name, cx_dtype_name(t->dtype), got, want);
        cx_tensor_free(t);
        return st;
    }
    cx__memcpy(cx__f32(p), cx__f32(t), (size_t)cx__numel(p->ndim, p->shape) * sizeof(float));
    cx_tensor_free(t);
    return CX_OK;
}

cx_status cx__model_load_weights_prefixed(cx_model *m, const cx_safetensors *f,
                                          const char *prefix) {
    if (!m || !f)
        return cx__error(CX_ERR_ARG, "cx_model_load_weights: %s is NULL", m ? "file" : "model");
    if (cx__model_shapes_only(m))
        return cx__error(CX_ERR_UNSUPPORTED, "cx_model_load_weights: the model was built for "
                         "its shapes only and has no parameters to load into");
    cx_status st = CX_OK;
    char name[512];
    for (int i = 0; st == CX_OK && i < cx_model_num_param_tensors(m) + cx_model_num_buffers(m);
         i++) {
        int np = cx_model_num_param_tensors(m);
        const char *own = i < np ? cx_model_param_name(m, i) : cx_model_buffer_name(m, i - np);
        snprintf(name, sizeof name, "%s%s", prefix, own);
        st = load_one(f, name, i < np ? cx_model_param(m, i) : cx_model_buffer(m, i - np));
    }
    return st;
}

cx_status cx_model_load_weights(cx_model *m, const cx_safetensors *f) {
    return cx__model_load_weights_prefixed(m, f, "");
}
