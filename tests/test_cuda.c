/*
 * test_cuda.c - the device API and the CUDA backend.
 *
 * Every build: device names (cx_device_parse, cx_device_str), the CPU's description, and the
 * answers where CUDA cannot be used (no backend in this build, or no GPU / no driver on this
 * machine): a reason, errors naming it, no crash.
 *
 * A `make CUDA=1` build adds the caching allocator's rules, run over the host heap (no GPU
 * needed), and, on a machine with a GPU, every kernel of src/backend/cuda against the CPU op
 * it mirrors on random inputs (fp32, relative tolerance 1e-4), at sizes that are not
 * multiples of the block size, and the allocator's reuse on the device. Without a GPU those
 * tests print why (cx_cuda_available's reason) and skip.
 */
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#ifdef CX_HAVE_CUDA
#include "backend/cuda/cuda_impl.h"
#endif

#ifndef CX_HAVE_CUDA
static const char no_backend[] = "this build has no CUDA backend (build with make CUDA=1)";
#endif

/* Skips the calling test, saying why, unless a GPU can be used. */
static void require_gpu(void) {
    char why[256];
    if (!cx_cuda_available(why, sizeof why)) {
        print_message("cuda: %s; skipped\n", why);
        skip();
    }
}

/* ---- every build ---- */

static void parse_ok(const char *text, cx_device_type type, int index) {
    cx_device d = {CX_DEVICE_CPU, -1};
    if (cx_device_parse(text, &d) != CX_OK) fail_msg("'%s' refused: %s", text, cx_last_error());
    assert_int_equal(d.type, type);
    assert_int_equal(d.index, index);
    char buf[CX_DEVICE_STR_MAX];
    cx_device_str(d, buf, sizeof buf);
    cx_device back;
    assert_int_equal(cx_device_parse(buf, &back), CX_OK); /* str and parse agree */
    assert_int_equal(back.type, type);
    assert_int_equal(back.index, index);
}

static void parse_bad(const char *text, const char *needle) {
    cx_device d = {CX_DEVICE_CUDA, 7};
    assert_int_equal(cx_device_parse(text, &d), CX_ERR_ARG);
    if (!strstr(cx_last_error(), needle))
        fail_msg("'%s': message '%s' lacks '%s'", text ? text : "(null)", cx_last_error(), needle);
    assert_int_equal(d.type, CX_DEVICE_CUDA); /* untouched */
    assert_int_equal(d.index, 7);
    cx_clear_error();
}

static void test_parse(void **state) {
    (void)state;
    parse_ok("cpu", CX_DEVICE_CPU, 0);
    parse_ok("cuda", CX_DEVICE_CUDA, 0);
    parse_ok("cuda:0", CX_DEVICE_CUDA, 0);
    parse_ok("cuda:3", CX_DEVICE_CUDA, 3);
    parse_ok("cuda:2147483647", CX_DEVICE_CUDA, 2147483647);
    assert_int_equal(cx_device_parse("cuda:1", NULL), CX_OK); /* validation only */
    parse_bad("gpu", "unknown device 'gpu': use cpu, cuda or cuda:N");
    parse_bad("CPU", "unknown device 'CPU'");
    parse_bad("", "unknown device ''");
    parse_bad(" cpu", "unknown device ' cpu'");
    parse_bad("cuda0", "unknown device 'cuda0'");
    parse_bad("cuda:", "device 'cuda:': the index after 'cuda:' must be a number");
    parse_bad("cuda:-1", "device 'cuda:-1': the index");
    parse_bad("cuda:+1", "device 'cuda:+1': the index");
    parse_bad("cuda:1x", "device 'cuda:1x': the index");
    parse_bad("cuda: 1", "device 'cuda: 1': the index");
    parse_bad("cuda:2147483648", "device 'cuda:2147483648': index out of range");
    parse_bad("cuda:99999999999999999999", "index out of range");
    parse_bad(NULL, "NULL name");
    char buf[CX_DEVICE_STR_MAX];
    assert_string_equal(cx_device_str((cx_device){CX_DEVICE_CPU, 0}, buf, sizeof buf), "cpu");
    assert_string_equal(cx_device_str((cx_device){CX_DEVICE_CUDA, 12}, buf, sizeof buf), "cuda:12");
}

static void test_cpu_describe(void **state) {
    (void)state;
    cx_device_info info;
    assert_int_equal(cx_device_describe((cx_device){CX_DEVICE_CPU, 0}, &info), CX_OK);
    assert_true(info.name[0] != '\0');
    assert_true(info.cores >= 1);
    assert_true(info.memory_bytes > 0);
    assert_true(info.free_bytes <= info.memory_bytes);
    assert_string_equal(info.blas, cx_blas_name());
    assert_int_equal(cx_device_describe((cx_device){CX_DEVICE_CPU, 0}, NULL), CX_ERR_ARG);
    cx_clear_error();
    assert_int_equal(cx_device_describe((cx_device){(cx_device_type)9, 0}, &info), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "unknown device type 9");
}

