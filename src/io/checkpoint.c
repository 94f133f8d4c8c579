/*
 * checkpoint.c - a whole training run in one safetensors file, so `cortex eval FILE` and
 * `--resume FILE` need nothing else.
 *
 * Tensors:  every model parameter and buffer under its state_dict name ("1.weight",
 *           "2.running_mean"), each optimizer
 *           buffer as "optim.<parameter name>.<buffer>" ("optim.1.weight.exp_avg"), and the
 *           model's dropout generator as the u8 tensor "rng.state".
 * Metadata: "format"    "cortex-checkpoint-1"
 *           "config"    the model config text (cx_model_config), rebuilt on load
 *           "optimizer" JSON: kind, every hyper-parameter, step count
 *           "train"     JSON: cx_train_state
 * Floats go through JSON as doubles printed with 17 digits, so every float comes back
 * bit-identical and a resumed run continues exactly.
 */
#include "cortex_impl.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#define FORMAT "cortex-checkpoint-1"
#define RNG_TENSOR "rng.state"

/* ---- optimizer and training state as JSON ---- */

#define OPTIM_FLOATS(X)                                                                        \
    X(lr) X(momentum) X(dampening) X(beta1) X(beta2) X(alpha) X(rho) X(eps) X(weight_decay)     \
    X(lr_decay) X(initial_accumulator)
#define OPTIM_BOOLS(X) X(centered) X(amsgrad)

static char *optim_json(const cx_optim *o) {
    const cx_optim_params *p = cx_optim_get_params(o);
    json_t *j = json_object();
    json_object_set_new(j, "kind", json_string(cx_optim_kind_name(cx_optim_kind_of(o))));
    json_object_set_new(j, "steps", json_integer(cx_optim_steps(o)));
#define X(f) json_object_set_new(j, #f, json_real(p->f));
    OPTIM_FLOATS(X)
#undef X
#define X(f) json_object_set_new(j, #f, json_boolean(p->f));
    OPTIM_BOOLS(X)
#undef X
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(j);
    return s;
}

/* A number from a JSON object (null reads as INFINITY, which JSON cannot spell). */
static bool get_real(const json_t *j, const char *key, float *out) {
    const json_t *v = json_object_get(j, key);
    if (json_is_null(v)) return *out = INFINITY, true;
    if (!json_is_number(v)) return false;
    *out = (float)json_number_value(v);
    return true;
}

static bool get_int(const json_t *j, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const json_t *v = json_object_get(j, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return false;
    *out = json_integer_value(v);
    return true;
}

static cx_status parse_optim(const char *path, const char *text, cx_optim_kind *kind,
                             cx_optim_params *p, int64_t *steps) {
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    const char *bad = NULL;
    const json_t *k = json_object_get(j, "kind");
    if (!j) bad = err.text;
    else if (!json_is_string(k) || cx_optim_kind_parse(json_string_value(k), kind) != CX_OK)
        bad = "no known optimizer kind";
    else if (!get_int(j, "steps", 0, INT64_MAX, steps)) bad = "no step count";
    if (!bad) {
        *p = cx_optim_defaults(*kind);
#define X(f) if (!bad && !get_real(j, #f, &p->f)) bad = "missing " #f;
        OPTIM_FLOATS(X)
#undef X
#define X(f) if (!bad) { const json_t *v = json_object_get(j, #f);                          \
        if (!json_is_boolean(v)) bad = "missing " #f; else p->f = json_is_true(v); }
        OPTIM_BOOLS(X)
#undef X
    }
    json_decref(j);
    if (bad)
        return cx__error(CX_ERR_FORMAT, "%s: checkpoint's optimizer metadata is damaged: %s",
                         path, bad);
    return CX_OK;
}

static char *train_json(const cx_train_state *s) {
    json_t *j = json_object();
    json_object_set_new(j, "epoch", json_integer(s->epoch));
    /* seeds are 64-bit unsigned: as a string, JSON integers are signed */
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->seed);
    json_object_set_new(j, "seed", json_string(seed));
    json_object_set_new(j, "base_lr", json_real(s->base_lr));
    json_object_set_new(j, "best_val_loss",
                        isfinite(s->best_val_loss) ? json_real(s->best_val_loss) : json_null());
    json_object_set_new(j, "best_epoch", json_integer(s->best_epoch));
    json_object_set_new(j, "bad_epochs", json_integer(s->bad_epochs));
    json_object_set_new(j, "scale", json_real(s->normalisation.scale));
    json_object_set_new(j, "mean", json_real(s->normalisation.mean));
    json_object_set_new(j, "std", json_real(s->normalisation.std));
    json_object_set_new(j, "shift", json_integer(s->normalisation.shift));
    json_object_set_new(j, "rotate", json_real(s->normalisation.rotate));
    json_object_set_new(j, "zoom", json_real(s->normalisation.zoom));
    json_object_set_new(j, "dataset", json_string(s->dataset));
    char *out = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(j);
    return out;
}

