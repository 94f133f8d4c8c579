/*
 * idx.c - IDX files, the format of MNIST (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"):
 *     2 zero bytes, an element-type byte (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32,
 *     0x0E f64), a rank byte; rank big-endian 32-bit dims; the elements, big-endian, row-major.
 * A file may be gzip-compressed; that is recognised from its first bytes (1f 8b), not its name.
 *
 * Reading checks the whole header before allocating anything from it: magic, type, rank,
 * every dim, their product against CX_MAX_NUMEL, and the data length against the file - for
 * a plain file exactly, for gzip against the most deflate can expand (1032:1), since the
 * inflated size is unknown until the stream is read. The data is then inflated straight into
 * the tensor, and the stream must end exactly there with a valid CRC: a truncated, damaged or
 * overlong file is an error, never a partly filled tensor.
 */
#include "data_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IN_CHUNK (1u << 16)   /* compressed bytes read per refill */
/* Deflate's largest expansion: a 258-byte match costs at least 2 bits, 258 * 8 / 2 (zlib FAQ). */
#define DEFLATE_MAX_RATIO 1032

/* ---- element types ---- */

typedef struct {
    unsigned code;
    const char *name;
    int supported; /* 0: a valid IDX type Cortex has no dtype for (dtype unused) */
    cx_dtype dtype;
} idx_type;

static const idx_type idx_types[] = {
    {0x08, "u8", 1, CX_DTYPE_U8},  {0x09, "i8", 0, CX_DTYPE_U8},
    {0x0B, "i16", 0, CX_DTYPE_U8}, {0x0C, "i32", 1, CX_DTYPE_I32},
    {0x0D, "f32", 1, CX_DTYPE_F32}, {0x0E, "f64", 0, CX_DTYPE_U8},
};

static unsigned type_code(cx_dtype dtype) {
    for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
        if (idx_types[i].supported && idx_types[i].dtype == dtype) return idx_types[i].code;
    return 0;
}

/* ---- a byte source: the plain file or its inflated gzip stream ---- */

typedef struct {
    const char *path;
    int fd;
    uint64_t file_size;
    bool gz;
    bool z_live;     /* inflateInit2 succeeded: inflateEnd is due */
    bool member_end; /* the current gzip member has ended (its CRC checked) */
    bool in_eof;     /* the file has no more compressed bytes */
    z_stream z;
    unsigned char *in; /* IN_CHUNK compressed bytes */
} idx_src;

/* zlib's allocations go through the library hook, so tests can count and fail them. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
    (void)opaque;
    return cx__alloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf ptr) {
    (void)opaque;
    cx__free(ptr);
}

/* Reads up to n bytes from the file; *got < n only at its end. */
static cx_status read_plain(idx_src *s, void *buf, size_t n, size_t *got) {
    char *p = buf;
    *got = 0;
    while (*got < n) {
        size_t want = n - *got < ((size_t)1 << 30) ? n - *got : (size_t)1 << 30;
        ssize_t r = read(s->fd, p + *got, want);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
            return cx__error(CX_ERR_IO, "idx: %s: read failed: %s", s->path, strerror(errno));
        if (r == 0) break;
        *got += (size_t)r;
    }
    return CX_OK;
}

static cx_status refill(idx_src *s) {
    size_t got;
    cx_status st = read_plain(s, s->in, IN_CHUNK, &got);
    if (st != CX_OK) return st;
    s->z.next_in = s->in;
    s->z.avail_in = (uInt)got;
    if (got < IN_CHUNK) s->in_eof = true;
    return CX_OK;
}

/* Inflates up to n bytes; *got < n only where the gzip data ends cleanly. Members may follow
 * one another (gzip allows concatenation); anything else after a member is an error. */