/* Whatever the machine: a reason when CUDA is unavailable, and CUDA requests refused with it. */
static void test_availability(void **state) {
    (void)state;
    char why[256] = "unset", tiny[8];
    bool ok = cx_cuda_available(why, sizeof why);
    assert_int_equal(cx_cuda_available(NULL, 0), ok); /* NULL why is fine, answer kept */
    cx_cuda_available(tiny, sizeof tiny);             /* truncated, terminated */
    assert_true(strlen(tiny) < sizeof tiny);
#ifdef CX_HAVE_CUDA
    print_message("cuda: this build has the CUDA backend; %s\n", ok ? "a GPU is present" : why);
#else
    assert_false(ok);
    assert_string_equal(why, no_backend);
#endif
    cx_device_info info;
    if (ok) {
        assert_true(cx_cuda_device_count() >= 1);
        assert_string_equal(why, "");
        int n = cx_cuda_device_count();
        assert_int_equal(cx_device_describe((cx_device){CX_DEVICE_CUDA, n}, &info), CX_ERR_DEVICE);
        assert_error(CX_ERR_DEVICE, "no such device");
        return;
    }
    assert_int_equal(cx_cuda_device_count(), 0);
    assert_true(why[0] != '\0');
    cx_status st = cx_device_describe((cx_device){CX_DEVICE_CUDA, 0}, &info);
#ifdef CX_HAVE_CUDA
    assert_int_equal(st, CX_ERR_DEVICE);
    assert_error(CX_ERR_DEVICE, "cuda:0: CUDA is unavailable", why);
#else
    assert_int_equal(st, CX_ERR_UNSUPPORTED);
    assert_error(CX_ERR_UNSUPPORTED, "cuda:0", no_backend);
#endif
    cx_cuda_memory_stats s;
    assert_int_equal(cx_cuda_memory_stats_get(&s), CX_OK);
    assert_true(s.bytes_in_use == 0 && s.bytes_cached == 0 && s.device_mallocs == 0);
    assert_int_equal(cx_cuda_empty_cache(), CX_OK);
    assert_int_equal(cx_cuda_memory_stats_get(NULL), CX_ERR_ARG);
    cx_clear_error();
}

/* `cortex devices`: the CPU line, a line per GPU or the reason there is none, and --json. */
static void test_devices_command(void **state) {
    (void)state;
    if (!cx_test_cli()) {
        print_message("cuda: CX_CLI is not set to the cortex binary; skipped\n");
        skip();
    }
    static char out[8192];
    char why[256];
    bool ok = cx_cuda_available(why, sizeof why);
    assert_int_equal(cx_test_run_cli(out, sizeof out, "devices"), 0);
    assert_true(strncmp(out, "cpu ", 4) == 0);
    assert_non_null(strstr(out, cx_blas_name()));
    if (ok)
        assert_non_null(strstr(out, "cuda:0 "));
    else
        assert_non_null(strstr(out, why));
    assert_int_equal(cx_test_run_cli(out, sizeof out, "devices --json"), 0);
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    if (!j) fail_msg("devices --json: not JSON (%s): %s", err.text, out);
    json_t *devices = json_object_get(j, "devices"), *cuda = json_object_get(j, "cuda");
    assert_true(json_is_array(devices) && json_is_object(cuda));
    assert_int_equal(json_array_size(devices), 1 + (size_t)cx_cuda_device_count());
    assert_string_equal(json_string_value(json_object_get(json_array_get(devices, 0), "device")),
                        "cpu");
    assert_int_equal(json_is_true(json_object_get(cuda, "available")), ok);
    if (!ok) assert_string_equal(json_string_value(json_object_get(cuda, "reason")), why);
    json_decref(j);
    assert_int_equal(cx_test_run_cli(out, sizeof out, "devices extra"), 2);
    assert_non_null(strstr(out, "cortex: error: devices: unexpected argument 'extra'"));
}

static int setup_scratch(void **state) {
    (void)state;
    return cx_test_scratch_new("cuda") ? 0 : -1;
}

static int teardown_scratch(void **state) {
    (void)state;
    cx_test_scratch_remove();
    return 0;
}

/* The backend's tests: compiled with the backend, stubs that skip without it. */
#define GPU_TESTS(X)                                                                               \
    X(without_gpu) X(size_classes) X(pool_reuse) X(pool_pressure) X(binary) X(activations)         \
    X(scale_fill_copy) X(sums) X(softmax) X(cross_entropy) X(optimizers) X(sgemm)                  \
    X(device_allocator)

#ifdef CX_HAVE_CUDA

/* ---- the backend where there is no GPU: errors, not crashes ---- */

static void test_without_gpu(void **state) {
    (void)state;
    char why[256];
    if (cx_cuda_available(why, sizeof why)) {
        print_message("cuda: a GPU is present; the no-GPU paths are not reachable; skipped\n");
        skip();
    }
    void *p = (void *)0x1;
    assert_int_equal(cx__cuda_malloc(&p, 1024), CX_ERR_DEVICE);
    assert_null(p);
    assert_error(CX_ERR_DEVICE, "device allocator: CUDA is unavailable", why);
    assert_int_equal(cx__cuda_set_device(0), CX_ERR_DEVICE);
    assert_error(CX_ERR_DEVICE, "cuda:0: CUDA is unavailable");
    /* kernels fail at their first CUDA call, before touching the (bogus) pointers */
    float *bogus = (float *)0x10;
    assert_int_not_equal(cx__cuda_fill(300, 1.0f, bogus), CX_OK);
    assert_true(strlen(cx_last_error()) > 0);
    cx_clear_error();
    assert_int_not_equal(
        cx__cuda_sgemm(false, false, 2, 2, 2, 1.0f, bogus, 2, bogus, 2, 0.0f, bogus, 2), CX_OK);
    cx_clear_error();
    assert_int_not_equal(cx__cuda_copy_to_host(bogus, bogus, 4), CX_OK);
    cx_clear_error();
    char name[64];
    assert_non_null(strstr(cx__cuda_blas_name(name, sizeof name), "cuBLAS"));
}

/* ---- the caching allocator over the host heap (no GPU needed) ---- */

/* The host heap as a pool's raw allocator, counting calls and bytes held; budget > 0 makes
 * it run out of memory beyond that many bytes. Each block's size sits in front of it. */
typedef struct {
    long allocs, frees;
    size_t live, budget;
} host_raw;