static cx_status parse_train(const char *path, const char *text, cx_train_state *s) {
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    int64_t epoch = 0, best_epoch = 0, bad_epochs = 0;
    const json_t *seed = json_object_get(j, "seed");
    char *end = NULL;
    bool ok = j && get_int(j, "epoch", 0, INT32_MAX, &epoch) &&
              get_int(j, "best_epoch", 0, INT32_MAX, &best_epoch) &&
              get_int(j, "bad_epochs", 0, INT32_MAX, &bad_epochs) &&
              get_real(j, "base_lr", &s->base_lr) &&
              get_real(j, "best_val_loss", &s->best_val_loss) &&
              get_real(j, "scale", &s->normalisation.scale) &&
              get_real(j, "mean", &s->normalisation.mean) &&
              get_real(j, "std", &s->normalisation.std) && json_is_string(seed);
    if (ok) {
        s->seed = strtoull(json_string_value(seed), &end, 10);
        ok = *json_string_value(seed) && end && *end == '\0';
    }
    /* augmentation: absent from checkpoints written before it existed */
    s->normalisation.shift = 0;
    s->normalisation.rotate = s->normalisation.zoom = 0;
    if (ok && json_object_get(j, "shift"))
        ok = get_int(j, "shift", 0, INT32_MAX, &s->normalisation.shift) &&
             get_real(j, "rotate", &s->normalisation.rotate) &&
             get_real(j, "zoom", &s->normalisation.zoom);
    const json_t *dataset = json_object_get(j, "dataset");
    if (ok && json_is_string(dataset))
        snprintf(s->dataset, sizeof s->dataset, "%s", json_string_value(dataset));
    else if (ok)
        s->dataset[0] = '\0';
    json_decref(j);
    if (!ok) return cx__error(CX_ERR_FORMAT, "%s: checkpoint's training metadata is damaged", path);
    s->epoch = (int)epoch;
    s->best_epoch = (int)best_epoch;
    s->bad_epochs = (int)bad_epochs;
    return CX_OK;
}

/* The trainable parameters of every part, in order: what a checkpoint's optimizer is made
 * over. *n receives the count; NULL + error on allocation failure (cx__free the list). */
static cx_tensor **trainable_list(int n_parts, const cx__ckpt_part *parts, int *n) {
    int total = 0;
    for (int p = 0; p < n_parts; p++) total += cx_model_num_param_tensors(parts[p].model);
    cx_tensor **list = cx__alloc((size_t)(total + 1) * sizeof *list);
    *n = 0;
    for (int p = 0; list && p < n_parts; p++)
        *n += cx_model_trainable_params(parts[p].model, list + *n);
    return list;
}

/* "optim.<prefix><parameter name>.<buffer>" for optimizer state i ("<index>.<buffer>", the
 * index counting the trainable parameters of all parts in order, which the optimizer was
 * made over). */
static bool optim_tensor_name(int n_parts, const cx__ckpt_part *parts, const cx_optim *o, int i,
                              char *buf, size_t size) {
    const char *state = cx_optim_state_name(o, i);
    char *dot = NULL;
    long idx = strtol(state, &dot, 10);
    if (!dot || *dot != '.' || idx < 0) return false;
    for (int q = 0, k = 0; q < n_parts; q++) {
        cx_model *m = parts[q].model;
        for (int p = 0; p < cx_model_num_param_tensors(m); p++) {
            if (!cx_model_param_trainable(m, p) || k++ != idx) continue;
            int n = snprintf(buf, size, "optim.%s%s%s", parts[q].prefix,
                             cx_model_param_name(m, p), dot);
            return n > 0 && (size_t)n < size;
        }
    }
    return false;
}

char *cx__optim_json(const cx_optim *o) { return optim_json(o); }

bool cx__optim_tensor_name(int n_parts, const cx__ckpt_part *parts, const cx_optim *o, int i,
                           char *buf, size_t size) {
    return optim_tensor_name(n_parts, parts, o, i, buf, size);
}

/* ---- save ---- */

#define NAME_MAX_BYTES 256

