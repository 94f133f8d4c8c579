/*
 * test_data.c - data files, datasets, loaders and images.
 *   IDX: round trips of u8, i32 and f32 (plain, gzip, multi-member gzip, strided tensors);
 *   damaged and hostile files (cut at every byte, bad magic, trailing bytes, absurd dims that
 *   must be refused before any large allocation, corrupt gzip), failed allocations.
 *   Datasets: from IDX files, directories and tensors, splits and heads, named datasets.
 *   Loaders: every sample once per epoch, order a function of (seed, epoch), normalisation,
 *   partial last batch and drop_last, no heap allocation per batch.
 *   Images: PNG save/load round trip, grey conversion, resize, bad files.
 * Every file is generated in a fresh temporary directory; one test reads data/mnist when
 * scripts/get-data has written it and is skipped otherwise.
 */
#include "test.h"

#include <dirent.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[64];

/* tmpdir/name in one of a few rotating buffers. */
static const char *in_tmp(const char *name) { return cx_test_path(name); }

/* ---- files ---- */

typedef struct {
    unsigned char *data;
    size_t len;
} blob;

static void blob_save(const char *path, blob b) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b.data, 1, b.len, fp), b.len);
    assert_int_equal(fclose(fp), 0);
}

static blob blob_load(const char *path) {
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    blob b = {malloc((size_t)sb.st_size + 1), (size_t)sb.st_size};
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(b.data, 1, b.len, fp), b.len);
    fclose(fp);
    return b;
}

/* b compressed as one gzip member. */
static blob gzip_of(blob b) {
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    blob out = {malloc(deflateBound(&z, b.len) + 1), 0};
    z.next_in = b.data;
    z.avail_in = (uInt)b.len;
    z.next_out = out.data;
    z.avail_out = (uInt)deflateBound(&z, b.len);
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.len = z.total_out;
    deflateEnd(&z);
    return out;
}

/* An IDX file's bytes: magic with type and rank, dims, then data_len bytes of data. */
static blob idx_bytes(unsigned type, int rank, const uint32_t *dims, const void *data,
                      size_t data_len) {
    blob b = {malloc(4 + 4 * (size_t)rank + data_len + 1), 0};
    unsigned char head[4] = {0, 0, (unsigned char)type, (unsigned char)rank};
    memcpy(b.data, head, 4);
    for (int i = 0; i < rank; i++)
        for (int k = 0; k < 4; k++)
            b.data[4 + 4 * i + k] = (unsigned char)(dims[i] >> (24 - 8 * k));
    b.len = 4 + 4 * (size_t)rank;
    if (data_len) memcpy(b.data + b.len, data, data_len);
    b.len += data_len;
    return b;
}

/* Reading path must fail with status and a message naming it and holding word. */
static void expect_idx_error(const char *path, cx_status status, const char *word) {
    cx_clear_error();
    cx_tensor *t = cx_idx_read(path);
    if (t || cx_last_status() != status || !strstr(cx_last_error(), path) ||
        (word && !strstr(cx_last_error(), word)))
        print_error("read %s: got %s \"%s\", want %s with '%s'\n", path,
                    cx_status_name(cx_last_status()), cx_last_error(), cx_status_name(status),
                    word ? word : "");
    cx_tensor_free(t);
    assert_null(t);
    assert_int_equal(cx_last_status(), status);
    assert_non_null(strstr(cx_last_error(), path));
    if (word) assert_non_null(strstr(cx_last_error(), word));
}

static bool same_values(cx_tensor *a, cx_tensor *b) {
    if (cx_tensor_dtype(a) != cx_tensor_dtype(b) || cx_tensor_ndim(a) != cx_tensor_ndim(b))
        return false;
    for (int i = 0; i < cx_tensor_ndim(a); i++)
        if (cx_tensor_dim(a, i) != cx_tensor_dim(b, i)) return false;
    size_t n = (size_t)cx_tensor_numel(a) * cx_dtype_size(cx_tensor_dtype(a));
    unsigned char *x = malloc(n + 1), *y = malloc(n + 1);
    assert_int_equal(cx_tensor_copy_to(a, x, n), CX_OK);
    assert_int_equal(cx_tensor_copy_to(b, y, n), CX_OK);
    bool same = memcmp(x, y, n) == 0;
    free(x);
    free(y);
    return same;
}

/* ---- allocator hooks: counting, largest request, failing after a number ---- */

typedef struct {
    long count;
    size_t largest;
    long fail_after; /* < 0: never fail */
} alloc_log;

static void *logged_alloc(size_t bytes, void *ctx) {
    alloc_log *log = ctx;
    if (log->fail_after == 0) return NULL;
    if (log->fail_after > 0) log->fail_after--;
    log->count++;
    if (bytes > log->largest) log->largest = bytes;
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 1) == 0 ? p : NULL;
}

static void logged_free(void *p, void *ctx) {
    (void)ctx;
    free(p);
}

static void log_start(alloc_log *log, long fail_after) {
    *log = (alloc_log){0, 0, fail_after};
    cx_set_allocator(&(cx_allocator){logged_alloc, logged_free, log});
}

/* ---- IDX round trips ---- */

#define N_ROUND 4

static void round_trip_tensors(cx_tensor **t) {
    uint8_t u[60];
    for (int i = 0; i < 60; i++) u[i] = (uint8_t)(i * 37 + 3);
    int32_t iv[5] = {-7, 0, 1, 2147483647, -2147483647 - 1};
    float f[6] = {0.0f, -1.5f, 3.25e-30f, 1e30f, -0.0f, 0.1f};
    t[0] = cx_from_data(CX_DTYPE_U8, CX_SHAPE(3, 4, 5), u);
    t[1] = cx_from_data(CX_DTYPE_I32, CX_SHAPE(5), iv);
    t[2] = cx_from_data(CX_DTYPE_F32, CX_SHAPE(2, 3), f);
    t[3] = cx_transpose(t[2], 0, 1); /* strided: written in logical order */
    for (int i = 0; i < N_ROUND; i++) assert_non_null(t[i]);
}

