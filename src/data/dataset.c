/*
 * dataset.c - in-memory datasets: samples [N, ...] (u8 or f32) and optional i32 labels [N],
 * built from tensors or IDX files, and their subsets (seeded splits, heads).
 *
 * A dataset holds one reference to each tensor, always contiguous and on the heap: datasets
 * outlive training steps, so an arena tensor (released at the step's reset) is refused, and a
 * strided one is copied once so that loaders gather whole rows with memcpy.
 */
#include "data_impl.h"

#include <math.h>
#include <string.h>

/* ---- construction ---- */

/* A new reference to t as a contiguous heap tensor (t itself, or a copy). */
static cx_tensor *heap_contiguous(const char *who, const char *arg, cx_tensor *t) {
    if (t->arena) {
        cx__error(CX_ERR_ARG, "%s: %s lives in an arena, which a step's reset releases; a "
                  "dataset needs heap tensors (create them outside cx_arena_begin/end)", who,
                  arg);
        return NULL;
    }
    if (cx__is_contiguous(t)) {
        cx__tensor_retain(t);
        return t;
    }
    cx_tensor *c = cx__tensor_alloc(NULL, t->dtype, t->ndim, t->shape);
    if (c) cx__copy_strided(t, c->storage->data);
    return c;
}

/* The largest label + 1, or -1 (with an error) if a label lies outside [0, limit). */
static int count_classes(const char *who, const cx_tensor *labels, int64_t limit) {
    const int32_t *y = cx__i32(labels);
    int32_t top = -1;
    for (int64_t i = 0; i < labels->shape[0]; i++) {
        if (y[i] < 0 || y[i] >= limit) {
            cx__error(CX_ERR_ARG, "%s: label %lld is %ld; labels must lie in [0, %lld)", who,
                      (long long)i, (long)y[i], (long long)limit);
            return -1;
        }
        if (y[i] > top) top = y[i];
    }
    return top + 1;
}

/* Takes over the references to samples and labels (released on failure). */
static cx_dataset *dataset_new(const char *who, cx_tensor *samples, cx_tensor *labels,
                               int64_t label_limit) {
    cx_dataset *d = NULL;
    int classes = labels ? count_classes(who, labels, label_limit) : 0;
    if (classes >= 0) d = cx__alloc(sizeof *d);
    if (!d) {
        cx_tensor_free(samples);
        cx_tensor_free(labels);
        return NULL;
    }
    d->samples = samples;
    d->labels = labels;
    d->num_classes = classes;
    return d;
}

cx_dataset *cx_dataset_from_tensors(cx_tensor *samples, cx_tensor *labels) {
    const char *who = "cx_dataset_from_tensors";
    char s1[CX_SHAPE_STR_MAX], s2[CX_SHAPE_STR_MAX];
    if (!cx__check(who, "samples", samples)) return NULL;
    if (labels && !cx__check(who, "labels", labels)) return NULL;
    if (samples->dtype != CX_DTYPE_U8 && samples->dtype != CX_DTYPE_F32) {
        cx__error(CX_ERR_DTYPE, "%s: samples must be u8 or f32, got %s", who,
                  cx_dtype_name(samples->dtype));
        return NULL;
    }
    if (samples->ndim < 1) {
        cx__error(CX_ERR_SHAPE, "%s: samples must be [N, ...], got a scalar", who);
        return NULL;
    }
    if (labels && labels->dtype != CX_DTYPE_I32) {
        cx__error(CX_ERR_DTYPE, "%s: labels must be i32, got %s", who,
                  cx_dtype_name(labels->dtype));
        return NULL;
    }
    if (labels && (labels->ndim != 1 || labels->shape[0] != samples->shape[0])) {
        cx__error(CX_ERR_SHAPE, "%s: labels %s do not fit samples %s: want [%lld]", who,
                  cx__shape_str(labels->ndim, labels->shape, s1, sizeof s1),
                  cx__shape_str(samples->ndim, samples->shape, s2, sizeof s2),
                  (long long)samples->shape[0]);
        return NULL;
    }
    cx_tensor *x = heap_contiguous(who, "samples", samples);
    cx_tensor *y = x && labels ? heap_contiguous(who, "labels", labels) : NULL;
    if (!x || (labels && !y)) {
        cx_tensor_free(x);
        return NULL;
    }
    return dataset_new(who, x, y, INT32_MAX);
}

