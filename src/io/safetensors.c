/*
 * safetensors.c - reading and writing safetensors files, the weight format of PyTorch and
 * Hugging Face (https://github.com/huggingface/safetensors, "Format" section).
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON
 *     {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
 *      "__metadata__": {"key": "value", ...}}
 * then the data buffer; offsets are relative to the buffer's start, elements little-endian
 * and row-major.
 *
 * Reading: open parses and checks the whole header against the file size before anything is
 * allocated from it (every count, dim, size product and offset), so a damaged or hostile file
 * gives an error, never an out-of-bounds read or an absurd allocation. Tensor data stays on
 * disk until cx_safetensors_get reads it with pread (concurrent gets are safe).
 * Writing goes to "<path>.tmp.<pid>", is fsync'ed and then renamed over path, so a crash or a
 * failure mid-write never leaves a half-written file under the final name.
 */
#include "cortex_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c reads and writes tensor data in host order, which must be little-endian"
#endif

#define HEADER_MAX ((uint64_t)100 << 20) /* the reference implementation's limit */
#define METADATA_KEY "__metadata__"

typedef struct {
    const char *name; /* points into the object's string block */
    cx_dtype dtype;
    int ndim;
    int64_t shape[CX_MAX_DIMS];
    uint64_t begin, end; /* byte offsets into the data buffer */
} st_entry;

struct cx_safetensors {
    char *path;
    int fd;
    uint64_t data_start; /* file offset of the data buffer: 8 + N */
    int n;
    st_entry *entries; /* n, sorted by name */
    int n_meta;
    const char **meta; /* n_meta (key, value) pairs, sorted by key */
    char *strings;     /* every name, key and value, NUL-terminated, one block */
};

/* ---- dtypes ---- */

static const char *dtype_tag(cx_dtype dtype) {
    switch (dtype) {
    case CX_DTYPE_F32: return "F32";
    case CX_DTYPE_I32: return "I32";
    case CX_DTYPE_U8: return "U8";
    }
    return "?";
}

/* The dtype for a header tag: 1 if supported, 0 if a valid safetensors dtype Cortex cannot
 * hold, -1 if not a safetensors dtype at all. */
static int dtype_parse(const char *tag, cx_dtype *dtype) {
    static const char *const others[] = {"BOOL", "I8",  "I16", "U16", "F16", "BF16", "U32",
                                         "I64",  "U64", "F64", "F8_E5M2", "F8_E4M3"};
    for (cx_dtype d = CX_DTYPE_F32; d <= CX_DTYPE_U8; d++) {
        if (strcmp(tag, dtype_tag(d)) == 0) {
            *dtype = d;
            return 1;
        }
    }
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (strcmp(tag, others[i]) == 0) return 0;
    return -1;
}

/* ---- file helpers ---- */

/* Reads exactly len bytes at off; false on error or end of file. */
static bool read_at(int fd, void *buf, size_t len, uint64_t off) {
    char *p = buf;
    while (len > 0) {
        ssize_t got = pread(fd, p, len, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got;
        len -= (size_t)got;
        off += (uint64_t)got;
    }
    return true;
}

static bool write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t put = write(fd, p, len);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return false;
        p += put;
        len -= (size_t)put;
    }
    return true;
}

/* ---- header checks ---- */

/* A JSON integer in [0, max], else false. */
static bool json_uint(const json_t *v, uint64_t max, uint64_t *out) {
    if (!json_is_integer(v)) return false;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > max) return false;
    *out = (uint64_t)x;
    return true;
}