static void idx_round_trip(void **state) {
    (void)state;
    cx_tensor *t[N_ROUND];
    round_trip_tensors(t);
    for (int i = 0; i < N_ROUND; i++) {
        char name[32];
        snprintf(name, sizeof name, "round%d.idx", i);
        const char *path = in_tmp(name);
        assert_int_equal(cx_idx_write(path, t[i]), CX_OK);
        cx_tensor *back = cx_idx_read(path);
        if (!back) print_error("%s\n", cx_last_error());
        assert_non_null(back);
        assert_true(same_values(back, t[i]));
        cx_tensor_free(back);

        /* The same bytes gzip-compressed, under a name that does not say so and one that does. */
        blob plain = blob_load(path), gz = gzip_of(plain);
        const char *names[2] = {"gz_no_suffix.idx", "gz.idx.gz"};
        for (int k = 0; k < 2; k++) {
            blob_save(in_tmp(names[k]), gz);
            back = cx_idx_read(in_tmp(names[k]));
            if (!back) print_error("%s\n", cx_last_error());
            assert_non_null(back);
            assert_true(same_values(back, t[i]));
            cx_tensor_free(back);
        }
        /* Plain content under a .gz name is read as what it is. */
        blob_save(in_tmp("plain.gz"), plain);
        back = cx_idx_read(in_tmp("plain.gz"));
        assert_non_null(back);
        assert_true(same_values(back, t[i]));
        cx_tensor_free(back);
        free(plain.data);
        free(gz.data);
    }

    /* The bytes on disk are big-endian IDX. */
    blob b = blob_load(in_tmp("round1.idx"));
    const unsigned char want[12] = {0, 0, 0x0C, 1, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xf9};
    assert_int_equal(b.len, 8 + 5 * 4);
    assert_memory_equal(b.data, want, sizeof want);
    free(b.data);
    for (int i = N_ROUND - 1; i >= 0; i--) cx_tensor_free(t[i]);
}

static void idx_gzip_members_and_empty(void **state) {
    (void)state;
    uint8_t pix[24];
    for (int i = 0; i < 24; i++) pix[i] = (uint8_t)i;
    blob raw = idx_bytes(0x08, 3, (const uint32_t[]){2, 3, 4}, pix, 24);
    /* Two gzip members, split inside the data, concatenated as `cat a.gz b.gz` makes them. */
    blob a = gzip_of((blob){raw.data, 10}), b = gzip_of((blob){raw.data + 10, raw.len - 10});
    blob both = {malloc(a.len + b.len), a.len + b.len};
    memcpy(both.data, a.data, a.len);
    memcpy(both.data + a.len, b.data, b.len);
    blob_save(in_tmp("members.gz"), both);
    cx_tensor *t = cx_idx_read(in_tmp("members.gz"));
    if (!t) print_error("%s\n", cx_last_error());
    assert_non_null(t);
    assert_int_equal(cx_tensor_numel(t), 24);
    assert_memory_equal(cx_tensor_data(t), pix, 24);
    cx_tensor_free(t);

    /* An empty dim gives an empty tensor. */
    blob empty = idx_bytes(0x0D, 2, (const uint32_t[]){0, 7}, NULL, 0);
    blob_save(in_tmp("empty.idx"), empty);
    t = cx_idx_read(in_tmp("empty.idx"));
    assert_non_null(t);
    assert_int_equal(cx_tensor_numel(t), 0);
    assert_int_equal(cx_tensor_dim(t, 1), 7);
    cx_tensor_free(t);
    free(empty.data);
    free(both.data);
    free(a.data);
    free(b.data);
    free(raw.data);
}

/* ---- damaged and hostile IDX files ---- */

static void idx_truncated(void **state) {
    (void)state;
    uint8_t pix[2 * 3 * 3];
    for (size_t i = 0; i < sizeof pix; i++) pix[i] = (uint8_t)(200 - i);
    blob raw = idx_bytes(0x08, 3, (const uint32_t[]){2, 3, 3}, pix, sizeof pix);
    blob gz = gzip_of(raw);
    const char *path = in_tmp("cut.idx");
    for (size_t n = 0; n < raw.len; n++) {
        blob_save(path, (blob){raw.data, n});
        expect_idx_error(path, CX_ERR_FORMAT, "truncated");
    }
    /* Every cut of the gzip file past its magic: an error, never a partly read tensor. */
    for (size_t n = 2; n < gz.len; n++) {
        blob_save(path, (blob){gz.data, n});
        expect_idx_error(path, CX_ERR_FORMAT, NULL);
    }
    /* A whole gzip stream whose content is cut: the header promises more. */
    blob short_gz = gzip_of((blob){raw.data, raw.len - 1});
    blob_save(path, short_gz);
    expect_idx_error(path, CX_ERR_FORMAT, "truncated");
    free(short_gz.data);
    free(gz.data);
    free(raw.data);
}

static void idx_bad_headers(void **state) {
    (void)state;
    const uint8_t pix[4] = {1, 2, 3, 4};
    struct {
        unsigned type;
        int rank;
        cx_status status;
        const char *word;
    } cases[] = {
        {0x07, 1, CX_ERR_FORMAT, "unknown element type"},
        {0x0E, 1, CX_ERR_UNSUPPORTED, "f64"},
        {0x09, 1, CX_ERR_UNSUPPORTED, "i8"},
        {0x08, 0, CX_ERR_FORMAT, "rank 0"},
        {0x08, 9, CX_ERR_FORMAT, "rank 9"},
    };
    const uint32_t dims[9] = {4, 1, 1, 1, 1, 1, 1, 1, 1};
    const char *path = in_tmp("bad.idx");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        blob b = idx_bytes(cases[i].type, cases[i].rank, dims, pix, 4);
        blob_save(path, b);
        expect_idx_error(path, cases[i].status, cases[i].word);
        free(b.data);
    }
    /* Bad magic: the first two bytes must be zero (a PNG, a text file, ...). */
    blob b = idx_bytes(0x08, 1, dims, pix, 4);
    b.data[0] = 0x89;
    blob_save(path, b);
    expect_idx_error(path, CX_ERR_FORMAT, "bad magic");
    b.data[0] = 0;
    b.data[1] = 8;
    blob_save(path, b);
    expect_idx_error(path, CX_ERR_FORMAT, "bad magic");
    free(b.data);
    expect_idx_error(in_tmp("does-not-exist.idx"), CX_ERR_IO, "No such file");
    expect_idx_error(tmpdir, CX_ERR_IO, "not a regular file");
    cx_clear_error();
    assert_null(cx_idx_read(NULL));
    assert_int_equal(cx_last_status(), CX_ERR_ARG);
}

static void idx_trailing_bytes(void **state) {
    (void)state;
    const uint8_t pix[5] = {9, 8, 7, 6, 5};
    const char *path = in_tmp("trailing.idx");
    blob longer = idx_bytes(0x08, 1, (const uint32_t[]){4}, pix, 5); /* one byte too many */
    blob_save(path, longer);
    expect_idx_error(path, CX_ERR_FORMAT, "trailing");
    blob gz = gzip_of(longer);
    blob_save(path, gz);
    expect_idx_error(path, CX_ERR_FORMAT, "trailing");
    /* Garbage after a complete gzip stream. */
    blob exact = idx_bytes(0x08, 1, (const uint32_t[]){5}, pix, 5), egz = gzip_of(exact);
    egz.data = realloc(egz.data, egz.len + 3);
    memcpy(egz.data + egz.len, "xyz", 3);
    egz.len += 3;
    blob_save(path, egz);
    expect_idx_error(path, CX_ERR_FORMAT, "trailing");
    free(egz.data);
    free(exact.data);
    free(gz.data);
    free(longer.data);
}