static cx_status read_gz(idx_src *s, void *buf, size_t n, size_t *got) {
    unsigned char *out = buf;
    *got = 0;
    while (*got < n) {
        if (s->z.avail_in == 0 && !s->in_eof) {
            cx_status st = refill(s);
            if (st != CX_OK) return st;
        }
        if (s->member_end) {
            if (s->z.avail_in == 0) break; /* the clean end of the file */
            if (s->z.next_in[0] != 0x1f)
                return cx__error(CX_ERR_FORMAT, "idx: %s: trailing bytes after the gzip data",
                                 s->path);
            inflateReset(&s->z);
            s->member_end = false;
        }
        size_t want = n - *got < ((size_t)1 << 30) ? n - *got : (size_t)1 << 30;
        s->z.next_out = out + *got;
        s->z.avail_out = (uInt)want;
        int r = inflate(&s->z, Z_NO_FLUSH);
        *got += want - s->z.avail_out;
        if (r == Z_STREAM_END) {
            s->member_end = true;
        } else if (r == Z_BUF_ERROR && s->z.avail_in == 0 && s->in_eof) {
            return cx__error(CX_ERR_FORMAT, "idx: %s: the gzip data ends before its stream does "
                             "(truncated?)", s->path);
        } else if (r == Z_MEM_ERROR) {
            return cx__error(CX_ERR_OOM, "idx: %s: out of memory inflating the gzip data",
                             s->path);
        } else if (r != Z_OK) {
            return cx__error(CX_ERR_FORMAT, "idx: %s: the gzip data is damaged (%s)", s->path,
                             s->z.msg ? s->z.msg : "inflate failed");
        }
    }
    return CX_OK;
}

static cx_status src_read(idx_src *s, void *buf, size_t n, size_t *got) {
    return s->gz ? read_gz(s, buf, n, got) : read_plain(s, buf, n, got);
}

/* Opens path and recognises gzip from its first two bytes. */
static cx_status src_open(idx_src *s, const char *path) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (s->fd < 0 || fstat(s->fd, &sb) != 0)
        return cx__error(CX_ERR_IO, "idx: cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return cx__error(CX_ERR_IO, "idx: %s is not a regular file", path);
    s->file_size = (uint64_t)sb.st_size;
    unsigned char magic[2];
    ssize_t r;
    do r = pread(s->fd, magic, 2, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0) return cx__error(CX_ERR_IO, "idx: %s: read failed: %s", path, strerror(errno));
    if (r < 2 || magic[0] != 0x1f || magic[1] != 0x8b) return CX_OK;

    s->gz = true;
    s->in = cx__alloc(IN_CHUNK);
    if (!s->in) return CX_ERR_OOM;
    s->z.zalloc = z_alloc;
    s->z.zfree = z_free;
    int zr = inflateInit2(&s->z, 16 + MAX_WBITS); /* 16: a gzip wrapper, not zlib's */
    if (zr != Z_OK)
        return cx__error(zr == Z_MEM_ERROR ? CX_ERR_OOM : CX_ERR_FORMAT,
                         "idx: %s: cannot start inflating: %s", path, zError(zr));
    s->z_live = true;
    return CX_OK;
}

static void src_close(idx_src *s) {
    if (s->z_live) inflateEnd(&s->z);
    cx__free(s->in);
    if (s->fd >= 0) close(s->fd);
}

/* ---- reading ---- */

typedef struct {
    cx_dtype dtype;
    const char *type_name;
    int rank;
    int64_t shape[CX_MAX_DIMS];
    uint64_t header_bytes, data_bytes;
} idx_header;

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static cx_status short_header(const idx_src *s, size_t got, size_t want) {
    return cx__error(CX_ERR_FORMAT, "idx: %s: %s ends after %zu bytes, inside the %zu-byte "
                     "header (truncated?)", s->path, s->gz ? "the decompressed data" : "the file",
                     got, want);
}

