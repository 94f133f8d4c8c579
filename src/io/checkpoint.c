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

/* "optim.<parameter name>.<buffer>" for optimizer state i ("<index>.<buffer>", the index
 * counting the model's trainable parameters, which the optimizer was made over). */
static bool optim_tensor_name(cx_model *m, const cx_optim *o, int i, char *buf, size_t size) {
    const char *state = cx_optim_state_name(o, i);
    char *dot = NULL;
    long idx = strtol(state, &dot, 10);
    int n_params = cx_model_num_param_tensors(m);
    if (!dot || *dot != '.' || idx < 0 || idx >= n_params) return false;
    for (int p = 0, k = 0; p < n_params; p++) {
        if (!cx_model_param_trainable(m, p) || k++ != idx) continue;
        int n = snprintf(buf, size, "optim.%s%s", cx_model_param_name(m, p), dot);
        return n > 0 && (size_t)n < size;
    }
    return false;
}

/* ---- save ---- */

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
    if (cx_model_num_params(m) && !cx_model_params_flat(m))
        return cx__error(CX_ERR_UNSUPPORTED, "checkpoint save: the model was built for its "
                         "shapes only and has no weights to save");
    int n_params = cx_model_num_param_tensors(m), n_state = o ? cx_optim_state_count(o) : 0;
    int n_buffers = cx_model_num_buffers(m);
    int n = n_params + n_buffers + n_state + 1;
    const char **names = cx__calloc((size_t)n * sizeof *names);
    cx_tensor **tensors = cx__calloc((size_t)n * sizeof *tensors);
    char *name_block = cx__calloc((size_t)(n_state ? n_state : 1) * 256);
    size_t rng_bytes = cx_rng_state_bytes();
    cx_tensor *rng = cx_tensor_new(CX_DTYPE_U8, 1, (int64_t[]){(int64_t)rng_bytes});
    char *optim_text = o ? optim_json(o) : NULL, *train_text = train_json(state);
    cx_status st = CX_OK;
    if (!names || !tensors || !name_block || !rng || (o && !optim_text) || !train_text) {
        st = cx__error(CX_ERR_OOM, "checkpoint save: out of memory");
        goto done;
    }
    for (int i = 0; i < n_params; i++) {
        names[i] = cx_model_param_name(m, i);
        tensors[i] = cx_model_param(m, i);
    }
    for (int i = 0; i < n_buffers; i++) {
        names[n_params + i] = cx_model_buffer_name(m, i);
        tensors[n_params + i] = cx_model_buffer(m, i);
    }
    for (int i = 0; i < n_state; i++) {
        char *nm = name_block + (size_t)i * 256;
        if (!optim_tensor_name(m, o, i, nm, 256)) {
            st = cx__error(CX_ERR_ARG, "checkpoint save: optimizer state '%s' does not belong "
                                       "to a model parameter", cx_optim_state_name(o, i));
            goto done;
        }
        names[n_params + n_buffers + i] = nm;
        tensors[n_params + n_buffers + i] = cx_optim_state_tensor(o, i);
    }
    cx_rng_get_state(cx_model_rng(m), cx_tensor_data(rng));
    names[n - 1] = RNG_TENSOR;
    tensors[n - 1] = rng;
    const char *config = cx_model_config(m);
    if (!config) {
        st = cx_last_status();
        goto done;
    }
    const char *keys[4 + MAX_EXTRA] = {"format", "config", "train", "optimizer"};
    const char *values[4 + MAX_EXTRA] = {FORMAT, config, train_text, optim_text};
    int n_meta = o ? 4 : 3;
    for (int i = 0; i < n_extra; i++, n_meta++) {
        keys[n_meta] = extra_keys[i];
        values[n_meta] = extra_values[i];
    }
    st = cx_safetensors_save(path, n, names, tensors, n_meta, keys, values);
done:
    free(optim_text);
    free(train_text);
    cx_tensor_free(rng);
    cx__free(name_block);
    cx__free(tensors);
    cx__free(names);
    return st;
}

