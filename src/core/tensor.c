/*
 * tensor.c - tensor creation, views, accessors and lifetime.
 *
 * Heap tensors are reference counted: the caller holds one reference and each graph node that
 * uses a tensor holds one, so intermediate results may be freed before backward. Their headers
 * are recycled through a pool and never returned to the system, which lets cx_tensor_valid()
 * recognise a freed handle (until its header is reused) without reading freed memory.
 * Arena tensors are not counted: cx_arena_reset() ends them all.
 */
#include "cortex_impl.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#define STORAGE_HEADER 64 /* storage struct padded so the data after it stays 64-byte aligned */
_Static_assert(sizeof(cx_storage) <= STORAGE_HEADER, "storage header too large");

/* ---- header pool ---- */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static cx_tensor *pool; /* linked through next_in_arena */

static cx_tensor *header_new(cx_arena *arena) {
    cx_tensor *t = NULL;
    cx__threads_init(); /* a static link may leave out threads.c's load-time constructor */
    if (arena) {
        t = cx__arena_alloc(arena, sizeof *t);
    } else {
        pthread_mutex_lock(&pool_lock);
        if (pool) {
            t = pool;
            pool = t->next_in_arena;
        }
        pthread_mutex_unlock(&pool_lock);
        if (!t) t = cx__alloc(sizeof *t);
    }
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->magic = CX_TENSOR_MAGIC;
    t->arena = arena;
    t->refcount = 1;
    if (arena) {
        t->next_in_arena = arena->tensors;
        arena->tensors = t;
    }
    return t;
}

static void header_release(cx_tensor *t) {
    t->magic = CX_TENSOR_DEAD;
    pthread_mutex_lock(&pool_lock);
    t->next_in_arena = pool;
    pool = t;
    pthread_mutex_unlock(&pool_lock);
}

/* ---- shapes ---- */

const char *cx_dtype_name(cx_dtype dtype) {
    switch (dtype) {
    case CX_DTYPE_F32: return "f32";
    case CX_DTYPE_I32: return "i32";
    case CX_DTYPE_U8: return "u8";
    }
    return "unknown";
}

size_t cx_dtype_size(cx_dtype dtype) {
    switch (dtype) {
    case CX_DTYPE_F32: return 4;
    case CX_DTYPE_I32: return 4;
    case CX_DTYPE_U8: return 1;
    }
    return 0;
}

int64_t cx__numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

char *cx__shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t len = 0;
    if (size == 0) return buf;
    buf[0] = '\0';
    len += (size_t)snprintf(buf + len, size - len, "[");
    for (int i = 0; i < ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (len < size) snprintf(buf + len, size - len, "]");
    return buf;
}

/* Checks ndim, dims and the element count; returns false with an error naming what. */
static bool shape_ok(const char *who, cx_dtype dtype, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > CX_MAX_DIMS) {
        cx__error(CX_ERR_ARG, "%s: %d dimensions requested; 0 to %d are supported", who, ndim,
                  CX_MAX_DIMS);
        return false;
    }
    if (ndim > 0 && !shape) {
        cx__error(CX_ERR_ARG, "%s: shape is NULL", who);
        return false;
    }
    if (cx_dtype_size(dtype) == 0) {
        cx__error(CX_ERR_DTYPE, "%s: unknown dtype %d", who, (int)dtype);
        return false;
    }
    /* The product of the dims with zeros counted as 1: the largest stride, which must not
     * overflow even when the tensor is empty ([0, 2^50] holds nothing but is refused). */
    int64_t span = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            char s[CX_SHAPE_STR_MAX];
            cx__error(CX_ERR_ARG, "%s: dimension %d of shape %s is negative", who, i,
                      cx__shape_str(ndim, shape, s, sizeof s));
            return false;
        }
        if (shape[i] > 0 && span > CX_MAX_NUMEL / shape[i]) {
            char s[CX_SHAPE_STR_MAX];
            cx__error(CX_ERR_OOM, "%s: shape %s has more than 2^40 elements", who,
                      cx__shape_str(ndim, shape, s, sizeof s));
            return false;
        }
        if (shape[i] > 0) span *= shape[i];
    }
    return true;
}

