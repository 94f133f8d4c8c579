/*
 * model.c - the Sequential container: layers in order, their parameters, forward and loss.
 *
 * Parameters: every parameter tensor is a view into one f32 block (the flat vector that
 * optimizers, clipping, checkpoints and allreduce loop over), and its gradient a view into a
 * second block, set as the tensor's grad. Both blocks are owned by a cx_storage of the model
 * that all views share, so when a layer is added the block is replaced by a larger copy and
 * only storage->data changes: every view stays valid. Growth is exact (no spare capacity), so
 * a model holds no more memory than its parameters.
 * Names follow torch's nn.Sequential state_dict: "<layer index>.<param>", or with
 * CX_PARAM_NAMES_LAYER "<layer name>.<param>" for named layers, so a config that names its
 * layers as a torch module nests them ("features.0") loads that module's state_dict. Names
 * are recomputed whenever a layer's name or the naming changes (name_params). Buffers (batch
 * norm's running statistics) live the same way in a third block, without gradients.
 *
 * Graphs: each layer takes its input from any earlier layer (by default the one before), and
 * [add] / [concat] read further earlier outputs, so forward keeps every layer's output of the
 * step in m->outputs until the end of the pass (the autograd graph holds what backward needs).
 *
 * Shapes only: a model may be built without parameter memory (cx__model_set_shapes_only):
 * layers, shapes and parameter counts exist, tensors do not; it serves summaries of big
 * models and cannot run.
 */
#include "nn/layer.h" /* defines: cx_layer_kind, cx_layer, cx__model_add */

#include <ctype.h>
#include <string.h>

int64_t cx__model_max_params = (int64_t)1 << 31;

typedef struct {
    char name[CX_LAYER_NAME_MAX + 32]; /* state_dict name: prefix "." own */
    char own[24];                      /* "weight", "running_mean" */
    cx_tensor *t; /* view into values; its grad a view into grads (buffers: none) */
    int layer;
} cx_param;

struct cx_model {
    int in_ndim;
    int64_t in_shape[CX_MAX_DIMS]; /* per sample */
    cx_loss loss;
    cx_param_names param_names;
    bool training;
    cx_rng *rng;
    int64_t shard_offset, shard_total; /* cx_model_set_batch_shard; total 0: not sharded */

    cx_layer *layers;
    int n_layers, cap_layers;
    cx_tensor **outputs; /* forward's per-layer outputs, kept here so a step mallocs nothing */
    int cap_outputs;
    cx_tensor **states; /* per layer: the state a stateful layer carries across batches */
    int cap_states;

    cx_param *params;
    int n_params, cap_params;
    cx_storage *values, *grads; /* (numel) each */
    int64_t numel;
    bool shapes_only;

    cx_param *buffers; /* running statistics: views into buffer_values */
    int n_buffers, cap_buffers;
    cx_storage *buffer_values; /* (buffer_numel) */
    int64_t buffer_numel;

    int next_input; /* cx_model_branch: the next layer's input, CX_INPUT_PREVIOUS if none */

    char *config; /* cx_model_config's last text */
};

cx_model *cx_model_new(int ndim, const int64_t *sample_shape) {
    if (ndim < 1 || ndim > CX_MAX_DIMS - 1 || !sample_shape) {
        cx__error(CX_ERR_ARG, "cx_model_new: a sample has 1 to %d dimensions, got %d%s",
                  CX_MAX_DIMS - 1, ndim, sample_shape ? "" : " (shape is NULL)");
        return NULL;
    }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (i == 0 && sample_shape[0] == 0) continue; /* a sequence of any length */
        if (sample_shape[i] < 1 || sample_shape[i] > CX_DIM_MAX ||
            n > CX_MAX_NUMEL / sample_shape[i]) {
            char s[CX_SHAPE_STR_MAX];
            cx__error(CX_ERR_ARG,
                      "cx_model_new: sample shape %s: every dimension must be 1 to "
                      "%lld (the first may be 0: any length) and a sample at most 2^40 "
                      "elements",
                      cx__shape_str(ndim, sample_shape, s, sizeof s), (long long)CX_DIM_MAX);
            return NULL;
        }
        n *= sample_shape[i];
    }
    cx_model *m = cx__calloc(sizeof *m);
    if (!m) return NULL;
    m->values = cx__calloc(sizeof *m->values);
    m->grads = cx__calloc(sizeof *m->grads);
    m->buffer_values = cx__calloc(sizeof *m->buffer_values);
    m->rng = cx_rng_new(0);
    if (!m->values || !m->grads || !m->buffer_values || !m->rng) {
        cx__free(m->values);
        cx__free(m->grads);
        cx__free(m->buffer_values);
        cx_rng_free(m->rng);
        cx__free(m);
        return NULL;
    }
    /* the model's own reference */
    m->values->refcount = m->grads->refcount = m->buffer_values->refcount = 1;
    m->next_input = CX_INPUT_PREVIOUS;
    m->in_ndim = ndim;
    memcpy(m->in_shape, sample_shape, (size_t)ndim * sizeof *sample_shape);
    return m;
}