/* Checks one tensor entry against the data buffer size; fills e (name excepted). */
static cx_status check_entry(const char *path, const char *name, const json_t *info,
                             uint64_t data_size, st_entry *e) {
    const char *where = "safetensors: %s: tensor '%s': %s";
    if (!json_is_object(info))
        return cx__error(CX_ERR_FORMAT, where, path, name, "entry is not a JSON object");
    const json_t *dt = json_object_get(info, "dtype"), *sh = json_object_get(info, "shape");
    const json_t *off = json_object_get(info, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(off))
        return cx__error(CX_ERR_FORMAT, where, path, name,
                         "needs \"dtype\" (string), \"shape\" and \"data_offsets\" (lists)");
    const char *tag = json_string_value(dt);
    int known = dtype_parse(tag, &e->dtype);
    if (known == 0)
        return cx__error(CX_ERR_UNSUPPORTED,
                         "safetensors: %s: tensor '%s' has dtype %s; Cortex reads F32, I32 and U8",
                         path, name, tag);
    if (known < 0)
        return cx__error(CX_ERR_FORMAT, "safetensors: %s: tensor '%s' has unknown dtype '%.32s'",
                         path, name, tag);

    size_t nd = json_array_size(sh);
    if (nd > CX_MAX_DIMS)
        return cx__error(CX_ERR_FORMAT, "safetensors: %s: tensor '%s' has %zu dimensions; at "
                         "most %d are supported", path, name, nd, CX_MAX_DIMS);
    e->ndim = (int)nd;
    uint64_t numel = 1, span = 1;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (!json_uint(json_array_get(sh, i), (uint64_t)INT64_MAX, &d))
            return cx__error(CX_ERR_FORMAT, "safetensors: %s: tensor '%s': shape entry %zu is "
                             "not a non-negative integer", path, name, i);
        e->shape[i] = (int64_t)d;
    }
    for (size_t i = 0; i < nd; i++) {
        uint64_t d = (uint64_t)e->shape[i];
        /* span: zero dims counted as 1 (the largest stride), bounded even for empty tensors */
        if (d > 0 && span > (uint64_t)CX_MAX_NUMEL / d) {
            char s[CX_SHAPE_STR_MAX];
            return cx__error(CX_ERR_FORMAT, "safetensors: %s: tensor '%s' has shape %s, more "
                             "than 2^40 elements", path, name, cx__shape_str(e->ndim, e->shape,
                                                                             s, sizeof s));
        }
        numel *= d;
        if (d > 0) span *= d;
    }
    uint64_t bytes = numel * cx_dtype_size(e->dtype); /* <= 2^42: no overflow */

    if (json_array_size(off) != 2 || !json_uint(json_array_get(off, 0), UINT64_MAX >> 1,
                                                &e->begin) ||
        !json_uint(json_array_get(off, 1), UINT64_MAX >> 1, &e->end) || e->begin > e->end)
        return cx__error(CX_ERR_FORMAT, where, path, name,
                         "data_offsets must be [begin, end] with 0 <= begin <= end");
    if (e->end > data_size)
        return cx__error(CX_ERR_FORMAT, "safetensors: %s: tensor '%s': data_offsets [%llu, %llu] "
                         "run past the end of the data (%llu bytes; file truncated?)", path,
                         name, (unsigned long long)e->begin, (unsigned long long)e->end,
                         (unsigned long long)data_size);
    if (e->end - e->begin != bytes) {
        char s[CX_SHAPE_STR_MAX];
        return cx__error(CX_ERR_FORMAT, "safetensors: %s: tensor '%s': data_offsets [%llu, %llu] "
                         "hold %llu bytes but %s %s needs %llu", path, name,
                         (unsigned long long)e->begin, (unsigned long long)e->end,
                         (unsigned long long)(e->end - e->begin), tag,
                         cx__shape_str(e->ndim, e->shape, s, sizeof s),
                         (unsigned long long)bytes);
    }
    return CX_OK;
}

/* Checks the metadata object: string values only. Adds the bytes its strings need. */
static cx_status check_metadata(const char *path, const json_t *meta, size_t *string_bytes) {
    if (!json_is_object(meta))
        return cx__error(CX_ERR_FORMAT, "safetensors: %s: __metadata__ is not a JSON object",
                         path);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)meta, key, v) {
        if (!json_is_string(v))
            return cx__error(CX_ERR_FORMAT, "safetensors: %s: __metadata__ value of '%s' is not "
                             "a string", path, key);
        *string_bytes += strlen(key) + json_string_length(v) + 2;
    }
    return CX_OK;
}