enum { HEADER = 64 };

static cx_status host_alloc(void **ptr, size_t bytes, void *ctx) {
    host_raw *h = ctx;
    if (h->budget && h->live + bytes > h->budget)
        return cx__error(CX_ERR_OOM, "host_alloc: budget of %zu bytes exceeded", h->budget);
    char *p = malloc(bytes + HEADER);
    if (!p) return cx__error(CX_ERR_OOM, "host_alloc: malloc failed");
    memcpy(p, &bytes, sizeof bytes);
    *ptr = p + HEADER;
    h->allocs++;
    h->live += bytes;
    return CX_OK;
}

static cx_status host_free(void *ptr, void *ctx) {
    host_raw *h = ctx;
    char *p = (char *)ptr - HEADER;
    size_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    h->frees++;
    h->live -= bytes;
    free(p);
    return CX_OK;
}

static void test_size_classes(void **state) {
    (void)state;
    assert_int_equal(cx__pool_class_size(0), 0);
    assert_int_equal(cx__pool_class_size(1), 512);
    assert_int_equal(cx__pool_class_size(512), 512);
    assert_int_equal(cx__pool_class_size(513), 640);
    assert_int_equal(cx__pool_class_size(1024), 1024);
    assert_int_equal(cx__pool_class_size(1025), 1280);
    assert_int_equal(cx__pool_class_size(3 << 20), 3 << 20);
    assert_int_equal(cx__pool_class_size(((size_t)1 << 40) + 1), 0);
    /* every class holds its request and wastes at most a quarter */
    for (size_t b = 1; b < ((size_t)1 << 34); b = b * 3 / 2 + 1) {
        size_t c = cx__pool_class_size(b);
        assert_true(c >= b);
        assert_true(c <= 512 || (double)c <= 1.25 * (double)b + 1);
        assert_int_equal(cx__pool_class_size(c), c); /* a class size is its own class */
    }
}

/* A repeated pattern of requests (a training step's) is served from the cache from the
 * second round on; stats add up; bad frees are refused. */
static void test_pool_reuse(void **state) {
    (void)state;
    host_raw h = {0};
    cx__pool *pool = cx__pool_new(&(cx__pool_raw){host_alloc, host_free, &h});
    assert_non_null(pool);
    static const size_t sizes[] = {4, 1000, 4096, 4097, 123457, 1 << 20, 7, 1000, 300000};
    enum { N = sizeof sizes / sizeof sizes[0] };
    void *p[N];
    long after_first = 0;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i++) {
            assert_int_equal(cx__pool_alloc(pool, sizes[i], &p[i]), CX_OK);
            memset(p[i], 0xab, sizes[i]); /* the whole request is usable */
        }
        cx_cuda_memory_stats s = {0};
        cx__pool_stats(pool, &s);
        size_t requested = 0;
        for (int i = 0; i < N; i++)
            requested += sizes[i];
        assert_int_equal(s.bytes_requested, requested);
        assert_true(s.bytes_in_use >= requested);
        /* freed in another order than allocated, as a backward pass does */
        for (int i = N - 1; i >= 0; i -= 2)
            assert_int_equal(cx__pool_release(pool, p[i]), CX_OK);
        for (int i = N - 2; i >= 0; i -= 2)
            assert_int_equal(cx__pool_release(pool, p[i]), CX_OK);
        if (round == 0) after_first = h.allocs;
    }
    assert_int_equal(h.allocs, N); /* one raw allocation per block, all in round 0 */
    assert_int_equal(h.allocs, after_first);
    cx_cuda_memory_stats s = {0};
    cx__pool_stats(pool, &s);
    assert_int_equal(s.bytes_in_use, 0);
    assert_int_equal(s.bytes_requested, 0);
    assert_true(s.bytes_cached > 0);
    assert_int_equal(s.device_mallocs, N);
    assert_int_equal(s.allocs, 5 * N);
    assert_int_equal(s.reuses, 4 * N);
    print_message("pool: %lld allocations in 5 rounds, %lld raw, %llu bytes cached\n",
                  (long long)s.allocs, (long long)s.device_mallocs,
                  (unsigned long long)s.bytes_cached);

    /* bad requests and frees */
    void *q = (void *)0x1;
    assert_int_equal(cx__pool_alloc(pool, 0, &q), CX_ERR_ARG);
    assert_null(q);
    assert_error(CX_ERR_ARG, "device allocator: 0 bytes requested");
    assert_int_equal(cx__pool_release(pool, NULL), CX_OK);
    int local;
    assert_int_equal(cx__pool_release(pool, &local), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "was not allocated here");
    assert_int_equal(cx__pool_alloc(pool, 100, &q), CX_OK);
    assert_int_equal(cx__pool_release(pool, q), CX_OK);
    assert_int_equal(cx__pool_release(pool, q), CX_ERR_ARG); /* twice */
    assert_error(CX_ERR_ARG, "already freed");

    /* emptying gives every cached block back */
    assert_int_equal(cx__pool_empty(pool), CX_OK);
    s = (cx_cuda_memory_stats){0};
    cx__pool_stats(pool, &s);
    assert_int_equal(s.bytes_cached, 0);
    assert_int_equal(h.frees, h.allocs);
    cx__pool_free(pool);
}

/* Many blocks in use at once (the table grows) and a raw allocator that runs out: the pool
 * empties its cache and retries, then reports a clear error; everything is freed at the end. */