static void idx_absurd_sizes(void **state) {
    (void)state;
    unsigned char filler[1008] = {0};
    const char *path = in_tmp("absurd.idx");
    struct {
        int rank;
        uint32_t dims[4];
        const char *word;
    } cases[] = {
        {3, {0x80000000u, 28, 28}, "2^31"},          /* 2^31 images: no such dim */
        {3, {0x7fffffffu, 16, 16}, "truncated"},     /* 550 GB of data in a 1 KiB file */
        {3, {0x7fffffffu, 28, 28}, "2^40"},          /* 2^31 - 1 digits: 1.7 TB */
        {4, {65536, 65536, 65536, 65536}, "2^40"},   /* a product that overflows 64 bits */
        {2, {0x7fffffffu, 0x7fffffffu}, "2^40"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        blob b = idx_bytes(0x08, cases[i].rank, cases[i].dims, filler, sizeof filler);
        for (int gz = 0; gz < 2; gz++) {
            blob file = gz ? gzip_of(b) : b;
            blob_save(path, file);
            alloc_log log;
            log_start(&log, -1);
            expect_idx_error(path, CX_ERR_FORMAT,
                             gz && strcmp(cases[i].word, "truncated") == 0 ? "gzip"
                                                                           : cases[i].word);
            cx_set_allocator(NULL);
            /* Refused from the header: nothing near the claimed size was requested. */
            assert_true(log.largest < ((size_t)1 << 20));
            if (gz) free(file.data);
        }
        free(b.data);
    }
}

static void idx_corrupt_gzip(void **state) {
    (void)state;
    uint8_t pix[400];
    for (int i = 0; i < 400; i++) pix[i] = (uint8_t)(i * i);
    blob raw = idx_bytes(0x08, 2, (const uint32_t[]){20, 20}, pix, 400), gz = gzip_of(raw);
    const char *path = in_tmp("corrupt.gz");
    /* Flipped bits in the deflate data, and in the CRC and length trailer. */
    size_t spots[] = {12, gz.len / 2, gz.len - 8, gz.len - 1};
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
        blob bad = {malloc(gz.len), gz.len};
        memcpy(bad.data, gz.data, gz.len);
        bad.data[spots[i]] ^= 0x5a;
        blob_save(path, bad);
        expect_idx_error(path, CX_ERR_FORMAT, NULL);
        free(bad.data);
    }
    free(gz.data);
    free(raw.data);
}

static void idx_alloc_failures(void **state) {
    (void)state;
    int32_t v[300];
    for (int i = 0; i < 300; i++) v[i] = i * 1000 - 7;
    cx_tensor *t = cx_from_data(CX_DTYPE_I32, CX_SHAPE(3, 100), v);
    const char *path = in_tmp("oom.idx");
    assert_int_equal(cx_idx_write(path, t), CX_OK);
    blob plain = blob_load(path), gz = gzip_of(plain);
    blob_save(in_tmp("oom.idx.gz"), gz);
    const char *paths[2] = {path, in_tmp("oom.idx.gz")};
    for (int p = 0; p < 2; p++) {
        bool done = false;
        for (long k = 0; !done && k < 100; k++) {
            alloc_log log;
            log_start(&log, k);
            cx_tensor *back = cx_idx_read(paths[p]);
            cx_status st = cx_last_status();
            cx_set_allocator(NULL);
            if (back) {
                done = true;
                assert_true(same_values(back, t));
                cx_tensor_free(back);
            } else {
                assert_int_equal(st, CX_ERR_OOM);
            }
        }
        assert_true(done);
    }
    free(plain.data);
    free(gz.data);
    cx_tensor_free(t);
}

static void idx_write_errors(void **state) {
    (void)state;
    cx_tensor *scalar = cx_scalar(1.0f), *t = cx_zeros(CX_SHAPE(2, 2));
    assert_int_equal(cx_idx_write(in_tmp("scalar.idx"), scalar), CX_ERR_SHAPE);
    assert_int_equal(cx_idx_write(in_tmp("no/such/dir.idx"), t), CX_ERR_IO);
    assert_non_null(strstr(cx_last_error(), "no/such/dir.idx"));
    assert_int_equal(cx_idx_write(NULL, t), CX_ERR_ARG);
    assert_int_equal(cx_idx_write(in_tmp("null.idx"), NULL), CX_ERR_ARG);
    /* A failed write leaves an existing file as it was. */
    const char *path = in_tmp("keep.idx");
    assert_int_equal(cx_idx_write(path, t), CX_OK);
    blob before = blob_load(path);
    cx_tensor *u = cx_transpose(t, 0, 1);
    alloc_log log;
    log_start(&log, 0);
    assert_int_equal(cx_idx_write(path, u), CX_ERR_OOM);
    cx_set_allocator(NULL);
    blob after = blob_load(path);
    assert_int_equal(after.len, before.len);
    assert_memory_equal(after.data, before.data, before.len);
    free(before.data);
    free(after.data);
    cx_tensor_free(u);
    cx_tensor_free(t);
    cx_tensor_free(scalar);
}

/* ---- datasets ---- */

/* Writes images u8 [n, 28, 28] (pixel 0 of image i = i, the rest i + 1) and labels i % classes
 * as IDX files, gzip-compressed when gz. */
static void write_digits(const char *images, const char *labels, uint32_t n, int classes,
                         bool gz) {
    size_t px = (size_t)n * 784;
    uint8_t *pix = malloc(px), *lab = malloc(n ? n : 1);
    for (uint32_t i = 0; i < n; i++) {
        memset(pix + (size_t)i * 784, (int)((i + 1) & 255), 784);
        pix[(size_t)i * 784] = (uint8_t)i;
        lab[i] = (uint8_t)(i % (uint32_t)classes);
    }
    blob b[2] = {idx_bytes(0x08, 3, (const uint32_t[]){n, 28, 28}, pix, px),
                 idx_bytes(0x08, 1, &n, lab, n)};
    const char *paths[2] = {images, labels};
    for (int k = 0; k < 2; k++) {
        blob out = gz ? gzip_of(b[k]) : b[k];
        blob_save(paths[k], out);
        if (gz) free(out.data);
        free(b[k].data);
    }
    free(pix);
    free(lab);
}

