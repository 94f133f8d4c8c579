/*
 * main.c - runs every test group and prints the suite's closing line.
 * Usage: test_cortex [GROUP...]   (no argument: all groups)
 */
#include "test.h"

#include <ftw.h>
#include <jansson.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int total_run, total_failed;

int cx_test_run_group(const char *name, const struct CMUnitTest *tests, size_t count) {
    int failed = _cmocka_run_group_tests(name, tests, count, NULL, NULL);
    total_run += (int)count;
    total_failed += failed;
    return failed;
}

void cx_test_run_op_rows(const char *group, CMUnitTestFunction test) {
    size_t n = 0;
    for (const cx_op *const *op = cx__ops; *op; op++)
        for (const cx_op_test *r = (*op)->tests; r && r->name; r++) n++;
    struct CMUnitTest *tests = calloc(n ? n : 1, sizeof *tests);
    if (!tests) return;
    size_t k = 0;
    for (const cx_op *const *op = cx__ops; *op; op++)
        for (const cx_op_test *r = (*op)->tests; r && r->name; r++)
            tests[k++] = (struct CMUnitTest){.name = r->name, .test_func = test,
                                             .initial_state = (void *)r};
    cx_test_run_group(group, tests, n);
    free(tests);
}

void cx_test_assert_close(const char *what, const float *a, const float *b, int64_t n, float tol) {
    int bad = 0;
    double maxdiff = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double lim = tol * fmax(1.0, fabs((double)b[i]));
        if (d > maxdiff || isnan(d)) maxdiff = isnan(d) ? INFINITY : d;
        if (!(d <= lim)) {
            if (bad < 5)
                print_error("%s[%lld]: got %.8g, want %.8g (diff %.3g, limit %.3g)\n", what,
                            (long long)i, a[i], b[i], d, lim);
            bad++;
        }
    }
    if (bad) {
        print_error("%s: %d of %lld values differ, max diff %.3g\n", what, bad, (long long)n,
                    maxdiff);
        fail();
    }
}

cx_model *cx_test_model(const char *text) {
    cx_model *m = cx_model_from_config(text, "test.cfg", NULL);
    if (!m) fail_msg("%s", cx_last_error());
    return m;
}

void cx_test_compare(const char *what, cx_tensor *got, cx_tensor *want, float tol) {
    if (!got || !want) fail_msg("%s: missing (%s)", what, cx_last_error());
    int64_t n = cx_tensor_numel(want);
    assert_int_equal(cx_tensor_numel(got), n);
    float *a = malloc((size_t)n * 4 + 4), *b = malloc((size_t)n * 4 + 4);
    assert_int_equal(cx_tensor_copy_to(got, a, (size_t)n * 4), CX_OK);
    assert_int_equal(cx_tensor_copy_to(want, b, (size_t)n * 4), CX_OK);
    cx_test_assert_close(what, a, b, n, tol);
    free(a);
    free(b);
}

void cx_test_config_error(const char *text, const char *const *parts) {
    cx_clear_error();
    cx_model *m = cx_model_from_config(text, "bad.cfg", NULL);
    if (m) fail_msg("accepted: %s", text);
    const char *e = cx_last_error();
    for (int i = 0; parts[i]; i++)
        if (!strstr(e, parts[i])) fail_msg("message \"%s\" lacks \"%s\"", e, parts[i]);
}

void cx_test_assert_error(cx_tensor *t, cx_status status, const char *needle) {
    if (t || cx_last_status() != status || !strstr(cx_last_error(), needle))
        print_error("want %s with \"%s\", got %s: %s\n", cx_status_name(status), needle,
                    cx_status_name(cx_last_status()), cx_last_error());
    assert_null(t);
    assert_int_equal(cx_last_status(), status);
    assert_non_null(strstr(cx_last_error(), needle));
    cx_clear_error();
}

long cx_test_allocs;
long cx_test_fail_countdown = -1;
size_t cx_test_alloc_largest;

static void *counting_alloc(size_t bytes, void *ctx) {
    (void)ctx;
    cx_test_allocs++;
    if (bytes > cx_test_alloc_largest) cx_test_alloc_largest = bytes;
    if (cx_test_fail_countdown >= 0 && cx_test_fail_countdown-- == 0) return NULL;
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 1) == 0 ? p : NULL;
}