/* Reads and checks magic, type, rank and dims; computes the data length. */
static cx_status read_header(idx_src *s, idx_header *h) {
    unsigned char buf[4 * CX_MAX_DIMS];
    size_t got;
    cx_status st = src_read(s, buf, 4, &got);
    if (st != CX_OK) return st;
    if (got < 4) return short_header(s, got, 4);
    if (buf[0] != 0 || buf[1] != 0)
        return cx__error(CX_ERR_FORMAT, "idx: %s: bad magic %02x %02x %02x %02x: an IDX file "
                         "starts with two zero bytes (not an IDX file?)", s->path, buf[0],
                         buf[1], buf[2], buf[3]);
    const idx_type *type = NULL;
    for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
        if (idx_types[i].code == buf[2]) type = &idx_types[i];
    if (!type)
        return cx__error(CX_ERR_FORMAT, "idx: %s: unknown element type 0x%02x in the magic "
                         "(not an IDX file?)", s->path, buf[2]);
    if (!type->supported)
        return cx__error(CX_ERR_UNSUPPORTED, "idx: %s: element type %s (0x%02x) is not "
                         "supported; Cortex reads u8, i32 and f32", s->path, type->name,
                         type->code);
    h->dtype = type->dtype;
    h->type_name = type->name;
    h->rank = buf[3];
    if (h->rank < 1 || h->rank > CX_MAX_DIMS)
        return cx__error(CX_ERR_FORMAT, "idx: %s: rank %d; 1 to %d are supported", s->path,
                         h->rank, CX_MAX_DIMS);
    size_t dims_bytes = 4 * (size_t)h->rank;
    h->header_bytes = 4 + dims_bytes;
    st = src_read(s, buf, dims_bytes, &got);
    if (st != CX_OK) return st;
    if (got < dims_bytes) return short_header(s, 4 + got, (size_t)h->header_bytes);

    /* span: the product with zero dims counted as 1, which tensors bound as well (their
     * strides), so [0, 2^30, 2^30] is refused even though it holds nothing. */
    uint64_t numel = 1, span = 1;
    bool too_big = false;
    for (int i = 0; i < h->rank; i++) {
        uint32_t d = be32(buf + 4 * i);
        if (d > INT32_MAX)
            return cx__error(CX_ERR_FORMAT, "idx: %s: dimension %d is %lu, over 2^31 - 1 (damaged "
                             "header?)", s->path, i, (unsigned long)d);
        h->shape[i] = d;
        if (d > 0 && span > (uint64_t)CX_MAX_NUMEL / d) too_big = true;
        else if (d > 0) span *= d;
        numel = d == 0 ? 0 : numel * d; /* <= span once too_big is ruled out */
    }
    char shape[CX_SHAPE_STR_MAX];
    cx__shape_str(h->rank, h->shape, shape, sizeof shape);
    if (too_big)
        return cx__error(CX_ERR_FORMAT, "idx: %s: shape %s has more than 2^40 elements (damaged "
                         "header?)", s->path, shape);
    h->data_bytes = numel * cx_dtype_size(h->dtype); /* <= 2^42: no overflow */

    if (!s->gz) {
        uint64_t avail = s->file_size - h->header_bytes; /* the header was read: no underflow */
        if (h->data_bytes > avail)
            return cx__error(CX_ERR_FORMAT, "idx: %s: the header says %s %s, %llu bytes of data, "
                             "but the file holds %llu after its %llu-byte header (truncated?)",
                             s->path, h->type_name, shape, (unsigned long long)h->data_bytes,
                             (unsigned long long)avail, (unsigned long long)h->header_bytes);
        if (h->data_bytes < avail)
            return cx__error(CX_ERR_FORMAT, "idx: %s: %llu trailing bytes after the data of %s %s",
                             s->path, (unsigned long long)(avail - h->data_bytes), h->type_name,
                             shape);
    } else if (h->data_bytes + h->header_bytes > s->file_size * DEFLATE_MAX_RATIO) {
        return cx__error(CX_ERR_FORMAT, "idx: %s: the header says %s %s, %llu bytes of data, more "
                         "than a %llu-byte gzip file can hold (damaged or truncated?)", s->path,
                         h->type_name, shape, (unsigned long long)h->data_bytes,
                         (unsigned long long)s->file_size);
    }
    return CX_OK;
}

/* Reads the data into t and checks that nothing follows it. */
static cx_status read_data(idx_src *s, const idx_header *h, cx_tensor *t) {
    size_t got;
    cx_status st = src_read(s, t->storage->data, (size_t)h->data_bytes, &got);
    if (st != CX_OK) return st;
    if (got < h->data_bytes)
        return cx__error(CX_ERR_FORMAT, "idx: %s: the data ends after %zu of %llu bytes "
                         "(truncated?)", s->path, got, (unsigned long long)h->data_bytes);
    unsigned char extra;
    st = src_read(s, &extra, 1, &got); /* for gzip this also reaches the CRC check */
    if (st != CX_OK) return st;
    if (got)
        return cx__error(CX_ERR_FORMAT, "idx: %s: trailing bytes after the %llu bytes of data "
                         "the header describes", s->path, (unsigned long long)h->data_bytes);
    if (cx_dtype_size(h->dtype) == 4) {
        uint32_t *w = t->storage->data;
        for (uint64_t i = 0; i < h->data_bytes / 4; i++) w[i] = __builtin_bswap32(w[i]);
    }
    return CX_OK;
}