cx_status cx__checkpoint_write(const char *path, const char *format, int n_parts,
                               const cx__ckpt_part *parts, const cx_optim *o,
                               const cx_train_state *state, int n_meta,
                               const char *const *meta_keys, const char *const *meta_values,
                               int n_extra, const char *const *extra_names,
                               cx_tensor *const *extra) {
    int n = n_extra + (o ? cx_optim_state_count(o) : 0);
    for (int p = 0; p < n_parts; p++) {
        cx_model *m = parts[p].model;
        if (cx_model_num_params(m) && !cx_model_params_flat(m))
            return cx__error(CX_ERR_UNSUPPORTED, "checkpoint save: the model was built for its "
                             "shapes only and has no weights to save");
        n += cx_model_num_param_tensors(m) + cx_model_num_buffers(m) + 1;
    }
    int n_keys = n_parts + n_meta + 2 + (o ? 1 : 0);
    const char **names = cx__calloc((size_t)n * sizeof *names);
    cx_tensor **tensors = cx__calloc((size_t)n * sizeof *tensors);
    const char **keys = cx__calloc((size_t)n_keys * sizeof *keys);
    const char **values = cx__calloc((size_t)n_keys * sizeof *values);
    char *name_block = cx__calloc((size_t)n * NAME_MAX_BYTES);
    cx_tensor **rngs = cx__calloc((size_t)(n_parts + 1) * sizeof *rngs);
    char *optim_text = o ? optim_json(o) : NULL, *train_text = train_json(state);
    cx_status st = CX_OK;
    if (!names || !tensors || !keys || !values || !name_block || !rngs || (o && !optim_text) ||
        !train_text) {
        st = cx__error(CX_ERR_OOM, "checkpoint save: out of memory");
        goto done;
    }
    int k = 0, nk = 0;
    keys[nk] = "format", values[nk++] = format;
    keys[nk] = "train", values[nk++] = train_text;
    if (o) keys[nk] = "optimizer", values[nk++] = optim_text;
    /* a tensor name prefix + name in the name block */
#define ADD(prefix, name, tensor)                                                                  \
    do {                                                                                           \
        char *nm_ = name_block + (size_t)k * NAME_MAX_BYTES;                                       \
        int len_ = snprintf(nm_, NAME_MAX_BYTES, "%s%s", prefix, name);                            \
        if (len_ < 0 || len_ >= NAME_MAX_BYTES) {                                                  \
            st = cx__error(CX_ERR_ARG, "checkpoint save: tensor name '%s%s' is too long", prefix,  \
                           name);                                                                  \
            goto done;                                                                             \
        }                                                                                          \
        names[k] = nm_;                                                                            \
        tensors[k++] = (tensor);                                                                   \
    } while (0)
    for (int p = 0; p < n_parts; p++) {
        cx_model *m = parts[p].model;
        for (int i = 0; i < cx_model_num_param_tensors(m); i++)
            ADD(parts[p].prefix, cx_model_param_name(m, i), cx_model_param(m, i));
        for (int i = 0; i < cx_model_num_buffers(m); i++)
            ADD(parts[p].prefix, cx_model_buffer_name(m, i), cx_model_buffer(m, i));
        rngs[p] = cx_tensor_new(CX_DTYPE_U8, 1, (int64_t[]){(int64_t)cx_rng_state_bytes()});
        if (!rngs[p]) {
            st = cx_last_status();
            goto done;
        }
        cx_rng_get_state(cx_model_rng(m), cx_tensor_data(rngs[p]));
        ADD(parts[p].prefix, RNG_TENSOR, rngs[p]);
        keys[nk] = parts[p].config_key;
        if (!(values[nk++] = cx_model_config(m))) {
            st = cx_last_status();
            goto done;
        }
    }
    for (int i = 0; o && i < cx_optim_state_count(o); i++) {
        char *nm = name_block + (size_t)k * NAME_MAX_BYTES;
        if (!optim_tensor_name(n_parts, parts, o, i, nm, NAME_MAX_BYTES)) {
            st = cx__error(CX_ERR_ARG, "checkpoint save: optimizer state '%s' does not belong "
                                       "to a model parameter", cx_optim_state_name(o, i));
            goto done;
        }
        names[k] = nm;
        tensors[k++] = cx_optim_state_tensor(o, i);
    }
    for (int i = 0; i < n_extra; i++) ADD("", extra_names[i], extra[i]);
#undef ADD
    for (int i = 0; i < n_meta; i++) keys[nk] = meta_keys[i], values[nk++] = meta_values[i];
    st = cx_safetensors_save(path, k, names, tensors, nk, keys, values);
done:
    free(optim_text);
    free(train_text);
    for (int p = 0; rngs && p < n_parts; p++) cx_tensor_free(rngs[p]);
    cx__free(rngs);
    cx__free(name_block);
    cx__free(values);
    cx__free(keys);
    cx__free(tensors);
    cx__free(names);
    return st;
}