static void test_pool_pressure(void **state) {
    (void)state;
    host_raw h = {0};
    cx__pool *pool = cx__pool_new(&(cx__pool_raw){host_alloc, host_free, &h});
    assert_non_null(pool);
    enum { MANY = 3000 };
    void **p = calloc(MANY, sizeof *p);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(cx__pool_alloc(pool, 64 + i, &p[i]), CX_OK);
    for (int i = 0; i < MANY; i += 3)
        assert_int_equal(cx__pool_release(pool, p[i]), CX_OK);
    for (int i = 0; i < MANY; i += 3)
        assert_int_equal(cx__pool_alloc(pool, 64 + i, &p[i]), CX_OK);
    assert_int_equal(h.allocs, MANY); /* the same sizes again: all reused */
    cx__pool_free(pool);              /* frees the blocks still in use too */
    assert_int_equal(h.frees, h.allocs);
    free(p);

    /* A budget: a block of another class is cached; a request that fits only once it is
     * given back succeeds after the pool empties its cache. */
    host_raw b = {.budget = 3 << 20};
    pool = cx__pool_new(&(cx__pool_raw){host_alloc, host_free, &b});
    void *x, *y;
    assert_int_equal(cx__pool_alloc(pool, 2 << 20, &x), CX_OK);
    assert_int_equal(cx__pool_release(pool, x), CX_OK); /* 2 MiB cached */
    assert_int_equal(b.live, 2 << 20);
    assert_int_equal(cx__pool_alloc(pool, (3 << 20) / 2, &y), CX_OK); /* needs the cache back */
    assert_int_equal(b.frees, 1);
    cx_cuda_memory_stats s = {0};
    cx__pool_stats(pool, &s);
    assert_int_equal(s.bytes_cached, 0);
    assert_int_equal(s.device_frees, 1);
    /* and one that cannot fit at all: CX_ERR_OOM naming the size and the raw reason */
    assert_int_equal(cx__pool_alloc(pool, 4 << 20, &x), CX_ERR_OOM);
    assert_null(x);
    assert_error(CX_ERR_OOM, "device allocator: cannot get 4194304 bytes", "budget");
    assert_int_equal(cx__pool_release(pool, y), CX_OK);
    cx__pool_free(pool);
}

/* ---- kernels against the CPU (need a GPU) ---- */

static const float TOL = 1e-4f;

/* Sizes that are not multiples of the block size (256), and one over several blocks. */
static const int64_t SIZES[] = {1, 5, 255, 257, 1000, 70001};
enum { N_SIZES = sizeof SIZES / sizeof SIZES[0] };

static float *dev_alloc(int64_t n) {
    void *p = NULL;
    if (cx__cuda_malloc(&p, (size_t)(n ? n : 1) * sizeof(float)) != CX_OK)
        fail_msg("cx__cuda_malloc: %s", cx_last_error());
    return p;
}

static float *dev_from(const float *h, int64_t n) {
    float *d = dev_alloc(n);
    if (n && cx__cuda_copy_to_device(d, h, (size_t)n * sizeof *h) != CX_OK)
        fail_msg("copy to device: %s", cx_last_error());
    return d;
}

static float *host_from(const float *d, int64_t n) {
    float *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    if (n && cx__cuda_copy_to_host(h, d, (size_t)n * sizeof *h) != CX_OK)
        fail_msg("copy to host: %s", cx_last_error());
    return h;
}

#define CUDA_OK(call)                                                                              \
    do {                                                                                           \
        if ((call) != CX_OK) fail_msg("%s: %s", #call, cx_last_error());                           \
    } while (0)

/* Asserts device array d (n) matches host values want, printing the largest difference. */
static void compare_dev(const char *what, const float *d, const float *want, int64_t n) {
    float *got = host_from(d, n);
    double maxdiff = 0;
    for (int64_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - want[i]);
        if (diff > maxdiff) maxdiff = diff;
    }
    if (n > 1000) print_message("%s: n %lld, max diff %.3g\n", what, (long long)n, maxdiff);
    cx_test_assert_close(what, got, want, n, TOL);
    free(got);
}

static cx_tensor *random_tensor(cx_rng *rng, int ndim, const int64_t *shape, float lo, float hi,
                                bool grad) {
    cx_tensor *t = cx_tensor_new(CX_DTYPE_F32, ndim, shape);
    assert_non_null(t);
    float *d = cx_tensor_f32(t);
    for (int64_t i = 0; i < cx_tensor_numel(t); i++)
        d[i] = lo + (hi - lo) * cx_rng_uniform(rng);
    if (grad) assert_int_equal(cx_tensor_set_requires_grad(t, true), CX_OK);
    return t;
}

static void start_gpu(void) {
    require_gpu();
    CUDA_OK(cx__cuda_set_device(0));
}