cx_tensor *cx__idx_read(const char *path, cx_arena *arena) {
    if (!path) {
        cx__error(CX_ERR_ARG, "cx_idx_read: path is NULL");
        return NULL;
    }
    idx_src s;
    idx_header h;
    cx_tensor *t = NULL;
    cx_status st = src_open(&s, path);
    if (st == CX_OK) st = read_header(&s, &h);
    if (st == CX_OK) {
        t = cx__tensor_alloc(arena, h.dtype, h.rank, h.shape);
        st = t ? read_data(&s, &h, t) : cx_last_status();
    }
    src_close(&s);
    if (st != CX_OK) {
        cx_tensor_free(t);
        return NULL;
    }
    return t;
}

cx_tensor *cx_idx_read(const char *path) { return cx__idx_read(path, cx__current_arena()); }

/* ---- writing ---- */

typedef struct {
    const cx_tensor *t;
} idx_write_ctx;

static cx_status idx_fill(int fd, const char *tmp, void *ctx) {
    const cx_tensor *t = ((const idx_write_ctx *)ctx)->t;
    unsigned char head[4 + 4 * CX_MAX_DIMS] = {0, 0, (unsigned char)type_code(t->dtype),
                                               (unsigned char)t->ndim};
    for (int i = 0; i < t->ndim; i++)
        for (int b = 0; b < 4; b++)
            head[4 + 4 * i + b] = (unsigned char)((uint64_t)t->shape[i] >> (24 - 8 * b));
    if (!cx__write_all(fd, head, 4 + 4 * (size_t)t->ndim))
        return cx__error(CX_ERR_IO, "cx_idx_write: writing %s failed: %s", tmp, strerror(errno));

    size_t es = cx_dtype_size(t->dtype), bytes = (size_t)cx__numel(t->ndim, t->shape) * es;
    const unsigned char *src = (const unsigned char *)t->storage->data + (size_t)t->offset * es;
    unsigned char *copy = NULL;
    if (bytes && !cx__is_contiguous(t)) {
        copy = cx__alloc(bytes);
        if (!copy) return CX_ERR_OOM;
        cx__copy_strided(t, copy);
        src = copy;
    }
    /* 4-byte elements go out big-endian through a small buffer, so the tensor stays as is. */
    enum { CHUNK = 1 << 16 };
    uint32_t *swap = es == 4 && bytes ? cx__alloc(CHUNK) : NULL;
    bool ok = !(es == 4 && bytes && !swap);
    for (size_t off = 0; ok && off < bytes; off += CHUNK) {
        size_t len = bytes - off < CHUNK ? bytes - off : CHUNK;
        const void *out = src + off;
        if (swap) {
            memcpy(swap, src + off, len);
            for (size_t i = 0; i < len / 4; i++) swap[i] = __builtin_bswap32(swap[i]);
            out = swap;
        }
        ok = cx__write_all(fd, out, len);
        if (!ok) cx__error(CX_ERR_IO, "cx_idx_write: writing %s failed: %s", tmp, strerror(errno));
    }
    cx__free(swap);
    cx__free(copy);
    return ok ? CX_OK : cx_last_status();
}

cx_status cx_idx_write(const char *path, cx_tensor *t) {
    if (!cx__check("cx_idx_write", "t", t)) return cx_last_status();
    char s[CX_SHAPE_STR_MAX];
    if (t->ndim < 1)
        return cx__error(CX_ERR_SHAPE, "cx_idx_write: %s: an IDX file needs 1 to %d dimensions, "
                         "the tensor has none", path ? path : "(null)", CX_MAX_DIMS);
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] > INT32_MAX)
            return cx__error(CX_ERR_SHAPE, "cx_idx_write: %s: shape %s has a dim over 2^31 - 1, "
                             "which IDX cannot hold", path ? path : "(null)",
                             cx__shape_str(t->ndim, t->shape, s, sizeof s));
    idx_write_ctx ctx = {t};
    return cx__write_atomic("cx_idx_write", path, idx_fill, &ctx);
}