/* Drops the model's reference to a parameter block; the views have let theirs go. */
static void storage_drop(cx_storage *st) {
    cx__free(st->data);
    st->data = NULL;
    if (--st->refcount == 0) cx__free(st);
}

void cx_model_free(cx_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_params; i++)
        cx_tensor_free(m->params[i].t);
    for (int i = 0; i < m->n_buffers; i++)
        cx_tensor_free(m->buffers[i].t);
    storage_drop(m->values);
    storage_drop(m->grads);
    storage_drop(m->buffer_values);
    cx__free(m->params);
    cx__free(m->buffers);
    cx__free(m->layers);
    cx__free(m->outputs);
    cx_model_reset_states(m);
    cx__free(m->states);
    cx__free(m->config);
    cx_rng_free(m->rng);
    cx__free(m);
}

/* ---- adding layers ---- */

/* Grows an array to hold need entries (doubling); false + CX_ERR_OOM, array unchanged. */
static bool grow(void **arr, int *cap, int need, size_t elem) {
    if (need <= *cap) return true;
    int c = *cap ? *cap : 8;
    while (c < need)
        c *= 2;
    void *p = cx__alloc((size_t)c * elem);
    if (!p) return false;
    if (*arr) memcpy(p, *arr, (size_t)*cap * elem);
    cx__free(*arr);
    *arr = p;
    *cap = c;
    return true;
}

/* A block of numel floats holding st's first used floats, the rest zeroed. (Only the used
 * part is copied: after a failed add the block may be larger than the parameters in it.) */
static bool storage_grow(const cx_storage *st, void **fresh, int64_t used, int64_t numel) {
    size_t bytes = (size_t)numel * sizeof(float), keep = (size_t)used * sizeof(float);
    *fresh = cx__alloc(bytes);
    if (!*fresh) return false;
    if (keep) memcpy(*fresh, st->data, keep);
    memset((char *)*fresh + keep, 0, bytes - keep);
    return true;
}

/* Ends every active arena (up to 16), so that what is made next lives on the heap as long as
 * the model, whatever arenas the caller has begun; arenas_resume begins them again. */
static int arenas_suspend(cx_arena **active) {
    int n = 0;
    for (cx_arena *a; (a = cx__current_arena()) && n < 16;) {
        active[n++] = a;
        cx_arena_end(a);
    }
    return n;
}

static void arenas_resume(cx_arena **active, int n) {
    while (n)
        cx_arena_begin(active[--n]);
}

/* A heap view of numel floats of st at offset, shaped as given. */
static cx_tensor *block_view(cx_storage *st, int ndim, const int64_t *shape, int64_t offset) {
    cx_tensor base = {.dtype = CX_DTYPE_F32, .storage = st};
    int64_t stride[CX_MAX_DIMS], s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= shape[d];
    }
    cx_arena *active[16];
    int n_active = arenas_suspend(active);
    cx_tensor *t = cx__tensor_view(&base, ndim, shape, stride, offset);
    arenas_resume(active, n_active);
    return t;
}

cx_tensor *cx__layer_state(const cx_layer_run *run, int ndim, const int64_t *shape) {
    cx_tensor *t = *run->state;
    bool same = t && t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (same) return t;
    cx_tensor_free(t);
    cx_arena *active[16];
    int n_active = arenas_suspend(active);
    *run->state = cx_zeros(ndim, shape);
    arenas_resume(active, n_active);
    return *run->state;
}

/* A frozen parameter neither requires nor holds a gradient, so backward leaves it alone and
 * optimizers skip it (as torch's skip parameters whose grad is None) rather than letting
 * weight decay move it. Its part of the flat gradient vector stays zero. */
static void freeze_param(cx_param *p) {
    cx_tensor_set_requires_grad(p->t, false);
    cx_tensor_free(p->t->grad);
    p->t->grad = NULL;
}

static void free_views(cx_param *ps, int n) {
    for (int q = 0; q < n; q++)
        cx_tensor_free(ps[q].t);
}

/* Creates the views of b's parameters starting at the model's current end; frozen ones do
 * not require a gradient. */