static void set_contiguous_strides(cx_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = s;
        s *= t->shape[i] ? t->shape[i] : 1;
    }
}

bool cx__is_contiguous(const cx_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

bool cx__dim(const char *op, int *dim, int ndim) {
    int d = *dim < 0 ? *dim + ndim : *dim;
    if (d < 0 || d >= ndim) {
        cx__error(CX_ERR_ARG, "%s: dim %d is out of range for a tensor with %d dimensions", op,
                  *dim, ndim);
        return false;
    }
    *dim = d;
    return true;
}

/* ---- allocation ---- */

cx_tensor *cx__tensor_alloc(cx_arena *arena, cx_dtype dtype, int ndim, const int64_t *shape) {
    if (!shape_ok("tensor", dtype, ndim, shape)) return NULL;
    size_t bytes = (size_t)cx__numel(ndim, shape) * cx_dtype_size(dtype);
    cx_tensor *t = header_new(arena);
    if (!t) return NULL;
    cx_storage *st = arena ? cx__arena_alloc(arena, STORAGE_HEADER + bytes)
                           : cx__alloc(STORAGE_HEADER + bytes);
    if (!st) {
        if (!arena) header_release(t);
        else t->magic = CX_TENSOR_DEAD;
        return NULL;
    }
    st->data = (char *)st + STORAGE_HEADER;
    st->bytes = bytes;
    st->refcount = 1;
    st->in_arena = arena != NULL;
    t->storage = st;
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    set_contiguous_strides(t);
    return t;
}

cx_tensor *cx__tensor_empty(cx_dtype dtype, int ndim, const int64_t *shape) {
    return cx__tensor_alloc(cx__current_arena(), dtype, ndim, shape);
}

cx_tensor *cx__tensor_view(cx_tensor *base, int ndim, const int64_t *shape,
                           const int64_t *stride, int64_t offset) {
    cx_arena *arena = cx__current_arena();
    cx_tensor *t = header_new(arena);
    if (!t) return NULL;
    t->dtype = base->dtype;
    t->ndim = ndim;
    if (ndim) {
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
        memcpy(t->stride, stride, (size_t)ndim * sizeof *stride);
    }
    t->offset = offset;
    t->storage = base->storage;
    /* A heap view keeps heap storage alive; storage in an arena lives as long as the arena. */
    if (!arena && !t->storage->in_arena) t->storage->refcount++;
    return t;
}

void cx__tensor_retain(cx_tensor *t) {
    if (!t->arena) t->refcount++;
}

static void storage_release(cx_storage *st) {
    if (st->in_arena) return;
    if (--st->refcount == 0) cx__free(st);
}

/* Drops one reference. Freeing a tensor drops its node's references to its inputs; a
 * worklist instead of recursion keeps long graphs (RNNs over many steps) off the C stack. */
static void tensor_release(cx_tensor *t) {
    cx_tensor *work = NULL;
    if (t->arena || --t->refcount > 0) return;
    t->next_in_arena = work;
    work = t;
    while (work) {
        cx_tensor *x = work;
        work = x->next_in_arena;
        cx_tensor *drop[3] = {x->grad, NULL, NULL};
        cx_node *node = x->node;
        int n_drop = 1;
        if (node) drop[n_drop++] = node->saved;
        for (int i = 0; i < n_drop + (node ? node->n_in : 0); i++) {
            cx_tensor *d = i < n_drop ? drop[i] : node->in[i - n_drop];
            if (d && !d->arena && --d->refcount == 0) {
                d->next_in_arena = work;
                work = d;
            }
        }
        if (node && !x->arena) cx__free(node);
        storage_release(x->storage);
        header_release(x);
    }
}

void cx__arena_tensors_release(cx_arena *arena) {
    /* Nodes of arena tensors hold references to heap inputs (parameters): drop them. */
    for (cx_tensor *t = arena->tensors; t; t = t->next_in_arena) {
        cx_node *node = t->node;
        if (!node) continue;
        for (int i = 0; i < node->n_in; i++)
            if (!node->in[i]->arena) tensor_release(node->in[i]);
        if (node->saved && !node->saved->arena) tensor_release(node->saved);
    }
    for (cx_tensor *t = arena->tensors; t; t = t->next_in_arena) t->magic = CX_TENSOR_DEAD;
    arena->tensors = NULL;
}

bool cx_tensor_valid(const cx_tensor *t) { return t && t->magic == CX_TENSOR_MAGIC; }

void cx_tensor_free(cx_tensor *t) {
    if (!t) return;
    if (t->magic != CX_TENSOR_MAGIC) {
        cx__error(CX_ERR_ARG, "cx_tensor_free: the tensor was already freed or is not a tensor");
        return;
    }
    tensor_release(t);
}

bool cx__check(const char *op, const char *arg, const cx_tensor *t) {
    if (!t) {
        /* A NULL most often comes from a failed op whose message explains it: keep that. */
        if (cx_last_status() == CX_OK) cx__error(CX_ERR_ARG, "%s: %s is NULL", op, arg);
        return false;
    }
    if (t->magic != CX_TENSOR_MAGIC) {
        cx__error(CX_ERR_ARG, "%s: %s is not a live tensor (freed, or its arena was reset)", op,
                  arg);
        return false;
    }
    return true;
}

bool cx__check_f32(const char *op, const char *arg, const cx_tensor *t) {
    if (!cx__check(op, arg, t)) return false;
    if (t->dtype != CX_DTYPE_F32) {
        char s[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_DTYPE, "%s: %s must be f32, got %s %s", op, arg, cx_dtype_name(t->dtype),
                  cx__shape_str(t->ndim, t->shape, s, sizeof s));
        return false;
    }
    return true;
}

/* ---- creation ---- */

static cx_tensor *filled(const char *who, cx_dtype dtype, int ndim, const int64_t *shape,
                         float value) {
    if (!shape_ok(who, dtype, ndim, shape)) return NULL;
    cx_tensor *t = cx__tensor_empty(dtype, ndim, shape);
    if (!t) return NULL;
    int64_t n = cx__numel(ndim, shape);
    if (dtype == CX_DTYPE_F32) {
        float *d = cx__f32(t);
        for (int64_t i = 0; i < n; i++) d[i] = value;
    } else {
        memset(t->storage->data, 0, t->storage->bytes);
    }
    return t;
}

cx_tensor *cx_tensor_new(cx_dtype dtype, int ndim, const int64_t *shape) {
    return filled("cx_tensor_new", dtype, ndim, shape, 0.0f);
}
cx_tensor *cx_zeros(int ndim, const int64_t *shape) {
    return filled("cx_zeros", CX_DTYPE_F32, ndim, shape, 0.0f);
}
cx_tensor *cx_ones(int ndim, const int64_t *shape) {
    return filled("cx_ones", CX_DTYPE_F32, ndim, shape, 1.0f);
}
cx_tensor *cx_full(int ndim, const int64_t *shape, float value) {
    return filled("cx_full", CX_DTYPE_F32, ndim, shape, value);
}
cx_tensor *cx_scalar(float value) { return filled("cx_scalar", CX_DTYPE_F32, 0, NULL, value); }

cx_tensor *cx_arange(double start, double end, double step) {
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step)) {
        cx__error(CX_ERR_ARG, "cx_arange: start %g, end %g, step %g: need finite values and "
                              "step != 0", start, end, step);
        return NULL;
    }
    double count = ceil((end - start) / step);
    if (count < 0) count = 0;
    if (count > (double)CX_MAX_NUMEL) {
        cx__error(CX_ERR_OOM, "cx_arange: %g elements requested", count);
        return NULL;
    }
    int64_t n = (int64_t)count;
    cx_tensor *t = cx__tensor_empty(CX_DTYPE_F32, 1, &n);
    if (!t) return NULL;
    float *d = cx__f32(t);
    for (int64_t i = 0; i < n; i++) d[i] = (float)(start + (double)i * step);
    return t;
}