static void counting_free(void *p, void *ctx) {
    (void)ctx;
    free(p);
}

const cx_allocator cx_test_counting_allocator = {counting_alloc, counting_free, NULL};

void cx_test_steady_state(const char *config, int64_t batch, int classes, int steps, float lr) {
    cx_set_allocator(&cx_test_counting_allocator);
    cx_model *m = cx_model_from_config(config, "steady.cfg", NULL);
    if (!m) fail_msg("%s", cx_last_error());
    cx_model_set_training(m, true);
    int64_t shape[CX_MAX_DIMS] = {batch};
    int nd = cx_model_input_shape(m, shape + 1) + 1;
    cx_tensor *x = cx_randn(NULL, nd, shape), *labels = cx_tensor_new(CX_DTYPE_I32, 1, &batch);
    for (int64_t i = 0; i < batch; i++)
        ((int32_t *)cx_tensor_data(labels))[i] = (int32_t)(i % classes);
    cx_arena *arena = cx_arena_new(0);
    long warm = 0;
    float first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        if (step == 3) warm = cx_test_allocs;
        cx_arena_begin(arena);
        cx_tensor *loss = cx_model_loss(m, x, labels, NULL);
        if (!loss) fail_msg("step %d: %s", step, cx_last_error());
        assert_int_equal(cx_backward(loss), CX_OK);
        last = cx_tensor_item(loss);
        if (step == 0) first = last;
        float *p = cx_model_params_flat(m);
        const float *g = cx_model_grads_flat(m);
        for (int64_t i = 0; i < cx_model_num_params(m); i++)
            p[i] -= lr * g[i];
        cx_model_zero_grad(m);
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    long allocs = cx_test_allocs - warm;
    print_message("allocations in %d steady-state steps: %ld; loss %.4f -> %.4f\n", steps - 3,
                  allocs, first, last);
    assert_int_equal(allocs, 0);
    assert_true(last < first);
    cx_arena_free(arena);
    cx_tensor_free(x);
    cx_tensor_free(labels);
    cx_model_free(m);
    cx_set_allocator(NULL);
}

static char scratch[96];

const char *cx_test_scratch_new(const char *group) {
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/cx_%.16s_XXXXXX", tmp && strlen(tmp) < 48 ? tmp : "/tmp",
             group);
    if (!mkdtemp(scratch)) {
        fprintf(stderr, "%s: cannot create the scratch directory %s\n", group, scratch);
        return NULL;
    }
    return scratch;
}

const char *cx_test_scratch_dir(void) { return scratch; }

