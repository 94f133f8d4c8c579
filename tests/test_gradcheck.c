/*
 * test_gradcheck.c - finite-difference gradient check of every op, driven by the op registry:
 * each op's test rows give input shapes and ranges. For L = sum(out * w) with random w, the
 * analytic gradient from cx_backward_grad(out, w) must match central differences
 * (L(x+e) - L(x-e)) / 2e. Elements where the two one-sided slopes disagree sit on a kink
 * (relu at 0, max ties, clamp bounds) and are skipped; most elements must be checked.
 */
#include "test.h"

#include <math.h>
#include <string.h>

#define MAX_CHECKED 48 /* elements checked per input (spread evenly over large inputs) */

static double weighted_sum(cx_tensor *out, const float *w) {
    int64_t n = cx_tensor_numel(out);
    float *o = malloc((size_t)(n ? n : 1) * sizeof *o);
    assert_int_equal(cx_tensor_copy_to(out, o, (size_t)n * sizeof *o), CX_OK);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)o[i] * w[i];
    free(o);
    return s;
}

static double eval_loss(const cx_op_test *row, cx_tensor **in, const float *w) {
    cx_no_grad_begin();
    cx_tensor *out = row->run(in);
    cx_no_grad_end();
    assert_non_null(out);
    double s = weighted_sum(out, w);
    cx_tensor_free(out);
    return s;
}

static void gradcheck_row(void **state) {
    const cx_op_test *row = *state;
    float eps = row->eps > 0 ? row->eps : 1e-3f, tol = row->tol > 0 ? row->tol : 1e-2f;
    cx_rng *rng = cx_rng_new(1234);
    cx_tensor *in[CX_OP_TEST_MAX_IN] = {0};
    for (int i = 0; i < row->n_in; i++) {
        in[i] = cx_test_make_input(&row->in[i], rng);
        assert_non_null(in[i]);
        if (row->in[i].dtype == CX_DTYPE_F32 && !row->in[i].no_grad)
            assert_int_equal(cx_tensor_set_requires_grad(in[i], true), CX_OK);
    }
    cx_tensor *out = row->run(in);
    if (!out) print_error("%s: %s\n", row->name, cx_last_error());
    assert_non_null(out);
    cx_tensor *w = cx_randn(rng, cx_tensor_ndim(out), cx_tensor_shape(out));
    const float *wd = cx_tensor_f32(w);
    assert_int_equal(cx_backward_grad(out, w), CX_OK);

    for (int i = 0; i < row->n_in; i++) {
        if (!cx_tensor_requires_grad(in[i])) continue;
        cx_tensor *g = cx_tensor_grad(in[i]);
        assert_non_null(g);
        const float *ga = cx_tensor_f32(g);
        float *x = cx_tensor_f32(in[i]);
        int64_t n = cx_tensor_numel(in[i]);
        int64_t step = n > MAX_CHECKED ? n / MAX_CHECKED : 1;
        int checked = 0, skipped = 0, bad = 0;
        for (int64_t j = 0; j < n; j += step) {
            float x0 = x[j];
            double l0 = eval_loss(row, in, wd);
            x[j] = x0 + eps;
            double lp = eval_loss(row, in, wd);
            x[j] = x0 - eps;
            double lm = eval_loss(row, in, wd);
            x[j] = x0;
            double num = (lp - lm) / (2.0 * eps), dp = (lp - l0) / eps, dm = (l0 - lm) / eps;
            if (fabs(dp - dm) > 0.1 * fmax(1.0, fmax(fabs(dp), fabs(dm)))) {
                skipped++;
                continue;
            }
            checked++;
            double ana = ga[j];
            if (!isfinite(ana) || fabs(num - ana) > tol * fmax(1.0, fabs(num))) {
                if (bad++ < 5)
                    print_error("%s: d/d in%d[%lld]: analytic %.6g, numeric %.6g\n", row->name,
                                i, (long long)j, ana, num);
            }
        }
        if (skipped > checked) print_error("%s: in%d: %d of %d elements on kinks\n", row->name, i,
                                           skipped, skipped + checked);
        assert_true(skipped <= checked);
        assert_int_equal(bad, 0);
    }
    cx_tensor_free(w);
    cx_tensor_free(out);
    for (int i = 0; i < row->n_in; i++) cx_tensor_free(in[i]);
    cx_rng_free(rng);
}

CX_TEST_GROUP(gradcheck) { cx_test_run_op_rows("gradcheck", gradcheck_row); }