static void dataset_from_idx_files(void **state) {
    (void)state;
    write_digits(in_tmp("img.idx"), in_tmp("lab.idx"), 30, 7, false);
    cx_dataset *d = cx_dataset_from_idx(in_tmp("img.idx"), in_tmp("lab.idx"));
    if (!d) print_error("%s\n", cx_last_error());
    assert_non_null(d);
    assert_int_equal(cx_dataset_size(d), 30);
    assert_int_equal(cx_dataset_num_classes(d), 7);
    int64_t shape[CX_MAX_DIMS];
    assert_int_equal(cx_dataset_sample_shape(d, shape), 3);
    assert_true(shape[0] == 1 && shape[1] == 28 && shape[2] == 28);
    cx_tensor *x = cx_dataset_samples(d), *y = cx_dataset_labels(d);
    assert_int_equal(cx_tensor_dtype(x), CX_DTYPE_U8);
    assert_int_equal(cx_tensor_ndim(x), 4);
    assert_int_equal(cx_tensor_dtype(y), CX_DTYPE_I32);
    assert_int_equal(((int32_t *)cx_tensor_data(y))[29], 29 % 7);
    assert_int_equal(((uint8_t *)cx_tensor_data(x))[29 * 784], 29);
    cx_dataset_free(d);
    cx_dataset_free(NULL);

    /* Counts that disagree; labels out of range; labels of the wrong rank; no labels. */
    write_digits(in_tmp("img2.idx"), in_tmp("lab2.idx"), 31, 7, true);
    cx_clear_error();
    assert_null(cx_dataset_from_idx(in_tmp("img.idx"), in_tmp("lab2.idx")));
    assert_non_null(strstr(cx_last_error(), "31 labels"));
    int32_t big[30];
    for (int i = 0; i < 30; i++) big[i] = i == 4 ? 300 : 1;
    cx_tensor *bt = cx_from_data(CX_DTYPE_I32, CX_SHAPE(30), big);
    assert_int_equal(cx_idx_write(in_tmp("big.idx"), bt), CX_OK);
    assert_null(cx_dataset_from_idx(in_tmp("img.idx"), in_tmp("big.idx")));
    assert_non_null(strstr(cx_last_error(), "[0, 256)"));
    assert_null(cx_dataset_from_idx(in_tmp("lab.idx"), in_tmp("img.idx")));
    assert_int_equal(cx_last_status(), CX_ERR_FORMAT);
    d = cx_dataset_from_idx(in_tmp("img2.idx"), NULL);
    assert_non_null(d);
    assert_null(cx_dataset_labels(d));
    assert_int_equal(cx_dataset_num_classes(d), 0);
    cx_dataset_free(d);
    cx_tensor_free(bt);

    /* Read during a step (an arena active): cx_idx_read's tensor is the step's, the dataset's
     * tensors are its own and survive the reset. */
    cx_arena *arena = cx_arena_new(0);
    cx_arena_begin(arena);
    cx_tensor *step = cx_idx_read(in_tmp("lab.idx"));
    assert_non_null(step);
    assert_true(cx_arena_used(arena) >= 30);
    d = cx_dataset_from_idx(in_tmp("img.idx"), in_tmp("lab.idx"));
    cx_arena_end(arena);
    cx_arena_reset(arena);
    assert_false(cx_tensor_valid(step));
    assert_non_null(d);
    assert_true(cx_tensor_valid(cx_dataset_samples(d)));
    assert_int_equal(((int32_t *)cx_tensor_data(cx_dataset_labels(d)))[8], 8 % 7);
    cx_dataset_free(d);
    cx_arena_free(arena);
}

/* Every allocation of every data entry point failing in turn: an error, never a crash or a
 * leak (the sanitizer run checks the leaks), and success once enough allocations succeed. */
static void data_alloc_failures(void **state) {
    (void)state;
    write_digits(in_tmp("oom-img.gz"), in_tmp("oom-lab.gz"), 20, 4, true);
    cx_tensor *img = cx_rand(NULL, CX_SHAPE(3, 6, 5));
    assert_int_equal(cx_image_save_png(in_tmp("oom.png"), img), CX_OK);
    cx_dataset *base = cx_dataset_from_idx(in_tmp("oom-img.gz"), in_tmp("oom-lab.gz"));
    assert_non_null(base);
    for (int what = 0; what < 6; what++) {
        bool done = false;
        for (long k = 0; !done && k < 200; k++) {
            alloc_log log;
            log_start(&log, k);
            cx_dataset *d = NULL, *d2 = NULL;
            cx_loader *l = NULL;
            cx_tensor *t = NULL;
            switch (what) {
            case 0: d = cx_dataset_from_idx(in_tmp("oom-img.gz"), in_tmp("oom-lab.gz")); break;
            case 1: cx_dataset_split(base, 5, 3, &d, &d2); break;
            case 2: d = cx_dataset_head(base, 7); break;
            case 3:
                l = cx_loader_new(base, &(cx_loader_params){.batch_size = 6, .shuffle = true});
                break;
            case 4: t = cx_image_load(in_tmp("oom.png"), 1, 9, 4); break;
            case 5: done = cx_image_save_png(in_tmp("oom2.png"), img) == CX_OK; break;
            }
            cx_status st = cx_last_status();
            cx_set_allocator(NULL);
            done = done || d || l || t;
            if (!done) assert_int_equal(st, CX_ERR_OOM);
            cx_dataset_free(d);
            cx_dataset_free(d2);
            cx_loader_free(l);
            cx_tensor_free(t);
        }
        if (!done) print_error("data entry point %d never succeeded\n", what);
        assert_true(done);
    }
    cx_dataset_free(base);
    cx_tensor_free(img);
}