static bool make_params(cx_model *m, const cx_layer_build *b, int index, bool frozen) {
    int64_t off = m->numel;
    for (int p = 0; p < b->n_params; p++) {
        int nd = b->params[p].ndim;
        const int64_t *sh = b->params[p].shape;
        cx_param *dst = &m->params[m->n_params + p];
        dst->t = block_view(m->values, nd, sh, off);
        cx_tensor *g = dst->t ? block_view(m->grads, nd, sh, off) : NULL;
        if (!g) {
            cx_tensor_free(dst->t);
            free_views(m->params + m->n_params, p);
            return false;
        }
        cx_tensor_set_requires_grad(dst->t, true);
        cx__tensor_set_grad(dst->t, g);
        if (frozen) freeze_param(dst);
        snprintf(dst->own, sizeof dst->own, "%s", b->params[p].name);
        dst->layer = index;
        off += cx__numel(nd, sh);
    }
    return true;
}

/* Creates b's buffers (1-D, filled) at the end of the buffer block. */
static bool make_buffers(cx_model *m, const cx_layer_build *b, int index) {
    int64_t off = m->buffer_numel;
    for (int k = 0; k < b->n_buffers; k++) {
        cx_param *dst = &m->buffers[m->n_buffers + k];
        int64_t n = b->buffers[k].size;
        dst->t = block_view(m->buffer_values, 1, &n, off);
        if (!dst->t) {
            free_views(m->buffers + m->n_buffers, k);
            return false;
        }
        float *d = cx__f32(dst->t);
        for (int64_t i = 0; i < n; i++)
            d[i] = b->buffers[k].fill;
        snprintf(dst->own, sizeof dst->own, "%s", b->buffers[k].name);
        dst->layer = index;
        off += n;
    }
    return true;
}

/* Replaces st's block by one of numel floats keeping the first used ones (the rest zero). */
static bool storage_resize(cx_storage *st, int64_t used, int64_t numel) {
    void *fresh = NULL;
    if (!storage_grow(st, &fresh, used, numel)) return false;
    cx__free(st->data);
    st->data = fresh;
    st->bytes = (size_t)numel * sizeof(float);
    return true;
}

/* A valid layer name: 1 to 31 letters, digits, '_', '.' or '-', starting with a letter or
 * '_' (so it cannot be read as a -N reference), unused, and not "input" (the model input). */
static cx_status check_name(const cx_model *m, const char *name) {
    size_t n = strlen(name);
    bool ok = n < CX_LAYER_NAME_MAX && (isalpha((unsigned char)name[0]) || name[0] == '_');
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || strchr("_.-", name[i]);
    if (!ok)
        return cx__error(CX_ERR_ARG,
                         "name '%.40s': a name has 1 to %d letters, digits, '_', '.' or '-' "
                         "and starts with a letter or '_'",
                         name, CX_LAYER_NAME_MAX - 1);
    if (strcmp(name, "input") == 0)
        return cx__error(CX_ERR_ARG, "name 'input' is taken: it means the model input");
    int other = cx__model_find_layer(m, name);
    if (other >= 0)
        return cx__error(CX_ERR_ARG, "name '%s' is taken by layer %d (%s)", name, other,
                         m->layers[other].kind->name);
    return CX_OK;
}

/* The prefix of layer i's parameter names: its name under CX_PARAM_NAMES_LAYER when it has
 * one, else its index. */
static void param_prefix(const cx_model *m, int i, char *buf, size_t size) {
    const cx_layer *l = &m->layers[i];
    if (m->param_names == CX_PARAM_NAMES_LAYER && l->name[0])
        snprintf(buf, size, "%s", l->name);
    else
        snprintf(buf, size, "%d", i);
}

/* Writes the names of layer i's parameters and buffers: prefix "." own name. */
static void name_params(cx_model *m, int i) {
    const cx_layer *l = &m->layers[i];
    char prefix[CX_LAYER_NAME_MAX]; /* a name, or an index of at most 5 digits */
    param_prefix(m, i, prefix, sizeof prefix);
    for (int q = 0; q < l->n_params; q++) {
        cx_param *p = &m->params[l->first_param + q];
        snprintf(p->name, sizeof p->name, "%s.%s", prefix, p->own);
    }
    for (int q = 0; q < l->n_buffers; q++) {
        cx_param *p = &m->buffers[l->first_buffer + q];
        snprintf(p->name, sizeof p->name, "%s.%s", prefix, p->own);
    }
}