static void test_binary(void **state) {
    (void)state;
    start_gpu();
    cx_rng *rng = cx_rng_new(11);
    static const cx__cuda_binop ops[] = {CX_CUDA_ADD, CX_CUDA_SUB, CX_CUDA_MUL, CX_CUDA_DIV};
    static const char *names[] = {"add", "sub", "mul", "div"};
    cx_tensor *(*cpu[])(cx_tensor *, cx_tensor *) = {cx_add, cx_sub, cx_mul, cx_div};
    for (int o = 0; o < 4; o++) {
        for (int s = 0; s < N_SIZES; s++) {
            int64_t n = SIZES[s];
            cx_tensor *a = random_tensor(rng, 1, &n, -2, 2, true);
            cx_tensor *b = random_tensor(rng, 1, &n, 0.5f, 2.5f, true); /* away from 0 for div */
            cx_tensor *g = random_tensor(rng, 1, &n, -1, 1, false);
            cx_tensor *y = cpu[o](a, b);
            assert_non_null(y);
            assert_int_equal(cx_backward_grad(y, g), CX_OK);
            float *da = dev_from(cx_tensor_f32(a), n), *db = dev_from(cx_tensor_f32(b), n);
            float *dg = dev_from(cx_tensor_f32(g), n), *dy = dev_alloc(n);
            /* the gradients start non-zero: the backward must add into them */
            float *ga = dev_from(cx_tensor_f32(g), n), *gb = dev_alloc(n);
            CUDA_OK(cx__cuda_fill(n, 0.0f, gb));
            CUDA_OK(cx__cuda_binary(ops[o], n, da, db, dy));
            CUDA_OK(cx__cuda_binary_backward(ops[o], n, da, db, dg, ga, gb));
            char what[64];
            snprintf(what, sizeof what, "%s forward", names[o]);
            compare_dev(what, dy, cx_tensor_f32(y), n);
            float *want_ga = malloc((size_t)n * sizeof *want_ga);
            for (int64_t i = 0; i < n; i++)
                want_ga[i] = cx_tensor_f32(g)[i] + cx_tensor_f32(cx_tensor_grad(a))[i];
            snprintf(what, sizeof what, "%s grad a", names[o]);
            compare_dev(what, ga, want_ga, n);
            snprintf(what, sizeof what, "%s grad b", names[o]);
            compare_dev(what, gb, cx_tensor_f32(cx_tensor_grad(b)), n);
            free(want_ga);
            cx__cuda_free(da), cx__cuda_free(db), cx__cuda_free(dg), cx__cuda_free(dy);
            cx__cuda_free(ga), cx__cuda_free(gb);
            cx_tensor_free(y), cx_tensor_free(a), cx_tensor_free(b), cx_tensor_free(g);
        }
    }
    cx_rng_free(rng);
}

static cx_tensor *cpu_relu(cx_tensor *x) {
    return cx_relu(x);
}
static cx_tensor *cpu_leaky(cx_tensor *x) {
    return cx_leaky_relu(x, 0.2f);
}
static cx_tensor *cpu_sigmoid(cx_tensor *x) {
    return cx_sigmoid(x);
}
static cx_tensor *cpu_tanh(cx_tensor *x) {
    return cx_tanh(x);
}

static void test_activations(void **state) {
    (void)state;
    start_gpu();
    cx_rng *rng = cx_rng_new(12);
    static const cx__cuda_unop ops[] = {CX_CUDA_RELU, CX_CUDA_LEAKY_RELU, CX_CUDA_SIGMOID,
                                        CX_CUDA_TANH};
    static const char *names[] = {"relu", "leaky_relu", "sigmoid", "tanh"};
    cx_tensor *(*cpu[])(cx_tensor *) = {cpu_relu, cpu_leaky, cpu_sigmoid, cpu_tanh};
    for (int o = 0; o < 4; o++) {
        for (int s = 0; s < N_SIZES; s++) {
            int64_t n = SIZES[s];
            /* -30..30 reaches the saturated tails of sigmoid and tanh */
            cx_tensor *x = random_tensor(rng, 1, &n, o >= 2 ? -30 : -3, o >= 2 ? 30 : 3, true);
            cx_tensor *g = random_tensor(rng, 1, &n, -1, 1, false);
            cx_tensor *y = cpu[o](x);
            assert_non_null(y);
            assert_int_equal(cx_backward_grad(y, g), CX_OK);
            float *dx = dev_from(cx_tensor_f32(x), n), *dg = dev_from(cx_tensor_f32(g), n);
            float *dy = dev_alloc(n), *gx = dev_alloc(n);
            CUDA_OK(cx__cuda_fill(n, 0.0f, gx));
            CUDA_OK(cx__cuda_unary(ops[o], n, dx, 0.2f, dy));
            CUDA_OK(cx__cuda_unary_backward(ops[o], n, dx, dy, dg, 0.2f, gx));
            char what[64];
            snprintf(what, sizeof what, "%s forward", names[o]);
            compare_dev(what, dy, cx_tensor_f32(y), n);
            snprintf(what, sizeof what, "%s backward", names[o]);
            compare_dev(what, gx, cx_tensor_f32(cx_tensor_grad(x)), n);
            cx__cuda_free(dx), cx__cuda_free(dg), cx__cuda_free(dy), cx__cuda_free(gx);
            cx_tensor_free(y), cx_tensor_free(x), cx_tensor_free(g);
        }
    }
    cx_rng_free(rng);
}

static void test_scale_fill_copy(void **state) {
    (void)state;
    start_gpu();
    cx_rng *rng = cx_rng_new(13);
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = SIZES[s];
        cx_tensor *x = random_tensor(rng, 1, &n, -5, 5, false);
        const float *hx = cx_tensor_f32(x);
        float *want = malloc((size_t)n * sizeof *want);
        float *dx = dev_from(hx, n), *dy = dev_alloc(n), *dz = dev_alloc(n);
        CUDA_OK(cx__cuda_copy_device(dz, dx, (size_t)n * sizeof(float)));
        compare_dev("device to device copy", dz, hx, n);
        CUDA_OK(cx__cuda_scale(n, -0.75f, dx, dy));
        for (int64_t i = 0; i < n; i++)
            want[i] = -0.75f * hx[i];
        compare_dev("scale", dy, want, n);
        CUDA_OK(cx__cuda_scale(n, 2.0f, dy, dy)); /* in place */
        for (int64_t i = 0; i < n; i++)
            want[i] *= 2.0f;
        compare_dev("scale in place", dy, want, n);
        CUDA_OK(cx__cuda_fill(n, 3.5f, dy));
        for (int64_t i = 0; i < n; i++)
            want[i] = 3.5f;
        compare_dev("fill", dy, want, n);
        free(want);
        cx__cuda_free(dx), cx__cuda_free(dy), cx__cuda_free(dz);
        cx_tensor_free(x);
    }
    cx_rng_free(rng);
}

