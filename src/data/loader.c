/*
 * loader.c - mini-batches from a dataset: a seeded order per epoch, samples gathered and
 * normalised into f32 batch tensors the loader owns.
 *
 * Everything is allocated by cx_loader_new: the order (N indices), the generator, and the
 * batch tensors - one of the full batch size and, when the last batch is partial, one of its
 * size - so an epoch allocates nothing (page faults cost ~18 us each on the machines we
 * measure on, and this runs every training step). The order of epoch e is a function of
 * (seed, e) alone: the generator is re-seeded from both at the start of each epoch.
 *
 * Sharded (data-parallel training): each of shard_count processes takes a contiguous part of
 * every global batch of batch_size x shard_count samples, in the order one process would use;
 * augmentation is drawn for the whole global batch, so every sample is transformed the same
 * way whatever the split.
 */
#include "data_impl.h"

#include <math.h>
#include <string.h>

struct cx_loader {
    const cx_dataset *d;
    int64_t n, batch, n_batches; /* batch: per process */
    int64_t rank, ranks, global; /* sharding: this part of ranks; global = batch * ranks */
    int64_t last_offset, last_global; /* the last batch's rows within its global batch */
    bool shuffle;
    uint64_t seed;
    float scale, mean, std;
    cx_loader_params augment; /* its shift, rotate and zoom */
    bool augmented;           /* any of them non-zero */
    cx__affine *transforms;   /* [global] the current global batch's, when augmented */
    bool identity;            /* f32 samples with scale 1, mean 0, std 1: a plain copy */
    size_t row;               /* elements per sample */
    int64_t *order;           /* [N] sample indices of the current epoch */
    int64_t next_batch;       /* batches handed out in this epoch */
    cx_rng *rng;
    cx_tensor *x, *y;           /* [batch, ...] f32 and [batch] i32 (y NULL without labels) */
    cx_tensor *x_tail, *y_tail; /* the same for a last partial batch, or NULL */
};

void cx_loader_free(cx_loader *l) {
    if (!l) return;
    cx_tensor_free(l->x);
    cx_tensor_free(l->y);
    cx_tensor_free(l->x_tail);
    cx_tensor_free(l->y_tail);
    cx_rng_free(l->rng);
    cx__free(l->order);
    cx__free(l->transforms);
    cx__free(l);
}

/* Batch tensors for rows samples: x [rows, sample shape] f32 and y [rows] i32. Zeroed here,
 * so their pages are mapped before the first batch rather than during it. */
static bool batch_tensors(const cx_dataset *d, int64_t rows, cx_tensor **x, cx_tensor **y) {
    const cx_tensor *s = d->samples;
    int64_t shape[CX_MAX_DIMS];
    memcpy(shape, s->shape, (size_t)s->ndim * sizeof *shape);
    shape[0] = rows;
    *x = cx__tensor_alloc(NULL, CX_DTYPE_F32, s->ndim, shape);
    if (*x && d->labels) *y = cx__tensor_alloc(NULL, CX_DTYPE_I32, 1, &rows);
    if (*x) memset((*x)->storage->data, 0, (*x)->storage->bytes);
    if (*y) memset((*y)->storage->data, 0, (*y)->storage->bytes);
    return *x && (*y || !d->labels);
}