cx_status cx__model_add(cx_model *m, const cx_layer_kind *kind, const void *args, cx_rng *rng) {
    return cx__model_add_opts(m, kind, args, &(cx_layer_opts){.input = CX_INPUT_PREVIOUS}, rng);
}

cx_status cx__model_add_opts(cx_model *m, const cx_layer_kind *kind, const void *args,
                             const cx_layer_opts *opts, cx_rng *rng) {
    if (!m) return cx__error(CX_ERR_ARG, "cx_model_add: model is NULL");
    int index = m->n_layers;
    if (index >= CX_MODEL_MAX_LAYERS)
        return cx__error(CX_ERR_ARG, "layer %d (%s): a model has at most %d layers", index,
                         kind->name, CX_MODEL_MAX_LAYERS);
    int input = opts->input == CX_INPUT_PREVIOUS ? m->next_input : opts->input;
    if (input == CX_INPUT_PREVIOUS) input = index - 1;
    if (input < -1 || input >= index)
        return cx__error(CX_ERR_ARG,
                         "layer %d (%s): input %d is not an earlier layer (0 to %d, or -1 for "
                         "the model input)",
                         index, kind->name, input, index - 1);
    const char *name = opts->name ? opts->name : "";
    cx_status st = name[0] ? check_name(m, name) : CX_OK;
    if (st != CX_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", cx_last_error());
        return cx__error(st, "layer %d (%s): %s", index, kind->name, why);
    }
    /* a copy: growing the layer array below moves the previous layer's shape */
    int64_t in_shape[CX_MAX_DIMS];
    cx_layer_build b = {.args = args, .model = m, .in_shape = in_shape};
    b.in_ndim = cx__model_output_of(m, input, in_shape);
    char in_str[CX_SHAPE_STR_MAX + 8]; /* "[N,1,28,28]": messages name the layer's input */
    cx__batch_shape_str(b.in_ndim, in_shape, in_str, sizeof in_str);
    if (b.in_ndim && in_shape[0] == 0 && !kind->any_length && !kind->is_activation)
        return cx__error(CX_ERR_SHAPE, "layer %d (%s) on input %s: needs samples of a fixed "
                         "size, but the sequence length is any (none); give the model input a "
                         "length", index, kind->name, in_str);
    st = kind->build(&b);
    if (st != CX_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", cx_last_error());
        return cx__error(st, "layer %d (%s) on input %s: %s", index, kind->name, in_str, why);
    }
    CX_ASSERT(b.n_params <= CX_LAYER_MAX_PARAMS && b.n_buffers <= CX_LAYER_MAX_BUFFERS &&
              b.out_ndim >= 1 && b.out_ndim < CX_MAX_DIMS);
    /* parameter count, checked for overflow before anything is allocated */
    int64_t add = 0;
    for (int p = 0; p < b.n_params; p++) {
        int64_t n = 1;
        for (int d = 0; d < b.params[p].ndim; d++) {
            int64_t s = b.params[p].shape[d];
            if (s < 0 || (s > 0 && n > cx__model_max_params / s))
                n = cx__model_max_params + 1;
            else
                n *= s;
        }
        add += n;
        if (add > cx__model_max_params - m->numel) {
            char s[CX_SHAPE_STR_MAX];
            return cx__error(CX_ERR_OOM,
                             "layer %d (%s) on input %s: %s %s would take the model over "
                             "%lld parameters",
                             index, kind->name, in_str, b.params[p].name,
                             cx__shape_str(b.params[p].ndim, b.params[p].shape, s, sizeof s),
                             (long long)cx__model_max_params);
        }
    }
    int64_t add_buffers = 0;
    for (int k = 0; k < b.n_buffers; k++)
        add_buffers += b.buffers[k].size;
    if (m->shapes_only) b.n_params = b.n_buffers = 0; /* counted, not made */
    if (!grow((void **)&m->layers, &m->cap_layers, index + 1, sizeof *m->layers) ||
        !grow((void **)&m->outputs, &m->cap_outputs, index + 1, sizeof *m->outputs) ||
        !grow((void **)&m->states, &m->cap_states, index + 1, sizeof *m->states) ||
        !grow((void **)&m->params, &m->cap_params, m->n_params + b.n_params, sizeof *m->params) ||
        !grow((void **)&m->buffers, &m->cap_buffers, m->n_buffers + b.n_buffers,
              sizeof *m->buffers))
        return CX_ERR_OOM;
    if (add && !m->shapes_only &&
        (!storage_resize(m->values, m->numel, m->numel + add) ||
         !storage_resize(m->grads, m->numel, m->numel + add)))
        return CX_ERR_OOM;
    if (b.n_buffers && !storage_resize(m->buffer_values, m->buffer_numel,
                                       m->buffer_numel + add_buffers))
        return CX_ERR_OOM;
    if (!make_params(m, &b, index, opts->frozen)) return CX_ERR_OOM;
    if (!make_buffers(m, &b, index)) {
        free_views(m->params + m->n_params, b.n_params);
        return CX_ERR_OOM;
    }

    cx_layer *l = &m->layers[index];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->index = index;
    l->input = input;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->frozen = opts->frozen;
    l->numel = add;
    l->first_buffer = m->n_buffers;
    l->n_buffers = b.n_buffers;
    l->in_ndim = b.in_ndim;
    memcpy(l->in_shape, b.in_shape, (size_t)b.in_ndim * sizeof *l->in_shape);
    l->out_ndim = b.out_ndim;
    memcpy(l->out_shape, b.out_shape, (size_t)b.out_ndim * sizeof *l->out_shape);
    m->states[index] = NULL;
    l->first_param = m->n_params;
    l->n_params = b.n_params;
    memcpy(l->args, args, kind->args_size);
    m->n_layers++;
    m->n_params += b.n_params;
    m->numel += add;
    m->n_buffers += b.n_buffers;
    if (b.n_buffers) m->buffer_numel += add_buffers;
    m->next_input = CX_INPUT_PREVIOUS;
    name_params(m, index);
    if (kind->init && !m->shapes_only) {
        cx_tensor *ps[CX_LAYER_MAX_PARAMS];
        for (int p = 0; p < b.n_params; p++)
            ps[p] = m->params[l->first_param + p].t;
        kind->init(l, ps, rng ? rng : cx_rng_default());
    }
    return CX_OK;
}