cx_tensor *cx_from_data(cx_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    if (!shape_ok("cx_from_data", dtype, ndim, shape)) return NULL;
    if (!data && cx__numel(ndim, shape) > 0) {
        cx__error(CX_ERR_ARG, "cx_from_data: data is NULL");
        return NULL;
    }
    cx_tensor *t = cx__tensor_empty(dtype, ndim, shape);
    if (t && t->storage->bytes) memcpy(t->storage->data, data, t->storage->bytes);
    return t;
}

/* ---- strided copies ---- */

void cx__memcpy(void *dst, const void *src, size_t bytes) {
    enum { CHUNK = 1 << 18 }; /* one thread copies at most a few GB/s; big copies are split */
    if (bytes < 4 * (size_t)CHUNK) {
        memcpy(dst, src, bytes);
        return;
    }
    int64_t chunks = (int64_t)((bytes + CHUNK - 1) / CHUNK);
#pragma omp parallel for
    for (int64_t c = 0; c < chunks; c++) {
        size_t off = (size_t)c * CHUNK, len = bytes - off < CHUNK ? bytes - off : CHUNK;
        memcpy((char *)dst + off, (const char *)src + off, len);
    }
}

/* dst (rows x cols, contiguous) = src read with strides (sr, sc), in small tiles so that a
 * transposed read does not miss the cache on every element. 8 x 8: with power-of-two strides
 * every row of a tile maps to the same L1 set, and 16 rows already exceed its 12 ways.
 * 4-byte elements. */