cx_status cx_checkpoint_save(const char *path, cx_model *m, const cx_optim *o,
                             const cx_train_state *state) {
    return cx_checkpoint_save_extra(path, m, o, state, 0, NULL, NULL);
}

#define MAX_EXTRA 8

cx_status cx_checkpoint_save_extra(const char *path, cx_model *m, const cx_optim *o,
                                   const cx_train_state *state, int n_extra,
                                   const char *const *extra_keys,
                                   const char *const *extra_values) {
    if (!path || !m || !state) return cx__error(CX_ERR_ARG, "checkpoint save: NULL argument");
    if (n_extra < 0 || n_extra > MAX_EXTRA || (n_extra && (!extra_keys || !extra_values)))
        return cx__error(CX_ERR_ARG, "checkpoint save: 0 to %d extra metadata pairs, got %d",
                         MAX_EXTRA, n_extra);
    for (int i = 0; i < n_extra; i++) {
        static const char *const taken[] = {"format", "config", "train", "optimizer"};
        for (int k = 0; k < 4; k++)
            if (!extra_keys[i] || !extra_values[i] || strcmp(extra_keys[i], taken[k]) == 0)
                return cx__error(CX_ERR_ARG, "checkpoint save: extra metadata %d is NULL or "
                                 "uses a name the checkpoint keeps for itself (%s)", i, taken[k]);
    }
    cx__ckpt_part part = {.model = m, .prefix = "", .config_key = "config"};
    return cx__checkpoint_write(path, FORMAT, 1, &part, o, state, n_extra, extra_keys,
                                extra_values, 0, NULL, NULL);
}

/* ---- load ---- */

cx_status cx__checkpoint_load_into(const char *path, const cx_safetensors *f, const char *name,
                                   cx_tensor *dst) {
    cx_tensor *src = cx_safetensors_get(f, name);
    if (!src) return cx_last_status();
    cx_status st = CX_OK;
    char a[CX_SHAPE_STR_MAX], b[CX_SHAPE_STR_MAX];
    if (cx_tensor_dtype(src) != cx_tensor_dtype(dst) ||
        cx_tensor_numel(src) != cx_tensor_numel(dst) || cx_tensor_ndim(src) != cx_tensor_ndim(dst) ||
        memcmp(cx_tensor_shape(src), cx_tensor_shape(dst),
               (size_t)cx_tensor_ndim(dst) * sizeof(int64_t)) != 0)
        st = cx__error(CX_ERR_FORMAT, "%s: tensor '%s' is %s %s, expected %s %s", path, name,
                       cx_dtype_name(cx_tensor_dtype(src)), cx_tensor_shape_str(src, a, sizeof a),
                       cx_dtype_name(cx_tensor_dtype(dst)), cx_tensor_shape_str(dst, b, sizeof b));
    else
        st = cx_tensor_copy_from(dst, cx_tensor_data(src),
                                 (size_t)cx_tensor_numel(src) * cx_dtype_size(cx_tensor_dtype(src)));
    cx_tensor_free(src);
    return st;
}

static cx_optim *load_optim(const char *path, const cx_safetensors *f, int n_parts,
                            const cx__ckpt_part *parts) {
    return cx__checkpoint_load_optim(path, f, "optimizer", n_parts, parts);
}

cx_optim *cx__checkpoint_load_optim(const char *path, const cx_safetensors *f,
                                    const char *meta_key, int n_parts,
                                    const cx__ckpt_part *parts) {
    const char *text = cx_safetensors_metadata(f, meta_key);
    if (!text) return NULL;
    cx_optim_kind kind = CX_OPTIM_SGD;
    cx_optim_params p;
    int64_t steps = 0;
    if (parse_optim(path, text, &kind, &p, &steps) != CX_OK) return NULL;
    int n = 0;
    cx_tensor **params = trainable_list(n_parts, parts, &n);
    if (!params) return NULL;
    cx_optim *o = cx_optim_new(kind, &p, params, n);
    cx__free(params);
    if (!o) return NULL;
    cx_optim_set_steps(o, steps);
    char name[NAME_MAX_BYTES];
    for (int i = 0; i < cx_optim_state_count(o); i++) {
        if (!optim_tensor_name(n_parts, parts, o, i, name, sizeof name) ||
            cx__checkpoint_load_into(path, f, name, cx_optim_state_tensor(o, i)) != CX_OK) {
            if (cx_last_status() == CX_OK)
                cx__error(CX_ERR_FORMAT, "%s: optimizer state '%s' is missing", path, name);
            cx_optim_free(o);
            return NULL;
        }
    }
    return o;
}