/* Gives an IDX image tensor of rank 3 ([N, H, W]) its channel dim: [N, 1, H, W]. */
static void add_channel_dim(cx_tensor *t) {
    if (t->ndim != 3) return;
    int64_t n = t->shape[0], h = t->shape[1], w = t->shape[2];
    t->ndim = 4;
    memcpy(t->shape, (int64_t[]){n, 1, h, w}, sizeof(int64_t[4]));
    memcpy(t->stride, (int64_t[]){h * w, h * w, w, 1}, sizeof(int64_t[4]));
}

/* Labels as i32 [N] in a new heap tensor (u8 files are widened). */
static cx_tensor *labels_i32(const char *path, cx_tensor *raw) {
    if (raw->ndim != 1 || raw->dtype == CX_DTYPE_F32) {
        char s[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_FORMAT, "cx_dataset_from_idx: %s: labels must be u8 or i32 [N], got "
                  "%s %s", path, cx_dtype_name(raw->dtype),
                  cx__shape_str(raw->ndim, raw->shape, s, sizeof s));
        return NULL;
    }
    if (raw->dtype == CX_DTYPE_I32) {
        cx__tensor_retain(raw);
        return raw;
    }
    cx_tensor *y = cx__tensor_alloc(NULL, CX_DTYPE_I32, 1, raw->shape);
    if (!y) return NULL;
    const uint8_t *src = raw->storage->data;
    int32_t *dst = cx__i32(y);
    for (int64_t i = 0; i < raw->shape[0]; i++) dst[i] = src[i];
    return y;
}

cx_dataset *cx_dataset_from_idx(const char *images_path, const char *labels_path) {
    const char *who = "cx_dataset_from_idx";
    if (!images_path) {
        cx__error(CX_ERR_ARG, "%s: images_path is NULL", who);
        return NULL;
    }
    cx_tensor *x = cx__idx_read(images_path, NULL), *raw = NULL, *y = NULL;
    if (x && x->dtype == CX_DTYPE_I32) {
        cx__error(CX_ERR_FORMAT, "%s: %s: samples must be u8 or f32, the file holds i32", who,
                  images_path);
        goto fail;
    }
    if (!x) goto fail;
    add_channel_dim(x);
    if (!labels_path) return dataset_new(who, x, NULL, 0);
    raw = cx__idx_read(labels_path, NULL);
    y = raw ? labels_i32(labels_path, raw) : NULL;
    cx_tensor_free(raw);
    if (!y) goto fail;
    if (y->shape[0] != x->shape[0]) {
        cx__error(CX_ERR_FORMAT, "%s: %s holds %lld samples but %s holds %lld labels", who,
                  images_path, (long long)x->shape[0], labels_path, (long long)y->shape[0]);
        goto fail;
    }
    return dataset_new(who, x, y, 256);
fail:
    cx_tensor_free(x);
    cx_tensor_free(y);
    return NULL;
}

void cx_dataset_free(cx_dataset *d) {
    if (!d) return;
    cx_tensor_free(d->samples);
    cx_tensor_free(d->labels);
    cx__free(d);
}

/* ---- accessors ---- */

int64_t cx_dataset_size(const cx_dataset *d) { return d ? d->samples->shape[0] : 0; }

int cx_dataset_num_classes(const cx_dataset *d) { return d ? d->num_classes : 0; }

int cx_dataset_sample_shape(const cx_dataset *d, int64_t *shape) {
    if (!d) return 0;
    int nd = d->samples->ndim - 1;
    if (shape) memcpy(shape, d->samples->shape + 1, (size_t)nd * sizeof *shape);
    return nd;
}

cx_tensor *cx_dataset_samples(cx_dataset *d) { return d ? d->samples : NULL; }

cx_tensor *cx_dataset_labels(cx_dataset *d) { return d ? d->labels : NULL; }

/* ---- subsets ---- */

/* A new dataset of the count samples idx[0..count) (idx NULL: samples 0..count-1), copied.
 * It keeps d's class count, so a validation split that misses a class still fits the model. */