static void copy_tiled_2d(const uint32_t *src, int64_t sr, int64_t sc, int64_t rows,
                          int64_t cols, uint32_t *dst) {
    enum { TILE = 8 };
    int64_t row_tiles = (rows + TILE - 1) / TILE, col_tiles = (cols + TILE - 1) / TILE;
#pragma omp parallel for collapse(2) if (rows * cols > CX_PARALLEL_MIN)
    for (int64_t ti = 0; ti < row_tiles; ti++) {
        for (int64_t tj = 0; tj < col_tiles; tj++) {
            int64_t i1 = (ti + 1) * TILE < rows ? (ti + 1) * TILE : rows;
            int64_t j1 = (tj + 1) * TILE < cols ? (tj + 1) * TILE : cols;
            for (int64_t j = tj * TILE; j < j1; j++)
                for (int64_t i = ti * TILE; i < i1; i++) dst[i * cols + j] = src[i * sr + j * sc];
        }
    }
}

void cx__copy_strided(const cx_tensor *x, void *dst) {
    size_t es = cx_dtype_size(x->dtype);
    int64_t n = cx__numel(x->ndim, x->shape);
    const char *src = (const char *)x->storage->data + (size_t)x->offset * es;
    if (cx__is_contiguous(x)) {
        cx__memcpy(dst, src, (size_t)n * es);
        return;
    }
    if (n == 0) return;
    int64_t sh[CX_MAX_DIMS], st[2][CX_MAX_DIMS];
    memcpy(sh, x->shape, (size_t)x->ndim * sizeof *sh);
    memcpy(st[0], x->stride, (size_t)x->ndim * sizeof *sh);
    for (int64_t i = x->ndim - 1, s = 1; i >= 0; i--) {
        st[1][i] = s;
        s *= x->shape[i];
    }
    int nd = cx__collapse_dims(x->ndim, sh, 2, st);
    int64_t inner = sh[nd - 1], inner_stride = st[0][nd - 1];
    if (es == 4 && nd >= 2 && inner_stride != 1 && inner > 1) {
        /* Transpose-like: walk the last two dims in tiles, the others one matrix at a time. */
        int64_t rows = sh[nd - 2], mat = rows * inner, n_mat = n / mat;
        int64_t idx[CX_MAX_DIMS] = {0};
        for (int64_t m = 0; m < n_mat; m++) {
            int64_t off = 0;
            for (int d = 0; d < nd - 2; d++) off += idx[d] * st[0][d];
            copy_tiled_2d((const uint32_t *)src + off, st[0][nd - 2], inner_stride, rows, inner,
                          (uint32_t *)dst + m * mat);
            for (int d = nd - 3; d >= 0; d--) {
                if (++idx[d] < sh[d]) break;
                idx[d] = 0;
            }
        }
        return;
    }
    int64_t idx[CX_MAX_DIMS] = {0};
    char *out = dst;
    for (int64_t done = 0; done < n; done += inner) {
        int64_t off = 0;
        for (int d = 0; d < nd - 1; d++) off += idx[d] * st[0][d];
        if (inner_stride == 1) {
            memcpy(out, src + (size_t)off * es, (size_t)inner * es);
        } else if (es == 4) {
            const uint32_t *s = (const uint32_t *)src + off;
            uint32_t *o = (uint32_t *)out;
            for (int64_t i = 0; i < inner; i++) o[i] = s[i * inner_stride];
        } else {
            const uint8_t *s = (const uint8_t *)src + off;
            for (int64_t i = 0; i < inner; i++) out[i] = (char)s[i * inner_stride];
        }
        out += inner * (int64_t)es;
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < sh[d]) break;
            idx[d] = 0;
        }
    }
}