/* One part's model: rebuilt from its stored config, then its weights and generator. */
static cx_model *load_part(const char *path, const cx_safetensors *f, const cx__ckpt_part *part) {
    const char *config = cx_safetensors_metadata(f, part->config_key);
    if (!config) {
        cx__error(CX_ERR_FORMAT, "%s: the checkpoint has no \"%s\" metadata", path,
                  part->config_key);
        return NULL;
    }
    /* the weights replace the initial values, so the generator used to build does not matter */
    cx_rng *scratch = cx_rng_new(0);
    if (!scratch) return NULL;
    char source[512], rng_name[NAME_MAX_BYTES];
    snprintf(source, sizeof source, "%s (stored %s)", path, part->config_key);
    cx_model *m = cx_model_from_config(config, source, scratch);
    cx_rng_free(scratch);
    if (!m || cx__model_load_weights_prefixed(m, f, part->prefix) != CX_OK) {
        cx_model_free(m);
        return NULL;
    }
    snprintf(rng_name, sizeof rng_name, "%s" RNG_TENSOR, part->prefix);
    bool stored = cx_safetensors_has(f, rng_name);
    cx_tensor *rng = stored ? cx_safetensors_get(f, rng_name) : NULL;
    if (stored && !rng) { /* not a damaged file (an allocation or a read failed): keep why */
        cx_model_free(m);
        return NULL;
    }
    if (!rng || cx_tensor_dtype(rng) != CX_DTYPE_U8 ||
        (size_t)cx_tensor_numel(rng) != cx_rng_state_bytes() ||
        cx_rng_set_state(cx_model_rng(m), cx_tensor_data(rng)) != CX_OK) {
        cx_tensor_free(rng);
        cx_model_free(m);
        cx__error(CX_ERR_FORMAT, "%s: the generator state '%s' is missing or damaged", path,
                  rng_name);
        return NULL;
    }
    cx_tensor_free(rng);
    return m;
}

cx_status cx__checkpoint_read(const char *path, const cx_safetensors *f, int n_parts,
                              cx__ckpt_part *parts, cx_optim **optim, cx_train_state *state) {
    if (optim) *optim = NULL;
    for (int p = 0; p < n_parts; p++) parts[p].model = NULL;
    const char *train = cx_safetensors_metadata(f, "train");
    cx_train_state s = {0};
    if (!train)
        return cx__error(CX_ERR_FORMAT, "%s: the checkpoint has no \"train\" metadata", path);
    if (parse_train(path, train, &s) != CX_OK) return cx_last_status();
    for (int p = 0; p < n_parts; p++)
        if (!(parts[p].model = load_part(path, f, &parts[p]))) goto fail;
    if (optim) {
        *optim = load_optim(path, f, n_parts, parts);
        if (!*optim && cx_safetensors_metadata(f, "optimizer")) goto fail;
    }
    if (state) *state = s;
    return CX_OK;
fail:;
    cx_status st = cx_last_status();
    for (int p = 0; p < n_parts; p++) {
        cx_model_free(parts[p].model);
        parts[p].model = NULL;
    }
    return st;
}

cx_model *cx_checkpoint_load(const char *path, cx_optim **optim, cx_train_state *state) {
    if (optim) *optim = NULL;
    if (!path) return cx__error(CX_ERR_ARG, "checkpoint load: NULL path"), NULL;
    cx_safetensors *f = cx_safetensors_open(path);
    if (!f) return NULL;
    const char *format = cx_safetensors_metadata(f, "format");
    cx__ckpt_part part = {.prefix = "", .config_key = "config"};
    if (!format || strcmp(format, FORMAT) != 0 || !cx_safetensors_metadata(f, "config") ||
        !cx_safetensors_metadata(f, "train")) {
        bool autoencoder = format && strncmp(format, "cortex-autoencoder", 18) == 0;
        cx__error(CX_ERR_FORMAT, "%s: not a Cortex checkpoint (no \"format\": \"" FORMAT "\", "
                  "\"config\" and \"train\" metadata); %s", path,
                  autoencoder ? "it holds an autoencoder: load it with cx_autoencoder_load "
                                "(cortex autoencoder / cortex vae)"
                              : "a plain weights file loads with cx_model_load_weights");
    } else {
        cx__checkpoint_read(path, f, 1, &part, optim, state);
    }
    cx_safetensors_close(f);
    return part.model;
}