const cx_layer *cx__model_layer(const cx_model *m, int i) {
    return m && i >= 0 && i < m->n_layers ? &m->layers[i] : NULL;
}

int cx__model_find_layer(const cx_model *m, const char *name) {
    for (int i = 0; m && name && name[0] && i < m->n_layers; i++)
        if (strcmp(m->layers[i].name, name) == 0) return i;
    return -1;
}

void cx__model_set_shapes_only(cx_model *m) {
    if (m && m->n_layers == 0) m->shapes_only = true;
}

bool cx__model_shapes_only(const cx_model *m) {
    return m && m->shapes_only;
}

cx_status cx_model_branch(cx_model *m, int layer) {
    if (!m) return cx__error(CX_ERR_ARG, "cx_model_branch: model is NULL");
    if (layer < -1 || layer >= m->n_layers)
        return cx__error(CX_ERR_ARG,
                         "cx_model_branch: layer %d is not a layer of the model (0 to %d, or -1 "
                         "for the model input)",
                         layer, m->n_layers - 1);
    m->next_input = layer;
    return CX_OK;
}

const char *cx_model_layer_name(const cx_model *m, int i) {
    const cx_layer *l = cx__model_layer(m, i);
    return l ? l->name : NULL;
}

cx_status cx_model_set_layer_name(cx_model *m, int i, const char *name) {
    if (!cx__model_layer(m, i) || !name)
        return cx__error(CX_ERR_ARG, "cx_model_set_layer_name: no layer %d%s", i,
                         name ? "" : " (or name is NULL)");
    if (name[0] && strcmp(m->layers[i].name, name) != 0) {
        cx_status st = check_name(m, name);
        if (st != CX_OK) return st;
    }
    snprintf(m->layers[i].name, sizeof m->layers[i].name, "%s", name);
    name_params(m, i);
    return CX_OK;
}

cx_status cx_model_set_param_names(cx_model *m, cx_param_names naming) {
    if (!m) return cx__error(CX_ERR_ARG, "cx_model_set_param_names: model is NULL");
    if (naming != CX_PARAM_NAMES_INDEX && naming != CX_PARAM_NAMES_LAYER)
        return cx__error(CX_ERR_ARG, "cx_model_set_param_names: unknown naming %d", (int)naming);
    m->param_names = naming;
    for (int i = 0; i < m->n_layers; i++)
        name_params(m, i);
    return CX_OK;
}

cx_param_names cx_model_get_param_names(const cx_model *m) {
    return m ? m->param_names : CX_PARAM_NAMES_INDEX;
}

int cx_model_find_layer(const cx_model *m, const char *name) {
    return cx__model_find_layer(m, name);
}

int cx_model_layer_input(const cx_model *m, int i) {
    const cx_layer *l = cx__model_layer(m, i);
    return l ? l->input : -1;
}