/* (rows, cols) shapes for the row kernels: single elements, short rows of class scores,
 * rows longer than a block, more rows than one sweep. */
static const int64_t SHAPES[][2] = {{1, 1}, {3, 7}, {128, 10}, {37, 300}, {5, 1025}, {1000, 33}};
enum { N_SHAPES = sizeof SHAPES / sizeof SHAPES[0] };

static void test_sums(void **state) {
    (void)state;
    start_gpu();
    cx_rng *rng = cx_rng_new(14);
    for (int s = 0; s < N_SHAPES; s++) {
        int64_t rows = SHAPES[s][0], cols = SHAPES[s][1], n = rows * cols;
        cx_tensor *x = random_tensor(rng, 2, SHAPES[s], -1, 3, false);
        float *dx = dev_from(cx_tensor_f32(x), n), *dy = dev_alloc(rows);
        for (int mean = 0; mean < 2; mean++) {
            cx_tensor *(*f)(cx_tensor *, int, const int *, bool) = mean ? cx_mean : cx_sum;
            cx_tensor *want_rows = f(x, 1, (int[]){1}, false), *want_all = f(x, 0, NULL, false);
            CUDA_OK(cx__cuda_sum_rows(rows, cols, dx, mean, dy));
            compare_dev(mean ? "mean per row" : "sum per row", dy, cx_tensor_f32(want_rows), rows);
            CUDA_OK(cx__cuda_sum_all(n, dx, mean, dy));
            compare_dev(mean ? "mean" : "sum", dy, cx_tensor_f32(want_all), 1);
            cx_tensor_free(want_rows), cx_tensor_free(want_all);
        }
        cx__cuda_free(dx), cx__cuda_free(dy);
        cx_tensor_free(x);
    }
    /* a long vector: many first-pass blocks */
    int64_t n = 3000001;
    cx_tensor *x = random_tensor(rng, 1, &n, -1, 3, false);
    cx_tensor *want = cx_sum(x, 0, NULL, false);
    float *dx = dev_from(cx_tensor_f32(x), n), *dy = dev_alloc(1);
    CUDA_OK(cx__cuda_sum_all(n, dx, false, dy));
    compare_dev("sum of 3000001", dy, cx_tensor_f32(want), 1);
    cx__cuda_free(dx), cx__cuda_free(dy);
    cx_tensor_free(want), cx_tensor_free(x);
    cx_rng_free(rng);
}

static void test_softmax(void **state) {
    (void)state;
    start_gpu();
    cx_rng *rng = cx_rng_new(15);
    for (int lg = 0; lg < 2; lg++) {
        for (int s = 0; s < N_SHAPES; s++) {
            int64_t rows = SHAPES[s][0], cols = SHAPES[s][1], n = rows * cols;
            /* large logits (50..60 in the odd shapes): the maximum must be subtracted */
            float lo = s % 2 ? 50.0f : -4.0f, hi = s % 2 ? 60.0f : 4.0f;
            cx_tensor *x = random_tensor(rng, 2, SHAPES[s], lo, hi, true);
            cx_tensor *g = random_tensor(rng, 2, SHAPES[s], -1, 1, false);
            cx_tensor *y = lg ? cx_log_softmax(x, -1) : cx_softmax(x, -1);
            assert_non_null(y);
            assert_int_equal(cx_backward_grad(y, g), CX_OK);
            float *dx = dev_from(cx_tensor_f32(x), n), *dg = dev_from(cx_tensor_f32(g), n);
            float *dy = dev_alloc(n), *gx = dev_alloc(n);
            CUDA_OK(cx__cuda_fill(n, 0.0f, gx));
            CUDA_OK(cx__cuda_softmax(rows, cols, dx, lg, dy));
            CUDA_OK(cx__cuda_softmax_backward(rows, cols, dy, dg, lg, gx));
            compare_dev(lg ? "log_softmax" : "softmax", dy, cx_tensor_f32(y), n);
            compare_dev(lg ? "log_softmax backward" : "softmax backward", gx,
                        cx_tensor_f32(cx_tensor_grad(x)), n);
            cx__cuda_free(dx), cx__cuda_free(dg), cx__cuda_free(dy), cx__cuda_free(gx);
            cx_tensor_free(y), cx_tensor_free(x), cx_tensor_free(g);
        }
    }
    /* a row with +inf is NaN, as on the CPU */
    float row[3] = {1.0f, INFINITY, 2.0f}, out[3];
    float *dx = dev_from(row, 3), *dy = dev_alloc(3);
    CUDA_OK(cx__cuda_softmax(1, 3, dx, false, dy));
    CUDA_OK(cx__cuda_copy_to_host(out, dy, sizeof out));
    assert_true(isnan(out[1]));
    cx__cuda_free(dx), cx__cuda_free(dy);
    cx_rng_free(rng);
}

