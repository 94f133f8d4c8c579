/*
 * gan_save.c - GAN checkpoints: both networks and both optimizers in one safetensors file,
 * written and read by src/io/checkpoint.c's pieces (the same tensors, training state and
 * generators as a classifier's checkpoint, under the prefixes "generator." and
 * "discriminator.").
 *
 * Tensors:  "generator.<name>", "discriminator.<name>" (parameters and buffers), their
 *           generators "generator.rng.state" and "discriminator.rng.state", the noise
 *           generator "gan.rng.state", optimizer state "optim.generator.<name>.<buffer>" and
 *           "optim.discriminator.<name>.<buffer>".
 * Metadata: "format" "cortex-gan-1", "generator_config", "discriminator_config",
 *           "gan" {"classes": K}, "train", "generator_optimizer", "discriminator_optimizer".
 */
#include "generative/generative_impl.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "cortex-gan-1"
#define RNG_TENSOR "gan.rng.state"
#define NAME_BYTES 256

static void parts_of(cx_gan *gan, cx__ckpt_part parts[2]) {
    parts[0] = (cx__ckpt_part){gan ? gan->gen : NULL, "generator.", "generator_config"};
    parts[1] = (cx__ckpt_part){gan ? gan->disc : NULL, "discriminator.", "discriminator_config"};
}

static const char *const optim_keys[2] = {"generator_optimizer", "discriminator_optimizer"};

cx_status cx_gan_save(const char *path, cx_gan *gan, const cx_optim *g_optim,
                      const cx_optim *d_optim, const cx_train_state *state) {
    if (!path || !gan || !state) return cx__error(CX_ERR_ARG, "GAN save: NULL argument");
    cx__ckpt_part parts[2];
    parts_of(gan, parts);
    const cx_optim *opts[2] = {g_optim, d_optim};
    int n = 1;
    for (int i = 0; i < 2; i++) n += opts[i] ? cx_optim_state_count(opts[i]) : 0;
    const char **names = cx__calloc((size_t)n * sizeof *names);
    cx_tensor **tensors = cx__calloc((size_t)n * sizeof *tensors);
    char *block = cx__calloc((size_t)n * NAME_BYTES);
    char *texts[3] = {NULL, NULL, NULL};
    cx_tensor *rng = cx_tensor_new(CX_DTYPE_U8, 1, (int64_t[]){(int64_t)cx_rng_state_bytes()});
    const char *keys[3], *values[3];
    int n_meta = 0, k = 0;
    cx_status st = CX_OK;
    json_t *j = json_object();
    json_object_set_new(j, "classes", json_integer(gan->classes));
    texts[2] = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!names || !tensors || !block || !rng || !texts[2]) {
        st = cx__error(CX_ERR_OOM, "GAN save: out of memory");
        goto done;
    }
    keys[n_meta] = "gan", values[n_meta++] = texts[2];
    for (int p = 0; p < 2; p++) {
        if (!opts[p]) continue;
        if (!(texts[p] = cx__optim_json(opts[p]))) {
            st = cx__error(CX_ERR_OOM, "GAN save: out of memory");
            goto done;
        }
        keys[n_meta] = optim_keys[p], values[n_meta++] = texts[p];
        for (int i = 0; i < cx_optim_state_count(opts[p]); i++, k++) {
            char *nm = block + (size_t)k * NAME_BYTES;
            if (!cx__optim_tensor_name(1, &parts[p], opts[p], i, nm, NAME_BYTES)) {
                st = cx__error(CX_ERR_ARG, "GAN save: the %s optimizer's state '%s' does not "
                               "belong to a %s parameter", p ? "discriminator" : "generator",
                               cx_optim_state_name(opts[p], i),
                               p ? "discriminator" : "generator");
                goto done;
            }
            names[k] = nm;
            tensors[k] = cx_optim_state_tensor(opts[p], i);
        }
    }
    cx_rng_get_state(gan->rng, cx_tensor_data(rng));
    names[k] = RNG_TENSOR, tensors[k++] = rng;
    st = cx__checkpoint_write(path, FORMAT, 2, parts, NULL, state, n_meta, keys, values, k,
                              names, tensors);
done:
    for (int i = 0; i < 3; i++) free(texts[i]);
    cx_tensor_free(rng);
    cx__free(block);
    cx__free(tensors);
    cx__free(names);
    return st;
}

static cx_status parse_meta(const char *path, const char *text, int *classes) {
    json_error_t err;
    json_t *j = text ? json_loads(text, 0, &err) : NULL;
    const json_t *k = json_object_get(j, "classes");
    bool ok = json_is_integer(k) && json_integer_value(k) >= 0 &&
              json_integer_value(k) <= CX_GAN_MAX_CLASSES;
    if (ok) *classes = (int)json_integer_value(k);
    json_decref(j);
    return ok ? CX_OK
              : cx__error(CX_ERR_FORMAT, "%s: the \"gan\" metadata is missing or damaged (need "
                          "classes 0 to %d)", path, CX_GAN_MAX_CLASSES);
}

cx_gan *cx_gan_load(const char *path, cx_optim **g_optim, cx_optim **d_optim,
                    cx_train_state *state) {
    if (g_optim) *g_optim = NULL;
    if (d_optim) *d_optim = NULL;
    if (!path) return cx__error(CX_ERR_ARG, "GAN load: NULL path"), NULL;
    cx_safetensors *f = cx_safetensors_open(path);
    if (!f) return NULL;
    cx_gan *gan = NULL;
    cx_optim *opts[2] = {NULL, NULL};
    cx_optim **want[2] = {g_optim, d_optim};
    cx__ckpt_part parts[2];
    parts_of(NULL, parts);
    const char *format = cx_safetensors_metadata(f, "format");
    cx_tensor *rng = NULL;
    int classes = 0;
    if (!format || strcmp(format, FORMAT) != 0) {
        cx__error(CX_ERR_FORMAT, "%s: not a GAN checkpoint (no \"format\": \"" FORMAT "\" "
                  "metadata)%s%s", path, format ? "; it is a " : "", format ? format : "");
        goto done;
    }
    if (parse_meta(path, cx_safetensors_metadata(f, "gan"), &classes) != CX_OK ||
        cx__checkpoint_read(path, f, 2, parts, NULL, state) != CX_OK)
        goto done;
    gan = cx_gan_new(parts[0].model, parts[1].model, classes);
    if (!gan) goto done;
    for (int p = 0; p < 2; p++) {
        if (!want[p]) continue;
        opts[p] = cx__checkpoint_load_optim(path, f, optim_keys[p], 1, &parts[p]);
        if (!opts[p] && cx_safetensors_metadata(f, optim_keys[p])) goto fail;
    }
    rng = cx_safetensors_has(f, RNG_TENSOR) ? cx_safetensors_get(f, RNG_TENSOR) : NULL;
    if (!rng || cx_tensor_dtype(rng) != CX_DTYPE_U8 ||
        (size_t)cx_tensor_numel(rng) != cx_rng_state_bytes() ||
        cx_rng_set_state(gan->rng, cx_tensor_data(rng)) != CX_OK) {
        cx__error(CX_ERR_FORMAT, "%s: the generator state '" RNG_TENSOR "' is missing or "
                  "damaged", path);
        goto fail;
    }
    goto done;
fail:
    for (int p = 0; p < 2; p++) cx_optim_free(opts[p]), opts[p] = NULL;
    cx_gan_free(gan);
    gan = NULL;
done:
    for (int p = 0; p < 2; p++)
        if (want[p]) *want[p] = opts[p];
    cx_tensor_free(rng);
    cx_safetensors_close(f);
    return gan;
}