static cx_status check_params(const cx_dataset *d, const cx_loader_params *p) {
    const char *who = "cx_loader_new";
    if (!d || !p) return cx__error(CX_ERR_ARG, "%s: %s is NULL", who, !d ? "d" : "params");
    if (p->batch_size <= 0)
        return cx__error(CX_ERR_ARG, "%s: batch_size is %lld; need > 0", who,
                         (long long)p->batch_size);
    if (!isfinite(p->scale) || !isfinite(p->mean) || !isfinite(p->std))
        return cx__error(CX_ERR_ARG, "%s: scale %g, mean %g, std %g: need finite values", who,
                         (double)p->scale, (double)p->mean, (double)p->std);
    const cx_tensor *s = d->samples;
    if (!(p->rotate >= 0 && p->rotate <= 180) || !(p->zoom >= 0 && p->zoom < 1) || p->shift < 0)
        return cx__error(CX_ERR_ARG,
                         "%s: augmentation rotate %g, zoom %g, shift %lld: need "
                         "rotate in [0, 180], zoom in [0, 1), shift >= 0",
                         who, (double)p->rotate, (double)p->zoom, (long long)p->shift);
    int shards = p->shard_count ? p->shard_count : 1;
    if (p->shard_count < 0 || p->shard_rank < 0 || p->shard_rank >= shards)
        return cx__error(CX_ERR_ARG, "%s: shard %d of %d: need 0 <= shard_rank < shard_count", who,
                         p->shard_rank, p->shard_count);
    if (p->shard_count > 1 && p->batch_size > INT64_MAX / 4 / p->shard_count)
        return cx__error(CX_ERR_ARG, "%s: batch_size %lld times %d shards is absurd", who,
                         (long long)p->batch_size, p->shard_count);
    bool augmented = p->shift || p->rotate || p->zoom;
    char shape[64];
    if (augmented && (s->ndim != 4 || p->shift >= s->shape[2] || p->shift >= s->shape[3]))
        return cx__error(CX_ERR_ARG,
                         "%s: augmentation needs image samples [C, H, W] (shift "
                         "below H and W); these are %s",
                         who, cx_tensor_shape_str(s, shape, sizeof shape));
    return CX_OK;
}

/* This process's rows [shard_start, shard_end) of a global batch of count samples:
 * contiguous parts of ceil(count / ranks) (batch_size when the global batch is full), the
 * last ones smaller or empty; rank 0's is never empty. */
static int64_t shard_start(const cx_loader *l, int64_t count) {
    int64_t part = (count + l->ranks - 1) / l->ranks, at = l->rank * part;
    return at < count ? at : count;
}
static int64_t shard_end(const cx_loader *l, int64_t count) {
    int64_t part = (count + l->ranks - 1) / l->ranks, at = (l->rank + 1) * part;
    return at < count ? at : count;
}

cx_loader *cx_loader_new(const cx_dataset *d, const cx_loader_params *params) {
    if (check_params(d, params) != CX_OK) return NULL;
    cx_loader *l = cx__calloc(sizeof *l);
    if (!l) return NULL;
    l->d = d;
    l->n = d->samples->shape[0];
    l->batch = params->batch_size;
    l->rank = params->shard_rank;
    l->ranks = params->shard_count > 1 ? params->shard_count : 1;
    l->global = l->batch * l->ranks;
    l->shuffle = params->shuffle;
    l->seed = params->seed;
    bool u8 = d->samples->dtype == CX_DTYPE_U8;
    l->scale = params->scale != 0 ? params->scale : u8 ? 1.0f / 255.0f : 1.0f;
    l->mean = params->mean;
    l->std = params->std != 0 ? params->std : 1.0f;
    l->augment = *params;
    l->augmented = params->shift || params->rotate || params->zoom;
    l->identity = !u8 && l->scale == 1.0f && l->mean == 0.0f && l->std == 1.0f;
    l->row = (size_t)cx__numel(d->samples->ndim - 1, d->samples->shape + 1);
    int64_t tail = l->n % l->global;
    l->n_batches = l->n / l->global + (tail && !params->drop_last);
    /* this process's part of the last, partial global batch */
    int64_t own_tail = params->drop_last ? 0 : shard_end(l, tail) - shard_start(l, tail);

    bool ok = (l->order = cx__alloc((size_t)(l->n ? l->n : 1) * sizeof *l->order)) &&
              (l->rng = cx_rng_new(0));
    if (ok && l->augmented)
        ok = (l->transforms = cx__alloc((size_t)l->global * sizeof *l->transforms));
    if (ok && (l->n >= l->global || own_tail == l->batch))
        ok = batch_tensors(d, l->batch, &l->x, &l->y);
    if (ok && own_tail && own_tail != l->batch)
        ok = batch_tensors(d, own_tail, &l->x_tail, &l->y_tail);
    if (!ok) {
        cx_loader_free(l);
        return NULL;
    }
    cx_loader_start_epoch(l, 0);
    return l;
}

