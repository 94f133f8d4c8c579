/*
 * test_limits.c - headers that claim absurd sizes are refused, with a message, before
 * anything of that size is allocated (the counting allocator records the largest request);
 * and the memory cap (cx_set_memory_limit / CX_MAX_MEMORY) turns an allocation past it into a
 * clean CX_ERR_OOM.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

/* No request above 1 MiB while the refused call ran. */
#define SMALL ((size_t)1 << 20)

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* An IDX header of type u8 with the given dims and `data` payload bytes after it. */
static void write_idx(const char *path, int rank, const uint32_t *dims, size_t data) {
    unsigned char buf[64] = {0, 0, 0x08, (unsigned char)rank};
    size_t n = 4;
    for (int i = 0; i < rank; i++, n += 4)
        for (int b = 0; b < 4; b++) buf[n + (size_t)b] = (unsigned char)(dims[i] >> (24 - 8 * b));
    n += data; /* zero bytes */
    write_bytes(path, buf, n);
}

/* Starts counting (the counting allocator, largest request reset). */
static void count_begin(void) {
    cx_test_alloc_largest = 0;
    cx_set_allocator(&cx_test_counting_allocator);
}

static void count_end_small(void) {
    cx_set_allocator(NULL);
    if (cx_test_alloc_largest > SMALL)
        fail_msg("a refused input allocated %zu bytes", cx_test_alloc_largest);
}

static void idx_absurd(void **state) {
    (void)state;
    const char *path = cx_test_path("absurd.idx");
    struct {
        int rank;
        uint32_t dims[4];
        const char *want;
    } cases[] = {
        {3, {2147483648u, 28, 28}, "over 2^31 - 1"},     /* 2^31 images */
        {3, {1u << 30, 28, 28}, "truncated"},             /* 2^30 images in a 16-byte file */
        {3, {0, 1u << 30, 1u << 30}, "more than 2^40"},  /* nothing in it, strides overflow */
        {4, {1u << 20, 1u << 20, 1u << 20, 1}, "more than 2^40"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_idx(path, cases[i].rank, cases[i].dims, 16);
        count_begin();
        cx_tensor *t = cx_idx_read(path);
        count_end_small();
        assert_null(t);
        assert_error(CX_ERR_FORMAT, "absurd.idx", cases[i].want);
    }
}

/* A safetensors file: the 8-byte length and the header JSON, then `data` zero bytes. */
static void write_safetensors(const char *path, const char *header, size_t data) {
    size_t hl = strlen(header);
    unsigned char *buf = calloc(1, 8 + hl + data);
    assert_non_null(buf);
    for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)hl >> (8 * b));
    memcpy(buf + 8, header, hl);
    write_bytes(path, buf, 8 + hl + data);
    free(buf);
}

static void safetensors_absurd(void **state) {
    (void)state;
    const char *path = cx_test_path("absurd.safetensors");
    struct {
        const char *header;
        const char *want;
    } cases[] = {
        /* offsets past the end of the file */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1099511627776]}}", "w"},
        /* 10^12 elements */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1000000,1000000],\"data_offsets\":[0,8]}}",
         "needs 4000000000000"},
        /* empty, but the strides would overflow */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[0,1099511627776,1099511627776],"
         "\"data_offsets\":[0,0]}}", "more than 2^40"},
        /* a shape that does not match its byte range */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "w"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_safetensors(path, cases[i].header, 8);
        count_begin();
        cx_safetensors *f = cx_safetensors_open(path);
        count_end_small();
        assert_null(f);
        assert_error(CX_ERR_FORMAT, "absurd.safetensors", cases[i].want);
    }
    /* a header length of 2^60 in a small file */
    unsigned char big[16] = {0, 0, 0, 0, 0, 0, 0, 0x10, '{', '}'};
    write_bytes(path, big, sizeof big);
    count_begin();
    assert_null(cx_safetensors_open(path));
    count_end_small();
    assert_int_equal(cx_last_status(), CX_ERR_FORMAT);
    cx_clear_error();
}

static void config_absurd(void **state) {
    (void)state;
    /* a million layers: over the 1 MiB a config may hold; 20,000: over the layer limit */
    static const size_t counts[] = {1000000, 20000};
    static const char *const wants[] = {"larger than 1 MiB", "10000"};
    const char layer[] = "[relu]\n";
    for (int k = 0; k < 2; k++) {
        size_t n = counts[k];
        char *text = malloc(32 + n * (sizeof layer - 1) + 1);
        assert_non_null(text);
        char *p = text + sprintf(text, "[model]\ninput = 4\n");
        for (size_t i = 0; i < n; i++, p += sizeof layer - 1) memcpy(p, layer, sizeof layer - 1);
        *p = '\0';
        count_begin();
        cx_model *m = cx_model_from_config(text, "million.cfg", NULL);
        count_end_small();
        assert_null(m);
        print_message("refused: %s\n", cx_last_error());
        assert_non_null(strstr(cx_last_error(), "million.cfg"));
        assert_non_null(strstr(cx_last_error(), wants[k]));
        cx_clear_error();
        free(text);
    }
    /* a layer of 10^12 parameters, and one of 2^31 units */
    static const char *const huge[] = {
        "[model]\ninput = 1000000\n[dense]\nunits = 1000000\n",
        "[model]\ninput = 1000000000,1000000000\n[flatten]\n",
    };
    for (int i = 0; i < 2; i++) {
        count_begin();
        cx_model *m = cx_model_from_config(huge[i], "huge.cfg", NULL);
        count_end_small();
        assert_null(m);
        print_message("refused: %s\n", cx_last_error());
        assert_non_null(strstr(cx_last_error(), "huge.cfg"));
        cx_clear_error();
    }
}