static void dataset_load_named_and_dirs(void **state) {
    (void)state;
    /* A directory in MNIST's file names, train plain and test gzip. */
    mkdir(in_tmp("set"), 0755);
    mkdir(in_tmp("set/mnist"), 0755);
    write_digits(in_tmp("set/mnist/train-images-idx3-ubyte"),
                 in_tmp("set/mnist/train-labels-idx1-ubyte"), 40, 10, false);
    write_digits(in_tmp("set/mnist/t10k-images-idx3-ubyte.gz"),
                 in_tmp("set/mnist/t10k-labels-idx1-ubyte.gz"), 12, 10, true);
    cx_dataset *train = cx_dataset_load(in_tmp("set/mnist"), CX_SPLIT_TRAIN);
    cx_dataset *test = cx_dataset_load(in_tmp("set/mnist"), CX_SPLIT_TEST);
    if (!train || !test) print_error("%s\n", cx_last_error());
    assert_non_null(train);
    assert_non_null(test);
    assert_int_equal(cx_dataset_size(train), 40);
    assert_int_equal(cx_dataset_size(test), 12);
    cx_dataset_free(train);
    cx_dataset_free(test);

    /* "mnist" under $CX_DATA_DIR; an empty data dir says how to get the files. */
    const char *old = getenv("CX_DATA_DIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("CX_DATA_DIR", in_tmp("set"), 1);
    train = cx_dataset_load("mnist", CX_SPLIT_TRAIN);
    assert_non_null(train);
    assert_int_equal(cx_dataset_size(train), 40);
    cx_dataset_free(train);
    setenv("CX_DATA_DIR", tmpdir, 1);
    assert_null(cx_dataset_load("mnist", CX_SPLIT_TEST));
    assert_int_equal(cx_last_status(), CX_ERR_IO);
    assert_non_null(strstr(cx_last_error(), "scripts/get-data"));
    if (saved) setenv("CX_DATA_DIR", saved, 1);
    else unsetenv("CX_DATA_DIR");
    free(saved);

    assert_null(cx_dataset_load("no-such-dataset", CX_SPLIT_TRAIN));
    assert_non_null(strstr(cx_last_error(), "neither a known dataset"));
    assert_null(cx_dataset_load(in_tmp("set"), CX_SPLIT_TRAIN)); /* a dir without the files */
    assert_non_null(strstr(cx_last_error(), "train-images-idx3-ubyte"));
    assert_null(cx_dataset_load(NULL, CX_SPLIT_TRAIN));
    assert_null(cx_dataset_load(in_tmp("set/mnist"), (cx_split)7));
}

/* f32 samples [n, 2] holding (i, -i) and labels i % classes. */
static cx_dataset *numbered(int64_t n, int classes) {
    float *x = malloc((size_t)(2 * n + 1) * sizeof *x);
    int32_t *y = malloc((size_t)(n + 1) * sizeof *y);
    for (int64_t i = 0; i < n; i++) {
        x[2 * i] = (float)i;
        x[2 * i + 1] = -(float)i;
        y[i] = (int32_t)(i % classes);
    }
    cx_tensor *xs = cx_from_data(CX_DTYPE_F32, CX_SHAPE(n, 2), x);
    cx_tensor *ys = cx_from_data(CX_DTYPE_I32, CX_SHAPE(n), y);
    cx_dataset *d = cx_dataset_from_tensors(xs, ys);
    cx_tensor_free(xs); /* the dataset holds its own references */
    cx_tensor_free(ys);
    free(x);
    free(y);
    assert_non_null(d);
    return d;
}

/* The ids (first value of each sample) of d, checked against its labels. */
static void ids_of(cx_dataset *d, int64_t *ids, int classes) {
    const float *x = cx_tensor_f32(cx_dataset_samples(d));
    const int32_t *y = cx_tensor_data(cx_dataset_labels(d));
    for (int64_t i = 0; i < cx_dataset_size(d); i++) {
        ids[i] = (int64_t)x[2 * i];
        assert_true(x[2 * i + 1] == -x[2 * i]);
        assert_int_equal(y[i], ids[i] % classes);
    }
}

static void dataset_from_tensors_checks(void **state) {
    (void)state;
    cx_dataset *d = numbered(10, 3);
    assert_int_equal(cx_dataset_size(d), 10);
    assert_int_equal(cx_dataset_num_classes(d), 3);
    int64_t ids[10];
    ids_of(d, ids, 3);
    cx_dataset_free(d);

    cx_tensor *x = cx_zeros(CX_SHAPE(4, 3)), *xt = cx_transpose(x, 0, 1);
    cx_tensor *bad_dtype = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(4, 3));
    cx_tensor *y = cx_from_data(CX_DTYPE_I32, CX_SHAPE(4), (int32_t[]){0, 1, -1, 2});
    cx_tensor *y3 = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(3));
    assert_null(cx_dataset_from_tensors(bad_dtype, NULL));
    assert_int_equal(cx_last_status(), CX_ERR_DTYPE);
    assert_null(cx_dataset_from_tensors(x, y3));
    assert_int_equal(cx_last_status(), CX_ERR_SHAPE);
    assert_null(cx_dataset_from_tensors(x, y));
    assert_non_null(strstr(cx_last_error(), "label 2 is -1"));
    assert_null(cx_dataset_from_tensors(NULL, NULL));
    /* A strided sample tensor is copied: the dataset sees its logical rows. */
    d = cx_dataset_from_tensors(xt, NULL);
    assert_non_null(d);
    assert_true(cx_tensor_is_contiguous(cx_dataset_samples(d)));
    assert_int_equal(cx_dataset_size(d), 3);
    cx_dataset_free(d);
    /* Arena tensors die at the step's reset: refused. */
    cx_arena *arena = cx_arena_new(0);
    cx_arena_begin(arena);
    cx_tensor *ax = cx_zeros(CX_SHAPE(2, 2));
    assert_null(cx_dataset_from_tensors(ax, NULL));
    assert_non_null(strstr(cx_last_error(), "arena"));
    cx_arena_end(arena);
    cx_arena_free(arena);
    cx_tensor_free(y3);
    cx_tensor_free(y);
    cx_tensor_free(bad_dtype);
    cx_tensor_free(xt);
    cx_tensor_free(x);
}

