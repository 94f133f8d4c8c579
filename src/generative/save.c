/*
 * save.c - autoencoder checkpoints: both networks in one safetensors file, written and read
 * by src/io/checkpoint.c's pieces (the same tensors, optimizer state, training state and
 * generators as a classifier's checkpoint, under the prefixes "encoder." and "decoder.").
 *
 * Tensors:  "encoder.<name>", "decoder.<name>" (parameters and buffers), their generators
 *           "encoder.rng.state" and "decoder.rng.state", the noise/eps generator
 *           "autoencoder.rng.state", optimizer state "optim.encoder.<name>.<buffer>", ...
 * Metadata: "format" "cortex-autoencoder-1", "encoder_config", "decoder_config",
 *           "autoencoder" {"kind": "plain"|"variational", "beta", "noise"}, "train",
 *           "optimizer".
 */
#include "generative/generative_impl.h"

#include <jansson.h>
#include <string.h>

#define FORMAT "cortex-autoencoder-1"
#define RNG_TENSOR "autoencoder.rng.state"

static void parts_of(cx_autoencoder *ae, cx__ckpt_part parts[2]) {
    parts[0] = (cx__ckpt_part){ae ? ae->enc : NULL, "encoder.", "encoder_config"};
    parts[1] = (cx__ckpt_part){ae ? ae->dec : NULL, "decoder.", "decoder_config"};
}

cx_status cx_autoencoder_save(const char *path, cx_autoencoder *ae, const cx_optim *o,
                              const cx_train_state *state) {
    if (!path || !ae || !state) return cx__error(CX_ERR_ARG, "autoencoder save: NULL argument");
    cx__ckpt_part parts[2];
    parts_of(ae, parts);
    json_t *j = json_object();
    json_object_set_new(j, "kind", json_string(cx_ae_kind_name(ae->p.kind)));
    json_object_set_new(j, "beta", json_real(ae->p.beta));
    json_object_set_new(j, "noise", json_real(ae->p.noise));
    char *meta = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(j);
    cx_tensor *rng = cx_tensor_new(CX_DTYPE_U8, 1, (int64_t[]){(int64_t)cx_rng_state_bytes()});
    cx_status st;
    if (!meta || !rng) {
        st = cx__error(CX_ERR_OOM, "autoencoder save: out of memory");
    } else {
        cx_rng_get_state(ae->rng, cx_tensor_data(rng));
        const char *keys[] = {"autoencoder"}, *values[] = {meta}, *names[] = {RNG_TENSOR};
        st = cx__checkpoint_write(path, FORMAT, 2, parts, o, state, 1, keys, values, 1, names,
                                  &rng);
    }
    cx_tensor_free(rng);
    free(meta);
    return st;
}

static cx_status parse_meta(const char *path, const char *text, cx_ae_params *p) {
    json_error_t err;
    json_t *j = text ? json_loads(text, 0, &err) : NULL;
    const json_t *kind = json_object_get(j, "kind"), *beta = json_object_get(j, "beta"),
                 *noise = json_object_get(j, "noise");
    bool ok = json_is_string(kind) && json_is_number(beta) && json_is_number(noise);
    if (ok) {
        const char *k = json_string_value(kind);
        ok = strcmp(k, "plain") == 0 || strcmp(k, "variational") == 0;
        *p = cx_ae_defaults(strcmp(k, "plain") == 0 ? CX_AE_PLAIN : CX_AE_VARIATIONAL);
        p->beta = (float)json_number_value(beta);
        p->noise = (float)json_number_value(noise);
    }
    json_decref(j);
    return ok ? CX_OK
              : cx__error(CX_ERR_FORMAT, "%s: the \"autoencoder\" metadata is missing or damaged "
                          "(need kind plain|variational, beta, noise)", path);
}

cx_autoencoder *cx_autoencoder_load(const char *path, cx_optim **optim, cx_train_state *state) {
    if (optim) *optim = NULL;
    if (!path) return cx__error(CX_ERR_ARG, "autoencoder load: NULL path"), NULL;
    cx_safetensors *f = cx_safetensors_open(path);
    if (!f) return NULL;
    cx_autoencoder *ae = NULL;
    cx_optim *o = NULL;
    cx_ae_params p;
    cx__ckpt_part parts[2];
    parts_of(NULL, parts);
    const char *format = cx_safetensors_metadata(f, "format");
    cx_tensor *rng = NULL;
    if (!format || strcmp(format, FORMAT) != 0) {
        bool classifier = format && strcmp(format, "cortex-checkpoint-1") == 0;
        cx__error(CX_ERR_FORMAT, "%s: not an autoencoder checkpoint (no \"format\": \"" FORMAT
                  "\" metadata)%s", path, classifier ? "; it holds one model (cortex train): "
                  "load it with cx_checkpoint_load" : "");
        goto done;
    }
    if (parse_meta(path, cx_safetensors_metadata(f, "autoencoder"), &p) != CX_OK ||
        cx__checkpoint_read(path, f, 2, parts, optim ? &o : NULL, state) != CX_OK)
        goto done;
    ae = cx_autoencoder_new(parts[0].model, parts[1].model, &p);
    if (!ae) goto done;
    rng = cx_safetensors_has(f, RNG_TENSOR) ? cx_safetensors_get(f, RNG_TENSOR) : NULL;
    if (!rng || cx_tensor_dtype(rng) != CX_DTYPE_U8 ||
        (size_t)cx_tensor_numel(rng) != cx_rng_state_bytes() ||
        cx_rng_set_state(ae->rng, cx_tensor_data(rng)) != CX_OK) {
        cx__error(CX_ERR_FORMAT, "%s: the generator state '" RNG_TENSOR "' is missing or "
                  "damaged", path);
        cx_autoencoder_free(ae);
        ae = NULL;
    }
done:
    cx_tensor_free(rng);
    if (ae && optim) *optim = o;
    else cx_optim_free(o);
    cx_safetensors_close(f);
    return ae;
}
