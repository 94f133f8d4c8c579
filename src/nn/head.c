/*
 * head.c - cx_model_head: the first layers of a model, rebuilt for samples of another size.
 *
 * Convolution, pooling and activation layers work on pictures of any size, but a model is
 * built for one input shape and infers every layer's shape from it. Deep dream, feature
 * visualisation and style transfer run a network's convolutional part on pictures of their
 * own size, so this rebuilds layers 0..last with the same kinds, settings, names, inputs and
 * freezing for the new shape (each layer's build checks that it still fits) and copies the
 * parameters and buffers over. Parameters are laid out layer by layer in one flat vector, so
 * the head's vector is a prefix of the model's.
 */
#include "nn/layer.h" /* defines: cx_layer, cx__model_add_opts */

#include <string.h>

cx_model *cx_model_head(const cx_model *m, int last, int ndim, const int64_t *sample_shape) {
    if (!m) return cx__error(CX_ERR_ARG, "cx_model_head: model is NULL"), NULL;
    int n = cx_model_num_layers(m);
    if (last < 0 || last >= n) {
        cx__error(CX_ERR_ARG, "cx_model_head: layer %d is not in the model (layers 0 to %d)", last,
                  n - 1);
        return NULL;
    }
    if (cx__model_shapes_only(m)) {
        cx__error(CX_ERR_UNSUPPORTED, "cx_model_head: the model was built for its shapes only");
        return NULL;
    }
    int64_t own[CX_MAX_DIMS];
    if (!sample_shape || ndim == 0) {
        ndim = cx_model_input_shape(m, own);
        sample_shape = own;
    }
    cx_model *h = cx_model_new(ndim, sample_shape);
    cx_rng *scratch = cx_rng_new(0); /* the copied weights replace what it draws */
    cx_status st = h && scratch ? CX_OK : CX_ERR_OOM;
    if (st == CX_OK) st = cx_model_set_loss(h, cx_model_get_loss(m));
    if (st == CX_OK) st = cx_model_set_param_names(h, cx_model_get_param_names(m));
    for (int i = 0; st == CX_OK && i <= last; i++) {
        const cx_layer *l = cx__model_layer(m, i);
        cx_layer_opts opts = {.input = l->input, .name = l->name, .frozen = l->frozen};
        st = cx__model_add_opts(h, l->kind, l->args, &opts, scratch);
    }
    cx_rng_free(scratch);
    if (st != CX_OK) {
        cx_model_free(h);
        return NULL;
    }
    cx_model *src = (cx_model *)m; /* read only: the accessors are not const */
    for (int i = 0; i < cx_model_num_param_tensors(h); i++) {
        cx_tensor *a = cx_model_param(h, i), *b = cx_model_param(src, i);
        if (cx_tensor_numel(a) != cx_tensor_numel(b) ||
            memcmp(cx_tensor_shape(a), cx_tensor_shape(b),
                   (size_t)cx_tensor_ndim(a) * sizeof(int64_t)) != 0) {
            char sa[CX_SHAPE_STR_MAX], sb[CX_SHAPE_STR_MAX], in[CX_SHAPE_STR_MAX + 8];
            int64_t shape[CX_MAX_DIMS];
            int nd = cx_model_input_shape(h, shape);
            cx__batch_shape_str(nd, shape, in, sizeof in);
            const char *name = cx_model_param_name(h, i);
            cx__error(CX_ERR_SHAPE,
                      "cx_model_head: on input %s, %s would be %s instead of the model's %s: "
                      "only layers whose parameters do not depend on the picture size "
                      "(convolutions, pooling, activations) run on pictures of another size",
                      in, name, cx_tensor_shape_str(a, sa, sizeof sa),
                      cx_tensor_shape_str(b, sb, sizeof sb));
            cx_model_free(h);
            return NULL;
        }
    }
    if (cx_model_num_params(h))
        memcpy(cx_model_params_flat(h), cx_model_params_flat(src),
               (size_t)cx_model_num_params(h) * sizeof(float));
    for (int i = 0; i < cx_model_num_buffers(h); i++)
        memcpy(cx_tensor_f32(cx_model_buffer(h, i)), cx_tensor_f32(cx_model_buffer(src, i)),
               (size_t)cx_tensor_numel(cx_model_buffer(h, i)) * sizeof(float));
    cx_model_set_training(h, cx_model_training(m));
    return h;
}
