/*
 * test_golden.c - every op test row against PyTorch. scripts/golden/ops.py ran each row's
 * PyTorch twin on random inputs and saved inputs, output, an upstream gradient and the input
 * gradients in tests/golden/ops.safetensors; here the C op runs on the same inputs and must
 * give the same output (|a - b| <= tol * max(1, |b|), tol 1e-5, 1e-4 when an input has more
 * than 10^4 elements; integer outputs exactly) and, after cx_backward_grad(out, gout), the same
 * input gradients. A row missing from the file fails: run `make golden` after adding rows.
 */
#include "test.h"

#include <string.h>

#define GOLDEN_PATH "tests/golden/ops.safetensors"

static cx_safetensors *golden;
static char open_error[512];

static cx_tensor *load(const char *row, const char *what) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", row, what);
    cx_tensor *t = cx_safetensors_get(golden, key);
    if (!t) print_error("%s\n", cx_last_error());
    return t;
}

static bool same_shape(const cx_tensor *a, int ndim, const int64_t *shape) {
    if (cx_tensor_ndim(a) != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (cx_tensor_shape(a)[i] != shape[i]) return false;
    return true;
}

/* Checks got against want: shape, dtype, then values (exactly for i32). */
static void compare(const char *row, const char *what, cx_tensor *got, cx_tensor *want,
                    float tol) {
    char label[256], sg[CX_SHAPE_STR_MAX], sw[CX_SHAPE_STR_MAX];
    snprintf(label, sizeof label, "%s.%s", row, what);
    if (!same_shape(got, cx_tensor_ndim(want), cx_tensor_shape(want)) ||
        cx_tensor_dtype(got) != cx_tensor_dtype(want))
        fail_msg("%s: got %s %s, PyTorch gives %s %s", label,
                 cx_dtype_name(cx_tensor_dtype(got)), cx_tensor_shape_str(got, sg, sizeof sg),
                 cx_dtype_name(cx_tensor_dtype(want)), cx_tensor_shape_str(want, sw, sizeof sw));
    int64_t n = cx_tensor_numel(want);
    size_t bytes = (size_t)n * 4;
    void *a = malloc(bytes + 4), *b = malloc(bytes + 4);
    assert_int_equal(cx_tensor_copy_to(got, a, bytes), CX_OK);
    assert_int_equal(cx_tensor_copy_to(want, b, bytes), CX_OK);
    if (cx_tensor_dtype(want) == CX_DTYPE_I32) {
        const int32_t *x = a, *y = b;
        int bad = 0;
        for (int64_t i = 0; i < n; i++)
            if (x[i] != y[i] && bad++ < 5)
                print_error("%s[%lld]: got %d, want %d\n", label, (long long)i, x[i], y[i]);
        if (bad) print_error("%s: %d of %lld values differ\n", label, bad, (long long)n);
        assert_int_equal(bad, 0);
    } else {
        cx_test_assert_close(label, a, b, n, tol);
    }
    free(a);
    free(b);
}

static void golden_row(void **state) {
    const cx_op_test *row = *state;
    if (!golden) fail_msg("%s: %s; run `make golden` to generate it", row->name, open_error);
    char key[256];
    snprintf(key, sizeof key, "%s.out", row->name);
    if (!cx_safetensors_has(golden, key))
        fail_msg("%s: no golden entries in " GOLDEN_PATH "; run `make golden` to add them",
                 row->name);

    cx_tensor *in[CX_OP_TEST_MAX_IN] = {0};
    float tol = 1e-5f;
    for (int i = 0; i < row->n_in; i++) {
        const cx_test_input *spec = &row->in[i];
        char what[16];
        snprintf(what, sizeof what, "in%d", i);
        in[i] = load(row->name, what);
        assert_non_null(in[i]);
        if (cx_tensor_dtype(in[i]) != spec->dtype ||
            !same_shape(in[i], cx_test_input_ndim(spec), spec->shape))
            fail_msg("%s: golden input %d does not match the test row (stale file): run "
                     "`make golden`", row->name, i);
        if (spec->dtype == CX_DTYPE_F32 && !spec->no_grad)
            assert_int_equal(cx_tensor_set_requires_grad(in[i], true), CX_OK);
        if (cx_tensor_numel(in[i]) > 10000) tol = 1e-4f;
    }
    cx_tensor *out = row->run(in);
    if (!out) print_error("%s: %s\n", row->name, cx_last_error());
    assert_non_null(out);
    cx_tensor *want = load(row->name, "out");
    assert_non_null(want);
    compare(row->name, "out", out, want, tol);
    cx_tensor_free(want);

    snprintf(key, sizeof key, "%s.gout", row->name);
    if (cx_safetensors_has(golden, key)) {
        cx_tensor *gout = load(row->name, "gout");
        assert_non_null(gout);
        cx_status st = cx_backward_grad(out, gout);
        if (st != CX_OK) print_error("%s: backward: %s\n", row->name, cx_last_error());
        assert_int_equal(st, CX_OK);
        cx_tensor_free(gout);
        for (int i = 0; i < row->n_in; i++) {
            if (!cx_tensor_requires_grad(in[i])) continue;
            char what[16];
            snprintf(what, sizeof what, "grad%d", i);
            cx_tensor *gw = load(row->name, what);
            assert_non_null(gw);
            /* No gradient buffer means the output does not depend on the input: zeros. */
            cx_tensor *g = cx_tensor_grad(in[i]);
            cx_tensor *zeros = g ? NULL : cx_zeros(cx_tensor_ndim(in[i]), cx_tensor_shape(in[i]));
            compare(row->name, what, g ? g : zeros, gw, tol);
            cx_tensor_free(zeros);
            cx_tensor_free(gw);
        }
    }
    cx_tensor_free(out);
    for (int i = 0; i < row->n_in; i++) cx_tensor_free(in[i]);
}

CX_TEST_GROUP(golden) {
    golden = cx_safetensors_open(GOLDEN_PATH);
    if (!golden) snprintf(open_error, sizeof open_error, "%s", cx_last_error());
    cx_test_run_op_rows("golden", golden_row);
    cx_safetensors_close(golden);
    golden = NULL;
}