static cx_dataset *subset(const cx_dataset *d, const int64_t *idx, int64_t count) {
    const cx_tensor *xs = d->samples;
    int64_t shape[CX_MAX_DIMS];
    memcpy(shape, xs->shape, (size_t)xs->ndim * sizeof *shape);
    shape[0] = count;
    cx_tensor *x = cx__tensor_alloc(NULL, xs->dtype, xs->ndim, shape);
    cx_tensor *y = d->labels ? cx__tensor_alloc(NULL, CX_DTYPE_I32, 1, &count) : NULL;
    cx_dataset *out = x && (y || !d->labels) ? cx__alloc(sizeof *out) : NULL;
    if (!out) {
        cx_tensor_free(x);
        cx_tensor_free(y);
        return NULL;
    }
    size_t row = (size_t)cx__numel(xs->ndim - 1, xs->shape + 1) * cx_dtype_size(xs->dtype);
    const char *src = xs->storage->data;
    char *dst = x->storage->data;
    if (!idx) {
        cx__memcpy(dst, src, (size_t)count * row);
        if (y) memcpy(cx__i32(y), cx__i32(d->labels), (size_t)count * sizeof(int32_t));
    } else {
        for (int64_t i = 0; i < count; i++)
            memcpy(dst + (size_t)i * row, src + (size_t)idx[i] * row, row);
        for (int64_t i = 0; y && i < count; i++) cx__i32(y)[i] = cx__i32(d->labels)[idx[i]];
    }
    out->samples = x;
    out->labels = y;
    out->num_classes = d->num_classes;
    return out;
}

cx_status cx_dataset_split(const cx_dataset *d, int64_t n_val, uint64_t seed,
                           cx_dataset **first, cx_dataset **second) {
    const char *who = "cx_dataset_split";
    if (!d || !first || !second)
        return cx__error(CX_ERR_ARG, "%s: %s is NULL", who, !d ? "d" : "first or second");
    *first = *second = NULL;
    int64_t n = d->samples->shape[0];
    if (n_val < 0 || n_val > n)
        return cx__error(CX_ERR_ARG, "%s: n_val %lld is outside [0, %lld], the dataset's size",
                         who, (long long)n_val, (long long)n);
    int64_t *perm = cx__alloc((size_t)(n ? n : 1) * sizeof *perm);
    cx_rng *rng = perm ? cx_rng_new(0) : NULL;
    if (rng) {
        cx__shuffle_seed(rng, seed, CX__STREAM_SPLIT);
        cx__permutation(rng, n, perm);
        *first = subset(d, perm, n - n_val);
        *second = *first ? subset(d, perm + (n - n_val), n_val) : NULL;
    }
    cx_rng_free(rng);
    cx__free(perm);
    if (!*second) {
        cx_dataset_free(*first);
        *first = NULL;
        return cx_last_status() != CX_OK ? cx_last_status() : CX_ERR_OOM;
    }
    return CX_OK;
}

cx_dataset *cx_dataset_head(const cx_dataset *d, int64_t n) {
    if (!d) {
        cx__error(CX_ERR_ARG, "cx_dataset_head: d is NULL");
        return NULL;
    }
    if (n < 0) {
        cx__error(CX_ERR_ARG, "cx_dataset_head: n is %lld; need n >= 0", (long long)n);
        return NULL;
    }
    int64_t size = d->samples->shape[0];
    return subset(d, NULL, n < size ? n : size);
}

cx_status cx_dataset_mean_std(const cx_dataset *d, float scale, float *mean, float *std) {
    if (!d || !mean || !std) return cx__error(CX_ERR_ARG, "cx_dataset_mean_std: an argument is NULL");
    const cx_tensor *s = d->samples;
    int64_t n = cx__numel(s->ndim, s->shape);
    if (n == 0) return cx__error(CX_ERR_ARG, "cx_dataset_mean_std: the dataset is empty");
    bool u8 = s->dtype == CX_DTYPE_U8;
    if (scale == 0) scale = u8 ? 1.0f / 255.0f : 1.0f;
    /* sums in double: 47 million pixels of Fashion-MNIST would lose digits in float */
    double sum = 0, sum_sq = 0;
#pragma omp parallel for reduction(+ : sum, sum_sq) if (n >= CX_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        double v = u8 ? ((const uint8_t *)s->storage->data)[i] : ((const float *)s->storage->data)[i];
        sum += v;
        sum_sq += v * v;
    }
    double m = sum / (double)n, var = sum_sq / (double)n - m * m;
    if (!isfinite(m) || !isfinite(var))
        return cx__error(CX_ERR_ARG, "cx_dataset_mean_std: the samples hold NaN or Inf");
    *mean = (float)(m * scale);
    *std = (float)(sqrt(var > 0 ? var : 0) * scale);
    if (*std == 0) *std = 1; /* constant samples: centring alone */
    return CX_OK;
}
