/*
 * checkpoint.c - text models in one file: a Cortex checkpoint (src/io/checkpoint.c) with the
 * vocabulary in its metadata under "vocab" (cx_vocab_to_json), checked on load against the
 * model it belongs to.
 */
#include "cortex_impl.h"

#include <stdlib.h>
#include <string.h>

#define VOCAB_KEY "vocab"

cx_status cx_text_save(const char *path, cx_model *m, const cx_optim *o,
                       const cx_train_state *state, const cx_vocab *v) {
    char *json = cx_vocab_to_json(v);
    if (!json) return cx_last_status();
    const char *key = VOCAB_KEY;
    cx_status st = cx_checkpoint_save_extra(path, m, o, state, 1, &key, (const char **)&json);
    free(json);
    return st;
}

/* The vocabulary fits m: an embedding first taking its ids, one score per token last. */
static cx_status check_fit(const char *path, cx_model *m, const cx_vocab *v) {
    int n = cx_model_num_layers(m);
    int64_t shape[CX_MAX_DIMS];
    cx_tensor *table = cx_model_param_by_name(m, "0.weight");
    int nd = cx_model_output_shape(m, shape);
    if (n < 2 || strcmp(cx_model_layer_kind(m, 0), "embedding") != 0 || !table)
        return cx__error(CX_ERR_FORMAT, "%s: not a text model: its first layer is %s, not an "
                         "embedding", path, n ? cx_model_layer_kind(m, 0) : "missing");
    if (cx_tensor_dim(table, 0) != cx_vocab_size(v) || shape[nd - 1] != cx_vocab_size(v))
        return cx__error(CX_ERR_FORMAT, "%s: the vocabulary has %lld tokens, but the model "
                         "embeds %lld and scores %lld", path, (long long)cx_vocab_size(v),
                         (long long)cx_tensor_dim(table, 0), (long long)shape[nd - 1]);
    return CX_OK;
}

cx_model *cx_text_load(const char *path, cx_vocab **vocab, cx_optim **optim,
                       cx_train_state *state) {
    if (vocab) *vocab = NULL;
    if (!vocab) return cx__error(CX_ERR_ARG, "text load: NULL vocab"), NULL;
    cx_safetensors *f = cx_safetensors_open(path);
    if (!f) return NULL;
    cx_vocab *v = NULL;
    const char *json = cx_safetensors_metadata(f, VOCAB_KEY);
    if (!json) {
        cx__error(CX_ERR_FORMAT, "%s: no vocabulary in the file: not a text model (train one "
                  "with `cortex text train`)", path);
    } else if (!(v = cx_vocab_from_json(json))) {
        char why[256];
        snprintf(why, sizeof why, "%s", cx_last_error());
        cx__error(CX_ERR_FORMAT, "%s: %s", path, why);
    }
    cx_safetensors_close(f);
    if (!v) return NULL;
    cx_model *m = cx_checkpoint_load(path, optim, state);
    if (!m || check_fit(path, m, v) != CX_OK) {
        if (optim && *optim) {
            cx_optim_free(*optim);
            *optim = NULL;
        }
        cx_model_free(m);
        cx_vocab_free(v);
        return NULL;
    }
    *vocab = v;
    return m;
}