cx_status cx_model_set_loss(cx_model *m, cx_loss loss) {
    if (!m) return cx__error(CX_ERR_ARG, "cx_model_set_loss: model is NULL");
    if (loss != CX_LOSS_CROSS_ENTROPY && loss != CX_LOSS_MSE && loss != CX_LOSS_BCE)
        return cx__error(CX_ERR_ARG, "cx_model_set_loss: unknown loss %d", (int)loss);
    m->loss = loss;
    return CX_OK;
}

cx_loss cx_model_get_loss(const cx_model *m) {
    return m ? m->loss : CX_LOSS_CROSS_ENTROPY;
}

const char *cx_model_config(cx_model *m) {
    char *text = m ? cx__config_text(m) : NULL;
    if (!text) return NULL;
    cx__free(m->config);
    m->config = text;
    return text;
}

/* ---- running ---- */

void cx_model_set_training(cx_model *m, bool training) {
    if (m) m->training = training;
}
bool cx_model_training(const cx_model *m) {
    return m && m->training;
}
cx_rng *cx_model_rng(cx_model *m) {
    return m ? m->rng : NULL;
}
void cx_model_seed(cx_model *m, uint64_t seed) {
    if (m) cx_rng_seed(m->rng, seed);
}
cx_status cx_model_set_batch_shard(cx_model *m, int64_t offset, int64_t total) {
    if (!m || offset < 0 || total < 0)
        return cx__error(CX_ERR_ARG, "cx_model_set_batch_shard: %s", !m ? "model is NULL"
                         : "offset and total must not be negative");
    m->shard_offset = total ? offset : 0;
    m->shard_total = total;
    return CX_OK;
}

/* The output of the first n layers for x, checked against the model's input shape; kept[k]
 * (n_keep entries, may be 0) receives a new reference to the output of layer keep[k] < n. */
static cx_tensor *run_layers(cx_model *m, cx_tensor *x, int n, const char *who, int n_keep,
                             const int *keep, cx_tensor **kept) {
    if (!m) {
        cx__error(CX_ERR_ARG, "%s: model is NULL", who);
        return NULL;
    }
    /* f32 for most models; i32 token ids for a model that starts with an embedding */
    if (!cx__check(who, "x", x)) return NULL;
    if (m->shapes_only) {
        cx__error(CX_ERR_UNSUPPORTED,
                  "%s: the model was built for its shapes only (no parameters); "
                  "build it with cx_model_load_config to run it",
                  who);
        return NULL;
    }
    bool fits = x->ndim == m->in_ndim + 1;
    for (int d = 0; fits && d < m->in_ndim; d++) /* 0: a sequence of any length */
        fits = x->shape[d + 1] == m->in_shape[d] || (m->in_shape[d] == 0 && x->shape[d + 1] > 0);
    if (!fits) {
        char a[CX_SHAPE_STR_MAX], b[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "%s: input %s does not fit the model, which takes %s", who,
                  cx__shape_str(x->ndim, x->shape, a, sizeof a),
                  cx__batch_shape_str(m->in_ndim, m->in_shape, b, sizeof b));
        return NULL;
    }
    cx_layer_run run = {.training = m->training, .rng = m->rng, .input = x, .outputs = m->outputs,
                        .shard_offset = m->shard_offset, .shard_total = m->shard_total};
    cx_tensor *h = x;
    for (int i = 0; i < n; i++) {
        const cx_layer *l = &m->layers[i];
        cx_tensor *ps[CX_LAYER_MAX_PARAMS], *bs[CX_LAYER_MAX_BUFFERS];
        for (int p = 0; p < l->n_params; p++)
            ps[p] = m->params[l->first_param + p].t;
        for (int k = 0; k < l->n_buffers; k++)
            bs[k] = m->buffers[l->first_buffer + k].t;
        run.params = ps;
        run.buffers = bs;
        run.state = &m->states[i];
        cx__anomaly_set_layer(i, l->kind->name);
        cx_tensor *y = l->kind->forward(l, cx__layer_output(&run, l->input), &run);
        cx__anomaly_set_layer(-1, NULL);
        if (!y) {
            char why[512];
            snprintf(why, sizeof why, "%s", cx_last_error());
            cx__error(cx_last_status(), "%s: layer %d (%s): %s", who, i, l->kind->name, why);
            for (int j = 0; j < i; j++)
                cx_tensor_free(m->outputs[j]);
            return NULL;
        }
        m->outputs[i] = h = y;
    }
    for (int k = 0; k < n_keep; k++) {
        kept[k] = m->outputs[keep[k]];
        cx__tensor_retain(kept[k]);
    }
    /* The graph holds what backward needs; the intermediate references go (heap mode). */
    for (int j = 0; j + 1 < n; j++)
        cx_tensor_free(m->outputs[j]);
    if (n == 0) cx__tensor_retain(x);
    return h;
}