static int by_value(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void dataset_split_and_head(void **state) {
    (void)state;
    enum { N = 50, VAL = 12 };
    cx_dataset *d = numbered(N, 10), *a, *b, *a2, *b2, *c, *c2;
    assert_int_equal(cx_dataset_split(d, VAL, 7, &a, &b), CX_OK);
    assert_int_equal(cx_dataset_size(a), N - VAL);
    assert_int_equal(cx_dataset_size(b), VAL);
    assert_int_equal(cx_dataset_num_classes(b), 10);
    /* Together the halves hold every sample once; the first half is shuffled. */
    int64_t ids[N], again[N], other[N];
    ids_of(a, ids, 10);
    ids_of(b, ids + (N - VAL), 10);
    bool shuffled = false;
    for (int i = 0; i < N - VAL; i++) shuffled |= ids[i] != i;
    assert_true(shuffled);
    qsort(ids, N, sizeof *ids, by_value);
    for (int i = 0; i < N; i++) assert_int_equal(ids[i], i);
    /* The same seed gives the same split; another seed another one. */
    assert_int_equal(cx_dataset_split(d, VAL, 7, &a2, &b2), CX_OK);
    assert_int_equal(cx_dataset_split(d, VAL, 8, &c, &c2), CX_OK);
    ids_of(a, ids, 10);
    ids_of(a2, again, 10);
    ids_of(c, other, 10);
    assert_memory_equal(ids, again, sizeof(int64_t) * (N - VAL));
    assert_memory_not_equal(ids, other, sizeof(int64_t) * (N - VAL));
    cx_dataset *parts[6] = {a, b, a2, b2, c, c2};
    for (int i = 0; i < 6; i++) cx_dataset_free(parts[i]);

    assert_int_equal(cx_dataset_split(d, N + 1, 7, &a, &b), CX_ERR_ARG);
    assert_null(a);
    assert_int_equal(cx_dataset_split(d, -1, 7, &a, &b), CX_ERR_ARG);
    assert_int_equal(cx_dataset_split(d, 0, 7, &a, &b), CX_OK);
    assert_int_equal(cx_dataset_size(b), 0);
    cx_dataset_free(a);
    cx_dataset_free(b);

    cx_dataset *h = cx_dataset_head(d, 5);
    assert_int_equal(cx_dataset_size(h), 5);
    ids_of(h, ids, 10);
    for (int i = 0; i < 5; i++) assert_int_equal(ids[i], i);
    assert_int_equal(cx_dataset_num_classes(h), 10); /* kept from d, though 5..9 are absent */
    cx_dataset_free(h);
    h = cx_dataset_head(d, 1000);
    assert_int_equal(cx_dataset_size(h), N);
    cx_dataset_free(h);
    assert_null(cx_dataset_head(d, -1));
    assert_null(cx_dataset_head(NULL, 1));
    cx_dataset_free(d);
}

/* ---- loaders ---- */

/* The ids of one epoch's batches in order; checks batch shapes and labels. Returns the count. */
static int64_t epoch_ids(cx_loader *l, int epoch, int64_t *ids, int64_t batch, int classes) {
    cx_loader_start_epoch(l, epoch);
    cx_tensor *x, *y;
    int64_t n = 0, batches = 0;
    while (cx_loader_next(l, &x, &y)) {
        int64_t b = cx_tensor_dim(x, 0);
        assert_true(b == batch || batches == cx_loader_num_batches(l) - 1);
        assert_int_equal(cx_tensor_dim(y, 0), b);
        const float *xv = cx_tensor_f32(x);
        const int32_t *yv = cx_tensor_data(y);
        for (int64_t i = 0; i < b; i++) {
            ids[n] = (int64_t)xv[2 * i];
            assert_true(xv[2 * i + 1] == -xv[2 * i]);
            assert_int_equal(yv[i], ids[n] % classes);
            n++;
        }
        batches++;
    }
    assert_null(x);
    assert_null(y);
    assert_int_equal(batches, cx_loader_num_batches(l));
    return n;
}

static void loader_epochs(void **state) {
    (void)state;
    enum { N = 103, B = 10 };
    cx_dataset *d = numbered(N, 4);
    cx_loader_params p = {.batch_size = B, .shuffle = true, .seed = 42};
    cx_loader *l = cx_loader_new(d, &p), *l2 = cx_loader_new(d, &p);
    assert_non_null(l);
    assert_int_equal(cx_loader_num_batches(l), 11);
    int64_t e0[N], e1[N], again[N], sorted[N];
    assert_int_equal(epoch_ids(l, 0, e0, B, 4), N);
    assert_int_equal(epoch_ids(l, 1, e1, B, 4), N);
    /* Every sample exactly once per epoch. */
    memcpy(sorted, e0, sizeof e0);
    qsort(sorted, N, sizeof *sorted, by_value);
    for (int i = 0; i < N; i++) assert_int_equal(sorted[i], i);
    memcpy(sorted, e1, sizeof e1);
    qsort(sorted, N, sizeof *sorted, by_value);
    for (int i = 0; i < N; i++) assert_int_equal(sorted[i], i);
    /* Epoch 1 differs from epoch 0; a fresh loader resumed at epoch 1 sees epoch 1's order. */
    assert_memory_not_equal(e0, e1, sizeof e0);
    assert_int_equal(epoch_ids(l2, 1, again, B, 4), N);
    assert_memory_equal(e1, again, sizeof e1);
    assert_int_equal(epoch_ids(l, 0, again, B, 4), N);
    assert_memory_equal(e0, again, sizeof e0);
    cx_loader_free(l2);
    /* Another seed, another order; no shuffle, the dataset's order. */
    p.seed = 43;
    l2 = cx_loader_new(d, &p);
    epoch_ids(l2, 0, again, B, 4);
    assert_memory_not_equal(e0, again, sizeof e0);
    cx_loader_free(l2);
    p.shuffle = false;
    l2 = cx_loader_new(d, &p);
    epoch_ids(l2, 3, again, B, 4);
    for (int i = 0; i < N; i++) assert_int_equal(again[i], i);
    cx_loader_free(l2);
    cx_loader_free(l);
    cx_loader_free(NULL);
    cx_dataset_free(d);
}

static void loader_partial_and_drop_last(void **state) {
    (void)state;
    cx_dataset *d = numbered(25, 5);
    int64_t ids[25];
    struct {
        int64_t batch;
        bool drop_last;
        int64_t batches, seen, last;
    } cases[] = {{10, false, 3, 25, 5}, {10, true, 2, 20, 10}, {25, false, 1, 25, 25},
                 {40, false, 1, 25, 25}, {40, true, 0, 0, 0},  {1, true, 25, 25, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cx_loader_params p = {.batch_size = cases[i].batch, .drop_last = cases[i].drop_last,
                              .shuffle = true, .seed = 1};
        cx_loader *l = cx_loader_new(d, &p);
        assert_non_null(l);
        assert_int_equal(cx_loader_num_batches(l), cases[i].batches);
        assert_int_equal(epoch_ids(l, 0, ids, cases[i].batch, 5), cases[i].seen);
        /* The last batch's tensors have its own size. */
        cx_loader_start_epoch(l, 2);
        cx_tensor *x = NULL, *y = NULL, *lx = NULL;
        while (cx_loader_next(l, &x, &y)) lx = x;
        if (cases[i].batches) assert_int_equal(cx_tensor_dim(lx, 0), cases[i].last);
        assert_false(cx_loader_next(l, &x, &y)); /* stays at the end until the next epoch */
        cx_loader_free(l);
    }
    cx_loader_params bad = {.batch_size = 0};
    assert_null(cx_loader_new(d, &bad));
    assert_int_equal(cx_last_status(), CX_ERR_ARG);
    bad = (cx_loader_params){.batch_size = 4, .std = NAN};
    assert_null(cx_loader_new(d, &bad));
    assert_null(cx_loader_new(NULL, &bad));
    assert_null(cx_loader_new(d, NULL));
    cx_dataset_free(d);
}

static void loader_normalisation(void **state) {
    (void)state;
    uint8_t px[2][3] = {{0, 128, 255}, {1, 2, 3}};
    cx_tensor *u = cx_from_data(CX_DTYPE_U8, CX_SHAPE(2, 1, 3), px);
    float fv[6] = {-2.0f, 0.5f, 10.0f, 1.0f, 3.0f, 4.0f};
    cx_tensor *f = cx_from_data(CX_DTYPE_F32, CX_SHAPE(2, 3), fv);
    cx_dataset *du = cx_dataset_from_tensors(u, NULL), *df = cx_dataset_from_tensors(f, NULL);
    struct {
        cx_dataset *d;
        float scale, mean, std;
        double eff_scale, eff_mean, eff_std; /* what the formula uses */
    } cases[] = {
        {du, 0, 0, 0, 1.0 / 255, 0, 1},
        {du, 0, 0.1307f, 0.3081f, 1.0 / 255, 0.1307f, 0.3081f},
        {du, 1, 0.5f, 2, 1, 0.5f, 2},
        {df, 0, 0, 0, 1, 0, 1},
        {df, 2, 1, 4, 2, 1, 4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cx_loader_params p = {.batch_size = 2, .scale = cases[c].scale, .mean = cases[c].mean,
                              .std = cases[c].std};
        cx_loader *l = cx_loader_new(cases[c].d, &p);
        cx_tensor *x, *y;
        assert_true(cx_loader_next(l, &x, &y));
        assert_null(y);
        assert_int_equal(cx_tensor_dtype(x), CX_DTYPE_F32);
        assert_int_equal(cx_tensor_ndim(x), cases[c].d == du ? 3 : 2);
        float want[6];
        for (int i = 0; i < 6; i++) {
            double v = cases[c].d == du ? px[i / 3][i % 3] : fv[i];
            want[i] = (float)((v * cases[c].eff_scale - cases[c].eff_mean) / cases[c].eff_std);
        }
        cx_test_assert_close("normalised batch", cx_tensor_f32(x), want, 6, 1e-6f);
        assert_false(cx_loader_next(l, &x, &y));
        cx_loader_free(l);
    }
    cx_dataset_free(du);
    cx_dataset_free(df);
    cx_tensor_free(u);
    cx_tensor_free(f);
}

static void loader_allocates_nothing_per_batch(void **state) {
    (void)state;
    enum { N = 1000, B = 128 };
    uint8_t *px = malloc((size_t)N * 784);
    for (size_t i = 0; i < (size_t)N * 784; i++) px[i] = (uint8_t)(i * 7);
    int32_t lab[N];
    for (int i = 0; i < N; i++) lab[i] = i % 10;
    cx_tensor *x = cx_from_data(CX_DTYPE_U8, CX_SHAPE(N, 1, 28, 28), px);
    cx_tensor *y = cx_from_data(CX_DTYPE_I32, CX_SHAPE(N), lab);
    cx_dataset *d = cx_dataset_from_tensors(x, y);
    cx_loader *l = cx_loader_new(d, &(cx_loader_params){.batch_size = B, .shuffle = true,
                                                         .seed = 5, .mean = 0.1307f,
                                                         .std = 0.3081f});
    assert_non_null(l);
    alloc_log log;
    log_start(&log, -1);
    int64_t batches = 0, tail = 0;
    for (int epoch = 0; epoch < 3; epoch++) {
        cx_loader_start_epoch(l, epoch);
        cx_tensor *bx, *by;
        while (cx_loader_next(l, &bx, &by)) {
            batches++;
            tail = cx_tensor_dim(bx, 0);
        }
    }
    cx_set_allocator(NULL);
    print_message("loader: %lld batches in 3 epochs, last of %lld, %ld allocations\n",
                  (long long)batches, (long long)tail, log.count);
    assert_int_equal(log.count, 0);
    assert_int_equal(batches, 3 * 8);
    assert_int_equal(tail, N % B);
    cx_loader_free(l);
    cx_dataset_free(d);
    cx_tensor_free(x);
    cx_tensor_free(y);
    free(px);
}

/* The real digits, when scripts/get-data has been run (it is not needed for the suite). */
static void mnist_when_present(void **state) {
    (void)state;
    const char *root = getenv("CX_DATA_DIR");
    char probe[512];
    snprintf(probe, sizeof probe, "%s/mnist/train-images-idx3-ubyte", root ? root : "data");
    if (access(probe, R_OK) != 0) {
        print_message("mnist: %s is absent (run scripts/get-data); skipped\n", probe);
        skip();
    }
    cx_dataset *sets[2] = {cx_dataset_load("mnist", CX_SPLIT_TRAIN),
                           cx_dataset_load("mnist", CX_SPLIT_TEST)};
    const int64_t sizes[2] = {8000, 2000};
    for (int s = 0; s < 2; s++) {
        if (!sets[s]) print_error("%s\n", cx_last_error());
        assert_non_null(sets[s]);
        assert_int_equal(cx_dataset_size(sets[s]), sizes[s]);
        assert_int_equal(cx_dataset_num_classes(sets[s]), 10);
        int64_t shape[CX_MAX_DIMS];
        assert_int_equal(cx_dataset_sample_shape(sets[s], shape), 3);
        assert_true(shape[0] == 1 && shape[1] == 28 && shape[2] == 28);
        int count[10] = {0};
        const int32_t *y = cx_tensor_data(cx_dataset_labels(sets[s]));
        for (int64_t i = 0; i < sizes[s]; i++) count[y[i]]++;
        for (int c = 0; c < 10; c++) assert_true(count[c] > sizes[s] / 20); /* every digit */
        cx_dataset_free(sets[s]);
    }
}

/* ---- images ---- */

static void image_round_trip(void **state) {
    (void)state;
    enum { H = 5, W = 7 };
    float rgb[3 * H * W];
    for (int i = 0; i < 3 * H * W; i++) rgb[i] = (float)((i * 29) % 256) / 255.0f;
    cx_tensor *img = cx_from_data(CX_DTYPE_F32, CX_SHAPE(3, H, W), rgb);
    const char *path = in_tmp("rgb.png");
    assert_int_equal(cx_image_save_png(path, img), CX_OK);
    cx_tensor *back = cx_image_load(path, 3, 0, 0), *as_stored = cx_image_load(path, 0, 0, 0);
    if (!back) print_error("%s\n", cx_last_error());
    assert_non_null(back);
    assert_true(same_values(back, img)); /* k/255 survives 8 bits exactly */
    assert_true(same_values(as_stored, img));

    /* Grey: stb's luma, (77 R + 150 G + 29 B) >> 8 on the 8-bit values. */
    cx_tensor *grey = cx_image_load(path, 1, 0, 0);
    assert_non_null(grey);
    assert_int_equal(cx_tensor_dim(grey, 0), 1);
    const float *g = cx_tensor_f32(grey);
    for (int p = 0; p < H * W; p++) {
        int r = (int)lrintf(rgb[p] * 255), gg = (int)lrintf(rgb[H * W + p] * 255);
        int b = (int)lrintf(rgb[2 * H * W + p] * 255);
        assert_int_equal((int)lrintf(g[p] * 255), (r * 77 + gg * 150 + b * 29) >> 8);
    }
    /* A grey image (strided: a view of one channel) round-trips through a 1-channel PNG. */
    cx_tensor *chan = cx_slice(img, 0, 1, 2, 1);
    assert_int_equal(cx_image_save_png(in_tmp("grey.png"), chan), CX_OK);
    cx_tensor *gback = cx_image_load(in_tmp("grey.png"), 0, 0, 0);
    assert_non_null(gback);
    assert_true(same_values(gback, chan));
    cx_tensor *list[] = {gback, chan, grey, as_stored, back, img};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) cx_tensor_free(list[i]);
}

static void image_resize(void **state) {
    (void)state;
    /* A horizontal ramp enlarged: values stay in range, the ramp stays monotone, and a
     * constant channel stays constant. */
    enum { H = 4, W = 6 };
    float v[3 * H * W];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                v[(c * H + y) * W + x] = c == 1 ? 0.6f : (float)(x * 51) / 255.0f;
    cx_tensor *img = cx_from_data(CX_DTYPE_F32, CX_SHAPE(3, H, W), v);
    const char *path = in_tmp("ramp.png");
    assert_int_equal(cx_image_save_png(path, img), CX_OK);
    cx_tensor *big = cx_image_load(path, 3, 9, 13);
    if (!big) print_error("%s\n", cx_last_error());
    assert_non_null(big);
    assert_int_equal(cx_tensor_dim(big, 0), 3);
    assert_int_equal(cx_tensor_dim(big, 1), 9);
    assert_int_equal(cx_tensor_dim(big, 2), 13);
    const float *b = cx_tensor_f32(big);
    float konst = (float)lrintf(0.6f * 255) / 255.0f;
    for (int y = 0; y < 9; y++)
        for (int x = 0; x < 13; x++) {
            float r = b[y * 13 + x];
            assert_true(r >= 0.0f && r <= 1.0f);
            if (x) assert_true(r >= b[y * 13 + x - 1] - 1e-6f);
            assert_float_equal(b[(9 + y) * 13 + x], konst, 1e-5);
        }
    assert_true(b[12] > 0.9f && b[0] < 0.05f);
    /* Shrinking, and one side kept as stored. */
    cx_tensor *small = cx_image_load(path, 1, 2, 0);
    assert_non_null(small);
    assert_int_equal(cx_tensor_dim(small, 1), 2);
    assert_int_equal(cx_tensor_dim(small, 2), W);
    cx_tensor_free(small);
    cx_tensor_free(big);
    cx_tensor_free(img);
}

/* Shrinking 9 rows to 7 made stb_image_resize abort (found by fuzzing); Cortex's own filter
 * keeps a constant picture constant and a ramp monotone at every size pair. */
static void image_resize_sizes(void **state) {
    (void)state;
    float v[9 * 5];
    for (int i = 0; i < 9 * 5; i++) v[i] = (float)(i / 5) / 8.0f; /* rows 0, 1/8, ..., 1 */
    cx_tensor *img = cx_from_data(CX_DTYPE_F32, CX_SHAPE(1, 9, 5), v);
    const char *path = in_tmp("rows.png");
    assert_int_equal(cx_image_save_png(path, img), CX_OK);
    for (int64_t oh = 1; oh <= 20; oh++) {
        cx_tensor *t = cx_image_load(path, 1, oh, 3);
        if (!t) fail_msg("9x5 to %lldx3: %s", (long long)oh, cx_last_error());
        const float *d = cx_tensor_f32(t);
        for (int64_t y = 0; y < oh; y++) {
            for (int x = 1; x < 3; x++) assert_float_equal(d[y * 3 + x], d[y * 3], 1e-6);
            if (y) assert_true(d[y * 3] >= d[(y - 1) * 3] - 1e-6f);
        }
        cx_tensor_free(t);
    }
    cx_tensor_free(img);
}

static void image_bad_files(void **state) {
    (void)state;
    const char *path = in_tmp("bad.png");
    blob junk = {(unsigned char *)"this is not an image at all", 27};
    blob_save(path, junk);
    cx_clear_error();
    assert_null(cx_image_load(path, 3, 0, 0));
    assert_int_equal(cx_last_status(), CX_ERR_FORMAT);
    assert_non_null(strstr(cx_last_error(), path));
    print_message("bad image: %s\n", cx_last_error());

    /* A real PNG cut in half. */
    cx_tensor *img = cx_rand(NULL, CX_SHAPE(3, 16, 16));
    assert_int_equal(cx_image_save_png(in_tmp("whole.png"), img), CX_OK);
    blob whole = blob_load(in_tmp("whole.png"));
    blob_save(path, (blob){whole.data, whole.len / 2});
    assert_null(cx_image_load(path, 3, 0, 0));
    assert_int_equal(cx_last_status(), CX_ERR_FORMAT);
    assert_non_null(strstr(cx_last_error(), path));
    free(whole.data);

    /* Binary PNM whose pixels stop short (stb read past its buffer: found by fuzzing), in 8
     * and 16 bits; a whole one loads. */
    const char *pnm = in_tmp("short.pgm");
    blob_save(pnm, (blob){(unsigned char *)"P5\n5\n3535\n355U", 14});
    assert_null(cx_image_load(pnm, 0, 0, 0));
    assert_int_equal(cx_last_status(), CX_ERR_FORMAT);
    assert_non_null(strstr(cx_last_error(), "truncated"));
    blob_save(pnm, (blob){(unsigned char *)"P6 2 2 255\n0123456789", 21});
    assert_null(cx_image_load(pnm, 3, 0, 0));
    assert_non_null(strstr(cx_last_error(), "needs 12 bytes"));
    blob_save(pnm, (blob){(unsigned char *)"P6 # two by two\n2 2 255\n0123456789ab", 37});
    cx_tensor *rgb = cx_image_load(pnm, 3, 0, 0);
    if (!rgb) fail_msg("%s", cx_last_error());
    assert_float_equal(cx_tensor_f32(rgb)[0], '0' / 255.0, 1e-6);
    cx_tensor_free(rgb);

    assert_null(cx_image_load(in_tmp("missing.png"), 3, 0, 0));
    assert_int_equal(cx_last_status(), CX_ERR_IO);
    assert_non_null(strstr(cx_last_error(), "missing.png"));
    assert_null(cx_image_load(in_tmp("whole.png"), 2, 0, 0));
    assert_int_equal(cx_last_status(), CX_ERR_ARG);
    assert_null(cx_image_load(in_tmp("whole.png"), 3, -1, 4));
    assert_null(cx_image_load(NULL, 3, 0, 0));

    cx_tensor *two = cx_zeros(CX_SHAPE(2, 4, 4));
    cx_tensor *u8 = cx_tensor_new(CX_DTYPE_U8, CX_SHAPE(1, 4, 4));
    assert_int_equal(cx_image_save_png(in_tmp("two.png"), two), CX_ERR_SHAPE);
    assert_int_equal(cx_image_save_png(in_tmp("u8.png"), u8), CX_ERR_DTYPE);
    assert_int_equal(cx_image_save_png(in_tmp("no/dir/x.png"), img), CX_ERR_IO);
    assert_int_equal(cx_image_save_png(NULL, img), CX_ERR_ARG);
    cx_tensor_free(u8);
    cx_tensor_free(two);
    cx_tensor_free(img);
}

CX_TEST_GROUP(data) {
    if (cx_test_scratch_new("data")) snprintf(tmpdir, sizeof tmpdir, "%s", cx_test_scratch_dir());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idx_round_trip),
        cmocka_unit_test(idx_gzip_members_and_empty),
        cmocka_unit_test(idx_truncated),
        cmocka_unit_test(idx_bad_headers),
        cmocka_unit_test(idx_trailing_bytes),
        cmocka_unit_test(idx_absurd_sizes),
        cmocka_unit_test(idx_corrupt_gzip),
        cmocka_unit_test(idx_alloc_failures),
        cmocka_unit_test(idx_write_errors),
        cmocka_unit_test(dataset_from_idx_files),
        cmocka_unit_test(dataset_load_named_and_dirs),
        cmocka_unit_test(dataset_from_tensors_checks),
        cmocka_unit_test(dataset_split_and_head),
        cmocka_unit_test(data_alloc_failures),
        cmocka_unit_test(loader_epochs),
        cmocka_unit_test(loader_partial_and_drop_last),
        cmocka_unit_test(loader_normalisation),
        cmocka_unit_test(loader_allocates_nothing_per_batch),
        cmocka_unit_test(mnist_when_present),
        cmocka_unit_test(image_round_trip),
        cmocka_unit_test(image_resize),
        cmocka_unit_test(image_resize_sizes),
        cmocka_unit_test(image_bad_files),
    };
    CX_RUN_GROUP("data", tests);
    cx_test_scratch_remove();
}