int64_t cx_loader_num_batches(const cx_loader *l) {
    return l ? l->n_batches : 0;
}

void cx_loader_shard_rows(const cx_loader *l, int64_t *offset, int64_t *global) {
    *offset = l ? l->last_offset : 0;
    *global = l ? l->last_global : 0;
}

void cx_loader_start_epoch(cx_loader *l, int epoch) {
    if (!l) return;
    l->next_batch = 0;
    /* the order and the augmentation draws of the epoch both come from this stream */
    cx__shuffle_seed(l->rng, l->seed, (uint64_t)(int64_t)epoch);
    if (l->shuffle) {
        cx__permutation(l->rng, l->n, l->order);
    } else {
        for (int64_t i = 0; i < l->n; i++)
            l->order[i] = i;
    }
}

/* One sample, normalised; compiled per ISA so the u8 -> f32 conversion runs 16 wide. */
CX_VECTORIZE static void norm_u8(const uint8_t *src, float *dst, size_t n, float scale, float mean,
                                 float std) {
    for (size_t i = 0; i < n; i++)
        dst[i] = ((float)src[i] * scale - mean) / std;
}

CX_VECTORIZE static void norm_f32(const float *src, float *dst, size_t n, float scale, float mean,
                                  float std) {
    for (size_t i = 0; i < n; i++)
        dst[i] = (src[i] * scale - mean) / std;
}

/* Gathers the count samples order[start..start+count) into x and their labels into y; they
 * are rows [own, own + count) of a global batch of global samples, all of whose
 * augmentations are drawn (in order) so that the draws do not depend on the split. */
static void gather(cx_loader *l, int64_t start, int64_t count, int64_t own, int64_t global,
                   cx_tensor *x, cx_tensor *y) {
    const cx_tensor *s = l->d->samples;
    const int64_t *idx = l->order + start;
    size_t row = l->row;
    if (l->augmented)
        for (int64_t b = 0; b < global; b++)
            cx__augment_draw(l->rng, &l->augment, &l->transforms[b]);
    if (!count) return;
    float *dst = cx__f32(x);
    const cx__affine *transforms = l->transforms ? l->transforms + own : NULL;
            /* Threads pay off only for big batches (a 128 x 784 MNIST batch takes microseconds). */
#pragma omp parallel for if ((size_t)count * row >= 8 * (size_t)CX_PARALLEL_MIN)
    for (int64_t b = 0; b < count; b++) {
        float *out = dst + (size_t)b * row;
        size_t at = (size_t)idx[b] * row;
        if (l->augmented)
            cx__augment_apply(s, idx[b], &transforms[b], l->scale, l->mean, l->std, out);
        else if (s->dtype == CX_DTYPE_U8)
            norm_u8((const uint8_t *)s->storage->data + at, out, row, l->scale, l->mean, l->std);
        else if (l->identity)
            memcpy(out, (const float *)s->storage->data + at, row * sizeof(float));
        else
            norm_f32((const float *)s->storage->data + at, out, row, l->scale, l->mean, l->std);
    }
    if (!y) return;
    const int32_t *labels = cx__i32(l->d->labels);
    int32_t *yd = cx__i32(y);
    for (int64_t b = 0; b < count; b++)
        yd[b] = labels[idx[b]];
}

bool cx_loader_next(cx_loader *l, cx_tensor **x, cx_tensor **y) {
    if (x) *x = NULL;
    if (y) *y = NULL;
    if (!l || l->next_batch >= l->n_batches) return false;
    int64_t start = l->next_batch * l->global;
    int64_t global = l->n - start < l->global ? l->n - start : l->global;
    int64_t own = shard_start(l, global), count = shard_end(l, global) - own;
    bool full = count == l->batch;
    cx_tensor *bx = !count ? NULL : full ? l->x : l->x_tail;
    cx_tensor *by = !count ? NULL : full ? l->y : l->y_tail;
    gather(l, start + own, count, own, global, bx, by);
    l->last_offset = own;
    l->last_global = global;
    l->next_batch++;
    if (x) *x = bx;
    if (y) *y = by;
    return true;
}
