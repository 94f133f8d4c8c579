/*
 * test_arena.c - per-step memory: a steady-state training step allocates nothing from the heap.
 * The counting allocator hook (tests/main.c) sees every allocation the library makes; a
 * 3-layer MLP step (matmul, add, relu, cross-entropy, backward, SGD update) inside an arena
 * must not call it once the first steps have sized the arena.
 */
#include "test.h"

#include <string.h>

enum { BATCH = 16, IN = 20, HID = 32, OUT = 10, N_PARAMS = 6 };

/* One training step: forward, loss, backward, SGD; returns the loss. */
static float mlp_step(cx_tensor **params, cx_tensor *x, cx_tensor *labels) {
    cx_tensor *h = cx_relu(cx_add(cx_matmul(x, params[0]), params[1]));
    h = cx_relu(cx_add(cx_matmul(h, params[2]), params[3]));
    cx_tensor *logits = cx_add(cx_matmul(h, params[4]), params[5]);
    cx_tensor *loss = cx_cross_entropy(logits, labels, CX_REDUCTION_MEAN);
    assert_non_null(loss);
    assert_int_equal(cx_backward(loss), CX_OK);
    for (int p = 0; p < N_PARAMS; p++) {
        float *w = cx_tensor_f32(params[p]), *g = cx_tensor_f32(cx_tensor_grad(params[p]));
        for (int64_t i = 0; i < cx_tensor_numel(params[p]); i++) w[i] -= 0.1f * g[i];
        cx_tensor_zero_grad(params[p]);
    }
    return cx_tensor_item(loss);
}

static void steady_state_step_allocates_nothing(void **state) {
    (void)state;
    cx_set_allocator(&cx_test_counting_allocator);
    cx_rng *rng = cx_rng_new(3);
    const int64_t shapes[N_PARAMS][2] = {{IN, HID}, {HID, 0}, {HID, HID}, {HID, 0}, {HID, OUT}, {OUT, 0}};
    cx_tensor *params[N_PARAMS];
    for (int p = 0; p < N_PARAMS; p++) {
        params[p] = shapes[p][1] ? cx_randn(rng, 2, shapes[p]) : cx_zeros(1, shapes[p]);
        cx_tensor *scaled = cx_mul_scalar(params[p], 0.3f);
        cx_tensor_free(params[p]);
        params[p] = scaled;
        cx_tensor_set_requires_grad(params[p], true);
    }
    cx_tensor *x = cx_randn(rng, CX_SHAPE(BATCH, IN));
    int32_t lab[BATCH];
    for (int i = 0; i < BATCH; i++) lab[i] = i % OUT;
    cx_tensor *labels = cx_from_data(CX_DTYPE_I32, CX_SHAPE(BATCH), lab);
    cx_arena *arena = cx_arena_new(0);

    float first = 0, last = 0;
    long allocs_after_warmup = 0;
    size_t capacity = 0;
    for (int step = 0; step < 20; step++) {
        if (step == 3) {
            allocs_after_warmup = cx_test_allocs;
            capacity = cx_arena_capacity(arena);
        }
        cx_arena_begin(arena);
        last = mlp_step(params, x, labels);
        if (step == 0) first = last;
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    print_message("allocations: %ld in warm-up steps, %ld in 17 steady-state steps; "
                  "arena %zu bytes\n", allocs_after_warmup, cx_test_allocs - allocs_after_warmup,
                  capacity);
    assert_int_equal(cx_test_allocs - allocs_after_warmup, 0);
    assert_int_equal(cx_arena_capacity(arena), capacity);
    assert_true(last < first); /* and it learns */

    cx_arena_free(arena);
    for (int p = 0; p < N_PARAMS; p++) cx_tensor_free(params[p]);
    cx_tensor_free(x);
    cx_tensor_free(labels);
    cx_rng_free(rng);
    cx_set_allocator(NULL);
}

static void arena_reuses_memory(void **state) {
    (void)state;
    cx_arena *a = cx_arena_new(1024);
    assert_int_equal(cx_arena_capacity(a), 1024);
    for (int round = 0; round < 3; round++) {
        cx_arena_begin(a);
        for (int i = 0; i < 10; i++) assert_non_null(cx_zeros(CX_SHAPE(1000)));
        cx_arena_end(a);
        assert_true(cx_arena_used(a) >= 10 * 4000);
        size_t cap = cx_arena_capacity(a);
        cx_arena_reset(a);
        assert_int_equal(cx_arena_used(a), 0);
        assert_int_equal(cx_arena_capacity(a), cap); /* merged into one block, kept */
    }
    /* nested arenas: the inner one is the target until it ends */
    cx_arena *b = cx_arena_new(0);
    cx_arena_begin(a);
    cx_arena_begin(b);
    cx_zeros(CX_SHAPE(10));
    assert_true(cx_arena_used(b) > 0 && cx_arena_used(a) == 0);
    assert_int_equal(cx_arena_end(a), CX_ERR_ARG); /* not the innermost */
    cx_clear_error();
    cx_arena_end(b);
    cx_arena_end(a);
    cx_arena_free(b);
    cx_arena_free(a);
}

CX_TEST_GROUP(arena) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(steady_state_step_allocates_nothing),
        cmocka_unit_test(arena_reuses_memory),
    };
    CX_RUN_GROUP("arena", tests);
}