/* ---- load ---- */

/* Copies the stored tensor name into dst (same shape, f32). */
static cx_status load_into(const char *path, cx_safetensors *f, const char *name, cx_tensor *dst) {
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

static cx_optim *load_optim(const char *path, cx_safetensors *f, cx_model *m) {
    const char *text = cx_safetensors_metadata(f, "optimizer");
    if (!text) return NULL;
    cx_optim_kind kind = CX_OPTIM_SGD;
    cx_optim_params p;
    int64_t steps = 0;
    if (parse_optim(path, text, &kind, &p, &steps) != CX_OK) return NULL;
    cx_tensor **params = cx__alloc((size_t)(cx_model_num_param_tensors(m) + 1) * sizeof *params);
    if (!params) return NULL;
    int n = cx_model_trainable_params(m, params);
    cx_optim *o = cx_optim_new(kind, &p, params, n);
    cx__free(params);
    if (!o) return NULL;
    cx_optim_set_steps(o, steps);
    char name[256];
    for (int i = 0; i < cx_optim_state_count(o); i++) {
        if (!optim_tensor_name(m, o, i, name, sizeof name) ||
            load_into(path, f, name, cx_optim_state_tensor(o, i)) != CX_OK) {
            if (cx_last_status() == CX_OK)
                cx__error(CX_ERR_FORMAT, "%s: optimizer state '%s' is missing", path, name);
            cx_optim_free(o);
            return NULL;
        }
    }
    return o;
}

cx_model *cx_checkpoint_load(const char *path, cx_optim **optim, cx_train_state *state) {
    if (optim) *optim = NULL;
    if (!path) return cx__error(CX_ERR_ARG, "checkpoint load: NULL path"), NULL;
    cx_safetensors *f = cx_safetensors_open(path);
    if (!f) return NULL;
    cx_model *m = NULL;
    const char *format = cx_safetensors_metadata(f, "format");
    const char *config = cx_safetensors_metadata(f, "config");
    const char *train = cx_safetensors_metadata(f, "train");
    if (!format || strcmp(format, FORMAT) != 0 || !config || !train) {
        cx__error(CX_ERR_FORMAT, "%s: not a Cortex checkpoint (no \"format\": \"" FORMAT "\", "
                  "\"config\" and \"train\" metadata); a plain weights file loads with "
                  "cx_model_load_weights", path);
        goto fail;
    }
    cx_train_state s = {0};
    if (parse_train(path, train, &s) != CX_OK) goto fail;
    /* the weights replace the initial values, so the generator used to build does not matter */
    cx_rng *scratch = cx_rng_new(0);
    if (!scratch) goto fail;
    char source[512];
    snprintf(source, sizeof source, "%s (stored config)", path);
    m = cx_model_from_config(config, source, scratch);
    cx_rng_free(scratch);
    if (!m || cx_model_load_weights(m, f) != CX_OK) goto fail;
    cx_tensor *rng = cx_safetensors_get(f, RNG_TENSOR);
    if (!rng && cx_last_status() != CX_ERR_ARG) goto fail; /* not a missing tensor: keep why */
    if (!rng || cx_tensor_dtype(rng) != CX_DTYPE_U8 ||
        (size_t)cx_tensor_numel(rng) != cx_rng_state_bytes() ||
        cx_rng_set_state(cx_model_rng(m), cx_tensor_data(rng)) != CX_OK) {
        cx_tensor_free(rng);
        cx__error(CX_ERR_FORMAT, "%s: the generator state '" RNG_TENSOR "' is missing or "
                  "damaged", path);
        goto fail;
    }
    cx_tensor_free(rng);
    if (optim) {
        *optim = load_optim(path, f, m);
        if (!*optim && cx_safetensors_metadata(f, "optimizer")) goto fail;
    }
    if (state) *state = s;
    cx_safetensors_close(f);
    return m;
fail:
    cx_model_free(m);
    cx_safetensors_close(f);
    return NULL;
}
