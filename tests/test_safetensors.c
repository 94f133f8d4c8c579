/*
 * test_safetensors.c - the safetensors reader and writer: round trips of every dtype (strided
 * views, scalars, empty tensors, metadata), and damaged or hostile files, each of which must
 * give a clear error naming the file (and tensor) with no crash and no leak: bad lengths, bad
 * JSON, bad dtypes, shapes and offsets, a file cut at every byte, failed allocations, and
 * failed saves that must leave the previous file intact.
 */
#include "test.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64]; /* a fresh directory per run */

static const char *tpath(const char *name) {
    static char buf[4][336]; /* dir + "/" + any d_name */
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_raw(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (n) assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static unsigned char *read_raw(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(*n ? *n : 1);
    assert_int_equal(fread(buf, 1, *n, fp), *n);
    fclose(fp);
    return buf;
}

/* A file with header length len_field, then header, then data_bytes zero bytes. */
static const char *make_file(const char *name, uint64_t len_field, const char *header,
                             size_t data_bytes) {
    size_t hn = strlen(header), n = 8 + hn + data_bytes;
    unsigned char *buf = calloc(1, n);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(len_field >> (8 * i));
    memcpy(buf + 8, header, hn);
    const char *path = tpath(name);
    write_raw(path, buf, n);
    free(buf);
    return path;
}

static const char *make_header(const char *name, const char *header, size_t data_bytes) {
    return make_file(name, strlen(header), header, data_bytes);
}

/* Opening path must fail with status and a message holding each of the given words. */
static void expect_fail(const char *path, cx_status status, const char *word1,
                        const char *word2) {
    cx_clear_error();
    cx_safetensors *f = cx_safetensors_open(path);
    if (f || cx_last_status() != status || !strstr(cx_last_error(), path) ||
        (word1 && !strstr(cx_last_error(), word1)) || (word2 && !strstr(cx_last_error(), word2)))
        print_error("open %s: got %s \"%s\", want %s with '%s' and '%s'\n", path,
                    cx_status_name(cx_last_status()), cx_last_error(), cx_status_name(status),
                    word1 ? word1 : "", word2 ? word2 : "");
    assert_null(f);
    assert_int_equal(cx_last_status(), status);
    assert_non_null(strstr(cx_last_error(), path));
    if (word1) assert_non_null(strstr(cx_last_error(), word1));
    if (word2) assert_non_null(strstr(cx_last_error(), word2));
}

static bool same_tensor(cx_tensor *a, cx_tensor *b) {
    if (cx_tensor_dtype(a) != cx_tensor_dtype(b) || cx_tensor_ndim(a) != cx_tensor_ndim(b))
        return false;
    for (int i = 0; i < cx_tensor_ndim(a); i++)
        if (cx_tensor_dim(a, i) != cx_tensor_dim(b, i)) return false;
    size_t bytes = (size_t)cx_tensor_numel(a) * cx_dtype_size(cx_tensor_dtype(a));
    char *x = malloc(bytes + 1), *y = malloc(bytes + 1);
    assert_int_equal(cx_tensor_copy_to(a, x, bytes), CX_OK);
    assert_int_equal(cx_tensor_copy_to(b, y, bytes), CX_OK);
    bool same = memcmp(x, y, bytes) == 0;
    free(x);
    free(y);
    return same;
}

/* ---- round trips ---- */

#define N_SAVED 7

/* Tensors of every dtype and layout, with their names. */
static void make_tensors(cx_tensor **t, const char **names) {
    float f[12];
    int32_t iv[5] = {-7, 0, 1, 2147483647, -2147483647 - 1};
    uint8_t u[5] = {0, 1, 128, 254, 255};
    for (int i = 0; i < 12; i++) f[i] = (float)i * 0.25f - 1.0f;
    t[0] = cx_from_data(CX_DTYPE_F32, CX_SHAPE(3, 4), f);
    t[1] = cx_from_data(CX_DTYPE_I32, CX_SHAPE(5), iv);
    t[2] = cx_from_data(CX_DTYPE_U8, CX_SHAPE(5), u);
    t[3] = cx_scalar(3.5f);
    t[4] = cx_zeros(CX_SHAPE(0, 3));
    /* t[0] transposed, and every other element of t[0]'s second row starting at column 1 */
    t[5] = cx__tensor_view(t[0], 2, (const int64_t[]){4, 3}, (const int64_t[]){1, 4}, 0);
    t[6] = cx__tensor_view(t[0], 1, (const int64_t[]){2}, (const int64_t[]){2}, 5);
    static const char *const n[N_SAVED] = {"weight", "labels", "pixels", "scale", "empty",
                                           "layer.0.weight_t", "strided"};
    for (int i = 0; i < N_SAVED; i++) {
        assert_non_null(t[i]);
        names[i] = n[i];
    }
}

static void test_round_trip(void **state) {
    (void)state;
    cx_tensor *t[N_SAVED];
    const char *names[N_SAVED];
    make_tensors(t, names);
    assert_false(cx_tensor_is_contiguous(t[5]));
    const char *keys[] = {"format", "note"}, *values[] = {"pt", "caf\xc3\xa9 \"quoted\"\n"};
    const char *path = tpath("round.safetensors");
    assert_int_equal(cx_safetensors_save(path, N_SAVED, names, t, 2, keys, values), CX_OK);

    size_t n;
    unsigned char *raw = read_raw(path, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    assert_int_equal(hlen % 8, 0); /* padded as the reference writer pads */
    assert_int_equal(raw[8], '{');
    free(raw);

    cx_safetensors *f = cx_safetensors_open(path);
    if (!f) print_error("%s\n", cx_last_error());
    assert_non_null(f);
    assert_int_equal(cx_safetensors_count(f), N_SAVED);
    for (int i = 1; i < N_SAVED; i++)
        assert_true(strcmp(cx_safetensors_name(f, i - 1), cx_safetensors_name(f, i)) < 0);
    assert_null(cx_safetensors_name(f, N_SAVED));
    assert_null(cx_safetensors_name(f, -1));
    for (int i = 0; i < N_SAVED; i++) {
        assert_true(cx_safetensors_has(f, names[i]));
        cx_tensor *g = cx_safetensors_get(f, names[i]);
        assert_non_null(g);
        assert_true(cx_tensor_is_contiguous(g));
        if (!same_tensor(g, t[i])) print_error("tensor %s differs after the round trip\n",
                                               names[i]);
        assert_true(same_tensor(g, t[i]));
        cx_tensor_free(g);
    }
    assert_string_equal(cx_safetensors_metadata(f, "format"), "pt");
    assert_string_equal(cx_safetensors_metadata(f, "note"), values[1]);
    assert_null(cx_safetensors_metadata(f, "missing"));
    assert_false(cx_safetensors_has(f, "nope"));
    assert_false(cx_safetensors_has(f, "__metadata__"));
    assert_null(cx_safetensors_get(f, "nope"));
    assert_int_equal(cx_last_status(), CX_ERR_ARG);
    assert_non_null(strstr(cx_last_error(), "'nope'"));
    cx_safetensors_close(f);

    /* No metadata and no tensors are both fine; NULL handles are harmless. */
    assert_int_equal(cx_safetensors_save(path, 0, NULL, NULL, 0, NULL, NULL), CX_OK);
    f = cx_safetensors_open(path);
    assert_non_null(f);
    assert_int_equal(cx_safetensors_count(f), 0);
    assert_null(cx_safetensors_metadata(f, "format"));
    cx_safetensors_close(f);
    cx_safetensors_close(NULL);
    assert_int_equal(cx_safetensors_count(NULL), 0);
    assert_false(cx_safetensors_has(NULL, "x"));
    assert_null(cx_safetensors_get(NULL, "x"));
    assert_int_equal(cx_last_status(), CX_ERR_ARG);
    for (int i = N_SAVED - 1; i >= 0; i--) cx_tensor_free(t[i]);
    unlink(path);
}

/* A file written elsewhere: offsets not in name order, a gap, an unused tail, extra keys. */
static void test_foreign_layout(void **state) {
    (void)state;
    const char *h = "{\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[12,16],\"x\":1},"
                    "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}  ";
    unsigned char buf[256] = {0};
    size_t hn = strlen(h);
    buf[0] = (unsigned char)hn;
    memcpy(buf + 8, h, hn);
    int32_t b[2] = {5, -6};
    float a = 2.5f;
    memcpy(buf + 8 + hn, b, 8);
    memcpy(buf + 8 + hn + 12, &a, 4);
    const char *path = tpath("foreign.safetensors");
    write_raw(path, buf, 8 + hn + 20);
    cx_safetensors *f = cx_safetensors_open(path);
    if (!f) print_error("%s\n", cx_last_error());
    assert_non_null(f);
    assert_string_equal(cx_safetensors_name(f, 0), "a");
    cx_tensor *ta = cx_safetensors_get(f, "a"), *tb = cx_safetensors_get(f, "b");
    cx_tensor *tz = cx_safetensors_get(f, "z");
    assert_non_null(ta);
    assert_non_null(tb);
    assert_non_null(tz);
    assert_true(cx_tensor_item(ta) == 2.5f);
    assert_int_equal(((int32_t *)cx_tensor_data(tb))[1], -6);
    assert_int_equal(cx_tensor_numel(tz), 0);
    cx_tensor_free(ta);
    cx_tensor_free(tb);
    cx_tensor_free(tz);
    cx_safetensors_close(f);
    unlink(path);
}

/* ---- bad files ---- */

#define T_F32(name, shape, b, e)                                                               \
    "\"" name "\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void test_bad_files(void **state) {
    (void)state;
    expect_fail(tpath("missing.safetensors"), CX_ERR_IO, "No such file", NULL);
    assert_int_equal(mkdir(tpath("adir"), 0700), 0);
    expect_fail(tpath("adir"), CX_ERR_IO, "regular file", NULL);
    rmdir(tpath("adir"));

    write_raw(tpath("empty"), "", 0);
    expect_fail(tpath("empty"), CX_ERR_FORMAT, "too short", NULL);
    write_raw(tpath("short"), "\x10\0\0", 3);
    expect_fail(tpath("short"), CX_ERR_FORMAT, "too short", NULL);
    expect_fail(make_file("len2_60", (uint64_t)1 << 60, "{}", 0), CX_ERR_FORMAT, "100 MB", NULL);
    expect_fail(make_file("lenmax", UINT64_MAX, "{}", 0), CX_ERR_FORMAT, "100 MB", NULL);
    expect_fail(make_file("pastend", 40, "{\"a\": {\"dtype\": \"F32\"", 0), CX_ERR_FORMAT,
                "past the end", NULL);
    expect_fail(make_file("pastend1", 3, "{}", 0), CX_ERR_FORMAT, "past the end", NULL);
    expect_fail(make_file("len0", 0, "", 0), CX_ERR_FORMAT, "too short", NULL);

    expect_fail(make_header("badjson", "{\"a\": {\"dtype\": \"F32\",", 0), CX_ERR_FORMAT,
                "not valid JSON", NULL);
    expect_fail(make_header("garbage", "{} x", 0), CX_ERR_FORMAT, "not valid JSON", NULL);
    expect_fail(make_header("binary", "\xff\xfe\x00\x01", 0), CX_ERR_FORMAT, "JSON", NULL);
    expect_fail(make_header("array", "[1, 2, 3]", 0), CX_ERR_FORMAT, "not a JSON object", NULL);
    expect_fail(make_header("string", "\"abc\"", 0), CX_ERR_FORMAT, "JSON", NULL);
    expect_fail(make_header("dupkey", "{" T_F32("w", "[1]", 0, 4) "," T_F32("w", "[1]", 0, 4) "}",
                            4),
                CX_ERR_FORMAT, "JSON", NULL);
    expect_fail(make_header("entry", "{\"w\": 5}", 0), CX_ERR_FORMAT, "'w'", "not a JSON object");
    expect_fail(make_header("nodtype", "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4),
                CX_ERR_FORMAT, "'w'", "dtype");
    expect_fail(make_header("metaval", "{\"__metadata__\": {\"k\": 1}}", 0), CX_ERR_FORMAT,
                "'k'", "not a string");
    expect_fail(make_header("meta", "{\"__metadata__\": [\"k\"]}", 0), CX_ERR_FORMAT,
                "__metadata__", NULL);

    expect_fail(make_header("unknown", "{\"w\":{\"dtype\":\"Q7\",\"shape\":[1],"
                                       "\"data_offsets\":[0,4]}}", 4),
                CX_ERR_FORMAT, "'w'", "Q7");
    const char *unsupported[] = {"F16", "BF16", "F64", "I64", "BOOL"};
    for (int i = 0; i < 5; i++) {
        char h[128];
        snprintf(h, sizeof h, "{\"half\":{\"dtype\":\"%s\",\"shape\":[1],\"data_offsets\":"
                 "[0,8]}}", unsupported[i]);
        expect_fail(make_header("unsupported", h, 8), CX_ERR_UNSUPPORTED, "'half'",
                    unsupported[i]);
    }

    expect_fail(make_header("negshape", "{" T_F32("w", "[-1,2]", 0, 8) "}", 8), CX_ERR_FORMAT,
                "'w'", "non-negative");
    expect_fail(make_header("floatshape", "{" T_F32("w", "[2.5]", 0, 8) "}", 8), CX_ERR_FORMAT,
                "'w'", "non-negative");
    expect_fail(make_header("hugeshape", "{" T_F32("w", "[1000000,1000000]", 0, 16) "}", 16),
                CX_ERR_FORMAT, "'w'", "4000000000000");
    expect_fail(make_header("overflow", "{" T_F32("w", "[4294967296,4294967296,16]", 0, 16) "}",
                            16),
                CX_ERR_FORMAT, "'w'", "2^40");
    expect_fail(make_header("bigint", "{" T_F32("w", "[99999999999999999999999]", 0, 16) "}",
                            16),
                CX_ERR_FORMAT, "JSON", NULL);
    expect_fail(make_header("ninedims", "{" T_F32("w", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4),
                CX_ERR_FORMAT, "'w'", "9 dimensions");

    expect_fail(make_header("pastdata", "{" T_F32("w", "[250]", 0, 1000) "}", 16),
                CX_ERR_FORMAT, "'w'", "past the end");
    expect_fail(make_header("reversed", "{" T_F32("w", "[0]", 8, 4) "}", 16), CX_ERR_FORMAT,
                "'w'", "begin <= end");
    expect_fail(make_header("negoff", "{" T_F32("w", "[1]", -4, 0) "}", 16), CX_ERR_FORMAT,
                "'w'", "data_offsets");
    expect_fail(make_header("oneoff", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
                                      "\"data_offsets\":[0]}}", 4),
                CX_ERR_FORMAT, "'w'", "data_offsets");
    expect_fail(make_header("mismatch", "{" T_F32("w", "[2,2]", 0, 12) "}", 16), CX_ERR_FORMAT,
                "'w'", "[2,2]");
    expect_fail(make_header("overlap", "{" T_F32("a", "[4]", 0, 16) "," T_F32("b", "[4]", 8, 24)
                                       "}", 24),
                CX_ERR_FORMAT, "'a'", "'b'");
    expect_fail(make_header("overlap2", "{" T_F32("a", "[2]", 0, 8) "," T_F32("b", "[2]", 0, 8)
                                        "}", 8),
                CX_ERR_FORMAT, "overlap", NULL);
    /* Valid but for one missing byte of data. */
    expect_fail(make_header("truncdata", "{" T_F32("a", "[2]", 0, 8) "," T_F32("b", "[4]", 8, 24)
                                         "}", 23),
                CX_ERR_FORMAT, "'b'", "past the end");

    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') unlink(tpath(e->d_name));
    closedir(d);
}

/* Every proper prefix of a valid file must be refused cleanly. */
static void test_truncated_everywhere(void **state) {
    (void)state;
    cx_tensor *t[N_SAVED];
    const char *names[N_SAVED];
    make_tensors(t, names);
    const char *key = "k", *value = "v";
    const char *path = tpath("full.safetensors"), *cut = tpath("cut.safetensors");
    assert_int_equal(cx_safetensors_save(path, N_SAVED, names, t, 1, &key, &value), CX_OK);
    size_t n;
    unsigned char *raw = read_raw(path, &n);
    int failed_ok = 0;
    for (size_t len = 0; len < n; len++) {
        write_raw(cut, raw, len);
        cx_clear_error();
        cx_safetensors *f = cx_safetensors_open(cut);
        if (f) print_error("a file cut to %zu of %zu bytes was accepted\n", len, n);
        assert_null(f);
        assert_int_equal(cx_last_status(), CX_ERR_FORMAT);
        failed_ok++;
    }
    assert_int_equal(failed_ok, (int)n);
    write_raw(cut, raw, n);
    cx_safetensors *f = cx_safetensors_open(cut);
    assert_non_null(f);
    cx_safetensors_close(f);
    free(raw);
    unlink(cut);
    unlink(path);
    for (int i = N_SAVED - 1; i >= 0; i--) cx_tensor_free(t[i]);
}

/* ---- allocation failures and failed saves ---- */

typedef struct {
    int left; /* allocations that succeed before every later one fails; < 0: never fail */
} fail_ctx;

static void *failing_alloc(size_t bytes, void *ctx) {
    fail_ctx *c = ctx;
    if (c->left == 0) return NULL;
    if (c->left > 0) c->left--;
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 1) == 0 ? p : NULL;
}

static void plain_free(void *ptr, void *ctx) {
    (void)ctx;
    free(ptr);
}

static void test_alloc_failures(void **state) {
    (void)state;
    cx_tensor *t[N_SAVED];
    const char *names[N_SAVED];
    make_tensors(t, names);
    const char *path = tpath("oom.safetensors");
    assert_int_equal(cx_safetensors_save(path, N_SAVED, names, t, 0, NULL, NULL), CX_OK);
    fail_ctx ctx;
    cx_allocator hook = {failing_alloc, plain_free, &ctx};
    bool done = false;
    for (int k = 0; !done && k < 100; k++) {
        ctx.left = k;
        cx_set_allocator(&hook);
        cx_safetensors *f = cx_safetensors_open(path);
        cx_tensor *g = f ? cx_safetensors_get(f, "weight") : NULL;
        cx_status st = cx_last_status();
        cx_safetensors_close(f);
        cx_set_allocator(NULL);
        if (g) {
            done = true;
            assert_true(same_tensor(g, t[0]));
            cx_tensor_free(g);
        } else {
            assert_int_equal(st, CX_ERR_OOM);
        }
    }
    assert_true(done);

    /* A save that fails at any allocation leaves the old file whole and no temporary. */
    size_t n_before;
    unsigned char *before = read_raw(path, &n_before);
    cx_tensor *swapped[N_SAVED];
    for (int i = 0; i < N_SAVED; i++) swapped[i] = t[N_SAVED - 1 - i];
    done = false;
    for (int k = 0; !done && k < 100; k++) {
        ctx.left = k;
        cx_set_allocator(&hook);
        cx_status st = cx_safetensors_save(path, N_SAVED, names, swapped, 0, NULL, NULL);
        cx_set_allocator(NULL);
        if (st == CX_OK) {
            done = true;
            break;
        }
        assert_int_equal(st, CX_ERR_OOM);
        size_t n_now;
        unsigned char *now = read_raw(path, &n_now);
        assert_true(n_now == n_before && memcmp(now, before, n_now) == 0);
        free(now);
    }
    assert_true(done);
    free(before);
    unlink(path);
    DIR *d = opendir(dir);
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) fail_msg("temporary file %s left behind", e->d_name);
    closedir(d);
    for (int i = N_SAVED - 1; i >= 0; i--) cx_tensor_free(t[i]);
}

static void test_bad_saves(void **state) {
    (void)state;
    cx_tensor *t[N_SAVED];
    const char *names[N_SAVED];
    make_tensors(t, names);
    const char *path = tpath("keep.safetensors");
    assert_int_equal(cx_safetensors_save(path, 2, names, t, 0, NULL, NULL), CX_OK);
    size_t n_before;
    unsigned char *before = read_raw(path, &n_before);

    const char *dup[2] = {"x", "x"}, *reserved[1] = {"__metadata__"}, *bad_utf8[1] = {"\xff"};
    const char *keys[2] = {"k", "k"}, *vals[2] = {"1", "2"};
    cx_tensor *freed = cx_zeros(CX_SHAPE(2));
    cx_tensor_free(freed);
#define EXPECT_ARG(word, call)                                                                 \
    do {                                                                                       \
        cx_status st_ = (call);                                                                \
        if (st_ != CX_ERR_ARG || !strstr(cx_last_error(), word))                               \
            print_error("%s: got %s \"%s\"\n", #call, cx_status_name(st_), cx_last_error());     \
        assert_int_equal(st_, CX_ERR_ARG);                                                     \
        assert_non_null(strstr(cx_last_error(), word));                                        \
    } while (0)
    EXPECT_ARG("twice", cx_safetensors_save(path, 2, dup, t, 0, NULL, NULL));
    EXPECT_ARG("reserved", cx_safetensors_save(path, 1, reserved, t, 0, NULL, NULL));
    EXPECT_ARG("UTF-8", cx_safetensors_save(path, 1, bad_utf8, t, 0, NULL, NULL));
    EXPECT_ARG("twice", cx_safetensors_save(path, 1, names, t, 2, keys, vals));
    EXPECT_ARG("NULL", cx_safetensors_save(path, 1, names, NULL, 0, NULL, NULL));
    EXPECT_ARG("not a live", cx_safetensors_save(path, 1, names, &freed, 0, NULL, NULL));
    EXPECT_ARG("negative", cx_safetensors_save(path, -1, names, t, 0, NULL, NULL));
#undef EXPECT_ARG
    size_t n_now;
    unsigned char *now = read_raw(path, &n_now);
    assert_true(n_now == n_before && memcmp(now, before, n_now) == 0);
    free(now);
    free(before);

    assert_int_equal(cx_safetensors_save(tpath("no/such/dir.safetensors"), 1, names, t, 0, NULL,
                                         NULL),
                     CX_ERR_IO);
    assert_non_null(strstr(cx_last_error(), "no/such/dir.safetensors"));
    assert_int_equal(cx_safetensors_save(NULL, 0, NULL, NULL, 0, NULL, NULL), CX_ERR_ARG);
    unlink(path);
    for (int i = N_SAVED - 1; i >= 0; i--) cx_tensor_free(t[i]);
}

CX_TEST_GROUP(safetensors) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/cx_st_XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    /* Without the directory every test fails on its first file, which says why. */
    if (!mkdtemp(dir)) fprintf(stderr, "safetensors: cannot create %s\n", dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_foreign_layout),
        cmocka_unit_test(test_bad_files),        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_alloc_failures),   cmocka_unit_test(test_bad_saves),
    };
    CX_RUN_GROUP("safetensors", tests);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') unlink(tpath(e->d_name));
    if (d) closedir(d);
    rmdir(dir);
}