static void test_cross_entropy(void **state) {
    (void)state;
    start_gpu();
    cx_rng *rng = cx_rng_new(16);
    for (int s = 0; s < N_SHAPES; s++) {
        int64_t rows = SHAPES[s][0], cols = SHAPES[s][1], n = rows * cols;
        cx_tensor *x = random_tensor(rng, 2, SHAPES[s], -5, 5, true);
        cx_tensor *labels = cx_tensor_new(CX_DTYPE_I32, 1, &rows);
        int32_t *lab = cx_tensor_data(labels);
        for (int64_t r = 0; r < rows; r++)
            lab[r] = (int32_t)(cx_rng_u32(rng) % (uint32_t)cols);
        cx_tensor *loss = cx_cross_entropy(x, labels, CX_REDUCTION_MEAN);
        assert_non_null(loss);
        float g = 0.75f;
        cx_tensor *gt = cx_scalar(g);
        assert_int_equal(cx_backward_grad(loss, gt), CX_OK);
        cx_tensor_free(gt);
        float *dx = dev_from(cx_tensor_f32(x), n), *dlse = dev_alloc(rows);
        float *dloss = dev_alloc(1), *dgout = dev_from(&g, 1), *gx = dev_alloc(n);
        int32_t *dlab = NULL;
        CUDA_OK(cx__cuda_malloc((void **)&dlab, (size_t)rows * sizeof *dlab));
        CUDA_OK(cx__cuda_copy_to_device(dlab, lab, (size_t)rows * sizeof *dlab));
        CUDA_OK(cx__cuda_fill(n, 0.0f, gx));
        CUDA_OK(cx__cuda_cross_entropy(rows, cols, dx, dlab, dlse, dloss));
        CUDA_OK(cx__cuda_cross_entropy_backward(rows, cols, dx, dlab, dlse, dgout, gx));
        float want = cx_tensor_item(loss);
        compare_dev("cross_entropy", dloss, &want, 1);
        compare_dev("cross_entropy backward", gx, cx_tensor_f32(cx_tensor_grad(x)), n);
        /* a label out of range is refused, naming it */
        int32_t bad = (int32_t)cols;
        CUDA_OK(cx__cuda_copy_to_device(dlab + rows - 1, &bad, sizeof bad));
        assert_int_equal(cx__cuda_cross_entropy(rows, cols, dx, dlab, dlse, dloss), CX_ERR_ARG);
        char needle[96];
        snprintf(needle, sizeof needle, "label %d at index %lld is out of range", (int)cols,
                 (long long)(rows - 1));
        assert_error(CX_ERR_ARG, needle);
        cx__cuda_free(dx), cx__cuda_free(dlse), cx__cuda_free(dloss), cx__cuda_free(dgout);
        cx__cuda_free(gx), cx__cuda_free(dlab);
        cx_tensor_free(loss), cx_tensor_free(x), cx_tensor_free(labels);
    }
    cx_rng_free(rng);
}

/* Each fused update against cx_optim_step over 4 steps, the same gradients on both. */
static void test_optimizers(void **state) {
    (void)state;
    start_gpu();
    struct {
        const char *name;
        cx_optim_kind kind;
        float wd, damp;
        bool amsgrad;
    } cases[] = {
        {"sgd", CX_OPTIM_SGD, 0.01f, 0, false},
        {"momentum", CX_OPTIM_MOMENTUM, 0.01f, 0.1f, false},
        {"nesterov", CX_OPTIM_NESTEROV, 0.0f, 0, false},
        {"adam", CX_OPTIM_ADAM, 0.0f, 0, false},
        {"adam+wd+amsgrad", CX_OPTIM_ADAM, 0.01f, 0, true},
        {"adamw", CX_OPTIM_ADAMW, 0.01f, 0, false},
        {"adamw+amsgrad", CX_OPTIM_ADAMW, 0.1f, 0, true},
    };
    cx_rng *rng = cx_rng_new(17);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t n = 70001;
        cx_optim_params p = cx_optim_defaults(cases[c].kind);
        p.weight_decay = cases[c].wd;
        p.dampening = cases[c].damp;
        p.amsgrad = cases[c].amsgrad;
        cx_tensor *w = random_tensor(rng, 1, &n, -1, 1, true);
        cx_optim *o = cx_optim_new(cases[c].kind, &p, &w, 1);
        assert_non_null(o);
        float *dw = dev_from(cx_tensor_f32(w), n), *dg = dev_alloc(n), *buf[3] = {NULL};
        for (int k = 0; k < 3; k++) {
            buf[k] = dev_alloc(n);
            CUDA_OK(cx__cuda_fill(n, 0.0f, buf[k]));
        }
        if (!cases[c].amsgrad) {
            cx__cuda_free(buf[2]);
            buf[2] = NULL;
        }
        for (int step = 1; step <= 4; step++) {
            float *g = cx__grad(w);
            assert_non_null(g);
            for (int64_t i = 0; i < n; i++)
                g[i] = cx_rng_normal(rng);
            CUDA_OK(cx__cuda_copy_to_device(dg, g, (size_t)n * sizeof *g));
            assert_int_equal(cx_optim_step(o), CX_OK);
            CUDA_OK(cx__cuda_optim_update(cases[c].kind, &p, step, n, dw, dg, buf));
            char what[64];
            snprintf(what, sizeof what, "%s step %d", cases[c].name, step);
            compare_dev(what, dw, cx_tensor_f32(w), n);
        }
        for (int k = 0; k < 3; k++)
            cx__cuda_free(buf[k]);
        cx__cuda_free(dw), cx__cuda_free(dg);
        cx_optim_free(o);
        cx_tensor_free(w);
    }
    /* not on the GPU yet, and bad hyper-parameters, as cx_optim_new refuses them */
    cx_optim_params p = cx_optim_defaults(CX_OPTIM_RMSPROP);
    assert_int_equal(cx__cuda_optim_update(CX_OPTIM_RMSPROP, &p, 1, 0, NULL, NULL, NULL),
                     CX_ERR_UNSUPPORTED);
    assert_error(CX_ERR_UNSUPPORTED, "rmsprop has no GPU update yet");
    p = cx_optim_defaults(CX_OPTIM_ADAM);
    p.beta2 = 1.0f;
    assert_int_equal(cx__cuda_optim_update(CX_OPTIM_ADAM, &p, 1, 0, NULL, NULL, NULL), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "beta2");
    p = cx_optim_defaults(CX_OPTIM_MOMENTUM);
    assert_int_equal(cx__cuda_optim_update(CX_OPTIM_MOMENTUM, &p, 1, 4, NULL, NULL, NULL),
                     CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "momentum_buffer", "missing");
    cx_rng_free(rng);
}