cx_tensor *cx_model_forward(cx_model *m, cx_tensor *x) {
    return run_layers(m, x, m ? m->n_layers : 0, "cx_model_forward", 0, NULL, NULL);
}

cx_status cx_model_forward_layers(cx_model *m, cx_tensor *x, int n, const int *layers,
                                  cx_tensor **outputs) {
    const char *who = "cx_model_forward_layers";
    if (!m || n < 1 || !layers || !outputs)
        return cx__error(CX_ERR_ARG, "%s: %s", who,
                         !m ? "model is NULL" : n < 1 ? "no layers asked for"
                                                      : "layers or outputs is NULL");
    int last = -1;
    for (int k = 0; k < n; k++) {
        outputs[k] = NULL;
        if (layers[k] < 0 || layers[k] >= m->n_layers)
            return cx__error(CX_ERR_ARG, "%s: layer %d is not in the model (layers 0 to %d)", who,
                             layers[k], m->n_layers - 1);
        if (layers[k] > last) last = layers[k];
    }
    cx_tensor *h = run_layers(m, x, last + 1, who, n, layers, outputs);
    if (!h) return cx_last_status();
    cx_tensor_free(h);
    return CX_OK;
}

cx_tensor *cx_model_forward_to(cx_model *m, cx_tensor *x, int layer) {
    cx_tensor *out = NULL;
    cx_model_forward_layers(m, x, 1, &layer, &out);
    return out;
}

/* True if the final layer's activation is part of the loss (computed from its input, which
 * must be the layer before it). */
static bool folds_last(const cx_model *m) {
    if (m->n_layers == 0 || !m->layers[m->n_layers - 1].kind->is_activation ||
        m->layers[m->n_layers - 1].input != m->n_layers - 2)
        return false;
    cx_activation a = m->layers[m->n_layers - 1].kind->activation;
    if (m->loss == CX_LOSS_CROSS_ENTROPY) return a == CX_ACT_SOFTMAX || a == CX_ACT_LOG_SOFTMAX;
    return m->loss == CX_LOSS_BCE && a == CX_ACT_SIGMOID;
}

cx_tensor *cx_model_loss(cx_model *m, cx_tensor *x, cx_tensor *target, cx_tensor **logits) {
    if (logits) *logits = NULL;
    if (!m) {
        cx__error(CX_ERR_ARG, "cx_model_loss: model is NULL");
        return NULL;
    }
    if (!cx__check("cx_model_loss", "target", target)) return NULL;
    cx_tensor *z = run_layers(m, x, m->n_layers - (folds_last(m) ? 1 : 0), "cx_model_loss", 0,
                              NULL, NULL);
    if (!z) return NULL;
    if (m->loss == CX_LOSS_CROSS_ENTROPY && z->ndim > 2) {
        /* a sequence [N, T, .., C] against labels [N, T, ..]: every position is a sample */
        cx_tensor *z2 = cx_reshape(z, CX_SHAPE(-1, z->shape[z->ndim - 1]));
        cx_tensor *t2 = z2 ? cx_reshape(target, CX_SHAPE(-1)) : NULL;
        cx_tensor *loss = t2 ? cx_cross_entropy(z2, t2, CX_REDUCTION_MEAN) : NULL;
        cx_tensor_free(z2);
        cx_tensor_free(t2);
        if (logits && loss) *logits = z;
        else cx_tensor_free(z);
        return loss;
    }
    cx_tensor *loss = m->loss == CX_LOSS_CROSS_ENTROPY
                          ? cx_cross_entropy(z, target, CX_REDUCTION_MEAN)
                      : m->loss == CX_LOSS_MSE ? cx_mse_loss(z, target, CX_REDUCTION_MEAN)
                                               : cx_bce_with_logits(z, target, CX_REDUCTION_MEAN);
    if (logits && loss)
        *logits = z;
    else
        cx_tensor_free(z);
    return loss;
}

void cx_model_reset_states(cx_model *m) {
    for (int i = 0; m && m->states && i < m->n_layers; i++) {
        cx_tensor_free(m->states[i]);
        m->states[i] = NULL;
    }
}

/* ---- inspecting ---- */

int cx_model_num_layers(const cx_model *m) {
    return m ? m->n_layers : 0;
}

const char *cx_model_layer_kind(const cx_model *m, int i) {
    const cx_layer *l = cx__model_layer(m, i);
    return l ? l->kind->name : NULL;
}