cx_tensor *cx_to_dtype(cx_tensor *x, cx_dtype dtype) {
    if (!cx__check("cx_to_dtype", "x", x)) return NULL;
    if (cx_dtype_size(dtype) == 0) {
        cx__error(CX_ERR_DTYPE, "cx_to_dtype: unknown dtype %d", (int)dtype);
        return NULL;
    }
    cx_tensor *c = cx__tensor_empty(x->dtype, x->ndim, x->shape);
    if (!c) return NULL;
    cx__copy_strided(x, c->storage->data);
    if (dtype == x->dtype) return c;
    cx_tensor *t = cx__tensor_empty(dtype, x->ndim, x->shape);
    if (!t) {
        cx_tensor_free(c);
        return NULL;
    }
    int64_t n = cx__numel(x->ndim, x->shape);
    const void *s = c->storage->data;
    void *d = t->storage->data;
    for (int64_t i = 0; i < n; i++) {
        double v = x->dtype == CX_DTYPE_F32   ? ((const float *)s)[i]
                   : x->dtype == CX_DTYPE_I32 ? ((const int32_t *)s)[i]
                                              : ((const uint8_t *)s)[i];
        if (dtype == CX_DTYPE_F32) ((float *)d)[i] = (float)v;
        else if (dtype == CX_DTYPE_I32) ((int32_t *)d)[i] = isfinite(v) && fabs(v) < 2147483647.0 ? (int32_t)v : 0;
        else ((uint8_t *)d)[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    cx_tensor_free(c);
    return t;
}

/* ---- accessors ---- */

cx_dtype cx_tensor_dtype(const cx_tensor *t) { return cx_tensor_valid(t) ? t->dtype : CX_DTYPE_F32; }
int cx_tensor_ndim(const cx_tensor *t) { return cx_tensor_valid(t) ? t->ndim : 0; }

int64_t cx_tensor_dim(const cx_tensor *t, int i) {
    if (!cx__check("cx_tensor_dim", "t", t) || !cx__dim("cx_tensor_dim", &i, t->ndim)) return 0;
    return t->shape[i];
}

const int64_t *cx_tensor_shape(const cx_tensor *t) { return cx_tensor_valid(t) ? t->shape : NULL; }
const int64_t *cx_tensor_strides(const cx_tensor *t) {
    return cx_tensor_valid(t) ? t->stride : NULL;
}
int64_t cx_tensor_numel(const cx_tensor *t) {
    return cx_tensor_valid(t) ? cx__numel(t->ndim, t->shape) : 0;
}
bool cx_tensor_is_contiguous(const cx_tensor *t) {
    return cx_tensor_valid(t) && cx__is_contiguous(t);
}

void *cx_tensor_data(cx_tensor *t) {
    if (!cx__check("cx_tensor_data", "t", t)) return NULL;
    if (!cx__is_contiguous(t)) {
        cx__error(CX_ERR_ARG, "cx_tensor_data: tensor is not contiguous; call cx_contiguous");
        return NULL;
    }
    return (char *)t->storage->data + (size_t)t->offset * cx_dtype_size(t->dtype);
}

float *cx_tensor_f32(cx_tensor *t) {
    if (!cx__check_f32("cx_tensor_f32", "t", t)) return NULL;
    return cx_tensor_data(t);
}

cx_status cx_tensor_copy_to(const cx_tensor *t, void *buf, size_t bytes) {
    if (!cx__check("cx_tensor_copy_to", "t", t)) return cx_last_status();
    size_t need = (size_t)cx__numel(t->ndim, t->shape) * cx_dtype_size(t->dtype);
    if (!buf || bytes < need)
        return cx__error(CX_ERR_ARG, "cx_tensor_copy_to: buffer of %zu bytes, need %zu", bytes,
                         need);
    cx__copy_strided(t, buf);
    return CX_OK;
}

cx_status cx_tensor_copy_from(cx_tensor *t, const void *buf, size_t bytes) {
    if (!cx__check("cx_tensor_copy_from", "t", t)) return cx_last_status();
    size_t es = cx_dtype_size(t->dtype);
    int64_t n = cx__numel(t->ndim, t->shape);
    if (!buf || bytes < (size_t)n * es)
        return cx__error(CX_ERR_ARG, "cx_tensor_copy_from: buffer of %zu bytes, need %zu", bytes,
                         (size_t)n * es);
    if (cx__is_contiguous(t)) {
        memcpy((char *)t->storage->data + (size_t)t->offset * es, buf, (size_t)n * es);
        return CX_OK;
    }
    int64_t idx[CX_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        int64_t off = t->offset;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        memcpy((char *)t->storage->data + (size_t)off * es, (const char *)buf + (size_t)i * es, es);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    return CX_OK;
}

float cx_tensor_item(const cx_tensor *t) {
    if (!cx__check("cx_tensor_item", "t", t)) return NAN;
    if (cx__numel(t->ndim, t->shape) != 1) {
        char s[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "cx_tensor_item: tensor %s has %lld elements, need 1",
                  cx__shape_str(t->ndim, t->shape, s, sizeof s),
                  (long long)cx__numel(t->ndim, t->shape));
        return NAN;
    }
    const char *p = (const char *)t->storage->data + (size_t)t->offset * cx_dtype_size(t->dtype);
    switch (t->dtype) {
    case CX_DTYPE_F32: return *(const float *)p;
    case CX_DTYPE_I32: return (float)*(const int32_t *)p;
    case CX_DTYPE_U8: return (float)*(const uint8_t *)p;
    }
    return NAN;
}

char *cx_tensor_shape_str(const cx_tensor *t, char *buf, size_t size) {
    if (!cx_tensor_valid(t)) {
        if (size) snprintf(buf, size, "(invalid)");
        return buf;
    }
    return cx__shape_str(t->ndim, t->shape, buf, size);
}