static void test_sgemm(void **state) {
    (void)state;
    start_gpu();
    cx_rng *rng = cx_rng_new(18);
    static const int64_t dims[][3] = {{1, 1, 1}, {17, 33, 65}, {128, 257, 300}, {64, 10, 784}};
    for (size_t s = 0; s < sizeof dims / sizeof dims[0]; s++) {
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = t & 2;
            int64_t m = dims[s][0], n = dims[s][1], k = dims[s][2];
            /* stored shapes, with a padded leading dimension (+3) to check lda/ldb/ldc */
            int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
            int64_t lda = ac + 3, ldb = bc + 3, ldc = n + 3;
            int64_t na = ar * lda, nb = br * ldb, nc = m * ldc;
            float *a = malloc((size_t)na * 4), *b = malloc((size_t)nb * 4),
                  *c = malloc((size_t)nc * 4);
            for (int64_t i = 0; i < na; i++)
                a[i] = cx_rng_uniform(rng) * 2 - 1;
            for (int64_t i = 0; i < nb; i++)
                b[i] = cx_rng_uniform(rng) * 2 - 1;
            for (int64_t i = 0; i < nc; i++)
                c[i] = cx_rng_uniform(rng) * 2 - 1;
            float *da = dev_from(a, na), *db = dev_from(b, nb), *dc = dev_from(c, nc);
            cx__sgemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, c, ldc);
            CUDA_OK(cx__cuda_sgemm(ta, tb, m, n, k, 0.5f, da, lda, db, ldb, 0.25f, dc, ldc));
            char what[64];
            snprintf(what, sizeof what, "sgemm %lldx%lldx%lld%s%s", (long long)m, (long long)n,
                     (long long)k, ta ? " A^T" : "", tb ? " B^T" : "");
            compare_dev(what, dc, c, nc);
            cx__cuda_free(da), cx__cuda_free(db), cx__cuda_free(dc);
            free(a), free(b), free(c);
        }
    }
    assert_int_equal(
        cx__cuda_sgemm(false, false, (int64_t)1 << 31, 1, 1, 1.0f, NULL, 1, NULL, 1, 0.0f, NULL, 1),
        CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "cuda sgemm: m 2147483648");
    cx_rng_free(rng);
}

/* The device allocator: a repeated pattern of allocations (a training step's) calls
 * cudaMalloc only the first time; empty_cache gives the cache back. */
static void test_device_allocator(void **state) {
    (void)state;
    start_gpu();
    static const size_t sizes[] = {4, 1000, 4096, 123457, 1 << 20, 7, 50 << 20};
    enum { N = sizeof sizes / sizeof sizes[0] };
    cx_cuda_memory_stats s0, s1, s2;
    assert_int_equal(cx_cuda_memory_stats_get(&s0), CX_OK);
    for (int round = 0; round < 4; round++) {
        void *p[N];
        for (int i = 0; i < N; i++)
            CUDA_OK(cx__cuda_malloc(&p[i], sizes[i]));
        for (int i = 0; i < N; i++)
            CUDA_OK(cx__cuda_free(p[i]));
        if (round == 0) assert_int_equal(cx_cuda_memory_stats_get(&s1), CX_OK);
    }
    assert_int_equal(cx_cuda_memory_stats_get(&s2), CX_OK);
    print_message("cuda allocator: %lld cudaMalloc calls in the first round, %lld after; "
                  "%llu bytes cached\n",
                  (long long)(s1.device_mallocs - s0.device_mallocs),
                  (long long)(s2.device_mallocs - s1.device_mallocs),
                  (unsigned long long)s2.bytes_cached);
    assert_int_equal(s2.device_mallocs, s1.device_mallocs);
    assert_true(s2.reuses - s1.reuses >= 3 * N);
    assert_int_equal(s2.bytes_in_use, s0.bytes_in_use);
    assert_int_equal(cx_cuda_empty_cache(), CX_OK);
    assert_int_equal(cx_cuda_memory_stats_get(&s2), CX_OK);
    assert_int_equal(s2.bytes_cached, 0);
    assert_int_equal(cx__cuda_free((void *)0x12345), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "was not allocated here");
    /* an absurd request is an error, not a crash */
    void *p;
    assert_int_not_equal(cx__cuda_malloc(&p, (size_t)1 << 39), CX_OK);
    cx_clear_error();
    cx_device_info info;
    assert_int_equal(cx_device_describe((cx_device){CX_DEVICE_CUDA, 0}, &info), CX_OK);
    print_message("cuda:0: %s, compute capability %d.%d, %d SMs, %.1f GiB\n", info.name,
                  info.cc_major, info.cc_minor, info.cores, (double)info.memory_bytes / (1 << 30));
    assert_true(info.cc_major >= 1 && info.memory_bytes > 0);
}

#else /* no CUDA backend: the same tests, each saying why it does not run */

#define STUB(name)                                                                                 \
    static void test_##name(void **state) {                                                        \
        (void)state;                                                                               \
        require_gpu(); /* says why (this build has no CUDA backend) and skips */                   \
        skip();                                                                                    \
    }
GPU_TESTS(STUB)
#undef STUB

#endif

CX_TEST_GROUP(cuda) {
#define ENTRY(name) cmocka_unit_test(test_##name),
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse), cmocka_unit_test(test_cpu_describe),
        cmocka_unit_test(test_availability),
        cmocka_unit_test_setup_teardown(test_devices_command, setup_scratch, teardown_scratch),
        GPU_TESTS(ENTRY)};
#undef ENTRY
    CX_RUN_GROUP("cuda", tests);
}