const char *cx_test_path(const char *name) {
    static char paths[8][400];
    static int next;
    next = (next + 1) % 8;
    snprintf(paths[next], sizeof paths[next], "%s/%s", scratch, name);
    return paths[next];
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void cx_test_scratch_remove(void) {
    if (scratch[0]) nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    scratch[0] = '\0';
}

int cx_test_input_ndim(const cx_test_input *spec) {
    int nd = 0;
    while (nd < CX_MAX_DIMS && spec->shape[nd] > 0) nd++;
    return nd;
}

cx_tensor *cx_test_make_input(const cx_test_input *spec, cx_rng *rng) {
    int nd = cx_test_input_ndim(spec);
    cx_tensor *t = cx_tensor_new(spec->dtype, nd, spec->shape);
    if (!t) return NULL;
    int64_t n = cx_tensor_numel(t);
    float lo = spec->lo, hi = spec->hi;
    if (spec->dtype == CX_DTYPE_I32) {
        int32_t *d = cx_tensor_data(t);
        int64_t span = (int64_t)hi - (int64_t)lo;
        for (int64_t i = 0; i < n; i++)
            d[i] = (int32_t)lo + (int32_t)(span > 0 ? cx_rng_u32(rng) % (uint32_t)span : 0);
    } else {
        if (lo == 0 && hi == 0) lo = -1, hi = 1;
        float *d = cx_tensor_f32(t);
        for (int64_t i = 0; i < n; i++) d[i] = lo + (hi - lo) * cx_rng_uniform(rng);
    }
    return t;
}

int main(int argc, char **argv) {
    cmocka_set_message_output(CM_OUTPUT_STDOUT);
#define CX_GROUP(g)                                                                            \
    {                                                                                          \
        bool want = argc < 2;                                                                  \
        for (int i = 1; i < argc; i++) want |= strcmp(argv[i], #g) == 0;                       \
        if (want) test_group_##g();                                                            \
    }
#include "test_groups.def"
#undef CX_GROUP
    printf("\n%d passed, %d failed\n", total_run - total_failed, total_failed);
    return total_failed ? 1 : 0;
}

/* ---- the command line and its data ---- */

const char *cx_test_cli(void) {
    static char path[512];
    const char *cli = getenv("CX_CLI");
    if (!cli || access(cli, X_OK) != 0) return NULL;
    if (cli[0] == '/' || !getcwd(path, 256)) return cli;
    strncat(path, "/", sizeof path - strlen(path) - 1);
    strncat(path, cli, sizeof path - strlen(path) - 1);
    return path;
}

double cx_test_json_number(const char *out, const char *key) {
    const char *last = NULL;
    for (const char *p = out; *p; p++)
        if ((p == out || p[-1] == '\n') && *p == '{') last = p;
    assert_non_null(last);
    json_error_t err;
    json_t *j = json_loadb(last, strcspn(last, "\n"), 0, &err);
    assert_non_null(j);
    const json_t *v = json_object_get(j, key);
    assert_true(json_is_number(v));
    double d = json_number_value(v);
    json_decref(j);
    return d;
}

int cx_test_run_cli(char *out, size_t size, const char *fmt, ...) {
    char args[1024], cmd[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && %s %s 2>&1", cx_test_scratch_dir(), cx_test_cli(), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void cx_test_cli_errors(const cx_test_cli_error *cases, size_t n) {
    static char out[1 << 15];
    for (size_t i = 0; i < n; i++) {
        int rc = cx_test_run_cli(out, sizeof out, "%s", cases[i].args);
        if (rc != cases[i].rc || !strstr(out, cases[i].message) ||
            !strstr(out, "cortex: error: "))
            fail_msg("cortex %s: exit %d, expected %d with '%s':\n%s", cases[i].args, rc,
                     cases[i].rc, cases[i].message, out);
    }
}

void cx_test_draw_bar(uint8_t *img, int c, cx_rng *rng) {
    for (int i = 0; i < 28 * 28; i++) {
        int row = i / 28;
        int v = (row >= 4 + 6 * c && row < 8 + 6 * c) ? 200 : 0;
        v += (int)(cx_rng_u32(rng) % 50);
        img[i] = (uint8_t)v;
    }
}

static void write_split(const char *images, const char *labels, int64_t n, uint64_t seed) {
    cx_rng *rng = cx_rng_new(seed);
    cx_tensor *x = cx_tensor_new(CX_DTYPE_U8, CX_SHAPE(n, 28, 28));
    cx_tensor *y = cx_tensor_new(CX_DTYPE_U8, CX_SHAPE(n));
    uint8_t *xd = cx_tensor_data(x), *yd = cx_tensor_data(y);
    for (int64_t i = 0; i < n; i++) {
        yd[i] = (uint8_t)(cx_rng_u32(rng) % 4);
        cx_test_draw_bar(xd + i * 784, yd[i], rng);
    }
    assert_int_equal(cx_idx_write(images, x), CX_OK);
    assert_int_equal(cx_idx_write(labels, y), CX_OK);
    cx_tensor_free(x);
    cx_tensor_free(y);
    cx_rng_free(rng);
}

void cx_test_write_bars(const char *dir, int64_t n_train, int64_t n_test) {
    char a[512], b[512];
    mkdir(cx_test_path(dir), 0700);
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte", cx_test_path(dir));
    snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte", cx_test_path(dir));
    write_split(a, b, n_train, 1);
    snprintf(a, sizeof a, "%s/t10k-images-idx3-ubyte", cx_test_path(dir));
    snprintf(b, sizeof b, "%s/t10k-labels-idx1-ubyte", cx_test_path(dir));
    write_split(a, b, n_test, 2);
}

void cx_test_copy_file(const char *from, const char *to, long cut) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_true(a && b);
    char buf[1 << 16];
    size_t n;
    long total = 0;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0 && (cut < 0 || total < cut)) {
        if (cut >= 0 && total + (long)n > cut) n = (size_t)(cut - total);
        fwrite(buf, 1, n, b);
        total += (long)n;
    }
    fclose(a);
    fclose(b);
}
