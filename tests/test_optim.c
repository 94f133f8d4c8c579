/*
 * test_optim.c - optimizers, schedules and clipping against torch, and the optimizer's
 * contracts: state names and restore, errors for bad hyper-parameters and parameter lists,
 * no heap allocation in a step, and the same result with one thread or two.
 *
 * scripts/golden/optim.py ran torch.optim for five steps per case (three parameters, given
 * gradients, some parameters without a gradient in the first steps) and wrote every step's
 * parameters and the final state buffers to tests/golden/optim.safetensors, with torch's
 * lr_scheduler values and clip_grad_norm_ results. Here each case is replayed and must agree
 * within 1e-6 (|a - b| <= 1e-6 max(1, |b|)) after every step.
 */
#include "test.h"

#include <math.h>
#include <string.h>

#define GOLDEN_PATH "tests/golden/optim.safetensors"
#define TOL 1e-6f

enum { N_PARAMS = 3, N_STEPS = 5, N_EPOCHS = 20, N_HPARAMS = 13 };

/* The cases of scripts/golden/optim.py (every case in the file must be listed here). */
static const char *const cases[] = {
    "sgd",
    "sgd_wd",
    "momentum",
    "momentum_dampening",
    "momentum_late",
    "nesterov",
    "nesterov_wd",
    "adagrad",
    "adagrad_lr_decay",
    "adagrad_late",
    "adadelta",
    "adadelta_wd",
    "rmsprop",
    "rmsprop_centered",
    "rmsprop_momentum",
    "rmsprop_centered_momentum",
    "adam",
    "adam_wd",
    "adam_amsgrad",
    "adam_late",
    "adamw",
    "adamw_amsgrad",
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

static cx_safetensors *golden;
static char open_error[512];

/* ---- helpers ---- */

static cx_tensor *load(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static cx_tensor *load(const char *fmt, ...) {
    char key[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    if (!cx_safetensors_has(golden, key)) return NULL;
    cx_tensor *t = cx_safetensors_get(golden, key);
    if (!t) fail_msg("%s: %s", key, cx_last_error());
    return t;
}

static void require_golden(void) {
    if (!golden) fail_msg("%s; run `make golden` to generate it", open_error);
}

/* Writes g's values into p's gradient buffer (made on first use). */
static void set_grad(cx_tensor *p, const float *g) {
    float *d = cx__grad(p);
    assert_non_null(d);
    memcpy(d, g, (size_t)cx_tensor_numel(p) * sizeof *d);
}

static void assert_tensor_close(const char *what, cx_tensor *got, cx_tensor *want) {
    assert_int_equal(cx_tensor_numel(got), cx_tensor_numel(want));
    cx_test_assert_close(what, cx_tensor_f32(got), cx_tensor_f32(want), cx_tensor_numel(want), TOL);
}

/* The hyper-parameters in scripts/golden/optim.py's HPARAM_FIELDS order. */
static cx_optim_params params_from(const float *h) {
    return (cx_optim_params){.lr = h[0],
                             .momentum = h[1],
                             .dampening = h[2],
                             .beta1 = h[3],
                             .beta2 = h[4],
                             .alpha = h[5],
                             .rho = h[6],
                             .eps = h[7],
                             .weight_decay = h[8],
                             .lr_decay = h[9],
                             .initial_accumulator = h[10],
                             .centered = h[11] != 0.0f,
                             .amsgrad = h[12] != 0.0f};
}

static bool has_prefix(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- golden replays ---- */

static void golden_case(void **state) {
    const char *name = *state;
    require_golden();
    char key[256];
    snprintf(key, sizeof key, "%s.kind", name);
    const char *kind_name = cx_safetensors_metadata(golden, key);
    if (!kind_name) fail_msg("%s: not in " GOLDEN_PATH "; run `make golden`", name);
    cx_optim_kind kind;
    assert_int_equal(cx_optim_kind_parse(kind_name, &kind), CX_OK);
    cx_tensor *h = load("%s.hparams", name);
    assert_non_null(h);
    assert_int_equal(cx_tensor_numel(h), N_HPARAMS);
    cx_optim_params hp = params_from(cx_tensor_f32(h));

    cx_tensor *p[N_PARAMS];
    for (int i = 0; i < N_PARAMS; i++) {
        p[i] = load("%s.p%d.init", name, i);
        assert_non_null(p[i]);
        assert_int_equal(cx_tensor_set_requires_grad(p[i], true), CX_OK);
    }
    cx_optim *o = cx_optim_new(kind, &hp, p, N_PARAMS);
    if (!o) fail_msg("%s: %s", name, cx_last_error());

    for (int s = 0; s < N_STEPS; s++) {
        for (int i = 0; i < N_PARAMS; i++) {
            cx_tensor *g = load("%s.p%d.grad%d", name, i, s);
            /* No gradient this step: only at the start (a buffer, once made, stays). */
            if (!g) {
                assert_null(cx_tensor_grad(p[i]));
                continue;
            }
            set_grad(p[i], cx_tensor_f32(g));
            cx_tensor_free(g);
        }
        assert_int_equal(cx_optim_step(o), CX_OK);
        for (int i = 0; i < N_PARAMS; i++) {
            char what[300];
            snprintf(what, sizeof what, "%s.p%d.step%d", name, i, s);
            cx_tensor *want = load("%s", what);
            assert_non_null(want);
            assert_tensor_close(what, p[i], want);
            cx_tensor_free(want);
        }
    }
    assert_int_equal(cx_optim_steps(o), N_STEPS);

    /* The state under torch's names, with torch's values; and no buffer torch lacks. */
    snprintf(key, sizeof key, "%s.state.", name);
    int in_file = 0;
    for (int k = 0; k < cx_safetensors_count(golden); k++)
        in_file += has_prefix(cx_safetensors_name(golden, k), key);
    assert_int_equal(cx_optim_state_count(o), in_file);
    for (int j = 0; j < cx_optim_state_count(o); j++) {
        char what[300];
        snprintf(what, sizeof what, "%s.state.%s", name, cx_optim_state_name(o, j));
        cx_tensor *want = load("%s", what);
        if (!want) fail_msg("%s: torch has no such state buffer", what);
        assert_tensor_close(what, cx_optim_state_tensor(o, j), want);
        cx_tensor_free(want);
    }
    cx_optim_free(o);
    for (int i = 0; i < N_PARAMS; i++)
        cx_tensor_free(p[i]);
    cx_tensor_free(h);
}

/* Every optimizer case in the file is one this suite replays. */
static void golden_cases_listed(void **state) {
    (void)state;
    require_golden();
    for (int k = 0; k < cx_safetensors_count(golden); k++) {
        const char *n = cx_safetensors_name(golden, k);
        const char *dot = strchr(n, '.');
        if (has_prefix(n, "schedule.") || !dot || strcmp(dot, ".hparams") != 0) continue;
        bool listed = false;
        for (int c = 0; c < N_CASES; c++)
            listed |= strlen(cases[c]) == (size_t)(dot - n) && has_prefix(n, cases[c]);
        if (!listed) fail_msg("%s: case missing from tests/test_optim.c's list", n);
    }
}

static void golden_schedules(void **state) {
    (void)state;
    require_golden();
    const char *names[] = {"step", "exponential", "cosine"};
    for (int k = 0; k < 3; k++) {
        char key[64];
        snprintf(key, sizeof key, "schedule.%s.kind", names[k]);
        const char *kind = cx_safetensors_metadata(golden, key);
        assert_non_null(kind);
        cx_tensor *h = load("schedule.%s.hparams", names[k]);
        cx_tensor *want = load("schedule.%s.lr", names[k]);
        assert_non_null(h);
        assert_non_null(want);
        const float *v = cx_tensor_f32(h); /* base_lr, step_size, gamma, t_max, eta_min */
        cx_schedule s = {
            .step_size = (int)v[1], .gamma = v[2], .t_max = (int)v[3], .eta_min = v[4]};
        assert_int_equal(cx_schedule_kind_parse(kind, &s.kind), CX_OK);
        float got[N_EPOCHS];
        assert_int_equal(cx_tensor_numel(want), N_EPOCHS);
        for (int e = 0; e < N_EPOCHS; e++)
            got[e] = cx_schedule_lr(&s, v[0], e);
        snprintf(key, sizeof key, "schedule.%s.lr", names[k]);
        cx_test_assert_close(key, got, cx_tensor_f32(want), N_EPOCHS, TOL);
        cx_tensor_free(h);
        cx_tensor_free(want);
    }
    cx_schedule constant = {0};
    assert_true(cx_schedule_lr(&constant, 0.25f, 7) == 0.25f);
}

static void golden_clipping(void **state) {
    (void)state;
    require_golden();
    const char *names[] = {"clipped", "unclipped"};
    for (int k = 0; k < 2; k++) {
        cx_tensor *t[N_PARAMS];
        for (int i = 0; i < N_PARAMS; i++) {
            t[i] = load("clip.%s.g%d.before", names[k], i);
            if (t[i]) {
                set_grad(t[i], cx_tensor_f32(t[i]));
            } else {
                t[i] = cx_zeros(CX_SHAPE(5)); /* one tensor without a gradient */
                assert_int_equal(cx_tensor_set_requires_grad(t[i], true), CX_OK);
            }
        }
        cx_tensor *max_norm = load("clip.%s.max_norm", names[k]);
        cx_tensor *norm = load("clip.%s.norm", names[k]);
        assert_non_null(max_norm);
        assert_non_null(norm);
        float got = cx_clip_grad_norm(t, N_PARAMS, cx_tensor_item(max_norm));
        float want = cx_tensor_item(norm);
        cx_test_assert_close("clip norm", &got, &want, 1, TOL);
        for (int i = 0; i < N_PARAMS; i++) {
            cx_tensor *after = load("clip.%s.g%d.after", names[k], i);
            if (!after) {
                assert_null(cx_tensor_grad(t[i]));
                cx_tensor_free(t[i]);
                continue;
            }
            char what[64];
            snprintf(what, sizeof what, "clip.%s.g%d", names[k], i);
            assert_tensor_close(what, cx_tensor_grad(t[i]), after);
            cx_tensor_free(after);
            cx_tensor_free(t[i]);
        }
        cx_tensor_free(max_norm);
        cx_tensor_free(norm);
    }
}

/* ---- state names and restore ---- */

typedef struct {
    cx_optim_kind kind;
    cx_optim_params p;
} config;

/* Every kind, with the options that add buffers (amsgrad, centered, RMSprop momentum). */
static int all_configs(config *c) {
    int n = 0;
    for (int k = CX_OPTIM_SGD; k <= CX_OPTIM_ADAMW; k++) {
        c[n] = (config){(cx_optim_kind)k, cx_optim_defaults((cx_optim_kind)k)};
        c[n].p.weight_decay = 0.01f;
        n++;
    }
    c[n] = (config){CX_OPTIM_ADAM, cx_optim_defaults(CX_OPTIM_ADAM)};
    c[n++].p.amsgrad = true;
    c[n] = (config){CX_OPTIM_ADAMW, cx_optim_defaults(CX_OPTIM_ADAMW)};
    c[n++].p.amsgrad = true;
    c[n] = (config){CX_OPTIM_RMSPROP, cx_optim_defaults(CX_OPTIM_RMSPROP)};
    c[n].p.centered = true;
    c[n++].p.momentum = 0.5f;
    c[n] = (config){CX_OPTIM_ADAGRAD, cx_optim_defaults(CX_OPTIM_ADAGRAD)};
    c[n].p.initial_accumulator = 0.3f;
    c[n++].p.lr_decay = 0.1f;
    return n;
}
enum { MAX_CONFIGS = 16 };

/* n_params parameters of the given sizes, random, requiring grad. */
static void make_params(cx_rng *rng, cx_tensor **p, const int64_t *sizes, int n) {
    for (int i = 0; i < n; i++) {
        p[i] = cx_randn(rng, 1, &sizes[i]);
        assert_non_null(p[i]);
        assert_int_equal(cx_tensor_set_requires_grad(p[i], true), CX_OK);
    }
}

/* A new leaf parameter holding a copy of a's values. */
static cx_tensor *copy_param(cx_tensor *a) {
    cx_tensor *b =
        cx_from_data(CX_DTYPE_F32, cx_tensor_ndim(a), cx_tensor_shape(a), cx_tensor_f32(a));
    assert_non_null(b);
    assert_int_equal(cx_tensor_set_requires_grad(b, true), CX_OK);
    return b;
}

static void random_grads(cx_rng *rng, cx_tensor **p, int n) {
    for (int i = 0; i < n; i++) {
        float *g = cx__grad(p[i]);
        assert_non_null(g);
        for (int64_t e = 0; e < cx_tensor_numel(p[i]); e++)
            g[e] = cx_rng_normal(rng);
    }
}

static void copy_grads(cx_tensor **dst, cx_tensor **src, int n) {
    for (int i = 0; i < n; i++)
        set_grad(dst[i], cx_tensor_f32(cx_tensor_grad(src[i])));
}

static bool same_values(cx_tensor *a, cx_tensor *b) {
    return memcmp(cx_tensor_f32(a), cx_tensor_f32(b), (size_t)cx_tensor_numel(a) * sizeof(float)) ==
           0;
}

static void state_names(void **state) {
    (void)state;
    cx_tensor *p[2] = {cx_zeros(CX_SHAPE(2, 3)), cx_zeros(CX_SHAPE(4))};
    cx_optim_params hp = cx_optim_defaults(CX_OPTIM_ADAM);
    hp.amsgrad = true;
    cx_optim *o = cx_optim_new(CX_OPTIM_ADAM, &hp, p, 2);
    assert_non_null(o);
    const char *want[] = {"0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq",
                          "1.exp_avg", "1.exp_avg_sq", "1.max_exp_avg_sq"};
    assert_int_equal(cx_optim_state_count(o), 6);
    for (int j = 0; j < 6; j++) {
        assert_string_equal(cx_optim_state_name(o, j), want[j]);
        cx_tensor *b = cx_optim_state_tensor(o, j);
        assert_int_equal(cx_tensor_numel(b), cx_tensor_numel(p[j / 3]));
        assert_int_equal(cx_tensor_ndim(b), cx_tensor_ndim(p[j / 3]));
        assert_int_equal(cx_tensor_dtype(b), CX_DTYPE_F32);
    }
    assert_null(cx_optim_state_name(o, 6));
    assert_null(cx_optim_state_tensor(o, -1));
    cx_optim_free(o);

    /* Adagrad's sum starts at initial_accumulator; plain SGD and momentum 0 keep nothing. */
    hp = cx_optim_defaults(CX_OPTIM_ADAGRAD);
    hp.initial_accumulator = 0.5f;
    o = cx_optim_new(CX_OPTIM_ADAGRAD, &hp, p, 2);
    assert_string_equal(cx_optim_state_name(o, 1), "1.sum");
    assert_true(cx_tensor_f32(cx_optim_state_tensor(o, 1))[3] == 0.5f);
    cx_optim_free(o);
    o = cx_optim_new(CX_OPTIM_SGD, NULL, p, 2);
    assert_int_equal(cx_optim_state_count(o), 0);
    cx_optim_free(o);
    hp = cx_optim_defaults(CX_OPTIM_MOMENTUM);
    hp.momentum = 0.0f;
    o = cx_optim_new(CX_OPTIM_MOMENTUM, &hp, p, 2);
    assert_int_equal(cx_optim_state_count(o), 0);
    cx_optim_free(o);
    cx_tensor_free(p[0]);
    cx_tensor_free(p[1]);
}

/* State copied out of an optimizer after 3 steps into a fresh one continues identically;
 * without the copy it does not (for kinds with state), so the state is what carries it. */
static void state_restore(void **state) {
    (void)state;
    config c[MAX_CONFIGS];
    int n_configs = all_configs(c);
    const int64_t sizes[3] = {7, 40000, 3}; /* the middle one takes the threaded path */
    for (int k = 0; k < n_configs; k++) {
        cx_rng *rng = cx_rng_new(100 + (uint64_t)k);
        cx_tensor *a[3], *b[3], *fresh[3];
        make_params(rng, a, sizes, 3);
        cx_optim *oa = cx_optim_new(c[k].kind, &c[k].p, a, 3);
        assert_non_null(oa);
        for (int s = 0; s < 3; s++) {
            random_grads(rng, a, 3);
            assert_int_equal(cx_optim_step(oa), CX_OK);
        }
        for (int i = 0; i < 3; i++) {
            b[i] = copy_param(a[i]);
            fresh[i] = copy_param(a[i]);
        }
        cx_optim *ob = cx_optim_new(c[k].kind, &c[k].p, b, 3);
        cx_optim *of = cx_optim_new(c[k].kind, &c[k].p, fresh, 3);
        assert_non_null(ob);
        assert_non_null(of);
        assert_int_equal(cx_optim_set_steps(ob, cx_optim_steps(oa)), CX_OK);
        assert_int_equal(cx_optim_state_count(ob), cx_optim_state_count(oa));
        for (int j = 0; j < cx_optim_state_count(oa); j++) {
            assert_string_equal(cx_optim_state_name(ob, j), cx_optim_state_name(oa, j));
            cx_tensor *src = cx_optim_state_tensor(oa, j);
            size_t bytes = (size_t)cx_tensor_numel(src) * sizeof(float);
            assert_int_equal(
                cx_tensor_copy_from(cx_optim_state_tensor(ob, j), cx_tensor_f32(src), bytes),
                CX_OK);
        }
        for (int s = 0; s < 2; s++) {
            random_grads(rng, a, 3);
            copy_grads(b, a, 3);
            copy_grads(fresh, a, 3);
            assert_int_equal(cx_optim_step(oa), CX_OK);
            assert_int_equal(cx_optim_step(ob), CX_OK);
            assert_int_equal(cx_optim_step(of), CX_OK);
        }
        bool fresh_differs = false;
        for (int i = 0; i < 3; i++) {
            if (!same_values(a[i], b[i]))
                fail_msg("%s config %d: restored optimizer differs on parameter %d",
                         cx_optim_kind_name(c[k].kind), k, i);
            fresh_differs |= !same_values(a[i], fresh[i]);
        }
        /* Plain SGD has no state: a fresh optimizer is already identical. */
        assert_true(fresh_differs == (cx_optim_state_count(oa) > 0));
        assert_int_equal(cx_optim_steps(ob), 5);
        cx_optim_free(oa);
        cx_optim_free(ob);
        cx_optim_free(of);
        for (int i = 0; i < 3; i++) {
            cx_tensor_free(a[i]);
            cx_tensor_free(b[i]);
            cx_tensor_free(fresh[i]);
        }
        cx_rng_free(rng);
    }
}

/* ---- threads ---- */

/* One thread or two: the same bits (the update is elementwise; spans only split the work). */
static void threads_agree(void **state) {
    (void)state;
    config c[MAX_CONFIGS];
    int n_configs = all_configs(c), threads = cx_get_num_threads();
    const int64_t sizes[2] = {3 * CX_PARALLEL_MIN + 17, 100};
    for (int k = 0; k < n_configs; k++) {
        cx_rng *rng = cx_rng_new(7);
        cx_tensor *a[2], *b[2];
        make_params(rng, a, sizes, 2);
        for (int i = 0; i < 2; i++)
            b[i] = copy_param(a[i]);
        cx_optim *oa = cx_optim_new(c[k].kind, &c[k].p, a, 2);
        cx_optim *ob = cx_optim_new(c[k].kind, &c[k].p, b, 2);
        for (int s = 0; s < 3; s++) {
            random_grads(rng, a, 2);
            copy_grads(b, a, 2);
            cx_set_num_threads(1);
            assert_int_equal(cx_optim_step(oa), CX_OK);
            cx_set_num_threads(2);
            assert_int_equal(cx_optim_step(ob), CX_OK);
        }
        cx_set_num_threads(threads);
        for (int i = 0; i < 2; i++)
            assert_true(same_values(a[i], b[i]));
        cx_optim_free(oa);
        cx_optim_free(ob);
        for (int i = 0; i < 2; i++) {
            cx_tensor_free(a[i]);
            cx_tensor_free(b[i]);
        }
        cx_rng_free(rng);
    }
}

/* ---- no allocation in a step ---- */

static long n_allocs;

static void *counting_alloc(size_t bytes, void *ctx) {
    (void)ctx;
    n_allocs++;
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 1) == 0 ? p : NULL;
}

static void counting_free(void *p, void *ctx) {
    (void)ctx;
    free(p);
}

static void step_allocates_nothing(void **state) {
    (void)state;
    cx_set_allocator(&(cx_allocator){counting_alloc, counting_free, NULL});
    config c[MAX_CONFIGS];
    int n_configs = all_configs(c);
    const int64_t sizes[3] = {2 * CX_PARALLEL_MIN, 513, 10};
    cx_rng *rng = cx_rng_new(11);
    cx_tensor *p[3];
    make_params(rng, p, sizes, 3);
    random_grads(rng, p, 3);
    for (int k = 0; k < n_configs; k++) {
        cx_optim *o = cx_optim_new(c[k].kind, &c[k].p, p, 3);
        assert_non_null(o);
        long before = n_allocs;
        for (int s = 0; s < 3; s++) {
            assert_int_equal(cx_optim_step(o), CX_OK);
            assert_true(isfinite(cx_clip_grad_norm(p, 3, 1.0f)));
            assert_int_equal(
                cx_optim_set_lr(
                    o, cx_schedule_lr(&(cx_schedule){.kind = CX_SCHEDULE_COSINE, .t_max = 5}, 0.01f,
                                      s)),
                CX_OK);
        }
        cx_optim_zero_grad(o);
        if (n_allocs != before)
            fail_msg("%s: %ld allocations in 3 steps", cx_optim_kind_name(c[k].kind),
                     n_allocs - before);
        random_grads(rng, p, 3);
        cx_optim_free(o);
    }
    for (int i = 0; i < 3; i++)
        cx_tensor_free(p[i]);
    cx_rng_free(rng);
    cx_set_allocator(NULL);
}

/* zero_grad zeroes every gradient and keeps the buffers. */
static void zero_grad(void **state) {
    (void)state;
    cx_rng *rng = cx_rng_new(5);
    const int64_t sizes[2] = {CX_PARALLEL_MIN + 5, 9};
    cx_tensor *p[2];
    make_params(rng, p, sizes, 2);
    random_grads(rng, p, 2);
    cx_tensor *g0 = cx_tensor_grad(p[0]);
    cx_optim *o = cx_optim_new(CX_OPTIM_SGD, NULL, p, 2);
    cx_optim_zero_grad(o);
    assert_ptr_equal(cx_tensor_grad(p[0]), g0);
    for (int i = 0; i < 2; i++) {
        const float *g = cx_tensor_f32(cx_tensor_grad(p[i]));
        for (int64_t e = 0; e < cx_tensor_numel(p[i]); e++)
            assert_true(g[e] == 0.0f);
    }
    cx_optim_free(o);
    cx_optim_free(NULL);
    cx_tensor_free(p[0]);
    cx_tensor_free(p[1]);
    cx_rng_free(rng);
}

/* ---- names, defaults and errors ---- */

static void names_and_defaults(void **state) {
    (void)state;
    for (int k = CX_OPTIM_SGD; k <= CX_OPTIM_ADAMW; k++) {
        cx_optim_kind back;
        assert_int_equal(cx_optim_kind_parse(cx_optim_kind_name((cx_optim_kind)k), &back), CX_OK);
        assert_int_equal(back, k);
    }
    cx_optim_kind kind;
    assert_int_equal(cx_optim_kind_parse("AdamW", &kind), CX_OK);
    assert_int_equal(kind, CX_OPTIM_ADAMW);
    assert_int_equal(cx_optim_kind_parse("lbfgs", &kind), CX_ERR_ARG);
    assert_non_null(strstr(cx_last_error(), "'lbfgs'"));
    assert_non_null(strstr(cx_last_error(), "sgd, momentum, nesterov"));
    for (int k = CX_SCHEDULE_CONSTANT; k <= CX_SCHEDULE_COSINE; k++) {
        cx_schedule_kind back;
        assert_int_equal(cx_schedule_kind_parse(cx_schedule_kind_name((cx_schedule_kind)k), &back),
                         CX_OK);
        assert_int_equal(back, k);
    }
    cx_schedule_kind sk;
    assert_int_equal(cx_schedule_kind_parse("linear", &sk), CX_ERR_ARG);
    assert_non_null(strstr(cx_last_error(), "cosine"));

    /* torch.optim's defaults. */
    cx_optim_params p = cx_optim_defaults(CX_OPTIM_ADAM);
    assert_true(p.lr == 1e-3f && p.beta1 == 0.9f && p.beta2 == 0.999f && p.eps == 1e-8f &&
                p.weight_decay == 0.0f && !p.amsgrad);
    p = cx_optim_defaults(CX_OPTIM_ADAMW);
    assert_true(p.lr == 1e-3f && p.weight_decay == 0.01f);
    p = cx_optim_defaults(CX_OPTIM_ADAGRAD);
    assert_true(p.lr == 0.01f && p.eps == 1e-10f && p.lr_decay == 0.0f &&
                p.initial_accumulator == 0.0f);
    p = cx_optim_defaults(CX_OPTIM_ADADELTA);
    assert_true(p.lr == 1.0f && p.rho == 0.9f && p.eps == 1e-6f);
    p = cx_optim_defaults(CX_OPTIM_RMSPROP);
    assert_true(p.lr == 0.01f && p.alpha == 0.99f && p.eps == 1e-8f && p.momentum == 0.0f &&
                !p.centered);
    p = cx_optim_defaults(CX_OPTIM_NESTEROV);
    assert_true(p.lr == 0.01f && p.momentum == 0.9f && p.dampening == 0.0f);

    /* NULL hyper-parameters are the defaults; the optimizer reports them. */
    cx_tensor *t = cx_zeros(CX_SHAPE(3));
    cx_optim *o = cx_optim_new(CX_OPTIM_RMSPROP, NULL, &t, 1);
    assert_non_null(o);
    assert_int_equal(cx_optim_kind_of(o), CX_OPTIM_RMSPROP);
    assert_true(cx_optim_get_params(o)->alpha == 0.99f);
    assert_true(cx_optim_get_lr(o) == 0.01f);
    assert_int_equal(cx_optim_set_lr(o, 0.5f), CX_OK);
    assert_true(cx_optim_get_lr(o) == 0.5f && cx_optim_get_params(o)->lr == 0.5f);
    /* A parameter without a gradient is skipped: unchanged, step counted anyway. */
    assert_int_equal(cx_optim_step(o), CX_OK);
    assert_true(cx_tensor_f32(t)[0] == 0.0f);
    assert_int_equal(cx_optim_steps(o), 1);
    cx_optim_free(o);
    cx_tensor_free(t);
}

/* cx_optim_new must give NULL, status and a message holding both words. */
static void expect_refused(cx_optim_kind kind, const cx_optim_params *p, cx_tensor *const *t, int n,
                           cx_status status, const char *w1, const char *w2) {
    cx_clear_error();
    cx_optim *o = cx_optim_new(kind, p, t, n);
    if (o || cx_last_status() != status || !strstr(cx_last_error(), w1) ||
        (w2 && !strstr(cx_last_error(), w2)))
        fail_msg("%s: got %s \"%s\", want NULL and %s with '%s' and '%s'", cx_optim_kind_name(kind),
                 cx_status_name(cx_last_status()), cx_last_error(), cx_status_name(status), w1,
                 w2 ? w2 : "");
}

static void bad_hyper_parameters(void **state) {
    (void)state;
    cx_tensor *t[2] = {cx_zeros(CX_SHAPE(2, 2)), cx_zeros(CX_SHAPE(3))};
#define BAD(kind_, field_, value_, w1, w2)                                                         \
    do {                                                                                           \
        cx_optim_params p_ = cx_optim_defaults(kind_);                                             \
        p_.field_ = value_;                                                                        \
        expect_refused(kind_, &p_, t, 2, CX_ERR_ARG, w1, w2);                                      \
    } while (0)
    BAD(CX_OPTIM_SGD, lr, -0.1f, "SGD: lr = -0.1", ">= 0");
    BAD(CX_OPTIM_SGD, lr, INFINITY, "SGD: lr = inf", NULL);
    BAD(CX_OPTIM_SGD, weight_decay, -1.0f, "SGD: weight_decay = -1", NULL);
    BAD(CX_OPTIM_MOMENTUM, momentum, -0.5f, "SGD: momentum = -0.5", NULL);
    BAD(CX_OPTIM_MOMENTUM, dampening, NAN, "SGD: dampening = nan", NULL);
    BAD(CX_OPTIM_NESTEROV, momentum, 0.0f, "Nesterov", "momentum = 0");
    BAD(CX_OPTIM_NESTEROV, dampening, 0.1f, "Nesterov", "dampening = 0.1");
    BAD(CX_OPTIM_ADAGRAD, lr_decay, -1.0f, "Adagrad: lr_decay = -1", NULL);
    BAD(CX_OPTIM_ADAGRAD, initial_accumulator, -0.5f, "Adagrad: initial_accumulator", "-0.5");
    BAD(CX_OPTIM_ADAGRAD, eps, -1e-10f, "Adagrad: eps = -1e-10", NULL);
    BAD(CX_OPTIM_ADADELTA, rho, 1.5f, "Adadelta: rho = 1.5", "0 <= value <= 1");
    BAD(CX_OPTIM_ADADELTA, eps, -1.0f, "Adadelta: eps = -1", NULL);
    BAD(CX_OPTIM_RMSPROP, alpha, -0.9f, "RMSprop: alpha = -0.9", NULL);
    BAD(CX_OPTIM_RMSPROP, momentum, -1.0f, "RMSprop: momentum = -1", NULL);
    BAD(CX_OPTIM_RMSPROP, eps, -1e-8f, "RMSprop: eps = -1e-08", NULL);
    BAD(CX_OPTIM_ADAM, lr, NAN, "Adam: lr = nan", NULL);
    BAD(CX_OPTIM_ADAM, beta1, 1.0f, "Adam: beta1 = 1", "0 <= value < 1");
    BAD(CX_OPTIM_ADAM, beta2, -0.1f, "Adam: beta2 = -0.1", NULL);
    BAD(CX_OPTIM_ADAM, eps, -1e-8f, "Adam: eps = -1e-08", NULL);
    BAD(CX_OPTIM_ADAMW, weight_decay, -0.01f, "AdamW: weight_decay = -0.01", NULL);
    BAD(CX_OPTIM_ADAMW, beta2, 1.0f, "AdamW: beta2 = 1", NULL);
#undef BAD
    expect_refused((cx_optim_kind)99, NULL, t, 2, CX_ERR_ARG, "unknown optimizer kind 99", NULL);

    /* Values torch accepts are accepted: eps 0 (Adagrad), rho 1, zero lr. */
    cx_optim_params ok = cx_optim_defaults(CX_OPTIM_ADAGRAD);
    ok.eps = 0.0f;
    cx_optim *o = cx_optim_new(CX_OPTIM_ADAGRAD, &ok, t, 2);
    assert_non_null(o);
    cx_optim_free(o);
    ok = cx_optim_defaults(CX_OPTIM_ADADELTA);
    ok.rho = 1.0f;
    ok.lr = 0.0f;
    o = cx_optim_new(CX_OPTIM_ADADELTA, &ok, t, 2);
    assert_non_null(o);

    /* Setters refuse bad values and keep the old ones. */
    assert_int_equal(cx_optim_set_lr(o, -1.0f), CX_ERR_ARG);
    assert_non_null(strstr(cx_last_error(), "Adadelta: lr = -1"));
    assert_true(cx_optim_get_lr(o) == 0.0f);
    assert_int_equal(cx_optim_set_lr(NULL, 1.0f), CX_ERR_ARG);
    assert_int_equal(cx_optim_set_steps(o, -3), CX_ERR_ARG);
    assert_non_null(strstr(cx_last_error(), "steps = -3"));
    assert_int_equal(cx_optim_steps(o), 0);
    assert_int_equal(cx_optim_step(NULL), CX_ERR_ARG);
    cx_optim_free(o);
    cx_tensor_free(t[0]);
    cx_tensor_free(t[1]);
}

static void bad_parameter_lists(void **state) {
    (void)state;
    cx_tensor *w = cx_zeros(CX_SHAPE(2, 3)), *v = cx_zeros(CX_SHAPE(4));
    cx_tensor *ints = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(5));
    cx_tensor *wt = cx_transpose(w, 0, 1);
    cx_tensor *dead = cx_zeros(CX_SHAPE(2));
    cx_tensor_free(dead);
    const cx_optim_kind k = CX_OPTIM_ADAM;
    expect_refused(k, NULL, NULL, 2, CX_ERR_ARG, "Adam: no parameters", NULL);
    expect_refused(k, NULL, &w, 0, CX_ERR_ARG, "Adam: no parameters", "n = 0");
    expect_refused(k, NULL, (cx_tensor *[]){w, NULL}, 2, CX_ERR_ARG, "parameter 1 is NULL", NULL);
    expect_refused(k, NULL, (cx_tensor *[]){w, v, ints}, 3, CX_ERR_DTYPE, "parameter 2", "i32");
    expect_refused(k, NULL, (cx_tensor *[]){wt, v}, 2, CX_ERR_ARG, "parameter 0 [3,2]",
                   "not contiguous");
    expect_refused(k, NULL, (cx_tensor *[]){w, v, w}, 3, CX_ERR_ARG, "parameter 2 is parameter 0",
                   NULL);
    expect_refused(CX_OPTIM_SGD, NULL, (cx_tensor *[]){dead}, 1, CX_ERR_ARG,
                   "SGD: parameter 0 is not a live tensor", NULL);

    /* A parameter freed while in use: the step refuses, naming it. */
    cx_tensor *u = cx_zeros(CX_SHAPE(3));
    cx_optim *o = cx_optim_new(k, NULL, (cx_tensor *[]){w, u}, 2);
    assert_non_null(o);
    cx_tensor_free(u);
    assert_int_equal(cx_optim_step(o), CX_ERR_ARG);
    assert_non_null(strstr(cx_last_error(), "parameter 1 was freed"));
    cx_optim_free(o);

    cx_tensor_free(wt);
    cx_tensor_free(ints);
    cx_tensor_free(v);
    cx_tensor_free(w);
}

static void bad_schedules_and_clips(void **state) {
    (void)state;
#define BAD_LR(call, word)                                                                         \
    do {                                                                                           \
        cx_clear_error();                                                                          \
        float lr_ = (call);                                                                        \
        if (!isnan(lr_) || cx_last_status() != CX_ERR_ARG || !strstr(cx_last_error(), word))       \
            fail_msg("%s: got %g \"%s\", want NaN and '%s'", #call, (double)lr_, cx_last_error(),  \
                     word);                                                                        \
    } while (0)
    BAD_LR(cx_schedule_lr(&(cx_schedule){.kind = CX_SCHEDULE_STEP, .gamma = 0.5f}, 0.1f, 1),
           "step schedule: step_size = 0");
    BAD_LR(cx_schedule_lr(&(cx_schedule){.kind = CX_SCHEDULE_COSINE}, 0.1f, 1),
           "cosine schedule: t_max = 0");
    BAD_LR(cx_schedule_lr(&(cx_schedule){.kind = CX_SCHEDULE_EXPONENTIAL, .gamma = -1}, 0.1f, 1),
           "gamma = -1");
    BAD_LR(cx_schedule_lr(&(cx_schedule){.kind = CX_SCHEDULE_CONSTANT}, 0.1f, -2), "epoch = -2");
    BAD_LR(cx_schedule_lr(&(cx_schedule){.kind = (cx_schedule_kind)9}, 0.1f, 0), "kind 9");
    BAD_LR(cx_schedule_lr(NULL, 0.1f, 0), "NULL");

    cx_tensor *t = cx_zeros(CX_SHAPE(3));
    float *g = cx__grad(t);
    g[0] = 3.0f, g[1] = 4.0f;
    BAD_LR(cx_clip_grad_norm(&t, 1, -1.0f), "max_norm = -1");
    BAD_LR(cx_clip_grad_norm(&t, 1, NAN), "max_norm = nan");
    BAD_LR(cx_clip_grad_norm((cx_tensor *[]){t, NULL}, 2, 1.0f), "tensor 1 is NULL");
    BAD_LR(cx_clip_grad_norm(NULL, 2, 1.0f), "no tensor list");
#undef BAD_LR
    assert_true(g[0] == 3.0f && g[1] == 4.0f); /* refused calls change nothing */
    assert_true(cx_clip_grad_norm(NULL, 0, 1.0f) == 0.0f);
    /* A non-finite norm is returned; NaN leaves the gradients alone, infinity scales them by
     * max_norm / inf = 0 as torch does. */
    g[2] = NAN;
    assert_true(isnan(cx_clip_grad_norm(&t, 1, 1.0f)));
    assert_true(g[0] == 3.0f);
    g[2] = INFINITY;
    assert_true(isinf(cx_clip_grad_norm(&t, 1, 1.0f)));
    assert_true(g[0] == 0.0f);
    g[0] = 3.0f, g[1] = 4.0f, g[2] = 0.0f;
    float norm = cx_clip_grad_norm(&t, 1, 1.0f);
    assert_true(norm == 5.0f);
    assert_true(fabsf(g[0] - 0.6f) < 1e-6f && fabsf(g[1] - 0.8f) < 1e-6f);
    cx_tensor_free(t);
}

CX_TEST_GROUP(optim) {
    golden = cx_safetensors_open(GOLDEN_PATH);
    if (!golden) snprintf(open_error, sizeof open_error, "%s", cx_last_error());
    struct CMUnitTest tests[N_CASES + 13];
    size_t n = 0;
    for (int c = 0; c < N_CASES; c++)
        tests[n++] = (struct CMUnitTest){
            .name = cases[c], .test_func = golden_case, .initial_state = (void *)cases[c]};
    const struct CMUnitTest rest[] = {
        cmocka_unit_test(golden_cases_listed),    cmocka_unit_test(golden_schedules),
        cmocka_unit_test(golden_clipping),        cmocka_unit_test(state_names),
        cmocka_unit_test(state_restore),          cmocka_unit_test(threads_agree),
        cmocka_unit_test(step_allocates_nothing), cmocka_unit_test(zero_grad),
        cmocka_unit_test(names_and_defaults),     cmocka_unit_test(bad_hyper_parameters),
        cmocka_unit_test(bad_parameter_lists),    cmocka_unit_test(bad_schedules_and_clips),
    };
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        tests[n++] = rest[i];
    cx_test_run_group("optim", tests, n);
    cx_safetensors_close(golden);
    golden = NULL;
}