static int copy_shape(int ndim, const int64_t *src, int64_t *dst) {
    if (dst) memcpy(dst, src, (size_t)ndim * sizeof *src);
    return ndim;
}

int cx_model_layer_output_shape(const cx_model *m, int i, int64_t *shape) {
    const cx_layer *l = cx__model_layer(m, i);
    return l ? copy_shape(l->out_ndim, l->out_shape, shape) : 0;
}

int cx__model_output_of(const cx_model *m, int64_t i, int64_t *shape) {
    return i < 0 ? cx_model_input_shape(m, shape) : cx_model_layer_output_shape(m, (int)i, shape);
}

int64_t cx_model_layer_num_params(const cx_model *m, int i) {
    const cx_layer *l = cx__model_layer(m, i);
    return l ? l->numel : 0;
}

int cx_model_input_shape(const cx_model *m, int64_t *shape) {
    return m ? copy_shape(m->in_ndim, m->in_shape, shape) : 0;
}

int cx_model_output_shape(const cx_model *m, int64_t *shape) {
    if (!m) return 0;
    return m->n_layers ? cx_model_layer_output_shape(m, m->n_layers - 1, shape)
                       : cx_model_input_shape(m, shape);
}

int cx_model_num_param_tensors(const cx_model *m) {
    return m ? m->n_params : 0;
}

cx_tensor *cx_model_param(cx_model *m, int i) {
    return m && i >= 0 && i < m->n_params ? m->params[i].t : NULL;
}

const char *cx_model_param_name(const cx_model *m, int i) {
    return m && i >= 0 && i < m->n_params ? m->params[i].name : NULL;
}

cx_tensor *cx_model_param_by_name(cx_model *m, const char *name) {
    for (int i = 0; m && name && i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) return m->params[i].t;
    return NULL;
}

int64_t cx_model_num_params(const cx_model *m) {
    return m ? m->numel : 0;
}
float *cx_model_params_flat(cx_model *m) {
    return m ? m->values->data : NULL;
}
float *cx_model_grads_flat(cx_model *m) {
    return m ? m->grads->data : NULL;
}

void cx_model_zero_grad(cx_model *m) {
    if (m && m->numel && m->grads->data)
        memset(m->grads->data, 0, (size_t)m->numel * sizeof(float));
}

/* ---- buffers and freezing ---- */

int cx_model_num_buffers(const cx_model *m) {
    return m ? m->n_buffers : 0;
}
cx_tensor *cx_model_buffer(cx_model *m, int i) {
    return m && i >= 0 && i < m->n_buffers ? m->buffers[i].t : NULL;
}
const char *cx_model_buffer_name(const cx_model *m, int i) {
    return m && i >= 0 && i < m->n_buffers ? m->buffers[i].name : NULL;
}

cx_status cx_model_freeze(cx_model *m, int upto) {
    if (!m) return cx__error(CX_ERR_ARG, "cx_model_freeze: model is NULL");
    int last = upto < 0 ? m->n_layers + upto : upto;
    if (last < 0 || last >= m->n_layers)
        return cx__error(CX_ERR_ARG, "cx_model_freeze: layer %d is not in the model (%d layers)",
                         upto, m->n_layers);
    for (int i = 0; i <= last; i++)
        m->layers[i].frozen = true;
    for (int p = 0; p < m->n_params; p++)
        if (m->params[p].layer <= last) freeze_param(&m->params[p]);
    return CX_OK;
}

bool cx_model_param_trainable(const cx_model *m, int i) {
    return m && i >= 0 && i < m->n_params && !m->layers[m->params[i].layer].frozen;
}

int cx_model_trainable_params(cx_model *m, cx_tensor **out) {
    int n = 0;
    for (int i = 0; m && out && i < m->n_params; i++)
        if (cx_model_param_trainable(m, i)) out[n++] = m->params[i].t;
    return n;
}

int64_t cx__model_trainable_numel(const cx_model *m) {
    int64_t n = 0;
    for (int i = 0; m && i < m->n_layers; i++)
        if (!m->layers[i].frozen) n += m->layers[i].numel;
    return n;
}

char *cx__batch_shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t len = (size_t)snprintf(buf, size, "[N");
    for (int d = 0; d < ndim && len < size; d++) /* 0: a sequence of any length T */
        len += (size_t)(shape[d] ? snprintf(buf + len, size - len, ",%lld", (long long)shape[d])
                                 : snprintf(buf + len, size - len, ",T"));
    if (len < size) snprintf(buf + len, size - len, "]");
    return buf;
}