/* An empty shape whose other dims multiply past 2^40 would overflow its strides. */
static void tensor_shapes(void **state) {
    (void)state;
    cx_test_assert_error(cx_zeros(CX_SHAPE(0, (int64_t)1 << 30, (int64_t)1 << 30)), CX_ERR_OOM,
                         "more than 2^40 elements");
    cx_test_assert_error(cx_zeros(CX_SHAPE((int64_t)1 << 21, (int64_t)1 << 20)), CX_ERR_OOM,
                         "more than 2^40 elements");
    cx_tensor *empty = cx_zeros(CX_SHAPE(0, (int64_t)1 << 20, 1024));
    assert_non_null(empty);
    assert_int_equal(cx_tensor_numel(empty), 0);
    cx_tensor_free(empty);
}

static void memory_cap(void **state) {
    (void)state;
    size_t base = cx_memory_in_use();
    cx_set_memory_limit(base + ((size_t)4 << 20));
    cx_tensor *ok = cx_zeros(CX_SHAPE(1024, 512)); /* 2 MiB: fits */
    assert_non_null(ok);
    assert_true(cx_memory_in_use() >= base + ((size_t)2 << 20));
    cx_tensor *no = cx_zeros(CX_SHAPE(1024, 1024)); /* 4 MiB more: past the cap */
    assert_null(no);
    assert_error(CX_ERR_OOM, "memory limit", "CX_MAX_MEMORY");
    /* a model over the cap fails to build, cleanly */
    cx_model *m = cx_model_from_config("[model]\ninput = 1024\n[dense]\nunits = 2048\n",
                                       "cap.cfg", NULL);
    assert_null(m);
    assert_int_equal(cx_last_status(), CX_ERR_OOM);
    cx_clear_error();
    cx_tensor_free(ok); /* (the failed build may leave a small per-thread cache) */
    assert_true(cx_memory_in_use() < base + 4096);
    cx_set_memory_limit(0);
    assert_int_equal(cx_memory_limit(), 0);
    no = cx_zeros(CX_SHAPE(1024, 1024));
    assert_non_null(no);
    cx_tensor_free(no);

    size_t v = 0;
    assert_true(cx_parse_size("512M", &v) && v == (size_t)512 << 20);
    assert_true(cx_parse_size("2GiB", &v) && v == (size_t)2 << 30);
    assert_true(cx_parse_size("1048576", &v) && v == 1048576);
    assert_true(cx_parse_size("3kb", &v) && v == 3072);
    assert_false(cx_parse_size("", &v));
    assert_false(cx_parse_size("-1G", &v));
    assert_false(cx_parse_size("12X", &v));
    assert_false(cx_parse_size("99999999999T", &v));
}

/* The command line refuses a CX_MAX_MEMORY it cannot read, and reports the cap when hit. */
static void memory_cap_cli(void **state) {
    (void)state;
    const char *cli = getenv("CX_CLI");
    if (!cli) skip();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "CX_MAX_MEMORY=lots %s version >/dev/null 2>&1", cli);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    const char *cfg = cx_test_path("cap.cfg");
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fputs("[model]\ninput = 4096\n[dense]\nunits = 4096\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "CX_MAX_MEMORY=16M %s summary %s 2>&1 >/dev/null | "
             "grep -q 'memory limit'", cli, cfg);
    /* summary builds shapes only: it fits under the cap */
    assert_int_not_equal(WEXITSTATUS(system(cmd)), 0);
    snprintf(cmd, sizeof cmd, "CX_MAX_MEMORY=16M %s train %s --data /nonexistent 2>&1 "
             ">/dev/null | grep -q 'memory limit of 16777216 bytes'", cli, cfg);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
}

CX_TEST_GROUP(limits) {
    cx_test_scratch_new("limits");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idx_absurd),
        cmocka_unit_test(safetensors_absurd),
        cmocka_unit_test(config_absurd),
        cmocka_unit_test(tensor_shapes),
        cmocka_unit_test(memory_cap),
        cmocka_unit_test(memory_cap_cli),
    };
    CX_RUN_GROUP("limits", tests);
    cx_test_scratch_remove();
}