static int entry_by_name(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static int entry_by_offset(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int pair_by_key(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *copy_string(char **block, const char *s, size_t len) {
    char *dst = *block;
    memcpy(dst, s, len);
    dst[len] = '\0';
    *block += len + 1;
    return dst;
}

/* torch's BatchNorm keeps an int64 step counter "<layer>.num_batches_tracked" in its
 * state_dict; Cortex has no such state, so those entries are left out of the listing rather
 * than making a torchvision checkpoint unreadable for its dtype. */
static bool is_skipped(const char *key, const json_t *info) {
    static const char suffix[] = ".num_batches_tracked";
    size_t n = strlen(key), k = sizeof suffix - 1;
    const json_t *dt = json_is_object(info) ? json_object_get(info, "dtype") : NULL;
    return n > k && strcmp(key + n - k, suffix) == 0 && json_is_string(dt) &&
           strcmp(json_string_value(dt), "I64") == 0;
}

/* Checks the parsed header against the data size and builds f's tables from it. */
static cx_status load_header(cx_safetensors *f, const json_t *root, uint64_t data_size) {
    const char *path = f->path;
    if (!json_is_object(root))
        return cx__error(CX_ERR_FORMAT, "safetensors: %s: the header is not a JSON object", path);

    /* Pass 1: check every entry and count what the tables need; nothing is allocated. */
    size_t n = 0, n_meta = 0, string_bytes = 1;
    const json_t *meta = NULL;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        cx_status st;
        if (is_skipped(key, v)) continue;
        if (strcmp(key, METADATA_KEY) == 0) {
            meta = v;
            st = check_metadata(path, v, &string_bytes);
            n_meta = json_object_size(v);
        } else {
            st_entry e;
            st = check_entry(path, key, v, data_size, &e);
            string_bytes += strlen(key) + 1;
            n++;
        }
        if (st != CX_OK) return st;
    }
    if (n > INT32_MAX || n_meta > INT32_MAX)
        return cx__error(CX_ERR_FORMAT, "safetensors: %s: too many entries", path);

    /* Pass 2: the tables, sized from what pass 1 checked. */
    f->entries = cx__alloc((n ? n : 1) * sizeof *f->entries);
    f->meta = cx__alloc((n_meta ? 2 * n_meta : 1) * sizeof *f->meta);
    f->strings = cx__alloc(string_bytes);
    if (!f->entries || !f->meta || !f->strings) return CX_ERR_OOM;
    char *block = f->strings;
    json_object_foreach((json_t *)root, key, v) {
        if (strcmp(key, METADATA_KEY) == 0 || is_skipped(key, v)) continue;
        st_entry *e = &f->entries[f->n++];
        check_entry(path, key, v, data_size, e);
        e->name = copy_string(&block, key, strlen(key));
    }
    if (meta) {
        json_object_foreach((json_t *)meta, key, v) {
            f->meta[2 * f->n_meta] = copy_string(&block, key, strlen(key));
            f->meta[2 * f->n_meta + 1] =
                copy_string(&block, json_string_value(v), json_string_length(v));
            f->n_meta++;
        }
    }
    qsort(f->meta, (size_t)f->n_meta, 2 * sizeof *f->meta, pair_by_key);

    /* No two tensors may share bytes (empty tensors occupy none). */
    qsort(f->entries, n, sizeof *f->entries, entry_by_offset);
    const st_entry *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        const st_entry *e = &f->entries[i];
        if (e->begin == e->end) continue;
        if (prev && e->begin < prev->end)
            return cx__error(CX_ERR_FORMAT, "safetensors: %s: tensors '%s' [%llu, %llu] and '%s' "
                             "[%llu, %llu] overlap", path, prev->name,
                             (unsigned long long)prev->begin, (unsigned long long)prev->end,
                             e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
        prev = e;
    }
    qsort(f->entries, n, sizeof *f->entries, entry_by_name);
    return CX_OK;
}

/* ---- reading ---- */

void cx_safetensors_close(cx_safetensors *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    cx__free(f->entries);
    cx__free(f->meta);
    cx__free(f->strings);
    cx__free(f->path);
    cx__free(f);
}

/* Reads the header of the open file f->fd (size bytes) and checks it. */
static cx_status open_header(cx_safetensors *f, uint64_t size) {
    const char *path = f->path;
    unsigned char len_bytes[8];
    if (size < 8)
        return cx__error(CX_ERR_FORMAT, "safetensors: %s: file is %llu bytes, too short for the "
                         "8-byte header length", path, (unsigned long long)size);
    if (!read_at(f->fd, len_bytes, 8, 0))
        return cx__error(CX_ERR_IO, "safetensors: %s: read failed: %s", path, strerror(errno));
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len_bytes[i];
    if (n > HEADER_MAX)
        return cx__error(CX_ERR_FORMAT, "safetensors: %s: header length %llu is over the 100 MB "
                         "limit (not a safetensors file?)", path, (unsigned long long)n);
    if (n > size - 8)
        return cx__error(CX_ERR_FORMAT, "safetensors: %s: header length %llu runs past the end "
                         "of the file (%llu bytes; truncated?)", path, (unsigned long long)n,
                         (unsigned long long)size);
    if (n < 2)
        return cx__error(CX_ERR_FORMAT, "safetensors: %s: header length %llu is too short for a "
                         "JSON object", path, (unsigned long long)n);
    char *text = cx__alloc((size_t)n);
    if (!text) return CX_ERR_OOM;
    if (!read_at(f->fd, text, (size_t)n, 8)) {
        cx__free(text);
        return cx__error(CX_ERR_IO, "safetensors: %s: reading the %llu-byte header failed", path,
                         (unsigned long long)n);
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    cx__free(text);
    if (!root)
        return cx__error(CX_ERR_FORMAT, "safetensors: %s: the header is not valid JSON: %s "
                         "(header byte %d)", path, jerr.text, jerr.position);
    f->data_start = 8 + n;
    cx_status st = load_header(f, root, size - 8 - n);
    json_decref(root);
    return st;
}

cx_safetensors *cx_safetensors_open(const char *path) {
    if (!path) {
        cx__error(CX_ERR_ARG, "cx_safetensors_open: path is NULL");
        return NULL;
    }
    cx_safetensors *f = cx__calloc(sizeof *f);
    if (!f) return NULL;
    f->fd = -1;
    size_t len = strlen(path);
    f->path = cx__alloc(len + 1);
    if (!f->path) {
        cx_safetensors_close(f);
        return NULL;
    }
    memcpy(f->path, path, len + 1);
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    cx_status st = CX_OK;
    if (f->fd < 0 || fstat(f->fd, &sb) != 0)
        st = cx__error(CX_ERR_IO, "safetensors: cannot open %s: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = cx__error(CX_ERR_IO, "safetensors: %s is not a regular file", path);
    else
        st = open_header(f, (uint64_t)sb.st_size);
    if (st != CX_OK) {
        cx_safetensors_close(f);
        return NULL;
    }
    return f;
}

int cx_safetensors_count(const cx_safetensors *f) { return f ? f->n : 0; }

const char *cx_safetensors_name(const cx_safetensors *f, int i) {
    if (!f || i < 0 || i >= f->n) return NULL;
    return f->entries[i].name;
}

static const st_entry *find(const cx_safetensors *f, const char *name) {
    if (!f || !name) return NULL;
    st_entry key = {.name = name};
    return bsearch(&key, f->entries, (size_t)f->n, sizeof key, entry_by_name);
}

bool cx_safetensors_has(const cx_safetensors *f, const char *name) {
    return find(f, name) != NULL;
}

const char *cx_safetensors_metadata(const cx_safetensors *f, const char *key) {
    if (!f || !key) return NULL;
    const char *const *pair = bsearch(&key, f->meta, (size_t)f->n_meta, 2 * sizeof *f->meta,
                                      pair_by_key);
    return pair ? pair[1] : NULL;
}

cx_tensor *cx_safetensors_get(const cx_safetensors *f, const char *name) {
    if (!f || !name) {
        cx__error(CX_ERR_ARG, "cx_safetensors_get: %s is NULL", f ? "name" : "file");
        return NULL;
    }
    const st_entry *e = find(f, name);
    if (!e) {
        cx__error(CX_ERR_ARG, "safetensors: %s has no tensor '%s'", f->path, name);
        return NULL;
    }
    cx_tensor *t = cx__tensor_empty(e->dtype, e->ndim, e->shape);
    if (!t) return NULL;
    size_t bytes = (size_t)(e->end - e->begin);
    if (bytes && !read_at(f->fd, t->storage->data, bytes, f->data_start + e->begin)) {
        cx__error(CX_ERR_IO, "safetensors: %s: reading tensor '%s' failed (file changed since it "
                  "was opened?)", f->path, name);
        cx_tensor_free(t);
        return NULL;
    }
    return t;
}

/* ---- writing ---- */

typedef struct {
    const char *name;
    cx_tensor *t;
    uint64_t bytes;
} save_item;

/* Larger elements first, then by name, as the reference writer orders data (keeps every
 * tensor aligned to its element size). */
static int item_order(const void *a, const void *b) {
    const save_item *x = a, *y = b;
    size_t sx = cx_dtype_size(x->t->dtype), sy = cx_dtype_size(y->t->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

static cx_status check_save_args(const char *path, int n, const char *const *names,
                                 cx_tensor *const *tensors, int n_meta,
                                 const char *const *keys, const char *const *values) {
    const char *who = "cx_safetensors_save";
    if (!path) return cx__error(CX_ERR_ARG, "%s: path is NULL", who);
    if (n < 0 || n_meta < 0)
        return cx__error(CX_ERR_ARG, "%s: %s: negative count (%d tensors, %d metadata)", who,
                         path, n, n_meta);
    if (n > 0 && (!names || !tensors))
        return cx__error(CX_ERR_ARG, "%s: %s: names or tensors is NULL", who, path);
    if (n_meta > 0 && (!keys || !values))
        return cx__error(CX_ERR_ARG, "%s: %s: metadata keys or values is NULL", who, path);
    for (int i = 0; i < n; i++) {
        if (!names[i]) return cx__error(CX_ERR_ARG, "%s: %s: name %d is NULL", who, path, i);
        if (strcmp(names[i], METADATA_KEY) == 0)
            return cx__error(CX_ERR_ARG, "%s: %s: '%s' is reserved for metadata", who, path,
                             METADATA_KEY);
        if (!tensors[i] || tensors[i]->magic != CX_TENSOR_MAGIC)
            return cx__error(CX_ERR_ARG, "%s: %s: tensor '%s' is %s", who, path, names[i],
                             tensors[i] ? "not a live tensor" : "NULL");
    }
    for (int i = 0; i < n_meta; i++)
        if (!keys[i] || !values[i])
            return cx__error(CX_ERR_ARG, "%s: %s: metadata entry %d is NULL", who, path, i);
    return CX_OK;
}

/* The header JSON for items (already ordered), padded with spaces to a multiple of 8 as the
 * reference writer does. Returns a cx__alloc'ed buffer and its length, or NULL + error. */
static char *build_header(const char *path, const save_item *items, int n, int n_meta,
                          const char *const *keys, const char *const *values, size_t *len) {
    const char *who = "cx_safetensors_save";
    json_t *root = json_object(), *meta = n_meta ? json_object() : NULL;
    bool ok = root && (meta || !n_meta);
    const char *dup = NULL, *bad = NULL;
    for (int i = 0; ok && i < n_meta; i++) {
        if (json_object_get(meta, keys[i])) dup = keys[i];
        ok = !dup && json_object_set_new(meta, keys[i], json_string(values[i])) == 0;
        if (!ok && !dup) bad = keys[i];
    }
    if (ok && meta) ok = json_object_set(root, METADATA_KEY, meta) == 0;
    uint64_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        const cx_tensor *t = items[i].t;
        if (json_object_get(root, items[i].name)) {
            dup = items[i].name;
            ok = false;
            break;
        }
        json_t *shape = json_array();
        for (int d = 0; shape && d < t->ndim; d++)
            if (json_array_append_new(shape, json_integer(t->shape[d])) != 0) {
                json_decref(shape);
                shape = NULL;
            }
        /* "o" hands shape's reference to the new object (or drops it on failure). */
        json_t *info = json_pack("{s:s, s:o, s:[I,I]}", "dtype", dtype_tag(t->dtype), "shape",
                                 shape, "data_offsets", (json_int_t)offset,
                                 (json_int_t)(offset + items[i].bytes));
        ok = info && json_object_set_new(root, items[i].name, info) == 0;
        if (!ok && info) bad = items[i].name;
        offset += items[i].bytes;
    }
    size_t n_text = ok ? json_dumpb(root, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER) : 0;
    char *text = n_text ? cx__alloc(n_text + 8) : NULL;
    if (text) json_dumpb(root, text, n_text, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(meta);
    json_decref(root);
    if (dup) {
        cx__free(text);
        cx__error(CX_ERR_ARG, "%s: %s: '%s' appears twice", who, path, dup);
        return NULL;
    }
    if (bad) {
        cx__free(text);
        cx__error(CX_ERR_ARG, "%s: %s: '%s' or its value is not valid UTF-8", who, path, bad);
        return NULL;
    }
    if (!text) {
        cx__error(CX_ERR_OOM, "%s: %s: out of memory building the header", who, path);
        return NULL;
    }
    size_t padded = (n_text + 7) / 8 * 8;
    memset(text + n_text, ' ', padded - n_text);
    *len = padded;
    return text;
}

/* Makes a completed rename durable: fsync of the directory holding path (best effort). */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096] = ".";
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof dir) return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    fsync(fd);
    close(fd);
}

/* Writes length, header and tensor data to fd. */
static cx_status write_body(int fd, const char *tmp, const char *header, size_t header_len,
                            const save_item *items, int n) {
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    if (!write_all(fd, len_bytes, 8) || !write_all(fd, header, header_len))
        return cx__error(CX_ERR_IO, "cx_safetensors_save: writing %s failed: %s", tmp,
                         strerror(errno));
    for (int i = 0; i < n; i++) {
        const cx_tensor *t = items[i].t;
        size_t bytes = (size_t)items[i].bytes;
        if (bytes == 0) continue;
        const char *src = (const char *)t->storage->data + (size_t)t->offset * cx_dtype_size(
                                                               t->dtype);
        char *copy = NULL;
        if (!cx__is_contiguous(t)) {
            copy = cx__alloc(bytes);
            if (!copy) return CX_ERR_OOM;
            cx__copy_strided(t, copy);
            src = copy;
        }
        bool ok = write_all(fd, src, bytes);
        cx__free(copy);
        if (!ok)
            return cx__error(CX_ERR_IO, "cx_safetensors_save: writing tensor '%s' to %s failed: "
                             "%s", items[i].name, tmp, strerror(errno));
    }
    return CX_OK;
}

cx_status cx_safetensors_save(const char *path, int n, const char *const *names,
                              cx_tensor *const *tensors, int n_meta,
                              const char *const *meta_keys, const char *const *meta_values) {
    cx_status st = check_save_args(path, n, names, tensors, n_meta, meta_keys, meta_values);
    if (st != CX_OK) return st;
    save_item *items = cx__alloc((size_t)(n ? n : 1) * sizeof *items);
    if (!items) return CX_ERR_OOM;
    for (int i = 0; i < n; i++)
        items[i] = (save_item){names[i], tensors[i],
                               (uint64_t)cx__numel(tensors[i]->ndim, tensors[i]->shape) *
                                   cx_dtype_size(tensors[i]->dtype)};
    qsort(items, (size_t)n, sizeof *items, item_order);
    size_t header_len = 0;
    char *header = build_header(path, items, n, n_meta, meta_keys, meta_values, &header_len);
    size_t tmp_len = strlen(path) + 32;
    char *tmp = header ? cx__alloc(tmp_len) : NULL;
    if (!header || !tmp) {
        cx__free(header);
        cx__free(items);
        return cx_last_status();
    }
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());

    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = cx__error(CX_ERR_IO, "cx_safetensors_save: cannot create %s: %s", tmp,
                       strerror(errno));
    } else {
        st = write_body(fd, tmp, header, header_len, items, n);
        if (st == CX_OK && fsync(fd) != 0)
            st = cx__error(CX_ERR_IO, "cx_safetensors_save: fsync of %s failed: %s", tmp,
                           strerror(errno));
        if (close(fd) != 0 && st == CX_OK)
            st = cx__error(CX_ERR_IO, "cx_safetensors_save: closing %s failed: %s", tmp,
                           strerror(errno));
        if (st == CX_OK && rename(tmp, path) != 0)
            st = cx__error(CX_ERR_IO, "cx_safetensors_save: renaming %s to %s failed: %s", tmp,
                           path, strerror(errno));
        if (st != CX_OK) unlink(tmp);
    }
    if (st == CX_OK) sync_parent_dir(path);
    cx__free(tmp);
    cx__free(header);
    cx__free(items);
    return st;
}
